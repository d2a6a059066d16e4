//! `GET /api/v1/events`: the change feed, and the page type shared by every
//! record's history route.

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Event, EventFilter, ResourceKind};
use crate::auth::{self, Credentials, Need, Role};
use crate::error::{ApiError, ApiResult};
use crate::http::{self, pagination, Query};
use crate::openapi::errors::ListErrors;
use crate::openapi::responses as r;
use crate::state::AppState;

/// A page of the event log.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// Events in ascending `seq` order.
    pub data: Vec<Event>,
    /// The `seq` to pass as `after` for the next page: the last event's, or
    /// the `after` you sent when the page is empty.
    pub next_after: i64,
    /// Whether more events follow right now.
    pub has_more: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// Return events with `seq` greater than this (default 0: from the start).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Only events about this kind of record.
    pub resource: Option<ResourceKind>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Return events with `seq` greater than this (default 0).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

fn after(value: Option<i64>) -> ApiResult<i64> {
    match value {
        Some(n) if n < 0 => Err(ApiError::field(
            "after",
            "out_of_range",
            "must be 0 or more",
        )),
        other => Ok(other.unwrap_or(0)),
    }
}

/// Reads one page of events; shared by the feed and per-record histories.
pub async fn page(
    state: &AppState,
    credentials: Credentials,
    resources: Vec<ResourceKind>,
    record_id: Option<String>,
    after_seq: Option<i64>,
    limit: Option<i64>,
) -> ApiResult<HttpResponse> {
    page_within(
        state,
        credentials,
        resources,
        record_id,
        after_seq,
        limit,
        |_| Ok(()),
    )
    .await
}

/// [`page`] of a nested record's history, after `within` checked (in the
/// same authorized call) that the record is its parent's, 404 otherwise.
pub async fn page_within(
    state: &AppState,
    credentials: Credentials,
    resources: Vec<ResourceKind>,
    record_id: Option<String>,
    after_seq: Option<i64>,
    limit: Option<i64>,
    within: impl FnOnce(&mut crate::db::DbConn) -> ApiResult<()> + Send + 'static,
) -> ApiResult<HttpResponse> {
    let after = after(after_seq)?;
    let limit = pagination::limit(limit)?;
    // Every record's history starts with its creation: no event at all for
    // the id means there never was such a record (a deleted one keeps its
    // history, deletion included).
    let whole_history_of = record_id.clone().filter(|_| after == 0);
    let page = auth::authorize(state, credentials, Need::Read, move |conn, actor| {
        within(conn)?;
        if let [only] = resources.as_slice() {
            if only.admin_only() && actor.role != Role::Admin {
                return Err(ApiError::Forbidden(
                    "events about users and API keys are for admins",
                ));
            }
        }
        let resources = resources
            .into_iter()
            .filter(|r| !r.admin_only() || actor.role == Role::Admin)
            .collect();
        let filter = EventFilter {
            after,
            limit,
            resources,
            record_id,
        };
        super::list(conn, &filter)
    })
    .await?;
    let mut data = page;
    if whole_history_of.is_some() && data.is_empty() {
        return Err(ApiError::not_found("record"));
    }
    let has_more = data.len() as i64 > limit;
    data.truncate(limit as usize);
    let next_after = data.last().map(|e| e.seq).unwrap_or(after);
    http::json(&EventPage {
        data,
        next_after,
        has_more,
    })
}

/// The change feed: every create, update and delete in commit order.
///
/// A sync job remembers `next_after` and asks again with `after=` that value;
/// it never misses or sees twice an event, deletions included. Events about
/// users and API keys are visible to admins only.
#[utoipa::path(
    tag = "events",
    params(FeedParams),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        (status = 403, response = r::Forbidden),
        ListErrors,
    ),
    security(("bearer" = []))
)]
#[get("/events")]
pub async fn feed(
    state: web::Data<AppState>,
    credentials: Credentials,
    Query(params): Query<FeedParams>,
) -> ApiResult<HttpResponse> {
    let resources = match params.resource {
        Some(r) => vec![r],
        None => ResourceKind::ALL.to_vec(),
    };
    page(
        &state,
        credentials,
        resources,
        None,
        params.after,
        params.limit,
    )
    .await
}

/// Registers the routes of this module (under `/api/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(feed);
}
