//! HTTP handlers for pipelines and their stages: parse, authorize, call the
//! repository, map. Everyone reads; managers change (`Need::Delete` is the
//! manager's rank). A stage's `ETag` is its pipeline's version: every stage
//! change is a change of the pipeline.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::repo::{self, PipelineQuery};
use super::{
    Pipeline, PipelineInput, PipelinePage, PipelinePatch, Stage, StageInput, StageList, StagePatch,
};
use crate::auth::{self, Credentials, Need};
use crate::db;
use crate::error::ApiResult;
use crate::events::api::{EventPage, HistoryParams};
use crate::events::ResourceKind;
use crate::http::handlers;
use crate::http::idempotency::{self, Created, IdempotencyKey};
use crate::http::patch::Patch;
use crate::http::{self, IfMatch, JsonBody, Query, RecordId, StageId};
use crate::model::ToJson;
use crate::openapi::errors::{CreateErrors, DeleteErrors, ListErrors, ReadErrors, UpdateErrors};
use crate::openapi::responses as r;
use crate::state::AppState;

/// Create a pipeline with its stages (manager).
#[utoipa::path(
    tag = "pipelines",
    request_body = PipelineInput,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = Pipeline, headers(
            ("Location" = String, description = "URL of the new pipeline"),
            ("ETag" = String, description = "Version of the record"))),
        (status = 409, response = r::Conflict),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/pipelines")]
pub async fn create_pipeline(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    body: JsonBody<PipelineInput>,
) -> ApiResult<HttpResponse> {
    handlers::create(
        &state,
        &req,
        credentials,
        Need::Delete,
        key,
        body,
        "/api/v1/pipelines",
        PipelineInput::normalized,
        repo::create,
    )
    .await
}

/// List pipelines, each with its stages.
#[utoipa::path(
    tag = "pipelines",
    params(PipelineQuery),
    responses(
        (status = 200, description = "A page of pipelines", body = PipelinePage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/pipelines")]
pub async fn list_pipelines(
    state: web::Data<AppState>,
    credentials: Credentials,
    query: PipelineQuery,
) -> ApiResult<HttpResponse> {
    handlers::list(&state, credentials, Need::Read, query, repo::list).await
}

/// Read one pipeline with its stages.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = String, Path, description = "Pipeline id")),
    responses(
        (status = 200, description = "The pipeline", body = Pipeline, headers(("ETag" = String, description = "Version of the record"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/pipelines/{id}")]
pub async fn get_pipeline(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    handlers::read(&state, credentials, id, "pipeline", repo::find_checked).await
}

/// Change a pipeline's name, currency or default flag (manager; JSON merge patch).
#[utoipa::path(
    tag = "pipelines",
    params(("id" = String, Path, description = "Pipeline id"), IfMatch),
    request_body(content = PipelinePatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed pipeline", body = Pipeline, headers(("ETag" = String, description = "Version of the record"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/pipelines/{id}")]
pub async fn update_pipeline(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    body: JsonBody<PipelinePatch>,
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

/// Delete a pipeline (manager): refused (409) for the default pipeline and
/// while opportunities are in it.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = String, Path, description = "Pipeline id"), IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = r::Conflict),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/pipelines/{id}")]
pub async fn delete_pipeline(
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

/// The audit trail of one pipeline, its stage changes included.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = String, Path, description = "Pipeline id"), HistoryParams),
    responses(
        (status = 200, description = "The pipeline's events", body = EventPage),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/pipelines/{id}/history")]
pub async fn pipeline_history(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    Query(params): Query<HistoryParams>,
) -> ApiResult<HttpResponse> {
    crate::events::api::page(
        &state,
        credentials,
        vec![ResourceKind::Pipelines],
        Some(id),
        params.after,
        params.limit,
    )
    .await
}

/// The stages of a pipeline, all of them, in order.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = String, Path, description = "Pipeline id")),
    responses(
        (status = 200, description = "The stages", body = StageList),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/pipelines/{id}/stages")]
pub async fn list_stages(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
) -> ApiResult<HttpResponse> {
    let list = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        repo::list_stages(conn, &id)
    })
    .await?;
    http::json(&list)
}

/// Add a stage to a pipeline (manager); the stages from its position on
/// move one down.
#[utoipa::path(
    tag = "pipelines",
    request_body = StageInput,
    params(("id" = String, Path, description = "Pipeline id"), IfMatch, IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = Stage, headers(
            ("Location" = String, description = "URL of the new stage"),
            ("ETag" = String, description = "Version of the pipeline"))),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        (status = 412, response = r::PreconditionFailed),
        CreateErrors,
    ),
    security(("bearer" = []))
)]
#[post("/pipelines/{id}/stages")]
pub async fn add_stage(
    state: web::Data<AppState>,
    req: HttpRequest,
    credentials: Credentials,
    RecordId(id): RecordId,
    if_match: IfMatch,
    key: IdempotencyKey,
    body: JsonBody<StageInput>,
) -> ApiResult<HttpResponse> {
    let bytes = body.bytes.clone();
    idempotency::create(
        &state,
        credentials,
        Need::Delete,
        key,
        &req,
        &bytes,
        move |tx, actor| {
            let input = body.parse()?.value.normalized()?;
            let (stage, version) = repo::add_stage(tx, actor, &id, &if_match, input)?;
            Ok(Created::record(
                &format!("/api/v1/pipelines/{id}/stages"),
                &stage.id,
                version,
                stage.to_json()?,
            ))
        },
    )
    .await
}

/// Read one stage.
#[utoipa::path(
    tag = "pipelines",
    params(
        ("id" = String, Path, description = "Pipeline id"),
        ("stage_id" = String, Path, description = "Stage id"),
    ),
    responses(
        (status = 200, description = "The stage", body = Stage, headers(("ETag" = String, description = "Version of the pipeline"))),
        ReadErrors,
    ),
    security(("bearer" = []))
)]
#[get("/pipelines/{id}/stages/{stage_id}")]
pub async fn get_stage(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    StageId(stage_id): StageId,
) -> ApiResult<HttpResponse> {
    let (stage, version) = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        repo::get_stage(conn, &id, &stage_id)
    })
    .await?;
    http::record(StatusCode::OK, &stage, version)
}

/// Change a stage (manager; JSON merge patch): rename, move (`position`),
/// change its probability, kind or rotting days.
#[utoipa::path(
    tag = "pipelines",
    params(
        ("id" = String, Path, description = "Pipeline id"),
        ("stage_id" = String, Path, description = "Stage id"),
        IfMatch,
    ),
    request_body(content = StagePatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed stage", body = Stage, headers(("ETag" = String, description = "Version of the pipeline"))),
        UpdateErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/pipelines/{id}/stages/{stage_id}")]
pub async fn update_stage(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    StageId(stage_id): StageId,
    if_match: IfMatch,
    body: JsonBody<StagePatch>,
) -> ApiResult<HttpResponse> {
    let (stage, version) =
        auth::authorize(&state, credentials, Need::Delete, move |conn, actor| {
            let patch = body.parse()?.document;
            Patch::<StageInput>::check(&patch)?;
            db::write_tx(conn, |tx| {
                repo::update_stage(tx, actor, &id, &stage_id, &if_match, &patch)
            })
        })
        .await?;
    http::record(StatusCode::OK, &stage, version)
}

/// Where the opportunities of a deleted stage go.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteStageParams {
    /// Move the stage's opportunities to this stage of the same pipeline
    /// (not a lost one); without it, a stage holding any is not deleted (409).
    #[param(max_length = 64)]
    pub move_to_stage_id: Option<String>,
}

/// Delete a stage (manager).
#[utoipa::path(
    tag = "pipelines",
    params(
        ("id" = String, Path, description = "Pipeline id"),
        ("stage_id" = String, Path, description = "Stage id"),
        IfMatch,
        DeleteStageParams,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = r::Conflict),
        (status = 422, response = r::Unprocessable),
        DeleteErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/pipelines/{id}/stages/{stage_id}")]
pub async fn delete_stage(
    state: web::Data<AppState>,
    credentials: Credentials,
    RecordId(id): RecordId,
    StageId(stage_id): StageId,
    if_match: IfMatch,
    Query(params): Query<DeleteStageParams>,
) -> ApiResult<HttpResponse> {
    auth::authorize(&state, credentials, Need::Delete, move |conn, actor| {
        db::write_tx(conn, |tx| {
            repo::delete_stage(
                tx,
                actor,
                &id,
                &stage_id,
                &if_match,
                params.move_to_stage_id.as_deref().map(str::trim),
            )
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_pipeline)
        .service(crate::http::list::ListRoute::<PipelineQuery, _>::new(
            list_pipelines,
        ))
        .service(get_pipeline)
        .service(update_pipeline)
        .service(delete_pipeline)
        .service(pipeline_history)
        .service(list_stages)
        .service(add_stage)
        .service(get_stage)
        .service(update_stage)
        .service(delete_stage);
}
