//! Campaigns: the list, a form to create one (audience, text or template,
//! sender, one-off or recurring schedule), its page with live progress and
//! start/pause/resume/cancel, and each run's report with a chart and
//! exports. Every read and write is the campaigns API handler.

use std::fmt::Write as _;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use serde_json::json;

use super::compose::local_time;
use super::session::Session;
use super::{
    FormError, OrPage, PageResult, Viewer, from_pairs, json_body, read_json, render, see_other, split_list,
};
use crate::http::api::v1::campaigns::{
    self, ActionPath, CampaignList, CampaignListQuery, CampaignView, Counters, CreatedCampaign, EstimateView,
    RunPath, RunView,
};
use crate::http::api::v1::groups::{self, GroupView};
use crate::http::api::v1::templates::{self, SenderView, TemplateView};
use crate::http::{ApiError, AppState, Auth};

#[derive(Template)]
#[template(path = "campaigns.html")]
struct ListPage {
    v: Viewer,
    active: &'static str,
    list: CampaignList,
}

pub async fn list(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(q): Query<CampaignListQuery>,
) -> PageResult {
    let list = campaigns::list_campaigns(State(state), auth, Ok(Query(q))).await.page(&v)?.0;
    Ok(render(&ListPage { v, active: "campaigns", list }))
}

/// The form as typed.
#[derive(Deserialize, Default)]
pub struct CampaignForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    exclude_groups: Vec<String>,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    numbers: String,
    #[serde(default)]
    send_at: String,
    /// once, daily, weekly, monthly.
    #[serde(default)]
    repeat: String,
    #[serde(default)]
    rrule: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    start: Option<String>,
}

impl CampaignForm {
    /// The body of `POST /api/v1/campaigns`.
    fn body(&self, v: &Viewer) -> Result<serde_json::Value, ApiError> {
        let opt = |s: &str| if s.trim().is_empty() { serde_json::Value::Null } else { json!(s.trim()) };
        let tags: Vec<String> = self
            .tags
            .split([' ', ',', ';', '\n'])
            .map(|t| t.trim().trim_start_matches('#').to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        let send_at = local_time(v, &self.send_at).map_err(|m| ApiError::field("send_at", m))?;
        let rrule = if !self.rrule.trim().is_empty() {
            Some(self.rrule.trim().to_owned())
        } else {
            let freq = match self.repeat.as_str() {
                "daily" => Some("DAILY"),
                "weekly" => Some("WEEKLY"),
                "monthly" => Some("MONTHLY"),
                _ => None,
            };
            freq.map(|f| {
                // At the start's time of day (or now's), in the campaign's zone.
                let at = send_at
                    .as_deref()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.naive_local())
                    .unwrap_or_else(|| chrono::Utc::now().with_timezone(&v.tz).naive_local());
                use chrono::Timelike as _;
                format!("FREQ={f};BYHOUR={};BYMINUTE={}", at.hour(), at.minute())
            })
        };
        let time_zone = if self.time_zone.trim().is_empty() && rrule.is_some() {
            json!(v.tz.name())
        } else {
            opt(&self.time_zone)
        };
        Ok(json!({
            "name": opt(&self.name),
            "text": opt(&self.text),
            "template": opt(&self.template),
            "from": opt(&self.from),
            "groups": self.groups,
            "exclude_groups": self.exclude_groups,
            "tags": tags,
            "numbers": split_list(&self.numbers),
            "send_at": send_at,
            "rrule": rrule,
            "time_zone": time_zone,
            "start": self.start.is_some(),
        }))
    }
}

#[derive(Template)]
#[template(path = "campaign_form.html")]
struct FormPage {
    v: Viewer,
    active: &'static str,
    form: CampaignForm,
    groups: Vec<GroupView>,
    senders: Vec<SenderView>,
    /// The user's own verified numbers, which the API accepts as `from` too.
    own_numbers: Vec<String>,
    templates: Vec<TemplateView>,
    error: FormError,
}

impl FormPage {
    fn selected(&self, current: &str, value: &str) -> &'static str {
        if current == value { " selected" } else { "" }
    }
}

/// What the form's pickers offer: groups, senders, templates.
struct Pickers {
    groups: Vec<GroupView>,
    senders: Vec<SenderView>,
    own_numbers: Vec<String>,
    templates: Vec<TemplateView>,
}

async fn pickers(state: &AppState, auth: &Auth) -> Result<Pickers, ApiError> {
    let groups = groups::list_groups(State(state.clone()), auth.clone()).await?.0.groups;
    let senders = templates::list_senders(State(state.clone()), auth.clone()).await?.0.sender_ids;
    let templates = templates::list_templates(State(state.clone()), auth.clone()).await?.0.templates;
    let own_numbers = super::profile::verified_own_numbers(state, auth, &senders).await?;
    Ok(Pickers { groups, senders, own_numbers, templates })
}

pub async fn new_form(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    let p = pickers(&state, &auth).await.page(&v)?;
    let form = CampaignForm { start: Some("on".into()), ..CampaignForm::default() };
    Ok(render(&FormPage {
        v,
        active: "campaigns",
        form,
        groups: p.groups,
        senders: p.senders,
        own_numbers: p.own_numbers,
        templates: p.templates,
        error: FormError::default(),
    }))
}

pub async fn create(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let form: CampaignForm = from_pairs(pairs, &["groups", "exclude_groups"]).page(&v)?;
    let outcome = async {
        let body = json_body(form.body(&v)?)?;
        let response = campaigns::create_campaign(State(state.clone()), auth.clone(), body).await?;
        read_json::<CreatedCampaign>(response).await
    }
    .await;
    match outcome {
        Ok(c) => Ok(see_other(&format!("/campaigns/{}", c.campaign.id))),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let p = pickers(&state, &auth).await.page(&v)?;
            let mut response = render(&FormPage {
                v,
                active: "campaigns",
                form,
                groups: p.groups,
                senders: p.senders,
                own_numbers: p.own_numbers,
                templates: p.templates,
                error,
            });
            *response.status_mut() = status;
            Ok(response)
        }
    }
}

#[derive(Template)]
#[template(path = "campaign.html")]
struct DetailPage {
    v: Viewer,
    active: &'static str,
    c: CampaignView,
    runs: Vec<RunView>,
    progress: String,
    estimate: Option<EstimateView>,
}

impl DetailPage {
    /// The actions the campaign's state allows, with their labels.
    fn actions(&self) -> Vec<(&'static str, &'static str)> {
        match self.c.status.as_str() {
            "draft" => vec![("start", "action.start"), ("cancel", "action.cancel")],
            // An active campaign shows as `scheduled` or `running` (the API's names).
            "scheduled" | "running" => vec![("pause", "action.pause"), ("cancel", "action.cancel")],
            "paused" => vec![("resume", "action.resume"), ("cancel", "action.cancel")],
            _ => Vec::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "campaign_progress.html")]
struct Progress<'a> {
    v: &'a Viewer,
    c: &'a CampaignView,
}

impl Progress<'_> {
    /// Worth refreshing: the campaign is active (`scheduled` or `running`:
    /// a run may open at any moment), its last run is still
    /// fanning out, or some of the run's messages await their outcome (a
    /// run is completed once every message is made, before they are
    /// delivered).
    fn live(&self) -> bool {
        matches!(self.c.status.as_str(), "scheduled" | "running")
            || self.c.last_run.as_ref().is_some_and(|r| {
                (r.status != "completed" && r.status != "canceled") || r.counters.queued + r.counters.sent > 0
            })
    }

    /// Messages handed over so far, of the run's recipients.
    fn done_of(&self) -> (i64, i64) {
        match &self.c.last_run {
            Some(r) => {
                let c = &r.counters;
                let done = c.sent + c.delivered + c.undelivered + c.failed + c.canceled;
                (done, r.recipients.max(done).max(1))
            }
            None => (0, 1),
        }
    }
}

async fn progress_html(
    state: &AppState,
    v: &Viewer,
    auth: &Auth,
    id: &str,
) -> Result<(CampaignView, String), ApiError> {
    let c = campaigns::get_campaign(State(state.clone()), auth.clone(), Path(id.to_owned())).await?.0;
    let html = Progress { v, c: &c }.render().map_err(ApiError::internal)?;
    Ok((c, html))
}

pub async fn detail(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    let (c, progress) = progress_html(&state, &v, &auth, &id).await.page(&v)?;
    let runs =
        campaigns::list_runs(State(state.clone()), auth.clone(), Path(c.id.clone())).await.page(&v)?.0.runs;
    // What the next run would reach (campaigns that may still run; the
    // API reports a started one as scheduled or running).
    let estimate = if matches!(c.status.as_str(), "draft" | "scheduled" | "running" | "paused") {
        campaigns::estimate_campaign(State(state), auth, Path(c.id.clone())).await.ok().map(|e| e.0)
    } else {
        None
    };
    Ok(render(&DetailPage { v, active: "campaigns", c, runs, progress, estimate }))
}

/// The progress part alone; htmx polls it while the campaign runs.
pub async fn progress(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> Response {
    match progress_html(&state, &v, &auth, &id).await {
        Ok((_, html)) => axum::response::Html(html).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn action(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path((id, action)): Path<(String, String)>,
) -> PageResult {
    let _ = campaigns::campaign_action(State(state), auth, Path(ActionPath { id: id.clone(), action }))
        .await
        .page(&v)?;
    Ok(see_other(&format!("/campaigns/{id}")))
}

#[derive(Template)]
#[template(path = "campaign_run.html")]
struct RunPage {
    v: Viewer,
    active: &'static str,
    c: CampaignView,
    r: RunView,
    chart: String,
}

pub async fn run(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path((id, run)): Path<(String, String)>,
) -> PageResult {
    let c = campaigns::get_campaign(State(state.clone()), auth.clone(), Path(id.clone())).await.page(&v)?.0;
    let r = campaigns::get_run(State(state), auth, Path(RunPath { id, run })).await.page(&v)?.0;
    let chart = run_chart(&v, &r.counters);
    Ok(render(&RunPage { v, active: "campaigns", c, r, chart }))
}

pub async fn run_csv(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path((id, run)): Path<(String, String)>,
) -> PageResult {
    campaigns::run_messages_csv(State(state), auth, Path(RunPath { id, run })).await.page(&v)
}

pub async fn run_xlsx(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path((id, run)): Path<(String, String)>,
) -> PageResult {
    campaigns::run_messages_xlsx(State(state), auth, Path(RunPath { id, run })).await.page(&v)
}

/// A horizontal bar per outcome of a run, as inline SVG (numbers and our
/// own words only).
fn run_chart(v: &Viewer, c: &Counters) -> String {
    let rows = [
        (v.status("delivered"), c.delivered, "#2da44e"),
        (v.status("sent"), c.sent, "#0b5cad"),
        (v.t("camp.queued").to_owned(), c.queued, "#8c959f"),
        (v.status("undelivered"), c.undelivered, "#bf8700"),
        (v.status("failed"), c.failed, "#a40e26"),
        (v.status("canceled"), c.canceled, "#57606a"),
        (v.t("camp.replies").to_owned(), c.replies, "#8250df"),
    ];
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1) as f64;
    let (label_w, bar_w, row_h) = (130.0, 440.0, 22.0);
    let h = row_h * rows.len() as f64 + 4.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {} {h}" role="img" aria-label="{}">"#,
        label_w + bar_w + 80.0,
        v.t("camp.run")
    );
    for (i, (label, n, colour)) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 2.0;
        let w = (*n as f64 / max) * bar_w;
        let label =
            askama::filters::escape(label, askama::filters::Html).map(|l| l.to_string()).unwrap_or_default();
        let _ = write!(
            s,
            r#"<text x="0" y="{:.1}">{label}</text><rect x="{label_w}" y="{y:.1}" width="{w:.1}" height="{:.1}" fill="{colour}"></rect><text x="{:.1}" y="{:.1}">{}</text>"#,
            y + 14.0,
            row_h - 6.0,
            label_w + w + 4.0,
            y + 14.0,
            v.num(n)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_choice_becomes_an_rrule_at_the_start_time() {
        let mut v = Viewer::test(super::super::i18n::Locale::En);
        v.tz = "Europe/Warsaw".parse().unwrap();
        let form = CampaignForm {
            name: "Weekly".into(),
            text: "Hi".into(),
            groups: vec!["g".into()],
            tags: "#a b".into(),
            send_at: "2030-01-07T09:15".into(),
            repeat: "weekly".into(),
            ..CampaignForm::default()
        };
        let body = form.body(&v).unwrap();
        assert_eq!(body["rrule"], "FREQ=WEEKLY;BYHOUR=9;BYMINUTE=15");
        assert_eq!(body["time_zone"], "Europe/Warsaw");
        assert_eq!(body["tags"], json!(["a", "b"]));
        assert_eq!(body["send_at"], "2030-01-07T09:15:00+01:00");
        assert_eq!(body["start"], false);
    }

    #[test]
    fn a_once_campaign_has_no_rule() {
        let v = Viewer::test(super::super::i18n::Locale::En);
        let form = CampaignForm { name: "x".into(), repeat: "once".into(), ..CampaignForm::default() };
        let body = form.body(&v).unwrap();
        assert!(body["rrule"].is_null());
        assert!(body["time_zone"].is_null());
    }
}
