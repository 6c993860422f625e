//! Conformance of carteiro's Zendesk layer.
//!
//! (a) Real recorded Zendesk payloads decode with the client's own types.
//! (b) The simulator answers the same endpoints with the same shapes.
//! (c) The real client, against the simulator, keeps Zendesk's semantics and
//!     the reliability contract (conflicts, retries, pacing, idempotency).

use std::path::PathBuf;

use carteiro::helpdesk::error::{ApiErrorBody, HelpDeskError};
use carteiro::helpdesk::wire::{self, ConformanceError};

/// The recorded fixtures: `ZENDESK_FIXTURES_DIR`, or the shared folder
/// beside the repository.
fn fixtures_dir() -> PathBuf {
    match std::env::var_os("ZENDESK_FIXTURES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/zendesk"),
    }
}

/// One row of `MANIFEST.tsv`: `file`, `status`, `key`.
#[derive(Debug)]
struct Recorded {
    file: String,
    status: u16,
    key: String,
}

fn manifest() -> Vec<Recorded> {
    let dir = fixtures_dir();
    let path = dir.join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "cannot read {}: {err}. Set ZENDESK_FIXTURES_DIR to the folder of recorded Zendesk payloads",
            path.display()
        )
    });
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if n == 0 || line.trim().is_empty() {
            assert!(
                n != 0 || line.split('\t').collect::<Vec<_>>() == ["file", "status", "key"],
                "{}:1: the header must be `file\\tstatus\\tkey`, found {line:?}",
                path.display()
            );
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            cols.len(),
            3,
            "{}:{}: expected 3 tab-separated columns: {line:?}",
            path.display(),
            n + 1
        );
        let status = cols[1].parse().unwrap_or_else(|_| {
            panic!(
                "{}:{}: status {:?} is not a number",
                path.display(),
                n + 1,
                cols[1]
            )
        });
        rows.push(Recorded {
            file: cols[0].to_owned(),
            status,
            key: cols[2].to_owned(),
        });
    }
    assert!(!rows.is_empty(), "{} lists no payloads", path.display());
    rows
}

#[test]
fn every_recorded_payload_decodes_with_the_clients_types() {
    let dir = fixtures_dir();
    let rows = manifest();
    let mut failures = Vec::new();
    for row in &rows {
        let path = dir.join(&row.file);
        let bytes =
            std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
        if let Err(err) = wire::decode_recorded(&row.key, row.status, &bytes) {
            failures.push(format!("{} ({} {}): {err}", row.file, row.status, row.key));
        }
        if !(200..300).contains(&row.status) {
            // An error body must also classify into the typed error of its
            // status, carrying the endpoint.
            let body = ApiErrorBody::parse(&bytes);
            let error = HelpDeskError::from_status(&row.key, row.status, body.as_ref(), None);
            let expected = match row.status {
                401 | 403 => matches!(error, HelpDeskError::Unauthorized { .. }),
                404 => matches!(error, HelpDeskError::NotFound { .. }),
                409 => matches!(error, HelpDeskError::Conflict { .. }),
                429 => matches!(error, HelpDeskError::RateLimited { .. }),
                _ => matches!(error, HelpDeskError::Unprocessable { .. }),
            };
            if !expected || error.endpoint() != row.key {
                failures.push(format!(
                    "{}: HTTP {} classified as {error:?}",
                    row.file, row.status
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} payloads failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn decoded_payloads_carry_the_recorded_values() {
    let dir = fixtures_dir();
    let read = |file: &str| std::fs::read(dir.join(file)).unwrap_or_else(|err| panic!("{file}: {err}"));

    let ticket: wire::TicketEnvelope = wire::decode(&read("GET/ticket.json")).expect("ticket decodes");
    assert_eq!(ticket.ticket.id, 2);
    assert_eq!(ticket.ticket.status, carteiro::helpdesk::Status::Solved);
    assert_eq!(ticket.ticket.custom_status_id, Some(12_480_498_776_781));

    let created: wire::TicketEnvelope =
        wire::decode(&read("POST/ticket.json")).expect("created ticket decodes");
    let audit = created.audit.expect("a create answers with its audit");
    assert!(
        audit
            .events
            .iter()
            .any(|e| e.event_type == "Create" && e.field_name.as_deref() == Some("status")),
        "the create audit records the status: {:?}",
        audit.events
    );

    let comments: wire::CommentsEnvelope =
        wire::decode(&read("GET/ticket_comments.json")).expect("comments decode");
    let meta = comments.meta.expect("cursor meta");
    assert!(meta.has_more);
    assert_eq!(meta.after_cursor.as_deref(), Some("xxx"));

    let custom: wire::TicketFieldOrTicket =
        wire::decode(&read("GET/ticket_custom_field.json")).expect("custom field ticket decodes");
    let wire::TicketFieldOrTicket::Ticket(envelope) = custom else {
        panic!("the recorded payload is a ticket with custom fields");
    };
    assert_eq!(
        envelope.ticket.custom_field(360_005_657_121),
        Some(&serde_json::json!(["list", "of", "values"]))
    );
}

#[test]
fn an_unknown_key_or_a_broken_body_fails_with_its_name() {
    assert_eq!(
        wire::decode_recorded("GET /api/v2/nonsense", 200, b"{}"),
        Err(ConformanceError::UnknownKey("GET /api/v2/nonsense".to_owned()))
    );
    let err = wire::decode_recorded(
        "GET /api/v2/tickets/{id}",
        200,
        br#"{"ticket":{"id":1,"created_at":"2019-06-03T02:23:47Z","updated_at":"2019-06-03T02:23:47Z"}}"#,
    )
    .expect_err("a ticket without status must not decode");
    assert_eq!(
        err.to_string(),
        "GET /api/v2/tickets/{id}: at `ticket`: missing field `status` at line 1 column 90"
    );
    let err = wire::decode_recorded("PUT /api/v2/tickets/{id}", 422, b"<html>oops</html>")
        .expect_err("not an error body");
    assert_eq!(
        err.to_string(),
        "PUT /api/v2/tickets/{id}: HTTP 422 body is not a Zendesk error body"
    );
}

#[test]
fn an_empty_fixture_folder_is_a_failure_not_a_pass() {
    let empty = tempdir();
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "every_recorded_payload_decodes_with_the_clients_types",
            "--test-threads=1",
        ])
        .env("ZENDESK_FIXTURES_DIR", &empty)
        .output()
        .expect("run the test binary");
    assert!(
        !status.status.success(),
        "an empty folder must fail the decode test"
    );
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(
        out.contains("MANIFEST.tsv"),
        "the failure names the missing manifest: {out}"
    );
    let _ = std::fs::remove_dir_all(&empty);
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("carteiro-empty-fixtures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}
