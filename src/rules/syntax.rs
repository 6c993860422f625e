//! The shapes of a rule file as written, before any meaning is checked.
//!
//! Every table denies unknown keys, and each value that a later check may
//! reject keeps its position ([`Spanned`]), so every error names the file,
//! line and column. Actions are tables with exactly one action key (and an
//! optional `commit`), read by a hand-written visitor: a typo gets one
//! precise message ("unknown action `set_stauts`, expected one of …")
//! rather than the three vague ones an untagged union gives.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

/// One rule file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// The format's version; only `1` exists.
    #[schemars(with = "i64")]
    pub version: Spanned<i64>,
    /// The IANA zone cron expressions are read in (default
    /// `America/Sao_Paulo`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timezone: Option<Spanned<String>>,
    /// The calendar business durations use (default `br`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub calendar: Option<Spanned<String>>,
    /// Addresses that are carteiro itself: conditions on `mail.from` and the
    /// send-mail guard treat them as the bot.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub identities: Vec<Spanned<String>>,
    /// Names the file uses in many places, written once: `${name}` in any
    /// text of the file is replaced by the param's value (`$${` for the
    /// characters `${`).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RawRule>,
}

/// One `[[rule]]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[schemars(with = "Vec<TriggerName>")]
    pub on: Spanned<Vec<Spanned<String>>>,
    /// For `on = ["schedule"]`: when, as a cron expression with seconds.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cron: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Vec<RawCondition>")]
    pub all: Vec<Spanned<RawCondition>>,
    #[serde(default)]
    #[schemars(with = "Vec<RawCondition>")]
    pub any: Vec<Spanned<RawCondition>>,
    #[serde(default)]
    #[schemars(with = "Vec<RawCondition>")]
    pub not: Vec<Spanned<RawCondition>>,
    #[schemars(with = "Vec<RawAction>")]
    pub actions: Spanned<Vec<Spanned<RawAction>>>,
    /// No later rule runs for this event once this one fired.
    #[serde(default)]
    pub stop: bool,
    /// `"per_ticket"`: fires at most once per ticket, ever.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
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
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub field: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<OpName>")]
    pub op: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<ConditionValue>")]
    pub value: Option<Spanned<toml::Value>>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<RawCondition>>")]
    pub all: Option<Vec<Spanned<RawCondition>>>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<RawCondition>>")]
    pub any: Option<Vec<Spanned<RawCondition>>>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<RawCondition>>")]
    pub not: Option<Vec<Spanned<RawCondition>>>,
}

/// `assign = { user = "…", group = "…" }`.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAssign {
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub user: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub group: Option<Spanned<String>>,
}

/// `set_field = { field = "cnpj", value = "…" }`.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSetField {
    #[schemars(with = "String")]
    pub field: Spanned<String>,
    #[schemars(with = "ConditionValue")]
    pub value: Spanned<toml::Value>,
}

/// `send_mail = { to = […], template = "…" }`.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSendMail {
    /// Addresses; `"requester"` is the ticket's requester.
    pub to: OneOrMany,
    #[serde(default)]
    pub cc: OneOrMany,
    #[schemars(with = "String")]
    pub template: Spanned<String>,
    /// The subject before the ticket tag; default the ticket's subject.
    /// A template string.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub subject: Option<Spanned<String>>,
    /// Files under the rules folder.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub attachments: Vec<Spanned<String>>,
}

/// `send_digest = { to = […], template = "…", subject = "…" }`.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSendDigest {
    /// Addresses of the people who get the digest.
    pub to: OneOrMany,
    /// A mail template under templates/; it reads `digest`.
    #[schemars(with = "String")]
    pub template: Spanned<String>,
    /// A template string; it may read `digest`.
    #[schemars(with = "String")]
    pub subject: Spanned<String>,
    /// How many business days ahead "vence_em_breve" reaches (default 2).
    #[serde(default)]
    pub soon_days: Option<u32>,
}

/// `send_report = { to = […], template = "…", subject = "…", by = { … } }`.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSendReport {
    /// Addresses of the people who get the report.
    pub to: OneOrMany,
    /// A mail template under templates/; it reads `report`.
    #[schemars(with = "String")]
    pub template: Spanned<String>,
    /// A template string; it may read `report`.
    #[schemars(with = "String")]
    pub subject: Spanned<String>,
    /// How many local days the period spans, ending when the tick's day
    /// begins (default 7: the week before a Monday tick).
    #[serde(default)]
    pub days: Option<u32>,
    /// The breakdowns, by name: `{ tipo = "ticket.fields.Tipo", status =
    /// "ticket.status" }` gives `report.by.tipo` and `report.by.status`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub by: BTreeMap<String, Spanned<String>>,
}

/// `create_ticket = { subject = "…", … }`.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCreateTicket {
    /// A template string: `"OUVIDORIA - #{{ ticket.id }}"`.
    #[schemars(with = "String")]
    pub subject: Spanned<String>,
    /// The mail template whose text is the new ticket's first comment,
    /// an internal note.
    #[schemars(with = "String")]
    pub internal_note: Spanned<String>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub assignee: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub group: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub cc: Vec<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
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
    "set_priority",
    "revert",
    "internal_note",
    "public_reply",
    "send_mail",
    "create_ticket",
    "send_digest",
    "send_report",
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
    SetPriority(Spanned<String>),
    Revert(Spanned<String>),
    InternalNote(Spanned<String>),
    PublicReply(Spanned<String>),
    SendMail(RawSendMail),
    CreateTicket(RawCreateTicket),
    SendDigest(RawSendDigest),
    SendReport(RawSendReport),
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
                        "set_priority" => RawActionKind::SetPriority(map.next_value()?),
                        "revert" => RawActionKind::Revert(map.next_value()?),
                        "internal_note" => RawActionKind::InternalNote(map.next_value()?),
                        "public_reply" => RawActionKind::PublicReply(map.next_value()?),
                        "send_mail" => RawActionKind::SendMail(map.next_value()?),
                        "create_ticket" => RawActionKind::CreateTicket(map.next_value()?),
                        "send_digest" => RawActionKind::SendDigest(map.next_value()?),
                        "send_report" => RawActionKind::SendReport(map.next_value()?),
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

/// A condition's `value` in the schema: a string, number, boolean, or a
/// list of them (for `in`).
#[derive(Debug)]
pub struct ConditionValue;

impl JsonSchema for ConditionValue {
    fn schema_name() -> Cow<'static, str> {
        "ConditionValue".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The value compared with: a string, a number, a boolean, or a list of them (for `in`); a duration such as \"7d\" or \"5bd\" for `older_than` and `newer_than`, a regular expression for `matches`; `{ field = \"...\" }`, another field, for `is` and `is_not`.",
            "anyOf": [
                { "type": ["string", "number", "integer", "boolean"] },
                {
                    "type": "object",
                    "properties": { "field": { "type": "string" } },
                    "required": ["field"],
                    "additionalProperties": false
                },
                { "type": "array", "items": { "type": ["string", "number", "integer", "boolean"] } }
            ]
        })
    }
}

impl JsonSchema for OneOrMany {
    fn schema_name() -> Cow<'static, str> {
        "OneOrMany".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An address, or a list of addresses; \"requester\" is the ticket's requester.",
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

impl RawActionKind {
    /// The schema of the value under `key`, from a `match` over the action
    /// keys, so an action added to [`ACTION_KEYS`] without a schema fails
    /// the schema test.
    fn value_schema(key: &str, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(match key {
            "set_status" => json_schema!({
                "type": "string",
                "enum": ["new", "open", "pending", "hold", "solved", "closed"],
                "description": "The built-in status to set."
            }),
            "set_custom_status" => json_schema!({
                "type": "string",
                "description": "A custom status, by its agent label (\"Validação Cliente\")."
            }),
            "assign" => generator.subschema_for::<RawAssign>(),
            "add_tags" | "remove_tags" => json_schema!({ "type": "array", "items": { "type": "string" } }),
            "set_field" => generator.subschema_for::<RawSetField>(),
            "set_due" => json_schema!({
                "type": "string",
                "description": "A duration from now: \"7d\", \"12h\", \"5bd\" (business days), \"48bh\" (business hours)."
            }),
            "set_priority" => json_schema!({
                "type": "string",
                "enum": ["low", "normal", "high", "urgent"],
                "description": "The ticket's priority."
            }),
            "revert" => json_schema!({
                "type": "string",
                "enum": ["ticket.due_at"],
                "description": "Puts back the value the event's change replaced."
            }),
            "internal_note" | "public_reply" => json_schema!({
                "type": "string",
                "description": "A mail template under templates/ (\"ouvidoria_aberta.txt.j2\")."
            }),
            "send_mail" => generator.subschema_for::<RawSendMail>(),
            "create_ticket" => generator.subschema_for::<RawCreateTicket>(),
            "send_digest" => generator.subschema_for::<RawSendDigest>(),
            "send_report" => generator.subschema_for::<RawSendReport>(),
            "solve" | "stop" => json_schema!({ "type": "boolean" }),
            _ => return None,
        })
    }
}

impl JsonSchema for RawAction {
    fn schema_name() -> Cow<'static, str> {
        "Action".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let variants: Vec<serde_json::Value> = ACTION_KEYS
            .iter()
            .map(|key| {
                let value = RawActionKind::value_schema(key, generator)
                    .unwrap_or_else(|| panic!("the action `{key}` has no schema"));
                serde_json::json!({
                    "type": "object",
                    "properties": {
                        *key: value,
                        "commit": {
                            "type": "boolean",
                            "description": "Flush the ticket's update after this action, as its own audit."
                        }
                    },
                    "required": [key],
                    "additionalProperties": false
                })
            })
            .collect();
        json_schema!({
            "description": "One action: a table with exactly one action key, and optionally `commit`.",
            "oneOf": variants
        })
    }
}

/// An operator's name in the schema, from [`Op::ALL`](super::model::Op::ALL).
#[derive(Debug)]
pub struct OpName;

impl JsonSchema for OpName {
    fn schema_name() -> Cow<'static, str> {
        "Operator".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = super::model::Op::ALL.iter().map(|op| op.as_str()).collect();
        json_schema!({ "type": "string", "enum": names })
    }
}

/// An event's name in `on`, from [`Trigger::ALL`](super::model::Trigger::ALL).
#[derive(Debug)]
pub struct TriggerName;

impl JsonSchema for TriggerName {
    fn schema_name() -> Cow<'static, str> {
        "Trigger".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = super::model::Trigger::ALL.iter().map(|t| t.as_str()).collect();
        json_schema!({ "type": "string", "enum": names })
    }
}

/// The JSON Schema of a rule file, for editors and `carteiro rules schema`.
pub fn schema() -> Schema {
    schemars::schema_for!(RawFile)
}
