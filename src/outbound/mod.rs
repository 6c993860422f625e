//! Outbound e-mail: composing carteiro's mails and handing them to an SMTP
//! server (or, with `smtp.maildir`, into local Maildirs).
//!
//! In the data flow this is a sink: an action (a rule, `carteiro mail
//! send`) renders a template ([`crate::template`]), [`compose`] turns it
//! into raw bytes with a fixed Message-ID, the outbox stores them, and a
//! delivery worker passes them to a [`MailSender`], whose answer says
//! whether the mail was sent, should be retried, or was refused for good.

pub mod action;
pub mod compose;
pub mod maildir;
pub mod sender;
pub mod worker;

pub use action::{MailSetup, TemplateMail, prepare_template_mail, send_template_mail};
pub use compose::{
    Attachment, ComposeError, ComposeOptions, ComposedMail, MailAddress, MailKind, NO_TICKET, OutgoingMail,
    TICKET_HEADER, compose, new_message_id, tag_subject,
};
pub use maildir::MaildirSender;
pub use sender::{Delivered, MailSender, SendError, SenderSetupError, SmtpSender, Stage};
pub use worker::{Backoff, DeliveryWorker, Pass, guard_policy};

/// The SMTP envelope: who bounces go to, and who receives the mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `MAIL FROM`.
    pub from: String,
    /// One `RCPT TO` each, in order.
    pub to: Vec<String>,
}
