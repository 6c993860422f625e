//! Local delivery: a [`MailSender`] that writes each mail into one Maildir
//! per recipient under a folder (`FOLDER/ADDRESS/{tmp,new,cur}`), for a
//! mail system on the same machine that reads those folders, and for
//! `carteiro demo`, whose mail goes nowhere on the network.
//!
//! Delivery follows the Maildir protocol: the mail is written and synced
//! under `tmp/`, then renamed into `new/`, so a reader never sees half a
//! mail. [`Delivered`] comes back only when every recipient's copy is in
//! `new/`.
//!
//! The file name carries a hash of the mail's bytes, so a retry after a
//! partial failure (the second recipient's disk was full) does not give
//! the first recipient a second copy: a copy already in `new/` or `cur/`
//! counts as delivered. An address that cannot name a folder (a `/`, a
//! leading dot) is a permanent failure at that recipient, so the outbox
//! marks it bouncing as an SMTP `550` would; any I/O error is temporary.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use super::{Delivered, Envelope, MailSender, SendError, Stage};

/// Delivers into `root/ADDRESS/` Maildirs, creating them as needed.
#[derive(Debug, Clone)]
pub struct MaildirSender {
    root: PathBuf,
}

impl MaildirSender {
    /// A sender writing under `root` (created at the first delivery).
    pub fn new(root: impl Into<PathBuf>) -> MaildirSender {
        MaildirSender { root: root.into() }
    }

    /// The folder the Maildirs live in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The Maildir of `address`, or why that address cannot have one.
    pub fn maildir_of(&self, address: &str) -> Result<PathBuf, String> {
        let folder = address.trim().to_lowercase();
        let fine = !folder.is_empty()
            && !folder.starts_with('.')
            && folder.contains('@')
            && !folder
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control() || c.is_whitespace());
        if fine {
            Ok(self.root.join(folder))
        } else {
            Err(format!(
                "{address:?} cannot name a local Maildir (expected an address such as maria@cliente.com.br)"
            ))
        }
    }
}

/// Writes `raw` into `maildir` (tmp/, synced, renamed into new/) unless the
/// copy `key` is already there; returns the file.
fn deliver_one(maildir: &Path, key: &str, raw: &[u8]) -> io::Result<PathBuf> {
    for sub in ["tmp", "new", "cur"] {
        fs::create_dir_all(maildir.join(sub))?;
    }
    if let Some(existing) = already_delivered(maildir, key)? {
        return Ok(existing);
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let name = format!(
        "{}.M{}P{}.{key}.carteiro",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id()
    );
    let tmp = maildir.join("tmp").join(&name);
    let result = (|| {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(raw)?;
        file.sync_all()?;
        let target = maildir.join("new").join(&name);
        fs::rename(&tmp, &target)?;
        // The rename is durable once the folder is synced.
        fs::File::open(maildir.join("new"))?.sync_all()?;
        Ok(target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The copy of the mail `key` already in `new/` or `cur/` (a reader moves
/// it to `cur/` and may add flags after the name).
fn already_delivered(maildir: &Path, key: &str) -> io::Result<Option<PathBuf>> {
    let marker = format!(".{key}.carteiro");
    for sub in ["new", "cur"] {
        for entry in fs::read_dir(maildir.join(sub))? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().contains(&marker) {
                return Ok(Some(entry.path()));
            }
        }
    }
    Ok(None)
}

impl MailSender for MaildirSender {
    async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<Delivered, SendError> {
        if envelope.to.is_empty() {
            return Err(SendError::Permanent {
                stage: Stage::Data,
                code: None,
                message: "the mail has no recipients".to_owned(),
            });
        }
        let digest = Sha256::digest(raw);
        let key: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let mut folders = Vec::with_capacity(envelope.to.len());
        for to in &envelope.to {
            let maildir = self.maildir_of(to).map_err(|message| SendError::Permanent {
                stage: Stage::Recipient(to.clone()),
                code: None,
                message,
            })?;
            folders.push(maildir);
        }
        for maildir in &folders {
            let (dir, key, raw) = (maildir.clone(), key.clone(), raw.to_vec());
            let written = tokio::task::spawn_blocking(move || deliver_one(&dir, &key, &raw))
                .await
                .map_err(|e| io::Error::other(e.to_string()))
                .and_then(|r| r);
            if let Err(e) = written {
                return Err(SendError::Temporary {
                    stage: Stage::Data,
                    code: None,
                    message: format!("cannot write into the Maildir {}: {e}", maildir.display()),
                });
            }
        }
        Ok(Delivered {
            code: 250,
            response: format!(
                "250 delivered into {} local Maildir(s) under {}",
                folders.len(),
                self.root.display()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        std::env::temp_dir().join(format!(
            "carteiro-maildir-sender-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ))
    }

    fn envelope(to: &[&str]) -> Envelope {
        Envelope {
            from: "suporte@empresa.example".to_owned(),
            to: to.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = fs::read_dir(dir)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    const RAW: &[u8] = b"From: suporte@empresa.example\r\nSubject: [#1] Recebemos\r\n\r\nOla\r\n";

    #[tokio::test]
    async fn each_recipient_gets_the_mail_in_new_and_nothing_is_left_in_tmp() {
        let root = root();
        let sender = MaildirSender::new(&root);
        let delivered = sender
            .send(&envelope(&["Maria@Cliente.example", "joao@cliente.example"]), RAW)
            .await
            .expect("delivered");
        assert_eq!(delivered.code, 250);
        assert!(
            delivered.response.contains("2 local Maildir(s)"),
            "{}",
            delivered.response
        );
        for who in ["maria@cliente.example", "joao@cliente.example"] {
            let maildir = root.join(who);
            let new = files(&maildir.join("new"));
            assert_eq!(new.len(), 1, "{who}: {new:?}");
            assert_eq!(fs::read(&new[0]).expect("read"), RAW);
            assert!(
                files(&maildir.join("tmp")).is_empty(),
                "tmp/ is emptied by the rename"
            );
            assert!(maildir.join("cur").is_dir());
        }
        let _ = fs::remove_dir_all(root);
    }

    #[tokio::test]
    async fn a_retry_does_not_deliver_a_second_copy() {
        let root = root();
        let sender = MaildirSender::new(&root);
        let to = envelope(&["maria@cliente.example"]);
        sender.send(&to, RAW).await.expect("first");
        // A reader took the mail into cur/ and flagged it seen.
        let new = files(&root.join("maria@cliente.example/new"));
        let name = new[0].file_name().expect("name").to_string_lossy().into_owned();
        fs::rename(
            &new[0],
            root.join("maria@cliente.example/cur").join(format!("{name}:2,S")),
        )
        .expect("move to cur");
        sender.send(&to, RAW).await.expect("retry");
        assert!(files(&root.join("maria@cliente.example/new")).is_empty());
        assert_eq!(files(&root.join("maria@cliente.example/cur")).len(), 1);
        // A different mail is a new delivery.
        sender
            .send(&to, b"Subject: outro\r\n\r\nx\r\n")
            .await
            .expect("another");
        assert_eq!(files(&root.join("maria@cliente.example/new")).len(), 1);
        let _ = fs::remove_dir_all(root);
    }

    #[tokio::test]
    async fn an_address_that_cannot_name_a_folder_is_refused_at_that_recipient() {
        let root = root();
        let sender = MaildirSender::new(&root);
        let err = sender
            .send(&envelope(&["../../etc/passwd"]), RAW)
            .await
            .expect_err("refused");
        assert_eq!(
            err,
            SendError::Permanent {
                stage: Stage::Recipient("../../etc/passwd".to_owned()),
                code: None,
                message: "\"../../etc/passwd\" cannot name a local Maildir (expected an address such as \
                          maria@cliente.com.br)"
                    .to_owned(),
            }
        );
        assert!(!root.exists(), "nothing was written");
    }

    #[tokio::test]
    async fn a_folder_that_cannot_be_written_is_a_temporary_failure() {
        let root = root();
        fs::create_dir_all(root.parent().expect("parent")).expect("tmp");
        // A file where the root folder should be.
        fs::write(&root, b"not a folder").expect("write");
        let sender = MaildirSender::new(&root);
        let err = sender
            .send(&envelope(&["maria@cliente.example"]), RAW)
            .await
            .expect_err("cannot write");
        assert!(err.is_temporary(), "{err}");
        assert_eq!(err.stage(), &Stage::Data);
        assert!(err.to_string().contains("cannot write into the Maildir"), "{err}");
        let _ = fs::remove_file(root);
    }
}
