//! Shared set-up for integration tests: a simulator on a free loopback port
//! and the real Zendesk client pointed at it.

#![allow(dead_code, reason = "each test binary uses a different part of this module")]

pub mod daemon;
pub mod mail;

use std::future::Future;
use std::time::{Duration, Instant};

use carteiro::helpdesk::sim::{self, Seed, SimHandle, SimOptions};
use carteiro::helpdesk::zendesk::{Auth, ClientSettings, ZendeskClient, ZendeskClientBuilder};
use carteiro::secret::Secret;
use serde_json::{Value, json};

/// The agent the tests' client acts as.
pub const AGENT: &str = "carteiro@empresa.example";

/// A reqwest client for talking to the simulator directly.
pub fn plain_http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// The real client for `base`, with test-sized timeouts and backoff.
pub fn client(
    base: url::Url,
    tune: impl FnOnce(ZendeskClientBuilder) -> ZendeskClientBuilder,
) -> ZendeskClient {
    client_with_reserve(base, 10, tune)
}

/// Like [`client`], keeping `reserve` requests of the rate budget back.
pub fn client_with_reserve(
    base: url::Url,
    reserve: u32,
    tune: impl FnOnce(ZendeskClientBuilder) -> ZendeskClientBuilder,
) -> ZendeskClient {
    client_as(base, AGENT, reserve, tune)
}

/// A client acting as `email`: the simulator makes anyone it does not
/// know an agent, so this is how a test's human agent acts.
pub fn client_as(
    base: url::Url,
    email: &str,
    reserve: u32,
    tune: impl FnOnce(ZendeskClientBuilder) -> ZendeskClientBuilder,
) -> ZendeskClient {
    let auth = Auth::ApiToken {
        email: email.to_owned(),
        token: Secret::new("test-token"),
    };
    let settings = ClientSettings {
        request_timeout: Duration::from_secs(2),
        max_retries: 3,
        rate_limit_reserve: reserve,
        max_backoff: Duration::from_millis(200),
        ..ClientSettings::new(base, auth)
    };
    let builder = ZendeskClient::builder(settings)
        .min_backoff(Duration::from_millis(20))
        .job_poll_interval(Duration::from_millis(10));
    tune(builder).build().expect("client")
}

/// A running simulator and a client for it.
pub struct Sim {
    pub handle: SimHandle,
    pub client: ZendeskClient,
}

/// Options for [`Sim`] beyond the simulator's own.
pub struct SimBuilder {
    options: SimOptions,
    page_size: Option<u32>,
    reserve: Option<u32>,
}

impl SimBuilder {
    pub fn export_page_size(mut self, size: u32) -> SimBuilder {
        self.page_size = Some(size);
        self
    }

    pub fn reserve(mut self, reserve: u32) -> SimBuilder {
        self.reserve = Some(reserve);
        self
    }

    pub async fn start(self) -> Sim {
        let handle = sim::spawn(self.options).await.expect("start the simulator");
        let page_size = self.page_size;
        let client =
            client_with_reserve(
                handle.base_url.clone(),
                self.reserve.unwrap_or(10),
                |b| match page_size {
                    Some(size) => b.export_page_size(size),
                    None => b,
                },
            );
        Sim { handle, client }
    }
}

impl Sim {
    /// A simulator on the strict account (see [`strict`]).
    pub fn builder(options: SimOptions) -> SimBuilder {
        SimBuilder {
            options: strict(options),
            page_size: None,
            reserve: None,
        }
    }

    pub async fn start(options: SimOptions) -> Sim {
        Sim::builder(options).start().await
    }

    pub async fn start_with_seed(seed: Value) -> Sim {
        let seed: Seed = serde_json::from_value(seed).expect("a valid seed");
        Sim::start(SimOptions {
            seed,
            ..SimOptions::default()
        })
        .await
    }

    /// Moves the simulator's clock forward (`POST /__sim/clock`).
    pub async fn advance_clock(&self, secs: u64) {
        let url = self.handle.base_url.join("/__sim/clock").expect("url");
        let response = plain_http()
            .post(url)
            .json(&serde_json::json!({ "advance_secs": secs }))
            .send()
            .await
            .expect("clock");
        assert!(response.status().is_success(), "{}", response.status());
    }

    /// Queues faults (`POST /__sim/faults`).
    pub async fn faults(&self, faults: Value) {
        let url = self.handle.base_url.join("/__sim/faults").expect("url");
        let response = plain_http()
            .post(url)
            .json(&json!({ "faults": faults }))
            .send()
            .await
            .expect("inject faults");
        assert!(
            response.status().is_success(),
            "faults refused: {}",
            response.status()
        );
    }

    /// The whole simulator state (`GET /__sim/state`).
    pub async fn state(&self) -> Value {
        let url = self.handle.base_url.join("/__sim/state").expect("url");
        plain_http()
            .get(url)
            .send()
            .await
            .expect("state")
            .json()
            .await
            .expect("state JSON")
    }
}

/// How many tickets in the simulator carry `external_id`.
pub async fn ticket_count_with_external_id(sim: &Sim, external_id: &str) -> usize {
    let state = sim.state().await;
    state["tickets"]
        .as_array()
        .expect("tickets in state")
        .iter()
        .filter(|t| t["external_id"] == external_id)
        .count()
}

impl Sim {
    /// How many `/api/v2` requests the simulator answered with 429.
    pub async fn rejected_with_429(&self) -> u64 {
        self.state().await["responses"]["429"].as_u64().unwrap_or(0)
    }
}

/// Polls `probe` every 100 ms until it gives a value, and returns it.
/// Panics after `within` with `what` and what `context` says of the state
/// then (a log, the tickets), so a timeout explains itself.
pub async fn poll_until<T, F, Fut>(
    what: &str,
    within: Duration,
    context: impl Fn() -> String,
    mut probe: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fresh folder under cargo's test temporary folder, named after `name`
/// and unique per process and call.
pub fn test_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("create the test folder");
    dir
}

/// Copies the shipped `rules/PACK.toml` into the rules folder `to`, its
/// text passed through `edit` (what an admin changes), with the files of
/// `rules/templates/` and `rules/anexos/` whose names start with `prefix`:
/// the test runs exactly what ships, without the other packs.
pub fn copy_pack(pack: &str, prefix: &str, to: &std::path::Path, edit: impl FnOnce(String) -> String) {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for sub in ["templates", "anexos"] {
        std::fs::create_dir_all(to.join(sub)).expect("create the rules folder");
        for entry in std::fs::read_dir(shipped.join(sub)).expect("read the shipped rules") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with(prefix) {
                std::fs::copy(&path, to.join(sub).join(name)).expect("copy a pack file");
            }
        }
    }
    let file = format!("{pack}.toml");
    let text = std::fs::read_to_string(shipped.join(&file)).expect("read the pack");
    std::fs::write(to.join(&file), edit(text)).expect("write the pack");
}

/// The instant `rfc3339` names, e.g. `"2026-12-01T10:00:00-03:00"`.
pub fn instant(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|err| panic!("{rfc3339:?} is not an RFC 3339 instant: {err}"))
        .with_timezone(&chrono::Utc)
}

/// A clock that reads `rfc3339` now and runs on from there: a scenario
/// starts on its own day, whatever day the test runs.
pub fn clock_from(rfc3339: &str) -> std::sync::Arc<carteiro::clock::OffsetClock> {
    std::sync::Arc::new(carteiro::clock::OffsetClock::starting_at(instant(rfc3339)))
}

/// `options` on the strictest account: "Auto-assign tickets upon solve"
/// off, so a solve without an assignee is refused as a real account that
/// turned it off refuses it. carteiro must cope with that account.
pub fn strict(mut options: SimOptions) -> SimOptions {
    options.seed.settings.tickets.assign_tickets_upon_solve = false;
    options
}

/// `update` as an agent acting through `client` sends it: solving or
/// closing a ticket nobody is assigned to, the agent takes it in the same
/// write (the strict account refuses a solve without an assignee).
pub async fn taking_if_solving(
    client: &ZendeskClient,
    ticket: &carteiro::helpdesk::Ticket,
    mut update: carteiro::helpdesk::TicketUpdate,
) -> carteiro::helpdesk::TicketUpdate {
    use carteiro::helpdesk::{HelpDesk, Status};
    let solving = matches!(update.status, Some(Status::Solved | Status::Closed));
    if solving && ticket.assignee_id.is_none() && update.assignee_id.is_none() {
        update.assignee_id = Some(client.me().await.expect("who the agent is").id);
    }
    update
}

/// Makes on the simulator at `base` exactly the change rules/README.md
/// ("In Zendesk") asks of an admin (the demo makes it too).
pub async fn deactivate_requester_triggers(base: &url::Url) {
    carteiro::demo::deactivate_requester_triggers(base)
        .await
        .expect("the README's trigger change");
}

/// `options` with the simulator mailing its triggers' notifications
/// through the tests' Postfix, so a customer's mailbox holds every mail a
/// real account would send, Zendesk's and carteiro's.
pub fn zendesk_mails_through(mut options: SimOptions, servers: &mail::MailServers) -> SimOptions {
    options.mail_outlet = sim::MailOutlet::Smtp {
        host: "127.0.0.1".to_owned(),
        port: servers.smtp_port,
    };
    options
}
