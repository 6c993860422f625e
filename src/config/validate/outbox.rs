//! The semantic pass for `[outbox]`.

use serde::Deserialize;

use super::Checker;
use super::mail::StringList;
use crate::config::outbox::{Cap, OutboxConfig};

/// `[outbox]` before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(in crate::config) struct RawOutbox {
    pub robot_addresses: Option<String>,
    pub recipient_caps: Option<StringList>,
    pub ticket_caps: Option<StringList>,
    pub retry_initial: Option<String>,
    pub retry_max: Option<String>,
    pub poll_interval: Option<String>,
}

impl Checker<'_> {
    /// Validates `[outbox]`.
    pub fn outbox(&mut self, raw: &RawOutbox) -> Option<OutboxConfig> {
        let robot_addresses = self
            .required("outbox.robot_addresses", &raw.robot_addresses)
            .and_then(|pattern| match regex::Regex::new(pattern) {
                Ok(_) => Some(pattern.to_owned()),
                Err(e) => {
                    self.problem(
                        "outbox.robot_addresses",
                        format!(
                            "expected a regular expression over addresses; {pattern:?} does not compile: {e}"
                        ),
                    );
                    None
                }
            });
        let recipient_caps = self.caps("outbox.recipient_caps", raw.recipient_caps.as_ref());
        let ticket_caps = self.caps("outbox.ticket_caps", raw.ticket_caps.as_ref());
        let retry_initial = self.duration("outbox.retry_initial", raw.retry_initial.as_deref());
        let retry_max = self.duration("outbox.retry_max", raw.retry_max.as_deref());
        if let (Some(initial), Some(max)) = (retry_initial, retry_max)
            && initial > max
        {
            self.problem(
                "outbox.retry_max",
                format!(
                    "is shorter than outbox.retry_initial ({}s); the longest wait must be at least the first",
                    initial.as_secs_f64()
                ),
            );
            return None;
        }
        let poll_interval = self.duration("outbox.poll_interval", raw.poll_interval.as_deref());
        Some(OutboxConfig {
            robot_addresses: robot_addresses?,
            recipient_caps: recipient_caps?,
            ticket_caps: ticket_caps?,
            retry_initial: retry_initial?,
            retry_max: retry_max?,
            poll_interval: poll_interval?,
        })
    }

    fn caps(&mut self, key: &str, raw: Option<&StringList>) -> Option<Vec<Cap>> {
        let mut caps = Vec::new();
        let mut valid = true;
        for (index, text) in raw.map(|l| l.0.as_slice()).unwrap_or_default().iter().enumerate() {
            match Cap::parse(text) {
                Ok(cap) => caps.push(cap),
                Err(e) => {
                    self.problem(&format!("{key}[{index}]"), e);
                    valid = false;
                }
            }
        }
        valid.then_some(caps)
    }
}
