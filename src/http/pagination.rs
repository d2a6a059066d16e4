//! Keyset pagination shared by every list: an opaque cursor carrying the sort
//! and the last row's sort value and id, and the `keyset!` macro that turns
//! it into an index-friendly `WHERE … ORDER BY … LIMIT`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

pub fn limit(requested: Option<i64>) -> ApiResult<i64> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::field(
            "limit",
            "out_of_range",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

#[derive(Serialize, Deserialize)]
struct CursorData {
    /// The sort the cursor was made for.
    s: String,
    /// The last row's sort value.
    v: String,
    /// The last row's id (the tie-breaker).
    i: String,
}

/// Where the previous page ended.
#[derive(Debug)]
pub struct After {
    pub value: String,
    pub id: String,
}

impl After {
    /// The key of a list sorted by a time column.
    pub fn at(&self) -> ApiResult<(NaiveDateTime, String)> {
        NaiveDateTime::parse_from_str(&self.value, TIME_FORMAT)
            .map(|t| (t, self.id.clone()))
            .map_err(|_| bad_cursor())
    }

    /// The key of a list sorted by an integer column.
    pub fn int(&self) -> ApiResult<(i64, String)> {
        self.value
            .parse::<i64>()
            .map(|n| (n, self.id.clone()))
            .map_err(|_| bad_cursor())
    }

    /// The key of a list sorted by a text column.
    pub fn text(&self) -> (String, String) {
        (self.value.clone(), self.id.clone())
    }
}

/// The cursor key of a row sorted by a time column.
pub fn time_key_of(t: DateTime<Utc>, id: &str) -> (String, String) {
    (time_key(crate::db::from_utc(t)), id.to_string())
}

/// Ends a page: drops the extra row fetched to learn whether more follow,
/// and makes `next_cursor` from the last row kept.
pub fn finish<T>(
    mut items: Vec<T>,
    limit: i64,
    sort: &str,
    key: impl Fn(&T) -> (String, String),
) -> (Vec<T>, Option<String>) {
    let has_more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next = match (has_more, items.last()) {
        (true, Some(last)) => {
            let (value, id) = key(last);
            Some(encode_cursor(sort, value, id))
        }
        _ => None,
    };
    (items, next)
}

/// The longest `q` a list accepts, in characters as sent.
pub const MAX_SEARCH_CHARS: usize = 200;

/// The LIKE pattern of a `q` search (case-insensitive: compared with the
/// lower-cased `search_text`), or `None` for an empty search.
pub fn search_pattern(q: Option<&str>) -> ApiResult<Option<String>> {
    let Some(q) = q.map(str::trim) else {
        return Ok(None);
    };
    // Counted as sent: lower-casing can lengthen text (`İ` becomes two).
    if q.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::field(
            "q",
            "too_long",
            format!("must be at most {MAX_SEARCH_CHARS} characters"),
        ));
    }
    let q = q.to_lowercase();
    Ok((!q.is_empty()).then(|| format!("%{}%", crate::model::escape_like(&q))))
}

const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

pub fn time_key(t: NaiveDateTime) -> String {
    t.format(TIME_FORMAT).to_string()
}

fn bad_cursor() -> ApiError {
    ApiError::field(
        "cursor",
        "invalid_cursor",
        "not a cursor from this list with this sort; start again without one",
    )
}

pub fn encode_cursor(sort: &str, value: String, id: String) -> String {
    let data = CursorData {
        s: sort.to_string(),
        v: value,
        i: id,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).unwrap_or_default())
}

/// Decodes a cursor, refusing one made for another sort.
pub fn decode_cursor(cursor: Option<&str>, sort: &str) -> ApiResult<Option<After>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad_cursor())?;
    let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| bad_cursor())?;
    if data.s != sort {
        return Err(bad_cursor());
    }
    Ok(Some(After {
        value: data.v,
        id: data.i,
    }))
}

/// Applies keyset paging and ordering on `(column, id)` to a boxed query.
/// `column >= v` (or `<=`) is repeated outside the OR so that the database
/// starts its index range at the cursor instead of scanning from the start.
#[macro_export]
macro_rules! keyset {
    ($query:expr, $column:expr, $id:expr, $desc:expr, $after:expr) => {{
        let query = $query;
        let query = match $after {
            Some((value, last_id)) => {
                if $desc {
                    query
                        .filter($column.le(value.clone()))
                        .filter($column.lt(value).or($id.lt(last_id)))
                } else {
                    query
                        .filter($column.ge(value.clone()))
                        .filter($column.gt(value).or($id.gt(last_id)))
                }
            }
            None => query,
        };
        if $desc {
            query.order(($column.desc(), $id.desc()))
        } else {
            query.order(($column.asc(), $id.asc()))
        }
    }};
}

/// Defines a list response type `{data, next_cursor, total}` for one record type.
#[macro_export]
macro_rules! page_type {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            /// The records of this page, in the requested order.
            pub data: Vec<$item>,
            /// Pass as `cursor` to get the next page; null on the last page.
            pub next_cursor: Option<String>,
            /// Number of records matching the filters; only with `include_total=true`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub total: Option<i64>,
        }
    };
}
