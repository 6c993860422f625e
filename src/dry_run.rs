//! `carteiro dry-run`: what carteiro would do now, on live data, without
//! doing it.
//!
//! It reads the helpdesk (the tickets changed in the last `--since`, their
//! audits, the account's names) and the mailboxes (the mails not processed
//! yet, fetched with `BODY.PEEK` so no flag moves), plans every event with
//! the rules, and prints each plan with the mails it would send, rendered.
//! It writes nothing to Zendesk, sends nothing, and moves no cursor: the
//! state store is opened read-only (or not at all, when there is none).

use std::collections::HashMap;

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, MailboxSource};
use crate::helpdesk::zendesk::ZendeskClient;
use crate::helpdesk::{Audit, ExportStart, HelpDesk, Id, Role, Ticket, export_changes};
use crate::mail::imap::ImapMailbox;
use crate::mail::mailbox::Mailbox;
use crate::mail::maildir::Maildir;
use crate::mail::parse::{ParseOptions, parse};
use crate::mail::{ParsedMail, Sender};
use crate::rules::engine::{Context, Event, EventKind, MailFacts, TicketFacts, plan};
use crate::rules::model::Trigger;
use crate::rules::plan::{Effect, Plan};
use crate::rules::scenario::facts_from_history;
use crate::rules::{Directory, articles};
use crate::store::Store;
use crate::tickets::poller::comments_since;
use crate::tickets::{TicketChange, diff};

/// How many unprocessed mails per mailbox a dry run looks at.
const MAILS_PER_MAILBOX: usize = 50;

/// Runs the dry run and returns the report, line by line.
pub async fn dry_run(config: &Config, since: std::time::Duration) -> anyhow::Result<Vec<String>> {
    let rules = crate::daemon::load_rules(config)?.current();
    let clock = SystemClock;
    let now = clock.now();
    let store = match config.state.path.is_file() {
        true => Some(Store::open_read_only(&config.state.path)?),
        false => None,
    };
    let client =
        ZendeskClient::new(config.zendesk_client_settings()).context("cannot build the Zendesk client")?;
    let directory = Directory::fetch(&client)
        .await
        .context("cannot read groups, agents, custom statuses and fields from the helpdesk")?;
    let fired = |rule: &str, ticket: Id| {
        store
            .as_ref()
            .and_then(|s| s.fired_once(rule, ticket).ok())
            .unwrap_or(false)
    };
    let context = Context {
        rules: &rules,
        directory: &directory,
        calendars: &config.calendars,
        fired_once: &fired,
        max_cascade: config.rules.max_cascade,
    };
    let mut lines = vec![format!(
        "dry run at {} with rules {} ({} rules): nothing is written, sent or moved",
        now.to_rfc3339(),
        rules.hash,
        rules.rules.len()
    )];

    let start = now - chrono::TimeDelta::from_std(since).unwrap_or(chrono::TimeDelta::hours(1));
    let (tickets, _) = export_changes(&client, ExportStart::Time(start))
        .await
        .context("cannot read the tickets changed recently")?;
    lines.push(String::new());
    lines.push(format!(
        "tickets changed since {}: {}",
        start.to_rfc3339(),
        tickets.len()
    ));
    let schedule_rules: std::collections::BTreeSet<String> = rules
        .rules
        .iter()
        .filter(|r| r.runs_on(Trigger::Schedule))
        .map(|r| r.name.clone())
        .collect();
    for ticket in tickets.into_iter().filter(|t| t.status.as_str() != "deleted") {
        let (facts, audits) = ticket_facts(&client, &directory, ticket).await?;
        let previous = store
            .as_ref()
            .and_then(|s| s.snapshot(facts.ticket.id).ok().flatten());
        // The comments the poller would report, authors' roles as known.
        let mut roles: HashMap<Id, Role> = directory.users.iter().map(|u| (u.id, u.role)).collect();
        roles.extend(facts.requester.as_ref().map(|r| (r.id, r.role)));
        let comments = comments_since(&audits, previous.as_ref(), &roles);
        let (kind, change) = match &previous {
            Some(before) => (
                EventKind::TicketUpdated,
                TicketChange {
                    comments,
                    ..diff(&before.ticket, &facts.ticket)
                },
            ),
            None => (
                EventKind::TicketCreated,
                TicketChange {
                    comments,
                    ..TicketChange::default()
                },
            ),
        };
        let name = if kind == EventKind::TicketCreated {
            "ticket.created"
        } else {
            "ticket.updated"
        };
        let event = Event {
            kind,
            change,
            depth: 0,
            articles: Vec::new(),
        };
        let planned = plan_with_articles(&client, event, &facts, &context, &clock).await;
        report(&mut lines, &format!("#{} {name}", facts.ticket.id), &planned);
        if !schedule_rules.is_empty() {
            let event = Event::new(EventKind::Schedule(schedule_rules.clone()));
            let planned = plan_with_articles(&client, event, &facts, &context, &clock).await;
            report(
                &mut lines,
                &format!("#{} schedule (every schedule rule due)", facts.ticket.id),
                &planned,
            );
        }
    }

    let parse_options = ParseOptions::from_config(&config.mail);
    for mailbox in &config.mailboxes {
        let after = store
            .as_ref()
            .and_then(|s| s.mailbox_state(&mailbox.name).ok().flatten())
            .map_or(0, |state| state.last_uid);
        let fetched = match &mailbox.source {
            MailboxSource::Imap(imap) => {
                let mut source = ImapMailbox::new(mailbox.name.clone(), imap.clone());
                fetch(&mut source, after).await
            }
            MailboxSource::Maildir(maildir) => {
                let mut source = Maildir::new(
                    mailbox.name.clone(),
                    maildir.path.clone(),
                    maildir.after.clone(),
                    maildir.poll_interval,
                );
                fetch(&mut source, after).await
            }
        };
        lines.push(String::new());
        let raws = match fetched {
            Ok(raws) => raws,
            Err(e) => {
                lines.push(format!("mailbox {}: cannot read: {e}", mailbox.name));
                continue;
            }
        };
        lines.push(format!(
            "mailbox {}: {} mails not processed yet",
            mailbox.name,
            raws.len()
        ));
        for raw in raws {
            let mail = parse(&raw, &parse_options);
            let already = store
                .as_ref()
                .and_then(|s| s.processed(&mail.message_id).ok().flatten())
                .is_some();
            if already {
                continue;
            }
            mail_lines(
                &mut lines,
                &client,
                store.as_ref(),
                &directory,
                &context,
                &clock,
                &mail,
                mail.from
                    .as_ref()
                    .is_some_and(|a| config.mail.is_internal_sender(&a.email)),
            )
            .await?;
        }
    }
    Ok(lines)
}

async fn fetch<M: Mailbox>(source: &mut M, after: u32) -> anyhow::Result<Vec<Vec<u8>>> {
    source.open().await?;
    let fetched = source.fetch_after(after, MAILS_PER_MAILBOX).await?;
    source.close().await;
    Ok(fetched.into_iter().map(|f| f.raw).collect())
}

/// The plan for one unprocessed mail: a reply planned on its ticket, a
/// new mail on the ticket it would open.
#[allow(clippy::too_many_arguments)]
async fn mail_lines(
    lines: &mut Vec<String>,
    client: &ZendeskClient,
    store: Option<&Store>,
    directory: &Directory,
    context: &Context<'_>,
    clock: &dyn Clock,
    mail: &ParsedMail,
    internal: bool,
) -> anyhow::Result<()> {
    let from = mail.from.as_ref().map(|a| a.email.clone()).unwrap_or_default();
    let label = format!("mail {} from {from} {:?}", mail.message_id, mail.subject);
    let kind = match &mail.sender {
        Sender::Person => None,
        Sender::Bounce { .. } => Some("bounce"),
        other => {
            lines.push(format!("{label}: {} — left alone, never answered", other.label()));
            return Ok(());
        }
    };
    let mut ids = mail.in_reply_to.clone();
    ids.extend(mail.references.iter().cloned());
    let thread = store
        .and_then(|s| s.ticket_for_message_ids(&ids).ok().flatten())
        .or(mail.ticket_ref);
    let (ticket, kind) = match thread {
        Some(id) => match client.show_ticket(id).await {
            Ok(ticket) => (ticket, kind.unwrap_or("reply")),
            Err(e) => {
                lines.push(format!("{label}: its ticket #{id} cannot be read: {e}"));
                return Ok(());
            }
        },
        None if kind.is_some() => {
            lines.push(format!(
                "{label}: a bounce with no ticket — recorded, nothing else"
            ));
            return Ok(());
        }
        None => (provisional_ticket(mail, clock.now())?, "new"),
    };
    let (facts, _) = ticket_facts(client, directory, ticket).await?;
    let body = if kind == "reply" {
        crate::mail::clean::strip_quoted(&mail.body_text)
    } else {
        mail.body_text.clone()
    };
    let event = Event::new(EventKind::MailReceived(MailFacts {
        kind: kind.to_owned(),
        from,
        to: mail.to.iter().map(|a| a.email.clone()).collect(),
        cc: mail.cc.iter().map(|a| a.email.clone()).collect(),
        subject: mail.subject.clone(),
        body,
        attachments: mail
            .attachments
            .iter()
            .filter(|a| !a.inline)
            .map(|a| a.name.clone())
            .collect(),
        message_id: mail.message_id.clone(),
        received_at: mail.date,
        // Only a reply is added as an internal note; a new mail from an
        // internal sender is a ticket like any other.
        internal: internal && kind == "reply",
    }));
    let planned = plan_with_articles(client, event, &facts, context, clock).await;
    let target = if kind == "new" {
        "a new ticket".to_owned()
    } else {
        format!("ticket #{}", facts.ticket.id)
    };
    report(
        lines,
        &format!("{label}: mail.received ({kind}) on {target}"),
        &planned,
    );
    Ok(())
}

/// Plans `event` as the runner does: again with the Help Center articles
/// when a rule that fires renders a template reading them (the search is a
/// read, so a dry run makes it too).
async fn plan_with_articles(
    client: &ZendeskClient,
    mut event: Event,
    facts: &TicketFacts,
    context: &Context<'_>,
    clock: &dyn Clock,
) -> Plan {
    let planned = plan(&event, facts, context, clock);
    let Some(query) =
        articles::prefetch_query(context.rules, &event, &planned, facts.ticket.subject.as_deref())
    else {
        return planned;
    };
    event.articles = articles::search(client, facts.ticket.id, &query, None).await;
    if event.articles.is_empty() {
        return planned;
    }
    plan(&event, facts, context, clock)
}

/// The ticket a new mail would open, before Zendesk numbers it (#0).
fn provisional_ticket(mail: &ParsedMail, now: DateTime<Utc>) -> anyhow::Result<Ticket> {
    Ok(serde_json::from_value(serde_json::json!({
        "id": 0, "created_at": now, "updated_at": now, "status": "new",
        "subject": mail.subject, "description": mail.body_text,
        "via": { "channel": "email" },
    }))?)
}

/// The ticket with its requester and clocks, and its audits (read once).
async fn ticket_facts(
    client: &ZendeskClient,
    directory: &Directory,
    ticket: Ticket,
) -> anyhow::Result<(TicketFacts, Vec<Audit>)> {
    let requester = match ticket.requester_id {
        Some(id) => client.show_users(&[id]).await?.into_iter().next(),
        None => None,
    };
    let audits = if ticket.id == 0 {
        Vec::new()
    } else {
        client.list_audits(ticket.id).await?
    };
    let facts = facts_from_history(ticket, requester, &audits, &[], directory);
    Ok((facts, audits))
}

/// One planned event, with the mails it would send rendered.
fn report(lines: &mut Vec<String>, what: &str, planned: &Plan) {
    if planned.steps.is_empty() && planned.problems.is_empty() {
        lines.push(format!("{what}: no rule fires"));
        return;
    }
    lines.push(format!("{what}: rules {}", planned.fired.join(", ")));
    for (index, step) in planned.steps.iter().enumerate() {
        let commit = if step.commit { ", commit" } else { "" };
        lines.push(format!(
            "  {}. {}  (rule {}{commit})",
            index + 1,
            step.effect,
            step.rule
        ));
        let text = match &step.effect {
            Effect::SendMail {
                subject, text, to, ..
            } => Some(format!("To: {}\nSubject: {subject}\n\n{text}", to.join(", "))),
            Effect::PublicReply { body, .. } | Effect::InternalNote { body, .. } => Some(body.clone()),
            Effect::CreateTicket { internal_note, .. } => Some(internal_note.clone()),
            _ => None,
        };
        for line in text.iter().flat_map(|t| t.lines()) {
            lines.push(format!("     | {line}"));
        }
    }
    for problem in &planned.problems {
        lines.push(format!("  problem: {problem}"));
    }
}
