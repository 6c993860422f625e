//! Pacing by Zendesk's rate-limit headers, so the client slows down before
//! the budget runs out instead of running into 429s.
//!
//! Zendesk reports an account-wide budget (`X-Rate-Limit` and
//! `X-Rate-Limit-Remaining`, or the newer `ratelimit-limit`,
//! `ratelimit-remaining` and `ratelimit-reset`) and, for some endpoints, a
//! budget of their own (`zendesk-ratelimit-<name>: total=N; remaining=M;
//! resets=S`). Both are tracked; before each request the tighter one decides
//! whether to wait.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

/// Zendesk's budgets are per minute; used when a response gives no reset.
const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// One budget as last reported, decremented locally for requests sent since.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Budget {
    limit: u32,
    remaining: u32,
    /// When the window resets, if the server said.
    reset_at: Option<Instant>,
}

impl Budget {
    /// How long to wait before one more request, keeping `reserve` requests
    /// back for whatever else shares the account (agents' apps, other
    /// integrations).
    fn wait(&self, reserve: u32, now: Instant) -> Option<Duration> {
        // A small budget cannot keep a large reserve: hold back at most a
        // quarter of it, so a test account with 10 requests still works.
        let reserve = reserve.min(self.limit / 4);
        if self.remaining > reserve {
            return None;
        }
        match self.reset_at {
            Some(reset_at) if reset_at > now => Some(reset_at - now),
            Some(_) => None,
            // No reset given: spread what is left of a one-minute window.
            None => Some(DEFAULT_WINDOW / self.limit.max(1)),
        }
    }
}

/// The budgets the client knows of, shared by all its requests.
#[derive(Debug, Default)]
pub struct Pacer {
    reserve: u32,
    state: Mutex<PacerState>,
}

#[derive(Debug, Default)]
struct PacerState {
    account: Option<Budget>,
    /// Endpoint-scoped budgets, keyed by the endpoint template they were
    /// reported on.
    scoped: HashMap<&'static str, Budget>,
}

impl Pacer {
    /// A pacer that keeps `reserve` requests of each budget back.
    pub fn new(reserve: u32) -> Pacer {
        Pacer {
            reserve,
            state: Mutex::default(),
        }
    }

    /// How long to wait before sending a request to `endpoint`; also counts
    /// the request against the budgets, so concurrent callers see it.
    pub fn reserve_slot(&self, endpoint: &'static str, now: Instant) -> Option<Duration> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let account_wait = state.account.and_then(|b| b.wait(self.reserve, now));
        let scoped_wait = state.scoped.get(endpoint).and_then(|b| b.wait(self.reserve, now));
        let wait = account_wait.max(scoped_wait);
        if wait.is_none() {
            if let Some(budget) = state.account.as_mut() {
                budget.remaining = budget.remaining.saturating_sub(1);
            }
            if let Some(budget) = state.scoped.get_mut(endpoint) {
                budget.remaining = budget.remaining.saturating_sub(1);
            }
        }
        wait
    }

    /// Records the budgets a response reported.
    pub fn observe(&self, endpoint: &'static str, headers: &HeaderMap, now: Instant) {
        let account = account_budget(headers, now);
        let scoped = scoped_budget(headers, now);
        if account.is_none() && scoped.is_none() {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if account.is_some() {
            state.account = account;
        }
        if let Some(budget) = scoped {
            state.scoped.insert(endpoint, budget);
        }
    }

    /// Forgets a budget whose window has passed, so the next response
    /// reports it afresh.
    pub fn window_passed(&self, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let expired = |b: &Budget| b.reset_at.is_some_and(|at| at <= now);
        if state.account.as_ref().is_some_and(expired) {
            state.account = None;
        }
        state.scoped.retain(|_, b| !expired(b));
    }

    /// The account-wide requests left, as last reported (for metrics).
    pub fn remaining(&self) -> Option<u32> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.account.map(|b| b.remaining)
    }
}

fn header_u32(headers: &HeaderMap, name: &str) -> Option<u32> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `ratelimit-*` (with a reset) wins over `X-Rate-Limit*` (without one).
fn account_budget(headers: &HeaderMap, now: Instant) -> Option<Budget> {
    let limit = header_u32(headers, "ratelimit-limit").or_else(|| header_u32(headers, "x-rate-limit"))?;
    let remaining = header_u32(headers, "ratelimit-remaining")
        .or_else(|| header_u32(headers, "x-rate-limit-remaining"))?;
    let reset_at = header_u32(headers, "ratelimit-reset").map(|secs| now + Duration::from_secs(secs.into()));
    Some(Budget {
        limit,
        remaining,
        reset_at,
    })
}

/// `zendesk-ratelimit-<name>: total=100; remaining=99; resets=10`. When a
/// response carries several, the tightest one is kept.
fn scoped_budget(headers: &HeaderMap, now: Instant) -> Option<Budget> {
    headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("zendesk-ratelimit-"))
        .filter_map(|(_, value)| parse_scoped(value.to_str().ok()?, now))
        .min_by_key(|b| b.remaining)
}

fn parse_scoped(value: &str, now: Instant) -> Option<Budget> {
    let (mut total, mut remaining, mut resets) = (None, None, None);
    for part in value.split([';', ',']) {
        let Some((key, val)) = part.split_once('=') else {
            continue;
        };
        let val = val.trim().parse::<u32>().ok();
        match key.trim() {
            "total" => total = val,
            "remaining" => remaining = val,
            "resets" => resets = val,
            _ => {}
        }
    }
    Some(Budget {
        limit: total?,
        remaining: remaining?,
        reset_at: resets.map(|secs| now + Duration::from_secs(secs.into())),
    })
}

/// `Retry-After` in seconds (Zendesk does not send the HTTP-date form).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    let secs: f64 = value.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                HeaderValue::from_str(value).expect("header value"),
            );
        }
        map
    }

    #[test]
    fn waits_for_the_reset_once_only_the_reserve_is_left() {
        let now = Instant::now();
        let pacer = Pacer::new(10);
        pacer.observe(
            "GET /api/v2/tickets/{id}",
            &headers(&[
                ("ratelimit-limit", "700"),
                ("ratelimit-remaining", "11"),
                ("ratelimit-reset", "20"),
            ]),
            now,
        );
        assert_eq!(
            pacer.reserve_slot("GET /api/v2/tickets/{id}", now),
            None,
            "11 left, 10 reserved"
        );
        assert_eq!(
            pacer.reserve_slot("GET /api/v2/tickets/{id}", now),
            Some(Duration::from_secs(20)),
            "the reserve is not spent"
        );
    }

    #[test]
    fn a_small_budget_keeps_a_quarter_back_at_most() {
        let now = Instant::now();
        let pacer = Pacer::new(10);
        pacer.observe(
            "GET /api/v2/users/me",
            &headers(&[("x-rate-limit", "8"), ("x-rate-limit-remaining", "3")]),
            now,
        );
        assert_eq!(pacer.reserve_slot("GET /api/v2/users/me", now), None);
        // 2 left == 8 / 4: wait, spreading the minute over the budget.
        assert_eq!(
            pacer.reserve_slot("GET /api/v2/users/me", now),
            Some(Duration::from_millis(7500))
        );
    }

    #[test]
    fn an_endpoint_budget_applies_to_its_endpoint_only() {
        let now = Instant::now();
        let pacer = Pacer::new(10);
        let export = "GET /api/v2/incremental/tickets/cursor";
        pacer.observe(
            export,
            &headers(&[
                ("ratelimit-limit", "700"),
                ("ratelimit-remaining", "600"),
                (
                    "zendesk-ratelimit-incremental-exports",
                    "total=10; remaining=2; resets=30",
                ),
            ]),
            now,
        );
        assert_eq!(pacer.reserve_slot(export, now), Some(Duration::from_secs(30)));
        assert_eq!(pacer.reserve_slot("GET /api/v2/tickets/{id}", now), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_rejects_junk() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&headers(&[])), None);
    }
}
