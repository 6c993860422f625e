//! `Idempotency-Key` on ticket creation, as Zendesk documents it
//! (developer.zendesk.com, Ticketing API introduction, "Idempotency"):
//!
//! - "If you repeat the same request using the same body and idempotency
//!   key, another ticket is not created. Instead, you'll get the same
//!   response as before that is cached under the idempotency key", flagged
//!   `x-idempotency-lookup: hit` (a first use answers `miss`);
//! - "Keys expire after two hours";
//! - "If you create a request using the same idempotency key but with a
//!   different body", a 400 `IdempotentRequestError`.
//!
//! Only successful creates are remembered: a refused request made nothing
//! that a repeat could duplicate.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use super::api_error::ApiError;

/// How long a key is remembered.
const LIFETIME: TimeDelta = TimeDelta::hours(2);

/// The response header that says whether an answer is a replay.
pub const LOOKUP_HEADER: &str = "x-idempotency-lookup";

/// A create remembered under its key.
#[derive(Debug, Clone, PartialEq)]
pub struct Remembered {
    /// The request body, as JSON (so whitespace and key order do not count).
    request: Value,
    /// The answer's body and `Location`.
    pub body: Value,
    pub location: Option<String>,
    at: DateTime<Utc>,
}

/// What a key says about a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// Unknown (or expired): do the create, then remember it.
    Miss,
    /// The same request again: answer what was answered.
    Hit(Remembered),
}

/// The keys of the account's creates.
#[derive(Debug, Default)]
pub struct Keys {
    by_key: HashMap<String, Remembered>,
}

impl Keys {
    /// What `key` holds for `request` at `now`; a different request under a
    /// live key is refused.
    pub fn lookup(&mut self, key: &str, request: &Value, now: DateTime<Utc>) -> Result<Lookup, ApiError> {
        self.by_key.retain(|_, r| now - r.at < LIFETIME);
        match self.by_key.get(key) {
            None => Ok(Lookup::Miss),
            Some(remembered) if remembered.request == *request => Ok(Lookup::Hit(remembered.clone())),
            Some(_) => Err(ApiError::new(
                400,
                "IdempotentRequestError",
                "Request parameters don't match the given idempotency key",
            )),
        }
    }

    /// Remembers the answer to a create made under `key`.
    pub fn remember(
        &mut self,
        key: &str,
        request: Value,
        body: Value,
        location: Option<String>,
        now: DateTime<Utc>,
    ) {
        self.by_key.insert(
            key.to_owned(),
            Remembered {
                request,
                body,
                location,
                at: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T13:00:00Z")
            .expect("instant")
            .with_timezone(&Utc)
            + TimeDelta::minutes(minutes)
    }

    #[test]
    fn a_key_replays_the_same_request_refuses_another_and_expires_after_two_hours() {
        let mut keys = Keys::default();
        let request = json!({ "ticket": { "subject": "a" } });
        assert_eq!(keys.lookup("k", &request, at(0)).expect("lookup"), Lookup::Miss);
        keys.remember(
            "k",
            request.clone(),
            json!({ "ticket": { "id": 1 } }),
            None,
            at(0),
        );
        let Lookup::Hit(hit) = keys.lookup("k", &request, at(119)).expect("lookup") else {
            panic!("a replay within two hours");
        };
        assert_eq!(hit.body, json!({ "ticket": { "id": 1 } }));
        let other = keys
            .lookup("k", &json!({ "ticket": { "subject": "b" } }), at(1))
            .expect_err("another body");
        assert_eq!(
            (other.status, other.code()),
            (400, "IdempotentRequestError".to_owned())
        );
        assert_eq!(keys.lookup("k", &request, at(120)).expect("lookup"), Lookup::Miss);
    }
}
