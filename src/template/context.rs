//! What a mail template may use. Every variable below exists in every
//! render, so `carteiro check` renders each template against
//! [`TemplateContext::sample`] and a misspelt name fails there, not when
//! the mail is due.
//!
//! | variable | meaning | example |
//! |---|---|---|
//! | `ticket.id` | the ticket number | `123` |
//! | `ticket.subject` | its subject (customer text) | `Impressora parada` |
//! | `ticket.description` | its first comment (customer text), or empty | `A impressora não liga.` |
//! | `ticket.status` | `new`, `open`, `pending`, `hold`, `solved`, `closed` | `open` |
//! | `ticket.created_at` | when it was opened (RFC 3339, UTC) | `2019-05-28T17:30:00Z` |
//! | `ticket.due_at` | its due date (RFC 3339), or `none` | `2019-06-04T20:00:00Z` |
//! | `ticket.agent_url` | the page where an agent opens it, or `none`; agents only: a rule refuses it in a mail to the requester or a public reply | `https://empresa.zendesk.com/agent/tickets/123` |
//! | `ticket.fields` | custom fields by name, values as text | `ticket.fields.cnpj` |
//! | `requester.name` | the customer's name | `Maria da Conceição` |
//! | `requester.email` | the customer's address | `maria@cliente.com.br` |
//! | `requester.organization` | the customer's organisation, or `none` | `Padaria São João` |
//! | `mail.subject` | the subject of the mail being answered (customer text) | `Impressora parada` |
//! | `mail.body` | its text (customer text) | `Bom dia, …` |
//! | `mail.from` | its sender's address | `maria@cliente.com.br` |
//! | `mail.received_at` | when it arrived (RFC 3339) | `2019-05-28T17:29:12Z` |
//! | `vars` | values the rule or command passes, by name, as text | `vars.setor` |
//! | `articles` | Help Center articles found from the ticket's subject (at most 3, maybe none), each with `title`, `html_url` and `snippet` (plain text) | `{% for a in articles %}{{ a.title }}: {{ a.html_url }}{% endfor %}` |
//!
//! Instants are RFC 3339 strings: show them with the `data_hora` and
//! `data_extenso` filters. Customer text is a value, never template source:
//! `{{ mail.body }}` prints `{{ 7*7 }}` as those characters, and in
//! `.html.j2` templates it is HTML-escaped.
//!
//! For a mail that answers no mail (a digest, a survey), the caller fills
//! `mail` with empty strings; a template that must work for both tests
//! `{% if mail.subject %}`.
//!
//! `vars` and `ticket.fields` differ per rule and per Zendesk account, so
//! the sample answers any name in them with a placeholder (`⟨vars.setor⟩`);
//! a real render still fails on a name its context lacks.
//!
//! `articles` costs a Help Center search, so it is filled only for renders
//! of templates that mention it (see `rules::articles`); elsewhere it is an
//! empty list.

use std::collections::BTreeMap;

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use minijinja::context;
use minijinja::value::{Enumerator, Object, Value};

/// `digest`: what a `send_digest` mail lists. See `docs/rules.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestVars {
    /// When the tick ran (RFC 3339).
    pub now: String,
    /// The calendar's local day of `now` (`2026-11-23`).
    pub today: String,
    /// How many business days ahead `vence_em_breve` reaches.
    pub soon_days: u32,
    /// The tickets, in the order of their due dates.
    pub tickets: Vec<DigestTicketVars>,
    /// Tickets per bucket; every bucket is present.
    pub counts: BTreeMap<String, usize>,
    pub total: usize,
}

/// One ticket of a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestTicketVars {
    pub id: u64,
    pub subject: String,
    pub status: String,
    /// The group's name, or `none`.
    pub group: Option<String>,
    /// The assignee's name, or `none`.
    pub assignee: Option<String>,
    /// RFC 3339.
    pub due_at: String,
    /// The due date's local day (`2026-11-24`).
    pub due_day: String,
    /// `vencido_sem_responsavel`, `vencido`, `vence_hoje` or `vence_em_breve`.
    pub bucket: String,
    pub agent_url: Option<String>,
}

impl DigestVars {
    pub fn to_value(&self) -> Value {
        let tickets: Vec<Value> = self
            .tickets
            .iter()
            .map(|t| {
                context! {
                    id => t.id,
                    subject => t.subject.clone(),
                    status => t.status.clone(),
                    group => t.group.clone(),
                    assignee => t.assignee.clone(),
                    due_at => t.due_at.clone(),
                    due_day => t.due_day.clone(),
                    bucket => t.bucket.clone(),
                    agent_url => t.agent_url.clone(),
                }
            })
            .collect();
        context! {
            now => self.now.clone(),
            today => self.today.clone(),
            soon_days => self.soon_days,
            tickets => tickets,
            counts => Value::from(self.counts.clone()),
            total => self.total,
        }
    }

    /// A digest with one ticket in each bucket, for `carteiro check`.
    pub fn sample() -> DigestVars {
        let ticket = |id: u64, bucket: &str, assignee: Option<&str>, due_at: &str| DigestTicketVars {
            id,
            subject: "Reclamação sobre atendimento".to_owned(),
            status: "open".to_owned(),
            group: Some("Suporte".to_owned()),
            assignee: assignee.map(str::to_owned),
            due_at: due_at.to_owned(),
            due_day: due_at[..10].to_owned(),
            bucket: bucket.to_owned(),
            agent_url: Some(format!("https://empresa.zendesk.com/agent/tickets/{id}")),
        };
        let tickets = vec![
            ticket(120, "vencido_sem_responsavel", None, "2019-06-03T20:00:00Z"),
            ticket(121, "vencido", Some("Cibele Souza"), "2019-06-03T21:00:00Z"),
            ticket(122, "vence_hoje", Some("Cibele Souza"), "2019-06-04T20:00:00Z"),
            ticket(123, "vence_em_breve", None, "2019-06-06T20:00:00Z"),
        ];
        DigestVars {
            now: "2019-06-04T11:00:00Z".to_owned(),
            today: "2019-06-04".to_owned(),
            soon_days: 2,
            counts: tickets.iter().map(|t| (t.bucket.clone(), 1)).collect(),
            total: tickets.len(),
            tickets,
        }
    }
}

/// `report`: the figures of a `send_report` mail. See `docs/rules.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportVars {
    /// When the tick ran (RFC 3339).
    pub now: String,
    /// The period's first and last local days (`2026-11-16`,
    /// `2026-11-22`), both included.
    pub start: String,
    pub end: String,
    pub days: u32,
    /// Tickets created in the period.
    pub received: usize,
    /// Tickets solved in the period (solved or closed now).
    pub solved: usize,
    /// Tickets not solved now (new, open, pending, hold), whenever created.
    pub open: usize,
    /// Of `open`, those past their due date.
    pub overdue: usize,
    /// Due dates met by the tickets solved in the period.
    pub sla: SlaVars,
    /// Breakdowns by the action's `by` names.
    pub by: BTreeMap<String, Vec<ReportRow>>,
}

/// Due dates met: `report.sla`, and the same figures on each row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlaVars {
    /// Solved by their due date.
    pub on_time: usize,
    /// Solved after it.
    pub late: usize,
    /// Solved with no due date.
    pub no_due: usize,
}

impl SlaVars {
    /// `on_time` as a whole percentage of `on_time + late`; `None` when
    /// no ticket with a due date was solved.
    pub fn percent(&self) -> Option<u32> {
        let total = self.on_time + self.late;
        (total > 0).then(|| percent(self.on_time, total))
    }

    fn to_value(self) -> Value {
        context! {
            on_time => self.on_time,
            late => self.late,
            no_due => self.no_due,
            percent => self.percent(),
        }
    }
}

/// One value of a breakdown, with the same figures as the whole report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// The field's value as text; `None` when the ticket has none.
    pub value: Option<String>,
    pub received: usize,
    pub solved: usize,
    pub open: usize,
    pub sla: SlaVars,
    /// `received` as a whole percentage of the report's (0 when none
    /// came in): the width of a bar.
    pub share: u32,
}

/// `part` of `whole` as a whole percentage, rounded half up.
fn percent(part: usize, whole: usize) -> u32 {
    if whole == 0 {
        return 0;
    }
    u32::try_from((part * 200 + whole) / (whole * 2)).unwrap_or(100)
}

impl ReportRow {
    /// A row for `value`, its `share` of `received_total` filled in.
    pub fn with_share(mut self, received_total: usize) -> ReportRow {
        self.share = percent(self.received, received_total);
        self
    }

    fn to_value(&self) -> Value {
        context! {
            value => self.value.clone(),
            received => self.received,
            solved => self.solved,
            open => self.open,
            on_time => self.sla.on_time,
            late => self.sla.late,
            no_due => self.sla.no_due,
            percent => self.sla.percent(),
            share => self.share,
        }
    }
}

impl ReportVars {
    pub fn to_value(&self) -> Value {
        self.value(false)
    }

    /// With `any_key`, `by` answers every name with this report's first
    /// breakdown (for `carteiro check`, which knows no rule's names).
    fn value(&self, any_key: bool) -> Value {
        let by: BTreeMap<String, Value> = self
            .by
            .iter()
            .map(|(name, rows)| (name.clone(), rows.iter().map(ReportRow::to_value).collect()))
            .collect();
        let by = match by.values().next() {
            Some(first) if any_key => Value::from_object(AnyBreakdown {
                default: first.clone(),
                entries: by,
            }),
            _ => Value::from(by),
        };
        context! {
            now => self.now.clone(),
            start => self.start.clone(),
            end => self.end.clone(),
            days => self.days,
            received => self.received,
            solved => self.solved,
            open => self.open,
            overdue => self.overdue,
            sla => self.sla.to_value(),
            by => by,
        }
    }

    /// A week with two breakdowns, for `carteiro check`.
    pub fn sample() -> ReportVars {
        let row = |value: Option<&str>,
                   received: usize,
                   solved: usize,
                   open: usize,
                   on_time: usize,
                   late: usize| {
            ReportRow {
                value: value.map(str::to_owned),
                received,
                solved,
                open,
                sla: SlaVars {
                    on_time,
                    late,
                    no_due: 0,
                },
                share: 0,
            }
            .with_share(10)
        };
        ReportVars {
            now: "2019-06-03T11:00:00Z".to_owned(),
            start: "2019-05-27".to_owned(),
            end: "2019-06-02".to_owned(),
            days: 7,
            received: 10,
            solved: 8,
            open: 3,
            overdue: 1,
            sla: SlaVars {
                on_time: 6,
                late: 2,
                no_due: 0,
            },
            by: BTreeMap::from([
                (
                    "tipo".to_owned(),
                    vec![
                        row(Some("reclamação"), 6, 5, 2, 3, 2),
                        row(Some("elogio"), 3, 3, 0, 3, 0),
                        row(None, 1, 0, 1, 0, 0),
                    ],
                ),
                (
                    "status".to_owned(),
                    vec![
                        row(Some("closed"), 6, 6, 0, 5, 1),
                        row(Some("open"), 4, 2, 3, 1, 1),
                    ],
                ),
            ]),
        }
    }
}

/// `report.by` in the check's sample: the sample's rows under any name.
#[derive(Debug)]
struct AnyBreakdown {
    default: Value,
    entries: BTreeMap<String, Value>,
}

impl Object for AnyBreakdown {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        Some(self.entries.get(key).unwrap_or(&self.default).clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys: Vec<Value> = self.entries.keys().map(|k| Value::from(k.as_str())).collect();
        Enumerator::Iter(Box::new(keys.into_iter()))
    }
}

/// The whole context of one render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateContext {
    pub ticket: TicketVars,
    pub requester: RequesterVars,
    pub mail: MailVars,
    /// Values from the rule or command, by name.
    pub vars: BTreeMap<String, String>,
    /// The named groups of the rule's `matches` conditions that matched
    /// (`(?P<nota>[1-5])` gives `captures.nota`); empty elsewhere.
    pub captures: BTreeMap<String, String>,
    /// Help Center articles suggested for the ticket, best first.
    pub articles: Vec<ArticleVars>,
}

/// One of `articles`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArticleVars {
    pub title: String,
    /// Where the customer reads it.
    #[serde(default)]
    pub html_url: String,
    /// A few words around the match, as plain text (the search's `<em>`
    /// marks removed).
    #[serde(default)]
    pub snippet: String,
}

/// `ticket.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketVars {
    pub id: u64,
    pub subject: String,
    /// The ticket's first comment (customer text); empty when unknown.
    pub description: String,
    pub status: String,
    /// RFC 3339, see [`instant`].
    pub created_at: String,
    pub due_at: Option<String>,
    pub agent_url: Option<String>,
    pub fields: BTreeMap<String, String>,
}

/// `requester.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequesterVars {
    pub name: String,
    pub email: String,
    pub organization: Option<String>,
}

/// `mail.*`: the mail being answered; all empty (the default) for a mail
/// that answers none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailVars {
    pub subject: String,
    pub body: String,
    pub from: String,
    pub received_at: String,
}

/// An instant as templates receive it: RFC 3339 in UTC, whole seconds.
pub fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl TemplateContext {
    /// The context as the template engine sees it.
    pub fn to_value(&self) -> Value {
        self.value(false)
    }

    /// With `any_key`, `vars` and `ticket.fields` answer every name (for
    /// the sample); otherwise they hold exactly their entries.
    fn value(&self, any_key: bool) -> Value {
        let map = |name: &'static str, entries: &BTreeMap<String, String>| {
            if any_key {
                Value::from_object(AnyKey {
                    name,
                    entries: entries.clone(),
                })
            } else {
                Value::from(entries.clone())
            }
        };
        let t = &self.ticket;
        let r = &self.requester;
        let m = &self.mail;
        context! {
            ticket => context! {
                id => t.id,
                subject => t.subject.clone(),
                description => t.description.clone(),
                status => t.status.clone(),
                created_at => t.created_at.clone(),
                due_at => t.due_at.clone(),
                agent_url => t.agent_url.clone(),
                fields => map("ticket.fields", &t.fields),
            },
            requester => context! {
                name => r.name.clone(),
                email => r.email.clone(),
                organization => r.organization.clone(),
            },
            mail => context! {
                subject => m.subject.clone(),
                body => m.body.clone(),
                from => m.from.clone(),
                received_at => m.received_at.clone(),
            },
            vars => map("vars", &self.vars),
            captures => map("captures", &self.captures),
            articles => self.articles.iter().map(|a| context! {
                title => a.title.clone(),
                html_url => a.html_url.clone(),
                snippet => a.snippet.clone(),
            }).collect::<Vec<Value>>(),
        }
    }

    /// [`TemplateContext::sample`] as `carteiro check` renders it: `vars`
    /// and `ticket.fields` answer any name; `digest` and `report` hold
    /// samples (`report.by` answers any name), so their templates check
    /// too.
    pub fn sample_value() -> Value {
        context! {
            digest => DigestVars::sample().to_value(),
            report => ReportVars::sample().value(true),
            ..TemplateContext::sample().value(true)
        }
    }

    /// The context of a digest mail: `digest`, with this (ticketless)
    /// context's other variables.
    pub fn digest_value(&self, digest: &DigestVars) -> Value {
        context! {
            digest => digest.to_value(),
            ..self.to_value()
        }
    }

    /// The context of a report mail: `report`, with this (ticketless)
    /// context's other variables.
    pub fn report_value(&self, report: &ReportVars) -> Value {
        context! {
            report => report.to_value(),
            ..self.to_value()
        }
    }

    /// A context with every documented variable set to a plausible value
    /// (the examples in the module documentation), for `carteiro check`.
    pub fn sample() -> TemplateContext {
        let fields = BTreeMap::from([
            ("cnpj".to_owned(), "11222333000181".to_owned()),
            ("setor".to_owned(), "Financeiro".to_owned()),
        ]);
        TemplateContext {
            ticket: TicketVars {
                id: 123,
                subject: "Impressora parada".to_owned(),
                description: "A impressora do balcão não liga desde ontem.".to_owned(),
                status: "open".to_owned(),
                created_at: "2019-05-28T17:30:00Z".to_owned(),
                due_at: Some("2019-06-04T20:00:00Z".to_owned()),
                agent_url: Some("https://empresa.zendesk.com/agent/tickets/123".to_owned()),
                fields,
            },
            requester: RequesterVars {
                name: "Maria da Conceição".to_owned(),
                email: "maria@cliente.com.br".to_owned(),
                organization: Some("Padaria São João".to_owned()),
            },
            mail: MailVars {
                subject: "Impressora parada".to_owned(),
                body: "Bom dia,\n\na impressora do balcão não liga desde ontem.\n\nObrigada,\nMaria"
                    .to_owned(),
                from: "maria@cliente.com.br".to_owned(),
                received_at: "2019-05-28T17:29:12Z".to_owned(),
            },
            vars: BTreeMap::from([("setor".to_owned(), "Financeiro".to_owned())]),
            captures: BTreeMap::new(),
            articles: vec![ArticleVars {
                title: "Impressora não liga".to_owned(),
                html_url: "https://empresa.zendesk.com/hc/pt-br/articles/360001-Impressora-nao-liga"
                    .to_owned(),
                snippet: "Confira o cabo de energia e o botão de liga.".to_owned(),
            }],
        }
    }
}

/// A map that answers every key: its own entries, else a placeholder that
/// names the key. Only for the check's sample context.
#[derive(Debug)]
struct AnyKey {
    name: &'static str,
    entries: BTreeMap<String, String>,
}

impl Object for AnyKey {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        Some(Value::from(
            self.entries
                .get(key)
                .cloned()
                .unwrap_or_else(|| format!("⟨{}.{key}⟩", self.name)),
        ))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys: Vec<Value> = self.entries.keys().map(|k| Value::from(k.as_str())).collect();
        Enumerator::Iter(Box::new(keys.into_iter()))
    }
}
