//! The account settings the simulator models: the ones an admin can change
//! and that change what the API accepts. Each defaults to what a new
//! Zendesk account has. A seed sets them (`"settings"`), `/__sim/settings`
//! changes them, and `GET /api/v2/account/settings` shows them in Zendesk's
//! shape (`{"settings": {"tickets": {...}}}`).

use serde::{Deserialize, Serialize};

/// The modelled settings, in the shape of Zendesk's account settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    #[serde(default)]
    pub tickets: TicketSettings,
}

/// `settings.tickets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketSettings {
    /// "Auto-assign tickets upon solve" (Admin Center > Objects and rules >
    /// Tickets > Settings). On: an agent who solves an unassigned ticket
    /// becomes its assignee. Off: the solve is refused. On by default:
    /// "By default, a ticket is assigned to the agent who solved it"
    /// (support.zendesk.com/hc/articles/4408832762650); the key is the one
    /// of `GET /api/v2/account/settings` (developer.zendesk.com,
    /// account_settings, example response).
    #[serde(default = "on")]
    pub assign_tickets_upon_solve: bool,
}

impl Default for TicketSettings {
    fn default() -> TicketSettings {
        TicketSettings {
            assign_tickets_upon_solve: true,
        }
    }
}

fn on() -> bool {
    true
}

/// A partial change, as `POST /__sim/settings` takes it: only the keys
/// given change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    #[serde(default)]
    pub tickets: Option<TicketSettingsChange>,
}

/// `tickets` of a [`SettingsChange`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketSettingsChange {
    #[serde(default)]
    pub assign_tickets_upon_solve: Option<bool>,
}

impl AccountSettings {
    /// Applies `change`.
    pub fn apply(&mut self, change: &SettingsChange) {
        if let Some(tickets) = &change.tickets
            && let Some(on) = tickets.assign_tickets_upon_solve
        {
            self.tickets.assign_tickets_upon_solve = on;
        }
    }
}
