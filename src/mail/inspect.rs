//! `carteiro mail inspect FILE...`: what carteiro would make of a mail,
//! offline, as one JSON object per file.
//!
//! It runs the same [`parse`] (and so the same classification) as ingest,
//! and then decides the `kind` without a store or a helpdesk:
//!
//! - a machine mail is its [`Sender`] label: `auto_reply`, `bounce`,
//!   `list` or `own`;
//! - a person's mail is `quarantine` when ingest could not turn it into a
//!   ticket: it has no usable From address (there would be no requester),
//!   or it has no body text, no attachment and no subject (there would be
//!   nothing to write); the object then has a `quarantine_reason`;
//! - otherwise it is `reply` when it names a thread (In-Reply-To,
//!   References or a ticket reference) and `new` when it does not. Online,
//!   threading may still turn a `reply` into a new ticket (an unknown
//!   thread, or a stranger quoting a tag).
//!
//! A file that cannot be read is `{"file": …, "error": …}`.

use std::path::Path;

use serde_json::{Value, json};

use super::clean::strip_quoted;
use super::parse::{ParseOptions, parse};
use super::{ParsedMail, Sender};

/// What `inspect` decided for one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `new`, `reply`, `auto_reply`, `bounce`, `list`, `own` or
    /// `quarantine`.
    pub kind: &'static str,
    /// Why the mail would be quarantined, for `quarantine`.
    pub quarantine_reason: Option<String>,
}

/// Decides the kind of a parsed mail offline (see the module doc).
pub fn verdict(mail: &ParsedMail) -> Verdict {
    let decided = |kind| Verdict {
        kind,
        quarantine_reason: None,
    };
    match &mail.sender {
        Sender::Person => {}
        other => return decided(other.label()),
    }
    let quarantine = if mail.from.is_none() {
        Some("no usable From address: there is no requester to write the ticket for".to_owned())
    } else if mail.body_text.trim().is_empty()
        && mail.attachments.is_empty()
        && mail.subject.trim().is_empty()
    {
        Some("no body text, no attachment and no subject: nothing to write".to_owned())
    } else {
        None
    };
    if quarantine.is_some() {
        return Verdict {
            kind: "quarantine",
            quarantine_reason: quarantine,
        };
    }
    let threaded = !mail.in_reply_to.is_empty() || !mail.references.is_empty() || mail.ticket_ref.is_some();
    decided(if threaded { "reply" } else { "new" })
}

/// Reads and inspects one file: the JSON object `mail inspect` prints for
/// it, or `{"file", "error"}` when it cannot be read.
pub fn inspect_file(path: &Path, options: &ParseOptions) -> Value {
    let file = path.display().to_string();
    match std::fs::read(path) {
        Ok(raw) => inspect_bytes(&file, &raw, options),
        Err(e) => json!({ "file": file, "error": format!("cannot read {file}: {e}") }),
    }
}

/// Inspects raw bytes as if read from `file`. A panic (which would be a
/// bug: parsing never panics) becomes an `error` object rather than
/// ending the run.
pub fn inspect_bytes(file: &str, raw: &[u8], options: &ParseOptions) -> Value {
    match std::panic::catch_unwind(|| describe(file, &parse(raw, options))) {
        Ok(value) => value,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            json!({ "file": file, "error": format!("bug: inspecting {file} panicked: {message}") })
        }
    }
}

/// The JSON object for a parsed mail.
pub fn describe(file: &str, mail: &ParsedMail) -> Value {
    let verdict = verdict(mail);
    let attachments: Vec<Value> = mail
        .attachments
        .iter()
        .map(|a| {
            json!({
                "name": a.name,
                "content_type": a.content_type,
                "size": a.size,
                "inline": a.inline,
                "kept": a.content.is_some(),
            })
        })
        .collect();
    let mut object = json!({
        "file": file,
        "message_id": mail.message_id,
        "message_id_derived": mail.message_id_derived,
        "from": mail.from,
        "subject": mail.subject,
        "date": mail.date.map(|d| d.to_rfc3339()),
        "kind": verdict.kind,
        "ticket_ref": mail.ticket_ref,
        "body_text": mail.body_text,
        "attachments": attachments,
        "problems": mail.problems,
    });
    if let Some(map) = object.as_object_mut() {
        match &mail.sender {
            Sender::Person => {}
            Sender::AutoReply { reason } | Sender::List { reason } | Sender::Own { reason } => {
                map.insert("reason".to_owned(), json!(reason));
            }
            Sender::Bounce { reason, report } => {
                map.insert("reason".to_owned(), json!(reason));
                map.insert("bounce".to_owned(), json!(report));
            }
        }
        if verdict.kind == "reply" {
            map.insert("reply_text".to_owned(), json!(strip_quoted(&mail.body_text)));
        }
        if let Some(reason) = verdict.quarantine_reason {
            map.insert("quarantine_reason".to_owned(), json!(reason));
        }
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspect(raw: &str) -> Value {
        inspect_bytes("t.eml", raw.as_bytes(), &ParseOptions::default())
    }

    #[test]
    fn kinds() {
        let cases = [
            ("From: a@example.org\nSubject: Oi\n\nAjuda", "new"),
            ("From: a@example.org\nIn-Reply-To: <x@y>\n\nok", "reply"),
            ("From: a@example.org\nSubject: Re: [#4] Oi\n\nok", "reply"),
            (
                "From: a@example.org\nAuto-Submitted: auto-replied\n\nfora",
                "auto_reply",
            ),
            ("From: a@example.org\nPrecedence: bulk\n\nnews", "list"),
            ("From: a@example.org\nX-Carteiro-Loop: 1\n\nours", "own"),
            ("Subject: no sender\n\ntext", "quarantine"),
            ("From: a@example.org\n\n", "quarantine"),
            ("From: a@example.org\nSubject: Me liga\n\n", "new"),
            ("", "quarantine"),
        ];
        for (raw, kind) in cases {
            assert_eq!(inspect(raw)["kind"], kind, "mail {raw:?}");
        }
    }

    #[test]
    fn object_shape() {
        let value = inspect(
            "From: Ana <ana@example.org>\nMessage-ID: <1@x>\nSubject: Re: [#4] Oi\n\nFeito.\n\n> antes\n",
        );
        assert_eq!(value["file"], "t.eml");
        assert_eq!(value["message_id"], "1@x");
        assert_eq!(value["from"], json!({"name": "Ana", "email": "ana@example.org"}));
        assert_eq!(value["ticket_ref"], 4);
        assert_eq!(value["body_text"], "Feito.\n\n> antes");
        assert_eq!(value["reply_text"], "Feito.");
        assert_eq!(value["attachments"], json!([]));
        assert_eq!(value["problems"], json!(["no Date header"]));
        let quarantined = inspect("Subject: x\n\ny");
        assert_eq!(
            quarantined["quarantine_reason"],
            "no usable From address: there is no requester to write the ticket for"
        );
    }

    #[test]
    fn unreadable_file_is_an_error_object() {
        let value = inspect_file(Path::new("/nonexistent/x.eml"), &ParseOptions::default());
        assert_eq!(value["file"], "/nonexistent/x.eml");
        assert!(
            value["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("cannot read /nonexistent/x.eml: "))
        );
    }
}
