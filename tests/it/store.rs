//! The state store on real files: migrations, reopening, refusals, the
//! all-or-nothing writes, the quarantine, concurrent callers, and a writer
//! killed mid-loop.
//!
//! Failures inside a transaction are injected with SQLite triggers added
//! through a second connection, so the production code has no test hooks.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use carteiro::clock::FixedClock;
use carteiro::store::{
    Direction, Intent, IntentAction, MailboxState, NewQuarantine, Outcome, ProcessedMail, Store, StoreError,
    sha256_hex,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use rusqlite::Connection;

/// A fresh directory for one test under cargo's per-target temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("store-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 8, 15, 36)
        .single()
        .expect("valid")
}

fn open_at(path: &Path, clock: &FixedClock) -> Store {
    Store::open(path)
        .expect("open store")
        .with_clock(Arc::new(clock.clone()))
}

fn mail(message_id: &str, uid: u32, outcome: Outcome, ticket_id: Option<u64>) -> ProcessedMail {
    ProcessedMail {
        message_id: message_id.to_owned(),
        raw_sha256: sha256_hex(message_id.as_bytes()),
        mailbox: "suporte".to_owned(),
        uidvalidity: 1_700_000_000,
        uid,
        outcome,
        ticket_id,
        event: None,
        processed_at: t0(),
    }
}

fn create_intent(message_id: &str) -> Intent {
    Intent {
        message_id: message_id.to_owned(),
        action: IntentAction::CreateTicket {
            external_id: format!("carteiro:{message_id}"),
        },
        started_at: t0(),
    }
}

/// A second, raw connection to the same file, for what the API does not
/// offer: pragmas, counts, injected failures.
fn raw(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("raw connection");
    conn.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
    conn
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).expect(sql)
}

fn integrity(conn: &Connection) -> Vec<String> {
    conn.prepare("PRAGMA integrity_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("integrity_check")
}

#[test]
fn a_new_file_is_migrated_and_reopening_keeps_everything() {
    let dir = scratch("reopen");
    let path = dir.join("carteiro.db");
    let clock = FixedClock::at(t0());
    {
        let store = open_at(&path, &clock);
        assert_eq!(
            store.schema_version().expect("version"),
            Store::latest_schema_version()
        );
        store
            .set_mailbox_state(
                "suporte",
                MailboxState {
                    uidvalidity: 42,
                    last_uid: 7,
                },
            )
            .expect("state");
        store
            .record_processed(&mail("a@x", 7, Outcome::TicketCreated, Some(12)))
            .expect("record");
        store
            .link_message_id("out-1@carteiro.example", 12, Direction::Out)
            .expect("link");
        store
            .set_cursor("zendesk.export", "MTU3NjYxMzUzOS4wfHw0NTF8")
            .expect("cursor");
        let id = store
            .quarantine(&NewQuarantine {
                mailbox: "suporte".into(),
                uidvalidity: 42,
                uid: 5,
                message_id: None,
                raw: b"broken\r\n".to_vec(),
                reason: "no From header".into(),
            })
            .expect("quarantine");
        assert_eq!(id, 1);
        store.begin_intent(&create_intent("b@x")).expect("intent");
    }

    // The file is private to its owner, in WAL mode, carteiro's, version 1.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let conn = raw(&path);
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(journal, "wal");
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .expect("application_id");
    assert_eq!(app, 0x6361_7274);
    drop(conn);

    let store = open_at(&path, &clock);
    assert_eq!(
        store.schema_version().expect("version"),
        Store::latest_schema_version()
    );
    assert_eq!(
        store.mailbox_state("suporte").expect("state"),
        Some(MailboxState {
            uidvalidity: 42,
            last_uid: 7
        })
    );
    assert_eq!(store.mailbox_state("vendas").expect("state"), None);
    assert_eq!(
        store.processed("a@x").expect("processed"),
        Some(mail("a@x", 7, Outcome::TicketCreated, Some(12)))
    );
    assert_eq!(
        store
            .ticket_for_message_ids(&["out-1@carteiro.example".into()])
            .expect("lookup"),
        Some(12)
    );
    assert_eq!(
        store.cursor("zendesk.export").expect("cursor").as_deref(),
        Some("MTU3NjYxMzUzOS4wfHw0NTF8")
    );
    let entry = store.quarantine_get(1).expect("get").expect("entry 1");
    assert_eq!(entry.raw.as_deref(), Some(&b"broken\r\n"[..]));
    assert_eq!(entry.reason, "no From header");
    assert_eq!(entry.created_at, t0());
    assert_eq!(
        store.pending_intent("b@x").expect("intent"),
        Some(create_intent("b@x"))
    );
}

#[test]
fn a_missing_directory_is_named_and_not_created() {
    let dir = scratch("missing-dir");
    let path = dir.join("no-such-dir").join("carteiro.db");
    let err = Store::open(&path).expect_err("no directory");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot open the state store {}: the directory {} does not exist; create it, or set state.path to \
             a file in an existing directory",
            path.display(),
            dir.join("no-such-dir").display()
        )
    );
    assert!(!dir.join("no-such-dir").exists());
}

#[test]
fn a_store_from_a_newer_carteiro_is_refused_and_left_alone() {
    let dir = scratch("too-new");
    let path = dir.join("carteiro.db");
    drop(Store::open(&path).expect("create"));
    raw(&path)
        .pragma_update(None, "user_version", 7)
        .expect("pretend a newer carteiro wrote it");
    let err = Store::open(&path).expect_err("too new");
    let supported = Store::latest_schema_version();
    assert!(matches!(
        err,
        StoreError::TooNew { found: 7, supported: s, .. } if s == supported
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "cannot open the state store {}: its schema version is 7, but this carteiro knows versions up to {supported}; \
             it was written by a newer carteiro, so run that version (or a later one), or restore a backup \
             taken before the upgrade",
            path.display()
        )
    );
    let version: u32 = raw(&path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, 7);
}

#[test]
fn files_that_are_not_carteiro_stores_are_refused() {
    let dir = scratch("foreign");
    let garbage = dir.join("notes.txt");
    std::fs::write(
        &garbage,
        "this is not a database, it is a shopping list\n".repeat(100),
    )
    .expect("write");
    let err = Store::open(&garbage).expect_err("not SQLite");
    assert_eq!(
        err.to_string(),
        format!(
            "state store {}: cannot switch to WAL mode: file is not a database",
            garbage.display()
        )
    );

    let other = dir.join("other.db");
    raw(&other)
        .execute_batch("CREATE TABLE recipes (name TEXT);")
        .expect("another app's table");
    let err = Store::open(&other).expect_err("foreign schema");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot open the state store {}: it is a SQLite database with tables but no carteiro schema; point \
             state.path at a new file",
            other.display()
        )
    );
}

#[test]
fn processed_mails_are_found_by_message_id_and_by_hash() {
    let store = Store::open_in_memory().expect("open");
    assert_eq!(store.processed("a@x").expect("lookup"), None);
    let skipped = mail(
        "a@x",
        3,
        Outcome::Skipped {
            reason: "auto-reply (Auto-Submitted: auto-replied)".into(),
        },
        None,
    );
    store.record_processed(&skipped).expect("record");
    assert_eq!(store.processed("a@x").expect("lookup"), Some(skipped));
    assert!(store.is_processed_hash(&sha256_hex(b"a@x")).expect("hash"));
    assert!(!store.is_processed_hash(&sha256_hex(b"b@x")).expect("hash"));
    // No ticket, so no link.
    assert_eq!(
        store.ticket_for_message_ids(&["a@x".into()]).expect("lookup"),
        None
    );

    for (id, outcome) in [
        ("c@x", Outcome::CommentAdded),
        ("d@x", Outcome::FollowUpCreated),
        ("e@x", Outcome::BounceNoted),
    ] {
        let record = mail(id, 4, outcome, Some(30));
        store.record_processed(&record).expect("record");
        assert_eq!(store.processed(id).expect("lookup"), Some(record));
    }
}

#[test]
fn record_processed_links_and_clears_the_intent_all_or_nothing() {
    let dir = scratch("atomic");
    let path = dir.join("carteiro.db");
    let clock = FixedClock::at(t0());
    let store = open_at(&path, &clock);
    store.begin_intent(&create_intent("m1@x")).expect("intent");
    let record = mail("m1@x", 1, Outcome::TicketCreated, Some(101));

    // The link fails: nothing of the three happens.
    let injector = raw(&path);
    injector
        .execute_batch(
            "CREATE TRIGGER fail_link BEFORE INSERT ON message_ticket
             BEGIN SELECT RAISE(ABORT, 'injected failure: link'); END;",
        )
        .expect("trigger");
    let err = store.record_processed(&record).expect_err("injected");
    assert_eq!(
        err.to_string(),
        format!(
            "state store {}: cannot record mail \"m1@x\" as ticket_created: injected failure: link",
            path.display()
        )
    );
    assert_eq!(store.processed("m1@x").expect("lookup"), None);
    assert_eq!(
        store.ticket_for_message_ids(&["m1@x".into()]).expect("lookup"),
        None
    );
    assert_eq!(
        store.pending_intent("m1@x").expect("intent"),
        Some(create_intent("m1@x"))
    );

    // The intent clearing fails, after the record and the link: still nothing.
    injector
        .execute_batch(
            "DROP TRIGGER fail_link;
             CREATE TRIGGER fail_clear BEFORE DELETE ON intent
             BEGIN SELECT RAISE(ABORT, 'injected failure: clear'); END;",
        )
        .expect("trigger");
    let err = store.record_processed(&record).expect_err("injected");
    assert!(err.to_string().ends_with("injected failure: clear"), "{err}");
    assert_eq!(store.processed("m1@x").expect("lookup"), None);
    assert_eq!(
        store.ticket_for_message_ids(&["m1@x".into()]).expect("lookup"),
        None
    );
    assert!(store.pending_intent("m1@x").expect("intent").is_some());

    // Without failures all three happen together.
    injector.execute_batch("DROP TRIGGER fail_clear;").expect("drop");
    store.record_processed(&record).expect("record");
    assert_eq!(store.processed("m1@x").expect("lookup"), Some(record.clone()));
    assert_eq!(
        store.ticket_for_message_ids(&["m1@x".into()]).expect("lookup"),
        Some(101)
    );
    assert_eq!(store.pending_intent("m1@x").expect("intent"), None);
    assert_eq!(store.pending_intents().expect("intents"), []);
    let direction: String = injector
        .query_row(
            "SELECT direction || ' ' || linked_at FROM message_ticket WHERE message_id = 'm1@x'",
            [],
            |r| r.get(0),
        )
        .expect("link row");
    assert_eq!(direction, "in 2026-11-23T08:15:36.000000000Z");
}

#[test]
fn a_batch_of_records_is_one_transaction_that_leaves_out_only_the_refused() {
    let dir = scratch("batch");
    let path = dir.join("carteiro.db");
    let clock = FixedClock::at(t0());
    let store = open_at(&path, &clock);
    store
        .record_processed(&mail("old@x", 1, Outcome::TicketCreated, Some(100)))
        .expect("earlier record");
    for id in ["a@x", "b@x"] {
        store.begin_intent(&create_intent(id)).expect("intent");
    }
    let batch = [
        mail("a@x", 2, Outcome::TicketCreated, Some(101)),
        // Already recorded with another ticket: refused, alone.
        mail("old@x", 3, Outcome::TicketCreated, Some(999)),
        mail("b@x", 4, Outcome::CommentAdded, Some(100)),
    ];
    let users = [("Maria@Cliente.example".to_owned(), 7)];
    let outcomes = store.record_processed_many(&batch, &users).expect("written");
    assert!(outcomes[0].is_ok() && outcomes[2].is_ok(), "{outcomes:?}");
    assert!(
        matches!(&outcomes[1], Err(StoreError::AlreadyProcessed { .. })),
        "{outcomes:?}"
    );
    assert_eq!(
        store.processed("old@x").expect("read").and_then(|p| p.ticket_id),
        Some(100)
    );
    assert_eq!(
        store.ticket_for_message_ids(&["a@x".into()]).expect("read"),
        Some(101)
    );
    assert_eq!(
        store.ticket_for_message_ids(&["b@x".into()]).expect("read"),
        Some(100)
    );
    assert_eq!(
        store.pending_intents().expect("intents"),
        vec![],
        "both intents cleared"
    );
    assert_eq!(
        store.helpdesk_user("maria@cliente.example").expect("read"),
        Some(7)
    );

    // Any other failure writes none of them.
    raw(&path)
        .execute_batch(
            "CREATE TRIGGER fail_link BEFORE INSERT ON message_ticket WHEN NEW.message_id = 'd@x'
             BEGIN SELECT RAISE(ABORT, 'injected failure: link'); END;",
        )
        .expect("trigger");
    let batch = [
        mail("c@x", 5, Outcome::TicketCreated, Some(102)),
        mail("d@x", 6, Outcome::TicketCreated, Some(103)),
    ];
    store.record_processed_many(&batch, &[]).expect_err("injected");
    assert_eq!(
        store.processed("c@x").expect("read"),
        None,
        "c was rolled back with d"
    );
}

#[test]
fn a_mail_is_recorded_once_unless_its_record_is_a_quarantine() {
    let store = Store::open_in_memory().expect("open");
    let quarantine_id = store
        .quarantine(&NewQuarantine {
            mailbox: "suporte".into(),
            uidvalidity: 1,
            uid: 9,
            message_id: Some("q@x".into()),
            raw: b"raw q".to_vec(),
            reason: "helpdesk answered 422".into(),
        })
        .expect("quarantine");
    let quarantined = mail("q@x", 9, Outcome::Quarantined { quarantine_id }, None);
    store.record_processed(&quarantined).expect("record");
    assert_eq!(store.processed("q@x").expect("lookup"), Some(quarantined));

    // The retry succeeded: its outcome replaces the quarantine record.
    let retried = mail("q@x", 9, Outcome::TicketCreated, Some(55));
    store.record_processed(&retried).expect("retry outcome");
    assert_eq!(store.processed("q@x").expect("lookup"), Some(retried.clone()));
    // The same again is harmless.
    store.record_processed(&retried).expect("idempotent");
    // Anything else would be handling it twice.
    let twice = mail("q@x", 9, Outcome::CommentAdded, Some(56));
    let err = store.record_processed(&twice).expect_err("twice");
    assert_eq!(
        err.to_string(),
        "state store :memory:: cannot record mail \"q@x\" as comment_added: the mail was already recorded as \
         ticket_created (ticket 55); a mail is handled once"
    );
    assert_eq!(store.processed("q@x").expect("lookup"), Some(retried));

    // A quarantine outcome must name an entry that exists.
    let dangling = mail("r@x", 10, Outcome::Quarantined { quarantine_id: 999 }, None);
    let err = store.record_processed(&dangling).expect_err("foreign key");
    assert_eq!(
        err.to_string(),
        "state store :memory:: cannot record mail \"r@x\" as quarantined: FOREIGN KEY constraint failed"
    );
}

#[test]
fn intents_round_trip_and_a_new_one_replaces_the_old() {
    let clock = FixedClock::at(t0());
    let store = Store::open_in_memory().expect("open").with_clock(Arc::new(clock));
    let comment = Intent {
        message_id: "r@x".into(),
        action: IntentAction::AddComment {
            ticket_id: 77,
            attempted_at: t0() - TimeDelta::minutes(5),
            body_sha256: sha256_hex(b"Obrigado!"),
        },
        started_at: t0() + TimeDelta::nanoseconds(1),
    };
    store.begin_intent(&create_intent("n@x")).expect("intent");
    store.begin_intent(&comment).expect("intent");
    assert_eq!(
        store.pending_intent("r@x").expect("intent"),
        Some(comment.clone())
    );
    assert_eq!(
        store.pending_intents().expect("intents"),
        [create_intent("n@x"), comment.clone()]
    );

    let replacement = Intent {
        action: IntentAction::CreateTicket {
            external_id: "carteiro:r@x:follow-up".into(),
        },
        ..comment
    };
    store.begin_intent(&replacement).expect("replace");
    assert_eq!(store.pending_intent("r@x").expect("intent"), Some(replacement));
    assert_eq!(store.pending_intent("nobody@x").expect("intent"), None);
}

#[test]
fn the_first_linked_message_id_in_the_given_order_wins() {
    let store = Store::open_in_memory().expect("open");
    store.link_message_id("root@x", 10, Direction::In).expect("link");
    store
        .link_message_id("ack@carteiro.example", 11, Direction::Out)
        .expect("link");
    store.link_message_id("reply@x", 12, Direction::In).expect("link");
    let ids = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    assert_eq!(
        store
            .ticket_for_message_ids(&ids(&["unknown@x", "reply@x", "root@x"]))
            .expect("lookup"),
        Some(12)
    );
    assert_eq!(
        store
            .ticket_for_message_ids(&ids(&["root@x", "reply@x"]))
            .expect("lookup"),
        Some(10)
    );
    assert_eq!(
        store
            .ticket_for_message_ids(&ids(&["ack@carteiro.example", "root@x"]))
            .expect("lookup"),
        Some(11)
    );
    assert_eq!(
        store
            .ticket_for_message_ids(&ids(&["a@x", "b@x"]))
            .expect("lookup"),
        None
    );
    assert_eq!(store.ticket_for_message_ids(&[]).expect("lookup"), None);

    // Linking again moves the Message-ID (a follow-up of a closed ticket).
    store
        .link_message_id("root@x", 20, Direction::In)
        .expect("relink");
    assert_eq!(
        store.ticket_for_message_ids(&ids(&["root@x"])).expect("lookup"),
        Some(20)
    );
}

#[test]
fn cursors_are_saved_by_name() {
    let store = Store::open_in_memory().expect("open");
    assert_eq!(store.cursor("zendesk.export").expect("cursor"), None);
    store.set_cursor("zendesk.export", "c1").expect("set");
    store.set_cursor("zendesk.export", "c2").expect("set");
    store.set_cursor("other", "x").expect("set");
    assert_eq!(
        store.cursor("zendesk.export").expect("cursor").as_deref(),
        Some("c2")
    );
    assert_eq!(store.cursor("other").expect("cursor").as_deref(), Some("x"));
}

#[test]
fn the_quarantine_keeps_one_entry_per_raw_mail_and_never_forgets_it() {
    let clock = FixedClock::at(t0());
    let store = Store::open_in_memory()
        .expect("open")
        .with_clock(Arc::new(clock.clone()));
    let bad = NewQuarantine {
        mailbox: "suporte".into(),
        uidvalidity: 3,
        uid: 40,
        message_id: None,
        raw: b"From: ?\r\n\r\nbody".to_vec(),
        reason: "unparseable From".into(),
    };
    let first = store.quarantine(&bad).expect("quarantine");
    let other = store
        .quarantine(&NewQuarantine {
            uid: 41,
            raw: b"another".to_vec(),
            reason: "helpdesk down".into(),
            ..bad.clone()
        })
        .expect("quarantine");
    assert_ne!(first, other);

    clock.advance(TimeDelta::minutes(10));
    store
        .quarantine_retry_failed(first, "still unparseable")
        .expect("retry failed");
    clock.advance(TimeDelta::minutes(10));
    // The same bytes again (another mailbox, say): same entry, count kept,
    // reason updated, location and creation time kept.
    let again = store
        .quarantine(&NewQuarantine {
            mailbox: "vendas".into(),
            uid: 2,
            message_id: Some("late@x".into()),
            reason: "unparseable From (seen again)".into(),
            ..bad.clone()
        })
        .expect("quarantine");
    assert_eq!(again, first);
    let entry = store.quarantine_get(first).expect("get").expect("entry");
    assert_eq!(entry.mailbox, "suporte");
    assert_eq!((entry.uidvalidity, entry.uid), (3, 40));
    assert_eq!(entry.message_id.as_deref(), Some("late@x"));
    assert_eq!(entry.raw_sha256, sha256_hex(&bad.raw));
    assert_eq!(entry.reason, "unparseable From (seen again)");
    assert_eq!(entry.retry_count, 1);
    assert_eq!(entry.created_at, t0());
    assert_eq!(entry.last_attempt_at, Some(t0() + TimeDelta::minutes(10)));
    assert_eq!(entry.resolved, None);
    assert_eq!(entry.raw.as_deref(), Some(&bad.raw[..]));

    store
        .quarantine_resolve(other, "ticket_created #88")
        .expect("resolve");
    let open: Vec<i64> = store
        .quarantine_list(false)
        .expect("list")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(open, [first]);
    let all = store.quarantine_list(true).expect("list");
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), [first, other]);
    assert!(all.iter().all(|e| e.raw.is_none()), "list leaves the bytes out");
    assert_eq!(all[1].resolved.as_deref(), Some("ticket_created #88"));
    assert_eq!(all[1].resolved_at, Some(t0() + TimeDelta::minutes(20)));

    // A resolved mail that is quarantined again is open again.
    store
        .quarantine(&NewQuarantine {
            uid: 41,
            raw: b"another".to_vec(),
            reason: "failed again".into(),
            ..bad
        })
        .expect("quarantine");
    let reopened = store.quarantine_get(other).expect("get").expect("entry");
    assert_eq!((reopened.resolved, reopened.resolved_at), (None, None));
    assert_eq!(reopened.reason, "failed again");

    let err = store.quarantine_retry_failed(999, "x").expect_err("unknown");
    assert_eq!(
        err.to_string(),
        "state store :memory:: cannot note a failed retry of quarantine entry 999: there is no quarantine entry 999"
    );
    let err = store.quarantine_resolve(999, "x").expect_err("unknown");
    assert_eq!(
        err.to_string(),
        "state store :memory:: cannot resolve quarantine entry 999: there is no quarantine entry 999"
    );
    assert_eq!(store.quarantine_get(999).expect("get"), None);
}

#[test]
fn threads_share_one_store_and_two_stores_share_one_file() {
    let dir = scratch("threads");
    let path = dir.join("carteiro.db");
    let shared = Arc::new(Store::open(&path).expect("open"));
    let second = Arc::new(Store::open(&path).expect("open again"));
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let store = if t % 2 == 0 {
                shared.clone()
            } else {
                second.clone()
            };
            std::thread::spawn(move || {
                for i in 0..50u32 {
                    let id = format!("t{t}-m{i}@x");
                    store.begin_intent(&create_intent(&id)).expect("intent");
                    store
                        .record_processed(&mail(
                            &id,
                            i,
                            Outcome::TicketCreated,
                            Some(u64::from(t * 1000 + i)),
                        ))
                        .expect("record");
                    store
                        .set_mailbox_state(
                            &format!("box{t}"),
                            MailboxState {
                                uidvalidity: 1,
                                last_uid: i,
                            },
                        )
                        .expect("state");
                    assert!(store.processed(&id).expect("read").is_some());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread finished");
    }
    let conn = raw(&path);
    assert_eq!(count(&conn, "SELECT count(*) FROM processed_mail"), 400);
    assert_eq!(count(&conn, "SELECT count(*) FROM message_ticket"), 400);
    assert_eq!(count(&conn, "SELECT count(*) FROM intent"), 0);
    for t in 0..8u32 {
        assert_eq!(
            shared.mailbox_state(&format!("box{t}")).expect("state"),
            Some(MailboxState {
                uidvalidity: 1,
                last_uid: 49
            })
        );
        assert_eq!(
            second
                .ticket_for_message_ids(&[format!("t{t}-m17@x")])
                .expect("lookup"),
            Some(u64::from(t * 1000 + 17))
        );
    }
}

#[test]
fn a_store_dropped_without_closing_reopens_with_everything() {
    let dir = scratch("no-close");
    let path = dir.join("carteiro.db");
    let store = Store::open(&path).expect("open");
    for i in 0..20u32 {
        store
            .record_processed(&mail(
                &format!("m{i}@x"),
                i,
                Outcome::TicketCreated,
                Some(u64::from(i)),
            ))
            .expect("record");
    }
    // Leak it: no close, no checkpoint, the WAL file stays as it is.
    std::mem::forget(store);
    assert!(dir.join("carteiro.db-wal").exists());

    let reopened = Store::open(&path).expect("reopen");
    for i in 0..20u32 {
        assert_eq!(
            reopened
                .ticket_for_message_ids(&[format!("m{i}@x")])
                .expect("lookup"),
            Some(u64::from(i))
        );
    }
    assert_eq!(integrity(&raw(&path)), ["ok"]);
}

/// The environment variable that turns [`crash_child_writer`] into the
/// writer that [`a_writer_killed_mid_loop_leaves_a_consistent_store`] kills.
const CHILD_ENV: &str = "CARTEIRO_STORE_TEST_CRASH_CHILD";

/// Not a test on its own: run by the crash test in a child process, with
/// [`CHILD_ENV`] naming the store file. It writes until it is killed, each
/// mail as a restarted ingest would: resume after the saved position, skip
/// a mail already recorded, otherwise intent then outcome (with link and
/// clearing); then the position. Without the variable it returns at once.
#[test]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&path)).expect("child opens the store");
    let start = store
        .mailbox_state("suporte")
        .expect("state")
        .map_or(1, |s| s.last_uid + 1);
    for uid in start..u32::MAX {
        let id = format!("m{uid}@x");
        if store.processed(&id).expect("dedupe").is_none() {
            if uid % 7 == 0 {
                let quarantine_id = store
                    .quarantine(&NewQuarantine {
                        mailbox: "suporte".into(),
                        uidvalidity: 1_700_000_000,
                        uid,
                        message_id: Some(id.clone()),
                        raw: vec![b'x'; 4096 + uid as usize],
                        reason: "injected".into(),
                    })
                    .expect("quarantine");
                store
                    .record_processed(&mail(&id, uid, Outcome::Quarantined { quarantine_id }, None))
                    .expect("record");
            } else {
                store.begin_intent(&create_intent(&id)).expect("intent");
                store
                    .record_processed(&mail(
                        &id,
                        uid,
                        Outcome::TicketCreated,
                        Some(u64::from(uid) + 1000),
                    ))
                    .expect("record");
            }
        }
        store
            .set_mailbox_state(
                "suporte",
                MailboxState {
                    uidvalidity: 1_700_000_000,
                    last_uid: uid,
                },
            )
            .expect("state");
    }
}

#[test]
fn a_writer_killed_mid_loop_leaves_a_consistent_store() {
    let dir = scratch("kill");
    let path = dir.join("carteiro.db");
    drop(Store::open(&path).expect("create"));
    let exe = std::env::current_exe().expect("test binary");
    let watcher = raw(&path);

    // Three writers in turn, each killed mid-loop; each later one resumes
    // from what the earlier left.
    for round in 0..3 {
        let before = count(&watcher, "SELECT count(*) FROM processed_mail");
        let mut child = Command::new(&exe)
            .args([
                "store::crash_child_writer",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the writer");
        // Wait until it has written a good number of mails, then kill it
        // (SIGKILL on Unix: no destructor, no close, no checkpoint).
        let deadline = Instant::now() + Duration::from_secs(60);
        while count(&watcher, "SELECT count(*) FROM processed_mail") < before + 40 {
            if let Some(status) = child.try_wait().expect("poll child") {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                panic!("round {round}: the writer exited early ({status}): {stderr}");
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the writer made no progress"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().expect("kill the writer");
        child.wait().expect("reap the writer");

        // Reopen as a restarted carteiro would, and check every invariant.
        let store = Store::open(&path).expect("reopen after the kill");
        let conn = raw(&path);
        assert_eq!(integrity(&conn), ["ok"], "round {round}");
        assert_eq!(count(&conn, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
        // Every mail up to the highest recorded one is recorded exactly once.
        let max_uid = count(&conn, "SELECT max(uid) FROM processed_mail");
        assert!(max_uid >= before + 40, "round {round}");
        assert_eq!(
            count(&conn, "SELECT count(DISTINCT uid) FROM processed_mail"),
            max_uid,
            "round {round}"
        );
        assert_eq!(count(&conn, "SELECT count(*) FROM processed_mail"), max_uid);
        // Every mail with a ticket is linked to it, and none keeps an intent.
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM processed_mail p LEFT JOIN message_ticket l USING (message_id)
                 WHERE l.ticket_id IS NOT p.ticket_id"
            ),
            0,
            "round {round}"
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM intent JOIN processed_mail USING (message_id)"
            ),
            0,
            "round {round}"
        );
        // At most the mail in flight has an intent, and it is the next one.
        let intents = store.pending_intents().expect("intents");
        assert!(intents.len() <= 1, "round {round}: {intents:?}");
        for intent in &intents {
            assert_eq!(intent.message_id, format!("m{}@x", max_uid + 1));
        }
        // The position never runs ahead of the recorded mails, nor more
        // than the one in flight behind.
        let state = store
            .mailbox_state("suporte")
            .expect("state")
            .expect("a position");
        let last = i64::from(state.last_uid);
        assert!(
            last == max_uid || last == max_uid - 1,
            "round {round}: {last} vs {max_uid}"
        );
        // Every quarantined mail has its whole entry, once.
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM processed_mail p JOIN quarantine q ON q.id = p.quarantine_id
                 WHERE length(q.raw) = 4096 + p.uid"
            ),
            max_uid / 7,
            "round {round}"
        );
        // The one in flight may be quarantined and not yet recorded; its
        // retry finds the same entry.
        let unrecorded = count(
            &conn,
            "SELECT count(*) FROM quarantine q
             WHERE NOT EXISTS (SELECT 1 FROM processed_mail p WHERE p.quarantine_id = q.id)",
        );
        let in_flight = count(
            &conn,
            &format!(
                "SELECT count(*) FROM quarantine WHERE uid = {} AND length(raw) = 4096 + uid",
                max_uid + 1
            ),
        );
        assert_eq!(unrecorded, in_flight, "round {round}");
    }
}
