//! API keys for integrations and scripts: created by admins, shown once,
//! stored as a SHA-256 hash, revoked by deletion.

pub mod api;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::{self, Actor, Role};
use crate::db::schema::api_keys;
use crate::db::{self, DbConn, Tx};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::list::{ListQuery, NoFilters};
use crate::model::ToJson;
use crate::validation;

const RESOURCE: ResourceKind = ResourceKind::ApiKeys;

/// A new API key.
#[derive(Debug, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyInput {
    /// What the key is for.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[schema(example = "ERP sync")]
    pub name: String,
    /// The role the key acts with.
    pub role: Role,
    /// When the key stops working (in the future); never if absent.
    #[serde(default)]
    #[schema(example = "2030-01-01T00:00:00Z")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API key, without its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The first characters of the key, to recognise it.
    pub key_prefix: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// Id of the user or key that created it.
    pub created_by: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A newly created API key: the only answer that carries the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The secret. Shown once: store it now.
    pub key: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = api_keys)]
struct ApiKeyRow {
    id: String,
    name: String,
    role: String,
    key_prefix: String,
    key_hash: String,
    expires_at: Option<NaiveDateTime>,
    created_by: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl ApiKeyRow {
    fn to_api_key(&self) -> ApiResult<ApiKey> {
        Ok(ApiKey {
            id: self.id.clone(),
            name: self.name.clone(),
            role: Role::from_db(&self.role)?,
            key_prefix: self.key_prefix.clone(),
            expires_at: self.expires_at.map(db::to_utc),
            created_by: self.created_by.clone(),
            version: self.version,
            created_at: db::to_utc(self.created_at),
            updated_at: db::to_utc(self.updated_at),
        })
    }
}

crate::record!(ApiKey);

impl ApiKeyInput {
    pub fn normalized(mut self) -> ApiResult<Self> {
        self.name = self.name.trim().to_string();
        validation::check(&self)?;
        if self.expires_at.is_some_and(|t| t <= Utc::now()) {
            return Err(ApiError::field(
                "expires_at",
                "in_the_past",
                "must be in the future",
            ));
        }
        Ok(self)
    }
}

pub fn create(tx: &mut Tx, actor: &Actor, input: ApiKeyInput) -> ApiResult<NewApiKey> {
    let conn = tx.conn();
    let key = auth::new_api_key();
    let now = db::now();
    let row = ApiKeyRow {
        id: db::new_id(),
        name: input.name,
        role: input.role.as_str().to_string(),
        key_prefix: key.chars().take(12).collect(),
        key_hash: auth::hash_api_key(&key),
        expires_at: input.expires_at.map(db::from_utc),
        created_by: actor.id.clone(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(api_keys::table)
        .values(&row)
        .execute(conn)?;
    let api_key = row.to_api_key()?;
    events::append(
        tx,
        actor,
        &[Change::created(RESOURCE, &row.id, api_key.to_json()?)],
    )?;
    Ok(NewApiKey { api_key, key })
}

pub fn revoke(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &crate::http::IfMatch,
) -> ApiResult<()> {
    let conn = tx.conn();
    // Keys never change after creation, so the version read is the one deleted.
    let row: ApiKeyRow = api_keys::table
        .find(id)
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    if_match.check(row.version)?;
    diesel::delete(api_keys::table.find(id)).execute(conn)?;
    events::append(
        tx,
        actor,
        &[Change::deleted(RESOURCE, id, row.to_api_key()?.to_json()?)],
    )
}

crate::page_type!(ApiKeyPage, ApiKey, "A page of API keys.");

crate::sort_order! {
    /// Keys are listed oldest first.
    ApiKeyOrder on api_keys for ApiKey, default CreatedAt, fixed true {
        CreatedAt => "created_at": created_at time asc,
    }
}

pub type ApiKeyQuery = ListQuery<ApiKeyOrder, NoFilters>;

/// Keys, oldest first.
pub fn list(conn: &mut DbConn, q: &ApiKeyQuery) -> ApiResult<ApiKeyPage> {
    let all = || api_keys::table.into_boxed();
    crate::load_page!(conn, q, all(), ApiKeyRow => |r| r.to_api_key(), ApiKeyPage)
}
