//! The simulator is as strict as a real Zendesk account where a real
//! account is strict: no solve without an assignee unless the account
//! auto-assigns on solve, who authors a ticket's first comment, private
//! comments by end users, and the audit's `metadata.custom`. Spoken to over
//! plain HTTP, as any client would.

use carteiro::helpdesk::sim::{self, SimHandle, SimOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::plain_http;

const AGENT: &str = "agente@empresa.example";

struct Sim {
    handle: SimHandle,
    http: reqwest::Client,
}

impl Sim {
    async fn start(seed: Value) -> Sim {
        let options = SimOptions {
            seed: serde_json::from_value(seed).expect("a valid seed"),
            ..SimOptions::default()
        };
        Sim {
            handle: sim::spawn(options).await.expect("start the simulator"),
            http: plain_http(),
        }
    }

    /// A request as [`AGENT`]: the status and the JSON body.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = self.handle.base_url.join(path).expect("url");
        let mut request = self
            .http
            .request(method, url)
            .basic_auth(format!("{AGENT}/token"), Some("secret"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("a response");
        let status = response.status();
        let bytes = response.bytes().await.expect("a body");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn create(&self, ticket: Value) -> Value {
        let (status, body) = self
            .call(Method::POST, "/api/v2/tickets", Some(json!({ "ticket": ticket })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn update(&self, id: u64, ticket: Value) -> (StatusCode, Value) {
        self.call(
            Method::PUT,
            &format!("/api/v2/tickets/{id}"),
            Some(json!({ "ticket": ticket })),
        )
        .await
    }

    async fn me(&self) -> u64 {
        let (_, body) = self.call(Method::GET, "/api/v2/users/me", None).await;
        body["user"]["id"].as_u64().expect("my id")
    }

    async fn comments(&self, id: u64) -> Vec<Value> {
        let (status, body) = self
            .call(Method::GET, &format!("/api/v2/tickets/{id}/comments"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["comments"].as_array().cloned().unwrap_or_default()
    }

    async fn settings(&self, method: Method, body: Option<Value>) -> Value {
        let url = self.handle.base_url.join("/__sim/settings").expect("url");
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("a response");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("JSON")
    }
}

/// What a real account answered to a solve without an assignee (a
/// recorded live response; see `ApiError::assignee_required`).
fn assignee_required() -> Value {
    json!({
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": { "base": [{
            "description": "Assignee: is required when solving a ticket",
            "error": null,
            "ticket_field_type": "FieldAssignee",
        }] },
    })
}

#[tokio::test]
async fn without_auto_assign_an_unassigned_ticket_cannot_be_solved_or_closed() {
    let sim = Sim::start(json!({
        "settings": { "tickets": { "assign_tickets_upon_solve": false } },
        "users": [{ "id": 7, "name": "Ana", "email": "ana@empresa.example", "role": "agent" }],
    }))
    .await;
    let (status, settings) = sim.call(Method::GET, "/api/v2/account/settings", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        settings["settings"]["tickets"]["assign_tickets_upon_solve"],
        false
    );

    let created = sim
        .create(json!({ "subject": "Sem responsável", "comment": { "body": "Olá" } }))
        .await;
    let id = created["ticket"]["id"].as_u64().expect("id");
    for status in ["solved", "closed"] {
        let (code, body) = sim.update(id, json!({ "status": status })).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}: {body}");
        assert_eq!(body, assignee_required(), "{status}");
    }
    let (_, ticket) = sim
        .call(Method::GET, &format!("/api/v2/tickets/{id}"), None)
        .await;
    assert_eq!(
        ticket["ticket"]["status"], "new",
        "the refused write left no trace"
    );

    // Created solved, unassigned: refused the same way.
    let (code, body) = sim
        .call(
            Method::POST,
            "/api/v2/tickets",
            Some(json!({ "ticket": { "subject": "x", "status": "solved", "comment": { "body": "x" } } })),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body, assignee_required());

    // Solving and assigning in one write is what a real agent does.
    let (code, body) = sim
        .update(id, json!({ "status": "solved", "assignee_id": 7 }))
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["ticket"]["status"], "solved");
    assert_eq!(body["ticket"]["assignee_id"], 7);
}

#[tokio::test]
async fn with_auto_assign_the_solving_agent_becomes_the_assignee_and_an_admin_can_turn_it_off() {
    let sim = Sim::start(json!({})).await;
    // A new account's default.
    assert_eq!(
        sim.settings(Method::GET, None).await,
        json!({ "settings": { "tickets": { "assign_tickets_upon_solve": true } } })
    );
    let first = sim
        .create(json!({ "subject": "Primeiro", "comment": { "body": "Olá" } }))
        .await["ticket"]["id"]
        .as_u64()
        .expect("id");
    let (code, body) = sim.update(first, json!({ "status": "solved" })).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["ticket"]["assignee_id"], json!(sim.me().await));

    let changed = sim
        .settings(
            Method::POST,
            Some(json!({ "tickets": { "assign_tickets_upon_solve": false } })),
        )
        .await;
    assert_eq!(changed["settings"]["tickets"]["assign_tickets_upon_solve"], false);
    let second = sim
        .create(json!({ "subject": "Segundo", "comment": { "body": "Olá" } }))
        .await["ticket"]["id"]
        .as_u64()
        .expect("id");
    let (code, body) = sim.update(second, json!({ "status": "solved" })).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body, assignee_required());
}

#[tokio::test]
async fn the_first_comment_is_the_submitters_and_a_follow_ups_is_the_api_users() {
    let sim = Sim::start(json!({})).await;
    let me = sim.me().await;

    // On the requester's behalf: the requester submits and writes it.
    let created = sim
        .create(json!({
            "subject": "Pelo cliente",
            "comment": { "body": "Não consigo emitir a nota." },
            "requester": { "email": "maria@cliente.example", "name": "Maria" },
        }))
        .await;
    let ticket = &created["ticket"];
    let maria = ticket["requester_id"].as_u64().expect("requester");
    assert_eq!(ticket["submitter_id"], json!(maria));
    let id = ticket["id"].as_u64().expect("id");
    assert_eq!(sim.comments(id).await[0]["author_id"], json!(maria));
    assert_eq!(
        created["audit"]["author_id"],
        json!(me),
        "the API user made the change"
    );

    // An internal note opening a ticket names its author.
    let noted = sim
        .create(json!({
            "subject": "Caso interno",
            "comment": { "body": "Detalhes para a equipe.", "public": false, "author_id": me },
            "requester_id": maria,
            "submitter_id": me,
        }))
        .await;
    let noted_id = noted["ticket"]["id"].as_u64().expect("id");
    let note = &sim.comments(noted_id).await[0];
    assert_eq!(note["author_id"], json!(me));
    assert_eq!(note["public"], false);
    assert_eq!(noted["ticket"]["submitter_id"], json!(me));

    // A follow-up's first comment is the API user's, whatever submitter_id
    // says; `author_id` on the comment names the customer.
    let (code, _) = sim
        .update(id, json!({ "status": "closed", "assignee_id": me }))
        .await;
    assert_eq!(code, StatusCode::OK);
    let plain = sim
        .create(json!({
            "subject": "Re: Pelo cliente",
            "comment": { "body": "Voltou a acontecer." },
            "requester_id": maria,
            "submitter_id": maria,
            "via_followup_source_id": id,
        }))
        .await;
    let plain_id = plain["ticket"]["id"].as_u64().expect("id");
    assert_eq!(sim.comments(plain_id).await[0]["author_id"], json!(me));
    assert_eq!(plain["ticket"]["submitter_id"], json!(me));
    let named = sim
        .create(json!({
            "subject": "Re: Pelo cliente",
            "comment": { "body": "Voltou a acontecer.", "author_id": maria },
            "requester_id": maria,
            "via_followup_source_id": id,
        }))
        .await;
    let named_id = named["ticket"]["id"].as_u64().expect("id");
    assert_eq!(sim.comments(named_id).await[0]["author_id"], json!(maria));
}

#[tokio::test]
async fn a_private_comment_by_an_end_user_stays_private_and_is_flagged() {
    let sim = Sim::start(json!({})).await;
    let created = sim
        .create(json!({
            "subject": "Nota",
            "comment": { "body": "Olá" },
            "requester": { "email": "joao@cliente.example" },
        }))
        .await;
    let id = created["ticket"]["id"].as_u64().expect("id");
    let joao = created["ticket"]["requester_id"].as_u64().expect("requester");
    let (code, _) = sim
        .update(
            id,
            json!({ "comment": { "body": "Só para a equipe", "public": false, "author_id": joao } }),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = sim
        .update(
            id,
            json!({ "comment": { "body": "Nota do agente", "public": false } }),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let comments = sim.comments(id).await;
    assert_eq!(comments.len(), 3);
    assert_eq!(comments[1]["public"], false);
    assert_eq!(comments[1]["metadata"]["flags"], json!([17]));
    assert!(comments[0]["metadata"].get("flags").is_none(), "{}", comments[0]);
    assert!(
        comments[2]["metadata"].get("flags").is_none(),
        "an agent's note is not flagged: {}",
        comments[2]
    );
}

#[tokio::test]
async fn a_writes_metadata_is_its_audits_custom_metadata() {
    let sim = Sim::start(json!({})).await;
    let why = json!({ "rule": "ciclo-confirmar-chamado", "rules_hash": "abc123", "event": "t:1@x" });
    let created = sim
        .create(json!({ "subject": "Com metadados", "comment": { "body": "Olá" }, "metadata": why }))
        .await;
    assert_eq!(created["audit"]["metadata"]["custom"], why);
    let id = created["ticket"]["id"].as_u64().expect("id");
    let (code, body) = sim
        .update(id, json!({ "priority": "high", "metadata": { "rule": "vip" } }))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["audit"]["metadata"]["custom"], json!({ "rule": "vip" }));
    let (_, audits) = sim
        .call(Method::GET, &format!("/api/v2/tickets/{id}/audits"), None)
        .await;
    let customs: Vec<&Value> = audits["audits"]
        .as_array()
        .expect("audits")
        .iter()
        .map(|a| &a.get("metadata").expect("metadata")["custom"])
        .collect();
    assert_eq!(customs, [&why, &json!({ "rule": "vip" })]);
    // Without metadata, an empty object, as Zendesk answers.
    let (_, body) = sim.update(id, json!({ "priority": "low" })).await;
    assert_eq!(body["audit"]["metadata"]["custom"], json!({}));
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_create_and_refuses_another_body() {
    let sim = Sim::start(json!({})).await;
    let url = sim.handle.base_url.join("/api/v2/tickets").expect("url");
    let send = |key: Option<&'static str>, subject: &'static str| {
        let mut request = sim
            .http
            .post(url.clone())
            .basic_auth(format!("{AGENT}/token"), Some("secret"))
            .json(&json!({ "ticket": { "subject": subject, "comment": { "body": "Olá" } } }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        async move {
            let response = request.send().await.expect("a response");
            let lookup = response
                .headers()
                .get("x-idempotency-lookup")
                .map(|v| v.to_str().expect("text").to_owned());
            let status = response.status();
            let body: Value = response.json().await.expect("JSON");
            (status, lookup, body)
        }
    };
    let (status, lookup, first) = send(Some("carteiro:rule:abc"), "Primeiro").await;
    assert_eq!((status, lookup.as_deref()), (StatusCode::CREATED, Some("miss")));
    let (status, lookup, again) = send(Some("carteiro:rule:abc"), "Primeiro").await;
    assert_eq!((status, lookup.as_deref()), (StatusCode::CREATED, Some("hit")));
    assert_eq!(again, first, "the first answer again");
    let (status, _, refused) = send(Some("carteiro:rule:abc"), "Outro").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused,
        json!({ "error": "IdempotentRequestError",
                "description": "Request parameters don't match the given idempotency key" })
    );
    let (status, lookup, _) = send(None, "Primeiro").await;
    assert_eq!((status, lookup), (StatusCode::CREATED, None), "no key, no lookup");
    let (_, list) = sim.call(Method::GET, "/api/v2/tickets", None).await;
    assert_eq!(list["tickets"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn carteiros_client_names_each_create_by_its_external_id() {
    use carteiro::helpdesk::{HelpDesk, NewComment, NewTicket};
    let sim = Sim::start(json!({})).await;
    let client = crate::support::client(sim.handle.base_url.clone(), |b| b);
    let new = NewTicket {
        subject: Some("Criado uma vez".to_owned()),
        comment: NewComment::public("Olá"),
        external_id: Some("carteiro:rule:0123abcd".to_owned()),
        ..NewTicket::default()
    };
    let first = client.create_ticket(&new).await.expect("created");
    // A repeat (as after a lost answer) is Zendesk's replay, not a second
    // ticket: the client sent the external id as the Idempotency-Key.
    let again = client.create_ticket(&new).await.expect("replayed");
    assert_eq!(again.id, first.id);
    let (_, list) = sim.call(Method::GET, "/api/v2/tickets", None).await;
    assert_eq!(list["tickets"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn quick_updates_each_get_a_later_second_never_ahead_of_the_clock() {
    let sim = Sim::start(json!({})).await;
    let created = sim
        .create(json!({ "subject": "Rápido", "comment": { "body": "Olá" } }))
        .await;
    let id = created["ticket"]["id"].as_u64().expect("id");
    let mut stamps = vec![
        created["ticket"]["updated_at"]
            .as_str()
            .expect("stamp")
            .to_owned(),
    ];
    for n in 0..4 {
        let (code, body) = sim
            .update(
                id,
                json!({ "tags": [format!("t{n}")], "safe_update": true, "updated_stamp": stamps.last() }),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        stamps.push(body["ticket"]["updated_at"].as_str().expect("stamp").to_owned());
        let now = sim.handle.sim.clock().now();
        let stamp = chrono::DateTime::parse_from_rfc3339(stamps.last().expect("a stamp")).expect("RFC 3339");
        assert!(stamp <= now, "{stamp} is ahead of the clock ({now})");
    }
    let mut sorted = stamps.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, stamps, "each change a later second: {stamps:?}");
}
