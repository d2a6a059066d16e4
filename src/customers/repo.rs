//! Customer queries. Every function runs on a connection the caller owns;
//! writers run inside the transaction `db::write_tx` opened for them and
//! append their events before returning.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    check_references, value, Customer, CustomerInput, CustomerKind, CustomerPage, CustomerRow,
    LifecycleStage, StoredCustomer, Tier,
};
use crate::auth::{Actor, CallerCheck};
use crate::db::schema::{customers, record_tags, users};
use crate::db::{self, tags, DbConn, Tx};
use crate::dependents::{self, Referrers};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::list::{ListFilters, ListQuery};
use crate::http::IfMatch;
use crate::model::ToJson;

const RESOURCE: ResourceKind = ResourceKind::Customers;

pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<Customer>> {
    customers::table
        .find(id)
        .select(StoredCustomer::as_select())
        .first(conn)
        .optional()?
        .map(StoredCustomer::into_customer)
        .transpose()
}

/// The customer with this `external_id` and the caller check beside it.
pub fn find_by_external_id(
    conn: &mut DbConn,
    external_id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Customer, bool)>> {
    crate::find_checked!(customers by external_id, StoredCustomer, conn, external_id, caller)?
        .map(|(row, valid)| Ok((row.into_customer()?, valid)))
        .transpose()
}

/// The customer with the caller check beside it, for [`crate::auth::authorize_read`].
pub fn find_checked(
    conn: &mut DbConn,
    id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Customer, bool)>> {
    crate::find_checked!(customers, StoredCustomer, conn, id, caller)?
        .map(|(row, valid)| Ok((row.into_customer()?, valid)))
        .transpose()
}

pub fn get(conn: &mut DbConn, id: &str) -> ApiResult<Customer> {
    find(conn, id)?.ok_or_else(|| ApiError::not_found("customer"))
}

/// The customer, locked against other writers until the transaction ends.
fn read_locked(conn: &mut DbConn, id: &str, if_match: &IfMatch) -> ApiResult<Customer> {
    if_match.read_locked(
        conn,
        |c| get(c, id),
        |customer| customer.version,
        |c, version| crate::lock_at_version!(customers, c, id, version),
    )
}

/// Refuses a value another customer already holds (409 naming it), and
/// references to records that do not exist (422).
fn check_unique_and_references(
    conn: &mut DbConn,
    id: &str,
    input: &CustomerInput,
) -> ApiResult<()> {
    check_references(id, input)?;
    crate::ensure_unique!(conn, customers.email = input.email.as_deref(), except id, "customer")?;
    crate::ensure_unique!(
        conn,
        customers.external_id = input.external_id.as_deref(),
        except id,
        "customer"
    )?;
    crate::check_references!(conn, {
        owner_id: users "user" = input.owner_id.as_deref(),
        referred_by_id: customers "customer" = input.referred_by_id.as_deref(),
    })
}

pub fn create(tx: &mut Tx, actor: &Actor, input: CustomerInput) -> ApiResult<Customer> {
    let conn = tx.conn();
    let id = db::new_id();
    check_unique_and_references(conn, &id, &input)?;
    let now = db::now();
    let row = CustomerRow::from_input(id.clone(), &input, Some(now), 1, now, now);
    diesel::insert_into(customers::table)
        .values(&row)
        .execute(conn)?;
    tags::add(conn, RESOURCE.as_str(), &id, &input.tags)?;
    let customer = row.into_customer(value::from_document("{}")?)?;
    events::append(
        tx,
        actor,
        &[Change::created(RESOURCE, &id, customer.to_json()?)],
    )?;
    Ok(customer)
}

/// Applies a JSON merge patch. A patch that changes nothing leaves the
/// record, its version and the event log untouched.
pub fn update(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: &serde_json::Value,
) -> ApiResult<Customer> {
    let conn = tx.conn();
    let current = read_locked(conn, id, if_match)?;
    let input = crate::model::merged(&current.input(), patch)?.normalized()?;
    if input == current.input() {
        return Ok(current);
    }
    check_unique_and_references(conn, id, &input)?;
    let customer = rewrite(conn, &current, &input, db::now())?;
    events::append(
        tx,
        actor,
        &[Change::updated(
            RESOURCE,
            id,
            current.to_json()?,
            customer.to_json()?,
        )],
    )?;
    Ok(customer)
}

/// Writes `input` over `current` (locked) as its next version at `now`: the
/// row (consent time moves when a consent flag changes) and its tags.
pub fn rewrite(
    conn: &mut DbConn,
    current: &Customer,
    input: &CustomerInput,
    now: chrono::NaiveDateTime,
) -> ApiResult<Customer> {
    let consent_changed =
        input.email_opt_in != current.email_opt_in || input.sms_opt_in != current.sms_opt_in;
    let consent_updated_at = if consent_changed {
        Some(now)
    } else {
        current.consent_updated_at.map(db::from_utc)
    };
    let row = CustomerRow::from_input(
        current.id.clone(),
        input,
        consent_updated_at,
        current.version + 1,
        db::from_utc(current.created_at),
        now,
    );
    diesel::update(customers::table.find(&current.id))
        .set(&row)
        .execute(conn)?;
    if input.tags != current.tags {
        tags::replace(conn, RESOURCE.as_str(), &current.id, &input.tags)?;
    }
    let mut customer = row.into_customer(current.value.clone())?;
    customer.last_activity_at = current.last_activity_at;
    Ok(customer)
}

/// Deletes a customer; what happens to the records that refer to it is
/// declared in [`super::DEPENDENTS`].
pub fn delete(tx: &mut Tx, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    let current = read_locked(tx.conn(), id, if_match)?;
    let changes = remove(tx, &current)?;
    events::append(tx, actor, &changes)
}

/// Removes a customer read locked, after its dependents; returns every change.
fn remove(tx: &mut Tx, current: &Customer) -> ApiResult<Vec<Change>> {
    let id = current.id.as_str();
    let mut changes = dependents::before_delete(tx, super::DEPENDENTS, id)?;
    let conn = tx.conn();
    tags::remove_all(conn, RESOURCE.as_str(), id)?;
    diesel::delete(customers::table.find(id))
        .execute(conn)
        .map_err(db::refused_delete)?;
    changes.push(Change::deleted(RESOURCE, id, current.to_json()?));
    Ok(changes)
}

/// Customers as dependents of other records.
pub struct Referring;

impl Referring {
    fn query(field: &str, id: &str) -> ApiResult<Boxed<'static>> {
        let query = customers::table.into_boxed();
        Ok(match field {
            "referred_by_id" => query.filter(customers::referred_by_id.eq(id.to_string())),
            "owner_id" => query.filter(customers::owner_id.eq(id.to_string())),
            other => return Err(dependents::unknown_field(RESOURCE, other)),
        })
    }
}

impl Referrers for Referring {
    fn count_referring(&self, conn: &mut DbConn, field: &str, id: &str) -> ApiResult<i64> {
        Ok(Self::query(field, id)?.count().get_result(conn)?)
    }

    fn delete_referring(&self, tx: &mut Tx, field: &str, id: &str) -> ApiResult<Vec<Change>> {
        let ids: Vec<String> = Self::query(field, id)?
            .select(customers::id)
            .load(tx.conn())?;
        let mut changes = Vec::new();
        for other in ids {
            let current = read_locked(tx.conn(), &other, &IfMatch::default())?;
            changes.extend(remove(tx, &current)?);
        }
        Ok(changes)
    }

    fn clear_referring(&self, tx: &mut Tx, field: &str, id: &str) -> ApiResult<Vec<Change>> {
        let conn = tx.conn();
        let ids: Vec<String> = Self::query(field, id)?.select(customers::id).load(conn)?;
        let mut changes = Vec::new();
        for other in ids {
            let before = read_locked(conn, &other, &IfMatch::default())?;
            let bump = (
                customers::version.eq(before.version + 1),
                customers::updated_at.eq(db::now()),
            );
            let target = customers::table.find(&other);
            match field {
                "referred_by_id" => diesel::update(target)
                    .set((customers::referred_by_id.eq(None::<String>), bump))
                    .execute(conn)?,
                "owner_id" => diesel::update(target)
                    .set((customers::owner_id.eq(None::<String>), bump))
                    .execute(conn)?,
                other => return Err(dependents::unknown_field(RESOURCE, other)),
            };
            let after = get(conn, &other)?;
            changes.push(Change::updated(
                RESOURCE,
                &other,
                before.to_json()?,
                after.to_json()?,
            ));
        }
        Ok(changes)
    }
}

crate::sort_order! {
    /// Sort order of a customer list; a leading `-` sorts descending.
    CustomerSort on customers for Customer, default CreatedAtDesc {
        CreatedAt => "created_at": created_at time asc,
        CreatedAtDesc => "-created_at": created_at time desc,
        UpdatedAt => "updated_at": updated_at time asc,
        UpdatedAtDesc => "-updated_at": updated_at time desc,
        Name => "name": name text asc,
        NameDesc => "-name": name text desc,
        TotalSpent => "total_spent": value_total_spent int asc by total_spent,
        TotalSpentDesc => "-total_spent": value_total_spent int desc by total_spent,
        LastOrderAt => "last_order_at": value_last_order_at time asc by last_order_sort_key,
        LastOrderAtDesc => "-last_order_at": value_last_order_at time desc by last_order_sort_key,
    }
}

impl Customer {
    /// The base currency's total, the key of the `total_spent` sorts.
    fn total_spent(&self) -> i64 {
        self.value.total_spent
    }

    /// The key of the `last_order_at` sorts: customers without orders sort
    /// as if their last order was at the epoch.
    fn last_order_sort_key(&self) -> DateTime<Utc> {
        self.value
            .last_order_at
            .unwrap_or_else(|| db::to_utc(value::never()))
    }
}

/// The filters of a customer list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerFilters {
    pub kind: Option<CustomerKind>,
    pub lifecycle_stage: Option<LifecycleStage>,
    pub tier: Option<Tier>,
    /// Customers owned by this user.
    pub owner_id: Option<String>,
    /// Customers carrying this tag.
    pub tag: Option<String>,
    /// ISO 3166-1 alpha-2 code of the address country.
    pub country: Option<String>,
    /// Created at or after this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub created_after: Option<DateTime<Utc>>,
    /// Created before this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub created_before: Option<DateTime<Utc>>,
    /// Changed at or after this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub updated_since: Option<DateTime<Utc>>,
    /// Spent at least this much in the base currency (minor units).
    pub total_spent_min: Option<i64>,
    /// Spent at most this much in the base currency (minor units).
    pub total_spent_max: Option<i64>,
    /// At least this many counted orders in the base currency.
    pub order_count_min: Option<i64>,
    /// Last counted order (base currency) before this time; customers without orders do not match.
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub last_order_before: Option<DateTime<Utc>>,
    /// Last counted order (base currency) at or after this time.
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub last_order_after: Option<DateTime<Utc>>,
}

impl ListFilters for CustomerFilters {
    const SEARCH: Option<&'static str> =
        Some("Case-insensitive substring of name, email or phone.");
    const TOTAL: Option<&'static str> =
        Some("Also return `total`, the number of matching customers (costs a count).");
}

pub type CustomerQuery = ListQuery<CustomerSort, CustomerFilters>;

type Boxed<'a> = customers::BoxedQuery<'a, db::MultiBackend>;

fn filtered(q: &CustomerQuery) -> Boxed<'static> {
    let p = &q.filters;
    let mut query = customers::table.into_boxed();
    if let Some(kind) = p.kind {
        query = query.filter(customers::kind.eq(kind.as_str()));
    }
    if let Some(stage) = p.lifecycle_stage {
        query = query.filter(customers::lifecycle_stage.eq(stage.as_str()));
    }
    if let Some(tier) = p.tier {
        query = query.filter(customers::tier.eq(tier.as_str()));
    }
    if let Some(owner) = &p.owner_id {
        query = query.filter(customers::owner_id.eq(owner.clone()));
    }
    if let Some(country) = &p.country {
        query = query.filter(customers::address_country.eq(country.trim().to_uppercase()));
    }
    if let Some(tag) = &p.tag {
        let tagged = record_tags::table
            .filter(record_tags::resource.eq(RESOURCE.as_str()))
            .filter(record_tags::tag.eq(tag.trim().to_string()))
            .select(record_tags::record_id);
        query = query.filter(customers::id.eq_any(tagged));
    }
    if let Some(t) = p.created_after {
        query = query.filter(customers::created_at.ge(db::from_utc(t)));
    }
    if let Some(t) = p.created_before {
        query = query.filter(customers::created_at.lt(db::from_utc(t)));
    }
    if let Some(t) = p.updated_since {
        query = query.filter(customers::updated_at.ge(db::from_utc(t)));
    }
    if let Some(n) = p.total_spent_min {
        query = query.filter(customers::value_total_spent.ge(n));
    }
    if let Some(n) = p.total_spent_max {
        query = query.filter(customers::value_total_spent.le(n));
    }
    if let Some(n) = p.order_count_min {
        query = query.filter(customers::value_order_count.ge(n));
    }
    if let Some(t) = p.last_order_before {
        query = query
            .filter(customers::value_last_order_at.lt(db::from_utc(t)))
            .filter(customers::value_order_count.gt(0));
    }
    if let Some(t) = p.last_order_after {
        query = query.filter(customers::value_last_order_at.ge(db::from_utc(t)));
    }
    if let Some(pattern) = &q.search {
        query = query.filter(customers::search_text.like(pattern.clone()).escape('\\'));
    }
    query
}

pub fn list(conn: &mut DbConn, q: &CustomerQuery) -> ApiResult<CustomerPage> {
    crate::load_page!(conn, q, filtered(q), StoredCustomer => StoredCustomer::into_customer, CustomerPage)
}
