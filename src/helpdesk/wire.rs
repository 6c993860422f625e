//! The JSON envelopes around Zendesk's resources, request and response, one
//! per endpoint, and a registry from endpoint key (as in the fixtures'
//! `MANIFEST.tsv`, e.g. `GET /api/v2/tickets/{id}`) to the type that decodes
//! its answer.
//!
//! The client decodes with these, the simulator encodes with these, and the
//! conformance tests check both against recorded real payloads.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ApiErrorBody;
use super::model::*;

/// Offset pagination links (`next_page`/`previous_page`/`count`) that older
/// list endpoints return. Zendesk always sends `count` with them, so it is
/// left out rather than sent as `null` when unknown.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OffsetLinks {
    #[serde(default)]
    pub next_page: Option<String>,
    #[serde(default)]
    pub previous_page: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// How a list answer pages: offset keys (`next_page`, `previous_page`,
/// `count`) without `page[size]`, or cursor blocks (`meta`, `links`) with
/// it, never both (every cursor page recorded in zenpy's cassettes has
/// exactly `{<list>, meta, links}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Paging {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<CursorMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<CursorLinks>,
    #[serde(flatten)]
    pub offset: Option<OffsetLinks>,
}

impl Paging {
    /// Offset keys.
    pub fn offset(links: OffsetLinks) -> Paging {
        Paging {
            offset: Some(links),
            ..Paging::default()
        }
    }

    /// Cursor blocks.
    pub fn cursor(meta: CursorMeta, links: CursorLinks) -> Paging {
        Paging {
            meta: Some(meta),
            links: Some(links),
            offset: None,
        }
    }

    /// The offset `next_page` URL, if this is an offset page with a next one.
    pub fn next_page(&self) -> Option<&str> {
        self.offset.as_ref()?.next_page.as_deref()
    }
}

/// Cursor pagination `meta` block.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CursorMeta {
    pub has_more: bool,
    #[serde(default)]
    pub after_cursor: Option<String>,
    #[serde(default)]
    pub before_cursor: Option<String>,
}

/// Cursor pagination `links` block.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CursorLinks {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub prev: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEnvelope {
    pub ticket: Ticket,
    /// Present on create and update answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<Audit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketsEnvelope {
    pub tickets: Vec<Ticket>,
    #[serde(flatten)]
    pub page: Paging,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTicketEnvelope {
    pub ticket: NewTicket,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTicketsEnvelope {
    pub tickets: Vec<NewTicket>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketUpdateEnvelope {
    pub ticket: TicketUpdate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketUpdatesEnvelope {
    pub tickets: Vec<TicketUpdate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentsEnvelope {
    pub comments: Vec<Comment>,
    #[serde(flatten)]
    pub page: Paging,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEnvelope {
    pub audit: Audit,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditsEnvelope {
    pub audits: Vec<Audit>,
    /// `GET /api/v2/ticket_audits` pages with these two URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_url: Option<String>,
    #[serde(flatten)]
    pub page: Paging,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagsEnvelope {
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEnvelope {
    pub user: User,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsersEnvelope {
    pub users: Vec<User>,
    #[serde(flatten)]
    pub page: Paging,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserUpsertEnvelope {
    pub user: UserUpsert,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupEnvelope {
    pub group: Group,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupsEnvelope {
    pub groups: Vec<Group>,
    #[serde(flatten)]
    pub page: Paging,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomStatusEnvelope {
    pub custom_status: CustomStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomStatusesEnvelope {
    pub custom_statuses: Vec<CustomStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketFieldEnvelope {
    pub ticket_field: TicketField,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketFieldsEnvelope {
    pub ticket_fields: Vec<TicketField>,
    #[serde(flatten)]
    pub links: OffsetLinks,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadEnvelope {
    pub upload: Upload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentEnvelope {
    pub attachment: Attachment,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatusEnvelope {
    pub job_status: JobStatus,
}

/// `GET /api/v2/incremental/tickets/cursor.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CursorExport {
    pub tickets: Vec<Ticket>,
    #[serde(default)]
    pub after_url: Option<String>,
    #[serde(default)]
    pub after_cursor: Option<String>,
    #[serde(default)]
    pub before_url: Option<String>,
    #[serde(default)]
    pub before_cursor: Option<String>,
    pub end_of_stream: bool,
}

/// `GET /api/v2/incremental/tickets.json` (the older time-based export).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeExport {
    pub tickets: Vec<Ticket>,
    #[serde(default)]
    pub next_page: Option<String>,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub end_time: Option<i64>,
    pub end_of_stream: bool,
}

/// A search hit: its `result_type` says which resource it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub id: Id,
    pub result_type: String,
    #[serde(flatten)]
    pub fields: serde_json::Map<String, Value>,
}

/// `GET /api/v2/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    pub results: Vec<SearchHit>,
    #[serde(default)]
    pub facets: Option<Value>,
    #[serde(flatten)]
    pub links: OffsetLinks,
}

/// `GET /api/v2/search/count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchCount {
    pub count: u64,
}

/// `GET /api/v2/search/export` (cursor-paginated search).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchExport {
    pub results: Vec<SearchHit>,
    #[serde(default)]
    pub facets: Option<Value>,
    pub meta: CursorMeta,
    #[serde(default)]
    pub links: Option<CursorLinks>,
}

/// `GET /api/v2/help_center/articles/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleSearch {
    pub results: Vec<Article>,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub next_page: Option<String>,
    #[serde(default)]
    pub previous_page: Option<String>,
    #[serde(default)]
    pub page: Option<u64>,
    #[serde(default)]
    pub page_count: Option<u64>,
    #[serde(default)]
    pub per_page: Option<u64>,
}

// Resources carteiro reads only to describe the account (`check --online`,
// diagnostics). Kept small: the fields that identify them, the rest ignored.

/// A business rule (trigger or automation) as Zendesk lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusinessRule {
    pub id: Id,
    pub title: String,
    pub active: bool,
    #[serde(default)]
    pub position: Option<i64>,
    #[serde(default)]
    pub conditions: Option<Value>,
    #[serde(default)]
    pub actions: Option<Vec<Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerEnvelope {
    pub trigger: BusinessRule,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggersEnvelope {
    pub triggers: Vec<BusinessRule>,
    #[serde(flatten)]
    pub links: OffsetLinks,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutomationEnvelope {
    pub automation: BusinessRule,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutomationsEnvelope {
    pub automations: Vec<BusinessRule>,
    #[serde(flatten)]
    pub links: OffsetLinks,
}

/// An SLA policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaPolicy {
    pub id: Id,
    pub title: String,
    #[serde(default)]
    pub filter: Option<Value>,
    #[serde(default)]
    pub policy_metrics: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaPoliciesEnvelope {
    pub sla_policies: Vec<SlaPolicy>,
    #[serde(flatten)]
    pub links: OffsetLinks,
}

/// A customer organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub id: Id,
    pub name: String,
    #[serde(default)]
    pub domain_names: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub organization_fields: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganizationEnvelope {
    pub organization: Organization,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganizationsEnvelope {
    pub organizations: Vec<Organization>,
    #[serde(flatten)]
    pub links: OffsetLinks,
}

/// A brand of the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Brand {
    pub id: Id,
    pub name: String,
    #[serde(default)]
    pub subdomain: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub default: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrandsEnvelope {
    pub brands: Vec<Brand>,
    #[serde(flatten)]
    pub links: OffsetLinks,
}

/// A ticket form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketForm {
    pub id: Id,
    pub name: String,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub ticket_field_ids: Vec<Id>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketFormEnvelope {
    pub ticket_form: TicketForm,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketFormsEnvelope {
    pub ticket_forms: Vec<TicketForm>,
    #[serde(flatten)]
    pub links: OffsetLinks,
}

/// Decodes `bytes` as `T`, naming the JSON path of the first problem
/// (e.g. `ticket.status: missing field`).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    // The fast path: tracking the path costs on every field, and is only
    // needed to explain a body that does not decode.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." || path.is_empty() {
            inner.to_string()
        } else {
            format!("at `{path}`: {inner}")
        }
    })?;
    de.end().map_err(|err| err.to_string())?;
    Ok(value)
}

/// Decodes a 2xx body of one endpoint, or says why it does not decode.
pub type BodyCheck = fn(&[u8]) -> Result<(), String>;

/// Every endpoint key whose answers carteiro can decode, with its decoder.
pub const ENDPOINTS: &[(&str, BodyCheck)] = &[
    ("GET /api/v2/tickets/{id}", check::<TicketEnvelope>),
    ("GET /api/v2/tickets", check::<TicketsEnvelope>),
    // Cursor pages of the same lists (`page[size]` sent).
    ("GET /api/v2/tickets?page[size]", check::<TicketsEnvelope>),
    ("GET /api/v2/users?page[size]", check::<UsersEnvelope>),
    ("GET /api/v2/groups?page[size]", check::<GroupsEnvelope>),
    (
        "GET /api/v2/tickets/{id}/comments?page[size]",
        check::<CommentsEnvelope>,
    ),
    (
        "GET /api/v2/tickets/{id}/audits?page[size]",
        check::<AuditsEnvelope>,
    ),
    ("GET /api/v2/tickets/show_many", check::<TicketsEnvelope>),
    ("GET /api/v2/tickets/{id}/comments", check::<CommentsEnvelope>),
    ("GET /api/v2/tickets/{id}/audits", check::<AuditsEnvelope>),
    ("GET /api/v2/tickets/{id}/audits/{id}", check::<AuditEnvelope>),
    ("GET /api/v2/ticket_audits", check::<AuditsEnvelope>),
    ("GET /api/v2/tickets/{id}/tags", check::<TagsEnvelope>),
    ("PUT /api/v2/tickets/{id}/tags", check::<TagsEnvelope>),
    ("POST /api/v2/tickets/{id}/tags", check::<TagsEnvelope>),
    ("DELETE /api/v2/tickets/{id}/tags", check::<TagsEnvelope>),
    ("POST /api/v2/tickets", check::<TicketEnvelope>),
    ("PUT /api/v2/tickets/{id}", check::<TicketEnvelope>),
    ("POST /api/v2/tickets/create_many", check::<JobStatusEnvelope>),
    ("PUT /api/v2/tickets/update_many", check::<JobStatusEnvelope>),
    ("GET /api/v2/job_statuses/{id}", check::<JobStatusEnvelope>),
    ("GET /api/v2/incremental/tickets/cursor", check::<CursorExport>),
    ("GET /api/v2/incremental/tickets", check::<TimeExport>),
    ("GET /api/v2/users/{id}", check::<UserEnvelope>),
    ("GET /api/v2/users", check::<UsersEnvelope>),
    ("GET /api/v2/users/show_many", check::<UsersEnvelope>),
    ("GET /api/v2/users/me", check::<UserEnvelope>),
    ("GET /api/v2/users/search", check::<UsersEnvelope>),
    ("POST /api/v2/users", check::<UserEnvelope>),
    ("PUT /api/v2/users/{id}", check::<UserEnvelope>),
    ("POST /api/v2/users/create_or_update", check::<UserEnvelope>),
    ("GET /api/v2/groups/{id}", check::<GroupEnvelope>),
    ("GET /api/v2/groups", check::<GroupsEnvelope>),
    ("POST /api/v2/groups", check::<GroupEnvelope>),
    ("GET /api/v2/custom_statuses", check::<CustomStatusesEnvelope>),
    ("GET /api/v2/custom_statuses/{id}", check::<CustomStatusEnvelope>),
    ("POST /api/v2/custom_statuses", check::<CustomStatusEnvelope>),
    ("PUT /api/v2/custom_statuses/{id}", check::<CustomStatusEnvelope>),
    ("GET /api/v2/ticket_fields", check::<TicketFieldsEnvelope>),
    ("GET /api/v2/ticket_fields/{id}", check::<TicketFieldOrTicket>),
    ("GET /api/v2/ticket_forms", check::<TicketFormsEnvelope>),
    ("GET /api/v2/ticket_forms/{id}", check::<TicketFormEnvelope>),
    ("POST /api/v2/uploads", check::<UploadEnvelope>),
    ("GET /api/v2/attachments/{id}", check::<AttachmentEnvelope>),
    ("GET /api/v2/search?type:ticket", check::<SearchResults>),
    ("GET /api/v2/search?type:user", check::<SearchResults>),
    ("GET /api/v2/search", check::<SearchResults>),
    ("GET /api/v2/search/count", check::<SearchCount>),
    ("GET /api/v2/search/export", check::<SearchExport>),
    ("GET /api/v2/help_center/articles/search", check::<ArticleSearch>),
    ("GET /api/v2/triggers", check::<TriggersEnvelope>),
    ("GET /api/v2/triggers/{id}", check::<TriggerEnvelope>),
    ("GET /api/v2/automations", check::<AutomationsEnvelope>),
    ("GET /api/v2/automations/{id}", check::<AutomationEnvelope>),
    ("GET /api/v2/slas/policies", check::<SlaPoliciesEnvelope>),
    ("GET /api/v2/organizations/{id}", check::<OrganizationEnvelope>),
    ("GET /api/v2/organizations", check::<OrganizationsEnvelope>),
    ("GET /api/v2/brands", check::<BrandsEnvelope>),
];

/// The recorded fixtures file one ticket (with custom fields) under the
/// ticket-field key; accept both the field and that ticket shape there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TicketFieldOrTicket {
    Field(Box<TicketFieldEnvelope>),
    Ticket(Box<TicketEnvelope>),
}

fn check<T: DeserializeOwned>(bytes: &[u8]) -> Result<(), String> {
    decode::<T>(bytes).map(|_| ())
}

/// Why a recorded body did not decode for its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConformanceError {
    #[error("unknown endpoint key `{0}`: add its response type to helpdesk::wire::ENDPOINTS")]
    UnknownKey(String),
    #[error("{key}: {message}")]
    Decode { key: String, message: String },
}

/// Decodes a recorded answer of `key` with HTTP `status`: a 2xx body with the
/// endpoint's response type, a 4xx body as Zendesk's error body.
pub fn decode_recorded(key: &str, status: u16, bytes: &[u8]) -> Result<(), ConformanceError> {
    let Some((_, decoder)) = ENDPOINTS.iter().find(|(k, _)| *k == key) else {
        return Err(ConformanceError::UnknownKey(key.to_owned()));
    };
    if (200..300).contains(&status) {
        decoder(bytes).map_err(|message| ConformanceError::Decode {
            key: key.to_owned(),
            message,
        })
    } else {
        ApiErrorBody::parse(bytes)
            .map(|_| ())
            .ok_or_else(|| ConformanceError::Decode {
                key: key.to_owned(),
                message: format!("HTTP {status} body is not a Zendesk error body"),
            })
    }
}
