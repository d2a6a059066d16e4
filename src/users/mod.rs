//! Users: who may sign in, with which role. Model and rules here, queries in
//! `repo`, handlers in `api`. The password hash never leaves `repo`.

pub mod api;
pub mod repo;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Role;
use crate::db::{self, schema::users};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::validation;

fn default_true() -> bool {
    true
}

/// A new user.
#[derive(Debug, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// Sign-in name; unique, stored lower-case.
    #[validate(email(code = "invalid_email"), length(max = 254, code = "too_long"))]
    #[schema(value_type = validation::schema::Email)]
    pub email: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    pub name: String,
    pub role: Role,
    /// 8 to 256 characters.
    #[schema(min_length = 8, max_length = 256)]
    #[schema(format = Password)]
    pub password: String,
    #[serde(default = "default_true")]
    pub active: bool,
}

/// Changes to a user; every field is optional.
#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[validate(email(code = "invalid_email"), length(max = 254, code = "too_long"))]
    #[schema(value_type = Option<validation::schema::Email>, nullable = false)]
    pub email: Option<String>,
    #[validate(length(min = 1, max = 200, code = "length"))]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[schema(nullable = false)]
    pub role: Option<Role>,
    #[validate(length(min = 8, max = 256, code = "length"))]
    #[schema(min_length = 8, max_length = 256)]
    #[schema(format = Password)]
    #[schema(nullable = false)]
    pub password: Option<String>,
    /// A deactivated user cannot sign in and its tokens stop working.
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

impl UserInput {
    pub fn normalized(mut self) -> ApiResult<Self> {
        self.email = self.email.trim().to_lowercase();
        self.name = self.name.trim().to_string();
        validation::check(&self)?;
        Ok(self)
    }
}

impl UserPatch {
    /// Every user field is required, so `null` (which a merge patch reads as
    /// "clear this field") is refused instead of being silently ignored.
    pub fn reject_nulls(document: &Value) -> ApiResult<()> {
        let errors: Vec<FieldError> = document
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, value)| value.is_null())
            .map(|(field, _)| FieldError::new(field.clone(), "required", "cannot be cleared"))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    pub fn normalized(mut self) -> ApiResult<Self> {
        self.email = self.email.map(|e| e.trim().to_lowercase());
        self.name = self.name.map(|n| n.trim().to_string());
        self.validate().map_err(validation::to_api_error)?;
        Ok(self)
    }
}

crate::page_type!(UserPage, User, "A page of users.");

/// The records that refer to a user, and what deleting it does to them.
pub const DEPENDENTS: &[crate::dependents::Dependent] = &[
    crate::dependents::Dependent {
        resource: crate::events::ResourceKind::Customers,
        field: "owner_id",
        on_delete: crate::dependents::OnDelete::Refuse,
        hint: "the user owns them: reassign them or deactivate the user instead",
    },
    crate::dependents::Dependent {
        resource: crate::events::ResourceKind::Opportunities,
        field: "owner_id",
        on_delete: crate::dependents::OnDelete::Refuse,
        hint: "the user owns them: reassign them or deactivate the user instead",
    },
    crate::dependents::Dependent {
        resource: crate::events::ResourceKind::Leads,
        field: "owner_id",
        on_delete: crate::dependents::OnDelete::Refuse,
        hint: "the user owns them: reassign them or deactivate the user instead",
    },
    crate::dependents::Dependent {
        resource: crate::events::ResourceKind::Activities,
        field: "owner_id",
        on_delete: crate::dependents::OnDelete::Refuse,
        hint: "the user owns them: reassign them or deactivate the user instead",
    },
    crate::dependents::Dependent {
        resource: crate::events::ResourceKind::Articles,
        field: "author_id",
        on_delete: crate::dependents::OnDelete::Refuse,
        hint: "the user wrote them: give them another author or deactivate the user instead",
    },
    crate::dependents::Dependent {
        resource: crate::events::ResourceKind::Tickets,
        field: "assignee_id",
        on_delete: crate::dependents::OnDelete::Refuse,
        hint: "the user is assigned to them: reassign them or deactivate the user instead",
    },
];

/// A user (never with its password or hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::record!(User);

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub active: bool,
    pub password_hash: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub tokens_valid_after: Option<NaiveDateTime>,
}

impl UserRow {
    pub fn to_user(&self) -> ApiResult<User> {
        Ok(User {
            id: self.id.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            role: Role::from_db(&self.role)?,
            active: self.active,
            version: self.version,
            created_at: db::to_utc(self.created_at),
            updated_at: db::to_utc(self.updated_at),
        })
    }
}
