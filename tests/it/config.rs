//! The configuration loader through its library API: layering, locations
//! in problems, secrets, and the shipped `config/*.toml` files.
//!
//! Each test passes its own environment map, so nothing here reads or
//! changes the test process's environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use carteiro::config::{
    self, AfterProcessing, AuthMech, ImapConfig, InvalidConfig, KEYS, LoadOptions, Location, LogFormat,
    MailboxConfig, MailboxSource, MaildirConfig, RulesConfig, SmtpAuth, SmtpConfig, TicketsConfig, TlsMode,
};
use carteiro::helpdesk::zendesk::Auth;
use carteiro::secret::Secret;

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

/// The lines of `text` inside sections called `section` (`[state]`,
/// every `[[mailbox]]` entry, or every `[calendars.NAME]` table), with
/// their line indexes.
fn section_lines<'a>(lines: &[&'a str], section: &str) -> Vec<(usize, &'a str)> {
    let headers = [format!("[{section}]"), format!("[[{section}]]")];
    let named = format!("[{section}.");
    let mut inside = false;
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if line.starts_with('[') {
            inside = headers.iter().any(|h| line.trim() == h) || line.starts_with(&named);
            continue;
        }
        if inside {
            found.push((index, *line));
        }
    }
    found
}

#[test]
fn example_toml_documents_every_key_and_is_valid_with_a_token_from_the_environment() {
    let path = repo_file("config/example.toml");
    let text = std::fs::read_to_string(&path).expect("read example.toml");
    let lines: Vec<&str> = text.lines().collect();
    for spec in KEYS {
        let assignment = format!("{} = ", spec.name);
        let pos = section_lines(&lines, spec.section)
            .into_iter()
            .find(|(_, l)| l.trim_start_matches("# ").starts_with(&assignment))
            .map(|(index, _)| index)
            .unwrap_or_else(|| panic!("{} is not in example.toml", spec.path()));
        // The comment block just above the key names its env variable.
        let block: Vec<&str> = lines[..pos]
            .iter()
            .rev()
            .take_while(|l| l.starts_with('#'))
            .copied()
            .collect();
        let env = match spec.env_var() {
            Some(var) => format!("Env: {var}"),
            None => "Env: ".to_owned(),
        };
        assert!(
            block.iter().any(|l| l.contains(&env)),
            "the comment above {} does not say {env:?}",
            spec.path(),
        );
        assert!(
            block.iter().any(|l| l.contains("Default:")),
            "the comment above {} does not give its default",
            spec.path()
        );
    }

    let loaded = config::load(&options(
        Some(path),
        &[
            ("CARTEIRO__ZENDESK__API_TOKEN", "example-token-123"),
            ("IMAP_PASSWORD_SUPORTE", "senha secreta"),
            ("CARTEIRO__SMTP__PASSWORD", "senha smtp"),
        ],
    ))
    .expect("example.toml is valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        loaded.config.mail.templates,
        Some(PathBuf::from("rules/templates"))
    );
    assert_eq!(
        loaded.config.smtp,
        Some(SmtpConfig {
            host: "smtp.empresa.com.br".into(),
            port: 587,
            tls: TlsMode::StartTls,
            ca_file: None,
            auth: Some(SmtpAuth {
                mechanism: AuthMech::Plain,
                username: "suporte@empresa.com.br".into(),
                password: Secret::new("senha smtp"),
            }),
            timeout: Duration::from_secs(30),
            from_address: "suporte@empresa.com.br".into(),
            from_name: Some("Suporte Empresa".into()),
            maildir: None,
        })
    );
    assert_eq!(
        loaded.config.zendesk.base_url.as_str(),
        "https://empresa.zendesk.com/"
    );
    assert_eq!(loaded.config.state.path, PathBuf::from("state/carteiro.db"));
    assert_eq!(
        loaded.config.rules,
        RulesConfig {
            dir: Some(PathBuf::from("rules")),
            max_cascade: 3,
            sweep_limit: 1000,
        }
    );
    assert_eq!(
        loaded.config.mail.own_addresses,
        ["suporte@empresa.com.br", "ouvidoria@empresa.com.br"]
    );
    assert_eq!(loaded.config.mail.message_id_domain, "empresa.com.br");
    assert_eq!(
        loaded.config.mailboxes,
        [
            MailboxConfig {
                name: "suporte".into(),
                source: MailboxSource::Imap(ImapConfig {
                    host: "imap.empresa.com.br".into(),
                    port: 993,
                    tls: TlsMode::Implicit,
                    ca_file: None,
                    username: "suporte@empresa.com.br".into(),
                    password: Secret::new("senha secreta"),
                    auth: AuthMech::Login,
                    folder: "INBOX".into(),
                    after: AfterProcessing::Move("Processados".into()),
                    idle: true,
                    poll_interval: Duration::from_secs(60),
                    timeout: Duration::from_secs(30),
                    batch_size: 100,
                }),
            },
            MailboxConfig {
                name: "ouvidoria-local".into(),
                source: MailboxSource::Maildir(MaildirConfig {
                    path: PathBuf::from("/var/mail/ouvidoria/Maildir"),
                    after: AfterProcessing::Seen,
                    poll_interval: Duration::from_secs(10),
                }),
            },
        ]
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
    assert_eq!(built_in.config.state.path, PathBuf::from("state/carteiro.db"));
    let mail = &built_in.config.mail;
    assert_eq!(mail.own_addresses, Vec::<String>::new());
    assert_eq!(mail.message_id_domain, "carteiro.invalid");
    assert_eq!(mail.loop_header, "X-Carteiro-Loop");
    assert_eq!(mail.subject_tag.pattern(), "[#{id}]");
    assert_eq!(mail.subject_tag.render(42), "[#42]");
    assert_eq!(mail.max_attachment_bytes, 25 * 1024 * 1024);
    assert_eq!(mail.quarantine_max_retries, 5);
    assert_eq!(built_in.config.mailboxes, []);
    assert_eq!(built_in.config.rules, RulesConfig::default());
    assert_eq!(built_in.config.rules.dir, None);
    assert_eq!(built_in.config.rules.max_cascade, 3);
    assert_eq!(built_in.config.rules.sweep_limit, 1000);
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
            token: Secret::new("t0ken"),
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

/// The environment a valid `[zendesk]` needs, for tests about other sections.
const SITE: [(&str, &str); 3] = [
    ("CARTEIRO__ZENDESK__SUBDOMAIN", "empresa"),
    ("CARTEIRO__ZENDESK__EMAIL", "bot@empresa.com.br"),
    ("CARTEIRO__ZENDESK__API_TOKEN", "t0ken"),
];

fn with_site(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    SITE.iter().chain(extra).copied().collect()
}

#[test]
fn mail_and_state_problems_are_located_in_the_file() {
    let dir = scratch("mail-problems");
    std::fs::create_dir_all(dir.join("a-directory")).expect("dir");
    let file = write(
        &dir,
        "carteiro.toml",
        &format!(
            concat!(
                "[state]\n",
                "path = {:?}\n",
                "\n",
                "[mail]\n",
                "own_addresses = [7, \"suporte@empresa.com.br\"]\n",
                "message_id_domain = \"empresa com br\"\n",
                "loop_header = \"X-Carteiro Loop:\"\n",
                "subject_tag = \"[#{{id}}] {{id}}\"\n",
                "max_attachment_bytes = \"25 megs\"\n",
                "quarantine_max_retries = 101\n",
                "own_adresses = []\n",
            ),
            dir.join("a-directory").display().to_string()
        ),
    );
    let err = config::load(&options(Some(file.clone()), &SITE)).expect_err("invalid");
    let p = file.display();
    let d = dir.join("a-directory").display().to_string();
    assert_eq!(
        lines(err),
        [
            format!("{p}:5:18: mail.own_addresses[0]: expected a string; got an integer"),
            format!("{p}:11:1: mail.own_adresses: unknown key; did you mean mail.own_addresses?"),
            format!(
                "{p}:2:1: state.path: {d:?} is a directory; expected the store's file, e.g. {:?}",
                format!("{d}/carteiro.db")
            ),
            format!(
                "{p}:6:1: mail.message_id_domain: expected a domain name, e.g. \"empresa.com.br\" (letters, \
                 digits, hyphens and dots); got \"empresa com br\""
            ),
            format!(
                "{p}:7:1: mail.loop_header: expected a header name of letters, digits and hyphens, e.g. \
                 \"X-Carteiro-Loop\"; got \"X-Carteiro Loop:\""
            ),
            format!(
                "{p}:8:1: mail.subject_tag: expected a pattern with {{id}} exactly once, after some text that \
                 does not end in a digit, e.g. \"[#{{id}}]\" or \"#{{id}}\"; got \"[#{{id}}] {{id}}\""
            ),
            format!(
                "{p}:9:1: mail.max_attachment_bytes: expected a size such as \"25MiB\", \"10MB\" or a number of \
                 bytes (units B, KB, MB, GB, KiB, MiB, GiB); got \"25 megs\""
            ),
            format!(
                "{p}:10:1: mail.quarantine_max_retries: expected a whole number from 0 to 100; got \"101\""
            ),
        ]
    );
}

#[test]
fn a_bad_own_address_is_located_at_the_item() {
    let dir = scratch("own-address");
    let file = write(
        &dir,
        "carteiro.toml",
        "[mail]\nown_addresses = [\n  \"suporte@empresa.com.br\",\n  \"ouvidoria\",\n]\n",
    );
    let err = config::load(&options(Some(file.clone()), &SITE)).expect_err("invalid");
    assert_eq!(
        lines(err),
        [format!(
            "{}:4:3: mail.own_addresses[1]: expected an e-mail address, e.g. \"suporte@empresa.com.br\"; got \
             \"ouvidoria\"",
            file.display()
        )]
    );
}

#[test]
fn mail_settings_come_from_the_environment_too() {
    let loaded = config::load(&options(
        None,
        &with_site(&[
            (
                "CARTEIRO__MAIL__OWN_ADDRESSES",
                " Suporte@Empresa.com.br, ouvidoria@empresa.com.br,suporte@empresa.com.br",
            ),
            ("CARTEIRO__MAIL__MAX_ATTACHMENT_BYTES", "10MB"),
            ("CARTEIRO__MAIL__SUBJECT_TAG", "(Chamado {id})"),
            ("CARTEIRO__STATE__PATH", "/var/lib/carteiro/state.db"),
        ]),
    ))
    .expect("valid");
    let mail = &loaded.config.mail;
    assert_eq!(
        mail.own_addresses,
        ["suporte@empresa.com.br", "ouvidoria@empresa.com.br"]
    );
    assert_eq!(mail.message_id_domain, "empresa.com.br");
    assert_eq!(mail.max_attachment_bytes, 10_000_000);
    assert_eq!(mail.subject_tag.find("Re: Impressora (Chamado 77)"), Some(77));
    assert_eq!(
        loaded.config.state.path,
        PathBuf::from("/var/lib/carteiro/state.db")
    );

    let err = config::load(&options(
        None,
        &with_site(&[
            (
                "CARTEIRO__MAIL__OWN_ADDRESSES",
                "suporte@empresa.com.br, ouvidoria",
            ),
            ("CARTEIRO__MAIL__QUARANTINE_MAX_RETRIES", "-1"),
            ("CARTEIRO__MAILBOX__HOST", "imap.empresa.com.br"),
            ("CARTEIRO__MAILBOX__0__PASSWORD", "x"),
        ]),
    ))
    .expect_err("invalid");
    assert_eq!(
        lines(err),
        [
            "CARTEIRO__MAILBOX__0__PASSWORD: mailbox.0.password: unknown key; [[mailbox]] entries are set in \
             the configuration file only (a password with password_env or password_file)",
            "CARTEIRO__MAILBOX__HOST: mailbox.host: unknown key; [[mailbox]] entries are set in the \
             configuration file only (a password with password_env or password_file)",
            "CARTEIRO__MAIL__OWN_ADDRESSES: mail.own_addresses[1]: expected an e-mail address, e.g. \
             \"suporte@empresa.com.br\"; got \"ouvidoria\"",
            "CARTEIRO__MAIL__QUARANTINE_MAX_RETRIES: mail.quarantine_max_retries: expected a whole number \
             from 0 to 100; got \"-1\"",
        ]
    );
}

#[test]
fn mailbox_problems_name_the_entry_and_point_at_it() {
    let dir = scratch("mailbox-problems");
    let file = write(
        &dir,
        "carteiro.toml",
        concat!(
            "[[mailbox]]\n",                                // 1  mailbox[0]
            "name = \"suporte\"\n",                         // 2
            "kind = \"imap\"\n",                            // 3
            "host = \"imap.empresa.com.br\"\n",             // 4
            "tls = \"plain\"\n",                            // 5
            "port = \"143\"\n",                             // 6
            "username = \"suporte\"\n",                     // 7
            "password_env = \"NOT_SET_ANYWHERE\"\n",        // 8
            "after = \"move\"\n",                           // 9
            "path = \"/var/mail\"\n",                       // 10
            "usrname = \"x\"\n",                            // 11
            "\n",                                           // 12
            "[[mailbox]]\n",                                // 13 mailbox[1]
            "kind = \"pop3\"\n",                            // 14
            "\n",                                           // 15
            "  [[mailbox]]\n",                              // 16 mailbox[2]
            "name = \"Suporte\"\n",                         // 17
            "kind = \"maildir\"\n",                         // 18
            "host = \"localhost\"\n",                       // 19
            "after = \"move\"\n",                           // 20
            "move_to = \".Processados\"\n",                 // 21
            "\n",                                           // 22
            "[[mailbox]]\n",                                // 23 mailbox[3]
            "name = \"vendas\"\n",                          // 24
            "kind = \"imap\"\n",                            // 25
            "host = \"imaps://imap.empresa.com.br:993\"\n", // 26
            "username = \"vendas\"\n",                      // 27
            "password_env = \"IMAP_VENDAS\"\n",             // 28
            "password_file = \"/run/secrets/imap\"\n",      // 29
            "folder = \"INBOX\"\n",                         // 30
            "after = \"move\"\n",                           // 31
            "move_to = \"INBOX\"\n",                        // 32
            "batch_size = 0\n",                             // 33
            "idle = \"yes\"\n",                             // 34
            "poll_interval = \"0s\"\n",                     // 35
        ),
    );
    let err = config::load(&options(Some(file.clone()), &SITE)).expect_err("invalid");
    let p = file.display();
    assert_eq!(
        lines(err),
        [
            format!("{p}:6:1: mailbox[0].port: expected a whole number, e.g. 5; got a string"),
            format!("{p}:11:1: mailbox[0].usrname: unknown key; did you mean mailbox[0].username?"),
            format!("{p}:34:1: mailbox[3].idle: expected true or false; got a string"),
            format!(
                "{p}:10:1: mailbox[0].path: only for kind = \"maildir\"; this mailbox is kind = \"imap\""
            ),
            format!(
                "{p}:5:1: mailbox[0].tls: \"plain\" sends the password and the mail unencrypted, so it is allowed \
                 only for a loopback host (localhost, 127.0.0.1, ::1); mailbox[0].host is \"imap.empresa.com.br\": \
                 use \"implicit\" or \"starttls\""
            ),
            format!(
                "{p}:8:1: mailbox[0].password_env: the environment variable NOT_SET_ANYWHERE is not set; it \
                 should hold the password"
            ),
            format!(
                "{p}:1:1: mailbox[0].move_to: missing; mailbox[0].after = \"move\" needs the folder to move \
                 processed mail to, e.g. move_to = \"Processados\""
            ),
            format!(
                "{p}:13:1: mailbox[1].name: missing; every mailbox needs a unique name, e.g. name = \"suporte\""
            ),
            format!("{p}:14:1: mailbox[1].kind: expected \"imap\" or \"maildir\"; got \"pop3\""),
            format!(
                "{p}:17:1: mailbox[2].name: duplicate name \"Suporte\": mailbox[0] has it too; each mailbox needs \
                 its own"
            ),
            format!(
                "{p}:19:1: mailbox[2].host: only for kind = \"imap\"; this mailbox is kind = \"maildir\""
            ),
            format!(
                "{p}:16:3: mailbox[2].path: missing; kind \"maildir\" needs the Maildir folder (the one holding \
                 new/, cur/ and tmp/), e.g. \"/var/mail/suporte/Maildir\""
            ),
            format!(
                "{p}:21:1: mailbox[2].move_to: expected a Maildir++ folder name without '/' or a leading '.', \
                 e.g. \"Processados\" (kept in .Processados/ under the Maildir); got \".Processados\""
            ),
            format!(
                "{p}:26:1: mailbox[3].host: expected a host name or IP address alone (no scheme or port), e.g. \
                 \"imap.empresa.com.br\"; got \"imaps://imap.empresa.com.br:993\""
            ),
            format!(
                "{p}:28:1: mailbox[3].password_env: both mailbox[3].password_env and mailbox[3].password_file \
                 are set; keep one"
            ),
            format!(
                "{p}:32:1: mailbox[3].move_to: is the folder being read (mailbox[3].folder); mail moved there \
                 would be read again"
            ),
            format!(
                "{p}:35:1: mailbox[3].poll_interval: expected a duration above zero, e.g. \"30s\"; got \"0s\""
            ),
            format!("{p}:33:1: mailbox[3].batch_size: expected a whole number from 1 to 10000; got \"0\""),
        ]
    );
}

#[test]
fn mailboxes_take_their_defaults_and_passwords_from_env_files_or_the_file() {
    let dir = scratch("mailbox-defaults");
    let password = write(&dir, "imap-password", "p@ss word\n");
    let file = write(
        &dir,
        "carteiro.toml",
        &format!(
            concat!(
                "[[mailbox]]\n",
                "name = \"a\"\n",
                "kind = \"imap\"\n",
                "host = \"imap.empresa.com.br\"\n",
                "username = \"a@empresa.com.br\"\n",
                "password_env = \"IMAP_A\"\n",
                "\n",
                "[[mailbox]]\n",
                "name = \"b\"\n",
                "kind = \"imap\"\n",
                "host = \"127.0.0.1\"\n",
                "port = 10143\n",
                "tls = \"plain\"\n",
                "auth = \"plain\"\n",
                "username = \"b\"\n",
                "password_file = {:?}\n",
                "after = \"leave\"\n",
                "idle = false\n",
                "timeout = \"5s\"\n",
                "batch_size = 10\n",
                "\n",
                "[[mailbox]]\n",
                "name = \"c\"\n",
                "kind = \"imap\"\n",
                "host = \"::1\"\n",
                "tls = \"starttls\"\n",
                "username = \"c\"\n",
                "password = \"literal-secret\"\n",
                "\n",
                "[[mailbox]]\n",
                "name = \"d\"\n",
                "kind = \"maildir\"\n",
                "path = \"maildir/d\"\n",
                "after = \"move\"\n",
                "move_to = \"Processados\"\n",
            ),
            password.display().to_string()
        ),
    );
    let loaded = config::load(&options(
        Some(file.clone()),
        &with_site(&[("IMAP_A", "from-the-environment")]),
    ))
    .expect("valid");
    let imap = |i: usize| match &loaded.config.mailboxes[i].source {
        MailboxSource::Imap(imap) => imap.clone(),
        other => panic!("mailbox {i} is not IMAP: {other:?}"),
    };
    assert_eq!(
        imap(0),
        ImapConfig {
            host: "imap.empresa.com.br".into(),
            port: 993,
            tls: TlsMode::Implicit,
            ca_file: None,
            username: "a@empresa.com.br".into(),
            password: Secret::new("from-the-environment"),
            auth: AuthMech::Login,
            folder: "INBOX".into(),
            after: AfterProcessing::Seen,
            idle: true,
            poll_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            batch_size: 100,
        }
    );
    let b = imap(1);
    assert_eq!(
        (b.host.as_str(), b.port, b.tls, b.auth),
        ("127.0.0.1", 10143, TlsMode::Plain, AuthMech::Plain)
    );
    assert_eq!(b.password.expose(), "p@ss word");
    assert_eq!(
        (b.after, b.idle, b.timeout, b.batch_size),
        (AfterProcessing::Leave, false, Duration::from_secs(5), 10)
    );
    let c = imap(2);
    assert_eq!((c.host.as_str(), c.port, c.tls), ("::1", 143, TlsMode::StartTls));
    assert_eq!(c.password.expose(), "literal-secret");
    assert_eq!(
        loaded.config.mailboxes[3],
        MailboxConfig {
            name: "d".into(),
            source: MailboxSource::Maildir(MaildirConfig {
                path: PathBuf::from("maildir/d"),
                after: AfterProcessing::Move("Processados".into()),
                poll_interval: Duration::from_secs(60),
            }),
        }
    );
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [format!(
            "{}:28:1: mailbox[2].password: a secret written in the config file; prefer mailbox[2].password_env \
             or mailbox[2].password_file",
            file.display()
        )]
    );
    let shown = format!("{loaded:?}");
    assert!(
        !shown.contains("literal-secret")
            && !shown.contains("from-the-environment")
            && !shown.contains("p@ss"),
        "{shown}"
    );
}

#[test]
fn imap_credentials_and_certificates_are_checked() {
    let dir = scratch("mailbox-credentials");
    let file = write(
        &dir,
        "carteiro.toml",
        &format!(
            concat!(
                "[[mailbox]]\n",
                "name = \"a\"\n",
                "kind = \"imap\"\n",
                "host = \"imap.empresa.com.br\"\n",
                "\n",
                "[[mailbox]]\n",
                "name = \"b\"\n",
                "kind = \"imap\"\n",
                "host = \"localhost\"\n",
                "tls = \"plain\"\n",
                "ca_file = \"/etc/ssl/private-ca.pem\"\n",
                "username = \"b\"\n",
                "password_env = \"IMAP B\"\n",
                "\n",
                "[[mailbox]]\n",
                "name = \"c\"\n",
                "kind = \"imap\"\n",
                "host = \"imap.empresa.com.br\"\n",
                "tls = \"ssl\"\n",
                "ca_file = {:?}\n",
                "username = \"c\"\n",
                "password_env = \"EMPTY\"\n",
                "auth = \"cram-md5\"\n",
            ),
            dir.join("no-such-ca.pem").display().to_string()
        ),
    );
    let err = config::load(&options(Some(file.clone()), &with_site(&[("EMPTY", "")]))).expect_err("invalid");
    let p = file.display();
    assert_eq!(
        lines(err),
        [
            format!(
                "{p}:1:1: mailbox[0].username: missing; kind \"imap\" needs the user name to log in with"
            ),
            format!(
                "{p}:1:1: mailbox[0].password: missing; kind \"imap\" needs a password: set \
                 mailbox[0].password_env to the name of an environment variable holding it, or \
                 mailbox[0].password_file to a file holding it"
            ),
            format!(
                "{p}:11:1: mailbox[1].ca_file: set, but mailbox[1].tls is \"plain\", which checks no \
                 certificate; remove it or use TLS"
            ),
            format!(
                "{p}:13:1: mailbox[1].password_env: expected the name of an environment variable (letters, \
                 digits, '_'), e.g. \"IMAP_PASSWORD_SUPORTE\"; got \"IMAP B\""
            ),
            format!(
                "{p}:19:1: mailbox[2].tls: expected \"implicit\" (TLS from the start, port 993), \"starttls\" \
                 (port 143) or \"plain\" (loopback only); got \"ssl\""
            ),
            format!(
                "{p}:20:1: mailbox[2].ca_file: cannot read {:?}: No such file or directory (os error 2)",
                dir.join("no-such-ca.pem").display().to_string()
            ),
            format!(
                "{p}:22:1: mailbox[2].password_env: the environment variable EMPTY is empty; expected the \
                 password"
            ),
            format!(
                "{p}:23:1: mailbox[2].auth: expected \"login\" (LOGIN) or \"plain\" (AUTHENTICATE PLAIN); got \
                 \"cram-md5\""
            ),
        ]
    );
}

#[test]
fn array_and_table_sections_must_be_written_as_such() {
    let dir = scratch("section-shapes");
    let file = write(
        &dir,
        "carteiro.toml",
        "[mailbox]\nname = \"x\"\n\n[[mail]]\nloop_header = \"X\"\n\n[mailboxes]\n",
    );
    let err = config::load(&options(Some(file.clone()), &SITE)).expect_err("invalid");
    let p = file.display();
    assert_eq!(
        lines(err),
        [
            format!(
                "{p}:1:2: mailbox: expected an array of tables ([[mailbox]], once per entry); got a table"
            ),
            format!("{p}:4:3: mail: expected a table ([mail]); got an array of tables"),
            format!("{p}:7:2: mailboxes: unknown section; did you mean [[mailbox]]?"),
        ]
    );

    // An inline array of tables works too.
    let inline = write(
        &dir,
        "inline.toml",
        "mailbox = [{ name = \"local\", kind = \"maildir\", path = \"/srv/mail\", after = \"sideways\" }]\n",
    );
    let err = config::load(&options(Some(inline.clone()), &SITE)).expect_err("invalid");
    assert_eq!(
        lines(err),
        [format!(
            "{}:1:68: mailbox[0].after: expected \"seen\", \"move\" or \"leave\"; got \"sideways\"",
            inline.display()
        )]
    );
}

#[test]
fn the_state_directory_is_created_private_when_missing() {
    let dir = scratch("state-dir");
    let state = config::StateConfig {
        path: dir.join("var").join("carteiro").join("state.db"),
    };
    state.ensure_parent_dir().expect("created");
    let created = dir.join("var").join("carteiro");
    assert!(created.is_dir());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&created)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    // Already there: nothing to do, no error.
    state.ensure_parent_dir().expect("idempotent");
    // A bare file name lives in the working directory, which exists.
    config::StateConfig {
        path: PathBuf::from("carteiro.db"),
    }
    .ensure_parent_dir()
    .expect("nothing to create");
    // And the store opens there.
    let store = carteiro::store::Store::open(&state.path).expect("open");
    assert_eq!(
        store.schema_version().expect("version"),
        carteiro::store::Store::latest_schema_version()
    );
}

#[test]
fn smtp_problems_are_located_and_an_absent_section_means_no_smtp() {
    let loaded = config::load(&options(None, &SITE)).expect("valid");
    assert_eq!(loaded.config.smtp, None);
    assert_eq!(loaded.config.mail.templates, None);

    let dir = scratch("smtp-problems");
    let file = write(
        &dir,
        "carteiro.toml",
        concat!(
            "[mail]\n",
            "templates = \"nao-existe\"\n",
            "\n",
            "[smtp]\n",
            "host = \"smtp.empresa.com.br\"\n",
            "tls = \"plain\"\n",
            "port = 0\n",
            "password = \"x\"\n",
            "timeout = \"0s\"\n",
            "from_address = \"suporte\"\n",
        ),
    );
    let err = config::load(&options(Some(file.clone()), &SITE)).expect_err("invalid");
    let p = file.display();
    assert_eq!(
        lines(err),
        [
            format!(
                "{p}:2:1: mail.templates: cannot read the templates folder \"nao-existe\": No such file or \
                 directory (os error 2)"
            ),
            format!(
                "{p}:6:1: smtp.tls: \"plain\" sends the password and the mail unencrypted, so it is allowed only \
                 for a loopback host (localhost, 127.0.0.1, ::1); smtp.host is \"smtp.empresa.com.br\": use \
                 \"implicit\" or \"starttls\""
            ),
            format!("{p}:7:1: smtp.port: expected a whole number from 1 to 65535; got \"0\""),
            format!(
                "{p}:8:1: smtp.password: set, but smtp.username is missing; set smtp.username to log in, or \
                 remove it to send without AUTH"
            ),
            format!("{p}:9:1: smtp.timeout: expected a duration above zero, e.g. \"30s\"; got \"0s\""),
            format!(
                "{p}:10:1: smtp.from_address: expected an e-mail address, e.g. \"suporte@empresa.com.br\"; got \"suporte\""
            ),
        ]
    );

    // Any key makes the section present, and then host is required (a
    // missing key of a table section has no position, as for [zendesk]).
    let file = write(&dir, "only-name.toml", "[smtp]\nfrom_name = \"Suporte\"\n");
    let err = config::load(&options(Some(file), &SITE)).expect_err("invalid");
    assert_eq!(
        lines(err),
        [
            "smtp.host: missing; [smtp] needs the server's host name, e.g. \"smtp.empresa.com.br\" (or smtp.maildir, to deliver into local Maildirs)",
            "smtp.from_address: missing; [smtp] needs the address carteiro sends from, e.g. \
             \"suporte@empresa.com.br\" (one of mail.own_addresses)",
        ]
    );
}

#[test]
fn smtp_maildir_delivers_locally_without_a_host_and_not_with_one() {
    let dir = scratch("smtp-maildir");
    let file = write(
        &dir,
        "local.toml",
        "[smtp]\nmaildir = \"/var/mail/carteiro\"\nfrom_address = \"suporte@empresa.com.br\"\n",
    );
    let loaded = config::load(&options(Some(file), &SITE)).expect("valid");
    let smtp = loaded.config.smtp.expect("[smtp]");
    assert_eq!(smtp.maildir, Some(PathBuf::from("/var/mail/carteiro")));
    assert_eq!(smtp.host, "");

    let file = write(
        &dir,
        "both.toml",
        "[smtp]\nhost = \"smtp.empresa.com.br\"\nmaildir = \"/var/mail/carteiro\"\n\
         from_address = \"suporte@empresa.com.br\"\n",
    );
    let p = file.display().to_string();
    let err = config::load(&options(Some(file), &SITE)).expect_err("invalid");
    assert_eq!(
        lines(err),
        [format!(
            "{p}:3:1: smtp.maildir: smtp.host is set too; set smtp.host to send through a server, or \
             smtp.maildir to deliver into local Maildirs, not both"
        )]
    );
}

#[test]
fn smtp_takes_defaults_a_password_file_and_warns_about_a_foreign_from() {
    let dir = scratch("smtp-defaults");
    let secret = write(&dir, "smtp-password", "s3nha\n");
    let file = write(
        &dir,
        "carteiro.toml",
        &format!(
            concat!(
                "[smtp]\n",
                "host = \"127.0.0.1\"\n",
                "tls = \"plain\"\n",
                "username = \"bot\"\n",
                "auth = \"login\"\n",
                "password_file = {:?}\n",
                "from_address = \"bot@empresa.com.br\"\n",
            ),
            secret.display().to_string()
        ),
    );
    let loaded = config::load(&options(Some(file.clone()), &SITE)).expect("valid");
    assert_eq!(
        loaded.config.smtp,
        Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: 25,
            tls: TlsMode::Plain,
            ca_file: None,
            auth: Some(SmtpAuth {
                mechanism: AuthMech::Login,
                username: "bot".into(),
                password: Secret::new("s3nha"),
            }),
            timeout: Duration::from_secs(30),
            from_address: "bot@empresa.com.br".into(),
            from_name: None,
            maildir: None,
        })
    );
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [format!(
            "{}:7:1: smtp.from_address: \"bot@empresa.com.br\" is not in mail.own_addresses: replies and \
             bounces to it would not be recognised as answers to carteiro's own mail; add it there",
            file.display()
        )]
    );

    let env = with_site(&[
        ("CARTEIRO__SMTP__HOST", "smtp.empresa.com.br"),
        ("CARTEIRO__SMTP__TLS", "implicit"),
        ("CARTEIRO__SMTP__FROM_ADDRESS", "suporte@empresa.com.br"),
        ("CARTEIRO__MAIL__OWN_ADDRESSES", "suporte@empresa.com.br"),
    ]);
    let loaded = config::load(&options(None, &env)).expect("valid");
    let smtp = loaded.config.smtp.expect("smtp");
    assert_eq!((smtp.port, smtp.tls, smtp.auth), (465, TlsMode::Implicit, None));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn tickets_take_their_defaults_the_file_and_the_environment_and_refuse_zero() {
    let defaults = config::load(&options(None, &SITE)).expect("defaults");
    assert_eq!(
        defaults.config.tickets,
        TicketsConfig {
            poll_interval: Duration::from_secs(30),
            initial_lookback: Duration::from_secs(3600),
            solve_assignee: None,
        }
    );

    let dir = scratch("tickets");
    let file = write(
        &dir,
        "carteiro.toml",
        "[tickets]\npoll_interval = \"10s\"\ninitial_lookback = \"0s\"\n",
    );
    let err = config::load(&options(Some(file.clone()), &SITE)).expect_err("zero lookback");
    let p = file.display().to_string();
    assert_eq!(
        lines(err),
        [format!(
            "{p}:3:1: tickets.initial_lookback: expected a duration above zero, e.g. \"30s\"; got \"0s\""
        )]
    );

    let loaded = config::load(&options(
        Some(file),
        &with_site(&[("CARTEIRO__TICKETS__INITIAL_LOOKBACK", "48h")]),
    ))
    .map_err(lines)
    .expect("the environment fixes it");
    assert_eq!(
        loaded.config.tickets,
        TicketsConfig {
            poll_interval: Duration::from_secs(10),
            initial_lookback: Duration::from_secs(2 * 86_400),
            solve_assignee: None,
        }
    );

    // The agent who takes a ticket carteiro solves unassigned: an e-mail.
    let file = write(&dir, "assignee.toml", "[tickets]\nsolve_assignee = \"Ana\"\n");
    let err = config::load(&options(Some(file.clone()), &SITE)).expect_err("not an e-mail");
    assert_eq!(
        lines(err),
        [format!(
            "{}:2:1: tickets.solve_assignee: expected an agent's e-mail address, e.g. \"ana@empresa.com.br\"; got \"Ana\"",
            file.display()
        )]
    );
    let loaded = config::load(&options(
        Some(file),
        &with_site(&[("CARTEIRO__TICKETS__SOLVE_ASSIGNEE", "ana@empresa.com.br")]),
    ))
    .map_err(lines)
    .expect("the environment fixes it");
    assert_eq!(
        loaded.config.tickets.solve_assignee.as_deref(),
        Some("ana@empresa.com.br")
    );
}

#[test]
fn rules_problems_are_located_and_the_environment_sets_the_folder() {
    let dir = scratch("rules-problems");
    let file = write(
        &dir,
        "carteiro.toml",
        "[rules]\ndir = \"nao-existe\"\nmax_cascade = 50\nsweep_limit = 0\n",
    );
    let err = config::load(&options(Some(file.clone()), &SITE)).expect_err("invalid");
    let p = file.display();
    assert_eq!(
        lines(err),
        [
            format!(
                "{p}:2:1: rules.dir: cannot read the rules folder \"nao-existe\": No such file or directory \
                 (os error 2)"
            ),
            format!("{p}:3:1: rules.max_cascade: expected a whole number from 0 to 20; got \"50\""),
            format!("{p}:4:1: rules.sweep_limit: expected a whole number 1 or more; got \"0\""),
        ]
    );

    let rules_dir = dir.join("regras");
    std::fs::create_dir_all(&rules_dir).expect("create rules dir");
    let rules_dir_text = rules_dir.display().to_string();
    let mut site = SITE.to_vec();
    site.push(("CARTEIRO__RULES__DIR", rules_dir_text.as_str()));
    site.push(("CARTEIRO__RULES__MAX_CASCADE", "0"));
    let loaded = config::load(&options(None, &site)).expect("valid");
    assert_eq!(
        loaded.config.rules,
        RulesConfig {
            dir: Some(rules_dir),
            max_cascade: 0,
            sweep_limit: 1000,
        }
    );
}

#[test]
fn internal_senders_are_addresses_or_domains_and_a_bad_one_is_located() {
    let dir = scratch("internal-senders");
    let good = write(
        &dir,
        "good.toml",
        "[mail]\ninternal_senders = [\"OS@Assistencia.example\", \"@cadastro.example\", \"os@assistencia.example\"]\n",
    );
    let loaded = config::load(&options(Some(good), &SITE)).expect("valid");
    assert_eq!(
        loaded.config.mail.internal_senders,
        ["os@assistencia.example", "@cadastro.example"]
    );
    assert!(loaded.config.mail.is_internal_sender("Joana@Cadastro.example"));
    assert!(
        !loaded
            .config
            .mail
            .is_internal_sender("joana@sub.cadastro.example")
    );
    assert!(!loaded.config.mail.is_internal_sender("maria@cliente.example"));

    let bad = write(
        &dir,
        "bad.toml",
        "[mail]\ninternal_senders = [\"os@assistencia.example\",\n  \"setor os\", \"@não é domínio\"]\n",
    );
    let err = config::load(&options(Some(bad.clone()), &SITE)).expect_err("invalid");
    let p = bad.display();
    let lines = lines(err);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with(&format!(
            "{p}:3:3: mail.internal_senders[1]: expected an e-mail address or a domain after @"
        )),
        "{lines:#?}"
    );
    assert!(lines[0].ends_with("got \"setor os\""), "{lines:#?}");
    assert!(
        lines[1].starts_with(&format!("{p}:3:15: mail.internal_senders[2]:")),
        "{lines:#?}"
    );
}
