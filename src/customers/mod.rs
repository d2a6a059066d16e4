//! Customers: a person or company that buys. This module holds the model and
//! its rules (normalization, validation, change detection); `repo` holds the
//! queries and `api` the HTTP handlers.

pub mod api;
pub mod batch;
pub mod repo;
pub mod value;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::{self, schema::customers};
use crate::dependents::{Dependent, OnDelete};
use crate::error::{ApiError, ApiResult};
use crate::events::ResourceKind;
use crate::model::{clean, clean_email, search_text};
use crate::validation;

crate::page_type!(CustomerPage, Customer, "A page of customers.");

/// The records that refer to a customer, and what deleting it does to them.
pub const DEPENDENTS: &[Dependent] = &[
    // Before the contacts go: their activities are the customer's too.
    Dependent {
        resource: ResourceKind::Activities,
        field: "customer_id",
        on_delete: OnDelete::Detach,
        hint: "",
    },
    Dependent {
        resource: ResourceKind::Contacts,
        field: "customer_id",
        on_delete: OnDelete::Cascade,
        hint: "",
    },
    Dependent {
        resource: ResourceKind::Orders,
        field: "customer_id",
        on_delete: OnDelete::Refuse,
        hint: "orders are the ERP's records: delete or move them first",
    },
    Dependent {
        resource: ResourceKind::Opportunities,
        field: "customer_id",
        on_delete: OnDelete::Refuse,
        hint: "delete or move them first",
    },
    Dependent {
        resource: ResourceKind::Tickets,
        field: "customer_id",
        on_delete: OnDelete::Refuse,
        hint: "delete or move them first",
    },
    Dependent {
        resource: ResourceKind::Leads,
        field: "converted_customer_id",
        on_delete: OnDelete::Clear,
        hint: "",
    },
    Dependent {
        resource: ResourceKind::Customers,
        field: "referred_by_id",
        on_delete: OnDelete::Clear,
        hint: "",
    },
];

crate::text_enum! {
    /// Whether the customer is a person or a company.
    CustomerKind {
        Person => "person",
        Company => "company",
    }
}

crate::text_enum! {
    /// Where the customer stands in its relationship with the business.
    LifecycleStage {
        Prospect => "prospect",
        Active => "active",
        AtRisk => "at_risk",
        Churned => "churned",
    }
}

crate::text_enum! {
    /// ABC value class: `a` the most valuable customers, `c` the least.
    Tier {
        A => "a",
        B => "b",
        C => "c",
    }
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[schema(max_length = 200)]
    #[serde(default)]
    pub line1: Option<String>,
    #[schema(max_length = 200)]
    #[serde(default)]
    pub line2: Option<String>,
    #[schema(max_length = 100)]
    #[serde(default)]
    pub city: Option<String>,
    /// State, province or region.
    #[schema(max_length = 100)]
    #[serde(default)]
    pub region: Option<String>,
    #[schema(max_length = 20)]
    #[serde(default)]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country code, such as `DE` (case-insensitive on input).
    #[validate(custom(function = "validation::country"))]
    #[serde(default)]
    #[schema(value_type = Option<validation::schema::CountryCode>)]
    pub country: Option<String>,
}

impl Address {
    fn normalize(&mut self) {
        for field in [
            &mut self.line1,
            &mut self.line2,
            &mut self.city,
            &mut self.region,
            &mut self.postal_code,
            &mut self.country,
        ] {
            clean(field);
        }
        if let Some(c) = &mut self.country {
            *c = c.to_uppercase();
        }
    }

    fn is_empty(&self) -> bool {
        *self == Address::default()
    }
}

fn default_stage() -> LifecycleStage {
    LifecycleStage::Prospect
}

/// The fields a client sets on a customer: the body of a create, and the
/// document a PATCH merges into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub kind: CustomerKind,
    /// Display name: the person's full name or the company's name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[schema(example = "Acme GmbH")]
    pub name: String,
    /// Unique among customers; stored lower-case.
    #[validate(email(code = "invalid_email"))]
    #[schema(value_type = Option<validation::schema::EmailOrBlank>)]
    #[serde(default)]
    pub email: Option<String>,
    #[validate(custom(function = "validation::phone"))]
    #[serde(default)]
    #[schema(value_type = Option<validation::schema::Phone>)]
    pub phone: Option<String>,
    /// An http(s) URL.
    #[validate(custom(function = "validation::web_url"))]
    #[serde(default)]
    #[schema(value_type = Option<validation::schema::WebUrl>)]
    pub website: Option<String>,
    #[schema(max_length = 100)]
    #[serde(default)]
    pub industry: Option<String>,
    #[validate(nested)]
    #[serde(default, deserialize_with = "crate::model::object_or_null")]
    pub address: Option<Address>,
    #[serde(default = "default_stage")]
    pub lifecycle_stage: LifecycleStage,
    #[serde(default)]
    pub tier: Option<Tier>,
    /// Consent to marketing email.
    #[serde(default)]
    pub email_opt_in: bool,
    /// Consent to marketing text messages.
    #[serde(default)]
    pub sms_opt_in: bool,
    /// The customer who referred this one.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub referred_by_id: Option<String>,
    /// The user responsible for this customer.
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
    /// Your own key for this customer (for example the ERP's); unique.
    /// Blank means none.
    #[schema(max_length = 200)]
    #[serde(default)]
    pub external_id: Option<String>,
}

/// The body of a customer PATCH, derived from [`CustomerInput`].
pub type CustomerPatch = crate::http::patch::Patch<CustomerInput>;

impl crate::http::patch::PatchTarget for CustomerInput {
    fn template() -> Value {
        serde_json::json!({"kind": "person", "name": "-"})
    }

    fn nested_patches() -> Vec<crate::http::patch::NestedPatch> {
        vec![crate::http::patch::nested::<Address>("address")]
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

impl crate::http::patch::PatchTarget for Address {
    fn template() -> Value {
        serde_json::json!({})
    }
}

impl CustomerInput {
    /// [`CustomerInput::cleaned`], then every rule checked.
    pub fn normalized(self) -> ApiResult<Self> {
        let input = self.cleaned();
        validation::check(&input)?;
        Ok(input)
    }

    /// Trims text, lower-cases the email, upper-cases the country, drops empty
    /// optional values and duplicate tags (nothing is checked yet).
    pub fn cleaned(mut self) -> Self {
        self.name = self.name.trim().to_string();
        clean_email(&mut self.email);
        for field in [
            &mut self.phone,
            &mut self.website,
            &mut self.industry,
            &mut self.referred_by_id,
            &mut self.owner_id,
            &mut self.external_id,
        ] {
            clean(field);
        }
        if let Some(address) = &mut self.address {
            address.normalize();
        }
        if self.address.as_ref().is_some_and(Address::is_empty) {
            self.address = None;
        }
        self.tags = validation::normalize_tags(std::mem::take(&mut self.tags));
        self
    }
}

/// A customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Customer {
    #[schema(example = "01939a4e-7a1c-7cc0-8e51-5d3c6b0f8a11")]
    pub id: String,
    pub kind: CustomerKind,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub industry: Option<String>,
    pub address: Address,
    pub lifecycle_stage: LifecycleStage,
    pub tier: Option<Tier>,
    pub email_opt_in: bool,
    pub sms_opt_in: bool,
    /// When either consent flag last changed.
    pub consent_updated_at: Option<DateTime<Utc>>,
    pub referred_by_id: Option<String>,
    pub owner_id: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
    pub external_id: Option<String>,
    /// What the customer spent, from its orders (read-only; changes to it do
    /// not change `version`).
    pub value: value::CustomerValue,
    /// The latest activity logged about it (derived; changing it makes no
    /// new version).
    pub last_activity_at: Option<DateTime<Utc>>,
    /// Grows by one on every change; the `ETag` is this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Customer {
    /// The writable part of this customer, as a PATCH sees it.
    pub fn input(&self) -> CustomerInput {
        CustomerInput {
            kind: self.kind,
            name: self.name.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            website: self.website.clone(),
            industry: self.industry.clone(),
            address: Some(self.address.clone()).filter(|a| !a.is_empty()),
            lifecycle_stage: self.lifecycle_stage,
            tier: self.tier,
            email_opt_in: self.email_opt_in,
            sms_opt_in: self.sms_opt_in,
            referred_by_id: self.referred_by_id.clone(),
            owner_id: self.owner_id.clone(),
            tags: self.tags.clone(),
            custom_fields: self.custom_fields.clone(),
            external_id: self.external_id.clone(),
        }
    }
}

crate::record!(Customer);

/// One row of `customers`, column for column.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = customers, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct CustomerRow {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub industry: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub address_city: Option<String>,
    pub address_region: Option<String>,
    pub address_postal_code: Option<String>,
    pub address_country: Option<String>,
    pub lifecycle_stage: String,
    pub tier: Option<String>,
    pub email_opt_in: bool,
    pub sms_opt_in: bool,
    pub consent_updated_at: Option<NaiveDateTime>,
    pub referred_by_id: Option<String>,
    pub owner_id: Option<String>,
    pub tags: String,
    pub custom_fields: String,
    pub external_id: Option<String>,
    pub search_text: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl CustomerRow {
    /// A row holding `input`, with the bookkeeping fields given.
    pub fn from_input(
        id: String,
        input: &CustomerInput,
        consent_updated_at: Option<NaiveDateTime>,
        version: i64,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    ) -> Self {
        let address = input.address.clone().unwrap_or_default();
        CustomerRow {
            search_text: search_text(&[
                Some(&input.name),
                input.email.as_deref(),
                input.phone.as_deref(),
            ]),
            id,
            kind: input.kind.as_str().to_string(),
            name: input.name.clone(),
            email: input.email.clone(),
            phone: input.phone.clone(),
            website: input.website.clone(),
            industry: input.industry.clone(),
            address_line1: address.line1,
            address_line2: address.line2,
            address_city: address.city,
            address_region: address.region,
            address_postal_code: address.postal_code,
            address_country: address.country,
            lifecycle_stage: input.lifecycle_stage.as_str().to_string(),
            tier: input.tier.map(|t| t.as_str().to_string()),
            email_opt_in: input.email_opt_in,
            sms_opt_in: input.sms_opt_in,
            consent_updated_at,
            referred_by_id: input.referred_by_id.clone(),
            owner_id: input.owner_id.clone(),
            tags: serde_json::to_string(&input.tags).unwrap_or_else(|_| "[]".into()),
            custom_fields: Value::Object(input.custom_fields.clone()).to_string(),
            external_id: input.external_id.clone(),
            version,
            created_at,
            updated_at,
        }
    }

    /// The customer of this row, with its value (kept beside the row).
    pub fn into_customer(self, value: value::CustomerValue) -> ApiResult<Customer> {
        Ok(Customer {
            value,
            last_activity_at: None,
            kind: CustomerKind::from_db(&self.kind)?,
            lifecycle_stage: LifecycleStage::from_db(&self.lifecycle_stage)?,
            tier: self.tier.as_deref().map(Tier::from_db).transpose()?,
            tags: serde_json::from_str(&self.tags)?,
            custom_fields: serde_json::from_str(&self.custom_fields)?,
            address: Address {
                line1: self.address_line1,
                line2: self.address_line2,
                city: self.address_city,
                region: self.address_region,
                postal_code: self.address_postal_code,
                country: self.address_country,
            },
            id: self.id,
            name: self.name,
            email: self.email,
            phone: self.phone,
            website: self.website,
            industry: self.industry,
            email_opt_in: self.email_opt_in,
            sms_opt_in: self.sms_opt_in,
            consent_updated_at: self.consent_updated_at.map(db::to_utc),
            referred_by_id: self.referred_by_id,
            owner_id: self.owner_id,
            external_id: self.external_id,
            version: self.version,
            created_at: db::to_utc(self.created_at),
            updated_at: db::to_utc(self.updated_at),
        })
    }
}

/// A customer as read: its row and its value document.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = customers)]
pub struct StoredCustomer {
    #[diesel(embed)]
    pub row: CustomerRow,
    pub value_figures: String,
    pub last_activity_at: Option<NaiveDateTime>,
}

impl StoredCustomer {
    pub fn into_customer(self) -> ApiResult<Customer> {
        let value = value::from_document(&self.value_figures)?;
        let mut customer = self.row.into_customer(value)?;
        customer.last_activity_at = self.last_activity_at.map(db::to_utc);
        Ok(customer)
    }
}

/// Rules that need the record's own id.
pub fn check_references(id: &str, input: &CustomerInput) -> ApiResult<()> {
    if input.referred_by_id.as_deref() == Some(id) {
        return Err(ApiError::field(
            "referred_by_id",
            "self_reference",
            "a customer cannot refer itself",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(doc: Value) -> Vec<(String, String)> {
        let input: CustomerInput = match serde_json::from_value(doc) {
            Ok(input) => input,
            Err(e) => return vec![("parse".into(), e.to_string())],
        };
        match input.normalized() {
            Ok(_) => Vec::new(),
            Err(ApiError::Validation(errors)) => {
                errors.into_iter().map(|e| (e.field, e.code)).collect()
            }
            Err(other) => vec![("other".into(), other.to_string())],
        }
    }

    /// The limits written in `#[schema]` are the ones enforced, once per field.
    #[test]
    fn schema_lengths_are_enforced_once_per_field() {
        let long = |n: usize| "x".repeat(n);
        assert!(errors_of(serde_json::json!({"kind": "person", "name": long(200)})).is_empty());
        assert_eq!(
            errors_of(serde_json::json!({
                "kind": "person",
                "name": long(201),
                "industry": long(101),
                "address": {"city": long(101), "postal_code": long(20)},
                "external_id": long(201),
            })),
            vec![
                ("address.city".to_string(), "too_long".to_string()),
                ("external_id".to_string(), "too_long".to_string()),
                ("industry".to_string(), "too_long".to_string()),
                ("name".to_string(), "length".to_string()),
            ]
        );
        // Counted in characters, after trimming.
        assert!(errors_of(
            serde_json::json!({"kind": "person", "name": format!("  {}  ", "é".repeat(200))})
        )
        .is_empty());
        // A field its own rule refuses is reported once.
        let email = format!("{}@example.com", long(250));
        assert_eq!(
            errors_of(serde_json::json!({"kind": "person", "name": "n", "email": email})),
            vec![("email".to_string(), "invalid_email".to_string())]
        );
    }
}
