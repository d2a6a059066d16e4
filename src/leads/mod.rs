//! Leads: prospects not yet qualified, and their conversion into a
//! customer (with a contact and an opportunity). Model and rules here,
//! queries and the conversion in `repo`, handlers in `api`.

pub mod api;
pub mod repo;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::schema::leads;
use crate::db::{self};
use crate::dependents::{Dependent, OnDelete};
use crate::error::{ApiError, ApiResult};
use crate::events::ResourceKind;
use crate::model::{clean, clean_email, search_text};
use crate::validation;

crate::page_type!(LeadPage, Lead, "A page of leads.");

/// What deleting a lead does to the records referring to it.
pub const DEPENDENTS: &[Dependent] = &[
    Dependent {
        resource: ResourceKind::Activities,
        field: "lead_id",
        on_delete: OnDelete::Detach,
        hint: "",
    },
    Dependent {
        resource: ResourceKind::Opportunities,
        field: "source_lead_id",
        on_delete: OnDelete::Clear,
        hint: "",
    },
];

crate::text_enum! {
    /// Where a lead came from.
    LeadSource {
        Web => "web",
        Referral => "referral",
        Campaign => "campaign",
        Event => "event",
        Partner => "partner",
        Other => "other",
    }
}

crate::text_enum! {
    /// Where a lead stands; `converted` is set by converting it only.
    LeadStatus {
        New => "new",
        Contacted => "contacted",
        Qualified => "qualified",
        Unqualified => "unqualified",
        Converted => "converted",
    }
}

fn default_status() -> LeadStatus {
    LeadStatus::New
}

/// The fields a client sets on a lead: the body of a create, and the
/// document a PATCH merges into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct LeadInput {
    /// The person's name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[schema(example = "Grace Hopper")]
    pub name: String,
    /// The company the person is at; a lead with one converts into a
    /// company customer.
    #[schema(max_length = 200)]
    #[serde(default)]
    pub company_name: Option<String>,
    /// Stored lower-case.
    #[validate(email(code = "invalid_email"))]
    #[schema(value_type = Option<validation::schema::EmailOrBlank>)]
    #[serde(default)]
    pub email: Option<String>,
    #[validate(custom(function = "validation::phone"))]
    #[serde(default)]
    #[schema(value_type = Option<validation::schema::Phone>)]
    pub phone: Option<String>,
    /// Job title.
    #[schema(max_length = 100)]
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub source: Option<LeadSource>,
    /// `converted` cannot be set: convert the lead instead.
    #[serde(default = "default_status")]
    pub status: LeadStatus,
    /// 0 to 100.
    #[validate(range(min = 0, max = 100))]
    #[schema(minimum = 0, maximum = 100)]
    #[serde(default, deserialize_with = "crate::model::whole_number")]
    pub score: i64,
    /// Required when the status is `unqualified`, refused otherwise; cleared
    /// when the lead leaves that status.
    #[schema(max_length = 500)]
    #[serde(default)]
    pub unqualified_reason: Option<String>,
    /// The user who works the lead.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub owner_id: Option<String>,
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
    /// Your own key for this lead; unique. Blank means none.
    #[schema(max_length = 200)]
    #[serde(default)]
    pub external_id: Option<String>,
}

/// The body of a lead PATCH, derived from [`LeadInput`].
pub type LeadPatch = crate::http::patch::Patch<LeadInput>;

impl crate::http::patch::PatchTarget for LeadInput {
    fn template() -> Value {
        serde_json::json!({"name": "-"})
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

impl LeadInput {
    /// Trims text, lower-cases the email, drops duplicate tags and checks
    /// every rule of the lead by itself. `explicit_reason`: whether the
    /// caller sent `unqualified_reason` in this change (a kept one is
    /// cleared silently when the status moves on).
    pub fn normalized(mut self, explicit_reason: bool) -> ApiResult<Self> {
        self.name = self.name.trim().to_string();
        clean_email(&mut self.email);
        for field in [
            &mut self.company_name,
            &mut self.phone,
            &mut self.title,
            &mut self.unqualified_reason,
            &mut self.owner_id,
            &mut self.external_id,
        ] {
            clean(field);
        }
        self.tags = validation::normalize_tags(std::mem::take(&mut self.tags));
        validation::check(&self)?;
        match self.status {
            LeadStatus::Unqualified if self.unqualified_reason.is_none() => {
                return Err(ApiError::field(
                    "unqualified_reason",
                    "required",
                    "is required when the status is unqualified",
                ))
            }
            LeadStatus::Unqualified => {}
            _ if explicit_reason && self.unqualified_reason.is_some() => {
                return Err(ApiError::field(
                    "unqualified_reason",
                    "not_unqualified",
                    "only an unqualified lead has an unqualified_reason",
                ))
            }
            _ => self.unqualified_reason = None,
        }
        Ok(self)
    }

    /// For a create: every rule, and `converted` is not a status one sets.
    pub fn new_lead(self) -> ApiResult<Self> {
        let input = self.normalized(true)?;
        if input.status == LeadStatus::Converted {
            return Err(converted_by_conversion());
        }
        Ok(input)
    }
}

pub fn converted_by_conversion() -> ApiError {
    ApiError::field(
        "status",
        "convert_required",
        "a lead becomes converted by POST /api/v1/leads/{id}/convert",
    )
}

/// A lead.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Lead {
    pub id: String,
    pub name: String,
    pub company_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub source: Option<LeadSource>,
    pub status: LeadStatus,
    pub score: i64,
    pub unqualified_reason: Option<String>,
    pub owner_id: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
    pub external_id: Option<String>,
    /// Set by conversion.
    pub converted_at: Option<DateTime<Utc>>,
    pub converted_customer_id: Option<String>,
    pub converted_contact_id: Option<String>,
    pub converted_opportunity_id: Option<String>,
    /// The latest activity logged about it (derived; changing it makes no
    /// new version).
    pub last_activity_at: Option<DateTime<Utc>>,
    /// Grows by one on every change; the `ETag` is this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::record!(Lead);

impl Lead {
    /// The writable part of this lead, as a PATCH sees it.
    pub fn input(&self) -> LeadInput {
        LeadInput {
            name: self.name.clone(),
            company_name: self.company_name.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            title: self.title.clone(),
            source: self.source,
            status: self.status,
            score: self.score,
            unqualified_reason: self.unqualified_reason.clone(),
            owner_id: self.owner_id.clone(),
            tags: self.tags.clone(),
            custom_fields: self.custom_fields.clone(),
            external_id: self.external_id.clone(),
        }
    }

    /// This lead with `input`'s fields (the conversion's fields kept).
    pub fn with(&self, input: LeadInput, now: NaiveDateTime) -> Lead {
        Lead {
            name: input.name,
            company_name: input.company_name,
            email: input.email,
            phone: input.phone,
            title: input.title,
            source: input.source,
            status: input.status,
            score: input.score,
            unqualified_reason: input.unqualified_reason,
            owner_id: input.owner_id,
            tags: input.tags,
            custom_fields: input.custom_fields,
            external_id: input.external_id,
            version: self.version + 1,
            updated_at: db::to_utc(now),
            ..self.clone()
        }
    }

    pub fn row(&self) -> LeadRow {
        LeadRow {
            search_text: search_text(&[
                Some(&self.name),
                self.company_name.as_deref(),
                self.email.as_deref(),
                self.phone.as_deref(),
            ]),
            id: self.id.clone(),
            name: self.name.clone(),
            company_name: self.company_name.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            title: self.title.clone(),
            source: self.source.map(|s| s.as_str().to_string()),
            status: self.status.as_str().to_string(),
            score: self.score,
            unqualified_reason: self.unqualified_reason.clone(),
            owner_id: self.owner_id.clone(),
            tags: serde_json::to_string(&self.tags).unwrap_or_else(|_| "[]".into()),
            custom_fields: Value::Object(self.custom_fields.clone()).to_string(),
            external_id: self.external_id.clone(),
            converted_at: self.converted_at.map(db::from_utc),
            converted_customer_id: self.converted_customer_id.clone(),
            converted_contact_id: self.converted_contact_id.clone(),
            converted_opportunity_id: self.converted_opportunity_id.clone(),
            last_activity_at: self.last_activity_at.map(db::from_utc),
            version: self.version,
            created_at: db::from_utc(self.created_at),
            updated_at: db::from_utc(self.updated_at),
        }
    }

    /// A new lead from its input.
    pub fn new(id: String, input: LeadInput, now: NaiveDateTime) -> Lead {
        let now = db::to_utc(now);
        let blank = Lead {
            id,
            name: String::new(),
            company_name: None,
            email: None,
            phone: None,
            title: None,
            source: None,
            status: LeadStatus::New,
            score: 0,
            unqualified_reason: None,
            owner_id: None,
            tags: Vec::new(),
            custom_fields: Map::new(),
            external_id: None,
            converted_at: None,
            converted_customer_id: None,
            converted_contact_id: None,
            converted_opportunity_id: None,
            last_activity_at: None,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        blank.with(input, db::from_utc(now))
    }
}

/// One row of `leads`, column for column.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = leads, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct LeadRow {
    pub id: String,
    pub name: String,
    pub company_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub source: Option<String>,
    pub status: String,
    pub score: i64,
    pub unqualified_reason: Option<String>,
    pub owner_id: Option<String>,
    pub tags: String,
    pub custom_fields: String,
    pub external_id: Option<String>,
    pub converted_at: Option<NaiveDateTime>,
    pub converted_customer_id: Option<String>,
    pub converted_contact_id: Option<String>,
    pub converted_opportunity_id: Option<String>,
    pub last_activity_at: Option<NaiveDateTime>,
    pub search_text: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl LeadRow {
    pub fn into_lead(self) -> ApiResult<Lead> {
        Ok(Lead {
            source: self
                .source
                .as_deref()
                .map(LeadSource::from_db)
                .transpose()?,
            status: LeadStatus::from_db(&self.status)?,
            tags: serde_json::from_str(&self.tags)?,
            custom_fields: serde_json::from_str(&self.custom_fields)?,
            id: self.id,
            name: self.name,
            company_name: self.company_name,
            email: self.email,
            phone: self.phone,
            title: self.title,
            score: self.score,
            unqualified_reason: self.unqualified_reason,
            owner_id: self.owner_id,
            external_id: self.external_id,
            converted_at: self.converted_at.map(db::to_utc),
            converted_customer_id: self.converted_customer_id,
            converted_contact_id: self.converted_contact_id,
            converted_opportunity_id: self.converted_opportunity_id,
            last_activity_at: self.last_activity_at.map(db::to_utc),
            version: self.version,
            created_at: db::to_utc(self.created_at),
            updated_at: db::to_utc(self.updated_at),
        })
    }
}

/// The opportunity a conversion creates: every field optional (defaults
/// from the lead and the default pipeline).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversionOpportunity {
    /// Default: the lead's company name, else its name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[serde(default)]
    pub name: Option<String>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    #[serde(default, deserialize_with = "crate::model::optional_whole_number")]
    pub amount: Option<i64>,
    #[schema(value_type = Option<validation::schema::CurrencyCode>)]
    #[serde(default)]
    pub currency: Option<String>,
    #[schema(max_length = 64)]
    #[serde(default)]
    pub pipeline_id: Option<String>,
    #[schema(max_length = 64)]
    #[serde(default)]
    pub stage_id: Option<String>,
    #[serde(default)]
    pub expected_close_date: Option<NaiveDate>,
}

/// The body of a lead's conversion.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertLead {
    /// Link this existing customer instead of creating one.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub customer_id: Option<String>,
    /// Fields of the new customer that override those taken from the lead
    /// (kind, name, email, phone, owner): any customer field, as in a
    /// customer PATCH. Not with `customer_id`.
    #[serde(default)]
    #[schema(value_type = Option<crate::customers::CustomerPatch>)]
    pub customer: Option<Value>,
    /// Create a contact at the customer for the lead's person. Default: true
    /// when the customer is a company.
    #[serde(default)]
    pub create_contact: Option<bool>,
    /// Also create an opportunity (its source is the lead).
    #[serde(default, deserialize_with = "crate::model::object_or_null")]
    pub opportunity: Option<ConversionOpportunity>,
}

/// What a conversion made.
#[derive(Debug, Serialize, ToSchema)]
pub struct Conversion {
    /// The lead, now converted.
    pub lead: Lead,
    /// The customer created or linked.
    pub customer: crate::customers::Customer,
    /// Whether the customer was created by this conversion.
    pub customer_created: bool,
    pub contact: Option<crate::contacts::Contact>,
    pub opportunity: Option<crate::opportunities::Opportunity>,
}
