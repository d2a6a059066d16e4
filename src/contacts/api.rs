//! HTTP handlers for contacts: parse, authorize, call the repository, map.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use super::repo::{self, ContactListParams, CustomerContactsParams};
use super::{Contact, ContactInput, ContactPatch};
use crate::auth::{self, Credentials, Need};
use crate::error::{ApiError, ApiResult};
use crate::http::idempotency::{self, Created, IdempotencyKey};
use crate::http::{self, IfMatch, JsonBody, Query, RecordId};
use crate::model::ToJson;
use crate::openapi::responses as r;
use crate::state::AppState;

crate::page_type!(ContactPage, Contact, "A page of contacts.");

/// Create a contact.
#[utoipa::path(
    tag = "contacts",
    request_body = ContactInput,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Makes the request safe to retry: the same key and body return the stored answer")),
    responses(
        (status = 201, description = "Created", body = Contact, headers(
            ("Location" = String, description = "URL of the new contact"),
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
#[post("/contacts")]
pub async fn create_contact(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    body: JsonBody<ContactInput>,
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
            let contact = repo::create(conn, actor, input)?;
            Ok(Created::record(
                "/api/v1/contacts",
                &contact.id,
                contact.version,
                contact.to_json()?,
            ))
        },
    )
    .await
}

/// List contacts.
#[utoipa::path(
    tag = "contacts",
    params(ContactListParams),
    responses(
        (status = 200, description = "A page of contacts", body = ContactPage),
        (status = 401, response = r::Unauthorized),
        (status = 422, response = r::Unprocessable),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/contacts")]
pub async fn list_contacts(
    state: web::Data<AppState>,
    credentials: Credentials,
    Query(params): Query<ContactListParams>,
) -> ApiResult<HttpResponse> {
    let page = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        repo::list(conn, &params)
    })
    .await?;
    http::json(&page)
}

/// List the contacts of one customer.
#[utoipa::path(
    tag = "contacts",
    params(("id" = String, Path, description = "Customer id"), CustomerContactsParams),
    responses(
        (status = 200, description = "A page of the customer's contacts", body = ContactPage),
        (status = 401, response = r::Unauthorized),
        (status = 404, response = r::NotFound),
        (status = 422, response = r::Unprocessable),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/contacts")]
pub async fn list_customer_contacts(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    Query(params): Query<CustomerContactsParams>,
) -> ApiResult<HttpResponse> {
    let page = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        repo::list_of_customer(conn, id, params)
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
        (status = 401, response = r::Unauthorized),
        (status = 404, response = r::NotFound),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/contacts/{id}")]
pub async fn get_contact(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    let contact = auth::authorize_read(&state, credentials, move |conn, caller| {
        repo::find_checked(conn, &id, caller)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("contact"))?;
    http::record(StatusCode::OK, &contact, contact.version)
}

/// Change a contact (JSON merge patch: only the fields sent change, `null` clears).
#[utoipa::path(
    tag = "contacts",
    params(
        ("id" = String, Path, description = "Contact id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "The ETag you read; 412 if the record changed since"),
    ),
    request_body(content = ContactPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed contact", body = Contact, headers(("ETag" = String, description = "Version of the record"))),
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
#[patch("/contacts/{id}")]
pub async fn update_contact(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<ContactPatch>,
) -> ApiResult<HttpResponse> {
    let contact = auth::authorize(&state, credentials, Need::Write, move |conn, actor| {
        let patch = body.parse()?.document;
        crate::db::write_tx(conn, |c| repo::update(c, actor, &id, &if_match, &patch))
    })
    .await?;
    http::record(StatusCode::OK, &contact, contact.version)
}

/// Delete a contact.
#[utoipa::path(
    tag = "contacts",
    params(
        ("id" = String, Path, description = "Contact id"),
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
#[delete("/contacts/{id}")]
pub async fn delete_contact(
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
