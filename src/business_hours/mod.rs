//! Business hours: a weekly schedule in an IANA time zone with holidays,
//! which SLA policies measure their targets in. Model and rules here, the
//! arithmetic in `schedule`, queries in `repo`, handlers in `api`.

pub mod api;
pub mod repo;
pub mod schedule;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc, Weekday};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::schema::business_hours;
use crate::db::{self};
use crate::dependents::{Dependent, OnDelete};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::events::ResourceKind;
use crate::validation;

pub use schedule::{Opening, Schedule};

crate::page_type!(
    BusinessHoursPage,
    BusinessHours,
    "A page of business-hour schedules."
);

/// The most openings and holidays one schedule may have.
pub const MAX_OPENINGS: usize = 50;
pub const MAX_HOLIDAYS: usize = 1000;

/// What deleting a schedule does to the records referring to it.
pub const DEPENDENTS: &[Dependent] = &[Dependent {
    resource: ResourceKind::SlaPolicies,
    field: "business_hours_id",
    on_delete: OnDelete::Refuse,
    hint: "change those policies to other business hours or to calendar time first",
}];

crate::text_enum! {
    /// A day of the week.
    Day {
        Mon => "mon",
        Tue => "tue",
        Wed => "wed",
        Thu => "thu",
        Fri => "fri",
        Sat => "sat",
        Sun => "sun",
    }
}

impl Day {
    fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }
}

/// One weekly opening, in the schedule's local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpeningInput {
    pub day: Day,
    /// `HH:MM`, 24-hour clock.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "09:00")]
    pub start: String,
    /// `HH:MM` after `start`; `24:00` is the end of the day.
    #[schema(pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", example = "17:30")]
    pub end: String,
}

/// The fields a client sets on business hours: the body of a create, and
/// the document a PATCH merges into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct BusinessHoursInput {
    /// Unique.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[schema(example = "Berlin office")]
    pub name: String,
    /// An IANA time zone name.
    #[schema(max_length = 64, example = "Europe/Berlin")]
    pub timezone: String,
    /// The weekly openings, 1 to 50; openings of one day may not overlap.
    #[schema(min_items = 1, max_items = 50)]
    pub openings: Vec<OpeningInput>,
    /// Local dates (`YYYY-MM-DD`) without openings; up to 1,000, kept sorted
    /// without duplicates.
    #[schema(value_type = Vec<NaiveDate>, max_items = 1000)]
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// The body of a business-hours PATCH, derived from [`BusinessHoursInput`].
pub type BusinessHoursPatch = crate::http::patch::Patch<BusinessHoursInput>;

impl crate::http::patch::PatchTarget for BusinessHoursInput {
    fn template() -> serde_json::Value {
        serde_json::json!({"name": "-", "timezone": "UTC", "openings": []})
    }
}

/// `HH:MM` as minutes after midnight (`24:00` allowed only as an end).
fn minutes_of(text: &str, end: bool) -> Option<u32> {
    if end && text == "24:00" {
        return Some(1440);
    }
    let (h, m) = text.split_once(':')?;
    let two_digits = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl BusinessHoursInput {
    /// Trims the name, sorts the holidays and checks every rule: a known
    /// time zone, openings that end after they start and do not overlap,
    /// holidays that are dates.
    pub fn normalized(mut self) -> ApiResult<Self> {
        self.name = self.name.trim().to_string();
        self.timezone = self.timezone.trim().to_string();
        let mut errors = match validation::check(&self) {
            Ok(()) => Vec::new(),
            Err(ApiError::Validation(errors)) => errors,
            Err(other) => return Err(other),
        };
        if self.timezone.parse::<chrono_tz::Tz>().is_err()
            && !errors.iter().any(|e| e.field == "timezone")
        {
            errors.push(FieldError::new(
                "timezone",
                "unknown_timezone",
                "must be an IANA time zone name, such as Europe/Berlin",
            ));
        }
        if self.openings.is_empty() {
            errors.push(FieldError::new(
                "openings",
                "required",
                "give at least one opening",
            ));
        } else if self.openings.len() > MAX_OPENINGS {
            errors.push(FieldError::new(
                "openings",
                "too_many",
                "at most 50 openings",
            ));
        }
        let mut spans: Vec<(usize, Day, u32, u32)> = Vec::new();
        for (i, o) in self.openings.iter().enumerate() {
            let start = minutes_of(&o.start, false);
            let end = minutes_of(&o.end, true);
            match (start, end) {
                (None, _) => errors.push(FieldError::new(
                    format!("openings[{i}].start"),
                    "invalid_time",
                    "must be HH:MM (00:00 to 23:59)",
                )),
                (_, None) => errors.push(FieldError::new(
                    format!("openings[{i}].end"),
                    "invalid_time",
                    "must be HH:MM (00:01 to 24:00)",
                )),
                (Some(s), Some(e)) if e <= s => errors.push(FieldError::new(
                    format!("openings[{i}].end"),
                    "before_start",
                    "must be after start",
                )),
                (Some(s), Some(e)) => {
                    if let Some((j, ..)) = spans
                        .iter()
                        .find(|(_, d, s2, e2)| *d == o.day && s < *e2 && *s2 < e)
                    {
                        errors.push(FieldError::new(
                            format!("openings[{i}]"),
                            "overlapping",
                            format!("overlaps openings[{j}] on the same day"),
                        ));
                    }
                    spans.push((i, o.day, s, e));
                }
            }
        }
        if self.holidays.len() > MAX_HOLIDAYS {
            errors.push(FieldError::new(
                "holidays",
                "too_many",
                "at most 1,000 holidays",
            ));
        }
        let mut dates = Vec::with_capacity(self.holidays.len());
        for (i, h) in self.holidays.iter().enumerate() {
            match NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d") {
                Ok(d) if h.trim().len() == 10 => dates.push(d),
                _ => errors.push(FieldError::new(
                    format!("holidays[{i}]"),
                    "invalid_date",
                    "must be a date, YYYY-MM-DD",
                )),
            }
        }
        if !errors.is_empty() {
            errors.sort_by(|a, b| a.field.cmp(&b.field));
            return Err(ApiError::Validation(errors));
        }
        dates.sort();
        dates.dedup();
        self.holidays = dates
            .iter()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .collect();
        Ok(self)
    }
}

/// A weekly schedule with holidays.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BusinessHours {
    pub id: String,
    pub name: String,
    pub timezone: String,
    pub openings: Vec<OpeningInput>,
    #[schema(value_type = Vec<NaiveDate>)]
    pub holidays: Vec<String>,
    /// Grows by one on every change; the `ETag` is this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::record!(BusinessHours);

impl BusinessHours {
    pub fn input(&self) -> BusinessHoursInput {
        BusinessHoursInput {
            name: self.name.clone(),
            timezone: self.timezone.clone(),
            openings: self.openings.clone(),
            holidays: self.holidays.clone(),
        }
    }

    pub fn new(id: String, input: BusinessHoursInput, now: NaiveDateTime) -> BusinessHours {
        let now = db::to_utc(now);
        BusinessHours {
            id,
            name: input.name,
            timezone: input.timezone,
            openings: input.openings,
            holidays: input.holidays,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn with(&self, input: BusinessHoursInput, now: NaiveDateTime) -> BusinessHours {
        BusinessHours {
            name: input.name,
            timezone: input.timezone,
            openings: input.openings,
            holidays: input.holidays,
            version: self.version + 1,
            updated_at: db::to_utc(now),
            ..self.clone()
        }
    }

    /// The arithmetic of this schedule. Stored schedules were checked when
    /// written; anything unreadable counts as no opening at all.
    pub fn schedule(&self) -> Schedule {
        let tz = self
            .timezone
            .parse::<chrono_tz::Tz>()
            .unwrap_or(chrono_tz::UTC);
        let openings: Vec<Opening> = self
            .openings
            .iter()
            .filter_map(|o| {
                Some(Opening {
                    day: o.day.weekday(),
                    start: minutes_of(&o.start, false)?,
                    end: minutes_of(&o.end, true)?,
                })
            })
            .collect();
        let holidays: Vec<NaiveDate> = self
            .holidays
            .iter()
            .filter_map(|h| NaiveDate::parse_from_str(h, "%Y-%m-%d").ok())
            .collect();
        Schedule::new(tz, &openings, &holidays)
    }

    pub fn row(&self) -> BusinessHoursRow {
        BusinessHoursRow {
            id: self.id.clone(),
            name: self.name.clone(),
            timezone: self.timezone.clone(),
            openings: serde_json::to_string(&self.openings).unwrap_or_else(|_| "[]".into()),
            holidays: serde_json::to_string(&self.holidays).unwrap_or_else(|_| "[]".into()),
            version: self.version,
            created_at: db::from_utc(self.created_at),
            updated_at: db::from_utc(self.updated_at),
        }
    }
}

/// One row of `business_hours`, column for column.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = business_hours, treat_none_as_null = true)]
pub struct BusinessHoursRow {
    pub id: String,
    pub name: String,
    pub timezone: String,
    pub openings: String,
    pub holidays: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl BusinessHoursRow {
    pub fn into_record(self) -> ApiResult<BusinessHours> {
        Ok(BusinessHours {
            openings: serde_json::from_str(&self.openings)?,
            holidays: serde_json::from_str(&self.holidays)?,
            id: self.id,
            name: self.name,
            timezone: self.timezone,
            version: self.version,
            created_at: db::to_utc(self.created_at),
            updated_at: db::to_utc(self.updated_at),
        })
    }
}
