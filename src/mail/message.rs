//! A mail as carteiro understands it: decoded headers, a text body, its
//! attachments, the signals that tell a person from a machine, and the
//! problems met while decoding. Produced by `parse`, never by hand, so that
//! every source (IMAP, Maildir, `mail inspect`) sees the same thing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::helpdesk::Id;

/// A mailbox address with its display name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lowercased, trimmed, without angle brackets.
    pub email: String,
}

/// An attachment or inline part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailAttachment {
    pub name: String,
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
    /// `true` for inline parts (images referenced from the HTML).
    pub inline: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    /// The bytes, or `None` when the part is above the size cap (then only
    /// the metadata is kept, and a problem says so).
    #[serde(skip)]
    pub content: Option<Vec<u8>>,
}

/// What a delivery status notification (bounce) says about the mail it
/// returns.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BounceReport {
    /// The Message-ID of the mail that bounced, when the report includes its
    /// headers.
    pub original_message_id: Option<String>,
    /// `X-Carteiro-Ticket` of the bounced mail, when it was one of ours.
    pub original_ticket: Option<Id>,
    /// The recipient that failed.
    pub recipient: Option<String>,
    /// The DSN status code, e.g. `5.1.1`.
    pub status: Option<String>,
    /// The remote server's explanation.
    pub diagnostic: Option<String>,
}

/// Who or what sent a mail: a person, or one of the machines carteiro must
/// never answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sender {
    /// A person: the mail may create or change a ticket.
    Person,
    /// An automatic reply (`Auto-Submitted`, `X-Autoreply` and kin,
    /// out-of-office). Logged, never answered.
    AutoReply { reason: String },
    /// A delivery failure. Recorded on the ticket it refers to, never
    /// answered.
    Bounce { reason: String, report: BounceReport },
    /// A mailing list or bulk mail (`List-Id`, `Precedence`).
    List { reason: String },
    /// A mail carteiro itself sent (our Message-ID domain, our loop header,
    /// one of our own addresses).
    Own { reason: String },
}

impl Sender {
    /// The kind as `mail inspect` prints it: `auto_reply`, `bounce`...
    /// (`Person` prints as `new` or `reply` depending on threading).
    pub fn label(&self) -> &'static str {
        match self {
            Sender::Person => "person",
            Sender::AutoReply { .. } => "auto_reply",
            Sender::Bounce { .. } => "bounce",
            Sender::List { .. } => "list",
            Sender::Own { .. } => "own",
        }
    }
}

/// A decoded mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedMail {
    /// Without angle brackets. Derived from a hash of the raw bytes when
    /// the mail has none (`message_id_derived` is then set).
    pub message_id: String,
    pub message_id_derived: bool,
    pub from: Option<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    /// Decoded (RFC 2047), whitespace-normalised; empty when absent.
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    /// Message-IDs without angle brackets.
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The text body: the text part, or text derived from the HTML part.
    pub body_text: String,
    /// The HTML body, sanitised, when the mail had one.
    pub body_html: Option<String>,
    pub attachments: Vec<MailAttachment>,
    /// Person or machine, and why.
    pub sender: Sender,
    /// The ticket number a subject tag (`[#123]`) or our `X-Carteiro-Ticket`
    /// header names. A claim, not a proof: threading checks the sender.
    pub ticket_ref: Option<Id>,
    /// Lowercase hex SHA-256 of the raw bytes.
    pub raw_sha256: String,
    /// What was damaged or dropped while decoding.
    pub problems: Vec<String>,
}

impl ParsedMail {
    /// Where replies should go: `Reply-To` when present, else `From`.
    pub fn reply_address(&self) -> Option<&Address> {
        self.reply_to.first().or(self.from.as_ref())
    }
}
