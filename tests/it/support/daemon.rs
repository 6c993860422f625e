//! A running `carteiro run` (the real binary), for tests of behaviour that
//! is the daemon's: reading mailboxes, delivering the outbox, shutting down.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `carteiro run`, killed when dropped.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    pub log: PathBuf,
    pub config: PathBuf,
}

impl Daemon {
    /// Starts `carteiro run --config CONFIG` with a clean environment: the
    /// Zendesk token and the IMAP password of the test servers are set,
    /// and its log goes to CONFIG with the extension `.log` (appended, so a
    /// restarted daemon's log follows the first one's).
    pub fn start(config: &Path) -> Daemon {
        let log = config.with_extension("log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open the daemon log");
        let child = Command::new(env!("CARGO_BIN_EXE_carteiro"))
            .args(["run", "--config"])
            .arg(config)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CARTEIRO__ZENDESK__API_TOKEN", "test-token")
            .env("IMAP_TEST_PASSWORD", super::mail::PASSWORD)
            .env("RUST_LOG", "carteiro=debug,info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start carteiro run");
        Daemon {
            child,
            log,
            config: config.to_owned(),
        }
    }

    /// `kill -9`: no chance to finish anything.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "carteiro run did not stop on SIGTERM\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the daemon logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The configuration of an end-to-end test's daemon: the simulator, a
/// rules folder, the test Postfix for sending, and one IMAP mailbox of the
/// test Dovecot, with the short intervals a test wants. The file is
/// `DIR/carteiro.toml` and the state store `DIR/carteiro.db`; the secrets
/// come from the environment, as in production.
#[derive(Debug, Clone)]
pub struct E2eConfig<'a> {
    /// The simulator's base URL.
    pub zendesk: &'a str,
    pub dir: &'a Path,
    pub rules: &'a Path,
    /// The support mailbox: carteiro reads it and sends from its address.
    pub mailbox: &'a super::mail::TestMailbox,
    /// The `[[mailbox]]` name (default `suporte`).
    pub mailbox_name: &'a str,
    /// The sender's display name (default `Suporte`).
    pub from_name: &'a str,
    /// More of carteiro's own addresses, besides the mailbox's.
    pub also_own: &'a [&'a str],
    /// `[mail] internal_senders`.
    pub internal_senders: &'a [&'a str],
    /// `[log] level`, when set.
    pub log_level: Option<&'a str>,
}

impl<'a> E2eConfig<'a> {
    pub fn new(
        zendesk: &'a str,
        dir: &'a Path,
        rules: &'a Path,
        mailbox: &'a super::mail::TestMailbox,
    ) -> Self {
        E2eConfig {
            zendesk: zendesk.trim_end_matches('/'),
            dir,
            rules,
            mailbox,
            mailbox_name: "suporte",
            from_name: "Suporte",
            also_own: &[],
            internal_senders: &[],
            log_level: None,
        }
    }

    /// Writes `DIR/carteiro.toml` and returns its path, for `carteiro run
    /// --config`.
    pub fn write(&self, servers: &super::mail::MailServers) -> PathBuf {
        let quoted = |list: &[&str]| {
            list.iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let own: Vec<&str> = std::iter::once(self.mailbox.address.as_str())
            .chain(self.also_own.iter().copied())
            .collect();
        let log = self
            .log_level
            .map(|level| format!("[log]\nlevel = {level:?}\n"))
            .unwrap_or_default();
        let text = format!(
            r#"
{log}
[zendesk]
base_url = "{base}"
email = "{agent}"
request_timeout = "5s"
max_retries = 3
max_backoff = "500ms"

[state]
path = "{state}"

[rules]
dir = "{rules}"

[tickets]
poll_interval = "1s"
initial_lookback = "1h"

[mail]
own_addresses = [{own}]
internal_senders = [{internal}]
message_id_domain = "carteiro.example.test"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "plain"
timeout = "5s"
from_address = "{from}"
from_name = "{from_name}"

[outbox]
retry_initial = "200ms"
retry_max = "1s"
poll_interval = "200ms"

[[mailbox]]
name = "{mailbox}"
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
            base = self.zendesk,
            agent = super::AGENT,
            state = self.dir.join("carteiro.db").display(),
            rules = self.rules.display(),
            own = quoted(&own),
            internal = quoted(self.internal_senders),
            smtp_port = servers.smtp_port,
            from = self.mailbox.address,
            from_name = self.from_name,
            mailbox = self.mailbox_name,
            imap_port = servers.imap_port,
            user = self.mailbox.user,
        );
        let path = self.dir.join("carteiro.toml");
        std::fs::create_dir_all(self.dir).expect("create the test folder");
        std::fs::write(&path, text).expect("write the config");
        path
    }

    /// Writes the file and loads it as `carteiro run --config` would, with
    /// the Zendesk token and the IMAP password in the environment.
    pub fn load(&self, servers: &super::mail::MailServers) -> carteiro::config::Config {
        let path = self.write(servers);
        let env = std::collections::BTreeMap::from([
            ("CARTEIRO__ZENDESK__API_TOKEN".to_owned(), "test-token".to_owned()),
            ("IMAP_TEST_PASSWORD".to_owned(), super::mail::PASSWORD.to_owned()),
        ]);
        carteiro::config::load(&carteiro::config::LoadOptions {
            file: Some(path),
            default_file: None,
            env,
        })
        .unwrap_or_else(|e| panic!("the test config is invalid: {e:?}"))
        .config
    }
}

/// The daemon in-process, as `carteiro run` runs it
/// (`daemon::run_with_clock`), on a test clock, until stopped.
pub struct InProcess {
    token: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    pub fn start(
        config: carteiro::config::Config,
        clock: std::sync::Arc<dyn carteiro::clock::Clock>,
    ) -> InProcess {
        let token = tokio_util::sync::CancellationToken::new();
        let shutdown = token.clone();
        let task = tokio::spawn(async move {
            carteiro::daemon::run_with_clock(config, clock, async move { shutdown.cancelled().await }).await
        });
        InProcess { token, task }
    }

    /// Cancels it and waits (20 s at most) for a clean stop.
    pub async fn stop(self) {
        self.token.cancel();
        let result = tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the daemon stops within 20 s")
            .expect("the daemon task did not panic");
        result.expect("the daemon ran without an error");
    }
}
