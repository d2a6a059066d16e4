//! Bulk upsert of contacts (`POST /contacts/batch`) by `external_id`. Items
//! are written one by one in key order (a stable lock order), each through
//! the single-record writers in its own savepoint, because making a contact
//! primary may change other contacts; contacts carry no performance target
//! that would call for the set-based path customers and orders use.

use diesel::prelude::*;

use super::repo;
use super::ContactInput;
use crate::auth::Actor;
use crate::db::schema::contacts;
use crate::db::Tx;
use crate::error::ApiResult;
use crate::http::batch::{self, Batch, ItemStatus, MatchOn, Parser};
use crate::http::IfMatch;

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
    for item in items {
        let stored: Option<(String, i64)> = contacts::table
            .filter(contacts::external_id.eq(&item.key))
            .select((contacts::id, contacts::version))
            .first(tx.conn())
            .optional()?;
        let outcome = tx.savepoint(|tx| match &stored {
            None => repo::create(tx, actor, item.input.clone())
                .map(|c| (ItemStatus::Created, c.id, c.version)),
            Some((id, version)) => {
                // The full item as a merge patch: a full replace.
                let document = serde_json::to_value(&item.input)?;
                let contact = repo::update(tx, actor, id, &IfMatch::default(), &document)?;
                let status = if contact.version == *version {
                    ItemStatus::Unchanged
                } else {
                    ItemStatus::Updated
                };
                Ok((status, contact.id, contact.version))
            }
        });
        match outcome {
            Ok((status, id, version)) => batch.outcomes.done(item.index, status, &id, version),
            Err(e) => batch.outcomes.fail(item.index, e)?,
        }
    }
    Ok(())
}
