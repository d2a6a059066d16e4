//! Errors. Handlers, repositories and extractors all return [`ApiError`]; it
//! is the only type that becomes an HTTP answer, always as
//! `application/problem+json` (RFC 9457). Library errors convert into it with
//! `From`; anything unexpected becomes a 500 whose body says nothing about
//! internals (the cause is logged with the request id by the request-id
//! middleware).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use utoipa::ToSchema;

/// One broken rule, attached to the field it concerns.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct FieldError {
    /// Path of the offending field, dotted for nested objects (`address.country`);
    /// query parameters and headers use their own names.
    pub field: String,
    /// Stable machine-readable code, such as `required`, `invalid_type`,
    /// `unknown_field`, `invalid_email`, `too_long`, `not_found`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:crm:problem:<code>`).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// For validation problems: each broken rule with its field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For conflicts: the id of the existing record that holds the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        field: String,
        existing_id: Option<String>,
    },
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    #[error("too many requests; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: i64 },
    #[error("database unavailable")]
    Unavailable,
    #[error("too busy")]
    Busy,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn internal(cause: impl Into<String>) -> Self {
        ApiError::Internal(cause.into())
    }

    pub fn field(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, code, message)])
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => {
                (StatusCode::BAD_REQUEST, "bad_request", "Malformed request")
            }
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::PreconditionFailed => (
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "Precondition failed",
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            ApiError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Validation failed",
            ),
            ApiError::Unprocessable(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable",
                "Unprocessable request",
            ),
            ApiError::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many requests",
            ),
            ApiError::Unavailable | ApiError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }

    pub fn problem(&self) -> Problem {
        let (status, code, title) = self.parts();
        let detail = match self {
            ApiError::BadRequest(d) | ApiError::NotFound(d) | ApiError::Unprocessable(d) => {
                d.clone()
            }
            ApiError::Unauthorized(d) | ApiError::Forbidden(d) => d.to_string(),
            ApiError::MethodNotAllowed => "this method is not allowed on this resource".into(),
            ApiError::Conflict { detail, .. } => detail.clone(),
            ApiError::PreconditionFailed => {
                "the record changed since you read it (If-Match does not match its ETag)".into()
            }
            ApiError::PayloadTooLarge => "the request body is larger than allowed".into(),
            ApiError::UnsupportedMediaType => "the request body must be application/json".into(),
            ApiError::Validation(errors) => match errors.as_slice() {
                [one] => format!("{}: {}", one.field, one.message),
                _ => format!("{} fields are invalid", errors.len()),
            },
            ApiError::TooManyRequests { .. } => {
                "too many failed attempts; retry after the time in Retry-After".into()
            }
            ApiError::Unavailable => "the database is unavailable; retry shortly".into(),
            ApiError::Busy => "the service is busy; retry shortly".into(),
            ApiError::Internal(_) => "an unexpected error occurred".into(),
        };
        let errors = match self {
            ApiError::Validation(errors) => Some(errors.clone()),
            ApiError::Conflict { field, detail, .. } => Some(vec![FieldError::new(
                field.clone(),
                "conflict",
                detail.clone(),
            )]),
            _ => None,
        };
        let existing_id = match self {
            ApiError::Conflict { existing_id, .. } => existing_id.clone(),
            _ => None,
        };
        Problem {
            problem_type: format!("urn:crm:problem:{code}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail,
            errors,
            existing_id,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        match self {
            ApiError::Unavailable | ApiError::Busy => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        res.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<DieselError> for ApiError {
    fn from(e: DieselError) -> Self {
        match &e {
            DieselError::NotFound => ApiError::NotFound("record not found".into()),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                ApiError::Conflict {
                    detail: "a record with this value already exists".into(),
                    field: info.column_name().unwrap_or("").to_string(),
                    existing_id: None,
                }
            }
            // An insert or update naming a record that vanished meanwhile
            // (deletes map their refusal to 409 with `db::refused_delete`).
            // PostgreSQL names the constraint `<table>_<field>_fkey`; SQLite
            // names nothing, but it serializes writers, so there the
            // references checked earlier in the transaction cannot vanish.
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                let field = info
                    .constraint_name()
                    .and_then(|c| c.strip_suffix("_fkey"))
                    .and_then(|c| {
                        info.table_name()
                            .and_then(|t| c.strip_prefix(t))
                            .and_then(|c| c.strip_prefix('_'))
                    })
                    .unwrap_or("id");
                ApiError::field(field, "not_found", "the referenced record does not exist")
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                log::warn!("database error: {e}");
                ApiError::Unavailable
            }
            DieselError::DatabaseError(_, info)
                if info.message().contains("database is locked")
                    || info.message().contains("deadlock detected")
                    || info.message().contains("terminating connection")
                    || info.message().contains("server closed the connection") =>
            {
                log::warn!("database error: {e}");
                ApiError::Unavailable
            }
            _ => ApiError::internal(format!("database error: {e}")),
        }
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::internal(format!("json error: {e}"))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    struct Info {
        table: Option<&'static str>,
        constraint: Option<&'static str>,
    }

    impl diesel::result::DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            "violates foreign key constraint"
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            self.table
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            self.constraint
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn fk(table: Option<&'static str>, constraint: Option<&'static str>) -> ApiError {
        ApiError::from(DieselError::DatabaseError(
            DatabaseErrorKind::ForeignKeyViolation,
            Box::new(Info { table, constraint }),
        ))
    }

    #[test]
    fn a_vanished_reference_is_422_naming_the_field() {
        let e = fk(Some("customers"), Some("customers_owner_id_fkey"));
        assert_eq!(e.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        match e {
            ApiError::Validation(errors) => {
                assert_eq!(errors.len(), 1);
                assert_eq!(errors[0].field, "owner_id");
                assert_eq!(errors[0].code, "not_found");
            }
            other => unreachable!("expected a validation error, got {other:?}"),
        }
        // SQLite names no constraint.
        match fk(None, None) {
            ApiError::Validation(errors) => assert_eq!(errors[0].field, "id"),
            other => unreachable!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_refused_delete_is_409() {
        let e = crate::db::refused_delete(DieselError::DatabaseError(
            DatabaseErrorKind::ForeignKeyViolation,
            Box::new(Info {
                table: Some("contacts"),
                constraint: Some("contacts_customer_id_fkey"),
            }),
        ));
        assert_eq!(e.status_code(), StatusCode::CONFLICT);
    }
}
