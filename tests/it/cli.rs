//! The `carteiro` binary as an admin or a script runs it: `check`'s exit
//! codes and exact problem lines, `version`, and `sim`'s first line and
//! first answer.
//!
//! Every child runs with a cleared environment (plus what the test sets),
//! in a scratch directory, so the developer's `CARTEIRO__…` variables and
//! files never leak in.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use base64::Engine;

const BIN: &str = env!("CARGO_BIN_EXE_carteiro");

/// A fresh directory for one test under cargo's per-target temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli-tests")
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

const VALID: &str = "[zendesk]\nsubdomain = \"empresa\"\nemail = \"bot@empresa.com.br\"\n";

#[test]
fn check_accepts_a_valid_file() {
    let dir = scratch("check-valid");
    std::fs::write(dir.join("carteiro.toml"), VALID).expect("write");
    let out = carteiro(
        &dir,
        &["check", "--config", "carteiro.toml"],
        &[("CARTEIRO__ZENDESK__API_TOKEN", "hunter2-env")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ok: configuration is valid (read carteiro.toml)\n");
    assert_eq!(stderr(&out), "");
}

#[test]
fn check_reads_config_default_toml_from_the_working_directory() {
    let dir = scratch("check-default-file");
    std::fs::create_dir_all(dir.join("config")).expect("mkdir");
    std::fs::write(dir.join("config/default.toml"), VALID).expect("write");
    let out = carteiro(&dir, &["check"], &[("CARTEIRO__ZENDESK__API_TOKEN", "t0ken")]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        stdout(&out),
        "ok: configuration is valid (read config/default.toml)\n"
    );

    let empty = scratch("check-no-file");
    let out = carteiro(
        &empty,
        &["check"],
        &[
            ("CARTEIRO__ZENDESK__SUBDOMAIN", "empresa"),
            ("CARTEIRO__ZENDESK__EMAIL", "bot@empresa.com.br"),
            ("CARTEIRO__ZENDESK__API_TOKEN", "t0ken"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        stdout(&out),
        "ok: configuration is valid (no config file; built-in defaults and environment)\n"
    );
}

#[test]
fn check_lists_every_problem_with_its_location() {
    let dir = scratch("check-problems");
    std::fs::write(
        dir.join("carteiro.toml"),
        concat!(
            "[zendesk]\n",
            "subdomian = \"empresa\"\n",
            "base_url = \"ftp://empresa.zendesk.com\"\n",
            "email = \"bot@empresa.com.br\"\n",
        ),
    )
    .expect("write");
    let out = carteiro(&dir, &["check", "--config", "carteiro.toml"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out).lines().collect::<Vec<_>>(),
        [
            "carteiro.toml:2:1: zendesk.subdomian: unknown key; did you mean zendesk.subdomain?",
            "carteiro.toml:3:1: zendesk.base_url: expected an https URL, e.g. https://empresa.zendesk.com \
             (plain http only for a loopback host, e.g. http://127.0.0.1:8089); got \"ftp://empresa.zendesk.com\"",
            "zendesk.api_token: missing; auth \"api_token\" needs a token: set CARTEIRO__ZENDESK__API_TOKEN \
             or zendesk.api_token_file",
        ]
    );
    assert_eq!(stderr(&out), "error: the configuration has 3 problems\n");
}

#[test]
fn check_reports_a_toml_syntax_error_with_its_location() {
    let dir = scratch("check-syntax");
    std::fs::write(dir.join("carteiro.toml"), "[zendesk]\nmax_retries = = 5\n").expect("write");
    let out = carteiro(&dir, &["check", "--config", "carteiro.toml"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = stdout(&out);
    assert!(
        stdout.starts_with("carteiro.toml:2:15: invalid TOML: "),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
}

#[test]
fn check_lets_the_environment_beat_the_file() {
    let dir = scratch("check-env-wins");
    std::fs::write(
        dir.join("carteiro.toml"),
        "[zendesk]\nbase_url = \"http://empresa.zendesk.com\"\nemail = \"bot@empresa.com.br\"\n",
    )
    .expect("write");
    let env = [("CARTEIRO__ZENDESK__API_TOKEN", "t0ken")];
    let out = carteiro(&dir, &["check", "--config", "carteiro.toml"], &env);
    assert_eq!(out.status.code(), Some(1), "the file alone is invalid");

    let env = [
        ("CARTEIRO__ZENDESK__API_TOKEN", "t0ken"),
        ("CARTEIRO__ZENDESK__BASE_URL", "https://empresa.zendesk.com"),
    ];
    let out = carteiro(&dir, &["check", "--config", "carteiro.toml"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn check_reads_a_token_file_and_never_prints_a_secret() {
    let dir = scratch("check-secrets");
    std::fs::write(dir.join("token"), "hunter2-file\n").expect("write");
    std::fs::write(
        dir.join("carteiro.toml"),
        format!("{VALID}api_token_file = \"token\"\noauth_token = \"hunter2-inline\"\n"),
    )
    .expect("write");
    let out = carteiro(&dir, &["check", "--config", "carteiro.toml"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "carteiro.toml:5:1: zendesk.oauth_token: set, but zendesk.auth is \"api_token\"; remove it or change \
         zendesk.auth\n"
    );

    std::fs::write(
        dir.join("carteiro.toml"),
        format!("{VALID}api_token = \"hunter2-inline\"\n"),
    )
    .expect("write");
    let out = carteiro(&dir, &["check", "--config", "carteiro.toml"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "warning: carteiro.toml:4:1: zendesk.api_token: a secret written in the config file; prefer \
         CARTEIRO__ZENDESK__API_TOKEN or zendesk.api_token_file\n\
         ok: configuration is valid (read carteiro.toml)\n"
    );

    std::fs::write(
        dir.join("carteiro.toml"),
        format!("{VALID}api_token_file = \"token\"\n"),
    )
    .expect("write");
    let out = carteiro(
        &dir,
        &["check", "--config", "carteiro.toml"],
        &[("CARTEIRO__ZENDESK__MAX_BACKOFF", "forever")],
    );
    assert_eq!(out.status.code(), Some(1));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("zendesk.max_backoff"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
}

#[test]
fn version_prints_the_crate_version() {
    let dir = scratch("version");
    let out = carteiro(&dir, &["version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let line = stdout(&out);
    let expected = format!("carteiro {}", env!("CARGO_PKG_VERSION"));
    assert!(
        line == format!("{expected}\n") || line.starts_with(&format!("{expected} (commit ")),
        "{line}"
    );
}

/// Kills the simulator when the test ends, even on a failed assertion.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sim_prints_its_address_first_and_answers_users_me() {
    let dir = scratch("sim");
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args(["sim", "--listen", "127.0.0.1:0"])
            .current_dir(&dir)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start carteiro sim"),
    );
    let stdout = child.0.stdout.take().expect("piped stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("read first line");
    let addr = first
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    let port: u16 = addr
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected address {addr:?}"));
    assert_ne!(port, 0, "the real bound port is printed");

    let credentials = base64::engine::general_purpose::STANDARD.encode("agent@example.com/token:anything");
    let mut stream = TcpStream::connect(addr).expect("connect to the simulator");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET /api/v2/users/me HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {credentials}\r\n\
         Accept: application/json\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"agent@example.com\""), "{response}");
}

#[test]
fn sim_rejects_a_bad_seed_with_the_file_and_exit_1() {
    let dir = scratch("sim-bad-seed");
    std::fs::write(dir.join("seed.json"), "{\"users\": [{\"id\": \"not a number\"}]}").expect("write");
    let out = carteiro(
        &dir,
        &["sim", "--listen", "127.0.0.1:0", "--seed", "seed.json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "", "nothing is listening, so no address is printed");
    assert_eq!(
        stderr(&out),
        "error: simulator seed seed.json: at `users[0].id` (line 1, column 32): invalid type: string \
         \"not a number\", expected u64 at line 1 column 32\n"
    );
}
