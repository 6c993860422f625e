//! Configuration: where every setting comes from and whether it makes sense.
//!
//! It sits at the start of the data flow: `main` loads it once, and each
//! part of carteiro gets its own section (the Zendesk client gets
//! [`ClientSettings`] from [`Config::zendesk_client_settings`], the state
//! store [`StateConfig`], ingest [`MailConfig`], each mailbox its
//! [`MailboxConfig`]).
//!
//! Layers, later ones winning, merged by the `config` crate:
//! 1. built-in defaults (in code, mirrored by `config/default.toml`);
//! 2. `config/default.toml` under the working directory when it exists, or
//!    the file given with `--config FILE`, which replaces it;
//! 3. environment variables `CARTEIRO__SECTION__KEY`, e.g.
//!    `CARTEIRO__ZENDESK__SUBDOMAIN`.
//!
//! Loading is two passes. The typed raw structs (`deny_unknown_fields`)
//! receive only known keys of the right TOML type; unknown keys and wrong
//! types are reported by a walk over the file with `toml_edit`, which knows
//! each key's position. Then a semantic pass checks every value. Both passes
//! collect **all** problems; each names its key, the expected form, and
//! where the value came from (`path:line:col` or the variable's name).
//!
//! Secrets (Zendesk tokens) come from the environment or a `*_file` path and
//! are held as [`crate::secret::Secret`]. One written literally in the file
//! is accepted with a warning.
//!
//! `[calendars.NAME]` sections are business calendars (see
//! [`crate::calendar`]); each starts from the default `br` and changes what
//! it sets, and `br` exists even when not configured. Like mailboxes they
//! are read from the file only, and their problems name the calendar:
//! `calendars.os.monday[1]`.
//!
//! `[[mailbox]]` entries are the exception to layering: an array entry has
//! no stable `CARTEIRO__…` name (its index shifts when a mailbox is added),
//! so they are read from the file only, and an IMAP password is given by
//! `password_env`, the name of an environment variable of the admin's
//! choosing, or by `password_file`. Their problems name the entry by index
//! from 0: `mailbox[1].host`.

mod duration;
mod layers;
mod mail;
mod outbox;
mod problem;
mod rules;
mod schema;
mod size;
mod smtp;
mod tickets;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use ::config::builder::DefaultState;
use ::config::{ConfigBuilder, ConfigError, Environment};

use crate::helpdesk::zendesk::ClientSettings;

pub use duration::{DurationError, parse_duration};
pub use mail::{
    AfterProcessing, AuthMech, ImapConfig, MailConfig, MailboxConfig, MailboxSource, MaildirConfig,
    StateConfig, SubjectTag, TlsMode, is_internal_sender,
};
pub use outbox::{Cap, OutboxConfig};
pub use problem::{InvalidConfig, Location, Problem};
pub use rules::{DEFAULT_MAX_CASCADE, DEFAULT_SWEEP_LIMIT, RulesConfig};
pub use schema::{ARRAY_SECTIONS, ENV_PREFIX, KEYS, KeySpec, Kind, SECTIONS, TABLE_SECTIONS};
pub use size::{SizeError, parse_size};
pub use smtp::{SmtpAuth, SmtpConfig, default_smtp_port};
pub use tickets::TicketsConfig;

/// The validated configuration. Nothing starts without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `[zendesk]`: where Zendesk is and how to authenticate.
    pub zendesk: ClientSettings,
    /// `[log]`: what to log and in which format.
    pub log: LogConfig,
    /// `[state]`: where the state store lives.
    pub state: StateConfig,
    /// `[mail]`: what every mailbox shares.
    pub mail: MailConfig,
    /// `[smtp]`: where mail is sent through; `None` when not configured.
    pub smtp: Option<SmtpConfig>,
    /// `[outbox]`: the guards on outgoing mail and the delivery pace.
    pub outbox: OutboxConfig,
    /// `[tickets]`: how the ticket poller follows the export.
    pub tickets: TicketsConfig,
    /// `[rules]`: the rules folder and the engine's bounds.
    pub rules: RulesConfig,
    /// `[[mailbox]]`: where mail is read from, in file order; maybe none.
    pub mailboxes: Vec<MailboxConfig>,
    /// `[calendars.NAME]`: the business calendars rules refer to by name;
    /// always holds `br`.
    pub calendars: crate::calendar::Calendars,
}

impl Config {
    /// What the Zendesk client is built from.
    pub fn zendesk_client_settings(&self) -> ClientSettings {
        self.zendesk.clone()
    }
}

/// `[log]`: logging goes to stderr, so stdout stays machine-readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A `tracing_subscriber::EnvFilter` directive, e.g. `info` or
    /// `carteiro=debug,info`; already checked to parse.
    pub level: String,
    /// Human-readable lines or one JSON object per line.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// For a person at a terminal.
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

/// Where to read the configuration from. Tests build one with their own
/// environment map instead of touching the process's. `Debug` shows the
/// variables' names only, since values may be secrets.
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// `--config FILE`: read this file instead of `config/default.toml`. It
    /// must exist.
    pub file: Option<PathBuf>,
    /// The default file, read only when it exists and `file` is `None`.
    /// `None` means no default file.
    pub default_file: Option<PathBuf>,
    /// The environment: `CARTEIRO__…` variables set keys, and a mailbox's
    /// `password_env` names any other variable.
    pub env: BTreeMap<String, String>,
}

impl std::fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("file", &self.file)
            .field("default_file", &self.default_file)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl LoadOptions {
    /// The options for the running process: `--config` when given, else
    /// `config/default.toml` in the working directory, and the process's
    /// whole environment (variables whose name or value is not UTF-8 are
    /// read lossily, and then fail validation if used).
    pub fn from_process(file: Option<PathBuf>) -> LoadOptions {
        let env = std::env::vars_os()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned()))
            .collect();
        LoadOptions {
            file,
            default_file: Some(layers::default_file_path()),
            env,
        }
    }

    /// The file that will be read, if any.
    pub fn chosen_file(&self) -> Option<PathBuf> {
        match (&self.file, &self.default_file) {
            (Some(file), _) => Some(file.clone()),
            (None, Some(default)) if default.exists() => Some(default.clone()),
            _ => None,
        }
    }
}

/// A valid configuration, with the warnings worth showing the admin.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration itself.
    pub config: Config,
    /// Accepted but discouraged settings (a secret written in the file).
    pub warnings: Vec<Problem>,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
}

/// Loads and validates the whole configuration.
pub fn load(options: &LoadOptions) -> Result<Loaded, InvalidConfig> {
    let file = options.chosen_file();
    let (layers, raw) = merge(options, file.as_deref())?;
    let mut checker = validate::Checker::new(&layers, &options.env);
    let config = checker.config(&raw);
    let mut problems = layers.problems.clone();
    problems.append(&mut checker.problems);
    match config {
        Some(config) if problems.is_empty() => Ok(Loaded {
            config,
            warnings: checker.warnings,
            file,
        }),
        _ => Err(InvalidConfig { problems }),
    }
}

/// Loads only `[log]`, for commands that need nothing else (`carteiro sim`).
/// Problems in other sections are ignored; a file that cannot be read or
/// parsed is still an error.
pub fn load_log(options: &LoadOptions) -> Result<LogConfig, InvalidConfig> {
    let file = options.chosen_file();
    let (layers, raw) = merge(options, file.as_deref())?;
    let mut checker = validate::Checker::new(&layers, &options.env);
    let log = checker.log(&raw.log);
    let in_log = |p: &Problem| p.key.as_deref().is_some_and(|k| k.starts_with("log."));
    let problems: Vec<Problem> = layers
        .problems
        .iter()
        .chain(&checker.problems)
        .filter(|p| in_log(p))
        .cloned()
        .collect();
    match log {
        Some(log) if problems.is_empty() => Ok(log),
        _ => Err(InvalidConfig { problems }),
    }
}

/// Loads only `[calendars.NAME]`, for commands that need nothing else
/// (`carteiro calendar`): problems in other sections are ignored; a file
/// that cannot be read or parsed is still an error.
pub fn load_calendars(options: &LoadOptions) -> Result<crate::calendar::Calendars, InvalidConfig> {
    let file = options.chosen_file();
    let (layers, raw) = merge(options, file.as_deref())?;
    let mut checker = validate::Checker::new(&layers, &options.env);
    let calendars = checker.calendars(&raw.calendars);
    let in_calendars = |p: &Problem| {
        p.key
            .as_deref()
            .is_some_and(|k| k == "calendars" || k.starts_with("calendars."))
    };
    let problems: Vec<Problem> = layers
        .problems
        .iter()
        .chain(&checker.problems)
        .filter(|p| in_calendars(p))
        .cloned()
        .collect();
    match calendars {
        Some(calendars) if problems.is_empty() => Ok(calendars),
        _ => Err(InvalidConfig { problems }),
    }
}

/// Reads the layers and merges them with the `config` crate.
fn merge(
    options: &LoadOptions,
    file: Option<&std::path::Path>,
) -> Result<(layers::Layers, validate::RawConfig), InvalidConfig> {
    let layers = layers::gather(file, &options.env).map_err(|problem| InvalidConfig {
        problems: vec![problem],
    })?;
    let env = Environment::with_prefix("CARTEIRO")
        .prefix_separator("__")
        .separator("__")
        .source(Some(layers.env.clone()));
    // Only known keys with string or integer values reach the merge, so a
    // failure here is a bug in carteiro, not in the configuration.
    let raw = defaults()
        .map(|builder| match &layers.file {
            Some(source) => builder.add_source(source.clone()),
            None => builder,
        })
        .and_then(|builder| builder.add_source(env).build())
        .and_then(|merged| merged.try_deserialize::<validate::RawConfig>())
        .map_err(|e| InvalidConfig {
            problems: vec![Problem {
                location: None,
                key: None,
                message: format!("internal error merging the configuration layers: {e}"),
            }],
        })?;
    Ok((layers, raw))
}

/// The built-in defaults, the bottom layer. `config/default.toml` says the
/// same, and a test keeps the two equal.
const DEFAULTS: &[(&str, &str)] = &[
    ("zendesk.auth", "api_token"),
    ("zendesk.request_timeout", "30s"),
    ("zendesk.max_retries", "5"),
    ("zendesk.rate_limit_reserve", "10"),
    ("zendesk.max_backoff", "60s"),
    ("log.level", "info"),
    ("log.format", "text"),
    ("state.path", "state/carteiro.db"),
    ("mail.loop_header", "X-Carteiro-Loop"),
    ("mail.subject_tag", "[#{id}]"),
    ("mail.max_attachment_bytes", "25MiB"),
    ("mail.quarantine_max_retries", "5"),
    ("outbox.robot_addresses", DEFAULT_ROBOT_ADDRESSES),
    ("outbox.recipient_caps", "10/10m,25/1h,100/10h"),
    ("outbox.ticket_caps", "10/10m,25/1h,100/10h"),
    ("outbox.retry_initial", "30s"),
    ("outbox.retry_max", "1h"),
    ("outbox.poll_interval", "5s"),
    ("tickets.poll_interval", "30s"),
    ("tickets.initial_lookback", "1h"),
    ("rules.max_cascade", "3"),
    ("rules.sweep_limit", "1000"),
];

/// The default `outbox.robot_addresses`: mailer-daemon, postmaster and the
/// no-reply family (noreply, no-reply, do-not-reply, donotreply), with or
/// without a `+tag`, at any domain.
pub const DEFAULT_ROBOT_ADDRESSES: &str =
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)([+-][^@]*)?@";

/// A builder holding the built-in defaults.
fn defaults() -> Result<ConfigBuilder<DefaultState>, ConfigError> {
    DEFAULTS
        .iter()
        .try_fold(::config::Config::builder(), |builder, (key, value)| {
            builder.set_default(*key, *value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde::de::{self, Visitor};

    /// A deserializer that only records the field names serde's derive
    /// passes to `deserialize_struct`, to compare the structs with [`KEYS`].
    #[derive(Default)]
    struct FieldNames(&'static [&'static str]);

    impl<'de> de::Deserializer<'de> for &mut FieldNames {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("only structs are inspected"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = fields;
            Err(de::Error::custom("fields recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }

    fn fields<'de, T: Deserialize<'de>>() -> Vec<&'static str> {
        let mut names = FieldNames::default();
        let _ = T::deserialize(&mut names);
        names.0.to_vec()
    }

    fn keys_of(section: &str) -> Vec<&'static str> {
        KEYS.iter()
            .filter(|k| k.section == section)
            .map(|k| k.name)
            .collect()
    }

    #[test]
    fn the_key_table_lists_exactly_the_struct_fields() {
        assert_eq!(fields::<validate::RawConfig>(), SECTIONS);
        assert_eq!(fields::<validate::RawZendesk>(), keys_of("zendesk"));
        assert_eq!(fields::<validate::RawLog>(), keys_of("log"));
        assert_eq!(fields::<validate::RawState>(), keys_of("state"));
        assert_eq!(fields::<validate::RawMail>(), keys_of("mail"));
        assert_eq!(fields::<validate::RawSmtp>(), keys_of("smtp"));
        assert_eq!(fields::<validate::RawOutbox>(), keys_of("outbox"));
        assert_eq!(fields::<validate::RawTickets>(), keys_of("tickets"));
        assert_eq!(fields::<validate::RawRules>(), keys_of("rules"));
        assert_eq!(fields::<validate::RawMailbox>(), keys_of("mailbox"));
        assert_eq!(fields::<validate::RawCalendar>(), keys_of("calendars"));
    }

    #[test]
    fn every_default_is_a_known_key() {
        for (key, _) in DEFAULTS {
            let (section, name) = key.split_once('.').unwrap_or_default();
            assert!(schema::find(section, name).is_some(), "{key}");
        }
    }
}
