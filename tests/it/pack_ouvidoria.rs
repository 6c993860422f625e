//! The ombudsman pack (`rules/ouvidoria.toml`), end to end: the shipped
//! pack and its templates, the real Postfix and Dovecot, the simulator
//! seeded with the pack's group and agents, and the daemon exactly as
//! `carteiro run` runs it (`daemon::run_with_clock`, on the simulator's
//! clock).
//!
//! A customer writes to support; Ana tags the ticket `ouvidoria_solicitada`
//! through the API. carteiro opens exactly one "OUVIDORIA - #n" for
//! Richard, with the ombudsman address in CC, open, with a note carrying
//! #n's details; #n is solved with a public reply giving the date five
//! business days ahead (computed here with the calendar). After a restart,
//! a new change on #n opens no second case. Richard hands the case to the
//! second-level analyst; once the analyst comments (and even solves), it
//! comes back to Richard in the Ouvidoria group, open. A second customer
//! who prefers self-service gets the instructions by mail, with the
//! step-by-step PDF attached. A third one asks in their own first mail
//! ("Solicito a abertura de uma ouvidoria") and gets their case with no
//! agent involved.
//!
//! Every wait is bounded and polls; the only fixed pauses are quiet
//! windows before checking that nothing happened twice.

use crate::support;
use crate::support::daemon::{E2eConfig, InProcess};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use carteiro::calendar::{Calendar, Duration as BusinessDuration};
use carteiro::clock::Clock;
use carteiro::helpdesk::sim::{self, SimHandle, SimOptions};
use carteiro::helpdesk::zendesk::ZendeskClient;
use carteiro::helpdesk::{Comment, HelpDesk, Id, NewComment, Status, Ticket, TicketUpdate};
use carteiro::template::filters::date_long;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::support::mail::{MailServers, TestMailbox, servers};

/// How long any one step of the chain may take.
const STEP: Duration = Duration::from_secs(30);

/// Several ticket polls (1 s): a duplicate would have shown up.
const QUIET: Duration = Duration::from_secs(4);

// The pack's example values, seeded into the simulator.
const ANA: &str = "ana@bematech.com.br";
const RICHARD: &str = "richard@bematech.com.br";
const ANALYST: &str = "analista.n2@bematech.com.br";
const OMBUDSMAN: &str = "ouvidoria@bematech.com.br";
const SUPORTE: Id = 60;
const OUVIDORIA: Id = 61;
const RICHARD_ID: Id = 7001;
const ANALYST_ID: Id = 7002;

struct World {
    sim: SimHandle,
    bot: ZendeskClient,
    ana: ZendeskClient,
    richard: ZendeskClient,
    analyst: ZendeskClient,
    support: TestMailbox,
    customer: TestMailbox,
    dir: PathBuf,
}

impl World {
    async fn new(servers: &MailServers) -> World {
        let seed = json!({
            "groups": [ { "id": SUPORTE, "name": "Suporte" }, { "id": OUVIDORIA, "name": "Ouvidoria" } ],
            "users": [
                { "id": 7000, "name": "Ana Analista", "email": ANA, "role": "agent" },
                { "id": RICHARD_ID, "name": "Richard", "email": RICHARD, "role": "agent" },
                { "id": ANALYST_ID, "name": "Analista N2 Ouvidoria", "email": ANALYST, "role": "agent" },
            ],
        });
        let sim = sim::spawn(support::strict(support::zendesk_mails_through(
            SimOptions {
                seed: serde_json::from_value(seed).expect("a valid seed"),
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
        let richard = support::client_as(sim.base_url.clone(), RICHARD, 10, |b| b);
        let analyst = support::client_as(sim.base_url.clone(), ANALYST, 10, |b| b);
        let support = servers.new_mailbox("suporte-ouv");
        let customer = servers.new_mailbox("cliente-ouv");
        let dir = support::test_dir("pack-ouvidoria");
        support::copy_pack("ouvidoria", "ouvidoria", &dir.join("regras"), |text| text);
        World {
            sim,
            bot,
            ana,
            richard,
            analyst,
            support,
            customer,
            dir,
        }
    }

    /// The configuration `carteiro run --config` would read, loaded the
    /// same way, with the secrets in its environment.
    fn config(&self, servers: &MailServers) -> carteiro::config::Config {
        let base = self.sim.base_url.to_string();
        let rules = self.dir.join("regras");
        let config = E2eConfig::new(&base, &self.dir, &rules, &self.support);
        config.load(servers)
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.sim.sim.clock()
    }

    fn tickets(&self) -> Vec<Value> {
        self.sim.sim.state_json()["tickets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The ids of the tickets whose subject is `subject`.
    fn tickets_with_subject(&self, subject: &str) -> Vec<Id> {
        self.tickets()
            .iter()
            .filter(|t| t["subject"] == subject)
            .filter_map(|t| t["id"].as_u64())
            .collect()
    }

    async fn ticket(&self, id: Id) -> Ticket {
        self.bot.show_ticket(id).await.expect("show the ticket")
    }

    async fn comments(&self, id: Id) -> Vec<Comment> {
        self.bot
            .list_comments_page(id, None)
            .await
            .expect("list the comments")
            .items
    }

    /// Sends a customer's mail to support and waits for its ticket.
    async fn customer_writes(&self, servers: &MailServers, id: &str, subject: &str, body: &str) -> Id {
        let before: Vec<Id> = self.tickets().iter().filter_map(|t| t["id"].as_u64()).collect();
        let raw = format!(
            "From: Maria Souza <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\n\
             Message-ID: <{id}@cliente.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 -0300\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             {body}\r\n",
            from = self.customer.address,
            to = self.support.address,
        );
        servers
            .send(raw.as_bytes(), &self.customer.address, &[&self.support.address])
            .await;
        wait_for(self, &format!("the ticket for the mail {id}"), || {
            let fresh: Vec<Id> = self
                .tickets()
                .iter()
                .filter_map(|t| t["id"].as_u64())
                .filter(|t| !before.contains(t))
                .collect();
            async move {
                match fresh.as_slice() {
                    [] => None,
                    [one] => Some(*one),
                    more => panic!("one mail, one ticket; found {more:?}"),
                }
            }
        })
        .await
    }
}

/// Polls `probe` every 100 ms until it yields something, or panics after
/// [`STEP`] with the simulator's tickets.
async fn wait_for<T, F, Fut>(world: &World, what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let tickets = || format!("\n--- tickets:\n{:#}", Value::Array(world.tickets()));
    support::poll_until(what, STEP, tickets, probe).await
}

/// The date promised at `now`: five business days on the `br` calendar,
/// as the templates write it.
fn promised(now: DateTime<Utc>) -> String {
    let calendar = Calendar::br();
    let five = BusinessDuration::parse("5bd").expect("a duration");
    let due = calendar.add(now, five).expect("a due date");
    date_long(due.with_timezone(&calendar.zone()).date_naive())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ombudsman_request_opens_one_case_and_the_analyst_hands_it_back() {
    let servers = servers();
    let world = World::new(servers).await;
    let config = world.config(servers);
    let daemon = InProcess::start(config.clone(), world.clock());

    // 1. A customer writes; the mail becomes ticket #n.
    let n = world
        .customer_writes(
            servers,
            "ouv-1",
            "Impressora fiscal sem conserto",
            "Bom dia,\r\n\r\nA impressora fiscal trava ao emitir o cupom desde a atualização.",
        )
        .await;

    // 2. The customer asked for the ombudsman on the phone; Ana records it.
    let asked_at = world.clock().now();
    let current = world.ana.show_ticket(n).await.expect("show");
    world
        .ana
        .update_ticket(
            n,
            &TicketUpdate {
                additional_tags: Some(vec!["ouvidoria_solicitada".to_owned()]),
                comment: Some(NewComment::internal("Cliente não concordou e pediu a ouvidoria.")),
                ..TicketUpdate::default()
            },
            current.updated_at,
        )
        .await
        .expect("Ana's update");

    let subject = format!("OUVIDORIA - #{n}");
    let case = wait_for(&world, "the OUVIDORIA ticket", || {
        let found = world.tickets_with_subject(&subject);
        async move { found.first().copied() }
    })
    .await;
    let solved = wait_for(&world, "#n solved", || async {
        let ticket = world.ticket(n).await;
        (ticket.status == Status::Solved).then_some(ticket)
    })
    .await;
    let answered_at = world.clock().now();

    // The case: Richard's, in Ouvidoria, the ombudsman in CC, open.
    let ticket = world.ticket(case).await;
    assert_eq!(ticket.assignee_id, Some(RICHARD_ID));
    assert_eq!(ticket.group_id, Some(OUVIDORIA));
    assert_eq!(ticket.status, Status::Open);
    assert!(ticket.tags.contains(&"ouvidoria".to_owned()), "{:?}", ticket.tags);
    assert_eq!(ticket.requester_id, solved.requester_id, "the same customer");
    let ccs = world
        .bot
        .show_users(&ticket.email_cc_ids)
        .await
        .expect("show the CCs");
    assert_eq!(
        ccs.iter().filter_map(|u| u.email.as_deref()).collect::<Vec<_>>(),
        vec![OMBUDSMAN]
    );
    // Its note: every detail of #n, and its number.
    let notes = world.comments(case).await;
    assert_eq!(notes.len(), 1, "{notes:#?}");
    let note = &notes[0];
    assert!(!note.public, "an internal note");
    let bot = world.bot.me().await.expect("carteiro's user").id;
    assert_eq!(note.author_id, Some(bot), "carteiro wrote it, not the customer");
    assert_eq!(ticket.submitter_id, Some(bot));
    for detail in [
        format!("chamado #{n}, encerrado como resolvido"),
        "Assunto: Impressora fiscal sem conserto".to_owned(),
        format!("Cliente: Maria Souza <{}>", world.customer.address),
        "A impressora fiscal trava ao emitir o cupom desde a atualização.".to_owned(),
    ] {
        assert!(
            note.body.contains(&detail),
            "{detail:?} in the note:\n{}",
            note.body
        );
    }
    let dates = [promised(asked_at), promised(answered_at)];
    assert!(
        dates.iter().any(|d| note
            .body
            .contains(&format!("Prazo informado ao cliente: {d} (5 dias úteis)"))),
        "the note gives the promised date {dates:?}:\n{}",
        note.body
    );

    // #n: solved, the public reply with the concrete date, linked to the case.
    assert!(
        solved.tags.contains(&"ouvidoria_aberta".to_owned()),
        "{:?}",
        solved.tags
    );
    let comments = world.comments(n).await;
    let replies: Vec<&Comment> = comments
        .iter()
        .filter(|c| c.public && c.body.contains("Ouvidoria"))
        .collect();
    assert_eq!(replies.len(), 1, "{comments:#?}");
    assert!(
        dates.iter().any(|d| replies[0]
            .body
            .contains(&format!("5 dias úteis, ou seja, até {d}."))),
        "the reply promises {dates:?}:\n{}",
        replies[0].body
    );
    // The link note is an update of its own (a public reply cannot carry
    // it), after the solve.
    wait_for(&world, "#n names the case", || async {
        let comments = world.comments(n).await;
        comments
            .iter()
            .any(|c| !c.public && c.body.contains(&format!("#{case}")))
            .then_some(())
    })
    .await;
    // The customer gets the reply by mail, once, from carteiro (Zendesk's
    // requester triggers are off, as rules/README.md says).
    let mails = servers.wait_for_messages(&world.customer.user, 1, STEP).await;
    let (reply_subject, reply_text) = subject_and_text(&mails[0]);
    assert_eq!(reply_subject, format!("Impressora fiscal sem conserto [#{n}]"));
    assert!(
        dates
            .iter()
            .any(|d| reply_text.contains(&format!("5 dias úteis, ou seja, até {d}."))),
        "{reply_text}"
    );

    // 3. A restart, and a new change on #n: still one case.
    daemon.stop().await;
    let daemon = InProcess::start(config.clone(), world.clock());
    let current = world.ana.show_ticket(n).await.expect("show");
    world
        .ana
        .update_ticket(
            n,
            &TicketUpdate {
                remove_tags: Some(vec!["ouvidoria_aberta".to_owned()]),
                comment: Some(NewComment::internal("Conferindo o pedido de ouvidoria.")),
                ..TicketUpdate::default()
            },
            current.updated_at,
        )
        .await
        .expect("Ana's second update");
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        world.tickets_with_subject(&subject),
        vec![case],
        "one case for #{n}"
    );
    assert_eq!(world.ticket(n).await.status, Status::Solved);

    // 4. Richard hands the case to the analyst, with a note: it stays there.
    let current = world.richard.show_ticket(case).await.expect("show");
    world
        .richard
        .update_ticket(
            case,
            &TicketUpdate {
                assignee_id: Some(ANALYST_ID),
                comment: Some(NewComment::internal("N2, favor atualizar o firmware na loja.")),
                ..TicketUpdate::default()
            },
            current.updated_at,
        )
        .await
        .expect("Richard's update");
    tokio::time::sleep(QUIET).await;
    let ticket = world.ticket(case).await;
    assert_eq!(
        ticket.assignee_id,
        Some(ANALYST_ID),
        "Richard's own note does not bounce it"
    );

    // The analyst acts and solves: back to Richard, in Ouvidoria, open.
    world
        .analyst
        .update_ticket(
            case,
            &TicketUpdate {
                status: Some(Status::Solved),
                comment: Some(NewComment::internal("Firmware atualizado; cliente orientado.")),
                ..TicketUpdate::default()
            },
            ticket.updated_at,
        )
        .await
        .expect("the analyst's update");
    let back = wait_for(&world, "the case back with Richard, open", || async {
        let ticket = world.ticket(case).await;
        (ticket.assignee_id == Some(RICHARD_ID) && ticket.status == Status::Open).then_some(ticket)
    })
    .await;
    assert_eq!(back.group_id, Some(OUVIDORIA));
    let last = world.comments(case).await;
    assert!(
        last.iter()
            .any(|c| !c.public && c.body.contains("devolvido à Ouvidoria")),
        "{last:#?}"
    );

    // 5. Self-service: the instructions by mail, with the PDF guide.
    let m = world
        .customer_writes(servers, "ouv-2", "Cupom duplicado", "O cupom sai duplicado.")
        .await;
    let current = world.ana.show_ticket(m).await.expect("show");
    world
        .ana
        .update_ticket(
            m,
            &TicketUpdate {
                additional_tags: Some(vec!["ouvidoria_autoatendimento".to_owned()]),
                ..TicketUpdate::default()
            },
            current.updated_at,
        )
        .await
        .expect("Ana tags self-service");
    let mails = servers.wait_for_messages(&world.customer.user, 2, STEP).await;
    let instructions = format!("Como abrir sua Ouvidoria - chamado {m} [#{m}]");
    let parsed = mails
        .iter()
        .map(|raw| {
            mail_parser::MessageParser::default()
                .parse(raw)
                .expect("a parsable mail")
        })
        .find(|p| p.subject() == Some(instructions.as_str()))
        .unwrap_or_else(|| panic!("no mail {instructions:?}"));
    let text = parsed.body_text(0).expect("a text part").into_owned();
    assert!(text.contains("escolha OUVIDORIA"), "{text}");
    assert!(text.contains(&format!("número do chamado {m}")), "{text}");
    let pdf =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/anexos/ouvidoria-passo-a-passo.pdf"))
            .expect("the shipped guide");
    let attached: Vec<&[u8]> = parsed.attachments().map(|a| a.contents()).collect();
    assert_eq!(attached, vec![pdf.as_slice()], "the guide, byte for byte");
    wait_for(&world, "the self-service ticket solved", || async {
        (world.ticket(m).await.status == Status::Solved).then_some(())
    })
    .await;
    assert!(
        world
            .tickets_with_subject(&format!("OUVIDORIA - #{m}"))
            .is_empty()
    );

    // 6. A customer who asks in their own words, with no agent involved.
    let k = world
        .customer_writes(
            servers,
            "ouv-3",
            "Terceira visita sem solução",
            "Não concordo com o atendimento.\r\nSolicito a abertura de uma ouvidoria.",
        )
        .await;
    let own = format!("OUVIDORIA - #{k}");
    let case_k = wait_for(&world, "the case the customer asked for", || {
        let found = world.tickets_with_subject(&own);
        async move { found.first().copied() }
    })
    .await;
    let asked = wait_for(&world, "the customer's ticket solved", || async {
        let ticket = world.ticket(k).await;
        (ticket.status == Status::Solved).then_some(ticket)
    })
    .await;
    for tag in [
        "ouvidoria_pedido_cliente",
        "ouvidoria_solicitada",
        "ouvidoria_aberta",
    ] {
        assert!(asked.tags.contains(&tag.to_owned()), "{tag} in {:?}", asked.tags);
    }
    assert_eq!(world.ticket(case_k).await.assignee_id, Some(RICHARD_ID));
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        world.tickets_with_subject(&own),
        vec![case_k],
        "one case for #{k}"
    );
    // The customer's whole inbox: each in-service reply and the
    // self-service instructions, each once.
    let inbox: Vec<String> = servers
        .wait_for_messages(&world.customer.user, 3, STEP)
        .await
        .iter()
        .map(|raw| subject_and_text(raw).0)
        .collect();
    let mut subjects = inbox.clone();
    subjects.sort();
    let mut expected = vec![
        format!("Impressora fiscal sem conserto [#{n}]"),
        instructions,
        format!("Terceira visita sem solução [#{k}]"),
    ];
    expected.sort();
    assert_eq!(subjects, expected, "{inbox:#?}");

    daemon.stop().await;
}

/// A mail's subject and text part.
fn subject_and_text(raw: &[u8]) -> (String, String) {
    let parsed = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("a parsable mail");
    (
        parsed.subject().unwrap_or_default().to_owned(),
        parsed.body_text(0).unwrap_or_default().into_owned(),
    )
}
