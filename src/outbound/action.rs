//! The "send mail" action: render a template for a ticket, compose it and
//! enqueue it. `carteiro mail send` calls it by hand; the rule executor
//! calls the same code.
//!
//! It is split in two so that the executor can enqueue inside its own
//! transaction: [`prepare_template_mail`] does the I/O (reads the ticket
//! and its requester from the helpdesk, the thread from the store) and
//! composes the bytes with their Message-ID; then either
//! [`Store::enqueue_mail`] (its own transaction, as [`send_template_mail`]
//! does) or `store::outbox::enqueue_in` (the caller's) stores it and runs
//! the guards.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use super::{Attachment, ComposeOptions, MailAddress, MailKind, OutgoingMail, compose};
use crate::helpdesk::HelpDesk;
use crate::store::{Direction, Enqueued, GuardPolicy, NewOutboxMail, Store};
use crate::template::{MailVars, RequesterVars, TemplateContext, Templates, TicketVars, instant};

/// How many earlier Message-IDs `References` carries at most (the oldest
/// one and the latest ones), so a long ticket does not grow the header
/// without bound.
const MAX_REFERENCES: usize = 20;

/// One mail to send from a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateMail {
    /// The template's name (`confirmacao` for `confirmacao.txt.j2`).
    pub template: String,
    pub ticket_id: u64,
    pub to: Vec<MailAddress>,
    pub cc: Vec<MailAddress>,
    /// The subject before the ticket tag; `None` takes the ticket's.
    pub subject: Option<String>,
    /// `vars.*` for the template.
    pub vars: BTreeMap<String, String>,
    /// Files under `rules_dir` to attach.
    pub attachments: Vec<PathBuf>,
    /// `None`: a reply to a person when the ticket's thread ends in a mail
    /// carteiro read, generated otherwise.
    pub kind: Option<MailKind>,
}

/// Where templates and attachments come from, and how mail is composed.
#[derive(Debug, Clone, Copy)]
pub struct MailSetup<'a> {
    pub templates: &'a Templates,
    /// The folder attachments are relative to.
    pub rules_dir: &'a std::path::Path,
    pub compose: &'a ComposeOptions,
}

/// Reads what the template needs, renders and composes it: the outbox row
/// to enqueue.
pub async fn prepare_template_mail<H: HelpDesk>(
    helpdesk: &H,
    store: &Store,
    setup: MailSetup<'_>,
    request: &TemplateMail,
    now: DateTime<Utc>,
) -> anyhow::Result<NewOutboxMail> {
    let ticket = helpdesk
        .show_ticket(request.ticket_id)
        .await
        .with_context(|| format!("cannot read ticket {}", request.ticket_id))?;
    let requester = match ticket.requester_id {
        Some(id) => helpdesk
            .show_users(&[id])
            .await
            .with_context(|| format!("cannot read the requester of ticket {}", ticket.id))?
            .into_iter()
            .next(),
        None => None,
    };
    let subject = ticket.subject.clone().unwrap_or_default();
    let context = TemplateContext {
        ticket: TicketVars {
            id: ticket.id,
            subject: subject.clone(),
            description: ticket.description.clone().unwrap_or_default(),
            status: ticket.status.as_str().to_owned(),
            created_at: instant(ticket.created_at),
            due_at: ticket.due_at.map(instant),
            agent_url: ticket.agent_url(),
            fields: BTreeMap::new(),
        },
        requester: RequesterVars {
            name: requester.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
            email: requester
                .as_ref()
                .and_then(|u| u.email.clone())
                .unwrap_or_default(),
            organization: None,
        },
        mail: MailVars::default(),
        vars: request.vars.clone(),
        captures: BTreeMap::new(),
        // A mail sent by hand suggests no articles.
        articles: Vec::new(),
    };
    let rendered = setup
        .templates
        .render(&request.template, &context)
        .with_context(|| {
            format!(
                "cannot render template {:?} for ticket {}",
                request.template, ticket.id
            )
        })?;
    let attachments = request
        .attachments
        .iter()
        .map(|path| Attachment::from_rules_file(setup.rules_dir, path))
        .collect::<Result<Vec<_>, _>>()?;

    let thread = store.ticket_thread(ticket.id)?;
    let in_reply_to = thread.last().map(|(id, _)| id.clone());
    let kind = request.kind.unwrap_or(match thread.last() {
        Some((_, Direction::In)) => MailKind::ReplyToPerson,
        _ => MailKind::Generated,
    });
    let mut references: Vec<String> = thread.into_iter().map(|(id, _)| id).collect();
    if references.len() > MAX_REFERENCES {
        let tail = references.split_off(references.len() - (MAX_REFERENCES - 1));
        references.truncate(1);
        references.extend(tail);
    }
    let outgoing = OutgoingMail {
        ticket_id: ticket.id,
        to: request.to.clone(),
        cc: request.cc.clone(),
        subject: request.subject.clone().unwrap_or(subject),
        text: rendered.text,
        html: rendered.html,
        attachments,
        in_reply_to,
        references,
        kind,
        date: now,
        message_id: None,
    };
    let composed = compose(&outgoing, setup.compose)?;
    Ok(NewOutboxMail {
        message_id: composed.message_id,
        ticket_id: ticket.id,
        envelope_from: composed.envelope.from,
        recipients: composed.envelope.to,
        subject: composed.subject,
        raw: composed.raw,
    })
}

/// Prepares the mail and enqueues it in its own transaction, logging what
/// the guards decided.
pub async fn send_template_mail<H: HelpDesk>(
    helpdesk: &H,
    store: &Store,
    setup: MailSetup<'_>,
    policy: &GuardPolicy,
    request: &TemplateMail,
    now: DateTime<Utc>,
) -> anyhow::Result<Enqueued> {
    let mail = prepare_template_mail(helpdesk, store, setup, request, now).await?;
    let enqueued = store.enqueue_mail(&mail, policy)?;
    log_enqueued(&mail, &enqueued);
    Ok(enqueued)
}

/// One log line per guard decision on `mail`.
pub fn log_enqueued(mail: &NewOutboxMail, enqueued: &Enqueued) {
    let message_id = mail.message_id.as_str();
    let ticket_id = mail.ticket_id;
    match enqueued {
        Enqueued::Queued { id, dropped, .. } => {
            for (address, reason) in dropped {
                tracing::warn!(ticket_id, message_id, recipient = %address, reason = reason.name(),
                    "recipient suppressed by a guard");
            }
            tracing::info!(ticket_id, message_id, outbox_id = id, "mail queued");
        }
        Enqueued::Held { id, reason, .. } => {
            tracing::warn!(ticket_id, message_id, outbox_id = id, %reason, "mail held");
        }
        Enqueued::Suppressed { reason, detail } => {
            tracing::warn!(ticket_id, message_id, reason = reason.name(), %detail, "mail suppressed by a guard");
        }
        Enqueued::AlreadyQueued { id } => {
            tracing::info!(
                ticket_id,
                message_id,
                outbox_id = id,
                "mail already in the outbox"
            );
        }
    }
}
