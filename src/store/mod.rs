//! Durable state: what carteiro must remember across restarts so that every
//! mail becomes exactly one ticket or comment.
//!
//! It sits beside the data flow rather than in it: mailboxes read and write
//! their sync positions, ingest reads the dedupe record and the Message-ID
//! map before planning, and writes intents before and outcomes after each
//! helpdesk call; the Zendesk export keeps its cursor here.
//!
//! One SQLite file, in WAL mode with `synchronous = FULL`: **every write is
//! fsynced before the call returns**, because a mail flagged `\Seen` after
//! a write that was not durable would be lost. Each call that touches
//! several rows is one transaction, so a crash leaves either all of it or
//! none. The connection sits behind a `Mutex`, which makes the store
//! `Send + Sync`; calls are short (one small transaction), so async callers
//! call them directly rather than through `spawn_blocking`. A second process
//! on the same file waits up to [`BUSY_TIMEOUT`] for the write lock.
//!
//! The schema is versioned (see [`migrations`]); opening a file migrates it
//! forward, and a file from a newer carteiro is refused. The table layout
//! is described there.

mod error;
pub mod journal;
mod migrations;
mod model;
pub mod outbox;
mod tickets;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use crate::clock::{Clock, SystemClock};

pub use error::StoreError;
pub use model::{
    Direction, Intent, IntentAction, MailboxState, NewQuarantine, Outcome, ProcessedMail, QuarantineEntry,
};

pub use journal::{JournalEntry, JournalState, NewJournalEntry};
pub use outbox::{
    Enqueued, GuardPolicy, NewOutboxMail, OutboxEntry, OutboxState, Suppression, SuppressionCount, WindowCap,
};

pub(crate) use error::Fault;

/// How long a call waits for another process holding the write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The state store. See the module documentation for its guarantees.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    /// The file, or `:memory:`; named in every error.
    path: PathBuf,
    /// Stamps the times the store sets itself (`linked_at`, `created_at`,
    /// `last_attempt_at`, …).
    clock: Arc<dyn Clock>,
}

impl Store {
    /// Opens (creating it when missing) the store at `path` and migrates its
    /// schema. The directory must exist; it is not created. On Unix a new
    /// file is created readable by its owner only, since it holds mails.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(StoreError::MissingDirectory {
                path: path.to_path_buf(),
                dir: dir.to_path_buf(),
            });
        }
        let fail = |operation: &str| {
            let operation = operation.to_owned();
            move |cause| StoreError::Sqlite {
                path: path.to_path_buf(),
                operation,
                cause,
            }
        };
        create_private(path).map_err(|e| StoreError::Invalid {
            path: path.to_path_buf(),
            operation: "create the file".to_owned(),
            problem: e.to_string(),
        })?;
        let conn = Connection::open(path).map_err(fail("open the file"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(fail("set the busy timeout"))?;
        let mode = switch_to_wal(&conn).map_err(fail("switch to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Invalid {
                path: path.to_path_buf(),
                operation: "switch to WAL mode".to_owned(),
                problem: format!("SQLite kept journal mode {mode:?}; the file system may not support WAL"),
            });
        }
        Store::setup(conn, path.to_path_buf())
    }

    /// Opens an existing store file for reading only (`carteiro dry-run`):
    /// nothing is created, migrated or written. A file from another
    /// version of carteiro is refused, since it cannot be migrated here.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let fail = |operation: &str| {
            let operation = operation.to_owned();
            move |cause| StoreError::Sqlite {
                path: path.to_path_buf(),
                operation,
                cause,
            }
        };
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(fail("open the file read-only"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(fail("set the busy timeout"))?;
        let found = migrations::version(&conn).map_err(fail("read the schema version"))?;
        let latest = migrations::latest();
        if found != latest {
            return Err(StoreError::Invalid {
                path: path.to_path_buf(),
                operation: "open the file read-only".to_owned(),
                problem: format!(
                    "its schema is version {found} and this carteiro reads version {latest}; run `carteiro run` \
                     once to migrate it"
                ),
            });
        }
        Ok(Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            clock: Arc::new(SystemClock),
        })
    }

    /// A store in memory, gone when dropped: for unit tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|cause| StoreError::Sqlite {
            path: path.clone(),
            operation: "open the file".to_owned(),
            cause,
        })?;
        Store::setup(conn, path)
    }

    /// The pragmas every connection needs, then the migrations.
    fn setup(mut conn: Connection, path: PathBuf) -> Result<Store, StoreError> {
        let fail = |operation: &str, cause| StoreError::Sqlite {
            path: path.clone(),
            operation: operation.to_owned(),
            cause,
        };
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| fail("set synchronous = FULL", e))?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(|e| fail("turn foreign keys on", e))?;
        migrations::migrate(&mut conn, migrations::MIGRATIONS).map_err(|e| match e {
            migrations::MigrateError::Sqlite { step, cause } => fail(&step, cause),
            migrations::MigrateError::TooNew { found, supported } => StoreError::TooNew {
                path: path.clone(),
                found,
                supported,
            },
            migrations::MigrateError::Foreign(reason) => StoreError::NotAStore {
                path: path.clone(),
                reason,
            },
        })?;
        Ok(Store {
            conn: Mutex::new(conn),
            path,
            clock: Arc::new(SystemClock),
        })
    }

    /// The same store, stamping its own times from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Store {
        self.clock = clock;
        self
    }

    /// The file the store lives in (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the file, after migration the latest this
    /// carteiro knows.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.read("read the schema version", |conn| Ok(migrations::version(conn)?))
    }

    /// The schema version this carteiro creates and migrates to.
    pub fn latest_schema_version() -> u32 {
        migrations::latest()
    }

    // ----- mailbox sync state -------------------------------------------

    /// Where the mailbox named `mailbox` stands, or `None` before its first
    /// sync.
    pub fn mailbox_state(&self, mailbox: &str) -> Result<Option<MailboxState>, StoreError> {
        self.read(&format!("read the sync state of mailbox {mailbox:?}"), |conn| {
            Ok(conn
                .prepare_cached("SELECT uidvalidity, last_uid FROM mailbox_state WHERE mailbox = ?1")?
                .query_row([mailbox], |row| {
                    Ok(MailboxState {
                        uidvalidity: row.get(0)?,
                        last_uid: row.get(1)?,
                    })
                })
                .optional()?)
        })
    }

    /// Replaces the sync state of `mailbox`. Call it only once every mail
    /// up to `state.last_uid` has its outcome recorded.
    pub fn set_mailbox_state(&self, mailbox: &str, state: MailboxState) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("save the sync state of mailbox {mailbox:?}"), |tx| {
            tx.prepare_cached(
                "INSERT INTO mailbox_state (mailbox, uidvalidity, last_uid, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity,
                     last_uid = excluded.last_uid, updated_at = excluded.updated_at",
            )?
            .execute(params![mailbox, state.uidvalidity, state.last_uid, now])?;
            Ok(())
        })
    }

    // ----- processed mails ----------------------------------------------

    /// The record of the mail with this Message-ID, when it was processed
    /// (in any mailbox).
    pub fn processed(&self, message_id: &str) -> Result<Option<ProcessedMail>, StoreError> {
        self.read(&format!("read the record of mail {message_id:?}"), |conn| {
            let raw = conn
                .prepare_cached(
                    "SELECT message_id, raw_sha256, mailbox, uidvalidity, uid, outcome, reason,
                            quarantine_id, ticket_id, processed_at
                     FROM processed_mail WHERE message_id = ?1",
                )?
                .query_row([message_id], RawProcessed::from_row)
                .optional()?;
            raw.map(RawProcessed::into_processed).transpose()
        })
    }

    /// Whether a mail with exactly these raw bytes (by SHA-256, lowercase
    /// hex) was processed, whatever its Message-ID.
    pub fn is_processed_hash(&self, raw_sha256: &str) -> Result<bool, StoreError> {
        self.read("look up a mail by its hash", |conn| {
            Ok(conn
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM processed_mail WHERE raw_sha256 = ?1)")?
                .query_row([raw_sha256], |row| row.get(0))?)
        })
    }

    /// Records what became of a mail, in one transaction with its
    /// consequences: the Message-ID is linked to `mail.ticket_id` (as
    /// [`Direction::In`]) when there is one, and the mail's pending intent
    /// is cleared. Either all three happen or none.
    ///
    /// A mail is recorded once. Recording it again replaces the record only
    /// when the earlier one is [`Outcome::Quarantined`] (a retry's result);
    /// the same outcome and ticket again is accepted and changes nothing;
    /// anything else is [`StoreError::AlreadyProcessed`].
    pub fn record_processed(&self, mail: &ProcessedMail) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        let operation = format!("record mail {:?} as {}", mail.message_id, mail.outcome.name());
        self.write(&operation, |tx| record_in(tx, mail, &now))
    }

    /// Records many mails in one transaction: one commit for a whole batch
    /// instead of one per mail. Each is recorded as by
    /// [`Store::record_processed`]; one refused as already processed is left
    /// out (and answered in its slot) without failing the others. Any other
    /// error writes none of them.
    ///
    /// `users` are helpdesk user ids to remember, as by
    /// [`Store::set_helpdesk_user`], in the same transaction.
    pub fn record_processed_many(
        &self,
        mails: &[ProcessedMail],
        users: &[(String, u64)],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let now = stamp(self.clock.now());
        let operation = format!("record {} mails", mails.len());
        let outcomes = self.write(&operation, |tx| {
            for (email, user_id) in users {
                save_user(tx, email, *user_id, &now)?;
            }
            let mut outcomes = Vec::with_capacity(mails.len());
            for mail in mails {
                tx.execute_batch("SAVEPOINT one_mail")?;
                match record_in(tx, mail, &now) {
                    Ok(()) => {
                        tx.execute_batch("RELEASE one_mail")?;
                        outcomes.push(Ok(()));
                    }
                    Err(Fault::AlreadyProcessed(earlier)) => {
                        tx.execute_batch("ROLLBACK TO one_mail; RELEASE one_mail")?;
                        outcomes.push(Err(Fault::AlreadyProcessed(earlier)));
                    }
                    Err(other) => return Err(other),
                }
            }
            Ok(outcomes)
        })?;
        Ok(outcomes
            .into_iter()
            .zip(mails)
            .map(|(outcome, mail)| {
                outcome.map_err(|fault| {
                    fault.into_error(
                        self.path.clone(),
                        format!("record mail {:?} as {}", mail.message_id, mail.outcome.name()),
                    )
                })
            })
            .collect())
    }

    // ----- intents ------------------------------------------------------

    /// Records that a helpdesk write for `intent.message_id` is about to be
    /// made, replacing an earlier intent for the same mail. Durable when it
    /// returns, so make the call only after it does.
    pub fn begin_intent(&self, intent: &Intent) -> Result<(), StoreError> {
        self.write(
            &format!("record an intent for mail {:?}", intent.message_id),
            |tx| intent_in(tx, intent, true).map(|_| ()),
        )
    }

    /// Records many intents in one transaction, each only where its mail
    /// has none pending (a pending one may stand for a write already
    /// attempted, and is kept). Answers, per intent, whether it was written.
    pub fn begin_intents_where_absent(&self, intents: &[Intent]) -> Result<Vec<bool>, StoreError> {
        self.write(&format!("record {} intents", intents.len()), |tx| {
            intents
                .iter()
                .map(|intent| intent_in(tx, intent, false))
                .collect()
        })
    }

    /// The intent written for this mail and not yet cleared by
    /// [`Store::record_processed`]: its write may or may not have happened.
    pub fn pending_intent(&self, message_id: &str) -> Result<Option<Intent>, StoreError> {
        self.read(&format!("read the intent for mail {message_id:?}"), |conn| {
            let raw = conn
                .prepare_cached(&format!("{SELECT_INTENT} WHERE message_id = ?1"))?
                .query_row([message_id], RawIntent::from_row)
                .optional()?;
            raw.map(RawIntent::into_intent).transpose()
        })
    }

    /// Every pending intent, oldest first: what a restart must check before
    /// it reads new mail.
    pub fn pending_intents(&self) -> Result<Vec<Intent>, StoreError> {
        self.read("list the pending intents", |conn| {
            let raws = conn
                .prepare_cached(&format!("{SELECT_INTENT} ORDER BY started_at, message_id"))?
                .query_map([], RawIntent::from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(RawIntent::into_intent).collect()
        })
    }

    // ----- Message-ID ↔ ticket ------------------------------------------

    /// Links a Message-ID to a ticket: one carteiro read (`In`) or sent
    /// (`Out`). A Message-ID links to one ticket; linking it again moves it
    /// to the new ticket (e.g. the follow-up of a closed one).
    pub fn link_message_id(
        &self,
        message_id: &str,
        ticket_id: u64,
        direction: Direction,
    ) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(
            &format!("link Message-ID {message_id:?} to ticket {ticket_id}"),
            |tx| link(tx, message_id, to_i64(ticket_id)?, direction, &now),
        )
    }

    /// The ticket of the first of `message_ids` that is linked to one,
    /// checked in the order given. The caller orders them: `In-Reply-To`
    /// first, then `References` from newest to oldest.
    pub fn ticket_for_message_ids(&self, message_ids: &[String]) -> Result<Option<u64>, StoreError> {
        self.read("look up the ticket of a thread", |conn| {
            let mut statement =
                conn.prepare_cached("SELECT ticket_id FROM message_ticket WHERE message_id = ?1")?;
            for message_id in message_ids {
                let found: Option<i64> = statement.query_row([message_id], |row| row.get(0)).optional()?;
                if let Some(ticket) = found {
                    return from_i64(ticket, "ticket id").map(Some);
                }
            }
            Ok(None)
        })
    }

    // ----- cursors ------------------------------------------------------

    /// The saved position called `name` (e.g. the Zendesk export cursor).
    pub fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.read(&format!("read cursor {name:?}"), |conn| {
            Ok(conn
                .prepare_cached("SELECT value FROM cursor WHERE name = ?1")?
                .query_row([name], |row| row.get(0))
                .optional()?)
        })
    }

    /// Saves the position called `name`.
    pub fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("save cursor {name:?}"), |tx| {
            tx.prepare_cached(
                "INSERT INTO cursor (name, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )?
            .execute(params![name, value, now])?;
            Ok(())
        })
    }

    // ----- helpdesk users -----------------------------------------------

    /// The helpdesk user id last seen for `email` (compared without case).
    pub fn helpdesk_user(&self, email: &str) -> Result<Option<u64>, StoreError> {
        self.read(&format!("read the user id of {email:?}"), |conn| {
            let found: Option<i64> = conn
                .prepare_cached("SELECT user_id FROM helpdesk_user WHERE email = ?1")?
                .query_row([email], |row| row.get(0))
                .optional()?;
            found.map(|id| from_i64(id, "user id")).transpose()
        })
    }

    /// Remembers the helpdesk user id of `email`.
    pub fn set_helpdesk_user(&self, email: &str, user_id: u64) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("save the user id of {email:?}"), |tx| {
            save_user(tx, email, user_id, &now)
        })
    }

    // ----- quarantine ---------------------------------------------------

    /// Puts a mail in the quarantine and answers its id. The same raw bytes
    /// again (by SHA-256) reuse the entry: its reason is updated, its retry
    /// count is not, and if it had been resolved it is open again (it
    /// failed once more). Entries are never deleted.
    pub fn quarantine(&self, entry: &NewQuarantine) -> Result<i64, StoreError> {
        let now = stamp(self.clock.now());
        let hash = sha256_hex(&entry.raw);
        self.write("put a mail in the quarantine", |tx| {
            Ok(tx
                .prepare_cached(
                    "INSERT INTO quarantine (raw_sha256, mailbox, uidvalidity, uid, message_id, raw, reason,
                         created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (raw_sha256) DO UPDATE SET reason = excluded.reason,
                         message_id = coalesce(quarantine.message_id, excluded.message_id),
                         resolved = NULL, resolved_at = NULL
                     RETURNING id",
                )?
                .query_row(
                    params![
                        hash,
                        entry.mailbox,
                        entry.uidvalidity,
                        entry.uid,
                        entry.message_id,
                        entry.raw,
                        entry.reason,
                        now,
                    ],
                    |row| row.get(0),
                )?)
        })
    }

    /// The quarantine, oldest first, without the raw bytes; resolved
    /// entries only when asked for.
    pub fn quarantine_list(&self, include_resolved: bool) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.read("list the quarantine", |conn| {
            let raws = conn
                .prepare_cached(&format!(
                    "SELECT {QUARANTINE_COLUMNS}, NULL FROM quarantine
                     WHERE ?1 OR resolved IS NULL ORDER BY id"
                ))?
                .query_map([include_resolved], RawQuarantine::from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(RawQuarantine::into_entry).collect()
        })
    }

    /// One quarantine entry with its raw bytes.
    pub fn quarantine_get(&self, id: i64) -> Result<Option<QuarantineEntry>, StoreError> {
        self.read(&format!("read quarantine entry {id}"), |conn| {
            let raw = conn
                .prepare_cached(&format!(
                    "SELECT {QUARANTINE_COLUMNS}, raw FROM quarantine WHERE id = ?1"
                ))?
                .query_row([id], RawQuarantine::from_row)
                .optional()?;
            raw.map(RawQuarantine::into_entry).transpose()
        })
    }

    /// Notes a failed retry: one more in the count, the new reason, and the
    /// time of the attempt.
    pub fn quarantine_retry_failed(&self, id: i64, reason: &str) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("note a failed retry of quarantine entry {id}"), |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE quarantine SET retry_count = retry_count + 1, reason = ?2, last_attempt_at = ?3
                     WHERE id = ?1",
                )?
                .execute(params![id, reason, now])?;
            if changed == 0 {
                return Err(Fault::NoSuchQuarantineEntry(id));
            }
            Ok(())
        })
    }

    /// Marks an entry resolved by a retry that succeeded; `outcome` says how
    /// (e.g. `ticket_created #12`). The entry and its bytes stay.
    pub fn quarantine_resolve(&self, id: i64, outcome: &str) -> Result<(), StoreError> {
        let now = stamp(self.clock.now());
        self.write(&format!("resolve quarantine entry {id}"), |tx| {
            let changed = tx
                .prepare_cached("UPDATE quarantine SET resolved = ?2, resolved_at = ?3 WHERE id = ?1")?
                .execute(params![id, outcome, now])?;
            if changed == 0 {
                return Err(Fault::NoSuchQuarantineEntry(id));
            }
            Ok(())
        })
    }

    // ----- plumbing -----------------------------------------------------

    /// Runs `f` on the connection, outside any explicit transaction.
    fn read<T>(
        &self,
        operation: &str,
        f: impl FnOnce(&Connection) -> Result<T, Fault>,
    ) -> Result<T, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&conn).map_err(|fault| fault.into_error(self.path.clone(), operation.to_owned()))
    }

    /// Runs `f` in one immediate transaction and commits it; any error
    /// rolls everything back.
    pub(crate) fn write<T>(
        &self,
        operation: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Fault>,
    ) -> Result<T, StoreError> {
        // A panic in another caller leaves no transaction open (dropping a
        // `Transaction` rolls it back), so the connection is still sound.
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let result = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Fault::from)
            .and_then(|tx| {
                let value = f(&tx)?;
                tx.commit()?;
                Ok(value)
            });
        result.map_err(|fault| fault.into_error(self.path.clone(), operation.to_owned()))
    }
}

/// Sets `journal_mode = WAL` and answers the mode SQLite kept. Switching
/// a new file takes an exclusive lock, and SQLite answers "database is
/// locked" at once, without the busy handler, when another process (a
/// starting daemon beside `carteiro mail send`) holds the file at that
/// moment; so this waits and tries again, up to [`BUSY_TIMEOUT`].
fn switch_to_wal(conn: &Connection) -> rusqlite::Result<String> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Creates `path` empty and readable by its owner only when it does not
/// exist, before SQLite opens it (SQLite then gives its `-wal` and `-shm`
/// files the same permissions).
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `intent` inside `tx`, replacing a pending one or, without
/// `replace`, only where there is none. Answers whether it was written.
fn intent_in(tx: &Transaction<'_>, intent: &Intent, replace: bool) -> Result<bool, Fault> {
    let (action, external_id, ticket_id, updated_stamp, body_sha256) = match &intent.action {
        IntentAction::CreateTicket { external_id } => {
            ("create_ticket", Some(external_id.as_str()), None, None, None)
        }
        IntentAction::AddComment {
            ticket_id,
            attempted_at,
            body_sha256,
        } => (
            "add_comment",
            None,
            Some(to_i64(*ticket_id)?),
            Some(stamp(*attempted_at)),
            Some(body_sha256.as_str()),
        ),
    };
    let sql = if replace {
        "INSERT OR REPLACE INTO intent (message_id, action, external_id, ticket_id, updated_stamp,
             body_sha256, started_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    } else {
        "INSERT OR IGNORE INTO intent (message_id, action, external_id, ticket_id, updated_stamp,
             body_sha256, started_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    };
    let written = tx.prepare_cached(sql)?.execute(params![
        intent.message_id,
        action,
        external_id,
        ticket_id,
        updated_stamp,
        body_sha256,
        stamp(intent.started_at),
    ])?;
    Ok(written == 1)
}

/// Remembers a helpdesk user id inside `tx`.
fn save_user(tx: &Transaction<'_>, email: &str, user_id: u64, now: &str) -> Result<(), Fault> {
    tx.prepare_cached(
        "INSERT INTO helpdesk_user (email, user_id, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (email) DO UPDATE SET user_id = excluded.user_id, updated_at = excluded.updated_at",
    )?
    .execute(params![email, to_i64(user_id)?, now])?;
    Ok(())
}

/// Records one processed mail inside `tx` (see [`Store::record_processed`]).
fn record_in(tx: &Transaction<'_>, mail: &ProcessedMail, now: &str) -> Result<(), Fault> {
    let ticket_id = mail.ticket_id.map(to_i64).transpose()?;
    let earlier: Option<(String, Option<i64>)> = tx
        .prepare_cached("SELECT outcome, ticket_id FROM processed_mail WHERE message_id = ?1")?
        .query_row([&mail.message_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match earlier {
        Some((outcome, _)) if outcome == "quarantined" => {}
        Some((outcome, earlier_ticket)) => {
            if outcome == mail.outcome.name() && earlier_ticket == ticket_id {
                return Ok(());
            }
            let earlier = match earlier_ticket {
                Some(ticket) => format!("{outcome} (ticket {ticket})"),
                None => outcome,
            };
            return Err(Fault::AlreadyProcessed(earlier));
        }
        None => {}
    }
    let (reason, quarantine_id) = match &mail.outcome {
        Outcome::Skipped { reason } => (Some(reason.as_str()), None),
        Outcome::Quarantined { quarantine_id } => (None, Some(*quarantine_id)),
        _ => (None, None),
    };
    tx.prepare_cached(
        "INSERT INTO processed_mail (message_id, raw_sha256, mailbox, uidvalidity, uid, outcome,
             reason, quarantine_id, ticket_id, processed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (message_id) DO UPDATE SET raw_sha256 = excluded.raw_sha256,
             mailbox = excluded.mailbox, uidvalidity = excluded.uidvalidity, uid = excluded.uid,
             outcome = excluded.outcome, reason = excluded.reason,
             quarantine_id = excluded.quarantine_id, ticket_id = excluded.ticket_id,
             processed_at = excluded.processed_at",
    )?
    .execute(params![
        mail.message_id,
        mail.raw_sha256,
        mail.mailbox,
        mail.uidvalidity,
        mail.uid,
        mail.outcome.name(),
        reason,
        quarantine_id,
        ticket_id,
        stamp(mail.processed_at),
    ])?;
    if let Some(ticket_id) = ticket_id {
        link(tx, &mail.message_id, ticket_id, Direction::In, now)?;
        if let Some(event) = &mail.event {
            tx.prepare_cached(
                "INSERT INTO mail_event (message_id, ticket_id, facts, queued_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (message_id) DO NOTHING",
            )?
            .execute(params![mail.message_id, ticket_id, event, now])?;
        }
    }
    tx.prepare_cached("DELETE FROM intent WHERE message_id = ?1")?
        .execute([&mail.message_id])?;
    Ok(())
}

/// Links inside a transaction (shared by `link_message_id` and
/// `record_processed`).
fn link(
    tx: &Transaction<'_>,
    message_id: &str,
    ticket_id: i64,
    direction: Direction,
    now: &str,
) -> Result<(), Fault> {
    tx.prepare_cached(
        "INSERT INTO message_ticket (message_id, ticket_id, direction, linked_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (message_id) DO UPDATE SET ticket_id = excluded.ticket_id,
             direction = excluded.direction, linked_at = excluded.linked_at",
    )?
    .execute(params![message_id, ticket_id, direction.name(), now])?;
    Ok(())
}

/// Lowercase hex SHA-256, the form every `raw_sha256` takes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// A timestamp as stored: RFC 3339, UTC, nanoseconds, `Z`.
fn stamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_stamp(text: &str) -> Result<DateTime<Utc>, Fault> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Fault::Invalid(format!("stored timestamp {text:?} is not RFC 3339: {e}")))
}

fn parse_optional_stamp(text: Option<String>) -> Result<Option<DateTime<Utc>>, Fault> {
    text.as_deref().map(parse_stamp).transpose()
}

fn to_i64(ticket_id: u64) -> Result<i64, Fault> {
    i64::try_from(ticket_id)
        .map_err(|_| Fault::Invalid(format!("ticket id {ticket_id} is beyond SQLite's integer range")))
}

fn from_i64(value: i64, what: &str) -> Result<u64, Fault> {
    u64::try_from(value).map_err(|_| Fault::Invalid(format!("stored {what} {value} is negative")))
}

/// A `processed_mail` row before its text columns are decoded.
struct RawProcessed {
    message_id: String,
    raw_sha256: String,
    mailbox: String,
    uidvalidity: u32,
    uid: u32,
    outcome: String,
    reason: Option<String>,
    quarantine_id: Option<i64>,
    ticket_id: Option<i64>,
    processed_at: String,
}

impl RawProcessed {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawProcessed> {
        Ok(RawProcessed {
            message_id: row.get(0)?,
            raw_sha256: row.get(1)?,
            mailbox: row.get(2)?,
            uidvalidity: row.get(3)?,
            uid: row.get(4)?,
            outcome: row.get(5)?,
            reason: row.get(6)?,
            quarantine_id: row.get(7)?,
            ticket_id: row.get(8)?,
            processed_at: row.get(9)?,
        })
    }

    fn into_processed(self) -> Result<ProcessedMail, Fault> {
        let outcome = match (self.outcome.as_str(), self.reason, self.quarantine_id) {
            ("ticket_created", _, _) => Outcome::TicketCreated,
            ("comment_added", _, _) => Outcome::CommentAdded,
            ("follow_up_created", _, _) => Outcome::FollowUpCreated,
            ("bounce_noted", _, _) => Outcome::BounceNoted,
            ("skipped", Some(reason), _) => Outcome::Skipped { reason },
            ("quarantined", _, Some(quarantine_id)) => Outcome::Quarantined { quarantine_id },
            (other, _, _) => {
                return Err(Fault::Invalid(format!(
                    "stored outcome {other:?} is not one carteiro knows"
                )));
            }
        };
        Ok(ProcessedMail {
            message_id: self.message_id,
            raw_sha256: self.raw_sha256,
            mailbox: self.mailbox,
            uidvalidity: self.uidvalidity,
            uid: self.uid,
            outcome,
            ticket_id: self.ticket_id.map(|t| from_i64(t, "ticket id")).transpose()?,
            processed_at: parse_stamp(&self.processed_at)?,
            event: None,
        })
    }
}

const SELECT_INTENT: &str =
    "SELECT message_id, action, external_id, ticket_id, updated_stamp, body_sha256, started_at FROM intent";

/// An `intent` row before decoding.
struct RawIntent {
    message_id: String,
    action: String,
    external_id: Option<String>,
    ticket_id: Option<i64>,
    updated_stamp: Option<String>,
    body_sha256: Option<String>,
    started_at: String,
}

impl RawIntent {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawIntent> {
        Ok(RawIntent {
            message_id: row.get(0)?,
            action: row.get(1)?,
            external_id: row.get(2)?,
            ticket_id: row.get(3)?,
            updated_stamp: row.get(4)?,
            body_sha256: row.get(5)?,
            started_at: row.get(6)?,
        })
    }

    fn into_intent(self) -> Result<Intent, Fault> {
        let action = match (
            self.action.as_str(),
            self.external_id,
            self.ticket_id,
            self.updated_stamp,
            self.body_sha256,
        ) {
            ("create_ticket", Some(external_id), _, _, _) => IntentAction::CreateTicket { external_id },
            ("add_comment", _, Some(ticket_id), Some(updated_stamp), Some(body_sha256)) => {
                IntentAction::AddComment {
                    ticket_id: from_i64(ticket_id, "ticket id")?,
                    attempted_at: parse_stamp(&updated_stamp)?,
                    body_sha256,
                }
            }
            (other, ..) => {
                return Err(Fault::Invalid(format!(
                    "stored intent {other:?} for mail {:?} is incomplete or unknown",
                    self.message_id
                )));
            }
        };
        Ok(Intent {
            message_id: self.message_id,
            action,
            started_at: parse_stamp(&self.started_at)?,
        })
    }
}

const QUARANTINE_COLUMNS: &str = "id, mailbox, uidvalidity, uid, message_id, raw_sha256, reason, retry_count, \
     created_at, last_attempt_at, resolved, resolved_at";

/// A `quarantine` row before decoding.
struct RawQuarantine {
    id: i64,
    mailbox: String,
    uidvalidity: u32,
    uid: u32,
    message_id: Option<String>,
    raw_sha256: String,
    reason: String,
    retry_count: u32,
    created_at: String,
    last_attempt_at: Option<String>,
    resolved: Option<String>,
    resolved_at: Option<String>,
    raw: Option<Vec<u8>>,
}

impl RawQuarantine {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawQuarantine> {
        Ok(RawQuarantine {
            id: row.get(0)?,
            mailbox: row.get(1)?,
            uidvalidity: row.get(2)?,
            uid: row.get(3)?,
            message_id: row.get(4)?,
            raw_sha256: row.get(5)?,
            reason: row.get(6)?,
            retry_count: row.get(7)?,
            created_at: row.get(8)?,
            last_attempt_at: row.get(9)?,
            resolved: row.get(10)?,
            resolved_at: row.get(11)?,
            raw: row.get(12)?,
        })
    }

    fn into_entry(self) -> Result<QuarantineEntry, Fault> {
        Ok(QuarantineEntry {
            id: self.id,
            mailbox: self.mailbox,
            uidvalidity: self.uidvalidity,
            uid: self.uid,
            message_id: self.message_id,
            raw_sha256: self.raw_sha256,
            reason: self.reason,
            retry_count: self.retry_count,
            created_at: parse_stamp(&self.created_at)?,
            last_attempt_at: parse_optional_stamp(self.last_attempt_at)?,
            resolved: self.resolved,
            resolved_at: parse_optional_stamp(self.resolved_at)?,
            raw: self.raw,
        })
    }
}

#[cfg(test)]
mod tests;
