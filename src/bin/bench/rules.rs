//! The `rules` suite: loading rules, and planning a schedule sweep.
//!
//! - Load + check of 1,000 rules in 10 files, with regexes, business
//!   durations, templates and the loop guard (target < 200 ms; the median
//!   of 5 loads; files are checked on every core).
//! - Planning one schedule tick of 50 rules over 100,000 tickets, on one
//!   core, as the daemon's serial consumer does (target < 2 s), and the
//!   peak RSS while doing it. About one ticket in twenty matches a rule.
//!   The tickets are in memory: reading them from the store's snapshots
//!   is measured apart.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use carteiro::calendar::Calendars;
use carteiro::clock::FixedClock;
use carteiro::helpdesk::Ticket;
use carteiro::helpdesk::clocks::TicketClocks;
use carteiro::rules::engine::{Context, Event, EventKind, Planner, TicketFacts};
use carteiro::rules::{Directory, load_dir};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use super::outbox::{peak_rss_mib, reset_peak_rss};
use super::round;

const LOAD_RULES: usize = 1_000;
const SWEEP_TICKETS: usize = 100_000;
const SWEEP_RULES: usize = 50;

pub fn rules_suite() -> anyhow::Result<Value> {
    let dir = std::env::temp_dir().join(format!("carteiro-bench-rules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write_rules(&dir, LOAD_RULES, false)?;
    let calendars = Calendars::new();
    let mut loads = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let set = load_dir(&dir, &calendars).map_err(|p| anyhow::anyhow!("rules do not load: {}", p[0]))?;
        loads.push(start.elapsed());
        anyhow::ensure!(set.rules.len() == LOAD_RULES, "loaded {} rules", set.rules.len());
    }
    loads.sort();
    let load = loads[loads.len() / 2];

    let sweep_dir = dir.join("sweep");
    write_rules(&sweep_dir, SWEEP_RULES, true)?;
    let set =
        load_dir(&sweep_dir, &calendars).map_err(|p| anyhow::anyhow!("sweep rules do not load: {}", p[0]))?;
    let directory: Directory = serde_json::from_value(json!({
        "custom_statuses": [
            { "id": 1, "status_category": "pending", "agent_label": "Pendente", "active": true, "default": true },
            { "id": 2, "status_category": "pending", "agent_label": "Validação Cliente", "active": true, "default": false },
            { "id": 3, "status_category": "open", "agent_label": "Aberto", "active": true, "default": true },
        ],
        "groups": [ { "id": 10, "name": "Suporte" } ],
    }))?;
    let now: DateTime<Utc> = "2026-03-04T13:00:00Z".parse()?;
    reset_peak_rss();
    let tickets = tickets(now)?;
    let due: std::collections::BTreeSet<String> = set.rules.iter().map(|r| r.name.clone()).collect();
    let event = Event::new(EventKind::Schedule(due));
    let context = Context {
        rules: &set,
        directory: &directory,
        calendars: &calendars,
        fired_once: &|_, _| false,
        max_cascade: 3,
    };
    let clock = FixedClock::at(now);
    let start = Instant::now();
    // As the daemon's sweep does: the per-event work once, then each ticket.
    let planner = Planner::new(&event, &context);
    let mut steps = 0usize;
    let mut planned = 0usize;
    for facts in &tickets {
        let plan = planner.plan(black_box(facts), &clock, None);
        steps += plan.steps.len();
        planned += usize::from(!plan.steps.is_empty());
    }
    let sweep = start.elapsed();
    let peak = peak_rss_mib();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "load_check_rules": LOAD_RULES,
        "load_check_ms": ms(load),
        "load_check_target_ms": 200,
        "sweep_tickets": SWEEP_TICKETS,
        "sweep_rules": SWEEP_RULES,
        "sweep_plan_seconds": round(sweep.as_secs_f64()),
        "sweep_target_seconds": 2,
        "sweep_tickets_with_a_plan": planned,
        "sweep_steps": steps,
        "sweep_peak_rss_mib": peak,
        "note": "load: files checked on every core (2 here), median of 5; sweep: one core, the 100,000 tickets in memory (their RSS counts in the peak)",
    }))
}

fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0)
}

/// Writes `n` rules over 10 files, with templates. `schedule` makes them
/// all schedule rules (for the sweep), else a mix of events.
fn write_rules(dir: &Path, n: usize, schedule: bool) -> anyhow::Result<()> {
    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates).with_context(|| format!("create {}", templates.display()))?;
    std::fs::write(
        templates.join("lembrete.txt.j2"),
        "Olá, {{ requester.name }}.\n\nO chamado #{{ ticket.id }} aguarda a sua resposta desde {{ ticket.created_at | data_extenso }}.\n",
    )?;
    std::fs::write(
        templates.join("nota.txt.j2"),
        "Nota automática do chamado #{{ ticket.id }}.\n",
    )?;
    let files = 10;
    for f in 0..files {
        let mut text = String::from("version = 1\ntimezone = \"America/Sao_Paulo\"\ncalendar = \"br\"\n");
        for i in (f..n).step_by(files) {
            text.push_str(&rule(i, schedule));
        }
        let path: PathBuf = dir.join(format!("{f:02}-regras.toml"));
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

fn rule(i: usize, schedule: bool) -> String {
    let tag = format!("regra_{i}");
    match (schedule, i % 4) {
        (true, 0) | (false, 0) => format!(
            r#"
[[rule]]
name = "pendente-{i}"
on = ["schedule"]
cron = "0 */10 * * * *"
all = [
  {{ field = "ticket.custom_status", op = "is", value = "Pendente" }},
  {{ field = "ticket.clock.custom_status_changed_at", op = "older_than", value = "{d}bd" }},
  {{ field = "ticket.tags", op = "contains", value = "fila_{q}" }},
]
actions = [ {{ set_custom_status = "Validação Cliente" }}, {{ internal_note = "nota" }} ]
"#,
            d = 3 + i % 5,
            q = i % 100,
        ),
        (true, 1) | (false, 1) => format!(
            r#"
[[rule]]
name = "lembrete-{i}"
on = ["schedule"]
cron = "0 0 9 * * Mon-Fri"
all = [
  {{ field = "ticket.status", op = "is", value = "pending" }},
  {{ field = "ticket.clock.last_agent_public_comment_at", op = "older_than", value = "{h}bh" }},
  {{ field = "ticket.subject", op = "matches", value = "(?i)pedido\\s+{i}\\b" }},
]
not = [ {{ field = "ticket.tags", op = "contains", value = "{tag}" }} ]
actions = [ {{ public_reply = "lembrete" }}, {{ add_tags = ["{tag}"] }} ]
"#,
            h = 24 + i % 48,
        ),
        (true, _) => format!(
            r#"
[[rule]]
name = "validacao-{i}"
on = ["schedule"]
cron = "0 */10 * * * *"
all = [
  {{ field = "ticket.custom_status", op = "is", value = "Validação Cliente" }},
  {{ field = "ticket.clock.custom_status_changed_at", op = "older_than", value = "{d}d" }},
  {{ any = [ {{ field = "ticket.group", op = "is", value = "Suporte" }}, {{ field = "ticket.tags", op = "contains", value = "prioridade_{i}" }} ] }},
]
actions = [ {{ set_status = "closed" }} ]
"#,
            d = 5 + i % 3,
        ),
        (false, 2) => format!(
            r#"
[[rule]]
name = "grupo-{i}"
on = ["ticket.updated"]
all = [
  {{ field = "ticket.group", op = "changed_to", value = "Grupo {i}" }},
  {{ field = "ticket.fields.CNPJ", op = "cnpj_valid" }},
]
actions = [ {{ set_status = "open", commit = true }}, {{ set_status = "hold" }}, {{ add_tags = ["{tag}"] }} ]
"#
        ),
        (false, _) => format!(
            r#"
[[rule]]
name = "resposta-{i}"
on = ["mail.received"]
all = [
  {{ field = "mail.kind", op = "in", value = ["new", "reply"] }},
  {{ field = "mail.body", op = "matches", value = "(?i)\\bnota\\s*[1-5]\\b" }},
]
actions = [ {{ set_field = {{ field = "Nota", value = "{i}" }} }}, {{ internal_note = "nota" }} ]
"#
        ),
    }
}

/// 100,000 open tickets: most pending or in validation, their clocks
/// spread over the last three weeks, each in one of 100 queues.
fn tickets(now: DateTime<Utc>) -> anyhow::Result<Vec<TicketFacts>> {
    let base: Ticket = serde_json::from_value(json!({
        "id": 1, "created_at": "2026-02-01T12:00:00Z", "updated_at": "2026-02-01T12:00:00Z",
        "status": "pending", "subject": "Pedido de peças", "group_id": 10, "requester_id": 5,
    }))?;
    let mut out = Vec::with_capacity(SWEEP_TICKETS);
    for i in 0..SWEEP_TICKETS {
        let mut ticket = base.clone();
        ticket.id = i as u64 + 1;
        ticket.subject = Some(format!("Pedido {} de peças", i % 500));
        let (status, custom) = match i % 10 {
            0..=5 => (carteiro::helpdesk::Status::Pending, 1),
            6..=8 => (carteiro::helpdesk::Status::Pending, 2),
            _ => (carteiro::helpdesk::Status::Open, 3),
        };
        ticket.status = status;
        ticket.custom_status_id = Some(custom);
        ticket.tags = vec![format!("fila_{}", i % 100), "cliente".to_owned()];
        // One ticket in ten is in the group the validation rules watch.
        ticket.group_id = Some(if i % 10 == 3 { 10 } else { 11 });
        let ago = TimeDelta::minutes(((i * 7919) % (21 * 24 * 60)) as i64);
        let clocks = TicketClocks {
            status_changed_at: Some(now - ago),
            custom_status_changed_at: Some(now - ago),
            last_agent_public_comment_at: Some(now - ago - TimeDelta::hours(1)),
            last_requester_comment_at: Some(now - ago - TimeDelta::hours(2)),
            ..TicketClocks::default()
        };
        out.push(TicketFacts {
            ticket,
            clocks,
            requester: None,
        });
    }
    Ok(out)
}
