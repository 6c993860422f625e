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
