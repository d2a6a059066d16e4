//! HTTP handlers for API keys (admin only).

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, post, web, HttpResponse};

use super::{ApiKeyInput, ApiKeyPage, ApiKeyQuery, NewApiKey};
use crate::auth::{self, Credentials, Need};
use crate::error::{ApiError, ApiResult};
use crate::http::handlers;
use crate::http::{IdempotencyKey, IfMatch, JsonBody, RecordId};
use crate::openapi::errors::{CreateErrors, DeleteErrors, ListErrors};
use crate::openapi::responses as r;
use crate::state::AppState;

/// Create an API key (admin). The answer is the only time the secret `key` is shown.
///
/// `Idempotency-Key` is refused here (422): a replay would have to store the secret.
#[utoipa::path(
    tag = "api-keys",
    request_body = ApiKeyInput,
    responses(
        (status = 201, description = "Created; `key` is shown only now", body = NewApiKey, headers(
            ("Location" = String, description = "URL of the new key"),
            ("ETag" = String, description = "Version of the record; `If-Match` on revoke"))),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/api-keys")]
pub async fn create_api_key(
    state: web::Data<AppState>,
    credentials: Credentials,
    key: IdempotencyKey,
    body: JsonBody<ApiKeyInput>,
) -> ApiResult<HttpResponse> {
    let created = auth::authorize(&state, credentials, Need::Admin, move |conn, actor| {
        if key.0.is_some() {
            return Err(ApiError::field(
                crate::http::idempotency::HEADER,
                "not_supported",
                "API key creation cannot be replayed because the secret is shown only once",
            ));
        }
        let input = body.parse()?.value.normalized()?;
        crate::db::write_tx(conn, |c| super::create(c, actor, input))
    })
    .await?;
    Ok(HttpResponse::build(StatusCode::CREATED)
        .insert_header((
            header::LOCATION,
            format!("/api/v1/api-keys/{}", created.api_key.id),
        ))
        .insert_header((header::ETAG, crate::http::etag(created.api_key.version)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(serde_json::to_string(&created)?))
}

/// List API keys (admin), without their secrets.
#[utoipa::path(
    tag = "api-keys",
    params(ApiKeyQuery),
    responses(
        (status = 200, description = "A page of keys", body = ApiKeyPage),
        (status = 403, response = r::Forbidden),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/api-keys")]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    credentials: Credentials,
    query: ApiKeyQuery,
) -> ApiResult<HttpResponse> {
    handlers::list(&state, credentials, Need::Admin, query, super::list).await
}

/// Revoke an API key (admin): it stops working at once.
#[utoipa::path(
    tag = "api-keys",
    params(("id" = String, Path, description = "API key id"), IfMatch),
    responses(
        (status = 204, description = "Revoked"),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/api-keys/{id}")]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    handlers::delete(
        &state,
        credentials,
        Need::Admin,
        id,
        if_match,
        super::revoke,
    )
    .await
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_api_key)
        .service(crate::http::list::ListRoute::<ApiKeyQuery, _>::new(
            list_api_keys,
        ))
        .service(revoke_api_key);
}
