//! The consultoria pack (procedure 004), end to end: the shipped
//! `rules/consultoria.toml` and its templates, the daemon in-process
//! (`carteiro::daemon::run_with_clock`, what `carteiro run` runs) on the
//! simulator's clock, real SMTP into the real Dovecot, and an agent acting
//! through the simulator's API.
//!
//! A customer's question reaches the consulting mailbox; the ticket is
//! routed to "Consultoria" and the customer's acknowledgement lists the
//! Help Center article the simulator holds. The clock jumps over a weekend
//! to 2 and then 3 business days: the warning note, then the breach note,
//! once each. An agent replies publicly: the ticket goes pending and the
//! reply reaches the customer's mailbox. Ten days later it is solved, and
//! the customer is told. Every wait is bounded and polls.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::support::daemon::E2eConfig;
use crate::support::mail::{MailServers, TestMailbox, servers};
use crate::support::{self, Sim};
use carteiro::clock::Clock;
use carteiro::helpdesk::sim::SimOptions;
use carteiro::helpdesk::zendesk::ZendeskClient;
use carteiro::helpdesk::{Audit, HelpDesk, NewComment, Status, Ticket, TicketUpdate};
use serde_json::json;

/// How long any one step may take.
const STEP: Duration = Duration::from_secs(30);

/// The consulting agent who answers, acting through the API.
const CARLA: &str = "carla@tecnospeed.example";

/// The pack's example address, replaced by the test's mailbox.
const PACK_ADDRESS: &str = "consultoria@tecnospeed.com.br";

/// Thursday 3 December 2026, 10:00 in São Paulo: two business days later
/// is Monday the 7th (the weekend does not count), three is Tuesday.
const START: &str = "2026-12-03T10:00:00-03:00";

struct World {
    sim: Sim,
    bot: ZendeskClient,
    carla: ZendeskClient,
    support: TestMailbox,
    customer: TestMailbox,
    dir: PathBuf,
}

impl World {
    async fn new(servers: &MailServers) -> World {
        let seed = json!({
            "groups": [
                { "id": 20, "name": "Consultoria" },
                { "id": 21, "name": "Consultoria Produção" },
                { "id": 22, "name": "Consultoria Homologação" },
                { "id": 23, "name": "Produto" },
            ],
            "users": [
                { "id": 32, "name": "Carla Consultora", "email": CARLA, "role": "agent" },
                { "id": 33, "name": "Paulo Produto", "email": "po@tecnospeed.com.br", "role": "agent" },
            ],
            "articles": [
                { "id": 5001, "title": "Como configurar o certificado digital A1", "locale": "pt-br",
                  "draft": false, "html_url": "https://atendimento.tecnospeed.example/hc/pt-br/articles/5001",
                  "body": "<p>Para configurar o certificado digital A1, importe o arquivo PFX.</p>" },
                { "id": 5002, "title": "Impressora fiscal", "locale": "pt-br", "draft": false,
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
        let carla = support::client_as(sim.handle.base_url.clone(), CARLA, 10, |b| b);
        let support = servers.new_mailbox("consultoria-e2e");
        let customer = servers.new_mailbox("cliente-consultoria-e2e");
        let dir = support::test_dir("pack-consultoria");
        // The shipped pack alone, with the test's mailbox as the
        // consulting address: what an admin adjusts.
        support::copy_pack("consultoria", "consultoria", &dir.join("regras"), |pack| {
            assert!(pack.contains(PACK_ADDRESS), "the pack names its example address");
            pack.replace(PACK_ADDRESS, &support.address)
        });
        World {
            sim,
            bot,
            carla,
            support,
            customer,
            dir,
        }
    }

    /// The configuration `carteiro run --config` would read, loaded the
    /// same way, with the secrets in its environment.
    fn config(&self, servers: &MailServers) -> carteiro::config::Config {
        let base = self.sim.handle.base_url.to_string();
        let rules = self.dir.join("regras");
        let mut config = E2eConfig::new(&base, &self.dir, &rules, &self.support);
        config.mailbox_name = "consultoria";
        config.from_name = "Consultoria";
        config.load(servers)
    }

    /// Moves the simulator's clock (and so the daemon's) to `to`.
    async fn clock_to(&self, to: &str) {
        let target = support::instant(to);
        let now = self.sim.handle.sim.clock().now();
        let ahead = (target - now).num_seconds();
        assert!(ahead > 0, "the scenario runs forward: {to} is before {now}");
        self.sim.advance_clock(u64::try_from(ahead).expect("ahead")).await;
    }

    async fn ticket(&self, id: u64) -> Ticket {
        self.bot.show_ticket(id).await.expect("show the ticket")
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

    /// The customer's mails, decoded: (subject, text).
    fn customer_mails(&self, servers: &MailServers) -> Vec<(String, String)> {
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
                )
            })
            .collect()
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
async fn a_question_is_routed_acknowledged_with_articles_warned_answered_and_solved() {
    let servers = servers();
    let world = World::new(servers).await;
    let config = world.config(servers);
    let clock: Arc<dyn Clock> = world.sim.handle.sim.clock();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(carteiro::daemon::run_with_clock(config, clock, async move {
        let _ = stopped.await;
    }));

    // 1. The customer's question, by e-mail to the consulting address.
    let raw = format!(
        "From: João Cliente <{from}>\r\nTo: {to}\r\n\
         Subject: =?UTF-8?Q?D=C3=BAvida:_como_configurar_o_certificado_digital_A1=3F?=\r\n\
         Message-ID: <consultoria-e2e-1@cliente.example>\r\nDate: Thu, 03 Dec 2026 10:00:00 -0300\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Bom dia,\r\n\r\nComo configuro o certificado A1 no componente?\r\n",
        from = world.customer.address,
        to = world.support.address,
    );
    servers
        .send(raw.as_bytes(), &world.customer.address, &[&world.support.address])
        .await;

    // Routed: a question, to "Consultoria".
    let ticket_id = wait_for("the routed ticket", || {
        let tickets = world.sim.handle.sim.state_json()["tickets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        async move {
            let routed = tickets.iter().find(|t| {
                t["tags"]
                    .as_array()
                    .is_some_and(|tags| tags.iter().any(|tag| tag == "consultoria_triado"))
            })?;
            routed["id"].as_u64()
        }
    })
    .await;
    let ticket = world.ticket(ticket_id).await;
    assert_eq!(ticket.group_id, Some(20));
    for tag in ["consultoria", "consultoria_duvida"] {
        assert!(ticket.tags.contains(&tag.to_owned()), "{:?}", ticket.tags);
    }

    // The acknowledgement, with the simulator's article, reaches the
    // customer's mailbox.
    servers.wait_for_messages(&world.customer.user, 1, STEP).await;
    let mails = world.customer_mails(servers);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let (subject, text) = &mails[0];
    assert!(subject.contains(&format!("[#{ticket_id}]")), "{subject}");
    assert!(
        text.contains(&format!("abrimos o chamado #{ticket_id}")),
        "{text}"
    );
    assert!(
        text.contains(
            "- Como configurar o certificado digital A1\n  https://atendimento.tecnospeed.example/hc/pt-br/articles/5001"
        ),
        "{text}"
    );
    assert!(!text.contains("Impressora"), "only matching articles: {text}");

    // 2. Friday: one business day, no warning.
    world.clock_to("2026-12-04T18:00:00-03:00").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(world.notes(ticket_id).await.is_empty());

    // Monday 10:15: two business days, the warning, once.
    world.clock_to("2026-12-07T10:15:00-03:00").await;
    let notes = wait_for("the warning note", || async {
        let notes = world.notes(ticket_id).await;
        (!notes.is_empty()).then_some(notes)
    })
    .await;
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].starts_with(&format!("Atenção: o chamado #{ticket_id}")),
        "{}",
        notes[0]
    );
    world.clock_to("2026-12-07T10:45:00-03:00").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(world.notes(ticket_id).await.len(), 1, "warned once");

    // Tuesday 10:15: three business days, the breach note.
    world.clock_to("2026-12-08T10:15:00-03:00").await;
    let notes = wait_for("the breach note", || async {
        let notes = world.notes(ticket_id).await;
        (notes.len() >= 2).then_some(notes)
    })
    .await;
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(notes[1].starts_with("Prazo vencido"), "{}", notes[1]);
    assert!(
        world
            .ticket(ticket_id)
            .await
            .tags
            .contains(&"consultoria_prazo_vencido".to_owned())
    );

    // 3. The agent answers publicly through the API.
    let answer = "Importe o arquivo PFX pelo menu Configurações | Certificado.";
    let current = world.carla.show_ticket(ticket_id).await.expect("show");
    world
        .carla
        .update_ticket(
            ticket_id,
            &TicketUpdate {
                comment: Some(NewComment::public(answer)),
                ..TicketUpdate::default()
            },
            current.updated_at,
        )
        .await
        .expect("the agent's reply");
    wait_for("the ticket to go pending", || async {
        (world.ticket(ticket_id).await.status == Status::Pending).then_some(())
    })
    .await;
    servers.wait_for_messages(&world.customer.user, 2, STEP).await;
    let mails = world.customer_mails(servers);
    let replies: Vec<_> = mails.iter().filter(|(_, text)| text.contains(answer)).collect();
    assert_eq!(replies.len(), 1, "the agent's reply, mailed once: {mails:#?}");
    assert!(
        replies[0].0.contains(&format!("[#{ticket_id}]")),
        "{}",
        replies[0].0
    );

    // 4. Nine days later: still pending. Ten days: solved, and told.
    world.clock_to("2026-12-17T10:30:00-03:00").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(world.ticket(ticket_id).await.status, Status::Pending);
    world.clock_to("2026-12-18T11:00:00-03:00").await;
    wait_for("the ticket to be solved", || async {
        (world.ticket(ticket_id).await.status == Status::Solved).then_some(())
    })
    .await;
    servers.wait_for_messages(&world.customer.user, 3, STEP).await;
    let mails = world.customer_mails(servers);
    assert_eq!(mails.len(), 3, "{mails:#?}");
    assert!(
        mails
            .iter()
            .any(|(_, text)| text.contains(&format!("consideramos o chamado #{ticket_id}"))),
        "{mails:#?}"
    );
    assert_eq!(world.notes(ticket_id).await.len(), 2, "no note twice");
    // Only the acknowledgement reads articles: one Help Center search.
    assert_eq!(
        world.sim.state().await["requests"]["GET /api/v2/help_center/articles/search"],
        json!(1)
    );

    let _ = stop.send(());
    tokio::time::timeout(STEP, daemon)
        .await
        .expect("the daemon stops")
        .expect("the daemon task")
        .expect("the daemon ran cleanly");
}
