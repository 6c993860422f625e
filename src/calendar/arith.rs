//! Arithmetic in business time: [`Calendar::add`], [`Calendar::elapsed`],
//! and the comparisons defined through `add`.
//!
//! Working hours are local wall-clock times; they become instants through
//! [`Calendar::resolve`], which decides what a local time means when the
//! clocks jump (DST). Business time is then plain elapsed time between
//! those instants, so a working interval that spans a DST change is an
//! hour shorter or longer, as the people working it experience.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc};

use super::{Calendar, Duration, Interval};

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

    /// The instant an interval of `date` starts and ends.
    fn bounds(&self, date: NaiveDate, interval: Interval) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.at(date, interval.start()), self.at(date, interval.end()))
    }

    /// The instant `seconds` after local midnight of `date` (86 400 is the
    /// next midnight).
    fn at(&self, date: NaiveDate, seconds: u32) -> DateTime<Utc> {
        let local = date.and_time(NaiveTime::MIN) + TimeDelta::seconds(i64::from(seconds));
        self.resolve(local)
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
                Ok(self.resolve(date.and_time(local.time())))
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
        let mut remaining = delta;
        let start = self.local(t).date();
        let mut date = start;
        let mut closed = 0;
        loop {
            let mut open = false;
            for interval in self.hours(date).iter() {
                open = true;
                let (start, end) = self.bounds(date, interval);
                if end <= t {
                    continue;
                }
                let from = start.max(t);
                let available = end - from;
                if remaining <= available {
                    return Ok(from + remaining);
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
        let mut business_time = TimeDelta::zero();
        let mut business_days = 0;
        // The last two business dates after `from`'s date, for the check
        // on the time of day at the end.
        let mut last: [Option<NaiveDate>; 2] = [None, None];
        let mut date = start.date();
        loop {
            let mut open = false;
            for interval in self.hours(date).iter() {
                open = true;
                let (s, e) = self.bounds(date, interval);
                let (s, e) = (s.max(from), e.min(to));
                if s < e {
                    business_time += e - s;
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
            if business_days > 0 && self.resolve(date.and_time(start.time())) > to {
                business_days -= 1;
            } else {
                break;
            }
        }
        Elapsed {
            business_days,
            business_time,
            calendar: to - from,
        }
    }
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
