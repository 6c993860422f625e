//! Real mail servers for integration tests: Dovecot (IMAP, IMAPS, LMTP, and
//! SASL for Postfix) and Postfix (SMTP relaying `@example.test` to Dovecot,
//! plus submission and SMTPS ports that require AUTH), started by
//! `scripts/mailservers.sh` in a per-process directory on free loopback ports.
//!
//! - [`servers`] starts one shared set per test process, on first use. Tests
//!   share it in parallel, so nothing may stop or restart it: outage tests
//!   start their own with [`MailServers::start_private`].
//! - Any user exists with password [`PASSWORD`]: [`MailServers::new_mailbox`]
//!   hands out a fresh one per test. A recipient made by
//!   [`MailServers::unknown_recipient`] (local part `nobody-…`) is rejected by
//!   Dovecot LMTP after SMTP accepted it, so Postfix sends a real DSN to the
//!   sender.
//! - When the servers cannot start (for example the Debian packages are
//!   missing and the tests do not run as root) every test using them panics
//!   with the script's message, which names what to install. Never a skip.
//!
//! Stray daemons: the script is given this process's pid (`MAIL_OWNER_PID`)
//! and leaves a detached watcher that stops the servers once the test process
//! has exited, however it exits. As a second net, each start stops the
//! servers of dead test processes still recorded under
//! `$TMPDIR/carteiro-mail-tests/` and removes their directories; the last
//! run's directories (with their logs) stay until then.

use std::fmt::Write as _;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::response::Response;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The mail domain the servers deliver; every test address ends in it.
pub const DOMAIN: &str = "example.test";

/// Every user's password.
pub const PASSWORD: &str = "pw";

/// Local parts starting with this do not exist (LMTP answers 550 5.1.1).
pub const UNKNOWN_PREFIX: &str = "nobody-";

/// An IMAP session over plain TCP.
pub type PlainSession = async_imap::Session<TcpStream>;

/// An IMAP session over TLS (IMAPS or after STARTTLS).
pub type TlsSession = async_imap::Session<TlsStream<TcpStream>>;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mailservers.sh");

/// How long one network step of the helpers may take before it panics.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running Dovecot and Postfix.
#[derive(Debug)]
pub struct MailServers {
    /// IMAP, plain text allowed, STARTTLS offered.
    pub imap_port: u16,
    /// IMAP over TLS with the certificate [`MailServers::cert_pem`].
    pub imaps_port: u16,
    /// Postfix SMTP: no auth, accepts `@example.test` recipients only.
    pub smtp_port: u16,
    /// Dovecot LMTP, where Postfix delivers.
    pub lmtp_port: u16,
    /// Postfix submission: STARTTLS required, then AUTH PLAIN or LOGIN as
    /// any user with [`PASSWORD`] required to send.
    pub submission_port: u16,
    /// Postfix SMTPS: TLS from the first byte, then AUTH required.
    pub smtps_port: u16,
    /// `MAIL_ROOT`: configuration, logs and `vmail/USER/Maildir`.
    pub root: PathBuf,
    /// The self-signed certificate of IMAPS and STARTTLS (CN and SAN
    /// `localhost`, SAN IP `127.0.0.1`), to be trusted explicitly.
    pub cert_pem: PathBuf,
    /// Started by [`MailServers::start_private`]: stopped on drop, and may be
    /// stopped or restarted by its test.
    private: bool,
}

/// One fresh user: log in as `user` (or `address`) with `password`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestMailbox {
    pub user: String,
    pub address: String,
    pub password: String,
}

/// The servers shared by every test of this process, started on first use.
///
/// Panics, with the script's output, when they cannot start.
pub fn servers() -> &'static MailServers {
    static SERVERS: OnceLock<Result<MailServers, String>> = OnceLock::new();
    match SERVERS.get_or_init(|| launch(false)) {
        Ok(servers) => servers,
        Err(message) => panic!("{message}"),
    }
}

impl MailServers {
    /// A set of servers for one test alone, on its own ports and directory:
    /// for tests that stop or restart a server. Stopped when dropped.
    pub fn start_private() -> MailServers {
        launch(true).unwrap_or_else(|message| panic!("{message}"))
    }

    /// A fresh user, `{prefix}-{counter}-{pid}` (lower case), whose INBOX is
    /// empty until something is delivered to it.
    pub fn new_mailbox(&self, prefix: &str) -> TestMailbox {
        let user = unique_local_part(prefix);
        assert!(
            !user.starts_with(UNKNOWN_PREFIX),
            "a mailbox prefix must not start with {UNKNOWN_PREFIX:?}: such users do not exist"
        );
        TestMailbox {
            address: format!("{user}@{DOMAIN}"),
            user,
            password: PASSWORD.to_owned(),
        }
    }

    /// An address that does not exist: SMTP accepts a mail to it, Dovecot
    /// LMTP then rejects it with 550 5.1.1, and Postfix sends a DSN to the
    /// sender.
    pub fn unknown_recipient(&self, prefix: &str) -> String {
        format!("{UNKNOWN_PREFIX}{}@{DOMAIN}", unique_local_part(prefix))
    }

    /// The Maildir holding `user`'s INBOX.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.root
            .join("vmail")
            .join(user.split('@').next().unwrap_or(user).to_lowercase())
            .join("Maildir")
    }

    /// Submits `raw` to Postfix with this envelope; panics when refused.
    /// Plain SMTP on loopback. The mail arrives as `raw` plus the trace
    /// headers Postfix and Dovecot prepend (stored with LF line ends).
    pub async fn send(&self, raw: &[u8], from: &str, to: &[&str]) {
        if let Err(error) = self.try_send(raw, from, to).await {
            panic!(
                "SMTP to 127.0.0.1:{} (from {from}, to {to:?}) failed: {error}\n{}",
                self.smtp_port,
                self.log_tails()
            );
        }
    }

    /// Submits `raw` to Postfix, returning Postfix's answer or its refusal.
    pub async fn try_send(
        &self,
        raw: &[u8],
        from: &str,
        to: &[&str],
    ) -> Result<Response, lettre::transport::smtp::Error> {
        let from = from
            .parse()
            .unwrap_or_else(|e| panic!("sender {from:?} is not an address: {e}"));
        let to = to
            .iter()
            .map(|a| {
                a.parse()
                    .unwrap_or_else(|e| panic!("recipient {a:?} is not an address: {e}"))
            })
            .collect();
        let envelope = Envelope::new(Some(from), to).expect("an envelope with recipients");
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(self.smtp_port)
            .timeout(Some(STEP_TIMEOUT))
            .build();
        // lettre ends the data with CRLF "." CRLF itself: without this, a
        // mail ending in CRLF would arrive with an extra empty line.
        let data = raw.strip_suffix(b"\r\n").unwrap_or(raw);
        transport.send_raw(&envelope, data).await
    }

    /// Waits, checking the Maildir every 50 ms, until `user`'s INBOX holds at
    /// least `n` messages; returns all of them, raw, in delivery order.
    /// Panics on timeout with what was found and the servers' log tails.
    pub async fn wait_for_messages(&self, user: &str, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let maildir = self.maildir(user);
        let deadline = Instant::now() + timeout;
        loop {
            let messages = read_inbox(&maildir);
            if messages.len() >= n {
                return messages;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {n} message(s) in {user}'s INBOX \
                     ({}): found {}\n{}",
                    maildir.display(),
                    messages.len(),
                    self.log_tails()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Gives `user` a real auto-responder: a Sieve `vacation` script in its
    /// home, run by Dovecot's LMTP (Pigeonhole) at each delivery. It
    /// answers a person's mail once per sender (no minimum period is
    /// configured, so once per mail) with `subject`, through Postfix, and,
    /// as RFC 5230 asks, never answers mail with `Auto-Submitted` or from
    /// a list or a robot.
    pub fn set_vacation(&self, user: &str, subject: &str, text: &str) {
        let vmail = self.root.join("vmail");
        let home = vmail.join(user.to_lowercase());
        std::fs::create_dir_all(&home).expect("create the user's home");
        let script = home.join(".dovecot.sieve");
        std::fs::write(
            &script,
            format!("require [\"vacation\"];\nvacation :subject \"{subject}\" \"{text}\";\n"),
        )
        .expect("write the sieve script");
        // Dovecot delivers as the owner of vmail (the `mail` user) and
        // compiles the script next to it.
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&vmail).expect("vmail"));
        let group = std::os::unix::fs::MetadataExt::gid(&std::fs::metadata(&vmail).expect("vmail"));
        for path in [&home, &script] {
            std::os::unix::fs::chown(path, Some(owner), Some(group)).expect("chown to the mail user");
        }
    }

    /// Dovecot's log so far (LMTP and Sieve decisions included).
    pub fn dovecot_log(&self) -> String {
        std::fs::read_to_string(self.root.join("dovecot.log")).unwrap_or_default()
    }

    /// Stops Dovecot and starts it again (mail on disk is kept). IMAP
    /// sessions are cut. Blocks for about a second: from a current-thread
    /// runtime whose other tasks must run meanwhile, call it through
    /// `tokio::task::spawn_blocking`.
    pub fn restart_dovecot(&self) {
        self.disrupt("restart-dovecot");
    }

    /// Stops Dovecot (IMAP, IMAPS and LMTP go away; Postfix queues).
    pub fn stop_dovecot(&self) {
        self.disrupt("stop-dovecot");
    }

    /// Starts Dovecot again after [`MailServers::stop_dovecot`].
    pub fn start_dovecot(&self) {
        self.disrupt("start-dovecot");
    }

    /// Stops Postfix (SMTP refuses connections; its queue is kept).
    pub fn stop_smtp(&self) {
        self.disrupt("stop-smtp");
    }

    /// Starts Postfix again after [`MailServers::stop_smtp`].
    pub fn start_smtp(&self) {
        self.disrupt("start-smtp");
    }

    /// Whether every port answers (`scripts/mailservers.sh status`).
    pub fn is_up(&self) -> bool {
        script(&self.root, "status", &[]).status.success()
    }

    /// A rustls client configuration that trusts [`MailServers::cert_pem`]
    /// and nothing else.
    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&self.cert_pem)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.cert_pem.display()))
        {
            roots
                .add(cert.expect("a PEM certificate"))
                .expect("a certificate rustls accepts as a trust anchor");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// Logs in over plain IMAP.
    pub async fn imap_plain(&self, mailbox: &TestMailbox) -> PlainSession {
        let tcp = self.connect(self.imap_port).await;
        login(tcp, mailbox, self.imap_port).await
    }

    /// Logs in over IMAPS, trusting only [`MailServers::cert_pem`].
    pub async fn imap_tls(&self, mailbox: &TestMailbox) -> TlsSession {
        let tcp = self.connect(self.imaps_port).await;
        let tls = self.tls_handshake(tcp, self.imaps_port).await;
        login(tls, mailbox, self.imaps_port).await
    }

    /// Logs in on the plain IMAP port after STARTTLS, trusting only
    /// [`MailServers::cert_pem`].
    pub async fn imap_starttls(&self, mailbox: &TestMailbox) -> TlsSession {
        let port = self.imap_port;
        let mut tcp = self.connect(port).await;
        let greeting = read_line(&mut tcp).await;
        assert!(
            greeting.starts_with("* OK") && greeting.contains("STARTTLS"),
            "IMAP greeting on port {port} does not offer STARTTLS: {greeting:?}"
        );
        tcp.write_all(b"s1 STARTTLS\r\n").await.expect("send STARTTLS");
        loop {
            let line = read_line(&mut tcp).await;
            if line.starts_with("s1 ") {
                assert!(line.starts_with("s1 OK"), "STARTTLS refused: {line:?}");
                break;
            }
        }
        let tls = self.tls_handshake(tcp, port).await;
        // After STARTTLS there is no new greeting.
        let session = async_imap::Client::new(tls)
            .login(&mailbox.user, &mailbox.password)
            .await;
        match session {
            Ok(session) => session,
            Err((error, _)) => panic!("IMAP login as {} after STARTTLS failed: {error}", mailbox.user),
        }
    }

    async fn connect(&self, port: u16) -> TcpStream {
        match tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(("127.0.0.1", port))).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(error)) => panic!("connect to 127.0.0.1:{port}: {error}\n{}", self.log_tails()),
            Err(_) => panic!("connect to 127.0.0.1:{port} timed out\n{}", self.log_tails()),
        }
    }

    async fn tls_handshake(&self, tcp: TcpStream, port: u16) -> TlsStream<TcpStream> {
        let name = ServerName::try_from("localhost").expect("a server name");
        let handshake = TlsConnector::from(self.tls_config()).connect(name, tcp);
        match tokio::time::timeout(STEP_TIMEOUT, handshake).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => panic!("TLS handshake with 127.0.0.1:{port}: {error}"),
            Err(_) => panic!("TLS handshake with 127.0.0.1:{port} timed out"),
        }
    }

    /// The last lines of Postfix's and Dovecot's logs, for failure messages.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        for name in ["postfix.log", "dovecot.log", "daemons.out"] {
            let path = self.root.join(name);
            let Ok(bytes) = std::fs::read(&path) else { continue };
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            let _ = writeln!(out, "----- {} (last {} lines)", path.display(), tail.len());
            for line in tail {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    fn disrupt(&self, command: &str) {
        assert!(
            self.private,
            "`{command}` on the shared mail servers would break the tests running beside this one; \
             use MailServers::start_private() for outage tests"
        );
        let output = script(&self.root, command, &[]);
        if !output.status.success() {
            panic!(
                "scripts/mailservers.sh {command} failed ({}):\n{}",
                output.status,
                combined(&output)
            );
        }
    }
}

impl Drop for MailServers {
    fn drop(&mut self) {
        if !self.private {
            return;
        }
        let output = script(&self.root, "stop", &[]);
        // Keep the logs of a failed test for a look; the next start of a
        // test process removes them.
        if output.status.success() && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Logs in on a fresh connection, reading the greeting first.
async fn login<T>(stream: T, mailbox: &TestMailbox, port: u16) -> async_imap::Session<T>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut client = async_imap::Client::new(stream);
    let greeting = tokio::time::timeout(STEP_TIMEOUT, client.read_response())
        .await
        .unwrap_or_else(|_| panic!("no IMAP greeting on port {port} within {STEP_TIMEOUT:?}"));
    assert!(
        matches!(greeting, Ok(Some(_))),
        "no IMAP greeting on port {port}: {greeting:?}"
    );
    match tokio::time::timeout(STEP_TIMEOUT, client.login(&mailbox.user, &mailbox.password)).await {
        Ok(Ok(session)) => session,
        Ok(Err((error, _))) => panic!("IMAP login as {} on port {port} failed: {error}", mailbox.user),
        Err(_) => panic!("IMAP login as {} on port {port} timed out", mailbox.user),
    }
}

/// One CRLF-terminated line, read byte by byte so nothing after it is
/// consumed (the TLS handshake follows STARTTLS's answer).
async fn read_line(tcp: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let read = async {
        loop {
            let byte = tcp.read_u8().await.expect("read an IMAP line");
            line.push(byte);
            if line.ends_with(b"\r\n") {
                break;
            }
        }
    };
    tokio::time::timeout(STEP_TIMEOUT, read)
        .await
        .expect("an IMAP line within the timeout");
    String::from_utf8_lossy(&line).into_owned()
}

fn unique_local_part(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(1);
    assert!(
        !prefix.is_empty()
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'),
        "a mailbox prefix is ASCII letters, digits, '-', '_' or '.': {prefix:?}"
    );
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{n}-{}", std::process::id()).to_lowercase()
}

/// The messages in a Maildir INBOX (`new/` and `cur/`), in delivery order:
/// by the time and microseconds that start Dovecot's file names.
fn read_inbox(maildir: &Path) -> Vec<Vec<u8>> {
    // A message can move from new/ to cur/ between listing and reading (an
    // IMAP client looked): then list again.
    'scan: for _ in 0..20 {
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            let dir = maildir.join(sub);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => panic!("list {}: {e}", dir.display()),
            };
            for entry in entries {
                let entry = entry.unwrap_or_else(|e| panic!("list {}: {e}", dir.display()));
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.starts_with('.') {
                    files.push((delivery_key(&name), entry.path()));
                }
            }
        }
        files.sort();
        let mut messages = Vec::with_capacity(files.len());
        for (_, path) in files {
            match std::fs::read(&path) {
                Ok(bytes) => messages.push(bytes),
                Err(e) if e.kind() == ErrorKind::NotFound => continue 'scan,
                Err(e) => panic!("read {}: {e}", path.display()),
            }
        }
        return messages;
    }
    panic!("{} keeps changing under the reader", maildir.display());
}

/// `1795421998.M669838P11186.host,S=…:2,S` → (1795421998, 669838, name).
fn delivery_key(name: &str) -> (u64, u64, String) {
    let mut parts = name.splitn(3, '.');
    let seconds = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let micros = parts
        .next()
        .and_then(|p| p.strip_prefix('M'))
        .map(|p| p.chars().take_while(char::is_ascii_digit).collect::<String>())
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    (seconds, micros, name.to_owned())
}

/// Where the per-process server directories live.
fn roots_dir() -> PathBuf {
    std::env::temp_dir().join("carteiro-mail-tests")
}

/// Starts a set of servers in a new directory on free ports.
fn launch(private: bool) -> Result<MailServers, String> {
    static PRIVATE_COUNTER: AtomicU32 = AtomicU32::new(1);
    let base = roots_dir();
    std::fs::create_dir_all(&base).map_err(|e| format!("create {}: {e}", base.display()))?;
    clean_dead_roots(&base);
    let pid = std::process::id();
    let root = if private {
        base.join(format!(
            "{pid}-{}",
            PRIVATE_COUNTER.fetch_add(1, Ordering::Relaxed)
        ))
    } else {
        base.join(pid.to_string())
    };

    let mut last_failure = String::new();
    // Free ports are probed, then released for the servers; another
    // process can take one meanwhile, so a clash gets new ports.
    for _attempt in 0..3 {
        let ports = free_ports::<7>()?;
        let [imap, imaps, smtp, lmtp, submission, smtps, auth] = ports.map(|p| p.to_string());
        let owner = pid.to_string();
        let env = [
            ("MAIL_IMAP_PORT", imap.as_str()),
            ("MAIL_IMAPS_PORT", imaps.as_str()),
            ("MAIL_SMTP_PORT", smtp.as_str()),
            ("MAIL_LMTP_PORT", lmtp.as_str()),
            ("MAIL_SUBMISSION_PORT", submission.as_str()),
            ("MAIL_SMTPS_PORT", smtps.as_str()),
            ("MAIL_AUTH_PORT", auth.as_str()),
            ("MAIL_OWNER_PID", owner.as_str()),
        ];
        let output = script(&root, "start", &env);
        if output.status.success() {
            return Ok(MailServers {
                imap_port: ports[0],
                imaps_port: ports[1],
                smtp_port: ports[2],
                lmtp_port: ports[3],
                submission_port: ports[4],
                smtps_port: ports[5],
                cert_pem: root.join("cert.pem"),
                root,
                private,
            });
        }
        let text = combined(&output);
        last_failure = format!(
            "the real mail servers (Dovecot and Postfix) did not start: `MAIL_ROOT={} \
             scripts/mailservers.sh start` failed ({}). These tests need them and do not skip.\n{text}",
            root.display(),
            output.status
        );
        if !(text.contains("already in use") || text.contains("Address already in use")) {
            break;
        }
    }
    Err(last_failure)
}

/// `N` distinct loopback ports that were free a moment ago.
fn free_ports<const N: usize>() -> Result<[u16; N], String> {
    let listeners = (0..N)
        .map(|_| TcpListener::bind(("127.0.0.1", 0)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("find a free loopback port: {e}"))?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener
            .local_addr()
            .map_err(|e| format!("find a free loopback port: {e}"))?
            .port();
    }
    Ok(ports)
}

/// Stops the servers of test processes that are gone and removes their
/// directories (named `PID` or `PID-N`).
fn clean_dead_roots(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(Ok(pid)) = name.split('-').next().map(str::parse::<u32>) else {
            continue;
        };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        let root = entry.path();
        if script(&root, "stop", &[]).status.success() {
            let _ = std::fs::remove_dir_all(&root);
        }
    }
}

/// Whether `pid` is a live process (a zombie counts as dead).
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
    state != Some('Z')
}

/// Runs `scripts/mailservers.sh COMMAND` for `root`, with no stdin.
fn script(root: &Path, command: &str, env: &[(&str, &str)]) -> Output {
    Command::new("bash")
        .arg(SCRIPT)
        .arg(command)
        .env("MAIL_ROOT", root)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {SCRIPT}: {e}"))
}

fn combined(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The first value of header `name` in `raw`'s header block, unfolded;
/// `None` when absent.
pub fn raw_header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let head = text.split("\n\n").next().unwrap_or_default();
    let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
    let prefix = format!("{}:", name.to_ascii_lowercase());
    unfolded
        .lines()
        .find(|line| line.to_ascii_lowercase().starts_with(&prefix))
        .map(|line| line[prefix.len()..].trim().to_owned())
}
