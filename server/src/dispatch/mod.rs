//! Dispatch: the outbound worker. It claims due messages from the durable
//! queue in batches, routes each to a connector, and records what connectors
//! report (submit answers, delivery reports) back in batches.
//!
//! Only this module talks to connectors; the API and the scheduler only write
//! to the queue. The dispatcher exposes [`Dispatcher::step`] so tests can
//! drive it one step at a time instead of sleeping.
//!
//! Claims carry a lease that this node renews while it runs. Work held by a
//! node that died is taken back when its lease expires, or at once when the
//! same node (same `server.node_id`) starts again.

mod recorder;

pub use recorder::Recorder;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{DispatchConfig, MIN_LEASE_SECS};
use crate::connectors::{Command, ConnectorHandle, Connectors, OutboundSms};
use crate::storage::{RetryPolicy, Store, now_micros, secs_to_micros};
use crate::telemetry;

/// State shared by the dispatcher and the recorder.
#[derive(Clone, Default)]
pub struct InFlight {
    count: Arc<AtomicUsize>,
    /// Woken when in-flight work was answered or new work was queued.
    pub wake: Arc<Notify>,
}

impl InFlight {
    pub fn get(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        self.count.fetch_add(n, Ordering::Relaxed);
        telemetry::in_flight(self.get());
    }

    pub(crate) fn done(&self, n: usize) {
        if n > 0 {
            let _ =
                self.count.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| Some(c.saturating_sub(n)));
            telemetry::in_flight(self.get());
            self.wake.notify_one();
        }
    }
}

pub struct Dispatcher {
    store: Store,
    connectors: Connectors,
    node: String,
    cfg: DispatchConfig,
    in_flight: InFlight,
    /// When a step last looked for work due by the clock (a monotonic
    /// clock: a step of the wall clock must not stop these looks).
    timed_at: std::sync::Mutex<Option<Instant>>,
    /// Cancelled when Kurier stops: a hand-over waiting for room gives up
    /// (the message stays `sending` and is re-queued at the stop).
    stop: CancellationToken,
}

/// What one step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StepReport {
    pub promoted: usize,
    pub claimed: usize,
    pub queried: usize,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        connectors: Connectors,
        node: String,
        cfg: DispatchConfig,
        in_flight: InFlight,
    ) -> Self {
        Self {
            store,
            connectors,
            node,
            cfg,
            in_flight,
            timed_at: std::sync::Mutex::new(None),
            stop: CancellationToken::new(),
        }
    }

    pub fn retry_policy(cfg: &DispatchConfig) -> RetryPolicy {
        RetryPolicy {
            max_attempts: cfg.max_attempts,
            base_ms: cfg.retry_base_ms,
            max_ms: cfg.retry_max_ms,
            receipt_check_ms: cfg.receipt_check_secs.saturating_mul(1_000),
        }
    }

    /// Promotes due scheduled messages, asks connectors about overdue
    /// receipts (these two at most every [`TIMED_WORK_EVERY`]), and
    /// hands one batch of due messages to connectors.
    pub async fn step(&self) -> anyhow::Result<StepReport> {
        let now = now_micros();
        let (mut promoted, mut queried) = (0, 0);
        if self.timed_work_due() {
            promoted = self.store.promote_scheduled(now).await?;
            queried = self.query_overdue(now).await?;
        }
        let room = self.cfg.max_in_flight.saturating_sub(self.in_flight.get());
        let limit = room.min(self.cfg.batch_size);
        // With no link up on this node nothing is claimed: the messages
        // wait in the queue, where a node whose link is up takes them,
        // rather than in an outbox here.
        if limit == 0 || !self.connectors.view().all().iter().any(ConnectorHandle::is_up) {
            return Ok(StepReport { promoted, claimed: 0, queried });
        }
        let started = std::time::Instant::now();
        let claimed = self.store.claim_due(&self.node, now, lease_until(&self.cfg, now), limit).await?;
        if !claimed.is_empty() {
            telemetry::store_write("claim", started.elapsed().as_secs_f64());
        }
        let n = claimed.len();
        self.in_flight.add(n);
        for m in claimed {
            let to = m.to.clone();
            let mut command =
                Command::Submit(OutboundSms { message_id: m.id, to: m.to, from: m.from, text: m.text });
            // A connector retired since the view was taken refuses the
            // command: the next view no longer has it.
            for _ in 0..HAND_OVER_TRIES {
                let view = self.connectors.view();
                // The best candidate that is up, waiting for room in its
                // outbox (a full outbox is no reason to leave the route);
                // else the best, waiting for its link.
                let up = |c: &str| view.get(c).is_some_and(|h| h.is_up());
                let handle = view
                    .router()
                    .pick(&to, up)
                    .and_then(|name| view.get(name))
                    .ok_or_else(|| anyhow::anyhow!("no connector is configured"))?;
                let sent = tokio::select! {
                    sent = handle.send(command) => sent,
                    // Stopping: the rest stays `sending` under our lease
                    // and is re-queued at the stop.
                    () = self.stop.cancelled() => return Ok(StepReport { promoted, claimed: n, queried }),
                };
                match sent {
                    Ok(()) => break,
                    Err(back) => {
                        // Stopped: retired, or shutting down (then the
                        // message stays `sending` under our lease and is
                        // re-queued when we stop).
                        tracing::warn!(connector = %handle.name, "connector stopped; routing again");
                        command = back;
                    }
                }
            }
        }
        Ok(StepReport { promoted, claimed: n, queried })
    }

    /// Whether a step should look for work due by the clock; notes the look.
    fn timed_work_due(&self) -> bool {
        let Ok(mut at) = self.timed_at.lock() else { return true };
        let due = at.is_none_or(|t| t.elapsed() >= TIMED_WORK_EVERY);
        if due {
            *at = Some(Instant::now());
        }
        due
    }

    /// Asks connectors for the state of messages whose receipt is overdue;
    /// those past `receipt_expiry_secs` become `expired` instead.
    async fn query_overdue(&self, now: i64) -> anyhow::Result<usize> {
        let expire_after = (self.cfg.receipt_expiry_secs > 0).then_some(self.cfg.receipt_expiry_secs);
        let checks =
            self.store.check_receipts(now, self.cfg.receipt_check_secs, expire_after, QUERY_BATCH).await?;
        if checks.expired > 0 {
            tracing::warn!(messages = checks.expired, "no delivery report came in time; marked expired");
        }
        let overdue = checks.overdue;
        let n = overdue.len();
        for o in overdue {
            if let Some(handle) = self.connectors.get(&o.connector)
                && handle.has_room()
            {
                let query = Command::Query { message_id: o.message_id, smsc_id: o.smsc_id, from: o.from };
                let _ = handle.send(query).await;
            }
        }
        Ok(n)
    }

    /// Runs until `shutdown`: steps whenever there may be work, renews this
    /// node's leases and takes back work whose lease expired.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.stop = shutdown.clone();
        let poll = Duration::from_millis(self.cfg.poll_interval_ms.max(1));
        // Leases are kept by a task of their own: a step waiting for room in
        // a slow connector's outbox must not let this node's claims lapse
        // (another node would take them and send them a second time).
        let keeper = tokio::spawn(Self::keep_leases(
            self.store.clone(),
            self.node.clone(),
            self.cfg.clone(),
            shutdown.clone(),
        ));
        while !shutdown.is_cancelled() {
            let report = match self.step().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "dispatch step failed; retrying");
                    StepReport::default()
                }
            };
            let full = report.claimed == self.cfg.batch_size;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.in_flight.wake.notified(), if !full => {}
                () = tokio::time::sleep(poll), if !full => {}
                () = std::future::ready(()), if full => {}
            }
        }
        keeper.await?;
        Ok(())
    }

    /// Until `shutdown`: renews this node's claims every third of the lease,
    /// takes back claims other nodes stopped renewing, and deletes the
    /// idempotency keys past their retention.
    async fn keep_leases(store: Store, node: String, cfg: DispatchConfig, shutdown: CancellationToken) {
        // Validated so; a config built in code is kept safe too.
        let lease = Duration::from_secs(cfg.lease_secs.max(MIN_LEASE_SECS));
        let mut maintenance = tokio::time::interval(lease / 3);
        maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = maintenance.tick() => {}
            }
            let now = now_micros();
            if let Err(e) = store.renew_leases(&node, lease_until(&cfg, now)).await {
                tracing::error!(error = %e, "renewing leases failed");
            }
            match store
                .requeue_sending(None, now, "re-queued: the claiming node stopped renewing its lease")
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::warn!(messages = n, "took back messages from a node that stopped"),
                Err(e) => tracing::error!(error = %e, "taking back expired claims failed"),
            }
            if let Err(e) = store.prune_idempotency_keys(now).await {
                tracing::error!(error = %e, "deleting expired idempotency keys failed");
            }
        }
    }
}

/// When a claim made or renewed at `now` lapses.
fn lease_until(cfg: &DispatchConfig, now: i64) -> i64 {
    now.saturating_add(secs_to_micros(cfg.lease_secs))
}

/// Routings tried for one message before it is left for re-queueing.
const HAND_OVER_TRIES: usize = 3;

/// Scheduled messages and overdue receipts come due by the clock, not with
/// new work: a busy dispatcher, stepping with every claim, looks for them
/// this often (each look is a read per kind).
const TIMED_WORK_EVERY: Duration = Duration::from_millis(100);

/// Overdue receipts asked about per step.
const QUERY_BATCH: usize = 100;
