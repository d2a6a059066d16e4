//! Sales reports over opportunities and their stage history: the pipeline
//! as it stands, the forecast by period, and the win rate of what closed.

use chrono::{Datelike, NaiveDate, Utc};
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel::QueryableByName;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{check_range, day_start, div_round, exact, money, Dialect, Sql};
use crate::db::{self, DbConn};
use crate::error::{ApiError, ApiResult};
use crate::pipelines::repo as pipelines;

/// The filters every sales report takes, as SQL conditions on `o`
/// (opportunities) to append, binding their values to `sql`.
/// 422 unless each id parameter given is one an id can be (at most 64
/// characters, as the contract states).
fn check_ids(ids: &[(&str, &Option<String>)]) -> ApiResult<()> {
    for (field, id) in ids {
        if id.as_deref().is_some_and(|v| v.chars().count() > 64) {
            return Err(ApiError::field(
                *field,
                "too_long",
                "an id has at most 64 characters",
            ));
        }
    }
    Ok(())
}

fn owner_and_pipeline(
    sql: &mut Sql,
    pipeline_id: &Option<String>,
    owner_id: &Option<String>,
) -> String {
    let mut condition = String::new();
    if let Some(p) = pipeline_id {
        let n = sql.bind(p.trim());
        condition.push_str(&format!(" AND o.pipeline_id = ${n}"));
    }
    if let Some(u) = owner_id {
        let n = sql.bind(u.trim());
        condition.push_str(&format!(" AND o.owner_id = ${n}"));
    }
    condition
}

// ---------------------------------------------------------------------------
// Pipeline
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PipelineReportParams {
    /// Default: the default pipeline.
    #[param(max_length = 64)]
    pub pipeline_id: Option<String>,
    /// Only this user's opportunities.
    #[param(max_length = 64)]
    pub owner_id: Option<String>,
}

/// The open opportunities of one currency in a stage.
#[derive(Debug, Serialize, ToSchema)]
pub struct StageAmounts {
    pub currency: String,
    pub count: i64,
    /// The sum of their amounts (minor units).
    pub amount: i64,
    /// The sum of amount × probability / 100, rounded half up.
    pub weighted_amount: i64,
}

/// The open opportunities in one stage.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineReportStage {
    pub stage_id: String,
    pub name: String,
    pub position: i64,
    pub probability: i64,
    pub open_count: i64,
    /// How long they have been in the stage, on average; null when none.
    pub average_days_in_stage: Option<f64>,
    pub rotting_count: i64,
    /// Per currency, in currency order.
    pub amounts: Vec<StageAmounts>,
}

/// A pipeline's stages in order, with the open opportunities in each (a
/// won or lost stage holds none).
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineReport {
    pub pipeline_id: String,
    pub pipeline_name: String,
    pub stages: Vec<PipelineReportStage>,
    pub generated_at: chrono::DateTime<Utc>,
}

#[derive(QueryableByName)]
struct StageRow {
    #[diesel(sql_type = Text)]
    stage_id: String,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Text)]
    amount: String,
    #[diesel(sql_type = Text)]
    weighted: String,
    #[diesel(sql_type = Double)]
    age_seconds: f64,
    #[diesel(sql_type = BigInt)]
    rotting: i64,
}

pub fn pipeline(conn: &mut DbConn, params: PipelineReportParams) -> ApiResult<PipelineReport> {
    check_ids(&[
        ("pipeline_id", &params.pipeline_id),
        ("owner_id", &params.owner_id),
    ])?;
    let pipeline = match &params.pipeline_id {
        Some(id) => pipelines::find(conn, id.trim())?.ok_or_else(|| {
            ApiError::field("pipeline_id", "not_found", "no pipeline has this id")
        })?,
        None => pipelines::default_pipeline(conn)?,
    };
    let d = Dialect::of(conn);
    let now = db::now();
    let mut sql = Sql::new();
    let p = sql.bind(pipeline.id.as_str());
    let t = sql.bind_timestamp(now);
    let now_epoch = now.and_utc().timestamp() as f64;
    let filters = owner_and_pipeline(&mut sql, &None, &params.owner_id);
    sql.text = format!(
        "SELECT o.stage_id, o.currency, COUNT(*) AS n, {amount} AS amount, {weighted} AS weighted, \
         {age} AS age_seconds, \
         SUM(CASE WHEN o.rotting_at <= {ts} THEN 1 ELSE 0 END) AS rotting \
         FROM opportunities o WHERE o.pipeline_id = ${p} AND o.status = 'open'{filters} \
         GROUP BY o.stage_id, o.currency ORDER BY o.stage_id, o.currency",
        amount = d.sum_text("o.amount"),
        weighted = d.sum_text("o.amount * o.probability"),
        age = d.float(&format!("SUM({now_epoch} - {})", d.epoch("o.stage_entered_at"))),
        ts = d.timestamp(t),
    );
    let rows: Vec<StageRow> = sql.load(conn)?;
    let stages = pipeline
        .stages
        .iter()
        .map(|stage| {
            let own: Vec<&StageRow> = rows.iter().filter(|r| r.stage_id == stage.id).collect();
            let count: i64 = own.iter().map(|r| r.n).sum();
            let age: f64 = own.iter().map(|r| r.age_seconds).sum();
            Ok(PipelineReportStage {
                stage_id: stage.id.clone(),
                name: stage.name.clone(),
                position: stage.position,
                probability: stage.probability,
                open_count: count,
                average_days_in_stage: (count > 0).then(|| age / count as f64 / 86400.0),
                rotting_count: own.iter().map(|r| r.rotting).sum(),
                amounts: own
                    .iter()
                    .map(|r| {
                        Ok(StageAmounts {
                            currency: r.currency.clone(),
                            count: r.n,
                            amount: money(exact(&r.amount)?),
                            weighted_amount: money(div_round(exact(&r.weighted)?, 100)),
                        })
                    })
                    .collect::<ApiResult<_>>()?,
            })
        })
        .collect::<ApiResult<_>>()?;
    Ok(PipelineReport {
        pipeline_id: pipeline.id,
        pipeline_name: pipeline.name,
        stages,
        generated_at: db::to_utc(now),
    })
}

// ---------------------------------------------------------------------------
// Forecast
// ---------------------------------------------------------------------------

crate::text_enum! {
    /// The length of a forecast's periods.
    Period {
        Month => "month",
        Quarter => "quarter",
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ForecastParams {
    /// First day (inclusive). Default: the first day of this month.
    pub from: Option<NaiveDate>,
    /// Last day (inclusive). Default: twelve months on from `from`, less a day.
    pub to: Option<NaiveDate>,
    /// Default: month.
    pub period: Option<Period>,
    #[param(max_length = 64)]
    pub pipeline_id: Option<String>,
    /// Only this user's opportunities.
    #[param(max_length = 64)]
    pub owner_id: Option<String>,
}

/// One currency's figures in a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastAmounts {
    pub currency: String,
    /// Open opportunities expected to close in the period.
    pub open_count: i64,
    /// Their amounts × probability / 100, rounded half up.
    pub open_weighted_amount: i64,
    /// Their amounts, unweighted.
    pub open_best_case: i64,
    /// Opportunities won (by `closed_at`) in the period.
    pub won_count: i64,
    pub won_amount: i64,
}

/// One period of a forecast.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastPeriod {
    /// `2027-01` (month) or `2027-Q1` (quarter).
    pub period: String,
    /// Per currency, in currency order.
    pub amounts: Vec<ForecastAmounts>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub period: Period,
    /// Every period from `from` to `to`, also those without figures.
    pub periods: Vec<ForecastPeriod>,
}

#[derive(QueryableByName)]
struct ForecastRow {
    #[diesel(sql_type = Text)]
    period: String,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Text)]
    amount: String,
    #[diesel(sql_type = Text)]
    weighted: String,
}

/// The SQL of the period (`YYYY-MM` or `YYYY-Qn`) of a `YYYY-MM-DD` text.
fn period_of(period: Period, date: &str) -> String {
    match period {
        Period::Month => format!("substr({date}, 1, 7)"),
        Period::Quarter => format!(
            "substr({date}, 1, 4) || '-Q' || CAST((CAST(substr({date}, 6, 2) AS INTEGER) + 2) / 3 AS TEXT)"
        ),
    }
}

fn period_label(period: Period, d: NaiveDate) -> String {
    match period {
        Period::Month => d.format("%Y-%m").to_string(),
        Period::Quarter => format!("{}-Q{}", d.year(), d.month().div_ceil(3)),
    }
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

pub fn forecast(conn: &mut DbConn, params: ForecastParams) -> ApiResult<ForecastReport> {
    check_ids(&[
        ("pipeline_id", &params.pipeline_id),
        ("owner_id", &params.owner_id),
    ])?;
    let period = params.period.unwrap_or(Period::Month);
    let from = params
        .from
        .unwrap_or_else(|| first_of_month(Utc::now().date_naive()));
    let to = match params.to {
        Some(to) => to,
        None => from
            .checked_add_months(chrono::Months::new(12))
            .and_then(|d| d.pred_opt())
            .ok_or_else(|| ApiError::field("from", "out_of_range", "too far in the future"))?,
    };
    check_range(from, to)?;
    let d = Dialect::of(conn);

    // Open opportunities by their expected close date (its sort key column,
    // indexed with the status; "no date" sorts after every `to`).
    let mut open = Sql::new();
    let f = open.bind(from.to_string());
    let t = open.bind(to.to_string());
    let filters = owner_and_pipeline(&mut open, &params.pipeline_id, &params.owner_id);
    open.text = format!(
        "SELECT {p} AS period, o.currency, COUNT(*) AS n, {amount} AS amount, {weighted} AS weighted \
         FROM opportunities o WHERE o.status = 'open' AND o.close_sort >= ${f} AND o.close_sort <= ${t}{filters} \
         GROUP BY 1, 2",
        p = period_of(period, "o.close_sort"),
        amount = d.sum_text("o.amount"),
        weighted = d.sum_text("o.amount * o.probability"),
    );
    let open: Vec<ForecastRow> = open.load(conn)?;

    // Won opportunities by the day they closed.
    let mut won = Sql::new();
    let f = won.bind_timestamp(day_start(from));
    let t = won.bind_timestamp(day_start(to.succ_opt().unwrap_or(to)));
    let filters = owner_and_pipeline(&mut won, &params.pipeline_id, &params.owner_id);
    won.text = format!(
        "SELECT {p} AS period, o.currency, COUNT(*) AS n, {amount} AS amount, '0' AS weighted \
         FROM opportunities o WHERE o.status = 'won' AND o.closed_at >= {f} AND o.closed_at < {t}{filters} \
         GROUP BY 1, 2",
        p = period_of(period, &d.date_text("o.closed_at")),
        amount = d.sum_text("o.amount"),
        f = d.timestamp(f),
        t = d.timestamp(t),
    );
    let won: Vec<ForecastRow> = won.load(conn)?;

    let mut labels = Vec::new();
    let mut month = first_of_month(from);
    while month <= to {
        let label = period_label(period, month);
        if labels.last() != Some(&label) {
            labels.push(label);
        }
        month = match month.checked_add_months(chrono::Months::new(1)) {
            Some(m) => m,
            None => break,
        };
    }
    let periods = labels
        .into_iter()
        .map(|label| {
            let mut currencies: Vec<&str> = open
                .iter()
                .chain(won.iter())
                .filter(|r| r.period == label)
                .map(|r| r.currency.as_str())
                .collect();
            currencies.sort();
            currencies.dedup();
            let amounts = currencies
                .into_iter()
                .map(|currency| {
                    let find = |rows: &[ForecastRow]| {
                        rows.iter()
                            .find(|r| r.period == label && r.currency == currency)
                            .map(|r| {
                                Ok::<_, ApiError>((r.n, exact(&r.amount)?, exact(&r.weighted)?))
                            })
                            .transpose()
                            .map(|v| v.unwrap_or((0, 0, 0)))
                    };
                    let (open_count, best, weighted) = find(&open)?;
                    let (won_count, won_amount, _) = find(&won)?;
                    Ok(ForecastAmounts {
                        currency: currency.to_string(),
                        open_count,
                        open_weighted_amount: money(div_round(weighted, 100)),
                        open_best_case: money(best),
                        won_count,
                        won_amount: money(won_amount),
                    })
                })
                .collect::<ApiResult<_>>()?;
            Ok(ForecastPeriod {
                period: label,
                amounts,
            })
        })
        .collect::<ApiResult<_>>()?;
    Ok(ForecastReport {
        from,
        to,
        period,
        periods,
    })
}

// ---------------------------------------------------------------------------
// Win rate
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WinRateParams {
    /// First day (inclusive) of `closed_at`. Default: 89 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day (inclusive). Default: today (UTC).
    pub to: Option<NaiveDate>,
    #[param(max_length = 64)]
    pub pipeline_id: Option<String>,
    /// Only this user's opportunities.
    #[param(max_length = 64)]
    pub owner_id: Option<String>,
}

/// Won and lost amounts of one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct WinRateAmounts {
    pub currency: String,
    pub won_count: i64,
    pub won_amount: i64,
    pub lost_count: i64,
    pub lost_amount: i64,
}

/// The time the closed opportunities spent in one stage.
#[derive(Debug, Serialize, ToSchema)]
pub struct StageTime {
    pub stage_id: String,
    /// The stage's name now, or when last entered if it was deleted.
    pub stage_name: String,
    /// How many times they left the stage.
    pub visits: i64,
    pub average_days: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LostReason {
    pub reason: String,
    pub count: i64,
}

/// What closed (won or lost) between `from` and `to`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WinRateReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub won_count: i64,
    pub lost_count: i64,
    /// won / (won + lost); null when nothing closed.
    pub win_rate: Option<f64>,
    /// Days from creation to closing.
    pub average_cycle_days: Option<f64>,
    pub median_cycle_days: Option<f64>,
    /// Per currency, in currency order.
    pub amounts: Vec<WinRateAmounts>,
    /// Average time in each stage they went through (from the stage
    /// history), in pipeline and stage order.
    pub stages: Vec<StageTime>,
    /// The ten most frequent, most frequent first.
    pub top_lost_reasons: Vec<LostReason>,
}

#[derive(QueryableByName)]
struct ClosedRow {
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = BigInt)]
    won: i64,
    #[diesel(sql_type = BigInt)]
    lost: i64,
    #[diesel(sql_type = Text)]
    won_amount: String,
    #[diesel(sql_type = Text)]
    lost_amount: String,
}

#[derive(QueryableByName)]
struct CycleRow {
    #[diesel(sql_type = Nullable<Double>)]
    average: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    median: Option<f64>,
}

#[derive(QueryableByName)]
struct StageTimeRow {
    #[diesel(sql_type = Text)]
    stage_id: String,
    #[diesel(sql_type = Text)]
    stage_name: String,
    #[diesel(sql_type = BigInt)]
    visits: i64,
    #[diesel(sql_type = Double)]
    average_days: f64,
}

#[derive(QueryableByName)]
struct ReasonRow {
    #[diesel(sql_type = Text)]
    reason: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The opportunities closed in the range (and matching the filters), as a
/// condition on `o`, binding its values to `sql`.
fn closed_in(
    sql: &mut Sql,
    d: Dialect,
    from: NaiveDate,
    to: NaiveDate,
    params: &WinRateParams,
) -> String {
    let f = sql.bind_timestamp(day_start(from));
    let t = sql.bind_timestamp(day_start(to.succ_opt().unwrap_or(to)));
    let filters = owner_and_pipeline(sql, &params.pipeline_id, &params.owner_id);
    format!(
        "o.status IN ('won', 'lost') AND o.closed_at >= {} AND o.closed_at < {}{filters}",
        d.timestamp(f),
        d.timestamp(t)
    )
}

pub fn win_rate(conn: &mut DbConn, params: WinRateParams) -> ApiResult<WinRateReport> {
    check_ids(&[
        ("pipeline_id", &params.pipeline_id),
        ("owner_id", &params.owner_id),
    ])?;
    let to = params.to.unwrap_or_else(|| Utc::now().date_naive());
    let from = match params.from {
        Some(from) => from,
        None => super::days_before(to, 89)?,
    };
    check_range(from, to)?;
    let d = Dialect::of(conn);

    let mut closed = Sql::new();
    let condition = closed_in(&mut closed, d, from, to, &params);
    closed.text = format!(
        "SELECT o.currency, \
         SUM(CASE WHEN o.status = 'won' THEN 1 ELSE 0 END) AS won, \
         SUM(CASE WHEN o.status = 'lost' THEN 1 ELSE 0 END) AS lost, \
         {won} AS won_amount, {lost} AS lost_amount \
         FROM opportunities o WHERE {condition} GROUP BY o.currency ORDER BY o.currency",
        won = d.sum_text("CASE WHEN o.status = 'won' THEN o.amount ELSE 0 END"),
        lost = d.sum_text("CASE WHEN o.status = 'lost' THEN o.amount ELSE 0 END"),
    );
    let closed: Vec<ClosedRow> = closed.load(conn)?;

    let mut cycle = Sql::new();
    let condition = closed_in(&mut cycle, d, from, to, &params);
    cycle.text = format!(
        "WITH c AS (SELECT ({closed_at} - {created_at}) / 86400.0 AS days \
           FROM opportunities o WHERE {condition}), \
         r AS (SELECT days, ROW_NUMBER() OVER (ORDER BY days) AS rn, COUNT(*) OVER () AS n FROM c) \
         SELECT {average} AS average, {median} AS median",
        closed_at = d.epoch("o.closed_at"),
        created_at = d.epoch("o.created_at"),
        average = d.float("(SELECT AVG(days) FROM c)"),
        median = d.float("(SELECT AVG(days) FROM r WHERE rn IN ((n + 1) / 2, (n + 2) / 2))"),
    );
    let cycle: Vec<CycleRow> = cycle.load(conn)?;
    let cycle = cycle.into_iter().next();

    let mut stages = Sql::new();
    let condition = closed_in(&mut stages, d, from, to, &params);
    stages.text = format!(
        "SELECT h.stage_id, COALESCE(MAX(s.name), MAX(h.stage_name)) AS stage_name, \
         COUNT(*) AS visits, {average} AS average_days \
         FROM opportunity_stages h JOIN opportunities o ON o.id = h.opportunity_id \
         LEFT JOIN pipeline_stages s ON s.id = h.stage_id \
         WHERE {condition} AND h.left_at IS NOT NULL \
         GROUP BY h.stage_id ORDER BY MAX(h.pipeline_id), MAX(s.position), h.stage_id",
        average = d.float(&format!(
            "AVG(({} - {}) / 86400.0)",
            d.epoch("h.left_at"),
            d.epoch("h.entered_at")
        )),
    );
    let stages: Vec<StageTimeRow> = stages.load(conn)?;

    let mut reasons = Sql::new();
    let condition = closed_in(&mut reasons, d, from, to, &params);
    reasons.text = format!(
        "SELECT o.lost_reason AS reason, COUNT(*) AS n FROM opportunities o \
         WHERE {condition} AND o.status = 'lost' AND o.lost_reason IS NOT NULL \
         GROUP BY o.lost_reason ORDER BY n DESC, reason LIMIT 10"
    );
    let reasons: Vec<ReasonRow> = reasons.load(conn)?;

    let won_count: i64 = closed.iter().map(|r| r.won).sum();
    let lost_count: i64 = closed.iter().map(|r| r.lost).sum();
    Ok(WinRateReport {
        from,
        to,
        won_count,
        lost_count,
        win_rate: (won_count + lost_count > 0)
            .then(|| won_count as f64 / (won_count + lost_count) as f64),
        average_cycle_days: cycle.as_ref().and_then(|c| c.average),
        median_cycle_days: cycle.as_ref().and_then(|c| c.median),
        amounts: closed
            .iter()
            .map(|r| {
                Ok(WinRateAmounts {
                    currency: r.currency.clone(),
                    won_count: r.won,
                    won_amount: money(exact(&r.won_amount)?),
                    lost_count: r.lost,
                    lost_amount: money(exact(&r.lost_amount)?),
                })
            })
            .collect::<ApiResult<_>>()?,
        stages: stages
            .into_iter()
            .map(|r| StageTime {
                stage_id: r.stage_id,
                stage_name: r.stage_name,
                visits: r.visits,
                average_days: r.average_days,
            })
            .collect(),
        top_lost_reasons: reasons
            .into_iter()
            .map(|r| LostReason {
                reason: r.reason,
                count: r.n,
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------
// Lead funnel
// ---------------------------------------------------------------------------

crate::text_enum! {
    /// What a lead funnel is grouped by.
    FunnelGroup {
        Source => "source",
        Owner => "owner",
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LeadFunnelParams {
    /// First day (inclusive) of the leads' creation. Default: 89 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day (inclusive). Default: today (UTC).
    pub to: Option<NaiveDate>,
    /// Default: source.
    pub group_by: Option<FunnelGroup>,
}

/// How many leads of a group are in each status.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct StatusCounts {
    pub new: i64,
    pub contacted: i64,
    pub qualified: i64,
    pub unqualified: i64,
    pub converted: i64,
}

/// The leads of one source or owner created in the range.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelGroupFigures {
    /// The source or the owner's user id; null for leads without one.
    pub group: Option<String>,
    pub total: i64,
    pub counts: StatusCounts,
    /// converted / total.
    pub conversion_rate: f64,
    /// Hours from creation to conversion; null when none converted.
    pub median_hours_to_conversion: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeadFunnelReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group_by: FunnelGroup,
    /// In group order (no group last).
    pub groups: Vec<FunnelGroupFigures>,
}

#[derive(QueryableByName)]
struct FunnelRow {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct MedianRow {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = Double)]
    median: f64,
}

pub fn lead_funnel(conn: &mut DbConn, params: LeadFunnelParams) -> ApiResult<LeadFunnelReport> {
    let to = params.to.unwrap_or_else(|| Utc::now().date_naive());
    let from = match params.from {
        Some(from) => from,
        None => super::days_before(to, 89)?,
    };
    check_range(from, to)?;
    let group_by = params.group_by.unwrap_or(FunnelGroup::Source);
    let d = Dialect::of(conn);
    // '' stands for "none" inside the queries.
    let group = match group_by {
        FunnelGroup::Source => "COALESCE(x.source, '')",
        FunnelGroup::Owner => "COALESCE(x.owner_id, '')",
    };
    let range = |sql: &mut Sql| {
        let f = sql.bind_timestamp(day_start(from));
        let t = sql.bind_timestamp(day_start(to.succ_opt().unwrap_or(to)));
        format!(
            "x.created_at >= {} AND x.created_at < {}",
            d.timestamp(f),
            d.timestamp(t)
        )
    };

    let mut counts = Sql::new();
    let condition = range(&mut counts);
    counts.text = format!(
        "SELECT {group} AS grp, x.status, COUNT(*) AS n FROM leads x WHERE {condition} GROUP BY 1, 2"
    );
    let counts: Vec<FunnelRow> = counts.load(conn)?;

    let mut medians = Sql::new();
    let condition = range(&mut medians);
    medians.text = format!(
        "WITH h AS (SELECT {group} AS grp, ({converted} - {created}) / 3600.0 AS hours \
           FROM leads x WHERE {condition} AND x.converted_at IS NOT NULL), \
         r AS (SELECT grp, hours, ROW_NUMBER() OVER (PARTITION BY grp ORDER BY hours) AS rn, \
           COUNT(*) OVER (PARTITION BY grp) AS n FROM h) \
         SELECT grp, {median} AS median FROM r WHERE rn IN ((n + 1) / 2, (n + 2) / 2) GROUP BY grp",
        converted = d.epoch("x.converted_at"),
        created = d.epoch("x.created_at"),
        median = d.float("AVG(hours)"),
    );
    let medians: Vec<MedianRow> = medians.load(conn)?;

    let mut names: Vec<&str> = counts.iter().map(|r| r.grp.as_str()).collect();
    names.sort_by_key(|g| (g.is_empty(), g.to_string()));
    names.dedup();
    let groups = names
        .into_iter()
        .map(|name| {
            let mut c = StatusCounts::default();
            for row in counts.iter().filter(|r| r.grp == name) {
                match crate::leads::LeadStatus::from_db(&row.status)? {
                    crate::leads::LeadStatus::New => c.new += row.n,
                    crate::leads::LeadStatus::Contacted => c.contacted += row.n,
                    crate::leads::LeadStatus::Qualified => c.qualified += row.n,
                    crate::leads::LeadStatus::Unqualified => c.unqualified += row.n,
                    crate::leads::LeadStatus::Converted => c.converted += row.n,
                }
            }
            let total = c.new + c.contacted + c.qualified + c.unqualified + c.converted;
            Ok(FunnelGroupFigures {
                group: (!name.is_empty()).then(|| name.to_string()),
                total,
                conversion_rate: if total > 0 {
                    c.converted as f64 / total as f64
                } else {
                    0.0
                },
                median_hours_to_conversion: medians
                    .iter()
                    .find(|m| m.grp == name)
                    .map(|m| m.median),
                counts: c,
            })
        })
        .collect::<ApiResult<_>>()?;
    Ok(LeadFunnelReport {
        from,
        to,
        group_by,
        groups,
    })
}
