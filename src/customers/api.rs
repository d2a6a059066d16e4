//! HTTP handlers for customers: parse, authorize, call the repository, map.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use super::repo::{self, CustomerQuery};
use super::{Customer, CustomerInput, CustomerPage, CustomerPatch};
use crate::auth::{Credentials, Need};
use crate::error::ApiResult;
use crate::events::api::{EventPage, HistoryParams};
use crate::events::ResourceKind;
use crate::http::batch::{self, BatchResult, MatchOn};
use crate::http::handlers;
use crate::http::idempotency::IdempotencyKey;
use crate::http::{ExternalId, IfMatch, JsonBody, Query, RecordId};
use crate::openapi::errors::{CreateErrors, DeleteErrors, ListErrors, ReadErrors, UpdateErrors};
use crate::openapi::responses as r;
use crate::state::AppState;

/// Create a customer.
#[utoipa::path(
    tag = "customers",
    request_body = CustomerInput,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = Customer, headers(
            ("Location" = String, description = "URL of the new customer"),
            ("ETag" = String, description = "Version of the record"))),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/customers")]
pub async fn create_customer(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    body: JsonBody<CustomerInput>,
) -> ApiResult<HttpResponse> {
    handlers::create(
        &state,
        &req,
        credentials,
        Need::Write,
        key,
        body,
        "/api/v1/customers",
        CustomerInput::normalized,
        repo::create,
    )
    .await
}

/// List customers, filtered and sorted, one keyset page at a time.
#[utoipa::path(
    tag = "customers",
    params(CustomerQuery),
    responses(
        (status = 200, description = "A page of customers", body = CustomerPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/customers")]
pub async fn list_customers(
    state: web::Data<AppState>,
    credentials: Credentials,
    query: CustomerQuery,
) -> ApiResult<HttpResponse> {
    handlers::list(&state, credentials, Need::Read, query, repo::list).await
}

/// Read one customer.
#[utoipa::path(
    tag = "customers",
    params(("id" = String, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer", body = Customer, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}")]
pub async fn get_customer(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    handlers::read(&state, credentials, id, "customer", repo::find_checked).await
}

/// Change a customer (JSON merge patch: only the fields sent change, `null` clears).
#[utoipa::path(
    tag = "customers",
    params(
        ("id" = String, Path, description = "Customer id"),
        IfMatch,
    ),
    request_body(content = CustomerPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed customer", body = Customer, headers(("ETag" = String, description = "Version of the record"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/customers/{id}")]
pub async fn update_customer(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<CustomerPatch>,
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

/// Delete a customer and its contacts.
#[utoipa::path(
    tag = "customers",
    params(
        ("id" = String, Path, description = "Customer id"),
        IfMatch,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = r::Conflict),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/customers/{id}")]
pub async fn delete_customer(
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

/// The audit trail of one customer: its events in order, including its deletion.
#[utoipa::path(
    tag = "customers",
    params(("id" = String, Path, description = "Customer id"), HistoryParams),
    responses(
        (status = 200, description = "The customer's events", body = EventPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/history")]
pub async fn customer_history(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    Query(params): Query<HistoryParams>,
) -> ApiResult<HttpResponse> {
    crate::events::api::page(
        &state,
        credentials,
        vec![ResourceKind::Customers],
        Some(id),
        params.after,
        params.limit,
    )
    .await
}

/// Read one customer by your own key (its `external_id`).
#[utoipa::path(
    tag = "customers",
    params(("external_id" = String, Path, description = "The customer's external_id")),
    responses(
        (status = 200, description = "The customer", body = Customer, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/customers/by-external-id/{external_id}")]
pub async fn get_customer_by_external_id(
    state: web::Data<AppState>,
    credentials: Credentials,
    ExternalId(key): ExternalId,
) -> ApiResult<HttpResponse> {
    handlers::read(
        &state,
        credentials,
        key,
        "customer",
        repo::find_by_external_id,
    )
    .await
}

crate::batch_request! {
    /// A batch of customers.
    CustomerBatch of CustomerInput, match_on MatchOn
}

/// Create or update up to 1,000 customers by your own key: `external_id`
/// (default), or `email` with `"match_on": "email"`. An item identical to the
/// stored record changes nothing (no new version, no event).
#[utoipa::path(
    tag = "customers",
    request_body = CustomerBatch,
    params(IdempotencyKey),
    responses(
        (status = 200, description = "One result per item, in order, and the counts", body = BatchResult),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/customers/batch")]
pub async fn batch_customers(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    batch::run(
        &state,
        &req,
        credentials,
        key,
        payload,
        &super::batch::PARSER,
        super::batch::upsert_batch,
    )
    .await
}

/// Everything that happened with a customer, newest first: its
/// activities (also those of its contacts, opportunities and converted
/// leads), opportunities created and their stage changes, lead
/// conversions, orders, and the changes to it and its contacts.
#[utoipa::path(
    tag = "customers",
    params(("id" = String, Path, description = "Customer id"), crate::timeline::TimelineQuery),
    responses(
        (status = 200, description = "A page of the timeline", body = crate::timeline::TimelinePage),
        (status = 422, response = r::Unprocessable),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/timeline")]
pub async fn customer_timeline(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    query: crate::timeline::TimelineQuery,
) -> ApiResult<HttpResponse> {
    let page = crate::auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        crate::timeline::page(conn, &id, &query)
    })
    .await?;
    crate::http::json(&page)
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_customer)
        .service(batch_customers)
        .service(crate::http::list::ListRoute::<CustomerQuery, _>::new(
            list_customers,
        ))
        .service(get_customer)
        .service(get_customer_by_external_id)
        .service(update_customer)
        .service(delete_customer)
        .service(customer_history)
        .service(crate::http::list::ListRoute::<
            crate::timeline::TimelineQuery,
            _,
        >::new(customer_timeline));
}
