//! `kurier bench`: the end-to-end benchmark. It runs the real system on this
//! machine — `kurier serve` (this same binary) connected over loopback SMPP
//! to `kurier smsc-sim`, which returns a delivery receipt for every message —
//! pushes N messages in through the HTTP API, and reports what it measured.
//!
//! Phases, each on fresh processes and a fresh database:
//! - `single`: one recipient per request, many concurrent keep-alive clients;
//! - `batch`: 1,000 recipients per request;
//! - `campaign`: one campaign to a group of N contacts, rendered per contact
//!   (`campaign.rs`): how soon it starts sending, fan-out speed, memory;
//! - `bare`: no Kurier at all — a minimal SMPP client pumping submit_sm to
//!   the simulator and taking its receipts: the physical limit of the wire
//!   and the simulator on this machine, which Kurier is compared with;
//! - `search` (not in the default set): history search on a database filled
//!   with `--search-messages` messages, timed per kind of query (`search.rs`).
//!
//! Nothing here is used by `serve`; it only drives it from outside.

mod bare;
mod campaign;
mod load;
mod procstat;
mod search;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use crate::storage::Store;

/// Flags of `kurier bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Messages per phase.
    #[arg(long, default_value_t = 100_000)]
    pub messages: usize,
    /// Database of the benchmarked Kurier: a PostgreSQL URL (its database
    /// is emptied first), or none for a fresh SQLite file.
    #[arg(long)]
    pub database: Option<String>,
    /// SQLite durability for the run (`full` is the default of `serve`).
    #[arg(long, default_value = "full")]
    pub sqlite_synchronous: String,
    /// Concurrent HTTP connections in the single-recipient phase.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Single-recipient requests per second, sent on a fixed schedule
    /// whatever the answers (open loop), with latency counted from when
    /// each was due. Without it, each connection sends again as soon as it
    /// is answered (closed loop: the latency then follows the concurrency).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Phases to run, comma-separated: single, batch, bare, campaign, search.
    #[arg(long, default_value = "single,batch,bare", value_delimiter = ',')]
    pub phases: Vec<String>,
    /// SMPP window per session of Kurier's connector (and of the bare client).
    #[arg(long, default_value_t = 200)]
    pub window: usize,
    /// SMPP sessions of Kurier's connector. Each carries its own window of
    /// submissions and the simulator's window of receipts.
    #[arg(long, default_value_t = 2)]
    pub binds: usize,
    /// The simulator's window of receipts per session (deliver_sm
    /// unanswered at once; `kurier smsc-sim --deliver-window`).
    #[arg(long, default_value_t = crate::smsc_sim::DELIVER_WINDOW)]
    pub deliver_window: usize,
    /// Messages in the archive of the `search` phase.
    #[arg(long, default_value_t = 1_000_000)]
    pub search_messages: usize,
    /// Runs of the whole list of phases, one after the other; a summary
    /// gives each phase's median and range over the runs (one run varies
    /// by several percent on a shared machine).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What one phase measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PhaseResult {
    pub phase: String,
    pub messages: usize,
    /// Messages answered 202 per second (HTTP), first request to last answer.
    pub accepted_per_sec: f64,
    /// submit_sm received per second at the simulator.
    pub submitted_per_sec: f64,
    /// Messages delivered and stored per second, from the first request.
    pub completed_per_sec: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub peak_rss_mb: Option<f64>,
    /// Campaign phase: from the request until its first messages were queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_queued_ms: Option<f64>,
    /// CPU seconds of `kurier serve` per 1,000 messages.
    pub serve_cpu_per_1000: Option<f64>,
    /// The simulator's share of all CPU time used by the processes measured.
    pub sim_cpu_share: f64,
    pub seconds: f64,
    /// Write transactions of `serve`'s hot paths, by kind (from its
    /// `kurier_store_write_seconds` metric).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<WriteShare>,
}

/// One phase over all runs of `--repeat`.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseSummary {
    pub phase: String,
    pub runs: usize,
    pub accepted_per_sec: Spread,
    pub submitted_per_sec: Spread,
    pub completed_per_sec: Spread,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_p99_ms: Option<Spread>,
    /// The highest peak RSS of the runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_mb: Option<f64>,
}

/// The median and range of one figure over several runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// `None` for no values; the median of an even count is the mean of
    /// the middle two.
    fn of(mut values: Vec<f64>) -> Option<Self> {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let (min, max) = (*values.first()?, *values.last()?);
        let median = if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
        Some(Self { median, min, max })
    }
}

/// Each phase's runs summarised, phases in the order they first ran.
fn summarise(results: &[PhaseResult]) -> Vec<PhaseSummary> {
    let mut phases: Vec<&str> = Vec::new();
    for r in results {
        if !phases.contains(&r.phase.as_str()) {
            phases.push(&r.phase);
        }
    }
    phases
        .into_iter()
        .filter_map(|phase| {
            let runs: Vec<&PhaseResult> = results.iter().filter(|r| r.phase == phase).collect();
            let spread = |f: fn(&PhaseResult) -> f64| Spread::of(runs.iter().map(|r| f(r)).collect());
            Some(PhaseSummary {
                phase: phase.to_owned(),
                runs: runs.len(),
                accepted_per_sec: spread(|r| r.accepted_per_sec)?,
                submitted_per_sec: spread(|r| r.submitted_per_sec)?,
                completed_per_sec: spread(|r| r.completed_per_sec)?,
                latency_p99_ms: Spread::of(runs.iter().filter_map(|r| r.latency_p99_ms).collect()),
                peak_rss_mb: runs.iter().filter_map(|r| r.peak_rss_mb).reduce(f64::max),
            })
        })
        .collect()
}

/// How much of a phase one kind of write transaction took.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WriteShare {
    pub kind: String,
    pub transactions: u64,
    /// Mean time from a transaction's start to its commit.
    pub mean_ms: f64,
    /// Their summed time as a share of the phase's wall time.
    pub busy_share: f64,
}

/// Reads the write-transaction metric of `serve` at `base`.
async fn write_shares(base: &str, seconds: f64) -> anyhow::Result<Vec<WriteShare>> {
    let text = reqwest::get(format!("{base}/metrics")).await?.text().await?;
    let mut shares: Vec<WriteShare> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("kurier_store_write_seconds_") else { continue };
        let (field, rest) = rest.split_once("{kind=\"").unwrap_or(("", ""));
        let Some((kind, value)) = rest.split_once("\"}") else { continue };
        let value: f64 = value.trim().parse().unwrap_or(0.0);
        let share = match shares.iter_mut().find(|s| s.kind == kind) {
            Some(s) => s,
            None => {
                shares.push(WriteShare { kind: kind.to_owned(), ..WriteShare::default() });
                shares.last_mut().expect("just pushed")
            }
        };
        match field {
            "count" => share.transactions = value as u64,
            "sum" => share.busy_share = value / seconds.max(f64::EPSILON),
            _ => {}
        }
    }
    for s in &mut shares {
        s.mean_ms = s.busy_share * seconds * 1000.0 / (s.transactions.max(1) as f64);
    }
    shares.sort_by(|a, b| a.kind.cmp(&b.kind));
    Ok(shares)
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the kurier binary")?;
    if cfg!(debug_assertions) && !args.json {
        eprintln!("note: this is a debug build; quote figures only from `cargo build --release`");
    }
    let mut results = Vec::new();
    let mut searches = Vec::new();
    for phase in (0..args.repeat).flat_map(|_| &args.phases) {
        let result = match phase.as_str() {
            "single" | "batch" => run_kurier_phase(&exe, &args, phase == "batch").await?,
            "bare" => bare::run(&exe, &args).await?,
            "search" => {
                let report = search::run(&args).await?;
                if !args.json {
                    search::print(&report);
                }
                searches.push(report);
                continue;
            }
            "campaign" => campaign::run(&exe, &args).await?,
            other => {
                anyhow::bail!("unknown phase '{other}' (expected single, batch, bare, campaign or search)")
            }
        };
        if !args.json {
            eprintln!("{}", describe(&result));
        }
        results.push(result);
    }
    let summary = summarise(&results);
    if args.json {
        let report = serde_json::json!({"phases": results, "summary": summary, "search": searches});
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !results.is_empty() {
        print_table(&results);
        if args.repeat > 1 {
            print_summary(&summary);
        }
    }
    Ok(())
}

/// Starts `command` and reads its standard output until it has printed a
/// line beginning with each of `labels` (`spawned::said`); returns the
/// process and, for each label, the address that follows it as printed
/// (`http://127.0.0.1:8080`).
fn spawn_listening(mut command: Command, labels: &[&str]) -> anyhow::Result<(Proc, Vec<String>)> {
    let mut child = command.stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().context("no standard output")?;
    let process = Proc(child);
    let said = crate::spawned::said(stdout, labels)?;
    Ok((process, said.words))
}

fn port_of(addr: &str) -> anyhow::Result<u16> {
    crate::spawned::port_of(addr).with_context(|| format!("no port in {addr}"))
}

/// A child process that is killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `kurier smsc-sim`; returns it with its SMPP and HTTP addresses.
async fn start_sim(exe: &Path, dir: &Path, args: &BenchArgs) -> anyhow::Result<(Proc, u16, String)> {
    let log = std::fs::File::create(dir.join("smsc-sim.log"))?;
    let mut command = Command::new(exe);
    command
        .args(["smsc-sim", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(["--receipt-delay-ms", "0", "--deliver-window", &args.deliver_window.to_string()])
        // Room for every receipt of the run: a backlog must not be dropped.
        .args(["--max-pending", &args.messages.max(crate::smsc_sim::MAX_PENDING_DELIVERIES).to_string()])
        .stderr(log);
    let (sim, addrs) = spawn_listening(command, &["SMSC simulator:", "Control API:"]).with_context(|| {
        format!("starting kurier smsc-sim (its log: {})", dir.join("smsc-sim.log").display())
    })?;
    Ok((sim, port_of(&addrs[0])?, addrs[1].clone()))
}

/// The database the benchmarked Kurier uses, made empty.
async fn fresh_database(args: &BenchArgs, dir: &Path) -> anyhow::Result<String> {
    match &args.database {
        None => Ok(format!("sqlite://{}", dir.join("bench.db").display())),
        Some(url) => {
            use sqlx::Connection as _;
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(url).await.context("connecting to --database")?;
            sqlx::raw_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
                .execute(&mut conn)
                .await
                .context("emptying the --database")?;
            Ok(url.clone())
        }
    }
}

pub(crate) const BENCH_KEY: &str = "kur_bench_key";

async fn start_serve(
    exe: &Path,
    dir: &Path,
    db_url: &str,
    smpp_port: u16,
    args: &BenchArgs,
) -> anyhow::Result<(Proc, String)> {
    let config = dir.join("kurier.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
http_listen = "127.0.0.1:0"
node_id = "bench"

[database]
url = "{db_url}"
sqlite_synchronous = "{sync}"

[dispatch]
batch_size = 1000
max_in_flight = 10000

[[connectors]]
name = "smsc"
kind = "smpp"
host = "127.0.0.1"
port = {smpp_port}
system_id = "bench"
password = "bench"
window = {window}
binds = {binds}
"#,
            sync = args.sqlite_synchronous,
            window = args.window,
            binds = args.binds,
        ),
    )?;
    let log = std::fs::File::create(dir.join("serve.log"))?;
    let mut command = Command::new(exe);
    command
        .args(["serve", "--config"])
        .arg(&config)
        .env("KURIER_ADMIN_API_KEY", BENCH_KEY)
        // Quiet unless asked (a log line per request would be measured too).
        .env("RUST_LOG", std::env::var("KURIER_BENCH_SERVE_LOG").unwrap_or_else(|_| "warn".into()))
        .stderr(log);
    let (serve, addrs) = spawn_listening(command, &["Kurier listening on"])
        .with_context(|| format!("starting kurier serve (its log: {})", dir.join("serve.log").display()))?;
    let base = addrs[0].clone();
    // Listening; ready once the SMPP link is bound.
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let ready = client.get(format!("{base}/readyz")).send().await?;
        if ready.status().is_success() {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "the SMPP link did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((serve, base))
}

async fn run_kurier_phase(exe: &Path, args: &BenchArgs, batch: bool) -> anyhow::Result<PhaseResult> {
    let dir = tempdir()?;
    let db_url = fresh_database(args, &dir).await?;
    let (sim, smpp_port, control) = start_sim(exe, &dir, args).await?;
    let (serve, base) = start_serve(exe, &dir, &db_url, smpp_port, args).await?;
    let store = Store::open(&db_url, 2, "normal").await?;
    let serve_pid = serve.0.id();
    let sim_pid = sim.0.id();
    let cpu_before = (procstat::cpu_seconds(serve_pid)?, procstat::cpu_seconds(sim_pid)?);

    let started = Instant::now();
    let watcher = tokio::spawn(watch_progress(store.clone(), control.clone(), args.messages, started));
    let load = if batch {
        load::batches(&base, args.messages, 1_000, 4).await?
    } else {
        load::singles(&base, args.messages, args.connections, args.rate).await?
    };
    let progress = watcher.await??;
    let cpu_after = (procstat::cpu_seconds(serve_pid)?, procstat::cpu_seconds(sim_pid)?);
    let writes = write_shares(&base, progress.completed.as_secs_f64()).await.unwrap_or_default();
    let rss = procstat::peak_rss_mb(serve_pid).ok();
    store.close().await;
    drop(serve);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);

    let n = args.messages as f64;
    let serve_cpu = cpu_after.0 - cpu_before.0;
    let sim_cpu = cpu_after.1 - cpu_before.1;
    Ok(PhaseResult {
        phase: if batch {
            "batch (1,000 per request)".into()
        } else {
            match args.rate {
                Some(rate) => format!("single ({rate:.0}/s offered, {} conns)", args.connections),
                None => format!("single ({} connections)", args.connections),
            }
        },
        messages: args.messages,
        accepted_per_sec: n / load.elapsed.as_secs_f64(),
        submitted_per_sec: n / progress.submitted.as_secs_f64(),
        completed_per_sec: n / progress.completed.as_secs_f64(),
        latency_p50_ms: load.p50_ms,
        latency_p99_ms: load.p99_ms,
        peak_rss_mb: rss,
        serve_cpu_per_1000: Some(serve_cpu / n * 1000.0),
        sim_cpu_share: sim_cpu / (serve_cpu + sim_cpu).max(f64::EPSILON),
        seconds: progress.completed.as_secs_f64(),
        writes,
        ..PhaseResult::default()
    })
}

struct Progress {
    /// From the start until the simulator had every submit_sm.
    submitted: Duration,
    /// From the start until every message was stored `delivered`.
    completed: Duration,
}

async fn watch_progress(
    store: Store,
    control: String,
    n: usize,
    started: Instant,
) -> anyhow::Result<Progress> {
    // The simulator's counters are read while the run goes (counting the
    // messages table would load the machine being measured). A receipt is
    // acknowledged only once Kurier stored it, so all receipts acknowledged
    // means all stored; the database confirms it once at the end.
    let client = reqwest::Client::new();
    let mut submitted = None;
    loop {
        let stats: serde_json::Value = client.get(format!("{control}/stats")).send().await?.json().await?;
        if submitted.is_none() && stats["submits"].as_u64().unwrap_or(0) >= n as u64 {
            submitted = Some(started.elapsed());
        }
        if stats["receipts_sent"].as_u64().unwrap_or(0) >= n as u64 {
            let completed = started.elapsed();
            let counts = store.count_by_status().await?;
            let delivered = counts.get(&crate::domain::MessageStatus::Delivered).copied().unwrap_or(0);
            anyhow::ensure!(delivered >= n as i64, "receipts acknowledged but not stored: {counts:?}");
            return Ok(Progress { submitted: submitted.unwrap_or(completed), completed });
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(1_800), "the run did not complete: {stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tempdir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("kurier-bench-{}", crate::credentials::random_hex(6)));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn describe(r: &PhaseResult) -> String {
    let first = r.first_queued_ms.map_or(String::new(), |ms| {
        format!(
            "; first messages queued {ms:.0} ms after the request, {:.0} made per second",
            r.accepted_per_sec
        )
    });
    format!("{}: {:.0} msg/s completed in {:.1} s{first}", r.phase, r.completed_per_sec, r.seconds)
}

fn print_table(results: &[PhaseResult]) {
    // CPU seconds per 1,000 messages are a few hundredths: three decimals.
    let opt = |v: Option<f64>, unit: &str| v.map_or("-".to_owned(), |v| format!("{v:.1}{unit}"));
    let cpu = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
    println!(
        "{:<34} {:>9} {:>11} {:>11} {:>11} {:>8} {:>8} {:>9} {:>12} {:>8}",
        "phase",
        "messages",
        "accepted/s",
        "submitted/s",
        "completed/s",
        "p50",
        "p99",
        "peak RSS",
        "CPU s/1000",
        "sim CPU"
    );
    for r in results {
        println!(
            "{:<34} {:>9} {:>11.0} {:>11.0} {:>11.0} {:>8} {:>8} {:>9} {:>12} {:>7.0}%",
            r.phase,
            r.messages,
            r.accepted_per_sec,
            r.submitted_per_sec,
            r.completed_per_sec,
            opt(r.latency_p50_ms, "ms"),
            opt(r.latency_p99_ms, "ms"),
            opt(r.peak_rss_mb, "MB"),
            cpu(r.serve_cpu_per_1000),
            r.sim_cpu_share * 100.0
        );
    }
    for r in results.iter().filter(|r| !r.writes.is_empty()) {
        let writes: Vec<String> = r
            .writes
            .iter()
            .map(|w| {
                format!("{} {} × {:.1} ms = {:.0}%", w.kind, w.transactions, w.mean_ms, w.busy_share * 100.0)
            })
            .collect();
        println!("  {} — write transactions (share of the run): {}", r.phase, writes.join(", "));
    }
}

fn print_summary(summary: &[PhaseSummary]) {
    let rate = |s: &Spread| format!("{:.0} ({:.0}–{:.0})", s.median, s.min, s.max);
    let ms = |s: &Spread| format!("{:.1} ms ({:.1}–{:.1})", s.median, s.min, s.max);
    println!("median (lowest–highest) over the runs:");
    for s in summary {
        let p99 = s.latency_p99_ms.as_ref().map_or(String::new(), |p| format!(", p99 {}", ms(p)));
        println!(
            "  {} × {}: completed/s {}, accepted/s {}{p99}",
            s.phase,
            s.runs,
            rate(&s.completed_per_sec),
            rate(&s.accepted_per_sec)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spread_is_the_median_and_range_of_its_values() {
        let odd = Spread::of(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!(odd, Spread { median: 2.0, min: 1.0, max: 3.0 });
        let even = Spread::of(vec![4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(even, Spread { median: 2.5, min: 1.0, max: 4.0 });
        assert_eq!(Spread::of(Vec::new()), None);
    }

    #[test]
    fn runs_of_a_phase_are_summarised_together_in_the_order_phases_first_ran() {
        let run = |phase: &str, completed: f64, p99: Option<f64>| PhaseResult {
            phase: phase.into(),
            accepted_per_sec: completed * 2.0,
            submitted_per_sec: completed * 1.5,
            completed_per_sec: completed,
            latency_p99_ms: p99,
            peak_rss_mb: Some(completed / 100.0),
            ..PhaseResult::default()
        };
        let results = [
            run("batch", 200.0, None),
            run("bare", 900.0, None),
            run("batch", 100.0, None),
            run("bare", 700.0, None),
            run("batch", 300.0, None),
        ];
        let summary = summarise(&results);
        assert_eq!(summary.iter().map(|s| s.phase.as_str()).collect::<Vec<_>>(), ["batch", "bare"]);
        assert_eq!(summary[0].runs, 3);
        assert_eq!(summary[0].completed_per_sec, Spread { median: 200.0, min: 100.0, max: 300.0 });
        assert_eq!(summary[0].accepted_per_sec.median, 400.0);
        assert_eq!(summary[0].peak_rss_mb, Some(3.0), "the highest of the runs");
        assert_eq!(summary[0].latency_p99_ms, None, "no run measured latency");
        assert_eq!(summary[1].completed_per_sec.median, 800.0);

        let singles = summarise(&[run("single", 10.0, Some(5.0)), run("single", 10.0, Some(9.0))]);
        assert_eq!(singles[0].latency_p99_ms, Some(Spread { median: 7.0, min: 5.0, max: 9.0 }));
    }
}
