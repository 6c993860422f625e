//! The e-mails triggers send: who gets them, their text with Zendesk's
//! placeholders rendered, and the message itself with Zendesk's headers and
//! threading. Pure: [`State::notify`] records each e-mail as a
//! [`Notification`]; the simulator's outlet (`outlet`) delivers it.
//!
//! Sources, per behaviour, in the comments below. The recorded outgoing
//! mails are a Zendesk notification from the account travis-ci (2021-04-13,
//! an mbox in a public repository) and the headers of one from the account
//! eitc (codeforamerica/vita-min, the EmailController spec, 2020).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use serde::Serialize;
use serde_json::{Value, json};

use super::AccountProfile;
use super::state::{State, mix};
use super::triggers::NotifyRequest;
use crate::helpdesk::model::{AuditEvent, Comment, Group, Id, Role, Status, Ticket, User, Via};

/// The first line of every notification's text: "`{{delimiter}}` Displays
/// the line "##- Please type your reply above this line -##""
/// (support.zendesk.com article 4408886168090, and the recorded mails).
pub const DELIMITER: &str = "##- Please type your reply above this line -##";

/// The rule between comments of `{{ticket.comments_formatted}}` (46 dashes,
/// as recorded in the travis-ci mail).
const COMMENT_RULE: &str = "----------------------------------------------";

/// The rule above the footer (32 dashes, as recorded).
const FOOTER_RULE: &str = "--------------------------------";

/// How far a delivery got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// The simulator has no mail outlet: the e-mail is only recorded.
    Recorded,
    /// Handed to the outlet, no answer yet.
    Pending,
    /// The server (or the Maildir) took it.
    Delivered,
    /// The server refused it for good (a 5xx, e.g. Postfix's "Relay access
    /// denied").
    Refused,
    /// It could not be handed over (no connection, a 4xx, a disk error).
    Failed,
}

/// One recipient's delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub address: String,
    pub state: DeliveryState,
    /// The server's reply, or why it failed.
    pub reply: Option<String>,
}

/// One e-mail a trigger sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    /// 1, 2, ... in the order they were made.
    pub id: u64,
    pub ticket_id: Id,
    pub audit_id: Id,
    /// The audit's `Notification` event this e-mail belongs to.
    pub event_id: Id,
    pub trigger: TriggerRef,
    /// The users it went to.
    pub recipients: Vec<Id>,
    pub from: String,
    pub reply_to: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    /// The whole text part: delimiter, rendered body, footer, encoded id.
    pub body: String,
    pub message_id: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub delivery: Vec<Delivery>,
    /// The message as sent.
    #[serde(skip)]
    pub raw: Vec<u8>,
}

/// The trigger a notification came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TriggerRef {
    pub id: Id,
    pub title: String,
}

impl Notification {
    /// The e-mail as `GET /__sim/notifications` shows it, its message as
    /// text under `raw`.
    pub fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        value["raw"] = json!(String::from_utf8_lossy(&self.raw));
        value
    }
}

/// What a delivery needs: the e-mail's place in the list and its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub index: usize,
    pub from: String,
    pub to: Vec<String>,
    pub raw: Vec<u8>,
}

// -- the encoded id and threading -------------------------------------------------

const BASE36: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn base36(mut n: u64, min_len: usize) -> String {
    let mut out = Vec::new();
    while n > 0 || out.len() < min_len {
        out.push(BASE36[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    out.into_iter().map(char::from).collect()
}

/// The ticket's encoded id, e.g. `7K2QXA-0001`: six base-36 capitals, a
/// dash, four or five more ("The encoded ID must appear inside square
/// brackets, for example, [1G7EOR-0Q2J]", support.zendesk.com article
/// 8396827889946; recorded: `L7VKGO-M25K`, `ZNMJ6M-Z0Z2K`). Zendesk's
/// scheme is not public; here the first part is a hash of the ticket id and
/// the second the id itself in base 36, so it is deterministic and never
/// shared by two tickets.
pub fn encoded_id(ticket_id: Id) -> String {
    let head = base36(mix(ticket_id ^ 0x5a5a_e11c_0de0_0001) % 36u64.pow(6), 6);
    format!("{head}-{}", base36(ticket_id, 4))
}

/// The ticket's thread root, `ENCODEDID@zendesk.com` without the dash
/// (recorded: `In-Reply-To: <L7VKGOM25K@zendesk.com>` first on every
/// notification of ticket `L7VKGO-M25K`).
pub fn thread_root(ticket_id: Id) -> String {
    format!("{}@zendesk.com", encoded_id(ticket_id).replace('-', ""))
}

/// A notification's Message-ID: `ENCODEDID_HEX_HEX_sprut@zendesk.com`
/// (recorded: `<L7VKGOM25K_607614d686a15_312acea2d65970740ef_sprut@zendesk.com>`,
/// whose first part is the Unix time in hex). Here the first part is the
/// time and the e-mail's serial number, the second a hash of it.
fn message_id(ticket_id: Id, serial: u64, now: DateTime<Utc>) -> String {
    format!(
        "{}_{:x}{:05x}_{:016x}_sprut@zendesk.com",
        encoded_id(ticket_id).replace('-', ""),
        now.timestamp().max(0),
        serial & 0xf_ffff,
        mix(serial ^ ticket_id.rotate_left(17))
    )
}

// -- rendering ---------------------------------------------------------------------

/// Everything a placeholder can read.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub account: &'a AccountProfile,
    pub ticket: &'a Ticket,
    pub comments: &'a [Comment],
    pub users: &'a BTreeMap<Id, User>,
    pub groups: &'a [Group],
    pub actor: Id,
    /// The reader is an end user: "Agents who are assigned to or following
    /// the ticket receive both public comments and internal notes. End
    /// users receive only public comments" (support.zendesk.com article
    /// 4408886858138, placeholder reference).
    pub end_user: bool,
    pub time_zone: Tz,
}

/// `template` with every `{{placeholder}}` rendered; "an unknown
/// placeholder renders empty, as in Zendesk" (Liquid renders an undefined
/// variable as nothing).
pub fn render(template: &str, view: &View) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push_str(&rest[..start]);
        out.push_str(&placeholder(after[..end].trim(), view));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The first name: "The user's first name", the name's first word (for
/// "Dutch van der Linde" the placeholder reference gives `Dutch`).
fn first_name(name: &str) -> String {
    name.split_whitespace().next().unwrap_or("").to_owned()
}

fn user_placeholder(user: Option<&User>, property: &str) -> String {
    let Some(user) = user else { return String::new() };
    match property {
        "name" => user.name.clone(),
        "first_name" => first_name(&user.name),
        "last_name" => user.name.split_whitespace().last().unwrap_or("").to_owned(),
        "email" => user.email.clone().unwrap_or_default(),
        "id" => user.id.to_string(),
        _ => String::new(),
    }
}

/// A status as `{{ticket.status}}` shows it ("New", "Open", "Pending",
/// "On-hold", "Solved", "Closed": Zendesk's status names).
fn status_title(status: Status) -> &'static str {
    match status {
        Status::New => "New",
        Status::Open => "Open",
        Status::Pending => "Pending",
        Status::Hold => "On-hold",
        Status::Solved => "Solved",
        Status::Closed => "Closed",
        Status::Deleted => "Deleted",
    }
}

fn placeholder(name: &str, view: &View) -> String {
    let ticket = view.ticket;
    let user = |id: Option<Id>| id.and_then(|id| view.users.get(&id));
    let path = format!("{}/agent/tickets/{}", view.account.host(), ticket.id);
    if let Some(property) = name.strip_prefix("ticket.requester.") {
        return user_placeholder(user(ticket.requester_id), property);
    }
    if let Some(property) = name.strip_prefix("ticket.assignee.") {
        return user_placeholder(user(ticket.assignee_id), property);
    }
    if let Some(property) = name.strip_prefix("ticket.submitter.") {
        return user_placeholder(user(ticket.submitter_id), property);
    }
    if let Some(property) = name.strip_prefix("current_user.") {
        return user_placeholder(user(Some(view.actor)), property);
    }
    match name {
        "ticket.id" => ticket.id.to_string(),
        "ticket.title" => ticket.subject.clone().unwrap_or_default(),
        "ticket.description" => ticket.description.clone().unwrap_or_default(),
        // "The Zendesk account name."
        "ticket.account" => view.account.name.clone(),
        // "The full URL path to the ticket (excluding "http://")."
        "ticket.url" => path,
        // "Full URL path to ticket."
        "ticket.link" => format!("https://{path}"),
        "ticket.status" => status_title(ticket.status).to_owned(),
        "ticket.priority" => match ticket.priority.as_deref() {
            Some(p) if !p.is_empty() => {
                let mut chars = p.chars();
                chars
                    .next()
                    .map(|c| c.to_uppercase().chain(chars).collect())
                    .unwrap_or_default()
            }
            _ => String::new(),
        },
        "ticket.tags" => ticket.tags.join(" "),
        "ticket.group.name" => ticket
            .group_id
            .and_then(|id| view.groups.iter().find(|g| g.id == id))
            .map(|g| g.name.clone())
            .unwrap_or_default(),
        "ticket.encoded_id" => encoded_id(ticket.id),
        // "All comments, most recent first."
        "ticket.comments_formatted" => {
            let entries: Vec<String> = visible(view, false)
                .rev()
                .map(|c| format!("{COMMENT_RULE}\n\n{}", comment_entry(c, view)))
                .collect();
            entries.join("\n\n")
        }
        // "Agents receive the most recent public or private comment. End
        // users receive the most recent public comment."
        "ticket.latest_comment" | "ticket.latest_comment_html" => visible(view, false)
            .last()
            .map(|c| comment_entry(c, view))
            .unwrap_or_default(),
        // "The most recent public comment".
        "ticket.latest_public_comment" | "ticket.latest_public_comment_html" => visible(view, true)
            .last()
            .map(|c| comment_entry(c, view))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The comments the reader may see, oldest first.
fn visible<'a>(view: &'a View, public_only: bool) -> impl DoubleEndedIterator<Item = &'a Comment> {
    let public_only = public_only || view.end_user;
    view.comments.iter().filter(move |c| c.public || !public_only)
}

/// One comment in the text part: "Author, Mon D, YYYY, HH:MM TZ", a blank
/// line, the text (recorded: "MK, Apr 13, 2021, 15:01 PDT"), in the
/// account's time zone. The HTML placeholders render the same entry: the
/// simulator's notifications have a text part only.
fn comment_entry(comment: &Comment, view: &View) -> String {
    let author = comment
        .author_id
        .and_then(|id| view.users.get(&id))
        .map(|u| u.name.clone())
        .unwrap_or_default();
    let when = comment
        .created_at
        .map(|t| {
            t.with_timezone(&view.time_zone)
                .format("%b %-d, %Y, %H:%M %Z")
                .to_string()
        })
        .unwrap_or_default();
    format!("{author}, {when}\n\n{}", comment.body.trim_end())
}

/// The text part: the delimiter, the rendered body, the footer ("`{{footer}}`
/// [...] This email is a service from <account>", article 4408886168090)
/// and the encoded id in brackets, last, as recorded (nine empty lines
/// before it).
pub fn text_part(body: &str, account: &AccountProfile, ticket_id: Id) -> String {
    format!(
        "{DELIMITER}\n\n{}\n\n{FOOTER_RULE}\nThis email is a service from {}.\n\n\n\n\n\n\n\n\n\n[{}]\n",
        body.trim_end(),
        account.name,
        encoded_id(ticket_id)
    )
}

/// A rendered subject: one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

// -- recipients and records ----------------------------------------------------------

/// Who may get mail: a user with an e-mail address, not suspended, not
/// deleted.
fn reachable(user: &User) -> bool {
    user.email.as_deref().is_some_and(|e| !e.trim().is_empty())
        && user.suspended != Some(true)
        && user.active != Some(false)
}

/// What the update that fired the trigger was, for suppression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occasion {
    pub ticket_id: Id,
    pub audit_id: Id,
    pub actor: Id,
    /// The comment the update added, if any: whether it is public.
    pub comment_public: Option<bool>,
    pub now: DateTime<Utc>,
}

impl State {
    /// Records the e-mails `requests` ask for and returns the audit's
    /// `Notification` events, one per request that mailed anyone: `{"type":
    /// "Notification", "via": {"channel": "rule", "source": {"from":
    /// {"deleted": false, "title", "id"}, "rel": "trigger"}}, "subject",
    /// "body", "recipients"}`, subject and body unrendered (recorded in real
    /// audits: Koredotcom/koredotai-docs 2022, backflipt.zendesk.com 2020).
    pub(super) fn notify(&mut self, occasion: Occasion, requests: &[NotifyRequest]) -> Vec<AuditEvent> {
        let Some(ticket) = self.tickets.get(&occasion.ticket_id).cloned() else {
            return Vec::new();
        };
        let mut events = Vec::new();
        for request in requests {
            let mails = self.addressees(request, &ticket, occasion);
            if mails.is_empty() {
                continue;
            }
            let event_id = self.next_event();
            let mut recipients: Vec<Id> = Vec::new();
            for (to, cc) in mails {
                for user in to.iter().chain(&cc) {
                    if !recipients.contains(&user.id) {
                        recipients.push(user.id);
                    }
                }
                let record = self.letter(request, &ticket, occasion, event_id, &to, &cc);
                self.notifications.push(record);
                self.outbox.push(self.notifications.len() - 1);
            }
            events.push(AuditEvent {
                id: event_id,
                event_type: "Notification".to_owned(),
                via: Some(Via {
                    channel: json!("rule"),
                    source: Some(json!({
                        "from": { "deleted": false, "title": request.trigger_title, "id": request.trigger_id },
                        "rel": "trigger",
                    })),
                }),
                subject: Some(request.subject.clone()),
                body: Some(request.body.clone()),
                recipients: Some(recipients),
                ..AuditEvent::default()
            });
        }
        events
    }

    /// The e-mails one request makes, each as (To, Cc) users.
    ///
    /// - `requester_and_ccs` is **one** e-mail, the requester in To and the
    ///   CCs in Cc, as Zendesk sends it: "Agents who are added as CCs will
    ///   have their email addresses visible to all end users in the
    ///   thread", and CCs "can remove the requester from the notification
    ///   to submit a private response" (support.zendesk.com article
    ///   5179445630234); the recorded travis-ci notification has the CCs in
    ///   `Cc:`. It "is suppressed when internal notes are added to a
    ///   ticket. The trigger still fires and performs any other actions
    ///   [...] but the email message is not sent" (article 4408843866394).
    /// - Every other recipient (the requester alone, the assignee, the
    ///   current user, all agents, a group, a user) gets an e-mail of their
    ///   own: agents are never shown to each other or to customers.
    /// - Nobody without an e-mail address, suspended or deleted gets one.
    fn addressees(
        &self,
        request: &NotifyRequest,
        ticket: &Ticket,
        occasion: Occasion,
    ) -> Vec<(Vec<User>, Vec<User>)> {
        let user = |id: Option<Id>| -> Option<User> {
            id.and_then(|id| self.users.get(&id))
                .filter(|u| reachable(u))
                .cloned()
        };
        let each = |users: Vec<User>| users.into_iter().map(|u| (vec![u], Vec::new())).collect();
        if request.group {
            let group_id = match request.to.as_str() {
                "group_id" => ticket.group_id,
                id => id.parse().ok(),
            };
            // Members: the agents whose default group it is (the simulator
            // keeps no other group membership).
            let members = self
                .users
                .values()
                .filter(|u| u.role.is_staff() && group_id.is_some() && u.default_group_id == group_id)
                .filter(|u| reachable(u))
                .cloned()
                .collect();
            return each(members);
        }
        match request.to.as_str() {
            "requester_and_ccs" => {
                if occasion.comment_public == Some(false) {
                    return Vec::new();
                }
                let requester = user(ticket.requester_id);
                let mut seen: BTreeSet<Id> = requester.iter().map(|u| u.id).collect();
                let ccs: Vec<User> = ticket
                    .email_cc_ids
                    .iter()
                    .filter_map(|id| user(Some(*id)))
                    .filter(|u| seen.insert(u.id))
                    .collect();
                match requester {
                    Some(requester) => vec![(vec![requester], ccs)],
                    None if !ccs.is_empty() => vec![(ccs, Vec::new())],
                    None => Vec::new(),
                }
            }
            "requester_id" => each(user(ticket.requester_id).into_iter().collect()),
            "assignee_id" => each(user(ticket.assignee_id).into_iter().collect()),
            "current_user" => each(user(Some(occasion.actor)).into_iter().collect()),
            // "(all non-restricted agents)" (the recorded definitions).
            "all_agents" => each(
                self.users
                    .values()
                    .filter(|u| u.role.is_staff() && u.restricted_agent != Some(true))
                    .filter(|u| reachable(u))
                    .cloned()
                    .collect(),
            ),
            id => each(user(id.parse().ok()).into_iter().collect()),
        }
    }

    /// The Message-IDs (without `<>`) of the ticket's notifications from
    /// earlier updates that went to any of `readers`, oldest first: the
    /// thread those readers have seen.
    fn earlier(&self, ticket_id: Id, audit_id: Id, readers: &[Id]) -> Vec<String> {
        self.notifications
            .iter()
            .filter(|n| n.ticket_id == ticket_id && n.audit_id != audit_id)
            .filter(|n| n.recipients.iter().any(|r| readers.contains(r)))
            .map(|n| {
                n.message_id
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
            .collect()
    }

    /// One e-mail, rendered and composed.
    fn letter(
        &mut self,
        request: &NotifyRequest,
        ticket: &Ticket,
        occasion: Occasion,
        event_id: Id,
        to: &[User],
        cc: &[User],
    ) -> Notification {
        let readers: Vec<Id> = to.iter().chain(cc).map(|u| u.id).collect();
        let earlier = self.earlier(ticket.id, occasion.audit_id, &readers);
        let serial = self.notifications.len() as u64 + 1;
        let end_user = to.iter().chain(cc).any(|u| u.role == Role::EndUser);
        let no_comments = Vec::new();
        let view = View {
            account: &self.account,
            ticket,
            comments: self.comments.get(&ticket.id).unwrap_or(&no_comments),
            users: &self.users,
            groups: &self.groups,
            actor: occasion.actor,
            end_user,
            time_zone: super::defaults::account_time_zone(),
        };
        let subject = one_line(&render(&request.subject, &view));
        let body = text_part(&render(&request.body, &view), &self.account, ticket.id);
        // "From: "<name of current user> (<support-address name>)" <support
        // address>" and "Reply-To: <name> <support address>" (recorded:
        // `From: "MK (Support)" <support@travis-ci.com>`, `Reply-To: Support
        // <support@travis-ci.com>`).
        let actor_name = self
            .users
            .get(&occasion.actor)
            .map(|u| u.name.clone())
            .unwrap_or_default();
        let from_name = format!("{actor_name} ({})", self.account.name);
        let support = self.account.support_address.clone();
        let message_id = message_id(ticket.id, serial, occasion.now);
        let root = thread_root(ticket.id);
        // In-Reply-To: the root, then the earlier notifications these
        // readers got, newest first; References: the root, then oldest
        // first (both as recorded). At most the last ten, so a long thread
        // keeps short headers.
        let recent: Vec<String> = earlier.iter().rev().take(10).cloned().collect();
        let in_reply_to: Vec<String> = std::iter::once(root.clone())
            .chain(recent.iter().cloned())
            .collect();
        let references: Vec<String> = std::iter::once(root).chain(recent.into_iter().rev()).collect();
        let address =
            |u: &User| -> (String, String) { (u.name.clone(), u.email.clone().unwrap_or_default()) };
        let to_list: Vec<(String, String)> = to.iter().map(address).collect();
        let cc_list: Vec<(String, String)> = cc.iter().map(address).collect();
        let raw = compose(&Letter {
            from_name: &from_name,
            from_address: &support,
            reply_to_name: &self.account.name,
            to: &to_list,
            cc: &cc_list,
            subject: &subject,
            text: &body,
            message_id: &message_id,
            in_reply_to: &in_reply_to,
            references: &references,
            date: occasion.now.timestamp(),
            event_id,
        });
        let delivery = to_list
            .iter()
            .chain(&cc_list)
            .map(|(_, email)| Delivery {
                address: email.clone(),
                state: DeliveryState::Pending,
                reply: None,
            })
            .collect();
        Notification {
            id: serial,
            ticket_id: ticket.id,
            audit_id: occasion.audit_id,
            event_id,
            trigger: TriggerRef {
                id: request.trigger_id,
                title: request.trigger_title.clone(),
            },
            recipients: readers,
            from: format!("\"{from_name}\" <{support}>"),
            reply_to: format!("{} <{support}>", self.account.name),
            to: to_list.iter().map(|(_, e)| e.clone()).collect(),
            cc: cc_list.iter().map(|(_, e)| e.clone()).collect(),
            subject,
            body,
            message_id: format!("<{message_id}>"),
            in_reply_to: in_reply_to.iter().map(|id| format!("<{id}>")).collect(),
            references: references.iter().map(|id| format!("<{id}>")).collect(),
            created_at: occasion.now,
            delivery,
            raw,
        }
    }

    /// The e-mails made since the last call, for the outlet.
    pub(super) fn take_outbox(&mut self) -> Vec<Outgoing> {
        let indexes = std::mem::take(&mut self.outbox);
        indexes
            .into_iter()
            .filter_map(|index| {
                let n = self.notifications.get(index)?;
                Some(Outgoing {
                    index,
                    from: self.account.support_address.clone(),
                    to: n.delivery.iter().map(|d| d.address.clone()).collect(),
                    raw: n.raw.clone(),
                })
            })
            .collect()
    }
}

// -- the message ---------------------------------------------------------------------

/// The parts of one e-mail.
#[derive(Debug)]
pub struct Letter<'a> {
    pub from_name: &'a str,
    pub from_address: &'a str,
    pub reply_to_name: &'a str,
    /// (name, address).
    pub to: &'a [(String, String)],
    pub cc: &'a [(String, String)],
    pub subject: &'a str,
    pub text: &'a str,
    /// Without `<>`.
    pub message_id: &'a str,
    pub in_reply_to: &'a [String],
    pub references: &'a [String],
    pub date: i64,
    /// The audit event, as `X-Delivery-Context: event-id-N` (recorded).
    pub event_id: Id,
}

fn address_list<'x>(list: &[(String, String)]) -> Address<'x> {
    Address::new_list(
        list.iter()
            .map(|(name, email)| {
                let name = Some(name.trim().to_owned()).filter(|n| !n.is_empty());
                Address::new_address(name, email.trim().to_owned())
            })
            .collect(),
    )
}

/// The message, with the headers of the recorded notifications:
/// `Auto-Submitted: auto-generated`, `X-Auto-Response-Suppress: All` and
/// `X-Mailer: Zendesk Mailer` on every one, not only on auto-replies.
pub fn compose(letter: &Letter) -> Vec<u8> {
    let mut builder = MessageBuilder::new()
        .from(Address::new_address(
            Some(letter.from_name.to_owned()),
            letter.from_address.to_owned(),
        ))
        .reply_to(Address::new_address(
            Some(letter.reply_to_name.to_owned()),
            letter.from_address.to_owned(),
        ))
        .subject(Text::new(letter.subject.to_owned()))
        .date(Date::new(letter.date))
        .message_id(MessageId::new(letter.message_id.to_owned()))
        .in_reply_to(MessageId::from(letter.in_reply_to.to_vec()))
        .references(MessageId::from(letter.references.to_vec()));
    if !letter.to.is_empty() {
        builder = builder.to(address_list(letter.to));
    }
    if !letter.cc.is_empty() {
        builder = builder.cc(address_list(letter.cc));
    }
    builder = builder
        .header(
            "X-Delivery-Context",
            Raw::new(format!("event-id-{}", letter.event_id)),
        )
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .header("X-Auto-Response-Suppress", Raw::new("All"))
        .header("X-Mailer", Raw::new("Zendesk Mailer"))
        .text_body(letter.text.to_owned());
    // Writing into memory cannot fail.
    builder.write_to_vec().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_ids_look_like_zendesks_and_differ_per_ticket() {
        let id = encoded_id(1);
        assert_eq!(id.len(), 11, "{id}");
        assert_eq!(&id[6..7], "-");
        assert!(
            id.chars()
                .all(|c| c == '-' || c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert_eq!(&id[7..], "0001");
        assert_eq!(encoded_id(1), id, "deterministic");
        assert_ne!(encoded_id(2), id);
        assert_eq!(encoded_id(36u64.pow(4)).len(), 12, "five after the dash");
        assert_eq!(thread_root(1), format!("{}@zendesk.com", id.replace('-', "")));
    }

    #[test]
    fn unknown_placeholders_render_empty_and_names_split() {
        let account = AccountProfile::new("Empresa", "empresa", None);
        let ticket = Ticket {
            id: 7,
            subject: Some("Boleto".into()),
            requester_id: Some(1),
            ..Ticket::default()
        };
        let users: BTreeMap<Id, User> = [(
            1,
            User {
                id: 1,
                name: "Dutch van der Linde".into(),
                ..User::default()
            },
        )]
        .into_iter()
        .collect();
        let view = View {
            account: &account,
            ticket: &ticket,
            comments: &[],
            users: &users,
            groups: &[],
            actor: 1,
            end_user: true,
            time_zone: chrono_tz::America::Sao_Paulo,
        };
        assert_eq!(
            render(
                "#{{ticket.id}} {{ ticket.title }} {{ticket.requester.first_name}}{{nope.x}} {{ticket.url}} {{ticket.link}}",
                &view
            ),
            "#7 Boleto Dutch empresa.zendesk.com/agent/tickets/7 https://empresa.zendesk.com/agent/tickets/7"
        );
    }
}
