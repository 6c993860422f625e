//! Tables of business-time arithmetic on the default `br` calendar and on
//! calendars in zones with DST.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};

use super::*;

/// An instant written in RFC 3339, with its offset.
fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn dur(text: &str) -> Duration {
    Duration::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

/// `cal.add(from, d)` shown in the calendar's zone, for readable tables.
fn add(cal: &Calendar, from: &str, d: &str) -> String {
    let result = cal
        .add(at(from), dur(d))
        .unwrap_or_else(|e| panic!("{from} + {d}: {e}"));
    result.with_timezone(&cal.zone()).to_rfc3339()
}

fn check_table(cal: &Calendar, table: &[(&str, &str, &str)]) {
    let failures: Vec<String> = table
        .iter()
        .filter_map(|(from, d, expected)| {
            let got = add(cal, from, d);
            (got != *expected).then(|| format!("{from} + {d}: expected {expected}, got {got}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn hours(items: &[&str]) -> Vec<Interval> {
    parse_day(items).unwrap_or_else(|e| panic!("{e}"))
}

/// A calendar open every day, all day, in `zone`: business time is then
/// wall-clock time, which shows what DST does to it.
fn always_open(zone: Tz) -> Calendar {
    let all_day = hours(&["00:00-24:00"]);
    let spec = CalendarSpec {
        zone,
        week: std::array::from_fn(|_| all_day.clone()),
        carnaval: false,
        ash_wednesday: AshWednesday::Working,
        corpus_christi: false,
        ..CalendarSpec::br()
    };
    // National holidays still close it; the tests pick other dates.
    Calendar::new("24x7", spec).expect("valid")
}

#[test]
fn the_issue_examples_for_business_days() {
    let br = Calendar::br();
    check_table(
        &br,
        &[
            // Friday 17:00 + 1bd = Monday 17:00.
            ("2026-03-06T17:00:00-03:00", "1bd", "2026-03-09T17:00:00-03:00"),
            // Saturday 10:00 + 1bd = Monday 10:00.
            ("2026-03-07T10:00:00-03:00", "1bd", "2026-03-09T10:00:00-03:00"),
            // Over a holiday Monday (7 September 2026), the count skips it.
            ("2026-09-04T10:00:00-03:00", "1bd", "2026-09-08T10:00:00-03:00"),
            // Outside working hours the time of day is kept.
            ("2026-03-06T22:15:00-03:00", "1bd", "2026-03-09T22:15:00-03:00"),
            // Zero is no move at all.
            ("2026-03-07T10:00:00-03:00", "0bd", "2026-03-07T10:00:00-03:00"),
        ],
    );
}

#[test]
fn plus_5bd_from_a_friday_evening_before_a_holiday_monday() {
    // Friday 4 September 2026, 19:00; Monday 7 September is Independência.
    // Business days: Tue 8, Wed 9, Thu 10, Fri 11, Mon 14.
    let br = Calendar::br();
    let due = br.due(at("2026-09-04T19:00:00-03:00"), "+5bd").expect("due");
    assert_eq!(due, at("2026-09-14T19:00:00-03:00"));
}

#[test]
fn a_3_business_day_deadline_spanning_carnaval() {
    // Friday 13 February 2026. Carnaval is Mon 16 and Tue 17; Ash
    // Wednesday (18) is a business day from 13:00, so it counts.
    let br = Calendar::br();
    check_table(
        &br,
        &[
            ("2026-02-13T10:00:00-03:00", "1bd", "2026-02-18T10:00:00-03:00"),
            ("2026-02-13T10:00:00-03:00", "3bd", "2026-02-20T10:00:00-03:00"),
            // In hours: Fri 10-12 and 13-18 (7h), then Wed from 13:00 (5h),
            // Thu 9h: 21h lands on Thu 19 18:00, the end of its hours.
            ("2026-02-13T10:00:00-03:00", "21bh", "2026-02-19T18:00:00-03:00"),
            // Tuesday of Carnaval + 1bh: Ash Wednesday opens at 13:00.
            ("2026-02-17T10:00:00-03:00", "1bh", "2026-02-18T14:00:00-03:00"),
        ],
    );
    // A calendar that works through Carnaval counts those days.
    let open = Calendar::new(
        "sem-carnaval",
        CalendarSpec {
            carnaval: false,
            ash_wednesday: AshWednesday::Working,
            ..CalendarSpec::br()
        },
    )
    .expect("valid");
    check_table(
        &open,
        &[
            ("2026-02-13T10:00:00-03:00", "3bd", "2026-02-18T10:00:00-03:00"),
            ("2026-02-17T10:00:00-03:00", "1bh", "2026-02-17T11:00:00-03:00"),
        ],
    );
    // And one that closes Ash Wednesday skips it too.
    let closed = Calendar::new(
        "cinzas",
        CalendarSpec {
            ash_wednesday: AshWednesday::Holiday,
            ..CalendarSpec::br()
        },
    )
    .expect("valid");
    check_table(
        &closed,
        &[("2026-02-13T10:00:00-03:00", "3bd", "2026-02-23T10:00:00-03:00")],
    );
}

#[test]
fn business_hours_walk_through_breaks_weekends_and_holidays() {
    let br = Calendar::br();
    check_table(
        &br,
        &[
            // Inside the morning, across the lunch break.
            ("2026-03-03T11:30:00-03:00", "1bh", "2026-03-03T13:30:00-03:00"),
            // In the break: starts at the 13:00 opening.
            ("2026-03-03T12:30:00-03:00", "1bh", "2026-03-03T14:00:00-03:00"),
            // Before opening, after closing.
            ("2026-03-03T06:00:00-03:00", "1bh", "2026-03-03T09:00:00-03:00"),
            ("2026-03-03T19:00:00-03:00", "1bh", "2026-03-04T09:00:00-03:00"),
            // Landing exactly on a closing time gives the closing time.
            ("2026-03-03T17:00:00-03:00", "1bh", "2026-03-03T18:00:00-03:00"),
            ("2026-03-03T08:00:00-03:00", "4bh", "2026-03-03T12:00:00-03:00"),
            // Friday evening over the weekend.
            ("2026-03-06T17:00:00-03:00", "2bh", "2026-03-09T09:00:00-03:00"),
            ("2026-03-07T10:00:00-03:00", "1bh", "2026-03-09T09:00:00-03:00"),
            // 48bh from Monday 09:00: 8h on Monday, 9h Tue-Fri (44h), then
            // 4h on the next Monday morning.
            ("2026-03-02T09:00:00-03:00", "48bh", "2026-03-09T12:00:00-03:00"),
            // Over Sexta-feira Santa (3 April 2026) and Tiradentes (Tue 21).
            ("2026-04-02T17:00:00-03:00", "2bh", "2026-04-06T09:00:00-03:00"),
            ("2026-04-20T18:00:00-03:00", "1bh", "2026-04-22T09:00:00-03:00"),
            // Zero is no move, even outside hours.
            ("2026-03-07T10:00:00-03:00", "0bh", "2026-03-07T10:00:00-03:00"),
        ],
    );
}

#[test]
fn calendar_time_ignores_the_calendar() {
    let br = Calendar::br();
    check_table(
        &br,
        &[
            ("2026-02-13T10:00:00-03:00", "7d", "2026-02-20T10:00:00-03:00"),
            ("2026-02-13T10:00:00-03:00", "12h", "2026-02-13T22:00:00-03:00"),
            ("2026-02-13T10:00:00-03:00", "30m", "2026-02-13T10:30:00-03:00"),
        ],
    );
    // Seven days across the start of DST is 7 × 24 h of elapsed time, so
    // the wall clock reads an hour later.
    check_table(
        &br,
        &[("2018-11-01T10:00:00-03:00", "7d", "2018-11-08T11:00:00-02:00")],
    );
}

#[test]
fn year_boundaries() {
    let br = Calendar::br();
    check_table(
        &br,
        &[
            // Wednesday 31 December 2025; 1 January is a holiday.
            ("2025-12-31T10:00:00-03:00", "1bd", "2026-01-02T10:00:00-03:00"),
            ("2025-12-31T17:00:00-03:00", "2bh", "2026-01-02T09:00:00-03:00"),
            // Thursday 31 December 2026; Friday 1 January 2027 is a holiday.
            ("2026-12-31T10:00:00-03:00", "1bd", "2027-01-04T10:00:00-03:00"),
            // Christmas 2026 is a Friday.
            ("2026-12-24T10:00:00-03:00", "1bd", "2026-12-28T10:00:00-03:00"),
        ],
    );
}

#[test]
fn every_national_holiday_of_2026_closes_the_day() {
    let br = Calendar::br();
    for (day, national) in national_days(2026) {
        match national {
            National::QuartaFeiraDeCinzas => {
                assert!(br.is_business_day(day), "{day} {}", national.name());
                assert_eq!(br.working_hours(day), hours(&["13:00-18:00"]));
            }
            _ => {
                assert!(!br.is_business_day(day), "{day} {}", national.name());
                assert_eq!(br.holiday(day), Some(national.name()));
                // The day before + 1bd never lands on it.
                let before = br.resolve(day.pred_opt().expect("date").and_hms_opt(10, 0, 0).expect("time"));
                let next = br.add(before, Duration::BusinessDays(1)).expect("add");
                assert_ne!(br.local(next).date(), day, "{}", national.name());
            }
        }
    }
}

#[test]
fn consciencia_negra_counts_only_from_2024() {
    let br = Calendar::br();
    // Monday 20 November 2023 was a working day nationally.
    check_table(
        &br,
        &[
            ("2023-11-17T10:00:00-03:00", "1bd", "2023-11-20T10:00:00-03:00"),
            // Thursday 20 November 2025 is a holiday.
            ("2025-11-19T10:00:00-03:00", "1bd", "2025-11-21T10:00:00-03:00"),
        ],
    );
}

#[test]
fn regional_holidays_and_half_days() {
    let spec = CalendarSpec {
        extra_holidays: vec![
            (
                DateRule::Yearly { month: 1, day: 25 },
                "Aniversário de São Paulo".to_owned(),
            ),
            (
                DateRule::Yearly { month: 7, day: 9 },
                "Revolução Constitucionalista".to_owned(),
            ),
            (DateRule::On(date("2026-03-10")), "Inventário".to_owned()),
        ],
        half_days: vec![HalfDay {
            when: DateRule::Yearly { month: 12, day: 24 },
            hours: hours(&["08:00-12:00"]),
            name: "Véspera de Natal".to_owned(),
        }],
        ..CalendarSpec::br()
    };
    let sp = Calendar::new("sp", spec).expect("valid");
    check_table(
        &sp,
        &[
            // Friday 22 January 2027; Monday 25 January is closed.
            ("2027-01-22T10:00:00-03:00", "1bd", "2027-01-26T10:00:00-03:00"),
            // Thursday 9 July 2026.
            ("2026-07-08T17:00:00-03:00", "2bh", "2026-07-10T09:00:00-03:00"),
            // A dated holiday, Tuesday 10 March 2026.
            ("2026-03-09T10:00:00-03:00", "1bd", "2026-03-11T10:00:00-03:00"),
            // Thursday 24 December 2026 closes at noon; Friday is Natal.
            ("2026-12-24T11:00:00-03:00", "2bh", "2026-12-28T09:00:00-03:00"),
            // A half day is a business day.
            ("2026-12-23T15:00:00-03:00", "1bd", "2026-12-24T15:00:00-03:00"),
        ],
    );
    assert_eq!(sp.holiday(date("2027-01-25")), Some("Aniversário de São Paulo"));
    assert_eq!(
        sp.day_kind(date("2026-12-24")),
        DayKind::Partial("Véspera de Natal")
    );
    let listed: Vec<String> = sp
        .holidays(2026)
        .into_iter()
        .filter(|(d, _)| d.month() == 12 || d.month() == 1 || d.month() == 2)
        .map(|(d, name)| format!("{d} {name}"))
        .collect();
    assert_eq!(
        listed,
        [
            "2026-01-01 Confraternização Universal",
            "2026-01-25 Aniversário de São Paulo",
            "2026-02-16 Carnaval",
            "2026-02-17 Carnaval",
            "2026-02-18 Quarta-feira de Cinzas (expediente 13:00-18:00)",
            "2026-12-24 Véspera de Natal (expediente 08:00-12:00)",
            "2026-12-25 Natal",
        ]
    );
}

#[test]
fn sao_paulo_2018_dst_start_and_end() {
    // DST started at 00:00 on Sunday 4 November 2018 (clocks to 01:00,
    // -03:00 to -02:00) and ended at 00:00 on Sunday 18 February 2018
    // (clocks back to 23:00 on the 17th).
    let br = Calendar::br();
    check_table(
        &br,
        &[
            // Thursday 1 November; Friday 2 is Finados; Monday is in DST.
            ("2018-11-01T10:00:00-03:00", "1bd", "2018-11-05T10:00:00-02:00"),
            ("2018-11-01T17:00:00-03:00", "2bh", "2018-11-05T09:00:00-02:00"),
            // Friday 16 February 2018 in DST; Monday 19 is standard time.
            ("2018-02-16T10:00:00-02:00", "1bd", "2018-02-19T10:00:00-03:00"),
        ],
    );
    let all = always_open(chrono_tz::America::Sao_Paulo);
    check_table(
        &all,
        &[
            // 00:30 on 4 November does not exist: read with the offset
            // before the jump, it is 01:30 -02:00.
            ("2018-11-03T00:30:00-03:00", "1bd", "2018-11-04T01:30:00-02:00"),
            // One hour from 23:30 is 01:30 the next day on the wall clock.
            ("2018-11-03T23:30:00-03:00", "1bh", "2018-11-04T01:30:00-02:00"),
            // 23:30 on 17 February exists twice: the earlier one (-02:00).
            ("2018-02-16T23:30:00-02:00", "1bd", "2018-02-17T23:30:00-02:00"),
            // Two hours from 22:30 -02:00 are 23:30 -03:00 (the second one).
            ("2018-02-17T22:30:00-02:00", "2bh", "2018-02-17T23:30:00-03:00"),
        ],
    );
    // A day of the 24x7 calendar lasts 23 h on 4 November and 25 h on 17
    // February.
    let nov = all.elapsed(at("2018-11-04T01:00:00-02:00"), at("2018-11-05T00:00:00-02:00"));
    assert_eq!(nov.business_time, TimeDelta::hours(23));
    let feb = all.elapsed(at("2018-02-17T00:00:00-02:00"), at("2018-02-18T00:00:00-03:00"));
    assert_eq!(feb.business_time, TimeDelta::hours(25));
    // Sunday 18 February 00:00 is `from + 1bd`, and it is `to` itself.
    assert_eq!(feb.business_days, 1);
}

#[test]
fn new_york_2018_dst_start_and_end() {
    // DST began 11 March 2018 at 02:00 (to 03:00) and ended 4 November at
    // 02:00 (back to 01:00).
    let nine_to_five = hours(&["09:00-17:00"]);
    let ny = Calendar::new(
        "ny",
        CalendarSpec {
            zone: chrono_tz::America::New_York,
            week: std::array::from_fn(|i| if i < 5 { nine_to_five.clone() } else { Vec::new() }),
            ..CalendarSpec::br()
        },
    )
    .expect("valid");
    check_table(
        &ny,
        &[
            ("2018-03-09T10:00:00-05:00", "1bd", "2018-03-12T10:00:00-04:00"),
            ("2018-03-09T16:00:00-05:00", "2bh", "2018-03-12T10:00:00-04:00"),
            ("2018-11-02T10:00:00-04:00", "1bd", "2018-11-05T10:00:00-05:00"),
            // Friday 2 November is Finados, a national holiday here too.
            ("2018-11-01T16:00:00-04:00", "2bh", "2018-11-05T10:00:00-05:00"),
        ],
    );
    let e = ny.elapsed(at("2018-03-09T09:00:00-05:00"), at("2018-03-12T17:00:00-04:00"));
    assert_eq!(e.business_time, TimeDelta::hours(16));
    assert_eq!(e.business_days, 1);
    assert_eq!(e.calendar, TimeDelta::hours(79));

    let all = always_open(chrono_tz::America::New_York);
    check_table(
        &all,
        &[
            // 02:30 on 11 March does not exist: 03:30 EDT.
            ("2018-03-10T02:30:00-05:00", "1bd", "2018-03-11T03:30:00-04:00"),
            // 01:30 on 4 November exists twice: the earlier, EDT.
            ("2018-11-03T01:30:00-04:00", "1bd", "2018-11-04T01:30:00-04:00"),
            ("2018-11-04T00:30:00-04:00", "2bh", "2018-11-04T01:30:00-05:00"),
        ],
    );
}

#[test]
fn elapsed_counts_the_three_ways() {
    let br = Calendar::br();
    // Friday 13 February 2026 10:00 to Thursday 19 February 15:00: Carnaval
    // in between, Ash Wednesday from 13:00.
    let e = br.elapsed(at("2026-02-13T10:00:00-03:00"), at("2026-02-19T15:00:00-03:00"));
    assert_eq!(
        e.business_days, 2,
        "Wed 18 and Thu 19, at 10:00 both before 15:00"
    );
    assert_eq!(e.business_time, TimeDelta::hours(7 + 5 + 6));
    assert_eq!(e.calendar, TimeDelta::hours(6 * 24 + 5));
    // Thursday at 09:00 is before Friday's 10:00 time of day: one bd.
    let e = br.elapsed(at("2026-02-13T10:00:00-03:00"), at("2026-02-19T09:00:00-03:00"));
    assert_eq!(e.business_days, 1);
    // Backwards is the negation.
    let back = br.elapsed(at("2026-02-19T15:00:00-03:00"), at("2026-02-13T10:00:00-03:00"));
    assert_eq!(back.business_days, -2);
    assert_eq!(back.business_time, -TimeDelta::hours(18));
    assert_eq!(back.calendar, -TimeDelta::hours(149));
}

/// Every comparison goes through `add`, and `elapsed` agrees with it: for
/// a grid of instants across Carnaval 2026 and across São Paulo's DST
/// start in 2018, `older_than(x, d, now)` is `x + d <= now`, `newer_than`
/// is its negation, and the elapsed figures reach `d` exactly when
/// `older_than` holds.
#[test]
fn older_than_newer_than_and_elapsed_agree_with_add() {
    let br = Calendar::br();
    let all = always_open(chrono_tz::America::Sao_Paulo);
    let durations = ["1bd", "3bd", "5bd", "1bh", "9bh", "48bh", "7d", "30m"];
    for (cal, start) in [
        (&br, at("2026-02-12T07:10:00-03:00")),
        (&br, at("2018-10-31T07:10:00-03:00")),
        (&all, at("2018-11-02T21:10:00-03:00")),
    ] {
        let xs: Vec<_> = (0..60).map(|i| start + TimeDelta::minutes(i * 97)).collect();
        let nows: Vec<_> = (0..120).map(|i| start + TimeDelta::minutes(i * 131)).collect();
        for x in &xs {
            for now in &nows {
                let e = cal.elapsed(*x, *now);
                for text in durations {
                    let d = dur(text);
                    let due = cal.add(*x, d).expect("add");
                    let older = cal.older_than(*x, d, *now).expect("older");
                    assert_eq!(older, due <= *now);
                    assert_eq!(cal.newer_than(*x, d, *now).expect("newer"), !older);
                    let by_elapsed = match d {
                        Duration::BusinessDays(n) => e.business_days >= i64::from(n),
                        Duration::BusinessTime(t) => e.business_time >= t,
                        Duration::Calendar(t) => e.calendar >= t,
                    };
                    assert_eq!(
                        by_elapsed,
                        older,
                        "{} {x} + {text} vs now {now}: {e:?}",
                        cal.name()
                    );
                }
            }
        }
    }
}

#[test]
fn calendars_always_hold_br() {
    let mut calendars = Calendars::new();
    assert_eq!(calendars.default_calendar().name(), "br");
    assert_eq!(calendars.names().collect::<Vec<_>>(), ["br"]);
    let sector = Calendar::new(
        "os",
        CalendarSpec {
            corpus_christi: false,
            ..CalendarSpec::br()
        },
    )
    .expect("valid");
    calendars.insert(sector);
    assert_eq!(calendars.names().collect::<Vec<_>>(), ["br", "os"]);
    let corpus = date("2026-06-04");
    assert!(!calendars.default_calendar().is_business_day(corpus));
    assert!(calendars.get("os").is_some_and(|c| c.is_business_day(corpus)));
    assert!(calendars.get("nope").is_none());
}

#[test]
fn a_week_without_hours_is_refused_and_a_calendar_that_never_opens_is_an_error() {
    let spec = CalendarSpec {
        week: Default::default(),
        ..CalendarSpec::br()
    };
    assert_eq!(Calendar::new("x", spec), Err(SpecError::NoHours));
    // Open on Sundays only, and every Sunday for two years is a holiday.
    let sunday = hours(&["08:00-18:00"]);
    let first = date("2026-03-01");
    let closed = Calendar::new(
        "domingos",
        CalendarSpec {
            week: std::array::from_fn(|i| if i == 6 { sunday.clone() } else { Vec::new() }),
            extra_holidays: (0..105)
                .map(|w| (DateRule::On(first + TimeDelta::weeks(w)), "fechado".to_owned()))
                .collect(),
            ..CalendarSpec::br()
        },
    )
    .expect("valid");
    let start = at("2026-03-02T10:00:00-03:00");
    let expected = AddError::NoBusinessDay {
        calendar: "domingos".into(),
        after: date("2026-03-02"),
    };
    assert_eq!(closed.add(start, dur("1bd")), Err(expected.clone()));
    assert_eq!(closed.add(start, dur("1bh")), Err(expected.clone()));
    assert_eq!(
        expected.to_string(),
        "calendar domingos: no business day in the 400 days after 2026-03-02"
    );
    assert!(closed.add(start, dur("7d")).is_ok());
}

/// The table a calendar builds for speed says the same as the rules, for
/// every day it holds, in a zone with DST and with regional days.
#[test]
fn the_day_table_agrees_with_the_rules_every_day() {
    let sp = Calendar::new(
        "sp",
        CalendarSpec {
            extra_holidays: vec![(DateRule::Yearly { month: 1, day: 25 }, "Aniversário".to_owned())],
            half_days: vec![HalfDay {
                when: DateRule::Yearly { month: 12, day: 24 },
                hours: hours(&["08:00-12:00"]),
                name: "Véspera de Natal".to_owned(),
            }],
            ..CalendarSpec::br()
        },
    )
    .expect("valid");
    let ny = Calendar::new(
        "ny",
        CalendarSpec {
            zone: chrono_tz::America::New_York,
            ..CalendarSpec::br()
        },
    )
    .expect("valid");
    for cal in [&sp, &ny, &always_open(chrono_tz::America::Sao_Paulo)] {
        let mut varying = Vec::new();
        let mut day = date("2016-01-01");
        while day <= date("2045-12-31") {
            let (from_table, offset) = cal.day(day);
            let from_rules: Vec<Interval> = cal.computed_hours(day).iter().collect();
            assert_eq!(
                from_table.iter().collect::<Vec<_>>(),
                from_rules,
                "{} {day}",
                cal.name()
            );
            match offset {
                Some(offset) => {
                    for seconds in [0, 8 * 3600, 12 * 3600 + 1800, DAY_SECONDS] {
                        let midnight = day.and_hms_opt(0, 0, 0).expect("time");
                        let local = midnight + TimeDelta::seconds(i64::from(seconds));
                        let resolved = cal.resolve(local);
                        assert_eq!(cal.at(day, seconds, Some(offset)), resolved, "{day} {seconds}");
                        let nanos = i128::from(resolved.timestamp()) * 1_000_000_000;
                        assert_eq!(cal.at_nanos(day, seconds, Some(offset)), nanos, "{day} {seconds}");
                    }
                }
                None => varying.push(day),
            }
            day = day.succ_opt().expect("date");
        }
        let in_2018: Vec<String> = varying
            .iter()
            .filter(|d| d.year() == 2018)
            .map(ToString::to_string)
            .collect();
        let expected: &[&str] = if cal.zone() == chrono_tz::America::New_York {
            &["2018-03-11", "2018-11-04"]
        } else {
            &["2018-02-17", "2018-11-03", "2018-11-04"]
        };
        assert_eq!(in_2018, expected, "{}", cal.name());
    }
}
