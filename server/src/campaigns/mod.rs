//! Campaigns: bulk sending to an audience (groups, #tags, contacts, raw
//! numbers, minus exclusion groups and opted-out people), from a text or a
//! template rendered per contact, now, at a time or on a recurring
//! schedule, within the account's quiet hours, at a chosen pace.
//!
//! - [`template`]: MiniJinja templates, checked when saved, sandboxed when rendered.
//! - [`schedule`]: RRULE recurrences in a time zone, and quiet hours.
//!
//! Storage (`storage/campaigns.rs`) keeps campaigns and runs; this module
//! decides what they mean. It writes messages to the queue only; sending
//! them is `dispatch`'s job.

pub mod cli;
pub mod fanout;
pub mod schedule;
pub mod template;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::{MessageText, PhoneNumber, Region, SenderId, Tag};
use crate::storage::{
    AccountSchedule, Audience, CampaignRecord, CampaignState, NewCampaign, Store, TemplateRecord,
};
use schedule::{QuietHours, Recurrence, parse_zone};
use template::{MessageTemplate, TemplateContact};

/// Raw numbers in one campaign at most (larger audiences belong in groups).
pub const MAX_NUMBERS: usize = 100_000;
/// Groups, tags, contacts or exclusion groups named in one campaign at most.
pub const MAX_AUDIENCE_ITEMS: usize = 1_000;
/// Fastest per-campaign pace that can be asked for, messages per second.
pub const MAX_THROUGHPUT: i64 = 10_000;
/// Longest campaign name, in characters.
pub const MAX_NAME_LEN: usize = 200;
/// Audience members rendered for the segment estimate of a template.
const ESTIMATE_SAMPLE: usize = 200;

/// A campaign as asked for, before checking.
#[derive(Debug, Clone, Default)]
pub struct CampaignInput {
    pub name: Option<String>,
    pub from: Option<String>,
    pub text: Option<String>,
    /// A template's id or name.
    pub template: Option<String>,
    pub data: Option<serde_json::Value>,
    /// Group ids or names.
    pub groups: Vec<String>,
    pub tags: Vec<String>,
    /// Contact ids.
    pub contacts: Vec<String>,
    pub numbers: Vec<String>,
    /// Group ids or names whose members are left out.
    pub exclude_groups: Vec<String>,
    /// Tags every message of the campaign carries.
    pub message_tags: Vec<String>,
    pub callback_url: Option<String>,
    /// One-off: when to send; recurring: when the schedule starts.
    pub send_at: Option<DateTime<Utc>>,
    pub rrule: Option<String>,
    pub time_zone: Option<String>,
    pub throughput: Option<i64>,
    pub urgent: bool,
    /// Send each recipient from a number of the account's pool.
    pub sender_pool: bool,
    /// The user creating it (`None`: a key of no user, the CLI).
    pub created_by: Option<String>,
}

/// Why a campaign request was refused; `field` names the input at fault.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    /// The user the campaign sends for may not (or no longer) send to its
    /// audience, or is disabled.
    #[error("{0}")]
    NotPermitted(String),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

impl CampaignError {
    fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), message: message.into() }
    }
}

/// What a campaign will cost before it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// People who will get a message.
    pub recipients: i64,
    /// People the audience names who opted out and are left out.
    pub opted_out: i64,
    /// Segments per message (exact for a plain text; from a sample of
    /// rendered messages for a template).
    pub segments_per_message: f64,
    pub segments: i64,
    /// The runs that will happen next (one for a one-off campaign).
    pub next_runs: Vec<DateTime<Utc>>,
    /// What one run costs the account now; `None` when it is not charged.
    pub cost: Option<CostEstimate>,
    pub warnings: Vec<String>,
}

/// The price of one run, packages applied as they stand this period.
/// Exact for up to `ESTIMATE_SAMPLE` recipients; for more, the sample's
/// destinations and segments stand for the whole audience.
#[derive(Debug, Clone, PartialEq)]
pub struct CostEstimate {
    pub currency: crate::domain::Currency,
    /// In minor units.
    pub amount: i64,
    /// Recipients the tariff has no price for (a run skips them).
    pub unpriced: i64,
}

/// Checks a campaign request and stores it as a draft.
pub async fn create(
    store: &Store,
    account_id: &str,
    region: Option<Region>,
    input: CampaignInput,
    now: DateTime<Utc>,
) -> Result<CampaignRecord, CampaignError> {
    let name = input.name.as_deref().map(str::trim).unwrap_or_default();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(CampaignError::field("name", format!("is required, 1 to {MAX_NAME_LEN} characters")));
    }
    let sender = if input.sender_pool {
        if input.from.is_some() {
            return Err(CampaignError::field("from", "give a sender or sender_pool, not both"));
        }
        if store.pool_numbers(account_id).await?.is_empty() {
            return Err(CampaignError::field(
                "sender_pool",
                "the account has no pool numbers (mark numbers with \"pool\": true under /api/v1/numbers)",
            ));
        }
        None
    } else {
        resolve_sender(store, account_id, input.from.as_deref(), input.created_by.as_deref()).await?
    };
    let fields = field_names(store, account_id).await?;
    let (body, template_id) = match (&input.text, &input.template) {
        (Some(_), Some(_)) => return Err(CampaignError::field("template", "give either text or template")),
        (None, None) => return Err(CampaignError::field("text", "give a text or a template")),
        (Some(text), None) => {
            MessageTemplate::parse(text, &fields).map_err(|e| CampaignError::field("text", e.to_string()))?;
            (text.clone(), None)
        }
        (None, Some(t)) => {
            let t: TemplateRecord = store.find_template(account_id, t).await?.ok_or_else(|| {
                CampaignError::field("template", format!("no template is called or has the id '{t}'"))
            })?;
            MessageTemplate::parse(&t.body, &fields)
                .map_err(|e| CampaignError::field("template", format!("template '{}': {e}", t.name)))?;
            (t.body, Some(t.id))
        }
    };
    let data = input.data.clone().unwrap_or_else(|| serde_json::json!({}));
    if !data.is_object() {
        return Err(CampaignError::field("data", "must be a JSON object"));
    }
    let audience = resolve_audience(store, account_id, &input).await?;
    if input.numbers.len() > MAX_NUMBERS {
        return Err(CampaignError::field(
            "numbers",
            format!("at most {MAX_NUMBERS}; put more people in a group"),
        ));
    }
    let mut numbers = Vec::with_capacity(input.numbers.len());
    let mut seen = HashSet::new();
    for (i, raw) in input.numbers.iter().enumerate() {
        let n = PhoneNumber::parse(raw, region)
            .map_err(|e| CampaignError::field(format!("numbers[{i}]"), format!("{raw}: {e}")))?;
        if seen.insert(n.as_str().to_owned()) {
            numbers.push(n.as_str().to_owned());
        }
    }
    let mut tags = Vec::new();
    for (i, t) in input.message_tags.iter().enumerate() {
        let tag =
            Tag::parse(t).map_err(|e| CampaignError::field(format!("message_tags[{i}]"), e.to_string()))?;
        if !tags.contains(&tag.as_str().to_owned()) {
            tags.push(tag.as_str().to_owned());
        }
    }
    if let Some(t) = input.throughput
        && !(1..=MAX_THROUGHPUT).contains(&t)
    {
        return Err(CampaignError::field(
            "throughput",
            format!("messages per second, 1 to {MAX_THROUGHPUT}"),
        ));
    }
    let schedule = store.account_schedule(account_id).await?;
    let zone_name = input.time_zone.clone().unwrap_or_else(|| schedule.time_zone.clone());
    let zone = parse_zone(&zone_name).map_err(|e| CampaignError::field("time_zone", e))?;
    match &input.rrule {
        Some(rule) => {
            Recurrence::new(rule, zone, input.send_at.unwrap_or(now), now)
                .map_err(|e| CampaignError::field("rrule", e))?;
        }
        None => {
            if let Some(at) = input.send_at
                && at < now - chrono::Duration::seconds(60)
            {
                return Err(CampaignError::field("send_at", "is in the past"));
            }
        }
    }
    let campaign = NewCampaign {
        name: name.to_owned(),
        sender,
        body,
        template_id,
        data,
        audience,
        numbers,
        tags,
        callback_url: input.callback_url,
        send_at: input
            .send_at
            .map(|t| t.timestamp_micros())
            .or(input.rrule.as_ref().map(|_| now.timestamp_micros())),
        rrule: input.rrule.map(|r| r.trim().trim_start_matches("RRULE:").to_owned()),
        time_zone: Some(zone.name().to_owned()),
        throughput: input.throughput,
        urgent: input.urgent,
        sender_pool: input.sender_pool,
        created_by: input.created_by,
    };
    Ok(store.create_campaign(account_id, &campaign, now.timestamp_micros()).await?)
}

/// The sender: one on the account's list, the list's default, or the
/// creating user's own number once verified (`POST /api/v1/me/numbers`).
/// A campaign never goes out from a sender the account was not given.
async fn resolve_sender(
    store: &Store,
    account_id: &str,
    from: Option<&str>,
    created_by: Option<&str>,
) -> Result<Option<String>, CampaignError> {
    let senders = store.list_senders(account_id).await?;
    match from {
        Some(f) => {
            let sender = SenderId::parse(f).map_err(|e| CampaignError::field("from", e.to_string()))?;
            let digits = |s: &str| s.trim_start_matches('+').to_owned();
            let own_verified = match created_by {
                Some(user) if !sender.is_alphanumeric() => store
                    .own_numbers(user)
                    .await?
                    .iter()
                    .any(|(p, at)| at.is_some() && digits(p) == digits(sender.as_str())),
                _ => false,
            };
            if own_verified || senders.iter().any(|s| s.sender == sender.as_str()) {
                Ok(Some(sender.as_str().to_owned()))
            } else if senders.is_empty() {
                Err(CampaignError::field(
                    "from",
                    format!(
                        "'{sender}' is not one of the account's sender ids (it has none; add them under /api/v1/sender-ids)"
                    ),
                ))
            } else {
                let list: Vec<&str> = senders.iter().map(|s| s.sender.as_str()).collect();
                Err(CampaignError::field(
                    "from",
                    format!("'{sender}' is not one of the account's sender ids: {}", list.join(", ")),
                ))
            }
        }
        None => Ok(senders.iter().find(|s| s.is_default).map(|s| s.sender.clone())),
    }
}

async fn field_names(store: &Store, account_id: &str) -> sqlx::Result<Vec<String>> {
    Ok(store.contact_fields(account_id).await?.into_iter().map(|f| f.name.as_str().to_owned()).collect())
}

async fn resolve_audience(
    store: &Store,
    account_id: &str,
    input: &CampaignInput,
) -> Result<Audience, CampaignError> {
    for (field, list) in [
        ("groups", &input.groups),
        ("tags", &input.tags),
        ("contacts", &input.contacts),
        ("exclude_groups", &input.exclude_groups),
    ] {
        if list.len() > MAX_AUDIENCE_ITEMS {
            return Err(CampaignError::field(field, format!("at most {MAX_AUDIENCE_ITEMS}")));
        }
    }
    let mut audience = Audience::default();
    for (field, names, ids) in [
        ("groups", &input.groups, &mut audience.groups),
        ("exclude_groups", &input.exclude_groups, &mut audience.exclude_groups),
    ] {
        for (i, g) in names.iter().enumerate() {
            let group = store.find_group(account_id, g).await?.ok_or_else(|| {
                CampaignError::field(
                    format!("{field}[{i}]"),
                    format!("no group is called or has the id '{g}'"),
                )
            })?;
            if !ids.contains(&group.id) {
                ids.push(group.id);
            }
        }
    }
    for (i, t) in input.tags.iter().enumerate() {
        let tag = Tag::parse(t).map_err(|e| CampaignError::field(format!("tags[{i}]"), e.to_string()))?;
        if !audience.tags.contains(&tag.as_str().to_owned()) {
            audience.tags.push(tag.as_str().to_owned());
        }
    }
    for (i, c) in input.contacts.iter().enumerate() {
        if store.get_contact(account_id, c).await?.is_none() {
            return Err(CampaignError::field(
                format!("contacts[{i}]"),
                format!("no contact has the id '{c}'"),
            ));
        }
        if !audience.contacts.contains(c) {
            audience.contacts.push(c.clone());
        }
    }
    Ok(audience)
}

/// Recipients, opted-out people left out, segments and the next runs; with
/// warnings for what would make starting fail or surprise.
pub async fn estimate(
    store: &Store,
    campaign: &CampaignRecord,
    max_segments: usize,
    now: DateTime<Utc>,
) -> Result<Estimate, CampaignError> {
    let (recipients, opted_out) = store.count_audience(campaign).await?;
    let mut warnings = Vec::new();
    if recipients == 0 && opted_out > 0 {
        warnings.push(format!(
            "everyone in the audience ({opted_out}) has opted out: nobody would get a message"
        ));
    } else if recipients == 0 {
        warnings.push("the audience is empty: nobody would get a message".into());
    } else if opted_out > 0 {
        warnings.push(format!("{opted_out} people in the audience opted out and will not get a message"));
    }
    let fields = field_names(store, &campaign.account_id).await?;
    let template = MessageTemplate::parse(&campaign.body, &fields)
        .map_err(|e| CampaignError::field("text", e.to_string()))?;
    let transliterate = store.account_record(&campaign.account_id).await?.is_some_and(|a| a.transliterate);
    let sample = store.audience_page(campaign, None, ESTIMATE_SAMPLE).await?;
    let (mut segments, mut rendered, mut failed) = (0usize, 0usize, 0usize);
    // Each rendered sample message: its number and segments.
    let mut priced = Vec::with_capacity(sample.len());
    for m in &sample {
        let contact = match &m.contact {
            Some(c) => TemplateContact::from_record(c),
            None => TemplateContact::number_only(&m.phone),
        }
        .with_missing_fields(&fields);
        match template
            .render(&contact, &campaign.data)
            .map(|t| MessageText::to_send(&t, transliterate, max_segments))
        {
            Ok(Ok(text)) => {
                segments += text.segments();
                rendered += 1;
                priced.push((PhoneNumber::from_trusted(m.phone.clone()), text.segments() as i64));
            }
            _ => failed += 1,
        }
    }
    if failed > 0 {
        warnings.push(format!(
            "{failed} of the first {} recipients cannot be sent this text (see the run's errors once started)",
            sample.len()
        ));
    }
    let per_message = if rendered > 0 { segments as f64 / rendered as f64 } else { 0.0 };
    let cost = estimate_cost(store, &campaign.account_id, &priced, recipients, now).await?;
    if let Some(c) = &cost
        && c.unpriced > 0
    {
        warnings.push(format!(
            "about {} recipients have no price in your tariff and would be skipped",
            c.unpriced
        ));
    }
    Ok(Estimate {
        recipients,
        opted_out,
        segments_per_message: (per_message * 100.0).round() / 100.0,
        segments: (per_message * recipients as f64).round() as i64,
        next_runs: upcoming_runs(campaign, now, 5),
        cost,
        warnings,
    })
}

/// What sending to `recipients` people costs, from `sample` (number and
/// segments of rendered messages): each sampled message stands for an
/// equal share of the audience, so packages and prefixes apply as they
/// would to the whole run.
async fn estimate_cost(
    store: &Store,
    account_id: &str,
    sample: &[(PhoneNumber, i64)],
    recipients: i64,
    now: DateTime<Utc>,
) -> Result<Option<CostEstimate>, CampaignError> {
    let n = sample.len().max(1) as i64;
    // Each sampled message's share of the audience; the remainder goes to the first ones.
    let (share, extra) = (recipients / n, recipients % n);
    let items: Vec<(PhoneNumber, i64, i64)> = sample
        .iter()
        .enumerate()
        .map(|(i, (phone, segments))| (phone.clone(), share + i64::from((i as i64) < extra), *segments))
        .collect();
    let cost = store.estimate_cost(account_id, &items, now.timestamp_micros()).await?;
    Ok(cost.map(|(currency, amount, unpriced)| CostEstimate { currency, amount, unpriced }))
}

/// The campaign's recurrence, if it has one.
pub fn recurrence(campaign: &CampaignRecord) -> Option<Recurrence> {
    let rule = campaign.rrule.as_deref()?;
    let zone = campaign.time_zone.as_deref().and_then(|z| parse_zone(z).ok()).unwrap_or(Tz::UTC);
    let start = DateTime::from_timestamp_micros(campaign.send_at.unwrap_or(campaign.created_at))?;
    Recurrence::parse(rule, zone, start).ok()
}

/// When the campaign would run next, after `now`: a one-off at its time
/// (or now), a recurring one at its next occurrence.
fn upcoming_runs(campaign: &CampaignRecord, now: DateTime<Utc>, n: u16) -> Vec<DateTime<Utc>> {
    match recurrence(campaign) {
        Some(r) => r.upcoming(now, n),
        None => {
            let at = campaign.send_at.and_then(DateTime::from_timestamp_micros).unwrap_or(now);
            vec![at.max(now)]
        }
    }
}

/// Whether `user_id` (who a campaign sends for) may send to everyone the
/// campaign names, as the permissions stand now: refused if the user is
/// disabled or gone, or (unless an owner or admin, or under no rule) if a
/// group, #tag, contact or number of the audience is outside their rule.
/// `None` (a key of no user, the CLI) is not restricted.
pub async fn check_permissions(
    store: &Store,
    campaign: &CampaignRecord,
    user_id: Option<&str>,
) -> Result<(), CampaignError> {
    let Some(user_id) = user_id else { return Ok(()) };
    let refused = |why: String| {
        Err(CampaignError::NotPermitted(format!(
            "the campaign sends for {why}; an admin decides whom each user may message"
        )))
    };
    let Some(user) = store.user(&campaign.account_id, user_id).await? else {
        return refused("a user who no longer exists".into());
    };
    let who = format!("'{}'", user.username);
    if user.disabled {
        return refused(format!("{who}, who is disabled"));
    }
    if user.role.unrestricted() {
        return Ok(());
    }
    let Some(rule) = store.effective_permission(&user.id).await? else { return Ok(()) };
    for g in &campaign.audience.groups {
        if !rule.groups.contains(g) {
            let name = store.find_group(&campaign.account_id, g).await?.map_or_else(|| g.clone(), |g| g.name);
            return refused(format!("{who}, who may not send to the group '{name}'"));
        }
    }
    for t in &campaign.audience.tags {
        if !rule.tags.contains(t) {
            return refused(format!("{who}, who may not send to the tag #{t}"));
        }
    }
    if rule.any_number {
        return Ok(());
    }
    let mut numbers = store.campaign_numbers(&campaign.id).await?;
    for c in &campaign.audience.contacts {
        if let Some(contact) = store.get_contact(&campaign.account_id, c).await? {
            numbers.push(contact.phone);
        }
    }
    let list: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let reachable = store.numbers_reachable(&campaign.account_id, &list, &rule.groups, &rule.tags).await?;
    if let Some(n) = list.iter().find(|n| !reachable.contains(**n)) {
        return refused(format!("{who}, who may not send to {n}"));
    }
    Ok(())
}

/// Starts a draft: refused if nobody would get a message or its time
/// passed, or if the user starting it (`by`; else who created it) may not
/// send to its audience. `by` is who the campaign then sends for.
pub async fn start(
    store: &Store,
    campaign: &CampaignRecord,
    by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), CampaignError> {
    if campaign.state != CampaignState::Draft {
        return Err(CampaignError::Conflict(format!(
            "the campaign is {}; only a draft can be started",
            campaign.state.as_str()
        )));
    }
    check_permissions(store, campaign, by.or(campaign.acting_user())).await?;
    // Whether anyone is reached takes one row, not a count of a million.
    if store.audience_page(campaign, None, 1).await?.is_empty() {
        let (_, opted_out) = store.count_audience(campaign).await?;
        let why = if opted_out > 0 {
            format!("everyone in the audience ({opted_out}) has opted out")
        } else {
            "the audience is empty".into()
        };
        return Err(CampaignError::field("audience", format!("{why}: nobody would get a message")));
    }
    let first = match recurrence(campaign) {
        Some(r) => r.next_after(now - chrono::Duration::seconds(1)).ok_or_else(|| {
            CampaignError::field("rrule", "the rule never fires after now (check UNTIL and COUNT)")
        })?,
        None => {
            let at = campaign.send_at.and_then(DateTime::from_timestamp_micros).unwrap_or(now);
            if at < now - chrono::Duration::seconds(60) {
                return Err(CampaignError::field("send_at", "is in the past; create the campaign again"));
            }
            at.max(now)
        }
    };
    if !store
        .start_campaign(
            &campaign.account_id,
            &campaign.id,
            first.timestamp_micros(),
            by,
            now.timestamp_micros(),
        )
        .await?
    {
        return Err(CampaignError::Conflict("the campaign was started or canceled meanwhile".into()));
    }
    Ok(())
}

/// Resumes a paused campaign; a recurring one skips the runs it missed.
/// Refused like [`start`] if the user resuming it (`by`; else who it sent
/// for) may not send to its audience.
pub async fn resume(
    store: &Store,
    campaign: &CampaignRecord,
    by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, CampaignError> {
    if campaign.state == CampaignState::Paused {
        check_permissions(store, campaign, by.or(campaign.acting_user())).await?;
    }
    let next = match (recurrence(campaign), campaign.next_run_at) {
        (Some(r), Some(at)) if at < now.timestamp_micros() => r.next_after(now).map(|t| t.timestamp_micros()),
        (_, next) => next,
    };
    // Held messages go out of quiet hours, as the fan-out planned them: in
    // the contact's zone, else the account's; urgent campaigns any time.
    let schedule = store.account_schedule(&campaign.account_id).await?;
    let quiet = schedule.quiet.and_then(|(s, e)| QuietHours::from_minutes(s, e)).filter(|_| !campaign.urgent);
    let home = parse_zone(&schedule.time_zone).unwrap_or(Tz::UTC);
    let release_at = quiet
        .map(|q| move |zone: &str| q.next_allowed(now, parse_zone(zone).unwrap_or(home)).timestamp_micros());
    let release_at = release_at.as_ref().map(|f| f as &(dyn Fn(&str) -> i64 + Send + Sync));
    Ok(store
        .resume_campaign(&campaign.account_id, &campaign.id, next, by, release_at, now.timestamp_micros())
        .await?)
}

/// Checks quiet hours as given in the API (`HH:MM`), with the zone.
pub fn account_schedule(
    quiet: Option<(&str, &str)>,
    time_zone: &str,
) -> Result<AccountSchedule, CampaignError> {
    let zone = parse_zone(time_zone).map_err(|e| CampaignError::field("time_zone", e))?;
    let quiet = quiet
        .map(|(s, e)| QuietHours::parse(s, e))
        .transpose()
        .map_err(|e| CampaignError::field("quiet_hours", e))?;
    Ok(AccountSchedule { quiet: quiet.map(|q| q.minutes()), time_zone: zone.name().to_owned() })
}
