//! HTTP handlers for reports (every role reads them): parse, authorize, run
//! the report's queries, answer.

use actix_web::{get, web, HttpResponse};

use super::sales::{
    self, ForecastParams, ForecastReport, LeadFunnelParams, LeadFunnelReport, PipelineReport,
    PipelineReportParams, WinRateParams, WinRateReport,
};
use crate::auth::{self, Credentials, Need};
use crate::error::ApiResult;
use crate::http::{self, Query};
use crate::openapi::errors::ListErrors;
use crate::state::AppState;

/// The open opportunities of a pipeline, stage by stage: count, amount and
/// weighted amount per currency, average age in the stage, rotting count.
#[utoipa::path(
    tag = "reports",
    params(PipelineReportParams),
    responses(
        (status = 200, description = "The pipeline report", body = PipelineReport),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/reports/pipeline")]
pub async fn pipeline_report(
    state: web::Data<AppState>,
    credentials: Credentials,
    Query(params): Query<PipelineReportParams>,
) -> ApiResult<HttpResponse> {
    let report = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        sales::pipeline(conn, params)
    })
    .await?;
    http::json(&report)
}

/// Per period: open opportunities by expected close date (weighted and best
/// case) and won opportunities by closing date, per currency.
#[utoipa::path(
    tag = "reports",
    params(ForecastParams),
    responses(
        (status = 200, description = "The forecast", body = ForecastReport),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/reports/forecast")]
pub async fn forecast_report(
    state: web::Data<AppState>,
    credentials: Credentials,
    Query(params): Query<ForecastParams>,
) -> ApiResult<HttpResponse> {
    let report = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        sales::forecast(conn, params)
    })
    .await?;
    http::json(&report)
}

/// What closed in a range: won, lost, win rate, sales-cycle days, time in
/// each stage and the top lost reasons.
#[utoipa::path(
    tag = "reports",
    params(WinRateParams),
    responses(
        (status = 200, description = "The win-rate report", body = WinRateReport),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/reports/win-rate")]
pub async fn win_rate_report(
    state: web::Data<AppState>,
    credentials: Credentials,
    Query(params): Query<WinRateParams>,
) -> ApiResult<HttpResponse> {
    let report = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        sales::win_rate(conn, params)
    })
    .await?;
    http::json(&report)
}

/// Leads created in a range, per source or owner: how many are in each
/// status, the conversion rate and the median hours to conversion.
#[utoipa::path(
    tag = "reports",
    params(LeadFunnelParams),
    responses(
        (status = 200, description = "The lead funnel", body = LeadFunnelReport),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/reports/lead-funnel")]
pub async fn lead_funnel_report(
    state: web::Data<AppState>,
    credentials: Credentials,
    Query(params): Query<LeadFunnelParams>,
) -> ApiResult<HttpResponse> {
    let report = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        sales::lead_funnel(conn, params)
    })
    .await?;
    http::json(&report)
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(pipeline_report)
        .service(forecast_report)
        .service(win_rate_report)
        .service(lead_funnel_report);
}
