//! Zendesk's values for the keys a record always carries, so that no answer
//! says `null` where Zendesk always answers a value, whether the record came
//! from a seed that left them out or from an API create.
//!
//! Sources: the tickets and users zenpy's cassettes recorded from live
//! Zendesk (2023–2024; `tests/fixtures/zendesk/ticket_create.json`,
//! `user_create.json`, `users_cursor.json`, `group_create.json`).
//!
//! Two passes: [`complete_seed`] once, for what depends on the account
//! (custom statuses, custom fields, the start time), and the per-record
//! functions on every answer, for what depends on the record alone.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::state::State;
use crate::helpdesk::model::{Group, Role, Status, StatusCategory, Ticket, User, Via};

/// The account's one brand and one ticket form: every ticket carries their
/// ids (recorded: `brand_id` and `ticket_form_id` on a ticket created with
/// neither).
pub const DEFAULT_BRAND_ID: u64 = 360_000_000_001;
pub const DEFAULT_TICKET_FORM_ID: u64 = 360_000_000_002;
/// The account's time zone, which new users get.
const ACCOUNT_TIME_ZONE: &str = "America/Sao_Paulo";

/// The account's time zone, in which notifications show times.
pub fn account_time_zone() -> chrono_tz::Tz {
    chrono_tz::America::Sao_Paulo
}

/// Fills in what seeded records left out and only the account knows: each
/// ticket's custom status (its category's default) and an entry for every
/// active custom field (as Zendesk lists them, unset ones as `null`), and
/// the users' and groups' timestamps (the simulator's start).
pub fn complete_seed(state: &mut State, now: DateTime<Utc>) {
    let empty_fields = state.empty_custom_fields();
    let defaults: Vec<(Status, Option<u64>)> = [
        Status::New,
        Status::Open,
        Status::Pending,
        Status::Hold,
        Status::Solved,
        Status::Closed,
    ]
    .into_iter()
    .map(|status| {
        (
            status,
            category(status).and_then(|c| state.default_custom_status(c)),
        )
    })
    .collect();
    for ticket in state.tickets.values_mut() {
        if ticket.custom_status_id.is_none() {
            ticket.custom_status_id = defaults
                .iter()
                .find(|(status, _)| *status == ticket.status)
                .and_then(|(_, id)| *id);
        }
        for field in &empty_fields {
            if ticket.custom_field(field.id).is_none() {
                ticket.custom_fields.push(field.clone());
            }
        }
        ticket.custom_fields.sort_by_key(|f| f.id);
    }
    for user in state.users.values_mut() {
        user.created_at.get_or_insert(now);
        user.updated_at = user.updated_at.or(user.created_at);
    }
    for group in &mut state.groups {
        group.created_at.get_or_insert(now);
        group.updated_at = group.updated_at.or(group.created_at);
    }
}

/// The status category whose default custom status a ticket in `status`
/// gets; closed tickets keep a solved one.
fn category(status: Status) -> Option<StatusCategory> {
    match status {
        Status::New => Some(StatusCategory::New),
        Status::Open => Some(StatusCategory::Open),
        Status::Pending => Some(StatusCategory::Pending),
        Status::Hold => Some(StatusCategory::Hold),
        Status::Solved | Status::Closed => Some(StatusCategory::Solved),
        Status::Deleted => None,
    }
}

/// A ticket's keys as a ticket created over the API with only a subject and
/// a comment has them (zenpy's `POST /api/v2/tickets` recording, 2024):
/// `fields` mirrors `custom_fields`, and the flags and ids are never null.
pub fn ticket(ticket: &mut Ticket) {
    ticket.via.get_or_insert_with(|| Via {
        channel: Value::String("api".to_owned()),
        source: Some(json!({ "from": {}, "to": {}, "rel": null })),
    });
    if ticket.raw_subject.is_none() {
        ticket.raw_subject.clone_from(&ticket.subject);
    }
    ticket.has_incidents.get_or_insert(false);
    ticket.is_public.get_or_insert(true);
    ticket.fields.clone_from(&ticket.custom_fields);
    ticket.ticket_form_id.get_or_insert(DEFAULT_TICKET_FORM_ID);
    ticket.brand_id.get_or_insert(DEFAULT_BRAND_ID);
    ticket.allow_channelback.get_or_insert(false);
    ticket.allow_attachments.get_or_insert(true);
    ticket.from_messaging_channel.get_or_insert(false);
}

/// A user's keys by role: an end user's as zenpy's `POST /api/v2/users`
/// recording (2023) has them, an admin's as the admin recorded in the same
/// account (`role_type` 4, moderator, CSV reports, no ticket restriction).
/// An agent is an admin's equal without those rights, on a plan without
/// custom roles (`role_type` and `custom_role_id` null).
pub fn user(user: &mut User) {
    let role = user.role;
    user.active.get_or_insert(true);
    user.verified.get_or_insert(false);
    user.suspended.get_or_insert(false);
    user.shared.get_or_insert(false);
    user.shared_agent.get_or_insert(false);
    user.only_private_comments.get_or_insert(false);
    user.locale.get_or_insert_with(|| "en-US".to_owned());
    if user.locale_id.is_none() {
        user.locale_id = Some(locale_id(user.locale.as_deref().unwrap_or("en-US")));
    }
    user.time_zone.get_or_insert_with(|| ACCOUNT_TIME_ZONE.to_owned());
    user.iana_time_zone
        .get_or_insert_with(|| ACCOUNT_TIME_ZONE.to_owned());
    user.user_fields.get_or_insert_with(|| json!({}));
    match role {
        Role::EndUser => {
            user.two_factor_auth_enabled.get_or_insert(false);
            user.moderator.get_or_insert(false);
            user.ticket_restriction
                .get_or_insert_with(|| "requested".to_owned());
            user.restricted_agent.get_or_insert(true);
            user.report_csv.get_or_insert(false);
        }
        Role::Agent => {
            user.two_factor_auth_enabled.get_or_insert(false);
            user.moderator.get_or_insert(false);
            user.restricted_agent.get_or_insert(false);
            user.report_csv.get_or_insert(false);
        }
        Role::Admin => {
            user.role_type.get_or_insert(4);
            user.moderator.get_or_insert(true);
            user.restricted_agent.get_or_insert(false);
            user.report_csv.get_or_insert(true);
        }
    }
}

/// Zendesk's numeric id of a locale, as `GET /api/v2/locales` numbers them
/// (en-US's 1 is in the recordings; the others are Zendesk's list).
fn locale_id(locale: &str) -> u64 {
    match locale.to_ascii_lowercase().as_str() {
        "pt-br" => 19,
        "es" => 2,
        "de" => 8,
        "fr" => 16,
        _ => 1,
    }
}

/// A group's keys as `POST /api/v2/groups` answers them (zenpy's
/// recording, 2023): public, not the default, not deleted, an empty
/// description.
pub fn group(group: &mut Group) {
    group.is_public.get_or_insert(true);
    group.description.get_or_insert_with(String::new);
    group.default.get_or_insert(false);
    group.deleted.get_or_insert(false);
}
