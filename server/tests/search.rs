//! Full-text search of the history as a user meets it: `q` on
//! `GET /api/v1/messages` and `GET /api/v1/inbound`, sent and received
//! messages alike, without regard to case or diacritics, with the other
//! filters and cursor pages; and the index built for messages stored before
//! it existed. On SQLite and on PostgreSQL.

mod common;

use common::{FreshDb, TestApp, on_each_backend};
use kurier::connectors::InboundSms;
use kurier::domain::{MessageText, PhoneNumber, new_id};
use kurier::storage::{MessageFilter, NewMessage, Outcome, RetryPolicy, SearchQuery, Store, now_micros};
use serde_json::{Value, json};

const RETRY: RetryPolicy =
    RetryPolicy { max_attempts: 3, base_ms: 10, max_ms: 100, receipt_check_ms: 60_000 };

/// Stores a message from a phone the way the recorder does.
async fn receive(app: &TestApp, from: &str, text: &str) {
    let sms =
        InboundSms { from: from.into(), to: "7100".into(), text: text.into(), concat: None, smsc_id: None };
    let store = &app.app.as_ref().unwrap().store;
    store
        .apply_outcomes(&mut vec![Outcome::Inbound { connector: "sim".into(), sms }], RETRY, now_micros())
        .await
        .unwrap();
}

/// The texts a listing returned, in its order.
fn texts(list: &Value) -> Vec<String> {
    list["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn sent_and_received_messages_are_found_by_words_whatever_their_case_and_diacritics() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        for (to, text, tags) in [
            ("+48600100200", "Gorzka żółć, gęślą jaźń", json!([])),
            ("+48600100201", "Brak prądu w Łodzi #awaria", json!([])),
            ("+79161234567", "АВАРИЯ на подстанции №5", json!(["siec"])),
            ("+79161234568", "Авария устранена, ёлка горит", json!([])),
            ("+359881234567", "Аварията е отстранена", json!([])),
            ("+48600100202", "Order 1001 shipped", json!([])),
        ] {
            app.send(json!({"to": to, "text": text, "tags": tags})).await;
        }
        receive(&app, "+48600100200", "Dzięki, ŻÓŁĆ już nie boli").await;
        receive(&app, "+48600100203", "Kiedy wróci prąd?").await;
        app.wait_until_settled().await;

        let cases: &[(&str, &[&str])] = &[
            ("/api/v1/messages?q=zolc", &["Dzięki, ŻÓŁĆ już nie boli", "Gorzka żółć, gęślą jaźń"]),
            ("/api/v1/messages?q=ZOLC&direction=outbound", &["Gorzka żółć, gęślą jaźń"]),
            ("/api/v1/inbound?q=%C5%BC%C3%B3%C5%82%C4%87", &["Dzięki, ŻÓŁĆ już nie boli"]), // żółć
            // АВАРИЯ (whole words; the Bulgarian "Аварията" is another word)
            (
                "/api/v1/messages?q=%D0%90%D0%92%D0%90%D0%A0%D0%98%D0%AF",
                &["Авария устранена, ёлка горит", "АВАРИЯ на подстанции №5"],
            ),
            // авари* (a prefix reaches every form)
            (
                "/api/v1/messages?q=%D0%B0%D0%B2%D0%B0%D1%80%D0%B8*",
                &["Аварията е отстранена", "Авария устранена, ёлка горит", "АВАРИЯ на подстанции №5"],
            ),
            ("/api/v1/messages?q=%D0%B5%D0%BB%D0%BA%D0%B0", &["Авария устранена, ёлка горит"]), // елка
            ("/api/v1/messages?q=pradu%20brak", &["Brak prądu w Łodzi #awaria"]),
            ("/api/v1/messages?q=%22brak%20pradu%22", &["Brak prądu w Łodzi #awaria"]),
            ("/api/v1/messages?q=%22pradu%20brak%22", &[]),
            ("/api/v1/messages?q=prad*", &["Kiedy wróci prąd?", "Brak prądu w Łodzi #awaria"]),
            ("/api/v1/messages?q=prad", &["Kiedy wróci prąd?"]),
            ("/api/v1/messages?q=lodzi%20awaria&tag=awaria", &["Brak prądu w Łodzi #awaria"]),
            ("/api/v1/messages?q=5&tag=siec", &["АВАРИЯ на подстанции №5"]),
            ("/api/v1/messages?q=1001&to=%2B48600100202", &["Order 1001 shipped"]),
            ("/api/v1/messages?q=1001&to=%2B48600100200", &[]),
            ("/api/v1/messages?q=zolc&status=delivered", &["Gorzka żółć, gęślą jaźń"]),
            ("/api/v1/messages?q=zolc&status=received", &["Dzięki, ŻÓŁĆ już nie boli"]),
            ("/api/v1/messages?q=zolc&until=2000-01-01T00:00:00Z", &[]),
            (
                "/api/v1/messages?q=zolc&since=2000-01-01T00:00:00Z",
                &["Dzięki, ŻÓŁĆ już nie boli", "Gorzka żółć, gęślą jaźń"],
            ),
            ("/api/v1/messages?q=nothing%20like%20this", &[]),
        ];
        for (path, want) in cases {
            let (status, list) = app.get(path).await;
            assert_eq!(status, 200, "{path}: {list}");
            assert_eq!(texts(&list), *want, "{path}");
        }

        // Narrowed by a contact or a group: its number's messages, both ways.
        let (status, c) =
            app.post("/api/v1/contacts", json!({"phone": "+48600100200", "name": "Zofia"})).await;
        assert_eq!(status, 201, "{c}");
        let (status, g) = app.post("/api/v1/groups", json!({"name": "Gorzkie"})).await;
        assert_eq!(status, 201, "{g}");
        let (cid, gid) = (c["id"].as_str().unwrap(), g["id"].as_str().unwrap());
        let (status, _) =
            app.post(&format!("/api/v1/groups/{gid}/members"), json!({"contact_ids": [cid]})).await;
        assert!(status < 300, "{status}");
        let both = ["Dzięki, ŻÓŁĆ już nie boli", "Gorzka żółć, gęślą jaźń"];
        for path in
            [format!("/api/v1/messages?q=zolc&contact={cid}"), format!("/api/v1/messages?q=zolc&group={gid}")]
        {
            assert_eq!(texts(&app.get(&path).await.1), both, "{path}");
        }
        assert_eq!(
            texts(&app.get(&format!("/api/v1/messages?q=prad*&contact={cid}")).await.1),
            Vec::<String>::new()
        );

        let long = "slowo ".repeat(100);
        for q in ["%25%25%20_", "a*", long.as_str(), "%22%22"] {
            let (status, resp) = app.get(&format!("/api/v1/messages?q={q}")).await;
            assert_eq!(
                (status, resp["error"]["code"].as_str()),
                (400, Some("invalid_parameter")),
                "q={q}: {resp}"
            );
            assert_eq!(resp["error"]["field"], "q", "{resp}");
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn search_results_page_with_a_cursor_in_the_order_of_the_whole_history() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        // Many in one request (they share milliseconds), some one by one,
        // and others in between that do not match.
        let batch: Vec<String> = (0..40).map(|i| format!("+4860020{i:04}")).collect();
        app.send(json!({"to": batch, "text": "Komunikat: awaria sieci"})).await;
        for i in 0..12 {
            app.send(json!({"to": "+48600300400", "text": format!("Awaria nr {i}")})).await;
            app.send(json!({"to": "+48600300401", "text": format!("Wszystko działa {i}")})).await;
        }
        receive(&app, "+48600300400", "awaria? u mnie też").await;

        let (_, all) = app.get("/api/v1/messages?limit=500").await;
        let matching = |to: Option<&str>| -> Vec<String> {
            all["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["text"].as_str().unwrap().to_lowercase().contains("awaria"))
                .filter(|m| to.is_none_or(|to| m["to"] == to))
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(matching(None).len(), 53);
        assert_eq!(matching(Some("+48600300400")).len(), 12);

        for (extra, want) in [("", matching(None)), ("&to=%2B48600300400", matching(Some("+48600300400")))] {
            let mut got = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let after = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
                let (status, page) =
                    app.get(&format!("/api/v1/messages?q=awaria&limit=7{extra}{after}")).await;
                assert_eq!(status, 200, "{page}");
                let ids = page["messages"].as_array().unwrap();
                assert!(ids.len() <= 7);
                got.extend(ids.iter().map(|m| m["id"].as_str().unwrap().to_owned()));
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
            }
            assert_eq!(got, want, "pages of 7 in the order of the whole history{extra}");
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn messages_stored_before_the_search_index_existed_are_indexed_when_it_is_created() {
    on_each_backend(|b| async move {
        let db = FreshDb::new(&b).await;
        let store = Store::open(&db.url, 4, "normal").await.unwrap();
        let (account, _key) = store.create_account("acme").await.unwrap();
        let messages: Vec<NewMessage> = ["Zażółć gęślą jaźń", "Ёлка", "Hello"]
            .iter()
            .map(|text| NewMessage {
                id: new_id(),
                to: PhoneNumber::parse("+48600100200", None).unwrap(),
                from: None,
                text: MessageText::new(text, 10).unwrap(),
                callback_url: None,
                tags: vec![],
                send_at: None,
                campaign: None,
                transactional: false,
            })
            .collect();
        store.accept_messages(&account, &messages, None, now_micros()).await.unwrap();
        store.close().await;

        // Back to the schema before migration 6, with the messages kept.
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        // (SQLite 3.51 leaves a contentless_unindexed table's content shadow
        // table behind when it drops the table.)
        sqlx::raw_sql(
            "DROP TABLE message_search; DROP TABLE IF EXISTS message_search_content;
             DELETE FROM kurier_migrations WHERE version = 6",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;

        let store = Store::open(&db.url, 4, "normal").await.unwrap();
        let search = |q: &str| MessageFilter {
            q: Some(SearchQuery::parse(q).unwrap()),
            limit: 10,
            ..Default::default()
        };
        for (q, want) in
            [("zazolc", vec!["Zażółć gęślą jaźń"]), ("ЕЛКА", vec!["Ёлка"]), ("hel*", vec!["Hello"])]
        {
            let got: Vec<String> = store
                .list_messages(&account, &search(q))
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.text)
                .collect();
            assert_eq!(got, want, "{q}");
        }
        // PostgreSQL's other way, collecting the matches first (taken when
        // walking the history takes too long), finds the same.
        let collecting = store.clone().with_search_walk_budget(0);
        for (q, want) in
            [("zazolc", vec!["Zażółć gęślą jaźń"]), ("ЕЛКА", vec!["Ёлка"]), ("hel*", vec!["Hello"])]
        {
            let got: Vec<String> = collecting
                .list_messages(&account, &search(q))
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.text)
                .collect();
            assert_eq!(got, want, "{q}, collecting first");
        }
        // New messages are indexed after the backfilled ones.
        let mut more = messages[2].clone();
        more.id = new_id();
        store.accept_messages(&account, &[more], None, now_micros()).await.unwrap();
        assert_eq!(store.list_messages(&account, &search("hello")).await.unwrap().len(), 2);
        store.close().await;
        db.drop_db().await;
    })
    .await;
}
