//! The recorder: writes what connectors report to storage, many reports per
//! transaction (group commit), then frees the dispatcher's in-flight room.
//!
//! A batch the database refuses is retried until it takes it: a report must
//! not be lost because the database was briefly away. But a report the
//! database refuses for what it holds would be refused forever, and with
//! it every report after it: once a batch has failed [`SPLIT_AFTER`] times
//! while the database still answers, its reports are recorded one by one,
//! and one refused alone while others are taken is set aside — logged, and
//! not acknowledged, so an SMSC sends it again later rather than losing it.

use tokio::sync::mpsc;

use super::InFlight;
use crate::connectors::{ConnectorEvent, Event};
use crate::storage::{Outcome, RetryPolicy, Store, now_micros};
use crate::telemetry;

/// Reports written per transaction at most.
const MAX_BATCH: usize = 1_000;

pub struct Recorder {
    store: Store,
    events: mpsc::Receiver<Event>,
    retry: RetryPolicy,
    in_flight: InFlight,
}

impl Recorder {
    pub fn new(store: Store, events: mpsc::Receiver<Event>, retry: RetryPolicy, in_flight: InFlight) -> Self {
        Self { store, events, retry, in_flight }
    }

    /// Runs until every event sender is gone, so nothing reported is dropped.
    pub async fn run(mut self) -> anyhow::Result<()> {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while self.events.recv_many(&mut batch, MAX_BATCH).await > 0 {
            self.record(&mut batch).await;
            batch.clear();
        }
        Ok(())
    }

    /// Writes one batch, retrying until the database takes it: a report must
    /// not be lost because the database was briefly unavailable.
    async fn record(&self, events: &mut [Event]) {
        let mut outcomes = Vec::with_capacity(events.len());
        let mut answered = 0;
        for e in events.iter() {
            match &e.event {
                ConnectorEvent::LinkUp => tracing::info!(connector = %e.connector, "link up"),
                ConnectorEvent::LinkDown { reason } => {
                    tracing::warn!(connector = %e.connector, reason, "link down");
                }
                ConnectorEvent::Submitted { .. }
                | ConnectorEvent::SubmitFailed { .. }
                | ConnectorEvent::NotTaken { .. } => answered += 1,
                ConnectorEvent::DeliveryReport { .. } | ConnectorEvent::Inbound(_) => {}
            }
            if let Some(outcome) = outcome_of(e) {
                telemetry::outcome(&outcome);
                outcomes.push(outcome);
            }
        }
        let mut delay = std::time::Duration::from_millis(50);
        let mut failures = 0;
        let mut set_aside = Vec::new();
        loop {
            let started = std::time::Instant::now();
            match self.store.apply_outcomes(&mut outcomes, self.retry, now_micros()).await {
                Ok(()) => {
                    telemetry::store_write("record", started.elapsed().as_secs_f64());
                    break;
                }
                Err(e) => {
                    // `outcomes` now holds only what is still unrecorded.
                    tracing::error!(error = %e, reports = outcomes.len(), "recording reports failed; retrying");
                    failures += 1;
                    if failures >= SPLIT_AFTER && self.store.ping().await.is_ok() {
                        self.one_by_one(&mut outcomes, &mut set_aside).await;
                        if outcomes.is_empty() {
                            break;
                        }
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
        self.in_flight.done(answered);
        for e in events.iter_mut() {
            // Rebuilt only in the rare batch that set something aside.
            let refused = !set_aside.is_empty() && outcome_of(e).is_some_and(|o| set_aside.contains(&o));
            if let Some(stored) = e.stored.take()
                && !refused
            {
                let _ = stored.send(());
            }
        }
    }

    /// Records `outcomes` one at a time, in order. One the database refuses
    /// alone while it still answers is moved to `set_aside`; the rest are
    /// left in `outcomes` when the database stops answering (to be retried
    /// as a batch).
    async fn one_by_one(&self, outcomes: &mut Vec<Outcome>, set_aside: &mut Vec<Outcome>) {
        let mut left = std::mem::take(outcomes).into_iter();
        while let Some(outcome) = left.next() {
            let mut single = vec![outcome.clone()];
            let Err(e) = self.store.apply_outcomes(&mut single, self.retry, now_micros()).await else {
                continue;
            };
            if self.store.ping().await.is_err() {
                // The database is away, not refusing this report.
                outcomes.push(outcome);
                outcomes.extend(left);
                return;
            }
            tracing::error!(
                error = %e,
                report = ?outcome,
                "the database refuses this report; set aside (an SMSC sends a message or receipt again later)"
            );
            telemetry::report_set_aside();
            set_aside.push(outcome);
        }
    }
}

/// Failed attempts at a batch before its reports are recorded one by one.
const SPLIT_AFTER: u32 = 3;

/// The outcome an event is recorded as (`None` for link changes).
fn outcome_of(e: &Event) -> Option<Outcome> {
    let connector = e.connector.to_string();
    Some(match &e.event {
        ConnectorEvent::Submitted { message_id, smsc_ids, segments } => Outcome::Submitted {
            message_id: message_id.clone(),
            connector,
            smsc_ids: smsc_ids.clone(),
            segments: *segments,
        },
        ConnectorEvent::SubmitFailed { message_id, temporary, reason } => Outcome::SubmitFailed {
            message_id: message_id.clone(),
            connector,
            temporary: *temporary,
            reason: reason.clone(),
        },
        ConnectorEvent::NotTaken { message_id, reason } => {
            Outcome::NotTaken { message_id: message_id.clone(), connector, reason: reason.clone() }
        }
        ConnectorEvent::DeliveryReport { smsc_id, status, detail } => {
            Outcome::Receipt { connector, smsc_id: smsc_id.clone(), status: *status, detail: detail.clone() }
        }
        ConnectorEvent::Inbound(sms) => Outcome::Inbound { connector, sms: sms.clone() },
        ConnectorEvent::LinkUp | ConnectorEvent::LinkDown { .. } => return None,
    })
}
