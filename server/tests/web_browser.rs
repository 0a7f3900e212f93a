//! The web UI in a real browser: headless Chromium driven through
//! chromedriver's W3C WebDriver HTTP API (plain JSON over HTTP, no client
//! crate). Signs in, sends a message and watches it become delivered (htmx
//! polling), types into the live counter, imports a CSV file, creates and
//! runs a campaign, answers a received message from the inbox, creates a
//! poll and sees votes sent by SMS appear on its chart, opens the
//! numbers and reports pages, and the administration pages: makes a user
//! group and sets whom it may message, makes a template and previews it,
//! and adds an own number on My profile.
//!
//! Runs when `KURIER_TEST_CHROMIUM` names the Chromium binary (`.ci/run`
//! installs Debian's `chromium` and `chromium-driver` and sets it); skips
//! otherwise. `KURIER_TEST_CHROMEDRIVER` names chromedriver (default: on the
//! PATH). With `KURIER_TEST_SCREENSHOTS` set to a folder, the main pages
//! are saved there as PNG (docs/screenshots/ holds the committed ones).

mod common;

use std::time::{Duration, Instant};

use common::{ADMIN_PASSWORD, Backend, TestApp};
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    process: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Driver {
    async fn start(chromium: &str) -> Self {
        let driver = std::env::var("KURIER_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        // Port 0: it says which port it got (one picked here and freed
        // could be taken by a test alongside first).
        let mut process = tokio::process::Command::new(&driver)
            .arg("--port=0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            // Its own process group, so Chromium goes with it even when a
            // failed assertion skips `quit` (see `Drop`).
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {driver}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        let out = std::fs::File::from(process.stdout.take().unwrap().into_owned_fd().unwrap());
        let said = tokio::task::spawn_blocking(move || {
            common::said(out, &["ChromeDriver was started successfully on port"])
        });
        let said = tokio::time::timeout_at(deadline.into(), said)
            .await
            .expect("chromedriver did not say its port")
            .unwrap();
        let base = format!("http://127.0.0.1:{}", common::port_of(&said.words[0]));
        // Every WebDriver call is bounded, so a browser that hangs fails the
        // test instead of stalling the whole suite.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(90)).build().unwrap();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            "--lang=en-US",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}});
        let resp: Value =
            http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session =
            resp["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {resp}")).to_owned();
        Driver { http, base, session, process, _profile: profile }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp: Value = req.send().await.unwrap().json().await.unwrap();
        resp["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let v = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(v.get("error").is_none(), "{path}: {v}");
        v
    }

    async fn go(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    /// The first element matching `css`, waiting for it a while.
    async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self
                .call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
                .await;
            if let Some(id) = v[ELEMENT].as_str() {
                return id.to_owned();
            }
            assert!(Instant::now() < deadline, "no element {css}: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.post(&format!("/element/{el}/clear"), json!({})).await;
        self.post(&format!("/element/{el}/value"), json!({"text": text})).await;
    }

    async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.post(&format!("/element/{el}/click"), json!({})).await;
    }

    async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{el}/text"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Waits until the text of `css` is `want` (htmx updates it).
    async fn wait_text(&self, css: &str, want: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut seen = Value::Null;
        loop {
            let v = self
                .call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
                .await;
            if let Some(el) = v[ELEMENT].as_str() {
                seen = self.call(reqwest::Method::GET, &format!("/element/{el}/text"), None).await;
                if seen.as_str() == Some(want) {
                    return;
                }
            }
            if Instant::now() >= deadline {
                let page = self.call(reqwest::Method::GET, "/source", None).await;
                panic!(
                    "{css} never showed {want} (last: {seen}); the page:\n{}",
                    page.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("KURIER_TEST_SCREENSHOTS") else { return };
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64_decode(png.as_str().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), bytes).unwrap();
    }

    async fn quit(self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Signalled directly: procps-ng 4.0.2's `kill -KILL -PGID` (Debian 12)
        // sends SIGKILL to every process on the machine (kill(-1)).
        if let Some(pid) = self.process.id().and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 1) {
            // SAFETY: kill(2) with a negative pid signals that process group
            // only; -pid is never -1 (pid > 1) and never 0.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[tokio::test]
async fn an_office_worker_signs_in_sends_imports_and_runs_a_campaign_in_chromium() {
    let Some(chromium) = std::env::var("KURIER_TEST_CHROMIUM").ok().filter(|s| !s.is_empty()) else {
        eprintln!("skipped: set KURIER_TEST_CHROMIUM to a Chromium binary to run the browser test");
        return;
    };
    // A bound on the whole walk: a hung browser fails here, with a message.
    tokio::time::timeout(Duration::from_secs(300), walk_through(&chromium))
        .await
        .expect("the browser walk-through did not finish in 5 minutes");
}

async fn walk_through(chromium: &str) {
    let app = TestApp::start(&Backend::Sqlite).await;
    let (_, group) = app.post("/api/v1/groups", json!({"name": "Drivers"})).await;
    let gid = group["id"].as_str().unwrap().to_owned();
    for (n, name) in [
        ("+48600100300", "Anna Nowak"),
        ("+48600100301", "Piotr Zieliński"),
        ("+359881234567", "Иван Петров"),
    ] {
        app.post("/api/v1/contacts", json!({"phone": n, "name": name, "groups": [gid], "tags": ["night"]}))
            .await;
    }
    let d = Driver::start(chromium).await;
    let url = |p: &str| app.url(p);

    // Sign in.
    d.go(&url("/")).await;
    d.type_into("#username", "admin").await;
    d.type_into("#password", ADMIN_PASSWORD).await;
    d.screenshot("sign-in").await;
    d.click("form button[type=submit]").await;
    d.wait_text("[data-testid=account]", "default", 10).await;

    // Compose: the counter follows the typing, the message goes out and
    // its status turns to delivered without reloading.
    d.go(&url("/compose")).await;
    d.type_into("#to", "+48600100200").await;
    d.type_into("#text", "Zażółć gęślą jaźń").await;
    d.wait_text("[data-testid=encoding]", "ucs2", 10).await;
    d.wait_text("[data-testid=chars]", "17", 10).await;
    d.wait_text("[data-testid=recipients]", "1", 10).await;
    // Ticking a group counts its people too; unticking takes them out again.
    let drivers = format!("input[name=groups][value='{gid}']");
    d.click(&drivers).await;
    d.wait_text("[data-testid=recipients]", "4", 10).await;
    d.click(&drivers).await;
    d.wait_text("[data-testid=recipients]", "1", 10).await;
    d.screenshot("compose").await;
    d.click("form button.primary").await;
    d.wait_text("[data-testid=status]", "delivered", 20).await;
    d.screenshot("compose-sent").await;

    // Import a CSV file with one bad row.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("contacts.csv");
    std::fs::write(&csv, "phone,name\n+48600100400,Ewa\nnot-a-number,Bad\n+48600100401,Olek\n").unwrap();
    d.go(&url("/contacts/import")).await;
    let input = d.find("#file").await;
    d.post(&format!("/element/{input}/value"), json!({"text": csv.display().to_string()})).await;
    d.click("form button.primary").await;
    d.wait_text("[data-testid=import-status]", "completed", 20).await;
    assert_eq!(d.text("[data-testid=imported]").await, "2");
    assert_eq!(d.text("[data-testid=failed]").await, "1");
    d.screenshot("import").await;
    d.go(&url("/contacts")).await;
    d.find("[data-testid=contact-name]").await;
    d.screenshot("contacts").await;

    // Create and run a campaign to the group.
    d.go(&url("/campaigns/new")).await;
    d.type_into("#name", "Night shift").await;
    d.click(&format!("input[name=groups][value='{gid}']")).await;
    d.type_into("#text", "Hi {{ contact.name }}, the shift starts at 22:00").await;
    d.screenshot("campaign-new").await;
    d.click("form button.primary").await;
    d.wait_text("[data-testid=run-delivered]", "3", 30).await;
    d.screenshot("campaign").await;

    // A reply arrives at our short code; it is answered from the inbox,
    // from the number it was sent to.
    app.post("/api/v1/numbers", json!({"number": "7100"})).await;
    app.post(
        "/api/v1/connectors/sim/inbound",
        json!({"from": "+48600100300", "to": "7100", "text": "Can I swap shifts?"}),
    )
    .await;
    d.go(&url("/inbox")).await;
    d.wait_text("[data-testid=inbox-text]", "Can I swap shifts?", 20).await;
    d.screenshot("inbox").await;
    d.click("a[href^='/compose?to=']").await;
    d.wait_text("#from option:checked", "7100", 10).await;
    d.type_into("#text", "Yes, see you on Friday").await;
    d.click("form button.primary").await;
    d.wait_text("[data-testid=status]", "delivered", 20).await;
    let (_, sent) = app.get("/api/v1/messages?direction=outbound&q=Friday").await;
    assert_eq!(sent["messages"][0]["to"], "+48600100300");
    assert_eq!(sent["messages"][0]["from"], "7100");
    // A poll made in the browser; votes arrive by SMS and its chart shows
    // them without reloading the page.
    d.go(&url("/polls")).await;
    d.type_into("#name", "Lunch").await;
    d.type_into("#question", "What shall we order on Friday?").await;
    d.type_into("#answers", "A: Pizza\nB: Żurek\nC: Pierogi").await;
    d.click("form button.primary").await;
    d.wait_text("[data-testid=poll-counted]", "0", 10).await;
    app.post(
        "/api/v1/keywords",
        json!({"number": "7100", "keyword": "VOTE", "actions": [{"type": "poll_answer", "poll": "Lunch"}]}),
    )
    .await;
    for (from, text) in
        [("+48600100300", "VOTE b"), ("+48600100301", "vote żurek"), ("+359881234567", "VOTE A")]
    {
        app.post("/api/v1/connectors/sim/inbound", json!({"from": from, "to": "7100", "text": text})).await;
    }
    d.wait_text("[data-testid=poll-counted]", "3", 20).await;
    assert_eq!(d.text("[data-testid=poll-answer][data-key=B] [data-testid=poll-votes]").await, "2");
    assert_eq!(d.text("[data-testid=poll-answer][data-key=C] [data-testid=poll-votes]").await, "0");
    d.screenshot("poll").await;
    d.go(&url("/numbers")).await;
    d.find("[data-testid=number]").await;
    d.screenshot("numbers").await;
    d.go(&url("/reports?by=country")).await;
    d.find("[data-testid=report-row]").await;
    d.screenshot("reports").await;

    // The administration pages: connectors with their settings and routes,
    // the operator's prices and packages, the account's settings, users.
    let (s, t) = app
        .post(
        "/api/v1/tariffs",
        json!({"name": "Standard EUR", "currency": "EUR", "inbound_price": "0.01", "number_monthly_fee": "5.00",
            "prices": [{"prefix": "+48", "price": "0.05", "description": "Poland"},
                {"prefix": "+4860", "price": "0.04", "description": "Poland mobile"},
                {"prefix": "+359", "price": "0.07", "description": "Bulgaria"}]}),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    let (s, p) = app
        .post(
            "/api/v1/packages",
            json!({"name": "Business 1000", "currency": "EUR", "included_messages": 1000, "overage_price": "0.04",
                "monthly_fee": "30.00"}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    d.go(&url("/connectors")).await;
    d.find("[data-testid=connector-settings]").await;
    d.click("[data-testid=connector-settings] summary").await;
    d.screenshot("connectors").await;
    d.go(&url("/operator/prices")).await;
    d.find("[data-testid=package-row]").await;
    d.screenshot("prices").await;
    d.go(&url("/settings")).await;
    d.find("#time_zone").await;
    d.screenshot("settings").await;
    d.go(&url("/users")).await;
    d.find("[data-testid=user-row]").await;
    d.screenshot("users").await;

    // The dashboard shows what happened.
    d.go(&url("/")).await;
    d.wait_text("[data-testid=delivered]", "5", 10).await;
    d.screenshot("dashboard").await;
    d.go(&url("/messages")).await;
    d.find("[data-testid=text]").await;
    d.screenshot("messages").await;

    // People and access: a user group with a member, whom it may message;
    // a template and its preview for a contact; the sender IDs; My profile
    // with an own number waiting for its code.
    let (s, u) = app
        .post(
            "/api/v1/users",
            json!({"username": "piotr", "display_name": "Piotr Zieliński", "role": "sender"}),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    d.go(&url("/user-groups")).await;
    d.type_into("#name", "Dispatchers").await;
    d.click("input[name=members][value=piotr]").await;
    d.click("form button.primary").await;
    d.find("[data-testid=user-group]").await;
    d.click("[data-testid=user-group] a[href^='/permissions/user-groups/']").await;
    d.click(&format!("input[name=groups][value='{gid}']")).await;
    d.type_into("#tags", "#night").await;
    d.click("form button.primary").await;
    d.wait_text("[data-testid=rule-state]", "A rule is set; saving replaces it.", 10).await;
    let (_, rules) = app.get("/api/v1/permissions").await;
    assert_eq!(rules["permissions"][0]["groups"][0]["name"], "Drivers", "{rules}");
    assert_eq!(rules["permissions"][0]["tags"], json!(["#night"]), "{rules}");
    d.go(&url("/user-groups")).await;
    d.find("[data-testid=user-group]").await;
    d.screenshot("user-groups").await;

    d.go(&url("/templates")).await;
    d.type_into("#name", "Reminder").await;
    d.type_into(
        "#body",
        "Dzień dobry {{ contact.first_name }}, do zapłaty {{ data.amount }} zł do {{ data.due | date }}.",
    )
    .await;
    d.click("form button.primary").await;
    d.type_into("#phone", "+48600100300").await;
    d.type_into("#data", r#"{"amount": "120,00", "due": "2026-12-10"}"#).await;
    d.click("button[name=preview]").await;
    d.wait_text("[data-testid=preview-text]", "Dzień dobry Anna, do zapłaty 120,00 zł do 10.12.2026.", 10)
        .await;
    assert_eq!(d.text("[data-testid=preview-encoding]").await, "ucs2");
    d.screenshot("templates").await;

    for (sender, default) in [("Kurier", true), ("Shop", false)] {
        app.post("/api/v1/sender-ids", json!({"sender": sender, "default": default})).await;
    }
    d.go(&url("/sender-ids")).await;
    d.find("[data-testid=default-sender]").await;
    d.screenshot("sender-ids").await;

    d.go(&url("/profile")).await;
    d.type_into("#time_zone", "Europe/Warsaw").await;
    d.click("form[action^='/profile?'] button").await;
    d.find("[data-testid=saved]").await;
    d.type_into("#phone", "+48600100555").await;
    d.click("form[action^='/profile/numbers?'] button").await;
    d.find("[data-testid=code-sent]").await;
    d.find("[data-testid=own-number]").await;
    d.post(
        "/execute/sync",
        json!({"script": "document.getElementById('numbers').scrollIntoView()", "args": []}),
    )
    .await;
    d.screenshot("profile").await;

    // On a phone screen the navigation wraps and nothing needs scrolling sideways.
    d.post("/window/rect", json!({"width": 390, "height": 844})).await;
    d.go(&url("/")).await;
    let overflow = d
        .post("/execute/sync", json!({"script": "return document.documentElement.scrollWidth > window.innerWidth + 1", "args": []}))
        .await;
    assert_eq!(overflow, json!(false), "the dashboard scrolls sideways on a phone");
    d.screenshot("dashboard-phone").await;

    // The session ends while the dashboard is open (signed out from
    // elsewhere): its live part stops and the page goes to sign in.
    d.find("[data-testid=delivered]").await;
    d.post(
        "/execute/sync",
        json!({"script": "fetch(document.querySelector('form[action^=\"/signout\"]').action, {method: 'POST'})", "args": []}),
    )
    .await;
    d.find("#username").await;
    let at = d.call(reqwest::Method::GET, "/url", None).await;
    assert!(at.as_str().unwrap_or("").ends_with("/signin"), "{at}");

    d.quit().await;
    app.stop().await;
}
