//! Polls and contests as a user meets them: a poll saved over HTTP, a
//! keyword (or a number's default) that records answers, votes sent from
//! phones through the simulated connector, and the results, replies,
//! exports, reports and winner draws read back over HTTP. On SQLite and,
//! when configured, PostgreSQL.

mod common;

use std::time::Duration;

use chrono::{Duration as Span, Utc};
use common::{TestApp, on_each_backend};
use serde_json::{Value, json};

/// Phones send `texts` to our number `to`, one after another, and each is
/// recorded before the next is sent (so "first" and "last" are well defined).
async fn vote(app: &TestApp, poll: &str, to: &str, votes: &[(&str, &str)]) -> Value {
    let mut results = app.get(&format!("/api/v1/polls/{poll}/results")).await.1;
    for (from, text) in votes {
        let before = received(&results);
        let (status, body) =
            app.post("/api/v1/connectors/sim/inbound", json!({"from": from, "to": to, "text": text})).await;
        assert_eq!(status, 202, "{body}");
        results = wait_for_votes(app, poll, before + 1).await;
    }
    results
}

/// Every vote a poll received, counted or not.
fn received(r: &Value) -> i64 {
    let others: i64 =
        r["results"]["not_counted"].as_object().unwrap().values().map(|v| v.as_i64().unwrap()).sum();
    r["results"]["counted"].as_i64().unwrap() + others
}

async fn wait_for_votes(app: &TestApp, poll: &str, n: i64) -> Value {
    let mut last = Value::Null;
    for _ in 0..500 {
        let (status, r) = app.get(&format!("/api/v1/polls/{poll}/results")).await;
        assert_eq!(status, 200, "{r}");
        if received(&r) >= n {
            return r;
        }
        last = r;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the poll never received {n} votes; last: {last}");
}

/// Texts sent to `to`, oldest first.
async fn texts_to(app: &TestApp, to: &str) -> Vec<String> {
    let (_, list) =
        app.get(&format!("/api/v1/messages?direction=outbound&to={}", to.replace('+', "%2B"))).await;
    let mut out: Vec<String> =
        list["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect();
    out.reverse();
    out
}

async fn create(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, created) = app.post(path, body).await;
    assert_eq!(status, 201, "{created}");
    created
}

fn shares(r: &Value) -> Vec<(String, i64, f64)> {
    r["results"]["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["key"].as_str().unwrap().to_owned(),
                a["votes"].as_i64().unwrap(),
                a["percent"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn sms_votes_count_once_per_number_with_replies_results_exports_and_reports() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        create(&app, "/api/v1/numbers", json!({"number": "7100"})).await;
        let poll = create(
            &app,
            "/api/v1/polls",
            json!({"name": "Lunch", "question": "What shall we order on Friday?",
                "answers": [{"text": "Pizza"}, {"text": "Żurek"}, {"key": "P", "text": "Pierogi"}],
                "replies": {"counted": "Thanks for voting!", "duplicate": "You have voted already.",
                            "invalid": "Send VOTE A, B or P."}}),
        )
        .await;
        assert_eq!(poll["vote_policy"], "first");
        assert_eq!(poll["state"], "open");
        let keys: Vec<&str> = poll["answers"].as_array().unwrap().iter().map(|a| a["key"].as_str().unwrap()).collect();
        assert_eq!(keys, ["A", "B", "P"]);
        // The action may name the poll; it is stored by id.
        let k = create(
            &app,
            "/api/v1/keywords",
            json!({"number": "7100", "keyword": "VOTE", "actions": [{"type": "poll_answer", "poll": "lunch"}]}),
        )
        .await;
        assert_eq!(k["actions"][0]["poll"], poll["id"]);

        let id = poll["id"].as_str().unwrap();
        let r = vote(
            &app,
            id,
            "7100",
            &[
                ("+48600000001", "VOTE a"),
                ("+48600000002", "vote  ŻUREK"),
                ("+48600000003", "Vote zurek!"),
                ("+48600000001", "VOTE b"),
                ("+48600000004", "VOTE x"),
                ("+48600000005", "VOTE"),
            ],
        )
        .await;
        assert_eq!(r["results"]["counted"], 3, "{r}");
        assert_eq!(
            shares(&r),
            [("A".to_owned(), 1, 33.3), ("B".to_owned(), 2, 66.7), ("P".to_owned(), 0, 0.0)]
        );
        assert_eq!(r["results"]["not_counted"]["duplicate"], 1);
        assert_eq!(r["results"]["not_counted"]["invalid"], 2);
        assert!(r["results"].get("correct_entrants").is_none(), "a plain poll has no entrants");

        // Each outcome answered as the poll says, from the number written to.
        for _ in 0..200 {
            if texts_to(&app, "+48600000005").await.len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(texts_to(&app, "+48600000001").await, ["Thanks for voting!", "You have voted already."]);
        assert_eq!(texts_to(&app, "+48600000004").await, ["Send VOTE A, B or P."]);
        assert_eq!(texts_to(&app, "+48600000005").await, ["Send VOTE A, B or P."]);

        // Every vote in the export, with what became of it.
        let csv = app.http.get(app.url(&format!("/api/v1/polls/{id}/votes.csv"))).bearer_auth(common::API_KEY);
        let csv = csv.send().await.unwrap();
        assert_eq!(csv.status(), 200);
        let csv = csv.text().await.unwrap();
        let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(lines[0], "voted_at,phone,answer,answer_text,status,text,message_id");
        assert_eq!(lines.len(), 7, "{csv}");
        assert!(lines[1].contains("+48600000001,A,Pizza,counted,VOTE a"), "{csv}");
        assert!(lines[4].contains("+48600000001,B,Żurek,duplicate,VOTE b"), "{csv}");
        assert!(lines[5].contains("+48600000004,,,invalid,VOTE x"), "{csv}");
        let xlsx = app.http.get(app.url(&format!("/api/v1/polls/{id}/votes.xlsx"))).bearer_auth(common::API_KEY);
        let xlsx = xlsx.send().await.unwrap().bytes().await.unwrap();
        assert_eq!(&xlsx[..2], b"PK", "an XLSX file is a zip");

        // The two-way reports.
        let (_, polls) = app.get("/api/v1/reports/polls").await;
        assert_eq!(polls["polls"][0]["poll"]["name"], "Lunch");
        assert_eq!(polls["polls"][0]["results"]["counted"], 3);
        let (_, keywords) = app.get("/api/v1/reports/keywords").await;
        assert_eq!(keywords["rows"][0]["keyword"], "VOTE", "{keywords}");
        assert_eq!(keywords["rows"][0]["matches"], 6);
        assert_eq!(keywords["rows"][0]["percent"], 100.0);
        assert_eq!(keywords["total"], 6);
        let (_, inbound) = app.get("/api/v1/reports/inbound").await;
        assert_eq!(inbound["rows"][0]["number"], "7100", "{inbound}");
        assert_eq!(inbound["rows"][0]["messages"], 6);
        assert_eq!(inbound["rows"][0]["senders"], 5);
        let past = (Utc::now() - Span::days(3)).to_rfc3339();
        let path = format!("/api/v1/reports/keywords?until={}", past.replace('+', "%2B"));
        let (_, old) = app.get(&path).await;
        assert_eq!(old["rows"][0]["matches"], 0, "an earlier window holds no matches: {old}");
        let enc = |t: chrono::DateTime<Utc>| t.to_rfc3339().replace('+', "%2B");
        let now = Utc::now();
        for (report, since, until, message) in [
            ("keywords", now, now - Span::days(1), "must be before until"),
            ("inbound", now - Span::days(400), now, "a report covers at most 366 days"),
        ] {
            let path = format!("/api/v1/reports/{report}?since={}&until={}", enc(since), enc(until));
            let (status, err) = app.get(&path).await;
            assert_eq!(status, 400, "{path}: {err}");
            assert_eq!((err["error"]["field"].as_str(), err["error"]["message"].as_str()), (Some("since"), Some(message)));
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_last_vote_counts_when_asked_and_votes_outside_the_open_hours_are_not_counted() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let tomorrow = (Utc::now() + Span::days(1)).to_rfc3339();
        let poll = create(
            &app,
            "/api/v1/polls",
            json!({"name": "Colour", "question": "Which colour?", "vote_policy": "last",
                "answers": [{"key": "RED"}, {"key": "GREEN", "text": "Zielony"}],
                "replies": {"closed": "The poll is not open."}}),
        )
        .await;
        let id = poll["id"].as_str().unwrap();
        // A number whose every message is a vote: the whole text is the answer.
        create(
            &app,
            "/api/v1/numbers",
            json!({"number": "+48500600700", "default_actions": [{"type": "poll_answer", "poll": id}]}),
        )
        .await;
        let r = vote(
            &app,
            id,
            "48500600700",
            &[("+48600000001", "red"), ("+48600000001", "zielony"), ("+48600000002", "Red.")],
        )
        .await;
        assert_eq!(shares(&r), [("RED".to_owned(), 1, 50.0), ("GREEN".to_owned(), 1, 50.0)]);
        assert_eq!(r["results"]["not_counted"]["replaced"], 1, "{r}");

        // Not open yet: the vote is early.
        let (status, p) = app.patch(&format!("/api/v1/polls/{id}"), json!({"opens_at": tomorrow})).await;
        assert_eq!(status, 200, "{p}");
        assert_eq!(p["state"], "scheduled");
        let r = vote(&app, id, "48500600700", &[("+48600000003", "GREEN")]).await;
        assert_eq!(r["results"]["not_counted"]["early"], 1, "{r}");
        // Closed: the vote is late, and nothing counted changes.
        let closed = (Utc::now() - Span::minutes(1)).to_rfc3339();
        let (status, p) =
            app.patch(&format!("/api/v1/polls/{id}"), json!({"opens_at": "", "closes_at": closed})).await;
        assert_eq!(status, 200, "{p}");
        assert_eq!(p["state"], "closed");
        assert!(p["opens_at"].is_null());
        let r = vote(&app, id, "48500600700", &[("+48600000001", "RED")]).await;
        assert_eq!(r["results"]["not_counted"]["late"], 1, "{r}");
        assert_eq!(r["results"]["counted"], 2);
        for _ in 0..200 {
            if texts_to(&app, "+48600000001").await.len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(texts_to(&app, "+48600000001").await, ["The poll is not open."]);
        assert_eq!(texts_to(&app, "+48600000003").await, ["The poll is not open."]);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_contest_draws_the_same_winners_again_from_its_recorded_seed() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        create(&app, "/api/v1/numbers", json!({"number": "7200"})).await;
        let poll = create(
            &app,
            "/api/v1/polls",
            json!({"name": "Quiz", "question": "Capital of Bulgaria? A Sofia, B Plovdiv",
                "answers": [{"text": "Sofia"}, {"text": "Plovdiv"}], "correct_answer": "a"}),
        )
        .await;
        assert_eq!(poll["correct_answer"], "A");
        let id = poll["id"].as_str().unwrap();
        create(
            &app,
            "/api/v1/keywords",
            json!({"number": "7200", "keyword": "QUIZ", "actions": [{"type": "poll_answer", "poll": id}]}),
        )
        .await;
        let phones: Vec<String> = (1..=8).map(|i| format!("+4860000001{i}")).collect();
        let votes: Vec<(&str, &str)> = phones
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_str(), if i < 5 { "QUIZ sofia" } else { "QUIZ B" }))
            .collect();
        let r = vote(&app, id, "7200", &votes).await;
        assert_eq!(r["results"]["correct_entrants"], 5, "{r}");
        assert_eq!(r["results"]["answers"][0]["correct"], true);

        let draws = format!("/api/v1/polls/{id}/draws");
        // Not while votes may still come: they would change the entrants.
        let (status, e) = app.post(&draws, json!({"seed": "friday-draw"})).await;
        assert_eq!((status, e["error"]["field"].as_str()), (422, Some("poll")), "{e}");
        let in_an_hour = (Utc::now() + Span::hours(1)).to_rfc3339();
        let (status, p) = app.patch(&format!("/api/v1/polls/{id}"), json!({"closes_at": in_an_hour})).await;
        assert_eq!(status, 200, "{p}");
        let (status, e) = app.post(&draws, json!({"seed": "friday-draw"})).await;
        assert_eq!((status, e["error"]["field"].as_str()), (422, Some("poll")), "still open: {e}");
        let closed = (Utc::now() - Span::seconds(1)).to_rfc3339();
        let (status, p) = app.patch(&format!("/api/v1/polls/{id}"), json!({"closes_at": closed})).await;
        assert_eq!((status, p["state"].as_str()), (200, Some("closed")), "{p}");
        let first = create(&app, &draws, json!({"winners": 2, "seed": "friday-draw"})).await;
        assert_eq!(first["entrants"], 5);
        let winners: Vec<&str> =
            first["winners"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
        assert_eq!(winners.len(), 2);
        assert!(
            winners.iter().all(|w| phones[..5].iter().any(|p| p == w)),
            "only correct entrants win: {first}"
        );
        assert_ne!(winners[0], winners[1]);
        let again = create(&app, &draws, json!({"winners": 2, "seed": "friday-draw"})).await;
        assert_eq!(again["winners"], first["winners"], "the same seed draws the same winners");
        let fresh = create(&app, &draws, json!({})).await;
        assert_eq!(fresh["seed"].as_str().unwrap().len(), 32, "{fresh}");
        assert_eq!(fresh["winners"].as_array().unwrap().len(), 1);
        let (_, recorded) = app.get(&draws).await;
        let seeds: Vec<&str> =
            recorded["draws"].as_array().unwrap().iter().map(|d| d["seed"].as_str().unwrap()).collect();
        assert_eq!(seeds, ["friday-draw", "friday-draw", fresh["seed"].as_str().unwrap()]);
        assert_eq!(recorded["draws"][0]["winners"], first["winners"]);

        for (body, field) in [
            (json!({"winners": 0}), "winners"),
            (json!({"winners": 1001}), "winners"),
            (json!({"seed": "  "}), "seed"),
        ] {
            let (status, e) = app.post(&draws, body.clone()).await;
            assert_eq!(status, 422, "{body}: {e}");
            assert_eq!(e["error"]["field"], field, "{body}: {e}");
        }
        let plain = create(
            &app,
            "/api/v1/polls",
            json!({"name": "Plain", "question": "?", "answers": [{"key": "A"}, {"key": "B"}]}),
        )
        .await;
        let (status, e) =
            app.post(&format!("/api/v1/polls/{}/draws", plain["id"].as_str().unwrap()), json!({})).await;
        assert_eq!((status, e["error"]["field"].as_str()), (422, Some("poll")), "{e}");
        let (_, recorded) = app.get(&draws).await;
        assert_eq!(recorded["draws"].as_array().unwrap().len(), 3, "refused draws are not recorded");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_polls_and_poll_actions_are_refused_with_the_field_at_fault_and_change_nothing() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let good = json!({"name": "Lunch", "question": "What?", "answers": [{"key": "A"}, {"key": "B"}]});
        create(&app, "/api/v1/polls", good.clone()).await;
        let too_long = "Dziękujemy za głos! ".repeat(45);
        let with = |change: Value| {
            let mut body = good.clone();
            for (k, v) in change.as_object().unwrap() {
                body[k] = v.clone();
            }
            body
        };
        let cases = [
            (with(json!({"name": "Other", "question": "  "})), 422, "question"),
            (with(json!({"name": "Other", "answers": [{"key": "A"}]})), 422, "answers"),
            (with(json!({"name": "Other", "answers": [{"key": "A"}, {"key": "a"}]})), 422, "answers[1].key"),
            (with(json!({"name": "Other", "answers": [{"key": "A B"}, {"key": "C"}]})), 422, "answers[0].key"),
            (with(json!({"name": "Other", "opens_at": "tomorrow"})), 422, "opens_at"),
            (
                with(json!({"name": "Other", "opens_at": "2026-12-01T10:00:00Z", "closes_at": "2026-12-01T09:00:00Z"})),
                422,
                "closes_at",
            ),
            (with(json!({"name": "Other", "vote_policy": "most"})), 422, "vote_policy"),
            (with(json!({"name": "Other", "correct_answer": "C"})), 422, "correct_answer"),
            // Within 1,000 characters, but 14 segments of UCS-2 (at most 10).
            (with(json!({"name": "Other", "replies": {"counted": too_long}})), 422, "replies.counted"),
            (with(json!({"name": "LUNCH"})), 409, "name"),
        ];
        for (body, status, field) in cases {
            let (got, e) = app.post("/api/v1/polls", body.clone()).await;
            assert_eq!((got, e["error"]["field"].as_str()), (status, Some(field)), "{body}: {e}");
        }
        let (got, _) = app.post("/api/v1/polls", with(json!({"name": "Other", "colour": "red"}))).await;
        assert!((400..500).contains(&got), "unknown fields are refused");
        let (_, list) = app.get("/api/v1/polls").await;
        assert_eq!(list["polls"].as_array().unwrap().len(), 1, "nothing was created: {list}");
        let (status, e) = app.patch("/api/v1/polls/lunch", json!({"answers": []})).await;
        assert_eq!((status, e["error"]["field"].as_str()), (422, Some("answers")));
        let (_, p) = app.get("/api/v1/polls/Lunch").await;
        assert_eq!(p["answers"].as_array().unwrap().len(), 2, "a refused change changes nothing");

        create(&app, "/api/v1/numbers", json!({"number": "7100"})).await;
        for (action, field) in [
            (json!({"type": "poll_answer", "poll": "Dinner"}), "actions[0].poll"),
            (json!({"type": "poll_answer", "poll": " "}), "actions[0].poll"),
            (json!({"type": "reply", "text": too_long}), "actions[0].text"),
        ] {
            let (status, e) = app
                .post("/api/v1/keywords", json!({"number": "7100", "keyword": "VOTE", "actions": [action]}))
                .await;
            assert_eq!((status, e["error"]["field"].as_str()), (422, Some(field)), "{e}");
        }
        for path in ["/api/v1/polls/nope", "/api/v1/polls/nope/results", "/api/v1/polls/nope/draws"] {
            assert_eq!(app.get(path).await.0, 404, "{path}");
        }
        let (status, e) = app.get("/api/v1/reports/inbound?since=yesterday").await;
        assert_eq!((status, e["error"]["field"].as_str()), (400, Some("since")));
        let (status, _) = app.post("/api/v1/polls", json!("not an object")).await;
        assert!((400..500).contains(&status));
        assert_eq!(app.http.delete(app.url("/api/v1/polls/lunch")).bearer_auth(common::API_KEY).send().await.unwrap().status(), 204);
        let (_, list) = app.get("/api/v1/polls").await;
        assert!(list["polls"].as_array().unwrap().is_empty());
        app.stop().await;
    })
    .await;
}
