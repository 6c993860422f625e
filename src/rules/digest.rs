//! `send_digest`: one mail per schedule tick listing the tickets a rule's
//! conditions match, sorted into buckets by their due dates, for the
//! managers (PRODUCT.md, issue 8: "due soon, due today, overdue, overdue
//! and unassigned").
//!
//! The runner collects every matching snapshot (not capped by
//! `sweep_limit`: the digest is one mail however long it is), [`build`]s
//! the `digest` template variable and [`compose`]s one mail about no
//! ticket ([`crate::outbound::NO_TICKET`]). Its Message-ID is derived from
//! the rule's name and the tick ([`message_id`]), and the outbox keeps one
//! row per Message-ID: a retried or restarted tick enqueues nothing new,
//! so each (rule, tick) mails at most once.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use sha2::{Digest as _, Sha256};

use super::directory::Directory;
use super::model::SendDigestSpec;
use crate::calendar::Calendar;
use crate::helpdesk::Ticket;
use crate::outbound::{ComposeError, ComposeOptions, MailAddress, MailKind, NO_TICKET, OutgoingMail};
use crate::store::NewOutboxMail;
use crate::template::{
    DigestTicketVars, DigestVars, MailVars, RequesterVars, TemplateContext, Templates, TicketVars, instant,
};

/// Where a ticket sits in a digest, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bucket {
    /// Past its due date with no assignee.
    OverdueUnassigned,
    /// Past its due date.
    Overdue,
    /// Due later today (the calendar's local day).
    DueToday,
    /// Due within the next `soon_days` business days.
    DueSoon,
}

impl Bucket {
    pub const ALL: [Bucket; 4] = [
        Bucket::OverdueUnassigned,
        Bucket::Overdue,
        Bucket::DueToday,
        Bucket::DueSoon,
    ];

    /// The name templates read.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::OverdueUnassigned => "vencido_sem_responsavel",
            Bucket::Overdue => "vencido",
            Bucket::DueToday => "vence_hoje",
            Bucket::DueSoon => "vence_em_breve",
        }
    }
}

/// The bucket of a ticket due at `due` (assigned or not) at `now`, by
/// `calendar`'s zone and business days; `None` when it is due later than
/// `soon_days` business days after today.
///
/// "Due soon" counts business days after today: with `soon_days = 2`, on
/// a Friday a ticket due Monday or Tuesday is due soon (the weekend does
/// not count), one due Wednesday is not. A holiday does not count either.
pub fn bucket(
    due: DateTime<Utc>,
    assigned: bool,
    now: DateTime<Utc>,
    calendar: &Calendar,
    soon_days: u32,
) -> Option<Bucket> {
    if due <= now {
        return Some(if assigned {
            Bucket::Overdue
        } else {
            Bucket::OverdueUnassigned
        });
    }
    let today = local_day(now, calendar);
    let due_day = local_day(due, calendar);
    if due_day <= today {
        return Some(Bucket::DueToday);
    }
    let mut day = today;
    let mut business = 0;
    while business < soon_days {
        day = day.checked_add_days(Days::new(1))?;
        if calendar.is_business_day(day) {
            business += 1;
        }
        if day >= due_day {
            return Some(Bucket::DueSoon);
        }
    }
    None
}

/// The calendar's local day of `instant`.
pub fn local_day(instant: DateTime<Utc>, calendar: &Calendar) -> NaiveDate {
    instant.with_timezone(&calendar.zone()).date_naive()
}

/// The `digest` variable for `tickets` (the snapshots the rule matched):
/// those with a due date within reach, most urgent bucket first, then by
/// due date and id. Tickets without a due date, or due later, are left
/// out.
pub fn build<'a>(
    tickets: impl IntoIterator<Item = &'a Ticket>,
    directory: &Directory,
    now: DateTime<Utc>,
    calendar: &Calendar,
    soon_days: u32,
) -> DigestVars {
    let mut listed: Vec<(Bucket, DateTime<Utc>, DigestTicketVars)> = Vec::new();
    for ticket in tickets {
        let Some(due) = ticket.due_at else { continue };
        let Some(bucket) = bucket(due, ticket.assignee_id.is_some(), now, calendar, soon_days) else {
            continue;
        };
        let assignee = ticket.assignee_id.map(|id| {
            directory
                .user(id)
                .map_or_else(|| format!("agente {id}"), |u| u.name.clone())
        });
        let group = ticket.group_id.map(|id| {
            directory
                .group(id)
                .map_or_else(|| format!("grupo {id}"), |g| g.name.clone())
        });
        listed.push((
            bucket,
            due,
            DigestTicketVars {
                id: ticket.id,
                subject: ticket.subject.clone().unwrap_or_default(),
                status: ticket.status.as_str().to_owned(),
                group,
                assignee,
                due_at: instant(due),
                due_day: local_day(due, calendar).to_string(),
                bucket: bucket.name().to_owned(),
                agent_url: ticket.agent_url(),
            },
        ));
    }
    listed.sort_by_key(|(bucket, due, t)| (*bucket, *due, t.id));
    let mut counts: BTreeMap<String, usize> = Bucket::ALL.iter().map(|b| (b.name().to_owned(), 0)).collect();
    for (bucket, _, _) in &listed {
        *counts.entry(bucket.name().to_owned()).or_default() += 1;
    }
    DigestVars {
        now: instant(now),
        today: local_day(now, calendar).to_string(),
        soon_days,
        total: listed.len(),
        counts,
        tickets: listed.into_iter().map(|(_, _, t)| t).collect(),
    }
}

/// The Message-ID of `rule`'s digest for `tick`: the same on every retry
/// and after a restart, so the outbox stores it once.
pub fn message_id(rule: &str, tick: DateTime<Utc>, domain: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(rule.as_bytes());
    hasher.update([0]);
    hasher.update(tick.to_rfc3339().as_bytes());
    let hash = hasher.finalize();
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("carteiro.resumo.{hex}@{domain}")
}

/// Why a digest or report mail could not be made: the rule's data, logged; the
/// tick is not retried for it.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("template {template:?}: {reason}")]
    Render { template: String, reason: String },
    #[error(transparent)]
    Compose(#[from] ComposeError),
}

/// Renders `spec`'s template and subject with `digest` and composes the
/// mail (about no ticket) with its fixed Message-ID.
pub fn compose(
    spec: &SendDigestSpec,
    rule: &str,
    tick: DateTime<Utc>,
    digest: &DigestVars,
    vars: &BTreeMap<String, String>,
    templates: &Templates,
    options: &ComposeOptions,
) -> Result<NewOutboxMail, DigestError> {
    let summary = SummaryMail {
        to: &spec.to,
        template: &spec.template,
        subject: &spec.subject,
        key: rule,
        tick,
    };
    let value = summary_context(vars).digest_value(digest);
    compose_summary(&summary, &value, templates, options)
}

/// A mail about many tickets (a digest, a report): where it goes, what
/// renders it, and the (rule, action) key and tick its Message-ID is
/// derived from.
#[derive(Debug, Clone, Copy)]
pub struct SummaryMail<'a> {
    pub to: &'a [String],
    pub template: &'a str,
    /// A template string.
    pub subject: &'a str,
    /// `rule#action`.
    pub key: &'a str,
    pub tick: DateTime<Utc>,
}

/// The context of a mail about no ticket: `vars` set, every other
/// variable empty (`ticket.id` is [`NO_TICKET`]).
pub fn summary_context(vars: &BTreeMap<String, String>) -> TemplateContext {
    TemplateContext {
        ticket: TicketVars {
            id: NO_TICKET,
            ..TicketVars::default()
        },
        requester: RequesterVars::default(),
        mail: MailVars::default(),
        vars: vars.clone(),
        captures: BTreeMap::new(),
        articles: Vec::new(),
    }
}

/// Renders `summary`'s template and subject with `value` and composes
/// the mail (about no ticket) with its fixed Message-ID.
pub fn compose_summary(
    summary: &SummaryMail<'_>,
    value: &minijinja::Value,
    templates: &Templates,
    options: &ComposeOptions,
) -> Result<NewOutboxMail, DigestError> {
    let rendered = templates
        .render_value(summary.template, value)
        .map_err(|e| DigestError::Render {
            template: summary.template.to_owned(),
            reason: e.to_string(),
        })?;
    let subject = templates
        .render_inline_value(summary.subject, value)
        .map_err(|reason| DigestError::Render {
            template: summary.subject.to_owned(),
            reason,
        })?;
    let outgoing = OutgoingMail {
        ticket_id: NO_TICKET,
        to: summary.to.iter().map(MailAddress::new).collect(),
        cc: Vec::new(),
        subject,
        text: rendered.text,
        html: rendered.html,
        attachments: Vec::new(),
        in_reply_to: None,
        references: Vec::new(),
        kind: MailKind::Generated,
        date: summary.tick,
        message_id: Some(message_id(summary.key, summary.tick, &options.message_id_domain)),
    };
    let composed = crate::outbound::compose(&outgoing, options)?;
    Ok(NewOutboxMail {
        message_id: composed.message_id,
        ticket_id: NO_TICKET,
        envelope_from: composed.envelope.from,
        recipients: composed.envelope.to,
        subject: composed.subject,
        raw: composed.raw,
    })
}

#[cfg(test)]
mod tests;
