//! The Triggers API, as developer.zendesk.com's "Ticket Triggers" page and
//! Zendesk's OpenAPI (`triggers.yml`) describe it and the recorded answers
//! show it (go-zendesk's `fixture/GET/triggers.json` and `trigger.json`,
//! zenpy's `TestTriggers` cassettes):
//!
//! - `GET /api/v2/triggers` (`?active=`, `?category_id=`) and
//!   `GET /api/v2/triggers/active`: offset pages `{triggers, next_page,
//!   previous_page, count}` or cursor pages `{triggers, meta, links}`, in
//!   position order (the recorded cursors' order is
//!   `position,position,title,id`);
//! - `GET /api/v2/triggers/{id}` → `{"trigger": {...}}`;
//! - `POST /api/v2/triggers` → 201, "New ticket triggers are added in last
//!   place by default";
//! - `PUT /api/v2/triggers/{id}`: the keys given change; "Updating a
//!   condition or action updates both the conditions and actions arrays,
//!   clearing all existing values of both arrays";
//! - `PUT /api/v2/triggers/update_many`: "Updates the position or the
//!   active status of multiple ticket triggers. Any additional properties
//!   are ignored";
//! - `DELETE /api/v2/triggers/{id}` → 204.
//!
//! A condition or action the simulator cannot run is refused with Zendesk's
//! 422 (`details.base`), so a test never relies on a rule that silently does
//! nothing.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::Value;

use super::api_error::ApiError;
use super::paging;
use super::routes::{Answer, Call, created, decode, json_body, member, ok};
use super::state::{State, whole};
use super::triggers::{self, Action, BulkTriggerUpdate, Conditions, Trigger, TriggerInput};
use crate::helpdesk::model::Id;
use crate::helpdesk::wire::{OffsetLinks, Paging};

#[derive(Debug, Serialize)]
struct TriggersPage {
    triggers: Vec<Trigger>,
    #[serde(flatten)]
    page: Paging,
}

#[derive(Debug, Serialize)]
struct TriggerEnvelope {
    trigger: Trigger,
}

/// A trigger with its API `url`, as recorded:
/// `https://SUB.zendesk.com/api/v2/triggers/{id}.json`.
pub(super) fn rendered(base: &str, trigger: &Trigger) -> Trigger {
    let mut out = trigger.clone();
    out.url = Some(format!("{base}/api/v2/triggers/{}.json", trigger.id));
    out
}

fn find(state: &State, id: Id) -> Result<&Trigger, ApiError> {
    state
        .triggers
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(ApiError::not_found)
}

/// Where a trigger sits in the list's order.
fn key(trigger: &Trigger) -> paging::Key {
    // Positions may be negative: shift them into u64 so text order is
    // numeric order.
    let position = (i128::from(trigger.position) - i128::from(i64::MIN)) as u64;
    (format!("{position:020}{}", trigger.title), trigger.id)
}

/// A parameter the simulator does not model, refused rather than ignored.
fn unsupported(parameter: &str, value: &str) -> ApiError {
    ApiError::new(
        400,
        "UnsupportedParameter",
        format!("The simulator lists triggers by position only; {parameter}={value} is not modelled"),
    )
}

/// `GET /api/v2/triggers` and (with `only_active`) `/api/v2/triggers/active`.
pub(super) fn list(state: &State, call: &Call, only_active: bool) -> Answer {
    let active = if only_active {
        Some(true)
    } else {
        match call.query.get("active") {
            None | Some("") => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(ApiError::new(
                    400,
                    "InvalidValue",
                    format!("active must be true or false, not `{other}`"),
                ));
            }
        }
    };
    for parameter in ["sort", "sort_by"] {
        match call.query.get(parameter) {
            None | Some("" | "position") => {}
            Some(other) => return Err(unsupported(parameter, other)),
        }
    }
    match call.query.get("sort_order") {
        None | Some("" | "asc") => {}
        Some(other) => return Err(unsupported("sort_order", other)),
    }
    let category = call.query.get("category_id").filter(|c| !c.is_empty());
    let items: Vec<_> = state
        .triggers
        .iter()
        .filter(|t| active.is_none_or(|a| t.active == a))
        .filter(|t| category.is_none_or(|c| t.category_id == c))
        .map(|t| (key(t), rendered(call.base, t)))
        .collect();
    let path = if only_active {
        "/api/v2/triggers/active.json"
    } else {
        "/api/v2/triggers.json"
    };
    let (triggers, page) = paging::page(&call.list(path, "position,position,title,id"), items)?;
    Ok(ok(&TriggersPage { triggers, page }))
}

/// `GET /api/v2/triggers/{id}`.
pub(super) fn show(state: &State, call: &Call, id: Id) -> Answer {
    Ok(ok(&TriggerEnvelope {
        trigger: rendered(call.base, find(state, id)?),
    }))
}

/// Checks what the simulator can run, then that the users and groups the
/// rule names exist (Zendesk refuses those as invalid values).
fn check(state: &State, conditions: &Conditions, actions: &[Action]) -> Result<(), ApiError> {
    triggers::check(conditions, actions).map_err(ApiError::invalid_base)?;
    let user = |id: &str| id.parse::<Id>().is_ok_and(|id| state.users.contains_key(&id));
    let group = |id: &str| {
        id.parse::<Id>()
            .is_ok_and(|id| state.groups.iter().any(|g| g.id == id && g.deleted != Some(true)))
    };
    let numeric = |value: &Value| -> Option<String> {
        let text = match value {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then_some(text)
    };
    for condition in conditions.all.iter().chain(&conditions.any) {
        let Some(id) = numeric(&condition.value) else {
            continue;
        };
        let known = match condition.field.as_str() {
            "assignee_id" | "requester_id" | "role" => user(&id),
            "group_id" => group(&id),
            _ => true,
        };
        if !known {
            return Err(ApiError::invalid_base(format!(
                "Invalid value '{id}' in '{} / {} / {id}'",
                condition.field, condition.operator
            )));
        }
    }
    for action in actions {
        let target = match action.field.as_str() {
            "notification_user" | "notification_group" => {
                action.value.as_array().and_then(|v| v.first()).and_then(numeric)
            }
            "assignee_id" | "group_id" => numeric(&action.value),
            _ => None,
        };
        let Some(id) = target else { continue };
        let known = match action.field.as_str() {
            "notification_group" | "group_id" => group(&id),
            _ => user(&id),
        };
        if !known {
            return Err(ApiError::invalid_base(format!(
                "Invalid value '{id}' in action '{}'",
                action.field
            )));
        }
    }
    Ok(())
}

fn blank_title() -> ApiError {
    ApiError::invalid("title", "Title: cannot be blank")
}

/// `POST /api/v2/triggers`.
pub(super) fn create(state: &mut State, call: &Call) -> Answer {
    let body = json_body(call.body)?;
    let input: TriggerInput = decode(member(&body, "trigger")?)?;
    let title = input
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(blank_title)?
        .to_owned();
    let conditions = input.conditions.clone().unwrap_or_default();
    let actions = input.actions.clone().unwrap_or_default();
    check(state, &conditions, &actions)?;
    // "New ticket triggers are added in last place by default."
    let last = state.triggers.iter().map(|t| t.position).max().unwrap_or(-1);
    let id = state.next_trigger_id();
    let now = whole(call.now);
    let trigger = Trigger {
        url: None,
        id,
        raw_title: input.raw_title.clone().unwrap_or_else(|| title.clone()),
        title,
        active: input.active.unwrap_or(true),
        updated_at: now,
        created_at: now,
        default: false,
        actions,
        conditions,
        description: input.description.clone(),
        position: input.position.unwrap_or(last.saturating_add(1)),
        category_id: input
            .category_id
            .as_ref()
            .and_then(triggers::category_text)
            .unwrap_or_else(|| triggers::DEFAULT_CATEGORY_ID.to_owned()),
    };
    let envelope = TriggerEnvelope {
        trigger: rendered(call.base, &trigger),
    };
    state.triggers.push(trigger);
    let location = envelope.trigger.url.clone();
    Ok(created(&envelope, location.as_deref()))
}

/// `PUT /api/v2/triggers/{id}`.
pub(super) fn update(state: &mut State, call: &Call, id: Id) -> Answer {
    let body = json_body(call.body)?;
    let input: TriggerInput = decode(member(&body, "trigger")?)?;
    let mut trigger = find(state, id)?.clone();
    if let Some(title) = &input.title {
        let title = title.trim();
        if title.is_empty() {
            return Err(blank_title());
        }
        trigger.title = title.to_owned();
        trigger.raw_title = title.to_owned();
    }
    if let Some(raw_title) = &input.raw_title {
        trigger.raw_title = raw_title.clone();
    }
    if input.conditions.is_some() || input.actions.is_some() {
        trigger.conditions = input.conditions.clone().unwrap_or_default();
        trigger.actions = input.actions.clone().unwrap_or_default();
        check(state, &trigger.conditions, &trigger.actions)?;
    }
    if let Some(active) = input.active {
        trigger.active = active;
    }
    if let Some(position) = input.position {
        trigger.position = position;
    }
    if let Some(description) = &input.description {
        trigger.description = Some(description.clone());
    }
    if let Some(category) = input.category_id.as_ref().and_then(triggers::category_text) {
        trigger.category_id = category;
    }
    trigger.updated_at = whole(call.now);
    let envelope = TriggerEnvelope {
        trigger: rendered(call.base, &trigger),
    };
    if let Some(slot) = state.triggers.iter_mut().find(|t| t.id == id) {
        *slot = trigger;
    }
    Ok(ok(&envelope))
}

/// `DELETE /api/v2/triggers/{id}`.
pub(super) fn delete(state: &mut State, id: Id) -> Answer {
    find(state, id)?;
    state.triggers.retain(|t| t.id != id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /api/v2/triggers/update_many`: every id must exist, or nothing
/// changes (404); the answer lists the updated triggers.
pub(super) fn update_many(state: &mut State, call: &Call) -> Answer {
    let body = json_body(call.body)?;
    let items: Vec<BulkTriggerUpdate> = decode(member(&body, "triggers")?)?;
    for item in &items {
        find(state, item.id)?;
    }
    let now = whole(call.now);
    let mut updated = Vec::with_capacity(items.len());
    for item in &items {
        if let Some(trigger) = state.triggers.iter_mut().find(|t| t.id == item.id) {
            if let Some(position) = item.position {
                trigger.position = position;
            }
            if let Some(active) = item.active {
                trigger.active = active;
            }
            if let Some(category) = item.category_id.as_ref().and_then(triggers::category_text) {
                trigger.category_id = category;
            }
            trigger.updated_at = now;
            updated.push(rendered(call.base, trigger));
        }
    }
    let count = updated.len() as u64;
    Ok(ok(&TriggersPage {
        triggers: updated,
        page: Paging::offset(OffsetLinks {
            count: Some(count),
            ..OffsetLinks::default()
        }),
    }))
}
