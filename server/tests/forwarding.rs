//! Forwarding received messages as a user meets it: keyword and default
//! actions send them on by e-mail (to a real SMTP server started here), by
//! SMS to a phone, and to webhooks — including endpoints and mail servers
//! that hang, fail or refuse — and every attempt can be read back over
//! HTTP. On SQLite and, when configured, PostgreSQL.

mod common;

use std::time::Duration;

use common::hooks::{Behaviour, Endpoints};
use common::smtp::{SmtpSink, black_hole};
use common::two_way::{PHONE, inject, keyword, matched, number, sent_to, share_7100};
use common::{TestApp, on_each_backend, wait_for};
use serde_json::{Value, json};

/// The received message's e-mails once none is pending.
async fn settled_emails(app: &TestApp, id: &str) -> Vec<Value> {
    wait_for("the e-mails to settle", async || {
        let (_, m) = app.get(&format!("/api/v1/inbound/{id}")).await;
        let emails = m["emails"].as_array().cloned().unwrap_or_default();
        (!emails.is_empty() && emails.iter().all(|e| e["status"] != "pending")).then_some(emails)
    })
    .await
}

/// The webhook deliveries of a message, once none is pending.
async fn settled_deliveries(app: &TestApp, message_id: &str, n: usize) -> Vec<Value> {
    wait_for("the callbacks to settle", async || {
        let (_, list) = app.get(&format!("/api/v1/webhooks/deliveries?message_id={message_id}")).await;
        let d = list["deliveries"].as_array().cloned().unwrap_or_default();
        (d.len() == n && d.iter().all(|d| d["status"] != "pending")).then_some(d)
    })
    .await
}

fn by_url<'a>(deliveries: &'a [Value], url: &str) -> &'a Value {
    deliveries.iter().find(|d| d["url"] == url).unwrap_or_else(|| panic!("no delivery to {url}"))
}

#[tokio::test]
async fn a_keyword_forwards_by_email_and_sms_and_notifies_people_by_email_and_sms() {
    on_each_backend(|b| async move {
        let sink = SmtpSink::start().await;
        let app = TestApp::start_with(&b, |c| {
            sink.configure(c);
            c.smtp.from = "Kurier <sms@example.com>".into();
        })
        .await;
        number(&app, json!({"number": "7100"})).await;
        keyword(
            &app,
            json!({"number": "7100", "keyword": "PIZZA", "actions": [
                {"type": "forward", "email": "Orders@Example.com"},
                {"type": "notify", "email": "boss@example.com", "text": "{{ data.message.from }} wants pizza"},
                {"type": "forward", "phone": "+48600999000"},
                {"type": "notify", "phone": "+48600999001"},
            ]}),
        )
        .await;
        inject(&app, PHONE, "7100", "Pizza please, large, no olives").await;
        let m = matched(&app, PHONE, "Pizza please, large, no olives").await;
        assert_eq!(m["match"]["kind"], "keyword");
        let logged: Vec<&str> =
            m["match"]["actions"].as_array().unwrap().iter().filter_map(|a| a["to"].as_str()).collect();
        assert!(logged.contains(&"Orders@example.com") && logged.contains(&"boss@example.com"), "{m}");

        let emails = settled_emails(&app, m["id"].as_str().unwrap()).await;
        assert!(emails.iter().all(|e| e["status"] == "sent" && e["attempts"] == 1), "{emails:?}");
        let mut got = sink.parsed();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got.len(), 2, "{got:?}");
        let (to, subject, text, _) = &got[0];
        assert_eq!(to, &vec!["Orders@example.com".to_owned()]);
        assert_eq!(subject, &format!("SMS from {PHONE} to 7100 (PIZZA)"));
        assert!(text.contains("Pizza please, large, no olives") && text.contains("Keyword: PIZZA"), "{text}");
        assert!(text.contains(&format!("From: {PHONE}")), "{text}");
        let (to, subject, text, _) = &got[1];
        assert_eq!(to, &vec!["boss@example.com".to_owned()]);
        assert_eq!(subject, "New message to 7100");
        assert_eq!(text.trim(), format!("{PHONE} wants pizza"));
        assert!(sink.messages().iter().all(|r| r.from.contains("sms@example.com")));

        // The SMS forward and notification go all the way to the phones.
        let forwarded = sent_to(&app, "+48600999000").await;
        assert_eq!(forwarded[0]["text"], format!("From {PHONE}: Pizza please, large, no olives"));
        app.wait_for_status(forwarded[0]["id"].as_str().unwrap(), "delivered").await;
        let notified = sent_to(&app, "+48600999001").await;
        assert_eq!(notified[0]["text"], format!("{PHONE} wrote to 7100 (PIZZA): Pizza please, large, no olives"));
        app.wait_for_status(notified[0]["id"].as_str().unwrap(), "delivered").await;
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_busy_mail_server_is_retried_until_it_takes_the_mail_and_a_refused_address_fails_with_why() {
    on_each_backend(|b| async move {
        let sink = SmtpSink::unavailable(3).await;
        let app = TestApp::start_with(&b, |c| {
            sink.configure(c);
            c.smtp.retry_base_ms = 50;
            c.smtp.retry_max_ms = 200;
        })
        .await;
        number(
            &app,
            json!({"number": "7100", "default_actions": [
                {"type": "forward", "email": "desk@example.com"},
                {"type": "notify", "email": "bounce@example.com"},
            ]}),
        )
        .await;
        inject(&app, PHONE, "7100", "Is the shop open on Sunday?").await;
        let m = matched(&app, PHONE, "Is the shop open on Sunday?").await;
        let emails = settled_emails(&app, m["id"].as_str().unwrap()).await;
        let desk = emails.iter().find(|e| e["to"] == "desk@example.com").unwrap();
        assert_eq!(desk["status"], "sent", "{desk}");
        let bounced = emails.iter().find(|e| e["to"] == "bounce@example.com").unwrap();
        assert_eq!(bounced["status"], "failed", "{bounced}");
        assert!(bounced["last_error"].as_str().unwrap().contains("no such mailbox"), "{bounced}");
        let attempts = desk["attempts"].as_i64().unwrap() + bounced["attempts"].as_i64().unwrap();
        assert!(attempts >= 5, "three were turned away, then each got through: {emails:?}");
        let got = sink.parsed();
        assert_eq!(got.len(), 1, "only the deliverable one arrived: {got:?}");
        assert!(got[0].2.contains("Is the shop open on Sunday?"));

        // Every attempt is in the e-mails' delivery log.
        let id = m["id"].as_str().unwrap();
        let (status, list) = app.get(&format!("/api/v1/emails/deliveries?message_id={id}")).await;
        assert_eq!(status, 200, "{list}");
        let list = list["deliveries"].as_array().unwrap().clone();
        assert_eq!(list.len(), 2, "{list:?}");
        let results = |e: &Value| -> Vec<String> {
            e["log"].as_array().unwrap().iter().map(|a| a["result"].as_str().unwrap().to_owned()).collect()
        };
        let mut total = 0;
        for (to, last) in [("desk@example.com", "sent"), ("bounce@example.com", "failed")] {
            let e = list.iter().find(|e| e["to"] == to).unwrap();
            let r = results(e);
            assert_eq!(r.last().map(String::as_str), Some(last), "{e}");
            assert!(r[..r.len() - 1].iter().all(|r| r == "retry"), "{e}");
            assert_eq!(e["attempts"], r.len(), "{e}");
            assert_eq!(e["message_id"], id);
            for a in e["log"].as_array().unwrap() {
                assert_eq!(a["error"].is_null(), a["result"] == "sent", "{a}");
                assert!(a["duration_ms"].as_i64().unwrap() >= 0 && a["at"].is_string(), "{a}");
            }
            total += r.len();
        }
        assert_eq!(total, attempts as usize, "one log entry per attempt");
        let desk = list.iter().find(|e| e["to"] == "desk@example.com").unwrap();
        assert!(desk["body"].as_str().unwrap().contains("Is the shop open on Sunday?"), "{desk}");
        let (_, failed) = app.get("/api/v1/emails/deliveries?status=failed").await;
        assert_eq!(failed["deliveries"].as_array().unwrap().len(), 1, "{failed}");

        // Sent again by hand: it arrives a second time, counted afresh,
        // the earlier attempts kept.
        let desk_id = desk["id"].as_str().unwrap();
        let (status, again) =
            app.post(&format!("/api/v1/emails/deliveries/{desk_id}/resend"), json!({})).await;
        assert_eq!((status, again["status"].as_str()), (202, Some("pending")), "{again}");
        let resent = wait_for("the re-sent e-mail", async || {
            let (_, one) = app.get(&format!("/api/v1/emails/deliveries/{desk_id}")).await;
            (one["status"] == "sent").then_some(one)
        })
        .await;
        assert_eq!(resent["attempts"], 1, "{resent}");
        assert_eq!(results(&resent).len(), results(desk).len() + 1, "{resent}");
        assert_eq!(sink.parsed().len(), 2);
        assert_eq!(sink.parsed()[1].2, got[0].2, "the same e-mail");

        let (status, missing) = app.post("/api/v1/emails/deliveries/nope/resend", json!({})).await;
        assert_eq!(status, 404, "{missing}");
        let (status, missing) = app.get("/api/v1/emails/deliveries/nope").await;
        assert_eq!(status, 404, "{missing}");
        let (status, bad) = app.get("/api/v1/emails/deliveries?status=lost").await;
        assert_eq!((status, bad["error"]["field"].as_str()), (400, Some("status")), "{bad}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_mail_server_that_accepts_and_then_stalls_costs_one_attempt_of_smtp_timeout_secs() {
    on_each_backend(|b| async move {
        let stalled = black_hole().await;
        let app = TestApp::start_with(&b, |c| {
            c.smtp.host = Some("127.0.0.1".into());
            c.smtp.port = stalled.port();
            c.smtp.tls = "none".into();
            c.smtp.timeout_secs = 1;
            c.smtp.retry_base_ms = 60_000;
        })
        .await;
        number(
            &app,
            json!({"number": "7100", "default_actions": [{"type": "forward", "email": "desk@example.com"}]}),
        )
        .await;
        inject(&app, PHONE, "7100", "Anyone there?").await;
        let m = matched(&app, PHONE, "Anyone there?").await;
        let id = m["id"].as_str().unwrap();
        let email = wait_for("the first attempt to end", async || {
            let (_, list) = app.get(&format!("/api/v1/emails/deliveries?message_id={id}")).await;
            let e = list["deliveries"].as_array()?.first()?.clone();
            (!e["log"].as_array()?.is_empty()).then_some(e)
        })
        .await;
        let attempt = &email["log"][0];
        assert_eq!(
            (email["status"].as_str(), attempt["result"].as_str()),
            (Some("pending"), Some("retry")),
            "{email}"
        );
        assert!(attempt["error"].as_str().unwrap().contains("smtp.timeout_secs"), "{attempt}");
        let took = attempt["duration_ms"].as_i64().unwrap();
        assert!((1_000..5_000).contains(&took), "about the 1 s limit: {attempt}");
        // The worker is free again: the app stops without waiting on the
        // mail server.
        let stopping = std::time::Instant::now();
        app.stop().await;
        assert!(stopping.elapsed() < Duration::from_secs(5), "{:?}", stopping.elapsed());
    })
    .await;
}

#[tokio::test]
async fn forwards_to_endpoints_that_hang_or_fail_are_retried_logged_and_can_be_resent() {
    on_each_backend(|b| async move {
        let hooks = Endpoints::start().await;
        let app = TestApp::start_with(&b, |c| {
            c.webhooks.timeout_secs = 1;
            c.webhooks.retry_window_secs = 3;
        })
        .await;
        let hang = hooks.url("hang", Behaviour::HangFirst(1, Duration::from_secs(5)));
        let flaky = hooks.url("flaky", Behaviour::FailFirst(2));
        let down = hooks.url("down", Behaviour::Broken);
        number(
            &app,
            json!({"number": "7100", "default_actions": [
                {"type": "forward", "url": hang}, {"type": "forward", "url": flaky}, {"type": "forward", "url": down},
            ]}),
        )
        .await;
        inject(&app, PHONE, "7100", "Call me back please").await;
        let m = matched(&app, PHONE, "Call me back please").await;
        assert_eq!(m["match"]["kind"], "default", "the message and its match are stored whatever the endpoints do");
        let id = m["id"].as_str().unwrap();

        let deliveries = settled_deliveries(&app, id, 3).await;
        let d = by_url(&deliveries, &hang);
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["log"][0]["error"], "timed out", "{d}");
        assert_eq!(d["log"][1]["response_status"], 200, "{d}");
        let d = by_url(&deliveries, &flaky);
        assert_eq!(d["status"], "delivered", "{d}");
        let statuses: Vec<&Value> = d["log"].as_array().unwrap().iter().map(|a| &a["response_status"]).collect();
        assert_eq!(statuses, [500, 500, 200], "{d}");
        let d = by_url(&deliveries, &down);
        assert_eq!(d["status"], "failed", "given up when its window closed: {d}");
        let tries = d["log"].as_array().unwrap().len();
        assert!(tries >= 3 && d["attempts"] == tries, "{d}");
        assert!(d["log"].as_array().unwrap().iter().all(|a| a["response_status"] == 500));
        assert_eq!(hooks.calls("down").len(), tries, "every attempt is logged");

        // Every attempt carried the same signed body.
        let (_, account) = app.get("/api/v1/account").await;
        let secret = account["webhook_secret"].as_str().unwrap();
        for call in hooks.calls("flaky").iter().chain(&hooks.calls("down")) {
            let t: i64 = call.signature.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
            assert_eq!(call.signature, kurier::webhooks::sign(secret, t, &call.body));
            let body: Value = serde_json::from_str(&call.body).unwrap();
            assert_eq!(body["message"]["id"], id);
            assert_eq!(body["message"]["text"], "Call me back please");
        }

        let (status, failed) = app.get("/api/v1/webhooks/deliveries?status=failed").await;
        assert_eq!(status, 200);
        assert_eq!(failed["deliveries"].as_array().unwrap().len(), 1, "{failed}");

        // Fixed, the failed one is sent again by hand and arrives.
        hooks.set("down", Behaviour::Happy);
        let down_id = d["id"].as_str().unwrap();
        let (status, again) = app.post(&format!("/api/v1/webhooks/deliveries/{down_id}/resend"), json!({})).await;
        assert_eq!(status, 202, "{again}");
        assert_eq!(again["status"], "pending");
        let resent = wait_for("the re-sent callback", async || {
            let (_, one) = app.get(&format!("/api/v1/webhooks/deliveries/{down_id}")).await;
            (one["status"] == "delivered").then_some(one)
        })
        .await;
        assert_eq!(resent["attempts"], 1, "counted afresh: {resent}");
        assert_eq!(resent["log"].as_array().unwrap().len(), tries + 1, "the earlier attempts stay in the log");
        assert_eq!(hooks.calls("down").last().unwrap().body, hooks.calls("down")[0].body);

        let (status, missing) = app.post("/api/v1/webhooks/deliveries/nope/resend", json!({})).await;
        assert_eq!(status, 404, "{missing}");
        let (status, bad) = app.get("/api/v1/webhooks/deliveries?status=lost").await;
        assert_eq!((status, bad["error"]["field"].as_str()), (400, Some("status")), "{bad}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_forward_resent_while_it_is_being_posted_is_posted_once_if_that_post_delivers_it() {
    on_each_backend(|b| async move {
        let hooks = Endpoints::start().await;
        let app = TestApp::start_with(&b, |c| c.webhooks.timeout_secs = 10).await;
        // Answers 200, but only after a while: the POST is in flight.
        let slow = hooks.url("slow", Behaviour::HangFirst(1, Duration::from_millis(1_500)));
        number(&app, json!({"number": "7100", "default_actions": [{"type": "forward", "url": slow}]})).await;
        inject(&app, PHONE, "7100", "Are you open?").await;
        let m = matched(&app, PHONE, "Are you open?").await;
        let id = m["id"].as_str().unwrap();
        wait_for("the POST to start", async || (hooks.calls("slow").len() == 1).then_some(())).await;
        let (_, list) = app.get(&format!("/api/v1/webhooks/deliveries?message_id={id}")).await;
        let delivery = list["deliveries"][0]["id"].as_str().unwrap().to_owned();
        let (status, again) =
            app.post(&format!("/api/v1/webhooks/deliveries/{delivery}/resend"), json!({})).await;
        assert_eq!((status, again["status"].as_str()), (202, Some("pending")), "{again}");

        let d = settled_deliveries(&app, id, 1).await;
        assert_eq!(d[0]["status"], "delivered", "{d:?}");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            hooks.calls("slow").len(),
            1,
            "the re-send waited for the POST in flight, which delivered it"
        );
        let (_, one) = app.get(&format!("/api/v1/webhooks/deliveries/{delivery}")).await;
        assert_eq!(
            (one["status"].as_str(), one["log"].as_array().unwrap().len()),
            (Some("delivered"), 1),
            "{one}"
        );
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_accounts_inbound_url_gets_every_received_message_and_opt_change_signed() {
    on_each_backend(|b| async move {
        let hooks = Endpoints::start().await;
        let app = TestApp::start(&b).await;
        for bad in [json!("ftp://example.com/in"), json!("/relative"), json!(7)] {
            let (status, e) = app.patch("/api/v1/account", json!({"inbound_url": bad})).await;
            assert_eq!(status, 422, "{bad}: {e}");
            assert_eq!(app.get("/api/v1/account").await.1["inbound_url"], Value::Null, "nothing changed");
        }
        let url = hooks.url("all", Behaviour::Happy);
        let (status, account) = app.patch("/api/v1/account", json!({"inbound_url": url})).await;
        assert_eq!((status, account["inbound_url"].as_str()), (200, Some(url.as_str())), "{account}");
        number(&app, json!({"number": "7100"})).await;
        keyword(&app, json!({"number": "7100", "keyword": "PIZZA", "actions": [{"type": "add_to_group", "group": "Pizza"}]}))
            .await;
        let sent = ["pizza please", "hello?", "STOP", "START"];
        for text in sent {
            inject(&app, PHONE, "7100", text).await;
            matched(&app, PHONE, text).await;
        }
        let calls = wait_for("four posts", async || {
            let calls = hooks.calls("all");
            (calls.len() == sent.len()).then_some(calls)
        })
        .await;
        let secret = account["webhook_secret"].as_str().unwrap();
        let mut bodies: Vec<Value> = calls
            .iter()
            .map(|c| {
                let t: i64 = c.signature.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
                assert_eq!(c.signature, kurier::webhooks::sign(secret, t, &c.body));
                serde_json::from_str(&c.body).unwrap()
            })
            .collect();
        // Callbacks are sent side by side, so not necessarily in order.
        bodies.sort_by_key(|b| sent.iter().position(|t| b["message"]["text"] == *t));
        let seen: Vec<(&str, &str, &str)> = bodies
            .iter()
            .map(|b| {
                (
                    b["message"]["text"].as_str().unwrap(),
                    b["event"].as_str().unwrap(),
                    b["match"]["kind"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("pizza please", "message.inbound", "keyword"),
                ("hello?", "message.inbound", "none"),
                ("STOP", "contact.opted_out", "opt_out"),
                ("START", "contact.opted_in", "opt_in"),
            ]
        );
        assert_eq!(bodies[0]["match"]["keyword"], "PIZZA");
        // The receiver has each call before Kurier records the answer.
        let list = wait_for("the four deliveries to be recorded as delivered", async || {
            let (_, list) = app.get("/api/v1/webhooks/deliveries?status=delivered").await;
            (list["deliveries"].as_array().map_or(0, Vec::len) == 4).then_some(list)
        })
        .await;
        let events: Vec<&str> =
            list["deliveries"].as_array().unwrap().iter().map(|d| d["event"].as_str().unwrap()).collect();
        assert!(events.contains(&"contact.opted_out"), "{events:?}");

        let (status, account) = app.patch("/api/v1/account", json!({"inbound_url": null})).await;
        assert_eq!((status, &account["inbound_url"]), (200, &Value::Null));
        inject(&app, PHONE, "7100", "anyone there?").await;
        matched(&app, PHONE, "anyone there?").await;
        assert_eq!(hooks.calls("all").len(), 4, "no longer posted");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn poll_votes_reach_the_inbound_url_as_poll_vote_events_saying_what_became_of_each() {
    on_each_backend(|b| async move {
        let hooks = Endpoints::start().await;
        let app = TestApp::start(&b).await;
        let url = hooks.url("votes", Behaviour::Happy);
        let (status, account) = app.patch("/api/v1/account", json!({"inbound_url": url})).await;
        assert_eq!(status, 200, "{account}");
        number(&app, json!({"number": "7100"})).await;
        let closed = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
        for (name, policy, closes_at, key) in [
            ("Lunch", "first", None, "VOTE"),
            ("Colour", "last", None, "COLOUR"),
            ("Old", "first", Some(closed), "OLD"),
        ] {
            let mut poll = json!({"name": name, "question": "?", "vote_policy": policy,
                "answers": [{"key": "A"}, {"key": "B"}]});
            if let Some(c) = closes_at {
                poll["closes_at"] = json!(c);
            }
            let (status, p) = app.post("/api/v1/polls", poll).await;
            assert_eq!(status, 201, "{p}");
            keyword(
                &app,
                json!({"number": "7100", "keyword": key, "actions": [{"type": "poll_answer", "poll": name}]}),
            )
            .await;
        }
        let sent = [
            ("+48600000001", "VOTE a"),
            ("+48600000001", "VOTE b"),
            ("+48600000002", "COLOUR a"),
            ("+48600000002", "COLOUR b"),
            ("+48600000003", "VOTE x"),
            ("+48600000003", "OLD a"),
            ("+48600000003", "hello"),
        ];
        for (from, text) in sent {
            inject(&app, from, "7100", text).await;
            matched(&app, from, text).await;
        }
        let calls = wait_for("a post per message", async || {
            let calls = hooks.calls("votes");
            (calls.len() == sent.len()).then_some(calls)
        })
        .await;
        let bodies: Vec<Value> = calls.iter().map(|c| serde_json::from_str(&c.body).unwrap()).collect();
        let body = |from: &str, text: &str| -> Value {
            bodies
                .iter()
                .find(|b| b["message"]["from"] == from && b["message"]["text"] == text)
                .cloned()
                .unwrap_or_else(|| panic!("no post for {text}"))
        };
        // What became of each vote: counted, duplicate ignored, replacing
        // the number's earlier vote, naming no answer, the poll closed.
        let expect = [
            ("+48600000001", "VOTE a", "Lunch", Some("A"), "counted", true, false, false),
            ("+48600000001", "VOTE b", "Lunch", Some("B"), "duplicate", false, false, false),
            ("+48600000002", "COLOUR a", "Colour", Some("A"), "counted", true, false, false),
            ("+48600000002", "COLOUR b", "Colour", Some("B"), "counted", true, true, false),
            ("+48600000003", "VOTE x", "Lunch", None, "invalid", false, false, false),
            ("+48600000003", "OLD a", "Old", Some("A"), "late", false, false, true),
        ];
        for (from, text, poll, answer, status, counted, replaced, closed) in expect {
            let b = body(from, text);
            assert_eq!(b["event"], "poll.vote", "{b}");
            assert_eq!(b["match"]["kind"], "keyword", "{b}");
            let v = &b["votes"][0];
            assert_eq!(b["votes"].as_array().unwrap().len(), 1, "{b}");
            assert_eq!(v["poll_name"], poll, "{b}");
            assert!(v["poll_id"].as_str().is_some_and(|id| !id.is_empty()), "{b}");
            assert_eq!(v["answer"].as_str(), answer, "{b}");
            assert_eq!(v["status"], status, "{b}");
            assert_eq!(v["counted"], counted, "{b}");
            assert_eq!(v["replaced_previous"], replaced, "{b}");
            assert_eq!(v["poll_closed"], closed, "{b}");
        }
        let plain = body("+48600000003", "hello");
        assert_eq!(plain["event"], "message.inbound", "not a vote: {plain}");
        assert!(plain.get("votes").is_none(), "{plain}");
        // The delivery log names the event.
        let (_, list) = app.get("/api/v1/webhooks/deliveries?limit=100").await;
        let votes =
            list["deliveries"].as_array().unwrap().iter().filter(|d| d["event"] == "poll.vote").count();
        assert_eq!(votes, 6, "{list}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_endpoint_that_never_answers_delays_no_other_endpoint() {
    on_each_backend(|b| async move {
        let hooks = Endpoints::start().await;
        let other = Endpoints::start().await;
        // Kurier waits long for the hanging endpoint; the healthy one (on
        // another server) must not wait for that.
        let app = TestApp::start_with(&b, |c| {
            c.webhooks.timeout_secs = 30;
            c.webhooks.concurrency = 8;
        })
        .await;
        let hang = hooks.url("hang", Behaviour::HangFirst(usize::MAX, Duration::from_secs(3_600)));
        let healthy = other.url("healthy", Behaviour::Happy);
        number(&app, json!({"number": "7100", "default_actions": [{"type": "forward", "url": hang}]})).await;
        keyword(
            &app,
            json!({"number": "7100", "keyword": "OK", "actions": [{"type": "forward", "url": healthy}]}),
        )
        .await;
        // Far more callbacks to the hanging endpoint than there are slots.
        for i in 0..40 {
            inject(&app, PHONE, "7100", &format!("hang {i}")).await;
        }
        matched(&app, PHONE, "hang 39").await;
        wait_for("the hanging endpoint to be called", async || {
            (!hooks.calls("hang").is_empty()).then_some(())
        })
        .await;
        let started = std::time::Instant::now();
        for i in 0..10 {
            inject(&app, PHONE, "7100", &format!("ok {i}")).await;
        }
        wait_for("every callback to the healthy endpoint", async || {
            (other.calls("healthy").len() == 10).then_some(())
        })
        .await;
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        // An attempt is recorded after its answer: wait for the healthy
        // endpoint's ten before counting what is still pending.
        wait_for("the healthy endpoint's ten deliveries to be recorded", async || {
            let (_, delivered) = app.get("/api/v1/webhooks/deliveries?status=delivered&limit=100").await;
            (delivered["deliveries"].as_array().map_or(0, Vec::len) == 10).then_some(())
        })
        .await;
        // The hanging endpoint holds at most its share of the slots, and
        // its callbacks wait, pending, with nothing lost.
        assert!(hooks.calls("hang").len() <= 2, "{} calls in flight", hooks.calls("hang").len());
        let (_, pending) = app.get("/api/v1/webhooks/deliveries?status=pending&limit=100").await;
        let pending = pending["deliveries"].as_array().unwrap();
        assert_eq!(pending.len(), 40, "{pending:?}");
        assert!(pending.iter().all(|d| d["url"] == hang));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_hanging_endpoints_backlog_is_left_alone_longer_the_longer_it_hangs() {
    on_each_backend(|b| async move {
        let hooks = Endpoints::start().await;
        let app = TestApp::start_with(&b, |c| {
            c.webhooks.timeout_secs = 5;
            c.webhooks.concurrency = 4;
        })
        .await;
        let hang = hooks.url("hang", Behaviour::HangFirst(usize::MAX, Duration::from_secs(3_600)));
        number(&app, json!({"number": "7100", "default_actions": [{"type": "forward", "url": hang}]})).await;
        for i in 0..30 {
            inject(&app, PHONE, "7100", &format!("hang {i}")).await;
        }
        matched(&app, PHONE, "hang 29").await;
        wait_for("the hanging endpoint to be called", async || {
            (!hooks.calls("hang").is_empty()).then_some(())
        })
        .await;
        // One attempt hangs, a few callbacks wait in memory (leased for
        // minutes), the rest are left in storage: for a second at first,
        // then for as long as the endpoint has finished nothing, never
        // beyond one timeout.
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        let db = sqlx::AnyPool::connect(&app.db.as_ref().unwrap().url).await.unwrap();
        let leases: Vec<i64> = sqlx::query_scalar(
            "SELECT lease_until FROM webhook_deliveries WHERE status = 'pending' AND lease_until IS NOT NULL",
        )
        .fetch_all(&db)
        .await
        .unwrap();
        let now = kurier::storage::now_micros();
        let left: Vec<i64> = leases.iter().map(|l| l - now).filter(|ahead| *ahead < 60_000_000).collect();
        assert!(!left.is_empty(), "some are left in storage: {leases:?}");
        assert!(left.iter().any(|ahead| *ahead > 1_500_000), "left longer than a second: {left:?}");
        assert!(left.iter().all(|ahead| *ahead <= 5_000_000), "never beyond a timeout: {left:?}");
        assert_eq!(hooks.calls("hang").len(), 1, "one slot for the endpoint, the rest wait");
        let (_, pending) = app.get("/api/v1/webhooks/deliveries?status=pending&limit=100").await;
        assert_eq!(pending["deliveries"].as_array().unwrap().len(), 30, "nothing lost: {pending}");
        db.close().await;
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn opting_a_number_out_or_in_by_hand_posts_the_same_events_once_each() {
    on_each_backend(|b| async move {
        let hooks = Endpoints::start().await;
        let app = TestApp::start(&b).await;
        let url = hooks.url("hand", Behaviour::Happy);
        assert_eq!(app.patch("/api/v1/account", json!({"inbound_url": url})).await.0, 200);
        assert_eq!(app.post("/api/v1/opt-outs", json!({"phone": PHONE})).await.0, 201);
        assert_eq!(app.post("/api/v1/opt-outs", json!({"phone": PHONE})).await.0, 201, "again: no change");
        let path = format!("/api/v1/opt-outs/{}", PHONE.replace('+', "%2B"));
        let resp = app.http.delete(app.url(&path)).bearer_auth(common::API_KEY).send().await.unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        let calls = wait_for("two posts", async || {
            let calls = hooks.calls("hand");
            (calls.len() >= 2).then_some(calls)
        })
        .await;
        let mut bodies: Vec<Value> = calls.iter().map(|c| serde_json::from_str(&c.body).unwrap()).collect();
        bodies.sort_by_key(|b| b["event"].as_str().unwrap().to_owned());
        let seen: Vec<(&str, &str, &str)> = bodies
            .iter()
            .map(|b| {
                (b["event"].as_str().unwrap(), b["source"].as_str().unwrap(), b["phone"].as_str().unwrap())
            })
            .collect();
        assert_eq!(seen, [("contact.opted_in", "api", PHONE), ("contact.opted_out", "api", PHONE)]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(hooks.calls("hand").len(), 2, "the repeated opt-out changed nothing and posted nothing");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_answer_the_account_cannot_pay_for_is_left_out_alone_and_uses_no_auto_reply() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| c.inbound.auto_reply_limit = 1).await;
        number(&app, json!({"number": "7100"})).await;
        keyword(
            &app,
            json!({"number": "7100", "keyword": "PIZZA", "match_type": "base", "actions": [
                {"type": "reply", "text": "Your pizza is on its way"},
                {"type": "forward", "phone": "+48600999000"},
            ]}),
        )
        .await;
        // The tariff prices Poland only.
        let (s, t) = app
            .post(
                "/api/v1/tariffs",
                json!({"name": "Poland", "currency": "EUR", "prices": [{"prefix": "48", "price": "0.05"}]}),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        let (s, e) = app.patch("/api/v1/accounts/default/billing", json!({"tariff": "Poland"})).await;
        assert_eq!(s, 200, "{e}");
        let (s, e) = app.post("/api/v1/accounts/default/top-ups", json!({"amount": "1.00"})).await;
        assert_eq!(s, 201, "{e}");

        const UK: &str = "+447911123456";
        inject(&app, UK, "7100", "PIZZA").await;
        let m = matched(&app, UK, "PIZZA").await;
        let actions = m["match"]["actions"].as_array().unwrap();
        let reply = actions.iter().find(|a| a["action"] == "reply").unwrap();
        assert!(reply["message_id"].is_null(), "no answer to a number without a price: {m}");
        assert!(reply["skipped"].as_str().is_some_and(|s| s.contains("no price")), "{m}");
        let forward = actions.iter().find(|a| a["action"] == "send").unwrap();
        let id =
            forward["message_id"].as_str().unwrap_or_else(|| panic!("the staff forward still goes: {m}"));
        app.wait_for_status(id, "delivered").await;
        assert!(sent_to(&app, UK).await.is_empty());

        // The answer that never went used none of the sender's one
        // auto-reply: with a price now, the next one goes.
        let (s, p) = app
            .post(
                &format!("/api/v1/tariffs/{}/prices", t["id"].as_str().unwrap()),
                json!({"prices": [{"prefix": "44", "price": "0.05"}]}),
            )
            .await;
        assert!(s < 300, "{p}");
        inject(&app, UK, "7100", "PIZZA again").await;
        let m = matched(&app, UK, "PIZZA again").await;
        let reply =
            m["match"]["actions"].as_array().unwrap().iter().find(|a| a["action"] == "reply").unwrap();
        let id = reply["message_id"].as_str().unwrap_or_else(|| panic!("answered: {m}"));
        app.wait_for_status(id, "delivered").await;
        assert_eq!(sent_to(&app, UK).await.len(), 1);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn stop_on_a_shared_number_tells_every_account_the_sender_left() {
    on_each_backend(|b| async move {
        let hooks = Endpoints::start().await;
        let app = TestApp::start(&b).await;
        let (_, branch) = share_7100(&app).await;
        let (status, e) =
            app.patch("/api/v1/account", json!({"inbound_url": hooks.url("mine", Behaviour::Happy)})).await;
        assert_eq!(status, 200, "{e}");
        let theirs = hooks.url("theirs", Behaviour::Happy);
        let (status, account) =
            app.call_as(&branch, "PATCH", "/api/v1/account", Some(json!({"inbound_url": theirs}))).await;
        assert_eq!(status, 200, "{account}");
        let (_, account) = app.call_as(&branch, "GET", "/api/v1/account", None).await;
        let secret = account["webhook_secret"].as_str().unwrap().to_owned();

        inject(&app, PHONE, "7100", "STOP").await;
        matched(&app, PHONE, "STOP").await;
        let (_, out) = app.call_as(&branch, "GET", "/api/v1/opt-outs", None).await;
        assert_eq!(out["opt_outs"][0]["phone"], PHONE, "{out}");
        let calls = wait_for("both accounts to hear of it", async || {
            let (mine, theirs) = (hooks.calls("mine"), hooks.calls("theirs"));
            (mine.len() == 1 && theirs.len() == 1).then_some(theirs)
        })
        .await;
        let t: i64 = calls[0].signature.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
        assert_eq!(
            calls[0].signature,
            kurier::webhooks::sign(&secret, t, &calls[0].body),
            "signed with theirs"
        );
        let body: Value = serde_json::from_str(&calls[0].body).unwrap();
        assert_eq!(
            (body["event"].as_str(), body["message"]["from"].as_str()),
            (Some("contact.opted_out"), Some(PHONE))
        );
        // Asked again, nothing changes for them, and nothing is posted.
        inject(&app, PHONE, "7100", "stop").await;
        matched(&app, PHONE, "stop").await;
        wait_for("the first account to hear of it again", async || {
            (hooks.calls("mine").len() == 2).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(hooks.calls("theirs").len(), 1);
        app.stop().await;
    })
    .await;
}
