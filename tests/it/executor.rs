//! The rule executor against the simulator, without mail servers: one
//! audit per event (two with a `commit`), one effect per event key, an
//! agent's concurrent edit kept through a re-plan, a create interrupted by
//! a crash found again by its `external_id`, one outbox row per mail step,
//! and `once = "per_ticket"` remembered.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use crate::support::{Sim, plain_http, ticket_count_with_external_id};
use carteiro::clock::SystemClock;
use carteiro::helpdesk::sim::SimOptions;
use carteiro::helpdesk::zendesk::ZendeskClient;
use carteiro::helpdesk::{Audit, HelpDesk, NewComment, NewTicket, Status, Ticket, TicketUpdate};
use carteiro::outbound::{ComposeOptions, MailAddress};
use carteiro::rules::exec::{
    Applied, EventKey, ExecError, ExecOptions, Executor, FiredOnce, Job, Report, external_id_for,
};
use carteiro::rules::{Effect, Plan, Step};
use carteiro::store::{Enqueued, GuardPolicy, JournalState, Store};
use chrono::Utc;
use serde_json::json;

const RULES_HASH: &str = "sha256:regras-de-teste";

fn options() -> ExecOptions {
    ExecOptions {
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
        rules_dir: PathBuf::from("."),
        max_replans: 3,
        solve_assignee: None,
    }
}

struct World {
    sim: Sim,
    store: Arc<Store>,
    executor: Executor<ZendeskClient>,
}

async fn world() -> World {
    let sim = Sim::start(SimOptions::default()).await;
    let store = Arc::new(Store::open_in_memory().expect("store"));
    let executor = Executor::new(
        sim.client.clone(),
        store.clone(),
        options(),
        Arc::new(SystemClock),
    );
    World { sim, store, executor }
}

async fn new_ticket(sim: &Sim, subject: &str) -> Ticket {
    sim.client
        .create_ticket(&NewTicket {
            subject: Some(subject.to_owned()),
            comment: NewComment::public("A impressora não liga."),
            ..NewTicket::default()
        })
        .await
        .expect("create a ticket")
}

fn step(rule: &str, effect: Effect, commit: bool) -> Step {
    Step {
        rule: rule.to_owned(),
        effect,
        commit,
    }
}

fn plan_of(ticket_id: u64, steps: Vec<Step>) -> Plan {
    let mut fired: Vec<String> = Vec::new();
    for s in &steps {
        if !fired.contains(&s.rule) {
            fired.push(s.rule.clone());
        }
    }
    Plan {
        ticket_id,
        rules_hash: RULES_HASH.to_owned(),
        now: Utc::now(),
        fired,
        steps,
        problems: Vec::new(),
        stopped_by: None,
    }
}

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|t| (*t).to_owned()).collect()
}

fn note(body: &str) -> Effect {
    Effect::InternalNote {
        template: "nota".to_owned(),
        body: body.to_owned(),
    }
}

fn job(ticket: &Ticket, plan: Plan) -> Job {
    Job {
        key: EventKey::ticket_version(ticket.id, ticket.updated_at),
        ticket: ticket.clone(),
        plan,
        once_rules: BTreeSet::new(),
    }
}

fn done(applied: Applied) -> Report {
    match applied {
        Applied::Done(report) => *report,
        other => panic!("expected the plan applied, got {other:?}"),
    }
}

async fn audits(sim: &Sim, ticket_id: u64) -> Vec<Audit> {
    sim.client.list_audits(ticket_id).await.expect("audits")
}

/// `(field, value)` of every change event of an audit, and the comment
/// bodies, in order.
fn changes(audit: &Audit) -> Vec<(String, serde_json::Value)> {
    audit
        .events
        .iter()
        .filter_map(|e| match e.event_type.as_str() {
            "Change" => Some((
                e.field_name.clone().unwrap_or_default(),
                e.value.clone().unwrap_or_default(),
            )),
            "Comment" => Some(("comment".to_owned(), json!(e.body.clone().unwrap_or_default()))),
            _ => None,
        })
        .collect()
}

fn no_replan(_: Ticket) -> Option<Plan> {
    panic!("no conflict was expected")
}

#[tokio::test]
async fn a_commit_makes_two_audits_and_otherwise_an_event_is_one_update() {
    let w = world().await;
    let ticket = new_ticket(&w.sim, "Impressora parada").await;
    assert_eq!(audits(&w.sim, ticket.id).await.len(), 1, "the create");

    let plan = plan_of(
        ticket.id,
        vec![
            step("abrir", Effect::SetStatus(Status::Open), true),
            step("aguardar", Effect::SetStatus(Status::Hold), false),
            step("aguardar", Effect::AddTags(tags(&["espera_peca"])), false),
        ],
    );
    let report = done(
        w.executor
            .apply(job(&ticket, plan), no_replan)
            .await
            .expect("applied"),
    );
    assert_eq!(report.updates, 2);
    let all = audits(&w.sim, ticket.id).await;
    assert_eq!(all.len(), 3, "the create, then one audit per commit group");
    let first = changes(&all[1]);
    assert!(first.contains(&("status".to_owned(), json!("open"))), "{first:?}");
    assert!(!first.iter().any(|(f, _)| f == "tags"), "{first:?}");
    let second = changes(&all[2]);
    assert!(
        second.contains(&("status".to_owned(), json!("hold"))),
        "{second:?}"
    );
    assert!(
        second.contains(&("tags".to_owned(), json!(["espera_peca"]))),
        "{second:?}"
    );
    assert_eq!(report.ticket.status, Status::Hold);
    assert_eq!(report.ticket.tags, tags(&["espera_peca"]));
    assert_eq!(
        report.ticket.updated_at, all[2].created_at,
        "the snapshot is the last write"
    );

    // A second event without commit: every change in one update.
    let ticket = report.ticket;
    let plan = plan_of(
        ticket.id,
        vec![
            step("triagem", Effect::AddTags(tags(&["triado"])), false),
            step("triagem", Effect::RemoveTags(tags(&["espera_peca"])), false),
            step(
                "triagem",
                Effect::SetField {
                    id: 360_000_001,
                    field: "Equipamentos".to_owned(),
                    value: json!(3),
                },
                false,
            ),
            step("triagem", note("Triado automaticamente."), false),
            step("prazo", Effect::SetStatus(Status::Open), false),
        ],
    );
    let report = done(
        w.executor
            .apply(job(&ticket, plan), no_replan)
            .await
            .expect("applied"),
    );
    assert_eq!(report.updates, 1);
    let all = audits(&w.sim, ticket.id).await;
    assert_eq!(all.len(), 4, "one more audit for the whole event");
    let last = changes(&all[3]);
    assert!(
        last.contains(&("comment".to_owned(), json!("Triado automaticamente."))),
        "{last:?}"
    );
    assert!(last.contains(&("status".to_owned(), json!("open"))), "{last:?}");
    assert_eq!(report.ticket.tags, tags(&["triado"]));
    assert_eq!(report.ticket.custom_field(360_000_001), Some(&json!(3)));
}

#[tokio::test]
async fn the_same_plan_applied_twice_has_one_effect() {
    let w = world().await;
    let ticket = new_ticket(&w.sim, "Boleto").await;
    let plan = plan_of(
        ticket.id,
        vec![
            step("financeiro", Effect::AddTags(tags(&["financeiro"])), false),
            step("financeiro", note("Encaminhado ao financeiro."), false),
        ],
    );
    let first = done(
        w.executor
            .apply(job(&ticket, plan.clone()), no_replan)
            .await
            .expect("applied"),
    );
    assert_eq!(first.updates, 1);
    let after_first = audits(&w.sim, ticket.id).await.len();
    assert_eq!(after_first, 2);

    let again = w
        .executor
        .apply(job(&ticket, plan), no_replan)
        .await
        .expect("applied");
    assert_eq!(
        again,
        Applied::AlreadyApplied {
            key: EventKey::ticket_version(ticket.id, ticket.updated_at).text()
        }
    );
    assert_eq!(
        audits(&w.sim, ticket.id).await.len(),
        after_first,
        "no second write"
    );
    let state = w.sim.state().await;
    assert_eq!(
        state["comments"][ticket.id.to_string()].as_array().map(Vec::len),
        Some(2),
        "the first mail and one note"
    );
}

#[tokio::test]
async fn an_agents_concurrent_edit_is_kept_and_the_replan_is_applied() {
    let w = world().await;
    let ticket = new_ticket(&w.sim, "Sem acesso").await;
    // Planned while the ticket was new: open it and tag it.
    let plan = plan_of(
        ticket.id,
        vec![
            step("abrir-novos", Effect::SetStatus(Status::Open), false),
            step("marcar", Effect::AddTags(tags(&["acesso"])), false),
        ],
    );
    // Meanwhile an agent puts it on pending.
    w.sim
        .client
        .update_ticket(
            ticket.id,
            &TicketUpdate {
                status: Some(Status::Pending),
                ..TicketUpdate::default()
            },
            ticket.updated_at,
        )
        .await
        .expect("the agent's edit");

    let mut seen: Vec<Status> = Vec::new();
    let replan = |fresh: Ticket| {
        seen.push(fresh.status);
        // "abrir-novos" only fires on new tickets; "marcar" still does.
        Some(plan_of(
            fresh.id,
            vec![step("marcar", Effect::AddTags(tags(&["acesso"])), false)],
        ))
    };
    let report = done(
        w.executor
            .apply(job(&ticket, plan), replan)
            .await
            .expect("applied"),
    );
    assert_eq!(
        seen,
        vec![Status::Pending],
        "re-planned once, on the agent's version"
    );
    assert_eq!(report.replans, 1);
    assert_eq!(report.updates, 1);
    let now = w.sim.client.show_ticket(ticket.id).await.expect("ticket");
    assert_eq!(now.status, Status::Pending, "the agent's status is kept");
    assert_eq!(now.tags, tags(&["acesso"]));
    let all = audits(&w.sim, ticket.id).await;
    assert_eq!(all.len(), 3, "create, the agent, carteiro");
    assert_eq!(changes(&all[2]), vec![("tags".to_owned(), json!(["acesso"]))]);
}

#[tokio::test]
async fn a_create_interrupted_by_a_crash_is_found_by_its_external_id() {
    let w = world().await;
    let ticket = new_ticket(&w.sim, "Reclamação grave").await;
    let plan = plan_of(
        ticket.id,
        vec![
            step(
                "ouvidoria",
                Effect::CreateTicket {
                    subject: format!("OUVIDORIA - #{}", ticket.id),
                    requester_id: None,
                    assignee_id: None,
                    assignee: None,
                    group_id: None,
                    group: None,
                    cc: Vec::new(),
                    status: Some(Status::Open),
                    tags: tags(&["ouvidoria"]),
                    internal_note: "Aberto pela regra de ouvidoria.".to_owned(),
                },
                false,
            ),
            step("ouvidoria", Effect::AddTags(tags(&["ouvidoria_aberta"])), false),
        ],
    );
    let key = EventKey::ticket_version(ticket.id, ticket.updated_at);
    let external_id = external_id_for(&key.text(), "ouvidoria#0");
    // The create lands but its answer is lost, and so is every lookup:
    // the executor stops as a crash would, not knowing.
    w.sim
        .faults(json!([
            { "kind": "timeout", "after_commit": true, "count": 1, "match": "POST /api/v2/tickets" },
            { "kind": "status", "status": 503, "count": 100, "match": "GET /api/v2/tickets" },
        ]))
        .await;
    let first = w.executor.apply(job(&ticket, plan.clone()), no_replan).await;
    assert!(
        matches!(first, Err(ExecError::Retry { .. })),
        "the outcome is unknown: {first:?}"
    );
    assert_eq!(ticket_count_with_external_id(&w.sim, &external_id).await, 1);
    let entry = w.store.journal_entry(&key.text()).expect("read").expect("entry");
    assert_eq!(entry.state, JournalState::Planned);
    assert!(entry.progress.contains("in_flight"), "{}", entry.progress);
    clear_faults(&w.sim).await;

    // After the restart.
    let resumed = w
        .executor
        .resume_pending(&BTreeSet::new(), |_, _| panic!("nothing to re-plan"))
        .await
        .expect("resumed");
    assert_eq!(resumed.len(), 1);
    let (resumed_key, result) = resumed.into_iter().next().expect("one");
    assert_eq!(resumed_key, key.text());
    let report = match result.expect("applied") {
        Applied::Done(report) => *report,
        other => panic!("expected it applied, got {other:?}"),
    };
    assert_eq!(
        ticket_count_with_external_id(&w.sim, &external_id).await,
        1,
        "no second ticket"
    );
    let found = w
        .sim
        .client
        .find_tickets_by_external_id(&external_id)
        .await
        .expect("lookup");
    assert_eq!(report.created, vec![("ouvidoria".to_owned(), found[0].id)]);
    assert_eq!(
        found[0].subject.as_deref(),
        Some(format!("OUVIDORIA - #{}", ticket.id).as_str())
    );
    assert_eq!(report.ticket.tags, tags(&["ouvidoria_aberta"]));
    let all = audits(&w.sim, ticket.id).await;
    assert_eq!(all.len(), 2, "the original ticket's create, then one update");
    assert!(
        changes(&all[1]).contains(&(
            "comment".to_owned(),
            json!(format!("Chamado vinculado: #{}", found[0].id))
        )),
        "{:?}",
        changes(&all[1])
    );
    assert_eq!(
        w.store
            .journal_entry(&key.text())
            .expect("read")
            .expect("entry")
            .state,
        JournalState::Applied
    );
}

async fn clear_faults(sim: &Sim) {
    let url = sim.handle.base_url.join("/__sim/faults").expect("url");
    let response = plain_http().delete(url).send().await.expect("clear faults");
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn a_mail_step_enqueues_one_outbox_row_even_when_applied_twice() {
    let w = world().await;
    let ticket = new_ticket(&w.sim, "Ordem de serviço").await;
    let mail = Effect::SendMail {
        template: "os".to_owned(),
        to: vec!["tecnico@parceiro.example".to_owned()],
        cc: Vec::new(),
        subject: "Ordem de serviço".to_owned(),
        text: "Favor atender o chamado.".to_owned(),
        html: None,
        attachments: Vec::new(),
    };
    let plan = plan_of(
        ticket.id,
        vec![
            step("os", mail, false),
            step("os", Effect::AddTags(tags(&["os_enviada"])), false),
        ],
    );
    let first = done(
        w.executor
            .apply(job(&ticket, plan.clone()), no_replan)
            .await
            .expect("applied"),
    );
    let [Enqueued::Queued { message_id, .. }] = first.mails.as_slice() else {
        panic!("expected one queued mail, got {:?}", first.mails);
    };
    assert!(
        message_id.starts_with(&format!("carteiro.{}.", ticket.id))
            && message_id.ends_with("@empresa.example"),
        "{message_id}"
    );
    let again = w
        .executor
        .apply(job(&ticket, plan), no_replan)
        .await
        .expect("applied");
    assert!(matches!(again, Applied::AlreadyApplied { .. }), "{again:?}");
    let outbox = w.store.outbox_list(true).expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].recipients, vec!["tecnico@parceiro.example".to_owned()]);
    assert_eq!(outbox[0].ticket_id, ticket.id);
    assert_eq!(&outbox[0].message_id, message_id);
    assert_eq!(audits(&w.sim, ticket.id).await.len(), 2, "the create and the tag");
    let resumed = w
        .executor
        .resume_pending(&BTreeSet::new(), |_, _| None)
        .await
        .expect("resume");
    assert!(resumed.is_empty(), "nothing left to finish: {resumed:?}");
    assert_eq!(w.store.outbox_list(true).expect("outbox").len(), 1);
}

#[tokio::test]
async fn once_per_ticket_rules_are_recorded() {
    let w = world().await;
    let ticket = new_ticket(&w.sim, "Primeiro contato").await;
    let other = new_ticket(&w.sim, "Outro").await;
    let plan = plan_of(
        ticket.id,
        vec![
            step("boas-vindas", note("Bem-vindo!"), false),
            step("classificar", Effect::AddTags(tags(&["novo"])), false),
        ],
    );
    let mut job = job(&ticket, plan);
    job.once_rules = ["boas-vindas".to_owned()].into_iter().collect();
    assert!(!w.store.fired_once("boas-vindas", ticket.id).expect("read"));
    let cache = FiredOnce::load(&w.store).expect("load");
    let report = done(w.executor.apply(job, no_replan).await.expect("applied"));
    assert_eq!(report.once, vec!["boas-vindas".to_owned()]);
    assert!(!cache.fired("boas-vindas", ticket.id), "not told yet");
    cache.note(&report);
    assert!(cache.fired("boas-vindas", ticket.id));
    assert!(!cache.fired("classificar", ticket.id));
    assert!(
        FiredOnce::load(&w.store)
            .expect("load")
            .fired("boas-vindas", ticket.id),
        "a restart loads it"
    );
    assert!(w.store.fired_once("boas-vindas", ticket.id).expect("read"));
    assert!(
        !w.store.fired_once("classificar", ticket.id).expect("read"),
        "not a once rule"
    );
    assert!(
        !w.store.fired_once("boas-vindas", other.id).expect("read"),
        "another ticket"
    );
    assert_eq!(
        w.store.fired_once_all().expect("list"),
        vec![("boas-vindas".to_owned(), ticket.id)]
    );
}

#[tokio::test]
async fn an_update_whose_answer_was_lost_adds_its_note_once() {
    let w = world().await;
    let ticket = new_ticket(&w.sim, "Nota única").await;
    let plan = plan_of(
        ticket.id,
        vec![
            step("nota", note("Cliente avisado por telefone."), false),
            step("nota", Effect::SetStatus(Status::Pending), false),
        ],
    );
    // The update lands, its answer is lost; the client's retry gets a 409
    // (its own first try moved the ticket on).
    w.sim
        .faults(json!([
            { "kind": "timeout", "after_commit": true, "count": 1, "match": "PUT /api/v2/tickets/{id}" },
        ]))
        .await;
    let report = done(
        w.executor
            .apply(job(&ticket, plan), |_| {
                panic!("the write landed; nothing to re-plan")
            })
            .await
            .expect("applied"),
    );
    assert_eq!(report.updates, 1);
    assert_eq!(report.replans, 0);
    assert_eq!(report.ticket.status, Status::Pending);
    let state = w.sim.state().await;
    assert_eq!(
        state["requests"]["PUT /api/v2/tickets/{id}"],
        json!(2),
        "the write, then the client's retry that met the 409"
    );
    assert_eq!(
        state["comments"][ticket.id.to_string()].as_array().map(Vec::len),
        Some(2),
        "the first mail and one note"
    );
    assert_eq!(audits(&w.sim, ticket.id).await.len(), 2);
}

#[tokio::test]
async fn an_update_in_flight_at_a_crash_is_settled_not_sent_again() {
    let w = world().await;
    let ticket = new_ticket(&w.sim, "Queda de energia").await;
    let plan = plan_of(
        ticket.id,
        vec![
            step("aviso", note("Técnico a caminho."), false),
            step("aviso", Effect::AddTags(tags(&["visita"])), false),
        ],
    );
    // The update lands, its answer is lost, and every retry meets a 503:
    // the executor stops not knowing, as a crash would leave it.
    w.sim
        .faults(json!([
            { "kind": "timeout", "after_commit": true, "count": 1, "match": "PUT /api/v2/tickets/{id}" },
            { "kind": "status", "status": 503, "count": 100, "match": "PUT /api/v2/tickets/{id}" },
        ]))
        .await;
    let first = w.executor.apply(job(&ticket, plan), no_replan).await;
    assert!(matches!(first, Err(ExecError::Retry { .. })), "{first:?}");
    clear_faults(&w.sim).await;
    assert_eq!(audits(&w.sim, ticket.id).await.len(), 2, "the write landed");

    let resumed = w
        .executor
        .resume_pending(&BTreeSet::new(), |_, _| {
            panic!("the write landed; nothing to re-plan")
        })
        .await
        .expect("resumed");
    let [(_, Ok(Applied::Done(report)))] = resumed.as_slice() else {
        panic!("expected one entry applied, got {resumed:?}");
    };
    assert_eq!(report.updates, 1);
    assert_eq!(report.ticket.tags, tags(&["visita"]));
    assert_eq!(audits(&w.sim, ticket.id).await.len(), 2, "not written again");
    let state = w.sim.state().await;
    assert_eq!(
        state["comments"][ticket.id.to_string()].as_array().map(Vec::len),
        Some(2),
        "the first mail and one note"
    );
}

#[tokio::test]
async fn a_write_zendesk_refuses_fails_the_entry_for_good() {
    let w = world().await;
    let ticket = new_ticket(&w.sim, "Status inválido").await;
    let opened = w
        .sim
        .client
        .update_ticket(
            ticket.id,
            &TicketUpdate {
                status: Some(Status::Open),
                ..TicketUpdate::default()
            },
            ticket.updated_at,
        )
        .await
        .expect("an agent opens it");
    let plan = plan_of(
        opened.id,
        vec![step("voltar", Effect::SetStatus(Status::New), false)],
    );
    let first = w.executor.apply(job(&opened, plan.clone()), no_replan).await;
    let Err(ExecError::Failed { reason, .. }) = first else {
        panic!("expected the entry failed, got {first:?}");
    };
    assert!(reason.contains("Status: new is not valid"), "{reason}");
    let again = w
        .executor
        .apply(job(&opened, plan), no_replan)
        .await
        .expect("applied");
    let Applied::AlreadyFailed { error, .. } = again else {
        panic!("expected it left failed, got {again:?}");
    };
    assert_eq!(error, reason);
    // The agents read why in a note, written once: the entry is not retried.
    let audits = audits(&w.sim, ticket.id).await;
    assert_eq!(audits.len(), 3, "the create, the agent's edit and the note");
    let note = audits[2]
        .events
        .iter()
        .find(|e| e.event_type == "Comment")
        .expect("a note");
    assert_eq!(note.public, Some(false));
    let body = note.body.as_deref().unwrap_or_default();
    assert!(
        body.starts_with(
            "O carteiro não conseguiu aplicar a regra voltar neste chamado: o Zendesk recusou a alteração"
        ),
        "{body}"
    );
    assert!(body.contains("Status: new is not valid"), "{body}");
}

/// An executor over `w`'s simulator and store with `solve_assignee`.
fn executor_with(w: &World, solve_assignee: Option<&str>) -> Executor<ZendeskClient> {
    Executor::new(
        w.sim.client.clone(),
        w.store.clone(),
        ExecOptions {
            solve_assignee: solve_assignee.map(str::to_owned),
            ..options()
        },
        Arc::new(SystemClock),
    )
}

#[tokio::test]
async fn a_ticket_solved_or_closed_unassigned_is_assigned_in_the_same_update() {
    // The strict account (support::Sim): no auto-assign on solve.
    let w = world().await;
    let me = w.sim.client.me().await.expect("carteiro's user").id;

    // solve: carteiro's own user, in the one update that solves.
    let ticket = new_ticket(&w.sim, "Resolver").await;
    let plan = plan_of(ticket.id, vec![step("resolver", Effect::Solve, false)]);
    done(
        w.executor
            .apply(job(&ticket, plan), no_replan)
            .await
            .expect("applied"),
    );
    let solved = w.sim.client.show_ticket(ticket.id).await.expect("show");
    assert_eq!((solved.status, solved.assignee_id), (Status::Solved, Some(me)));
    let audits = audits(&w.sim, ticket.id).await;
    assert_eq!(audits.len(), 2, "the create and one update");
    assert!(
        changes(&audits[1]).contains(&("assignee_id".to_owned(), json!(me.to_string()))),
        "{:?}",
        changes(&audits[1])
    );

    // set_status closed, with a configured agent: that agent.
    let ana = w
        .sim
        .client
        .upsert_user(&carteiro::helpdesk::UserUpsert {
            email: "ana@empresa.example".to_owned(),
            name: "Ana".to_owned(),
            role: Some(carteiro::helpdesk::Role::Agent),
            ..Default::default()
        })
        .await
        .expect("an agent")
        .id;
    let executor = executor_with(&w, Some("ANA@empresa.example"));
    let ticket = new_ticket(&w.sim, "Fechar").await;
    let plan = plan_of(
        ticket.id,
        vec![step("fechar", Effect::SetStatus(Status::Closed), false)],
    );
    done(
        executor
            .apply(job(&ticket, plan), no_replan)
            .await
            .expect("applied"),
    );
    let closed = w.sim.client.show_ticket(ticket.id).await.expect("show");
    assert_eq!((closed.status, closed.assignee_id), (Status::Closed, Some(ana)));

    // A ticket with an assignee keeps it.
    let ticket = new_ticket(&w.sim, "Já atribuído").await;
    let assigned = w
        .sim
        .client
        .update_ticket(
            ticket.id,
            &TicketUpdate {
                assignee_id: Some(ana),
                ..TicketUpdate::default()
            },
            ticket.updated_at,
        )
        .await
        .expect("assigned");
    let plan = plan_of(assigned.id, vec![step("resolver", Effect::Solve, false)]);
    done(
        w.executor
            .apply(job(&assigned, plan), no_replan)
            .await
            .expect("applied"),
    );
    let solved = w.sim.client.show_ticket(ticket.id).await.expect("show");
    assert_eq!((solved.status, solved.assignee_id), (Status::Solved, Some(ana)));
}

#[tokio::test]
async fn a_solve_assignee_who_is_no_agent_fails_the_entry_and_says_what_to_change() {
    let w = world().await;
    let executor = executor_with(&w, Some("ninguem@empresa.example"));
    let ticket = new_ticket(&w.sim, "Resolver").await;
    let plan = plan_of(ticket.id, vec![step("resolver", Effect::Solve, false)]);
    let result = executor.apply(job(&ticket, plan), no_replan).await;
    let Err(ExecError::Failed { reason, .. }) = result else {
        panic!("expected the entry failed, got {result:?}");
    };
    assert_eq!(
        reason,
        "tickets.solve_assignee \"ninguem@empresa.example\" is no agent of the helpdesk, and Zendesk \
         solves and closes only assigned tickets: set it to an agent's e-mail, or leave it out for \
         carteiro's own user"
    );
    let unchanged = w.sim.client.show_ticket(ticket.id).await.expect("show");
    assert_eq!(unchanged.status, Status::New);
}

#[tokio::test]
async fn a_plan_for_a_ticket_closed_meanwhile_fails_without_a_retry_or_a_note() {
    let w = world().await;
    let ticket = new_ticket(&w.sim, "Fechado no meio do caminho").await;
    let me = w.sim.client.me().await.expect("me").id;
    let closed = w
        .sim
        .client
        .update_ticket(
            ticket.id,
            &TicketUpdate {
                status: Some(Status::Closed),
                assignee_id: Some(me),
                ..TicketUpdate::default()
            },
            ticket.updated_at,
        )
        .await
        .expect("an agent closes it");
    let plan = plan_of(
        closed.id,
        vec![step("anotar", note("Acompanhar o cliente."), false)],
    );
    let result = w.executor.apply(job(&closed, plan), no_replan).await;
    let Err(ExecError::Failed { reason, .. }) = result else {
        panic!("expected the entry failed, got {result:?}");
    };
    assert!(
        reason.contains("Status: closed prevents ticket update"),
        "{reason}"
    );
    assert_eq!(
        audits(&w.sim, ticket.id).await.len(),
        2,
        "the create and the close: a closed ticket takes no note"
    );
    assert_eq!(
        w.sim.state().await["requests"]["PUT /api/v2/tickets/{id}"],
        json!(2),
        "the close and the one refused write: no retry"
    );
}
