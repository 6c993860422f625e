//! The Zendesk Support API client: the production [`HelpDesk`].
//!
//! It paces itself by the rate-limit headers, waits out 429s, retries 5xx
//! and timeouts with backoff and jitter, and retries a create only behind an
//! idempotency guard (an `external_id` lookup), so that a retry never makes a
//! second ticket.

use std::time::Duration;

use url::Url;

use crate::secret::Secret;

/// How the client proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `{email}/token:{token}` in HTTP basic auth.
    ApiToken { email: String, token: Secret },
    /// An OAuth access token, sent as a bearer token.
    OAuth { token: Secret },
}

/// What the client needs to know; built from the `[zendesk]` config section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// `https://{subdomain}.zendesk.com`, or the simulator's address.
    pub base_url: Url,
    pub auth: Auth,
    /// How long one HTTP request may take before it counts as timed out.
    pub request_timeout: Duration,
    /// How many times a failed request is retried (5xx, timeouts, 429s).
    pub max_retries: u32,
    /// Requests kept in reserve: when the rate-limit budget left falls to
    /// this, the client waits for the window to reset.
    pub rate_limit_reserve: u32,
    /// Upper bound of one backoff wait.
    pub max_backoff: Duration,
}
