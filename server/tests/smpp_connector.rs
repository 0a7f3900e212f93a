//! The SMPP client connector against the SMSC simulator, over real TCP on
//! 127.0.0.1: first the connector alone (commands in, events out, as the
//! dispatcher sees it), then the whole app over HTTP. One test per named
//! fault of the simulator. Timers are short (response timeout 1 s,
//! reconnect from 50 ms) so the file runs in seconds.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{TestApp, on_each_backend};
use kurier::config::{
    BindMode, Config, ConnectorConfig, ConnectorSettings, LongMessages, Secret, SmppConfig,
};
use kurier::connectors::{
    self, BindLeases, Command, ConnectorEvent, ConnectorHandle, Event, InboundSms, OutboundSms, Source,
    Unshared,
};
use kurier::domain::MessageStatus;
use kurier::smsc_sim::{Behaviour, IdFormat, SimHandle, SimSettings, SmscSim};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};
use tokio_util::sync::CancellationToken;

const TO: &str = "+48600100200";

fn sim_settings() -> SimSettings {
    SimSettings {
        accounts: vec![("kurier".into(), "secret".into())],
        receipt_delay: Duration::from_millis(20),
        receipt_retry: Duration::from_millis(300),
        ..SimSettings::default()
    }
}

async fn start_sim(settings: SimSettings) -> SimHandle {
    SmscSim::start("127.0.0.1:0".parse().unwrap(), settings).await.expect("simulator starts")
}

/// A connector for the simulator at `addr`, with test-sized timers.
fn smpp_config(addr: SocketAddr) -> SmppConfig {
    SmppConfig {
        host: "127.0.0.1".into(),
        port: addr.port(),
        system_id: "kurier".into(),
        password: Secret::new("secret"),
        response_timeout_secs: 1,
        reconnect_min_ms: 50,
        reconnect_max_ms: 400,
        ..SmppConfig::default()
    }
}

fn sms(i: usize, text: &str) -> Command {
    Command::Submit(OutboundSms {
        message_id: format!("m{i}"),
        to: TO.into(),
        from: Some("Kurier".into()),
        text: text.into(),
    })
}

/// One connector started the way the app starts it, with the test playing
/// the recorder: it reads every event and confirms it as stored.
struct Harness {
    handle: ConnectorHandle,
    events: mpsc::Receiver<Event>,
    shutdown: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
    seen: Vec<ConnectorEvent>,
    /// This many `report_stored` calls are answered "not stored".
    refuse_stores: usize,
}

impl Harness {
    fn start(cfg: SmppConfig) -> Self {
        let (events_tx, events) = mpsc::channel(4096);
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let config = ConnectorConfig { name: "operator".into(), settings: ConnectorSettings::Smpp(cfg) };
        let leases: std::sync::Arc<dyn BindLeases> = std::sync::Arc::new(Unshared);
        let handle =
            connectors::start(&config, Source::File, &events_tx, &shutdown, &leases, &mut tasks, None);
        Self { handle, events, shutdown, tasks, seen: Vec::new(), refuse_stores: 0 }
    }

    async fn send(&self, command: Command) {
        self.handle.send(command).await.expect("connector takes commands");
    }

    fn confirm(&mut self, event: Event) {
        if let Some(stored) = event.stored {
            if self.refuse_stores > 0 {
                self.refuse_stores -= 1;
            } else {
                let _ = stored.send(());
            }
        }
        self.seen.push(event.event);
    }

    /// Reads events until `done` holds for all seen so far.
    async fn until(&mut self, within: Duration, what: &str, done: impl Fn(&[ConnectorEvent]) -> bool) {
        let deadline = Instant::now() + within;
        while !done(&self.seen) {
            match timeout(deadline.saturating_duration_since(Instant::now()), self.events.recv()).await {
                Ok(Some(event)) => self.confirm(event),
                _ => panic!("{what}: not seen within {within:?}; events: {:#?}", self.seen),
            }
        }
    }

    /// Waits until `n` messages have their answer.
    async fn answered(&mut self, n: usize, within: Duration) {
        self.until(within, &format!("{n} answers"), |seen| answers(seen).len() >= n).await;
    }

    /// Stops the connector and reads what it reported on the way out.
    async fn stop(mut self) -> Vec<ConnectorEvent> {
        self.shutdown.cancel();
        let mut tasks = std::mem::take(&mut self.tasks);
        loop {
            tokio::select! {
                joined = tasks.join_next() => match joined {
                    Some(task) => task.expect("connector task").expect("connector ends cleanly"),
                    None => break,
                },
                Some(event) = self.events.recv() => self.confirm(event),
            }
        }
        while let Ok(Some(event)) = timeout(Duration::from_millis(200), self.events.recv()).await {
            self.confirm(event);
        }
        self.seen
    }
}

/// Submission answers by message id, in order.
fn answers(seen: &[ConnectorEvent]) -> HashMap<String, Vec<ConnectorEvent>> {
    let mut out: HashMap<String, Vec<ConnectorEvent>> = HashMap::new();
    for e in seen {
        match e {
            ConnectorEvent::Submitted { message_id, .. }
            | ConnectorEvent::SubmitFailed { message_id, .. } => {
                out.entry(message_id.clone()).or_default().push(e.clone());
            }
            _ => {}
        }
    }
    out
}

fn receipts(seen: &[ConnectorEvent]) -> Vec<(String, Option<MessageStatus>)> {
    seen.iter()
        .filter_map(|e| match e {
            ConnectorEvent::DeliveryReport { smsc_id, status, .. } => Some((smsc_id.clone(), *status)),
            _ => None,
        })
        .collect()
}

fn inbound(seen: &[ConnectorEvent]) -> Vec<InboundSms> {
    seen.iter()
        .filter_map(|e| match e {
            ConnectorEvent::Inbound(sms) => Some(sms.clone()),
            _ => None,
        })
        .collect()
}

fn submitted_ids(seen: &[ConnectorEvent], message_id: &str) -> Vec<String> {
    seen.iter()
        .find_map(|e| match e {
            ConnectorEvent::Submitted { message_id: m, smsc_ids, .. } if m == message_id => {
                Some(smsc_ids.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{message_id} was not submitted: {seen:#?}"))
}

fn temporary_failures(seen: &[ConnectorEvent]) -> Vec<String> {
    seen.iter()
        .filter_map(|e| match e {
            ConnectorEvent::SubmitFailed { temporary: true, reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

/// Every message got exactly one answer.
fn assert_one_answer_each(seen: &[ConnectorEvent], n: usize) {
    let by_id = answers(seen);
    assert_eq!(by_id.len(), n, "{seen:#?}");
    for (id, evs) in by_id {
        assert_eq!(evs.len(), 1, "{id} answered {} times: {evs:#?}", evs.len());
    }
}

async fn wait_for(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------
// The connector alone
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_short_message_is_submitted_and_its_delivery_receipt_quotes_the_same_id() {
    let sim = start_sim(sim_settings()).await;
    let mut link = Harness::start(smpp_config(sim.addr()));
    link.until(Duration::from_secs(3), "link up", |s| s.contains(&ConnectorEvent::LinkUp)).await;
    assert!(link.handle.is_up());
    link.send(sms(1, "Hello from Kurier")).await;
    link.until(Duration::from_secs(3), "receipt", |s| !receipts(s).is_empty()).await;
    let ids = submitted_ids(&link.seen, "m1");
    assert_eq!(ids.len(), 1);
    assert_eq!(receipts(&link.seen), [(ids[0].clone(), Some(MessageStatus::Delivered))]);
    let got = sim.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].text.as_str(), got[0].to.as_str(), got[0].from.as_str()),
        ("Hello from Kurier", TO, "Kurier")
    );
    assert_eq!(got[0].message_ids, ids);
    let stats = &link.handle.stats;
    assert_eq!(stats.binds_up.load(Ordering::Relaxed), 1);
    assert_eq!(stats.binds_configured.load(Ordering::Relaxed), 1);
    assert_eq!(stats.window_size.load(Ordering::Relaxed), 10);
    assert_eq!(stats.submitted.load(Ordering::Relaxed), 1);
    assert_eq!(stats.acked.load(Ordering::Relaxed), 1);
    assert_eq!(stats.receipts.load(Ordering::Relaxed), 1);
    assert_eq!(stats.window_used.load(Ordering::Relaxed), 0);
    let seen = link.stop().await;
    assert_eq!(seen.last(), Some(&ConnectorEvent::LinkDown { reason: "shutdown".into() }));
    wait_for("unbound", Duration::from_secs(2), || sim.stats().binds_now == 0).await;
    sim.stop().await;
}

#[tokio::test]
async fn every_long_message_mode_reaches_the_smsc_whole_with_every_part_id_in_order() {
    let sim = start_sim(sim_settings()).await;
    let text = "Zażółć gęślą jaźń 😀 — ".repeat(8);
    // (mode, submit_sm PDUs, SMS segments reported)
    let cases = [
        (LongMessages::Udh8, 3, 3),
        (LongMessages::Udh16, 3, 3),
        (LongMessages::Sar, 3, 3),
        (LongMessages::Payload, 1, 3),
    ];
    for (i, (mode, parts, segments)) in cases.into_iter().enumerate() {
        let mut link = Harness::start(SmppConfig { long_messages: mode, ..smpp_config(sim.addr()) });
        link.send(sms(i, &text)).await;
        link.answered(1, Duration::from_secs(3)).await;
        let ids = submitted_ids(&link.seen, &format!("m{i}"));
        assert_eq!(ids.len(), parts, "{mode:?}");
        let reported = link.seen.iter().find_map(|e| match e {
            ConnectorEvent::Submitted { segments, .. } => Some(*segments),
            _ => None,
        });
        assert_eq!(reported, Some(segments), "{mode:?}");
        link.stop().await;
        let got = sim.received().pop().expect("received");
        assert_eq!(got.text, text, "{mode:?}");
        assert_eq!((got.parts, got.data_coding), (parts, 8), "{mode:?}");
        assert_eq!(got.message_ids, ids, "{mode:?}");
    }
    sim.stop().await;
}

#[tokio::test]
async fn packed_gsm_goes_both_ways_when_both_ends_pack() {
    let sim = start_sim(SimSettings { gsm_packed: true, ..sim_settings() }).await;
    let mut link = Harness::start(SmppConfig { gsm_packed: true, ..smpp_config(sim.addr()) });
    let text = "Packed {GSM} text, 7 by 7: €5 @ home. ".repeat(6);
    link.send(sms(1, &text)).await;
    link.until(Duration::from_secs(3), "link up", |s| s.contains(&ConnectorEvent::LinkUp)).await;
    sim.inject_mo(TO, "7100", "1234567").await.unwrap();
    link.until(Duration::from_secs(3), "answer and MO", |s| !answers(s).is_empty() && !inbound(s).is_empty())
        .await;
    assert_eq!(submitted_ids(&link.seen, "m1").len(), 2);
    let got = sim.received().pop().unwrap();
    assert_eq!((got.text.as_str(), got.data_coding), (text.as_str(), 0));
    assert_eq!(inbound(&link.seen)[0].text, "1234567");
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn a_message_from_a_phone_is_reported_per_part_and_acknowledged_only_once_stored() {
    let sim = start_sim(sim_settings()).await;
    let mut link = Harness::start(smpp_config(sim.addr()));
    link.until(Duration::from_secs(3), "link up", |s| s.contains(&ConnectorEvent::LinkUp)).await;
    // The first store fails: the SMSC must send that part again.
    link.refuse_stores = 1;
    let long = "Odpowiedź: tak, proszę o kontakt jutro rano. ".repeat(3);
    sim.inject_mo(TO, "7100", &long).await.unwrap();
    link.until(Duration::from_secs(3), "parts", |s| inbound(s).len() >= 4).await;
    wait_for("MO acknowledged", Duration::from_secs(3), || sim.stats().mo_sent == 3).await;
    let parts = inbound(&link.seen);
    assert!(parts.iter().all(|p| p.from == TO && p.to == "7100"), "{parts:#?}");
    let mut by_seq: Vec<_> = parts.iter().map(|p| (p.concat.unwrap().2, p.text.clone())).collect();
    by_seq.sort();
    by_seq.dedup();
    assert_eq!(by_seq.len(), 3);
    assert_eq!(by_seq.into_iter().map(|(_, t)| t).collect::<String>(), long);
    assert_eq!(link.handle.stats.inbound.load(Ordering::Relaxed), 4);
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn an_error_on_submit_is_a_permanent_failure_naming_the_status() {
    let sim = start_sim(SimSettings { behaviour: Behaviour::ErrorOnSubmit(0x0B), ..sim_settings() }).await;
    let mut link = Harness::start(smpp_config(sim.addr()));
    link.send(sms(1, "to nowhere")).await;
    link.send(sms(2, &"long ".repeat(60))).await;
    link.answered(2, Duration::from_secs(3)).await;
    for id in ["m1", "m2"] {
        match &answers(&link.seen)[id][0] {
            ConnectorEvent::SubmitFailed { temporary: false, reason, .. } => {
                assert_eq!(reason, "ESME_RINVDSTADR (0x0000000B): Invalid destination address.")
            }
            other => panic!("{other:?}"),
        }
    }
    // Parts are not sent once one is refused; the window may have sent the
    // second before the first answer came back.
    assert!(sim.stats().submits <= 3);
    assert_eq!(link.handle.stats.errors.load(Ordering::Relaxed), sim.stats().submits);
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn throttling_pauses_the_whole_connector_and_fails_the_refused_message_as_temporary() {
    let sim = start_sim(SimSettings { behaviour: Behaviour::ThrottleEvery(3), ..sim_settings() }).await;
    // One submission in flight per session, so refusals come back before
    // the later messages go.
    let mut link = Harness::start(SmppConfig { binds: 2, window: 1, ..smpp_config(sim.addr()) });
    wait_for("both bound", Duration::from_secs(3), || sim.stats().binds_now == 2).await;
    let start = Instant::now();
    for i in 0..9 {
        link.send(sms(i, "hi")).await;
    }
    link.answered(9, Duration::from_secs(5)).await;
    let failures = temporary_failures(&link.seen);
    assert_eq!(failures.len(), 3, "{:#?}", link.seen);
    assert!(failures.iter().all(|r| r.starts_with("ESME_RTHROTTLED (0x00000058)")), "{failures:?}");
    // The 3rd and 6th refusals each paused both sessions for 200 ms (the 9th
    // came after the last submission).
    assert!(start.elapsed() >= kurier::connectors::smpp::SLOW_DOWN_MIN * 2, "{:?}", start.elapsed());
    assert_eq!(link.handle.stats.throttled.load(Ordering::Relaxed), 3);
    assert_one_answer_each(&link.stop().await, 9);
    sim.stop().await;
}

#[tokio::test]
async fn a_full_queue_at_the_smsc_is_a_temporary_failure_and_a_pause() {
    let sim = start_sim(SimSettings { behaviour: Behaviour::QueueFullEvery(2), ..sim_settings() }).await;
    let mut link = Harness::start(smpp_config(sim.addr()));
    for i in 0..4 {
        link.send(sms(i, "hi")).await;
    }
    link.answered(4, Duration::from_secs(5)).await;
    let failures = temporary_failures(&link.seen);
    assert_eq!(failures.len(), 2);
    assert!(failures.iter().all(|r| r.starts_with("ESME_RMSGQFUL (0x00000014)")), "{failures:?}");
    assert_eq!(link.handle.stats.throttled.load(Ordering::Relaxed), 2);
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn a_black_hole_smsc_times_out_the_session_which_fails_its_window_as_temporary_and_reconnects() {
    let sim = start_sim(SimSettings { behaviour: Behaviour::BlackHole, ..sim_settings() }).await;
    let mut link = Harness::start(smpp_config(sim.addr()));
    for i in 0..3 {
        link.send(sms(i, "into the void")).await;
    }
    link.answered(3, Duration::from_secs(4)).await;
    let failures = temporary_failures(&link.seen);
    assert_eq!(failures, vec!["no answer to submit_sm within 1s".to_string(); 3]);
    assert!(link.seen.iter().any(|e| matches!(e, ConnectorEvent::LinkDown { .. })));
    wait_for("reconnected", Duration::from_secs(3), || sim.stats().binds_total >= 2).await;
    // Back to normal: the retried message goes through.
    sim.set_behaviour(Behaviour::Happy);
    link.send(sms(9, "again")).await;
    link.answered(4, Duration::from_secs(3)).await;
    submitted_ids(&link.seen, "m9");
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn a_silent_smsc_is_noticed_by_enquire_link_even_without_traffic() {
    let sim = start_sim(SimSettings { behaviour: Behaviour::BlackHole, ..sim_settings() }).await;
    let mut link = Harness::start(SmppConfig { enquire_link_secs: 1, ..smpp_config(sim.addr()) });
    link.until(Duration::from_secs(4), "link down", |s| {
        s.iter().any(|e| matches!(e, ConnectorEvent::LinkDown { .. }))
    })
    .await;
    let reason = link.seen.iter().find_map(|e| match e {
        ConnectorEvent::LinkDown { reason } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(reason.as_deref(), Some("no answer to enquire_link within 1s"));
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn no_response_on_submit_fails_the_window_as_temporary_and_nothing_is_lost() {
    let sim = start_sim(SimSettings { behaviour: Behaviour::NoResponseOnSubmit, ..sim_settings() }).await;
    let mut link = Harness::start(SmppConfig { window: 3, ..smpp_config(sim.addr()) });
    for i in 0..5 {
        link.send(sms(i, "anyone?")).await;
    }
    // Three fill the window and time out; the other two go on the next session.
    link.answered(5, Duration::from_secs(5)).await;
    assert_eq!(temporary_failures(&link.seen).len(), 5);
    assert!(sim.stats().max_window <= 3);
    assert_one_answer_each(&link.stop().await, 5);
    sim.stop().await;
}

#[tokio::test]
async fn an_unbind_in_answer_to_a_submit_ends_the_session_and_it_binds_again() {
    let sim = start_sim(SimSettings { behaviour: Behaviour::UnbindOnSubmit, ..sim_settings() }).await;
    let mut link = Harness::start(smpp_config(sim.addr()));
    link.send(sms(1, "bye")).await;
    link.answered(1, Duration::from_secs(3)).await;
    assert_eq!(temporary_failures(&link.seen), ["the SMSC unbound the session"]);
    wait_for("bound again", Duration::from_secs(3), || {
        sim.stats().binds_total >= 2 && sim.stats().binds_now == 1
    })
    .await;
    sim.set_behaviour(Behaviour::Happy);
    link.send(sms(2, "hello again")).await;
    link.answered(2, Duration::from_secs(3)).await;
    submitted_ids(&link.seen, "m2");
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn a_disconnect_in_the_middle_of_the_window_answers_every_message_exactly_once() {
    let sim = start_sim(SimSettings {
        behaviour: Behaviour::DisconnectAfter(4),
        submit_delay: Duration::from_millis(30),
        ..sim_settings()
    })
    .await;
    let mut link = Harness::start(smpp_config(sim.addr()));
    for i in 0..20 {
        link.send(sms(i, "mid-window")).await;
    }
    link.answered(20, Duration::from_secs(10)).await;
    let seen = link.stop().await;
    assert_one_answer_each(&seen, 20);
    let failed = temporary_failures(&seen).len();
    assert!(failed > 0 && sim.stats().binds_total >= 2, "{failed} failed");
    sim.stop().await;
}

#[tokio::test]
async fn garbage_from_the_smsc_drops_the_session_which_reconnects_and_goes_on() {
    let sim = start_sim(SimSettings { behaviour: Behaviour::GarbageAfterBind, ..sim_settings() }).await;
    let mut link = Harness::start(smpp_config(sim.addr()));
    wait_for("reconnects", Duration::from_secs(3), || sim.stats().binds_total >= 2).await;
    sim.set_behaviour(Behaviour::Happy);
    link.send(sms(1, "after the noise")).await;
    // It may first fail on a session that is about to read the garbage.
    link.until(Duration::from_secs(5), "submitted", |s| {
        s.iter().any(|e| matches!(e, ConnectorEvent::Submitted { .. })) || !temporary_failures(s).is_empty()
    })
    .await;
    if answers(&link.seen).get("m1").is_some_and(|a| matches!(a[0], ConnectorEvent::SubmitFailed { .. })) {
        link.send(sms(2, "after the noise")).await;
        link.answered(2, Duration::from_secs(3)).await;
        submitted_ids(&link.seen, "m2");
    }
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn answers_with_unknown_sequence_numbers_are_ignored_and_the_submit_times_out() {
    let sim = start_sim(SimSettings { behaviour: Behaviour::UnknownSequence, ..sim_settings() }).await;
    let mut link = Harness::start(smpp_config(sim.addr()));
    link.send(sms(1, "who are you")).await;
    link.answered(1, Duration::from_secs(3)).await;
    assert_eq!(temporary_failures(&link.seen), ["no answer to submit_sm within 1s"]);
    // The receipt for what the SMSC did accept still arrives and is reported.
    link.until(Duration::from_secs(3), "receipt", |s| !receipts(s).is_empty()).await;
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn a_connection_closed_in_the_middle_of_an_answer_fails_the_message_as_temporary() {
    let sim = start_sim(SimSettings { behaviour: Behaviour::CloseMidPdu, ..sim_settings() }).await;
    let mut link = Harness::start(smpp_config(sim.addr()));
    link.send(sms(1, "half")).await;
    link.answered(1, Duration::from_secs(3)).await;
    assert_eq!(temporary_failures(&link.seen).len(), 1);
    wait_for("bound again", Duration::from_secs(3), || sim.stats().binds_total >= 2).await;
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn the_window_holds_per_session_counted_at_the_smsc() {
    let sim = start_sim(SimSettings { submit_delay: Duration::from_millis(50), ..sim_settings() }).await;
    let mut link = Harness::start(SmppConfig { window: 3, binds: 2, ..smpp_config(sim.addr()) });
    wait_for("both bound", Duration::from_secs(3), || sim.stats().binds_now == 2).await;
    for i in 0..40 {
        link.send(sms(i, "windowed")).await;
    }
    link.answered(40, Duration::from_secs(5)).await;
    let max_window = sim.stats().max_window;
    assert!(max_window <= 6, "{max_window} outstanding at once, window 3 × 2 binds");
    assert!(max_window >= 4, "{max_window}: both sessions should fill their windows");
    assert_eq!(link.handle.stats.window_size.load(Ordering::Relaxed), 6);
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn throughput_holds_over_all_sessions_counted_at_the_smsc() {
    let sim = start_sim(sim_settings()).await;
    let mut link = Harness::start(SmppConfig { throughput: 40, binds: 2, ..smpp_config(sim.addr()) });
    wait_for("both bound", Duration::from_secs(3), || sim.stats().binds_now == 2).await;
    let start = Instant::now();
    for i in 0..60 {
        link.send(sms(i, "paced")).await;
    }
    link.answered(60, Duration::from_secs(5)).await;
    let elapsed = start.elapsed();
    let peak = sim.stats().peak_per_second;
    // The bucket holds 5% of a second's tokens (2 here), so any second sees at
    // most 42; one more is allowed for loopback scheduling jitter bunching
    // two sends at the simulator.
    assert!(peak <= 43, "{peak} in one second at 40/s");
    assert!(elapsed >= Duration::from_millis(1_400), "60 at 40/s took only {elapsed:?}");
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn a_transmitter_and_a_receiver_bind_separately_and_receipts_come_on_the_receiver() {
    let sim = start_sim(sim_settings()).await;
    let mut link =
        Harness::start(SmppConfig { bind: BindMode::TransmitterReceiver, ..smpp_config(sim.addr()) });
    wait_for("two binds", Duration::from_secs(3), || sim.stats().binds_now == 2).await;
    assert_eq!(link.handle.stats.binds_configured.load(Ordering::Relaxed), 2);
    assert_eq!(link.handle.stats.window_size.load(Ordering::Relaxed), 10);
    link.send(sms(1, "split roles")).await;
    sim.inject_mo(TO, "7100", "reply").await.unwrap();
    link.until(Duration::from_secs(3), "receipt and MO", |s| {
        !receipts(s).is_empty() && !inbound(s).is_empty()
    })
    .await;
    assert_eq!(receipts(&link.seen)[0].0, submitted_ids(&link.seen, "m1")[0]);
    assert_eq!(inbound(&link.seen)[0].text, "reply");
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn decimal_and_hex_smsc_ids_match_their_receipts() {
    for format in [IdFormat::Decimal, IdFormat::Hex] {
        let sim = start_sim(SimSettings { id_format: format, ..sim_settings() }).await;
        let mut link = Harness::start(smpp_config(sim.addr()));
        link.send(sms(1, "ids")).await;
        link.until(Duration::from_secs(3), "receipt", |s| !receipts(s).is_empty()).await;
        let id = &submitted_ids(&link.seen, "m1")[0];
        assert_eq!(&receipts(&link.seen)[0].0, id, "{format:?}");
        let radix = if format == IdFormat::Decimal { 10 } else { 16 };
        assert!(id.chars().all(|c| c.is_digit(radix)), "{format:?}: {id}");
        link.stop().await;
        sim.stop().await;
    }
}

#[tokio::test]
async fn a_query_for_an_overdue_receipt_reports_the_final_state() {
    let sim = start_sim(SimSettings { undelivered: 1, delivered: 0, ..sim_settings() }).await;
    let mut link = Harness::start(SmppConfig { registered_delivery: 0, ..smpp_config(sim.addr()) });
    link.send(sms(1, "did it arrive?")).await;
    link.answered(1, Duration::from_secs(3)).await;
    let id = submitted_ids(&link.seen, "m1")[0].clone();
    sleep(Duration::from_millis(100)).await;
    link.send(Command::Query { message_id: "m1".into(), smsc_id: id.clone(), from: None }).await;
    link.until(Duration::from_secs(3), "query answer", |s| !receipts(s).is_empty()).await;
    assert_eq!(receipts(&link.seen), [(id, Some(MessageStatus::Undelivered))]);
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn at_shutdown_every_taken_message_is_answered_before_the_unbind() {
    let sim = start_sim(SimSettings { submit_delay: Duration::from_millis(300), ..sim_settings() }).await;
    let link = Harness::start(smpp_config(sim.addr()));
    wait_for("bound", Duration::from_secs(3), || sim.stats().binds_now == 1).await;
    for i in 0..5 {
        link.send(sms(i, "last call")).await;
    }
    wait_for("in the window", Duration::from_secs(3), || sim.stats().outstanding == 5).await;
    let seen = link.stop().await;
    assert_one_answer_each(&seen, 5);
    assert!(seen.iter().all(|e| !matches!(e, ConnectorEvent::SubmitFailed { .. })), "{seen:#?}");
    wait_for("unbound", Duration::from_secs(2), || sim.stats().binds_now == 0).await;
    sim.stop().await;
}

#[tokio::test]
async fn tls_with_a_self_signed_certificate_works_when_told_to_trust_anything() {
    kurier::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, key.cert.pem()).unwrap();
    std::fs::write(&key_path, key.signing_key.serialize_pem()).unwrap();
    let sim = start_sim(SimSettings { tls: Some((cert_path, key_path)), ..sim_settings() }).await;

    // Verified against the platform's roots, the self-signed certificate is refused.
    let strict = Harness::start(SmppConfig { tls: true, ..smpp_config(sim.addr()) });
    sleep(Duration::from_millis(500)).await;
    assert!(!strict.handle.is_up());
    assert_eq!(sim.stats().binds_total, 0);
    assert!(strict.stop().await.is_empty());

    let mut link = Harness::start(SmppConfig { tls: true, tls_insecure: true, ..smpp_config(sim.addr()) });
    link.send(sms(1, "over TLS")).await;
    link.until(Duration::from_secs(3), "receipt", |s| !receipts(s).is_empty()).await;
    assert_eq!(sim.received()[0].text, "over TLS");
    link.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn a_message_that_cannot_be_encoded_for_smpp_is_refused_permanently_without_a_submit() {
    let sim = start_sim(sim_settings()).await;
    let mut link = Harness::start(smpp_config(sim.addr()));
    link.send(Command::Submit(OutboundSms {
        message_id: "bad".into(),
        to: format!("+{}", "1".repeat(25)),
        from: None,
        text: "hi".into(),
    }))
    .await;
    link.answered(1, Duration::from_secs(3)).await;
    assert!(matches!(&answers(&link.seen)["bad"][0], ConnectorEvent::SubmitFailed { temporary: false, .. }));
    assert_eq!(sim.stats().submits, 0);
    link.stop().await;
    sim.stop().await;
}

// ---------------------------------------------------------------------------
// The whole app, over HTTP
// ---------------------------------------------------------------------------

/// The app with one SMPP connector to `sim` instead of the built-in simulator.
async fn start_app(b: &common::Backend, sim: &SimHandle, tweak: impl FnOnce(&mut SmppConfig)) -> TestApp {
    let mut cfg = smpp_config(sim.addr());
    tweak(&mut cfg);
    TestApp::start_with(b, move |c: &mut Config| {
        c.dispatch.max_attempts = 100;
        c.connectors =
            vec![ConnectorConfig { name: "operator".into(), settings: ConnectorSettings::Smpp(cfg) }];
    })
    .await
}

async fn send_many(app: &TestApp, n: usize, text: &str) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(app.send(json!({"to": format!("+4860010{i:04}"), "text": text})).await);
    }
    ids
}

async fn all_delivered(app: &TestApp, ids: &[String]) {
    for id in ids {
        app.wait_for_status(id, "delivered").await;
    }
}

#[tokio::test]
async fn a_long_unicode_message_sent_over_http_is_delivered_whole_with_its_parts_visible() {
    on_each_backend(|b| async move {
        let sim = start_sim(sim_settings()).await;
        let app = start_app(&b, &sim, |_| {}).await;
        let text = "Dzień dobry! Przypominamy o wizycie jutro o 9:00 😀 ".repeat(3);
        let id = app.send(json!({"to": TO, "from": "Przychodnia", "text": text})).await;
        let m = app.wait_for_status(&id, "delivered").await;
        assert_eq!(m["connector"], "operator");
        let got = sim.received().pop().unwrap();
        assert_eq!((got.text.as_str(), got.parts, got.from.as_str()), (text.as_str(), 3, "Przychodnia"));
        let parts = m["parts"].as_array().expect("parts");
        assert_eq!(parts.len(), 3, "{m}");
        let part_ids: Vec<&str> = parts.iter().map(|p| p["smsc_message_id"].as_str().unwrap()).collect();
        assert_eq!(part_ids, got.message_ids.iter().map(String::as_str).collect::<Vec<_>>());
        app.stop().await;
        sim.stop().await;
    })
    .await;
}

/// The test key's account pays 0.05 EUR a segment to Poland, with 1 EUR.
async fn charge_for_poland(app: &TestApp) {
    let tariff =
        json!({"name": "Standard", "currency": "EUR", "prices": [{"prefix": "+48", "price": "0.05"}]});
    let (s, t) = app.post("/api/v1/tariffs", tariff).await;
    assert_eq!(s, 201, "{t}");
    let (s, b) = app.patch("/api/v1/accounts/default/billing", json!({"tariff": "Standard"})).await;
    assert_eq!(s, 200, "{b}");
    let (s, e) = app.post("/api/v1/accounts/default/top-ups", json!({"amount": "1"})).await;
    assert_eq!(s, 201, "{e}");
}

#[tokio::test]
async fn a_message_is_charged_for_the_segments_the_connector_sent_not_the_standard_count() {
    on_each_backend(|b| async move {
        // (connector setting, text, segments counted when accepted, segments sent)
        type Tweak = fn(&mut SmppConfig);
        let e100 = format!("{}é", "x".repeat(99));
        let x306 = "x".repeat(306);
        let cases: [(&str, Tweak, &str, i64, i64); 3] = [
            ("IA5 default coding, é goes as UCS-2", |c| c.default_data_coding = 1, &e100, 1, 2),
            ("16-bit references, 152 septets a part", |c| c.long_messages = LongMessages::Udh16, &x306, 2, 3),
            ("as counted", |_| {}, &x306, 2, 2),
        ];
        for (what, tweak, text, counted, sent) in cases {
            let sim = start_sim(sim_settings()).await;
            let app = start_app(&b, &sim, tweak).await;
            charge_for_poland(&app).await;
            let (s, r) = app.post("/api/v1/messages", json!({"to": TO, "text": text})).await;
            assert_eq!(s, 202, "{what}: {r}");
            assert_eq!(r["messages"][0]["segments"], counted, "{what}: {r}");
            let id = r["messages"][0]["id"].as_str().unwrap().to_owned();
            let m = app.wait_for_status(&id, "delivered").await;
            assert_eq!(m["segments"], sent, "{what}: {m}");
            assert_eq!(sim.received().pop().unwrap().parts as i64, sent, "{what}");
            app.wait_until_settled().await;
            let (_, billing) = app.get("/api/v1/billing").await;
            let left = format!("{:.2}", 1.0 - 0.05 * sent as f64);
            assert_eq!(billing["balance"]["amount"], left.as_str(), "{what}: {billing}");
            assert_eq!(billing["reserved"]["amount"], "0.00", "{what}: {billing}");
            let (_, usage) = app.get("/api/v1/reports/usage?group_by=country").await;
            assert_eq!(usage["lines"][0]["segments"], sent, "{what}: {usage}");
            app.stop().await;
            sim.stop().await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_long_message_from_a_phone_appears_reassembled_among_inbound_messages() {
    on_each_backend(|b| async move {
        let sim = start_sim(sim_settings()).await;
        let app = start_app(&b, &sim, |_| {}).await;
        wait_for("bound", Duration::from_secs(3), || sim.stats().binds_now == 1).await;
        let text = "Chętnie wezmę udział w ankiecie, proszę o więcej szczegółów. ".repeat(3);
        sim.inject_mo(TO, "7100", &text).await.unwrap();
        sim.inject_mo("+48600999888", "7100", "STOP").await.unwrap();
        let mut list = serde_json::Value::Null;
        for _ in 0..300 {
            list = app.get("/api/v1/messages?direction=inbound").await.1;
            if list["messages"].as_array().is_some_and(|m| m.len() == 2) {
                break;
            }
            sleep(Duration::from_millis(20)).await;
        }
        let messages = list["messages"].as_array().unwrap_or_else(|| panic!("{list}"));
        assert_eq!(messages.len(), 2, "{list}");
        let long = messages.iter().find(|m| m["from"] == TO).expect("the long one");
        assert_eq!(long["text"], text.as_str());
        assert_eq!(long["to"], "7100");
        assert!(messages.iter().any(|m| m["text"] == "STOP"));
        app.stop().await;
        sim.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_report_the_database_refuses_is_set_aside_and_the_rest_still_recorded() {
    on_each_backend(|b| async move {
        let sim = start_sim(sim_settings()).await;
        let app = start_app(&b, &sim, |_| {}).await;
        wait_for("bound", Duration::from_secs(3), || sim.stats().binds_now == 1).await;
        // A database that refuses one inbound message for what it holds, as
        // PostgreSQL refused a NUL: before, the recorder retried that batch
        // forever and recorded nothing after it.
        let url = app.db.as_ref().unwrap().url.clone();
        let refuse = if url.starts_with("sqlite") {
            vec![
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages WHEN NEW.body = 'poison'
                 BEGIN SELECT RAISE(ABORT, 'poison refused'); END",
            ]
        } else {
            vec![
                "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN IF NEW.body = 'poison' THEN RAISE EXCEPTION 'poison refused'; END IF; RETURN NEW; END $$",
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
            ]
        };
        {
            use sqlx::Connection as _;
            let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
            for sql in refuse {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await.unwrap();
            }
            conn.close().await.ok();
        }
        sim.inject_mo(TO, "7100", "poison").await.unwrap();
        sim.inject_mo("+48600999888", "7100", "fine").await.unwrap();
        let mut list = serde_json::Value::Null;
        for _ in 0..500 {
            list = app.get("/api/v1/messages?direction=inbound").await.1;
            if list["messages"].as_array().is_some_and(|m| !m.is_empty()) {
                break;
            }
            sleep(Duration::from_millis(20)).await;
        }
        let texts: Vec<&str> =
            list["messages"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
        assert_eq!(texts, ["fine"], "{list}");
        // Reports after it are recorded too: a message goes out and its
        // receipt comes back.
        let id = app.send(json!({"to": TO, "text": "still working"})).await;
        app.wait_for_status(&id, "delivered").await;
        app.stop().await;
        sim.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_refused_message_ends_rejected_with_the_smsc_code_visible() {
    on_each_backend(|b| async move {
        let sim =
            start_sim(SimSettings { behaviour: Behaviour::ErrorOnSubmit(0x0B), ..sim_settings() }).await;
        let app = start_app(&b, &sim, |_| {}).await;
        let id = app.send(json!({"to": TO, "text": "nope"})).await;
        let m = app.wait_for_status(&id, "rejected").await;
        assert!(m["error"].as_str().is_some_and(|e| e.contains("ESME_RINVDSTADR (0x0000000B)")), "{m}");
        app.stop().await;
        sim.stop().await;
    })
    .await;
}

#[tokio::test]
async fn throttled_and_queue_full_messages_are_slowed_down_and_all_delivered_in_the_end() {
    for behaviour in [Behaviour::ThrottleEvery(4), Behaviour::QueueFullEvery(5)] {
        let sim = start_sim(SimSettings { behaviour, ..sim_settings() }).await;
        let app = start_app(&common::Backend::Sqlite, &sim, |_| {}).await;
        let ids = send_many(&app, 20, "slow down").await;
        all_delivered(&app, &ids).await;
        assert!(sim.stats().submit_errors >= 4, "{behaviour:?}: {:?}", sim.stats());
        app.stop().await;
        sim.stop().await;
    }
}

#[tokio::test]
async fn after_a_black_hole_and_broken_sessions_no_message_is_lost() {
    let sim = start_sim(SimSettings { behaviour: Behaviour::BlackHole, ..sim_settings() }).await;
    let app = start_app(&common::Backend::Sqlite, &sim, |_| {}).await;
    let ids = send_many(&app, 10, "hold on").await;
    wait_for("timed out and reconnected", Duration::from_secs(4), || sim.stats().binds_total >= 2).await;
    sim.set_behaviour(Behaviour::DisconnectAfter(3));
    wait_for("dropped a few more", Duration::from_secs(5), || sim.stats().binds_total >= 4).await;
    sim.set_behaviour(Behaviour::Happy);
    all_delivered(&app, &ids).await;
    app.stop().await;
    sim.stop().await;
}

/// Binds of the operator connector as a node reports them.
async fn binds_up(app: &TestApp) -> u64 {
    let (_, list) = app.get("/api/v1/connectors").await;
    list["connectors"].as_array().unwrap().iter().find(|c| c["name"] == "operator").unwrap()["binds_up"]
        .as_u64()
        .unwrap()
}

async fn wait_binds(sim: &SimHandle, app: &TestApp, sim_binds: u64, app_binds: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while sim.stats().binds_now != sim_binds || binds_up(app).await != app_binds {
        assert!(
            Instant::now() < deadline,
            "the SMSC never saw {sim_binds} binds with {app_binds} of this node's: {} and {}",
            sim.stats().binds_now,
            binds_up(app).await
        );
        sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_nodes_on_one_database_never_open_more_sessions_than_binds_and_hand_them_over() {
    on_each_backend(|b| async move {
        let sim = start_sim(sim_settings()).await;
        let mut first = start_app(&b, &sim, |c| c.binds = 2).await;
        wait_binds(&sim, &first, 2, 2).await;

        // A second node on the same database, with the same connector.
        let db = first.db.take().unwrap();
        let mut cfg = common::test_config(&db.url);
        let mut smpp = smpp_config(sim.addr());
        smpp.binds = 2;
        cfg.connectors =
            vec![ConnectorConfig { name: "operator".into(), settings: ConnectorSettings::Smpp(smpp) }];
        let node = kurier::app::App::start(cfg, kurier::app::AdminSeed { password: None, api_key: None })
            .await
            .expect("the second node starts");
        let base = format!("http://{}", node.local_addr());
        let second = TestApp { app: Some(node), db: None, base, http: reqwest::Client::new() };
        sleep(Duration::from_millis(500)).await;
        assert_eq!(sim.stats().binds_now, 2, "the operator allows two sessions in all");
        assert_eq!(binds_up(&second).await, 0, "the first node holds both leases");

        // The first node stops and releases its leases; the second takes them.
        first.stop().await;
        wait_binds(&sim, &second, 2, 2).await;
        let id = second.send(json!({"to": TO, "text": "through the second node"})).await;
        second.wait_for_status(&id, "delivered").await;
        second.stop().await;
        db.drop_db().await;
    })
    .await;
}
