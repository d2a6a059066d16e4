//! HTTP handlers for orders: parse, authorize, call the repository, map.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use super::repo::{self, OrderQuery};
use super::{Order, OrderInput, OrderPage, OrderPatch};
use crate::auth::{Credentials, Need};
use crate::error::ApiResult;
use crate::events::api::{EventPage, HistoryParams};
use crate::events::ResourceKind;
use crate::http::batch::{self, BatchResult, ExternalIdKey};
use crate::http::handlers;
use crate::http::idempotency::IdempotencyKey;
use crate::http::{ExternalId, IfMatch, JsonBody, Query, RecordId};
use crate::openapi::errors::{CreateErrors, DeleteErrors, ListErrors, ReadErrors, UpdateErrors};
use crate::openapi::responses as r;
use crate::state::AppState;

/// Create an order.
#[utoipa::path(
    tag = "orders",
    request_body = OrderInput,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = Order, headers(
            ("Location" = String, description = "URL of the new order"),
            ("ETag" = String, description = "Version of the record"))),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/orders")]
pub async fn create_order(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    body: JsonBody<OrderInput>,
) -> ApiResult<HttpResponse> {
    handlers::create(
        &state,
        &req,
        credentials,
        Need::Write,
        key,
        body,
        "/api/v1/orders",
        OrderInput::normalized,
        repo::create,
    )
    .await
}

/// List orders, filtered and sorted, one keyset page at a time.
#[utoipa::path(
    tag = "orders",
    params(OrderQuery),
    responses(
        (status = 200, description = "A page of orders", body = OrderPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/orders")]
pub async fn list_orders(
    state: web::Data<AppState>,
    credentials: Credentials,
    query: OrderQuery,
) -> ApiResult<HttpResponse> {
    handlers::list(&state, credentials, Need::Read, query, repo::list).await
}

/// Read one order.
#[utoipa::path(
    tag = "orders",
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order", body = Order, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/orders/{id}")]
pub async fn get_order(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    handlers::read(&state, credentials, id, "order", repo::find_checked).await
}

/// Change an order (JSON merge patch: only the fields sent change, `null` clears).
#[utoipa::path(
    tag = "orders",
    params(
        ("id" = String, Path, description = "Order id"),
        IfMatch,
    ),
    request_body(content = OrderPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed order", body = Order, headers(("ETag" = String, description = "Version of the record"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/orders/{id}")]
pub async fn update_order(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<OrderPatch>,
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

/// Delete an order (its customer's value is recomputed).
#[utoipa::path(
    tag = "orders",
    params(
        ("id" = String, Path, description = "Order id"),
        IfMatch,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = r::Conflict),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/orders/{id}")]
pub async fn delete_order(
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

/// The audit trail of one order: its events in order, including its deletion.
#[utoipa::path(
    tag = "orders",
    params(("id" = String, Path, description = "Order id"), HistoryParams),
    responses(
        (status = 200, description = "The order's events", body = EventPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/orders/{id}/history")]
pub async fn order_history(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    Query(params): Query<HistoryParams>,
) -> ApiResult<HttpResponse> {
    crate::events::api::page(
        &state,
        credentials,
        vec![ResourceKind::Orders],
        Some(id),
        params.after,
        params.limit,
    )
    .await
}

/// Read one order by your own key (its `external_id`).
#[utoipa::path(
    tag = "orders",
    params(("external_id" = String, Path, description = "The order's external_id")),
    responses(
        (status = 200, description = "The order", body = Order, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/orders/by-external-id/{external_id}")]
pub async fn get_order_by_external_id(
    state: web::Data<AppState>,
    credentials: Credentials,
    ExternalId(key): ExternalId,
) -> ApiResult<HttpResponse> {
    handlers::read(&state, credentials, key, "order", repo::find_by_external_id).await
}

crate::customer_keyed_item! {
    /// A order in a batch: the create shape, where `customer_external_id`
    /// may name the customer instead of `customer_id`.
    OrderBatchItem of OrderInput
}

crate::batch_request! {
    /// A batch of orders.
    OrderBatch of OrderBatchItem, match_on ExternalIdKey
}

/// Create or update up to 1,000 orders by your own key (`external_id`,
/// required in every item). An item identical to the stored record changes
/// nothing (no new version, no event).
#[utoipa::path(
    tag = "orders",
    request_body = OrderBatch,
    params(IdempotencyKey),
    responses(
        (status = 200, description = "One result per item, in order, and the counts", body = BatchResult),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/orders/batch")]
pub async fn batch_orders(
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

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_order)
        .service(batch_orders)
        .service(crate::http::list::ListRoute::<OrderQuery, _>::new(
            list_orders,
        ))
        .service(get_order)
        .service(get_order_by_external_id)
        .service(update_order)
        .service(delete_order)
        .service(order_history);
}
