//! The `calendar` suite: business-time arithmetic on one core.
//!
//! `Calendar::add` (business days and business hours) and
//! `Calendar::elapsed` on the default `br` calendar, over instants spread
//! through 2026 (Carnaval, Easter and year-end included) and 2018 (DST in
//! São Paulo), single-threaded. Target: at least 1,000,000 operations per
//! second each, so a schedule sweep of 100,000 tickets × 50 rules spends
//! little of its 2 s budget on clocks.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::Context;
use carteiro::calendar::{Calendar, Duration as Lapse};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use super::round;

/// How long each measurement runs.
const RUN_FOR: Duration = Duration::from_secs(2);

/// The target, in operations per second.
const TARGET: f64 = 1_000_000.0;

pub fn calendar_suite() -> anyhow::Result<Value> {
    let br = Calendar::br();
    let starts = instants()?;
    let business_days: Vec<Lapse> = ["1bd", "3bd", "5bd", "10bd"]
        .iter()
        .map(|d| Lapse::parse(d))
        .collect::<Result<_, _>>()?;
    let business_hours: Vec<Lapse> = ["1bh", "9bh", "48bh", "72bh"]
        .iter()
        .map(|d| Lapse::parse(d))
        .collect::<Result<_, _>>()?;
    // Pairs from a few minutes to about three weeks apart.
    let pairs: Vec<(DateTime<Utc>, DateTime<Utc>)> = starts
        .iter()
        .enumerate()
        .map(|(i, &from)| {
            (
                from,
                from + TimeDelta::minutes(((i * 7919) % (21 * 24 * 60)) as i64 + 5),
            )
        })
        .collect();

    let add_bd = measure(|i| {
        let d = business_days[i % business_days.len()];
        br.add(black_box(starts[i % starts.len()]), black_box(d))
            .map(|t| t.timestamp())
            .unwrap_or_default()
    });
    let add_bh = measure(|i| {
        let d = business_hours[i % business_hours.len()];
        br.add(black_box(starts[i % starts.len()]), black_box(d))
            .map(|t| t.timestamp())
            .unwrap_or_default()
    });
    let elapsed = measure(|i| {
        let (from, to) = pairs[i % pairs.len()];
        br.elapsed(black_box(from), black_box(to))
            .business_time
            .num_seconds()
    });
    // The check itself: one business-time `older_than`, as a schedule
    // sweep evaluates it.
    let now = starts[starts.len() / 2];
    let older_than = measure(|i| {
        let d = business_hours[i % business_hours.len()];
        i64::from(
            br.older_than(black_box(starts[i % starts.len()]), d, now)
                .unwrap_or_default(),
        )
    });
    Ok(json!({
        "instants": starts.len(),
        "add_bd_ops_per_s": add_bd,
        "add_bh_ops_per_s": add_bh,
        "elapsed_ops_per_s": elapsed,
        "older_than_bh_ops_per_s": older_than,
        "ops_per_s_target": TARGET,
        "threads": 1,
    }))
}

/// Instants every 53 minutes through 2026, and through São Paulo's 2018
/// DST changes.
fn instants() -> anyhow::Result<Vec<DateTime<Utc>>> {
    let mut all = Vec::new();
    for (from, to) in [
        ("2026-01-01T00:00:00-03:00", "2027-01-01T00:00:00-03:00"),
        ("2018-02-01T00:00:00-02:00", "2018-03-01T00:00:00-03:00"),
        ("2018-10-20T00:00:00-03:00", "2018-11-20T00:00:00-02:00"),
    ] {
        let mut t = DateTime::parse_from_rfc3339(from)
            .with_context(|| format!("parse {from}"))?
            .with_timezone(&Utc);
        let end = DateTime::parse_from_rfc3339(to)
            .with_context(|| format!("parse {to}"))?
            .with_timezone(&Utc);
        while t < end {
            all.push(t);
            t += TimeDelta::minutes(53);
        }
    }
    Ok(all)
}

/// Operations per second of `op` on this thread, over [`RUN_FOR`].
fn measure(mut op: impl FnMut(usize) -> i64) -> f64 {
    // Warm up the caches and the branch predictor.
    let mut sink = 0i64;
    for i in 0..10_000 {
        sink = sink.wrapping_add(op(i));
    }
    let start = Instant::now();
    let mut count = 0usize;
    while start.elapsed() < RUN_FOR {
        for _ in 0..1_000 {
            sink = sink.wrapping_add(op(count));
            count += 1;
        }
    }
    black_box(sink);
    round(count as f64 / start.elapsed().as_secs_f64())
}
