//! Activities and tasks: every interaction with a customer, lead or
//! opportunity, and every follow-up. Model and the rules of one activity
//! here; the rules that read its links, and keeping the linked records'
//! `last_activity_at`, in `repo`; handlers in `api`.

pub mod api;
pub mod repo;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::schema::activities;
use crate::db::{self};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::model::{clean, search_text};
use crate::validation;

crate::page_type!(ActivityPage, Activity, "A page of activities.");

crate::text_enum! {
    /// What kind of activity.
    ActivityKind {
        Call => "call",
        Email => "email",
        Meeting => "meeting",
        Note => "note",
        Task => "task",
    }
}

crate::text_enum! {
    /// Who reached out, for calls and emails.
    Direction {
        Inbound => "inbound",
        Outbound => "outbound",
    }
}

/// The `due_at` sort's key of an activity without one: after every time.
pub fn no_due() -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or(NaiveDateTime::MAX)
}

/// The fields a client sets on an activity: the body of a create, and the
/// document a PATCH merges into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ActivityInput {
    pub kind: ActivityKind,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[schema(example = "Intro call")]
    pub subject: String,
    /// Up to 64 KiB of text.
    #[schema(max_length = 65536)]
    #[serde(default)]
    pub body: Option<String>,
    /// Calls and emails only.
    #[serde(default)]
    pub direction: Option<Direction>,
    /// When it happened (for tasks: when created). Default: now.
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
    /// Calls and meetings only; at most a week.
    #[validate(range(min = 0, max = 604_800))]
    #[schema(minimum = 0, maximum = 604_800)]
    #[serde(default, deserialize_with = "crate::model::optional_whole_number")]
    pub duration_seconds: Option<i64>,
    /// Tasks only.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// Tasks only: the task is done when this is set.
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    /// The user it belongs to.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub owner_id: Option<String>,
    /// At least one of the four links. A contact's or an opportunity's
    /// customer is filled in when absent and must agree when given.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub customer_id: Option<String>,
    #[schema(max_length = 64)]
    #[serde(default)]
    pub contact_id: Option<String>,
    #[schema(max_length = 64)]
    #[serde(default)]
    pub lead_id: Option<String>,
    #[schema(max_length = 64)]
    #[serde(default)]
    pub opportunity_id: Option<String>,
    /// A ticket the activity is about; its customer is the activity's.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub ticket_id: Option<String>,
}

/// The body of an activity PATCH, derived from [`ActivityInput`].
pub type ActivityPatch = crate::http::patch::Patch<ActivityInput>;

impl crate::http::patch::PatchTarget for ActivityInput {
    fn template() -> serde_json::Value {
        serde_json::json!({"kind": "note", "subject": "-"})
    }
}

impl ActivityInput {
    /// Trims text and checks the rules of one activity: the field limits,
    /// what each kind may carry, and that it links to something.
    pub fn normalized(mut self) -> ApiResult<Self> {
        self.subject = self.subject.trim().to_string();
        for field in [
            &mut self.owner_id,
            &mut self.customer_id,
            &mut self.contact_id,
            &mut self.lead_id,
            &mut self.opportunity_id,
            &mut self.ticket_id,
        ] {
            clean(field);
        }
        if self.body.as_deref().is_some_and(|b| b.trim().is_empty()) {
            self.body = None;
        }
        for t in [
            &mut self.occurred_at,
            &mut self.due_at,
            &mut self.completed_at,
        ] {
            *t = t.map(|t| db::to_utc(db::from_utc(t)));
        }
        validation::check(&self)?;
        let kind = self.kind;
        let mut errors = Vec::new();
        let mut only = |present: bool, field: &str, allowed: &[ActivityKind], what: &str| {
            if present && !allowed.contains(&kind) {
                errors.push(FieldError::new(
                    field,
                    "not_for_kind",
                    format!("only {what} have {field}"),
                ));
            }
        };
        use ActivityKind::*;
        only(
            self.direction.is_some(),
            "direction",
            &[Call, Email],
            "calls and emails",
        );
        only(
            self.duration_seconds.is_some(),
            "duration_seconds",
            &[Call, Meeting],
            "calls and meetings",
        );
        only(self.due_at.is_some(), "due_at", &[Task], "tasks");
        only(
            self.completed_at.is_some(),
            "completed_at",
            &[Task],
            "tasks",
        );
        if self.customer_id.is_none()
            && self.contact_id.is_none()
            && self.lead_id.is_none()
            && self.opportunity_id.is_none()
            && self.ticket_id.is_none()
        {
            errors.push(FieldError::new(
                "customer_id",
                "link_required",
                "an activity links to a customer, contact, lead, opportunity or ticket",
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(self)
    }
}

/// An activity or task.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Activity {
    pub id: String,
    pub kind: ActivityKind,
    pub subject: String,
    pub body: Option<String>,
    pub direction: Option<Direction>,
    pub occurred_at: DateTime<Utc>,
    pub duration_seconds: Option<i64>,
    pub due_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// A task not completed whose due time has passed.
    pub overdue: bool,
    pub owner_id: Option<String>,
    pub customer_id: Option<String>,
    pub contact_id: Option<String>,
    pub lead_id: Option<String>,
    pub opportunity_id: Option<String>,
    pub ticket_id: Option<String>,
    /// Grows by one on every change; the `ETag` is this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::record!(Activity);

impl Activity {
    pub fn input(&self) -> ActivityInput {
        ActivityInput {
            kind: self.kind,
            subject: self.subject.clone(),
            body: self.body.clone(),
            direction: self.direction,
            occurred_at: Some(self.occurred_at),
            duration_seconds: self.duration_seconds,
            due_at: self.due_at,
            completed_at: self.completed_at,
            owner_id: self.owner_id.clone(),
            customer_id: self.customer_id.clone(),
            contact_id: self.contact_id.clone(),
            lead_id: self.lead_id.clone(),
            opportunity_id: self.opportunity_id.clone(),
            ticket_id: self.ticket_id.clone(),
        }
    }

    /// The `due_at` sort's key.
    pub fn due_sort(&self) -> DateTime<Utc> {
        self.due_at.unwrap_or_else(|| db::to_utc(no_due()))
    }

    pub fn row(&self) -> ActivityRow {
        ActivityRow {
            search_text: search_text(&[Some(&self.subject), self.body.as_deref()]),
            id: self.id.clone(),
            kind: self.kind.as_str().to_string(),
            subject: self.subject.clone(),
            body: self.body.clone(),
            direction: self.direction.map(|d| d.as_str().to_string()),
            occurred_at: db::from_utc(self.occurred_at),
            duration_seconds: self.duration_seconds,
            due_at: self.due_at.map(db::from_utc),
            due_sort: db::from_utc(self.due_sort()),
            completed_at: self.completed_at.map(db::from_utc),
            owner_id: self.owner_id.clone(),
            customer_id: self.customer_id.clone(),
            contact_id: self.contact_id.clone(),
            lead_id: self.lead_id.clone(),
            opportunity_id: self.opportunity_id.clone(),
            ticket_id: self.ticket_id.clone(),
            version: self.version,
            created_at: db::from_utc(self.created_at),
            updated_at: db::from_utc(self.updated_at),
        }
    }

    /// The activity `input` (normalized, links resolved) describes.
    pub fn of(id: String, input: ActivityInput, version: i64, created_at: NaiveDateTime) -> Self {
        let now = db::now();
        let mut activity = Activity {
            id,
            kind: input.kind,
            subject: input.subject,
            body: input.body,
            direction: input.direction,
            occurred_at: input.occurred_at.unwrap_or_else(|| db::to_utc(now)),
            duration_seconds: input.duration_seconds,
            due_at: input.due_at,
            completed_at: input.completed_at,
            overdue: false,
            owner_id: input.owner_id,
            customer_id: input.customer_id,
            contact_id: input.contact_id,
            lead_id: input.lead_id,
            opportunity_id: input.opportunity_id,
            ticket_id: input.ticket_id,
            version,
            created_at: db::to_utc(created_at),
            updated_at: db::to_utc(now),
        };
        activity.overdue = is_overdue(
            activity.kind,
            activity.completed_at.is_some(),
            activity.due_at.map(db::from_utc),
            now,
        );
        activity
    }
}

/// A task not completed whose due time has passed.
fn is_overdue(
    kind: ActivityKind,
    completed: bool,
    due_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> bool {
    kind == ActivityKind::Task && !completed && due_at.is_some_and(|d| d < now)
}

/// One row of `activities`, column for column.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = activities, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct ActivityRow {
    pub id: String,
    pub kind: String,
    pub subject: String,
    pub body: Option<String>,
    pub direction: Option<String>,
    pub occurred_at: NaiveDateTime,
    pub duration_seconds: Option<i64>,
    pub due_at: Option<NaiveDateTime>,
    pub due_sort: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
    pub owner_id: Option<String>,
    pub customer_id: Option<String>,
    pub contact_id: Option<String>,
    pub lead_id: Option<String>,
    pub opportunity_id: Option<String>,
    pub ticket_id: Option<String>,
    pub search_text: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl ActivityRow {
    pub fn into_activity(self) -> ApiResult<Activity> {
        let kind = ActivityKind::from_db(&self.kind)?;
        let overdue = is_overdue(kind, self.completed_at.is_some(), self.due_at, db::now());
        Ok(Activity {
            kind,
            direction: self
                .direction
                .as_deref()
                .map(Direction::from_db)
                .transpose()?,
            overdue,
            id: self.id,
            subject: self.subject,
            body: self.body,
            occurred_at: db::to_utc(self.occurred_at),
            duration_seconds: self.duration_seconds,
            due_at: self.due_at.map(db::to_utc),
            completed_at: self.completed_at.map(db::to_utc),
            owner_id: self.owner_id,
            customer_id: self.customer_id,
            contact_id: self.contact_id,
            lead_id: self.lead_id,
            opportunity_id: self.opportunity_id,
            ticket_id: self.ticket_id,
            version: self.version,
            created_at: db::to_utc(self.created_at),
            updated_at: db::to_utc(self.updated_at),
        })
    }
}
