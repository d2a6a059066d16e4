//! Tags of any resource, kept both on the record (to read) and in
//! `record_tags` (to filter by tag with an index).

use diesel::prelude::*;

use crate::db::schema::record_tags;
use crate::db::DbConn;
use crate::error::ApiResult;

pub fn replace(
    conn: &mut DbConn,
    resource: &str,
    record_id: &str,
    tags: &[String],
) -> ApiResult<()> {
    remove_all(conn, resource, record_id)?;
    add(conn, resource, record_id, tags)
}

/// Tags of a new record (nothing to remove first).
pub fn add(conn: &mut DbConn, resource: &str, record_id: &str, tags: &[String]) -> ApiResult<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = tags
        .iter()
        .map(|t| {
            (
                record_tags::resource.eq(resource),
                record_tags::tag.eq(t.as_str()),
                record_tags::record_id.eq(record_id),
            )
        })
        .collect();
    crate::on_backend!(conn, |c| diesel::insert_into(record_tags::table)
        .values(&rows)
        .execute(c))?;
    Ok(())
}

pub fn remove_all(conn: &mut DbConn, resource: &str, record_id: &str) -> ApiResult<()> {
    diesel::delete(
        record_tags::table
            .filter(record_tags::resource.eq(resource))
            .filter(record_tags::record_id.eq(record_id)),
    )
    .execute(conn)?;
    Ok(())
}
