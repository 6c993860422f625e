//! The rule journal: what the executor promised to do for one event on one
//! ticket, and how far it got. See `docs/executor.md`.
//!
//! A row is written before the first helpdesk call of a plan and updated
//! after each one, every time in one fsynced transaction; a mail step is
//! enqueued in the very transaction that records it done. The plan and the
//! progress are JSON the executor owns: the store keeps them opaque, so it
//! does not depend on the rule language.
//!
//! `rule_once` remembers which `once = "per_ticket"` rules fired on which
//! ticket, written in the transaction that marks the row applied.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::error::Fault;
use super::outbox::{Enqueued, GuardPolicy, NewOutboxMail, enqueue_in};
use super::{Store, StoreError, from_i64, parse_stamp, stamp, to_i64};

/// Where a journal row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalState {
    /// Recorded; some steps may be done, some may be in flight.
    Planned,
    /// Every step is done: applying the event again has no effect.
    Applied,
    /// Given up (a refused write, too many conflicts); `error` says why.
    Failed,
}

impl JournalState {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            JournalState::Planned => "planned",
            JournalState::Applied => "applied",
            JournalState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<JournalState, Fault> {
        Ok(match text {
            "planned" => JournalState::Planned,
            "applied" => JournalState::Applied,
            "failed" => JournalState::Failed,
            other => {
                return Err(Fault::Invalid(format!(
                    "stored journal state {other:?} is unknown"
                )));
            }
        })
    }
}

/// A journal row to write before anything is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJournalEntry {
    /// The event's identity (ticket and triggering version).
    pub key: String,
    pub ticket_id: u64,
    /// What triggered it, for listings (`updated:…`, `mail:…`).
    pub trigger: String,
    pub rules_hash: String,
    /// The plan, as JSON.
    pub plan: String,
    /// The progress, as JSON.
    pub progress: String,
}

/// One journal row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub key: String,
    pub ticket_id: u64,
    pub trigger: String,
    pub rules_hash: String,
    pub state: JournalState,
    pub plan: String,
    pub progress: String,
    /// How many times applying it started (a first apply, then resumes).
    pub attempts: u32,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "key, ticket_id, trigger, rules_hash, state, plan, progress, attempts, error, created_at, updated_at";

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<RawEntry> {
    Ok(RawEntry {
        key: row.get(0)?,
        ticket_id: row.get(1)?,
        trigger: row.get(2)?,
        rules_hash: row.get(3)?,
        state: row.get(4)?,
        plan: row.get(5)?,
        progress: row.get(6)?,
        attempts: row.get(7)?,
        error: row.get(8)?,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
    })
}

/// A row before its text columns are decoded.
struct RawEntry {
    key: String,
    ticket_id: i64,
    trigger: String,
    rules_hash: String,
    state: String,
    plan: String,
    progress: String,
    attempts: u32,
    error: Option<String>,
    created_at: String,
    updated_at: String,
}

impl RawEntry {
    fn into_entry(self) -> Result<JournalEntry, Fault> {
        Ok(JournalEntry {
            ticket_id: from_i64(self.ticket_id, "ticket id")?,
            state: JournalState::parse(&self.state)?,
            created_at: parse_stamp(&self.created_at)?,
            updated_at: parse_stamp(&self.updated_at)?,
            key: self.key,
            trigger: self.trigger,
            rules_hash: self.rules_hash,
            plan: self.plan,
            progress: self.progress,
            attempts: self.attempts,
            error: self.error,
        })
    }
}

fn get_in(conn: &rusqlite::Connection, key: &str) -> Result<Option<JournalEntry>, Fault> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM rule_journal WHERE key = ?1"))?
        .query_row([key], entry_from_row)
        .optional()?
        .map(RawEntry::into_entry)
        .transpose()
}

fn save_progress_in(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    plan: &str,
    progress: &str,
    now: &str,
) -> Result<(), Fault> {
    let changed = tx
        .prepare_cached(
            "UPDATE rule_journal SET plan = ?2, progress = ?3, updated_at = ?4
             WHERE key = ?1 AND state = 'planned'",
        )?
        .execute(params![key, plan, progress, now])?;
    if changed == 0 {
        return Err(Fault::Invalid(format!(
            "journal entry {key:?} is missing or no longer planned"
        )));
    }
    Ok(())
}

impl Store {
    /// Records `entry` as planned, unless its key is known: then the row
    /// as it is (applied, failed, or planned by an earlier attempt) comes
    /// back untouched but for one more attempt when still planned.
    pub fn journal_begin(&self, entry: &NewJournalEntry) -> Result<JournalEntry, StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("record journal entry {:?}", entry.key), |tx| {
            tx.prepare_cached(
                "INSERT INTO rule_journal (key, ticket_id, trigger, rules_hash, state, plan, progress,
                     attempts, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'planned', ?5, ?6, 0, ?7, ?7)
                 ON CONFLICT (key) DO NOTHING",
            )?
            .execute(params![
                entry.key,
                to_i64(entry.ticket_id)?,
                entry.trigger,
                entry.rules_hash,
                entry.plan,
                entry.progress,
                now
            ])?;
            tx.prepare_cached(
                "UPDATE rule_journal SET attempts = attempts + 1, updated_at = ?2
                 WHERE key = ?1 AND state = 'planned'",
            )?
            .execute(params![entry.key, now])?;
            get_in(tx, &entry.key)?
                .ok_or_else(|| Fault::Invalid(format!("journal entry {:?} vanished", entry.key)))
        })
    }

    /// The journal row with `key`.
    pub fn journal_entry(&self, key: &str) -> Result<Option<JournalEntry>, StoreError> {
        self.read(&format!("read journal entry {key:?}"), |conn| get_in(conn, key))
    }

    /// Every row still planned, oldest first: what a restart finishes.
    pub fn journal_pending(&self) -> Result<Vec<JournalEntry>, StoreError> {
        self.read("list the pending journal entries", |conn| {
            let raws = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM rule_journal WHERE state = 'planned' ORDER BY created_at, key"
                ))?
                .query_map([], entry_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(RawEntry::into_entry).collect()
        })
    }

    /// Every row, oldest first: what the rules did, for listings such as
    /// `carteiro demo`'s table.
    pub fn journal_all(&self) -> Result<Vec<JournalEntry>, StoreError> {
        self.read("list the journal", |conn| {
            let raws = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM rule_journal ORDER BY created_at, key"
                ))?
                .query_map([], entry_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(RawEntry::into_entry).collect()
        })
    }

    /// Saves the plan (it changes on a re-plan) and the progress of a
    /// planned row.
    pub fn journal_progress(&self, key: &str, plan: &str, progress: &str) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("save the progress of journal entry {key:?}"), |tx| {
            save_progress_in(tx, key, plan, progress, &now)
        })
    }

    /// Enqueues `mail` and saves `progress` (which records the mail step
    /// done) in one transaction: the mail is queued exactly when its step
    /// is recorded done.
    pub fn journal_enqueue(
        &self,
        key: &str,
        plan: &str,
        progress: &str,
        mail: &NewOutboxMail,
        policy: &GuardPolicy,
    ) -> Result<Enqueued, StoreError> {
        let now = self.clock.now();
        let now_text = stamp(now);
        self.write(
            &format!("enqueue mail {:?} for journal entry {key:?}", mail.message_id),
            |tx| {
                let enqueued = enqueue_in(tx, mail, policy, now)?;
                save_progress_in(tx, key, plan, progress, &now_text)?;
                Ok(enqueued)
            },
        )
    }

    /// Marks a planned row applied with its final progress, and records the
    /// `once = "per_ticket"` rules among those that fired.
    pub fn journal_applied(
        &self,
        key: &str,
        progress: &str,
        once_rules: &[String],
    ) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("mark journal entry {key:?} applied"), |tx| {
            let ticket_id: i64 = tx
                .prepare_cached(
                    "UPDATE rule_journal SET state = 'applied', progress = ?2, updated_at = ?3
                     WHERE key = ?1 AND state = 'planned' RETURNING ticket_id",
                )?
                .query_row(params![key, progress, now], |row| row.get(0))
                .optional()?
                .ok_or_else(|| {
                    Fault::Invalid(format!("journal entry {key:?} is missing or no longer planned"))
                })?;
            for rule in once_rules {
                tx.prepare_cached(
                    "INSERT INTO rule_once (rule, ticket_id, journal_key, fired_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (rule, ticket_id) DO NOTHING",
                )?
                .execute(params![rule, ticket_id, key, now])?;
            }
            Ok(())
        })
    }

    /// Marks a planned row failed, saying why. Its done steps stay done.
    pub fn journal_failed(&self, key: &str, progress: &str, error: &str) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("mark journal entry {key:?} failed"), |tx| {
            tx.prepare_cached(
                "UPDATE rule_journal SET state = 'failed', progress = ?2, error = ?3, updated_at = ?4
                 WHERE key = ?1 AND state = 'planned'",
            )?
            .execute(params![key, progress, error, now])?;
            Ok(())
        })
    }

    /// Whether the `once = "per_ticket"` rule `rule` already fired on
    /// `ticket_id` (what the engine's `Context::fired_once` asks).
    pub fn fired_once(&self, rule: &str, ticket_id: u64) -> Result<bool, StoreError> {
        self.read(
            &format!("read whether rule {rule:?} fired on ticket {ticket_id}"),
            |conn| {
                Ok(conn
                    .prepare_cached("SELECT 1 FROM rule_once WHERE rule = ?1 AND ticket_id = ?2")?
                    .query_row(params![rule, to_i64(ticket_id)?], |_| Ok(()))
                    .optional()?
                    .is_some())
            },
        )
    }

    /// Every `(rule, ticket)` pair of `once = "per_ticket"` rules that
    /// fired, for a cache the engine's `fired_once` reads.
    pub fn fired_once_all(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.read("list the once rules that fired", |conn| {
            let rows = conn
                .prepare_cached("SELECT rule, ticket_id FROM rule_once ORDER BY rule, ticket_id")?
                .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(rule, id)| Ok((rule, from_i64(id, "ticket id")?)))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> NewJournalEntry {
        NewJournalEntry {
            key: key.to_owned(),
            ticket_id: 7,
            trigger: "version:1".to_owned(),
            rules_hash: "h1".to_owned(),
            plan: r#"{"steps":[]}"#.to_owned(),
            progress: "{}".to_owned(),
        }
    }

    fn policy() -> GuardPolicy {
        GuardPolicy {
            own_addresses: Vec::new(),
            robots: regex::Regex::new("^noreply@").expect("regex"),
            recipient_caps: Vec::new(),
            ticket_caps: Vec::new(),
        }
    }

    fn mail() -> NewOutboxMail {
        NewOutboxMail {
            message_id: "carteiro.7.abc@empresa.example".to_owned(),
            ticket_id: 7,
            envelope_from: "suporte@empresa.example".to_owned(),
            recipients: vec!["maria@cliente.example".to_owned()],
            subject: "Oi".to_owned(),
            raw: b"Subject: Oi\r\n\r\nOi\r\n".to_vec(),
        }
    }

    #[test]
    fn a_key_begun_twice_keeps_its_first_plan_and_counts_attempts() {
        let store = Store::open_in_memory().expect("store");
        let first = store.journal_begin(&entry("7/version:1")).expect("begin");
        assert_eq!((first.state, first.attempts), (JournalState::Planned, 1));
        let mut other = entry("7/version:1");
        other.plan = r#"{"steps":["other"]}"#.to_owned();
        let second = store.journal_begin(&other).expect("begin again");
        assert_eq!(second.attempts, 2);
        assert_eq!(second.plan, r#"{"steps":[]}"#, "the recorded plan stays");
        assert_eq!(store.journal_pending().expect("pending").len(), 1);

        store
            .journal_applied("7/version:1", r#"{"done":[]}"#, &["boas-vindas".to_owned()])
            .expect("applied");
        assert!(store.journal_pending().expect("pending").is_empty());
        let third = store
            .journal_begin(&entry("7/version:1"))
            .expect("begin after applied");
        assert_eq!((third.state, third.attempts), (JournalState::Applied, 2));
        assert!(store.fired_once("boas-vindas", 7).expect("once"));
        let err = store
            .journal_progress("7/version:1", "{}", "{}")
            .expect_err("an applied row takes no progress");
        assert!(err.to_string().contains("no longer planned"), "{err}");
    }

    #[test]
    fn a_mail_is_queued_only_with_its_step_recorded() {
        let store = Store::open_in_memory().expect("store");
        let err = store
            .journal_enqueue("missing", "{}", "{}", &mail(), &policy())
            .expect_err("no journal row");
        assert!(err.to_string().contains("missing or no longer planned"), "{err}");
        assert!(store.outbox_list(true).expect("outbox").is_empty(), "rolled back");

        store.journal_begin(&entry("7/mail:x")).expect("begin");
        let queued = store
            .journal_enqueue("7/mail:x", "{}", r#"{"done":["r#0"]}"#, &mail(), &policy())
            .expect("enqueue");
        assert!(matches!(queued, Enqueued::Queued { .. }), "{queued:?}");
        let again = store
            .journal_enqueue("7/mail:x", "{}", r#"{"done":["r#0"]}"#, &mail(), &policy())
            .expect("enqueue again");
        assert!(matches!(again, Enqueued::AlreadyQueued { .. }), "{again:?}");
        assert_eq!(store.outbox_list(true).expect("outbox").len(), 1);
        let row = store.journal_entry("7/mail:x").expect("read").expect("row");
        assert_eq!(row.progress, r#"{"done":["r#0"]}"#);
    }
}
