//! Contacts: people at a customer. Model and rules here, queries in `repo`,
//! handlers in `api`.

pub mod api;
pub mod batch;
pub mod repo;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::{self, schema::contacts};
use crate::dependents::{Dependent, OnDelete};
use crate::error::ApiResult;
use crate::events::ResourceKind;
use crate::model::{clean, clean_email, search_text};
use crate::validation;

crate::page_type!(ContactPage, Contact, "A page of contacts.");

/// What deleting a contact does to the records referring to it.
pub const DEPENDENTS: &[Dependent] = &[
    Dependent {
        resource: ResourceKind::Activities,
        field: "contact_id",
        on_delete: OnDelete::Detach,
        hint: "",
    },
    // Leads before opportunities: the order writers lock them in.
    Dependent {
        resource: ResourceKind::Leads,
        field: "converted_contact_id",
        on_delete: OnDelete::Clear,
        hint: "",
    },
    Dependent {
        resource: ResourceKind::Opportunities,
        field: "contact_id",
        on_delete: OnDelete::Clear,
        hint: "",
    },
    Dependent {
        resource: ResourceKind::Tickets,
        field: "contact_id",
        on_delete: OnDelete::Clear,
        hint: "",
    },
];

/// The fields a client sets on a contact: the body of a create, and the
/// document a PATCH merges into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// The customer this person belongs to.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    pub customer_id: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[schema(example = "Ada")]
    pub first_name: String,
    #[schema(max_length = 100)]
    #[serde(default)]
    #[schema(example = "Lovelace")]
    pub last_name: Option<String>,
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
    /// The customer's main contact; setting it clears the flag on the others.
    #[serde(default)]
    pub is_primary: bool,
    /// Your own key for this contact; unique. Blank means none.
    #[schema(max_length = 200)]
    #[serde(default)]
    pub external_id: Option<String>,
}

/// The body of a contact PATCH, derived from [`ContactInput`].
pub type ContactPatch = crate::http::patch::Patch<ContactInput>;

impl crate::http::patch::PatchTarget for ContactInput {
    fn template() -> serde_json::Value {
        serde_json::json!({"customer_id": "-", "first_name": "-"})
    }
}

impl ContactInput {
    pub fn normalized(mut self) -> ApiResult<Self> {
        self.customer_id = self.customer_id.trim().to_string();
        self.first_name = self.first_name.trim().to_string();
        clean_email(&mut self.email);
        for field in [
            &mut self.last_name,
            &mut self.phone,
            &mut self.title,
            &mut self.external_id,
        ] {
            clean(field);
        }
        validation::check(&self)?;
        Ok(self)
    }
}

/// A person at a customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Contact {
    pub id: String,
    pub customer_id: String,
    pub first_name: String,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub is_primary: bool,
    pub external_id: Option<String>,
    /// Grows by one on every change; the `ETag` is this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Contact {
    pub fn input(&self) -> ContactInput {
        ContactInput {
            customer_id: self.customer_id.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            title: self.title.clone(),
            is_primary: self.is_primary,
            external_id: self.external_id.clone(),
        }
    }
}

crate::record!(Contact);

/// One row of `contacts`, column for column.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = contacts, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct ContactRow {
    pub id: String,
    pub customer_id: String,
    pub first_name: String,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub is_primary: bool,
    pub external_id: Option<String>,
    pub search_text: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl ContactRow {
    pub fn from_input(
        id: String,
        input: &ContactInput,
        version: i64,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    ) -> Self {
        ContactRow {
            search_text: search_text(&[
                Some(&input.first_name),
                input.last_name.as_deref(),
                input.email.as_deref(),
                input.phone.as_deref(),
            ]),
            id,
            customer_id: input.customer_id.clone(),
            first_name: input.first_name.clone(),
            last_name: input.last_name.clone(),
            email: input.email.clone(),
            phone: input.phone.clone(),
            title: input.title.clone(),
            is_primary: input.is_primary,
            external_id: input.external_id.clone(),
            version,
            created_at,
            updated_at,
        }
    }

    pub fn into_contact(self) -> Contact {
        Contact {
            id: self.id,
            customer_id: self.customer_id,
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            phone: self.phone,
            title: self.title,
            is_primary: self.is_primary,
            external_id: self.external_id,
            version: self.version,
            created_at: db::to_utc(self.created_at),
            updated_at: db::to_utc(self.updated_at),
        }
    }
}
