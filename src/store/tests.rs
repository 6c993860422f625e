//! Unit tests of the store's pieces: migrations, stored forms, decoding.
//! The whole store, on files and across processes, is tested in
//! `tests/it/store.rs`.

use chrono::TimeZone;

use super::*;

fn at(seconds: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, nanos).single().expect("valid instant")
}

#[test]
fn a_new_store_is_at_the_latest_version() {
    let store = Store::open_in_memory().expect("open");
    assert_eq!(Store::latest_schema_version(), 6);
    assert_eq!(store.schema_version().expect("version"), 6);
    assert_eq!(store.path(), Path::new(":memory:"));
}

#[test]
fn a_version_1_file_migrates_to_the_latest_and_keeps_its_rows() {
    let dir = std::env::temp_dir().join(format!("carteiro-store-v1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("v1.db");
    let _ = std::fs::remove_file(&path);
    {
        let mut conn = Connection::open(&path).expect("open");
        migrations::migrate(&mut conn, &migrations::MIGRATIONS[..1]).expect("version 1");
        conn.execute(
            "INSERT INTO cursor (name, value, updated_at) VALUES ('export', 'abc', '2026-01-01T00:00:00.000000000Z')",
            [],
        )
        .expect("row");
    }
    let store = Store::open(&path).expect("reopen");
    assert_eq!(
        store.schema_version().expect("version"),
        Store::latest_schema_version()
    );
    assert_eq!(store.cursor("export").expect("cursor").as_deref(), Some("abc"));
    store.set_helpdesk_user("a@example.com", 7).expect("user");
    assert_eq!(store.helpdesk_user("a@example.com").expect("read"), Some(7));
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn helpdesk_users_are_found_without_case_and_updated_in_place() {
    let store = Store::open_in_memory().expect("open");
    assert_eq!(store.helpdesk_user("Maria@Example.com").expect("read"), None);
    store.set_helpdesk_user("maria@example.com", 11).expect("save");
    assert_eq!(store.helpdesk_user("Maria@Example.COM").expect("read"), Some(11));
    store
        .set_helpdesk_user("MARIA@example.com", 12)
        .expect("save again");
    assert_eq!(store.helpdesk_user("maria@example.com").expect("read"), Some(12));
    let rows: i64 = store
        .read("count", |conn| {
            Ok(conn.query_row("SELECT count(*) FROM helpdesk_user", [], |row| row.get(0))?)
        })
        .expect("count");
    assert_eq!(rows, 1, "one row per address, whatever its case");
}

#[test]
fn a_failing_migration_leaves_the_previous_version_and_no_half_schema() {
    let mut conn = Connection::open_in_memory().expect("open");
    let good = "CREATE TABLE a (x INTEGER) STRICT;";
    let bad = "CREATE TABLE b (y INTEGER) STRICT; INSERT INTO nowhere VALUES (1);";
    let err = migrations::migrate(&mut conn, &[good, bad]).expect_err("second migration fails");
    match err {
        migrations::MigrateError::Sqlite { step, cause } => {
            assert_eq!(step, "migrate the schema to version 2");
            assert_eq!(cause.to_string(), "no such table: nowhere");
        }
        other => panic!("expected a SQLite error, got {other:?}"),
    }
    assert_eq!(migrations::version(&conn).expect("version"), 1);
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("tables");
    assert_eq!(tables, ["a"]);

    // Fixed, the next open finishes the job from version 1.
    let fixed = "CREATE TABLE b (y INTEGER) STRICT;";
    migrations::migrate(&mut conn, &[good, fixed]).expect("migrates");
    assert_eq!(migrations::version(&conn).expect("version"), 2);
}

#[test]
fn migrations_refuse_newer_and_foreign_files() {
    let mut conn = Connection::open_in_memory().expect("open");
    migrations::migrate(&mut conn, migrations::MIGRATIONS).expect("migrates");
    conn.pragma_update(None, "user_version", 9).expect("bump");
    match migrations::migrate(&mut conn, migrations::MIGRATIONS) {
        Err(migrations::MigrateError::TooNew { found, supported }) => {
            assert_eq!((found, supported), (9, Store::latest_schema_version()));
        }
        other => panic!("expected TooNew, got {other:?}"),
    }

    let mut other_app = Connection::open_in_memory().expect("open");
    other_app
        .execute_batch("CREATE TABLE notes (t TEXT);")
        .expect("table");
    match migrations::migrate(&mut other_app, migrations::MIGRATIONS) {
        Err(migrations::MigrateError::Foreign(reason)) => assert_eq!(
            reason,
            "it is a SQLite database with tables but no carteiro schema; point state.path at a new file"
        ),
        other => panic!("expected Foreign, got {other:?}"),
    }

    let mut tagged = Connection::open_in_memory().expect("open");
    tagged.pragma_update(None, "application_id", 7).expect("tag");
    match migrations::migrate(&mut tagged, migrations::MIGRATIONS) {
        Err(migrations::MigrateError::Foreign(reason)) => assert_eq!(
            reason,
            "it is a SQLite database of another application (application_id 0x00000007, carteiro's is 0x63617274)"
        ),
        other => panic!("expected Foreign, got {other:?}"),
    }
}

#[test]
fn timestamps_are_fixed_width_utc_and_lossless() {
    let exact = at(1_795_000_000, 123_456_789);
    assert_eq!(stamp(exact), "2026-11-18T11:06:40.123456789Z");
    assert_eq!(parse_stamp(&stamp(exact)).expect("parses"), exact);
    assert_eq!(stamp(at(1_795_000_000, 0)), "2026-11-18T11:06:40.000000000Z");
    // Fixed width, so text order is time order.
    assert!(stamp(at(1_795_000_000, 0)) < stamp(at(1_795_000_000, 1)));
    assert!(stamp(at(1_795_000_000, 999_999_999)) < stamp(at(1_795_000_001, 0)));
}

#[test]
fn sha256_is_lowercase_hex() {
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn stored_rows_that_carteiro_cannot_read_are_reported_not_guessed() {
    let raw = RawProcessed {
        message_id: "m@x".into(),
        raw_sha256: "00".into(),
        mailbox: "suporte".into(),
        uidvalidity: 1,
        uid: 2,
        outcome: "teleported".into(),
        reason: None,
        quarantine_id: None,
        ticket_id: None,
        processed_at: "2026-11-18T06:13:20.000000000Z".into(),
    };
    let err = raw
        .into_processed()
        .expect_err("unknown outcome")
        .into_error(PathBuf::from("/var/lib/carteiro/state.db"), "read mail".into());
    assert_eq!(
        err.to_string(),
        "state store /var/lib/carteiro/state.db: cannot read mail: stored outcome \"teleported\" is not one carteiro knows"
    );

    let intent = RawIntent {
        message_id: "m@x".into(),
        action: "add_comment".into(),
        external_id: None,
        ticket_id: Some(4),
        updated_stamp: Some("yesterday".into()),
        body_sha256: Some("ab".into()),
        started_at: "2026-11-18T06:13:20.000000000Z".into(),
    };
    match intent.into_intent() {
        Err(Fault::Invalid(problem)) => assert_eq!(
            problem,
            "stored timestamp \"yesterday\" is not RFC 3339: premature end of input"
        ),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn ticket_ids_beyond_sqlite_range_are_refused_with_the_operation() {
    let store = Store::open_in_memory().expect("open");
    let err = store
        .link_message_id("m@x", u64::MAX, Direction::Out)
        .expect_err("out of range");
    assert_eq!(
        err.to_string(),
        "state store :memory:: cannot link Message-ID \"m@x\" to ticket 18446744073709551615: ticket id \
         18446744073709551615 is beyond SQLite's integer range"
    );
    assert_eq!(
        store.ticket_for_message_ids(&["m@x".into()]).expect("lookup"),
        None
    );
}

#[test]
fn the_store_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Store>();
}

mod outbox {
    use std::time::Duration;

    use super::*;
    use crate::clock::FixedClock;
    use crate::store::{Enqueued, GuardPolicy, NewOutboxMail, OutboxState, Suppression, WindowCap};

    fn policy(recipient_caps: Vec<WindowCap>, ticket_caps: Vec<WindowCap>) -> GuardPolicy {
        GuardPolicy {
            own_addresses: vec!["suporte@empresa.com.br".to_owned()],
            robots: regex::Regex::new(crate::config::DEFAULT_ROBOT_ADDRESSES).expect("regex"),
            recipient_caps,
            ticket_caps,
        }
    }

    fn mail(n: u32, ticket_id: u64, to: &[&str]) -> NewOutboxMail {
        NewOutboxMail {
            message_id: format!("m{n}@empresa.com.br"),
            ticket_id,
            envelope_from: "suporte@empresa.com.br".to_owned(),
            recipients: to.iter().map(|s| (*s).to_owned()).collect(),
            subject: format!("Assunto {n}"),
            raw: format!("Subject: {n}\r\n\r\ncorpo\r\n").into_bytes(),
        }
    }

    fn store_at(clock: &Arc<FixedClock>) -> Store {
        Store::open_in_memory().expect("open").with_clock(clock.clone())
    }

    fn counts(store: &Store) -> Vec<(String, u64)> {
        store
            .suppression_counts()
            .expect("counts")
            .into_iter()
            .map(|c| (c.reason, c.count))
            .collect()
    }

    #[test]
    fn enqueue_links_the_message_id_and_a_retried_action_is_not_queued_twice() {
        let clock = Arc::new(FixedClock::at(at(1_800_000_000, 0)));
        let store = store_at(&clock);
        let policy = policy(vec![], vec![]);
        let first = store
            .enqueue_mail(&mail(1, 7, &["Maria@Cliente.com.br"]), &policy)
            .expect("enqueue");
        let Enqueued::Queued { id, dropped, .. } = first else {
            panic!("expected queued, got {first:?}")
        };
        assert!(dropped.is_empty());
        assert_eq!(
            store
                .ticket_for_message_ids(&["m1@empresa.com.br".to_owned()])
                .expect("thread"),
            Some(7)
        );
        assert_eq!(
            store
                .enqueue_mail(&mail(1, 7, &["maria@cliente.com.br"]), &policy)
                .expect("again"),
            Enqueued::AlreadyQueued { id }
        );
        let listed = store.outbox_list(false).expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].recipients, ["maria@cliente.com.br"]);
        assert_eq!(listed[0].state, OutboxState::Queued);
    }

    #[test]
    fn own_and_robot_recipients_are_dropped_and_counted() {
        let clock = Arc::new(FixedClock::at(at(1_800_000_000, 0)));
        let store = store_at(&clock);
        let policy = policy(vec![], vec![]);
        for (n, robot) in [
            "MAILER-DAEMON@x.org",
            "postmaster@x.org",
            "no-reply@x.org",
            "noreply+abc@x.org",
            "do-not-reply@x.org",
        ]
        .iter()
        .enumerate()
        {
            let outcome = store
                .enqueue_mail(&mail(n as u32, 1, &[robot]), &policy)
                .expect("enqueue");
            assert!(
                matches!(
                    outcome,
                    Enqueued::Suppressed {
                        reason: Suppression::RobotAddress,
                        ..
                    }
                ),
                "{robot}: {outcome:?}"
            );
        }
        let outcome = store
            .enqueue_mail(
                &mail(10, 1, &["suporte@empresa.com.br", "maria@cliente.com.br"]),
                &policy,
            )
            .expect("enqueue");
        let Enqueued::Queued { dropped, .. } = outcome else {
            panic!("expected queued, got {outcome:?}")
        };
        assert_eq!(
            dropped,
            [("suporte@empresa.com.br".to_owned(), Suppression::OwnAddress)]
        );
        assert_eq!(
            store.outbox_list(false).expect("list")[0].recipients,
            ["maria@cliente.com.br"]
        );
        assert_eq!(
            counts(&store),
            [
                ("no_recipient".to_owned(), 5),
                ("own_address".to_owned(), 1),
                ("robot_address".to_owned(), 5)
            ]
        );
        // A person whose name merely contains the words is not a robot.
        let outcome = store
            .enqueue_mail(&mail(11, 2, &["joao.postmaster@cliente.com.br"]), &policy)
            .expect("enqueue");
        assert!(matches!(outcome, Enqueued::Queued { .. }), "{outcome:?}");
    }

    #[test]
    fn sliding_window_caps_count_per_recipient_and_per_ticket_and_slide() {
        let clock = Arc::new(FixedClock::at(at(1_800_000_000, 0)));
        let store = store_at(&clock);
        let ten_minutes = Duration::from_secs(600);
        let policy = policy(
            vec![WindowCap {
                limit: 3,
                window: ten_minutes,
            }],
            vec![WindowCap {
                limit: 4,
                window: ten_minutes,
            }],
        );
        for n in 0..3 {
            let outcome = store
                .enqueue_mail(&mail(n, 1, &["maria@cliente.com.br"]), &policy)
                .expect("enqueue");
            assert!(matches!(outcome, Enqueued::Queued { .. }), "{outcome:?}");
            clock.advance(chrono::TimeDelta::seconds(60));
        }
        let capped = store
            .enqueue_mail(&mail(3, 1, &["MARIA@cliente.com.br"]), &policy)
            .expect("enqueue");
        match &capped {
            Enqueued::Suppressed {
                reason: Suppression::RecipientCap,
                detail,
            } => {
                assert!(
                    detail.contains("maria@cliente.com.br already had 3 mail(s) within 600s"),
                    "{detail}"
                )
            }
            other => panic!("expected the recipient cap, got {other:?}"),
        }
        // Another recipient on the same ticket: one more fits, then the
        // ticket's cap of 4 holds.
        let other = store
            .enqueue_mail(&mail(4, 1, &["jose@cliente.com.br"]), &policy)
            .expect("enqueue");
        assert!(matches!(other, Enqueued::Queued { .. }), "{other:?}");
        let capped = store
            .enqueue_mail(&mail(5, 1, &["ana@cliente.com.br"]), &policy)
            .expect("enqueue");
        assert!(
            matches!(
                capped,
                Enqueued::Suppressed {
                    reason: Suppression::TicketCap,
                    ..
                }
            ),
            "{capped:?}"
        );
        // The window slides: ten minutes after the first mail, one fits again.
        clock.advance(chrono::TimeDelta::seconds(8 * 60 + 1));
        let later = store
            .enqueue_mail(&mail(6, 1, &["maria@cliente.com.br"]), &policy)
            .expect("enqueue");
        assert!(matches!(later, Enqueued::Queued { .. }), "{later:?}");
        assert_eq!(
            counts(&store),
            [("recipient_cap".to_owned(), 1), ("ticket_cap".to_owned(), 1)]
        );
    }

    #[test]
    fn mail_about_no_ticket_has_no_link_and_no_ticket_cap_but_recipient_caps_hold() {
        let clock = Arc::new(FixedClock::at(at(1_800_000_000, 0)));
        let store = store_at(&clock);
        let cap = |limit| WindowCap {
            limit,
            window: Duration::from_secs(600),
        };
        let policy = policy(vec![cap(2)], vec![cap(1)]);
        // Two digests to two people: the ticket cap of 1 does not apply to
        // ticket 0, which is no ticket.
        for (n, to) in [(1, "gestor@empresa.com.br"), (2, "diretor@empresa.com.br")] {
            let queued = store.enqueue_mail(&mail(n, 0, &[to]), &policy).expect("enqueue");
            assert!(matches!(queued, Enqueued::Queued { .. }), "{queued:?}");
        }
        assert_eq!(
            store
                .ticket_for_message_ids(&["m1@empresa.com.br".to_owned()])
                .expect("lookup"),
            None,
            "a reply to a digest threads into no ticket"
        );
        // The recipient caps still hold.
        let again = store
            .enqueue_mail(&mail(3, 0, &["gestor@empresa.com.br"]), &policy)
            .expect("enqueue");
        assert!(matches!(again, Enqueued::Queued { .. }), "{again:?}");
        let capped = store
            .enqueue_mail(&mail(4, 0, &["gestor@empresa.com.br"]), &policy)
            .expect("enqueue");
        assert!(
            matches!(
                capped,
                Enqueued::Suppressed {
                    reason: Suppression::RecipientCap,
                    ..
                }
            ),
            "{capped:?}"
        );
    }

    #[test]
    fn a_bouncing_recipient_holds_mail_at_enqueue_and_at_claim_until_cleared() {
        let clock = Arc::new(FixedClock::at(at(1_800_000_000, 0)));
        let store = store_at(&clock);
        let policy = policy(vec![], vec![]);
        let queued = store
            .enqueue_mail(&mail(1, 3, &["maria@cliente.com.br"]), &policy)
            .expect("enqueue");
        let Enqueued::Queued { id: queued_id, .. } = queued else {
            panic!("{queued:?}")
        };
        store
            .mark_bouncing("Maria@Cliente.com.br", "550 5.1.1 no such user", Some(3))
            .expect("mark");
        let held = store
            .enqueue_mail(&mail(2, 3, &["maria@cliente.com.br"]), &policy)
            .expect("enqueue");
        let Enqueued::Held {
            id: held_id, reason, ..
        } = held
        else {
            panic!("{held:?}")
        };
        assert!(
            reason.contains("maria@cliente.com.br is marked bouncing"),
            "{reason}"
        );
        // The mail queued before the bounce was known is held when claimed.
        assert_eq!(store.claim_due_mail().expect("claim"), None);
        let states: Vec<_> = store
            .outbox_list(true)
            .expect("list")
            .iter()
            .map(|e| e.state)
            .collect();
        assert_eq!(states, [OutboxState::Held, OutboxState::Held]);
        assert_eq!(counts(&store), [("bouncing".to_owned(), 2)]);
        // Retry refuses while the address bounces, then releases.
        let refused = store.outbox_retry(held_id).expect("retry");
        assert!(
            refused
                .as_ref()
                .is_err_and(|r| r.contains("still marked bouncing")),
            "{refused:?}"
        );
        assert!(store.clear_bouncing("maria@cliente.com.br").expect("clear"));
        assert_eq!(store.outbox_retry(queued_id).expect("retry"), Ok(()));
        let claimed = store.claim_due_mail().expect("claim").expect("a due mail");
        assert_eq!(
            (claimed.id, claimed.attempts, claimed.state),
            (queued_id, 1, OutboxState::Sending)
        );
        assert!(claimed.raw.is_some());
    }

    #[test]
    fn claim_mark_retry_fail_and_an_interrupted_send_is_requeued() {
        let clock = Arc::new(FixedClock::at(at(1_800_000_000, 0)));
        let store = store_at(&clock);
        let policy = policy(vec![], vec![]);
        for n in 0..3 {
            store
                .enqueue_mail(&mail(n, 9, &["maria@cliente.com.br"]), &policy)
                .expect("enqueue");
        }
        let first = store.claim_due_mail().expect("claim").expect("due");
        store
            .mark_mail_sent(first.id, "250 2.0.0 Ok: queued as ABC")
            .expect("sent");
        let second = store.claim_due_mail().expect("claim").expect("due");
        let later = clock.now() + chrono::TimeDelta::seconds(30);
        store
            .mark_mail_retry(second.id, "temporary failure at connect", later)
            .expect("retry");
        let third = store.claim_due_mail().expect("claim").expect("due");
        // Nothing else is due until the retry time.
        assert_eq!(store.claim_due_mail().expect("claim"), None);
        assert_eq!(store.next_mail_due_at().expect("due"), Some(later));
        // A crash now leaves the third `sending`: a restart requeues it.
        let interrupted = store.requeue_interrupted_mail().expect("requeue");
        assert_eq!(interrupted.iter().map(|e| e.id).collect::<Vec<_>>(), [third.id]);
        let again = store.claim_due_mail().expect("claim").expect("due");
        assert_eq!((again.id, again.attempts), (third.id, 2));
        store
            .mark_mail_failed(
                again.id,
                "permanent failure at RCPT TO",
                Some("maria@cliente.com.br"),
            )
            .expect("failed");
        assert!(
            store
                .bouncing("maria@cliente.com.br")
                .expect("bouncing")
                .is_some()
        );
        assert_eq!(store.failed_mail_to_note().expect("to note").len(), 1);
        store.mark_mail_noted(again.id).expect("noted");
        assert!(store.failed_mail_to_note().expect("to note").is_empty());
        let sent = store.outbox_get(first.id).expect("get").expect("row");
        assert_eq!(sent.state, OutboxState::Sent);
        assert_eq!(sent.response.as_deref(), Some("250 2.0.0 Ok: queued as ABC"));
        assert_eq!(
            store.outbox_retry(first.id).expect("retry"),
            Err(format!("mail {} was sent already", first.id))
        );
        assert_eq!(store.outbox_list(false).expect("list").len(), 2);
    }

    #[test]
    fn enqueue_in_a_callers_transaction_rolls_back_with_it() {
        let clock = Arc::new(FixedClock::at(at(1_800_000_000, 0)));
        let store = store_at(&clock);
        let policy = policy(vec![], vec![]);
        let now = clock.now();
        let failed: Result<(), StoreError> = store.write("journal and mail", |tx| {
            super::super::outbox::enqueue_in(tx, &mail(1, 5, &["maria@cliente.com.br"]), &policy, now)?;
            Err(Fault::Invalid("the journal entry failed".to_owned()))
        });
        assert!(failed.is_err());
        assert!(store.outbox_list(true).expect("list").is_empty());
        assert_eq!(
            store
                .ticket_for_message_ids(&["m1@empresa.com.br".to_owned()])
                .expect("thread"),
            None
        );
        store
            .write("journal and mail", |tx| {
                super::super::outbox::enqueue_in(tx, &mail(1, 5, &["maria@cliente.com.br"]), &policy, now)
            })
            .expect("commit");
        assert_eq!(store.outbox_list(true).expect("list").len(), 1);
    }
}

#[test]
fn opening_waits_for_another_process_that_holds_a_new_file() {
    let dir = std::env::temp_dir().join(format!("carteiro-store-wal-race-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("new.db");
    let _ = std::fs::remove_file(&path);
    // Another opener has the brand-new file locked, as a starting daemon
    // does while it switches the file to WAL and migrates it. (The race
    // seen in the outbox tests, "cannot switch to WAL mode: database is
    // locked" from a `carteiro mail send` beside a starting daemon, is
    // timing-dependent; this pins the waiting, not that exact race.)
    let holder = Connection::open(&path).expect("open");
    holder.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let opening = {
        let path = path.clone();
        std::thread::spawn(move || Store::open(&path).map(|s| s.schema_version()))
    };
    std::thread::sleep(Duration::from_millis(300));
    holder.execute_batch("COMMIT").expect("unlock");
    drop(holder);
    let version = opening
        .join()
        .expect("thread")
        .expect("open after the lock is gone");
    assert_eq!(version.expect("version"), Store::latest_schema_version());
    let _ = std::fs::remove_dir_all(&dir);
}

// ----- ticket snapshots, people and the ticket event queue ---------------

mod tickets {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;
    use crate::helpdesk::clocks::TicketClocks;
    use crate::helpdesk::{Role, Status, Ticket, User};
    use crate::tickets::{Delta, NewComment, Snapshot, TicketChange, TicketEvent, TicketEventKind};

    fn ticket(id: u64, status: &str, updated: &str) -> Ticket {
        serde_json::from_value(json!({
            "id": id, "created_at": "2026-03-02T12:00:00Z", "updated_at": updated,
            "status": status, "tags": ["vip"], "group_id": 5,
        }))
        .expect("ticket")
    }

    fn snapshot(id: u64, status: &str) -> Snapshot {
        Snapshot {
            ticket: ticket(id, status, "2026-03-02T13:00:00Z"),
            clocks: TicketClocks::default(),
            last_audit_id: None,
        }
    }

    fn event(ticket_id: u64, kind: TicketEventKind) -> TicketEvent {
        TicketEvent {
            kind,
            ticket_id,
            version: at(1_772_456_400, 0),
            change: TicketChange {
                status: Some(Delta {
                    from: Status::Open,
                    to: Status::Pending,
                }),
                comments: vec![NewComment {
                    id: 99,
                    author_id: Some(3),
                    author_role: Some(Role::Agent),
                    public: true,
                    body: "Olá".into(),
                    created_at: at(1_772_456_400, 0),
                }],
                ..TicketChange::default()
            },
        }
    }

    fn user(id: u64, role: Role) -> User {
        serde_json::from_value(json!({
            "id": id, "name": format!("user {id}"), "email": format!("u{id}@example.com"),
            "role": match role { Role::EndUser => "end-user", Role::Agent => "agent", Role::Admin => "admin" },
        }))
        .expect("user")
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_snapshot() {
        let store = Store::open_in_memory().expect("open");
        let newer = Snapshot {
            ticket: ticket(7, "hold", "2026-03-02T14:00:00Z"),
            clocks: TicketClocks::default(),
            last_audit_id: Some(2),
        };
        let older = Snapshot {
            ticket: ticket(7, "open", "2026-03-02T13:00:00Z"),
            clocks: TicketClocks::default(),
            last_audit_id: Some(1),
        };
        store.save_snapshot(&newer).expect("save newer");
        store.save_snapshot(&older).expect("save older");
        assert_eq!(store.snapshot(7).expect("read"), Some(newer.clone()));
        let same_version = Snapshot {
            last_audit_id: Some(3),
            ..newer
        };
        store.save_snapshot(&same_version).expect("save same version");
        assert_eq!(
            store.snapshot(7).expect("read"),
            Some(same_version),
            "the same version may be refreshed"
        );
    }

    #[test]
    fn a_snapshot_reads_back_with_its_clocks_and_last_audit() {
        let store = Store::open_in_memory().expect("open");
        assert_eq!(store.snapshot(7).expect("read"), None);
        let saved = Snapshot {
            ticket: ticket(7, "pending", "2026-03-02T13:00:00Z"),
            clocks: TicketClocks {
                status_changed_at: Some(at(1_772_456_400, 5)),
                custom_status_changed_at: Some(at(1_772_456_400, 5)),
                last_requester_comment_at: None,
                last_agent_public_comment_at: Some(at(1_772_450_000, 0)),
                assigned_at: None,
                solved_at: Some(at(1_772_400_000, 0)),
            },
            last_audit_id: Some(41),
        };
        store.save_snapshot(&saved).expect("save");
        assert_eq!(store.snapshot(7).expect("read"), Some(saved.clone()));
        let status_column: (String, String, Option<String>) = store
            .read("columns", |conn| {
                Ok(conn.query_row(
                    "SELECT status, updated_at, status_changed_at FROM ticket_snapshot WHERE ticket_id = 7",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )?)
            })
            .expect("columns");
        assert_eq!(
            status_column,
            (
                "pending".to_owned(),
                "2026-03-02T13:00:00.000000000Z".to_owned(),
                Some("2026-03-02T13:00:00.000000005Z".to_owned())
            )
        );

        let mut newer = saved;
        newer.ticket.status = Status::Open;
        newer.last_audit_id = Some(42);
        store.save_snapshot(&newer).expect("replace");
        assert_eq!(store.snapshot(7).expect("read"), Some(newer));
        assert_eq!(store.snapshot_count().expect("count"), 1);
    }

    #[test]
    fn a_sweep_pages_by_id_and_leaves_out_closed_and_deleted_tickets() {
        let store = Store::open_in_memory().expect("open");
        for (id, status) in [
            (5, "open"),
            (1, "pending"),
            (3, "closed"),
            (4, "deleted"),
            (2, "solved"),
            (6, "hold"),
        ] {
            store.save_snapshot(&snapshot(id, status)).expect("save");
        }
        let ids = |snapshots: Vec<Snapshot>| snapshots.iter().map(|s| s.ticket.id).collect::<Vec<_>>();
        assert_eq!(ids(store.sweep_snapshots(None, 2).expect("page 1")), [1, 2]);
        assert_eq!(ids(store.sweep_snapshots(Some(2), 2).expect("page 2")), [5, 6]);
        assert_eq!(
            ids(store.sweep_snapshots(Some(6), 2).expect("page 3")),
            Vec::<u64>::new()
        );
        assert_eq!(store.snapshot_count().expect("count"), 6);
    }

    #[test]
    fn a_report_also_reads_the_tickets_closed_since_its_period_began() {
        let store = Store::open_in_memory().expect("open");
        for (id, status, updated) in [
            (1, "closed", "2026-03-01T12:00:00Z"),
            (2, "closed", "2026-03-02T13:00:00Z"),
            (3, "open", "2026-02-01T12:00:00Z"),
            (4, "deleted", "2026-03-03T12:00:00Z"),
            (5, "solved", "2026-02-01T12:00:00Z"),
            (6, "closed", "2026-03-04T00:00:00Z"),
        ] {
            let mut saved = snapshot(id, status);
            saved.ticket = ticket(id, status, updated);
            store.save_snapshot(&saved).expect("save");
        }
        let ids = |snapshots: Vec<Snapshot>| snapshots.iter().map(|s| s.ticket.id).collect::<Vec<_>>();
        let since = DateTime::parse_from_rfc3339("2026-03-02T00:00:00Z")
            .expect("instant")
            .with_timezone(&Utc);
        // Closed 1 was last updated before the period: nothing in it.
        assert_eq!(
            ids(store.summary_snapshots(None, 10, Some(since)).expect("all")),
            [2, 3, 5, 6]
        );
        assert_eq!(
            ids(store.summary_snapshots(Some(2), 2, Some(since)).expect("page")),
            [3, 5]
        );
        // Without a period, what a sweep reads.
        assert_eq!(
            ids(store.summary_snapshots(None, 10, None).expect("open")),
            [3, 5]
        );
    }

    #[test]
    fn people_roles_are_cached_and_refreshed() {
        let store = Store::open_in_memory().expect("open");
        assert!(store.person_roles(&[1, 2]).expect("none yet").is_empty());
        store
            .save_people(&[user(1, Role::EndUser), user(2, Role::Agent)])
            .expect("save");
        let roles = store.person_roles(&[1, 2, 3]).expect("roles");
        assert_eq!(roles, HashMap::from([(1, Role::EndUser), (2, Role::Agent)]));
        store.save_people(&[user(1, Role::Admin)]).expect("promote");
        assert_eq!(store.person_roles(&[1]).expect("roles")[&1], Role::Admin);
    }

    #[test]
    fn a_poll_saves_snapshots_events_and_cursor_together_and_events_queue_in_order() {
        let store = Store::open_in_memory().expect("open");
        let first = event(7, TicketEventKind::Updated);
        let second = event(8, TicketEventKind::Created);
        store
            .queue_poll(
                &[snapshot(7, "pending"), snapshot(8, "new")],
                &[first.clone(), second.clone()],
                "zendesk_ticket_export",
                "cursor-1",
            )
            .expect("queue");
        assert_eq!(
            store.cursor("zendesk_ticket_export").expect("cursor").as_deref(),
            Some("cursor-1")
        );
        assert_eq!(store.snapshot_count().expect("count"), 2);
        let pending = store.pending_ticket_events(10).expect("pending");
        let events: Vec<&TicketEvent> = pending.iter().map(|(_, e)| e).collect();
        assert_eq!(events, [&first, &second]);
        assert_eq!(store.pending_ticket_events(1).expect("one").len(), 1);

        store.finish_ticket_event(pending[0].0).expect("finish");
        store.finish_ticket_event(pending[0].0).expect("finish again");
        let left = store.pending_ticket_events(10).expect("pending");
        assert_eq!(left, [(pending[1].0, second)]);
        let missing = store.finish_ticket_event(999).expect_err("no such event");
        assert_eq!(
            missing.to_string(),
            "state store :memory:: cannot mark ticket event 999 done: there is no ticket event 999"
        );
    }

    #[test]
    fn a_poll_that_fails_midway_writes_nothing_not_even_the_cursor() {
        let store = Store::open_in_memory().expect("open");
        store
            .set_cursor("zendesk_ticket_export", "cursor-1")
            .expect("cursor");
        // The second event's ticket id cannot be stored: the snapshot and
        // the first event, written before it, are rolled back with it.
        let err = store
            .queue_poll(
                &[snapshot(7, "pending")],
                &[
                    event(7, TicketEventKind::Updated),
                    event(u64::MAX, TicketEventKind::Created),
                ],
                "zendesk_ticket_export",
                "cursor-2",
            )
            .expect_err("refused");
        assert!(err.to_string().contains("beyond SQLite's integer range"), "{err}");
        assert_eq!(
            store.cursor("zendesk_ticket_export").expect("cursor").as_deref(),
            Some("cursor-1")
        );
        assert_eq!(store.snapshot_count().expect("count"), 0);
        assert!(store.pending_ticket_events(10).expect("pending").is_empty());
    }
}
