//! The HTTP load: single-recipient requests from many keep-alive clients,
//! or batches of many recipients per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::BENCH_KEY;

pub struct LoadResult {
    /// First request to last answer.
    pub elapsed: Duration,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

fn number(i: usize) -> String {
    format!("+48600{:06}", i % 1_000_000)
}

async fn post(client: &reqwest::Client, url: &str, body: serde_json::Value) -> anyhow::Result<()> {
    let resp = client.post(url).bearer_auth(BENCH_KEY).json(&body).send().await?;
    anyhow::ensure!(resp.status().as_u16() == 202, "HTTP {}: {}", resp.status(), resp.text().await?);
    Ok(())
}

/// Opens a keep-alive connection of `client` with a read of `url`.
async fn connect(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let resp = client.get(format!("{url}?limit=1")).bearer_auth(BENCH_KEY).send().await?;
    anyhow::ensure!(resp.status().is_success(), "HTTP {}: {}", resp.status(), resp.text().await?);
    Ok(())
}

/// `n` single-recipient requests over `connections` concurrent clients.
///
/// With `rate` (requests per second), the load is an open loop: request `i`
/// is due at `i / rate` seconds after the start whatever the answers before
/// it, and its latency counts from when it was due, so time spent waiting
/// for a free connection counts too (no coordinated omission). Without it,
/// each client sends its next request as soon as its last is answered.
pub async fn singles(
    base: &str,
    n: usize,
    connections: usize,
    rate: Option<f64>,
) -> anyhow::Result<LoadResult> {
    let url = format!("{base}/api/v1/messages");
    let client = reqwest::Client::builder().pool_max_idle_per_host(connections).build()?;
    let next = Arc::new(AtomicUsize::new(0));
    // Every client opens its connection (an authenticated read that stores
    // nothing) before the clock starts: keep-alive clients of a running
    // service are connected already, and 128 connections opened at once
    // would put a start-up backlog into the figures.
    let ready = Arc::new(tokio::sync::Barrier::new(connections + 1));
    let (start, started_at) = tokio::sync::watch::channel(None::<Instant>);
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (client, url, next, ready) = (client.clone(), url.clone(), next.clone(), ready.clone());
        let mut started_at = started_at.clone();
        tasks.push(tokio::spawn(async move {
            let connected = connect(&client, &url).await;
            ready.wait().await;
            connected?;
            let started = started_at.wait_for(Option::is_some).await?.expect("waited for it");
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let due = match rate {
                    Some(rate) => {
                        let due = started + Duration::from_secs_f64(i as f64 / rate);
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    None => Instant::now(),
                };
                post(&client, &url, json!({"to": number(i), "text": "bench"})).await?;
                latencies.push(due.elapsed().as_secs_f64() * 1000.0);
            }
        }));
    }
    ready.wait().await;
    let started = Instant::now();
    start.send_replace(Some(started));
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed();
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied();
    Ok(LoadResult { elapsed, p50_ms: pct(0.50), p99_ms: pct(0.99) })
}

/// `n` messages in requests of `per_request` recipients, `concurrency` at once.
pub async fn batches(
    base: &str,
    n: usize,
    per_request: usize,
    concurrency: usize,
) -> anyhow::Result<LoadResult> {
    let url = format!("{base}/api/v1/messages");
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let first = next.fetch_add(per_request, Ordering::Relaxed);
                if first >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                let to: Vec<String> = (first..(first + per_request).min(n)).map(number).collect();
                post(&client, &url, json!({"to": to, "text": "bench"})).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(LoadResult { elapsed: started.elapsed(), p50_ms: None, p99_ms: None })
}
