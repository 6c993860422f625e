//! The shapes of a rule file as written, before any meaning is checked.
//!
//! Every table denies unknown keys, and each value that a later check may
//! reject keeps its position ([`Spanned`]), so every error names the file,
//! line and column. Actions are tables with exactly one action key (and an
//! optional `commit`), read by a hand-written visitor: a typo gets one
//! precise message ("unknown action `set_stauts`, expected one of …")
//! rather than the three vague ones an untagged union gives.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

/// One rule file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// The format's version; only `1` exists.
    pub version: Spanned<i64>,
    /// The IANA zone cron expressions are read in (default
    /// `America/Sao_Paulo`).
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
    /// The calendar business durations use (default `br`).
    #[serde(default)]
    pub calendar: Option<Spanned<String>>,
    /// Addresses that are carteiro itself: conditions on `mail.from` and the
    /// send-mail guard treat them as the bot.
    #[serde(default)]
    pub identities: Vec<Spanned<String>>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RawRule>,
}

/// One `[[rule]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub on: Spanned<Vec<Spanned<String>>>,
    /// For `on = ["schedule"]`: when, as a cron expression with seconds.
    #[serde(default)]
    pub cron: Option<Spanned<String>>,
    #[serde(default)]
    pub all: Vec<Spanned<RawCondition>>,
    #[serde(default)]
    pub any: Vec<Spanned<RawCondition>>,
    #[serde(default)]
    pub not: Vec<Spanned<RawCondition>>,
    pub actions: Spanned<Vec<Spanned<RawAction>>>,
    /// No later rule runs for this event once this one fired.
    #[serde(default)]
    pub stop: bool,
    /// `"per_ticket"`: fires at most once per ticket, ever.
    #[serde(default)]
    pub once: Option<Spanned<String>>,
    /// Also runs on changes carteiro itself made (bounded depth).
    #[serde(default)]
    pub cascade: bool,
    /// `vars.*` for this rule's templates.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// One condition: a leaf (`field`, `op`, `value`) or a group (`all`,
/// `any`, `not`). Which of the two it is, and whether its keys fit, is
/// checked when the file is compiled.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    #[serde(default)]
    pub field: Option<Spanned<String>>,
    #[serde(default)]
    pub op: Option<Spanned<String>>,
    #[serde(default)]
    pub value: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub all: Option<Vec<Spanned<RawCondition>>>,
    #[serde(default)]
    pub any: Option<Vec<Spanned<RawCondition>>>,
    #[serde(default)]
    pub not: Option<Vec<Spanned<RawCondition>>>,
}

/// `assign = { user = "…", group = "…" }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawAssign {
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    #[serde(default)]
    pub group: Option<Spanned<String>>,
}

/// `set_field = { field = "cnpj", value = "…" }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawSetField {
    pub field: Spanned<String>,
    pub value: Spanned<toml::Value>,
}

/// `send_mail = { to = […], template = "…" }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawSendMail {
    /// Addresses; `"requester"` is the ticket's requester.
    pub to: OneOrMany,
    #[serde(default)]
    pub cc: OneOrMany,
    pub template: Spanned<String>,
    /// The subject before the ticket tag; default the ticket's subject.
    /// A template string.
    #[serde(default)]
    pub subject: Option<Spanned<String>>,
    /// Files under the rules folder.
    #[serde(default)]
    pub attachments: Vec<Spanned<String>>,
}

/// `create_ticket = { subject = "…", … }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawCreateTicket {
    /// A template string: `"OUVIDORIA - #{{ ticket.id }}"`.
    pub subject: Spanned<String>,
    /// The mail template whose text is the new ticket's first comment,
    /// an internal note.
    pub internal_note: Spanned<String>,
    #[serde(default)]
    pub assignee: Option<Spanned<String>>,
    #[serde(default)]
    pub group: Option<Spanned<String>>,
    #[serde(default)]
    pub cc: Vec<Spanned<String>>,
    #[serde(default)]
    pub status: Option<Spanned<String>>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A string or a list of strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OneOrMany(pub Vec<Spanned<String>>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an address or a list of addresses")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![Spanned::new(0..0, v.to_owned())]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    items.push(item);
                }
                Ok(OneOrMany(items))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The action keys, in the order the documentation lists them.
pub const ACTION_KEYS: &[&str] = &[
    "set_status",
    "set_custom_status",
    "assign",
    "add_tags",
    "remove_tags",
    "set_field",
    "set_due",
    "internal_note",
    "public_reply",
    "send_mail",
    "create_ticket",
    "solve",
    "stop",
];

/// One action as written.
#[derive(Debug, Clone, PartialEq)]
pub enum RawActionKind {
    SetStatus(Spanned<String>),
    SetCustomStatus(Spanned<String>),
    Assign(RawAssign),
    AddTags(Vec<String>),
    RemoveTags(Vec<String>),
    SetField(RawSetField),
    SetDue(Spanned<String>),
    InternalNote(Spanned<String>),
    PublicReply(Spanned<String>),
    SendMail(RawSendMail),
    CreateTicket(RawCreateTicket),
    Solve(bool),
    Stop(bool),
}

/// An entry of `actions`: one action, and whether it is flushed as its
/// own Zendesk update.
#[derive(Debug, Clone, PartialEq)]
pub struct RawAction {
    pub kind: RawActionKind,
    pub commit: bool,
}

impl<'de> Deserialize<'de> for RawAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawAction;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an action table such as { set_status = \"open\" }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawAction, A::Error> {
                let mut kind = None;
                let mut first_key: Option<String> = None;
                let mut commit = false;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "commit" {
                        commit = map.next_value()?;
                        continue;
                    }
                    if let Some(first) = &first_key {
                        return Err(de::Error::custom(format!(
                            "an action entry holds one action, but this one has both `{first}` and \
                             `{key}`: write each as its own entry"
                        )));
                    }
                    first_key = Some(key.clone());
                    kind = Some(match key.as_str() {
                        "set_status" => RawActionKind::SetStatus(map.next_value()?),
                        "set_custom_status" => RawActionKind::SetCustomStatus(map.next_value()?),
                        "assign" => RawActionKind::Assign(map.next_value()?),
                        "add_tags" => RawActionKind::AddTags(map.next_value()?),
                        "remove_tags" => RawActionKind::RemoveTags(map.next_value()?),
                        "set_field" => RawActionKind::SetField(map.next_value()?),
                        "set_due" => RawActionKind::SetDue(map.next_value()?),
                        "internal_note" => RawActionKind::InternalNote(map.next_value()?),
                        "public_reply" => RawActionKind::PublicReply(map.next_value()?),
                        "send_mail" => RawActionKind::SendMail(map.next_value()?),
                        "create_ticket" => RawActionKind::CreateTicket(map.next_value()?),
                        "solve" => RawActionKind::Solve(map.next_value()?),
                        "stop" => RawActionKind::Stop(map.next_value()?),
                        other => {
                            let mut expected = ACTION_KEYS.to_vec();
                            expected.push("commit");
                            return Err(de::Error::unknown_field(other, leak(expected)));
                        }
                    });
                }
                match kind {
                    Some(kind) => Ok(RawAction { kind, commit }),
                    None => Err(de::Error::custom(format!(
                        "an action entry needs one action, one of: {}",
                        ACTION_KEYS.join(", ")
                    ))),
                }
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// `unknown_field` wants a `'static` list; the list is a constant plus one
/// key, built once.
fn leak(keys: Vec<&'static str>) -> &'static [&'static str] {
    static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| keys).as_slice()
}
