//! Help Center articles for templates (`articles`).
//!
//! The engine is pure, so it cannot search the Help Center itself. The
//! callers that plan with live data (the runner, `dry-run`, `rules
//! explain`) prefetch instead, with one rule: **search only when a rule
//! that fires renders a template that reads `articles`.** They plan the
//! event once without articles; if [`wanted`] says a fired rule's template
//! (or inline subject) reads `articles` (found when the templates are
//! loaded, see [`crate::template::Templates::reads`]), they search with the
//! query [`search_query`] builds from the ticket's subject, keep the first
//! [`MAX_ARTICLES`], and plan again. Conditions never read articles, so the
//! second plan fires the same rules; events whose rules render no such
//! template cost no request. `carteiro rules test` takes the articles from
//! a scenario's `articles` fixture through the same decision.
//!
//! A failed search never holds up the mail: the template is rendered with
//! an empty list and a warning is logged. It is not retried: the
//! acknowledgement matters more than its suggestions, and a retry would
//! delay every event queued behind it.

use super::engine::Event;
use super::load::RuleSet;
use super::model::ActionSpec;
use super::plan::Plan;
use crate::helpdesk::{Article, HelpDesk};
use crate::template::ArticleVars;

/// The template variable, and how many articles it holds at most.
pub const VARIABLE: &str = "articles";
pub const MAX_ARTICLES: usize = 3;

/// At most this many words go into a query.
const MAX_WORDS: usize = 8;

/// Words that say nothing about the subject's topic (Portuguese, with and
/// without accents, and a few English ones), compared in lower case.
const STOP_WORDS: &[&str] = &[
    "a", "à", "ao", "aos", "as", "às", "o", "os", "de", "da", "das", "do", "dos", "e", "é", "em", "no", "na",
    "nos", "nas", "num", "numa", "um", "uma", "uns", "umas", "para", "pra", "por", "pelo", "pela", "pelos",
    "pelas", "com", "sem", "que", "se", "ou", "mas", "meu", "minha", "meus", "minhas", "seu", "sua", "seus",
    "suas", "nosso", "nossa", "não", "nao", "sim", "como", "qual", "quais", "quando", "onde", "porque",
    "porquê", "está", "esta", "este", "isso", "isto", "estou", "ser", "ter", "tem", "têm", "foi", "mais",
    "muito", "já", "ja", "me", "eu", "nós", "vocês", "voce", "você", "bom", "boa", "dia", "tarde", "noite",
    "olá", "ola", "oi", "favor", "ajuda", "urgente", "dúvida", "duvida", "problema", "chamado", "ticket",
    "the", "and", "for", "with", "not", "how", "to", "of", "in", "on", "is", "re", "fw", "fwd",
];

/// Prefixes mail clients put before a subject when replying or
/// forwarding, in several languages (`Re:`, `RES:`, `ENC:`, `Fwd:`...).
const PREFIXES: &[&str] = &["re", "res", "fw", "fwd", "enc", "tr", "aw", "wg", "rv", "sv"];

/// The Help Center query for a ticket subject, or `None` when nothing is
/// left to search for. Drops reply and forward prefixes (`Re:`, `ENC:`),
/// bracketed tags (`[#123]`, `[Empresa]`), ticket numbers (`#123`), pure
/// numbers, stop words and one-letter words; keeps the first
/// [`MAX_WORDS`] distinct words, in order. Accents are kept: the search
/// matches with or without them.
pub fn search_query(subject: &str) -> Option<String> {
    let mut text = strip_brackets(subject);
    loop {
        let trimmed = text.trim_start();
        let prefix = trimmed
            .split_once(':')
            .filter(|(head, _)| PREFIXES.iter().any(|p| head.trim().eq_ignore_ascii_case(p)));
        match prefix {
            Some((_, rest)) => text = rest.to_owned(),
            None => break,
        }
    }
    let mut words: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let lower = word.to_lowercase();
        if lower.chars().count() < 2
            || lower.chars().all(|c| c.is_ascii_digit())
            || STOP_WORDS.contains(&lower.as_str())
            || words.contains(&lower)
        {
            continue;
        }
        words.push(lower);
        if words.len() == MAX_WORDS {
            break;
        }
    }
    (!words.is_empty()).then(|| words.join(" "))
}

/// `text` without its `[...]` segments.
fn strip_brackets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth > 0 => {
                depth -= 1;
                out.push(' ');
            }
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether a rule that fired in `plan` renders a template that reads
/// `articles`: in an internal note, a public reply, a mail (body or
/// subject) or a created ticket (note or subject).
pub fn wanted(rules: &RuleSet, plan: &Plan) -> bool {
    let templates = &rules.templates;
    plan.fired
        .iter()
        .filter_map(|name| rules.rule(name))
        .flat_map(|rule| &rule.actions)
        .any(|entry| match &entry.action {
            ActionSpec::InternalNote(name) | ActionSpec::PublicReply(name) => templates.reads(name, VARIABLE),
            ActionSpec::SendMail(spec) => {
                templates.reads(&spec.template, VARIABLE)
                    || spec
                        .subject
                        .as_deref()
                        .is_some_and(|s| templates.inline_reads(s, VARIABLE))
            }
            ActionSpec::CreateTicket(spec) => {
                templates.reads(&spec.internal_note, VARIABLE)
                    || templates.inline_reads(&spec.subject, VARIABLE)
            }
            _ => false,
        })
}

/// The query to search with before planning `event` again, when the plan
/// made without articles wants them (see the module documentation); `None`
/// when it does not, when the event already has its articles, or when the
/// subject leaves nothing to search for.
pub fn prefetch_query(rules: &RuleSet, event: &Event, plan: &Plan, subject: Option<&str>) -> Option<String> {
    if !event.articles.is_empty() || !wanted(rules, plan) {
        return None;
    }
    search_query(subject.unwrap_or_default())
}

/// Searches the Help Center for `query` and keeps the first
/// [`MAX_ARTICLES`]. A failure is logged and gives no articles.
pub async fn search<H: HelpDesk>(
    helpdesk: &H,
    ticket: crate::helpdesk::Id,
    query: &str,
    locale: Option<&str>,
) -> Vec<ArticleVars> {
    match helpdesk.search_articles(query, locale).await {
        Ok(found) => found.iter().take(MAX_ARTICLES).map(vars).collect(),
        Err(e) => {
            tracing::warn!(ticket, query, error = %e, "the Help Center search failed; the mail goes without suggested articles");
            Vec::new()
        }
    }
}

/// An article as templates see it.
pub fn vars(article: &Article) -> ArticleVars {
    ArticleVars {
        title: article.title.clone(),
        html_url: article
            .html_url
            .clone()
            .or_else(|| article.url.clone())
            .unwrap_or_default(),
        snippet: article.snippet.as_deref().map(plain).unwrap_or_default(),
    }
}

/// `html` without its tags (the search marks hits with `<em>`), with
/// runs of whitespace made one space.
fn plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Calendars;
    use crate::rules::load::load_sources;
    use crate::template::{TemplateOptions, Templates};

    #[test]
    fn the_query_keeps_the_topic_words_of_the_subject() {
        assert_eq!(
            search_query("Erro ao calcular a folha").as_deref(),
            Some("erro calcular folha")
        );
        assert_eq!(
            search_query("RE: Res: [#123] Emissão de NFS-e rejeitada #123").as_deref(),
            Some("emissão nfs rejeitada")
        );
        assert_eq!(
            search_query("ENC: Fwd: Dúvida: como configurar o certificado digital A1?").as_deref(),
            Some("configurar certificado digital a1")
        );
        assert_eq!(
            search_query("Re: [#123] Dúvida: como emitir a NFS-e?").as_deref(),
            Some("emitir nfs"),
            "the example of docs/rules.md"
        );
        assert_eq!(
            search_query("Boleto boleto BOLETO 2026").as_deref(),
            Some("boleto")
        );
    }

    #[test]
    fn a_subject_with_no_topic_gives_no_query() {
        assert_eq!(search_query(""), None);
        assert_eq!(search_query("Re: [#42] Olá, bom dia!"), None);
        assert_eq!(search_query("12345"), None);
    }

    #[test]
    fn the_query_has_at_most_eight_words() {
        let query = search_query("um dois três quatro cinco seis sete oito nove dez").unwrap_or_default();
        assert_eq!(query.split(' ').count(), 8, "{query}");
    }

    #[test]
    fn a_search_hit_becomes_plain_template_values() {
        let article: Article = serde_json::from_value(serde_json::json!({
            "id": 7, "title": "Certificado digital",
            "url": "https://x.zendesk.com/api/v2/help_center/articles/7.json",
            "snippet": "Instale o <em>certificado</em>\n digital"
        }))
        .expect("an article");
        let v = vars(&article);
        assert_eq!(v.title, "Certificado digital");
        assert_eq!(
            v.html_url,
            "https://x.zendesk.com/api/v2/help_center/articles/7.json"
        );
        assert_eq!(v.snippet, "Instale o certificado digital");
    }

    fn rules() -> RuleSet {
        let file = r#"
version = 1
[[rule]]
name = "com-artigos"
on = ["mail.received"]
all = [ { field = "mail.kind", op = "is", value = "new" } ]
actions = [ { send_mail = { to = ["requester"], template = "com_artigos" } } ]

[[rule]]
name = "sem-artigos"
on = ["mail.received"]
all = [ { field = "mail.kind", op = "is", value = "reply" } ]
actions = [ { internal_note = "sem_artigos" } ]

[[rule]]
name = "assunto-com-artigos"
on = ["ticket.created"]
actions = [ { send_mail = { to = ["requester"], template = "sem_artigos", subject = "{{ articles | length }} artigos" } } ]
"#;
        let templates = [
            (
                "com_artigos.txt.j2",
                "{% for a in articles %}{{ a.title }}{% endfor %}",
            ),
            ("sem_artigos.txt.j2", "Chamado #{{ ticket.id }}"),
        ];
        let templates = Templates::from_sources(
            std::path::Path::new("templates"),
            templates.iter().map(|(n, s)| ((*n).to_owned(), (*s).to_owned())),
            &TemplateOptions::default(),
        )
        .expect("the test templates load");
        load_sources(
            std::path::Path::new("."),
            &[(std::path::PathBuf::from("a.toml"), file.to_owned())],
            templates,
            &Calendars::new(),
        )
        .expect("the test rules load")
    }

    fn fired(names: &[&str]) -> Plan {
        Plan {
            ticket_id: 1,
            rules_hash: String::new(),
            now: chrono::Utc::now(),
            fired: names.iter().map(|n| (*n).to_owned()).collect(),
            steps: Vec::new(),
            problems: Vec::new(),
            stopped_by: None,
        }
    }

    #[test]
    fn articles_are_searched_only_for_a_fired_rule_whose_template_reads_them() {
        let set = rules();
        assert!(set.templates.reads("com_artigos", VARIABLE));
        assert!(!set.templates.reads("sem_artigos", VARIABLE));
        assert!(wanted(&set, &fired(&["com-artigos"])));
        assert!(
            wanted(&set, &fired(&["assunto-com-artigos"])),
            "an inline subject counts"
        );
        assert!(!wanted(&set, &fired(&["sem-artigos"])));
        assert!(!wanted(&set, &fired(&[])));

        let event = Event::new(crate::rules::engine::EventKind::TicketCreated);
        let plan = fired(&["com-artigos"]);
        assert_eq!(
            prefetch_query(&set, &event, &plan, Some("Re: Certificado vencido")).as_deref(),
            Some("certificado vencido")
        );
        assert_eq!(prefetch_query(&set, &event, &plan, Some("Re: bom dia")), None);
        assert_eq!(
            prefetch_query(&set, &event, &fired(&["sem-artigos"]), Some("Certificado")),
            None
        );
        let mut known = event.clone();
        known.articles = vec![ArticleVars {
            title: "t".to_owned(),
            html_url: String::new(),
            snippet: String::new(),
        }];
        assert_eq!(
            prefetch_query(&set, &known, &plan, Some("Certificado")),
            None,
            "already searched"
        );
    }
}
