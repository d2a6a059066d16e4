//! Small building blocks shared by every resource's model.

/// A closed set of values stored as text and exchanged as snake_case strings.
///
/// `$text` is a `tt`, not a `literal`: a `literal` fragment reaches derive
/// macros wrapped in an invisible group, which serde reads but utoipa's
/// `#[serde(rename)]` parser skips, so the contract would list the Rust
/// variant names (`AtRisk`) instead of the wire values (`at_risk`).
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            /// Reads a value the database holds; a value outside the set is a
            /// defect, not a client error.
            pub fn from_db(text: &str) -> Result<Self, $crate::error::ApiError> {
                Self::parse(text).ok_or_else(|| {
                    $crate::error::ApiError::internal(format!(
                        concat!("unknown ", stringify!($name), " `{}` in the database"),
                        text
                    ))
                })
            }
        }
    };
}

/// A record as the JSON document its events (and a create's stored answer)
/// carry, the same for every resource. Serializing a record does not fail in
/// practice; should it ever, the request fails (500) instead of recording
/// `null`.
pub trait ToJson: serde::Serialize {
    fn to_json(&self) -> crate::error::ApiResult<serde_json::Value> {
        serde_json::to_value(self).map_err(|e| {
            crate::error::ApiError::internal(format!("cannot serialize a record: {e}"))
        })
    }
}

/// A stored record as the API shows it: an id, a version for its `ETag`, and
/// its JSON for answers and events. `record!(Type)` implements it for a type
/// with `id` and `version` fields.
pub trait Record: ToJson + Send + 'static {
    fn id(&self) -> &str;
    fn version(&self) -> i64;
}

#[macro_export]
macro_rules! record {
    ($type:ty) => {
        impl $crate::model::ToJson for $type {}
        impl $crate::model::Record for $type {
            fn id(&self) -> &str {
                &self.id
            }
            fn version(&self) -> i64 {
                self.version
            }
        }
    };
}

/// Deserializes a JSON merge-patch field: absent stays `None`, `null` becomes
/// `Some(None)`, a value becomes `Some(Some(v))`.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(de).map(Some)
}

/// Deserializes an optional nested object (absent or `null` is `None`),
/// refusing anything else: serde would otherwise also read a struct from a
/// JSON array of its field values. Errors inside keep their path.
pub fn object_or_null<'de, T, D>(de: D) -> Result<Option<T>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    struct ObjectOrNull<T>(std::marker::PhantomData<T>);

    impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for ObjectOrNull<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object or null")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }

    de.deserialize_any(ObjectOrNull(std::marker::PhantomData))
}

/// A time filter of a list (RFC 3339), in the years 1 to 9999: times both
/// backends store and compare alike (PostgreSQL refuses years before
/// 4713 BC, SQLite compares text, where `+10000-…` sorts first).
pub fn time_filter<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, D::Error> {
    use chrono::Datelike;
    use serde::Deserialize;
    let time = Option::<chrono::DateTime<chrono::Utc>>::deserialize(de)?;
    match time {
        Some(t) if !(1..=9999).contains(&t.year()) => {
            Err(serde::de::Error::custom("must be in the years 1 to 9999"))
        }
        t => Ok(t),
    }
}

/// An integer as JSON Schema has it: `3` and `3.0` alike (a number without a
/// fractional part); `3.5`, text and numbers beyond `i64` are refused.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(de: D) -> Result<i64, D::Error> {
    de.deserialize_any(WholeNumber)
}

/// [`whole_number`] or null.
pub fn optional_whole_number<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<i64>, D::Error> {
    de.deserialize_any(OptionalWholeNumber)
}

struct WholeNumber;

impl serde::de::Visitor<'_> for WholeNumber {
    type Value = i64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an integer")
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
        // Exclusive upper bound: 2^63 itself is not an i64.
        const I64_RANGE: std::ops::Range<f64> =
            -9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0;
        if v.fract() == 0.0 && I64_RANGE.contains(&v) {
            Ok(v as i64)
        } else {
            Err(E::invalid_type(serde::de::Unexpected::Float(v), &self))
        }
    }
}

struct OptionalWholeNumber;

impl<'de> serde::de::Visitor<'de> for OptionalWholeNumber {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an integer or null")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        WholeNumber.visit_i64(v).map(Some)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        WholeNumber.visit_u64(v).map(Some)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        WholeNumber.visit_f64(v).map(Some)
    }
}

/// RFC 7396 JSON merge patch of `patch` into `target`.
pub fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Value::Object(target_fields) = target {
                for (key, value) in fields {
                    if value.is_null() {
                        target_fields.remove(key);
                    } else {
                        merge_patch(
                            target_fields.entry(key.clone()).or_insert(Value::Null),
                            value,
                        );
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// A record's writable fields with a JSON merge patch applied, ready to be
/// normalized and validated like a create body.
pub fn merged<I>(current: &I, patch: &serde_json::Value) -> crate::error::ApiResult<I>
where
    I: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut document = serde_json::to_value(current)?;
    merge_patch(&mut document, patch);
    crate::http::body::from_document(&document)
}

/// Trims a text field and turns an empty one into `None`.
pub fn clean(value: &mut Option<String>) {
    if let Some(v) = value {
        let trimmed = v.trim();
        if trimmed.is_empty() {
            *value = None;
        } else if trimmed.len() != v.len() {
            *v = trimmed.to_string();
        }
    }
}

/// Trims and lower-cases an email field.
pub fn clean_email(value: &mut Option<String>) {
    clean(value);
    if let Some(v) = value {
        *v = v.to_lowercase();
    }
}

/// The lower-cased text that `q` searches.
pub fn search_text(parts: &[Option<&str>]) -> String {
    parts
        .iter()
        .flatten()
        .map(|p| p.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Escapes `%`, `_` and `\` for a LIKE pattern using `\` as the escape.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
