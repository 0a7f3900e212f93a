//! `/api/v1/polls`: polls and contests — the question, its answers, when
//! it is open and which vote of a number counts; live results with counts
//! and percentages; every vote as CSV/XLSX; a contest's recorded winner
//! draws. Votes arrive as received messages through a keyword's (or a
//! number's default) `poll_answer` action.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::exports::stream_response;
use super::messages::parse_time;
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::inbound::polls::{
    AnswerOption, MAX_SEED_LEN, MAX_WINNERS, PollDraft, PollReplies, PollResults, PollSpec, draw, new_seed,
    results,
};
use crate::storage::{DrawRecord, PollNameTaken, PollRecord, PollWrite, format_micros, now_micros};
use crate::transfer::{ExportFormat, export_poll_votes};

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct PollView {
    pub id: String,
    pub name: String,
    pub question: String,
    pub answers: Vec<AnswerOption>,
    pub opens_at: Option<String>,
    pub closes_at: Option<String>,
    /// `first` (one vote per number) or `last` (the last vote counts).
    pub vote_policy: String,
    /// A contest's correct answer key; `null` for a plain poll.
    pub correct_answer: Option<String>,
    pub replies: PollReplies,
    /// `scheduled` (not open yet), `open` or `closed`, now.
    pub state: String,
    pub created_at: String,
    pub updated_at: String,
}

impl PollView {
    pub fn new(p: PollRecord, now: i64) -> Self {
        let spec = PollSpec::from_record(&p);
        let state = match crate::inbound::polls::outside(now, p.opens_at, p.closes_at) {
            Some(crate::storage::VoteStatus::Early) => "scheduled",
            Some(_) => "closed",
            None => "open",
        };
        Self {
            id: p.id,
            name: spec.name,
            question: spec.question,
            answers: spec.answers,
            opens_at: p.opens_at.map(format_micros),
            closes_at: p.closes_at.map(format_micros),
            vote_policy: spec.policy.as_str().into(),
            correct_answer: spec.correct_answer,
            replies: spec.replies,
            state: state.into(),
            created_at: format_micros(p.created_at),
            updated_at: format_micros(p.updated_at),
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PollList {
    pub polls: Vec<PollView>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PollInput {
    #[schema(example = "Lunch")]
    pub name: Option<String>,
    #[schema(example = "What shall we order on Friday?")]
    pub question: Option<String>,
    /// At least two; `key` defaults to the answer's letter (`A`, `B`, …),
    /// `text` to the key.
    pub answers: Option<Vec<AnswerOption>>,
    /// RFC 3339; votes before it are recorded as `early`. `""` clears it.
    pub opens_at: Option<String>,
    /// RFC 3339; votes from it on are recorded as `late`. `""` clears it.
    pub closes_at: Option<String>,
    /// `first` (the default) or `last`.
    pub vote_policy: Option<String>,
    /// Makes the poll a contest: the key of the correct answer. `""` clears it.
    pub correct_answer: Option<String>,
    /// Texts answering a voter by outcome; omitted ones send nothing.
    pub replies: Option<PollReplies>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PollResultsView {
    pub poll: PollView,
    pub results: PollResults,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DrawInput {
    /// How many winners to draw (default 1).
    pub winners: Option<usize>,
    /// The seed; default: a fresh random one. The same seed over the same
    /// correct entrants draws the same winners.
    pub seed: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct DrawView {
    pub id: String,
    pub seed: String,
    /// Correct entrants drawn from.
    pub entrants: i64,
    /// Winners' numbers, in draw order.
    pub winners: Vec<String>,
    pub drawn_at: String,
}

impl From<DrawRecord> for DrawView {
    fn from(d: DrawRecord) -> Self {
        Self {
            id: d.id,
            seed: d.seed,
            entrants: d.entrants,
            winners: d.winners,
            drawn_at: format_micros(d.drawn_at),
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DrawList {
    pub draws: Vec<DrawView>,
}

async fn find(state: &AppState, auth: &Auth, id: &str) -> Result<PollRecord, ApiError> {
    state.store.get_poll(&auth.account_id, id).await?.ok_or_else(|| ApiError::not_found("poll"))
}

fn time(field: &str, s: &str) -> Result<Option<i64>, ApiError> {
    if s.trim().is_empty() { Ok(None) } else { parse_time(field, s.trim(), ApiError::field).map(Some) }
}

/// Checks the input over `base` (the stored poll when changing one).
fn check(state: &AppState, input: PollInput, base: Option<&PollRecord>) -> Result<PollSpec, ApiError> {
    let old = base.map(PollSpec::from_record);
    let mut d = match &old {
        Some(s) => PollDraft {
            name: s.name.clone(),
            question: s.question.clone(),
            answers: s.answers.clone(),
            opens_at: s.opens_at,
            closes_at: s.closes_at,
            policy: s.policy.as_str().into(),
            correct_answer: s.correct_answer.clone(),
            replies: s.replies.clone(),
        },
        None => PollDraft::default(),
    };
    if let Some(v) = input.name {
        d.name = v;
    }
    if let Some(v) = input.question {
        d.question = v;
    }
    if let Some(v) = input.answers {
        d.answers = v;
    }
    if let Some(v) = input.opens_at {
        d.opens_at = time("opens_at", &v)?;
    }
    if let Some(v) = input.closes_at {
        d.closes_at = time("closes_at", &v)?;
    }
    if let Some(v) = input.vote_policy {
        d.policy = v;
    }
    if let Some(v) = input.correct_answer {
        d.correct_answer = Some(v);
    }
    if let Some(v) = input.replies {
        d.replies = v;
    }
    PollSpec::new(d, state.config.messages.max_segments).map_err(|e| ApiError::field(e.field, e.message))
}

fn taken(name: &str) -> ApiError {
    ApiError {
        field: Some("name".into()),
        ..ApiError::new(StatusCode::CONFLICT, "duplicate", format!("you already have a poll named '{name}'"))
    }
}

/// Stores `spec` as a new poll, or over poll `id`.
async fn save(
    state: &AppState,
    auth: &Auth,
    spec: &PollSpec,
    id: Option<&str>,
) -> Result<PollRecord, ApiError> {
    let answers = serde_json::to_string(&spec.answers).map_err(ApiError::internal)?;
    let replies = if spec.replies.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&spec.replies).map_err(ApiError::internal)?)
    };
    let w = PollWrite {
        name: &spec.name,
        question: &spec.question,
        answers: &answers,
        opens_at: spec.opens_at,
        closes_at: spec.closes_at,
        vote_policy: spec.policy.as_str(),
        correct_answer: spec.correct_answer.as_deref(),
        replies: replies.as_deref(),
    };
    let saved = match id {
        None => state.store.create_poll(&auth.account_id, &w, now_micros()).await?.map(Some),
        Some(id) => state.store.update_poll(&auth.account_id, id, &w, now_micros()).await?,
    };
    match saved {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(ApiError::not_found("poll")),
        Err(PollNameTaken) => Err(taken(&spec.name)),
    }
}

/// The account's polls and contests, newest first.
#[utoipa::path(get, path = "/api/v1/polls", tag = "polls",
    responses((status = 200, body = PollList), (status = 401, body = ErrorBody)))]
pub async fn list_polls(State(state): State<AppState>, auth: Auth) -> Result<Json<PollList>, ApiError> {
    let now = now_micros();
    let polls = state.store.list_polls(&auth.account_id).await?;
    Ok(Json(PollList { polls: polls.into_iter().map(|p| PollView::new(p, now)).collect() }))
}

/// Create a poll, or a contest (with `correct_answer`).
#[utoipa::path(post, path = "/api/v1/polls", tag = "polls", request_body = PollInput,
    responses((status = 201, body = PollView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_poll(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody<PollInput>,
) -> Result<Response, ApiError> {
    let spec = check(&state, body.value, None)?;
    let p = save(&state, &auth, &spec, None).await?;
    Ok((StatusCode::CREATED, Json(PollView::new(p, now_micros()))).into_response())
}

#[utoipa::path(get, path = "/api/v1/polls/{id}", tag = "polls",
    params(("id" = String, Path, description = "Poll id or name")),
    responses((status = 200, body = PollView), (status = 404, body = ErrorBody)))]
pub async fn get_poll(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<PollView>, ApiError> {
    Ok(Json(PollView::new(find(&state, &auth, &id).await?, now_micros())))
}

/// Change a poll (checked again as a whole). Votes already recorded keep
/// their status; results count them by the answers' keys.
#[utoipa::path(patch, path = "/api/v1/polls/{id}", tag = "polls", request_body = PollInput,
    params(("id" = String, Path, description = "Poll id or name")),
    responses((status = 200, body = PollView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_poll(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<PollInput>,
) -> Result<Json<PollView>, ApiError> {
    let existing = find(&state, &auth, &id).await?;
    let spec = check(&state, body.value, Some(&existing))?;
    let p = save(&state, &auth, &spec, Some(&existing.id)).await?;
    Ok(Json(PollView::new(p, now_micros())))
}

/// Delete a poll with its votes and draws.
#[utoipa::path(delete, path = "/api/v1/polls/{id}", tag = "polls",
    params(("id" = String, Path, description = "Poll id or name")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_poll(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let p = find(&state, &auth, &id).await?;
    if state.store.delete_poll(&auth.account_id, &p.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("poll"))
    }
}

/// Results of one poll, as of now.
pub async fn poll_results_of(state: &AppState, auth: &Auth, id: &str) -> Result<PollResultsView, ApiError> {
    let p = find(state, auth, id).await?;
    let counts = state.store.poll_vote_counts(&p.id).await?;
    let results = results(&PollSpec::from_record(&p), &counts);
    Ok(PollResultsView { poll: PollView::new(p, now_micros()), results })
}

/// Live results: counted votes per answer with percentages, and the votes
/// not counted by reason.
#[utoipa::path(get, path = "/api/v1/polls/{id}/results", tag = "polls",
    params(("id" = String, Path, description = "Poll id or name")),
    responses((status = 200, body = PollResultsView), (status = 404, body = ErrorBody)))]
pub async fn poll_results(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<PollResultsView>, ApiError> {
    Ok(Json(poll_results_of(&state, &auth, &id).await?))
}

/// Every vote of a poll as a download.
pub async fn votes_file(
    state: AppState,
    auth: Auth,
    id: &str,
    format: ExportFormat,
) -> Result<Response, ApiError> {
    let p = find(&state, &auth, id).await?;
    let answers: Vec<(String, String)> =
        PollSpec::from_record(&p).answers.into_iter().map(|a| (a.key, a.text)).collect();
    let store = state.store.clone();
    Ok(stream_response(format, "poll-votes", move |out| async move {
        export_poll_votes(&store, &p.id, &answers, format, out).await
    }))
}

/// Every vote received, counted or not, as CSV.
#[utoipa::path(get, path = "/api/v1/polls/{id}/votes.csv", tag = "polls",
    params(("id" = String, Path, description = "Poll id or name")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
pub async fn votes_csv(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    votes_file(state, auth, &id, ExportFormat::Csv).await
}

/// Every vote received, counted or not, as XLSX.
#[utoipa::path(get, path = "/api/v1/polls/{id}/votes.xlsx", tag = "polls",
    params(("id" = String, Path, description = "Poll id or name")),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 404, body = ErrorBody)))]
pub async fn votes_xlsx(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    votes_file(state, auth, &id, ExportFormat::Xlsx).await
}

/// Draw a contest's winners among the numbers whose counted vote is the
/// correct answer, and record the draw with its seed.
#[utoipa::path(post, path = "/api/v1/polls/{id}/draws", tag = "polls", request_body = DrawInput,
    params(("id" = String, Path, description = "Poll id or name")),
    responses((status = 201, body = DrawView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_draw(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody<DrawInput>,
) -> Result<Response, ApiError> {
    let p = find(&state, &auth, &id).await?;
    let input = body.value;
    let Some(correct) = p.correct_answer.clone() else {
        return Err(ApiError::field("poll", "only a contest (a poll with a correct_answer) has a draw"));
    };
    // Drawn once no vote can change the entrants, so the draw stays
    // reproducible from the votes export.
    if p.closes_at.is_none_or(|c| now_micros() < c) {
        return Err(ApiError::field(
            "poll",
            "the contest is still open: draw once it has closed (closes_at), so no later vote changes the entrants",
        ));
    }
    let winners = input.winners.unwrap_or(1);
    if !(1..=MAX_WINNERS).contains(&winners) {
        return Err(ApiError::field("winners", format!("must be between 1 and {MAX_WINNERS}")));
    }
    let seed = match input.seed {
        Some(s)
            if s.trim().is_empty() || s.chars().count() > MAX_SEED_LEN || s.chars().any(char::is_control) =>
        {
            return Err(ApiError::field(
                "seed",
                format!("must be 1 to {MAX_SEED_LEN} characters without control characters"),
            ));
        }
        Some(s) => s,
        None => new_seed(),
    };
    let entrants = state.store.poll_voters_for(&p.id, &correct).await?;
    if entrants.is_empty() {
        return Err(ApiError::field("poll", "nobody has answered correctly yet"));
    }
    let picked = draw(&seed, &entrants, winners);
    let d = state.store.insert_draw(&p.id, &seed, entrants.len() as i64, &picked, now_micros()).await?;
    Ok((StatusCode::CREATED, Json(DrawView::from(d))).into_response())
}

/// The contest's recorded draws, oldest first.
#[utoipa::path(get, path = "/api/v1/polls/{id}/draws", tag = "polls",
    params(("id" = String, Path, description = "Poll id or name")),
    responses((status = 200, body = DrawList), (status = 404, body = ErrorBody)))]
pub async fn list_draws(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<DrawList>, ApiError> {
    let p = find(&state, &auth, &id).await?;
    let draws = state.store.list_draws(&p.id).await?;
    Ok(Json(DrawList { draws: draws.into_iter().map(Into::into).collect() }))
}
