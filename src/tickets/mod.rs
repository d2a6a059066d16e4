//! Tickets: customers' requests, answered and measured against their SLA
//! policy. Model and rules here, the SLA clock in `sla`, queries in `repo`,
//! comments in `comments`, handlers in `api`.

pub mod api;
pub mod comments;
pub mod repo;
pub mod sla;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::schema::tickets;
use crate::db::{self};
use crate::dependents::{Dependent, OnDelete};
use crate::error::{ApiError, ApiResult};
use crate::events::ResourceKind;
use crate::model::{clean, search_text};
use crate::validation;

pub use sla::SlaState;

crate::page_type!(TicketPage, Ticket, "A page of tickets.");

/// What deleting a ticket does to the records referring to it.
pub const DEPENDENTS: &[Dependent] = &[
    Dependent {
        resource: ResourceKind::Activities,
        field: "ticket_id",
        on_delete: OnDelete::Detach,
        hint: "",
    },
    Dependent {
        resource: ResourceKind::Tickets,
        field: "follow_up_of_id",
        on_delete: OnDelete::Refuse,
        hint: "they are follow-ups of it; delete them first",
    },
    Dependent {
        resource: ResourceKind::TicketComments,
        field: "ticket_id",
        on_delete: OnDelete::Cascade,
        hint: "",
    },
];

crate::text_enum! {
    /// Where a ticket stands. `closed` is final.
    TicketStatus {
        New => "new",
        Open => "open",
        Pending => "pending",
        Solved => "solved",
        Closed => "closed",
    }
}

crate::text_enum! {
    /// How urgent a ticket is.
    TicketPriority {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
}

impl TicketPriority {
    /// The key of the priority sort: urgent first.
    pub fn rank(self) -> i64 {
        match self {
            TicketPriority::Urgent => 0,
            TicketPriority::High => 1,
            TicketPriority::Normal => 2,
            TicketPriority::Low => 3,
        }
    }
}

crate::text_enum! {
    /// How the ticket reached us.
    TicketChannel {
        Email => "email",
        Phone => "phone",
        Chat => "chat",
        Web => "web",
    }
}

fn default_status() -> TicketStatus {
    TicketStatus::New
}

fn default_priority() -> TicketPriority {
    TicketPriority::Normal
}

/// The fields a client sets on a ticket: the body of a create, and the
/// document a PATCH merges into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct TicketInput {
    /// The customer who asks.
    #[schema(max_length = 64)]
    pub customer_id: String,
    /// A contact of that customer.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub contact_id: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[schema(example = "Refund for order 1042")]
    pub subject: String,
    /// Markdown, up to 64 KiB.
    #[schema(max_length = 65536)]
    #[serde(default)]
    pub description: Option<String>,
    /// `new` only at first; `solved` may be reopened to `open`; `closed` is
    /// final.
    #[serde(default = "default_status")]
    pub status: TicketStatus,
    #[serde(default = "default_priority")]
    pub priority: TicketPriority,
    #[serde(default)]
    pub channel: Option<TicketChannel>,
    /// The user working the ticket.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub assignee_id: Option<String>,
    /// Up to 50 labels of 1 to 64 characters; duplicates are dropped.
    #[validate(custom(function = "validation::tags"))]
    #[serde(default)]
    #[schema(value_type = Vec<validation::schema::Tag>, max_items = 50)]
    pub tags: Vec<String>,
    /// Free-form attributes: up to 50 keys, 16 KiB in all.
    #[validate(custom(function = "validation::custom_fields"))]
    #[serde(default)]
    #[schema(schema_with = validation::schema::custom_fields)]
    pub custom_fields: Map<String, Value>,
    /// Your own key for this ticket; unique. Blank means none.
    #[schema(max_length = 200)]
    #[serde(default)]
    pub external_id: Option<String>,
    /// The closed ticket this one follows up.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub follow_up_of_id: Option<String>,
}

/// The body of a ticket PATCH, derived from [`TicketInput`].
pub type TicketPatch = crate::http::patch::Patch<TicketInput>;

impl crate::http::patch::PatchTarget for TicketInput {
    fn template() -> Value {
        serde_json::json!({"customer_id": "-", "subject": "-"})
    }

    fn patch_schemas() -> Vec<(
        &'static str,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    )> {
        vec![(
            "custom_fields",
            validation::schema::custom_fields_patch().into(),
        )]
    }
}

impl TicketInput {
    /// Trims text, drops duplicate tags and checks every rule of the ticket
    /// by itself.
    pub fn normalized(mut self) -> ApiResult<Self> {
        self.subject = self.subject.trim().to_string();
        self.customer_id = self.customer_id.trim().to_string();
        for field in [
            &mut self.contact_id,
            &mut self.description,
            &mut self.assignee_id,
            &mut self.external_id,
            &mut self.follow_up_of_id,
        ] {
            clean(field);
        }
        self.tags = validation::normalize_tags(std::mem::take(&mut self.tags));
        validation::check(&self)?;
        if self.customer_id.is_empty() {
            return Err(ApiError::field("customer_id", "required", "is required"));
        }
        Ok(self)
    }

    /// For a create: a new ticket cannot start closed.
    pub fn new_ticket(self) -> ApiResult<Self> {
        let input = self.normalized()?;
        if input.status == TicketStatus::Closed {
            return Err(ApiError::field(
                "status",
                "invalid_transition",
                "a ticket is closed after it was created",
            ));
        }
        Ok(input)
    }
}

crate::text_enum! {
    /// Where one SLA target stands: met in time, breached, or still running.
    SlaOutcome {
        Met => "met",
        Breached => "breached",
        Due => "due",
    }
}

/// Where a ticket's SLA targets stand now.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Sla {
    pub first_response: SlaOutcome,
    pub resolution: SlaOutcome,
    /// The resolution clock is paused (the ticket is pending).
    pub paused: bool,
}

/// A customer's rating of how a ticket was handled.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Satisfaction {
    /// 1 to 5.
    pub rating: i32,
    pub comment: Option<String>,
    pub rated_at: DateTime<Utc>,
}

/// A ticket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Ticket {
    pub id: String,
    /// Handed out by the database in order, unique, never reused.
    pub number: i64,
    pub customer_id: String,
    pub contact_id: Option<String>,
    pub subject: String,
    pub description: Option<String>,
    pub status: TicketStatus,
    pub priority: TicketPriority,
    pub channel: Option<TicketChannel>,
    pub assignee_id: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
    pub external_id: Option<String>,
    pub follow_up_of_id: Option<String>,
    /// The policy the due times come from (none when there is no policy).
    pub sla_policy_id: Option<String>,
    pub first_response_due_at: Option<DateTime<Utc>>,
    /// Moves later by the time spent pending (a pause that begins once it
    /// has passed does not move it: a breached target stays breached).
    pub resolution_due_at: Option<DateTime<Utc>>,
    /// The first public comment by a user.
    pub first_responded_at: Option<DateTime<Utc>>,
    /// Minutes to the first response, on the policy's clock (business
    /// minutes when it uses business hours).
    pub first_response_minutes: Option<i64>,
    /// Minutes to solving, on the policy's clock, not counting time pending.
    pub resolution_minutes: Option<i64>,
    pub solved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Null when no policy applies.
    pub sla: Option<Sla>,
    /// Null until rated.
    pub satisfaction: Option<Satisfaction>,
    /// The knowledge-base articles linked to it, oldest link first.
    pub article_ids: Vec<String>,
    /// Grows by one on every change; the `ETag` is this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The SLA clock's bookkeeping, kept out of the document.
    #[serde(skip)]
    #[schema(ignore)]
    pub clock: SlaState,
}

crate::record!(Ticket);

impl Ticket {
    /// The writable part of this ticket, as a PATCH sees it.
    pub fn input(&self) -> TicketInput {
        TicketInput {
            customer_id: self.customer_id.clone(),
            contact_id: self.contact_id.clone(),
            subject: self.subject.clone(),
            description: self.description.clone(),
            status: self.status,
            priority: self.priority,
            channel: self.channel,
            assignee_id: self.assignee_id.clone(),
            tags: self.tags.clone(),
            custom_fields: self.custom_fields.clone(),
            external_id: self.external_id.clone(),
            follow_up_of_id: self.follow_up_of_id.clone(),
        }
    }

    /// This ticket with `input`'s fields, as the next version (the SLA
    /// fields are the caller's to settle).
    pub fn with(&self, input: TicketInput, now: NaiveDateTime) -> Ticket {
        Ticket {
            customer_id: input.customer_id,
            contact_id: input.contact_id,
            subject: input.subject,
            description: input.description,
            status: input.status,
            priority: input.priority,
            channel: input.channel,
            assignee_id: input.assignee_id,
            tags: input.tags,
            custom_fields: input.custom_fields,
            external_id: input.external_id,
            follow_up_of_id: input.follow_up_of_id,
            version: self.version + 1,
            updated_at: db::to_utc(now),
            ..self.clone()
        }
    }

    /// A new ticket from its input, numbered `number`.
    pub fn new(id: String, number: i64, input: TicketInput, now: NaiveDateTime) -> Ticket {
        let at = db::to_utc(now);
        let blank = Ticket {
            id,
            number,
            customer_id: String::new(),
            contact_id: None,
            subject: String::new(),
            description: None,
            status: TicketStatus::New,
            priority: TicketPriority::Normal,
            channel: None,
            assignee_id: None,
            tags: Vec::new(),
            custom_fields: Map::new(),
            external_id: None,
            follow_up_of_id: None,
            sla_policy_id: None,
            first_response_due_at: None,
            resolution_due_at: None,
            first_responded_at: None,
            first_response_minutes: None,
            resolution_minutes: None,
            solved_at: None,
            closed_at: None,
            sla: None,
            satisfaction: None,
            article_ids: Vec::new(),
            version: 0,
            created_at: at,
            updated_at: at,
            clock: SlaState::default(),
        };
        blank.with(input, now)
    }

    pub fn row(&self) -> TicketRow {
        TicketRow {
            search_text: search_text(&[Some(&self.subject), self.description.as_deref()]),
            id: self.id.clone(),
            number: self.number,
            customer_id: self.customer_id.clone(),
            contact_id: self.contact_id.clone(),
            subject: self.subject.clone(),
            description: self.description.clone(),
            status: self.status.as_str().to_string(),
            priority: self.priority.as_str().to_string(),
            priority_rank: self.priority.rank(),
            channel: self.channel.map(|c| c.as_str().to_string()),
            assignee_id: self.assignee_id.clone(),
            tags: serde_json::to_string(&self.tags).unwrap_or_else(|_| "[]".into()),
            custom_fields: Value::Object(self.custom_fields.clone()).to_string(),
            external_id: self.external_id.clone(),
            follow_up_of_id: self.follow_up_of_id.clone(),
            sla_policy_id: self.sla_policy_id.clone(),
            first_response_due_at: self.first_response_due_at.map(db::from_utc),
            resolution_due_at: self.resolution_due_at.map(db::from_utc),
            first_responded_at: self.first_responded_at.map(db::from_utc),
            first_response_minutes: self.first_response_minutes,
            resolution_minutes: self.resolution_minutes,
            solved_at: self.solved_at.map(db::from_utc),
            closed_at: self.closed_at.map(db::from_utc),
            pending_since: self.clock.pending_since.map(db::from_utc),
            paused_minutes: self.clock.paused_minutes,
            pending_minutes: self.clock.pending_minutes,
            sla_due_sort: db::from_utc(self.sla_due_sort()),
            sla_missed: self.sla_missed(),
            version: self.version,
            created_at: db::from_utc(self.created_at),
            updated_at: db::from_utc(self.updated_at),
        }
    }
}

/// One row of `tickets`, column for column.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = tickets, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct TicketRow {
    pub id: String,
    pub number: i64,
    pub customer_id: String,
    pub contact_id: Option<String>,
    pub subject: String,
    pub description: Option<String>,
    pub status: String,
    pub priority: String,
    pub priority_rank: i64,
    pub channel: Option<String>,
    pub assignee_id: Option<String>,
    pub tags: String,
    pub custom_fields: String,
    pub external_id: Option<String>,
    pub follow_up_of_id: Option<String>,
    pub sla_policy_id: Option<String>,
    pub first_response_due_at: Option<NaiveDateTime>,
    pub resolution_due_at: Option<NaiveDateTime>,
    pub first_responded_at: Option<NaiveDateTime>,
    pub first_response_minutes: Option<i64>,
    pub resolution_minutes: Option<i64>,
    pub solved_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub pending_since: Option<NaiveDateTime>,
    pub paused_minutes: i64,
    pub sla_due_sort: NaiveDateTime,
    pub sla_missed: bool,
    pub search_text: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub pending_minutes: i64,
}

impl TicketRow {
    /// The ticket this row holds, its SLA judged as of `now`.
    pub fn into_ticket(self, now: DateTime<Utc>) -> ApiResult<Ticket> {
        let mut ticket = Ticket {
            status: TicketStatus::from_db(&self.status)?,
            priority: TicketPriority::from_db(&self.priority)?,
            channel: self
                .channel
                .as_deref()
                .map(TicketChannel::from_db)
                .transpose()?,
            tags: serde_json::from_str(&self.tags)?,
            custom_fields: serde_json::from_str(&self.custom_fields)?,
            id: self.id,
            number: self.number,
            customer_id: self.customer_id,
            contact_id: self.contact_id,
            subject: self.subject,
            description: self.description,
            assignee_id: self.assignee_id,
            external_id: self.external_id,
            follow_up_of_id: self.follow_up_of_id,
            sla_policy_id: self.sla_policy_id,
            first_response_due_at: self.first_response_due_at.map(db::to_utc),
            resolution_due_at: self.resolution_due_at.map(db::to_utc),
            first_responded_at: self.first_responded_at.map(db::to_utc),
            first_response_minutes: self.first_response_minutes,
            resolution_minutes: self.resolution_minutes,
            solved_at: self.solved_at.map(db::to_utc),
            closed_at: self.closed_at.map(db::to_utc),
            sla: None,
            satisfaction: None,
            article_ids: Vec::new(),
            version: self.version,
            created_at: db::to_utc(self.created_at),
            updated_at: db::to_utc(self.updated_at),
            clock: SlaState {
                pending_since: self.pending_since.map(db::to_utc),
                paused_minutes: self.paused_minutes,
                pending_minutes: self.pending_minutes,
            },
        };
        ticket.sla = ticket.sla_as_of(now);
        Ok(ticket)
    }
}
