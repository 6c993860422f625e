//! `[params]`: the names a rule file uses in many places (an agent, a
//! group, an address), written once at its top and used as `${name}` in
//! any text of the file:
//!
//! ```toml
//! [params]
//! dono = "richard@bematech.com.br"
//!
//! [[rule]]
//! actions = [ { assign = { user = "${dono}" } } ]
//! ```
//!
//! The file is parsed into TOML values with their spans, every text
//! outside `[params]` has its `${name}` replaced, and only then is it read
//! as rules: a problem in a text that held a param is reported at that
//! text, `path:line:col`, like any other. `$${` writes a literal `${`.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The table's name.
pub const TABLE: &str = "params";

/// A problem with a param: where, and what.
pub type ParamProblem = (Range<usize>, String);

/// Replaces `${name}` in every text of `root` outside `[params]` with the
/// param's value. Returns the problems: a param that is not a text, an
/// unknown or unfinished `${`.
pub fn substitute(root: &mut DeTable<'_>) -> Vec<ParamProblem> {
    let mut problems = Vec::new();
    let mut params = BTreeMap::new();
    for (key, value) in root.iter() {
        if key.get_ref() != TABLE {
            continue;
        }
        let DeValue::Table(table) = value.get_ref() else {
            problems.push((
                value.span(),
                "`params` is a table of names and texts: [params]".to_owned(),
            ));
            continue;
        };
        for (name, value) in table.iter() {
            match value.get_ref() {
                DeValue::String(text) => {
                    params.insert(name.get_ref().to_string(), text.to_string());
                }
                other => problems.push((
                    value.span(),
                    format!(
                        "params.{}: a param is a text (in quotes), not {}",
                        name.get_ref(),
                        other.type_str()
                    ),
                )),
            }
        }
    }
    for (key, value) in root.iter_mut() {
        if key.get_ref() != TABLE {
            walk(value, &params, &mut problems);
        }
    }
    problems
}

fn walk(
    value: &mut Spanned<DeValue<'_>>,
    params: &BTreeMap<String, String>,
    problems: &mut Vec<ParamProblem>,
) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(text) => {
            if text.contains('$') {
                match expand(text, params) {
                    Ok(Some(expanded)) => *text = expanded.into(),
                    Ok(None) => {}
                    Err(message) => problems.push((span, message)),
                }
            }
        }
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                walk(item, params, problems);
            }
        }
        DeValue::Table(table) => {
            for (_, item) in table.iter_mut() {
                walk(item, params, problems);
            }
        }
        DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) | DeValue::Datetime(_) => {}
    }
}

/// `text` with its `${name}` replaced; `None` when it holds none.
pub fn expand(text: &str, params: &BTreeMap<String, String>) -> Result<Option<String>, String> {
    if !text.contains("${") {
        return Ok(None);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            // `$${`: a literal `${`.
            out.push_str(&rest[..at]);
            out.push('{');
            rest = &rest[at + 2..];
            continue;
        }
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            return Err(
                "`${` without its `}`: write `${name}` for a param, or `$${` for the characters `${`"
                    .to_owned(),
            );
        };
        let name = after[..end].trim();
        match params.get(name) {
            Some(value) => out.push_str(value),
            None if params.is_empty() => {
                return Err(format!(
                    "unknown param `{name}`: this file has no [params] table (write `$${{` for the characters `${{`)"
                ));
            }
            None => {
                let known: Vec<&str> = params.keys().map(String::as_str).collect();
                return Err(format!(
                    "unknown param `{name}`; [params] has: {}",
                    known.join(", ")
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("dono".to_owned(), "richard@bematech.com.br".to_owned()),
            ("grupo".to_owned(), "Ouvidoria".to_owned()),
        ])
    }

    #[test]
    fn names_are_replaced_anywhere_in_a_text() {
        assert_eq!(
            expand("${dono}", &params()),
            Ok(Some("richard@bematech.com.br".to_owned()))
        );
        assert_eq!(
            expand("grupo ${ grupo } de ${dono}.", &params()),
            Ok(Some("grupo Ouvidoria de richard@bematech.com.br.".to_owned()))
        );
        assert_eq!(expand("sem nada: $5,00", &params()), Ok(None));
        assert_eq!(
            expand("literal $${dono}", &params()),
            Ok(Some("literal ${dono}".to_owned()))
        );
    }

    #[test]
    fn an_unknown_or_unfinished_param_is_an_error_naming_the_known_ones() {
        assert_eq!(
            expand("${done}", &params()),
            Err("unknown param `done`; [params] has: dono, grupo".to_owned())
        );
        assert!(
            expand("${dono", &params())
                .expect_err("an error")
                .starts_with("`${` without its `}`")
        );
        assert!(
            expand("${x}", &BTreeMap::new())
                .expect_err("an error")
                .contains("this file has no [params] table")
        );
    }
}
