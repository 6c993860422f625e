//! The ticket poller against the simulator, without mail servers: the
//! baseline of a new install, the events agents' changes make, the clocks
//! kept in the snapshots, the executor's own writes, and a restart.
//! Nothing sleeps: each test calls `poll_once` where the daemon's loop
//! would tick.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::support::{self, AGENT, Sim, client_as, plain_http};
use carteiro::config::TicketsConfig;
use carteiro::helpdesk::clocks::ticket_clocks;
use carteiro::helpdesk::sim::SimOptions;
use carteiro::helpdesk::zendesk::ZendeskClient;
use carteiro::helpdesk::{
    Audit, HelpDesk, NewComment, NewTicket, RequesterSpec, Role, Status, Ticket, TicketUpdate,
};
use carteiro::store::Store;
use carteiro::tickets::poller::{EXPORT_CURSOR, PollSummary, TicketPoller};
use carteiro::tickets::{Delta, Snapshot, TicketChange, TicketEvent, TicketEventKind};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

const ANA: &str = "ana@empresa.example";
const MARIA: &str = "maria@cliente.example";

/// A simulator, a store file, the poller, and a human agent (Ana).
struct World {
    sim: Sim,
    ana: ZendeskClient,
    path: PathBuf,
    store: Arc<Store>,
    poller: TicketPoller<ZendeskClient>,
}

impl World {
    async fn start(name: &str) -> World {
        let sim = Sim::start(SimOptions::default()).await;
        let ana = client_as(sim.handle.base_url.clone(), ANA, 10, |b| b);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("tickets-tests")
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("carteiro.db");
        let store = Arc::new(Store::open(&path).expect("store"));
        let poller = poller(&sim, store.clone());
        World {
            sim,
            ana,
            path,
            store,
            poller,
        }
    }

    /// The daemon stops and starts again over the same store file.
    fn restart(&mut self) {
        self.store = Arc::new(Store::open(&self.path).expect("reopen"));
        self.poller = poller(&self.sim, self.store.clone());
    }

    async fn poll(&self) -> PollSummary {
        self.poller.poll_once().await.expect("poll")
    }

    /// Moves the simulator's clock, so each step has its own instant.
    async fn later(&self, secs: u64) {
        self.sim.advance_clock(secs).await;
    }

    /// Maria's mail became a ticket (carteiro's ingest creates it).
    async fn maria_writes(&self, subject: &str) -> Ticket {
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
                ..NewTicket::default()
            })
            .await
            .expect("create")
    }

    /// Ana changes the ticket in Zendesk's UI (taking it when she solves
    /// it unassigned).
    async fn ana_updates(&self, id: u64, update: TicketUpdate) -> Ticket {
        let ticket = self.ana.show_ticket(id).await.expect("show");
        let update = support::taking_if_solving(&self.ana, &ticket, update).await;
        self.ana
            .update_ticket(id, &update, ticket.updated_at)
            .await
            .expect("update")
    }

    async fn ana_sets(&self, id: u64, status: Status) -> Ticket {
        self.ana_updates(
            id,
            TicketUpdate {
                status: Some(status),
                ..TicketUpdate::default()
            },
        )
        .await
    }

    fn snapshot(&self, id: u64) -> Snapshot {
        self.store.snapshot(id).expect("read").expect("a snapshot")
    }

    fn events(&self) -> Vec<TicketEvent> {
        self.store
            .pending_ticket_events(100)
            .expect("events")
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }

    /// The latest audit of ticket `id`, as Zendesk recorded it.
    async fn last_audit(&self, id: u64) -> Audit {
        let audits = self.sim.client.list_audits(id).await.expect("audits");
        audits.into_iter().max_by_key(|a| a.id).expect("an audit")
    }

    /// Ticket requests since `before`, by route.
    async fn calls_since(&self, before: &Value) -> Value {
        let after = self.sim.state().await;
        let mut out = serde_json::Map::new();
        for (route, count) in after["requests"].as_object().into_iter().flatten() {
            let was = before["requests"][route].as_u64().unwrap_or(0);
            let now = count.as_u64().unwrap_or(0);
            if now > was {
                out.insert(route.clone(), json!(now - was));
            }
        }
        Value::Object(out)
    }
}

/// The daemon's poller: its client and its clock are the simulator's
/// clock, which the tests move forward.
fn poller(sim: &Sim, store: Arc<Store>) -> TicketPoller<ZendeskClient> {
    let clock = sim.handle.sim.clock();
    let client = client_as(sim.handle.base_url.clone(), AGENT, 10, |b| b.clock(clock.clone()));
    TicketPoller::new(
        client,
        store,
        clock,
        TicketsConfig {
            poll_interval: Duration::from_secs(30),
            initial_lookback: Duration::from_secs(3600),
            solve_assignee: None,
        },
    )
}

fn summary(baseline: bool, exported: usize, saved: usize, created: usize, updated: usize) -> PollSummary {
    PollSummary {
        baseline,
        exported,
        saved,
        created,
        updated,
        ..PollSummary::default()
    }
}

#[tokio::test]
async fn the_first_poll_is_a_baseline_with_clocks_and_no_events() {
    let world = World::start("baseline").await;
    let first = world.maria_writes("Boleto").await;
    let second = world.maria_writes("Nota fiscal").await;
    world.later(60).await;
    let solved = world.ana_sets(second.id, Status::Solved).await;

    assert_eq!(world.poll().await, summary(true, 2, 2, 0, 0));
    assert_eq!(world.events(), []);
    assert_eq!(world.store.snapshot_count().expect("count"), 2);
    assert!(world.store.cursor(EXPORT_CURSOR).expect("cursor").is_some());

    let snapshot = world.snapshot(first.id);
    assert_eq!(snapshot.ticket.status, Status::Open);
    assert_eq!(snapshot.clocks.status_changed_at, Some(first.created_at));
    assert_eq!(snapshot.clocks.last_requester_comment_at, Some(first.created_at));
    assert_eq!(snapshot.clocks.last_agent_public_comment_at, None);
    assert_eq!(snapshot.last_audit_id, Some(world.last_audit(first.id).await.id));
    let snapshot = world.snapshot(second.id);
    assert_eq!(snapshot.clocks.solved_at, Some(solved.updated_at));
    assert_eq!(snapshot.clocks.status_changed_at, Some(solved.updated_at));
    // The authors' roles are remembered.
    let maria = first.requester_id.expect("requester");
    assert_eq!(
        world.store.person_roles(&[maria]).expect("roles")[&maria],
        Role::EndUser
    );

    // Nothing changed since: the next poll reads the export and nothing else.
    let before = world.sim.state().await;
    assert_eq!(world.poll().await, summary(false, 0, 0, 0, 0));
    assert_eq!(
        world.calls_since(&before).await,
        json!({ "GET /api/v2/incremental/tickets/cursor": 1 })
    );
}

#[tokio::test]
async fn an_agents_status_change_is_an_update_with_the_delta_and_the_clock_from_the_audit() {
    let world = World::start("status-change").await;
    let ticket = world.maria_writes("Boleto").await;
    world.poll().await;
    world.later(3600).await;
    let pending = world.ana_sets(ticket.id, Status::Pending).await;

    let before = world.sim.state().await;
    assert_eq!(world.poll().await, summary(false, 1, 1, 0, 1));
    assert_eq!(
        world.calls_since(&before).await,
        json!({
            "GET /api/v2/incremental/tickets/cursor": 1,
            "GET /api/v2/tickets/{id}/audits": 1,
            // The first poll with a change reads carteiro's own user, once.
            "GET /api/v2/users/me": 1,
        }),
        "a changed ticket costs its audits; a status change has no comment author to look up"
    );
    assert_eq!(
        world.events(),
        [TicketEvent {
            kind: TicketEventKind::Updated,
            ticket_id: ticket.id,
            version: pending.updated_at,
            change: TicketChange {
                status: Some(Delta {
                    from: Status::Open,
                    to: Status::Pending,
                }),
                // The status's default custom status comes with it.
                custom_status: Some(Delta {
                    from: ticket.custom_status_id,
                    to: pending.custom_status_id,
                }),
                ..TicketChange::default()
            },
        }]
    );
    assert_ne!(ticket.custom_status_id, pending.custom_status_id);
    let audit = world.last_audit(ticket.id).await;
    let snapshot = world.snapshot(ticket.id);
    assert_eq!(
        snapshot.ticket,
        pending_without_export_fields(&snapshot.ticket, &pending)
    );
    assert_eq!(snapshot.clocks.status_changed_at, Some(audit.created_at));
    assert_eq!(snapshot.clocks.status_changed_at, Some(pending.updated_at));
    assert_eq!(snapshot.clocks.last_requester_comment_at, Some(ticket.created_at));
    assert_eq!(snapshot.last_audit_id, Some(audit.id));
}

/// The exported ticket carries `generated_timestamp`, the answer to an
/// update does not; otherwise they are the same.
fn pending_without_export_fields(exported: &Ticket, answered: &Ticket) -> Ticket {
    Ticket {
        generated_timestamp: exported.generated_timestamp,
        ..answered.clone()
    }
}

#[tokio::test]
async fn an_agents_public_comment_comes_with_its_role_and_moves_the_agent_clock() {
    let world = World::start("agent-comment").await;
    let ticket = world.maria_writes("Boleto").await;
    world.poll().await;
    world.later(600).await;
    let answered = world
        .ana_updates(
            ticket.id,
            TicketUpdate {
                comment: Some(NewComment::public("Reenviamos o boleto.")),
                ..TicketUpdate::default()
            },
        )
        .await;

    let before = world.sim.state().await;
    assert_eq!(world.poll().await, summary(false, 1, 1, 0, 1));
    assert_eq!(
        world.calls_since(&before).await,
        json!({
            "GET /api/v2/incremental/tickets/cursor": 1,
            "GET /api/v2/tickets/{id}/audits": 1,
            // The first poll with a change reads carteiro's own user, once.
            "GET /api/v2/users/me": 1,
            "GET /api/v2/users/show_many": 1,
        }),
        "Ana is a new author: one lookup"
    );
    let audit = world.last_audit(ticket.id).await;
    let comment_event = audit
        .events
        .iter()
        .find(|e| e.event_type == "Comment")
        .expect("a comment event");
    let ana = comment_event.author_id.expect("author");
    let events = world.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, TicketEventKind::Updated);
    assert_eq!(events[0].version, answered.updated_at);
    let comments = &events[0].change.comments;
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0].id, comment_event.id);
    assert_eq!(comments[0].author_id, Some(ana));
    assert_eq!(comments[0].author_role, Some(Role::Agent));
    assert!(comments[0].public);
    assert_eq!(comments[0].body, "Reenviamos o boleto.");
    assert_eq!(comments[0].created_at, audit.created_at);
    assert_eq!(
        events[0].change,
        TicketChange {
            comments: comments.clone(),
            ..TicketChange::default()
        },
        "nothing else changed"
    );
    let snapshot = world.snapshot(ticket.id);
    assert_eq!(
        snapshot.clocks.last_agent_public_comment_at,
        Some(audit.created_at)
    );
    assert_eq!(snapshot.clocks.last_requester_comment_at, Some(ticket.created_at));
    assert_eq!(snapshot.last_audit_id, Some(audit.id));

    // Ana's role is remembered: her next comment costs no lookup, and
    // only the new comment is in the change.
    world.later(600).await;
    world
        .ana_updates(
            ticket.id,
            TicketUpdate {
                comment: Some(NewComment::internal("Cliente avisada.")),
                ..TicketUpdate::default()
            },
        )
        .await;
    let before = world.sim.state().await;
    world.poll().await;
    assert_eq!(
        world.calls_since(&before).await,
        json!({
            "GET /api/v2/incremental/tickets/cursor": 1,
            "GET /api/v2/tickets/{id}/audits": 1,
        })
    );
    let events = world.events();
    let note = &events[1].change.comments;
    assert_eq!(note.len(), 1, "{note:?}");
    assert_eq!(
        (note[0].body.as_str(), note[0].public, note[0].author_role),
        ("Cliente avisada.", false, Some(Role::Agent))
    );
    // A private note does not move the public-comment clock.
    assert_eq!(
        world.snapshot(ticket.id).clocks.last_agent_public_comment_at,
        Some(audit.created_at)
    );
}

#[tokio::test]
async fn pending_open_pending_counts_the_status_clock_from_the_second_pending() {
    let world = World::start("pending-twice").await;
    let ticket = world.maria_writes("Impressora").await;
    world.later(60).await;
    let first_pending = world.ana_sets(ticket.id, Status::Pending).await;
    world.poll().await;
    assert_eq!(
        world.snapshot(ticket.id).clocks.status_changed_at,
        Some(first_pending.updated_at)
    );

    world.later(86_400).await;
    world.ana_sets(ticket.id, Status::Open).await;
    world.later(86_400).await;
    let second_pending = world.ana_sets(ticket.id, Status::Pending).await;
    assert_eq!(world.poll().await, summary(false, 1, 1, 0, 0));

    let snapshot = world.snapshot(ticket.id);
    assert_eq!(snapshot.ticket.status, Status::Pending);
    assert_eq!(snapshot.clocks.status_changed_at, Some(second_pending.updated_at));
    assert_eq!(
        snapshot.clocks.custom_status_changed_at,
        Some(second_pending.updated_at)
    );
    assert!(second_pending.updated_at > first_pending.updated_at + chrono::TimeDelta::days(1));
    // Between the two polls the status went and came back: the snapshots
    // differ in their clocks only, so there is no event.
    assert_eq!(world.events(), []);
}

#[tokio::test]
async fn a_ticket_created_after_the_baseline_is_created_with_its_first_comment() {
    let world = World::start("created").await;
    world.poll().await;
    world.later(60).await;
    let ticket = world.maria_writes("Acesso").await;

    assert_eq!(world.poll().await, summary(false, 1, 1, 1, 0));
    let events = world.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, TicketEventKind::Created);
    assert_eq!(events[0].ticket_id, ticket.id);
    assert_eq!(events[0].version, ticket.updated_at);
    let comments = &events[0].change.comments;
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0].author_id, ticket.requester_id);
    assert_eq!(comments[0].author_role, Some(Role::EndUser));
    assert!(comments[0].public);
    assert_eq!(comments[0].body, "Acesso: não funciona.");
    assert_eq!(comments[0].created_at, ticket.created_at);
    let snapshot = world.snapshot(ticket.id);
    assert_eq!(snapshot.clocks.last_requester_comment_at, Some(ticket.created_at));
    assert_eq!(snapshot.clocks.status_changed_at, Some(ticket.created_at));
}

#[tokio::test]
async fn the_executors_own_write_saved_in_the_snapshot_makes_no_event() {
    let world = World::start("own-write").await;
    let ticket = world.maria_writes("Boleto").await;
    let other = world.maria_writes("Senha").await;
    world.poll().await;
    world.later(60).await;

    // The executor answers, tags and sets the ticket pending, and saves
    // the snapshot from Zendesk's answer, as it will after each write.
    let previous = world.snapshot(ticket.id);
    let written = world
        .sim
        .client
        .update_ticket(
            ticket.id,
            &TicketUpdate {
                additional_tags: Some(vec!["boleto".into()]),
                status: Some(Status::Pending),
                comment: Some(NewComment::public("Segue o boleto.")),
                ..TicketUpdate::default()
            },
            previous.ticket.updated_at,
        )
        .await
        .expect("the executor's update");
    let own = previous.after_own_write(written.clone(), true);
    world.store.save_snapshot(&own).expect("save");
    // Its clocks are already those of the whole history, without a read.
    let audits = world.sim.client.list_audits(ticket.id).await.expect("audits");
    let bot = world.sim.client.me().await.expect("me");
    let maria = ticket.requester_id.expect("requester");
    let role = |id| match id {
        id if id == bot.id => Some(Role::Agent),
        id if id == maria => Some(Role::EndUser),
        _ => None,
    };
    assert_eq!(own.clocks, ticket_clocks(&written, &audits, &[], role));
    assert_eq!(own.clocks.status_changed_at, Some(written.updated_at));
    assert_eq!(own.clocks.last_agent_public_comment_at, Some(written.updated_at));
    // Meanwhile Ana puts the other ticket on hold.
    world.ana_sets(other.id, Status::Hold).await;

    let before = world.sim.state().await;
    assert_eq!(
        world.poll().await,
        PollSummary {
            unchanged: 1,
            ..summary(false, 2, 1, 0, 1)
        }
    );
    assert_eq!(
        world.calls_since(&before).await,
        json!({
            "GET /api/v2/incremental/tickets/cursor": 1,
            "GET /api/v2/tickets/{id}/audits": 1,
            // The first poll with a change reads carteiro's own user, once.
            "GET /api/v2/users/me": 1,
        }),
        "the executor's ticket costs no audit read"
    );
    let events = world.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].ticket_id, other.id);
    assert_eq!(
        events[0].change.status,
        Some(Delta {
            from: Status::Open,
            to: Status::Hold
        })
    );
    assert_eq!(world.snapshot(ticket.id).ticket.tags, ["boleto"]);

    // Ana then reopens the executor's ticket: her change holds the status
    // only, not the executor's comment, although the saved snapshot did not
    // know the audit of that comment.
    world.later(60).await;
    let reopened = world.ana_sets(ticket.id, Status::Open).await;
    world.poll().await;
    let events = world.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[1].change.status,
        Some(Delta {
            from: Status::Pending,
            to: Status::Open
        })
    );
    assert_eq!(events[1].change.comments, []);
    let snapshot = world.snapshot(ticket.id);
    assert_eq!(snapshot.clocks.status_changed_at, Some(reopened.updated_at));
    assert_eq!(
        snapshot.clocks.last_agent_public_comment_at,
        Some(written.updated_at)
    );
}

#[tokio::test]
async fn the_bots_own_write_seen_before_its_snapshot_was_saved_makes_no_event() {
    let world = World::start("own-write-race").await;
    let ticket = world.maria_writes("Boleto").await;
    world.poll().await;
    world.later(60).await;

    // The executor writes a public reply and solves, and the poll runs
    // before it saved the snapshot from Zendesk's answer.
    world
        .sim
        .client
        .update_ticket(
            ticket.id,
            &TicketUpdate {
                status: Some(Status::Solved),
                assignee_id: Some(world.sim.client.me().await.expect("me").id),
                comment: Some(NewComment::public("Resolvido, obrigado.")),
                ..TicketUpdate::default()
            },
            world.snapshot(ticket.id).ticket.updated_at,
        )
        .await
        .expect("the executor's update");
    let summary = world.poll().await;
    assert_eq!(
        (summary.updated, summary.own, summary.saved),
        (0, 1, 1),
        "{summary:?}"
    );
    assert_eq!(world.events(), [], "the bot's reply is not an agent's reply");
    assert_eq!(world.snapshot(ticket.id).ticket.status, Status::Solved);

    // An agent and the bot both write before the next poll: the event
    // carries the agent's comment and not the bot's.
    world.later(60).await;
    world
        .ana_updates(
            ticket.id,
            TicketUpdate {
                status: Some(Status::Open),
                comment: Some(NewComment::public("Reabrindo para conferir.")),
                ..TicketUpdate::default()
            },
        )
        .await;
    world.later(1).await;
    let current = world.sim.client.show_ticket(ticket.id).await.expect("ticket");
    world
        .sim
        .client
        .update_ticket(
            ticket.id,
            &TicketUpdate {
                comment: Some(NewComment::public("Recebemos, obrigado.")),
                ..TicketUpdate::default()
            },
            current.updated_at,
        )
        .await
        .expect("the bot's comment");
    let summary = world.poll().await;
    assert_eq!((summary.updated, summary.own), (1, 0), "{summary:?}");
    let events = world.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let bodies: Vec<&str> = events[0]
        .change
        .comments
        .iter()
        .map(|c| c.body.as_str())
        .collect();
    assert_eq!(bodies, ["Reabrindo para conferir."]);
}

#[tokio::test]
async fn a_restart_resumes_from_the_saved_cursor_and_repeats_no_event() {
    let mut world = World::start("restart").await;
    let ticket = world.maria_writes("Boleto").await;
    world.poll().await;
    world.later(60).await;
    world.ana_sets(ticket.id, Status::Pending).await;
    assert_eq!(world.poll().await.updated, 1);
    let cursor = world.store.cursor(EXPORT_CURSOR).expect("cursor");

    world.restart();
    assert_eq!(world.store.cursor(EXPORT_CURSOR).expect("cursor"), cursor);
    assert_eq!(world.poll().await, summary(false, 0, 0, 0, 0));
    assert_eq!(world.events().len(), 1, "the event is not queued twice");

    world.later(60).await;
    world.ana_sets(ticket.id, Status::Open).await;
    world.restart();
    assert_eq!(world.poll().await, summary(false, 1, 1, 0, 1));
    let statuses: Vec<Option<Delta<Status>>> = world.events().into_iter().map(|e| e.change.status).collect();
    assert_eq!(
        statuses,
        [
            Some(Delta {
                from: Status::Open,
                to: Status::Pending
            }),
            Some(Delta {
                from: Status::Pending,
                to: Status::Open
            }),
        ]
    );

    // The rule engine takes the events one by one; done ones stay done
    // across a restart.
    let (first, _) = world.store.pending_ticket_events(1).expect("pending")[0].clone();
    world.store.finish_ticket_event(first).expect("finish");
    world.restart();
    assert_eq!(world.store.pending_ticket_events(10).expect("pending").len(), 1);
}

#[tokio::test]
async fn a_deleted_ticket_marks_its_snapshot_without_an_event_and_leaves_the_sweep() {
    let world = World::start("deleted").await;
    let kept = world.maria_writes("Boleto").await;
    let gone = world.maria_writes("Spam").await;
    world.poll().await;
    let swept = |store: &Store| -> Vec<u64> {
        store
            .sweep_snapshots(None, 10)
            .expect("sweep")
            .iter()
            .map(|s| s.ticket.id)
            .collect()
    };
    assert_eq!(swept(&world.store), [kept.id, gone.id]);

    world.later(60).await;
    let url = world
        .sim
        .handle
        .base_url
        .join(&format!("/api/v2/tickets/{}", gone.id))
        .expect("url");
    let response = plain_http()
        .delete(url)
        .basic_auth(format!("{AGENT}/token"), Some("test-token"))
        .send()
        .await
        .expect("delete");
    assert!(response.status().is_success(), "{}", response.status());

    let before = world.sim.state().await;
    assert_eq!(
        world.poll().await,
        PollSummary {
            deleted: 1,
            ..summary(false, 1, 1, 0, 0)
        }
    );
    assert_eq!(
        world.calls_since(&before).await,
        json!({ "GET /api/v2/incremental/tickets/cursor": 1 })
    );
    assert_eq!(world.events(), []);
    assert_eq!(world.snapshot(gone.id).ticket.status, Status::Deleted);
    assert_eq!(swept(&world.store), [kept.id]);
}

#[tokio::test]
async fn the_clocks_in_the_snapshot_are_those_of_the_whole_history() {
    // The poller computes clocks with `ticket_clocks` over all the audits;
    // the snapshot after many polls equals one computation over the end
    // state.
    let world = World::start("clocks").await;
    let ticket = world.maria_writes("Boleto").await;
    world.poll().await;
    for (secs, status) in [(600, Status::Pending), (600, Status::Open), (600, Status::Solved)] {
        world.later(secs).await;
        world.ana_sets(ticket.id, status).await;
        world.poll().await;
    }
    let audits = world.sim.client.list_audits(ticket.id).await.expect("audits");
    let current = world.sim.client.show_ticket(ticket.id).await.expect("show");
    let roles = world
        .store
        .person_roles(&[ticket.requester_id.expect("requester")])
        .expect("roles");
    let expected = ticket_clocks(&current, &audits, &[], |id| roles.get(&id).copied());
    let snapshot = world.snapshot(ticket.id);
    assert_eq!(snapshot.clocks, expected);
    let solved_at: DateTime<Utc> = current.updated_at;
    assert_eq!(snapshot.clocks.solved_at, Some(solved_at));
    assert_eq!(world.events().len(), 3);
}

#[tokio::test]
async fn an_old_ticket_first_seen_after_the_baseline_gets_a_snapshot_but_no_created_event() {
    let world = World::start("old-ticket").await;
    let old = world.maria_writes("Antigo").await;
    world.later(2 * 3600).await;
    // The lookback is an hour: the quiet old ticket is not in the baseline.
    assert_eq!(world.poll().await, summary(true, 0, 0, 0, 0));
    world.later(60).await;
    let pending = world.ana_sets(old.id, Status::Pending).await;

    assert_eq!(world.poll().await, summary(false, 1, 1, 0, 0));
    assert_eq!(
        world.events(),
        [],
        "it was not created now, and there is nothing to diff against"
    );
    let snapshot = world.snapshot(old.id);
    assert_eq!(snapshot.clocks.status_changed_at, Some(pending.updated_at));
    assert_eq!(snapshot.clocks.last_requester_comment_at, Some(old.created_at));

    // From now on it is followed like any other.
    world.later(60).await;
    world.ana_sets(old.id, Status::Open).await;
    assert_eq!(world.poll().await, summary(false, 1, 1, 0, 1));
}
