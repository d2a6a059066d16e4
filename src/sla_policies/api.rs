//! HTTP handlers for SLA policies: parse, authorize, call the repository, map.
//! Everyone reads; managers change (`Need::Delete` is the manager's rank).

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use super::repo::{self, SlaPolicyQuery};
use super::{SlaPolicy, SlaPolicyInput, SlaPolicyPage, SlaPolicyPatch};
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

/// Create an SLA policy (manager); the first policy becomes the default.
#[utoipa::path(
    tag = "sla-policies",
    request_body = SlaPolicyInput,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = SlaPolicy, headers(
            ("Location" = String, description = "URL of the new record"),
            ("ETag" = String, description = "Version of the record"))),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/sla-policies")]
pub async fn create_sla_policy(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    body: JsonBody<SlaPolicyInput>,
) -> ApiResult<HttpResponse> {
    handlers::create(
        &state,
        &req,
        credentials,
        Need::Delete,
        key,
        body,
        "/api/v1/sla-policies",
        SlaPolicyInput::normalized,
        repo::create,
    )
    .await
}

/// List SLA policies.
#[utoipa::path(
    tag = "sla-policies",
    params(SlaPolicyQuery),
    responses(
        (status = 200, description = "A page", body = SlaPolicyPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/sla-policies")]
pub async fn list_sla_policies(
    state: web::Data<AppState>,
    credentials: Credentials,
    query: SlaPolicyQuery,
) -> ApiResult<HttpResponse> {
    handlers::list(&state, credentials, Need::Read, query, repo::list).await
}

/// Read one SLA policy.
#[utoipa::path(
    tag = "sla-policies",
    params(("id" = String, Path, description = "Id")),
    responses(
        (status = 200, description = "The record", body = SlaPolicy, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/sla-policies/{id}")]
pub async fn get_sla_policy(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    handlers::read(&state, credentials, id, "SLA policy", repo::find_checked).await
}

/// Change a policy (manager; JSON merge patch). Tickets keep the due times computed so far.
#[utoipa::path(
    tag = "sla-policies",
    params(("id" = String, Path, description = "Id"), IfMatch),
    request_body(content = SlaPolicyPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed record", body = SlaPolicy, headers(("ETag" = String, description = "Version of the record"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/sla-policies/{id}")]
pub async fn update_sla_policy(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<SlaPolicyPatch>,
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

/// Delete a policy (manager): refused (409) while tickets that are not closed use it, and for the default while other policies exist.
#[utoipa::path(
    tag = "sla-policies",
    params(("id" = String, Path, description = "Id"), IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = r::Conflict),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/sla-policies/{id}")]
pub async fn delete_sla_policy(
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

/// The audit trail of one SLA policy: its events in order, including its deletion.
#[utoipa::path(
    tag = "sla-policies",
    params(("id" = String, Path, description = "Id"), HistoryParams),
    responses(
        (status = 200, description = "The record's events", body = EventPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/sla-policies/{id}/history")]
pub async fn sla_policy_history(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    Query(params): Query<HistoryParams>,
) -> ApiResult<HttpResponse> {
    crate::events::api::page(
        &state,
        credentials,
        vec![ResourceKind::SlaPolicies],
        Some(id),
        params.after,
        params.limit,
    )
    .await
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_sla_policy)
        .service(crate::http::list::ListRoute::<SlaPolicyQuery, _>::new(
            list_sla_policies,
        ))
        .service(get_sla_policy)
        .service(update_sla_policy)
        .service(delete_sla_policy)
        .service(sla_policy_history);
}
