//! Ingest against the simulator, without mail servers: which Zendesk calls
//! each kind of mail costs, and what happens when the ticket a reply
//! threads to was deleted, or when the answer to a comment was lost.
//! The whole path through IMAP is in `tests/inbound.rs`.

use std::sync::Arc;

use crate::support::{self, AGENT, Sim, plain_http};
use carteiro::clock::SystemClock;
use carteiro::helpdesk::sim::SimOptions;
use carteiro::helpdesk::zendesk::ZendeskClient;
use carteiro::helpdesk::{HelpDesk, Status, TicketUpdate};
use carteiro::mail::ingest::{Decision, Ingest, IngestOptions, Origin};
use carteiro::store::Store;
use serde_json::{Value, json};

fn origin(uid: u32) -> Origin<'static> {
    Origin {
        mailbox: "suporte",
        uidvalidity: 1,
        uid,
    }
}

fn mail(message_id: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Maria <maria@cliente.example>\r\nTo: suporte@empresa.example\r\nSubject: Boleto\r\n\
         Message-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 -0300\r\n{headers}\r\n{body}\r\n"
    )
    .into_bytes()
}

fn ingest(sim: &Sim) -> Ingest<ZendeskClient> {
    let store = Arc::new(Store::open_in_memory().expect("store"));
    Ingest::new(
        sim.client.clone(),
        store,
        IngestOptions::default(),
        Arc::new(SystemClock),
    )
}

/// Requests per route since `before`, leaving out routes with none.
fn calls_since(before: &Value, after: &Value) -> Value {
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

fn comment_count(state: &Value, ticket_id: u64) -> usize {
    state["comments"][ticket_id.to_string()]
        .as_array()
        .map_or(0, Vec::len)
}

async fn created(ingest: &Ingest<ZendeskClient>, uid: u32, message_id: &str) -> u64 {
    match ingest
        .process(&origin(uid), &mail(message_id, "", "Não recebi o boleto."))
        .await
        .expect("processed")
    {
        Decision::Created { ticket_id } => ticket_id,
        other => panic!("expected a new ticket, got {other:?}"),
    }
}

#[tokio::test]
async fn a_reply_costs_one_update_and_a_reply_to_solved_one_more_to_reopen() {
    let sim = Sim::start(SimOptions::default()).await;
    let ingest = ingest(&sim);
    let before = sim.state().await;
    let ticket_id = created(&ingest, 1, "n1@cliente.example").await;
    let after_create = sim.state().await;
    assert_eq!(
        calls_since(&before, &after_create),
        json!({"POST /api/v2/tickets": 1}),
        "a new mail is one create"
    );

    let decision = ingest
        .process(
            &origin(2),
            &mail(
                "n2@cliente.example",
                "In-Reply-To: <n1@cliente.example>\r\n",
                "Ainda não chegou.",
            ),
        )
        .await
        .expect("processed");
    assert_eq!(
        decision,
        Decision::Commented {
            ticket_id,
            reopened: false
        }
    );
    let after_reply = sim.state().await;
    assert_eq!(
        calls_since(&after_create, &after_reply),
        json!({"POST /api/v2/uploads": 1, "PUT /api/v2/tickets/{id}": 1}),
        "a reply is the .eml upload and one update: no read of the ticket or the sender"
    );

    let ticket = sim.client.show_ticket(ticket_id).await.expect("ticket");
    let solve = TicketUpdate {
        status: Some(Status::Solved),
        ..TicketUpdate::default()
    };
    let solve = support::taking_if_solving(&sim.client, &ticket, solve).await;
    sim.client
        .update_ticket(ticket_id, &solve, ticket.updated_at)
        .await
        .expect("an agent solves it");
    let after_solve = sim.state().await;
    let decision = ingest
        .process(
            &origin(3),
            &mail(
                "n3@cliente.example",
                "In-Reply-To: <n2@cliente.example>\r\n",
                "Continua sem chegar.",
            ),
        )
        .await
        .expect("processed");
    assert_eq!(
        decision,
        Decision::Commented {
            ticket_id,
            reopened: true
        }
    );
    let after_reopen = sim.state().await;
    assert_eq!(
        calls_since(&after_solve, &after_reopen),
        json!({"POST /api/v2/uploads": 1, "PUT /api/v2/tickets/{id}": 2}),
        "the comment, then the reopen"
    );
    let ticket = sim.client.show_ticket(ticket_id).await.expect("ticket");
    assert_eq!(ticket.status, Status::Open);
    assert_eq!(comment_count(&after_reopen, ticket_id), 3);
}

#[tokio::test]
async fn a_reply_to_a_deleted_ticket_opens_a_new_one() {
    let sim = Sim::start(SimOptions::default()).await;
    let ingest = ingest(&sim);
    let ticket_id = created(&ingest, 1, "d1@cliente.example").await;
    let url = sim
        .handle
        .base_url
        .join(&format!("/api/v2/tickets/{ticket_id}"))
        .expect("url");
    let response = plain_http()
        .delete(url)
        .basic_auth(format!("{AGENT}/token"), Some("test-token"))
        .send()
        .await
        .expect("delete");
    assert!(response.status().is_success(), "{}", response.status());

    let decision = ingest
        .process(
            &origin(2),
            &mail(
                "d2@cliente.example",
                "In-Reply-To: <d1@cliente.example>\r\n",
                "Alguém aí?",
            ),
        )
        .await
        .expect("processed");
    let Decision::Created { ticket_id: new_id } = decision else {
        panic!("expected a new ticket, got {decision:?}");
    };
    assert_ne!(new_id, ticket_id);
    let state = sim.state().await;
    assert_eq!(state["comments"][new_id.to_string()][0]["body"], "Alguém aí?");
}

#[tokio::test]
async fn a_comment_whose_answer_was_lost_is_not_added_twice() {
    let sim = Sim::start(SimOptions::default()).await;
    let ingest = ingest(&sim);
    let ticket_id = created(&ingest, 1, "t1@cliente.example").await;
    sim.faults(json!([{
        "kind": "timeout", "after_commit": true, "count": 1, "match": "PUT /api/v2/tickets/{id}"
    }]))
    .await;
    let reply = mail(
        "t2@cliente.example",
        "In-Reply-To: <t1@cliente.example>\r\n",
        "Segue o comprovante.",
    );
    let first = ingest.process(&origin(2), &reply).await;
    assert!(
        first.is_err(),
        "the outcome is unknown, so the mail stays unprocessed: {first:?}"
    );
    assert_eq!(
        comment_count(&sim.state().await, ticket_id),
        2,
        "the update landed although its answer was lost"
    );

    let second = ingest.process(&origin(2), &reply).await.expect("processed");
    assert_eq!(
        second,
        Decision::Commented {
            ticket_id,
            reopened: false
        }
    );
    assert_eq!(
        comment_count(&sim.state().await, ticket_id),
        2,
        "the retry found the comment and did not add it again"
    );
}

/// A Maildir under the test's temp folder holding `mails` in `new/`, in order.
fn maildir_with(name: &str, mails: &[Vec<u8>]) -> std::path::PathBuf {
    let root = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "ingest-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).expect("maildir");
    }
    for (n, raw) in mails.iter().enumerate() {
        std::fs::write(
            root.join("new")
                .join(format!("{}.M{n}P1.test", 1_700_000_000 + n)),
            raw,
        )
        .expect("mail");
    }
    root
}

async fn drain(sim: &Sim, root: &std::path::Path) -> Arc<Ingest<ZendeskClient>> {
    use carteiro::config::AfterProcessing;
    use carteiro::mail::maildir::Maildir;
    use carteiro::mail::poll::{PollOptions, drain_once};
    let ingest = Arc::new(ingest(sim));
    let mut mailbox = Maildir::new(
        "local",
        root,
        AfterProcessing::Seen,
        std::time::Duration::from_millis(10),
    );
    drain_once(
        &mut mailbox,
        &ingest,
        &PollOptions::default(),
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("drained");
    ingest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_in_the_same_batch_as_its_first_mail_threads_onto_its_ticket() {
    let sim = Sim::start(SimOptions::default()).await;
    // Unrelated mails around them, so that they are processed concurrently
    // with others.
    let mut mails: Vec<Vec<u8>> = (0..6)
        .map(|n| mail(&format!("other{n}@cliente.example"), "", "Outro assunto."))
        .collect();
    mails.insert(2, mail("first@cliente.example", "", "Segue o pedido."));
    mails.insert(
        3,
        mail(
            "again@cliente.example",
            "In-Reply-To: <first@cliente.example>\r\nReferences: <first@cliente.example>\r\n",
            "Esqueci o anexo.",
        ),
    );
    let root = maildir_with("same-batch", &mails);
    let ingest = drain(&sim, &root).await;

    let state = sim.state().await;
    let tickets = state["tickets"].as_array().expect("tickets");
    assert_eq!(tickets.len(), 7, "six others and one for the first mail");
    let first = ingest
        .store()
        .processed("first@cliente.example")
        .expect("read")
        .and_then(|p| p.ticket_id)
        .expect("the first mail made a ticket");
    let reply = ingest
        .store()
        .processed("again@cliente.example")
        .expect("read")
        .expect("the reply was recorded");
    assert_eq!(
        reply.ticket_id,
        Some(first),
        "the reply is on the first mail's ticket"
    );
    assert_eq!(comment_count(&state, first), 2);
    assert_eq!(
        std::fs::read_dir(root.join("new")).expect("new").count(),
        0,
        "all marked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_mail_twice_in_one_batch_makes_one_ticket() {
    let sim = Sim::start(SimOptions::default()).await;
    let twice = mail("twice@cliente.example", "", "Mandei duas vezes.");
    let root = maildir_with("twice", &[twice.clone(), twice]);
    drain(&sim, &root).await;
    let state = sim.state().await;
    assert_eq!(state["tickets"].as_array().map_or(0, Vec::len), 1);
    assert_eq!(state["requests"]["POST /api/v2/tickets"], 1);
    assert_eq!(
        std::fs::read_dir(root.join("new")).expect("new").count(),
        0,
        "both marked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_comment_answer_was_lost_adds_it_once_after_a_restart() {
    use carteiro::config::AfterProcessing;
    use carteiro::mail::maildir::Maildir;
    use carteiro::mail::poll::{PollOptions, drain_once};
    let sim = Sim::start(SimOptions::default()).await;
    let store = Arc::new(Store::open_in_memory().expect("store"));
    let new_ingest = || {
        Arc::new(Ingest::new(
            sim.client.clone(),
            Arc::clone(&store),
            IngestOptions::default(),
            Arc::new(SystemClock),
        ))
    };
    let first = new_ingest();
    let ticket_id = created(&first, 1, "w1@cliente.example").await;
    let reply = mail(
        "w2@cliente.example",
        "In-Reply-To: <w1@cliente.example>\r\n",
        "Segue a nota.",
    );
    let root = maildir_with("lost-answer", &[reply]);
    sim.faults(json!([{
        "kind": "timeout", "after_commit": true, "count": 1, "match": "PUT /api/v2/tickets/{id}"
    }]))
    .await;
    let drain = |ingest: Arc<Ingest<ZendeskClient>>| {
        let root = root.clone();
        async move {
            let mut mailbox = Maildir::new(
                "local",
                &root,
                AfterProcessing::Seen,
                std::time::Duration::from_millis(10),
            );
            drain_once(
                &mut mailbox,
                &ingest,
                &PollOptions::default(),
                &tokio_util::sync::CancellationToken::new(),
            )
            .await
        }
    };
    assert!(
        drain(first).await.is_err(),
        "the round fails: the outcome is unknown"
    );
    assert_eq!(
        comment_count(&sim.state().await, ticket_id),
        2,
        "the comment landed"
    );
    assert!(
        store
            .pending_intent("w2@cliente.example")
            .expect("read")
            .is_some(),
        "the wave's intent is still pending"
    );

    // A new process over the same store: the pending intent makes it look
    // for the comment before writing.
    drain(new_ingest()).await.expect("drained");
    assert_eq!(comment_count(&sim.state().await, ticket_id), 2, "not added twice");
    assert_eq!(
        store
            .processed("w2@cliente.example")
            .expect("read")
            .and_then(|p| p.ticket_id),
        Some(ticket_id)
    );
    assert!(
        store
            .pending_intent("w2@cliente.example")
            .expect("read")
            .is_none()
    );
}

/// `[mail] internal_senders`: a colleague's reply (the service-order
/// sector's) is an internal note on the same ticket, by their agent user
/// when they have one, never reopens it, and its `mail.received` event
/// says it came from inside. A customer's reply stays public.
#[tokio::test]
async fn an_internal_senders_reply_is_a_private_note_that_never_reopens() {
    let seed = json!({
        "users": [ { "id": 900, "name": "Setor OS", "email": "os@assistencia.example", "role": "agent" } ],
    });
    let sim = Sim::start_with_seed(seed).await;
    let store = Arc::new(Store::open_in_memory().expect("store"));
    let ingest = Ingest::new(
        sim.client.clone(),
        store.clone(),
        IngestOptions {
            internal_senders: vec![
                "os@assistencia.example".to_owned(),
                "@cadastro.example".to_owned(),
            ],
            ..IngestOptions::default()
        },
        Arc::new(SystemClock),
    );
    let ticket_id = created(&ingest, 1, "i1@cliente.example").await;
    let ticket = sim.client.show_ticket(ticket_id).await.expect("ticket");
    let solve = TicketUpdate {
        status: Some(Status::Solved),
        ..TicketUpdate::default()
    };
    let solve = support::taking_if_solving(&sim.client, &ticket, solve).await;
    sim.client
        .update_ticket(ticket_id, &solve, ticket.updated_at)
        .await
        .expect("an agent solves it");

    let from_sector = |message_id: &str, from: &str, body: &str| {
        format!(
            "From: {from}\r\nTo: suporte@empresa.example\r\nSubject: Re: Boleto [#{ticket_id}]\r\n\
             Message-ID: <{message_id}>\r\nIn-Reply-To: <i1@cliente.example>\r\n\
             Date: Mon, 23 Nov 2026 11:00:00 -0300\r\n\r\n{body}\r\n"
        )
        .into_bytes()
    };
    let decision = ingest
        .process(
            &origin(2),
            &from_sector(
                "s1@assistencia.example",
                "Setor OS <OS@Assistencia.example>",
                "OS 4711 aberta.",
            ),
        )
        .await
        .expect("processed");
    assert_eq!(
        decision,
        Decision::Commented {
            ticket_id,
            reopened: false
        }
    );
    // A sender of an internal domain with no user: a note by carteiro.
    let decision = ingest
        .process(
            &origin(3),
            &from_sector(
                "s2@cadastro.example",
                "joana@cadastro.example",
                "Cadastro atualizado.",
            ),
        )
        .await
        .expect("processed");
    assert_eq!(
        decision,
        Decision::Commented {
            ticket_id,
            reopened: false
        }
    );
    let ticket = sim.client.show_ticket(ticket_id).await.expect("ticket");
    assert_eq!(ticket.status, Status::Solved, "a colleague's note never reopens");
    let state = sim.state().await;
    let comments = state["comments"][ticket_id.to_string()]
        .as_array()
        .expect("comments");
    assert_eq!(comments.len(), 3);
    assert_eq!(comments[1]["public"], false);
    assert!(
        comments[1]["body"]
            .as_str()
            .unwrap_or_default()
            .contains("OS 4711 aberta.")
    );
    assert_eq!(comments[1]["author_id"], 900, "the sector's agent user wrote it");
    assert_eq!(comments[2]["public"], false);
    assert_ne!(
        comments[2]["author_id"],
        ticket.requester_id.map_or(json!(null), |id| json!(id))
    );
    let users = state["users"].as_array().expect("users");
    assert!(
        !users.iter().any(|u| u["email"] == "joana@cadastro.example"),
        "an internal sender is never created as a customer"
    );

    let events = store.pending_mail_events(10).expect("events");
    let internal: Vec<(String, bool)> = events
        .iter()
        .map(|(_, _, facts)| (facts.from.clone(), facts.internal))
        .collect();
    assert!(
        internal.contains(&("os@assistencia.example".to_owned(), true)),
        "{internal:?}"
    );
    assert!(
        internal.contains(&("joana@cadastro.example".to_owned(), true)),
        "{internal:?}"
    );
    assert!(
        internal
            .iter()
            .any(|(from, internal)| from == "maria@cliente.example" && !internal),
        "the customer's first mail is not internal: {internal:?}"
    );

    // The customer's own reply is public and reopens, as always.
    let decision = ingest
        .process(
            &origin(4),
            &mail(
                "i4@cliente.example",
                "In-Reply-To: <i1@cliente.example>\r\n",
                "E o boleto?",
            ),
        )
        .await
        .expect("processed");
    assert_eq!(
        decision,
        Decision::Commented {
            ticket_id,
            reopened: true
        }
    );
    let state = sim.state().await;
    assert_eq!(state["comments"][ticket_id.to_string()][3]["public"], true);
}
