//! The validated `[smtp]` settings: the server carteiro sends its mail
//! through, as `outbound::SmtpSender` receives them.

use std::path::PathBuf;
use std::time::Duration;

use super::mail::{AuthMech, TlsMode};
use crate::secret::Secret;

/// `[smtp]`: present when `smtp.host` or `smtp.maildir` is set; without
/// it carteiro sends no mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Host name or IP address; empty with [`SmtpConfig::maildir`].
    pub host: String,
    pub port: u16,
    /// `Implicit` (SMTPS, port 465), `StartTls` (submission, port 587), or
    /// `Plain`, which validation allows only for a loopback host.
    pub tls: TlsMode,
    /// An extra CA certificate (PEM) to trust besides the Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// How to log in; `None` sends without AUTH (a relay that trusts
    /// carteiro's address).
    pub auth: Option<SmtpAuth>,
    /// The limit on each step: connect, TLS, AUTH, and each command of the
    /// mail transaction.
    pub timeout: Duration,
    /// `From:` and the envelope sender, where bounces return; normally one
    /// of `mail.own_addresses`, so replies come back to a mailbox carteiro
    /// reads.
    pub from_address: String,
    /// The display name in `From:` (e.g. "Suporte Empresa").
    pub from_name: Option<String>,
    /// Local delivery: each mail is written into a Maildir per recipient
    /// under this folder (`FOLDER/ADDRESS/new/`) instead of being sent to
    /// `host`; the SMTP keys other than `from_*` are then unused.
    pub maildir: Option<PathBuf>,
}

/// SMTP AUTH credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpAuth {
    /// `PLAIN` or `LOGIN`.
    pub mechanism: AuthMech,
    pub username: String,
    pub password: Secret,
}

/// The SMTP port used when none is configured.
pub fn default_smtp_port(tls: TlsMode) -> u16 {
    match tls {
        TlsMode::Implicit => 465,
        TlsMode::StartTls => 587,
        TlsMode::Plain => 25,
    }
}
