//! Operations: health and readiness routes, and the first-start bootstrap
//! (the token secret and the first admin).

use std::time::{Duration, Instant};

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{self, Role};
use crate::config::Config;
use crate::db::{self, Pool};
use crate::error::{ApiError, ApiResult};
use crate::openapi::responses as r;
use crate::state::AppState;
use crate::users::{self, UserInput};

#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `ok` or `ready`.
    pub status: String,
    /// For `/ready`: when the database check this answer reports ran (at
    /// most about a second ago).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<DateTime<Utc>>,
}

/// Liveness: the process answers.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive", body = Status)))]
#[get("/health")]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Status {
        status: "ok".into(),
        checked_at: None,
    })
}

/// The last database check behind `/ready`. Pollers are unauthenticated and
/// may be many, so each process checks the database at most once a second,
/// however many ask; callers that arrive while a check runs wait for it.
pub struct ReadyCheck {
    last: tokio::sync::Mutex<Option<LastCheck>>,
}

#[derive(Clone, Copy)]
struct LastCheck {
    started: Instant,
    at: DateTime<Utc>,
    ok: bool,
}

const READY_CHECK_MAX_AGE: Duration = Duration::from_secs(1);

impl Default for ReadyCheck {
    fn default() -> Self {
        ReadyCheck {
            last: tokio::sync::Mutex::new(None),
        }
    }
}

impl ReadyCheck {
    async fn current(&self, pool: &Pool) -> LastCheck {
        let mut last = self.last.lock().await;
        if let Some(check) = *last {
            if check.started.elapsed() < READY_CHECK_MAX_AGE {
                return check;
            }
        }
        let started = Instant::now();
        let at = db::to_utc(db::now());
        let ok = db::run(pool, |conn| {
            conn.batch_execute("SELECT 1")
                .map_err(|_| ApiError::Unavailable)
        })
        .await
        .is_ok();
        let check = LastCheck { started, at, ok };
        *last = Some(check);
        check
    }
}

/// Readiness: the database answered a check at most about a second ago.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, response = r::Unavailable),
    )
)]
#[get("/ready")]
pub async fn ready(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let check = state.ready.current(&state.pool).await;
    if !check.ok {
        return Err(ApiError::Unavailable);
    }
    Ok(HttpResponse::Ok().json(Status {
        status: "ready".into(),
        checked_at: Some(check.at),
    }))
}

/// `/docs` -> `/docs/`, where the interactive documentation lives.
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, "/docs/"))
        .finish()
}

/// Returns the token secret, and creates the first admin when there are no
/// users: from `CRM_ADMIN_EMAIL`/`CRM_ADMIN_PASSWORD`, or `admin@localhost`
/// with a random password printed once.
pub fn bootstrap(pool: &Pool, config: &Config) -> anyhow::Result<Vec<u8>> {
    let mut conn = pool
        .get()
        .map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))?;
    // Unknown-email logins verify against a dummy hash; make it now so the
    // first such login is not slower than a real one.
    auth::verify_password("", None);
    let secret = match &config.jwt_secret {
        Some(s) => s.expose().as_bytes().to_vec(),
        None => auth::load_or_create_secret(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    crate::customers::value::set_base_currency(&mut conn, &config.base_currency)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::pipelines::repo::ensure_default(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?;
    if users::repo::count(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))? > 0 {
        return Ok(secret);
    }
    let email = config
        .admin_email
        .clone()
        .unwrap_or_else(|| "admin@localhost".to_string());
    let (password, generated) = match &config.admin_password {
        Some(p) => (p.expose().to_string(), false),
        None => (auth::random_hex(12), true),
    };
    let hash = auth::hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let input = UserInput {
        email: email.clone(),
        name: "Administrator".into(),
        role: Role::Admin,
        password: password.clone(),
        active: true,
    };
    match db::write_tx(&mut conn, |c| users::repo::create(c, None, input, hash)) {
        Ok(_) => {
            if generated {
                println!("Created the first admin: {email} with password {password}");
                println!("(shown once; set CRM_ADMIN_EMAIL and CRM_ADMIN_PASSWORD to choose them)");
            } else {
                log::info!("created the first admin {email}");
            }
        }
        // Another replica created it first.
        Err(ApiError::Conflict { .. }) => {}
        Err(e) => return Err(anyhow::anyhow!("cannot create the first admin: {e}")),
    }
    Ok(secret)
}
