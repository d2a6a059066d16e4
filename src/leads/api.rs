//! HTTP handlers for leads: parse, authorize, call the repository, map.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use super::repo::{self, LeadQuery};
use super::{Conversion, ConvertLead, Lead, LeadInput, LeadPage, LeadPatch};
use crate::auth::{Credentials, Need};
use crate::error::ApiResult;
use crate::events::api::{EventPage, HistoryParams};
use crate::events::ResourceKind;
use crate::http::handlers;
use crate::http::idempotency::{self, Created, IdempotencyKey};
use crate::http::{ExternalId, IfMatch, JsonBody, Query, RecordId};
use crate::openapi::errors::{CreateErrors, DeleteErrors, ListErrors, ReadErrors, UpdateErrors};
use crate::openapi::responses as r;
use crate::state::AppState;

/// Create a lead.
#[utoipa::path(
    tag = "leads",
    request_body = LeadInput,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = Lead, headers(
            ("Location" = String, description = "URL of the new lead"),
            ("ETag" = String, description = "Version of the record"))),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/leads")]
pub async fn create_lead(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    body: JsonBody<LeadInput>,
) -> ApiResult<HttpResponse> {
    handlers::create(
        &state,
        &req,
        credentials,
        Need::Write,
        key,
        body,
        "/api/v1/leads",
        LeadInput::new_lead,
        repo::create,
    )
    .await
}

/// List leads, filtered and sorted, one keyset page at a time.
#[utoipa::path(
    tag = "leads",
    params(LeadQuery),
    responses(
        (status = 200, description = "A page of leads", body = LeadPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/leads")]
pub async fn list_leads(
    state: web::Data<AppState>,
    credentials: Credentials,
    query: LeadQuery,
) -> ApiResult<HttpResponse> {
    handlers::list(&state, credentials, Need::Read, query, repo::list).await
}

/// Read one lead.
#[utoipa::path(
    tag = "leads",
    params(("id" = String, Path, description = "Lead id")),
    responses(
        (status = 200, description = "The lead", body = Lead, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/leads/{id}")]
pub async fn get_lead(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    handlers::read(&state, credentials, id, "lead", repo::find_checked).await
}

/// Change a lead (JSON merge patch: only the fields sent change, `null` clears).
#[utoipa::path(
    tag = "leads",
    params(
        ("id" = String, Path, description = "Lead id"),
        IfMatch,
    ),
    request_body(content = LeadPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed lead", body = Lead, headers(("ETag" = String, description = "Version of the record"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/leads/{id}")]
pub async fn update_lead(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<LeadPatch>,
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

/// Delete a lead (its activities linked to nothing else go with it).
#[utoipa::path(
    tag = "leads",
    params(
        ("id" = String, Path, description = "Lead id"),
        IfMatch,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = r::Conflict),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/leads/{id}")]
pub async fn delete_lead(
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

/// The audit trail of one lead: its events in lead, including its deletion.
#[utoipa::path(
    tag = "leads",
    params(("id" = String, Path, description = "Lead id"), HistoryParams),
    responses(
        (status = 200, description = "The lead's events", body = EventPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/leads/{id}/history")]
pub async fn lead_history(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    Query(params): Query<HistoryParams>,
) -> ApiResult<HttpResponse> {
    crate::events::api::page(
        &state,
        credentials,
        vec![ResourceKind::Leads],
        Some(id),
        params.after,
        params.limit,
    )
    .await
}

/// Read one lead by your own key (its `external_id`).
#[utoipa::path(
    tag = "leads",
    params(("external_id" = String, Path, description = "The lead's external_id")),
    responses(
        (status = 200, description = "The lead", body = Lead, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/leads/by-external-id/{external_id}")]
pub async fn get_lead_by_external_id(
    state: web::Data<AppState>,
    credentials: Credentials,
    ExternalId(key): ExternalId,
) -> ApiResult<HttpResponse> {
    handlers::read(&state, credentials, key, "lead", repo::find_by_external_id).await
}

/// Convert a lead, in one transaction: a customer from it (or the existing
/// `customer_id`), a contact for its person (default: for company
/// customers), an opportunity when `opportunity` is given, and the lead
/// marked `converted` with links to them. Any failure leaves nothing behind.
#[utoipa::path(
    tag = "leads",
    request_body = ConvertLead,
    params(("id" = String, Path, description = "Lead id"), IfMatch, IdempotencyKey),
    responses(
        (status = 200, description = "The converted lead and what the conversion made", body = Conversion),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        (status = 412, response = r::PreconditionFailed),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/leads/{id}/convert")]
pub async fn convert_lead(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    key: IdempotencyKey,
    body: JsonBody<ConvertLead>,
) -> ApiResult<HttpResponse> {
    let bytes = body.bytes.clone();
    idempotency::create(
        &state,
        credentials,
        Need::Write,
        key,
        &req,
        &bytes,
        move |tx, actor| {
            let conversion = repo::convert(tx, actor, &id, &if_match, body.parse()?.value)?;
            let json = serde_json::to_value(&conversion)?;
            Ok(Created::answer(actix_web::http::StatusCode::OK, json))
        },
    )
    .await
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_lead)
        .service(crate::http::list::ListRoute::<LeadQuery, _>::new(
            list_leads,
        ))
        .service(get_lead)
        .service(get_lead_by_external_id)
        .service(update_lead)
        .service(delete_lead)
        .service(lead_history)
        .service(convert_lead);
}
