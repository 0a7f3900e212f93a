//! The messages API as a client sees it, on SQLite and PostgreSQL.

mod common;

use common::{API_KEY, TestApp, on_each_backend, sim};
use serde_json::{Value, json};

#[tokio::test]
async fn a_sent_message_reaches_delivered_with_the_time_of_every_status() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (status, resp) =
            app.post("/api/v1/messages", json!({"to": "+48600100200", "text": "Hello"})).await;
        assert_eq!(status, 202, "{resp}");
        let m = &resp["messages"][0];
        assert_eq!(m["status"], "queued");
        assert_eq!(m["to"], "+48600100200");
        assert_eq!(m["segments"], 1);
        assert_eq!(m["encoding"], "gsm7");
        let id = m["id"].as_str().unwrap();

        let m = app.wait_for_status(id, "delivered").await;
        let statuses: Vec<&str> =
            m["events"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["queued", "sending", "sent", "delivered"]);
        assert!(m["events"].as_array().unwrap().iter().all(|e| e["at"].as_str().unwrap().ends_with('Z')));
        assert_eq!(m["connector"], "sim");
        assert!(m["smsc_message_id"].as_str().is_some_and(|s| !s.is_empty()));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn unicode_text_is_counted_in_ucs2_segments() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let text = "Zażółć gęślą jaźń 😀 ".repeat(4);
        let (status, resp) = app.post("/api/v1/messages", json!({"to": "+48600100200", "text": text})).await;
        assert_eq!(status, 202, "{resp}");
        assert_eq!(resp["messages"][0]["encoding"], "ucs2");
        assert_eq!(resp["messages"][0]["segments"], 2);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_requests_get_a_json_error_naming_the_field_and_store_nothing() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| c.messages.max_segments = 2).await;
        let cases: Vec<(Value, u16, &str, Option<&str>)> = vec![
            (json!({"text": "hi"}), 422, "invalid_field", Some("to")),
            (json!({"to": "+48600100200"}), 422, "invalid_field", Some("text")),
            (json!({"to": "+48600100200", "text": ""}), 422, "invalid_field", Some("text")),
            (json!({"to": "+48600100200", "text": "   "}), 422, "invalid_field", Some("text")),
            (
                json!({"to": "+48600100200", "text": "a".repeat(153 * 2 + 1)}),
                422,
                "invalid_field",
                Some("text"),
            ),
            (json!({"to": "not a number", "text": "hi"}), 422, "invalid_field", Some("to")),
            (json!({"to": "+48000000000", "text": "hi"}), 422, "invalid_field", Some("to")),
            (json!({"to": [], "text": "hi"}), 422, "invalid_field", Some("to")),
            (json!({"to": 48600100200u64, "text": "hi"}), 422, "invalid_field", Some("to")),
            (json!({"to": "+48600100200", "text": 5}), 422, "invalid_field", Some("text")),
            (
                json!({"to": "+48600100200", "text": "hi", "from": "ThisIsTooLongASender"}),
                422,
                "invalid_field",
                Some("from"),
            ),
            (
                json!({"to": "+48600100200", "text": "hi", "from": "Zażółć"}),
                422,
                "invalid_field",
                Some("from"),
            ),
            (
                json!({"to": "+48600100200", "text": "hi", "callback_url": "ftp://x"}),
                422,
                "invalid_field",
                Some("callback_url"),
            ),
            (
                json!({"to": "+48600100200", "text": "hi", "send_at": "tomorrow"}),
                422,
                "invalid_field",
                Some("send_at"),
            ),
            (
                json!({"to": "+48600100200", "text": "hi", "tags": ["two words"]}),
                422,
                "invalid_field",
                Some("tags[0]"),
            ),
            (json!({"to": "+48600100200", "text": "hi", "colour": "red"}), 422, "invalid_field", None),
            // Alphanumeric senders travel as ASCII in source_addr (at most
            // 11 of them): no control characters, nothing outside the GSM
            // basic table's printable ASCII.
            (
                json!({"to": "+48600100200", "text": "hi", "from": "ÄÖÜÄÖÜÄÖÜÄÖ"}),
                422,
                "invalid_field",
                Some("from"),
            ),
            (
                json!({"to": "+48600100200", "text": "hi", "from": "Shop\nX"}),
                422,
                "invalid_field",
                Some("from"),
            ),
            (
                json!({"to": "+48600100200", "text": "hi", "from": "Shop\rX"}),
                422,
                "invalid_field",
                Some("from"),
            ),
            (
                json!({"to": "+48600100200", "text": "hi", "from": "Shop\u{c}X"}),
                422,
                "invalid_field",
                Some("from"),
            ),
            (json!({"to": "+48600100200", "text": "hi", "from": "Café"}), 422, "invalid_field", Some("from")),
            (
                json!({"to": "+48600100200", "text": "hi", "from": "Shop[1]"}),
                422,
                "invalid_field",
                Some("from"),
            ),
            // PostgreSQL refuses a NUL in text: refused alike on both backends
            // (it once failed the whole shared commit there with a 500).
            (json!({"to": "+48600100200", "text": "Hi\u{0}there"}), 422, "invalid_field", Some("text")),
            (
                json!({"to": "+48600100200", "text": "hi", "tags": ["ok", "x\u{0}"]}),
                422,
                "invalid_field",
                Some("tags[1]"),
            ),
        ];
        for (body, want_status, want_code, want_field) in cases {
            let (status, resp) = app.post("/api/v1/messages", body.clone()).await;
            assert_eq!(status, want_status, "{body} -> {resp}");
            assert_eq!(resp["error"]["code"], want_code, "{body} -> {resp}");
            assert!(!resp["error"]["message"].as_str().unwrap().is_empty());
            if let Some(field) = want_field {
                assert_eq!(resp["error"]["field"], field, "{body} -> {resp}");
            }
        }
        let (_, list) = app.get("/api/v1/messages").await;
        assert_eq!(list["messages"].as_array().unwrap().len(), 0, "nothing stored");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn malformed_bodies_wrong_types_and_missing_keys_are_refused_cleanly() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| c.server.max_body_bytes = 64 * 1024).await;
        let url = app.url("/api/v1/messages");
        let raw = |body: &'static str, ctype: Option<&'static str>, key: Option<&'static str>| {
            let mut r = app.http.post(&url).body(body);
            if let Some(t) = ctype {
                r = r.header("content-type", t);
            }
            if let Some(k) = key {
                r = r.header("authorization", k);
            }
            r
        };
        let bearer = Some("Bearer kur_test_admin_key");
        let cases = vec![
            (
                raw("{\"to\": \"+48600100200\", \"text\": ", Some("application/json"), bearer),
                400,
                "malformed_json",
            ),
            (raw("[1, 2]", Some("application/json"), bearer), 400, "malformed_json"),
            (
                raw("{\"to\":\"+48600100200\",\"text\":\"hi\"} trailing", Some("application/json"), bearer),
                400,
                "malformed_json",
            ),
            (
                raw("to=%2B48600100200&text=hi", Some("application/x-www-form-urlencoded"), bearer),
                415,
                "unsupported_media_type",
            ),
            (raw("<sms/>", Some("text/xml"), bearer), 415, "unsupported_media_type"),
            (raw("{}", None, bearer), 415, "unsupported_media_type"),
            (
                raw("{\"to\":\"+48600100200\",\"text\":\"hi\"}", Some("application/json"), None),
                401,
                "unauthorized",
            ),
            (
                raw(
                    "{\"to\":\"+48600100200\",\"text\":\"hi\"}",
                    Some("application/json"),
                    Some("Bearer wrong"),
                ),
                401,
                "unauthorized",
            ),
            (
                raw("{\"to\":\"+48600100200\",\"text\":\"hi\"}", Some("application/json"), Some("Basic abc")),
                401,
                "unauthorized",
            ),
        ];
        for (req, want_status, want_code) in cases {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            assert_eq!((status, body["error"]["code"].as_str().unwrap()), (want_status, want_code), "{body}");
        }
        let big = json!({"to": "+48600100200", "text": "x".repeat(70 * 1024)});
        let resp = app.http.post(&url).bearer_auth(API_KEY).json(&big).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 413);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "body_too_large");

        // What `curl -d '{...}'` sends (a form content type) is read as JSON.
        let resp = raw(
            "{\"to\":\"+48600100200\",\"text\":\"hi\"}",
            Some("application/x-www-form-urlencoded"),
            bearer,
        )
        .send()
        .await
        .unwrap();
        assert_eq!(resp.status().as_u16(), 202);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn ten_thousand_recipients_with_three_invalid_accepts_the_rest_and_lists_the_three() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| {
            // Keep them queued: this test is about acceptance, not delivery.
            c.dispatch.max_in_flight = 1;
            sim(c).submit_delay_ms = 60_000;
            sim(c).window = 1;
        })
        .await;
        let mut to: Vec<String> = (0..10_000).map(|i| format!("+48600{i:06}")).collect();
        to[17] = "+48 12".into();
        to[5000] = "bogus".into();
        to[9999] = to[0].clone();
        let (status, resp) = app.post("/api/v1/messages", json!({"to": to, "text": "Bulk"})).await;
        assert_eq!(status, 202);
        assert_eq!(resp["messages"].as_array().unwrap().len(), 9_997);
        let errors = resp["errors"].as_array().unwrap();
        let summary: Vec<(u64, &str)> =
            errors.iter().map(|e| (e["index"].as_u64().unwrap(), e["code"].as_str().unwrap())).collect();
        assert_eq!(summary, [(17, "invalid_number"), (5000, "invalid_number"), (9999, "duplicate")]);

        let (status, resp) =
            app.post("/api/v1/messages", json!({"to": to, "text": "Bulk", "atomic": true})).await;
        assert_eq!(status, 422, "{resp}");
        assert_eq!(resp["error"]["field"], "to[17]");
        let counts = app.app.as_ref().unwrap().store.count_by_status().await.unwrap();
        assert_eq!(counts.values().sum::<i64>(), 9_997, "the atomic request stored nothing");

        let too_many: Vec<String> = (0..10_001).map(|i| format!("+48600{i:06}")).collect();
        let (status, resp) = app.post("/api/v1/messages", json!({"to": too_many, "text": "x"})).await;
        assert_eq!((status, resp["error"]["field"].as_str()), (422, Some("to")));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retried_request_send_only_once() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let body = json!({"to": ["+48600100200", "+48600100201"], "text": "Once"});
        let key = [("Idempotency-Key", "order-42")];
        let (s1, r1) = app.post_with("/api/v1/messages", body.clone(), &key).await;
        let (s2, r2) = app.post_with("/api/v1/messages", body.clone(), &key).await;
        assert_eq!((s1, s2), (202, 202));
        assert_eq!(r1, r2, "the retry gets the first answer");
        let (s3, r3) =
            app.post_with("/api/v1/messages", json!({"to": "+48600100200", "text": "Other"}), &key).await;
        assert_eq!((s3, r3["error"]["code"].as_str()), (409, Some("idempotency_key_reused")));
        let (_, list) = app.get("/api/v1/messages").await;
        assert_eq!(list["messages"].as_array().unwrap().len(), 2);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn hashtags_in_the_text_never_refuse_a_message_and_the_first_twenty_become_tags() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let words: Vec<String> = (1..=25).map(|i| format!("#w{i}")).collect();
        let body = json!({"to": "+48600100200", "text": words.join(" "), "tags": ["given"]});
        let (status, resp) = app.post("/api/v1/messages", body).await;
        assert_eq!(status, 202, "{resp}");
        let mut want = vec!["given".to_owned()];
        want.extend((1..=20).map(|i| format!("w{i}")));
        assert_eq!(resp["messages"][0]["tags"], json!(want));
        let id = resp["messages"][0]["id"].as_str().unwrap();
        let (_, stored) = app.get(&format!("/api/v1/messages/{id}")).await;
        assert_eq!(stored["tags"].as_array().map(Vec::len), Some(21), "{stored}");

        // Tags the client gives are still limited.
        let given: Vec<String> = (1..=21).map(|i| format!("g{i}")).collect();
        let (status, resp) =
            app.post("/api/v1/messages", json!({"to": "+48600100200", "text": "hi", "tags": given})).await;
        assert_eq!((status, resp["error"]["field"].as_str()), (422, Some("tags")), "{resp}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_retry_with_its_idempotency_key_gets_the_first_answer_though_the_recipient_opted_out_since() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let body = json!({"to": "+48600100200", "text": "Order 42 shipped"});
        let key = [("Idempotency-Key", "order-42")];
        let (s1, r1) = app.post_with("/api/v1/messages", body.clone(), &key).await;
        assert_eq!(s1, 202, "{r1}");
        let (status, resp) = app.post("/api/v1/opt-outs", json!({"phone": "+48600100200"})).await;
        assert!(status < 300, "{resp}");
        let (s2, r2) = app.post_with("/api/v1/messages", body.clone(), &key).await;
        assert_eq!((s2, &r2), (202, &r1), "the retry gets the first answer");
        // Without the key it is refused, as any new request is.
        let (s3, r3) = app.post("/api/v1/messages", body).await;
        assert_eq!((s3, r3["error"]["field"].as_str()), (422, Some("to")), "{r3}");
        let (_, list) = app.get("/api/v1/messages").await;
        assert_eq!(list["messages"].as_array().unwrap().len(), 1);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_history_filters_and_pages_with_a_cursor() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        for i in 0..5 {
            app.send(json!({"to": format!("+4860010020{i}"), "text": format!("Order {i} shipped #shop")}))
                .await;
        }
        app.send(json!({"to": "+359881234567", "text": "Здравей 100% 50_off", "tags": ["Promo"]})).await;
        app.wait_until_settled().await;

        let (_, page1) = app.get("/api/v1/messages?limit=4").await;
        assert_eq!(page1["messages"].as_array().unwrap().len(), 4);
        let cursor = page1["next_cursor"].as_str().unwrap();
        let (_, page2) = app.get(&format!("/api/v1/messages?limit=4&cursor={cursor}")).await;
        assert_eq!(page2["messages"].as_array().unwrap().len(), 2);
        assert!(page2["next_cursor"].is_null());
        let first_ids: Vec<&Value> = page1["messages"].as_array().unwrap().iter().map(|m| &m["id"]).collect();
        assert!(page2["messages"].as_array().unwrap().iter().all(|m| !first_ids.contains(&&m["id"])));

        let count = |v: &Value| v["messages"].as_array().unwrap().len();
        assert_eq!(count(&app.get("/api/v1/messages?tag=%23SHOP").await.1), 5);
        assert_eq!(count(&app.get("/api/v1/messages?tag=promo").await.1), 1);
        assert_eq!(count(&app.get("/api/v1/messages?q=order%202").await.1), 1);
        assert_eq!(count(&app.get("/api/v1/messages?q=100%25").await.1), 1);
        assert_eq!(count(&app.get("/api/v1/messages?q=50_off").await.1), 1);
        assert_eq!(count(&app.get("/api/v1/messages?q=0_o").await.1), 0, "words, not substrings");
        assert_eq!(count(&app.get("/api/v1/messages?to=%2B48600100203").await.1), 1);
        assert_eq!(count(&app.get("/api/v1/messages?status=delivered").await.1), 6);
        assert_eq!(count(&app.get("/api/v1/messages?status=failed").await.1), 0);
        assert_eq!(count(&app.get("/api/v1/messages?direction=outbound").await.1), 6);
        assert_eq!(
            count(&app.get("/api/v1/messages?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z").await.1),
            6
        );
        assert_eq!(count(&app.get("/api/v1/messages?until=2000-01-01T00:00:00Z").await.1), 0);

        for (query, field) in [
            ("status=nope", "status"),
            ("direction=sideways", "direction"),
            ("since=yesterday", "since"),
            ("cursor=abc", "cursor"),
            ("limit=0", "limit"),
            ("limit=many", "query"),
            ("to=abc", "to"),
        ] {
            let (status, resp) = app.get(&format!("/api/v1/messages?{query}")).await;
            assert_eq!((status, resp["error"]["field"].as_str()), (400, Some(field)), "{query}: {resp}");
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_future_send_at_keeps_a_message_scheduled_until_then_and_it_can_be_canceled() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(600)).to_rfc3339();
        let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let (_, resp) = app
            .post("/api/v1/messages", json!({"to": "+48600100200", "text": "soon", "send_at": soon}))
            .await;
        assert_eq!(resp["messages"][0]["status"], "scheduled");
        let soon_id = resp["messages"][0]["id"].as_str().unwrap().to_owned();
        let later_id = app.send(json!({"to": "+48600100201", "text": "later", "send_at": later})).await;

        let (_, m) = app.get(&format!("/api/v1/messages/{soon_id}")).await;
        assert_eq!(m["status"], "scheduled");
        let m = app.wait_for_status(&soon_id, "delivered").await;
        let statuses: Vec<&str> =
            m["events"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["scheduled", "queued", "sending", "sent", "delivered"]);

        let (status, m) = app.post(&format!("/api/v1/messages/{later_id}/cancel"), json!({})).await;
        assert_eq!((status, m["status"].as_str()), (200, Some("canceled")));
        let (status, resp) = app.post(&format!("/api/v1/messages/{soon_id}/cancel"), json!({})).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (409, Some("not_cancelable")));
        let (status, _) =
            app.post("/api/v1/messages/01234567-89ab-7def-8123-456789abcdef/cancel", json!({})).await;
        assert_eq!(status, 404);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn unknown_and_malformed_message_ids_are_not_found() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        for id in ["01234567-89ab-7def-8123-456789abcdef", "not-an-id", "%00"] {
            let (status, resp) = app.get(&format!("/api/v1/messages/{id}")).await;
            assert_eq!((status, resp["error"]["code"].as_str()), (404, Some("not_found")), "{id}");
        }
        let (status, _) = app.get("/no/such/page").await;
        assert_eq!(status, 404);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn simulated_rejections_and_temporary_errors_end_in_rejected_and_failed() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| {
            c.dispatch.max_attempts = 3;
            sim(c).delivered = 0;
            sim(c).temporary_error = 1;
        })
        .await;
        let id = app.send(json!({"to": "+48600100200", "text": "never"})).await;
        let m = app.wait_for_status(&id, "failed").await;
        assert_eq!(m["attempts"], 3);
        assert!(m["error"].as_str().unwrap().contains("gave up after 3 attempts"), "{m}");
        let retries = m["events"].as_array().unwrap().iter().filter(|e| e["status"] == "queued").count();
        assert_eq!(retries, 3, "queued at first and again after each of two failures");
        app.stop().await;

        let app = TestApp::start_with(&b, |c| {
            sim(c).delivered = 0;
            sim(c).rejected = 1;
        })
        .await;
        let id = app.send(json!({"to": "+48600100200", "text": "refused"})).await;
        let m = app.wait_for_status(&id, "rejected").await;
        assert!(m["error"].as_str().unwrap().contains("ESME_RINVDSTADR"), "{m}");
        app.stop().await;
    })
    .await;
}

/// The value of the sample `series` (name and labels) in a metrics text, 0 when absent.
fn count_of(metrics: &str, series: &str) -> u64 {
    metrics.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
}

#[tokio::test]
async fn health_readiness_metrics_and_the_openapi_document_are_served() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let get = |p: &str| app.http.get(app.url(p)).send();
        assert_eq!(get("/healthz").await.unwrap().status(), 200);
        let ready: Value = get("/readyz").await.unwrap().json().await.unwrap();
        assert_eq!(ready["ready"], true, "{ready}");
        let id = app.send(json!({"to": "+48600100200", "text": "count me"})).await;
        app.wait_for_status(&id, "delivered").await;
        assert_eq!(app.get("/api/v1/connectors").await.0, 200);
        assert_eq!(app.get("/api/v1/messages/nope").await.0, 404);
        let server_errors = |metrics: &str| count_of(metrics, "kurier_http_responses_total{class=\"5xx\"}");
        let before = server_errors(&get("/metrics").await.unwrap().text().await.unwrap());
        // Not signed in: the UI answers 303 to the sign-in page (followed here).
        assert_eq!(get("/").await.unwrap().url().path(), "/signin");
        let metrics = get("/metrics").await.unwrap().text().await.unwrap();
        assert!(count_of(&metrics, "kurier_http_responses_total{class=\"3xx\"}") >= 1, "{metrics}");
        assert_eq!(server_errors(&metrics), before, "a redirect is no server error: {metrics}");
        assert!(metrics.contains("kurier_messages_accepted_total"), "{metrics}");
        assert!(metrics.contains("kurier_http_responses_total{class=\"2xx\"}"), "{metrics}");
        assert!(metrics.contains("kurier_http_responses_total{class=\"4xx\"}"), "{metrics}");
        assert!(
            metrics.lines().any(|l| l.starts_with("kurier_reports_set_aside_total ")),
            "exported before anything is set aside: {metrics}"
        );
        assert!(metrics.contains("kurier_receipts_total"), "{metrics}");
        for kind in ["intake", "claim", "record"] {
            let count = format!("kurier_store_write_seconds_count{{kind=\"{kind}\"}}");
            assert!(metrics.contains(&count), "{count} missing: {metrics}");
        }
        let doc: Value = get("/api/v1/openapi.json").await.unwrap().json().await.unwrap();
        assert!(doc["paths"]["/api/v1/messages"]["post"].is_object());
        assert!(doc["paths"]["/api/v1/messages/{id}"]["get"].is_object());
        assert!(doc["components"]["schemas"]["SendRequest"].is_object());
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn connectors_show_their_state_and_counters() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let id = app.send(json!({"to": "+48600100200", "text": "count"})).await;
        app.wait_for_status(&id, "delivered").await;
        let (status, list) = app.get("/api/v1/connectors").await;
        assert_eq!(status, 200);
        let sim = &list["connectors"][0];
        assert_eq!(
            (sim["name"].as_str(), sim["kind"].as_str(), sim["up"].as_bool()),
            (Some("sim"), Some("sim"), Some(true))
        );
        assert_eq!(
            (sim["submitted"].as_u64(), sim["acked"].as_u64(), sim["receipts"].as_u64()),
            (Some(1), Some(1), Some(1))
        );
        let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("kurier_connector_up{connector=\"sim\"} 1"), "{metrics}");
        let (_, inbound) = app.get("/api/v1/inbound").await;
        assert_eq!(inbound["messages"].as_array().unwrap().len(), 0, "outbound messages are not inbound");
        let (status, inbound) = app.get("/api/v1/inbound?direction=inbound").await;
        assert_eq!((status, inbound["messages"].as_array().map(Vec::len)), (200, Some(0)), "{inbound}");
        let (status, body) = app.get("/api/v1/inbound?direction=outbound").await;
        assert_eq!((status, body["error"]["field"].as_str()), (400, Some("direction")), "{body}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn concurrent_requests_share_commits_and_a_repeated_key_still_sends_once() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let mut calls = Vec::new();
        for i in 0..200 {
            let (http, url) = (app.http.clone(), app.url("/api/v1/messages"));
            calls.push(tokio::spawn(async move {
                let mut req = http.post(url).bearer_auth(API_KEY);
                let body = if i % 10 == 0 {
                    req = req.header("Idempotency-Key", "same-order");
                    json!({"to": "+48600100100", "text": "once"})
                } else {
                    json!({"to": format!("+48600{i:06}"), "text": "many"})
                };
                req.json(&body).send().await.unwrap().status().as_u16()
            }));
        }
        for c in calls {
            assert_eq!(c.await.unwrap(), 202);
        }
        let counts = app.app.as_ref().unwrap().store.count_by_status().await.unwrap();
        assert_eq!(counts.values().sum::<i64>(), 181, "180 distinct messages and one idempotent one");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn transliteration_saves_segments_per_message_or_by_account_default() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let text = "Zażółć gęślą jaźń, Здравейте! ".repeat(3);
        let (_, plain) = app.post("/api/v1/messages", json!({"to": "+48600100200", "text": text})).await;
        assert_eq!(
            (plain["messages"][0]["encoding"].as_str(), plain["messages"][0]["segments"].as_u64()),
            (Some("ucs2"), Some(2))
        );
        let (_, latin) = app
            .post("/api/v1/messages", json!({"to": "+48600100200", "text": text, "transliterate": true}))
            .await;
        let m = &latin["messages"][0];
        assert_eq!((m["encoding"].as_str(), m["segments"].as_u64()), (Some("gsm7"), Some(1)), "{m}");
        assert!(m["text"].as_str().unwrap().starts_with("Zazolc gesla jazn, Zdraveite!"), "{m}");

        let (status, account) = app.patch("/api/v1/account", json!({"transliterate": true})).await;
        assert_eq!((status, account["transliterate"].as_bool()), (200, Some(true)));
        let (_, by_default) = app.post("/api/v1/messages", json!({"to": "+48600100200", "text": text})).await;
        assert_eq!(by_default["messages"][0]["encoding"], "gsm7");
        let (_, opted_out) = app
            .post("/api/v1/messages", json!({"to": "+48600100200", "text": text, "transliterate": false}))
            .await;
        assert_eq!(opted_out["messages"][0]["encoding"], "ucs2");
        // A preview and a campaign's estimate count as sending does.
        let (status, preview) = app.post("/api/v1/templates/preview", json!({"body": text})).await;
        assert_eq!(status, 200, "{preview}");
        assert_eq!(
            (preview["encoding"].as_str(), preview["segments"].as_u64()),
            (Some("gsm7"), Some(1)),
            "{preview}"
        );
        assert!(preview["text"].as_str().unwrap().starts_with("Zazolc gesla jazn"), "{preview}");
        let (status, campaign) = app
            .post(
                "/api/v1/campaigns",
                json!({"name": "Hello", "text": text, "numbers": ["+48600100201", "+48600100202"]}),
            )
            .await;
        assert_eq!(status, 201, "{campaign}");
        assert_eq!(campaign["estimate"]["segments"], 2, "one segment each: {campaign}");
        let (status, err) = app.patch("/api/v1/account", json!({"transliterate": "yes"})).await;
        assert_eq!((status, err["error"]["field"].as_str()), (422, Some("transliterate")));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_message_whose_receipt_never_comes_ends_expired_unless_expiry_is_off() {
    on_each_backend(|b| async move {
        let expiring = |expiry_secs: u64| {
            move |c: &mut kurier::config::Config| {
                // The receipt would come in an hour; the check is due after a
                // second, and the simulator answers it with the final state.
                sim(c).receipt_delay_ms = 3_600_000;
                c.dispatch.receipt_check_secs = 1;
                c.dispatch.receipt_expiry_secs = expiry_secs;
            }
        };
        let app = TestApp::start_with(&b, expiring(1)).await;
        let id = app.send(json!({"to": "+48600100200", "text": "Hello"})).await;
        let m = app.wait_for_status(&id, "expired").await;
        assert_eq!(m["error"], "no delivery report within 1 s", "{m}");
        let last = m["events"].as_array().and_then(|e| e.last()).cloned().unwrap_or_default();
        assert_eq!(last["status"], "expired", "{m}");
        app.stop().await;

        let app = TestApp::start_with(&b, expiring(0)).await;
        let id = app.send(json!({"to": "+48600100201", "text": "Hello"})).await;
        let m = app.wait_for_status(&id, "delivered").await;
        assert!(m["events"].to_string().contains("(query)"), "asked, not given up: {m}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn marketing_to_a_number_on_the_opt_out_list_or_a_contact_who_opted_out_is_refused() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (listed, contact, free) = ("+48600100301", "+48600100302", "+48600100303");
        assert_eq!(app.post("/api/v1/opt-outs", json!({"phone": listed})).await.0, 201);
        let (status, c) = app.post("/api/v1/contacts", json!({"phone": contact, "opted_out": true})).await;
        assert_eq!(status, 201, "{c}");

        let (status, resp) =
            app.post("/api/v1/messages", json!({"to": [listed, free, contact], "text": "Sale!"})).await;
        assert_eq!(status, 202, "{resp}");
        let refused = common::item_errors(&resp, "code");
        assert_eq!(refused, [(0, "opted_out"), (2, "opted_out")], "{resp}");
        let sent: Vec<&str> =
            resp["messages"].as_array().unwrap().iter().map(|m| m["to"].as_str().unwrap()).collect();
        assert_eq!(sent, [free]);

        // A long list is read another way on SQLite (not in place): the
        // same refusals, at their places in the list.
        let mut many: Vec<String> = (0..150).map(|i| format!("+486001{i:05}")).collect();
        many[70] = listed.into();
        many[149] = contact.into();
        let (status, resp) = app.post("/api/v1/messages", json!({"to": many, "text": "Sale!"})).await;
        assert_eq!(status, 202, "{resp}");
        let refused = common::item_errors(&resp, "code");
        assert_eq!(refused, [(70, "opted_out"), (149, "opted_out")], "{resp}");
        assert_eq!(resp["messages"].as_array().unwrap().len(), 148);

        let (status, resp) = app
            .post(
                "/api/v1/messages",
                json!({"to": [listed, contact], "text": "Your code: 1234", "transactional": true}),
            )
            .await;
        assert_eq!(status, 202, "a transactional message goes to both: {resp}");
        assert_eq!(resp["messages"].as_array().unwrap().len(), 2);
        app.stop().await;
    })
    .await;
}
