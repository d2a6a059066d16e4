//! Reports: figures computed in the database (GROUP BY, window functions),
//! one or a few queries each, never by loading records into the service.
//! The SQL of a report is written once for both backends; [`Dialect`] gives
//! the few expressions that differ. Money is summed per currency only.

pub mod api;
pub mod sales;
pub mod service;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::sql_types::{Text, Timestamp};
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

    /// The start of the period of `unit` holding a timestamp column, as
    /// grouped on: a timestamp on PostgreSQL (`date_trunc`, whose weeks are
    /// ISO weeks from Monday), the `YYYY-MM-DD` text on SQLite. Its
    /// [`Dialect::date_text`] is the period's first day, as
    /// [`TimeUnit::start`] computes it.
    pub fn period_start(self, unit: TimeUnit, column: &str) -> String {
        match (self, unit) {
            (Dialect::Postgres, TimeUnit::Day) => format!("date_trunc('day', {column})"),
            (Dialect::Postgres, TimeUnit::Week) => format!("date_trunc('week', {column})"),
            (Dialect::Postgres, TimeUnit::Month) => format!("date_trunc('month', {column})"),
            (Dialect::Sqlite, TimeUnit::Day) => format!("date({column})"),
            // Back six days, then on to the first Monday (the day itself
            // when it is one).
            (Dialect::Sqlite, TimeUnit::Week) => format!("date({column}, '-6 days', 'weekday 1')"),
            (Dialect::Sqlite, TimeUnit::Month) => format!("date({column}, 'start of month')"),
        }
    }

    /// A text expression compared byte by byte (PostgreSQL's `C` collation,
    /// SQLite's default), which sorts a group key far faster than a
    /// language's rules.
    pub fn bytewise(self, expression: &str) -> String {
        match self {
            Dialect::Postgres => format!("({expression}) COLLATE \"C\""),
            Dialect::Sqlite => expression.to_string(),
        }
    }

    /// The median of an integer expression over a group, as an aggregate
    /// (NULLs left out): the middle value in ascending order, or the
    /// average of the two middle values for an even count; NULL for none.
    /// A float.
    pub fn median(self, expression: &str) -> String {
        match self {
            Dialect::Postgres => {
                format!("percentile_cont(0.5) WITHIN GROUP (ORDER BY {expression})")
            }
            Dialect::Sqlite => {
                let sorted = sorted_array(expression);
                format!(
                    "CASE WHEN COUNT({expression}) > 0 THEN \
                     (json_extract({sorted}, char(36) || '[' || ((COUNT({expression}) - 1) / 2) || ']') \
                     + json_extract({sorted}, char(36) || '[' || (COUNT({expression}) / 2) || ']')) / 2.0 END"
                )
            }
        }
    }

    /// The 90th percentile of an integer expression over a group, as an
    /// aggregate (NULLs left out), by nearest rank: the value at rank
    /// ⌈0.9 × count⌉ in ascending order (ranks from 1); NULL for none.
    pub fn p90(self, expression: &str) -> String {
        match self {
            // The value at row ceil(0.9 × count), which is exact: 0.9 as a
            // double is above 0.9 by far less than would move the product
            // past an integer.
            Dialect::Postgres => {
                format!("percentile_disc(0.9) WITHIN GROUP (ORDER BY {expression})")
            }
            Dialect::Sqlite => format!(
                "CASE WHEN COUNT({expression}) > 0 THEN \
                 json_extract({sorted}, char(36) || '[' || ((9 * COUNT({expression}) + 9) / 10 - 1) || ']') END",
                sorted = sorted_array(expression),
            ),
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

/// SQLite: a group's values of an expression, NULLs left out, in ascending
/// order, as a JSON array (one aggregate, however often it is written). Its
/// elements are read by paths `$[i]`, written `char(36) || '[' …` since the
/// query text holds no `$` but its parameters' (see [`Sql`]).
fn sorted_array(expression: &str) -> String {
    format!("json_group_array({expression} ORDER BY {expression}) FILTER (WHERE {expression} IS NOT NULL)")
}

/// The length of a report's periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Day,
    /// An ISO week, Monday to Sunday.
    Week,
    Month,
}

impl TimeUnit {
    /// The first day of the period holding `date`.
    pub fn start(self, date: NaiveDate) -> NaiveDate {
        match self {
            TimeUnit::Day => date,
            TimeUnit::Week => date
                .checked_sub_days(chrono::Days::new(u64::from(
                    date.weekday().num_days_from_monday(),
                )))
                .unwrap_or(date),
            TimeUnit::Month => date.with_day(1).unwrap_or(date),
        }
    }

    /// The first day of the period after the one starting on `start`.
    pub fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            TimeUnit::Day => start.succ_opt(),
            TimeUnit::Week => start.checked_add_days(chrono::Days::new(7)),
            TimeUnit::Month => start.checked_add_months(chrono::Months::new(1)),
        }
    }

    /// The first days of the periods that overlap `from` to `to` (inclusive
    /// dates), in order.
    pub fn starts(self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        let mut starts = Vec::new();
        let mut at = Some(self.start(from));
        while let Some(day) = at.filter(|d| *d <= to) {
            starts.push(day);
            at = self.next(day);
        }
        starts
    }
}

/// A query's text with its parameters, bound as text (`$1`, `$2`… in the
/// order they are added; the dialect casts where a type is needed) but for
/// the timestamps of [`Sql::bind_timestamp`]. The text holds no other `$`.
pub struct Sql {
    pub text: String,
    /// Every parameter as text: as bound (SQLite, and text parameters) and
    /// as logged.
    pub binds: Vec<String>,
    /// The timestamp parameters, by position: bound as timestamps on
    /// PostgreSQL.
    timestamps: Vec<Option<NaiveDateTime>>,
}

impl Sql {
    pub fn new() -> Self {
        Sql {
            text: String::new(),
            binds: Vec::new(),
            timestamps: Vec::new(),
        }
    }

    /// Adds a parameter; returns its number.
    pub fn bind(&mut self, value: impl Into<String>) -> usize {
        self.binds.push(value.into());
        self.timestamps.push(None);
        self.binds.len()
    }

    /// Adds a timestamp parameter (written [`Dialect::timestamp`]); returns
    /// its number. PostgreSQL gets it as a timestamp: a text parameter cast
    /// with `::timestamp` is cast again for every row a filter or a `CASE`
    /// compares with it (the cast is only stable, so it is not folded),
    /// which costs seconds over a million rows. SQLite gets the text diesel
    /// stores, where a time after the year 9999 is `9999-12-31 24:00:00`:
    /// after every time stored, as it compares (`10000-…` would sort first).
    pub fn bind_timestamp(&mut self, t: NaiveDateTime) -> usize {
        let text = if t.year() > 9999 {
            "9999-12-31 24:00:00".to_string()
        } else {
            timestamp_text(t)
        };
        self.binds.push(text);
        self.timestamps.push(Some(t));
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
        Ok(match conn {
            DbConn::Postgresql(c) => {
                let mut query = diesel::sql_query(self.text.clone()).into_boxed::<diesel::pg::Pg>();
                for (text, time) in self.binds.iter().zip(&self.timestamps) {
                    query = match time {
                        Some(t) => query.bind::<Timestamp, _>(*t),
                        None => query.bind::<Text, _>(text.clone()),
                    };
                }
                query.load(c)?
            }
            DbConn::Sqlite(c) => {
                // SQLite numbers `$n` parameters in the order they first
                // appear; `?n` keeps the number written.
                let text = self.text.replace('$', "?");
                let mut query = diesel::sql_query(text).into_boxed::<diesel::sqlite::Sqlite>();
                for b in &self.binds {
                    query = query.bind::<Text, _>(b.clone());
                }
                query.load(c)?
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

/// The first moment of a day, to bind with [`Sql::bind_timestamp`].
pub fn day_start(d: NaiveDate) -> NaiveDateTime {
    d.and_time(chrono::NaiveTime::MIN)
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
