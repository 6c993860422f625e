//! The validated `[rules]` settings: where the rule files live and the
//! bounds the engine and the schedule sweep work within.

use std::path::PathBuf;

/// `[rules]`: without `dir`, carteiro runs no rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesConfig {
    /// The rules folder (`*.toml` plus `templates/` and `tests/`); `None`:
    /// no rules. Already checked to be a folder.
    pub dir: Option<PathBuf>,
    /// How many rounds of the bot's own changes may trigger `cascade = true`
    /// rules before planning stops.
    pub max_cascade: u32,
    /// The most tickets one schedule run acts on, so a broad search cannot
    /// flood Zendesk with writes.
    pub sweep_limit: u32,
}

impl Default for RulesConfig {
    fn default() -> RulesConfig {
        RulesConfig {
            dir: None,
            max_cascade: DEFAULT_MAX_CASCADE,
            sweep_limit: DEFAULT_SWEEP_LIMIT,
        }
    }
}

/// The default `rules.max_cascade`.
pub const DEFAULT_MAX_CASCADE: u32 = 3;

/// The default `rules.sweep_limit`.
pub const DEFAULT_SWEEP_LIMIT: u32 = 1000;
