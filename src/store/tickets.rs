//! Tickets as the store remembers them: one snapshot per ticket (its last
//! seen version and the clocks computed from its history), the roles of
//! the people who write on tickets, and the durable queue of ticket events.
//!
//! The ticket poller writes all three: snapshots and events together with
//! the export cursor in [`Store::queue_poll`], so a crash between the poll
//! and its processing loses no event and repeats none. The rule engine
//! reads the queue oldest first ([`Store::pending_ticket_events`]) and
//! marks each event done; the executor saves a snapshot after its own
//! writes ([`Store::save_snapshot`]) so the poller does not take them for
//! someone else's change. Schedules sweep the snapshots
//! ([`Store::sweep_snapshots`]) instead of reading every ticket from
//! Zendesk.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::error::Fault;
use super::{Store, StoreError, from_i64, parse_optional_stamp, parse_stamp, stamp, to_i64};
use crate::helpdesk::clocks::TicketClocks;
use crate::helpdesk::{Id, Role, User};
use crate::rules::MailFacts;
use crate::tickets::{Snapshot, TicketChange, TicketEvent, TicketEventKind};

const SELECT_SNAPSHOT: &str = "SELECT ticket, status_changed_at, custom_status_changed_at, \
     last_requester_comment_at, last_agent_public_comment_at, assigned_at, solved_at, last_audit_id \
     FROM ticket_snapshot";

impl Store {
    /// The snapshot of ticket `id`, or `None` when carteiro never saw it.
    pub fn snapshot(&self, id: Id) -> Result<Option<Snapshot>, StoreError> {
        self.read(&format!("read the snapshot of ticket {id}"), |conn| {
            let raw = conn
                .prepare_cached(&format!("{SELECT_SNAPSHOT} WHERE ticket_id = ?1"))?
                .query_row([to_i64(id)?], RawSnapshot::from_row)
                .optional()?;
            raw.map(RawSnapshot::into_snapshot).transpose()
        })
    }

    /// Saves (replaces) the snapshot of one ticket. The executor calls it
    /// with the ticket its own update answered, so the poller's next diff
    /// holds only what others changed.
    pub fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(
            &format!("save the snapshot of ticket {}", snapshot.ticket.id),
            |tx| save_snapshot_in(tx, snapshot, &now),
        )
    }

    /// Up to `limit` snapshots of tickets that are neither closed nor
    /// deleted, by ticket id, after `after_id` (exclusive): a schedule
    /// sweeps them page by page, passing the last id it got.
    pub fn sweep_snapshots(&self, after_id: Option<Id>, limit: usize) -> Result<Vec<Snapshot>, StoreError> {
        self.summary_snapshots(after_id, limit, None)
    }

    /// Like [`Store::sweep_snapshots`], plus the closed tickets updated
    /// at or after `closed_since`: what a report over a period since then
    /// counts (a ticket created or solved in the period has been updated
    /// since). `None` adds no closed ticket.
    pub fn summary_snapshots(
        &self,
        after_id: Option<Id>,
        limit: usize,
        closed_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<Snapshot>, StoreError> {
        self.read("read a page of ticket snapshots", |conn| {
            let after = match after_id {
                Some(id) => to_i64(id)?,
                None => -1,
            };
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let raws = conn
                .prepare_cached(&format!(
                    "{SELECT_SNAPSHOT} WHERE ticket_id > ?1 AND status != 'deleted'
                         AND (status != 'closed' OR updated_at >= ?2)
                     ORDER BY ticket_id LIMIT ?3"
                ))?
                // Without a period, NULL: `updated_at >= NULL` holds for no row.
                .query_map(
                    params![after, closed_since.map(stamp), limit],
                    RawSnapshot::from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(RawSnapshot::into_snapshot).collect()
        })
    }

    /// How many tickets have a snapshot (deleted ones included).
    pub fn snapshot_count(&self) -> Result<u64, StoreError> {
        self.read("count the ticket snapshots", |conn| {
            let count: i64 = conn
                .prepare_cached("SELECT count(*) FROM ticket_snapshot")?
                .query_row([], |row| row.get(0))?;
            from_i64(count, "snapshot count")
        })
    }

    /// The known roles of `ids`; an id never seen is left out.
    pub fn person_roles(&self, ids: &[Id]) -> Result<HashMap<Id, Role>, StoreError> {
        self.read("read the roles of helpdesk people", |conn| {
            let mut statement = conn.prepare_cached("SELECT role FROM helpdesk_person WHERE user_id = ?1")?;
            let mut roles = HashMap::with_capacity(ids.len());
            for &id in ids {
                let role: Option<String> = statement.query_row([to_i64(id)?], |row| row.get(0)).optional()?;
                if let Some(role) = role {
                    roles.insert(id, parse_role(&role)?);
                }
            }
            Ok(roles)
        })
    }

    /// A person as remembered: id, role, e-mail and name (the rest of the
    /// user is not kept).
    pub fn person(&self, id: Id) -> Result<Option<User>, StoreError> {
        self.read(&format!("read helpdesk person {id}"), |conn| {
            let row: Option<(String, Option<String>, String)> = conn
                .prepare_cached("SELECT role, email, name FROM helpdesk_person WHERE user_id = ?1")?
                .query_row([to_i64(id)?], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .optional()?;
            let Some((role, email, name)) = row else {
                return Ok(None);
            };
            let user = serde_json::json!({ "id": id, "role": role, "email": email, "name": name });
            serde_json::from_value(user)
                .map(Some)
                .map_err(|e| Fault::Invalid(format!("helpdesk person {id}: {e}")))
        })
    }

    /// Remembers (or refreshes) the role, e-mail and name of `users`.
    pub fn save_people(&self, users: &[User]) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("save {} helpdesk people", users.len()), |tx| {
            let mut statement = tx.prepare_cached(
                "INSERT INTO helpdesk_person (user_id, role, email, name, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (user_id) DO UPDATE SET role = excluded.role, email = excluded.email,
                     name = excluded.name, updated_at = excluded.updated_at",
            )?;
            for user in users {
                statement.execute(params![
                    to_i64(user.id)?,
                    role_name(user.role),
                    user.email,
                    user.name,
                    now
                ])?;
            }
            Ok(())
        })
    }

    /// What one poll learned, in one transaction: the snapshots replaced,
    /// the events queued (in order), and the export cursor saved as
    /// `cursor_name`. A crash leaves all of it or none, so the next poll
    /// starts from the old cursor and finds the same changes again.
    pub fn queue_poll(
        &self,
        snapshots: &[Snapshot],
        events: &[TicketEvent],
        cursor_name: &str,
        cursor_value: &str,
    ) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        let operation = format!(
            "save a ticket poll ({} snapshots, {} events)",
            snapshots.len(),
            events.len()
        );
        self.write(&operation, |tx| {
            for snapshot in snapshots {
                save_snapshot_in(tx, snapshot, &now)?;
            }
            let mut queue = tx.prepare_cached(
                "INSERT INTO ticket_event (ticket_id, kind, version, change, queued_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for event in events {
                let change = serde_json::to_string(&event.change)
                    .map_err(|e| Fault::Invalid(format!("cannot encode the change: {e}")))?;
                queue.execute(params![
                    to_i64(event.ticket_id)?,
                    kind_name(event.kind),
                    stamp(event.version),
                    change,
                    now
                ])?;
            }
            tx.prepare_cached(
                "INSERT INTO cursor (name, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )?
            .execute(params![cursor_name, cursor_value, now])?;
            Ok(())
        })
    }

    /// Up to `limit` events not yet marked done, oldest first, each with
    /// its queue id for [`Store::finish_ticket_event`].
    pub fn pending_ticket_events(&self, limit: usize) -> Result<Vec<(i64, TicketEvent)>, StoreError> {
        self.read("list the pending ticket events", |conn| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = conn
                .prepare_cached(
                    "SELECT id, ticket_id, kind, version, change FROM ticket_event
                     WHERE done_at IS NULL ORDER BY id LIMIT ?1",
                )?
                .query_map([limit], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(id, ticket_id, kind, version, change)| {
                    let kind = match kind.as_str() {
                        "created" => TicketEventKind::Created,
                        "updated" => TicketEventKind::Updated,
                        other => {
                            return Err(Fault::Invalid(format!(
                                "stored ticket event kind {other:?} is not one carteiro knows"
                            )));
                        }
                    };
                    let change: TicketChange = serde_json::from_str(&change).map_err(|e| {
                        Fault::Invalid(format!("stored change of ticket event {id} does not decode: {e}"))
                    })?;
                    Ok((
                        id,
                        TicketEvent {
                            kind,
                            ticket_id: from_i64(ticket_id, "ticket id")?,
                            version: parse_stamp(&version)?,
                            change,
                        },
                    ))
                })
                .collect()
        })
    }

    /// Marks queued event `id` done; it is no longer pending. Marking it
    /// again changes nothing.
    pub fn finish_ticket_event(&self, id: i64) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("mark ticket event {id} done"), |tx| {
            let changed = tx
                .prepare_cached("UPDATE ticket_event SET done_at = coalesce(done_at, ?2) WHERE id = ?1")?
                .execute(params![id, now])?;
            if changed == 0 {
                return Err(Fault::Invalid(format!("there is no ticket event {id}")));
            }
            Ok(())
        })
    }

    /// Up to `limit` queued `mail.received` events, oldest first: the
    /// queue id, the ticket, and the mail as rules see it.
    pub fn pending_mail_events(&self, limit: usize) -> Result<Vec<(i64, Id, MailFacts)>, StoreError> {
        self.read("list the pending mail events", |conn| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = conn
                .prepare_cached(
                    "SELECT id, ticket_id, facts FROM mail_event WHERE done_at IS NULL ORDER BY id LIMIT ?1",
                )?
                .query_map([limit], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(id, ticket_id, facts)| {
                    let facts: MailFacts = serde_json::from_str(&facts).map_err(|e| {
                        Fault::Invalid(format!("stored mail event {id} does not decode: {e}"))
                    })?;
                    Ok((id, from_i64(ticket_id, "ticket id")?, facts))
                })
                .collect()
        })
    }

    /// Marks queued mail event `id` done.
    pub fn finish_mail_event(&self, id: i64) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("mark mail event {id} done"), |tx| {
            let changed = tx
                .prepare_cached("UPDATE mail_event SET done_at = coalesce(done_at, ?2) WHERE id = ?1")?
                .execute(params![id, now])?;
            if changed == 0 {
                return Err(Fault::Invalid(format!("there is no mail event {id}")));
            }
            Ok(())
        })
    }
}

/// Replaces one snapshot inside `tx`.
fn save_snapshot_in(tx: &Transaction<'_>, snapshot: &Snapshot, now: &str) -> Result<(), Fault> {
    let ticket = &snapshot.ticket;
    let json = serde_json::to_string(ticket)
        .map_err(|e| Fault::Invalid(format!("cannot encode ticket {}: {e}", ticket.id)))?;
    let clocks = &snapshot.clocks;
    tx.prepare_cached(
        "INSERT INTO ticket_snapshot (ticket_id, status, updated_at, ticket, status_changed_at,
             custom_status_changed_at, last_requester_comment_at, last_agent_public_comment_at,
             assigned_at, solved_at, last_audit_id, saved_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (ticket_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at,
             ticket = excluded.ticket, status_changed_at = excluded.status_changed_at,
             custom_status_changed_at = excluded.custom_status_changed_at,
             last_requester_comment_at = excluded.last_requester_comment_at,
             last_agent_public_comment_at = excluded.last_agent_public_comment_at,
             assigned_at = excluded.assigned_at, solved_at = excluded.solved_at,
             last_audit_id = excluded.last_audit_id, saved_at = excluded.saved_at
         -- The poller and the executor both save snapshots: an older
         -- version of the ticket never replaces a newer one.
         WHERE excluded.updated_at >= ticket_snapshot.updated_at",
    )?
    .execute(params![
        to_i64(ticket.id)?,
        ticket.status.as_str(),
        stamp(ticket.updated_at),
        json,
        clocks.status_changed_at.map(stamp),
        clocks.custom_status_changed_at.map(stamp),
        clocks.last_requester_comment_at.map(stamp),
        clocks.last_agent_public_comment_at.map(stamp),
        clocks.assigned_at.map(stamp),
        clocks.solved_at.map(stamp),
        snapshot.last_audit_id.map(to_i64).transpose()?,
        now,
    ])?;
    Ok(())
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::EndUser => "end-user",
        Role::Agent => "agent",
        Role::Admin => "admin",
    }
}

fn parse_role(text: &str) -> Result<Role, Fault> {
    match text {
        "end-user" => Ok(Role::EndUser),
        "agent" => Ok(Role::Agent),
        "admin" => Ok(Role::Admin),
        other => Err(Fault::Invalid(format!(
            "stored role {other:?} is not one carteiro knows"
        ))),
    }
}

fn kind_name(kind: TicketEventKind) -> &'static str {
    match kind {
        TicketEventKind::Created => "created",
        TicketEventKind::Updated => "updated",
    }
}

/// A `ticket_snapshot` row before decoding. The clocks have columns of
/// their own (for sweeps and the `sqlite3` shell); the ticket is JSON.
struct RawSnapshot {
    ticket: String,
    clocks: [Option<String>; 6],
    last_audit_id: Option<i64>,
}

impl RawSnapshot {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawSnapshot> {
        Ok(RawSnapshot {
            ticket: row.get(0)?,
            clocks: [
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
            ],
            last_audit_id: row.get(7)?,
        })
    }

    fn into_snapshot(self) -> Result<Snapshot, Fault> {
        let ticket: crate::helpdesk::Ticket = serde_json::from_str(&self.ticket)
            .map_err(|e| Fault::Invalid(format!("a stored ticket snapshot does not decode: {e}")))?;
        let [status, custom_status, requester, agent, assigned, solved] = self.clocks;
        Ok(Snapshot {
            ticket,
            clocks: TicketClocks {
                status_changed_at: parse_optional_stamp(status)?,
                custom_status_changed_at: parse_optional_stamp(custom_status)?,
                last_requester_comment_at: parse_optional_stamp(requester)?,
                last_agent_public_comment_at: parse_optional_stamp(agent)?,
                assigned_at: parse_optional_stamp(assigned)?,
                solved_at: parse_optional_stamp(solved)?,
            },
            last_audit_id: self
                .last_audit_id
                .map(|id| from_i64(id, "audit id"))
                .transpose()?,
        })
    }
}
