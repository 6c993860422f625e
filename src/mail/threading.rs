//! Which ticket a mail belongs to, in the order customers rely on:
//!
//! 1. `In-Reply-To`, then `References` (newest first), against the
//!    Message-IDs the store has seen and sent.
//! 2. A subject tag (`[#123]`) or our `X-Carteiro-Ticket` header, accepted
//!    only when the sender is that ticket's requester or one of its CCs.
//! 3. Otherwise a new ticket. A stranger who quotes `#123` gets a ticket of
//!    their own, never a comment on someone else's.

use crate::helpdesk::{HelpDesk, HelpDeskError, Id, Ticket};
use crate::store::{Store, StoreError};

use super::ParsedMail;

/// How a reply was matched to its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadedBy {
    Headers,
    SubjectTag,
}

/// Where a mail from a person goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Thread {
    /// A reply to ticket `ticket_id`. Threaded by headers, the ticket is not
    /// read (writing to it tells whether it still takes comments, and saves
    /// a call); threaded by subject tag, it was read to check the sender,
    /// and is `ticket` as it was then.
    Existing {
        ticket_id: Id,
        ticket: Option<Box<Ticket>>,
        by: ThreadedBy,
    },
    /// A new ticket; `note` says why a reference was not followed.
    New { note: Option<String> },
}

/// Why threading could not decide.
#[derive(Debug, thiserror::Error)]
pub enum ThreadingError {
    #[error(transparent)]
    HelpDesk(#[from] HelpDeskError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The Message-IDs a reply refers to, most specific first.
pub fn referenced_ids(mail: &ParsedMail) -> Vec<String> {
    let mut ids: Vec<String> = mail.in_reply_to.clone();
    for id in mail.references.iter().rev() {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// Finds the ticket `mail` belongs to.
pub async fn thread<H: HelpDesk>(
    mail: &ParsedMail,
    store: &Store,
    helpdesk: &H,
) -> Result<Thread, ThreadingError> {
    let ids = referenced_ids(mail);
    if !ids.is_empty()
        && let Some(ticket_id) = store.ticket_for_message_ids(&ids)?
    {
        return Ok(Thread::Existing {
            ticket_id,
            ticket: None,
            by: ThreadedBy::Headers,
        });
    }

    let Some(ticket_id) = mail.ticket_ref else {
        return Ok(Thread::New { note: None });
    };
    let ticket = match helpdesk.show_ticket(ticket_id).await {
        Ok(ticket) => ticket,
        Err(HelpDeskError::NotFound { .. }) => {
            return Ok(Thread::New {
                note: Some(format!("the subject names #{ticket_id}, which does not exist")),
            });
        }
        Err(err) => return Err(err.into()),
    };
    let Some(sender) = mail.from.as_ref().map(|a| a.email.as_str()) else {
        return Ok(Thread::New {
            note: Some(format!(
                "the subject names #{ticket_id} but the mail has no sender"
            )),
        });
    };
    if is_participant(helpdesk, &ticket, sender).await? {
        Ok(Thread::Existing {
            ticket_id,
            ticket: Some(Box::new(ticket)),
            by: ThreadedBy::SubjectTag,
        })
    } else {
        Ok(Thread::New {
            note: Some(format!(
                "the subject names #{ticket_id}, but {sender} is neither its requester nor a CC"
            )),
        })
    }
}

/// Whether `email` is the requester or a CC of `ticket`.
async fn is_participant<H: HelpDesk>(
    helpdesk: &H,
    ticket: &Ticket,
    email: &str,
) -> Result<bool, HelpDeskError> {
    let mut ids: Vec<Id> = ticket.requester_id.into_iter().collect();
    ids.extend(&ticket.email_cc_ids);
    ids.extend(&ticket.collaborator_ids);
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(false);
    }
    let users = helpdesk.show_users(&ids).await?;
    Ok(users.iter().any(|user| {
        user.email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(email))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::parse::{ParseOptions, parse};

    #[test]
    fn in_reply_to_comes_first_then_references_newest_first() {
        let raw = b"From: a@example.com\r\nMessage-ID: <c@x>\r\nIn-Reply-To: <b@x>\r\nReferences: <a@x> <b@x> <z@x>\r\nSubject: Re: oi\r\n\r\noi\r\n";
        let mail = parse(raw, &ParseOptions::default());
        assert_eq!(referenced_ids(&mail), vec!["b@x", "z@x", "a@x"]);
    }
}
