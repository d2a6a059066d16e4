//! Bulk upsert of customers (`POST /customers/batch`), set-based: one read
//! of the stored records by key, one of the references and unique values
//! they use, multi-row `INSERT … ON CONFLICT DO NOTHING` for the new ones,
//! an `UPDATE` per changed one, and one append of every event. Concurrent
//! batches on the same keys cannot create duplicates (the unique index
//! decides, and a key another batch inserted meanwhile becomes an update)
//! and cannot deadlock (stored rows are locked in id order in one
//! statement, new keys inserted in key order).

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;

use super::{check_references, value, Customer, CustomerInput, CustomerRow, StoredCustomer};
use crate::auth::Actor;
use crate::db::schema::{customers, record_tags, users};
use crate::db::{self, DbConn, Tx};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::batch::{self, Batch, ItemStatus, MatchOn, Parser};
use crate::model::ToJson;

const RESOURCE: ResourceKind = ResourceKind::Customers;

pub static PARSER: Parser<CustomerInput> = Parser {
    match_on: &[MatchOn::ExternalId, MatchOn::Email],
    prepare: batch::no_preparation,
    parse: |item| batch::parse_item(item, |input: CustomerInput| Ok(input.cleaned())),
    finish: CustomerInput::normalized,
    key: |input, match_on| match match_on {
        MatchOn::ExternalId => input.external_id.as_deref(),
        MatchOn::Email => input.email.as_deref(),
    },
};

/// The stored customers holding these keys; with `lock`, locked (on
/// PostgreSQL) in id order until the transaction ends, as strongly as an
/// `UPDATE` of them would (not blocking foreign-key checks of other writers).
fn stored_by_key(
    conn: &mut DbConn,
    match_on: MatchOn,
    keys: &[&str],
    lock: bool,
) -> ApiResult<HashMap<String, Customer>> {
    let mut found = HashMap::new();
    for part in keys.chunks(1000) {
        let rows: Vec<StoredCustomer> = match &mut *conn {
            DbConn::Postgresql(c) if lock => {
                let locked = customers::table.order(customers::id).select(customers::id);
                let ids: Vec<String> = match match_on {
                    MatchOn::ExternalId => locked
                        .filter(customers::external_id.eq_any(part))
                        .for_no_key_update()
                        .load(c)?,
                    MatchOn::Email => locked
                        .filter(customers::email.eq_any(part))
                        .for_no_key_update()
                        .load(c)?,
                };
                customers::table
                    .filter(customers::id.eq_any(ids))
                    .select(StoredCustomer::as_select())
                    .load(c)?
            }
            // On the concrete connection: PostgreSQL then binds the keys as
            // one array (`= ANY($1)`) instead of a thousand parameters.
            other => {
                crate::on_backend!(other, |c| match match_on {
                    MatchOn::ExternalId => customers::table
                        .select(StoredCustomer::as_select())
                        .filter(customers::external_id.eq_any(part))
                        .load(c)?,
                    MatchOn::Email => customers::table
                        .select(StoredCustomer::as_select())
                        .filter(customers::email.eq_any(part))
                        .load(c)?,
                })
            }
        };
        for row in rows {
            let customer = row.into_customer()?;
            let key = match match_on {
                MatchOn::ExternalId => customer.external_id.clone(),
                MatchOn::Email => customer.email.clone(),
            };
            if let Some(key) = key {
                found.insert(key, customer);
            }
        }
    }
    Ok(found)
}

/// The stored rows holding these keys (not locked), read on the concrete
/// connection so that PostgreSQL binds the keys as one array.
fn rows_by_key(
    conn: &mut DbConn,
    match_on: MatchOn,
    keys: &[&str],
) -> ApiResult<HashMap<String, CustomerRow>> {
    let mut found = HashMap::with_capacity(keys.len());
    for part in keys.chunks(1000) {
        let rows: Vec<CustomerRow> = crate::on_backend!(conn, |c| match match_on {
            MatchOn::ExternalId => customers::table
                .select(CustomerRow::as_select())
                .filter(customers::external_id.eq_any(part))
                .load(c)?,
            MatchOn::Email => customers::table
                .select(CustomerRow::as_select())
                .filter(customers::email.eq_any(part))
                .load(c)?,
        });
        for row in rows {
            let key = match match_on {
                MatchOn::ExternalId => row.external_id.clone(),
                MatchOn::Email => row.email.clone(),
            };
            if let Some(key) = key {
                found.insert(key, row);
            }
        }
    }
    Ok(found)
}

/// Whether the stored `row` already holds `input`, compared as the row
/// `input` would be written as. A difference only in the order of
/// `custom_fields` keys counts as a change here and is found equal later,
/// when the record is compared whole.
fn holds(row: &CustomerRow, input: &CustomerInput) -> bool {
    let same = CustomerRow::from_input(
        row.id.clone(),
        input,
        row.consent_updated_at,
        row.version,
        row.created_at,
        row.updated_at,
    );
    same == *row
}

/// Which of `ids` exist in `table`.
macro_rules! existing_ids {
    ($conn:expr, $table:ident, $ids:expr) => {{
        let ids: Vec<&str> = $ids;
        let mut found: HashSet<String> = HashSet::new();
        for part in ids.chunks(1000) {
            found.extend(
                $table::table
                    .filter($table::id.eq_any(part))
                    .select($table::id)
                    .load::<String>($conn)?,
            );
        }
        found
    }};
}

/// Who holds each of these values of a unique column.
fn holders(conn: &mut DbConn, email: bool, values: &[&str]) -> ApiResult<HashMap<String, String>> {
    let mut found = HashMap::new();
    for part in values.chunks(1000) {
        let rows: Vec<(Option<String>, String)> = if email {
            customers::table
                .filter(customers::email.eq_any(part))
                .select((customers::email, customers::id))
                .load(conn)?
        } else {
            customers::table
                .filter(customers::external_id.eq_any(part))
                .select((customers::external_id, customers::id))
                .load(conn)?
        };
        found.extend(rows.into_iter().filter_map(|(v, id)| v.map(|v| (v, id))));
    }
    Ok(found)
}

fn taken(field: &str, holder: &str) -> ApiError {
    ApiError::Conflict {
        detail: format!("customer {holder} already has this {field}"),
        field: field.to_string(),
        existing_id: Some(holder.to_string()),
    }
}

pub fn upsert_batch(tx: &mut Tx, actor: &Actor, batch: &mut Batch<CustomerInput>) -> ApiResult<()> {
    let conn = tx.conn();
    let match_on = batch.match_on;
    let mut items = std::mem::take(&mut batch.items);
    items.sort_by(|a, b| a.key.cmp(&b.key));
    // Unchanged items first, without locking anything: a resend of a
    // nightly export is one read of rows per thousand records, compared as
    // rows (no record is built), and writes nothing.
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    let rows = rows_by_key(conn, match_on, &keys)?;
    items.retain(|item| match rows.get(&item.key) {
        Some(row) if holds(row, &item.input) => {
            batch
                .outcomes
                .done(item.index, ItemStatus::Unchanged, &row.id, row.version);
            false
        }
        _ => true,
    });
    let items = batch.checked(items)?;
    if items.is_empty() {
        return Ok(());
    }
    // The others' stored records, locked (PostgreSQL) and read whole.
    let stored = if items.iter().any(|i| rows.contains_key(&i.key)) {
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        stored_by_key(conn, match_on, &keys, db::is_postgres(conn))?
    } else {
        HashMap::new()
    };

    // References and unique values, each read once for the whole batch.
    let owners = existing_ids!(
        conn,
        users,
        items
            .iter()
            .filter_map(|i| i.input.owner_id.as_deref())
            .collect()
    );
    let referrers = existing_ids!(
        conn,
        customers,
        items
            .iter()
            .filter_map(|i| i.input.referred_by_id.as_deref())
            .collect()
    );
    // The unique column that is not the key.
    let other_unique = match match_on {
        MatchOn::ExternalId => "email",
        MatchOn::Email => "external_id",
    };
    let other_of = |input: &CustomerInput| match match_on {
        MatchOn::ExternalId => input.email.clone(),
        MatchOn::Email => input.external_id.clone(),
    };
    let others: Vec<String> = items.iter().filter_map(|i| other_of(&i.input)).collect();
    let other_refs: Vec<&str> = others.iter().map(String::as_str).collect();
    let holders = holders(conn, match_on == MatchOn::ExternalId, &other_refs)?;

    let now = db::now();
    let mut claimed: HashMap<String, usize> = HashMap::new();
    let mut new_rows: Vec<(usize, CustomerRow, CustomerInput)> = Vec::new();
    let mut changed: Vec<(usize, Customer, CustomerInput)> = Vec::new();
    for item in items {
        let current = stored.get(&item.key);
        let id = current.map_or_else(db::new_id, |c| c.id.clone());
        let mut errors = Vec::new();
        if let Err(e) = check_references(&id, &item.input) {
            errors.push(e);
        }
        if let Some(owner) = item.input.owner_id.as_deref() {
            if !owners.contains(owner) {
                errors.push(ApiError::field(
                    "owner_id",
                    "not_found",
                    "no user has this id",
                ));
            }
        }
        if let Some(referrer) = item.input.referred_by_id.as_deref() {
            if !referrers.contains(referrer) {
                errors.push(ApiError::field(
                    "referred_by_id",
                    "not_found",
                    "no customer has this id",
                ));
            }
        }
        if let Some(value) = other_of(&item.input) {
            if let Some(holder) = holders.get(&value).filter(|h| **h != id) {
                errors.push(taken(other_unique, holder));
            } else if let Some(earlier) = claimed.insert(value, item.index) {
                errors.push(ApiError::field(
                    other_unique,
                    "duplicate_value",
                    format!("item {earlier} of this batch has the same {other_unique}"),
                ));
            }
        }
        if !errors.is_empty() {
            batch.outcomes.fail_all(item.index, errors)?;
            continue;
        }
        match current {
            Some(c) if c.input() == item.input => {
                batch
                    .outcomes
                    .done(item.index, ItemStatus::Unchanged, &c.id, c.version);
            }
            Some(c) => changed.push((item.index, c.clone(), item.input)),
            None => new_rows.push((
                item.index,
                CustomerRow::from_input(id, &item.input, Some(now), 1, now, now),
                item.input,
            )),
        }
    }

    let mut changes: Vec<(usize, Change)> = Vec::new();
    // New keys, in key order; a key another batch committed meanwhile is not
    // inserted (ON CONFLICT DO NOTHING) and is updated below instead.
    let mut inserted: HashSet<String> = HashSet::new();
    for part in new_rows.chunks(500) {
        let rows: Vec<&CustomerRow> = part.iter().map(|(_, r, _)| r).collect();
        let ids: Vec<String> = crate::on_backend!(conn, |c| diesel::insert_into(customers::table)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(customers::id)
            .get_results(c))?;
        inserted.extend(ids);
    }
    let mut tag_rows = Vec::new();
    let mut raced = Vec::new();
    for (index, row, input) in new_rows {
        if !inserted.contains(&row.id) {
            raced.push((index, input));
            continue;
        }
        let id = row.id.clone();
        let customer = row.into_customer(value::from_document("{}")?)?;
        for tag in &customer.tags {
            tag_rows.push((
                record_tags::resource.eq(RESOURCE.as_str()),
                record_tags::tag.eq(tag.clone()),
                record_tags::record_id.eq(id.clone()),
            ));
        }
        batch
            .outcomes
            .done(index, ItemStatus::Created, &id, customer.version);
        changes.push((index, Change::created(RESOURCE, &id, customer.to_json()?)));
    }
    for part in tag_rows.chunks(1000) {
        crate::on_backend!(conn, |c| diesel::insert_into(record_tags::table)
            .values(part)
            .execute(c))?;
    }
    if !raced.is_empty() {
        // Only PostgreSQL gets here (SQLite's writers are serialized): another
        // writer committed the key meanwhile, so the item updates that record;
        // or it took the other unique value, so the item fails.
        log::info!(
            "{} batch keys were written by another request meanwhile",
            raced.len()
        );
        let keys: Vec<String> = raced
            .iter()
            .filter_map(|(_, input)| PARSER.key_of(input, match_on))
            .collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let now_stored = stored_by_key(conn, match_on, &keys, true)?;
        for (index, input) in raced {
            let current = PARSER
                .key_of(&input, match_on)
                .and_then(|k| now_stored.get(&k));
            match current {
                Some(c) if c.input() == input => {
                    batch
                        .outcomes
                        .done(index, ItemStatus::Unchanged, &c.id, c.version);
                }
                Some(c) => changed.push((index, c.clone(), input)),
                None => batch.outcomes.fail(
                    index,
                    ApiError::Conflict {
                        detail: format!(
                            "another request took this {other_unique} at the same time"
                        ),
                        field: other_unique.into(),
                        existing_id: None,
                    },
                )?,
            }
        }
    }

    for (index, current, input) in changed {
        let customer = super::repo::rewrite(conn, &current, &input, now)?;
        batch
            .outcomes
            .done(index, ItemStatus::Updated, &customer.id, customer.version);
        changes.push((
            index,
            Change::updated(
                RESOURCE,
                &customer.id,
                current.to_json()?,
                customer.to_json()?,
            ),
        ));
    }
    changes.sort_by_key(|(index, _)| *index);
    let changes: Vec<Change> = changes.into_iter().map(|(_, c)| c).collect();
    events::append(tx, actor, &changes)
}

/// For batches of records that refer to a customer: an item may name it by
/// `customer_external_id` instead of `customer_id` (a customer stored before
/// the batch). All such keys are resolved in one query.
pub fn resolve_customer_keys(
    tx: &mut Tx,
    objects: &mut Vec<crate::http::batch::RawItem>,
) -> ApiResult<Vec<(usize, ApiError)>> {
    const FIELD: &str = "customer_external_id";
    let keys: Vec<String> = objects
        .iter()
        .filter_map(|(_, o)| o.get(FIELD).and_then(|v| v.as_str()))
        .map(|k| k.trim().to_string())
        .collect();
    let mut ids: HashMap<String, String> = HashMap::new();
    for part in keys.chunks(1000) {
        let rows: Vec<(Option<String>, String)> = customers::table
            .filter(customers::external_id.eq_any(part))
            .select((customers::external_id, customers::id))
            .load(tx.conn())?;
        ids.extend(rows.into_iter().filter_map(|(k, id)| k.map(|k| (k, id))));
    }
    let mut failed = Vec::new();
    objects.retain_mut(|(index, object)| {
        let Some(key) = object.remove(FIELD) else {
            if object.contains_key("customer_id") {
                return true;
            }
            failed.push((
                *index,
                ApiError::field(
                    "customer_id",
                    "customer_required",
                    "give customer_id or customer_external_id",
                ),
            ));
            return false;
        };
        let error = match key.as_str().map(str::trim) {
            None => ApiError::field(FIELD, "invalid_type", "expected a string"),
            Some(_) if object.contains_key("customer_id") => ApiError::field(
                FIELD,
                "conflicting",
                "give customer_id or customer_external_id, not both",
            ),
            Some(key) => match ids.get(key) {
                Some(id) => {
                    object.insert("customer_id".into(), serde_json::Value::String(id.clone()));
                    return true;
                }
                None => ApiError::field(FIELD, "not_found", "no customer has this external_id"),
            },
        };
        failed.push((*index, error));
        false
    });
    Ok(failed)
}
