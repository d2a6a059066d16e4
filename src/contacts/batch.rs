//! Bulk upsert of contacts (`POST /contacts/batch`) by `external_id`. Items
//! are written one by one in key order (a stable lock order), each through
//! the single-record writers in its own savepoint (so a failing item leaves
//! nothing behind), because making a contact primary may change other
//! contacts; every event is appended once, at the end. Contacts carry no
//! performance target that would call for the set-based path customers and
//! orders use.

use super::repo;
use super::ContactInput;
use crate::auth::Actor;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::http::batch::{self, Batch, ItemStatus, MatchOn, Parser};

pub static PARSER: Parser<ContactInput> = Parser {
    match_on: &[MatchOn::ExternalId],
    prepare: crate::customers::batch::resolve_customer_keys,
    parse: |item| batch::parse_item(item, ContactInput::normalized),
    finish: Ok,
    key: |input, _| input.external_id.as_deref(),
};

pub fn upsert_batch(tx: &mut Tx, actor: &Actor, batch: &mut Batch<ContactInput>) -> ApiResult<()> {
    let mut items = std::mem::take(&mut batch.items);
    items.sort_by(|a, b| a.key.cmp(&b.key));
    let mut changes = Vec::new();
    for item in items {
        let outcome = tx.savepoint(|tx| {
            let conn = tx.conn();
            let written = match repo::read_locked_by_key(conn, &item.key)? {
                Some(current) => repo::change(conn, current, item.input.clone())?,
                None => repo::insert(conn, item.input.clone())?,
            };
            Ok(written)
        });
        // A key another request created meanwhile: the item updates it.
        let outcome = match outcome {
            Err(ApiError::Conflict { .. }) => tx.savepoint(|tx| {
                let conn = tx.conn();
                match repo::read_locked_by_key(conn, &item.key)? {
                    Some(current) => repo::change(conn, current, item.input.clone()),
                    None => Err(ApiError::Conflict {
                        detail: "another request wrote a contact with this value at the same time; resend the item".into(),
                        field: "external_id".into(),
                        existing_id: None,
                    }),
                }
            }),
            other => other,
        };
        match outcome {
            Ok((contact, written)) => {
                let status = match written.last() {
                    None => ItemStatus::Unchanged,
                    Some(c) if c.before.is_none() => ItemStatus::Created,
                    Some(_) => ItemStatus::Updated,
                };
                batch
                    .outcomes
                    .done(item.index, status, &contact.id, contact.version);
                changes.extend(written);
            }
            Err(e) => batch.outcomes.fail(item.index, e)?,
        }
    }
    // Appended once, last: the append lock is held from here to the commit.
    events::append(tx, actor, &changes)
}
