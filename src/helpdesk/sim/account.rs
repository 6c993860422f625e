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

/// Who the account is, as its notifications show it: its name (the
/// `{{ticket.account}}` placeholder, the mails' `From`, `Reply-To` and
/// footer), its subdomain (the ticket links) and its support address.
/// A seed sets it as `"account": {"name": ..., "subdomain": ...,
/// "support_address": ...}`; what it leaves out keeps the simulated
/// account's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProfileSpec")]
pub struct AccountProfile {
    pub name: String,
    pub subdomain: String,
    pub support_address: String,
}

/// The simulated account's name and subdomain.
const DEFAULT_NAME: &str = "Empresa";
const DEFAULT_SUBDOMAIN: &str = "empresa";

impl Default for AccountProfile {
    fn default() -> AccountProfile {
        AccountProfile::new(DEFAULT_NAME, DEFAULT_SUBDOMAIN, None)
    }
}

impl AccountProfile {
    /// A profile; without a support address, the one every account has:
    /// `support@SUBDOMAIN.zendesk.com` ("The Zendesk Support email channel
    /// enables customers to send email directly to your support email
    /// address (for example, support@yoursubdomain.zendesk.com)", Zendesk's
    /// "About Zendesk Channels").
    pub fn new(name: &str, subdomain: &str, support_address: Option<&str>) -> AccountProfile {
        AccountProfile {
            name: name.to_owned(),
            subdomain: subdomain.to_owned(),
            support_address: support_address
                .map_or_else(|| format!("support@{subdomain}.zendesk.com"), str::to_owned),
        }
    }

    /// `SUBDOMAIN.zendesk.com`.
    pub fn host(&self) -> String {
        format!("{}.zendesk.com", self.subdomain)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileSpec {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    subdomain: Option<String>,
    #[serde(default)]
    support_address: Option<String>,
}

impl TryFrom<ProfileSpec> for AccountProfile {
    type Error = String;

    fn try_from(spec: ProfileSpec) -> Result<AccountProfile, String> {
        let name = spec.name.unwrap_or_else(|| DEFAULT_NAME.to_owned());
        if name.trim().is_empty() {
            return Err("name must not be blank".to_owned());
        }
        let subdomain = spec.subdomain.unwrap_or_else(|| DEFAULT_SUBDOMAIN.to_owned());
        let fine = !subdomain.is_empty()
            && subdomain
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !fine {
            return Err(format!(
                "subdomain {subdomain:?} must be lower-case letters, digits and dashes"
            ));
        }
        if let Some(address) = &spec.support_address {
            let parts = address.split_once('@');
            if !parts.is_some_and(|(l, d)| {
                !l.is_empty() && d.contains('.') && !address.contains(char::is_whitespace)
            }) {
                return Err(format!("support_address {address:?} is not an e-mail address"));
            }
        }
        Ok(AccountProfile::new(
            name.trim(),
            &subdomain,
            spec.support_address.as_deref().map(str::trim),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_defaults_what_it_leaves_out_and_refuses_a_bad_subdomain() {
        let profile: AccountProfile =
            serde_json::from_value(serde_json::json!({ "name": "Loja", "subdomain": "loja" }))
                .expect("valid");
        assert_eq!(profile, AccountProfile::new("Loja", "loja", None));
        assert_eq!(profile.support_address, "support@loja.zendesk.com");
        let empty: AccountProfile = serde_json::from_value(serde_json::json!({})).expect("valid");
        assert_eq!(empty, AccountProfile::default());
        let err = serde_json::from_value::<AccountProfile>(serde_json::json!({ "subdomain": "Loja X" }))
            .expect_err("not a subdomain");
        assert_eq!(
            err.to_string(),
            "subdomain \"Loja X\" must be lower-case letters, digits and dashes"
        );
    }
}
