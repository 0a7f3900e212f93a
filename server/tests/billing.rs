//! Billing as an operator and a customer meet it, over HTTP, on SQLite and
//! PostgreSQL: tariffs and price lists, prepaid balances with reservation,
//! settlement and refund, the race for the last units, packages, quotas,
//! alerts, reports and statements.

mod common;

use common::smtp::SmtpSink;
use common::two_way::{PHONE, inject, matched, matched_with, post_with, share_7100};
use common::{API_KEY, TestApp, on_each_backend, sim};
use serde_json::{Value, json};

/// Sends `method path body` with `key`.
async fn call(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.call_as(key, method.as_str(), path, body).await
}

/// A tariff `name` in EUR pricing Poland at `pl` and Poland mobile 4860 at `pl_mobile`.
async fn tariff(app: &TestApp, name: &str, pl: &str, pl_mobile: &str) -> Value {
    let (s, t) = app
        .post(
            "/api/v1/tariffs",
            json!({"name": name, "currency": "EUR", "inbound_price": "0.01", "number_monthly_fee": "2.00",
                "prices": [{"prefix": "+48", "price": pl, "description": "Poland"},
                           {"prefix": "4860", "price": pl_mobile}]}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    t
}

/// The account `default` (the test key's) gets `tariff` and `top_up` euros.
async fn charge_default(app: &TestApp, tariff: &str, top_up: &str) {
    let (s, b) = app.patch("/api/v1/accounts/default/billing", json!({"tariff": tariff})).await;
    assert_eq!(s, 200, "{b}");
    let (s, e) =
        app.post("/api/v1/accounts/default/top-ups", json!({"amount": top_up, "note": "test"})).await;
    assert_eq!(s, 201, "{e}");
}

async fn balance(app: &TestApp) -> (String, String) {
    let (s, b) = app.get("/api/v1/billing").await;
    assert_eq!(s, 200, "{b}");
    (
        b["balance"]["amount"].as_str().unwrap().to_owned(),
        b["reserved"]["amount"].as_str().unwrap().to_owned(),
    )
}

async fn stored_messages(app: &TestApp) -> i64 {
    app.app.as_ref().unwrap().store.count_by_status().await.unwrap().values().sum()
}

#[tokio::test]
async fn prices_are_integer_minor_units_and_too_many_decimals_are_refused() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let t = tariff(&app, "Standard", "0.05", "0.04").await;
        assert_eq!(t["currency"], "EUR");
        assert_eq!(t["prices"], 2);
        assert_eq!(t["inbound_price"], json!({"amount": "0.01", "minor": 1, "currency": "EUR"}));
        let id = t["id"].as_str().unwrap();

        let cases: Vec<(Value, &str)> = vec![
            (json!({"name": "X", "currency": "EUR", "inbound_price": "0.005"}), "inbound_price"),
            (json!({"name": "X", "currency": "EURO"}), "currency"),
            (json!({"name": "X"}), "currency"),
            (json!({"currency": "EUR"}), "name"),
            (json!({"name": "X", "currency": "JPY", "number_monthly_fee": "1.5"}), "number_monthly_fee"),
            (
                json!({"name": "X", "currency": "EUR", "prices": [{"prefix": "48", "price": "0.055"}]}),
                "prices[0].price",
            ),
            (
                json!({"name": "X", "currency": "EUR", "prices": [{"prefix": "4a", "price": "0.05"}]}),
                "prices[0].prefix",
            ),
            (
                json!({"name": "X", "currency": "EUR", "prices": [{"prefix": "48", "price": "-1"}]}),
                "prices[0].price",
            ),
        ];
        for (body, field) in cases {
            let (s, e) = app.post("/api/v1/tariffs", body.clone()).await;
            assert_eq!(s, 422, "{body} -> {e}");
            assert_eq!(e["error"]["field"], field, "{body} -> {e}");
        }
        let (s, e) = app.post("/api/v1/tariffs", json!({"name": "Standard", "currency": "EUR"})).await;
        assert_eq!((s, e["error"]["code"].as_str()), (409, Some("name_taken")));
        let (_, list) = app.get("/api/v1/tariffs").await;
        assert_eq!(list["tariffs"].as_array().unwrap().len(), 1, "bad tariffs were not stored");

        // A CSV import checks every row first: one bad row changes nothing.
        let csv = "prefix;price;description\n49;0.07;Germany\n4915;0.0x1\n";
        let resp = app
            .http
            .post(app.url(&format!("/api/v1/tariffs/{id}/prices/import")))
            .bearer_auth(API_KEY)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 422);
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["error"]["field"], "line 3: price", "{e}");
        let (_, prices) = app.get(&format!("/api/v1/tariffs/{id}/prices")).await;
        assert_eq!(prices["prices"].as_array().unwrap().len(), 2);

        let resp = app
            .http
            .post(app.url(&format!("/api/v1/tariffs/{id}/prices/import")))
            .bearer_auth(API_KEY)
            .header("content-type", "text/csv")
            .body("49;0.07;Germany\n4915;0.06\n")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let (_, prices) = app.get(&format!("/api/v1/tariffs/{id}/prices")).await;
        let prefixes: Vec<&str> =
            prices["prices"].as_array().unwrap().iter().map(|p| p["prefix"].as_str().unwrap()).collect();
        assert_eq!(prefixes, ["48", "4860", "49", "4915"]);

        // The longest prefix wins; price = segments x unit price.
        charge_default(&app, "Standard", "10").await;
        let (s, q) = app.get("/api/v1/billing/price?to=%2B48600100200&text=hello").await;
        assert_eq!(s, 200, "{q}");
        assert_eq!((q["prefix"].as_str(), q["price"]["amount"].as_str()), (Some("4860"), Some("0.04")));
        assert_eq!(q["country"], "PL");
        let long = "x".repeat(200); // two segments
        let (_, q) = app.get(&format!("/api/v1/billing/price?to=%2B48512345678&text={long}")).await;
        assert_eq!(
            (q["prefix"].as_str(), q["segments"].as_i64(), q["price"]["minor"].as_i64()),
            (Some("48"), Some(2), Some(10))
        );
        let (_, q) = app.get("/api/v1/billing/price?to=%2B4915112345678").await;
        assert_eq!(q["prefix"], "4915");
        let (s, e) = app.get("/api/v1/billing/price?to=%2B12025550123").await;
        assert_eq!((s, e["error"]["code"].as_str()), (422, Some("no_price")));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_account_without_a_tariff_is_not_charged() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (_, billing) = app.get("/api/v1/billing").await;
        assert_eq!(billing["charged"], false);
        assert!(billing["balance"].is_null());
        let id = app.send(json!({"to": "+12025550123", "text": "free"})).await;
        app.wait_for_status(&id, "delivered").await;
        let (_, q) = app.get("/api/v1/billing/price?to=%2B12025550123").await;
        assert_eq!((q["charged"].as_bool(), q["price"].is_null()), (Some(false), true));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn money_keeps_its_currency_when_the_tariff_is_taken_away_and_another_given() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        tariff(&app, "Euro", "0.05", "0.06").await;
        let (s, t) = app.post("/api/v1/tariffs", json!({"name": "Dollar", "currency": "USD"})).await;
        assert_eq!(s, 201, "{t}");
        charge_default(&app, "Euro", "10.00").await;
        let (s, e) = app.patch("/api/v1/accounts/default/billing", json!({"tariff": "Dollar"})).await;
        assert_eq!(s, 409, "{e}");
        let (s, e) = app.patch("/api/v1/accounts/default/billing", json!({"tariff": null})).await;
        assert_eq!(s, 200, "{e}");
        let (s, e) = app.patch("/api/v1/accounts/default/billing", json!({"tariff": "Dollar"})).await;
        assert_eq!(s, 409, "the euros are still euros: {e}");
        let (s, e) = app.patch("/api/v1/accounts/default/billing", json!({"tariff": "Euro"})).await;
        assert_eq!(s, 200, "{e}");
        assert_eq!(balance(&app).await.0, "10.00");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn sending_reserves_settles_and_refuses_when_the_balance_is_short() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        tariff(&app, "Standard", "0.05", "0.04").await;
        charge_default(&app, "Standard", "0.10").await;
        assert_eq!(balance(&app).await, ("0.10".into(), "0.00".into()));

        let id = app.send(json!({"to": "+48600100200", "text": "one"})).await;
        app.wait_for_status(&id, "delivered").await;
        assert_eq!(balance(&app).await, ("0.06".into(), "0.00".into()), "settled on submission");

        // Two recipients cost 0.08: more than the 0.06 left. Nothing is stored.
        let before = stored_messages(&app).await;
        let (s, e) = app
            .post("/api/v1/messages", json!({"to": ["+48600100201", "+48600100202"], "text": "two"}))
            .await;
        assert_eq!(s, 402, "{e}");
        assert_eq!(e["error"]["code"], "insufficient_balance");
        assert!(e["error"]["message"].as_str().unwrap().contains("0.08"), "{e}");
        assert_eq!(stored_messages(&app).await, before);
        assert_eq!(balance(&app).await.0, "0.06");

        // A destination without a price is refused too, naming the number.
        let (s, e) = app.post("/api/v1/messages", json!({"to": "+12025550123", "text": "hi"})).await;
        assert_eq!(
            (s, e["error"]["code"].as_str(), e["error"]["field"].as_str()),
            (422, Some("no_price"), Some("to"))
        );

        // The same Idempotency-Key can be used again after a refusal.
        let (s, _) = app
            .post_with(
                "/api/v1/messages",
                json!({"to": ["+48600100201", "+48600100202"], "text": "two"}),
                &[("Idempotency-Key", "k1")],
            )
            .await;
        assert_eq!(s, 402);
        let (s, e) = app.post("/api/v1/accounts/default/top-ups", json!({"amount": "1"})).await;
        assert_eq!(s, 201, "{e}");
        assert_eq!(e["balance_after"]["amount"], "1.06");
        let (s, r) = app
            .post_with(
                "/api/v1/messages",
                json!({"to": ["+48600100201", "+48600100202"], "text": "two"}),
                &[("Idempotency-Key", "k1")],
            )
            .await;
        assert_eq!(s, 202, "{r}");
        app.wait_until_settled().await;
        assert_eq!(balance(&app).await, ("0.98".into(), "0.00".into()));

        let (_, ledger) = app.get("/api/v1/billing/ledger").await;
        let kinds: Vec<&str> =
            ledger["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["top_up", "top_up"]);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_recipient_without_a_price_is_listed_and_the_others_are_sent_unless_atomic() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        tariff(&app, "Standard", "0.05", "0.04").await;
        charge_default(&app, "Standard", "1.00").await;
        let to = json!(["+48600100201", "+12025550123", "+48600100202"]);

        let (s, e) = app.post("/api/v1/messages", json!({"to": to, "text": "hi", "atomic": true})).await;
        assert_eq!(
            (s, e["error"]["code"].as_str(), e["error"]["field"].as_str()),
            (422, Some("no_price"), Some("to[1]")),
            "{e}"
        );
        assert_eq!(stored_messages(&app).await, 0);

        let (s, r) = app.post("/api/v1/messages", json!({"to": to, "text": "hi"})).await;
        assert_eq!(s, 202, "{r}");
        let sent: Vec<&str> =
            r["messages"].as_array().unwrap().iter().map(|m| m["to"].as_str().unwrap()).collect();
        assert_eq!(sent, ["+48600100201", "+48600100202"]);
        let errors: Vec<(u64, &str, &str)> = r["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["index"].as_u64().unwrap(), e["to"].as_str().unwrap(), e["code"].as_str().unwrap()))
            .collect();
        assert_eq!(errors, [(1, "+12025550123", "no_price")]);
        assert_eq!(stored_messages(&app).await, 2);
        app.wait_until_settled().await;
        assert_eq!(balance(&app).await, ("0.92".into(), "0.00".into()));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn rejected_and_canceled_messages_are_refunded() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| {
            let s = sim(c);
            s.delivered = 0;
            s.rejected = 100;
        })
        .await;
        tariff(&app, "Standard", "0.05", "0.04").await;
        charge_default(&app, "Standard", "1").await;
        let id = app.send(json!({"to": "+48600100200", "text": "refused by the SMSC"})).await;
        app.wait_for_status(&id, "rejected").await;
        app.wait_until_settled().await;
        assert_eq!(balance(&app).await, ("1.00".into(), "0.00".into()));

        let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let id = app.send(json!({"to": "+48600100200", "text": "later", "send_at": later})).await;
        assert_eq!(balance(&app).await, ("0.96".into(), "0.04".into()), "reserved while scheduled");
        let (s, _) = app.post(&format!("/api/v1/messages/{id}/cancel"), json!({})).await;
        assert!(s == 200 || s == 202, "{s}");
        assert_eq!(balance(&app).await, ("1.00".into(), "0.00".into()));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn concurrent_sends_racing_for_the_last_units_never_overdraw() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        tariff(&app, "Standard", "0.05", "0.04").await;
        charge_default(&app, "Standard", "0.20").await; // exactly five messages
        let mut tasks = Vec::new();
        for i in 0..40 {
            let http = app.http.clone();
            let url = app.url("/api/v1/messages");
            tasks.push(tokio::spawn(async move {
                let resp = http
                    .post(url)
                    .bearer_auth(API_KEY)
                    .json(&json!({"to": format!("+486001002{i:02}"), "text": "race"}))
                    .send()
                    .await
                    .unwrap();
                resp.status().as_u16()
            }));
        }
        let mut accepted = 0;
        for t in tasks {
            match t.await.unwrap() {
                202 => accepted += 1,
                402 => {}
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!(accepted, 5);
        assert_eq!(stored_messages(&app).await, 5);
        app.wait_until_settled().await;
        assert_eq!(balance(&app).await, ("0.00".into(), "0.00".into()));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn packages_include_messages_add_up_and_bill_the_overage() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        tariff(&app, "Standard", "0.05", "0.04").await;
        charge_default(&app, "Standard", "10").await;
        for (name, included) in [("Small", 1), ("Extra", 2)] {
            let (s, p) = app
                .post(
                    "/api/v1/packages",
                    json!({"name": name, "currency": "EUR", "included_messages": included, "overage_price": "0.03", "monthly_fee": "1.00"}),
                )
                .await;
            assert_eq!(s, 201, "{p}");
            let (s, sub) = app.post("/api/v1/accounts/default/packages", json!({"package": name})).await;
            assert_eq!(s, 201, "{sub}");
        }
        let (s, e) = app
            .post("/api/v1/packages", json!({"name": "Bad", "currency": "EUR", "included_messages": 1, "overage_price": "0.001"}))
            .await;
        assert_eq!((s, e["error"]["field"].as_str()), (422, Some("overage_price")));
        // Two monthly fees of 1.00 were charged.
        assert_eq!(balance(&app).await.0, "8.00");

        for i in 0..4 {
            app.send(json!({"to": format!("+4860010030{i}"), "text": "pkg"})).await;
        }
        app.wait_until_settled().await;
        let (_, billing) = app.get("/api/v1/billing").await;
        assert_eq!(billing["package_use"]["included"], 3);
        assert_eq!(billing["package_use"]["used"], 3);
        assert_eq!(billing["packages"].as_array().unwrap().len(), 2);
        assert_eq!(billing["balance"]["amount"], "7.97", "one overage segment at 0.03");

        // Fees are charged once a month, however often the worker runs.
        let store = &app.app.as_ref().unwrap().store;
        assert_eq!(store.charge_monthly_fees(kurier::storage::now_micros()).await.unwrap(), 0);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_user_quota_caps_the_month() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        tariff(&app, "Standard", "0.05", "0.04").await;
        charge_default(&app, "Standard", "10").await;
        let (_, q) = app.get("/api/v1/billing/quotas").await;
        let user = q["users"][0]["user_id"].as_str().unwrap().to_owned();
        let (s, q) =
            app.put_json(&format!("/api/v1/billing/quotas/{user}"), json!({"monthly_segments": 2})).await;
        assert_eq!(s, 200, "{q}");
        app.send(json!({"to": "+48600100200", "text": "a"})).await;
        app.send(json!({"to": "+48600100201", "text": "b"})).await;
        let (s, e) = app.post("/api/v1/messages", json!({"to": "+48600100202", "text": "c"})).await;
        assert_eq!((s, e["error"]["code"].as_str()), (429, Some("quota_exceeded")), "{e}");
        let (_, q) = app.get("/api/v1/billing/quotas").await;
        assert_eq!(
            (q["users"][0]["monthly_segments"].as_i64(), q["users"][0]["used"].as_i64()),
            (Some(2), Some(2))
        );
        let (s, _) = app.put_json("/api/v1/billing/quotas/nobody", json!({"monthly_segments": 2})).await;
        assert_eq!(s, 404);

        // A campaign the user starts counts against the same quota: its
        // batch is refused and the campaign pauses, nothing charged.
        let (s, _) = app.post("/api/v1/sender-ids", json!({"sender": "Kurier", "default": true})).await;
        assert_eq!(s, 201);
        let body = json!({"name": "Over", "text": "d", "numbers": ["+48600100203"], "start": true});
        let (s, c) = app.post("/api/v1/campaigns", body).await;
        assert_eq!(s, 201, "{c}");
        let id = c["campaign"]["id"].as_str().unwrap().to_owned();
        common::wait_for("the campaign paused by the quota", async || {
            let (_, c) = app.get(&format!("/api/v1/campaigns/{id}")).await;
            (c["status"] == "paused").then_some(())
        })
        .await;
        let (_, q) = app.get("/api/v1/billing/quotas").await;
        assert_eq!(q["users"][0]["used"].as_i64(), Some(2), "{q}");
        let (_, run) = app.get(&format!("/api/v1/campaigns/{id}/runs/1")).await;
        let failure = run["failure"].as_str().unwrap_or_else(|| panic!("the run says why: {run}"));
        assert!(failure.starts_with("paused: ") && failure.contains("quota"), "{run}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn only_the_operator_manages_tariffs_and_balances() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        tariff(&app, "Standard", "0.05", "0.04").await;
        let store = &app.app.as_ref().unwrap().store;
        let (_, other) = store.create_account("acme").await.unwrap();
        use reqwest::Method;
        for (method, path, body) in [
            (Method::POST, "/api/v1/tariffs", Some(json!({"name": "Mine", "currency": "EUR"}))),
            (Method::GET, "/api/v1/tariffs", None),
            (Method::POST, "/api/v1/accounts/acme/top-ups", Some(json!({"amount": "100"}))),
            (Method::PATCH, "/api/v1/accounts/acme/billing", Some(json!({"tariff": "Standard"}))),
            (Method::GET, "/api/v1/reports/usage?group_by=account", None),
        ] {
            let (s, e) = call(&app, &other, method, path, body).await;
            assert_eq!(s, 403, "{path}: {e}");
        }
        // The operator sets acme up; acme sees its own balance and pays for its sends.
        let (s, _) = app.patch("/api/v1/accounts/acme/billing", json!({"tariff": "Standard"})).await;
        assert_eq!(s, 200);
        let (s, e) = app.post("/api/v1/accounts/acme/top-ups", json!({"amount": "0.045"})).await;
        assert_eq!((s, e["error"]["field"].as_str()), (422, Some("amount")));
        let (s, _) = app.post("/api/v1/accounts/acme/top-ups", json!({"amount": "0.05"})).await;
        assert_eq!(s, 201);
        let (s, e) = app.post("/api/v1/accounts/acme/top-ups", json!({"amount": "-1"})).await;
        assert_eq!(s, 409, "{e}");
        let (_, mine) = call(&app, &other, Method::GET, "/api/v1/billing", None).await;
        assert_eq!(mine["balance"]["amount"], "0.05");
        let (s, _) = call(
            &app,
            &other,
            Method::POST,
            "/api/v1/messages",
            Some(json!({"to": "+48512345678", "text": "x"})),
        )
        .await;
        assert_eq!(s, 202);
        let (s, _) = call(
            &app,
            &other,
            Method::POST,
            "/api/v1/messages",
            Some(json!({"to": "+48512345678", "text": "y"})),
        )
        .await;
        assert_eq!(s, 402);
        // The operator's own account is still free.
        app.send(json!({"to": "+12025550123", "text": "free"})).await;
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_low_balance_alert_is_mailed_once_per_crossing() {
    on_each_backend(|b| async move {
        let sink = SmtpSink::start().await;
        let port = sink.addr.port();
        let app = TestApp::start_with(&b, |c| {
            c.smtp.host = Some("127.0.0.1".into());
            c.smtp.port = port;
            c.smtp.tls = "none".into();
            c.billing.poll_secs = 3_600;
        })
        .await;
        tariff(&app, "Standard", "0.05", "0.04").await;
        charge_default(&app, "Standard", "0.20").await;
        let (s, e) = app
            .patch(
                "/api/v1/accounts/default/billing",
                json!({"low_balance_threshold": "0.15", "alert_email": "ops@example.com"}),
            )
            .await;
        assert_eq!(s, 200, "{e}");
        let store = app.app.as_ref().unwrap().store.clone();
        let config = kurier::config::BillingConfig { poll_secs: 3_600, ..Default::default() };
        let smtp = kurier::config::SmtpConfig {
            host: Some("127.0.0.1".into()),
            port,
            tls: "none".into(),
            ..Default::default()
        };
        let worker =
            kurier::billing::BillingWorker::new(store, kurier::mail::Mailer::new(&smtp).unwrap(), config);

        app.send(json!({"to": "+48600100200", "text": "to 0.16"})).await;
        worker.step().await.unwrap();
        assert!(sink.messages().is_empty(), "still above the threshold");
        app.send(json!({"to": "+48600100201", "text": "to 0.12: crossing"})).await;
        app.send(json!({"to": "+48600100202", "text": "to 0.08"})).await;
        worker.step().await.unwrap();
        let mails = sink.messages();
        assert_eq!(mails.len(), 1, "one alert for one crossing");
        assert_eq!(mails[0].to, ["ops@example.com"]);
        assert!(String::from_utf8_lossy(&mails[0].data).contains("0.12 EUR"));

        // Up above the threshold and down again: a second crossing, a second alert.
        app.post("/api/v1/accounts/default/top-ups", json!({"amount": "0.10"})).await;
        app.send(json!({"to": "+48600100203", "text": "to 0.14"})).await;
        worker.step().await.unwrap();
        assert_eq!(sink.messages().len(), 2);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn reports_and_statements_show_use_and_cost() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        tariff(&app, "Standard", "0.05", "0.04").await;
        let t = app.get("/api/v1/tariffs/Standard").await.1;
        let id = t["id"].as_str().unwrap();
        app.post(
            &format!("/api/v1/tariffs/{id}/prices"),
            json!({"prices": [{"prefix": "49", "price": "0.07"}]}),
        )
        .await;
        charge_default(&app, "Standard", "10").await;
        app.send(json!({"to": "+48600100200", "text": "pl"})).await;
        app.send(json!({"to": "+48600100201", "text": "pl"})).await;
        app.send(json!({"to": "+4915112345678", "text": "de"})).await;
        app.wait_until_settled().await;

        let (s, r) = app.get("/api/v1/reports/usage?group_by=country").await;
        assert_eq!(s, 200, "{r}");
        let lines: Vec<(&str, i64, &str)> = r["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["key"].as_str().unwrap(),
                    l["messages"].as_i64().unwrap(),
                    l["cost"]["amount"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(lines, [("DE", 1, "0.07"), ("PL", 2, "0.08")]);
        let (_, r) = app.get("/api/v1/reports/usage?group_by=user").await;
        assert_eq!(r["lines"][0]["messages"], 3);
        let (_, r) = app.get("/api/v1/reports/usage?group_by=day").await;
        assert_eq!(r["lines"][0]["cost"]["amount"], "0.15");
        let (s, r) = app.get("/api/v1/reports/usage?group_by=account").await;
        assert_eq!((s, r["lines"][0]["key"].as_str()), (200, Some("default")));
        let (s, e) = app.get("/api/v1/reports/usage?group_by=planet").await;
        assert_eq!((s, e["error"]["field"].as_str()), (400, Some("group_by")));

        let (s, st) = app.get("/api/v1/reports/statement").await;
        assert_eq!(s, 200, "{st}");
        assert_eq!(
            (st["messages"].as_i64(), st["messages_cost"]["amount"].as_str()),
            (Some(3), Some("0.15"))
        );
        assert_eq!(st["ledger"][0]["kind"], "top_up");
        let (s, e) = app.get("/api/v1/reports/statement?month=2026-13").await;
        assert_eq!((s, e["error"]["field"].as_str()), (400, Some("month")));

        let csv = app
            .http
            .get(app.url("/api/v1/reports/statement.csv"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let rows: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
        assert!(rows[0].starts_with("time,kind,message_id"), "{csv}");
        assert_eq!(rows.len(), 1 + 1 + 3, "{csv}");
        assert!(csv.contains("+4915112345678") && csv.contains(",0.07,"), "{csv}");
        let xlsx = app
            .http
            .get(app.url("/api/v1/reports/statement.xlsx"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(xlsx.status().as_u16(), 200);
        assert!(xlsx.bytes().await.unwrap().starts_with(b"PK"));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_campaign_estimate_prices_its_audience_before_it_starts() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (s, _) = app.post("/api/v1/sender-ids", json!({"sender": "Kurier", "default": true})).await;
        assert_eq!(s, 201);
        let campaign = |numbers: Value, text: &str| {
            json!({"name": "Estimate", "text": text, "numbers": numbers, "start": false})
        };
        // Not charged: no cost, nothing unpriced.
        let (s, c) = app.post("/api/v1/campaigns", campaign(json!(["+48600100200"]), "Hi")).await;
        assert_eq!(s, 201, "{c}");
        assert_eq!((c["estimate"]["cost"].clone(), c["estimate"]["unpriced"].as_i64()), (Value::Null, Some(0)));

        tariff(&app, "Standard", "0.05", "0.04").await;
        charge_default(&app, "Standard", "10").await;
        // A mobile (0.04), a landline (0.05) and a number with no price; two segments each.
        let long = "x".repeat(161);
        let numbers = json!(["+48600100200", "+48221234567", "+12025550123"]);
        let (s, c) = app.post("/api/v1/campaigns", campaign(numbers, &long)).await;
        assert_eq!(s, 201, "{c}");
        let id = c["campaign"]["id"].as_str().unwrap();
        let (s, e) = app.get(&format!("/api/v1/campaigns/{id}/estimate")).await;
        assert_eq!(s, 200, "{e}");
        assert_eq!(e["segments"], 6);
        assert_eq!(e["cost"], json!({"amount": "0.18", "minor": 18, "currency": "EUR"}), "{e}");
        assert_eq!(e["unpriced"], 1);
        assert!(e["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("no price")), "{e}");
        // Without the unpriced number, the estimate is what the run is charged.
        let (s, c) = app.post("/api/v1/campaigns", campaign(json!(["+48600100200", "+48221234567"]), &long)).await;
        assert_eq!(s, 201, "{c}");
        assert_eq!((c["estimate"]["cost"]["amount"].as_str(), c["estimate"]["unpriced"].as_i64()), (Some("0.18"), Some(0)));
        let id = c["campaign"]["id"].as_str().unwrap();
        let (s, _) = app.post(&format!("/api/v1/campaigns/{id}/start"), json!({})).await;
        assert_eq!(s, 200);
        let mut run = Value::Null;
        for _ in 0..500 {
            run = app.get(&format!("/api/v1/campaigns/{id}/runs/1")).await.1;
            if run["status"] == "completed" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(run["status"], "completed", "{run}");
        let (_, st) = app.get("/api/v1/reports/statement").await;
        assert_eq!(st["messages_cost"]["amount"], "0.18", "{st}");

        // A package's included segments make the estimate cheaper.
        let (s, _) = app
            .post("/api/v1/packages", json!({"name": "Ten", "currency": "EUR", "included_messages": 10, "overage_price": "0.03"}))
            .await;
        assert_eq!(s, 201);
        let (s, _) = app.post("/api/v1/accounts/default/packages", json!({"package": "Ten"})).await;
        assert_eq!(s, 201);
        let (_, c) = app.post("/api/v1/campaigns", campaign(json!(["+48600100200"]), "Hi")).await;
        assert_eq!(c["estimate"]["cost"]["amount"], "0.00", "{c}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_campaign_skips_recipients_without_a_price_and_sends_to_the_others() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (s, _) = app.post("/api/v1/sender-ids", json!({"sender": "Kurier", "default": true})).await;
        assert_eq!(s, 201);
        tariff(&app, "Standard", "0.05", "0.04").await;
        charge_default(&app, "Standard", "1").await;
        let body = json!({"name": "Mixed", "text": "Hi", "numbers": ["+48600100200", "+12025550123"], "start": true});
        let (s, c) = app.post("/api/v1/campaigns", body).await;
        assert_eq!(s, 201, "{c}");
        let id = c["campaign"]["id"].as_str().unwrap().to_owned();
        let run = common::wait_for("the campaign's run completed", async || {
            let (_, run) = app.get(&format!("/api/v1/campaigns/{id}/runs/1")).await;
            (run["status"] == "completed").then_some(run)
        })
        .await;
        assert_eq!((run["recipients"].as_i64(), run["skipped"].as_i64()), (Some(1), Some(1)), "{run}");
        assert_eq!(run["errors"][0]["phone"], "+12025550123", "{run}");
        assert!(run["errors"][0]["reason"].as_str().unwrap().contains("no price"), "{run}");
        app.wait_until_settled().await;
        let (_, st) = app.get("/api/v1/reports/statement").await;
        assert_eq!(st["messages_cost"]["amount"], "0.04", "{st}");
        assert_eq!(balance(&app).await, ("0.96".into(), "0.00".into()));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_template_preview_prices_the_message_for_its_contact() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        tariff(&app, "Standard", "0.05", "0.04").await;
        let (s, t) =
            app.post("/api/v1/templates", json!({"name": "hello", "body": "Hi {{ contact.name }}"})).await;
        assert_eq!(s, 201, "{t}");
        let (s, c) = app.post("/api/v1/contacts", json!({"phone": "+48600100200", "name": "Anna"})).await;
        assert_eq!(s, 201);
        let contact = c["id"].as_str().unwrap();
        // Not charged yet: no price, no problem.
        let (_, p) = app.post("/api/v1/templates/hello/preview", json!({"contact": contact})).await;
        assert_eq!(
            (p["text"].as_str(), &p["price"], &p["price_problem"]),
            (Some("Hi Anna"), &Value::Null, &Value::Null)
        );

        charge_default(&app, "Standard", "1").await;
        let (s, p) = app.post("/api/v1/templates/hello/preview", json!({"contact": contact})).await;
        assert_eq!(s, 200, "{p}");
        assert_eq!(p["price"]["amount"], "0.04", "{p}");
        let (_, p) = app.post("/api/v1/templates/hello/preview", json!({"phone": "+48221234567"})).await;
        assert_eq!(p["price"]["amount"], "0.05", "{p}");
        let (s, p) = app.post("/api/v1/templates/hello/preview", json!({"phone": "+12025550123"})).await;
        assert_eq!(s, 200, "a number without a price still previews: {p}");
        assert_eq!(p["price"], Value::Null);
        assert!(p["price_problem"].as_str().unwrap().contains("no price"), "{p}");
        // Without a recipient there is nothing to price.
        let (_, p) = app.post("/api/v1/templates/preview", json!({"body": "Hello"})).await;
        assert_eq!(p["price"], Value::Null);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_account_reads_its_own_price_list() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (s, list) = app.get("/api/v1/billing/prices").await;
        assert_eq!((s, list["prices"].as_array().map(Vec::len)), (200, Some(0)), "no tariff, no prices");
        tariff(&app, "Standard", "0.05", "0.04").await;
        charge_default(&app, "Standard", "1").await;
        let (_, list) = app.get("/api/v1/billing/prices").await;
        let prefixes: Vec<&str> =
            list["prices"].as_array().unwrap().iter().map(|p| p["prefix"].as_str().unwrap()).collect();
        assert_eq!(prefixes, ["48", "4860"], "{list}");
        assert_eq!(list["prices"][0]["description"], "Poland");
        let (_, page) = app.get("/api/v1/billing/prices?limit=1").await;
        assert_eq!(page["next"], "48");
        let (_, rest) = app.get("/api/v1/billing/prices?limit=1&after=48").await;
        assert_eq!(rest["prices"][0]["prefix"], "4860");
        let (s, e) = app.get("/api/v1/billing/prices?limit=0").await;
        assert_eq!((s, e["error"]["field"].as_str()), (400, Some("limit")));
        app.stop().await;
    })
    .await;
}

/// The statement of the account `key` belongs to, as CSV.
async fn statement_csv(app: &TestApp, key: &str) -> String {
    let resp = app.http.get(app.url("/api/v1/reports/statement.csv")).bearer_auth(key).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.text().await.unwrap()
}

#[tokio::test]
async fn a_message_on_a_shared_number_is_charged_to_the_account_whose_keyword_took_it() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (_, branch) = share_7100(&app).await;
        // Each account its own inbound price, no number fee.
        for (account, tariff, price) in [("default", "First", "0.01"), ("branch", "Branch", "0.03")] {
            let (s, t) = app
                .post("/api/v1/tariffs", json!({"name": tariff, "currency": "EUR", "inbound_price": price}))
                .await;
            assert_eq!(s, 201, "{t}");
            let (s, b) =
                app.patch(&format!("/api/v1/accounts/{account}/billing"), json!({"tariff": tariff})).await;
            assert_eq!(s, 200, "{b}");
            let (s, e) =
                app.post(&format!("/api/v1/accounts/{account}/top-ups"), json!({"amount": "1.00"})).await;
            assert_eq!(s, 201, "{e}");
        }
        let (s, k) = post_with(
            &app,
            &branch,
            "/api/v1/keywords",
            json!({"number": "7100", "keyword": "VOTE", "match_type": "base",
                "actions": [{"type": "add_to_group", "group": "Voters"}]}),
        )
        .await;
        assert_eq!(s, 201, "{k}");
        // The first account registered 7100 first; the vote is the branch's.
        inject(&app, PHONE, "7100", "VOTE yes").await;
        let vote = matched_with(&app, &branch, PHONE, "VOTE yes").await;
        let vote = vote["id"].as_str().unwrap();
        // A message no keyword takes is the first account's, and its cost.
        inject(&app, "+48600100300", "7100", "hello").await;
        let hello = matched(&app, "+48600100300", "hello").await;
        let hello = hello["id"].as_str().unwrap();

        assert_eq!(balance(&app).await.0, "0.99", "the first account pays for its own message only");
        let (_, theirs) = call(&app, &branch, reqwest::Method::GET, "/api/v1/billing", None).await;
        assert_eq!(theirs["balance"]["amount"], "0.97", "{theirs}");
        let mine = statement_csv(&app, API_KEY).await;
        assert!(mine.contains(hello), "{mine}");
        assert!(
            !mine.contains(vote) && !mine.contains(PHONE),
            "the voter is not in the first account's statement: {mine}"
        );
        let theirs = statement_csv(&app, &branch).await;
        let line = theirs
            .lines()
            .find(|l| l.contains(vote))
            .unwrap_or_else(|| panic!("no line for the vote: {theirs}"));
        assert!(line.contains(",inbound,") && line.contains(PHONE) && line.contains(",0.03,"), "{line}");
        assert!(!theirs.contains(hello), "{theirs}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_price_counts_the_text_as_the_account_would_send_it() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        tariff(&app, "Standard", "0.05", "0.04").await;
        charge_default(&app, "Standard", "1").await;
        // 100 letters ż: two UCS-2 segments, or one of GSM once transliterated.
        let path = format!("/api/v1/billing/price?to=%2B48600100200&text={}", "%C5%BC".repeat(100));
        let (s, q) = app.get(&path).await;
        assert_eq!((s, q["segments"].as_i64()), (200, Some(2)), "{q}");
        let (s, a) = app.patch("/api/v1/account", json!({"transliterate": true})).await;
        assert_eq!(s, 200, "{a}");
        let (s, q) = app.get(&path).await;
        assert_eq!(
            (s, q["segments"].as_i64(), q["price"]["amount"].as_str()),
            (200, Some(1), Some("0.04")),
            "{q}"
        );
        app.stop().await;
    })
    .await;
}
