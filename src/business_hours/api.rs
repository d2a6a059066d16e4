//! HTTP handlers for business hours: parse, authorize, call the repository, map.
//! Everyone reads; managers change (`Need::Delete` is the manager's rank).

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use super::repo::{self, BusinessHoursQuery};
use super::{BusinessHours, BusinessHoursInput, BusinessHoursPage, BusinessHoursPatch};
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

/// Create a business-hours schedule (manager).
#[utoipa::path(
    tag = "business-hours",
    request_body = BusinessHoursInput,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = BusinessHours, headers(
            ("Location" = String, description = "URL of the new record"),
            ("ETag" = String, description = "Version of the record"))),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/business-hours")]
pub async fn create_business_hours(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    body: JsonBody<BusinessHoursInput>,
) -> ApiResult<HttpResponse> {
    handlers::create(
        &state,
        &req,
        credentials,
        Need::Delete,
        key,
        body,
        "/api/v1/business-hours",
        BusinessHoursInput::normalized,
        repo::create,
    )
    .await
}

/// List business-hours schedules.
#[utoipa::path(
    tag = "business-hours",
    params(BusinessHoursQuery),
    responses(
        (status = 200, description = "A page", body = BusinessHoursPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/business-hours")]
pub async fn list_business_hours(
    state: web::Data<AppState>,
    credentials: Credentials,
    query: BusinessHoursQuery,
) -> ApiResult<HttpResponse> {
    handlers::list(&state, credentials, Need::Read, query, repo::list).await
}

/// Read one business hours.
#[utoipa::path(
    tag = "business-hours",
    params(("id" = String, Path, description = "Id")),
    responses(
        (status = 200, description = "The record", body = BusinessHours, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/business-hours/{id}")]
pub async fn get_business_hours(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    handlers::read(
        &state,
        credentials,
        id,
        "business hours",
        repo::find_checked,
    )
    .await
}

/// Change a schedule (manager; JSON merge patch). Tickets keep the due times computed so far.
#[utoipa::path(
    tag = "business-hours",
    params(("id" = String, Path, description = "Id"), IfMatch),
    request_body(content = BusinessHoursPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed record", body = BusinessHours, headers(("ETag" = String, description = "Version of the record"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/business-hours/{id}")]
pub async fn update_business_hours(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<BusinessHoursPatch>,
) -> ApiResult<HttpResponse> {
    handlers::update(
        &state,
        credentials,
        Need::Delete,
        id,
        if_match,
        body,
        repo::update,
    )
    .await
}

/// Delete a schedule (manager): refused (409) while a policy uses it.
#[utoipa::path(
    tag = "business-hours",
    params(("id" = String, Path, description = "Id"), IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = r::Conflict),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/business-hours/{id}")]
pub async fn delete_business_hours(
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

/// The audit trail of one business hours: its events in order, including its deletion.
#[utoipa::path(
    tag = "business-hours",
    params(("id" = String, Path, description = "Id"), HistoryParams),
    responses(
        (status = 200, description = "The record's events", body = EventPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/business-hours/{id}/history")]
pub async fn business_hours_history(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    Query(params): Query<HistoryParams>,
) -> ApiResult<HttpResponse> {
    crate::events::api::page(
        &state,
        credentials,
        vec![ResourceKind::BusinessHours],
        Some(id),
        params.after,
        params.limit,
    )
    .await
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_business_hours)
        .service(crate::http::list::ListRoute::<BusinessHoursQuery, _>::new(
            list_business_hours,
        ))
        .service(get_business_hours)
        .service(update_business_hours)
        .service(delete_business_hours)
        .service(business_hours_history);
}
