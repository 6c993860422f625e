//! Durations as admins write them in rules: calendar time (`7d`, `12h`,
//! `30m`) or business time (`5bd` business days, `48bh` business hours).

use std::fmt;

use chrono::TimeDelta;

/// How far to go from an instant, in calendar or business time. What it
/// means exactly is [`super::Calendar::add`]'s business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Duration {
    /// Plain elapsed time, whatever the calendar says: `7d`, `12h`, `30m`.
    Calendar(TimeDelta),
    /// Business days: `5bd`.
    BusinessDays(u32),
    /// Working time inside the calendar's hours: `48bh`.
    BusinessTime(TimeDelta),
}

/// The longest duration accepted, in days (about 100 years): more is a
/// typo, and would make a walk through the calendar needlessly long.
pub const MAX_DAYS: i64 = 36_525;

/// A duration that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not `<number><unit>`.
    #[error(
        "expected a duration as a whole number and a unit, e.g. \"7d\", \"12h\", \"30m\" (calendar time), \
         \"5bd\" (business days) or \"48bh\" (business hours); got {0:?}"
    )]
    Syntax(String),
    /// A number with a unit carteiro does not know.
    #[error(
        "unknown unit {unit:?} in {got:?}; use d, h or m for calendar time, bd for business days, \
         bh for business hours"
    )]
    Unit { unit: String, got: String },
    /// Longer than [`MAX_DAYS`].
    #[error("{0:?} is too long; durations go up to about 100 years")]
    TooLong(String),
}

impl Duration {
    /// Parses `<whole number><unit>`, units `d`, `h`, `m`, `bd`, `bh`, with
    /// an optional leading `+` (as in `set_due = "+5bd"`). Nothing else:
    /// no spaces, signs, fractions or combined units.
    pub fn parse(text: &str) -> Result<Duration, DurationError> {
        let syntax = || DurationError::Syntax(text.to_owned());
        let body = text.strip_prefix('+').unwrap_or(text);
        let digits = body.find(|c: char| !c.is_ascii_digit()).unwrap_or(body.len());
        let (number, unit) = body.split_at(digits);
        if number.is_empty() || unit.is_empty() {
            return Err(syntax());
        }
        if !unit.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(syntax());
        }
        let too_long = || DurationError::TooLong(text.to_owned());
        let n: i64 = number.parse().map_err(|_| too_long())?;
        let (delta, limit) = match unit {
            "d" => (TimeDelta::try_days(n), MAX_DAYS),
            "h" | "bh" => (TimeDelta::try_hours(n), MAX_DAYS * 24),
            "m" => (TimeDelta::try_minutes(n), MAX_DAYS * 24 * 60),
            "bd" => (Some(TimeDelta::zero()), MAX_DAYS),
            other => {
                return Err(DurationError::Unit {
                    unit: other.to_owned(),
                    got: text.to_owned(),
                });
            }
        };
        let delta = delta.filter(|_| n <= limit).ok_or_else(too_long)?;
        Ok(match unit {
            "bd" => Duration::BusinessDays(u32::try_from(n).map_err(|_| too_long())?),
            "bh" => Duration::BusinessTime(delta),
            _ => Duration::Calendar(delta),
        })
    }

    /// Whether it counts business time (`bd`, `bh`) rather than calendar
    /// time.
    pub fn is_business(&self) -> bool {
        !matches!(self, Duration::Calendar(_))
    }
}

impl std::str::FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Duration, DurationError> {
        Duration::parse(text)
    }
}

impl fmt::Display for Duration {
    /// The shortest form that parses back to the same duration: `5bd`,
    /// `48bh`, `7d`, `36h`, `90m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Duration::BusinessDays(n) => write!(f, "{n}bd"),
            Duration::BusinessTime(delta) if delta.num_seconds() % 3600 == 0 => {
                write!(f, "{}bh", delta.num_hours())
            }
            // Only `bh` is parsed, but business time can come from
            // arithmetic; minutes are the finest unit written.
            Duration::BusinessTime(delta) => write!(f, "{}", format_delta(delta)),
            Duration::Calendar(delta) if delta.num_seconds() % 86_400 == 0 => {
                write!(f, "{}d", delta.num_days())
            }
            Duration::Calendar(delta) if delta.num_seconds() % 3600 == 0 => {
                write!(f, "{}h", delta.num_hours())
            }
            Duration::Calendar(delta) => write!(f, "{}m", delta.num_minutes()),
        }
    }
}

/// Formats a span of time as hours, minutes and seconds, leaving out the
/// zero parts: `27h30m`, `45m`, `0s`, `-2h`.
pub fn format_delta(delta: TimeDelta) -> String {
    let sign = if delta < TimeDelta::zero() { "-" } else { "" };
    let total = delta.num_seconds().unsigned_abs();
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    let mut text = String::from(sign);
    if h > 0 {
        text.push_str(&format!("{h}h"));
    }
    if m > 0 {
        text.push_str(&format!("{m}m"));
    }
    if s > 0 || (h == 0 && m == 0) {
        text.push_str(&format!("{s}s"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(Duration::parse("7d"), Ok(Duration::Calendar(TimeDelta::days(7))));
        assert_eq!(
            Duration::parse("12h"),
            Ok(Duration::Calendar(TimeDelta::hours(12)))
        );
        assert_eq!(
            Duration::parse("30m"),
            Ok(Duration::Calendar(TimeDelta::minutes(30)))
        );
        assert_eq!(Duration::parse("5bd"), Ok(Duration::BusinessDays(5)));
        assert_eq!(
            Duration::parse("48bh"),
            Ok(Duration::BusinessTime(TimeDelta::hours(48)))
        );
        assert_eq!(Duration::parse("+5bd"), Ok(Duration::BusinessDays(5)));
        assert_eq!(Duration::parse("0bd"), Ok(Duration::BusinessDays(0)));
        assert!(Duration::parse("5bd").is_ok_and(|d| d.is_business()));
        assert!(Duration::parse("5d").is_ok_and(|d| !d.is_business()));
    }

    #[test]
    fn displays_what_parses_back() {
        for text in ["7d", "36h", "90m", "5bd", "48bh", "0bd"] {
            let parsed = Duration::parse(text).expect(text);
            assert_eq!(parsed.to_string(), text);
            assert_eq!(Duration::parse(&parsed.to_string()), Ok(parsed));
        }
        assert_eq!(Duration::parse("24h").map(|d| d.to_string()), Ok("1d".to_owned()));
    }

    #[test]
    fn errors_name_the_input_and_the_units() {
        let syntax = |got: &str| {
            format!(
                "expected a duration as a whole number and a unit, e.g. \"7d\", \"12h\", \"30m\" (calendar \
                 time), \"5bd\" (business days) or \"48bh\" (business hours); got {got:?}"
            )
        };
        for bad in ["", "5", "bd", "-5bd", "5 bd", "1.5d", "1h30m", "++5d", "5bd!"] {
            assert_eq!(
                Duration::parse(bad).expect_err(bad).to_string(),
                syntax(bad),
                "{bad}"
            );
        }
        assert_eq!(
            Duration::parse("5du").expect_err("unit").to_string(),
            "unknown unit \"du\" in \"5du\"; use d, h or m for calendar time, bd for business days, bh for \
             business hours"
        );
        assert_eq!(
            Duration::parse("5w").expect_err("unit"),
            DurationError::Unit {
                unit: "w".into(),
                got: "5w".into()
            }
        );
        for long in ["36526d", "99999999999999999999999bd", "999999999h"] {
            assert_eq!(
                Duration::parse(long).expect_err(long).to_string(),
                format!("{long:?} is too long; durations go up to about 100 years")
            );
        }
    }

    #[test]
    fn deltas_format_compactly() {
        assert_eq!(format_delta(TimeDelta::minutes(27 * 60 + 30)), "27h30m");
        assert_eq!(format_delta(TimeDelta::zero()), "0s");
        assert_eq!(format_delta(TimeDelta::seconds(-7200)), "-2h");
        assert_eq!(format_delta(TimeDelta::seconds(61)), "1m1s");
    }
}
