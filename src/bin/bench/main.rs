//! carteiro's benchmark harness: `cargo run --release --locked --bin bench`.
//!
//! Performance is measured here, never in timed tests. Each suite writes its
//! figures, with the machine they came from, into `bench-results/figures.json`
//! (one section per suite, so suites can be rerun one at a time), and prints
//! them as a table. The README quotes the latest figures.
//!
//! Suites:
//! - `zendesk`: the client against the in-process simulator over loopback
//!   HTTP: Zendesk calls per ticket mutation (target ≤ 1.05), export pages
//!   per sweep (target ⌈N/1000⌉), bulk calls, and throughput.
//! - `ingest`: mail from a real Dovecot into the simulator against `mbsync`
//!   on the same mailbox in the same run (target ≥ 0.5× its rate), Zendesk
//!   calls per mail, and SMTP-to-ticket latency with IDLE (see `ingest.rs`).
//! - `outbox`: the delivery worker sending composed mail to a real local
//!   Postfix, in mails/s, and peak RSS (see `outbox.rs`).
//! - `calendar`: business-time `add` and `elapsed` on one core (target
//!   ≥ 1,000,000 ops/s each; see `calendar.rs`).
//! - `rules`: load + check of 1,000 rules (target < 200 ms), and planning a
//!   schedule sweep of 100,000 tickets × 50 rules (target < 2 s) with its
//!   peak RSS (see `rules.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use carteiro::helpdesk::sim::{self, SimOptions};
use carteiro::helpdesk::zendesk::{Auth, ClientSettings, ZendeskClient};
use carteiro::helpdesk::*;
use carteiro::secret::Secret;
use serde_json::{Value, json};

mod calendar;
mod ingest;
mod outbox;
mod rules;

const USAGE: &str = "usage: bench [zendesk] [ingest] [outbox] [calendar] [rules] [--tickets N] [--mails N] [--outbox-mails N] [--latency-samples N] [--out FILE]";

#[derive(Debug)]
struct Args {
    suites: Vec<String>,
    tickets: usize,
    mails: usize,
    latency_samples: usize,
    outbox_mails: usize,
    out: PathBuf,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        suites: Vec::new(),
        tickets: 2_000,
        mails: 5_000,
        latency_samples: 100,
        outbox_mails: 2_000,
        out: PathBuf::from("bench-results/figures.json"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--tickets" => {
                let value = it.next().context("--tickets needs a number")?;
                args.tickets = value
                    .parse()
                    .with_context(|| format!("--tickets {value}: not a number"))?;
            }
            "--mails" => {
                let value = it.next().context("--mails needs a number")?;
                args.mails = value
                    .parse()
                    .with_context(|| format!("--mails {value}: not a number"))?;
            }
            "--latency-samples" => {
                let value = it.next().context("--latency-samples needs a number")?;
                args.latency_samples = value
                    .parse()
                    .with_context(|| format!("--latency-samples {value}: not a number"))?;
            }
            "--outbox-mails" => {
                let value = it.next().context("--outbox-mails needs a number")?;
                args.outbox_mails = value
                    .parse()
                    .with_context(|| format!("--outbox-mails {value}: not a number"))?;
            }
            "--out" => args.out = PathBuf::from(it.next().context("--out needs a path")?),
            "zendesk" | "ingest" | "outbox" | "calendar" | "rules" => args.suites.push(arg),
            "-h" | "--help" => bail!("{USAGE}"),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if args.suites.is_empty() {
        args.suites = vec![
            "zendesk".to_owned(),
            "ingest".to_owned(),
            "outbox".to_owned(),
            "calendar".to_owned(),
            "rules".to_owned(),
        ];
    }
    Ok(args)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(&format!("bench: {err:#}"));
            ExitCode::FAILURE
        }
    }
}

#[expect(clippy::print_stderr, reason = "the harness reports on the terminal")]
fn report(line: &str) {
    eprintln!("{line}");
}

fn run() -> anyhow::Result<()> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    let mut figures = read_figures(&args.out)?;
    for suite in &args.suites {
        let mut section = match suite.as_str() {
            "zendesk" => runtime.block_on(zendesk_suite(args.tickets))?,
            "ingest" => runtime.block_on(ingest::ingest_suite(args.mails, args.latency_samples))?,
            "outbox" => runtime.block_on(outbox::outbox_suite(args.outbox_mails))?,
            "calendar" => calendar::calendar_suite()?,
            "rules" => rules::rules_suite()?,
            other => bail!("unknown suite {other}"),
        };
        // Each suite records its own machine: suites may be rerun apart.
        section["machine"] = machine();
        for (name, value) in section
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "machine")
        {
            report(&format!("{suite:>8}  {name:<40} {value}"));
        }
        figures.insert(suite.clone(), section);
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&figures)? + "\n";
    std::fs::write(&args.out, text).with_context(|| format!("write {}", args.out.display()))?;
    report(&format!("figures written to {}", args.out.display()));
    Ok(())
}

fn read_figures(path: &PathBuf) -> anyhow::Result<BTreeMap<String, Value>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON", path.display()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(err) => Err(err).with_context(|| format!("read {}", path.display())),
    }
}

/// What the figures were measured on.
fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(0);
    let memory_gib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|info| {
        let kib: f64 = info
            .lines()
            .find(|l| l.starts_with("MemTotal:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(round(kib / 1024.0 / 1024.0))
    });
    json!({
        "cpu": cpu,
        "cores": cores,
        "memory_gib": memory_gib,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "measured_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "carteiro": env!("CARGO_PKG_VERSION"),
    })
}

fn client(base: url::Url, page_size: Option<u32>) -> anyhow::Result<ZendeskClient> {
    let auth = Auth::ApiToken {
        email: "bench@carteiro.example".to_owned(),
        token: Secret::new("bench"),
    };
    let mut builder =
        ZendeskClient::builder(ClientSettings::new(base, auth)).job_poll_interval(Duration::from_millis(5));
    if let Some(size) = page_size {
        builder = builder.export_page_size(size);
    }
    Ok(builder.build()?)
}

fn calls_since(client: &ZendeskClient, before: u64) -> u64 {
    client.total_requests() - before
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    round(count as f64 / elapsed.as_secs_f64())
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

async fn zendesk_suite(n: usize) -> anyhow::Result<Value> {
    let handle = sim::spawn(SimOptions {
        relax_export_start: true,
        ..SimOptions::default()
    })
    .await
    .context("start the simulator")?;
    let client = Arc::new(client(handle.base_url.clone(), None)?);

    // Creates: one POST each, requester, comment, tags and fields inline,
    // eight at a time as an ingest loop with a few mailboxes would.
    let start = Instant::now();
    let before = client.total_requests();
    let mut tasks = tokio::task::JoinSet::new();
    let created = Arc::new(tokio::sync::Mutex::new(Vec::with_capacity(n)));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..8 {
        let (client, created, next) = (client.clone(), created.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return Ok::<(), HelpDeskError>(());
                }
                let ticket = client.create_ticket(&new_ticket(i)).await?;
                created.lock().await.push(ticket);
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.context("a create task panicked")??;
    }
    let create_elapsed = start.elapsed();
    let create_calls = calls_since(&client, before);
    let tickets = Arc::try_unwrap(created)
        .map_err(|_| anyhow::anyhow!("create tasks still hold the list"))?
        .into_inner();

    // Updates: one safe_update PUT each (status, tag and internal note).
    let start = Instant::now();
    let before = client.total_requests();
    for ticket in &tickets {
        let update = TicketUpdate {
            status: Some(Status::Open),
            additional_tags: Some(vec!["bench".to_owned()]),
            comment: Some(NewComment::internal("Encaminhado ao setor.")),
            ..TicketUpdate::default()
        };
        client
            .update_ticket(ticket.id, &update, ticket.updated_at)
            .await?;
    }
    let update_elapsed = start.elapsed();
    let update_calls = calls_since(&client, before);

    // Bulk: one tag on every ticket through update_many.
    let start = Instant::now();
    let before = client.total_requests();
    let bulk: Vec<TicketUpdate> = tickets
        .iter()
        .map(|t| TicketUpdate {
            id: Some(t.id),
            additional_tags: Some(vec!["lote".to_owned()]),
            ..TicketUpdate::default()
        })
        .collect();
    client.update_tickets(&bulk).await?;
    let bulk_elapsed = start.elapsed();
    let bulk_calls = calls_since(&client, before);

    // Sweep: every ticket changed, read back through the cursor export at
    // Zendesk's page size.
    let exporter = self::client(handle.base_url.clone(), Some(1000))?;
    let start = Instant::now();
    let (swept, _) = export_changes(&exporter, ExportStart::Time(chrono::DateTime::UNIX_EPOCH)).await?;
    let sweep_elapsed = start.elapsed();
    let pages = exporter.total_requests();
    if swept.len() != n {
        bail!("the sweep saw {} tickets, {n} were created", swept.len());
    }

    let mutations = (2 * n) as f64;
    Ok(json!({
        "tickets": n,
        "creates_per_s": per_second(n, create_elapsed),
        "calls_per_create": round(create_calls as f64 / n as f64),
        "updates_per_s": per_second(n, update_elapsed),
        "calls_per_update": round(update_calls as f64 / n as f64),
        "calls_per_mutation": round((create_calls + update_calls) as f64 / mutations),
        "calls_per_mutation_target": 1.05,
        "bulk_update_calls": bulk_calls,
        "bulk_update_jobs": n.div_ceil(100),
        "bulk_tickets_per_s": per_second(n, bulk_elapsed),
        "export_pages": pages,
        "export_pages_target": n.div_ceil(1000),
        "export_tickets_per_s": per_second(n, sweep_elapsed),
    }))
}

fn new_ticket(i: usize) -> NewTicket {
    NewTicket {
        subject: Some(format!("Impressora fiscal não imprime ({i})")),
        comment: NewComment::public("Bom dia, a impressora parou de imprimir o cupom fiscal desde ontem."),
        requester: Some(RequesterSpec {
            email: format!("cliente{}@empresa{}.com.br", i % 500, i % 37),
            name: Some(format!("Cliente {i}")),
            locale_id: None,
        }),
        tags: vec!["email".to_owned(), "impressora".to_owned()],
        external_id: Some(format!("carteiro:bench:{i}")),
        ..NewTicket::default()
    }
}
