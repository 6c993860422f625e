//! The semantic pass for `[tickets]`.

use serde::Deserialize;

use super::Checker;
use crate::config::tickets::TicketsConfig;

/// `[tickets]` before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(in crate::config) struct RawTickets {
    pub poll_interval: Option<String>,
    pub initial_lookback: Option<String>,
    pub solve_assignee: Option<String>,
}

impl Checker<'_> {
    /// Validates `[tickets]`.
    pub fn tickets(&mut self, raw: &RawTickets) -> Option<TicketsConfig> {
        let poll_interval = self.duration("tickets.poll_interval", raw.poll_interval.as_deref());
        let initial_lookback = self.duration("tickets.initial_lookback", raw.initial_lookback.as_deref());
        let solve_assignee = match raw.solve_assignee.as_deref().map(str::trim) {
            Some(email) if super::looks_like_address(email) => Some(Some(email.to_owned())),
            Some(email) => {
                self.problem(
                    "tickets.solve_assignee",
                    format!("expected an agent's e-mail address, e.g. \"ana@empresa.com.br\"; got {email:?}"),
                );
                None
            }
            None => Some(None),
        };
        Some(TicketsConfig {
            poll_interval: poll_interval?,
            initial_lookback: initial_lookback?,
            solve_assignee: solve_assignee?,
        })
    }
}
