//! Bulk upsert by the caller's key (`POST /{collection}/batch`), written
//! once: the body's shape and limits, parsing each item on its own (one bad
//! item fails alone), duplicate keys, the per-item results, `atomic`, and
//! `Idempotency-Key`. Each resource supplies one function that writes the
//! ready items in the batch's transaction (`repo::upsert_batch`).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::idempotency::{self, Created, IdempotencyKey};
use crate::auth::{Actor, Credentials, Need};
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::state::AppState;

/// Most items in one batch.
pub const MAX_ITEMS: usize = 1000;
/// Largest batch body: 1,000 items of up to 16 KiB each. Only an authorized
/// caller's body is read (see [`run`]).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

crate::text_enum! {
    /// The key that finds an item's stored record.
    MatchOn {
        ExternalId => "external_id",
        Email => "email",
    }
}

/// A batch body: each item stays a JSON value until it is parsed on its own.
#[derive(Debug)]
pub struct BatchBody {
    pub items: Vec<Value>,
    pub match_on: MatchOn,
    pub atomic: bool,
}

/// The fields of a batch body beside its items.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchOptions {
    /// Absent or null: `external_id`.
    #[serde(default)]
    match_on: Option<MatchOn>,
    /// Absent or null: false.
    #[serde(default)]
    atomic: Option<bool>,
}

impl BatchBody {
    /// Moves the items out of the document (deserializing them as values
    /// would rebuild each one) and reads the options from the rest.
    fn from_document(mut document: Value) -> ApiResult<Self> {
        let items = match document.as_object_mut().and_then(|o| o.remove("items")) {
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(ApiError::field(
                    "items",
                    "invalid_type",
                    "expected an array of 1 to 1,000 objects",
                ))
            }
            None => {
                return Err(ApiError::field(
                    "items",
                    "required",
                    "expected an array of 1 to 1,000 objects",
                ))
            }
        };
        let options: BatchOptions = super::body::from_owned_document(document)?;
        Ok(BatchBody {
            items,
            match_on: options.match_on.unwrap_or(MatchOn::ExternalId),
            atomic: options.atomic.unwrap_or(false),
        })
    }
}

crate::text_enum! {
    /// What the batch did with one item.
    ItemStatus {
        Created => "created",
        Updated => "updated",
        Unchanged => "unchanged",
        Failed => "failed",
    }
}

/// The outcome of one item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemResult {
    /// Position of the item in `items`, from 0.
    pub index: usize,
    pub status: ItemStatus,
    /// The record's id (null when the item failed).
    pub id: Option<String>,
    /// The record's version after the batch (null when the item failed).
    pub version: Option<i64>,
    /// Why the item failed, as in a 422 (fields relative to the item).
    pub errors: Vec<FieldError>,
}

/// The answer to a batch: one result per item, in order, and the counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    pub results: Vec<ItemResult>,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub failed: usize,
}

/// An item parsed, normalized and keyed, ready for the resource to write.
pub struct Item<I> {
    pub index: usize,
    pub key: String,
    pub input: I,
}

/// The results of a batch as they are decided.
pub struct Outcomes {
    results: Vec<ItemResult>,
}

impl Outcomes {
    fn new(n: usize) -> Self {
        Outcomes {
            results: (0..n)
                .map(|index| ItemResult {
                    index,
                    status: ItemStatus::Failed,
                    id: None,
                    version: None,
                    errors: Vec::new(),
                })
                .collect(),
        }
    }

    /// Records a failed item, or returns the error when it is not the item's
    /// fault (the whole batch fails then).
    pub fn fail(&mut self, index: usize, error: ApiError) -> ApiResult<()> {
        self.fail_all(index, vec![error])
    }

    /// [`Outcomes::fail`] with every error found for one item.
    pub fn fail_all(&mut self, index: usize, errors: Vec<ApiError>) -> ApiResult<()> {
        let mut fields = Vec::new();
        for error in errors {
            match error {
                ApiError::Validation(mut list) => fields.append(&mut list),
                ApiError::Conflict { detail, field, .. } => {
                    fields.push(FieldError::new(field, "conflict", detail))
                }
                ApiError::Unprocessable(detail) | ApiError::BadRequest(detail) => {
                    fields.push(FieldError::new("", "invalid", detail))
                }
                other => return Err(other),
            }
        }
        let errors = fields;
        if let Some(r) = self.results.get_mut(index) {
            r.status = ItemStatus::Failed;
            r.errors = errors;
        }
        Ok(())
    }

    pub fn done(&mut self, index: usize, status: ItemStatus, id: &str, version: i64) {
        if let Some(r) = self.results.get_mut(index) {
            r.status = status;
            r.id = Some(id.to_string());
            r.version = Some(version);
            r.errors.clear();
        }
    }

    fn finish(self) -> BatchResult {
        let count = |s: ItemStatus| self.results.iter().filter(|r| r.status == s).count();
        BatchResult {
            created: count(ItemStatus::Created),
            updated: count(ItemStatus::Updated),
            unchanged: count(ItemStatus::Unchanged),
            failed: count(ItemStatus::Failed),
            results: self.results,
        }
    }
}

/// An item as sent (a JSON object) with its index.
pub type RawItem = (usize, Map<String, Value>);

/// Rewrites raw items in place; returns the failed ones (removed from the list).
pub type Prepare = fn(&mut Tx, &mut Vec<RawItem>) -> ApiResult<Vec<(usize, ApiError)>>;

/// How a resource reads its items.
pub struct Parser<I> {
    /// The keys the resource can match on (the first is the default).
    pub match_on: &'static [MatchOn],
    /// Rewrites the items (JSON objects, with their indexes) before they are
    /// parsed, all at once (for example resolving `customer_external_id`
    /// in one query); returns the items that fail, removed from the list.
    pub prepare: Prepare,
    /// Parses one item and cleans it (trims, lower-cases…) so that its key
    /// and its comparison with the stored record hold; nothing is checked yet.
    pub parse: fn(Value) -> ApiResult<I>,
    /// Checks every rule of an item that will be written (an item identical
    /// to its stored record is never checked: it writes nothing).
    pub finish: fn(I) -> ApiResult<I>,
    /// The item's key for `match_on`.
    pub key: fn(&I, MatchOn) -> Option<&str>,
}

/// A batch the resource writes: the ready items, and the outcomes to fill.
pub struct Batch<I> {
    pub items: Vec<Item<I>>,
    pub match_on: MatchOn,
    pub outcomes: Outcomes,
    finish: fn(I) -> ApiResult<I>,
}

impl<I> Parser<I> {
    /// The item's key for `match_on`, owned.
    pub fn key_of(&self, input: &I, match_on: MatchOn) -> Option<String> {
        (self.key)(input, match_on).map(str::to_string)
    }
}

impl<I> Batch<I> {
    /// Parses every item on its own; 422 for the whole batch on a bad
    /// `match_on` or when two items share a key.
    pub fn parse(tx: &mut Tx, body: BatchBody, parser: &Parser<I>) -> ApiResult<Batch<I>> {
        if !parser.match_on.contains(&body.match_on) {
            let allowed: Vec<&str> = parser.match_on.iter().map(|m| m.as_str()).collect();
            return Err(ApiError::field(
                "match_on",
                "invalid_value",
                format!("must be one of {}", allowed.join(", ")),
            ));
        }
        let mut outcomes = Outcomes::new(body.items.len());
        let mut items = Vec::with_capacity(body.items.len());
        let key_name = body.match_on.as_str();
        let mut objects = Vec::with_capacity(body.items.len());
        for (index, raw) in body.items.into_iter().enumerate() {
            match raw {
                Value::Object(object) => objects.push((index, object)),
                _ => outcomes.fail(
                    index,
                    ApiError::field("", "invalid_type", "expected a JSON object"),
                )?,
            }
        }
        for (index, error) in (parser.prepare)(tx, &mut objects)? {
            outcomes.fail(index, error)?;
        }
        for (index, object) in objects {
            let input = match (parser.parse)(Value::Object(object)) {
                Ok(input) => input,
                Err(e) => {
                    outcomes.fail(index, e)?;
                    continue;
                }
            };
            match (parser.key)(&input, body.match_on) {
                Some(key) => items.push(Item {
                    index,
                    key: key.to_string(),
                    input,
                }),
                None => outcomes.fail(
                    index,
                    ApiError::field(
                        key_name,
                        "key_required",
                        format!("every item of a batch matched on {key_name} needs one"),
                    ),
                )?,
            }
        }
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut duplicates = Vec::new();
        for item in &items {
            if let Some(earlier) = first.insert(&item.key, item.index) {
                for i in [earlier, item.index] {
                    duplicates.push(FieldError::new(
                        format!("items[{i}].{key_name}"),
                        "duplicate_key",
                        format!(
                            "items {earlier} and {} have the same {key_name}",
                            item.index
                        ),
                    ));
                }
            }
        }
        if !duplicates.is_empty() {
            return Err(ApiError::Validation(duplicates));
        }
        Ok(Batch {
            items,
            match_on: body.match_on,
            outcomes,
            finish: parser.finish,
        })
    }

    /// The items that pass every rule (see [`Parser::finish`]); the others
    /// fail in the outcomes.
    pub fn checked(&mut self, items: Vec<Item<I>>) -> ApiResult<Vec<Item<I>>> {
        let mut passed = Vec::with_capacity(items.len());
        for item in items {
            match (self.finish)(item.input) {
                Ok(input) => passed.push(Item { input, ..item }),
                Err(e) => self.outcomes.fail(item.index, e)?,
            }
        }
        Ok(passed)
    }
}

crate::text_enum! {
    /// The key that finds an item's stored record, where only `external_id` can.
    ExternalIdKey {
        ExternalId => "external_id",
    }
}

/// Declares the contract type of one resource's batch body: its items'
/// schema and the keys it can match on.
#[macro_export]
macro_rules! batch_request {
    ($(#[$meta:meta])* $name:ident of $item:ty, match_on $key:ty) => {
        $(#[$meta])*
        #[derive(utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        pub struct $name {
            /// 1 to 1,000 records in the create shape, each with its key.
            #[schema(min_items = 1, max_items = 1000)]
            items: Vec<$item>,
            /// The key that finds an item's stored record (default `external_id`).
            match_on: Option<$key>,
            /// All or nothing: any failing item fails the batch with a 422 naming
            /// `items[i].field`, and nothing is written (default false).
            atomic: Option<bool>,
        }
    };
}

/// Counts the items of a batch body without building them, so that a body
/// of millions of tiny items is refused before it takes memory; `None` when
/// the body is not of that shape (the full parse then says what is wrong).
fn item_count(bytes: &[u8]) -> Option<usize> {
    struct Count(usize);
    impl<'de> Deserialize<'de> for Count {
        fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
            struct Items;
            impl<'de> serde::de::Visitor<'de> for Items {
                type Value = Count;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an array")
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Count, A::Error> {
                    let mut n = 0;
                    while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                        n += 1;
                    }
                    Ok(Count(n))
                }
            }
            de.deserialize_seq(Items)
        }
    }
    #[derive(Deserialize)]
    struct Shape {
        items: Count,
    }
    // IgnoredAny skips each item without allocating.
    serde_json::from_slice::<Shape>(bytes)
        .ok()
        .map(|s| s.items.0)
}

/// The body of a batch, read once the caller is authorized (so that only a
/// caller with the role can make the service buffer up to
/// [`MAX_BODY_BYTES`]) and parsed off the async threads, before any
/// transaction begins.
async fn read_body(req: &HttpRequest, payload: web::Payload) -> ApiResult<(web::Bytes, BatchBody)> {
    let bytes = super::body::read(req, payload.into_inner(), MAX_BODY_BYTES).await?;
    let parsed = bytes.clone();
    let body = web::block(move || {
        if item_count(&parsed).is_some_and(|n| n > MAX_ITEMS) {
            return Err(too_many());
        }
        let body = BatchBody::from_document(super::body::parse_document(&parsed)?)?;
        if body.items.is_empty() {
            return Err(ApiError::field(
                "items",
                "too_few",
                format!("a batch holds 1 to {MAX_ITEMS} items"),
            ));
        }
        if body.items.len() > MAX_ITEMS {
            return Err(too_many());
        }
        Ok(body)
    })
    .await
    .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))??;
    Ok((bytes, body))
}

fn too_many() -> ApiError {
    ApiError::field(
        "items",
        "too_many",
        format!("a batch holds 1 to {MAX_ITEMS} items; split larger ones"),
    )
}

/// `POST /{collection}/batch`: authorizes, reads and parses the body, runs
/// `write` in one transaction and answers 200 with every item's result; with
/// `atomic`, any failed item answers 422 instead and nothing is written.
pub async fn run<I: 'static>(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    credentials: Credentials,
    key: IdempotencyKey,
    payload: web::Payload,
    parser: &'static Parser<I>,
    write: fn(&mut Tx, &Actor, &mut Batch<I>) -> ApiResult<()>,
) -> ApiResult<HttpResponse> {
    crate::auth::authorize(state, credentials.clone(), Need::Write, |_, _| Ok(())).await?;
    let (bytes, body) = read_body(req, payload).await?;
    idempotency::create(
        state,
        credentials,
        Need::Write,
        key,
        req,
        &bytes,
        move |tx, actor| {
            let atomic = body.atomic;
            let mut batch = Batch::parse(tx, body, parser)?;
            write(tx, actor, &mut batch)?;
            let result = batch.outcomes.finish();
            if atomic && result.failed > 0 {
                let errors = result
                    .results
                    .into_iter()
                    .filter(|r| r.status == ItemStatus::Failed)
                    .flat_map(|r| {
                        r.errors.into_iter().map(move |e| {
                            let field = if e.field.is_empty() {
                                format!("items[{}]", r.index)
                            } else {
                                format!("items[{}].{}", r.index, e.field)
                            };
                            FieldError::new(field, &e.code, e.message)
                        })
                    })
                    .collect();
                return Err(ApiError::Validation(errors));
            }
            Ok(Created::answer(
                StatusCode::OK,
                serde_json::to_value(&result)?,
            ))
        },
    )
    .await
}

/// For resources whose items need no preparation.
pub fn no_preparation(_: &mut Tx, _: &mut Vec<RawItem>) -> ApiResult<Vec<(usize, ApiError)>> {
    Ok(Vec::new())
}

/// Parses one item as the create body `I` and normalizes it.
pub fn parse_item<I: serde::de::DeserializeOwned>(
    item: Value,
    normalize: fn(I) -> ApiResult<I>,
) -> ApiResult<I> {
    normalize(super::body::from_owned_document(item)?)
}

/// Text with at least one character that trimming keeps (the pattern every
/// required name uses).
const NOT_BLANK: &str =
    "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]";

/// The schema of a batch item of a record that refers to a customer: the
/// create shape `T` with its `external_id` required, where
/// `customer_external_id` may replace `customer_id`.
pub fn customer_keyed<T: utoipa::PartialSchema>(
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    use utoipa::openapi::RefOr;
    let mut schema = T::schema();
    if let RefOr::T(Schema::Object(object)) = &mut schema {
        object.required.retain(|r| r != "customer_id");
        // The only key these records can be matched on: required, not null.
        object.required.push("external_id".to_string());
        object.properties.insert(
            "external_id".to_string(),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(200))
                .pattern(Some(NOT_BLANK))
                .description(Some(
                    "Your own key for this record; it finds the stored one.",
                ))
                .into(),
        );
        object.properties.insert(
            "customer_external_id".to_string(),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(200))
                .pattern(Some(NOT_BLANK))
                .description(Some(
                    "The customer's `external_id`, instead of `customer_id` (one of the two is required).",
                ))
                .into(),
        );
    }
    schema
}

/// Declares the contract type of a batch item that may name its customer
/// by `customer_external_id`.
#[macro_export]
macro_rules! customer_keyed_item {
    ($(#[$meta:meta])* $name:ident of $input:ty) => {
        $(#[$meta])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::http::batch::customer_keyed::<$input>()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }

            fn schemas(
                schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
            ) {
                <$input as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}
