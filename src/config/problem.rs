//! What `check` and the daemon print about a bad configuration: one
//! [`Problem`] per line, each naming where the value came from (a file
//! position or an environment variable) and the key it concerns.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a configuration value came from, so a problem can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A position in a TOML file; `line` and `column` are 1-based, the
    /// column counted in characters.
    File {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    /// A file as a whole (it could not be read).
    WholeFile { path: PathBuf },
    /// An environment variable, by name.
    Env { var: String },
}

impl Location {
    /// The position of byte `offset` of `text`, read from `path`.
    pub fn in_file(path: &Path, text: &str, offset: usize) -> Location {
        let (line, column) = line_col(text, offset);
        Location::File {
            path: path.to_path_buf(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File { path, line, column } => {
                write!(f, "{}:{line}:{column}", path.display())
            }
            Location::WholeFile { path } => write!(f, "{}", path.display()),
            Location::Env { var } => f.write_str(var),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// One thing wrong (or, for warnings, worth changing) in the configuration.
///
/// Displays as `LOCATION: KEY: MESSAGE`, leaving out the parts it does not
/// have, e.g. `carteiro.toml:3:1: zendesk.base_url: expected an https URL…`
/// or `CARTEIRO__ZENDESK__MAX_RETRIES: zendesk.max_retries: expected…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the offending value was written; `None` for a missing value.
    pub location: Option<Location>,
    /// The dotted key (`zendesk.base_url`); `None` for file-level problems
    /// such as a TOML syntax error.
    pub key: Option<String>,
    /// What is wrong and what is expected instead.
    pub message: String,
}

impl Problem {
    /// A problem about `key`, located at `location` when known.
    pub fn at(location: Option<Location>, key: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            location,
            key: Some(key.into()),
            message: message.into(),
        }
    }

    /// A problem with no single key (unreadable file, syntax error).
    pub fn general(location: Location, message: impl Into<String>) -> Problem {
        Problem {
            location: Some(location),
            key: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The configuration is invalid; every problem found is listed, not only
/// the first, so an admin fixes them in one round.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidConfig {
    /// The problems, in the order found: file structure first (syntax,
    /// unknown keys, wrong types), then unknown environment variables, then
    /// values in key order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            f,
            "invalid configuration ({count} problem{})",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_is_one_based_and_counts_characters() {
        let text = "a = 1\nção = \"x\"\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 4), (1, 5));
        assert_eq!(line_col(text, 6), (2, 1));
        // "ção" is 5 bytes and 3 characters; the space after it is column 4.
        assert_eq!(line_col(text, 11), (2, 4));
        assert_eq!(line_col(text, 1000), (3, 1));
    }

    #[test]
    fn problems_display_location_key_and_message() {
        let problem = Problem::at(
            Some(Location::Env {
                var: "CARTEIRO__LOG__FORMAT".into(),
            }),
            "log.format",
            "expected \"text\" or \"json\"",
        );
        assert_eq!(
            problem.to_string(),
            "CARTEIRO__LOG__FORMAT: log.format: expected \"text\" or \"json\""
        );
        let missing = Problem::at(None, "zendesk.email", "missing");
        assert_eq!(missing.to_string(), "zendesk.email: missing");
    }
}
