//! The rule runner against the simulator, without mail servers: the ticket
//! poller's events planned and applied, `commit = true` as two audit
//! steps, schedules on the simulator's clock (pending 7 days → "Validação
//! Cliente" → closed 5 days later), a business-day rule across a holiday,
//! a daemon stopped for three days that runs each schedule once, and Help
//! Center articles searched only for a template that reads them.
//! Nothing sleeps: each step calls `poll_once` and `pass` where the
//! daemon's loops would tick, and `/__sim/clock` jumps the days.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{self, AGENT, Sim, client_as};
use carteiro::calendar::Calendars;
use carteiro::clock::Clock;
use carteiro::config::TicketsConfig;
use carteiro::helpdesk::sim::SimOptions;
use carteiro::helpdesk::zendesk::ZendeskClient;
use carteiro::helpdesk::{
    Audit, HelpDesk, NewComment, NewTicket, RequesterSpec, Status, Ticket, TicketUpdate,
};
use carteiro::mail::ingest::{Decision, Ingest, IngestOptions, Origin};
use carteiro::outbound::{ComposeOptions, MailAddress};
use carteiro::rules::exec::{ExecOptions, Executor};
use carteiro::rules::reload::RulesHandle;
use carteiro::rules::runner::{PassReport, RuleRunner, RunnerOptions};
use carteiro::store::{GuardPolicy, Store};
use carteiro::tickets::poller::TicketPoller;
use serde_json::json;

const ANA: &str = "ana@empresa.example";
const MARIA: &str = "maria@cliente.example";

const RULES: &str = r#"
version = 1
timezone = "America/Sao_Paulo"
calendar = "br"

[[rule]]
name = "encaminhar-os"
on = ["ticket.updated"]
all = [ { field = "ticket.group", op = "changed_to", value = "Ordem de Serviço" } ]
actions = [
  { set_status = "open", commit = true },
  { set_status = "hold" },
  { internal_note = "nota_os" },
]

[[rule]]
name = "pendente-7d-validacao"
on = ["schedule"]
cron = "0 */10 * * * *"
all = [
  { field = "ticket.custom_status", op = "is", value = "Pendente" },
  { field = "ticket.clock.custom_status_changed_at", op = "older_than", value = "7d" },
]
actions = [ { set_custom_status = "Validação Cliente" } ]

[[rule]]
name = "validacao-5d-fechar"
on = ["schedule"]
cron = "0 */10 * * * *"
all = [
  { field = "ticket.custom_status", op = "is", value = "Validação Cliente" },
  { field = "ticket.clock.custom_status_changed_at", op = "older_than", value = "5d" },
]
actions = [ { set_status = "closed" } ]

[[rule]]
name = "avaliacao-por-email"
on = ["mail.received"]
all = [
  { field = "mail.kind", op = "is", value = "reply" },
  { field = "mail.body", op = "matches", value = "(?i)^\\s*(nota\\s*)?[1-5]\\b" },
]
actions = [ { add_tags = ["avaliado"] } ]

[[rule]]
name = "prazo-3du"
on = ["schedule"]
cron = "0 0 * * * *"
all = [
  { field = "ticket.tags", op = "contains", value = "prazo" },
  { field = "ticket.created_at", op = "older_than", value = "3bd" },
]
not = [ { field = "ticket.tags", op = "contains", value = "prazo_vencido" } ]
actions = [ { add_tags = ["prazo_vencido"] } ]
"#;

fn seed() -> serde_json::Value {
    json!({
        "groups": [ { "id": 50, "name": "Suporte" }, { "id": 51, "name": "Ordem de Serviço" } ],
        "custom_statuses": [
            { "id": 900, "status_category": "pending", "agent_label": "Pendente", "active": true, "default": true },
            { "id": 901, "status_category": "pending", "agent_label": "Validação Cliente", "active": true, "default": false },
        ],
        "articles": [
            { "id": 7001, "title": "Como renovar o certificado digital", "locale": "pt-br", "draft": false,
              "html_url": "https://ajuda.empresa.example/hc/pt-br/articles/7001",
              "body": "<p>Para renovar o certificado digital vencido, acesse o portal.</p>" },
            { "id": 7002, "title": "Impressora fiscal", "locale": "pt-br", "draft": false,
              "body": "<p>Configure a impressora.</p>" },
        ],
    })
}

struct World {
    sim: Sim,
    ana: ZendeskClient,
    path: PathBuf,
    rules_dir: PathBuf,
    store: Arc<Store>,
    poller: TicketPoller<ZendeskClient>,
    runner: RuleRunner<ZendeskClient>,
}

/// Where a test mail with this UID came from.
fn origin(uid: u32) -> Origin<'static> {
    Origin {
        mailbox: "suporte",
        uidvalidity: 1,
        uid,
    }
}

impl World {
    /// Mail ingest into this world's simulator and store, on its clock.
    fn ingest(&self) -> Ingest<ZendeskClient> {
        let clock: Arc<dyn Clock> = self.sim.handle.sim.clock();
        Ingest::new(
            self.sim.client.clone(),
            self.store.clone(),
            IngestOptions::default(),
            clock,
        )
    }

    async fn start(name: &str) -> World {
        World::start_with(name, RunnerOptions::default()).await
    }

    async fn start_with(name: &str, options: RunnerOptions) -> World {
        World::start_on(name, options, SimOptions::default().clock).await
    }

    /// A world whose simulator clock starts at `clock`'s reading.
    async fn start_on(name: &str, options: RunnerOptions, clock: Arc<dyn Clock>) -> World {
        let sim = Sim::start(SimOptions {
            seed: serde_json::from_value(seed()).expect("seed"),
            relax_export_start: true,
            clock,
            ..SimOptions::default()
        })
        .await;
        let ana = client_as(sim.handle.base_url.clone(), ANA, 10, |b| b);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("runner-tests")
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let rules_dir = dir.join("rules");
        std::fs::create_dir_all(rules_dir.join("templates")).expect("dir");
        std::fs::write(rules_dir.join("regras.toml"), RULES).expect("rules");
        std::fs::write(
            rules_dir.join("templates/nota_os.txt.j2"),
            "Ordem de serviço #{{ ticket.id }} encaminhada ao setor.\n",
        )
        .expect("template");
        let path = dir.join("carteiro.db");
        let store = Arc::new(Store::open(&path).expect("store"));
        let (poller, runner) = daemon(&sim, store.clone(), &rules_dir, options);
        World {
            sim,
            ana,
            path,
            rules_dir,
            store,
            poller,
            runner,
        }
    }

    /// The daemon stops and starts again over the same store file.
    fn restart(&mut self) {
        self.store = Arc::new(Store::open(&self.path).expect("reopen"));
        let (poller, runner) = daemon(
            &self.sim,
            self.store.clone(),
            &self.rules_dir,
            RunnerOptions::default(),
        );
        self.poller = poller;
        self.runner = runner;
    }

    /// One tick of the daemon: a poll, then a pass of the runner.
    async fn tick(&mut self) -> PassReport {
        self.poller.poll_once().await.expect("poll");
        self.runner.pass().await.expect("pass")
    }

    async fn later(&self, secs: u64) {
        self.sim.advance_clock(secs).await;
    }

    async fn maria_writes(&self, subject: &str, tags: &[&str]) -> Ticket {
        self.sim
            .client
            .create_ticket(&NewTicket {
                subject: Some(subject.into()),
                comment: NewComment::public(format!("{subject}: não funciona.")),
                requester: Some(RequesterSpec {
                    email: MARIA.into(),
                    name: Some("Maria".into()),
                    locale_id: None,
                }),
                status: Some(Status::Open),
                tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                ..NewTicket::default()
            })
            .await
            .expect("create")
    }

    async fn ana_updates(&self, id: u64, update: TicketUpdate) -> Ticket {
        let ticket = self.ana.show_ticket(id).await.expect("show");
        self.ana
            .update_ticket(id, &update, ticket.updated_at)
            .await
            .expect("update")
    }

    async fn ticket(&self, id: u64) -> Ticket {
        self.sim.client.show_ticket(id).await.expect("show")
    }

    /// The audits carteiro's rules wrote on ticket `id`, oldest first (the
    /// creation, which carteiro's ingest makes for a mail, is left out).
    async fn bot_audits(&self, id: u64) -> Vec<Audit> {
        let bot = self.sim.client.me().await.expect("me").id;
        let mut audits: Vec<Audit> = self
            .sim
            .client
            .list_audits(id)
            .await
            .expect("audits")
            .into_iter()
            .filter(|a| a.author_id == Some(bot))
            .filter(|a| !a.events.iter().any(|e| e.event_type == "Create"))
            .collect();
        audits.sort_by_key(|a| a.id);
        audits
    }
}

fn daemon(
    sim: &Sim,
    store: Arc<Store>,
    rules_dir: &Path,
    runner_options: RunnerOptions,
) -> (TicketPoller<ZendeskClient>, RuleRunner<ZendeskClient>) {
    let clock: Arc<dyn Clock> = sim.handle.sim.clock();
    let client = client_as(sim.handle.base_url.clone(), AGENT, 10, |b| b.clock(clock.clone()));
    let poller = TicketPoller::new(
        client.clone(),
        store.clone(),
        clock.clone(),
        TicketsConfig {
            poll_interval: Duration::from_secs(30),
            initial_lookback: Duration::from_secs(3600),
            solve_assignee: None,
        },
    );
    let options = ExecOptions {
        compose: ComposeOptions {
            from: MailAddress::named("Suporte", "suporte@empresa.example"),
            message_id_domain: "empresa.example".to_owned(),
            loop_header: "X-Carteiro-Loop".to_owned(),
            subject_tag: carteiro::config::SubjectTag::parse("[#{id}]"),
        },
        guards: GuardPolicy {
            own_addresses: vec!["suporte@empresa.example".to_owned()],
            robots: regex::Regex::new("^(no-?reply|mailer-daemon)@").expect("regex"),
            recipient_caps: Vec::new(),
            ticket_caps: Vec::new(),
        },
        rules_dir: rules_dir.to_path_buf(),
        max_replans: 3,
        solve_assignee: None,
    };
    let executor = Executor::new(client.clone(), store.clone(), options, clock.clone());
    let rules = Arc::new(RulesHandle::load(rules_dir, Calendars::new()).expect("rules load"));
    let runner = RuleRunner::new(client, store, rules, executor, clock, runner_options).expect("runner");
    (poller, runner)
}

fn status_changes(audit: &Audit) -> Vec<String> {
    audit
        .events
        .iter()
        .filter(|e| e.field_name.as_deref() == Some("status"))
        .map(|e| {
            e.value
                .as_ref()
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn an_agents_group_change_is_forwarded_as_open_then_hold_in_two_audits() {
    let mut world = World::start("forward").await;
    world.tick().await; // baseline
    let ticket = world.maria_writes("Impressora parada", &[]).await;
    world.later(60).await;
    world.tick().await; // ticket.created: no rule
    assert!(world.bot_audits(ticket.id).await.is_empty());

    world
        .ana_updates(
            ticket.id,
            TicketUpdate {
                group_id: Some(51),
                status: Some(Status::Pending),
                ..TicketUpdate::default()
            },
        )
        .await;
    world.later(60).await;
    let report = world.tick().await;
    assert_eq!(report.ticket_events, 1);
    assert_eq!(report.applied, 1);
    let audits = world.bot_audits(ticket.id).await;
    assert_eq!(audits.len(), 2, "open, then hold: {audits:#?}");
    assert_eq!(status_changes(&audits[0]), vec!["open".to_owned()]);
    assert_eq!(status_changes(&audits[1]), vec!["hold".to_owned()]);
    let note = audits[1]
        .events
        .iter()
        .find(|e| e.event_type == "Comment")
        .expect("the note rides with the second update");
    assert_eq!(note.public, Some(false));
    assert_eq!(
        note.body.as_deref().map(str::trim),
        Some(format!("Ordem de serviço #{} encaminhada ao setor.", ticket.id).as_str())
    );
    assert_eq!(world.ticket(ticket.id).await.status, Status::Hold);

    // carteiro's own writes are not someone else's change: nothing fires.
    world.later(60).await;
    let quiet = world.tick().await;
    assert_eq!((quiet.ticket_events, quiet.applied), (0, 0), "{quiet:?}");
    assert_eq!(world.bot_audits(ticket.id).await.len(), 2);
}

#[tokio::test]
async fn pending_seven_days_goes_to_validation_then_closes_five_days_later() {
    let mut world = World::start("pending").await;
    world.tick().await; // baseline, and the schedules start counting
    let ticket = world.maria_writes("Sem acesso", &[]).await;
    world
        .ana_updates(
            ticket.id,
            TicketUpdate {
                status: Some(Status::Pending),
                ..TicketUpdate::default()
            },
        )
        .await;
    world.later(60).await;
    world.tick().await;
    assert_eq!(world.ticket(ticket.id).await.custom_status_id, Some(900));

    // Six days and 23 hours: not yet.
    world.later(7 * 86_400 - 3_600).await;
    world.tick().await;
    assert_eq!(world.ticket(ticket.id).await.custom_status_id, Some(900));
    // Past seven days, at the next ten-minute tick.
    world.later(3_600 + 600).await;
    let report = world.tick().await;
    assert!(report.swept >= 1, "{report:?}");
    let moved = world.ticket(ticket.id).await;
    assert_eq!(
        (moved.status, moved.custom_status_id),
        (Status::Pending, Some(901))
    );

    // The status clock did not move (still pending), the custom one did:
    // four days later nothing closes it.
    world.later(4 * 86_400).await;
    world.tick().await;
    assert_eq!(world.ticket(ticket.id).await.status, Status::Pending);
    world.later(86_400 + 600).await;
    world.tick().await;
    assert_eq!(world.ticket(ticket.id).await.status, Status::Closed);
    let audits = world.bot_audits(ticket.id).await;
    assert_eq!(audits.len(), 2, "one move to validation, one close: {audits:#?}");
}

#[tokio::test]
async fn a_business_day_deadline_skips_the_holiday() {
    // Thursday 2026-12-24 10:00 in São Paulo: the day before Christmas.
    let clock = support::clock_from("2026-12-24T10:00:00-03:00");
    let mut world = World::start_on("holiday", RunnerOptions::default(), clock).await;
    world.tick().await;
    let ticket = world.maria_writes("Prazo de três dias úteis", &["prazo"]).await;
    world.later(60).await;
    world.tick().await;
    // Thursday + 3bd: Friday is Christmas, so Monday, Tuesday, Wednesday
    // 30 December 10:01. Tuesday evening it is not late yet.
    world.later(5 * 86_400 + 8 * 3_600).await; // Tuesday 29 December, 18:01
    world.tick().await;
    assert!(
        !world
            .ticket(ticket.id)
            .await
            .tags
            .contains(&"prazo_vencido".to_owned())
    );
    world.later(16 * 3_600 + 3_600).await; // Wednesday 30 December, 11:01
    world.tick().await;
    assert!(
        world
            .ticket(ticket.id)
            .await
            .tags
            .contains(&"prazo_vencido".to_owned())
    );
}

#[tokio::test]
async fn after_three_days_down_each_schedule_runs_once_and_each_ticket_moves_once() {
    let mut world = World::start("downtime").await;
    world.tick().await;
    let ticket = world.maria_writes("Aguardando cliente", &[]).await;
    world
        .ana_updates(
            ticket.id,
            TicketUpdate {
                status: Some(Status::Pending),
                ..TicketUpdate::default()
            },
        )
        .await;
    world.later(60).await;
    world.tick().await;
    world.later(5 * 86_400).await;
    world.tick().await;
    // The daemon stops here for three days (432 ten-minute ticks), then
    // starts again over the same store.
    world.later(3 * 86_400).await;
    world.restart();
    let report = world.tick().await;
    assert_eq!(report.applied, 1, "{report:?}");
    let after = world.runner.pass().await.expect("pass");
    assert_eq!(after.swept, 0, "the missed ticks ran once: {after:?}");
    let moved = world.ticket(ticket.id).await;
    assert_eq!(moved.custom_status_id, Some(901));
    assert_eq!(
        world.bot_audits(ticket.id).await.len(),
        1,
        "the ticket moved once"
    );
    let last_run = world
        .store
        .cursor("schedule_last_run:pendente-7d-validacao")
        .expect("cursor")
        .expect("a last run");
    let last_run = chrono::DateTime::parse_from_rfc3339(&last_run).expect("instant");
    let now = world.sim.handle.sim.clock().now();
    assert!(now - last_run.with_timezone(&chrono::Utc) < chrono::TimeDelta::minutes(10));
}

fn raw_mail(message_id: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Maria <maria@cliente.example>\r\nTo: suporte@empresa.example\r\nSubject: Atendimento\r\n\
         Message-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 -0300\r\n{headers}\r\n{body}\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn a_customers_mail_reply_is_a_mail_received_event_for_the_rules() {
    let mut world = World::start("mail").await;
    world.tick().await;
    let ingest = world.ingest();
    let Decision::Created { ticket_id } = ingest
        .process(
            &origin(1),
            &raw_mail("m1@cliente.example", "", "Nota 5 para o atendimento?"),
        )
        .await
        .expect("processed")
    else {
        panic!("a new ticket");
    };
    // A new mail is kind "new": the rating rule does not fire on it.
    let report = world.tick().await;
    assert_eq!(report.mail_events, 1);
    assert!(
        !world
            .ticket(ticket_id)
            .await
            .tags
            .contains(&"avaliado".to_owned())
    );

    // The reply, with the quoted history below it: only "Nota 4" counts.
    let reply = "Nota 4, obrigada!\r\n\r\nEm seg., 23 de nov. de 2026, Suporte escreveu:\r\n> Como avalia o atendimento?";
    ingest
        .process(
            &origin(2),
            &raw_mail(
                "m2@cliente.example",
                "In-Reply-To: <m1@cliente.example>\r\n",
                reply,
            ),
        )
        .await
        .expect("processed");
    let queued = world.store.pending_mail_events(10).expect("events");
    assert_eq!(queued.len(), 1);
    let (_, queued_ticket, facts) = &queued[0];
    assert_eq!(*queued_ticket, ticket_id);
    assert_eq!((facts.kind.as_str(), facts.from.as_str()), ("reply", MARIA));
    assert_eq!(facts.body.trim(), "Nota 4, obrigada!");
    let report = world.runner.pass().await.expect("pass");
    assert_eq!((report.mail_events, report.applied), (1, 1), "{report:?}");
    assert!(
        world
            .ticket(ticket_id)
            .await
            .tags
            .contains(&"avaliado".to_owned())
    );
    assert!(world.store.pending_mail_events(10).expect("events").is_empty());
}

#[tokio::test]
async fn a_capped_sweep_continues_on_the_next_tick() {
    let options = RunnerOptions {
        sweep_limit: 2,
        ..RunnerOptions::default()
    };
    let mut world = World::start_with("capped", options).await;
    world.tick().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let ticket = world.maria_writes(&format!("Aguardando {n}"), &[]).await;
        world
            .ana_updates(
                ticket.id,
                TicketUpdate {
                    status: Some(Status::Pending),
                    ..TicketUpdate::default()
                },
            )
            .await;
        ids.push(ticket.id);
    }
    world.later(60).await;
    world.tick().await;
    world.later(7 * 86_400 + 600).await;
    let first = world.tick().await;
    assert_eq!(
        (first.swept, first.applied, first.sweep_unfinished),
        (2, 2, true),
        "{first:?}"
    );
    // Before the next tick nothing more is swept.
    let idle = world.runner.pass().await.expect("pass");
    assert_eq!(idle.swept, 0, "{idle:?}");
    assert_eq!(world.ticket(ids[2]).await.custom_status_id, Some(900));
    // At the next tick the rest is swept.
    world.later(600).await;
    let next = world.tick().await;
    assert!(next.applied >= 1, "{next:?}");
    for id in ids {
        assert_eq!(world.ticket(id).await.custom_status_id, Some(901), "ticket {id}");
    }
}

#[tokio::test]
async fn a_mail_event_whose_ticket_is_gone_is_dropped_and_does_not_block_the_queue() {
    let mut world = World::start("gone").await;
    world.tick().await;
    let facts = carteiro::rules::MailFacts {
        kind: "reply".to_owned(),
        from: MARIA.to_owned(),
        subject: "Re: chamado".to_owned(),
        body: "Nota 5".to_owned(),
        message_id: "gone@cliente.example".to_owned(),
        ..carteiro::rules::MailFacts::default()
    };
    world
        .store
        .record_processed(&carteiro::store::ProcessedMail {
            message_id: "gone@cliente.example".to_owned(),
            raw_sha256: "0".repeat(64),
            mailbox: "suporte".to_owned(),
            uidvalidity: 1,
            uid: 1,
            outcome: carteiro::store::Outcome::CommentAdded,
            ticket_id: Some(999_999),
            processed_at: chrono::Utc::now(),
            event: Some(serde_json::to_string(&facts).expect("json")),
        })
        .expect("record");
    // A live ticket's reply queued after it still gets its rule.
    let ticket = world.maria_writes("Atendimento", &[]).await;
    world
        .store
        .record_processed(&carteiro::store::ProcessedMail {
            message_id: "live@cliente.example".to_owned(),
            raw_sha256: "1".repeat(64),
            mailbox: "suporte".to_owned(),
            uidvalidity: 1,
            uid: 2,
            outcome: carteiro::store::Outcome::CommentAdded,
            ticket_id: Some(ticket.id),
            processed_at: chrono::Utc::now(),
            event: Some(
                serde_json::to_string(&carteiro::rules::MailFacts {
                    message_id: "live@cliente.example".to_owned(),
                    ..facts
                })
                .expect("json"),
            ),
        })
        .expect("record");
    let report = world
        .runner
        .pass()
        .await
        .expect("the gone ticket does not fail the pass");
    assert_eq!((report.mail_events, report.applied), (2, 1), "{report:?}");
    assert!(world.store.pending_mail_events(10).expect("events").is_empty());
    assert!(
        world
            .ticket(ticket.id)
            .await
            .tags
            .contains(&"avaliado".to_owned())
    );
}

/// Rules for the articles test: the acknowledgement reads `articles`, the
/// note on a reply does not.
const ARTICLE_RULES: &str = r#"
version = 1

[[rule]]
name = "confirmar-com-artigos"
on = ["mail.received"]
all = [ { field = "mail.kind", op = "is", value = "new" } ]
actions = [ { send_mail = { to = ["requester"], template = "confirmacao_artigos" } } ]

[[rule]]
name = "nota-resposta"
on = ["mail.received"]
all = [ { field = "mail.kind", op = "is", value = "reply" } ]
actions = [ { internal_note = "nota_resposta" } ]
"#;

const SEARCH: &str = "GET /api/v2/help_center/articles/search";

async fn searches(world: &World) -> u64 {
    world.sim.state().await["requests"][SEARCH].as_u64().unwrap_or(0)
}

fn customer_mail(message_id: &str, subject: &str, headers: &str) -> Vec<u8> {
    format!(
        "From: Maria <maria@cliente.example>\r\nTo: suporte@empresa.example\r\nSubject: {subject}\r\n\
         Message-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 -0300\r\n{headers}\r\nBom dia.\r\n"
    )
    .into_bytes()
}

/// The text of the mails queued in the outbox for ticket `id`.
fn queued_texts(world: &World, id: u64) -> Vec<String> {
    world
        .store
        .outbox_list(true)
        .expect("outbox")
        .into_iter()
        .filter(|e| e.ticket_id == id)
        .map(|e| {
            let raw = world
                .store
                .outbox_get(e.id)
                .expect("outbox row")
                .and_then(|e| e.raw)
                .expect("the queued mail's bytes");
            carteiro::mail::parse::parse(&raw, &carteiro::mail::parse::ParseOptions::default()).body_text
        })
        .collect()
}

#[tokio::test]
async fn a_help_center_article_from_the_sim_reaches_the_acknowledgement_and_only_when_read() {
    let mut world = World::start("articles").await;
    std::fs::write(world.rules_dir.join("artigos.toml"), ARTICLE_RULES).expect("rules");
    std::fs::write(
        world.rules_dir.join("templates/confirmacao_artigos.txt.j2"),
        "Chamado #{{ ticket.id }}.\n{% for a in articles %}* {{ a.title }} <{{ a.html_url }}>\n{% else %}Sem artigos.\n{% endfor %}",
    )
    .expect("template");
    std::fs::write(
        world.rules_dir.join("templates/nota_resposta.txt.j2"),
        "O cliente respondeu.\n",
    )
    .expect("template");
    world.restart();
    world.tick().await;
    let ingest = world.ingest();

    // A new mail: its subject finds the seeded article, which the
    // acknowledgement lists; one search.
    let Decision::Created { ticket_id } = ingest
        .process(
            &origin(1),
            &customer_mail("a1@cliente.example", "RE: [#99] Certificado digital vencido!", ""),
        )
        .await
        .expect("processed")
    else {
        panic!("a new ticket");
    };
    let report = world.tick().await;
    assert_eq!(report.applied, 1, "{report:?}");
    let texts = queued_texts(&world, ticket_id);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].contains(
            "* Como renovar o certificado digital <https://ajuda.empresa.example/hc/pt-br/articles/7001>"
        ),
        "{}",
        texts[0]
    );
    assert!(!texts[0].contains("Impressora"), "{}", texts[0]);
    assert_eq!(searches(&world).await, 1);

    // A reply: the note's template reads no articles, so no search.
    ingest
        .process(
            &origin(2),
            &customer_mail(
                "a2@cliente.example",
                "Re: Certificado digital vencido",
                "In-Reply-To: <a1@cliente.example>\r\n",
            ),
        )
        .await
        .expect("processed");
    let report = world.tick().await;
    assert_eq!(report.applied, 1, "{report:?}");
    assert_eq!(
        searches(&world).await,
        1,
        "no search for a template without articles"
    );

    // The Help Center fails: the acknowledgement still goes, without
    // articles.
    world
        .sim
        .faults(json!([ { "kind": "status", "status": 403, "count": 5, "match": SEARCH } ]))
        .await;
    let Decision::Created { ticket_id: second } = ingest
        .process(
            &origin(3),
            &customer_mail("a3@cliente.example", "Certificado digital", ""),
        )
        .await
        .expect("processed")
    else {
        panic!("a new ticket");
    };
    let report = world.tick().await;
    assert_eq!(report.applied, 1, "{report:?}");
    let texts = queued_texts(&world, second);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("Sem artigos."), "{}", texts[0]);
}

const DIGEST_RULES: &str = r#"
version = 1
timezone = "America/Sao_Paulo"
calendar = "br"

[[rule]]
name = "resumo-diario"
on = ["schedule"]
cron = "0 0 8 * * *"
all = [
  { field = "ticket.status", op = "in", value = ["new", "open", "pending", "hold"] },
  { field = "ticket.due_at", op = "present" },
]
actions = [ { send_digest = { to = ["gestores@empresa.example"], template = "resumo", subject = "Resumo de {{ digest.today }}: {{ digest.total }}" } } ]
"#;

/// The digest mails in the outbox (about no ticket), oldest first, with
/// their text.
fn digests(world: &World) -> Vec<(carteiro::store::OutboxEntry, String)> {
    let mut rows: Vec<_> = world
        .store
        .outbox_list(true)
        .expect("outbox")
        .into_iter()
        .filter(|e| e.ticket_id == carteiro::outbound::NO_TICKET)
        .map(|e| {
            let raw = world
                .store
                .outbox_get(e.id)
                .expect("outbox row")
                .and_then(|e| e.raw)
                .expect("the queued mail's bytes");
            let text =
                carteiro::mail::parse::parse(&raw, &carteiro::mail::parse::ParseOptions::default()).body_text;
            (e, text)
        })
        .collect();
    rows.sort_by_key(|(e, _)| e.id);
    rows
}

#[tokio::test]
async fn a_daily_digest_lists_each_ticket_in_its_bucket_once_per_tick_even_after_a_restart() {
    use chrono::{Days, TimeZone};
    let mut world = World::start("digest").await;
    std::fs::write(world.rules_dir.join("resumo.toml"), DIGEST_RULES).expect("rules");
    std::fs::write(
        world.rules_dir.join("templates/resumo.txt.j2"),
        "{% for t in digest.tickets %}{{ t.bucket }} #{{ t.id }} {{ t.due_day }}\n{% endfor %}\
         vencidos: {{ digest.counts.vencido }}\n",
    )
    .expect("template");
    world.restart();
    world.tick().await;

    // The next 08:00 in São Paulo, and the tickets due around it.
    let zone = chrono_tz::America::Sao_Paulo;
    let calendar = carteiro::calendar::Calendar::br();
    let now = world.sim.handle.sim.clock().now().with_timezone(&zone);
    let mut day = now.date_naive();
    if now.time() >= chrono::NaiveTime::from_hms_opt(7, 0, 0).expect("time") {
        day = day.checked_add_days(Days::new(1)).expect("day");
    }
    let local = |day: chrono::NaiveDate, hour: u32| {
        zone.from_local_datetime(&day.and_hms_opt(hour, 0, 0).expect("time"))
            .single()
            .expect("one instant")
            .with_timezone(&chrono::Utc)
    };
    let tick = local(day, 8);
    let mut next_business = day.checked_add_days(Days::new(1)).expect("day");
    while !calendar.is_business_day(next_business) {
        next_business = next_business.checked_add_days(Days::new(1)).expect("day");
    }
    let ana = world.ana.me().await.expect("me").id;
    let create =
        |subject: &str, due: Option<chrono::DateTime<chrono::Utc>>, assignee: Option<u64>, status: Status| {
            NewTicket {
                subject: Some(subject.into()),
                comment: NewComment::public(format!("{subject}.")),
                requester: Some(RequesterSpec {
                    email: MARIA.into(),
                    name: Some("Maria".into()),
                    locale_id: None,
                }),
                status: Some(status),
                ticket_type: Some("task".into()),
                assignee_id: assignee,
                due_at: due,
                ..NewTicket::default()
            }
        };
    let mut ids = Vec::new();
    for new in [
        create("Vencido sem responsável", Some(local(day, 7)), None, Status::Open),
        create("Vencido", Some(local(day, 6)), Some(ana), Status::Pending),
        create("Vence hoje", Some(local(day, 17)), Some(ana), Status::Open),
        create(
            "Vence em breve",
            Some(local(next_business, 12)),
            None,
            Status::Hold,
        ),
        create(
            "Vence daqui a um mês",
            Some(tick + chrono::TimeDelta::days(30)),
            None,
            Status::Open,
        ),
        create("Sem prazo", None, None, Status::Open),
        create(
            "Resolvido e vencido",
            Some(local(day, 7)),
            Some(ana),
            Status::Solved,
        ),
    ] {
        ids.push(world.sim.client.create_ticket(&new).await.expect("create").id);
    }
    world.later(60).await;
    world.tick().await;
    assert!(digests(&world).is_empty(), "no digest before 08:00");

    // 08:00: one mail, with the right tickets in the right sections.
    let wait = (tick - world.sim.handle.sim.clock().now()).num_seconds() + 30;
    world.later(u64::try_from(wait).expect("the tick is ahead")).await;
    world.tick().await;
    let sent = digests(&world);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (entry, text) = &sent[0];
    assert_eq!(entry.recipients, ["gestores@empresa.example"]);
    assert_eq!(entry.subject, format!("Resumo de {day}: 4"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            format!("vencido_sem_responsavel #{} {day}", ids[0]).as_str(),
            format!("vencido #{} {day}", ids[1]).as_str(),
            format!("vence_hoje #{} {day}", ids[2]).as_str(),
            format!("vence_em_breve #{} {next_business}", ids[3]).as_str(),
            "vencidos: 1",
        ]
    );
    let raw = world
        .store
        .outbox_get(entry.id)
        .expect("row")
        .and_then(|e| e.raw)
        .expect("raw");
    let raw = String::from_utf8_lossy(&raw);
    assert!(!raw.contains("[#"), "no ticket tag: {raw}");
    assert!(
        !raw.contains(carteiro::outbound::TICKET_HEADER),
        "no ticket header: {raw}"
    );
    // Ticket-less: no ticket was written to.
    for id in &ids {
        assert!(world.bot_audits(*id).await.is_empty(), "ticket {id} untouched");
    }

    // A stop after the mail was queued but before the tick was recorded:
    // the same tick runs again after the restart, and queues nothing new.
    let before = (tick - chrono::TimeDelta::minutes(5)).to_rfc3339();
    world
        .store
        .set_cursor("schedule_last_run:resumo-diario", &before)
        .expect("cursor");
    world.restart();
    let again = world.tick().await;
    assert_eq!(again.applied, 1, "the tick ran again: {again:?}");
    world.tick().await;
    assert_eq!(digests(&world).len(), 1, "one digest per tick");

    // The next day's tick sends the next digest.
    world.later(86_400).await;
    world.tick().await;
    let sent = digests(&world);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_ne!(sent[0].0.message_id, sent[1].0.message_id);
}

#[tokio::test]
async fn a_digest_refused_for_good_stays_failed_in_the_outbox_and_notes_no_ticket() {
    use carteiro::outbound::{Backoff, DeliveryWorker, MaildirSender};
    let world = World::start("digest-failed").await;
    let mail = carteiro::store::NewOutboxMail {
        message_id: "carteiro.resumo.1@empresa.example".to_owned(),
        ticket_id: carteiro::outbound::NO_TICKET,
        envelope_from: "suporte@empresa.example".to_owned(),
        recipients: vec!["gestores@empresa.example".to_owned()],
        subject: "Resumo".to_owned(),
        raw: b"Subject: Resumo\r\n\r\ncorpo\r\n".to_vec(),
    };
    let policy = GuardPolicy {
        own_addresses: Vec::new(),
        robots: regex::Regex::new("^mailer-daemon@").expect("regex"),
        recipient_caps: Vec::new(),
        ticket_caps: Vec::new(),
    };
    world.store.enqueue_mail(&mail, &policy).expect("enqueue");
    let claimed = world.store.claim_due_mail().expect("claim").expect("a due mail");
    world
        .store
        .mark_mail_failed(claimed.id, "550 5.1.1 mailbox unavailable", None)
        .expect("failed");
    let before = world.sim.state().await["requests"].clone();
    let clock: Arc<dyn Clock> = world.sim.handle.sim.clock();
    let client = client_as(world.sim.handle.base_url.clone(), AGENT, 10, |b| b);
    let worker = DeliveryWorker::new(
        world.store.clone(),
        MaildirSender::new(world.path.with_extension("maildirs")),
        client,
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        },
        Duration::from_millis(100),
        clock,
    );
    worker.note_failures().await;
    let row = world.store.outbox_get(claimed.id).expect("row").expect("the row");
    assert_eq!(row.state, carteiro::store::OutboxState::Failed);
    assert!(row.noted_at.is_some(), "{row:?}");
    assert_eq!(
        world.sim.state().await["requests"],
        before,
        "no request to the helpdesk: there is no ticket to note"
    );
    assert!(world.store.failed_mail_to_note().expect("list").is_empty());
}
