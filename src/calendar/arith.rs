//! Arithmetic in business time: [`Calendar::add`], [`Calendar::elapsed`],
//! and the comparisons defined through `add`.
//!
//! Working hours are local wall-clock times; they become instants through
//! [`Calendar::resolve`], which decides what a local time means when the
//! clocks jump (DST). Business time is then plain elapsed time between
//! those instants, so a working interval that spans a DST change is an
//! hour shorter or longer, as the people working it experience.

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc,
};

use super::{Calendar, Duration};

/// The most consecutive days [`Calendar::add`] walks without finding
/// working time before it gives up (a calendar whose holidays close every
/// working day).
const MAX_CLOSED_DAYS: u32 = 400;

/// An instant that cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    /// The calendar has no working time for a long stretch.
    #[error("calendar {calendar}: no business day in the {MAX_CLOSED_DAYS} days after {after}")]
    NoBusinessDay { calendar: String, after: NaiveDate },
    /// Beyond the dates carteiro can represent.
    #[error("the result is out of the supported range of dates")]
    OutOfRange,
}

/// How much time lies between two instants, in each of the three ways
/// rules count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    /// The largest `n` with `from + n bd <= to`.
    pub business_days: i64,
    /// Working time in `[from, to)`.
    pub business_time: TimeDelta,
    /// Plain elapsed time, `to - from`.
    pub calendar: TimeDelta,
}

impl Calendar {
    /// The instant a local wall-clock time names in the calendar's zone.
    /// When the time does not exist (the clocks jumped forward over it),
    /// it is read with the offset in force before the jump, which lands as
    /// far after the jump as it was after the jump's start: 00:30 on the
    /// night São Paulo moved from -03:00 to -02:00 is 01:30 -02:00. When
    /// it exists twice (the clocks went back), the earlier one is taken.
    pub fn resolve(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.zone().offset_from_local_datetime(&local) {
            LocalResult::Single(offset) | LocalResult::Ambiguous(offset, _) => {
                (local - TimeDelta::seconds(i64::from(offset.fix().local_minus_utc()))).and_utc()
            }
            LocalResult::None => {
                // A gap is a forward jump; no zone jumps twice within
                // 30 hours, and offsets are within ±14 h, so an instant 30 h
                // before `local` read as UTC has the offset before the gap.
                let before = local.and_utc() - TimeDelta::hours(30);
                let offset = self.zone().offset_from_utc_datetime(&before.naive_utc()).fix();
                (local - TimeDelta::seconds(i64::from(offset.local_minus_utc()))).and_utc()
            }
        }
    }

    /// The local date and time of `instant`.
    pub fn local(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        instant.with_timezone(&self.zone()).naive_local()
    }

    /// The instant `seconds` after local midnight of `date` (86 400 is the
    /// next midnight); `offset` is the day's steady UTC offset, when it has
    /// one.
    pub(super) fn at(&self, date: NaiveDate, seconds: u32, offset: Option<i32>) -> DateTime<Utc> {
        match offset {
            Some(offset) => {
                let local = date.and_time(NaiveTime::MIN) + TimeDelta::seconds(i64::from(seconds));
                (local - TimeDelta::seconds(i64::from(offset))).and_utc()
            }
            None => self.resolve(date.and_time(NaiveTime::MIN) + TimeDelta::seconds(i64::from(seconds))),
        }
    }

    /// [`Self::at`] in nanoseconds since the epoch, the hot loops' unit:
    /// with a steady offset it is integer arithmetic.
    pub(super) fn at_nanos(&self, date: NaiveDate, seconds: u32, offset: Option<i32>) -> i128 {
        match offset {
            Some(offset) => {
                let day = i64::from(date.num_days_from_ce()) - EPOCH_DAYS_FROM_CE;
                i128::from(day * 86_400 + i64::from(seconds) - i64::from(offset)) * NANOS
            }
            None => nanos(self.at(date, seconds, None)),
        }
    }

    /// The instant of local `time` on `date`, as [`Self::resolve`] reads it.
    fn at_time(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        match self.day(date).1 {
            Some(offset) => (date.and_time(time) - TimeDelta::seconds(i64::from(offset))).and_utc(),
            None => self.resolve(date.and_time(time)),
        }
    }

    /// `t + d`:
    /// - calendar time: plain elapsed time;
    /// - `N bd`: the same local time of day on the N-th business day
    ///   strictly after `t`'s local date (resolved as [`Self::resolve`]
    ///   says when that time does not exist or exists twice);
    /// - `N bh`: walk forward through the working intervals from `t`
    ///   (from the next opening when `t` is outside them) until N hours of
    ///   working time have passed. Landing exactly on the end of an
    ///   interval gives that end, not the next opening.
    ///
    /// Adding zero of anything gives `t`.
    pub fn add(&self, t: DateTime<Utc>, d: Duration) -> Result<DateTime<Utc>, AddError> {
        match d {
            Duration::Calendar(delta) => t.checked_add_signed(delta).ok_or(AddError::OutOfRange),
            Duration::BusinessDays(0) => Ok(t),
            Duration::BusinessDays(n) => {
                let local = self.local(t);
                let date = self.nth_business_day_after(local.date(), n)?;
                Ok(self.at_time(date, local.time()))
            }
            Duration::BusinessTime(delta) if delta <= TimeDelta::zero() => Ok(t),
            Duration::BusinessTime(delta) => self.add_business_time(t, delta),
        }
    }

    /// The N-th business day strictly after `date`.
    fn nth_business_day_after(&self, start: NaiveDate, n: u32) -> Result<NaiveDate, AddError> {
        let mut date = start;
        let mut left = n;
        let mut closed = 0;
        while left > 0 {
            date = date.succ_opt().ok_or(AddError::OutOfRange)?;
            if self.is_business_day(date) {
                left -= 1;
                closed = 0;
            } else {
                closed += 1;
                if closed > MAX_CLOSED_DAYS {
                    return Err(self.no_business_day(date, start));
                }
            }
        }
        Ok(date)
    }

    /// The error for a walk that found no working time for
    /// [`MAX_CLOSED_DAYS`] days from its last open day, or from `start`.
    fn no_business_day(&self, date: NaiveDate, start: NaiveDate) -> AddError {
        AddError::NoBusinessDay {
            calendar: self.name().to_owned(),
            after: (date - TimeDelta::days(i64::from(MAX_CLOSED_DAYS) + 1)).max(start),
        }
    }

    fn add_business_time(&self, t: DateTime<Utc>, delta: TimeDelta) -> Result<DateTime<Utc>, AddError> {
        let mut remaining = delta_nanos(delta);
        let t_nanos = nanos(t);
        let start = self.local(t).date();
        let mut date = start;
        let mut closed = 0;
        loop {
            let mut open = false;
            let (hours, offset) = self.day(date);
            for interval in hours.iter() {
                open = true;
                let end = self.at_nanos(date, interval.end(), offset);
                if end <= t_nanos {
                    continue;
                }
                let from = self.at_nanos(date, interval.start(), offset).max(t_nanos);
                let available = end - from;
                if remaining <= available {
                    return from_nanos(from + remaining).ok_or(AddError::OutOfRange);
                }
                remaining -= available;
            }
            closed = if open { 0 } else { closed + 1 };
            if closed > MAX_CLOSED_DAYS {
                return Err(self.no_business_day(date, start));
            }
            date = date.succ_opt().ok_or(AddError::OutOfRange)?;
        }
    }

    /// `x + d <= now`: `x` is at least `d` old. Defined through
    /// [`Self::add`], so it agrees with a due date `x + d` to the second.
    pub fn older_than(&self, x: DateTime<Utc>, d: Duration, now: DateTime<Utc>) -> Result<bool, AddError> {
        Ok(self.add(x, d)? <= now)
    }

    /// `x + d > now`: exactly the negation of [`Self::older_than`].
    pub fn newer_than(&self, x: DateTime<Utc>, d: Duration, now: DateTime<Utc>) -> Result<bool, AddError> {
        Ok(self.add(x, d)? > now)
    }

    /// The instant a due date written `+5bd` (or any [`Duration`], the `+`
    /// optional) falls on, counted from `now`.
    pub fn due(&self, now: DateTime<Utc>, offset: &str) -> Result<DateTime<Utc>, DueError> {
        let d = Duration::parse(offset)?;
        Ok(self.add(now, d)?)
    }

    /// How much time lies between `from` and `to`, so that for every
    /// duration `d` of at least one unit, `older_than(from, d, to)` holds
    /// exactly when the matching figure reaches `d`. When `to` is before
    /// `from`, every figure is the negation of `elapsed(to, from)`.
    pub fn elapsed(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Elapsed {
        if to < from {
            let back = self.elapsed(to, from);
            return Elapsed {
                business_days: -back.business_days,
                business_time: -back.business_time,
                calendar: -back.calendar,
            };
        }
        let start = self.local(from);
        let end_date = self.local(to).date();
        let (from_nanos, to_nanos) = (nanos(from), nanos(to));
        let mut business_nanos: i128 = 0;
        let mut business_days = 0;
        // The last two business dates after `from`'s date, for the check
        // on the time of day at the end.
        let mut last: [Option<NaiveDate>; 2] = [None, None];
        let mut date = start.date();
        loop {
            let mut open = false;
            let (hours, offset) = self.day(date);
            for interval in hours.iter() {
                open = true;
                let s = self.at_nanos(date, interval.start(), offset).max(from_nanos);
                let e = self.at_nanos(date, interval.end(), offset).min(to_nanos);
                if s < e {
                    business_nanos += e - s;
                }
            }
            if open && date > start.date() {
                business_days += 1;
                last = [last[1], Some(date)];
            }
            if date >= end_date {
                break;
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        // `from + n bd` is on the n-th business date at `from`'s time of
        // day, which may still be after `to` on the last date (or, across
        // a DST gap, the one before).
        for date in last.into_iter().rev().flatten() {
            if business_days > 0 && self.at_time(date, start.time()) > to {
                business_days -= 1;
            } else {
                break;
            }
        }
        Elapsed {
            business_days,
            business_time: nanos_delta(business_nanos),
            calendar: to - from,
        }
    }
}

/// Nanoseconds in a second.
const NANOS: i128 = 1_000_000_000;

/// 1970-01-01 in days from 0001-01-01 (chrono's day 1).
const EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// An instant in nanoseconds since the epoch (i128: any chrono date fits).
fn nanos(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * NANOS + i128::from(t.timestamp_subsec_nanos())
}

/// The instant `n` nanoseconds after the epoch, when chrono can hold it.
fn from_nanos(n: i128) -> Option<DateTime<Utc>> {
    let seconds = i64::try_from(n.div_euclid(NANOS)).ok()?;
    let sub = u32::try_from(n.rem_euclid(NANOS)).ok()?;
    DateTime::from_timestamp(seconds, sub)
}

/// A span of time in nanoseconds.
fn delta_nanos(d: TimeDelta) -> i128 {
    i128::from(d.num_seconds()) * NANOS + i128::from(d.subsec_nanos())
}

/// Nanoseconds as a span of time (saturating at chrono's limits, which
/// are far beyond any calendar walk).
fn nanos_delta(n: i128) -> TimeDelta {
    let seconds = i64::try_from(n.div_euclid(NANOS)).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX });
    let sub = u32::try_from(n.rem_euclid(NANOS)).unwrap_or_default();
    TimeDelta::new(seconds, sub).unwrap_or(if n < 0 { TimeDelta::MIN } else { TimeDelta::MAX })
}

/// A due date that cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DueError {
    /// The offset does not parse.
    #[error(transparent)]
    Duration(#[from] super::DurationError),
    /// The instant cannot be computed.
    #[error(transparent)]
    Add(#[from] AddError),
}
