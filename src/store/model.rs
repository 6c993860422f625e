//! The records the state store keeps, as the rest of carteiro sees them.

use chrono::{DateTime, Utc};

/// Where a mailbox's sync stands: the IMAP `UIDVALIDITY` seen last and the
/// highest UID whose mail was fully handled (ticket write durable, outcome
/// recorded). A Maildir, which has no UIDs, keeps none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxState {
    /// The folder's `UIDVALIDITY`; when the server reports another, the UIDs
    /// below mean nothing and the mailbox resyncs by Message-ID.
    pub uidvalidity: u32,
    /// The highest UID fully handled; fetching resumes above it.
    pub last_uid: u32,
}

/// What became of one mail: the dedupe record, keyed by Message-ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedMail {
    /// The Message-ID without angle brackets (or the stable id derived from
    /// the raw bytes when the mail had none).
    pub message_id: String,
    /// Lowercase hex SHA-256 of the raw bytes.
    pub raw_sha256: String,
    /// The configured name of the mailbox it was read from.
    pub mailbox: String,
    /// Where in that mailbox (0 and the Maildir position for a Maildir).
    pub uidvalidity: u32,
    pub uid: u32,
    /// What was done with it.
    pub outcome: Outcome,
    /// The ticket it created or changed, when there is one. Recording the
    /// mail links its Message-ID to this ticket.
    pub ticket_id: Option<u64>,
    /// When the outcome was recorded.
    pub processed_at: DateTime<Utc>,
    /// The `mail.received` event for the rules (JSON), queued in the same
    /// transaction as the record; `None` when the mail changed no ticket.
    pub event: Option<String>,
}

/// What processing a mail ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new ticket.
    TicketCreated,
    /// A comment on an existing ticket.
    CommentAdded,
    /// A follow-up of a closed ticket.
    FollowUpCreated,
    /// A bounce, noted internally on the ticket it refers to.
    BounceNoted,
    /// Deliberately left alone (an auto-reply, a list mail, our own mail).
    Skipped { reason: String },
    /// It could not be processed; the raw mail waits in the quarantine.
    Quarantined { quarantine_id: i64 },
}

impl Outcome {
    /// The name stored in the `outcome` column.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::TicketCreated => "ticket_created",
            Outcome::CommentAdded => "comment_added",
            Outcome::FollowUpCreated => "follow_up_created",
            Outcome::BounceNoted => "bounce_noted",
            Outcome::Skipped { .. } => "skipped",
            Outcome::Quarantined { .. } => "quarantined",
        }
    }
}

/// A non-idempotent helpdesk write about to be made for a mail. Written
/// before the call, cleared with the outcome: a restart that finds one
/// knows the write may have happened, and checks before repeating it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The mail the write is for.
    pub message_id: String,
    /// The write.
    pub action: IntentAction,
    /// When the intent was written.
    pub started_at: DateTime<Utc>,
}

/// The helpdesk write an [`Intent`] announces, with what is needed to find
/// out afterwards whether it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentAction {
    /// Create a ticket carrying this `external_id`; a search by it tells
    /// whether the create went through.
    CreateTicket { external_id: String },
    /// Add a comment to a ticket, attempted at `attempted_at`; a ticket
    /// that carries a comment with `body_sha256` got it. (`attempted_at`
    /// lives in the `updated_stamp` column, named when the write was a
    /// `safe_update` against the ticket's stamp.)
    AddComment {
        ticket_id: u64,
        attempted_at: DateTime<Utc>,
        body_sha256: String,
    },
}

/// Whether a Message-ID arrived in a mail or left in one carteiro sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A mail carteiro read.
    In,
    /// A mail carteiro sent; replies to it name it in `In-Reply-To`.
    Out,
}

impl Direction {
    /// The name stored in the `direction` column.
    pub fn name(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// A mail to put in the quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQuarantine {
    /// Where it was read.
    pub mailbox: String,
    pub uidvalidity: u32,
    pub uid: u32,
    /// Its Message-ID, when it could be read.
    pub message_id: Option<String>,
    /// The mail exactly as received.
    pub raw: Vec<u8>,
    /// Why it could not be processed.
    pub reason: String,
}

/// A mail in the quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineEntry {
    /// Its number, for `carteiro mail quarantine show ID`.
    pub id: i64,
    /// Where it was first read.
    pub mailbox: String,
    pub uidvalidity: u32,
    pub uid: u32,
    pub message_id: Option<String>,
    /// Lowercase hex SHA-256 of the raw bytes; one entry per hash.
    pub raw_sha256: String,
    /// Why it failed, most recent attempt first.
    pub reason: String,
    /// Failed retries so far (the first failure is not a retry).
    pub retry_count: u32,
    /// When it was first quarantined.
    pub created_at: DateTime<Utc>,
    /// When a retry last failed.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// What resolved it (e.g. `ticket_created #12`), once a retry succeeded.
    pub resolved: Option<String>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The mail's bytes: `Some` from [`super::Store::quarantine_get`],
    /// `None` in [`super::Store::quarantine_list`].
    pub raw: Option<Vec<u8>>,
}
