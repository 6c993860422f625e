//! The validated `[outbox]` settings: the guards every outgoing mail
//! passes and the delivery worker's pace, as `outbound` receives them.

use std::time::Duration;

/// `[outbox]`: what may be sent, and how often delivery is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// A regular expression over the lowercased recipient address; a match
    /// is a robot (mailer-daemon, postmaster, no-reply …) and never gets
    /// mail. Already checked to compile.
    pub robot_addresses: String,
    /// Sliding-window caps per recipient address: at most `limit` mails
    /// accepted within any `window`.
    pub recipient_caps: Vec<Cap>,
    /// The same, per ticket.
    pub ticket_caps: Vec<Cap>,
    /// The wait after the first temporary failure; doubled after each
    /// further one, with jitter.
    pub retry_initial: Duration,
    /// The longest wait between two attempts.
    pub retry_max: Duration,
    /// How often the delivery worker looks for due mail when it has none
    /// (mail enqueued by another process, `carteiro mail send`).
    pub poll_interval: Duration,
}

/// At most `limit` mails within `window`, written `"10/10m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    pub limit: u32,
    pub window: Duration,
}

impl Cap {
    /// Reads `"10/10m"`: a whole number, a slash, a duration.
    pub fn parse(text: &str) -> Result<Cap, String> {
        let (limit, window) = text
            .split_once('/')
            .ok_or_else(|| format!("expected LIMIT/WINDOW such as \"10/10m\"; got {text:?}"))?;
        let limit = limit
            .trim()
            .parse::<u32>()
            .map_err(|_| format!("expected a whole number before '/' in {text:?}"))?;
        let window = super::parse_duration(window.trim()).map_err(|e| format!("in {text:?}: {e}"))?;
        if window.is_zero() {
            return Err(format!("the window of {text:?} must be longer than zero"));
        }
        Ok(Cap { limit, window })
    }
}

impl std::fmt::Display for Cap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} in {}s", self.limit, self.window.as_secs())
    }
}
