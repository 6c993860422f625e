//! The `outbox` suite: the delivery worker to a real local Postfix.
//!
//! N composed mails of about 1 KB, to 50 recipients, are enqueued in a
//! fresh state store; then one [`DeliveryWorker`] pass sends them all over
//! its kept SMTP connection, each with its two fsynced store transactions
//! (claim, mark sent). The rate counts mails the server answered `250` to.
//! Peak RSS is the process's high-water mark (`VmHWM`), reset at the start
//! of the suite through `/proc/self/clear_refs`.
//!
//! Servers and the store live on tmpfs, as in the `ingest` suite, so the
//! figure measures carteiro and Postfix, not this machine's disk. The
//! guards run at enqueue with caps off (a benchmark sends far more to one
//! address than the caps allow).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use carteiro::clock::SystemClock;
use carteiro::config::{SmtpConfig, TlsMode};
use carteiro::helpdesk::sim::{self, SimOptions};
use carteiro::outbound::{
    Backoff, ComposeOptions, DeliveryWorker, MailAddress, MailKind, OutgoingMail, SmtpSender, compose,
};
use carteiro::store::{Enqueued, GuardPolicy, NewOutboxMail};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::ingest::{open_store, start_servers};
use super::{client, per_second, round};

/// Recipients the mails are spread over.
const RECIPIENTS: usize = 50;

pub async fn outbox_suite(n: usize) -> anyhow::Result<Value> {
    reset_peak_rss();
    let servers = start_servers()?;
    let handle = sim::spawn(SimOptions::default())
        .await
        .context("start the simulator")?;
    let store = Arc::new(open_store(&servers.root, "outbox")?);
    let from = "suporte@example.test";
    let options = ComposeOptions {
        from: MailAddress::named("Suporte Ação", from),
        message_id_domain: "carteiro.example.test".to_owned(),
        loop_header: "X-Carteiro-Loop".to_owned(),
        subject_tag: carteiro::config::SubjectTag::parse("[#{id}]"),
    };
    let policy = GuardPolicy {
        own_addresses: vec![from.to_owned()],
        robots: regex::Regex::new(carteiro::config::DEFAULT_ROBOT_ADDRESSES)?,
        recipient_caps: vec![],
        ticket_caps: vec![],
    };
    let filler =
        "Recebemos sua solicitação e um técnico entrará em contato em até 48 horas úteis. ".repeat(10);
    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..n {
        let mail = OutgoingMail {
            ticket_id: 1 + (i % 500) as u64,
            to: vec![MailAddress::new(format!(
                "cliente{}@example.test",
                i % RECIPIENTS
            ))],
            cc: vec![],
            subject: format!("Chamado de teste {i}"),
            text: filler.clone(),
            html: None,
            attachments: vec![],
            in_reply_to: None,
            references: vec![],
            kind: MailKind::Generated,
            date: chrono::Utc::now(),
            message_id: None,
        };
        let composed = compose(&mail, &options)?;
        bytes += composed.raw.len();
        let queued = store.enqueue_mail(
            &NewOutboxMail {
                message_id: composed.message_id,
                ticket_id: mail.ticket_id,
                envelope_from: composed.envelope.from,
                recipients: composed.envelope.to,
                subject: composed.subject,
                raw: composed.raw,
            },
            &policy,
        )?;
        if !matches!(queued, Enqueued::Queued { .. }) {
            bail!("mail {i} was not queued: {queued:?}");
        }
    }
    let enqueue_elapsed = started.elapsed();

    let smtp = SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port: servers.smtp_port,
        tls: TlsMode::Plain,
        ca_file: None,
        auth: None,
        timeout: Duration::from_secs(30),
        from_address: from.to_owned(),
        from_name: None,
        maildir: None,
    };
    let worker = DeliveryWorker::new(
        store.clone(),
        SmtpSender::new(&smtp)?,
        client(handle.base_url.clone(), None)?,
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        },
        Duration::from_millis(100),
        Arc::new(SystemClock),
    );
    let token = CancellationToken::new();
    let started = Instant::now();
    let pass = worker.deliver_due(&token).await?;
    let elapsed = started.elapsed();
    worker.sender().close().await;
    if pass.sent != n {
        bail!("the worker sent {} of {n} mails: {pass:?}", pass.sent);
    }
    let left = store.outbox_list(false)?.len();
    if left != 0 {
        bail!("{left} mails are not marked sent");
    }
    Ok(json!({
        "mails": n,
        "mail_bytes_avg": bytes / n.max(1),
        "enqueue_mails_per_s": per_second(n, enqueue_elapsed),
        "delivery_mails_per_s": per_second(n, elapsed),
        "delivery_seconds": round(elapsed.as_secs_f64()),
        "peak_rss_mib": peak_rss_mib(),
        "note": "compose + enqueue, then one worker pass to Postfix on loopback (250 counted); store and servers on tmpfs",
    }))
}

/// Resets the process's RSS high-water mark (Linux ≥ 4.0), so the peak
/// reported is this suite's.
pub(crate) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// `VmHWM` in MiB.
pub(crate) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(round(kib / 1024.0))
}
