//! The ticket poller: the source of `ticket.created` and `ticket.updated`
//! events. It reads Zendesk's incremental export from the saved cursor,
//! reads each changed ticket's audits, computes its clocks, diffs it with
//! its snapshot, and writes the new snapshots, the events and the cursor
//! in one transaction ([`Store::queue_poll`]). It only emits: the rule
//! engine, one serial consumer, plans and applies the queued events.
//!
//! The very first poll (no cursor saved yet) starts `initial_lookback`
//! ago and only takes a baseline: snapshots, no events, so a new install
//! does not act on what happened before it. After that, a ticket seen for
//! the first time is `Created` when it was created after the baseline's
//! start; an older one (it was quiet during the lookback) gets a baseline
//! snapshot too, since carteiro cannot tell what changed on it.
//!
//! A changed ticket whose `updated_at` equals its snapshot's is the
//! executor's own write, already recorded: it costs no request and makes
//! no event. The export can also bring carteiro's own write before the
//! executor recorded it (the two run side by side): a change whose new
//! audits are all carteiro's, authored by its own user with no comment by
//! anyone else, makes no event either, and carteiro's own comments never
//! count as an agent's in a mixed change. So the bot's writes do not
//! trigger rules however the poll and the write interleave. Any other changed ticket costs one `list_audits` (all its
//! pages); authors not seen before cost one `show_users` per poll (in
//! batches of 100), and are then remembered in the store.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio_util::sync::CancellationToken;

use super::{NewComment, Snapshot, TicketChange, TicketEvent, TicketEventKind, diff};
use crate::clock::Clock;
use crate::config::TicketsConfig;
use crate::helpdesk::clocks::ticket_clocks;
use crate::helpdesk::{
    Audit, ExportStart, HelpDesk, HelpDeskError, Id, Role, Status, Ticket, export_changes,
};
use crate::store::{Store, StoreError};

/// The store cursor holding the export position.
pub const EXPORT_CURSOR: &str = "zendesk_ticket_export";

/// The store cursor holding when the baseline's export started (RFC 3339):
/// tickets created before it are not `Created` when first seen.
pub const BASELINE_SINCE: &str = "zendesk_ticket_export_since";

/// The longest wait between two polls after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Why a poll failed. Nothing was saved; the next poll starts from the
/// same cursor.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("cannot read the ticket export from Zendesk: {0}")]
    Export(#[source] HelpDeskError),
    #[error("cannot read the audits of ticket {ticket_id} from Zendesk: {source}")]
    Audits { ticket_id: Id, source: HelpDeskError },
    #[error("cannot read the roles of comment authors from Zendesk: {0}")]
    People(#[source] HelpDeskError),
    #[error("cannot read carteiro's own Zendesk user: {0}")]
    Me(#[source] HelpDeskError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollSummary {
    /// Whether this was the first poll, a baseline without events.
    pub baseline: bool,
    /// Tickets the export returned.
    pub exported: usize,
    /// Of those, tickets whose snapshot already had this version (the
    /// executor's own writes).
    pub unchanged: usize,
    /// Snapshots written.
    pub saved: usize,
    /// Events queued, by kind.
    pub created: usize,
    pub updated: usize,
    /// Deleted tickets whose snapshot was marked deleted.
    pub deleted: usize,
    /// Changed tickets whose new audits were all carteiro's own writes.
    pub own: usize,
}

/// Follows the export and queues ticket events. See the module docs.
#[derive(Debug)]
pub struct TicketPoller<H: HelpDesk> {
    helpdesk: H,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    options: TicketsConfig,
    /// carteiro's own user (the API token's), read once.
    me: tokio::sync::OnceCell<Id>,
}

impl<H: HelpDesk> TicketPoller<H> {
    /// A poller reading `helpdesk` into `store`.
    pub fn new(helpdesk: H, store: Arc<Store>, clock: Arc<dyn Clock>, options: TicketsConfig) -> Self {
        TicketPoller {
            helpdesk,
            store,
            clock,
            options,
            me: tokio::sync::OnceCell::new(),
        }
    }

    /// carteiro's own user id, from `me` on the first call.
    async fn me(&self) -> Result<Id, PollError> {
        self.me
            .get_or_try_init(|| async { self.helpdesk.me().await.map(|user| user.id) })
            .await
            .copied()
            .map_err(PollError::Me)
    }

    /// Polls every `poll_interval` until `token` is cancelled; the first
    /// poll is at once. A failed poll is logged and retried after a wait
    /// that doubles with each failure in a row (up to ten minutes). A poll
    /// in flight at cancellation finishes (its write is one transaction).
    pub async fn run(self, token: CancellationToken) {
        let mut failures: u32 = 0;
        loop {
            match self.poll_once().await {
                Ok(summary) => {
                    failures = 0;
                    if summary.saved > 0 || summary.created + summary.updated > 0 {
                        tracing::info!(?summary, "ticket poll");
                    } else {
                        tracing::debug!(?summary, "ticket poll");
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, failures, "ticket poll failed; retrying later");
                }
            }
            let wait = backoff(self.options.poll_interval, failures);
            tokio::select! {
                () = token.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!("ticket poller stopped");
    }

    /// Reads the export once and queues what changed. See the module docs.
    pub async fn poll_once(&self) -> Result<PollSummary, PollError> {
        let cursor = self.store.cursor(EXPORT_CURSOR)?;
        let baseline = cursor.is_none();
        let since = self
            .store
            .cursor(BASELINE_SINCE)?
            .and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
            .map(|t| t.with_timezone(&Utc));
        let start = match cursor {
            Some(cursor) => ExportStart::Cursor(cursor),
            None => {
                let lookback = TimeDelta::from_std(self.options.initial_lookback).unwrap_or(TimeDelta::MAX);
                let at = self
                    .clock
                    .now()
                    .checked_sub_signed(lookback)
                    .unwrap_or(DateTime::UNIX_EPOCH);
                // Saved first: a crash before the cursor leaves a baseline
                // to take again, which overwrites it.
                self.store.set_cursor(BASELINE_SINCE, &at.to_rfc3339())?;
                ExportStart::Time(at)
            }
        };
        let (tickets, next) = export_changes(&self.helpdesk, start)
            .await
            .map_err(PollError::Export)?;
        let mut summary = PollSummary {
            baseline,
            exported: tickets.len(),
            ..PollSummary::default()
        };

        // What each ticket needs, and its audits.
        let mut snapshots = Vec::new();
        let mut work: Vec<(Ticket, Option<Snapshot>, Vec<Audit>)> = Vec::new();
        for ticket in tickets {
            let previous = self.store.snapshot(ticket.id)?;
            if let Some(previous) = &previous
                && same_version(&previous.ticket, &ticket)
            {
                summary.unchanged += 1;
                continue;
            }
            if ticket.status == Status::Deleted {
                // No history to read and nothing for rules: the snapshot
                // is kept, marked deleted, so sweeps leave it out.
                if let Some(previous) = previous {
                    summary.deleted += 1;
                    snapshots.push(Snapshot { ticket, ..previous });
                }
                continue;
            }
            let audits = match self.helpdesk.list_audits(ticket.id).await {
                Ok(audits) => audits,
                Err(HelpDeskError::NotFound { .. }) => {
                    // Deleted since the export was read; its deletion is a
                    // later change the next poll brings.
                    tracing::debug!(ticket_id = ticket.id, "ticket gone before its audits were read");
                    continue;
                }
                Err(source) => {
                    return Err(PollError::Audits {
                        ticket_id: ticket.id,
                        source,
                    });
                }
            };
            work.push((ticket, previous, audits));
        }

        let roles = self.roles_of(&work).await?;
        let me = if work.is_empty() || baseline {
            None
        } else {
            Some(self.me().await?)
        };
        let mut events = Vec::new();
        for (ticket, previous, audits) in work {
            let clocks = ticket_clocks(&ticket, &audits, &[], |id| roles.get(&id).copied());
            let last_audit_id = audits
                .iter()
                .map(|a| a.id)
                .max()
                .or(previous.as_ref().and_then(|p| p.last_audit_id));
            let event = match &previous {
                _ if baseline => None,
                _ if me.is_some_and(|me| only_own_audits(&audits, previous.as_ref(), me)) => {
                    summary.own += 1;
                    None
                }
                Some(previous) => {
                    let mut change = diff(&previous.ticket, &ticket);
                    change.comments = comments_since(&audits, Some(previous), &roles);
                    (!change.is_empty()).then_some((TicketEventKind::Updated, change))
                }
                None if since.is_some_and(|since| ticket.created_at < since) => None,
                None => Some((
                    TicketEventKind::Created,
                    TicketChange {
                        comments: comments_since(&audits, None, &roles),
                        ..TicketChange::default()
                    },
                )),
            };
            if let Some((kind, mut change)) = event {
                if let Some(me) = me {
                    change.comments.retain(|c| c.author_id != Some(me));
                }
                if change.is_empty() {
                    summary.own += 1;
                } else {
                    match kind {
                        TicketEventKind::Created => summary.created += 1,
                        TicketEventKind::Updated => summary.updated += 1,
                    }
                    events.push(TicketEvent {
                        kind,
                        ticket_id: ticket.id,
                        version: ticket.updated_at,
                        change,
                    });
                }
            }
            snapshots.push(Snapshot {
                ticket,
                clocks,
                last_audit_id,
            });
        }

        summary.saved = snapshots.len();
        match next {
            ExportStart::Cursor(cursor) => {
                self.store
                    .queue_poll(&snapshots, &events, EXPORT_CURSOR, &cursor)?
            }
            ExportStart::Time(_) => {
                // The export handed out no cursor (only possible on a
                // baseline, which has no events): keep the snapshots and
                // take the baseline again next time.
                for snapshot in &snapshots {
                    self.store.save_snapshot(snapshot)?;
                }
            }
        }
        Ok(summary)
    }

    /// The roles of every comment author in `work`: from the store, and
    /// the ones it does not know from Zendesk (then remembered).
    async fn roles_of(
        &self,
        work: &[(Ticket, Option<Snapshot>, Vec<Audit>)],
    ) -> Result<HashMap<Id, Role>, PollError> {
        let mut authors: Vec<Id> = work
            .iter()
            .flat_map(|(_, _, audits)| audits.iter())
            .flat_map(|audit| {
                audit
                    .events
                    .iter()
                    .filter(|e| is_comment(&e.event_type))
                    .filter_map(|e| e.author_id.or(audit.author_id))
            })
            .collect::<HashSet<Id>>()
            .into_iter()
            .collect();
        authors.sort_unstable();
        let mut roles = self.store.person_roles(&authors)?;
        let unknown: Vec<Id> = authors.into_iter().filter(|id| !roles.contains_key(id)).collect();
        if !unknown.is_empty() {
            let users = self
                .helpdesk
                .show_users(&unknown)
                .await
                .map_err(PollError::People)?;
            self.store.save_people(&users)?;
            roles.extend(users.iter().map(|u| (u.id, u.role)));
        }
        Ok(roles)
    }
}

/// Whether the audits the `previous` snapshot has not seen (all of them
/// without one) exist and are all carteiro's own: authored by `me`, with
/// every comment in them by `me` too. Ingest writes as `me` but puts the
/// customer's comment under the customer, so a mail's comment is never
/// "own".
fn only_own_audits(audits: &[Audit], previous: Option<&Snapshot>, me: Id) -> bool {
    let mut new = audits.iter().filter(|a| is_new(a, previous)).peekable();
    new.peek().is_some()
        && new.all(|audit| {
            audit.author_id == Some(me)
                && audit
                    .events
                    .iter()
                    .filter(|e| is_comment(&e.event_type))
                    .all(|e| e.author_id.or(audit.author_id) == Some(me))
        })
}

/// Whether `audit` is newer than what the `previous` snapshot has seen. See
/// [`comments_since`].
fn is_new(audit: &Audit, previous: Option<&Snapshot>) -> bool {
    previous.is_none_or(|p| {
        p.last_audit_id.is_none_or(|seen| audit.id > seen) && audit.created_at > p.ticket.updated_at
    })
}

fn is_comment(event_type: &str) -> bool {
    matches!(event_type, "Comment" | "VoiceComment")
}

/// The comments of audits the `previous` snapshot has not seen (all of
/// them without one), oldest first. An audit is new when it is newer than
/// `last_audit_id` and than the snapshot's `updated_at`: a snapshot the
/// executor saved after its own write may not know that write's audit, but
/// its ticket already has the write's `updated_at`.
pub(crate) fn comments_since(
    audits: &[Audit],
    previous: Option<&Snapshot>,
    roles: &HashMap<Id, Role>,
) -> Vec<NewComment> {
    let mut audits: Vec<&Audit> = audits.iter().filter(|a| is_new(a, previous)).collect();
    audits.sort_by_key(|a| (a.created_at, a.id));
    audits
        .into_iter()
        .flat_map(|audit| {
            audit
                .events
                .iter()
                .filter(|e| is_comment(&e.event_type))
                .map(move |event| {
                    let author_id = event.author_id.or(audit.author_id);
                    NewComment {
                        id: event.id,
                        author_id,
                        author_role: author_id.and_then(|id| roles.get(&id).copied()),
                        public: event.public.unwrap_or(false),
                        body: event
                            .plain_body
                            .clone()
                            .or_else(|| event.body.clone())
                            .unwrap_or_default(),
                        created_at: audit.created_at,
                    }
                })
        })
        .collect()
}

/// The wait before the next poll: the interval, doubled per failure in a
/// row, at most [`MAX_BACKOFF`] (or the interval, when that is longer).
fn backoff(interval: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return interval;
    }
    let doubled = interval.saturating_mul(1 << failures.min(10));
    doubled.min(MAX_BACKOFF.max(interval))
}

/// Whether `exported` is the version of the ticket `known` already is.
/// Zendesk's `updated_at` is whole seconds, so two changes within one
/// second share it: equal `updated_at` and equal fields is the same
/// version; a field that differs under the same `updated_at` is a change
/// made within the second of the last one read.
fn same_version(known: &Ticket, exported: &Ticket) -> bool {
    if known.updated_at != exported.updated_at {
        return false;
    }
    let mut known = known.clone();
    let mut exported = exported.clone();
    known.generated_timestamp = None;
    exported.generated_timestamp = None;
    known == exported
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_per_failure_up_to_ten_minutes() {
        let interval = Duration::from_secs(30);
        assert_eq!(backoff(interval, 0), interval);
        assert_eq!(backoff(interval, 1), Duration::from_secs(60));
        assert_eq!(backoff(interval, 3), Duration::from_secs(240));
        assert_eq!(backoff(interval, 40), Duration::from_secs(600));
        assert_eq!(backoff(Duration::from_secs(900), 2), Duration::from_secs(900));
    }
}
