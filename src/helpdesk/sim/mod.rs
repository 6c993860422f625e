//! The Zendesk-compatible simulator: an HTTP server that models the parts of
//! the Zendesk Support API carteiro uses, with Zendesk's semantics (closed
//! tickets refuse updates, `safe_update` conflicts, cursor exports, bulk
//! jobs, custom statuses, follow-ups, rate limits) plus fault injection.
//!
//! Tests and `carteiro demo` run the real client against it, so the code
//! under test is the production client. Its state is in memory; `/__sim/*`
//! endpoints inspect it and steer it (clock, rate limit, faults).
//!
//! Like a real account, it runs its ticket triggers (Zendesk's standard set
//! unless the seed gives others) on every API create and update, and sends
//! the e-mail notifications they make to the outlet the simulator was
//! started with (SMTP, Maildirs, or nowhere).
//!
//! Layout: `state` is the account and its pure operations, `export` the
//! incremental export, `limits` rate limiting and faults, `routes` the
//! `/api/v2` handlers, `paging` offset and cursor pagination, `control`
//! the `/__sim` endpoints, `render` the URLs in answers, `defaults` the
//! values Zendesk always answers, `search` the search query language,
//! `articles` Help Center search, `triggers` the triggers and their cycle,
//! `trigger_routes` the Triggers API, `notify` the e-mails they make,
//! `outlet` their delivery.

mod account;
mod api_error;
mod articles;
mod control;
mod defaults;
mod export;
mod idempotency;
mod limits;
mod notify;
mod outlet;
mod paging;
mod render;
mod routes;
mod search;
mod state;
mod trigger_routes;
mod triggers;

use std::collections::BTreeMap;
use std::fs;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use chrono::{DateTime, Datelike, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub use account::{AccountProfile, AccountSettings, SettingsChange, TicketSettings, TicketSettingsChange};
pub use outlet::MailOutlet;
pub use triggers::SeedTrigger;

use crate::clock::{Clock, OffsetClock};
use crate::helpdesk::model::{Article, CustomStatus, Group, Ticket, TicketField, User};
use limits::{FaultQueue, RateLimiter, TIMEOUT_HOLD};
use notify::{DeliveryState, Outgoing};
use state::State;

/// The largest request body accepted (uploads): Zendesk's attachment limit.
const MAX_BODY_BYTES: usize = 50 * 1024 * 1024;

/// The account the simulator starts with. Every list may be left out.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Each category without a `default` status gets Zendesk's ("New", "Open", ...).
    #[serde(default)]
    pub custom_statuses: Vec<CustomStatus>,
    #[serde(default)]
    pub ticket_fields: Vec<TicketField>,
    #[serde(default)]
    pub tickets: Vec<Ticket>,
    #[serde(default)]
    pub articles: Vec<Article>,
    /// The account's settings; each left out keeps a new account's default.
    #[serde(default)]
    pub settings: AccountSettings,
    /// The account's name, subdomain and support address.
    #[serde(default)]
    pub account: AccountProfile,
    /// The account's ticket triggers. Left out: Zendesk's standard set, as
    /// a new account has; given (even empty): exactly these.
    #[serde(default)]
    pub triggers: Option<Vec<SeedTrigger>>,
}

impl Seed {
    /// Reads a seed from a JSON file. Errors name the file and the JSON path
    /// of the problem, e.g. `tickets[2].status`.
    pub fn from_path(path: &Path) -> anyhow::Result<Seed> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read simulator seed {}", path.display()))?;
        let mut de = serde_json::Deserializer::from_str(&text);
        let seed: Seed = serde_path_to_error::deserialize(&mut de).map_err(|err| {
            let at = err.path().to_string();
            let inner = err.into_inner();
            anyhow::anyhow!(
                "simulator seed {}: at `{at}` (line {}, column {}): {inner}",
                path.display(),
                inner.line(),
                inner.column()
            )
        })?;
        de.end()
            .with_context(|| format!("simulator seed {}: trailing data", path.display()))?;
        Ok(seed)
    }
}

/// A request budget: `limit` requests per fixed `window`. Written as
/// `{"limit": N, "window_secs": S}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RateLimitSpec")]
pub struct RateLimit {
    pub limit: u32,
    pub window: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitSpec {
    limit: u32,
    window_secs: u64,
}

impl TryFrom<RateLimitSpec> for RateLimit {
    type Error = String;

    fn try_from(spec: RateLimitSpec) -> Result<RateLimit, String> {
        if spec.window_secs == 0 {
            return Err("window_secs must be at least 1".to_owned());
        }
        Ok(RateLimit {
            limit: spec.limit,
            window: Duration::from_secs(spec.window_secs),
        })
    }
}

impl RateLimit {
    /// The limit in the shape it is written in.
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "limit": self.limit, "window_secs": self.window.as_secs() })
    }
}

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub seed: Seed,
    /// "Now" for the account. `/__sim/clock` moves the simulator's view of
    /// it forward; read that view with [`Simulator::clock`].
    pub clock: Arc<dyn Clock>,
    /// Lifts Zendesk's rule that an export's `start_time` be at least a
    /// minute in the past (for tests that export what they just created).
    pub relax_export_start: bool,
    /// `None`: unlimited (the headers still report a large budget).
    pub rate_limit: Option<RateLimit>,
    /// How many polls of a job answer `queued`/`working` before `completed`.
    pub job_delay_polls: u32,
    /// Where the triggers' e-mail notifications are delivered.
    pub mail_outlet: MailOutlet,
}

impl Default for SimOptions {
    fn default() -> SimOptions {
        SimOptions {
            seed: Seed::default(),
            clock: Arc::new(OffsetClock::new()),
            relax_export_start: false,
            rate_limit: None,
            job_delay_polls: 1,
            mail_outlet: MailOutlet::None,
        }
    }
}

/// The simulator's clock: the injected clock plus however far
/// `POST /__sim/clock` moved it.
#[derive(Debug)]
struct SimClock {
    base: Arc<dyn Clock>,
    offset: Mutex<TimeDelta>,
}

impl SimClock {
    /// Moves the clock by `by`; refused when "now" would leave the range
    /// of four-digit years.
    fn advance(&self, by: TimeDelta) -> Result<DateTime<Utc>, String> {
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        let moved = offset.checked_add(&by).and_then(|o| {
            let now = self.base.now().checked_add_signed(o)?;
            (0..=9999).contains(&now.year()).then_some((o, now))
        });
        match moved {
            Some((moved, now)) => {
                *offset = moved;
                Ok(now)
            }
            None => Err(format!("moving the clock by {by} leaves the years 0 to 9999")),
        }
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        let base = self.base.now();
        let offset = *self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        base.checked_add_signed(offset).unwrap_or(base)
    }
}

/// Everything mutable, behind the one lock.
#[derive(Debug)]
struct World {
    state: State,
    limiter: RateLimiter,
    faults: FaultQueue,
    /// Requests per `"METHOD /route/template"`.
    requests: BTreeMap<String, u64>,
    /// `/api/v2` answers per HTTP status, e.g. how many 429s were sent.
    responses: BTreeMap<u16, u64>,
    /// `http://host:port` once serving, for answers built without a request.
    base_url: Option<String>,
}

#[derive(Debug)]
struct Inner {
    world: Mutex<World>,
    clock: Arc<SimClock>,
    relax_export_start: bool,
    job_delay_polls: u32,
    /// Flips to `true` at shutdown, releasing responses held by faults.
    release: watch::Sender<bool>,
    /// The delivery task's queue; `None` without a mail outlet.
    deliveries: Option<UnboundedSender<Outgoing>>,
    /// The delivery task's end of the queue until the task starts (at once
    /// inside a tokio runtime, else when serving starts).
    idle_delivery: Mutex<Option<(MailOutlet, UnboundedReceiver<Outgoing>)>>,
}

/// A running (or ready to run) simulated Zendesk account. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl Simulator {
    /// A simulator holding `options.seed`.
    pub fn new(options: SimOptions) -> Simulator {
        let clock = Arc::new(SimClock {
            base: options.clock,
            offset: Mutex::new(TimeDelta::zero()),
        });
        let mut state = State::new(options.seed, clock.now());
        defaults::complete_seed(&mut state, clock.now());
        let (release, _) = watch::channel(false);
        let (deliveries, idle_delivery) = match options.mail_outlet {
            MailOutlet::None => (None, None),
            outlet => {
                let (queue, receiver) = unbounded_channel();
                (Some(queue), Some((outlet, receiver)))
            }
        };
        let sim = Simulator {
            inner: Arc::new(Inner {
                world: Mutex::new(World {
                    state,
                    limiter: RateLimiter::new(options.rate_limit),
                    faults: FaultQueue::default(),
                    requests: BTreeMap::new(),
                    responses: BTreeMap::new(),
                    base_url: None,
                }),
                clock,
                relax_export_start: options.relax_export_start,
                job_delay_polls: options.job_delay_polls,
                release,
                deliveries,
                idle_delivery: Mutex::new(idle_delivery),
            }),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            sim.start_delivery();
        }
        sim
    }

    /// Starts the delivery task, once. It holds the simulator weakly: it
    /// ends when the last handle on the simulator is dropped.
    fn start_delivery(&self) {
        let idle = self
            .inner
            .idle_delivery
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((outlet, receiver)) = idle {
            let weak: Weak<Inner> = Arc::downgrade(&self.inner);
            tokio::spawn(outlet::deliver(outlet, receiver, weak));
        }
    }

    /// Hands the e-mails the last request made to the delivery task, or,
    /// without an outlet, marks them recorded.
    fn hand_over(&self, world: &mut World) {
        for mail in world.state.take_outbox() {
            let index = mail.index;
            let queued = match &self.inner.deliveries {
                Some(queue) => queue.send(mail).is_ok(),
                None => false,
            };
            if let Some(notification) = world.state.notifications.get_mut(index) {
                for delivery in &mut notification.delivery {
                    delivery.state = match (&self.inner.deliveries, queued) {
                        (None, _) => DeliveryState::Recorded,
                        (Some(_), true) => DeliveryState::Pending,
                        (Some(_), false) => {
                            delivery.reply = Some("the delivery task has stopped".to_owned());
                            DeliveryState::Failed
                        }
                    };
                }
            }
        }
    }

    /// The HTTP routes: `/api/v2/...` (also with `.json`) and `/__sim/...`.
    pub fn router(&self) -> Router {
        Router::new()
            .fallback(routes::handle)
            .with_state(self.clone())
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
    }

    /// Serves on `listener` until `shutdown` completes, then finishes the
    /// requests in flight (responses held by a timeout fault are released).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if let Ok(addr) = listener.local_addr() {
            self.world().base_url = Some(format!("http://{addr}"));
        }
        self.start_delivery();
        let sim = self.clone();
        let signal = async move {
            shutdown.await;
            sim.inner.release.send_replace(true);
        };
        axum::serve(listener, self.router())
            .with_graceful_shutdown(signal)
            .await
    }

    /// Everything the simulator holds, as `GET /__sim/state` shows it.
    pub fn state_json(&self) -> Value {
        let world = self.world();
        let base = world
            .base_url
            .clone()
            .unwrap_or_else(|| "http://localhost".to_owned());
        control::state_json(&world, &base, self.now(), self.inner.job_delay_polls)
    }

    /// Every e-mail the triggers sent, as `GET /__sim/notifications` shows
    /// them.
    pub fn notifications_json(&self) -> Value {
        control::notifications_json(&self.world())
    }

    /// The simulator's clock, including what `/__sim/clock` advanced.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.inner.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits, when one of `ids` last changed within the current second,
    /// until the clock reaches the next one: `updated_at` is whole seconds
    /// and each change of a ticket gets a later one, so a quick second
    /// write waits for it rather than stamping a time ahead of the clock.
    /// A clock that does not move (a stopped test clock) is not waited
    /// on: the write then takes the next second.
    async fn hold_until_a_new_second(&self, ids: &[crate::helpdesk::Id]) {
        let latest = {
            let world = self.world();
            ids.iter()
                .filter_map(|id| world.state.tickets.get(id).map(|t| t.updated_at))
                .max()
        };
        let Some(latest) = latest else { return };
        let now = self.now();
        let next = state::whole(latest) + TimeDelta::seconds(1);
        if now >= next {
            return;
        }
        let wait = (next - now).to_std().unwrap_or_default();
        // More than a second ahead already (a clock moved back, a seed in
        // the future): waiting would not help.
        if wait <= Duration::from_millis(1_000) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits [`TIMEOUT_HOLD`], or until the server shuts down.
    async fn hold(&self) {
        let mut released = self.inner.release.subscribe();
        let wait_release = async move {
            loop {
                let done = *released.borrow_and_update();
                if done || released.changed().await.is_err() {
                    break;
                }
            }
        };
        tokio::select! {
            () = tokio::time::sleep(TIMEOUT_HOLD) => {}
            () = wait_release => {}
        }
    }
}

/// A simulator serving on loopback in a background task. Dropping it stops
/// the server.
#[derive(Debug)]
pub struct SimHandle {
    /// `http://127.0.0.1:PORT/`.
    pub base_url: url::Url,
    pub sim: Simulator,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl SimHandle {
    /// Stops the server and waits until it has finished.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a simulator on `127.0.0.1` on a free port, serving in a tokio
/// task.
pub async fn spawn(options: SimOptions) -> std::io::Result<SimHandle> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let base_url = url::Url::parse(&format!("http://{addr}/")).map_err(std::io::Error::other)?;
    let sim = Simulator::new(options);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(sim.clone().serve(listener, async move {
        let _ = stopped.await;
    }));
    Ok(SimHandle {
        base_url,
        sim,
        stop: Some(stop),
        task: Some(task),
    })
}
