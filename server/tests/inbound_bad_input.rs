//! What phones send that is not what a keyword expects: empty messages,
//! only whitespace or emoji, a long message that lost a part, and a storm
//! from one sender (or another auto-responder answering every answer).
//! Each is stored, matched, forwarded and logged; nothing is lost and
//! Kurier never loops. On SQLite and, when configured, PostgreSQL.

mod common;

use std::time::Duration;

use common::hooks::{Behaviour, Endpoints};
use common::smtp::SmtpSink;
use common::two_way::{PHONE, inject, keyword, matched, number, sent_to};
use common::{TestApp, on_each_backend, wait_for};
use serde_json::{Value, json};

/// Every received message of the account, newest first.
async fn all_inbound(app: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = app.get(&format!("/api/v1/inbound?limit=500{cursor}")).await;
        assert_eq!(status, 200, "{page}");
        out.extend(page["messages"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

#[tokio::test]
async fn empty_blank_and_emoji_only_messages_are_stored_match_no_keyword_and_run_the_default() {
    on_each_backend(|b| async move {
        let hooks = Endpoints::start().await;
        // No [smtp]: an e-mail forward fails with the reason, nothing else does.
        let app = TestApp::start(&b).await;
        let url = hooks.url("in", Behaviour::Happy);
        number(
            &app,
            json!({"number": "7100", "default_actions": [
                {"type": "forward", "url": url}, {"type": "forward", "email": "desk@example.com"},
            ]}),
        )
        .await;
        keyword(
            &app,
            json!({"number": "7100", "keyword": "PIZZA", "actions": [{"type": "reply", "text": "yum"}]}),
        )
        .await;
        keyword(
            &app,
            json!({"number": "7100", "keyword": "free pizza", "match_type": "phrase",
                   "actions": [{"type": "reply", "text": "free!"}]}),
        )
        .await;
        let texts = ["", "   \t  ", "😀🎉🍕", " 🍕 🍕 ", "👍"];
        for text in texts {
            inject(&app, PHONE, "7100", text).await;
        }
        for text in texts {
            let m = matched(&app, PHONE, text).await;
            assert_eq!(m["match"]["kind"], "default", "{text:?}: {m}");
            assert_eq!(m["text"], text, "stored as received");
            let e = wait_for("the e-mail to fail", async || {
                let (_, one) = app.get(&format!("/api/v1/inbound/{}", m["id"].as_str().unwrap())).await;
                one["emails"].as_array().and_then(|e| e.first().cloned()).filter(|e| e["status"] != "pending")
            })
            .await;
            assert_eq!(e["status"], "failed");
            assert!(e["last_error"].as_str().unwrap().contains("smtp.host"), "{e}");
        }
        let forwarded: Vec<String> = wait_for("every forward", async || {
            let calls = hooks.calls("in");
            (calls.len() == texts.len()).then_some(calls)
        })
        .await
        .iter()
        .map(|c| {
            serde_json::from_str::<Value>(&c.body).unwrap()["message"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
        for text in texts {
            assert!(forwarded.iter().any(|f| f == text), "{text:?} forwarded as received");
        }
        assert!(sent_to(&app, PHONE).await.is_empty(), "no keyword answered");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_ten_part_message_missing_a_part_is_stored_after_the_timeout_flagged_and_forwarded_as_incomplete() {
    on_each_backend(|b| async move {
        let hooks = Endpoints::start().await;
        let app = TestApp::start_with(&b, |c| c.inbound.reassembly_timeout_secs = 1).await;
        let url = hooks.url("in", Behaviour::Happy);
        number(&app, json!({"number": "7100", "default_actions": [{"type": "forward", "url": url}]})).await;
        let parts: Vec<Value> = (1..=10)
            .filter(|seq| *seq != 7)
            .map(|seq| json!({"seq": seq, "text": format!("[{seq}]")}))
            .collect();
        let (status, body) = app
            .post(
                "/api/v1/connectors/sim/inbound",
                json!({"from": PHONE, "to": "7100", "total": 10, "reference": 77, "parts": parts}),
            )
            .await;
        assert_eq!((status, body["parts"].as_u64()), (202, Some(9)), "{body}");
        assert!(all_inbound(&app).await.is_empty(), "the parts wait for the missing one");

        let text = "[1][2][3][4][5][6][8][9][10]";
        let m = matched(&app, PHONE, text).await;
        assert_eq!(m["incomplete"], true);
        let (_, full) = app.get(&format!("/api/v1/messages/{}", m["id"].as_str().unwrap())).await;
        let detail = full["events"][0]["detail"].as_str().unwrap();
        assert!(detail.contains("parts 1,2,3,4,5,6,8,9,10 of 10"), "{detail}");
        let call = wait_for("the forward", async || hooks.calls("in").first().cloned()).await;
        let body: Value = serde_json::from_str(&call.body).unwrap();
        assert_eq!(body["message"]["incomplete"], true, "{body}");
        assert_eq!(body["message"]["text"], text);
        assert_eq!(all_inbound(&app).await.len(), 1, "one message, not nine");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_thousand_messages_a_minute_from_one_sender_get_a_few_auto_replies_and_never_a_loop() {
    on_each_backend(|b| async move {
        // The defaults: five automatic answers per sender and hour.
        let app = TestApp::start(&b).await;
        number(&app, json!({"number": "7100"})).await;
        keyword(
            &app,
            json!({"number": "7100", "keyword": "PING", "actions": [{"type": "reply", "text": "pong"}]}),
        )
        .await;

        // Another auto-responder answers each of our answers with a PING.
        inject(&app, PHONE, "7100", "ping").await;
        matched(&app, PHONE, "ping").await;
        let mut answered = 0;
        loop {
            let pongs = sent_to(&app, PHONE).await.len();
            if pongs == answered {
                break;
            }
            for i in answered..pongs {
                let text = format!("PING auto-reply {i}");
                inject(&app, PHONE, "7100", &text).await;
                matched(&app, PHONE, &text).await;
            }
            answered = pongs;
        }
        assert_eq!(answered, 5, "the exchange stops after the limit");

        // Then a storm: 1,000 messages from the same phone.
        for i in 0..1_000 {
            inject(&app, PHONE, "7100", &format!("ping storm {i}")).await;
        }
        // Stored and matched, every one (the worker may take a few seconds).
        let store = app.app.as_ref().unwrap().store.clone();
        for _ in 0..1_200 {
            let stored = all_inbound(&app).await.len();
            if stored == 1 + 5 + 1_000 && store.inbound_backlog().await.unwrap() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(all_inbound(&app).await.len(), 1 + 5 + 1_000, "every message stored");
        assert_eq!(store.inbound_backlog().await.unwrap(), 0, "and matched");
        let last = matched(&app, PHONE, "ping storm 999").await;
        assert_eq!(last["match"]["kind"], "keyword");
        assert_eq!(last["match"]["actions"][0]["skipped"], "auto-reply limit for this sender reached");
        assert_eq!(sent_to(&app, PHONE).await.len(), 5, "still five answers");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_storm_from_one_sender_forwards_and_notifies_only_up_to_the_limit_and_webhooks_get_everything() {
    on_each_backend(|b| async move {
        let sink = SmtpSink::start().await;
        let hooks = Endpoints::start().await;
        let app = TestApp::start_with(&b, |c| {
            sink.configure(c);
            c.inbound.forward_limit = 3;
        })
        .await;
        let every = hooks.url("every", Behaviour::Happy);
        let forward = hooks.url("forward", Behaviour::Happy);
        app.patch("/api/v1/account", json!({"inbound_url": every})).await;
        number(
            &app,
            json!({"number": "7100", "default_actions": [
                {"type": "forward", "phone": "+48600999000"},
                {"type": "notify", "email": "desk@example.com"},
                {"type": "forward", "email": "log@example.com"},
                {"type": "forward", "url": forward},
                {"type": "reply", "text": "We got it."},
            ]}),
        )
        .await;
        // 200 messages from one phone within a minute.
        let started = std::time::Instant::now();
        for i in 0..200 {
            inject(&app, PHONE, "7100", &format!("storm {i}")).await;
        }
        assert!(started.elapsed() < Duration::from_secs(60));
        let store = app.app.as_ref().unwrap().store.clone();
        wait_for("every message stored and matched", async || {
            (all_inbound(&app).await.len() == 200 && store.inbound_backlog().await.unwrap() == 0)
                .then_some(())
        })
        .await;

        // Three messages were forwarded by SMS and e-mail, and their
        // notifications sent; the rest say why not.
        let staff = sent_to(&app, "+48600999000").await;
        assert_eq!(staff.len(), 3, "{staff:?}");
        let mut skipped = 0;
        for listed in all_inbound(&app).await {
            let (_, m) = app.get(&format!("/api/v1/inbound/{}", listed["id"].as_str().unwrap())).await;
            let actions = m["match"]["actions"].as_array().unwrap();
            let limited: Vec<&Value> =
                actions.iter().filter(|a| a["skipped"] == "forward limit for this sender reached").collect();
            match limited.len() {
                0 => {
                    assert_eq!(m["emails"].as_array().unwrap().len(), 2, "{m}");
                }
                3 => {
                    skipped += 1;
                    assert!(m["emails"].as_array().unwrap().is_empty(), "{m}");
                    let kinds: Vec<&str> = limited.iter().map(|a| a["action"].as_str().unwrap()).collect();
                    assert_eq!(kinds, ["send", "email", "email"], "{m}");
                    assert_eq!(limited[0]["to"], "+48600999000", "{m}");
                }
                n => panic!("{n} limited actions: {m}"),
            }
        }
        assert_eq!(skipped, 197);
        let mails = wait_for("six e-mails", async || {
            let got = sink.messages();
            (got.len() >= 6).then_some(got)
        })
        .await;
        assert_eq!(mails.len(), 6, "three messages, two e-mails each");
        // Auto-replies keep their own, smaller limit.
        assert_eq!(sent_to(&app, PHONE).await.len(), 5);
        // Webhooks are not limited: both endpoints get all 200.
        wait_for("every message posted to both endpoints", async || {
            (hooks.calls("every").len() == 200 && hooks.calls("forward").len() == 200).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sink.messages().len(), 6, "no late e-mails");
        assert_eq!(sent_to(&app, "+48600999000").await.len(), 3);
        app.stop().await;
    })
    .await;
}
