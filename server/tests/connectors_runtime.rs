//! Connectors and routes added, changed and removed at run time through the
//! API: stored, started without a restart, routed to, and retired without
//! losing a message.

mod common;

use std::time::Duration;

use common::{TestApp, on_each_backend, wait_for};
use kurier::smsc_sim::{SimHandle, SimSettings, SmscSim};
use kurier::storage::RouteWrite;
use serde_json::{Value, json};

fn smpp_body(name: &str, port: u16) -> Value {
    json!({
        "name": name, "kind": "smpp", "host": "127.0.0.1", "port": port,
        "system_id": "kurier", "password": "secret", "window": 10,
        "reconnect_min_ms": 50, "reconnect_max_ms": 200,
    })
}

/// An SMSC simulator on a port of its own.
async fn smsc(settings: SimSettings) -> SimHandle {
    SmscSim::start("127.0.0.1:0".parse().unwrap(), settings).await.unwrap()
}

/// Waits until the connector `name` reports its link up.
async fn wait_until_up(app: &TestApp, name: &str) {
    let path = format!("/api/v1/connectors/{name}");
    wait_for(&format!("{name}'s link is up"), async || {
        let (_, c) = app.get(&path).await;
        (c["status"]["up"] == true).then_some(())
    })
    .await;
}

/// The value of the sample `series` (name and labels) in `/metrics`, 0 when absent.
async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

async fn delete(app: &TestApp, path: &str) -> (u16, Value) {
    let resp = app.http.delete(app.url(path)).bearer_auth(common::API_KEY).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The names of the connectors the node at `base` (`http://host:port`) runs.
async fn connector_names(app: &TestApp, base: &str) -> Vec<String> {
    let resp =
        app.http.get(format!("{base}/api/v1/connectors")).bearer_auth(common::API_KEY).send().await.unwrap();
    let list: Value = resp.json().await.unwrap();
    list["connectors"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn an_smpp_connector_added_at_run_time_is_routed_to_changed_and_removed() {
    on_each_backend(|b| async move {
        let smsc = smsc(SimSettings {
            accounts: vec![("kurier".into(), "secret".into())],
            receipt_delay: Duration::from_millis(10),
            ..SimSettings::default()
        })
        .await;
        let app = TestApp::start(&b).await;

        let (status, made) = app.post("/api/v1/connectors", smpp_body("uk", smsc.addr().port())).await;
        assert_eq!(status, 201, "{made}");
        assert_eq!(
            (made["status"]["source"].as_str(), made["settings"]["password"].as_str()),
            (Some("api"), Some("***"))
        );
        let (status, route) = app.post("/api/v1/routes", json!({"prefix": "+44", "connector": "uk"})).await;
        assert_eq!((status, route["source"].as_str()), (201, Some("api")), "{route}");
        let (_, routes) = app.get("/api/v1/routes").await;
        assert_eq!(routes["routes"][0]["prefix"], "+44", "{routes}");
        assert_eq!(routes["default_connector"], "sim", "the file's first connector still takes the rest");

        wait_until_up(&app, "uk").await;
        let to_uk = app.send(json!({"to": "+447911123423", "text": "via uk"})).await;
        let to_pl = app.send(json!({"to": "+48600100200", "text": "via sim"})).await;
        let uk = app.wait_for_status(&to_uk, "delivered").await;
        let pl = app.wait_for_status(&to_pl, "delivered").await;
        assert_eq!((uk["connector"].as_str(), pl["connector"].as_str()), (Some("uk"), Some("sim")));
        assert_eq!(smsc.received().len(), 1, "only the routed message reached the operator's SMSC");
        // (The counters are the process's, shared by the backends' runs: compare.)
        let submitted_before =
            metric(&app, r#"kurier_connector_pdus_total{connector="uk",what="submitted"}"#).await;

        // A change restarts it with the new settings; `***` keeps the password.
        let mut changed = smpp_body("uk", smsc.addr().port());
        changed["password"] = json!("***");
        changed["window"] = json!(3);
        let (status, after) = app.put_json("/api/v1/connectors/uk", changed).await;
        assert_eq!((status, after["settings"]["window"].as_u64()), (200, Some(3)), "{after}");
        let stored = app.app.as_ref().unwrap().store.managed_connector("uk").await.unwrap().unwrap();
        assert!(stored.settings.contains("\"password\":\"secret\""), "{}", stored.settings);
        wait_for("the changed connector binds again", async || {
            let (_, c) = app.get("/api/v1/connectors/uk").await;
            (c["status"]["up"] == true && c["status"]["window_size"] == 3).then_some(())
        })
        .await;
        let again = app.send(json!({"to": "+447911123424", "text": "after the change"})).await;
        assert_eq!(app.wait_for_status(&again, "delivered").await["connector"], "uk");
        let submitted = metric(&app, r#"kurier_connector_pdus_total{connector="uk",what="submitted"}"#).await;
        assert_eq!(submitted, submitted_before + 1.0, "the restarted link's submission counts on");

        // Removing it is refused while a route leads to it.
        let (status, err) = delete(&app, "/api/v1/connectors/uk").await;
        assert_eq!((status, err["error"]["code"].as_str()), (409, Some("connector_in_use")), "{err}");
        let id = route["id"].as_str().unwrap();
        assert_eq!(delete(&app, &format!("/api/v1/routes/{id}")).await.0, 204);
        assert_eq!(delete(&app, &format!("/api/v1/routes/{id}")).await.0, 404);
        assert_eq!(delete(&app, "/api/v1/connectors/uk").await.0, 204);
        let (_, list) = app.get("/api/v1/connectors").await;
        let names: Vec<&str> =
            list["connectors"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
        assert_eq!(names, ["sim"]);
        assert_eq!(
            metric(&app, r#"kurier_connector_up{connector="uk"}"#).await,
            0.0,
            "a removed link is not up"
        );
        let after_removal = app.send(json!({"to": "+447911123425", "text": "no route now"})).await;
        assert_eq!(app.wait_for_status(&after_removal, "delivered").await["connector"], "sim");
        app.stop().await;
        smsc.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_connectors_and_routes_are_refused_and_change_nothing() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let refused = [
            (json!({"kind": "sim"}), 422, "name"),
            (json!({"name": "has space", "kind": "sim"}), 422, "name"),
            (json!({"name": "x", "kind": "smtp"}), 422, "settings"),
            (json!({"name": "x"}), 422, "kind"),
            (json!({"name": "x", "kind": "smpp", "host": "127.0.0.1"}), 422, "system_id"),
            (
                json!({"name": "x", "kind": "smpp", "system_id": "a", "password": "far-too-long"}),
                422,
                "password",
            ),
            (json!({"name": "x", "kind": "sim", "hots": "typo"}), 422, "settings"),
            (json!({"name": "x", "kind": "sim", "window": 0}), 422, "window"),
            (
                json!({"name": "x", "kind": "smpp", "system_id": "a", "binds": 1_000_000_000_000u64}),
                422,
                "binds",
            ),
            (json!({"name": "x", "kind": "smpp", "system_id": "a", "window": 10_001}), 422, "window"),
            (json!({"name": "x", "kind": "smpp", "system_id": "a", "port": "x"}), 422, "port"),
        ];
        for (body, want, field) in refused {
            let (status, err) = app.post("/api/v1/connectors", body.clone()).await;
            assert_eq!(status, want, "{body} → {err}");
            assert_eq!(err["error"]["field"].as_str(), Some(field), "{body} → {err}");
        }
        let (status, err) = app.post("/api/v1/connectors", json!({"name": "sim", "kind": "sim"})).await;
        assert_eq!((status, err["error"]["code"].as_str()), (409, Some("connector_from_file")));
        let (status, _) = app.put_json("/api/v1/connectors/sim", json!({"kind": "sim"})).await;
        assert_eq!(status, 409, "the file's connectors change only in the file");
        assert_eq!(delete(&app, "/api/v1/connectors/sim").await.0, 409);
        assert_eq!(app.put_json("/api/v1/connectors/nobody", json!({"kind": "sim"})).await.0, 404);

        assert_eq!(app.post("/api/v1/connectors", json!({"name": "extra", "kind": "sim"})).await.0, 201);
        let (status, err) = app.post("/api/v1/connectors", json!({"name": "extra", "kind": "sim"})).await;
        assert_eq!((status, err["error"]["code"].as_str()), (409, Some("connector_exists")));
        let (status, err) =
            app.put_json("/api/v1/connectors/extra", json!({"name": "other", "kind": "sim"})).await;
        assert_eq!((status, err["error"]["field"].as_str()), (422, Some("name")));
        let (status, err) =
            app.put_json("/api/v1/connectors/extra", json!({"kind": "sim", "window": -1})).await;
        assert_eq!(status, 422, "{err}");
        let (_, extra) = app.get("/api/v1/connectors/extra").await;
        assert_eq!(extra["settings"]["window"], 100, "a refused change leaves the settings: {extra}");

        for (body, field) in [
            (json!({"prefix": "44", "connector": "sim"}), "prefix"),
            (json!({"prefix": "+4x", "connector": "sim"}), "prefix"),
            (json!({"prefix": "+44", "connector": "nobody"}), "connector"),
        ] {
            let (status, err) = app.post("/api/v1/routes", body.clone()).await;
            assert_eq!((status, err["error"]["field"].as_str()), (422, Some(field)), "{body} → {err}");
        }
        assert_eq!(app.post("/api/v1/routes", json!({"prefix": "+44", "connector": "extra"})).await.0, 201);
        let (status, err) = app.post("/api/v1/routes", json!({"prefix": "+44", "connector": "extra"})).await;
        assert_eq!((status, err["error"]["code"].as_str()), (409, Some("route_exists")));
        let (_, routes) = app.get("/api/v1/routes").await;
        assert_eq!(routes["routes"].as_array().unwrap().len(), 1, "{routes}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_stored_connector_that_fails_the_checks_is_skipped_and_can_still_be_removed() {
    on_each_backend(|b| async move {
        let a = TestApp::start(&b).await;
        // Stored before the caps existed (or written by hand): more
        // sessions than any node should build.
        let settings = json!({"host": "127.0.0.1", "port": 9, "system_id": "k", "binds": 65}).to_string();
        let store = &a.app.as_ref().unwrap().store;
        assert!(store.insert_managed_connector("huge", "smpp", &settings, 1).await.unwrap());
        let route = store
            .insert_managed_route(RouteWrite { prefix: "+44", connector: "huge", priority: 0 }, 1)
            .await
            .unwrap()
            .unwrap();
        let db_url = a.db.as_ref().unwrap().url.clone();
        let second = kurier::app::App::start(
            common::test_config(&db_url),
            kurier::app::AdminSeed { password: None, api_key: None },
        )
        .await
        .expect("a node starts beside a stored connector it cannot run");
        let on_b = format!("http://{}", second.local_addr());
        assert_eq!(connector_names(&a, &on_b).await, ["sim"], "the bad one is not started");
        // Its route is listed, marked, and named by id when it blocks the removal.
        let call = |method: &str, path: &str| {
            let req = match method {
                "GET" => a.http.get(format!("{on_b}{path}")),
                _ => a.http.delete(format!("{on_b}{path}")),
            };
            async move {
                let resp = req.bearer_auth(common::API_KEY).send().await.unwrap();
                (resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (_, routes) = call("GET", "/api/v1/routes").await;
        let listed = &routes["routes"][0];
        assert_eq!(
            (&listed["id"], &listed["connector"], &listed["running"], &listed["up"]),
            (&json!(route.id), &json!("huge"), &json!(false), &json!(false)),
            "{routes}"
        );
        let (status, err) = call("DELETE", "/api/v1/connectors/huge").await;
        assert_eq!((status, err["error"]["code"].as_str()), (409, Some("connector_in_use")), "{err}");
        assert!(err["error"]["message"].as_str().unwrap().contains(&route.id), "{err}");
        assert_eq!(call("DELETE", &format!("/api/v1/routes/{}", route.id)).await.0, 204);
        let (status, body) = call("DELETE", "/api/v1/connectors/huge").await;
        assert_eq!(status, 204, "the API that removes it is up: {body}");
        assert!(store.managed_connector("huge").await.unwrap().is_none());
        second.stop().await.expect("clean stop");
        a.stop().await;
    })
    .await;
}

#[tokio::test]
async fn messages_waiting_for_a_removed_connector_are_routed_again_without_using_up_an_attempt() {
    on_each_backend(|b| async move {
        // One attempt each: a message given back must not count as tried,
        // or it would end `failed` though no SMSC ever saw it.
        let app = TestApp::start_with(&b, |c| c.dispatch.max_attempts = 1).await;
        // A slow simulated link: one submission at a time, each answered
        // after a second, so the rest wait in its outbox.
        let slow = json!({"name": "slow", "kind": "sim", "window": 1, "submit_delay_ms": 1000, "receipt_delay_ms": 10});
        assert_eq!(app.post("/api/v1/connectors", slow).await.0, 201);
        let (_, route) = app.post("/api/v1/routes", json!({"prefix": "+44", "connector": "slow"})).await;
        // Routed messages wait for their own link, never the simulator.
        wait_until_up(&app, "slow").await;
        let ids: Vec<String> = {
            let mut ids = Vec::new();
            for i in 0..5 {
                ids.push(app.send(json!({"to": format!("+4479111234{i:02}"), "text": "wait"})).await);
            }
            ids
        };
        wait_for("the slow link takes the first", async || {
            let (_, c) = app.get("/api/v1/connectors/slow").await;
            (c["status"]["submitted"].as_u64() >= Some(1)).then_some(())
        })
        .await;
        // Every message claimed (the rest waiting in the slow link's
        // outbox) before the route goes; one claimed later would go to
        // `sim` directly, with nothing to give back.
        wait_for("every message claimed", async || {
            for id in &ids {
                let (_, m) = app.get(&format!("/api/v1/messages/{id}")).await;
                if m["status"] == "queued" {
                    return None;
                }
            }
            Some(())
        })
        .await;
        let id = route["id"].as_str().unwrap();
        assert_eq!(delete(&app, &format!("/api/v1/routes/{id}")).await.0, 204);
        assert_eq!(delete(&app, "/api/v1/connectors/slow").await.0, 204);
        // Those the slow link took keep its answer (their receipts went with
        // it); the others come back and go by `sim`.
        let mut rerouted = 0;
        for id in &ids {
            let m = wait_for("each message settles", async || {
                let (_, m) = app.get(&format!("/api/v1/messages/{id}")).await;
                let settled = (m["connector"] == "sim" && m["status"] == "delivered")
                    || (m["connector"] == "slow" && (m["status"] == "sent" || m["status"] == "delivered"))
                    || m["status"] == "failed";
                settled.then_some(m)
            })
            .await;
            // A message given back says so in its history.
            let said = m["events"].as_array().unwrap().iter().any(|e| {
                e["detail"].as_str().is_some_and(|d| d.contains("connector 'slow' was removed before sending it"))
            });
            if said {
                assert_eq!(
                    (m["status"].as_str(), m["connector"].as_str(), m["attempts"].as_i64()),
                    (Some("delivered"), Some("sim"), Some(1)),
                    "given back untried, then sent by the other connector at its one attempt: {m}"
                );
                rerouted += 1;
            }
        }
        // The link takes one message a second, so one or two were its own.
        assert!(rerouted >= 3, "the waiting messages were given back and went by the other connector ({rerouted} of 5)");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn another_node_on_the_same_database_runs_the_stored_connectors_within_seconds() {
    on_each_backend(|b| async move {
        let a = TestApp::start(&b).await;
        let db_url = a.db.as_ref().unwrap().url.clone();
        let second = kurier::app::App::start(
            common::test_config(&db_url),
            kurier::app::AdminSeed { password: None, api_key: None },
        )
        .await
        .expect("the second node starts");
        let node_b = format!("http://{}", second.local_addr());
        let names_on_b = async || connector_names(&a, &node_b).await;

        assert_eq!(a.post("/api/v1/connectors", json!({"name": "extra", "kind": "sim"})).await.0, 201);
        wait_for("the other node starts it", async || (names_on_b().await == ["sim", "extra"]).then_some(()))
            .await;
        assert_eq!(delete(&a, "/api/v1/connectors/extra").await.0, 204);
        wait_for("the other node retires it", async || (names_on_b().await == ["sim"]).then_some(())).await;
        second.stop().await.expect("clean stop");
        a.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_routed_message_waits_for_its_own_link_and_never_falls_back_to_the_simulator() {
    on_each_backend(|b| async move {
        let smsc = smsc(SimSettings {
            accounts: vec![("kurier".into(), "secret".into())],
            ..SimSettings::default()
        })
        .await;
        let app = TestApp::start(&b).await;
        // A wrong password: the link never comes up.
        let mut body = smpp_body("uk", smsc.addr().port());
        body["password"] = json!("wrong");
        assert_eq!(app.post("/api/v1/connectors", body).await.0, 201);
        assert_eq!(app.post("/api/v1/routes", json!({"prefix": "+44", "connector": "uk"})).await.0, 201);
        let id = app.send(json!({"to": "+447911123423", "text": "only via uk"})).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let (_, m) = app.get(&format!("/api/v1/messages/{id}")).await;
        assert_eq!(m["status"], "sending", "it waits for uk, not the always-up simulator: {m}");
        // Unrouted numbers still go to the first connector, the simulator.
        let other = app.send(json!({"to": "+48600100200", "text": "unrouted"})).await;
        assert_eq!(app.wait_for_status(&other, "delivered").await["connector"], "sim");
        // Its link comes up: it goes there.
        let mut fixed = smpp_body("uk", smsc.addr().port());
        fixed["password"] = json!("secret");
        assert_eq!(app.put_json("/api/v1/connectors/uk", fixed).await.0, 200);
        assert_eq!(app.wait_for_status(&id, "delivered").await["connector"], "uk");
        assert_eq!(smsc.received().len(), 1);
        app.stop().await;
        smsc.stop().await;
    })
    .await;
}

#[tokio::test]
async fn stopping_never_waits_for_room_in_a_full_outbox() {
    on_each_backend(|b| async move {
        // An SMSC that takes one submission and answers it an hour later.
        let smsc =
            smsc(SimSettings { submit_delay: Duration::from_secs(3_600), ..SimSettings::default() }).await;
        let app = TestApp::start(&b).await;
        let mut body = smpp_body("uk", smsc.addr().port());
        body["window"] = json!(1);
        assert_eq!(app.post("/api/v1/connectors", body).await.0, 201);
        assert_eq!(app.post("/api/v1/routes", json!({"prefix": "+44", "connector": "uk"})).await.0, 201);
        wait_until_up(&app, "uk").await;
        // More than its outbox holds (1,024): the dispatcher's hand-over waits.
        for batch in 0..2 {
            let to: Vec<String> = (0..1_000).map(|i| format!("+4479111{batch}{i:04}")).collect();
            let (status, resp) = app.post("/api/v1/messages", json!({"to": to, "text": "wait"})).await;
            assert_eq!(status, 202, "{resp}");
        }
        wait_for("the outbox fills", async || {
            let (_, list) = app.get("/api/v1/messages?status=sending&limit=500").await;
            (list["messages"].as_array().is_some_and(|m| m.len() == 500)).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        tokio::time::timeout(Duration::from_secs(40), app.stop()).await.expect("the stop does not hang");
        smsc.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_node_whose_links_are_all_down_leaves_messages_in_the_queue() {
    on_each_backend(|b| async move {
        // Nothing listens on the port the connector dials.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let app = TestApp::start_with(&b, |c| {
            let smpp = kurier::config::SmppConfig {
                host: "127.0.0.1".into(),
                port,
                reconnect_min_ms: 50,
                reconnect_max_ms: 200,
                ..Default::default()
            };
            c.connectors = vec![kurier::config::ConnectorConfig {
                name: "down".into(),
                settings: kurier::config::ConnectorSettings::Smpp(smpp),
            }];
        })
        .await;
        let id = app.send(json!({"to": "+48600100200", "text": "later"})).await;
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let (_, m) = app.get(&format!("/api/v1/messages/{id}")).await;
        assert_eq!(m["status"], "queued", "not claimed into an outbox that cannot send: {m}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn changing_a_connector_never_opens_more_sessions_than_configured() {
    on_each_backend(|b| async move {
        // Answers a submission only after 2 s: the old session has one
        // outstanding when the change comes, and drains before it unbinds.
        let smsc = smsc(SimSettings { submit_delay: Duration::from_secs(2), ..SimSettings::default() }).await;
        let app = TestApp::start(&b).await;
        let mut body = smpp_body("uk", smsc.addr().port());
        body["response_timeout_secs"] = json!(3);
        assert_eq!(app.post("/api/v1/connectors", body.clone()).await.0, 201);
        assert_eq!(app.post("/api/v1/routes", json!({"prefix": "+44", "connector": "uk"})).await.0, 201);
        wait_until_up(&app, "uk").await;
        let slow = app.send(json!({"to": "+447911123423", "text": "answered late"})).await;
        wait_for("the SMSC has the submission", async || (smsc.stats().submits == 1).then_some(())).await;

        body["window"] = json!(3);
        let (status, after) = app.put_json("/api/v1/connectors/uk", body).await;
        assert_eq!(status, 200, "{after}");
        let mut most = 0;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(4) {
            most = most.max(smsc.stats().binds_now);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(most, 1, "one bind configured, one session at a time");
        wait_for("the new session binds", async || {
            let (_, c) = app.get("/api/v1/connectors/uk").await;
            (c["status"]["up"] == true && c["status"]["window_size"] == 3).then_some(())
        })
        .await;
        app.wait_for_status(&slow, "delivered").await;
        let again = app.send(json!({"to": "+447911123424", "text": "after the change"})).await;
        assert_eq!(app.wait_for_status(&again, "delivered").await["connector"], "uk");
        app.stop().await;
        smsc.stop().await;
    })
    .await;
}
