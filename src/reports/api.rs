//! HTTP handlers for reports (every role reads them): parse, authorize, run
//! the report's queries, answer.

use actix_web::{get, web, HttpResponse};

use super::sales::{
    self, ForecastParams, ForecastReport, LeadFunnelParams, LeadFunnelReport, PipelineReport,
    PipelineReportParams, WinRateParams, WinRateReport,
};
use super::service::{
    self, ResponseTimeReport, SatisfactionReport, ServiceReportParams, TicketVolumeReport,
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

/// Tickets per period (day, ISO week from Monday, month) or per channel,
/// priority or assignee: created, solved and reopened in the range, and the
/// backlog open at the end of each period (or of the range).
#[utoipa::path(
    tag = "reports",
    params(ServiceReportParams),
    responses(
        (status = 200, description = "The ticket volumes", body = TicketVolumeReport),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/reports/tickets")]
pub async fn ticket_volume_report(
    state: web::Data<AppState>,
    credentials: Credentials,
    Query(params): Query<ServiceReportParams>,
) -> ApiResult<HttpResponse> {
    let report = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        service::ticket_volume(conn, params)
    })
    .await?;
    http::json(&report)
}

/// The tickets created in a range, per period or per channel, priority or
/// assignee: first-response and resolution minutes (median: the middle
/// value, or the average of the two middle ones; p90: the value at rank
/// ⌈0.9 × count⌉) and how often each SLA target was met.
#[utoipa::path(
    tag = "reports",
    params(ServiceReportParams),
    responses(
        (status = 200, description = "The response times", body = ResponseTimeReport),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/reports/response-times")]
pub async fn response_times_report(
    state: web::Data<AppState>,
    credentials: Credentials,
    Query(params): Query<ServiceReportParams>,
) -> ApiResult<HttpResponse> {
    let report = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        service::response_times(conn, params)
    })
    .await?;
    http::json(&report)
}

/// The satisfaction ratings given in a range, per period or per the rated
/// ticket's channel, priority or assignee: count, average and CSAT (the
/// share of ratings of 4 or 5).
#[utoipa::path(
    tag = "reports",
    params(ServiceReportParams),
    responses(
        (status = 200, description = "The satisfaction report", body = SatisfactionReport),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/reports/satisfaction")]
pub async fn satisfaction_report(
    state: web::Data<AppState>,
    credentials: Credentials,
    Query(params): Query<ServiceReportParams>,
) -> ApiResult<HttpResponse> {
    let report = auth::authorize(&state, credentials, Need::Read, move |conn, _| {
        service::satisfaction(conn, params)
    })
    .await?;
    http::json(&report)
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(pipeline_report)
        .service(forecast_report)
        .service(win_rate_report)
        .service(lead_funnel_report)
        .service(ticket_volume_report)
        .service(response_times_report)
        .service(satisfaction_report);
}
