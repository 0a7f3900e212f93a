//! Crash safety of the real binary: `kill -9` in the middle of a busy send,
//! restart, and count. Every accepted message must end in a final status;
//! the number possibly submitted twice must stay within the in-flight limit.
//! A SIGTERM, by contrast, stops cleanly with nothing left in `sending`.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{API_KEY, Backend, FreshDb, on_each_backend};
use kurier::domain::MessageStatus;
use kurier::storage::Store;
use serde_json::json;
use tokio::sync::Mutex;

/// Most messages the child holds in `sending` at once.
const MAX_IN_FLIGHT: usize = 200;

struct Child9 {
    child: Child,
    base: String,
}

/// A failing test must not leave a server running.
impl Drop for Child9 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The configuration of every run. Port 0: each run's `serve` says which
/// port it got (a port picked here and freed could be taken by a test
/// alongside before `serve` binds it).
fn write_config(dir: &Path, db_url: &str) -> std::path::PathBuf {
    let path = dir.join("kurier.toml");
    let toml = format!(
        r#"
[server]
http_listen = "127.0.0.1:0"
node_id = "crash-test-node"
shutdown_grace_secs = 5

[database]
url = "{db_url}"

[dispatch]
batch_size = 100
max_in_flight = {MAX_IN_FLIGHT}
poll_interval_ms = 5
receipt_check_secs = 1

[[connectors]]
name = "sim"
kind = "sim"
receipt_delay_ms = 300
submit_delay_ms = 5
window = 50
undelivered = 10
"#
    );
    std::fs::write(&path, toml).unwrap();
    path
}

async fn start_child(config: &Path, log: &Path) -> Child9 {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kurier"))
        .args(["serve", "--config"])
        .arg(config)
        .env("KURIER_ADMIN_API_KEY", API_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start kurier");
    let base = common::said(child.stdout.take().unwrap(), &["Kurier listening on"]).words.remove(0);
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "kurier did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Child9 { child, base }
}

/// Sends single-recipient and batch requests until `stop` messages were
/// accepted or the server goes away; returns the accepted ids.
async fn send_load(base: &str, total: usize, accepted: Arc<Mutex<Vec<String>>>) {
    let http = reqwest::Client::new();
    let mut workers = Vec::new();
    for w in 0..6 {
        let http = http.clone();
        let base = base.to_owned();
        let accepted = accepted.clone();
        workers.push(tokio::spawn(async move {
            let mut i = 0usize;
            loop {
                if accepted.lock().await.len() >= total {
                    return;
                }
                let to: Vec<String> = if w == 0 {
                    (0..50).map(|k| format!("+48600{:02}{:04}", i % 100, k)).collect()
                } else {
                    vec![format!("+48601{w}{:05}", i % 100_000)]
                };
                i += 1;
                let resp = http
                    .post(format!("{base}/api/v1/messages"))
                    .bearer_auth(API_KEY)
                    .json(&json!({"to": to, "text": format!("load {w}/{i}")}))
                    .send()
                    .await;
                let Ok(resp) = resp else { return }; // the server is gone
                if resp.status() != 202 {
                    return;
                }
                let Ok(body) = resp.json::<serde_json::Value>().await else { return };
                let ids =
                    body["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned());
                accepted.lock().await.extend(ids);
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
}

async fn open_store(db: &FreshDb) -> Store {
    Store::open(&db.url, 2, "normal").await.unwrap()
}

async fn wait_all_final(
    store: &Store,
    expected_at_least: usize,
) -> std::collections::HashMap<MessageStatus, i64> {
    let started = Instant::now();
    loop {
        let counts = store.count_by_status().await.unwrap();
        let total: i64 = counts.values().sum();
        let open: i64 = counts.iter().filter(|(s, _)| !s.is_final()).map(|(_, n)| n).sum();
        if open == 0 && total as usize >= expected_at_least {
            return counts;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "messages never settled: {counts:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_flight_loses_no_accepted_message() {
    on_each_backend(|b: Backend| async move {
        let dir = tempfile::tempdir().unwrap();
        let db = FreshDb::new(&b).await;
        let config = write_config(dir.path(), &db.url);
        let log = dir.path().join("kurier.log");
        let accepted = Arc::new(Mutex::new(Vec::new()));

        // Run 1: load, then kill -9 once a good part is accepted and in flight.
        let mut first = start_child(&config, &log).await;
        let load = tokio::spawn({
            let base = first.base.clone();
            let accepted = accepted.clone();
            async move { send_load(&base, 6_000, accepted).await }
        });
        while accepted.lock().await.len() < 2_500 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        first.child.kill().expect("kill -9");
        first.child.wait().unwrap();
        load.await.unwrap();
        let before_restart = accepted.lock().await.len();

        // Run 2: restart on the same database and send the rest.
        let mut second = start_child(&config, &log).await;
        send_load(&second.base, before_restart + 1_000, accepted.clone()).await;

        let store = open_store(&db).await;
        let accepted = accepted.lock().await.clone();
        let counts = wait_all_final(&store, accepted.len()).await;
        let mut missing = 0;
        for id in &accepted {
            let found = store.count_events_of(id).await.unwrap();
            if found == 0 {
                missing += 1;
            }
        }
        assert_eq!(missing, 0, "accepted messages lost");
        let recovered =
            store.count_events_with_detail("re-queued: Kurier restarted while sending").await.unwrap();
        eprintln!(
            "[{}] accepted {} (killed after {before_restart}); final: {counts:?}; recovered from `sending` \
             after the kill (possibly submitted twice): {recovered}",
            b.name(),
            accepted.len()
        );
        assert!(recovered as usize <= MAX_IN_FLIGHT, "{recovered} re-sent, more than the in-flight window");
        assert!(counts.get(&MessageStatus::Delivered).copied().unwrap_or(0) > 0);
        assert!(counts.get(&MessageStatus::Undelivered).copied().unwrap_or(0) > 0);

        // A SIGTERM drains and exits cleanly.
        let status = Command::new("kill").args(["-TERM", &second.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let exit = tokio::task::spawn_blocking(move || second.child.wait().unwrap()).await.unwrap();
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = log_text.lines().filter(|l| !l.starts_with(' ')).rev().take(15).collect();
        assert!(
            exit.success(),
            "graceful stop exits 0: {exit:?}; log tail (newest first):\n{}",
            tail.join("\n")
        );
        let counts = store.count_by_status().await.unwrap();
        assert_eq!(counts.get(&MessageStatus::Sending), None, "nothing left in sending after SIGTERM");
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_fan_out_resumes_without_sending_anyone_twice_or_skipping_anyone() {
    on_each_backend(|b: Backend| async move {
        const PEOPLE: usize = 20_000;
        let dir = tempfile::tempdir().unwrap();
        let db = FreshDb::new(&b).await;
        let config = write_config(dir.path(), &db.url);
        let log = dir.path().join("kurier.log");
        let http = reqwest::Client::new();

        // Paced at 5,000 a second, the fan-out takes about four seconds.
        let mut first = start_child(&config, &log).await;
        let numbers: Vec<String> = (0..PEOPLE).map(|i| format!("+48603{i:06}")).collect();
        let created: serde_json::Value = http
            .post(format!("{}/api/v1/campaigns", first.base))
            .bearer_auth(API_KEY)
            .json(&json!({"name": "crash", "text": "Hi", "numbers": numbers, "throughput": 5000, "start": true}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["campaign"]["id"].as_str().expect("campaign created").to_owned();
        let run_url = |base: &str| format!("{base}/api/v1/campaigns/{id}/runs/1");
        let started = Instant::now();
        let at_kill = loop {
            let run: serde_json::Value =
                match http.get(run_url(&first.base)).bearer_auth(API_KEY).send().await {
                    Ok(r) => r.json().await.unwrap_or_default(),
                    Err(_) => serde_json::Value::Null,
                };
            let made = run["recipients"].as_u64().unwrap_or(0) as usize;
            if made >= 3_000 {
                break made;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "fan-out never started: {run}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        first.child.kill().expect("kill -9");
        first.child.wait().unwrap();
        assert!(at_kill < PEOPLE, "the fan-out ended before the kill ({at_kill}); nothing was tested");

        let second = start_child(&config, &log).await;
        let started = Instant::now();
        loop {
            let run: serde_json::Value =
                http.get(run_url(&second.base)).bearer_auth(API_KEY).send().await.unwrap().json().await.unwrap();
            if run["status"] == "completed" {
                assert_eq!(run["recipients"].as_u64(), Some(PEOPLE as u64), "{run}");
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "the run never completed: {run}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let store = open_store(&db).await;
        let counts = wait_all_final(&store, PEOPLE).await;
        let total: i64 = counts.values().sum();
        assert_eq!(total as usize, PEOPLE, "one message per person: {counts:?}");
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        let distinct: i64 = sqlx::Row::get(
            &sqlx::query("SELECT COUNT(DISTINCT to_number) FROM messages").fetch_one(&pool).await.unwrap(),
            0,
        );
        pool.close().await;
        assert_eq!(distinct as usize, PEOPLE, "everyone, each once");
        eprintln!("[{}] killed with {at_kill} of {PEOPLE} fanned out; final: {counts:?}", b.name());
        drop(second);
        store.close().await;
        db.drop_db().await;
    })
    .await;
}
