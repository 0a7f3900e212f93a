//! The web UI over HTTP as a browser without JavaScript meets it: signing
//! in, pages in the user's language, forms that send, save and import
//! through the API's handlers with errors next to their fields, and no way
//! to inject markup through data. (`web_browser.rs` drives real Chromium.)

mod common;

use std::time::Duration;

use common::{Backend, TestApp, on_each_backend};
use serde_json::json;

/// A browser without JavaScript: keeps the session cookie, follows nothing
/// by itself, reads the CSRF token from the pages.
struct Browser {
    app: TestApp,
    http: reqwest::Client,
    cookies: Vec<String>,
    csrf: String,
}

struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    async fn open(backend: &Backend) -> Self {
        Self::open_with(backend, |_| {}).await
    }

    async fn open_with(backend: &Backend, tweak: impl FnOnce(&mut kurier::config::Config)) -> Self {
        let app = TestApp::start_with(backend, tweak).await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { app, http, cookies: Vec::new(), csrf: String::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.join("; ")
    }

    fn keep_cookies(&mut self, resp: &reqwest::Response) {
        for c in resp.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            self.cookies.retain(|k| !k.starts_with(&format!("{name}=")));
            if !pair.ends_with('=') {
                self.cookies.push(pair);
            }
        }
    }

    async fn read(&mut self, resp: reqwest::Response) -> Page {
        self.keep_cookies(&resp);
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        let body = resp.text().await.unwrap();
        if let Some(i) = body.find("_csrf=") {
            let token: String = body[i + 6..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
            if !token.is_empty() {
                self.csrf = token;
            }
        }
        Page { status, location, body }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.get_with(path, &[]).await
    }

    async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = self.http.get(self.app.url(path)).header("cookie", self.cookie_header());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        self.read(resp).await
    }

    /// Posts a form as a browser does (urlencoded), with the page's token.
    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = self.app.url(&format!("{path}{sep}_csrf={}", self.csrf));
        self.post_raw(&url, form).await
    }

    async fn post_raw(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let body = form.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        let resp = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.read(resp).await
    }

    async fn sign_in(&mut self) {
        let page = self.get("/").await;
        assert_eq!(page.status, 303, "a page without a session sends to sign in");
        assert_eq!(page.location.as_deref(), Some("/signin"));
        let url = self.app.url("/signin");
        let page = self.post_raw(&url, &[("username", "admin"), ("password", common::ADMIN_PASSWORD)]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = self.get("/").await;
        assert_eq!(page.status, 200, "{}", page.body);
    }

    /// Signs in as another user, leaving any earlier session behind.
    async fn sign_in_as(&mut self, username: &str, password: &str) {
        self.cookies.clear();
        let url = self.app.url("/signin");
        let page = self.post_raw(&url, &[("username", username), ("password", password)]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = self.get("/").await;
        assert_eq!(page.status, 200, "{}", page.body);
    }

    async fn stop(self) {
        self.app.stop().await;
    }
}

/// Another account, `bravo`, with an owner who signs in as `bravo-owner`
/// / `bravo-password-1`; returns bravo's API key.
async fn bravo_with_owner(b: &Browser) -> String {
    let store = b.app.app.as_ref().unwrap().store.clone();
    let (_, key) = store.create_account("bravo").await.unwrap();
    let (s, u) = b
        .app
        .call_as(
            &key,
            "POST",
            "/api/v1/users",
            Some(json!({"username": "bravo-owner", "password": "bravo-password-1", "role": "owner"})),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    key
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn pages_need_a_sign_in_and_then_show_the_account() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        let url = b.app.url("/signin");
        let page = b.post_raw(&url, &[("username", "admin"), ("password", "wrong-password")]).await;
        assert_eq!(page.status, 401);
        assert!(page.body.contains("wrong"), "{}", page.body);
        assert!(b.cookies.is_empty(), "no session for a wrong password");
        b.sign_in().await;
        let page = b.get("/").await;
        assert!(page.body.contains(r#"data-testid="account">default<"#), "the account's name is shown");
        assert!(page.body.contains(r#"data-testid="role">admin · owner<"#), "name and role: {}", page.body);
        assert!(page.body.contains(r#"href="/settings""#), "an owner sees the account's settings");
        // Signing out ends it.
        let page = b.post("/signout", &[]).await;
        assert_eq!(page.status, 303);
        assert_eq!(b.get("/").await.status, 303);
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_form_without_its_token_changes_nothing() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let url = b.app.url("/compose");
        let page = b.post_raw(&url, &[("to", "+48600100200"), ("text", "forged")]).await;
        assert_eq!(page.status, 403, "{}", page.body);
        // A stale token (a page left open across a sign-out and in): an
        // error page that says what to do, not the API's JSON.
        let stale = b.app.url("/compose?_csrf=0123456789abcdef");
        let page = b.post_raw(&stale, &[("to", "+48600100200"), ("text", "stale")]).await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.body.contains("<html"), "{}", page.body);
        assert!(page.body.contains("reload the page and try again"), "{}", page.body);
        let (_, list) = b.app.get("/api/v1/messages").await;
        assert_eq!(list["messages"].as_array().unwrap().len(), 0);
        // The audit log's interface filter offers every interface the log has.
        let page = b.get("/audit").await;
        assert_eq!(page.status, 200, "{}", page.body);
        for via in ["api", "ui", "cli"] {
            assert!(page.body.contains(&format!(r#"<option value="{via}""#)), "{via}: {}", page.body);
        }
        let page = b.get("/audit?via=cli").await;
        assert!(page.body.contains(r#"<option value="cli" selected>"#), "{}", page.body);
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn markup_in_a_contact_name_or_a_message_text_is_shown_as_text() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        let evil_name = r#"<script>alert("name")</script><img src=x onerror=alert(1)>"#;
        let evil_text = r#"Hi <b>there</b><script>alert('text')</script>" onmouseover="x"#;
        let (status, contact) = b
            .app
            .post("/api/v1/contacts", json!({"phone": "+48600100200", "name": evil_name, "tags": ["vip"]}))
            .await;
        assert_eq!(status, 201, "{contact}");
        let id = b.app.send(json!({"to": "+48600100200", "text": evil_text})).await;
        b.sign_in().await;
        let cid = contact["id"].as_str().unwrap();
        for path in [
            "/contacts".to_owned(),
            format!("/contacts/{cid}"),
            "/messages".into(),
            format!("/messages/{id}"),
        ] {
            let page = b.get(&path).await;
            assert_eq!(page.status, 200, "{path}");
            for raw in ["<script>alert", "<img src=x", "<b>there</b>", "\" onmouseover="] {
                assert!(!page.body.contains(raw), "{path} shows {raw} unescaped");
            }
            assert!(
                page.body.contains("&lt;script&gt;") || page.body.contains("&#60;script&#62;"),
                "{path} shows the text, escaped"
            );
        }
        // The compose form echoes what was typed, escaped too.
        let page = b.post("/compose", &[("to", "not a number"), ("text", evil_text)]).await;
        assert_eq!(page.status, 422);
        assert!(!page.body.contains("<script>alert"));
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn compose_sends_through_the_api_and_puts_errors_at_their_field() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let page = b.get("/compose").await;
        assert_eq!(page.status, 200);
        // A bad number: the API's message, next to the recipients field.
        let page = b.post("/compose", &[("to", "12"), ("text", "Hello")]).await;
        assert_eq!(page.status, 422);
        let at_field = page.body.split(r#"id="to-error">"#).nth(1).unwrap();
        assert!(at_field.starts_with("no valid recipient"), "{at_field}");
        assert!(page.body.contains(">Hello</textarea>"), "what was typed is kept");
        // An empty text: at the text field.
        let page = b.post("/compose", &[("to", "+48600100200"), ("text", "")]).await;
        assert_eq!(page.status, 422);
        assert!(page.body.split(r#"id="text-error">"#).nth(1).unwrap().starts_with("the text is empty"));
        // A good one is accepted, listed with a status that updates itself.
        let page = b.post("/compose", &[("to", "+48600100200, +48600100201"), ("text", "Zażółć")]).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(r#"data-testid="send-result""#));
        let (_, list) = b.app.get("/api/v1/messages").await;
        let messages = list["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2);
        let id = messages[0]["id"].as_str().unwrap().to_owned();
        let poll = statuses_poll(&page.body).expect("the statuses are polled");
        assert!(poll.contains(&format!("id={id}")), "{poll}");
        b.app.wait_for_status(&id, "delivered").await;
        b.app.wait_until_settled().await;
        let rows = b.get(&poll).await;
        assert_eq!(rows.status, 200, "{}", rows.body);
        assert_eq!(rows.body.matches(">delivered<").count(), 2, "{}", rows.body);
        assert!(!rows.body.contains("hx-trigger"), "final statuses stop polling: {}", rows.body);
        b.stop().await;
    })
    .await;
}

/// The compose form carries a key of its own: the same form posted again
/// (a refresh of the result, a second click) shows the first answer and
/// sends nothing again; the result's form has a new key for the next send.
#[tokio::test]
async fn posting_the_same_compose_form_twice_sends_once() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let page = b.get("/compose").await;
        let key = idempotency_key(&page.body).expect("the form has a key");
        let form = [("to", "+48600100200"), ("text", "Once"), ("idempotency_key", key.as_str())];
        let first = b.post("/compose", &form).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let again = b.post("/compose", &form).await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert!(again.body.contains(r#"data-testid="send-result""#), "{}", again.body);
        let (_, list) = b.app.get("/api/v1/messages").await;
        assert_eq!(list["messages"].as_array().unwrap().len(), 1, "{list}");
        let next = idempotency_key(&first.body).unwrap();
        assert_ne!(next, key, "the next send has a key of its own");
        // A refused form keeps its key: corrected, it sends once.
        let page = b.get("/compose").await;
        let key = idempotency_key(&page.body).unwrap();
        let refused =
            b.post("/compose", &[("to", "+48600100201"), ("text", ""), ("idempotency_key", &key)]).await;
        assert_eq!(refused.status, 422);
        assert_eq!(idempotency_key(&refused.body).unwrap(), key);
        let sent =
            b.post("/compose", &[("to", "+48600100201"), ("text", "Fixed"), ("idempotency_key", &key)]).await;
        assert_eq!(sent.status, 200, "{}", sent.body);
        let (_, list) = b.app.get("/api/v1/messages").await;
        assert_eq!(list["messages"].as_array().unwrap().len(), 2, "{list}");

        // The conversation's reply form too.
        b.app.post("/api/v1/numbers", json!({"number": "7100"})).await;
        b.app
            .post(
                "/api/v1/connectors/sim/inbound",
                json!({"from": "+48600100700", "to": "7100", "text": "Hello?"}),
            )
            .await;
        let thread = "/conversations/%2B48600100700";
        let mut page = b.get(thread).await;
        for _ in 0..200 {
            if page.body.contains("Hello?") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
            page = b.get(thread).await;
        }
        let key = idempotency_key(&page.body).expect("the reply form has a key");
        let reply = [("text", "Yes"), ("idempotency_key", key.as_str())];
        assert_eq!(b.post(&format!("{thread}/reply"), &reply).await.status, 303);
        assert_eq!(b.post(&format!("{thread}/reply"), &reply).await.status, 303);
        let (_, list) = b.app.get("/api/v1/messages?direction=outbound").await;
        assert_eq!(list["messages"].as_array().unwrap().len(), 3, "{list}");
        b.stop().await;
    })
    .await;
}

/// The idempotency key a page's send form carries.
fn idempotency_key(body: &str) -> Option<String> {
    let at = body.find(r#"name="idempotency_key" value=""#)?;
    Some(body[at + 30..].split('"').next()?.to_owned())
}

/// The URL the compose result polls for its rows' statuses, if it polls.
fn statuses_poll(body: &str) -> Option<String> {
    let at = body.find(r#"hx-get="/messages/statuses?"#)?;
    let url = body[at + 8..].split('"').next()?;
    Some(url.replace("&amp;", "&").replace("&#38;", "&"))
}

/// A send to many numbers lists the first rows live, polled together and
/// less often as time goes on, not one poll per message every second.
#[tokio::test]
async fn a_large_send_polls_the_first_rows_together() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        b.get("/compose").await;
        let to: Vec<String> = (0..200).map(|i| format!("+48600{i:06}")).collect();
        let page = b.post("/compose", &[("to", &to.join(", ")), ("text", "Hi")]).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(r#"data-testid="sent-count">200<"#), "{}", page.body);
        let rows = page.body.matches(r#"data-testid="status""#).count();
        assert_eq!(rows, 50, "the first 50 rows: {}", page.body);
        assert_eq!(page.body.matches(r#"hx-get="/messages/"#).count(), 1, "one poll: {}", page.body);
        assert!(page.body.contains(r#"data-testid="more-rows""#), "{}", page.body);
        let poll = statuses_poll(&page.body).expect("polled");
        assert!(poll.contains("n=1"), "{poll}");
        assert!(page.body.contains(r#"hx-trigger="load delay:1s""#), "{}", page.body);
        assert_eq!(poll.matches("id=").count(), 50, "{poll}");
        // Each answer polls again later, until every row is final.
        let later = b.get(&poll.replace("n=1", "n=30")).await;
        assert_eq!(later.status, 200, "{}", later.body);
        assert_eq!(later.body.matches(r#"data-testid="status""#).count(), 50);
        if later.body.contains("hx-trigger") {
            assert!(later.body.contains(r#"hx-trigger="load delay:60s""#), "{}", later.body);
        }
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn compose_reaches_groups_and_tags() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        let (_, group) = b.app.post("/api/v1/groups", json!({"name": "Kierowcy"})).await;
        let gid = group["id"].as_str().unwrap().to_owned();
        b.app.post("/api/v1/contacts", json!({"phone": "+48600100300", "groups": [gid]})).await;
        b.app.post("/api/v1/contacts", json!({"phone": "+48600100301", "tags": ["nocna"]})).await;
        b.sign_in().await;
        let page = b.post("/compose", &[("to", "#nocna"), ("groups", &gid), ("text", "Zmiana")]).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let (_, list) = b.app.get("/api/v1/messages").await;
        let mut to: Vec<_> =
            list["messages"].as_array().unwrap().iter().map(|m| m["to"].as_str().unwrap()).collect();
        to.sort();
        assert_eq!(to, ["+48600100300", "+48600100301"]);
        b.stop().await;
    })
    .await;
}

/// More typed numbers than a send takes: the counter says so, as the send
/// does, and counts or prices none of them.
#[tokio::test]
async fn the_counter_refuses_more_numbers_than_a_send_takes() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open_with(&backend, |c| c.messages.max_recipients = 3).await;
        b.sign_in().await;
        let four = "+48600100200, +48600100201, +48600100202, +48600100203";
        let page = b.post("/compose/counter", &[("to", four), ("text", "Hi")]).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let said = field_error(&page.body, "reach-problem");
        assert_eq!(said, "at most 3 recipients per request, got 4", "{}", page.body);
        assert!(!page.body.contains(r#"data-testid="recipients""#), "{}", page.body);
        let sent = b.post("/compose", &[("to", four), ("text", "Hi")]).await;
        assert_eq!(sent.status, 422);
        assert!(sent.body.split(r#"id="to-error">"#).nth(1).unwrap().starts_with(&said), "{}", sent.body);
        let three = "+48600100200, +48600100201, +48600100202";
        let page = b.post("/compose/counter", &[("to", three), ("text", "Hi")]).await;
        assert!(page.body.contains(r#"data-testid="recipients">3<"#), "{}", page.body);
        assert!(!page.body.contains("reach-problem"), "{}", page.body);
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_counter_counts_characters_encoding_and_segments_as_the_api_does() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let page = b.post("/compose/counter", &[("text", &"a".repeat(161))]).await;
        assert!(page.body.contains(r#"data-testid="segments">2<"#), "{}", page.body);
        assert!(page.body.contains(r#"data-testid="encoding">gsm7<"#));
        let page = b.post("/compose/counter", &[("text", "Привет")]).await;
        assert!(page.body.contains(r#"data-testid="encoding">ucs2<"#), "{}", page.body);
        assert!(page.body.contains(r#"data-testid="chars">6<"#));
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_language_follows_the_browser_or_the_users_choice() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let page = b.get_with("/", &[("accept-language", "pl-PL,pl;q=0.9,en;q=0.5")]).await;
        assert!(page.body.contains(r#"<html lang="pl">"#));
        assert!(page.body.contains("Pulpit"));
        let page = b.get_with("/", &[("accept-language", "de")]).await;
        assert!(page.body.contains("Dashboard"));
        let page = b.post("/language", &[("lang", "bg"), ("back", "/contacts")]).await;
        assert_eq!(page.location.as_deref(), Some("/contacts"));
        let page = b.get_with("/contacts", &[("accept-language", "pl")]).await;
        assert!(page.body.contains(r#"<html lang="bg">"#), "the choice wins over the browser");
        assert!(page.body.contains("Контакти"));
        // Never redirects off the site.
        let page = b.post("/language", &[("lang", "ru"), ("back", "//evil.example/")]).await;
        assert_eq!(page.location.as_deref(), Some("/"));
        for back in ["/\\evil.example/", "/\\/evil.example/", "/\t/evil.example/"] {
            let page = b.post("/language", &[("lang", "ru"), ("back", back)]).await;
            assert_eq!(page.location.as_deref(), Some("/"), "{back:?}");
        }
        let page = b.get("/").await;
        assert!(page.body.contains("Обзор"));
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_dashboard_counts_messages_and_streams_updates() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        let id = b.app.send(json!({"to": "+48600100200", "text": "one"})).await;
        b.app.wait_for_status(&id, "delivered").await;
        b.sign_in().await;
        let page = b.get("/").await;
        assert!(page.body.contains(r#"data-testid="delivered">1<"#), "{}", page.body);
        assert!(page.body.contains(r#"data-testid="sent">1<"#));
        assert!(page.body.contains("<svg class=\"chart\""));
        // The message is in the last bar (the one before if the hour turned meanwhile).
        let bars = outbound_bars(&page.body);
        assert_eq!(
            (bars.len(), bars[22..].iter().sum::<i64>(), bars.iter().sum::<i64>()),
            (24, 1, 1),
            "{bars:?}"
        );
        assert!(page.body.contains("sim"), "the connector is listed");
        let page = b.get("/?range=30d").await;
        let bars = outbound_bars(&page.body);
        assert_eq!(
            (bars.len(), bars[28..].iter().sum::<i64>(), bars.iter().sum::<i64>()),
            (30, 1, 1),
            "{bars:?}"
        );
        // The live stream's first event carries the counts.
        let resp = b
            .http
            .get(b.app.url("/dashboard/live"))
            .header("cookie", b.cookie_header())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let mut resp = resp;
        let chunk =
            tokio::time::timeout(Duration::from_secs(5), resp.chunk()).await.unwrap().unwrap().unwrap();
        let text = String::from_utf8_lossy(&chunk);
        assert!(text.starts_with("event: live"), "{text}");
        assert!(text.contains(r#"data-testid="delivered">1<"#));
        b.stop().await;
    })
    .await;
}

/// The outbound count of each bar of the dashboard's chart, in order.
fn outbound_bars(body: &str) -> Vec<i64> {
    body.split(r#"<rect class="out""#)
        .skip(1)
        .map(|bar| {
            let title = bar.split("<title>").nth(1).and_then(|t| t.split('<').next()).unwrap_or_default();
            title.parse().unwrap_or_else(|_| panic!("a bar's title is its count: {bar}"))
        })
        .collect()
}

/// Opens the dashboard's live stream with the browser's session and reads
/// its first event.
async fn live_stream(b: &Browser) -> reqwest::Response {
    let mut resp =
        b.http.get(b.app.url("/dashboard/live")).header("cookie", b.cookie_header()).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk()).await.unwrap().unwrap().unwrap();
    assert!(String::from_utf8_lossy(&chunk).starts_with("event: live"));
    resp
}

/// Whether the stream ends within a few of its 2-second ticks, its last
/// event saying so (`ended`, which the page's event source closes on).
async fn stream_ends(mut resp: reqwest::Response) -> bool {
    let mut last = String::new();
    let read_all = async {
        while let Ok(Some(chunk)) = resp.chunk().await {
            last = String::from_utf8_lossy(&chunk).into_owned();
        }
    };
    tokio::time::timeout(Duration::from_secs(8), read_all).await.is_ok() && last.starts_with("event: ended")
}

#[tokio::test]
async fn the_live_dashboard_stops_when_its_session_ends() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let page = b.get("/").await;
        // The page closes its event source on `ended` (no reconnection) and
        // asks for itself, which sends the whole window to sign in.
        assert!(page.body.contains(r#"sse-connect="/dashboard/live" sse-close="ended""#), "{}", page.body);
        assert!(page.body.contains(r#"hx-get="/" hx-trigger="sse:ended""#), "{}", page.body);
        let stream = live_stream(&b).await;
        b.get("/").await;
        let page = b.post("/signout", &[]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert!(stream_ends(stream).await, "signed out: no more figures");

        let (s, u) = b
            .app
            .post("/api/v1/users", json!({"username": "sam", "password": "sam-password-1", "role": "viewer"}))
            .await;
        assert_eq!(s, 201, "{u}");
        b.sign_in_as("sam", "sam-password-1").await;
        let stream = live_stream(&b).await;
        let (s, _) = b
            .app
            .patch(&format!("/api/v1/users/{}", u["user"]["id"].as_str().unwrap()), json!({"disabled": true}))
            .await;
        assert_eq!(s, 200);
        assert!(stream_ends(stream).await, "disabled: no more figures");
        let resp = b
            .http
            .get(b.app.url("/dashboard/live"))
            .header("cookie", b.cookie_header())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "the browser's reconnection is sent to sign in");
        let resp = b
            .http
            .get(b.app.url("/"))
            .header("cookie", b.cookie_header())
            .header("hx-request", "true")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["hx-redirect"], "/signin", "the page's request after `ended`");
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn contacts_are_created_edited_and_listed_with_errors_at_their_field() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let page = b.post("/groups", &[("name", "Klienci"), ("description", "")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.post("/groups", &[("name", "klienci")]).await;
        assert_eq!(page.status, 409, "a group name is unique whatever the case");
        let (_, groups) = b.app.get("/api/v1/groups").await;
        let gid = groups["groups"][0]["id"].as_str().unwrap().to_owned();
        b.get("/contacts/new").await;
        let page = b.post("/contacts", &[("phone", "nonsense"), ("name", "Ala")]).await;
        assert_eq!(page.status, 422);
        assert!(!page.body.split(r#"id="phone-error">"#).nth(1).unwrap().starts_with('<'), "{}", page.body);
        let page = b
            .post(
                "/contacts",
                &[("phone", "+48 600 100 200"), ("name", "Łukasz"), ("tags", "#nocna vip"), ("groups", &gid)],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let edit = page.location.unwrap();
        let page = b.get(&edit).await;
        assert!(page.body.contains("value=\"Łukasz\""));
        assert!(page.body.contains("#nocna #vip") || page.body.contains("#vip #nocna"), "{}", page.body);
        let id = edit.trim_start_matches("/contacts/").split('?').next().unwrap().to_owned();
        let page = b
            .post(
                &format!("/contacts/{id}"),
                &[("phone", "+48600100200"), ("name", "Łukasz W."), ("tags", "")],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, c) = b.app.get(&format!("/api/v1/contacts/{id}")).await;
        assert_eq!(c["name"], "Łukasz W.");
        assert_eq!(c["tags"], json!([]));
        assert_eq!(c["groups"], json!([]), "unticked groups are left");
        let page = b.get("/contacts?q=lukasz").await;
        assert!(page.body.contains("Łukasz W."), "search ignores accents");
        let page = b.get("/contacts?q=nobody").await;
        assert!(!page.body.contains("Łukasz W."));
        let csv = b.get("/contacts/export.csv").await;
        assert_eq!(csv.status, 200);
        assert!(csv.body.contains("+48600100200"));
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn no_site_can_frame_a_page_and_downloads_are_not_kept() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let get = |path: &'static str, cookie: String| {
            let req = b.http.get(b.app.url(path)).header("cookie", cookie);
            async move { req.send().await.unwrap() }
        };
        let signed_in = b.cookie_header();
        for (path, cookie) in [
            ("/signin", String::new()),
            ("/", signed_in.clone()),
            ("/contacts", signed_in.clone()),
            ("/contacts/export.csv", signed_in.clone()),
            ("/preferences/not-a-link", String::new()),
            ("/static/htmx.min.js", String::new()),
        ] {
            let resp = get(path, cookie).await;
            let h = resp.headers();
            let header = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            assert_eq!(header("x-frame-options"), "DENY", "{path}");
            assert_eq!(header("content-security-policy"), "frame-ancestors 'none'", "{path}");
            assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
            assert_eq!(header("referrer-policy"), "same-origin", "{path}");
        }
        let csv = get("/contacts/export.csv", signed_in).await;
        assert_eq!(csv.headers()["cache-control"], "no-store", "a download is not kept in the browser");
        let api = b
            .app
            .http
            .get(b.app.url("/api/v1/exports/messages.csv"))
            .bearer_auth(common::API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), 200);
        assert_eq!(api.headers()["cache-control"], "no-store");
        assert_eq!(api.headers()["x-content-type-options"], "nosniff");
        b.stop().await;
    })
    .await;
}

/// A multipart/form-data body with one file and one text field.
fn multipart(file_name: &str, content: &str, group: &str) -> (String, String) {
    let boundary = "----kurierTestBoundary7";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n{content}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"group\"\r\n\r\n{group}\r\n--{boundary}--\r\n"
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn an_import_shows_progress_and_offers_its_error_report() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        b.get("/contacts/import").await;
        let (kind, body) =
            multipart("k.csv", "phone,name\n+48600100200,Ala\nnot-a-number,Bad\n+48600100201,Ola\n", "");
        let resp = b
            .http
            .post(b.app.url(&format!("/contacts/import?_csrf={}", b.csrf)))
            .header("cookie", b.cookie_header())
            .header("content-type", kind)
            .body(body)
            .send()
            .await
            .unwrap();
        let page = b.read(resp).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let job = page.location.unwrap();
        let mut last = String::new();
        for _ in 0..200 {
            let page = b.get(&job).await;
            if page.body.contains(r#"data-status="completed""#) {
                last = page.body;
                break;
            }
            last = page.body;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(last.contains(r#"data-testid="imported">2<"#), "{last}");
        assert!(last.contains(r#"data-testid="failed">1<"#));
        let errors = b.get(&format!("{job}/errors.csv")).await;
        assert_eq!(errors.status, 200);
        assert!(errors.body.contains("not-a-number"), "{}", errors.body);
        // An empty file: the API's reason at the file field.
        let (kind, body) = multipart("e.csv", "", "");
        let resp = b
            .http
            .post(b.app.url(&format!("/contacts/import?_csrf={}", b.csrf)))
            .header("cookie", b.cookie_header())
            .header("content-type", kind)
            .body(body)
            .send()
            .await
            .unwrap();
        let page = b.read(resp).await;
        assert_eq!(page.status, 422);
        assert!(!page.body.split(r#"id="file-error">"#).nth(1).unwrap().starts_with('<'));
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_campaign_is_created_from_the_form_runs_and_reports() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        let (_, group) = b.app.post("/api/v1/groups", json!({"name": "Kierowcy"})).await;
        let gid = group["id"].as_str().unwrap().to_owned();
        for n in ["+48600100300", "+48600100301", "+48600100302"] {
            b.app.post("/api/v1/contacts", json!({"phone": n, "name": "Jan", "groups": [gid]})).await;
        }
        b.sign_in().await;
        b.get("/campaigns/new").await;
        // A rule that fires too often: the API's reason at the field, nothing created.
        let page = b
            .post(
                "/campaigns",
                &[("name", "Spam"), ("text", "x"), ("groups", &gid), ("rrule", "FREQ=SECONDLY")],
            )
            .await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!page.body.split(r#"id="rrule-error">"#).nth(1).unwrap().starts_with('<'), "{}", page.body);
        let (_, list) = b.app.get("/api/v1/campaigns").await;
        assert_eq!(list["campaigns"].as_array().unwrap().len(), 0);
        // A NUL character is refused at its field, as the API refuses it
        // (PostgreSQL cannot store one): on both backends, nothing made.
        let page = b.post("/campaigns", &[("name", "a\0b"), ("text", "x"), ("groups", &gid)]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        let at_field = page.body.split(r#"id="name-error">"#).nth(1).unwrap();
        assert!(at_field.starts_with("must not hold a NUL character"), "{at_field}");
        let (_, list) = b.app.get("/api/v1/campaigns").await;
        assert_eq!(list["campaigns"].as_array().unwrap().len(), 0);
        let page = b
            .post(
                "/campaigns",
                &[
                    ("name", "Zmiana"),
                    ("text", "Hi {{ contact.name }}"),
                    ("groups", &gid),
                    ("repeat", "once"),
                    ("start", "on"),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let url = page.location.unwrap();
        let mut body = String::new();
        for _ in 0..400 {
            body = b.get(&url).await.body;
            if body.contains(r#"data-testid="run-delivered">3<"#) {
                break;
            }
            assert!(
                body.contains(r#"hx-trigger="every 1s""#),
                "the progress refreshes until every message has its outcome: {body}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(body.contains(r#"data-testid="run-delivered">3<"#), "{body}");
        let report = b.get(&format!("{url}/runs/1")).await;
        assert_eq!(report.status, 200);
        assert!(report.body.contains("<svg class=\"chart\""));
        let csv = b.get(&format!("{url}/runs/1/messages.csv")).await;
        assert_eq!(csv.status, 200);
        assert!(csv.body.contains("Hi Jan"), "{}", csv.body);
        let list = b.get("/campaigns").await;
        assert!(list.body.contains("Zmiana"));
        // A recurring one: the choice becomes a rule the API accepts.
        let page = b
            .post(
                "/campaigns",
                &[
                    ("name", "Weekly"),
                    ("text", "Briefing"),
                    ("groups", &gid),
                    ("repeat", "weekly"),
                    ("send_at", "2030-01-07T09:00"),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.get(&page.location.unwrap()).await;
        assert!(page.body.contains("FREQ=WEEKLY;BYHOUR=9;BYMINUTE=0"), "{}", page.body);
        // Started and waiting for its time: it can be paused or canceled,
        // and its progress refreshes, so the run shows when it opens.
        let (status, c) = b
            .app
            .post(
                "/api/v1/campaigns",
                json!({"name": "Later", "text": "Hi", "groups": [gid], "send_at": "2030-01-07T09:00:00Z", "start": true}),
            )
            .await;
        assert_eq!(status, 201, "{c}");
        assert_eq!(c["campaign"]["status"], "scheduled");
        let later = format!("/campaigns/{}", c["campaign"]["id"].as_str().unwrap());
        let page = b.get(&later).await;
        for action in ["pause", "cancel"] {
            assert!(page.body.contains(&format!("{later}/action/{action}?")), "{action}: {}", page.body);
        }
        assert!(page.body.contains(r#"hx-trigger="every 1s""#), "{}", page.body);
        let paused = b.post(&format!("{later}/action/pause"), &[]).await;
        assert_eq!(paused.status, 303, "{}", paused.body);
        let (_, c) = b.app.get(&format!("/api/v1{later}")).await;
        assert_eq!(c["status"], "paused", "{c}");
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn unknown_pages_and_ids_are_clear_errors() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let page = b.get("/messages/not-an-id").await;
        assert_eq!(page.status, 404);
        assert!(page.body.contains("no such message"));
        let page = b.get("/campaigns/019ab3c4-0000-7000-8000-000000000000").await;
        assert_eq!(page.status, 404);
        let page = b.get("/static/nothing.js").await;
        assert_eq!(page.status, 404);
        let page = b.get("/static/htmx.min.js").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("htmx"));
        b.stop().await;
    })
    .await;
}

/// Posts a multipart form to the import page with the page's token.
async fn post_import(b: &mut Browser, kind: String, body: String) -> Page {
    let resp = b
        .http
        .post(b.app.url(&format!("/contacts/import?_csrf={}", b.csrf)))
        .header("cookie", b.cookie_header())
        .header("content-type", kind)
        .body(body)
        .send()
        .await
        .unwrap();
    b.read(resp).await
}

/// The import page takes files as large as the API does (not only up to
/// `server.max_body_bytes`), and a refused file keeps the group picked.
#[tokio::test]
async fn an_import_larger_than_the_body_limit_is_accepted_and_a_refusal_keeps_the_group() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let (s, group) = b.app.post("/api/v1/groups", json!({"name": "Staff"})).await;
        assert_eq!(s, 201, "{group}");
        let group_id = group["id"].as_str().unwrap().to_owned();
        b.get("/contacts/import").await;
        let notes = "x".repeat(640);
        let mut csv = String::from("phone,name,notes\n");
        for i in 0..5_000 {
            csv.push_str(&format!("+4860{i:07},Osoba {i},{notes}\n"));
        }
        assert!(csv.len() > 3 * 1024 * 1024, "more than 2 MiB, the body limit");
        let (kind, body) = multipart("big.csv", &csv, &group_id);
        let page = post_import(&mut b, kind, body).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let job = page.location.unwrap();
        let mut last = String::new();
        for _ in 0..1200 {
            last = b.get(&job).await.body;
            if last.contains(r#"data-status="completed""#) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(last.contains(r#"data-testid="imported">5,000<"#), "{last}");

        let (kind, body) = multipart("e.csv", "", &group_id);
        let page = post_import(&mut b, kind, body).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains(&format!(r#"<option value="{group_id}" selected>"#)), "{}", page.body);
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn numbers_keywords_and_opt_outs_are_set_up_from_forms_and_the_inbox_shows_what_arrives() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        assert!(b.get("/numbers").await.body.contains("No numbers yet."));

        // A bad number is refused at its field and nothing is saved.
        let page = b.post("/numbers", &[("number", "12"), ("kind", "dedicated"), ("reply", "Hi")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(
            page.body.contains(r#"id="number-error">"#) && page.body.contains("short code"),
            "{}",
            page.body
        );
        assert_eq!(b.app.get("/api/v1/numbers").await.1["numbers"], json!([]));

        // A short code whose default answer is a reply (markup stays text).
        let page = b
            .post("/numbers", &[("number", "7100"), ("kind", "dedicated"), ("reply", "Thanks <b>x</b>")])
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let at = page.location.unwrap();
        let page = b.get(&at).await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("<b>x</b>"), "{}", page.body);
        assert!(
            page.body.contains("Reply: Thanks &#60;b&#62;x")
                || page.body.contains("Reply: Thanks &lt;b&gt;x")
        );

        // A keyword that adds the sender to a group and answers.
        let keyword_form = [
            ("keyword", "PIZZA"),
            ("match_type", "base"),
            ("priority", "1"),
            ("group", "Pizza"),
            ("reply", "Yum"),
            ("notify_email", "boss@example.com"),
        ];
        let page = b.post(&format!("{at}/keywords"), &keyword_form).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.get(&at).await;
        assert!(page.body.contains(r#"data-testid="keyword">PIZZA<"#), "{}", page.body);
        assert!(page.body.contains("Add to group: Pizza") && page.body.contains("Reply: Yum"));
        assert!(page.body.contains("Notify: boss@example.com"), "{}", page.body);
        // The same keyword again is a conflict, shown on the form; still one keyword.
        let page = b.post(&format!("{at}/keywords"), &keyword_form).await;
        assert_eq!(page.status, 409, "{}", page.body);
        assert!(page.body.contains("conflicts with keyword"), "{}", page.body);
        assert_eq!(b.app.get("/api/v1/keywords").await.1["keywords"].as_array().unwrap().len(), 1);
        let page = b.post(&format!("{at}/keywords"), &[("keyword", "TACO"), ("priority", "high")]).await;
        assert_eq!(page.status, 422);
        assert!(page.body.contains("must be a whole number"));

        // What arrives is in the inbox, with a reply from the number written to.
        let (status, _) = b
            .app
            .post(
                "/api/v1/connectors/sim/inbound",
                json!({"from": "+48600100500", "to": "7100", "text": "pizza please"}),
            )
            .await;
        assert_eq!(status, 202);
        // Received messages are stored by the connector's inbound worker.
        for _ in 0..200 {
            if !b.app.get("/api/v1/inbound").await.1["messages"].as_array().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let page = b.get("/inbox").await;
        assert!(page.body.contains(r#"data-testid="inbox-text">pizza please<"#), "{}", page.body);
        assert!(page.body.contains("/compose?to=%2B48600100500&amp;from=7100"), "{}", page.body);
        let page = b.get("/inbox?q=taco").await;
        assert!(page.body.contains("Nothing received yet."));
        // The first page refreshes itself; a later one stays where it is
        // (a refresh without its cursor would jump back to the first).
        b.app
            .post(
                "/api/v1/connectors/sim/inbound",
                json!({"from": "+48600100501", "to": "7100", "text": "taco"}),
            )
            .await;
        let mut cursor = None;
        for _ in 0..200 {
            cursor = b.app.get("/api/v1/inbound?limit=1").await.1["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let cursor = cursor.expect("a second page");
        assert!(b.get("/inbox").await.body.contains(r#"hx-trigger="every 5s""#));
        let page = b.get(&format!("/inbox?cursor={cursor}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(r#"data-testid="inbox-text""#), "{}", page.body);
        assert!(!page.body.contains("hx-trigger"), "{}", page.body);
        let page = b.get("/compose?to=%2B48600100500&from=7100").await;
        assert!(page.body.contains(r#"<option value="7100" selected>"#), "{}", page.body);

        // Opt-outs by hand: a bad number is refused, a good one listed, then opted back in.
        let page = b.post("/opt-outs", &[("phone", "nope")]).await;
        assert_eq!(page.status, 422);
        let page = b.post("/opt-outs", &[("phone", "+48600100600")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert!(b.get("/opt-outs").await.body.contains(r#"data-testid="opted-out">+48600100600<"#));
        let page = b.post("/opt-outs/+48600100600/remove", &[]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(b.app.get("/api/v1/opt-outs").await.1["opt_outs"], json!([]));
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_reports_page_groups_traffic_and_exports_it() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.app.send(json!({"to": "+48600100200", "text": "Hi"})).await;
        b.app.send(json!({"to": "+359881234567", "text": "Hi"})).await;
        b.app.wait_until_settled().await;
        b.sign_in().await;
        let page = b.get("/reports?by=country").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("PL (+48)") && page.body.contains("BG (+359)"), "{}", page.body);
        assert_eq!(page.body.matches(r#"data-testid="report-row""#).count(), 2);
        assert!(page.body.contains(r#"style="width: 100%""#), "bars scale to the largest row");
        let page = b.get("/reports").await;
        assert!(page.body.matches(r#"data-testid="report-row""#).count() >= 30, "a row per day");
        let csv = b.get("/reports/messages.csv?by=status&from=&to=").await;
        assert_eq!(csv.status, 200);
        assert!(csv.body.contains("delivered,,2,2"), "{}", csv.body);
        // A date that is not a date is the API's error, on an error page.
        let page = b.get("/reports?from=yesterday").await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("is not a date"));
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_conversation_shows_both_directions_and_replies_from_the_number_written_to() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.app.post("/api/v1/numbers", json!({"number": "7100"})).await;
        let (status, _) = b
            .app
            .post(
                "/api/v1/connectors/sim/inbound",
                json!({"from": "+48600100700", "to": "7100", "text": "Is my order <b>ready</b>?"}),
            )
            .await;
        assert_eq!(status, 202);
        for _ in 0..200 {
            // Threads are known once the message is matched, just after it is stored.
            if !b.app.get("/api/v1/conversations").await.1["conversations"].as_array().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        b.sign_in().await;
        let page = b.get("/conversations").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains(r#"href="/conversations/%2B48600100700" data-testid="conversation""#),
            "{}",
            page.body
        );

        let thread = "/conversations/%2B48600100700";
        let page = b.get(thread).await;
        assert!(page.body.contains(r#"data-testid="bubble-inbound""#), "{}", page.body);
        assert!(!page.body.contains("<b>ready</b>"), "markup in a message is text");
        assert!(page.body.contains("(from 7100)"), "the reply goes from the number written to");

        // An empty reply is refused at its field; a real one joins the thread.
        let page = b.post(&format!("{thread}/reply"), &[("text", "")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!page.body.split(r#"id="text-error" role="alert">"#).nth(1).unwrap().starts_with('<'));
        let page = b.post(&format!("{thread}/reply"), &[("text", "Yes, tomorrow at 9")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, sent) = b.app.get("/api/v1/messages?direction=outbound").await;
        assert_eq!(sent["messages"][0]["to"], "+48600100700");
        assert_eq!(sent["messages"][0]["from"], "7100");
        let page = b.get(thread).await;
        assert!(
            page.body.contains(r#"data-testid="bubble-outbound""#)
                && page.body.contains("Yes, tomorrow at 9")
        );
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn pages_with_another_accounts_ids_are_not_found_and_change_nothing() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        let store = b.app.app.as_ref().unwrap().store.clone();
        let (_, other) = store.create_account("bravo").await.unwrap();
        let (http, base) = (b.app.http.clone(), b.app.base.clone());
        let theirs = |method: reqwest::Method, path: &str, body: serde_json::Value| {
            let req = http.request(method, format!("{base}{path}")).bearer_auth(&other).json(&body);
            async move {
                let resp = req.send().await.unwrap();
                let status = resp.status().as_u16();
                (status, resp.json::<serde_json::Value>().await.unwrap_or_default())
            }
        };
        use reqwest::Method;
        let phone = "+48600777001";
        let (_, c) = theirs(Method::POST, "/api/v1/contacts", json!({"phone": phone, "name": "Bravo Person"})).await;
        let contact = c["id"].as_str().unwrap().to_owned();
        theirs(Method::POST, "/api/v1/sender-ids", json!({"sender": "BravoCo", "default": true})).await;
        let (s, d) = theirs(
            Method::POST,
            "/api/v1/campaigns",
            json!({"name": "Bravo Draft", "text": "Bravo", "numbers": [phone], "start": false}),
        )
        .await;
        assert_eq!(s, 201, "{d}");
        let draft = d["campaign"]["id"].as_str().unwrap().to_owned();
        let (_, n) = theirs(Method::POST, "/api/v1/numbers", json!({"number": "7377"})).await;
        let number = n["id"].as_str().unwrap().to_owned();
        let (s, k) = theirs(
            Method::POST,
            "/api/v1/keywords",
            json!({"number": "7377", "keyword": "BRAVO", "actions": [{"type": "reply", "text": "Bravo reply"}]}),
        )
        .await;
        assert_eq!(s, 201, "{k}");
        theirs(Method::POST, "/api/v1/opt-outs", json!({"phone": "+48600777002"})).await;
        let (s, p) = theirs(
            Method::POST,
            "/api/v1/polls",
            json!({"name": "Bravo quiz", "question": "Bravo?", "answers": [{"key": "A"}, {"key": "B"}],
                "correct_answer": "A"}),
        )
        .await;
        assert_eq!(s, 201, "{p}");
        let poll = p["id"].as_str().unwrap().to_owned();
        let (_, m) = theirs(Method::POST, "/api/v1/messages", json!({"to": phone, "text": "Bravo secret"})).await;
        let message = m["messages"][0]["id"].as_str().unwrap().to_owned();
        let (s, _) = b
            .app
            .post("/api/v1/connectors/sim/inbound", json!({"from": phone, "to": "7377", "text": "bravo hello"}))
            .await;
        assert_eq!(s, 202);
        let job = b
            .app
            .http
            .post(b.app.url("/api/v1/imports"))
            .bearer_auth(&other)
            .header("content-type", "text/csv")
            .body("phone,name\n+48600777004,Bravo Imported\nbad,x\n")
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        let import = job["id"].as_str().unwrap().to_owned();
        // The thread exists for its own account.
        for _ in 0..200 {
            let (s, _) = theirs(Method::GET, "/api/v1/conversations/%2B48600777001", json!(null)).await;
            if s == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        b.sign_in().await;
        let reads = [
            format!("/contacts/{contact}"),
            format!("/campaigns/{draft}"),
            format!("/campaigns/{draft}/progress"),
            format!("/campaigns/{draft}/runs/1"),
            format!("/campaigns/{draft}/runs/1/messages.csv"),
            format!("/campaigns/{draft}/runs/1/messages.xlsx"),
            format!("/numbers/{number}"),
            format!("/messages/{message}"),
            format!("/messages/statuses?n=1&id={message}"),
            "/conversations/%2B48600777001".to_owned(),
            format!("/imports/{import}"),
            format!("/imports/{import}/progress"),
            format!("/imports/{import}/errors.csv"),
            format!("/polls/{poll}"),
            format!("/polls/{poll}/chart"),
            format!("/polls/{poll}/votes.csv"),
            format!("/polls/{poll}/votes.xlsx"),
        ];
        for path in &reads {
            let page = b.get(path).await;
            assert_eq!(page.status, 404, "GET {path}: {}", page.body);
            assert!(!page.body.to_lowercase().contains("bravo"), "GET {path} shows B's data: {}", page.body);
        }
        let writes: [(String, &[(&str, &str)]); 8] = [
            (format!("/contacts/{contact}"), &[("phone", phone), ("name", "Taken")]),
            (format!("/campaigns/{draft}/action/start"), &[]),
            (format!("/numbers/{number}/keywords"), &[("keyword", "ALPHA"), ("reply", "mine")]),
            (format!("/numbers/{number}/keywords/BRAVO/delete"), &[]),
            ("/opt-outs/%2B48600777002/remove".to_owned(), &[]),
            ("/conversations/%2B48600777001/reply".to_owned(), &[("text", "taken")]),
            (format!("/polls/{poll}"), &[("name", "Taken"), ("question", "?"), ("answers", "A\nB")]),
            (format!("/polls/{poll}/draw"), &[("winners", "1")]),
        ];
        for (path, form) in &writes {
            let page = b.post(path, form).await;
            assert_eq!(page.status, 404, "POST {path}: {}", page.body);
        }
        // B's data is as B left it.
        let (_, c) = theirs(Method::GET, &format!("/api/v1/contacts/{contact}"), json!(null)).await;
        assert_eq!(c["name"], "Bravo Person");
        let (_, d) = theirs(Method::GET, &format!("/api/v1/campaigns/{draft}"), json!(null)).await;
        assert_eq!(d["status"], "draft");
        let (_, p) = theirs(Method::GET, &format!("/api/v1/polls/{poll}"), json!(null)).await;
        assert_eq!(p["name"], "Bravo quiz");
        let (_, draws) = theirs(Method::GET, &format!("/api/v1/polls/{poll}/draws"), json!(null)).await;
        assert_eq!(draws["draws"], json!([]));
        let (_, k) = theirs(Method::GET, "/api/v1/keywords", json!(null)).await;
        assert_eq!(k["keywords"].as_array().unwrap().len(), 1, "{k}");
        let (s, _) = theirs(Method::GET, "/api/v1/opt-outs/%2B48600777002", json!(null)).await;
        assert_eq!(s, 200);
        let (_, thread) = theirs(Method::GET, "/api/v1/conversations/%2B48600777001", json!(null)).await;
        assert!(!thread.to_string().contains("taken"), "{thread}");
        b.stop().await;
    })
    .await;
}

/// A day so far back that its midnight in the viewer's zone (east of UTC)
/// is before the earliest time there is, or a year no RFC 3339 time can
/// write, is refused as out of range: on the page and on its exports.
#[tokio::test]
async fn a_report_day_out_of_range_is_refused_not_a_crash() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let page = b.post("/profile", &[("language", "en"), ("time_zone", "Europe/Warsaw")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        for path in [
            "/reports?from=-262143-01-01",
            "/reports/messages.csv?by=day&from=-262143-01-01&to=",
            "/reports/messages.xlsx?by=day&from=-262143-01-01&to=",
            "/reports?from=-0001-01-01",
            "/reports?from=2026-01-01&to=%2B262142-12-31",
        ] {
            let page = b.get(path).await;
            assert_eq!(page.status, 422, "{path}: {}", page.body);
            assert!(page.body.contains("is out of range"), "{path}: {}", page.body);
        }
        let page = b.get("/reports?from=2026-01-01&to=2026-01-31").await;
        assert_eq!(page.status, 200, "{}", page.body);
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn billing_pages_show_the_tariff_prices_packages_usage_and_cost_before_sending() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let page = b.get("/billing").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(r#"data-testid="not-charged""#), "{}", page.body);
        // No cost shown while the account is not charged.
        let page = b.post("/compose/counter", &[("to", "+48600100200"), ("text", "Hi")]).await;
        assert!(!page.body.contains(r#"data-testid="cost""#), "{}", page.body);

        let (s, t) = b.app
            .post(
                "/api/v1/tariffs",
                json!({"name": "Standard", "currency": "EUR", "prices": [{"prefix": "+48", "price": "0.05", "description": "Poland"},
                    {"prefix": "4860", "price": "0.04", "description": "Poland mobile"}]}),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        b.app.patch("/api/v1/accounts/default/billing", json!({"tariff": "Standard"})).await;
        let (s, _) = b.app.post("/api/v1/accounts/default/top-ups", json!({"amount": "1234.50"})).await;
        assert_eq!(s, 201);
        let (s, _) = b.app
            .post("/api/v1/packages", json!({"name": "Starter", "currency": "EUR", "included_messages": 1, "overage_price": "0.03"}))
            .await;
        assert_eq!(s, 201);
        let (s, _) = b.app.post("/api/v1/accounts/default/packages", json!({"package": "Starter"})).await;
        assert_eq!(s, 201);
        let id = b.app.send(json!({"to": "+48600100200", "text": "one"})).await;
        b.app.wait_for_status(&id, "delivered").await;
        let id = b.app.send(json!({"to": "+48221234567", "text": "two"})).await;
        b.app.wait_for_status(&id, "delivered").await;

        let page = b.get("/billing").await;
        assert!(page.body.contains(r#"data-testid="tariff">Standard<"#), "{}", page.body);
        assert_eq!(page.body.matches(r#"data-testid="price""#).count(), 2);
        assert!(page.body.contains("Poland mobile") && page.body.contains("EUR\u{a0}0.04"), "{}", page.body);
        assert!(page.body.contains("EUR\u{a0}1,234.47"), "one message included, one at the overage price: {}", page.body);
        assert!(page.body.contains("Starter") && page.body.contains(">Package use (2026-"), "{}", page.body);
        assert!(page.body.contains(": 1 / 1 · 0 left<"), "{}", page.body);

        let page = b.get("/").await;
        assert!(page.body.contains(r#"data-testid="balance">EUR"#), "{}", page.body);
        assert!(page.body.contains(r#"data-testid="package-use">1 / 1<"#), "{}", page.body);

        let page = b.get("/billing/usage?by=country").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(r#"data-testid="usage-row"><td>PL<"#), "{}", page.body);
        assert!(page.body.contains(r#"data-testid="cost">EUR"#), "{}", page.body);
        let page = b.get("/billing/usage?month=December").await;
        assert_eq!(page.status, 422, "{}", page.body);
        let csv = b.get("/billing/statement.csv").await;
        assert_eq!(csv.status, 200);
        assert!(csv.body.trim_start_matches('\u{feff}').starts_with("time,kind,message_id"), "{}", csv.body);
        assert!(csv.body.contains("+48221234567"), "{}", csv.body);
        let xlsx = b.http.get(b.app.url("/billing/statement.xlsx")).header("cookie", b.cookie_header()).send().await.unwrap();
        assert_eq!(xlsx.status().as_u16(), 200);
        assert!(xlsx.bytes().await.unwrap().starts_with(b"PK"));

        // The compose counter prices the typed numbers as the text is typed.
        let long = "x".repeat(161);
        let page = b
            .post("/compose/counter", &[("to", "+48221234567, +48600100201, +48221234567, #vip"), ("text", &long)])
            .await;
        assert!(
            page.body.contains("data-testid=\"cost\">EUR\u{a0}0.12<"),
            "two numbers, two segments each, at the package's overage price: {}",
            page.body
        );
        assert!(page.body.contains(r#"data-testid="recipients">2<"#), "a tag nobody has adds nobody: {}", page.body);
        // Groups and #tags count too: their people, each once, opted-out ones left out.
        let (_, group) = b.app.post("/api/v1/groups", json!({"name": "Team"})).await;
        let gid = group["id"].as_str().unwrap().to_owned();
        for (phone, tags) in [("+48221234567", json!(["vip"])), ("+48600100202", json!([])), ("+48600100203", json!(["vip"]))] {
            let (s, c) = b.app.post("/api/v1/contacts", json!({"phone": phone, "groups": [gid], "tags": tags})).await;
            assert_eq!(s, 201, "{c}");
        }
        b.app.post("/api/v1/contacts", json!({"phone": "+48600100204", "tags": ["vip"]})).await;
        b.app.post("/api/v1/opt-outs", json!({"phone": "+48600100203"})).await;
        let page = b
            .post("/compose/counter", &[("to", "+48221234567, #vip"), ("groups", &gid), ("text", &long)])
            .await;
        assert!(page.body.contains(r#"data-testid="recipients">3<"#), "{}", page.body);
        assert!(
            page.body.contains("data-testid=\"cost\">EUR\u{a0}0.18<"),
            "three people, two segments each, at the overage price: {}",
            page.body
        );
        assert!(!page.body.contains("could not be counted"), "{}", page.body);
        let page = b.post("/compose/counter", &[("to", "+12025550123"), ("text", "Hi")]).await;
        assert!(page.body.contains("without a price"), "{}", page.body);

        // A campaign's page shows what a run costs.
        b.app.post("/api/v1/sender-ids", json!({"sender": "Kurier", "default": true})).await;
        let (s, c) = b.app
            .post("/api/v1/campaigns", json!({"name": "Priced", "text": "Hi", "numbers": ["+48221234567"], "start": false}))
            .await;
        assert_eq!(s, 201, "{c}");
        let page = b.get(&format!("/campaigns/{}", c["campaign"]["id"].as_str().unwrap())).await;
        assert!(page.body.contains("data-testid=\"cost\">EUR\u{a0}0.03<"), "{}", page.body);
        // A started weekly campaign (scheduled, as the API reports it)
        // still shows its estimate and next runs.
        let (s, c) = b
            .app
            .post(
                "/api/v1/campaigns",
                json!({"name": "Weekly", "text": "Hi", "numbers": ["+48221234567"], "start": true,
                       "rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0", "time_zone": "Europe/Warsaw"}),
            )
            .await;
        assert_eq!(s, 201, "{c}");
        assert_eq!(c["campaign"]["status"], "scheduled");
        let page = b.get(&format!("/campaigns/{}", c["campaign"]["id"].as_str().unwrap())).await;
        assert!(page.body.contains("Next run: "), "{}", page.body);
        assert!(page.body.contains("data-testid=\"cost\">EUR\u{a0}0.03<"), "{}", page.body);
        b.stop().await;
    })
    .await;
}

/// The operator's account: connectors with their settings and the routes,
/// tariffs with price lists, packages, and each account's tariff, packages
/// and top-ups, all from forms with errors at their fields.
#[tokio::test]
async fn the_operator_sees_connectors_and_manages_prices_packages_and_accounts_from_forms() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let page = b.get("/").await;
        assert!(page.body.contains(r#"href="/operator/prices""#), "the operator's navigation: {}", page.body);
        assert!(
            page.body.contains("All counters, settings and routes"),
            "the dashboard links the connectors: {}",
            page.body
        );

        let page = b.get("/connectors").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(r#"data-testid="connector"><td>sim "#), "{}", page.body);
        assert!(page.body.contains(r#"hx-get="/connectors/live" hx-trigger="every 2s""#), "{}", page.body);
        assert!(page.body.contains(r#"data-testid="connector-settings""#), "{}", page.body);
        assert!(page.body.contains("<dt>receipt_delay_ms</dt>"), "{}", page.body);
        assert!(page.body.contains(r#"data-testid="no-routes""#), "{}", page.body);
        assert!(page.body.contains(r#"data-testid="default-connector">"#), "{}", page.body);
        let id = b.app.send(json!({"to": "+48600100200", "text": "count me"})).await;
        b.app.wait_for_status(&id, "delivered").await;
        let live = b.get("/connectors/live").await;
        assert_eq!(live.status, 200);
        assert!(live.body.contains(r#"data-testid="submitted">1<"#), "{}", live.body);
        assert!(!live.body.contains("<html"), "a fragment: {}", live.body);

        // A tariff: a bad currency is refused at its field, then one is made.
        let page = b.get("/operator/prices").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let page = b.post("/operator/tariffs", &[("name", "Std"), ("currency", "EURO")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains(r#"id="t-currency-error" role="alert">"#), "{}", page.body);
        assert!(
            !page.body.contains(r#"id="t-currency-error" role="alert"></p>"#),
            "the error is at the field: {}",
            page.body
        );
        assert!(page.body.contains(r#"value="EURO""#), "what was typed stays: {}", page.body);
        let page = b
            .post(
                "/operator/tariffs",
                &[("name", "<b>Std</b>"), ("currency", "EUR"), ("inbound_price", "0.01")],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let tariff_url = page.location.unwrap();
        let page = b.get(&tariff_url).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains("&#60;b&#62;Std&#60;/b&#62;") && !page.body.contains("<b>Std</b>"),
            "{}",
            page.body
        );

        // Prices: too many decimals is shown next to the price.
        let page = b.post(&format!("{tariff_url}/prices"), &[("prefix", "+48"), ("price", "0.051")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains(r#"data-testid="price-error">"#), "{}", page.body);
        assert!(!page.body.contains(r#"data-testid="price-error"></p>"#), "{}", page.body);
        assert!(page.body.contains(r#"value="0.051""#), "{}", page.body);
        let page = b
            .post(
                &format!("{tariff_url}/prices"),
                &[("prefix", "+48"), ("price", "0.05"), ("description", "Poland")],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.post(&format!("{tariff_url}/prices"), &[("prefix", "+359"), ("price", "0.07")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.get(&tariff_url).await;
        assert_eq!(page.body.matches(r#"data-testid="price""#).count(), 2, "{}", page.body);
        assert!(page.body.contains("Poland") && page.body.contains("EUR\u{a0}0.05"), "{}", page.body);
        let page = b.post(&format!("{tariff_url}/prices/%2B359/delete"), &[]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.get(&tariff_url).await;
        assert_eq!(page.body.matches(r#"data-testid="price""#).count(), 1, "{}", page.body);
        let page = b.post(&tariff_url, &[("name", "Standard"), ("inbound_price", "0.001")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains(r#"value="0.001""#), "{}", page.body);
        let page = b.post(&tariff_url, &[("name", "Standard"), ("inbound_price", "0.02")]).await;
        assert_eq!(page.status, 303, "{}", page.body);

        // Packages.
        let page = b
            .post(
                "/operator/packages",
                &[("name", "Starter"), ("currency", "EUR"), ("included_messages", "ten")],
            )
            .await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("must be a whole number"), "{}", page.body);
        let page = b
            .post(
                "/operator/packages",
                &[
                    ("name", "Starter"),
                    ("currency", "EUR"),
                    ("included_messages", "100"),
                    ("overage_price", "0.04"),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.get("/operator/prices").await;
        assert!(
            page.body.contains(r#"data-testid="tariff-row"><td><a href="/operator/tariffs/"#),
            "{}",
            page.body
        );
        assert!(page.body.contains(r#"data-testid="package-row"><td>Starter<"#), "{}", page.body);

        // An account: a top-up needs a tariff first; then tariff, top-up, package.
        let page = b.get("/operator/accounts").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let (_, billing) = b.app.get("/api/v1/billing").await;
        let account_url = format!("/operator/accounts/{}", billing["account_id"].as_str().unwrap());
        assert!(page.body.contains(&format!(r#"href="{account_url}">default<"#)), "{}", page.body);
        let page = b.post(&format!("{account_url}/top-ups"), &[("amount", "10")]).await;
        assert_eq!(page.status, 409, "{}", page.body);
        assert!(
            page.body.contains(r#"data-testid="amount-error">the account has no tariff"#),
            "{}",
            page.body
        );
        let (_, tariffs) = b.app.get("/api/v1/tariffs").await;
        let tariff_id = tariffs["tariffs"][0]["id"].as_str().unwrap().to_owned();
        let page = b
            .post(
                &format!("{account_url}/billing"),
                &[("tariff", &tariff_id), ("low_balance_threshold", "1.001")],
            )
            .await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains(r#"id="threshold-error" role="alert">"#), "{}", page.body);
        let page = b
            .post(
                &format!("{account_url}/billing"),
                &[("tariff", &tariff_id), ("low_balance_threshold", "5"), ("alert_email", "ops@example.com")],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.post(&format!("{account_url}/top-ups"), &[("amount", "12.345")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!page.body.contains(r#"data-testid="amount-error"></p>"#), "{}", page.body);
        let page = b
            .post(
                &format!("{account_url}/top-ups"),
                &[("amount", "50"), ("note", "<script>alert(1)</script>")],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, packages) = b.app.get("/api/v1/packages").await;
        let package_id = packages["packages"][0]["id"].as_str().unwrap().to_owned();
        let page = b.post(&format!("{account_url}/packages"), &[("package", "")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        let page = b.post(&format!("{account_url}/packages"), &[("package", &package_id)]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.get(&account_url).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(r#"data-testid="balance">EUR"#), "{}", page.body);
        assert!(page.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{}", page.body);
        assert!(!page.body.contains("<script>alert(1)"), "{}", page.body);
        assert!(page.body.contains(r#"data-testid="subscription"><td>Starter<"#), "{}", page.body);
        assert!(page.body.contains(r#"value="ops@example.com""#), "{}", page.body);
        let (_, view) = b.app.get("/api/v1/billing").await;
        assert_eq!(view["tariff"]["name"], "Standard");
        assert_eq!(view["low_balance_threshold"]["amount"], "5.00");
        let sub = view["packages"][0]["id"].as_str().unwrap().to_owned();
        let page = b.post(&format!("{account_url}/packages/{sub}/end"), &[]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, view) = b.app.get("/api/v1/billing").await;
        assert!(view["packages"][0]["last_period"].is_string(), "{view}");

        // A tariff in use stays, with the reason.
        let page = b.post(&format!("{tariff_url}/delete"), &[]).await;
        assert_eq!(page.status, 409, "{}", page.body);
        assert!(page.body.contains(r#"data-testid="delete-error""#), "{}", page.body);
        b.stop().await;
    })
    .await;
}

/// Another account's owner and the operator's own viewer reach none of
/// the operator's pages or forms; the settings page is read-only to a
/// viewer.
#[tokio::test]
async fn operator_pages_are_the_operators_and_forms_need_an_admin() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        bravo_with_owner(&b).await;
        let (s, u) = b
            .app
            .post(
                "/api/v1/users",
                json!({"username": "watcher", "password": "watcher-password-1", "role": "viewer"}),
            )
            .await;
        assert_eq!(s, 201, "{u}");

        b.sign_in_as("bravo-owner", "bravo-password-1").await;
        let page = b.get("/").await;
        assert!(!page.body.contains("/operator/prices"), "{}", page.body);
        assert!(!page.body.contains(r#"href="/connectors""#), "{}", page.body);
        assert!(page.body.contains(r#"href="/settings""#), "an owner has settings: {}", page.body);
        for path in ["/operator/prices", "/operator/accounts", "/operator/accounts/default"] {
            let page = b.get(path).await;
            assert_eq!(page.status, 403, "{path}: {}", page.body);
        }
        let page = b.post("/operator/tariffs", &[("name", "Mine"), ("currency", "EUR")]).await;
        assert_eq!(page.status, 403, "{}", page.body);
        let page = b.post("/operator/accounts/bravo/top-ups", &[("amount", "1000")]).await;
        assert_eq!(page.status, 403, "{}", page.body);
        let (_, tariffs) = b.app.get("/api/v1/tariffs").await;
        assert_eq!(tariffs["tariffs"].as_array().unwrap().len(), 0, "nothing was made");
        let page = b.get("/connectors").await;
        assert_eq!(page.status, 200, "the state of the links is everyone's: {}", page.body);
        assert!(page.body.contains(r#"data-testid="connector""#), "{}", page.body);
        assert!(
            !page.body.contains("connector-settings") && !page.body.contains("receipt_delay_ms"),
            "{}",
            page.body
        );
        let page = b.get("/billing").await;
        assert_eq!(page.status, 200, "their own billing stays readable: {}", page.body);

        b.sign_in_as("watcher", "watcher-password-1").await;
        let page = b.get("/settings").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Only owners and admins"), "{}", page.body);
        assert!(!page.body.contains(r#"<button type="submit" class="primary">"#), "{}", page.body);
        let page = b.post("/settings/account", &[("time_zone", "Europe/Sofia")]).await;
        assert_eq!(page.status, 403, "{}", page.body);
        let page = b.post("/operator/tariffs", &[("name", "Mine"), ("currency", "EUR")]).await;
        assert_eq!(page.status, 403, "{}", page.body);
        let (_, account) = b.app.get("/api/v1/account").await;
        assert_ne!(account["time_zone"], "Europe/Sofia");
        b.stop().await;
    })
    .await;
}

/// The account's settings: time zone, quiet hours, transliteration, the
/// inbound forward URL, the HELP reply and opt-out words, each refused at
/// its field when wrong.
#[tokio::test]
async fn account_settings_are_saved_from_forms_with_errors_at_their_fields() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let page = b.get("/settings").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(r#"data-testid="threshold">"#), "{}", page.body);

        let form = |tz: &'static str, start: &'static str, url: &'static str| {
            vec![
                ("time_zone", tz),
                ("quiet_start", start),
                ("quiet_end", "08:00"),
                ("transliterate", "on"),
                ("inbound_url", url),
            ]
        };
        let page = b.post("/settings/account", &form("Mars/Base", "21:00", "")).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(
            page.body.contains(r#"id="tz-error" role="alert">"#)
                && !page.body.contains(r#"id="tz-error" role="alert"></p>"#),
            "{}",
            page.body
        );
        let page = b.post("/settings/account", &form("Europe/Warsaw", "25:00", "")).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!page.body.contains(r#"data-testid="quiet-error"></p>"#), "{}", page.body);
        let page = b.post("/settings/account", &form("Europe/Warsaw", "21:00", "ftp://example.com/in")).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!page.body.contains(r#"data-testid="url-error"></p>"#), "{}", page.body);
        assert!(page.body.contains(r#"value="ftp://example.com/in""#), "{}", page.body);
        let (_, account) = b.app.get("/api/v1/account").await;
        assert_eq!(account["quiet_hours"], serde_json::Value::Null, "a refused form changes nothing");

        let page =
            b.post("/settings/account", &form("Europe/Warsaw", "21:00", "https://example.com/in")).await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(page.location.as_deref(), Some("/settings?saved=1"));
        let (_, account) = b.app.get("/api/v1/account").await;
        assert_eq!(account["time_zone"], "Europe/Warsaw");
        assert_eq!(account["quiet_hours"], json!({"start": "21:00", "end": "08:00"}));
        assert_eq!(account["transliterate"], true);
        assert_eq!(account["inbound_url"], "https://example.com/in");
        let page = b.get("/settings?saved=1").await;
        assert!(page.body.contains(r#"data-testid="saved""#), "{}", page.body);
        assert!(page.body.contains(r#"value="21:00""#) && page.body.contains("checked"), "{}", page.body);
        // Unticked and emptied: transliteration off, no quiet hours, no URL.
        let page = b.post("/settings/account", &[("time_zone", "Europe/Warsaw")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, account) = b.app.get("/api/v1/account").await;
        assert_eq!(
            (account["transliterate"].clone(), account["quiet_hours"].clone()),
            (json!(false), json!(null))
        );

        let page =
            b.post("/settings/compliance", &[("help_text", "Help"), ("opt_out_words", "NIE, START")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(
            page.body.contains(r#"data-testid="words-error">"#)
                && !page.body.contains(r#"data-testid="words-error"></p>"#),
            "{}",
            page.body
        );
        let evil = "<img src=x onerror=alert(1)> Call 22 123";
        let page =
            b.post("/settings/compliance", &[("help_text", evil), ("opt_out_words", "NIE, basta")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, rules) = b.app.get("/api/v1/compliance").await;
        assert_eq!(rules["help_text"], evil);
        assert_eq!(rules["opt_out_words"], json!(["NIE", "basta"]));
        let page = b.get("/settings").await;
        assert!(
            page.body.contains("&#60;img src=x onerror=alert(1)&#62;") && !page.body.contains("<img src=x"),
            "{}",
            page.body
        );
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_reports_page_shows_keyword_popularity_and_received_messages_per_number() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.app.post("/api/v1/numbers", json!({"number": "7100"})).await;
        b.app.post("/api/v1/numbers", json!({"number": "7200"})).await;
        for k in ["PIZZA", "SUSHI"] {
            let (s, body) = b
                .app
                .post("/api/v1/keywords", json!({"number": "7100", "keyword": k, "actions": [{"type": "add_to_group", "group": k}]}))
                .await;
            assert_eq!(s, 201, "{body}");
        }
        for (from, text) in [("+48600100201", "pizza"), ("+48600100202", "pizza!"), ("+48600100201", "sushi"), ("+48600100203", "pizza")] {
            let (s, _) =
                b.app.post("/api/v1/connectors/sim/inbound", json!({"from": from, "to": "7100", "text": text})).await;
            assert_eq!(s, 202);
        }
        // Wait until the API report counts all four.
        let mut report = serde_json::Value::Null;
        for _ in 0..400 {
            report = b.app.get("/api/v1/reports/keywords").await.1;
            if report["total"] == 4 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(report["total"], 4, "{report}");
        b.sign_in().await;
        let page = b.get("/reports").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let rows = |testid: &str| -> Vec<String> {
            page.body
                .split(&format!(r#"data-testid="{testid}""#))
                .skip(1)
                .map(|r| r.split("</tr>").next().unwrap().to_owned())
                .collect()
        };
        let keywords = rows("keyword-row");
        assert_eq!(keywords.len(), 2, "{}", page.body);
        assert!(keywords[0].contains("PIZZA") && keywords[0].contains(">3<") && keywords[0].contains("75.0"), "{}", keywords[0]);
        assert!(keywords[0].contains(r#"style="width: 100%""#), "{}", keywords[0]);
        assert!(keywords[1].contains("SUSHI") && keywords[1].contains(">1<") && keywords[1].contains("25.0"), "{}", keywords[1]);
        let numbers = rows("inbound-row");
        assert_eq!(numbers.len(), 2, "{}", page.body);
        assert!(numbers[0].contains("7100") && numbers[0].contains(">4<") && numbers[0].contains(">3<"), "{}", numbers[0]);
        assert!(numbers[1].contains("7200") && numbers[1].contains(">0<"), "{}", numbers[1]);
        b.stop().await;
    })
    .await;
}

/// The operator adds a connector and a route from the connectors page,
/// sees a bad setting at its field, changes and deletes them; another
/// account's owner can do none of it.
#[tokio::test]
async fn the_operator_adds_changes_and_removes_connectors_and_routes_from_forms() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        b.sign_in().await;
        let page = b.get("/connectors").await;
        assert!(page.body.contains(r#"data-testid="connector-add""#), "{}", page.body);
        assert!(
            !page.body.contains(r#"data-testid="connector-edit""#),
            "the file's sim is read-only: {}",
            page.body
        );

        let page =
            b.post("/connectors", &[("name", "backup"), ("kind", "sim"), ("settings", "window = 0")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(
            page.body.contains("window: must be 1 to 10000, not 0"),
            "the setting's error at the box: {}",
            page.body
        );
        assert!(page.body.contains(">window = 0</textarea>"), "what was typed stays: {}", page.body);
        let page =
            b.post("/connectors", &[("name", "backup"), ("kind", "sim"), ("settings", "window = [")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("not valid TOML"), "{}", page.body);
        let page = b
            .post(
                "/connectors",
                &[("name", "backup"), ("kind", "sim"), ("settings", "window = 5\nreceipt_delay_ms = 10")],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.get("/connectors").await;
        assert!(page.body.contains(r#"action="/connectors/backup/edit"#), "{}", page.body);
        assert!(page.body.contains("window = 5\n"), "its settings as TOML lines: {}", page.body);

        let page = b.post("/routes", &[("prefix", "44"), ("connector", "backup"), ("priority", "")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!page.body.contains(r#"id="r-prefix-error" role="alert"></p>"#), "{}", page.body);
        let page = b.post("/routes", &[("prefix", "+44"), ("connector", "backup"), ("priority", "")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let id = b.app.send(json!({"to": "+447911123423", "text": "by the backup"})).await;
        assert_eq!(b.app.wait_for_status(&id, "delivered").await["connector"], "backup");

        let page = b.post("/connectors/backup/edit", &[("kind", "sim"), ("settings", "window = 7")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, c) = b.app.get("/api/v1/connectors/backup").await;
        assert_eq!(c["settings"]["window"], 7, "{c}");
        let page = b.post("/connectors/backup/delete", &[]).await;
        assert_eq!(page.status, 409, "a route leads to it: {}", page.body);
        assert!(page.body.contains(r#"data-testid="removal-error""#), "{}", page.body);
        let (_, routes) = b.app.get("/api/v1/routes").await;
        let route = routes["routes"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(b.post(&format!("/routes/{route}/delete"), &[]).await.status, 303);
        assert_eq!(b.post("/connectors/backup/delete", &[]).await.status, 303);
        assert!(b.app.get("/api/v1/connectors/backup").await.0 == 404);

        bravo_with_owner(&b).await;
        b.sign_in_as("bravo-owner", "bravo-password-1").await;
        let page = b.post("/connectors", &[("name", "mine"), ("kind", "sim"), ("settings", "")]).await;
        assert_eq!(page.status, 403, "{}", page.body);
        let (_, list) = b.app.get("/api/v1/connectors").await;
        assert_eq!(list["connectors"].as_array().unwrap().len(), 1, "nothing was added: {list}");
        b.stop().await;
    })
    .await;
}

/// The message under a field (`data-testid="{testid}"`), empty if none.
fn field_error(body: &str, testid: &str) -> String {
    let marker = format!(r#"data-testid="{testid}">"#);
    let Some(i) = body.find(&marker) else { return String::new() };
    let rest = &body[i + marker.len()..];
    rest[..rest.find('<').unwrap_or(rest.len())].to_owned()
}

/// User groups with their members, a subject's permissions and a user's
/// role and groups, kept from forms with the API's errors at their fields;
/// only owners and admins reach them, and never another account's.
#[tokio::test]
async fn user_groups_permissions_and_roles_are_kept_from_forms_for_admins_only() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        for (name, role) in [("anna", "sender"), ("watcher", "viewer")] {
            let body = json!({"username": name, "password": format!("{name}-password-1"), "role": role});
            let (s, u) = b.app.post("/api/v1/users", body).await;
            assert_eq!(s, 201, "{u}");
        }
        let (_, users) = b.app.get("/api/v1/users").await;
        let id_of = |name: &str| {
            users["users"].as_array().unwrap().iter().find(|u| u["username"] == name).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let (anna, admin) = (id_of("anna"), id_of("admin"));
        let (s, g) = b.app.post("/api/v1/groups", json!({"name": "Drivers"})).await;
        assert_eq!(s, 201, "{g}");
        let drivers = g["id"].as_str().unwrap().to_owned();

        b.sign_in().await;
        let page = b.get("/").await;
        assert!(page.body.contains(r#"href="/user-groups""#) && page.body.contains(r#"href="/profile""#));
        let page = b.get("/user-groups").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let page = b.post("/user-groups", &[("name", " "), ("members", "anna")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!field_error(&page.body, "name-error").is_empty(), "{}", page.body);
        assert!(page.body.contains(r#"value="anna" checked"#), "the ticks are kept: {}", page.body);
        let page = b.post("/user-groups", &[("name", "Dispatch"), ("members", "anna")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.post("/user-groups", &[("name", "Dispatch")]).await;
        assert_eq!(page.status, 409, "{}", page.body);
        assert!(field_error(&page.body, "name-error").contains("exists"), "{}", page.body);
        let (_, groups) = b.app.get("/api/v1/user-groups").await;
        assert_eq!(groups["groups"][0]["members"], json!(["anna"]), "{groups}");
        let group = groups["groups"][0]["id"].as_str().unwrap().to_owned();

        // Rename, and members replaced.
        let page = b.get(&format!("/user-groups/{group}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let page = b
            .post(&format!("/user-groups/{group}"), &[("name", "Dispatchers"), ("members", "watcher")])
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, groups) = b.app.get("/api/v1/user-groups").await;
        assert_eq!(groups["groups"][0]["name"], "Dispatchers");
        assert_eq!(groups["groups"][0]["members"], json!(["watcher"]));

        // The group's permissions: a bad tag at its field, then saved.
        let path = format!("/permissions/user-groups/{group}");
        let page = b.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Drivers"), "{}", page.body);
        let page = b.post(&path, &[("groups", drivers.as_str()), ("tags", "#night, #no!")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!field_error(&page.body, "tags-error").is_empty(), "{}", page.body);
        assert!(page.body.contains(&format!(r#"value="{drivers}" checked"#)), "{}", page.body);
        let (_, rules) = b.app.get("/api/v1/permissions").await;
        assert_eq!(rules["permissions"], json!([]), "a refused form sets nothing");
        let page = b.post(&path, &[("groups", drivers.as_str()), ("tags", "#night #day")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, rules) = b.app.get("/api/v1/permissions").await;
        let rule = &rules["permissions"][0];
        assert_eq!(
            (
                rule["subject"].clone(),
                rule["groups"][0]["name"].clone(),
                rule["tags"].clone(),
                rule["any_number"].clone()
            ),
            (json!("user_group"), json!("Drivers"), json!(["#day", "#night"]), json!(false)),
            "{rules}"
        );
        let page = b.get("/user-groups").await;
        assert!(page.body.contains("#day #night"), "the list shows the rule: {}", page.body);

        // A user's own rule: any number; then removed.
        let path = format!("/permissions/users/{anna}");
        let page = b.post(&path, &[("any_number", "on")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, rules) = b.app.get("/api/v1/permissions").await;
        assert!(
            rules["permissions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["subject_name"] == "anna" && r["any_number"] == true)
        );
        let page = b.get(&path).await;
        assert!(page.body.contains(r#"name="any_number" checked"#), "{}", page.body);
        let page = b.post(&format!("{path}/delete"), &[]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, rules) = b.app.get("/api/v1/permissions").await;
        assert_eq!(rules["permissions"].as_array().unwrap().len(), 1, "{rules}");

        // A user's role and groups.
        let page = b.get(&format!("/users/{anna}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let page = b
            .post(
                &format!("/users/{anna}"),
                &[("display_name", "Anna N."), ("role", "admin"), ("groups", group.as_str())],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, u) = b.app.get(&format!("/api/v1/users/{anna}")).await;
        assert_eq!(
            (u["role"].clone(), u["groups"].clone(), u["display_name"].clone()),
            (json!("admin"), json!(["Dispatchers"]), json!("Anna N."))
        );
        let page = b.post(&format!("/users/{anna}"), &[("display_name", "Anna N."), ("role", "chief")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!field_error(&page.body, "role-error").is_empty(), "{}", page.body);
        let page =
            b.post(&format!("/users/{anna}"), &[("display_name", "Anna N."), ("role", "sender")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, u) = b.app.get(&format!("/api/v1/users/{anna}")).await;
        assert_eq!(
            (u["role"].clone(), u["groups"].clone()),
            (json!("sender"), json!([])),
            "unticked: out of the group"
        );
        // The last owner stays an owner.
        let page = b.post(&format!("/users/{admin}"), &[("role", "viewer")]).await;
        assert_eq!(page.status, 409, "{}", page.body);
        assert!(page.body.contains("last owner"), "{}", page.body);

        // Another account's users and groups are not found.
        let store = b.app.app.as_ref().unwrap().store.clone();
        let (_, other) = store.create_account("bravo").await.unwrap();
        let (_, u) = b
            .app
            .call_as(
                &other,
                "POST",
                "/api/v1/users",
                Some(json!({"username": "bravo-user", "role": "sender"})),
            )
            .await;
        let their_user = u["user"]["id"].as_str().unwrap().to_owned();
        let (_, g) = b
            .app
            .call_as(
                &other,
                "POST",
                "/api/v1/user-groups",
                Some(json!({"name": "Bravo team", "members": ["bravo-user"]})),
            )
            .await;
        let their_group = g["id"].as_str().unwrap().to_owned();
        for path in [
            format!("/users/{their_user}"),
            format!("/user-groups/{their_group}"),
            format!("/permissions/users/{their_user}"),
            format!("/permissions/user-groups/{their_group}"),
        ] {
            let page = b.get(&path).await;
            assert_eq!(page.status, 404, "GET {path}: {}", page.body);
            assert!(!page.body.to_lowercase().contains("bravo"), "{}", page.body);
        }
        for (path, form) in [
            (format!("/users/{their_user}"), vec![("role", "viewer")]),
            (format!("/user-groups/{their_group}"), vec![("name", "Taken")]),
            (format!("/user-groups/{their_group}/delete"), vec![]),
            (format!("/permissions/users/{their_user}"), vec![("any_number", "on")]),
            (format!("/permissions/user-groups/{their_group}/delete"), vec![]),
        ] {
            let page = b.post(&path, &form).await;
            assert_eq!(page.status, 404, "POST {path}: {}", page.body);
        }
        let (_, theirs) = b.app.call_as(&other, "GET", "/api/v1/user-groups", None).await;
        assert_eq!(theirs["groups"][0]["name"], "Bravo team");
        let (_, theirs) = b.app.call_as(&other, "GET", "/api/v1/permissions", None).await;
        assert_eq!(theirs["permissions"], json!([]));

        // Deleting a group.
        let page = b.post(&format!("/user-groups/{group}/delete"), &[]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, groups) = b.app.get("/api/v1/user-groups").await;
        assert_eq!(groups["groups"], json!([]));

        // Senders and viewers are refused, as by the API.
        for (name, password) in [("anna", "anna-password-1"), ("watcher", "watcher-password-1")] {
            b.sign_in_as(name, password).await;
            let page = b.get("/").await;
            assert!(!page.body.contains(r#"href="/user-groups""#), "{}", page.body);
            assert!(!page.body.contains(r#"href="/settings""#), "{}", page.body);
            assert!(!page.body.contains(r#"href="/sender-ids""#), "{}", page.body);
            for path in
                ["/user-groups".to_owned(), format!("/permissions/users/{anna}"), format!("/users/{anna}")]
            {
                assert_eq!(b.get(&path).await.status, 403, "{name} GET {path}");
            }
            let page = b.post("/user-groups", &[("name", "Mine")]).await;
            assert_eq!(page.status, 403, "{}", page.body);
            let page = b.post(&format!("/permissions/users/{anna}"), &[("any_number", "on")]).await;
            assert_eq!(page.status, 403, "{}", page.body);
            let page = b.post(&format!("/users/{anna}"), &[("role", "owner")]).await;
            assert_eq!(page.status, 403, "{}", page.body);
        }
        let (_, groups) = b.app.get("/api/v1/user-groups").await;
        assert_eq!(groups["groups"], json!([]));
        let (_, u) = b.app.get(&format!("/api/v1/users/{anna}")).await;
        assert_eq!(u["role"], "sender");
        b.stop().await;
    })
    .await;
}

/// Sender ids (add, default, delete) and templates (create, edit, delete,
/// preview) from forms, with the API's errors at their fields.
#[tokio::test]
async fn sender_ids_and_templates_are_kept_from_forms_and_a_template_is_previewed() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        let (s, u) = b
            .app
            .post(
                "/api/v1/users",
                json!({"username": "watcher", "password": "watcher-password-1", "role": "viewer"}),
            )
            .await;
        assert_eq!(s, 201, "{u}");
        let (s, c) =
            b.app.post("/api/v1/contacts", json!({"phone": "+48600100200", "name": "Anna Nowak"})).await;
        assert_eq!(s, 201, "{c}");
        b.sign_in().await;

        let page = b.get("/sender-ids").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let page = b.post("/sender-ids", &[("sender", "FarTooLongSender")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!field_error(&page.body, "sender-error").is_empty(), "{}", page.body);
        assert!(page.body.contains(r#"value="FarTooLongSender""#), "{}", page.body);
        let page = b.post("/sender-ids", &[("sender", "Kurier"), ("default", "on")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.post("/sender-ids", &[("sender", "Shop")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.get("/sender-ids").await;
        assert_eq!(page.body.matches(r#"data-testid="sender-id""#).count(), 2, "{}", page.body);
        let page = b.post("/sender-ids", &[("sender", "Shop"), ("default", "on")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, list) = b.app.get("/api/v1/sender-ids").await;
        let default: Vec<_> = list["sender_ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["default"] == true)
            .map(|s| s["sender"].clone())
            .collect();
        assert_eq!(default, [json!("Shop")], "{list}");
        let page = b.post("/sender-ids/delete", &[("sender", "Kurier")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, list) = b.app.get("/api/v1/sender-ids").await;
        assert_eq!(list["sender_ids"].as_array().unwrap().len(), 1, "{list}");

        // Templates: the API's errors with their position, at the body.
        let page = b.get("/templates").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let page =
            b.post("/templates", &[("name", "Reminder"), ("body", "Hi {{ contact.shoe_size }}")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        let error = field_error(&page.body, "body-error");
        assert!(error.contains("line 1, column") && error.contains("shoe_size"), "{}", page.body);
        assert!(page.body.contains("Hi {{ contact.shoe_size }}</textarea>"), "{}", page.body);
        let page = b.post("/templates", &[("name", "Reminder"), ("body", "Hi {% if %}")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(field_error(&page.body, "body-error").contains("line 1"), "{}", page.body);
        let page = b.post("/templates", &[("name", ""), ("body", "Hi")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!field_error(&page.body, "name-error").is_empty(), "{}", page.body);
        let body = "Dzień dobry {{ contact.first_name }}, do zapłaty {{ data.amount }} zł.";
        let page = b.post("/templates", &[("name", "Reminder"), ("body", body)]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let location = page.location.unwrap();
        assert!(location.starts_with("/templates/"), "{location}");
        let page = b.post("/templates", &[("name", "reminder"), ("body", "x")]).await;
        assert_eq!(page.status, 409, "{}", page.body);
        assert!(!field_error(&page.body, "name-error").is_empty(), "{}", page.body);

        // The preview for a contact, with data.
        let page = b
            .get(&format!(
                "{location}?phone=%2B48600100200&data=%7B%22amount%22%3A%20%22120%2C00%22%7D&preview=1"
            ))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(
            field_error(&page.body, "preview-text"),
            "Dzień dobry Anna, do zapłaty 120,00 zł.",
            "{}",
            page.body
        );
        assert_eq!(field_error(&page.body, "preview-encoding"), "ucs2");
        assert_eq!(field_error(&page.body, "preview-segments"), "1");
        assert!(page.body.contains(r#"<option value="+48600100200" label="Anna Nowak">"#), "{}", page.body);
        let page = b.get(&format!("{location}?phone=%2B48600100200&data=not%20json&preview=1")).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(field_error(&page.body, "data-error").contains("JSON"), "{}", page.body);
        let page = b.get(&format!("{location}?phone=abc&preview=1")).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!field_error(&page.body, "phone-error").is_empty(), "{}", page.body);

        // Edited with an error, then for real; deleted.
        let page = b.post(&location, &[("name", "Reminder"), ("body", "{{ customer }}")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(field_error(&page.body, "body-error").contains("customer"), "{}", page.body);
        let page = b.post(&location, &[("name", "Reminder 2"), ("body", "Hello {{ contact.name }}")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, list) = b.app.get("/api/v1/templates").await;
        assert_eq!(
            (list["templates"][0]["name"].clone(), list["templates"][0]["body"].clone()),
            (json!("Reminder 2"), json!("Hello {{ contact.name }}"))
        );
        let page = b.get(&format!("{location}?preview=1&phone=%2B48600100200")).await;
        assert_eq!(field_error(&page.body, "preview-text"), "Hello Anna Nowak", "{}", page.body);

        // Picked on the compose page, the template's text comes in the same
        // text area as the page's own (one definition of both).
        let textarea = |body: &str| -> String {
            let start = body.find(r#"<textarea id="text""#).unwrap_or_else(|| panic!("a text area: {body}"));
            body[start..start + body[start..].find('>').unwrap()].to_owned()
        };
        let compose = b.get("/compose").await;
        assert_eq!(compose.status, 200, "{}", compose.body);
        let id = location.trim_start_matches("/templates/");
        let part = b.get(&format!("/compose/template?template={id}&to=%2B48600100200&text=")).await;
        assert_eq!(part.status, 200, "{}", part.body);
        assert_eq!(textarea(&part.body), textarea(&compose.body));
        assert!(textarea(&part.body).contains(r#"hx-sync="closest form:replace""#), "{}", part.body);
        assert!(part.body.contains("Hello"), "the template's text: {}", part.body);

        // Another account's template and sender id are not found.
        let store = b.app.app.as_ref().unwrap().store.clone();
        let (_, other) = store.create_account("bravo").await.unwrap();
        let (_, t) = b
            .app
            .call_as(
                &other,
                "POST",
                "/api/v1/templates",
                Some(json!({"name": "Bravo tpl", "body": "Bravo secret"})),
            )
            .await;
        let theirs = t["id"].as_str().unwrap().to_owned();
        b.app.call_as(&other, "POST", "/api/v1/sender-ids", Some(json!({"sender": "BravoCo"}))).await;
        for path in [format!("/templates/{theirs}"), format!("/templates/{theirs}?preview=1")] {
            let page = b.get(&path).await;
            assert_eq!(page.status, 404, "{path}: {}", page.body);
            assert!(!page.body.to_lowercase().contains("bravo"), "{}", page.body);
        }
        let page = b.post(&format!("/templates/{theirs}"), &[("name", "Taken"), ("body", "x")]).await;
        assert_eq!(page.status, 404, "{}", page.body);
        let page = b.post(&format!("/templates/{theirs}/delete"), &[]).await;
        assert_eq!(page.status, 404, "{}", page.body);
        let page = b.post("/sender-ids/delete", &[("sender", "BravoCo")]).await;
        assert_eq!(page.status, 404, "{}", page.body);
        let (_, t) = b.app.call_as(&other, "GET", &format!("/api/v1/templates/{theirs}"), None).await;
        assert_eq!(t["name"], "Bravo tpl");
        let (_, s) = b.app.call_as(&other, "GET", "/api/v1/sender-ids", None).await;
        assert_eq!(s["sender_ids"][0]["sender"], "BravoCo");

        // A viewer reads and previews, and changes nothing.
        b.sign_in_as("watcher", "watcher-password-1").await;
        let page = b.get("/templates").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(!page.body.contains(r#"action="/templates?"#), "no form for a viewer: {}", page.body);
        let page = b.get(&format!("{location}?preview=1")).await;
        assert!(page.body.contains(r#"data-testid="preview""#), "{}", page.body);
        let page = b.post("/templates", &[("name", "Mine"), ("body", "x")]).await;
        assert_eq!(page.status, 403, "{}", page.body);
        let page = b.post(&format!("{location}/delete"), &[]).await;
        assert_eq!(page.status, 403, "{}", page.body);
        let page = b.post("/sender-ids", &[("sender", "Mine")]).await;
        assert_eq!(page.status, 403, "{}", page.body);
        let page = b.post("/sender-ids/delete", &[("sender", "Shop")]).await;
        assert_eq!(page.status, 403, "{}", page.body);
        let (_, list) = b.app.get("/api/v1/sender-ids").await;
        assert_eq!(list["sender_ids"].as_array().unwrap().len(), 1, "{list}");

        b.sign_in_as("admin", common::ADMIN_PASSWORD).await;
        let page = b.post(&format!("{location}/delete"), &[]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, list) = b.app.get("/api/v1/templates").await;
        assert_eq!(list["templates"], json!([]));
        b.stop().await;
    })
    .await;
}

/// My profile: language and time zone, a new password with the current
/// one, and an own number verified with the code Kurier sent it, which
/// the campaign form then offers as sender.
#[tokio::test]
async fn my_profile_keeps_language_time_zone_password_and_verified_own_numbers() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        for (name, role) in [("sam", "sender"), ("watcher", "viewer")] {
            let body = json!({"username": name, "password": format!("{name}-password-1"), "role": role});
            let (s, u) = b.app.post("/api/v1/users", body).await;
            assert_eq!(s, 201, "{u}");
        }
        b.sign_in_as("sam", "sam-password-1").await;
        let page = b.get("/profile").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(r#"<html lang="en">"#));

        let page = b.post("/profile", &[("language", "pl"), ("time_zone", "Mars/Base")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(field_error(&page.body, "tz-error").contains("Mars/Base"), "{}", page.body);
        let page = b.post("/profile", &[("language", "xx"), ("time_zone", "")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        let page = b.post("/profile", &[("language", "pl"), ("time_zone", "Europe/Warsaw")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.get("/profile?done=saved").await;
        assert!(page.body.contains(r#"<html lang="pl">"#), "{}", page.body);
        assert!(page.body.contains(r#"value="Europe/Warsaw""#), "{}", page.body);
        assert!(page.body.contains(r#"data-testid="saved""#), "{}", page.body);
        // The language is the user's own, not only the cookie's.
        b.cookies.retain(|c| !c.starts_with("kurier_lang="));
        let page = b.get("/profile").await;
        assert!(page.body.contains(r#"<html lang="pl">"#), "{}", page.body);

        // An own number: a code is sent, a wrong one refused, the right one verifies.
        let page = b.post("/profile/numbers", &[("phone", "not a number")]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!field_error(&page.body, "phone-error").is_empty(), "{}", page.body);
        let page = b.post("/profile/numbers", &[("phone", "+48600100777")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.get("/profile?done=code_sent").await;
        assert!(
            page.body.contains(r#"data-testid="code-sent""#) && page.body.contains("+48600100777"),
            "{}",
            page.body
        );
        let (_, sent) = b.app.get("/api/v1/messages?to=%2B48600100777").await;
        let id = sent["messages"][0]["id"].as_str().expect("the code's message").to_owned();
        let delivered = b.app.wait_for_status(&id, "delivered").await;
        let code = delivered["text"].as_str().unwrap().rsplit(' ').next().unwrap().to_owned();
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let page = b.post("/profile/numbers/verify", &[("phone", "+48600100777"), ("code", wrong)]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!field_error(&page.body, "code-error").is_empty(), "{}", page.body);
        let page = b.get("/campaigns/new").await;
        assert!(!page.body.contains(r#"value="+48600100777""#), "not before it is verified: {}", page.body);
        let page =
            b.post("/profile/numbers/verify", &[("phone", "+48600100777"), ("code", code.as_str())]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.get("/profile").await;
        assert!(page.body.contains(r#"data-testid="number-verified""#), "{}", page.body);
        let page = b.get("/campaigns/new").await;
        assert!(
            page.body.contains(r#"<option value="+48600100777""#),
            "the campaign form offers it: {}",
            page.body
        );
        let page = b.get("/compose").await;
        assert!(page.body.contains(r#"<option value="+48600100777""#), "and compose: {}", page.body);

        // The password: the current one is required.
        let page = b
            .post(
                "/profile/password",
                &[("current_password", "wrong-password"), ("password", "sam-password-2")],
            )
            .await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!field_error(&page.body, "current-error").is_empty(), "{}", page.body);
        let page = b
            .post("/profile/password", &[("current_password", "sam-password-1"), ("password", "short")])
            .await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!field_error(&page.body, "password-error").is_empty(), "{}", page.body);
        let page = b
            .post(
                "/profile/password",
                &[("current_password", "sam-password-1"), ("password", "sam-password-2")],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(page.location.as_deref(), Some("/signin"));
        assert_eq!(b.get("/profile").await.status, 303, "the session ended");
        let url = b.app.url("/signin");
        let page = b.post_raw(&url, &[("username", "sam"), ("password", "sam-password-1")]).await;
        assert_eq!(page.status, 401, "the old password is gone");
        b.sign_in_as("sam", "sam-password-2").await;

        // A viewer keeps a profile but has no numbers to send from.
        b.sign_in_as("watcher", "watcher-password-1").await;
        let page = b.get("/profile").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(!page.body.contains("/profile/numbers"), "{}", page.body);
        let page = b.post("/profile/numbers", &[("phone", "+48600100778")]).await;
        assert_eq!(page.status, 403, "{}", page.body);
        let page = b.post("/profile", &[("language", "bg"), ("time_zone", "Europe/Sofia")]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.get("/profile").await;
        assert!(page.body.contains(r#"<html lang="bg">"#), "{}", page.body);
        b.stop().await;
    })
    .await;
}

/// A run that was not sent (here: its user was disabled) says why on its page.
#[tokio::test]
async fn a_failed_campaign_run_shows_its_reason() {
    on_each_backend(|backend| async move {
        let mut b = Browser::open(&backend).await;
        let (s, u) = b.app.post("/api/v1/users", json!({"username": "sam", "password": "sam-password-1", "role": "sender"})).await;
        assert_eq!(s, 201, "{u}");
        let sam = u["user"]["id"].as_str().unwrap().to_owned();
        let (s, k) = b.app.post("/api/v1/api-keys", json!({"name": "sam's", "user_id": sam})).await;
        assert_eq!(s, 201, "{k}");
        let key = k["key"].as_str().unwrap().to_owned();
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
        let (s, c) = b
            .app
            .call_as(
                &key,
                "POST",
                "/api/v1/campaigns",
                Some(json!({"name": "Later", "text": "Hello", "numbers": ["+48600100300"], "send_at": soon, "start": true})),
            )
            .await;
        assert_eq!(s, 201, "{c}");
        let id = c["campaign"]["id"].as_str().unwrap().to_owned();
        let (s, _) = b.app.patch(&format!("/api/v1/users/{sam}"), json!({"disabled": true})).await;
        assert_eq!(s, 200);
        let mut run = serde_json::Value::Null;
        for _ in 0..300 {
            run = b.app.get(&format!("/api/v1/campaigns/{id}/runs/1")).await.1;
            if run["status"] == "failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(run["status"], "failed", "{run}");
        b.sign_in().await;
        let page = b.get(&format!("/campaigns/{id}/runs/1")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(r#"data-testid="run-failure""#), "{}", page.body);
        assert!(page.body.contains("who is disabled"), "{}", page.body);
        b.stop().await;
    })
    .await;
}
