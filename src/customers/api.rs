//! HTTP handlers for customers: parse, authorize, call the repository, map.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use super::repo::{self, CustomerListParams};
use super::{Customer, CustomerInput, CustomerPatch};
use crate::auth::{self, Credentials, Need};
use crate::error::{ApiError, ApiResult};
use crate::events::api::{EventPage, HistoryParams};
use crate::events::ResourceKind;
use crate::http::idempotency::{self, Created, IdempotencyKey};
use crate::http::{self, IfMatch, JsonBody, Query, RecordId};
use crate::model::ToJson;
use crate::openapi::responses as r;
use crate::state::AppState;

crate::page_type!(CustomerPage, Customer, "A page of customers.");

fn created(customer: Customer) -> ApiResult<Created> {
    Ok(Created::record(
        "/api/v1/customers",
        &customer.id,
        customer.version,
        customer.to_json()?,
    ))
}

/// Create a customer.
#[utoipa::path(
    tag = "customers",
    request_body = CustomerInput,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Makes the request safe to retry: the same key and body return the stored answer")),
    responses(
        (status = 201, description = "Created", body = Customer, headers(
            ("Location" = String, description = "URL of the new customer"),
            ("ETag" = String, description = "Version of the record"))),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 403, response = r::Forbidden),
        (status = 409, response = r::Conflict),
        (status = 413, response = r::PayloadTooLarge),
        (status = 415, response = r::UnsupportedMediaType),
        (status = 422, response = r::Unprocessable),
        (status = 503, response = r::Unavailable),
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
    let bytes = body.bytes.clone();
    idempotency::create(
        &state,
        credentials,
        Need::Write,
        key,
        &req,
        &bytes,
        move |conn, actor| {
            let input = body.parse()?.value.normalized()?;
            created(repo::create(conn, actor, input)?)
        },
    )
    .await
}

/// List customers, filtered and sorted, one keyset page at a time.
#[utoipa::path(
    tag = "customers",
    params(CustomerListParams),
    responses(
        (status = 200, description = "A page of customers", body = CustomerPage),
        (status = 401, response = r::Unauthorized),
        (status = 422, response = r::Unprocessable),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/customers")]
pub async fn list_customers(
    state: web::Data<AppState>,
    credentials: Credentials,
    Query(params): Query<CustomerListParams>,
) -> ApiResult<HttpResponse> {
    let page = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        repo::list(conn, &params)
    })
    .await?;
    http::json(&page)
}

/// Read one customer.
#[utoipa::path(
    tag = "customers",
    params(("id" = String, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer", body = Customer, headers(("ETag" = String, description = "Version of the record"))),
        (status = 401, response = r::Unauthorized),
        (status = 404, response = r::NotFound),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}")]
pub async fn get_customer(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    let customer = auth::authorize_read(&state, credentials, move |conn, caller| {
        repo::find_checked(conn, &id, caller)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("customer"))?;
    http::record(StatusCode::OK, &customer, customer.version)
}

/// Change a customer (JSON merge patch: only the fields sent change, `null` clears).
#[utoipa::path(
    tag = "customers",
    params(
        ("id" = String, Path, description = "Customer id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "The ETag you read; 412 if the record changed since"),
    ),
    request_body(content = CustomerPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed customer", body = Customer, headers(("ETag" = String, description = "Version of the record"))),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 403, response = r::Forbidden),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        (status = 412, response = r::PreconditionFailed),
        (status = 413, response = r::PayloadTooLarge),
        (status = 415, response = r::UnsupportedMediaType),
        (status = 422, response = r::Unprocessable),
        (status = 503, response = r::Unavailable),
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
    let customer = auth::authorize(&state, credentials, Need::Write, move |conn, actor| {
        let patch = body.parse()?.document;
        crate::db::write_tx(conn, |c| repo::update(c, actor, &id, &if_match, &patch))
    })
    .await?;
    http::record(StatusCode::OK, &customer, customer.version)
}

/// Delete a customer and its contacts.
#[utoipa::path(
    tag = "customers",
    params(
        ("id" = String, Path, description = "Customer id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "The ETag you read; 412 if the record changed since"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = r::Unauthorized),
        (status = 403, response = r::Forbidden),
        (status = 404, response = r::NotFound),
        (status = 412, response = r::PreconditionFailed),
        (status = 503, response = r::Unavailable),
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
    auth::authorize(&state, credentials, Need::Delete, move |conn, actor| {
        crate::db::write_tx(conn, |c| repo::delete(c, actor, &id, &if_match))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The audit trail of one customer: its events in order, including its deletion.
#[utoipa::path(
    tag = "customers",
    params(("id" = String, Path, description = "Customer id"), HistoryParams),
    responses(
        (status = 200, description = "The customer's events", body = EventPage),
        (status = 401, response = r::Unauthorized),
        (status = 422, response = r::Unprocessable),
        (status = 503, response = r::Unavailable),
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
