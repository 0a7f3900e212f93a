//! Sends notification deliveries when they are due: an SMS becomes a
//! message in the durable queue (the dispatcher sends it; its status
//! becomes the delivery's), an e-mail goes to the mail server, retried with
//! backoff when the server is unreachable, marked `bounced` when it refuses.
//! Once an hour it also runs the run-out forecast: a subscriber's balance
//! less the daily charge for each day since it was reported.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;

use super::{AttachmentInput, MAX_ATTACHMENT_BYTES, check_balance};
use crate::outbound::OutboundPolicy;

/// Redirects an attachment's URL may take (each checked like the URL).
const MAX_ATTACHMENT_REDIRECTS: usize = 5;
use crate::clock::Clock;
use crate::domain::{MessageText, PhoneNumber, Region, SenderId, new_id};
use crate::mail::{Email, MailAttachment, Mailer};
use crate::storage::{NewMessage, NotificationDelivery, SmsHandOver, Store, now_micros};

/// Deliveries claimed per step.
const BATCH: usize = 100;
/// How long a claimed delivery is this node's. Each e-mail is held again
/// for `SEND_LEASE` as it starts, so a batch of slow e-mails never lets
/// the one being sent lapse; the rest of the batch may lapse meanwhile,
/// and another node then takes it over (this node skips what it lost).
const LEASE: Duration = Duration::from_secs(60);
/// How long an e-mail being sent is held: longer than fetching its
/// attachments (30 s each at most) and one SMTP conversation may last.
const SEND_LEASE: Duration = Duration::from_secs(300);
/// Attempts at an e-mail before it is given up.
const MAX_EMAIL_ATTEMPTS: i64 = 8;
/// First retry delay of an e-mail; doubles per attempt.
const EMAIL_RETRY_BASE: Duration = Duration::from_secs(30);
/// How often the idle worker looks for due deliveries.
const POLL: Duration = Duration::from_millis(200);
/// How often the run-out forecast runs.
const FORECAST_EVERY: Duration = Duration::from_secs(3_600);

pub struct NotificationWorker {
    store: Store,
    /// This node's name: only it completes what it claimed.
    node: String,
    clock: Clock,
    mailer: Mailer,
    /// Fetches attachments given by URL (`None` if it could not be built).
    http: Option<reqwest::Client>,
    policy: OutboundPolicy,
    region: Option<Region>,
    max_segments: usize,
    /// Wakes the dispatcher when an SMS was queued.
    dispatch: Arc<Notify>,
    last_forecast: Mutex<Option<i64>>,
}

impl NotificationWorker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        node: String,
        clock: Clock,
        mailer: Mailer,
        region: Option<Region>,
        max_segments: usize,
        dispatch: Arc<Notify>,
        outbound: &OutboundPolicy,
    ) -> Self {
        let http = outbound.client_builder(MAX_ATTACHMENT_REDIRECTS).timeout(Duration::from_secs(30)).build();
        // Built as the webhooks' client is; should it fail, no attachment
        // is fetched rather than any fetched unchecked.
        let http =
            http.map_err(|e| tracing::error!(error = %e, "no HTTP client for notification attachments")).ok();
        let policy = outbound.clone();
        Self {
            store,
            node,
            clock,
            mailer,
            http,
            policy,
            region,
            max_segments,
            dispatch,
            last_forecast: Mutex::new(None),
        }
    }

    /// Sends what is due; runs the forecast when an hour has passed.
    /// Returns how many deliveries were handled.
    pub async fn step(&self) -> anyhow::Result<usize> {
        let now = self.clock.now_micros();
        let due = self
            .store
            .claim_due_deliveries(&self.node, now, now_micros() + LEASE.as_micros() as i64, BATCH)
            .await?;
        let mut queued_sms = false;
        for d in &due {
            match d.channel.as_str() {
                "sms" => queued_sms |= self.send_sms(d).await?,
                _ => self.send_email(d).await?,
            }
        }
        if queued_sms {
            self.dispatch.notify_one();
        }
        let forecast_due = {
            let mut last = self.last_forecast.lock().await;
            let due = last.is_none_or(|t| now - t >= FORECAST_EVERY.as_micros() as i64);
            if due {
                *last = Some(now);
            }
            due
        };
        if forecast_due {
            self.forecast().await?;
        }
        Ok(due.len())
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        while !shutdown.is_cancelled() {
            let handled = match self.step().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "notification step failed; retrying");
                    0
                }
            };
            if handled < BATCH {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        }
        Ok(())
    }

    async fn send_sms(&self, d: &NotificationDelivery) -> anyhow::Result<bool> {
        let now = now_micros();
        let to = PhoneNumber::parse(&d.address, self.region);
        let text = MessageText::new(&d.body, self.max_segments);
        let (to, text) = match (to, text) {
            (Ok(to), Ok(text)) => (to, text),
            (Err(e), _) => {
                self.finish(d, "failed", Some(&e.to_string()), None, now).await?;
                return Ok(false);
            }
            (_, Err(e)) => {
                self.finish(d, "failed", Some(&e.to_string()), None, now).await?;
                return Ok(false);
            }
        };
        let from = self
            .store
            .list_senders(&d.account_id)
            .await?
            .into_iter()
            .find(|s| s.is_default)
            .and_then(|s| SenderId::parse(&s.sender).ok());
        let message = NewMessage {
            id: new_id(),
            to,
            from,
            text,
            callback_url: None,
            tags: vec!["notification".into()],
            send_at: None,
            campaign: None,
            transactional: false,
        };
        match self.store.deliver_as_message(&self.node, &d.id, &message, now).await? {
            SmsHandOver::Queued => Ok(true),
            SmsHandOver::OptedOut => Ok(false),
            SmsHandOver::NotHeld => {
                tracing::warn!(delivery_id = %d.id, "notification taken over by another node; not sent here");
                Ok(false)
            }
            SmsHandOver::Refused(refusal) => {
                self.finish(d, "failed", Some(&refusal.to_string()), None, now).await?;
                Ok(false)
            }
        }
    }

    /// Records what became of a delivery, if this node still holds it
    /// (else another node took it over and records its own attempt).
    async fn finish(
        &self,
        d: &NotificationDelivery,
        status: &str,
        reason: Option<&str>,
        retry_at: Option<i64>,
        now: i64,
    ) -> anyhow::Result<()> {
        if !self.store.finish_delivery(&self.node, &d.id, status, reason, retry_at, now).await? {
            tracing::warn!(delivery_id = %d.id, status, "notification taken over by another node; not recorded here");
        }
        Ok(())
    }

    async fn send_email(&self, d: &NotificationDelivery) -> anyhow::Result<()> {
        // Held afresh for the whole attempt; lost (the claim lapsed while
        // earlier e-mails of the batch went, and another node took this
        // one), it is that node's to send.
        if !self.store.hold_delivery(&self.node, &d.id, now_micros() + SEND_LEASE.as_micros() as i64).await? {
            tracing::warn!(delivery_id = %d.id, "notification taken over by another node; not sent here");
            return Ok(());
        }
        let now = now_micros();
        let attachments = match self.attachments(d).await {
            Ok(a) => a,
            Err(reason) => return self.retry_or_fail(d, &reason).await,
        };
        let email = Email {
            to: d.address.clone(),
            subject: d.subject.clone().unwrap_or_default(),
            text: d.body.clone(),
            html: d.html.clone(),
            attachments,
        };
        match self.mailer.send(&email).await {
            Ok(()) => self.finish(d, "sent", None, None, now).await?,
            Err(e) if e.is_permanent() => {
                let status =
                    if matches!(e, crate::mail::MailError::Refused(_)) { "bounced" } else { "failed" };
                self.finish(d, status, Some(&e.to_string()), None, now).await?;
            }
            Err(e) => self.retry_or_fail(d, &e.to_string()).await?,
        }
        Ok(())
    }

    /// Gives an e-mail up after its last attempt, else tries it again
    /// after a doubling delay; a retry that would land outside the
    /// subscriber's delivery window waits for the window's next opening.
    async fn retry_or_fail(&self, d: &NotificationDelivery, reason: &str) -> anyhow::Result<()> {
        let now = now_micros();
        if d.attempts + 1 >= MAX_EMAIL_ATTEMPTS {
            self.finish(d, "failed", Some(reason), None, now).await?;
        } else {
            let delay = EMAIL_RETRY_BASE.as_micros() as i64 * (1i64 << d.attempts.clamp(0, 16));
            let after = self.clock.now() + chrono::Duration::microseconds(delay);
            let at = super::next_window_for(&self.store, &d.account_id, &d.notification_id, after).await?;
            self.finish(d, "queued", Some(reason), Some(at.timestamp_micros()), now).await?;
        }
        Ok(())
    }

    /// An attachment's bytes from `url`: only where the outbound policy
    /// allows (redirects too), and read only up to the size limit.
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        let failed = |e: &dyn std::fmt::Display| format!("fetching {url}: {e}");
        let parsed = self.policy.allowed_url(url).map_err(|e| failed(&e))?;
        let http = self.http.as_ref().ok_or_else(|| failed(&"no HTTP client"))?;
        let mut resp = http
            .get(parsed)
            .send()
            .await
            .map_err(|e| failed(&crate::outbound::refusal(&e).unwrap_or_else(|| e.to_string())))?;
        if !resp.status().is_success() {
            return Err(failed(&format!("HTTP {}", resp.status())));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| failed(&e))? {
            if bytes.len() + chunk.len() > MAX_ATTACHMENT_BYTES {
                return Err(format!("{url} is larger than 5 MB"));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    async fn attachments(&self, d: &NotificationDelivery) -> Result<Vec<MailAttachment>, String> {
        let list: Vec<AttachmentInput> = serde_json::from_str(&d.attachments).unwrap_or_default();
        let mut out = Vec::with_capacity(list.len());
        for a in list {
            let bytes = match (&a.content, &a.url) {
                (Some(c), _) => base64::engine::general_purpose::STANDARD
                    .decode(c.trim())
                    .map_err(|_| format!("{}: not base64", a.filename))?,
                (None, Some(url)) => self.fetch(url).await?,
                (None, None) => continue,
            };
            out.push(MailAttachment {
                filename: a.filename,
                content_type: a.content_type.unwrap_or_else(|| "application/octet-stream".into()),
                bytes,
            });
        }
        Ok(out)
    }

    /// The daily forecast: balances drop by the daily charge for each whole
    /// day since they were reported; a subscriber whose funds last
    /// `runout_days` or fewer gets one `funds_run_out`.
    async fn forecast(&self) -> anyhow::Result<()> {
        let now = self.clock.now_micros();
        let mut after: Option<String> = None;
        loop {
            let page = self.store.charged_balances(after.as_deref(), 500).await?;
            let Some(last) = page.last() else { return Ok(()) };
            after = Some(last.contact_id.clone());
            for mut b in page.clone() {
                let charge = b.daily_charge.unwrap_or(0);
                let days = (now - b.reported_at).max(0) / 86_400_000_000;
                let projected = b.balance.saturating_sub(charge.saturating_mul(days));
                let before = (b.low_alerted, b.runout_alerted);
                if let Err(e) =
                    check_balance(&self.store, &self.clock, self.region, self.max_segments, &mut b, projected)
                        .await
                {
                    tracing::warn!(contact = %b.contact_id, error = %e.message, "the run-out forecast failed");
                    continue;
                }
                if (b.low_alerted, b.runout_alerted) != before {
                    self.store.put_subscriber_balance(&b).await?;
                }
            }
            if page.len() < 500 {
                return Ok(());
            }
        }
    }
}
