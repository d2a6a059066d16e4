//! SLA policies: first-response and resolution targets per ticket priority,
//! in calendar time or in business hours. One policy is the default; the
//! others match tickets by channel and/or tag, the first by `position`
//! winning. Model and rules here, queries and the matching in `repo`,
//! handlers in `api`.

pub mod api;
pub mod repo;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::business_hours::Schedule;
use crate::db::schema::sla_policies;
use crate::db::{self};
use crate::dependents::{Dependent, OnDelete};
use crate::error::{ApiError, ApiResult};
use crate::events::ResourceKind;
use crate::model::clean;
use crate::tickets::{TicketChannel, TicketPriority};
use crate::validation;

crate::page_type!(SlaPolicyPage, SlaPolicy, "A page of SLA policies.");

/// What deleting a policy does to the records referring to it.
pub const DEPENDENTS: &[Dependent] = &[Dependent {
    resource: ResourceKind::Tickets,
    field: "sla_policy_id",
    on_delete: OnDelete::Refuse,
    hint: "those tickets are not closed yet; delete the policy when they are",
}];

/// The longest target: one year.
pub const MAX_TARGET_MINUTES: i64 = 525_600;

/// The targets for one priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct SlaTarget {
    /// Minutes from creation to the first public reply by a user.
    #[validate(range(min = 1, max = 525_600))]
    #[schema(minimum = 1, maximum = 525_600)]
    #[serde(deserialize_with = "crate::model::whole_number")]
    pub first_response_minutes: i64,
    /// Minutes from creation to solving, not counting time spent pending.
    #[validate(range(min = 1, max = 525_600))]
    #[schema(minimum = 1, maximum = 525_600)]
    #[serde(deserialize_with = "crate::model::whole_number")]
    pub resolution_minutes: i64,
}

/// A target for every priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct SlaTargets {
    #[validate(nested)]
    pub urgent: SlaTarget,
    #[validate(nested)]
    pub high: SlaTarget,
    #[validate(nested)]
    pub normal: SlaTarget,
    #[validate(nested)]
    pub low: SlaTarget,
}

impl SlaTargets {
    pub fn of(&self, priority: TicketPriority) -> SlaTarget {
        match priority {
            TicketPriority::Urgent => self.urgent,
            TicketPriority::High => self.high,
            TicketPriority::Normal => self.normal,
            TicketPriority::Low => self.low,
        }
    }
}

/// The fields a client sets on a policy: the body of a create, and the
/// document a PATCH merges into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyInput {
    /// Unique.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[schema(example = "Standard")]
    pub name: String,
    /// Matching order: the lowest position that matches a ticket wins (ties:
    /// the older policy).
    #[validate(range(min = 0, max = 10_000))]
    #[schema(minimum = 0, maximum = 10_000)]
    #[serde(default, deserialize_with = "crate::model::whole_number")]
    pub position: i64,
    /// The policy of every ticket no other policy matches. The first policy
    /// is the default; making another one the default takes the flag over.
    #[serde(default)]
    pub is_default: bool,
    /// Match tickets of this channel (not on the default policy).
    #[serde(default)]
    pub match_channel: Option<TicketChannel>,
    /// Match tickets carrying this tag (not on the default policy); with
    /// `match_channel`, both must hold.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub match_tag: Option<String>,
    /// Measure the targets in these business hours; null: calendar time.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub business_hours_id: Option<String>,
    /// A target for each of the four priorities.
    #[validate(nested)]
    pub targets: SlaTargets,
}

/// The body of a policy PATCH, derived from [`SlaPolicyInput`].
pub type SlaPolicyPatch = crate::http::patch::Patch<SlaPolicyInput>;

impl crate::http::patch::PatchTarget for SlaPolicyInput {
    fn template() -> serde_json::Value {
        let t = serde_json::json!({"first_response_minutes": 1, "resolution_minutes": 1});
        serde_json::json!({
            "name": "-",
            "targets": {"urgent": t, "high": t, "normal": t, "low": t},
        })
    }
}

impl SlaPolicyInput {
    /// Trims text and checks the rules of the policy by itself: the default
    /// matches by nothing (every other policy matching by a channel or a tag
    /// is [`Self::check_matching`], once it is known which is the default).
    pub fn normalized(mut self) -> ApiResult<Self> {
        self.name = self.name.trim().to_string();
        for field in [&mut self.match_tag, &mut self.business_hours_id] {
            clean(field);
        }
        validation::check(&self)?;
        let matches = self.match_channel.is_some() || self.match_tag.is_some();
        if self.is_default && matches {
            let field = match self.match_channel {
                Some(_) => "match_channel",
                None => "match_tag",
            };
            return Err(ApiError::field(
                field,
                "not_on_default",
                "the default policy applies to every ticket no other policy matches; it matches by nothing",
            ));
        }
        Ok(self)
    }

    /// A policy that is not the default needs something to match by.
    pub fn check_matching(&self) -> ApiResult<()> {
        if !self.is_default && self.match_channel.is_none() && self.match_tag.is_none() {
            return Err(ApiError::field(
                "match_channel",
                "required",
                "a policy that is not the default matches by match_channel or match_tag",
            ));
        }
        Ok(())
    }
}

/// An SLA policy.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlaPolicy {
    pub id: String,
    pub name: String,
    pub position: i64,
    pub is_default: bool,
    pub match_channel: Option<TicketChannel>,
    pub match_tag: Option<String>,
    pub business_hours_id: Option<String>,
    pub targets: SlaTargets,
    /// Grows by one on every change; the `ETag` is this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::record!(SlaPolicy);

impl SlaPolicy {
    pub fn input(&self) -> SlaPolicyInput {
        SlaPolicyInput {
            name: self.name.clone(),
            position: self.position,
            is_default: self.is_default,
            match_channel: self.match_channel,
            match_tag: self.match_tag.clone(),
            business_hours_id: self.business_hours_id.clone(),
            targets: self.targets,
        }
    }

    pub fn new(id: String, input: SlaPolicyInput, now: NaiveDateTime) -> SlaPolicy {
        let now = db::to_utc(now);
        SlaPolicy {
            id,
            name: input.name,
            position: input.position,
            is_default: input.is_default,
            match_channel: input.match_channel,
            match_tag: input.match_tag,
            business_hours_id: input.business_hours_id,
            targets: input.targets,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn with(&self, input: SlaPolicyInput, now: NaiveDateTime) -> SlaPolicy {
        SlaPolicy {
            version: self.version + 1,
            created_at: self.created_at,
            ..SlaPolicy::new(self.id.clone(), input, now)
        }
    }

    /// Whether this (non-default) policy matches a ticket.
    pub fn matches(&self, channel: Option<TicketChannel>, tags: &[String]) -> bool {
        if self.is_default || (self.match_channel.is_none() && self.match_tag.is_none()) {
            return false;
        }
        self.match_channel.is_none_or(|c| channel == Some(c))
            && self
                .match_tag
                .as_ref()
                .is_none_or(|t| tags.iter().any(|x| x == t))
    }

    pub fn row(&self) -> SlaPolicyRow {
        SlaPolicyRow {
            id: self.id.clone(),
            name: self.name.clone(),
            position: self.position,
            is_default: self.is_default,
            match_channel: self.match_channel.map(|c| c.as_str().to_string()),
            match_tag: self.match_tag.clone(),
            business_hours_id: self.business_hours_id.clone(),
            targets: serde_json::to_string(&self.targets).unwrap_or_default(),
            version: self.version,
            created_at: db::from_utc(self.created_at),
            updated_at: db::from_utc(self.updated_at),
        }
    }
}

/// One row of `sla_policies`, column for column.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = sla_policies, treat_none_as_null = true)]
pub struct SlaPolicyRow {
    pub id: String,
    pub name: String,
    pub position: i64,
    pub is_default: bool,
    pub match_channel: Option<String>,
    pub match_tag: Option<String>,
    pub business_hours_id: Option<String>,
    pub targets: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl SlaPolicyRow {
    pub fn into_record(self) -> ApiResult<SlaPolicy> {
        Ok(SlaPolicy {
            match_channel: self
                .match_channel
                .as_deref()
                .map(TicketChannel::from_db)
                .transpose()?,
            targets: serde_json::from_str(&self.targets)?,
            id: self.id,
            name: self.name,
            position: self.position,
            is_default: self.is_default,
            match_tag: self.match_tag,
            business_hours_id: self.business_hours_id,
            version: self.version,
            created_at: db::to_utc(self.created_at),
            updated_at: db::to_utc(self.updated_at),
        })
    }
}

/// How a policy measures time: by the calendar, or in business hours.
pub enum Clock {
    Calendar,
    Business(Box<Schedule>),
}

impl Clock {
    /// The instant `minutes` after `start` on this clock; None when a
    /// schedule never reaches it (no openings).
    pub fn add(&self, start: DateTime<Utc>, minutes: i64) -> Option<DateTime<Utc>> {
        match self {
            Clock::Calendar => start.checked_add_signed(chrono::Duration::try_minutes(minutes)?),
            Clock::Business(s) => s.add_minutes(start, minutes),
        }
    }

    /// Whole minutes from `from` to `to` on this clock (0 when `to` is earlier).
    pub fn minutes_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        match self {
            Clock::Calendar => (to - from).num_minutes().max(0),
            Clock::Business(s) => s.minutes_between(from, to),
        }
    }
}

/// The policy a ticket is measured by, with its clock.
pub struct Applied {
    pub policy: SlaPolicy,
    pub clock: Clock,
}
