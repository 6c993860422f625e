//! Inbound e-mail end to end, with real servers: a mail submitted to
//! Postfix lands in Dovecot, `carteiro run` reads it over IMAP and writes
//! it to the Zendesk simulator, and the tests assert on the simulator's
//! state. Each test has its own mailbox, simulator and state file; the
//! outage tests have their own mail servers too.
//!
//! Sync points are explicit: a test waits for the simulator to show the
//! expected state (polling `/__sim/state`), never for a fixed time.

use crate::support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::daemon::Daemon;
use crate::support::mail::{MailServers, TestMailbox, servers};
use carteiro::helpdesk::sim::{self, SimHandle, SimOptions};
use carteiro::helpdesk::zendesk::ZendeskClient;
use carteiro::helpdesk::{CustomFieldValue, HelpDesk, Status, TicketUpdate};
use serde_json::Value;

/// How long a mail may take from SMTP to a ticket in these tests.
const DELIVERY: Duration = Duration::from_secs(30);

/// One test's world: a simulator, a support mailbox, a state file.
/// The custom field of [`World`]'s helpdesk.
const MOTIVO: u64 = 900;

struct World {
    sim: SimHandle,
    support: TestMailbox,
    dir: PathBuf,
}

impl World {
    async fn new(name: &str, servers: &MailServers) -> World {
        // One custom field, which a follow-up inherits.
        let seed = serde_json::json!({
            "ticket_fields": [ { "id": MOTIVO, "type": "text", "title": "Motivo" } ],
        });
        let sim = sim::spawn(support::strict(SimOptions {
            seed: serde_json::from_value(seed).expect("a valid seed"),
            relax_export_start: true,
            ..SimOptions::default()
        }))
        .await
        .expect("start the simulator");
        let support = servers.new_mailbox(&format!("suporte-{name}"));
        let dir = support::test_dir(&format!("inbound-{name}"));
        World { sim, support, dir }
    }

    /// Writes a config for `carteiro run` reading this world's mailbox
    /// over IMAP.
    fn config(&self, servers: &MailServers, extra_mail: &str) -> PathBuf {
        let imap = format!(
            r#"
[[mailbox]]
name = "suporte"
kind = "imap"
host = "127.0.0.1"
port = {port}
tls = "plain"
username = "{user}"
password_env = "IMAP_TEST_PASSWORD"
idle = true
poll_interval = "2s"
timeout = "10s"
"#,
            port = servers.imap_port,
            user = self.support.user,
        );
        self.config_with(extra_mail, &imap)
    }

    /// Writes a config for `carteiro run` with `mailboxes` as its
    /// `[[mailbox]]` entries.
    fn config_with(&self, extra_mail: &str, mailboxes: &str) -> PathBuf {
        let text = format!(
            r#"
[zendesk]
base_url = "{base}"
email = "carteiro@empresa.example"
request_timeout = "5s"
max_retries = 3
max_backoff = "500ms"

[log]
level = "carteiro=debug,info"

[state]
path = "{state}"

# The ticket poller reads the export once at start; its later polls would
# add requests to the counts these tests assert.
[tickets]
poll_interval = "1h"

[mail]
own_addresses = ["{own}"]
message_id_domain = "carteiro.example.test"
{extra_mail}
{mailboxes}
"#,
            base = self.sim.base_url.as_str().trim_end_matches('/'),
            state = self.dir.join("carteiro.db").display(),
            own = self.support.address,
        );
        let path = self.dir.join("carteiro.toml");
        std::fs::write(&path, text).expect("write the config");
        path
    }

    /// A customer's mail to the support mailbox, through SMTP.
    async fn send(
        &self,
        servers: &MailServers,
        from: (&str, &str),
        subject: &str,
        message_id: &str,
        headers: &str,
        body: &str,
    ) {
        let raw = mail(from, &self.support.address, subject, message_id, headers, body);
        servers.send(&raw, from.1, &[&self.support.address]).await;
    }

    fn state(&self) -> Value {
        self.sim.sim.state_json()
    }

    fn tickets(&self) -> Vec<Value> {
        self.state()["tickets"].as_array().cloned().unwrap_or_default()
    }

    fn comments(&self, ticket_id: u64) -> Vec<Value> {
        self.state()["comments"][ticket_id.to_string()]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until `check` holds on the simulator's state.
    async fn wait_until(&self, daemon: &Daemon, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DELIVERY;
        loop {
            let state = self.state();
            if check(&state) {
                return state;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}\nsimulator tickets: {}\n--- carteiro run log ({}):\n{}",
                    serde_json::to_string_pretty(&state["tickets"]).unwrap_or_default(),
                    daemon.config.display(),
                    daemon.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_for_tickets(&self, daemon: &Daemon, n: usize) -> Vec<Value> {
        let state = self
            .wait_until(daemon, &format!("{n} ticket(s)"), |s| {
                s["tickets"].as_array().map_or(0, Vec::len) >= n
            })
            .await;
        state["tickets"].as_array().cloned().unwrap_or_default()
    }

    async fn wait_for_comments(&self, daemon: &Daemon, ticket_id: u64, n: usize) -> Vec<Value> {
        let key = ticket_id.to_string();
        let state = self
            .wait_until(daemon, &format!("{n} comment(s) on #{ticket_id}"), |s| {
                s["comments"][&key].as_array().map_or(0, Vec::len) >= n
            })
            .await;
        state["comments"][&key].as_array().cloned().unwrap_or_default()
    }
}

/// A plain mail from a customer.
fn mail(from: (&str, &str), to: &str, subject: &str, message_id: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {} <{}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 -0300\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n{headers}\r\n{body}\r\n",
        from.0, from.1
    )
    .into_bytes()
}

fn id(ticket: &Value) -> u64 {
    ticket["id"].as_u64().expect("a ticket id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_mail_becomes_one_ticket_and_replies_thread_onto_it() {
    let servers = servers();
    let world = World::new("threads", servers).await;
    let daemon = Daemon::start(&world.config(servers, ""));
    let customer = ("Maria Souza", "maria@cliente.example");

    let first = mail(
        customer,
        &world.support.address,
        "=?UTF-8?Q?Impressora_n=C3=A3o_imprime?=",
        "m1@cliente.example",
        "",
        "Bom dia,\r\n\r\nA impressora fiscal parou de imprimir o cupom.\r\n",
    );
    servers.send(&first, customer.1, &[&world.support.address]).await;
    let tickets = world.wait_for_tickets(&daemon, 1).await;
    let ticket = &tickets[0];
    assert_eq!(ticket["subject"], "Impressora não imprime");
    assert_eq!(ticket["status"], "new");
    let requester = world.state()["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["id"] == ticket["requester_id"])
        .cloned()
        .expect("the requester exists");
    assert_eq!(requester["email"], "maria@cliente.example");
    assert_eq!(requester["name"], "Maria Souza");
    let ticket_id = id(ticket);
    let comments = world.comments(ticket_id);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("parou de imprimir o cupom")),
        "{comments:?}"
    );

    // A reply by headers, with the quoted history stripped.
    let before = world.state()["requests"].clone();
    let reply = mail(
        customer,
        &world.support.address,
        "Re: Impressora não imprime",
        "m2@cliente.example",
        "In-Reply-To: <m1@cliente.example>\r\nReferences: <m1@cliente.example>\r\n",
        "Segue o modelo: Bematech MP-4200.\r\n\r\nEm seg., 23 de nov. de 2026 às 10:00, Suporte <suporte@example.test> escreveu:\r\n> Qual o modelo?\r\n",
    );
    servers.send(&reply, customer.1, &[&world.support.address]).await;
    let comments = world.wait_for_comments(&daemon, ticket_id, 2).await;
    assert_eq!(comments[1]["body"], "Segue o modelo: Bematech MP-4200.");
    assert_eq!(
        comments[1]["author_id"], ticket["requester_id"],
        "authored by the customer"
    );
    assert!(
        comments[1]["attachments"]
            .as_array()
            .is_some_and(|a| a.iter().any(|f| f["file_name"] == "mensagem-original.eml")),
        "the full original is kept: {:?}",
        comments[1]["attachments"]
    );
    // One update adds it, with no read of the ticket or of the sender
    // (whose id the store kept from the create); the .eml upload is the
    // only extra call.
    let after = world.state()["requests"].clone();
    let calls = |route: &str| after[route].as_u64().unwrap_or(0) - before[route].as_u64().unwrap_or(0);
    assert_eq!(calls("PUT /api/v2/tickets/{id}"), 1, "{after}");
    assert_eq!(calls("POST /api/v2/uploads"), 1, "{after}");
    let total = |v: &Value| {
        v.as_object()
            .map_or(0, |m| m.values().filter_map(Value::as_u64).sum::<u64>())
    };
    assert_eq!(
        total(&after) - total(&before),
        2,
        "no other call: {before} -> {after}"
    );

    // A reply by subject tag from the requester, without thread headers.
    let tagged = mail(
        customer,
        &world.support.address,
        &format!("Re: [#{ticket_id}] Impressora"),
        "m3@cliente.example",
        "",
        "Alguma novidade?\r\n",
    );
    servers.send(&tagged, customer.1, &[&world.support.address]).await;
    let comments = world.wait_for_comments(&daemon, ticket_id, 3).await;
    assert_eq!(comments[2]["body"], "Alguma novidade?");

    // The same tag from a stranger opens a ticket of their own.
    let stranger = ("Intruso", "intruso@outro.example");
    let quoted = mail(
        stranger,
        &world.support.address,
        &format!("[#{ticket_id}] quero ver"),
        "m4@outro.example",
        "",
        "Mostre o chamado.\r\n",
    );
    servers.send(&quoted, stranger.1, &[&world.support.address]).await;
    let tickets = world.wait_for_tickets(&daemon, 2).await;
    assert_eq!(
        world.comments(ticket_id).len(),
        3,
        "nothing was added to Maria's ticket"
    );
    let theirs = tickets
        .iter()
        .find(|t| id(t) != ticket_id)
        .expect("a second ticket");
    assert_ne!(theirs["requester_id"], ticket["requester_id"]);
    assert_eq!(world.comments(id(theirs))[0]["body"], "Mostre o chamado.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_solved_reopens_and_to_closed_opens_a_follow_up() {
    let servers = servers();
    let world = World::new("lifecycle", servers).await;
    let daemon = Daemon::start(&world.config(servers, ""));
    let customer = ("João", "joao@cliente.example");
    world
        .send(
            servers,
            customer,
            "Boleto",
            "s1@cliente.example",
            "",
            "Não recebi o boleto.\r\n",
        )
        .await;
    let ticket_id = id(&world.wait_for_tickets(&daemon, 1).await[0]);

    let agent = support::client(world.sim.base_url.clone(), |b| b);
    set_status(&agent, ticket_id, Status::Solved).await;
    world
        .send(
            servers,
            customer,
            "Re: Boleto",
            "s2@cliente.example",
            "In-Reply-To: <s1@cliente.example>\r\n",
            "Ainda não chegou.\r\n",
        )
        .await;
    world.wait_for_comments(&daemon, ticket_id, 2).await;
    world
        .wait_until(&daemon, "a reply to solved reopens", |s| {
            s["tickets"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| id(t) == ticket_id && t["status"] == "open")
        })
        .await;

    // The agent classifies and closes it.
    let current = agent.show_ticket(ticket_id).await.expect("show");
    let close = TicketUpdate {
        status: Some(Status::Closed),
        additional_tags: Some(vec!["financeiro".to_owned()]),
        custom_fields: Some(vec![CustomFieldValue {
            id: MOTIVO,
            value: serde_json::json!("boleto"),
        }]),
        ..TicketUpdate::default()
    };
    agent
        .update_ticket(ticket_id, &close, current.updated_at)
        .await
        .expect("close");
    world
        .send(
            servers,
            customer,
            "Re: Boleto",
            "s3@cliente.example",
            "In-Reply-To: <s2@cliente.example>\r\n",
            "Voltou a acontecer.\r\n",
        )
        .await;
    let tickets = world.wait_for_tickets(&daemon, 2).await;
    let follow_up = tickets.iter().find(|t| id(t) != ticket_id).expect("a follow-up");
    assert_eq!(follow_up["via_followup_source_id"], ticket_id);
    let first = &world.comments(id(follow_up))[0];
    assert_eq!(first["body"], "Voltou a acontecer.");
    // Zendesk makes the API user the author of a follow-up's first comment
    // unless it is named: the customer wrote it.
    assert_eq!(first["author_id"], follow_up["requester_id"], "{first:#}");
    assert_eq!(first["public"], true);
    // It continues the closed case: its tags and fields, as Zendesk's own
    // follow-ups have them.
    let tags: Vec<&str> = follow_up["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert!(tags.contains(&"financeiro"), "{tags:?}");
    assert_eq!(
        follow_up["custom_fields"],
        serde_json::json!([ { "id": MOTIVO, "value": "boleto" } ]),
        "{follow_up:#}"
    );
    assert_eq!(
        world.comments(ticket_id).len(),
        2,
        "the closed ticket is untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machines_get_no_ticket_and_a_bounce_becomes_a_note() {
    let servers = servers();
    let world = World::new("machines", servers).await;
    let daemon = Daemon::start(&world.config(servers, ""));
    let customer = ("Ana", "ana@cliente.example");
    world
        .send(
            servers,
            customer,
            "Nota fiscal",
            "b1@cliente.example",
            "",
            "Preciso da nota.\r\n",
        )
        .await;
    let ticket_id = id(&world.wait_for_tickets(&daemon, 1).await[0]);

    // An out-of-office reply: logged, no ticket.
    world
        .send(
            servers,
            ("Ana", "ana@cliente.example"),
            "Resposta automática: Nota fiscal",
            "b2@cliente.example",
            "Auto-Submitted: auto-replied\r\n",
            "Estou de férias até segunda.\r\n",
        )
        .await;
    // A real bounce: a mail "from carteiro" about this ticket to a recipient
    // that does not exist; Postfix returns a DSN to the support mailbox.
    let nobody = servers.unknown_recipient("cliente");
    let outbound = format!(
        "From: Suporte <{support}>\r\nTo: {nobody}\r\nSubject: [#{ticket_id}] Sua nota\r\n\
         Message-ID: <out-1@carteiro.example.test>\r\nX-Carteiro-Ticket: {ticket_id}\r\n\
         Auto-Submitted: auto-replied\r\n\r\nSegue a nota.\r\n",
        support = world.support.address
    );
    servers
        .send(outbound.as_bytes(), &world.support.address, &[&nobody])
        .await;

    let comments = world.wait_for_comments(&daemon, ticket_id, 2).await;
    let note = &comments[1];
    assert_eq!(note["public"], false, "a bounce is an internal note");
    let body = note["body"].as_str().unwrap_or_default();
    assert!(
        body.contains(&nobody),
        "the note names the failed recipient: {body}"
    );
    assert!(body.contains("5.1.1"), "the note carries the DSN status: {body}");
    assert_eq!(
        world.tickets().len(),
        1,
        "neither the auto-reply nor the bounce made a ticket"
    );
}

/// An agent changes a ticket's status through the API, as agents do.
async fn set_status(agent: &ZendeskClient, ticket_id: u64, status: Status) {
    let ticket = agent
        .show_ticket(ticket_id)
        .await
        .expect("the agent reads the ticket");
    let update = TicketUpdate {
        status: Some(status),
        ..TicketUpdate::default()
    };
    let update = support::taking_if_solving(agent, &ticket, update).await;
    agent
        .update_ticket(ticket_id, &update, ticket.updated_at)
        .await
        .expect("the agent's update");
}

/// Waits until `user`'s INBOX has `n` mails flagged `\Seen` by carteiro.
async fn wait_for_seen(servers: &MailServers, user: &str, n: usize, daemon: &Daemon) {
    let cur = servers.maildir(user).join("cur");
    let deadline = Instant::now() + DELIVERY;
    loop {
        let seen = std::fs::read_dir(&cur)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.rsplit_once(":2,")
                            .is_some_and(|(_, flags)| flags.contains('S'))
                    })
                    .count()
            })
            .unwrap_or(0);
        if seen >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {seen} of {n} mails were flagged \\Seen\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_batch_then_restart_imports_every_mail_once() {
    let servers = servers();
    let world = World::new("kill9", servers).await;
    const N: usize = 40;
    for n in 0..N {
        let from = format!("cliente{n}@cliente.example");
        let raw = mail(
            ("Cliente", &from),
            &world.support.address,
            &format!("Pedido {n}"),
            &format!("k{n}@cliente.example"),
            "",
            "Segue o pedido.\r\n",
        );
        servers.send(&raw, &from, &[&world.support.address]).await;
    }
    servers.wait_for_messages(&world.support.user, N, DELIVERY).await;
    // Slow the helpdesk down so the kill lands in the middle of the batch.
    let faults = serde_json::json!({"faults": [{"kind": "delay", "ms": 40, "count": N, "match": "POST /api/v2/tickets"}]});
    support::plain_http()
        .post(world.sim.base_url.join("/__sim/faults").expect("url"))
        .json(&faults)
        .send()
        .await
        .expect("inject delays");

    let config = world.config(servers, "");
    let mut daemon = Daemon::start(&config);
    world.wait_for_tickets(&daemon, 5).await;
    daemon.kill_hard();
    let before_restart = world.tickets().len();
    assert!(
        before_restart < N,
        "the kill came after the whole batch ({before_restart} tickets)"
    );

    let daemon = Daemon::start(&config);
    world.wait_for_tickets(&daemon, N).await;
    wait_for_seen(servers, &world.support.user, N, &daemon).await;
    let tickets = world.tickets();
    let mut subjects: Vec<String> = tickets
        .iter()
        .map(|t| t["subject"].as_str().unwrap_or("").to_owned())
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(tickets.len(), N, "every mail once, none twice");
    assert_eq!(subjects.len(), N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dovecot_restart_is_survived_without_loss() {
    let servers = MailServers::start_private();
    let world = World::new("restart", &servers).await;
    let daemon = Daemon::start(&world.config(&servers, ""));
    let customer = ("Rita", "rita@cliente.example");
    world
        .send(
            &servers,
            customer,
            "Antes",
            "r1@cliente.example",
            "",
            "Antes do reinício.\r\n",
        )
        .await;
    world.wait_for_tickets(&daemon, 1).await;

    let servers = std::sync::Arc::new(servers);
    let restarting = servers.clone();
    tokio::task::spawn_blocking(move || restarting.restart_dovecot())
        .await
        .expect("restart Dovecot");
    world
        .send(
            &servers,
            customer,
            "Depois",
            "r2@cliente.example",
            "",
            "Depois do reinício.\r\n",
        )
        .await;
    let tickets = world.wait_for_tickets(&daemon, 2).await;
    let mut subjects: Vec<&str> = tickets.iter().filter_map(|t| t["subject"].as_str()).collect();
    subjects.sort_unstable();
    assert_eq!(subjects, vec!["Antes", "Depois"]);
    assert!(
        daemon.log_text().contains("IMAP connected"),
        "the daemon logged its (re)connections:\n{}",
        daemon.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_charsets_decode_and_oversized_attachments_follow_the_cap() {
    let servers = servers();
    let world = World::new("charsets", servers).await;
    let daemon = Daemon::start(&world.config(servers, "max_attachment_bytes = 2000"));
    let from = "jose@cliente.example";
    // Windows-1252: "Ação", "não" and "é" as single bytes.
    let mut cp1252: Vec<u8> = format!(
        "From: =?windows-1252?Q?Jos=E9?= <{from}>\r\nTo: {to}\r\nSubject: =?windows-1252?Q?A=E7=E3o_necess=E1ria?=\r\n\
         Message-ID: <c1@cliente.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=windows-1252\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n",
        to = world.support.address
    )
    .into_bytes();
    cp1252.extend_from_slice(b"O sistema n\xe3o \xe9 confi\xe1vel.\r\n");
    servers.send(&cp1252, from, &[&world.support.address]).await;

    let big = "QUJD".repeat(2000); // 8,000 base64 chars = 6,000 bytes
    let small = "T2zDoQ=="; // "Olá"
    let with_files = format!(
        "From: Jose <{from}>\r\nTo: {to}\r\nSubject: Anexos\r\nMessage-ID: <c2@cliente.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDois anexos.\r\n\
         --b\r\nContent-Type: application/pdf; name=\"grande.pdf\"\r\nContent-Disposition: attachment; filename=\"grande.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{big}\r\n--b\r\nContent-Type: text/plain; name=\"pequeno.txt\"\r\n\
         Content-Disposition: attachment; filename=\"pequeno.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{small}\r\n--b--\r\n",
        to = world.support.address
    );
    servers
        .send(with_files.as_bytes(), from, &[&world.support.address])
        .await;

    let tickets = world.wait_for_tickets(&daemon, 2).await;
    let decoded = tickets
        .iter()
        .find(|t| t["subject"] == "Ação necessária")
        .expect("the cp1252 subject decoded");
    assert_eq!(
        world.comments(id(decoded))[0]["body"],
        "O sistema não é confiável."
    );

    let attached = tickets
        .iter()
        .find(|t| t["subject"] == "Anexos")
        .expect("the attachments ticket");
    let comment = &world.comments(id(attached))[0];
    let names: Vec<&str> = comment["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .filter_map(|a| a["file_name"].as_str())
        .collect();
    assert_eq!(
        names,
        vec!["pequeno.txt"],
        "the file above the cap is not uploaded"
    );
    let body = comment["body"].as_str().unwrap_or_default();
    assert!(
        body.contains("grande.pdf") && body.contains("6000"),
        "the comment says which file was left out and why: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_mail_in_two_mailboxes_makes_one_ticket() {
    let servers = servers();
    let world = World::new("twoboxes", servers).await;
    let second = servers.new_mailbox("vendas-twoboxes");
    let extra = format!(
        "\n[[mailbox]]\nname = \"vendas\"\nkind = \"imap\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"plain\"\n\
         username = \"{user}\"\npassword_env = \"IMAP_TEST_PASSWORD\"\npoll_interval = \"2s\"\n",
        port = servers.imap_port,
        user = second.user
    );
    let config = world.config(servers, "");
    let mut text = std::fs::read_to_string(&config).expect("read config");
    text.push_str(&extra);
    std::fs::write(&config, text).expect("write config");
    let daemon = Daemon::start(&config);
    let customer = ("Paula", "paula@cliente.example");
    let raw = mail(
        customer,
        &format!("{}, {}", world.support.address, second.address),
        "Para as duas caixas",
        "dup1@cliente.example",
        "",
        "Mandei para o suporte e para vendas.\r\n",
    );
    servers
        .send(&raw, customer.1, &[&world.support.address, &second.address])
        .await;
    world.wait_for_tickets(&daemon, 1).await;
    wait_for_seen(servers, &world.support.user, 1, &daemon).await;
    wait_for_seen(servers, &second.user, 1, &daemon).await;
    assert_eq!(
        world.tickets().len(),
        1,
        "one ticket for one mail, whatever mailbox it came through"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_daemon_cleanly() {
    let servers = servers();
    let world = World::new("sigterm", servers).await;
    let mut daemon = Daemon::start(&world.config(servers, ""));
    let customer = ("Lia", "lia@cliente.example");
    world
        .send(servers, customer, "Oi", "t1@cliente.example", "", "Oi.\r\n")
        .await;
    world.wait_for_tickets(&daemon, 1).await;
    let status = daemon.stop();
    assert!(status.success(), "exit status {status:?}\n{}", daemon.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_mail_is_quarantined_and_never_blocks_the_mailbox() {
    let servers = servers();
    let world = World::new("quarantine", servers).await;
    let config = world.config(servers, "");
    let daemon = Daemon::start(&config);
    // No subject, no text, no attachment: nothing to write a ticket with.
    // (Postfix would add a missing From, so that case is left to the
    // corpus tests.)
    let broken = format!(
        "From: ninguem@cliente.example\r\nTo: {}\r\nSubject: \r\nMessage-ID: <q1@cliente.example>\r\n\r\n\r\n",
        world.support.address
    );
    servers
        .send(
            broken.as_bytes(),
            "ninguem@cliente.example",
            &[&world.support.address],
        )
        .await;
    let customer = ("Bia", "bia@cliente.example");
    world
        .send(
            servers,
            customer,
            "Depois do quebrado",
            "q2@cliente.example",
            "",
            "Oi.\r\n",
        )
        .await;
    let tickets = world.wait_for_tickets(&daemon, 1).await;
    assert_eq!(tickets[0]["subject"], "Depois do quebrado");
    wait_for_seen(servers, &world.support.user, 2, &daemon).await;
    assert_eq!(world.tickets().len(), 1, "the broken mail made no ticket");

    let cli = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_carteiro"))
            .args(["mail", "quarantine"])
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("CARTEIRO__ZENDESK__API_TOKEN", "test-token")
            .env("IMAP_TEST_PASSWORD", support::mail::PASSWORD)
            .output()
            .expect("run carteiro mail quarantine");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (ok, listed) = cli(&["list"]);
    assert!(ok, "{listed}");
    let line = listed.lines().next().unwrap_or_default();
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(
        fields.get(1..4),
        Some(&["0 retries", "suporte", "q1@cliente.example"][..]),
        "{listed}"
    );
    assert!(line.contains("nothing to write"), "the reason is kept: {line}");
    let id = fields[0];

    let (ok, shown) = cli(&["show", id]);
    assert!(
        ok && shown.contains("Message-ID: <q1@cliente.example>"),
        "the raw mail is kept: {shown}"
    );
    let (ok, retried) = cli(&["retry", id]);
    assert!(!ok, "a mail that is still broken stays quarantined: {retried}");
    assert!(retried.contains("still quarantined"), "{retried}");
    let (_, listed) = cli(&["list"]);
    assert!(
        listed.contains("\t1 retries\t"),
        "the retry was counted: {listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imaps_with_auth_plain_and_starttls_with_login_both_read_mail() {
    let servers = servers();
    let world = World::new("tls", servers).await;
    let starttls = servers.new_mailbox("starttls");
    // The world's own mailbox is read over IMAPS with AUTHENTICATE PLAIN,
    // a second one over STARTTLS with LOGIN; both trust the test CA only.
    let config = world.config(servers, "");
    let text = std::fs::read_to_string(&config).expect("read config");
    let text = text
        .replace(
            &format!("port = {}\ntls = \"plain\"", servers.imap_port),
            &format!(
                "port = {}\ntls = \"implicit\"\nauth = \"plain\"\nca_file = \"{}\"",
                servers.imaps_port,
                servers.cert_pem.display()
            ),
        )
        .replace("host = \"127.0.0.1\"", "host = \"localhost\"");
    let text = format!(
        "{text}\n[[mailbox]]\nname = \"starttls\"\nkind = \"imap\"\nhost = \"localhost\"\nport = {port}\n\
         tls = \"starttls\"\nauth = \"login\"\nca_file = \"{ca}\"\nusername = \"{user}\"\n\
         password_env = \"IMAP_TEST_PASSWORD\"\npoll_interval = \"2s\"\n",
        port = servers.imap_port,
        ca = servers.cert_pem.display(),
        user = starttls.user
    );
    assert!(
        text.contains("tls = \"implicit\""),
        "the config was rewritten: {text}"
    );
    std::fs::write(&config, text).expect("write config");
    let daemon = Daemon::start(&config);

    let customer = ("Tânia", "tania@cliente.example");
    world
        .send(
            servers,
            customer,
            "Por IMAPS",
            "tls1@cliente.example",
            "",
            "Primeiro.\r\n",
        )
        .await;
    let raw = mail(
        customer,
        &starttls.address,
        "Por STARTTLS",
        "tls2@cliente.example",
        "",
        "Segundo.\r\n",
    );
    servers.send(&raw, customer.1, &[&starttls.address]).await;
    let tickets = world.wait_for_tickets(&daemon, 2).await;
    let mut subjects: Vec<&str> = tickets.iter().filter_map(|t| t["subject"].as_str()).collect();
    subjects.sort_unstable();
    assert_eq!(subjects, vec!["Por IMAPS", "Por STARTTLS"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uidvalidity_change_resyncs_by_message_id_without_reimport() {
    let servers = MailServers::start_private();
    let world = World::new("uidvalidity", &servers).await;
    let config = world.config(&servers, "");
    let mut daemon = Daemon::start(&config);
    let customer = ("Vera", "vera@cliente.example");
    for n in 0..2 {
        world
            .send(
                &servers,
                customer,
                &format!("Antes {n}"),
                &format!("u{n}@cliente.example"),
                "",
                "Oi.\r\n",
            )
            .await;
    }
    world.wait_for_tickets(&daemon, 2).await;
    wait_for_seen(&servers, &world.support.user, 2, &daemon).await;
    assert!(daemon.stop().success(), "{}", daemon.log_text());

    // Dovecot forgets its UIDs: a new UIDVALIDITY, every mail renumbered.
    let servers = std::sync::Arc::new(servers);
    let maildir = servers.maildir(&world.support.user);
    let restarting = servers.clone();
    tokio::task::spawn_blocking(move || {
        restarting.stop_dovecot();
        for entry in std::fs::read_dir(&maildir)
            .expect("the Maildir")
            .filter_map(Result::ok)
        {
            if entry.file_name().to_string_lossy().starts_with("dovecot") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        restarting.start_dovecot();
    })
    .await
    .expect("renumber the mailbox");

    world
        .send(
            &servers,
            customer,
            "Depois",
            "u2@cliente.example",
            "",
            "Oi de novo.\r\n",
        )
        .await;
    let daemon = Daemon::start(&config);
    world.wait_for_tickets(&daemon, 3).await;
    wait_for_seen(&servers, &world.support.user, 3, &daemon).await;
    assert_eq!(
        world.tickets().len(),
        3,
        "the two old mails were not imported again"
    );
    assert!(
        daemon.log_text().contains("UIDVALIDITY changed"),
        "the resync is logged:\n{}",
        daemon.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maildir_written_by_local_delivery_is_read_and_moved_once() {
    let servers = servers();
    let world = World::new("maildir", servers).await;
    // Dovecot's LMTP delivers into this Maildir; carteiro reads it from disk.
    let maildir = servers.maildir(&world.support.user);
    let mailbox = format!(
        r#"
[[mailbox]]
name = "local"
kind = "maildir"
path = "{}"
after = "move"
move_to = "Processados"
poll_interval = "200ms"
"#,
        maildir.display()
    );
    let config = world.config_with("", &mailbox);
    let customer = ("Rita", "rita@cliente.example");
    world
        .send(
            servers,
            customer,
            "Troca de endereço",
            "md1@cliente.example",
            "",
            "Mudamos de sede.\r\n",
        )
        .await;
    servers.wait_for_messages(&world.support.user, 1, DELIVERY).await;

    let mut daemon = Daemon::start(&config);
    let tickets = world.wait_for_tickets(&daemon, 1).await;
    let ticket_id = id(&tickets[0]);
    assert_eq!(tickets[0]["subject"], "Troca de endereço");
    assert_eq!(world.comments(ticket_id)[0]["body"], "Mudamos de sede.");

    // A reply arriving while carteiro runs threads onto the ticket.
    world
        .send(
            servers,
            customer,
            "Re: Troca de endereço",
            "md2@cliente.example",
            "In-Reply-To: <md1@cliente.example>\r\n",
            "O CEP novo é 01310-100.\r\n",
        )
        .await;
    world.wait_for_comments(&daemon, ticket_id, 2).await;
    assert!(daemon.stop().success(), "{}", daemon.log_text());

    // Both mails left new/ for the configured folder, after their writes.
    let count = |dir: PathBuf| std::fs::read_dir(&dir).map_or(0, |d| d.count());
    let moved = maildir.join(".Processados");
    assert_eq!(count(maildir.join("new")), 0, "nothing is left in new/");
    assert_eq!(
        count(moved.join("cur")) + count(moved.join("new")),
        2,
        "both mails are in .Processados"
    );
}
