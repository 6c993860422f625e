//! The simulator runs a new account's standard ticket triggers and delivers
//! their e-mails, so an end-to-end test sees every mail a customer really
//! receives. Spoken to over plain HTTP, as any client would; the mails go
//! through the real Postfix into the real Dovecot (or into Maildirs), and
//! every wait is on a condition, never a fixed time.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use carteiro::clock::FixedClock;
use carteiro::helpdesk::sim::{self, MailOutlet, SimHandle, SimOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::mail::{raw_header, servers};
use crate::support::{instant, plain_http, poll_until, test_dir};

/// The account's "now": 10:00 in São Paulo, a Monday.
const NOW: &str = "2026-03-02T10:00:00-03:00";
/// How comments show in the mails, in the account's time zone.
const NOW_SHOWN: &str = "Mar 2, 2026, 10:00 -03";
/// How long a mail may take from the simulator to a Maildir.
const DELIVERY: Duration = Duration::from_secs(30);

/// The standard triggers of a new account, in position order.
const STANDARD: [&str; 10] = [
    "Notify requester and CCs of received request",
    "Notify requester of new proactive ticket",
    "Notify requester and CCs of comment update",
    "Notify assignee of comment update",
    "Notify assignee of assignment",
    "Notify assignee of reopened ticket",
    "Notify group of assignment",
    "Notify all agents of received request",
    "Auto-assign to first email responding agent",
    "Set tickets with no priority to normal",
];

const ANA: u64 = 10;
const BRUNO: u64 = 11;
const MARIA: u64 = 20;
const GROUP: u64 = 500;

/// Who is who in the account: two agents (Ana, the API user, in the group
/// "Suporte"), a customer, and their addresses.
struct People {
    ana: String,
    bruno: String,
    maria: String,
}

impl People {
    fn at(ana: &str, bruno: &str, maria: &str) -> People {
        People {
            ana: ana.to_owned(),
            bruno: bruno.to_owned(),
            maria: maria.to_owned(),
        }
    }

    fn seed(&self) -> Value {
        json!({
            "account": { "name": "Loja Exemplo", "subdomain": "loja" },
            "groups": [{ "id": GROUP, "name": "Suporte" }],
            "users": [
                { "id": ANA, "name": "Ana Agente", "email": self.ana, "role": "agent", "default_group_id": GROUP },
                { "id": BRUNO, "name": "Bruno Lima", "email": self.bruno, "role": "agent" },
                { "id": MARIA, "name": "Maria Souza", "email": self.maria, "role": "end-user" },
            ],
        })
    }
}

struct Account {
    handle: SimHandle,
    http: reqwest::Client,
}

impl Account {
    async fn start(seed: Value, mail_outlet: MailOutlet) -> Account {
        let options = SimOptions {
            seed: serde_json::from_value(seed).expect("a valid seed"),
            clock: Arc::new(FixedClock::at(instant(NOW))),
            mail_outlet,
            ..SimOptions::default()
        };
        Account {
            handle: sim::spawn(options).await.expect("start the simulator"),
            http: plain_http(),
        }
    }

    /// A request as the user with e-mail `who`: the status and the body.
    async fn call(&self, who: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = self.handle.base_url.join(path).expect("url");
        let mut request = self
            .http
            .request(method, url)
            .basic_auth(format!("{who}/token"), Some("secret"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("a response");
        let status = response.status();
        let bytes = response.bytes().await.expect("a body");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn create(&self, who: &str, ticket: Value) -> Value {
        let (status, body) = self
            .call(
                who,
                Method::POST,
                "/api/v2/tickets",
                Some(json!({ "ticket": ticket })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn update(&self, who: &str, id: u64, ticket: Value) -> Value {
        let (status, body) = self
            .call(
                who,
                Method::PUT,
                &format!("/api/v2/tickets/{id}"),
                Some(json!({ "ticket": ticket })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn control(&self, path: &str) -> Value {
        let url = self.handle.base_url.join(path).expect("url");
        let response = self.http.get(url).send().await.expect("a response");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("JSON")
    }

    async fn notifications(&self) -> Vec<Value> {
        self.control("/__sim/notifications").await["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The notifications once there are `n` and none is still being
    /// delivered.
    async fn settled(&self, n: usize) -> Vec<Value> {
        poll_until(
            &format!("{n} notifications, all delivered or refused"),
            DELIVERY,
            String::new,
            || async {
                let all = self.notifications().await;
                let pending = all
                    .iter()
                    .flat_map(|n| n["delivery"].as_array().cloned().unwrap_or_default())
                    .any(|d| d["state"] == "pending");
                (all.len() >= n && !pending).then_some(all)
            },
        )
        .await
    }

    async fn trigger_id(&self, who: &str, title: &str) -> u64 {
        let (_, body) = self.call(who, Method::GET, "/api/v2/triggers", None).await;
        body["triggers"]
            .as_array()
            .expect("triggers")
            .iter()
            .find(|t| t["title"] == title)
            .and_then(|t| t["id"].as_u64())
            .unwrap_or_else(|| panic!("no trigger {title:?}"))
    }
}

/// `(trigger title, ticket id, To, Cc)` of each notification.
fn summary(notifications: &[Value]) -> Vec<(String, u64, Vec<String>, Vec<String>)> {
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    notifications
        .iter()
        .map(|n| {
            (
                n["trigger"]["title"].as_str().unwrap_or_default().to_owned(),
                n["ticket_id"].as_u64().unwrap_or_default(),
                list(&n["to"]),
                list(&n["cc"]),
            )
        })
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The encoded id at the end of a notification's text, e.g. `4KD2QA-0001`.
fn encoded_id(body: &str) -> String {
    let last = body.trim_end().lines().last().unwrap_or_default();
    let id = last
        .strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .unwrap_or_else(|| panic!("no [ENCODED-ID] at the end of {body:?}"));
    let (head, tail) = id.split_once('-').expect("a dash");
    let base36 = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
    assert!(head.len() == 6 && base36(head), "{id}");
    assert!((4..=5).contains(&tail.len()) && base36(tail), "{id}");
    id.to_owned()
}

/// The text a notification ends with: the footer and the encoded id, after
/// nine empty lines, as Zendesk's recorded mails have it.
fn footer(encoded: &str) -> String {
    format!(
        "--------------------------------\nThis email is a service from Loja Exemplo.\n\n\n\n\n\n\n\n\n\n[{encoded}]\n"
    )
}

/// A delivered mail: its text part, decoded.
fn text_of(raw: &[u8]) -> String {
    let parsed = mail_parser::MessageParser::default().parse(raw).expect("a mail");
    parsed.body_text(0).expect("a text part").replace("\r\n", "\n")
}

/// (name, address) pairs.
type Addresses = Vec<(String, String)>;

/// The addresses of To and Cc.
fn addresses(raw: &[u8]) -> (Addresses, Addresses) {
    let parsed = mail_parser::MessageParser::default().parse(raw).expect("a mail");
    let list = |field: Option<&mail_parser::Address>| -> Addresses {
        field
            .map(|a| {
                a.iter()
                    .map(|a| {
                        (
                            a.name().unwrap_or_default().to_owned(),
                            a.address().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    (list(parsed.to()), list(parsed.cc()))
}

fn subject_of(raw: &[u8]) -> String {
    let parsed = mail_parser::MessageParser::default().parse(raw).expect("a mail");
    parsed.subject().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_new_account_lists_the_standard_triggers_in_zendesks_shape() {
    let account = Account::start(json!({}), MailOutlet::None).await;
    let agent = "agente@example.test";
    let (status, body) = account.call(agent, Method::GET, "/api/v2/triggers", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], 10);
    assert_eq!(body["next_page"], Value::Null);
    assert_eq!(body["previous_page"], Value::Null);
    let triggers = body["triggers"].as_array().expect("triggers");
    let titles: Vec<&str> = triggers.iter().filter_map(|t| t["title"].as_str()).collect();
    assert_eq!(titles, STANDARD);
    let base = account.handle.base_url.as_str().trim_end_matches('/');
    let first_id = triggers[0]["id"].as_u64().expect("an id");
    // Zendesk's keys and values (zenpy's 2023 recording of this trigger,
    // `default` from the documentation: a standard trigger).
    assert_eq!(
        triggers[0],
        json!({
            "url": format!("{base}/api/v2/triggers/{first_id}.json"),
            "id": first_id,
            "title": "Notify requester and CCs of received request",
            "active": true,
            "updated_at": "2026-03-02T13:00:00Z",
            "created_at": "2026-03-02T13:00:00Z",
            "default": true,
            "actions": [{
                "field": "notification_user",
                "value": [
                    "requester_and_ccs",
                    "[Request received]",
                    "Your request ({{ticket.id}}) has been received and is being reviewed by our support staff.\n\nTo add additional comments, reply to this email."
                ]
            }],
            "conditions": {
                "all": [
                    { "field": "update_type", "operator": "is", "value": "Create" },
                    { "field": "status", "operator": "is_not", "value": "solved" },
                    { "field": "ticket_is_public", "operator": "is", "value": "public" },
                    { "field": "comment_is_public", "operator": "is", "value": true },
                    { "field": "role", "operator": "is", "value": "end_user" }
                ],
                "any": []
            },
            "description": null,
            "position": 0,
            "raw_title": "Notify requester and CCs of received request",
            "category_id": triggers[0]["category_id"].as_str().expect("category_id is a string"),
        })
    );
    assert!(
        triggers
            .iter()
            .all(|t| t["default"] == true && t["category_id"] == triggers[0]["category_id"])
    );
    let priority = &triggers[9];
    assert_eq!(
        (&priority["conditions"], &priority["actions"]),
        (
            &json!({ "all": [
                { "field": "update_type", "operator": "is", "value": "Create" },
                { "field": "priority", "operator": "is", "value": "" }
            ], "any": [] }),
            &json!([{ "field": "priority", "value": "normal" }])
        )
    );

    let (_, one) = account
        .call(agent, Method::GET, &format!("/api/v2/triggers/{first_id}"), None)
        .await;
    assert_eq!(one["trigger"], triggers[0]);
    let (_, inactive) = account
        .call(agent, Method::GET, "/api/v2/triggers?active=false", None)
        .await;
    assert_eq!(inactive["count"], 1);
    assert_eq!(inactive["triggers"][0]["title"], STANDARD[8]);
    let (_, active) = account
        .call(agent, Method::GET, "/api/v2/triggers/active", None)
        .await;
    assert_eq!(active["count"], 9);

    // Cursor pages, followed to the end, give the same list.
    let mut seen = Vec::new();
    let mut next = Some(format!("{base}/api/v2/triggers?page[size]=4"));
    while let Some(url) = next.take() {
        let path = url
            .strip_prefix(base)
            .expect("a link to the simulator")
            .to_owned();
        let (status, page) = account.call(agent, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.get("count").is_none(), "a cursor page has no count: {page}");
        seen.extend(
            page["triggers"]
                .as_array()
                .expect("triggers")
                .iter()
                .map(|t| t["title"].clone()),
        );
        if page["meta"]["has_more"] == true {
            next = page["links"]["next"].as_str().map(str::to_owned);
        }
    }
    assert_eq!(seen, STANDARD.map(Value::from).to_vec());

    let state = account.control("/__sim/state").await;
    assert_eq!(state["triggers"].as_array().map(Vec::len), Some(10));
    assert_eq!(
        state["account"],
        json!({ "name": "Empresa", "subdomain": "empresa", "support_address": "support@empresa.zendesk.com" })
    );
}

#[tokio::test]
async fn an_agents_ticket_for_a_customer_mails_the_proactive_notice_and_tells_every_agent() {
    let servers = servers();
    let (ana, bruno, maria) = (
        servers.new_mailbox("trig-ana"),
        servers.new_mailbox("trig-bruno"),
        servers.new_mailbox("trig-maria"),
    );
    let people = People::at(&ana.address, &bruno.address, &maria.address);
    let smtp = MailOutlet::Smtp {
        host: "127.0.0.1".into(),
        port: servers.smtp_port,
    };
    let account = Account::start(people.seed(), smtp).await;
    let created = account
        .create(
            &people.ana,
            json!({
                "subject": "Boleto vencido",
                "comment": { "body": "Olá Maria, o seu boleto venceu; segue o novo." },
                "requester_id": MARIA,
                "submitter_id": ANA,
            }),
        )
        .await;
    let id = created["ticket"]["id"].as_u64().expect("id");
    // "Set tickets with no priority to normal" fired.
    assert_eq!(created["ticket"]["priority"], "normal");

    let mails = servers.wait_for_messages(&maria.user, 1, DELIVERY).await;
    assert_eq!(mails.len(), 1);
    let raw = &mails[0];
    let text = text_of(raw);
    let encoded = encoded_id(&text);
    assert!(encoded.ends_with("-0001"), "ticket 1's encoded id: {encoded}");
    let root = format!("<{}@zendesk.com>", encoded.replace('-', ""));
    assert_eq!(
        text,
        format!(
            "##- Please type your reply above this line -##\n\n\
             This ticket was created on your behalf.\n\n\
             To add additional comments, reply to this email.\n\n\
             Ana Agente, {NOW_SHOWN}\n\n\
             Olá Maria, o seu boleto venceu; segue o novo.\n\n{}",
            footer(&encoded)
        )
    );
    assert_eq!(subject_of(raw), "Boleto vencido");
    assert_eq!(
        raw_header(raw, "From").as_deref(),
        Some("\"Ana Agente (Loja Exemplo)\" <support@loja.zendesk.com>")
    );
    assert_eq!(
        raw_header(raw, "Reply-To").as_deref(),
        Some("\"Loja Exemplo\" <support@loja.zendesk.com>")
    );
    assert_eq!(
        raw_header(raw, "To").as_deref(),
        Some(format!("\"Maria Souza\" <{}>", maria.address).as_str())
    );
    let message_id = raw_header(raw, "Message-ID").expect("a Message-ID");
    assert!(
        message_id.starts_with(&format!("<{}_", encoded.replace('-', "")))
            && message_id.ends_with("_sprut@zendesk.com>"),
        "{message_id}"
    );
    assert_eq!(raw_header(raw, "In-Reply-To").as_deref(), Some(root.as_str()));
    assert_eq!(raw_header(raw, "References").as_deref(), Some(root.as_str()));
    assert_eq!(
        raw_header(raw, "Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert_eq!(
        raw_header(raw, "X-Auto-Response-Suppress").as_deref(),
        Some("All")
    );
    assert_eq!(raw_header(raw, "X-Mailer").as_deref(), Some("Zendesk Mailer"));

    // "Notify all agents of received request" mailed each agent, the
    // creator too (as recorded audits list them), each a mail of their own.
    let agents_subject = "[Loja Exemplo] Boleto vencido";
    for agent in [&ana, &bruno] {
        let got = servers.wait_for_messages(&agent.user, 1, DELIVERY).await;
        assert_eq!(subject_of(&got[0]), agents_subject);
        assert_eq!(
            text_of(&got[0]),
            format!(
                "##- Please type your reply above this line -##\n\n\
                 A ticket (#{id}) by Maria Souza has been received. It is unassigned.\n\n\
                 Ana Agente, {NOW_SHOWN}\n\n\
                 Olá Maria, o seu boleto venceu; segue o novo.\n\n{}",
                footer(&encoded)
            )
        );
    }
    let notifications = account.settled(3).await;
    assert_eq!(
        summary(&notifications),
        vec![
            (STANDARD[1].to_owned(), id, vec![maria.address.clone()], vec![]),
            (STANDARD[7].to_owned(), id, vec![ana.address.clone()], vec![]),
            (STANDARD[7].to_owned(), id, vec![bruno.address.clone()], vec![]),
        ]
    );
    assert!(
        notifications
            .iter()
            .all(|n| n["delivery"][0]["state"] == "delivered")
    );
    assert!(
        notifications[0]["delivery"][0]["reply"]
            .as_str()
            .is_some_and(|r| r.starts_with("250 ")),
        "{}",
        notifications[0]["delivery"]
    );
    assert_eq!(notifications[0]["message_id"].as_str(), Some(message_id.as_str()));

    // The audit says what the triggers did: the priority change and the
    // notifications, their texts unrendered, as real audits have them.
    let (_, audits) = account
        .call(
            &people.ana,
            Method::GET,
            &format!("/api/v2/tickets/{id}/audits"),
            None,
        )
        .await;
    let events = audits["audits"][0]["events"].as_array().expect("events").clone();
    let by_trigger = |title: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["via"]["source"]["from"]["title"] == title)
            .map(|e| {
                let mut e = e.clone();
                e.as_object_mut().expect("an event").remove("id");
                e["via"]["source"]["from"]
                    .as_object_mut()
                    .expect("from")
                    .remove("id");
                e
            })
            .collect()
    };
    let via = |title: &str| json!({ "channel": "rule", "source": { "from": { "deleted": false, "title": title }, "rel": "trigger" } });
    assert_eq!(
        by_trigger(STANDARD[9]),
        vec![
            json!({ "type": "Change", "field_name": "priority", "value": "normal", "previous_value": null, "via": via(STANDARD[9]) })
        ]
    );
    assert_eq!(
        by_trigger(STANDARD[1]),
        vec![json!({
            "type": "Notification",
            "via": via(STANDARD[1]),
            "subject": "{{ticket.title}}",
            "body": "This ticket was created on your behalf.\n\nTo add additional comments, reply to this email.\n\n{{ticket.latest_public_comment_html}}",
            "recipients": [MARIA],
        })]
    );
    assert_eq!(by_trigger(STANDARD[7])[0]["recipients"], json!([ANA, BRUNO]));
    assert!(
        by_trigger(STANDARD[0]).is_empty(),
        "an agent's create is not a received request"
    );
}

#[tokio::test]
async fn a_customers_own_request_gets_request_received_in_its_maildir() {
    let dir = test_dir("sim-triggers-maildir");
    let people = People::at("ana@example.test", "bruno@example.test", "maria@example.test");
    let account = Account::start(people.seed(), MailOutlet::Maildir(dir.clone())).await;
    // Maria, an end user, opens her own request.
    let created = account
        .create(
            &people.maria,
            json!({ "subject": "Não consigo entrar", "comment": { "body": "Minha senha não funciona." } }),
        )
        .await;
    let id = created["ticket"]["id"].as_u64().expect("id");
    let notifications = account.settled(3).await;
    assert_eq!(
        summary(&notifications),
        vec![
            (
                STANDARD[0].to_owned(),
                id,
                strings(&["maria@example.test"]),
                vec![]
            ),
            (STANDARD[7].to_owned(), id, strings(&["ana@example.test"]), vec![]),
            (
                STANDARD[7].to_owned(),
                id,
                strings(&["bruno@example.test"]),
                vec![]
            ),
        ],
        "the received-request notice, not the proactive one"
    );
    let received = &notifications[0];
    assert_eq!(received["subject"], "[Request received]");
    assert_eq!(
        received["from"],
        "\"Maria Souza (Loja Exemplo)\" <support@loja.zendesk.com>"
    );
    let encoded = encoded_id(received["body"].as_str().expect("body"));
    assert_eq!(
        received["body"],
        format!(
            "##- Please type your reply above this line -##\n\n\
             Your request ({id}) has been received and is being reviewed by our support staff.\n\n\
             To add additional comments, reply to this email.\n\n{}",
            footer(&encoded)
        )
    );
    // The Maildir outlet: one Maildir per recipient, the mail in new/.
    let new = |who: &str| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(Path::new(&dir).join(who).join("new"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    };
    let files = new("maria@example.test");
    assert_eq!(files.len(), 1);
    let raw = std::fs::read(&files[0]).expect("the mail");
    assert_eq!(subject_of(&raw), "[Request received]");
    assert_eq!(new("ana@example.test").len(), 1);
    assert_eq!(new("bruno@example.test").len(), 1);
}

#[tokio::test]
async fn a_public_comment_mails_the_requester_and_ccs_and_a_private_note_does_not() {
    let servers = servers();
    let (ana, bruno, maria, joao) = (
        servers.new_mailbox("trig-c-ana"),
        servers.new_mailbox("trig-c-bruno"),
        servers.new_mailbox("trig-c-maria"),
        servers.new_mailbox("trig-c-joao"),
    );
    let people = People::at(&ana.address, &bruno.address, &maria.address);
    let smtp = MailOutlet::Smtp {
        host: "127.0.0.1".into(),
        port: servers.smtp_port,
    };
    let account = Account::start(people.seed(), smtp).await;
    let created = account
        .create(
            &people.ana,
            json!({
                "subject": "Troca de produto",
                "comment": { "body": "Abrimos a troca." },
                "requester_id": MARIA,
                "submitter_id": ANA,
                "assignee_id": BRUNO,
                "email_ccs": [{ "user_email": joao.address, "user_name": "João Reis", "action": "put" }],
            }),
        )
        .await;
    let id = created["ticket"]["id"].as_u64().expect("id");
    // The proactive notice is one mail: Maria in To, João in Cc.
    let first = servers.wait_for_messages(&maria.user, 1, DELIVERY).await;
    assert_eq!(
        addresses(&first[0]),
        (
            vec![("Maria Souza".to_owned(), maria.address.clone())],
            vec![("João Reis".to_owned(), joao.address.clone())]
        )
    );
    let joao_first = servers.wait_for_messages(&joao.user, 1, DELIVERY).await;
    assert_eq!(
        raw_header(&joao_first[0], "Message-ID"),
        raw_header(&first[0], "Message-ID"),
        "the same mail"
    );

    account
        .update(
            &people.ana,
            id,
            json!({ "comment": { "body": "A troca foi aprovada.", "public": true } }),
        )
        .await;
    let second = servers.wait_for_messages(&maria.user, 2, DELIVERY).await;
    let update = &second[1];
    assert_eq!(subject_of(update), "[Loja Exemplo] Re: Troca de produto");
    let encoded = encoded_id(&text_of(update));
    assert_eq!(
        text_of(update),
        format!(
            "##- Please type your reply above this line -##\n\n\
             Ana Agente, {NOW_SHOWN}\n\n\
             A troca foi aprovada.\n\n{}",
            footer(&encoded)
        )
    );
    // Threaded under the ticket's root, after the first notification.
    let root = format!("<{}@zendesk.com>", encoded.replace('-', ""));
    let first_id = raw_header(&first[0], "Message-ID").expect("id");
    assert_eq!(
        raw_header(update, "In-Reply-To"),
        Some(format!("{root} {first_id}"))
    );
    assert_eq!(
        raw_header(update, "References"),
        Some(format!("{root} {first_id}"))
    );

    // A private note: the requester-and-CCs mail is suppressed; the
    // assignee's trigger still mails Bruno.
    account
        .update(
            &people.ana,
            id,
            json!({ "comment": { "body": "Cliente recorrente, priorizar.", "public": false } }),
        )
        .await;
    // Then another public comment: the next mail Maria and João get is
    // that one, so nothing came between.
    account
        .update(
            &people.ana,
            id,
            json!({ "comment": { "body": "O produto novo já saiu.", "public": true } }),
        )
        .await;
    let maria_mails = servers.wait_for_messages(&maria.user, 3, DELIVERY).await;
    let joao_mails = servers.wait_for_messages(&joao.user, 3, DELIVERY).await;
    let notifications = account.settled(9).await;
    assert_eq!(maria_mails.len(), 3);
    assert_eq!(joao_mails.len(), 3);
    for mails in [&maria_mails, &joao_mails] {
        assert!(text_of(&mails[2]).contains("O produto novo já saiu."));
        assert!(mails.iter().all(|m| !text_of(m).contains("priorizar")));
    }
    let maria_address = vec![maria.address.clone()];
    let joao_address = vec![joao.address.clone()];
    let bruno_address = vec![bruno.address.clone()];
    assert_eq!(
        summary(&notifications),
        vec![
            (
                STANDARD[1].to_owned(),
                id,
                maria_address.clone(),
                joao_address.clone()
            ),
            (STANDARD[4].to_owned(), id, bruno_address.clone(), vec![]),
            (STANDARD[7].to_owned(), id, vec![ana.address.clone()], vec![]),
            (STANDARD[7].to_owned(), id, bruno_address.clone(), vec![]),
            (
                STANDARD[2].to_owned(),
                id,
                maria_address.clone(),
                joao_address.clone()
            ),
            (STANDARD[3].to_owned(), id, bruno_address.clone(), vec![]),
            (STANDARD[3].to_owned(), id, bruno_address.clone(), vec![]),
            (STANDARD[2].to_owned(), id, maria_address, joao_address),
            (STANDARD[3].to_owned(), id, bruno_address, vec![]),
        ]
    );
    // Bruno, an agent, sees the private note.
    let bruno_mails = servers.wait_for_messages(&bruno.user, 5, DELIVERY).await;
    assert!(
        bruno_mails
            .iter()
            .any(|m| text_of(m).contains("Cliente recorrente, priorizar."))
    );
}

#[tokio::test]
async fn deactivating_a_trigger_stops_exactly_its_mails() {
    let people = People::at("ana@example.test", "bruno@example.test", "maria@example.test");
    let account = Account::start(people.seed(), MailOutlet::None).await;
    let ticket = json!({ "subject": "Pedido", "comment": { "body": "Oi" }, "requester_id": MARIA, "submitter_id": ANA });
    account.create(&people.ana, ticket.clone()).await;
    let all_agents = account.trigger_id(&people.ana, STANDARD[7]).await;

    let (status, body) = account
        .call(
            &people.ana,
            Method::PUT,
            &format!("/api/v2/triggers/{all_agents}"),
            Some(json!({ "trigger": { "active": false } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["trigger"]["active"], false);
    assert_eq!(body["trigger"]["title"], STANDARD[7], "the rest is kept");
    assert_eq!(body["trigger"]["actions"][0]["value"][0], "all_agents");
    account.create(&people.ana, ticket.clone()).await;

    // update_many turns it back on.
    let (status, body) = account
        .call(
            &people.ana,
            Method::PUT,
            "/api/v2/triggers/update_many",
            Some(json!({ "triggers": [{ "id": all_agents, "active": true }] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["triggers"][0]["active"], true);
    assert_eq!(body["count"], 1);
    account.create(&people.ana, ticket).await;

    let notifications = account.notifications().await;
    let maria = strings(&["maria@example.test"]);
    let (ana, bruno) = (strings(&["ana@example.test"]), strings(&["bruno@example.test"]));
    assert_eq!(
        summary(&notifications),
        vec![
            (STANDARD[1].to_owned(), 1, maria.clone(), vec![]),
            (STANDARD[7].to_owned(), 1, ana.clone(), vec![]),
            (STANDARD[7].to_owned(), 1, bruno.clone(), vec![]),
            (STANDARD[1].to_owned(), 2, maria.clone(), vec![]),
            (STANDARD[1].to_owned(), 3, maria, vec![]),
            (STANDARD[7].to_owned(), 3, ana, vec![]),
            (STANDARD[7].to_owned(), 3, bruno, vec![]),
        ]
    );
    assert!(
        notifications.iter().all(|n| n["delivery"]
            .as_array()
            .is_some_and(|d| d.iter().all(|d| d["state"] == "recorded"))),
        "without an outlet every mail is only recorded"
    );
}

#[tokio::test]
async fn a_trigger_that_changes_the_ticket_fires_once_and_the_cycle_stops() {
    // Two triggers that would undo each other forever, and one that only a
    // later trigger's change makes fire.
    let seed = json!({
        "users": [{ "id": ANA, "name": "Ana Agente", "email": "ana@example.test", "role": "agent" }],
        "triggers": [
            {
                "title": "Tagged by B",
                "position": 0,
                "conditions": { "all": [{ "field": "current_tags", "operator": "includes", "value": "b_fired" }] },
                "actions": [{ "field": "current_tags", "value": "c_fired" }]
            },
            {
                "title": "A: high becomes urgent",
                "position": 1,
                "conditions": { "all": [{ "field": "priority", "operator": "is", "value": "high" }] },
                "actions": [{ "field": "priority", "value": "urgent" }, { "field": "current_tags", "value": "a_fired" }]
            },
            {
                "title": "B: urgent becomes high",
                "position": 2,
                "conditions": { "all": [{ "field": "priority", "operator": "is", "value": "urgent" }] },
                "actions": [{ "field": "priority", "value": "high" }, { "field": "current_tags", "value": "b_fired" }]
            },
        ],
    });
    let account = Account::start(seed, MailOutlet::None).await;
    let created = account
        .create(
            "ana@example.test",
            json!({ "subject": "Loop", "comment": { "body": "x" }, "priority": "high" }),
        )
        .await;
    assert_eq!(created["ticket"]["priority"], "high", "A then B, once each");
    assert_eq!(
        created["ticket"]["tags"],
        json!(["a_fired", "b_fired", "c_fired"])
    );
    let changes: Vec<(Value, Value, Value, Value)> = created["audit"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["via"]["channel"] == "rule")
        .map(|e| {
            (
                e["via"]["source"]["from"]["title"].clone(),
                e["field_name"].clone(),
                e["previous_value"].clone(),
                e["value"].clone(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (
                json!("A: high becomes urgent"),
                json!("priority"),
                json!("high"),
                json!("urgent")
            ),
            (
                json!("A: high becomes urgent"),
                json!("tags"),
                json!([]),
                json!(["a_fired"])
            ),
            (
                json!("B: urgent becomes high"),
                json!("priority"),
                json!("urgent"),
                json!("high")
            ),
            (
                json!("B: urgent becomes high"),
                json!("tags"),
                json!(["a_fired"]),
                json!(["a_fired", "b_fired"])
            ),
            (
                json!("Tagged by B"),
                json!("tags"),
                json!(["a_fired", "b_fired"]),
                json!(["a_fired", "b_fired", "c_fired"])
            ),
        ]
    );
    // The tags endpoint is an update too, with a cycle of its own: A and B
    // fire once each again; "Tagged by B" fires but changes nothing, so the
    // audit has no event of it.
    let (status, _) = account
        .call(
            "ana@example.test",
            Method::PUT,
            "/api/v2/tickets/1/tags",
            Some(json!({ "tags": ["x"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, audits) = account
        .call("ana@example.test", Method::GET, "/api/v2/tickets/1/audits", None)
        .await;
    let changes: Vec<(Value, Value, Value, Value)> = audits["audits"][1]["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["via"]["source"]["from"]["title"].clone(),
                e["field_name"].clone(),
                e["previous_value"].clone(),
                e["value"].clone(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (
                Value::Null,
                json!("tags"),
                json!(["a_fired", "b_fired", "c_fired"]),
                json!(["a_fired", "b_fired", "c_fired", "x"])
            ),
            (
                json!("A: high becomes urgent"),
                json!("priority"),
                json!("high"),
                json!("urgent")
            ),
            (
                json!("B: urgent becomes high"),
                json!("priority"),
                json!("urgent"),
                json!("high")
            ),
        ]
    );
    assert!(
        account.notifications().await.is_empty(),
        "the seed replaced the standard triggers"
    );
}

#[tokio::test]
async fn a_condition_the_simulator_cannot_evaluate_is_a_422_naming_it() {
    let account = Account::start(json!({}), MailOutlet::None).await;
    let agent = "agente@example.test";
    let post = |trigger: Value| {
        account.call(
            agent,
            Method::POST,
            "/api/v2/triggers",
            Some(json!({ "trigger": trigger })),
        )
    };
    let (status, body) = post(json!({
        "title": "Palavra no assunto",
        "conditions": { "all": [{ "field": "subject_includes_word", "operator": "includes", "value": "boleto" }] },
        "actions": [{ "field": "priority", "value": "high" }],
    }))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        json!({
            "error": "RecordInvalid",
            "description": "Record validation errors",
            "details": { "base": [{ "description": "The simulator cannot evaluate the condition 'subject_includes_word / includes / boleto' (it evaluates update_type, status, priority, assignee_id, requester_id, group_id, current_tags, via_id, current_via_id, comment_is_public, ticket_is_public and role, with the operators Zendesk's definitions give each)" }] },
        })
    );
    // A value Zendesk itself refuses gets Zendesk's words.
    let (status, body) = post(json!({
        "title": "Fora da web",
        "conditions": { "all": [{ "field": "current_via_id", "operator": "is_not", "value": "web" }] },
        "actions": [{ "field": "priority", "value": "high" }],
    }))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["details"]["base"][0]["description"],
        "Invalid value 'web' in 'Update via / Is not / web'"
    );
    let (status, body) = post(json!({
        "title": "Webhook",
        "conditions": { "all": [{ "field": "update_type", "operator": "is", "value": "Create" }] },
        "actions": [{ "field": "notification_webhook", "value": ["1", "{}"] }],
    }))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["details"]["base"][0]["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("The simulator cannot perform the action 'notification_webhook'")),
        "{body}"
    );
    let (_, list) = account.call(agent, Method::GET, "/api/v2/triggers", None).await;
    assert_eq!(list["count"], 10, "nothing was created");

    // One it can run: 201, last in line, not a standard trigger.
    let (status, body) = post(json!({
        "title": "VIP",
        "conditions": { "all": [{ "field": "current_tags", "operator": "includes", "value": "vip" }] },
        "actions": [{ "field": "priority", "value": "urgent" }],
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["trigger"]["position"], 10_000);
    assert_eq!(body["trigger"]["default"], false);
    assert_eq!(body["trigger"]["active"], true);
    let id = body["trigger"]["id"].as_u64().expect("id");
    // Updating the actions clears the conditions (both arrays are
    // replaced, as Zendesk documents).
    let (status, body) = account
        .call(
            agent,
            Method::PUT,
            &format!("/api/v2/triggers/{id}"),
            Some(json!({ "trigger": { "actions": [{ "field": "priority", "value": "high" }] } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["trigger"]["conditions"], json!({ "all": [], "any": [] }));
    let (status, _) = account
        .call(agent, Method::DELETE, &format!("/api/v2/triggers/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = account
        .call(agent, Method::GET, &format!("/api/v2/triggers/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn a_recipient_postfix_refuses_is_recorded_as_refused() {
    let servers = servers();
    let ana = servers.new_mailbox("trig-r-ana");
    // Postfix relays only @example.test: anything else is "Relay access
    // denied".
    let people = People::at(&ana.address, "bruno@example.test", "cliente@fora.example.com");
    let smtp = MailOutlet::Smtp {
        host: "127.0.0.1".into(),
        port: servers.smtp_port,
    };
    let account = Account::start(people.seed(), smtp).await;
    account
        .create(
            &people.ana,
            json!({ "subject": "Aviso", "comment": { "body": "Oi" }, "requester_id": MARIA, "submitter_id": ANA }),
        )
        .await;
    let notifications = account.settled(3).await;
    let proactive = &notifications[0];
    assert_eq!(proactive["trigger"]["title"], STANDARD[1]);
    let delivery = &proactive["delivery"][0];
    assert_eq!(delivery["address"], "cliente@fora.example.com");
    assert_eq!(delivery["state"], "refused", "{delivery}");
    assert!(
        delivery["reply"]
            .as_str()
            .is_some_and(|r| r.contains("554") && r.contains("Relay access denied")),
        "{delivery}"
    );
    // The others still went out, and the simulator keeps answering.
    assert_eq!(notifications[1]["delivery"][0]["state"], "delivered");
    servers.wait_for_messages(&ana.user, 1, DELIVERY).await;
    let (status, _) = account
        .call(&people.ana, Method::GET, "/api/v2/tickets/1", None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// `carteiro sim`, killed when the test ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn carteiro_sim_with_maildir_delivers_its_triggers_mails() {
    use std::io::BufRead as _;
    let dir = test_dir("sim-triggers-cli");
    let mail = dir.join("mail");
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_carteiro"))
            .args(["sim", "--listen", "127.0.0.1:0", "--maildir"])
            .arg(&mail)
            .current_dir(&dir)
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start carteiro sim"),
    );
    let mut first = String::new();
    std::io::BufReader::new(child.0.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("the first line");
    let base = first
        .strip_prefix("listening on ")
        .map(str::trim)
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    let response = plain_http()
        .post(format!("{base}/api/v2/tickets"))
        .basic_auth("ana@example.test/token", Some("secret"))
        .json(&json!({ "ticket": {
            "subject": "Pelo terminal",
            "comment": { "body": "Oi" },
            "requester": { "email": "cliente@example.test", "name": "Cliente" },
        } }))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::CREATED);
    let new = mail.join("cliente@example.test").join("new");
    let files = poll_until(
        "the requester's mail in the Maildir",
        DELIVERY,
        || format!("{} holds nothing", new.display()),
        || async {
            let files: Vec<_> = std::fs::read_dir(&new)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            (!files.is_empty()).then_some(files)
        },
    )
    .await;
    let raw = std::fs::read(&files[0]).expect("the mail");
    assert_eq!(subject_of(&raw), "Pelo terminal", "the proactive notice");
    assert!(text_of(&raw).contains("This email is a service from Empresa."));
}

#[test]
fn carteiro_sim_refuses_a_seed_trigger_it_cannot_run() {
    let dir = test_dir("sim-triggers-bad-seed");
    std::fs::write(
        dir.join("seed.json"),
        r#"{"triggers": [{"title": "Palavra", "conditions": {"all": [{"field": "subject_includes_word", "operator": "includes", "value": "boleto"}]}, "actions": [{"field": "priority", "value": "high"}]}]}"#,
    )
    .expect("write the seed");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carteiro"))
        .args(["sim", "--listen", "127.0.0.1:0", "--seed", "seed.json"])
        .current_dir(&dir)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run carteiro sim");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: simulator seed seed.json: at `triggers[0]` (line 1, column ")
            && stderr.contains(
                "The simulator cannot evaluate the condition 'subject_includes_word / includes / boleto'"
            ),
        "{stderr}"
    );
}
