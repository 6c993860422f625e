//! Gathers the layers under the `config` crate and remembers where each
//! value came from.
//!
//! The file is parsed with `toml_edit`, which keeps byte spans, so that a
//! problem can say `path:line:col`. Unknown keys and values of the wrong
//! TOML type are reported here, with their position, and left out of the
//! layer handed to the `config` crate; the rest of the file and the
//! `CARTEIRO__SECTION__KEY` variables are then merged by `config` over the
//! built-in defaults.
//!
//! An array section (`[[mailbox]]`) becomes one array of tables in the
//! layer, one table per entry even when none of its keys survived, so that
//! entry `i` in the file is entry `i` after the merge. Its keys are located
//! as `mailbox[i].key`, and the entry itself as `mailbox[i]` (its header).
//!
//! A named-table section (`[calendars.NAME]`) becomes one table of tables,
//! and its keys are located as `calendars.NAME.key`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use ::config::{ConfigError, Map, Source, Value, ValueKind};
use toml_edit::{Document, Item, TableLike};

use super::problem::{Location, Problem};
use super::schema::{self, ENV_PREFIX, ENV_SEPARATOR, KEYS, KeySpec, Kind, SECTIONS};

/// A value from the file that passed the type check.
#[derive(Clone, PartialEq, Eq)]
enum Scalar {
    Text(String),
    Integer(i64),
    Bool(bool),
    List(Vec<String>),
}

impl Scalar {
    fn into_value(self, origin: &str) -> Value {
        let kind = match self {
            Scalar::Text(text) => ValueKind::String(text),
            Scalar::Integer(number) => ValueKind::I64(number),
            Scalar::Bool(flag) => ValueKind::Boolean(flag),
            Scalar::List(items) => ValueKind::Array(
                items
                    .into_iter()
                    .map(|item| Value::new(Some(&origin.to_owned()), ValueKind::String(item)))
                    .collect(),
            ),
        };
        Value::new(Some(&origin.to_owned()), kind)
    }
}

/// The known keys of one table and their well-typed values.
type Entries = Vec<(String, Scalar)>;

/// A byte range in the file, when toml_edit knows it.
type Span = Option<std::ops::Range<usize>>;

/// The file's known, well-typed values, as a `config` source. `Debug` leaves
/// the values out, since some may be secrets.
#[derive(Clone)]
pub(super) struct FileSource {
    origin: String,
    /// Keys of ordinary sections, dotted (`zendesk.subdomain`).
    values: Entries,
    /// Array sections: the section's name and each entry's keys (undotted).
    arrays: Vec<(String, Vec<Entries>)>,
    /// Named-table sections: the section's name and each table's name and
    /// keys (undotted).
    tables: Vec<(String, Vec<(String, Entries)>)>,
}

impl fmt::Debug for FileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = |list: &Vec<Entries>| {
            list.iter()
                .map(|entry| entry.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        f.debug_struct("FileSource")
            .field("origin", &self.origin)
            .field("keys", &self.values.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field(
                "arrays",
                &self
                    .arrays
                    .iter()
                    .map(|(section, list)| (section, entries(list)))
                    .collect::<Vec<_>>(),
            )
            .field(
                "tables",
                &self
                    .tables
                    .iter()
                    .map(|(section, named)| (section, named.iter().map(|(n, _)| n).collect::<Vec<_>>()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Source for FileSource {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, ConfigError> {
        let origin = self.origin.as_str();
        let plain = self
            .values
            .iter()
            .map(|(key, scalar)| (key.clone(), scalar.clone().into_value(origin)));
        let arrays = self.arrays.iter().map(|(section, entries)| {
            let tables = entries
                .iter()
                .map(|entry| {
                    let table: Map<String, Value> = entry
                        .iter()
                        .map(|(key, scalar)| (key.clone(), scalar.clone().into_value(origin)))
                        .collect();
                    Value::new(Some(&origin.to_owned()), ValueKind::Table(table))
                })
                .collect();
            (
                section.clone(),
                Value::new(Some(&origin.to_owned()), ValueKind::Array(tables)),
            )
        });
        let tables = self.tables.iter().map(|(section, named)| {
            let children: Map<String, Value> = named
                .iter()
                .map(|(name, entry)| {
                    let table: Map<String, Value> = entry
                        .iter()
                        .map(|(key, scalar)| (key.clone(), scalar.clone().into_value(origin)))
                        .collect();
                    (
                        name.clone(),
                        Value::new(Some(&origin.to_owned()), ValueKind::Table(table)),
                    )
                })
                .collect();
            (
                section.clone(),
                Value::new(Some(&origin.to_owned()), ValueKind::Table(children)),
            )
        });
        Ok(plain.chain(arrays).chain(tables).collect())
    }
}

/// Everything read before the `config` crate merges the layers.
#[derive(Debug)]
pub(super) struct Layers {
    /// The file's usable values, when a file was read.
    pub file: Option<FileSource>,
    /// The `CARTEIRO__…` variables that name known keys, exactly as given.
    pub env: Map<String, String>,
    /// Where each key set in the file or the environment came from (the
    /// environment wins, as it does in the merge).
    pub origins: HashMap<String, Location>,
    /// Problems found while reading: unknown keys, wrong types, unknown
    /// variables.
    pub problems: Vec<Problem>,
}

impl Layers {
    /// Where `key` was set, or `None` when it has its built-in default.
    /// An array entry's key that was not set (`mailbox[1].host`) is located
    /// at its entry (`mailbox[1]`), and an item of a list
    /// (`mail.own_addresses[2]`) at the list when the item has no position
    /// of its own (it came from the environment).
    pub fn origin(&self, key: &str) -> Option<Location> {
        self.origins
            .get(key)
            .or_else(|| {
                let (parent, _) = key.rsplit_once(['.', '['])?;
                self.origins.get(parent)
            })
            .cloned()
    }

    /// Whether `key` was written in the file (and not overridden by the
    /// environment).
    pub fn set_in_file(&self, key: &str) -> bool {
        matches!(self.origins.get(key), Some(Location::File { .. }))
    }
}

/// Reads the file (when given) and the environment. `Err` means the file
/// cannot be used at all (unreadable or not TOML); nothing else is checked
/// then, since every later problem would be noise.
pub(super) fn gather(file: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Layers, Problem> {
    let mut layers = Layers {
        file: None,
        env: Map::new(),
        origins: HashMap::new(),
        problems: Vec::new(),
    };
    if let Some(path) = file {
        layers.file = Some(read_file(path, &mut layers)?);
    }
    read_env(env, &mut layers);
    Ok(layers)
}

fn read_file(path: &Path, layers: &mut Layers) -> Result<FileSource, Problem> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Problem::general(
            Location::WholeFile {
                path: path.to_path_buf(),
            },
            format!("cannot read the configuration file: {e}"),
        )
    })?;
    let document = Document::parse(text.as_str()).map_err(|e| {
        let offset = e.span().map_or(0, |span| span.start);
        let message = e.message().trim().replace('\n', "; ");
        Problem::general(
            Location::in_file(path, &text, offset),
            format!("invalid TOML: {message}"),
        )
    })?;
    let at = |span: Span| Location::in_file(path, &text, span.map_or(0, |s| s.start));

    let mut values = Vec::new();
    let mut arrays = Vec::new();
    let mut named_tables = Vec::new();
    let root = document.as_table();
    for (section, item) in root.iter() {
        let section_at = at(root.key(section).and_then(|k| k.span()));
        if !SECTIONS.contains(&section) {
            let home = KEYS.iter().find(|k| k.name == section);
            let hint = match (home, schema::suggest(section, SECTIONS.iter().copied())) {
                (Some(spec), _) => format!("{section} belongs under {}", schema::header(spec.section)),
                (None, Some(near)) => format!("did you mean {}?", schema::header(near)),
                (None, None) => format!("known sections: {}", SECTIONS.join(", ")),
            };
            layers.problems.push(Problem::at(
                Some(section_at),
                section,
                format!("unknown section; {hint}"),
            ));
            continue;
        }
        if schema::is_array_section(section) {
            let Some(tables) = entries_of(item) else {
                layers.problems.push(Problem::at(
                    Some(section_at),
                    section,
                    format!(
                        "expected an array of tables ([[{section}]], once per entry); got {}",
                        article(item.type_name())
                    ),
                ));
                continue;
            };
            let mut entries = Vec::new();
            for (index, (table, span)) in tables.into_iter().enumerate() {
                let prefix = format!("{section}[{index}]");
                layers.origins.insert(prefix.clone(), at(span));
                let mut entry = Vec::new();
                read_section(section, &prefix, table, &at, layers, &mut entry);
                entries.push(entry);
            }
            arrays.push((section.to_owned(), entries));
            continue;
        }
        if schema::is_table_section(section) {
            if let Some(named) = read_named_tables(section, section_at, item, &at, layers) {
                named_tables.push((section.to_owned(), named));
            }
            continue;
        }
        let Some(table) = item.as_table_like() else {
            layers.problems.push(Problem::at(
                Some(section_at),
                section,
                format!(
                    "expected a table ([{section}]); got {}",
                    article(item.type_name())
                ),
            ));
            continue;
        };
        let mut entries = Vec::new();
        read_section(section, section, table, &at, layers, &mut entries);
        values.extend(
            entries
                .into_iter()
                .map(|(name, scalar)| (format!("{section}.{name}"), scalar)),
        );
    }
    Ok(FileSource {
        origin: path.display().to_string(),
        values,
        arrays,
        tables: named_tables,
    })
}

/// The longest name of a named table (`[calendars.NAME]`).
const MAX_TABLE_NAME: usize = 64;

/// The tables of a named-table section (`[calendars.br]`, `[calendars.os]`),
/// each with its name and its keys. Problems name them `calendars.br.key`.
/// `None` when the section is not a table at all.
fn read_named_tables(
    section: &str,
    section_at: Location,
    item: &Item,
    at: &dyn Fn(Span) -> Location,
    layers: &mut Layers,
) -> Option<Vec<(String, Entries)>> {
    let Some(parent) = item.as_table_like() else {
        layers.problems.push(Problem::at(
            Some(section_at),
            section,
            format!(
                "expected named tables ([{section}.NAME], one per entry); got {}",
                article(item.type_name())
            ),
        ));
        return None;
    };
    let mut named = Vec::new();
    for (name, child) in parent.iter() {
        let prefix = format!("{section}.{name}");
        let location = at(parent.key(name).and_then(|k| k.span()));
        let valid_name = (1..=MAX_TABLE_NAME).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid_name {
            layers.problems.push(Problem::at(
                Some(location),
                prefix,
                format!(
                    "expected a name of up to {MAX_TABLE_NAME} lowercase letters, digits, '_' or '-', \
                     e.g. [{section}.suporte]; got {name:?}"
                ),
            ));
            continue;
        }
        let Some(table) = child.as_table_like() else {
            layers.problems.push(Problem::at(
                Some(location),
                prefix.clone(),
                format!(
                    "expected a table ([{prefix}]) of {} keys; got {}",
                    section,
                    article(child.type_name())
                ),
            ));
            continue;
        };
        layers.origins.insert(prefix.clone(), location);
        let mut entries = Vec::new();
        read_section(section, &prefix, table, at, layers, &mut entries);
        named.push((name.to_owned(), entries));
    }
    Some(named)
}

/// The entries of an array section with each one's position: `[[mailbox]]`
/// tables, or an inline `mailbox = [{ … }, …]`. `None` when it is neither.
fn entries_of(item: &Item) -> Option<Vec<(&dyn TableLike, Span)>> {
    match item {
        Item::ArrayOfTables(tables) => Some(
            tables
                .iter()
                .map(|table| (table as &dyn TableLike, table.span()))
                .collect(),
        ),
        Item::Value(toml_edit::Value::Array(array)) => array
            .iter()
            .map(|value| {
                value
                    .as_inline_table()
                    .map(|table| (table as &dyn TableLike, value.span()))
            })
            .collect(),
        _ => None,
    }
}

/// Reads the keys of one table of `section` (a section, or an entry of an
/// array section). Problems and origins name keys `{prefix}.{name}`; the
/// usable values go to `entries` under their bare names.
fn read_section(
    section: &str,
    prefix: &str,
    table: &dyn TableLike,
    at: &dyn Fn(Span) -> Location,
    layers: &mut Layers,
    entries: &mut Entries,
) {
    for (name, item) in table.iter() {
        let location = at(table.key(name).and_then(|k| k.span()));
        let dotted = format!("{prefix}.{name}");
        let Some(spec) = schema::find(section, name) else {
            let known = KEYS.iter().filter(|k| k.section == section).map(|k| k.name);
            let hint = match schema::suggest(name, known.clone()) {
                Some(near) => format!("did you mean {prefix}.{near}?"),
                None => format!(
                    "known keys in {}: {}",
                    schema::header(section),
                    known.collect::<Vec<_>>().join(", ")
                ),
            };
            layers.problems.push(Problem::at(
                Some(location),
                dotted,
                format!("unknown key; {hint}"),
            ));
            continue;
        };
        match scalar(spec.kind, item, &dotted, at, layers) {
            Typed::Value(scalar) => {
                layers.origins.insert(dotted, location);
                entries.push((name.to_owned(), scalar));
            }
            Typed::Reported => {}
            Typed::Wrong => layers.problems.push(Problem::at(
                Some(location),
                dotted,
                format!(
                    "expected {}; got {}",
                    spec.kind.expected(),
                    article(item.type_name())
                ),
            )),
        }
    }
}

/// What the type check made of a value.
enum Typed {
    /// The right TOML type.
    Value(Scalar),
    /// Wrong, and the problem is already reported (an item of a list).
    Reported,
    /// The wrong TOML type altogether.
    Wrong,
}

/// The value of a key of `kind`, when the item has the TOML type it needs.
/// A list's items are located as `key[i]`; an item that is not a string is
/// its own problem, and then the list is left out, so that the items'
/// indexes stay those of the file.
fn scalar(
    kind: Kind,
    item: &Item,
    dotted: &str,
    at: &dyn Fn(Span) -> Location,
    layers: &mut Layers,
) -> Typed {
    let Item::Value(value) = item else {
        return Typed::Wrong;
    };
    match (kind, value) {
        (Kind::Count | Kind::Size, toml_edit::Value::Integer(n)) => Typed::Value(Scalar::Integer(*n.value())),
        (Kind::Flag, toml_edit::Value::Boolean(b)) => Typed::Value(Scalar::Bool(*b.value())),
        (
            Kind::Text | Kind::Secret | Kind::SecretFile | Kind::Duration | Kind::Size,
            toml_edit::Value::String(s),
        ) => Typed::Value(Scalar::Text(s.value().clone())),
        (Kind::List, toml_edit::Value::Array(array)) => {
            let mut items = Vec::new();
            let mut whole = true;
            for (index, element) in array.iter().enumerate() {
                let key = format!("{dotted}[{index}]");
                match element {
                    toml_edit::Value::String(s) => {
                        layers.origins.insert(key, at(element.span()));
                        items.push(s.value().clone());
                    }
                    other => {
                        whole = false;
                        layers.problems.push(Problem::at(
                            Some(at(other.span())),
                            key,
                            format!("expected a string; got {}", article(other.type_name())),
                        ));
                    }
                }
            }
            if whole {
                Typed::Value(Scalar::List(items))
            } else {
                Typed::Reported
            }
        }
        _ => Typed::Wrong,
    }
}

fn read_env(env: &BTreeMap<String, String>, layers: &mut Layers) {
    for (var, value) in env {
        let Some(rest) = strip_prefix_ignore_case(var, ENV_PREFIX) else {
            continue;
        };
        let parts: Vec<String> = rest.split(ENV_SEPARATOR).map(str::to_lowercase).collect();
        let location = Location::Env { var: var.clone() };
        let dotted = parts.join(".");
        if let Some(section) = parts.first().filter(|s| schema::is_array_section(s)) {
            layers.problems.push(Problem::at(
                Some(location),
                dotted,
                format!(
                    "unknown key; {} entries are set in the configuration file only (a password with \
                     password_env or password_file)",
                    schema::header(section)
                ),
            ));
            continue;
        }
        if let Some(section) = parts.first().filter(|s| schema::is_table_section(s)) {
            layers.problems.push(Problem::at(
                Some(location),
                dotted,
                format!(
                    "unknown key; {} tables are set in the configuration file only",
                    schema::header(section)
                ),
            ));
            continue;
        }
        let spec = match parts.as_slice() {
            [section, name] => schema::find(section, name),
            _ => None,
        };
        match spec {
            Some(spec) => {
                layers.origins.insert(spec.path(), location);
                layers.env.insert(var.clone(), value.clone());
            }
            None => {
                let hint = match nearest_var(var) {
                    Some(near) => format!("did you mean {near}?"),
                    None => {
                        format!("expected {ENV_PREFIX}SECTION__KEY naming a key from config/example.toml")
                    }
                };
                layers.problems.push(Problem::at(
                    Some(location),
                    dotted,
                    format!("unknown key; {hint}"),
                ));
            }
        }
    }
}

fn nearest_var(var: &str) -> Option<String> {
    let names: Vec<String> = KEYS.iter().filter_map(KeySpec::env_var).collect();
    schema::suggest(&var.to_uppercase(), names.iter().map(String::as_str)).map(str::to_owned)
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// `"an integer"`, `"a string"`: TOML type names with their article.
fn article(type_name: &str) -> String {
    let vowel = type_name.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {type_name}", if vowel { "an" } else { "a" })
}

/// The default file, `config/default.toml` under the working directory.
pub(super) fn default_file_path() -> PathBuf {
    PathBuf::from("config").join("default.toml")
}
