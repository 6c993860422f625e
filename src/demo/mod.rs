//! `carteiro demo`: the first command a new user runs. No account, no
//! network: the Zendesk simulator runs in-process on loopback, mail comes
//! from and goes into local Maildirs, the shipped packs are loaded from
//! the binary, and a scripted day plays on a virtual clock while the real
//! daemon (`daemon::run_with_clock`, what `carteiro run` runs) does the
//! work. After each step the demo waits until the daemon is idle and
//! prints what happened as a table; at the end it says where to look.
//!
//! The folder it writes (`docs/demo.md`): `rules/` (the packs),
//! `mail/ADDRESS/` (one Maildir per address: the support inbox and each
//! customer's), `state.db`, `simulador.json`, `carteiro.toml`,
//! `carteiro.log`, and the marker `.carteiro-demo`.

pub mod script;
pub mod shipped;
mod table;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::TimeDelta;
use tokio::sync::oneshot;

use crate::clock::{Clock, OffsetClock};
use crate::config::{self, LoadOptions};
use crate::helpdesk::sim::{self, Seed, SimHandle, SimOptions};
use crate::helpdesk::zendesk::{Auth, ClientSettings, ZendeskClient};
use crate::helpdesk::{CustomFieldValue, HelpDesk, Id, NewComment, Status, Ticket, TicketUpdate};
use crate::rules::plan::Plan;
use crate::rules::reload::RulesHandle;
use crate::secret::Secret;
use crate::store::{JournalState, Store};
use script::{AGENT, CONSULTING, MANIFESTATIONS, SECTOR, SUPPORT, Scene, Step, Which};
use table::{Row, Table};

/// The file that marks a folder as the demo's, so a second run may
/// replace it.
pub const MARKER: &str = ".carteiro-demo";

/// The bot's identity in the simulator.
const BOT: &str = "carteiro@empresa.example";

/// How long the daemon may take to settle after one step.
const STEP_LIMIT: Duration = Duration::from_secs(30);

/// Runs the demo into `out`, printing the table to `stdout`.
pub async fn run(out: &Path, stdout: &mut impl Write) -> anyhow::Result<()> {
    let out = prepare_folder(out)?;
    init_log(&out.join("carteiro.log"));
    let rules_dir = out.join("rules");
    shipped::write_to(&rules_dir)?;
    let mail_dir = out.join("mail");
    let support_dir = mail_dir.join(SUPPORT);
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(support_dir.join(sub))
            .with_context(|| format!("cannot create {}", support_dir.display()))?;
    }
    std::fs::write(out.join("zendesk-token.txt"), "demo\n").context("cannot write the demo's token file")?;

    let packs = shipped::pack_names();
    let all_scenes = script::scenes();
    let (scenes, skipped): (Vec<&Scene>, Vec<&Scene>) =
        all_scenes.iter().partition(|s| packs.contains(&s.pack));
    let mut seed: Seed =
        serde_json::from_value(script::merged_seed(&scenes)).context("the demo's seed is invalid")?;
    // The strictest account: Zendesk refuses to solve an unassigned ticket
    // when "Auto-assign tickets upon solve" is off, and carteiro copes.
    seed.settings.tickets.assign_tickets_upon_solve = false;
    // The account's admin, who makes the trigger change the packs' README
    // asks for (the API's OAuth token acts as the first admin).
    seed.users.push(serde_json::from_value(serde_json::json!({
        "id": 99, "name": "Administrador", "email": "admin@empresa.example", "role": "admin",
    }))?);

    let base_clock = Arc::new(OffsetClock::new());
    let handle = sim::spawn(SimOptions {
        seed,
        clock: base_clock.clone(),
        relax_export_start: true,
        // Zendesk's own notifications (its standard triggers, to the agents
        // once the requester's are off) land apart from carteiro's mails.
        mail_outlet: sim::MailOutlet::Maildir(out.join(ZENDESK_MAIL)),
        ..SimOptions::default()
    })
    .await
    .context("cannot start the simulator on 127.0.0.1")?;
    deactivate_requester_triggers(&handle.base_url).await?;
    let clock = handle.sim.clock();

    let config_path = out.join("carteiro.toml");
    std::fs::write(&config_path, config_text(&out, &handle.base_url))
        .context("cannot write carteiro.toml")?;
    let loaded = config::load(&LoadOptions {
        file: Some(config_path.clone()),
        default_file: None,
        env: Default::default(),
    })
    .map_err(|invalid| {
        let lines: Vec<String> = invalid.problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the demo's configuration is invalid:\n{}", lines.join("\n"))
    })?;
    let config = loaded.config;
    let calendar = config.calendars.default_calendar().clone();
    let rules = RulesHandle::load(&rules_dir, config.calendars.clone()).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the shipped rules have problems:\n{}", lines.join("\n"))
    })?;
    let store = Store::open(&config.state.path)?.with_clock(clock.clone());

    let (stop, stopped) = oneshot::channel::<()>();
    let daemon = tokio::spawn(crate::daemon::run_with_clock(config, clock.clone(), async {
        let _ = stopped.await;
    }));

    let bot = client(BOT, &handle.base_url)?;
    let agent = client(AGENT, &handle.base_url)?;
    let mut world = World {
        handle,
        base_clock,
        clock,
        bot,
        agents: HashMap::from([(AGENT.to_owned(), agent)]),
        calendar,
        store,
        rules,
        support_dir,
        shown: BTreeSet::new(),
        mails_written: 0,
        daemon,
    };
    let mut table = Table::new();
    writeln!(stdout, "carteiro demo: um dia de suporte, sem conta e sem rede")?;
    writeln!(stdout, "pacotes embutidos: {}", packs.join(", "))?;
    for scene in &skipped {
        writeln!(
            stdout,
            "cena pulada: o pacote {} não está embutido nesta versão ({})",
            scene.pack, scene.title
        )?;
    }
    writeln!(stdout)?;
    writeln!(stdout, "{}", table.header())?;
    let played = play(&mut world, &scenes, &mut table, stdout).await;

    let _ = stop.send(());
    let stopped = tokio::time::timeout(STEP_LIMIT, &mut world.daemon).await;
    let state = world.handle.sim.state_json();
    std::fs::write(
        out.join("simulador.json"),
        serde_json::to_string_pretty(&state).unwrap_or_default(),
    )
    .context("cannot write simulador.json")?;
    played?;
    match stopped {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(e.context("the daemon failed")),
        Ok(Err(e)) => anyhow::bail!("the daemon's task failed: {e}"),
        Err(_) => anyhow::bail!("the daemon did not stop within {STEP_LIMIT:?}"),
    }
    writeln!(stdout)?;
    where_to_look(&out, &mail_dir, &packs, stdout)?;
    Ok(())
}

/// The pieces the steps act on and read from.
struct World {
    handle: SimHandle,
    /// The simulator's base clock: the demo moves it forward.
    base_clock: Arc<OffsetClock>,
    /// The simulator's clock, which the daemon runs on.
    clock: Arc<dyn Clock>,
    bot: ZendeskClient,
    /// The agents who act in the steps, by e-mail; made on first use.
    agents: HashMap<String, ZendeskClient>,
    /// The calendar business-day jumps count in (the default one).
    calendar: crate::calendar::Calendar,
    /// The daemon's store, read to see what the rules did.
    store: Store,
    rules: RulesHandle,
    support_dir: PathBuf,
    /// Journal rows (and outbox rows, `outbox:ID`) already in the table.
    shown: BTreeSet<String>,
    mails_written: u32,
    daemon: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn play(
    world: &mut World,
    scenes: &[&Scene],
    table: &mut Table,
    stdout: &mut impl Write,
) -> anyhow::Result<()> {
    for scene in scenes {
        writeln!(
            stdout,
            "{}",
            table.section(&format!("{} — {}", scene.pack, scene.title))
        )?;
        for step in &scene.steps {
            let at = world.clock.now();
            let (event, ticket) = world.act(step).await?;
            world
                .settle()
                .await
                .with_context(|| format!("after the step {event:?}"))?;
            let ticket = match (ticket, step) {
                (Some(id), _) => Some(id),
                (None, Step::CustomerWrites { from, .. }) => {
                    world.newest_ticket_of(from).await?.map(|t| t.id)
                }
                _ => None,
            };
            let state = match ticket {
                Some(id) => world.ticket_state(id).await?,
                None => String::new(),
            };
            let mut rows = vec![Row {
                at,
                event,
                rule: String::new(),
                action: String::new(),
                ticket: state,
            }];
            let fired = world.new_journal_rows().await?;
            if fired.is_empty() && matches!(step, Step::ClockJumps { .. }) {
                rows.push(Row {
                    at: world.clock.now(),
                    event: String::new(),
                    rule: "(nenhuma regra disparou)".to_owned(),
                    action: String::new(),
                    ticket: String::new(),
                });
            }
            rows.extend(fired);
            for row in rows {
                writeln!(stdout, "{}", table.row(&row))?;
            }
        }
    }
    Ok(())
}

impl World {
    /// Does `step`; returns the table's words for it and the ticket it
    /// touched, when known.
    async fn act(&mut self, step: &Step) -> anyhow::Result<(String, Option<Id>)> {
        match step {
            Step::CustomerWrites {
                from,
                name,
                to,
                subject,
                body,
            } => {
                self.mails_written += 1;
                let raw = customer_mail(
                    from,
                    name,
                    to,
                    subject,
                    body,
                    self.clock.now(),
                    self.mails_written,
                );
                deliver_into(&self.support_dir, &raw, self.mails_written)?;
                let text = if *to == SUPPORT {
                    format!("{name} escreve: \"{subject}\"")
                } else {
                    // The mailbox's name is enough: "(para consultoria@)".
                    let local = to.split_once('@').map_or(*to, |(local, _)| local);
                    format!("{name} escreve (para {local}@): \"{subject}\"")
                };
                Ok((text, None))
            }
            Step::AgentUpdates {
                by,
                ticket,
                change,
                says,
            } => {
                let ticket = self.which(ticket).await?;
                let mut update = TicketUpdate {
                    comment: match (change.public_reply, change.internal_note) {
                        (Some(text), _) => Some(NewComment::public(text)),
                        (None, Some(text)) => Some(NewComment::internal(text)),
                        (None, None) => None,
                    },
                    status: change.status,
                    assignee_email: change.assignee.map(str::to_owned),
                    ..TicketUpdate::default()
                };
                if let Some(name) = change.custom_status {
                    update.custom_status_id = Some(self.custom_status_id(name).await?);
                }
                if !change.add_tags.is_empty() {
                    update.additional_tags = Some(change.add_tags.iter().map(|t| (*t).to_owned()).collect());
                }
                if let Some(name) = change.group {
                    let groups = self.bot.list_groups().await?;
                    let group = groups
                        .iter()
                        .find(|g| g.name == name)
                        .with_context(|| format!("the simulator has no group {name:?}"))?;
                    update.group_id = Some(group.id);
                }
                if !change.fields.is_empty() {
                    let known = self.bot.list_ticket_fields().await?;
                    let mut fields = Vec::new();
                    for (title, value) in &change.fields {
                        let field = known
                            .iter()
                            .find(|f| f.title == *title)
                            .with_context(|| format!("the simulator has no ticket field {title:?}"))?;
                        fields.push(CustomFieldValue {
                            id: field.id,
                            value: value.clone(),
                        });
                    }
                    update.custom_fields = Some(fields);
                }
                if let Some(days) = change.due_in_days {
                    update.due_at = Some(Some(self.clock.now() + TimeDelta::days(days)));
                }
                let agent = self.agent(by)?;
                // The account refuses to solve an unassigned ticket: the
                // agent who solves it takes it, as in Zendesk's agent
                // workspace.
                let solving = matches!(update.status, Some(Status::Solved | Status::Closed));
                if solving && ticket.assignee_id.is_none() && update.assignee_email.is_none() {
                    update.assignee_id = Some(agent.me().await?.id);
                }
                agent
                    .update_ticket(ticket.id, &update, ticket.updated_at)
                    .await
                    .with_context(|| format!("{by} cannot update ticket #{}", ticket.id))?;
                Ok(((*says).to_owned(), Some(ticket.id)))
            }
            Step::Answers {
                from,
                name,
                body,
                says,
            } => {
                let (raw, id) = self.answer_to_newest_mail_of(from, name, body)?;
                self.mails_written += 1;
                deliver_into(&self.support_dir, &raw, self.mails_written)?;
                Ok(((*says).to_owned(), id))
            }
            Step::ClockJumpsBusinessDays { days, minutes } => {
                let now = self.clock.now();
                let to = self
                    .calendar
                    .add(now, crate::calendar::Duration::BusinessDays(*days))
                    .context("cannot count business days")?
                    + TimeDelta::minutes(*minutes);
                self.base_clock.advance(to - now);
                let text = format!(
                    "relógio avança {days} dia(s) útil(eis) e {minutes} min, até {}",
                    table::clock_text(self.clock.now())
                );
                Ok((text, None))
            }
            Step::ClockJumps { days, minutes } => {
                self.base_clock
                    .advance(TimeDelta::days(*days) + TimeDelta::minutes(*minutes));
                let to = table::clock_text(self.clock.now());
                let text = match minutes {
                    0 => format!("relógio avança {days} dias, até {to}"),
                    m => format!("relógio avança {days} dias e {m} min, até {to}"),
                };
                Ok((text, None))
            }
        }
    }

    /// Waits until the daemon has done everything the last step caused:
    /// the support Maildir read, every ticket change seen by the poller,
    /// the store's queues and outbox drained, no schedule due. Idle must
    /// hold twice in a row; the wait is bounded by [`STEP_LIMIT`].
    async fn settle(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut idle_checks = 0;
        loop {
            if self.daemon.is_finished() {
                anyhow::bail!("the daemon stopped early; see carteiro.log");
            }
            let left = self.backlog().await?;
            if left.is_empty() {
                idle_checks += 1;
                if idle_checks >= 2 {
                    return Ok(());
                }
            } else {
                idle_checks = 0;
                if started.elapsed() > STEP_LIMIT {
                    anyhow::bail!(
                        "the daemon did not finish within {STEP_LIMIT:?}: {}",
                        left.join("; ")
                    );
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What is left to do, in words; empty when idle.
    async fn backlog(&self) -> anyhow::Result<Vec<String>> {
        let mut left = crate::daemon::backlog(&self.store, &self.rules.current(), self.clock.now())?;
        let unread = std::fs::read_dir(self.support_dir.join("new"))
            .with_context(|| format!("cannot list {}", self.support_dir.display()))?
            .count();
        if unread > 0 {
            left.push(format!("{unread} mail(s) not read from the support Maildir"));
        }
        for ticket in self.tickets() {
            let seen = self.store.snapshot(ticket.id)?.map(|s| s.ticket.updated_at);
            if seen != Some(ticket.updated_at) {
                left.push(format!(
                    "ticket #{} changed and the poller has not seen it yet",
                    ticket.id
                ));
            }
        }
        Ok(left)
    }

    /// Every ticket in the simulator.
    fn tickets(&self) -> Vec<Ticket> {
        self.handle.sim.state_json()["tickets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| serde_json::from_value(t.clone()).ok())
            .collect()
    }

    /// A client acting as the agent `email`.
    fn agent(&mut self, email: &str) -> anyhow::Result<&ZendeskClient> {
        if !self.agents.contains_key(email) {
            let made = client(email, &self.handle.base_url)?;
            self.agents.insert(email.to_owned(), made);
        }
        self.agents
            .get(email)
            .with_context(|| format!("no client for {email}"))
    }

    /// The ticket a step acts on, as the API shows it now.
    async fn which(&self, which: &Which) -> anyhow::Result<Ticket> {
        let found = match which {
            Which::NewestOf(customer) => self.newest_ticket_of(customer).await?,
            Which::SubjectStarts(prefix) => {
                let newest = self
                    .tickets()
                    .into_iter()
                    .filter(|t| t.subject.as_deref().is_some_and(|s| s.starts_with(prefix)))
                    .max_by_key(|t| t.id);
                match newest {
                    Some(t) => Some(self.bot.show_ticket(t.id).await?),
                    None => None,
                }
            }
        };
        found.with_context(|| format!("no ticket to update: {which:?}"))
    }

    /// `from`'s answer to the newest mail carteiro delivered to it, threaded
    /// to it (In-Reply-To, References, "Re:" subject), and the ticket
    /// number in that mail's subject.
    fn answer_to_newest_mail_of(
        &self,
        from: &str,
        name: &str,
        body: &str,
    ) -> anyhow::Result<(Vec<u8>, Option<Id>)> {
        let maildir = self.support_dir.with_file_name(from);
        let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let modified = entry.metadata().and_then(|m| m.modified()).ok();
                if let Some(modified) = modified
                    && newest.as_ref().is_none_or(|(t, _)| modified > *t)
                {
                    newest = Some((modified, entry.path()));
                }
            }
        }
        let (_, path) = newest.with_context(|| format!("carteiro sent no mail to {from} to answer"))?;
        let raw = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let parsed = mail_parser::MessageParser::default()
            .parse(&raw)
            .with_context(|| format!("{} is not a readable mail", path.display()))?;
        let subject = parsed.subject().unwrap_or_default().to_owned();
        let message_id = parsed
            .message_id()
            .with_context(|| format!("{} has no Message-ID", path.display()))?
            .to_owned();
        let ticket = subject
            .rsplit_once("[#")
            .and_then(|(_, rest)| rest.split_once(']'))
            .and_then(|(n, _)| n.parse::<Id>().ok());
        let now = self.clock.now();
        let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or("example");
        let answer = mail_builder::MessageBuilder::new()
            .from((name, from))
            .to(("Suporte Empresa", SUPPORT))
            .subject(format!("Re: {subject}"))
            .date(now.timestamp())
            .message_id(format!(
                "demo-{}-{}@{domain}",
                self.mails_written + 1,
                now.timestamp()
            ))
            .in_reply_to(message_id.clone())
            .references(message_id)
            .text_body(body)
            .write_to_vec()
            .context("cannot write the answer")?;
        Ok((answer, ticket))
    }

    /// The newest ticket requested by `email`.
    async fn newest_ticket_of(&self, email: &str) -> anyhow::Result<Option<Ticket>> {
        let state = self.handle.sim.state_json();
        let user = state["users"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|u| u["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(email)))
            .and_then(|u| u["id"].as_u64());
        let Some(user) = user else {
            return Ok(None);
        };
        let newest = self
            .tickets()
            .into_iter()
            .filter(|t| t.requester_id == Some(user))
            .max_by_key(|t| t.id);
        match newest {
            Some(t) => Ok(Some(self.bot.show_ticket(t.id).await?)),
            None => Ok(None),
        }
    }

    async fn custom_status_id(&self, name: &str) -> anyhow::Result<Id> {
        let statuses = self.bot.list_custom_statuses().await?;
        statuses
            .iter()
            .find(|s| s.agent_label == name)
            .map(|s| s.id)
            .with_context(|| format!("the simulator has no custom status {name:?}"))
    }

    /// `#1 pending/Pendente`.
    async fn ticket_state(&self, id: Id) -> anyhow::Result<String> {
        let ticket = self.bot.show_ticket(id).await?;
        let statuses = self.bot.list_custom_statuses().await?;
        let custom = ticket
            .custom_status_id
            .and_then(|cs| statuses.iter().find(|s| s.id == cs))
            .map(|s| s.agent_label.clone());
        // A closed ticket keeps the label of its solved status; it says
        // nothing more than "closed".
        let closed = ticket.status == Status::Closed;
        Ok(match custom {
            Some(label) if !closed && !is_plain_label(ticket.status.as_str(), &label) => {
                format!("#{id} {}/{label}", ticket.status.as_str())
            }
            _ => format!("#{id} {}", ticket.status.as_str()),
        })
    }

    /// The journal rows finished since the last call, one table row per
    /// step of each plan.
    async fn new_journal_rows(&mut self) -> anyhow::Result<Vec<Row>> {
        let mut rows = Vec::new();
        for entry in self.store.journal_all()? {
            if entry.state == JournalState::Planned || !self.shown.insert(entry.key.clone()) {
                continue;
            }
            let ticket = self.ticket_state(entry.ticket_id).await?;
            let plan: Plan = serde_json::from_str(&entry.plan)
                .with_context(|| format!("journal row {} holds an unreadable plan", entry.key))?;
            let failed = (entry.state == JournalState::Failed)
                .then(|| format!("FALHOU: {}", entry.error.clone().unwrap_or_default()));
            for step in &plan.steps {
                rows.push(Row {
                    at: plan.now,
                    event: String::new(),
                    rule: step.rule.clone(),
                    action: failed.clone().unwrap_or_else(|| table::effect_text(&step.effect)),
                    ticket: ticket.clone(),
                });
            }
            for problem in &plan.problems {
                rows.push(Row {
                    at: plan.now,
                    event: String::new(),
                    rule: problem.rule.clone(),
                    action: format!("não planejada: {}", problem.message),
                    ticket: ticket.clone(),
                });
            }
        }
        // Digests and reports write no journal row: they are the mails
        // about no ticket in the outbox.
        for entry in self.store.outbox_list(true)? {
            if entry.ticket_id != crate::outbound::NO_TICKET
                || !self.shown.insert(format!("outbox:{}", entry.id))
            {
                continue;
            }
            rows.push(Row {
                at: entry.created_at,
                event: String::new(),
                rule: "(resumo agendado, sem chamado)".to_owned(),
                action: format!("e-mail \"{}\" → {}", entry.subject, entry.recipients.join(", ")),
                ticket: String::new(),
            });
        }
        Ok(rows)
    }
}

/// Whether a custom status label is just the status' own name ("Open",
/// "On-hold" for `hold`), which the table does not repeat.
fn is_plain_label(status: &str, label: &str) -> bool {
    let plain: String = label
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    plain == status || plain == format!("on{status}")
}

/// Creates `out` afresh: refused when it exists, is not empty and holds no
/// [`MARKER`]; a previous demo folder is replaced. Returns it absolute.
fn prepare_folder(out: &Path) -> anyhow::Result<PathBuf> {
    if out.exists() {
        let is_dir = out.is_dir();
        let empty = is_dir
            && std::fs::read_dir(out)
                .with_context(|| format!("cannot read {}", out.display()))?
                .next()
                .is_none();
        if is_dir && out.join(MARKER).is_file() {
            std::fs::remove_dir_all(out)
                .with_context(|| format!("cannot remove the previous demo folder {}", out.display()))?;
        } else if !empty {
            anyhow::bail!(
                "{} already exists and is not a folder made by carteiro demo (it has no {MARKER} file); \
                 choose another folder with --out DIR, or remove it",
                out.display()
            );
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let out = out
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", out.display()))?;
    std::fs::write(
        out.join(MARKER),
        "Pasta criada por `carteiro demo`; a próxima execução a substitui.\n",
    )
    .with_context(|| format!("cannot write {}", out.join(MARKER).display()))?;
    Ok(out)
}

/// Sends the log to `path`, so it does not clutter the table.
fn init_log(path: &Path) {
    let Ok(file) = std::fs::File::create(path) else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::new("info");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .try_init();
}

/// A client of the simulator acting as `email` (the simulator makes anyone
/// it does not know an agent).
fn client(email: &str, base: &url::Url) -> anyhow::Result<ZendeskClient> {
    let auth = Auth::ApiToken {
        email: email.to_owned(),
        token: Secret::new("demo"),
    };
    let settings = ClientSettings {
        request_timeout: Duration::from_secs(5),
        max_retries: 3,
        max_backoff: Duration::from_millis(500),
        ..ClientSettings::new(base.clone(), auth)
    };
    ZendeskClient::builder(settings)
        .build()
        .with_context(|| format!("cannot set up a Zendesk client as {email}"))
}

/// The configuration the demo runs with, written to `carteiro.toml`.
fn config_text(out: &Path, base_url: &url::Url) -> String {
    let path = |p: &str| toml_string(&out.join(p).display().to_string());
    format!(
        r#"# The configuration `carteiro demo` ran with. Every key is documented in
# config/example.toml. To run carteiro for real, point [zendesk] at your
# account (subdomain, email, api_token_file), [smtp] at your server (host,
# or maildir for local delivery) and [[mailbox]] at your support inbox,
# then: carteiro run --config carteiro.toml

[zendesk]
# The simulator the demo started; it stopped with the demo.
base_url = {base}
email = "{BOT}"
api_token_file = {token}
request_timeout = "5s"
max_retries = 3
max_backoff = "1s"

[log]
level = "info"

[state]
path = {state}

[rules]
dir = {rules}

[tickets]
poll_interval = "200ms"
initial_lookback = "1h"

[mail]
own_addresses = ["{SUPPORT}", "{CONSULTING}", "{MANIFESTATIONS}"]
# The service-order sector's answers become internal notes (os-corporativo).
internal_senders = ["{SECTOR}"]
message_id_domain = "carteiro.demo.example"

[smtp]
# Local delivery: one Maildir per recipient under mail/.
maildir = {mail}
from_address = "{SUPPORT}"
from_name = "Suporte Empresa"

[outbox]
poll_interval = "100ms"
retry_initial = "1s"
retry_max = "5s"

[[mailbox]]
name = "suporte"
kind = "maildir"
path = {support}
poll_interval = "100ms"
"#,
        base = toml_string(base_url.as_str().trim_end_matches('/')),
        token = path("zendesk-token.txt"),
        state = path("state.db"),
        rules = path("rules"),
        mail = path("mail"),
        support = toml_string(&out.join("mail").join(SUPPORT).display().to_string()),
    )
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// A customer's plain-text mail to support.
fn customer_mail(
    from: &str,
    name: &str,
    to: &str,
    subject: &str,
    body: &str,
    now: chrono::DateTime<chrono::Utc>,
    n: u32,
) -> Vec<u8> {
    let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or("cliente.example");
    mail_builder::MessageBuilder::new()
        .from((name, from))
        .to(to)
        .subject(subject)
        .date(now.timestamp())
        .message_id(format!("demo-{n}-{}@{domain}", now.timestamp()))
        .text_body(body)
        .write_to_vec()
        .unwrap_or_default()
}

/// Delivers `raw` into the Maildir `dir` (tmp/, then renamed into new/).
fn deliver_into(dir: &Path, raw: &[u8], n: u32) -> anyhow::Result<()> {
    let name = format!(
        "{}.demo{n}P{}.carteiro-demo",
        chrono::Utc::now().timestamp(),
        std::process::id()
    );
    let tmp = dir.join("tmp").join(&name);
    std::fs::write(&tmp, raw).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join("new").join(&name))
        .with_context(|| format!("cannot move {} into new/", tmp.display()))?;
    Ok(())
}

/// The closing lines: where the mails, the simulator's state and the rules
/// are, and how to run carteiro for real.
/// The standard triggers rules/README.md ("In Zendesk") tells an admin to
/// deactivate: carteiro sends the requester's mails itself, in its own
/// thread, and with them on the customer would get everything twice.
/// Where the demo's Zendesk delivers its own notifications (a folder per
/// recipient under it), apart from carteiro's `mail/`.
const ZENDESK_MAIL: &str = "zendesk-mail";

pub const REQUESTER_TRIGGERS: [&str; 2] = [
    "Notify requester of new proactive ticket",
    "Notify requester and CCs of comment update",
];

/// Makes on the account at `base` the change rules/README.md asks of an
/// admin, through the Triggers API, as an admin's script would.
pub async fn deactivate_requester_triggers(base: &url::Url) -> anyhow::Result<()> {
    // reqwest takes its TLS provider from the process, as the Zendesk
    // client does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    // An OAuth token acts as the account's admin: triggers are an admin's.
    let listed: serde_json::Value = http
        .get(base.join("/api/v2/triggers")?)
        .bearer_auth("demo")
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let triggers = listed["triggers"].as_array().cloned().unwrap_or_default();
    for title in REQUESTER_TRIGGERS {
        let id = triggers
            .iter()
            .find(|t| t["title"] == title)
            .and_then(|t| t["id"].as_u64())
            .with_context(|| format!("the account has no trigger {title:?}"))?;
        http.put(base.join(&format!("/api/v2/triggers/{id}"))?)
            .bearer_auth("demo")
            .json(&serde_json::json!({ "trigger": { "active": false } }))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("cannot deactivate the trigger {title:?}"))?;
    }
    Ok(())
}

fn where_to_look(out: &Path, mail_dir: &Path, packs: &[&str], stdout: &mut impl Write) -> anyhow::Result<()> {
    writeln!(stdout, "Onde olhar:")?;
    let mut maildirs: Vec<PathBuf> = std::fs::read_dir(mail_dir)
        .with_context(|| format!("cannot list {}", mail_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    maildirs.sort();
    for maildir in maildirs {
        let address = maildir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut files: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        let what = if address == SUPPORT {
            "e-mails recebidos pelo suporte"
        } else {
            "e-mails enviados pelo carteiro para"
        };
        writeln!(stdout, "  {what} {address} ({}):", files.len())?;
        for file in files {
            writeln!(stdout, "    {}", file.display())?;
        }
    }
    let zendesk = out.join(ZENDESK_MAIL);
    let mut agents: Vec<String> = std::fs::read_dir(&zendesk)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    agents.sort();
    if !agents.is_empty() {
        writeln!(
            stdout,
            "  avisos do próprio Zendesk (acionadores padrão) aos agentes, em {}: {}",
            zendesk.display(),
            agents.join(", ")
        )?;
    }
    let lines = [
        (
            "estado do simulador (chamados, comentários, auditorias)",
            out.join("simulador.json"),
        ),
        ("regras carregadas (pacotes: {packs})", out.join("rules")),
        ("configuração usada", out.join("carteiro.toml")),
        ("estado do carteiro (SQLite)", out.join("state.db")),
        ("log do daemon", out.join("carteiro.log")),
    ];
    for (what, path) in lines {
        let what = what.replace("{packs}", &packs.join(", "));
        writeln!(stdout, "  {what}: {}", path.display())?;
    }
    writeln!(stdout)?;
    writeln!(
        stdout,
        "Para rodar de verdade: em {}, aponte [zendesk] para a sua conta, [smtp] para o seu servidor",
        out.join("carteiro.toml").display()
    )?;
    writeln!(stdout, "e [[mailbox]] para a caixa do suporte; então:")?;
    let me = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "carteiro".to_owned());
    writeln!(
        stdout,
        "  {me} check --config {}",
        out.join("carteiro.toml").display()
    )?;
    writeln!(
        stdout,
        "  {me} run --config {}",
        out.join("carteiro.toml").display()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "carteiro-demo-{name}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ))
    }

    #[test]
    fn a_folder_that_is_not_a_demo_folder_is_refused_and_left_alone() {
        let dir = temp("refuse");
        std::fs::create_dir_all(&dir).expect("create");
        std::fs::write(dir.join("importante.txt"), "não apague").expect("write");
        let err = prepare_folder(&dir).expect_err("refused");
        assert!(
            err.to_string()
                .contains("is not a folder made by carteiro demo (it has no .carteiro-demo file)"),
            "{err}"
        );
        assert!(dir.join("importante.txt").is_file());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_status_own_label_is_not_repeated() {
        assert!(is_plain_label("hold", "On-hold"));
        assert!(is_plain_label("open", "Open"));
        assert!(!is_plain_label("pending", "Pendente"));
        assert!(!is_plain_label("pending", "Validação Cliente"));
    }

    #[test]
    fn a_previous_demo_folder_is_replaced() {
        let dir = temp("replace");
        let first = prepare_folder(&dir).expect("first");
        std::fs::write(first.join("state.db"), "old").expect("write");
        let second = prepare_folder(&dir).expect("second");
        assert_eq!(first, second);
        assert!(!second.join("state.db").exists(), "the old content is gone");
        assert!(second.join(MARKER).is_file());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_written_configuration_is_valid() {
        let dir = temp("config");
        let out = prepare_folder(&dir).expect("folder");
        std::fs::write(out.join("zendesk-token.txt"), "demo\n").expect("token");
        std::fs::create_dir_all(out.join("rules")).expect("rules");
        let path = out.join("carteiro.toml");
        let base = url::Url::parse("http://127.0.0.1:9/").expect("url");
        std::fs::write(&path, config_text(&out, &base)).expect("write");
        let loaded = config::load(&LoadOptions {
            file: Some(path),
            default_file: None,
            env: Default::default(),
        })
        .map_err(|e| e.problems.iter().map(ToString::to_string).collect::<Vec<_>>())
        .expect("valid");
        let smtp = loaded.config.smtp.expect("[smtp]");
        assert_eq!(smtp.maildir, Some(out.join("mail")));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let _ = std::fs::remove_dir_all(dir);
    }
}
