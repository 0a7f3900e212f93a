//! The campaign worker: opens runs when campaigns are due, fans each run
//! out into messages batch by batch, and marks runs finished. A run whose
//! campaign's user (who started it, else who created it) may no longer send
//! to its audience, or is disabled, is opened as `failed` with the reason
//! and sends nothing (`super::check_permissions`).
//!
//! Fan-out walks the audience in phone-number order. Each batch is rendered
//! per recipient and stored with the run's new cursor in one transaction
//! (`Store::store_fanout_batch`), so a crash resumes after the last stored
//! number and a pause or cancel takes effect between batches; a number
//! that opts out while its batch is rendered is left out there, as skipped. A campaign
//! with a throughput limit is fanned out at that pace: each batch holds at
//! most one second's worth of messages, spread over that second with
//! `send_at`, and the run's lease keeps the next batch until the second is
//! over. Quiet hours move a message's `send_at` to the end of the window in
//! the contact's time zone (the account's when the contact has none).
//! `step` does one round of all three jobs, so tests drive it directly.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::schedule::{QuietHours, parse_zone};
use super::template::{MessageTemplate, TemplateContact};
use crate::domain::{MessageText, PhoneNumber, SenderId, Tag, new_id};
use crate::storage::{AudienceMember, CampaignRecord, CampaignRef, NewMessage, RunClaim, Store};

/// The longest a recurring run may start after its time; see [`missed_run`].
pub const MAX_RUN_GRACE: chrono::Duration = chrono::Duration::hours(1);

/// Why a recurring run due at `due` is not sent at `now`, if it is too late:
/// more than its grace after its time, the lesser of [`MAX_RUN_GRACE`] and
/// half the time to the occurrence after it (so a late run never goes out
/// nearer the next one than its own). Such a run was missed while Kurier
/// was stopped or could not work; it is recorded as `failed` with this
/// reason, as the campaigns guide says missed runs are not made up.
fn missed_run(
    recurrence: &super::schedule::Recurrence,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<String> {
    let half_interval = recurrence.next_after(due).map(|next| (next - due) / 2);
    let grace = half_interval.map_or(MAX_RUN_GRACE, |h| h.min(MAX_RUN_GRACE));
    let late = now - due;
    (late > grace).then(|| {
        format!(
            "missed: due at {}, {} minutes late (Kurier was not running or not working then); not made up",
            due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            late.num_minutes()
        )
    })
}

/// Recipients rendered and stored per transaction at most.
pub const BATCH: usize = 1_000;
/// How long a claimed run is this node's without renewal.
const LEASE: Duration = Duration::from_secs(30);
/// How often an idle worker looks for due campaigns.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Campaigns whose runs are opened per step at most.
const DUE_PER_STEP: usize = 100;

/// What one step did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub runs_opened: usize,
    pub messages: usize,
    pub skipped: usize,
    pub runs_finished: usize,
}

pub struct FanOut {
    store: Store,
    node: String,
    /// Wakes the dispatcher when messages were queued.
    wake: Arc<Notify>,
    max_segments: usize,
    /// Wakes this worker when a campaign was started or resumed.
    woken: Arc<Notify>,
}

impl FanOut {
    pub fn new(store: Store, node: String, wake: Arc<Notify>, max_segments: usize) -> Self {
        Self { store, node, wake, max_segments, woken: Arc::new(Notify::new()) }
    }

    /// What to notify so that an idle worker looks for work at once.
    pub fn waker(&self) -> Arc<Notify> {
        self.woken.clone()
    }

    /// Opens due runs, fans out one batch of one run, finishes runs.
    pub async fn step(&self) -> anyhow::Result<StepReport> {
        let now = Utc::now();
        let now_us = now.timestamp_micros();
        let mut report = StepReport::default();
        for campaign in self.store.due_campaigns(now_us, DUE_PER_STEP).await? {
            let Some(due) = campaign.next_run_at else { continue };
            let due_time = DateTime::from_timestamp_micros(due).unwrap_or(now);
            // Runs missed while Kurier was down are not made up: the next
            // one is the first occurrence after now, and a recurring run
            // later than its grace is recorded as missed, sending nothing.
            let recurrence = super::recurrence(&campaign);
            let next = recurrence.as_ref().and_then(|r| r.next_after(due_time.max(now)));
            let missed = recurrence.as_ref().and_then(|r| missed_run(r, due_time, now));
            // Each run is sent only if the user it is sent for still may.
            let failure = match &missed {
                Some(why) => Some(why.clone()),
                None => {
                    match super::check_permissions(&self.store, &campaign, campaign.acting_user()).await {
                        Ok(()) => None,
                        Err(super::CampaignError::NotPermitted(why)) => Some(why),
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            if self
                .store
                .open_run(&campaign, due, next.map(|t| t.timestamp_micros()), failure.as_deref(), now_us)
                .await?
                .is_some()
            {
                match &failure {
                    None => {
                        tracing::info!(campaign = %campaign.id, name = %campaign.name, "campaign run opened")
                    }
                    Some(why) if missed.is_some() => {
                        tracing::warn!(campaign = %campaign.id, reason = %why, "campaign run missed: nothing sent")
                    }
                    Some(why) => {
                        tracing::warn!(campaign = %campaign.id, reason = %why, "campaign run refused: nothing sent")
                    }
                }
                report.runs_opened += 1;
            }
        }
        let lease_until = now_us + LEASE.as_micros() as i64;
        if let Some(claim) = self.store.claim_run(&self.node, now_us, lease_until).await? {
            let (messages, skipped) = self.fan_out_batch(&claim, now).await?;
            report.messages += messages;
            report.skipped += skipped;
        }
        report.runs_finished = self.store.finish_runs(now_us).await?.len();
        Ok(report)
    }

    /// Runs until shutdown: steps back to back while there is fan-out work.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        while !shutdown.is_cancelled() {
            let busy = match self.step().await {
                Ok(r) => r.messages + r.skipped > 0 || r.runs_opened > 0,
                Err(e) => {
                    tracing::error!(error = %e, "campaign step failed; retrying");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    () = self.woken.notified() => {}
                }
            }
        }
        Ok(())
    }

    /// Renders and stores the next batch of a claimed run.
    async fn fan_out_batch(&self, claim: &RunClaim, now: DateTime<Utc>) -> anyhow::Result<(usize, usize)> {
        let now_us = now.timestamp_micros();
        let Some(campaign) = self.store.get_campaign(&claim.account_id, &claim.campaign_id).await? else {
            self.store.release_run(&claim.id, &self.node).await?;
            return Ok((0, 0));
        };
        let pace = campaign.throughput.filter(|t| *t > 0).map(|t| t as usize);
        let size = pace.map_or(BATCH, |t| t.min(BATCH));
        let page = self.store.audience_page(&campaign, claim.cursor.as_deref(), size).await?;
        let done = page.len() < size;
        let (messages, skipped) = self.render(&campaign, claim, &page, pace, now).await?;
        // A paced run may take its next batch when this one's second is over.
        let next_batch_at = match pace {
            Some(p) => now_us + (page.len() as i64 * 1_000_000) / p as i64,
            None => now_us,
        };
        let cursor = page.last().map(|m| m.phone.as_str());
        let stored = self
            .store
            .store_fanout_batch(
                claim,
                campaign.acting_user(),
                &self.node,
                &messages,
                &skipped,
                cursor,
                done,
                next_batch_at,
                now_us,
            )
            .await?;
        // None: paused, canceled or taken over meanwhile, or not charged.
        let Some((stored, skipped)) = stored else { return Ok((0, 0)) };
        if stored > 0 {
            crate::telemetry::accepted("campaign", stored);
            self.wake.notify_one();
        }
        if done {
            tracing::info!(campaign = %campaign.id, run = %claim.id, "campaign run fanned out");
        }
        Ok((stored, skipped))
    }

    /// One message per audience member, or the reason there is none.
    async fn render(
        &self,
        campaign: &CampaignRecord,
        claim: &RunClaim,
        page: &[AudienceMember],
        pace: Option<usize>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(Vec<NewMessage>, Vec<(String, String)>)> {
        let account = &campaign.account_id;
        let fields: Vec<String> = self
            .store
            .contact_fields(account)
            .await?
            .into_iter()
            .map(|f| f.name.as_str().to_owned())
            .collect();
        let schedule = self.store.account_schedule(account).await?;
        let quiet =
            schedule.quiet.and_then(|(s, e)| QuietHours::from_minutes(s, e)).filter(|_| !campaign.urgent);
        let home = parse_zone(&schedule.time_zone).unwrap_or(chrono_tz::Tz::UTC);
        let transliterate = self.store.account_record(account).await?.is_some_and(|a| a.transliterate);
        let sender = campaign.sender.as_deref().and_then(|s| SenderId::parse(s).ok());
        let template = MessageTemplate::parse(&campaign.body, &fields);
        let reference = CampaignRef { campaign_id: campaign.id.clone(), run_id: claim.id.clone() };
        let mut messages = Vec::with_capacity(page.len());
        let mut skipped = Vec::new();
        for (i, member) in page.iter().enumerate() {
            let contact = match &member.contact {
                Some(c) => TemplateContact::from_record(c),
                None => TemplateContact::number_only(&member.phone),
            }
            .with_missing_fields(&fields);
            let rendered = match &template {
                Ok(t) => t.render(&contact, &campaign.data).map_err(|e| e.to_string()),
                Err(e) => Err(format!("the campaign's text no longer checks: {e}")),
            };
            let text = rendered.and_then(|t| {
                MessageText::to_send(&t, transliterate, self.max_segments).map_err(|e| e.to_string())
            });
            let checked = text.and_then(|t| {
                let to = PhoneNumber::parse(&member.phone, None).map_err(|e| e.to_string())?;
                Ok((t, to))
            });
            let (text, to) = match checked {
                Ok(pair) => pair,
                Err(reason) => {
                    skipped.push((member.phone.clone(), reason));
                    continue;
                }
            };
            let slot = match pace {
                Some(p) => now + chrono::Duration::microseconds(i as i64 * 1_000_000 / p as i64),
                None => now,
            };
            let at = match quiet {
                Some(q) => {
                    let zone = member
                        .contact
                        .as_ref()
                        .and_then(|c| c.time_zone.as_deref())
                        .and_then(|z| parse_zone(z).ok())
                        .unwrap_or(home);
                    q.next_allowed(slot, zone)
                }
                None => slot,
            };
            let mut tags = campaign.tags.clone();
            for t in Tag::find_in(text.as_str()) {
                if !tags.iter().any(|x| x == t.as_str()) {
                    tags.push(t.as_str().to_owned());
                }
            }
            messages.push(NewMessage {
                id: new_id(),
                to,
                from: sender.clone(),
                text,
                callback_url: campaign.callback_url.clone(),
                tags,
                send_at: (at > now).then(|| at.timestamp_micros()),
                campaign: Some(reference.clone()),
                transactional: false,
            });
        }
        if campaign.sender_pool && !messages.is_empty() {
            let recipients: Vec<&str> = messages.iter().map(|m| m.to.as_str()).collect();
            match self.store.pool_senders(account, &recipients).await? {
                Some(numbers) => {
                    for (m, n) in messages.iter_mut().zip(numbers) {
                        m.from = SenderId::parse(&n).ok();
                    }
                }
                None => {
                    tracing::warn!(campaign = %campaign.id, "the account's pool is empty; sending from the default sender")
                }
            }
        }
        Ok((messages, skipped))
    }
}
