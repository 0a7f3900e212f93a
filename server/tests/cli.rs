//! The `kurier` command line as an operator meets it: the first start
//! prints the admin credentials once, `migrate` prepares a database, and a
//! bad setting stops the start with the key named.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn kurier() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kurier"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `serve` in `dir`, waits until it answers, stops it with SIGTERM,
/// and returns what it printed on stdout.
fn serve_once(dir: &std::path::Path) -> String {
    let port = free_port();
    let child = kurier()
        .arg("serve")
        .current_dir(dir)
        .env("KURIER_SERVER_HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("KURIER_ADMIN_API_KEY")
        .env_remove("KURIER_ADMIN_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "serve exits 0 on SIGTERM");
    String::from_utf8(out.stdout).unwrap()
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
