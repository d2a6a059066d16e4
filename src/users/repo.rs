//! User queries. Writers run inside the caller's transaction and append
//! their events (which carry the public user, never the hash).

use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{User, UserInput, UserPage, UserPatch, UserRow};
use crate::auth::{self, Actor, Role};
use crate::db::schema::users;
use crate::db::{self, DbConn, Tx};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::list::{ListFilters, ListQuery};
use crate::http::IfMatch;
use crate::model::ToJson;

const RESOURCE: ResourceKind = ResourceKind::Users;

fn row(conn: &mut DbConn, id: &str) -> ApiResult<UserRow> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
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
    crate::ensure_unique!(conn, users.email = Some(email), except id, "user")
}

/// Inserts a user whose password is already hashed (hashing is slow and
/// happens before the transaction).
pub fn create(
    tx: &mut Tx,
    actor: Option<&Actor>,
    input: UserInput,
    password_hash: String,
) -> ApiResult<User> {
    let conn = tx.conn();
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
        tx,
        actor.unwrap_or(&system),
        &[Change::created(RESOURCE, &id, user.to_json()?)],
    )?;
    Ok(user)
}

pub fn update(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: UserPatch,
    password_hash: Option<String>,
) -> ApiResult<User> {
    let conn = tx.conn();
    if patch.role.is_some_and(|r| r != Role::Admin) || patch.active == Some(false) {
        lock_active_admins(conn)?;
    }
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
        tx,
        actor,
        &[Change::updated(
            RESOURCE,
            id,
            current.to_user()?.to_json()?,
            user.to_json()?,
        )],
    )?;
    Ok(user)
}

/// Locks the rows of every active admin until the transaction ends, on
/// PostgreSQL; a change that may remove an admin (demotion, deactivation,
/// deletion) takes these locks before any other, so two such changes run one
/// after the other and [`keep_an_admin`] in the second counts what the first
/// left (each statement reads what was committed before it). Always in id
/// order, so two of them cannot deadlock. SQLite's write transaction
/// ([`db::write_tx`]) already holds the database's only write lock.
fn lock_active_admins(conn: &mut DbConn) -> ApiResult<()> {
    if let DbConn::Postgresql(c) = conn {
        users::table
            .filter(users::role.eq(Role::Admin.as_str()))
            .filter(users::active.eq(true))
            .order(users::id)
            .select(users::id)
            .for_no_key_update()
            .load::<String>(c)?;
    }
    Ok(())
}

/// Refuses to demote, deactivate or delete the last active admin (an admin
/// API key could otherwise lock every person out). Callers hold
/// [`lock_active_admins`].
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

pub fn delete(tx: &mut Tx, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    let conn = tx.conn();
    lock_active_admins(conn)?;
    let current = read_locked(conn, id, if_match)?;
    if actor.id == id {
        return Err(ApiError::Unprocessable("you cannot delete yourself".into()));
    }
    keep_an_admin(conn, &current)?;
    let mut changes = crate::dependents::before_delete(tx, super::DEPENDENTS, id)?;
    diesel::delete(users::table.find(id))
        .execute(tx.conn())
        .map_err(db::refused_delete)?;
    changes.push(Change::deleted(RESOURCE, id, current.to_user()?.to_json()?));
    events::append(tx, actor, &changes)
}

/// The user with this email and its password hash, for sign-in.
pub fn credentials_of(conn: &mut DbConn, email: &str) -> ApiResult<Option<UserRow>> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn count(conn: &mut DbConn) -> ApiResult<i64> {
    Ok(users::table.count().get_result(conn)?)
}

crate::sort_order! {
    /// Users are listed oldest first.
    UserOrder on users for User, default CreatedAt, fixed true {
        CreatedAt => "created_at": created_at time asc,
    }
}

/// The filters of a user list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserFilters {
    pub role: Option<Role>,
    pub active: Option<bool>,
}

impl ListFilters for UserFilters {}

pub type UserQuery = ListQuery<UserOrder, UserFilters>;

/// Users, oldest first.
pub fn list(conn: &mut DbConn, q: &UserQuery) -> ApiResult<UserPage> {
    let filtered = || {
        let mut query = users::table.into_boxed();
        if let Some(role) = q.filters.role {
            query = query.filter(users::role.eq(role.as_str()));
        }
        if let Some(active) = q.filters.active {
            query = query.filter(users::active.eq(active));
        }
        query
    };
    crate::load_page!(conn, q, filtered(), UserRow => |r| r.to_user(), UserPage)
}
