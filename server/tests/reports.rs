//! Message reports over HTTP: the account's traffic by day, status,
//! connector and destination country, with totals, CSV export, and bad
//! queries refused with the parameter at fault.

mod common;

use std::time::Duration;

use common::{API_KEY, TestApp, on_each_backend};
use serde_json::{Value, json};

fn row<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no row {key} in {report}"))
}

#[tokio::test]
async fn traffic_is_counted_by_country_status_connector_and_day() {
    on_each_backend(|backend| async move {
        let app = TestApp::start(&backend).await;
        // Three to Poland (one of two segments), one to Bulgaria, one reply from Poland.
        app.post("/api/v1/messages", json!({"to": ["+48600100200", "+48600100201"], "text": "Hi"})).await;
        app.send(json!({"to": "+48600100202", "text": "x".repeat(200)})).await;
        app.send(json!({"to": "+359881234567", "text": "Здравей"})).await;
        // A three-part message to Poland, scheduled and canceled: never sent.
        let later = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
        let canceled =
            app.send(json!({"to": "+48600100203", "text": "y".repeat(400), "send_at": later})).await;
        let (status, body) = app.post(&format!("/api/v1/messages/{canceled}/cancel"), json!({})).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("canceled")), "{body}");
        let (status, _) = app
            .post(
                "/api/v1/connectors/sim/inbound",
                json!({"from": "+48600100200", "to": "7100", "text": "ok"}),
            )
            .await;
        assert_eq!(status, 202);
        app.wait_until_settled().await;
        let mut received = 0;
        for _ in 0..200 {
            received = app.get("/api/v1/inbound").await.1["messages"].as_array().unwrap().len();
            if received == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(received, 1);

        let (status, by_country) = app.get("/api/v1/reports/messages?by=country").await;
        assert_eq!(status, 200, "{by_country}");
        let pl = row(&by_country, "PL");
        assert_eq!(pl["label"], "+48");
        assert_eq!((pl["sent"].as_i64(), pl["delivered"].as_i64()), (Some(3), Some(3)), "{pl}");
        assert_eq!(pl["received"], 1);
        assert_eq!(pl["segments"], 4, "two one-part messages and a two-part one, not the canceled one");
        assert_eq!(pl["canceled"], 1, "{pl}");
        let bg = row(&by_country, "BG");
        assert_eq!((bg["sent"].as_i64(), bg["received"].as_i64()), (Some(1), Some(0)));
        assert_eq!(by_country["rows"][0]["key"], "PL", "the biggest first");
        assert_eq!(by_country["total"]["sent"], 4);
        assert_eq!(by_country["total"]["received"], 1);
        assert_eq!(by_country["total"]["canceled"], 1);
        assert_eq!(by_country["total"]["segments"], 5, "the segments that went out");

        let (_, by_status) = app.get("/api/v1/reports/messages?by=status").await;
        assert_eq!(row(&by_status, "delivered")["delivered"], 4);
        assert_eq!(row(&by_status, "received")["received"], 1);
        let canceled_row = row(&by_status, "canceled");
        assert_eq!(
            (canceled_row["canceled"].as_i64(), canceled_row["segments"].as_i64()),
            (Some(1), Some(0))
        );

        let (_, by_connector) = app.get("/api/v1/reports/messages?by=connector").await;
        assert_eq!(row(&by_connector, "sim")["sent"], 4, "{by_connector}");

        let (_, by_day) = app.get("/api/v1/reports/messages?time_zone=Europe/Sofia").await;
        assert_eq!(by_day["by"], "day");
        assert_eq!(by_day["time_zone"], "Europe/Sofia");
        let days = by_day["rows"].as_array().unwrap();
        assert!(days.len() >= 30, "every day of the window, quiet ones too: {}", days.len());
        let today = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Sofia).date_naive().to_string();
        assert_eq!(days.last().unwrap()["key"], today);
        assert_eq!(days.last().unwrap()["sent"], 4);
        assert_eq!(days.iter().map(|d| d["sent"].as_i64().unwrap()).sum::<i64>(), 4);

        // A window before anything was sent is empty, with zero totals.
        let (_, empty) = app
            .get("/api/v1/reports/messages?by=status&since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z")
            .await;
        assert_eq!(empty["rows"], json!([]));
        assert_eq!(empty["total"]["sent"], 0);

        let csv = app
            .http
            .get(app.url("/api/v1/reports/messages.csv?by=country"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // The file starts with a byte order mark, for Excel.
        let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
        assert!(lines[0].starts_with("country,,sent,delivered,undelivered,failed,waiting,canceled"), "{csv}");
        assert!(lines.iter().any(|l| l.starts_with("PL,+48,3,3")), "{csv}");
        assert!(lines.last().unwrap().starts_with("total,,4,4"), "{csv}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_report_queries_name_the_parameter() {
    on_each_backend(|backend| async move {
        let app = TestApp::start(&backend).await;
        for (query, field) in [
            ("by=planet", "by"),
            ("since=yesterday", "since"),
            ("since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since"),
            ("since=2024-01-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since"),
            ("time_zone=Mars/Olympus", "time_zone"),
        ] {
            let (status, body) = app.get(&format!("/api/v1/reports/messages?{query}")).await;
            assert_eq!(status, 400, "{query}: {body}");
            assert_eq!(body["error"]["field"], field, "{query}: {body}");
        }
        app.stop().await;
    })
    .await;
}
