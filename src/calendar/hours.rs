//! Working hours: intervals of local wall-clock time within one day, such
//! as `08:00-12:00` and `13:00-18:00`.

use std::fmt;

/// Seconds in a day; an interval may end at `24:00`, this many seconds.
pub const DAY_SECONDS: u32 = 86_400;

/// One stretch of working time in a day, `[start, end)` in seconds since
/// local midnight; `end` may be `24:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interval {
    start: u32,
    end: u32,
}

/// A working-hours value that does not parse or does not make sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    /// Not `HH:MM-HH:MM`.
    #[error("expected working hours as \"HH:MM-HH:MM\", e.g. \"08:00-12:00\"; got {0:?}")]
    Syntax(String),
    /// The end is not after the start.
    #[error("{0:?} ends before it starts; an interval cannot cross midnight (use \"24:00\" as the end)")]
    Backwards(String),
    /// Two intervals of one day overlap or are out of order.
    #[error(
        "{later:?} does not start after {earlier:?} ends; list a day's intervals in order, without overlap"
    )]
    Overlap { earlier: String, later: String },
}

impl Interval {
    /// The interval from `start` to `end` seconds after local midnight;
    /// `None` unless `start < end <= 24:00`.
    pub fn new(start: u32, end: u32) -> Option<Interval> {
        (start < end && end <= DAY_SECONDS).then_some(Interval { start, end })
    }

    /// Seconds after midnight where it starts.
    pub fn start(self) -> u32 {
        self.start
    }

    /// Seconds after midnight where it ends (86 400 for `24:00`).
    pub fn end(self) -> u32 {
        self.end
    }

    /// Parses `HH:MM-HH:MM` (`24:00` allowed as the end).
    pub fn parse(text: &str) -> Result<Interval, HoursError> {
        let syntax = || HoursError::Syntax(text.to_owned());
        let (start, end) = text.split_once('-').ok_or_else(syntax)?;
        let start = parse_clock(start.trim(), false).ok_or_else(syntax)?;
        let end = parse_clock(end.trim(), true).ok_or_else(syntax)?;
        Interval::new(start, end).ok_or_else(|| HoursError::Backwards(text.to_owned()))
    }

    /// The part of the interval from `from` seconds on, if any.
    pub fn from(self, from: u32) -> Option<Interval> {
        Interval::new(self.start.max(from), self.end)
    }
}

/// Parses `HH:MM`; `24:00` only when `end_of_day` allows it.
pub fn parse_clock(text: &str, end_of_day: bool) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if end_of_day => Some(DAY_SECONDS),
        (0..=23, 0..=59) => Some(h * 3600 + m * 60),
        _ => None,
    }
}

/// Formats seconds after midnight as `HH:MM`.
pub fn format_clock(seconds: u32) -> String {
    format!("{:02}:{:02}", seconds / 3600, seconds % 3600 / 60)
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", format_clock(self.start), format_clock(self.end))
    }
}

/// Parses one day's intervals, which must be in order and not overlap.
pub fn parse_day<S: AsRef<str>>(items: &[S]) -> Result<Vec<Interval>, HoursError> {
    let mut day: Vec<Interval> = Vec::with_capacity(items.len());
    for item in items {
        let interval = Interval::parse(item.as_ref())?;
        if let Some(previous) = day.last()
            && interval.start < previous.end
        {
            return Err(HoursError::Overlap {
                earlier: previous.to_string(),
                later: item.as_ref().to_owned(),
            });
        }
        day.push(interval);
    }
    Ok(day)
}

/// Formats a day's intervals as `08:00-12:00, 13:00-18:00`.
pub fn format_day(day: &[Interval]) -> String {
    day.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_and_display() {
        let morning = Interval::parse("08:00-12:00").expect("valid");
        assert_eq!((morning.start(), morning.end()), (8 * 3600, 12 * 3600));
        assert_eq!(morning.to_string(), "08:00-12:00");
        let evening = Interval::parse("18:30-24:00").expect("valid");
        assert_eq!(evening.end(), DAY_SECONDS);
        assert_eq!(evening.to_string(), "18:30-24:00");
        assert_eq!(morning.from(9 * 3600), Interval::new(9 * 3600, 12 * 3600));
        assert_eq!(morning.from(13 * 3600), None);
    }

    #[test]
    fn bad_intervals_say_what_is_expected() {
        for bad in [
            "8:00-12:00",
            "08:00",
            "08:00-24:30",
            "24:00-24:00",
            "08h-12h",
            "08:60-09:00",
        ] {
            assert_eq!(
                Interval::parse(bad).expect_err(bad).to_string(),
                format!("expected working hours as \"HH:MM-HH:MM\", e.g. \"08:00-12:00\"; got {bad:?}")
            );
        }
        assert_eq!(
            Interval::parse("18:00-08:00").expect_err("backwards").to_string(),
            "\"18:00-08:00\" ends before it starts; an interval cannot cross midnight (use \"24:00\" as the end)"
        );
        assert_eq!(
            parse_day(&["13:00-18:00", "08:00-12:00"])
                .expect_err("order")
                .to_string(),
            "\"08:00-12:00\" does not start after \"13:00-18:00\" ends; list a day's intervals in order, \
             without overlap"
        );
        assert_eq!(
            parse_day(&["08:00-12:00", "12:00-18:00"]).map(|d| d.len()),
            Ok(2),
            "touching intervals are fine"
        );
    }
}
