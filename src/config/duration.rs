//! Humane durations in config values: `"500ms"`, `"30s"`, `"2m"`, `"1h30m"`.
//!
//! A dozen lines of parsing cover what the config needs, so carteiro does
//! not take a dependency for it.

use std::time::Duration;

/// A duration string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected a duration such as \"30s\", \"500ms\", \"2m\" or \"1h30m\" (units ms, s, m, h); got {got:?}"
)]
pub struct DurationError {
    /// The text that was given.
    pub got: String,
}

/// Parses one or more `<whole number><unit>` groups, units `ms`, `s`, `m`,
/// `h`, with nothing in between: `"90s"`, `"1m30s"`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let error = || DurationError { got: text.to_owned() };
    if text.is_empty() {
        return Err(error());
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(error)?;
        if digits == 0 {
            return Err(error());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| error())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Some(Duration::from_millis(number)),
            "s" => Some(Duration::from_secs(number)),
            "m" => number.checked_mul(60).map(Duration::from_secs),
            "h" => number.checked_mul(3600).map(Duration::from_secs),
            _ => None,
        };
        total = part.and_then(|p| total.checked_add(p)).ok_or_else(error)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_combined_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_bare_numbers_unknown_units_and_spaces() {
        for bad in [
            "",
            "30",
            "s",
            "30 s",
            "30sec",
            "1.5s",
            "-1s",
            "99999999999999999999h",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert_eq!(
                err.to_string(),
                format!(
                    "expected a duration such as \"30s\", \"500ms\", \"2m\" or \"1h30m\" (units ms, s, m, h); got {bad:?}"
                )
            );
        }
    }
}
