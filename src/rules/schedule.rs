//! When schedule rules are due.
//!
//! Each schedule rule has a cron expression read in its file's time zone.
//! The daemon remembers, per rule, the last tick it ran. A rule is due when
//! a tick of its cron falls after that and at or before now. However many
//! ticks were missed (the daemon was stopped for three days), the rule
//! runs **once**, for the latest of them: a sweep asks "which tickets are
//! in this state now", so running it ten times in a row would do nothing
//! more, and a reply rule must not send ten reminders.
//!
//! A rule seen for the first time starts counting from now: a new rule
//! does not fire at once for a tick that passed before it existed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::load::RuleSet;
use super::model::Trigger;

/// A rule that is due, and the tick it runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRule {
    pub rule: String,
    /// The latest tick at or before now; store it as the rule's last run.
    pub tick: DateTime<Utc>,
    /// How many ticks passed since the last run (1 in normal operation).
    pub missed: usize,
}

/// The latest tick of `schedule` in `(after, now]`, and how many ticks
/// that interval holds. After a stop of over a month only the last day is
/// walked (the count is then a floor): the exact number only goes to the
/// log.
fn latest_tick(
    schedule: &cron::Schedule,
    zone: chrono_tz::Tz,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, usize)> {
    let from = after.max(now - chrono::TimeDelta::days(31));
    let mut latest = None;
    let mut count = 0;
    for tick in schedule.after(&from.with_timezone(&zone)) {
        let tick = tick.with_timezone(&Utc);
        if tick > now {
            break;
        }
        latest = Some(tick);
        count += 1;
    }
    latest.map(|t| (t, count))
}

/// The schedule rules due at `now`, given when each last ran. Rules with no
/// entry in `last_run` are returned in `new_rules` to be recorded as
/// starting now.
pub fn due_rules(
    rules: &RuleSet,
    last_run: &HashMap<String, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (Vec<DueRule>, Vec<String>) {
    let mut due = Vec::new();
    let mut new_rules = Vec::new();
    for rule in &rules.rules {
        if !rule.runs_on(Trigger::Schedule) {
            continue;
        }
        let Some(schedule) = &rule.cron else {
            continue;
        };
        let Some(&last) = last_run.get(&rule.name) else {
            new_rules.push(rule.name.clone());
            continue;
        };
        if let Some((tick, missed)) = latest_tick(schedule, rule.timezone, last, now) {
            due.push(DueRule {
                rule: rule.name.clone(),
                tick,
                missed,
            });
        }
    }
    (due, new_rules)
}

/// The next instant any schedule rule ticks after `now`, so the daemon
/// can sleep until then.
pub fn next_tick(rules: &RuleSet, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    rules
        .rules
        .iter()
        .filter(|r| r.runs_on(Trigger::Schedule))
        .filter_map(|r| {
            let schedule = r.cron.as_ref()?;
            schedule
                .after(&now.with_timezone(&r.timezone))
                .next()
                .map(|t| t.with_timezone(&Utc))
        })
        .min()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::calendar::Calendars;
    use crate::template::{TemplateOptions, Templates};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("instant")
            .with_timezone(&Utc)
    }

    fn rules() -> RuleSet {
        let source = r#"
version = 1
timezone = "America/Sao_Paulo"

[[rule]]
name = "diaria"
on = ["schedule"]
cron = "0 0 9 * * *"
once = "per_ticket"
actions = [ { add_tags = ["a"] } ]

[[rule]]
name = "dez-minutos"
on = ["schedule"]
cron = "0 */10 * * * *"
once = "per_ticket"
actions = [ { add_tags = ["b"] } ]

[[rule]]
name = "evento"
on = ["ticket.updated"]
actions = [ { add_tags = ["c"] } ]
"#;
        let templates = Templates::from_sources(Path::new("t"), Vec::new(), &TemplateOptions::default())
            .expect("templates");
        crate::rules::load_sources(
            Path::new("."),
            &[(PathBuf::from("r.toml"), source.to_owned())],
            templates,
            &Calendars::new(),
        )
        .expect("rules load")
    }

    #[test]
    fn a_new_rule_starts_counting_from_now() {
        let (due, new_rules) = due_rules(&rules(), &HashMap::new(), at("2026-03-02T12:00:00Z"));
        assert!(due.is_empty());
        assert_eq!(new_rules, vec!["diaria".to_owned(), "dez-minutos".to_owned()]);
    }

    #[test]
    fn cron_reads_in_the_rules_zone() {
        // 09:00 in São Paulo is 12:00 UTC.
        let last = HashMap::from([
            ("diaria".to_owned(), at("2026-03-02T11:00:00Z")),
            ("dez-minutos".to_owned(), at("2026-03-02T11:45:00Z")),
        ]);
        let (due, _) = due_rules(&rules(), &last, at("2026-03-02T11:59:59Z"));
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(due[0].rule, "dez-minutos");
        let (due, _) = due_rules(&rules(), &last, at("2026-03-02T12:00:00Z"));
        let names: Vec<&str> = due.iter().map(|d| d.rule.as_str()).collect();
        assert_eq!(names, vec!["diaria", "dez-minutos"]);
        assert_eq!(due[0].tick, at("2026-03-02T12:00:00Z"));
    }

    #[test]
    fn after_three_days_down_each_rule_runs_once_for_the_latest_tick() {
        let last = HashMap::from([
            ("diaria".to_owned(), at("2026-03-02T12:00:00Z")),
            ("dez-minutos".to_owned(), at("2026-03-02T12:00:00Z")),
        ]);
        let now = at("2026-03-05T12:05:00Z");
        let (due, _) = due_rules(&rules(), &last, now);
        assert_eq!(due.len(), 2);
        assert_eq!(due[0].rule, "diaria");
        assert_eq!(due[0].tick, at("2026-03-05T12:00:00Z"));
        assert_eq!(due[0].missed, 3);
        assert_eq!(due[1].tick, at("2026-03-05T12:00:00Z"));
        assert_eq!(due[1].missed, 3 * 24 * 6);
    }

    #[test]
    fn next_tick_is_the_soonest_of_all_rules() {
        assert_eq!(
            next_tick(&rules(), at("2026-03-02T11:51:00Z")),
            Some(at("2026-03-02T12:00:00Z"))
        );
    }
}
