//! The semantic pass: turns the merged, loosely typed [`RawConfig`] into a
//! [`Config`], collecting every problem instead of stopping at the first.
//!
//! Values arrive as strings (a file's integers and booleans are
//! stringified by the `config` crate, environment variables are strings
//! anyway), so file and environment values go through the same checks and
//! the same messages.
//!
//! `[state]`, `[mail]` and `[[mailbox]]` are checked in [`mail`],
//! `[calendars.NAME]` in [`calendar`].

mod calendar;
mod mail;
mod outbox;
mod rules;
mod smtp;
mod tickets;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use url::{Host, Url};

use super::duration::parse_duration;
use super::layers::Layers;
use super::problem::Problem;
use super::{Config, LogConfig, LogFormat};
use crate::helpdesk::zendesk::{Auth, ClientSettings};
use crate::secret::Secret;

pub(super) use calendar::RawCalendar;
pub(super) use mail::{RawMail, RawMailbox, RawState};
pub(super) use outbox::RawOutbox;
pub(super) use rules::RawRules;
pub(super) use smtp::RawSmtp;
pub(super) use tickets::RawTickets;

/// The configuration as merged by the `config` crate, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub zendesk: RawZendesk,
    pub log: RawLog,
    pub state: RawState,
    pub mail: RawMail,
    pub smtp: RawSmtp,
    pub outbox: RawOutbox,
    pub tickets: RawTickets,
    pub rules: RawRules,
    pub mailbox: Vec<RawMailbox>,
    pub calendars: BTreeMap<String, RawCalendar>,
}

/// `[zendesk]` before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawZendesk {
    pub subdomain: Option<String>,
    pub base_url: Option<String>,
    pub auth: Option<String>,
    pub email: Option<String>,
    pub api_token: Option<Secret>,
    pub api_token_file: Option<String>,
    pub oauth_token: Option<Secret>,
    pub oauth_token_file: Option<String>,
    pub request_timeout: Option<String>,
    pub max_retries: Option<String>,
    pub rate_limit_reserve: Option<String>,
    pub max_backoff: Option<String>,
}

/// `[log]` before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLog {
    pub level: Option<String>,
    pub format: Option<String>,
}

/// Largest accepted `zendesk.max_retries`; more is a typo, not a policy.
const MAX_RETRIES_LIMIT: u32 = 100;

/// Collects problems and warnings, each located by where its key was set.
pub(super) struct Checker<'a> {
    layers: &'a Layers,
    /// The whole environment, for secrets named by `password_env`.
    env: &'a BTreeMap<String, String>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl<'a> Checker<'a> {
    pub fn new(layers: &'a Layers, env: &'a BTreeMap<String, String>) -> Checker<'a> {
        Checker {
            layers,
            env,
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn problem(&mut self, key: &str, message: impl Into<String>) {
        let location = self.layers.origin(key);
        self.problems.push(Problem::at(location, key, message));
    }

    /// A required value. Reports it missing when absent.
    fn required<'v>(&mut self, key: &str, value: &'v Option<String>) -> Option<&'v str> {
        if value.is_none() {
            self.problem(key, "missing");
        }
        value.as_deref()
    }

    fn count(&mut self, key: &str, value: Option<&str>, max: u32) -> Option<u32> {
        self.count_between(key, value, 0, max)
    }

    fn count_between(&mut self, key: &str, value: Option<&str>, min: u32, max: u32) -> Option<u32> {
        let value = value?;
        match value.trim().parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                let range = if max == u32::MAX {
                    format!("{min} or more")
                } else {
                    format!("from {min} to {max}")
                };
                self.problem(key, format!("expected a whole number {range}; got {value:?}"));
                None
            }
        }
    }

    fn duration(&mut self, key: &str, value: Option<&str>) -> Option<Duration> {
        let value = value?;
        match parse_duration(value) {
            Ok(d) if d > Duration::ZERO => Some(d),
            Ok(_) => {
                self.problem(
                    key,
                    format!("expected a duration above zero, e.g. \"30s\"; got {value:?}"),
                );
                None
            }
            Err(e) => {
                self.problem(key, e.to_string());
                None
            }
        }
    }

    /// Validates `[zendesk]` into the client's settings.
    pub fn zendesk(&mut self, raw: &RawZendesk) -> Option<ClientSettings> {
        let base_url = self.base_url(raw);
        let auth = self.auth(raw);
        let request_timeout = self.duration("zendesk.request_timeout", raw.request_timeout.as_deref());
        let max_retries = self.count(
            "zendesk.max_retries",
            raw.max_retries.as_deref(),
            MAX_RETRIES_LIMIT,
        );
        let rate_limit_reserve = self.count(
            "zendesk.rate_limit_reserve",
            raw.rate_limit_reserve.as_deref(),
            u32::MAX,
        );
        let max_backoff = self.duration("zendesk.max_backoff", raw.max_backoff.as_deref());
        Some(ClientSettings {
            base_url: base_url?,
            auth: auth?,
            request_timeout: request_timeout?,
            max_retries: max_retries?,
            rate_limit_reserve: rate_limit_reserve?,
            max_backoff: max_backoff?,
        })
    }

    fn base_url(&mut self, raw: &RawZendesk) -> Option<Url> {
        let from_subdomain = raw.subdomain.as_deref().and_then(|s| self.subdomain(s));
        match raw.base_url.as_deref() {
            Some(text) => self.parse_base_url(text),
            None if raw.subdomain.is_some() => from_subdomain,
            None => {
                self.problem(
                    "zendesk.subdomain",
                    "missing; set zendesk.subdomain (e.g. \"empresa\" for https://empresa.zendesk.com) or zendesk.base_url",
                );
                None
            }
        }
    }

    fn subdomain(&mut self, text: &str) -> Option<Url> {
        let valid = !text.is_empty()
            && text.len() <= 63
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-')
            && !text.ends_with('-');
        let url = valid
            .then(|| Url::parse(&format!("https://{text}.zendesk.com")).ok())
            .flatten();
        if url.is_none() {
            self.problem(
                "zendesk.subdomain",
                format!(
                    "expected the subdomain alone (lowercase letters, digits, hyphens), e.g. \"empresa\" for https://empresa.zendesk.com; got {text:?}"
                ),
            );
        }
        url
    }

    fn parse_base_url(&mut self, text: &str) -> Option<Url> {
        const EXPECTED: &str = "expected an https URL, e.g. https://empresa.zendesk.com (plain http only for a loopback host, e.g. http://127.0.0.1:8089)";
        let url = match Url::parse(text) {
            Ok(url) => url,
            Err(_) => {
                self.problem("zendesk.base_url", format!("{EXPECTED}; got {text:?}"));
                return None;
            }
        };
        let loopback = match url.host() {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
        if !scheme_ok || url.host().is_none() {
            self.problem("zendesk.base_url", format!("{EXPECTED}; got {text:?}"));
            return None;
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            self.problem(
                "zendesk.base_url",
                format!(
                    "expected scheme, host and port only (carteiro adds /api/v2/…), e.g. https://empresa.zendesk.com; got {text:?}"
                ),
            );
            return None;
        }
        if !url.username().is_empty() || url.password().is_some() {
            self.problem(
                "zendesk.base_url",
                "expected no credentials in the URL; set zendesk.email and a token instead",
            );
            return None;
        }
        Some(url)
    }

    fn auth(&mut self, raw: &RawZendesk) -> Option<Auth> {
        let mode = self.required("zendesk.auth", &raw.auth)?;
        match mode {
            "api_token" => {
                self.stray_token("zendesk.oauth_token", raw.oauth_token.is_some(), mode);
                self.stray_token("zendesk.oauth_token_file", raw.oauth_token_file.is_some(), mode);
                let email = self.email(raw.email.as_deref());
                let token = self.token("zendesk.api_token", &raw.api_token, &raw.api_token_file, mode);
                Some(Auth::ApiToken {
                    email: email?,
                    token: token?,
                })
            }
            "oauth" => {
                self.stray_token("zendesk.api_token", raw.api_token.is_some(), mode);
                self.stray_token("zendesk.api_token_file", raw.api_token_file.is_some(), mode);
                let token = self.token(
                    "zendesk.oauth_token",
                    &raw.oauth_token,
                    &raw.oauth_token_file,
                    mode,
                );
                Some(Auth::OAuth { token: token? })
            }
            other => {
                self.problem(
                    "zendesk.auth",
                    format!("expected \"api_token\" or \"oauth\"; got {other:?}"),
                );
                // Still look at the credentials, so their problems show too.
                let _ = self.email(raw.email.as_deref());
                None
            }
        }
    }

    fn stray_token(&mut self, key: &str, set: bool, mode: &str) {
        if set {
            self.problem(
                key,
                format!("set, but zendesk.auth is {mode:?}; remove it or change zendesk.auth"),
            );
        }
    }

    fn email(&mut self, email: Option<&str>) -> Option<String> {
        let Some(email) = email else {
            self.problem(
                "zendesk.email",
                "missing; auth \"api_token\" needs the agent's e-mail, e.g. \"bot@empresa.com.br\"",
            );
            return None;
        };
        if !looks_like_address(email) {
            self.problem(
                "zendesk.email",
                format!("expected an e-mail address, e.g. \"bot@empresa.com.br\"; got {email:?}"),
            );
            return None;
        }
        Some(email.to_owned())
    }

    /// The token for auth `mode`, from `key` or from the file named by
    /// `key_file`; exactly one must be set.
    fn token(
        &mut self,
        key: &str,
        inline: &Option<Secret>,
        file: &Option<String>,
        mode: &str,
    ) -> Option<Secret> {
        let file_key = format!("{key}_file");
        let env_var = format!("CARTEIRO__{}", key.replace('.', "__").to_uppercase());
        let secret = match (inline, file) {
            (Some(_), Some(_)) => {
                self.problem(key, format!("both {key} and {file_key} are set; keep one"));
                return None;
            }
            (None, None) => {
                self.problem(
                    key,
                    format!("missing; auth {mode:?} needs a token: set {env_var} or {file_key}"),
                );
                return None;
            }
            (Some(secret), None) => {
                if self.layers.set_in_file(key) {
                    let location = self.layers.origin(key);
                    self.warnings.push(Problem::at(
                        location,
                        key,
                        format!("a secret written in the config file; prefer {env_var} or {file_key}"),
                    ));
                }
                secret.clone()
            }
            (None, Some(path)) => self.read_secret_file(&file_key, path, "the token")?,
        };
        if secret.is_empty() {
            self.problem(key, "is empty; expected the token");
            return None;
        }
        if secret
            .expose()
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            self.problem(
                key,
                "contains whitespace or control characters; expected the token alone",
            );
            return None;
        }
        Some(secret)
    }

    /// The secret in the file at `path`, one trailing newline dropped;
    /// `what` names it in problems ("the token").
    fn read_secret_file(&mut self, file_key: &str, path: &str, what: &str) -> Option<Secret> {
        match std::fs::read_to_string(Path::new(path)) {
            Ok(text) => {
                let trimmed = text.strip_suffix('\n').unwrap_or(&text);
                let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
                if trimmed.is_empty() {
                    self.problem(file_key, format!("the file {path:?} is empty; expected {what}"));
                    return None;
                }
                Some(Secret::new(trimmed))
            }
            Err(e) => {
                self.problem(file_key, format!("cannot read {path:?}: {e}"));
                None
            }
        }
    }

    /// Validates `[log]`.
    pub fn log(&mut self, raw: &RawLog) -> Option<LogConfig> {
        let level = self.required("log.level", &raw.level).and_then(|level| {
            let parsed = tracing_subscriber::EnvFilter::builder().parse(level);
            match parsed {
                Ok(_) if !level.trim().is_empty() => Some(level.to_owned()),
                _ => {
                    self.problem(
                        "log.level",
                        format!(
                            "expected a level or filter directive, e.g. \"info\" or \"carteiro=debug,info\"; got {level:?}"
                        ),
                    );
                    None
                }
            }
        });
        let format = self
            .required("log.format", &raw.format)
            .and_then(|format| match format {
                "text" => Some(LogFormat::Text),
                "json" => Some(LogFormat::Json),
                other => {
                    self.problem(
                        "log.format",
                        format!("expected \"text\" or \"json\"; got {other:?}"),
                    );
                    None
                }
            });
        Some(LogConfig {
            level: level?,
            format: format?,
        })
    }

    /// Validates everything.
    pub fn config(&mut self, raw: &RawConfig) -> Option<Config> {
        let zendesk = self.zendesk(&raw.zendesk);
        let log = self.log(&raw.log);
        let state = self.state(&raw.state);
        let mail = self.mail(&raw.mail);
        let smtp = self.smtp(&raw.smtp);
        let outbox = self.outbox(&raw.outbox);
        let tickets = self.tickets(&raw.tickets);
        let rules = self.rules(&raw.rules);
        let mailboxes = self.mailboxes(&raw.mailbox);
        if let (Some(mail), Some(Some(smtp))) = (&mail, &smtp) {
            let from = smtp.from_address.to_lowercase();
            if !mail.own_addresses.contains(&from) {
                let location = self.layers.origin("smtp.from_address");
                self.warnings.push(Problem::at(
                    location,
                    "smtp.from_address",
                    format!(
                        "{from:?} is not in mail.own_addresses: replies and bounces to it would not be \
                         recognised as answers to carteiro's own mail; add it there"
                    ),
                ));
            }
        }
        let calendars = self.calendars(&raw.calendars);
        Some(Config {
            zendesk: zendesk?,
            log: log?,
            state: state?,
            mail: mail?,
            smtp: smtp?,
            outbox: outbox?,
            tickets: tickets?,
            rules: rules?,
            mailboxes: mailboxes?,
            calendars: calendars?,
        })
    }
}

/// Whether `text` has the shape of an e-mail address: `local@domain`, one
/// `@`, no whitespace or control characters. Deliverability is the mail
/// server's business.
pub(super) fn looks_like_address(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}
