//! Order queries. Writers lock the order's customers first (the one lock
//! order: customers, then orders), write the order and its items, recompute
//! the customers' value and append their events, in the caller's transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    into_order, Order, OrderInput, OrderItemRow, OrderPage, OrderRow, OrderRows, OrderStatus,
};
use crate::auth::{Actor, CallerCheck};
use crate::customers::value;
use crate::db::schema::{order_items, orders, record_tags};
use crate::db::{self, tags, DbConn, Tx};
use crate::dependents::{self, Referrers};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::list::{ListFilters, ListQuery};
use crate::http::IfMatch;
use crate::model::ToJson;

const RESOURCE: ResourceKind = ResourceKind::Orders;

/// The item rows of these orders, each order's in position order.
fn items_of(conn: &mut DbConn, ids: &[&str]) -> ApiResult<HashMap<String, Vec<OrderItemRow>>> {
    let mut by_order: HashMap<String, Vec<OrderItemRow>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_order);
    }
    let rows: Vec<OrderItemRow> = order_items::table
        .filter(order_items::order_id.eq_any(ids))
        .order((order_items::order_id, order_items::position))
        .select(OrderItemRow::as_select())
        .load(conn)?;
    for row in rows {
        by_order.entry(row.order_id.clone()).or_default().push(row);
    }
    Ok(by_order)
}

/// Orders of rows read in one query, with their items read in one more.
pub fn with_items(conn: &mut DbConn, rows: Vec<OrderRow>) -> ApiResult<Vec<Order>> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut items = items_of(conn, &ids)?;
    rows.into_iter()
        .map(|row| {
            let own = items.remove(&row.id).unwrap_or_default();
            into_order(row, own)
        })
        .collect()
}

pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<Order>> {
    let row = orders::table
        .find(id)
        .select(OrderRow::as_select())
        .first(conn)
        .optional()?;
    Ok(with_items(conn, row.into_iter().collect())?.pop())
}

pub fn get(conn: &mut DbConn, id: &str) -> ApiResult<Order> {
    find(conn, id)?.ok_or_else(|| ApiError::not_found("order"))
}

fn checked(conn: &mut DbConn, found: Option<(OrderRow, bool)>) -> ApiResult<Option<(Order, bool)>> {
    let Some((row, valid)) = found else {
        return Ok(None);
    };
    if !valid {
        // The caller is refused; its answer must not depend on the record.
        return Ok(Some((into_order(row, Vec::new())?, false)));
    }
    let order = with_items(conn, vec![row])?.pop();
    Ok(order.map(|o| (o, true)))
}

/// The order with the caller check beside it, for [`crate::auth::authorize_read`].
pub fn find_checked(
    conn: &mut DbConn,
    id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Order, bool)>> {
    let found = crate::find_checked!(orders, OrderRow, conn, id, caller)?;
    checked(conn, found)
}

/// The order with this `external_id` and the caller check beside it.
pub fn find_by_external_id(
    conn: &mut DbConn,
    external_id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Order, bool)>> {
    let found = crate::find_checked!(orders by external_id, OrderRow, conn, external_id, caller)?;
    checked(conn, found)
}

/// The order, locked against other writers until the transaction ends.
pub fn read_locked(conn: &mut DbConn, id: &str, if_match: &IfMatch) -> ApiResult<Order> {
    if_match.read_locked(
        conn,
        |c| get(c, id),
        |order| order.version,
        |c, version| crate::lock_at_version!(orders, c, id, version),
    )
}

/// Locks the customers an order write touches (see
/// [`value::lock_customers`]); 422 naming `customer_id` when `customer_id`
/// (the one the order will have) does not exist.
fn lock_customers(conn: &mut DbConn, customer_id: &str, also: Option<&str>) -> ApiResult<()> {
    let mut ids = vec![customer_id];
    ids.extend(also);
    let found = value::lock_customers(conn, &ids)?;
    if !found.iter().any(|f| f == customer_id) {
        return Err(ApiError::field(
            "customer_id",
            "not_found",
            "no customer has this id",
        ));
    }
    Ok(())
}

fn write_rows(conn: &mut DbConn, rows: &OrderRows, new: bool) -> ApiResult<()> {
    if new {
        diesel::insert_into(orders::table)
            .values(&rows.order)
            .execute(conn)?;
    } else {
        diesel::update(orders::table.find(&rows.order.id))
            .set(&rows.order)
            .execute(conn)?;
        diesel::delete(order_items::table.filter(order_items::order_id.eq(&rows.order.id)))
            .execute(conn)?;
    }
    insert_items(conn, &rows.items)
}

/// Inserts item rows in statements within SQLite's bound-parameter limit.
pub fn insert_items(conn: &mut DbConn, items: &[OrderItemRow]) -> ApiResult<()> {
    for part in items.chunks(2000) {
        crate::on_backend!(conn, |c| diesel::insert_into(order_items::table)
            .values(part)
            .execute(c))?;
    }
    Ok(())
}

pub fn create(tx: &mut Tx, actor: &Actor, input: OrderInput) -> ApiResult<Order> {
    let conn = tx.conn();
    let id = db::new_id();
    lock_customers(conn, &input.customer_id, None)?;
    crate::ensure_unique!(
        conn,
        orders.external_id = input.external_id.as_deref(),
        except & id,
        "order"
    )?;
    let now = db::now();
    let rows = OrderRows::from_input(id.clone(), &input, 1, now, now)?;
    write_rows(conn, &rows, true)?;
    tags::add(conn, RESOURCE.as_str(), &id, &input.tags)?;
    value::recompute(conn, &input.customer_id)?;
    let order = rows.into_order()?;
    events::append(
        tx,
        actor,
        &[Change::created(RESOURCE, &id, order.to_json()?)],
    )?;
    Ok(order)
}

/// Reads the order to learn its customer, locks the customers involved
/// (old and new), then locks the order; the order's customer must still be
/// the one read first (else another writer moved it meanwhile: retry).
fn lock_for_change(
    conn: &mut DbConn,
    id: &str,
    if_match: &IfMatch,
    new_customer: impl Fn(&Order) -> ApiResult<Option<String>>,
) -> ApiResult<Order> {
    for _ in 0..3 {
        let peek = get(conn, id)?;
        if_match.check(peek.version)?;
        let target = new_customer(&peek)?;
        let target = target.as_deref().unwrap_or(&peek.customer_id);
        lock_customers(conn, target, Some(&peek.customer_id))?;
        let current = read_locked(conn, id, if_match)?;
        if current.customer_id == peek.customer_id {
            return Ok(current);
        }
    }
    Err(ApiError::Conflict {
        detail: "the order is being moved between customers by another request; retry".into(),
        field: "customer_id".into(),
        existing_id: None,
    })
}

/// Applies a JSON merge patch (`items` replaces every line). A patch that
/// changes nothing leaves the order, its version and the event log untouched.
pub fn update(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: &serde_json::Value,
) -> ApiResult<Order> {
    let conn = tx.conn();
    let current = lock_for_change(conn, id, if_match, |peek| {
        Ok(Some(
            crate::model::merged(&peek.input(), patch)?
                .normalized()?
                .customer_id,
        ))
    })?;
    let input = crate::model::merged(&current.input(), patch)?.normalized()?;
    if input == current.input() {
        return Ok(current);
    }
    crate::ensure_unique!(
        conn,
        orders.external_id = input.external_id.as_deref(),
        except & id,
        "order"
    )?;
    let order = rewrite(conn, &current, &input)?;
    value::recompute(conn, &input.customer_id)?;
    if current.customer_id != input.customer_id {
        value::recompute(conn, &current.customer_id)?;
    }
    events::append(
        tx,
        actor,
        &[Change::updated(
            RESOURCE,
            id,
            current.to_json()?,
            order.to_json()?,
        )],
    )?;
    Ok(order)
}

/// Writes `input` over `current` (locked) as its next version: the row, its
/// items (replaced) and its tags. The customers' values are the caller's.
pub fn rewrite(conn: &mut DbConn, current: &Order, input: &OrderInput) -> ApiResult<Order> {
    let rows = OrderRows::from_input(
        current.id.clone(),
        input,
        current.version + 1,
        db::from_utc(current.created_at),
        db::now(),
    )?;
    write_rows(conn, &rows, false)?;
    if input.tags != current.tags {
        tags::replace(conn, RESOURCE.as_str(), &current.id, &input.tags)?;
    }
    rows.into_order()
}

pub fn delete(tx: &mut Tx, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    let conn = tx.conn();
    let current = lock_for_change(conn, id, if_match, |_| Ok(None))?;
    tags::remove_all(conn, RESOURCE.as_str(), id)?;
    diesel::delete(orders::table.find(id)).execute(conn)?;
    value::recompute(conn, &current.customer_id)?;
    events::append(
        tx,
        actor,
        &[Change::deleted(RESOURCE, id, current.to_json()?)],
    )
}

/// Orders as dependents of customers (declared `Refuse` there: an order is
/// the ERP's record, not ours to delete).
pub struct Referring;

impl Referrers for Referring {
    fn count_referring(&self, conn: &mut DbConn, field: &str, id: &str) -> ApiResult<i64> {
        match field {
            "customer_id" => Ok(orders::table
                .filter(orders::customer_id.eq(id))
                .count()
                .get_result(conn)?),
            other => Err(dependents::unknown_field(RESOURCE, other)),
        }
    }

    fn delete_referring(&self, _: &mut Tx, field: &str, _: &str) -> ApiResult<Vec<Change>> {
        Err(dependents::unknown_field(RESOURCE, field))
    }

    fn clear_referring(&self, _: &mut Tx, field: &str, _: &str) -> ApiResult<Vec<Change>> {
        Err(dependents::unknown_field(RESOURCE, field))
    }
}

crate::sort_order! {
    /// Sort order of an order list; a leading `-` sorts descending.
    OrderSort on orders for Order, default OrderedAtDesc {
        OrderedAt => "ordered_at": ordered_at time asc,
        OrderedAtDesc => "-ordered_at": ordered_at time desc,
        CreatedAt => "created_at": created_at time asc,
        CreatedAtDesc => "-created_at": created_at time desc,
        UpdatedAt => "updated_at": updated_at time asc,
        UpdatedAtDesc => "-updated_at": updated_at time desc,
        Total => "total": total int asc,
        TotalDesc => "-total": total int desc,
    }
}

/// The filters of an order list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderFilters {
    /// Orders of this customer.
    pub customer_id: Option<String>,
    pub status: Option<OrderStatus>,
    /// ISO 4217 code (case-insensitive).
    pub currency: Option<String>,
    /// Orders with a line of this SKU.
    pub sku: Option<String>,
    /// Ordered at or after this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub ordered_after: Option<DateTime<Utc>>,
    /// Ordered before this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub ordered_before: Option<DateTime<Utc>>,
    /// Total at least this (minor units).
    pub total_min: Option<i64>,
    /// Total at most this (minor units).
    pub total_max: Option<i64>,
    /// Changed at or after this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub updated_since: Option<DateTime<Utc>>,
    /// Orders carrying this tag.
    pub tag: Option<String>,
}

impl ListFilters for OrderFilters {
    const SEARCH: Option<&'static str> = Some("Case-insensitive substring of the order number.");
    const TOTAL: Option<&'static str> =
        Some("Also return `total`, the number of matching orders (costs a count).");
}

pub type OrderQuery = ListQuery<OrderSort, OrderFilters>;

type Boxed<'a> = orders::BoxedQuery<'a, db::MultiBackend>;

fn filtered(q: &OrderQuery) -> Boxed<'static> {
    let p = &q.filters;
    let mut query = orders::table.into_boxed();
    if let Some(customer) = &p.customer_id {
        query = query.filter(orders::customer_id.eq(customer.clone()));
    }
    if let Some(status) = p.status {
        query = query.filter(orders::status.eq(status.as_str()));
    }
    if let Some(currency) = &p.currency {
        query = query.filter(orders::currency.eq(currency.trim().to_ascii_uppercase()));
    }
    if let Some(sku) = &p.sku {
        let with_sku = order_items::table
            .filter(order_items::sku.eq(sku.trim().to_string()))
            .select(order_items::order_id);
        query = query.filter(orders::id.eq_any(with_sku));
    }
    if let Some(tag) = &p.tag {
        let tagged = record_tags::table
            .filter(record_tags::resource.eq(RESOURCE.as_str()))
            .filter(record_tags::tag.eq(tag.trim().to_string()))
            .select(record_tags::record_id);
        query = query.filter(orders::id.eq_any(tagged));
    }
    if let Some(t) = p.ordered_after {
        query = query.filter(orders::ordered_at.ge(db::from_utc(t)));
    }
    if let Some(t) = p.ordered_before {
        query = query.filter(orders::ordered_at.lt(db::from_utc(t)));
    }
    if let Some(n) = p.total_min {
        query = query.filter(orders::total.ge(n));
    }
    if let Some(n) = p.total_max {
        query = query.filter(orders::total.le(n));
    }
    if let Some(t) = p.updated_since {
        query = query.filter(orders::updated_at.ge(db::from_utc(t)));
    }
    if let Some(pattern) = &q.search {
        query = query.filter(orders::search_text.like(pattern.clone()).escape('\\'));
    }
    query
}

pub fn list(conn: &mut DbConn, q: &OrderQuery) -> ApiResult<OrderPage> {
    let page: ApiResult<OrderPage> = crate::load_page!(
        conn, q, filtered(q), OrderRow => |row| into_order(row, Vec::new()), OrderPage
    );
    let mut page = page?;
    let ids: Vec<&str> = page.data.iter().map(|o| o.id.as_str()).collect();
    let mut items = items_of(conn, &ids)?;
    for order in &mut page.data {
        order.items = items
            .remove(&order.id)
            .unwrap_or_default()
            .into_iter()
            .map(OrderItemRow::into_item)
            .collect();
    }
    Ok(page)
}
