//! The whole chain, end to end: a rules folder, the simulator, the real
//! Postfix and Dovecot, and the real `carteiro run`.
//!
//! A customer's mail reaches the support mailbox over SMTP; the daemon
//! reads it over IMAP, ingest opens a ticket and queues `mail.received`;
//! the rule runner answers with a confirmation (outbox → delivery worker
//! → Postfix → the customer's Maildir) and tags the ticket. Then an agent
//! moves the ticket to "Ordem de Serviço" through the simulator's API; the
//! ticket poller sees the change, and the runner mails the sector and
//! writes open, then hold, as two audits.
//!
//! Every wait is bounded and polls; the only fixed pauses are quiet
//! windows before checking that nothing happened twice.

use crate::support;
use crate::support::daemon::E2eConfig;
use crate::support::mail::raw_header;

use std::path::PathBuf;
use std::time::Duration;

use crate::support::daemon::Daemon;
use crate::support::mail::{MailServers, TestMailbox, servers};
use carteiro::helpdesk::sim::{self, SimHandle, SimOptions};
use carteiro::helpdesk::zendesk::ZendeskClient;
use carteiro::helpdesk::{Audit, HelpDesk, Status, Ticket, TicketUpdate};
use carteiro::store::{OutboxState, Store};
use serde_json::{Value, json};

/// How long any one step of the chain may take.
const STEP: Duration = Duration::from_secs(30);

/// A quiet window: several ticket polls (1 s) and outbox polls (200 ms),
/// after which a second confirmation or sector mail would have shown up.
const QUIET: Duration = Duration::from_secs(4);

const ANA: &str = "ana@empresa.example";

/// The group the agent moves the ticket to.
const OS_GROUP: u64 = 51;

fn rules(sector: &str) -> String {
    format!(
        r#"
version = 1

[[rule]]
name = "confirmar-recebimento"
on = ["mail.received"]
all = [ {{ field = "mail.kind", op = "is", value = "new" }} ]
actions = [ {{ send_mail = {{ to = ["requester"], template = "confirmacao" }} }}, {{ add_tags = ["confirmado"] }} ]

[[rule]]
name = "encaminhar-os"
on = ["ticket.updated"]
all = [ {{ field = "ticket.group", op = "changed_to", value = "Ordem de Serviço" }} ]
actions = [
  {{ send_mail = {{ to = ["{sector}"], template = "os_setor", subject = "Pedido de venda #{{{{ ticket.id }}}}" }} }},
  {{ set_status = "open", commit = true }},
  {{ set_status = "hold" }},
]
"#
    )
}

const CONFIRMACAO: &str = "Olá, {{ requester.name }}!\n\n\
Recebemos sua mensagem e abrimos o chamado número {{ ticket.id }}: \"{{ ticket.subject }}\".\n\n\
Atenciosamente,\nEquipe de Suporte\n";

const OS_SETOR: &str = "Prezados,\n\n\
Segue o pedido de venda do chamado número {{ ticket.id }} ({{ ticket.subject }}), \
aberto por {{ requester.name }}.\n\nObrigado,\nSuporte\n";

struct World {
    sim: SimHandle,
    /// carteiro's own identity, for reading the simulator.
    bot: ZendeskClient,
    /// A human agent, acting through the API.
    ana: ZendeskClient,
    support: TestMailbox,
    customer: TestMailbox,
    sector: TestMailbox,
    dir: PathBuf,
}

impl World {
    async fn new(servers: &MailServers) -> World {
        let seed = json!({
            "groups": [ { "id": 50, "name": "Suporte" }, { "id": OS_GROUP, "name": "Ordem de Serviço" } ],
        });
        let sim = sim::spawn(support::strict(SimOptions {
            seed: serde_json::from_value(seed).expect("a valid seed"),
            relax_export_start: true,
            ..SimOptions::default()
        }))
        .await
        .expect("start the simulator");
        let bot = support::client(sim.base_url.clone(), |b| b);
        let ana = support::client_as(sim.base_url.clone(), ANA, 10, |b| b);
        let support = servers.new_mailbox("suporte-e2e");
        let customer = servers.new_mailbox("cliente-e2e");
        let sector = servers.new_mailbox("setor-os-e2e");
        let dir = support::test_dir("rules-e2e");
        let templates = dir.join("regras/templates");
        std::fs::create_dir_all(&templates).expect("create the rules folder");
        std::fs::write(dir.join("regras/regras.toml"), rules(&sector.address)).expect("write the rules");
        std::fs::write(templates.join("confirmacao.txt.j2"), CONFIRMACAO).expect("write a template");
        std::fs::write(templates.join("os_setor.txt.j2"), OS_SETOR).expect("write a template");
        World {
            sim,
            bot,
            ana,
            support,
            customer,
            sector,
            dir,
        }
    }

    fn config(&self, servers: &MailServers) -> PathBuf {
        let base = self.sim.base_url.to_string();
        let rules = self.dir.join("regras");
        let mut config = E2eConfig::new(&base, &self.dir, &rules, &self.support);
        config.from_name = "Suporte Ação";
        config.log_level = Some("carteiro=debug,info");
        config.write(servers)
    }

    fn tickets(&self) -> Vec<Value> {
        self.sim.sim.state_json()["tickets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn ticket(&self, id: u64) -> Ticket {
        self.bot.show_ticket(id).await.expect("show the ticket")
    }

    /// Every audit carteiro wrote on ticket `id`, oldest first.
    async fn bot_audits(&self, id: u64) -> Vec<Audit> {
        let me = self.bot.me().await.expect("me").id;
        let mut audits: Vec<Audit> = self
            .bot
            .list_audits(id)
            .await
            .expect("list the audits")
            .into_iter()
            .filter(|a| a.author_id == Some(me))
            .collect();
        audits.sort_by_key(|a| a.id);
        audits
    }

    /// The highest audit id on ticket `id`.
    async fn last_audit_id(&self, id: u64) -> u64 {
        self.bot
            .list_audits(id)
            .await
            .expect("list the audits")
            .iter()
            .map(|a| a.id)
            .max()
            .unwrap_or(0)
    }

    fn store(&self) -> Store {
        Store::open(&self.dir.join("carteiro.db")).expect("open the state store")
    }
}

/// Polls `probe` every 100 ms until it yields something, or panics after
/// [`STEP`] with the daemon's log.
async fn wait_for<T, F, Fut>(daemon: &Daemon, what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let log = || {
        format!(
            "\n--- carteiro run log ({}):\n{}",
            daemon.config.display(),
            daemon.log_text()
        )
    };
    support::poll_until(what, STEP, log, probe).await
}

/// A delivered mail's decoded subject and text body.
fn subject_and_text(raw: &[u8]) -> (String, String) {
    let parsed = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("a parsable mail");
    let subject = parsed.subject().unwrap_or_default().to_owned();
    let text = parsed.body_text(0).expect("a text part").into_owned();
    (subject, text)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customers_mail_is_confirmed_and_an_agents_group_change_reaches_the_sector() {
    let servers = servers();
    let world = World::new(servers).await;
    let mut daemon = Daemon::start(&world.config(servers));

    // 1. A customer writes to support.
    let raw = format!(
        "From: Maria Souza <{from}>\r\nTo: {to}\r\nSubject: =?UTF-8?Q?Impressora_n=C3=A3o_imprime?=\r\n\
         Message-ID: <e2e-1@cliente.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 -0300\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Bom dia,\r\n\r\nA impressora fiscal parou de imprimir o cupom.\r\n",
        from = world.customer.address,
        to = world.support.address,
    );
    servers
        .send(raw.as_bytes(), &world.customer.address, &[&world.support.address])
        .await;

    let ticket_id = wait_for(&daemon, "the ticket for the customer's mail", || {
        let tickets = world.tickets();
        async move {
            match tickets.as_slice() {
                [] => None,
                [one] => one["id"].as_u64(),
                more => panic!("one mail, one ticket; found {more:#?}"),
            }
        }
    })
    .await;
    let ticket = world.ticket(ticket_id).await;
    assert_eq!(ticket.subject.as_deref(), Some("Impressora não imprime"));

    // The confirmation reaches the customer.
    let confirmations = servers.wait_for_messages(&world.customer.user, 1, STEP).await;
    let (subject, text) = subject_and_text(&confirmations[0]);
    // The ticket's subject, tagged so that a reply finds the ticket.
    assert_eq!(subject, format!("Impressora não imprime [#{ticket_id}]"));
    assert!(
        text.contains(&format!(
            "abrimos o chamado número {ticket_id}: \"Impressora não imprime\"."
        )),
        "the body names the ticket: {text}"
    );
    assert!(text.contains("Olá, Maria Souza!"), "{text}");
    // An answer to a person's mail (RFC 3834), threaded onto it.
    assert_eq!(
        raw_header(&confirmations[0], "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        raw_header(&confirmations[0], "In-Reply-To").as_deref(),
        Some("<e2e-1@cliente.example>")
    );
    assert_eq!(
        raw_header(&confirmations[0], "To")
            .as_deref()
            .map(|t| t.contains(&world.customer.address)),
        Some(true)
    );

    let tags = wait_for(&daemon, "the tag confirmado", || async {
        let ticket = world.ticket(ticket_id).await;
        ticket
            .tags
            .iter()
            .any(|t| t == "confirmado")
            .then_some(ticket.tags)
    })
    .await;
    assert!(tags.contains(&"confirmado".to_owned()), "{tags:?}");

    // Several ticket polls later (the tag is carteiro's own change, and the
    // ticket's creation a ticket.created no rule listens to), still one.
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        servers
            .wait_for_messages(&world.customer.user, 1, STEP)
            .await
            .len(),
        1,
        "exactly one confirmation"
    );

    // 2. Ana moves the ticket to "Ordem de Serviço".
    let before = world.last_audit_id(ticket_id).await;
    let current = world.ana.show_ticket(ticket_id).await.expect("show");
    let moved = world
        .ana
        .update_ticket(
            ticket_id,
            &TicketUpdate {
                group_id: Some(OS_GROUP),
                ..TicketUpdate::default()
            },
            current.updated_at,
        )
        .await
        .expect("Ana's update");
    assert_eq!(moved.group_id, Some(OS_GROUP));

    let sector_mail = servers.wait_for_messages(&world.sector.user, 1, STEP).await;
    let (subject, text) = subject_and_text(&sector_mail[0]);
    assert_eq!(subject, format!("Pedido de venda #{ticket_id} [#{ticket_id}]"));
    assert_eq!(
        raw_header(&sector_mail[0], "Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert!(
        text.contains(&format!("chamado número {ticket_id} (Impressora não imprime)")),
        "{text}"
    );
    assert!(text.contains("aberto por Maria Souza"), "{text}");

    let after = wait_for(&daemon, "carteiro's two status updates", || async {
        let audits: Vec<Audit> = world
            .bot_audits(ticket_id)
            .await
            .into_iter()
            .filter(|a| a.id > before)
            .collect();
        (audits.len() >= 2).then_some(audits)
    })
    .await;
    assert_eq!(after.len(), 2, "open, then hold: {after:#?}");
    assert_eq!(status_changes(&after[0]), vec!["open".to_owned()]);
    assert_eq!(status_changes(&after[1]), vec!["hold".to_owned()]);
    let ticket = world.ticket(ticket_id).await;
    assert_eq!(ticket.status, Status::Hold);
    assert_eq!(ticket.group_id, Some(OS_GROUP));

    // 3. Nothing fires twice.
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        servers
            .wait_for_messages(&world.customer.user, 1, STEP)
            .await
            .len(),
        1,
        "still exactly one confirmation"
    );
    assert_eq!(
        servers.wait_for_messages(&world.sector.user, 1, STEP).await.len(),
        1,
        "exactly one sector mail"
    );
    let later: Vec<Audit> = world
        .bot_audits(ticket_id)
        .await
        .into_iter()
        .filter(|a| a.id > before)
        .collect();
    assert_eq!(later.len(), 2, "no more updates by carteiro: {later:#?}");
    assert_eq!(world.ticket(ticket_id).await.status, Status::Hold);
    let outbox = world.store().outbox_list(true).expect("list the outbox");
    assert_eq!(outbox.len(), 2, "{outbox:#?}");
    assert!(outbox.iter().all(|r| r.state == OutboxState::Sent), "{outbox:#?}");

    let status = daemon.stop();
    let log = daemon.log_text();
    let rule_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") && l.to_lowercase().contains("rule"))
        .collect();
    assert!(rule_errors.is_empty(), "{rule_errors:#?}\n--- log:\n{log}");
    assert!(status.success(), "carteiro run exited {status:?}\n{log}");
}
