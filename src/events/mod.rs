//! The append-only event log: every change appends its events in the same
//! transaction as the change. It serves the change feed (`GET /events`), each
//! record's history, and later webhook delivery.
//!
//! Ordering guarantee: a reader that asks for `after=N` never later finds an
//! event with `seq <= N` it has not seen. On PostgreSQL, sequence numbers are
//! handed out in commit order because each writer takes a transaction-scoped
//! advisory lock right before appending (its last statement) and keeps it
//! until its commit is visible; SQLite serializes writers anyway.

pub mod api;

use diesel::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::{Actor, ActorType};
use crate::db::schema::events;
use crate::db::{self, DbConn, Tx};
use crate::error::ApiResult;

/// Arbitrary key of the advisory lock that orders event appends.
const APPEND_LOCK_KEY: i64 = 0x00C0_FFEE_0E5E_0001;

crate::text_enum! {
    /// What happened to the record.
    Action {
        Created => "created",
        Updated => "updated",
        Deleted => "deleted",
    }
}

crate::text_enum! {
    /// The kind of record an event is about.
    ResourceKind {
        Customers => "customers",
        Contacts => "contacts",
        Users => "users",
        ApiKeys => "api_keys",
        Orders => "orders",
        Pipelines => "pipelines",
        Opportunities => "opportunities",
        Leads => "leads",
        Activities => "activities",
        BusinessHours => "business_hours",
        SlaPolicies => "sla_policies",
        Tickets => "tickets",
        TicketComments => "ticket_comments",
        Articles => "articles",
    }
}

impl ResourceKind {
    /// Users and keys are visible in the feed to admins only. Exhaustive, so
    /// that a new kind of record must decide.
    pub fn admin_only(self) -> bool {
        match self {
            ResourceKind::Users | ResourceKind::ApiKeys => true,
            ResourceKind::Customers
            | ResourceKind::Contacts
            | ResourceKind::Orders
            | ResourceKind::Pipelines
            | ResourceKind::Opportunities
            | ResourceKind::Leads
            | ResourceKind::Activities
            | ResourceKind::BusinessHours
            | ResourceKind::SlaPolicies
            | ResourceKind::Tickets
            | ResourceKind::TicketComments
            | ResourceKind::Articles => false,
        }
    }
}

/// One change to record: the record as JSON before and after (`None` when it
/// did not exist).
pub struct Change {
    pub resource: ResourceKind,
    pub record_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Change {
    pub fn created(resource: ResourceKind, id: &str, after: Value) -> Self {
        Change {
            resource,
            record_id: id.to_string(),
            before: None,
            after: Some(after),
        }
    }
    pub fn updated(resource: ResourceKind, id: &str, before: Value, after: Value) -> Self {
        Change {
            resource,
            record_id: id.to_string(),
            before: Some(before),
            after: Some(after),
        }
    }
    pub fn deleted(resource: ResourceKind, id: &str, before: Value) -> Self {
        Change {
            resource,
            record_id: id.to_string(),
            before: Some(before),
            after: None,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = events)]
struct NewEvent<'a> {
    resource: &'a str,
    record_id: &'a str,
    action: &'a str,
    changes: String,
    data: Option<String>,
    actor_type: &'a str,
    actor_id: &'a str,
    occurred_at: chrono::NaiveDateTime,
}

/// Fields that change on every write and say nothing by themselves.
const BOOKKEEPING: &[&str] = &["id", "version", "created_at", "updated_at"];

/// Field-by-field difference: `{field: {"old": …, "new": …}}`.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Map<String, Value> {
    let empty = Map::new();
    let old = before.and_then(Value::as_object).unwrap_or(&empty);
    let new = after.and_then(Value::as_object).unwrap_or(&empty);
    let mut changes = Map::new();
    for key in old
        .keys()
        .chain(new.keys().filter(|k| !old.contains_key(*k)))
    {
        if BOOKKEEPING.contains(&key.as_str()) {
            continue;
        }
        let o = old.get(key).unwrap_or(&Value::Null);
        let n = new.get(key).unwrap_or(&Value::Null);
        if o != n {
            changes.insert(key.clone(), serde_json::json!({ "old": o, "new": n }));
        }
    }
    changes
}

/// Appends the events of one transaction. Call it as the transaction's last
/// statement: on PostgreSQL it holds the append lock until commit.
pub fn append(tx: &mut Tx, actor: &Actor, changes: &[Change]) -> ApiResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let conn = tx.conn();
    if db::is_postgres(conn) {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(APPEND_LOCK_KEY)
            .execute(conn)?;
    }
    let now = db::now();
    let rows: Vec<NewEvent> = changes
        .iter()
        .map(|c| {
            let action = match (&c.before, &c.after) {
                (None, _) => Action::Created,
                (Some(_), Some(_)) => Action::Updated,
                (Some(_), None) => Action::Deleted,
            };
            NewEvent {
                resource: c.resource.as_str(),
                record_id: &c.record_id,
                action: action.as_str(),
                changes: Value::Object(diff(c.before.as_ref(), c.after.as_ref())).to_string(),
                data: c.after.as_ref().map(Value::to_string),
                actor_type: actor.actor_type.as_str(),
                actor_id: &actor.id,
                occurred_at: now,
            }
        })
        .collect();
    crate::on_backend!(conn, |c| diesel::insert_into(events::table)
        .values(&rows)
        .execute(c))?;
    Ok(())
}

/// Who made a change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventActor {
    #[serde(rename = "type")]
    pub actor_type: ActorType,
    /// The user's or API key's id.
    pub id: String,
}

/// Old and new value of one changed field.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldChange {
    /// The value before the change (any JSON value; null if there was none).
    pub old: Value,
    /// The value after the change (any JSON value; null if cleared).
    pub new: Value,
}

/// One entry of the event log.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    /// Position in the log; increases in commit order.
    pub seq: i64,
    pub resource: ResourceKind,
    pub record_id: String,
    pub action: Action,
    /// Each changed field with its old and new value.
    pub changes: std::collections::BTreeMap<String, FieldChange>,
    /// The record after the change; null after a delete.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    pub actor: EventActor,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = events)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct EventRow {
    seq: i64,
    resource: String,
    record_id: String,
    action: String,
    changes: String,
    data: Option<String>,
    actor_type: String,
    actor_id: String,
    occurred_at: chrono::NaiveDateTime,
}

impl EventRow {
    fn into_event(self) -> ApiResult<Event> {
        let changes: Map<String, Value> = serde_json::from_str(&self.changes)?;
        let changes = changes
            .into_iter()
            .map(|(k, mut v)| {
                let old = v.get_mut("old").map(Value::take).unwrap_or(Value::Null);
                let new = v.get_mut("new").map(Value::take).unwrap_or(Value::Null);
                (k, FieldChange { old, new })
            })
            .collect();
        Ok(Event {
            seq: self.seq,
            resource: ResourceKind::from_db(&self.resource)?,
            record_id: self.record_id,
            action: Action::from_db(&self.action)?,
            changes,
            data: self.data.map(|d| serde_json::from_str(&d)).transpose()?,
            actor: EventActor {
                actor_type: ActorType::from_db(&self.actor_type)?,
                id: self.actor_id,
            },
            occurred_at: db::to_utc(self.occurred_at),
        })
    }
}

/// Which events to read.
pub struct EventFilter {
    pub after: i64,
    pub limit: i64,
    pub resources: Vec<ResourceKind>,
    pub record_id: Option<String>,
}

/// Events in `seq` order after `filter.after`, one more than `limit` to tell
/// whether more follow.
pub fn list(conn: &mut DbConn, filter: &EventFilter) -> ApiResult<Vec<Event>> {
    let resources: Vec<&str> = filter.resources.iter().map(|r| r.as_str()).collect();
    let mut query = events::table
        .filter(events::seq.gt(filter.after))
        .filter(events::resource.eq_any(resources))
        .order(events::seq.asc())
        .limit(filter.limit + 1)
        .into_boxed();
    if let Some(id) = &filter.record_id {
        query = query.filter(events::record_id.eq(id.clone()));
    }
    query
        .select(EventRow::as_select())
        .load(conn)?
        .into_iter()
        .map(EventRow::into_event)
        .collect()
}
