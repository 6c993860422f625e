//! The semantic pass for `[calendars.NAME]`: each section becomes a
//! [`Calendar`], starting from the default `br` and changing what the
//! section sets. Problems name the key as `calendars.NAME.key`, and an
//! item of a list as `calendars.NAME.holidays[i]`.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde::Deserialize;

use super::Checker;
use super::mail::StringList;
use crate::calendar::{
    AshWednesday, Calendar, CalendarSpec, Calendars, DateRule, HalfDay, Interval, WEEKDAY_KEYS, parse_clock,
};

/// One `[calendars.NAME]` before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(in crate::config) struct RawCalendar {
    pub zone: Option<String>,
    pub monday: Option<StringList>,
    pub tuesday: Option<StringList>,
    pub wednesday: Option<StringList>,
    pub thursday: Option<StringList>,
    pub friday: Option<StringList>,
    pub saturday: Option<StringList>,
    pub sunday: Option<StringList>,
    pub carnaval: Option<String>,
    pub ash_wednesday: Option<String>,
    pub corpus_christi: Option<String>,
    pub holidays: Option<StringList>,
    pub half_days: Option<StringList>,
}

impl RawCalendar {
    /// The hours given for the weekday at `index` (Monday is 0).
    fn day(&self, index: usize) -> Option<&StringList> {
        [
            &self.monday,
            &self.tuesday,
            &self.wednesday,
            &self.thursday,
            &self.friday,
            &self.saturday,
            &self.sunday,
        ][index]
            .as_ref()
    }
}

/// The name a half day gets when its entry gives none.
const DEFAULT_HALF_DAY_NAME: &str = "Meio expediente";

impl Checker<'_> {
    /// Validates every `[calendars.NAME]` into the calendar set, which
    /// holds `br` whether or not it is configured.
    pub fn calendars(&mut self, raw: &BTreeMap<String, RawCalendar>) -> Option<Calendars> {
        let mut calendars = Calendars::new();
        let mut valid = true;
        for (name, raw) in raw {
            match self.calendar(name, raw) {
                Some(calendar) => calendars.insert(calendar),
                None => valid = false,
            }
        }
        valid.then_some(calendars)
    }

    fn calendar(&mut self, name: &str, raw: &RawCalendar) -> Option<Calendar> {
        let prefix = format!("calendars.{name}");
        let key = |k: &str| format!("{prefix}.{k}");
        let mut spec = CalendarSpec::br();
        let mut valid = true;
        if let Some(zone) = &raw.zone {
            match zone.parse::<Tz>() {
                Ok(tz) => spec.zone = tz,
                Err(_) => {
                    self.problem(
                        &key("zone"),
                        format!("expected an IANA time zone such as \"America/Sao_Paulo\"; got {zone:?}"),
                    );
                    valid = false;
                }
            }
        }
        for (index, (day, _)) in WEEKDAY_KEYS.iter().enumerate() {
            if let Some(list) = raw.day(index) {
                match self.hours(&key(day), &list.0) {
                    Some(hours) => spec.week[index] = hours,
                    None => valid = false,
                }
            }
        }
        if let Some(flag) = self.flag(&key("carnaval"), raw.carnaval.as_deref()) {
            spec.carnaval = flag;
        } else if raw.carnaval.is_some() {
            valid = false;
        }
        if let Some(flag) = self.flag(&key("corpus_christi"), raw.corpus_christi.as_deref()) {
            spec.corpus_christi = flag;
        } else if raw.corpus_christi.is_some() {
            valid = false;
        }
        if let Some(text) = raw.ash_wednesday.as_deref() {
            match text {
                "holiday" => spec.ash_wednesday = AshWednesday::Holiday,
                "working" => spec.ash_wednesday = AshWednesday::Working,
                other => match parse_clock(other, false) {
                    Some(at) => spec.ash_wednesday = AshWednesday::OpensAt(at),
                    None => {
                        self.problem(
                            &key("ash_wednesday"),
                            format!(
                                "expected \"HH:MM\" (a business day opening then, e.g. \"13:00\"), \"holiday\" \
                                 or \"working\" (a full day); got {other:?}"
                            ),
                        );
                        valid = false;
                    }
                },
            }
        }
        if let Some(list) = &raw.holidays {
            match self.holidays(&key("holidays"), &list.0) {
                Some(holidays) => spec.extra_holidays = holidays,
                None => valid = false,
            }
        }
        if let Some(list) = &raw.half_days {
            match self.half_days(&key("half_days"), &list.0) {
                Some(days) => spec.half_days = days,
                None => valid = false,
            }
        }
        if !valid {
            return None;
        }
        match Calendar::new(name, spec) {
            Ok(calendar) => Some(calendar),
            Err(e) => {
                self.problem(
                    &prefix,
                    format!("{e}: give at least one of monday … sunday working hours"),
                );
                None
            }
        }
    }

    fn flag(&mut self, key: &str, value: Option<&str>) -> Option<bool> {
        match value? {
            "true" => Some(true),
            "false" => Some(false),
            other => {
                self.problem(key, format!("expected true or false; got {other:?}"));
                None
            }
        }
    }

    /// A day's hours, `["08:00-12:00", "13:00-18:00"]`; `[]` closes it.
    /// Each item is located by its index.
    fn hours(&mut self, key: &str, items: &[String]) -> Option<Vec<Interval>> {
        let mut day: Vec<Interval> = Vec::with_capacity(items.len());
        let mut valid = true;
        for (index, item) in items.iter().enumerate() {
            let item_key = format!("{key}[{index}]");
            match Interval::parse(item) {
                Ok(interval) => {
                    if let Some(previous) = day.last()
                        && interval.start() < previous.end()
                    {
                        self.problem(
                            &item_key,
                            format!(
                                "{item:?} does not start after {previous} ends; list a day's intervals in order, \
                                 without overlap"
                            ),
                        );
                        valid = false;
                    }
                    day.push(interval);
                }
                Err(e) => {
                    self.problem(&item_key, e.to_string());
                    valid = false;
                }
            }
        }
        valid.then_some(day)
    }

    /// Extra holidays, `"MM-DD Name"` (every year) or `"YYYY-MM-DD Name"`.
    fn holidays(&mut self, key: &str, items: &[String]) -> Option<Vec<(DateRule, String)>> {
        let mut holidays = Vec::with_capacity(items.len());
        let mut valid = true;
        for (index, item) in items.iter().enumerate() {
            let parsed = item
                .trim()
                .split_once(' ')
                .and_then(|(date, name)| Some((DateRule::parse(date)?, name.trim())))
                .filter(|(_, name)| !name.is_empty());
            match parsed {
                Some((rule, name)) => holidays.push((rule, name.to_owned())),
                None => {
                    self.problem(
                        &format!("{key}[{index}]"),
                        format!(
                            "expected a date and a name: \"MM-DD Name\" every year (e.g. \"01-25 Aniversário de \
                             São Paulo\") or \"YYYY-MM-DD Name\" once; got {item:?}"
                        ),
                    );
                    valid = false;
                }
            }
        }
        valid.then_some(holidays)
    }

    /// Half days, `"MM-DD HH:MM-HH:MM [HH:MM-HH:MM …] [Name]"` (or with a
    /// `YYYY-MM-DD` date): the day's own working hours.
    fn half_days(&mut self, key: &str, items: &[String]) -> Option<Vec<HalfDay>> {
        let mut days = Vec::with_capacity(items.len());
        let mut valid = true;
        for (index, item) in items.iter().enumerate() {
            let item_key = format!("{key}[{index}]");
            let mut words = item.split_whitespace().peekable();
            let Some(when) = words.next().and_then(DateRule::parse) else {
                self.problem(
                    &item_key,
                    format!(
                        "expected a date, its working hours and optionally a name, e.g. \"12-24 08:00-12:00 \
                         Véspera de Natal\" (or \"2026-12-24 …\" for one year); got {item:?}"
                    ),
                );
                valid = false;
                continue;
            };
            let mut hours = Vec::new();
            while let Some(interval) = words.peek().and_then(|w| Interval::parse(w).ok()) {
                words.next();
                hours.push(interval);
            }
            let sorted = hours.windows(2).all(|w| w[0].end() <= w[1].start());
            if hours.is_empty() || !sorted {
                self.problem(
                    &item_key,
                    format!(
                        "expected working hours \"HH:MM-HH:MM\" after the date, in order and without overlap, \
                         e.g. \"12-24 08:00-12:00 Véspera de Natal\"; got {item:?}"
                    ),
                );
                valid = false;
                continue;
            }
            let name = words.collect::<Vec<_>>().join(" ");
            days.push(HalfDay {
                when,
                hours,
                name: if name.is_empty() {
                    DEFAULT_HALF_DAY_NAME.to_owned()
                } else {
                    name
                },
            });
        }
        valid.then_some(days)
    }
}
