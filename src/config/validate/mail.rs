//! The semantic pass for `[state]`, `[mail]` and `[[mailbox]]`.
//!
//! A mailbox entry's keys are named `mailbox[i].key` (`i` counted from 0,
//! in file order); a problem about a key that was not written is located at
//! the entry's `[[mailbox]]` header. Mailbox defaults live here, in code,
//! because an array entry cannot have defaults in the `config` crate's
//! bottom layer; `config/default.toml` lists them in a comment.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};
use url::Host;

use super::{Checker, looks_like_address};
use crate::config::mail::{
    AfterProcessing, AuthMech, ImapConfig, MailConfig, MailboxConfig, MailboxSource, MaildirConfig,
    StateConfig, SubjectTag, TlsMode,
};
use crate::config::size::parse_size;
use crate::secret::Secret;

/// The Message-ID domain when none is set and there is no own address to
/// take one from. `.invalid` is reserved (RFC 2606), so it never clashes
/// with a real domain.
pub const FALLBACK_MESSAGE_ID_DOMAIN: &str = "carteiro.invalid";

/// Largest accepted `mail.quarantine_max_retries`.
const MAX_QUARANTINE_RETRIES: u32 = 100;

/// `[[mailbox]]` defaults.
pub const DEFAULT_FOLDER: &str = "INBOX";
pub const DEFAULT_POLL_INTERVAL: &str = "60s";
pub const DEFAULT_TIMEOUT: &str = "30s";
pub const DEFAULT_BATCH_SIZE: u32 = 100;
/// Largest accepted `batch_size`: a bigger fetch holds too much in memory.
const MAX_BATCH_SIZE: u32 = 10_000;

/// Keys that only an IMAP mailbox takes.
const IMAP_ONLY: &[&str] = &[
    "host",
    "port",
    "tls",
    "ca_file",
    "username",
    "password",
    "password_env",
    "password_file",
    "auth",
    "folder",
    "idle",
    "timeout",
    "batch_size",
];

/// Keys that only a Maildir mailbox takes.
const MAILDIR_ONLY: &[&str] = &["path"];

/// `[state]` before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(in crate::config) struct RawState {
    pub path: Option<String>,
}

/// `[mail]` before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(in crate::config) struct RawMail {
    pub own_addresses: Option<StringList>,
    pub internal_senders: Option<StringList>,
    pub message_id_domain: Option<String>,
    pub loop_header: Option<String>,
    pub subject_tag: Option<String>,
    pub max_attachment_bytes: Option<String>,
    pub quarantine_max_retries: Option<String>,
    pub templates: Option<String>,
}

/// One `[[mailbox]]` before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(in crate::config) struct RawMailbox {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub host: Option<String>,
    pub port: Option<String>,
    pub tls: Option<String>,
    pub ca_file: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
    pub auth: Option<String>,
    pub folder: Option<String>,
    pub path: Option<String>,
    pub after: Option<String>,
    pub move_to: Option<String>,
    pub idle: Option<String>,
    pub poll_interval: Option<String>,
    pub timeout: Option<String>,
    pub batch_size: Option<String>,
}

impl RawMailbox {
    /// Whether the key `name` was given.
    fn is_set(&self, name: &str) -> bool {
        match name {
            "host" => self.host.is_some(),
            "port" => self.port.is_some(),
            "tls" => self.tls.is_some(),
            "ca_file" => self.ca_file.is_some(),
            "username" => self.username.is_some(),
            "password" => self.password.is_some(),
            "password_env" => self.password_env.is_some(),
            "password_file" => self.password_file.is_some(),
            "auth" => self.auth.is_some(),
            "folder" => self.folder.is_some(),
            "idle" => self.idle.is_some(),
            "timeout" => self.timeout.is_some(),
            "batch_size" => self.batch_size.is_some(),
            "path" => self.path.is_some(),
            _ => false,
        }
    }
}

/// A list of strings: an array in a file, comma-separated in an
/// environment variable (`a@x.com, b@x.com`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(in crate::config) struct StringList(pub Vec<String>);

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<StringList, D::Error> {
        struct ListVisitor;

        impl<'de> Visitor<'de> for ListVisitor {
            type Value = StringList;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of strings or a comma-separated string")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<StringList, E> {
                Ok(StringList(
                    text.split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(str::to_owned)
                        .collect(),
                ))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringList, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(StringList(items))
            }
        }

        deserializer.deserialize_any(ListVisitor)
    }
}

/// The kinds of mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Imap,
    Maildir,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Imap => "imap",
            Kind::Maildir => "maildir",
        }
    }
}

impl Checker<'_> {
    /// Validates `[state]`.
    pub fn state(&mut self, raw: &RawState) -> Option<StateConfig> {
        const KEY: &str = "state.path";
        let text = self.required(KEY, &raw.path)?;
        if text.trim().is_empty() || text.ends_with('/') || text.contains('\0') {
            self.problem(
                KEY,
                format!("expected a file path, e.g. \"state/carteiro.db\"; got {text:?}"),
            );
            return None;
        }
        let path = PathBuf::from(text);
        if path.is_dir() {
            self.problem(
                KEY,
                format!(
                    "{text:?} is a directory; expected the store's file, e.g. {:?}",
                    path.join("carteiro.db").display().to_string()
                ),
            );
            return None;
        }
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent.filter(|p| p.exists() && !p.is_dir()) {
            self.problem(
                KEY,
                format!(
                    "{:?} is not a directory, so it cannot hold the store",
                    parent.display().to_string()
                ),
            );
            return None;
        }
        Some(StateConfig { path })
    }

    /// Validates `[mail]`.
    pub fn mail(&mut self, raw: &RawMail) -> Option<MailConfig> {
        let own_addresses = self.own_addresses(raw.own_addresses.as_ref());
        let internal_senders = self.internal_senders(raw.internal_senders.as_ref());
        let message_id_domain = match raw.message_id_domain.as_deref() {
            Some(text) => self.message_id_domain(text),
            None => Some(
                own_addresses
                    .as_ref()
                    .and_then(|list| list.first())
                    .and_then(|address| address.rsplit_once('@'))
                    .map(|(_, domain)| domain)
                    .filter(|domain| is_domain(domain))
                    .unwrap_or(FALLBACK_MESSAGE_ID_DOMAIN)
                    .to_owned(),
            ),
        };
        let loop_header = self
            .required("mail.loop_header", &raw.loop_header)
            .and_then(|name| self.loop_header(name));
        let subject_tag = self
            .required("mail.subject_tag", &raw.subject_tag)
            .and_then(|pattern| match SubjectTag::parse(pattern) {
                Some(tag) => Some(tag),
                None => {
                    self.problem(
                        "mail.subject_tag",
                        format!(
                            "expected a pattern with {{id}} exactly once, after some text that does not end in a \
                             digit, e.g. \"[#{{id}}]\" or \"#{{id}}\"; got {pattern:?}"
                        ),
                    );
                    None
                }
            });
        let max_attachment_bytes = self
            .required("mail.max_attachment_bytes", &raw.max_attachment_bytes)
            .and_then(|text| match parse_size(text) {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    self.problem("mail.max_attachment_bytes", e.to_string());
                    None
                }
            });
        let quarantine_max_retries = self.count(
            "mail.quarantine_max_retries",
            raw.quarantine_max_retries.as_deref(),
            MAX_QUARANTINE_RETRIES,
        );
        let templates = raw.templates.as_deref().and_then(|path| self.templates_dir(path));
        let templates_valid = raw.templates.is_none() || templates.is_some();
        if !templates_valid {
            return None;
        }
        Some(MailConfig {
            templates,
            own_addresses: own_addresses?,
            internal_senders: internal_senders?,
            message_id_domain: message_id_domain?,
            loop_header: loop_header?,
            subject_tag: subject_tag?,
            max_attachment_bytes: max_attachment_bytes?,
            quarantine_max_retries: quarantine_max_retries?,
        })
    }

    fn own_addresses(&mut self, raw: Option<&StringList>) -> Option<Vec<String>> {
        let mut addresses = Vec::new();
        let mut valid = true;
        for (index, item) in raw
            .map(|list| list.0.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let address = item.trim().to_lowercase();
            if !looks_like_address(&address) {
                self.problem(
                    &format!("mail.own_addresses[{index}]"),
                    format!("expected an e-mail address, e.g. \"suporte@empresa.com.br\"; got {item:?}"),
                );
                valid = false;
            } else if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        valid.then_some(addresses)
    }

    /// `mail.internal_senders`: addresses (`os@assistencia.example`) or
    /// whole domains (`@assistencia.example`), lowercased, without
    /// duplicates.
    fn internal_senders(&mut self, raw: Option<&StringList>) -> Option<Vec<String>> {
        let mut senders = Vec::new();
        let mut valid = true;
        for (index, item) in raw
            .map(|list| list.0.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let sender = item.trim().to_lowercase();
            let ok = match sender.strip_prefix('@') {
                Some(domain) => is_domain(domain),
                None => looks_like_address(&sender),
            };
            if !ok {
                self.problem(
                    &format!("mail.internal_senders[{index}]"),
                    format!(
                        "expected an e-mail address or a domain after @, e.g. \"os@assistencia.com.br\" or \
                         \"@assistencia.com.br\"; got {item:?}"
                    ),
                );
                valid = false;
            } else if !senders.contains(&sender) {
                senders.push(sender);
            }
        }
        valid.then_some(senders)
    }

    fn message_id_domain(&mut self, text: &str) -> Option<String> {
        let domain = text.to_ascii_lowercase();
        if is_domain(&domain) {
            return Some(domain);
        }
        self.problem(
            "mail.message_id_domain",
            format!(
                "expected a domain name, e.g. \"empresa.com.br\" (letters, digits, hyphens and dots); got {text:?}"
            ),
        );
        None
    }

    fn templates_dir(&mut self, path: &str) -> Option<PathBuf> {
        const KEY: &str = "mail.templates";
        let dir = PathBuf::from(path);
        if path.trim().is_empty() || path.contains('\0') {
            self.problem(
                KEY,
                format!(
                    "expected the folder holding the mail templates, e.g. \"rules/templates\"; got {path:?}"
                ),
            );
            return None;
        }
        match std::fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => Some(dir),
            Ok(_) => {
                self.problem(
                    KEY,
                    format!("{path:?} is not a folder; expected the folder holding NAME.txt.j2 files"),
                );
                None
            }
            Err(e) => {
                self.problem(KEY, format!("cannot read the templates folder {path:?}: {e}"));
                None
            }
        }
    }

    fn loop_header(&mut self, name: &str) -> Option<String> {
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Some(name.to_owned());
        }
        self.problem(
            "mail.loop_header",
            format!(
                "expected a header name of letters, digits and hyphens, e.g. \"X-Carteiro-Loop\"; got {name:?}"
            ),
        );
        None
    }

    /// Validates every `[[mailbox]]`; names must be unique (ignoring case).
    pub fn mailboxes(&mut self, raw: &[RawMailbox]) -> Option<Vec<MailboxConfig>> {
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut mailboxes = Vec::new();
        let mut valid = true;
        for (index, entry) in raw.iter().enumerate() {
            match self.mailbox(index, entry, &mut names) {
                Some(mailbox) => mailboxes.push(mailbox),
                None => valid = false,
            }
        }
        valid.then_some(mailboxes)
    }

    fn mailbox(
        &mut self,
        index: usize,
        raw: &RawMailbox,
        names: &mut HashMap<String, usize>,
    ) -> Option<MailboxConfig> {
        let prefix = format!("mailbox[{index}]");
        let key = |name: &str| format!("{prefix}.{name}");
        let name = self.mailbox_name(&prefix, index, raw.name.as_deref(), names);
        let kind = match raw.kind.as_deref() {
            Some("imap") => Some(Kind::Imap),
            Some("maildir") => Some(Kind::Maildir),
            Some(other) => {
                self.problem(
                    &key("kind"),
                    format!("expected \"imap\" or \"maildir\"; got {other:?}"),
                );
                None
            }
            None => {
                self.problem(&key("kind"), "missing; expected \"imap\" or \"maildir\"");
                None
            }
        };
        let source = match kind {
            Some(Kind::Imap) => {
                self.stray_keys(&prefix, raw, MAILDIR_ONLY, Kind::Imap);
                self.imap(&prefix, raw).map(MailboxSource::Imap)
            }
            Some(Kind::Maildir) => {
                self.stray_keys(&prefix, raw, IMAP_ONLY, Kind::Maildir);
                self.maildir(&prefix, raw).map(MailboxSource::Maildir)
            }
            None => None,
        };
        Some(MailboxConfig {
            name: name?,
            source: source?,
        })
    }

    fn mailbox_name(
        &mut self,
        prefix: &str,
        index: usize,
        name: Option<&str>,
        names: &mut HashMap<String, usize>,
    ) -> Option<String> {
        let key = format!("{prefix}.name");
        let Some(name) = name else {
            self.problem(
                &key,
                "missing; every mailbox needs a unique name, e.g. name = \"suporte\"",
            );
            return None;
        };
        let valid = (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            self.problem(
                &key,
                format!(
                    "expected a name of at most 64 letters, digits, '.', '_' or '-', e.g. \"suporte\"; got {name:?}"
                ),
            );
            return None;
        }
        if let Some(first) = names.get(&name.to_ascii_lowercase()) {
            self.problem(
                &key,
                format!("duplicate name {name:?}: mailbox[{first}] has it too; each mailbox needs its own"),
            );
            return None;
        }
        names.insert(name.to_ascii_lowercase(), index);
        Some(name.to_owned())
    }

    /// Reports each of `keys` set on a mailbox of `kind`, which does not
    /// take it.
    fn stray_keys(&mut self, prefix: &str, raw: &RawMailbox, keys: &[&str], kind: Kind) {
        let other = match kind {
            Kind::Imap => Kind::Maildir,
            Kind::Maildir => Kind::Imap,
        };
        for name in keys.iter().filter(|name| raw.is_set(name)) {
            self.problem(
                &format!("{prefix}.{name}"),
                format!(
                    "only for kind = \"{}\"; this mailbox is kind = \"{}\"",
                    other.name(),
                    kind.name()
                ),
            );
        }
    }

    fn imap(&mut self, prefix: &str, raw: &RawMailbox) -> Option<ImapConfig> {
        let key = |name: &str| format!("{prefix}.{name}");
        let host = match raw.host.as_deref() {
            Some(text) => self.host(&key("host"), text),
            None => {
                self.problem(
                    &key("host"),
                    "missing; kind \"imap\" needs the server's host name, e.g. \"imap.empresa.com.br\"",
                );
                None
            }
        };
        let tls = match raw.tls.as_deref().unwrap_or("implicit") {
            "implicit" => Some(TlsMode::Implicit),
            "starttls" => Some(TlsMode::StartTls),
            "plain" => Some(TlsMode::Plain),
            other => {
                self.problem(
                    &key("tls"),
                    format!(
                        "expected \"implicit\" (TLS from the start, port 993), \"starttls\" (port 143) or \
                         \"plain\" (loopback only); got {other:?}"
                    ),
                );
                None
            }
        };
        if let (Some(TlsMode::Plain), Some((host, false))) = (tls, &host) {
            self.problem(
                &key("tls"),
                format!(
                    "\"plain\" sends the password and the mail unencrypted, so it is allowed only for a loopback \
                     host (localhost, 127.0.0.1, ::1); {prefix}.host is {host:?}: use \"implicit\" or \"starttls\""
                ),
            );
        }
        let port = match &raw.port {
            Some(text) => self
                .count_between(&key("port"), Some(text), 1, u32::from(u16::MAX))
                .and_then(|port| u16::try_from(port).ok()),
            None => tls.map(TlsMode::default_port),
        };
        let ca_file = raw
            .ca_file
            .as_deref()
            .and_then(|path| self.ca_file(prefix, path, tls));
        let ca_file_valid = raw.ca_file.is_none() || ca_file.is_some();
        let username = match raw.username.as_deref() {
            Some(name) if !name.is_empty() && !name.chars().any(char::is_control) => Some(name.to_owned()),
            Some(name) => {
                self.problem(
                    &key("username"),
                    format!("expected the user name to log in with; got {name:?}"),
                );
                None
            }
            None => {
                self.problem(
                    &key("username"),
                    "missing; kind \"imap\" needs the user name to log in with",
                );
                None
            }
        };
        let password = self.imap_password(prefix, raw);
        let auth = match raw.auth.as_deref().unwrap_or("login") {
            "login" => Some(AuthMech::Login),
            "plain" => Some(AuthMech::Plain),
            other => {
                self.problem(
                    &key("auth"),
                    format!("expected \"login\" (LOGIN) or \"plain\" (AUTHENTICATE PLAIN); got {other:?}"),
                );
                None
            }
        };
        let folder = raw.folder.as_deref().unwrap_or(DEFAULT_FOLDER);
        let folder = if folder.is_empty() || folder.chars().any(char::is_control) {
            self.problem(
                &key("folder"),
                format!("expected a folder name, e.g. \"INBOX\"; got {folder:?}"),
            );
            None
        } else {
            Some(folder.to_owned())
        };
        let after = self.after(prefix, raw, Kind::Imap, folder.as_deref());
        let idle = match raw.idle.as_deref().unwrap_or("true") {
            "true" => Some(true),
            "false" => Some(false),
            other => {
                self.problem(&key("idle"), format!("expected true or false; got {other:?}"));
                None
            }
        };
        let poll_interval = self.duration(
            &key("poll_interval"),
            Some(raw.poll_interval.as_deref().unwrap_or(DEFAULT_POLL_INTERVAL)),
        );
        let timeout = self.duration(
            &key("timeout"),
            Some(raw.timeout.as_deref().unwrap_or(DEFAULT_TIMEOUT)),
        );
        let batch_size = match &raw.batch_size {
            Some(text) => self.count_between(&key("batch_size"), Some(text), 1, MAX_BATCH_SIZE),
            None => Some(DEFAULT_BATCH_SIZE),
        };
        let (host, _) = host?;
        if !ca_file_valid {
            return None;
        }
        Some(ImapConfig {
            host,
            port: port?,
            tls: tls?,
            ca_file,
            username: username?,
            password: password?,
            auth: auth?,
            folder: folder?,
            after: after?,
            idle: idle?,
            poll_interval: poll_interval?,
            timeout: timeout?,
            batch_size: batch_size?,
        })
    }

    /// A host name or IP address, and whether it is loopback.
    pub(super) fn host(&mut self, key: &str, text: &str) -> Option<(String, bool)> {
        let bare = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Some((bare.to_owned(), ip.is_loopback()));
        }
        match Host::parse(text) {
            Ok(Host::Domain(name)) if !name.is_empty() && is_domain(&name) => {
                let loopback = name.eq_ignore_ascii_case("localhost");
                Some((name, loopback))
            }
            _ => {
                self.problem(
                    key,
                    format!(
                        "expected a host name or IP address alone (no scheme or port), e.g. \
                         \"{}.empresa.com.br\"; got {text:?}",
                        if key.starts_with("smtp") { "smtp" } else { "imap" }
                    ),
                );
                None
            }
        }
    }

    pub(super) fn ca_file(&mut self, prefix: &str, path: &str, tls: Option<TlsMode>) -> Option<PathBuf> {
        let key = format!("{prefix}.ca_file");
        if tls == Some(TlsMode::Plain) {
            self.problem(
                &key,
                format!(
                    "set, but {prefix}.tls is \"plain\", which checks no certificate; remove it or use TLS"
                ),
            );
            return None;
        }
        let problem = match std::fs::File::open(Path::new(path)) {
            Err(e) => format!("cannot read {path:?}: {e}"),
            Ok(file) if file.metadata().is_ok_and(|m| m.is_file()) => return Some(PathBuf::from(path)),
            Ok(_) => format!("{path:?} is not a file; expected a PEM certificate file"),
        };
        self.problem(&key, problem);
        None
    }

    /// The IMAP password from exactly one of `password_env` (the name of an
    /// environment variable), `password_file`, or `password` written in the
    /// file (accepted with a warning).
    fn imap_password(&mut self, prefix: &str, raw: &RawMailbox) -> Option<Secret> {
        let inline_key = format!("{prefix}.password");
        let env_key = format!("{prefix}.password_env");
        let file_key = format!("{prefix}.password_file");
        let given: Vec<&String> = [
            (&inline_key, raw.password.is_some()),
            (&env_key, raw.password_env.is_some()),
            (&file_key, raw.password_file.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect();
        let (source, secret) = match (
            given.as_slice(),
            &raw.password,
            &raw.password_env,
            &raw.password_file,
        ) {
            ([], ..) => {
                self.problem(
                    &inline_key,
                    format!(
                        "missing; kind \"imap\" needs a password: set {env_key} to the name of an environment \
                         variable holding it, or {file_key} to a file holding it"
                    ),
                );
                return None;
            }
            ([first, second], ..) => {
                self.problem(first, format!("both {first} and {second} are set; keep one"));
                return None;
            }
            ([first, second, third], ..) => {
                self.problem(
                    first,
                    format!("{first}, {second} and {third} are all set; keep one"),
                );
                return None;
            }
            (_, Some(secret), _, _) => {
                if self.layers.set_in_file(&inline_key) {
                    let location = self.layers.origin(&inline_key);
                    self.warnings.push(super::Problem::at(
                        location,
                        &inline_key,
                        format!("a secret written in the config file; prefer {env_key} or {file_key}"),
                    ));
                }
                (&inline_key, secret.clone())
            }
            (_, _, Some(var), _) => (&env_key, self.password_from_env(&env_key, var)?),
            (_, _, _, Some(path)) => (&file_key, self.read_secret_file(&file_key, path, "the password")?),
            _ => return None,
        };
        if secret.is_empty() {
            self.problem(source, "is empty; expected the password");
            return None;
        }
        if secret.expose().chars().any(char::is_control) {
            self.problem(source, "contains control characters; expected the password alone");
            return None;
        }
        Some(secret)
    }

    fn password_from_env(&mut self, key: &str, var: &str) -> Option<Secret> {
        let valid_name = var
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            self.problem(
                key,
                format!(
                    "expected the name of an environment variable (letters, digits, '_'), e.g. \
                     \"IMAP_PASSWORD_SUPORTE\"; got {var:?}"
                ),
            );
            return None;
        }
        match self.env.get(var) {
            Some(value) if value.is_empty() => {
                self.problem(
                    key,
                    format!("the environment variable {var} is empty; expected the password"),
                );
                None
            }
            Some(value) => Some(Secret::new(value.as_str())),
            None => {
                self.problem(
                    key,
                    format!("the environment variable {var} is not set; it should hold the password"),
                );
                None
            }
        }
    }

    /// `after` and `move_to`; `reading` is the IMAP folder being read, which
    /// `move_to` must not name.
    fn after(
        &mut self,
        prefix: &str,
        raw: &RawMailbox,
        kind: Kind,
        reading: Option<&str>,
    ) -> Option<AfterProcessing> {
        let key = |name: &str| format!("{prefix}.{name}");
        let after = raw.after.as_deref().unwrap_or("seen");
        match (after, raw.move_to.as_deref()) {
            ("seen" | "leave", Some(_)) => {
                self.problem(
                    &key("move_to"),
                    format!("set, but {prefix}.after is {after:?}; remove it or set after = \"move\""),
                );
                None
            }
            ("seen", None) => Some(AfterProcessing::Seen),
            ("leave", None) => Some(AfterProcessing::Leave),
            ("move", None) => {
                self.problem(
                    &key("move_to"),
                    format!(
                        "missing; {prefix}.after = \"move\" needs the folder to move processed mail to, e.g. \
                         move_to = \"Processados\""
                    ),
                );
                None
            }
            ("move", Some(folder)) => {
                let problem = match kind {
                    Kind::Imap if folder.is_empty() || folder.chars().any(char::is_control) => Some(format!(
                        "expected a folder name, e.g. \"Processados\"; got {folder:?}"
                    )),
                    Kind::Imap if Some(folder) == reading => Some(format!(
                        "is the folder being read ({prefix}.folder); mail moved there would be read again"
                    )),
                    Kind::Maildir
                        if folder.is_empty()
                            || folder.contains('/')
                            || folder.starts_with('.')
                            || folder.chars().any(char::is_control) =>
                    {
                        Some(format!(
                            "expected a Maildir++ folder name without '/' or a leading '.', e.g. \"Processados\" \
                             (kept in .Processados/ under the Maildir); got {folder:?}"
                        ))
                    }
                    _ => None,
                };
                match problem {
                    Some(problem) => {
                        self.problem(&key("move_to"), problem);
                        None
                    }
                    None => Some(AfterProcessing::Move(folder.to_owned())),
                }
            }
            (other, _) => {
                self.problem(
                    &key("after"),
                    format!("expected \"seen\", \"move\" or \"leave\"; got {other:?}"),
                );
                None
            }
        }
    }

    fn maildir(&mut self, prefix: &str, raw: &RawMailbox) -> Option<MaildirConfig> {
        let key = |name: &str| format!("{prefix}.{name}");
        let path = match raw.path.as_deref() {
            Some(path) if !path.trim().is_empty() && !path.contains('\0') => Some(PathBuf::from(path)),
            Some(path) => {
                self.problem(
                    &key("path"),
                    format!(
                        "expected the Maildir folder (the one holding new/, cur/ and tmp/), e.g. \
                         \"/var/mail/suporte/Maildir\"; got {path:?}"
                    ),
                );
                None
            }
            None => {
                self.problem(
                    &key("path"),
                    "missing; kind \"maildir\" needs the Maildir folder (the one holding new/, cur/ and tmp/), \
                     e.g. \"/var/mail/suporte/Maildir\"",
                );
                None
            }
        };
        let after = self.after(prefix, raw, Kind::Maildir, None);
        let poll_interval: Option<Duration> = self.duration(
            &key("poll_interval"),
            Some(raw.poll_interval.as_deref().unwrap_or(DEFAULT_POLL_INTERVAL)),
        );
        Some(MaildirConfig {
            path: path?,
            after: after?,
            poll_interval: poll_interval?,
        })
    }
}

/// Whether `text` is a DNS name: dot-separated labels of ASCII letters,
/// digits and hyphens, none empty, none starting or ending with a hyphen.
fn is_domain(text: &str) -> bool {
    (1..=253).contains(&text.len())
        && text.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_dns_names() {
        for good in [
            "empresa.com.br",
            "localhost",
            "mx-1.example",
            "xn--caf-dma.example",
        ] {
            assert!(is_domain(good), "{good}");
        }
        for bad in [
            "",
            "empresa..com",
            "-a.com",
            "a-.com",
            "a b.com",
            "a@b.com",
            "[127.0.0.1]",
        ] {
            assert!(!is_domain(bad), "{bad}");
        }
    }
}
