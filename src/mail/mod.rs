//! E-mail: the inbound side (mailboxes, parsing, classification, threading,
//! ingest into tickets) and, later, the outbound side.
//!
//! Data flows one way: a `Mailbox` yields raw mails, `parse` turns each into
//! a `ParsedMail` (never failing, never panicking), threading decides which
//! ticket it belongs to, and ingest writes it to the helpdesk before the
//! mailbox is told it was processed.

pub mod classify;
pub mod clean;
pub mod html;
pub mod imap;
pub mod ingest;
pub mod inspect;
pub mod mailbox;
pub mod maildir;
pub mod message;
pub mod parse;
pub mod poll;
pub mod threading;

pub use message::*;
