//! Business calendars: time zone, working hours, Brazilian holidays, and
//! arithmetic in business time.
//!
//! Every clock in the support procedures ("até 5 dias úteis", "48 horas
//! úteis", pending for 7 days) is computed here. The module is pure: no
//! I/O and no "now" of its own; the caller passes instants in (from a
//! [`crate::clock::Clock`]). The rule engine's `older_than` conditions and
//! `set_due` actions both go through [`Calendar::add`], so a condition and
//! a due date can never disagree. The exact semantics are in
//! `docs/calendar.md`.
//!
//! A [`Calendar`] is built from a [`CalendarSpec`] (plain data, filled by
//! the configuration's `[calendars.NAME]` sections) and [`Calendars`] holds
//! the named ones, always including the default `br`.

mod arith;
mod duration;
mod holidays;
mod hours;
mod table;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, NaiveDate, Weekday};
use chrono_tz::Tz;

pub use arith::{AddError, DueError, Elapsed};
pub use duration::{Duration, DurationError, MAX_DAYS, format_delta};
pub use holidays::{CONSCIENCIA_NEGRA_SINCE, DateRule, National, easter, national, national_days};
pub use hours::{DAY_SECONDS, HoursError, Interval, format_clock, format_day, parse_clock, parse_day};

/// The name of the calendar that always exists.
pub const DEFAULT_CALENDAR: &str = "br";

/// What a calendar does on Quarta-feira de Cinzas (Ash Wednesday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AshWednesday {
    /// A business day whose working hours start at this many seconds after
    /// midnight (`br`: 13:00).
    OpensAt(u32),
    /// A holiday.
    Holiday,
    /// An ordinary working day.
    Working,
}

/// Everything a calendar is made of, as plain data. [`CalendarSpec::br`]
/// is the default calendar of issue 6; the configuration starts from it
/// and changes what a `[calendars.NAME]` section sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarSpec {
    /// The IANA time zone working hours are read in.
    pub zone: Tz,
    /// Working hours per weekday, Monday first; an empty day is closed.
    pub week: [Vec<Interval>; 7],
    /// Carnaval Monday and Tuesday are holidays.
    pub carnaval: bool,
    /// What Ash Wednesday is.
    pub ash_wednesday: AshWednesday,
    /// Corpus Christi is a holiday.
    pub corpus_christi: bool,
    /// Regional holidays, by date or yearly, with their names.
    pub extra_holidays: Vec<(DateRule, String)>,
    /// Days with their own working hours (e.g. 24 December 08:00–12:00),
    /// with their names. A holiday on the same date wins.
    pub half_days: Vec<HalfDay>,
}

/// A day with its own working hours, instead of its weekday's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HalfDay {
    /// When.
    pub when: DateRule,
    /// The day's working hours.
    pub hours: Vec<Interval>,
    /// What to call it, e.g. "Véspera de Natal".
    pub name: String,
}

impl CalendarSpec {
    /// The default calendar `br`: `America/Sao_Paulo`, Monday to Friday
    /// 08:00–12:00 and 13:00–18:00, national holidays with Carnaval and
    /// Corpus Christi, Ash Wednesday opening at 13:00.
    pub fn br() -> CalendarSpec {
        let weekday: Vec<Interval> = [(8, 12), (13, 18)]
            .into_iter()
            .filter_map(|(start, end)| Interval::new(start * 3600, end * 3600))
            .collect();
        CalendarSpec {
            zone: chrono_tz::America::Sao_Paulo,
            week: [
                weekday.clone(),
                weekday.clone(),
                weekday.clone(),
                weekday.clone(),
                weekday,
                Vec::new(),
                Vec::new(),
            ],
            carnaval: true,
            ash_wednesday: AshWednesday::OpensAt(13 * 3600),
            corpus_christi: true,
            extra_holidays: Vec::new(),
            half_days: Vec::new(),
        }
    }
}

impl Default for CalendarSpec {
    fn default() -> CalendarSpec {
        CalendarSpec::br()
    }
}

/// A spec that cannot make a calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// No weekday has working hours, so business time would never pass.
    #[error("no working hours on any day of the week; business time would never pass")]
    NoHours,
}

/// A business calendar: where business time passes and where it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    name: String,
    spec: CalendarSpec,
    /// The spec's days worked out ahead of time (derived from `spec`).
    table: table::DayTable,
}

/// What a date is, in a calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind<'a> {
    /// No working hours: a holiday, with its name.
    Holiday(&'a str),
    /// Working hours other than the weekday's: Ash Wednesday or a
    /// configured half day, with its name.
    Partial(&'a str),
    /// The weekday's hours (maybe none, on a weekend).
    Regular,
}

/// A day's working hours: the intervals, from `opens_at` on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DayHours<'a> {
    intervals: &'a [Interval],
    opens_at: u32,
}

impl<'a> DayHours<'a> {
    const CLOSED: DayHours<'static> = DayHours {
        intervals: &[],
        opens_at: 0,
    };

    /// The working intervals, clipped to the opening time.
    pub(crate) fn iter(self) -> impl Iterator<Item = Interval> + 'a {
        let opens_at = self.opens_at;
        self.intervals.iter().filter_map(move |i| i.from(opens_at))
    }

    fn is_open(self) -> bool {
        self.intervals.iter().any(|i| i.end() > self.opens_at)
    }
}

impl Calendar {
    /// A calendar called `name`. Fails when the week has no working hours.
    pub fn new(name: impl Into<String>, spec: CalendarSpec) -> Result<Calendar, SpecError> {
        if spec.week.iter().all(Vec::is_empty) {
            return Err(SpecError::NoHours);
        }
        Ok(Calendar::build(name.into(), spec))
    }

    /// The default calendar `br` (see [`CalendarSpec::br`]).
    pub fn br() -> Calendar {
        Calendar::build(DEFAULT_CALENDAR.to_owned(), CalendarSpec::br())
    }

    fn build(name: String, spec: CalendarSpec) -> Calendar {
        let mut calendar = Calendar {
            name,
            spec,
            table: table::DayTable::default(),
        };
        calendar.table = table::DayTable::build(calendar.spec.zone, |date| {
            calendar.computed_hours(date).iter().collect()
        });
        calendar
    }

    /// Its name, e.g. `br`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its time zone.
    pub fn zone(&self) -> Tz {
        self.spec.zone
    }

    /// What it was built from.
    pub fn spec(&self) -> &CalendarSpec {
        &self.spec
    }

    /// The holiday on `date`, if any (a national one first, then the
    /// calendar's own); optional points count only when the calendar
    /// observes them.
    pub fn holiday(&self, date: NaiveDate) -> Option<&str> {
        if let Some(national) = national(date) {
            let observed = match national {
                National::Carnaval => self.spec.carnaval,
                National::CorpusChristi => self.spec.corpus_christi,
                National::QuartaFeiraDeCinzas => self.spec.ash_wednesday == AshWednesday::Holiday,
                _ => true,
            };
            if observed {
                return Some(national.name());
            }
        }
        self.spec
            .extra_holidays
            .iter()
            .find(|(rule, _)| rule.matches(date))
            .map(|(_, name)| name.as_str())
    }

    /// What `date` is: a holiday, a partial day, or a regular day.
    pub fn day_kind(&self, date: NaiveDate) -> DayKind<'_> {
        if let Some(name) = self.holiday(date) {
            return DayKind::Holiday(name);
        }
        if let Some(half) = self.spec.half_days.iter().find(|h| h.when.matches(date)) {
            return DayKind::Partial(&half.name);
        }
        if national(date) == Some(National::QuartaFeiraDeCinzas)
            && let AshWednesday::OpensAt(_) = self.spec.ash_wednesday
        {
            return DayKind::Partial(National::QuartaFeiraDeCinzas.name());
        }
        DayKind::Regular
    }

    /// The working hours of `date`, in local time, and the zone's UTC
    /// offset when it holds all day (from the table when it has the day).
    pub(crate) fn day(&self, date: NaiveDate) -> (DayHours<'_>, Option<i32>) {
        match self.table.get(date) {
            Some((intervals, offset)) => (
                DayHours {
                    intervals,
                    opens_at: 0,
                },
                offset,
            ),
            None => (self.computed_hours(date), None),
        }
    }

    /// The working hours of `date`, in local time.
    pub(crate) fn hours(&self, date: NaiveDate) -> DayHours<'_> {
        self.day(date).0
    }

    /// The working hours of `date` worked out from the spec's rules.
    fn computed_hours(&self, date: NaiveDate) -> DayHours<'_> {
        if self.holiday(date).is_some() {
            return DayHours::CLOSED;
        }
        if let Some(half) = self.spec.half_days.iter().find(|h| h.when.matches(date)) {
            return DayHours {
                intervals: &half.hours,
                opens_at: 0,
            };
        }
        let intervals = &self.spec.week[date.weekday().num_days_from_monday() as usize];
        match self.spec.ash_wednesday {
            AshWednesday::OpensAt(at) if national(date) == Some(National::QuartaFeiraDeCinzas) => DayHours {
                intervals,
                opens_at: at,
            },
            _ => DayHours {
                intervals,
                opens_at: 0,
            },
        }
    }

    /// The working intervals of `date`, in local time; empty when closed.
    pub fn working_hours(&self, date: NaiveDate) -> Vec<Interval> {
        self.hours(date).iter().collect()
    }

    /// Whether `date` is a business day: a day with working hours, that is
    /// a weekday with hours that is not a holiday.
    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        self.hours(date).is_open()
    }

    /// Every holiday and partial day of `year`, in date order, with its
    /// name; a partial day's name carries its hours, e.g. `Quarta-feira de
    /// Cinzas (expediente 13:00-18:00)`. Holidays on weekends are listed
    /// too.
    pub fn holidays(&self, year: i32) -> Vec<(NaiveDate, String)> {
        let Some(first) = NaiveDate::from_ymd_opt(year, 1, 1) else {
            return Vec::new();
        };
        first
            .iter_days()
            .take_while(|d| d.year() == year)
            .filter_map(|date| match self.day_kind(date) {
                DayKind::Holiday(name) => Some((date, name.to_owned())),
                DayKind::Partial(name) => {
                    let hours = self.working_hours(date);
                    let hours = if hours.is_empty() {
                        "fechado".to_owned()
                    } else {
                        format!("expediente {}", format_day(&hours))
                    };
                    Some((date, format!("{name} ({hours})")))
                }
                DayKind::Regular => None,
            })
            .collect()
    }
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.spec.zone)
    }
}

/// The named calendars of a configuration, e.g. one per sector. `br`
/// always exists; a configured `br` replaces the built-in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendars {
    br: Calendar,
    others: BTreeMap<String, Calendar>,
}

impl Default for Calendars {
    fn default() -> Calendars {
        Calendars::new()
    }
}

impl Calendars {
    /// Only the default `br`.
    pub fn new() -> Calendars {
        Calendars {
            br: Calendar::br(),
            others: BTreeMap::new(),
        }
    }

    /// Adds `calendar`, replacing one of the same name.
    pub fn insert(&mut self, calendar: Calendar) {
        if calendar.name == DEFAULT_CALENDAR {
            self.br = calendar;
        } else {
            self.others.insert(calendar.name.clone(), calendar);
        }
    }

    /// The calendar called `name`.
    pub fn get(&self, name: &str) -> Option<&Calendar> {
        if name == DEFAULT_CALENDAR {
            Some(&self.br)
        } else {
            self.others.get(name)
        }
    }

    /// The default calendar, `br`.
    pub fn default_calendar(&self) -> &Calendar {
        &self.br
    }

    /// The names: `br` first, then the others in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(DEFAULT_CALENDAR).chain(self.others.keys().map(String::as_str))
    }
}

/// The weekday names used in configuration keys, Monday first.
pub const WEEKDAY_KEYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];

#[cfg(test)]
mod tests;
