//! Business calendars as an admin configures and uses them:
//! `[calendars.NAME]` sections through the configuration loader (with
//! `path:line:col` problems), and `carteiro calendar holidays | add |
//! elapsed` through the built binary.
//!
//! Every child runs with a cleared environment, in a scratch directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use carteiro::calendar::{AshWednesday, DateRule, Interval};
use carteiro::config::{self, LoadOptions};
use chrono::{DateTime, NaiveDate, Utc};

const BIN: &str = env!("CARGO_BIN_EXE_carteiro");

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("calendar-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn carteiro(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
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

/// A site's required settings, so a full load can succeed.
const SITE: &str = "[zendesk]\nsubdomain = \"empresa\"\nemail = \"bot@empresa.com.br\"\n";

fn load(dir: &Path, text: &str) -> Result<config::Loaded, Vec<String>> {
    let path = dir.join("carteiro.toml");
    std::fs::write(&path, text).expect("write config");
    let options = LoadOptions {
        file: Some(path),
        default_file: None,
        env: BTreeMap::from([("CARTEIRO__ZENDESK__API_TOKEN".to_owned(), "t".to_owned())]),
    };
    config::load(&options).map_err(|e| e.problems.iter().map(ToString::to_string).collect())
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("instant")
        .with_timezone(&Utc)
}

#[test]
fn br_exists_without_configuration_and_sections_start_from_it() {
    let dir = scratch("config-sections");
    let loaded = load(&dir, SITE).expect("valid");
    let calendars = &loaded.config.calendars;
    assert_eq!(calendars.names().collect::<Vec<_>>(), ["br"]);
    assert_eq!(calendars.default_calendar().zone(), chrono_tz::America::Sao_Paulo);

    let text = format!(
        "{SITE}
[calendars.suporte-ny]
zone = \"America/New_York\"
friday = [\"09:00-12:00\"]
saturday = [\"10:00-14:00\"]
carnaval = false
ash_wednesday = \"working\"
corpus_christi = false
holidays = [\"01-25 Aniversário de São Paulo\", \"2026-03-10 Inventário\"]
half_days = [\"12-24 08:00-12:00 13:00-15:00 Véspera de Natal\", \"2026-12-30 09:00-11:00\"]

[calendars.br]
ash_wednesday = \"holiday\"
"
    );
    let loaded = load(&dir, &text).expect("valid");
    let calendars = &loaded.config.calendars;
    assert_eq!(calendars.names().collect::<Vec<_>>(), ["br", "suporte-ny"]);
    assert_eq!(
        calendars.default_calendar().spec().ash_wednesday,
        AshWednesday::Holiday
    );
    let ny = calendars.get("suporte-ny").expect("configured");
    let spec = ny.spec();
    assert_eq!(spec.zone, chrono_tz::America::New_York);
    let hours =
        |items: &[&str]| -> Vec<Interval> { items.iter().map(|i| Interval::parse(i).expect("ok")).collect() };
    // Monday keeps br's hours; Friday and Saturday are as configured.
    assert_eq!(spec.week[0], hours(&["08:00-12:00", "13:00-18:00"]));
    assert_eq!(spec.week[4], hours(&["09:00-12:00"]));
    assert_eq!(spec.week[5], hours(&["10:00-14:00"]));
    assert_eq!(spec.week[6], hours(&[]));
    assert!(!spec.carnaval && !spec.corpus_christi);
    assert_eq!(spec.ash_wednesday, AshWednesday::Working);
    assert_eq!(
        spec.extra_holidays,
        [
            (
                DateRule::Yearly { month: 1, day: 25 },
                "Aniversário de São Paulo".to_owned()
            ),
            (DateRule::On(date("2026-03-10")), "Inventário".to_owned()),
        ]
    );
    assert_eq!(spec.half_days.len(), 2);
    assert_eq!(spec.half_days[0].hours, hours(&["08:00-12:00", "13:00-15:00"]));
    assert_eq!(spec.half_days[0].name, "Véspera de Natal");
    assert_eq!(spec.half_days[1].name, "Meio expediente");
    // It works as configured: Carnaval Monday 16 February 2026 is open,
    // Saturday too.
    assert!(ny.is_business_day(date("2026-02-16")));
    assert!(ny.is_business_day(date("2026-02-21")));
    assert_eq!(
        ny.add(at("2026-02-20T11:00:00-05:00"), "2bh".parse().expect("duration")),
        Ok(at("2026-02-21T11:00:00-05:00"))
    );
}

#[test]
fn calendar_problems_are_located_at_the_key_or_the_item() {
    let dir = scratch("config-problems");
    let text = format!(
        "{SITE}
[calendars.os]
zone = \"America/Sao_Paolo\"
monday = [\"08:00-12:00\", \"11:00-18:00\"]
tuesday = [\"8-12\"]
carnaval = \"sim\"
ash_wednesday = \"noon\"
holidays = [\"25/01 Aniversário\", \"01-25\"]
half_days = [\"12-24 Véspera\"]
colour = \"blue\"

[calendars.Sector]
zone = \"UTC\"

[calendars.fechado]
monday = []
tuesday = []
wednesday = []
thursday = []
friday = []
"
    );
    let problems = load(&dir, &text).expect_err("invalid");
    let p = dir.join("carteiro.toml").display().to_string();
    assert_eq!(
        problems,
        [
            format!("{p}:9:1: calendars.os.carnaval: expected true or false; got a string"),
            format!(
                "{p}:13:1: calendars.os.colour: unknown key; known keys in [calendars.NAME]: zone, monday, tuesday, wednesday, thursday, friday, saturday, sunday, carnaval, ash_wednesday, corpus_christi, holidays, half_days"
            ),
            format!(
                "{p}:15:12: calendars.Sector: expected a name of up to 64 lowercase letters, digits, '_' or '-', e.g. [calendars.suporte]; got \"Sector\""
            ),
            // The semantic pass goes through the calendars by name.
            format!(
                "{p}:18:12: calendars.fechado: no working hours on any day of the week; business time would never pass: give at least one of monday … sunday working hours"
            ),
            format!(
                "{p}:6:1: calendars.os.zone: expected an IANA time zone such as \"America/Sao_Paulo\"; got \"America/Sao_Paolo\""
            ),
            format!(
                "{p}:7:26: calendars.os.monday[1]: \"11:00-18:00\" does not start after 08:00-12:00 ends; list a day's intervals in order, without overlap"
            ),
            format!(
                "{p}:8:12: calendars.os.tuesday[0]: expected working hours as \"HH:MM-HH:MM\", e.g. \"08:00-12:00\"; got \"8-12\""
            ),
            format!(
                "{p}:10:1: calendars.os.ash_wednesday: expected \"HH:MM\" (a business day opening then, e.g. \"13:00\"), \"holiday\" or \"working\" (a full day); got \"noon\""
            ),
            format!(
                "{p}:11:13: calendars.os.holidays[0]: expected a date and a name: \"MM-DD Name\" every year (e.g. \"01-25 Aniversário de São Paulo\") or \"YYYY-MM-DD Name\" once; got \"25/01 Aniversário\""
            ),
            format!(
                "{p}:11:34: calendars.os.holidays[1]: expected a date and a name: \"MM-DD Name\" every year (e.g. \"01-25 Aniversário de São Paulo\") or \"YYYY-MM-DD Name\" once; got \"01-25\""
            ),
            format!(
                "{p}:12:14: calendars.os.half_days[0]: expected working hours \"HH:MM-HH:MM\" after the date, in order and without overlap, e.g. \"12-24 08:00-12:00 Véspera de Natal\"; got \"12-24 Véspera\""
            ),
        ]
    );
}

#[test]
fn calendars_are_set_in_the_file_only() {
    let dir = scratch("config-env");
    std::fs::write(dir.join("carteiro.toml"), SITE).expect("write");
    let options = LoadOptions {
        file: Some(dir.join("carteiro.toml")),
        default_file: None,
        env: BTreeMap::from([
            ("CARTEIRO__ZENDESK__API_TOKEN".to_owned(), "t".to_owned()),
            ("CARTEIRO__CALENDARS__BR__ZONE".to_owned(), "UTC".to_owned()),
        ]),
    };
    let problems: Vec<String> = config::load(&options)
        .expect_err("invalid")
        .problems
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        [
            "CARTEIRO__CALENDARS__BR__ZONE: calendars.br.zone: unknown key; [calendars.NAME] tables are set in the configuration file only"
        ]
    );
}

#[test]
fn the_example_configuration_has_two_calendars_besides_br() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    let options = LoadOptions {
        file: Some(path),
        default_file: None,
        env: BTreeMap::new(),
    };
    let calendars = config::load_calendars(&options).expect("valid calendars");
    assert_eq!(
        calendars.names().collect::<Vec<_>>(),
        ["br", "ouvidoria", "sao-paulo"]
    );
    let sp = calendars.get("sao-paulo").expect("configured");
    assert_eq!(
        sp.holiday(date("2027-07-09")),
        Some("Revolução Constitucionalista")
    );
    assert!(
        calendars
            .get("ouvidoria")
            .is_some_and(|c| c.is_business_day(date("2026-02-16")))
    );
}

#[test]
fn cli_holidays_lists_a_year_in_portuguese() {
    let dir = scratch("cli-holidays");
    let out = carteiro(&dir, &["calendar", "holidays", "2026"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "2026-01-01 Confraternização Universal
2026-02-16 Carnaval
2026-02-17 Carnaval
2026-02-18 Quarta-feira de Cinzas (expediente 13:00-18:00)
2026-04-03 Sexta-feira Santa
2026-04-21 Tiradentes
2026-05-01 Dia do Trabalhador
2026-06-04 Corpus Christi
2026-09-07 Independência do Brasil
2026-10-12 Nossa Senhora Aparecida
2026-11-02 Finados
2026-11-15 Proclamação da República
2026-11-20 Dia Nacional de Zumbi e da Consciência Negra
2026-12-25 Natal
"
    );
    // 2023: no Consciência Negra yet.
    let out = carteiro(&dir, &["calendar", "holidays", "2023"]);
    assert!(!stdout(&out).contains("Consciência Negra"), "{}", stdout(&out));
    let out = carteiro(&dir, &["calendar", "holidays", "1200"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: expected a year from 1583 to 9999; got 1200\n"
    );
}

#[test]
fn cli_uses_a_configured_calendar() {
    let dir = scratch("cli-config");
    std::fs::write(
        dir.join("carteiro.toml"),
        "[calendars.sp]\nholidays = [\"01-25 Aniversário de São Paulo\"]\nhalf_days = [\"12-24 08:00-12:00 Véspera de Natal\"]\n",
    )
    .expect("write");
    let args = ["--calendar", "sp", "--config", "carteiro.toml"];
    let out = carteiro(&dir, &[&["calendar", "holidays", "2027"][..], &args].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("2027-01-25 Aniversário de São Paulo\n"), "{text}");
    assert!(
        text.contains("2027-12-24 Véspera de Natal (expediente 08:00-12:00)\n"),
        "{text}"
    );
    // Friday 22 January 2027 + 1bd skips Monday the 25th.
    let out = carteiro(
        &dir,
        &[&["calendar", "add", "2027-01-22T10:00", "1bd"][..], &args].concat(),
    );
    assert_eq!(stdout(&out), "2027-01-26T10:00:00-03:00\n", "{}", stderr(&out));
    // Without --calendar, br does not know the city's holiday.
    let out = carteiro(
        &dir,
        &[
            "calendar",
            "add",
            "2027-01-22T10:00",
            "1bd",
            "--config",
            "carteiro.toml",
        ],
    );
    assert_eq!(stdout(&out), "2027-01-25T10:00:00-03:00\n");
    let out = carteiro(
        &dir,
        &[
            "calendar",
            "holidays",
            "2027",
            "--calendar",
            "rj",
            "--config",
            "carteiro.toml",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: no calendar \"rj\"; the configuration has br, sp\n"
    );
}

#[test]
fn cli_add_takes_rfc3339_or_local_time() {
    let dir = scratch("cli-add");
    for (instant, duration, expected) in [
        // +5bd from a Friday evening before a holiday Monday.
        ("2026-09-04T19:00", "+5bd", "2026-09-14T19:00:00-03:00"),
        // 3 business days over Carnaval, RFC 3339 in UTC.
        ("2026-02-13T13:00:00Z", "3bd", "2026-02-20T10:00:00-03:00"),
        ("2026-03-06T17:00:00-03:00", "2bh", "2026-03-09T09:00:00-03:00"),
        ("2026-03-06T17:00", "7d", "2026-03-13T17:00:00-03:00"),
        // Across the start of DST in 2018.
        ("2018-11-01T17:00", "2bh", "2018-11-05T09:00:00-02:00"),
    ] {
        let out = carteiro(&dir, &["calendar", "add", instant, duration]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{instant} {duration}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), format!("{expected}\n"), "{instant} + {duration}");
    }
    // A local time that does not exist is read past the jump, with a note.
    let out = carteiro(&dir, &["calendar", "add", "2018-11-04T00:30", "30m"]);
    assert_eq!(stdout(&out), "2018-11-04T02:00:00-02:00\n");
    assert_eq!(
        stderr(&out),
        "note: 2018-11-04T00:30 does not exist in America/Sao_Paulo (the clocks jumped forward); read as \
         2018-11-04T01:30:00-02:00\n"
    );
    let out = carteiro(&dir, &["calendar", "add", "2026-03-06", "1bd"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: expected an instant in RFC 3339 (\"2026-02-13T10:00:00-03:00\") or local time in \
         America/Sao_Paulo (\"2026-02-13T10:00\"); got \"2026-03-06\"\n"
    );
    let out = carteiro(&dir, &["calendar", "add", "2026-03-06T10:00", "5 dias"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: expected a duration as a whole number and a unit, e.g. \"7d\", \"12h\", \"30m\" (calendar \
         time), \"5bd\" (business days) or \"48bh\" (business hours); got \"5 dias\"\n"
    );
}

#[test]
fn cli_elapsed_prints_the_three_counts() {
    let dir = scratch("cli-elapsed");
    let out = carteiro(
        &dir,
        &[
            "calendar",
            "elapsed",
            "2026-02-13T10:00",
            "2026-02-19T15:00:00-03:00",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "business days: 2\nbusiness hours: 18h\ncalendar time: 6d5h\n"
    );
}

#[test]
fn cli_reports_invalid_calendars_on_stderr() {
    let dir = scratch("cli-invalid");
    std::fs::write(dir.join("carteiro.toml"), "[calendars.br]\nzone = \"Brasil\"\n").expect("write");
    let out = carteiro(
        &dir,
        &["calendar", "holidays", "2026", "--config", "carteiro.toml"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "carteiro.toml:2:1: calendars.br.zone: expected an IANA time zone such as \"America/Sao_Paulo\"; got \
         \"Brasil\"\nerror: the calendars in the configuration are invalid\n"
    );
}
