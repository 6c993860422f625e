//! The status-cycle pack (procedure 003), end to end: the whole shipped
//! `rules/` folder (every pack, as a real install loads it), the daemon
//! in-process (`carteiro::daemon::run_with_clock`, what `carteiro run`
//! runs) on the simulator's clock, real SMTP into the real Dovecot, and
//! agents acting through the simulator's API.
//!
//! A customer's mail opens a ticket and the acknowledgement, with the
//! ticket number, the checklist and the matching Help Center article,
//! reaches the customer's mailbox. An agent sets it to "Pendente": six
//! days later nothing happens, seven days later it is "Validação Cliente",
//! five more days and it is closed. A second ticket is solved by an agent:
//! the satisfaction survey reaches the customer, whose threaded reply "5"
//! lands in "Satisfação", leaves the ticket solved with an internal note,
//! and five days later the ticket is closed, surveyed once. Every wait is
//! bounded and polls.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::support::daemon::E2eConfig;
use crate::support::mail::{MailServers, TestMailbox, servers};
use crate::support::{self, Sim};
use carteiro::clock::Clock;
use carteiro::helpdesk::sim::SimOptions;
use carteiro::helpdesk::zendesk::ZendeskClient;
use carteiro::helpdesk::{Audit, HelpDesk, Id, Status, Ticket, TicketUpdate};
use serde_json::json;

/// How long any one step may take.
const STEP: Duration = Duration::from_secs(30);

/// The agent who works the tickets, acting through the API.
const BRUNO: &str = "bruno@suporte.example";

/// The seeded custom statuses the pack names.
const PENDENTE: Id = 900;
const VALIDACAO: Id = 901;

/// The seeded integer field "Satisfação".
const SATISFACAO: Id = 600;

/// Tuesday 1 December 2026, 10:00 in São Paulo.
const START: &str = "2026-12-01T10:00:00-03:00";

const DAY: u64 = 24 * 60 * 60;

struct World {
    sim: Sim,
    bot: ZendeskClient,
    bruno: ZendeskClient,
    support: TestMailbox,
    customer: TestMailbox,
    dir: PathBuf,
}

impl World {
    async fn new(servers: &MailServers) -> World {
        let seed = json!({
            "users": [
                { "id": 40, "name": "Bruno Suporte", "email": BRUNO, "role": "agent" },
            ],
            "custom_statuses": [
                { "id": 800, "status_category": "open", "agent_label": "Aberto", "active": true, "default": true },
                { "id": PENDENTE, "status_category": "pending", "agent_label": "Pendente", "active": true, "default": true },
                { "id": VALIDACAO, "status_category": "pending", "agent_label": "Validação Cliente", "active": true, "default": false },
            ],
            "ticket_fields": [
                { "id": SATISFACAO, "type": "integer", "title": "Satisfação" },
            ],
            "articles": [
                { "id": 7001, "title": "Como renovar o certificado digital", "locale": "pt-br", "draft": false,
                  "html_url": "https://ajuda.suporte.example/hc/pt-br/articles/7001",
                  "body": "<p>Para renovar o certificado digital vencido, acesse o portal.</p>" },
                { "id": 7002, "title": "Impressora fiscal", "locale": "pt-br", "draft": false,
                  "body": "<p>Configure a impressora.</p>" },
            ],
        });
        let sim = Sim::start(support::zendesk_mails_through(
            SimOptions {
                seed: serde_json::from_value(seed).expect("a valid seed"),
                relax_export_start: true,
                clock: support::clock_from(START),
                ..SimOptions::default()
            },
            servers,
        ))
        .await;
        // The change rules/README.md ("In Zendesk") asks of the admin.
        support::deactivate_requester_triggers(&sim.handle.base_url).await;
        let bot = support::client(sim.handle.base_url.clone(), |b| b);
        let bruno = support::client_as(sim.handle.base_url.clone(), BRUNO, 10, |b| b);
        let support = servers.new_mailbox("ciclo-e2e");
        let customer = servers.new_mailbox("cliente-ciclo-e2e");
        let dir = support::test_dir("pack-ciclo");
        World {
            sim,
            bot,
            bruno,
            support,
            customer,
            dir,
        }
    }

    /// The configuration `carteiro run --config` would read, loaded the
    /// same way, with the secrets in its environment.
    fn config(&self, servers: &MailServers) -> carteiro::config::Config {
        let base = self.sim.handle.base_url.to_string();
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let config = E2eConfig::new(&base, &self.dir, &rules, &self.support);
        config.load(servers)
    }

    async fn ticket(&self, id: u64) -> Ticket {
        self.bot.show_ticket(id).await.expect("show the ticket")
    }

    /// The id of the ticket whose subject contains `subject`, once there.
    async fn ticket_titled(&self, subject: &str) -> u64 {
        wait_for(&format!("the ticket {subject:?}"), || {
            let tickets = self.sim.handle.sim.state_json()["tickets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            async move {
                let found = tickets
                    .iter()
                    .find(|t| t["subject"].as_str().is_some_and(|s| s.contains(subject)))?;
                found["id"].as_u64()
            }
        })
        .await
    }

    /// The internal notes on ticket `id`, oldest first.
    async fn notes(&self, id: u64) -> Vec<String> {
        let mut audits: Vec<Audit> = self.bot.list_audits(id).await.expect("audits");
        audits.sort_by_key(|a| a.id);
        audits
            .iter()
            .flat_map(|a| &a.events)
            .filter(|e| e.event_type == "Comment" && e.public == Some(false))
            .filter_map(|e| e.body.clone())
            .collect()
    }

    /// The statuses ticket `id` went through, oldest first, from its audits.
    async fn status_changes(&self, id: u64) -> Vec<String> {
        let mut audits: Vec<Audit> = self.bot.list_audits(id).await.expect("audits");
        audits.sort_by_key(|a| a.id);
        audits
            .iter()
            .flat_map(|a| &a.events)
            .filter(|e| e.event_type == "Change" && e.field_name.as_deref() == Some("status"))
            .filter_map(|e| e.value.as_ref().and_then(|v| v.as_str()).map(str::to_owned))
            .collect()
    }

    /// The customer's mails, decoded: (subject, text, Message-ID).
    fn customer_mails(&self, servers: &MailServers) -> Vec<(String, String, String)> {
        let dir = servers.maildir(&self.customer.user).join("new");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        paths.sort();
        paths
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .map(|raw| {
                let parsed = mail_parser::MessageParser::default()
                    .parse(&raw)
                    .expect("a parsable mail");
                (
                    parsed.subject().unwrap_or_default().to_owned(),
                    parsed.body_text(0).unwrap_or_default().into_owned(),
                    parsed.message_id().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The customer mails the support address.
    async fn customer_writes(&self, servers: &MailServers, headers: &str, body: &str) {
        let raw = format!(
            "From: Maria Cliente <{from}>\r\nTo: {to}\r\n{headers}\
             Date: Tue, 01 Dec 2026 10:00:00 -0300\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
            from = self.customer.address,
            to = self.support.address,
        );
        servers
            .send(raw.as_bytes(), &self.customer.address, &[&self.support.address])
            .await;
    }
}

/// Polls `probe` every 100 ms until it yields something; panics after
/// [`STEP`] naming `what`.
async fn wait_for<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    support::poll_until(what, STEP, String::new, probe).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_ticket_is_acknowledged_cycled_through_the_custom_statuses_surveyed_and_closed() {
    let servers = servers();
    let world = World::new(servers).await;
    let config = world.config(servers);
    let clock: Arc<dyn Clock> = world.sim.handle.sim.clock();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(carteiro::daemon::run_with_clock(config, clock, async move {
        let _ = stopped.await;
    }));

    // 1. The customer's mail opens a ticket; the acknowledgement arrives.
    world
        .customer_writes(
            servers,
            "Subject: Como renovar o certificado digital vencido\r\n\
             Message-ID: <ciclo-e2e-1@cliente.example>\r\n",
            "Bom dia,\r\n\r\nMeu certificado venceu. Como renovo?",
        )
        .await;
    let first = world.ticket_titled("certificado digital vencido").await;
    servers.wait_for_messages(&world.customer.user, 1, STEP).await;
    let mails = world.customer_mails(servers);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let (subject, text, _) = &mails[0];
    assert!(subject.contains(&format!("[#{first}]")), "{subject}");
    assert!(text.contains(&format!("abrimos o chamado #{first}")), "{text}");
    assert!(
        text.contains("1. A versão do sistema") && text.contains("9. Se ocorre com um usuário"),
        "the checklist: {text}"
    );
    assert!(
        text.contains(
            "- Como renovar o certificado digital\n  https://ajuda.suporte.example/hc/pt-br/articles/7001"
        ),
        "{text}"
    );
    assert!(!text.contains("Impressora"), "only matching articles: {text}");

    // 2. The agent asks for information: "Pendente".
    let current = world.ticket(first).await;
    world
        .bruno
        .update_ticket(
            first,
            &TicketUpdate {
                custom_status_id: Some(PENDENTE),
                ..TicketUpdate::default()
            },
            current.updated_at,
        )
        .await
        .expect("the agent sets Pendente");
    let pending = world.ticket(first).await;
    assert_eq!(pending.status, Status::Pending);
    assert_eq!(pending.custom_status_id, Some(PENDENTE));

    // Six days: still "Pendente".
    world.sim.advance_clock(6 * DAY).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let waiting = world.ticket(first).await;
    assert_eq!(waiting.custom_status_id, Some(PENDENTE), "not yet 7 days");
    assert_eq!(waiting.status, Status::Pending);

    // Seven days, past the 10-minute tick: "Validação Cliente".
    world.sim.advance_clock(DAY + 15 * 60).await;
    wait_for("Validação Cliente", || async {
        let ticket = world.ticket(first).await;
        (ticket.custom_status_id == Some(VALIDACAO)).then_some(())
    })
    .await;
    assert_eq!(world.ticket(first).await.status, Status::Pending);

    // Five days in "Validação Cliente": closed.
    world.sim.advance_clock(5 * DAY + 15 * 60).await;
    wait_for("the first ticket closed", || async {
        (world.ticket(first).await.status == Status::Closed).then_some(())
    })
    .await;
    assert!(world.notes(first).await.is_empty());
    assert_eq!(
        world.customer_mails(servers).len(),
        1,
        "pending and closed tickets are not surveyed"
    );
    // Zendesk closes only assigned tickets: carteiro took it. Each of its
    // writes says in the audit which rule did it, under which rule set,
    // for which event.
    let bot = world.bot.me().await.expect("carteiro's user").id;
    assert_eq!(world.ticket(first).await.assignee_id, Some(bot));
    let rules_hash = carteiro::rules::reload::RulesHandle::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"),
        carteiro::calendar::Calendars::default(),
    )
    .expect("the shipped rules")
    .current()
    .hash
    .clone();
    let mut audits: Vec<Audit> = world.bot.list_audits(first).await.expect("audits");
    audits.sort_by_key(|a| a.id);
    let custom: Vec<serde_json::Value> = audits
        .iter()
        .map(|a| a.metadata.as_ref().expect("metadata")["custom"].clone())
        .collect();
    assert_eq!(
        custom[0],
        json!({ "carteiro": { "event": "mail:ciclo-e2e-1@cliente.example" } }),
        "the ticket the mail opened"
    );
    assert_eq!(custom[1], json!({}), "the agent's own change");
    let rule_writes: Vec<&serde_json::Value> = custom[2..].iter().map(|c| &c["carteiro"]).collect();
    assert_eq!(rule_writes.len(), 2, "{custom:#?}");
    for (write, rule) in rule_writes
        .iter()
        .zip(["ciclo-pendente-7d-validacao", "ciclo-validacao-5d-fechar"])
    {
        assert_eq!(write["rules"], json!([rule]), "{write}");
        assert_eq!(write["rules_hash"], json!(rules_hash), "{write}");
        let event = write["event"].as_str().expect("an event key");
        assert!(event.starts_with(&format!("{first}/schedule:")), "{event}");
    }

    // 3. A second ticket, solved by the agent: the survey.
    world
        .customer_writes(
            servers,
            "Subject: Erro ao emitir nota fiscal\r\nMessage-ID: <ciclo-e2e-2@cliente.example>\r\n",
            "Boa tarde,\r\n\r\nA emissão da nota falha com erro 539.",
        )
        .await;
    let second = world.ticket_titled("Erro ao emitir nota fiscal").await;
    servers.wait_for_messages(&world.customer.user, 2, STEP).await;
    let current = world.ticket(second).await;
    world
        .bruno
        .update_ticket(
            second,
            &TicketUpdate {
                status: Some(Status::Solved),
                assignee_id: Some(world.bruno.me().await.expect("Bruno").id),
                ..TicketUpdate::default()
            },
            current.updated_at,
        )
        .await
        .expect("the agent solves");
    servers.wait_for_messages(&world.customer.user, 3, STEP).await;
    let mails = world.customer_mails(servers);
    assert_eq!(mails.len(), 3, "{mails:#?}");
    let (subject, text, message_id) = mails[2].clone();
    assert_eq!(
        subject,
        format!("Chamado {second} resolvido: como foi o atendimento? [#{second}]")
    );
    assert!(text.contains("nota de 1 a 5"), "{text}");
    assert!(!message_id.is_empty(), "the survey has a Message-ID");
    wait_for("the awaiting-rating tag", || async {
        let tags = world.ticket(second).await.tags;
        tags.contains(&"ciclo_aguarda_avaliacao".to_owned()).then_some(())
    })
    .await;

    // The customer answers "5", threaded to the survey.
    world
        .customer_writes(
            servers,
            &format!(
                "Subject: Re: {subject}\r\nMessage-ID: <ciclo-e2e-3@cliente.example>\r\n\
                 In-Reply-To: <{message_id}>\r\nReferences: <{message_id}>\r\n"
            ),
            "5\r\n\r\nObrigada!",
        )
        .await;
    let rated = wait_for("the rating, solved", || async {
        let ticket = world.ticket(second).await;
        (ticket.custom_field(SATISFACAO) == Some(&json!(5)) && ticket.status == Status::Solved)
            .then_some(ticket)
    })
    .await;
    assert!(
        rated.tags.contains(&"ciclo_avaliado".to_owned()),
        "{:?}",
        rated.tags
    );
    assert!(
        !rated.tags.contains(&"ciclo_aguarda_avaliacao".to_owned()),
        "{:?}",
        rated.tags
    );
    let notes = world.notes(second).await;
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].contains("Pesquisa de satisfação respondida pelo cliente: nota 5 de 5"),
        "{}",
        notes[0]
    );
    let statuses = world.status_changes(second).await;
    // The reply reopened the ticket; the rule solved it again.
    assert!(
        statuses.ends_with(&["solved".to_owned(), "open".to_owned(), "solved".to_owned()]),
        "reopened by the reply, then solved again: {statuses:?}"
    );

    // Five days later: closed, and surveyed only once.
    world.sim.advance_clock(5 * DAY + 15 * 60).await;
    wait_for("the second ticket closed", || async {
        (world.ticket(second).await.status == Status::Closed).then_some(())
    })
    .await;
    let closed = world.ticket(second).await;
    assert_eq!(closed.custom_field(SATISFACAO), Some(&json!(5)));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails = world.customer_mails(servers);
    let surveys = mails
        .iter()
        .filter(|(subject, _, _)| subject.contains("como foi o atendimento"))
        .count();
    assert_eq!(surveys, 1, "one survey: {mails:#?}");
    assert_eq!(mails.len(), 3, "{mails:#?}");
    assert_eq!(world.notes(second).await.len(), 1, "no note twice");

    let _ = stop.send(());
    tokio::time::timeout(STEP, daemon)
        .await
        .expect("the daemon stops")
        .expect("the daemon task")
        .expect("the daemon ran cleanly");
}
