//! Cross-cutting HTTP machinery used by every resource: strict JSON bodies and
//! query strings, keyset pagination, ETag/If-Match, idempotent creates, the
//! request id, and JSON answers for unknown routes.

pub mod batch;
pub mod body;
pub mod handlers;
pub mod idempotency;
pub mod list;
pub mod pagination;
pub mod patch;
pub mod request_id;
pub mod routes;

use actix_web::http::{header, StatusCode};
use actix_web::{dev::Payload, FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;
use std::future::{ready, Ready};

use crate::error::{ApiError, ApiResult};

pub use body::{JsonBody, Query};
pub use idempotency::IdempotencyKey;

/// Serves `HEAD` as `GET` (RFC 9110 §9.3.2): the same status and headers.
/// The HTTP layer remembers that the request was `HEAD` and sends no body.
pub async fn head_as_get(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    if req.method() == actix_web::http::Method::HEAD {
        req.head_mut().method = actix_web::http::Method::GET;
    }
    next.call(req).await
}

pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// A single record with its `ETag`.
pub fn record<T: Serialize>(
    status: StatusCode,
    value: &T,
    version: i64,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::build(status)
        .insert_header((header::ETAG, etag(version)))
        .content_type("application/json")
        .body(serde_json::to_string(value)?))
}

pub fn json<T: Serialize>(value: &T) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(serde_json::to_string(value)?))
}

/// The `{id}` of a record's URL. Ids are UUIDs; anything that cannot be one
/// (too long, control characters) is simply not found, without a query.
pub struct RecordId(pub String);

impl FromRequest for RecordId {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(path_id(req, "id").map(RecordId))
    }
}

/// The `{stage_id}` of a pipeline stage's URL, checked like [`RecordId`].
pub struct StageId(pub String);

impl FromRequest for StageId {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(path_id(req, "stage_id").map(StageId))
    }
}

/// The `{comment_id}` of a ticket comment's URL, checked as [`RecordId`].
pub struct CommentId(pub String);

impl FromRequest for CommentId {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(path_id(req, "comment_id").map(CommentId))
    }
}

/// The `{article_id}` of a ticket's article link, checked as [`RecordId`].
pub struct ArticleId(pub String);

impl FromRequest for ArticleId {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(path_id(req, "article_id").map(ArticleId))
    }
}

fn path_id(req: &HttpRequest, name: &str) -> Result<String, ApiError> {
    let id = req.match_info().get(name).unwrap_or_default();
    if id.is_empty() || id.len() > 64 || id.chars().any(char::is_control) {
        Err(ApiError::NotFound("record not found".into()))
    } else {
        Ok(id.to_string())
    }
}

/// The `{external_id}` of a by-external-id URL, percent-decoded by the
/// router; a value no record can hold (over 200 characters, control
/// characters) is simply not found, without a query.
pub struct ExternalId(pub String);

impl FromRequest for ExternalId {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req.match_info().get("external_id").unwrap_or_default();
        let decoded = decode_reserved(raw);
        let key = decoded.trim();
        ready(
            if key.is_empty() || key.chars().count() > 200 || key.chars().any(char::is_control) {
                Err(ApiError::NotFound("record not found".into()))
            } else {
                Ok(ExternalId(key.to_string()))
            },
        )
    }
}

/// Decodes what the router leaves encoded in a path segment (`%2F`, `%2B`,
/// `%25`), so that a key like `SO/2024/1` is addressed as `SO%2F2024%2F1`.
fn decode_reserved(segment: &str) -> std::borrow::Cow<'_, str> {
    if !segment.contains('%') {
        return std::borrow::Cow::Borrowed(segment);
    }
    let mut out = String::with_capacity(segment.len());
    let mut rest = segment;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3).map(str::to_ascii_uppercase);
        let decoded = match code.as_deref() {
            Some("2F") => Some('/'),
            Some("2B") => Some('+'),
            Some("25") => Some('%'),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// The `If-Match` precondition: absent means "any version".
#[derive(Debug, Clone, Default)]
pub struct IfMatch(Option<Vec<String>>);

impl IfMatch {
    /// Reads a record for a change and locks it at the version read (a
    /// guarded no-op `UPDATE … WHERE version = v`), so the rest of the
    /// transaction changes a row no other writer can change meanwhile. When
    /// another writer got there first it reads again: a request without
    /// `If-Match` then goes ahead on the new version, one with it gets 412.
    pub fn read_locked<T>(
        &self,
        conn: &mut crate::db::DbConn,
        read: impl Fn(&mut crate::db::DbConn) -> ApiResult<T>,
        version: impl Fn(&T) -> i64,
        lock: impl Fn(&mut crate::db::DbConn, i64) -> ApiResult<bool>,
    ) -> ApiResult<T> {
        const ATTEMPTS: usize = 5;
        for _ in 0..ATTEMPTS {
            let current = read(conn)?;
            self.check(version(&current))?;
            if lock(conn, version(&current))? {
                return Ok(current);
            }
        }
        Err(ApiError::Conflict {
            detail: "the record is being changed by others right now; retry".into(),
            field: "id".into(),
            existing_id: None,
        })
    }

    /// Fails with 412 unless the current `version` is one the caller named.
    pub fn check(&self, version: i64) -> ApiResult<()> {
        match &self.0 {
            None => Ok(()),
            Some(tags) => {
                let current = etag(version);
                // Strong comparison (RFC 9110): a weak tag never matches.
                let matches = tags.iter().any(|t| t == "*" || *t == current);
                if matches {
                    Ok(())
                } else {
                    Err(ApiError::PreconditionFailed)
                }
            }
        }
    }
}

/// A header parameter of the contract: optional, a plain string.
pub(crate) fn header_param(
    name: &str,
    description: &str,
    schema: utoipa::openapi::ObjectBuilder,
) -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::Required;
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .description(Some(description))
        .required(Required::False)
        .schema(Some(schema.schema_type(utoipa::openapi::Type::String)))
        .build()
}

impl utoipa::IntoParams for IfMatch {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        // `*` or a list of the ETags the service sends (`"<version>"`); any
        // other entity tag never matches (412).
        vec![header_param(
            "If-Match",
            "The ETag you read; 412 if the record changed since",
            utoipa::openapi::ObjectBuilder::new()
                .pattern(Some("^(?:\\*|\"[0-9]+\"(?:[\\t ]*,[\\t ]*\"[0-9]+\")*)$"))
                .examples(["\"1\"", "*"]),
        )]
    }
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let values: Vec<_> = req.headers().get_all(header::IF_MATCH).collect();
        if values.is_empty() {
            return ready(Ok(IfMatch(None)));
        }
        let mut tags = Vec::new();
        for value in values {
            let Ok(text) = value.to_str() else {
                return ready(Err(ApiError::field(
                    "If-Match",
                    "invalid_header",
                    "If-Match must be a list of entity tags",
                )));
            };
            tags.extend(
                text.split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty()),
            );
        }
        ready(Ok(IfMatch(Some(tags))))
    }
}
