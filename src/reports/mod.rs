//! Reports: figures computed in the database (GROUP BY, window functions),
//! one or a few queries each, never by loading records into the service.
//! The SQL of a report is written once for both backends; [`Dialect`] gives
//! the few expressions that differ. Money is summed per currency only.

pub mod api;
pub mod sales;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::Text;
use diesel::{QueryableByName, RunQueryDsl};

use crate::db::DbConn;
use crate::error::{ApiError, ApiResult};

/// The expressions that differ between the backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    pub fn of(conn: &DbConn) -> Self {
        match conn {
            DbConn::Postgresql(_) => Dialect::Postgres,
            DbConn::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Seconds since the epoch of a timestamp column, as a float.
    pub fn epoch(self, column: &str) -> String {
        match self {
            // date_part is double precision; EXTRACT is numeric (slower).
            Dialect::Postgres => format!("date_part('epoch', {column})"),
            Dialect::Sqlite => format!("((julianday({column}) - 2440587.5) * 86400.0)"),
        }
    }

    /// The bound parameter `$n` as a timestamp.
    pub fn timestamp(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}::timestamp"),
            Dialect::Sqlite => format!("${n}"),
        }
    }

    /// The `YYYY-MM-DD` of a timestamp column, as text.
    pub fn date_text(self, column: &str) -> String {
        match self {
            Dialect::Postgres => format!("to_char({column}, 'YYYY-MM-DD')"),
            Dialect::Sqlite => format!("substr({column}, 1, 10)"),
        }
    }

    /// An integer sum as text (PostgreSQL sums `BIGINT` into `NUMERIC`,
    /// which is read back exactly through text; SQLite's is exact below
    /// 2^53 minor units).
    pub fn sum_text(self, expression: &str) -> String {
        match self {
            Dialect::Postgres => format!("CAST(COALESCE(SUM({expression}), 0) AS TEXT)"),
            // SQLite's SUM of integers fails beyond i64; TOTAL sums in
            // floating point (exact up to 2^53) and never fails.
            Dialect::Sqlite => format!("CAST(CAST(TOTAL({expression}) AS INTEGER) AS TEXT)"),
        }
    }

    /// A float expression as `DOUBLE PRECISION`/`REAL`.
    pub fn float(self, expression: &str) -> String {
        match self {
            Dialect::Postgres => format!("CAST({expression} AS DOUBLE PRECISION)"),
            Dialect::Sqlite => format!("CAST({expression} AS REAL)"),
        }
    }
}

/// A query's text with its parameters, all bound as text (`$1`, `$2`… in
/// the order they are added; the dialect casts where a type is needed). The
/// text holds no other `$`.
pub struct Sql {
    pub text: String,
    pub binds: Vec<String>,
}

impl Sql {
    pub fn new() -> Self {
        Sql {
            text: String::new(),
            binds: Vec::new(),
        }
    }

    /// Adds a parameter; returns its number.
    pub fn bind(&mut self, value: impl Into<String>) -> usize {
        self.binds.push(value.into());
        self.binds.len()
    }

    /// Runs the query on the concrete connection.
    pub fn load<R>(&self, conn: &mut DbConn) -> ApiResult<Vec<R>>
    where
        R: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
    {
        // bench/sales.sh reads these lines to run the very same SQL alone.
        if log::log_enabled!(target: "crm::sql", log::Level::Debug) {
            log::debug!(
                target: "crm::sql",
                "{} -- binds {}",
                self.text,
                serde_json::to_string(&self.binds).unwrap_or_default()
            );
        }
        fn bound<'a, DB: diesel::backend::Backend>(
            text: &str,
            binds: &'a [String],
        ) -> BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>
        where
            String: diesel::serialize::ToSql<Text, DB>,
        {
            let mut query = diesel::sql_query(text.to_string()).into_boxed::<DB>();
            for b in binds {
                query = query.bind::<Text, _>(b.clone());
            }
            query
        }
        Ok(match conn {
            DbConn::Postgresql(c) => bound::<diesel::pg::Pg>(&self.text, &self.binds).load(c)?,
            DbConn::Sqlite(c) => {
                // SQLite numbers `$n` parameters in the order they first
                // appear; `?n` keeps the number written.
                let text = self.text.replace('$', "?");
                bound::<diesel::sqlite::Sqlite>(&text, &self.binds).load(c)?
            }
        })
    }
}

impl Default for Sql {
    fn default() -> Self {
        Sql::new()
    }
}

/// A timestamp as both backends compare it when bound as text: SQLite
/// compares the text diesel stores (`%F %T%.f`), PostgreSQL casts it.
pub fn timestamp_text(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.f").to_string()
}

/// The start of a day, as a bound timestamp.
pub fn day_start(d: NaiveDate) -> String {
    timestamp_text(d.and_time(chrono::NaiveTime::MIN))
}

/// An exact integer read back from a sum's text.
pub fn exact(text: &str) -> ApiResult<i128> {
    // PostgreSQL may write a NUMERIC sum with a fraction of zeros.
    let whole = text.split('.').next().unwrap_or(text);
    whole
        .parse::<i128>()
        .map_err(|e| ApiError::internal(format!("sum {text}: {e}")))
}

/// 422 naming `field` unless the date is in the years 1 to 9999 (what both
/// backends store and compare alike).
pub fn check_year(field: &str, date: NaiveDate) -> ApiResult<()> {
    use chrono::Datelike;
    if (1..=9999).contains(&date.year()) {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            "out_of_range",
            "must be in the years 1 to 9999",
        ))
    }
}

/// The first day of a default range: `days` before `to`.
pub fn days_before(to: NaiveDate, days: u64) -> ApiResult<NaiveDate> {
    to.checked_sub_days(chrono::Days::new(days))
        .ok_or_else(|| ApiError::field("to", "out_of_range", "must be in the years 1 to 9999"))
}

/// `from` and `to` (inclusive dates) checked: `from` not after `to`, at
/// most ten years apart.
pub fn check_range(from: NaiveDate, to: NaiveDate) -> ApiResult<()> {
    check_year("from", from)?;
    check_year("to", to)?;
    if from > to {
        return Err(ApiError::field(
            "to",
            "out_of_range",
            "must not be before from",
        ));
    }
    if (to - from).num_days() > 3660 {
        return Err(ApiError::field(
            "to",
            "out_of_range",
            "a report covers at most ten years",
        ));
    }
    Ok(())
}

/// Rounds `numerator / denominator` half up (both non-negative).
pub fn div_round(numerator: i128, denominator: i128) -> i128 {
    if denominator == 0 {
        return 0;
    }
    (numerator * 2 + denominator) / (denominator * 2)
}

/// A sum as JSON: money sums stay exact integers; a sum beyond `i64` (which
/// would take absurd amounts) saturates.
pub fn money(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
