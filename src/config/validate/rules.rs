//! The semantic pass for `[rules]`.

use std::path::PathBuf;

use serde::Deserialize;

use super::Checker;
use crate::config::rules::RulesConfig;

/// Largest accepted `rules.max_cascade`: a longer chain of the bot
/// triggering itself is a loop, not a process.
const MAX_CASCADE_LIMIT: u32 = 20;

/// `[rules]` before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(in crate::config) struct RawRules {
    pub dir: Option<String>,
    pub max_cascade: Option<String>,
    pub sweep_limit: Option<String>,
}

impl Checker<'_> {
    /// Validates `[rules]`.
    pub fn rules(&mut self, raw: &RawRules) -> Option<RulesConfig> {
        let dir = raw.dir.as_deref().map(|path| self.rules_dir(path));
        let max_cascade = self.count("rules.max_cascade", raw.max_cascade.as_deref(), MAX_CASCADE_LIMIT);
        let sweep_limit = self.count_between("rules.sweep_limit", raw.sweep_limit.as_deref(), 1, u32::MAX);
        Some(RulesConfig {
            dir: match dir {
                Some(dir) => Some(dir?),
                None => None,
            },
            max_cascade: max_cascade?,
            sweep_limit: sweep_limit?,
        })
    }

    fn rules_dir(&mut self, path: &str) -> Option<PathBuf> {
        const KEY: &str = "rules.dir";
        if path.trim().is_empty() || path.contains('\0') {
            self.problem(
                KEY,
                format!("expected the folder holding the rule files, e.g. \"rules\"; got {path:?}"),
            );
            return None;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => Some(PathBuf::from(path)),
            Ok(_) => {
                self.problem(
                    KEY,
                    format!("{path:?} is not a folder; expected the folder holding the *.toml rule files"),
                );
                None
            }
            Err(e) => {
                self.problem(KEY, format!("cannot read the rules folder {path:?}: {e}"));
                None
            }
        }
    }
}
