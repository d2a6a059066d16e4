//! Customer queries. Every function runs on a connection the caller owns;
//! writers run inside the transaction `db::write_tx` opened for them and
//! append their events before returning.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    check_references, Customer, CustomerInput, CustomerKind, CustomerRow, LifecycleStage, Tier,
};
use crate::auth::{Actor, CallerCheck};
use crate::db::schema::{customers, record_tags, users};
use crate::db::{self, tags, DbConn};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::pagination::{self, time_key_of};
use crate::http::IfMatch;

const RESOURCE: ResourceKind = ResourceKind::Customers;

pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<Customer>> {
    customers::table
        .find(id)
        .first::<CustomerRow>(conn)
        .optional()?
        .map(CustomerRow::into_customer)
        .transpose()
}

/// The customer with the caller check beside it, for [`crate::auth::authorize_read`].
pub fn find_checked(
    conn: &mut DbConn,
    id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Customer, bool)>> {
    crate::find_checked!(customers, CustomerRow, conn, id, caller)?
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
    if let Some(email) = &input.email {
        let existing: Option<String> = customers::table
            .filter(customers::email.eq(email))
            .filter(customers::id.ne(id))
            .select(customers::id)
            .first(conn)
            .optional()?;
        if let Some(existing_id) = existing {
            return Err(ApiError::Conflict {
                detail: format!("customer {existing_id} already has this email"),
                field: "email".into(),
                existing_id: Some(existing_id),
            });
        }
    }
    if let Some(external_id) = &input.external_id {
        let existing: Option<String> = customers::table
            .filter(customers::external_id.eq(external_id))
            .filter(customers::id.ne(id))
            .select(customers::id)
            .first(conn)
            .optional()?;
        if let Some(existing_id) = existing {
            return Err(ApiError::Conflict {
                detail: format!("customer {existing_id} already has this external_id"),
                field: "external_id".into(),
                existing_id: Some(existing_id),
            });
        }
    }
    if let Some(owner_id) = &input.owner_id {
        let exists: i64 = users::table.find(owner_id).count().get_result(conn)?;
        if exists == 0 {
            return Err(ApiError::field(
                "owner_id",
                "not_found",
                "no user has this id",
            ));
        }
    }
    if let Some(referrer) = &input.referred_by_id {
        let exists: i64 = customers::table.find(referrer).count().get_result(conn)?;
        if exists == 0 {
            return Err(ApiError::field(
                "referred_by_id",
                "not_found",
                "no customer has this id",
            ));
        }
    }
    Ok(())
}

pub fn create(conn: &mut DbConn, actor: &Actor, input: CustomerInput) -> ApiResult<Customer> {
    let id = db::new_id();
    check_unique_and_references(conn, &id, &input)?;
    let now = db::now();
    let row = CustomerRow::from_input(id.clone(), &input, Some(now), 1, now, now);
    diesel::insert_into(customers::table)
        .values(&row)
        .execute(conn)?;
    tags::add(conn, RESOURCE.as_str(), &id, &input.tags)?;
    let customer = row.into_customer()?;
    events::append(
        conn,
        actor,
        &[Change::created(RESOURCE, &id, customer.to_json())],
    )?;
    Ok(customer)
}

/// Applies a JSON merge patch. A patch that changes nothing leaves the
/// record, its version and the event log untouched.
pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: &serde_json::Value,
) -> ApiResult<Customer> {
    let current = read_locked(conn, id, if_match)?;
    let input = crate::model::merged(&current.input(), patch)?.normalized()?;
    if input == current.input() {
        return Ok(current);
    }
    check_unique_and_references(conn, id, &input)?;
    let now = db::now();
    let consent_changed =
        input.email_opt_in != current.email_opt_in || input.sms_opt_in != current.sms_opt_in;
    let consent_updated_at = if consent_changed {
        Some(now)
    } else {
        current.consent_updated_at.map(db::from_utc)
    };
    let row = CustomerRow::from_input(
        id.to_string(),
        &input,
        consent_updated_at,
        current.version + 1,
        db::from_utc(current.created_at),
        now,
    );
    diesel::update(customers::table.find(id))
        .set(&row)
        .execute(conn)?;
    if input.tags != current.tags {
        tags::replace(conn, RESOURCE.as_str(), id, &input.tags)?;
    }
    let customer = row.into_customer()?;
    events::append(
        conn,
        actor,
        &[Change::updated(
            RESOURCE,
            id,
            current.to_json(),
            customer.to_json(),
        )],
    )?;
    Ok(customer)
}

/// Deletes a customer with its contacts, and clears it as the referrer of
/// other customers; each of those changes has its own event.
pub fn delete(conn: &mut DbConn, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    let current = read_locked(conn, id, if_match)?;
    let mut changes = crate::contacts::repo::delete_of_customer(conn, id)?;

    let referred: Vec<String> = customers::table
        .filter(customers::referred_by_id.eq(id))
        .select(customers::id)
        .load(conn)?;
    for other in referred {
        let before = read_locked(conn, &other, &IfMatch::default())?;
        diesel::update(customers::table.find(&other))
            .set((
                customers::referred_by_id.eq(None::<String>),
                customers::version.eq(before.version + 1),
                customers::updated_at.eq(db::now()),
            ))
            .execute(conn)?;
        let after = get(conn, &other)?;
        changes.push(Change::updated(
            RESOURCE,
            &other,
            before.to_json(),
            after.to_json(),
        ));
    }

    tags::remove_all(conn, RESOURCE.as_str(), id)?;
    diesel::delete(customers::table.find(id)).execute(conn)?;
    changes.push(Change::deleted(RESOURCE, id, current.to_json()));
    events::append(conn, actor, &changes)
}

crate::text_enum! {
    /// Sort order of a customer list; a leading `-` sorts descending.
    CustomerSort {
        CreatedAt => "created_at",
        CreatedAtDesc => "-created_at",
        UpdatedAt => "updated_at",
        UpdatedAtDesc => "-updated_at",
        Name => "name",
        NameDesc => "-name",
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerListParams {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (opaque; valid only with the same
    /// `sort`).
    #[param(min_length = 1, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
    /// Sort order (default `-created_at`); ties are broken by id.
    pub sort: Option<CustomerSort>,
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
    pub created_after: Option<DateTime<Utc>>,
    /// Created before this time (RFC 3339).
    pub created_before: Option<DateTime<Utc>>,
    /// Changed at or after this time (RFC 3339).
    pub updated_since: Option<DateTime<Utc>>,
    /// Case-insensitive substring of name, email or phone.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Also return `total`, the number of matching customers (costs a count).
    pub include_total: Option<bool>,
}

type Boxed<'a> = customers::BoxedQuery<'a, db::MultiBackend>;

fn filtered(p: &CustomerListParams) -> ApiResult<Boxed<'static>> {
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
    if let Some(pattern) = pagination::search_pattern(p.q.as_deref())? {
        query = query.filter(customers::search_text.like(pattern).escape('\\'));
    }
    Ok(query)
}

pub fn list(conn: &mut DbConn, p: &CustomerListParams) -> ApiResult<super::api::CustomerPage> {
    let limit = pagination::limit(p.limit)?;
    let sort = p.sort.unwrap_or(CustomerSort::CreatedAtDesc);
    let after = pagination::decode_cursor(p.cursor.as_deref(), sort.as_str())?;
    let total = if p.include_total == Some(true) {
        Some(filtered(p)?.count().get_result::<i64>(conn)?)
    } else {
        None
    };
    let query = filtered(p)?.limit(limit + 1);
    let rows: Vec<CustomerRow> = match sort {
        CustomerSort::CreatedAt | CustomerSort::CreatedAtDesc => {
            let after = after.as_ref().map(pagination::After::at).transpose()?;
            crate::keyset!(
                query,
                customers::created_at,
                customers::id,
                sort == CustomerSort::CreatedAtDesc,
                after
            )
            .load(conn)?
        }
        CustomerSort::UpdatedAt | CustomerSort::UpdatedAtDesc => {
            let after = after.as_ref().map(pagination::After::at).transpose()?;
            crate::keyset!(
                query,
                customers::updated_at,
                customers::id,
                sort == CustomerSort::UpdatedAtDesc,
                after
            )
            .load(conn)?
        }
        CustomerSort::Name | CustomerSort::NameDesc => {
            let after = after.as_ref().map(pagination::After::text);
            crate::keyset!(
                query,
                customers::name,
                customers::id,
                sort == CustomerSort::NameDesc,
                after
            )
            .load(conn)?
        }
    };
    let data = rows
        .into_iter()
        .map(CustomerRow::into_customer)
        .collect::<ApiResult<Vec<_>>>()?;
    let (data, next_cursor) = pagination::finish(data, limit, sort.as_str(), |c| match sort {
        CustomerSort::CreatedAt | CustomerSort::CreatedAtDesc => time_key_of(c.created_at, &c.id),
        CustomerSort::UpdatedAt | CustomerSort::UpdatedAtDesc => time_key_of(c.updated_at, &c.id),
        CustomerSort::Name | CustomerSort::NameDesc => (c.name.clone(), c.id.clone()),
    });
    Ok(super::api::CustomerPage {
        data,
        next_cursor,
        total,
    })
}
