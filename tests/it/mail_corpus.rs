//! Parsing never panics and every mail gets a decision: the public mail
//! corpus (`MAIL_CORPUS_DIR`, by default `../shared/fixtures/mail/`) and
//! our own fixtures (`tests/fixtures/mail/`), each with LF and with CRLF
//! line endings, through `inspect` and through the real binary; exact
//! decodings of our fixtures (charsets, HTML-only, machine mail, replies);
//! and a bounded, seeded mutation smoke test standing in for the fuzzer in
//! CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use carteiro::mail::clean::strip_quoted;
use carteiro::mail::inspect::{inspect_bytes, verdict};
use carteiro::mail::parse::{ParseOptions, parse};
use carteiro::mail::{BounceReport, ParsedMail, Sender};
use serde_json::Value;

/// Every `kind` inspect may print.
const KINDS: &[&str] = &[
    "new",
    "reply",
    "auto_reply",
    "bounce",
    "list",
    "own",
    "quarantine",
];

fn corpus_dir() -> PathBuf {
    match std::env::var_os("MAIL_CORPUS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/mail"),
    }
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mail")
}

/// Every `.eml` under `dir`, recursively, sorted; fails the test when the
/// folder is missing or holds none.
fn eml_files(dir: &Path) -> Vec<PathBuf> {
    assert!(
        dir.is_dir(),
        "mail corpus folder {} is missing; set MAIL_CORPUS_DIR to a folder of .eml files",
        dir.display()
    );
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries =
            std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("cannot list {}: {e}", folder.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", folder.display()))
                .path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("eml"))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(
        !files.is_empty(),
        "mail corpus folder {} holds no .eml file",
        dir.display()
    );
    files
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn to_lf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    for &b in &to_lf(raw) {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Inspects `raw` and checks the object ends in a decision.
fn assert_decided(label: &str, raw: &[u8]) -> Value {
    let value = inspect_bytes(label, raw, &ParseOptions::default());
    assert!(value.get("error").is_none(), "{label}: {}", value["error"]);
    let kind = value["kind"].as_str().unwrap_or_default();
    assert!(KINDS.contains(&kind), "{label}: kind {kind:?}");
    if kind == "quarantine" {
        let reason = value["quarantine_reason"].as_str().unwrap_or_default();
        assert!(!reason.is_empty(), "{label}: quarantine without a reason");
    }
    value
}

fn assert_folder_decided(dir: &Path) -> usize {
    let files = eml_files(dir);
    for file in &files {
        let raw = read(file);
        let lf = assert_decided(&format!("{} (LF)", file.display()), &to_lf(&raw));
        let crlf = assert_decided(&format!("{} (CRLF)", file.display()), &to_crlf(&raw));
        assert_eq!(
            lf["kind"],
            crlf["kind"],
            "{}: LF and CRLF disagree",
            file.display()
        );
        assert_eq!(
            lf["from"],
            crlf["from"],
            "{}: LF and CRLF disagree",
            file.display()
        );
        assert_eq!(
            lf["subject"],
            crlf["subject"],
            "{}: LF and CRLF disagree",
            file.display()
        );
    }
    files.len()
}

#[test]
fn every_corpus_mail_gets_a_decision_with_lf_and_crlf() {
    let count = assert_folder_decided(&corpus_dir());
    assert!(count > 0);
}

#[test]
fn every_own_fixture_gets_a_decision_with_lf_and_crlf() {
    assert_folder_decided(&fixtures_dir());
}

fn run_inspect(files: &[PathBuf]) -> (Option<i32>, Vec<Value>) {
    let output = Command::new(env!("CARGO_BIN_EXE_carteiro"))
        .args(["mail", "inspect"])
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run carteiro: {e}"));
    let stdout = String::from_utf8(output.stdout).unwrap_or_else(|e| panic!("stdout is not UTF-8: {e}"));
    let lines = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}")))
        .collect();
    (output.status.code(), lines)
}

#[test]
fn the_binary_prints_one_json_line_per_file() {
    let mut files: Vec<PathBuf> = eml_files(&corpus_dir()).into_iter().step_by(10).collect();
    files.push(fixtures_dir().join("bounce-postfix.eml"));
    let (code, lines) = run_inspect(&files);
    assert_eq!(code, Some(0));
    assert_eq!(lines.len(), files.len());
    for (line, file) in lines.iter().zip(&files) {
        assert_eq!(line["file"], file.display().to_string());
        assert!(
            KINDS.contains(&line["kind"].as_str().unwrap_or_default()),
            "{line}"
        );
        for key in [
            "message_id",
            "from",
            "subject",
            "date",
            "ticket_ref",
            "body_text",
            "attachments",
            "problems",
        ] {
            assert!(line.get(key).is_some(), "no {key} in {line}");
        }
    }
    let bounce = &lines[files.len() - 1];
    assert_eq!(bounce["kind"], "bounce");
    assert_eq!(bounce["bounce"]["original_ticket"], 42);
}

#[test]
fn an_unreadable_file_is_an_error_line_and_exit_1() {
    let missing = fixtures_dir().join("does-not-exist.eml");
    let files = [fixtures_dir().join("own.eml"), missing.clone()];
    let (code, lines) = run_inspect(&files);
    assert_eq!(code, Some(1));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["kind"], "own");
    assert_eq!(lines[1]["file"], missing.display().to_string());
    let error = lines[1]["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with(&format!("cannot read {}: ", missing.display())),
        "{error}"
    );
}

/// A fixture parsed from LF and from CRLF bytes.
fn fixture(name: &str, options: &ParseOptions) -> [ParsedMail; 2] {
    let raw = read(&fixtures_dir().join(name));
    [parse(&to_lf(&raw), options), parse(&to_crlf(&raw), options)]
}

fn both(name: &str) -> [ParsedMail; 2] {
    fixture(name, &ParseOptions::default())
}

#[test]
fn charsets_decode() {
    let cases = [
        (
            "charset-windows-1252.eml",
            "João Conceição",
            "Cotação — orçamento de R$ 1.200 € “urgente”",
            "Olá,\n\nNão recebi a cotação — podem reenviar? O valor era “R$ 1.200” ou 300 €?\n\nObrigado,\nJoão",
        ),
        (
            "charset-iso-8859-1.eml",
            "Conceição Araújo",
            "Solicitação de acesso à conta",
            "Bom dia,\n\nNão consigo acessar minha conta desde sábado. Já troquei a senha três vezes.\n\nAtenciosamente,\nConceição Araújo",
        ),
        (
            "charset-iso-2022-jp.eml",
            "山田 太郎",
            "お問い合わせ：請求書について",
            "お世話になっております。\n請求書が届いていません。\n確認をお願いします。",
        ),
    ];
    for (name, from, subject, body) in cases {
        for mail in both(name) {
            assert_eq!(
                mail.from.as_ref().and_then(|a| a.name.as_deref()),
                Some(from),
                "{name}"
            );
            assert_eq!(mail.subject, subject, "{name}");
            assert_eq!(mail.body_text, body, "{name}");
            assert_eq!(mail.problems, Vec::<String>::new(), "{name}");
            assert_eq!(mail.sender, Sender::Person, "{name}");
        }
    }
}

#[test]
fn html_only_mail_gets_text_and_sanitised_html() {
    for mail in both("html-only.eml") {
        assert_eq!(
            mail.body_text,
            "Olá,\n\nAo emitir a nota fiscal aparece o erro E-42.\nPassos:\n1. Abrir Notas <https://app.example.com/notas>\n2. Clicar em \"Emitir\"\n\nObrigada!"
        );
        let html = mail.body_html.unwrap_or_default();
        assert!(html.contains("<b>E-42</b>"), "{html}");
        for unsafe_text in ["<script", "alert(", "onclick", "steal()", "<style"] {
            assert!(!html.contains(unsafe_text), "{unsafe_text} survived in {html}");
        }
    }
}

#[test]
fn auto_replies_of_each_family() {
    let cases = [
        ("auto-submitted.eml", "Auto-Submitted: auto-replied (vacation)"),
        ("x-autoreply.eml", "X-Autoreply: yes"),
        ("outlook-oof.eml", "X-Auto-Response-Suppress: All"),
        ("precedence-auto-reply.eml", "Precedence: auto_reply"),
        ("subject-out-of-office.eml", "Subject: Ausência temporária"),
    ];
    for (name, reason) in cases {
        for mail in both(name) {
            assert_eq!(
                mail.sender,
                Sender::AutoReply {
                    reason: reason.to_owned()
                },
                "{name}"
            );
        }
    }
}

#[test]
fn postfix_bounce_is_reported() {
    for mail in both("bounce-postfix.eml") {
        assert_eq!(
            mail.sender,
            Sender::Bounce {
                reason: "Content-Type: multipart/report; report-type=delivery-status".to_owned(),
                report: BounceReport {
                    original_message_id: Some("t42.5f1c@carteiro.invalid".to_owned()),
                    original_ticket: Some(42),
                    recipient: Some("nobody@example.net".to_owned()),
                    status: Some("5.1.1".to_owned()),
                    diagnostic: Some(
                        "550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown in virtual mailbox table"
                            .to_owned()
                    ),
                },
            }
        );
        assert_eq!(
            mail.from.map(|a| a.email),
            Some("mailer-daemon@mx.example.com".to_owned())
        );
    }
}

#[test]
fn list_and_own_mail() {
    for mail in both("list.eml") {
        assert_eq!(
            mail.sender,
            Sender::List {
                reason: "List-Id: Novidades ACME <novidades.acme.example>".to_owned()
            }
        );
    }
    for mail in both("own.eml") {
        assert_eq!(
            mail.sender,
            Sender::Own {
                reason: "X-Carteiro-Loop: 1".to_owned()
            }
        );
        assert_eq!(mail.ticket_ref, Some(42));
    }
    let by_address = ParseOptions {
        own_addresses: vec!["suporte@example.com".to_owned()],
        loop_header: "X-Other-Loop".to_owned(),
        message_id_domain: "elsewhere.invalid".to_owned(),
        ..ParseOptions::default()
    };
    for mail in fixture("own.eml", &by_address) {
        assert_eq!(
            mail.sender,
            Sender::Own {
                reason: "From: suporte@example.com".to_owned()
            }
        );
    }
}

#[test]
fn replies_lose_their_quoted_history() {
    let cases = [
        (
            "reply-gmail-ptbr.eml",
            42,
            "Obrigada! O boleto chegou, mas o valor está errado: veio R$ 320 em vez de R$ 230.",
        ),
        (
            "reply-outlook-ptbr.eml",
            57,
            "Bom dia,\n\nO acesso continua bloqueado após a troca de senha.\n\nAtt.,\nRicardo",
        ),
        (
            "reply-thunderbird-en.eml",
            61,
            "The export still fails with the same error, log attached to the first mail.\n\nPaul",
        ),
    ];
    for (name, ticket, new_text) in cases {
        for mail in both(name) {
            assert_eq!(mail.ticket_ref, Some(ticket), "{name}");
            assert!(!mail.in_reply_to.is_empty(), "{name}");
            assert_eq!(verdict(&mail).kind, "reply", "{name}");
            assert_eq!(strip_quoted(&mail.body_text), new_text, "{name}");
        }
    }
}

#[test]
fn missing_message_id_is_derived_and_stable() {
    let [lf, crlf] = both("no-message-id.eml");
    let [again, _] = both("no-message-id.eml");
    assert!(lf.message_id_derived);
    assert_eq!(lf.message_id, again.message_id);
    assert!(
        lf.message_id.ends_with("@derived.carteiro.invalid"),
        "{}",
        lf.message_id
    );
    assert_eq!(
        lf.message_id,
        format!("sha256-{}@derived.carteiro.invalid", &lf.raw_sha256[..32])
    );
    // Other bytes, other id: CRLF is a different mail as far as bytes go.
    assert_ne!(lf.message_id, crlf.message_id);
    assert_eq!(lf.sender, Sender::Person);
}

#[test]
fn an_attachment_above_the_cap_keeps_its_metadata_only() {
    let options = ParseOptions {
        max_attachment_bytes: 1024,
        ..ParseOptions::default()
    };
    for mail in fixture("oversized-attachment.eml", &options) {
        let big = &mail.attachments[0];
        assert_eq!(
            (
                big.name.as_str(),
                big.content_type.as_str(),
                big.size,
                big.content.is_none(),
                big.inline
            ),
            ("relatorio.xls", "application/vnd.ms-excel", 2048, true, false)
        );
        let logo = &mail.attachments[1];
        assert_eq!(
            (
                logo.name.as_str(),
                logo.content_id.as_deref(),
                logo.inline,
                logo.content.as_ref().map(Vec::len)
            ),
            ("attachment-2.png", Some("logo@example.org"), true, Some(8))
        );
        assert_eq!(
            mail.problems,
            [
                "attachment \"relatorio.xls\" (2048 bytes) is above the 1024 byte cap; only its name, type and size are kept"
            ]
        );
        assert_eq!(mail.body_text, "Segue a planilha.");
    }
    for mail in both("oversized-attachment.eml") {
        assert_eq!(mail.attachments[0].content.as_ref().map(Vec::len), Some(2048));
    }
}

/// Found by the fuzzer: nesting that reaches a `debug_assert!(false)` in
/// mail-parser 0.11. Release builds have no such assertion and decode what
/// they can; debug builds (these tests) panic inside mail-parser, and
/// `parse` turns that into a problem instead of letting it escape.
#[test]
fn a_mail_parser_debug_assertion_is_survived() {
    for mail in both("malformed-nested-rfc822.eml") {
        let failed = mail
            .problems
            .contains(&"the MIME parser failed on this mail; nothing could be decoded".to_owned());
        assert_eq!(failed, cfg!(debug_assertions), "{:?}", mail.problems);
        assert!(KINDS.contains(&verdict(&mail).kind));
    }
}

/// Hostile shapes the corpus lacks: deep MIME and HTML nesting, long
/// headers, many parts.
#[test]
fn hostile_shapes_are_survived() {
    let mut deep_mime = String::from("From: a@example.org\n");
    for level in 0..500 {
        deep_mime.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=b{level}\n\n--b{level}\n"
        ));
    }
    deep_mime.push_str("Content-Type: text/plain\n\ndeep\n");
    let deep_html = format!(
        "From: a@example.org\nContent-Type: text/html\n\n{}fundo",
        "<div><blockquote><table><tr><td>".repeat(3000)
    );
    let long_header = format!(
        "From: a@example.org\nSubject: {}\nReferences: {}\nTo: {}\n\nx",
        "a".repeat(200_000),
        (0..50_000)
            .map(|n| format!("<{n}@y>"))
            .collect::<Vec<_>>()
            .join(" "),
        (0..50_000)
            .map(|n| format!("u{n}@example.org"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let mut many_parts = String::from("From: a@example.org\nContent-Type: multipart/mixed; boundary=p\n\n");
    for n in 0..3000 {
        many_parts.push_str(&format!(
            "--p\nContent-Type: application/octet-stream; name=f{n}.bin\n\n{n}\n"
        ));
    }
    many_parts.push_str("--p--\n");
    let nested_messages = "From: a@example.org\nContent-Type: message/rfc822\n\n".repeat(200) + "\nend";
    for (label, raw, kind) in [
        ("deep mime", deep_mime, "new"),
        ("deep html", deep_html, "new"),
        ("long header", long_header, "reply"),
        ("many parts", many_parts, "new"),
        ("nested messages", nested_messages, "new"),
    ] {
        let started = std::time::Instant::now();
        let value = assert_decided(label, raw.as_bytes());
        assert!(
            started.elapsed().as_secs() < 30,
            "{label} took {:?}",
            started.elapsed()
        );
        assert_eq!(value["kind"], kind, "{label}: problems {}", value["problems"]);
    }
}

/// A small, fixed PRNG (xorshift64*), so the smoke test is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Tokens that steer a MIME parser into its corners.
const TOKENS: &[&[u8]] = &[
    b"--",
    b"\r\n",
    b"\n\n",
    b"=?utf-8?b?",
    b"=?iso-2022-jp?q?=1B$B",
    b"?=",
    b"<",
    b">",
    b"boundary=\"",
    b"\nContent-Type: multipart/mixed; boundary=x\n\n--x\n",
    b"\nContent-Type: message/rfc822\n\n",
    b"\nContent-Transfer-Encoding: base64\n\n",
    b"\nContent-Type: text/html; charset=x-unknown\n\n<blockquote><p class=MsoNormal>",
    b"\x00",
    b"=\n",
    b"&#x",
    b"\xff\xfe",
    b"\nFrom: mailer-daemon@x\nReturn-Path: <>\n",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 => out.truncate(at),
            1 => {
                for _ in 0..=rng.below(8) {
                    let i = rng.below(out.len());
                    if let Some(byte) = out.get_mut(i) {
                        *byte ^= 1 << rng.below(8);
                    }
                }
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            3 => {
                let end = (at + rng.below(512)).min(out.len());
                out.drain(at..end);
            }
            4 => {
                let end = (at + rng.below(4096)).min(out.len());
                let copy = out[at..end].to_vec();
                out.splice(at..at, copy);
            }
            _ => {
                out = if rng.below(2) == 0 {
                    to_crlf(&out)
                } else {
                    to_lf(&out)
                }
            }
        }
    }
    out
}

#[test]
fn mutation_smoke() {
    let mut inputs: Vec<Vec<u8>> = eml_files(&corpus_dir()).iter().map(|f| read(f)).collect();
    inputs.extend(eml_files(&fixtures_dir()).iter().map(|f| read(f)));
    let options = ParseOptions {
        max_attachment_bytes: 512,
        ..ParseOptions::default()
    };
    let mut rng = Rng(0x00C0_FFEE_D00D_F00D);
    let rounds = 3000_usize.div_ceil(inputs.len()).max(5);
    let mut cases = 0;
    for input in &inputs {
        for _ in 0..rounds {
            let mutant = mutate(&mut rng, input);
            let mail = parse(&mutant, &options);
            let _ = strip_quoted(&mail.body_text);
            assert!(KINDS.contains(&verdict(&mail).kind));
            cases += 1;
        }
    }
    assert!(cases >= 3000, "only {cases} cases");
}
