//! Two-way messaging as a user meets it: numbers and keywords saved over
//! HTTP, messages from phones injected through the simulated connector,
//! and what Kurier then does — groups, replies, forwards, opt-outs — read
//! back over HTTP. On SQLite and, when configured, PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::two_way::{
    PHONE, get_with, inject, keyword, matched, matched_with, number, post_with, sent_to, share_7100,
};
use common::{TestApp, on_each_backend};
use kurier::storage::{KeywordWrite, now_micros};
use serde_json::{Value, json};
use tokio::sync::Mutex;

#[tokio::test]
async fn a_keyword_adds_the_sender_to_a_group_and_replies_in_sequence_from_the_number() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        number(&app, json!({"number": "7100"})).await;
        let k = keyword(
            &app,
            json!({"number": "7100", "keyword": "Pizza", "match_type": "base", "actions": [
                {"type": "add_to_group", "group": "Pizza lovers"},
                {"type": "reply", "text": "Welcome {{ data.message.from }} to {{ data.keyword }}"},
                {"type": "reply", "text": "Your first slice is free"},
            ]}),
        )
        .await;
        inject(&app, PHONE, "7100", "  PIZZA please!").await;
        let m = matched(&app, PHONE, "  PIZZA please!").await;
        assert_eq!(m["match"]["kind"], "keyword");
        assert_eq!(m["match"]["keyword_id"], k["id"]);
        assert_eq!(m["incomplete"], false);

        let (_, contacts) = app.get("/api/v1/contacts?q=600100200").await;
        let contact = &contacts["contacts"][0];
        assert_eq!(contact["phone"], PHONE, "{contacts}");
        assert_eq!(contact["groups"][0]["name"], "Pizza lovers", "{contact}");

        let replies = sent_to(&app, PHONE).await;
        let texts: Vec<&str> = replies.iter().map(|r| r["text"].as_str().unwrap()).collect();
        assert_eq!(texts, [format!("Welcome {PHONE} to Pizza").as_str(), "Your first slice is free"]);
        assert!(replies.iter().all(|r| r["from"] == "7100"), "replies come from the number written to");
        for r in &replies {
            app.wait_for_status(r["id"].as_str().unwrap(), "delivered").await;
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn keywords_match_without_case_diacritics_or_extra_spaces_and_priorities_decide() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        number(
            &app,
            json!({"number": "+48500600700", "default_actions": [
                {"type": "reply", "text": "Sorry, we did not understand"}
            ]}),
        )
        .await;
        keyword(
            &app,
            json!({"number": "+48500600700", "keyword": "Zażółć", "match_type": "exact",
            "actions": [{"type": "reply", "text": "exact"}]}),
        )
        .await;
        keyword(
            &app,
            json!({"number": "+48500600700", "keyword": "gęślą jaźń", "match_type": "phrase",
            "actions": [{"type": "reply", "text": "phrase"}]}),
        )
        .await;
        // Overlaps the phrase, so it needs its own priority; the higher wins.
        let (status, conflict) = app
            .post(
                "/api/v1/keywords",
                json!({"number": "+48500600700", "keyword": "GESLA", "match_type": "base",
                "actions": [{"type": "reply", "text": "base"}]}),
            )
            .await;
        assert_eq!(status, 409, "{conflict}");
        assert_eq!(conflict["error"]["code"], "keyword_conflict");
        keyword(
            &app,
            json!({"number": "+48500600700", "keyword": "GESLA", "match_type": "base", "priority": 5,
            "actions": [{"type": "reply", "text": "base"}]}),
        )
        .await;

        let from = ["+48600000001", "+48600000002", "+48600000003", "+48600000004"];
        let texts = ["ZAZOLC", "Ja chcę  GĘŚLĄ   jaźń!", "gesla jazn", "nothing here"];
        for (f, t) in from.iter().zip(texts) {
            inject(&app, f, "48500600700", t).await; // the SMSC writes our number without +
        }
        let want = [
            ("keyword", "exact"),
            ("keyword", "phrase"),
            ("keyword", "base"),
            ("default", "Sorry, we did not understand"),
        ];
        for ((f, t), (kind, reply)) in from.iter().zip(texts).zip(want) {
            let m = matched(&app, f, t).await;
            assert_eq!(m["match"]["kind"], kind, "{t}: {m}");
            let replies = sent_to(&app, f).await;
            assert_eq!(replies.len(), 1, "{t}");
            assert_eq!(replies[0]["text"], reply, "{t}");
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_numbers_and_keywords_are_refused_with_the_field_at_fault() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        number(&app, json!({"number": "7100"})).await;
        let cases = [
            ("/api/v1/numbers", json!({"number": "12"}), 422, "number"),
            ("/api/v1/numbers", json!({"number": "7100"}), 409, "number"),
            ("/api/v1/numbers", json!({"number": "7200", "kind": "rented"}), 422, "kind"),
            ("/api/v1/numbers", json!({"number": "7200", "connectors": ["nope"]}), 422, "connectors[0]"),
            ("/api/v1/numbers", json!({"number": "7200", "default_actions": [{"type": "forward", "url": "ftp://x"}]}), 422, "default_actions[0].url"),
            ("/api/v1/keywords", json!({"number": "9999", "keyword": "a", "actions": [{"type": "reply", "text": "x"}]}), 422, "number"),
            ("/api/v1/keywords", json!({"number": "7100", "keyword": " !! ", "actions": [{"type": "reply", "text": "x"}]}), 422, "keyword"),
            ("/api/v1/keywords", json!({"number": "7100", "keyword": "Stop", "actions": [{"type": "reply", "text": "x"}]}), 422, "keyword"),
            ("/api/v1/keywords", json!({"number": "7100", "keyword": "two words", "match_type": "base", "actions": [{"type": "reply", "text": "x"}]}), 422, "keyword"),
            ("/api/v1/keywords", json!({"number": "7100", "keyword": "a", "match_type": "fuzzy", "actions": [{"type": "reply", "text": "x"}]}), 422, "match_type"),
            ("/api/v1/keywords", json!({"number": "7100", "keyword": "a", "actions": []}), 422, "actions"),
            ("/api/v1/keywords", json!({"number": "7100", "keyword": "a", "actions": [{"type": "reply", "template": "missing"}]}), 422, "actions[0].template"),
            ("/api/v1/keywords", json!({"number": "7100", "keyword": "a", "actions": [{"type": "reply", "text": "{{ contact.nope }}"}]}), 422, "actions[0].text"),
            ("/api/v1/keywords", json!({"number": "7100", "keyword": "a", "actions": [{"type": "notify", "phone": "abc"}]}), 422, "actions[0].phone"),
            ("/api/v1/keywords", json!({"number": "7100", "keyword": "a", "match_type": "remove", "actions": [{"type": "reply", "text": "x"}]}), 422, "actions"),
            ("/api/v1/connectors/sim/inbound", json!({"from": PHONE, "to": "7100"}), 422, "text"),
        ];
        for (path, body, status, field) in cases {
            let (got, resp) = app.post(path, body.clone()).await;
            assert_eq!(got, status, "{body}: {resp}");
            assert_eq!(resp["error"]["field"], field, "{body}: {resp}");
        }
        let (status, _) = app.post("/api/v1/keywords", json!({"number": "7100", "keyword": "a", "actions": [{"type": "explode"}]})).await;
        assert_eq!(status, 422);
        let (_, keywords) = app.get("/api/v1/keywords").await;
        assert_eq!(keywords["keywords"].as_array().unwrap().len(), 0, "nothing refused was stored");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn stop_opts_the_sender_out_of_marketing_until_start_and_help_answers() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        number(&app, json!({"number": "7100"})).await;
        let (status, c) = app.patch("/api/v1/compliance", json!({"help_text": "Kurier Shop: call 22 100 200"})).await;
        assert_eq!(status, 200, "{c}");

        inject(&app, PHONE, "7100", "Stop").await;
        let stop = matched(&app, PHONE, "Stop").await;
        assert_eq!(stop["match"]["kind"], "opt_out");
        let (_, list) = app.get("/api/v1/opt-outs").await;
        assert_eq!(list["opt_outs"][0]["phone"], PHONE);
        assert_eq!(list["opt_outs"][0]["message_id"], stop["id"]);

        // Marketing is refused; a transactional message still goes.
        let (status, refused) = app.post("/api/v1/messages", json!({"to": PHONE, "text": "Sale!"})).await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!((refused["error"]["code"].as_str(), refused["error"]["field"].as_str()), (Some("opted_out"), Some("to")));
        let (status, mixed) =
            app.post("/api/v1/messages", json!({"to": [PHONE, "+48600100201"], "text": "Sale!"})).await;
        assert_eq!(status, 202, "{mixed}");
        assert_eq!(mixed["errors"][0]["code"], "opted_out");
        assert_eq!(mixed["messages"].as_array().unwrap().len(), 1);
        let (status, _) =
            app.post("/api/v1/messages", json!({"to": PHONE, "text": "Your code: 1234", "transactional": true})).await;
        assert_eq!(status, 202);

        // A campaign to raw numbers skips the opted-out one.
        let (status, campaign) = app
            .post("/api/v1/campaigns", json!({"name": "Sale", "text": "Sale today", "numbers": [PHONE, "+48600100202"], "start": true}))
            .await;
        assert_eq!(status, 201, "{campaign}");
        let mut got = Vec::new();
        for _ in 0..300 {
            got = sent_to(&app, "+48600100202").await;
            if !got.is_empty() {
                break; // one fan-out batch holds both numbers
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(got.len(), 1, "the reachable number got the campaign");
        assert!(
            sent_to(&app, PHONE).await.iter().all(|m| m["text"] != "Sale today"),
            "the opted-out number did not"
        );

        // Local words opt out too; START opts back in; HELP gets the help text.
        inject(&app, "+48600100203", "7100", "СТОП").await;
        assert_eq!(matched(&app, "+48600100203", "СТОП").await["match"]["kind"], "opt_out");
        inject(&app, PHONE, "7100", "START").await;
        assert_eq!(matched(&app, PHONE, "START").await["match"]["kind"], "opt_in");
        let (_, history) = app.get(&format!("/api/v1/opt-outs/{}", PHONE.replace('+', "%2B"))).await;
        assert_eq!(history["opted_out"], false, "{history}");
        let changes: Vec<&str> = history["events"].as_array().unwrap().iter().map(|e| e["change"].as_str().unwrap()).collect();
        assert_eq!(changes, ["out", "in"]);
        assert!(history["events"].as_array().unwrap().iter().all(|e| e["message_id"].is_string()));
        let (status, _) = app.post("/api/v1/messages", json!({"to": PHONE, "text": "Welcome back"})).await;
        assert_eq!(status, 202);

        inject(&app, PHONE, "7100", "help").await;
        assert_eq!(matched(&app, PHONE, "help").await["match"]["kind"], "help");
        let texts: Vec<String> =
            sent_to(&app, PHONE).await.iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect();
        assert!(texts.contains(&"Kurier Shop: call 22 100 200".to_owned()), "{texts:?}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn opt_outs_set_by_hand_are_recorded_and_bad_words_refused() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (status, h) = app.post("/api/v1/opt-outs", json!({"phone": "+48 600 100 200"})).await;
        assert_eq!(status, 201, "{h}");
        assert_eq!(h["opted_out"], true);
        assert_eq!(h["events"][0]["source"], "api");
        let (_, again) = app.post("/api/v1/opt-outs", json!({"phone": "+48600100200"})).await;
        assert_eq!(again["events"].as_array().unwrap().len(), 1, "asking again changes nothing: {again}");
        let (status, _) = app.post("/api/v1/opt-outs", json!({"phone": "12"})).await;
        assert_eq!(status, 422);
        let (status, c) = app.patch("/api/v1/compliance", json!({"opt_out_words": ["two words"]})).await;
        assert_eq!(status, 422, "{c}");
        let (status, c) = app.patch("/api/v1/compliance", json!({"opt_out_words": ["start"]})).await;
        assert_eq!(status, 422, "{c}");
        let (status, c) = app.patch("/api/v1/compliance", json!({"opt_out_words": ["Koniec"]})).await;
        assert_eq!(status, 200, "{c}");
        assert!(c["all_opt_out_words"].as_array().unwrap().contains(&json!("koniec")));
        let resp = app
            .http
            .delete(app.url("/api/v1/opt-outs/%2B48600100200"))
            .bearer_auth(common::API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let resp = app
            .http
            .delete(app.url("/api/v1/opt-outs/%2B48600100200"))
            .bearer_auth(common::API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "not opted out any more");
        app.stop().await;
    })
    .await;
}

#[derive(Default)]
struct Hooks {
    calls: Vec<(String, String)>,
}

async fn receiver() -> (String, Arc<Mutex<Hooks>>) {
    let state = Arc::new(Mutex::new(Hooks::default()));
    let shared = state.clone();
    let app = Router::new().route(
        "/in",
        post(move |headers: HeaderMap, body: Bytes| {
            let shared = shared.clone();
            async move {
                let sig =
                    headers.get("x-kurier-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                shared.lock().await.calls.push((sig, String::from_utf8_lossy(&body).into_owned()));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, state)
}

#[tokio::test]
async fn unmatched_messages_run_the_default_forwards_to_a_signed_webhook_and_a_phone() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (url, hooks) = receiver().await;
        number(
            &app,
            json!({"number": "7100", "connectors": ["sim"], "default_actions": [
                {"type": "forward", "url": url},
                {"type": "forward", "phone": "+48600999000"},
                {"type": "notify", "phone": "+48600999001", "text": "New message: {{ data.message.text }}"},
            ]}),
        )
        .await;
        inject(&app, PHONE, "7100", "Where is my parcel?").await;
        let m = matched(&app, PHONE, "Where is my parcel?").await;
        assert_eq!(m["match"]["kind"], "default");

        for _ in 0..300 {
            if !hooks.lock().await.calls.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let calls = hooks.lock().await.calls.clone();
        assert_eq!(calls.len(), 1, "one forward");
        let (signature, raw) = &calls[0];
        let body: Value = serde_json::from_str(raw).unwrap();
        assert_eq!(body["event"], "message.inbound");
        assert_eq!(body["message"]["id"], m["id"]);
        assert_eq!(body["message"]["text"], "Where is my parcel?");
        let (_, account) = app.get("/api/v1/account").await;
        let t: i64 = signature.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
        let secret = account["webhook_secret"].as_str().unwrap();
        assert_eq!(signature, &kurier::webhooks::sign(secret, t, raw), "signed with the account's secret");

        let forwarded = sent_to(&app, "+48600999000").await;
        assert_eq!(forwarded[0]["text"], format!("From {PHONE}: Where is my parcel?"));
        let notified = sent_to(&app, "+48600999001").await;
        assert_eq!(notified[0]["text"], "New message: Where is my parcel?");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_shared_number_gives_each_message_to_the_account_whose_keyword_it_matches() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (_, other) = share_7100(&app).await;
        let (status, taken) = post_with(&app, &other, "/api/v1/numbers", json!({"number": "7100", "kind": "dedicated"})).await;
        assert_eq!(status, 409, "{taken}");
        keyword(&app, json!({"number": "7100", "keyword": "PIZZA", "actions": [{"type": "reply", "text": "pizza here"}]})).await;
        let (status, k) = post_with(&app, &other, "/api/v1/keywords",
            json!({"number": "7100", "keyword": "SUSHI", "actions": [{"type": "reply", "text": "sushi here"}]})).await;
        assert_eq!(status, 201, "{k}");
        let (status, reserved) = post_with(&app, &other, "/api/v1/keywords",
            json!({"number": "7100", "keyword": "pizza", "priority": 9, "actions": [{"type": "reply", "text": "mine"}]})).await;
        assert_eq!(status, 409, "a keyword is reserved for the account that has it: {reserved}");

        inject(&app, PHONE, "7100", "sushi").await;
        let m = matched_with(&app, &other, PHONE, "sushi").await;
        assert_eq!(m["match"]["kind"], "keyword");
        let (_, mine) = app.get("/api/v1/inbound").await;
        assert!(mine["messages"].as_array().unwrap().iter().all(|m| m["text"] != "sushi"), "not the first account's");
        inject(&app, PHONE, "7100", "pizza").await;
        assert_eq!(matched(&app, PHONE, "pizza").await["match"]["kind"], "keyword");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn on_a_shared_number_no_priority_lets_another_accounts_keyword_take_a_message_meant_for_yours() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let store = app.app.as_ref().unwrap().store.clone();
        let (branch, other) = share_7100(&app).await;
        let order = keyword(
            &app,
            json!({"number": "7100", "keyword": "ORDER", "match_type": "base",
            "actions": [{"type": "reply", "text": "order taken"}]}),
        )
        .await;
        // "ORDER pizza" would match both: refused whatever the priority.
        let (status, refused) = post_with(
            &app,
            &other,
            "/api/v1/keywords",
            json!({"number": "7100", "keyword": "pizza",
            "match_type": "phrase", "priority": 5, "actions": [{"type": "reply", "text": "mine"}]}),
        )
        .await;
        assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("keyword_conflict")), "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("ORDER"), "{refused}");
        // A keyword that no message of the other account's can also match is fine.
        let (status, k) = post_with(
            &app,
            &other,
            "/api/v1/keywords",
            json!({"number": "7100", "keyword": "pizza",
            "match_type": "exact", "priority": 5, "actions": [{"type": "reply", "text": "pizza here"}]}),
        )
        .await;
        assert_eq!(status, 201, "{k}");

        // Such a pair stored before this rule: the priority still does not
        // decide between accounts; the more specific match (base) does.
        let theirs = store.find_number(&branch, "7100").await.unwrap().unwrap();
        let w = KeywordWrite {
            keyword: "pizza",
            keyword_key: "pizza",
            match_type: "phrase",
            priority: 9,
            actions: r#"[{"type": "reply", "text": "mine"}]"#,
        };
        store
            .create_keyword(&branch, &theirs, &w, now_micros(), |_| Ok::<(), ()>(()))
            .await
            .unwrap()
            .unwrap();
        inject(&app, PHONE, "7100", "ORDER pizza").await;
        let m = matched(&app, PHONE, "ORDER pizza").await;
        assert_eq!(
            (&m["match"]["kind"], &m["match"]["keyword_id"]),
            (&json!("keyword"), &order["id"]),
            "{m}"
        );
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn another_accounts_opt_out_words_cannot_silence_your_keyword_on_a_shared_number() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let store = app.app.as_ref().unwrap().store.clone();
        let (branch, other) = share_7100(&app).await;
        let pizza = keyword(
            &app,
            json!({"number": "7100", "keyword": "PIZZA",
            "actions": [{"type": "reply", "text": "pizza here"}]}),
        )
        .await;

        // The other sharer cannot make the keyword its opt-out word, nor the
        // first account a keyword of the other's opt-out word.
        let (status, refused) = app
            .call_as(&other, "PATCH", "/api/v1/compliance", Some(json!({"opt_out_words": ["nie", "Pizza!"]})))
            .await;
        assert_eq!(
            (status, refused["error"]["field"].as_str()),
            (422, Some("opt_out_words[1]")),
            "{refused}"
        );
        let (status, set) = app
            .call_as(&other, "PATCH", "/api/v1/compliance", Some(json!({"opt_out_words": ["pasta"]})))
            .await;
        assert_eq!(status, 200, "{set}");
        let (status, refused) = app
            .post(
                "/api/v1/keywords",
                json!({"number": "7100", "keyword": "Pasta",
            "actions": [{"type": "reply", "text": "pasta here"}]}),
            )
            .await;
        assert_eq!((status, refused["error"]["field"].as_str()), (422, Some("keyword")), "{refused}");

        // Such a word stored before this rule opts out of that account only;
        // the keyword still takes the message.
        store.set_compliance_settings(&branch, None, Some(Some(&["pizza".to_owned()]))).await.unwrap();
        inject(&app, PHONE, "7100", "PIZZA").await;
        let m = matched(&app, PHONE, "PIZZA").await;
        assert_eq!(
            (&m["match"]["kind"], &m["match"]["keyword_id"]),
            (&json!("keyword"), &pizza["id"]),
            "{m}"
        );
        let mut texts = Vec::new();
        for key in [common::API_KEY, other.as_str()] {
            let (_, sent) = get_with(&app, key, "/api/v1/messages?direction=outbound").await;
            texts.extend(sent["messages"].as_array().unwrap().iter().map(|m| m["text"].clone()));
        }
        assert_eq!(texts, [json!("pizza here")], "no opt-out confirmation");
        let (_, opted) = get_with(&app, &other, "/api/v1/opt-outs").await;
        assert!(!opted.to_string().contains(PHONE), "{opted}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn two_conflicting_keywords_saved_at_once_are_one_created_and_one_refused() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (_, other) = share_7100(&app).await;
        for word in ["pizza", "pasta", "sushi", "salad", "soup"] {
            let body =
                json!({"number": "7100", "keyword": word, "actions": [{"type": "reply", "text": word}]});
            let (mine, theirs) = tokio::join!(
                post_with(&app, common::API_KEY, "/api/v1/keywords", body.clone()),
                post_with(&app, &other, "/api/v1/keywords", body.clone()),
            );
            let mut statuses = [mine.0, theirs.0];
            statuses.sort_unstable();
            assert_eq!(statuses, [201, 409], "{word}: {mine:?} {theirs:?}");
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_number_is_found_however_it_is_written() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let n = number(&app, json!({"number": "+48500600700"})).await;
        assert_eq!(n["number"], "+48500600700");
        // A '+' left unescaped in a query reads as a space.
        let (status, list) = app.get("/api/v1/keywords?number=+48500600700").await;
        assert_eq!(status, 200, "{list}");
        let (status, k) = app
            .post(
                "/api/v1/keywords",
                json!({"number": "+48 500 600 700", "keyword": "pizza",
            "actions": [{"type": "reply", "text": "pizza here"}]}),
            )
            .await;
        assert_eq!((status, &k["number"]), (201, &json!("+48500600700")), "{k}");
        let (status, one) = app.get("/api/v1/numbers/%2B48%20500-600-700").await;
        assert_eq!((status, &one["id"]), (200, &n["id"]), "{one}");
        let (status, gone) = app.call("DELETE", "/api/v1/numbers/48500600700", None).await;
        assert_eq!(status, 204, "{gone}");
        let (status, _) = app.get(&format!("/api/v1/numbers/{}", n["id"].as_str().unwrap())).await;
        assert_eq!(status, 404);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn only_the_operator_simulates_phones_freely_and_an_account_only_to_its_own_dedicated_numbers() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let store = app.app.as_ref().unwrap().store.clone();
        let (_, other) = store.create_account("branch").await.unwrap();
        number(&app, json!({"number": "7100"})).await;
        number(&app, json!({"number": "7200", "kind": "shared"})).await;
        let (status, n) = post_with(&app, &other, "/api/v1/numbers", json!({"number": "7300"})).await;
        assert_eq!(status, 201, "{n}");
        let (status, n) =
            post_with(&app, &other, "/api/v1/numbers", json!({"number": "7200", "kind": "shared"})).await;
        assert_eq!(status, 201, "{n}");
        let sim = "/api/v1/connectors/sim/inbound";
        let say = |to: &str, text: &str| json!({"from": PHONE, "to": to, "text": text});

        // Its own dedicated number: accepted, and the message is its own.
        let (status, body) = post_with(&app, &other, sim, say("7300", "hello branch")).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(matched_with(&app, &other, PHONE, "hello branch").await["to"], "7300");
        // Someone else's number, and one nobody holds: the same 404.
        let (status, theirs) = post_with(&app, &other, sim, say("7100", "STOP")).await;
        assert_eq!((status, theirs["error"]["code"].as_str()), (404, Some("not_found")), "{theirs}");
        let (status, nobody) = post_with(&app, &other, sim, say("7999", "STOP")).await;
        assert_eq!((status, &nobody), (404, &theirs));
        // A shared number could act for the other sharers: the operator's only.
        let (status, shared) = post_with(&app, &other, sim, say("7200", "STOP")).await;
        assert_eq!((status, shared["error"]["code"].as_str()), (403, Some("forbidden")), "{shared}");
        // Nothing of those reached anyone.
        let (_, opted) = app.get("/api/v1/opt-outs").await;
        assert!(!opted.to_string().contains(PHONE), "{opted}");
        let (_, theirs_in) = get_with(&app, &other, "/api/v1/inbound").await;
        assert_eq!(theirs_in["messages"].as_array().unwrap().len(), 1, "{theirs_in}");

        // The operator writes to any number, held or not.
        for to in ["7100", "7200", "7300", "7999"] {
            let (status, body) = app.post(sim, say(to, &format!("operator to {to}"))).await;
            assert_eq!(status, 202, "{to}: {body}");
        }
        matched(&app, PHONE, "operator to 7100").await;
        matched_with(&app, &other, PHONE, "operator to 7300").await;
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_storm_from_one_sender_gets_only_a_few_auto_replies() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| c.inbound.auto_reply_limit = 3).await;
        number(&app, json!({"number": "7100"})).await;
        keyword(
            &app,
            json!({"number": "7100", "keyword": "PING", "actions": [{"type": "reply", "text": "pong"}]}),
        )
        .await;
        for i in 0..20 {
            inject(&app, PHONE, "7100", &format!("ping {i}")).await;
        }
        for i in 0..20 {
            matched(&app, PHONE, &format!("ping {i}")).await;
        }
        assert_eq!(sent_to(&app, PHONE).await.len(), 3, "three replies, then silence");
        let last = matched(&app, PHONE, "ping 19").await;
        assert_eq!(last["match"]["actions"][0]["skipped"], "auto-reply limit for this sender reached");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_long_message_missing_a_part_is_stored_incomplete_after_the_timeout() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| c.inbound.reassembly_timeout_secs = 1).await;
        let (status, body) = app
            .post(
                "/api/v1/connectors/sim/inbound",
                json!({"from": PHONE, "to": "7100", "total": 3, "reference": 9,
                "parts": [{"seq": 1, "text": "first "}, {"seq": 3, "text": "third"}]}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let m = matched(&app, PHONE, "first third").await;
        assert_eq!(m["incomplete"], true);
        let (_, full) = app.get(&format!("/api/v1/messages/{}", m["id"].as_str().unwrap())).await;
        let detail = full["events"][0]["detail"].as_str().unwrap();
        assert!(detail.contains("parts 1,3 of 3"), "{detail}");
        app.stop().await;
    })
    .await;
}

async fn inbound_to(app: &TestApp, from: &str, to: &str, text: &str) -> Value {
    inject(app, from, to, text).await;
    matched(app, from, text).await
}

#[tokio::test]
async fn replies_to_pool_numbers_find_their_message_campaign_run_and_conversation() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        const OTHER: &str = "+48600100300";
        for n in ["+48500000001", "+48500000002"] {
            let made = number(&app, json!({"number": n, "pool": true})).await;
            assert_eq!(made["pool"], true, "{made}");
        }
        // Each recipient gets the pool number least recently used for them.
        let mut froms = Vec::new();
        for i in 0..3 {
            let (status, sent) = app
                .post(
                    "/api/v1/messages",
                    json!({"to": PHONE, "text": format!("hello {i}"), "sender_pool": true}),
                )
                .await;
            assert_eq!(status, 202, "{sent}");
            froms.push(sent["messages"][0]["from"].as_str().unwrap().to_owned());
        }
        assert_eq!(froms, ["+48500000001", "+48500000002", "+48500000001"]);
        let first_to_other = app.send(json!({"to": OTHER, "text": "hi", "sender_pool": true})).await;
        let (_, m) = app.get(&format!("/api/v1/messages/{first_to_other}")).await;
        assert_eq!(m["from"], "+48500000001", "another recipient starts at the first number");

        // A campaign goes out through the pool too.
        let (status, c) = app
            .post(
                "/api/v1/campaigns",
                json!({"name": "Survey", "text": "Happy with us? Reply!",
                "numbers": [PHONE, OTHER], "sender_pool": true, "start": true}),
            )
            .await;
        assert_eq!(status, 201, "{c}");
        let campaign = c["campaign"]["id"].as_str().unwrap().to_owned();
        assert_eq!(c["campaign"]["sender_pool"], true);
        let mut campaign_msgs = Vec::new();
        for _ in 0..500 {
            let (_, list) = app.get(&format!("/api/v1/messages?campaign={campaign}")).await;
            campaign_msgs = list["messages"].as_array().unwrap().clone();
            if campaign_msgs.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let to_phone = campaign_msgs.iter().find(|m| m["to"] == PHONE).expect("campaign message to PHONE");
        assert_eq!(to_phone["from"], "+48500000002", "the number used longest ago for PHONE");
        let to_other = campaign_msgs.iter().find(|m| m["to"] == OTHER).unwrap();
        assert_eq!(to_other["from"], "+48500000002");

        // The reply to that number answers the campaign message.
        let reply = inbound_to(&app, PHONE, "+48500000002", "Very happy").await;
        assert_eq!(reply["in_reply_to"], to_phone["id"], "{reply}");
        assert_eq!(reply["campaign_id"], campaign.as_str());
        let run_id = reply["run_id"].as_str().expect("linked to the run").to_owned();
        let (_, run) = app.get(&format!("/api/v1/campaigns/{campaign}/runs/{run_id}")).await;
        assert_eq!(run["counters"]["replies"], 1, "{run}");
        // Written without the +, to the other pool number: the third plain message.
        let reply2 = inbound_to(&app, PHONE, "48500000001", "and thanks for hello 2").await;
        let (_, plain) = app.get("/api/v1/messages?direction=outbound&q=hello").await;
        let hello2 =
            plain["messages"].as_array().unwrap().iter().find(|m| m["text"] == "hello 2").unwrap().clone();
        assert_eq!(reply2["in_reply_to"], hello2["id"]);
        assert!(reply2["campaign_id"].is_null());
        // A number the phone was never written from links nothing.
        number(&app, json!({"number": "+48500000003"})).await;
        let stray = inbound_to(&app, PHONE, "+48500000003", "who is this?").await;
        assert!(stray["in_reply_to"].is_null(), "{stray}");

        // The conversation: both directions, in order.
        let (status, list) = app.get("/api/v1/conversations").await;
        assert_eq!(status, 200, "{list}");
        let convs = list["conversations"].as_array().unwrap();
        assert_eq!(convs.len(), 1, "only PHONE wrote in: {list}");
        assert_eq!(convs[0]["phone"], PHONE);
        assert_eq!(convs[0]["received"], 3);
        assert_eq!(convs[0]["last_message"]["text"], "who is this?");
        let thread_path = format!("/api/v1/conversations/{}", PHONE.replace('+', "%2B"));
        let (status, thread) = app.get(&thread_path).await;
        assert_eq!(status, 200, "{thread}");
        let texts: Vec<(&str, &str)> = thread["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["direction"].as_str().unwrap(), m["text"].as_str().unwrap()))
            .collect();
        assert_eq!(
            texts,
            [
                ("outbound", "hello 0"),
                ("outbound", "hello 1"),
                ("outbound", "hello 2"),
                ("outbound", "Happy with us? Reply!"),
                ("inbound", "Very happy"),
                ("inbound", "and thanks for hello 2"),
                ("inbound", "who is this?"),
            ]
        );
        assert_eq!(thread["reply_from"], "+48500000003", "the number last written to");
        let (_, page) = app.get(&format!("{thread_path}?limit=4")).await;
        assert_eq!(page["messages"][0]["text"], "Happy with us? Reply!");
        let (_, older) =
            app.get(&format!("{thread_path}?limit=4&cursor={}", page["next_cursor"].as_str().unwrap())).await;
        assert_eq!(older["messages"].as_array().unwrap().len(), 3);
        assert!(older["next_cursor"].is_null());

        // Replying from the thread goes through the queue from that number.
        let (status, sent) =
            app.post(&format!("{thread_path}/messages"), json!({"text": "This is the shop, hi!"})).await;
        assert_eq!(status, 202, "{sent}");
        assert_eq!(sent["messages"][0]["from"], "+48500000003");
        app.wait_for_status(sent["messages"][0]["id"].as_str().unwrap(), "delivered").await;
        let (_, thread) = app.get(&thread_path).await;
        assert_eq!(thread["messages"].as_array().unwrap().last().unwrap()["text"], "This is the shop, hi!");
        // ...and a reply to that number now answers it.
        let again = inbound_to(&app, PHONE, "+48500000003", "ok").await;
        assert_eq!(again["in_reply_to"], sent["messages"][0]["id"]);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_sender_replies_from_a_conversation_from_the_number_the_phone_wrote_to() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        number(&app, json!({"number": "7100"})).await;
        inbound_to(&app, PHONE, "7100", "is my order ready?").await;
        // Written to since from a name, which the phone cannot answer.
        app.send(json!({"to": PHONE, "from": "Shop", "text": "Sale today!"})).await;
        let thread_path = format!("/api/v1/conversations/{}", PHONE.replace('+', "%2B"));
        let (_, thread) = app.get(&thread_path).await;
        assert_eq!(thread["reply_from"], "7100", "{thread}");

        // A user of role sender, who has no phone number of their own.
        let (status, user) = app
            .post("/api/v1/users", json!({"username": "sam", "role": "sender", "password": "sam-password"}))
            .await;
        assert_eq!(status, 201, "{user}");
        let (status, key) = app
            .post(
                "/api/v1/api-keys",
                json!({"name": "sam", "user_id": user["user"]["id"], "scopes": ["read", "send"], "allowed_ips": []}),
            )
            .await;
        assert_eq!(status, 201, "{key}");
        let sam = key["key"].as_str().unwrap();
        let (status, sent) =
            post_with(&app, sam, &format!("{thread_path}/messages"), json!({"text": "Yes, come by!"})).await;
        assert_eq!(status, 202, "{sent}");
        assert_eq!(sent["messages"][0]["from"], "7100");
        // Any other number is still not theirs to send from.
        let (status, e) =
            post_with(&app, sam, "/api/v1/messages", json!({"to": PHONE, "from": "+48500000009", "text": "x"}))
                .await;
        assert_eq!((status, e["error"]["code"].as_str()), (403, Some("sender_not_verified")), "{e}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn answers_and_forwards_are_transliterated_when_the_account_transliterates() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        number(&app, json!({"number": "7100"})).await;
        keyword(
            &app,
            json!({"number": "7100", "keyword": "ZUPA", "match_type": "base", "actions": [
                {"type": "reply", "text": "Zupa dnia: żurek i pierogi, smacznego!"},
                {"type": "notify", "phone": "+48600999000", "text": "Zamówienie: żurek"},
            ]}),
        )
        .await;
        let (status, account) = app.patch("/api/v1/account", json!({"transliterate": true})).await;
        assert_eq!(status, 200, "{account}");
        inbound_to(&app, PHONE, "7100", "zupa").await;
        let answer = sent_to(&app, PHONE).await;
        assert_eq!(
            (answer[0]["text"].as_str(), answer[0]["encoding"].as_str()),
            (Some("Zupa dnia: zurek i pierogi, smacznego!"), Some("gsm7")),
            "{answer:?}"
        );
        let staff = sent_to(&app, "+48600999000").await;
        assert_eq!(
            (staff[0]["text"].as_str(), staff[0]["encoding"].as_str()),
            (Some("Zamowienie: zurek"), Some("gsm7")),
            "{staff:?}"
        );
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_answer_goes_from_the_number_as_registered_however_the_smsc_wrote_it() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        number(&app, json!({"number": "+48500600700"})).await;
        keyword(
            &app,
            json!({"number": "+48500600700", "keyword": "HOURS", "actions": [
                {"type": "reply", "text": "Open 9 to 17"}]}),
        )
        .await;
        // The SMSC writes our number without its +.
        inbound_to(&app, PHONE, "48500600700", "hours").await;
        let answer = sent_to(&app, PHONE).await;
        assert_eq!(answer.len(), 1, "{answer:?}");
        assert_eq!(answer[0]["from"], "+48500600700", "{answer:?}");
        let again = inbound_to(&app, PHONE, "48500600700", "thanks").await;
        assert_eq!(again["in_reply_to"], answer[0]["id"], "{again}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_reply_answers_the_last_message_that_went_out_not_one_scheduled_or_canceled_since() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        const NUMBER: &str = "+48500000001";
        number(&app, json!({"number": NUMBER})).await;
        let sent = app.send(json!({"to": PHONE, "from": NUMBER, "text": "Your table is ready"})).await;
        app.wait_for_status(&sent, "delivered").await;
        let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
        let later =
            app.send(json!({"to": PHONE, "from": NUMBER, "text": "How was it?", "send_at": tomorrow})).await;
        let reply = inbound_to(&app, PHONE, NUMBER, "On my way").await;
        assert_eq!(reply["in_reply_to"].as_str(), Some(sent.as_str()), "not the scheduled one: {reply}");
        let (status, canceled) = app.post(&format!("/api/v1/messages/{later}/cancel"), json!({})).await;
        assert_eq!(status, 200, "{canceled}");
        let reply = inbound_to(&app, PHONE, NUMBER, "Thanks").await;
        assert_eq!(reply["in_reply_to"].as_str(), Some(sent.as_str()), "not the canceled one: {reply}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn pool_and_thread_mistakes_are_refused_with_the_field() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (status, e) =
            app.post("/api/v1/messages", json!({"to": PHONE, "text": "x", "sender_pool": true})).await;
        assert_eq!((status, e["error"]["field"].as_str()), (422, Some("sender_pool")), "no pool yet: {e}");
        let (status, e) = app
            .post(
                "/api/v1/campaigns",
                json!({"name": "c", "text": "x", "numbers": [PHONE], "sender_pool": true}),
            )
            .await;
        assert_eq!((status, e["error"]["field"].as_str()), (422, Some("sender_pool")), "{e}");
        let (status, e) =
            app.post("/api/v1/numbers", json!({"number": "7100", "kind": "shared", "pool": true})).await;
        assert_eq!((status, e["error"]["field"].as_str()), (422, Some("pool")), "{e}");
        number(&app, json!({"number": "7200"})).await;
        let (status, n) = app.patch("/api/v1/numbers/7200", json!({"pool": true})).await;
        assert_eq!((status, n["pool"].as_bool()), (200, Some(true)), "{n}");
        let (status, e) = app
            .post("/api/v1/messages", json!({"to": PHONE, "from": "Shop", "text": "x", "sender_pool": true}))
            .await;
        assert_eq!((status, e["error"]["field"].as_str()), (422, Some("sender_pool")), "{e}");
        let (status, e) =
            app.post("/api/v1/conversations/%2B48600100200/messages", json!({"text": "  "})).await;
        assert_eq!((status, e["error"]["field"].as_str()), (422, Some("text")), "{e}");
        let (status, e) = app.post("/api/v1/conversations/nonsense/messages", json!({"text": "hi"})).await;
        assert_eq!((status, e["error"]["field"].as_str()), (422, Some("phone")), "{e}");
        let (status, e) = app.get("/api/v1/conversations?cursor=abc").await;
        assert_eq!(status, 400, "{e}");
        let (_, list) = app.get("/api/v1/conversations").await;
        assert_eq!(list["conversations"], json!([]), "nothing was stored");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn stop_from_a_sender_written_without_its_plus_or_nationally_opts_that_number_out() {
    // SMSCs give a sender of type "unknown" or "national" as digits only.
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| c.messages.default_region = Some("PL".into())).await;
        number(&app, json!({"number": "7100"})).await;
        for (written, phone) in [("48600100200", "+48600100200"), ("600100201", "+48600100201")] {
            inject(&app, written, "7100", "STOP").await;
            let stop = matched(&app, phone, "STOP").await;
            assert_eq!(stop["match"]["kind"], "opt_out", "{written}: {stop}");
            let (status, refused) = app.post("/api/v1/messages", json!({"to": phone, "text": "Sale!"})).await;
            assert_eq!(status, 422, "{written}: {refused}");
            let confirmations = sent_to(&app, phone).await;
            assert_eq!(confirmations.len(), 1, "{written}: the confirmation goes to the number");
        }
        let (_, list) = app.get("/api/v1/opt-outs").await;
        let mut phones: Vec<&str> =
            list["opt_outs"].as_array().unwrap().iter().map(|o| o["phone"].as_str().unwrap()).collect();
        phones.sort();
        assert_eq!(phones, ["+48600100200", "+48600100201"], "{list}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_number_that_opted_out_gets_no_keyword_replies_or_forwards_but_help_answers() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        number(&app, json!({"number": "7100"})).await;
        let staff = "+48600900901";
        let other_staff = "+48600900902";
        keyword(
            &app,
            json!({"number": "7100", "keyword": "Pizza", "actions": [
                {"type": "reply", "text": "Your pizza is on its way"},
                {"type": "forward", "phone": staff},
                {"type": "notify", "phone": other_staff, "text": "Pizza order"},
            ]}),
        )
        .await;
        let (status, o) = app.post("/api/v1/opt-outs", json!({"phone": staff})).await;
        assert_eq!(status, 201, "{o}");
        inject(&app, PHONE, "7100", "STOP").await;
        matched(&app, PHONE, "STOP").await;

        inject(&app, PHONE, "7100", "pizza").await;
        let m = matched(&app, PHONE, "pizza").await;
        let skipped: Vec<&str> =
            m["match"]["actions"].as_array().unwrap().iter().filter_map(|a| a["skipped"].as_str()).collect();
        let opted_out = "the number opted out of the account's messages";
        assert_eq!(skipped, [opted_out, opted_out], "the reply and the forward: {m}");
        assert!(sent_to(&app, staff).await.is_empty(), "the opted-out forward target got nothing");
        assert_eq!(sent_to(&app, other_staff).await.len(), 1, "the other one got the notice");

        inject(&app, PHONE, "7100", "HELP").await;
        matched(&app, PHONE, "HELP").await;
        let texts: Vec<String> =
            sent_to(&app, PHONE).await.iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect();
        assert_eq!(texts.len(), 2, "the STOP confirmation and the HELP answer only: {texts:?}");
        assert!(!texts.iter().any(|t| t.contains("pizza")), "{texts:?}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_simulated_message_is_stored_by_the_time_the_api_answers() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        number(&app, json!({"number": "7100"})).await;
        for i in 0..20 {
            let text = format!("hello {i}");
            inject(&app, PHONE, "7100", &text).await;
            // No waiting: the 202 comes only once the message is stored.
            let list = app.get("/api/v1/inbound?limit=100").await.1;
            let found = list["messages"].as_array().unwrap().iter().any(|m| m["text"] == text.as_str());
            assert!(found, "'{text}' was answered 202 before it was stored: {list}");
        }
        let (status, body) = app
            .post(
                "/api/v1/connectors/sim/inbound",
                json!({"from": PHONE, "to": "7100", "total": 2, "parts": [{"seq": 1, "text": "part one "}]}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["parts"], 1);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn stop_to_a_number_nobody_registered_still_opts_the_sender_out() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        // The account sends from 4470 without registering it as a number.
        inject(&app, PHONE, "4470", "Stop").await;
        let m = matched(&app, PHONE, "Stop").await;
        assert_eq!(m["match"]["kind"], "opt_out", "{m}");
        let (_, history) = app.get(&format!("/api/v1/opt-outs/{}", PHONE.replace('+', "%2B"))).await;
        assert_eq!(history["opted_out"], true, "{history}");
        let (status, refused) =
            app.post("/api/v1/messages", json!({"to": PHONE, "text": "Sale today"})).await;
        assert_eq!(status, 422, "no marketing to the number any more: {refused}");
        let confirmations = sent_to(&app, PHONE).await;
        assert_eq!(confirmations.len(), 1, "the STOP is confirmed: {confirmations:?}");
        assert_eq!(confirmations[0]["from"], "4470");
        inject(&app, PHONE, "4470", "START").await;
        assert_eq!(matched(&app, PHONE, "START").await["match"]["kind"], "opt_in");
        inject(&app, PHONE, "4470", "PIZZA").await;
        assert_eq!(
            matched(&app, PHONE, "PIZZA").await["match"]["kind"],
            "none",
            "no keywords without a number"
        );
        app.stop().await;
    })
    .await;
}
