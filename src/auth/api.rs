//! `POST /api/v1/auth/login`.

use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{verify_password, Role};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, JsonBody};
use crate::openapi::responses as r;
use crate::users::repo as users;
use crate::AppState;

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
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 415, response = r::UnsupportedMediaType),
        (status = 422, response = r::Unprocessable),
        (status = 503, response = r::Unavailable),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    body: JsonBody<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let LoginRequest { email, password } = body.parse()?.value;
    let email = email.trim().to_lowercase();
    let user = db::run(&state.pool, move |conn| {
        let row = users::credentials_of(conn, &email)?;
        let ok = verify_password(&password, row.as_ref().map(|r| r.password_hash.as_str()));
        match row {
            Some(row) if ok && row.active => Ok(row),
            _ => Err(ApiError::Unauthorized("invalid email or password")),
        }
    })
    .await?;
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
