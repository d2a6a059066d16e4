//! Business-hour arithmetic: when does an SLA fall due, and how much business
//! time lies between two instants, exactly across weekends, holidays and
//! daylight-saving changes.
//!
//! # Semantics
//!
//! - A [`Schedule`] is a set of weekly [`Opening`]s, given in local wall-clock
//!   minutes in one timezone, plus holidays. A holiday is a local date with no
//!   openings at all, whatever its weekday.
//! - On a local date, an opening `start..end` is the real-time interval from
//!   the instant the local clock first shows `start` to the instant it first
//!   shows `end`. `end == 1440` is the local midnight that begins the next date.
//!   - A local time that does not exist (spring-forward gap) maps to the first
//!     instant after the gap, where the clock jumps past it.
//!   - A local time that occurs twice (fall-back fold) maps to the earlier
//!     instant.
//!
//!   So in Europe/Berlin an opening 01:00–05:00 on 2026-03-29 (02:00 → 03:00)
//!   holds 3 real hours, and 00:00–04:00 on 2026-10-25 (03:00 → 02:00) holds 5.
//! - Intervals are half-open: `[open, close)`. Business time is counted in
//!   real (UTC) seconds inside them, never in wall-clock minutes.
//! - [`Schedule::add_seconds`] starts counting at `start` if `start` is inside
//!   an interval, otherwise at the next interval's open. When the amount runs
//!   out exactly at an interval's close, the result is that close, not the next
//!   open: a ticket due "at the end of business today" is due today.
//! - Work is bounded. `add_seconds` walks local dates one at a time (each date
//!   costs a couple of timezone look-ups per opening) and gives up with `None`
//!   after the local date ten years (3,653 days) past the start's local date.
//!   `seconds_between` only counts the first 20 years (7,305 × 24 h) of the
//!   span `[from, to)`; business time after that is ignored. Both limits are
//!   far beyond any SLA, and they keep absurd inputs (a year-9999 timestamp, a
//!   schedule that is never open) from costing more than a few milliseconds.
//!   Adding a year of business minutes to a Mon–Fri 09:00–17:30 schedule
//!   takes about 0.2–0.3 ms in a release build.
//! - Nothing here panics, including at the edges of chrono's date range, where
//!   results degrade to `None` or to counting less time.

use std::collections::BTreeSet;

use chrono::{DateTime, Days, MappedLocalTime, NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone};
use chrono::{Datelike, Utc, Weekday};
use chrono_tz::{GapInfo, Tz};

/// Minutes in a day; an [`Opening`] ending here ends at the next local midnight.
const DAY_MINUTES: u32 = 24 * 60;

/// How many local dates past the start's date `add_seconds` will look at:
/// ten years, counting the most leap days ten years can hold.
const ADD_HORIZON_DAYS: u64 = 10 * 365 + 3;

/// How much of a span `seconds_between` counts: twenty years, leap days included.
const BETWEEN_HORIZON: TimeDelta = TimeDelta::days(20 * 365 + 5);

/// One weekly opening: on `day`, from `start` to `end`, in minutes after local midnight
/// (0 <= start < end <= 1440; 1440 means the end of the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    pub day: Weekday,
    pub start: u32,
    pub end: u32,
}

/// Weekly opening hours in a timezone, minus holidays. See the module
/// documentation for exactly how local times become real instants.
#[derive(Debug, Clone)]
pub struct Schedule {
    timezone: Tz,
    /// Per weekday, Monday first: sorted, disjoint, non-touching `(start, end)`
    /// minute ranges, so each local date yields its intervals in order.
    weekly: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
}

impl Schedule {
    /// Builds a schedule from openings in any order and holidays as local dates.
    ///
    /// Callers are expected to have rejected overlaps and bad bounds already,
    /// but this accepts anything without panicking: ends past 1440 are cut to
    /// 1440, empty openings are dropped, overlapping or touching openings on
    /// the same weekday are merged, and duplicate holidays are harmless.
    pub fn new(timezone: Tz, openings: &[Opening], holidays: &[NaiveDate]) -> Schedule {
        let mut weekly: [Vec<(u32, u32)>; 7] = Default::default();
        for opening in openings {
            let end = opening.end.min(DAY_MINUTES);
            if opening.start >= end {
                continue;
            }
            let day = opening.day.num_days_from_monday() as usize;
            if let Some(ranges) = weekly.get_mut(day) {
                ranges.push((opening.start, end));
            }
        }
        for ranges in &mut weekly {
            *ranges = merge(std::mem::take(ranges));
        }
        Schedule {
            timezone,
            weekly,
            holidays: holidays.iter().copied().collect(),
        }
    }

    /// The instant at which `seconds` business seconds have elapsed after
    /// `start` (`seconds <= 0` returns `start`). `None` when that is not reached
    /// within ten years of local dates after `start`, for example with a
    /// schedule that has no openings.
    pub fn add_seconds(&self, start: DateTime<Utc>, seconds: i64) -> Option<DateTime<Utc>> {
        if seconds <= 0 {
            return Some(start);
        }
        if self.never_open() {
            return None;
        }
        let mut remaining = TimeDelta::try_seconds(seconds)?;
        let start_date = self.local_date(start);
        let last = start_date
            .checked_add_days(Days::new(ADD_HORIZON_DAYS))
            .unwrap_or(NaiveDate::MAX);
        for (open, close) in self.intervals(day_before(start_date), last) {
            if close <= start {
                continue;
            }
            let open = open.max(start);
            let available = close - open;
            // `<=` rather than `<`: running out exactly at a close returns that close.
            if remaining <= available {
                return open.checked_add_signed(remaining);
            }
            remaining = remaining.checked_sub(&available)?;
        }
        None
    }

    /// [`Schedule::add_seconds`] with `minutes * 60` seconds; `None` if that
    /// product overflows, since no such amount can be reached within the horizon.
    pub fn add_minutes(&self, start: DateTime<Utc>, minutes: i64) -> Option<DateTime<Utc>> {
        if minutes <= 0 {
            return Some(start);
        }
        self.add_seconds(start, minutes.checked_mul(60)?)
    }

    /// Business seconds within [from, to); 0 when to <= from.
    ///
    /// Only the first 20 years of the span are counted (see the module
    /// documentation), which bounds the work to about 7,300 local dates.
    /// Sub-second parts of `from` and `to` are honoured and the total is then
    /// rounded down to whole seconds.
    pub fn seconds_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from || self.never_open() {
            return 0;
        }
        let end = from
            .checked_add_signed(BETWEEN_HORIZON)
            .map_or(to, |horizon| horizon.min(to));
        // An interval of the date after `end`'s local date can still begin
        // before `end` when a fall-back fold straddles midnight (Goose Bay,
        // 1988: see the tests).
        let last_date = self.local_date(end);
        let last = last_date.succ_opt().unwrap_or(last_date);
        let mut total = TimeDelta::zero();
        for (open, close) in self.intervals(day_before(self.local_date(from)), last) {
            if open >= end {
                break;
            }
            let overlap = close.min(end) - open.max(from);
            if overlap > TimeDelta::zero() {
                // Cannot overflow: the sum is bounded by the 20-year horizon.
                total += overlap;
            }
        }
        total.num_seconds()
    }

    /// `floor(seconds_between / 60)`.
    pub fn minutes_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        self.seconds_between(from, to) / 60
    }

    /// True when no weekday has an opening, so no search can ever succeed and
    /// there is no point walking ten years of dates to find that out.
    fn never_open(&self) -> bool {
        self.weekly.iter().all(Vec::is_empty)
    }

    fn openings_on(&self, date: NaiveDate) -> &[(u32, u32)] {
        if self.holidays.contains(&date) {
            return &[];
        }
        let day = date.weekday().num_days_from_monday() as usize;
        self.weekly.get(day).map_or(&[], Vec::as_slice)
    }

    /// The business intervals of the local dates `first..=last`, in order.
    fn intervals(&self, first: NaiveDate, last: NaiveDate) -> Intervals<'_> {
        Intervals {
            schedule: self,
            date: first,
            last,
            pending: if first <= last {
                self.openings_on(first)
            } else {
                &[]
            },
            floor: None,
        }
    }

    /// The local date of an instant. `DateTime::date_naive` would panic when
    /// the offset pushes the instant past chrono's range, so at those edges
    /// this falls back to the UTC date.
    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        let utc = at.naive_utc();
        let offset = self.timezone.offset_from_utc_datetime(&utc).fix();
        utc.checked_add_offset(offset).unwrap_or(utc).date()
    }

    /// The first instant at which the local clock shows `minute` on `date`
    /// (1440 meaning midnight of the following date). `None` only at the edges
    /// of chrono's range or with timezone data that has no instant after a gap.
    fn first_instant(&self, date: NaiveDate, minute: u32) -> Option<DateTime<Utc>> {
        let (date, minute) = if minute >= DAY_MINUTES {
            (date.succ_opt()?, 0)
        } else {
            (date, minute)
        };
        let local = date.and_time(NaiveTime::from_hms_opt(minute / 60, minute % 60, 0)?);
        match self.timezone.from_local_datetime(&local) {
            MappedLocalTime::Single(at) => Some(at.with_timezone(&Utc)),
            MappedLocalTime::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
            // chrono only says "no such local time"; chrono-tz's GapInfo knows
            // where the clock lands after skipping it.
            MappedLocalTime::None => GapInfo::new(&local, &self.timezone)?
                .end
                .map(|after| after.with_timezone(&Utc)),
        }
    }
}

/// Sorts minute ranges and merges those that overlap or touch. Touching ones
/// merge too: split, they would meet at the same instant anyway (both sides
/// resolve the shared minute identically), and merged they cost fewer
/// timezone look-ups.
fn merge(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// The date to start scanning from when the first relevant date is `date`.
/// Under the first-instant rule no interval of the previous local date reaches
/// past an instant on `date`, but that argument assumes a tidy history; one
/// extra date per call is cheap insurance against odd timezone data.
fn day_before(date: NaiveDate) -> NaiveDate {
    date.pred_opt().unwrap_or(date)
}

/// Walks local dates, yielding each non-empty business interval as real
/// instants, in order and without overlaps.
struct Intervals<'a> {
    schedule: &'a Schedule,
    date: NaiveDate,
    last: NaiveDate,
    /// Openings of `date` not yet yielded.
    pending: &'a [(u32, u32)],
    /// Close of the previous interval. The first-instant rule maps later
    /// wall-clock times to later (or equal) instants except in contrived
    /// histories, such as a gap and a fold over the same wall-clock time; the
    /// callers rely on ordered, disjoint intervals, so clamp to guarantee them.
    floor: Option<DateTime<Utc>>,
}

impl Iterator for Intervals<'_> {
    type Item = (DateTime<Utc>, DateTime<Utc>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((&(start, end), rest)) = self.pending.split_first() {
                self.pending = rest;
                let schedule = self.schedule;
                let (Some(open), Some(close)) = (
                    schedule.first_instant(self.date, start),
                    schedule.first_instant(self.date, end),
                ) else {
                    continue;
                };
                let open = self.floor.map_or(open, |floor| open.max(floor));
                let close = close.max(open);
                self.floor = Some(close);
                if open < close {
                    return Some((open, close));
                }
                continue;
            }
            if self.date >= self.last {
                return None;
            }
            self.date = self.date.succ_opt()?;
            self.pending = self.schedule.openings_on(self.date);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::Berlin;

    const fn hm(hours: u32, minutes: u32) -> u32 {
        hours * 60 + minutes
    }

    const WEEKDAYS: [Weekday; 5] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];

    const ALL_DAYS: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    fn openings(days: &[Weekday], start: u32, end: u32) -> Vec<Opening> {
        days.iter()
            .map(|&day| Opening { day, start, end })
            .collect()
    }

    fn office(tz: Tz, holidays: &[NaiveDate]) -> Schedule {
        Schedule::new(tz, &openings(&WEEKDAYS, hm(9, 0), hm(17, 30)), holidays)
    }

    fn always_open(tz: Tz) -> Schedule {
        Schedule::new(tz, &openings(&ALL_DAYS, 0, DAY_MINUTES), &[])
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn wall(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        date(y, m, d).and_hms_opt(h, min, 0).unwrap()
    }

    /// An unambiguous local time as an instant.
    fn at(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        tz.from_local_datetime(&wall(y, m, d, h, min))
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        wall(y, m, d, h, min).and_utc()
    }

    fn local(tz: Tz, instant: Option<DateTime<Utc>>) -> NaiveDateTime {
        instant.unwrap().with_timezone(&tz).naive_local()
    }

    // --- Plain weekly hours -------------------------------------------------

    #[test]
    fn friday_afternoon_rolls_over_the_weekend() {
        let s = office(Berlin, &[]);
        // 2026-01-16 is a Friday: 60 minutes on Friday, 60 on Monday.
        let due = s.add_minutes(at(Berlin, 2026, 1, 16, 16, 30), 120);
        assert_eq!(local(Berlin, due), wall(2026, 1, 19, 10, 0));
    }

    #[test]
    fn friday_afternoon_rolls_over_a_dst_weekend() {
        let s = office(Berlin, &[]);
        // Clocks change on Sunday 2026-03-29; business time is unaffected.
        let due = s.add_minutes(at(Berlin, 2026, 3, 27, 16, 30), 120);
        assert_eq!(local(Berlin, due), wall(2026, 3, 30, 10, 0));
    }

    #[test]
    fn weekend_start_waits_for_monday() {
        let s = office(Berlin, &[]);
        let due = s.add_minutes(at(Berlin, 2026, 1, 17, 11, 0), 30);
        assert_eq!(local(Berlin, due), wall(2026, 1, 19, 9, 30));
    }

    #[test]
    fn start_inside_hours_adds_straight() {
        let s = office(Berlin, &[]);
        let start = at(Berlin, 2026, 1, 20, 10, 15);
        assert_eq!(
            local(Berlin, s.add_minutes(start, 90)),
            wall(2026, 1, 20, 11, 45)
        );
        assert_eq!(s.add_seconds(start, 1), Some(start + TimeDelta::seconds(1)));
    }

    #[test]
    fn start_before_opening_waits_for_it() {
        let s = office(Berlin, &[]);
        let due = s.add_minutes(at(Berlin, 2026, 1, 20, 7, 0), 30);
        assert_eq!(local(Berlin, due), wall(2026, 1, 20, 9, 30));
    }

    #[test]
    fn start_after_closing_waits_for_the_next_day() {
        let s = office(Berlin, &[]);
        let due = s.add_minutes(at(Berlin, 2026, 1, 20, 18, 0), 30);
        assert_eq!(local(Berlin, due), wall(2026, 1, 21, 9, 30));
    }

    #[test]
    fn span_of_several_days_counts_only_opening_hours() {
        let s = office(Berlin, &[]);
        // Friday 16:30 to Tuesday 10:00: 1 h + 8.5 h + 1 h.
        let from = at(Berlin, 2026, 1, 16, 16, 30);
        let to = at(Berlin, 2026, 1, 20, 10, 0);
        assert_eq!(s.minutes_between(from, to), 60 + 510 + 60);
        assert_eq!(s.seconds_between(to, from), 0);
        assert_eq!(s.seconds_between(from, from), 0);
    }

    #[test]
    fn minutes_between_rounds_down() {
        let s = office(Berlin, &[]);
        let from = at(Berlin, 2026, 1, 20, 10, 0);
        let to = from + TimeDelta::seconds(119);
        assert_eq!(s.seconds_between(from, to), 119);
        assert_eq!(s.minutes_between(from, to), 1);
    }

    // --- Exact end landing ----------------------------------------------------

    #[test]
    fn amount_ending_at_close_returns_the_close() {
        let s = office(Berlin, &[]);
        let start = at(Berlin, 2026, 1, 19, 17, 0);
        let close = at(Berlin, 2026, 1, 19, 17, 30);
        assert_eq!(s.add_minutes(start, 30), Some(close));
        assert_eq!(s.add_seconds(start, 30 * 60), Some(close));
        // One more second has to wait for Tuesday.
        assert_eq!(
            s.add_seconds(start, 30 * 60 + 1),
            Some(at(Berlin, 2026, 1, 20, 9, 0) + TimeDelta::seconds(1))
        );
        // A whole day's worth from the opening ends at that day's close.
        assert_eq!(
            s.add_minutes(at(Berlin, 2026, 1, 19, 9, 0), 510),
            Some(close)
        );
    }

    #[test]
    fn close_is_not_business_time() {
        let s = office(Berlin, &[]);
        let close = at(Berlin, 2026, 1, 19, 17, 30);
        assert_eq!(
            local(Berlin, s.add_minutes(close, 1)),
            wall(2026, 1, 20, 9, 1)
        );
        assert_eq!(s.seconds_between(close, at(Berlin, 2026, 1, 20, 9, 0)), 0);
        let before_close = close - TimeDelta::seconds(30);
        let after_open = at(Berlin, 2026, 1, 20, 9, 0) + TimeDelta::seconds(30);
        assert_eq!(s.seconds_between(before_close, after_open), 60);
    }

    // --- Holidays -------------------------------------------------------------

    #[test]
    fn holiday_monday_pushes_into_tuesday() {
        let s = office(Berlin, &[date(2026, 1, 19)]);
        let due = s.add_minutes(at(Berlin, 2026, 1, 16, 16, 30), 120);
        assert_eq!(local(Berlin, due), wall(2026, 1, 20, 10, 0));
        let from = at(Berlin, 2026, 1, 19, 0, 0);
        assert_eq!(s.seconds_between(from, at(Berlin, 2026, 1, 20, 0, 0)), 0);
    }

    #[test]
    fn christmas_week_is_skipped() {
        let holidays = [
            date(2026, 12, 24),
            date(2026, 12, 25),
            date(2026, 12, 28),
            date(2026, 12, 29),
            date(2026, 12, 30),
            date(2026, 12, 31),
            date(2027, 1, 1),
        ];
        let s = office(Berlin, &holidays);
        // Wednesday 23 December, 30 minutes before closing.
        let due = s.add_minutes(at(Berlin, 2026, 12, 23, 17, 0), 60);
        assert_eq!(local(Berlin, due), wall(2027, 1, 4, 9, 30));
        let from = at(Berlin, 2026, 12, 23, 9, 0);
        let to = at(Berlin, 2027, 1, 4, 17, 30);
        assert_eq!(s.minutes_between(from, to), 2 * 510);
    }

    // --- Daylight saving --------------------------------------------------------

    /// Adds 24 business hours to noon on the day before a change on an
    /// always-open schedule and checks both the real and the wall-clock result.
    fn check_day_across_change(tz: Tz, day_before: NaiveDate, wall_hour_after: u32) {
        let s = always_open(tz);
        let start = at(
            tz,
            day_before.year(),
            day_before.month(),
            day_before.day(),
            12,
            0,
        );
        let due = s.add_seconds(start, 24 * 3600);
        assert_eq!(due, Some(start + TimeDelta::hours(24)));
        let next = day_before.succ_opt().unwrap();
        assert_eq!(
            local(tz, due),
            next.and_hms_opt(wall_hour_after, 0, 0).unwrap()
        );
        assert_eq!(s.seconds_between(start, due.unwrap()), 24 * 3600);
    }

    #[test]
    fn twenty_four_business_hours_are_twenty_four_real_hours() {
        // Spring forward: the wall clock shows 25 hours later.
        check_day_across_change(Berlin, date(2026, 3, 28), 13);
        check_day_across_change(New_York, date(2026, 3, 7), 13);
        // Fall back: the wall clock shows 23 hours later.
        check_day_across_change(Berlin, date(2026, 10, 24), 11);
        check_day_across_change(New_York, date(2026, 10, 31), 11);
    }

    #[test]
    fn whole_change_days_are_23_and_25_hours_long() {
        for (tz, spring, fall) in [
            (Berlin, date(2026, 3, 29), date(2026, 10, 25)),
            (New_York, date(2026, 3, 8), date(2026, 11, 1)),
        ] {
            let s = always_open(tz);
            let day = |d: NaiveDate| {
                let next = d.succ_opt().unwrap();
                let from = at(tz, d.year(), d.month(), d.day(), 0, 0);
                let to = at(tz, next.year(), next.month(), next.day(), 0, 0);
                s.seconds_between(from, to)
            };
            assert_eq!(day(spring), 23 * 3600, "{tz} {spring}");
            assert_eq!(day(fall), 25 * 3600, "{tz} {fall}");
        }
    }

    /// A schedule open only on Sundays, `start..end`; all four change days
    /// in these tests are Sundays.
    fn sundays(tz: Tz, start: u32, end: u32) -> Schedule {
        Schedule::new(tz, &openings(&[Weekday::Sun], start, end), &[])
    }

    /// Business seconds in the Saturday-to-Monday window around `sunday`.
    fn sunday_seconds(s: &Schedule, tz: Tz, sunday: NaiveDate) -> i64 {
        let sat = sunday.pred_opt().unwrap();
        let mon = sunday.succ_opt().unwrap();
        s.seconds_between(
            at(tz, sat.year(), sat.month(), sat.day(), 12, 0),
            at(tz, mon.year(), mon.month(), mon.day(), 12, 0),
        )
    }

    #[test]
    fn night_opening_across_spring_forward_is_three_real_hours() {
        for (tz, sunday) in [(Berlin, date(2026, 3, 29)), (New_York, date(2026, 3, 8))] {
            let s = sundays(tz, hm(1, 0), hm(5, 0));
            assert_eq!(sunday_seconds(&s, tz, sunday), 3 * 3600, "{tz}");
            // The whole amount ends exactly at the 05:00 close.
            let sat_noon = at(tz, 2026, sunday.month(), sunday.day() - 1, 12, 0);
            let close = at(tz, 2026, sunday.month(), sunday.day(), 5, 0);
            assert_eq!(s.add_seconds(sat_noon, 3 * 3600), Some(close), "{tz}");
        }
        // Absolute check for Berlin: 01:00 CET is 00:00 UTC, 05:00 CEST is 03:00 UTC.
        let s = sundays(Berlin, hm(1, 0), hm(5, 0));
        let start = utc(2026, 3, 28, 12, 0);
        assert_eq!(
            s.add_seconds(start, 1),
            Some(utc(2026, 3, 29, 0, 0) + TimeDelta::seconds(1))
        );
        assert_eq!(s.add_seconds(start, 3 * 3600), Some(utc(2026, 3, 29, 3, 0)));
    }

    #[test]
    fn night_opening_across_fall_back_is_five_real_hours() {
        for (tz, sunday) in [(Berlin, date(2026, 10, 25)), (New_York, date(2026, 11, 1))] {
            let s = sundays(tz, 0, hm(4, 0));
            assert_eq!(sunday_seconds(&s, tz, sunday), 5 * 3600, "{tz}");
        }
        // Berlin: 00:00 CEST is 22:00 UTC the day before, 04:00 CET is 03:00 UTC.
        let s = sundays(Berlin, 0, hm(4, 0));
        let start = utc(2026, 10, 24, 12, 0);
        assert_eq!(
            s.add_seconds(start, 1),
            Some(utc(2026, 10, 24, 22, 0) + TimeDelta::seconds(1))
        );
        assert_eq!(
            s.add_seconds(start, 5 * 3600),
            Some(utc(2026, 10, 25, 3, 0))
        );
    }

    #[test]
    fn opening_inside_the_gap_starts_when_the_clock_jumps() {
        // 02:30 does not exist on 2026-03-29 in Berlin; the clock jumps from
        // 02:00 CET (01:00 UTC) straight to 03:00 CEST.
        let s = sundays(Berlin, hm(2, 30), hm(4, 0));
        let start = utc(2026, 3, 28, 12, 0);
        assert_eq!(
            s.add_seconds(start, 1),
            Some(utc(2026, 3, 29, 1, 0) + TimeDelta::seconds(1))
        );
        assert_eq!(sunday_seconds(&s, Berlin, date(2026, 3, 29)), 3600);
        // A gap at both ends leaves nothing.
        let s = sundays(Berlin, hm(2, 0), hm(2, 45));
        assert_eq!(sunday_seconds(&s, Berlin, date(2026, 3, 29)), 0);
        // New York: 02:30 lands at 03:00 EDT, 07:00 UTC.
        let s = sundays(New_York, hm(2, 30), hm(4, 0));
        assert_eq!(
            s.add_seconds(utc(2026, 3, 7, 12, 0), 1),
            Some(utc(2026, 3, 8, 7, 0) + TimeDelta::seconds(1))
        );
    }

    #[test]
    fn ambiguous_times_use_the_earlier_instant() {
        // 02:30 occurs at 00:30 and 01:30 UTC on 2026-10-25 in Berlin; 03:00
        // only once, at 02:00 UTC. So 02:30–03:00 spans 1.5 real hours.
        let s = sundays(Berlin, hm(2, 30), hm(3, 0));
        let start = utc(2026, 10, 24, 12, 0);
        assert_eq!(
            s.add_seconds(start, 1),
            Some(utc(2026, 10, 25, 0, 30) + TimeDelta::seconds(1))
        );
        assert_eq!(sunday_seconds(&s, Berlin, date(2026, 10, 25)), 5400);
        // An ambiguous close is the first 02:30 too: 00:00–02:30 is 2.5 hours.
        let s = sundays(Berlin, 0, hm(2, 30));
        assert_eq!(sunday_seconds(&s, Berlin, date(2026, 10, 25)), 9000);
        // Starting during the repeated hour, after the opening's first close,
        // finds nothing left that Sunday.
        let s = sundays(Berlin, hm(2, 0), hm(2, 30));
        let repeated = utc(2026, 10, 25, 1, 10); // 02:10 CET, the second pass
        assert_eq!(
            s.add_seconds(repeated, 1),
            Some(utc(2026, 11, 1, 1, 0) + TimeDelta::seconds(1))
        );
    }

    #[test]
    fn changes_at_midnight_in_santiago() {
        use chrono_tz::America::Santiago;
        let s = always_open(Santiago);
        let day = |d: NaiveDate| {
            let next = d.succ_opt().unwrap();
            let from = at(Santiago, d.year(), d.month(), d.day(), 12, 0);
            s.seconds_between(
                from,
                at(Santiago, next.year(), next.month(), next.day(), 12, 0),
            )
        };
        // 2026-04-05 00:00 -03 becomes 2026-04-04 23:00 -04: Saturday's last
        // hour happens twice. 2026-09-06 00:00 -04 becomes 01:00 -03: Sunday
        // has no midnight at all.
        assert_eq!(day(date(2026, 4, 4)), 25 * 3600);
        assert_eq!(day(date(2026, 9, 5)), 23 * 3600);

        // Sunday 00:00-02:00 opens when the clock jumps to 01:00 -03 (04:00 UTC).
        let s = sundays(Santiago, 0, hm(2, 0));
        let saturday = utc(2026, 9, 5, 12, 0);
        assert_eq!(
            s.add_seconds(saturday, 1),
            Some(utc(2026, 9, 6, 4, 0) + TimeDelta::seconds(1))
        );
        assert_eq!(s.seconds_between(saturday, utc(2026, 9, 7, 12, 0)), 3600);
        // Saturday 22:00-24:00 closes at that same instant: two real hours.
        let s = Schedule::new(
            Santiago,
            &openings(&[Weekday::Sat], hm(22, 0), DAY_MINUTES),
            &[],
        );
        assert_eq!(s.add_minutes(saturday, 120), Some(utc(2026, 9, 6, 4, 0)));
    }

    #[test]
    fn fold_across_midnight_is_still_found() {
        use chrono_tz::America::Goose_Bay;
        // On 1988-10-30 at 00:01 ADDT (02:01 UTC) Goose Bay went back two hours
        // to 22:01 AST on the 29th, so Sunday's first minute came and went
        // before the second pass through Saturday evening. A Sunday opening
        // 00:00-00:30 therefore runs 02:00-04:30 UTC, mostly while the local
        // date reads Saturday.
        let s = sundays(Goose_Bay, 0, hm(0, 30));
        let saturday_evening = utc(1988, 10, 30, 2, 45); // 22:45 AST on the 29th
        assert_eq!(
            local(Goose_Bay, Some(saturday_evening)),
            wall(1988, 10, 29, 22, 45)
        );
        let from = utc(1988, 10, 29, 12, 0);
        assert_eq!(s.seconds_between(from, saturday_evening), 45 * 60);
        assert_eq!(
            s.add_minutes(saturday_evening, 1),
            Some(saturday_evening + TimeDelta::minutes(1))
        );
        assert_eq!(s.add_minutes(from, 150), Some(utc(1988, 10, 30, 4, 30)));
    }

    // --- Calendar sanity ------------------------------------------------------

    #[test]
    fn always_open_utc_is_plain_arithmetic() {
        let s = always_open(Tz::UTC);
        let starts = [
            utc(2026, 1, 1, 0, 0),
            utc(2026, 2, 27, 23, 59) + TimeDelta::milliseconds(250),
            utc(2028, 2, 28, 13, 7),
        ];
        let amounts = [
            1,
            59,
            3600,
            86_399,
            86_400,
            86_401,
            7 * 86_400,
            23 * 86_400 + 12_345,
            366 * 86_400,
        ];
        for start in starts {
            for seconds in amounts {
                let end = start + TimeDelta::seconds(seconds);
                assert_eq!(
                    s.add_seconds(start, seconds),
                    Some(end),
                    "{start} + {seconds}"
                );
                assert_eq!(s.seconds_between(start, end), seconds, "{start} .. {end}");
            }
        }
    }

    // --- Round trip and monotonicity ------------------------------------------

    #[test]
    fn add_then_between_round_trips_and_add_is_monotonic() {
        let schedules = [
            (
                Berlin,
                office(
                    Berlin,
                    &[date(2026, 4, 3), date(2026, 4, 6), date(2026, 5, 1)],
                ),
            ),
            (
                Berlin,
                Schedule::new(
                    Berlin,
                    &[
                        Opening {
                            day: Weekday::Sun,
                            start: hm(1, 0),
                            end: hm(5, 0),
                        },
                        Opening {
                            day: Weekday::Sun,
                            start: hm(22, 0),
                            end: DAY_MINUTES,
                        },
                        Opening {
                            day: Weekday::Mon,
                            start: 0,
                            end: hm(2, 30),
                        },
                        Opening {
                            day: Weekday::Wed,
                            start: hm(2, 30),
                            end: hm(3, 0),
                        },
                        Opening {
                            day: Weekday::Sat,
                            start: hm(12, 0),
                            end: hm(12, 1),
                        },
                    ],
                    &[],
                ),
            ),
            (New_York, always_open(New_York)),
            (
                New_York,
                Schedule::new(New_York, &openings(&ALL_DAYS, hm(1, 30), hm(2, 30)), &[]),
            ),
        ];
        for (tz, s) in &schedules {
            // Dense starts with amounts of up to a few days: every 7 h 7 min
            // from March to mid-November meets both changes in both zones at
            // many times of day.
            let mut start = utc(2026, 3, 1, 0, 0);
            while start < utc(2026, 11, 15, 0, 0) {
                check_round_trips(*tz, s, start, &[0, 1, 29, 60, 509, 510, 511, 2_880]);
                start += TimeDelta::minutes(7 * 60 + 7);
            }
            // Sparse starts with amounts of years, which cross many changes.
            let mut start = utc(2026, 3, 1, 0, 0);
            while start < utc(2026, 11, 15, 0, 0) {
                check_round_trips(*tz, s, start, &[10_007, 100_000, 525_600]);
                start += TimeDelta::minutes(13 * 24 * 60 + 7 * 60 + 13);
            }
        }
    }

    /// Checks `minutes_between(s', add_minutes(s', m)) == m` for each amount,
    /// where `s'` is `start` moved to the next business instant, and that the
    /// result strictly grows with `m`. `amounts` must be sorted.
    fn check_round_trips(tz: Tz, s: &Schedule, start: DateTime<Utc>, amounts: &[i64]) {
        let first = s.add_seconds(start, 1).unwrap() - TimeDelta::seconds(1);
        assert!(first >= start);
        assert_eq!(s.seconds_between(start, first), 0);
        let mut previous: Option<DateTime<Utc>> = None;
        for &minutes in amounts {
            let context = format!("{tz} {start} -> {first} + {minutes} min");
            let Some(due) = s.add_minutes(first, minutes) else {
                // Only allowed when ten years really do not hold that much;
                // larger amounts cannot fit either.
                let ten_years = TimeDelta::days(ADD_HORIZON_DAYS as i64);
                let available = s.minutes_between(first, first + ten_years);
                assert!(available < minutes, "{context}");
                return;
            };
            assert_eq!(s.minutes_between(first, due), minutes, "{context}");
            assert_eq!(s.minutes_between(start, due), minutes, "{context}");
            if let Some(previous) = previous {
                assert!(due > previous, "{context}");
            }
            if let Some(one_more) = s.add_minutes(first, minutes + 1) {
                assert!(one_more > due, "{context}");
            }
            previous = Some(due);
        }
    }

    // --- Degenerate schedules -------------------------------------------------

    #[test]
    fn schedule_without_openings_never_reaches_anything() {
        let s = Schedule::new(Berlin, &[], &[]);
        let start = utc(2026, 1, 1, 0, 0);
        assert_eq!(s.add_minutes(start, 1), None);
        assert_eq!(s.add_minutes(start, 0), Some(start));
        assert_eq!(s.seconds_between(start, utc(2036, 1, 1, 0, 0)), 0);
    }

    #[test]
    fn a_decade_of_holidays_gives_up() {
        let first = date(2025, 12, 1);
        let holidays: Vec<NaiveDate> = first.iter_days().take(11 * 366).collect();
        let s = office(Berlin, &holidays);
        let start = at(Berlin, 2026, 1, 5, 10, 0);
        assert_eq!(s.add_minutes(start, 1), None);
        // The limit is ten years: holidays ending sooner are waited out.
        let holidays: Vec<NaiveDate> = first.iter_days().take(9 * 366).collect();
        let s = office(Berlin, &holidays);
        let last = *holidays.last().unwrap();
        let due = s.add_minutes(start, 1).unwrap().with_timezone(&Berlin);
        assert!(due.date_naive() > last);
        assert_eq!(due.time(), NaiveTime::from_hms_opt(9, 1, 0).unwrap());
    }

    #[test]
    fn amounts_beyond_the_horizon_are_none() {
        let s = office(Berlin, &[]);
        let start = utc(2026, 1, 1, 0, 0);
        // Eleven years of 42.5-hour weeks cannot fit in ten years.
        assert_eq!(s.add_minutes(start, 11 * 52 * 2_550), None);
        assert!(s.add_minutes(start, 9 * 52 * 2_550).is_some());
        assert_eq!(s.add_seconds(start, i64::MAX), None);
        assert_eq!(s.add_minutes(start, i64::MAX), None);
        assert_eq!(s.add_minutes(start, i64::MIN), Some(start));
    }

    #[test]
    fn between_counts_at_most_twenty_years() {
        let s = always_open(Tz::UTC);
        let from = utc(2000, 1, 1, 0, 0);
        let nineteen = utc(2019, 1, 1, 0, 0);
        assert_eq!(
            s.seconds_between(from, nineteen),
            (nineteen - from).num_seconds()
        );
        assert_eq!(
            s.seconds_between(from, utc(2100, 1, 1, 0, 0)),
            BETWEEN_HORIZON.num_seconds()
        );
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        let s = always_open(Berlin);
        let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        assert_eq!(s.add_seconds(max, 1), None);
        assert!(s.add_seconds(min, 1).is_some());
        assert_eq!(s.seconds_between(max - TimeDelta::seconds(10), max), 0);
        assert!(s.seconds_between(min, max) <= BETWEEN_HORIZON.num_seconds());
        assert_eq!(s.seconds_between(max, min), 0);
    }

    #[test]
    fn constructor_tolerates_bad_openings() {
        let s = Schedule::new(
            Tz::UTC,
            &[
                Opening {
                    day: Weekday::Mon,
                    start: hm(11, 0),
                    end: hm(13, 0),
                },
                Opening {
                    day: Weekday::Mon,
                    start: hm(9, 0),
                    end: hm(12, 0),
                },
                Opening {
                    day: Weekday::Mon,
                    start: hm(9, 0),
                    end: hm(12, 0),
                },
                Opening {
                    day: Weekday::Mon,
                    start: hm(13, 0),
                    end: hm(14, 0),
                },
                Opening {
                    day: Weekday::Tue,
                    start: hm(10, 0),
                    end: hm(10, 0),
                },
                Opening {
                    day: Weekday::Tue,
                    start: hm(12, 0),
                    end: hm(11, 0),
                },
                Opening {
                    day: Weekday::Wed,
                    start: hm(23, 0),
                    end: u32::MAX,
                },
                Opening {
                    day: Weekday::Thu,
                    start: DAY_MINUTES,
                    end: u32::MAX,
                },
                Opening {
                    day: Weekday::Fri,
                    start: u32::MAX,
                    end: u32::MAX,
                },
            ],
            &[date(2026, 1, 1), date(2026, 1, 1)],
        );
        // 2026-01-05 is a Monday: 09:00–14:00 after merging, nothing Tuesday,
        // 23:00–24:00 on Wednesday, nothing after.
        let monday = utc(2026, 1, 5, 0, 0);
        let next_monday = utc(2026, 1, 12, 0, 0);
        assert_eq!(s.seconds_between(monday, next_monday), 6 * 3600);
        assert_eq!(
            s.add_minutes(monday, 5 * 60 + 30),
            Some(utc(2026, 1, 7, 23, 30))
        );
        assert_eq!(s.add_minutes(monday, 6 * 60), Some(utc(2026, 1, 8, 0, 0)));
    }

    /// Run with `cargo test --release -- --ignored`; debug builds get slack.
    #[test]
    #[ignore]
    fn a_year_of_minutes_is_fast() {
        let s = office(Berlin, &[date(2026, 12, 25)]);
        let start = utc(2026, 1, 1, 0, 0);
        let runs = 200;
        let began = std::time::Instant::now();
        for i in 0..runs {
            let due = s.add_minutes(start + TimeDelta::minutes(i), 525_600);
            assert!(due.is_some());
        }
        let each = began.elapsed() / runs as u32;
        let limit = if cfg!(debug_assertions) {
            50_000
        } else {
            1_000
        };
        eprintln!("add_minutes(525_600): {each:?} per call");
        assert!(each < std::time::Duration::from_micros(limit));
    }
}
