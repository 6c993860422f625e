//! The `/__sim` endpoints, which only tests and `demo` call: dump the state,
//! move the clock, set the rate limit, inject faults, fetch uploaded files.
//! They are never rate limited, faulted or counted.
//!
//! - `GET /__sim/state`: everything, see [`state_json`].
//! - `GET|POST /__sim/clock`: `{"advance_secs": N}` or `{"to": "RFC 3339"}`
//!   → `{"now": "..."}`.
//! - `GET|POST /__sim/rate_limit`: `{"limit": N, "window_secs": S}` or
//!   `null` → `{"rate_limit": {...} | null}`.
//! - `GET|POST|DELETE /__sim/faults`: `{"faults": [...]}` appends →
//!   `{"faults": [pending...]}`.
//! - `GET|POST /__sim/settings`: the account settings; a POST changes the
//!   keys it gives, e.g. `{"tickets": {"assign_tickets_upon_solve": false}}`
//!   → `{"settings": {...}}`.
//! - `GET /__sim/attachments/{id}`: the file's bytes.
//! - `GET /__sim/notifications`: every e-mail the account's triggers sent,
//!   oldest first, see [`notifications_json`].

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::api_error::ApiError;
use super::limits::FaultSpec;
use super::{RateLimit, SettingsChange, Simulator, World, render, routes, trigger_routes};

/// `POST /__sim/clock`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockMove {
    #[serde(default)]
    advance_secs: Option<i64>,
    #[serde(default)]
    to: Option<DateTime<Utc>>,
}

/// `POST /__sim/faults`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsBody {
    faults: Vec<FaultSpec>,
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|err| format!("invalid body: {err}"))
}

/// Answers one `/__sim` request.
pub(super) fn handle(sim: &Simulator, method: &Method, path: &str, body: &[u8], base: &str) -> Response {
    let path = path.trim_end_matches('/');
    let answer = match (method.as_str(), path) {
        ("GET", "/__sim/state") => {
            let world = sim.world();
            Ok(json!(state_json(
                &world,
                base,
                sim.now(),
                sim.inner.job_delay_polls
            )))
        }
        ("GET", "/__sim/clock") => Ok(json!({ "now": sim.now() })),
        ("POST", "/__sim/clock") => move_clock(sim, body),
        ("GET", "/__sim/rate_limit") => Ok(rate_limit_json(sim.world().limiter.limit())),
        ("POST", "/__sim/rate_limit") => parse::<Option<RateLimit>>(body).map(|limit| {
            sim.world().limiter.set(limit);
            rate_limit_json(limit)
        }),
        ("GET", "/__sim/settings") => Ok(json!({ "settings": sim.world().state.settings })),
        ("POST", "/__sim/settings") => parse::<SettingsChange>(body).map(|change| {
            let mut world = sim.world();
            world.state.settings.apply(&change);
            json!({ "settings": world.state.settings })
        }),
        ("GET", "/__sim/faults") => Ok(faults_json(&sim.world())),
        ("GET", "/__sim/notifications") => Ok(notifications_json(&sim.world())),
        ("POST", "/__sim/faults") => add_faults(sim, body),
        ("DELETE", "/__sim/faults") => {
            let mut world = sim.world();
            world.faults.clear();
            Ok(faults_json(&world))
        }
        _ => match path.strip_prefix("/__sim/attachments/") {
            Some(id) if method == Method::GET => return attachment(sim, id),
            _ => return ApiError::no_endpoint(method.as_str(), path).into_response(),
        },
    };
    match answer {
        Ok(value) => (StatusCode::OK, Json(value)).into_response(),
        Err(description) => ApiError::new(400, "InvalidControlRequest", description).into_response(),
    }
}

fn move_clock(sim: &Simulator, body: &[u8]) -> Result<Value, String> {
    let request: ClockMove = parse(body)?;
    let by = match (request.advance_secs, request.to) {
        (Some(secs), None) => {
            TimeDelta::try_seconds(secs).ok_or_else(|| format!("advance_secs {secs} is out of range"))?
        }
        (None, Some(to)) => to - sim.now(),
        _ => return Err("give exactly one of `advance_secs` or `to`".to_owned()),
    };
    let now = sim.inner.clock.advance(by)?;
    Ok(json!({ "now": now }))
}

fn add_faults(sim: &Simulator, body: &[u8]) -> Result<Value, String> {
    let request: FaultsBody = parse(body)?;
    let faults = request
        .faults
        .into_iter()
        .enumerate()
        .map(|(i, spec)| spec.into_fault().map_err(|e| format!("faults[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut world = sim.world();
    world.faults.extend(faults);
    Ok(faults_json(&world))
}

fn attachment(sim: &Simulator, id: &str) -> Response {
    let world = sim.world();
    let stored = id.parse().ok().and_then(|id| world.state.attachments.get(&id));
    match stored {
        Some(stored) => routes::bytes_response(
            stored
                .meta
                .content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
            stored.bytes.clone(),
        ),
        None => ApiError::not_found().into_response(),
    }
}

/// `{"notifications": [...]}`: each e-mail with its ticket, `audit_id` and
/// `event_id` (the audit's `Notification` event), `trigger` (`id`,
/// `title`), `recipients` (user ids), `from`, `reply_to`, `to` and `cc`
/// (addresses), `subject` and `body` (the text part) as sent, `message_id`,
/// `in_reply_to` and `references`, `created_at`, `delivery` (per address:
/// `state` one of `recorded`, `pending`, `delivered`, `refused`, `failed`,
/// and the server's `reply`) and `raw` (the whole message).
pub(super) fn notifications_json(world: &World) -> Value {
    let list: Vec<Value> = world.state.notifications.iter().map(|n| n.to_json()).collect();
    json!({ "notifications": list })
}

fn rate_limit_json(limit: Option<RateLimit>) -> Value {
    json!({ "rate_limit": limit.map(|l| l.to_json()) })
}

fn faults_json(world: &World) -> Value {
    let faults: Vec<Value> = world.faults.pending().iter().map(|f| f.to_json()).collect();
    json!({ "faults": faults })
}

/// Everything the simulator holds: `now`, `tickets` (deleted ones too, with
/// `generated_timestamp`), `comments` and `audits` keyed by ticket id,
/// `users`, `groups`, `custom_statuses`, `ticket_fields`, `articles`,
/// `jobs`, `uploads` (metadata only), `requests` (count per
/// `"METHOD /route/template"`), `responses` (`/api/v2` answers per HTTP
/// status, e.g. `{"200": 12, "429": 1}`), `rate_limit`, pending `faults`,
/// `account` (name, subdomain, support address), `triggers` (as the API
/// shows them, by position) and `notifications` (as
/// [`notifications_json`] lists them).
pub(super) fn state_json(world: &World, base: &str, now: DateTime<Utc>, job_delay_polls: u32) -> Value {
    let state = &world.state;
    let by_ticket = |items: Vec<(String, Value)>| Value::Object(items.into_iter().collect::<Map<_, _>>());
    let comments = by_ticket(
        state
            .comments
            .iter()
            .map(|(id, list)| {
                let list: Vec<_> = list.iter().map(|c| render::comment(base, c)).collect();
                (id.to_string(), json!(list))
            })
            .collect(),
    );
    let audits = by_ticket(
        state
            .audits
            .iter()
            .map(|(id, list)| {
                let list: Vec<_> = list.iter().map(|a| render::audit(base, a)).collect();
                (id.to_string(), json!(list))
            })
            .collect(),
    );
    let jobs: Vec<Value> = state
        .jobs
        .values()
        .map(|job| {
            let view = state.peek_job(&job.id, job_delay_polls, now);
            json!({
                "id": job.id,
                "status": view.map(|v| v.state),
                "total": job.total,
                "polls": job.polls,
                "results": job.results,
            })
        })
        .collect();
    let uploads: Vec<Value> = state
        .uploads
        .values()
        .map(|upload| {
            let attachments: Vec<_> = upload
                .attachment_ids
                .iter()
                .filter_map(|id| state.attachments.get(id))
                .map(|a| render::attachment(base, &a.meta))
                .collect();
            json!({ "token": upload.token, "expires_at": upload.expires_at, "attachments": attachments })
        })
        .collect();
    let tickets: Vec<_> = state
        .tickets
        .values()
        .map(|t| render::ticket(base, t, true))
        .collect();
    let users: Vec<_> = state.users.values().map(|u| render::user(base, u)).collect();
    let groups: Vec<_> = state.groups.iter().map(|g| render::group(base, g)).collect();
    let statuses: Vec<_> = state
        .custom_statuses
        .iter()
        .map(|c| render::custom_status(base, c))
        .collect();
    let fields: Vec<_> = state
        .ticket_fields
        .iter()
        .map(|f| render::ticket_field(base, f))
        .collect();
    let articles: Vec<_> = state
        .articles
        .iter()
        .map(|a| render::article(base, a, None))
        .collect();
    let mut triggers: Vec<_> = state
        .triggers
        .iter()
        .map(|t| trigger_routes::rendered(base, t))
        .collect();
    triggers.sort_by(|a, b| (a.position, &a.title, a.id).cmp(&(b.position, &b.title, b.id)));
    json!({
        "now": now,
        "tickets": tickets,
        "comments": comments,
        "audits": audits,
        "users": users,
        "groups": groups,
        "custom_statuses": statuses,
        "ticket_fields": fields,
        "articles": articles,
        "jobs": jobs,
        "uploads": uploads,
        "requests": world.requests,
        "responses": world
            .responses
            .iter()
            .map(|(status, count)| (status.to_string(), json!(count)))
            .collect::<Map<_, _>>(),
        "rate_limit": world.limiter.limit().map(|l| l.to_json()),
        "faults": faults_json(world)["faults"],
        "account": state.account,
        "triggers": triggers,
        "notifications": notifications_json(world)["notifications"],
    })
}
