//! What stands between an `/api/v2` request and the account: the rate
//! limiter (fixed windows, Zendesk's headers and 429s) and the queue of
//! injected faults (5xx, delays, timeouts, 429 storms).
//!
//! Both are plain state machines over an injected instant, so they are
//! tested without a server; the route layer asks them once per request.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::RateLimit;

/// The budget reported when no limit is set: large, and never enforced.
const UNLIMITED: RateLimit = RateLimit {
    limit: 1_000_000,
    window: Duration::from_secs(60),
};

/// How long a `timeout` fault holds its response: longer than any client
/// waits.
pub const TIMEOUT_HOLD: Duration = Duration::from_secs(120);

/// The request budget in the current window, for the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub remaining: u32,
    /// Whole seconds until the window resets, at least 1.
    pub reset_secs: u64,
}

/// Whether a request may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go on; one request of the budget was spent.
    Allowed(Budget),
    /// The budget is spent: answer 429. Nothing was spent.
    Limited(Budget),
}

/// Fixed-window rate limiting. The first window opens at the first request;
/// later windows follow back to back.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    limit: Option<RateLimit>,
    window_start: Option<Instant>,
    used: u32,
}

impl RateLimiter {
    /// A limiter enforcing `limit`, or none.
    pub fn new(limit: Option<RateLimit>) -> RateLimiter {
        RateLimiter {
            limit,
            window_start: None,
            used: 0,
        }
    }

    /// The limit being enforced.
    pub fn limit(&self) -> Option<RateLimit> {
        self.limit
    }

    /// Replaces the limit; a new window opens at the next request.
    pub fn set(&mut self, limit: Option<RateLimit>) {
        *self = RateLimiter::new(limit);
    }

    /// Admits (and counts) one request at `now`.
    pub fn admit(&mut self, now: Instant) -> Admission {
        let config = self.limit.unwrap_or(UNLIMITED);
        let window = config.window.max(Duration::from_secs(1));
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        let start = if elapsed >= window {
            let windows = elapsed.as_nanos() / window.as_nanos();
            let skip = u32::try_from(windows).unwrap_or(u32::MAX);
            self.used = 0;
            let start = start + window.saturating_mul(skip);
            self.window_start = Some(start);
            start
        } else {
            start
        };
        let left = (start + window).saturating_duration_since(now);
        let reset_secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        let reset_secs = reset_secs.max(1);
        if self.limit.is_some() && self.used >= config.limit {
            return Admission::Limited(Budget {
                limit: config.limit,
                remaining: 0,
                reset_secs,
            });
        }
        self.used = self.used.saturating_add(1);
        Admission::Allowed(Budget {
            limit: config.limit,
            remaining: config.limit.saturating_sub(self.used),
            reset_secs,
        })
    }
}

/// What an injected fault does to the request it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer this status with an error body; the request has no effect.
    Status(u16),
    /// Wait, then handle the request normally.
    Delay(Duration),
    /// Hold the response for [`TIMEOUT_HOLD`]; with `after_commit` the
    /// request's effect is applied first, otherwise never.
    Timeout { after_commit: bool },
    /// Answer 429 with this `Retry-After`.
    RateLimit { retry_after_secs: u64 },
}

/// A fault waiting for the next `count` matching requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub count: u32,
    /// `"METHOD /path"` or `"/path"`; the path is a route template
    /// (`/api/v2/tickets/{id}`), an exact path, or a prefix ending in `*`.
    pub matcher: Option<String>,
}

/// A fault as `POST /__sim/faults` takes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    kind: String,
    #[serde(default)]
    count: Option<u32>,
    #[serde(default, rename = "match")]
    matcher: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    ms: Option<u64>,
    #[serde(default)]
    after_commit: Option<bool>,
    #[serde(default)]
    retry_after_secs: Option<u64>,
}

impl FaultSpec {
    /// Checks the spec; the error says what is missing or wrong.
    pub fn into_fault(self) -> Result<Fault, String> {
        let kind = match self.kind.as_str() {
            "status" => match self.status {
                Some(status @ 400..=599) => FaultKind::Status(status),
                Some(other) => return Err(format!("status {other} is not a 4xx or 5xx")),
                None => return Err("kind `status` needs `status` (e.g. 503)".to_owned()),
            },
            "delay" => match self.ms {
                Some(ms) => FaultKind::Delay(Duration::from_millis(ms)),
                None => return Err("kind `delay` needs `ms`".to_owned()),
            },
            "timeout" => FaultKind::Timeout {
                after_commit: self.after_commit.unwrap_or(false),
            },
            "rate_limit" => FaultKind::RateLimit {
                retry_after_secs: self.retry_after_secs.unwrap_or(1).max(1),
            },
            other => {
                return Err(format!(
                    "unknown kind `{other}`; expected status, delay, timeout or rate_limit"
                ));
            }
        };
        let count = self.count.unwrap_or(1);
        if count == 0 {
            return Err("count must be at least 1".to_owned());
        }
        if let Some(matcher) = &self.matcher
            && !matcher.contains('/')
        {
            return Err(format!(
                "match `{matcher}` names no path; write e.g. \"POST /api/v2/tickets\""
            ));
        }
        Ok(Fault {
            kind,
            count,
            matcher: self.matcher,
        })
    }
}

impl Fault {
    /// Whether this fault applies to a request.
    pub fn matches(&self, method: &str, template: &str, path: &str) -> bool {
        let Some(matcher) = &self.matcher else {
            return true;
        };
        let matcher = matcher.trim();
        let (wanted_method, pattern) = match matcher.split_once(' ') {
            Some((m, p)) => (Some(m.trim()), p.trim()),
            None => (None, matcher),
        };
        if let Some(m) = wanted_method
            && m != "*"
            && !m.eq_ignore_ascii_case(method)
        {
            return false;
        }
        let pattern = pattern.strip_suffix(".json").unwrap_or(pattern);
        match pattern.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix) || template.starts_with(prefix),
            None => pattern == template || pattern == path,
        }
    }

    /// The fault as `GET /__sim/faults` lists it (the shape it was given in).
    pub fn to_json(&self) -> Value {
        let mut value = match self.kind {
            FaultKind::Status(status) => json!({ "kind": "status", "status": status }),
            FaultKind::Delay(delay) => json!({ "kind": "delay", "ms": delay.as_millis() }),
            FaultKind::Timeout { after_commit } => {
                json!({ "kind": "timeout", "after_commit": after_commit })
            }
            FaultKind::RateLimit { retry_after_secs } => {
                json!({ "kind": "rate_limit", "retry_after_secs": retry_after_secs })
            }
        };
        if let Some(object) = value.as_object_mut() {
            object.insert("count".to_owned(), json!(self.count));
            object.insert("match".to_owned(), json!(self.matcher));
        }
        value
    }
}

/// Pending faults, consumed in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct FaultQueue {
    faults: Vec<Fault>,
}

impl FaultQueue {
    /// Appends faults.
    pub fn extend(&mut self, faults: impl IntoIterator<Item = Fault>) {
        self.faults.extend(faults);
    }

    /// Drops every pending fault.
    pub fn clear(&mut self) {
        self.faults.clear();
    }

    /// The pending faults.
    pub fn pending(&self) -> &[Fault] {
        &self.faults
    }

    /// Takes one use of the first fault matching the request.
    pub fn take(&mut self, method: &str, template: &str, path: &str) -> Option<FaultKind> {
        let index = self
            .faults
            .iter()
            .position(|f| f.matches(method, template, path))?;
        let fault = &mut self.faults[index];
        let kind = fault.kind;
        fault.count = fault.count.saturating_sub(1);
        if fault.count == 0 {
            self.faults.remove(index);
        }
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<Fault, String> {
        serde_json::from_str::<FaultSpec>(json)
            .map_err(|e| e.to_string())?
            .into_fault()
    }

    #[test]
    fn fixed_window_spends_then_refuses_then_resets() {
        let mut limiter = RateLimiter::new(Some(RateLimit {
            limit: 2,
            window: Duration::from_secs(10),
        }));
        let t0 = Instant::now();
        let first = limiter.admit(t0);
        assert_eq!(
            first,
            Admission::Allowed(Budget {
                limit: 2,
                remaining: 1,
                reset_secs: 10
            })
        );
        assert!(matches!(limiter.admit(t0), Admission::Allowed(b) if b.remaining == 0));
        let later = t0 + Duration::from_millis(3_500);
        assert_eq!(
            limiter.admit(later),
            Admission::Limited(Budget {
                limit: 2,
                remaining: 0,
                reset_secs: 7
            })
        );
        // A refused request spends nothing; the next window starts afresh.
        let next = t0 + Duration::from_secs(21);
        assert_eq!(
            limiter.admit(next),
            Admission::Allowed(Budget {
                limit: 2,
                remaining: 1,
                reset_secs: 9
            })
        );
    }

    #[test]
    fn unlimited_still_reports_a_budget() {
        let mut limiter = RateLimiter::new(None);
        let now = Instant::now();
        for _ in 0..5 {
            assert!(matches!(limiter.admit(now), Admission::Allowed(_)));
        }
        assert!(matches!(
            limiter.admit(now),
            Admission::Allowed(Budget {
                limit: 1_000_000,
                remaining: 999_994,
                ..
            })
        ));
    }

    #[test]
    fn faults_match_by_template_or_path_and_are_used_up_in_order() {
        let mut queue = FaultQueue::default();
        queue.extend([
            spec(r#"{"kind":"status","status":503,"match":"PUT /api/v2/tickets/{id}","count":2}"#)
                .expect("valid"),
            spec(r#"{"kind":"delay","ms":5}"#).expect("valid"),
        ]);
        let ticket = "/api/v2/tickets/{id}";
        assert_eq!(
            queue.take("GET", ticket, "/api/v2/tickets/7"),
            Some(FaultKind::Delay(Duration::from_millis(5)))
        );
        assert_eq!(
            queue.take("PUT", ticket, "/api/v2/tickets/7"),
            Some(FaultKind::Status(503))
        );
        assert_eq!(
            queue.take("PUT", ticket, "/api/v2/tickets/8"),
            Some(FaultKind::Status(503))
        );
        assert_eq!(queue.take("PUT", ticket, "/api/v2/tickets/8"), None);
        let exact = spec(r#"{"kind":"timeout","match":"POST /api/v2/tickets"}"#).expect("valid");
        assert!(exact.matches("POST", "/api/v2/tickets", "/api/v2/tickets"));
        assert!(!exact.matches(
            "POST",
            "/api/v2/tickets/create_many",
            "/api/v2/tickets/create_many"
        ));
        let prefix = spec(r#"{"kind":"timeout","match":"/api/v2/tickets*"}"#).expect("valid");
        assert!(prefix.matches("DELETE", "/api/v2/tickets/{id}", "/api/v2/tickets/3"));
    }

    #[test]
    fn bad_fault_specs_say_what_is_wrong() {
        assert_eq!(
            spec(r#"{"kind":"status"}"#),
            Err("kind `status` needs `status` (e.g. 503)".to_owned())
        );
        assert_eq!(
            spec(r#"{"kind":"explode"}"#),
            Err("unknown kind `explode`; expected status, delay, timeout or rate_limit".to_owned())
        );
        let typo = spec(r#"{"kind":"delay","ms":1,"cout":2}"#).expect_err("unknown field");
        assert!(typo.contains("unknown field `cout`"), "{typo}");
    }
}
