//! The simulated SMSC, in-process (`kind = "sim"`): accepts every submission
//! after an optional delay, then reports delivery after a configurable delay,
//! with a configurable mix of outcomes. It keeps the same contract as a real
//! link, so its reports travel the same path as an operator's.
//!
//! Outcomes are deterministic for a given seed: whether a submission is
//! refused (permanently or temporarily) follows a seeded sequence, and the
//! final state of an accepted message is a function of the seed and the
//! message id, so the simulator can answer a `Query` after a restart exactly
//! as a real SMSC that kept its state would.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use super::{Command, Connector, ConnectorEvent, Link, LinkStats};
use crate::config::SimConfig;
use crate::domain::MessageStatus;

pub struct SimConnector {
    cfg: SimConfig,
    rng: SplitMix64,
    next_smsc_id: u64,
}

impl SimConnector {
    pub fn new(cfg: SimConfig) -> Self {
        let rng = SplitMix64(cfg.seed);
        // Ids stay unique across restarts of the process.
        let next_smsc_id = (chrono::Utc::now().timestamp_micros() as u64) << 8;
        Self { cfg, rng, next_smsc_id }
    }

    /// What happens to a submission: `Err((temporary, reason))` if refused.
    fn submit_outcome(&mut self) -> Result<(), (bool, String)> {
        let total = u64::from(self.cfg.delivered + self.cfg.undelivered + self.cfg.expired)
            + u64::from(self.cfg.rejected + self.cfg.temporary_error);
        if total == 0 {
            return Ok(());
        }
        let roll = self.rng.next() % total;
        let rejected = u64::from(self.cfg.rejected);
        if roll < rejected {
            Err((false, "ESME_RINVDSTADR (0x0000000B): simulated rejection".into()))
        } else if roll < rejected + u64::from(self.cfg.temporary_error) {
            Err((true, "ESME_RTHROTTLED (0x00000058): simulated temporary error".into()))
        } else {
            Ok(())
        }
    }

    /// The final state of an accepted message: a function of seed and id.
    fn final_state(&self, message_id: &str) -> (MessageStatus, &'static str) {
        let weights = [
            (self.cfg.delivered, MessageStatus::Delivered, "stat:DELIVRD err:000"),
            (self.cfg.undelivered, MessageStatus::Undelivered, "stat:UNDELIV err:001"),
            (self.cfg.expired, MessageStatus::Expired, "stat:EXPIRED err:000"),
        ];
        let total: u64 = weights.iter().map(|w| u64::from(w.0)).sum();
        if total == 0 {
            return (MessageStatus::Delivered, "stat:DELIVRD err:000");
        }
        let mut roll = SplitMix64(self.cfg.seed ^ fnv1a(message_id.as_bytes())).next() % total;
        for (weight, status, detail) in weights {
            if roll < u64::from(weight) {
                return (status, detail);
            }
            roll -= u64::from(weight);
        }
        (MessageStatus::Delivered, "stat:DELIVRD err:000")
    }
}

struct Due {
    at: Instant,
    event: ConnectorEvent,
}

/// How long the simulator waits for its pending answers at shutdown before
/// reporting them at once.
const SHUTDOWN_FLUSH: Duration = Duration::from_millis(0);

impl Connector for SimConnector {
    async fn run(mut self, mut link: Link) -> anyhow::Result<()> {
        link.stats.binds_configured.store(1, std::sync::atomic::Ordering::Relaxed);
        link.stats.binds_up.store(1, std::sync::atomic::Ordering::Relaxed);
        link.stats.window_size.store(self.cfg.window as u64, std::sync::atomic::Ordering::Relaxed);
        link.report(ConnectorEvent::LinkUp).await;
        let submit_delay = Duration::from_millis(self.cfg.submit_delay_ms);
        let receipt_delay = Duration::from_millis(self.cfg.receipt_delay_ms);
        // Both delays are constant, so each queue is in due order.
        let mut answers: VecDeque<Due> = VecDeque::new();
        let mut receipts: VecDeque<Due> = VecDeque::new();
        loop {
            let next_due = [answers.front(), receipts.front()].into_iter().flatten().map(|d| d.at).min();
            let window_full = answers.len() >= self.cfg.window;
            tokio::select! {
                biased;
                () = link.shutdown.cancelled() => break,
                () = async { sleep_until(next_due.unwrap_or_else(Instant::now)).await }, if next_due.is_some() => {
                    let now = Instant::now();
                    while answers.front().is_some_and(|d| d.at <= now) {
                        let due = answers.pop_front().expect("front checked");
                        link.report(due.event).await;
                    }
                    while receipts.front().is_some_and(|d| d.at <= now) {
                        let due = receipts.pop_front().expect("front checked");
                        LinkStats::add(&link.stats.receipts, 1);
                        link.report(due.event).await;
                    }
                }
                command = link.outbox.recv(), if !window_full => {
                    let Some(command) = command else { break };
                    let now = Instant::now();
                    match command {
                        Command::Submit(sms) => {
                            LinkStats::add(&link.stats.submitted, 1);
                            let answer = match self.submit_outcome() {
                                Ok(()) => {
                                    LinkStats::add(&link.stats.acked, 1);
                                    self.next_smsc_id += 1;
                                    let smsc_id = format!("{:x}", self.next_smsc_id);
                                    let (status, detail) = self.final_state(&sms.message_id);
                                    receipts.push_back(Due {
                                        at: now + submit_delay + receipt_delay,
                                        event: ConnectorEvent::DeliveryReport {
                                            smsc_id: smsc_id.clone(),
                                            status: Some(status),
                                            detail: detail.into(),
                                        },
                                    });
                                    // The standard count: 160/153 septets, 70/67 UCS-2 units.
                                    let segments = sms_text::analyze(&sms.text).segments;
                                    ConnectorEvent::Submitted {
                                        message_id: sms.message_id,
                                        smsc_ids: vec![smsc_id],
                                        segments,
                                    }
                                }
                                Err((temporary, reason)) => {
                                    LinkStats::add(&link.stats.errors, 1);
                                    if temporary {
                                        LinkStats::add(&link.stats.throttled, 1);
                                    }
                                    ConnectorEvent::SubmitFailed { message_id: sms.message_id, temporary, reason }
                                }
                            };
                            if submit_delay.is_zero() {
                                link.report(answer).await;
                            } else {
                                answers.push_back(Due { at: now + submit_delay, event: answer });
                            }
                        }
                        Command::Query { message_id, smsc_id, .. } => {
                            let (status, detail) = self.final_state(&message_id);
                            link.report(ConnectorEvent::DeliveryReport {
                                smsc_id,
                                status: Some(status),
                                detail: format!("{detail} (query)"),
                            })
                            .await;
                        }
                        Command::Receive { sms, stored } => {
                            LinkStats::add(&link.stats.inbound, 1);
                            let ok = link.report_stored(ConnectorEvent::Inbound(sms)).await;
                            if !ok {
                                tracing::error!(connector = %link.name, "a simulated inbound message could not be stored");
                            }
                            let _ = stored.send(ok);
                        }
                    }
                }
            }
        }
        // Drain the window: every submission taken gets its answer. Receipts
        // not yet due are dropped, as a real SMSC would send them later; the
        // dispatcher queries for them when they are overdue.
        tokio::time::sleep(SHUTDOWN_FLUSH).await;
        for due in answers.drain(..) {
            link.report(due.event).await;
        }
        link.report(ConnectorEvent::LinkDown { reason: "shutdown".into() }).await;
        Ok(())
    }
}

/// A small, seedable generator (SplitMix64); not for secrets.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::connectors::{Event, OutboundSms};

    fn sms(i: usize) -> Command {
        Command::Submit(OutboundSms {
            message_id: format!("m{i}"),
            to: "+48600100200".into(),
            from: None,
            text: "hi".into(),
        })
    }

    async fn run_sim(cfg: SimConfig, commands: Vec<Command>) -> Vec<ConnectorEvent> {
        let (tx, outbox) = crate::connectors::Outbox::new(1024);
        let (events_tx, mut events) = mpsc::channel::<Event>(1024);
        let shutdown = CancellationToken::new();
        let link = Link {
            name: Arc::from("sim"),
            outbox,
            shutdown: shutdown.clone(),
            stats: Default::default(),
            leases: Arc::new(crate::connectors::Unshared),
            events: events_tx,
            up: Arc::new(AtomicBool::new(false)),
        };
        let task = tokio::spawn(SimConnector::new(cfg.clone()).run(link));
        let n = commands.len();
        for c in commands {
            tx.send(c).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(cfg.submit_delay_ms + cfg.receipt_delay_ms + 50)).await;
        shutdown.cancel();
        task.await.unwrap().unwrap();
        let mut out = Vec::new();
        while let Ok(e) = events.try_recv() {
            out.push(e.event);
        }
        assert!(out.len() >= n);
        out
    }

    #[tokio::test(start_paused = true)]
    async fn every_submission_gets_one_answer_and_accepted_ones_a_receipt() {
        let cfg = SimConfig { undelivered: 10, rejected: 10, temporary_error: 10, ..SimConfig::default() };
        let events = run_sim(cfg, (0..200).map(sms).collect()).await;
        let answers = events
            .iter()
            .filter(|e| matches!(e, ConnectorEvent::Submitted { .. } | ConnectorEvent::SubmitFailed { .. }))
            .count();
        let submitted = events.iter().filter(|e| matches!(e, ConnectorEvent::Submitted { .. })).count();
        let receipts = events.iter().filter(|e| matches!(e, ConnectorEvent::DeliveryReport { .. })).count();
        assert_eq!(answers, 200);
        assert_eq!(receipts, submitted);
        assert!(submitted > 100 && submitted < 200, "{submitted}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_same_seed_gives_the_same_outcomes() {
        let cfg = SimConfig { undelivered: 30, rejected: 20, seed: 42, ..SimConfig::default() };
        let strip = |evs: Vec<ConnectorEvent>| -> Vec<String> {
            evs.into_iter()
                .map(|e| match e {
                    ConnectorEvent::Submitted { message_id, .. } => format!("ok {message_id}"),
                    ConnectorEvent::SubmitFailed { message_id, .. } => format!("fail {message_id}"),
                    ConnectorEvent::DeliveryReport { status, .. } => format!("{status:?}"),
                    other => format!("{other:?}"),
                })
                .collect()
        };
        let a = strip(run_sim(cfg.clone(), (0..100).map(sms).collect()).await);
        let b = strip(run_sim(cfg, (0..100).map(sms).collect()).await);
        assert_eq!(a, b);
    }

    #[tokio::test(start_paused = true)]
    async fn a_query_answers_with_the_same_final_state_as_the_receipt() {
        let cfg = SimConfig { undelivered: 50, receipt_delay_ms: 10, ..SimConfig::default() };
        let sim = SimConnector::new(cfg.clone());
        let events = run_sim(
            cfg,
            vec![sms(7), Command::Query { message_id: "m7".into(), smsc_id: "x".into(), from: None }],
        )
        .await;
        let states: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                ConnectorEvent::DeliveryReport { status, .. } => *status,
                _ => None,
            })
            .collect();
        assert_eq!(states, vec![sim.final_state("m7").0; 2]);
    }
}
