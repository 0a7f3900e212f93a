//! `/api/v1/campaigns`: bulk sends to groups, #tags, contacts and numbers,
//! now, at a time or recurring; an estimate before starting; pause, resume,
//! cancel; live counters and a report per run, with its messages as
//! CSV/XLSX. The checking and the schedule live in `campaigns`; this file
//! only translates.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::billing::Amount;
use super::exports::stream_response;
use crate::campaigns::{self, CampaignInput, Estimate};
use crate::domain::{MessageStatus, canonical_id};
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{CampaignRecord, MessageFilter, RunCounts, RunRecord, format_micros};
use crate::transfer::{ExportFormat, export_messages};

/// Skipped recipients listed in a run's report at most.
const REPORT_ERRORS: usize = 100;

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CampaignRequest {
    #[schema(example = "November newsletter")]
    pub name: Option<String>,
    /// A sender id of the account (`/api/v1/sender-ids`), or the caller's own
    /// verified number (`/api/v1/me/numbers`); default: the account's default.
    pub from: Option<String>,
    /// The text; may use template placeholders such as `{{ contact.name }}`.
    pub text: Option<String>,
    /// Or a saved template's id or name.
    pub template: Option<String>,
    /// Passed to the template as `data`.
    pub data: Option<serde_json::Value>,
    /// Group ids or names.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Tags whose subscribers get the message.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Contact ids.
    #[serde(default)]
    pub contacts: Vec<String>,
    /// Numbers (E.164, or national with `messages.default_region`).
    #[serde(default)]
    pub numbers: Vec<String>,
    /// Group ids or names whose members are left out.
    #[serde(default)]
    pub exclude_groups: Vec<String>,
    /// Tags every message carries (for the history).
    #[serde(default)]
    pub message_tags: Vec<String>,
    pub callback_url: Option<String>,
    /// RFC 3339. One-off: when to send (default now). Recurring: when the schedule starts.
    pub send_at: Option<String>,
    /// RFC 5545 RRULE, e.g. `FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0`.
    pub rrule: Option<String>,
    /// IANA zone the rule is read in; default: the account's.
    pub time_zone: Option<String>,
    /// Messages per second at most.
    pub throughput: Option<i64>,
    /// Send even in quiet hours.
    #[serde(default)]
    pub urgent: bool,
    /// Send each recipient from a number of the account's pool (the one
    /// least recently used for them), so replies find their campaign.
    #[serde(default)]
    pub sender_pool: bool,
    /// Start at once (otherwise the campaign is a draft until `POST …/start`).
    #[serde(default)]
    pub start: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AudienceView {
    pub groups: Vec<String>,
    pub tags: Vec<String>,
    pub contacts: Vec<String>,
    pub exclude_groups: Vec<String>,
    /// How many raw numbers the campaign has.
    pub numbers: i64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CampaignView {
    pub id: String,
    pub name: String,
    /// draft, scheduled, running, paused, completed, canceled
    pub status: String,
    pub from: Option<String>,
    pub text: String,
    pub template_id: Option<String>,
    pub data: serde_json::Value,
    pub audience: AudienceView,
    pub message_tags: Vec<String>,
    pub callback_url: Option<String>,
    pub send_at: Option<String>,
    pub rrule: Option<String>,
    pub time_zone: Option<String>,
    pub next_run_at: Option<String>,
    pub throughput: Option<i64>,
    pub urgent: bool,
    /// Recipients get a number of the account's pool as sender.
    pub sender_pool: bool,
    pub created_at: String,
    pub updated_at: String,
    /// The user who created the campaign (`null`: a key of no user).
    pub created_by: Option<String>,
    /// The user who last started or resumed it; each run is sent for (and
    /// checked against the permissions of) this user, else the creator.
    pub started_by: Option<String>,
    /// The newest run with its counters.
    pub last_run: Option<RunView>,
}

#[derive(Serialize, Deserialize, ToSchema, Default, Debug, PartialEq, Eq)]
pub struct Counters {
    /// Scheduled, queued or being sent.
    pub queued: i64,
    /// Accepted by the SMSC, no receipt yet.
    pub sent: i64,
    pub delivered: i64,
    /// Undelivered or expired.
    pub undelivered: i64,
    /// Rejected or failed to submit.
    pub failed: i64,
    pub canceled: i64,
    /// Inbound messages linked to the run.
    pub replies: i64,
}

impl From<RunCounts> for Counters {
    fn from(c: RunCounts) -> Self {
        use MessageStatus as S;
        Self {
            queued: c.get(S::Scheduled) + c.get(S::Queued) + c.get(S::Sending),
            sent: c.get(S::Sent),
            delivered: c.get(S::Delivered),
            undelivered: c.get(S::Undelivered) + c.get(S::Expired),
            failed: c.get(S::Failed) + c.get(S::Rejected),
            canceled: c.get(S::Canceled),
            replies: c.replies,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RunView {
    pub id: String,
    /// 1 for the first run of a campaign, 2 for the second, ...
    pub seq: i64,
    /// fanning_out, sending, paused, completed, canceled, or failed (sent
    /// nothing; see `failure`)
    pub status: String,
    /// Why a failed run sent nothing, e.g. the user the campaign sends for
    /// lost a permission or was disabled; or, starting with `paused:`, why
    /// Kurier paused a run whose next batch could not be charged (short
    /// balance, user quota), until it is resumed.
    pub failure: Option<String>,
    pub due_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Messages made so far.
    pub recipients: i64,
    /// Audience members who got no message (see `errors`).
    pub skipped: i64,
    pub counters: Counters,
    /// Why members were skipped (in the run's report only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<RunErrorView>>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RunErrorView {
    pub phone: String,
    pub reason: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct EstimateView {
    pub recipients: i64,
    pub opted_out: i64,
    pub segments_per_message: f64,
    pub segments: i64,
    pub next_runs: Vec<String>,
    /// What one run costs now (packages applied as they stand this
    /// period); absent when the account is not charged. Exact for up to
    /// 200 recipients, estimated from a sample of them beyond.
    pub cost: Option<Amount>,
    /// Recipients the tariff has no price for: a run skips them (listed
    /// in its `errors`).
    pub unpriced: i64,
    pub warnings: Vec<String>,
}

impl From<Estimate> for EstimateView {
    fn from(e: Estimate) -> Self {
        Self {
            recipients: e.recipients,
            opted_out: e.opted_out,
            segments_per_message: e.segments_per_message,
            segments: e.segments,
            next_runs: e.next_runs.iter().map(|t| format_micros(t.timestamp_micros())).collect(),
            unpriced: e.cost.as_ref().map_or(0, |c| c.unpriced),
            cost: e.cost.map(|c| Amount::of(c.currency, c.amount)),
            warnings: e.warnings,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedCampaign {
    pub campaign: CampaignView,
    pub estimate: EstimateView,
}

#[derive(Serialize, ToSchema)]
pub struct CampaignList {
    pub campaigns: Vec<CampaignView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunView>,
}

#[derive(Deserialize, IntoParams)]
pub struct CampaignListQuery {
    pub cursor: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<usize>,
}

async fn run_view(state: &AppState, run: RunRecord, with_errors: bool) -> Result<RunView, ApiError> {
    let counters = state.store.run_counts(&run.id).await?.into();
    let errors = if with_errors {
        let errors = state.store.run_errors(&run.id, REPORT_ERRORS).await?;
        Some(errors.into_iter().map(|(phone, reason)| RunErrorView { phone, reason }).collect())
    } else {
        None
    };
    Ok(RunView {
        id: run.id,
        seq: run.seq,
        status: run.status,
        failure: run.failure,
        due_at: format_micros(run.due_at),
        started_at: run.started_at.map(format_micros),
        finished_at: run.finished_at.map(format_micros),
        recipients: run.recipients,
        skipped: run.skipped,
        counters,
        errors,
    })
}

async fn campaign_view(state: &AppState, c: CampaignRecord) -> Result<CampaignView, ApiError> {
    let last = state.store.list_runs(&c.id).await?.into_iter().next();
    let last_run = match last {
        Some(r) => Some(run_view(state, r, false).await?),
        None => None,
    };
    let status = c.state.status(last_run.as_ref().map(|r| r.status.as_str()));
    Ok(CampaignView {
        id: c.id,
        name: c.name,
        status: status.into(),
        from: c.sender,
        text: c.body,
        template_id: c.template_id,
        data: c.data,
        audience: AudienceView {
            groups: c.audience.groups,
            tags: c.audience.tags,
            contacts: c.audience.contacts,
            exclude_groups: c.audience.exclude_groups,
            numbers: c.numbers,
        },
        message_tags: c.tags,
        callback_url: c.callback_url,
        send_at: c.send_at.map(format_micros),
        rrule: c.rrule,
        time_zone: c.time_zone,
        next_run_at: c.next_run_at.map(format_micros),
        throughput: c.throughput,
        urgent: c.urgent,
        sender_pool: c.sender_pool,
        created_at: format_micros(c.created_at),
        updated_at: format_micros(c.updated_at),
        created_by: c.created_by,
        started_by: c.started_by,
        last_run,
    })
}

async fn load(state: &AppState, auth: &Auth, id: &str) -> Result<CampaignRecord, ApiError> {
    let id = canonical_id(id).ok_or_else(|| ApiError::not_found("campaign"))?;
    state.store.get_campaign(&auth.account_id, &id).await?.ok_or_else(|| ApiError::not_found("campaign"))
}

fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(s.trim()).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        ApiError::field(field, format!("'{s}' is not an RFC 3339 time such as 2026-12-01T09:00:00+01:00"))
    })
}

/// Create a campaign (a draft, or started at once with `start`). The answer
/// carries an estimate: recipients, opted-out people left out, segments,
/// the next runs and warnings.
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns", request_body = CampaignRequest,
    responses((status = 201, body = CreatedCampaign), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_campaign(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<CampaignRequest>,
) -> Result<Response, ApiError> {
    let r = body.value;
    let now = Utc::now();
    if let Some(rule) = super::permissions::restriction(&state, &auth).await? {
        let groups = ("groups", r.groups.as_slice());
        super::permissions::check_audience(&state, &auth, &rule, groups, ("tags", r.tags.as_slice())).await?;
        let mut numbers = Vec::new();
        for (i, raw) in r.numbers.iter().enumerate() {
            // A number that does not parse is the campaign's error to report.
            if let Ok(n) = crate::domain::PhoneNumber::parse(raw, state.region) {
                numbers.push((format!("numbers[{i}]"), n.as_str().to_owned()));
            }
        }
        for (i, id) in r.contacts.iter().enumerate() {
            if let Some(c) = state.store.get_contact(&auth.account_id, id).await? {
                numbers.push((format!("contacts[{i}]"), c.phone));
            }
        }
        let numbers: Vec<(String, &str)> = numbers.iter().map(|(f, n)| (f.clone(), n.as_str())).collect();
        super::permissions::check_numbers(&state, &auth, &rule, &numbers).await?;
    }
    // A phone number as sender: the caller's own, once verified (as for
    // single messages); an unparsable one is the campaign's error to report.
    if let Some(Ok(from)) = r.from.as_deref().map(crate::domain::SenderId::parse) {
        super::own_numbers::check_sender(&state, &auth, &from).await?;
    }
    if let Some(url) = &r.callback_url {
        super::messages::validate_url(url.clone())?;
    }
    let input = CampaignInput {
        name: r.name,
        from: r.from,
        text: r.text,
        template: r.template,
        data: r.data,
        groups: r.groups,
        tags: r.tags,
        contacts: r.contacts,
        numbers: r.numbers,
        exclude_groups: r.exclude_groups,
        message_tags: r.message_tags,
        callback_url: r.callback_url,
        send_at: r.send_at.as_deref().map(|s| parse_time("send_at", s)).transpose()?,
        rrule: r.rrule,
        time_zone: r.time_zone,
        throughput: r.throughput,
        urgent: r.urgent,
        sender_pool: r.sender_pool,
        created_by: auth.user_id.clone(),
    };
    let campaign = campaigns::create(&state.store, &auth.account_id, state.region, input, now).await?;
    // Started before the estimate is made: sending need not wait for
    // counting a large audience.
    let campaign = if r.start {
        if let Err(e) = campaigns::start(&state.store, &campaign, auth.user_id.as_deref(), now).await {
            // Nothing is kept of a campaign that was asked to start and could not.
            state.store.delete_draft_campaign(&auth.account_id, &campaign.id).await?;
            return Err(e.into());
        }
        state.campaigns.notify_one();
        load(&state, &auth, &campaign.id).await?
    } else {
        campaign
    };
    let estimate =
        campaigns::estimate(&state.store, &campaign, state.config.messages.max_segments, now).await?;
    let view = campaign_view(&state, campaign).await?;
    Ok((StatusCode::CREATED, Json(CreatedCampaign { campaign: view, estimate: estimate.into() }))
        .into_response())
}

/// The account's campaigns, newest first.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns", params(CampaignListQuery),
    responses((status = 200, body = CampaignList), (status = 400, body = ErrorBody)))]
pub async fn list_campaigns(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<CampaignListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CampaignList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let limit = super::paging::limit(q.limit)?;
    let cursor = super::paging::cursor(q.cursor)?;
    let records = state.store.list_campaigns(&auth.account_id, cursor.as_deref(), limit).await?;
    let next_cursor = (records.len() == limit).then(|| records.last().map(|c| c.id.clone())).flatten();
    let mut campaigns = Vec::with_capacity(records.len());
    for c in records {
        campaigns.push(campaign_view(&state, c).await?);
    }
    Ok(Json(CampaignList { campaigns, next_cursor }))
}

/// A campaign with its newest run's live counters.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, body = CampaignView), (status = 404, body = ErrorBody)))]
pub async fn get_campaign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    let c = load(&state, &auth, &id).await?;
    Ok(Json(campaign_view(&state, c).await?))
}

/// Delete a draft (a started campaign is canceled instead).
#[utoipa::path(delete, path = "/api/v1/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_campaign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let c = load(&state, &auth, &id).await?;
    if !state.store.delete_draft_campaign(&auth.account_id, &c.id).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("the campaign is {}; only drafts are deleted (cancel it instead)", c.state.as_str()),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Recipients, opted-out people left out, segments and next runs, as the
/// campaign stands now.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/estimate", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, body = EstimateView), (status = 404, body = ErrorBody)))]
pub async fn estimate_campaign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<EstimateView>, ApiError> {
    let c = load(&state, &auth, &id).await?;
    let e = campaigns::estimate(&state.store, &c, state.config.messages.max_segments, Utc::now()).await?;
    Ok(Json(e.into()))
}

#[derive(Deserialize, IntoParams)]
pub struct ActionPath {
    /// Campaign id.
    pub id: String,
    /// start, pause, resume or cancel.
    pub action: String,
}

/// Start a draft, pause or resume a started campaign, or cancel it (unsent
/// messages are canceled; nothing more is sent).
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/{action}", tag = "campaigns", params(ActionPath),
    responses((status = 200, body = CampaignView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn campaign_action(
    State(state): State<AppState>,
    auth: Auth,
    Path(ActionPath { id, action }): Path<ActionPath>,
) -> Result<Json<CampaignView>, ApiError> {
    let c = load(&state, &auth, &id).await?;
    let now = Utc::now();
    let now_us = now.timestamp_micros();
    let done = match action.as_str() {
        "start" => {
            campaigns::start(&state.store, &c, auth.user_id.as_deref(), now).await?;
            true
        }
        "pause" => state.store.pause_campaign(&auth.account_id, &c.id, now_us).await?,
        "resume" => campaigns::resume(&state.store, &c, auth.user_id.as_deref(), now).await?,
        "cancel" => state.store.cancel_campaign(&auth.account_id, &c.id, now_us).await?,
        _ => return Err(ApiError::not_found("campaign action (start, pause, resume, cancel)")),
    };
    if !done {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "a campaign that is {} cannot be {}",
                c.state.as_str(),
                match action.as_str() {
                    "pause" => "paused",
                    "resume" => "resumed",
                    _ => "canceled",
                }
            ),
        ));
    }
    if action != "pause" {
        state.campaigns.notify_one();
        state.dispatch.wake.notify_one();
    }
    let c = load(&state, &auth, &id).await?;
    Ok(Json(campaign_view(&state, c).await?))
}

/// Every run of a campaign, newest first, with counters.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/runs", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, body = RunList), (status = 404, body = ErrorBody)))]
pub async fn list_runs(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<RunList>, ApiError> {
    let c = load(&state, &auth, &id).await?;
    let mut runs = Vec::new();
    for r in state.store.list_runs(&c.id).await? {
        runs.push(run_view(&state, r, false).await?);
    }
    Ok(Json(RunList { runs }))
}

#[derive(Deserialize, IntoParams)]
pub struct RunPath {
    /// Campaign id.
    pub id: String,
    /// Run id, or its number (1, 2, ...).
    pub run: String,
}

async fn load_run(state: &AppState, auth: &Auth, path: &RunPath) -> Result<RunRecord, ApiError> {
    let c = load(state, auth, &path.id).await?;
    state.store.get_run(&c.id, path.run.trim()).await?.ok_or_else(|| ApiError::not_found("campaign run"))
}

/// One run's report: counters, times, and why members were skipped.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/runs/{run}", tag = "campaigns", params(RunPath),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody)))]
pub async fn get_run(
    State(state): State<AppState>,
    auth: Auth,
    Path(path): Path<RunPath>,
) -> Result<Json<RunView>, ApiError> {
    let run = load_run(&state, &auth, &path).await?;
    Ok(Json(run_view(&state, run, true).await?))
}

async fn run_export(
    state: AppState,
    auth: Auth,
    path: RunPath,
    format: ExportFormat,
) -> Result<Response, ApiError> {
    let run = load_run(&state, &auth, &path).await?;
    let filter = MessageFilter { run: Some(run.id), ..MessageFilter::default() };
    let store = state.store.clone();
    let name = format!("campaign-run-{}", run.seq);
    Ok(stream_response(format, &name, move |out| async move {
        export_messages(&store, &auth.account_id, &filter, format, out, |_| {}).await
    }))
}

/// A run's messages as CSV.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/runs/{run}/messages.csv", tag = "campaigns", params(RunPath),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
pub async fn run_messages_csv(
    State(state): State<AppState>,
    auth: Auth,
    Path(path): Path<RunPath>,
) -> Result<Response, ApiError> {
    run_export(state, auth, path, ExportFormat::Csv).await
}

/// A run's messages as an XLSX workbook.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/runs/{run}/messages.xlsx", tag = "campaigns", params(RunPath),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 404, body = ErrorBody)))]
pub async fn run_messages_xlsx(
    State(state): State<AppState>,
    auth: Auth,
    Path(path): Path<RunPath>,
) -> Result<Response, ApiError> {
    run_export(state, auth, path, ExportFormat::Xlsx).await
}
