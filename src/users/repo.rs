//! User queries. Writers run inside the caller's transaction and append
//! their events (which carry the public user, never the hash).

use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{User, UserInput, UserPatch, UserRow};
use crate::auth::{self, Actor, Role};
use crate::db::schema::{customers, users};
use crate::db::{self, DbConn};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::pagination::{self, time_key_of};
use crate::http::IfMatch;

const RESOURCE: ResourceKind = ResourceKind::Users;

fn row(conn: &mut DbConn, id: &str) -> ApiResult<UserRow> {
    users::table
        .find(id)
        .first::<UserRow>(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("user"))
}

/// The user, locked against other writers until the transaction ends.
fn read_locked(conn: &mut DbConn, id: &str, if_match: &IfMatch) -> ApiResult<UserRow> {
    if_match.read_locked(
        conn,
        |c| row(c, id),
        |user| user.version,
        |c, version| crate::lock_at_version!(users, c, id, version),
    )
}

pub fn get(conn: &mut DbConn, id: &str) -> ApiResult<User> {
    row(conn, id)?.to_user()
}

fn check_email_free(conn: &mut DbConn, email: &str, id: &str) -> ApiResult<()> {
    let existing: Option<String> = users::table
        .filter(users::email.eq(email))
        .filter(users::id.ne(id))
        .select(users::id)
        .first(conn)
        .optional()?;
    match existing {
        Some(existing_id) => Err(ApiError::Conflict {
            detail: format!("user {existing_id} already has this email"),
            field: "email".into(),
            existing_id: Some(existing_id),
        }),
        None => Ok(()),
    }
}

/// Inserts a user whose password is already hashed (hashing is slow and
/// happens before the transaction).
pub fn create(
    conn: &mut DbConn,
    actor: Option<&Actor>,
    input: UserInput,
    password_hash: String,
) -> ApiResult<User> {
    let id = db::new_id();
    check_email_free(conn, &input.email, &id)?;
    let now = db::now();
    let row = UserRow {
        id: id.clone(),
        email: input.email,
        name: input.name,
        role: input.role.as_str().to_string(),
        active: input.active,
        password_hash,
        version: 1,
        created_at: now,
        updated_at: now,
        tokens_valid_after: None,
    };
    diesel::insert_into(users::table)
        .values(&row)
        .execute(conn)?;
    let user = row.to_user()?;
    let system = Actor {
        actor_type: auth::ActorType::User,
        id: id.clone(),
        role: Role::Admin,
    };
    events::append(
        conn,
        actor.unwrap_or(&system),
        &[Change::created(RESOURCE, &id, user.to_json())],
    )?;
    Ok(user)
}

pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: UserPatch,
    password_hash: Option<String>,
) -> ApiResult<User> {
    let current = read_locked(conn, id, if_match)?;
    if actor.id == id {
        if patch.role.is_some_and(|r| r != Role::Admin) {
            return Err(ApiError::field(
                "role",
                "self_lockout",
                "you cannot remove your own admin role",
            ));
        }
        if patch.active == Some(false) {
            return Err(ApiError::field(
                "active",
                "self_lockout",
                "you cannot deactivate yourself",
            ));
        }
    }
    if let Some(email) = &patch.email {
        check_email_free(conn, email, id)?;
    }
    let mut next = current.clone();
    if let Some(email) = patch.email {
        next.email = email;
    }
    if let Some(name) = patch.name {
        next.name = name;
    }
    if let Some(role) = patch.role {
        next.role = role.as_str().to_string();
    }
    if let Some(active) = patch.active {
        next.active = active;
    }
    let now = db::now();
    if let Some(hash) = password_hash {
        next.password_hash = hash;
        // A new password signs out every session that knew the old one.
        next.tokens_valid_after = Some(now);
    }
    let unchanged = next.email == current.email
        && next.name == current.name
        && next.role == current.role
        && next.active == current.active
        && next.password_hash == current.password_hash;
    if unchanged {
        return current.to_user();
    }
    if next.role != Role::Admin.as_str() || !next.active {
        keep_an_admin(conn, &current)?;
    }
    next.version += 1;
    next.updated_at = now;
    diesel::update(users::table.find(id))
        .set(&next)
        .execute(conn)?;
    let user = next.to_user()?;
    events::append(
        conn,
        actor,
        &[Change::updated(
            RESOURCE,
            id,
            current.to_user()?.to_json(),
            user.to_json(),
        )],
    )?;
    Ok(user)
}

/// Refuses to demote, deactivate or delete the last active admin (an admin
/// API key could otherwise lock every person out).
fn keep_an_admin(conn: &mut DbConn, user: &UserRow) -> ApiResult<()> {
    if user.role != Role::Admin.as_str() || !user.active {
        return Ok(());
    }
    let other_admins: i64 = users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .filter(users::active.eq(true))
        .filter(users::id.ne(&user.id))
        .count()
        .get_result(conn)?;
    if other_admins == 0 {
        return Err(ApiError::Unprocessable(
            "this is the last active admin; make another user admin first".into(),
        ));
    }
    Ok(())
}

pub fn delete(conn: &mut DbConn, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    let current = read_locked(conn, id, if_match)?;
    if actor.id == id {
        return Err(ApiError::Unprocessable("you cannot delete yourself".into()));
    }
    keep_an_admin(conn, &current)?;
    let owned: i64 = customers::table
        .filter(customers::owner_id.eq(id))
        .count()
        .get_result(conn)?;
    if owned > 0 {
        return Err(ApiError::Conflict {
            detail: format!(
                "the user owns {owned} customers; reassign them or deactivate the user"
            ),
            field: "id".into(),
            existing_id: None,
        });
    }
    diesel::delete(users::table.find(id)).execute(conn)?;
    events::append(
        conn,
        actor,
        &[Change::deleted(RESOURCE, id, current.to_user()?.to_json())],
    )
}

/// The user with this email and its password hash, for sign-in.
pub fn credentials_of(conn: &mut DbConn, email: &str) -> ApiResult<Option<UserRow>> {
    Ok(users::table
        .filter(users::email.eq(email))
        .first::<UserRow>(conn)
        .optional()?)
}

pub fn count(conn: &mut DbConn) -> ApiResult<i64> {
    Ok(users::table.count().get_result(conn)?)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (opaque).
    #[param(min_length = 1, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
}

/// Users, oldest first.
pub fn list(conn: &mut DbConn, p: &UserListParams) -> ApiResult<super::api::UserPage> {
    const SORT: &str = "created_at";
    let limit = pagination::limit(p.limit)?;
    let after = pagination::decode_cursor(p.cursor.as_deref(), SORT)?
        .map(|a| a.at())
        .transpose()?;
    let mut query = users::table.into_boxed();
    if let Some(role) = p.role {
        query = query.filter(users::role.eq(role.as_str()));
    }
    if let Some(active) = p.active {
        query = query.filter(users::active.eq(active));
    }
    let rows: Vec<UserRow> = crate::keyset!(
        query.limit(limit + 1),
        users::created_at,
        users::id,
        false,
        after
    )
    .load(conn)?;
    let data = rows
        .iter()
        .map(UserRow::to_user)
        .collect::<ApiResult<Vec<_>>>()?;
    let (data, next_cursor) =
        pagination::finish(data, limit, SORT, |r| time_key_of(r.created_at, &r.id));
    Ok(super::api::UserPage {
        data,
        next_cursor,
        total: None,
    })
}
