//! HTTP handlers for opportunities: parse, authorize, call the repository, map.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use super::repo::{self, OpportunityQuery, StageVisitQuery};
use super::{Opportunity, OpportunityInput, OpportunityPage, OpportunityPatch, StageVisitPage};
use crate::auth::{self, Credentials, Need};
use crate::error::ApiResult;
use crate::events::api::{EventPage, HistoryParams};
use crate::events::ResourceKind;
use crate::http::handlers;
use crate::http::idempotency::IdempotencyKey;
use crate::http::{self, ExternalId, IfMatch, JsonBody, Query, RecordId};
use crate::openapi::errors::{CreateErrors, DeleteErrors, ListErrors, ReadErrors, UpdateErrors};
use crate::openapi::responses as r;
use crate::state::AppState;

/// Create an opportunity.
#[utoipa::path(
    tag = "opportunities",
    request_body = OpportunityInput,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = Opportunity, headers(
            ("Location" = String, description = "URL of the new opportunity"),
            ("ETag" = String, description = "Version of the record"))),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/opportunities")]
pub async fn create_opportunity(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    body: JsonBody<OpportunityInput>,
) -> ApiResult<HttpResponse> {
    handlers::create(
        &state,
        &req,
        credentials,
        Need::Write,
        key,
        body,
        "/api/v1/opportunities",
        OpportunityInput::normalized,
        repo::create,
    )
    .await
}

/// List opportunities, filtered and sorted, one keyset page at a time.
#[utoipa::path(
    tag = "opportunities",
    params(OpportunityQuery),
    responses(
        (status = 200, description = "A page of opportunities", body = OpportunityPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/opportunities")]
pub async fn list_opportunities(
    state: web::Data<AppState>,
    credentials: Credentials,
    query: OpportunityQuery,
) -> ApiResult<HttpResponse> {
    handlers::list(&state, credentials, Need::Read, query, repo::list).await
}

/// Read one opportunity.
#[utoipa::path(
    tag = "opportunities",
    params(("id" = String, Path, description = "Opportunity id")),
    responses(
        (status = 200, description = "The opportunity", body = Opportunity, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/opportunities/{id}")]
pub async fn get_opportunity(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    handlers::read(&state, credentials, id, "opportunity", repo::find_checked).await
}

/// Change an opportunity (JSON merge patch: only the fields sent change, `null` clears).
#[utoipa::path(
    tag = "opportunities",
    params(
        ("id" = String, Path, description = "Opportunity id"),
        IfMatch,
    ),
    request_body(content = OpportunityPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed opportunity", body = Opportunity, headers(("ETag" = String, description = "Version of the record"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/opportunities/{id}")]
pub async fn update_opportunity(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<OpportunityPatch>,
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

/// Delete an opportunity with its stage history.
#[utoipa::path(
    tag = "opportunities",
    params(
        ("id" = String, Path, description = "Opportunity id"),
        IfMatch,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = r::Conflict),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/opportunities/{id}")]
pub async fn delete_opportunity(
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

/// The audit trail of one opportunity: its events in opportunity, including its deletion.
#[utoipa::path(
    tag = "opportunities",
    params(("id" = String, Path, description = "Opportunity id"), HistoryParams),
    responses(
        (status = 200, description = "The opportunity's events", body = EventPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/opportunities/{id}/history")]
pub async fn opportunity_history(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    Query(params): Query<HistoryParams>,
) -> ApiResult<HttpResponse> {
    crate::events::api::page(
        &state,
        credentials,
        vec![ResourceKind::Opportunities],
        Some(id),
        params.after,
        params.limit,
    )
    .await
}

/// Read one opportunity by your own key (its `external_id`).
#[utoipa::path(
    tag = "opportunities",
    params(("external_id" = String, Path, description = "The opportunity's external_id")),
    responses(
        (status = 200, description = "The opportunity", body = Opportunity, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/opportunities/by-external-id/{external_id}")]
pub async fn get_opportunity_by_external_id(
    state: web::Data<AppState>,
    credentials: Credentials,
    ExternalId(key): ExternalId,
) -> ApiResult<HttpResponse> {
    handlers::read(
        &state,
        credentials,
        key,
        "opportunity",
        repo::find_by_external_id,
    )
    .await
}

/// The stages an opportunity went through, in order: when it entered and
/// left each and who moved it.
#[utoipa::path(
    tag = "opportunities",
    params(("id" = String, Path, description = "Opportunity id"), StageVisitQuery),
    responses(
        (status = 200, description = "The opportunity's stage history", body = StageVisitPage),
        (status = 422, response = r::Unprocessable),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/opportunities/{id}/stages")]
pub async fn opportunity_stages(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    query: StageVisitQuery,
) -> ApiResult<HttpResponse> {
    let page = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        repo::stage_history(conn, &id, &query)
    })
    .await?;
    http::json(&page)
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_opportunity)
        .service(crate::http::list::ListRoute::<OpportunityQuery, _>::new(
            list_opportunities,
        ))
        .service(get_opportunity)
        .service(get_opportunity_by_external_id)
        .service(update_opportunity)
        .service(delete_opportunity)
        .service(opportunity_history)
        .service(crate::http::list::ListRoute::<StageVisitQuery, _>::new(
            opportunity_stages,
        ));
}
