//! The store's schema, as an ordered list of migrations.
//!
//! Migration `n` (counted from 1) takes the schema from version `n - 1` to
//! `n`. Each runs in its own transaction together with the bump of
//! `PRAGMA user_version`, so a crash mid-migration leaves the previous
//! version intact. Migrations are append-only: a released one is never
//! edited, a change is a new entry.
//!
//! Timestamps are RFC 3339 text in UTC with nanoseconds and a `Z`
//! (`2026-11-23T08:15:36.000000000Z`): readable in the `sqlite3` shell,
//! lossless for `chrono`, and fixed-width, so they sort as text.

use rusqlite::{Connection, TransactionBehavior};

/// `PRAGMA application_id` of a carteiro store: "cart" in ASCII. It tells a
/// carteiro store from another application's SQLite file.
pub(super) const APPLICATION_ID: i32 = 0x6361_7274;

/// The migrations, oldest first.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: mail sync state, processed mails, the Message-ID map, intents,
    // cursors and the quarantine.
    r#"
CREATE TABLE mailbox_state (
    mailbox     TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL CHECK (uidvalidity BETWEEN 0 AND 4294967295),
    last_uid    INTEGER NOT NULL CHECK (last_uid BETWEEN 0 AND 4294967295),
    updated_at  TEXT NOT NULL
) STRICT;

CREATE TABLE quarantine (
    id              INTEGER PRIMARY KEY,
    raw_sha256      TEXT NOT NULL UNIQUE,
    mailbox         TEXT NOT NULL,
    uidvalidity     INTEGER NOT NULL,
    uid             INTEGER NOT NULL,
    message_id      TEXT,
    raw             BLOB NOT NULL,
    reason          TEXT NOT NULL,
    retry_count     INTEGER NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    created_at      TEXT NOT NULL,
    last_attempt_at TEXT,
    resolved        TEXT,
    resolved_at     TEXT,
    CHECK ((resolved IS NULL) = (resolved_at IS NULL))
) STRICT;

CREATE TABLE processed_mail (
    message_id    TEXT PRIMARY KEY,
    raw_sha256    TEXT NOT NULL,
    mailbox       TEXT NOT NULL,
    uidvalidity   INTEGER NOT NULL,
    uid           INTEGER NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('ticket_created', 'comment_added',
                      'follow_up_created', 'bounce_noted', 'skipped', 'quarantined')),
    reason        TEXT CHECK ((outcome = 'skipped') = (reason IS NOT NULL)),
    quarantine_id INTEGER REFERENCES quarantine (id)
                  CHECK ((outcome = 'quarantined') = (quarantine_id IS NOT NULL)),
    ticket_id     INTEGER CHECK (ticket_id >= 0),
    processed_at  TEXT NOT NULL
) STRICT;
CREATE INDEX processed_mail_by_hash ON processed_mail (raw_sha256);

CREATE TABLE message_ticket (
    message_id TEXT PRIMARY KEY,
    ticket_id  INTEGER NOT NULL CHECK (ticket_id >= 0),
    direction  TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    linked_at  TEXT NOT NULL
) STRICT;
CREATE INDEX message_ticket_by_ticket ON message_ticket (ticket_id);

CREATE TABLE intent (
    message_id    TEXT PRIMARY KEY,
    action        TEXT NOT NULL CHECK (action IN ('create_ticket', 'add_comment')),
    external_id   TEXT,
    ticket_id     INTEGER CHECK (ticket_id >= 0),
    updated_stamp TEXT,
    body_sha256   TEXT,
    started_at    TEXT NOT NULL,
    CHECK (CASE action
        WHEN 'create_ticket' THEN external_id IS NOT NULL AND ticket_id IS NULL
            AND updated_stamp IS NULL AND body_sha256 IS NULL
        ELSE external_id IS NULL AND ticket_id IS NOT NULL
            AND updated_stamp IS NOT NULL AND body_sha256 IS NOT NULL
    END)
) STRICT;

CREATE TABLE cursor (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
"#,
    // 2: helpdesk user ids by e-mail, so a sender seen before costs no
    // lookup, also after a restart.
    r#"
CREATE TABLE helpdesk_user (
    email      TEXT PRIMARY KEY COLLATE NOCASE,
    user_id    INTEGER NOT NULL CHECK (user_id >= 0),
    updated_at TEXT NOT NULL
) STRICT;
"#,
    // 3: the outbox. One row per mail with its fixed Message-ID and the
    // exact bytes to send; its recipients again, one row each, for the
    // sliding-window caps; recipients known to bounce; and how many mails
    // each guard suppressed.
    r#"
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    ticket_id       INTEGER NOT NULL CHECK (ticket_id >= 0),
    envelope_from   TEXT NOT NULL,
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    raw             BLOB NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'held')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    response        TEXT,
    noted_at        TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    sent_at         TEXT,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
) STRICT;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_ticket ON outbox (ticket_id, created_at);

CREATE TABLE outbox_recipient (
    outbox_id  INTEGER NOT NULL REFERENCES outbox (id),
    address    TEXT NOT NULL COLLATE NOCASE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (outbox_id, address)
) STRICT;
CREATE INDEX outbox_recipient_by_address ON outbox_recipient (address, created_at);

CREATE TABLE bouncing_recipient (
    address   TEXT PRIMARY KEY COLLATE NOCASE,
    reason    TEXT NOT NULL,
    ticket_id INTEGER CHECK (ticket_id >= 0),
    marked_at TEXT NOT NULL
) STRICT;

CREATE TABLE mail_suppression (
    reason         TEXT PRIMARY KEY,
    count          INTEGER NOT NULL CHECK (count >= 0),
    last_recipient TEXT,
    last_ticket_id INTEGER,
    last_at        TEXT NOT NULL
) STRICT;
"#,
    // 4: what carteiro knows of each ticket (its last seen version and the
    // clocks computed from its history), the roles of the people who write
    // on tickets, and the queue of ticket events the rule engine consumes.
    r#"
CREATE TABLE ticket_snapshot (
    ticket_id                     INTEGER PRIMARY KEY CHECK (ticket_id >= 0),
    status                        TEXT NOT NULL,
    updated_at                    TEXT NOT NULL,
    ticket                        TEXT NOT NULL,
    status_changed_at             TEXT,
    custom_status_changed_at      TEXT,
    last_requester_comment_at     TEXT,
    last_agent_public_comment_at  TEXT,
    assigned_at                   TEXT,
    solved_at                     TEXT,
    last_audit_id                 INTEGER CHECK (last_audit_id >= 0),
    saved_at                      TEXT NOT NULL
) STRICT;
CREATE INDEX ticket_snapshot_by_status ON ticket_snapshot (status, ticket_id);

CREATE TABLE helpdesk_person (
    user_id    INTEGER PRIMARY KEY CHECK (user_id >= 0),
    role       TEXT NOT NULL CHECK (role IN ('end-user', 'agent', 'admin')),
    email      TEXT,
    name       TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE ticket_event (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL CHECK (ticket_id >= 0),
    kind      TEXT NOT NULL CHECK (kind IN ('created', 'updated')),
    version   TEXT NOT NULL,
    change    TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    done_at   TEXT
) STRICT;
CREATE INDEX ticket_event_pending ON ticket_event (done_at, id);
"#,
    // 5: the rule journal, one row per event and ticket, with the
    // plan as JSON and how far applying it got; and which `once =
    // "per_ticket"` rules already fired on which ticket.
    r#"
CREATE TABLE rule_journal (
    key        TEXT PRIMARY KEY,
    ticket_id  INTEGER NOT NULL CHECK (ticket_id >= 0),
    trigger    TEXT NOT NULL,
    rules_hash TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('planned', 'applied', 'failed')),
    plan       TEXT NOT NULL,
    progress   TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error      TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK ((state = 'failed') = (error IS NOT NULL))
) STRICT;
CREATE INDEX rule_journal_pending ON rule_journal (state, created_at);
CREATE INDEX rule_journal_by_ticket ON rule_journal (ticket_id, created_at);

CREATE TABLE rule_once (
    rule        TEXT NOT NULL,
    ticket_id   INTEGER NOT NULL CHECK (ticket_id >= 0),
    journal_key TEXT NOT NULL,
    fired_at    TEXT NOT NULL,
    PRIMARY KEY (rule, ticket_id)
) STRICT;
"#,
    // 6: the `mail.received` events for the rule runner, queued with the
    // record of the mail they come from.
    r#"
CREATE TABLE mail_event (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    ticket_id  INTEGER NOT NULL CHECK (ticket_id >= 0),
    facts      TEXT NOT NULL,
    queued_at  TEXT NOT NULL,
    done_at    TEXT
) STRICT;
CREATE INDEX mail_event_pending ON mail_event (done_at, id);
"#,
];

/// The schema version this carteiro writes.
pub(super) fn latest() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

/// Why the file cannot be migrated, before the store adds its path.
#[derive(Debug)]
pub(super) enum MigrateError {
    Sqlite { step: String, cause: rusqlite::Error },
    TooNew { found: u32, supported: u32 },
    Foreign(String),
}

/// The file's schema version, `PRAGMA user_version`.
pub(super) fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Brings the schema up to the last of `migrations`, one transaction per
/// migration. Refuses a file whose version is beyond them, or that belongs
/// to another application.
pub(super) fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), MigrateError> {
    let sqlite = |step: &str| {
        let step = step.to_owned();
        move |cause| MigrateError::Sqlite { step, cause }
    };
    let supported = u32::try_from(migrations.len()).unwrap_or(u32::MAX);
    let application_id: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(sqlite("read the application id"))?;
    let found = version(conn).map_err(sqlite("read the schema version"))?;
    if application_id != 0 && application_id != APPLICATION_ID {
        return Err(MigrateError::Foreign(format!(
            "it is a SQLite database of another application (application_id {application_id:#010x}, carteiro's is {APPLICATION_ID:#010x})"
        )));
    }
    if application_id == 0 && found == 0 {
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'",
                [],
                |row| row.get(0),
            )
            .map_err(sqlite("list the tables"))?;
        if tables > 0 {
            return Err(MigrateError::Foreign(
                "it is a SQLite database with tables but no carteiro schema; point state.path at a new file"
                    .to_owned(),
            ));
        }
    }
    if found > supported {
        return Err(MigrateError::TooNew { found, supported });
    }
    for (index, sql) in migrations.iter().enumerate().skip(found as usize) {
        let target = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let step = format!("migrate the schema to version {target}");
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite(&step))?;
        // Another process may have migrated while this one waited for the
        // write lock.
        let now = version(&tx).map_err(sqlite(&step))?;
        if now >= target {
            continue;
        }
        tx.execute_batch(sql).map_err(sqlite(&step))?;
        tx.pragma_update(None, "user_version", target)
            .map_err(sqlite(&step))?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(sqlite(&step))?;
        tx.commit().map_err(sqlite(&step))?;
    }
    Ok(())
}
