//! The validated `[state]`, `[mail]` and `[[mailbox]]` settings, as the
//! state store, the mailboxes and ingest receive them.

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

/// `[state]`: where carteiro keeps what it must remember across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    /// The SQLite file. A relative path is taken from the working
    /// directory. Its directory is created at start when missing (see
    /// [`StateConfig::ensure_parent_dir`]); the store itself never creates
    /// directories.
    pub path: PathBuf,
}

impl StateConfig {
    /// Creates the directory that holds the store's file, and its parents,
    /// when missing; on Unix a directory it creates is private to its owner
    /// (the store holds mails). `carteiro run` calls it before opening the
    /// store.
    pub fn ensure_parent_dir(&self) -> std::io::Result<()> {
        let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) else {
            return Ok(());
        };
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(parent)
    }
}

/// `[mail]`: what all mailboxes share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// The addresses carteiro sends from and receives at, lowercased and
    /// without duplicates. Mail from them is carteiro's own.
    pub own_addresses: Vec<String>,
    /// Senders inside the company (a service sector, a partner): an
    /// address (`os@assistencia.example`) or a whole domain
    /// (`@assistencia.example`), lowercased. Their replies threaded into a
    /// ticket become internal notes and never reopen it.
    pub internal_senders: Vec<String>,
    /// The domain of the Message-IDs carteiro generates
    /// (`<…@message_id_domain>`); a mail whose Message-ID ends in it is
    /// carteiro's own.
    pub message_id_domain: String,
    /// The header carteiro puts on every mail it sends, to recognise its
    /// own mail coming back.
    pub loop_header: String,
    /// How a ticket number is written into and found in subjects.
    pub subject_tag: SubjectTag,
    /// Attachments larger than this keep only their metadata (name, type,
    /// size) and a note; 0 keeps metadata only for every attachment.
    pub max_attachment_bytes: u64,
    /// How many automatic retries a quarantined mail gets before it waits
    /// for `carteiro mail quarantine retry`.
    pub quarantine_max_retries: u32,
    /// The folder of the mail templates (`NAME.txt.j2`, `NAME.html.j2`),
    /// checked to be a folder; `carteiro check` renders every template in
    /// it. `None`: no templates, so no mail from templates.
    pub templates: Option<PathBuf>,
}

impl MailConfig {
    /// Whether `address` is one of [`MailConfig::internal_senders`].
    pub fn is_internal_sender(&self, address: &str) -> bool {
        is_internal_sender(&self.internal_senders, address)
    }
}

/// Whether `address` matches one of `senders` (addresses, or `@domain`
/// for every address of a domain), case-insensitively.
pub fn is_internal_sender(senders: &[String], address: &str) -> bool {
    let address = address.trim().to_lowercase();
    senders.iter().any(|sender| match sender.strip_prefix('@') {
        Some(domain) => address.rsplit_once('@').is_some_and(|(_, d)| d == domain),
        None => *sender == address,
    })
}

/// The ticket-number tag in subjects: `"[#{id}]"` is prefix `[#` and
/// suffix `]`, so ticket 123 reads `[#123]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectTag {
    prefix: String,
    suffix: String,
}

impl SubjectTag {
    /// The placeholder for the ticket number in a pattern.
    pub const PLACEHOLDER: &'static str = "{id}";

    /// The tag written as `pattern`, which holds [`SubjectTag::PLACEHOLDER`]
    /// exactly once after a non-empty prefix that does not end in a digit;
    /// `None` otherwise.
    pub fn parse(pattern: &str) -> Option<SubjectTag> {
        let (prefix, suffix) = pattern.split_once(Self::PLACEHOLDER)?;
        let valid = !prefix.is_empty()
            && !prefix.ends_with(|c: char| c.is_ascii_digit())
            && !suffix.starts_with(|c: char| c.is_ascii_digit())
            && !suffix.contains(Self::PLACEHOLDER);
        valid.then(|| SubjectTag {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    /// The text before the number (`[#`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The text after the number (`]`).
    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    /// The tag for ticket `id`: `[#123]`.
    pub fn render(&self, id: u64) -> String {
        format!("{}{id}{}", self.prefix, self.suffix)
    }

    /// The ticket number of the first tag in `subject`, if any: the prefix,
    /// one or more digits, then the suffix, all exactly as configured.
    pub fn find(&self, subject: &str) -> Option<u64> {
        subject.match_indices(&self.prefix).find_map(|(start, _)| {
            let rest = &subject[start + self.prefix.len()..];
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if digits == 0 || !rest[digits..].starts_with(&self.suffix) {
                return None;
            }
            rest[..digits].parse().ok()
        })
    }

    /// The pattern as written in the configuration: `[#{id}]`.
    pub fn pattern(&self) -> String {
        format!("{}{}{}", self.prefix, Self::PLACEHOLDER, self.suffix)
    }
}

/// One `[[mailbox]]`: a place mail is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxConfig {
    /// Unique among the mailboxes; names its sync state in the store, its
    /// log lines and its quarantine entries. Renaming a mailbox starts its
    /// sync over (dedupe by Message-ID still prevents re-imports).
    pub name: String,
    /// Where and how to read it.
    pub source: MailboxSource,
}

/// The kind of mailbox, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxSource {
    /// A folder on an IMAP server.
    Imap(ImapConfig),
    /// A local Maildir.
    Maildir(MaildirConfig),
}

/// `kind = "imap"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapConfig {
    /// Host name or IP address.
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// An extra CA certificate (PEM) to trust besides the Mozilla roots,
    /// for a server with a private CA. Checked to be readable, not parsed.
    pub ca_file: Option<PathBuf>,
    pub username: String,
    pub password: Secret,
    pub auth: AuthMech,
    /// The folder to read, e.g. `INBOX`.
    pub folder: String,
    pub after: AfterProcessing,
    /// Wait with IDLE between fetches (falling back to polling when the
    /// server lacks it); `false` always polls.
    pub idle: bool,
    /// How often to look for new mail without IDLE, and how often IDLE is
    /// renewed.
    pub poll_interval: Duration,
    /// The limit on each IMAP operation (connect, login, fetch, store).
    pub timeout: Duration,
    /// The most mails fetched in one round.
    pub batch_size: u32,
}

/// How an IMAP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (port 993).
    Implicit,
    /// Plain connect, then `STARTTLS` before anything else (port 143).
    StartTls,
    /// No TLS: allowed only for a loopback host.
    Plain,
}

impl TlsMode {
    /// The port used when none is configured.
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::Implicit => 993,
            TlsMode::StartTls | TlsMode::Plain => 143,
        }
    }
}

/// How the IMAP password is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMech {
    /// `LOGIN user password`.
    Login,
    /// `AUTHENTICATE PLAIN`.
    Plain,
}

/// What happens to a mail once its ticket write is durable (never before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterProcessing {
    /// IMAP: set `\Seen`. Maildir: move from `new/` to `cur/` with the `S`
    /// flag.
    Seen,
    /// IMAP: move to this folder. Maildir: move into this Maildir++
    /// sub-folder (`<path>/.<name>/cur/`).
    Move(String),
    /// Leave it as it is; the store's record keeps it from being imported
    /// twice.
    Leave,
}

/// `kind = "maildir"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirConfig {
    /// The Maildir: the folder holding `new/`, `cur/` and `tmp/`. Not
    /// checked at load; the mailbox reports a missing one when it starts.
    pub path: PathBuf,
    pub after: AfterProcessing,
    /// How often to look for new files.
    pub poll_interval: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_tags_render_and_find_ticket_numbers() {
        let tag = SubjectTag::parse("[#{id}]").expect("valid");
        assert_eq!((tag.prefix(), tag.suffix()), ("[#", "]"));
        assert_eq!(tag.render(123), "[#123]");
        assert_eq!(tag.pattern(), "[#{id}]");
        assert_eq!(tag.find("Re: Impressora parada [#123]"), Some(123));
        assert_eq!(tag.find("[#12x] then [#34]"), Some(34));
        assert_eq!(tag.find("[#] [#]"), None);
        assert_eq!(tag.find("#123 without brackets"), None);
        assert_eq!(tag.find("[#99999999999999999999999]"), None);

        let hash = SubjectTag::parse("#{id}").expect("valid");
        assert_eq!(hash.find("Chamado #45: retorno"), Some(45));
        assert_eq!(hash.render(7), "#7");
    }

    #[test]
    fn subject_tag_patterns_need_one_placeholder_after_text() {
        for bad in [
            "",
            "[#]",
            "{id}",
            "[#{id}] {id}",
            "Ticket 1{id}",
            "#{id}0",
            "[#{ID}]",
        ] {
            assert_eq!(SubjectTag::parse(bad), None, "{bad:?}");
        }
        assert!(SubjectTag::parse("(Chamado {id})").is_some());
    }
}
