//! Safe retries of `POST`: with an `Idempotency-Key` header, the first
//! successful answer is stored in the same transaction as the record it
//! created; a retry with the same key and body gets that answer again, a
//! retry with another body gets 422. Keys are scoped to the caller and kept
//! for 24 hours. Two concurrent requests with one key cannot both create: the
//! second blocks on the key's primary key until the first commits, then
//! replays it.

use std::future::{ready, Ready};

use actix_web::http::{header, StatusCode};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};
use chrono::Duration;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::auth::{self, Actor, Credentials, Need};
use crate::db::schema::idempotency_keys as ik;
use crate::db::{self, DbConn, Tx};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const HEADER: &str = "Idempotency-Key";
const MAX_KEY_LEN: usize = 255;
const RETENTION_HOURS: i64 = 24;

#[derive(Debug, Clone, Default)]
pub struct IdempotencyKey(pub Option<String>);

impl utoipa::IntoParams for IdempotencyKey {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![super::header_param(
            HEADER,
            "Makes the request safe to retry: the same key and body return the stored answer",
            utoipa::openapi::ObjectBuilder::new()
                .min_length(Some(1))
                .max_length(Some(MAX_KEY_LEN))
                .pattern(Some("^[!-~]([ -~]*[!-~])?$")),
        )]
    }
}

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(value) = req.headers().get(HEADER) else {
            return ready(Ok(IdempotencyKey(None)));
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN);
        ready(match key {
            Some(k) => Ok(IdempotencyKey(Some(k.to_string()))),
            None => Err(ApiError::field(
                HEADER,
                "invalid_header",
                format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            )),
        })
    }
}

/// What a create produced: enough to answer it now and to replay it later.
pub struct Created {
    pub location: String,
    pub body: serde_json::Value,
    pub version: i64,
}

impl Created {
    /// The record `id` of the collection at `collection` (e.g. `/api/v1/customers`).
    pub fn record(collection: &str, id: &str, version: i64, body: serde_json::Value) -> Self {
        Created {
            location: format!("{collection}/{id}"),
            body,
            version,
        }
    }
}

struct Answer {
    location: Option<String>,
    body: String,
    version: i64,
    replayed: bool,
}

/// Runs a create as an authorized caller inside one write transaction,
/// honouring `Idempotency-Key`, and answers 201 with `Location` and `ETag`.
pub async fn create<F>(
    state: &web::Data<AppState>,
    credentials: Credentials,
    need: Need,
    key: IdempotencyKey,
    req: &HttpRequest,
    body: &[u8],
    work: F,
) -> ApiResult<HttpResponse>
where
    F: FnOnce(&mut Tx, &Actor) -> ApiResult<Created> + Send + 'static,
{
    let keyed = key
        .0
        .map(|k| (k, fingerprint(&state.request_hash_salt, req, body)));
    let answer = auth::authorize(state, credentials, need, move |conn, actor| {
        let Some((key, fingerprint)) = keyed else {
            let created = db::write_tx(conn, |c| work(c, actor))?;
            return Ok(Answer {
                location: Some(created.location),
                body: created.body.to_string(),
                version: created.version,
                replayed: false,
            });
        };
        if let Some(answer) = replay(conn, actor, &key, &fingerprint)? {
            return Ok(answer);
        }
        let result = db::write_tx(conn, |c| {
            let cutoff = db::now() - Duration::hours(RETENTION_HOURS);
            diesel::delete(ik::table.filter(ik::created_at.lt(cutoff))).execute(c.conn())?;
            diesel::insert_into(ik::table)
                .values((
                    ik::actor_id.eq(&actor.id),
                    ik::key.eq(&key),
                    ik::request_hash.eq(&fingerprint),
                    ik::status_code.eq(0),
                    ik::body.eq(""),
                    ik::created_at.eq(db::now()),
                ))
                .execute(c.conn())
                .map_err(|e| match e {
                    diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    ) => ApiError::Conflict {
                        detail: "concurrent request with this Idempotency-Key".into(),
                        field: HEADER.into(),
                        existing_id: None,
                    },
                    other => other.into(),
                })?;
            let created = work(c, actor)?;
            let body = created.body.to_string();
            diesel::update(ik::table.find((&actor.id, &key)))
                .set((
                    ik::status_code.eq(i32::from(StatusCode::CREATED.as_u16())),
                    ik::location.eq(&created.location),
                    ik::body.eq(&body),
                ))
                .execute(c.conn())?;
            Ok(Answer {
                location: Some(created.location),
                body,
                version: created.version,
                replayed: false,
            })
        });
        match result {
            Err(ApiError::Conflict { field, .. }) if field == HEADER => {
                replay(conn, actor, &key, &fingerprint)?.ok_or(ApiError::Conflict {
                    detail: "a request with this Idempotency-Key is still in progress".into(),
                    field: HEADER.into(),
                    existing_id: None,
                })
            }
            other => other,
        }
    })
    .await?;
    let mut res = HttpResponse::Created();
    res.content_type("application/json")
        .insert_header((header::ETAG, crate::http::etag(answer.version)));
    if let Some(location) = answer.location {
        res.insert_header((header::LOCATION, location));
    }
    if answer.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(res.body(answer.body))
}

fn replay(
    conn: &mut DbConn,
    actor: &Actor,
    key: &str,
    fingerprint: &str,
) -> ApiResult<Option<Answer>> {
    let cutoff = db::now() - Duration::hours(RETENTION_HOURS);
    let stored: Option<(String, Option<String>, String)> = ik::table
        .find((&actor.id, key))
        .filter(ik::created_at.ge(cutoff))
        .select((ik::request_hash, ik::location, ik::body))
        .first(conn)
        .optional()?;
    let Some((hash, location, body)) = stored else {
        return Ok(None);
    };
    if hash != fingerprint {
        return Err(ApiError::Unprocessable(
            "this Idempotency-Key was already used with a different request".into(),
        ));
    }
    let version = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("version").and_then(|v| v.as_i64()))
        .unwrap_or(1);
    Ok(Some(Answer {
        location,
        body,
        version,
        replayed: true,
    }))
}

/// Identifies a request without storing its body (which may hold a password):
/// a salted SHA-256 of method, path and body.
fn fingerprint(salt: &[u8], req: &HttpRequest, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(req.method().as_str().as_bytes());
    hasher.update([0]);
    hasher.update(req.path().as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hex::encode(hasher.finalize())
}
