//! Gathers the layers under the `config` crate and remembers where each
//! value came from.
//!
//! The file is parsed with `toml_edit`, which keeps byte spans, so that a
//! problem can say `path:line:col`. Unknown keys and values of the wrong
//! TOML type are reported here, with their position, and left out of the
//! layer handed to the `config` crate; the rest of the file and the
//! `CARTEIRO__SECTION__KEY` variables are then merged by `config` over the
//! built-in defaults.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use ::config::{ConfigError, Map, Source, Value, ValueKind};
use toml_edit::{Document, Item, TableLike};

use super::problem::{Location, Problem};
use super::schema::{self, ENV_PREFIX, ENV_SEPARATOR, KEYS, KeySpec, SECTIONS};

/// A value from the file that passed the type check.
#[derive(Clone, PartialEq, Eq)]
enum Scalar {
    Text(String),
    Integer(i64),
}

/// The file's known, well-typed values, as a `config` source. `Debug` leaves
/// the values out, since some may be secrets.
#[derive(Clone)]
pub(super) struct FileSource {
    origin: String,
    values: Vec<(String, Scalar)>,
}

impl fmt::Debug for FileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSource")
            .field("origin", &self.origin)
            .field("keys", &self.values.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

impl Source for FileSource {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, ConfigError> {
        Ok(self
            .values
            .iter()
            .map(|(key, scalar)| {
                let kind = match scalar {
                    Scalar::Text(text) => ValueKind::String(text.clone()),
                    Scalar::Integer(number) => ValueKind::I64(*number),
                };
                (key.clone(), Value::new(Some(&self.origin), kind))
            })
            .collect())
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
    pub fn origin(&self, key: &str) -> Option<Location> {
        self.origins.get(key).cloned()
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
    let at =
        |span: Option<std::ops::Range<usize>>| Location::in_file(path, &text, span.map_or(0, |s| s.start));

    let mut values = Vec::new();
    let root = document.as_table();
    for (section, item) in root.iter() {
        let section_at = at(root.key(section).and_then(|k| k.span()));
        if !SECTIONS.contains(&section) {
            let home = KEYS.iter().find(|k| k.name == section);
            let hint = match (home, schema::suggest(section, SECTIONS.iter().copied())) {
                (Some(spec), _) => format!("{section} belongs under [{}]", spec.section),
                (None, Some(near)) => format!("did you mean [{near}]?"),
                (None, None) => format!("known sections: {}", SECTIONS.join(", ")),
            };
            layers.problems.push(Problem::at(
                Some(section_at),
                section,
                format!("unknown section; {hint}"),
            ));
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
        read_section(section, table, &at, layers, &mut values);
    }
    Ok(FileSource {
        origin: path.display().to_string(),
        values,
    })
}

fn read_section(
    section: &str,
    table: &dyn TableLike,
    at: &dyn Fn(Option<std::ops::Range<usize>>) -> Location,
    layers: &mut Layers,
    values: &mut Vec<(String, Scalar)>,
) {
    for (name, item) in table.iter() {
        let location = at(table.key(name).and_then(|k| k.span()));
        let dotted = format!("{section}.{name}");
        let Some(spec) = schema::find(section, name) else {
            let known = KEYS.iter().filter(|k| k.section == section).map(|k| k.name);
            let hint = match schema::suggest(name, known.clone()) {
                Some(near) => format!("did you mean {section}.{near}?"),
                None => format!(
                    "known keys in [{section}]: {}",
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
        let scalar = match item {
            Item::Value(toml_edit::Value::String(s)) if !spec.kind.is_integer() => {
                Some(Scalar::Text(s.value().clone()))
            }
            Item::Value(toml_edit::Value::Integer(n)) if spec.kind.is_integer() => {
                Some(Scalar::Integer(*n.value()))
            }
            _ => None,
        };
        match scalar {
            Some(scalar) => {
                layers.origins.insert(dotted.clone(), location);
                values.push((dotted, scalar));
            }
            None => layers.problems.push(Problem::at(
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

fn read_env(env: &BTreeMap<String, String>, layers: &mut Layers) {
    for (var, value) in env {
        let Some(rest) = strip_prefix_ignore_case(var, ENV_PREFIX) else {
            continue;
        };
        let parts: Vec<String> = rest.split(ENV_SEPARATOR).map(str::to_lowercase).collect();
        let spec = match parts.as_slice() {
            [section, name] => schema::find(section, name),
            _ => None,
        };
        let location = Location::Env { var: var.clone() };
        match spec {
            Some(spec) => {
                layers.origins.insert(spec.path(), location);
                layers.env.insert(var.clone(), value.clone());
            }
            None => {
                let dotted = parts.join(".");
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
    let names: Vec<String> = KEYS.iter().map(KeySpec::env_var).collect();
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
