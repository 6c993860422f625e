//! The shipped `os-corporativo` pack, end to end: the real Postfix and
//! Dovecot, the simulator seeded with the pack's groups and fields, and
//! the daemon in-process (`carteiro::daemon::run_with_clock`, what `carteiro
//! run` runs) on the simulator's clock.
//!
//! A customer writes; an agent fills the order's fields and moves the
//! ticket to "Ordem de Serviço" through the simulator's API; the sector's
//! mailbox receives the order with the ticket number as "pedido de venda";
//! the ticket shows open, then hold. The sector answers that mail over SMTP:
//! the answer is an internal note on the same ticket, which stays solved.
//! A ticket with a CNPJ whose check digits are wrong gets a note and no
//! mail.
//!
//! Every wait is bounded and polls; the only fixed pause is a quiet window
//! before checking that no second mail arrived.

use crate::support;
use crate::support::daemon::E2eConfig;
use crate::support::mail::raw_header;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::support::mail::{MailServers, TestMailbox, servers};
use carteiro::clock::Clock;
use carteiro::helpdesk::sim::{self, SimHandle, SimOptions};
use carteiro::helpdesk::zendesk::ZendeskClient;
use carteiro::helpdesk::{Audit, CustomFieldValue, HelpDesk, Status, TicketUpdate};
use carteiro::store::Store;
use serde_json::{Value, json};

const STEP: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_secs(4);
const ANA: &str = "ana@empresa.example";
const OS_GROUP: u64 = 51;

const CNPJ: u64 = 801;
const RAZAO_SOCIAL: u64 = 802;
const CLIENTE: u64 = 803;
const EQUIPAMENTOS: u64 = 805;
const TELEFONE: u64 = 808;
const ENDERECO: u64 = 809;
const SERIE: u64 = 810;
const MARCA: u64 = 811;
const FORMULARIO: u64 = 812;
const FAMILIA: u64 = 813;

fn seed() -> Value {
    let field = |id: u64, kind: &str, title: &str| json!({ "id": id, "type": kind, "title": title });
    json!({
        "groups": [
            { "id": 50, "name": "Suporte" },
            { "id": OS_GROUP, "name": "Ordem de Serviço" },
            { "id": 52, "name": "Gestores de Conta" },
        ],
        "ticket_fields": [
            field(CNPJ, "text", "CNPJ"),
            field(RAZAO_SOCIAL, "text", "Razão Social"),
            field(CLIENTE, "text", "Cliente"),
            field(804, "text", "Número Referência"),
            field(EQUIPAMENTOS, "integer", "Quantidade de Equipamentos"),
            field(806, "checkbox", "Alteração de Endereço"),
            field(807, "text", "UF atual"),
            field(TELEFONE, "text", "Telefone"),
            field(ENDERECO, "text", "Endereço"),
            field(SERIE, "text", "Número de Série"),
            field(MARCA, "text", "Marca"),
            field(FORMULARIO, "text", "Formulário"),
            field(FAMILIA, "text", "Família"),
            field(814, "text", "UF nova"),
        ],
    })
}

struct World {
    sim: SimHandle,
    bot: ZendeskClient,
    ana: ZendeskClient,
    support: TestMailbox,
    customer: TestMailbox,
    sector: TestMailbox,
    registration: TestMailbox,
    dir: PathBuf,
}

impl World {
    async fn new(servers: &MailServers) -> World {
        let sim = sim::spawn(support::strict(support::zendesk_mails_through(
            SimOptions {
                seed: serde_json::from_value(seed()).expect("a valid seed"),
                relax_export_start: true,
                ..SimOptions::default()
            },
            servers,
        )))
        .await
        .expect("start the simulator");
        // The change rules/README.md ("In Zendesk") asks of the admin.
        support::deactivate_requester_triggers(&sim.base_url).await;
        let bot = support::client(sim.base_url.clone(), |b| b);
        let ana = support::client_as(sim.base_url.clone(), ANA, 10, |b| b);
        let support = servers.new_mailbox("suporte-os");
        let customer = servers.new_mailbox("cliente-os");
        let sector = servers.new_mailbox("setor-os");
        let registration = servers.new_mailbox("cadastro-os");
        let dir = support::test_dir("pack-os");
        // The shipped pack, with this test's addresses where an admin puts
        // theirs.
        support::copy_pack("os-corporativo", "os_", &dir.join("regras"), |pack| {
            pack.replace("os@assistencia.example", &sector.address)
                .replace("cadastro@empresa.example", &registration.address)
        });
        World {
            sim,
            bot,
            ana,
            support,
            customer,
            sector,
            registration,
            dir,
        }
    }

    /// The configuration `carteiro run --config` would read, loaded the
    /// same way, with the secrets in its environment.
    fn config(&self, servers: &MailServers) -> carteiro::config::Config {
        let base = self.sim.base_url.to_string();
        let rules = self.dir.join("regras");
        let mut config = E2eConfig::new(&base, &self.dir, &rules, &self.support);
        let sector = [self.sector.address.as_str()];
        config.internal_senders = &sector;
        config.load(servers)
    }

    fn tickets(&self) -> Vec<Value> {
        self.sim.sim.state_json()["tickets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn comments(&self, id: u64) -> Vec<Value> {
        self.sim.sim.state_json()["comments"][id.to_string()]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Every audit carteiro wrote on ticket `id` after audit `after`.
    async fn bot_audits_after(&self, id: u64, after: u64) -> Vec<Audit> {
        let me = self.bot.me().await.expect("me").id;
        let mut audits: Vec<Audit> = self
            .bot
            .list_audits(id)
            .await
            .expect("list the audits")
            .into_iter()
            .filter(|a| a.author_id == Some(me) && a.id > after)
            .collect();
        audits.sort_by_key(|a| a.id);
        audits
    }

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

    /// A customer's mail to support; returns the ticket it opened.
    async fn customer_writes(&self, servers: &MailServers, message_id: &str, subject: &str) -> u64 {
        let known: Vec<u64> = self.tickets().iter().filter_map(|t| t["id"].as_u64()).collect();
        let raw = format!(
            "From: Carlos Compras <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\n\
             Message-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 -0300\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Bom dia,\r\n\r\nA ECF está inoperante, com o led piscando.\r\n",
            from = self.customer.address,
            to = self.support.address,
        );
        servers
            .send(raw.as_bytes(), &self.customer.address, &[&self.support.address])
            .await;
        let id = wait_for("the ticket of the customer's mail", || async {
            self.tickets()
                .iter()
                .filter_map(|t| t["id"].as_u64())
                .find(|id| !known.contains(id))
        })
        .await;
        // The poller must know the ticket before an agent changes it, or
        // the change is part of its creation rather than an update.
        wait_for("the poller's snapshot of the new ticket", || async {
            let store = Store::open(&self.dir.join("carteiro.db")).ok()?;
            store.snapshot(id).ok().flatten().map(|_| ())
        })
        .await;
        id
    }

    /// Ana fills the order's fields and moves the ticket to the sector.
    async fn ana_sends_to_the_sector(&self, id: u64, cnpj: &str) {
        let current = self.ana.show_ticket(id).await.expect("show");
        let field = |id: u64, value: Value| CustomFieldValue { id, value };
        self.ana
            .update_ticket(
                id,
                &TicketUpdate {
                    group_id: Some(OS_GROUP),
                    custom_fields: Some(vec![
                        field(CNPJ, json!(cnpj)),
                        field(RAZAO_SOCIAL, json!("Restaurantes Exemplo Ltda")),
                        field(CLIENTE, json!("ACME ALIMENTOS")),
                        field(EQUIPAMENTOS, json!(2)),
                        field(TELEFONE, json!("(11) 4000-1234")),
                        field(ENDERECO, json!("Rua das Flores, 100, São Paulo - SP")),
                        field(SERIE, json!("BEM123456")),
                    ]),
                    ..TicketUpdate::default()
                },
                current.updated_at,
            )
            .await
            .expect("Ana's update");
    }
}

async fn wait_for<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    support::poll_until(what, STEP, String::new, probe).await
}

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
        .filter_map(|e| e.value.as_ref().and_then(|v| v.as_str()).map(str::to_owned))
        .collect()
}

fn field_value(ticket: &carteiro::helpdesk::Ticket, id: u64) -> Value {
    ticket
        .custom_fields
        .iter()
        .find(|f| f.id == id)
        .map(|f| f.value.clone())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_reaches_the_sector_and_the_sectors_answer_is_an_internal_note() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let servers = servers();
    let world = World::new(servers).await;
    let clock: Arc<dyn Clock> = world.sim.sim.clock();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(carteiro::daemon::run_with_clock(
        world.config(servers),
        clock,
        async {
            let _ = stopped.await;
        },
    ));

    // 1. A customer writes; Ana fills the order and moves it to the sector.
    let ticket_id = world
        .customer_writes(servers, "os-1@cliente.example", "ECF inoperante")
        .await;
    let before = world.last_audit_id(ticket_id).await;
    world
        .ana_sends_to_the_sector(ticket_id, "11.222.333/0001-81")
        .await;

    // 2. The sector receives the order, with the ticket as pedido de venda.
    let orders = servers.wait_for_messages(&world.sector.user, 1, STEP).await;
    let (subject, text) = subject_and_text(&orders[0]);
    assert_eq!(
        subject,
        format!("Abertura de O.S. - pedido de venda {ticket_id} [#{ticket_id}]")
    );
    for line in [
        format!("Pedido de venda: {ticket_id}"),
        "Razão Social: Restaurantes Exemplo Ltda".to_owned(),
        "CNPJ: 11.222.333/0001-81".to_owned(),
        "Contato: Carlos Compras".to_owned(),
        format!("E-mail: {}", world.customer.address),
        "Telefone: (11) 4000-1234".to_owned(),
        "Endereço: Rua das Flores, 100, São Paulo - SP".to_owned(),
        "Número de série: BEM123456".to_owned(),
    ] {
        assert!(text.contains(&line), "the order lacks {line:?}:\n{text}");
    }

    // 3. Open, then hold, as two audits; the fixed fields are set.
    let audits = wait_for("carteiro's two status updates", || async {
        let audits = world.bot_audits_after(ticket_id, before).await;
        let statuses: Vec<String> = audits.iter().flat_map(status_changes).collect();
        (statuses.len() >= 2).then_some(audits)
    })
    .await;
    let steps: Vec<Vec<String>> = audits
        .iter()
        .map(status_changes)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        steps,
        [vec!["open".to_owned()], vec!["hold".to_owned()]],
        "{audits:#?}"
    );
    let ticket = world.bot.show_ticket(ticket_id).await.expect("ticket");
    assert_eq!(ticket.status, Status::Hold);
    assert_eq!(field_value(&ticket, MARCA), json!("Bematech Hardware"));
    assert_eq!(field_value(&ticket, FORMULARIO), json!("0800"));
    assert_eq!(field_value(&ticket, FAMILIA), json!("hardware"));

    // 4. Ana solves the ticket; the sector answers the order mail later.
    let current = world.ana.show_ticket(ticket_id).await.expect("show");
    world
        .ana
        .update_ticket(
            ticket_id,
            &TicketUpdate {
                status: Some(Status::Solved),
                assignee_id: Some(world.ana.me().await.expect("Ana").id),
                ..TicketUpdate::default()
            },
            current.updated_at,
        )
        .await
        .expect("Ana solves it");
    let comments_before = world.comments(ticket_id).len();
    let order_id = raw_header(&orders[0], "Message-ID").expect("the order's Message-ID");
    let answer = format!(
        "From: Setor de O.S. <{from}>\r\nTo: {to}\r\nSubject: Re: {subject}\r\n\
         Message-ID: <resposta-os-1@assistencia.example>\r\nIn-Reply-To: {order_id}\r\n\
         References: {order_id}\r\nDate: Mon, 23 Nov 2026 15:00:00 -0300\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         O.S. 4711 aberta, técnico agendado para amanhã.\r\n",
        from = world.sector.address,
        to = world.support.address,
    );
    servers
        .send(
            answer.as_bytes(),
            &world.sector.address,
            &[&world.support.address],
        )
        .await;
    let note = wait_for("the sector's answer on the ticket", || async {
        world
            .comments(ticket_id)
            .into_iter()
            .skip(comments_before)
            .find(|c| c["body"].as_str().is_some_and(|b| b.contains("O.S. 4711 aberta")))
    })
    .await;
    assert_eq!(
        note["public"], false,
        "the sector's answer is an internal note: {note:#}"
    );
    let ticket = world.bot.show_ticket(ticket_id).await.expect("ticket");
    assert_eq!(ticket.status, Status::Solved, "the sector's answer never reopens");
    assert_eq!(
        world.tickets().len(),
        1,
        "the answer is on the same ticket, not a new one"
    );
    // Its mail.received still fired, with mail.internal = true: the pack
    // tags the ticket for the agents.
    let tags = wait_for("the tag os_resposta_setor", || async {
        let ticket = world.bot.show_ticket(ticket_id).await.expect("ticket");
        ticket
            .tags
            .iter()
            .any(|t| t == "os_resposta_setor")
            .then_some(ticket.tags)
    })
    .await;
    assert!(tags.contains(&"os_encaminhada".to_owned()), "{tags:?}");
    let ticket = world.bot.show_ticket(ticket_id).await.expect("ticket");
    assert_eq!(ticket.status, Status::Solved, "still solved after the tag");

    // 5. Another order with a CNPJ whose check digits are wrong: a note
    //    that says so, and no mail to the sector.
    let second = world
        .customer_writes(servers, "os-2@cliente.example", "Impressora não liga")
        .await;
    world.ana_sends_to_the_sector(second, "11.222.333/0001-82").await;
    let note = wait_for("the note listing what is missing", || async {
        world.comments(second).into_iter().find(|c| {
            c["public"] == false
                && c["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("O.S. NÃO encaminhada"))
        })
    })
    .await;
    let body = note["body"].as_str().unwrap_or_default();
    assert!(body.contains("CNPJ: \"11.222.333/0001-82\" é inválido"), "{body}");
    assert!(!body.contains("Razão Social"), "only what is missing: {body}");
    let ticket = world.bot.show_ticket(second).await.expect("ticket");
    assert!(
        ticket.tags.iter().any(|t| t == "os_pendente"),
        "{:?}",
        ticket.tags
    );
    assert_ne!(ticket.status, Status::Hold);
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        servers.wait_for_messages(&world.sector.user, 1, STEP).await.len(),
        1,
        "the invalid order never reached the sector"
    );
    assert!(
        servers
            .wait_for_messages(&world.registration.user, 0, Duration::from_secs(1))
            .await
            .is_empty()
    );
    // The customer's whole inbox: this pack writes to the customer only
    // about an address change, and Zendesk's requester triggers are off
    // (rules/README.md), so nothing in this flow.
    assert!(
        servers
            .wait_for_messages(&world.customer.user, 0, Duration::from_secs(1))
            .await
            .is_empty(),
        "the customer got mail"
    );

    let _ = stop.send(());
    tokio::time::timeout(STEP, daemon)
        .await
        .expect("the daemon stops")
        .expect("the daemon task")
        .expect("the daemon ran cleanly");
}
