//! Outbound e-mail with real servers: carteiro composes a mail from the
//! shipped templates, sends it through Postfix with its own SMTP client,
//! and the test reads it back from Dovecot over IMAP. What the server says
//! comes back classified: `250` as delivered, a refusal at RCPT as
//! permanent, a server that is down or silent as temporary.
//!
//! Sync points are explicit: a test waits for the mail to be in the
//! Maildir (`wait_for_messages`), never for a fixed time.

use crate::support;
use crate::support::mail::raw_header;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::mail::{DOMAIN, MailServers, TestMailbox, servers};
use carteiro::config::{AuthMech, SmtpAuth, SmtpConfig, TlsMode};
use carteiro::mail::parse::{ParseOptions, parse};
use carteiro::mail::threading::referenced_ids;
use carteiro::mail::{ParsedMail, Sender};
use carteiro::outbound::{
    Attachment, ComposeOptions, ComposedMail, Envelope, MailAddress, MailKind, MailSender, OutgoingMail,
    SendError, SmtpSender, Stage, compose,
};
use carteiro::store::{Direction, Store};
use carteiro::template::{TemplateContext, TemplateOptions, Templates};
use chrono::{TimeZone, Utc};
use futures::TryStreamExt;

/// How long a mail may take from SMTP to the Maildir in these tests.
const DELIVERY: Duration = Duration::from_secs(30);

/// The ticket the mails of these tests belong to.
const TICKET: u64 = 4321;

/// The Message-ID domain of the carteiro under test.
const OUR_DOMAIN: &str = "carteiro.example.test";

/// The shipped templates (`rules/templates`).
fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/templates")
}

/// SMTP settings for Postfix on loopback: STARTTLS trusting the servers'
/// own certificate, no AUTH (the test Postfix offers none).
fn smtp(servers: &MailServers, from: &TestMailbox) -> SmtpConfig {
    SmtpConfig {
        host: "localhost".to_owned(),
        port: servers.smtp_port,
        tls: TlsMode::StartTls,
        ca_file: Some(servers.cert_pem.clone()),
        auth: None,
        timeout: Duration::from_secs(10),
        from_address: from.address.clone(),
        from_name: Some("Suporte Ação & Cia".to_owned()),
        maildir: None,
    }
}

fn compose_options(from: &TestMailbox) -> ComposeOptions {
    ComposeOptions {
        from: MailAddress::named("Suporte Ação & Cia", from.address.clone()),
        message_id_domain: OUR_DOMAIN.to_owned(),
        loop_header: "X-Carteiro-Loop".to_owned(),
        subject_tag: carteiro::config::SubjectTag::parse("[#{id}]"),
    }
}

/// What inbound makes of mail here: the [mail] settings of the carteiro
/// that sent these mails.
fn parse_options(ours: &TestMailbox) -> ParseOptions {
    ParseOptions {
        own_addresses: vec![ours.address.clone()],
        message_id_domain: OUR_DOMAIN.to_owned(),
        ..ParseOptions::default()
    }
}

/// A simple mail to `to`, rendered from nothing but text.
fn simple(to: &str) -> OutgoingMail {
    OutgoingMail {
        ticket_id: TICKET,
        to: vec![MailAddress::new(to)],
        cc: vec![],
        subject: "Aviso".to_owned(),
        text: "Olá.\n".to_owned(),
        html: None,
        attachments: vec![],
        in_reply_to: None,
        references: vec![],
        kind: MailKind::Generated,
        date: Utc::now(),
        message_id: None,
    }
}

/// SELECT INBOX and FETCH every message, raw.
async fn fetch_all_over_imap(servers: &MailServers, mailbox: &TestMailbox) -> Vec<Vec<u8>> {
    let mut session = servers.imap_tls(mailbox).await;
    session.select("INBOX").await.expect("SELECT INBOX");
    let fetches: Vec<_> = session
        .fetch("1:*", "BODY.PEEK[]")
        .await
        .expect("FETCH")
        .try_collect()
        .await
        .expect("FETCH responses");
    let bodies = fetches
        .iter()
        .map(|f| f.body().expect("a body").to_vec())
        .collect();
    let _ = session.logout().await;
    bodies
}

/// A rules folder with the ombudsman's step-by-step PDF in it.
fn rules_folder_with_pdf() -> (PathBuf, Vec<u8>) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("outbound-rules-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("anexos")).expect("create the rules folder");
    let pdf =
        b"%PDF-1.4\n% passo a passo da Ouvidoria \xe2\x80\x94 acentua\xc3\xa7\xc3\xa3o\n%%EOF\n".to_vec();
    std::fs::write(dir.join("anexos/Passo a passo - Ouvidoria.pdf"), &pdf).expect("write the PDF");
    (dir, pdf)
}

#[tokio::test]
async fn a_templated_mail_round_trips_through_smtp_and_imap_and_threads_back() {
    let servers = servers();
    let ours = servers.new_mailbox("suporte");
    let customer = servers.new_mailbox("cliente");

    // The customer's mail that opened the ticket, and the acknowledgement
    // carteiro sends for it, from the shipped templates.
    let original_id = format!("pedido-{}@{DOMAIN}", customer.user);
    let templates = Templates::load_dir(&templates_dir(), &TemplateOptions::default()).expect("templates");
    let mut context = TemplateContext::sample();
    context.ticket.id = TICKET;
    context.ticket.subject = "Impressão não sai — urgência".to_owned();
    context.requester.name = "João Araújo".to_owned();
    context.requester.email = customer.address.clone();
    context.mail.body = "A impressora não imprime desde terça.\n{{ 7*7 }}".to_owned();
    let rendered = templates
        .render("confirmacao", &context)
        .expect("render confirmacao");
    let (rules, pdf) = rules_folder_with_pdf();
    let attachment = Attachment::from_rules_file(&rules, Path::new("anexos/Passo a passo - Ouvidoria.pdf"))
        .expect("attach");
    let outgoing = OutgoingMail {
        ticket_id: TICKET,
        to: vec![MailAddress::named("João Araújo", customer.address.clone())],
        cc: vec![],
        subject: "Re: Impressão não sai — urgência".to_owned(),
        text: rendered.text,
        html: rendered.html,
        attachments: vec![attachment],
        in_reply_to: Some(original_id.clone()),
        references: vec![],
        kind: MailKind::ReplyToPerson,
        date: Utc
            .with_ymd_and_hms(2019, 5, 28, 17, 30, 0)
            .single()
            .expect("a date"),
        message_id: None,
    };
    let composed = compose(&outgoing, &compose_options(&ours)).expect("compose");

    let sender = SmtpSender::new(&smtp(servers, &ours)).expect("sender");
    let delivered = sender
        .send(&composed.envelope, &composed.raw)
        .await
        .unwrap_or_else(|e| panic!("send failed: {e}\n{}", servers.log_tails()));
    assert_eq!(delivered.code, 250, "{delivered:?}");
    assert!(delivered.response.contains("queued as"), "{delivered:?}");

    servers.wait_for_messages(&customer.user, 1, DELIVERY).await;
    let fetched = fetch_all_over_imap(servers, &customer).await;
    assert_eq!(fetched.len(), 1, "exactly one mail arrived");
    let raw = &fetched[0];

    // Headers, as they arrived.
    assert_eq!(
        raw_header(raw, "Message-ID"),
        Some(format!("<{}>", composed.message_id))
    );
    assert!(
        composed.message_id.ends_with(&format!("@{OUR_DOMAIN}")),
        "{}",
        composed.message_id
    );
    assert_eq!(raw_header(raw, "In-Reply-To"), Some(format!("<{original_id}>")));
    assert_eq!(raw_header(raw, "References"), Some(format!("<{original_id}>")));
    assert_eq!(raw_header(raw, "Auto-Submitted").as_deref(), Some("auto-replied"));
    assert_eq!(raw_header(raw, "X-Carteiro-Loop").as_deref(), Some(OUR_DOMAIN));
    assert_eq!(raw_header(raw, "X-Carteiro-Ticket"), Some(TICKET.to_string()));
    let subject_line = raw_header(raw, "Subject").expect("a Subject");
    assert!(
        subject_line.is_ascii() && subject_line.contains("=?utf-8?"),
        "{subject_line}"
    );

    // Decoded: accents in subject, names, both parts and the attachment.
    let parsed = parse(raw, &parse_options(&ours));
    assert_eq!(
        parsed.subject,
        format!("Re: Impressão não sai — urgência [#{TICKET}]")
    );
    assert_eq!(
        parsed.from.as_ref().and_then(|a| a.name.as_deref()),
        Some("Suporte Ação & Cia")
    );
    assert_eq!(parsed.to[0].name.as_deref(), Some("João Araújo"));
    assert!(
        parsed.body_text.starts_with("Olá, João Araújo!"),
        "{}",
        parsed.body_text
    );
    assert!(
        parsed.body_text.contains(&format!(
            "abrimos o chamado #{TICKET}: \"Impressão não sai — urgência\""
        )),
        "{}",
        parsed.body_text
    );
    assert!(
        parsed.body_text.contains("{{ 7*7 }}"),
        "customer text stays text: {}",
        parsed.body_text
    );
    let html = parsed.body_html.clone().expect("an HTML part");
    assert!(
        html.contains(&format!("#{TICKET}")) && html.contains("Impressão não sai"),
        "{html}"
    );
    let text = String::from_utf8_lossy(raw);
    assert!(text.contains("multipart/mixed"), "{text}");
    assert!(text.contains("multipart/alternative"), "{text}");
    assert_eq!(parsed.attachments.len(), 1, "{:?}", parsed.attachments);
    assert_eq!(parsed.attachments[0].name, "Passo a passo - Ouvidoria.pdf");
    assert_eq!(parsed.attachments[0].content_type, "application/pdf");
    assert_eq!(parsed.attachments[0].content.as_deref(), Some(pdf.as_slice()));

    // If it came back to carteiro, inbound would know it as its own.
    assert!(
        matches!(&parsed.sender, Sender::Own { reason } if reason.starts_with("X-Carteiro-Loop")),
        "{:?}",
        parsed.sender
    );
    assert_eq!(parsed.ticket_ref, Some(TICKET));

    // The customer answers from their mail client; the reply reaches our
    // mailbox and threads to the ticket by our Message-ID.
    let store = Store::open_in_memory().expect("store");
    store
        .link_message_id(&composed.message_id, TICKET, Direction::Out)
        .expect("record the Message-ID we sent");
    let reply = reply_to(&composed, &parsed, &customer, &ours);
    servers
        .send(reply.as_bytes(), &customer.address, &[&ours.address])
        .await;
    let arrived = servers.wait_for_messages(&ours.user, 1, DELIVERY).await;
    let reply = parse(&arrived[0], &parse_options(&ours));
    assert_eq!(reply.sender, Sender::Person, "a person's reply is not a machine");
    let ids = referenced_ids(&reply);
    assert_eq!(ids.first(), Some(&composed.message_id));
    assert_eq!(store.ticket_for_message_ids(&ids).expect("lookup"), Some(TICKET));
    let _ = std::fs::remove_dir_all(rules);
}

/// What a mail client writes when the customer hits "reply".
fn reply_to(
    ours_sent: &ComposedMail,
    seen: &ParsedMail,
    customer: &TestMailbox,
    ours: &TestMailbox,
) -> String {
    format!(
        "From: João Araújo <{from}>\r\nTo: {to}\r\nSubject: =?utf-8?q?Re=3A_{subject}?=\r\n\
         Message-ID: <resposta-{user}@{DOMAIN}>\r\nIn-Reply-To: <{id}>\r\nReferences: {refs} <{id}>\r\n\
         Date: Wed, 29 May 2019 09:00:00 -0300\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Obrigado, ainda não funcionou.\r\n",
        from = customer.address,
        to = ours.address,
        subject = "chamado",
        user = customer.user,
        id = ours_sent.message_id,
        refs = seen
            .references
            .iter()
            .map(|r| format!("<{r}>"))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Submission or SMTPS with AUTH as `user`.
fn authenticated(
    servers: &MailServers,
    from: &TestMailbox,
    tls: TlsMode,
    mechanism: AuthMech,
    password: &str,
) -> SmtpConfig {
    SmtpConfig {
        port: match tls {
            TlsMode::Implicit => servers.smtps_port,
            _ => servers.submission_port,
        },
        tls,
        auth: Some(SmtpAuth {
            mechanism,
            username: from.user.clone(),
            password: carteiro::secret::Secret::new(password),
        }),
        ..smtp(servers, from)
    }
}

/// Postfix's log line for a client that authenticated as `user`: the
/// mechanism really used, as the server saw it. Postfix logs through its
/// own log daemon, so the line may trail the `250` a little: wait for it.
async fn sasl_method_logged(servers: &MailServers, user: &str) -> Option<String> {
    let needle = format!("sasl_username={user}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(servers.root.join("postfix.log")).unwrap_or_default();
        let method = log
            .lines()
            .find(|line| line.contains(&needle))
            .and_then(|line| line.split("sasl_method=").nth(1))
            .and_then(|rest| rest.split(',').next())
            .map(str::to_owned);
        if method.is_some() || std::time::Instant::now() >= deadline {
            return method;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn implicit_tls_with_auth_plain_and_starttls_with_auth_login_deliver() {
    let servers = servers();
    let customer = servers.new_mailbox("cliente");
    let cases = [
        (TlsMode::Implicit, AuthMech::Plain, "PLAIN"),
        (TlsMode::StartTls, AuthMech::Login, "LOGIN"),
    ];
    let mut sent = Vec::new();
    for (tls, mechanism, logged) in cases {
        let ours = servers.new_mailbox("suporte");
        let config = authenticated(servers, &ours, tls, mechanism, support::mail::PASSWORD);
        let composed = compose(&simple(&customer.address), &compose_options(&ours)).expect("compose");
        let delivered = SmtpSender::new(&config)
            .expect("sender")
            .send(&composed.envelope, &composed.raw)
            .await
            .unwrap_or_else(|e| panic!("{tls:?} with {mechanism:?}: {e}\n{}", servers.log_tails()));
        assert_eq!(delivered.code, 250);
        assert_eq!(
            sasl_method_logged(servers, &ours.user).await.as_deref(),
            Some(logged),
            "{tls:?}"
        );
        sent.push(composed.message_id);
    }
    let arrived = servers.wait_for_messages(&customer.user, 2, DELIVERY).await;
    let ids: Vec<String> = arrived
        .iter()
        .map(|raw| parse(raw, &ParseOptions::default()).message_id)
        .collect();
    assert_eq!(ids, sent);
}

#[tokio::test]
async fn a_refused_password_is_temporary_so_the_mail_waits_for_the_fix() {
    let servers = servers();
    let ours = servers.new_mailbox("suporte");
    let config = authenticated(servers, &ours, TlsMode::Implicit, AuthMech::Plain, "senha errada");
    let composed = compose(&simple("x@example.test"), &compose_options(&ours)).expect("compose");
    let error = SmtpSender::new(&config)
        .expect("sender")
        .send(&composed.envelope, &composed.raw)
        .await
        .expect_err("a wrong password");
    match &error {
        SendError::Temporary { stage, code, message } => {
            assert_eq!(stage, &Stage::Auth);
            assert_eq!(*code, Some(535), "{message}");
        }
        other => panic!("expected a temporary failure at AUTH, got {other:?}"),
    }
    // The password never shows in the error.
    assert!(!error.to_string().contains("senha errada"), "{error}");
}

#[tokio::test]
async fn a_recipient_refused_at_rcpt_is_a_permanent_failure_naming_it() {
    let servers = servers();
    let ours = servers.new_mailbox("suporte");
    let elsewhere = "alguem@cliente.example";
    let composed = compose(&simple(elsewhere), &compose_options(&ours)).expect("compose");
    let sender = SmtpSender::new(&smtp(servers, &ours)).expect("sender");
    let error = sender
        .send(&composed.envelope, &composed.raw)
        .await
        .expect_err("Postfix relays only example.test");
    match &error {
        SendError::Permanent { stage, code, message } => {
            assert_eq!(stage, &Stage::Recipient(elsewhere.to_owned()));
            assert_eq!(*code, Some(554));
            assert!(message.contains("Relay access denied"), "{message}");
        }
        other => panic!("expected a permanent failure, got {other:?}"),
    }
    assert!(!error.is_temporary());

    // The same sender goes on working after a refusal.
    let customer = servers.new_mailbox("cliente");
    let composed = compose(&simple(&customer.address), &compose_options(&ours)).expect("compose");
    let delivered = sender
        .send(&composed.envelope, &composed.raw)
        .await
        .expect("send");
    assert_eq!(delivered.code, 250);
    servers.wait_for_messages(&customer.user, 1, DELIVERY).await;
}

#[tokio::test]
async fn an_unknown_local_user_is_accepted_then_bounces_back_as_a_dsn_for_our_ticket() {
    // Postfix accepts the recipient at RCPT (its domain is relayed to
    // Dovecot); Dovecot refuses it afterwards, and the bounce comes back to
    // our From address. Inbound reads it as a bounce of our mail.
    let servers = servers();
    let ours = servers.new_mailbox("suporte");
    let nobody = servers.unknown_recipient("ninguem");
    let composed = compose(&simple(&nobody), &compose_options(&ours)).expect("compose");
    let sender = SmtpSender::new(&smtp(servers, &ours)).expect("sender");
    let delivered = sender
        .send(&composed.envelope, &composed.raw)
        .await
        .expect("accepted at SMTP");
    assert_eq!(delivered.code, 250);
    let bounces = servers.wait_for_messages(&ours.user, 1, DELIVERY).await;
    let dsn = parse(&bounces[0], &parse_options(&ours));
    match &dsn.sender {
        Sender::Bounce { report, .. } => {
            assert_eq!(
                report.original_message_id.as_deref(),
                Some(composed.message_id.as_str())
            );
            assert_eq!(report.original_ticket, Some(TICKET));
            assert_eq!(report.status.as_deref(), Some("5.1.1"));
            assert_eq!(report.recipient.as_deref(), Some(nobody.as_str()));
        }
        other => panic!("expected a bounce, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stopped_server_is_a_temporary_failure_and_sending_resumes_after_it() {
    let servers = MailServers::start_private();
    let ours = servers.new_mailbox("suporte");
    let customer = servers.new_mailbox("cliente");
    let sender = SmtpSender::new(&smtp(&servers, &ours)).expect("sender");

    // A first mail leaves a connection open for reuse.
    let first = compose(&simple(&customer.address), &compose_options(&ours)).expect("compose");
    sender
        .send(&first.envelope, &first.raw)
        .await
        .expect("first mail");
    // Postfix must have handed it to Dovecot before it stops: stopped
    // mid-delivery, it would deliver it again after the restart.
    servers.wait_for_messages(&customer.user, 1, DELIVERY).await;

    servers.stop_smtp();
    let second = compose(&simple(&customer.address), &compose_options(&ours)).expect("compose");
    let error = sender
        .send(&second.envelope, &second.raw)
        .await
        .expect_err("the server is down");
    assert!(error.is_temporary(), "{error:?}");
    assert_eq!(error.stage(), &Stage::Connect, "{error:?}");

    servers.start_smtp();
    // The kept connection died with the server; the sender notices and
    // connects again.
    sender
        .send(&second.envelope, &second.raw)
        .await
        .unwrap_or_else(|e| panic!("after the restart: {e}\n{}", servers.log_tails()));
    let arrived = servers.wait_for_messages(&customer.user, 2, DELIVERY).await;
    let ids: Vec<String> = arrived
        .iter()
        .map(|raw| parse(raw, &ParseOptions::default()).message_id)
        .collect();
    assert_eq!(ids, [first.message_id.clone(), second.message_id.clone()]);
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_temporary_failure_after_the_timeout() {
    let servers = servers();
    let ours = servers.new_mailbox("suporte");
    // Accepts connections and says nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let port = listener.local_addr().expect("address").port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config = SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port,
        tls: TlsMode::Plain,
        ca_file: None,
        timeout: Duration::from_millis(500),
        ..smtp(servers, &ours)
    };
    let sender = SmtpSender::new(&config).expect("sender");
    let composed = compose(&simple("x@example.test"), &compose_options(&ours)).expect("compose");
    let started = std::time::Instant::now();
    let error = sender
        .send(&composed.envelope, &composed.raw)
        .await
        .expect_err("silence");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    match &error {
        SendError::Temporary { stage, message, .. } => {
            assert_eq!(stage, &Stage::Connect);
            assert!(message.contains("did not answer within 500ms"), "{message}");
        }
        other => panic!("expected a temporary failure, got {other:?}"),
    }
    silent.abort();
}

#[tokio::test]
async fn tls_verifies_the_certificate_and_plain_works_on_loopback() {
    let servers = servers();
    let ours = servers.new_mailbox("suporte");
    let customer = servers.new_mailbox("cliente");
    let composed = compose(&simple(&customer.address), &compose_options(&ours)).expect("compose");

    // Without the test CA, the self-signed certificate is refused, and the
    // mail waits (temporary) rather than going out unverified.
    let untrusted = SmtpConfig {
        ca_file: None,
        ..smtp(servers, &ours)
    };
    let error = SmtpSender::new(&untrusted)
        .expect("sender")
        .send(&composed.envelope, &composed.raw)
        .await
        .expect_err("an untrusted certificate");
    assert!(error.is_temporary(), "{error:?}");
    assert_eq!(error.stage(), &Stage::Tls, "{error:?}");
    let implicit_untrusted = SmtpConfig {
        port: servers.smtps_port,
        tls: TlsMode::Implicit,
        ..untrusted
    };
    let error = SmtpSender::new(&implicit_untrusted)
        .expect("sender")
        .send(&composed.envelope, &composed.raw)
        .await
        .expect_err("an untrusted certificate");
    assert!(error.is_temporary(), "{error:?}");
    assert_eq!(error.stage(), &Stage::Tls, "{error:?}");

    // Plain SMTP on loopback, as the configuration allows.
    let plain = SmtpConfig {
        host: "127.0.0.1".to_owned(),
        tls: TlsMode::Plain,
        ca_file: None,
        ..smtp(servers, &ours)
    };
    let delivered = SmtpSender::new(&plain)
        .expect("sender")
        .send(&composed.envelope, &composed.raw)
        .await
        .expect("plain send");
    assert_eq!(delivered.code, 250);
    let arrived = servers.wait_for_messages(&customer.user, 1, DELIVERY).await;
    assert_eq!(
        parse(&arrived[0], &ParseOptions::default()).message_id,
        composed.message_id
    );
    let _: &Envelope = &composed.envelope;
}

/// `carteiro check` with `mail.templates` pointing at `templates`.
fn check_with_templates(name: &str, templates: &[(&str, &str)]) -> std::process::Output {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("outbound-check-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("modelos")).expect("create the templates folder");
    for (file, source) in templates {
        std::fs::write(dir.join("modelos").join(file), source).expect("write a template");
    }
    std::fs::write(
        dir.join("carteiro.toml"),
        "[zendesk]\nsubdomain = \"empresa\"\nemail = \"bot@empresa.com.br\"\n\n[mail]\ntemplates = \"modelos\"\n",
    )
    .expect("write the config");
    std::process::Command::new(env!("CARGO_BIN_EXE_carteiro"))
        .args(["check", "--config", "carteiro.toml"])
        .current_dir(&dir)
        .env_clear()
        .env("CARTEIRO__ZENDESK__API_TOKEN", "t0ken")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run carteiro check")
}

#[test]
fn carteiro_check_reports_template_errors_with_file_and_line() {
    let out = check_with_templates(
        "errors",
        &[
            (
                "confirmacao.txt.j2",
                "Olá, {{ requester.name }}!\n\nChamado {{ ticket.numero }}\n",
            ),
            (
                "confirmacao.html.j2",
                "<p>Olá</p>\n{% for c in ticket.comentarios %}{{ c }}{% endfor %}\n",
            ),
            ("quebrado.txt.j2", "linha 1\n{% if ticket.id %}\n"),
            ("bom.txt.j2", "Prazo: {{ ticket.due_at | data_extenso }}"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "a syntax error stops the folder's load: {stdout}");
    assert!(
        lines[0].starts_with("modelos/quebrado.txt.j2:2: syntax error"),
        "{stdout}"
    );
    assert_eq!(stderr, "error: the mail templates have 1 problem\n");

    let out = check_with_templates(
        "undefined",
        &[
            (
                "confirmacao.txt.j2",
                "Olá, {{ requester.name }}!\n\nChamado {{ ticket.numero }}\n",
            ),
            (
                "confirmacao.html.j2",
                "<p>Olá</p>\n{% for c in ticket.comentarios %}{{ c }}{% endfor %}\n",
            ),
            ("bom.txt.j2", "Prazo: {{ ticket.due_at | data_extenso }}"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("modelos/confirmacao.txt.j2:3: undefined value: `ticket.numero` is undefined"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("modelos/confirmacao.html.j2:2: undefined value"),
        "{stdout}"
    );
    assert!(lines[1].contains("ticket.comentarios"), "{stdout}");

    let out = check_with_templates(
        "clean",
        &[("bom.txt.j2", "Prazo: {{ ticket.due_at | data_extenso }}")],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok: configuration is valid (read carteiro.toml); mail templates in modelos render\n"
    );
}

// ---------------------------------------------------------------- the outbox, through `carteiro run`

/// One outbox test's world: a simulator with tickets, a support mailbox
/// (carteiro's own address, read by the daemon), a template folder and a
/// state file, all its own.
struct OutboxWorld {
    sim: carteiro::helpdesk::sim::SimHandle,
    client: carteiro::helpdesk::zendesk::ZendeskClient,
    support: TestMailbox,
    dir: PathBuf,
}

impl OutboxWorld {
    async fn new(name: &str, servers: &MailServers) -> OutboxWorld {
        let sim = carteiro::helpdesk::sim::spawn(support::strict(carteiro::helpdesk::sim::SimOptions {
            relax_export_start: true,
            ..Default::default()
        }))
        .await
        .expect("start the simulator");
        let client = support::client(sim.base_url.clone(), |b| b);
        let support = servers.new_mailbox(&format!("suporte-{name}"));
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "outbox-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(dir.join("templates")).expect("create the test dir");
        std::fs::write(
            dir.join("templates/aviso.txt.j2"),
            "Olá, {{ requester.name }}!\n\nSobre o chamado #{{ ticket.id }} ({{ ticket.subject }}): aviso nº {{ vars.n }}.\n",
        )
        .expect("write the template");
        OutboxWorld {
            sim,
            client,
            support,
            dir,
        }
    }

    /// A config for `carteiro run` and `carteiro mail …`: SMTP through the
    /// servers' Postfix, the support mailbox read over IMAP, and `outbox`
    /// as the [outbox] section.
    fn config(&self, servers: &MailServers, outbox: &str) -> PathBuf {
        let text = format!(
            r#"
[zendesk]
base_url = "{base}"
email = "carteiro@empresa.example"
request_timeout = "5s"
max_retries = 3
max_backoff = "500ms"

[log]
level = "carteiro=debug,info"

[state]
path = "{state}"

[mail]
own_addresses = ["{own}"]
message_id_domain = "{OUR_DOMAIN}"
templates = "{templates}"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "plain"
timeout = "5s"
from_address = "{own}"
from_name = "Suporte Ação"

[outbox]
{outbox}

[[mailbox]]
name = "suporte"
kind = "imap"
host = "127.0.0.1"
port = {imap_port}
tls = "plain"
username = "{user}"
password_env = "IMAP_TEST_PASSWORD"
idle = true
poll_interval = "2s"
timeout = "10s"
"#,
            base = self.sim.base_url.as_str().trim_end_matches('/'),
            state = self.dir.join("carteiro.db").display(),
            own = self.support.address,
            templates = self.dir.join("templates").display(),
            smtp_port = servers.smtp_port,
            imap_port = servers.imap_port,
            user = self.support.user,
        );
        let path = self.dir.join("carteiro.toml");
        std::fs::write(&path, text).expect("write the config");
        path
    }

    /// A ticket requested by `requester`.
    async fn ticket(&self, requester: &str, subject: &str) -> u64 {
        use carteiro::helpdesk::{HelpDesk, NewComment, NewTicket, RequesterSpec};
        let ticket = self
            .client
            .create_ticket(&NewTicket {
                subject: Some(subject.to_owned()),
                comment: NewComment {
                    body: Some("Bom dia, preciso de ajuda.".to_owned()),
                    public: true,
                    ..NewComment::default()
                },
                requester: Some(RequesterSpec {
                    email: requester.to_owned(),
                    name: Some("Maria da Conceição".to_owned()),
                    locale_id: None,
                }),
                ..NewTicket::default()
            })
            .await
            .expect("create the ticket");
        ticket.id
    }

    /// `carteiro mail ARGS… --config CONFIG`: exit status and stdout.
    fn carteiro_mail(&self, config: &Path, args: &[&str]) -> (bool, String) {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_carteiro"))
            .arg("mail")
            .args(args)
            .arg("--config")
            .arg(config)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CARTEIRO__ZENDESK__API_TOKEN", "test-token")
            .env("IMAP_TEST_PASSWORD", support::mail::PASSWORD)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run carteiro mail");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success() || !stdout.is_empty(),
            "carteiro mail {args:?} failed without an answer:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), stdout)
    }

    /// `carteiro mail send --template aviso --to TO --ticket N --var n=N`.
    fn send(&self, config: &Path, to: &str, ticket: u64, n: usize) -> (bool, String) {
        self.carteiro_mail(
            config,
            &[
                "send",
                "--template",
                "aviso",
                "--to",
                to,
                "--ticket",
                &ticket.to_string(),
                "--var",
                &format!("n={n}"),
            ],
        )
    }

    /// The state store the daemon and the CLI share (SQLite allows both).
    fn store(&self) -> Store {
        Store::open(&self.dir.join("carteiro.db")).expect("open the state store")
    }

    /// Waits until `check` holds on the outbox (every row), or panics with
    /// the daemon's log.
    async fn wait_for_outbox(
        &self,
        daemon: &support::daemon::Daemon,
        what: &str,
        check: impl Fn(&[carteiro::store::OutboxEntry]) -> bool,
    ) -> Vec<carteiro::store::OutboxEntry> {
        let store = self.store();
        let deadline = std::time::Instant::now() + DELIVERY;
        loop {
            let rows = store.outbox_list(true).expect("list the outbox");
            if check(&rows) {
                return rows;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; outbox: {rows:#?}\n--- carteiro run log:\n{}",
                daemon.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn all_sent(rows: &[carteiro::store::OutboxEntry], n: usize) -> bool {
    rows.len() == n && rows.iter().all(|r| r.state == carteiro::store::OutboxState::Sent)
}

/// The Message-IDs of `messages`, checked to be distinct.
fn distinct_message_ids(messages: &[Vec<u8>]) -> std::collections::BTreeSet<String> {
    let ids: Vec<String> = messages
        .iter()
        .map(|m| raw_header(m, "Message-ID").expect("a Message-ID"))
        .collect();
    let distinct: std::collections::BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(distinct.len(), ids.len(), "a mail arrived twice: {ids:#?}");
    distinct
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_outage_and_a_daemon_restart_lose_no_mail_and_send_none_twice() {
    let servers = MailServers::start_private();
    let world = OutboxWorld::new("outage", &servers).await;
    let customer = servers.new_mailbox("cliente-outage");
    let ticket = world.ticket(&customer.address, "Impressora parada").await;
    // Caps above 20, quick retries: this test is about delivery, not guards.
    let config = world.config(
        &servers,
        r#"recipient_caps = ["50/10m"]
ticket_caps = ["50/10m"]
retry_initial = "200ms"
retry_max = "1s"
poll_interval = "200ms""#,
    );
    let mut daemon = support::daemon::Daemon::start(&config);

    // Nothing was delivered before the stop, so Postfix has nothing of ours
    // in flight that it could deliver again.
    servers.stop_smtp();
    for n in 0..20 {
        let (ok, out) = world.send(&config, &customer.address, ticket, n);
        assert!(ok && out.starts_with("queued\t"), "mail {n}: {out}");
    }
    // The daemon tries, fails and backs off while the server is down.
    world
        .wait_for_outbox(&daemon, "a failed attempt", |rows| {
            rows.iter().any(|r| r.attempts >= 1 && r.last_error.is_some())
        })
        .await;
    daemon.kill_hard();
    let store = world.store();
    assert!(
        store
            .outbox_list(true)
            .expect("list")
            .iter()
            .all(|r| r.sent_at.is_none())
    );

    let mut daemon = support::daemon::Daemon::start(&config);
    servers.start_smtp();
    let rows = world
        .wait_for_outbox(&daemon, "20 mails sent", |rows| all_sent(rows, 20))
        .await;
    let messages = servers.wait_for_messages(&customer.user, 20, DELIVERY).await;
    // Every row is marked sent, so carteiro has handed over everything it
    // will; give Postfix a moment to deliver a copy, if there were one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages_after = servers.wait_for_messages(&customer.user, 20, DELIVERY).await;
    assert_eq!(messages_after.len(), 20, "exactly 20 mails, each once");
    let arrived = distinct_message_ids(&messages);
    let queued: std::collections::BTreeSet<String> =
        rows.iter().map(|r| format!("<{}>", r.message_id)).collect();
    assert_eq!(arrived, queued);
    // Each carries its own number: 20 different mails, not one mail 20 times.
    let numbers: std::collections::BTreeSet<String> = messages
        .iter()
        .map(|m| {
            let parsed = mail_parser::MessageParser::default().parse(m).expect("a mail");
            let text = parsed.body_text(0).expect("a text part").into_owned();
            let at = text
                .find("aviso nº ")
                .unwrap_or_else(|| panic!("not the rendered template: {text}"));
            text[at..].lines().next().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(numbers.len(), 20, "{numbers:?}");
    assert!(
        rows.iter()
            .all(|r| r.response.as_deref().is_some_and(|s| s.starts_with("250")))
    );
    assert!(daemon.stop().success(), "{}", daemon.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_cap_mail_hold_bouncing_recipients_and_skip_robots() {
    let servers = servers();
    let world = OutboxWorld::new("guards", servers).await;
    let customer = servers.new_mailbox("cliente-guards");
    let ticket = world.ticket(&customer.address, "Nota fiscal").await;
    let config = world.config(
        servers,
        r#"recipient_caps = ["3/10m"]
retry_initial = "200ms"
retry_max = "1s"
poll_interval = "200ms""#,
    );
    let mut daemon = support::daemon::Daemon::start(&config);

    // The cap: 3 mails to one recipient within 10 minutes, not 5.
    let answers: Vec<(bool, String)> = (0..5)
        .map(|n| world.send(&config, &customer.address, ticket, n))
        .collect();
    for (n, (ok, out)) in answers.into_iter().enumerate() {
        if n < 3 {
            assert!(ok && out.starts_with("queued\t"), "mail {n}: {out}");
        } else {
            assert!(
                !ok && out.starts_with("suppressed\trecipient_cap\t"),
                "mail {n}: {out}"
            );
            assert!(out.contains("already had 3 mail(s) within 600s"), "{out}");
        }
    }
    world
        .wait_for_outbox(&daemon, "3 mails sent", |rows| all_sent(rows, 3))
        .await;
    let delivered = servers.wait_for_messages(&customer.user, 3, DELIVERY).await;
    distinct_message_ids(&delivered);

    // Robots and our own address never get mail.
    let (ok, out) = world.send(&config, &format!("MAILER-DAEMON@{DOMAIN}"), ticket, 10);
    assert!(!ok && out.starts_with("suppressed\trobot_address\t"), "{out}");
    let (ok, out) = world.send(&config, &format!("no-reply@{DOMAIN}"), ticket, 11);
    assert!(!ok && out.starts_with("suppressed\trobot_address\t"), "{out}");
    let (ok, out) = world.send(&config, &world.support.address, ticket, 12);
    assert!(!ok && out.starts_with("suppressed\town_address\t"), "{out}");

    // A recipient the server refuses at RCPT: failed, marked bouncing,
    // noted on its ticket; the next mail to it is held.
    let stranger = "alguem@cliente.example";
    let bouncing_ticket = world.ticket(stranger, "Cadastro").await;
    let (ok, out) = world.send(&config, stranger, bouncing_ticket, 20);
    assert!(ok, "{out}");
    let rows = world
        .wait_for_outbox(&daemon, "the refused mail failed", |rows| {
            rows.iter()
                .any(|r| r.state == carteiro::store::OutboxState::Failed && r.noted_at.is_some())
        })
        .await;
    let failed = rows
        .iter()
        .find(|r| r.state == carteiro::store::OutboxState::Failed)
        .expect("the failed row");
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("554") && e.contains(stranger)),
        "{failed:?}"
    );
    let comments = world.sim.sim.state_json()["comments"][bouncing_ticket.to_string()]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let note = comments
        .iter()
        .find(|c| {
            c["body"]
                .as_str()
                .is_some_and(|b| b.contains("Falha permanente no envio"))
        })
        .unwrap_or_else(|| panic!("no failure note on #{bouncing_ticket}: {comments:#?}"));
    assert_eq!(note["public"], false, "{note}");
    assert!(
        note["body"]
            .as_str()
            .is_some_and(|b| b.contains(stranger) && b.contains(&failed.message_id))
    );
    assert!(world.store().bouncing(stranger).expect("read").is_some());
    let (ok, out) = world.send(&config, stranger, bouncing_ticket, 21);
    assert!(!ok && out.starts_with("held\t"), "{out}");
    assert!(out.contains("is marked bouncing"), "{out}");

    // An auto-reply from the customer to one of our mails is read, and
    // skipped: no ticket comment, and no mail goes out because of it.
    let ours = raw_header(&delivered[0], "Message-ID").expect("a Message-ID");
    let auto_id = format!("vacation-{}@cliente.example.test", rand::random::<u32>());
    let auto_reply = format!(
        "From: Maria <{from}>\r\nTo: {to}\r\nSubject: Resposta automática: ausente\r\nMessage-ID: <{auto_id}>\r\n\
         In-Reply-To: {ours}\r\nAuto-Submitted: auto-replied\r\nDate: Mon, 23 Nov 2026 10:00:00 -0300\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nEstou de férias.\r\n",
        from = customer.address,
        to = world.support.address,
    );
    servers
        .send(
            auto_reply.as_bytes(),
            &customer.address,
            &[&world.support.address],
        )
        .await;
    let store = world.store();
    let deadline = std::time::Instant::now() + DELIVERY;
    let processed = loop {
        if let Some(processed) = store.processed(&auto_id).expect("read") {
            break processed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the auto-reply was not read\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        matches!(&processed.outcome, carteiro::store::Outcome::Skipped { reason } if reason.contains("auto")),
        "{processed:?}"
    );
    assert_eq!(
        store.outbox_list(true).expect("list").len(),
        5,
        "3 sent, 1 failed, 1 held"
    );
    assert_eq!(read_inbox_count(servers, &customer.user), 3);

    // The CLI shows the queue and the counts.
    let (ok, listing) = world.carteiro_mail(&config, &["outbox", "list", "--all"]);
    assert!(ok, "{listing}");
    for expected in [
        "suppressed\trecipient_cap\t2\t",
        "suppressed\trobot_address\t2\t",
        "suppressed\town_address\t1\t",
        "suppressed\tbouncing\t1\t",
    ] {
        assert!(listing.contains(expected), "{expected:?} not in:\n{listing}");
    }
    assert_eq!(
        listing.lines().filter(|l| l.contains("\tsent\t")).count(),
        3,
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|l| l.contains("\tfailed\t") && l.contains(stranger)),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|l| l.contains("\theld\t") && l.contains(stranger)),
        "{listing}"
    );
    // A held mail is released only once the address is cleared.
    let held = store
        .outbox_list(false)
        .expect("list")
        .into_iter()
        .find(|r| r.state == carteiro::store::OutboxState::Held)
        .expect("the held row");
    let (ok, out) = world.carteiro_mail(&config, &["outbox", "retry", &held.id.to_string()]);
    assert!(!ok && out.contains("still marked bouncing"), "{out}");
    assert!(daemon.stop().success(), "{}", daemon.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounce_that_comes_back_as_a_dsn_marks_the_recipient_so_the_next_mail_is_held() {
    let servers = servers();
    let world = OutboxWorld::new("dsn", servers).await;
    // Postfix accepts this recipient at RCPT (its domain is ours); Dovecot
    // then refuses it, and the DSN comes back to the support mailbox.
    let nobody = servers.unknown_recipient("cliente-dsn");
    let ticket = world.ticket(&nobody, "Pedido de orçamento").await;
    let config = world.config(servers, "poll_interval = \"200ms\"");
    let mut daemon = support::daemon::Daemon::start(&config);

    let (ok, out) = world.send(&config, &nobody, ticket, 1);
    assert!(ok, "{out}");
    world
        .wait_for_outbox(&daemon, "the mail sent", |rows| all_sent(rows, 1))
        .await;
    let store = world.store();
    let deadline = std::time::Instant::now() + DELIVERY;
    let reason = loop {
        if let Some(reason) = store.bouncing(&nobody).expect("read") {
            break reason;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the DSN did not mark {nobody}\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(reason.starts_with("DSN 5.1.1"), "{reason}");
    // The mark comes first, the note on the ticket right after it.
    let deadline = std::time::Instant::now() + DELIVERY;
    loop {
        let comments = world.sim.sim.state_json()["comments"][ticket.to_string()]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let noted = comments
            .iter()
            .any(|c| c["public"] == false && c["body"].as_str().is_some_and(|b| b.contains(&nobody)));
        if noted {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no bounce note: {comments:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ok, out) = world.send(&config, &nobody, ticket, 2);
    assert!(!ok && out.starts_with("held\t"), "{out}");
    // Once the address is fixed, the held mail goes out on retry.
    let (ok, out) = world.carteiro_mail(&config, &["outbox", "clear-bounce", &nobody]);
    assert!(ok, "{out}");
    let (ok, out) = world.carteiro_mail(&config, &["outbox", "retry", "--all"]);
    assert!(ok && out.contains("\tdue now"), "{out}");
    world
        .wait_for_outbox(&daemon, "the held mail sent", |rows| all_sent(rows, 2))
        .await;
    assert!(daemon.stop().success(), "{}", daemon.log_text());
}

/// How many messages `user`'s INBOX holds now.
fn read_inbox_count(servers: &MailServers, user: &str) -> usize {
    let maildir = servers.maildir(user);
    ["new", "cur"]
        .iter()
        .map(|sub| {
            std::fs::read_dir(maildir.join(sub))
                .map(|d| d.count())
                .unwrap_or(0)
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_vacation_responder_and_carteiro_exchange_at_most_one_round() {
    let servers = servers();
    let world = OutboxWorld::new("pingpong", servers).await;
    let customer = servers.new_mailbox("cliente-ferias");
    servers.set_vacation(&customer.user, "Ausente", "Estou de férias até segunda-feira.");
    let ticket = world.ticket(&customer.address, "Boleto em atraso").await;
    let config = world.config(servers, "poll_interval = \"200ms\"");
    let mut daemon = support::daemon::Daemon::start(&config);

    // carteiro's mail to a customer whose mailbox answers everything with a
    // vacation notice: delivered, and the responder (Pigeonhole's sieve
    // vacation) decides, and logs, not to answer it.
    let (ok, out) = world.send(&config, &customer.address, ticket, 1);
    assert!(ok, "{out}");
    let rows = world
        .wait_for_outbox(&daemon, "the mail sent", |rows| all_sent(rows, 1))
        .await;
    servers.wait_for_messages(&customer.user, 1, DELIVERY).await;
    let ours = rows[0].message_id.clone();
    let deadline = std::time::Instant::now() + DELIVERY;
    let decision = loop {
        let log = servers.dovecot_log();
        if let Some(line) = log
            .lines()
            .find(|l| l.contains(ours.as_str()) && l.contains("vacation"))
        {
            break line.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sieve decision on {ours} in:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(decision.contains("auto-submitted"), "{decision}");

    // The responder is live: a person's mail to the same customer (an
    // agent writing from the support address, without Auto-Submitted) gets
    // its vacation reply, at the support mailbox the daemon reads.
    let agent_id = format!("agente-{}@empresa.example.test", rand::random::<u32>());
    let agent_mail = format!(
        "From: Agente <{from}>\r\nTo: {to}\r\nSubject: Seu boleto\r\nMessage-ID: <{agent_id}>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 -0300\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOlá, Maria.\r\n",
        from = world.support.address,
        to = customer.address,
    );
    servers
        .send(
            agent_mail.as_bytes(),
            &world.support.address,
            &[&customer.address],
        )
        .await;
    let replies = servers.wait_for_messages(&world.support.user, 1, DELIVERY).await;
    let vacation = &replies[0];
    assert!(
        raw_header(vacation, "Auto-Submitted").is_some_and(|v| v.starts_with("auto-replied")),
        "{}",
        String::from_utf8_lossy(vacation)
    );
    assert!(raw_header(vacation, "Subject").is_some_and(|s| s.contains("Ausente")));
    let vacation_id = raw_header(vacation, "Message-ID").expect("a Message-ID");
    let vacation_id = vacation_id.trim_matches(['<', '>']).to_owned();

    // That reply reached carteiro as an auto-reply, which it records and
    // does not answer.
    let store = world.store();
    let deadline = std::time::Instant::now() + DELIVERY;
    let processed = loop {
        if let Some(processed) = store.processed(&vacation_id).expect("read") {
            break processed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the vacation reply was not read\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        matches!(processed.outcome, carteiro::store::Outcome::Skipped { .. }),
        "{processed:?}"
    );

    // The whole exchange: the customer got 2 mails (ours and the agent's),
    // the support mailbox 1 (the vacation reply to the agent's mail), and
    // the outbox holds only the one mail carteiro was asked to send.
    assert_eq!(read_inbox_count(servers, &customer.user), 2);
    assert_eq!(read_inbox_count(servers, &world.support.user), 1);
    assert_eq!(store.outbox_list(true).expect("list").len(), 1);
    assert!(daemon.stop().success(), "{}", daemon.log_text());
}
