//! Contact queries; writers run inside the caller's transaction and append
//! their events.

use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{Contact, ContactInput, ContactRow};
use crate::auth::{Actor, CallerCheck};
use crate::db::schema::{contacts, customers};
use crate::db::{self, DbConn};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::pagination::{self, time_key_of};
use crate::http::IfMatch;

const RESOURCE: ResourceKind = ResourceKind::Contacts;

/// The contact with the caller check beside it, for [`crate::auth::authorize_read`].
pub fn find_checked(
    conn: &mut DbConn,
    id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Contact, bool)>> {
    Ok(
        crate::find_checked!(contacts, ContactRow, conn, id, caller)?
            .map(|(row, valid)| (row.into_contact(), valid)),
    )
}

pub fn get(conn: &mut DbConn, id: &str) -> ApiResult<Contact> {
    contacts::table
        .find(id)
        .first::<ContactRow>(conn)
        .optional()?
        .map(ContactRow::into_contact)
        .ok_or_else(|| ApiError::not_found("contact"))
}

/// The contact, locked against other writers until the transaction ends.
fn read_locked(conn: &mut DbConn, id: &str, if_match: &IfMatch) -> ApiResult<Contact> {
    if_match.read_locked(
        conn,
        |c| get(c, id),
        |contact| contact.version,
        |c, version| crate::lock_at_version!(contacts, c, id, version),
    )
}

fn check_unique_and_references(conn: &mut DbConn, id: &str, input: &ContactInput) -> ApiResult<()> {
    let customer_exists: i64 = customers::table
        .find(&input.customer_id)
        .count()
        .get_result(conn)?;
    if customer_exists == 0 {
        return Err(ApiError::field(
            "customer_id",
            "not_found",
            "no customer has this id",
        ));
    }
    if let Some(external_id) = &input.external_id {
        let existing: Option<String> = contacts::table
            .filter(contacts::external_id.eq(external_id))
            .filter(contacts::id.ne(id))
            .select(contacts::id)
            .first(conn)
            .optional()?;
        if let Some(existing_id) = existing {
            return Err(ApiError::Conflict {
                detail: format!("contact {existing_id} already has this external_id"),
                field: "external_id".into(),
                existing_id: Some(existing_id),
            });
        }
    }
    Ok(())
}

/// A customer has at most one primary contact: making `id` primary clears
/// the flag on the others, each with its own event.
fn clear_other_primaries(conn: &mut DbConn, customer_id: &str, id: &str) -> ApiResult<Vec<Change>> {
    let others: Vec<String> = contacts::table
        .filter(contacts::customer_id.eq(customer_id))
        .filter(contacts::is_primary.eq(true))
        .filter(contacts::id.ne(id))
        .select(contacts::id)
        .load(conn)?;
    let mut changes = Vec::new();
    for other in others {
        let before = read_locked(conn, &other, &IfMatch::default())?;
        diesel::update(contacts::table.find(&other))
            .set((
                contacts::is_primary.eq(false),
                contacts::version.eq(before.version + 1),
                contacts::updated_at.eq(db::now()),
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
    Ok(changes)
}

pub fn create(conn: &mut DbConn, actor: &Actor, input: ContactInput) -> ApiResult<Contact> {
    let id = db::new_id();
    check_unique_and_references(conn, &id, &input)?;
    let now = db::now();
    let row = ContactRow::from_input(id.clone(), &input, 1, now, now);
    diesel::insert_into(contacts::table)
        .values(&row)
        .execute(conn)?;
    let mut changes = if input.is_primary {
        clear_other_primaries(conn, &input.customer_id, &id)?
    } else {
        Vec::new()
    };
    let contact = row.into_contact();
    changes.push(Change::created(RESOURCE, &id, contact.to_json()));
    events::append(conn, actor, &changes)?;
    Ok(contact)
}

pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: &serde_json::Value,
) -> ApiResult<Contact> {
    let current = read_locked(conn, id, if_match)?;
    let input = crate::model::merged(&current.input(), patch)?.normalized()?;
    if input == current.input() {
        return Ok(current);
    }
    check_unique_and_references(conn, id, &input)?;
    let row = ContactRow::from_input(
        id.to_string(),
        &input,
        current.version + 1,
        db::from_utc(current.created_at),
        db::now(),
    );
    diesel::update(contacts::table.find(id))
        .set(&row)
        .execute(conn)?;
    let mut changes = if input.is_primary {
        clear_other_primaries(conn, &input.customer_id, id)?
    } else {
        Vec::new()
    };
    let contact = row.into_contact();
    changes.push(Change::updated(
        RESOURCE,
        id,
        current.to_json(),
        contact.to_json(),
    ));
    events::append(conn, actor, &changes)?;
    Ok(contact)
}

pub fn delete(conn: &mut DbConn, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    let current = read_locked(conn, id, if_match)?;
    diesel::delete(contacts::table.find(id)).execute(conn)?;
    events::append(
        conn,
        actor,
        &[Change::deleted(RESOURCE, id, current.to_json())],
    )
}

/// Deletes a customer's contacts, returning their events for the caller to
/// append with its own.
pub fn delete_of_customer(conn: &mut DbConn, customer_id: &str) -> ApiResult<Vec<Change>> {
    let rows: Vec<ContactRow> = contacts::table
        .filter(contacts::customer_id.eq(customer_id))
        .load(conn)?;
    diesel::delete(contacts::table.filter(contacts::customer_id.eq(customer_id))).execute(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let contact = row.into_contact();
            Change::deleted(RESOURCE, &contact.id, contact.to_json())
        })
        .collect())
}

crate::text_enum! {
    /// Sort order of a contact list; a leading `-` sorts descending.
    ContactSort {
        CreatedAt => "created_at",
        CreatedAtDesc => "-created_at",
        UpdatedAt => "updated_at",
        UpdatedAtDesc => "-updated_at",
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactListParams {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (opaque; valid only with the same
    /// `sort`).
    #[param(min_length = 1, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
    /// Sort order (default `-created_at`); ties are broken by id.
    pub sort: Option<ContactSort>,
    /// Contacts of this customer.
    pub customer_id: Option<String>,
    /// Case-insensitive substring of first name, last name, email or phone.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Also return `total`, the number of matching contacts (costs a count).
    pub include_total: Option<bool>,
}

/// Query parameters of `/customers/{id}/contacts`: the list's without `customer_id`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerContactsParams {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (opaque; valid only with the same
    /// `sort`).
    #[param(min_length = 1, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
    /// Sort order (default `-created_at`); ties are broken by id.
    pub sort: Option<ContactSort>,
    /// Case-insensitive substring of first name, last name, email or phone.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Also return `total`, the number of matching contacts (costs a count).
    pub include_total: Option<bool>,
}

type Boxed<'a> = contacts::BoxedQuery<'a, db::MultiBackend>;

fn filtered(p: &ContactListParams) -> ApiResult<Boxed<'static>> {
    let mut query = contacts::table.into_boxed();
    if let Some(customer_id) = &p.customer_id {
        query = query.filter(contacts::customer_id.eq(customer_id.clone()));
    }
    if let Some(pattern) = pagination::search_pattern(p.q.as_deref())? {
        query = query.filter(contacts::search_text.like(pattern).escape('\\'));
    }
    Ok(query)
}

pub fn list(conn: &mut DbConn, p: &ContactListParams) -> ApiResult<super::api::ContactPage> {
    let limit = pagination::limit(p.limit)?;
    let sort = p.sort.unwrap_or(ContactSort::CreatedAtDesc);
    let after = pagination::decode_cursor(p.cursor.as_deref(), sort.as_str())?
        .map(|a| a.at())
        .transpose()?;
    let total = if p.include_total == Some(true) {
        Some(filtered(p)?.count().get_result::<i64>(conn)?)
    } else {
        None
    };
    let query = filtered(p)?.limit(limit + 1);
    let rows: Vec<ContactRow> = match sort {
        ContactSort::CreatedAt | ContactSort::CreatedAtDesc => crate::keyset!(
            query,
            contacts::created_at,
            contacts::id,
            sort == ContactSort::CreatedAtDesc,
            after
        )
        .load(conn)?,
        ContactSort::UpdatedAt | ContactSort::UpdatedAtDesc => crate::keyset!(
            query,
            contacts::updated_at,
            contacts::id,
            sort == ContactSort::UpdatedAtDesc,
            after
        )
        .load(conn)?,
    };
    let data: Vec<Contact> = rows.into_iter().map(ContactRow::into_contact).collect();
    let (data, next_cursor) = pagination::finish(data, limit, sort.as_str(), |c| match sort {
        ContactSort::CreatedAt | ContactSort::CreatedAtDesc => time_key_of(c.created_at, &c.id),
        ContactSort::UpdatedAt | ContactSort::UpdatedAtDesc => time_key_of(c.updated_at, &c.id),
    });
    Ok(super::api::ContactPage {
        data,
        next_cursor,
        total,
    })
}

/// Contacts of one customer; 404 when the customer does not exist.
pub fn list_of_customer(
    conn: &mut DbConn,
    customer_id: String,
    p: CustomerContactsParams,
) -> ApiResult<super::api::ContactPage> {
    crate::customers::repo::get(conn, &customer_id)?;
    list(
        conn,
        &ContactListParams {
            limit: p.limit,
            cursor: p.cursor,
            sort: p.sort,
            customer_id: Some(customer_id),
            q: p.q,
            include_total: p.include_total,
        },
    )
}
