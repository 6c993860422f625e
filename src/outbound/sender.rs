//! Handing a composed mail to an SMTP server, and saying what came of it.
//!
//! [`MailSender`] is the edge the outbox's delivery worker talks to;
//! [`SmtpSender`] is the real one, on lettre's SMTP client over tokio and
//! rustls. Each call sends one mail (the bytes the outbox stored) in one
//! transaction, and the answer is one of:
//! - [`Delivered`]: the server answered `250` to the end of DATA; the mail
//!   is its responsibility now. Only this may mark an outbox row sent.
//! - [`SendError::Temporary`]: try again later. Any 4xx; a connection that
//!   cannot be made or breaks; a timeout; and problems that are not this
//!   mail's fault even when the server says 5xx: TLS, STARTTLS missing, or
//!   AUTH refused (these need the admin, and the mail must wait for the fix,
//!   not bounce).
//! - [`SendError::Permanent`]: the server refused this mail with a 5xx in
//!   the mail transaction (MAIL FROM, RCPT TO, DATA). [`Stage::Recipient`]
//!   names the recipient that was refused, so the outbox can mark that one
//!   bouncing. Retrying the same bytes would get the same answer.
//!
//! A timeout or broken connection after the data was sent but before the
//! `250` arrived is `Temporary` with [`Stage::Data`]: the server may have
//! taken the mail, so a retry can duplicate it. That window is the outbox's
//! to document; it is as short as one server round trip.
//!
//! Security: `TlsMode::Implicit` and `StartTls` verify the server's
//! certificate against the Mozilla roots plus `ca_file`; STARTTLS is
//! required, never opportunistic. `Plain` sends in clear and is allowed by
//! the configuration only for a loopback host. The password leaves the
//! [`Secret`](crate::secret::Secret) only for AUTH.
//!
//! One connection is kept open between mails (checked with NOOP before
//! reuse), so a queue of mails does not pay a TLS handshake and AUTH each.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use tokio::sync::Mutex;

use super::Envelope;
use crate::config::{AuthMech, SmtpConfig, TlsMode};

/// The server took the mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The reply code to the end of DATA, `250`.
    pub code: u16,
    /// The whole reply, e.g. `250 2.0.0 Ok: queued as 4Xb2Yz`, for the log
    /// and the outbox row (the queue id finds the mail in the server's log).
    pub response: String,
}

/// Where in a send something went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// TCP connect and the greeting (and, for implicit TLS, the handshake).
    Connect,
    /// The TLS handshake (implicit TLS, or after STARTTLS) and STARTTLS
    /// itself.
    Tls,
    /// AUTH.
    Auth,
    /// MAIL FROM (the sender, or the mail's size or encoding).
    Sender,
    /// RCPT TO for this recipient.
    Recipient(String),
    /// DATA and the mail itself, up to the final reply.
    Data,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Connect => f.write_str("connect"),
            Stage::Tls => f.write_str("STARTTLS"),
            Stage::Auth => f.write_str("AUTH"),
            Stage::Sender => f.write_str("MAIL FROM"),
            Stage::Recipient(to) => write!(f, "RCPT TO:<{to}>"),
            Stage::Data => f.write_str("DATA"),
        }
    }
}

/// Why a mail was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later (4xx, network, timeout, TLS or AUTH trouble).
    #[error("temporary failure at {stage}{}: {message}", code_text(*code))]
    Temporary {
        stage: Stage,
        /// The server's reply code, when it answered.
        code: Option<u16>,
        message: String,
    },
    /// The server refused this mail for good (5xx in the mail transaction).
    #[error("permanent failure at {stage}{}: {message}", code_text(*code))]
    Permanent {
        stage: Stage,
        /// The server's reply code; `None` when carteiro itself found the
        /// mail unsendable to this server (e.g. non-ASCII without
        /// 8BITMIME).
        code: Option<u16>,
        message: String,
    },
}

fn code_text(code: Option<u16>) -> String {
    code.map(|c| format!(" ({c})")).unwrap_or_default()
}

impl SendError {
    /// Whether a retry may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(self, SendError::Temporary { .. })
    }

    /// The stage it failed at.
    pub fn stage(&self) -> &Stage {
        match self {
            SendError::Temporary { stage, .. } | SendError::Permanent { stage, .. } => stage,
        }
    }
}

/// Something that sends raw mails: the SMTP server in production.
pub trait MailSender: Send + Sync {
    /// Sends `raw` (CRLF line ends, as composed) to `envelope.to`.
    fn send(
        &self,
        envelope: &Envelope,
        raw: &[u8],
    ) -> impl Future<Output = Result<Delivered, SendError>> + Send;
}

/// Why an [`SmtpSender`] cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SenderSetupError {
    #[error("smtp.ca_file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("TLS settings for {host}: {reason}")]
    Tls { host: String, reason: String },
}

/// Sends through the configured SMTP server.
pub struct SmtpSender {
    config: SmtpConfig,
    tls: Option<TlsParameters>,
    hello: ClientId,
    /// The connection kept between mails, if any.
    connection: Mutex<Option<AsyncSmtpConnection>>,
}

impl fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSender")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// A sender for `config`; reads `ca_file` now, so a bad one is found at
    /// start. Connects only when the first mail is sent.
    pub fn new(config: &SmtpConfig) -> Result<SmtpSender, SenderSetupError> {
        let tls = match config.tls {
            TlsMode::Plain => None,
            TlsMode::Implicit | TlsMode::StartTls => {
                let mut builder = TlsParameters::builder(config.host.clone());
                if let Some(path) = &config.ca_file {
                    let ca_error = |reason: String| SenderSetupError::CaFile {
                        path: path.display().to_string(),
                        reason,
                    };
                    let pem = std::fs::read(path).map_err(|e| ca_error(format!("cannot read it: {e}")))?;
                    let cert = Certificate::from_pem(&pem)
                        .map_err(|e| ca_error(format!("not a PEM certificate: {e}")))?;
                    builder = builder.add_root_certificate(cert);
                }
                let parameters = builder.build_rustls().map_err(|e| SenderSetupError::Tls {
                    host: config.host.clone(),
                    reason: e.to_string(),
                })?;
                Some(parameters)
            }
        };
        Ok(SmtpSender {
            config: config.clone(),
            tls,
            hello: ClientId::default(),
            connection: Mutex::new(None),
        })
    }

    /// Closes the kept connection with QUIT, if there is one.
    pub async fn close(&self) {
        if let Some(mut connection) = self.connection.lock().await.take() {
            let _ = self.step(connection.quit()).await;
        }
    }

    /// `future` within the configured timeout.
    async fn step<T>(
        &self,
        future: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, StepError> {
        match tokio::time::timeout(self.config.timeout, future).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(StepError::Smtp(error)),
            Err(_) => Err(StepError::Timeout(self.config.timeout)),
        }
    }

    /// A fresh connection: connect, TLS, EHLO, AUTH.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let address = (self.config.host.as_str(), self.config.port);
        let connected = match self.config.tls {
            TlsMode::Implicit => {
                self.step(AsyncSmtpConnection::connect_tokio1(
                    address,
                    Some(self.config.timeout),
                    &self.hello,
                    self.tls.clone(),
                    None,
                ))
                .await
            }
            // Our own socket, with Nagle off: lettre writes the message and
            // the final "." in two writes, and with Nagle on the second
            // waits for the server's delayed ACK (40 ms on Linux), which
            // capped the outbox at about 23 mails/s on loopback.
            TlsMode::StartTls | TlsMode::Plain => {
                let stream = self.tcp().await?;
                self.step(AsyncSmtpConnection::connect_with_transport(
                    Box::new(stream),
                    &self.hello,
                ))
                .await
            }
        };
        let mut connection = connected.map_err(|e| e.classify(Stage::Connect, &self.config))?;
        if self.config.tls == TlsMode::StartTls {
            let Some(parameters) = self.tls.clone() else {
                return Err(SendError::Temporary {
                    stage: Stage::Tls,
                    code: None,
                    message: "no TLS parameters for STARTTLS".to_owned(),
                });
            };
            if !connection.can_starttls() {
                connection.abort().await;
                return Err(SendError::Temporary {
                    stage: Stage::Tls,
                    code: None,
                    message: format!(
                        "{}:{} does not offer STARTTLS, and smtp.tls = \"starttls\" requires it; mail waits \
                         until it does (or until smtp.tls is changed)",
                        self.config.host, self.config.port
                    ),
                });
            }
            self.step(connection.starttls(parameters, &self.hello))
                .await
                .map_err(|e| e.classify(Stage::Tls, &self.config))?;
        }
        if let Some(auth) = &self.config.auth {
            let mechanism = match auth.mechanism {
                AuthMech::Plain => Mechanism::Plain,
                AuthMech::Login => Mechanism::Login,
            };
            let credentials = Credentials::new(auth.username.clone(), auth.password.expose().to_owned());
            let result = self.step(connection.auth(&[mechanism], &credentials)).await;
            if let Err(e) = result {
                connection.abort().await;
                return Err(e.classify(Stage::Auth, &self.config));
            }
        }
        Ok(connection)
    }

    /// A TCP connection to the server with `TCP_NODELAY`, within the
    /// timeout.
    async fn tcp(&self) -> Result<tokio::net::TcpStream, SendError> {
        let server = format!("{}:{}", self.config.host, self.config.port);
        let connect = tokio::net::TcpStream::connect((self.config.host.as_str(), self.config.port));
        let failed = |message: String| SendError::Temporary {
            stage: Stage::Connect,
            code: None,
            message,
        };
        let stream = match tokio::time::timeout(self.config.timeout, connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(failed(format!("{server}: cannot connect: {e}"))),
            Err(_) => {
                return Err(failed(format!(
                    "{server} did not answer within {:?} (smtp.timeout)",
                    self.config.timeout
                )));
            }
        };
        stream
            .set_nodelay(true)
            .map_err(|e| failed(format!("{server}: cannot set TCP_NODELAY: {e}")))?;
        Ok(stream)
    }

    /// One mail transaction on `connection`.
    async fn transaction(
        &self,
        connection: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        raw: &[u8],
    ) -> Result<Delivered, SendError> {
        let permanent = |stage: Stage, message: String| SendError::Permanent {
            stage,
            code: None,
            message,
        };
        let from = lettre::Address::from_str(&envelope.from).map_err(|e| {
            permanent(
                Stage::Sender,
                format!("{:?} is not an address: {e}", envelope.from),
            )
        })?;
        let mut recipients = Vec::with_capacity(envelope.to.len());
        for to in &envelope.to {
            let address = lettre::Address::from_str(to)
                .map_err(|e| permanent(Stage::Recipient(to.clone()), format!("not an address: {e}")))?;
            recipients.push((to, address));
        }
        if recipients.is_empty() {
            return Err(permanent(
                Stage::Sender,
                "the envelope has no recipient".to_owned(),
            ));
        }
        let info = connection.server_info();
        let mut parameters = Vec::new();
        let non_ascii_address = !envelope.from.is_ascii() || envelope.to.iter().any(|to| !to.is_ascii());
        if non_ascii_address {
            if !info.supports_feature(Extension::SmtpUtfEight) {
                return Err(permanent(
                    Stage::Sender,
                    "an address is not ASCII and the server does not offer SMTPUTF8".to_owned(),
                ));
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !raw.is_ascii() {
            if !info.supports_feature(Extension::EightBitMime) {
                return Err(permanent(
                    Stage::Data,
                    "the mail is not ASCII and the server does not offer 8BITMIME".to_owned(),
                ));
            }
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        self.step(connection.command(Mail::new(Some(from), parameters)))
            .await
            .map_err(|e| e.classify(Stage::Sender, &self.config))?;
        for (to, address) in recipients {
            self.step(connection.command(Rcpt::new(address, Vec::new())))
                .await
                .map_err(|e| e.classify(Stage::Recipient(to.clone()), &self.config))?;
        }
        self.step(connection.command(Data))
            .await
            .map_err(|e| e.classify(Stage::Data, &self.config))?;
        // lettre ends the data with CRLF "." CRLF itself: a mail that ends
        // in CRLF would otherwise gain an empty last line.
        let body = raw.strip_suffix(b"\r\n").unwrap_or(raw);
        let response = self
            .step(connection.message(body))
            .await
            .map_err(|e| e.classify(Stage::Data, &self.config))?;
        let code = u16::from(response.code());
        let text = response.message().collect::<Vec<_>>().join(" ");
        Ok(Delivered {
            code,
            response: format!("{code} {text}").trim_end().to_owned(),
        })
    }
}

impl MailSender for SmtpSender {
    async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<Delivered, SendError> {
        let mut kept = self.connection.lock().await;
        let reused = match kept.take() {
            Some(mut connection) => {
                let alive = !connection.has_broken()
                    && matches!(
                        tokio::time::timeout(self.config.timeout, connection.test_connected()).await,
                        Ok(true)
                    );
                if alive {
                    Some(connection)
                } else {
                    connection.abort().await;
                    None
                }
            }
            None => None,
        };
        let mut connection = match reused {
            Some(connection) => connection,
            None => self.connect().await?,
        };
        match self.transaction(&mut connection, envelope, raw).await {
            Ok(delivered) => {
                *kept = Some(connection);
                Ok(delivered)
            }
            Err(error) => {
                // After a refusal the connection is usable, but a fresh one
                // per failure keeps the state simple; failures are rare.
                connection.abort().await;
                Err(error)
            }
        }
    }
}

/// A failed step: lettre's error, or our own timeout.
enum StepError {
    Smtp(lettre::transport::smtp::Error),
    Timeout(Duration),
}

impl StepError {
    fn classify(self, stage: Stage, config: &SmtpConfig) -> SendError {
        let server = format!("{}:{}", config.host, config.port);
        let error = match self {
            StepError::Timeout(limit) => {
                return SendError::Temporary {
                    stage,
                    code: None,
                    message: format!("{server} did not answer within {limit:?} (smtp.timeout)"),
                };
            }
            StepError::Smtp(error) => error,
        };
        // With implicit TLS the handshake is part of connecting; say so.
        let stage = if stage == Stage::Connect && (error.is_tls() || caused_by_tls(&error)) {
            Stage::Tls
        } else {
            stage
        };
        let code = error.status().map(u16::from);
        let message = format!("{server}: {error}");
        let in_transaction = matches!(stage, Stage::Sender | Stage::Recipient(_) | Stage::Data);
        if error.is_permanent() && in_transaction {
            SendError::Permanent { stage, code, message }
        } else {
            SendError::Temporary { stage, code, message }
        }
    }
}

/// Whether a rustls error (a certificate refused, a failed handshake) is
/// somewhere in `error`'s chain; lettre reports a failed implicit-TLS
/// handshake as a connection error.
fn caused_by_tls(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = current {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        current = err.source();
    }
    false
}
