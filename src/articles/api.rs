//! HTTP handlers for knowledge-base articles: parse, authorize, call the repository, map.
//! Everyone reads (drafts too: this is a staff API); agents write; managers delete.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use super::repo::{self, ArticleQuery};
use super::{Article, ArticleInput, ArticlePage, ArticlePatch};
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

/// Create an article (the author defaults to the calling user).
#[utoipa::path(
    tag = "articles",
    request_body = ArticleInput,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = Article, headers(
            ("Location" = String, description = "URL of the new record"),
            ("ETag" = String, description = "Version of the record"))),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/articles")]
pub async fn create_article(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    body: JsonBody<ArticleInput>,
) -> ApiResult<HttpResponse> {
    handlers::create(
        &state,
        &req,
        credentials,
        Need::Write,
        key,
        body,
        "/api/v1/articles",
        ArticleInput::normalized,
        repo::create,
    )
    .await
}

/// List articles, or search them with `q` (most relevant first, with snippets), one keyset page at a time.
#[utoipa::path(
    tag = "articles",
    params(ArticleQuery),
    responses(
        (status = 200, description = "A page", body = ArticlePage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/articles")]
pub async fn list_articles(
    state: web::Data<AppState>,
    credentials: Credentials,
    query: ArticleQuery,
) -> ApiResult<HttpResponse> {
    handlers::list(&state, credentials, Need::Read, query, repo::list).await
}

/// Read one article.
#[utoipa::path(
    tag = "articles",
    params(("id" = String, Path, description = "Id")),
    responses(
        (status = 200, description = "The record", body = Article, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/articles/{id}")]
pub async fn get_article(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    handlers::read(&state, credentials, id, "article", repo::find_checked).await
}

/// Change an article (JSON merge patch). Publishing it the first time sets `published_at`.
#[utoipa::path(
    tag = "articles",
    params(("id" = String, Path, description = "Id"), IfMatch),
    request_body(content = ArticlePatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed record", body = Article, headers(("ETag" = String, description = "Version of the record"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/articles/{id}")]
pub async fn update_article(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<ArticlePatch>,
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

/// Delete an article (manager); tickets linked to it lose the link.
#[utoipa::path(
    tag = "articles",
    params(("id" = String, Path, description = "Id"), IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = r::Conflict),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/articles/{id}")]
pub async fn delete_article(
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

/// The audit trail of one article: its events in order, including its deletion.
#[utoipa::path(
    tag = "articles",
    params(("id" = String, Path, description = "Id"), HistoryParams),
    responses(
        (status = 200, description = "The record's events", body = EventPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/articles/{id}/history")]
pub async fn article_history(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    Query(params): Query<HistoryParams>,
) -> ApiResult<HttpResponse> {
    crate::events::api::page(
        &state,
        credentials,
        vec![ResourceKind::Articles],
        Some(id),
        params.after,
        params.limit,
    )
    .await
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_article)
        .service(crate::http::list::ListRoute::<ArticleQuery, _>::new(
            list_articles,
        ))
        .service(get_article)
        .service(update_article)
        .service(delete_article)
        .service(article_history);
}
