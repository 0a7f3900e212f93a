//! Interoperability with SMPP peers not written here (see interop/README.md).
//! Each test runs when its variable names the peer's script, as `.ci/run`
//! does; without it the test has nothing to talk to and returns.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Backend, TestApp};
use kurier::config::{ConnectorConfig, ConnectorSettings, LongMessages, Secret, SmppConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Starts the Node SMSC and returns it with its SMPP and HTTP ports.
async fn start_node_smsc(script: &str) -> (tokio::process::Child, u16, u16) {
    let mut child = Command::new("node")
        .arg(script)
        .env("SUBMIT_DELAY_MS", "30")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("node SMSC starts")
        .unwrap()
        .expect("a LISTENING line");
    let ports: Vec<u16> =
        line.strip_prefix("LISTENING ").unwrap().split(' ').map(|p| p.parse().unwrap()).collect();
    (child, ports[0], ports[1])
}

#[tokio::test]
async fn kurier_talks_to_an_smsc_built_on_node_smpp() {
    let Ok(script) = std::env::var("KURIER_TEST_NODE_SMSC") else {
        eprintln!("KURIER_TEST_NODE_SMSC is not set; skipping");
        return;
    };
    let (_node, smpp_port, http_port) = start_node_smsc(&script).await;
    let app = TestApp::start_with(&Backend::Sqlite, |c| {
        c.connectors = vec![ConnectorConfig {
            name: "node".into(),
            settings: ConnectorSettings::Smpp(SmppConfig {
                port: smpp_port,
                system_id: "kurier".into(),
                password: Secret::new("pw"),
                window: 4,
                throughput: 40,
                long_messages: LongMessages::Udh8,
                response_timeout_secs: 5,
                ..SmppConfig::default()
            }),
        }];
    })
    .await;
    let control = format!("http://127.0.0.1:{http_port}");

    let to: Vec<String> = (0..80).map(|i| format!("+48600{i:06}")).collect();
    let (status, _) =
        app.post("/api/v1/messages", json!({"to": to, "text": "interop", "from": "Kurier"})).await;
    assert_eq!(status, 202);
    let long = "Zażółć gęślą jaźń — длинное сообщение по-русски. ".repeat(3);
    let long_id = app.send(json!({"to": "+48600999999", "text": long.clone(), "from": "Kurier"})).await;
    app.wait_until_settled().await;
    let (_, delivered) = app.get("/api/v1/messages?status=delivered&limit=500").await;
    assert_eq!(delivered["messages"].as_array().unwrap().len(), 81, "all delivered with the peer's receipts");
    let (_, m) = app.get(&format!("/api/v1/messages/{long_id}")).await;
    assert_eq!(m["parts"].as_array().map(Vec::len), Some(3), "{m}");

    let stats: Value = app.http.get(format!("{control}/stats")).send().await.unwrap().json().await.unwrap();
    let received = stats["received"].as_array().unwrap();
    let got_long = received.iter().find(|r| r["to"] == "48600999999").expect("long message at the peer");
    assert_eq!(got_long["text"].as_str().unwrap(), long, "the peer reassembled the same text");
    assert_eq!(got_long["parts"], 3);
    assert!(stats["max_window"].as_u64().unwrap() <= 4, "window counted at the peer: {stats}");
    // One second at the peer may straddle two of our token-bucket seconds.
    assert!(stats["peak_per_second"].as_u64().unwrap() <= 40 + 4, "throughput counted at the peer: {stats}");

    let mo = json!({"from": "+48600100200", "to": "7100", "text": "STOP"});
    let resp = app.http.post(format!("{control}/mo")).json(&mo).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    for _ in 0..100 {
        let (_, inbound) = app.get("/api/v1/inbound").await;
        if let Some(m) = inbound["messages"].as_array().unwrap().first() {
            assert_eq!(
                (m["from"].as_str(), m["to"].as_str(), m["text"].as_str()),
                (Some("+48600100200"), Some("7100"), Some("STOP"))
            );
            app.stop().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the MO message never arrived");
}

#[tokio::test]
async fn a_python_smpplib_client_talks_to_kurier_smsc_sim() {
    let Ok(script) = std::env::var("KURIER_TEST_SMPPLIB") else {
        eprintln!("KURIER_TEST_SMPPLIB is not set; skipping");
        return;
    };
    kurier::install_crypto_provider();
    // Port 0: the simulator says which ports it got (ports picked here and
    // freed could be taken by a test running alongside before it binds).
    let mut sim = Command::new(env!("CARGO_BIN_EXE_kurier"))
        .args(["smsc-sim", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kurier smsc-sim starts");
    let out = std::fs::File::from(sim.stdout.take().unwrap().into_owned_fd().unwrap());
    let said = common::said(out, &["SMSC simulator:", "Control API:"]);
    let (smpp_port, http_port) = (common::port_of(&said.words[0]), common::port_of(&said.words[1]));
    let http = reqwest::Client::new();
    let control = format!("http://127.0.0.1:{http_port}");
    let python = std::env::var("KURIER_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args([script.as_str(), &smpp_port.to_string(), &http_port.to_string()])
        .output()
        .await
        .expect("python runs");
    assert!(out.status.success(), "smpplib client failed: {}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(out.stdout.trim_ascii()).expect("one JSON line");
    let parts = seen["long_parts"].as_u64().unwrap();
    assert!(parts >= 2, "the long text went in several parts: {seen}");
    let expected = 20 + parts;
    assert_eq!(seen["submitted"].as_u64(), Some(expected), "{seen}");
    assert_eq!(seen["receipts"].as_u64(), Some(expected), "a receipt per part: {seen}");
    assert_eq!(seen["delivered"].as_u64(), Some(expected), "{seen}");
    assert_eq!(seen["mo"][0]["text"], "Привет!", "{seen}");
    assert_eq!(seen["mo"][0]["from"], "48600100200", "{seen}");

    let messages: Value =
        http.get(format!("{control}/messages?limit=100")).send().await.unwrap().json().await.unwrap();
    let list = messages.as_array().or_else(|| messages["messages"].as_array()).expect("a list of messages");
    let long =
        list.iter().find(|m| m["parts"].as_u64() == Some(parts)).expect("the long message, reassembled");
    assert_eq!(long["text"], seen["long_text"], "the simulator reassembled smpplib's parts");
}
