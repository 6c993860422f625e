//! Composition: one outgoing mail, from rendered template text to the raw
//! RFC 5322 bytes that the outbox stores and the sender hands to SMTP.
//!
//! The Message-ID is fixed here, before the mail is enqueued, so a retry
//! sends the very same bytes and a reply threads back whichever attempt
//! got through. Every mail carries what inbound needs to recognise it as
//! carteiro's own and to thread replies to it:
//! - `Message-ID: <…@message_id_domain>`, our domain;
//! - `In-Reply-To` / `References` continuing the ticket's thread;
//! - `Auto-Submitted: auto-replied` when answering a person's mail,
//!   `auto-generated` otherwise (RFC 3834), and
//!   `X-Auto-Response-Suppress: All`, which asks Exchange and kin not to
//!   send out-of-office replies to it;
//! - the loop header (`X-Carteiro-Loop: <message_id_domain>`) and
//!   `X-Carteiro-Ticket: N`;
//! - the subject tag (`[#N]`) when one is configured, once, and for this
//!   ticket only.
//!
//! mail-builder writes the MIME structure: headers RFC 2047-encoded when
//! they are not ASCII, text parts in UTF-8 with a transfer encoding chosen
//! for their content, `multipart/alternative` for text plus HTML and
//! `multipart/mixed` around it when there are attachments. It was chosen
//! over lettre's builder because it writes any header as given (lettre's
//! wants a typed header per name and adds its own Message-ID and Date),
//! and because it is what the outbox needs: plain bytes, built once.

use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address as BuilderAddress;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;

use crate::config::{MailConfig, SmtpConfig, SubjectTag};

use super::Envelope;

/// The header that names the ticket in every mail carteiro sends; inbound
/// reads it too (`ParseOptions::ticket_header`).
pub const TICKET_HEADER: &str = "X-Carteiro-Ticket";

/// A mailbox: an address and, maybe, a display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAddress {
    /// Shown as `"Name" <email>`; any text, RFC 2047-encoded as needed.
    pub name: Option<String>,
    pub email: String,
}

impl MailAddress {
    /// An address without a display name.
    pub fn new(email: impl Into<String>) -> MailAddress {
        MailAddress {
            name: None,
            email: email.into(),
        }
    }

    /// An address with a display name.
    pub fn named(name: impl Into<String>, email: impl Into<String>) -> MailAddress {
        MailAddress {
            name: Some(name.into()),
            email: email.into(),
        }
    }
}

/// What kind of automatic mail this is, for `Auto-Submitted` (RFC 3834).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// An answer to a mail a person sent (an acknowledgement):
    /// `auto-replied`.
    ReplyToPerson,
    /// Anything else carteiro sends on its own (a forwarded service order,
    /// a survey, a digest): `auto-generated`.
    Generated,
}

impl MailKind {
    /// The `Auto-Submitted` value.
    pub fn auto_submitted(self) -> &'static str {
        match self {
            MailKind::ReplyToPerson => "auto-replied",
            MailKind::Generated => "auto-generated",
        }
    }
}

/// A file attached to a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The name the recipient sees (may be non-ASCII).
    pub file_name: String,
    /// The MIME type, e.g. `application/pdf`.
    pub content_type: String,
    pub content: Vec<u8>,
}

impl Attachment {
    /// Reads the file `relative` under `base` (the rules folder), e.g.
    /// `anexos/passo-a-passo.pdf`. The path must stay inside `base`: an
    /// absolute path or one with `..` is refused, so a rule cannot attach
    /// `/etc/shadow`. The type is guessed from the extension.
    pub fn from_rules_file(base: &Path, relative: &Path) -> Result<Attachment, ComposeError> {
        let escapes = relative.is_absolute()
            || relative
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if escapes || relative.as_os_str().is_empty() {
            return Err(ComposeError::Attachment {
                path: relative.to_path_buf(),
                reason: format!(
                    "an attachment is a path inside the rules folder {}, without '..'",
                    base.display()
                ),
            });
        }
        let path = base.join(relative);
        let content = std::fs::read(&path).map_err(|e| ComposeError::Attachment {
            path: path.clone(),
            reason: format!("cannot read it: {e}"),
        })?;
        let file_name = relative
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "anexo".to_owned());
        Ok(Attachment {
            content_type: content_type_for(&file_name).to_owned(),
            file_name,
            content,
        })
    }
}

/// The MIME type for a file name's extension; `application/octet-stream`
/// when unknown.
pub fn content_type_for(file_name: &str) -> &'static str {
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "zip" => "application/zip",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        _ => "application/octet-stream",
    }
}

/// The `ticket_id` of a mail about no ticket (a digest to managers):
/// Zendesk numbers tickets from 1. Such a mail gets no subject tag, no
/// ticket header, no Message-ID link and no ticket cap, and its permanent
/// failure is logged and kept in the outbox instead of noted on a ticket.
pub const NO_TICKET: u64 = 0;

/// One mail to compose: who, what, and where it sits in the ticket's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub ticket_id: u64,
    pub to: Vec<MailAddress>,
    pub cc: Vec<MailAddress>,
    /// Without the tag; [`compose`] adds it. May be customer text
    /// (`Re: …`): line breaks and control characters become spaces.
    pub subject: String,
    /// The text part (from `NAME.txt.j2`).
    pub text: String,
    /// The HTML part (from `NAME.html.j2`), when the template has one.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// The Message-ID this mail answers (without `<>`), when it answers one.
    pub in_reply_to: Option<String>,
    /// The thread so far, oldest first (without `<>`). `in_reply_to` is
    /// appended when it is not already last, as RFC 5322 asks.
    pub references: Vec<String>,
    pub kind: MailKind,
    /// The `Date:` header (from the injected clock).
    pub date: DateTime<Utc>,
    /// A Message-ID to use (without `<>`), e.g. when composing again a mail
    /// whose id is already recorded; `None` makes a new one.
    pub message_id: Option<String>,
}

/// The installation's settings for composing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeOptions {
    /// `From:`, and the envelope sender (where bounces go).
    pub from: MailAddress,
    /// The domain of the Message-IDs carteiro makes (`mail.message_id_domain`).
    pub message_id_domain: String,
    /// `mail.loop_header`.
    pub loop_header: String,
    /// The ticket tag for subjects; `None` leaves subjects untagged.
    pub subject_tag: Option<SubjectTag>,
}

impl ComposeOptions {
    /// The options from `[mail]`, sending as `from` (`smtp.from_address`
    /// and `smtp.from_name`).
    pub fn new(mail: &MailConfig, from: MailAddress) -> ComposeOptions {
        ComposeOptions {
            from,
            message_id_domain: mail.message_id_domain.clone(),
            loop_header: mail.loop_header.clone(),
            subject_tag: Some(mail.subject_tag.clone()),
        }
    }
}

impl ComposeOptions {
    /// The options for sending through `smtp`: `From:` is its
    /// `from_address` and `from_name`.
    pub fn for_smtp(mail: &MailConfig, smtp: &SmtpConfig) -> ComposeOptions {
        let from = MailAddress {
            name: smtp.from_name.clone(),
            email: smtp.from_address.clone(),
        };
        ComposeOptions::new(mail, from)
    }
}

/// A composed mail, ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposedMail {
    /// Without `<>`; record it in the Message-ID map with the ticket, so
    /// replies thread back.
    pub message_id: String,
    /// The mail as sent, CRLF line ends.
    pub raw: Vec<u8>,
    /// The SMTP envelope: our address, and every To and Cc recipient.
    pub envelope: Envelope,
    /// The subject as written, tag included.
    pub subject: String,
}

/// Why a mail could not be composed. All are the caller's data, so none is
/// worth retrying unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error("the mail has no recipient")]
    NoRecipient,
    #[error("{field}: {address:?} is not an e-mail address")]
    BadAddress { field: &'static str, address: String },
    #[error("{field}: {id:?} is not a Message-ID (expected left@right, without spaces or <>)")]
    BadMessageId { field: &'static str, id: String },
    #[error("attachment {}: {reason}", path.display())]
    Attachment { path: PathBuf, reason: String },
    #[error("cannot write the mail: {0}")]
    Write(String),
}

/// Composes `mail`: headers, parts, attachments, and a Message-ID in our
/// domain (unless the mail brings its own).
pub fn compose(mail: &OutgoingMail, options: &ComposeOptions) -> Result<ComposedMail, ComposeError> {
    let from = checked_address("from", &options.from.email)?;
    if mail.to.is_empty() && mail.cc.is_empty() {
        return Err(ComposeError::NoRecipient);
    }
    let mut recipients = Vec::new();
    for (field, list) in [("to", &mail.to), ("cc", &mail.cc)] {
        for address in list {
            let email = checked_address(field, &address.email)?;
            if !recipients.iter().any(|r: &String| r.eq_ignore_ascii_case(&email)) {
                recipients.push(email);
            }
        }
    }
    let message_id = match &mail.message_id {
        Some(id) => checked_id("message_id", id)?,
        None => new_message_id(mail.ticket_id, &options.message_id_domain),
    };
    let in_reply_to = mail
        .in_reply_to
        .as_deref()
        .map(|id| checked_id("in_reply_to", id))
        .transpose()?;
    let mut references = mail
        .references
        .iter()
        .map(|id| checked_id("references", id))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(parent) = &in_reply_to
        && references.last() != Some(parent)
    {
        references.retain(|id| id != parent);
        references.push(parent.clone());
    }
    let subject = header_text(&mail.subject);
    // A mail about no ticket (a digest) carries no ticket tag and no
    // ticket header: a reply to it must not thread into ticket 0.
    let subject = match &options.subject_tag {
        Some(tag) if mail.ticket_id != NO_TICKET => tag_subject(&subject, tag, mail.ticket_id),
        _ => subject,
    };

    let mut builder = MessageBuilder::new()
        .from(builder_address(&options.from, &from))
        .subject(Text::new(subject.clone()))
        .date(Date::new(mail.date.timestamp()))
        .message_id(MessageId::new(message_id.clone()));
    if !mail.to.is_empty() {
        builder = builder.to(address_list(&mail.to));
    }
    if !mail.cc.is_empty() {
        builder = builder.cc(address_list(&mail.cc));
    }
    if let Some(parent) = &in_reply_to {
        builder = builder.in_reply_to(MessageId::new(parent.clone()));
    }
    if !references.is_empty() {
        builder = builder.references(MessageId::from(references));
    }
    builder = builder
        .header("Auto-Submitted", Raw::new(mail.kind.auto_submitted()))
        .header("X-Auto-Response-Suppress", Raw::new("All"))
        .header(
            options.loop_header.clone(),
            Raw::new(options.message_id_domain.clone()),
        )
        .text_body(mail.text.clone());
    if mail.ticket_id != NO_TICKET {
        builder = builder.header(TICKET_HEADER, Raw::new(mail.ticket_id.to_string()));
    }
    if let Some(html) = &mail.html {
        builder = builder.html_body(html.clone());
    }
    for attachment in &mail.attachments {
        builder = builder.attachment(
            attachment.content_type.clone(),
            attachment.file_name.clone(),
            attachment.content.clone(),
        );
    }
    let raw = builder
        .write_to_vec()
        .map_err(|e| ComposeError::Write(e.to_string()))?;
    Ok(ComposedMail {
        message_id,
        raw,
        envelope: Envelope { from, to: recipients },
        subject,
    })
}

/// A new Message-ID in `domain`, naming the ticket for a person reading
/// raw headers: `carteiro.123.9f86d081884c7d65…@empresa.com.br`.
pub fn new_message_id(ticket_id: u64, domain: &str) -> String {
    let random: u128 = rand::random();
    format!("carteiro.{ticket_id}.{random:032x}@{domain}")
}

/// `subject` with exactly one tag, for `ticket_id`, at its end. Tags of
/// other tickets are removed, since inbound follows the first tag it finds
/// (a follow-up of a closed ticket must not point back at the old one).
pub fn tag_subject(subject: &str, tag: &SubjectTag, ticket_id: u64) -> String {
    let own = tag.render(ticket_id);
    let mut rest = subject.to_owned();
    let mut has_own = false;
    let mut search_from = 0;
    while let Some(found) = rest[search_from..].find(tag.prefix()) {
        let start = search_from + found;
        let after_prefix = start + tag.prefix().len();
        let digits = rest[after_prefix..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - after_prefix);
        let end = after_prefix + digits;
        if digits == 0 || !rest[end..].starts_with(tag.suffix()) {
            search_from = after_prefix;
            continue;
        }
        let end = end + tag.suffix().len();
        if rest[after_prefix..after_prefix + digits].parse::<u64>().ok() == Some(ticket_id) && !has_own {
            has_own = true;
            search_from = end;
        } else {
            rest.replace_range(start..end, "");
            search_from = start;
        }
    }
    let rest = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    match (has_own, rest.is_empty()) {
        (true, _) => rest,
        (false, true) => own,
        (false, false) => format!("{rest} {own}"),
    }
}

/// Header text on one line: line breaks, tabs and other control characters
/// become single spaces (no header injection through a customer's
/// subject), surrounding space trimmed.
fn header_text(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn checked_address(field: &'static str, email: &str) -> Result<String, ComposeError> {
    let email = email.trim();
    match lettre::Address::from_str(email) {
        Ok(address) => Ok(address.to_string()),
        Err(_) => Err(ComposeError::BadAddress {
            field,
            address: email.to_owned(),
        }),
    }
}

fn checked_id(field: &'static str, id: &str) -> Result<String, ComposeError> {
    let bare = id.trim().trim_start_matches('<').trim_end_matches('>');
    let valid = bare
        .split_once('@')
        .is_some_and(|(left, right)| !left.is_empty() && !right.is_empty())
        && bare
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\' | '(' | ')' | ',' | ';'));
    if valid {
        Ok(bare.to_owned())
    } else {
        Err(ComposeError::BadMessageId {
            field,
            id: id.to_owned(),
        })
    }
}

fn builder_address<'x>(address: &MailAddress, email: &str) -> BuilderAddress<'x> {
    let name = address
        .name
        .as_deref()
        .map(header_text)
        .filter(|name| !name.is_empty());
    BuilderAddress::new_address(name, email.to_owned())
}

fn address_list<'x>(list: &[MailAddress]) -> BuilderAddress<'x> {
    BuilderAddress::new_list(list.iter().map(|a| builder_address(a, a.email.trim())).collect())
}

#[cfg(test)]
mod tests;
