//! HTTP handlers for activities: parse, authorize, call the repository, map.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use super::repo::{self, ActivityQuery};
use super::{Activity, ActivityInput, ActivityPage, ActivityPatch};
use crate::auth::{Credentials, Need};
use crate::error::ApiResult;
use crate::events::api::{EventPage, HistoryParams};
use crate::events::ResourceKind;
use crate::http::handlers;
use crate::http::idempotency::IdempotencyKey;
use crate::http::{IfMatch, JsonBody, Query, RecordId};
use crate::openapi::errors::{CreateErrors, DeleteErrors, ListErrors, ReadErrors, UpdateErrors};
use crate::openapi::responses as r;
use crate::state::AppState;

/// Create an activity.
#[utoipa::path(
    tag = "activities",
    request_body = ActivityInput,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = Activity, headers(
            ("Location" = String, description = "URL of the new activity"),
            ("ETag" = String, description = "Version of the record"))),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/activities")]
pub async fn create_activity(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    body: JsonBody<ActivityInput>,
) -> ApiResult<HttpResponse> {
    handlers::create(
        &state,
        &req,
        credentials,
        Need::Write,
        key,
        body,
        "/api/v1/activities",
        ActivityInput::normalized,
        repo::create,
    )
    .await
}

/// List activities, filtered and sorted, one keyset page at a time.
#[utoipa::path(
    tag = "activities",
    params(ActivityQuery),
    responses(
        (status = 200, description = "A page of activities", body = ActivityPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/activities")]
pub async fn list_activities(
    state: web::Data<AppState>,
    credentials: Credentials,
    query: ActivityQuery,
) -> ApiResult<HttpResponse> {
    handlers::list(&state, credentials, Need::Read, query, repo::list).await
}

/// Read one activity.
#[utoipa::path(
    tag = "activities",
    params(("id" = String, Path, description = "Activity id")),
    responses(
        (status = 200, description = "The activity", body = Activity, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/activities/{id}")]
pub async fn get_activity(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    handlers::read(&state, credentials, id, "activity", repo::find_checked).await
}

/// Change an activity (JSON merge patch: only the fields sent change, `null` clears).
#[utoipa::path(
    tag = "activities",
    params(
        ("id" = String, Path, description = "Activity id"),
        IfMatch,
    ),
    request_body(content = ActivityPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed activity", body = Activity, headers(("ETag" = String, description = "Version of the record"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/activities/{id}")]
pub async fn update_activity(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<ActivityPatch>,
) -> ApiResult<HttpResponse> {
    handlers::update(
        &state,
        credentials,
        Need::Write,
        id,
        if_match,
        body,
        repo::update,
    )
    .await
}

/// Delete an activity.
#[utoipa::path(
    tag = "activities",
    params(
        ("id" = String, Path, description = "Activity id"),
        IfMatch,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = r::Conflict),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/activities/{id}")]
pub async fn delete_activity(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    handlers::delete(
        &state,
        credentials,
        Need::Delete,
        id,
        if_match,
        repo::delete,
    )
    .await
}

/// The audit trail of one activity: its events in activity, including its deletion.
#[utoipa::path(
    tag = "activities",
    params(("id" = String, Path, description = "Activity id"), HistoryParams),
    responses(
        (status = 200, description = "The activity's events", body = EventPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/activities/{id}/history")]
pub async fn activity_history(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    Query(params): Query<HistoryParams>,
) -> ApiResult<HttpResponse> {
    crate::events::api::page(
        &state,
        credentials,
        vec![ResourceKind::Activities],
        Some(id),
        params.after,
        params.limit,
    )
    .await
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_activity)
        .service(crate::http::list::ListRoute::<ActivityQuery, _>::new(
            list_activities,
        ))
        .service(get_activity)
        .service(update_activity)
        .service(delete_activity)
        .service(activity_history);
}
