//! Unit tests of the store's pieces: migrations, stored forms, decoding.
//! The whole store, on files and across processes, is tested in
//! `tests/store.rs`.

use chrono::TimeZone;

use super::*;

fn at(seconds: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, nanos).single().expect("valid instant")
}

#[test]
fn a_new_store_is_at_the_latest_version() {
    let store = Store::open_in_memory().expect("open");
    assert_eq!(Store::latest_schema_version(), 2);
    assert_eq!(store.schema_version().expect("version"), 2);
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
