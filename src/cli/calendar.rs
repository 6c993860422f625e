//! `carteiro calendar`: lets an admin see what a business calendar makes
//! of a year, a due date or a stretch of time, with the same code the
//! rules use.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use clap::{Args, Subcommand};

use super::{fail, finish, stderr_line, stdout_lines};
use crate::calendar::{Calendar, Calendars, DEFAULT_CALENDAR, Duration, format_delta};
use crate::config::{self, LoadOptions};

/// The `carteiro calendar` subcommands.
#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Print the holidays and partial days of YEAR, one `YYYY-MM-DD name`
    /// per line (partial days with their hours).
    Holidays {
        /// The year, from 1583 to 9999.
        year: i32,
        #[command(flatten)]
        options: CalendarOptions,
    },
    /// Print INSTANT + DURATION in RFC 3339, with the calendar zone's
    /// offset.
    Add {
        /// RFC 3339 (`2026-02-13T10:00:00-03:00`) or local time in the
        /// calendar's zone (`2026-02-13T10:00`).
        instant: String,
        /// `7d`, `12h`, `30m` (calendar time), `5bd` (business days) or
        /// `48bh` (business hours).
        duration: String,
        #[command(flatten)]
        options: CalendarOptions,
    },
    /// Print the business days, business hours and calendar time from FROM
    /// to TO.
    Elapsed {
        /// RFC 3339 or local `YYYY-MM-DDTHH:MM`, as for `add`.
        from: String,
        /// RFC 3339 or local `YYYY-MM-DDTHH:MM`, as for `add`.
        to: String,
        #[command(flatten)]
        options: CalendarOptions,
    },
}

/// Which calendar, from which configuration.
#[derive(Debug, Args)]
pub struct CalendarOptions {
    /// The calendar's name, from the configuration's `[calendars.NAME]`.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_CALENDAR)]
    pub calendar: String,
    /// Configuration file to read instead of config/default.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Runs a `carteiro calendar` subcommand.
pub fn run(command: CalendarCommand) -> ExitCode {
    let options = match &command {
        CalendarCommand::Holidays { options, .. }
        | CalendarCommand::Add { options, .. }
        | CalendarCommand::Elapsed { options, .. } => options,
    };
    let calendars = match config::load_calendars(&LoadOptions::from_process(options.config.clone())) {
        Ok(calendars) => calendars,
        Err(invalid) => {
            for problem in &invalid.problems {
                let _ = stderr_line(&problem.to_string());
            }
            let _ = stderr_line("error: the calendars in the configuration are invalid");
            return ExitCode::FAILURE;
        }
    };
    match lines(&command, &options.calendar, &calendars) {
        Ok(lines) => finish(stdout_lines(lines)),
        Err(e) => fail(&e),
    }
}

/// The output lines of `command` with the calendar called `name`.
fn lines(command: &CalendarCommand, name: &str, calendars: &Calendars) -> anyhow::Result<Vec<String>> {
    let calendar = calendars.get(name).ok_or_else(|| {
        anyhow!(
            "no calendar {name:?}; the configuration has {}",
            calendars.names().collect::<Vec<_>>().join(", ")
        )
    })?;
    match command {
        CalendarCommand::Holidays { year, .. } => {
            if !(1583..=9999).contains(year) {
                bail!("expected a year from 1583 to 9999; got {year}");
            }
            Ok(calendar
                .holidays(*year)
                .into_iter()
                .map(|(date, name)| format!("{} {name}", date.format("%Y-%m-%d")))
                .collect())
        }
        CalendarCommand::Add {
            instant, duration, ..
        } => {
            let start = parse_instant(calendar, instant)?;
            let d = Duration::parse(duration)?;
            let end = calendar
                .add(start, d)
                .with_context(|| format!("cannot add {duration} to {instant}"))?;
            Ok(vec![end.with_timezone(&calendar.zone()).to_rfc3339()])
        }
        CalendarCommand::Elapsed { from, to, .. } => {
            let elapsed = calendar.elapsed(parse_instant(calendar, from)?, parse_instant(calendar, to)?);
            Ok(vec![
                format!("business days: {}", elapsed.business_days),
                format!("business hours: {}", format_delta(elapsed.business_time)),
                format!("calendar time: {}", format_days(elapsed.calendar)),
            ])
        }
    }
}

/// RFC 3339, or local `YYYY-MM-DDTHH:MM[:SS]` in the calendar's zone. A
/// local time that does not exist or exists twice (DST) is read as
/// [`Calendar::resolve`] says, with a note on stderr.
fn parse_instant(calendar: &Calendar, text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc));
    }
    let local = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .ok_or_else(|| {
            anyhow!(
                "expected an instant in RFC 3339 (\"2026-02-13T10:00:00-03:00\") or local time in {} \
                 (\"2026-02-13T10:00\"); got {text:?}",
                calendar.zone()
            )
        })?;
    let instant = calendar.resolve(local);
    let shown = instant.with_timezone(&calendar.zone()).to_rfc3339();
    match calendar.zone().from_local_datetime(&local) {
        LocalResult::None => {
            let _ = stderr_line(&format!(
                "note: {text} does not exist in {} (the clocks jumped forward); read as {shown}",
                calendar.zone()
            ));
        }
        LocalResult::Ambiguous(..) => {
            let _ = stderr_line(&format!(
                "note: {text} happens twice in {} (the clocks went back); read as the first, {shown}",
                calendar.zone()
            ));
        }
        LocalResult::Single(_) => {}
    }
    Ok(instant)
}

/// Formats calendar time with days: `6d5h`, `-1d`, `30m`.
fn format_days(delta: TimeDelta) -> String {
    let days = delta.num_days();
    let rest = delta - TimeDelta::days(days);
    match (days, rest.is_zero()) {
        (0, _) => format_delta(delta),
        (_, true) => format!("{days}d"),
        _ => format!("{days}d{}", format_delta(rest).trim_start_matches('-')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_time_shows_days() {
        assert_eq!(format_days(TimeDelta::hours(149)), "6d5h");
        assert_eq!(format_days(TimeDelta::hours(48)), "2d");
        assert_eq!(format_days(TimeDelta::minutes(30)), "30m");
        assert_eq!(format_days(-TimeDelta::hours(25)), "-1d1h");
    }
}
