//! HTTP handlers for users (admin only, but `me`).

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use super::repo::{self, UserQuery};
use super::{User, UserInput, UserPage, UserPatch};
use crate::auth::{self, ActorType, Credentials, Need};
use crate::error::{ApiError, ApiResult};
use crate::http::handlers;
use crate::http::idempotency::{self, Created, IdempotencyKey};
use crate::http::{self, IfMatch, JsonBody, RecordId};
use crate::model::ToJson;
use crate::openapi::errors::{CreateErrors, DeleteErrors, ListErrors, ReadErrors, UpdateErrors};
use crate::openapi::responses as r;
use crate::state::AppState;

/// Create a user (admin).
#[utoipa::path(
    tag = "users",
    request_body = UserInput,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = User, headers(
            ("Location" = String, description = "URL of the new user"),
            ("ETag" = String, description = "Version of the record"))),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    body: JsonBody<UserInput>,
) -> ApiResult<HttpResponse> {
    // Authorize and validate before hashing: only an admin's valid request
    // costs a hash, and no connection is held while it runs.
    auth::authorize(&state, credentials.clone(), Need::Admin, |_, _| Ok(())).await?;
    let input = body.parse()?.value.normalized()?;
    let hash = state.hashing.hash(input.password.clone()).await?;
    let bytes = body.bytes.clone();
    idempotency::create(
        &state,
        credentials,
        Need::Admin,
        key,
        &req,
        &bytes,
        move |conn, actor| {
            let user = repo::create(conn, Some(actor), input, hash)?;
            Ok(Created::record(
                "/api/v1/users",
                &user.id,
                user.version,
                user.to_json()?,
            ))
        },
    )
    .await
}

/// List users (admin), oldest first.
#[utoipa::path(
    tag = "users",
    params(UserQuery),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 403, response = r::Forbidden),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    credentials: Credentials,
    query: UserQuery,
) -> ApiResult<HttpResponse> {
    handlers::list(&state, credentials, Need::Admin, query, repo::list).await
}

/// The signed-in user (any role; not available to API keys).
#[utoipa::path(
    tag = "users",
    responses(
        (status = 200, description = "The signed-in user", body = User, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/users/me")]
pub async fn me(state: web::Data<AppState>, credentials: Credentials) -> ApiResult<HttpResponse> {
    let user = auth::authorize(&state, credentials, Need::Read, |conn, actor| {
        if actor.actor_type == ActorType::ApiKey {
            return Err(ApiError::NotFound(
                "an API key is not a user; sign in to have a profile".into(),
            ));
        }
        repo::get(conn, &actor.id)
    })
    .await?;
    http::record(StatusCode::OK, &user, user.version)
}

/// Read one user (admin).
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = User, headers(("ETag" = String, description = "Version of the record"))),
        (status = 403, response = r::Forbidden),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    let user = auth::authorize(&state, credentials, Need::Admin, move |conn, _| {
        repo::get(conn, &id)
    })
    .await?;
    http::record(StatusCode::OK, &user, user.version)
}

/// Change a user (admin): name, email, role, active, password.
#[utoipa::path(
    tag = "users",
    params(
        ("id" = String, Path, description = "User id"),
        IfMatch,
    ),
    request_body(content = UserPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed user", body = User, headers(("ETag" = String, description = "Version of the record"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<UserPatch>,
) -> ApiResult<HttpResponse> {
    auth::authorize(&state, credentials.clone(), Need::Admin, |_, _| Ok(())).await?;
    let parsed = body.parse()?;
    UserPatch::reject_nulls(&parsed.document)?;
    let patch = parsed.value.normalized()?;
    let hash = match &patch.password {
        Some(password) => Some(state.hashing.hash(password.clone()).await?),
        None => None,
    };
    let user = auth::authorize(&state, credentials, Need::Admin, move |conn, actor| {
        crate::db::write_tx(conn, |c| {
            repo::update(c, actor, &id, &if_match, patch, hash)
        })
    })
    .await?;
    http::record(StatusCode::OK, &user, user.version)
}

/// Delete a user (admin). A user who owns customers cannot be deleted (409):
/// reassign them or deactivate the user instead.
#[utoipa::path(
    tag = "users",
    params(
        ("id" = String, Path, description = "User id"),
        IfMatch,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = r::Conflict),
        (status = 422, response = r::Unprocessable),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    handlers::delete(&state, credentials, Need::Admin, id, if_match, repo::delete).await
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(me)
        .service(create_user)
        .service(crate::http::list::ListRoute::<UserQuery, _>::new(
            list_users,
        ))
        .service(get_user)
        .service(update_user)
        .service(delete_user);
}
