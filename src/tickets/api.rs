//! HTTP handlers for tickets, their comments and ratings: parse, authorize, call the repository, map.
//! Viewers read; agents create and change; managers delete.

use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};

use super::repo::{self, TicketQuery};
use super::{Ticket, TicketInput, TicketPage, TicketPatch};
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
use actix_web::http::StatusCode;

use super::comments::{
    self, TicketComment, TicketCommentInput, TicketCommentPage, TicketCommentPatch,
    TicketCommentQuery,
};
use super::repo::SatisfactionInput;
use crate::auth;
use crate::db;
use crate::http::idempotency::{self, Created};
use crate::http::{ArticleId, CommentId, ExternalId};
use crate::model::ToJson;

/// Create a ticket; its number and SLA due times are set here.
#[utoipa::path(
    tag = "tickets",
    request_body = TicketInput,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = Ticket, headers(
            ("Location" = String, description = "URL of the new record"),
            ("ETag" = String, description = "Version of the record"))),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/tickets")]
pub async fn create_ticket(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    body: JsonBody<TicketInput>,
) -> ApiResult<HttpResponse> {
    handlers::create(
        &state,
        &req,
        credentials,
        Need::Write,
        key,
        body,
        "/api/v1/tickets",
        TicketInput::new_ticket,
        repo::create,
    )
    .await
}

/// List tickets, filtered and sorted (the queues: `assignee_id=…&status=open,pending&sort=sla_due`, `sla_breached=true&sort=sla_due`), one keyset page at a time.
#[utoipa::path(
    tag = "tickets",
    params(TicketQuery),
    responses(
        (status = 200, description = "A page", body = TicketPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/tickets")]
pub async fn list_tickets(
    state: web::Data<AppState>,
    credentials: Credentials,
    query: TicketQuery,
) -> ApiResult<HttpResponse> {
    handlers::list(&state, credentials, Need::Read, query, repo::list).await
}

/// Read one ticket.
#[utoipa::path(
    tag = "tickets",
    params(("id" = String, Path, description = "Id")),
    responses(
        (status = 200, description = "The record", body = Ticket, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/tickets/{id}")]
pub async fn get_ticket(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    handlers::read(&state, credentials, id, "ticket", repo::find_checked).await
}

/// Change a ticket (JSON merge patch: only the fields sent change, `null` clears). A closed ticket cannot change (409).
#[utoipa::path(
    tag = "tickets",
    params(("id" = String, Path, description = "Id"), IfMatch),
    request_body(content = TicketPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed record", body = Ticket, headers(("ETag" = String, description = "Version of the record"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/tickets/{id}")]
pub async fn update_ticket(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<TicketPatch>,
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

/// Delete a ticket with its comments and rating (manager); refused (409) while follow-ups name it.
#[utoipa::path(
    tag = "tickets",
    params(("id" = String, Path, description = "Id"), IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = r::Conflict),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/tickets/{id}")]
pub async fn delete_ticket(
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

/// The audit trail of one ticket: its events in order, including its deletion.
#[utoipa::path(
    tag = "tickets",
    params(("id" = String, Path, description = "Id"), HistoryParams),
    responses(
        (status = 200, description = "The record's events", body = EventPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/history")]
pub async fn ticket_history(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    Query(params): Query<HistoryParams>,
) -> ApiResult<HttpResponse> {
    crate::events::api::page(
        &state,
        credentials,
        vec![ResourceKind::Tickets],
        Some(id),
        params.after,
        params.limit,
    )
    .await
}

/// Read one ticket by its number.
#[utoipa::path(
    tag = "tickets",
    params(("number" = i64, Path, description = "The ticket's number", minimum = 1)),
    responses(
        (status = 200, description = "The ticket", body = Ticket, headers(("ETag" = String, description = "Version of the record"))),
        (status = 404, response = r::NotFound),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/tickets/by-number/{number}")]
pub async fn get_ticket_by_number(
    state: web::Data<AppState>,
    credentials: Credentials,
    number: web::Path<String>,
) -> ApiResult<HttpResponse> {
    // Not a number a ticket can have: not found, as for any unknown id.
    let number: i64 = number
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| crate::error::ApiError::not_found("ticket"))?;
    let record = auth::authorize_read(&state, credentials, move |conn, caller| {
        repo::find_by_number(conn, number, caller)
    })
    .await?
    .ok_or_else(|| crate::error::ApiError::not_found("ticket"))?;
    crate::http::record(StatusCode::OK, &record, record.version)
}

/// Read one ticket by your own key (its `external_id`).
#[utoipa::path(
    tag = "tickets",
    params(("external_id" = String, Path, description = "The ticket's external_id")),
    responses(
        (status = 200, description = "The ticket", body = Ticket, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/tickets/by-external-id/{external_id}")]
pub async fn get_ticket_by_external_id(
    state: web::Data<AppState>,
    credentials: Credentials,
    ExternalId(key): ExternalId,
) -> ApiResult<HttpResponse> {
    handlers::read(
        &state,
        credentials,
        key,
        "ticket",
        repo::find_by_external_id,
    )
    .await
}

/// Rate a solved or closed ticket (CSAT), or change the rating, up to 7
/// days after it was solved (409 otherwise).
#[utoipa::path(
    tag = "tickets",
    request_body = SatisfactionInput,
    params(("id" = String, Path, description = "Ticket id"), IfMatch),
    responses(
        (status = 200, description = "The rated ticket", body = Ticket, headers(("ETag" = String, description = "Version of the record"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[put("/tickets/{id}/satisfaction")]
pub async fn rate_ticket(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<SatisfactionInput>,
) -> ApiResult<HttpResponse> {
    let ticket = auth::authorize(&state, credentials, Need::Write, move |conn, actor| {
        let input = body.parse()?.value.normalized()?;
        db::write_tx(conn, |tx| repo::rate(tx, actor, &id, &if_match, input))
    })
    .await?;
    crate::http::record(StatusCode::OK, &ticket, ticket.version)
}

/// Add a comment: a public reply or an internal note. A user's first
/// public reply answers the ticket (and opens a new one); a public reply
/// from the customer or a contact reopens a pending or solved ticket. 409
/// on a closed ticket.
#[utoipa::path(
    tag = "tickets",
    request_body = TicketCommentInput,
    params(("id" = String, Path, description = "Ticket id"), IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = TicketComment, headers(
            ("Location" = String, description = "URL of the new comment"),
            ("ETag" = String, description = "Version of the comment"))),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/tickets/{id}/comments")]
pub async fn create_comment(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    RecordId(id): RecordId,
    key: IdempotencyKey,
    body: JsonBody<TicketCommentInput>,
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
            let input = body.parse()?.value.normalized()?;
            let comment = comments::create(tx, actor, &id, input)?;
            Ok(Created::record(
                &format!("/api/v1/tickets/{id}/comments"),
                &comment.id,
                comment.version,
                comment.to_json()?,
            ))
        },
    )
    .await
}

/// A ticket's comments in the order they were written.
#[utoipa::path(
    tag = "tickets",
    params(("id" = String, Path, description = "Ticket id"), TicketCommentQuery),
    responses(
        (status = 200, description = "A page of comments", body = TicketCommentPage),
        (status = 404, response = r::NotFound),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/comments")]
pub async fn list_comments(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    query: TicketCommentQuery,
) -> ApiResult<HttpResponse> {
    let page = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        comments::list(conn, &id, &query)
    })
    .await?;
    crate::http::json(&page)
}

/// Read one comment.
#[utoipa::path(
    tag = "tickets",
    params(
        ("id" = String, Path, description = "Ticket id"),
        ("comment_id" = String, Path, description = "Comment id"),
    ),
    responses(
        (status = 200, description = "The comment", body = TicketComment, headers(("ETag" = String, description = "Version of the comment"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/comments/{comment_id}")]
pub async fn get_comment(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    CommentId(comment_id): CommentId,
) -> ApiResult<HttpResponse> {
    let comment = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        comments::get(conn, &id, &comment_id)
    })
    .await?;
    crate::http::record(StatusCode::OK, &comment, comment.version)
}

/// Correct a comment's body (its author only, within 15 minutes of
/// writing it; 409 after). The event log keeps what it said before.
#[utoipa::path(
    tag = "tickets",
    params(
        ("id" = String, Path, description = "Ticket id"),
        ("comment_id" = String, Path, description = "Comment id"),
        IfMatch,
    ),
    request_body(content = TicketCommentPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The corrected comment", body = TicketComment, headers(("ETag" = String, description = "Version of the comment"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/tickets/{id}/comments/{comment_id}")]
pub async fn update_comment(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    CommentId(comment_id): CommentId,
    if_match: IfMatch,
    body: JsonBody<TicketCommentPatch>,
) -> ApiResult<HttpResponse> {
    let comment = auth::authorize(&state, credentials, Need::Write, move |conn, actor| {
        let patch = body.parse()?.document;
        TicketCommentPatch::check(&patch)?;
        db::write_tx(conn, |tx| {
            comments::update(tx, actor, &id, &comment_id, &if_match, &patch)
        })
    })
    .await?;
    crate::http::record(StatusCode::OK, &comment, comment.version)
}

/// Delete a comment (manager); its deletion event keeps who and when.
#[utoipa::path(
    tag = "tickets",
    params(
        ("id" = String, Path, description = "Ticket id"),
        ("comment_id" = String, Path, description = "Comment id"),
        IfMatch,
    ),
    responses(
        (status = 204, description = "Deleted"),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/tickets/{id}/comments/{comment_id}")]
pub async fn delete_comment(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    CommentId(comment_id): CommentId,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    auth::authorize(&state, credentials, Need::Delete, move |conn, actor| {
        db::write_tx(conn, |tx| {
            comments::delete(tx, actor, &id, &comment_id, &if_match)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The audit trail of one comment: written, corrected, deleted.
#[utoipa::path(
    tag = "tickets",
    params(
        ("id" = String, Path, description = "Ticket id"),
        ("comment_id" = String, Path, description = "Comment id"),
        HistoryParams,
    ),
    responses(
        (status = 200, description = "The comment's events", body = EventPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/comments/{comment_id}/history")]
pub async fn comment_history(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(ticket_id): RecordId,
    CommentId(comment_id): CommentId,
    Query(params): Query<HistoryParams>,
) -> ApiResult<HttpResponse> {
    let of = comment_id.clone();
    crate::events::api::page_within(
        &state,
        credentials,
        vec![ResourceKind::TicketComments],
        Some(comment_id),
        params.after,
        params.limit,
        move |conn| comments::check_of_ticket(conn, &ticket_id, &of),
    )
    .await
}

/// The body of linking an article to a ticket.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleLink {
    #[schema(max_length = 64)]
    pub article_id: String,
}

/// Link a knowledge-base article to a ticket (the answer it was given);
/// linking it again changes nothing. 409 on a closed ticket.
#[utoipa::path(
    tag = "tickets",
    request_body = ArticleLink,
    params(("id" = String, Path, description = "Ticket id"), IfMatch),
    responses(
        (status = 200, description = "The ticket with the link", body = Ticket, headers(("ETag" = String, description = "Version of the record"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/tickets/{id}/articles")]
pub async fn link_article(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<ArticleLink>,
) -> ApiResult<HttpResponse> {
    let ticket = auth::authorize(&state, credentials, Need::Write, move |conn, actor| {
        let article_id = body.parse()?.value.article_id.trim().to_string();
        db::write_tx(conn, |tx| {
            repo::link_article(tx, actor, &id, &if_match, &article_id)
        })
    })
    .await?;
    crate::http::record(StatusCode::OK, &ticket, ticket.version)
}

/// Remove an article's link from a ticket (404 when it is not linked).
#[utoipa::path(
    tag = "tickets",
    params(
        ("id" = String, Path, description = "Ticket id"),
        ("article_id" = String, Path, description = "Article id"),
        IfMatch,
    ),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 409, response = r::Conflict),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/tickets/{id}/articles/{article_id}")]
pub async fn unlink_article(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    ArticleId(article_id): ArticleId,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    auth::authorize(&state, credentials, Need::Write, move |conn, actor| {
        db::write_tx(conn, |tx| {
            repo::unlink_article(tx, actor, &id, &if_match, &article_id)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// How many suggestions to return.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestionParams {
    /// 1 to 20 (default 5).
    #[param(minimum = 1, maximum = 20)]
    pub limit: Option<i64>,
}

/// Suggested articles.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ArticleSuggestions {
    /// Best first, each with its `snippet` and `relevance`.
    pub data: Vec<crate::articles::Article>,
}

/// The published articles that best match the ticket's subject and
/// description, best first.
#[utoipa::path(
    tag = "tickets",
    params(("id" = String, Path, description = "Ticket id"), SuggestionParams),
    responses(
        (status = 200, description = "The suggestions", body = ArticleSuggestions),
        (status = 404, response = r::NotFound),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/suggested-articles")]
pub async fn suggested_articles(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    Query(params): Query<SuggestionParams>,
) -> ApiResult<HttpResponse> {
    let limit = params.limit.unwrap_or(5);
    if !(1..=20).contains(&limit) {
        return Err(crate::error::ApiError::field(
            "limit",
            "out_of_range",
            "must be from 1 to 20",
        ));
    }
    let data = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        repo::suggested_articles(conn, &id, limit)
    })
    .await?;
    crate::http::json(&ArticleSuggestions { data })
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_ticket)
        .service(crate::http::list::ListRoute::<TicketQuery, _>::new(
            list_tickets,
        ))
        .service(get_ticket_by_number)
        .service(get_ticket_by_external_id)
        .service(get_ticket)
        .service(update_ticket)
        .service(delete_ticket)
        .service(ticket_history)
        .service(rate_ticket)
        .service(create_comment)
        .service(crate::http::list::ListRoute::<TicketCommentQuery, _>::new(
            list_comments,
        ))
        .service(get_comment)
        .service(update_comment)
        .service(delete_comment)
        .service(comment_history)
        .service(link_article)
        .service(unlink_article)
        .service(suggested_articles);
}
