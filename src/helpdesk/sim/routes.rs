//! The `/api/v2` endpoints. Each request goes through the same gate (count
//! it under its route template, authenticate, spend rate-limit budget, take
//! an injected fault), then one thin handler decodes it, runs a [`State`]
//! operation under the lock and encodes the answer with the `wire`
//! envelopes, so the top-level keys are Zendesk's.
//!
//! Paths are matched by hand rather than by the router so that `/x` and
//! `/x.json` are one route and each route has one template, e.g.
//! `PUT /api/v2/tickets/{id}` — the key tests count calls by.

use std::collections::BTreeSet;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, LOCATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api_error::ApiError;
use super::idempotency::{LOOKUP_HEADER, Lookup};
use super::limits::{Admission, Budget, FaultKind};
use super::state::{BulkUpdate, Credentials, CustomStatusInput, State, TagChange};
use super::{Simulator, articles, control, export, paging, render, search, trigger_routes};
use crate::helpdesk::model::{Id, NewTicket, TicketUpdate, UserUpsert};
use crate::helpdesk::wire::{
    ArticleSearch, AttachmentEnvelope, AuditEnvelope, AuditsEnvelope, CommentsEnvelope, CursorExport,
    CustomStatusEnvelope, CustomStatusesEnvelope, GroupEnvelope, GroupsEnvelope, JobStatusEnvelope,
    OffsetLinks, Paging, SearchCount, SearchHit, SearchResults, TagsEnvelope, TicketEnvelope,
    TicketFieldEnvelope, TicketFieldsEnvelope, TicketsEnvelope, TimeExport, UploadEnvelope, UserEnvelope,
    UsersEnvelope,
};

/// Zendesk's cap on bulk requests and `show_many` ids.
const MAX_BULK: usize = 100;

/// The one handler behind the router.
pub(super) async fn handle(
    AxumState(sim): AxumState<Simulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let base = base_url(&sim, &headers);
    if path == "/__sim" || path.starts_with("/__sim/") {
        return control::handle(&sim, &method, path, &body, &base);
    }
    if !path.starts_with("/api/v2/") {
        return ApiError::no_endpoint(method.as_str(), path).into_response();
    }
    let response = api(&sim, &method, &uri, &headers, &body, &base).await;
    let status = response.status().as_u16();
    *sim.world().responses.entry(status).or_default() += 1;
    response
}

/// Gate, fault, handler, headers.
async fn api(
    sim: &Simulator,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    base: &str,
) -> Response {
    let path = uri.path().strip_suffix(".json").unwrap_or(uri.path());
    let route = Route::parse(path);
    let template: &str = match &route {
        Some(route) => route.template(),
        None => path,
    };
    let key = format!("{method} {template}");
    let credentials = credentials(headers);
    let (credentials, budget, fault) = {
        let mut world = sim.world();
        *world.requests.entry(key).or_default() += 1;
        let Some(credentials) = credentials else {
            return ApiError::unauthenticated().into_response();
        };
        match world.limiter.admit(tokio::time::Instant::now()) {
            Admission::Limited(budget) => {
                return with_budget(ApiError::rate_limited().into_response(), budget, true);
            }
            Admission::Allowed(budget) => {
                let fault = world.faults.take(method.as_str(), template, path);
                (credentials, budget, fault)
            }
        }
    };
    let query = Query::parse(uri.query());
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let idempotency_key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    if let Some(route) = &route {
        let ids = written_tickets(method, route, &query, body);
        if !ids.is_empty() {
            sim.hold_until_a_new_second(&ids).await;
        }
    }
    let call = |sim: &Simulator| match &route {
        Some(route) => dispatch(
            sim,
            &Incoming {
                method,
                route,
                query: &query,
                content_type,
                body,
                base,
                credentials: &credentials,
                idempotency_key,
            },
        ),
        None => ApiError::no_endpoint(method.as_str(), uri.path()).into_response(),
    };
    let response = match fault {
        None => call(sim),
        Some(FaultKind::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            call(sim)
        }
        Some(FaultKind::Status(status)) => {
            let response = simulated_status(status);
            return with_budget(response, budget, status == 429);
        }
        Some(FaultKind::RateLimit { retry_after_secs }) => {
            let budget = Budget {
                remaining: 0,
                reset_secs: retry_after_secs,
                ..budget
            };
            return with_budget(ApiError::rate_limited().into_response(), budget, true);
        }
        Some(FaultKind::Timeout { after_commit: true }) => {
            let response = call(sim);
            sim.hold().await;
            response
        }
        Some(FaultKind::Timeout { after_commit: false }) => {
            sim.hold().await;
            ApiError::new(504, "GatewayTimeout", "The simulated request timed out").into_response()
        }
    };
    with_budget(response, budget, false)
}

/// The error a `status` fault answers with.
fn simulated_status(status: u16) -> Response {
    let code = match status {
        429 => return ApiError::rate_limited().into_response(),
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        400..=499 => "InvalidRequest",
        _ => "ServerError",
    };
    ApiError::new(status, code, "Simulated fault").into_response()
}

/// Adds Zendesk's rate-limit headers (and `Retry-After` on a 429).
fn with_budget(mut response: Response, budget: Budget, retry_after: bool) -> Response {
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("x-rate-limit", budget.limit.to_string());
    set("x-rate-limit-remaining", budget.remaining.to_string());
    set("ratelimit-limit", budget.limit.to_string());
    set("ratelimit-remaining", budget.remaining.to_string());
    set("ratelimit-reset", budget.reset_secs.to_string());
    if retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(budget.reset_secs.max(1)));
    }
    response
}

/// `http://{Host}`, the base of every URL in the answer.
fn base_url(sim: &Simulator, headers: &HeaderMap) -> String {
    match headers.get(HOST).and_then(|h| h.to_str().ok()) {
        Some(host) if !host.is_empty() => format!("http://{host}"),
        _ => sim
            .world()
            .base_url
            .clone()
            .unwrap_or_else(|| "http://localhost".to_owned()),
    }
}

/// Who the request acts as. Any credentials are accepted; none is a 401.
fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = String::from_utf8(STANDARD.decode(rest).ok()?).ok()?;
        let user = decoded.split_once(':').map_or(decoded.as_str(), |(u, _)| u);
        let email = user.strip_suffix("/token").unwrap_or(user).trim();
        (!email.is_empty()).then(|| Credentials::Email(email.to_owned()))
    } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        Some(Credentials::Bearer)
    } else {
        None
    }
}

/// An `/api/v2` endpoint, with the ids in its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    Tickets,
    TicketsShowMany,
    TicketsCreateMany,
    TicketsUpdateMany,
    Ticket(Id),
    TicketComments(Id),
    TicketAudits(Id),
    TicketAudit(Id, Id),
    TicketTags(Id),
    TicketAuditsAll,
    JobStatuses,
    JobStatusesShowMany,
    JobStatus(String),
    ExportCursor,
    ExportTime,
    Users,
    UsersShowMany,
    UsersMe,
    UsersCreateOrUpdate,
    User(Id),
    Groups,
    Group(Id),
    CustomStatuses,
    CustomStatus(Id),
    TicketFields,
    TicketField(Id),
    Uploads,
    Attachment(Id),
    ArticleSearch,
    AccountSettings,
    Search,
    SearchCount,
    UsersSearch,
    Triggers,
    TriggersActive,
    TriggersUpdateMany,
    Trigger(Id),
    /// A known route whose id is not a number: always 404.
    BadId(&'static str),
}

impl Route {
    /// The route of `path` (without `.json`), if Zendesk has one.
    pub(super) fn parse(path: &str) -> Option<Route> {
        let rest = path.strip_prefix("/api/v2/")?.trim_end_matches('/');
        let segments: Vec<&str> = rest.split('/').collect();
        let id = |s: &str, make: fn(Id) -> Route, template: &'static str| {
            Some(s.parse().map_or(Route::BadId(template), make))
        };
        match segments.as_slice() {
            ["tickets"] => Some(Route::Tickets),
            ["tickets", "show_many"] => Some(Route::TicketsShowMany),
            ["tickets", "create_many"] => Some(Route::TicketsCreateMany),
            ["tickets", "update_many"] => Some(Route::TicketsUpdateMany),
            ["tickets", t] => id(t, Route::Ticket, "/api/v2/tickets/{id}"),
            ["tickets", t, "comments"] => id(t, Route::TicketComments, "/api/v2/tickets/{id}/comments"),
            ["tickets", t, "audits"] => id(t, Route::TicketAudits, "/api/v2/tickets/{id}/audits"),
            ["tickets", t, "tags"] => id(t, Route::TicketTags, "/api/v2/tickets/{id}/tags"),
            ["tickets", t, "audits", a] => match (t.parse(), a.parse()) {
                (Ok(t), Ok(a)) => Some(Route::TicketAudit(t, a)),
                _ => Some(Route::BadId("/api/v2/tickets/{id}/audits/{id}")),
            },
            ["ticket_audits"] => Some(Route::TicketAuditsAll),
            ["job_statuses"] => Some(Route::JobStatuses),
            ["job_statuses", "show_many"] => Some(Route::JobStatusesShowMany),
            ["job_statuses", j] => Some(Route::JobStatus((*j).to_owned())),
            ["incremental", "tickets", "cursor"] => Some(Route::ExportCursor),
            ["incremental", "tickets"] => Some(Route::ExportTime),
            ["users"] => Some(Route::Users),
            ["users", "show_many"] => Some(Route::UsersShowMany),
            ["users", "me"] => Some(Route::UsersMe),
            ["users", "create_or_update"] => Some(Route::UsersCreateOrUpdate),
            ["users", "search"] => Some(Route::UsersSearch),
            ["users", u] => id(u, Route::User, "/api/v2/users/{id}"),
            ["groups"] => Some(Route::Groups),
            ["groups", g] => id(g, Route::Group, "/api/v2/groups/{id}"),
            ["custom_statuses"] => Some(Route::CustomStatuses),
            ["custom_statuses", c] => id(c, Route::CustomStatus, "/api/v2/custom_statuses/{id}"),
            ["ticket_fields"] => Some(Route::TicketFields),
            ["ticket_fields", f] => id(f, Route::TicketField, "/api/v2/ticket_fields/{id}"),
            ["uploads"] => Some(Route::Uploads),
            ["attachments", a] => id(a, Route::Attachment, "/api/v2/attachments/{id}"),
            ["help_center", "articles", "search"] => Some(Route::ArticleSearch),
            ["account", "settings"] => Some(Route::AccountSettings),
            // The same search with the locale in the path.
            ["help_center", _, "articles", "search"] => Some(Route::ArticleSearch),
            ["search"] => Some(Route::Search),
            ["search", "count"] => Some(Route::SearchCount),
            ["triggers"] => Some(Route::Triggers),
            ["triggers", "active"] => Some(Route::TriggersActive),
            ["triggers", "update_many"] => Some(Route::TriggersUpdateMany),
            // Zendesk's other trigger endpoints, which the simulator does
            // not serve: an unknown endpoint, not a trigger id.
            ["triggers", "definitions" | "search" | "reorder" | "destroy_many"] => None,
            ["triggers", t] => id(t, Route::Trigger, "/api/v2/triggers/{id}"),
            _ => None,
        }
    }

    /// The route template requests are counted under, as in the fixtures'
    /// `MANIFEST.tsv`.
    pub(super) fn template(&self) -> &'static str {
        match self {
            Route::Tickets => "/api/v2/tickets",
            Route::TicketsShowMany => "/api/v2/tickets/show_many",
            Route::TicketsCreateMany => "/api/v2/tickets/create_many",
            Route::TicketsUpdateMany => "/api/v2/tickets/update_many",
            Route::Ticket(_) => "/api/v2/tickets/{id}",
            Route::TicketComments(_) => "/api/v2/tickets/{id}/comments",
            Route::TicketAudits(_) => "/api/v2/tickets/{id}/audits",
            Route::TicketAudit(_, _) => "/api/v2/tickets/{id}/audits/{id}",
            Route::TicketTags(_) => "/api/v2/tickets/{id}/tags",
            Route::TicketAuditsAll => "/api/v2/ticket_audits",
            Route::JobStatuses => "/api/v2/job_statuses",
            Route::JobStatusesShowMany => "/api/v2/job_statuses/show_many",
            Route::JobStatus(_) => "/api/v2/job_statuses/{id}",
            Route::ExportCursor => "/api/v2/incremental/tickets/cursor",
            Route::ExportTime => "/api/v2/incremental/tickets",
            Route::Users => "/api/v2/users",
            Route::UsersShowMany => "/api/v2/users/show_many",
            Route::UsersMe => "/api/v2/users/me",
            Route::UsersCreateOrUpdate => "/api/v2/users/create_or_update",
            Route::User(_) => "/api/v2/users/{id}",
            Route::Groups => "/api/v2/groups",
            Route::Group(_) => "/api/v2/groups/{id}",
            Route::CustomStatuses => "/api/v2/custom_statuses",
            Route::CustomStatus(_) => "/api/v2/custom_statuses/{id}",
            Route::TicketFields => "/api/v2/ticket_fields",
            Route::TicketField(_) => "/api/v2/ticket_fields/{id}",
            Route::Uploads => "/api/v2/uploads",
            Route::Attachment(_) => "/api/v2/attachments/{id}",
            Route::ArticleSearch => "/api/v2/help_center/articles/search",
            Route::AccountSettings => "/api/v2/account/settings",
            Route::Search => "/api/v2/search",
            Route::SearchCount => "/api/v2/search/count",
            Route::UsersSearch => "/api/v2/users/search",
            Route::Triggers => "/api/v2/triggers",
            Route::TriggersActive => "/api/v2/triggers/active",
            Route::TriggersUpdateMany => "/api/v2/triggers/update_many",
            Route::Trigger(_) => "/api/v2/triggers/{id}",
            Route::BadId(template) => template,
        }
    }
}

/// The query string's pairs, decoded.
#[derive(Debug, Default)]
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn parse(query: Option<&str>) -> Query {
        Query(
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Every pair, in the order sent.
    pub(super) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A numeric parameter, or `default` when absent; garbage is a 400.
    pub(super) fn number(&self, key: &str, default: usize) -> Result<usize, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|_| {
                ApiError::new(
                    400,
                    "InvalidPaginationParameter",
                    format!("{key} must be a number, not `{raw}`"),
                )
            }),
        }
    }

    /// A comma-separated id list (`ids=1,2,3`); what does not parse is
    /// skipped.
    fn ids(&self) -> Vec<Id> {
        self.get("ids")
            .unwrap_or("")
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    }
}

/// The existing tickets a request changes (and whose `updated_at` moves).
fn written_tickets(method: &Method, route: &Route, query: &Query, body: &[u8]) -> Vec<Id> {
    if *method == Method::GET {
        return Vec::new();
    }
    match route {
        Route::Ticket(id) | Route::TicketTags(id) => vec![*id],
        Route::TicketsUpdateMany => {
            let mut ids = query.ids();
            if ids.is_empty() {
                let items = serde_json::from_slice::<Value>(body).ok();
                ids = items
                    .as_ref()
                    .and_then(|v| v.get("tickets")?.as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|t| t.get("id")?.as_u64())
                    .collect();
            }
            ids
        }
        _ => Vec::new(),
    }
}

/// Everything a handler needs besides the state.
pub(super) struct Call<'a> {
    pub(super) query: &'a Query,
    content_type: Option<&'a str>,
    pub(super) body: &'a [u8],
    pub(super) base: &'a str,
    pub(super) now: DateTime<Utc>,
    actor: Id,
    relax_export_start: bool,
    job_delay_polls: u32,
}

impl Call<'_> {
    /// The list endpoint at `path` being answered, paged in `order`.
    pub(super) fn list<'a>(&'a self, path: &'a str, order: &'static str) -> paging::List<'a> {
        paging::List {
            base: self.base,
            path,
            query: self.query,
            order,
        }
    }
}

/// The offset keys of a list answered whole (`show_many`): no other page,
/// and `count`, as recorded in the shared corpus's `GET/ticket_show_many.json`.
fn whole_list(count: usize) -> Paging {
    Paging::offset(OffsetLinks {
        count: Some(count as u64),
        ..OffsetLinks::default()
    })
}

pub(super) type Answer = Result<Response, ApiError>;

/// One `/api/v2` request past the gate.
struct Incoming<'a> {
    method: &'a Method,
    route: &'a Route,
    query: &'a Query,
    content_type: Option<&'a str>,
    body: &'a [u8],
    base: &'a str,
    credentials: &'a Credentials,
    idempotency_key: Option<&'a str>,
}

/// Runs one request against the state, under the lock.
fn dispatch(sim: &Simulator, incoming: &Incoming) -> Response {
    let Incoming {
        method,
        route,
        query,
        content_type,
        body,
        base,
        credentials,
        idempotency_key,
    } = *incoming;
    let now = sim.now();
    let mut world = sim.world();
    let state = &mut world.state;
    let actor = state.actor(credentials, now);
    let call = Call {
        query,
        content_type,
        body,
        base,
        now,
        actor,
        relax_export_start: sim.inner.relax_export_start,
        job_delay_polls: sim.inner.job_delay_polls,
    };
    let answer = match (method.as_str(), route) {
        ("GET", Route::Tickets) => list_tickets(state, &call),
        ("POST", Route::Tickets) => match idempotency_key {
            Some(key) => create_ticket_once(state, &call, key),
            None => create_ticket(state, &call),
        },
        ("GET", Route::TicketsShowMany) => show_many_tickets(state, &call),
        ("POST", Route::TicketsCreateMany) => create_many(state, &call),
        ("PUT", Route::TicketsUpdateMany) => update_many(state, &call),
        ("GET", Route::Ticket(id)) => show_ticket(state, &call, *id),
        ("PUT", Route::Ticket(id)) => update_ticket(state, &call, *id),
        ("DELETE", Route::Ticket(id)) => delete_ticket(state, &call, *id),
        ("GET", Route::TicketComments(id)) => list_comments(state, &call, *id),
        ("GET", Route::TicketAudits(id)) => list_audits(state, &call, *id),
        ("GET", Route::TicketAudit(id, audit)) => show_audit(state, &call, *id, *audit),
        ("GET", Route::TicketTags(id)) => state
            .ticket(*id)
            .map(|t| ok(&TagsEnvelope { tags: t.tags.clone() })),
        ("PUT", Route::TicketTags(id)) => change_tags(state, &call, *id, TagChange::Add),
        ("POST", Route::TicketTags(id)) => change_tags(state, &call, *id, TagChange::Replace),
        ("DELETE", Route::TicketTags(id)) => change_tags(state, &call, *id, TagChange::Remove),
        ("GET", Route::TicketAuditsAll) => list_all_audits(state, &call),
        ("GET", Route::JobStatus(id)) => show_job(state, &call, id),
        ("GET", Route::JobStatusesShowMany) => list_jobs(state, &call, Some(query.get("ids").unwrap_or(""))),
        ("GET", Route::JobStatuses) => list_jobs(state, &call, None),
        ("GET", Route::ExportCursor) => export_cursor(state, &call),
        ("GET", Route::ExportTime) => export_time(state, &call),
        ("GET", Route::Users) => list_users(state, &call),
        ("POST", Route::Users) => create_user(state, &call),
        ("GET", Route::UsersShowMany) => show_many_users(state, &call),
        ("GET", Route::UsersMe) => show_user(state, &call, actor),
        ("POST", Route::UsersCreateOrUpdate) => upsert_user(state, &call),
        ("GET", Route::User(id)) => show_user(state, &call, *id),
        ("GET", Route::Groups) => list_groups(state, &call),
        ("POST", Route::Groups) => create_group(state, &call),
        ("GET", Route::Group(id)) => state
            .groups
            .iter()
            .find(|g| g.id == *id && g.deleted != Some(true))
            .map(|g| {
                ok(&GroupEnvelope {
                    group: render::group(base, g),
                })
            })
            .ok_or_else(ApiError::not_found),
        ("GET", Route::CustomStatuses) => list_custom_statuses(state, &call),
        ("POST", Route::CustomStatuses) => create_custom_status(state, &call),
        ("GET", Route::CustomStatus(id)) => show_custom_status(state, &call, *id, StatusCode::OK),
        ("PUT", Route::CustomStatus(id)) => update_custom_status(state, &call, *id),
        ("GET", Route::TicketFields) => {
            let fields = state
                .ticket_fields
                .iter()
                .map(|f| render::ticket_field(base, f))
                .collect();
            let links = OffsetLinks {
                count: Some(state.ticket_fields.len() as u64),
                ..OffsetLinks::default()
            };
            Ok(ok(&TicketFieldsEnvelope {
                ticket_fields: fields,
                links,
            }))
        }
        ("GET", Route::TicketField(id)) => state
            .ticket_fields
            .iter()
            .find(|f| f.id == *id)
            .map(|f| {
                ok(&TicketFieldEnvelope {
                    ticket_field: render::ticket_field(base, f),
                })
            })
            .ok_or_else(ApiError::not_found),
        ("POST", Route::Uploads) => upload(state, &call),
        ("GET", Route::Attachment(id)) => state
            .attachments
            .get(id)
            .map(|a| {
                ok(&AttachmentEnvelope {
                    attachment: render::attachment(base, &a.meta),
                })
            })
            .ok_or_else(ApiError::not_found),
        ("GET", Route::ArticleSearch) => search_articles(state, &call),
        ("GET", Route::AccountSettings) => Ok(ok(&serde_json::json!({ "settings": state.settings }))),
        ("GET", Route::Search) => search(state, &call),
        ("GET", Route::SearchCount) => search_count(state, &call),
        ("GET", Route::UsersSearch) => search_users(state, &call),
        ("GET", Route::Triggers) => trigger_routes::list(state, &call, false),
        ("POST", Route::Triggers) => trigger_routes::create(state, &call),
        ("GET", Route::TriggersActive) => trigger_routes::list(state, &call, true),
        ("PUT", Route::TriggersUpdateMany) => trigger_routes::update_many(state, &call),
        ("GET", Route::Trigger(id)) => trigger_routes::show(state, &call, *id),
        ("PUT", Route::Trigger(id)) => trigger_routes::update(state, &call, *id),
        ("DELETE", Route::Trigger(id)) => trigger_routes::delete(state, *id),
        (_, Route::BadId(_)) => Err(ApiError::not_found()),
        _ => Err(ApiError::no_endpoint(method.as_str(), route.template())),
    };
    // The e-mails the request's triggers made go out after the answer is
    // settled, off the request path.
    sim.hand_over(&mut world);
    answer.unwrap_or_else(IntoResponse::into_response)
}

pub(super) fn ok<T: Serialize>(body: &T) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

pub(super) fn created<T: Serialize>(body: &T, location: Option<&str>) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

// -- decoding -----------------------------------------------------------------

/// The body as JSON; not JSON is a 400.
pub(super) fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_json("the body is empty"));
    }
    serde_json::from_slice(body).map_err(ApiError::invalid_json)
}

/// `value` as `T`; a field of the wrong type is a 422 naming its path.
pub(super) fn decode<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let field = if path.is_empty() || path == "." {
            "base"
        } else {
            path.as_str()
        };
        ApiError::invalid(field, format!("{field}: {inner}"))
    })
}

/// The member `key` of the body object (`{"ticket": {...}}`).
pub(super) fn member(value: &Value, key: &str) -> Result<Value, ApiError> {
    match value.get(key) {
        Some(inner) if !inner.is_null() => Ok(inner.clone()),
        _ => Err(ApiError::new(
            400,
            "InvalidValue",
            format!("The request body needs a `{key}` object"),
        )),
    }
}

/// The fields an object sets to an explicit `null` (to clear them).
fn nulls(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| v.is_null())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// A ticket create item: a missing comment is Zendesk's blank description.
fn decode_new_ticket(value: Value) -> Result<NewTicket, ApiError> {
    if value.is_object() && value.get("comment").is_none_or(Value::is_null) {
        return Err(ApiError::invalid("description", "Description: cannot be blank"));
    }
    decode(value)
}

// -- tickets ------------------------------------------------------------------

fn list_tickets(state: &State, call: &Call) -> Answer {
    let external_id = call.query.get("external_id");
    let tickets: Vec<_> = state
        .tickets
        .values()
        .filter(|t| t.status != crate::helpdesk::model::Status::Deleted)
        .filter(|t| external_id.is_none_or(|x| t.external_id.as_deref() == Some(x)))
        .map(|t| ((String::new(), t.id), render::ticket(call.base, t, false)))
        .collect();
    // Tickets page by their number (`nice_id` in Zendesk's cursors).
    let list = call.list("/api/v2/tickets.json", "nice_id");
    let (tickets, page) = paging::page(&list, tickets)?;
    Ok(ok(&TicketsEnvelope { tickets, page }))
}

fn show_many_tickets(state: &State, call: &Call) -> Answer {
    let tickets: Vec<_> = call
        .query
        .ids()
        .into_iter()
        .take(MAX_BULK)
        .filter_map(|id| state.ticket(id).ok())
        .map(|t| render::ticket(call.base, t, false))
        .collect();
    Ok(ok(&TicketsEnvelope {
        page: whole_list(tickets.len()),
        tickets,
    }))
}

fn show_ticket(state: &State, call: &Call, id: Id) -> Answer {
    let ticket = state.ticket(id)?;
    Ok(ok(&TicketEnvelope {
        ticket: render::ticket(call.base, ticket, false),
        audit: None,
    }))
}

fn ticket_with_audit(state: &State, call: &Call, id: Id, audit_id: Id) -> Result<TicketEnvelope, ApiError> {
    let ticket = state.ticket(id)?;
    let audit = state
        .audits
        .get(&id)
        .and_then(|audits| audits.iter().find(|a| a.id == audit_id))
        .map(|a| render::audit(call.base, a));
    Ok(TicketEnvelope {
        ticket: render::ticket(call.base, ticket, false),
        audit,
    })
}

fn create_ticket(state: &mut State, call: &Call) -> Answer {
    let body = json_body(call.body)?;
    let new = decode_new_ticket(member(&body, "ticket")?)?;
    let (id, audit_id) = state.create_ticket(&new, call.actor, call.now)?;
    let envelope = ticket_with_audit(state, call, id, audit_id)?;
    let location = envelope.ticket.url.clone();
    Ok(created(&envelope, location.as_deref()))
}

/// `POST /api/v2/tickets` with an `Idempotency-Key` (see `idempotency`).
fn create_ticket_once(state: &mut State, call: &Call, key: &str) -> Answer {
    let request = json_body(call.body)?;
    let lookup = state.idempotency.lookup(key, &request, call.now)?;
    let (response, lookup_value) = match lookup {
        Lookup::Hit(remembered) => (created(&remembered.body, remembered.location.as_deref()), "hit"),
        Lookup::Miss => {
            let new = decode_new_ticket(member(&request, "ticket")?)?;
            let (id, audit_id) = state.create_ticket(&new, call.actor, call.now)?;
            let envelope = ticket_with_audit(state, call, id, audit_id)?;
            let location = envelope.ticket.url.clone();
            let body = serde_json::to_value(&envelope).map_err(ApiError::invalid_json)?;
            state
                .idempotency
                .remember(key, request, body.clone(), location.clone(), call.now);
            (created(&body, location.as_deref()), "miss")
        }
    };
    let mut response = response;
    response
        .headers_mut()
        .insert(LOOKUP_HEADER, HeaderValue::from_static(lookup_value));
    Ok(response)
}

fn update_ticket(state: &mut State, call: &Call, id: Id) -> Answer {
    let body = json_body(call.body)?;
    let raw = member(&body, "ticket")?;
    let cleared = nulls(&raw);
    let update: TicketUpdate = decode(raw)?;
    let audit_id = state.update_ticket(id, &update, &cleared, call.actor, call.now)?;
    Ok(ok(&ticket_with_audit(state, call, id, audit_id)?))
}

fn delete_ticket(state: &mut State, call: &Call, id: Id) -> Answer {
    state.delete_ticket(id, call.now)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn too_many(count: usize) -> ApiError {
    ApiError::new(
        400,
        "TooManyValues",
        format!("{count} tickets given; at most {MAX_BULK} are allowed per request"),
    )
}

fn job_answer(state: &State, call: &Call, job_id: &str) -> Answer {
    let view = state.job_queued(job_id).ok_or_else(ApiError::not_found)?;
    Ok(ok(&JobStatusEnvelope {
        job_status: render::job(call.base, view),
    }))
}

fn create_many(state: &mut State, call: &Call) -> Answer {
    let body = json_body(call.body)?;
    let Value::Array(items) = member(&body, "tickets")? else {
        return Err(ApiError::invalid("tickets", "Tickets: must be a list"));
    };
    if items.len() > MAX_BULK {
        return Err(too_many(items.len()));
    }
    let items: Vec<_> = items.into_iter().map(decode_new_ticket).collect();
    let job = state.create_many(&items, call.actor, call.now);
    job_answer(state, call, &job)
}

fn update_many(state: &mut State, call: &Call) -> Answer {
    let body = json_body(call.body)?;
    let decode_item = |raw: Value| -> Result<(TicketUpdate, BTreeSet<String>), ApiError> {
        let cleared = nulls(&raw);
        decode::<TicketUpdate>(raw).map(|u| (u, cleared))
    };
    let items: Vec<BulkUpdate> = if call.query.get("ids").is_some() {
        let ids = call.query.ids();
        if ids.len() > MAX_BULK {
            return Err(too_many(ids.len()));
        }
        let (update, cleared) = decode_item(member(&body, "ticket")?)?;
        ids.into_iter()
            .map(|id| {
                let update = TicketUpdate {
                    id: Some(id),
                    ..update.clone()
                };
                (Some(id), Ok((update, cleared.clone())))
            })
            .collect()
    } else {
        let Value::Array(raw) = member(&body, "tickets")? else {
            return Err(ApiError::invalid("tickets", "Tickets: must be a list"));
        };
        if raw.len() > MAX_BULK {
            return Err(too_many(raw.len()));
        }
        raw.into_iter()
            .map(|item| {
                let id = item.get("id").and_then(Value::as_u64);
                (id, decode_item(item))
            })
            .collect()
    };
    let job = state.update_many(&items, call.actor, call.now);
    job_answer(state, call, &job)
}

fn change_tags(state: &mut State, call: &Call, id: Id, change: TagChange) -> Answer {
    let body = json_body(call.body)?;
    let tags: Vec<String> = match body.get("tags") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::invalid("tags", "Tags: must be strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(one)) => vec![one.clone()],
        _ => {
            return Err(ApiError::new(
                400,
                "InvalidValue",
                "The request body needs `tags`",
            ));
        }
    };
    let safe_update = match body.get("safe_update") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    let stamp = match body.get("updated_stamp") {
        Some(Value::String(s)) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|_| ApiError::invalid("updated_stamp", format!("Updated stamp: {s} is not a time")))?
                .with_timezone(&Utc),
        ),
        _ => None,
    };
    let guard = stamp.filter(|_| safe_update);
    let tags = state.change_tags(id, change, &tags, guard, call.actor, call.now)?;
    let envelope = TagsEnvelope { tags };
    Ok(match change {
        // Set Tags answers 201 Created (Zendesk's OpenAPI, operation
        // SetTagsTicket: `'201': Created response`); add and remove 200.
        TagChange::Replace => (StatusCode::CREATED, Json(&envelope)).into_response(),
        TagChange::Add | TagChange::Remove => ok(&envelope),
    })
}

// -- comments and audits --------------------------------------------------------

fn list_comments(state: &State, call: &Call, id: Id) -> Answer {
    state.ticket(id)?;
    let comments: Vec<_> = state
        .comments
        .get(&id)
        .map(|c| {
            c.iter()
                .map(|c| ((String::new(), c.id), render::comment(call.base, c)))
                .collect()
        })
        .unwrap_or_default();
    let path = format!("/api/v2/tickets/{id}/comments.json");
    let (comments, page) = paging::page(&call.list(&path, "created_at,id"), comments)?;
    Ok(ok(&CommentsEnvelope { comments, page }))
}

fn list_audits(state: &State, call: &Call, id: Id) -> Answer {
    state.ticket(id)?;
    let audits: Vec<_> = state
        .audits
        .get(&id)
        .map(|a| {
            a.iter()
                .map(|a| ((String::new(), a.id), render::audit(call.base, a)))
                .collect()
        })
        .unwrap_or_default();
    let path = format!("/api/v2/tickets/{id}/audits.json");
    let (audits, page) = paging::page(&call.list(&path, "created_at,id"), audits)?;
    Ok(ok(&AuditsEnvelope {
        audits,
        before_url: None,
        after_url: None,
        page,
    }))
}

fn show_audit(state: &State, call: &Call, id: Id, audit_id: Id) -> Answer {
    state.ticket(id)?;
    state
        .audits
        .get(&id)
        .and_then(|audits| audits.iter().find(|a| a.id == audit_id))
        .map(|a| {
            ok(&AuditEnvelope {
                audit: render::audit(call.base, a),
            })
        })
        .ok_or_else(ApiError::not_found)
}

/// `GET /api/v2/ticket_audits`: every audit, newest first. `cursor` is
/// `b:{id}` (older than) or `a:{id}` (newer than), base64-encoded.
fn list_all_audits(state: &State, call: &Call) -> Answer {
    let limit = call.query.number("limit", 1000)?.clamp(1, 1000);
    let mut all: Vec<_> = state
        .audits
        .iter()
        .filter(|(ticket, _)| state.ticket(**ticket).is_ok())
        .flat_map(|(_, audits)| audits.iter())
        .collect();
    all.sort_by_key(|a| std::cmp::Reverse(a.id));
    let position = match call.query.get("cursor") {
        None => None,
        Some(cursor) => Some(decode_page_cursor(cursor)?),
    };
    let page: Vec<_> = match position {
        None => all.iter().take(limit).collect(),
        Some(('b', id)) => all.iter().filter(|a| a.id < id).take(limit).collect(),
        Some((_, id)) => {
            let newer: Vec<_> = all.iter().filter(|a| a.id > id).collect();
            let skip = newer.len().saturating_sub(limit);
            newer.into_iter().skip(skip).collect()
        }
    };
    let url = |tag: char, id: Id| {
        format!(
            "{}/api/v2/ticket_audits.json?{}",
            call.base,
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("cursor", &encode_page_cursor(tag, id))
                .append_pair("limit", &limit.to_string())
                .finish()
        )
    };
    let oldest = page.last().map(|a| a.id);
    let newest = page.first().map(|a| a.id);
    let before_url = oldest
        .filter(|id| all.iter().any(|a| a.id < *id))
        .map(|id| url('b', id));
    let after_url = newest.map(|id| url('a', id));
    Ok(ok(&AuditsEnvelope {
        audits: page.into_iter().map(|a| render::audit(call.base, a)).collect(),
        before_url,
        after_url,
        page: Paging::default(),
    }))
}

// -- jobs -----------------------------------------------------------------------

fn show_job(state: &mut State, call: &Call, id: &str) -> Answer {
    let view = state
        .poll_job(id, call.job_delay_polls, call.now)
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(&JobStatusEnvelope {
        job_status: render::job(call.base, view),
    }))
}

fn list_jobs(state: &mut State, call: &Call, ids: Option<&str>) -> Answer {
    let ids: Vec<String> = match ids {
        Some(ids) => ids
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => state.jobs.keys().cloned().collect(),
    };
    let jobs: Vec<_> = ids
        .iter()
        .filter_map(|id| state.poll_job(id, call.job_delay_polls, call.now))
        .map(|view| render::job(call.base, view))
        .collect();
    Ok(ok(&json!({ "job_statuses": jobs })))
}

// -- exports ----------------------------------------------------------------------

/// `start_time` as Unix seconds, refused when less than a minute old
/// (unless relaxed), as Zendesk does.
fn start_time(call: &Call) -> Result<Option<i64>, ApiError> {
    let Some(raw) = call.query.get("start_time") else {
        return Ok(None);
    };
    let start: i64 = raw.trim().parse().map_err(|_| {
        ApiError::new(
            422,
            "InvalidValue",
            format!("start_time must be a Unix time in seconds, not `{raw}`"),
        )
    })?;
    if !call.relax_export_start && start > call.now.timestamp() - 60 {
        return Err(ApiError::new(
            422,
            "InvalidValue",
            "Too recent start_time. Use a start_time older than 1 minute",
        ));
    }
    Ok(Some(start))
}

fn export_cursor(state: &State, call: &Call) -> Answer {
    let per_page = call
        .query
        .number("per_page", export::MAX_PER_PAGE)?
        .clamp(1, export::MAX_PER_PAGE);
    let cursor = call.query.get("cursor").filter(|c| !c.is_empty());
    let from = match cursor {
        Some(cursor) => {
            let change = export::decode_cursor(cursor).ok_or_else(|| {
                ApiError::new(
                    422,
                    "InvalidValue",
                    format!("cursor `{cursor}` is not a valid export cursor"),
                )
            })?;
            export::ExportFrom::Change(change)
        }
        None => match start_time(call)? {
            Some(start) => export::ExportFrom::Time(start),
            None => {
                return Err(ApiError::new(
                    422,
                    "InvalidValue",
                    "start_time or cursor is required",
                ));
            }
        },
    };
    let page = export::cursor_page(state, from, per_page, call.now.timestamp());
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("cursor", &page.after_cursor);
    if call.query.get("per_page").is_some() {
        query.append_pair("per_page", &per_page.to_string());
    }
    let after_url = format!(
        "{}/api/v2/incremental/tickets/cursor.json?{}",
        call.base,
        query.finish()
    );
    let before_url = cursor.map(|c| {
        format!(
            "{}/api/v2/incremental/tickets/cursor.json?{}",
            call.base,
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("cursor", c)
                .finish()
        )
    });
    Ok(ok(&CursorExport {
        tickets: page
            .tickets
            .iter()
            .map(|t| render::ticket(call.base, t, true))
            .collect(),
        after_url: Some(after_url),
        after_cursor: Some(page.after_cursor),
        before_url,
        before_cursor: cursor.map(str::to_owned),
        end_of_stream: page.end_of_stream,
    }))
}

fn export_time(state: &State, call: &Call) -> Answer {
    let Some(start) = start_time(call)? else {
        return Err(ApiError::new(422, "InvalidValue", "start_time is required"));
    };
    let per_page = call
        .query
        .number("per_page", export::MAX_PER_PAGE)?
        .clamp(1, export::MAX_PER_PAGE);
    let (tickets, end_time, end_of_stream) = export::time_page(state, start, per_page);
    let count = tickets.len() as u64;
    Ok(ok(&TimeExport {
        tickets: tickets
            .iter()
            .map(|t| render::ticket(call.base, t, true))
            .collect(),
        next_page: Some(format!(
            "{}/api/v2/incremental/tickets.json?start_time={end_time}",
            call.base
        )),
        count: Some(count),
        end_time: Some(end_time),
        end_of_stream,
    }))
}

// -- users, groups, statuses, fields ---------------------------------------------

fn list_users(state: &State, call: &Call) -> Answer {
    // `role=agent`, or several as `role[]=agent&role[]=admin`.
    let roles: Vec<&str> = call
        .query
        .0
        .iter()
        .filter(|(k, _)| k == "role" || k == "role[]")
        .map(|(_, v)| v.as_str())
        .collect();
    let users: Vec<_> = state
        .users
        .values()
        .filter(|u| {
            roles.is_empty()
                || serde_json::to_value(u.role)
                    .ok()
                    .and_then(|v| v.as_str().map(|s| roles.contains(&s)))
                    == Some(true)
        })
        .map(|u| ((String::new(), u.id), render::user(call.base, u)))
        .collect();
    let (users, page) = paging::page(&call.list("/api/v2/users.json", "id"), users)?;
    Ok(ok(&UsersEnvelope { users, page }))
}

fn show_many_users(state: &State, call: &Call) -> Answer {
    let users: Vec<_> = call
        .query
        .ids()
        .into_iter()
        .take(MAX_BULK)
        .filter_map(|id| state.users.get(&id))
        .map(|u| render::user(call.base, u))
        .collect();
    Ok(ok(&UsersEnvelope {
        page: whole_list(users.len()),
        users,
    }))
}

fn show_user(state: &State, call: &Call, id: Id) -> Answer {
    let user = state.users.get(&id).ok_or_else(ApiError::not_found)?;
    Ok(ok(&UserEnvelope {
        user: render::user(call.base, user),
    }))
}

fn upsert_user(state: &mut State, call: &Call) -> Answer {
    let body = json_body(call.body)?;
    let upsert: UserUpsert = decode(member(&body, "user")?)?;
    let (id, was_created) = state.upsert_user(&upsert, call.now)?;
    let user = state.users.get(&id).ok_or_else(ApiError::not_found)?;
    let envelope = UserEnvelope {
        user: render::user(call.base, user),
    };
    Ok(if was_created {
        created(&envelope, envelope.user.url.as_deref())
    } else {
        ok(&envelope)
    })
}

fn create_user(state: &mut State, call: &Call) -> Answer {
    let body = json_body(call.body)?;
    let upsert: UserUpsert = decode(member(&body, "user")?)?;
    if state.user_by_email(&upsert.email).is_some() {
        return Err(ApiError::invalid(
            "email",
            format!("Email: {} is already being used by another user", upsert.email),
        ));
    }
    let (id, _) = state.upsert_user(&upsert, call.now)?;
    let user = state.users.get(&id).ok_or_else(ApiError::not_found)?;
    let envelope = UserEnvelope {
        user: render::user(call.base, user),
    };
    Ok(created(&envelope, envelope.user.url.as_deref()))
}

fn list_groups(state: &State, call: &Call) -> Answer {
    let groups: Vec<_> = state
        .groups
        .iter()
        .filter(|g| g.deleted != Some(true))
        .map(|g| ((g.name.clone(), g.id), render::group(call.base, g)))
        .collect();
    // Groups page by name (`name,id` in Zendesk's cursors).
    let (groups, page) = paging::page(&call.list("/api/v2/groups.json", "name,id"), groups)?;
    Ok(ok(&GroupsEnvelope { groups, page }))
}

/// Where new group ids start (Zendesk's are 12 to 14 digits).
const GROUP_IDS_FROM: Id = 360_000_100_001;

/// The fields of `{"group": {...}}` in a create.
#[derive(Debug, Deserialize)]
struct GroupInput {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    is_public: Option<bool>,
}

/// `POST /api/v2/groups`: 201 with the group and a `Location` header, as
/// recorded (zenpy's `TestGroupCreateUpdateDelete` cassettes). A blank name
/// gets the `ValueTooShort` problem a public test recorded from Zendesk;
/// a name already in use gets Zendesk's "has already been taken", as
/// recorded for organizations (a `create_many` job result in zenpy's
/// cassettes).
fn create_group(state: &mut State, call: &Call) -> Answer {
    let body = json_body(call.body)?;
    let input: GroupInput = decode(member(&body, "group")?)?;
    let name = input.name.as_deref().map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::invalid_with(
            "name",
            "ValueTooShort",
            "Name: is too short (minimum one character)",
        ));
    }
    let taken = state
        .groups
        .iter()
        .any(|g| g.deleted != Some(true) && articles::fold(&g.name) == articles::fold(name));
    if taken {
        return Err(ApiError::invalid_with(
            "name",
            "DuplicateValue",
            format!("Name: {name} has already been taken"),
        ));
    }
    let id = state
        .groups
        .iter()
        .map(|g| g.id.saturating_add(1))
        .max()
        .map_or(GROUP_IDS_FROM, |next| next.max(GROUP_IDS_FROM));
    let now = Some(super::state::whole(call.now));
    let group = crate::helpdesk::model::Group {
        id,
        url: None,
        name: name.to_owned(),
        description: Some(input.description.unwrap_or_default()),
        deleted: Some(false),
        default: Some(false),
        is_public: Some(input.is_public.unwrap_or(true)),
        created_at: now,
        updated_at: now,
    };
    let envelope = GroupEnvelope {
        group: render::group(call.base, &group),
    };
    state.groups.push(group);
    Ok(created(&envelope, envelope.group.url.as_deref()))
}

fn list_custom_statuses(state: &State, call: &Call) -> Answer {
    let categories: Option<Vec<String>> = call
        .query
        .get("status_categories")
        .map(|c| c.split(',').map(|s| s.trim().to_owned()).collect());
    let active = call.query.get("active").map(|a| a == "true");
    let default = call.query.get("default").map(|d| d == "true");
    let statuses = state
        .custom_statuses
        .iter()
        .filter(|c| {
            let category = serde_json::to_value(c.status_category)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            categories.as_ref().is_none_or(|cs| cs.contains(&category))
        })
        .filter(|c| active.is_none_or(|a| c.active == a))
        .filter(|c| default.is_none_or(|d| c.default == d))
        .map(|c| render::custom_status(call.base, c))
        .collect();
    Ok(ok(&CustomStatusesEnvelope {
        custom_statuses: statuses,
    }))
}

fn show_custom_status(state: &State, call: &Call, id: Id, status: StatusCode) -> Answer {
    let custom = state
        .custom_statuses
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(ApiError::not_found)?;
    let envelope = CustomStatusEnvelope {
        custom_status: render::custom_status(call.base, custom),
    };
    Ok(if status == StatusCode::CREATED {
        created(&envelope, envelope.custom_status.url.as_deref())
    } else {
        ok(&envelope)
    })
}

fn create_custom_status(state: &mut State, call: &Call) -> Answer {
    let body = json_body(call.body)?;
    let input: CustomStatusInput = decode(member(&body, "custom_status")?)?;
    let id = state.create_custom_status(&input, call.now)?;
    show_custom_status(state, call, id, StatusCode::CREATED)
}

fn update_custom_status(state: &mut State, call: &Call, id: Id) -> Answer {
    let body = json_body(call.body)?;
    let input: CustomStatusInput = decode(member(&body, "custom_status")?)?;
    state.update_custom_status(id, &input, call.now)?;
    show_custom_status(state, call, id, StatusCode::OK)
}

// -- uploads and articles ---------------------------------------------------------

fn upload(state: &mut State, call: &Call) -> Answer {
    let content_type = call.content_type.unwrap_or("application/octet-stream");
    let Some(file_name) = call.query.get("filename").filter(|f| !f.trim().is_empty()) else {
        return Err(ApiError::invalid("filename", "Filename: cannot be blank"));
    };
    let token = state.add_upload(
        call.query.get("token"),
        file_name,
        content_type,
        call.body.to_vec(),
        call.now,
    )?;
    let record = state.uploads.get(&token).ok_or_else(ApiError::not_found)?;
    let attachments: Vec<_> = record
        .attachment_ids
        .iter()
        .filter_map(|id| state.attachments.get(id))
        .map(|a| render::attachment(call.base, &a.meta))
        .collect();
    let envelope = UploadEnvelope {
        upload: crate::helpdesk::model::Upload {
            token: token.clone(),
            expires_at: Some(record.expires_at),
            attachment: attachments.last().cloned(),
            attachments,
        },
    };
    Ok(created(&envelope, None))
}

fn search_articles(state: &State, call: &Call) -> Answer {
    let Some(query) = call.query.get("query").filter(|q| !q.trim().is_empty()) else {
        return Err(ApiError::new(400, "InvalidValue", "query is required"));
    };
    let per_page = call.query.number("per_page", 25)?.clamp(1, paging::MAX_PAGE);
    let page = call.query.number("page", 1)?.max(1);
    let hits = articles::search(&state.articles, query, call.query.get("locale"));
    let count = hits.len();
    let page_count = count.div_ceil(per_page).max(1);
    let results = hits
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|hit| render::article(call.base, hit.article, Some(hit.snippet)))
        .collect();
    let link = |n: usize| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("query", query);
        if let Some(locale) = call.query.get("locale") {
            q.append_pair("locale", locale);
        }
        q.append_pair("page", &n.to_string());
        q.append_pair("per_page", &per_page.to_string());
        format!(
            "{}/api/v2/help_center/articles/search.json?{}",
            call.base,
            q.finish()
        )
    };
    Ok(ok(&ArticleSearch {
        results,
        count: Some(count as u64),
        next_page: (page < page_count).then(|| link(page + 1)),
        previous_page: (page > 1).then(|| link(page - 1)),
        page: Some(page as u64),
        page_count: Some(page_count as u64),
        per_page: Some(per_page as u64),
    }))
}

// -- search -----------------------------------------------------------------------

/// Zendesk's search answers at most 1,000 results a query, 100 a page
/// (<https://developer.zendesk.com/api-reference/ticketing/ticket-management/search/>).
const SEARCH_LIMIT: usize = 1000;

/// A record a search found.
#[derive(Debug, Clone, Copy)]
enum Found<'a> {
    Ticket(&'a crate::helpdesk::model::Ticket),
    User(&'a crate::helpdesk::model::User),
}

impl<'a> Found<'a> {
    fn ticket(&self) -> Option<&'a crate::helpdesk::model::Ticket> {
        match self {
            Found::Ticket(t) => Some(t),
            Found::User(_) => None,
        }
    }

    /// Tickets before users, each by id: the order without `sort_by` (the
    /// simulator has no relevance score).
    fn natural(&self) -> (u8, Id) {
        match self {
            Found::Ticket(t) => (0, t.id),
            Found::User(u) => (1, u.id),
        }
    }

    fn compare(&self, other: &Found<'a>, field: search::SortField, state: &State) -> std::cmp::Ordering {
        use search::SortField;
        let created = |f: &Found| match f {
            Found::Ticket(t) => Some(t.created_at),
            Found::User(u) => u.created_at,
        };
        let updated = |f: &Found| match f {
            Found::Ticket(t) => Some(t.updated_at),
            Found::User(u) => u.updated_at,
        };
        let ticket = |f: &Found<'a>| f.ticket();
        match field {
            SortField::Created => created(self).cmp(&created(other)),
            SortField::Updated => updated(self).cmp(&updated(other)),
            SortField::Commented => ticket(self)
                .and_then(|t| search::latest_comment(state, t))
                .cmp(&ticket(other).and_then(|t| search::latest_comment(state, t))),
            SortField::Priority => ticket(self)
                .and_then(search::ticket_priority_rank)
                .cmp(&ticket(other).and_then(search::ticket_priority_rank)),
            SortField::Status => ticket(self)
                .map(|t| search::status_rank(t.status))
                .cmp(&ticket(other).map(|t| search::status_rank(t.status))),
            SortField::TicketType => ticket(self)
                .and_then(|t| t.ticket_type.clone())
                .cmp(&ticket(other).and_then(|t| t.ticket_type.clone())),
        }
    }
}

/// The 400 for a query the simulator cannot answer (not Zendesk's: Zendesk
/// answers these, the simulator refuses rather than guess).
fn unsupported_search(why: String) -> ApiError {
    ApiError::new(
        400,
        "UnsupportedSearch",
        format!("The simulator cannot answer this search: {why}"),
    )
}

/// `query`, required; search is offset-paginated only, so `page[...]` is
/// refused with the error Zendesk gives (community post 5981990015514).
fn search_query<'a>(call: &'a Call, endpoint: &str) -> Result<&'a str, ApiError> {
    if paging::wants_cursor(call.query) {
        return Err(ApiError::invalid_attribute(format!(
            "You passed an invalid value for the page attribute. Invalid parameter: page must be an integer from {endpoint}"
        )));
    }
    call.query
        .get("query")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| {
            ApiError::invalid_attribute(format!(
                "You passed an invalid value for the query attribute. Invalid parameter: query must be a string from {endpoint}"
            ))
        })
}

/// Every record `query` finds, in the order asked for.
fn search_hits<'a>(state: &'a State, call: &Call, query: &str) -> Result<Vec<Found<'a>>, ApiError> {
    let parsed = search::Search::parse(query).map_err(unsupported_search)?;
    let sort = match call.query.get("sort_by").filter(|s| !s.is_empty()) {
        Some(by) => Some(search::SortField::from_param(by).map_err(ApiError::invalid_attribute)?),
        None => parsed.order,
    };
    // `sort_order` defaults to desc.
    let ascending = match call.query.get("sort_order").filter(|s| !s.is_empty()) {
        Some("asc") => true,
        Some("desc") => false,
        Some(other) => {
            return Err(ApiError::invalid_attribute(format!(
                "sort_order `{other}` is not asc or desc"
            )));
        }
        None => parsed.ascending.unwrap_or(false),
    };
    let mut hits: Vec<Found> = state
        .tickets
        .values()
        .filter(|t| parsed.matches_ticket(state, call.actor, t))
        .map(Found::Ticket)
        .chain(
            state
                .users
                .values()
                .filter(|u| parsed.matches_user(u))
                .map(Found::User),
        )
        .collect();
    hits.sort_by(|a, b| {
        let by_field = sort.map_or(std::cmp::Ordering::Equal, |field| {
            let order = a.compare(b, field, state);
            if ascending { order } else { order.reverse() }
        });
        by_field.then(a.natural().cmp(&b.natural()))
    });
    Ok(hits)
}

/// A found record as a search result: the record plus `result_type`.
fn search_hit(base: &str, found: Found) -> SearchHit {
    let (value, result_type) = match found {
        Found::Ticket(t) => (serde_json::to_value(render::ticket(base, t, false)), "ticket"),
        Found::User(u) => (serde_json::to_value(render::user(base, u)), "user"),
    };
    let mut fields = match value {
        Ok(Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    };
    let id = fields.remove("id").and_then(|id| id.as_u64()).unwrap_or_default();
    SearchHit {
        id,
        result_type: result_type.to_owned(),
        fields,
    }
}

/// `GET /api/v2/search`: tickets and users, offset pages of up to 100,
/// `count` the whole number found, `facets` null. Past the 1,000th result
/// Zendesk answers 422 `invalid` (the body quoted in several clients; zenpy
/// maps it to `SearchResponseLimitExceeded`). `next_page` is there while
/// results remain, even past that limit, as zenpy's "we got what we could"
/// handling of that 422 shows.
fn search(state: &State, call: &Call) -> Answer {
    let query = search_query(call, "api/v2/search/index")?;
    let hits = search_hits(state, call, query)?;
    let (page, per_page) = paging::offset_request(call.query, paging::MAX_PAGE)?;
    if page.saturating_mul(per_page) > SEARCH_LIMIT {
        return Err(ApiError::new(
            422,
            "invalid",
            "Invalid search: Requested response size was greater than Search Response Limits",
        ));
    }
    let (hits, links) = paging::offset(
        &call.list("/api/v2/search.json", "relevance"),
        hits,
        paging::MAX_PAGE,
    )?;
    Ok(ok(&SearchResults {
        results: hits.into_iter().map(|f| search_hit(call.base, f)).collect(),
        facets: None,
        links,
    }))
}

/// `GET /api/v2/search/count`: `{"count": N}` (shared corpus,
/// `GET/search_count_ticket.json`).
fn search_count(state: &State, call: &Call) -> Answer {
    let query = search_query(call, "api/v2/search/count")?;
    let count = search_hits(state, call, query)?.len() as u64;
    Ok(ok(&SearchCount { count }))
}

/// `GET /api/v2/users/search`: `query` in the search syntax (users only),
/// or `external_id` exactly; offset pages, at most 10,000 records
/// (Zendesk's OpenAPI, users.yml: "Offset pagination only").
fn search_users(state: &State, call: &Call) -> Answer {
    const ENDPOINT: &str = "api/v2/users/search/index";
    if paging::wants_cursor(call.query) {
        return Err(ApiError::invalid_attribute(format!(
            "You passed an invalid value for the page attribute. Invalid parameter: page must be an integer from {ENDPOINT}"
        )));
    }
    let users: Vec<_> = match (
        call.query.get("external_id").filter(|x| !x.is_empty()),
        call.query.get("query").filter(|q| !q.trim().is_empty()),
    ) {
        (Some(external_id), _) => state
            .users
            .values()
            .filter(|u| u.external_id.as_deref() == Some(external_id))
            .collect(),
        (None, Some(query)) => {
            let parsed = search::Search::parse(query).map_err(unsupported_search)?;
            if parsed.kind == Some(search::Kind::Ticket) {
                return Err(unsupported_search(
                    "`type:ticket`: the users search finds users only".to_owned(),
                ));
            }
            state.users.values().filter(|u| parsed.matches_user(u)).collect()
        }
        (None, None) => {
            return Err(ApiError::invalid_attribute(format!(
                "You passed an invalid value for the query attribute. Invalid parameter: query or external_id is required from {ENDPOINT}"
            )));
        }
    };
    let users: Vec<_> = users.into_iter().map(|u| render::user(call.base, u)).collect();
    let list = call.list("/api/v2/users/search.json", "id");
    let (users, links) = paging::offset(&list, users, paging::MAX_PAGE)?;
    paging::check_depth(call.query)?;
    Ok(ok(&UsersEnvelope {
        users,
        page: Paging::offset(links),
    }))
}

// -- the ticket_audits cursor ----------------------------------------------------

fn encode_page_cursor(tag: char, id: Id) -> String {
    URL_SAFE_NO_PAD.encode(format!("{tag}:{id}"))
}

fn decode_page_cursor(cursor: &str) -> Result<(char, Id), ApiError> {
    let invalid = || {
        ApiError::new(
            400,
            "InvalidPaginationParameter",
            format!("cursor `{cursor}` is not valid"),
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (tag, id) = text.split_once(':').ok_or_else(invalid)?;
    let tag = match tag {
        "a" => 'a',
        "b" => 'b',
        _ => return Err(invalid()),
    };
    Ok((tag, id.parse().map_err(|_| invalid())?))
}

/// A bare response with bytes and a content type (served attachments).
pub(super) fn bytes_response(content_type: &str, bytes: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(bytes));
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}
