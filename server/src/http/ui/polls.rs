//! Polls and contests: the list with a form to create one, and a poll's
//! page — its results as a bar chart (CSS bars drawn on the server, so it
//! reads without JavaScript; htmx re-fetches the chart every few seconds
//! while the poll is open), the votes' download, a contest's draws, and
//! the form to change it. Every read and write is the polls API handler.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::compose::local_time;
use super::session::Session;
use super::{
    FormError, OrPage, PageError, PageResult, Viewer, json_body, read_json, render, see_other, with_status,
};
use crate::http::api::v1::polls::{self, DrawView, PollResultsView, PollView};
use crate::http::{ApiError, AppState};
use crate::transfer::ExportFormat;

/// A poll as a form shows it: answers one per line (`A: Pizza`, or just
/// `Pizza` for the next letter), times in the viewer's zone.
#[derive(Deserialize, Default, Clone)]
pub struct PollForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    question: String,
    #[serde(default)]
    answers: String,
    #[serde(default)]
    opens_at: String,
    #[serde(default)]
    closes_at: String,
    #[serde(default)]
    vote_policy: String,
    #[serde(default)]
    correct_answer: String,
    #[serde(default)]
    reply_counted: String,
    #[serde(default)]
    reply_duplicate: String,
    #[serde(default)]
    reply_closed: String,
    #[serde(default)]
    reply_invalid: String,
}

/// An RFC 3339 time as a `datetime-local` value in the viewer's zone.
fn local_input(v: &Viewer, at: &Option<String>) -> String {
    at.as_deref()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&v.tz).format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

impl PollForm {
    fn from_view(v: &Viewer, p: &PollView) -> Self {
        let answers: Vec<String> = p.answers.iter().map(|a| format!("{}: {}", a.key, a.text)).collect();
        Self {
            name: p.name.clone(),
            question: p.question.clone(),
            answers: answers.join("\n"),
            opens_at: local_input(v, &p.opens_at),
            closes_at: local_input(v, &p.closes_at),
            vote_policy: p.vote_policy.clone(),
            correct_answer: p.correct_answer.clone().unwrap_or_default(),
            reply_counted: p.replies.counted.clone().unwrap_or_default(),
            reply_duplicate: p.replies.duplicate.clone().unwrap_or_default(),
            reply_closed: p.replies.closed.clone().unwrap_or_default(),
            reply_invalid: p.replies.invalid.clone().unwrap_or_default(),
        }
    }

    /// The API's input, as the form's fields say.
    fn body(&self, v: &Viewer) -> Result<Value, ApiError> {
        let answers: Vec<Value> = self
            .answers
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| match l.split_once(':') {
                Some((k, t)) if !k.trim().is_empty() && !k.trim().contains(' ') => {
                    json!({"key": k.trim(), "text": t.trim()})
                }
                _ => json!({"text": l}),
            })
            .collect();
        let time = |field: &str, s: &str| -> Result<String, ApiError> {
            Ok(local_time(v, s).map_err(|m| ApiError::field(field, m))?.unwrap_or_default())
        };
        let reply = |s: &str| if s.trim().is_empty() { Value::Null } else { json!(s.trim()) };
        Ok(json!({
            "name": self.name,
            "question": self.question,
            "answers": answers,
            "opens_at": time("opens_at", &self.opens_at)?,
            "closes_at": time("closes_at", &self.closes_at)?,
            "vote_policy": self.vote_policy,
            "correct_answer": self.correct_answer.trim(),
            "replies": {
                "counted": reply(&self.reply_counted),
                "duplicate": reply(&self.reply_duplicate),
                "closed": reply(&self.reply_closed),
                "invalid": reply(&self.reply_invalid),
            },
        }))
    }
}

/// What the poll pages show of a poll's state.
trait PollLabels {
    fn viewer(&self) -> &Viewer;

    fn state_label(&self, state: &str) -> &'static str {
        let v = self.viewer();
        match state {
            "scheduled" => v.t("poll.scheduled"),
            "closed" => v.t("poll.closed"),
            _ => v.t("poll.open"),
        }
    }
}

#[derive(Template)]
#[template(path = "polls.html")]
struct ListPage {
    v: Viewer,
    active: &'static str,
    polls: Vec<PollView>,
    form: PollForm,
    error: FormError,
}

impl PollLabels for ListPage {
    fn viewer(&self) -> &Viewer {
        &self.v
    }
}

pub async fn list(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    let polls = polls::list_polls(State(state), auth).await.page(&v)?.0.polls;
    let form = PollForm { answers: "A: \nB: ".into(), ..Default::default() };
    Ok(render(&ListPage { v, active: "polls", polls, form, error: FormError::default() }))
}

/// Creates a poll, then shows it.
pub async fn create(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(form): Form<PollForm>,
) -> PageResult {
    let outcome = async {
        let body = json_body(form.body(&v)?)?;
        let response = polls::create_poll(State(state.clone()), auth.clone(), body).await?;
        read_json::<PollView>(response).await
    }
    .await;
    match outcome {
        Ok(p) => Ok(see_other(&format!("/polls/{}", p.id))),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let polls = polls::list_polls(State(state), auth).await.page(&v)?.0.polls;
            Ok(with_status(render(&ListPage { v, active: "polls", polls, form, error }), status))
        }
    }
}

#[derive(Template)]
#[template(path = "poll_chart.html")]
struct Chart<'a> {
    v: &'a Viewer,
    r: &'a PollResultsView,
}

impl Chart<'_> {
    /// Bar width in percent of the biggest answer, so the leader fills the row.
    fn width(&self, votes: &i64) -> i64 {
        let max = self.r.results.answers.iter().map(|a| a.votes).max().unwrap_or(0);
        if max == 0 { 0 } else { votes * 100 / max }
    }

    fn percent(&self, p: &f64) -> String {
        let s = format!("{p:.1}");
        if self.v.lang() == "en" { s } else { s.replace('.', ",") }
    }

    fn live(&self) -> bool {
        self.r.poll.state != "closed"
    }

    fn reason_key(&self, reason: &str) -> &'static str {
        match reason {
            "replaced" => "poll.replaced",
            "duplicate" => "poll.duplicate",
            "early" => "poll.early",
            "late" => "poll.late",
            _ => "poll.invalid",
        }
    }

    fn not_counted(&self) -> i64 {
        self.r.results.not_counted.values().sum()
    }
}

fn chart_html(v: &Viewer, r: &PollResultsView) -> Result<String, ApiError> {
    Chart { v, r }.render().map_err(ApiError::internal)
}

#[derive(Template)]
#[template(path = "poll.html")]
struct DetailPage {
    v: Viewer,
    active: &'static str,
    poll: PollView,
    chart: String,
    draws: Vec<DrawView>,
    form: PollForm,
    error: FormError,
}

impl PollLabels for DetailPage {
    fn viewer(&self) -> &Viewer {
        &self.v
    }
}

async fn detail_page(
    state: &AppState,
    v: Viewer,
    auth: crate::http::Auth,
    id: &str,
    form: Option<PollForm>,
    error: FormError,
) -> Result<DetailPage, PageError> {
    let r = polls::poll_results_of(state, &auth, id).await.page(&v)?;
    let draws = if r.poll.correct_answer.is_some() {
        polls::list_draws(State(state.clone()), auth, Path(r.poll.id.clone())).await.page(&v)?.0.draws
    } else {
        Vec::new()
    };
    let chart = chart_html(&v, &r).page(&v)?;
    let form = form.unwrap_or_else(|| PollForm::from_view(&v, &r.poll));
    Ok(DetailPage { v, active: "polls", poll: r.poll, chart, draws, form, error })
}

pub async fn detail(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    Ok(render(&detail_page(&state, v, auth, &id, None, FormError::default()).await?))
}

/// The chart alone; htmx polls it while the poll is not closed.
pub async fn chart(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    let r = polls::poll_results_of(&state, &auth, &id).await.page(&v)?;
    let html = chart_html(&v, &r).page(&v)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

/// Saves the edit form; its errors are shown next to the fields.
pub async fn update(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Form(form): Form<PollForm>,
) -> PageResult {
    let outcome = async {
        let body = json_body(form.body(&v)?)?;
        polls::update_poll(State(state.clone()), auth.clone(), Path(id.clone()), body).await
    }
    .await;
    match outcome {
        Ok(p) => Ok(see_other(&format!("/polls/{}", p.0.id))),
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => Err(PageError::new(&v, e)),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let page = detail_page(&state, v, auth, &id, Some(form), error).await?;
            Ok(with_status(render(&page), status))
        }
    }
}

#[derive(Deserialize)]
pub struct DrawForm {
    #[serde(default)]
    winners: String,
}

/// Draws a contest's winners, then shows the poll with the draw.
pub async fn draw(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Form(form): Form<DrawForm>,
) -> PageResult {
    let outcome = async {
        let winners: usize =
            form.winners.trim().parse().map_err(|_| ApiError::field("winners", "must be a number"))?;
        let body = json_body(json!({"winners": winners}))?;
        polls::create_draw(State(state.clone()), auth.clone(), Path(id.clone()), body).await
    }
    .await;
    match outcome {
        Ok(_) => Ok(see_other(&format!("/polls/{id}#draws"))),
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => Err(PageError::new(&v, e)),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let page = detail_page(&state, v, auth, &id, None, error).await?;
            Ok(with_status(render(&page), status))
        }
    }
}

pub async fn votes_csv(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    polls::votes_file(state, auth, &id, ExportFormat::Csv).await.page(&v)
}

pub async fn votes_xlsx(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    polls::votes_file(state, auth, &id, ExportFormat::Xlsx).await.page(&v)
}
