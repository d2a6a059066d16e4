//! Bulk upsert of orders (`POST /orders/batch`) by `external_id`. The
//! customers of the batch are locked first, in id order, in one statement
//! (the one lock order of order writers), new orders are inserted with
//! multi-row `INSERT … ON CONFLICT DO NOTHING` in key order (a key another
//! batch committed meanwhile becomes an update), changed ones are updated
//! one by one in key order, and each touched customer's value is recomputed
//! once.

use std::collections::{BTreeSet, HashMap, HashSet};

use diesel::prelude::*;

use super::repo::{insert_items, with_items};
use super::{Order, OrderInput, OrderItemRow, OrderRow, OrderRows};
use crate::auth::Actor;
use crate::customers::value;
use crate::db::schema::{orders, record_tags};
use crate::db::{self, DbConn, Tx};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::batch::{self, Batch, ItemStatus, MatchOn, Parser};
use crate::http::IfMatch;
use crate::model::ToJson;

const RESOURCE: ResourceKind = ResourceKind::Orders;

pub static PARSER: Parser<OrderInput> = Parser {
    match_on: &[MatchOn::ExternalId],
    prepare: crate::customers::batch::resolve_customer_keys,
    parse: |item| batch::parse_item(item, |input: OrderInput| Ok(input.cleaned())),
    finish: OrderInput::normalized,
    key: |input, _| input.external_id.as_deref(),
};

fn stored_by_key(conn: &mut DbConn, keys: &[&str]) -> ApiResult<HashMap<String, Order>> {
    let mut rows = Vec::new();
    for part in keys.chunks(1000) {
        rows.extend(
            orders::table
                .filter(orders::external_id.eq_any(part))
                .select(OrderRow::as_select())
                .load::<OrderRow>(conn)?,
        );
    }
    Ok(with_items(conn, rows)?
        .into_iter()
        .filter_map(|o| o.external_id.clone().map(|k| (k, o)))
        .collect())
}

/// Whether a cleaned (not yet checked) item equals the stored order; a
/// `total` sent along must be the stored one.
fn same(current: &Order, input: &OrderInput) -> bool {
    let mut stored = current.input();
    stored.total = input.total.filter(|t| *t == current.total);
    stored == *input
}

pub fn upsert_batch(tx: &mut Tx, actor: &Actor, batch: &mut Batch<OrderInput>) -> ApiResult<()> {
    let conn = tx.conn();
    let mut items = std::mem::take(&mut batch.items);
    items.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    let stored = stored_by_key(conn, &keys)?;
    // Unchanged items need no lock and write nothing.
    items.retain(|item| match stored.get(&item.key) {
        Some(current) if same(current, &item.input) => {
            batch.outcomes.done(
                item.index,
                ItemStatus::Unchanged,
                &current.id,
                current.version,
            );
            false
        }
        _ => true,
    });
    let items = batch.checked(items)?;
    if items.is_empty() {
        return Ok(());
    }
    let mut customer_ids: Vec<&str> = items.iter().map(|i| i.input.customer_id.as_str()).collect();
    customer_ids.extend(stored.values().map(|o| o.customer_id.as_str()));
    let locked: HashSet<String> = value::lock_customers(conn, &customer_ids)?
        .into_iter()
        .collect();

    let now = db::now();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let mut changes: Vec<(usize, Change)> = Vec::new();
    let mut new_orders: Vec<(usize, OrderRows, OrderInput)> = Vec::new();
    let mut changed: Vec<(usize, OrderInput)> = Vec::new();
    for item in items {
        if !locked.contains(&item.input.customer_id) {
            batch.outcomes.fail(
                item.index,
                ApiError::field("customer_id", "not_found", "no customer has this id"),
            )?;
            continue;
        }
        match stored.get(&item.key) {
            Some(current) if current.input() == item.input => {
                batch.outcomes.done(
                    item.index,
                    ItemStatus::Unchanged,
                    &current.id,
                    current.version,
                );
            }
            Some(_) => changed.push((item.index, item.input)),
            None => {
                let rows = OrderRows::from_input(db::new_id(), &item.input, 1, now, now)?;
                new_orders.push((item.index, rows, item.input));
            }
        }
    }

    let mut inserted: HashSet<String> = HashSet::new();
    for part in new_orders.chunks(500) {
        let rows: Vec<&OrderRow> = part.iter().map(|(_, r, _)| &r.order).collect();
        let ids: Vec<String> = crate::on_backend!(conn, |c| diesel::insert_into(orders::table)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(orders::id)
            .get_results(c))?;
        inserted.extend(ids);
    }
    let mut item_rows: Vec<OrderItemRow> = Vec::new();
    let mut tag_rows = Vec::new();
    for (index, rows, input) in new_orders {
        if !inserted.contains(&rows.order.id) {
            // Another request committed this key meanwhile: update it instead.
            changed.push((index, input));
            continue;
        }
        item_rows.extend(rows.items.iter().cloned());
        for tag in &input.tags {
            tag_rows.push((
                record_tags::resource.eq(RESOURCE.as_str()),
                record_tags::tag.eq(tag.clone()),
                record_tags::record_id.eq(rows.order.id.clone()),
            ));
        }
        touched.insert(input.customer_id.clone());
        let order = rows.into_order()?;
        batch
            .outcomes
            .done(index, ItemStatus::Created, &order.id, order.version);
        changes.push((
            index,
            Change::created(RESOURCE, &order.id, order.to_json()?),
        ));
    }
    insert_items(conn, &item_rows)?;
    for part in tag_rows.chunks(1000) {
        crate::on_backend!(conn, |c| diesel::insert_into(record_tags::table)
            .values(part)
            .execute(c))?;
    }

    // Changed orders, locked one by one in key order.
    changed.sort_by(|a, b| a.1.external_id.cmp(&b.1.external_id));
    for (index, input) in changed {
        let key = input.external_id.clone().unwrap_or_default();
        let id: Option<String> = orders::table
            .filter(orders::external_id.eq(&key))
            .select(orders::id)
            .first(conn)
            .optional()?;
        let Some(id) = id else {
            batch.outcomes.fail(
                index,
                ApiError::Conflict {
                    detail: "another request deleted this order meanwhile; resend the item".into(),
                    field: "external_id".into(),
                    existing_id: None,
                },
            )?;
            continue;
        };
        let current = super::repo::get(conn, &id)?;
        if !locked.contains(&current.customer_id) {
            value::lock_customers(conn, &[current.customer_id.as_str()])?;
        }
        let current = super::repo::read_locked(conn, &id, &IfMatch::default())?;
        // Moved to another customer between the read and the lock: that
        // customer is locked too before its value is recomputed.
        if !locked.contains(&current.customer_id) {
            value::lock_customers(conn, &[current.customer_id.as_str()])?;
        }
        if current.input() == input {
            batch
                .outcomes
                .done(index, ItemStatus::Unchanged, &current.id, current.version);
            continue;
        }
        let order = super::repo::rewrite(conn, &current, &input)?;
        let change = Change::updated(RESOURCE, &order.id, current.to_json()?, order.to_json()?);
        touched.insert(current.customer_id.clone());
        touched.insert(order.customer_id.clone());
        batch
            .outcomes
            .done(index, ItemStatus::Updated, &order.id, order.version);
        changes.push((index, change));
    }
    let touched: Vec<&str> = touched.iter().map(String::as_str).collect();
    value::recompute_all(conn, &touched)?;
    changes.sort_by_key(|(index, _)| *index);
    let changes: Vec<Change> = changes.into_iter().map(|(_, c)| c).collect();
    events::append(tx, actor, &changes)
}
