//! Status callbacks: a POST per status change, signed, retried, logged.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{TestApp, on_each_backend};
use serde_json::{Value, json};
use tokio::sync::Mutex;

#[derive(Default)]
struct Received {
    calls: Vec<(String, Value)>,
    /// Answer 500 to this many calls before answering 200.
    fail_first: usize,
    seen: usize,
}

/// A customer's endpoint on port 0 that records every callback.
async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Received>>) {
    let state = Arc::new(Mutex::new(Received { fail_first, ..Default::default() }));
    let shared = state.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let shared = shared.clone();
            async move {
                let mut r = shared.lock().await;
                r.seen += 1;
                if r.seen <= r.fail_first {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let sig =
                    headers.get("x-kurier-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                r.calls.push((sig, serde_json::from_slice(&body).unwrap_or(Value::Null)));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, state)
}

async fn wait_for_calls(state: &Arc<Mutex<Received>>, n: usize) {
    for _ in 0..300 {
        if state.lock().await.calls.len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("expected {n} callbacks, got {}", state.lock().await.calls.len());
}

#[tokio::test]
async fn every_status_change_is_posted_signed_with_the_account_secret() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (url, received) = receiver(0).await;
        let id = app.send(json!({"to": "+48600100200", "text": "call me back", "callback_url": url})).await;
        app.wait_for_status(&id, "delivered").await;
        wait_for_calls(&received, 3).await;

        let (_, account) = app.get("/api/v1/account").await;
        let secret = account["webhook_secret"].as_str().unwrap();
        let calls = received.lock().await.calls.clone();
        let statuses: Vec<&str> =
            calls.iter().map(|(_, body)| body["message"]["status"].as_str().unwrap()).collect();
        let mut sorted = statuses.clone();
        sorted.sort();
        assert_eq!(sorted, ["delivered", "sending", "sent"], "one call per change after acceptance");
        for (signature, body) in &calls {
            assert_eq!(body["event"], "message.status");
            assert_eq!(body["message"]["id"], id.as_str());
            let t: i64 = signature.strip_prefix("t=").unwrap().split(',').next().unwrap().parse().unwrap();
            assert!((chrono::Utc::now().timestamp() - t).abs() < 60, "timestamp is current");
            // The receiver verifies over the exact bytes it got; re-serialising
            // keeps key order here because the payload is compact JSON.
            assert_eq!(signature, &kurier::webhooks::sign(secret, t, &body.to_string()));
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_and_every_attempt_is_visible() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| c.webhooks.max_attempts = 5).await;
        let (url, received) = receiver(2).await;
        let id = app.send(json!({"to": "+48600100200", "text": "retry", "send_at": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(), "callback_url": url})).await;
        let (status, _) = app.post(&format!("/api/v1/messages/{id}/cancel"), json!({})).await;
        assert_eq!(status, 200);
        wait_for_calls(&received, 1).await;

        // The endpoint has its answer before Kurier records it: wait for the record.
        let mut list = serde_json::Value::Null;
        for _ in 0..200 {
            let (status, got) = app.get(&format!("/api/v1/webhooks/deliveries?message_id={id}")).await;
            assert_eq!(status, 200);
            list = got;
            if list["deliveries"][0]["status"] == "delivered" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let deliveries = list["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), 1, "{list}");
        let d = &deliveries[0];
        assert_eq!(d["status"], "delivered");
        assert_eq!(d["attempts"], 3);
        assert_eq!(d["payload"]["message"]["status"], "canceled");
        let log: Vec<Option<i64>> = d["log"].as_array().unwrap().iter().map(|a| a["response_status"].as_i64()).collect();
        assert_eq!(log, [Some(500), Some(500), Some(200)]);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn callbacks_go_only_where_the_outbound_policy_allows() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| {
            c.webhooks.max_attempts = 1;
            c.server.outbound_denied_networks = vec!["127.0.0.0/8".into(), "::1".into()];
        })
        .await;
        // The cloud metadata address is refused when the message is sent.
        let (status, resp) = app
            .post(
                "/api/v1/messages",
                json!({"to": "+48600100200", "text": "x", "callback_url": "http://169.254.169.254/latest/meta-data/"}),
            )
            .await;
        assert_eq!((status, resp["error"]["field"].as_str()), (422, Some("callback_url")), "{resp}");
        // The operator's networks are refused when a callback would be made:
        // by address, and by a name that resolves into them.
        let (url, received) = receiver(0).await;
        let by_name = url.replace("127.0.0.1", "localhost");
        let mut ids = Vec::new();
        for callback in [&url, &by_name] {
            ids.push(app.send(json!({"to": "+48600100200", "text": "x", "callback_url": callback})).await);
        }
        for id in &ids {
            let mut list = Value::Null;
            for _ in 0..300 {
                list = app.get(&format!("/api/v1/webhooks/deliveries?message_id={id}")).await.1;
                let all = list["deliveries"].as_array().unwrap();
                if !all.is_empty() && all.iter().all(|d| d["status"] == "failed") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            let all = list["deliveries"].as_array().unwrap();
            assert!(!all.is_empty(), "{list}");
            for d in all {
                assert_eq!(d["status"], "failed", "{list}");
                assert!(d["last_error"].as_str().unwrap().contains("may not connect"), "{list}");
            }
        }
        assert!(received.lock().await.calls.is_empty(), "nothing reached the endpoint");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_endpoint_is_given_up_after_the_configured_attempts() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| c.webhooks.max_attempts = 2).await;
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/gone", l.local_addr().unwrap())
        };
        let id = app.send(json!({"to": "+48600100200", "text": "x", "callback_url": dead})).await;
        app.wait_for_status(&id, "delivered").await;
        let mut last = Value::Null;
        for _ in 0..200 {
            let (_, list) = app.get(&format!("/api/v1/webhooks/deliveries?message_id={id}")).await;
            let all = list["deliveries"].as_array().unwrap();
            if all.len() == 3 && all.iter().all(|d| d["status"] == "failed") {
                assert!(
                    all.iter().all(|d| d["attempts"] == 2 && d["last_error"] == "could not connect"),
                    "{list}"
                );
                app.stop().await;
                return;
            }
            last = list;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("callbacks were not given up: {last}");
    })
    .await;
}
