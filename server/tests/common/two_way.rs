//! Two-way helpers: a phone writes to one of our numbers through the `sim`
//! connector, the message is read back once matched, numbers and keywords
//! are saved, and what went out to a phone is listed.

use std::time::Duration;

use serde_json::{Value, json};

use super::{API_KEY, TestApp};

pub const PHONE: &str = "+48600100200";

/// A phone sends `text` to our number `to` through the `sim` connector.
pub async fn inject(app: &TestApp, from: &str, to: &str, text: &str) {
    let (status, body) =
        app.post("/api/v1/connectors/sim/inbound", json!({"from": from, "to": to, "text": text})).await;
    assert_eq!(status, 202, "{body}");
}

/// The received message from `from` with `text`, once matched.
pub async fn matched(app: &TestApp, from: &str, text: &str) -> Value {
    matched_with(app, API_KEY, from, text).await
}

pub async fn matched_with(app: &TestApp, key: &str, from: &str, text: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..400 {
        let list = get_with(app, key, "/api/v1/inbound?limit=100").await.1;
        let found = list["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["from"] == from && m["text"] == text)
            .cloned();
        if let Some(m) = found {
            let (_, one) =
                get_with(app, key, &format!("/api/v1/inbound/{}", m["id"].as_str().unwrap())).await;
            if !one["match"].is_null() {
                return one;
            }
            last = one;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("'{text}' from {from} was never matched; last: {last}");
}

/// A second account, `branch`, sharing the number 7100 with the test's
/// own account: (its id, its API key).
pub async fn share_7100(app: &TestApp) -> (String, String) {
    let store = app.app.as_ref().expect("an in-process app").store.clone();
    let (branch, key) = store.create_account("branch").await.unwrap();
    number(app, json!({"number": "7100", "kind": "shared"})).await;
    let (status, n) =
        post_with(app, &key, "/api/v1/numbers", json!({"number": "7100", "kind": "shared"})).await;
    assert_eq!(status, 201, "{n}");
    (branch, key)
}

pub async fn get_with(app: &TestApp, key: &str, path: &str) -> (u16, Value) {
    let resp = app.http.get(app.url(path)).bearer_auth(key).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub async fn post_with(app: &TestApp, key: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = app.http.post(app.url(path)).bearer_auth(key).json(&body).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Outbound messages to `to`, oldest first.
pub async fn sent_to(app: &TestApp, to: &str) -> Vec<Value> {
    let (_, list) =
        app.get(&format!("/api/v1/messages?direction=outbound&to={}", to.replace('+', "%2B"))).await;
    let mut out: Vec<Value> = list["messages"].as_array().unwrap().clone();
    out.reverse();
    out
}

pub async fn number(app: &TestApp, body: Value) -> Value {
    let (status, n) = app.post("/api/v1/numbers", body).await;
    assert_eq!(status, 201, "{n}");
    n
}

pub async fn keyword(app: &TestApp, body: Value) -> Value {
    let (status, k) = app.post("/api/v1/keywords", body).await;
    assert_eq!(status, 201, "{k}");
    k
}
