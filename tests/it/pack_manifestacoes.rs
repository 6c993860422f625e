//! The manifestations pack (`rules/manifestacoes.toml`), end to end: the
//! shipped pack and its templates, the real Postfix and Dovecot, the
//! simulator seeded with the pack's groups and fields, and the daemon
//! exactly as `carteiro run` runs it (`daemon::run_with_clock`, on the
//! simulator's clock).
//!
//! A customer mails a complaint to the manifestations address: the ticket
//! is classified (field and tags), gets its due date five business days
//! ahead, and the customer gets the "recebida" mail. Ana solves it without
//! a reason: it comes back open with a note naming what is missing. With
//! reason and origin, it stays solved and the customer gets the closing
//! mail asking for a rating. On the way, Ana moves the due date without a
//! justification (put back, with a note) and then with one (it stays). The
//! customer answers "nota 4" over SMTP: the rating lands in "Nota final",
//! and the ticket is solved again. Ana closes it ("aprovada"), the
//! customer disagrees by mail, and the follow-up carries the case on with
//! the justification.
//!
//! Every wait is bounded and polls.

use crate::support;
use crate::support::daemon::{E2eConfig, InProcess};

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use carteiro::calendar::{Calendar, Duration as BusinessDuration};
use carteiro::clock::Clock;
use carteiro::helpdesk::sim::{self, SimHandle, SimOptions};
use carteiro::helpdesk::zendesk::ZendeskClient;
use carteiro::helpdesk::{Comment, CustomFieldValue, HelpDesk, Id, NewComment, Status, Ticket, TicketUpdate};
use serde_json::{Value, json};

use crate::support::mail::{MailServers, TestMailbox, servers};

/// How long any one step of the chain may take.
const STEP: Duration = Duration::from_secs(30);

/// Several ticket polls (1 s): a wrong revert would have shown up.
const QUIET: Duration = Duration::from_secs(4);

// The pack's example values, seeded into the simulator.
const ANA: &str = "ana@bematech.com.br";
const MANIFESTACOES: &str = "manifestacoes@bematech.com.br";
const TIPO: Id = 500;
const MOTIVO: Id = 501;
const ORIGEM: Id = 502;
const NOTA_FINAL: Id = 504;

struct World {
    sim: SimHandle,
    bot: ZendeskClient,
    ana: ZendeskClient,
    support: TestMailbox,
    customer: TestMailbox,
    dir: PathBuf,
}

impl World {
    async fn new(servers: &MailServers) -> World {
        let seed = json!({
            "groups": [ { "id": 60, "name": "Manifestações" }, { "id": 61, "name": "Denúncias" } ],
            "users": [ { "id": 7000, "name": "Ana Analista", "email": ANA, "role": "agent" } ],
            "ticket_fields": [
                { "id": TIPO, "type": "text", "title": "Tipo de manifestação" },
                { "id": MOTIVO, "type": "text", "title": "Motivo" },
                { "id": ORIGEM, "type": "text", "title": "Origem" },
                { "id": 503, "type": "integer", "title": "Nota parcial" },
                { "id": NOTA_FINAL, "type": "integer", "title": "Nota final" },
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
        let support = servers.new_mailbox("suporte-manif");
        let customer = servers.new_mailbox("cliente-manif");
        let dir = support::test_dir("pack-manifestacoes");
        support::copy_pack("manifestacoes", "manifestacoes", &dir.join("regras"), |text| text);
        World {
            sim,
            bot,
            ana,
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
        let mut config = E2eConfig::new(&base, &self.dir, &rules, &self.support);
        config.also_own = &[MANIFESTACOES];
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

    /// A mail from the customer: `To` the manifestations address, delivered
    /// to the mailbox carteiro reads.
    async fn customer_mails(&self, servers: &MailServers, headers: &str, body: &str) {
        let raw = format!(
            "From: Maria Souza <{from}>\r\nTo: {to}\r\n{headers}\
             Date: Mon, 23 Nov 2026 10:00:00 -0300\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             {body}\r\n",
            from = self.customer.address,
            to = MANIFESTACOES,
        );
        servers
            .send(raw.as_bytes(), &self.customer.address, &[&self.support.address])
            .await;
    }

    /// The admin's change for the two mails to managers, in the pack's
    /// `[params]`: the daily digest's address to `daily`, the weekly
    /// statistics' to `weekly`.
    fn managers_are(&self, daily: &TestMailbox, weekly: &TestMailbox) {
        let pack = self.dir.join("regras/manifestacoes.toml");
        let mut text = std::fs::read_to_string(&pack).expect("pack");
        for (param, mailbox) in [("gestores_diario", daily), ("gestores_semanal", weekly)] {
            let shipped = format!("{param} = \"gestores-manifestacoes@bematech.com.br\"");
            assert!(text.contains(&shipped), "the pack's [params] has {shipped}");
            text = text.replace(&shipped, &format!("{param} = \"{}\"", mailbox.address));
        }
        std::fs::write(&pack, text).expect("pack");
    }

    /// Ana's update, on the ticket as she reads it.
    async fn ana_updates(&self, id: Id, update: TicketUpdate) {
        let current = self.ana.show_ticket(id).await.expect("show");
        let update = support::taking_if_solving(&self.ana, &current, update).await;
        self.ana
            .update_ticket(id, &update, current.updated_at)
            .await
            .expect("Ana's update");
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

fn parse(raw: &[u8]) -> (String, String, String) {
    let parsed = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("a parsable mail");
    (
        parsed.subject().unwrap_or_default().to_owned(),
        parsed.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        parsed.message_id().unwrap_or_default().to_owned(),
    )
}

fn field(ticket: &Ticket, id: Id) -> Option<&Value> {
    ticket.custom_field(id).filter(|v| !v.is_null())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_is_classified_needs_a_reason_to_close_and_takes_a_rating_by_mail() {
    let servers = servers();
    let world = World::new(servers).await;
    let config = world.config(servers);
    let daemon = InProcess::start(config, world.clock());

    // 1. The complaint: classified, due in five business days, acknowledged.
    let before: Vec<Id> = world.tickets().iter().filter_map(|t| t["id"].as_u64()).collect();
    let sent_at = world.clock().now();
    world
        .customer_mails(
            servers,
            "Subject: Entrega atrasada\r\nMessage-ID: <manif-1@cliente.example>\r\n",
            "Bom dia,\r\n\r\nQuero registrar uma reclamação: a entrega atrasou duas semanas.",
        )
        .await;
    let n = wait_for(&world, "the classified ticket", || {
        let fresh: Vec<Value> = world
            .tickets()
            .into_iter()
            .filter(|t| t["id"].as_u64().is_some_and(|id| !before.contains(&id)))
            .collect();
        async move {
            assert!(fresh.len() <= 1, "one mail, one ticket: {fresh:#?}");
            let t = fresh.first()?;
            let tags = t["tags"].as_array()?;
            tags.iter()
                .any(|x| x == "manifestacao_reclamacao")
                .then(|| t["id"].as_u64())
                .flatten()
        }
    })
    .await;
    let classified_at = world.clock().now();
    let ticket = world.ticket(n).await;
    assert!(
        ticket.tags.contains(&"manifestacao".to_owned()),
        "{:?}",
        ticket.tags
    );
    assert_eq!(field(&ticket, TIPO), Some(&json!("reclamação")));
    let calendar = Calendar::br();
    let five = BusinessDuration::parse("5bd").expect("a duration");
    let due = ticket.due_at.expect("a due date");
    // Zendesk keeps whole seconds: the due date planned within the second
    // the mail was sent may fall just before `earliest`.
    let earliest = chrono::SubsecRound::trunc_subsecs(calendar.add(sent_at, five).expect("a due date"), 0);
    let latest = calendar.add(classified_at, five).expect("a due date");
    assert!(
        earliest <= due && due <= latest,
        "due {due} within [{earliest}, {latest}]"
    );
    let mails = servers.wait_for_messages(&world.customer.user, 1, STEP).await;
    let (subject, text, _) = parse(&mails[0]);
    assert_eq!(subject, format!("Manifestação {n} recebida [#{n}]"));
    assert!(text.contains("Olá, Maria Souza."), "{text}");
    assert!(
        text.contains(&format!("protocolo {n}, do tipo reclamação")),
        "{text}"
    );
    let due_text = carteiro::template::filters::date_long(due.with_timezone(&calendar.zone()).date_naive());
    assert!(text.contains(&format!("até {due_text}.")), "{text}");

    // A due-date change without a justification note is put back; one
    // with Ana's internal note stays.
    let later = due + chrono::TimeDelta::days(7);
    world
        .ana_updates(
            n,
            TicketUpdate {
                due_at: Some(Some(later)),
                ..TicketUpdate::default()
            },
        )
        .await;
    wait_for(
        &world,
        "the unjustified due date put back, with a note",
        || async {
            let ticket = world.ticket(n).await;
            let comments = world.comments(n).await;
            (ticket.due_at == Some(due)
                && comments
                    .iter()
                    .any(|c| !c.public && c.body.contains("Prazo alterado sem justificativa")))
            .then_some(())
        },
    )
    .await;
    world
        .ana_updates(
            n,
            TicketUpdate {
                due_at: Some(Some(later)),
                comment: Some(NewComment::internal(
                    "A transportadora só entrega na outra semana.",
                )),
                ..TicketUpdate::default()
            },
        )
        .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        world.ticket(n).await.due_at,
        Some(later),
        "a justified change stays"
    );
    let reverts = world
        .comments(n)
        .await
        .iter()
        .filter(|c| c.body.contains("Prazo alterado sem justificativa"))
        .count();
    assert_eq!(reverts, 1);

    // 2. Ana solves without reason or origin: back to open, with a note.
    world
        .ana_updates(
            n,
            TicketUpdate {
                status: Some(Status::Solved),
                comment: Some(NewComment::internal("Entrega reagendada com a transportadora.")),
                ..TicketUpdate::default()
            },
        )
        .await;
    wait_for(&world, "the ticket back to open with a note", || async {
        let ticket = world.ticket(n).await;
        let comments = world.comments(n).await;
        (ticket.status == Status::Open
            && comments
                .iter()
                .any(|c| !c.public && c.body.contains("- Motivo") && c.body.contains("- Origem")))
        .then_some(())
    })
    .await;

    // 3. With reason and origin: solved, and the closing mail asks for a rating.
    world
        .ana_updates(
            n,
            TicketUpdate {
                status: Some(Status::Solved),
                custom_fields: Some(vec![
                    CustomFieldValue {
                        id: MOTIVO,
                        value: json!("atraso na entrega"),
                    },
                    CustomFieldValue {
                        id: ORIGEM,
                        value: json!("e-mail"),
                    },
                ]),
                ..TicketUpdate::default()
            },
        )
        .await;
    let mails = servers.wait_for_messages(&world.customer.user, 2, STEP).await;
    let (subject, text, message_id) = parse(&mails[1]);
    assert_eq!(
        subject,
        format!("Manifestação {n} encerrada: avalie o atendimento [#{n}]")
    );
    assert!(text.contains("nota de 1 (muito insatisfeito) a 5"), "{text}");
    let solved = wait_for(&world, "the awaiting-rating tag", || async {
        let ticket = world.ticket(n).await;
        ticket
            .tags
            .contains(&"manifestacao_aguarda_nota_final".to_owned())
            .then_some(ticket)
    })
    .await;
    assert_eq!(solved.status, Status::Solved);

    // 4. The customer answers "nota 4": recorded, and still solved.
    world
        .customer_mails(
            servers,
            &format!(
                "Subject: Re: {subject}\r\nMessage-ID: <manif-2@cliente.example>\r\n\
                 In-Reply-To: <{message_id}>\r\nReferences: <{message_id}>\r\n"
            ),
            "nota 4\r\n\r\nMaria",
        )
        .await;
    let rated = wait_for(&world, "the final rating, solved", || async {
        let ticket = world.ticket(n).await;
        (field(&ticket, NOTA_FINAL) == Some(&json!(4)) && ticket.status == Status::Solved).then_some(ticket)
    })
    .await;
    assert!(
        rated.tags.contains(&"manifestacao_avaliada".to_owned()),
        "{:?}",
        rated.tags
    );
    assert!(
        !rated.tags.contains(&"manifestacao_aguarda_nota_final".to_owned()),
        "{:?}",
        rated.tags
    );
    let comments = world.comments(n).await;
    assert!(
        comments.iter().any(|c| c.public && c.body.contains("nota 4")),
        "the customer's reply is on the ticket: {comments:#?}"
    );
    assert!(
        comments.iter().any(|c| !c.public
            && c.body
                .contains("Nota final do manifestante, respondida por e-mail: 4")),
        "{comments:#?}"
    );
    assert!(
        !comments
            .iter()
            .any(|c| c.body.contains("reaberta pelo manifestante")),
        "a rating is no justification: {comments:#?}"
    );
    // Still exactly the two mails: the rating sends nothing.
    assert_eq!(
        servers
            .wait_for_messages(&world.customer.user, 2, STEP)
            .await
            .len(),
        2
    );

    // 5. Ana closes it: the customer is told it was approved and archived.
    world
        .ana_updates(
            n,
            TicketUpdate {
                status: Some(Status::Closed),
                ..TicketUpdate::default()
            },
        )
        .await;
    let mails = servers.wait_for_messages(&world.customer.user, 3, STEP).await;
    let (subject, _, message_id) = parse(&mails[2]);
    assert_eq!(subject, format!("Manifestação {n} aprovada e arquivada [#{n}]"));

    // 6. The customer disagrees by replying to it: the closed ticket
    // cannot reopen, so a follow-up carries the case on, with its tags and
    // fields, and the reply as the justification.
    world
        .customer_mails(
            servers,
            &format!(
                "Subject: Re: {subject}\r\nMessage-ID: <manif-3@cliente.example>\r\n\
                 In-Reply-To: <{message_id}>\r\nReferences: <{message_id}>\r\n"
            ),
            "Discordo: a entrega continua atrasada.\r\n\r\nMaria",
        )
        .await;
    let follow_up = wait_for(&world, "the follow-up with the justification", || async {
        let follow_up = world
            .tickets()
            .into_iter()
            .find(|t| t["via_followup_source_id"] == json!(n))?;
        let id = follow_up["id"].as_u64()?;
        let ticket = world.ticket(id).await;
        ticket
            .tags
            .contains(&"manifestacao_reaberta".to_owned())
            .then_some(ticket)
    })
    .await;
    assert_eq!(
        field(&follow_up, TIPO),
        Some(&json!("reclamação")),
        "the type carried over"
    );
    for tag in ["manifestacao", "manifestacao_reclamacao"] {
        assert!(follow_up.tags.contains(&tag.to_owned()), "{:?}", follow_up.tags);
    }
    assert!(
        !follow_up.tags.contains(&"manifestacao_encerrada".to_owned()),
        "{:?}",
        follow_up.tags
    );
    let comments = world.comments(follow_up.id).await;
    assert!(
        comments.iter().any(|c| !c.public
            && c.body.contains("reaberta pelo manifestante")
            && c.body.contains("Discordo: a entrega continua atrasada.")),
        "{comments:#?}"
    );
    assert_eq!(world.ticket(n).await.status, Status::Closed);
    // No acknowledgement of a "new" ticket: it is the same case.
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        servers
            .wait_for_messages(&world.customer.user, 3, STEP)
            .await
            .len(),
        3
    );

    daemon.stop().await;
}

/// Moves the simulator's clock (the daemon's too) forward.
async fn advance_clock(world: &World, secs: u64) {
    let url = world.sim.base_url.join("/__sim/clock").expect("url");
    let response = support::plain_http()
        .post(url)
        .json(&json!({ "advance_secs": secs }))
        .send()
        .await
        .expect("clock");
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_digest_reaches_the_managers_once_at_eight_on_a_business_day() {
    use chrono::{Datelike, Days, TimeZone, Weekday};
    let servers = servers();
    let world = World::new(servers).await;
    // The admin's one change: the managers' address (here a test mailbox).
    let managers = servers.new_mailbox("gestores-manif");
    let weekly = servers.new_mailbox("gestores-semana");
    world.managers_are(&managers, &weekly);

    // Manifestations already in the helpdesk: two overdue (one without an
    // assignee), one far ahead, one overdue denúncia, one overdue ticket
    // that is no manifestation.
    let now = world.clock().now();
    let ticket = |subject: &str, tags: &[&str], due_hours_ago: i64, assignee: Option<Id>| {
        json!({
            "subject": subject, "type": "task", "status": "open", "tags": tags,
            "due_at": (now - chrono::TimeDelta::hours(due_hours_ago)).to_rfc3339(),
            "assignee_id": assignee, "group_id": 60,
            "comment": { "body": format!("{subject}.") },
            "requester": { "email": world.customer.address, "name": "Maria Souza" },
        })
    };
    let mut ids = Vec::new();
    for new in [
        ticket(
            "Entrega atrasada",
            &["manifestacao", "manifestacao_reclamacao"],
            3,
            None,
        ),
        ticket(
            "Cobrança em dobro",
            &["manifestacao", "manifestacao_reclamacao"],
            2,
            Some(7000),
        ),
        ticket(
            "Sugestão de horário",
            &["manifestacao", "manifestacao_sugestao"],
            -24 * 30,
            None,
        ),
        ticket(
            "Denúncia de conduta",
            &["manifestacao", "manifestacao_denuncia"],
            3,
            None,
        ),
        ticket("Impressora parada", &["suporte"], 3, None),
    ] {
        let new: carteiro::helpdesk::NewTicket = serde_json::from_value(new).expect("new ticket");
        ids.push(world.bot.create_ticket(&new).await.expect("create").id);
    }

    let config = world.config(servers);
    let daemon = InProcess::start(config.clone(), world.clock());
    // The poller has seen every ticket: their snapshots are in the store.
    let store = carteiro::store::Store::open(&world.dir.join("carteiro.db")).expect("store");
    wait_for(&world, "the snapshots", || {
        let seen = ids.iter().all(|id| store.snapshot(*id).ok().flatten().is_some());
        async move { seen.then_some(()) }
    })
    .await;

    // Jump to 08:00:30 of the next business day in São Paulo.
    let zone = chrono_tz::America::Sao_Paulo;
    let mut day = world.clock().now().with_timezone(&zone).date_naive();
    loop {
        day = day.checked_add_days(Days::new(1)).expect("day");
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            break;
        }
    }
    let eight = zone
        .from_local_datetime(&day.and_hms_opt(8, 0, 30).expect("time"))
        .single()
        .expect("one instant")
        .with_timezone(&chrono::Utc);
    let jump = (eight - world.clock().now()).num_seconds();
    advance_clock(&world, u64::try_from(jump).expect("ahead")).await;

    let mails = servers.wait_for_messages(&managers.user, 1, STEP).await;
    let (subject, body, _) = parse(&mails[0]);
    assert!(
        subject.starts_with("Manifestações: 2 vencidas, 0 vencem hoje"),
        "{subject}"
    );
    assert!(!subject.contains("[#"), "no ticket tag: {subject}");
    let raw = String::from_utf8_lossy(&mails[0]);
    assert!(
        !raw.contains(carteiro::outbound::TICKET_HEADER),
        "no ticket header"
    );
    let unassigned = body
        .find("Vencidas e sem responsável: 1")
        .unwrap_or_else(|| panic!("{body}"));
    let overdue = body.find("Vencidas: 1").unwrap_or_else(|| panic!("{body}"));
    let first = body
        .find(&format!("#{} Entrega atrasada", ids[0]))
        .unwrap_or_else(|| panic!("{body}"));
    let second = body
        .find(&format!("#{} Cobrança em dobro", ids[1]))
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        unassigned < first && first < overdue && overdue < second,
        "{body}"
    );
    assert!(body.contains("Ana Analista"), "{body}");
    // Managers are agents: each ticket links to the page they open it on.
    let host = world.sim.base_url.as_str().trim_end_matches('/');
    for id in &ids[..2] {
        let page = format!("{host}/agent/tickets/{id}");
        assert!(body.contains(&page), "{page} in {body}");
    }
    for left_out in &ids[2..] {
        assert!(
            !body.contains(&format!("#{left_out} ")),
            "#{left_out} is not listed: {body}"
        );
    }

    // A restart within the same tick sends nothing more.
    daemon.stop().await;
    let daemon = InProcess::start(config, world.clock());
    tokio::time::sleep(QUIET).await;
    daemon.stop().await;
    let mails = servers.wait_for_messages(&managers.user, 1, STEP).await;
    assert_eq!(mails.len(), 1, "one digest per tick");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weekly_statistics_reach_the_managers_on_monday_with_the_past_weeks_figures() {
    use chrono::{Datelike, Days, TimeZone, Weekday};
    let servers = servers();
    let world = World::new(servers).await;
    let daily = servers.new_mailbox("gestores-dia");
    let managers = servers.new_mailbox("gestores-semana");
    world.managers_are(&daily, &managers);

    // This week's manifestations (and one ticket that is none).
    let now = world.clock().now();
    let hours = |h: i64| (now + chrono::TimeDelta::hours(h)).to_rfc3339();
    let ticket = |subject: &str, tipo: &str, due: String, motivo: Option<&str>| {
        let mut fields = vec![json!({ "id": TIPO, "value": tipo })];
        if let Some(motivo) = motivo {
            fields.push(json!({ "id": MOTIVO, "value": motivo }));
            fields.push(json!({ "id": ORIGEM, "value": "E-mail" }));
        }
        let tag = format!("manifestacao_{}", tipo.replace('ç', "c").replace('ã', "a"));
        json!({
            "subject": subject, "type": "task", "status": "open",
            "tags": if tipo.is_empty() { vec!["suporte".to_owned()] } else { vec!["manifestacao".to_owned(), tag] },
            "due_at": due, "assignee_id": 7000, "group_id": 60, "custom_fields": fields,
            "comment": { "body": format!("{subject}.") },
            "requester": { "email": world.customer.address, "name": "Maria Souza" },
        })
    };
    let mut ids = Vec::new();
    for new in [
        // Solved by its due date, then closed.
        ticket(
            "Entrega atrasada",
            "reclamação",
            hours(48),
            Some("Atraso na entrega"),
        ),
        // Already past its due date when solved.
        ticket(
            "Cobrança em dobro",
            "reclamação",
            hours(-1),
            Some("Cobrança indevida"),
        ),
        // Still open, due next month.
        ticket("Atendimento excelente", "elogio", hours(24 * 30), None),
        // Still open and overdue.
        ticket("Denúncia de conduta", "denúncia", hours(-2), None),
        // No manifestation: not counted.
        ticket("Impressora parada", "", hours(-3), Some("Defeito")),
    ] {
        let new: carteiro::helpdesk::NewTicket = serde_json::from_value(new).expect("new ticket");
        ids.push(world.bot.create_ticket(&new).await.expect("create").id);
    }

    let config = world.config(servers);
    let daemon = InProcess::start(config.clone(), world.clock());
    let store = carteiro::store::Store::open(&world.dir.join("carteiro.db")).expect("store");
    let status_seen = |id: Id, status: Status| {
        let seen = store
            .snapshot(id)
            .ok()
            .flatten()
            .is_some_and(|s| s.ticket.status == status);
        async move { seen.then_some(()) }
    };
    for id in &ids {
        wait_for(&world, "the snapshots", || status_seen(*id, Status::Open)).await;
    }
    // Ana solves the two complaints and the printer; then the first closes.
    for id in [ids[0], ids[1], ids[4]] {
        world
            .ana_updates(
                id,
                TicketUpdate {
                    status: Some(Status::Solved),
                    ..TicketUpdate::default()
                },
            )
            .await;
        wait_for(&world, "the solve seen", || status_seen(id, Status::Solved)).await;
    }
    world
        .ana_updates(
            ids[0],
            TicketUpdate {
                status: Some(Status::Closed),
                ..TicketUpdate::default()
            },
        )
        .await;
    wait_for(&world, "the close seen", || status_seen(ids[0], Status::Closed)).await;

    // Jump to 08:00:30 on the next Monday in São Paulo: its report covers
    // the seven days before, this one included.
    let zone = chrono_tz::America::Sao_Paulo;
    let today = world.clock().now().with_timezone(&zone).date_naive();
    let mut monday = today.checked_add_days(Days::new(1)).expect("day");
    while monday.weekday() != Weekday::Mon {
        monday = monday.checked_add_days(Days::new(1)).expect("day");
    }
    let eight = zone
        .from_local_datetime(&monday.and_hms_opt(8, 0, 30).expect("time"))
        .single()
        .expect("one instant")
        .with_timezone(&chrono::Utc);
    let jump = (eight - world.clock().now()).num_seconds();
    advance_clock(&world, u64::try_from(jump).expect("ahead")).await;

    let mails = servers.wait_for_messages(&managers.user, 1, STEP).await;
    let (subject, body, _) = parse(&mails[0]);
    assert!(subject.starts_with("Manifestações de "), "{subject}");
    assert!(
        subject.ends_with(": 4 recebidas, 2 encerradas, 50% no prazo"),
        "{subject}"
    );
    assert!(!subject.contains("[#"), "no ticket tag: {subject}");
    for line in [
        "Recebidas no período: 4\n",
        "Encerradas no período: 2\n",
        "Cumprimento do prazo: 50% no prazo (1 de 2)\n",
        "Em aberto agora: 2, 1 vencida(s)\n",
        "Por tipo:\n- reclamação: 2 recebida(s) (50%), 2 encerrada(s), 50% no prazo (1 de 2), 0 em aberto\n",
        "- denúncia: 1 recebida(s) (25%), 0 encerrada(s), sem encerramento com prazo, 1 em aberto\n",
        "- elogio: 1 recebida(s) (25%), 0 encerrada(s), sem encerramento com prazo, 1 em aberto\n",
        "Por status atual:\n- aberta: 2 recebida(s) (50%)",
        "- encerrada: 1 recebida(s) (25%), 1 encerrada(s), 0% no prazo (0 de 1), 0 em aberto\n",
        "- fechada: 1 recebida(s) (25%), 1 encerrada(s), 100% no prazo (1 de 1), 0 em aberto\n",
        "Por motivo:\n- não informado: 2 recebida(s) (50%)",
        "- Atraso na entrega: 1 recebida(s) (25%), 1 encerrada(s), 100% no prazo (1 de 1)",
        "- Cobrança indevida: 1 recebida(s) (25%), 1 encerrada(s), 0% no prazo (0 de 1)",
    ] {
        assert!(body.contains(line), "{line:?} missing in:\n{body}");
    }
    // Figures only: no subject, no name, no ticket number.
    for left_out in ["Denúncia de conduta", "Maria", "Impressora", "Defeito"] {
        assert!(!body.contains(left_out), "{left_out:?} in:\n{body}");
    }
    for id in &ids {
        assert!(!body.contains(&format!("#{id}")), "#{id} in:\n{body}");
    }

    // A restart within the same tick sends nothing more.
    daemon.stop().await;
    let daemon = InProcess::start(config, world.clock());
    tokio::time::sleep(QUIET).await;
    daemon.stop().await;
    let mails = servers.wait_for_messages(&managers.user, 1, STEP).await;
    assert_eq!(mails.len(), 1, "one report per tick");
}
