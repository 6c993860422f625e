//! The configuration loader through its library API: layering, locations
//! in problems, secrets, and the shipped `config/*.toml` files.
//!
//! Each test passes its own environment map, so nothing here reads or
//! changes the test process's environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use carteiro::config::{self, InvalidConfig, KEYS, LoadOptions, Location, LogFormat};
use carteiro::helpdesk::zendesk::Auth;

/// A fresh directory for one test under cargo's per-target temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("config-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn options(file: Option<PathBuf>, pairs: &[(&str, &str)]) -> LoadOptions {
    LoadOptions {
        file,
        default_file: None,
        env: env(pairs),
    }
}

fn lines(err: InvalidConfig) -> Vec<String> {
    err.problems.iter().map(ToString::to_string).collect()
}

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

#[test]
fn example_toml_documents_every_key_and_is_valid_with_a_token_from_the_environment() {
    let path = repo_file("config/example.toml");
    let text = std::fs::read_to_string(&path).expect("read example.toml");
    let lines: Vec<&str> = text.lines().collect();
    for spec in KEYS {
        let assignment = format!("{} = ", spec.name);
        let pos = lines
            .iter()
            .position(|l| l.trim_start_matches("# ").starts_with(&assignment))
            .unwrap_or_else(|| panic!("{} is not in example.toml", spec.path()));
        // The comment block just above the key names its env variable.
        let block: Vec<&str> = lines[..pos]
            .iter()
            .rev()
            .take_while(|l| l.starts_with('#'))
            .copied()
            .collect();
        assert!(
            block
                .iter()
                .any(|l| l.contains(&format!("Env: {}", spec.env_var()))),
            "the comment above {} does not name {}",
            spec.path(),
            spec.env_var()
        );
        assert!(
            block.iter().any(|l| l.contains("Default:")),
            "the comment above {} does not give its default",
            spec.path()
        );
    }

    let loaded = config::load(&options(
        Some(path),
        &[("CARTEIRO__ZENDESK__API_TOKEN", "example-token-123")],
    ))
    .expect("example.toml is valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        loaded.config.zendesk.base_url.as_str(),
        "https://empresa.zendesk.com/"
    );
}

#[test]
fn default_toml_says_the_same_as_the_built_in_defaults() {
    let site = [
        ("CARTEIRO__ZENDESK__SUBDOMAIN", "empresa"),
        ("CARTEIRO__ZENDESK__EMAIL", "bot@empresa.com.br"),
        ("CARTEIRO__ZENDESK__API_TOKEN", "t0ken"),
    ];
    let built_in = config::load(&options(None, &site)).expect("built-in defaults");
    let from_file =
        config::load(&options(Some(repo_file("config/default.toml")), &site)).expect("default.toml");
    assert_eq!(built_in.config, from_file.config);
    let settings = built_in.config.zendesk_client_settings();
    assert_eq!(settings.request_timeout, Duration::from_secs(30));
    assert_eq!(settings.max_retries, 5);
    assert_eq!(settings.rate_limit_reserve, 10);
    assert_eq!(settings.max_backoff, Duration::from_secs(60));
    assert_eq!(built_in.config.log.level, "info");
    assert_eq!(built_in.config.log.format, LogFormat::Text);
}

#[test]
fn default_file_is_read_only_when_no_config_file_is_given() {
    let dir = scratch("default-file");
    let default = write(&dir, "default.toml", "[zendesk]\nsubdomain = \"padrao\"\n");
    let other = write(&dir, "other.toml", "[zendesk]\nsubdomain = \"outra\"\n");
    let token = [
        ("CARTEIRO__ZENDESK__EMAIL", "a@b.c"),
        ("CARTEIRO__ZENDESK__API_TOKEN", "t"),
    ];
    let mut opts = options(None, &token);
    opts.default_file = Some(default.clone());
    let loaded = config::load(&opts).expect("valid");
    assert_eq!(
        loaded.config.zendesk.base_url.as_str(),
        "https://padrao.zendesk.com/"
    );
    assert_eq!(loaded.file, Some(default));

    opts.file = Some(other);
    let loaded = config::load(&opts).expect("valid");
    assert_eq!(
        loaded.config.zendesk.base_url.as_str(),
        "https://outra.zendesk.com/"
    );
}

#[test]
fn environment_beats_the_file_and_problems_name_the_variable() {
    let dir = scratch("env-override");
    let file = write(
        &dir,
        "carteiro.toml",
        "[zendesk]\nsubdomain = \"arquivo\"\nemail = \"bot@empresa.com.br\"\nmax_retries = 3\n",
    );
    let loaded = config::load(&options(
        Some(file.clone()),
        &[
            ("CARTEIRO__ZENDESK__SUBDOMAIN", "ambiente"),
            ("CARTEIRO__ZENDESK__MAX_RETRIES", "7"),
            ("CARTEIRO__ZENDESK__API_TOKEN", "t0ken"),
        ],
    ))
    .expect("valid");
    assert_eq!(
        loaded.config.zendesk.base_url.as_str(),
        "https://ambiente.zendesk.com/"
    );
    assert_eq!(loaded.config.zendesk.max_retries, 7);

    let err = config::load(&options(
        Some(file),
        &[
            ("CARTEIRO__ZENDESK__MAX_RETRIES", "many"),
            ("CARTEIRO__ZENDESK__API_TOKEN", "t0ken"),
            ("CARTEIRO__ZENDESK__SUBDOMIN", "x"),
            ("CARTEIRO_UNRELATED", "ignored"),
        ],
    ))
    .expect_err("invalid");
    assert_eq!(
        lines(err),
        [
            "CARTEIRO__ZENDESK__SUBDOMIN: zendesk.subdomin: unknown key; did you mean CARTEIRO__ZENDESK__SUBDOMAIN?",
            "CARTEIRO__ZENDESK__MAX_RETRIES: zendesk.max_retries: expected a whole number from 0 to 100; got \"many\"",
        ]
    );
}

#[test]
fn every_problem_is_reported_with_its_file_position() {
    let dir = scratch("all-problems");
    let file = write(
        &dir,
        "carteiro.toml",
        concat!(
            "[zendesk]\n",
            "subdomian = \"empresa\"\n",
            "base_url = \"http://empresa.zendesk.com\"\n",
            "email = \"bot@empresa.com.br\"\n",
            "max_retries = \"5\"\n",
            "request_timeout = \"30\"\n",
            "\n",
            "[logs]\n",
            "level = \"info\"\n",
            "\n",
            "[log]\n",
            "format = \"yaml\"\n",
        ),
    );
    let err = config::load(&options(Some(file), &[])).expect_err("invalid");
    let p = dir.join("carteiro.toml").display().to_string();
    assert_eq!(
        lines(err),
        [
            format!("{p}:2:1: zendesk.subdomian: unknown key; did you mean zendesk.subdomain?"),
            format!("{p}:5:1: zendesk.max_retries: expected a whole number, e.g. 5; got a string"),
            format!("{p}:8:2: logs: unknown section; did you mean [log]?"),
            format!(
                "{p}:3:1: zendesk.base_url: expected an https URL, e.g. https://empresa.zendesk.com \
                 (plain http only for a loopback host, e.g. http://127.0.0.1:8089); got \"http://empresa.zendesk.com\""
            ),
            "zendesk.api_token: missing; auth \"api_token\" needs a token: set CARTEIRO__ZENDESK__API_TOKEN \
             or zendesk.api_token_file"
                .to_owned(),
            format!(
                "{p}:6:1: zendesk.request_timeout: expected a duration such as \"30s\", \"500ms\", \"2m\" or \
                 \"1h30m\" (units ms, s, m, h); got \"30\""
            ),
            format!("{p}:12:1: log.format: expected \"text\" or \"json\"; got \"yaml\""),
        ]
    );
}

#[test]
fn a_toml_syntax_error_is_located() {
    let dir = scratch("syntax");
    let file = write(
        &dir,
        "carteiro.toml",
        "[zendesk]\nsubdomain = \"empresa\nemail = 3\n",
    );
    let err = config::load(&options(Some(file.clone()), &[])).expect_err("invalid");
    assert_eq!(err.problems.len(), 1, "{err}");
    let problem = &err.problems[0];
    // The string is unterminated: toml_edit points at the end of line 2.
    assert_eq!(
        problem.location,
        Some(Location::File {
            path: file.clone(),
            line: 2,
            column: 21
        })
    );
    assert_eq!(problem.key, None);
    assert_eq!(
        problem.to_string(),
        format!(
            "{}:2:21: invalid TOML: invalid basic string, expected `\"`",
            file.display()
        )
    );
}

#[test]
fn a_missing_config_file_is_one_problem_naming_it() {
    let dir = scratch("missing-file");
    let file = dir.join("nope.toml");
    let err = config::load(&options(Some(file.clone()), &[])).expect_err("invalid");
    assert_eq!(
        lines(err),
        [format!(
            "{}: cannot read the configuration file: No such file or directory (os error 2)",
            file.display()
        )]
    );
}

#[test]
fn secrets_come_from_files_with_the_trailing_newline_trimmed() {
    let dir = scratch("secret-file");
    let token = write(&dir, "token", "s3cr3t-from-file\n");
    let file = write(
        &dir,
        "carteiro.toml",
        &format!(
            "[zendesk]\nsubdomain = \"empresa\"\nauth = \"oauth\"\noauth_token_file = {:?}\n",
            token.display().to_string()
        ),
    );
    let loaded = config::load(&options(Some(file), &[])).expect("valid");
    assert!(loaded.warnings.is_empty());
    match &loaded.config.zendesk.auth {
        Auth::OAuth { token } => assert_eq!(token.expose(), "s3cr3t-from-file"),
        other => panic!("expected OAuth, got {other:?}"),
    }
    let shown = format!("{:?} {:?}", loaded.config, loaded);
    assert!(!shown.contains("s3cr3t"), "{shown}");
}

#[test]
fn an_unreadable_secret_file_names_the_key_and_the_path() {
    let dir = scratch("secret-file-missing");
    let missing = dir.join("no-such-token");
    let err = config::load(&options(
        None,
        &[
            ("CARTEIRO__ZENDESK__SUBDOMAIN", "empresa"),
            ("CARTEIRO__ZENDESK__EMAIL", "bot@empresa.com.br"),
            (
                "CARTEIRO__ZENDESK__API_TOKEN_FILE",
                &missing.display().to_string(),
            ),
        ],
    ))
    .expect_err("invalid");
    assert_eq!(
        lines(err),
        [format!(
            "CARTEIRO__ZENDESK__API_TOKEN_FILE: zendesk.api_token_file: cannot read {:?}: No such file or \
             directory (os error 2)",
            missing.display().to_string()
        )]
    );
}

#[test]
fn a_secret_written_in_the_file_is_accepted_with_a_warning_that_never_shows_it() {
    let dir = scratch("secret-inline");
    let file = write(
        &dir,
        "carteiro.toml",
        "[zendesk]\nsubdomain = \"empresa\"\nemail = \"bot@empresa.com.br\"\napi_token = \"hunter2-inline\"\n",
    );
    let loaded = config::load(&options(Some(file.clone()), &[])).expect("valid");
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [format!(
            "{}:4:1: zendesk.api_token: a secret written in the config file; prefer \
             CARTEIRO__ZENDESK__API_TOKEN or zendesk.api_token_file",
            file.display()
        )]
    );
    let shown = format!("{loaded:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn auth_modes_check_their_own_credentials() {
    let err = config::load(&options(
        None,
        &[
            ("CARTEIRO__ZENDESK__BASE_URL", "http://127.0.0.1:8089/api"),
            ("CARTEIRO__ZENDESK__AUTH", "oauth"),
            ("CARTEIRO__ZENDESK__API_TOKEN", "stray"),
            ("CARTEIRO__ZENDESK__OAUTH_TOKEN", "with space"),
        ],
    ))
    .expect_err("invalid");
    assert_eq!(
        lines(err),
        [
            "CARTEIRO__ZENDESK__BASE_URL: zendesk.base_url: expected scheme, host and port only (carteiro \
             adds /api/v2/…), e.g. https://empresa.zendesk.com; got \"http://127.0.0.1:8089/api\"",
            "CARTEIRO__ZENDESK__API_TOKEN: zendesk.api_token: set, but zendesk.auth is \"oauth\"; remove it \
             or change zendesk.auth",
            "CARTEIRO__ZENDESK__OAUTH_TOKEN: zendesk.oauth_token: contains whitespace or control characters; \
             expected the token alone",
        ]
    );

    let loaded = config::load(&options(
        None,
        &[
            ("CARTEIRO__ZENDESK__BASE_URL", "http://127.0.0.1:8089"),
            ("CARTEIRO__ZENDESK__EMAIL", "agent@example.com"),
            ("CARTEIRO__ZENDESK__API_TOKEN", "t0ken"),
        ],
    ))
    .expect("loopback http is allowed");
    assert_eq!(
        loaded.config.zendesk.auth,
        Auth::ApiToken {
            email: "agent@example.com".into(),
            token: carteiro::secret::Secret::new("t0ken"),
        }
    );
}

#[test]
fn log_section_loads_alone_for_the_simulator() {
    let log = config::load_log(&options(None, &[("CARTEIRO__LOG__FORMAT", "json")])).expect("valid");
    assert_eq!(log.format, LogFormat::Json);
    let err =
        config::load_log(&options(None, &[("CARTEIRO__LOG__LEVEL", "carteiro=loud")])).expect_err("invalid");
    assert_eq!(
        lines(err),
        [
            "CARTEIRO__LOG__LEVEL: log.level: expected a level or filter directive, e.g. \"info\" or \
          \"carteiro=debug,info\"; got \"carteiro=loud\""
        ]
    );
}

#[test]
fn misplaced_keys_and_wrong_types_say_what_is_expected() {
    let dir = scratch("misplaced");
    let file = write(
        &dir,
        "carteiro.toml",
        "subdomain = \"empresa\"\nlog = \"debug\"\n[zendesk]\nemail = true\nrequest_timeout = 30\n",
    );
    let err = config::load(&options(Some(file.clone()), &[])).expect_err("invalid");
    let p = file.display();
    let lines = lines(err);
    assert_eq!(
        lines[..4],
        [
            format!("{p}:1:1: subdomain: unknown section; subdomain belongs under [zendesk]"),
            format!("{p}:2:1: log: expected a table ([log]); got a string"),
            format!("{p}:4:1: zendesk.email: expected a string; got a boolean"),
            format!(
                "{p}:5:1: zendesk.request_timeout: expected a duration string such as \"30s\" (units ms, s, m, \
                 h); got an integer"
            ),
        ]
    );
}
