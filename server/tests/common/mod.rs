//! Test harness: starts the real app in-process on port 0 with a fresh
//! database (a SQLite file in a temporary folder, or a new PostgreSQL
//! database when `KURIER_TEST_POSTGRES_URL` is set) and talks to it over HTTP.
#![allow(dead_code)]

pub mod hooks;
pub mod smtp;
pub mod two_way;

use std::future::Future;
use std::time::Duration;

use kurier::app::{AdminSeed, App};
use kurier::config::Config;
use serde_json::Value;

pub const API_KEY: &str = "kur_test_admin_key";
/// The password of user `admin`, the first start's owner.
pub const ADMIN_PASSWORD: &str = "admin-pass";

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// SQLite always; PostgreSQL too when `KURIER_TEST_POSTGRES_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if let Some(url) = postgres_url() {
        out.push(Backend::Postgres(url));
    }
    out
}

pub fn postgres_url() -> Option<String> {
    std::env::var("KURIER_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())
}

/// Polls `check` until it gives a value (about ten seconds at most).
pub async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..400 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} never happened");
}

/// Runs `test` once per backend, naming the backend if it fails.
pub async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    kurier::install_crypto_provider();
    for backend in backends() {
        eprintln!("--- on {}", backend.name());
        test(backend).await;
    }
}

/// A fresh database for one test: its URL and what to clean up.
pub struct FreshDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<(String, String)>,
}

impl FreshDb {
    pub async fn new(backend: &Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("kurier.db").display());
                FreshDb { url, _dir: Some(dir), pg_name: None }
            }
            Backend::Postgres(admin_url) => {
                let name = format!("kurier_t_{}", uuid_hex());
                admin_exec(admin_url, &format!("CREATE DATABASE {name}")).await;
                let url = replace_db(admin_url, &name);
                FreshDb { url, _dir: None, pg_name: Some((admin_url.clone(), name)) }
            }
        }
    }

    pub async fn drop_db(self) {
        if let Some((admin, name)) = &self.pg_name {
            admin_exec(admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        }
    }
}

fn uuid_hex() -> String {
    kurier::credentials::random_hex(8)
}

async fn admin_exec(admin_url: &str, sql: &str) {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut conn =
        sqlx::AnyConnection::connect(admin_url).await.expect("connect to KURIER_TEST_POSTGRES_URL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await.expect(sql);
    conn.close().await.ok();
}

/// `postgres://u@h:5432/test?x` with the database name replaced.
pub fn replace_db(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map(|i| scheme_end + i);
    let root = path_start.map_or(base, |i| &base[..i]);
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// A configuration suited to tests: port 0, quick polling, fast simulator.
pub fn test_config(db_url: &str) -> Config {
    let mut c = Config::default();
    c.server.http_listen = "127.0.0.1:0".parse().unwrap();
    c.server.node_id = Some(format!("test-{}", uuid_hex()));
    c.database.url = db_url.to_owned();
    c.database.sqlite_synchronous = "normal".into();
    c.dispatch.poll_interval_ms = 10;
    c.dispatch.retry_base_ms = 20;
    c.dispatch.retry_max_ms = 100;
    c.webhooks.retry_base_ms = 50;
    c.webhooks.retry_max_ms = 200;
    c.connectors = vec![kurier::config::ConnectorConfig::sim(
        "sim",
        kurier::config::SimConfig { receipt_delay_ms: 10, ..Default::default() },
    )];
    c
}

/// The settings of the first connector, which tests keep a simulator.
pub fn sim(c: &mut Config) -> &mut kurier::config::SimConfig {
    match &mut c.connectors[0].settings {
        kurier::config::ConnectorSettings::Sim(s) => s,
        other => panic!("the first connector is not a simulator: {other:?}"),
    }
}

pub struct TestApp {
    pub app: Option<App>,
    pub db: Option<FreshDb>,
    pub base: String,
    pub http: reqwest::Client,
}

impl TestApp {
    pub async fn start(backend: &Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: &Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        kurier::install_crypto_provider();
        let db = FreshDb::new(backend).await;
        let mut config = test_config(&db.url);
        tweak(&mut config);
        let app = App::start(
            config,
            AdminSeed { password: Some(ADMIN_PASSWORD.into()), api_key: Some(API_KEY.into()) },
        )
        .await
        .expect("app starts");
        let base = format!("http://{}", app.local_addr());
        Self { app: Some(app), db: Some(db), base, http: reqwest::Client::new() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_with(path, body, &[]).await
    }

    pub async fn post_with(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
        self.request(API_KEY, "POST", path, Some(body), headers).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("PATCH", path, Some(body)).await
    }

    pub async fn put_json(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("PUT", path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }

    /// Calls the API with the admin's key.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.request(API_KEY, method, path, body, &[]).await
    }

    /// Calls the API with another key than the admin's.
    pub async fn call_as(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.request(key, method, path, body, &[]).await
    }

    /// The status and JSON body (null when there is none) of one request.
    async fn request(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut req = self.http.request(method, self.url(path)).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Sends one message and returns its id.
    pub async fn send(&self, body: Value) -> String {
        let (status, resp) = self.post("/api/v1/messages", body).await;
        assert_eq!(status, 202, "{resp}");
        resp["messages"][0]["id"].as_str().unwrap().to_owned()
    }

    /// Polls a message until its status is `want` (or fails after a while).
    pub async fn wait_for_status(&self, id: &str, want: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..500 {
            let (_, m) = self.get(&format!("/api/v1/messages/{id}")).await;
            if m["status"] == want {
                return m;
            }
            last = m;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("message {id} never reached {want}; last: {last}");
    }

    /// Waits until no message is in a non-final outbound state.
    pub async fn wait_until_settled(&self) {
        let store = &self.app.as_ref().unwrap().store;
        for _ in 0..1000 {
            let counts = store.count_by_status().await.unwrap();
            let open: i64 = counts.iter().filter(|(s, _)| !s.is_final()).map(|(_, n)| n).sum();
            if open == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("messages never settled");
    }

    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await.expect("clean stop");
        }
        if let Some(db) = self.db.take() {
            db.drop_db().await;
        }
    }
}

/// What a spawned server says where it listens (`kurier::spawned::said`).
pub fn said(out: impl std::io::Read + Send + 'static, labels: &[&str]) -> kurier::spawned::Said {
    kurier::spawned::said(out, labels).expect("reading its output")
}

/// The port that ends an address, a URL or a sentence.
pub fn port_of(word: &str) -> u16 {
    kurier::spawned::port_of(word).unwrap_or_else(|| panic!("no port in {word}"))
}

/// The per-item errors of a bulk answer (`errors`: objects with an `index`),
/// each as its index and the string under `key` (`code`, `field`).
pub fn item_errors<'a>(resp: &'a Value, key: &str) -> Vec<(u64, &'a str)> {
    resp["errors"]
        .as_array()
        .expect("an errors list")
        .iter()
        .map(|e| (e["index"].as_u64().expect("an index"), e[key].as_str().expect("a string")))
        .collect()
}
