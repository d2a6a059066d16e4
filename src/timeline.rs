//! The customer timeline: everything that happened with a customer, newest
//! first, read with one query per page. Each kind of item is one
//! [`Branch`]: a `SELECT` of the same columns, ordered and limited on its
//! own (so each reads a page from its index), all joined by `UNION ALL` and
//! cut to the page. A new kind of record joins the timeline as one more
//! branch.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::sql_types::{Nullable, Text, Timestamp};
use diesel::QueryableByName;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use crate::db::{self, DbConn};
use crate::error::{ApiError, ApiResult};
use crate::http::list::{ListFilters, ListQuery, SortOrder};
use crate::reports::{Dialect, Sql};

crate::text_enum! {
    /// What a timeline item is.
    TimelineType {
        /// An activity of the customer, its contacts, opportunities or the
        /// leads converted into it.
        Activity => "activity",
        OpportunityCreated => "opportunity_created",
        /// An opportunity entered another stage.
        StageChanged => "stage_changed",
        /// A lead was converted into this customer.
        LeadConverted => "lead_converted",
        OrderPlaced => "order_placed",
        /// A ticket of the customer was opened.
        TicketOpened => "ticket_opened",
        /// The customer was created, changed or deleted (from the event log).
        CustomerChanged => "customer_changed",
        /// One of the contacts it has now was created or changed (the
        /// events of a contact follow the contact: a deleted one's leave the
        /// timeline, a moved one's go with it).
        ContactChanged => "contact_changed",
    }
}

/// One kind of item: its columns as SQL over the alias `x`, and the rows
/// of the customer `{c}` (the customer's parameter).
struct Branch {
    kind: TimelineType,
    from: &'static str,
    time: &'static str,
    record_id: &'static str,
    key_prefix: &'static str,
    /// The item's own id within its kind (the key's tie-breaker). The
    /// branch is ordered by its time and this, so that it reads its page
    /// straight from an index ending in (time, id).
    key: &'static str,
    summary: &'static str,
    a: &'static str,
    b: &'static str,
    n: &'static str,
}

const ACTIVITY_COLUMNS: (&str, &str, &str, &str) =
    ("x.subject", "x.kind", "x.direction", "x.duration_seconds");

fn branches(d: Dialect) -> Vec<Branch> {
    let seq_key = match d {
        Dialect::Postgres => "lpad(x.seq::text, 20, '0')",
        Dialect::Sqlite => "printf('%020d', x.seq)",
    };
    vec![
        Branch {
            kind: TimelineType::Activity,
            from: "activities x WHERE x.customer_id = {c}",
            time: "x.occurred_at",
            record_id: "x.id",
            key_prefix: "a",
            key: "x.id",
            summary: ACTIVITY_COLUMNS.0,
            a: ACTIVITY_COLUMNS.1,
            b: ACTIVITY_COLUMNS.2,
            n: ACTIVITY_COLUMNS.3,
        },
        // Activities of the leads converted into the customer, not linked
        // to it directly (those are in the branch above).
        Branch {
            kind: TimelineType::Activity,
            from: "activities x WHERE x.lead_id IN \
                   (SELECT l.id FROM leads l WHERE l.converted_customer_id = {c}) \
                   AND (x.customer_id IS NULL OR x.customer_id <> {c})",
            time: "x.occurred_at",
            record_id: "x.id",
            key_prefix: "a",
            key: "x.id",
            summary: ACTIVITY_COLUMNS.0,
            a: ACTIVITY_COLUMNS.1,
            b: ACTIVITY_COLUMNS.2,
            n: ACTIVITY_COLUMNS.3,
        },
        Branch {
            kind: TimelineType::OpportunityCreated,
            from: "opportunities x WHERE x.customer_id = {c}",
            time: "x.created_at",
            record_id: "x.id",
            key_prefix: "o",
            key: "x.id",
            summary: "x.name",
            a: "x.currency",
            b: "NULL",
            n: "x.amount",
        },
        // Every stage entered after the first (creation is the item above).
        Branch {
            kind: TimelineType::StageChanged,
            from: "opportunity_stages x JOIN opportunities o ON o.id = x.opportunity_id \
                   WHERE o.customer_id = {c} AND x.entered_at > o.created_at",
            time: "x.entered_at",
            record_id: "o.id",
            key_prefix: "s",
            key: "x.id",
            summary: "o.name",
            a: "x.stage_name",
            b: "x.stage_id",
            n: "NULL",
        },
        Branch {
            kind: TimelineType::LeadConverted,
            from: "leads x WHERE x.converted_customer_id = {c}",
            time: "x.converted_at",
            record_id: "x.id",
            key_prefix: "l",
            key: "x.id",
            summary: "x.name",
            a: "x.source",
            b: "x.converted_opportunity_id",
            n: "x.score",
        },
        Branch {
            kind: TimelineType::OrderPlaced,
            from: "orders x WHERE x.customer_id = {c}",
            time: "x.ordered_at",
            record_id: "x.id",
            key_prefix: "r",
            key: "x.id",
            summary: "x.number",
            a: "x.currency",
            b: "x.status",
            n: "x.total",
        },
        Branch {
            kind: TimelineType::TicketOpened,
            from: "tickets x WHERE x.customer_id = {c}",
            time: "x.created_at",
            record_id: "x.id",
            key_prefix: "t",
            key: "x.id",
            summary: "x.subject",
            a: "x.status",
            b: "x.priority",
            n: "x.number",
        },
        Branch {
            kind: TimelineType::CustomerChanged,
            from: "events x WHERE x.resource = 'customers' AND x.record_id = {c}",
            time: "x.occurred_at",
            record_id: "x.record_id",
            key_prefix: "e",
            key: seq_key,
            summary: "x.action",
            a: "x.action",
            b: "x.changes",
            n: "x.seq",
        },
        Branch {
            kind: TimelineType::ContactChanged,
            from: "events x WHERE x.resource = 'contacts' AND x.record_id IN \
                   (SELECT k.id FROM contacts k WHERE k.customer_id = {c})",
            time: "x.occurred_at",
            record_id: "x.record_id",
            key_prefix: "e",
            key: seq_key,
            summary: "x.action",
            a: "x.action",
            b: "x.changes",
            n: "x.seq",
        },
    ]
}

crate::text_enum! {
    /// A timeline is newest first.
    TimelineOrder {
        Newest => "-occurred_at",
    }
}

impl SortOrder for TimelineOrder {
    const DEFAULT: Self = TimelineOrder::Newest;
    const CHOOSABLE: bool = false;
    fn as_str(self) -> &'static str {
        TimelineOrder::as_str(self)
    }
    fn all() -> &'static [Self] {
        TimelineOrder::ALL
    }
    fn schema_name() -> Cow<'static, str> {
        <TimelineOrder as utoipa::ToSchema>::name()
    }
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <TimelineOrder as utoipa::PartialSchema>::schema()
    }
}

/// The filters of a timeline.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineFilters {
    /// Only these kinds: a comma-separated list of `activity`,
    /// `opportunity_created`, `stage_changed`, `lead_converted`,
    /// `order_placed`, `ticket_opened`, `customer_changed`, `contact_changed`.
    #[param(
        example = "activity,stage_changed",
        pattern = "^(activity|opportunity_created|stage_changed|lead_converted|order_placed|ticket_opened|customer_changed|contact_changed)(,(activity|opportunity_created|stage_changed|lead_converted|order_placed|ticket_opened|customer_changed|contact_changed))*$"
    )]
    pub types: Option<String>,
    /// Before this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub before: Option<DateTime<Utc>>,
    /// At or after this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub after: Option<DateTime<Utc>>,
}

impl ListFilters for TimelineFilters {}

pub type TimelineQuery = ListQuery<TimelineOrder, TimelineFilters>;

/// One thing that happened.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineItem {
    pub occurred_at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub item_type: TimelineType,
    /// The record it is about: the activity, opportunity, lead, order,
    /// customer or contact.
    pub record_id: String,
    /// A line for people: the subject, name, number or action.
    pub summary: String,
    /// The type's details: `activity` {kind, direction, duration_seconds};
    /// `opportunity_created` {amount, currency}; `stage_changed` {stage_id,
    /// stage_name}; `lead_converted` {source, score, opportunity_id};
    /// `order_placed` {number, total, currency, status}; `ticket_opened`
    /// {number, status, priority};
    /// `customer_changed` and `contact_changed` {action, seq, changes}.
    #[schema(value_type = Object)]
    pub data: Value,
}

crate::page_type!(
    TimelinePage,
    TimelineItem,
    "A page of a customer's timeline."
);

#[derive(QueryableByName)]
struct ItemRow {
    #[diesel(sql_type = Timestamp)]
    occurred_at: NaiveDateTime,
    #[diesel(sql_type = Text)]
    item_type: String,
    #[diesel(sql_type = Text)]
    record_id: String,
    #[diesel(sql_type = Text)]
    item_key: String,
    #[diesel(sql_type = Nullable<Text>)]
    summary: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    a: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    b: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::BigInt>)]
    n: Option<i64>,
}

fn kinds(types: Option<&str>) -> ApiResult<Vec<TimelineType>> {
    let Some(types) = types else {
        return Ok(TimelineType::ALL.to_vec());
    };
    types
        .split(',')
        .map(|t| {
            TimelineType::parse(t.trim()).ok_or_else(|| {
                ApiError::field(
                    "types",
                    "invalid_value",
                    format!("unknown type `{}`", t.trim()),
                )
            })
        })
        .collect()
}

fn time_param(sql: &mut Sql, d: Dialect, t: NaiveDateTime) -> String {
    d.timestamp(sql.bind_timestamp(t))
}

/// One page of the customer's timeline; 404 when it does not exist.
pub fn page(conn: &mut DbConn, customer_id: &str, q: &TimelineQuery) -> ApiResult<TimelinePage> {
    for (field, t) in [("before", q.filters.before), ("after", q.filters.after)] {
        if let Some(t) = t {
            crate::reports::check_year(field, t.date_naive())?;
        }
    }
    crate::customers::repo::get(conn, customer_id)?;
    let wanted = kinds(q.filters.types.as_deref())?;
    let d = Dialect::of(conn);
    let mut sql = Sql::new();
    let c = format!("${}", sql.bind(customer_id));
    let after_cursor = q.after.as_ref().map(|a| a.at()).transpose()?;
    let limit = q.limit + 1;
    let mut parts = Vec::new();
    for (i, branch) in branches(d).into_iter().enumerate() {
        if !wanted.contains(&branch.kind) {
            continue;
        }
        let key = format!("'{}:' || {}", branch.key_prefix, branch.key);
        let mut conditions = format!("{} IS NOT NULL", branch.time);
        if let Some(t) = q.filters.before {
            let p = time_param(&mut sql, d, db::from_utc(t));
            conditions.push_str(&format!(" AND {} < {p}", branch.time));
        }
        if let Some(t) = q.filters.after {
            let p = time_param(&mut sql, d, db::from_utc(t));
            conditions.push_str(&format!(" AND {} >= {p}", branch.time));
        }
        if let Some((t, k)) = &after_cursor {
            let p = time_param(&mut sql, d, *t);
            let kp = format!("${}", sql.bind(k.as_str()));
            conditions.push_str(&format!(
                " AND {time} <= {p} AND ({time} < {p} OR {key} < {kp})",
                time = branch.time
            ));
        }
        parts.push(format!(
            "SELECT * FROM (SELECT {time} AS occurred_at, '{kind}' AS item_type, \
             {record_id} AS record_id, {key} AS item_key, {summary} AS summary, \
             CAST({a} AS TEXT) AS a, CAST({b} AS TEXT) AS b, CAST({n} AS BIGINT) AS n \
             FROM {from} AND {conditions} ORDER BY {time} DESC, {own_key} DESC LIMIT {limit}) AS b{i}",
            own_key = branch.key,
            time = branch.time,
            kind = branch.kind.as_str(),
            record_id = branch.record_id,
            summary = branch.summary,
            a = branch.a,
            b = branch.b,
            n = branch.n,
            from = branch.from.replace("{c}", &c),
        ));
    }
    if parts.is_empty() {
        return Ok(TimelinePage {
            data: Vec::new(),
            next_cursor: None,
            total: None,
        });
    }
    sql.text = format!(
        "SELECT * FROM ({}) AS u ORDER BY occurred_at DESC, item_key DESC LIMIT {limit}",
        parts.join(" UNION ALL ")
    );
    let rows: Vec<ItemRow> = sql.load(conn)?;
    let keyed: Vec<(String, TimelineItem)> = rows
        .into_iter()
        .map(|row| Ok((row.item_key.clone(), item(row)?)))
        .collect::<ApiResult<_>>()?;
    let (data, next_cursor) = q.finish(keyed, |_, (key, item)| {
        crate::http::pagination::time_key_of(item.occurred_at, key)
    });
    Ok(TimelinePage {
        data: data.into_iter().map(|(_, item)| item).collect(),
        next_cursor,
        total: None,
    })
}

fn item(row: ItemRow) -> ApiResult<TimelineItem> {
    let kind = TimelineType::from_db(&row.item_type)?;
    let data = match kind {
        TimelineType::Activity => json!({
            "kind": row.a, "direction": row.b, "duration_seconds": row.n,
        }),
        TimelineType::OpportunityCreated => json!({"amount": row.n, "currency": row.a}),
        TimelineType::StageChanged => json!({"stage_id": row.b, "stage_name": row.a}),
        TimelineType::LeadConverted => json!({
            "source": row.a, "score": row.n, "opportunity_id": row.b,
        }),
        TimelineType::OrderPlaced => json!({
            "number": row.summary, "total": row.n, "currency": row.a, "status": row.b,
        }),
        TimelineType::TicketOpened => json!({
            "number": row.n, "status": row.a, "priority": row.b,
        }),
        TimelineType::CustomerChanged | TimelineType::ContactChanged => {
            let changes: Value = row
                .b
                .as_deref()
                .map(serde_json::from_str)
                .transpose()?
                .unwrap_or(Value::Null);
            json!({"action": row.a, "seq": row.n, "changes": changes})
        }
    };
    let summary = match kind {
        TimelineType::StageChanged => format!(
            "{} entered {}",
            row.summary.unwrap_or_default(),
            row.a.unwrap_or_default()
        ),
        TimelineType::OrderPlaced => row.summary.unwrap_or_else(|| "order".into()),
        TimelineType::CustomerChanged => format!("customer {}", row.a.unwrap_or_default()),
        TimelineType::ContactChanged => format!("contact {}", row.a.unwrap_or_default()),
        _ => row.summary.unwrap_or_default(),
    };
    Ok(TimelineItem {
        occurred_at: db::to_utc(row.occurred_at),
        item_type: kind,
        record_id: row.record_id,
        summary,
        data,
    })
}
