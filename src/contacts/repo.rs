//! Contact queries; writers run inside the caller's transaction and append
//! their events.

use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;

use super::{Contact, ContactInput, ContactPage, ContactRow};
use crate::auth::{Actor, CallerCheck};
use crate::db::schema::{contacts, customers};
use crate::db::{self, DbConn, Tx};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::list::{ListFilters, ListQuery};
use crate::http::IfMatch;
use crate::model::ToJson;

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

/// The contact with this `external_id` and the caller check beside it.
pub fn find_by_external_id(
    conn: &mut DbConn,
    external_id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Contact, bool)>> {
    Ok(
        crate::find_checked!(contacts by external_id, ContactRow, conn, external_id, caller)?
            .map(|(row, valid)| (row.into_contact(), valid)),
    )
}

pub fn get(conn: &mut DbConn, id: &str) -> ApiResult<Contact> {
    contacts::table
        .find(id)
        .select(ContactRow::as_select())
        .first(conn)
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
    crate::check_references!(conn, {
        customer_id: customers "customer" = Some(input.customer_id.as_str()),
    })?;
    crate::ensure_unique!(
        conn,
        contacts.external_id = input.external_id.as_deref(),
        except id,
        "contact"
    )
}

/// A customer has at most one primary contact (the `contacts_one_primary`
/// index enforces it): before `id` becomes primary, the flag is cleared on
/// the others, each with its own event. On PostgreSQL the writers that make a
/// contact of one customer primary queue on a transaction-scoped advisory lock
/// of that customer, so each sees the primary the one before it left and none
/// runs into the index; SQLite's write transaction already serializes them.
fn make_room_for_primary(conn: &mut DbConn, customer_id: &str, id: &str) -> ApiResult<Vec<Change>> {
    if let DbConn::Postgresql(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind::<diesel::sql_types::Integer, _>(PRIMARY_LOCK_SPACE)
            .bind::<diesel::sql_types::Integer, _>(lock_key_of(customer_id))
            .execute(c)?;
    }
    let others: Vec<String> = contacts::table
        .filter(contacts::customer_id.eq(customer_id))
        .filter(contacts::is_primary.eq(true))
        .filter(contacts::id.ne(id))
        .select(contacts::id)
        .load(conn)?;
    let mut changes = Vec::new();
    for other in others {
        let before = read_locked(conn, &other, &IfMatch::default())?;
        // A writer that held it may have cleared the flag or moved it meanwhile.
        if !before.is_primary || before.customer_id != customer_id {
            continue;
        }
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
            before.to_json()?,
            after.to_json()?,
        ));
    }
    Ok(changes)
}

/// The advisory lock space (first key) of "making a contact primary"; the
/// second key is derived from the customer id.
const PRIMARY_LOCK_SPACE: i32 = 0x0C0F_0001;

/// A stable 32-bit key for a customer id, the same in every replica. Two
/// customers sharing one only wait for each other.
fn lock_key_of(customer_id: &str) -> i32 {
    let digest = Sha256::digest(customer_id.as_bytes());
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Writes a contact row, answering a clean 409 on `is_primary` should another
/// primary of its customer slip in anyway (the index is the last line).
fn write_row(result: QueryResult<usize>) -> ApiResult<usize> {
    result.map_err(|e| match &e {
        diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some(PRIMARY_INDEX)
                || info.message().contains("contacts.customer_id") =>
        {
            ApiError::Conflict {
                detail: "another contact of this customer was made primary at the same time; retry"
                    .into(),
                field: "is_primary".into(),
                existing_id: None,
            }
        }
        _ => e.into(),
    })
}

const PRIMARY_INDEX: &str = "contacts_one_primary";

pub fn create(tx: &mut Tx, actor: &Actor, input: ContactInput) -> ApiResult<Contact> {
    let (contact, changes) = insert(tx.conn(), input)?;
    events::append(tx, actor, &changes)?;
    Ok(contact)
}

/// Writes a new contact; returns it and the changes to append (its own and
/// those of a contact it displaces as primary).
pub fn insert(conn: &mut DbConn, input: ContactInput) -> ApiResult<(Contact, Vec<Change>)> {
    let id = db::new_id();
    check_unique_and_references(conn, &id, &input)?;
    let mut changes = if input.is_primary {
        make_room_for_primary(conn, &input.customer_id, &id)?
    } else {
        Vec::new()
    };
    let now = db::now();
    let row = ContactRow::from_input(id.clone(), &input, 1, now, now);
    write_row(
        diesel::insert_into(contacts::table)
            .values(&row)
            .execute(conn),
    )?;
    let contact = row.into_contact();
    changes.push(Change::created(RESOURCE, &id, contact.to_json()?));
    Ok((contact, changes))
}

pub fn update(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: &serde_json::Value,
) -> ApiResult<Contact> {
    let conn = tx.conn();
    // A move to another customer takes the contact's activities along: both
    // customers are locked before the contact (the activity writers' order).
    let peek = get(conn, id)?;
    if_match.check(peek.version)?;
    let target = crate::model::merged(&peek.input(), patch)?.normalized()?;
    if target.customer_id != peek.customer_id {
        crate::customers::value::lock_customers(
            conn,
            &[peek.customer_id.as_str(), target.customer_id.as_str()],
        )?;
    }
    let current = read_locked(conn, id, if_match)?;
    let input = crate::model::merged(&current.input(), patch)?.normalized()?;
    let (contact, changes) = change(conn, current, input)?;
    events::append(tx, actor, &changes)?;
    Ok(contact)
}

/// The contact read locked, read by its `external_id` (for batches).
pub fn read_locked_by_key(conn: &mut DbConn, external_id: &str) -> ApiResult<Option<Contact>> {
    let id: Option<String> = contacts::table
        .filter(contacts::external_id.eq(external_id))
        .select(contacts::id)
        .first(conn)
        .optional()?;
    match id {
        None => Ok(None),
        Some(id) => match read_locked(conn, &id, &IfMatch::default()) {
            Err(ApiError::NotFound(_)) => Ok(None),
            other => other.map(Some),
        },
    }
}

/// Writes `input` over `current` (read locked); returns the contact and the
/// changes to append, none when `input` changes nothing.
pub fn change(
    conn: &mut DbConn,
    current: Contact,
    input: ContactInput,
) -> ApiResult<(Contact, Vec<Change>)> {
    if input == current.input() {
        return Ok((current, Vec::new()));
    }
    let id = current.id.as_str();
    check_unique_and_references(conn, id, &input)?;
    // Already this customer's primary (and locked by us): the index leaves no other.
    let becomes_primary =
        input.is_primary && !(current.is_primary && current.customer_id == input.customer_id);
    let mut changes = if becomes_primary {
        make_room_for_primary(conn, &input.customer_id, id)?
    } else {
        Vec::new()
    };
    let row = ContactRow::from_input(
        id.to_string(),
        &input,
        current.version + 1,
        db::from_utc(current.created_at),
        db::now(),
    );
    write_row(
        diesel::update(contacts::table.find(id))
            .set(&row)
            .execute(conn),
    )?;
    let contact = row.into_contact();
    if contact.customer_id != current.customer_id {
        changes.extend(crate::activities::repo::follow_customer(
            conn,
            "contact_id",
            id,
            &contact.customer_id,
        )?);
    }
    changes.push(Change::updated(
        RESOURCE,
        id,
        current.to_json()?,
        contact.to_json()?,
    ));
    Ok((contact, changes))
}

pub fn delete(tx: &mut Tx, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    crate::activities::repo::lock_parents_referring(tx.conn(), "contact_id", id, Vec::new())?;
    let current = read_locked(tx.conn(), id, if_match)?;
    let mut changes = crate::dependents::before_delete(tx, super::DEPENDENTS, id)?;
    diesel::delete(contacts::table.find(id))
        .execute(tx.conn())
        .map_err(db::refused_delete)?;
    changes.push(Change::deleted(RESOURCE, id, current.to_json()?));
    events::append(tx, actor, &changes)
}

/// Contacts as dependents of other records.
pub struct Referring;

impl Referring {
    fn query(field: &str, id: &str) -> ApiResult<Boxed<'static>> {
        let query = contacts::table.into_boxed();
        Ok(match field {
            "customer_id" => query.filter(contacts::customer_id.eq(id.to_string())),
            other => return Err(crate::dependents::unknown_field(RESOURCE, other)),
        })
    }
}

impl crate::dependents::Referrers for Referring {
    fn count_referring(&self, conn: &mut DbConn, field: &str, id: &str) -> ApiResult<i64> {
        Ok(Self::query(field, id)?.count().get_result(conn)?)
    }

    /// Deletes the contacts (after their own dependents), each with its change.
    fn delete_referring(&self, tx: &mut Tx, field: &str, id: &str) -> ApiResult<Vec<Change>> {
        let rows: Vec<ContactRow> = Self::query(field, id)?
            .select(ContactRow::as_select())
            .load(tx.conn())?;
        let mut changes = Vec::new();
        for row in &rows {
            changes.extend(crate::dependents::before_delete(
                tx,
                super::DEPENDENTS,
                &row.id,
            )?);
        }
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        diesel::delete(contacts::table.filter(contacts::id.eq_any(&ids))).execute(tx.conn())?;
        for row in rows {
            let contact = row.into_contact();
            changes.push(Change::deleted(RESOURCE, &contact.id, contact.to_json()?));
        }
        Ok(changes)
    }

    fn clear_referring(&self, _: &mut Tx, field: &str, _: &str) -> ApiResult<Vec<Change>> {
        // A contact's only reference, its customer, cannot be cleared.
        Err(crate::dependents::unknown_field(RESOURCE, field))
    }
}

crate::sort_order! {
    /// Sort order of a contact list; a leading `-` sorts descending.
    ContactSort on contacts for Contact, default CreatedAtDesc {
        CreatedAt => "created_at": created_at time asc,
        CreatedAtDesc => "-created_at": created_at time desc,
        UpdatedAt => "updated_at": updated_at time asc,
        UpdatedAtDesc => "-updated_at": updated_at time desc,
    }
}

const CONTACT_SEARCH: Option<&str> =
    Some("Case-insensitive substring of first name, last name, email or phone.");
const CONTACT_TOTAL: Option<&str> =
    Some("Also return `total`, the number of matching contacts (costs a count).");

/// The filters of a contact list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactFilters {
    /// Contacts of this customer.
    pub customer_id: Option<String>,
}

impl ListFilters for ContactFilters {
    const SEARCH: Option<&'static str> = CONTACT_SEARCH;
    const TOTAL: Option<&'static str> = CONTACT_TOTAL;
}

pub type ContactQuery = ListQuery<ContactSort, ContactFilters>;

/// `/customers/{id}/contacts`: the list's parameters but `customer_id`,
/// which the path gives.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfCustomer {}

impl IntoParams for OfCustomer {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        Vec::new()
    }
}

impl ListFilters for OfCustomer {
    const SEARCH: Option<&'static str> = CONTACT_SEARCH;
    const TOTAL: Option<&'static str> = CONTACT_TOTAL;
}

pub type CustomerContactsQuery = ListQuery<ContactSort, OfCustomer>;

type Boxed<'a> = contacts::BoxedQuery<'a, db::MultiBackend>;

fn filtered(q: &ContactQuery) -> Boxed<'static> {
    let mut query = contacts::table.into_boxed();
    if let Some(customer_id) = &q.filters.customer_id {
        query = query.filter(contacts::customer_id.eq(customer_id.clone()));
    }
    if let Some(pattern) = &q.search {
        query = query.filter(contacts::search_text.like(pattern.clone()).escape('\\'));
    }
    query
}

pub fn list(conn: &mut DbConn, q: &ContactQuery) -> ApiResult<ContactPage> {
    crate::load_page!(conn, q, filtered(q), ContactRow => |r| Ok(r.into_contact()), ContactPage)
}

/// Contacts of one customer; 404 when the customer does not exist.
pub fn list_of_customer(
    conn: &mut DbConn,
    customer_id: String,
    q: CustomerContactsQuery,
) -> ApiResult<ContactPage> {
    crate::customers::repo::get(conn, &customer_id)?;
    list(
        conn,
        &q.with_filters(ContactFilters {
            customer_id: Some(customer_id),
        }),
    )
}
