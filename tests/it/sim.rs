//! The Zendesk-compatible simulator over HTTP, spoken to with a plain HTTP
//! client: Zendesk's semantics (inline requesters, safe updates, closed
//! tickets, follow-ups, cursor exports, bulk jobs, rate limits) and the
//! control endpoints (faults, clock, state).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use carteiro::helpdesk::sim::{self, RateLimit, SimHandle, SimOptions};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const AGENT: &str = "agente@empresa.example";

/// A simulator and a client acting as [`AGENT`].
struct Sim {
    handle: SimHandle,
    http: reqwest::Client,
}

/// One answer: status, headers, JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

fn http_client(timeout: Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("http client")
}

impl Sim {
    async fn start(options: SimOptions) -> Sim {
        Sim {
            handle: sim::spawn(options).await.expect("start the simulator"),
            http: http_client(Duration::from_secs(10)),
        }
    }

    async fn relaxed() -> Sim {
        Sim::start(SimOptions {
            relax_export_start: true,
            ..SimOptions::default()
        })
        .await
    }

    fn url(&self, path: &str) -> url::Url {
        self.handle.base_url.join(path).expect("url")
    }

    async fn send_with(
        &self,
        http: &reqwest::Client,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Result<Answer> {
        let mut request = http
            .request(method, self.url(path))
            .basic_auth(format!("{AGENT}/token"), Some("secret"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        Ok(Answer {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send_with(&self.http, method.clone(), path, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(body)).await
    }

    /// `POST /__sim/...` (no credentials needed).
    async fn control(&self, method: Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, self.url(path))
            .json(&body)
            .send()
            .await
            .expect("control request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.expect("control JSON")
    }

    async fn state(&self) -> Value {
        self.http
            .get(self.url("/__sim/state"))
            .send()
            .await
            .expect("state")
            .json()
            .await
            .expect("state JSON")
    }

    /// Creates a ticket and returns it.
    async fn create(&self, subject: &str) -> Value {
        let answer = self
            .post(
                "/api/v2/tickets.json",
                json!({"ticket": {"subject": subject, "comment": {"body": format!("Sobre {subject}")}}}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body["ticket"].clone()
    }

    async fn close(&self, id: u64) {
        let answer = self
            .put(
                &format!("/api/v2/tickets/{id}"),
                json!({"ticket": {"status": "closed"}}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    }
}

fn ticket_ids(tickets: &Value) -> Vec<u64> {
    tickets
        .as_array()
        .expect("a ticket list")
        .iter()
        .map(|t| t["id"].as_u64().expect("ticket id"))
        .collect()
}

#[tokio::test]
async fn create_with_inline_requester_creates_the_end_user() {
    let sim = Sim::start(SimOptions::default()).await;
    let answer = sim
        .post(
            "/api/v2/tickets.json",
            json!({"ticket": {
                "subject": "Impressora fiscal não imprime",
                "comment": {"body": "O cupom sai em branco."},
                "requester": {"email": "maria@cliente.com.br", "name": "Maria Souza"},
                "tags": ["impressora", "fiscal impressora"],
                "external_id": "carteiro:mail:1",
                "email_ccs": [{"user_email": "gerente@cliente.com.br"}],
                "an_unknown_field": true
            }}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let ticket = &answer.body["ticket"];
    let port = sim.handle.base_url.port().expect("port");
    assert_eq!(
        ticket["url"],
        format!("http://127.0.0.1:{port}/api/v2/tickets/1.json")
    );
    assert_eq!(answer.header("location"), ticket["url"]);
    assert_eq!(ticket["id"], 1);
    assert_eq!(ticket["status"], "new");
    assert_eq!(ticket["tags"], json!(["impressora", "fiscal"]));
    assert_eq!(ticket["description"], "O cupom sai em branco.");
    assert_eq!(ticket["via"]["channel"], "api");
    assert_eq!(ticket["external_id"], "carteiro:mail:1");
    assert!(
        ticket.get("generated_timestamp").is_none(),
        "only exports carry it"
    );

    let requester_id = ticket["requester_id"].as_u64().expect("requester");
    let users = sim
        .get(&format!("/api/v2/users/show_many.json?ids={requester_id}"))
        .await;
    let requester = &users.body["users"][0];
    assert_eq!(requester["email"], "maria@cliente.com.br");
    assert_eq!(requester["name"], "Maria Souza");
    assert_eq!(requester["role"], "end-user");

    let me = sim.get("/api/v2/users/me").await;
    assert_eq!(me.body["user"]["email"], AGENT);
    assert_eq!(me.body["user"]["role"], "agent");
    // "By default, the requester of a ticket is the submitter" (Tickets,
    // "Requesters and submitters"): the API user only made the change.
    assert_eq!(ticket["submitter_id"], json!(requester_id));
    assert_eq!(answer.body["audit"]["author_id"], me.body["user"]["id"]);

    let cc = ticket["email_cc_ids"][0].as_u64().expect("a cc");
    assert_eq!(ticket["collaborator_ids"], json!([cc]));

    let comments = sim.get("/api/v2/tickets/1/comments.json").await;
    assert_eq!(comments.body["comments"][0]["author_id"], requester_id);
    assert_eq!(comments.body["comments"][0]["body"], "O cupom sai em branco.");
    let audit = &answer.body["audit"];
    assert_eq!(audit["author_id"], me.body["user"]["id"]);
    assert_eq!(audit["events"][0]["type"], "Comment");
    assert_eq!(audit["events"][0]["id"], comments.body["comments"][0]["id"]);

    let found = sim
        .get("/api/v2/tickets.json?external_id=carteiro%3Amail%3A1")
        .await;
    assert_eq!(ticket_ids(&found.body["tickets"]), vec![1]);
    assert_eq!(found.body["count"], 1);
}

#[tokio::test]
async fn a_stale_updated_stamp_answers_409() {
    let sim = Sim::start(SimOptions::default()).await;
    let ticket = sim.create("Conflito").await;
    let read_at = ticket["updated_at"].clone();
    let first = sim
        .put(
            "/api/v2/tickets/1",
            json!({"ticket": {"status": "open", "safe_update": true, "updated_stamp": read_at}}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_ne!(first.body["ticket"]["updated_at"], read_at, "updated_at moved on");

    let stale = sim
        .put(
            "/api/v2/tickets/1",
            json!({"ticket": {"status": "solved", "safe_update": true, "updated_stamp": read_at}}),
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(
        stale.body,
        json!({"error": "UpdateConflict", "description": "Safe Update prevented the update due to outdated ticket data. Please fetch the latest ticket data and try again."})
    );
    let now = sim.get("/api/v2/tickets/1").await;
    assert_eq!(
        now.body["ticket"]["status"], "open",
        "the refused write left no trace"
    );
}

#[tokio::test]
async fn a_closed_ticket_refuses_updates_with_422() {
    let sim = Sim::start(SimOptions::default()).await;
    sim.create("Encerrado").await;
    sim.close(1).await;
    let refused = sim
        .put("/api/v2/tickets/1", json!({"ticket": {"status": "open"}}))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.body,
        json!({"error": "RecordInvalid", "description": "Record validation errors",
               "details": {"status": [{"description": "Status: closed prevents ticket update", "error": "InvalidValue"}]}})
    );
    let tags = sim
        .send(
            Method::PUT,
            "/api/v2/tickets/1/tags",
            Some(json!({"tags": ["x"]})),
        )
        .await;
    assert_eq!(
        tags.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "tags cannot change either"
    );
}

#[tokio::test]
async fn a_follow_up_needs_a_closed_source_and_links_both_ways() {
    let sim = Sim::start(SimOptions::default()).await;
    sim.create("Original").await;
    let early = sim
        .post(
            "/api/v2/tickets",
            json!({"ticket": {"comment": {"body": "de novo"}, "via_followup_source_id": 1}}),
        )
        .await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        early.body["details"]["via_followup_source_id"][0]["description"],
        "Via followup source: ticket 1 is new, only closed tickets can be followed up"
    );

    sim.close(1).await;
    let follow_up = sim
        .post(
            "/api/v2/tickets",
            json!({"ticket": {"subject": "Re: Original", "comment": {"body": "de novo"}, "via_followup_source_id": 1}}),
        )
        .await;
    assert_eq!(follow_up.status, StatusCode::CREATED, "{:?}", follow_up.body);
    assert_eq!(follow_up.body["ticket"]["id"], 2);
    assert_eq!(follow_up.body["ticket"]["via_followup_source_id"], 1);
    assert_eq!(follow_up.body["ticket"]["via"]["source"]["rel"], "follow_up");
    let source = sim.get("/api/v2/tickets/1.json").await;
    assert_eq!(source.body["ticket"]["followup_ids"], json!([2]));
}

#[tokio::test]
async fn export_pages_reach_the_end_and_resume_from_the_saved_cursor() {
    let sim = Sim::relaxed().await;
    for n in 0..5 {
        sim.create(&format!("Chamado {n}")).await;
    }
    let mut path = "/api/v2/incremental/tickets/cursor.json?start_time=0&per_page=2".to_owned();
    let mut seen = Vec::new();
    let mut pages = 0;
    let cursor = loop {
        let page = sim.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        pages += 1;
        seen.extend(ticket_ids(&page.body["tickets"]));
        let cursor = page.body["after_cursor"]
            .as_str()
            .expect("after_cursor")
            .to_owned();
        for t in page.body["tickets"].as_array().expect("tickets") {
            assert!(
                t["generated_timestamp"].is_i64(),
                "exports carry generated_timestamp"
            );
        }
        if page.body["end_of_stream"] == true {
            assert!(
                page.body["after_url"]
                    .as_str()
                    .is_some_and(|u| u.contains("cursor="))
            );
            break cursor;
        }
        path = format!(
            "/api/v2/incremental/tickets/cursor.json?per_page=2&cursor={}",
            urlencode(&cursor)
        );
    };
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    assert_eq!(pages, 3, "5 tickets at 2 per page");

    let resume = format!(
        "/api/v2/incremental/tickets/cursor.json?cursor={}",
        urlencode(&cursor)
    );
    let nothing = sim.get(&resume).await;
    assert_eq!(ticket_ids(&nothing.body["tickets"]), Vec::<u64>::new());
    assert_eq!(nothing.body["end_of_stream"], true);

    let changed = sim
        .put(
            "/api/v2/tickets/2",
            json!({"ticket": {"additional_tags": ["depois"]}}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    let later = sim.get(&resume).await;
    assert_eq!(ticket_ids(&later.body["tickets"]), vec![2]);
    assert_eq!(later.body["tickets"][0]["tags"], json!(["depois"]));

    // A deleted ticket shows up once more, as deleted.
    let deleted = sim.send(Method::DELETE, "/api/v2/tickets/3", None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let next = format!(
        "/api/v2/incremental/tickets/cursor.json?cursor={}",
        urlencode(later.body["after_cursor"].as_str().expect("cursor"))
    );
    let gone = sim.get(&next).await;
    assert_eq!(ticket_ids(&gone.body["tickets"]), vec![3]);
    assert_eq!(gone.body["tickets"][0]["status"], "deleted");
    assert_eq!(sim.get("/api/v2/tickets/3").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_too_recent_start_time_is_refused_unless_relaxed() {
    let sim = Sim::start(SimOptions::default()).await;
    let now = chrono::Utc::now().timestamp();
    let refused = sim
        .get(&format!(
            "/api/v2/incremental/tickets/cursor?start_time={}",
            now - 10
        ))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.body,
        json!({"error": "InvalidValue", "description": "Too recent start_time. Use a start_time older than 1 minute"})
    );
    let old_enough = sim
        .get(&format!(
            "/api/v2/incremental/tickets/cursor?start_time={}",
            now - 120
        ))
        .await;
    assert_eq!(old_enough.status, StatusCode::OK);
    assert_eq!(old_enough.body["end_of_stream"], true);

    let relaxed = Sim::relaxed().await;
    let fine = relaxed
        .get(&format!("/api/v2/incremental/tickets/cursor?start_time={now}"))
        .await;
    assert_eq!(fine.status, StatusCode::OK);
}

#[tokio::test]
async fn update_many_applies_additional_tags_and_its_job_is_polled_to_completion() {
    let sim = Sim::start(SimOptions {
        job_delay_polls: 2,
        ..SimOptions::default()
    })
    .await;
    let created = sim
        .post(
            "/api/v2/tickets/create_many",
            json!({"tickets": [
                {"subject": "a", "comment": {"body": "a"}, "tags": ["lote"]},
                {"subject": "b", "comment": {"body": "b"}},
                {"subject": "c"}
            ]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.body);
    let job = &created.body["job_status"];
    assert_eq!(job["status"], "queued");
    assert_eq!(job["total"], 3);
    assert_eq!(job["results"], Value::Null);
    let job_id = job["id"].as_str().expect("job id");
    assert_eq!(job_id.len(), 32);
    assert!(job_id.chars().all(|c| c.is_ascii_hexdigit()));
    let job_path = format!("/api/v2/job_statuses/{job_id}.json");
    assert_eq!(sim.get(&job_path).await.body["job_status"]["status"], "queued");
    assert_eq!(sim.get(&job_path).await.body["job_status"]["status"], "working");
    let done = sim.get(&job_path).await;
    assert_eq!(done.body["job_status"]["status"], "completed");
    let results = &done.body["job_status"]["results"];
    assert_eq!(results[0], json!({"index": 0, "id": 1}));
    assert_eq!(results[1], json!({"index": 1, "id": 2}));
    assert_eq!(results[2]["status"], "Failed");
    assert_eq!(results[2]["details"], "Description: cannot be blank");

    sim.close(2).await;
    let updated = sim
        .put(
            "/api/v2/tickets/update_many.json",
            json!({"tickets": [
                {"id": 1, "additional_tags": ["urgente"], "remove_tags": ["lote"]},
                {"id": 2, "additional_tags": ["urgente"]},
                {"id": 99, "status": "open"}
            ]}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.body);
    // Applied at once, reported after the polls.
    let one = sim.get("/api/v2/tickets/1").await;
    assert_eq!(one.body["ticket"]["tags"], json!(["urgente"]));
    let job_path = format!(
        "/api/v2/job_statuses/{}",
        updated.body["job_status"]["id"].as_str().expect("job id")
    );
    sim.get(&job_path).await;
    sim.get(&job_path).await;
    let done = sim.get(&job_path).await;
    let results = &done.body["job_status"]["results"];
    assert_eq!(
        results[0],
        json!({"id": 1, "action": "update", "success": true, "status": "Updated"})
    );
    assert_eq!(
        results[1],
        json!({"id": 2, "action": "update", "success": false, "status": "Failed",
               "error": "RecordInvalid", "details": "Status: closed prevents ticket update"})
    );
    assert_eq!(results[2]["error"], "TicketNotFound");

    // The `?ids=` form applies one change to several tickets.
    let by_ids = sim
        .put(
            "/api/v2/tickets/update_many?ids=1,3",
            json!({"ticket": {"additional_tags": ["revisar"]}}),
        )
        .await;
    assert_eq!(by_ids.status, StatusCode::OK);
    assert_eq!(
        sim.get("/api/v2/tickets/1").await.body["ticket"]["tags"],
        json!(["urgente", "revisar"])
    );

    let too_many: Vec<Value> = (0..101).map(|n| json!({"id": n})).collect();
    let refused = sim
        .put("/api/v2/tickets/update_many", json!({"tickets": too_many}))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["error"], "TooManyValues");
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_and_headers() {
    let sim = Sim::start(SimOptions {
        rate_limit: Some(RateLimit {
            limit: 2,
            window: Duration::from_secs(30),
        }),
        ..SimOptions::default()
    })
    .await;
    let first = sim.get("/api/v2/users/me").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("x-rate-limit"), "2");
    assert_eq!(first.header("x-rate-limit-remaining"), "1");
    assert_eq!(first.header("ratelimit-limit"), "2");
    assert_eq!(first.header("ratelimit-remaining"), "1");
    let reset: u64 = first.header("ratelimit-reset").parse().expect("seconds");
    assert!((29..=30).contains(&reset), "reset in {reset}s");
    let second = sim.get("/api/v2/users/me").await;
    assert_eq!(second.header("x-rate-limit-remaining"), "0");

    let refused = sim.get("/api/v2/users/me").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.body,
        json!({"error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded"})
    );
    let retry: u64 = refused.header("retry-after").parse().expect("whole seconds");
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    assert_eq!(refused.header("x-rate-limit-remaining"), "0");

    // The control endpoints are never limited; lifting the limit works at once.
    let lifted = sim.control(Method::POST, "/__sim/rate_limit", Value::Null).await;
    assert_eq!(lifted, json!({"rate_limit": null}));
    let again = sim.get("/api/v2/users/me").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.header("x-rate-limit"), "1000000");

    let set = sim
        .control(
            Method::POST,
            "/__sim/rate_limit",
            json!({"limit": 1, "window_secs": 60}),
        )
        .await;
    assert_eq!(set, json!({"rate_limit": {"limit": 1, "window_secs": 60}}));
    assert_eq!(sim.get("/api/v2/users/me").await.status, StatusCode::OK);
    assert_eq!(
        sim.get("/api/v2/users/me").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let state = sim.state().await;
    assert_eq!(state["responses"], json!({"200": 4, "429": 2}));
    assert_eq!(state["rate_limit"], json!({"limit": 1, "window_secs": 60}));
}

#[tokio::test]
async fn a_status_fault_answers_without_effect() {
    let sim = Sim::start(SimOptions::default()).await;
    let pending = sim
        .control(
            Method::POST,
            "/__sim/faults",
            json!({"faults": [{"kind": "status", "status": 503, "count": 2, "match": "POST /api/v2/tickets"}]}),
        )
        .await;
    assert_eq!(
        pending,
        json!({"faults": [{"kind": "status", "status": 503, "count": 2, "match": "POST /api/v2/tickets"}]})
    );
    // Another route is not hit.
    assert_eq!(sim.get("/api/v2/users/me").await.status, StatusCode::OK);
    let body = json!({"ticket": {"comment": {"body": "x"}}});
    for _ in 0..2 {
        let failed = sim.post("/api/v2/tickets", body.clone()).await;
        assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(failed.body["error"], "ServiceUnavailable");
    }
    assert_eq!(sim.state().await["tickets"], json!([]), "no effect");
    assert_eq!(
        sim.post("/api/v2/tickets", body).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        sim.control(Method::GET, "/__sim/faults", Value::Null).await,
        json!({"faults": []})
    );
}

#[tokio::test]
async fn a_delay_fault_applies_the_request_late() {
    let sim = Sim::start(SimOptions::default()).await;
    sim.create("Lento").await;
    sim.control(
        Method::POST,
        "/__sim/faults",
        json!({"faults": [{"kind": "delay", "ms": 300, "match": "PUT /api/v2/tickets/{id}"}]}),
    )
    .await;
    let started = Instant::now();
    let answer = sim
        .put("/api/v2/tickets/1", json!({"ticket": {"status": "pending"}}))
        .await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["ticket"]["status"], "pending");
}

#[tokio::test]
async fn a_timeout_fault_after_commit_applies_the_effect_but_never_answers() {
    let sim = Sim::start(SimOptions::default()).await;
    sim.control(
        Method::POST,
        "/__sim/faults",
        json!({"faults": [
            {"kind": "timeout", "after_commit": true, "match": "POST /api/v2/tickets"},
            {"kind": "timeout", "after_commit": false, "match": "POST /api/v2/tickets"}
        ]}),
    )
    .await;
    let impatient = http_client(Duration::from_millis(800));
    let body = json!({"ticket": {"subject": "Aplicado", "comment": {"body": "x"}, "external_id": "k1"}});
    let err = sim
        .send_with(&impatient, Method::POST, "/api/v2/tickets", Some(body))
        .await
        .expect_err("the response is held");
    assert!(err.is_timeout(), "{err}");
    let state = sim.state().await;
    assert_eq!(
        state["tickets"][0]["external_id"], "k1",
        "committed before holding"
    );

    let body = json!({"ticket": {"subject": "Nunca", "comment": {"body": "y"}, "external_id": "k2"}});
    let err = sim
        .send_with(&impatient, Method::POST, "/api/v2/tickets", Some(body))
        .await
        .expect_err("the response is held");
    assert!(err.is_timeout(), "{err}");
    let state = sim.state().await;
    assert_eq!(
        state["tickets"].as_array().map(Vec::len),
        Some(1),
        "the second create never applied"
    );
    assert_eq!(state["requests"]["POST /api/v2/tickets"], 2);
}

#[tokio::test]
async fn a_rate_limit_fault_answers_429_with_its_retry_after() {
    let sim = Sim::start(SimOptions::default()).await;
    sim.create("Tempestade").await;
    sim.control(
        Method::POST,
        "/__sim/faults",
        json!({"faults": [{"kind": "rate_limit", "retry_after_secs": 2, "match": "GET /api/v2/tickets/{id}"}]}),
    )
    .await;
    let storm = sim.get("/api/v2/tickets/1").await;
    assert_eq!(storm.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(storm.header("retry-after"), "2");
    assert_eq!(storm.body["error"], "APIRateLimitExceeded");
    assert_eq!(sim.get("/api/v2/tickets/1").await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_fault_specs_are_refused_with_the_reason() {
    let sim = Sim::start(SimOptions::default()).await;
    let response = sim
        .http
        .post(sim.url("/__sim/faults"))
        .json(&json!({"faults": [{"kind": "delay", "ms": 5}, {"kind": "status"}]}))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body["description"],
        "faults[1]: kind `status` needs `status` (e.g. 503)"
    );
    assert_eq!(
        sim.control(Method::GET, "/__sim/faults", Value::Null).await,
        json!({"faults": []}),
        "nothing was queued"
    );
}

#[tokio::test]
async fn state_counts_requests_by_route_template() {
    let sim = Sim::start(SimOptions::default()).await;
    sim.create("a").await;
    sim.create("b").await;
    sim.get("/api/v2/tickets/1").await;
    sim.get("/api/v2/tickets/2.json").await;
    sim.put("/api/v2/tickets/2", json!({"ticket": {"priority": "high"}}))
        .await;
    sim.get("/api/v2/tickets/show_many?ids=1,2,3").await;
    let state = sim.state().await;
    assert_eq!(
        state["requests"],
        json!({
            "GET /api/v2/tickets/show_many": 1,
            "GET /api/v2/tickets/{id}": 2,
            "POST /api/v2/tickets": 2,
            "PUT /api/v2/tickets/{id}": 1
        })
    );
    assert_eq!(state["audits"]["2"].as_array().map(Vec::len), Some(2));
    let change = &state["audits"]["2"][1]["events"][0];
    assert_eq!(change["type"], "Change");
    assert_eq!(change["field_name"], "priority");
    assert_eq!(change["value"], "high");
    // A new account's "Set tickets with no priority to normal" trigger gave
    // the ticket its priority when it was created.
    assert_eq!(change["previous_value"], "normal");
    assert!(state["now"].is_string());
    assert_eq!(state["custom_statuses"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn without_credentials_the_answer_is_401_and_bad_json_is_400() {
    let sim = Sim::start(SimOptions::default()).await;
    let anonymous = sim
        .http
        .get(sim.url("/api/v2/tickets/1"))
        .send()
        .await
        .expect("answer");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let body: Value = anonymous.json().await.expect("JSON");
    assert_eq!(body, json!({"error": "Couldn't authenticate you"}));

    let broken = sim
        .http
        .post(sim.url("/api/v2/tickets"))
        .bearer_auth("oauth-token")
        .header("content-type", "application/json")
        .body("{\"ticket\": ")
        .send()
        .await
        .expect("answer");
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    let body: Value = broken.json().await.expect("JSON");
    assert_eq!(body["error"], "InvalidJSON");

    let wrong_type = sim
        .post(
            "/api/v2/tickets",
            json!({"ticket": {"comment": {"body": "x"}, "status": "bogus"}}),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong_type.body["details"]["status"].is_array(),
        "{:?}",
        wrong_type.body
    );

    assert_eq!(sim.get("/api/v2/tickets/abc").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unknown_endpoint_is_named_and_unknown_parameters_are_ignored() {
    let sim = Sim::start(SimOptions::default()).await;
    let unknown = sim.get("/api/v2/no_such_thing.json").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.body,
        json!({"error": "InvalidEndpoint",
               "description": "Not found: GET /api/v2/no_such_thing.json is not an endpoint the simulator serves"})
    );
    let wrong_method = sim.send(Method::DELETE, "/api/v2/groups", None).await;
    assert_eq!(wrong_method.status, StatusCode::NOT_FOUND);
    assert_eq!(
        wrong_method.body["description"],
        "Not found: DELETE /api/v2/groups is not an endpoint the simulator serves"
    );
    let outside = sim.get("/api/v1/tickets").await;
    assert_eq!(outside.body["error"], "InvalidEndpoint");

    // zenpy sends `include=None` on audits; Zendesk ignores parameters it
    // does not know, and so does the simulator.
    sim.create("Parâmetros").await;
    let audits = sim
        .get("/api/v2/tickets/1/audits.json?page%5Bsize%5D=100&include=None&whatever=1")
        .await;
    assert_eq!(audits.status, StatusCode::OK, "{:?}", audits.body);
    assert_eq!(audits.body["audits"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn status_and_custom_status_move_together() {
    let sim = Sim::start(SimOptions::default()).await;
    let created = sim
        .post(
            "/api/v2/custom_statuses",
            json!({"custom_status": {"status_category": "pending", "agent_label": "Validação Cliente"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let validation = created.body["custom_status"]["id"].as_u64().expect("id");
    let ticket = sim.create("Validar").await;
    let statuses = sim.get("/api/v2/custom_statuses").await;
    let new_default = statuses.body["custom_statuses"]
        .as_array()
        .expect("statuses")
        .iter()
        .find(|s| s["status_category"] == "new" && s["default"] == true)
        .expect("a default new status")
        .clone();
    assert_eq!(new_default["agent_label"], "New");
    assert_eq!(ticket["custom_status_id"], new_default["id"]);

    let moved = sim
        .put(
            "/api/v2/tickets/1",
            json!({"ticket": {"custom_status_id": validation}}),
        )
        .await;
    assert_eq!(moved.body["ticket"]["status"], "pending");
    let mismatch = sim
        .put(
            "/api/v2/tickets/1",
            json!({"ticket": {"status": "open", "custom_status_id": validation}}),
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    let back = sim
        .put("/api/v2/tickets/1", json!({"ticket": {"status": "new"}}))
        .await;
    assert_eq!(back.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn tags_endpoints_add_replace_and_remove() {
    let sim = Sim::start(SimOptions::default()).await;
    sim.create("Etiquetas").await;
    let added = sim
        .send(
            Method::PUT,
            "/api/v2/tickets/1/tags.json",
            Some(json!({"tags": ["a", "b"]})),
        )
        .await;
    assert_eq!(added.body, json!({"tags": ["a", "b"]}));
    let removed = sim
        .send(
            Method::DELETE,
            "/api/v2/tickets/1/tags",
            Some(json!({"tags": ["a"]})),
        )
        .await;
    assert_eq!(removed.body, json!({"tags": ["b"]}));
    assert_eq!(added.status, StatusCode::OK);
    assert_eq!(removed.status, StatusCode::OK);
    let replaced = sim
        .send(
            Method::POST,
            "/api/v2/tickets/1/tags",
            Some(json!({"tags": ["c"]})),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::CREATED, "POST sets the tags: 201");
    assert_eq!(replaced.body, json!({"tags": ["c"]}));
    let stale = sim
        .send(
            Method::PUT,
            "/api/v2/tickets/1/tags",
            Some(json!({"tags": ["d"], "safe_update": "true", "updated_stamp": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(
        sim.get("/api/v2/tickets/1/tags").await.body,
        json!({"tags": ["c"]})
    );
    let audits = sim.get("/api/v2/tickets/1/audits").await;
    assert_eq!(audits.body["audits"].as_array().map(Vec::len), Some(4));
}

#[tokio::test]
async fn comments_page_by_cursor() {
    let sim = Sim::start(SimOptions::default()).await;
    sim.create("Conversa").await;
    for n in 0..4 {
        let answer = sim
            .put(
                "/api/v2/tickets/1",
                json!({"ticket": {"comment": {"body": format!("resposta {n}"), "public": n % 2 == 0}}}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let first = sim.get("/api/v2/tickets/1/comments?page[size]=2").await;
    let bodies = |page: &Value| -> Vec<String> {
        page["comments"]
            .as_array()
            .expect("comments")
            .iter()
            .map(|c| c["body"].as_str().expect("body").to_owned())
            .collect()
    };
    assert_eq!(bodies(&first.body), vec!["Sobre Conversa", "resposta 0"]);
    assert_eq!(first.body["meta"]["has_more"], true);
    let next = first.body["links"]["next"].as_str().expect("next link");
    let next_path = next
        .split_once("/api/v2/")
        .map(|(_, rest)| format!("/api/v2/{rest}"))
        .expect("a simulator link");
    let second = sim.get(&next_path).await;
    assert_eq!(bodies(&second.body), vec!["resposta 1", "resposta 2"]);
    assert_eq!(second.body["comments"][0]["public"], false);
    let after = second.body["meta"]["after_cursor"].as_str().expect("cursor");
    let last = sim
        .get(&format!(
            "/api/v2/tickets/1/comments?page[size]=2&page[after]={}",
            urlencode(after)
        ))
        .await;
    assert_eq!(bodies(&last.body), vec!["resposta 3"]);
    assert_eq!(last.body["meta"]["has_more"], false);
    // As recorded (zenpy's cassettes): the last page still links on, and
    // the page after it is empty, its cursors and links null.
    let beyond = last.body["links"]["next"]
        .as_str()
        .expect("the last page links on");
    let beyond_path = beyond
        .split_once("/api/v2/")
        .map(|(_, rest)| format!("/api/v2/{rest}"))
        .expect("a simulator link");
    let empty = sim.get(&beyond_path).await;
    assert_eq!(
        empty.body,
        json!({"comments": [], "meta": {"has_more": false, "after_cursor": null, "before_cursor": null},
               "links": {"prev": null, "next": null}})
    );
    // Without page[size] the same list pages by offset.
    let offset = sim.get("/api/v2/tickets/1/comments?per_page=2&page=3").await;
    assert_eq!(bodies(&offset.body), vec!["resposta 3"]);
    assert_eq!(offset.body["count"], 5);
    assert_eq!(offset.body["next_page"], Value::Null);
    assert!(
        offset.body["previous_page"]
            .as_str()
            .is_some_and(|p| p.ends_with("/api/v2/tickets/1/comments.json?page=2&per_page=2")),
        "{:?}",
        offset.body
    );
    assert_eq!(offset.body.get("meta"), None);
}

/// The path of a link the simulator handed out.
fn link_path(link: &str) -> String {
    link.split_once("/api/v2/")
        .map(|(_, rest)| format!("/api/v2/{rest}"))
        .unwrap_or_else(|| panic!("not a simulator link: {link}"))
}

/// Follows `links.next` from `first` until a page comes back empty, as
/// node-zendesk does; returns each page's `key` ids and the pages.
async fn walk(sim: &Sim, first: &str, key: &str) -> (Vec<Vec<u64>>, Vec<Value>) {
    let mut ids = Vec::new();
    let mut pages = Vec::new();
    let mut path = first.to_owned();
    for _ in 0..50 {
        let page = sim.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {:?}", page.body);
        let keys: BTreeSet<String> = page.body.as_object().expect("object").keys().cloned().collect();
        assert_eq!(
            keys,
            BTreeSet::from([key.to_owned(), "meta".to_owned(), "links".to_owned()]),
            "a cursor page has no offset key"
        );
        ids.push(ticket_ids(&page.body[key]));
        pages.push(page.body.clone());
        match page.body["links"]["next"].as_str() {
            Some(next) => path = link_path(next),
            None => return (ids, pages),
        }
    }
    panic!("{first}: more than 50 pages");
}

#[tokio::test]
async fn lists_page_by_cursor_to_an_empty_page_as_recorded() {
    let sim = Sim::start(SimOptions {
        seed: serde_json::from_value(json!({"groups": [
            {"id": 30, "name": "Ouvidoria"}, {"id": 10, "name": "Suporte"}, {"id": 20, "name": "Consultoria"}
        ]}))
        .expect("seed"),
        ..SimOptions::default()
    })
    .await;
    for n in 0..5 {
        sim.create(&format!("Chamado {n}")).await;
    }

    let (tickets, pages) = walk(&sim, "/api/v2/tickets.json?page[size]=2", "tickets").await;
    assert_eq!(tickets, vec![vec![1, 2], vec![3, 4], vec![5], vec![]]);
    let has_more: Vec<_> = pages.iter().map(|p| p["meta"]["has_more"].clone()).collect();
    assert_eq!(
        has_more,
        vec![json!(true), json!(true), json!(false), json!(false)]
    );
    // Every page with items links both ways, the last one included.
    assert!(
        pages[..3]
            .iter()
            .all(|p| p["links"]["prev"].is_string() && p["links"]["next"].is_string())
    );
    assert_eq!(
        pages[3],
        json!({"tickets": [], "meta": {"has_more": false, "after_cursor": null, "before_cursor": null},
               "links": {"prev": null, "next": null}})
    );
    // One item a page: both cursors point at it.
    let one = sim.get("/api/v2/tickets?page[size]=1").await;
    assert_eq!(
        one.body["meta"]["after_cursor"],
        one.body["meta"]["before_cursor"]
    );

    // Back from the last page.
    let prev = link_path(pages[2]["links"]["prev"].as_str().expect("prev"));
    let back = sim.get(&prev).await;
    assert_eq!(ticket_ids(&back.body["tickets"]), vec![3, 4]);
    assert_eq!(back.body["meta"]["has_more"], true, "tickets 1 and 2 are before");

    // Users by id, groups by name, a ticket's audits by time.
    sim.put("/api/v2/tickets/1", json!({"ticket": {"status": "open"}}))
        .await;
    sim.put("/api/v2/tickets/1", json!({"ticket": {"priority": "high"}}))
        .await;
    let (audits, _) = walk(&sim, "/api/v2/tickets/1/audits?page[size]=2", "audits").await;
    assert_eq!(audits.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 1, 0]);
    let (groups, _) = walk(&sim, "/api/v2/groups?page[size]=2", "groups").await;
    assert_eq!(
        groups,
        vec![vec![20, 30], vec![10], vec![]],
        "Consultoria, Ouvidoria, Suporte"
    );
    let (users, _) = walk(&sim, "/api/v2/users?page[size]=100", "users").await;
    assert_eq!(users.len(), 2, "one page of the one agent, then the empty page");
    assert_eq!(users[0].len(), 1);

    // Offset pages keep Zendesk's keys, with a count, never null.
    let offset = sim.get("/api/v2/tickets?per_page=2&page=2").await;
    assert_eq!(ticket_ids(&offset.body["tickets"]), vec![3, 4]);
    assert_eq!(offset.body["count"], 5);
    assert!(
        offset.body["next_page"]
            .as_str()
            .is_some_and(|l| l.ends_with("/api/v2/tickets.json?page=3&per_page=2"))
    );
    assert!(
        offset.body["previous_page"]
            .as_str()
            .is_some_and(|l| l.ends_with("/api/v2/tickets.json?page=1&per_page=2"))
    );
    for path in [
        "/api/v2/users",
        "/api/v2/groups",
        "/api/v2/ticket_fields",
        "/api/v2/tickets/show_many?ids=1,2",
        "/api/v2/users/show_many?ids=1",
    ] {
        let answer = sim.get(path).await;
        assert!(answer.body["count"].is_u64(), "{path}: {:?}", answer.body);
        assert_eq!(answer.body.get("meta"), None, "{path}");
    }
    let deep = sim.get("/api/v2/tickets?page=101").await;
    assert_eq!(deep.status, StatusCode::BAD_REQUEST);
    assert_eq!(deep.body["errors"][0]["code"], "InvalidPaginationDepth");

    // A bad cursor or size is a 400 naming it.
    let garbled = sim
        .get("/api/v2/tickets?page[size]=2&page[after]=bm9wZQ%3D%3D")
        .await;
    assert_eq!(garbled.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        garbled.body,
        json!({"error": "InvalidPaginationParameter",
               "description": "page[after] `bm9wZQ==` is not a cursor of this list"})
    );
    let groups_cursor = pages_cursor(&sim, "/api/v2/groups?page[size]=1").await;
    let foreign = sim
        .get(&format!(
            "/api/v2/tickets?page[after]={}",
            urlencode(&groups_cursor)
        ))
        .await;
    assert_eq!(
        foreign.status,
        StatusCode::BAD_REQUEST,
        "a groups cursor is not a tickets cursor"
    );
    let too_big = sim.get("/api/v2/tickets?page[size]=101").await;
    assert_eq!(too_big.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        too_big.body["description"],
        "page[size] must be a whole number from 1 to 100, not `101`"
    );
}

/// The `after_cursor` of the first page at `path`.
async fn pages_cursor(sim: &Sim, path: &str) -> String {
    let page = sim.get(path).await;
    page.body["meta"]["after_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: no cursor in {:?}", page.body))
        .to_owned()
}

#[tokio::test]
async fn seeded_records_answer_every_recorded_key_with_zendesks_defaults() {
    let sim = Sim::start(SimOptions {
        seed: serde_json::from_value(json!({
            "users": [
                {"id": 1, "name": "Maria", "email": "maria@cliente.example", "role": "end-user", "locale": "pt-BR"},
                {"id": 2, "name": "Ana", "email": "ana@empresa.example", "role": "admin"}
            ],
            "groups": [{"id": 10, "name": "Suporte"}],
            "ticket_fields": [
                {"id": 500, "type": "text", "title": "CNPJ"},
                {"id": 501, "type": "checkbox", "title": "VIP"},
                {"id": 502, "type": "subject", "title": "Subject"}
            ],
            "tickets": [{"id": 7, "subject": "Boleto", "status": "solved", "requester_id": 1,
                         "created_at": "2026-01-05T10:00:00Z", "updated_at": "2026-01-05T11:00:00Z",
                         "custom_fields": [{"id": 500, "value": "12.345.678/0001-95"}]}]
        }))
        .expect("seed"),
        ..SimOptions::default()
    })
    .await;
    let statuses = sim.get("/api/v2/custom_statuses?status_categories=solved").await;
    let solved = statuses.body["custom_statuses"][0]["id"].clone();

    let ticket = sim.get("/api/v2/tickets/7").await.body["ticket"].clone();
    let fields = json!([{"id": 500, "value": "12.345.678/0001-95"}, {"id": 501, "value": false}]);
    for (key, expected) in [
        ("raw_subject", json!("Boleto")),
        (
            "via",
            json!({"channel": "api", "source": {"from": {}, "to": {}, "rel": null}}),
        ),
        ("custom_status_id", solved),
        ("custom_fields", fields.clone()),
        ("fields", fields),
        ("sharing_agreement_ids", json!([])),
        ("followup_ids", json!([])),
        ("forum_topic_id", Value::Null),
        ("has_incidents", json!(false)),
        ("is_public", json!(true)),
        ("allow_channelback", json!(false)),
        ("allow_attachments", json!(true)),
        ("from_messaging_channel", json!(false)),
        ("ticket_form_id", json!(360_000_000_002_u64)),
        ("brand_id", json!(360_000_000_001_u64)),
    ] {
        assert_eq!(ticket[key], expected, "ticket.{key}");
    }

    let maria = sim.get("/api/v2/users/1").await.body["user"].clone();
    for (key, expected) in [
        ("locale_id", json!(19)),
        ("time_zone", json!("America/Sao_Paulo")),
        ("iana_time_zone", json!("America/Sao_Paulo")),
        ("active", json!(true)),
        ("verified", json!(false)),
        ("shared", json!(false)),
        ("shared_agent", json!(false)),
        ("role_type", Value::Null),
        ("custom_role_id", Value::Null),
        ("moderator", json!(false)),
        ("ticket_restriction", json!("requested")),
        ("only_private_comments", json!(false)),
        ("restricted_agent", json!(true)),
        ("two_factor_auth_enabled", json!(false)),
        ("suspended", json!(false)),
        ("report_csv", json!(false)),
        ("photo", Value::Null),
        ("details", Value::Null),
        ("notes", Value::Null),
        ("tags", json!([])),
        ("user_fields", json!({})),
    ] {
        assert_eq!(maria[key], expected, "user.{key}");
    }
    assert!(
        maria["created_at"].is_string(),
        "a seeded user gets a creation time"
    );
    let ana = sim.get("/api/v2/users/2").await.body["user"].clone();
    assert_eq!(
        (
            &ana["role_type"],
            &ana["moderator"],
            &ana["ticket_restriction"],
            &ana["report_csv"]
        ),
        (&json!(4), &json!(true), &Value::Null, &json!(true)),
        "an admin's rights"
    );

    let group = sim.get("/api/v2/groups/10").await.body["group"].clone();
    assert_eq!(
        (
            &group["is_public"],
            &group["description"],
            &group["default"],
            &group["deleted"]
        ),
        (&json!(true), &json!(""), &json!(false), &json!(false))
    );
    assert!(group["created_at"].is_string() && group["updated_at"].is_string());
}

/// An account to search: three customers, an agent, a group and five
/// tickets on fixed dates (so no result depends on today).
async fn search_account() -> Sim {
    let at = |day: u32| format!("2026-01-{day:02}T10:00:00Z");
    let ticket = |id: u64, day: u32, status: &str, requester: u64, subject: &str, tags: Value| {
        json!({"id": id, "subject": subject, "description": format!("{subject}, por favor"), "status": status,
               "requester_id": requester, "created_at": at(day), "updated_at": at(day + 1), "tags": tags})
    };
    let mut tickets = vec![
        ticket(
            1,
            5,
            "new",
            1,
            "Erro ao emitir nota fiscal",
            json!(["vip", "fiscal"]),
        ),
        ticket(2, 6, "open", 1, "Segunda via de boleto", json!(["boleto"])),
        ticket(3, 7, "pending", 2, "Nota de débito duplicada", json!([])),
        ticket(4, 8, "solved", 1, "Impressora não liga", json!(["vip"])),
        ticket(5, 9, "hold", 3, "Troca de titularidade", json!([])),
    ];
    tickets[1]["assignee_id"] = json!(4);
    tickets[1]["group_id"] = json!(10);
    tickets[1]["priority"] = json!("high");
    tickets[2]["external_id"] = json!("pedido-77");
    tickets[4]["priority"] = json!("low");
    Sim::start(SimOptions {
        seed: serde_json::from_value(json!({
            "users": [
                {"id": 1, "name": "Maria Souza", "email": "maria@cliente.example", "role": "end-user",
                 "tags": ["premium"], "external_id": "crm-1", "notes": "Cliente desde 2019"},
                {"id": 2, "name": "João Lima", "email": "joao@cliente.example", "role": "end-user"},
                {"id": 3, "name": "Rita Alves", "email": "rita@cliente.example", "role": "end-user", "tags": ["premium"]},
                {"id": 4, "name": "Ana Atendente", "email": "ana@empresa.example", "role": "agent"}
            ],
            "groups": [{"id": 10, "name": "Suporte"}],
            "tickets": tickets
        }))
        .expect("seed"),
        ..SimOptions::default()
    })
    .await
}

/// `GET /api/v2/search?query=…` (and other parameters): status and body.
async fn search(sim: &Sim, query: &str, rest: &str) -> Answer {
    sim.get(&format!("/api/v2/search.json?query={}{rest}", urlencode(query)))
        .await
}

/// The `(result_type, id)` of each result, in order.
fn found(answer: &Answer) -> Vec<(String, u64)> {
    answer.body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {:?}", answer.body))
        .iter()
        .map(|r| {
            let kind = r["result_type"].as_str().expect("result_type").to_owned();
            (kind, r["id"].as_u64().expect("id"))
        })
        .collect()
}

fn tickets(ids: &[u64]) -> Vec<(String, u64)> {
    ids.iter().map(|id| ("ticket".to_owned(), *id)).collect()
}

fn users(ids: &[u64]) -> Vec<(String, u64)> {
    ids.iter().map(|id| ("user".to_owned(), *id)).collect()
}

#[tokio::test]
async fn search_finds_tickets_and_users_by_zendesks_query_syntax() {
    let sim = search_account().await;
    for (query, expected) in [
        // The docs' own example: unsolved tickets requested by one person.
        (
            "status<solved requester:maria@cliente.example type:ticket",
            tickets(&[1, 2]),
        ),
        ("type:ticket status>=pending", tickets(&[3, 4, 5])),
        ("status:solved", tickets(&[4])),
        ("type:ticket tags:vip", tickets(&[1, 4])),
        ("type:ticket tags:vip -status:solved", tickets(&[1])),
        ("type:user tags:premium", users(&[1, 3])),
        ("assignee:ana@empresa.example", tickets(&[2])),
        ("type:ticket assignee:none group:none", tickets(&[1, 3, 4, 5])),
        ("group:Suporte priority>normal", tickets(&[2])),
        ("created>2026-01-07 type:ticket", tickets(&[4, 5])),
        ("updated<2026-01-08 type:ticket", tickets(&[1, 2])),
        ("created:2026-01-06", tickets(&[2])),
        ("external_id:pedido-77", tickets(&[3])),
        ("subject:nota", tickets(&[1, 3])),
        ("\"nota fiscal\"", tickets(&[1])),
        // Words match whole or as the start of a word, without accents.
        ("debito", tickets(&[3])),
        ("impress", tickets(&[4])),
        ("3", tickets(&[3])),
        ("type:user maria", users(&[1])),
        ("type:user email:joao@cliente.example", users(&[2])),
        ("role:agent name:Ana", users(&[4])),
        ("type:user external_id:crm-1", users(&[1])),
    ] {
        let answer = search(&sim, query, "").await;
        assert_eq!(answer.status, StatusCode::OK, "{query}: {:?}", answer.body);
        assert_eq!(found(&answer), expected, "{query}");
        assert_eq!(answer.body["count"], expected.len(), "{query}");
    }

    // A result is the whole record plus its result_type, in Zendesk's
    // envelope (the shared corpus's GET/search_ticket.json).
    let answer = search(&sim, "type:ticket tags:boleto", "").await;
    let keys: BTreeSet<&str> = answer
        .body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["results", "facets", "next_page", "previous_page", "count"])
    );
    assert_eq!(answer.body["facets"], Value::Null);
    let hit = &answer.body["results"][0];
    assert_eq!(hit["subject"], "Segunda via de boleto");
    assert!(hit["custom_status_id"].is_u64(), "{hit:?}");
    assert!(
        hit["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/api/v2/tickets/2.json"))
    );
    let count = sim
        .get(&format!(
            "/api/v2/search/count.json?query={}",
            urlencode("type:ticket tags:vip")
        ))
        .await;
    assert_eq!(count.body, json!({"count": 2}));
}

#[tokio::test]
async fn search_sorts_pages_and_stops_at_zendesks_limits() {
    let sim = search_account().await;
    let by_created = search(&sim, "type:ticket", "&sort_by=created_at&sort_order=asc").await;
    assert_eq!(found(&by_created), tickets(&[1, 2, 3, 4, 5]));
    let newest_first = search(&sim, "type:ticket", "&sort_by=created_at").await;
    assert_eq!(
        found(&newest_first),
        tickets(&[5, 4, 3, 2, 1]),
        "sort_order defaults to desc"
    );
    let in_query = search(&sim, "type:ticket order_by:status sort:asc", "").await;
    assert_eq!(
        found(&in_query),
        tickets(&[1, 2, 3, 5, 4]),
        "new, open, pending, hold, solved"
    );
    let by_priority = search(&sim, "type:ticket", "&sort_by=priority&sort_order=desc").await;
    assert_eq!(
        found(&by_priority)[..2],
        tickets(&[2, 5])[..],
        "high, then low, then none"
    );

    let first = search(
        &sim,
        "type:ticket",
        "&sort_by=created_at&sort_order=asc&per_page=2",
    )
    .await;
    assert_eq!(found(&first), tickets(&[1, 2]));
    assert_eq!(first.body["count"], 5);
    assert_eq!(first.body["previous_page"], Value::Null);
    let next = first.body["next_page"].as_str().expect("next_page");
    assert!(next.contains("/api/v2/search.json?"), "{next}");
    let second = sim.get(&link_path(next)).await;
    assert_eq!(found(&second), tickets(&[3, 4]));
    assert!(second.body["previous_page"].is_string());

    let past_limit = search(&sim, "type:ticket", "&page=11&per_page=100").await;
    assert_eq!(past_limit.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        past_limit.body,
        json!({"error": "invalid",
               "description": "Invalid search: Requested response size was greater than Search Response Limits"})
    );
    let cursor = search(&sim, "type:ticket", "&page[size]=10").await;
    assert_eq!(cursor.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        cursor.body,
        json!({"error": {"title": "Invalid attribute",
                         "message": "You passed an invalid value for the page attribute. Invalid parameter: page must be an integer from api/v2/search/index"}})
    );
    let bad_sort = search(&sim, "type:ticket", "&sort_by=subject").await;
    assert_eq!(bad_sort.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad_sort.body["error"]["message"],
        "sort_by `subject` is not one of updated_at, created_at, priority, status, ticket_type"
    );
}

#[tokio::test]
async fn a_search_the_simulator_does_not_model_is_refused_by_name() {
    let sim = search_account().await;
    for (query, why) in [
        (
            "type:organization acme",
            "`type:organization`: the simulator searches tickets and users only",
        ),
        (
            "type:ticket created>4hours",
            "`created>4hours`: relative dates (4hours, 2days) are not supported; give a date or an RFC 3339 time",
        ),
        (
            "status:open status:pending",
            "`status:pending`: status is given twice; the simulator does not model how Zendesk combines them",
        ),
        (
            "via:email",
            "`via:email`: the simulator does not support the keyword via; tickets: status, priority, \
          ticket_type, tags, requester, assignee, submitter, group, external_id, subject, description, created, \
          updated; users: email, name, role, tags, external_id, created, updated",
        ),
    ] {
        let answer = search(&sim, query, "").await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(
            answer.body,
            json!({"error": "UnsupportedSearch",
                   "description": format!("The simulator cannot answer this search: {why}")}),
            "{query}"
        );
    }
    let no_query = sim.get("/api/v2/search").await;
    assert_eq!(no_query.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_query.body["error"]["title"], "Invalid attribute");
}

#[tokio::test]
async fn users_search_finds_by_query_or_external_id_not_as_a_user_id() {
    let sim = search_account().await;
    let ids = |answer: &Answer| ticket_ids(&answer.body["users"]);
    let by_email = sim
        .get(&format!(
            "/api/v2/users/search.json?query={}",
            urlencode("email:maria@cliente.example")
        ))
        .await;
    assert_eq!(by_email.status, StatusCode::OK, "{:?}", by_email.body);
    assert_eq!(ids(&by_email), vec![1]);
    let keys: BTreeSet<&str> = by_email
        .body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["users", "next_page", "previous_page", "count"])
    );
    assert_eq!(by_email.body["count"], 1);
    // node-zendesk and zenpy send the bare address.
    let bare = sim
        .get(&format!(
            "/api/v2/users/search?query={}",
            urlencode("joao@cliente.example")
        ))
        .await;
    assert_eq!(ids(&bare), vec![2]);
    let partial = sim.get("/api/v2/users/search?query=cliente").await;
    assert_eq!(ids(&partial), vec![1, 2, 3]);
    let external = sim.get("/api/v2/users/search?external_id=crm-1").await;
    assert_eq!(ids(&external), vec![1]);
    let nobody = sim.get("/api/v2/users/search?external_id=crm-404").await;
    assert_eq!((ids(&nobody), &nobody.body["count"]), (vec![], &json!(0)));
    let neither = sim.get("/api/v2/users/search").await;
    assert_eq!(neither.status, StatusCode::BAD_REQUEST);
    assert_eq!(neither.body["error"]["title"], "Invalid attribute");
    let tickets_only = sim.get("/api/v2/users/search?query=type%3Aticket").await;
    assert_eq!(tickets_only.status, StatusCode::BAD_REQUEST);
    assert_eq!(tickets_only.body["error"], "UnsupportedSearch");
}

#[tokio::test]
async fn groups_are_created_with_201_a_location_and_zendesks_validation() {
    let sim = Sim::start(SimOptions {
        seed: serde_json::from_value(json!({"groups": [{"id": 10, "name": "Suporte"}]})).expect("seed"),
        ..SimOptions::default()
    })
    .await;
    let created = sim
        .post("/api/v2/groups.json", json!({"group": {"name": "Ouvidoria"}}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let group = &created.body["group"];
    let id = group["id"].as_u64().expect("id");
    let keys: BTreeSet<&str> = group
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "url",
            "id",
            "is_public",
            "name",
            "description",
            "default",
            "deleted",
            "created_at",
            "updated_at"
        ]),
        "the recorded group's keys"
    );
    assert_eq!(
        (
            &group["name"],
            &group["description"],
            &group["is_public"],
            &group["default"],
            &group["deleted"]
        ),
        (
            &json!("Ouvidoria"),
            &json!(""),
            &json!(true),
            &json!(false),
            &json!(false)
        )
    );
    assert_eq!(created.header("location"), group["url"].as_str().expect("url"));
    assert!(
        created
            .header("location")
            .ends_with(&format!("/api/v2/groups/{id}.json"))
    );
    assert_eq!(
        sim.get(&format!("/api/v2/groups/{id}")).await.body["group"]["name"],
        "Ouvidoria"
    );
    let listed = sim.get("/api/v2/groups").await;
    assert_eq!(ticket_ids(&listed.body["groups"]).len(), 2);

    let duplicate = sim
        .post("/api/v2/groups", json!({"group": {"name": "suporte"}}))
        .await;
    assert_eq!(duplicate.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        duplicate.body,
        json!({"error": "RecordInvalid", "description": "Record validation errors",
               "details": {"name": [{"description": "Name: suporte has already been taken", "error": "DuplicateValue"}]}})
    );
    let blank = sim.post("/api/v2/groups", json!({"group": {"name": "  "}})).await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        blank.body["details"]["name"][0],
        json!({"description": "Name: is too short (minimum one character)", "error": "ValueTooShort"})
    );
    let nameless = sim.post("/api/v2/groups", json!({"group": {}})).await;
    assert_eq!(nameless.status, StatusCode::UNPROCESSABLE_ENTITY);
    let no_group = sim.post("/api/v2/groups", json!({"name": "Solto"})).await;
    assert_eq!(no_group.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        no_group.body["description"],
        "The request body needs a `group` object"
    );
}

#[tokio::test]
async fn uploads_become_comment_attachments_served_by_the_simulator() {
    let sim = Sim::start(SimOptions::default()).await;
    let uploaded = sim
        .http
        .post(sim.url("/api/v2/uploads.json?filename=guia.pdf"))
        .basic_auth(format!("{AGENT}/token"), Some("x"))
        .header("content-type", "application/pdf")
        .body(b"%PDF-1.4 guia".to_vec())
        .send()
        .await
        .expect("upload");
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    let uploaded: Value = uploaded.json().await.expect("JSON");
    let token = uploaded["upload"]["token"].as_str().expect("token");
    assert_eq!(uploaded["upload"]["attachment"]["file_name"], "guia.pdf");
    assert_eq!(uploaded["upload"]["attachment"]["size"], 13);
    let created = sim
        .post(
            "/api/v2/tickets",
            json!({"ticket": {"comment": {"body": "Segue o guia.", "uploads": [token]}}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let comments = sim.get("/api/v2/tickets/1/comments").await;
    let attachment = &comments.body["comments"][0]["attachments"][0];
    assert_eq!(attachment["content_type"], "application/pdf");
    let content_url = attachment["content_url"].as_str().expect("content_url");
    let file = sim.http.get(content_url).send().await.expect("download");
    assert_eq!(file.headers()["content-type"], "application/pdf");
    assert_eq!(file.bytes().await.expect("bytes").as_ref(), b"%PDF-1.4 guia");
}

#[tokio::test]
async fn article_search_ignores_case_and_accents_and_ranks_by_words_matched() {
    let seed = serde_json::from_value(json!({
        "articles": [
            {"id": 7, "title": "Como configurar a impressora fiscal", "body": "<p>Passo a passo da emissão</p>", "locale": "pt-br"},
            {"id": 8, "title": "Emissão de boletos", "body": "<p>Boleto em atraso</p>", "locale": "pt-br"},
            {"id": 9, "title": "Printer setup", "body": "<p>impressora</p>", "locale": "en-us"}
        ]
    }))
    .expect("seed");
    let sim = Sim::start(SimOptions {
        seed,
        ..SimOptions::default()
    })
    .await;
    let found = sim
        .get("/api/v2/help_center/articles/search.json?query=EMISSAO%20impressora&locale=pt-br")
        .await;
    assert_eq!(found.status, StatusCode::OK);
    let ids: Vec<u64> = found.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|a| a["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, vec![7, 8]);
    assert_eq!(found.body["count"], 2);
    assert_eq!(found.body["page"], 1);
    assert_eq!(found.body["per_page"], 25);
    assert_eq!(found.body["next_page"], Value::Null);
    assert_eq!(
        found.body["results"][0]["snippet"],
        "Passo a passo da <em>emissão</em>"
    );
    assert!(
        found.body["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|a| a["result_type"] == "article")
    );
    let keys: BTreeSet<&str> = found
        .body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "results",
            "count",
            "next_page",
            "previous_page",
            "page",
            "per_page",
            "page_count"
        ])
    );
    // One result a page: the next page links on, the locale kept.
    let first = sim
        .get("/api/v2/help_center/pt-br/articles/search.json?query=EMISSAO%20impressora&locale=pt-br&per_page=1")
        .await;
    assert_eq!(first.status, StatusCode::OK, "the locale may be in the path");
    assert_eq!(
        (&first.body["page_count"], &first.body["count"]),
        (&json!(2), &json!(2))
    );
    let next = first.body["next_page"].as_str().expect("next_page");
    let second = sim.get(&link_path(next)).await;
    assert_eq!(second.body["results"][0]["id"], 8);
    assert_eq!(second.body["next_page"], Value::Null);
    assert!(second.body["previous_page"].is_string());
}

#[tokio::test]
async fn the_clock_moves_forward_on_request() {
    let sim = Sim::start(SimOptions::default()).await;
    let before = sim.sim_now().await;
    let moved = sim
        .control(Method::POST, "/__sim/clock", json!({"advance_secs": 86_400}))
        .await;
    let after = parse_time(moved["now"].as_str().expect("now"));
    let ahead = after - before;
    assert!(ahead >= chrono::TimeDelta::days(1), "moved by {ahead}");
    assert!(ahead < chrono::TimeDelta::days(1) + chrono::TimeDelta::seconds(30));
    let ticket = sim.create("Amanhã").await;
    let created = parse_time(ticket["created_at"].as_str().expect("created_at"));
    assert!(
        created >= after - chrono::TimeDelta::seconds(1),
        "{created} vs {after}"
    );
    assert!(sim.handle.sim.clock().now() >= after);
}

impl Sim {
    async fn sim_now(&self) -> chrono::DateTime<chrono::Utc> {
        let now = self.control(Method::GET, "/__sim/clock", Value::Null).await;
        parse_time(now["now"].as_str().expect("now"))
    }
}

#[tokio::test]
async fn a_bearer_token_acts_as_the_first_admin_and_users_upsert_by_email() {
    let seed = serde_json::from_value(json!({
        "users": [
            {"id": 5, "name": "Cliente", "email": "cliente@example.com", "role": "end-user"},
            {"id": 6, "name": "Admin", "email": "admin@empresa.example", "role": "admin"}
        ]
    }))
    .expect("seed");
    let sim = Sim::start(SimOptions {
        seed,
        ..SimOptions::default()
    })
    .await;
    let me = sim
        .http
        .get(sim.url("/api/v2/users/me"))
        .bearer_auth("token")
        .send()
        .await
        .expect("me")
        .json::<Value>()
        .await
        .expect("JSON");
    assert_eq!(me["user"]["id"], 6);

    let upsert = json!({"user": {"email": "CLIENTE@example.com", "name": "Cliente Novo"}});
    let updated = sim.post("/api/v2/users/create_or_update", upsert).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.body["user"]["id"], 5);
    assert_eq!(updated.body["user"]["name"], "Cliente Novo");
    let created = sim
        .post(
            "/api/v2/users/create_or_update.json",
            json!({"user": {"email": "outro@example.com", "name": "Outro"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["user"]["role"], "end-user");
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let sim = Sim::start(SimOptions::default()).await;
    let url = sim.url("/__sim/state");
    let http = sim.http.clone();
    sim.handle.shutdown().await.expect("clean shutdown");
    let err = http.get(url).send().await.expect_err("nobody listens");
    assert!(err.is_connect(), "{err}");
}

#[test]
fn a_seed_error_names_the_file_and_the_json_path() {
    let dir = std::env::temp_dir().join(format!("carteiro-sim-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("seed.json");
    std::fs::write(
        &path,
        r#"{"tickets": [{"id": 1, "status": "bogus", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}]}"#,
    )
    .expect("write seed");
    let err = sim::Seed::from_path(&path).expect_err("bad status");
    let message = format!("{err:#}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("tickets[0].status"), "{message}");
    assert!(message.contains("unknown variant `bogus`"), "{message}");

    std::fs::write(&path, r#"{"tickets": [], "ticket": []}"#).expect("write seed");
    let err = sim::Seed::from_path(&path).expect_err("unknown key");
    assert!(format!("{err:#}").contains("unknown field `ticket`"), "{err:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn parse_time(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("RFC 3339")
        .with_timezone(&chrono::Utc)
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
