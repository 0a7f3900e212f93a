//! The storage interface's promises, checked on SQLite and PostgreSQL alike:
//! claims never overlap, leases expire, receipts find their message (or
//! part) in any order, inbound parts become one message.

mod common;

use common::{Backend, FreshDb, on_each_backend};
use kurier::connectors::InboundSms;
use kurier::domain::{Currency, MessageStatus, MessageText, PhoneNumber, Prefix, new_id};
use kurier::storage::{
    Accepted, AccountBillingWrite, AttemptRecord, AttemptResult, Audience, CampaignRecord, CampaignRef,
    DeliveryFilter, Email, EventRecord, Grouping, IdempotentRequest, InboundLimits, InboundOutcome,
    MailResult, MessageFilter, MessageRecord, NewCampaign, NewDelivery, NewMail, NewMessage,
    OPTED_OUT_REASON, Outcome, PriceEntry, ReplyLimit, RetryPolicy, RunClaim, SmsHandOver, Store, StoreError,
    TariffWrite, now_micros,
};
use serde_json::json;

const RETRY: RetryPolicy =
    RetryPolicy { max_attempts: 3, base_ms: 10, max_ms: 100, receipt_check_ms: 60_000 };

async fn store_with_account(b: &Backend) -> (Store, FreshDb, String) {
    let db = FreshDb::new(b).await;
    let store = Store::open(&db.url, 4, "normal").await.unwrap();
    let (account, _key) = store.create_account("acme").await.unwrap();
    (store, db, account)
}

async fn queue(store: &Store, account: &str, n: usize) -> Vec<String> {
    queue_text(store, account, n, "hello").await
}

async fn queue_text(store: &Store, account: &str, n: usize, text: &str) -> Vec<String> {
    let messages: Vec<NewMessage> = (0..n)
        .map(|i| NewMessage {
            id: new_id(),
            to: PhoneNumber::parse(&format!("+48600{i:06}"), None).unwrap(),
            from: None,
            text: MessageText::new(text, 10).unwrap(),
            callback_url: None,
            tags: vec![],
            send_at: None,
            campaign: None,
            transactional: false,
        })
        .collect();
    store.accept_messages(account, &messages, None, now_micros()).await.unwrap();
    messages.into_iter().map(|m| m.id).collect()
}

/// A submit answer from connector `op`, one segment per part.
fn submitted(id: &str, smsc_ids: &[impl AsRef<str>]) -> Outcome {
    Outcome::Submitted {
        message_id: id.to_owned(),
        connector: "op".into(),
        smsc_ids: smsc_ids.iter().map(|s| s.as_ref().to_owned()).collect(),
        segments: smsc_ids.len(),
    }
}

/// A delivery receipt from connector `op`.
fn receipt(smsc_id: &str, status: Option<MessageStatus>, detail: &str) -> Outcome {
    Outcome::Receipt { connector: "op".into(), smsc_id: smsc_id.into(), status, detail: detail.into() }
}

async fn status_of(store: &Store, account: &str, id: &str) -> MessageStatus {
    store.get_message(account, id).await.unwrap().unwrap().status
}

#[tokio::test]
async fn two_nodes_claiming_at_once_never_get_the_same_message() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let ids = queue(&store, &account, 300).await;
        let now = now_micros();
        let (a, c) = tokio::join!(
            store.claim_due("node-a", now, now + 60_000_000, 200),
            store.claim_due("node-b", now, now + 60_000_000, 200)
        );
        let (a, c) = (a.unwrap(), c.unwrap());
        assert_eq!(a.len() + c.len(), 300);
        let mut all: Vec<&String> = a.iter().chain(c.iter()).map(|m| &m.id).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), ids.len(), "no message claimed twice");
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn an_expired_lease_puts_the_message_back_in_the_queue_but_a_renewed_one_does_not() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let ids = queue(&store, &account, 2).await;
        let now = now_micros();
        store.claim_due("dead", now, now + 1, 1).await.unwrap();
        store.claim_due("alive", now, now + 1, 1).await.unwrap();
        store.renew_leases("alive", now + 60_000_000).await.unwrap();
        let requeued = store.requeue_sending(None, now + 10, "lease expired").await.unwrap();
        assert_eq!(requeued, 1);
        let statuses =
            [status_of(&store, &account, &ids[0]).await, status_of(&store, &account, &ids[1]).await];
        assert!(statuses.contains(&MessageStatus::Queued) && statuses.contains(&MessageStatus::Sending));
        assert_eq!(store.requeue_sending(Some("alive"), now + 10, "restart").await.unwrap(), 1);
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn a_receipt_that_overtakes_its_submit_answer_is_applied_when_the_answer_comes() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let id = queue(&store, &account, 1).await.remove(0);
        let now = now_micros();
        store.claim_due("n", now, now + 60_000_000, 10).await.unwrap();
        let early = receipt("X1", Some(MessageStatus::Delivered), "stat:DELIVRD");
        store.apply_outcomes(&mut vec![early], RETRY, now).await.unwrap();
        assert_eq!(status_of(&store, &account, &id).await, MessageStatus::Sending);
        store.apply_outcomes(&mut vec![submitted(&id, &["X1"])], RETRY, now).await.unwrap();
        assert_eq!(status_of(&store, &account, &id).await, MessageStatus::Delivered);
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn delays_too_long_to_count_put_the_next_try_far_ahead_never_in_the_past() {
    on_each_backend(|b| async move {
        let (store, _db, account) = store_with_account(&b).await;
        let huge =
            RetryPolicy { max_attempts: 3, base_ms: u64::MAX, max_ms: u64::MAX, receipt_check_ms: u64::MAX };
        let ids = queue(&store, &account, 2).await;
        let now = now_micros();
        assert_eq!(store.claim_due("n", now, now + 60_000_000, 10).await.unwrap().len(), 2);
        let mut batch = vec![
            submitted(&ids[0], &["s0"]),
            Outcome::SubmitFailed {
                message_id: ids[1].clone(),
                connector: "op".into(),
                temporary: true,
                reason: "busy".into(),
            },
        ];
        store.apply_outcomes(&mut batch, huge, now).await.unwrap();
        assert_eq!(status_of(&store, &account, &ids[1]).await, MessageStatus::Queued);
        let later = now + 1_000_000;
        assert!(
            store.claim_due("n", later, later + 60_000_000, 10).await.unwrap().is_empty(),
            "the retry is not due at once"
        );
        let checks = store.check_receipts(later, u64::MAX, None, 10).await.unwrap();
        assert!(checks.overdue.is_empty(), "the receipt check is not due at once: {:?}", checks.overdue);
    })
    .await;
}

#[tokio::test]
async fn a_mixed_batch_of_reports_is_recorded_in_the_order_it_came() {
    // On SQLite the common reports take the writer thread's path and the
    // rest the general one: the outcome must be the same as on PostgreSQL.
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let now = now_micros();
        let messages: Vec<NewMessage> = (0..6)
            .map(|i| NewMessage {
                id: new_id(),
                to: PhoneNumber::parse(&format!("+4860010020{i}"), None).unwrap(),
                from: None,
                text: MessageText::new("hello", 10).unwrap(),
                callback_url: Some("http://127.0.0.1:9/status".into()),
                tags: vec![],
                send_at: None,
                campaign: None,
                transactional: false,
            })
            .collect();
        store.accept_messages(&account, &messages, None, now).await.unwrap();
        let [a, b, c, d, e, f] = [0, 1, 2, 3, 4, 5].map(|i| messages[i].id.clone());
        assert_eq!(store.claim_due("n", now, now + 60_000_000, 10).await.unwrap().len(), 6);
        let receipt = |smsc_id: &str, status: Option<MessageStatus>| {
            receipt(smsc_id, status, &format!("{smsc_id} {status:?}"))
        };
        let mut batch = vec![
            submitted(&a, &["a1"]),
            receipt("a1", None),
            submitted(&b, &["b1", "b2"]),
            receipt("b1", Some(MessageStatus::Delivered)),
            Outcome::SubmitFailed {
                message_id: c.clone(),
                connector: "op".into(),
                temporary: false,
                reason: "invalid destination".into(),
            },
            submitted(&d, &["d1"]),
            receipt("d1", Some(MessageStatus::Rejected)),
            receipt("d1", Some(MessageStatus::Delivered)),
            receipt("e1", Some(MessageStatus::Delivered)),
            receipt("f1", Some(MessageStatus::Rejected)),
            receipt("a1", Some(MessageStatus::Delivered)),
            receipt("a1", Some(MessageStatus::Undelivered)),
        ];
        store.apply_outcomes(&mut batch, RETRY, now).await.unwrap();
        assert!(batch.is_empty(), "everything recorded");
        let statuses = [&a, &b, &c, &d, &e, &f].map(|id| id.as_str());
        let mut got = Vec::new();
        for id in statuses {
            got.push(status_of(&store, &account, id).await);
        }
        use MessageStatus::*;
        assert_eq!(got, [Delivered, Sent, Rejected, Rejected, Sending, Sending]);
        let mut batch = vec![submitted(&e, &["e1"]), receipt("b2", Some(Delivered))];
        store.apply_outcomes(&mut batch, RETRY, now).await.unwrap();
        assert_eq!(status_of(&store, &account, &e).await, Delivered, "the early receipt applied");
        assert_eq!(status_of(&store, &account, &b).await, Delivered, "every part delivered");
        let history = |id: String| {
            let store = store.clone();
            async move {
                store.message_events(&id).await.unwrap().into_iter().map(|e| e.status).collect::<Vec<_>>()
            }
        };
        assert_eq!(history(a.clone()).await, [Queued, Sending, Sent, Sent, Delivered]);
        assert_eq!(history(d.clone()).await, [Queued, Sending, Sent, Rejected], "the later receipt ignored");
        assert_eq!(history(e.clone()).await, [Queued, Sending, Sent, Delivered]);
        // An early receipt that refunds (the general path's to apply).
        let mut batch = vec![submitted(&f, &["f1"])];
        store.apply_outcomes(&mut batch, RETRY, now).await.unwrap();
        assert_eq!(status_of(&store, &account, &f).await, Rejected, "the early rejection applied");
        assert_eq!(history(f.clone()).await, [Queued, Sending, Sent, Rejected]);
        let a_events = store.message_events(&a).await.unwrap();
        assert_eq!(a_events[2].detail.as_deref(), Some("accepted by op as a1"));
        assert_eq!(a_events[4].detail.as_deref(), Some("a1 Some(Delivered)"));
        let filter = kurier::storage::DeliveryFilter { message_id: Some(&a), ..Default::default() };
        let callbacks = store.list_webhook_deliveries(&account, &filter, 10, 86_400_000_000).await.unwrap();
        let mut sent: Vec<String> = callbacks
            .iter()
            .map(|c| {
                let body: serde_json::Value = serde_json::from_str(&c.payload).unwrap();
                body["message"]["status"].as_str().unwrap().to_owned()
            })
            .collect();
        sent.sort();
        assert_eq!(sent, ["delivered", "sending", "sent", "sent"], "one callback per change");
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn a_long_message_is_delivered_when_every_part_is_and_undelivered_when_one_fails() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let ids = queue(&store, &account, 2).await;
        let now = now_micros();
        store.claim_due("n", now, now + 60_000_000, 10).await.unwrap();
        let parts = |p: &str| (1..=3).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
        let receipt = |smsc_id: &str, status| receipt(smsc_id, Some(status), "r");
        store
            .apply_outcomes(
                &mut vec![
                    submitted(&ids[0], &parts("a")),
                    submitted(&ids[1], &parts("b")),
                    receipt("a1", MessageStatus::Delivered),
                    receipt("a3", MessageStatus::Delivered),
                    receipt("b2", MessageStatus::Undelivered),
                ],
                RETRY,
                now,
            )
            .await
            .unwrap();
        assert_eq!(status_of(&store, &account, &ids[0]).await, MessageStatus::Sent, "part 2 still pending");
        assert_eq!(status_of(&store, &account, &ids[1]).await, MessageStatus::Undelivered);
        store.apply_outcomes(&mut vec![receipt("a2", MessageStatus::Delivered)], RETRY, now).await.unwrap();
        assert_eq!(status_of(&store, &account, &ids[0]).await, MessageStatus::Delivered);
        let parts = store.message_parts(&ids[0]).await.unwrap();
        assert_eq!(
            parts.iter().map(|p| (p.seq, p.status.as_str())).collect::<Vec<_>>(),
            [(1, "delivered"), (2, "delivered"), (3, "delivered")]
        );
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn inbound_parts_in_any_order_and_repeated_become_one_message() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let part = |seq: u8, text: &str| Outcome::Inbound {
            connector: "op".into(),
            sms: InboundSms {
                from: "+48600100200".into(),
                to: "7100".into(),
                text: text.into(),
                concat: Some((42, 3, seq)),
                smsc_id: None,
            },
        };
        let now = now_micros();
        store
            .apply_outcomes(&mut vec![part(3, "ść!"), part(1, "Zażółć "), part(1, "Zażółć ")], RETRY, now)
            .await
            .unwrap();
        let inbound = MessageFilter {
            direction: Some(kurier::domain::Direction::Inbound),
            limit: 10,
            ..Default::default()
        };
        assert!(store.list_messages(&account, &inbound).await.unwrap().is_empty(), "waits for part 2");
        store.apply_outcomes(&mut vec![part(2, "gęślą ja")], RETRY, now).await.unwrap();
        let got = store.list_messages(&account, &inbound).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].text, "Zażółć gęślą jaść!");
        assert_eq!(
            (got[0].status, got[0].from.as_deref(), got[0].to.as_str()),
            (MessageStatus::Received, Some("+48600100200"), "7100")
        );
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

/// Part `seq` of `total` of a long message with `reference` from our phone.
fn long_part(reference: u16, total: u8, seq: u8, text: &str) -> Outcome {
    Outcome::Inbound {
        connector: "op".into(),
        sms: InboundSms {
            from: "+48600100200".into(),
            to: "7100".into(),
            text: text.into(),
            concat: Some((reference, total, seq)),
            smsc_id: None,
        },
    }
}

async fn inbound_texts(store: &Store, account: &str) -> Vec<(String, bool)> {
    let inbound = MessageFilter {
        direction: Some(kurier::domain::Direction::Inbound),
        limit: 1000,
        ..Default::default()
    };
    let mut texts = Vec::new();
    for m in store.list_messages(account, &inbound).await.unwrap() {
        texts.push((m.text.clone(), store.is_incomplete(&m.id).await.unwrap()));
    }
    texts.sort();
    texts
}

#[tokio::test]
async fn parts_of_two_long_messages_sharing_a_reference_are_not_mixed() {
    // References are 8 bits: a phone reuses them. A message of three parts
    // (one still missing) and then one of two with the same reference.
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let now = now_micros();
        store
            .apply_outcomes(&mut vec![long_part(42, 3, 1, "A1 "), long_part(42, 3, 3, "A3")], RETRY, now)
            .await
            .unwrap();
        store
            .apply_outcomes(&mut vec![long_part(42, 2, 1, "B1 "), long_part(42, 2, 2, "B2")], RETRY, now)
            .await
            .unwrap();
        assert_eq!(inbound_texts(&store, &account).await, [("B1 B2".to_owned(), false)]);
        store.apply_outcomes(&mut vec![long_part(42, 3, 2, "A2 ")], RETRY, now).await.unwrap();
        assert_eq!(
            inbound_texts(&store, &account).await,
            [("A1 A2 A3".to_owned(), false), ("B1 B2".to_owned(), false)]
        );
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn parts_of_one_message_stored_at_once_by_two_nodes_make_the_message() {
    // On PostgreSQL each part is stored in a transaction of its own, side
    // by side; each must see the other's part or wait for it.
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let now = now_micros();
        let stores = futures_util::future::join_all((0..20u16).flat_map(|reference| {
            [(1, "first "), (2, "second")].map(|(seq, text)| {
                let store = store.clone();
                async move {
                    store.apply_outcomes(&mut vec![long_part(reference, 2, seq, text)], RETRY, now).await
                }
            })
        }))
        .await;
        assert!(stores.iter().all(Result::is_ok), "{stores:?}");
        let texts = inbound_texts(&store, &account).await;
        assert_eq!(texts.len(), 20, "{texts:?}");
        assert!(texts.iter().all(|t| *t == ("first second".to_owned(), false)), "{texts:?}");
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn long_messages_flushed_by_two_nodes_at_once_are_stored_once() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let then = now_micros();
        let mut parts: Vec<Outcome> = (0..10).map(|reference| long_part(reference, 3, 2, "middle")).collect();
        store.apply_outcomes(&mut parts, RETRY, then).await.unwrap();
        let now = then + 60_000_000;
        let (a, c) = tokio::join!(store.flush_stale_parts(now, now), store.flush_stale_parts(now, now));
        assert_eq!(a.unwrap() + c.unwrap(), 10);
        let texts = inbound_texts(&store, &account).await;
        assert_eq!(texts, vec![("middle".to_owned(), true); 10]);
        assert_eq!(store.flush_stale_parts(now, now).await.unwrap(), 0, "nothing is left");
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn a_bind_lease_has_one_holder_until_it_lapses_or_is_released() {
    on_each_backend(|b| async move {
        let (store, db, _) = store_with_account(&b).await;
        let hold = |node: &'static str, now: i64| {
            let store = store.clone();
            async move { store.hold_bind_lease("operator", 0, node, now, now + 10).await.unwrap() }
        };
        assert!(hold("a", 100).await, "a free slot is taken");
        assert!(!hold("b", 105).await, "held by a until 110");
        assert!(hold("a", 108).await, "the holder renews (until 118)");
        assert!(!hold("b", 115).await);
        assert!(hold("b", 119).await, "a lapsed lease goes to whoever asks");
        assert!(!hold("a", 120).await);
        store.release_bind_lease("operator", 0, "a").await.unwrap();
        assert!(!hold("a", 121).await, "only the holder's release counts");
        store.release_bind_lease("operator", 0, "b").await.unwrap();
        assert!(hold("a", 122).await, "a released slot is free at once");
        assert!(!hold("b", 122).await);
        assert!(
            store.hold_bind_lease("operator", 1, "b", 122, 132).await.unwrap(),
            "slots are leased one by one"
        );
        let leases = store.bind_leases().await.unwrap();
        assert_eq!(
            leases,
            vec![
                ("operator".to_owned(), 0, "a".to_owned(), 132),
                ("operator".to_owned(), 1, "b".to_owned(), 132)
            ]
        );
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn a_receipt_that_never_comes_ends_expired_after_the_expiry_and_not_before() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let ids = queue(&store, &account, 2).await;
        let now = now_micros();
        store.claim_due("n", now, now + 60_000_000, 10).await.unwrap();
        let delivered = |smsc_id: &str| receipt(smsc_id, Some(MessageStatus::Delivered), "stat:DELIVRD");
        let mut reports =
            vec![submitted(&ids[0], &["S1"]), submitted(&ids[1], &["L1", "L2"]), delivered("L1")];
        store.apply_outcomes(&mut reports, RETRY, now).await.unwrap();
        let hour = 3_600_000_000;
        let check = |at: i64, limit: usize| {
            let store = store.clone();
            async move { store.check_receipts(at, 600, Some(2 * 3_600), limit).await.unwrap() }
        };
        let first = check(now + hour, 100).await;
        assert_eq!(first.expired, 0, "not yet");
        let mut asked: Vec<&str> = first.overdue.iter().map(|o| o.smsc_id.as_str()).collect();
        asked.sort_unstable();
        assert_eq!(asked, ["L2", "S1"], "asked about instead, the part that reported not");
        assert_eq!(status_of(&store, &account, &ids[0]).await, MessageStatus::Sent);

        // At most `limit` a call: the oldest due first.
        let one = check(now + 3 * hour, 1).await;
        assert_eq!((one.expired, one.overdue.len()), (1, 0));
        assert_eq!(check(now + 3 * hour, 1).await.expired, 1);
        for id in &ids {
            let m = store.get_message(&account, id).await.unwrap().unwrap();
            assert_eq!(m.status, MessageStatus::Expired);
            assert_eq!(m.error.as_deref(), Some("no delivery report within 2 h"));
            let history = store.message_events(id).await.unwrap();
            let last = history.last().unwrap();
            assert_eq!((last.status, last.detail.as_deref()), (MessageStatus::Expired, m.error.as_deref()));
        }
        let parts = store.message_parts(&ids[1]).await.unwrap();
        assert_eq!(
            parts.iter().map(|p| (p.seq, p.status.as_str())).collect::<Vec<_>>(),
            [(1, "delivered"), (2, "expired")],
            "a part that reported keeps its report"
        );
        // A report after the give-up leaves the message expired; a part's
        // is still recorded on the part (docs/smpp.md).
        store
            .apply_outcomes(&mut vec![delivered("S1"), delivered("L2")], RETRY, now + 4 * hour)
            .await
            .unwrap();
        assert_eq!(status_of(&store, &account, &ids[0]).await, MessageStatus::Expired);
        assert_eq!(status_of(&store, &account, &ids[1]).await, MessageStatus::Expired);
        let parts = store.message_parts(&ids[1]).await.unwrap();
        assert_eq!(parts.iter().map(|p| p.status.as_str()).collect::<Vec<_>>(), ["delivered", "delivered"]);
        let last = check(now + 5 * hour, 100).await;
        assert_eq!((last.expired, last.overdue.len()), (0, 0));
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

/// `storage/key_cache.rs`: a key seen lately is served from the node's
/// cache for up to 2 s (`FRESH_FOR`).
const KEY_CACHE_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(2);

#[tokio::test]
async fn a_revoked_key_is_refused_at_once_on_its_node_and_within_two_seconds_on_another() {
    on_each_backend(|b| async move {
        let (node_a, db, _account) = store_with_account(&b).await;
        let node_b = Store::open(&db.url, 2, "normal").await.unwrap();
        let (account, key) = node_a.create_account("other").await.unwrap();
        let hash = kurier::credentials::hash_api_key(&key);
        let seen = node_b.find_api_key(&hash).await.unwrap().expect("the key is found");
        assert!(seen.revoked_at.is_none());
        node_a.find_api_key(&hash).await.unwrap().expect("cached on node a too");

        assert!(node_a.revoke_api_key(&account, &seen.key_id).await.unwrap());
        let here = node_a.find_api_key(&hash).await.unwrap().unwrap();
        assert!(here.revoked_at.is_some(), "the node that revoked it refuses it at once");
        let started = std::time::Instant::now();
        loop {
            let there = node_b.find_api_key(&hash).await.unwrap().unwrap();
            if there.revoked_at.is_some() {
                break;
            }
            assert!(
                started.elapsed() < KEY_CACHE_FRESH_FOR + std::time::Duration::from_millis(500),
                "another node still accepted the revoked key after its cache's lifetime"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        node_b.close().await;
        node_a.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn an_smsc_id_given_twice_is_the_newest_messages() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let ids = queue(&store, &account, 2).await;
        let now = now_micros();
        store.claim_due("n", now, now + 60_000_000, 10).await.unwrap();
        // The SMSC's ids wrapped around: both messages carry the same one.
        let mut reports = vec![submitted(&ids[0], &["R1"]), submitted(&ids[1], &["R1"])];
        store.apply_outcomes(&mut reports, RETRY, now).await.unwrap();
        let late = receipt("R1", Some(MessageStatus::Delivered), "stat:DELIVRD");
        store.apply_outcomes(&mut vec![late], RETRY, now).await.unwrap();
        assert_eq!(status_of(&store, &account, &ids[1]).await, MessageStatus::Delivered, "the newest");
        assert_eq!(status_of(&store, &account, &ids[0]).await, MessageStatus::Sent);
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

/// A history's statuses and details, oldest first.
fn entries(history: &[EventRecord]) -> Vec<(MessageStatus, Option<&str>)> {
    history.iter().map(|e| (e.status, e.detail.as_deref())).collect()
}

/// Every transition stored with its time, in order, whichever path wrote
/// it: the straight path keeps its entries on the message's row (its
/// trail) and a message that leaves it goes on in history rows.
#[tokio::test]
async fn a_history_reads_the_same_whichever_path_wrote_it() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let ids = queue(&store, &account, 2).await;
        let (straight, detour) = (&ids[0], &ids[1]);
        let mut now = now_micros();
        let lease = 60_000_000;
        assert_eq!(store.claim_due("n", now, now + lease, 10).await.unwrap().len(), 2);
        // The second message's node restarts while sending it: it is
        // re-queued (the general path) and claimed again.
        now += 10;
        let mut batch = vec![submitted(straight, &["s1"])];
        store.apply_outcomes(&mut batch, RETRY, now).await.unwrap();
        assert_eq!(store.requeue_sending(Some("n"), now + 1, "node restarted").await.unwrap(), 1);
        now += 10;
        assert_eq!(store.claim_due("n", now, now + lease, 10).await.unwrap().len(), 1);
        now += 10;
        let mut batch = vec![
            submitted(detour, &["d1"]),
            receipt("s1", None, "stat:ENROUTE text:line one\nline \"two\""),
            receipt("s1", Some(MessageStatus::Delivered), "stat:DELIVRD"),
            receipt("d1", Some(MessageStatus::Delivered), "stat:DELIVRD"),
        ];
        store.apply_outcomes(&mut batch, RETRY, now).await.unwrap();
        assert!(batch.is_empty());

        use MessageStatus::*;
        let oldest_first = |h: &[EventRecord]| h.windows(2).all(|w| w[0].at <= w[1].at);
        let history = store.message_events(straight).await.unwrap();
        assert!(oldest_first(&history), "{history:?}");
        assert_eq!(history.last().unwrap().at, now, "each entry keeps its own time");
        assert_eq!(
            entries(&history),
            [
                (Queued, None),
                (Sending, None),
                (Sent, Some("accepted by op as s1")),
                (Sent, Some("stat:ENROUTE text:line one\nline \"two\"")),
                (Delivered, Some("stat:DELIVRD")),
            ]
        );
        let history = store.message_events(detour).await.unwrap();
        assert_eq!(
            entries(&history),
            [
                (Queued, None),
                (Sending, None),
                (Queued, Some("node restarted")),
                (Sending, None),
                (Sent, Some("accepted by op as d1")),
                (Delivered, Some("stat:DELIVRD")),
            ]
        );
        assert!(oldest_first(&history), "{history:?}");
        assert_eq!(store.count_events_of(straight).await.unwrap(), 5);
        assert_eq!(store.count_events_with_detail("stat:DELIVRD").await.unwrap(), 2);

        // The straight path wrote no history row at all.
        {
            let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
            let rows = |id: String| {
                let pool = pool.clone();
                async move {
                    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM message_events WHERE message_id = $1")
                        .bind(id)
                        .fetch_one(&pool)
                        .await
                        .unwrap()
                }
            };
            assert_eq!(rows(straight.clone()).await, 0, "the straight path's entries are on the row");
            assert_eq!(rows(detour.clone()).await, 6, "the detour's history moved into rows");
            pool.close().await;
        }
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

/// A campaign of "Sale today" to `numbers`, started, its run open and
/// claimed by `node` for fan-out; and that run's one batch, rendered.
async fn campaign_run(
    store: &Store,
    account: &str,
    numbers: &[&str],
) -> (CampaignRecord, RunClaim, Vec<NewMessage>) {
    let now = now_micros();
    let campaign = NewCampaign {
        name: "sale".into(),
        sender: None,
        body: "Sale today".into(),
        template_id: None,
        data: serde_json::json!({}),
        audience: Audience::default(),
        numbers: numbers.iter().map(|n| (*n).to_owned()).collect(),
        tags: vec![],
        callback_url: None,
        send_at: None,
        rrule: None,
        time_zone: None,
        throughput: None,
        urgent: false,
        sender_pool: false,
        created_by: None,
    };
    let campaign = store.create_campaign(account, &campaign, now).await.unwrap();
    assert!(store.start_campaign(account, &campaign.id, now, None, now).await.unwrap());
    let campaign = store.get_campaign(account, &campaign.id).await.unwrap().unwrap();
    let run = store.open_run(&campaign, now, None, None, now).await.unwrap().unwrap();
    let claim = store.claim_run("node", now, now + 60_000_000).await.unwrap().unwrap();
    assert_eq!(claim.id, run);
    let page = store.audience_page(&campaign, None, 1_000).await.unwrap();
    let batch: Vec<NewMessage> = page
        .iter()
        .map(|m| NewMessage {
            id: new_id(),
            to: PhoneNumber::parse(&m.phone, None).unwrap(),
            from: None,
            text: MessageText::new("Sale today", 10).unwrap(),
            callback_url: None,
            tags: vec![],
            send_at: None,
            campaign: Some(CampaignRef { campaign_id: campaign.id.clone(), run_id: run.clone() }),
            transactional: false,
        })
        .collect();
    assert_eq!(batch.len(), numbers.len());
    (campaign, claim, batch)
}

#[tokio::test]
async fn a_fan_out_batch_leaves_out_a_number_that_opted_out_after_its_audience_was_read() {
    on_each_backend(|b| async move {
        let (store, _db, account) = store_with_account(&b).await;
        let (stopped, other) = ("+48600100001", "+48600100002");
        let now = now_micros();
        // The worker reads the audience and renders its batch…
        let (campaign, claim, batch) = campaign_run(&store, &account, &[stopped, other]).await;
        let run = claim.id.clone();
        // …meanwhile the first number opts out…
        assert!(store.set_opt_out_by_api(&account, stopped, true, now_micros()).await.unwrap());
        // …and the batch is stored after it.
        let stored = store
            .store_fanout_batch(&claim, None, "node", &batch, &[], Some(other), true, now, now_micros())
            .await
            .unwrap();
        assert_eq!(stored, Some((1, 1)), "one message stored, one recipient skipped");

        let counts = store.run_counts(&run).await.unwrap();
        assert_eq!(counts.by_status.values().sum::<i64>(), 1, "{counts:?}");
        assert_eq!(counts.get(MessageStatus::Queued), 1, "{counts:?}");
        let errors = store.run_errors(&run, 10).await.unwrap();
        assert_eq!(errors, vec![(stopped.to_owned(), OPTED_OUT_REASON.to_owned())]);
        let r = store.get_run(&campaign.id, &run).await.unwrap().unwrap();
        assert_eq!((r.recipients, r.skipped), (1, 1));
    })
    .await;
}

/// `account` pays 0.05 EUR a segment to Poland and holds `balance` cents.
async fn charged(store: &Store, account: &str, balance: i64) {
    let now = now_micros();
    let currency = Currency::parse("EUR").unwrap();
    let write = TariffWrite { name: "Standard".into(), currency, inbound_price: 0, number_monthly_fee: 0 };
    let tariff = store.create_tariff(&write, now).await.unwrap();
    let poland = PriceEntry { prefix: Prefix::parse("48").unwrap(), unit_price: 5, description: None };
    store.put_prices(&tariff.id, &[poland], true, now).await.unwrap();
    let write = AccountBillingWrite { tariff_id: Some(Some(tariff.id)), ..Default::default() };
    store.set_account_billing(account, &write, now).await.unwrap();
    store.top_up(account, balance, None, None, now).await.unwrap();
}

/// An account's (balance, reserved, owed), in cents.
async fn money(store: &Store, account: &str) -> (i64, i64, i64) {
    let b = store.account_billing(account).await.unwrap().unwrap();
    (b.balance, b.reserved, b.owed)
}

/// Each way a message the connector holds comes back to the queue, for
/// the campaign messages `ids` in order: a temporary failure, a connector
/// retired before it took the message, the node handing its claims back.
async fn back_from_the_connector(store: &Store, ids: &[String]) {
    let mut reports = vec![
        Outcome::SubmitFailed {
            message_id: ids[0].clone(),
            connector: "op".into(),
            temporary: true,
            reason: "0x00000058: ESME_RTHROTTLED".into(),
        },
        Outcome::NotTaken { message_id: ids[1].clone(), connector: "op".into(), reason: "retired".into() },
    ];
    store.apply_outcomes(&mut reports, RETRY, now_micros()).await.unwrap();
    store.requeue_sending(Some("node"), now_micros(), "node stopping").await.unwrap();
}

#[tokio::test]
async fn a_canceled_campaigns_message_the_connector_gives_back_is_canceled_and_refunded() {
    on_each_backend(|b| async move {
        let (store, _db, account) = store_with_account(&b).await;
        charged(&store, &account, 100).await;
        let numbers = ["+48600100001", "+48600100002", "+48600100003"];
        let (campaign, claim, batch) = campaign_run(&store, &account, &numbers).await;
        let now = now_micros();
        let stored = store.store_fanout_batch(&claim, None, "node", &batch, &[], None, true, now, now).await;
        assert_eq!(stored.unwrap(), Some((3, 0)));
        assert_eq!(money(&store, &account).await, (85, 15, 0));
        let claimed = store.claim_due("node", now_micros(), now_micros() + 60_000_000, 10).await.unwrap();
        assert_eq!(claimed.len(), 3);
        // Canceled while all three are with the connector.
        assert!(store.cancel_campaign(&account, &campaign.id, now_micros()).await.unwrap());
        let ids: Vec<String> = batch.iter().map(|m| m.id.clone()).collect();
        back_from_the_connector(&store, &ids).await;
        for id in &ids {
            assert_eq!(status_of(&store, &account, id).await, MessageStatus::Canceled, "{id}");
            assert_eq!(store.charge_of(id).await.unwrap().unwrap().2, "refunded", "{id}");
        }
        assert_eq!(money(&store, &account).await, (100, 0, 0));
        let later = now_micros() + 60_000_000;
        assert!(store.claim_due("node", later, later + 60_000_000, 10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_paused_campaigns_message_the_connector_gives_back_is_held_until_resumed() {
    on_each_backend(|b| async move {
        let (store, _db, account) = store_with_account(&b).await;
        let numbers = ["+48600100001", "+48600100002", "+48600100003"];
        let (campaign, claim, batch) = campaign_run(&store, &account, &numbers).await;
        let now = now_micros();
        let stored = store.store_fanout_batch(&claim, None, "node", &batch, &[], None, true, now, now).await;
        assert_eq!(stored.unwrap(), Some((3, 0)));
        assert_eq!(
            store.claim_due("node", now_micros(), now_micros() + 60_000_000, 10).await.unwrap().len(),
            3
        );
        assert!(store.pause_campaign(&account, &campaign.id, now_micros()).await.unwrap());
        let ids: Vec<String> = batch.iter().map(|m| m.id.clone()).collect();
        back_from_the_connector(&store, &ids).await;
        for id in &ids {
            assert_eq!(status_of(&store, &account, id).await, MessageStatus::Scheduled, "{id}");
        }
        let later = now_micros() + 60_000_000;
        store.promote_scheduled(later).await.unwrap();
        assert!(store.claim_due("node", later, later + 60_000_000, 10).await.unwrap().is_empty(), "held");
        assert!(store.resume_campaign(&account, &campaign.id, None, None, None, now_micros()).await.unwrap());
        store.promote_scheduled(later).await.unwrap();
        assert_eq!(store.claim_due("node", later, later + 60_000_000, 10).await.unwrap().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn a_message_sent_in_other_segments_than_counted_is_charged_for_those_sent() {
    on_each_backend(|b| async move {
        let (store, _db, account) = store_with_account(&b).await;
        charged(&store, &account, 20).await;
        // Two texts of two segments, 0.10 each: the whole balance reserved.
        let long = "x".repeat(200);
        let ids = queue_text(&store, &account, 2, &long).await;
        assert_eq!(money(&store, &account).await, (0, 20, 0));
        let now = now_micros();
        assert_eq!(store.claim_due("node", now, now + 60_000_000, 10).await.unwrap().len(), 2);
        // The connector cut the first into three segments (one more, owed:
        // the balance is empty) and the second into one (one given back).
        let sent = |id: &String, smsc: &str, segments| Outcome::Submitted {
            message_id: id.clone(),
            connector: "op".into(),
            smsc_ids: vec![smsc.into()],
            segments,
        };
        let mut reports = vec![sent(&ids[0], "P1", 3), sent(&ids[1], "P2", 1)];
        store.apply_outcomes(&mut reports, RETRY, now_micros()).await.unwrap();
        let segments = |m: MessageRecord| m.segments;
        assert_eq!(segments(store.get_message(&account, &ids[0]).await.unwrap().unwrap()), 3);
        assert_eq!(segments(store.get_message(&account, &ids[1]).await.unwrap().unwrap()), 1);
        let amount = |c: Option<(i64, String, String)>| c.unwrap().0;
        assert_eq!(amount(store.charge_of(&ids[0]).await.unwrap()), 15);
        assert_eq!(amount(store.charge_of(&ids[1]).await.unwrap()), 5);
        // 0.20 paid, 0.05 given back, 0.05 more: taken from what came back.
        assert_eq!(money(&store, &account).await, (0, 0, 0));
        // A receipt that refunds the first gives its three segments back.
        let mut reports = vec![receipt("P1", Some(MessageStatus::Rejected), "refused")];
        store.apply_outcomes(&mut reports, RETRY, now_micros()).await.unwrap();
        assert_eq!(money(&store, &account).await, (15, 0, 0));
    })
    .await;
}

#[tokio::test]
async fn a_statement_read_in_small_pages_lists_every_charge_once_in_time_order() {
    on_each_backend(|b| async move {
        let (store, _db, account) = store_with_account(&b).await;
        charged(&store, &account, 1_000).await;
        // Two requests: the five messages of the first share their time.
        let mut ids = queue(&store, &account, 5).await;
        ids.extend(queue(&store, &account, 2).await);
        let (since, until) = (0, now_micros() + 1);
        let whole = store.charges_of_period(&account, since, until, None, 100).await.unwrap();
        let mut keys: Vec<(i64, String)> = whole.iter().map(|l| (l.at, l.message_id.clone())).collect();
        let mut expected = keys.clone();
        expected.sort();
        assert_eq!(keys, expected, "in time order, then by id");
        keys.sort_by(|a, b| a.1.cmp(&b.1));
        ids.sort();
        assert_eq!(keys.iter().map(|k| k.1.clone()).collect::<Vec<_>>(), ids, "every charge");
        let mut paged = Vec::new();
        let mut after: Option<(i64, String)> = None;
        loop {
            let last = after.as_ref().map(|(at, id)| (*at, id.as_str()));
            let page = store.charges_of_period(&account, since, until, last, 2).await.unwrap();
            after = page.last().map(|l| (l.at, l.message_id.clone()));
            paged.extend(page.into_iter().map(|l| (l.at, l.message_id)));
            if after.is_none() {
                break;
            }
        }
        assert_eq!(paged, expected, "pages of two ending inside a group sharing a time");
    })
    .await;
}

#[tokio::test]
async fn a_request_with_a_number_that_opted_out_after_its_opt_outs_were_read_stores_nothing_queued() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let (stopped, other) = ("+48600100001", "+48600100002");
        // The API reads the request's opt-outs: none…
        let seen = Store::opt_out_writes();
        assert!(store.opted_out_among(&account, &[stopped, other]).await.unwrap().is_empty());
        // …meanwhile the first number opts out…
        assert!(store.set_opt_out_by_api(&account, stopped, true, now_micros()).await.unwrap());
        // …and the request comes to be stored after it: refused, naming it
        // (also when it says what it saw: the opt-out was written since).
        let batch = [sms(stopped, "Sale today"), sms(other, "Sale today")];
        let refused = store.accept_messages(&account, &batch, None, now_micros()).await;
        assert_eq!(
            refused.map_err(|e| e.to_string()),
            Err(format!("{stopped} opted out of the account's messages"))
        );
        let request = kurier::storage::AcceptRequest {
            account_id: account.clone(),
            origin: Default::default(),
            messages: batch.to_vec().into(),
            idempotency: None,
            now: now_micros(),
            audit: None,
            opt_out_writes_seen: Some(seen),
        };
        let refused = store.accept_batch(std::sync::Arc::from([request])).await.unwrap().remove(0);
        assert_eq!(
            refused.map_err(|e| e.to_string()),
            Err(format!("{stopped} opted out of the account's messages"))
        );
        assert_eq!(outbound_texts(&store, &account).await, Vec::<String>::new());

        // Sent again without it, or as transactional, it is stored queued.
        let code = NewMessage { transactional: true, ..sms(stopped, "Code 1234") };
        let batch = [code, sms(other, "Sale today")];
        store.accept_messages(&account, &batch, None, now_micros()).await.unwrap();
        for m in &batch {
            assert_eq!(status_of(&store, &account, &m.id).await, MessageStatus::Queued);
        }
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn a_send_at_in_the_past_is_due_now_and_does_not_overtake_what_was_queued_before() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let first = sms("+48600100001", "queued first");
        store.accept_messages(&account, std::slice::from_ref(&first), None, now_micros()).await.unwrap();
        let hour_ago = now_micros() - 3_600_000_000;
        let late = NewMessage { send_at: Some(hour_ago), ..sms("+48600100002", "given an hour ago") };
        store.accept_messages(&account, std::slice::from_ref(&late), None, now_micros()).await.unwrap();

        let now = now_micros();
        let claimed = store.claim_due("node", now, now + 60_000_000, 1).await.unwrap();
        assert_eq!(claimed.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["queued first"]);
        let claimed = store.claim_due("node", now, now + 60_000_000, 1).await.unwrap();
        assert_eq!(claimed.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["given an hour ago"]);
        // It still shows the time it was given.
        assert_eq!(store.get_message(&account, &late.id).await.unwrap().unwrap().send_at, Some(hour_ago));
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn an_idempotency_key_is_kept_a_day_then_free_again_and_pruned() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let now = now_micros();
        let day = 24 * 3_600_000_000;
        let key = |key: &str, hash: &str| IdempotentRequest {
            key: key.into(),
            request_hash: hash.into(),
            status_code: 202,
            response: format!("{{\"{hash}\": 1}}"),
        };
        let first = [sms("+48600100001", "first")];
        let stored = store.accept_messages(&account, &first, Some(&key("order-7", "a")), now - day - 1).await;
        assert_eq!(stored.unwrap(), Accepted::Stored);
        // A day later the key is free: another request with it is stored.
        let second = [sms("+48600100002", "second")];
        let stored = store.accept_messages(&account, &second, Some(&key("order-7", "b")), now).await;
        assert_eq!(stored.unwrap(), Accepted::Stored);
        // Within the day it answers: the first answer, or a conflict.
        let again = store.accept_messages(&account, &second, Some(&key("order-7", "b")), now).await;
        assert_eq!(again.unwrap(), Accepted::Replayed { status_code: 202, response: "{\"b\": 1}".into() });
        let other = store.accept_messages(&account, &first, Some(&key("order-7", "c")), now).await;
        assert!(matches!(other, Err(StoreError::IdempotencyConflict)), "{other:?}");

        // Pruning deletes the keys past the day, and only those.
        let old = key("order-6", "d");
        let third = [sms("+48600100003", "third")];
        store.accept_messages(&account, &third, Some(&old), now - day - 1).await.unwrap();
        assert_eq!(store.prune_idempotency_keys(now).await.unwrap(), 1);
        assert!(store.idempotent_answer(&account, &old, now - day).await.unwrap().is_none());
        let kept = store.idempotent_answer(&account, &key("order-7", "b"), now).await.unwrap();
        assert!(matches!(kept, Some(Ok(Accepted::Replayed { .. }))), "{kept:?}");
        assert_eq!(outbound_texts(&store, &account).await.len(), 3);
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

/// An SMS to `to` saying `text`, as a worker hands one over.
fn sms(to: &str, text: &str) -> NewMessage {
    NewMessage {
        id: new_id(),
        to: PhoneNumber::parse(to, None).unwrap(),
        from: None,
        text: MessageText::new(text, 10).unwrap(),
        callback_url: None,
        tags: vec![],
        send_at: None,
        campaign: None,
        transactional: false,
    }
}

async fn outbound_texts(store: &Store, account: &str) -> Vec<String> {
    let filter = MessageFilter {
        direction: Some(kurier::domain::Direction::Outbound),
        limit: 10,
        ..Default::default()
    };
    store.list_messages(account, &filter).await.unwrap().into_iter().map(|m| m.text).collect()
}

#[tokio::test]
async fn a_notification_whose_lease_lapsed_and_was_taken_over_is_sent_and_recorded_by_one_node_only() {
    on_each_backend(|b| async move {
        let (node_a, db, account) = store_with_account(&b).await;
        let node_b = Store::open(&db.url, 2, "normal").await.unwrap();
        let now = now_micros();
        let delivery = |channel: &str, address: &str| NewDelivery {
            channel: channel.into(),
            address: address.into(),
            language: Some("en".into()),
            status: "queued".into(),
            reason: None,
            subject: Some("Payment".into()),
            body: "Thank you".into(),
            html: None,
            attachments: "[]".into(),
            due_at: now,
        };
        let deliveries = [delivery("sms", "+48600100200"), delivery("email", "ann@example.com")];
        let id = node_a
            .store_notification(&account, "payment_received", "c1", None, &json!({}), false, &deliveries, now)
            .await
            .unwrap()
            .unwrap();
        // Node a claims both, and its lease lapses (slow e-mails before
        // them, say); node b claims them then.
        let claimed = node_a.claim_due_deliveries("node-a", now, now_micros(), 10).await.unwrap();
        assert_eq!(claimed.len(), 2);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let taken = node_b.claim_due_deliveries("node-b", now, now_micros() + 60_000_000, 10).await.unwrap();
        assert_eq!(taken.len(), 2, "a lapsed lease lets another node claim");
        let of = |channel: &str| claimed.iter().find(|d| d.channel == channel).unwrap().id.clone();
        let (text, email) = (of("sms"), of("email"));

        // Node a, coming to them at last, sends and records nothing.
        assert!(!node_a.hold_delivery("node-a", &email, now_micros() + 60_000_000).await.unwrap());
        assert!(!node_a.finish_delivery("node-a", &email, "sent", None, None, now).await.unwrap());
        let late = node_a.deliver_as_message("node-a", &text, &sms("+48600100200", "from a"), now).await;
        assert!(matches!(late.unwrap(), SmsHandOver::NotHeld));

        // Node b does both, once.
        assert!(node_b.hold_delivery("node-b", &email, now_micros() + 60_000_000).await.unwrap());
        assert!(node_b.finish_delivery("node-b", &email, "sent", None, None, now).await.unwrap());
        let sent = node_b.deliver_as_message("node-b", &text, &sms("+48600100200", "from b"), now).await;
        assert!(matches!(sent.unwrap(), SmsHandOver::Queued));
        assert_eq!(outbound_texts(&node_a, &account).await, ["from b"]);
        let n = node_a.get_notification(&account, &id).await.unwrap().unwrap();
        let got: Vec<(&str, &str, i64)> =
            n.deliveries.iter().map(|d| (d.channel.as_str(), d.status.as_str(), d.attempts)).collect();
        assert_eq!(got, [("email", "sent", 1), ("sms", "sent", 1)]);
        // Settled, it is nobody's to finish again.
        assert!(!node_b.finish_delivery("node-b", &email, "failed", None, None, now).await.unwrap());
        node_b.close().await;
        node_a.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn a_received_message_whose_lease_lapsed_and_was_taken_over_is_matched_by_one_node_only() {
    on_each_backend(|b| async move {
        let (node_a, db, account) = store_with_account(&b).await;
        let node_b = Store::open(&db.url, 2, "normal").await.unwrap();
        let received = Outcome::Inbound {
            connector: "op".into(),
            sms: InboundSms {
                from: "+48600100200".into(),
                to: "7100".into(),
                text: "INFO".into(),
                concat: None,
                smsc_id: None,
            },
        };
        let now = now_micros();
        node_a.apply_outcomes(&mut vec![received], RETRY, now).await.unwrap();
        let claimed = node_a.claim_inbound("node-a", now, now + 1, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let taken = node_b.claim_inbound("node-b", now + 10, now + 60_000_000, 10).await.unwrap();
        assert_eq!(taken.len(), 1, "a lapsed lease lets another node claim");
        let job = &claimed[0];
        let outcome = |reply: &str| InboundOutcome {
            message_id: job.message_id.clone(),
            account_id: job.account_id.clone(),
            kind: "default",
            sender: job.from.clone(),
            sender_phone: PhoneNumber::parse(&job.from, None).ok(),
            to: job.to.clone(),
            replies: vec![sms(&job.from, reply)],
            ..Default::default()
        };
        let hour = ReplyLimit { max: 10, window_micros: 3_600_000_000 };
        let limits = InboundLimits { replies: hour, forwards: hour };
        // Node a's late match stores nothing; node b's stands.
        assert_eq!(node_a.complete_inbound("node-a", &outcome("from a"), limits, now).await.unwrap(), None);
        node_a.retry_inbound("node-a", &job.message_id, now, "late").await.unwrap();
        assert_eq!(
            node_b.complete_inbound("node-b", &outcome("from b"), limits, now).await.unwrap(),
            Some(1)
        );
        assert_eq!(outbound_texts(&node_a, &account).await, ["from b"]);
        assert_eq!(node_a.inbound_backlog().await.unwrap(), 0);
        node_b.close().await;
        node_a.close().await;
        db.drop_db().await;
    })
    .await;
}

/// A received message matched on `store` with one webhook forward and one
/// e-mail forward: the two outbox rows the tests below hold.
async fn forwarded(store: &Store, now: i64) {
    let received = Outcome::Inbound {
        connector: "op".into(),
        sms: InboundSms {
            from: "+48600100200".into(),
            to: "7100".into(),
            text: "HI".into(),
            concat: None,
            smsc_id: None,
        },
    };
    store.apply_outcomes(&mut vec![received], RETRY, now).await.unwrap();
    let job = store.claim_inbound("node-a", now, now + 60_000_000, 10).await.unwrap().remove(0);
    let outcome = InboundOutcome {
        message_id: job.message_id.clone(),
        account_id: job.account_id.clone(),
        kind: "default",
        sender: job.from.clone(),
        sender_phone: PhoneNumber::parse(&job.from, None).ok(),
        to: job.to.clone(),
        webhooks: vec![("https://hooks.example.com/in".into(), "{}".into())],
        emails: vec![NewMail {
            id: new_id(),
            to: Email::parse("desk@example.com").unwrap(),
            subject: "SMS".into(),
            body: "HI".into(),
        }],
        ..Default::default()
    };
    let hour = ReplyLimit { max: 10, window_micros: 3_600_000_000 };
    let limits = InboundLimits { replies: hour, forwards: hour };
    store.complete_inbound("node-a", &outcome, limits, now).await.unwrap().unwrap();
}

const WINDOW: i64 = 86_400_000_000;

/// (status, attempts, results logged) of the account's only callback.
async fn callback(store: &Store, account: &str) -> (String, i64, Vec<Option<i64>>) {
    let all = store.list_webhook_deliveries(account, &DeliveryFilter::default(), 10, WINDOW).await.unwrap();
    let [c] = &all[..] else { panic!("one callback: {all:?}") };
    (c.status.clone(), c.attempts, c.log.iter().map(|a| a.response_status).collect())
}

/// (status, attempts, results logged) of the account's only e-mail.
async fn email(store: &Store, account: &str) -> (String, i64, Vec<String>) {
    let all = store.list_mail_deliveries(account, &DeliveryFilter::default(), 10, WINDOW).await.unwrap();
    let [e] = &all[..] else { panic!("one e-mail: {all:?}") };
    (e.status.clone(), e.attempts, e.log.iter().map(|a| a.result.clone()).collect())
}

fn answered(status: i64) -> AttemptRecord {
    AttemptRecord { at: now_micros(), response_status: Some(status), error: None, duration_ms: 5 }
}

fn failed_with(status: i64) -> AttemptRecord {
    AttemptRecord { error: Some(format!("HTTP {status}")), ..answered(status) }
}

#[tokio::test]
async fn a_callback_or_e_mail_whose_lease_lapsed_and_was_taken_over_is_sent_and_recorded_by_one_node_only() {
    on_each_backend(|b| async move {
        let (node_a, db, account) = store_with_account(&b).await;
        let node_b = Store::open(&db.url, 2, "normal").await.unwrap();
        let now = now_micros();
        forwarded(&node_a, now).await;
        // Node a claims both, and its lease lapses (a slow batch, say);
        // node b claims them then.
        let mut hook_a = node_a.claim_webhooks("node-a", now, now + 1, 10, WINDOW).await.unwrap().remove(0);
        let mut mail_a = node_a.claim_mail("node-a", now, now + 1, 10).await.unwrap().remove(0);
        let later = now + 10;
        let mut hook_b =
            node_b.claim_webhooks("node-b", later, later + 60_000_000, 10, WINDOW).await.unwrap();
        let mut mail_b = node_b.claim_mail("node-b", later, later + 60_000_000, 10).await.unwrap();
        assert_eq!((hook_b.len(), mail_b.len()), (1, 1), "a lapsed lease lets another node claim");
        let (mut hook_b, mut mail_b) = (hook_b.remove(0), mail_b.remove(0));

        // Node a, coming to them at last, sends nothing.
        let until = now_micros() + 60_000_000;
        assert!(!node_a.hold_webhook(&mut hook_a, until).await.unwrap());
        assert!(!node_a.hold_mail(&mut mail_a, until).await.unwrap());
        // Node b sends both; node a's attempts, made before it lost them
        // and ending after, record nothing: b's results stand.
        assert!(node_b.hold_webhook(&mut hook_b, until).await.unwrap());
        assert!(node_b.hold_mail(&mut mail_b, until).await.unwrap());
        assert!(
            node_b.record_webhook_attempt(&hook_b, &answered(200), AttemptResult::Delivered).await.unwrap()
        );
        assert!(node_b.record_mail_attempt(&mail_b, &MailResult::Sent, now_micros(), 5).await.unwrap());
        let retry = AttemptResult::RetryAt(now_micros() + 60_000_000);
        assert!(!node_a.record_webhook_attempt(&hook_a, &failed_with(503), retry).await.unwrap());
        let busy = MailResult::RetryAt(now_micros() + 60_000_000, "421 busy".into());
        assert!(!node_a.record_mail_attempt(&mail_a, &busy, now_micros(), 5).await.unwrap());
        assert_eq!(callback(&node_a, &account).await, ("delivered".into(), 1, vec![Some(200)]));
        assert_eq!(email(&node_a, &account).await, ("sent".into(), 1, vec!["sent".into()]));

        // A later claim of the same node is another claim: the earlier
        // one's late result does not count either.
        node_a.resend_webhook(&account, &hook_b.id, now_micros(), now_micros() + WINDOW).await.unwrap();
        let t = now_micros();
        let first = node_a.claim_webhooks("node-a", t, t + 1, 10, WINDOW).await.unwrap().remove(0);
        let second = node_a.claim_webhooks("node-a", t + 10, t + 60_000_000, 10, WINDOW).await.unwrap();
        assert_eq!(second.len(), 1);
        assert!(
            !node_a.record_webhook_attempt(&first, &failed_with(500), AttemptResult::GaveUp).await.unwrap()
        );
        assert!(
            node_a
                .record_webhook_attempt(&second[0], &answered(204), AttemptResult::Delivered)
                .await
                .unwrap()
        );
        assert_eq!(callback(&node_a, &account).await, ("delivered".into(), 1, vec![Some(200), Some(204)]));
        node_b.close().await;
        node_a.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn a_callback_or_e_mail_resent_while_it_is_being_tried_is_not_claimed_twice_and_goes_again_only_if_that_try_fails()
 {
    on_each_backend(|b| async move {
        let (node_a, db, account) = store_with_account(&b).await;
        let node_b = Store::open(&db.url, 2, "normal").await.unwrap();
        let now = now_micros();
        forwarded(&node_a, now).await;
        let lease = now + 60_000_000;
        let hook = node_a.claim_webhooks("node-a", now, lease, 10, WINDOW).await.unwrap().remove(0);
        let mail = node_a.claim_mail("node-a", now, lease, 10).await.unwrap().remove(0);

        // Re-sent by hand while node a tries them: nobody claims them
        // again meanwhile, on either node.
        let resent = now_micros();
        assert!(node_b.resend_webhook(&account, &hook.id, resent, resent + WINDOW).await.unwrap());
        assert!(node_b.resend_mail(&account, &mail.id, resent, resent + WINDOW).await.unwrap());
        let t = now_micros();
        assert!(node_b.claim_webhooks("node-b", t, t + 60_000_000, 10, WINDOW).await.unwrap().is_empty());
        assert!(node_b.claim_mail("node-b", t, t + 60_000_000, 10).await.unwrap().is_empty());
        assert!(node_a.claim_webhooks("node-a", t, t + 60_000_000, 10, WINDOW).await.unwrap().is_empty());

        // The callback's attempt fails, even for good: it is due again at
        // once, with the re-send's window. The e-mail's goes: it is sent,
        // and stays so.
        assert!(
            node_a.record_webhook_attempt(&hook, &failed_with(500), AttemptResult::GaveUp).await.unwrap()
        );
        assert!(node_a.record_mail_attempt(&mail, &MailResult::Sent, now_micros(), 5).await.unwrap());
        assert_eq!(callback(&node_a, &account).await, ("pending".into(), 1, vec![Some(500)]));
        let t = now_micros();
        let again = node_b.claim_webhooks("node-b", t, t + 60_000_000, 10, WINDOW).await.unwrap();
        assert_eq!(again.len(), 1, "due again at once");
        assert_eq!(again[0].retry_until, resent + WINDOW, "the re-send's window");
        assert!(node_b.claim_mail("node-b", t, t + 60_000_000, 10).await.unwrap().is_empty());
        assert_eq!(email(&node_a, &account).await, ("sent".into(), 1, vec!["sent".into()]));
        assert!(
            node_b.record_webhook_attempt(&again[0], &answered(200), AttemptResult::Delivered).await.unwrap()
        );
        assert_eq!(callback(&node_a, &account).await, ("delivered".into(), 2, vec![Some(500), Some(200)]));
        node_b.close().await;
        node_a.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn wrong_codes_entered_at_once_spend_an_own_number_code_after_five_whatever_the_backend() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let name = kurier::domain::Username::parse("anna").unwrap();
        let user = store
            .create_user(
                &account,
                kurier::storage::NewUser {
                    username: &name,
                    display_name: "",
                    role: kurier::domain::Role::Sender,
                    password_hash: "x",
                },
            )
            .await
            .unwrap()
            .unwrap();
        let phone = "+48600100200";
        store.start_own_number(&account, &user.id, phone, "right", now_micros() + 600_000_000).await.unwrap();
        // Twenty guesses at once (a script posting in parallel): only five count.
        let guesses = (0..20).map(|i| {
            let (store, user) = (store.clone(), user.id.clone());
            async move { store.check_own_number_code(&user, phone, &format!("wrong{i}")).await.unwrap() }
        });
        let outcomes = futures_util::future::join_all(guesses).await;
        let wrong = outcomes.iter().filter(|o| **o == kurier::storage::CodeCheck::Wrong).count();
        assert_eq!(wrong, kurier::storage::MAX_CODE_ATTEMPTS as usize, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, kurier::storage::CodeCheck::Wrong | kurier::storage::CodeCheck::Spent))
        );
        assert_eq!(
            store.check_own_number_code(&user.id, phone, "right").await.unwrap(),
            kurier::storage::CodeCheck::Spent,
            "the right code comes too late"
        );
        store.start_own_number(&account, &user.id, phone, "again", now_micros() + 600_000_000).await.unwrap();
        assert_eq!(
            store.check_own_number_code(&user.id, phone, "again").await.unwrap(),
            kurier::storage::CodeCheck::Verified
        );
        assert_eq!(
            store.check_own_number_code(&user.id, phone, "whatever").await.unwrap(),
            kurier::storage::CodeCheck::Verified,
            "a verified number stays verified"
        );
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn a_message_whose_id_was_made_after_its_creation_time_is_counted_in_its_creation_window() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        // The intake and a campaign batch take the time first, then check,
        // render and mint the ids: here two seconds late, across `until`.
        let created = now_micros() - 2_000_000;
        store.accept_messages(&account, &[sms("+48600100200", "late id")], None, created).await.unwrap();
        let counted = async |since: i64, until: i64| -> i64 {
            let groups = store.message_groups(&account, since, until, Grouping::Status).await.unwrap();
            groups.iter().map(|g| g.messages).sum()
        };
        assert_eq!(counted(created - 60_000_000, created + 1).await, 1, "the window it was created in");
        assert_eq!(counted(created + 1, now_micros() + 60_000_000).await, 0, "the window after it");
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn conversations_that_share_their_last_time_are_each_listed_once_page_by_page() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let phones = ["+48600100201", "+48600100202", "+48600100203"];
        let received = |phone: &str| Outcome::Inbound {
            connector: "op".into(),
            sms: InboundSms {
                from: phone.into(),
                to: "7100".into(),
                text: "hi".into(),
                concat: None,
                smsc_id: None,
            },
        };
        let now = now_micros();
        store.apply_outcomes(&mut phones.iter().map(|p| received(p)).collect(), RETRY, now).await.unwrap();
        let hour = ReplyLimit { max: 10, window_micros: 3_600_000_000 };
        let limits = InboundLimits { replies: hour, forwards: hour };
        // Matched at the same time: the three conversations share last_at.
        for job in store.claim_inbound("node", now, now + 60_000_000, 10).await.unwrap() {
            let outcome = InboundOutcome {
                message_id: job.message_id.clone(),
                account_id: job.account_id.clone(),
                kind: "none",
                sender: job.from.clone(),
                sender_phone: PhoneNumber::parse(&job.from, None).ok(),
                to: job.to.clone(),
                ..Default::default()
            };
            store.complete_inbound("node", &outcome, limits, now).await.unwrap();
        }
        let mut listed = Vec::new();
        let mut after: Option<(i64, String)> = None;
        while listed.len() <= phones.len() {
            let page = store
                .list_conversations(&account, after.as_ref().map(|(at, phone)| (*at, phone.as_str())), 1)
                .await
                .unwrap();
            let Some(c) = page.first() else { break };
            assert_eq!(c.last_at, now);
            listed.push(c.phone.clone());
            after = Some((c.last_at, c.phone.clone()));
        }
        assert_eq!(listed, phones, "one page each, in phone order");
        store.close().await;
        db.drop_db().await;
    })
    .await;
}

#[tokio::test]
async fn messages_of_one_sender_matched_at_once_on_several_nodes_forward_only_within_its_limit() {
    on_each_backend(|b| async move {
        let (store, db, account) = store_with_account(&b).await;
        let now = now_micros();
        // A sender that is no number: nothing else of its matches (its
        // conversation) makes two nodes wait for each other.
        let received = |i: usize| Outcome::Inbound {
            connector: "op".into(),
            sms: InboundSms {
                from: "ALERTS".into(),
                to: "7100".into(),
                text: format!("alarm {i}"),
                concat: None,
                smsc_id: None,
            },
        };
        store.apply_outcomes(&mut (0..16).map(received).collect(), RETRY, now).await.unwrap();
        let jobs = store.claim_inbound("node", now, now + 60_000_000, 20).await.unwrap();
        assert_eq!(jobs.len(), 16);
        let one = ReplyLimit { max: 1, window_micros: 3_600_000_000 };
        let limits = InboundLimits { replies: one, forwards: one };
        // Each on a store of its own, as on as many nodes.
        let mut tasks = tokio::task::JoinSet::new();
        for job in jobs {
            let node = Store::open(&db.url, 1, "normal").await.unwrap();
            tasks.spawn(async move {
                let outcome = InboundOutcome {
                    message_id: job.message_id.clone(),
                    account_id: job.account_id.clone(),
                    kind: "default",
                    sender: job.from.clone(),
                    to: job.to.clone(),
                    sends: vec![sms("+48600999000", &format!("{}: {}", job.from, job.text))],
                    ..Default::default()
                };
                let queued = node.complete_inbound("node", &outcome, limits, now).await.unwrap().unwrap();
                node.close().await;
                queued
            });
        }
        let queued: usize = tasks.join_all().await.into_iter().sum();
        assert_eq!(queued, 1, "one forwarded message within the limit of one");
        assert_eq!(outbound_texts(&store, &account).await.len(), 1);
        store.close().await;
        db.drop_db().await;
    })
    .await;
}
