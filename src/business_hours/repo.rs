//! Business-hours queries; writers run inside the caller's transaction and
//! append their events.

use diesel::prelude::*;
use serde_json::Value;

use super::{BusinessHours, BusinessHoursInput, BusinessHoursPage, BusinessHoursRow};
use crate::auth::{Actor, CallerCheck};
use crate::db::schema::business_hours;
use crate::db::{self, DbConn, Tx};
use crate::dependents;
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::list::{ListQuery, NoFilters};
use crate::http::IfMatch;
use crate::model::ToJson;

const RESOURCE: ResourceKind = ResourceKind::BusinessHours;

pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<BusinessHours>> {
    business_hours::table
        .find(id)
        .select(BusinessHoursRow::as_select())
        .first(conn)
        .optional()?
        .map(BusinessHoursRow::into_record)
        .transpose()
}

pub fn get(conn: &mut DbConn, id: &str) -> ApiResult<BusinessHours> {
    find(conn, id)?.ok_or_else(|| ApiError::not_found("business hours"))
}

/// The schedule with the caller check beside it, for [`crate::auth::authorize_read`].
pub fn find_checked(
    conn: &mut DbConn,
    id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(BusinessHours, bool)>> {
    crate::find_checked!(business_hours, BusinessHoursRow, conn, id, caller)?
        .map(|(row, valid)| Ok((row.into_record()?, valid)))
        .transpose()
}

pub fn read_locked(conn: &mut DbConn, id: &str, if_match: &IfMatch) -> ApiResult<BusinessHours> {
    if_match.read_locked(
        conn,
        |c| get(c, id),
        |b| b.version,
        |c, version| crate::lock_at_version!(business_hours, c, id, version),
    )
}

fn ensure_unique_name(conn: &mut DbConn, id: &str, name: &str) -> ApiResult<()> {
    crate::ensure_unique!(conn, business_hours.name = Some(name), except id, "business hours")
}

pub fn create(tx: &mut Tx, actor: &Actor, input: BusinessHoursInput) -> ApiResult<BusinessHours> {
    let conn = tx.conn();
    let id = db::new_id();
    ensure_unique_name(conn, &id, &input.name)?;
    let record = BusinessHours::new(id.clone(), input, db::now());
    diesel::insert_into(business_hours::table)
        .values(&record.row())
        .execute(conn)?;
    events::append(
        tx,
        actor,
        &[Change::created(RESOURCE, &id, record.to_json()?)],
    )?;
    Ok(record)
}

/// Applies a JSON merge patch. Tickets keep the due times computed so far;
/// the new schedule counts from their next computation.
pub fn update(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: &Value,
) -> ApiResult<BusinessHours> {
    let conn = tx.conn();
    let current = read_locked(conn, id, if_match)?;
    let input = crate::model::merged(&current.input(), patch)?.normalized()?;
    if input == current.input() {
        return Ok(current);
    }
    ensure_unique_name(conn, id, &input.name)?;
    let next = current.with(input, db::now());
    diesel::update(business_hours::table.find(id))
        .set(&next.row())
        .execute(conn)?;
    events::append(
        tx,
        actor,
        &[Change::updated(
            RESOURCE,
            id,
            current.to_json()?,
            next.to_json()?,
        )],
    )?;
    Ok(next)
}

/// Deletes a schedule no policy uses (see [`super::DEPENDENTS`]).
pub fn delete(tx: &mut Tx, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    let current = read_locked(tx.conn(), id, if_match)?;
    let mut changes = dependents::before_delete(tx, super::DEPENDENTS, id)?;
    diesel::delete(business_hours::table.find(id))
        .execute(tx.conn())
        .map_err(db::refused_delete)?;
    changes.push(Change::deleted(RESOURCE, id, current.to_json()?));
    events::append(tx, actor, &changes)
}

crate::sort_order! {
    /// Sort order of a business-hours list; a leading `-` sorts descending.
    BusinessHoursSort on business_hours for BusinessHours, default CreatedAt {
        CreatedAt => "created_at": created_at time asc,
        CreatedAtDesc => "-created_at": created_at time desc,
        Name => "name": name text asc,
        NameDesc => "-name": name text desc,
    }
}

pub type BusinessHoursQuery = ListQuery<BusinessHoursSort, NoFilters>;

pub fn list(conn: &mut DbConn, q: &BusinessHoursQuery) -> ApiResult<BusinessHoursPage> {
    crate::load_page!(
        conn, q, business_hours::table.into_boxed(),
        BusinessHoursRow => BusinessHoursRow::into_record, BusinessHoursPage
    )
}
