//! The validated `[tickets]` settings: how the ticket poller follows
//! Zendesk's incremental export.

use std::time::Duration;

/// `[tickets]`: the pace of the ticket poller and where a new install
/// starts reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketsConfig {
    /// How often the export is read for changed tickets.
    pub poll_interval: Duration,
    /// On the very first poll (no saved cursor), how far back the export
    /// starts. The tickets found then become the baseline snapshots; no
    /// rule runs for them.
    pub initial_lookback: Duration,
    /// The agent (by e-mail) carteiro makes the assignee of a ticket it
    /// solves or closes while nobody is assigned: Zendesk refuses to solve
    /// an unassigned ticket. `None`: carteiro's own user.
    pub solve_assignee: Option<String>,
}
