//! The semantic pass for `[smtp]`.
//!
//! The section is optional: with none of its keys set carteiro sends no
//! mail. Once any key is set, `host` and `from_address` are required. Its
//! defaults live here, in code, because an absent section must stay absent
//! (`config/default.toml` lists them in a comment).

use serde::Deserialize;

use super::{Checker, looks_like_address};
use crate::config::mail::{AuthMech, TlsMode};
use crate::config::smtp::{SmtpAuth, SmtpConfig, default_smtp_port};
use crate::secret::Secret;

/// `[smtp]` defaults.
pub const DEFAULT_SMTP_TLS: &str = "starttls";
pub const DEFAULT_SMTP_AUTH: &str = "plain";
pub const DEFAULT_SMTP_TIMEOUT: &str = "30s";

/// `[smtp]` before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(in crate::config) struct RawSmtp {
    pub host: Option<String>,
    pub port: Option<String>,
    pub tls: Option<String>,
    pub ca_file: Option<String>,
    pub auth: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<String>,
    pub timeout: Option<String>,
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    pub maildir: Option<String>,
}

impl RawSmtp {
    fn is_empty(&self) -> bool {
        self.host.is_none()
            && self.port.is_none()
            && self.tls.is_none()
            && self.ca_file.is_none()
            && self.auth.is_none()
            && self.username.is_none()
            && self.password.is_none()
            && self.password_file.is_none()
            && self.timeout.is_none()
            && self.from_address.is_none()
            && self.from_name.is_none()
            && self.maildir.is_none()
    }
}

impl Checker<'_> {
    /// Validates `[smtp]`: `Some(None)` when the section is absent.
    pub fn smtp(&mut self, raw: &RawSmtp) -> Option<Option<SmtpConfig>> {
        if raw.is_empty() {
            return Some(None);
        }
        let maildir = match raw.maildir.as_deref() {
            Some(path) if path.trim().is_empty() || path.contains('\0') => {
                self.problem(
                    "smtp.maildir",
                    format!("expected a folder to deliver into, e.g. \"/var/mail/carteiro\"; got {path:?}"),
                );
                return None;
            }
            Some(_) if raw.host.is_some() => {
                self.problem(
                    "smtp.maildir",
                    "smtp.host is set too; set smtp.host to send through a server, or smtp.maildir to deliver \
                     into local Maildirs, not both",
                );
                return None;
            }
            Some(path) => Some(std::path::PathBuf::from(path)),
            None => None,
        };
        let host = match raw.host.as_deref() {
            Some(text) => self.host("smtp.host", text),
            None if maildir.is_some() => Some((String::new(), true)),
            None => {
                self.problem(
                    "smtp.host",
                    "missing; [smtp] needs the server's host name, e.g. \"smtp.empresa.com.br\" \
                     (or smtp.maildir, to deliver into local Maildirs)",
                );
                None
            }
        };
        let tls = match raw.tls.as_deref().unwrap_or(DEFAULT_SMTP_TLS) {
            "implicit" => Some(TlsMode::Implicit),
            "starttls" => Some(TlsMode::StartTls),
            "plain" => Some(TlsMode::Plain),
            other => {
                self.problem(
                    "smtp.tls",
                    format!(
                        "expected \"implicit\" (TLS from the start, port 465), \"starttls\" (port 587) or \
                         \"plain\" (loopback only); got {other:?}"
                    ),
                );
                None
            }
        };
        if let (Some(TlsMode::Plain), Some((host, false))) = (tls, &host) {
            self.problem(
                "smtp.tls",
                format!(
                    "\"plain\" sends the password and the mail unencrypted, so it is allowed only for a loopback \
                     host (localhost, 127.0.0.1, ::1); smtp.host is {host:?}: use \"implicit\" or \"starttls\""
                ),
            );
        }
        let port = match &raw.port {
            Some(text) => self
                .count_between("smtp.port", Some(text), 1, u32::from(u16::MAX))
                .and_then(|port| u16::try_from(port).ok()),
            None => tls.map(default_smtp_port),
        };
        let ca_file = raw
            .ca_file
            .as_deref()
            .and_then(|path| self.ca_file("smtp", path, tls));
        let ca_file_valid = raw.ca_file.is_none() || ca_file.is_some();
        let auth = self.smtp_auth(raw);
        let timeout = self.duration(
            "smtp.timeout",
            Some(raw.timeout.as_deref().unwrap_or(DEFAULT_SMTP_TIMEOUT)),
        );
        let from_address = match raw.from_address.as_deref() {
            Some(text) if looks_like_address(text.trim()) => Some(text.trim().to_owned()),
            Some(text) => {
                self.problem(
                    "smtp.from_address",
                    format!("expected an e-mail address, e.g. \"suporte@empresa.com.br\"; got {text:?}"),
                );
                None
            }
            None => {
                self.problem(
                    "smtp.from_address",
                    "missing; [smtp] needs the address carteiro sends from, e.g. \"suporte@empresa.com.br\" \
                     (one of mail.own_addresses)",
                );
                None
            }
        };
        let from_name = match raw.from_name.as_deref() {
            Some(name) if name.chars().any(char::is_control) => {
                self.problem(
                    "smtp.from_name",
                    format!("expected a name on one line, e.g. \"Suporte Empresa\"; got {name:?}"),
                );
                None
            }
            Some(name) => Some(Some(name.trim().to_owned()).filter(|n| !n.is_empty())),
            None => Some(None),
        };
        let (host, _) = host?;
        if !ca_file_valid {
            return None;
        }
        Some(Some(SmtpConfig {
            host,
            port: port?,
            tls: tls?,
            ca_file,
            auth: auth?,
            timeout: timeout?,
            from_address: from_address?,
            from_name: from_name?,
            maildir,
        }))
    }

    /// The AUTH settings: none without a username; with one, a password
    /// from exactly one of `password` (best from `CARTEIRO__SMTP__PASSWORD`)
    /// and `password_file`. `Some(None)` means no AUTH.
    fn smtp_auth(&mut self, raw: &RawSmtp) -> Option<Option<SmtpAuth>> {
        let has_password = raw.password.is_some() || raw.password_file.is_some();
        let Some(username) = raw.username.as_deref() else {
            if has_password || raw.auth.is_some() {
                let key = if has_password {
                    if raw.password.is_some() {
                        "smtp.password"
                    } else {
                        "smtp.password_file"
                    }
                } else {
                    "smtp.auth"
                };
                self.problem(
                    key,
                    "set, but smtp.username is missing; set smtp.username to log in, or remove it to send \
                     without AUTH",
                );
                return None;
            }
            return Some(None);
        };
        let username = if username.is_empty() || username.chars().any(char::is_control) {
            self.problem(
                "smtp.username",
                format!("expected the user name to log in with; got {username:?}"),
            );
            None
        } else {
            Some(username.to_owned())
        };
        let mechanism = match raw.auth.as_deref().unwrap_or(DEFAULT_SMTP_AUTH) {
            "plain" => Some(AuthMech::Plain),
            "login" => Some(AuthMech::Login),
            other => {
                self.problem(
                    "smtp.auth",
                    format!("expected \"plain\" (AUTH PLAIN) or \"login\" (AUTH LOGIN); got {other:?}"),
                );
                None
            }
        };
        let password = self.smtp_password(raw);
        Some(Some(SmtpAuth {
            mechanism: mechanism?,
            username: username?,
            password: password?,
        }))
    }

    fn smtp_password(&mut self, raw: &RawSmtp) -> Option<Secret> {
        const KEY: &str = "smtp.password";
        const FILE_KEY: &str = "smtp.password_file";
        const ENV: &str = "CARTEIRO__SMTP__PASSWORD";
        let (source, secret) = match (&raw.password, &raw.password_file) {
            (Some(_), Some(_)) => {
                self.problem(KEY, format!("both {KEY} and {FILE_KEY} are set; keep one"));
                return None;
            }
            (None, None) => {
                self.problem(
                    KEY,
                    format!(
                        "missing; smtp.username is set, so a password is needed: set {ENV} or {FILE_KEY}"
                    ),
                );
                return None;
            }
            (Some(secret), None) => {
                if self.layers.set_in_file(KEY) {
                    let location = self.layers.origin(KEY);
                    self.warnings.push(super::Problem::at(
                        location,
                        KEY,
                        format!("a secret written in the config file; prefer {ENV} or {FILE_KEY}"),
                    ));
                }
                (KEY, secret.clone())
            }
            (None, Some(path)) => (FILE_KEY, self.read_secret_file(FILE_KEY, path, "the password")?),
        };
        if secret.is_empty() {
            self.problem(source, "is empty; expected the password");
            return None;
        }
        if secret.expose().chars().any(char::is_control) {
            self.problem(source, "contains control characters; expected the password alone");
            return None;
        }
        Some(secret)
    }
}
