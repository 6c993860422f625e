//! Turns stored records into what Zendesk would answer: every `url` (and an
//! attachment's `content_url`) built from the base URL the request came to,
//! e.g. `http://127.0.0.1:PORT/api/v2/tickets/12.json`.

use super::defaults;
use super::state::JobView;
use crate::helpdesk::model::{
    Article, Attachment, Audit, Comment, CustomStatus, Group, JobResults, JobStatus, Ticket, TicketField,
    User,
};

/// A ticket with every key Zendesk sends; `generated_timestamp` is only
/// shown in exports.
pub fn ticket(base: &str, ticket: &Ticket, export: bool) -> Ticket {
    let mut out = ticket.clone();
    defaults::ticket(&mut out);
    out.url = Some(format!("{base}/api/v2/tickets/{}.json", ticket.id));
    if !export {
        out.generated_timestamp = None;
    }
    out
}

/// A comment with its attachments' URLs.
pub fn comment(base: &str, comment: &Comment) -> Comment {
    let mut out = comment.clone();
    out.attachments = comment.attachments.iter().map(|a| attachment(base, a)).collect();
    out
}

/// An audit with its events' attachment URLs.
pub fn audit(base: &str, audit: &Audit) -> Audit {
    let mut out = audit.clone();
    for event in &mut out.events {
        if let Some(attachments) = &mut event.attachments {
            *attachments = attachments.iter().map(|a| attachment(base, a)).collect();
        }
    }
    out
}

/// An attachment: its API URL and where the simulator serves the bytes.
pub fn attachment(base: &str, attachment: &Attachment) -> Attachment {
    let mut out = attachment.clone();
    out.url = Some(format!("{base}/api/v2/attachments/{}.json", attachment.id));
    out.content_url = Some(format!("{base}/__sim/attachments/{}", attachment.id));
    out
}

/// A user with every key Zendesk sends.
pub fn user(base: &str, user: &User) -> User {
    let mut out = user.clone();
    defaults::user(&mut out);
    out.url = Some(format!("{base}/api/v2/users/{}.json", user.id));
    out
}

/// A group with every key Zendesk sends.
pub fn group(base: &str, group: &Group) -> Group {
    let mut out = group.clone();
    defaults::group(&mut out);
    out.url = Some(format!("{base}/api/v2/groups/{}.json", group.id));
    out
}

/// A custom status.
pub fn custom_status(base: &str, status: &CustomStatus) -> CustomStatus {
    let mut out = status.clone();
    out.url = Some(format!("{base}/api/v2/custom_statuses/{}.json", status.id));
    out
}

/// A ticket field.
pub fn ticket_field(base: &str, field: &TicketField) -> TicketField {
    let mut out = field.clone();
    out.url = Some(format!("{base}/api/v2/ticket_fields/{}.json", field.id));
    out
}

/// A Help Center article; the seed's `html_url` is kept when it has one.
pub fn article(base: &str, article: &Article, snippet: Option<String>) -> Article {
    let mut out = article.clone();
    let locale = article.locale.as_deref().unwrap_or("en-us");
    out.url = Some(format!(
        "{base}/api/v2/help_center/{locale}/articles/{}.json",
        article.id
    ));
    if out.html_url.is_none() {
        out.html_url = Some(format!("{base}/hc/{locale}/articles/{}", article.id));
    }
    // A search result also says what it is and why it matched (Zendesk's
    // OpenAPI for Search Articles: `result_type`, always "article", and
    // `snippet`).
    out.result_type = snippet.is_some().then(|| "article".to_owned());
    out.snippet = snippet;
    out
}

/// A job status.
pub fn job(base: &str, job: JobView) -> JobStatus {
    JobStatus {
        url: Some(format!("{base}/api/v2/job_statuses/{}.json", job.id)),
        id: job.id,
        total: Some(job.total),
        progress: job.progress,
        status: job.state,
        message: job.message,
        results: job.results.map(JobResults::Items),
    }
}
