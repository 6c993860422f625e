//! A calendar's days worked out ahead of time, for speed.
//!
//! Walking through business time asks two questions per day: what are its
//! working hours (holidays, Easter, half days), and what is the zone's UTC
//! offset (DST). Answered from the rules and the time-zone database they
//! cost a few hundred nanoseconds a day; a schedule sweep asks them
//! millions of times. So each [`super::Calendar`] answers them once for
//! every day of [`FIRST_YEAR`]..=[`LAST_YEAR`] when it is built, and looks
//! them up afterwards. Days outside the range, and days on which the
//! offset changes, are answered from the rules every time, so the results
//! are the same either way (a test compares the two for every day).

use std::fmt;

use chrono::{Datelike, LocalResult, NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone};
use chrono_tz::Tz;

use super::Interval;

/// The first year in the table.
pub const FIRST_YEAR: i32 = 2016;
/// The last year in the table.
pub const LAST_YEAR: i32 = 2045;

/// One day: which schedule, and the UTC offset valid all day long (from
/// 00:00 to the next 00:00), when there is one.
#[derive(Clone, Copy, PartialEq, Eq)]
struct DayInfo {
    schedule: u16,
    /// Seconds east of UTC; [`VARIES`] when the offset changes that day or
    /// at the midnight ending it.
    offset: i32,
}

/// No single offset for the day.
const VARIES: i32 = i32::MIN;

/// The days of [`FIRST_YEAR`]..=[`LAST_YEAR`], each pointing at one of a
/// few distinct schedules.
#[derive(Clone, PartialEq, Eq, Default)]
pub(super) struct DayTable {
    first: Option<NaiveDate>,
    days: Vec<DayInfo>,
    schedules: Vec<Vec<Interval>>,
}

impl fmt::Debug for DayTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DayTable")
            .field("first", &self.first)
            .field("days", &self.days.len())
            .field("schedules", &self.schedules.len())
            .finish()
    }
}

impl DayTable {
    /// Works out every day of the range with `hours` (a day's working
    /// hours by the rules) in `zone`.
    pub(super) fn build(zone: Tz, hours: impl Fn(NaiveDate) -> Vec<Interval>) -> DayTable {
        let (Some(first), Some(end)) = (
            NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1),
            NaiveDate::from_ymd_opt(LAST_YEAR + 1, 1, 1),
        ) else {
            return DayTable::default();
        };
        let mut schedules: Vec<Vec<Interval>> = Vec::new();
        let mut days = Vec::with_capacity(usize::try_from((end - first).num_days()).unwrap_or_default());
        for date in first.iter_days().take_while(|d| *d < end) {
            let day = hours(date);
            let index = match schedules.iter().position(|s| *s == day) {
                Some(index) => index,
                None => {
                    schedules.push(day);
                    schedules.len() - 1
                }
            };
            let Ok(schedule) = u16::try_from(index) else {
                // More distinct schedules than a u16 counts: no table.
                return DayTable::default();
            };
            days.push(DayInfo {
                schedule,
                offset: steady_offset(zone, date).unwrap_or(VARIES),
            });
        }
        DayTable {
            first: Some(first),
            days,
            schedules,
        }
    }

    /// The day's working hours and its steady offset, when `date` is in
    /// the table; the offset is `None` when it changes that day.
    pub(super) fn get(&self, date: NaiveDate) -> Option<(&[Interval], Option<i32>)> {
        let index = usize::try_from((date - self.first?).num_days()).ok()?;
        let info = self.days.get(index)?;
        let schedule = self.schedules.get(usize::from(info.schedule))?;
        Some((schedule, (info.offset != VARIES).then_some(info.offset)))
    }
}

/// The offset of `zone` on `date` when one offset holds from its 00:00 to
/// the next 00:00 (both existing once); `None` when the clocks change in
/// between.
fn steady_offset(zone: Tz, date: NaiveDate) -> Option<i32> {
    let start = date.and_time(NaiveTime::MIN);
    let probes = [start, start + TimeDelta::hours(12), start + TimeDelta::days(1)];
    let mut offset = None;
    for local in probes {
        let LocalResult::Single(found) = zone.offset_from_local_datetime(&local) else {
            return None;
        };
        let seconds = found.fix().local_minus_utc();
        match offset {
            None => offset = Some(seconds),
            Some(previous) if previous == seconds => {}
            Some(_) => return None,
        }
    }
    // The year check keeps the sentinel out of reach.
    offset.filter(|o| *o != VARIES && date.year() >= FIRST_YEAR)
}
