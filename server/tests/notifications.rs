//! Notifications as a billing system and its subscribers meet them, on
//! SQLite and PostgreSQL, with a real SMTP server and a clock the test
//! moves: events rendered in the subscriber's language, on the channel and
//! in the hours they chose; derived balance events once per crossing;
//! idempotent posts; clear per-event errors; the self-service page.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::smtp::SmtpSink;
use common::{API_KEY, TestApp, on_each_backend, wait_for};
use serde_json::{Value, json};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn put(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let resp = app.http.put(app.url(path)).bearer_auth(API_KEY).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A form body, `application/x-www-form-urlencoded`.
fn form_body(pairs: &[(&str, &str)]) -> String {
    let mut u = reqwest::Url::parse("http://x/").unwrap();
    u.query_pairs_mut().extend_pairs(pairs);
    u.query().unwrap_or_default().to_owned()
}

async fn post_form(app: &TestApp, path: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(pairs))
        .send()
        .await
        .unwrap()
}

async fn start(b: &common::Backend, sink: &SmtpSink) -> TestApp {
    TestApp::start_with(b, |c| {
        sink.configure(c);
        c.smtp.from = "Billing <billing@example.com>".into();
    })
    .await
}

#[tokio::test]
async fn a_payment_by_sms_and_a_low_balance_by_email_go_out_in_the_subscribers_hours_in_bulgarian() {
    on_each_backend(|b| async move {
        let sink = SmtpSink::start().await;
        let app = start(&b, &sink).await;
        let clock = app.app.as_ref().unwrap().clock.clone();
        let (s, c) = app
            .post(
                "/api/v1/contacts",
                json!({"phone": "+359888123456", "name": "Иван Петров", "email": "ivan@example.bg",
                       "language": "bg", "time_zone": "Europe/Sofia", "external_id": "ACC-1"}),
            )
            .await;
        assert_eq!(s, 201, "{c}");
        let contact = c["id"].as_str().unwrap().to_owned();
        let (s, e) = put(
            &app,
            "/api/v1/notification-types/payment_received/templates/sms/bg",
            json!({"body": "Благодарим, {{ contact.first_name }}! Получихме {{ data.amount | amount(currency=data.currency) }} по сметка {{ contact.external_id }}."}),
        )
        .await;
        assert_eq!(s, 204, "{e}");
        let (s, e) = put(
            &app,
            "/api/v1/notification-types/balance_low/templates/email/bg",
            json!({"subject": "Нисък баланс по сметка {{ contact.external_id }}",
                   "body": "Балансът ви е {{ data.balance | amount }} {{ data.currency }}.",
                   "html": "<p>Балансът ви е <b>{{ data.balance | amount }} {{ data.currency }}</b>.</p>"}),
        )
        .await;
        assert_eq!(s, 204, "{e}");
        let window = json!({"start": "08:00", "end": "20:00"});
        let (s, p) = put(
            &app,
            &format!("/api/v1/notification-preferences/{contact}"),
            json!({"preferences": [
                {"type": "payment_received", "channels": ["sms"], "window": window},
                {"type": "balance_low", "channels": ["email"], "window": window},
            ]}),
        )
        .await;
        assert_eq!(s, 200, "{p}");

        // 21:30 in Sofia: both wait for 08:00 Sofia time (06:00 UTC).
        clock.set(at("2026-11-24T19:30:00Z"));
        let payment = json!({"type": "payment_received", "subscriber": {"external_id": "ACC-1"},
                             "data": {"amount": "1234.50", "currency": "BGN"}, "idempotency_key": "pay-77"});
        let (s, first) = app.post("/api/v1/notifications", payment.clone()).await;
        assert_eq!(s, 202, "{first}");
        let d = &first["deliveries"][0];
        assert_eq!((d["channel"].as_str(), d["to"].as_str()), (Some("sms"), Some("+359888123456")), "{first}");
        assert_eq!(d["status"], "waiting_window");
        assert_eq!(d["send_at"], "2026-11-25T06:00:00.000Z");
        assert_eq!(d["language"], "bg");
        assert_eq!(d["text"], "Благодарим, Иван! Получихме 1\u{a0}234,50 BGN по сметка ACC-1.");
        let (s, again) = app.post("/api/v1/notifications", payment).await;
        assert_eq!((s, again["id"].clone(), again["replayed"].clone()), (202, first["id"].clone(), json!(true)));

        let (s, low) = app
            .post("/api/v1/notifications", json!({"type": "balance_low", "subscriber": {"phone": "+359888123456"},
                                                  "data": {"balance": "4.20", "currency": "BGN"}}))
            .await;
        assert_eq!(s, 202, "{low}");
        let d = &low["deliveries"][0];
        assert_eq!((d["channel"].as_str(), d["to"].as_str(), d["status"].as_str()), (Some("email"), Some("ivan@example.bg"), Some("waiting_window")));
        assert_eq!(d["subject"], "Нисък баланс по сметка ACC-1");

        // Nothing goes out at night.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(sink.messages().is_empty());
        let (_, m) = app.get("/api/v1/messages").await;
        assert_eq!(m["messages"].as_array().unwrap().len(), 0, "{m}");

        // 08:00 in Sofia: the SMS is delivered, the e-mail arrives.
        clock.set(at("2026-11-25T06:00:01Z"));
        let sms_id = first["id"].as_str().unwrap().to_owned();
        let delivered = wait_for("the SMS delivered", async || {
            let (_, n) = app.get(&format!("/api/v1/notifications/{sms_id}")).await;
            (n["deliveries"][0]["status"] == "delivered").then_some(n)
        })
        .await;
        let message_id = delivered["deliveries"][0]["message_id"].as_str().unwrap();
        let (_, message) = app.get(&format!("/api/v1/messages/{message_id}")).await;
        assert_eq!(message["text"], "Благодарим, Иван! Получихме 1\u{a0}234,50 BGN по сметка ACC-1.");
        wait_for("the e-mail", async || (!sink.messages().is_empty()).then_some(())).await;
        let got = sink.parsed();
        assert_eq!(got.len(), 1);
        let (to, subject, text, html) = &got[0];
        assert_eq!(to, &vec!["ivan@example.bg".to_owned()]);
        assert_eq!(subject, "Нисък баланс по сметка ACC-1");
        assert_eq!(text.trim(), "Балансът ви е 4,20 BGN.");
        assert!(html.contains("<b>4,20 BGN</b>"), "{html}");
        // The delivery is marked once the server's answer is recorded.
        let low_id = low["id"].as_str().unwrap().to_owned();
        wait_for("the e-mail marked sent", async || {
            let (_, n) = app.get(&format!("/api/v1/notifications/{low_id}")).await;
            (n["deliveries"][0]["status"] == "sent").then_some(())
        })
        .await;

        let (_, report) = app.get("/api/v1/notifications/report?since=2026-11-01T00:00:00Z").await;
        let lines = report["lines"].as_array().unwrap();
        assert!(lines.iter().any(|l| l["type"] == "payment_received" && l["status"] == "delivered" && l["count"] == 1), "{report}");
        assert!(lines.iter().any(|l| l["type"] == "balance_low" && l["channel"] == "email" && l["status"] == "sent"), "{report}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_email_retried_after_the_mail_server_was_busy_waits_for_the_subscribers_window() {
    on_each_backend(|b| async move {
        // The mail server turns the first attempt away ("try again later").
        let sink = SmtpSink::unavailable(1).await;
        let app = start(&b, &sink).await;
        let clock = app.app.as_ref().unwrap().clock.clone();
        let (s, c) = app
            .post(
                "/api/v1/contacts",
                json!({"phone": "+359888123456", "email": "ivan@example.bg", "time_zone": "Europe/Sofia"}),
            )
            .await;
        assert_eq!(s, 201, "{c}");
        let contact = c["id"].as_str().unwrap().to_owned();
        let (s, p) = put(
            &app,
            &format!("/api/v1/notification-preferences/{contact}"),
            json!({"preferences": [{"type": "balance_low", "channels": ["email"],
                                    "window": {"start": "08:00", "end": "20:00"}}]}),
        )
        .await;
        assert_eq!(s, 200, "{p}");

        // 19:59:50 in Sofia: inside the window, tried at once and turned
        // away; the retry 30 s later would be after 20:00, so it waits for
        // 08:00 Sofia time (06:00 UTC).
        clock.set(at("2026-11-24T17:59:50Z"));
        let (s, low) = app
            .post(
                "/api/v1/notifications",
                json!({"type": "balance_low", "subscriber": {"contact_id": contact},
                                                  "data": {"balance": "4.20", "currency": "BGN"}}),
            )
            .await;
        assert_eq!(s, 202, "{low}");
        assert_eq!(low["deliveries"][0]["status"], "queued", "{low}");
        let id = low["id"].as_str().unwrap().to_owned();
        let retried = wait_for("the retry planned", async || {
            let (_, n) = app.get(&format!("/api/v1/notifications/{id}")).await;
            n["deliveries"][0]["reason"].is_string().then_some(n)
        })
        .await;
        let d = &retried["deliveries"][0];
        assert_eq!(
            (d["status"].as_str(), d["send_at"].as_str()),
            (Some("queued"), Some("2026-11-25T06:00:00.000Z")),
            "{d}"
        );

        // Not at 20:00:20, but at 08:00.
        clock.set(at("2026-11-24T18:00:30Z"));
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(sink.messages().is_empty());
        clock.set(at("2026-11-25T06:00:01Z"));
        wait_for("the e-mail", async || (!sink.messages().is_empty()).then_some(())).await;
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_events_get_a_clear_error_each_and_nothing_is_sent_wrongly() {
    on_each_backend(|b| async move {
        let sink = SmtpSink::start().await;
        let app = start(&b, &sink).await;
        app.post("/api/v1/contacts", json!({"phone": "+48600000001", "external_id": "A-1", "name": "Ala"})).await;
        let (_, quiet) = app.post("/api/v1/contacts", json!({"phone": "+48600000002", "external_id": "A-2"})).await;
        let quiet = quiet["id"].as_str().unwrap().to_owned();
        let (s, _) = put(&app, &format!("/api/v1/notification-preferences/{quiet}"), json!({"preferences": [{"type": "*", "channels": []}]})).await;
        assert_eq!(s, 200);
        let ok = |t: &str, data: Value| json!({"type": t, "subscriber": {"external_id": "A-1"}, "data": data});
        let (s, batch) = app
            .post(
                "/api/v1/notifications",
                json!({"events": [
                    ok("payment_received", json!({"amount": 10})),
                    {"type": "payment_received", "subscriber": {"external_id": "NOPE"}, "data": {"amount": 1}},
                    ok("no_such_type", json!({})),
                    ok("payment_received", json!({})),
                    ok("payment_received", json!({"amount": "12.345"})),
                    ok("upcoming_charge", json!({"amount": 5, "due_date": "31.12.2026"})),
                    {"type": "payment_received", "subscriber": {"external_id": "A-2"}, "data": {"amount": 3}},
                    {"type": "payment_received"},
                    {"type": "payment_received", "subscriber": {"external_id": "A-1"}, "surprise": 1},
                ]}),
            )
            .await;
        assert_eq!(s, 200, "{batch}");
        let results = batch["results"].as_array().unwrap();
        let error = |i: usize| (results[i]["error"]["code"].as_str().unwrap_or("-").to_owned(), results[i]["error"]["message"].as_str().unwrap_or("").to_owned());
        assert!(results[0]["notification"]["id"].is_string(), "{batch}");
        assert_eq!(error(1).0, "unknown_subscriber");
        assert!(error(2).0 == "unknown_type" && error(2).1.contains("payment_received"), "{:?}", error(2));
        assert!(error(3).0 == "missing_data" && error(3).1.contains("missing"), "{:?}", error(3));
        assert!(error(4).1.contains("more than two decimals"), "{:?}", error(4));
        assert!(error(5).1.contains("not a date"), "{:?}", error(5));
        // Suppressed by preference: accepted and visible with the reason.
        let d = &results[6]["notification"]["deliveries"][0];
        assert_eq!((d["status"].as_str(), d["reason"].as_str()), (Some("suppressed"), Some("the subscriber wants no payment_received notifications")), "{batch}");
        assert_eq!(error(7).0, "invalid_field");
        assert_eq!(error(8).0, "invalid_field");
        assert_eq!((batch["accepted"].as_i64(), batch["refused"].as_i64()), (Some(2), Some(7)));
        // Only the one good event became a message.
        let good = results[0]["notification"]["id"].as_str().unwrap().to_owned();
        wait_for("the SMS queued", async || {
            let (_, n) = app.get(&format!("/api/v1/notifications/{good}")).await;
            n["deliveries"][0]["message_id"].as_str().map(str::to_owned)
        })
        .await;
        let (_, m) = app.get("/api/v1/messages").await;
        assert_eq!(m["messages"].as_array().unwrap().len(), 1, "{m}");

        // A single bad event is a 422 naming the field.
        let (s, e) = app.post("/api/v1/notifications", ok("payment_received", json!({"amount": "x"}))).await;
        assert_eq!((s, e["error"]["field"].as_str()), (422, Some("data.amount")), "{e}");
        // A template with an unknown field is refused when saved.
        let (s, e) = put(&app, "/api/v1/notification-types/payment_received/templates/sms/pl", json!({"body": "{{ contact.shoe }}"})).await;
        assert_eq!(s, 422, "{e}");
        // A new type is answered with what was stored; a bad name is refused.
        let (s, t) = app.post("/api/v1/notification-types", json!({"key": "parcel_ready", "urgent": true})).await;
        assert_eq!(s, 201, "{t}");
        assert_eq!(t, json!({"key": "parcel_ready", "name": "parcel ready", "urgent": true, "built_in": false, "templates": []}));
        let (s, e) = app.post("/api/v1/notification-types", json!({"key": "parcel_late", "name": "a\u{7}b"})).await;
        assert_eq!((s, e["error"]["field"].as_str()), (422, Some("name")), "{e}");
        // An e-mail the server refuses is recorded as bounced.
        app.post("/api/v1/contacts", json!({"phone": "+48600000003", "external_id": "A-3", "email": "bounce@example.com"})).await;
        let (_, id3) = app.get("/api/v1/contacts?q=600000003").await;
        let id3 = id3["contacts"][0]["id"].as_str().unwrap().to_owned();
        put(&app, &format!("/api/v1/notification-preferences/{id3}"), json!({"preferences": [{"type": "*", "channels": ["email"]}]})).await;
        let (s, n) = app.post("/api/v1/notifications", json!({"type": "tariff_changed", "subscriber": {"external_id": "A-3"}, "data": {"tariff": "Max"}})).await;
        assert_eq!(s, 202, "{n}");
        let id = n["id"].as_str().unwrap().to_owned();
        let n = wait_for("the bounce", async || {
            let (_, n) = app.get(&format!("/api/v1/notifications/{id}")).await;
            (n["deliveries"][0]["status"] == "bounced").then_some(n)
        })
        .await;
        assert!(n["deliveries"][0]["reason"].as_str().unwrap().contains("refused"), "{n}");

        // An invoice attached to an e-mail arrives with it.
        app.post("/api/v1/contacts", json!({"phone": "+48600000004", "external_id": "A-4", "email": "ola@example.com"})).await;
        let (_, id4) = app.get("/api/v1/contacts?q=600000004").await;
        let id4 = id4["contacts"][0]["id"].as_str().unwrap().to_owned();
        put(&app, &format!("/api/v1/notification-preferences/{id4}"), json!({"preferences": [{"type": "*", "channels": ["email"]}]})).await;
        let (s, n) = app
            .post("/api/v1/notifications", json!({"type": "upcoming_charge", "subscriber": {"external_id": "A-4"},
                "data": {"amount": 99, "due_date": "2026-12-01"},
                "attachments": [{"filename": "invoice.pdf", "content_type": "application/pdf", "content": "JVBERi0xLjQKJcfs"}]}))
            .await;
        assert_eq!(s, 202, "{n}");
        let mail = wait_for("the invoice", async || {
            sink.messages().into_iter().find(|m| m.to == vec!["ola@example.com".to_owned()])
        })
        .await;
        use mail_parser::MimeHeaders as _;
        let parsed = mail_parser::MessageParser::default().parse(&mail.data).unwrap();
        let attachment = parsed.attachment(0).expect("an attachment");
        assert_eq!(attachment.attachment_name(), Some("invoice.pdf"));
        assert!(attachment.contents().starts_with(b"%PDF-1.4"));
        let (s, e) = app
            .post("/api/v1/notifications", json!({"type": "upcoming_charge", "subscriber": {"external_id": "A-4"},
                "data": {"amount": 99, "due_date": "2026-12-01"}, "attachments": [{"filename": "x.pdf", "content": "not base64!"}]}))
            .await;
        assert_eq!((s, e["error"]["field"].as_str()), (422, Some("attachments[0]")), "{e}");
        // An attachment is never fetched from the cloud metadata service
        // (or any link-local address): it would be mailed to the subscriber.
        let (s, e) = app
            .post("/api/v1/notifications", json!({"type": "upcoming_charge", "subscriber": {"external_id": "A-4"},
                "data": {"amount": 99, "due_date": "2026-12-01"},
                "attachments": [{"filename": "x.pdf", "url": "http://169.254.169.254/latest/meta-data/"}]}))
            .await;
        assert_eq!((s, e["error"]["field"].as_str()), (422, Some("attachments[0]")), "{e}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn low_balance_and_run_out_are_derived_once_per_crossing() {
    on_each_backend(|b| async move {
        let sink = SmtpSink::start().await;
        let app = start(&b, &sink).await;
        app.post("/api/v1/contacts", json!({"phone": "+48600000001", "external_id": "B-1"})).await;
        let (s, _) = put(
            &app,
            "/api/v1/notification-settings",
            json!({"low_balance_threshold": "10.00", "runout_days": 3}),
        )
        .await;
        assert_eq!(s, 200);
        let report = |balance: &str| {
            json!({"type": "payment_received", "subscriber": {"external_id": "B-1"},
                   "data": {"amount": "1.00", "currency": "PLN", "balance": balance, "daily_charge": "1.00"}})
        };
        let derived = async |balance: &str| -> Vec<String> {
            let (s, n) = app.post("/api/v1/notifications", report(balance)).await;
            assert_eq!(s, 202, "{n}");
            let mut kinds = Vec::new();
            for id in n["derived"].as_array().unwrap() {
                let (_, d) = app.get(&format!("/api/v1/notifications/{}", id.as_str().unwrap())).await;
                kinds.push(d["type"].as_str().unwrap().to_owned());
            }
            kinds
        };
        assert_eq!(derived("50.00").await, Vec::<String>::new());
        assert_eq!(derived("5.00").await, vec!["balance_low"]); // below 10, 5 days of funds
        assert_eq!(derived("4.00").await, Vec::<String>::new(), "once per crossing");
        assert_eq!(derived("2.50").await, vec!["funds_run_out"]); // 2 days left
        assert_eq!(derived("60.00").await, Vec::<String>::new());
        assert_eq!(derived("3.00").await, vec!["balance_low", "funds_run_out"], "crossed again");

        // The forecast: 20.00 at 1.00 a day is 20 days; eighteen days later
        // (nothing reported meanwhile) two are left.
        let (_, c2) =
            app.post("/api/v1/contacts", json!({"phone": "+48600000002", "external_id": "B-2"})).await;
        let c2 = c2["id"].as_str().unwrap().to_owned();
        let (s, _) = app
            .post(
                "/api/v1/notifications",
                json!({"type": "service_added", "subscriber": {"external_id": "B-2"},
                "data": {"service": "TV", "balance": "20.00", "daily_charge": "1.00"}}),
            )
            .await;
        assert_eq!(s, 202);
        let clock = app.app.as_ref().unwrap().clock.clone();
        clock.set(Utc::now() + chrono::Duration::days(18));
        let forecast = wait_for("the forecast", async || {
            let (_, list) = app.get(&format!("/api/v1/notifications?contact={c2}")).await;
            list["notifications"].as_array().unwrap().iter().find(|n| n["type"] == "funds_run_out").cloned()
        })
        .await;
        let (_, n) = app.get(&format!("/api/v1/notifications/{}", forecast["id"].as_str().unwrap())).await;
        assert!(n["deliveries"][0]["text"].as_str().unwrap().contains("last about 2 more days"), "{n}");

        // The report, as a spreadsheet too.
        let csv = app
            .http
            .get(app.url(
                "/api/v1/notifications/report.csv?since=2026-01-01T00:00:00Z&until=2099-01-01T00:00:00Z",
            ))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(csv.status(), 200);
        let body = csv.text().await.unwrap();
        assert!(body.contains("day,type,channel,status,count") && body.contains("funds_run_out"), "{body}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn subscribers_change_their_own_preferences_through_a_signed_link() {
    on_each_backend(|b| async move {
        let sink = SmtpSink::start().await;
        let app = start(&b, &sink).await;
        let (_, c) = app
            .post(
                "/api/v1/contacts",
                json!({"phone": "+48600000001", "external_id": "C-1", "name": "<b>Zoe</b>"}),
            )
            .await;
        let contact = c["id"].as_str().unwrap().to_owned();
        let (s, link) = app
            .post(
                "/api/v1/notification-links",
                json!({"subscriber": {"external_id": "C-1"}, "valid_hours": 1}),
            )
            .await;
        assert_eq!(s, 201, "{link}");
        let url = link["url"].as_str().unwrap().to_owned();
        let path = url.split_once("/preferences/").map(|(_, t)| format!("/preferences/{t}")).unwrap();
        let page = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(!html.contains("<b>Zoe</b>"), "markup in a name is shown as text");
        assert!(html.contains("&#60;b&#62;Zoe") || html.contains("&lt;b&gt;Zoe"), "{html}");
        assert!(html.contains("Notification preferences"), "English for a contact without a language");
        assert!(html.contains("Payment received") && html.contains("name=\"balance_low__email\""), "{html}");

        let form = [
            ("payment_received__sms", "on"),
            ("balance_low__email", "on"),
            ("window_start", "09:00"),
            ("window_end", "18:00"),
            ("extra_email", "spouse@example.com"),
        ];
        // From an untrusted peer, X-Forwarded-For is anyone's claim.
        let saved = app
            .http
            .post(app.url(&path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-forwarded-for", "203.0.113.9")
            .body(form_body(&form))
            .send()
            .await
            .unwrap();
        assert_eq!(saved.status(), 200);
        assert!(saved.text().await.unwrap().contains("saved"));
        let (_, prefs) = app.get(&format!("/api/v1/notification-preferences/{contact}")).await;
        let pay = prefs["preferences"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["type"] == "payment_received")
            .unwrap()
            .clone();
        assert_eq!(pay["channels"], json!(["sms"]));
        assert_eq!(pay["window"], json!({"start": "09:00", "end": "18:00"}));
        assert_eq!(pay["extra_emails"], json!(["spouse@example.com"]));
        let (_, changes) = app.get(&format!("/api/v1/notification-preferences/{contact}/changes")).await;
        assert_eq!(changes[0]["source"], "self-service", "{changes}");
        assert_eq!(changes[0]["remote_addr"], "127.0.0.1", "the peer, not what it claims: {changes}");

        // A subscriber whose language is Bulgarian gets the page in Bulgarian,
        // unless they pick another language with the page's picker.
        app.post(
            "/api/v1/contacts",
            json!({"phone": "+359881234567", "external_id": "C-2", "language": "bg"}),
        )
        .await;
        let (_, link) = app
            .post(
                "/api/v1/notification-links",
                json!({"subscriber": {"external_id": "C-2"}, "valid_hours": 1}),
            )
            .await;
        let bg_url = link["url"].as_str().unwrap();
        let bg_path = bg_url.split_once("/preferences/").map(|(_, t)| format!("/preferences/{t}")).unwrap();
        let html = app.http.get(app.url(&bg_path)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Настройки на известията") && html.contains(r#"lang="bg""#), "{html}");
        let html = app
            .http
            .get(app.url(&bg_path))
            .header("cookie", "kurier_lang=pl")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Ustawienia powiadomień"), "{html}");

        // A bad form changes nothing; a forged or expired link opens nothing.
        let bad = post_form(&app, &path, &[("window_start", "09:00")]).await;
        assert_eq!(bad.status(), 422);
        // The refused form comes back as the subscriber left it, not as stored:
        // SMS for payments switched off, the address they typed.
        let bad = post_form(
            &app,
            &path,
            &[
                ("balance_low__email", "on"),
                ("window_start", "08:30"),
                ("window_end", "20:00"),
                ("extra_email", "nope"),
            ],
        )
        .await;
        assert_eq!(bad.status(), 422);
        let html = bad.text().await.unwrap();
        assert!(html.contains("is not an e-mail address"), "{html}");
        assert!(html.contains(r#"name="payment_received__sms" value="on">"#), "unchecked: {html}");
        assert!(html.contains(r#"name="balance_low__email" value="on" checked>"#), "{html}");
        assert!(html.contains(r#"name="extra_email" value="nope""#), "{html}");
        assert!(html.contains(r#"name="window_start" value="08:30""#), "{html}");
        let (_, changes) = app.get(&format!("/api/v1/notification-preferences/{contact}/changes")).await;
        assert_eq!(changes.as_array().unwrap().len(), 1);
        let forged = format!("{}0", path);
        assert_eq!(app.http.get(app.url(&forged)).send().await.unwrap().status(), 404);
        // Whoever holds the account's webhook secret (a webhook receiver)
        // cannot make a link that works for longer than a link may.
        let (_, account) = app.get("/api/v1/account").await;
        let secret = account["webhook_secret"].as_str().unwrap();
        let account_id = account["id"].as_str().unwrap();
        let in_years = (Utc::now() + chrono::Duration::days(3_650)).timestamp();
        let forever = kurier::notifications::page::sign(secret, account_id, &contact, in_years);
        let status = app.http.get(app.url(&format!("/preferences/{forever}"))).send().await.unwrap().status();
        assert_eq!(status, 404);
        let in_a_week = (Utc::now() + chrono::Duration::days(7)).timestamp();
        let fair = kurier::notifications::page::sign(secret, account_id, &contact, in_a_week);
        let status = app.http.get(app.url(&format!("/preferences/{fair}"))).send().await.unwrap().status();
        assert_eq!(status, 200, "a link within the lifetime opens");
        app.app.as_ref().unwrap().clock.set(Utc::now() + chrono::Duration::hours(2));
        assert_eq!(app.http.get(app.url(&path)).send().await.unwrap().status(), 404);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_subscriber_who_opted_out_gets_no_sms_notification_but_still_the_email() {
    on_each_backend(|b| async move {
        let sink = SmtpSink::start().await;
        let app = start(&b, &sink).await;
        let clock = app.app.as_ref().unwrap().clock.clone();
        let (s, c) = app
            .post(
                "/api/v1/contacts",
                json!({"phone": "+48600100200", "email": "jan@example.pl", "time_zone": "Europe/Warsaw"}),
            )
            .await;
        assert_eq!(s, 201, "{c}");
        let contact = c["id"].as_str().unwrap().to_owned();
        let window = json!({"start": "08:00", "end": "20:00"});
        let (s, p) = put(
            &app,
            &format!("/api/v1/notification-preferences/{contact}"),
            json!({"preferences": [{"type": "payment_received", "channels": ["sms", "email"], "window": window}]}),
        )
        .await;
        assert_eq!(s, 200, "{p}");
        let payment = json!({"type": "payment_received", "subscriber": {"phone": "+48600100200"},
                             "data": {"amount": "10.00", "currency": "PLN"}});
        let status = |n: &Value, channel: &str| {
            let d = n["deliveries"].as_array().unwrap().iter().find(|d| d["channel"] == channel).unwrap().clone();
            (d["status"].as_str().unwrap().to_owned(), d["reason"].as_str().map(str::to_owned))
        };
        // At night both wait for the window; then the number opts out.
        clock.set(at("2026-11-24T22:30:00Z"));
        let (s, waiting) = app.post("/api/v1/notifications", payment.clone()).await;
        assert_eq!(s, 202, "{waiting}");
        assert_eq!(status(&waiting, "sms").0, "waiting_window", "{waiting}");
        let (s, o) = app.post("/api/v1/opt-outs", json!({"phone": "+48600100200"})).await;
        assert!(s < 300, "{o}");

        // An event after the opt-out: the SMS is suppressed at once.
        let (s, after) = app.post("/api/v1/notifications", payment).await;
        assert_eq!(s, 202, "{after}");
        let opted_out = Some("the number opted out of the account's messages".to_owned());
        assert_eq!(status(&after, "sms"), ("suppressed".to_owned(), opted_out.clone()), "{after}");
        assert_eq!(status(&after, "email").0, "waiting_window", "{after}");

        // The window opens: the waiting SMS is suppressed too, the e-mails go.
        clock.set(at("2026-11-25T07:00:01Z"));
        let id = waiting["id"].as_str().unwrap().to_owned();
        let n = wait_for("the waiting SMS settled", async || {
            let (_, n) = app.get(&format!("/api/v1/notifications/{id}")).await;
            (!["waiting_window", "queued"].contains(&status(&n, "sms").0.as_str())).then_some(n)
        })
        .await;
        assert_eq!(status(&n, "sms"), ("suppressed".to_owned(), opted_out), "{n}");
        wait_for("both e-mails", async || (sink.messages().len() == 2).then_some(())).await;
        let (_, m) = app.get("/api/v1/messages").await;
        assert_eq!(m["messages"].as_array().unwrap().len(), 0, "no SMS: {m}");
        app.stop().await;
    })
    .await;
}
