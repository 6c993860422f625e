//! The loop that drains one mailbox into the ingest: open, fetch a batch
//! above the last UID handled, process each mail, mark the processed ones,
//! remember the position, and wait for news (IDLE or poll). Connection
//! trouble is met with backoff and a reconnect; nothing is marked or
//! skipped until its outcome is durable in the store.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::ingest::{Decision, Ingest, Origin};
use super::mailbox::{Mailbox, MailboxError};
use crate::helpdesk::HelpDesk;
use crate::store::MailboxState;

/// How the loop paces itself.
#[derive(Debug, Clone)]
pub struct PollOptions {
    /// Mails fetched per round.
    pub batch_size: usize,
    /// Mails of a round processed at the same time.
    pub concurrency: usize,
    /// First wait after a failure; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for PollOptions {
    fn default() -> PollOptions {
        PollOptions {
            batch_size: 100,
            concurrency: 8,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// Drains `mailbox` until `shutdown` is cancelled. A mail being processed
/// when shutdown comes is finished first.
pub async fn run_mailbox<M: Mailbox, H: HelpDesk>(
    mut mailbox: M,
    ingest: Arc<Ingest<H>>,
    options: PollOptions,
    shutdown: CancellationToken,
) {
    let mut failures: u32 = 0;
    while !shutdown.is_cancelled() {
        let result = drain_once(&mut mailbox, &ingest, &options, &shutdown).await;
        match result {
            Ok(()) => {
                failures = 0;
                let waited = tokio::select! {
                    result = mailbox.wait_for_news() => result,
                    () = shutdown.cancelled() => Ok(()),
                };
                if let Err(err) = waited {
                    tracing::warn!(mailbox = mailbox.name(), error = %err, "waiting for new mail failed; reconnecting");
                }
            }
            Err(err) => {
                failures = failures.saturating_add(1);
                let wait = backoff(&options, failures);
                tracing::warn!(mailbox = mailbox.name(), error = %err, retry_in_ms = wait.as_millis() as u64, "mailbox round failed");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.cancelled() => {}
                }
            }
        }
    }
    mailbox.close().await;
    tracing::info!(mailbox = mailbox.name(), "mailbox stopped");
}

/// Why a round stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
    #[error("{0}")]
    Ingest(String),
}

/// Processes every mail currently waiting. Returns when the mailbox has
/// nothing new, or on the first error.
pub async fn drain_once<M: Mailbox, H: HelpDesk>(
    mailbox: &mut M,
    ingest: &Ingest<H>,
    options: &PollOptions,
    shutdown: &CancellationToken,
) -> Result<(), RoundError> {
    let name = mailbox.name().to_owned();
    let uidvalidity = mailbox.open().await?;
    let store = ingest.store();
    let mut last_uid = match uidvalidity {
        None => 0,
        Some(validity) => match store
            .mailbox_state(&name)
            .map_err(|e| RoundError::Ingest(e.to_string()))?
        {
            Some(state) if state.uidvalidity == validity => state.last_uid,
            Some(state) => {
                // The UIDs were renumbered: read everything again. The
                // store's Message-ID records keep it from being imported
                // twice.
                tracing::warn!(mailbox = %name, old = state.uidvalidity, new = validity, "UIDVALIDITY changed; resynchronising by Message-ID");
                0
            }
            None => 0,
        },
    };
    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        let batch = mailbox.fetch_after(last_uid, options.batch_size).await?;
        if batch.is_empty() {
            return Ok(());
        }
        let full = batch.len() == options.batch_size;
        // Several mails at once: each waits mostly on the helpdesk. Results
        // come back in UID order.
        let validity = uidvalidity.unwrap_or(0);
        let results: Vec<(u32, Result<Decision, String>)> = futures::stream::iter(batch)
            .map(|fetched| {
                let name = name.clone();
                async move {
                    let origin = Origin {
                        mailbox: &name,
                        uidvalidity: validity,
                        uid: fetched.uid,
                    };
                    let result = ingest
                        .process(&origin, &fetched.raw)
                        .await
                        .map_err(|e| e.to_string());
                    (fetched.uid, result)
                }
            })
            .buffered(options.concurrency.max(1))
            .collect()
            .await;
        let mut done = Vec::with_capacity(results.len());
        let mut stopped: Option<String> = None;
        // The position moves only over an unbroken run of durable outcomes;
        // a later success past a failure is marked, and met again (as a
        // duplicate) when the failed one is retried.
        let mut contiguous = true;
        for (uid, result) in results {
            match result {
                Ok(decision) => {
                    if let Decision::Quarantined { id, reason } = &decision {
                        tracing::warn!(mailbox = %name, uid, quarantine_id = id, %reason, "mail quarantined");
                    }
                    done.push(uid);
                    if contiguous {
                        last_uid = last_uid.max(uid);
                    }
                }
                Err(err) => {
                    contiguous = false;
                    stopped.get_or_insert(err);
                }
            }
        }
        // Only now, with every outcome durable, does the mailbox change.
        mailbox.mark_processed(&done).await?;
        if let Some(validity) = uidvalidity {
            store
                .set_mailbox_state(
                    &name,
                    MailboxState {
                        uidvalidity: validity,
                        last_uid,
                    },
                )
                .map_err(|e| RoundError::Ingest(e.to_string()))?;
        }
        if let Some(reason) = stopped {
            return Err(RoundError::Ingest(reason));
        }
        if !full || uidvalidity.is_none() && done.is_empty() {
            return Ok(());
        }
    }
}

fn backoff(options: &PollOptions, failures: u32) -> Duration {
    let base = options.min_backoff.as_secs_f64() * 2f64.powi(failures.saturating_sub(1).min(20) as i32);
    let capped = base.min(options.max_backoff.as_secs_f64());
    Duration::from_secs_f64(rand::random_range(capped / 2.0..=capped))
}
