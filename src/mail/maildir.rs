//! A Maildir as a [`Mailbox`]: for local delivery (a mail server writing
//! into a folder on the same machine) and for `carteiro demo`.
//!
//! A Maildir has no UIDs, so [`Mailbox::open`] answers `None` and every
//! fetch yields each mail not yet processed: everything in `new/`, and the
//! mails in `cur/` that the configured after-processing action has not
//! taken care of. Marking moves a mail from `new/` to `cur/` with the `S`
//! (seen) flag, or into a Maildir++ sub-folder, or leaves it (then the
//! state store's Message-ID record is what keeps it from being imported
//! twice).

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::mailbox::{Fetched, Mailbox, MailboxError};
use crate::config::AfterProcessing;

/// A Maildir folder.
#[derive(Debug)]
pub struct Maildir {
    name: String,
    root: PathBuf,
    after: AfterProcessing,
    poll_interval: Duration,
    /// The files behind the UIDs handed out by the last fetch.
    positions: HashMap<u32, PathBuf>,
    /// With `Leave`, the files processed in this run, so that a fetch moves
    /// on past them (after a restart the store's records skip them).
    left: HashSet<PathBuf>,
}

impl Maildir {
    /// A Maildir rooted at `root` (the folder holding `new/`, `cur/`, `tmp/`).
    pub fn new(
        name: impl Into<String>,
        root: impl Into<PathBuf>,
        after: AfterProcessing,
        poll_interval: Duration,
    ) -> Maildir {
        Maildir {
            name: name.into(),
            root: root.into(),
            after,
            poll_interval,
            positions: HashMap::new(),
            left: HashSet::new(),
        }
    }

    fn error(&self, operation: &'static str, path: &Path, err: io::Error) -> MailboxError {
        MailboxError::Protocol {
            mailbox: self.name.clone(),
            operation,
            message: format!("{}: {err}", path.display()),
        }
    }

    /// The mails still to process, oldest first (Maildir names start with
    /// the delivery time).
    fn pending(&self) -> Result<Vec<PathBuf>, MailboxError> {
        let mut files = Vec::new();
        for (sub, from_cur) in [("new", false), ("cur", true)] {
            let dir = self.root.join(sub);
            let entries = std::fs::read_dir(&dir).map_err(|err| self.error("list", &dir, err))?;
            for entry in entries {
                let entry = entry.map_err(|err| self.error("list", &dir, err))?;
                let path = entry.path();
                if !path.is_file() {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                if from_cur && self.after == AfterProcessing::Seen && flags(&name).contains('S') {
                    continue;
                }
                if self.left.contains(&path) {
                    continue;
                }
                files.push((name, path));
            }
        }
        files.sort();
        Ok(files.into_iter().map(|(_, path)| path).collect())
    }

    fn mark(&self, path: &Path) -> Result<(), MailboxError> {
        let Some(file_name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return Ok(());
        };
        let target_dir = match &self.after {
            AfterProcessing::Leave => return Ok(()),
            AfterProcessing::Seen => self.root.join("cur"),
            AfterProcessing::Move(folder) => {
                let sub = self.root.join(format!(".{folder}"));
                for part in ["cur", "new", "tmp"] {
                    let dir = sub.join(part);
                    std::fs::create_dir_all(&dir).map_err(|err| self.error("move", &dir, err))?;
                }
                sub.join("cur")
            }
        };
        let target = target_dir.join(with_flag(&file_name, 'S'));
        std::fs::rename(path, &target).map_err(|err| self.error("mark", path, err))
    }
}

/// The flags of a Maildir file name (`base:2,FLAGS`).
fn flags(name: &str) -> &str {
    name.rsplit_once(":2,").map(|(_, flags)| flags).unwrap_or("")
}

/// The file name with `flag` added, flags kept sorted as Maildir requires.
fn with_flag(name: &str, flag: char) -> String {
    let (base, flags) = name.rsplit_once(":2,").unwrap_or((name, ""));
    let mut all: Vec<char> = flags.chars().filter(|c| *c != flag).collect();
    all.push(flag);
    all.sort_unstable();
    format!("{base}:2,{}", all.into_iter().collect::<String>())
}

impl Mailbox for Maildir {
    fn name(&self) -> &str {
        &self.name
    }

    async fn open(&mut self) -> Result<Option<u32>, MailboxError> {
        for sub in ["new", "cur", "tmp"] {
            let dir = self.root.join(sub);
            if !dir.is_dir() {
                return Err(MailboxError::Connection {
                    mailbox: self.name.clone(),
                    message: format!(
                        "{} is not a Maildir: {} is missing",
                        self.root.display(),
                        dir.display()
                    ),
                });
            }
        }
        Ok(None)
    }

    async fn fetch_after(&mut self, _after: u32, limit: usize) -> Result<Vec<Fetched>, MailboxError> {
        self.positions.clear();
        let mut out = Vec::new();
        for (index, path) in self.pending()?.into_iter().take(limit).enumerate() {
            let raw = match std::fs::read(&path) {
                Ok(raw) => raw,
                // Moved away by another reader since the listing.
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(self.error("read", &path, err)),
            };
            let uid = index as u32 + 1;
            self.positions.insert(uid, path);
            out.push(Fetched { uid, raw });
        }
        Ok(out)
    }

    async fn wait_for_news(&mut self) -> Result<(), MailboxError> {
        tokio::time::sleep(self.poll_interval).await;
        Ok(())
    }

    async fn mark_processed(&mut self, uids: &[u32]) -> Result<(), MailboxError> {
        for uid in uids {
            if let Some(path) = self.positions.remove(uid) {
                self.mark(&path)?;
                if self.after == AfterProcessing::Leave {
                    self.left.insert(path);
                }
            }
        }
        Ok(())
    }

    async fn close(&mut self) {
        self.positions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maildir(after: AfterProcessing) -> (Maildir, PathBuf) {
        let root = std::env::temp_dir().join(format!(
            "carteiro-maildir-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(root.join(sub)).expect("create maildir");
        }
        (
            Maildir::new("local", &root, after, Duration::from_millis(10)),
            root,
        )
    }

    #[test]
    fn flags_are_added_sorted_and_once() {
        assert_eq!(with_flag("1700.M1.host", 'S'), "1700.M1.host:2,S");
        assert_eq!(with_flag("1700.M1.host:2,RF", 'S'), "1700.M1.host:2,FRS");
        assert_eq!(with_flag("1700.M1.host:2,S", 'S'), "1700.M1.host:2,S");
    }

    #[tokio::test]
    async fn seen_moves_processed_mail_out_of_the_way() {
        let (mut dir, root) = maildir(AfterProcessing::Seen);
        std::fs::write(root.join("new/1000.a.host"), b"Subject: um\r\n\r\num").expect("write");
        std::fs::write(root.join("new/2000.b.host"), b"Subject: dois\r\n\r\ndois").expect("write");
        assert_eq!(dir.open().await.expect("open"), None);
        let first = dir.fetch_after(0, 10).await.expect("fetch");
        let raws: Vec<&[u8]> = first.iter().map(|f| f.raw.as_slice()).collect();
        assert_eq!(
            raws,
            vec![&b"Subject: um\r\n\r\num"[..], &b"Subject: dois\r\n\r\ndois"[..]]
        );
        dir.mark_processed(&[first[0].uid]).await.expect("mark");
        let again = dir.fetch_after(0, 10).await.expect("fetch again");
        assert_eq!(again.len(), 1, "only the unprocessed mail is left");
        assert_eq!(again[0].raw, b"Subject: dois\r\n\r\ndois");
        assert!(root.join("cur/1000.a.host:2,S").is_file());
        let _ = std::fs::remove_dir_all(root);
    }

    #[tokio::test]
    async fn move_files_into_a_maildir_plus_plus_folder() {
        let (mut dir, root) = maildir(AfterProcessing::Move("Processados".to_owned()));
        std::fs::write(root.join("new/1000.a.host"), b"Subject: um\r\n\r\num").expect("write");
        dir.open().await.expect("open");
        let fetched = dir.fetch_after(0, 10).await.expect("fetch");
        dir.mark_processed(&[fetched[0].uid]).await.expect("mark");
        assert!(root.join(".Processados/cur/1000.a.host:2,S").is_file());
        assert!(dir.fetch_after(0, 10).await.expect("fetch").is_empty());
        let _ = std::fs::remove_dir_all(root);
    }

    #[tokio::test]
    async fn a_folder_that_is_not_a_maildir_is_a_clear_error() {
        let mut dir = Maildir::new(
            "x",
            "/nonexistent/carteiro",
            AfterProcessing::Leave,
            Duration::from_secs(1),
        );
        let err = dir.open().await.expect_err("not a maildir");
        assert_eq!(
            err.to_string(),
            "mailbox x: /nonexistent/carteiro is not a Maildir: /nonexistent/carteiro/new is missing"
        );
    }
}
