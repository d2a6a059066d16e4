//! Field rules shared by resources (used from `#[validate(custom(...))]`) and
//! the conversion of validator's errors into the problem's field list.

use std::borrow::Cow;

use serde_json::{Map, Value};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

use crate::error::{ApiError, FieldError};

const MAX_TAGS: usize = 50;
const MAX_TAG_CHARS: usize = 64;
const MAX_CUSTOM_FIELDS: usize = 50;
const MAX_CUSTOM_FIELD_KEY_CHARS: usize = 64;
const MAX_CUSTOM_FIELDS_BYTES: usize = 16 * 1024;
const MAX_PHONE_CHARS: usize = 40;
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 3..=20;
const PHONE_PUNCTUATION: &str = " +-().x/";
const MAX_URL_CHARS: usize = 2048;
const MAX_EMAIL_CHARS: usize = 254;

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

pub fn currency(code: &str) -> Result<(), ValidationError> {
    if crate::currencies::is_code(code) {
        Ok(())
    } else {
        Err(rule(
            "invalid_currency",
            "must be an ISO 4217 currency code such as EUR",
        ))
    }
}

pub fn phone(phone: &str) -> Result<(), ValidationError> {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone
        .chars()
        .all(|c| c.is_ascii_digit() || PHONE_PUNCTUATION.contains(c));
    if allowed && PHONE_DIGITS.contains(&digits) && phone.len() <= MAX_PHONE_CHARS {
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
    if scheme_ok && url.len() <= MAX_URL_CHARS && validator::ValidateUrl::validate_url(&url) {
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

/// Checks a normalized input: its `#[validate]` rules (formats and rules
/// of their own) and the string lengths its contract schema states, so each
/// length limit is written once, in `#[schema(min_length, max_length)]`, and
/// reaches both the contract and this check. One error per field: a field a
/// rule already refused is not reported again for its length.
pub fn check<T>(input: &T) -> crate::error::ApiResult<()>
where
    T: validator::Validate + utoipa::ToSchema + serde::Serialize + 'static,
{
    let mut errors = match input.validate() {
        Ok(()) => Vec::new(),
        Err(e) => match to_api_error(e) {
            ApiError::Validation(errors) => errors,
            other => return Err(other),
        },
    };
    let document = serde_json::to_value(input)?;
    let schema = contract_schema::<T>();
    let mut lengths = Vec::new();
    length_limits(&document, &schema.0, &schema.1, "", &mut lengths);
    for e in lengths {
        let refused = |r: &FieldError| {
            r.field == e.field
                || e.field
                    .strip_prefix(r.field.as_str())
                    .is_some_and(|rest| rest.starts_with('['))
        };
        if !errors.iter().any(refused) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    Err(ApiError::Validation(errors))
}

/// A type's contract schema and the named schemas it refers to.
type ContractSchema = (
    RefOr<Schema>,
    std::collections::BTreeMap<String, RefOr<Schema>>,
);

/// The contract schema of `T`, built once per type: a batch checks a
/// thousand inputs, and building the schema costs more than checking one.
fn contract_schema<T: utoipa::ToSchema + 'static>() -> std::sync::Arc<ContractSchema> {
    use std::any::TypeId;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<TypeId, Arc<ContractSchema>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let cached = cache
        .lock()
        .map(|c| c.get(&TypeId::of::<T>()).cloned())
        .unwrap_or_default();
    if let Some(schema) = cached {
        return schema;
    }
    let mut components = Vec::new();
    T::schemas(&mut components);
    let built = Arc::new((T::schema(), components.into_iter().collect()));
    if let Ok(mut c) = cache.lock() {
        c.insert(TypeId::of::<T>(), built.clone());
    }
    built
}

/// The `minLength`/`maxLength` of every string in `value` that `schema`
/// constrains (properties of objects, through `$ref`s and `oneOf`s).
fn length_limits(
    value: &Value,
    schema: &RefOr<Schema>,
    components: &std::collections::BTreeMap<String, RefOr<Schema>>,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    match schema {
        RefOr::Ref(r) => {
            let name = r.ref_location.rsplit('/').next().unwrap_or_default();
            if let Some(schema) = components.get(name) {
                length_limits(value, schema, components, path, out);
            }
        }
        RefOr::T(Schema::OneOf(one_of)) => {
            for item in &one_of.items {
                length_limits(value, item, components, path, out);
            }
        }
        RefOr::T(Schema::AllOf(all_of)) => {
            for item in &all_of.items {
                length_limits(value, item, components, path, out);
            }
        }
        RefOr::T(Schema::Array(array)) => {
            if let (Value::Array(values), utoipa::openapi::schema::ArrayItems::RefOrSchema(item)) =
                (value, &array.items)
            {
                for (i, value) in values.iter().enumerate() {
                    length_limits(value, item, components, &format!("{path}[{i}]"), out);
                }
            }
        }
        RefOr::T(Schema::Object(object)) => match value {
            Value::String(text) => {
                let n = text.chars().count();
                let (min, max) = (object.min_length, object.max_length);
                if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                    let (code, message) = match (min, max) {
                        (Some(min), Some(max)) => {
                            ("length", format!("must be {min} to {max} characters"))
                        }
                        (None, Some(max)) => {
                            ("too_long", format!("must be at most {max} characters"))
                        }
                        (Some(min), None) => {
                            ("length", format!("must be at least {min} characters"))
                        }
                        (None, None) => ("length", "has an invalid length".to_string()),
                    };
                    out.push(FieldError::new(path, code, message));
                }
            }
            Value::Object(fields) => {
                for (name, property) in &object.properties {
                    if let Some(field) = fields.get(name) {
                        let here = if path.is_empty() {
                            name.clone()
                        } else {
                            format!("{path}.{name}")
                        };
                        length_limits(field, property, components, &here, out);
                    }
                }
            }
            _ => {}
        },
        _ => {}
    }
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

/// The rules above as the contract states them: named schemas that fields
/// use through `#[schema(value_type = ...)]`, so that a client or a contract
/// fuzzer generating values from the contract produces values these checks
/// accept. Patterns are ECMA-262 regular expressions (as JSON Schema wants)
/// written only with syntax that Python's `re` reads the same way. Where a
/// rule cannot be written exactly, the schema is a little stricter than the
/// check, never looser. Text is trimmed before it is checked and a blank
/// optional value means none, so the patterns of optional values admit "".
pub mod schema {
    use std::borrow::Cow;

    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    use utoipa::openapi::{RefOr, Schema};
    use utoipa::{PartialSchema, ToSchema};

    use super::*;

    /// An email address `validator` accepts (HTML's rule), ASCII only: it
    /// also takes internationalized domain names, which the contract leaves
    /// out. Not `format: email`: that is RFC 5321's rule, which differs at
    /// the edges (dots in the local part, quoted local parts, IDNA hyphens),
    /// so a value valid by one can be refused by the other.
    const EMAIL: &str = "[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*";

    /// `PHONE_PUNCTUATION` as a character class (the `-` last).
    const PHONE_CLASS: &str = "[ +().x/-]";

    /// An http(s) URL that `url::Url::parse` accepts: a DNS name whose last
    /// label starts with a letter (a last label that looks like a number
    /// makes the host an IPv4 address), labels without `--` (which would
    /// allow invalid punycode), a port up to 65535, then any visible ASCII.
    /// IP addresses, user info and non-ASCII hosts are left out.
    const WEB_URL: &str = "https?://(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\\.)*[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(?:[/?#][!-~]*)?";

    /// Control characters (`char::is_control`), as the inside of a class.
    const CONTROL: &str = "\\u0000-\\u001F\\u007F-\\u009F";

    fn text() -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::String)
    }

    macro_rules! named_schema {
        ($(#[$meta:meta])* $name:ident => $schema:expr) => {
            $(#[$meta])*
            pub struct $name;

            impl PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    Schema::Object($schema.build()).into()
                }
            }

            impl ToSchema for $name {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($name))
                }
            }
        };
    }

    named_schema! {
        /// A required email address (users sign in with it).
        Email => text()
            .max_length(Some(MAX_EMAIL_CHARS))
            .pattern(Some(format!("^{EMAIL}$")))
            .description(Some(
                "An email address (ASCII; surrounding spaces are trimmed and it is stored lower-case).",
            ))
            .examples(["ada@example.com"])
    }

    named_schema! {
        /// An optional email address: blank means none.
        EmailOrBlank => text()
            .max_length(Some(MAX_EMAIL_CHARS))
            .pattern(Some(format!("^(?:{EMAIL})?$")))
            .description(Some(
                "An email address (ASCII; stored lower-case), or \"\" for none.",
            ))
            .examples(["billing@acme.example"])
    }

    named_schema! {
        /// The rule of [`super::phone`].
        Phone => text()
            .max_length(Some(MAX_PHONE_CHARS))
            .pattern(Some(format!(
                "^(?:{PHONE_CLASS}*(?:[0-9]{PHONE_CLASS}*){{{},{}}})?$",
                PHONE_DIGITS.start(),
                PHONE_DIGITS.end()
            )))
            .description(Some(
                "A phone number: 3 to 20 digits with optional spaces and + - ( ) . / x, \
                 at most 40 characters; \"\" for none.",
            ))
            .examples(["+49 30 1234567"])
    }

    named_schema! {
        /// The rule of [`super::web_url`].
        WebUrl => text()
            .max_length(Some(MAX_URL_CHARS))
            .pattern(Some(format!("^(?:{WEB_URL})?$")))
            .description(Some(
                "An http or https URL of at most 2048 characters, or \"\" for none.",
            ))
            .examples(["https://acme.example"])
    }

    named_schema! {
        /// The rule of [`super::country`].
        CountryCode => text()
            .pattern(Some(format!("^(?:{})?$", country_codes().join("|"))))
            .description(Some(
                "An ISO 3166-1 alpha-2 country code, such as `DE` (lower-case is \
                 accepted and stored upper-case), or \"\" for none.",
            ))
            .examples(["DE"])
    }

    named_schema! {
        /// An ISO 4217 currency code.
        CurrencyCode => text()
            .pattern(Some(format!("^(?:{})$", crate::currencies::codes().collect::<Vec<_>>().join("|"))))
            .description(Some(
                "An ISO 4217 currency code, such as `EUR` (lower-case is accepted and \
                 stored upper-case).",
            ))
            .examples(["EUR"])
    }

    named_schema! {
        /// One tag, as [`super::tags`] checks it after trimming.
        Tag => text()
            .min_length(Some(1))
            .max_length(Some(MAX_TAG_CHARS))
            .pattern(Some(format!(
                "^[^{CONTROL}]*[^{CONTROL} \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^{CONTROL}]*$"
            )))
            .description(Some(
                "A label of 1 to 64 characters, not blank, without control characters; \
                 surrounding spaces are trimmed.",
            ))
            .examples(["vip"])
    }

    /// The rule of [`super::custom_fields`], inline (`#[schema(schema_with =
    /// ...)]`) rather than named, so that generated clients keep the model
    /// names they had (`CustomerInputCustomFields`).
    pub fn custom_fields() -> Schema {
        custom_fields_schema(Type::Object.into())
            .description(Some(
                "Free-form attributes: up to 50 keys of 1 to 64 characters with any JSON \
                 values, at most 16 KiB as compact JSON.",
            ))
            .build()
            .into()
    }

    /// [`custom_fields`] in a merge patch: merged key by key, `null` removes
    /// a key, and `null` for the whole field removes them all.
    pub fn custom_fields_patch() -> Schema {
        custom_fields_schema([Type::Object, Type::Null].into_iter().collect())
            .description(Some(
                "Merged key by key (RFC 7396): `null` removes a key. The result holds up to \
                 50 keys of 1 to 64 characters, at most 16 KiB as compact JSON.",
            ))
            .build()
            .into()
    }

    fn custom_fields_schema(schema_type: SchemaType) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(schema_type)
            .max_properties(Some(MAX_CUSTOM_FIELDS))
            .property_names(Some(
                text()
                    .min_length(Some(1))
                    .max_length(Some(MAX_CUSTOM_FIELD_KEY_CHARS)),
            ))
    }

    /// Every code [`crate::countries::is_code`] accepts, in order.
    fn country_codes() -> Vec<String> {
        ('A'..='Z')
            .flat_map(|a| ('A'..='Z').map(move |b| format!("{a}{b}")))
            .filter(|code| crate::countries::is_code(code))
            .collect()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// What `str::trim` removes (Unicode `White_Space`), as the inside of a
        /// character class.
        const WHITE_SPACE: &str =
            "\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";

        /// Text with at least one character that trimming keeps: the pattern of
        /// every required name (`#[schema(pattern = ...)]` wants a literal, so
        /// the fields repeat it; a test checks they all match this one).
        const NOT_BLANK: &str =
            "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]";

        #[test]
        fn required_names_use_the_one_not_blank_pattern() {
            assert_eq!(NOT_BLANK, format!("[^{WHITE_SPACE}]"));
            let doc = serde_json::to_value(crate::openapi()).unwrap_or_default();
            let schemas = doc["components"]["schemas"]
                .as_object()
                .into_iter()
                .flatten();
            let mut names = 0;
            for (schema, body) in schemas {
                for (field, property) in body["properties"].as_object().into_iter().flatten() {
                    // Every text with a minimum length is trimmed first, but
                    // passwords.
                    let min = property["minLength"].as_u64().unwrap_or(0);
                    if min > 0 && property["format"] != "password" {
                        assert_eq!(property["pattern"], NOT_BLANK, "{schema}.{field}");
                        names += 1;
                    }
                }
            }
            assert_eq!(names, 42, "required names found");
        }

        #[test]
        fn country_pattern_lists_every_code() {
            let codes = country_codes();
            assert_eq!(codes.len(), 249);
            assert!(codes.contains(&"DE".to_string()) && !codes.contains(&"UK".to_string()));
        }

        #[test]
        fn whitespace_class_is_what_trim_removes() {
            let listed = |c: char| {
                matches!(
                    c,
                    '\t' | '\n'
                        | '\u{B}'
                        | '\u{C}'
                        | '\r'
                        | ' '
                        | '\u{85}'
                        | '\u{A0}'
                        | '\u{1680}'
                        | '\u{2000}'
                        ..='\u{200A}'
                            | '\u{2028}'
                            | '\u{2029}'
                            | '\u{202F}'
                            | '\u{205F}'
                            | '\u{3000}'
                )
            };
            for c in (0..=0x10FFFF).filter_map(char::from_u32) {
                assert_eq!(c.is_whitespace(), listed(c), "{:?}", c);
            }
        }
    }
}
