//! Campaigns as a marketer meets them, on SQLite and PostgreSQL: templates,
//! sender ids, audiences of groups, #tags, contacts and numbers, estimates,
//! quiet hours in each contact's zone, pause/resume/cancel, recurring runs
//! with their own reports, and a fan-out that never sends anyone twice.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Timelike as _, Utc};
use common::two_way::{inject, matched, number};
use common::{API_KEY, TestApp, on_each_backend};
use kurier::campaigns::fanout::FanOut;
use serde_json::{Value, json};

trait Rest {
    async fn contact(&self, body: Value) -> String;
    async fn campaign(&self, body: Value) -> Value;
    async fn wait_for_run(&self, campaign: &str, seq: i64, status: &str) -> Value;
    async fn messages_of(&self, campaign: &str) -> Vec<Value>;
}

impl Rest for TestApp {
    async fn contact(&self, body: Value) -> String {
        let (status, c) = self.post("/api/v1/contacts", body.clone()).await;
        assert_eq!(status, 201, "{body} -> {c}");
        c["id"].as_str().unwrap().to_owned()
    }

    async fn campaign(&self, body: Value) -> Value {
        let (status, c) = self.post("/api/v1/campaigns", body.clone()).await;
        assert_eq!(status, 201, "{body} -> {c}");
        c
    }

    async fn wait_for_run(&self, campaign: &str, seq: i64, status: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..500 {
            let (code, run) = self.get(&format!("/api/v1/campaigns/{campaign}/runs/{seq}")).await;
            if code == 200 && run["status"] == status {
                return run;
            }
            last = run;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("run {seq} of {campaign} never became {status}; last: {last}");
    }

    async fn messages_of(&self, campaign: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, page) =
                self.get(&format!("/api/v1/messages?campaign={campaign}&limit=500{cursor}")).await;
            assert_eq!(status, 200, "{page}");
            all.extend(page["messages"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => return all,
            }
        }
    }
}

async fn setup_sender(app: &TestApp) {
    let (status, s) = app.post("/api/v1/sender-ids", json!({"sender": "Kurier", "default": true})).await;
    assert_eq!(status, 201, "{s}");
}

#[tokio::test]
async fn a_campaign_reaches_groups_tags_contacts_and_numbers_once_each_in_their_own_words() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        setup_sender(&app).await;
        let (s, _) = app.post("/api/v1/contact-fields", json!({"name": "city", "kind": "text"})).await;
        assert_eq!(s, 201);
        let (_, group) = app.post("/api/v1/groups", json!({"name": "Klienci"})).await;
        app.post("/api/v1/groups", json!({"name": "Do not disturb"})).await;
        let anna = app
            .contact(json!({"phone": "+48600000001", "name": "Anna Nowak", "language": "pl",
                            "fields": {"city": "Kraków"}, "groups": ["Klienci"]}))
            .await;
        // In the group and tagged: one message, not two.
        app.contact(json!({"phone": "+48600000002", "name": "Piotr Zięba", "groups": ["Klienci"], "tags": ["vip"]}))
            .await;
        app.contact(json!({"phone": "+48600000003", "name": "Ewa", "tags": ["VIP"]})).await;
        // Opted out, and excluded: neither gets anything.
        let (_, out) = app
            .post("/api/v1/contacts", json!({"phone": "+48600000004", "name": "Out", "groups": ["Klienci"]}))
            .await;
        let (s, _) = app.patch(&format!("/api/v1/contacts/{}", out["id"].as_str().unwrap()), json!({"opted_out": true})).await;
        assert_eq!(s, 200);
        app.contact(json!({"phone": "+48600000005", "name": "Quiet", "groups": ["Klienci", "Do not disturb"]})).await;
        let (s, t) = app
            .post(
                "/api/v1/templates",
                json!({"name": "Reminder", "body": "Hi {{ contact.first_name or 'there' }}{% if contact.city %} from {{ contact.city }}{% endif %}: pay {{ data.amount | amount(currency='PLN') }} #bills"}),
            )
            .await;
        assert_eq!(s, 201, "{t}");

        let created = app
            .campaign(json!({
                "name": "November bills",
                "template": "reminder",
                "data": {"amount": 1234.5},
                "groups": [group["id"]],
                "tags": ["#vip"],
                "contacts": [anna],
                "numbers": ["+48600000009", "+48600000003"],
                "exclude_groups": ["Do not disturb"],
                "message_tags": ["november"],
                "start": true,
            }))
            .await;
        let estimate = &created["estimate"];
        assert_eq!(estimate["recipients"], 4, "{estimate}");
        assert_eq!(estimate["opted_out"], 1, "{estimate}");
        assert_eq!(estimate["segments"], 4, "{estimate}");
        assert!(estimate["warnings"][0].as_str().unwrap().contains("opted out"), "{estimate}");
        let id = created["campaign"]["id"].as_str().unwrap().to_owned();
        assert_eq!(created["campaign"]["from"], "Kurier");

        app.wait_for_run(&id, 1, "completed").await;
        app.wait_until_settled().await;
        let (_, run) = app.get(&format!("/api/v1/campaigns/{id}/runs/1")).await;
        assert_eq!(run["recipients"], 4, "{run}");
        assert_eq!(run["counters"]["delivered"].as_i64().unwrap() + run["counters"]["undelivered"].as_i64().unwrap()
            + run["counters"]["failed"].as_i64().unwrap(), 4, "{run}");
        let (_, campaign) = app.get(&format!("/api/v1/campaigns/{id}")).await;
        assert_eq!(campaign["status"], "completed", "{campaign}");

        let messages = app.messages_of(&id).await;
        let mut texts: Vec<(String, String)> = messages
            .iter()
            .map(|m| (m["to"].as_str().unwrap().to_owned(), m["text"].as_str().unwrap().to_owned()))
            .collect();
        texts.sort();
        assert_eq!(
            texts,
            vec![
                ("+48600000001".into(), "Hi Anna from Kraków: pay 1\u{a0}234,50 PLN #bills".into()),
                ("+48600000002".into(), "Hi Piotr: pay 1,234.50 PLN #bills".into()),
                ("+48600000003".into(), "Hi Ewa: pay 1,234.50 PLN #bills".into()),
                ("+48600000009".into(), "Hi there: pay 1,234.50 PLN #bills".into()),
            ]
        );
        for m in &messages {
            assert_eq!(m["from"], "Kurier");
            let tags: Vec<&str> = m["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
            assert_eq!(tags, vec!["bills", "november"], "{m}");
        }
        // The run's messages as a download.
        let csv = app
            .http
            .get(app.url(&format!("/api/v1/campaigns/{id}/runs/1/messages.csv")))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(csv.status(), 200);
        let body = csv.text().await.unwrap();
        assert_eq!(body.lines().count(), 5, "{body}");
        assert!(body.contains("+48600000009"), "{body}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_template_that_cannot_render_for_a_recipient_skips_them_with_the_reason() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        setup_sender(&app).await;
        // The data's date has no time, which the format asks for: once a
        // panic of the worker (and of the server with it, at every start).
        let created = app
            .campaign(json!({
                "name": "Due times",
                "text": "Due {{ data.due | date('%d.%m %H:%M') }}",
                "data": {"due": "2026-05-01"},
                "numbers": ["+48600000011", "+48600000012"],
                "start": true,
            }))
            .await;
        let id = created["campaign"]["id"].as_str().unwrap().to_owned();
        let run = app.wait_for_run(&id, 1, "completed").await;
        assert_eq!(run["skipped"], 2, "{run}");
        assert_eq!(run["recipients"], 0, "{run}");
        let reason = run["errors"][0]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("without a time"), "{run}");
        let (status, _) = app.get("/api/v1/campaigns").await;
        assert_eq!(status, 200, "the server still answers");
    })
    .await;
}

#[tokio::test]
async fn bad_campaigns_are_refused_before_anything_is_sent() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        setup_sender(&app).await;
        for g in ["Ok", "Gone", "Empty"] {
            app.post("/api/v1/groups", json!({"name": g})).await;
        }
        app.contact(json!({"phone": "+48600000001", "name": "A", "groups": ["Ok"]})).await;
        let (_, out) =
            app.post("/api/v1/contacts", json!({"phone": "+48600000002", "groups": ["Gone"]})).await;
        app.patch(&format!("/api/v1/contacts/{}", out["id"].as_str().unwrap()), json!({"opted_out": true}))
            .await;
        let base = json!({"name": "x", "text": "Hello", "groups": ["Ok"], "start": true});
        let with = |patch: Value| {
            let mut b = base.clone();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    b.as_object_mut().unwrap().remove(k);
                } else {
                    b[k] = v.clone();
                }
            }
            b
        };
        let past = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
        for (patch, field, want) in [
            (
                json!({"text": "Hi {{ contact.shoe_size }}"}),
                "text",
                "line 1, column 7: unknown variable 'contact.shoe_size'",
            ),
            (json!({"text": "Hi {{ contact.name "}), "text", "line 1"),
            (json!({"template": "nope", "text": null}), "template", "no template"),
            (json!({"template": "nope"}), "template", "either text or template"),
            (json!({"rrule": "FREQ=SECONDLY"}), "rrule", "at least 60 minutes apart"),
            (json!({"rrule": "FREQ=DAILY;COUNT=1", "send_at": past}), "rrule", "never fires"),
            (json!({"send_at": past}), "send_at", "in the past"),
            (json!({"groups": ["Empty"]}), "audience", "the audience is empty"),
            (json!({"groups": ["Gone"]}), "audience", "opted out"),
            (json!({"groups": ["Nowhere"]}), "groups[0]", "no group"),
            (json!({"from": "Spoofed"}), "from", "not one of the account's sender ids: Kurier"),
            (json!({"numbers": ["+48600000003", "12"]}), "numbers[1]", "12"),
            (json!({"throughput": 0}), "throughput", "1 to"),
            (json!({"time_zone": "Mars/Olympus"}), "time_zone", "IANA"),
            (json!({"data": [1, 2]}), "data", "object"),
            (json!({"name": null}), "name", "required"),
        ] {
            let body = with(patch.clone());
            let (status, e) = app.post("/api/v1/campaigns", body).await;
            assert_eq!(status, 422, "{patch}: {e}");
            assert_eq!(e["error"]["field"], field, "{patch}: {e}");
            let msg = e["error"]["message"].as_str().unwrap();
            assert!(msg.contains(want), "{patch}: {msg}");
        }
        // Nothing was kept or sent.
        let (_, list) = app.get("/api/v1/campaigns").await;
        assert_eq!(list["campaigns"].as_array().unwrap().len(), 0, "{list}");
        let (_, messages) = app.get("/api/v1/messages").await;
        assert_eq!(messages["messages"].as_array().unwrap().len(), 0);
        // A draft with an empty audience is kept, with a warning, and refuses to start.
        let (status, draft) =
            app.post("/api/v1/campaigns", with(json!({"groups": ["Empty"], "start": false}))).await;
        assert_eq!(status, 201, "{draft}");
        assert!(draft["estimate"]["warnings"][0].as_str().unwrap().contains("empty"), "{draft}");
        let id = draft["campaign"]["id"].as_str().unwrap();
        let (status, e) = app.post(&format!("/api/v1/campaigns/{id}/start"), json!({})).await;
        assert_eq!((status, e["error"]["field"].as_str()), (422, Some("audience")), "{e}");
        let (status, _) = app.post(&format!("/api/v1/campaigns/{id}/pause"), json!({})).await;
        assert_eq!(status, 409);
        let (status, _) = app.call("DELETE", &format!("/api/v1/campaigns/{id}"), None).await;
        assert_eq!(status, 204);
        app.stop().await;
    })
    .await;
}

/// `Etc/GMT-3` is UTC+3: the zone in which it is `hour` o'clock now.
fn zone_where_it_is(hour: i64) -> String {
    let mut offset = hour - i64::from(Utc::now().hour());
    if offset > 12 {
        offset -= 24;
    }
    if offset < -12 {
        offset += 24;
    }
    if offset >= 0 { format!("Etc/GMT-{offset}") } else { format!("Etc/GMT+{}", -offset) }
}

#[tokio::test]
async fn quiet_hours_hold_messages_in_each_contacts_zone_and_pause_resume_cancel_follow() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        setup_sender(&app).await;
        let (s, a) = app
            .patch(
                "/api/v1/account",
                json!({"quiet_hours": {"start": "21:00", "end": "07:00"}, "time_zone": "Europe/Warsaw"}),
            )
            .await;
        assert_eq!(s, 200, "{a}");
        assert_eq!(a["quiet_hours"], json!({"start": "21:00", "end": "07:00"}));
        app.post("/api/v1/groups", json!({"name": "G"})).await;
        let night = zone_where_it_is(2);
        let day = zone_where_it_is(12);
        app.contact(json!({"phone": "+48600000001", "time_zone": night, "groups": ["G"]})).await;
        app.contact(json!({"phone": "+48600000002", "time_zone": day, "groups": ["G"]})).await;

        let c = app.campaign(json!({"name": "q", "text": "Hello", "groups": ["G"], "start": true})).await;
        let id = c["campaign"]["id"].as_str().unwrap().to_owned();
        app.wait_for_run(&id, 1, "sending").await;
        let mut messages = app.messages_of(&id).await;
        messages.sort_by_key(|m| m["to"].as_str().unwrap().to_owned());
        assert_eq!(messages[0]["status"], "scheduled", "{}", messages[0]);
        // 02:xx local: held until 07:00 local, five hours or so from now.
        let at = chrono::DateTime::parse_from_rfc3339(messages[0]["send_at"].as_str().unwrap()).unwrap();
        let wait = at.with_timezone(&Utc) - Utc::now();
        assert!(wait > chrono::Duration::hours(4) && wait <= chrono::Duration::hours(5), "{wait}");
        app.wait_for_status(messages[1]["id"].as_str().unwrap(), "delivered").await;

        // Paused: the held message stays held; resumed: it waits for its time again.
        let (s, p) = app.post(&format!("/api/v1/campaigns/{id}/pause"), json!({})).await;
        assert_eq!((s, p["status"].as_str()), (200, Some("paused")), "{p}");
        let (_, run) = app.get(&format!("/api/v1/campaigns/{id}/runs/1")).await;
        assert_eq!(run["status"], "paused");
        assert_eq!(run["counters"]["queued"], 1, "{run}");
        let (s, r) = app.post(&format!("/api/v1/campaigns/{id}/resume"), json!({})).await;
        assert_eq!((s, r["status"].as_str()), (200, Some("running")), "{r}");
        let m = app.get(&format!("/api/v1/messages/{}", messages[0]["id"].as_str().unwrap())).await.1;
        assert_eq!(m["status"], "scheduled");
        assert_eq!(m["send_at"], messages[0]["send_at"]);
        let events: Vec<&str> =
            m["events"].as_array().unwrap().iter().filter_map(|e| e["detail"].as_str()).collect();
        assert_eq!(events, ["campaign paused", "campaign resumed; waits for the end of quiet hours"], "{m}");

        // Canceled: the held message is canceled, and the run ends.
        let (s, x) = app.post(&format!("/api/v1/campaigns/{id}/cancel"), json!({})).await;
        assert_eq!((s, x["status"].as_str()), (200, Some("canceled")), "{x}");
        app.wait_for_status(messages[0]["id"].as_str().unwrap(), "canceled").await;
        let (_, run) = app.get(&format!("/api/v1/campaigns/{id}/runs/1")).await;
        assert_eq!(run["status"], "canceled");
        assert_eq!(run["counters"]["canceled"], 1, "{run}");
        let (s, _) = app.post(&format!("/api/v1/campaigns/{id}/resume"), json!({})).await;
        assert_eq!(s, 409);

        // Urgent campaigns do not wait.
        let c = app
            .campaign(json!({"name": "u", "text": "Now", "groups": ["G"], "urgent": true, "start": true}))
            .await;
        let id = c["campaign"]["id"].as_str().unwrap().to_owned();
        app.wait_for_run(&id, 1, "completed").await;
        app.wait_until_settled().await;
        let (_, run) = app.get(&format!("/api/v1/campaigns/{id}/runs/1")).await;
        assert_eq!(run["counters"]["delivered"], 2, "{run}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_resumed_campaign_sends_held_messages_only_outside_quiet_hours_in_each_contacts_zone() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        setup_sender(&app).await;
        app.post("/api/v1/groups", json!({"name": "G"})).await;
        let (night, day) = (zone_where_it_is(2), zone_where_it_is(12));
        // In phone order at ten a second: nine by day, the tenth at night
        // (due 0.9 s after the first), and the eleventh by day in the
        // next second's batch.
        let phones: Vec<String> = (1..=11).map(|i| format!("+486000000{i:02}")).collect();
        for (i, phone) in phones.iter().enumerate() {
            let zone = if i == 9 { &night } else { &day };
            app.contact(json!({"phone": phone, "time_zone": zone, "groups": ["G"]})).await;
        }
        let c = app
            .campaign(
                json!({"name": "paced", "text": "Hello", "groups": ["G"], "throughput": 10, "start": true}),
            )
            .await;
        let id = c["campaign"]["id"].as_str().unwrap().to_owned();
        common::wait_for("the first second's messages", async || {
            (app.messages_of(&id).await.len() >= 10).then_some(())
        })
        .await;
        let (s, p) = app.post(&format!("/api/v1/campaigns/{id}/pause"), json!({})).await;
        assert_eq!(s, 200, "{p}");
        let of = |phone: &str| {
            let (app, id, phone) = (&app, id.clone(), phone.to_owned());
            async move {
                let m = app.messages_of(&id).await.into_iter().find(|m| m["to"] == phone)?;
                Some(app.get(&format!("/api/v1/messages/{}", m["id"].as_str().unwrap())).await.1)
            }
        };
        assert_eq!(of(&phones[9]).await.unwrap()["status"], "scheduled", "held by the pause");

        // Quiet hours set while it was paused: it is 02:00 for the tenth.
        let (s, a) = app
            .patch(
                "/api/v1/account",
                json!({"quiet_hours": {"start": "21:00", "end": "07:00"}, "time_zone": "Europe/Warsaw"}),
            )
            .await;
        assert_eq!(s, 200, "{a}");
        let (s, r) = app.post(&format!("/api/v1/campaigns/{id}/resume"), json!({})).await;
        assert_eq!(s, 200, "{r}");
        // The eleventh, by day, fanned out after it, goes; the tenth waits.
        let last = common::wait_for("the eleventh message", async || of(&phones[10]).await).await;
        app.wait_for_status(last["id"].as_str().unwrap(), "delivered").await;
        // Well past the time the pace gave it, it still waits.
        let planned = of(&phones[9]).await.unwrap()["send_at"].as_str().unwrap().to_owned();
        let planned = chrono::DateTime::parse_from_rfc3339(&planned).unwrap().with_timezone(&Utc);
        let wait = (planned - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(500);
        tokio::time::sleep(wait).await;
        let held = of(&phones[9]).await.unwrap();
        assert_eq!(held["status"], "scheduled", "{held}");
        let last_event = held["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last_event["detail"], "campaign resumed; waits for the end of quiet hours", "{held}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn stop_cancels_what_waits_for_the_sender_but_not_for_others_nor_transactional_messages() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        setup_sender(&app).await;
        let (s, a) = app
            .patch(
                "/api/v1/account",
                json!({"quiet_hours": {"start": "21:00", "end": "07:00"}, "time_zone": "Europe/Warsaw"}),
            )
            .await;
        assert_eq!(s, 200, "{a}");
        number(&app, json!({"number": "7100"})).await;
        app.post("/api/v1/groups", json!({"name": "G"})).await;
        let (phone, other) = ("+48600000001", "+48600000002");
        for p in [phone, other] {
            app.contact(json!({"phone": p, "time_zone": zone_where_it_is(2), "groups": ["G"]})).await;
        }
        // Held by quiet hours, then by a pause.
        let c = app.campaign(json!({"name": "q", "text": "Hello", "groups": ["G"], "start": true})).await;
        let id = c["campaign"]["id"].as_str().unwrap().to_owned();
        app.wait_for_run(&id, 1, "sending").await;
        let (s, p) = app.post(&format!("/api/v1/campaigns/{id}/pause"), json!({})).await;
        assert_eq!(s, 200, "{p}");
        let later = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let scheduled = app.send(json!({"to": phone, "text": "Sale at noon", "send_at": later})).await;
        let visit = app
            .send(json!({"to": phone, "text": "Your visit at noon", "send_at": later, "transactional": true}))
            .await;
        let others = app.send(json!({"to": other, "text": "Sale at noon", "send_at": later})).await;

        inject(&app, phone, "7100", "STOP").await;
        matched(&app, phone, "STOP").await;

        let campaign_message = |to: &str| {
            let to = to.to_owned();
            let app = &app;
            let id = id.clone();
            async move {
                let m = app.messages_of(&id).await.into_iter().find(|m| m["to"] == to).unwrap();
                app.get(&format!("/api/v1/messages/{}", m["id"].as_str().unwrap())).await.1
            }
        };
        let held = campaign_message(phone).await;
        assert_eq!(held["status"], "canceled", "{held}");
        let last = held["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["detail"], "the recipient opted out: stop", "{held}");
        assert_eq!(campaign_message(other).await["status"], "scheduled");
        for (id, want) in [(&scheduled, "canceled"), (&visit, "scheduled"), (&others, "scheduled")] {
            let (_, m) = app.get(&format!("/api/v1/messages/{id}")).await;
            assert_eq!(m["status"], want, "{m}");
        }
        let (_, run) = app.get(&format!("/api/v1/campaigns/{id}/runs/1")).await;
        assert_eq!(
            (run["counters"]["canceled"].as_i64(), run["counters"]["queued"].as_i64()),
            (Some(1), Some(1)),
            "{run}"
        );

        // Resumed, the canceled message stays canceled.
        let (s, r) = app.post(&format!("/api/v1/campaigns/{id}/resume"), json!({})).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(campaign_message(phone).await["status"], "canceled");
        let (_, run) = app.get(&format!("/api/v1/campaigns/{id}/runs/1")).await;
        assert_eq!(
            (run["counters"]["canceled"].as_i64(), run["counters"]["queued"].as_i64()),
            (Some(1), Some(1)),
            "{run}"
        );
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_recurring_campaign_opens_a_run_at_each_occurrence_with_its_own_report() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        setup_sender(&app).await;
        app.post("/api/v1/groups", json!({"name": "Team"})).await;
        app.contact(json!({"phone": "+48600000001", "groups": ["Team"]})).await;
        let c = app
            .campaign(json!({"name": "Monday briefing", "text": "Briefing at 9", "groups": ["Team"],
                             "rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0", "time_zone": "Europe/Warsaw",
                             "start": true}))
            .await;
        let runs = c["estimate"]["next_runs"].as_array().unwrap();
        assert_eq!(runs.len(), 5);
        for r in runs {
            let t = chrono::DateTime::parse_from_rfc3339(r.as_str().unwrap()).unwrap();
            let local = t.with_timezone(&chrono_tz::Tz::Europe__Warsaw);
            assert_eq!((local.format("%a %H:%M").to_string()), "Mon 09:00", "{r}");
        }
        let id = c["campaign"]["id"].as_str().unwrap().to_owned();
        assert_eq!(c["campaign"]["status"], "scheduled");
        assert_eq!(c["campaign"]["next_run_at"], runs[0]);

        // Time travel: make the next occurrence due now, twice.
        let db = sqlx::AnyPool::connect(&app.db.as_ref().unwrap().url).await.unwrap();
        for seq in 1..=2 {
            sqlx::query("UPDATE campaigns SET next_run_at = $1 WHERE id = $2")
                .bind(Utc::now().timestamp_micros())
                .bind(&id)
                .execute(&db)
                .await
                .unwrap();
            app.wait_for_run(&id, seq, "completed").await;
            app.wait_until_settled().await;
            let (_, run) = app.get(&format!("/api/v1/campaigns/{id}/runs/{seq}")).await;
            assert_eq!(run["recipients"], 1, "{run}");
            assert_eq!(run["counters"]["delivered"], 1, "{run}");
            let (_, c) = app.get(&format!("/api/v1/campaigns/{id}")).await;
            assert_eq!(c["status"], "scheduled", "{c}");
            assert_eq!(c["next_run_at"], runs[0], "missed runs are not made up: {c}");
        }
        let (_, list) = app.get(&format!("/api/v1/campaigns/{id}/runs")).await;
        let seqs: Vec<i64> = list["runs"].as_array().unwrap().iter().map(|r| r["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, vec![2, 1]);
        assert_eq!(app.messages_of(&id).await.len(), 2);
        db.close().await;
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_recurring_run_missed_while_kurier_was_down_is_recorded_and_not_sent_late() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        setup_sender(&app).await;
        let c = app
            .campaign(json!({"name": "Morning", "text": "Good morning", "numbers": ["+48600000001"],
                             "rrule": "FREQ=DAILY;BYHOUR=7;BYMINUTE=0", "time_zone": "Europe/Warsaw",
                             "start": true}))
            .await;
        let id = c["campaign"]["id"].as_str().unwrap().to_owned();
        let next = c["campaign"]["next_run_at"].clone();
        let db = sqlx::AnyPool::connect(&app.db.as_ref().unwrap().url).await.unwrap();
        let due = |ago: chrono::Duration| {
            sqlx::query("UPDATE campaigns SET next_run_at = $1 WHERE id = $2")
                .bind((Utc::now() - ago).timestamp_micros())
                .bind(id.clone())
        };

        // Kurier was down at 7:00 and starts three hours later: the run is
        // recorded as missed, nothing goes out, tomorrow's run is next.
        due(chrono::Duration::hours(3)).execute(&db).await.unwrap();
        let run = app.wait_for_run(&id, 1, "failed").await;
        assert!(run["failure"].as_str().unwrap().starts_with("missed: due at"), "{run}");
        assert_eq!(run["recipients"], 0, "{run}");
        let (_, c) = app.get(&format!("/api/v1/campaigns/{id}")).await;
        assert_eq!((&c["status"], &c["next_run_at"]), (&json!("scheduled"), &next), "{c}");
        assert!(app.messages_of(&id).await.is_empty(), "nothing sent hours late");

        // A few minutes late is within the grace: the run goes out.
        due(chrono::Duration::minutes(5)).execute(&db).await.unwrap();
        let run = app.wait_for_run(&id, 2, "completed").await;
        assert_eq!(run["recipients"], 1, "{run}");
        assert_eq!(app.messages_of(&id).await.len(), 1);
        db.close().await;
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn two_nodes_fanning_out_one_run_send_to_everyone_exactly_once() {
    on_each_backend(|b| async move {
        // The app's own worker is left out of this: two extra workers race.
        let app = TestApp::start(&b).await;
        let numbers: Vec<String> = (0..2_345).map(|i| format!("+48601{i:06}")).collect();
        let c = app.campaign(json!({"name": "big", "text": "Hi", "numbers": numbers})).await;
        let id = c["campaign"]["id"].as_str().unwrap().to_owned();
        let store = app.app.as_ref().unwrap().store.clone();
        // Started directly in storage so that the app's worker, which
        // polls every half second, is raced by two more.
        let wake = Arc::new(tokio::sync::Notify::new());
        let a = FanOut::new(store.clone(), "node-a".into(), wake.clone(), 10);
        let b2 = FanOut::new(store.clone(), "node-b".into(), wake, 10);
        let (s, _) = app.post(&format!("/api/v1/campaigns/{id}/start"), json!({})).await;
        assert_eq!(s, 200);
        for _ in 0..50 {
            let (ra, rb) = tokio::join!(a.step(), b2.step());
            ra.unwrap();
            rb.unwrap();
            let (_, run) = app.get(&format!("/api/v1/campaigns/{id}/runs/1")).await;
            if run["status"] != "fanning_out" && run["status"].is_string() {
                break;
            }
        }
        let run = app.wait_for_run(&id, 1, "completed").await;
        assert_eq!(run["recipients"], 2_345, "{run}");
        let messages = app.messages_of(&id).await;
        let distinct: HashSet<&str> = messages.iter().map(|m| m["to"].as_str().unwrap()).collect();
        assert_eq!((messages.len(), distinct.len()), (2_345, 2_345));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_throughput_limit_spreads_a_campaign_over_time() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let numbers: Vec<String> = (0..25).map(|i| format!("+48602{i:06}")).collect();
        let c = app
            .campaign(
                json!({"name": "slow", "text": "Hi", "numbers": numbers, "throughput": 10, "start": true}),
            )
            .await;
        let id = c["campaign"]["id"].as_str().unwrap().to_owned();
        let started = std::time::Instant::now();
        app.wait_for_run(&id, 1, "completed").await;
        // 25 messages at 10 a second: the last goes out two seconds and more after the first.
        assert!(started.elapsed() >= Duration::from_millis(2_000), "{:?}", started.elapsed());
        let mut due: Vec<chrono::DateTime<Utc>> = app
            .messages_of(&id)
            .await
            .iter()
            .map(|m| {
                let t = m["send_at"].as_str().or(m["created_at"].as_str()).unwrap();
                chrono::DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
            })
            .collect();
        due.sort();
        assert_eq!(due.len(), 25);
        let span = due[24] - due[0];
        assert!(span >= chrono::Duration::milliseconds(2_300), "{span}");
        app.stop().await;
    })
    .await;
}

fn kurier_cli(db_url: &str, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kurier"))
        .args(args)
        .env("KURIER_DATABASE_URL", db_url)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_saves_templates_and_creates_starts_and_shows_campaigns() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let url = app.db.as_ref().unwrap().url.clone();
        app.post("/api/v1/groups", json!({"name": "Crew"})).await;
        app.contact(json!({"phone": "+48600000001", "name": "Ola", "groups": ["Crew"]})).await;

        let (ok, out) = kurier_cli(&url, &["template", "add", "Greeting", "--body", "Hi {{ contact.name }}"]);
        assert!(ok, "{out}");
        let (ok, out) = kurier_cli(&url, &["template", "add", "Bad", "--body", "Hi {{ contact.nope }}"]);
        assert!(!ok && out.contains("unknown variable 'contact.nope'"), "{out}");
        // The names the API refuses, the command line refuses too.
        let long = "n".repeat(101);
        for (name, why) in
            [("  ", "may not be empty"), ("Bell\u{7}", "control character"), (long.as_str(), "100")]
        {
            let (ok, out) = kurier_cli(&url, &["template", "add", name, "--body", "Hi"]);
            assert!(!ok && out.contains("the name") && out.contains(why), "{name:?}: {out}");
        }
        let (ok, out) = kurier_cli(&url, &["template", "list"]);
        assert!(ok && out.contains("Greeting") && !out.contains("Bad") && !out.contains("Bell"), "{out}");
        assert_eq!(out.lines().count(), 1, "{out}");

        let past = (Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
        let (ok, out) = kurier_cli(
            &url,
            &["campaign", "create", "--name", "Late", "--text", "x", "--group", "Crew", "--at", &past],
        );
        assert!(!ok && out.contains("--at: is in the past"), "{out}");
        let (ok, out) = kurier_cli(
            &url,
            &[
                "campaign", "create", "--name", "Nobody", "--text", "x", "--group", "Crew", "--group",
                "Ghosts",
            ],
        );
        assert!(!ok && out.contains("--group (number 2 given): "), "the flag as typed: {out}");
        let future = (Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
        let (ok, out) = kurier_cli(
            &url,
            &[
                "campaign", "create", "--name", "Later", "--text", "x", "--group", "Crew", "--at", &future,
                "--start",
            ],
        );
        assert!(ok, "{out}");
        let later = out.lines().next().unwrap().split_whitespace().nth(2).unwrap().to_owned();
        let (ok, out) = kurier_cli(&url, &["campaign", "show", &later]);
        assert!(ok && out.contains("Later (scheduled)"), "the API's status words: {out}");
        kurier_cli(&url, &["campaign", "cancel", &later]);

        let (ok, out) = kurier_cli(
            &url,
            &[
                "campaign",
                "create",
                "--name",
                "From the shell",
                "--template",
                "greeting",
                "--group",
                "Crew",
                "--start",
            ],
        );
        assert!(ok, "{out}");
        assert!(out.contains("1 recipients"), "{out}");
        let id = out.lines().next().unwrap().split_whitespace().nth(2).unwrap().to_owned();
        app.wait_for_run(&id, 1, "completed").await;
        let texts: Vec<String> =
            app.messages_of(&id).await.iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect();
        assert_eq!(texts, vec!["Hi Ola"]);

        let (ok, out) = kurier_cli(&url, &["campaign", "show", &id]);
        assert!(ok && out.contains("From the shell (completed)") && out.contains("run 1 completed"), "{out}");
        let (ok, out) = kurier_cli(&url, &["campaign", "pause", &id]);
        assert!(!ok && out.contains("cannot be paused"), "{out}");
        let (ok, out) = kurier_cli(&url, &["campaign", "list"]);
        assert!(ok && out.contains("From the shell"), "{out}");
        app.stop().await;
    })
    .await;
}
