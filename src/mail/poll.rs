//! The loop that drains one mailbox into the ingest: open, fetch a batch
//! above the last UID handled, process each mail, mark the processed ones,
//! remember the position, and wait for news (IDLE or poll). Connection
//! trouble is met with backoff and a reconnect; nothing is marked or
//! skipped until its outcome is durable in the store.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::ParsedMail;
use super::ingest::{Decision, Ingest, Origin, RecordBatch};
use super::mailbox::{Fetched, Mailbox, MailboxError};
use super::threading::referenced_ids;
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
pub async fn run_mailbox<M: Mailbox, H: HelpDesk + 'static>(
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
pub async fn drain_once<M: Mailbox, H: HelpDesk + 'static>(
    mailbox: &mut M,
    ingest: &Arc<Ingest<H>>,
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
        let results = process_batch(&name, uidvalidity.unwrap_or(0), batch, ingest, options).await;
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

/// Processes one fetched batch and writes its outcomes; answers each
/// mail's result in UID order. A mail's `Ok` is durable when this returns.
///
/// Mails are parsed first, each in a task of its own. A mail that refers
/// (`In-Reply-To`, `References`) to an earlier mail of the same batch goes
/// in a later *wave*, after that mail's ticket is known, so that a quick
/// "forgot the attachment" reply threads onto the ticket its first mail
/// opens instead of racing it. Within a wave mails run concurrently, each
/// in a task (they wait mostly on the helpdesk, and parsing and encoding
/// spread over the runtime's threads), and the wave's outcomes are written
/// in one transaction.
async fn process_batch<H: HelpDesk + 'static>(
    name: &str,
    uidvalidity: u32,
    batch: Vec<Fetched>,
    ingest: &Arc<Ingest<H>>,
    options: &PollOptions,
) -> Vec<(u32, Result<Decision, String>)> {
    let concurrency = options.concurrency.max(1);
    let parsed: Vec<Result<(Fetched, ParsedMail), (u32, String)>> = futures::stream::iter(batch)
        .map(|fetched| {
            let uid = fetched.uid;
            let ingest = Arc::clone(ingest);
            async move {
                tokio::spawn(async move {
                    let mail = ingest.parse(&fetched.raw);
                    (fetched, mail)
                })
                .await
                .map_err(|err| (uid, format!("parsing mail {uid} failed: {err}")))
            }
        })
        .buffered(concurrency)
        .collect()
        .await;
    let mut by_uid: Vec<(u32, Result<Decision, String>)> = Vec::with_capacity(parsed.len());
    let mut mails = Vec::with_capacity(parsed.len());
    for item in parsed {
        match item {
            Ok(mail) => mails.push(mail),
            Err((uid, reason)) => by_uid.push((uid, Err(reason))),
        }
    }
    let waves = waves(mails.iter().map(|(_, mail)| mail));
    let mut slots: Vec<Option<(Fetched, ParsedMail)>> = mails.into_iter().map(Some).collect();
    let last_wave = waves.iter().copied().max().unwrap_or(0);
    for wave in 0..=last_wave {
        let records = Arc::new(RecordBatch::new());
        let members: Vec<(Fetched, ParsedMail)> = slots
            .iter_mut()
            .zip(&waves)
            .filter(|(_, w)| **w == wave)
            .filter_map(|(slot, _)| slot.take())
            .collect();
        // One commit for the whole wave's intents instead of one per write.
        // Without them each write still writes its own.
        let mails: Vec<&ParsedMail> = members.iter().map(|(_, mail)| mail).collect();
        if let Err(err) = ingest.begin_intents(&mails) {
            tracing::warn!(mailbox = name, error = %err, "could not write the wave's intents; one per mail instead");
        }
        let results: Vec<(u32, Result<Decision, String>)> = futures::stream::iter(members)
            .map(|(fetched, mail)| {
                let uid = fetched.uid;
                let name = name.to_owned();
                let ingest = Arc::clone(ingest);
                let records = Arc::clone(&records);
                let task = tokio::spawn(async move {
                    let origin = Origin {
                        mailbox: &name,
                        uidvalidity,
                        uid,
                    };
                    ingest
                        .process_into(&records, &origin, &fetched.raw, mail)
                        .await
                        .map_err(|e| e.to_string())
                });
                async move {
                    let result = task
                        .await
                        .unwrap_or_else(|err| Err(format!("processing mail {uid} failed: {err}")));
                    (uid, result)
                }
            })
            .buffered(concurrency)
            .collect()
            .await;
        match ingest.write_batch(&records) {
            Ok(()) => by_uid.extend(results),
            Err(err) => {
                // None of this wave's outcomes is durable: none may be marked.
                let reason = format!("recording the batch failed: {err}");
                by_uid.extend(results.into_iter().map(|(uid, _)| (uid, Err(reason.clone()))));
            }
        }
    }
    by_uid.sort_by_key(|(uid, _)| *uid);
    by_uid
}

/// The wave of each mail: 0, or one more than the latest wave of an
/// earlier mail in the batch that it refers to.
fn waves<'a>(mails: impl Iterator<Item = &'a ParsedMail>) -> Vec<usize> {
    let mut wave_of: HashMap<&'a str, usize> = HashMap::new();
    let mut out = Vec::new();
    for mail in mails {
        let wave = referenced_ids(mail)
            .iter()
            .filter_map(|id| wave_of.get(id.as_str()))
            .map(|w| w + 1)
            .max()
            .unwrap_or(0);
        wave_of.entry(mail.message_id.as_str()).or_insert(wave);
        out.push(wave);
    }
    out
}

fn backoff(options: &PollOptions, failures: u32) -> Duration {
    let base = options.min_backoff.as_secs_f64() * 2f64.powi(failures.saturating_sub(1).min(20) as i32);
    let capped = base.min(options.max_backoff.as_secs_f64());
    Duration::from_secs_f64(rand::random_range(capped / 2.0..=capped))
}
