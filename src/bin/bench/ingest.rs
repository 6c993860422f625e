//! The `ingest` suite: mail from a real Dovecot into the simulator.
//!
//! - **mbsync rate**: `mbsync` pulls the same mailbox into a Maildir on
//!   tmpfs, in the same run: the reference.
//! - **ingest rate**: carteiro's inbound loop (IMAP fetch, parse, classify,
//!   thread, one `POST` per mail, the store record, `\Seen`) over the same
//!   mails into the in-process simulator.
//! - **Zendesk calls per mail**, from the client's request counts.
//! - **latency** from SMTP delivery to ticket created, with IDLE: p50, p99.
//!
//! Mail servers, mailboxes and the state store live on tmpfs (`/dev/shm`),
//! as the mbsync reference does, so the comparison measures the programs,
//! not this machine's disk (whose file creation varies 10× between runs).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use carteiro::clock::SystemClock;
use carteiro::config::{AfterProcessing, AuthMech, ImapConfig, TlsMode};
use carteiro::helpdesk::sim::{self, SimHandle, SimOptions};
use carteiro::helpdesk::zendesk::ZendeskClient;
use carteiro::mail::imap::ImapMailbox;
use carteiro::mail::ingest::{Ingest, IngestOptions};
use carteiro::mail::mailbox::Mailbox as _;
use carteiro::mail::poll::{PollOptions, drain_once, run_mailbox};
use carteiro::secret::Secret;
use carteiro::store::Store;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{client, round};

/// Mail servers started for the run, stopped when dropped.
pub(super) struct Servers {
    pub(super) root: PathBuf,
    imap_port: u16,
    pub(super) smtp_port: u16,
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .env("MAIL_ROOT", &self.root)
            .output();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/mailservers.sh")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(super) fn start_servers() -> anyhow::Result<Servers> {
    let root = PathBuf::from(format!("/dev/shm/carteiro-bench-{}", std::process::id()));
    let ports = [free_port()?, free_port()?, free_port()?, free_port()?];
    let output = Command::new(script())
        .arg("start")
        .env("MAIL_ROOT", &root)
        .env("MAIL_FAST", "1")
        .env("MAIL_IMAP_PORT", ports[0].to_string())
        .env("MAIL_IMAPS_PORT", ports[1].to_string())
        .env("MAIL_SMTP_PORT", ports[2].to_string())
        .env("MAIL_LMTP_PORT", ports[3].to_string())
        .env("MAIL_OWNER_PID", std::process::id().to_string())
        .output()
        .context("run scripts/mailservers.sh")?;
    if !output.status.success() {
        bail!(
            "the mail servers did not start:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(Servers {
        root,
        imap_port: ports[0],
        smtp_port: ports[2],
    })
}

/// A mail of about 1 KB, as the STACK anchors were measured with.
fn bench_mail(n: usize) -> Vec<u8> {
    let filler = "Bom dia, a impressora fiscal parou de imprimir o cupom desde ontem à tarde. ".repeat(10);
    format!(
        "From: Cliente {n} <cliente{c}@empresa{e}.com.br>\r\nTo: suporte@example.test\r\n\
         Subject: Chamado de teste {n}\r\nMessage-ID: <bench-{n}@empresa.com.br>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 -0300\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{filler}\r\n",
        c = n % 500,
        e = n % 37,
    )
    .into_bytes()
}

/// Puts `n` mails straight into `user`'s Maildir, owned by Dovecot's user,
/// as a delivery agent would; Dovecot indexes them on the next SELECT.
fn fill_maildir(servers: &Servers, user: &str, n: usize) -> anyhow::Result<()> {
    let maildir = servers.root.join("vmail").join(user).join("Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    let (uid, gid) = mail_user()?;
    for n in 0..n {
        let path = maildir
            .join("new")
            .join(format!("{}.M{n}P1.bench", 1_700_000_000 + n));
        std::fs::write(&path, bench_mail(n))?;
        std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
    }
    let mut dir = maildir.clone();
    while dir.starts_with(&servers.root) && dir != servers.root {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
        for sub in ["new", "cur", "tmp"] {
            let child = dir.join(sub);
            if child.is_dir() {
                std::os::unix::fs::chown(&child, Some(uid), Some(gid))?;
            }
        }
        if !dir.pop() {
            break;
        }
    }
    Ok(())
}

/// Debian's `mail` user, which owns the Dovecot mailboxes.
fn mail_user() -> anyhow::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"mail"))
                .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))?
        })
        .context("no `mail` user in /etc/passwd")
}

fn imap_config(servers: &Servers, user: &str) -> ImapConfig {
    ImapConfig {
        host: "127.0.0.1".to_owned(),
        port: servers.imap_port,
        tls: TlsMode::Plain,
        ca_file: None,
        username: user.to_owned(),
        password: Secret::new("pw"),
        auth: AuthMech::Login,
        folder: "INBOX".to_owned(),
        after: AfterProcessing::Seen,
        idle: true,
        poll_interval: Duration::from_secs(30),
        timeout: Duration::from_secs(60),
        batch_size: 500,
    }
}

/// `mbsync` pulling `user`'s INBOX into a Maildir on tmpfs: messages/s.
fn mbsync_rate(servers: &Servers, user: &str, n: usize) -> anyhow::Result<f64> {
    let target = servers.root.join("mbsync-target");
    std::fs::create_dir_all(&target)?;
    let rc = servers.root.join("mbsyncrc");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount bench\nHost 127.0.0.1\nPort {port}\nUser {user}\nPass pw\nSSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount bench\n\n\
             MaildirStore local\nPath {target}/\nInbox {target}/INBOX\n\n\
             Channel pull\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\nSync Pull\nSyncState *\n",
            port = servers.imap_port,
            target = target.display(),
        ),
    )?;
    let started = Instant::now();
    let output = Command::new("mbsync")
        .args(["-q", "-c"])
        .arg(&rc)
        .arg("-a")
        .output()
        .context("run mbsync (Debian package isync)")?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!("mbsync failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let pulled = count_files(&target.join("INBOX"))?;
    if pulled != n {
        bail!("mbsync pulled {pulled} of {n} mails");
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}

fn count_files(maildir: &Path) -> anyhow::Result<usize> {
    let mut count = 0;
    for sub in ["new", "cur"] {
        count += std::fs::read_dir(maildir.join(sub))?.count();
    }
    Ok(count)
}

async fn sim_and_ingest(root: &Path, name: &str) -> anyhow::Result<(SimHandle, Arc<Ingest<ZendeskClient>>)> {
    let handle = sim::spawn(SimOptions::default())
        .await
        .context("start the simulator")?;
    let store = open_store(root, name)?;
    let ingest = Ingest::new(
        client(handle.base_url.clone(), None)?,
        Arc::new(store),
        IngestOptions::default(),
        Arc::new(SystemClock),
    );
    Ok((handle, Arc::new(ingest)))
}

/// A fresh store file under `root`.
pub(super) fn open_store(root: &Path, name: &str) -> anyhow::Result<Store> {
    let dir = root.join(format!("state-{name}"));
    std::fs::create_dir_all(&dir)?;
    Ok(Store::open(&dir.join("carteiro.db"))?)
}

fn ticket_count(handle: &SimHandle) -> usize {
    handle.sim.state_json()["tickets"].as_array().map_or(0, Vec::len)
}

pub async fn ingest_suite(n: usize, latency_samples: usize) -> anyhow::Result<Value> {
    let servers = start_servers()?;
    fill_maildir(&servers, "bench", n)?;

    // Dovecot indexes new Maildir files on the first SELECT; do that before
    // either run so that neither pays for it.
    let mut warm = ImapMailbox::new("warm", imap_config(&servers, "bench"));
    warm.open()
        .await
        .map_err(|e| anyhow::anyhow!("warm-up SELECT: {e}"))?;
    warm.close().await;
    let mbsync = mbsync_rate(&servers, "bench", n)?;

    // carteiro's IMAP fetch alone, to tell fetching from processing.
    let mut reader = ImapMailbox::new("fetch", imap_config(&servers, "bench"));
    reader.open().await.map_err(|e| anyhow::anyhow!("SELECT: {e}"))?;
    let started = Instant::now();
    let (mut fetched, mut after) = (0, 0);
    loop {
        let batch = reader
            .fetch_after(after, 500)
            .await
            .map_err(|e| anyhow::anyhow!("fetch: {e}"))?;
        let Some(last) = batch.last() else { break };
        after = last.uid;
        fetched += batch.len();
    }
    let fetch_rate = fetched as f64 / started.elapsed().as_secs_f64();
    reader.close().await;

    // carteiro over the same mailbox.
    let (handle, ingest) = sim_and_ingest(&servers.root, "rate").await?;
    let mut mailbox = ImapMailbox::new("bench", imap_config(&servers, "bench"));
    let options = PollOptions {
        batch_size: 500,
        ..PollOptions::default()
    };
    let started = Instant::now();
    drain_once(&mut mailbox, &ingest, &options, &CancellationToken::new())
        .await
        .map_err(|e| anyhow::anyhow!("ingest failed: {e}"))?;
    let elapsed = started.elapsed();
    let tickets = ticket_count(&handle);
    if tickets != n {
        bail!("ingest made {tickets} tickets from {n} mails");
    }
    let calls = ingest.helpdesk().total_requests();
    let rate = n as f64 / elapsed.as_secs_f64();
    drop(handle);

    let latency = latency(&servers, latency_samples).await?;

    Ok(json!({
        "mails": n,
        "mbsync_msgs_per_s": round(mbsync),
        "ingest_mails_per_s": round(rate),
        "imap_fetch_only_msgs_per_s": round(fetch_rate),
        "ingest_to_mbsync_ratio": round(rate / mbsync),
        "ingest_to_mbsync_target": 0.5,
        "zendesk_calls_per_mail": round(calls as f64 / n as f64),
        "zendesk_calls_per_mail_target": 1.05,
        "latency_samples": latency_samples,
        "latency_p50_ms": latency.0,
        "latency_p99_ms": latency.1,
        "latency_p50_target_ms": 1000,
        "latency_p99_target_ms": 2000,
        "storage": "tmpfs (/dev/shm) for Dovecot, mbsync's Maildir and the state store",
    }))
}

/// SMTP delivery → ticket created, with the daemon's IDLE loop running:
/// (p50, p99) in milliseconds over `samples` mails sent one at a time.
async fn latency(servers: &Servers, samples: usize) -> anyhow::Result<(f64, f64)> {
    let (handle, ingest) = sim_and_ingest(&servers.root, "latency").await?;
    let mailbox = ImapMailbox::new("latency", imap_config(servers, "latency"));
    let shutdown = CancellationToken::new();
    // Deliver one mail first so the mailbox exists, and wait for its ticket.
    send(servers, "latency", usize::MAX).await?;
    let task = tokio::spawn(run_mailbox(
        mailbox,
        ingest.clone(),
        PollOptions::default(),
        shutdown.clone(),
    ));
    wait_for_tickets(&handle, 1, Duration::from_secs(30)).await?;

    let mut millis = Vec::with_capacity(samples);
    for n in 0..samples {
        // Let the loop settle back into IDLE before the next mail.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        send(servers, "latency", n).await?;
        // The ticket exists once the store has recorded it: polling the
        // store is cheap, where dumping the simulator's state every
        // millisecond would compete with the loop being measured.
        let message_id = format!("bench-{n}@empresa.com.br");
        let deadline = Instant::now() + Duration::from_secs(30);
        while ingest.store().processed(&message_id)?.is_none() {
            if Instant::now() > deadline {
                bail!("mail {n} was not processed within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        millis.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    shutdown.cancel();
    let _ = task.await;
    if ticket_count(&handle) != samples + 1 {
        bail!("{} tickets for {} mails", ticket_count(&handle), samples + 1);
    }
    millis.sort_by(f64::total_cmp);
    let pick = |q: f64| millis[((millis.len() as f64 - 1.0) * q).round() as usize];
    Ok((round(pick(0.5)), round(pick(0.99))))
}

async fn send(servers: &Servers, user: &str, n: usize) -> anyhow::Result<()> {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor, address::Envelope};
    let to = format!("{user}@example.test");
    let raw = String::from_utf8_lossy(&bench_mail(n)).replace("suporte@example.test", &to);
    let envelope = Envelope::new(Some("cliente@empresa.com.br".parse()?), vec![to.parse()?])?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(servers.smtp_port)
        .build();
    transport.send_raw(&envelope, raw.as_bytes()).await?;
    Ok(())
}

async fn wait_for_tickets(handle: &SimHandle, n: usize, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while ticket_count(handle) < n {
        if Instant::now() > deadline {
            bail!("no ticket {n} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}
