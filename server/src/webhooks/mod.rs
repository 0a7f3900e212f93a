//! Webhooks: signed, retried HTTP callbacks to customers' systems.
//!
//! Callbacks are written to storage together with the change they report;
//! this worker claims due ones, POSTs them signed, and records every attempt.
//! A failed attempt is retried with exponential backoff for
//! `webhooks.retry_window_secs` (a day by default; the last attempt falls
//! at the window's end) or `webhooks.max_attempts`, whichever ends first.
//! A callback can be sent again by hand (`resend`), which opens a new
//! window. An endpoint that hangs costs one attempt of
//! `webhooks.timeout_secs`; it never holds a callback back for longer.
//!
//! Signature: header `X-Kurier-Signature: t=<unix seconds>,v1=<hex>` where
//! `<hex>` is HMAC-SHA256 with the account's secret over `"<t>.<body>"`.
//! Receivers recompute it and reject old timestamps to stop replays.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt as _};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::config::WebhooksConfig;
use crate::storage::{AttemptRecord, AttemptResult, Store, WebhookJob, now_micros};
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
/// Longest response error text kept in the attempt log.
const MAX_ERROR_LEN: usize = 300;

#[derive(Clone)]
pub struct WebhookSender {
    store: Store,
    client: reqwest::Client,
    cfg: Arc<WebhooksConfig>,
}

impl WebhookSender {
    pub fn new(store: Store, cfg: WebhooksConfig) -> anyhow::Result<Self> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Kurier/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { store, client, cfg: Arc::new(cfg) })
    }

    fn retry_delay(&self, attempts: u32) -> Duration {
        let factor = 1u64 << attempts.saturating_sub(1).min(30);
        Duration::from_millis(self.cfg.retry_base_ms.saturating_mul(factor).min(self.cfg.retry_max_ms))
    }

    /// Sends every due callback once; returns how many were attempted.
    pub async fn step(&self) -> anyhow::Result<usize> {
        let now = now_micros();
        let jobs = self
            .store
            .claim_webhooks(now, now + LEASE.as_micros() as i64, CLAIM_BATCH, window_micros(&self.cfg))
            .await?;
        let n = jobs.len();
        stream::iter(jobs)
            .for_each_concurrent(self.cfg.concurrency, |job| async move {
                if let Err(e) = self.attempt(job).await {
                    tracing::error!(error = %e, "recording a callback attempt failed");
                }
            })
            .await;
        Ok(n)
    }

    async fn attempt(&self, job: WebhookJob) -> anyhow::Result<()> {
        let started = Instant::now();
        let at = now_micros();
        let signature = sign(&job.secret, at / 1_000_000, &job.payload);
        let response = self
            .client
            .post(&job.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(job.payload.clone())
            .send()
            .await;
        let (status, error) = match response {
            Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
            Ok(r) => (Some(r.status().as_u16()), Some(format!("HTTP {}", r.status()))),
            Err(e) => (None, Some(error_text(&e))),
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
            let next = at + self.retry_delay(attempts).as_micros() as i64;
            AttemptResult::RetryAt(next.min(job.retry_until))
        };
        let record = AttemptRecord {
            at,
            response_status: status.map(i64::from),
            error,
            duration_ms: started.elapsed().as_millis() as i64,
        };
        self.store.record_webhook_attempt(&job.id, &record, result).await?;
        Ok(())
    }

    /// Runs until `shutdown`, looking for due callbacks every `poll`.
    pub async fn run(self, poll: Duration, shutdown: CancellationToken) -> anyhow::Result<()> {
        while !shutdown.is_cancelled() {
            let busy = match self.step().await {
                Ok(n) => n == CLAIM_BATCH,
                Err(e) => {
                    tracing::error!(error = %e, "callback step failed");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(poll) => {}
                }
            }
        }
        Ok(())
    }
}

/// How long callbacks are retried after they were created or re-sent, in
/// microseconds.
pub fn window_micros(cfg: &WebhooksConfig) -> i64 {
    i64::try_from(cfg.retry_window_secs).unwrap_or(i64::MAX / 1_000_000).saturating_mul(1_000_000)
}

fn error_text(e: &reqwest::Error) -> String {
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
