//! Field rules shared by resources (used from `#[validate(custom(...))]`) and
//! the conversion of validator's errors into the problem's field list.

use std::borrow::Cow;

use serde_json::{Map, Value};
use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

use crate::error::{ApiError, FieldError};

const MAX_TAGS: usize = 50;
const MAX_TAG_CHARS: usize = 64;
const MAX_CUSTOM_FIELDS: usize = 50;
const MAX_CUSTOM_FIELD_KEY_CHARS: usize = 64;
const MAX_CUSTOM_FIELDS_BYTES: usize = 16 * 1024;

fn rule(code: &'static str, message: impl Into<Cow<'static, str>>) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

pub fn country(code: &str) -> Result<(), ValidationError> {
    if crate::countries::is_code(code) {
        Ok(())
    } else {
        Err(rule(
            "invalid_country",
            "must be an ISO 3166-1 alpha-2 country code such as DE",
        ))
    }
}

pub fn phone(phone: &str) -> Result<(), ValidationError> {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().x/".contains(c));
    if allowed && (3..=20).contains(&digits) && phone.len() <= 40 {
        Ok(())
    } else {
        Err(rule(
            "invalid_phone",
            "must be a phone number: 3 to 20 digits with optional + - ( ) . / x and spaces",
        ))
    }
}

pub fn web_url(url: &str) -> Result<(), ValidationError> {
    let lower = url.to_ascii_lowercase();
    let scheme_ok = lower.starts_with("http://") || lower.starts_with("https://");
    if scheme_ok && url.len() <= 2048 && validator::ValidateUrl::validate_url(&url) {
        Ok(())
    } else {
        Err(rule(
            "invalid_url",
            "must be an http or https URL of at most 2048 characters",
        ))
    }
}

pub fn tags(tags: &[String]) -> Result<(), ValidationError> {
    if tags.len() > MAX_TAGS {
        return Err(rule("too_many", format!("at most {MAX_TAGS} tags")));
    }
    if tags.iter().any(|t| {
        t.is_empty() || t.chars().count() > MAX_TAG_CHARS || t.chars().any(char::is_control)
    }) {
        return Err(rule(
            "invalid_tag",
            format!("each tag must be 1 to {MAX_TAG_CHARS} printable characters"),
        ));
    }
    Ok(())
}

/// Trims tags and drops duplicates, keeping the first occurrence's order.
pub fn normalize_tags(tags: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    tags.into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| seen.insert(t.clone()))
        .collect()
}

pub fn custom_fields(fields: &Map<String, Value>) -> Result<(), ValidationError> {
    if fields.len() > MAX_CUSTOM_FIELDS {
        return Err(rule(
            "too_many",
            format!("at most {MAX_CUSTOM_FIELDS} custom fields"),
        ));
    }
    if fields
        .keys()
        .any(|k| k.is_empty() || k.chars().count() > MAX_CUSTOM_FIELD_KEY_CHARS)
    {
        return Err(rule(
            "invalid_key",
            format!("custom field names must be 1 to {MAX_CUSTOM_FIELD_KEY_CHARS} characters"),
        ));
    }
    if Value::Object(fields.clone()).to_string().len() > MAX_CUSTOM_FIELDS_BYTES {
        return Err(rule("too_large", "custom fields may take at most 16 KiB"));
    }
    Ok(())
}

/// Flattens validator's nested errors into `{field, code, message}` with
/// dotted paths (`address.country`).
pub fn to_api_error(errors: ValidationErrors) -> ApiError {
    let mut out = Vec::new();
    collect(&errors, "", &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    ApiError::Validation(out)
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    out.push(FieldError::new(path.clone(), &e.code, describe(e)));
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    collect(inner, &format!("{path}[{i}]"), out);
                }
            }
        }
    }
}

fn describe(e: &ValidationError) -> String {
    if let Some(m) = &e.message {
        return m.to_string();
    }
    let param = |name: &str| e.params.get(name).map(|v| v.to_string());
    match e.code.as_ref() {
        "invalid_email" => "must be an email address".into(),
        "length" | "too_long" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be {min} to {max} characters"),
            (None, Some(max)) => format!("must be at most {max} characters"),
            (Some(min), None) => format!("must be at least {min} characters"),
            _ => "has an invalid length".into(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            _ => "is out of range".into(),
        },
        other => format!("is invalid ({other})"),
    }
}
