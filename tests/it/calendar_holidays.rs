//! The holiday computation checked against lists no one here wrote:
//! - `tests/fixtures/calendar/holidays-br-2020-2030.tsv`, generated from
//!   the python-holidays project (PyPI package `holidays`, version and
//!   command in the file's header);
//! - the `bdays` crate's `BRSettlement` calendar (Brazilian banking
//!   holidays), over 1900–2200.

use std::collections::{BTreeMap, BTreeSet};

use bdays::HolidayCalendar;
use carteiro::calendar::{AshWednesday, Calendar, CalendarSpec, National};
use chrono::{Datelike, NaiveDate};

struct Listed {
    date: NaiveDate,
    category: String,
    name: String,
}

fn python_holidays() -> Vec<Listed> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/calendar/holidays-br-2020-2030.tsv"
    );
    let text = std::fs::read_to_string(path).expect("read the fixture");
    assert!(
        text.contains("holidays==0.109"),
        "the header records the package version"
    );
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [date, category, name] = fields[..] else {
                panic!("bad fixture line {line:?}");
            };
            Listed {
                date: NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("date"),
                category: category.to_owned(),
                name: name.to_owned(),
            }
        })
        .collect()
}

/// python-holidays' `public` category is Brazil's national holidays by
/// law: they must be exactly the days `br` closes for a non-optional
/// national holiday, with the same Portuguese names.
#[test]
fn national_holidays_2020_2030_match_python_holidays_public_list() {
    let br = Calendar::br();
    let theirs: BTreeMap<NaiveDate, String> = python_holidays()
        .into_iter()
        .filter(|l| l.category == "public")
        .map(|l| (l.date, l.name))
        .collect();
    assert_eq!(
        theirs.len(),
        106,
        "8 fixed + Sexta-feira Santa for 11 years, 20 Nov for 7"
    );
    let ours: BTreeMap<NaiveDate, String> = (2020..=2030)
        .flat_map(carteiro::calendar::national_days)
        .filter(|(_, n)| !n.is_optional())
        .map(|(d, n)| (d, n.name().to_owned()))
        .collect();
    assert_eq!(ours, theirs);
    for date in theirs.keys() {
        assert!(!br.is_business_day(*date), "{date}");
    }
}

/// python-holidays' `optional` category lists the federal pontos
/// facultativos. Ours are a subset of it: Carnaval (Monday and Tuesday),
/// Quarta-feira de Cinzas and Corpus Christi, on the same dates. Three
/// of theirs carteiro leaves to each calendar's `holidays` and
/// `half_days` instead, because companies differ on them: Dia do Servidor
/// Público (28 October, for public servants only), Véspera de Natal and
/// Véspera de Ano-Novo (24 and 31 December, afternoon off in the federal
/// ordinance).
#[test]
fn optional_points_2020_2030_match_python_holidays_optional_list() {
    let listed = python_holidays();
    let optional: Vec<&Listed> = listed.iter().filter(|l| l.category == "optional").collect();
    let left_to_config = [
        "Dia do Servidor Público",
        "Véspera de Natal",
        "Véspera de Ano-Novo",
    ];
    let theirs: BTreeSet<(NaiveDate, &str)> = optional
        .iter()
        .filter(|l| !left_to_config.contains(&l.name.as_str()))
        .map(|l| (l.date, l.name.as_str()))
        .collect();
    assert_eq!(
        theirs.len(),
        44,
        "Carnaval ×2, Cinzas, Corpus Christi for 11 years"
    );
    let ours: BTreeSet<(NaiveDate, &str)> = (2020..=2030)
        .flat_map(carteiro::calendar::national_days)
        .filter(|(_, n)| n.is_optional())
        .map(|(d, n)| (d, n.name()))
        .collect();
    assert_eq!(ours, theirs);
    assert_eq!(
        optional
            .iter()
            .filter(|l| left_to_config.contains(&l.name.as_str()))
            .count(),
        33
    );

    // What `br` makes of them: Carnaval and Corpus Christi closed, Ash
    // Wednesday open from 13:00 (a half day, "until noon" plus lunch).
    let br = Calendar::br();
    for (date, name) in &ours {
        match *name {
            "Quarta-feira de Cinzas" => {
                assert!(br.is_business_day(*date), "{date}");
                let hours: Vec<String> = br.working_hours(*date).iter().map(ToString::to_string).collect();
                assert_eq!(hours, ["13:00-18:00"], "{date}");
            }
            _ => assert!(!br.is_business_day(*date), "{date} {name}"),
        }
    }
}

/// `bdays`' BRSettlement closes the national holidays plus Carnaval,
/// Sexta-feira Santa and Corpus Christi, and 20 November from 2024: the
/// same whole-day closures as `br`. Ash Wednesday is a business day in
/// both (in `br`, from 13:00).
#[test]
fn br_closes_the_same_days_as_bdays_br_settlement_1900_2200() {
    let br = Calendar::br();
    let settlement = bdays::calendars::brazil::BRSettlement;
    let mut differences = Vec::new();
    let mut holidays = 0;
    let mut day = NaiveDate::from_ymd_opt(1900, 1, 1).expect("date");
    while day.year() <= 2200 {
        let ours = br.holiday(day).is_some();
        holidays += usize::from(ours);
        if ours != settlement.is_holiday(day) {
            differences.push(day);
        }
        day = day.succ_opt().expect("date");
    }
    assert_eq!(differences, Vec::<NaiveDate>::new());
    assert!(holidays > 301 * 12, "{holidays}");
}

/// Turning the optional points off leaves exactly bdays' list minus
/// Carnaval and Corpus Christi.
#[test]
fn a_calendar_without_optional_points_closes_only_the_law_s_holidays() {
    let strict = Calendar::new(
        "lei",
        CalendarSpec {
            carnaval: false,
            ash_wednesday: AshWednesday::Working,
            corpus_christi: false,
            ..CalendarSpec::br()
        },
    )
    .expect("valid");
    for year in 2020..=2030 {
        for (date, national) in carteiro::calendar::national_days(year) {
            assert_eq!(strict.is_business_day(date), national.is_optional(), "{date}");
            if national == National::QuartaFeiraDeCinzas {
                assert_eq!(strict.working_hours(date).len(), 2, "a full day");
            }
        }
    }
}
