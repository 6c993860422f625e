//! The Zendesk Support API client: the production [`HelpDesk`].
//!
//! It paces itself by the rate-limit headers, waits out 429s, retries 5xx
//! and timeouts with backoff and jitter, and retries a create only behind an
//! idempotency guard (an `external_id` lookup), so that a retry never makes a
//! second ticket. It counts its requests per endpoint, for metrics and the
//! calls-per-event figure.
//!
//! [`HelpDesk`]: super::HelpDesk

mod api;
pub mod pacing;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use super::error::{ApiErrorBody, HelpDeskError};
use super::wire;
use crate::clock::{Clock, SystemClock};
use crate::secret::Secret;
use pacing::Pacer;

/// How the client proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `{email}/token:{token}` in HTTP basic auth.
    ApiToken { email: String, token: Secret },
    /// An OAuth access token, sent as a bearer token.
    OAuth { token: Secret },
}

impl Auth {
    fn header_value(&self) -> Result<HeaderValue, String> {
        let value = match self {
            Auth::ApiToken { email, token } => {
                let raw = format!("{email}/token:{}", token.expose());
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
            }
            Auth::OAuth { token } => format!("Bearer {}", token.expose()),
        };
        let mut header = HeaderValue::from_str(&value)
            .map_err(|_| "the credentials contain characters not allowed in an HTTP header".to_owned())?;
        header.set_sensitive(true);
        Ok(header)
    }
}

/// What the client needs to know; built from the `[zendesk]` config section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// `https://{subdomain}.zendesk.com`, or the simulator's address.
    pub base_url: Url,
    pub auth: Auth,
    /// How long one HTTP request may take before it counts as timed out.
    pub request_timeout: Duration,
    /// How many times a failed request is retried (5xx, timeouts, 429s).
    pub max_retries: u32,
    /// Requests kept in reserve: when the rate-limit budget left falls to
    /// this, the client waits for the window to reset.
    pub rate_limit_reserve: u32,
    /// Upper bound of one backoff wait.
    pub max_backoff: Duration,
}

impl ClientSettings {
    /// Settings with the defaults for everything but address and credentials.
    pub fn new(base_url: Url, auth: Auth) -> ClientSettings {
        ClientSettings {
            base_url,
            auth,
            request_timeout: Duration::from_secs(30),
            max_retries: 5,
            rate_limit_reserve: 10,
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// Whether a request may be sent again when its outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// Sending it twice has the effect of sending it once (reads, tag adds,
    /// `safe_update` writes, user upserts, uploads).
    Safe,
    /// It may create something: retry only when the server certainly did
    /// not act on it (429, connection refused).
    OnlyIfUnsent,
}

/// A request body.
#[derive(Debug)]
enum Body {
    None,
    Json(Vec<u8>),
    Raw { content_type: String, bytes: Vec<u8> },
}

/// One logical API call, possibly sent several times.
#[derive(Debug)]
struct Call {
    method: Method,
    /// The endpoint template (`PUT /api/v2/tickets/{id}`): the key for
    /// counts, budgets and error messages.
    endpoint: &'static str,
    path: String,
    query: Vec<(String, String)>,
    body: Body,
    replay: Replay,
    /// Sent as `Idempotency-Key`: Zendesk answers a repeat of the same
    /// create with the first result instead of a second ticket.
    idempotency_key: Option<String>,
}

impl Call {
    fn new(method: Method, endpoint: &'static str, path: impl Into<String>) -> Call {
        let replay = if method == Method::GET {
            Replay::Safe
        } else {
            Replay::OnlyIfUnsent
        };
        Call {
            method,
            endpoint,
            path: path.into(),
            query: Vec::new(),
            body: Body::None,
            replay,
            idempotency_key: None,
        }
    }

    fn idempotency_key(mut self, key: Option<&str>) -> Call {
        self.idempotency_key = key.map(str::to_owned);
        self
    }

    fn query(mut self, key: &str, value: impl ToString) -> Call {
        self.query.push((key.to_owned(), value.to_string()));
        self
    }

    fn json<T: Serialize>(mut self, body: &T) -> Result<Call, HelpDeskError> {
        let bytes = serde_json::to_vec(body).map_err(|err| HelpDeskError::Decode {
            endpoint: self.endpoint.to_owned(),
            message: format!("cannot encode the request: {err}"),
        })?;
        self.body = Body::Json(bytes);
        Ok(self)
    }

    fn replay(mut self, replay: Replay) -> Call {
        self.replay = replay;
        self
    }
}

/// A failed send, and whether the server may have acted on it.
#[derive(Debug)]
struct SendError {
    error: HelpDeskError,
    /// The request may have been applied (timeout, 5xx, connection cut).
    ambiguous: bool,
}

/// The body of a response that got through with a 2xx.
#[derive(Debug)]
struct Answer {
    bytes: Vec<u8>,
}

/// The Zendesk Support API client.
#[derive(Debug, Clone)]
pub struct ZendeskClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    settings: ClientSettings,
    auth_header: HeaderValue,
    pacer: Pacer,
    counts: Mutex<BTreeMap<&'static str, u64>>,
    clock: Arc<dyn Clock>,
    /// `per_page` of the incremental export (Zendesk's default is 1,000).
    export_page_size: Option<u32>,
    /// First wait between job status polls; doubles up to 2 s.
    job_poll_interval: Duration,
    /// Floor of the backoff between retries.
    min_backoff: Duration,
}

impl ZendeskClient {
    /// Builds a client. Fails only on credentials that cannot be sent.
    pub fn new(settings: ClientSettings) -> Result<ZendeskClient, HelpDeskError> {
        ZendeskClientBuilder::new(settings).build()
    }

    /// A builder, for the knobs tests and the daemon tune.
    pub fn builder(settings: ClientSettings) -> ZendeskClientBuilder {
        ZendeskClientBuilder::new(settings)
    }

    /// Requests sent so far, per endpoint template, retries included.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        let counts = self.inner.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    /// All requests sent so far.
    pub fn total_requests(&self) -> u64 {
        let counts = self.inner.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.values().sum()
    }

    /// The account-wide rate-limit budget left, as last reported.
    pub fn rate_limit_remaining(&self) -> Option<u32> {
        self.inner.pacer.remaining()
    }

    fn count(&self, endpoint: &'static str) {
        let mut counts = self.inner.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(endpoint).or_default() += 1;
    }

    fn url(&self, path: &str) -> Result<Url, HelpDeskError> {
        self.inner
            .settings
            .base_url
            .join(path)
            .map_err(|err| HelpDeskError::Transport {
                endpoint: path.to_owned(),
                message: format!("cannot build the URL: {err}"),
            })
    }

    /// Sends `call`, pacing, retrying and classifying its answer.
    async fn send(&self, call: &Call) -> Result<Answer, SendError> {
        let endpoint = call.endpoint;
        let url = self.url(&call.path).map_err(|error| SendError {
            error,
            ambiguous: false,
        })?;
        let settings = &self.inner.settings;
        let mut failures = 0u32;
        let mut rate_limited = 0u32;
        let mut ambiguous_before = false;
        loop {
            self.pace(endpoint).await;
            self.count(endpoint);
            let mut request = self
                .inner
                .http
                .request(call.method.clone(), url.clone())
                .header(AUTHORIZATION, self.inner.auth_header.clone())
                .query(&call.query);
            if let Some(key) = &call.idempotency_key {
                request = request.header("Idempotency-Key", key.as_str());
            }
            request = match &call.body {
                Body::None => request,
                Body::Json(bytes) => request
                    .header(CONTENT_TYPE, "application/json")
                    .body(bytes.clone()),
                Body::Raw { content_type, bytes } => request
                    .header(CONTENT_TYPE, content_type.as_str())
                    .body(bytes.clone()),
            };
            let result = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    self.inner.pacer.observe(endpoint, &headers, Instant::now());
                    match response.bytes().await {
                        Ok(bytes) => Ok((status, headers, bytes.to_vec())),
                        Err(err) => Err(err),
                    }
                }
                Err(err) => Err(err),
            };

            let (wait, error, ambiguous) = match result {
                Ok((status, _, bytes)) if status.is_success() => return Ok(Answer { bytes }),
                Ok((status, headers, bytes)) if status == StatusCode::TOO_MANY_REQUESTS => {
                    // Not processed: always safe to send again, after the wait.
                    rate_limited += 1;
                    let retry_after = pacing::retry_after(&headers);
                    let error = HelpDeskError::from_status(
                        endpoint,
                        status.as_u16(),
                        ApiErrorBody::parse(&bytes).as_ref(),
                        retry_after,
                    );
                    if rate_limited > settings.max_retries.saturating_mul(4).max(8) {
                        return Err(SendError {
                            error,
                            ambiguous: ambiguous_before,
                        });
                    }
                    let wait = retry_after.unwrap_or_else(|| self.backoff(rate_limited));
                    tracing::warn!(
                        endpoint,
                        wait_ms = wait.as_millis() as u64,
                        "zendesk rate limit hit, waiting"
                    );
                    tokio::time::sleep(wait).await;
                    self.inner.pacer.window_passed(Instant::now());
                    continue;
                }
                Ok((status, headers, bytes)) if status.is_server_error() => {
                    let error = HelpDeskError::from_status(
                        endpoint,
                        status.as_u16(),
                        ApiErrorBody::parse(&bytes).as_ref(),
                        pacing::retry_after(&headers),
                    );
                    (pacing::retry_after(&headers), error, true)
                }
                Ok((status, headers, bytes)) => {
                    let body = ApiErrorBody::parse(&bytes);
                    let mut error = HelpDeskError::from_status(
                        endpoint,
                        status.as_u16(),
                        body.as_ref(),
                        pacing::retry_after(&headers),
                    );
                    if let HelpDeskError::Conflict { after_retry, .. } = &mut error {
                        *after_retry = ambiguous_before;
                    }
                    return Err(SendError {
                        error,
                        ambiguous: ambiguous_before,
                    });
                }
                Err(err) => {
                    // A refused connection never reached Zendesk; anything
                    // else (timeout, reset) may have been applied.
                    let unsent = err.is_connect() && !err.is_timeout();
                    let message = if err.is_timeout() {
                        format!("no answer within {:?}", settings.request_timeout)
                    } else {
                        format!("request failed: {}", error_chain(&err))
                    };
                    let error = HelpDeskError::Transport {
                        endpoint: endpoint.to_owned(),
                        message,
                    };
                    (None, error, !unsent)
                }
            };

            failures += 1;
            ambiguous_before |= ambiguous;
            let may_replay = !ambiguous || call.replay == Replay::Safe;
            if !may_replay || failures > settings.max_retries {
                return Err(SendError {
                    error,
                    ambiguous: ambiguous_before,
                });
            }
            let wait = wait.unwrap_or_else(|| self.backoff(failures));
            tracing::warn!(endpoint, attempt = failures, wait_ms = wait.as_millis() as u64, %error, "zendesk call failed, retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits while the rate-limit budget is down to its reserve.
    async fn pace(&self, endpoint: &'static str) {
        while let Some(wait) = self.inner.pacer.reserve_slot(endpoint, Instant::now()) {
            tracing::debug!(
                endpoint,
                wait_ms = wait.as_millis() as u64,
                "pacing: budget at its reserve"
            );
            tokio::time::sleep(wait).await;
            self.inner.pacer.window_passed(Instant::now());
        }
    }

    /// Exponential backoff with jitter: a random wait in `[d/2, d]`, where
    /// `d` doubles per attempt from `min_backoff` up to `max_backoff`.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.inner.min_backoff.as_secs_f64();
        let cap = self.inner.settings.max_backoff.as_secs_f64().max(base);
        let full = (base * 2f64.powi(attempt.saturating_sub(1).min(30) as i32)).min(cap);
        Duration::from_secs_f64(rand::random_range(full / 2.0..=full))
    }

    /// Sends `call` and decodes a 2xx answer as `T`.
    async fn fetch<T: DeserializeOwned>(&self, call: &Call) -> Result<T, HelpDeskError> {
        let answer = self.send(call).await.map_err(|e| e.error)?;
        self.decode(call.endpoint, &answer.bytes)
    }

    fn decode<T: DeserializeOwned>(&self, endpoint: &'static str, bytes: &[u8]) -> Result<T, HelpDeskError> {
        wire::decode(bytes).map_err(|message| HelpDeskError::Decode {
            endpoint: endpoint.to_owned(),
            message,
        })
    }

    /// Follows an absolute `next_page` URL, but only on our own host, so
    /// credentials never leave for another server.
    fn next_page_path(
        &self,
        endpoint: &'static str,
        next: &str,
    ) -> Result<(String, Vec<(String, String)>), HelpDeskError> {
        let url = Url::parse(next).map_err(|err| HelpDeskError::Decode {
            endpoint: endpoint.to_owned(),
            message: format!("next_page is not a URL ({err}): {next}"),
        })?;
        let base = &self.inner.settings.base_url;
        if url.host() != base.host() || url.port_or_known_default() != base.port_or_known_default() {
            return Err(HelpDeskError::Decode {
                endpoint: endpoint.to_owned(),
                message: format!("next_page points at another host: {next}"),
            });
        }
        let query = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Ok((url.path().to_owned(), query))
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Builds a [`ZendeskClient`] with non-default knobs.
#[derive(Debug)]
pub struct ZendeskClientBuilder {
    settings: ClientSettings,
    clock: Arc<dyn Clock>,
    export_page_size: Option<u32>,
    job_poll_interval: Duration,
    min_backoff: Duration,
}

impl ZendeskClientBuilder {
    fn new(settings: ClientSettings) -> ZendeskClientBuilder {
        ZendeskClientBuilder {
            settings,
            clock: Arc::new(SystemClock),
            export_page_size: None,
            job_poll_interval: Duration::from_millis(250),
            min_backoff: Duration::from_millis(500),
        }
    }

    /// The clock that decides how far back an export may start.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> ZendeskClientBuilder {
        self.clock = clock;
        self
    }

    /// Tickets per export page (Zendesk allows up to 1,000).
    pub fn export_page_size(mut self, size: u32) -> ZendeskClientBuilder {
        self.export_page_size = Some(size.clamp(1, 1000));
        self
    }

    /// First wait between job status polls.
    pub fn job_poll_interval(mut self, interval: Duration) -> ZendeskClientBuilder {
        self.job_poll_interval = interval;
        self
    }

    /// Floor of the retry backoff (the ceiling is `max_backoff`).
    pub fn min_backoff(mut self, backoff: Duration) -> ZendeskClientBuilder {
        self.min_backoff = backoff;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<ZendeskClient, HelpDeskError> {
        // reqwest is built without a default crypto provider; install ring's
        // (a no-op if the process already has one).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let endpoint = "client setup";
        let auth_header =
            self.settings
                .auth
                .header_value()
                .map_err(|message| HelpDeskError::Unauthorized {
                    endpoint: endpoint.to_owned(),
                    status: 0,
                    message,
                })?;
        let mut default_headers = HeaderMap::new();
        default_headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let http = reqwest::Client::builder()
            .user_agent(concat!("carteiro/", env!("CARGO_PKG_VERSION")))
            .default_headers(default_headers)
            .timeout(self.settings.request_timeout)
            .connect_timeout(self.settings.request_timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|err| HelpDeskError::Transport {
                endpoint: endpoint.to_owned(),
                message: format!("cannot build the HTTP client: {}", error_chain(&err)),
            })?;
        Ok(ZendeskClient {
            inner: Arc::new(Inner {
                http,
                pacer: Pacer::new(self.settings.rate_limit_reserve),
                settings: self.settings,
                auth_header,
                counts: Mutex::default(),
                clock: self.clock,
                export_page_size: self.export_page_size,
                job_poll_interval: self.job_poll_interval,
                min_backoff: self.min_backoff,
            }),
        })
    }
}
