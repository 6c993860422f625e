//! Hot reload: the rules the daemon runs, swapped whole when the folder
//! changes.
//!
//! A change to any file under the rules folder (a rule file, a template,
//! an attachment) or a SIGHUP triggers a full load: parse, check, template
//! compile. Only a set that passes every check replaces the running one,
//! in one swap of an `Arc`, so an event is always planned by one
//! consistent set. An invalid edit is logged with each problem's location
//! and counted, and the last good rules keep running.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::load::{RuleProblem, RuleSet, load_dir};
use crate::calendar::Calendars;

/// How long the watcher waits for a burst of file events (an editor's
/// save is often several) to settle before it reloads.
pub const SETTLE: Duration = Duration::from_millis(300);

/// The running rules, and how reloads went.
#[derive(Debug)]
pub struct RulesHandle {
    current: RwLock<Arc<RuleSet>>,
    dir: Option<PathBuf>,
    calendars: Calendars,
    reloads: AtomicU64,
    rejected: AtomicU64,
}

impl RulesHandle {
    /// Loads `dir` for the first time. A daemon does not start on broken
    /// rules: there are no last good ones yet.
    pub fn load(dir: &Path, calendars: Calendars) -> Result<RulesHandle, Vec<RuleProblem>> {
        let set = load_dir(dir, &calendars)?;
        tracing::info!(
            rules = set.rules.len(),
            rules_hash = %set.hash,
            dir = %dir.display(),
            "rules loaded"
        );
        Ok(RulesHandle {
            current: RwLock::new(Arc::new(set)),
            dir: Some(dir.to_path_buf()),
            calendars,
            reloads: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        })
    }

    /// No rules at all (no `rules.dir` configured).
    pub fn empty(calendars: Calendars) -> RulesHandle {
        RulesHandle {
            current: RwLock::new(Arc::new(RuleSet::empty())),
            dir: None,
            calendars,
            reloads: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    /// The rules to plan with now.
    pub fn current(&self) -> Arc<RuleSet> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn calendars(&self) -> &Calendars {
        &self.calendars
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Reloads the folder. On success the new set replaces the old one and
    /// its hash is returned; on failure every problem is logged, the
    /// rejection counted, and the running set stays.
    pub fn reload(&self) -> Result<String, Vec<RuleProblem>> {
        let Some(dir) = &self.dir else {
            return Ok(self.current().hash.clone());
        };
        match load_dir(dir, &self.calendars) {
            Ok(set) => {
                let hash = set.hash.clone();
                let previous = {
                    let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
                    std::mem::replace(&mut *current, Arc::new(set))
                };
                self.reloads.fetch_add(1, Ordering::Relaxed);
                if previous.hash != hash {
                    tracing::info!(rules_hash = %hash, previous = %previous.hash, "rules reloaded");
                }
                Ok(hash)
            }
            Err(problems) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                let running = self.current().hash.clone();
                for problem in &problems {
                    tracing::error!(%problem, "rules not reloaded");
                }
                tracing::error!(
                    problems = problems.len(),
                    rules_hash = %running,
                    "the edited rules have problems; the last good rules keep running"
                );
                Err(problems)
            }
        }
    }

    /// Reloads that succeeded, and edits rejected, since start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.reloads.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
        )
    }
}

/// Watches the rules folder and SIGHUP, reloading `handle` on each, until
/// `token` is cancelled.
pub async fn watch(handle: Arc<RulesHandle>, token: CancellationToken) {
    let Some(dir) = handle.dir().map(Path::to_path_buf) else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let watcher = {
        use notify::Watcher as _;
        let tx = tx.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event
                && !event.kind.is_access()
            {
                let _ = tx.send(());
            }
        });
        match watcher {
            Ok(mut watcher) => match watcher.watch(&dir, notify::RecursiveMode::Recursive) {
                Ok(()) => Some(watcher),
                Err(e) => {
                    tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the rules folder; reload with SIGHUP");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "no file watcher; reload the rules with SIGHUP");
                None
            }
        }
    };
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let sighup = async {
            match hangup.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let sighup = std::future::pending::<Option<()>>();
        tokio::select! {
            () = token.cancelled() => break,
            Some(()) = rx.recv() => {
                // Let a burst of events settle, then reload once.
                tokio::time::sleep(SETTLE).await;
                while rx.try_recv().is_ok() {}
                let _ = handle.reload();
            }
            Some(()) = sighup => {
                tracing::info!("SIGHUP: reloading the rules");
                let _ = handle.reload();
            }
        }
    }
    drop(watcher);
}
