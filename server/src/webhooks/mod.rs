//! Webhooks: signed, retried HTTP callbacks to customers' systems.
//!
//! Callbacks are written to storage together with the change they report;
//! this worker claims due ones, POSTs them signed, and records every attempt.
//! A failed attempt is retried with exponential backoff for
//! `webhooks.retry_window_secs` (a day by default; the last attempt falls
//! at the window's end) or `webhooks.max_attempts`, whichever ends first.
//! A callback can be sent again by hand (`resend`), which opens a new
//! window. An endpoint that hangs costs one attempt of
//! `webhooks.timeout_secs`; it never holds a callback back for longer, and
//! it holds back no other endpoint's callbacks (see [`WebhookSender::run`]).
//! Only the claim holding a callback POSTs it and records the attempt: one
//! whose lease lapsed and which another node (or a later claim) took over
//! is neither sent nor recorded by the first, and a re-send leaves a
//! callback being tried with its worker (due again at once after that
//! attempt, unless it delivers).
//!
//! Signature: header `X-Kurier-Signature: t=<unix seconds>,v1=<hex>` where
//! `<hex>` is HMAC-SHA256 with the account's secret over `"<t>.<body>"`.
//! Receivers recompute it and reject old timestamps to stop replays.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::WebhooksConfig;
use crate::outbound::OutboundPolicy;
use crate::storage::{
    AttemptRecord, AttemptResult, Store, WebhookJob, duration_micros, now_micros, secs_to_micros,
};
use crate::telemetry;

pub const SIGNATURE_HEADER: &str = "X-Kurier-Signature";

/// The signature header value for `body` sent at `unix_secs`.
pub fn sign(secret: &str, unix_secs: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("t={unix_secs},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Callbacks claimed per step.
const CLAIM_BATCH: usize = 200;
/// How long a claimed callback is reserved for this worker.
const LEASE: Duration = Duration::from_secs(120);
/// Added to `webhooks.timeout_secs` for the hold an attempt needs: time to
/// record it.
const HOLD_MARGIN: Duration = Duration::from_secs(30);
/// Longest response error text kept in the attempt log.
const MAX_ERROR_LEN: usize = 300;

#[derive(Clone)]
pub struct WebhookSender {
    store: Store,
    /// This node's name, in its claims.
    node: Arc<str>,
    client: reqwest::Client,
    cfg: Arc<WebhooksConfig>,
    policy: OutboundPolicy,
}

impl WebhookSender {
    pub fn new(
        store: Store,
        node: String,
        cfg: WebhooksConfig,
        policy: OutboundPolicy,
    ) -> anyhow::Result<Self> {
        crate::install_crypto_provider();
        let client = policy
            .client_builder(0)
            .timeout(timeout(&cfg))
            .user_agent(concat!("Kurier/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { store, node: node.into(), client, cfg: Arc::new(cfg), policy })
    }

    fn retry_delay(&self, attempts: u32) -> Duration {
        let factor = 1u64 << attempts.saturating_sub(1).min(30);
        Duration::from_millis(self.cfg.retry_base_ms.saturating_mul(factor).min(self.cfg.retry_max_ms))
    }

    /// Claims up to `limit` due callbacks, leased for `lease`.
    async fn claim(&self, limit: usize, lease: Duration) -> anyhow::Result<Vec<WebhookJob>> {
        let now = now_micros();
        Ok(self
            .store
            .claim_webhooks(&self.node, now, now + lease.as_micros() as i64, limit, window_micros(&self.cfg))
            .await?)
    }

    async fn attempt(&self, mut job: WebhookJob) -> anyhow::Result<()> {
        // The claim must hold the callback for the whole attempt (one that
        // waited in its endpoint's line may have lapsed): lost to another
        // node, it is that node's to send.
        let until = now_micros() + self.timeout().saturating_add(HOLD_MARGIN).as_micros() as i64;
        if !self.store.hold_webhook(&mut job, until).await? {
            tracing::warn!(delivery_id = %job.id, "callback taken over by another node; not sent here");
            return Ok(());
        }
        let started = Instant::now();
        let at = now_micros();
        let signature = sign(&job.secret, at / 1_000_000, &job.payload);
        let response = match self.policy.allowed_url(&job.url) {
            Err(why) => Err(why),
            Ok(url) => self
                .client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signature)
                .body(job.payload.clone())
                .send()
                .await
                .map_err(|e| error_text(&e)),
        };
        let (status, error) = match response {
            Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
            Ok(r) => (Some(r.status().as_u16()), Some(format!("HTTP {}", r.status()))),
            Err(e) => (None, Some(e)),
        };
        let attempts = u32::try_from(job.attempts + 1).unwrap_or(u32::MAX);
        let result = if error.is_none() {
            telemetry::webhook_attempt("delivered");
            AttemptResult::Delivered
        } else if attempts >= self.cfg.max_attempts || now_micros() >= job.retry_until {
            telemetry::webhook_attempt("gave_up");
            AttemptResult::GaveUp
        } else {
            telemetry::webhook_attempt("retry");
            let next = at.saturating_add(duration_micros(self.retry_delay(attempts)));
            AttemptResult::RetryAt(next.min(job.retry_until))
        };
        let record = AttemptRecord {
            at,
            response_status: status.map(i64::from),
            error,
            duration_ms: started.elapsed().as_millis() as i64,
        };
        if !self.store.record_webhook_attempt(&job, &record, result).await? {
            tracing::warn!(delivery_id = %job.id, "callback taken over by another node; attempt not recorded here");
        }
        Ok(())
    }

    /// Runs until `shutdown`, looking for due callbacks every `poll`.
    ///
    /// Up to `webhooks.concurrency` attempts run at once, each bounded by
    /// `webhooks.timeout_secs`; a slot is refilled as soon as its attempt
    /// ends, not when a whole batch has. One endpoint (an origin: scheme,
    /// host and port) gets at most a quarter of the slots: its further
    /// callbacks wait in line for its own slots (a few in memory, the rest
    /// left in storage, costing no attempt and one write per claim), so an
    /// endpoint that hangs delays no other endpoint's callbacks. Those left
    /// in storage are left for as long as the endpoint has gone without
    /// finishing an attempt (at least a second, at most one timeout), and a
    /// step that could start or line up none of what it claimed waits for
    /// the next poll: a hanging endpoint's backlog is not claimed and put
    /// back over and over.
    pub async fn run(self, poll: Duration, shutdown: CancellationToken) -> anyhow::Result<()> {
        let slots = self.cfg.concurrency.max(1);
        let per_endpoint = (slots / 4).max(1);
        // Callbacks waiting in memory stay leased for as long as their
        // line can take.
        let lease = LEASE.max(self.timeout() * (u32::try_from(slots / per_endpoint).unwrap_or(u32::MAX) + 2));
        let lines: Lines = Arc::default();
        let mut tasks: JoinSet<()> = JoinSet::new();
        let ended = Arc::new(Notify::new());
        while !shutdown.is_cancelled() {
            while tasks.try_join_next().is_some() {}
            let limit = slots.saturating_sub(tasks.len()).min(CLAIM_BATCH);
            // A full claim of which something could start or line up:
            // more may be due at once. Nothing could (every endpoint
            // claimed has a full line): wait, rather than claim on.
            let mut claim_on = false;
            if limit > 0 {
                match self.claim(limit, lease).await {
                    Ok(jobs) => {
                        let claimed = jobs.len();
                        // Ids left in storage, by how long.
                        let mut deferred: HashMap<Duration, Vec<String>> = HashMap::new();
                        for job in jobs {
                            if let Some((id, wait)) =
                                self.admit(job, per_endpoint, slots, &lines, &mut tasks, &ended)
                            {
                                deferred.entry(wait).or_default().push(id);
                            }
                        }
                        let left: usize = deferred.values().map(Vec::len).sum();
                        for (wait, ids) in deferred {
                            self.defer(&ids, wait).await;
                        }
                        claim_on = claimed == limit && left < claimed;
                    }
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "callback step failed"),
                }
            }
            if claim_on {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(poll) => {}
                () = ended.notified() => {}
            }
        }
        // Attempts cut short, and callbacks still in line, are claimed
        // again when their lease runs out.
        tasks.shutdown().await;
        Ok(())
    }

    /// Leaves callbacks whose endpoint's line is full in storage for
    /// `wait`, in one write.
    async fn defer(&self, ids: &[String], wait: Duration) {
        if ids.is_empty() {
            return;
        }
        let until = now_micros() + wait.as_micros() as i64;
        if let Err(e) = self.store.defer_webhooks(ids, until).await {
            tracing::error!(error = %e, callbacks = ids.len(), "deferring callbacks failed");
        }
    }

    /// Starts `job` if its endpoint has a free slot, else puts it in the
    /// endpoint's line; else (a long line) returns its id, to be left for
    /// later, and for how long.
    fn admit(
        &self,
        job: WebhookJob,
        per_endpoint: usize,
        max_waiting: usize,
        lines: &Lines,
        tasks: &mut JoinSet<()>,
        ended: &Arc<Notify>,
    ) -> Option<(String, Duration)> {
        let endpoint = endpoint_of(&job.url);
        {
            let mut map = lines.lock().expect("not poisoned");
            let line = map.entry(endpoint.clone()).or_insert_with(Line::new);
            if line.waiting.len() >= max_waiting && line.running >= per_endpoint {
                // In whole seconds, so that one step's deferrals share few
                // writes.
                let stalled = line.progress.elapsed().min(self.timeout()).max(DEFER);
                return Some((job.id, Duration::from_secs(stalled.as_secs())));
            }
            if line.running >= per_endpoint {
                line.waiting.push_back(job);
                return None;
            }
            line.running += 1;
        }
        let sender = self.clone();
        let lines = lines.clone();
        let ended = ended.clone();
        tasks.spawn(async move {
            let mut next = Some(job);
            while let Some(job) = next.take() {
                if let Err(e) = sender.attempt(job).await {
                    tracing::error!(error = %e, "recording a callback attempt failed");
                }
                let mut map = lines.lock().expect("not poisoned");
                if let Some(line) = map.get_mut(&endpoint) {
                    line.progress = Instant::now();
                    next = line.waiting.pop_front();
                    if next.is_none() {
                        line.running = line.running.saturating_sub(1);
                        if line.running == 0 {
                            map.remove(&endpoint);
                        }
                    }
                }
            }
            ended.notify_one();
        });
        None
    }

    fn timeout(&self) -> Duration {
        timeout(&self.cfg)
    }
}

/// How long one attempt may take.
fn timeout(cfg: &WebhooksConfig) -> Duration {
    Duration::from_secs(cfg.timeout_secs.max(1))
}

/// Per endpoint: attempts running, claimed callbacks waiting for one of
/// its slots, and when it last finished an attempt (or got its line).
struct Line {
    running: usize,
    waiting: VecDeque<WebhookJob>,
    progress: Instant,
}

impl Line {
    fn new() -> Self {
        Self { running: 0, waiting: VecDeque::new(), progress: Instant::now() }
    }
}

type Lines = Arc<Mutex<HashMap<String, Line>>>;

/// How long a callback whose endpoint's line is full is left in storage
/// at least. Not longer for an endpoint that keeps answering: a busy one
/// that answers fast drains its line in well under a second, and must not
/// wait for a hanging one's timeout. One that has finished nothing for
/// longer is left for that long (up to a timeout: by then its running
/// attempts have ended).
const DEFER: Duration = Duration::from_secs(1);

/// Who answers a URL: its origin (scheme, host, port), or the URL itself
/// when it does not parse.
fn endpoint_of(url: &str) -> String {
    reqwest::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_else(|_| url.to_owned())
}

/// How long callbacks are retried after they were created or re-sent, in
/// microseconds.
pub fn window_micros(cfg: &WebhooksConfig) -> i64 {
    secs_to_micros(cfg.retry_window_secs)
}

fn error_text(e: &reqwest::Error) -> String {
    // A refusal of the outbound policy says so, not "could not connect".
    if let Some(why) = crate::outbound::refusal(e) {
        return why.chars().take(MAX_ERROR_LEN).collect();
    }
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        e.to_string()
    };
    text.truncate(MAX_ERROR_LEN);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_time_and_body() {
        let a = sign("secret", 1_700_000_000, "{\"a\":1}");
        assert!(a.starts_with("t=1700000000,v1="));
        assert_eq!(a.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(a, sign("secret", 1_700_000_001, "{\"a\":1}"));
        assert_ne!(a, sign("secret", 1_700_000_000, "{\"a\":2}"));
        assert_ne!(a, sign("other", 1_700_000_000, "{\"a\":1}"));
        assert_eq!(a, sign("secret", 1_700_000_000, "{\"a\":1}"));
    }
}
