//! The one way a list is asked for. [`ListQuery`] parses `limit`, `cursor`,
//! `sort`, `q` and `include_total` for every list, hands the remaining
//! parameters to the resource's own filter type (which refuses unknown ones),
//! and documents all of them in the contract. Each sort order is declared
//! once with [`sort_order!`](crate::sort_order): its name, column, direction
//! and cursor key.

use std::borrow::Cow;
use std::future::{ready, Ready};

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Ref, Required, Type};
use utoipa::IntoParams;

use super::pagination::{self, After};
use crate::error::{ApiError, ApiResult, FieldError};

/// The orders a list can be read in.
pub trait SortOrder: Copy + Eq + Send + 'static {
    const DEFAULT: Self;
    /// False for lists with one fixed order: they take no `sort` parameter.
    const CHOOSABLE: bool = true;
    fn as_str(self) -> &'static str;
    fn all() -> &'static [Self];
    /// The enum's name and schema in the contract.
    fn schema_name() -> Cow<'static, str>;
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>;
}

/// A resource's own list parameters (its filters).
pub trait ListFilters: DeserializeOwned + IntoParams + Send + 'static {
    /// What `q` searches, for lists with a text search.
    const SEARCH: Option<&'static str> = None;
    /// What `total` counts, for lists that offer `include_total`.
    const TOTAL: Option<&'static str> = None;
    /// Filters that may be given more than once; their values reach the
    /// filter type joined by commas (`status=a&status=b` is `status=a,b`).
    const REPEATABLE: &'static [&'static str] = &[];
}

/// A list without filters of its own.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFilters {}

impl IntoParams for NoFilters {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        Vec::new()
    }
}

impl ListFilters for NoFilters {}

/// A parsed list request.
#[derive(Debug)]
pub struct ListQuery<S, F> {
    pub limit: i64,
    pub sort: S,
    /// Where the previous page ended (a cursor made for this sort).
    pub after: Option<After>,
    /// The `LIKE` pattern of `q`, when given and not empty.
    pub search: Option<String>,
    pub include_total: bool,
    pub filters: F,
}

impl<S: SortOrder, F> ListQuery<S, F> {
    /// Ends a page of `rows` fetched with `limit + 1`: drops the extra row
    /// and makes `next_cursor` from the last row kept.
    pub fn finish<T>(
        &self,
        rows: Vec<T>,
        key: impl Fn(S, &T) -> (String, String),
    ) -> (Vec<T>, Option<String>) {
        let sort = self.sort;
        pagination::finish(rows, self.limit, sort.as_str(), |row| key(sort, row))
    }

    /// The same request with other filters (a nested list passing its parent on).
    pub fn with_filters<G>(self, filters: G) -> ListQuery<S, G> {
        ListQuery {
            limit: self.limit,
            sort: self.sort,
            after: self.after,
            search: self.search,
            include_total: self.include_total,
            filters,
        }
    }
}

/// The shared parameters as sent, before they are checked.
struct Shared<'a> {
    limit: Option<&'a str>,
    cursor: Option<&'a str>,
    sort: Option<&'a str>,
    q: Option<&'a str>,
    include_total: Option<&'a str>,
}

impl<S: SortOrder, F: ListFilters> ListQuery<S, F> {
    pub fn parse(query_string: &str) -> ApiResult<Self> {
        let pairs: Vec<(Cow<str>, Cow<str>)> =
            form_urlencoded::parse(query_string.as_bytes()).collect();
        if let Some((name, _)) = pairs
            .iter()
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError::field(
                name.replace('\0', ""),
                "invalid_character",
                "text may not contain the NUL character (U+0000)",
            ));
        }
        let mut shared = Shared {
            limit: None,
            cursor: None,
            sort: None,
            q: None,
            include_total: None,
        };
        let mut rest = form_urlencoded::Serializer::new(String::new());
        let mut repeated: Vec<(&str, String)> = Vec::new();
        for (name, value) in &pairs {
            if let Some(name) = F::REPEATABLE.iter().find(|r| **r == name.as_ref()) {
                match repeated.iter_mut().find(|(n, _)| n == name) {
                    Some((_, joined)) => {
                        joined.push(',');
                        joined.push_str(value);
                    }
                    None => repeated.push((name, value.to_string())),
                }
                continue;
            }
            let slot = match name.as_ref() {
                "limit" => &mut shared.limit,
                "cursor" => &mut shared.cursor,
                "sort" if S::CHOOSABLE => &mut shared.sort,
                "q" if F::SEARCH.is_some() => &mut shared.q,
                "include_total" if F::TOTAL.is_some() => &mut shared.include_total,
                _ => {
                    rest.append_pair(name, value);
                    continue;
                }
            };
            if slot.replace(value.as_ref()).is_some() {
                return Err(ApiError::field(
                    name.as_ref(),
                    "duplicate_field",
                    "this field is given more than once",
                ));
            }
        }
        for (name, value) in &repeated {
            rest.append_pair(name, value);
        }
        let rest = rest.finish();
        let filters: F = super::body::query_from_str(&rest)?;

        let mut errors = Vec::new();
        let limit = match shared.limit.map(str::parse::<i64>) {
            Some(Err(_)) => {
                errors.push(FieldError::new(
                    "limit",
                    "invalid_type",
                    "expected an integer",
                ));
                pagination::DEFAULT_LIMIT
            }
            n => collect(
                pagination::limit(n.and_then(Result::ok)),
                pagination::DEFAULT_LIMIT,
                &mut errors,
            )?,
        };
        let sort = match shared.sort {
            None => S::DEFAULT,
            Some(text) => match S::all().iter().find(|s| s.as_str() == text) {
                Some(s) => *s,
                None => {
                    let allowed: Vec<&str> = S::all().iter().map(|s| s.as_str()).collect();
                    errors.push(FieldError::new(
                        "sort",
                        "invalid_value",
                        format!("must be one of {}", allowed.join(", ")),
                    ));
                    S::DEFAULT
                }
            },
        };
        let include_total = match shared.include_total {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                errors.push(FieldError::new(
                    "include_total",
                    "invalid_type",
                    "expected true or false",
                ));
                false
            }
        };
        let search = collect(pagination::search_pattern(shared.q), None, &mut errors)?;
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let after = pagination::decode_cursor(shared.cursor, sort.as_str())?;
        Ok(ListQuery {
            limit,
            sort,
            after,
            search,
            include_total,
            filters,
        })
    }
}

/// A parameter's value, or its default with its validation errors kept so
/// that one answer names every bad parameter.
fn collect<T>(result: ApiResult<T>, default: T, errors: &mut Vec<FieldError>) -> ApiResult<T> {
    match result {
        Err(ApiError::Validation(mut e)) => {
            errors.append(&mut e);
            Ok(default)
        }
        other => other,
    }
}

impl<S: SortOrder, F: ListFilters> FromRequest for ListQuery<S, F> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::parse(req.query_string()))
    }
}

fn query_param(
    name: &str,
    description: &str,
    schema: impl Into<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .description(Some(description))
        .required(Required::False)
        .schema(Some(schema))
        .build()
}

impl<S: SortOrder, F: ListFilters> IntoParams for ListQuery<S, F> {
    fn into_params(provider: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = vec![
            query_param(
                "limit",
                "Page size, 1 to 500 (default 50).",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Int64,
                    )))
                    .minimum(Some(1))
                    .maximum(Some(pagination::MAX_LIMIT)),
            ),
            query_param(
                "cursor",
                if S::CHOOSABLE {
                    "`next_cursor` of the previous page (opaque; valid only with the same\n`sort`)."
                } else {
                    "`next_cursor` of the previous page (opaque)."
                },
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .pattern(Some("^[A-Za-z0-9_-]+$")),
            ),
        ];
        if S::CHOOSABLE {
            params.push(query_param(
                "sort",
                &format!(
                    "Sort order (default `{}`); ties are broken by id.",
                    S::DEFAULT.as_str()
                ),
                Ref::from_schema_name(S::schema_name()),
            ));
        }
        params.extend(F::into_params(provider));
        if let Some(search) = F::SEARCH {
            params.push(query_param(
                "q",
                search,
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(pagination::MAX_SEARCH_CHARS)),
            ));
        }
        if let Some(total) = F::TOTAL {
            params.push(query_param(
                "include_total",
                total,
                ObjectBuilder::new().schema_type(Type::Boolean),
            ));
        }
        params
    }
}

/// A list route: the handler, registered with the schemas its query
/// parameters name (the sort enum), which no request or response body
/// carries into the contract.
pub struct ListRoute<Q, H> {
    handler: H,
    query: std::marker::PhantomData<fn() -> Q>,
}

impl<S: SortOrder, F: ListFilters, H> ListRoute<ListQuery<S, F>, H> {
    pub fn new(handler: H) -> Self {
        ListRoute {
            handler,
            query: std::marker::PhantomData,
        }
    }
}

impl<Q: 'static, H: actix_web::dev::HttpServiceFactory> actix_web::dev::HttpServiceFactory
    for ListRoute<Q, H>
{
    fn register(self, config: &mut actix_web::dev::AppService) {
        self.handler.register(config)
    }
}

impl<S: SortOrder, F: ListFilters, H: utoipa_actix_web::OpenApiFactory>
    utoipa_actix_web::OpenApiFactory for ListRoute<ListQuery<S, F>, H>
{
    fn paths(&self) -> utoipa::openapi::path::Paths {
        self.handler.paths()
    }

    fn schemas(
        &self,
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        self.handler.schemas(schemas);
        if S::CHOOSABLE {
            schemas.push((S::schema_name().into_owned(), S::schema()));
        }
    }
}

/// One page of a list: the count when asked for, the rows (selected by name)
/// in the query's sort after its cursor, each turned into a record by
/// `$into` (which may fail), and the page with its `next_cursor`.
///
/// `load_page!(conn, q, filtered(q), CustomerRow => CustomerRow::into_customer, CustomerPage)`
#[macro_export]
macro_rules! load_page {
    ($conn:expr, $q:expr, $filtered:expr, $row:ty => $into:expr, $page:ident) => {{
        let total = match $q.include_total {
            true => Some(diesel::QueryDsl::count($filtered).get_result::<i64>($conn)?),
            false => None,
        };
        let rows: Vec<$row> = $q
            .sort
            .apply($filtered, $q.after.as_ref())?
            .select(<$row as diesel::SelectableHelper<_>>::as_select())
            .limit($q.limit + 1)
            .load($conn)?;
        let data = rows
            .into_iter()
            .map($into)
            .collect::<$crate::error::ApiResult<Vec<_>>>()?;
        let (data, next_cursor) = $q.finish(data, |sort, record| sort.key_of(record));
        Ok($page {
            data,
            next_cursor,
            total,
        })
    }};
}

/// Declares a list's sort orders once: the enum of their names (a leading
/// `-` sorts descending), and for each its column, direction and the kind of
/// its cursor key (`time`, `text` or `int`, read from the record's field of
/// the column's name, or returned by the record's method named after `by`):
///
/// ```ignore
/// sort_order! {
///     /// Sort order of a customer list.
///     CustomerSort on customers for Customer, default CreatedAtDesc {
///         CreatedAt => "created_at": created_at time asc,
///         CreatedAtDesc => "-created_at": created_at time desc,
///     }
/// }
/// ```
#[macro_export]
macro_rules! sort_order {
    (
        $(#[$meta:meta])*
        $name:ident on $table:ident for $record:ty, default $default:ident $(, fixed $fixed:tt)? {
            $($variant:ident => $text:tt : $column:ident $kind:ident $dir:ident $(by $method:ident)?),+ $(,)?
        }
    ) => {
        $crate::text_enum! { $(#[$meta])* $name { $($variant => $text),+ } }

        impl $crate::http::list::SortOrder for $name {
            const DEFAULT: Self = $name::$default;
            $(const CHOOSABLE: bool = !$fixed;)?
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
            fn all() -> &'static [Self] {
                &[$($name::$variant),+]
            }
            fn schema_name() -> std::borrow::Cow<'static, str> {
                <$name as utoipa::ToSchema>::name()
            }
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <$name as utoipa::PartialSchema>::schema()
            }
        }

        impl $name {
            /// Orders `query` by this sort, starting after the cursor's row.
            pub fn apply<'a>(
                self,
                query: $table::BoxedQuery<'a, $crate::db::MultiBackend>,
                after: Option<&$crate::http::pagination::After>,
            ) -> $crate::error::ApiResult<$table::BoxedQuery<'a, $crate::db::MultiBackend>> {
                Ok(match self {
                    $($name::$variant => {
                        let after = $crate::sort_order!(@after $kind, after);
                        $crate::keyset!(
                            query,
                            $table::$column,
                            $table::id,
                            $crate::sort_order!(@desc $dir),
                            after
                        )
                    })+
                })
            }

            /// The cursor key of a record in this order.
            pub fn key_of(self, record: &$record) -> (String, String) {
                match self {
                    $($name::$variant => $crate::sort_order!(
                        @key $kind,
                        $crate::sort_order!(@field record, $column $(, $method)?),
                        record.id
                    )),+
                }
            }
        }
    };
    (@after time, $after:expr) => { $after.map($crate::http::pagination::After::at).transpose()? };
    (@after text, $after:expr) => { $after.map($crate::http::pagination::After::text) };
    (@after int, $after:expr) => { $after.map($crate::http::pagination::After::int).transpose()? };
    (@key time, $value:expr, $id:expr) => { $crate::http::pagination::time_key_of($value, &$id) };
    (@key text, $value:expr, $id:expr) => { ($value.clone(), $id.clone()) };
    (@key int, $value:expr, $id:expr) => { ($value.to_string(), $id.clone()) };
    (@field $record:ident, $column:ident) => { $record.$column };
    (@field $record:ident, $column:ident, $method:ident) => { $record.$method() };
    (@desc asc) => { false };
    (@desc desc) => { true };
}
