//! `carteiro dry-run` against a simulator and a Maildir: it prints each
//! changed ticket's and each unprocessed mail's plan, with the texts it
//! would write, and writes nothing: no Zendesk write, no mail moved, no
//! state file created.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use carteiro::helpdesk::sim::{self, SimOptions};
use carteiro::helpdesk::{HelpDesk, NewComment, NewTicket, RequesterSpec, Status};

const BIN: &str = env!("CARGO_BIN_EXE_carteiro");

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("dry-run-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create folder");
    }
    std::fs::write(&path, text).expect("write file");
    path
}

const RULES: &str = r#"
version = 1

[[rule]]
name = "confirmar-chamado"
on = ["ticket.created"]
actions = [ { public_reply = "confirmacao" }, { add_tags = ["confirmado"] } ]

[[rule]]
name = "avisar-setor"
on = ["mail.received"]
all = [ { field = "mail.kind", op = "is", value = "new" }, { field = "mail.subject", op = "contains", value = "pedido" } ]
actions = [ { send_mail = { to = ["vendas@empresa.example"], template = "aviso", subject = "Novo pedido: {{ mail.subject }}" } } ]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_the_plans_and_changes_nothing() {
    let dir = scratch("plans");
    write(&dir, "regras/regras.toml", RULES);
    write(
        &dir,
        "regras/templates/confirmacao.txt.j2",
        "Olá, {{ requester.name }}. Recebemos o chamado #{{ ticket.id }}.\n",
    );
    write(
        &dir,
        "regras/templates/aviso.txt.j2",
        "Chegou um pedido de {{ mail.from }}.\n",
    );
    let mail = write(
        &dir,
        "caixa/new/1.eml",
        "From: Joana <joana@cliente.example>\r\nTo: suporte@empresa.example\r\nSubject: Novo pedido de toner\r\n\
         Message-ID: <p1@cliente.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 -0300\r\n\r\nQuero 3 toners.\r\n",
    );
    std::fs::create_dir_all(dir.join("caixa/cur")).expect("cur");
    std::fs::create_dir_all(dir.join("caixa/tmp")).expect("tmp");
    let config = write(
        &dir,
        "carteiro.toml",
        &format!(
            "[rules]\ndir = \"{}\"\n\n[state]\npath = \"{}\"\n\n[[mailbox]]\nname = \"caixa\"\nkind = \"maildir\"\npath = \"{}\"\n",
            dir.join("regras").display(),
            dir.join("estado/carteiro.db").display(),
            dir.join("caixa").display(),
        ),
    );
    let handle = sim::spawn(support::strict(SimOptions {
        relax_export_start: true,
        ..SimOptions::default()
    }))
    .await
    .expect("simulator");
    let client = support::client(handle.base_url.clone(), |b| b);
    let ticket = client
        .create_ticket(&NewTicket {
            subject: Some("Impressora parada".into()),
            comment: NewComment::public("Não liga."),
            requester: Some(RequesterSpec {
                email: "maria@cliente.example".into(),
                name: Some("Maria".into()),
                locale_id: None,
            }),
            status: Some(Status::Open),
            ..NewTicket::default()
        })
        .await
        .expect("a ticket");
    let state = |handle: &sim::SimHandle| {
        let url = handle.base_url.join("/__sim/state").expect("url");
        async move {
            support::plain_http()
                .get(url)
                .send()
                .await
                .expect("state")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    let before = state(&handle).await;

    let base = handle.base_url.to_string();
    let config_arg = config.display().to_string();
    let out: Output = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["dry-run", "--config", &config_arg, "--since", "1h"])
            .env_clear()
            .env("CARTEIRO__ZENDESK__BASE_URL", &base)
            .env("CARTEIRO__ZENDESK__EMAIL", support::AGENT)
            .env("CARTEIRO__ZENDESK__API_TOKEN", "test-token")
            .stdin(Stdio::null())
            .output()
            .expect("run carteiro")
    })
    .await
    .expect("join");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{text}"))
    };
    let created = at(&format!("#{} ticket.created: rules confirmar-chamado", ticket.id));
    assert_eq!(
        lines[created + 1..created + 4],
        [
            "  1. public_reply from confirmacao  (rule confirmar-chamado)",
            &format!("     | Olá, Maria. Recebemos o chamado #{}.", ticket.id),
            "  2. add_tags confirmado  (rule confirmar-chamado)",
        ]
    );
    at("mailbox caixa: 1 mails not processed yet");
    let mail_line = at(
        "mail p1@cliente.example from joana@cliente.example \"Novo pedido de toner\": mail.received (new) on a new ticket: rules avisar-setor",
    );
    assert_eq!(
        lines[mail_line + 1..mail_line + 5],
        [
            "  1. send_mail aviso to vendas@empresa.example (\"Novo pedido: Novo pedido de toner\")  (rule avisar-setor)",
            "     | To: vendas@empresa.example",
            "     | Subject: Novo pedido: Novo pedido de toner",
            "     | ",
        ]
    );

    // Nothing changed: only reads reached the simulator, the mail is where
    // it was, and no state file was made.
    let after = state(&handle).await;
    assert_eq!(after["tickets"], before["tickets"], "no ticket changed");
    for (route, _) in after["requests"].as_object().expect("requests") {
        let count = |v: &serde_json::Value| v["requests"][route].as_u64().unwrap_or(0);
        if count(&after) > count(&before) {
            assert!(route.starts_with("GET "), "dry-run made a write: {route}");
        }
    }
    assert!(mail.is_file(), "the mail is still in new/");
    assert!(!dir.join("estado/carteiro.db").exists(), "no state file");
}
