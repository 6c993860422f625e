//! Where the simulator's notification e-mails go: nowhere (they are only
//! recorded), an SMTP server, or one Maildir per recipient. That is the
//! simulator's environment, not the account's, so it is a [`SimOptions`]
//! field (`carteiro sim --smtp HOST:PORT` or `--maildir DIR`).
//!
//! Delivery is off the request path: a request that made e-mails hands them
//! to a channel, and one background task delivers them in order and writes
//! each recipient's outcome (delivered, refused with the server's reply, or
//! failed) back into the notification. A slow or absent server never delays
//! an API answer.
//!
//! [`SimOptions`]: super::SimOptions

use std::path::PathBuf;
use std::sync::{PoisonError, Weak};
use std::time::Duration;

use lettre::address::Envelope as SmtpEnvelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::mpsc::UnboundedReceiver;

use super::Inner;
use super::notify::{DeliveryState, Outgoing};
use crate::outbound::{Envelope, MailSender, MaildirSender, SendError};

/// How long one SMTP step may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where notifications are delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MailOutlet {
    /// Recorded only (`GET /__sim/notifications`), delivered nowhere.
    #[default]
    None,
    /// Plain SMTP, no TLS and no AUTH: a server on loopback, such as the
    /// tests' Postfix. Each recipient is its own transaction, so one refused
    /// address does not stop the others, as a real mail system delivers.
    Smtp { host: String, port: u16 },
    /// `ROOT/<recipient address>/new/`, one Maildir per recipient, as
    /// carteiro's own `MaildirSender` writes them (it is the one used).
    Maildir(PathBuf),
}

impl MailOutlet {
    /// `HOST:PORT` as an SMTP outlet.
    pub fn smtp(address: &str) -> Result<MailOutlet, String> {
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| format!("{address:?} is not HOST:PORT"))?;
        let port: u16 = port.parse().map_err(|_| {
            format!("{address:?} is not HOST:PORT (the port is not a number from 1 to 65535)")
        })?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(format!("{address:?} is not HOST:PORT"));
        }
        Ok(MailOutlet::Smtp {
            host: host.to_owned(),
            port,
        })
    }
}

/// The delivery task: takes e-mails from `queue` until the simulator is
/// gone, and records each recipient's outcome.
pub(super) async fn deliver(outlet: MailOutlet, mut queue: UnboundedReceiver<Outgoing>, sim: Weak<Inner>) {
    let smtp = match &outlet {
        MailOutlet::Smtp { host, port } => Some(
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
                .port(*port)
                .timeout(Some(SMTP_TIMEOUT))
                .build(),
        ),
        _ => None,
    };
    let maildir = match &outlet {
        MailOutlet::Maildir(root) => Some(MaildirSender::new(root)),
        _ => None,
    };
    while let Some(mail) = queue.recv().await {
        for (slot, to) in mail.to.iter().enumerate() {
            let (state, reply) = if let Some(smtp) = &smtp {
                send_smtp(smtp, &mail.from, to, &mail.raw).await
            } else if let Some(maildir) = &maildir {
                send_maildir(maildir, &mail.from, to, &mail.raw).await
            } else {
                (DeliveryState::Recorded, String::new())
            };
            let Some(sim) = sim.upgrade() else { return };
            let mut world = sim.world.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(delivery) = world
                .state
                .notifications
                .get_mut(mail.index)
                .and_then(|n| n.delivery.get_mut(slot))
            {
                delivery.state = state;
                delivery.reply = Some(reply);
            }
        }
    }
}

async fn send_smtp(
    smtp: &AsyncSmtpTransport<Tokio1Executor>,
    from: &str,
    to: &str,
    raw: &[u8],
) -> (DeliveryState, String) {
    let envelope = match (from.parse(), to.parse()) {
        (Ok(from), Ok(to)) => SmtpEnvelope::new(Some(from), vec![to]),
        (Err(e), _) | (_, Err(e)) => {
            return (DeliveryState::Refused, format!("not an address: {e}"));
        }
    };
    let envelope = match envelope {
        Ok(envelope) => envelope,
        Err(e) => return (DeliveryState::Refused, e.to_string()),
    };
    // lettre ends the data with CRLF "." CRLF itself.
    let data = raw.strip_suffix(b"\r\n").unwrap_or(raw);
    match smtp.send_raw(&envelope, data).await {
        Ok(response) => {
            let text: Vec<&str> = response.message().collect();
            (
                DeliveryState::Delivered,
                format!("{} {}", response.code(), text.join(" ")),
            )
        }
        Err(e) if e.is_permanent() => (DeliveryState::Refused, e.to_string()),
        Err(e) => (DeliveryState::Failed, e.to_string()),
    }
}

async fn send_maildir(maildir: &MaildirSender, from: &str, to: &str, raw: &[u8]) -> (DeliveryState, String) {
    let envelope = Envelope {
        from: from.to_owned(),
        to: vec![to.to_owned()],
    };
    match maildir.send(&envelope, raw).await {
        Ok(delivered) => (DeliveryState::Delivered, delivered.response),
        Err(e @ SendError::Permanent { .. }) => (DeliveryState::Refused, e.to_string()),
        Err(e @ SendError::Temporary { .. }) => (DeliveryState::Failed, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_outlets_are_host_and_port() {
        assert_eq!(
            MailOutlet::smtp("127.0.0.1:2525"),
            Ok(MailOutlet::Smtp {
                host: "127.0.0.1".into(),
                port: 2525
            })
        );
        assert_eq!(
            MailOutlet::smtp("[::1]:25"),
            Ok(MailOutlet::Smtp {
                host: "::1".into(),
                port: 25
            })
        );
        assert!(MailOutlet::smtp("localhost").is_err());
        assert!(MailOutlet::smtp("localhost:smtp").is_err());
        assert!(MailOutlet::smtp(":25").is_err());
    }
}
