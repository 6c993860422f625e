//! The delivery worker: takes due mail from the outbox, hands it to a
//! [`MailSender`], and records what came of it.
//!
//! Each mail goes through three durable steps: claim (`queued → sending`,
//! one more attempt), the SMTP transaction, and the mark. Only the server's
//! `250` marks a row `sent`. A temporary failure puts it back to `queued`
//! with an exponential backoff and jitter; a permanent one at the recipient
//! stage marks it `failed`, marks that recipient bouncing (later mail to it
//! is held) and notes the failure on the ticket as an internal comment.
//!
//! The worker is one serial loop: mails go out one after another over the
//! kept SMTP connection. On shutdown it finishes the mail in flight, marks
//! it, and stops; nothing is left `sending`. A row found `sending` at start
//! was interrupted by a crash and is sent again (see `docs/outbound.md`
//! for why, and how short that window is).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::{Envelope, MailSender, SendError, Stage};
use crate::clock::Clock;
use crate::config::{MailConfig, OutboxConfig};
use crate::helpdesk::{HelpDesk, HelpDeskError, NewComment, TicketUpdate};
use crate::store::{GuardPolicy, OutboxEntry, Store, StoreError, WindowCap};

/// The guards of `[mail]` and `[outbox]`, as the store runs them at
/// enqueue. Fails only on a robot pattern that does not compile, which
/// configuration validation already rules out.
pub fn guard_policy(mail: &MailConfig, outbox: &OutboxConfig) -> Result<GuardPolicy, regex::Error> {
    let caps = |caps: &[crate::config::Cap]| {
        caps.iter()
            .map(|c| WindowCap {
                limit: c.limit,
                window: c.window,
            })
            .collect()
    };
    Ok(GuardPolicy {
        own_addresses: mail.own_addresses.iter().map(|a| a.to_lowercase()).collect(),
        robots: regex::Regex::new(&outbox.robot_addresses)?,
        recipient_caps: caps(&outbox.recipient_caps),
        ticket_caps: caps(&outbox.ticket_caps),
    })
}

/// How long to wait before attempt `n + 1` after `n` temporary failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// From `[outbox]`.
    pub fn from_config(outbox: &OutboxConfig) -> Backoff {
        Backoff {
            initial: outbox.retry_initial,
            max: outbox.retry_max,
        }
    }

    /// `initial · 2^(failures − 1)`, capped at `max`, then scaled by a
    /// random factor in [0.5, 1.0) so that mails that failed together (a
    /// server outage) do not all come back in the same second.
    pub fn delay(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(30);
        let base = self.initial.saturating_mul(1u32 << exponent).min(self.max);
        base.mul_f64(0.5 + rand::random::<f64>() / 2.0)
    }
}

/// What one pass over the due mail did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    /// The pass stopped early: the server cannot be reached (connect, TLS
    /// or AUTH trouble), so the other due mails would fail the same way.
    pub server_down: bool,
}

/// Delivers the outbox through `sender`, noting permanent failures on the
/// ticket through `helpdesk`.
#[derive(Debug)]
pub struct DeliveryWorker<S, H> {
    store: Arc<Store>,
    sender: S,
    helpdesk: H,
    backoff: Backoff,
    poll_interval: Duration,
    clock: Arc<dyn Clock>,
}

impl<S: MailSender, H: HelpDesk> DeliveryWorker<S, H> {
    pub fn new(
        store: Arc<Store>,
        sender: S,
        helpdesk: H,
        backoff: Backoff,
        poll_interval: Duration,
        clock: Arc<dyn Clock>,
    ) -> DeliveryWorker<S, H> {
        DeliveryWorker {
            store,
            sender,
            helpdesk,
            backoff,
            poll_interval,
            clock,
        }
    }

    /// The sender, e.g. to close its connection after the loop.
    pub fn sender(&self) -> &S {
        &self.sender
    }

    /// Runs until `token` is cancelled: requeues mail a crash left
    /// `sending`, then delivers due mail and waits for more. A store error
    /// is logged and the loop carries on after a pause; the rows stay
    /// where they were.
    pub async fn run(&self, token: CancellationToken) {
        match self.store.requeue_interrupted_mail() {
            Ok(interrupted) => {
                for entry in interrupted {
                    tracing::warn!(
                        outbox_id = entry.id,
                        message_id = %entry.message_id,
                        ticket_id = entry.ticket_id,
                        "mail was being sent when carteiro stopped abruptly; sending it again \
                         (if the server had already taken it, the recipient gets a copy with the same Message-ID)"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot requeue mail interrupted mid-send"),
        }
        tracing::info!("outbox delivery worker started");
        loop {
            if token.is_cancelled() {
                break;
            }
            self.note_failures().await;
            let pause = match self.deliver_due(&token).await {
                Ok(pass) if pass.server_down => self.backoff.initial.min(self.poll_interval),
                Ok(_) => self.until_next_due(),
                Err(e) => {
                    tracing::error!(error = %e, "outbox: cannot read or update the state store");
                    self.poll_interval
                }
            };
            tokio::select! {
                () = token.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!("outbox delivery worker stopped");
    }

    /// How long to sleep: until the next queued mail is due, at most the
    /// poll interval (another process may enqueue meanwhile).
    fn until_next_due(&self) -> Duration {
        match self.store.next_mail_due_at() {
            Ok(Some(due)) => (due - self.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(Duration::from_millis(10), self.poll_interval),
            Ok(None) => self.poll_interval,
            Err(e) => {
                tracing::error!(error = %e, "outbox: cannot read when the next mail is due");
                self.poll_interval
            }
        }
    }

    /// Sends every mail due now, one by one, until none is left, the
    /// server is unreachable, or `token` is cancelled (checked between
    /// mails, never during one).
    pub async fn deliver_due(&self, token: &CancellationToken) -> Result<Pass, StoreError> {
        let mut pass = Pass::default();
        while !token.is_cancelled() {
            let Some(entry) = self.store.claim_due_mail()? else {
                break;
            };
            let envelope = Envelope {
                from: entry.envelope_from.clone(),
                to: entry.recipients.clone(),
            };
            let raw = entry.raw.as_deref().unwrap_or_default();
            let span = tracing::info_span!("outbox", outbox_id = entry.id, message_id = %entry.message_id,
                ticket_id = entry.ticket_id, attempt = entry.attempts);
            let answer = self.sender.send(&envelope, raw).instrument(span.clone()).await;
            let _entered = span.enter();
            match answer {
                Ok(delivered) => {
                    self.store.mark_mail_sent(entry.id, &delivered.response)?;
                    tracing::info!(response = %delivered.response, "mail sent");
                    pass.sent += 1;
                }
                Err(error @ SendError::Temporary { .. }) => {
                    let delay = self.backoff.delay(entry.attempts);
                    let next = chrono::Duration::from_std(delay)
                        .ok()
                        .and_then(|d| self.clock.now().checked_add_signed(d))
                        .unwrap_or_else(|| self.clock.now() + chrono::TimeDelta::days(1));
                    self.store.mark_mail_retry(entry.id, &error.to_string(), next)?;
                    tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "mail not sent; will retry");
                    pass.retried += 1;
                    if matches!(error.stage(), Stage::Connect | Stage::Tls | Stage::Auth) {
                        pass.server_down = true;
                        break;
                    }
                }
                Err(error @ SendError::Permanent { .. }) => {
                    let bouncing = match error.stage() {
                        Stage::Recipient(address) => Some(address.clone()),
                        _ => None,
                    };
                    self.store
                        .mark_mail_failed(entry.id, &error.to_string(), bouncing.as_deref())?;
                    tracing::error!(%error, bouncing = bouncing.as_deref().unwrap_or("-"),
                        "mail refused for good; noting it on the ticket");
                    pass.failed += 1;
                }
            }
        }
        Ok(pass)
    }

    /// Notes each failed mail not yet noted on its ticket, as an internal
    /// comment. A helpdesk that cannot be reached leaves it for the next
    /// round; a ticket that refuses the note (gone, closed) is logged and
    /// not tried again.
    pub async fn note_failures(&self) {
        let entries = match self.store.failed_mail_to_note() {
            Ok(entries) => entries,
            Err(e) => {
                tracing::error!(error = %e, "outbox: cannot list failed mail");
                return;
            }
        };
        for entry in entries {
            if entry.ticket_id == super::NO_TICKET {
                // A digest has no ticket to note it on: the error log and
                // the outbox row (`carteiro mail outbox`) keep it.
                tracing::error!(outbox_id = entry.id, message_id = %entry.message_id,
                    recipients = ?entry.recipients, last_error = ?entry.last_error,
                    "a mail about no ticket (a digest) failed for good; it stays in the outbox as failed");
                if let Err(e) = self.store.mark_mail_noted(entry.id) {
                    tracing::error!(outbox_id = entry.id, error = %e, "cannot record the note");
                }
                continue;
            }
            let update = TicketUpdate {
                comment: Some(NewComment::internal(failure_note(&entry))),
                ..TicketUpdate::default()
            };
            let done = match self.helpdesk.append_to_ticket(entry.ticket_id, &update).await {
                Ok(_) => true,
                Err(
                    e @ (HelpDeskError::NotFound { .. }
                    | HelpDeskError::Unprocessable { .. }
                    | HelpDeskError::Unauthorized { .. }),
                ) => {
                    tracing::error!(outbox_id = entry.id, ticket_id = entry.ticket_id, error = %e,
                        "cannot note the failed mail on its ticket; giving up on the note");
                    true
                }
                Err(e) => {
                    tracing::warn!(outbox_id = entry.id, ticket_id = entry.ticket_id, error = %e,
                        "cannot note the failed mail on its ticket now; will try again");
                    false
                }
            };
            if done && let Err(e) = self.store.mark_mail_noted(entry.id) {
                tracing::error!(outbox_id = entry.id, error = %e, "cannot record the note");
            }
        }
    }
}

/// The internal note for a mail the server refused, in Portuguese like the
/// agents' other notes.
pub fn failure_note(entry: &OutboxEntry) -> String {
    let mut note = format!(
        "Falha permanente no envio de e-mail para {}.\nAssunto: {}\nMessage-ID: <{}>",
        entry.recipients.join(", "),
        entry.subject,
        entry.message_id
    );
    if let Some(error) = &entry.last_error {
        note.push_str(&format!("\nResposta do servidor: {error}"));
    }
    note.push_str(
        "\nO destinatário foi marcado como inválido: novos e-mails para ele ficam retidos até que o endereço \
         seja corrigido.",
    );
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_below_it() {
        let backoff = Backoff {
            initial: Duration::from_secs(30),
            max: Duration::from_secs(3600),
        };
        for _ in 0..100 {
            let first = backoff.delay(1);
            assert!(
                first >= Duration::from_secs(15) && first < Duration::from_secs(30),
                "{first:?}"
            );
            let third = backoff.delay(3);
            assert!(
                third >= Duration::from_secs(60) && third < Duration::from_secs(120),
                "{third:?}"
            );
            let late = backoff.delay(40);
            assert!(
                late >= Duration::from_secs(1800) && late < Duration::from_secs(3600),
                "{late:?}"
            );
        }
    }
}
