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
}

impl Kind {
    /// Whether a TOML file must write this key as an integer (otherwise a
    /// string).
    pub fn is_integer(self) -> bool {
        matches!(self, Kind::Count)
    }

    /// What the value should look like, for a wrong-type problem.
    pub fn expected(self) -> &'static str {
        match self {
            Kind::Text | Kind::Secret => "a string",
            Kind::SecretFile => "a string holding a file path, e.g. \"/run/secrets/zendesk_token\"",
            Kind::Duration => "a duration string such as \"30s\" (units ms, s, m, h)",
            Kind::Count => "a whole number, e.g. 5",
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

    /// The environment variable that sets it, `CARTEIRO__ZENDESK__BASE_URL`.
    pub fn env_var(&self) -> String {
        format!(
            "{ENV_PREFIX}{}{ENV_SEPARATOR}{}",
            self.section.to_uppercase(),
            self.name.to_uppercase()
        )
    }
}

/// Environment variables that set configuration keys start with this.
pub const ENV_PREFIX: &str = "CARTEIRO__";

/// Separates section and key in an environment variable name.
pub const ENV_SEPARATOR: &str = "__";

/// The configuration's sections, in documentation order.
pub const SECTIONS: &[&str] = &["zendesk", "log"];

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
        assert_eq!(spec.env_var(), "CARTEIRO__ZENDESK__BASE_URL");
        assert_eq!(spec.path(), "zendesk.base_url");
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["subdomain", "base_url", "email"];
        assert_eq!(suggest("subdomian", names), Some("subdomain"));
        assert_eq!(suggest("baseurl", names), Some("base_url"));
        assert_eq!(suggest("colour", names), None);
    }
}
