//! Opportunities: a sale being worked through a pipeline's stages. Model and
//! the rules of one record here; the rules that read other records (the
//! stage's pipeline, the contact's customer, defaults) in `repo`, which also
//! keeps each opportunity's stage history; handlers in `api`.

pub mod api;
pub mod repo;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::schema::{opportunities, opportunity_stages};
use crate::db::{self};
use crate::dependents::{Dependent, OnDelete};
use crate::error::ApiResult;
use crate::events::EventActor;
use crate::events::ResourceKind;
use crate::model::{clean, search_text};
use crate::pipelines::StageKind;
use crate::validation;

crate::page_type!(OpportunityPage, Opportunity, "A page of opportunities.");
crate::page_type!(
    StageVisitPage,
    StageVisit,
    "A page of an opportunity's stage history."
);

/// What deleting an opportunity does to the records referring to it.
pub const DEPENDENTS: &[Dependent] = &[
    Dependent {
        resource: ResourceKind::Activities,
        field: "opportunity_id",
        on_delete: OnDelete::Detach,
        hint: "",
    },
    Dependent {
        resource: ResourceKind::Leads,
        field: "converted_opportunity_id",
        on_delete: OnDelete::Clear,
        hint: "",
    },
];

/// The key of "no expected close date" in the `expected_close_date` sort:
/// after every date.
pub const NO_CLOSE_DATE: &str = "9999-12-31";

/// The fields a client sets on an opportunity: the body of a create, and the
/// document a PATCH merges into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct OpportunityInput {
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
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
    #[schema(example = "Acme renewal 2027")]
    pub name: String,
    /// In minor units (cents).
    #[validate(range(min = 0, max = crate::orders::MAX_AMOUNT))]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    #[serde(default, deserialize_with = "crate::model::whole_number")]
    pub amount: i64,
    /// Default: the pipeline's currency, else the base currency
    /// (`CRM_BASE_CURRENCY`).
    #[validate(custom(function = "validation::currency"))]
    #[schema(value_type = Option<validation::schema::CurrencyCode>)]
    #[serde(default)]
    pub currency: Option<String>,
    /// Default: the stage's pipeline, else the default pipeline. A PATCH
    /// that sends only `stage_id` moves the opportunity to that stage's
    /// pipeline.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub pipeline_id: Option<String>,
    /// A stage of the pipeline. Default: its first open stage.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub stage_id: Option<String>,
    /// Percent. Default: the stage's; entering another stage resets it to
    /// that stage's unless the same change sets it.
    #[validate(range(min = 0, max = 100))]
    #[schema(minimum = 0, maximum = 100)]
    #[serde(default, deserialize_with = "crate::model::optional_whole_number")]
    pub probability: Option<i64>,
    #[serde(default)]
    pub expected_close_date: Option<NaiveDate>,
    /// Required in a lost stage, refused in any other; cleared when the
    /// opportunity leaves its lost stage.
    #[schema(max_length = 500)]
    #[serde(default)]
    pub lost_reason: Option<String>,
    /// The user who owns it.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub owner_id: Option<String>,
    /// The lead it came from (set by a lead's conversion).
    #[schema(max_length = 64)]
    #[serde(default)]
    pub source_lead_id: Option<String>,
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
    /// Your own key for this opportunity; unique. Blank means none.
    #[schema(max_length = 200)]
    #[serde(default)]
    pub external_id: Option<String>,
}

/// The body of an opportunity PATCH, derived from [`OpportunityInput`].
pub type OpportunityPatch = crate::http::patch::Patch<OpportunityInput>;

impl crate::http::patch::PatchTarget for OpportunityInput {
    fn template() -> Value {
        serde_json::json!({"customer_id": "-", "name": "-"})
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

impl OpportunityInput {
    /// Trims text, upper-cases the currency, drops duplicate tags and checks
    /// the rules of the fields by themselves.
    pub fn normalized(mut self) -> ApiResult<Self> {
        self.customer_id = self.customer_id.trim().to_string();
        self.name = self.name.trim().to_string();
        for field in [
            &mut self.contact_id,
            &mut self.currency,
            &mut self.pipeline_id,
            &mut self.stage_id,
            &mut self.lost_reason,
            &mut self.owner_id,
            &mut self.source_lead_id,
            &mut self.external_id,
        ] {
            clean(field);
        }
        if let Some(c) = &mut self.currency {
            *c = c.to_ascii_uppercase();
        }
        self.tags = validation::normalize_tags(std::mem::take(&mut self.tags));
        validation::check(&self)?;
        if let Some(d) = self.expected_close_date {
            crate::reports::check_year("expected_close_date", d)?;
        }
        Ok(self)
    }
}

crate::text_enum! {
    /// Follows the stage's kind.
    OpportunityStatus {
        Open => "open",
        Won => "won",
        Lost => "lost",
    }
}

impl OpportunityStatus {
    pub fn of(kind: StageKind) -> Self {
        match kind {
            StageKind::Open => OpportunityStatus::Open,
            StageKind::Won => OpportunityStatus::Won,
            StageKind::Lost => OpportunityStatus::Lost,
        }
    }
}

/// An opportunity.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Opportunity {
    pub id: String,
    pub customer_id: String,
    pub contact_id: Option<String>,
    pub name: String,
    pub amount: i64,
    pub currency: String,
    pub pipeline_id: String,
    pub stage_id: String,
    pub probability: i64,
    pub expected_close_date: Option<NaiveDate>,
    /// Derived from the stage's kind.
    pub status: OpportunityStatus,
    pub lost_reason: Option<String>,
    /// When it entered a won or lost stage; null while open.
    pub closed_at: Option<DateTime<Utc>>,
    pub owner_id: Option<String>,
    pub source_lead_id: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
    pub external_id: Option<String>,
    /// When it entered its current stage.
    pub stage_entered_at: DateTime<Utc>,
    /// The latest activity logged about it (derived; changing it makes no
    /// new version).
    pub last_activity_at: Option<DateTime<Utc>>,
    /// Open, and no activity for its stage's `rotting_days` in the stage.
    pub rotting: bool,
    /// Grows by one on every change; the `ETag` is this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::record!(Opportunity);

impl Opportunity {
    /// The writable part of this opportunity, as a PATCH sees it.
    pub fn input(&self) -> OpportunityInput {
        OpportunityInput {
            customer_id: self.customer_id.clone(),
            contact_id: self.contact_id.clone(),
            name: self.name.clone(),
            amount: self.amount,
            currency: Some(self.currency.clone()),
            pipeline_id: Some(self.pipeline_id.clone()),
            stage_id: Some(self.stage_id.clone()),
            probability: Some(self.probability),
            expected_close_date: self.expected_close_date,
            lost_reason: self.lost_reason.clone(),
            owner_id: self.owner_id.clone(),
            source_lead_id: self.source_lead_id.clone(),
            tags: self.tags.clone(),
            custom_fields: self.custom_fields.clone(),
            external_id: self.external_id.clone(),
        }
    }

    /// The `expected_close_date` sort's key.
    pub fn close_sort(&self) -> String {
        close_sort(self.expected_close_date)
    }
}

pub fn close_sort(date: Option<NaiveDate>) -> String {
    date.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| NO_CLOSE_DATE.to_string())
}

/// One row of `opportunities`, column for column.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = opportunities, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct OpportunityRow {
    pub id: String,
    pub customer_id: String,
    pub contact_id: Option<String>,
    pub name: String,
    pub amount: i64,
    pub currency: String,
    pub pipeline_id: String,
    pub stage_id: String,
    pub probability: i32,
    pub expected_close_date: Option<String>,
    pub close_sort: String,
    pub status: String,
    pub lost_reason: Option<String>,
    pub closed_at: Option<NaiveDateTime>,
    pub owner_id: Option<String>,
    pub tags: String,
    pub custom_fields: String,
    pub external_id: Option<String>,
    pub stage_entered_at: NaiveDateTime,
    pub last_activity_at: Option<NaiveDateTime>,
    pub rotting_at: Option<NaiveDateTime>,
    pub source_lead_id: Option<String>,
    pub search_text: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// When an open opportunity in a stage with `rotting_days` starts rotting.
pub fn rotting_at(
    status: OpportunityStatus,
    rotting_days: Option<i64>,
    stage_entered_at: NaiveDateTime,
    last_activity_at: Option<NaiveDateTime>,
) -> Option<NaiveDateTime> {
    let days = rotting_days.filter(|_| status == OpportunityStatus::Open)?;
    let since = last_activity_at.map_or(stage_entered_at, |a| a.max(stage_entered_at));
    Some(since + chrono::Duration::days(days))
}

impl Opportunity {
    /// The row of this opportunity, with its stage's `rotting_days`.
    pub fn row(&self, rotting_days: Option<i64>) -> OpportunityRow {
        let stage_entered_at = db::from_utc(self.stage_entered_at);
        let last_activity_at = self.last_activity_at.map(db::from_utc);
        OpportunityRow {
            id: self.id.clone(),
            customer_id: self.customer_id.clone(),
            contact_id: self.contact_id.clone(),
            name: self.name.clone(),
            amount: self.amount,
            currency: self.currency.clone(),
            pipeline_id: self.pipeline_id.clone(),
            stage_id: self.stage_id.clone(),
            probability: i32::try_from(self.probability).unwrap_or(0),
            expected_close_date: self
                .expected_close_date
                .map(|d| d.format("%Y-%m-%d").to_string()),
            close_sort: self.close_sort(),
            status: self.status.as_str().to_string(),
            lost_reason: self.lost_reason.clone(),
            closed_at: self.closed_at.map(db::from_utc),
            owner_id: self.owner_id.clone(),
            tags: serde_json::to_string(&self.tags).unwrap_or_else(|_| "[]".into()),
            custom_fields: Value::Object(self.custom_fields.clone()).to_string(),
            external_id: self.external_id.clone(),
            stage_entered_at,
            last_activity_at,
            rotting_at: rotting_at(
                self.status,
                rotting_days,
                stage_entered_at,
                last_activity_at,
            ),
            source_lead_id: self.source_lead_id.clone(),
            search_text: search_text(&[Some(&self.name)]),
            version: self.version,
            created_at: db::from_utc(self.created_at),
            updated_at: db::from_utc(self.updated_at),
        }
    }
}

impl OpportunityRow {
    pub fn into_opportunity(self) -> ApiResult<Opportunity> {
        let now = db::now();
        Ok(Opportunity {
            status: OpportunityStatus::from_db(&self.status)?,
            tags: serde_json::from_str(&self.tags)?,
            custom_fields: serde_json::from_str(&self.custom_fields)?,
            expected_close_date: self
                .expected_close_date
                .as_deref()
                .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d"))
                .transpose()
                .map_err(|e| crate::error::ApiError::internal(format!("stored date: {e}")))?,
            rotting: self.rotting_at.is_some_and(|t| t <= now),
            id: self.id,
            customer_id: self.customer_id,
            contact_id: self.contact_id,
            name: self.name,
            amount: self.amount,
            currency: self.currency,
            pipeline_id: self.pipeline_id,
            stage_id: self.stage_id,
            probability: i64::from(self.probability),
            lost_reason: self.lost_reason,
            closed_at: self.closed_at.map(db::to_utc),
            owner_id: self.owner_id,
            source_lead_id: self.source_lead_id,
            external_id: self.external_id,
            stage_entered_at: db::to_utc(self.stage_entered_at),
            last_activity_at: self.last_activity_at.map(db::to_utc),
            version: self.version,
            created_at: db::to_utc(self.created_at),
            updated_at: db::to_utc(self.updated_at),
        })
    }
}

/// One stage an opportunity was in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageVisit {
    pub id: String,
    pub pipeline_id: String,
    pub stage_id: String,
    /// The stage's name when the opportunity entered it.
    pub stage_name: String,
    pub entered_at: DateTime<Utc>,
    /// Null while it is still there.
    pub left_at: Option<DateTime<Utc>>,
    /// Until it left, or until now.
    pub seconds_in_stage: i64,
    /// Who moved it there.
    pub changed_by: EventActor,
}

/// One row of `opportunity_stages`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = opportunity_stages, treat_none_as_default_value = false)]
pub struct StageVisitRow {
    pub id: String,
    pub opportunity_id: String,
    pub pipeline_id: String,
    pub stage_id: String,
    pub stage_name: String,
    pub entered_at: NaiveDateTime,
    pub left_at: Option<NaiveDateTime>,
    pub changed_by_type: String,
    pub changed_by_id: String,
}

impl StageVisitRow {
    pub fn into_visit(self) -> ApiResult<StageVisit> {
        let until = self.left_at.unwrap_or_else(db::now);
        Ok(StageVisit {
            seconds_in_stage: (until - self.entered_at).num_seconds().max(0),
            changed_by: EventActor {
                actor_type: crate::auth::ActorType::from_db(&self.changed_by_type)?,
                id: self.changed_by_id,
            },
            id: self.id,
            pipeline_id: self.pipeline_id,
            stage_id: self.stage_id,
            stage_name: self.stage_name,
            entered_at: db::to_utc(self.entered_at),
            left_at: self.left_at.map(db::to_utc),
        })
    }
}
