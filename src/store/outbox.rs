//! The outbox: mail waiting to be sent, mail sent, and what the guards
//! decided. See `docs/outbound.md` for the life of a row.
//!
//! A row is written once, at enqueue, with the composed bytes and their
//! fixed Message-ID; the delivery worker then moves it through
//! `queued → sending → sent`, back to `queued` (a temporary failure, with a
//! later `next_attempt_at`), to `failed` (the server refused it for good) or
//! to `held` (a recipient bounces). Every change is one fsynced
//! transaction.
//!
//! Enqueueing runs the guards in the same transaction as the insert, so
//! two enqueues cannot both slip under a cap, and it links the Message-ID
//! to the ticket there too, so a reply threads back even when it arrives
//! before the worker marks the row sent. [`enqueue_in`] does it inside a
//! caller's transaction (the rule executor's, with its journal entry);
//! [`Store::enqueue_mail`] in a transaction of its own.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::error::Fault;
use super::{Direction, Store, StoreError, from_i64, link, parse_optional_stamp, parse_stamp, stamp, to_i64};

/// A composed mail to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxMail {
    /// Without `<>`; unique in the outbox.
    pub message_id: String,
    pub ticket_id: u64,
    /// `MAIL FROM`.
    pub envelope_from: String,
    /// `RCPT TO`, in order.
    pub recipients: Vec<String>,
    /// The subject as sent, for listings.
    pub subject: String,
    /// The exact bytes to send.
    pub raw: Vec<u8>,
}

/// At most `limit` accepted mails within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCap {
    pub limit: u32,
    pub window: Duration,
}

/// The guards an enqueue runs. Built from `[mail]` and `[outbox]` by
/// `outbound::Guards`.
#[derive(Debug, Clone)]
pub struct GuardPolicy {
    /// Lowercased; never a recipient.
    pub own_addresses: Vec<String>,
    /// Matched against the lowercased address.
    pub robots: regex::Regex,
    pub recipient_caps: Vec<WindowCap>,
    pub ticket_caps: Vec<WindowCap>,
}

/// Why a mail, or one of its recipients, was not sent. The `name` is the
/// key of its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suppression {
    /// A recipient is one of carteiro's own addresses (it would read its
    /// own mail back).
    OwnAddress,
    /// A recipient matches `outbox.robot_addresses`.
    RobotAddress,
    /// A recipient is marked bouncing: the mail is held.
    Bouncing,
    /// A recipient got its cap of mails within a window.
    RecipientCap,
    /// The ticket got its cap of mails within a window.
    TicketCap,
    /// Every recipient was dropped by the guards above.
    NoRecipient,
}

impl Suppression {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Suppression::OwnAddress => "own_address",
            Suppression::RobotAddress => "robot_address",
            Suppression::Bouncing => "bouncing",
            Suppression::RecipientCap => "recipient_cap",
            Suppression::TicketCap => "ticket_cap",
            Suppression::NoRecipient => "no_recipient",
        }
    }
}

/// What an enqueue did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Queued for delivery; `dropped` lists recipients the guards removed
    /// from the envelope (own or robot addresses).
    Queued {
        id: i64,
        message_id: String,
        dropped: Vec<(String, Suppression)>,
    },
    /// Stored but held: a recipient bounces. `carteiro mail outbox retry`
    /// releases it once the address is cleared.
    Held {
        id: i64,
        message_id: String,
        reason: String,
    },
    /// Not stored: a guard refused it.
    Suppressed { reason: Suppression, detail: String },
    /// A mail with this Message-ID is in the outbox already (a retried
    /// action); nothing changed.
    AlreadyQueued { id: i64 },
}

/// The state of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    Queued,
    /// An attempt is (or was, when carteiro stopped abruptly) under way.
    Sending,
    Sent,
    Failed,
    Held,
}

impl OutboxState {
    pub fn name(self) -> &'static str {
        match self {
            OutboxState::Queued => "queued",
            OutboxState::Sending => "sending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
            OutboxState::Held => "held",
        }
    }

    fn parse(text: &str) -> Result<OutboxState, Fault> {
        Ok(match text {
            "queued" => OutboxState::Queued,
            "sending" => OutboxState::Sending,
            "sent" => OutboxState::Sent,
            "failed" => OutboxState::Failed,
            "held" => OutboxState::Held,
            other => {
                return Err(Fault::Invalid(format!(
                    "stored outbox state {other:?} is unknown"
                )));
            }
        })
    }
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub message_id: String,
    pub ticket_id: u64,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub state: OutboxState,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    /// The server's `250` reply, once sent.
    pub response: Option<String>,
    /// When the permanent failure was noted on the ticket.
    pub noted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Only when asked for (the worker's claim).
    pub raw: Option<Vec<u8>>,
}

/// One suppression counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionCount {
    pub reason: String,
    pub count: u64,
    pub last_recipient: Option<String>,
    pub last_ticket_id: Option<u64>,
    pub last_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, message_id, ticket_id, envelope_from, recipients, subject, state, attempts, \
     next_attempt_at, last_error, response, noted_at, created_at, sent_at";

/// Enqueues `mail` inside `tx`, after the guards of `policy`: the row, its
/// recipients, and the Message-ID link to the ticket, or a counted
/// suppression. Everything commits or rolls back with the caller's
/// transaction.
pub(crate) fn enqueue_in(
    tx: &Transaction<'_>,
    mail: &NewOutboxMail,
    policy: &GuardPolicy,
    now: DateTime<Utc>,
) -> Result<Enqueued, Fault> {
    let now_text = stamp(now);
    let ticket_id = to_i64(mail.ticket_id)?;
    if let Some(id) = tx
        .prepare_cached("SELECT id FROM outbox WHERE message_id = ?1")?
        .query_row([&mail.message_id], |row| row.get::<_, i64>(0))
        .optional()?
    {
        return Ok(Enqueued::AlreadyQueued { id });
    }

    // Recipient guards that drop one address from the envelope.
    let mut recipients = Vec::new();
    let mut dropped = Vec::new();
    for recipient in &mail.recipients {
        let lower = recipient.trim().to_lowercase();
        let reason = if policy.own_addresses.contains(&lower) {
            Some(Suppression::OwnAddress)
        } else if policy.robots.is_match(&lower) {
            Some(Suppression::RobotAddress)
        } else {
            None
        };
        match reason {
            Some(reason) => {
                count_suppression(tx, reason, Some(&lower), ticket_id, &now_text)?;
                dropped.push((lower, reason));
            }
            None if recipients.contains(&lower) => {}
            None => recipients.push(lower),
        }
    }
    if recipients.is_empty() {
        let detail = dropped
            .iter()
            .map(|(address, reason)| format!("{address} ({})", reason.name()))
            .collect::<Vec<_>>()
            .join(", ");
        count_suppression(tx, Suppression::NoRecipient, None, ticket_id, &now_text)?;
        return Ok(Enqueued::Suppressed {
            reason: dropped.first().map_or(Suppression::NoRecipient, |(_, r)| *r),
            detail: format!("no recipient left: {detail}"),
        });
    }

    // Caps: what was accepted (queued, sending, sent or failed) within each
    // window. Held mail was not sent and does not count.
    // Ticket 0 is no ticket (a digest): no ticket cap applies to it, the
    // recipient caps do.
    let ticket_caps: &[WindowCap] = if mail.ticket_id == 0 {
        &[]
    } else {
        &policy.ticket_caps
    };
    for cap in ticket_caps {
        let since = stamp(window_start(now, cap.window));
        let count: i64 = tx
            .prepare_cached(
                "SELECT count(*) FROM outbox WHERE ticket_id = ?1 AND created_at > ?2 AND state != 'held'",
            )?
            .query_row(params![ticket_id, since], |row| row.get(0))?;
        if count >= i64::from(cap.limit) {
            count_suppression(tx, Suppression::TicketCap, None, ticket_id, &now_text)?;
            return Ok(Enqueued::Suppressed {
                reason: Suppression::TicketCap,
                detail: format!(
                    "ticket {} already had {count} mail(s) within {}s (cap {})",
                    mail.ticket_id,
                    cap.window.as_secs(),
                    cap.limit
                ),
            });
        }
    }
    for recipient in &recipients {
        for cap in &policy.recipient_caps {
            let since = stamp(window_start(now, cap.window));
            let count: i64 = tx
                .prepare_cached(
                    "SELECT count(*) FROM outbox_recipient r JOIN outbox o ON o.id = r.outbox_id
                     WHERE r.address = ?1 AND r.created_at > ?2 AND o.state != 'held'",
                )?
                .query_row(params![recipient, since], |row| row.get(0))?;
            if count >= i64::from(cap.limit) {
                count_suppression(
                    tx,
                    Suppression::RecipientCap,
                    Some(recipient),
                    ticket_id,
                    &now_text,
                )?;
                return Ok(Enqueued::Suppressed {
                    reason: Suppression::RecipientCap,
                    detail: format!(
                        "{recipient} already had {count} mail(s) within {}s (cap {})",
                        cap.window.as_secs(),
                        cap.limit
                    ),
                });
            }
        }
    }

    let bouncing = first_bouncing(tx, &recipients)?;
    let (state, last_error) = match &bouncing {
        Some(address) => {
            count_suppression(tx, Suppression::Bouncing, Some(address), ticket_id, &now_text)?;
            ("held", Some(format!("held: {address} is marked bouncing")))
        }
        None => ("queued", None),
    };
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO outbox (message_id, ticket_id, envelope_from, recipients, subject, raw, state,
                 next_attempt_at, last_error, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8, ?8) RETURNING id",
        )?
        .query_row(
            params![
                mail.message_id,
                ticket_id,
                mail.envelope_from,
                recipients.join("\n"),
                mail.subject,
                mail.raw,
                state,
                now_text,
                last_error,
            ],
            |row| row.get(0),
        )?;
    for recipient in &recipients {
        tx.prepare_cached(
            "INSERT INTO outbox_recipient (outbox_id, address, created_at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, recipient, now_text])?;
    }
    if mail.ticket_id != 0 {
        link(tx, &mail.message_id, ticket_id, Direction::Out, &now_text)?;
    }
    Ok(match (bouncing, last_error) {
        (Some(_), Some(reason)) => Enqueued::Held {
            id,
            message_id: mail.message_id.clone(),
            reason,
        },
        _ => Enqueued::Queued {
            id,
            message_id: mail.message_id.clone(),
            dropped,
        },
    })
}

/// Where a window of `window` ending `now` starts; the Unix epoch (before
/// any stored row) for a window longer than chrono can represent.
fn window_start(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(window)
        .ok()
        .and_then(|w| now.checked_sub_signed(w))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// The first of `recipients` marked bouncing.
fn first_bouncing(tx: &Transaction<'_>, recipients: &[String]) -> Result<Option<String>, Fault> {
    let mut statement = tx.prepare_cached("SELECT address FROM bouncing_recipient WHERE address = ?1")?;
    for recipient in recipients {
        if let Some(found) = statement
            .query_row([recipient], |row| row.get::<_, String>(0))
            .optional()?
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Adds one to the counter of `reason`.
fn count_suppression(
    tx: &Transaction<'_>,
    reason: Suppression,
    recipient: Option<&str>,
    ticket_id: i64,
    now: &str,
) -> Result<(), Fault> {
    tx.prepare_cached(
        "INSERT INTO mail_suppression (reason, count, last_recipient, last_ticket_id, last_at)
         VALUES (?1, 1, ?2, ?3, ?4)
         ON CONFLICT (reason) DO UPDATE SET count = count + 1,
             last_recipient = coalesce(excluded.last_recipient, last_recipient),
             last_ticket_id = excluded.last_ticket_id, last_at = excluded.last_at",
    )?
    .execute(params![reason.name(), recipient, ticket_id, now])?;
    Ok(())
}

impl Store {
    /// Enqueues `mail` in a transaction of its own (see [`enqueue_in`]).
    pub fn enqueue_mail(&self, mail: &NewOutboxMail, policy: &GuardPolicy) -> Result<Enqueued, StoreError> {
        let now = self.clock.now();
        self.write(&format!("enqueue mail {:?}", mail.message_id), |tx| {
            enqueue_in(tx, mail, policy, now)
        })
    }

    /// Claims the next due row: `queued` with `next_attempt_at` reached.
    /// It becomes `sending` with one more attempt, durably, before the
    /// caller talks to the server. A row whose recipient was marked
    /// bouncing since it was enqueued becomes `held` instead, and the next
    /// one is tried.
    pub fn claim_due_mail(&self) -> Result<Option<OutboxEntry>, StoreError> {
        let now = stamp(self.clock.now());
        self.write("claim the next due mail", |tx| {
            loop {
                let Some(raw) = tx
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS}, raw FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?1
                         ORDER BY next_attempt_at, id LIMIT 1"
                    ))?
                    .query_row([&now], RawEntry::from_row)
                    .optional()?
                else {
                    return Ok(None);
                };
                let entry = raw.into_entry()?;
                if let Some(address) = first_bouncing(tx, &entry.recipients)? {
                    tx.prepare_cached(
                        "UPDATE outbox SET state = 'held', last_error = ?2, updated_at = ?3 WHERE id = ?1",
                    )?
                    .execute(params![entry.id, format!("held: {address} is marked bouncing"), now])?;
                    count_suppression(tx, Suppression::Bouncing, Some(&address), to_i64(entry.ticket_id)?, &now)?;
                    continue;
                }
                tx.prepare_cached(
                    "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ?2 WHERE id = ?1",
                )?
                .execute(params![entry.id, now])?;
                return Ok(Some(OutboxEntry {
                    state: OutboxState::Sending,
                    attempts: entry.attempts + 1,
                    ..entry
                }));
            }
        })
    }

    /// When the next `queued` row is due, if there is one.
    pub fn next_mail_due_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.read("find when the next mail is due", |conn| {
            let found: Option<String> = conn
                .prepare_cached("SELECT min(next_attempt_at) FROM outbox WHERE state = 'queued'")?
                .query_row([], |row| row.get(0))?;
            parse_optional_stamp(found)
        })
    }

    /// The server answered `250`: the row is sent, with its reply.
    pub fn mark_mail_sent(&self, id: i64, response: &str) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("mark outbox mail {id} sent"), |tx| {
            tx.prepare_cached(
                "UPDATE outbox SET state = 'sent', response = ?2, sent_at = ?3, updated_at = ?3, last_error = NULL
                 WHERE id = ?1",
            )?
            .execute(params![id, response, now])?;
            Ok(())
        })
    }

    /// A temporary failure: back to `queued`, due again at `next_attempt_at`.
    pub fn mark_mail_retry(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("reschedule outbox mail {id}"), |tx| {
            tx.prepare_cached(
                "UPDATE outbox SET state = 'queued', last_error = ?2, next_attempt_at = ?3, updated_at = ?4
                 WHERE id = ?1",
            )?
            .execute(params![id, error, stamp(next_attempt_at), now])?;
            Ok(())
        })
    }

    /// A permanent failure: the row is `failed` and, when the server
    /// refused a recipient, that address is marked bouncing, in one
    /// transaction.
    pub fn mark_mail_failed(&self, id: i64, error: &str, bouncing: Option<&str>) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("mark outbox mail {id} failed"), |tx| {
            let ticket: i64 = tx
                .prepare_cached(
                    "UPDATE outbox SET state = 'failed', last_error = ?2, updated_at = ?3 WHERE id = ?1
                     RETURNING ticket_id",
                )?
                .query_row(params![id, error, now], |row| row.get(0))?;
            if let Some(address) = bouncing {
                mark_bouncing_in(tx, address, error, Some(ticket), &now)?;
            }
            Ok(())
        })
    }

    /// Records that the failure of row `id` was noted on its ticket.
    pub fn mark_mail_noted(&self, id: i64) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("note outbox mail {id} as reported"), |tx| {
            tx.prepare_cached("UPDATE outbox SET noted_at = ?2 WHERE id = ?1")?
                .execute(params![id, now])?;
            Ok(())
        })
    }

    /// Failed rows whose failure is not yet noted on their ticket.
    pub fn failed_mail_to_note(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.list_where(
            "list failed mail to note",
            "state = 'failed' AND noted_at IS NULL",
        )
    }

    /// Rows left `sending` by a carteiro that stopped abruptly between
    /// claiming and marking them: back to `queued`, due now. Answers them,
    /// so the caller can log each (see `docs/outbound.md` on the window).
    pub fn requeue_interrupted_mail(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let now = stamp(self.clock.now());
        self.write("requeue mail interrupted mid-send", |tx| {
            let raws = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS}, NULL FROM outbox WHERE state = 'sending' ORDER BY id"
                ))?
                .query_map([], RawEntry::from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            tx.prepare_cached(
                "UPDATE outbox SET state = 'queued', next_attempt_at = ?1, updated_at = ?1,
                     last_error = 'interrupted mid-send; sent again' WHERE state = 'sending'",
            )?
            .execute([&now])?;
            raws.into_iter().map(RawEntry::into_entry).collect()
        })
    }

    /// Marks `address` bouncing: later mail to it is held.
    pub fn mark_bouncing(
        &self,
        address: &str,
        reason: &str,
        ticket_id: Option<u64>,
    ) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("mark {address:?} bouncing"), |tx| {
            mark_bouncing_in(tx, address, reason, ticket_id.map(to_i64).transpose()?, &now)
        })
    }

    /// Whether `address` is marked bouncing, and why.
    pub fn bouncing(&self, address: &str) -> Result<Option<String>, StoreError> {
        self.read(&format!("read whether {address:?} bounces"), |conn| {
            Ok(conn
                .prepare_cached("SELECT reason FROM bouncing_recipient WHERE address = ?1")?
                .query_row([address.trim()], |row| row.get(0))
                .optional()?)
        })
    }

    /// Forgets that `address` bounces (the customer fixed their mailbox).
    /// Answers whether it was marked.
    pub fn clear_bouncing(&self, address: &str) -> Result<bool, StoreError> {
        self.write(&format!("clear {address:?} bouncing"), |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM bouncing_recipient WHERE address = ?1")?
                .execute([address.trim()])?
                > 0)
        })
    }

    /// The outbox, oldest first: everything not yet sent, or every row
    /// with `all`. Without the raw bytes.
    pub fn outbox_list(&self, all: bool) -> Result<Vec<OutboxEntry>, StoreError> {
        let filter = if all { "1" } else { "state != 'sent'" };
        self.list_where("list the outbox", filter)
    }

    /// One row, with its raw bytes.
    pub fn outbox_get(&self, id: i64) -> Result<Option<OutboxEntry>, StoreError> {
        self.read(&format!("read outbox mail {id}"), |conn| {
            conn.prepare_cached(&format!("SELECT {COLUMNS}, raw FROM outbox WHERE id = ?1"))?
                .query_row([id], RawEntry::from_row)
                .optional()?
                .map(RawEntry::into_entry)
                .transpose()
        })
    }

    /// `carteiro mail outbox retry`: a `queued`, `held` or `failed` row is
    /// due now; answers whether it was. A held or failed row is released
    /// only when none of its recipients is still marked bouncing (clear the
    /// address first). A `sent` row is never sent again.
    pub fn outbox_retry(&self, id: i64) -> Result<Result<(), String>, StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("retry outbox mail {id}"), |tx| {
            let Some(raw) = tx
                .prepare_cached(&format!("SELECT {COLUMNS}, NULL FROM outbox WHERE id = ?1"))?
                .query_row([id], RawEntry::from_row)
                .optional()?
            else {
                return Ok(Err(format!("there is no outbox mail {id}")));
            };
            let entry = raw.into_entry()?;
            match entry.state {
                OutboxState::Sent => return Ok(Err(format!("mail {id} was sent already"))),
                OutboxState::Sending => return Ok(Err(format!("mail {id} is being sent right now"))),
                OutboxState::Queued | OutboxState::Held | OutboxState::Failed => {}
            }
            if let Some(address) = first_bouncing(tx, &entry.recipients)? {
                return Ok(Err(format!(
                    "mail {id}: {address} is still marked bouncing; clear it with `carteiro mail outbox clear-bounce {address}` first"
                )));
            }
            tx.prepare_cached(
                "UPDATE outbox SET state = 'queued', next_attempt_at = ?2, updated_at = ?2, noted_at = NULL
                 WHERE id = ?1",
            )?
            .execute(params![id, now])?;
            Ok(Ok(()))
        })
    }

    /// The Message-IDs linked to `ticket_id`, oldest first, each with its
    /// direction: the thread a new mail on the ticket continues.
    pub fn ticket_thread(&self, ticket_id: u64) -> Result<Vec<(String, Direction)>, StoreError> {
        self.read(&format!("read the thread of ticket {ticket_id}"), |conn| {
            let rows = conn
                .prepare_cached(
                    "SELECT message_id, direction FROM message_ticket WHERE ticket_id = ?1
                     ORDER BY linked_at, rowid",
                )?
                .query_map([to_i64(ticket_id)?], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows
                .into_iter()
                .map(|(id, direction)| {
                    let direction = if direction == "in" {
                        Direction::In
                    } else {
                        Direction::Out
                    };
                    (id, direction)
                })
                .collect())
        })
    }

    /// How many mails each guard suppressed, by reason.
    pub fn suppression_counts(&self) -> Result<Vec<SuppressionCount>, StoreError> {
        self.read("read the suppression counts", |conn| {
            let rows = conn
                .prepare_cached(
                    "SELECT reason, count, last_recipient, last_ticket_id, last_at FROM mail_suppression
                     ORDER BY reason",
                )?
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, Option<String>>(2)?,
                        row.get::<_, Option<i64>>(3)?,
                        row.get::<_, String>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(reason, count, last_recipient, last_ticket, last_at)| {
                    Ok(SuppressionCount {
                        reason,
                        count: from_i64(count, "count")?,
                        last_recipient,
                        last_ticket_id: last_ticket.map(|t| from_i64(t, "ticket id")).transpose()?,
                        last_at: parse_stamp(&last_at)?,
                    })
                })
                .collect()
        })
    }

    fn list_where(&self, operation: &str, filter: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        self.read(operation, |conn| {
            let raws = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS}, NULL FROM outbox WHERE {filter} ORDER BY id"
                ))?
                .query_map([], RawEntry::from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(RawEntry::into_entry).collect()
        })
    }
}

fn mark_bouncing_in(
    tx: &Transaction<'_>,
    address: &str,
    reason: &str,
    ticket_id: Option<i64>,
    now: &str,
) -> Result<(), Fault> {
    tx.prepare_cached(
        "INSERT INTO bouncing_recipient (address, reason, ticket_id, marked_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (address) DO UPDATE SET reason = excluded.reason, ticket_id = excluded.ticket_id,
             marked_at = excluded.marked_at",
    )?
    .execute(params![address.trim().to_lowercase(), reason, ticket_id, now])?;
    Ok(())
}

/// An `outbox` row before decoding.
struct RawEntry {
    id: i64,
    message_id: String,
    ticket_id: i64,
    envelope_from: String,
    recipients: String,
    subject: String,
    state: String,
    attempts: u32,
    next_attempt_at: String,
    last_error: Option<String>,
    response: Option<String>,
    noted_at: Option<String>,
    created_at: String,
    sent_at: Option<String>,
    raw: Option<Vec<u8>>,
}

impl RawEntry {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawEntry> {
        Ok(RawEntry {
            id: row.get(0)?,
            message_id: row.get(1)?,
            ticket_id: row.get(2)?,
            envelope_from: row.get(3)?,
            recipients: row.get(4)?,
            subject: row.get(5)?,
            state: row.get(6)?,
            attempts: row.get(7)?,
            next_attempt_at: row.get(8)?,
            last_error: row.get(9)?,
            response: row.get(10)?,
            noted_at: row.get(11)?,
            created_at: row.get(12)?,
            sent_at: row.get(13)?,
            raw: row.get(14)?,
        })
    }

    fn into_entry(self) -> Result<OutboxEntry, Fault> {
        Ok(OutboxEntry {
            id: self.id,
            message_id: self.message_id,
            ticket_id: from_i64(self.ticket_id, "ticket id")?,
            envelope_from: self.envelope_from,
            recipients: self.recipients.split('\n').map(str::to_owned).collect(),
            subject: self.subject,
            state: OutboxState::parse(&self.state)?,
            attempts: self.attempts,
            next_attempt_at: parse_stamp(&self.next_attempt_at)?,
            last_error: self.last_error,
            response: self.response,
            noted_at: parse_optional_stamp(self.noted_at)?,
            created_at: parse_stamp(&self.created_at)?,
            sent_at: parse_optional_stamp(self.sent_at)?,
            raw: self.raw,
        })
    }
}
