//! Ingest: one raw mail in, exactly one ticket or comment out (or a
//! recorded reason why not), never zero and never two.
//!
//! For each mail: parse it; skip it when the store has processed its
//! Message-ID (the same mail in two mailboxes, or seen again after a crash);
//! classify the sender; thread it; write the effect to the helpdesk with
//! the fewest calls; and record the outcome in the store. The caller marks
//! the mail in its mailbox only after that record is durable.
//!
//! Writes that could double up after a crash are guarded: an *intent* is
//! stored before the write, and when a restart finds one pending, the
//! helpdesk is checked for the effect before the write is made again
//! (a ticket by its `external_id`; a comment by its body among the
//! ticket's comments).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use super::clean::strip_quoted;
use super::inspect::verdict;
use super::parse::{ParseOptions, parse};
use super::threading::{Thread, ThreadingError, thread};
use super::{Address, MailAttachment, ParsedMail, Sender};
use crate::clock::Clock;
use crate::helpdesk::{
    CustomFieldValue, EmailCc, HelpDesk, HelpDeskError, Id, NewComment, NewTicket, NewUpload, RequesterSpec,
    Status, Ticket, TicketUpdate, UserUpsert,
};
use crate::store::{Intent, IntentAction, NewQuarantine, Outcome, ProcessedMail, Store, StoreError};

/// What ingest needs to know beyond the parser's options.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub parse: ParseOptions,
    /// Tags every ticket created from mail gets.
    pub tags: Vec<String>,
    /// Failed attempts on one mail before it goes to quarantine.
    pub max_attempts: u32,
    /// How many times a write is re-planned after a 409 or a racing close.
    pub max_replans: u32,
    /// `[mail] internal_senders`: their threaded replies become internal
    /// notes that never reopen the ticket.
    pub internal_senders: Vec<String>,
}

impl Default for IngestOptions {
    fn default() -> IngestOptions {
        IngestOptions {
            parse: ParseOptions::default(),
            tags: vec!["origem_email".to_owned()],
            max_attempts: 5,
            max_replans: 3,
            internal_senders: Vec::new(),
        }
    }
}

/// Where a mail came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin<'a> {
    pub mailbox: &'a str,
    pub uidvalidity: u32,
    pub uid: u32,
}

/// What became of a mail. Every variant is durable in the store when
/// returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The store had already processed this Message-ID.
    Duplicate {
        ticket_id: Option<Id>,
    },
    Created {
        ticket_id: Id,
    },
    Commented {
        ticket_id: Id,
        reopened: bool,
    },
    FollowUp {
        ticket_id: Id,
        source_id: Id,
    },
    BounceNoted {
        ticket_id: Id,
    },
    /// A machine's mail, logged and left alone.
    Skipped {
        reason: String,
    },
    Quarantined {
        id: i64,
        reason: String,
    },
}

/// A failure that leaves the mail unprocessed, to be tried again later.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    HelpDesk(#[from] HelpDeskError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ThreadingError> for IngestError {
    fn from(err: ThreadingError) -> IngestError {
        match err {
            ThreadingError::HelpDesk(e) => IngestError::HelpDesk(e),
            ThreadingError::Store(e) => IngestError::Store(e),
        }
    }
}

/// Turns mails into tickets and comments.
#[derive(Debug)]
pub struct Ingest<H> {
    helpdesk: H,
    store: Arc<Store>,
    options: IngestOptions,
    clock: Arc<dyn Clock>,
    /// Helpdesk user ids learnt since the last write, by lower-case
    /// e-mail, written with the next batch of records.
    unsaved_users: Mutex<HashMap<String, Id>>,
    /// Mails whose intent this process wrote ahead (see
    /// [`Ingest::begin_intents`]) and for which no write was tried yet.
    fresh_intents: Mutex<HashSet<String>>,
    /// Failed attempts per Message-ID in this run.
    attempts: Mutex<HashMap<String, u32>>,
    /// Message-IDs being processed right now, or decided and waiting for a
    /// [`RecordBatch`] to be written: the same mail arriving through two
    /// mailboxes at once (or twice in one batch) is processed by one, then
    /// seen as a duplicate by the other.
    in_flight: Mutex<HashMap<String, Flight>>,
    /// Wakes those waiting for a Message-ID to leave `in_flight`.
    released: tokio::sync::Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `carteiro:mail:` and a hash of the Message-ID: the idempotency key of
/// the ticket a mail creates.
pub fn external_id_for(message_id: &str) -> String {
    let digest = Sha256::digest(message_id.as_bytes());
    let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    format!("carteiro:mail:{hex}")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl<H: HelpDesk> Ingest<H> {
    /// An ingest writing to `helpdesk`, remembering in `store`.
    pub fn new(helpdesk: H, store: Arc<Store>, options: IngestOptions, clock: Arc<dyn Clock>) -> Ingest<H> {
        Ingest {
            helpdesk,
            store,
            options,
            clock,
            unsaved_users: Mutex::default(),
            fresh_intents: Mutex::default(),
            attempts: Mutex::default(),
            in_flight: Mutex::default(),
            released: tokio::sync::Notify::new(),
        }
    }

    /// The helpdesk this ingest writes to.
    pub fn helpdesk(&self) -> &H {
        &self.helpdesk
    }

    /// The store this ingest records in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Processes one raw mail. `Ok` means its outcome is durable and the
    /// mailbox may mark it; `Err` means try again later (after enough
    /// failures the mail is quarantined instead).
    pub async fn process(&self, origin: &Origin<'_>, raw: &[u8]) -> Result<Decision, IngestError> {
        let mail = self.parse(raw);
        self.process_inner(origin, raw, mail, None, None).await
    }

    /// Parses a raw mail with this ingest's options.
    pub fn parse(&self, raw: &[u8]) -> ParsedMail {
        parse(raw, &self.options.parse)
    }

    /// Like [`Ingest::process`] for a mail already parsed, except that the
    /// outcome is kept in `batch` instead of written: [`Ingest::write_batch`]
    /// then records a whole batch in one transaction. Until it has, the
    /// mail must not be marked in its mailbox. (A crash before that is
    /// covered by the intent written before each helpdesk write.)
    pub async fn process_into(
        &self,
        batch: &RecordBatch,
        origin: &Origin<'_>,
        raw: &[u8],
        mail: ParsedMail,
    ) -> Result<Decision, IngestError> {
        self.process_inner(origin, raw, mail, None, Some(batch)).await
    }

    /// Writes, in one transaction, an intent for each of `mails` that is
    /// not processed yet and has none pending, before any of them is
    /// processed: a helpdesk write then needs no commit of its own first.
    /// The intent says "a write may follow"; after a restart a pending one
    /// makes processing look for the write's effect (the ticket by its
    /// `external_id`, the comment among the ticket's) before writing.
    pub fn begin_intents(&self, mails: &[&ParsedMail]) -> Result<(), IngestError> {
        let mut intents = Vec::with_capacity(mails.len());
        for mail in mails {
            if self.store.processed(&mail.message_id)?.is_none() {
                intents.push(Intent {
                    message_id: mail.message_id.clone(),
                    action: IntentAction::CreateTicket {
                        external_id: external_id_for(&mail.message_id),
                    },
                    started_at: Utc::now(),
                });
            }
        }
        if intents.is_empty() {
            return Ok(());
        }
        let written = self.store.begin_intents_where_absent(&intents)?;
        let mut fresh = lock(&self.fresh_intents);
        for (intent, written) in intents.into_iter().zip(written) {
            if written {
                fresh.insert(intent.message_id);
            }
        }
        Ok(())
    }

    /// What came before the write about to be tried for `message_id`.
    /// From now on, it has been tried.
    fn prior_attempt(&self, message_id: &str) -> Result<Prior, Failure> {
        if lock(&self.fresh_intents).remove(message_id) {
            return Ok(Prior::Fresh);
        }
        match self.store.pending_intent(message_id).map_err(Failure::store)? {
            Some(_) => Ok(Prior::MayHaveLanded),
            None => Ok(Prior::Nothing),
        }
    }

    /// Writes the outcomes kept in `batch` in one transaction, and lets
    /// other mails with the same Message-IDs go on (as duplicates). `Ok`
    /// means every outcome in it is durable.
    pub fn write_batch(&self, batch: &RecordBatch) -> Result<(), IngestError> {
        let records = std::mem::take(&mut *lock(&batch.records));
        if records.is_empty() {
            return Ok(());
        }
        let users: Vec<(String, Id)> = lock(&self.unsaved_users).drain().collect();
        let written = self.store.record_processed_many(&records, &users);
        {
            let mut flights = lock(&self.in_flight);
            let mut fresh = lock(&self.fresh_intents);
            for record in &records {
                flights.remove(&record.message_id);
                fresh.remove(&record.message_id);
            }
        }
        self.released.notify_waiters();
        for refused in written?.into_iter().filter_map(Result::err) {
            // Recorded before with another outcome: processed all the same.
            tracing::warn!(error = %refused, "mail already recorded");
        }
        Ok(())
    }

    /// Tries a quarantined mail again (`carteiro mail quarantine retry`).
    /// On success the entry is marked resolved; on failure its retry count
    /// goes up and its reason is updated.
    pub async fn retry_quarantined(&self, id: i64) -> Result<Decision, IngestError> {
        let entry = self
            .store
            .quarantine_get(id)?
            .ok_or_else(|| StoreError::NoSuchQuarantineEntry {
                path: self.store.path().to_owned(),
                operation: "retry a quarantined mail".to_owned(),
                id,
            })?;
        let raw = entry.raw.clone().unwrap_or_default();
        let origin = Origin {
            mailbox: &entry.mailbox,
            uidvalidity: entry.uidvalidity,
            uid: entry.uid,
        };
        let mail = self.parse(&raw);
        let decision = self.process_inner(&origin, &raw, mail, Some(id), None).await;
        match &decision {
            Ok(Decision::Quarantined { reason, .. }) => self.store.quarantine_retry_failed(id, reason)?,
            Ok(other) => self.store.quarantine_resolve(id, &format!("{other:?}"))?,
            Err(err) => self.store.quarantine_retry_failed(id, &err.to_string())?,
        }
        decision
    }

    async fn process_inner(
        &self,
        origin: &Origin<'_>,
        raw: &[u8],
        mail: ParsedMail,
        retrying: Option<i64>,
        batch: Option<&RecordBatch>,
    ) -> Result<Decision, IngestError> {
        let claim = match self.claim(&mail.message_id).await {
            Ok(claim) => claim,
            Err(ticket_id) => return Ok(Decision::Duplicate { ticket_id }),
        };
        if let Some(done) = self.store.processed(&mail.message_id)? {
            let quarantined = matches!(done.outcome, Outcome::Quarantined { .. });
            if !(retrying.is_some() && quarantined) {
                return Ok(Decision::Duplicate {
                    ticket_id: done.ticket_id,
                });
            }
        }
        let span = tracing::info_span!("mail", mailbox = origin.mailbox, uid = origin.uid, message_id = %mail.message_id);
        let (decision, record) = self.decide(origin, &mail, raw).instrument(span.clone()).await?;
        let _enter = span.enter();
        match batch {
            Some(batch) => {
                claim.settle(record.ticket_id);
                lock(&batch.records).push(record);
            }
            None => {
                self.store.record_processed(&record)?;
                let users: Vec<(String, Id)> = lock(&self.unsaved_users).drain().collect();
                for (email, id) in users {
                    if let Err(err) = self.store.set_helpdesk_user(&email, id) {
                        tracing::warn!(%err, email, "could not remember a helpdesk user id");
                    }
                }
            }
        }
        tracing::info!(?decision, "mail processed");
        Ok(decision)
    }

    /// Writes the effect of `mail` and answers the decision with the record
    /// to keep; a mail that failed for good is put in quarantine first.
    async fn decide(
        &self,
        origin: &Origin<'_>,
        mail: &ParsedMail,
        raw: &[u8],
    ) -> Result<(Decision, ProcessedMail), IngestError> {
        match self.apply(mail, raw).await {
            Ok((decision, outcome, ticket_id)) => {
                lock(&self.attempts).remove(&mail.message_id);
                let mut record = self.record_of(origin, mail, outcome, ticket_id);
                record.event = mail_event(mail, &decision, self.is_internal(mail), self.clock.now());
                Ok((decision, record))
            }
            Err(Failure::Permanent(reason)) => self.quarantine(origin, mail, raw, reason),
            Err(Failure::Transient(err)) => {
                let attempts = {
                    let mut attempts = lock(&self.attempts);
                    let count = attempts.entry(mail.message_id.clone()).or_default();
                    *count += 1;
                    *count
                };
                if attempts >= self.options.max_attempts {
                    let reason = format!("failed {attempts} times, last: {err}");
                    lock(&self.attempts).remove(&mail.message_id);
                    return self.quarantine(origin, mail, raw, reason);
                }
                tracing::warn!(attempts, error = %err, "mail not processed; it will be tried again");
                Err(err)
            }
        }
    }

    /// Waits until no other task is processing `message_id`, then claims
    /// it until the returned guard is dropped or settled. When another task
    /// has already decided the mail (its record not yet written), answers
    /// that decision's ticket instead.
    async fn claim(&self, message_id: &str) -> Result<Claim<'_, H>, Option<Id>> {
        loop {
            let released = self.released.notified();
            {
                let mut flights = lock(&self.in_flight);
                match flights.get(message_id) {
                    None => {
                        flights.insert(message_id.to_owned(), Flight::Processing);
                        return Ok(Claim {
                            ingest: self,
                            message_id: message_id.to_owned(),
                            settled: false,
                        });
                    }
                    Some(Flight::Decided { ticket_id }) => return Err(*ticket_id),
                    Some(Flight::Processing) => {}
                }
            }
            released.await;
        }
    }

    fn record_of(
        &self,
        origin: &Origin<'_>,
        mail: &ParsedMail,
        outcome: Outcome,
        ticket_id: Option<Id>,
    ) -> ProcessedMail {
        ProcessedMail {
            message_id: mail.message_id.clone(),
            raw_sha256: mail.raw_sha256.clone(),
            mailbox: origin.mailbox.to_owned(),
            uidvalidity: origin.uidvalidity,
            uid: origin.uid,
            outcome,
            ticket_id,
            processed_at: self.clock.now(),
            event: None,
        }
    }

    fn quarantine(
        &self,
        origin: &Origin<'_>,
        mail: &ParsedMail,
        raw: &[u8],
        reason: String,
    ) -> Result<(Decision, ProcessedMail), IngestError> {
        tracing::warn!(%reason, "mail quarantined");
        let id = self.store.quarantine(&NewQuarantine {
            mailbox: origin.mailbox.to_owned(),
            uidvalidity: origin.uidvalidity,
            uid: origin.uid,
            message_id: Some(mail.message_id.clone()),
            raw: raw.to_vec(),
            reason: reason.clone(),
        })?;
        let record = self.record_of(origin, mail, Outcome::Quarantined { quarantine_id: id }, None);
        Ok((Decision::Quarantined { id, reason }, record))
    }

    /// Decides and writes the effect. Returns the decision, the outcome to
    /// record and the ticket to link the Message-ID to.
    async fn apply(&self, mail: &ParsedMail, raw: &[u8]) -> Result<(Decision, Outcome, Option<Id>), Failure> {
        match &mail.sender {
            Sender::Own { reason } | Sender::List { reason } | Sender::AutoReply { reason } => {
                let reason = format!("{}: {reason}", mail.sender.label());
                tracing::info!(%reason, "machine mail skipped");
                Ok(skipped(reason))
            }
            Sender::Bounce { reason, report } => self.note_bounce(mail, reason, report).await,
            Sender::Person => {
                // The same rule `mail inspect` shows an admin.
                if let Some(reason) = verdict(mail).quarantine_reason {
                    return Err(Failure::Permanent(reason));
                }
                match thread(mail, &self.store, &self.helpdesk)
                    .await
                    .map_err(Failure::from_threading)?
                {
                    Thread::New { note } => {
                        if let Some(note) = note {
                            tracing::info!(%note, "not threaded");
                        }
                        let ticket = self.create(mail, None).await?;
                        Ok((
                            Decision::Created { ticket_id: ticket.id },
                            Outcome::TicketCreated,
                            Some(ticket.id),
                        ))
                    }
                    Thread::Existing {
                        ticket_id, ticket, ..
                    } => self.reply(mail, raw, ticket_id, ticket.as_deref()).await,
                }
            }
        }
    }

    async fn note_bounce(
        &self,
        mail: &ParsedMail,
        reason: &str,
        report: &super::BounceReport,
    ) -> Result<(Decision, Outcome, Option<Id>), Failure> {
        let by_id = match &report.original_message_id {
            Some(id) => self
                .store
                .ticket_for_message_ids(std::slice::from_ref(id))
                .map_err(Failure::store)?,
            None => None,
        };
        let Some(ticket_id) = by_id.or(report.original_ticket) else {
            return Ok(skipped(format!(
                "bounce for a mail carteiro does not know: {reason}"
            )));
        };
        // A permanent failure (DSN status 5.x.x) marks the recipient
        // bouncing, so the outbox holds later mail to it; a delay notice
        // (4.x.x) does not.
        if let (Some(address), Some(status)) = (&report.recipient, &report.status)
            && status.starts_with('5')
        {
            self.store
                .mark_bouncing(address, &format!("DSN {status}: {reason}"), Some(ticket_id))
                .map_err(Failure::store)?;
        }
        let recipient = report
            .recipient
            .as_deref()
            .unwrap_or("(destinatário desconhecido)");
        let mut note = format!("Falha na entrega de e-mail para {recipient}.");
        if let Some(status) = &report.status {
            note.push_str(&format!("\nStatus: {status}"));
        }
        if let Some(diagnostic) = &report.diagnostic {
            note.push_str(&format!("\nDiagnóstico: {diagnostic}"));
        }
        if let Some(subject) = Some(&mail.subject).filter(|s| !s.is_empty()) {
            note.push_str(&format!("\nAviso recebido: {subject}"));
        }
        match self
            .add_comment(mail, ticket_id, NewComment::internal(note.clone()), false)
            .await?
        {
            Appended::Added { .. } => Ok((
                Decision::BounceNoted { ticket_id },
                Outcome::BounceNoted,
                Some(ticket_id),
            )),
            Appended::Closed => Ok(skipped(format!("bounce for closed ticket #{ticket_id}: {note}"))),
            Appended::Gone => Ok(skipped(format!(
                "bounce for ticket #{ticket_id}, which no longer exists"
            ))),
        }
    }

    /// A reply from a person to ticket `ticket_id`; `known` is the ticket
    /// when threading had to read it.
    async fn reply(
        &self,
        mail: &ParsedMail,
        raw: &[u8],
        ticket_id: Id,
        known: Option<&Ticket>,
    ) -> Result<(Decision, Outcome, Option<Id>), Failure> {
        if known.is_some_and(|ticket| ticket.status == Status::Closed) {
            return self.follow_up(mail, ticket_id, known).await;
        }
        let internal = self.is_internal(mail);
        let author = if internal {
            self.known_user_id(mail.from.as_ref()).await?
        } else {
            self.user_id(mail.from.as_ref()).await?
        };
        let mut uploads = self.upload_attachments(&mail.attachments).await?;
        // The full original stays with the comment, for whatever cleaning
        // took out.
        uploads.push(
            self.upload("mensagem-original.eml", "message/rfc822", raw.to_vec())
                .await?,
        );
        let cap = self.options.parse.max_attachment_bytes;
        let comment = NewComment {
            body: Some(with_omissions(
                strip_quoted(&mail.body_text),
                &mail.attachments,
                cap,
            )),
            // A colleague's reply is for the agents, not the customer, and
            // never reopens a solved ticket.
            public: !internal,
            author_id: author,
            uploads,
            ..NewComment::default()
        };
        match self.add_comment(mail, ticket_id, comment, !internal).await? {
            Appended::Added { reopened } => Ok((
                Decision::Commented { ticket_id, reopened },
                Outcome::CommentAdded,
                Some(ticket_id),
            )),
            Appended::Closed => self.follow_up(mail, ticket_id, None).await,
            Appended::Gone => {
                tracing::info!(
                    ticket_id,
                    message_id = %mail.message_id,
                    "the threaded ticket no longer exists; opening a new one"
                );
                let ticket = self.create(mail, None).await?;
                Ok((
                    Decision::Created { ticket_id: ticket.id },
                    Outcome::TicketCreated,
                    Some(ticket.id),
                ))
            }
        }
    }

    /// A reply to a closed ticket becomes a follow-up of it, with the
    /// closed ticket's tags and custom field values, as Zendesk's own
    /// follow-ups have them ("follow-up tickets inherit all tags from the
    /// original", support.zendesk.com article 8421655952026): the rules
    /// see the reopened case as the case it continues. `known` is the
    /// closed ticket when threading read it; otherwise the store's
    /// snapshot, or the helpdesk, gives it.
    async fn follow_up(
        &self,
        mail: &ParsedMail,
        source_id: Id,
        known: Option<&Ticket>,
    ) -> Result<(Decision, Outcome, Option<Id>), Failure> {
        let source = match known {
            Some(ticket) => Some(ticket.clone()),
            None => match self.store.snapshot(source_id).map_err(Failure::store)? {
                Some(snapshot) => Some(snapshot.ticket),
                None => match self.helpdesk.show_ticket(source_id).await {
                    Ok(ticket) => Some(ticket),
                    Err(HelpDeskError::NotFound { .. }) => None,
                    Err(e) => return Err(Failure::from_helpdesk(e)),
                },
            },
        };
        let inherited = FollowUpOf {
            source_id,
            tags: source.as_ref().map(|t| t.tags.clone()).unwrap_or_default(),
            custom_fields: source
                .map(|t| {
                    t.custom_fields
                        .into_iter()
                        .filter(|f| !f.value.is_null())
                        .collect()
                })
                .unwrap_or_default(),
        };
        let created = self.create(mail, Some(&inherited)).await?;
        Ok((
            Decision::FollowUp {
                ticket_id: created.id,
                source_id,
            },
            Outcome::FollowUpCreated,
            Some(created.id),
        ))
    }

    /// Adds `comment` to ticket `ticket_id` in one write, without reading
    /// the ticket first: a comment commutes with whatever an agent does
    /// meanwhile, so it needs no `safe_update`. With `reopen`, a ticket the
    /// write shows as solved is then reopened (the rare second call).
    ///
    /// Zendesk refuses every change to a closed ticket with a 422, and a
    /// deleted one with a 404; those come back as [`Appended::Closed`] and
    /// [`Appended::Gone`] for the caller to decide.
    async fn add_comment(
        &self,
        mail: &ParsedMail,
        ticket_id: Id,
        comment: NewComment,
        reopen: bool,
    ) -> Result<Appended, Failure> {
        let body_sha256 = sha256_hex(comment.body.as_deref().unwrap_or_default().as_bytes());
        let prior = self.prior_attempt(&mail.message_id)?;
        if prior == Prior::MayHaveLanded && self.comment_exists(ticket_id, &body_sha256).await? {
            tracing::info!(
                ticket_id,
                "the comment was added before a restart; not adding it again"
            );
            let reopened = if reopen {
                let ticket = self
                    .helpdesk
                    .show_ticket(ticket_id)
                    .await
                    .map_err(Failure::from_helpdesk)?;
                self.reopen_if_solved(mail, ticket).await?
            } else {
                false
            };
            return Ok(Appended::Added { reopened });
        }
        if prior != Prior::Fresh {
            self.store
                .begin_intent(&Intent {
                    message_id: mail.message_id.clone(),
                    action: IntentAction::AddComment {
                        ticket_id,
                        attempted_at: self.clock.now(),
                        body_sha256,
                    },
                    started_at: Utc::now(),
                })
                .map_err(Failure::store)?;
        }
        let update = TicketUpdate {
            comment: Some(comment),
            metadata: Some(mail_metadata(mail)),
            ..TicketUpdate::default()
        };
        match self.helpdesk.append_to_ticket(ticket_id, &update).await {
            Ok(ticket) if reopen => Ok(Appended::Added {
                reopened: self.reopen_if_solved(mail, ticket).await?,
            }),
            Ok(_) => Ok(Appended::Added { reopened: false }),
            Err(HelpDeskError::NotFound { .. }) => Ok(Appended::Gone),
            Err(refused @ HelpDeskError::Unprocessable { .. }) => {
                // Closed is the usual reason; anything else is a real error.
                match self.helpdesk.show_ticket(ticket_id).await {
                    Ok(ticket) if ticket.status == Status::Closed => Ok(Appended::Closed),
                    Ok(_) => Err(Failure::from_helpdesk(refused)),
                    Err(HelpDeskError::NotFound { .. }) => Ok(Appended::Gone),
                    Err(err) => Err(Failure::from_helpdesk(err)),
                }
            }
            Err(err) => Err(Failure::from_helpdesk(err)),
        }
    }

    /// Reopens `ticket` if it is solved, with `safe_update`, re-reading on a
    /// conflict. Returns whether this call reopened it.
    async fn reopen_if_solved(&self, mail: &ParsedMail, mut ticket: Ticket) -> Result<bool, Failure> {
        let update = TicketUpdate {
            status: Some(Status::Open),
            metadata: Some(mail_metadata(mail)),
            ..TicketUpdate::default()
        };
        for attempt in 0..=self.options.max_replans {
            if ticket.status != Status::Solved {
                return Ok(false);
            }
            match self
                .helpdesk
                .update_ticket(ticket.id, &update, ticket.updated_at)
                .await
            {
                Ok(_) => return Ok(true),
                Err(HelpDeskError::Conflict { .. }) => {
                    tracing::info!(
                        ticket_id = ticket.id,
                        attempt,
                        "ticket changed meanwhile; re-reading"
                    );
                }
                Err(err) => return Err(Failure::from_helpdesk(err)),
            }
            ticket = self
                .helpdesk
                .show_ticket(ticket.id)
                .await
                .map_err(Failure::from_helpdesk)?;
        }
        Err(Failure::Transient(IngestError::HelpDesk(
            HelpDeskError::Conflict {
                endpoint: "PUT /api/v2/tickets/{id}".to_owned(),
                after_retry: false,
            },
        )))
    }

    /// Whether `ticket_id` already carries a comment with this body.
    async fn comment_exists(&self, ticket_id: Id, body_sha256: &str) -> Result<bool, Failure> {
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .helpdesk
                .list_comments_page(ticket_id, cursor.as_deref())
                .await
                .map_err(Failure::from_helpdesk)?;
            if page
                .items
                .iter()
                .any(|c| sha256_hex(c.body.as_bytes()) == body_sha256)
            {
                return Ok(true);
            }
            match page.after_cursor {
                Some(next) if page.has_more => cursor = Some(next),
                _ => return Ok(false),
            }
        }
    }

    /// Creates the ticket for a new mail, or a follow-up of a closed one.
    async fn create(&self, mail: &ParsedMail, follow_up_of: Option<&FollowUpOf>) -> Result<Ticket, Failure> {
        let external_id = external_id_for(&mail.message_id);
        let prior = self.prior_attempt(&mail.message_id)?;
        if prior == Prior::MayHaveLanded {
            // A restart after a create whose outcome was never recorded.
            if let Some(found) = self
                .helpdesk
                .find_tickets_by_external_id(&external_id)
                .await
                .map_err(Failure::from_helpdesk)?
                .into_iter()
                .next()
            {
                tracing::info!(
                    ticket_id = found.id,
                    "the ticket was created before a restart; not creating it again"
                );
                return Ok(found);
            }
        }
        let requester = mail.reply_address().or(mail.from.as_ref());
        let Some(requester) = requester else {
            return Err(Failure::Permanent("the mail has no sender address".to_owned()));
        };
        let uploads = self.upload_attachments(&mail.attachments).await?;
        let own = &self.options.parse.own_addresses;
        let email_ccs: Vec<EmailCc> = mail
            .to
            .iter()
            .chain(&mail.cc)
            .filter(|a| a.email != requester.email && !own.contains(&a.email))
            .map(|a| EmailCc::add(a.email.clone(), a.name.clone()))
            .collect();
        let subject = if mail.subject.trim().is_empty() {
            "(sem assunto)".to_owned()
        } else {
            mail.subject.clone()
        };
        let body = if follow_up_of.is_some() {
            strip_quoted(&mail.body_text)
        } else {
            mail.body_text.clone()
        };
        let body = if body.trim().is_empty() {
            "(mensagem sem texto)".to_owned()
        } else {
            body
        };
        // A follow-up's first comment is the API user's unless it names its
        // author ("The API sets whoever created the follow-up ticket [...]
        // as the first comment author", developer.zendesk.com, Tickets,
        // "Requesters and submitters"): name the sender, or the customer's
        // words would read as the bot's public reply.
        let author_id = match follow_up_of {
            Some(_) => self.user_id(Some(requester)).await?,
            None => None,
        };
        let cap = self.options.parse.max_attachment_bytes;
        let mut tags = follow_up_of.map(|f| f.tags.clone()).unwrap_or_default();
        for tag in &self.options.tags {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        let ticket = NewTicket {
            subject: Some(subject),
            comment: NewComment {
                body: Some(with_omissions(body, &mail.attachments, cap)),
                public: true,
                author_id,
                uploads,
                ..NewComment::default()
            },
            requester: Some(RequesterSpec {
                email: requester.email.clone(),
                name: requester.name.clone(),
                locale_id: None,
            }),
            tags,
            custom_fields: follow_up_of.map(|f| f.custom_fields.clone()).unwrap_or_default(),
            email_ccs,
            external_id: Some(external_id.clone()),
            via_followup_source_id: follow_up_of.map(|f| f.source_id),
            metadata: Some(mail_metadata(mail)),
            ..NewTicket::default()
        };
        if prior != Prior::Fresh {
            self.store
                .begin_intent(&Intent {
                    message_id: mail.message_id.clone(),
                    action: IntentAction::CreateTicket { external_id },
                    started_at: Utc::now(),
                })
                .map_err(Failure::store)?;
        }
        let created = self
            .helpdesk
            .create_ticket(&ticket)
            .await
            .map_err(Failure::from_helpdesk)?;
        if let (Some(id), Some(address)) = (created.requester_id, &ticket.requester) {
            self.remember_user(&address.email, id);
        }
        Ok(created)
    }

    /// The helpdesk user for a sender, created on first sight. Ids are kept
    /// in the store, so a sender seen before costs no call, also after a
    /// restart.
    async fn user_id(&self, address: Option<&Address>) -> Result<Option<Id>, Failure> {
        let Some(address) = address else {
            return Ok(None);
        };
        if let Some(id) = lock(&self.unsaved_users).get(&address.email.to_lowercase()) {
            return Ok(Some(*id));
        }
        if let Some(id) = self.store.helpdesk_user(&address.email).map_err(Failure::store)? {
            return Ok(Some(id));
        }
        let user = self
            .helpdesk
            .upsert_user(&UserUpsert {
                email: address.email.clone(),
                name: address.name.clone().unwrap_or_else(|| address.email.clone()),
                ..UserUpsert::default()
            })
            .await
            .map_err(Failure::from_helpdesk)?;
        self.remember_user(&address.email, user.id);
        Ok(Some(user.id))
    }

    /// Whether the mail's sender is one of the internal senders.
    fn is_internal(&self, mail: &ParsedMail) -> bool {
        mail.from
            .as_ref()
            .is_some_and(|a| crate::config::is_internal_sender(&self.options.internal_senders, &a.email))
    }

    /// The helpdesk user of an internal sender if there is one (seen
    /// before, or an agent), never created: a note by an unknown address
    /// is written by carteiro's own user, and its text and original show
    /// who sent it.
    async fn known_user_id(&self, address: Option<&Address>) -> Result<Option<Id>, Failure> {
        let Some(address) = address else {
            return Ok(None);
        };
        let email = address.email.to_lowercase();
        if let Some(id) = lock(&self.unsaved_users).get(&email) {
            return Ok(Some(*id));
        }
        if let Some(id) = self.store.helpdesk_user(&address.email).map_err(Failure::store)? {
            return Ok(Some(id));
        }
        let agents = self
            .helpdesk
            .list_agents()
            .await
            .map_err(Failure::from_helpdesk)?;
        let agent = agents
            .iter()
            .find(|u| u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(&email)));
        if let Some(agent) = agent {
            self.remember_user(&email, agent.id);
            return Ok(Some(agent.id));
        }
        Ok(None)
    }

    /// Keeps a user id for next time: it is written with the next records
    /// (a read first, so a returning sender costs no write). Losing it to a
    /// crash only costs a lookup later.
    fn remember_user(&self, email: &str, id: Id) {
        if matches!(self.store.helpdesk_user(email), Ok(Some(known)) if known == id) {
            return;
        }
        lock(&self.unsaved_users).insert(email.to_lowercase(), id);
    }

    /// Uploads one file; returns the token to put on a comment.
    async fn upload(&self, file_name: &str, content_type: &str, bytes: Vec<u8>) -> Result<String, Failure> {
        let file = NewUpload {
            file_name: file_name.to_owned(),
            content_type: content_type.to_owned(),
            bytes,
        };
        let upload = self
            .helpdesk
            .upload(&file)
            .await
            .map_err(Failure::from_helpdesk)?;
        Ok(upload.token)
    }

    async fn upload_attachments(&self, attachments: &[MailAttachment]) -> Result<Vec<String>, Failure> {
        let mut tokens = Vec::new();
        for attachment in attachments {
            let Some(content) = &attachment.content else {
                // Above the size cap: the parser noted it in `problems`.
                continue;
            };
            tokens.push(
                self.upload(&attachment.name, &attachment.content_type, content.clone())
                    .await?,
            );
        }
        Ok(tokens)
    }
}

/// What came before a helpdesk write for a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prior {
    /// Its intent was written ahead by this process, and no write tried.
    Fresh,
    /// A pending intent: a write may have landed, so look for its effect.
    MayHaveLanded,
    /// No intent: nothing was tried.
    Nothing,
}

/// What adding a comment came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Appended {
    /// The comment is on the ticket; `reopened` when this reopened it.
    Added { reopened: bool },
    /// The ticket is closed and takes no more comments.
    Closed,
    /// The ticket no longer exists.
    Gone,
}

/// A mail logged and left alone, with its reason.
fn skipped(reason: String) -> (Decision, Outcome, Option<Id>) {
    (
        Decision::Skipped {
            reason: reason.clone(),
        },
        Outcome::Skipped { reason },
        None,
    )
}

/// The body with a line for each attachment left out for its size, so
/// the agent knows to ask for it another way.
fn with_omissions(body: String, attachments: &[MailAttachment], cap: usize) -> String {
    let omitted: Vec<String> = attachments
        .iter()
        .filter(|a| a.content.is_none())
        .map(|a| {
            format!(
                "[Anexo não incluído: {} ({} bytes), acima do limite de {cap} bytes.]",
                a.name, a.size
            )
        })
        .collect();
    if omitted.is_empty() {
        body
    } else {
        format!("{}\n\n{}", body.trim_end(), omitted.join("\n"))
    }
}

/// A Message-ID being processed; released on drop, also when the task
/// processing it is cancelled.
struct Claim<'a, H> {
    ingest: &'a Ingest<H>,
    message_id: String,
    /// Decided, with its record in a batch: the batch's write releases it.
    settled: bool,
}

impl<H> Claim<'_, H> {
    /// The mail is decided and its record waits in a [`RecordBatch`]:
    /// until that is written, the same Message-ID is a duplicate of it.
    fn settle(mut self, ticket_id: Option<Id>) {
        lock(&self.ingest.in_flight).insert(self.message_id.clone(), Flight::Decided { ticket_id });
        self.settled = true;
        self.ingest.released.notify_waiters();
    }
}

impl<H> Drop for Claim<'_, H> {
    fn drop(&mut self) {
        if !self.settled {
            lock(&self.ingest.in_flight).remove(&self.message_id);
            self.ingest.released.notify_waiters();
        }
    }
}

/// Where a Message-ID stands in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flight {
    /// A task is deciding it.
    Processing,
    /// Decided, its record waiting in a batch.
    Decided { ticket_id: Option<Id> },
}

/// Outcomes decided but not yet written, to be written together by
/// [`Ingest::write_batch`].
#[derive(Debug, Default)]
pub struct RecordBatch {
    records: Mutex<Vec<ProcessedMail>>,
}

impl RecordBatch {
    pub fn new() -> RecordBatch {
        RecordBatch::default()
    }

    /// How many outcomes wait to be written.
    pub fn len(&self) -> usize {
        lock(&self.records).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How an attempt went wrong.
#[derive(Debug)]
enum Failure {
    /// Trying again will not help: quarantine now.
    Permanent(String),
    /// Try again later.
    Transient(IngestError),
}

impl Failure {
    fn from_helpdesk(err: HelpDeskError) -> Failure {
        match err {
            HelpDeskError::Unprocessable { .. } => {
                Failure::Permanent(format!("the helpdesk refused the mail: {err}"))
            }
            other => Failure::Transient(IngestError::HelpDesk(other)),
        }
    }

    fn from_threading(err: ThreadingError) -> Failure {
        match err {
            ThreadingError::HelpDesk(e) => Failure::from_helpdesk(e),
            ThreadingError::Store(e) => Failure::store(e),
        }
    }

    fn store(err: StoreError) -> Failure {
        Failure::Transient(IngestError::Store(err))
    }
}

/// What a follow-up takes from the closed ticket it continues.
#[derive(Debug, Clone)]
struct FollowUpOf {
    source_id: Id,
    tags: Vec<String>,
    custom_fields: Vec<CustomFieldValue>,
}

/// The `mail.received` event of a mail that created or changed a ticket,
/// as JSON for the store's queue: what rules read as `mail.*`.
fn mail_event(mail: &ParsedMail, decision: &Decision, internal: bool, now: DateTime<Utc>) -> Option<String> {
    let kind = match decision {
        Decision::Created { .. } => "new",
        Decision::FollowUp { .. } => "follow_up",
        Decision::Commented { .. } => "reply",
        Decision::BounceNoted { .. } => "bounce",
        Decision::Duplicate { .. } | Decision::Skipped { .. } | Decision::Quarantined { .. } => return None,
    };
    let emails = |list: &[Address]| list.iter().map(|a| a.email.clone()).collect();
    let facts = crate::rules::MailFacts {
        kind: kind.to_owned(),
        from: mail.from.as_ref().map(|a| a.email.clone()).unwrap_or_default(),
        to: emails(&mail.to),
        cc: emails(&mail.cc),
        subject: mail.subject.clone(),
        body: if kind == "reply" {
            strip_quoted(&mail.body_text)
        } else {
            mail.body_text.clone()
        },
        attachments: mail
            .attachments
            .iter()
            .filter(|a| !a.inline)
            .map(|a| a.name.clone())
            .collect(),
        message_id: mail.message_id.clone(),
        received_at: Some(mail.date.unwrap_or(now)),
        // Only a reply became an internal note; a new mail from an
        // internal sender opened a ticket like any other.
        internal: internal && kind == "reply",
    };
    serde_json::to_string(&facts).ok()
}

/// What an ingest write tells Zendesk about itself, in its audit's
/// `metadata.custom`: the mail it came from (the event key of the rules
/// that then run on it).
fn mail_metadata(mail: &ParsedMail) -> serde_json::Value {
    serde_json::json!({ "carteiro": { "event": format!("mail:{}", mail.message_id) } })
}
