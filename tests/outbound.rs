//! Outbound e-mail with real servers: carteiro composes a mail from the
//! shipped templates, sends it through Postfix with its own SMTP client,
//! and the test reads it back from Dovecot over IMAP. What the server says
//! comes back classified: `250` as delivered, a refusal at RCPT as
//! permanent, a server that is down or silent as temporary.
//!
//! Sync points are explicit: a test waits for the mail to be in the
//! Maildir (`wait_for_messages`), never for a fixed time.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

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
use support::mail::{DOMAIN, MailServers, TestMailbox, servers};

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

/// The first value of header `name` in `raw`'s header block, unfolded.
fn raw_header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let head = text.split("\n\n").next().unwrap_or_default();
    let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
    let prefix = format!("{}:", name.to_ascii_lowercase());
    unfolded
        .lines()
        .find(|line| line.to_ascii_lowercase().starts_with(&prefix))
        .map(|line| line[prefix.len()..].trim().to_owned())
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
