//! HTTP handlers for contacts: parse, authorize, call the repository, map.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use super::repo::{self, ContactQuery, CustomerContactsQuery};
use super::{Contact, ContactInput, ContactPage, ContactPatch};
use crate::auth::{self, Credentials, Need};
use crate::error::ApiResult;
use crate::http::batch::{self, BatchResult, ExternalIdKey};
use crate::http::handlers;
use crate::http::idempotency::IdempotencyKey;
use crate::http::list::ListRoute;
use crate::http::{self, ExternalId, IfMatch, JsonBody, RecordId};
use crate::openapi::errors::{CreateErrors, DeleteErrors, ListErrors, ReadErrors, UpdateErrors};
use crate::openapi::responses as r;
use crate::state::AppState;

/// Create a contact.
#[utoipa::path(
    tag = "contacts",
    request_body = ContactInput,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = Contact, headers(
            ("Location" = String, description = "URL of the new contact"),
            ("ETag" = String, description = "Version of the record"))),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/contacts")]
pub async fn create_contact(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    body: JsonBody<ContactInput>,
) -> ApiResult<HttpResponse> {
    handlers::create(
        &state,
        &req,
        credentials,
        Need::Write,
        key,
        body,
        "/api/v1/contacts",
        ContactInput::normalized,
        repo::create,
    )
    .await
}

/// List contacts.
#[utoipa::path(
    tag = "contacts",
    params(ContactQuery),
    responses(
        (status = 200, description = "A page of contacts", body = ContactPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/contacts")]
pub async fn list_contacts(
    state: web::Data<AppState>,
    credentials: Credentials,
    query: ContactQuery,
) -> ApiResult<HttpResponse> {
    handlers::list(&state, credentials, Need::Read, query, repo::list).await
}

/// List the contacts of one customer.
#[utoipa::path(
    tag = "contacts",
    params(("id" = String, Path, description = "Customer id"), CustomerContactsQuery),
    responses(
        (status = 200, description = "A page of the customer's contacts", body = ContactPage),
        (status = 422, response = r::Unprocessable),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/contacts")]
pub async fn list_customer_contacts(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    query: CustomerContactsQuery,
) -> ApiResult<HttpResponse> {
    let page = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        repo::list_of_customer(conn, id, query)
    })
    .await?;
    http::json(&page)
}

/// Read one contact.
#[utoipa::path(
    tag = "contacts",
    params(("id" = String, Path, description = "Contact id")),
    responses(
        (status = 200, description = "The contact", body = Contact, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/contacts/{id}")]
pub async fn get_contact(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    handlers::read(&state, credentials, id, "contact", repo::find_checked).await
}

/// Change a contact (JSON merge patch: only the fields sent change, `null` clears).
#[utoipa::path(
    tag = "contacts",
    params(
        ("id" = String, Path, description = "Contact id"),
        IfMatch,
    ),
    request_body(content = ContactPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed contact", body = Contact, headers(("ETag" = String, description = "Version of the record"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/contacts/{id}")]
pub async fn update_contact(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<ContactPatch>,
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

/// Delete a contact.
#[utoipa::path(
    tag = "contacts",
    params(
        ("id" = String, Path, description = "Contact id"),
        IfMatch,
    ),
    responses(
        (status = 204, description = "Deleted"),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/contacts/{id}")]
pub async fn delete_contact(
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

/// Read one contact by your own key (its `external_id`).
#[utoipa::path(
    tag = "contacts",
    params(("external_id" = String, Path, description = "The contact's external_id")),
    responses(
        (status = 200, description = "The contact", body = Contact, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/contacts/by-external-id/{external_id}")]
pub async fn get_contact_by_external_id(
    state: web::Data<AppState>,
    credentials: Credentials,
    ExternalId(key): ExternalId,
) -> ApiResult<HttpResponse> {
    handlers::read(
        &state,
        credentials,
        key,
        "contact",
        repo::find_by_external_id,
    )
    .await
}

crate::customer_keyed_item! {
    /// A contact in a batch: the create shape, where `customer_external_id`
    /// may name the customer instead of `customer_id`.
    ContactBatchItem of ContactInput
}

crate::batch_request! {
    /// A batch of contacts.
    ContactBatch of ContactBatchItem, match_on ExternalIdKey
}

/// Create or update up to 1,000 contacts by your own key (`external_id`,
/// required in every item). An item identical to the stored record changes
/// nothing (no new version, no event).
#[utoipa::path(
    tag = "contacts",
    request_body = ContactBatch,
    params(IdempotencyKey),
    responses(
        (status = 200, description = "One result per item, in order, and the counts", body = BatchResult),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/contacts/batch")]
pub async fn batch_contacts(
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
    cfg.service(list_customer_contacts)
        .service(create_contact)
        .service(batch_contacts)
        .service(ListRoute::<ContactQuery, _>::new(list_contacts))
        .service(get_contact)
        .service(get_contact_by_external_id)
        .service(update_contact)
        .service(delete_contact);
}
