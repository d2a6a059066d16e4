//! Strict request parsing: JSON bodies and query strings become typed values
//! or a 4xx problem naming the field; unknown fields are refused.

use actix_web::http::header;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult, FieldError};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON request body, read and size-checked by the extractor (413, 415)
/// but parsed into `T` only by [`JsonBody::parse`], which handlers call once
/// the caller is authorized: a caller without the role gets 403, not a
/// validation answer.
pub struct JsonBody<T> {
    pub bytes: web::Bytes,
    target: std::marker::PhantomData<fn() -> T>,
}

/// A parsed body: the typed value and the document (for merge patches).
pub struct Parsed<T> {
    pub value: T,
    pub document: serde_json::Value,
}

impl<T: DeserializeOwned> JsonBody<T> {
    /// 400 for malformed JSON; 422 naming the field for a wrong shape.
    pub fn parse(&self) -> ApiResult<Parsed<T>> {
        let document = parse_document(&self.bytes)?;
        let value = from_document(&document)?;
        Ok(Parsed { value, document })
    }
}

/// A request body as a JSON object without duplicate keys or NUL characters:
/// 400 for malformed JSON, 422 naming the field otherwise.
pub fn parse_document(bytes: &[u8]) -> ApiResult<serde_json::Value> {
    let document = serde_json::from_slice::<UniqueKeys>(bytes)
        .map_err(|e| ApiError::BadRequest(format!("body is not valid JSON: {e}")))?
        .0;
    if let Some(field) = nul_in(&document, "") {
        return Err(ApiError::field(
            if field.is_empty() {
                "body".to_string()
            } else {
                field
            },
            "invalid_character",
            "text may not contain the NUL character (U+0000)",
        ));
    }
    // Every body is an object; serde would also read a struct from an
    // array of its field values.
    if !document.is_object() {
        return Err(ApiError::field(
            "body",
            "invalid_type",
            "expected a JSON object",
        ));
    }
    Ok(document)
}

impl<T: 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read(req, payload.take(), MAX_BODY_BYTES);
        Box::pin(async move {
            Ok(JsonBody {
                bytes: body.await?,
                target: std::marker::PhantomData,
            })
        })
    }
}

/// Reads a JSON request body of at most `limit` bytes: 413 beyond it
/// (before reading, when `Content-Length` says so), 415 for another media type.
pub fn read(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> impl std::future::Future<Output = ApiResult<web::Bytes>> + 'static {
    let content_type_ok = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false);
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    async move {
        if declared_len.is_some_and(|n| n > limit) {
            return Err(ApiError::PayloadTooLarge);
        }
        if !content_type_ok {
            return Err(ApiError::UnsupportedMediaType);
        }
        // Sized once from Content-Length (already checked against the
        // limit): growing by doubling copies a large body many times.
        let mut buf = web::BytesMut::with_capacity(declared_len.unwrap_or(0));
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("cannot read body: {e}")))?;
            if buf.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge);
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }
}

/// A JSON document in which no object repeats a key: `{"name":"a","name":"b"}`
/// is refused instead of silently keeping the last value.
struct UniqueKeys(serde_json::Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(UniqueKeysVisitor).map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate field `{key}`"
                )));
            }
            let UniqueKeys(value) = map.next_value()?;
            fields.insert(key, value);
        }
        Ok(serde_json::Value::Object(fields))
    }
}

/// The path of the first string (or key) holding U+0000, which PostgreSQL
/// cannot store in text and which no CRM field needs.
fn nul_in(value: &serde_json::Value, path: &str) -> Option<String> {
    if !has_nul(value) {
        return None;
    }
    nul_path(value, path)
}

/// Whether any text of `value` (keys included) holds a NUL; allocates nothing.
fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(fields) => {
            fields.iter().any(|(k, v)| k.contains('\0') || has_nul(v))
        }
        _ => false,
    }
}

fn nul_path(value: &serde_json::Value, path: &str) -> Option<String> {
    match value {
        serde_json::Value::String(s) => s.contains('\0').then(|| path.to_string()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_path(v, &format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            let here = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.contains('\0') {
                Some(here)
            } else {
                nul_path(v, &here)
            }
        }),
        _ => None,
    }
}

/// [`from_document`] consuming the document: its text moves into `T`.
pub fn from_owned_document<T: DeserializeOwned>(document: serde_json::Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(document).map_err(|e| {
        let path = e.path().to_string();
        ApiError::Validation(vec![describe(&path, &e.inner().to_string(), "body")])
    })
}

/// Deserializes a JSON document into `T`, naming the offending field on error.
pub fn from_document<T: DeserializeOwned>(document: &serde_json::Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(document).map_err(|e| {
        let path = e.path().to_string();
        ApiError::Validation(vec![describe(&path, &e.inner().to_string(), "body")])
    })
}

/// Query parameters parsed into `T` (which should deny unknown fields).
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(query_from_str(req.query_string()).map(Query))
    }
}

/// Parses a query string into `T`, naming the offending parameter on error.
pub fn query_from_str<T: DeserializeOwned>(query_string: &str) -> ApiResult<T> {
    let parser = form_urlencoded::parse(query_string.as_bytes());
    if let Some((name, _)) = parser
        .clone()
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(ApiError::field(
            name.replace('\0', ""),
            "invalid_character",
            "text may not contain the NUL character (U+0000)",
        ));
    }
    serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(parser)).map_err(|e| {
        let path = e.path().to_string();
        ApiError::Validation(vec![describe(&path, &e.inner().to_string(), "query")])
    })
}

/// Turns a serde message and path into a field error with a stable code.
fn describe(path: &str, message: &str, root: &str) -> FieldError {
    let prefix = if path == "." || path.is_empty() {
        String::new()
    } else {
        format!("{path}.")
    };
    let quoted = || message.split('`').nth(1).unwrap_or("").to_string();
    let at_path = || {
        if prefix.is_empty() {
            root.to_string()
        } else {
            path.to_string()
        }
    };
    if message.starts_with("unknown field") {
        // The path already ends with the unknown field's name.
        FieldError::new(
            at_path(),
            "unknown_field",
            "this field is not accepted here",
        )
    } else if message.starts_with("missing field") {
        FieldError::new(
            format!("{prefix}{}", quoted()),
            "required",
            "this field is required",
        )
    } else if message.starts_with("invalid type") {
        let expected = message.rsplit("expected ").next().unwrap_or("another type");
        FieldError::new(at_path(), "invalid_type", format!("expected {expected}"))
    } else if message.starts_with("unknown variant") {
        let allowed = message
            .split("expected ")
            .nth(1)
            .unwrap_or("a listed value")
            .replace('`', "");
        FieldError::new(at_path(), "invalid_value", format!("must be {allowed}"))
    } else if message.starts_with("duplicate field") {
        FieldError::new(
            format!("{prefix}{}", quoted()),
            "duplicate_field",
            "this field is given more than once",
        )
    } else {
        FieldError::new(at_path(), "invalid_value", message.to_string())
    }
}
