//! The `campaign` phase: one campaign to every contact of a group of
//! `--messages` people, rendered per contact, sent over SMPP to the
//! simulator. It measures how soon the first messages are queued, how fast
//! the fan-out makes messages, how fast they complete, and the peak memory
//! of `serve` (which must not grow with the audience).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::{
    BENCH_KEY, BenchArgs, PhaseResult, fresh_database, procstat, start_serve, start_sim, tempdir,
    watch_progress,
};
use crate::domain::PhoneNumber;
use crate::storage::{ContactChanges, ContactWrite, SetChange, Store, Target, now_micros};

/// Contacts written per transaction while filling the audience.
const FILL_BATCH: usize = 5_000;

pub async fn run(exe: &Path, args: &BenchArgs) -> anyhow::Result<PhaseResult> {
    let n = args.messages;
    let dir = tempdir()?;
    let db_url = fresh_database(args, &dir).await?;
    // The audience is written before `serve` starts: the fill is not what
    // is measured, and on SQLite two processes writing at once would wait
    // on each other's locks. The account is made as `serve` would make it.
    let store = Store::open(&db_url, 2, "normal").await?;
    store.bootstrap(None, Some(BENCH_KEY)).await?;
    let account = store.account_id_by_name("default").await?.context("the default account")?;

    let filling = Instant::now();
    let group = store
        .create_group(&account, "Everyone", None, now_micros())
        .await?
        .map_err(|_| anyhow::anyhow!("the group exists"))?;
    for start in (0..n).step_by(FILL_BATCH) {
        let writes: Vec<ContactWrite> = (start..(start + FILL_BATCH).min(n))
            .map(|i| {
                Ok(ContactWrite {
                    target: Target::New,
                    changes: ContactChanges {
                        phone: Some(PhoneNumber::parse(&format!("+4860{i:07}"), None)?),
                        name: Some(Some(format!("Person {i}"))),
                        groups: SetChange::Add(vec![group.id.clone()]),
                        ..ContactChanges::default()
                    },
                })
            })
            .collect::<anyhow::Result<_>>()?;
        for outcome in store.write_contacts(&account, &writes, now_micros()).await? {
            outcome.map_err(|p| anyhow::anyhow!("filling the audience: {p:?}"))?;
        }
    }
    eprintln!("campaign: {n} contacts in {:.1} s", filling.elapsed().as_secs_f64());
    let (sim, smpp_port, control) = start_sim(exe, &dir, args).await?;
    let (serve, base) = start_serve(exe, &dir, &db_url, smpp_port, args).await?;

    let serve_pid = serve.0.id();
    let cpu_before = procstat::cpu_seconds(serve_pid)?;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let created: serde_json::Value = client
        .post(format!("{base}/api/v1/campaigns"))
        .bearer_auth(BENCH_KEY)
        .json(&serde_json::json!({
            "name": "bench", "text": "Hello {{ contact.first_name }}, this is a benchmark",
            "groups": [group.id], "start": true,
        }))
        .send()
        .await?
        .json()
        .await?;
    let watcher = tokio::spawn(watch_progress(store.clone(), control.clone(), n, started));
    let id =
        created["campaign"]["id"].as_str().with_context(|| format!("creating the campaign: {created}"))?;
    let run_url = format!("{base}/api/v1/campaigns/{id}/runs/1");
    let mut first = None;
    let fanned_out = loop {
        let run: serde_json::Value = client.get(&run_url).bearer_auth(BENCH_KEY).send().await?.json().await?;
        if first.is_none() && run["recipients"].as_u64().unwrap_or(0) > 0 {
            first = Some(started.elapsed());
        }
        if run["status"].is_string() && run["status"] != "fanning_out" {
            break started.elapsed();
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(3_600), "the fan-out did not end: {run}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let progress = watcher.await??;
    let serve_cpu = procstat::cpu_seconds(serve_pid)? - cpu_before;
    let rss = procstat::peak_rss_mb(serve_pid).ok();
    store.close().await;
    drop(serve);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);

    Ok(PhaseResult {
        phase: "campaign (1 group)".into(),
        messages: n,
        // Messages made by the fan-out per second: a campaign's "accepted".
        accepted_per_sec: n as f64 / fanned_out.as_secs_f64(),
        submitted_per_sec: n as f64 / progress.submitted.as_secs_f64(),
        completed_per_sec: n as f64 / progress.completed.as_secs_f64(),
        first_queued_ms: first.map(|f| f.as_secs_f64() * 1_000.0),
        peak_rss_mb: rss,
        serve_cpu_per_1000: Some(serve_cpu / n as f64 * 1_000.0),
        seconds: progress.completed.as_secs_f64(),
        ..PhaseResult::default()
    })
}
