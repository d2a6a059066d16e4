//! `POST /api/v1/auth/login`, and the admin's view of an account's
//! failed-login lock.

use actix_web::{delete, get, post, web, HttpMessage, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::throttle::{self, LoginThrottle};
use super::{Credentials, Need, Role};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::http::request_id::RequestId;
use crate::http::{self, JsonBody, RecordId};
use crate::openapi::errors::ReadErrors;
use crate::openapi::responses as r;
use crate::state::AppState;
use crate::users::repo as users;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "admin@localhost")]
    pub email: String,
    #[schema(format = Password)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

/// Sign in with email and password and receive an access token.
///
/// Wrong email and wrong password get the same answer, in similar time.
/// After 5 failed sign-ins for one email within 15 minutes (or many from one
/// client address), further attempts get 429 with `Retry-After`, whatever the
/// password: 30 seconds at first, doubling with each failure after a lock
/// ends, at most 15 minutes. A successful sign-in clears the account's count;
/// an admin can clear it with `DELETE /api/v1/users/{id}/login-lock`.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 413, response = r::PayloadTooLarge),
        (status = 415, response = r::UnsupportedMediaType),
        (status = 422, response = r::Unprocessable),
        (status = 429, response = r::TooManyRequests),
        (status = 503, response = r::Unavailable),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let LoginRequest { email, password } = body.parse()?.value;
    let email = email.trim().to_lowercase();
    let address = state.login_throttle.client_address(&req);
    let counters = state.login_throttle.counters(&email, address);
    let account_key = counters[0].key.clone();

    // A lock seen in the last second refuses without the database. Else the
    // caller first takes its turn to hash, so that a flood can hold at most
    // as many database connections as there are hashing threads; then one
    // round trip reads the locks and the account, and the connection goes
    // back to the pool before the hash runs.
    let keys: Vec<String> = counters.iter().map(|c| c.key.clone()).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    if let Some(retry_after_secs) = state.login_throttle.locally_locked(&key_refs, db::now()) {
        return refuse(
            &state,
            &req,
            &keys,
            ApiError::TooManyRequests { retry_after_secs },
        )
        .await;
    }
    let turn = match state.hashing.turn().await {
        Ok(turn) => turn,
        Err(e) => return refuse(&state, &req, &keys, e).await,
    };
    let lookup_email = email.clone();
    let read_keys = keys.clone();
    let (user, counts, refused) = db::run(&state.pool, move |conn| {
        let keys: Vec<&str> = read_keys.iter().map(String::as_str).collect();
        let counts = LoginThrottle::read(conn, &keys)?;
        let refused = LoginThrottle::retry_after(&counts, db::now());
        let user = match refused {
            Some(_) => None,
            None => users::credentials_of(conn, &lookup_email)?,
        };
        Ok((user, counts, refused))
    })
    .await?;
    state.login_throttle.remember(&counts, db::now());
    if let Some(retry_after_secs) = refused {
        drop(turn);
        return refuse(
            &state,
            &req,
            &keys,
            ApiError::TooManyRequests { retry_after_secs },
        )
        .await;
    }

    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = state.hashing.verify_in(turn, password, stored).await?;
    let user = match user {
        Some(user) if verified && user.active => user,
        _ => {
            let writer = state.clone();
            db::run(&state.pool, move |conn| {
                writer.login_throttle.record_failure(conn, &counters)
            })
            .await?;
            return Err(ApiError::Unauthorized("invalid email or password"));
        }
    };
    if counts.iter().any(|c| c.key == account_key) {
        db::run(&state.pool, move |conn| {
            LoginThrottle::clear(conn, &account_key)
        })
        .await?;
    }
    let role = Role::from_db(&user.role)?;
    let token = state
        .tokens
        .issue(&user.id, role, user.tokens_valid_after)?;
    http::json(&TokenResponse {
        access_token: token,
        token_type: "Bearer".into(),
        expires_in: state.tokens.ttl_secs,
    })
}

/// Answers a refused sign-in (locked, or no turn to hash) after a delay:
/// a flood of refused attempts then costs the service a sleeping future per
/// connection instead of a busy loop of answers. Each refusal is logged with
/// the request id (never the password).
async fn refuse(
    state: &AppState,
    req: &HttpRequest,
    keys: &[String],
    error: ApiError,
) -> ApiResult<HttpResponse> {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    match &error {
        ApiError::TooManyRequests { .. } => log::warn!(
            "request_id={request_id} sign-in refused: too many failures for {}",
            keys.join(" or ")
        ),
        _ => log::warn!("request_id={request_id} sign-in refused: no password hashing capacity"),
    }
    tokio::time::sleep(state.login_refusal_delay).await;
    Err(error)
}

/// The throttle key of the user `id`'s account (404 for no such user).
fn account_key_of(conn: &mut crate::db::DbConn, id: &str) -> ApiResult<String> {
    Ok(throttle::account_key(&users::get(conn, id)?.email))
}

/// An account's failed sign-ins in the current window.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginLock {
    /// Failed sign-ins counted in the current window.
    pub failures: i32,
    /// Whether sign-ins are refused now.
    pub locked: bool,
    /// Sign-ins are refused until then; `null` when not locked.
    pub locked_until: Option<DateTime<Utc>>,
    /// When the current window began; `null` when there are no failures.
    pub window_start: Option<DateTime<Utc>>,
}

/// An account's failed-login lock (admin).
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The account's failed sign-ins", body = LoginLock),
        (status = 403, response = r::Forbidden),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/users/{id}/login-lock")]
pub async fn get_login_lock(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    let counts = super::authorize(&state, credentials, Need::Admin, move |conn, _| {
        let key = account_key_of(conn, &id)?;
        LoginThrottle::read(conn, &[key.as_str()])
    })
    .await?;
    let now = db::now();
    let lock = match counts.first() {
        Some(c) => LoginLock {
            failures: c.failures,
            locked: c.locked_until.is_some_and(|t| t > now),
            locked_until: c.locked_until.filter(|t| *t > now).map(db::to_utc),
            window_start: Some(db::to_utc(c.window_start)),
        },
        None => LoginLock {
            failures: 0,
            locked: false,
            locked_until: None,
            window_start: None,
        },
    };
    http::json(&lock)
}

/// Clear an account's failed-login lock (admin), so its user can sign in
/// again at once. Answers 204 also when there was nothing to clear.
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Cleared"),
        (status = 403, response = r::Forbidden),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/users/{id}/login-lock")]
pub async fn clear_login_lock(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    let key = super::authorize(&state, credentials, Need::Admin, move |conn, actor| {
        let key = account_key_of(conn, &id)?;
        LoginThrottle::clear(conn, &key)?;
        log::info!("login lock of user {id} cleared by {}", actor.id);
        Ok(key)
    })
    .await?;
    state.login_throttle.forget(&key);
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(login)
        .service(get_login_lock)
        .service(clear_login_lock);
}
