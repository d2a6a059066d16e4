//! Safe retries of `POST`: with an `Idempotency-Key` header, the first
//! successful answer is stored in the same transaction as the record it
//! created; a retry with the same key and body gets that answer again, a
//! retry with another body gets 422. Keys are scoped to the caller and kept
//! for 24 hours. Two concurrent requests with one key cannot both create: the
//! second blocks on the key's primary key until the first commits, then
//! replays it. A lookup ignores expired keys; each replica deletes them at
//! most once a minute ([`Cleanup`]).

use std::future::{ready, Ready};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

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
/// How often one replica deletes expired keys.
const CLEANUP_INTERVAL_MS: i64 = 60_000;

/// When this process last deleted expired keys, so that a create pays for it
/// at most once a minute (per replica; several replicas cleaning in the same
/// minute do no harm) instead of every time.
pub struct Cleanup {
    started: Instant,
    /// Milliseconds after `started` of the last cleanup.
    last_ms: AtomicI64,
}

impl Default for Cleanup {
    fn default() -> Self {
        Cleanup {
            started: Instant::now(),
            // The first create cleans.
            last_ms: AtomicI64::new(-CLEANUP_INTERVAL_MS),
        }
    }
}

impl Cleanup {
    /// True for the one caller that should clean now.
    fn due(&self) -> bool {
        let now_ms = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.due_at(now_ms)
    }

    fn due_at(&self, now_ms: i64) -> bool {
        let last = self.last_ms.load(Ordering::Relaxed);
        now_ms.saturating_sub(last) >= CLEANUP_INTERVAL_MS
            && self
                .last_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Deletes the keys past retention when a minute has passed since the
    /// last time. Housekeeping only (lookups ignore expired keys anyway), so a
    /// failure is logged and the request goes on.
    fn run_if_due(&self, conn: &mut DbConn) {
        if !self.due() {
            return;
        }
        let cutoff = db::now() - Duration::hours(RETENTION_HOURS);
        match diesel::delete(ik::table.filter(ik::created_at.lt(cutoff))).execute(conn) {
            Ok(0) => {}
            Ok(n) => log::debug!("deleted {n} expired idempotency keys"),
            Err(e) => log::warn!("deleting expired idempotency keys failed: {e}"),
        }
    }
}

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
                .pattern(Some("^[!-~](?:[\\t -~]*[!-~])?$"))
                .examples(["2f1c9e7a-create-acme"]),
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

/// What a create (or another idempotent `POST`) produced: enough to answer
/// it now and to replay it later.
pub struct Created {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: serde_json::Value,
    /// The record's version, for the `ETag`.
    pub version: Option<i64>,
}

impl Created {
    /// The record `id` of the collection at `collection` (e.g. `/api/v1/customers`).
    pub fn record(collection: &str, id: &str, version: i64, body: serde_json::Value) -> Self {
        Created {
            status: StatusCode::CREATED,
            location: Some(format!("{collection}/{id}")),
            body,
            version: Some(version),
        }
    }

    /// An answer that is not one new record (a batch's results).
    pub fn answer(status: StatusCode, body: serde_json::Value) -> Self {
        Created {
            status,
            location: None,
            body,
            version: None,
        }
    }
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: String,
    version: Option<i64>,
    replayed: bool,
}

/// Runs a create as an authorized caller inside one write transaction,
/// honouring `Idempotency-Key`, and answers 201 with `Location` and `ETag`
/// (or the status the work chose, for a `POST` that is not one create).
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
    let shared = state.clone();
    let answer = auth::authorize(state, credentials, need, move |conn, actor| {
        shared.idempotency_cleanup.run_if_due(conn);
        let Some((key, fingerprint)) = keyed else {
            let created = db::write_tx(conn, |c| work(c, actor))?;
            return Ok(Answer {
                status: created.status,
                location: created.location,
                body: created.body.to_string(),
                version: created.version,
                replayed: false,
            });
        };
        if let Some(answer) = replay(conn, actor, &key, &fingerprint)? {
            return Ok(answer);
        }
        let result = db::write_tx(conn, |c| {
            // This key may still be stored, expired (so `replay` ignored it).
            let cutoff = db::now() - Duration::hours(RETENTION_HOURS);
            diesel::delete(
                ik::table
                    .find((&actor.id, &key))
                    .filter(ik::created_at.lt(cutoff)),
            )
            .execute(c.conn())?;
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
                    ik::status_code.eq(i32::from(created.status.as_u16())),
                    ik::location.eq(&created.location),
                    ik::body.eq(&body),
                ))
                .execute(c.conn())?;
            Ok(Answer {
                status: created.status,
                location: created.location,
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
    let mut res = HttpResponse::build(answer.status);
    res.content_type("application/json");
    if let Some(version) = answer.version {
        res.insert_header((header::ETAG, crate::http::etag(version)));
    }
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
    let stored: Option<(String, i32, Option<String>, String)> = ik::table
        .find((&actor.id, key))
        .filter(ik::created_at.ge(cutoff))
        .select((ik::request_hash, ik::status_code, ik::location, ik::body))
        .first(conn)
        .optional()?;
    let Some((hash, status, location, body)) = stored else {
        return Ok(None);
    };
    if hash != fingerprint {
        return Err(ApiError::Unprocessable(
            "this Idempotency-Key was already used with a different request".into(),
        ));
    }
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::CREATED);
    // Only a created record has a version (and so an ETag).
    let version = (status == StatusCode::CREATED).then(|| {
        serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("version").and_then(|v| v.as_i64()))
            .unwrap_or(1)
    });
    Ok(Some(Answer {
        status,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_is_due_at_first_then_once_a_minute() {
        let cleanup = Cleanup::default();
        assert!(cleanup.due_at(0));
        assert!(!cleanup.due_at(1));
        assert!(!cleanup.due_at(CLEANUP_INTERVAL_MS - 1));
        assert!(cleanup.due_at(CLEANUP_INTERVAL_MS));
        assert!(!cleanup.due_at(CLEANUP_INTERVAL_MS + 10));
        assert!(cleanup.due_at(3 * CLEANUP_INTERVAL_MS));
    }

    #[test]
    fn cleanup_is_due_for_one_of_many_callers_at_once() {
        let cleanup = Cleanup::default();
        let barrier = std::sync::Barrier::new(8);
        let due = std::thread::scope(|s| {
            let callers: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        cleanup.due_at(5)
                    })
                })
                .collect();
            callers
                .into_iter()
                .map(|c| c.join())
                .filter(|due| matches!(due, Ok(true)))
                .count()
        });
        assert_eq!(due, 1);
    }
}
