//! `carteiro rules` and the rules part of `carteiro check`, run as an admin
//! runs them: scenario tests (passing, failing with a diff, `expect = []`),
//! the schema, problems located as `path:line:col`, and the commands that
//! read the helpdesk (`explain`, `check --online`) against an in-process
//! simulator.
//!
//! Every child runs with a cleared environment (plus what the test sets).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use carteiro::helpdesk::sim::{self, Seed, SimOptions};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_carteiro");

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("rules-cli-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn carteiro(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run carteiro")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The shipped scenario fixtures: a rules folder with its `tests/`.
fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules/scenarios")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create folder");
    }
    std::fs::write(&path, text).expect("write file");
    path
}

/// A copy of the scenario rules folder (rules, templates, fixtures), to
/// add scenario files to.
fn copy_scenarios(dir: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("create folder");
        for entry in std::fs::read_dir(from).expect("read folder") {
            let path = entry.expect("entry").path();
            let target = to.join(path.file_name().expect("name"));
            if path.is_dir() {
                copy(&path, &target);
            } else {
                std::fs::copy(&path, &target).expect("copy file");
            }
        }
    }
    copy(&scenarios(), dir);
}

#[test]
fn rules_test_passes_the_scenario_folder_by_default_under_tests() {
    let dir = scenarios();
    let rules = dir.display().to_string();
    let out = carteiro(&dir, &["rules", "test", "--rules", &rules], &[]);
    assert_eq!(
        stdout(&out),
        "ok   resposta automática de férias: só marca o chamado\n\
         ok   resposta da cliente: nenhuma regra de e-mail dispara\n\
         ok   cliente pediu, agente marcou: abre OUVIDORIA - #123\n\
         ok   ouvidoria já aberta: nada acontece\n\
         ok   pendente há 10 dias: vai para Validação Cliente\n\
         5 passed, 0 failed\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_wrong_expectation_fails_with_a_readable_diff() {
    let dir = scenarios();
    let out = carteiro(&dir, &["rules", "test", "failing/errado.toml"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "FAIL expectativa errada: espera fechar, mas as regras resolvem (failing/errado.toml:6)"
    );
    assert_eq!(lines[1], "     expected 5 action(s), planned 4:");
    assert_eq!(lines[2], "     ✗ 1.");
    assert_eq!(
        lines[3],
        "         expected: create_ticket {\"subject\":\"OUVIDORIA - #124\"}"
    );
    assert!(
        lines[4].starts_with("         planned:  create_ticket {\"assignee\":\"richard@empresa.com.br\"")
            && lines[4].ends_with("(rule ouvidoria-pedido)"),
        "{}",
        lines[4]
    );
    assert_eq!(
        lines[5],
        "         differs:  create_ticket.subject: expected \"OUVIDORIA - #124\", planned \"OUVIDORIA - #123\""
    );
    assert_eq!(lines[6], "     ✓ 2.");
    let tail = lines[12..].join("\n");
    assert_eq!(
        tail,
        "     ✗ 4.\n\
         \x20        expected: set_status \"closed\"\n\
         \x20        planned:  set_status \"solved\"  (rule ouvidoria-pedido)\n\
         \x20        differs:  set_status: expected \"closed\", planned \"solved\"\n\
         \x20    ✗ 5.\n\
         \x20        expected: solve {}\n\
         \x20        planned:  (nothing)\n\
         \x20        differs:  expected, but nothing more was planned\n\
         0 passed, 1 failed"
    );
}

#[test]
fn expect_empty_asserts_that_nothing_fires() {
    let dir = scratch("expect-empty");
    copy_scenarios(&dir);
    write(
        &dir,
        "tests/nada.toml",
        r#"directory = "fixtures/directory.json"

[[scenario]]
name = "já aberta: nada"
now = "2026-03-02T10:00:00-03:00"
ticket = "fixtures/ticket-123-aberta.json"
event = { type = "ticket.updated", changes = { tags_added = ["ouvidoria_solicitada"] } }
expect = []

[[scenario]]
name = "pedido novo: algo dispara, então expect = [] falha"
now = "2026-03-02T10:00:00-03:00"
ticket = "fixtures/ticket-123.json"
event = { type = "ticket.updated", changes = { tags_added = ["ouvidoria_solicitada"] } }
expect = []
"#,
    );
    let out = carteiro(&dir, &["rules", "test", "tests/nada.toml"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ok   já aberta: nada");
    assert_eq!(
        lines[1],
        "FAIL pedido novo: algo dispara, então expect = [] falha (tests/nada.toml:10)"
    );
    assert_eq!(lines[2], "     expected 0 action(s), planned 4:");
    assert_eq!(lines[6], "         differs:  planned, but not expected");
    assert_eq!(lines.last(), Some(&"1 passed, 1 failed"));
}

#[test]
fn unknown_keys_in_a_scenario_file_are_located() {
    let dir = scratch("unknown-key");
    copy_scenarios(&dir);
    write(
        &dir,
        "tests/typo.toml",
        r#"directory = "fixtures/directory.json"

[[scenario]]
name = "erro de digitação"
now = "2026-03-02T10:00:00-03:00"
ticket = "fixtures/ticket-123.json"
event = { type = "ticket.updated", changes = { tags_add = ["x"] } }
expect = [ { set_stauts = "open" } ]
"#,
    );
    let out = carteiro(&dir, &["rules", "test", "tests/typo.toml"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(
            "FAIL tests/typo.toml:8:12: scenario \"erro de digitação\": expect[0]: unknown action `set_stauts`; \
             expected one of set_status,"
        ),
        "{text}"
    );
    assert!(text.ends_with("0 passed, 1 failed\n"), "{text}");

    write(
        &dir,
        "tests/typo.toml",
        "[[scenario]]\nname = \"x\"\nnow = \"2026-03-02T10:00:00-03:00\"\nticket = \"fixtures/ticket-123.json\"\n\
         event = { type = \"ticket.updated\" }\nexpect = []\nagora = 1\n",
    );
    let out = carteiro(&dir, &["rules", "test", "tests/typo.toml"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("FAIL tests/typo.toml:7:1: unknown field `agora`, expected one of"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn check_rules_prints_every_problem_located_and_exits_1() {
    let dir = scratch("check-broken");
    write(
        &dir,
        "regras/ruim.toml",
        "version = 1\n\n[[rule]]\nname = \"a\"\non = [\"ticket.updated\"]\nactions = [ { set_stauts = \"open\" } ]\n",
    );
    let out = carteiro(&dir, &["check", "--rules", "regras"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.starts_with("regras/ruim.toml:6:13: unknown field `set_stauts`, expected one of"),
        "{text}"
    );
    assert_eq!(stderr(&out), "error: the rules have 1 problem\n");

    let rules = scenarios().display().to_string();
    let out = carteiro(&dir, &["check", "--rules", &rules], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out), format!("ok: the rules in {rules} load\n"));
}

#[test]
fn schema_is_json_and_names_every_action_and_operator() {
    let dir = scratch("schema");
    let out = carteiro(&dir, &["rules", "schema"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the schema is JSON");
    assert_eq!(schema["title"], "RawFile");
    let actions = &schema["$defs"]["Action"]["oneOf"];
    let keys: Vec<&str> = actions
        .as_array()
        .expect("oneOf")
        .iter()
        .map(|variant| variant["required"][0].as_str().expect("one required key"))
        .collect();
    assert_eq!(keys, carteiro::rules::syntax::ACTION_KEYS);
    for variant in actions.as_array().expect("oneOf") {
        assert_eq!(variant["additionalProperties"], false);
        assert_eq!(variant["properties"]["commit"]["type"], "boolean");
    }
    let operators = schema["$defs"]["Operator"]["enum"].as_array().expect("operators");
    let names: Vec<&str> = carteiro::rules::model::Op::ALL
        .iter()
        .map(|op| op.as_str())
        .collect();
    assert_eq!(
        operators
            .iter()
            .map(|v| v.as_str().expect("name"))
            .collect::<Vec<_>>(),
        names
    );
    assert!(names.contains(&"older_than") && names.contains(&"changed_to"));
    assert_eq!(schema["$defs"]["RawRule"]["additionalProperties"], false);
}

/// The simulator's account: the scenario directory's people, groups and
/// statuses, and a ticket pending for ten days.
fn seed() -> Seed {
    let directory: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(scenarios().join("tests/fixtures/directory.json")).expect("directory"),
    )
    .expect("directory JSON");
    serde_json::from_value(json!({
        "users": directory["users"],
        "groups": directory["groups"],
        "custom_statuses": directory["custom_statuses"],
        "ticket_fields": directory["ticket_fields"],
        "tickets": [ {
            "id": 200, "created_at": "2026-02-10T12:00:00Z", "updated_at": "2026-02-20T12:00:00Z",
            "subject": "Troca de toner", "status": "pending", "custom_status_id": 101,
            "requester_id": 1, "group_id": 10, "tags": ["cliente"]
        } ],
    }))
    .expect("seed")
}

/// Runs the binary against a fresh simulator holding [`seed`].
async fn against_sim(dir: PathBuf, args: Vec<String>) -> Output {
    let handle = sim::spawn(support::strict(SimOptions {
        seed: seed(),
        ..SimOptions::default()
    }))
    .await
    .expect("start the simulator");
    let base = handle.base_url.to_string();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        carteiro(
            &dir,
            &args,
            &[
                ("CARTEIRO__ZENDESK__BASE_URL", base.as_str()),
                ("CARTEIRO__ZENDESK__EMAIL", support::AGENT),
                ("CARTEIRO__ZENDESK__API_TOKEN", "test-token"),
                ("CARTEIRO__ZENDESK__MAX_RETRIES", "0"),
            ],
        )
    })
    .await
    .expect("run carteiro")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_shows_each_condition_with_the_value_it_saw() {
    let dir = scratch("explain");
    let rules = scenarios().display().to_string();
    let out = against_sim(
        dir,
        vec![
            "rules".into(),
            "explain".into(),
            "200".into(),
            "--rules".into(),
            rules,
        ],
    )
    .await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "ticket #200 \"Troca de toner\": status pending, custom status \"Pendente\", group \"Suporte\""
    );
    assert!(
        lines[1].starts_with("event: schedule (every schedule rule due), at "),
        "{text}"
    );
    assert!(
        lines.contains(&"skipped    ouvidoria-pedido (does not run on schedule)"),
        "{text}"
    );
    // The seeded ticket has no audits, so carteiro cannot tell when its
    // status changed: the time condition fails, and explain says why.
    let rule = lines
        .iter()
        .position(|l| *l == "not fired  pendente-7d-validacao")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        lines[rule + 1..rule + 3],
        [
            "    ticket.custom_status is \"Pendente\": true (saw \"Pendente\")",
            "    ticket.clock.status_changed_at older_than 7d: false (saw (absent))",
        ],
        "{text}"
    );
    assert_eq!(lines[lines.len() - 2..], ["plan:", "  (nothing)"], "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_online_reports_a_group_the_helpdesk_lacks() {
    let dir = scratch("check-online");
    write(
        &dir,
        "regras/financeiro.toml",
        "version = 1\n\n[[rule]]\nname = \"financeiro\"\non = [\"ticket.created\"]\n\
         all = [ { field = \"ticket.group\", op = \"is\", value = \"Suporte\" } ]\n\
         actions = [ { assign = { group = \"Financeiro\", user = \"richard@empresa.com.br\" } } ]\n",
    );
    let out = against_sim(
        dir.clone(),
        vec![
            "check".into(),
            "--rules".into(),
            "regras".into(),
            "--online".into(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out),
        "regras/financeiro.toml:4:8: rule \"financeiro\": the helpdesk has no group \"Financeiro\"\n"
    );

    // The same rules offline: nothing to resolve, so they pass.
    let out = carteiro(&dir, &["check", "--rules", "regras"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}
