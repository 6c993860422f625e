//! The real mail servers the inbound tests rely on: Postfix takes a mail by
//! SMTP, Dovecot stores it, and IMAP (plain, IMAPS, STARTTLS) shows it; an
//! unknown recipient yields a real DSN; Dovecot and Postfix can be stopped
//! and restarted without losing mail; and `scripts/mailservers.sh` keeps its
//! interface.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::mail::{DOMAIN, MailServers, TestMailbox, servers};
use futures::TryStreamExt;
use mail_parser::{Message, MessageParser, MimeHeaders};

const DELIVERY: Duration = Duration::from_secs(15);

/// How long a mail Postfix deferred may take to be retried and delivered.
const REDELIVERY: Duration = Duration::from_secs(60);

/// "Reclamação: cobrança em duplicidade", RFC 2047 encoded.
const SUBJECT_ENCODED: &str = "=?UTF-8?Q?Reclama=C3=A7=C3=A3o=3A_cobran=C3=A7a_em_duplicidade?=";
const SUBJECT: &str = "Reclamação: cobrança em duplicidade";

fn mail(from: &str, to: &str, message_id: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Cliente Teste <{from}>\r\n\
         To: <{to}>\r\n\
         Subject: {subject}\r\n\
         Message-ID: <{message_id}>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 -0300\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         {body}\r\n"
    )
    .into_bytes()
}

/// `bytes` with CRLF line ends turned into LF.
fn lf(bytes: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(bytes).replace("\r\n", "\n").into_bytes()
}

fn parse(raw: &[u8]) -> Message<'_> {
    MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| panic!("not a mail: {}", String::from_utf8_lossy(raw)))
}

fn header<'a>(message: &'a Message<'_>, name: &'static str) -> &'a str {
    message
        .header_raw(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .trim()
}

/// SELECT INBOX, then the whole first message, over any IMAP session.
async fn select_and_fetch_first<T>(session: &mut async_imap::Session<T>) -> (u32, Vec<u8>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let inbox = session.select("INBOX").await.expect("SELECT INBOX");
    assert!(inbox.uid_validity.is_some(), "SELECT gives UIDVALIDITY");
    let fetches: Vec<_> = session
        .fetch("1", "BODY.PEEK[]")
        .await
        .expect("FETCH 1")
        .try_collect()
        .await
        .expect("FETCH responses");
    assert_eq!(fetches.len(), 1, "one FETCH response");
    let body = fetches[0].body().expect("a body").to_vec();
    (inbox.exists, body)
}

#[tokio::test]
async fn a_mail_sent_by_smtp_lands_in_the_maildir_and_shows_over_imap_imaps_and_starttls() {
    let servers = servers();
    let customer = servers.new_mailbox("customer");
    let support = servers.new_mailbox("support");
    assert_eq!(support.address, format!("{}@{DOMAIN}", support.user));
    let message_id = format!("{}@cliente.example", customer.user);
    let raw = mail(
        &customer.address,
        &support.address,
        &message_id,
        SUBJECT_ENCODED,
        "Olá, fui cobrado duas vezes.",
    );

    servers.send(&raw, &customer.address, &[&support.address]).await;

    let delivered = servers.wait_for_messages(&support.user, 1, DELIVERY).await;
    assert_eq!(delivered.len(), 1);
    let on_disk = parse(&delivered[0]);
    assert_eq!(on_disk.subject(), Some(SUBJECT));
    assert_eq!(on_disk.message_id(), Some(message_id.as_str()));
    assert_eq!(header(&on_disk, "Return-Path"), format!("<{}>", customer.address));
    assert_eq!(header(&on_disk, "Delivered-To"), support.address);
    assert_eq!(
        on_disk.body_text(0).as_deref().map(str::trim_end),
        Some("Olá, fui cobrado duas vezes.")
    );
    // Postfix and Dovecot only prepend trace headers: the sent mail is intact
    // (Dovecot's Maildir stores LF line ends; IMAP serves CRLF).
    assert!(
        lf(&delivered[0]).ends_with(&lf(&raw)),
        "the delivered mail ends with the sent bytes"
    );

    let mut plain = servers.imap_plain(&support).await;
    let (exists, body) = select_and_fetch_first(&mut plain).await;
    assert_eq!(exists, 1);
    assert_eq!(lf(&body), delivered[0], "IMAP serves the bytes on disk");
    assert!(body.ends_with(&raw), "IMAP serves the sent bytes");
    plain.logout().await.expect("LOGOUT");

    let mut imaps = servers.imap_tls(&support).await;
    let (exists, body) = select_and_fetch_first(&mut imaps).await;
    assert_eq!(exists, 1);
    assert_eq!(parse(&body).subject(), Some(SUBJECT));
    imaps.logout().await.expect("LOGOUT");

    let mut starttls = servers.imap_starttls(&support).await;
    let (exists, body) = select_and_fetch_first(&mut starttls).await;
    assert_eq!(exists, 1);
    assert_eq!(parse(&body).message_id(), Some(message_id.as_str()));
    starttls.logout().await.expect("LOGOUT");

    // The login name may also be the full address; a wrong password fails.
    let by_address = TestMailbox {
        user: support.address.clone(),
        ..support.clone()
    };
    let mut session = servers.imap_plain(&by_address).await;
    assert_eq!(session.select("INBOX").await.expect("SELECT").exists, 1);
    session.logout().await.expect("LOGOUT");
}

#[tokio::test]
async fn imaps_is_trusted_through_cert_pem_only() {
    let servers = servers();
    let pem = std::fs::read_to_string(&servers.cert_pem).expect("read cert.pem");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");

    // The public web roots do not vouch for the test certificate.
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", servers.imaps_port))
        .await
        .expect("connect to IMAPS");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let error = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect_err("an unknown issuer is refused");
    assert!(
        error.to_string().contains("UnknownIssuer"),
        "unexpected TLS error: {error}"
    );
}

#[tokio::test]
async fn a_mail_to_an_unknown_user_comes_back_to_the_sender_as_a_dsn() {
    let servers = servers();
    let sender = servers.new_mailbox("sender");
    let nobody = servers.unknown_recipient("bounce");
    assert!(
        nobody.starts_with("nobody-") && nobody.ends_with("@example.test"),
        "{nobody}"
    );
    let message_id = format!("{}@example.test", sender.user);
    let raw = mail(&sender.address, &nobody, &message_id, "Para ninguém", "Oi");

    // SMTP accepts it; Dovecot LMTP refuses it afterwards.
    servers.send(&raw, &sender.address, &[&nobody]).await;

    let bounces = servers.wait_for_messages(&sender.user, 1, DELIVERY).await;
    assert_eq!(bounces.len(), 1);
    let dsn = parse(&bounces[0]);
    let content_type = dsn.content_type().expect("a Content-Type");
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("report"))
    );
    assert_eq!(content_type.attribute("report-type"), Some("delivery-status"));
    assert_eq!(header(&dsn, "Return-Path"), "<>");
    assert_eq!(
        dsn.from().and_then(|f| f.first()).and_then(|a| a.address()),
        Some("MAILER-DAEMON@example.test")
    );
    assert_eq!(header(&dsn, "Auto-Submitted"), "auto-replied");
    let text = String::from_utf8_lossy(&bounces[0]);
    assert!(text.contains("Status: 5.1.1"), "DSN status 5.1.1:\n{text}");
    assert!(
        text.contains(&format!("Final-Recipient: rfc822; {nobody}")),
        "DSN names the recipient:\n{text}"
    );
    assert!(
        text.contains(&format!("Message-ID: <{message_id}>")),
        "DSN carries the original:\n{text}"
    );
    assert!(
        !servers.maildir(&nobody).exists(),
        "no Maildir for an unknown user"
    );

    // A domain other than example.test is refused at RCPT time.
    let error = servers
        .try_send(&raw, &sender.address, &["alguem@cliente.example"])
        .await
        .expect_err("relaying elsewhere is refused");
    assert!(error.is_permanent(), "{error}");
    assert!(error.to_string().contains("Relay access denied"), "{error}");
}

#[tokio::test]
async fn restarting_dovecot_cuts_sessions_keeps_mail_and_brings_imap_back() {
    let servers = MailServers::start_private();
    let sender = servers.new_mailbox("sender");
    let user = servers.new_mailbox("restart");
    let first = mail(
        &sender.address,
        &user.address,
        "first@cliente.example",
        "Primeira",
        "1",
    );
    servers.send(&first, &sender.address, &[&user.address]).await;
    servers.wait_for_messages(&user.user, 1, DELIVERY).await;
    let mut before = servers.imap_plain(&user).await;
    assert_eq!(before.select("INBOX").await.expect("SELECT").exists, 1);

    servers.restart_dovecot();

    assert!(servers.is_up());
    // Dovecot said BYE and closed the old session. (async-imap 0.12's
    // `noop()` would take a bare end of stream for success; this checks the
    // tagged answer.)
    let cut = before.run_command_and_check_ok("NOOP").await;
    assert!(cut.is_err(), "the restart cut the old session: {cut:?}");
    let mut after = servers.imap_plain(&user).await;
    let (exists, body) = select_and_fetch_first(&mut after).await;
    assert_eq!(exists, 1);
    assert_eq!(parse(&body).message_id(), Some("first@cliente.example"));
    after.logout().await.expect("LOGOUT");

    // While Dovecot is down Postfix queues; the mail arrives once it is back.
    servers.stop_dovecot();
    assert!(!servers.is_up());
    let second = mail(
        &sender.address,
        &user.address,
        "second@cliente.example",
        "Segunda",
        "2",
    );
    servers.send(&second, &sender.address, &[&user.address]).await;
    servers.start_dovecot();
    // Postfix retries the deferred mail on its own backoff (1 s to 5 s, and
    // it may hold LMTP as a dead destination a while): a longer bound than a
    // plain delivery, for a loaded machine running the whole suite.
    let messages = servers.wait_for_messages(&user.user, 2, REDELIVERY).await;
    let ids: Vec<_> = messages
        .iter()
        .map(|m| parse(m).message_id().map(str::to_owned))
        .collect();
    assert_eq!(
        ids,
        [
            Some("first@cliente.example".to_owned()),
            Some("second@cliente.example".to_owned())
        ]
    );
}

#[tokio::test]
async fn smtp_can_be_stopped_and_started_again() {
    let servers = MailServers::start_private();
    let sender = servers.new_mailbox("sender");
    let user = servers.new_mailbox("outage");
    let raw = mail(
        &sender.address,
        &user.address,
        "outage@cliente.example",
        "Queda",
        "x",
    );

    servers.stop_smtp();
    assert!(!servers.is_up());
    let error = servers
        .try_send(&raw, &sender.address, &[&user.address])
        .await
        .expect_err("no SMTP while Postfix is stopped");
    assert!(
        !error.is_permanent(),
        "a refused connection is not a permanent error: {error}"
    );

    servers.start_smtp();
    assert!(servers.is_up());
    servers.send(&raw, &sender.address, &[&user.address]).await;
    let messages = servers.wait_for_messages(&user.user, 1, DELIVERY).await;
    assert_eq!(parse(&messages[0]).message_id(), Some("outage@cliente.example"));
}

#[test]
#[should_panic(expected = "MailServers::start_private()")]
fn the_shared_servers_refuse_to_be_restarted() {
    servers().restart_dovecot();
}

/// The script's own interface: `start` twice in one root (the second stops
/// the first), `status`, `stop`.
#[test]
fn the_script_starts_idempotently_reports_status_and_stops() {
    let root = std::env::temp_dir()
        .join("carteiro-mail-tests")
        .join(format!("{}-script", std::process::id()));
    let ports: Vec<String> = (0..7)
        .map(|_| std::net::TcpListener::bind(("127.0.0.1", 0)).expect("a free port"))
        .collect::<Vec<_>>()
        .iter()
        .map(|l| l.local_addr().expect("address").port().to_string())
        .collect();
    let run = |command: &str| {
        let output = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mailservers.sh"))
            .arg(command)
            .env("MAIL_ROOT", &root)
            .env("MAIL_IMAP_PORT", &ports[0])
            .env("MAIL_IMAPS_PORT", &ports[1])
            .env("MAIL_SMTP_PORT", &ports[2])
            .env("MAIL_LMTP_PORT", &ports[3])
            .env("MAIL_SUBMISSION_PORT", &ports[4])
            .env("MAIL_SMTPS_PORT", &ports[5])
            .env("MAIL_AUTH_PORT", &ports[6])
            .env("MAIL_OWNER_PID", std::process::id().to_string())
            .env("CI", "true")
            .stdin(Stdio::null())
            .output()
            .expect("run the script");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        // Bash's own complaints ("…mailservers.sh: line N: …") are script bugs.
        assert!(
            !stderr.contains("mailservers.sh: line "),
            "`{command}` hit a script error:\n{stderr}"
        );
        (output.status.code(), stdout, stderr)
    };

    for _ in 0..2 {
        let (code, stdout, stderr) = run("start");
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        assert_eq!(stdout.lines().last(), Some("READY"), "{stdout}{stderr}");
        assert!(
            stdout.contains(&format!(
                "imap={} imaps={} smtp={} lmtp={} submission={} smtps={} auth={}",
                ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6]
            )),
            "{stdout}"
        );
    }
    let (code, stdout, _) = run("status");
    assert_eq!(code, Some(0), "{stdout}");
    for (name, port) in ["IMAP", "IMAPS", "SMTP", "LMTP", "SUBMISSION", "SMTPS", "AUTH"]
        .iter()
        .zip(&ports)
    {
        assert!(
            stdout.contains(&format!("{name} 127.0.0.1:{port} up")),
            "{stdout}"
        );
    }

    let (code, stdout, stderr) = run("stop");
    assert_eq!((code, stdout.trim()), (Some(0), "STOPPED"), "{stderr}");
    let (code, stdout, _) = run("status");
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(stdout.matches(" down").count(), 7, "{stdout}");
    for port in &ports {
        let port: u16 = port.parse().expect("a port");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} closed after stop"
        );
    }
    let (code, _, stderr) = run("bogus");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unknown command 'bogus'"), "{stderr}");
    let _ = std::fs::remove_dir_all(&root);
}
