//! IMAP as a [`Mailbox`], with `async-imap` over tokio and rustls.
//!
//! TLS is implicit (IMAPS) or STARTTLS, verified against the Mozilla roots
//! plus an optional extra CA file; plain text only when the configuration
//! says so, which it allows for loopback hosts alone. Every operation has a
//! timeout. A broken connection is dropped; the next `open` reconnects (the
//! ingest loop backs off between attempts). New mail is awaited with IDLE,
//! or by polling when IDLE is off or unsupported.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::{Client, Session};
use futures::TryStreamExt as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::mailbox::{Fetched, Mailbox, MailboxError};
use crate::config::{AfterProcessing, AuthMech, ImapConfig, TlsMode};
use crate::secret::Secret;

/// A TCP stream, with or without TLS.
#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// `AUTHENTICATE PLAIN`: `\0user\0password`.
struct PlainAuth<'a> {
    username: &'a str,
    password: &'a Secret,
}

impl async_imap::Authenticator for PlainAuth<'_> {
    type Response = Vec<u8>;

    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.username.len() + self.password.expose().len() + 2);
        out.push(0);
        out.extend_from_slice(self.username.as_bytes());
        out.push(0);
        out.extend_from_slice(self.password.expose().as_bytes());
        out
    }
}

/// An IMAP folder.
pub struct ImapMailbox {
    name: String,
    settings: ImapConfig,
    session: Option<Session<Stream>>,
    /// The server advertised IDLE.
    can_idle: bool,
    can_move: bool,
}

impl fmt::Debug for ImapMailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapMailbox")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .field("connected", &self.session.is_some())
            .finish()
    }
}

impl ImapMailbox {
    /// A mailbox named `name` that connects on the first `open`.
    pub fn new(name: impl Into<String>, settings: ImapConfig) -> ImapMailbox {
        ImapMailbox {
            name: name.into(),
            settings,
            session: None,
            can_idle: false,
            can_move: false,
        }
    }

    fn connection_error(&self, message: impl fmt::Display) -> MailboxError {
        MailboxError::Connection {
            mailbox: self.name.clone(),
            message: format!(
                "{}:{} ({}): {message}",
                self.settings.host,
                self.settings.port,
                tls_label(self.settings.tls)
            ),
        }
    }

    fn protocol_error(&self, operation: &'static str, err: async_imap::error::Error) -> MailboxError {
        match err {
            async_imap::error::Error::Io(_) | async_imap::error::Error::ConnectionLost => {
                self.connection_error(format!("{operation}: {err}"))
            }
            other => MailboxError::Protocol {
                mailbox: self.name.clone(),
                operation,
                message: other.to_string(),
            },
        }
    }

    /// Runs `fut` under the per-operation timeout.
    async fn timed<T>(
        &self,
        operation: &'static str,
        fut: impl Future<Output = Result<T, MailboxError>>,
    ) -> Result<T, MailboxError> {
        match tokio::time::timeout(self.settings.timeout, fut).await {
            Ok(result) => result,
            Err(_) => Err(MailboxError::Timeout {
                mailbox: self.name.clone(),
                operation,
                after: self.settings.timeout,
            }),
        }
    }

    fn tls_connector(&self) -> Result<TlsConnector, MailboxError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &self.settings.ca_file {
            let pem = std::fs::read(path).map_err(|err| {
                self.connection_error(format!("cannot read ca_file {}: {err}", path.display()))
            })?;
            let certs: Vec<CertificateDer<'static>> = rustls_pemfile_certs(&pem)
                .map_err(|err| self.connection_error(format!("ca_file {}: {err}", path.display())))?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|err| self.connection_error(format!("ca_file {}: {err}", path.display())))?;
            }
        }
        let config = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConnector::from(Arc::new(config)))
    }

    async fn start_tls(&self, tcp: TcpStream) -> Result<Stream, MailboxError> {
        let connector = self.tls_connector()?;
        let server_name = ServerName::try_from(self.settings.host.clone())
            .map_err(|err| self.connection_error(format!("not a valid TLS server name: {err}")))?;
        let tls = connector
            .connect(server_name, tcp)
            .await
            .map_err(|err| self.connection_error(format!("TLS handshake failed: {err}")))?;
        Ok(Stream::Tls(Box::new(tls)))
    }

    async fn connect(&self) -> Result<(Session<Stream>, bool, bool), MailboxError> {
        let addr = (self.settings.host.as_str(), self.settings.port);
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|err| self.connection_error(format!("cannot connect: {err}")))?;
        let _ = tcp.set_nodelay(true);
        let client = match self.settings.tls {
            TlsMode::Implicit => {
                let mut client = Client::new(self.start_tls(tcp).await?);
                read_greeting(&mut client)
                    .await
                    .map_err(|e| self.connection_error(e))?;
                client
            }
            TlsMode::Plain => {
                let mut client = Client::new(Stream::Plain(tcp));
                read_greeting(&mut client)
                    .await
                    .map_err(|e| self.connection_error(e))?;
                client
            }
            TlsMode::StartTls => {
                let mut client = Client::new(Stream::Plain(tcp));
                read_greeting(&mut client)
                    .await
                    .map_err(|e| self.connection_error(e))?;
                client
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|err| self.connection_error(format!("STARTTLS refused: {err}")))?;
                let Stream::Plain(tcp) = client.into_inner() else {
                    return Err(self.connection_error("STARTTLS on a stream that is already TLS"));
                };
                Client::new(self.start_tls(tcp).await?)
            }
        };
        let username = self.settings.username.as_str();
        let mut session = match self.settings.auth {
            AuthMech::Login => client.login(username, self.settings.password.expose()).await,
            AuthMech::Plain => {
                let auth = PlainAuth {
                    username,
                    password: &self.settings.password,
                };
                client.authenticate("PLAIN", auth).await
            }
        }
        .map_err(|(err, _)| MailboxError::Auth {
            mailbox: self.name.clone(),
            message: err.to_string(),
        })?;
        let capabilities = session
            .capabilities()
            .await
            .map_err(|err| self.protocol_error("CAPABILITY", err))?;
        let can_idle = capabilities.has_str("IDLE");
        let can_move = capabilities.has_str("MOVE");
        Ok((session, can_idle, can_move))
    }

    fn session(&mut self) -> Result<&mut Session<Stream>, MailboxError> {
        let name = self.name.clone();
        self.session.as_mut().ok_or(MailboxError::Connection {
            mailbox: name,
            message: "not connected".to_owned(),
        })
    }

    /// Drops the session after an error that may have broken it.
    fn forget_on_error<T>(&mut self, result: Result<T, MailboxError>) -> Result<T, MailboxError> {
        if matches!(
            result,
            Err(MailboxError::Connection { .. } | MailboxError::Timeout { .. })
        ) {
            self.session = None;
        }
        result
    }

    async fn fetch_inner(&mut self, after: u32, limit: usize) -> Result<Vec<Fetched>, MailboxError> {
        let query = format!("UID {}:*", after.saturating_add(1));
        let found = {
            let result = self.session()?.uid_search(&query).await;
            result.map_err(|err| self.protocol_error("UID SEARCH", err))?
        };
        // `N:*` matches the last mail even when its UID is below N.
        let mut uids: Vec<u32> = found.into_iter().filter(|uid| *uid > after).collect();
        uids.sort_unstable();
        uids.truncate(limit);
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uid_set(&uids);
        let fetches: Vec<async_imap::types::Fetch> = {
            let session = self.session()?;
            let stream = session.uid_fetch(&set, "(UID BODY.PEEK[])").await;
            match stream {
                Ok(stream) => stream.try_collect().await,
                Err(err) => Err(err),
            }
        }
        .map_err(|err| self.protocol_error("UID FETCH", err))?;
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        let mut out: Vec<Fetched> = fetches
            .iter()
            .filter_map(|fetch| {
                let uid = fetch.uid?;
                let raw = fetch.body()?;
                wanted.contains(&uid).then(|| Fetched {
                    uid,
                    raw: raw.to_vec(),
                })
            })
            .collect();
        out.sort_by_key(|f| f.uid);
        Ok(out)
    }

    async fn mark_inner(&mut self, uids: &[u32]) -> Result<(), MailboxError> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        let after = self.settings.after.clone();
        let can_move = self.can_move;
        match after {
            AfterProcessing::Leave => Ok(()),
            AfterProcessing::Seen => self.store_flags(&set, "+FLAGS.SILENT (\\Seen)").await,
            AfterProcessing::Move(folder) if can_move => {
                let result = self.session()?.uid_mv(&set, &folder).await;
                result.map_err(|err| self.protocol_error("UID MOVE", err))
            }
            AfterProcessing::Move(folder) => {
                let result = self.session()?.uid_copy(&set, &folder).await;
                result.map_err(|err| self.protocol_error("UID COPY", err))?;
                self.store_flags(&set, "+FLAGS.SILENT (\\Seen \\Deleted)").await?;
                let result = {
                    let session = self.session()?;
                    match session.uid_expunge(&set).await {
                        Ok(stream) => stream.try_collect::<Vec<_>>().await.map(|_| ()),
                        Err(err) => Err(err),
                    }
                };
                result.map_err(|err| self.protocol_error("UID EXPUNGE", err))
            }
        }
    }

    async fn store_flags(&mut self, set: &str, flags: &str) -> Result<(), MailboxError> {
        let result = {
            let session = self.session()?;
            match session.uid_store(set, flags).await {
                Ok(stream) => stream.try_collect::<Vec<_>>().await.map(|_| ()),
                Err(err) => Err(err),
            }
        };
        result.map_err(|err| self.protocol_error("UID STORE", err))
    }

    /// IDLE until the server reports a change or the poll interval passes.
    async fn idle(&mut self) -> Result<(), MailboxError> {
        let Some(session) = self.session.take() else {
            return Err(self.connection_error("not connected"));
        };
        let mut handle = session.idle();
        let init = tokio::time::timeout(self.settings.timeout, handle.init()).await;
        match init {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(self.protocol_error("IDLE", err)),
            Err(_) => return Err(self.timeout_error("IDLE")),
        }
        // Servers drop IDLE after 30 minutes; re-issue well before that.
        let wait = self.settings.poll_interval.min(Duration::from_secs(25 * 60));
        let (idle_wait, _interrupt) = handle.wait_with_timeout(wait);
        let response = idle_wait.await;
        let response = match response {
            Ok(response) => response,
            Err(err) => return Err(self.protocol_error("IDLE", err)),
        };
        tracing::debug!(mailbox = %self.name, ?response, "IDLE returned");
        let done = tokio::time::timeout(self.settings.timeout, handle.done()).await;
        match done {
            Ok(Ok(session)) => {
                self.session = Some(session);
                Ok(())
            }
            Ok(Err(err)) => Err(self.protocol_error("DONE", err)),
            Err(_) => Err(self.timeout_error("DONE")),
        }
    }

    fn timeout_error(&self, operation: &'static str) -> MailboxError {
        MailboxError::Timeout {
            mailbox: self.name.clone(),
            operation,
            after: self.settings.timeout,
        }
    }
}

fn tls_label(tls: TlsMode) -> &'static str {
    match tls {
        TlsMode::Implicit => "TLS",
        TlsMode::StartTls => "STARTTLS",
        TlsMode::Plain => "plain text",
    }
}

async fn read_greeting(client: &mut Client<Stream>) -> Result<(), String> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("the server closed the connection before its greeting".to_owned()),
        Err(err) => Err(format!("no greeting: {err}")),
    }
}

/// Parses the certificates of a PEM file.
fn rustls_pemfile_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    let certs = certs.map_err(|err| format!("not a PEM certificate: {err}"))?;
    if certs.is_empty() {
        return Err("no certificate in the file".to_owned());
    }
    Ok(certs)
}

/// `1,2,3,7` → `1:3,7`.
fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut iter = sorted.into_iter();
    let Some(mut start) = iter.next() else {
        return String::new();
    };
    let mut end = start;
    for uid in iter {
        if uid == end + 1 {
            end = uid;
            continue;
        }
        parts.push(range(start, end));
        start = uid;
        end = uid;
    }
    parts.push(range(start, end));
    parts.join(",")
}

fn range(start: u32, end: u32) -> String {
    if start == end {
        start.to_string()
    } else {
        format!("{start}:{end}")
    }
}

impl Mailbox for ImapMailbox {
    fn name(&self) -> &str {
        &self.name
    }

    async fn open(&mut self) -> Result<Option<u32>, MailboxError> {
        if self.session.is_none() {
            let (session, can_idle, can_move) = self.timed("connect", self.connect()).await?;
            self.session = Some(session);
            self.can_idle = can_idle;
            self.can_move = can_move;
            tracing::info!(mailbox = %self.name, host = %self.settings.host, can_idle, "IMAP connected");
        }
        let folder = self.settings.folder.clone();
        let timeout = self.settings.timeout;
        let selected = {
            let session = self.session()?;
            tokio::time::timeout(timeout, session.select(&folder)).await
        };
        let result = match selected {
            Ok(Ok(mailbox)) => mailbox
                .uid_validity
                .map(Some)
                .ok_or_else(|| MailboxError::Protocol {
                    mailbox: self.name.clone(),
                    operation: "SELECT",
                    message: format!("{folder} has no UIDVALIDITY"),
                }),
            Ok(Err(err)) => Err(self.protocol_error("SELECT", err)),
            Err(_) => Err(self.timeout_error("SELECT")),
        };
        self.forget_on_error(result)
    }

    async fn fetch_after(&mut self, after: u32, limit: usize) -> Result<Vec<Fetched>, MailboxError> {
        let timeout = self.settings.timeout;
        let result = match tokio::time::timeout(timeout, self.fetch_inner(after, limit)).await {
            Ok(result) => result,
            Err(_) => Err(self.timeout_error("fetch")),
        };
        self.forget_on_error(result)
    }

    async fn wait_for_news(&mut self) -> Result<(), MailboxError> {
        if !(self.settings.idle && self.can_idle) {
            tokio::time::sleep(self.settings.poll_interval).await;
            return Ok(());
        }
        let result = self.idle().await;
        self.forget_on_error(result)
    }

    async fn mark_processed(&mut self, uids: &[u32]) -> Result<(), MailboxError> {
        let timeout = self.settings.timeout;
        let result = match tokio::time::timeout(timeout, self.mark_inner(uids)).await {
            Ok(result) => result,
            Err(_) => Err(self.timeout_error("mark processed")),
        };
        self.forget_on_error(result)
    }

    async fn close(&mut self) {
        if let Some(mut session) = self.session.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), session.logout()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_collapse_runs() {
        assert_eq!(uid_set(&[7, 1, 2, 3, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }
}
