//! The list of every configuration key: which section it lives in and what
//! TOML type it takes. The file walk, the environment filter and the
//! documentation test all read this one table, so a key added to the config
//! structs without an entry here fails a test.

/// What kind of value a key holds, which decides the TOML type it must have
/// in a file and whether writing it literally in a file earns a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text, validated later (a URL, an e-mail, a name).
    Text,
    /// A credential; held as [`crate::secret::Secret`].
    Secret,
    /// A path to a file holding a credential.
    SecretFile,
    /// A duration string such as `"30s"`.
    Duration,
    /// A whole number.
    Count,
    /// `true` or `false`.
    Flag,
    /// A byte size: a string such as `"25MiB"` or a whole number of bytes.
    Size,
    /// A list of strings; in an environment variable, comma-separated.
    List,
}

impl Kind {
    /// What the value should look like, for a wrong-type problem.
    pub fn expected(self) -> &'static str {
        match self {
            Kind::Text | Kind::Secret => "a string",
            Kind::SecretFile => "a string holding a file path, e.g. \"/run/secrets/zendesk_token\"",
            Kind::Duration => "a duration string such as \"30s\" (units ms, s, m, h)",
            Kind::Count => "a whole number, e.g. 5",
            Kind::Flag => "true or false",
            Kind::Size => "a size such as \"25MiB\" or \"10MB\", or a whole number of bytes",
            Kind::List => "an array of strings, e.g. [\"suporte@empresa.com.br\"]",
        }
    }
}

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// The TOML table it lives in (`zendesk`).
    pub section: &'static str,
    /// Its name inside the table (`base_url`).
    pub name: &'static str,
    /// What it holds.
    pub kind: Kind,
}

impl KeySpec {
    /// The dotted key, `zendesk.base_url`.
    pub fn path(&self) -> String {
        format!("{}.{}", self.section, self.name)
    }

    /// The environment variable that sets it, `CARTEIRO__ZENDESK__BASE_URL`;
    /// `None` for keys of an array section (`[[mailbox]]`) or a named-table
    /// section (`[calendars.NAME]`), which are set in the file only.
    pub fn env_var(&self) -> Option<String> {
        (!is_file_only(self.section)).then(|| {
            format!(
                "{ENV_PREFIX}{}{ENV_SEPARATOR}{}",
                self.section.to_uppercase(),
                self.name.to_uppercase()
            )
        })
    }
}

/// Environment variables that set configuration keys start with this.
pub const ENV_PREFIX: &str = "CARTEIRO__";

/// Separates section and key in an environment variable name.
pub const ENV_SEPARATOR: &str = "__";

/// The configuration's sections, in documentation order.
pub const SECTIONS: &[&str] = &[
    "zendesk",
    "log",
    "state",
    "mail",
    "smtp",
    "outbox",
    "tickets",
    "rules",
    "mailbox",
    "calendars",
];

/// The sections written as arrays of tables (`[[mailbox]]`), zero or more
/// entries each. Array entries have no stable path (an index shifts when an
/// entry is added), so they cannot be set from the environment; their
/// secrets name an environment variable instead (`password_env`).
pub const ARRAY_SECTIONS: &[&str] = &["mailbox"];

/// The sections made of named tables (`[calendars.br]`, `[calendars.os]`),
/// zero or more, each with the section's keys. Like array entries they are
/// read from the file only.
pub const TABLE_SECTIONS: &[&str] = &["calendars"];

/// Whether `section` is written `[[section]]`.
pub fn is_array_section(section: &str) -> bool {
    ARRAY_SECTIONS.contains(&section)
}

/// Whether `section` is written `[section.NAME]`.
pub fn is_table_section(section: &str) -> bool {
    TABLE_SECTIONS.contains(&section)
}

/// Whether `section`'s keys can only be set in the file.
pub fn is_file_only(section: &str) -> bool {
    is_array_section(section) || is_table_section(section)
}

/// The section's header as written in a file: `[mail]`, `[[mailbox]]` or
/// `[calendars.NAME]`.
pub fn header(section: &str) -> String {
    if is_array_section(section) {
        format!("[[{section}]]")
    } else if is_table_section(section) {
        format!("[{section}.NAME]")
    } else {
        format!("[{section}]")
    }
}

const fn key(section: &'static str, name: &'static str, kind: Kind) -> KeySpec {
    KeySpec { section, name, kind }
}

/// Every key carteiro knows, in documentation order.
pub const KEYS: &[KeySpec] = &[
    key("zendesk", "subdomain", Kind::Text),
    key("zendesk", "base_url", Kind::Text),
    key("zendesk", "auth", Kind::Text),
    key("zendesk", "email", Kind::Text),
    key("zendesk", "api_token", Kind::Secret),
    key("zendesk", "api_token_file", Kind::SecretFile),
    key("zendesk", "oauth_token", Kind::Secret),
    key("zendesk", "oauth_token_file", Kind::SecretFile),
    key("zendesk", "request_timeout", Kind::Duration),
    key("zendesk", "max_retries", Kind::Count),
    key("zendesk", "rate_limit_reserve", Kind::Count),
    key("zendesk", "max_backoff", Kind::Duration),
    key("log", "level", Kind::Text),
    key("log", "format", Kind::Text),
    key("state", "path", Kind::Text),
    key("mail", "own_addresses", Kind::List),
    key("mail", "internal_senders", Kind::List),
    key("mail", "message_id_domain", Kind::Text),
    key("mail", "loop_header", Kind::Text),
    key("mail", "subject_tag", Kind::Text),
    key("mail", "max_attachment_bytes", Kind::Size),
    key("mail", "quarantine_max_retries", Kind::Count),
    key("mail", "templates", Kind::Text),
    key("smtp", "host", Kind::Text),
    key("smtp", "port", Kind::Count),
    key("smtp", "tls", Kind::Text),
    key("smtp", "ca_file", Kind::Text),
    key("smtp", "auth", Kind::Text),
    key("smtp", "username", Kind::Text),
    key("smtp", "password", Kind::Secret),
    key("smtp", "password_file", Kind::SecretFile),
    key("smtp", "timeout", Kind::Duration),
    key("smtp", "from_address", Kind::Text),
    key("smtp", "from_name", Kind::Text),
    key("smtp", "maildir", Kind::Text),
    key("outbox", "robot_addresses", Kind::Text),
    key("outbox", "recipient_caps", Kind::List),
    key("outbox", "ticket_caps", Kind::List),
    key("outbox", "retry_initial", Kind::Duration),
    key("outbox", "retry_max", Kind::Duration),
    key("outbox", "poll_interval", Kind::Duration),
    key("tickets", "poll_interval", Kind::Duration),
    key("tickets", "initial_lookback", Kind::Duration),
    key("tickets", "solve_assignee", Kind::Text),
    key("rules", "dir", Kind::Text),
    key("rules", "max_cascade", Kind::Count),
    key("rules", "sweep_limit", Kind::Count),
    key("mailbox", "name", Kind::Text),
    key("mailbox", "kind", Kind::Text),
    key("mailbox", "host", Kind::Text),
    key("mailbox", "port", Kind::Count),
    key("mailbox", "tls", Kind::Text),
    key("mailbox", "ca_file", Kind::Text),
    key("mailbox", "username", Kind::Text),
    key("mailbox", "password", Kind::Secret),
    key("mailbox", "password_env", Kind::Text),
    key("mailbox", "password_file", Kind::SecretFile),
    key("mailbox", "auth", Kind::Text),
    key("mailbox", "folder", Kind::Text),
    key("mailbox", "path", Kind::Text),
    key("mailbox", "after", Kind::Text),
    key("mailbox", "move_to", Kind::Text),
    key("mailbox", "idle", Kind::Flag),
    key("mailbox", "poll_interval", Kind::Duration),
    key("mailbox", "timeout", Kind::Duration),
    key("mailbox", "batch_size", Kind::Count),
    key("calendars", "zone", Kind::Text),
    key("calendars", "monday", Kind::List),
    key("calendars", "tuesday", Kind::List),
    key("calendars", "wednesday", Kind::List),
    key("calendars", "thursday", Kind::List),
    key("calendars", "friday", Kind::List),
    key("calendars", "saturday", Kind::List),
    key("calendars", "sunday", Kind::List),
    key("calendars", "carnaval", Kind::Flag),
    key("calendars", "ash_wednesday", Kind::Text),
    key("calendars", "corpus_christi", Kind::Flag),
    key("calendars", "holidays", Kind::List),
    key("calendars", "half_days", Kind::List),
];

/// The spec of `section.name`, when carteiro knows that key.
pub fn find(section: &str, name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.section == section && k.name == name)
}

/// The closest known name to a misspelt one, when it is close enough to be
/// a likely typo.
pub(crate) fn suggest<'a>(typo: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let budget = (typo.chars().count() / 3).clamp(1, 3);
    known
        .into_iter()
        .map(|candidate| (edit_distance(typo, candidate), candidate))
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            let delete = previous[j + 1] + 1;
            let insert = current[j] + 1;
            current.push(substitute.min(delete).min(insert));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_names_use_double_underscores() {
        let spec = find("zendesk", "base_url").expect("known key");
        assert_eq!(spec.env_var().as_deref(), Some("CARTEIRO__ZENDESK__BASE_URL"));
        assert_eq!(spec.path(), "zendesk.base_url");
        let list = find("mail", "own_addresses").expect("known key");
        assert_eq!(list.env_var().as_deref(), Some("CARTEIRO__MAIL__OWN_ADDRESSES"));
    }

    #[test]
    fn array_sections_have_no_environment_variables() {
        let spec = find("mailbox", "host").expect("known key");
        assert_eq!(spec.env_var(), None);
        assert_eq!(header("mailbox"), "[[mailbox]]");
        assert_eq!(header("mail"), "[mail]");
        assert!(ARRAY_SECTIONS.iter().all(|s| SECTIONS.contains(s)));
        assert!(TABLE_SECTIONS.iter().all(|s| SECTIONS.contains(s)));
        let zone = find("calendars", "zone").expect("known key");
        assert_eq!(zone.env_var(), None);
        assert_eq!(header("calendars"), "[calendars.NAME]");
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["subdomain", "base_url", "email"];
        assert_eq!(suggest("subdomian", names), Some("subdomain"));
        assert_eq!(suggest("baseurl", names), Some("base_url"));
        assert_eq!(suggest("colour", names), None);
    }
}
