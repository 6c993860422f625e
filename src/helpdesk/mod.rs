//! The helpdesk edge: the `HelpDesk` trait, Zendesk's resource types, the
//! real Zendesk client, and the Zendesk-compatible simulator that tests and
//! `demo` run against.
//!
//! Everything else in carteiro talks to Zendesk through `HelpDesk`. The
//! simulator is reached over HTTP through the same client, so the code under
//! test is the production client.

pub mod clocks;
pub mod error;
pub mod model;
pub mod sim;
pub mod wire;
pub mod zendesk;

use std::future::Future;

use chrono::{DateTime, Utc};

pub use error::HelpDeskError;
pub use model::*;

/// Shorthand for the result of a helpdesk call.
pub type Result<T, E = HelpDeskError> = std::result::Result<T, E>;

/// Where an incremental export starts: from a point in time (first run), or
/// from the cursor the previous page handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportStart {
    Time(DateTime<Utc>),
    Cursor(String),
}

/// One page of the incremental ticket export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportPage {
    pub tickets: Vec<Ticket>,
    /// Where the next page starts. Persist it to resume after a restart.
    pub after_cursor: Option<String>,
    /// No more changes right now; poll again later from `after_cursor`.
    pub end_of_stream: bool,
}

/// A page of a cursor-paginated list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub after_cursor: Option<String>,
    pub has_more: bool,
}

/// A file to upload and attach to a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The operations carteiro needs from a helpdesk.
///
/// Implemented by [`zendesk::ZendeskClient`]. Every ticket write goes
/// through `update_ticket`, which requires the `updated_at` the caller read
/// so that an agent's concurrent change is never overwritten.
pub trait HelpDesk: Send + Sync {
    /// `GET /api/v2/tickets/{id}`.
    fn show_ticket(&self, id: Id) -> impl Future<Output = Result<Ticket>> + Send;

    /// `GET /api/v2/tickets/show_many`, in batches of 100. Missing ids are
    /// left out of the answer.
    fn show_tickets(&self, ids: &[Id]) -> impl Future<Output = Result<Vec<Ticket>>> + Send;

    /// Finds tickets by `external_id` (carteiro's idempotency key).
    fn find_tickets_by_external_id(
        &self,
        external_id: &str,
    ) -> impl Future<Output = Result<Vec<Ticket>>> + Send;

    /// `POST /api/v2/tickets`. When `ticket.external_id` is set, a create
    /// whose outcome is unknown (timeout, 5xx) is looked up before it is
    /// retried, so a retry never makes a second ticket.
    fn create_ticket(&self, ticket: &NewTicket) -> impl Future<Output = Result<Ticket>> + Send;

    /// `PUT /api/v2/tickets/{id}` with `safe_update` against `updated_stamp`
    /// (the ticket's `updated_at` when the caller read it). A stale stamp
    /// gives [`HelpDeskError::Conflict`].
    fn update_ticket(
        &self,
        id: Id,
        update: &TicketUpdate,
        updated_stamp: DateTime<Utc>,
    ) -> impl Future<Output = Result<Ticket>> + Send;

    /// `PUT /api/v2/tickets/{id}` without `safe_update`, for a change that
    /// commutes with whatever an agent does meanwhile (adding a comment).
    /// It saves reading the ticket first. Once the request may have reached
    /// Zendesk it is not replayed: the caller finds out whether it landed.
    fn append_to_ticket(&self, id: Id, update: &TicketUpdate) -> impl Future<Output = Result<Ticket>> + Send;

    /// `POST /api/v2/tickets/create_many`, 100 per job, each job polled until
    /// it finishes. Returns the per-ticket results in input order.
    fn create_tickets(&self, tickets: &[NewTicket]) -> impl Future<Output = Result<Vec<JobResult>>> + Send;

    /// `PUT /api/v2/tickets/update_many`, 100 per job (each update carries its
    /// `id`), polled until done.
    fn update_tickets(&self, updates: &[TicketUpdate])
    -> impl Future<Output = Result<Vec<JobResult>>> + Send;

    /// One page of `GET /api/v2/tickets/{id}/comments` (cursor pagination).
    fn list_comments_page(
        &self,
        ticket_id: Id,
        after_cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<Comment>>> + Send;

    /// Every page of `GET /api/v2/tickets/{id}/audits`.
    fn list_audits(&self, ticket_id: Id) -> impl Future<Output = Result<Vec<Audit>>> + Send;

    /// `PUT /api/v2/tickets/{id}/tags`: adds tags, returns the new list.
    fn add_tags(&self, ticket_id: Id, tags: &[String]) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// `DELETE /api/v2/tickets/{id}/tags`: removes tags, returns the new list.
    fn remove_tags(&self, ticket_id: Id, tags: &[String])
    -> impl Future<Output = Result<Vec<String>>> + Send;

    /// One page of `GET /api/v2/incremental/tickets/cursor.json`. The caller
    /// persists `after_cursor`.
    fn export_tickets(&self, start: &ExportStart) -> impl Future<Output = Result<ExportPage>> + Send;

    /// `POST /api/v2/users/create_or_update`, matched by e-mail.
    fn upsert_user(&self, user: &UserUpsert) -> impl Future<Output = Result<User>> + Send;

    /// `GET /api/v2/users/show_many`, in batches of 100.
    fn show_users(&self, ids: &[Id]) -> impl Future<Output = Result<Vec<User>>> + Send;

    /// `GET /api/v2/users/me`: who the credentials act as.
    fn me(&self) -> impl Future<Output = Result<User>> + Send;

    /// `GET /api/v2/users?role[]=agent&role[]=admin`, every page: the people
    /// rules may assign tickets to.
    fn list_agents(&self) -> impl Future<Output = Result<Vec<User>>> + Send;

    /// `GET /api/v2/groups`, every page.
    fn list_groups(&self) -> impl Future<Output = Result<Vec<Group>>> + Send;

    /// `GET /api/v2/custom_statuses`.
    fn list_custom_statuses(&self) -> impl Future<Output = Result<Vec<CustomStatus>>> + Send;

    /// `GET /api/v2/ticket_fields`, every page.
    fn list_ticket_fields(&self) -> impl Future<Output = Result<Vec<TicketField>>> + Send;

    /// `POST /api/v2/uploads`: returns the token to put on a comment.
    fn upload(&self, file: &NewUpload) -> impl Future<Output = Result<Upload>> + Send;

    /// `GET /api/v2/help_center/articles/search`: articles matching `query`.
    fn search_articles(
        &self,
        query: &str,
        locale: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Article>>> + Send;
}

/// The tickets changed since `start`, each once (at its latest version),
/// and the cursor to resume from. Follows `after_cursor` until
/// `end_of_stream`; the caller persists the returned cursor.
pub async fn export_changes<H: HelpDesk>(
    helpdesk: &H,
    start: ExportStart,
) -> Result<(Vec<Ticket>, ExportStart)> {
    let mut by_id: std::collections::HashMap<Id, Ticket> = std::collections::HashMap::new();
    let mut position = start;
    loop {
        let page = helpdesk.export_tickets(&position).await?;
        for ticket in page.tickets {
            // A ticket changed twice during the export shows up twice; keep
            // the later version.
            let newer = by_id.get(&ticket.id).is_none_or(|seen| {
                (seen.generated_timestamp, seen.updated_at) <= (ticket.generated_timestamp, ticket.updated_at)
            });
            if newer {
                by_id.insert(ticket.id, ticket);
            }
        }
        if let Some(cursor) = page.after_cursor {
            position = ExportStart::Cursor(cursor);
        }
        if page.end_of_stream {
            break;
        }
    }
    let mut tickets: Vec<Ticket> = by_id.into_values().collect();
    tickets.sort_by_key(|t| (t.generated_timestamp, t.id));
    Ok((tickets, position))
}
