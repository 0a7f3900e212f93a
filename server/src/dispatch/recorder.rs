//! The recorder: writes what connectors report to storage, many reports per
//! transaction (group commit), then frees the dispatcher's in-flight room.

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
            let connector = e.connector.to_string();
            let outcome = match &e.event {
                ConnectorEvent::Submitted { message_id, smsc_ids } => {
                    answered += 1;
                    Outcome::Submitted {
                        message_id: message_id.clone(),
                        connector,
                        smsc_ids: smsc_ids.clone(),
                    }
                }
                ConnectorEvent::SubmitFailed { message_id, temporary, reason } => {
                    answered += 1;
                    Outcome::SubmitFailed {
                        message_id: message_id.clone(),
                        connector,
                        temporary: *temporary,
                        reason: reason.clone(),
                    }
                }
                ConnectorEvent::DeliveryReport { smsc_id, status, detail } => Outcome::Receipt {
                    connector,
                    smsc_id: smsc_id.clone(),
                    status: *status,
                    detail: detail.clone(),
                },
                ConnectorEvent::Inbound(sms) => Outcome::Inbound { connector, sms: sms.clone() },
                ConnectorEvent::LinkUp => {
                    tracing::info!(connector = %e.connector, "link up");
                    continue;
                }
                ConnectorEvent::LinkDown { reason } => {
                    tracing::warn!(connector = %e.connector, reason, "link down");
                    continue;
                }
            };
            telemetry::outcome(&outcome);
            outcomes.push(outcome);
        }
        let mut delay = std::time::Duration::from_millis(50);
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
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
        self.in_flight.done(answered);
        for e in events.iter_mut() {
            if let Some(stored) = e.stored.take() {
                let _ = stored.send(());
            }
        }
    }
}
