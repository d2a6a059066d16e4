//! A customer's value: what it has spent, derived from its orders and kept
//! current by every order write in the same transaction (never recomputed on
//! read). The figures per currency are stored as one JSON document on the
//! customer; the base currency's figures are also columns, to filter and
//! sort by. A value change is derived data: it neither bumps the customer's
//! version nor writes a customer event (the order's event says what happened).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{customers, orders, settings};
use crate::db::{self, DbConn};
use crate::error::ApiResult;
use crate::orders::OrderStatus;

/// The currency whose figures `value` shows first and lists filter and sort
/// by (`CRM_BASE_CURRENCY`), fixed for the process at start.
static BASE_CURRENCY: OnceLock<String> = OnceLock::new();
const DEFAULT_BASE_CURRENCY: &str = "EUR";

pub fn base_currency() -> &'static str {
    BASE_CURRENCY
        .get()
        .map(String::as_str)
        .unwrap_or(DEFAULT_BASE_CURRENCY)
}

/// `value_last_order_at` of a customer without orders: sorts before every
/// real order time and is never shown (the document says `null`).
pub fn never() -> NaiveDateTime {
    DateTime::<Utc>::UNIX_EPOCH.naive_utc()
}

/// The figures of one currency as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stored {
    n: i64,
    sum: i64,
    first: NaiveDateTime,
    last: NaiveDateTime,
}

/// What a customer spent in one currency (orders neither cancelled nor refunded).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CurrencyValue {
    #[schema(example = "EUR")]
    pub currency: String,
    pub order_count: i64,
    /// In minor units.
    pub total_spent: i64,
    /// `total_spent / order_count` in minor units, rounded; 0 without orders.
    pub average_order_value: i64,
    pub first_order_at: Option<DateTime<Utc>>,
    pub last_order_at: Option<DateTime<Utc>>,
}

/// A customer's value: the base currency's figures (`CRM_BASE_CURRENCY`),
/// and the same for every other currency it ordered in. Read-only.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CustomerValue {
    #[schema(example = "EUR")]
    pub currency: String,
    pub order_count: i64,
    pub total_spent: i64,
    pub average_order_value: i64,
    pub first_order_at: Option<DateTime<Utc>>,
    pub last_order_at: Option<DateTime<Utc>>,
    /// The other currencies, in code order.
    pub other_currencies: Vec<CurrencyValue>,
}

fn figures(currency: &str, stored: Option<&Stored>) -> CurrencyValue {
    match stored {
        None => CurrencyValue {
            currency: currency.to_string(),
            order_count: 0,
            total_spent: 0,
            average_order_value: 0,
            first_order_at: None,
            last_order_at: None,
        },
        Some(s) => CurrencyValue {
            currency: currency.to_string(),
            order_count: s.n,
            total_spent: s.sum,
            average_order_value: if s.n > 0 { (s.sum + s.n / 2) / s.n } else { 0 },
            first_order_at: Some(db::to_utc(s.first)),
            last_order_at: Some(db::to_utc(s.last)),
        },
    }
}

/// The value a customer's stored document describes.
pub fn from_document(document: &str) -> ApiResult<CustomerValue> {
    let stored: BTreeMap<String, Stored> = serde_json::from_str(document)?;
    let base = base_currency();
    let own = figures(base, stored.get(base));
    Ok(CustomerValue {
        currency: own.currency,
        order_count: own.order_count,
        total_spent: own.total_spent,
        average_order_value: own.average_order_value,
        first_order_at: own.first_order_at,
        last_order_at: own.last_order_at,
        other_currencies: stored
            .iter()
            .filter(|(c, _)| c.as_str() != base)
            .map(|(c, s)| figures(c, Some(s)))
            .collect(),
    })
}

/// Locks the customers an order write touches, in id order (the one lock
/// order of every writer: customers first, then orders), so that each
/// recomputation sees the orders committed before it; returns the ids that
/// exist. SQLite's write transaction already serializes writers.
pub fn lock_customers(conn: &mut DbConn, ids: &[&str]) -> ApiResult<Vec<String>> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids.dedup();
    let query = customers::table
        .filter(customers::id.eq_any(ids))
        .order(customers::id)
        .select(customers::id);
    Ok(match conn {
        DbConn::Postgresql(c) => query.for_no_key_update().load(c)?,
        DbConn::Sqlite(c) => query.load(c)?,
    })
}

/// Recomputes the value of a customer locked by [`lock_customers`] from its
/// orders (one grouped read over its `(customer_id, currency)` index) and
/// stores it, without a new version.
pub fn recompute(conn: &mut DbConn, customer_id: &str) -> ApiResult<()> {
    recompute_all(conn, &[customer_id])
}

/// [`recompute`] for many customers (all locked), reading their orders in
/// one grouped query per thousand customers.
pub fn recompute_all(conn: &mut DbConn, customer_ids: &[&str]) -> ApiResult<()> {
    for part in customer_ids.chunks(1000) {
        let rows: Vec<(String, String, i64, i64, NaiveDateTime, NaiveDateTime)> = orders::table
            .filter(orders::customer_id.eq_any(part))
            .filter(orders::status.ne_all(OrderStatus::NOT_COUNTED))
            .group_by((orders::customer_id, orders::currency))
            .select(diesel::dsl::sql::<(
                Text,
                Text,
                BigInt,
                BigInt,
                Timestamp,
                Timestamp,
            )>(
                "customer_id, currency, COUNT(*), CAST(SUM(total) AS BIGINT), \
                 MIN(ordered_at), MAX(ordered_at)",
            ))
            .load(conn)?;
        let mut by_customer: BTreeMap<&str, BTreeMap<String, Stored>> =
            part.iter().map(|id| (*id, BTreeMap::new())).collect();
        for (customer, currency, n, sum, first, last) in rows {
            if let Some(figures) = by_customer.get_mut(customer.as_str()) {
                figures.insert(
                    currency,
                    Stored {
                        n,
                        sum,
                        first,
                        last,
                    },
                );
            }
        }
        store_all(conn, &by_customer)?;
    }
    Ok(())
}

/// [`store`] for many customers: on PostgreSQL one `UPDATE … FROM unnest(…)`
/// (a thousand single-row updates cost a round trip each); SQLite runs in
/// process, where single-row updates cost no more.
fn store_all(
    conn: &mut DbConn,
    figures: &BTreeMap<&str, BTreeMap<String, Stored>>,
) -> ApiResult<()> {
    let DbConn::Postgresql(pg) = conn else {
        for (customer, stored) in figures {
            store(conn, customer, stored)?;
        }
        return Ok(());
    };
    use diesel::sql_types::{Array, BigInt as Big, Text as T, Timestamp as Ts};
    let base = base_currency();
    let mut ids = Vec::with_capacity(figures.len());
    let mut documents = Vec::with_capacity(figures.len());
    let (mut counts, mut sums, mut lasts) = (Vec::new(), Vec::new(), Vec::new());
    for (customer, stored) in figures {
        let own = stored.get(base);
        ids.push(customer.to_string());
        documents.push(serde_json::to_string(stored)?);
        counts.push(own.map_or(0, |s| s.n));
        sums.push(own.map_or(0, |s| s.sum));
        lasts.push(own.map_or_else(never, |s| s.last));
    }
    diesel::sql_query(
        "UPDATE customers AS c SET value_figures = v.figures, value_order_count = v.n, \
         value_total_spent = v.spent, value_last_order_at = v.last \
         FROM unnest($1, $2, $3, $4, $5) AS v(id, figures, n, spent, last) WHERE c.id = v.id",
    )
    .bind::<Array<T>, _>(ids)
    .bind::<Array<T>, _>(documents)
    .bind::<Array<Big>, _>(counts)
    .bind::<Array<Big>, _>(sums)
    .bind::<Array<Ts>, _>(lasts)
    .execute(pg)?;
    Ok(())
}

fn store(conn: &mut DbConn, customer_id: &str, stored: &BTreeMap<String, Stored>) -> ApiResult<()> {
    let own = stored.get(base_currency());
    diesel::update(customers::table.find(customer_id))
        .set((
            customers::value_figures.eq(serde_json::to_string(stored)?),
            customers::value_order_count.eq(own.map_or(0, |s| s.n)),
            customers::value_total_spent.eq(own.map_or(0, |s| s.sum)),
            customers::value_last_order_at.eq(own.map_or_else(never, |s| s.last)),
        ))
        .execute(conn)?;
    Ok(())
}

const BASE_CURRENCY_SETTING: &str = "base_currency";
/// Arbitrary key of the advisory lock of the start-up recomputation.
const BASE_CURRENCY_LOCK_KEY: i64 = 0x00C0_FFEE_0E5E_0003;

/// Fixes the base currency for this process and, when it differs from the
/// one the database's value columns were computed for, recomputes those
/// columns from each customer's stored document (a start-up step after a
/// configuration change; every replica must use the same base currency).
pub fn set_base_currency(conn: &mut DbConn, currency: &str) -> ApiResult<()> {
    if BASE_CURRENCY.set(currency.to_string()).is_err() && base_currency() != currency {
        log::warn!(
            "base currency {} already fixed for this process; {currency} ignored",
            base_currency()
        );
    }
    let currency = base_currency();
    let stored: Option<String> = settings::table
        .find(BASE_CURRENCY_SETTING)
        .select(settings::value)
        .first(conn)
        .optional()?;
    if stored.as_deref() == Some(currency) {
        return Ok(());
    }
    db::write_tx(conn, |tx| {
        let conn = tx.conn();
        // Replicas starting together take turns (SQLite's write transaction
        // already serializes them); the one after sees the stored setting.
        if let DbConn::Postgresql(c) = conn {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(BASE_CURRENCY_LOCK_KEY)
                .execute(c)?;
        }
        let stored: Option<String> = settings::table
            .find(BASE_CURRENCY_SETTING)
            .select(settings::value)
            .first(conn)
            .optional()?;
        if stored.as_deref() == Some(currency) {
            return Ok(());
        }
        // Locked like every order writer locks them, so that no order write
        // meanwhile is overwritten by the values read here.
        let ids: Vec<String> = customers::table
            .filter(customers::value_figures.ne("{}"))
            .select(customers::id)
            .load(conn)?;
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        for part in ids.chunks(1000) {
            lock_customers(conn, part)?;
        }
        let with_orders: Vec<(String, String)> = customers::table
            .filter(customers::value_figures.ne("{}"))
            .select((customers::id, customers::value_figures))
            .load(conn)?;
        if !with_orders.is_empty() {
            log::info!(
                "base currency is now {currency}: recomputing the value columns of {} customers",
                with_orders.len()
            );
        }
        for (id, document) in with_orders {
            let figures: BTreeMap<String, Stored> = serde_json::from_str(&document)?;
            store(conn, &id, &figures)?;
        }
        diesel::delete(settings::table.find(BASE_CURRENCY_SETTING)).execute(conn)?;
        diesel::insert_into(settings::table)
            .values((
                settings::name.eq(BASE_CURRENCY_SETTING),
                settings::value.eq(currency),
            ))
            .execute(conn)?;
        Ok(())
    })
}
