//! The `Mailbox` trait: where inbound mail comes from. Implemented for IMAP
//! (`imap.rs`) and Maildir (`maildir.rs`).
//!
//! A mailbox only yields raw mails and, once the ingest has made the ticket
//! write durable, marks them processed. It decides nothing about them.

use std::future::Future;
use std::time::Duration;

/// A raw mail and its position in the mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The IMAP UID, or for a Maildir a position valid until the next fetch.
    pub uid: u32,
    pub raw: Vec<u8>,
}

/// Why a mailbox operation failed. Every variant names the mailbox.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// The server cannot be reached or the connection broke: reconnect with
    /// backoff.
    #[error("mailbox {mailbox}: {message}")]
    Connection { mailbox: String, message: String },
    /// The server refused the credentials: retrying will not help until the
    /// configuration changes.
    #[error("mailbox {mailbox}: login refused: {message}; check the username and password")]
    Auth { mailbox: String, message: String },
    /// An operation took longer than the configured timeout.
    #[error("mailbox {mailbox}: {operation} timed out after {after:?}")]
    Timeout {
        mailbox: String,
        operation: &'static str,
        after: Duration,
    },
    /// The server answered but refused the command.
    #[error("mailbox {mailbox}: {operation} failed: {message}")]
    Protocol {
        mailbox: String,
        operation: &'static str,
        message: String,
    },
}

/// A source of inbound mail.
pub trait Mailbox: Send {
    /// The configured name, for logs and the state store.
    fn name(&self) -> &str;

    /// Connects when needed and selects the folder. Returns the
    /// UIDVALIDITY for sources with stable UIDs (IMAP), `None` for sources
    /// without (Maildir), which yield every unprocessed mail on each fetch.
    fn open(&mut self) -> impl Future<Output = Result<Option<u32>, MailboxError>> + Send;

    /// Up to `limit` mails with a UID above `after`, in UID order.
    fn fetch_after(
        &mut self,
        after: u32,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Fetched>, MailboxError>> + Send;

    /// Waits until new mail may have arrived: IMAP IDLE when the server
    /// supports it, otherwise the poll interval. Returns early on news.
    fn wait_for_news(&mut self) -> impl Future<Output = Result<(), MailboxError>> + Send;

    /// Applies the configured after-processing action (flag `\Seen`, move
    /// to a folder, or leave) to mails whose ticket write is durable.
    fn mark_processed(&mut self, uids: &[u32]) -> impl Future<Output = Result<(), MailboxError>> + Send;

    /// Drops the connection (on shutdown, or to force a reconnect).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}
