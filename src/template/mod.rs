//! Mail templates: the text (and HTML) of every mail carteiro writes.
//!
//! In the data flow they sit just before composition: a rule or
//! `carteiro mail send` picks a template by name, [`Templates::render`]
//! fills it from a [`TemplateContext`], and `outbound::compose` wraps the
//! result into a MIME mail.
//!
//! A template is a pair of files in the templates folder (`mail.templates`,
//! e.g. `rules/templates/`): `NAME.txt.j2` for the text part and, optionally,
//! `NAME.html.j2` for an HTML alternative. Only a text file means a text-only
//! mail; an HTML file without its text file is a problem.
//!
//! The engine is MiniJinja, held on a short leash:
//! - Templates are registered explicitly, file by file, when the folder is
//!   loaded. No loader is installed (MiniJinja 3 has no `loader` cargo
//!   feature any more; the loader is simply never set), and the
//!   `multi_template` feature is off, so a template cannot reach any other
//!   file: no `include`, `import` or `extends`.
//! - Strict undefined: printing, testing or iterating a name the context
//!   lacks is an error. [`Templates::check`] renders every template against
//!   the full sample context, so a typo is found by `carteiro check`, with
//!   the file and line, not when the mail is due.
//! - HTML auto-escape for `.html.j2` files only; text parts are left as
//!   written.
//! - A fuel limit per render ([`TemplateOptions::fuel`]), so a runaway loop
//!   stops with an error instead of hanging the daemon.
//! - Customer text (subject, body, names) is only ever a value in the
//!   context, never template source, so `{{ 7*7 }}` in a mail body is
//!   printed as written.
//!
//! The variables are documented in [`context`], the Brazilian filters
//! (`data_extenso`, `data_hora`, `cnpj`) in [`filters`].

pub mod context;
pub mod filters;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

pub use context::{
    ArticleVars, DigestTicketVars, DigestVars, MailVars, ReportRow, ReportVars, RequesterVars, SlaVars,
    TemplateContext, TicketVars, instant,
};

/// The suffix of a text template.
pub const TEXT_SUFFIX: &str = ".txt.j2";
/// The suffix of an HTML template.
pub const HTML_SUFFIX: &str = ".html.j2";

/// The fuel one render may burn unless configured otherwise: ample for a
/// mail that lists a few hundred comments, small enough that a runaway loop
/// stops in milliseconds.
pub const DEFAULT_FUEL: u64 = 200_000;

/// How templates are set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateOptions {
    /// The zone `data_hora` and `data_extenso` show instants in when the
    /// template names none (the calendar's zone).
    pub time_zone: Tz,
    /// The fuel of one render (see MiniJinja's `Environment::set_fuel`).
    pub fuel: u64,
}

impl Default for TemplateOptions {
    fn default() -> TemplateOptions {
        TemplateOptions {
            time_zone: chrono_tz::America::Sao_Paulo,
            fuel: DEFAULT_FUEL,
        }
    }
}

/// Something wrong with a template, located like configuration problems:
/// `rules/templates/confirmacao.txt.j2:3: undefined value: ticket.nome`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    /// The template's file (or the folder, for a problem with no one file).
    pub file: PathBuf,
    /// The line, from 1, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Why a render failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// No `NAME.txt.j2` in the folder.
    #[error("no mail template {name:?}: expected {name}{TEXT_SUFFIX} in {}", dir.display())]
    NotFound { name: String, dir: PathBuf },
    /// The template failed (undefined value, bad filter input, out of fuel).
    #[error("{0}")]
    Render(TemplateProblem),
}

/// A rendered template: the text part and, when the template has one, the
/// HTML part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub html: Option<String>,
}

/// The templates of one folder, parsed and ready to render. Cheap to share
/// behind an `Arc`; build a new one to reload.
pub struct Templates {
    env: Environment<'static>,
    dir: PathBuf,
    /// Mail template names, each with whether it has an HTML part.
    mails: BTreeMap<String, bool>,
    /// The top-level variables each mail template (text or HTML part)
    /// reads, found when it is loaded, so a caller knows before a render
    /// whether it needs an expensive one such as `articles`.
    reads: BTreeMap<String, BTreeSet<String>>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("dir", &self.dir)
            .field("mails", &self.mails)
            .finish()
    }
}

impl Templates {
    /// Loads every `*.txt.j2` and `*.html.j2` file directly in `dir` (other
    /// files, such as attachments, are left alone). Returns every problem:
    /// unreadable files, syntax errors with their line, bad names, an HTML
    /// template without its text template.
    pub fn load_dir(dir: &Path, options: &TemplateOptions) -> Result<Templates, Vec<TemplateProblem>> {
        let general = |message: String| TemplateProblem {
            file: dir.to_path_buf(),
            line: None,
            message,
        };
        let entries = std::fs::read_dir(dir)
            .map_err(|e| vec![general(format!("cannot read the templates folder: {e}"))])?;
        let mut sources = Vec::new();
        let mut problems = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    problems.push(general(format!("cannot list the templates folder: {e}")));
                    continue;
                }
            };
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if !file_name.ends_with(".j2") || !entry.path().is_file() {
                continue;
            }
            match std::fs::read(entry.path()) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => sources.push((file_name, text)),
                    Err(_) => problems.push(TemplateProblem {
                        file: entry.path(),
                        line: None,
                        message: "not UTF-8; save the template as UTF-8".to_owned(),
                    }),
                },
                Err(e) => problems.push(TemplateProblem {
                    file: entry.path(),
                    line: None,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
        match Templates::from_sources(dir, sources, options) {
            Ok(templates) if problems.is_empty() => Ok(templates),
            Ok(_) => Err(problems),
            Err(mut more) => {
                problems.append(&mut more);
                Err(problems)
            }
        }
    }

    /// Templates from `(file name, source)` pairs, as if read from `dir`
    /// (which only names files in problems).
    pub fn from_sources(
        dir: &Path,
        sources: impl IntoIterator<Item = (String, String)>,
        options: &TemplateOptions,
    ) -> Result<Templates, Vec<TemplateProblem>> {
        let mut env = environment(options);
        let mut problems = Vec::new();
        let mut texts = BTreeMap::new();
        let mut htmls = Vec::new();
        let mut sources: Vec<(String, String)> = sources.into_iter().collect();
        sources.sort();
        for (file_name, source) in sources {
            let file = dir.join(&file_name);
            let (base, html) = if let Some(base) = file_name.strip_suffix(TEXT_SUFFIX) {
                (base.to_owned(), false)
            } else if let Some(base) = file_name.strip_suffix(HTML_SUFFIX) {
                (base.to_owned(), true)
            } else {
                problems.push(TemplateProblem {
                    file,
                    line: None,
                    message: format!(
                        "a template is NAME{TEXT_SUFFIX} (the text part) or NAME{HTML_SUFFIX} (its HTML \
                         alternative); rename it"
                    ),
                });
                continue;
            };
            if !valid_name(&base) {
                problems.push(TemplateProblem {
                    file,
                    line: None,
                    message: format!("template names are letters, digits, '-' and '_'; got {base:?}"),
                });
                continue;
            }
            if let Err(e) = env.add_template_owned(file_name.clone(), source) {
                problems.push(problem_from(dir, &file_name, &e, None));
                continue;
            }
            if html {
                htmls.push((base, file));
            } else {
                texts.insert(base, false);
            }
        }
        for (base, file) in htmls {
            match texts.get_mut(&base) {
                Some(has_html) => *has_html = true,
                None => problems.push(TemplateProblem {
                    file,
                    line: None,
                    message: format!(
                        "an HTML template needs its text part too: add {base}{TEXT_SUFFIX} (mail clients \
                         that show no HTML read that one)"
                    ),
                }),
            }
        }
        if problems.is_empty() {
            let mut reads: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (name, has_html) in &texts {
                let mut files = vec![format!("{name}{TEXT_SUFFIX}")];
                if *has_html {
                    files.push(format!("{name}{HTML_SUFFIX}"));
                }
                let entry = reads.entry(name.clone()).or_default();
                for file in files {
                    if let Ok(template) = env.get_template(&file) {
                        entry.extend(template.undeclared_variables(false));
                    }
                }
            }
            Ok(Templates {
                env,
                dir: dir.to_path_buf(),
                mails: texts,
                reads,
            })
        } else {
            Err(problems)
        }
    }

    /// The folder the templates came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The mail template names, sorted (`confirmacao` for
    /// `confirmacao.txt.j2`).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.mails.keys().map(String::as_str)
    }

    /// Whether a mail template `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.mails.contains_key(name)
    }

    /// Whether the mail template `name` (either part) reads the top-level
    /// variable `variable`. Read from the template's source when it was
    /// loaded: a variable reached only through an `{% include %}` is not
    /// seen (the shipped templates include nothing).
    pub fn reads(&self, name: &str, variable: &str) -> bool {
        self.reads.get(name).is_some_and(|vars| vars.contains(variable))
    }

    /// Whether the source of mail template `name` (either part) mentions
    /// `word` anywhere, e.g. an attribute such as `agent_url`.
    pub fn mentions(&self, name: &str, word: &str) -> bool {
        let Some(&has_html) = self.mails.get(name) else {
            return false;
        };
        let mut files = vec![format!("{name}{TEXT_SUFFIX}")];
        if has_html {
            files.push(format!("{name}{HTML_SUFFIX}"));
        }
        files
            .iter()
            .filter_map(|file| self.env.get_template(file).ok())
            .any(|template| template.source().contains(word))
    }

    /// Whether the one-line template `source` reads the top-level variable
    /// `variable`.
    pub fn inline_reads(&self, source: &str, variable: &str) -> bool {
        self.env
            .template_from_str(source)
            .is_ok_and(|t| t.undeclared_variables(false).contains(variable))
    }

    /// Renders the mail template `name` with `context`.
    pub fn render(&self, name: &str, context: &TemplateContext) -> Result<Rendered, TemplateError> {
        self.render_value(name, &context.to_value())
    }

    /// Renders the template `name` against a context built by the caller
    /// (a digest's, [`TemplateContext::digest_value`]).
    pub fn render_value(&self, name: &str, context: &Value) -> Result<Rendered, TemplateError> {
        let Some(&has_html) = self.mails.get(name) else {
            return Err(TemplateError::NotFound {
                name: name.to_owned(),
                dir: self.dir.clone(),
            });
        };
        let text = self.render_file(&format!("{name}{TEXT_SUFFIX}"), context)?;
        let html = if has_html {
            Some(self.render_file(&format!("{name}{HTML_SUFFIX}"), context)?)
        } else {
            None
        };
        Ok(Rendered { text, html })
    }

    fn render_file(&self, file_name: &str, context: &Value) -> Result<String, TemplateError> {
        let template = self
            .env
            .get_template(file_name)
            .map_err(|e| TemplateError::Render(problem_from(&self.dir, file_name, &e, None)))?;
        template.render(context).map_err(|e| {
            TemplateError::Render(problem_from(&self.dir, file_name, &e, Some(template.source())))
        })
    }

    /// A one-line template against a context built by the caller.
    pub fn render_inline_value(&self, source: &str, context: &Value) -> Result<String, String> {
        self.env.render_str(source, context).map_err(|e| describe(&e))
    }

    /// Renders a one-line template written inside a rule (a subject such
    /// as `"OUVIDORIA - #{{ ticket.id }}"`). It is text, never HTML.
    pub fn render_inline(&self, source: &str, context: &TemplateContext) -> Result<String, String> {
        self.env
            .render_str(source, context.to_value())
            .map_err(|e| describe(&e))
    }

    /// Whether a one-line template parses and renders against the sample
    /// context; the message says what is wrong.
    pub fn check_inline(&self, source: &str) -> Result<(), String> {
        self.env
            .render_str(source, TemplateContext::sample_value())
            .map(drop)
            .map_err(|e| describe(&e))
    }

    /// Renders every template against [`TemplateContext::sample`] and
    /// returns what failed, each with its file and line.
    pub fn check(&self) -> Vec<TemplateProblem> {
        let sample = TemplateContext::sample_value();
        let mut problems = Vec::new();
        for (name, has_html) in &self.mails {
            let mut files = vec![format!("{name}{TEXT_SUFFIX}")];
            if *has_html {
                files.push(format!("{name}{HTML_SUFFIX}"));
            }
            for file in files {
                if let Err(TemplateError::Render(problem)) = self.render_file(&file, &sample) {
                    problems.push(problem);
                }
            }
        }
        problems
    }
}

/// Loads `dir` and renders every template against the sample context: all
/// the problems `carteiro check` reports for the templates folder.
pub fn check_dir(dir: &Path, options: &TemplateOptions) -> Vec<TemplateProblem> {
    match Templates::load_dir(dir, options) {
        Ok(templates) => templates.check(),
        Err(problems) => problems,
    }
}

/// A MiniJinja error in one line, for inline templates.
fn describe(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

/// The environment every template folder gets.
fn environment(options: &TemplateOptions) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // MiniJinja names the undefined expression (`ticket.numero` is
    // undefined) only in debug mode, which it turns on for debug builds
    // alone. An admin runs the release binary: give it the same message.
    env.set_debug(true);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(HTML_SUFFIX) {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_fuel(Some(options.fuel));
    // Block tags on their own line leave no blank line behind, which is
    // what a text mail needs.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    let zone = options.time_zone;
    env.add_filter("data_extenso", move |value: &Value, tz: Option<&str>| {
        filters::data_extenso(value, tz, zone)
    });
    env.add_filter("data_hora", move |value: &Value, tz: Option<&str>| {
        filters::data_hora(value, tz, zone)
    });
    env.add_filter("cnpj", |value: &Value| filters::cnpj(value));
    // `{% if ticket.fields.CNPJ is cnpj_valido %}`: the rules' `cnpj_valid`.
    env.add_test("cnpj_valido", |value: &Value| {
        value.as_str().is_some_and(crate::rules::cnpj::is_valid)
    });
    env
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A MiniJinja error as a located problem. `source` (the template's text)
/// lets the message quote the failing expression.
fn problem_from(
    dir: &Path,
    file_name: &str,
    error: &minijinja::Error,
    source: Option<&str>,
) -> TemplateProblem {
    let file = dir.join(error.name().unwrap_or(file_name));
    let mut message = error.kind().to_string();
    if let Some(detail) = error.detail() {
        message = format!("{message}: {detail}");
    }
    let quoted = source
        .zip(error.range())
        .and_then(|(source, range)| source.get(range))
        .map(|text| text.trim())
        .filter(|text| !text.is_empty() && !text.contains('\n'))
        .filter(|text| !message.contains(&format!("`{text}`")));
    if let Some(text) = quoted {
        message = format!("{message} in `{text}`");
    }
    if error.kind() == minijinja::ErrorKind::UndefinedError {
        message.push_str(" (see the documented template variables; a misspelt name is the usual cause)");
    }
    if error.kind() == minijinja::ErrorKind::OutOfFuel {
        message.push_str(" (the template does too much work: a loop that never ends, or one far too long)");
    }
    TemplateProblem {
        file,
        line: error.line(),
        message,
    }
}

#[cfg(test)]
mod tests;
