//! `carteiro run`: the daemon. It opens the state store, builds the
//! Zendesk client and one inbound loop per configured mailbox, and runs
//! them until shutdown (SIGTERM or Ctrl-C), when each loop finishes the
//! mail in flight before it stops.
//!
//! With `[smtp]` configured it also runs the outbox's delivery worker,
//! which finishes the mail in flight on shutdown like the mailbox loops.
//! It hands mail to the SMTP server, or with `smtp.maildir` writes it into
//! local Maildirs ([`MaildirSender`]).
//!
//! The ticket poller follows Zendesk's incremental export, keeps the
//! ticket snapshots and queues ticket events in the store. Later issues
//! add schedules and the rule engine, which consumes those events; each is
//! a task under the same tracker and cancellation token.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, MailboxSource};
use crate::helpdesk::zendesk::ZendeskClient;
use crate::mail::imap::ImapMailbox;
use crate::mail::ingest::{Ingest, IngestOptions};
use crate::mail::maildir::Maildir;
use crate::mail::parse::ParseOptions;
use crate::mail::poll::{PollOptions, run_mailbox};
use crate::outbound::{
    Backoff, ComposeOptions, Delivered, DeliveryWorker, Envelope, MailAddress, MailSender, MailSetup,
    MaildirSender, SendError, SmtpSender, TemplateMail, guard_policy, send_template_mail,
};
use crate::rules::exec::{ExecOptions, Executor};
use crate::rules::load::RuleSet;
use crate::rules::model::Trigger;
use crate::rules::reload::RulesHandle;
use crate::rules::runner::{LAST_RUN_PREFIX, RuleRunner, RunnerOptions, SWEEP_CURSOR};
use crate::rules::schedule::due_rules;
use crate::store::{Enqueued, OutboxState, Store};
use crate::tickets::poller::TicketPoller;

/// The ingest options a configuration asks for.
pub fn ingest_options(config: &Config) -> IngestOptions {
    IngestOptions {
        parse: ParseOptions::from_config(&config.mail),
        max_attempts: config.mail.quarantine_max_retries.max(1),
        internal_senders: config.mail.internal_senders.clone(),
        ..IngestOptions::default()
    }
}

/// Opens the state store the configuration names, creating its folder.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    config.state.ensure_parent_dir().with_context(|| {
        format!(
            "cannot create the folder of the state store {}",
            config.state.path.display()
        )
    })?;
    Ok(Store::open(&config.state.path)?)
}

/// Runs the daemon until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    run_with_clock(config, Arc::new(SystemClock), shutdown).await
}

/// [`run`] on a given clock: the demo and tests move time forward.
pub async fn run_with_clock(
    config: Config,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    // The store stamps with the same clock, so mail enqueued at the
    // clock's "now" is due by the clock that claims it.
    let store = Arc::new(open_store(&config)?.with_clock(clock.clone()));
    let rules = Arc::new(load_rules(&config)?);
    let client = ZendeskClient::builder(config.zendesk_client_settings())
        .clock(clock.clone())
        .build()
        .context("cannot set up the Zendesk client")?;
    let ingest = Arc::new(Ingest::new(
        client.clone(),
        store.clone(),
        ingest_options(&config),
        clock.clone(),
    ));

    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    match &config.smtp {
        Some(smtp) => {
            let sender = match &smtp.maildir {
                Some(root) => {
                    tracing::info!(maildir = %root.display(), "mail is delivered into local Maildirs");
                    Outbound::Maildir(MaildirSender::new(root))
                }
                None => Outbound::Smtp(Box::new(
                    SmtpSender::new(smtp).context("cannot set up the SMTP sender")?,
                )),
            };
            let worker = DeliveryWorker::new(
                store.clone(),
                sender,
                client.clone(),
                Backoff::from_config(&config.outbox),
                config.outbox.poll_interval,
                clock.clone(),
            );
            let token = token.clone();
            tracker.spawn(async move {
                worker.run(token).await;
                worker.sender().close().await;
            });
        }
        None => tracing::info!("no [smtp] is configured: the outbox is not delivered"),
    }
    {
        let poller = TicketPoller::new(
            client.clone(),
            store.clone(),
            clock.clone(),
            config.tickets.clone(),
        );
        tracker.spawn(poller.run(token.clone()));
        tracing::info!(every = ?config.tickets.poll_interval, "ticket poller started");
    }
    {
        tracker.spawn(crate::rules::reload::watch(rules.clone(), token.clone()));
        let executor = Executor::new(
            client.clone(),
            store.clone(),
            exec_options(&config)?,
            clock.clone(),
        );
        let options = RunnerOptions {
            max_cascade: config.rules.max_cascade,
            sweep_limit: config.rules.sweep_limit as usize,
            ..RunnerOptions::default()
        };
        let runner = RuleRunner::new(
            client.clone(),
            store.clone(),
            rules.clone(),
            executor,
            clock.clone(),
            options,
        )?;
        tracker.spawn(runner.run(token.clone()));
        tracing::info!(rules = rules.current().rules.len(), rules_hash = %rules.current().hash, "rule runner started");
    }
    if config.mailboxes.is_empty() {
        tracing::warn!("no [[mailbox]] is configured: there is nothing to read");
    }
    for mailbox in &config.mailboxes {
        let token = token.clone();
        let ingest = ingest.clone();
        match &mailbox.source {
            MailboxSource::Imap(imap) => {
                let poll = PollOptions {
                    batch_size: imap.batch_size.max(1) as usize,
                    ..PollOptions::default()
                };
                let source = ImapMailbox::new(mailbox.name.clone(), imap.clone());
                tracker.spawn(run_mailbox(source, ingest, poll, token));
            }
            MailboxSource::Maildir(maildir) => {
                let source = Maildir::new(
                    mailbox.name.clone(),
                    maildir.path.clone(),
                    maildir.after.clone(),
                    maildir.poll_interval,
                );
                tracker.spawn(run_mailbox(source, ingest, PollOptions::default(), token));
            }
        }
        tracing::info!(mailbox = %mailbox.name, "mailbox loop started");
    }
    tracker.close();
    tracing::info!(mailboxes = config.mailboxes.len(), "carteiro is running");

    shutdown.await;
    tracing::info!("shutting down: finishing the mail in flight");
    token.cancel();
    tracker.wait().await;
    tracing::info!("stopped");
    Ok(())
}

/// What the daemon still has to do, as far as the store shows it. Empty
/// when the queues are drained, no plan is unfinished, no mail waits in the
/// outbox and no schedule is due at `now`: the daemon is idle until
/// something new arrives (a mail, a ticket change, the next tick). The
/// mailboxes and the helpdesk are not looked at here.
pub fn backlog(store: &Store, rules: &RuleSet, now: DateTime<Utc>) -> anyhow::Result<Vec<String>> {
    let mut left = Vec::new();
    let events = store.pending_ticket_events(100)?.len();
    if events > 0 {
        left.push(format!("{events} ticket event(s) queued"));
    }
    let mails = store.pending_mail_events(100)?.len();
    if mails > 0 {
        left.push(format!("{mails} mail event(s) queued"));
    }
    let intents = store.pending_intents()?.len();
    if intents > 0 {
        left.push(format!("{intents} inbound mail(s) being imported"));
    }
    let planned = store.journal_pending()?.len();
    if planned > 0 {
        left.push(format!("{planned} rule plan(s) being applied"));
    }
    let outgoing = store
        .outbox_list(false)?
        .iter()
        .filter(|m| matches!(m.state, OutboxState::Queued | OutboxState::Sending))
        .count();
    if outgoing > 0 {
        left.push(format!("{outgoing} mail(s) waiting in the outbox"));
    }
    let mut last_run = HashMap::new();
    for rule in rules.rules.iter().filter(|r| r.runs_on(Trigger::Schedule)) {
        if let Some(text) = store.cursor(&format!("{LAST_RUN_PREFIX}{}", rule.name))?
            && let Ok(at) = DateTime::parse_from_rfc3339(&text)
        {
            last_run.insert(rule.name.clone(), at.with_timezone(&Utc));
        }
    }
    let (due, new_rules) = due_rules(rules, &last_run, now);
    for rule in new_rules {
        left.push(format!("schedule {rule} has not started"));
    }
    for d in due {
        left.push(format!("schedule {} is due ({})", d.rule, d.tick.to_rfc3339()));
    }
    if store.cursor(SWEEP_CURSOR)?.is_some_and(|s| !s.is_empty()) {
        left.push("a schedule sweep is unfinished".to_owned());
    }
    Ok(left)
}

/// Where the delivery worker hands mail: `[smtp]`'s server, or local
/// Maildirs with `smtp.maildir`.
#[derive(Debug)]
enum Outbound {
    /// Boxed: one value per daemon, and the SMTP sender is large.
    Smtp(Box<SmtpSender>),
    Maildir(MaildirSender),
}

impl Outbound {
    async fn close(&self) {
        if let Outbound::Smtp(smtp) = self {
            smtp.close().await;
        }
    }
}

impl MailSender for Outbound {
    async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<Delivered, SendError> {
        match self {
            Outbound::Smtp(smtp) => smtp.send(envelope, raw).await,
            Outbound::Maildir(local) => local.send(envelope, raw).await,
        }
    }
}

/// The rules the configuration names (none without `rules.dir`). A daemon
/// does not start on broken rules: every problem is in the error.
pub fn load_rules(config: &Config) -> anyhow::Result<RulesHandle> {
    match &config.rules.dir {
        Some(dir) => RulesHandle::load(dir, config.calendars.clone()).map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::anyhow!(
                "the rules in {} have problems:\n{}",
                dir.display(),
                lines.join("\n")
            )
        }),
        None => {
            tracing::info!("no rules.dir is configured: no rules run");
            Ok(RulesHandle::empty(config.calendars.clone()))
        }
    }
}

/// How the executor composes and guards mail. Without `[smtp]` the mail is
/// composed from a carteiro address at the Message-ID domain and waits in
/// the outbox.
pub fn exec_options(config: &Config) -> anyhow::Result<ExecOptions> {
    let compose = match &config.smtp {
        Some(smtp) => ComposeOptions::for_smtp(&config.mail, smtp),
        None => ComposeOptions::new(
            &config.mail,
            MailAddress::new(format!("carteiro@{}", config.mail.message_id_domain)),
        ),
    };
    Ok(ExecOptions {
        compose,
        guards: guard_policy(&config.mail, &config.outbox).context("outbox.robot_addresses")?,
        rules_dir: config.rules.dir.clone().unwrap_or_default(),
        max_replans: 3,
        solve_assignee: config.tickets.solve_assignee.clone(),
    })
}

/// Retries quarantined mails `ids` through a fresh ingest. Returns one line
/// per entry and whether it is now resolved.
pub async fn retry_quarantined(
    config: Config,
    store: Store,
    ids: &[i64],
) -> anyhow::Result<Vec<(String, bool)>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let client = ZendeskClient::builder(config.zendesk_client_settings())
        .clock(clock.clone())
        .build()
        .context("cannot set up the Zendesk client")?;
    let ingest = Ingest::new(client, Arc::new(store), ingest_options(&config), clock);
    let mut lines = Vec::with_capacity(ids.len());
    for &id in ids {
        let line = match ingest.retry_quarantined(id).await {
            Ok(crate::mail::ingest::Decision::Quarantined { reason, .. }) => {
                (format!("{id}\tstill quarantined: {reason}"), false)
            }
            Ok(decision) => (format!("{id}\tresolved: {decision:?}"), true),
            Err(err) => (format!("{id}\tnot retried now: {err}"), false),
        };
        lines.push(line);
    }
    Ok(lines)
}

/// `carteiro mail send`: renders `request` for its ticket (read from the
/// configured helpdesk) and enqueues it in the outbox, where the daemon's
/// worker picks it up.
pub async fn send_mail(config: &Config, store: &Store, request: &TemplateMail) -> anyhow::Result<Enqueued> {
    let smtp = config.smtp.as_ref().context(
        "[smtp] is not configured, so carteiro sends no mail; set smtp.host and smtp.from_address",
    )?;
    let dir = config
        .mail
        .templates
        .as_ref()
        .context("mail.templates is not set: there are no templates to send from")?;
    let templates = crate::template::Templates::load_dir(dir, &crate::template::TemplateOptions::default())
        .map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the mail templates have problems:\n{}", lines.join("\n"))
    })?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let client = ZendeskClient::builder(config.zendesk_client_settings())
        .clock(clock.clone())
        .build()
        .context("cannot set up the Zendesk client")?;
    let compose = ComposeOptions::for_smtp(&config.mail, smtp);
    let rules_dir = dir.parent().unwrap_or(dir);
    let policy = guard_policy(&config.mail, &config.outbox).context("outbox.robot_addresses")?;
    let setup = MailSetup {
        templates: &templates,
        rules_dir,
        compose: &compose,
    };
    send_template_mail(&client, store, setup, &policy, request, clock.now()).await
}
