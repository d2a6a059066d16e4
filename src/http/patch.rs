//! JSON merge patch (RFC 7396) bodies, derived from a resource's input type:
//! `Patch<CustomerInput>` accepts exactly the input's fields, and its schema
//! is the input's with nothing required and every field that may be left out
//! of a create nullable (`null` clears it or resets it to its default). A
//! field added to the input is therefore patchable at once, with the same
//! limits.

use std::borrow::Cow;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use utoipa::openapi::schema::{OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{ObjectBuilder, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::error::ApiResult;

/// An input type that PATCH bodies are derived from.
pub trait PatchTarget: DeserializeOwned + ToSchema + 'static {
    /// The smallest valid document of the input (its required fields): a
    /// patch is checked by merging it over this and reading the result.
    fn template() -> Value;

    /// The object fields that merge field by field, each with its type's
    /// own patch schema: `(field, schema name, schema)`.
    fn nested_patches() -> Vec<NestedPatch> {
        Vec::new()
    }

    /// Fields whose patch schema says more than "the input's, or null" (a
    /// map merged key by key, say).
    fn patch_schemas() -> Vec<(&'static str, RefOr<Schema>)> {
        Vec::new()
    }
}

/// An object field that merges field by field: `(field, schema name, schema)`.
pub type NestedPatch = (&'static str, Cow<'static, str>, RefOr<Schema>);

/// A nested object's entry for [`PatchTarget::nested_patches`].
pub fn nested<T: PatchTarget>(field: &'static str) -> NestedPatch {
    (field, Patch::<T>::name(), Patch::<T>::schema())
}

/// The body of a PATCH of `T`'s record.
pub struct Patch<T>(PhantomData<fn() -> T>);

impl<T: PatchTarget> Patch<T> {
    /// Checks a patch document before any record is read: unknown fields,
    /// wrong types and values, and clearing a required field are refused
    /// (422 naming the field), as the merge with the record would refuse them.
    pub fn check(document: &Value) -> ApiResult<()> {
        // `null` removes a field in the merge, so an unknown field sent as
        // null would vanish unseen: those are looked up in the schema.
        if let Some(unknown) = unknown_null(document, &T::schema(), &T::nested_patches(), "") {
            return Err(crate::error::ApiError::field(
                unknown,
                "unknown_field",
                "this field is not accepted here",
            ));
        }
        let mut probe = T::template();
        crate::model::merge_patch(&mut probe, document);
        super::body::from_document::<T>(&probe).map(|_| ())
    }
}

impl<'de, T> serde::Deserialize<'de> for Patch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct AnObject;
        impl<'de> Visitor<'de> for AnObject {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(())
            }
        }
        de.deserialize_map(AnObject).map(|()| Patch(PhantomData))
    }
}

impl<T: PatchTarget> ToSchema for Patch<T> {
    fn name() -> Cow<'static, str> {
        let input = T::name();
        Cow::Owned(format!(
            "{}Patch",
            input.strip_suffix("Input").unwrap_or(&input)
        ))
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        T::schemas(schemas);
        for (_, name, schema) in T::nested_patches() {
            schemas.push((name.into_owned(), schema));
        }
    }
}

impl<T: PatchTarget> PartialSchema for Patch<T> {
    fn schema() -> RefOr<Schema> {
        let RefOr::T(Schema::Object(mut object)) = T::schema() else {
            return T::schema();
        };
        let required = std::mem::take(&mut object.required);
        for (name, property) in object.properties.iter_mut() {
            if !required.contains(name) {
                *property = nullable(property.clone());
            }
        }
        for (field, schema) in T::patch_schemas() {
            if let Some(property) = object.properties.get_mut(field) {
                *property = schema;
            }
        }
        for (field, name, _) in T::nested_patches() {
            if let Some(property) = object.properties.get_mut(field) {
                *property = nullable(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(name)));
            }
        }
        object.description = Some(format!(
            "Changes to a record as a JSON merge patch (RFC 7396): only the fields sent \
             change; `null` clears a field or resets it to its default; objects merge \
             field by field. The fields and their rules are those of `{}`.",
            T::name()
        ));
        RefOr::T(Schema::Object(object))
    }
}

/// The path of the first field of `document` sent as `null` that `schema`
/// (an object's) does not have, looking one level into nested patches.
fn unknown_null(
    document: &Value,
    schema: &RefOr<Schema>,
    nested: &[NestedPatch],
    prefix: &str,
) -> Option<String> {
    let (Value::Object(fields), RefOr::T(Schema::Object(object))) = (document, schema) else {
        return None;
    };
    for (name, value) in fields {
        if value.is_null() && !object.properties.contains_key(name) {
            return Some(format!("{prefix}{name}"));
        }
        if let Some((field, _, schema)) = nested.iter().find(|(field, _, _)| field == name) {
            let inner = unknown_null(value, schema, &[], &format!("{prefix}{field}."));
            if inner.is_some() {
                return inner;
            }
        }
    }
    None
}

const RESET: &str = "`null` resets it to its default.";

fn with_reset(description: Option<String>) -> String {
    match description {
        Some(d) => format!("{d} {RESET}"),
        None => RESET.to_string(),
    }
}

/// The same schema, also allowing `null`.
fn nullable(schema: RefOr<Schema>) -> RefOr<Schema> {
    match schema {
        RefOr::T(Schema::Object(mut object)) => {
            match &object.schema_type {
                SchemaType::Type(Type::Null) | SchemaType::AnyValue => {}
                SchemaType::Type(t) => {
                    object.schema_type = SchemaType::from_iter([t.clone(), Type::Null]);
                    object.description = Some(with_reset(object.description.take()));
                }
                SchemaType::Array(types) => {
                    if !types.contains(&Type::Null) {
                        let mut types = types.clone();
                        types.push(Type::Null);
                        object.schema_type = SchemaType::from_iter(types);
                    }
                }
            }
            RefOr::T(Schema::Object(object))
        }
        RefOr::T(Schema::Array(mut array)) => {
            if let SchemaType::Type(t) = &array.schema_type {
                array.schema_type = SchemaType::from_iter([t.clone(), Type::Null]);
                array.description = Some(with_reset(array.description.take()));
            }
            RefOr::T(Schema::Array(array))
        }
        RefOr::T(Schema::OneOf(one_of))
            if one_of.items.iter().any(|i| {
                matches!(i, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
            }) =>
        {
            RefOr::T(Schema::OneOf(one_of))
        }
        other => RefOr::T(Schema::OneOf(
            OneOfBuilder::new()
                .item(other)
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .description(Some(RESET))
                .build(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in input.
    #[derive(serde::Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct ThingInput {
        #[schema(max_length = 10)]
        name: String,
        note: Option<String>,
        #[serde(default)]
        done: bool,
        #[serde(default)]
        tags: Vec<String>,
    }

    impl PatchTarget for ThingInput {
        fn template() -> Value {
            serde_json::json!({"name": "-"})
        }
    }

    #[test]
    fn the_patch_schema_is_the_inputs_with_nothing_required() {
        assert_eq!(Patch::<ThingInput>::name(), "ThingPatch");
        let input = serde_json::to_value(ThingInput::schema()).unwrap_or_default();
        let patch = serde_json::to_value(Patch::<ThingInput>::schema()).unwrap_or_default();
        let names = |s: &Value| -> Vec<String> {
            s["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert_eq!(names(&input), names(&patch));
        assert!(patch.get("required").is_none());
        // Required stays non-null with its limits; the others accept null.
        assert_eq!(patch["properties"]["name"]["type"], "string");
        assert_eq!(patch["properties"]["name"]["maxLength"], 10);
        assert_eq!(
            patch["properties"]["done"]["type"],
            serde_json::json!(["boolean", "null"])
        );
        assert_eq!(
            patch["properties"]["tags"]["type"],
            serde_json::json!(["array", "null"])
        );
        assert_eq!(
            patch["properties"]["note"]["type"],
            serde_json::json!(["string", "null"])
        );
    }

    #[test]
    fn a_patch_is_checked_against_the_input() {
        let ok = |v: Value| Patch::<ThingInput>::check(&v).is_ok();
        assert!(ok(serde_json::json!({})));
        assert!(ok(
            serde_json::json!({"note": null, "done": null, "tags": ["a"]})
        ));
        assert!(ok(serde_json::json!({"name": "x"})));
        assert!(
            !ok(serde_json::json!({"name": null})),
            "a required field cannot be cleared"
        );
        assert!(!ok(serde_json::json!({"colour": "red"})), "unknown field");
        assert!(
            !ok(serde_json::json!({"colour": null})),
            "unknown field, null"
        );
        assert!(!ok(serde_json::json!({"": null})), "unknown field, no name");
        assert!(!ok(serde_json::json!({"done": "yes"})), "wrong type");
    }
}
