//! The `kurier` command line as an operator meets it: the first start
//! prints the admin credentials once, `migrate` prepares a database, and a
//! bad setting stops the start with the key named; `kurier user` lets the
//! operator back in; `kurier bench` and the
//! Kannel comparison script (`bench/peers/kannel.sh`) run end to end.

mod common;

use std::process::{Command, Stdio};

fn kurier() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kurier"))
}

/// Starts `serve` in `dir` on a port of its choosing, waits until it says
/// where it listens, stops it with SIGTERM, and returns what it printed on
/// stdout.
fn serve_once(dir: &std::path::Path) -> String {
    let mut child = kurier()
        .arg("serve")
        .current_dir(dir)
        .env("KURIER_SERVER_HTTP_LISTEN", "127.0.0.1:0")
        .env_remove("KURIER_ADMIN_API_KEY")
        .env_remove("KURIER_ADMIN_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let said = common::said(child.stdout.take().unwrap(), &["Kurier listening on"]);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = said.all.join().unwrap();
    assert!(child.wait().unwrap().success(), "serve exits 0 on SIGTERM");
    out
}

#[test]
fn the_first_start_prints_the_admin_password_and_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = serve_once(dir.path());
    assert!(first.contains("First start: created account 'default' with user 'admin'."), "{first}");
    let password =
        first.lines().find_map(|l| l.trim().strip_prefix("admin password: ")).expect("a password line");
    assert_eq!(password.len(), 20, "{first}");
    let key =
        first.lines().find_map(|l| l.trim().strip_prefix("API key:")).map(str::trim).expect("a key line");
    assert!(key.starts_with("kur_"), "{first}");
    assert!(
        dir.path().join("kurier.db").exists(),
        "the embedded default keeps kurier.db in the working directory"
    );

    let second = serve_once(dir.path());
    assert!(!second.contains("First start") && !second.contains(key), "shown only once: {second}");
}

#[test]
fn migrate_prepares_a_database_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let out = kurier().arg("migrate").env("KURIER_DATABASE_URL", &url).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "database is up to date");
    assert!(dir.path().join("m.db").exists());
}

#[test]
fn a_bad_setting_stops_the_start_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("KURIER_DISPATCH_BATCH_SIZE", "many", "dispatch.batch_size"),
        ("KURIER_DATABASE_URL", "mysql://x", "database.url"),
        ("KURIER_SERVER_HTTP_LISTEN", "nowhere", "server.http_listen"),
    ];
    for (var, value, key) in cases {
        let out = kurier().arg("serve").current_dir(dir.path()).env(var, value).output().unwrap();
        assert!(!out.status.success(), "{var}={value} must stop the start");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{var}={value}: {stderr}");
    }
    assert!(!dir.path().join("kurier.db").exists(), "nothing was created");
}

/// Runs `kurier user ARGS` against the database at `url`; (success, stdout, stderr).
fn user(url: &str, args: &[&str], password: Option<&str>) -> (bool, String, String) {
    let mut command = kurier();
    command.arg("user").args(args).env("KURIER_DATABASE_URL", url);
    match password {
        Some(p) => command.env("KURIER_USER_PASSWORD", p),
        None => command.env_remove("KURIER_USER_PASSWORD"),
    };
    let out = command.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_operator_creates_users_resets_a_password_and_ends_a_lockout_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    serve_once(dir.path());
    let url = format!("sqlite://{}", dir.path().join("kurier.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = runtime.block_on(kurier::storage::Store::open(&url, 1, "full")).unwrap();
    let signs_in = |name: &str, password: &str| {
        let u = runtime.block_on(store.user_for_sign_in(name)).unwrap().expect("the user");
        kurier::credentials::verify_password(password, &u.password_hash)
            && u.locked_until.is_none_or(|t| t <= kurier::storage::now_micros())
            && !u.disabled
    };

    let (ok, out, err) = user(&url, &["create", "bob", "--role", "sender", "--name", "Bob"], None);
    assert!(ok, "{err}");
    let password = out.lines().find_map(|l| l.strip_prefix("password: ")).expect("printed once").to_owned();
    assert!(signs_in("bob", &password), "{out}");
    let (ok, _, err) = user(&url, &["create", "bob", "--role", "sender"], None);
    assert!(!ok && err.contains("the username 'bob' is taken"), "{err}");
    let (ok, _, err) = user(&url, &["create", "carol", "--role", "boss"], None);
    assert!(!ok && err.contains("boss"), "{err}");
    let (ok, _, err) = user(&url, &["create", "carol", "--role", "viewer"], Some("short"));
    assert!(!ok && err.contains("KURIER_USER_PASSWORD must be at least"), "{err}");

    // The only owner forgot the password and locked themselves out.
    let admin = runtime.block_on(store.user_for_sign_in("admin")).unwrap().unwrap();
    for _ in 0..5 {
        runtime
            .block_on(store.record_failed_sign_in(&admin.id, kurier::storage::now_micros(), 5, 3_600_000_000))
            .unwrap();
    }
    let (_, listed, _) = user(&url, &["list"], None);
    assert!(
        listed.lines().any(|l| l.starts_with("admin") && l.contains("owner") && l.contains("locked until")),
        "{listed}"
    );
    assert!(
        listed.lines().any(|l| l.starts_with("bob") && l.contains("sender") && l.contains("active")),
        "{listed}"
    );
    let (ok, out, err) = user(&url, &["reset-password", "admin"], Some("a new long password"));
    assert!(ok && out.contains("KURIER_USER_PASSWORD") && !out.contains("a new long password"), "{out}{err}");
    assert!(signs_in("admin", "a new long password"), "the reset ends the lockout too");
    for _ in 0..5 {
        runtime
            .block_on(store.record_failed_sign_in(&admin.id, kurier::storage::now_micros(), 5, 3_600_000_000))
            .unwrap();
    }
    assert!(!signs_in("admin", "a new long password"));
    let (ok, out, err) = user(&url, &["unlock", "admin"], None);
    assert!(ok && out.contains("admin is unlocked"), "{out}{err}");
    assert!(signs_in("admin", "a new long password"), "the password stays");
    let (ok, _, err) = user(&url, &["unlock", "nobody"], None);
    assert!(!ok && err.contains("there is no user 'nobody'"), "{err}");

    let filter = kurier::storage::AuditFilter { via: Some("cli".into()), limit: 10, ..Default::default() };
    let log = runtime.block_on(store.search_audit(&admin.account_id, &filter)).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.entry.action.as_str()).collect();
    assert_eq!(actions, ["kurier user unlock", "kurier user reset-password", "kurier user create"]);
    runtime.block_on(store.close());
}

/// Runs `kurier bench` with `args` and returns its `--json` report.
fn bench(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = kurier().arg("bench").args(args).arg("--json").current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "kurier bench failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

#[test]
fn the_bench_runs_every_phase_end_to_end_and_reports_each_measure() {
    // Small, so that it proves the tool works, not how fast anything is.
    let report =
        bench(&["--messages", "300", "--phases", "single,batch,bare,campaign", "--connections", "8"]);
    let phases = report["phases"].as_array().expect("phases");
    let names: Vec<&str> = phases.iter().map(|p| p["phase"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names[0].starts_with("single") && names[1].starts_with("batch"), "{names:?}");
    assert!(names[2].starts_with("bare") && names[3].starts_with("campaign"), "{names:?}");
    for p in phases {
        assert_eq!(p["messages"], 300, "{p}");
        for rate in ["accepted_per_sec", "submitted_per_sec", "completed_per_sec"] {
            assert!(p[rate].as_f64().unwrap() > 0.0, "{rate}: {p}");
        }
        let share = p["sim_cpu_share"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&share), "{p}");
    }
    for p in [&phases[0], &phases[1], &phases[3]] {
        // Kurier's own phases: its memory and CPU.
        assert!(p["peak_rss_mb"].as_f64().unwrap() > 1.0, "{p}");
        assert!(p["serve_cpu_per_1000"].as_f64().unwrap() > 0.0, "{p}");
    }
    for p in [&phases[0], &phases[1]] {
        // Where the writer's time went.
        let kinds: Vec<&str> =
            p["writes"].as_array().unwrap().iter().map(|w| w["kind"].as_str().unwrap()).collect();
        for kind in ["claim", "record", "round"] {
            assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
        }
    }
    let single = &phases[0];
    let (p50, p99) = (single["latency_p50_ms"].as_f64().unwrap(), single["latency_p99_ms"].as_f64().unwrap());
    assert!(0.0 < p50 && p50 <= p99, "{single}");
    assert!(phases[3]["first_queued_ms"].as_f64().is_some(), "{}", phases[3]);
}

#[test]
fn the_bench_sends_on_a_schedule_with_an_open_loop() {
    let report = bench(&["--messages", "200", "--phases", "single", "--rate", "400", "--connections", "4"]);
    let single = &report["phases"][0];
    assert_eq!(single["phase"], "single (400/s offered, 4 conns)");
    // 200 requests due over half a second: accepted at about the offered rate.
    let accepted = single["accepted_per_sec"].as_f64().unwrap();
    assert!(accepted <= 400.0 * 1.05, "a schedule, not as fast as possible: {single}");
    assert!(single["latency_p99_ms"].as_f64().is_some(), "{single}");
}

#[test]
fn the_bench_refuses_a_repeat_count_outside_one_to_a_hundred() {
    for bad in ["0", "101", "many"] {
        let dir = tempfile::tempdir().unwrap();
        let out = kurier().args(["bench", "--repeat", bad]).current_dir(dir.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "--repeat {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("invalid value") && err.contains("--repeat"), "--repeat {bad}: {err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing ran: --repeat {bad}");
    }
}

#[test]
fn the_bench_repeats_its_phases_and_summarises_each_over_the_runs() {
    let report = bench(&["--messages", "200", "--phases", "bare,batch", "--repeat", "2"]);
    let phases = report["phases"].as_array().expect("phases");
    let names: Vec<&str> = phases.iter().map(|p| p["phase"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 4, "the list twice, in order: {names:?}");
    assert!(names[0].starts_with("bare") && names[1].starts_with("batch"), "{names:?}");
    assert_eq!((names[0], names[1]), (names[2], names[3]), "{names:?}");
    let summary = report["summary"].as_array().expect("summary");
    assert_eq!(summary.len(), 2, "{summary:?}");
    for (i, s) in summary.iter().enumerate() {
        assert_eq!(s["phase"], names[i]);
        assert_eq!(s["runs"], 2);
        let runs = [&phases[i]["completed_per_sec"], &phases[i + 2]["completed_per_sec"]]
            .map(|v| v.as_f64().unwrap());
        let spread = &s["completed_per_sec"];
        assert_eq!(spread["min"].as_f64().unwrap(), runs[0].min(runs[1]), "{s}");
        assert_eq!(spread["max"].as_f64().unwrap(), runs[0].max(runs[1]), "{s}");
        let median = spread["median"].as_f64().unwrap();
        assert!((median - (runs[0] + runs[1]) / 2.0).abs() < 1e-6, "two runs: their mean: {s}");
    }
    assert!(summary[1]["peak_rss_mb"].as_f64().unwrap() > 1.0, "Kurier's phase: {}", summary[1]);
}

/// Runs `bench/peers/kannel.sh` (N messages over C connections) with
/// `env` against this build's simulator; `None` when Debian's kannel
/// package is not there (`KURIER_TEST_KANNEL`, set by `.ci/run`:
/// bearerbox's path).
fn kannel_sh(n: &str, c: &str, env: &[(&str, &str)]) -> Option<std::process::Output> {
    let Ok(bearerbox) = std::env::var("KURIER_TEST_KANNEL") else {
        eprintln!("KURIER_TEST_KANNEL is not set; skipping");
        return None;
    };
    let bin_dir = std::path::Path::new(&bearerbox).parent().expect("bearerbox's directory");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/peers/kannel.sh");
    let mut command = Command::new("bash");
    command.args([script, n, c]).env("KURIER", env!("CARGO_BIN_EXE_kurier")).env("PATH", path);
    command.envs(env.iter().copied());
    Some(command.output().unwrap())
}

/// `bench/peers/kannel.sh`, the other side of BENCHMARKS.md's comparison:
/// Kannel against this build's simulator, every message accepted,
/// submitted and its receipt matched.
#[test]
fn the_kannel_comparison_script_runs_kannel_against_the_simulator() {
    let Some(out) = kannel_sh("300", "4", &[("DEADLINE_S", "120")]) else { return };
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "kannel.sh failed: {stderr}\n{stdout}");
    let mut lines = stdout.lines();
    let row = lines.next().unwrap_or_default();
    assert!(row.starts_with("| kannel (4 connections) |"), "a table row first: {stdout}");
    let report: serde_json::Value =
        serde_json::from_str(lines.next().unwrap_or_default()).expect("then JSON");
    for count in ["messages", "accepted", "submitted", "completed"] {
        assert_eq!(report[count], 300, "{count}: {report}");
    }
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    for measure in ["accepted_per_s", "completed_per_s", "peak_rss_mb"] {
        assert!(report[measure].as_f64().unwrap() > 0.0, "{measure}: {report}");
    }
}

/// The script fails, printing no figures, when the receipts do not all come
/// within `DEADLINE_S` (here the simulator holds them back for ten minutes).
#[test]
fn the_kannel_comparison_script_fails_when_the_receipts_do_not_come_in_time() {
    let env = [("DEADLINE_S", "2"), ("RECEIPT_DELAY_MS", "600000")];
    let Some(out) = kannel_sh("20", "2", &env) else { return };
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}\n{stdout}");
    assert!(stderr.contains("timed out: 0 receipts of 20"), "{stderr}");
    assert!(stdout.trim().is_empty(), "no figures for a run that did not complete: {stdout}");
}
