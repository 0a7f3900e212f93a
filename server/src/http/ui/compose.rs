//! Compose: recipients (typed numbers, `#tags`, groups), sender, template
//! with preview, text with a live counter, now or at a time. Sending is
//! `POST /api/v1/messages`'s handler; the counter is `crates/sms-text`
//! through [`MessageText`], as the API counts.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::messages::StatusRows;
use super::session::Session;
use super::{
    FormError, OrPage, PageResult, Viewer, from_pairs, json_body, new_send_key, read_json, render,
    send_key_headers, split_list,
};
use crate::domain::{MessageText, PhoneNumber};
use crate::http::api::v1::groups::{self, GroupView};
use crate::http::api::v1::messages::{self, RecipientError, SendResponse};
use crate::http::api::v1::templates::{self, SenderView, TemplateView};
use crate::http::{ApiError, AppState, Auth};

/// What the form holds (also when it comes back with an error).
#[derive(Deserialize, Default, Clone)]
pub struct ComposeForm {
    #[serde(default)]
    pub to: String,
    /// Group ids; a form sends one `groups` pair per ticked box.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub template: String,
    #[serde(default)]
    pub text: String,
    /// `datetime-local` in the viewer's zone.
    #[serde(default)]
    pub send_at: String,
    /// Set when the "use template" button (not "send") submitted the form.
    #[serde(default)]
    pub use_template: Option<String>,
    /// The form's own key ([`new_send_key`]): the same form sent twice sends once.
    #[serde(default)]
    pub idempotency_key: String,
}

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposePage {
    v: Viewer,
    active: &'static str,
    form: ComposeForm,
    groups: Vec<GroupView>,
    senders: Vec<SenderView>,
    /// The user's verified own numbers, which the API accepts as `from`.
    own_numbers: Vec<String>,
    templates: Vec<TemplateView>,
    counter: Counter,
    error: FormError,
    result: Option<SendResult>,
}

/// A send's answer as the page shows it: how many messages were accepted,
/// the first ones with their live statuses, the refused recipients.
struct SendResult {
    sent: i64,
    rows: StatusRows,
    /// How many of them are listed (the first ones).
    shown: i64,
    errors: Vec<RecipientError>,
}

impl SendResult {
    fn new(v: &Viewer, r: SendResponse) -> Self {
        let sent = r.messages.len() as i64;
        let rows = StatusRows::new(v.clone(), r.messages, 0);
        Self { sent, shown: rows.len() as i64, rows, errors: r.errors }
    }
}

impl ComposePage {
    /// Whether the sender is one of the account's sender ids (a reply from
    /// an inbound number may not be, and is offered as it is).
    fn sender_is_listed(&self) -> bool {
        self.senders.iter().any(|s| s.sender == self.form.from) || self.own_numbers.contains(&self.form.from)
    }
}

#[derive(Template)]
#[template(path = "compose_counter.html")]
pub struct Counter {
    v: Viewer,
    chars: usize,
    encoding: &'static str,
    segments: usize,
    problem: String,
    /// What the typed numbers cost (formatted), when the account is charged.
    cost: Option<String>,
    /// Typed numbers the tariff has no price for.
    unpriced: i64,
    /// Groups or #tags are picked but could not be counted (not in `cost`).
    more: bool,
    /// Why the groups or #tags could not be counted, or why the recipients
    /// are more than a send takes.
    reach_problem: String,
    /// Different numbers the message goes to (typed, and reached by groups and tags).
    recipients: i64,
}

impl Counter {
    /// Counts as `POST /api/v1/messages` will: transliterated if the account
    /// says so, GSM 7-bit or UCS-2, segments, the configured maximum.
    fn of(v: &Viewer, state: &AppState, auth: &Auth, text: &str) -> Self {
        let text = if auth.transliterate { sms_text::transliterate(text) } else { text.to_owned() };
        let info = sms_text::analyze(&text);
        let problem = if text.is_empty() {
            String::new()
        } else {
            MessageText::new(&text, state.config.messages.max_segments)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        Counter {
            v: v.clone(),
            chars: info.chars,
            encoding: crate::domain::encoding_name(info.encoding),
            segments: if text.is_empty() { 0 } else { info.segments },
            problem,
            cost: None,
            unpriced: 0,
            more: false,
            reach_problem: String::new(),
            recipients: 0,
        }
    }

    /// The counter with the number of recipients and the price of sending
    /// the text to them: the typed numbers (`to` as the form has it) and the
    /// people the picked groups and `#tags` reach (opted-out ones left out),
    /// each number once, packages applied, by the account's tariff. Numbers
    /// that do not parse are left to the send to report; groups or tags that
    /// cannot be counted (too many people, not permitted) leave the cost at
    /// the typed numbers and say why. More typed numbers than a send takes
    /// (`messages.max_recipients`) are not counted or priced: the counter
    /// says what the send would.
    async fn priced(
        mut self,
        state: &AppState,
        auth: &Auth,
        to: &str,
        groups: &[String],
    ) -> Result<Self, ApiError> {
        let max = state.config.messages.max_recipients;
        let (typed, tags): (Vec<String>, Vec<String>) =
            split_list(to).into_iter().partition(|i| !i.starts_with('#'));
        if typed.len() > max {
            self.reach_problem = messages::too_many_recipients(max, typed.len()).message;
            return Ok(self);
        }
        let tags: Vec<String> = tags.iter().map(|t| t.strip_prefix('#').unwrap_or(t).to_owned()).collect();
        let mut numbers: Vec<PhoneNumber> =
            typed.iter().filter_map(|item| PhoneNumber::parse(item, state.region).ok()).collect();
        if !groups.is_empty() || !tags.is_empty() {
            match messages::audience_for(state, auth, groups.to_vec(), tags).await {
                Ok(reached) => numbers.extend(reached.into_iter().map(PhoneNumber::from_trusted)),
                Err(e) if e.status.is_client_error() => {
                    self.more = true;
                    self.reach_problem = e.message;
                }
                Err(e) => return Err(e),
            }
        }
        let mut seen = std::collections::HashSet::new();
        numbers.retain(|n| seen.insert(n.as_str().to_owned()));
        if numbers.len() > max {
            self.reach_problem = messages::too_many_recipients(max, numbers.len()).message;
            return Ok(self);
        }
        self.recipients = numbers.len() as i64;
        let items: Vec<_> = numbers.into_iter().map(|n| (n, 1, self.segments as i64)).collect();
        if items.is_empty() || self.segments == 0 || !self.problem.is_empty() {
            return Ok(self);
        }
        if let Some((currency, amount, unpriced)) =
            state.store.estimate_cost(&auth.account_id, &items, crate::storage::now_micros()).await?
        {
            self.cost = Some(self.v.locale.money(&currency.format(amount), currency.code()));
            self.unpriced = unpriced;
        }
        Ok(self)
    }
}

/// Groups, senders and templates for the pickers.
async fn pickers(
    state: &AppState,
    auth: &Auth,
) -> Result<(Vec<GroupView>, (Vec<SenderView>, Vec<String>), Vec<TemplateView>), ApiError> {
    let g = groups::list_groups(State(state.clone()), auth.clone()).await?.0.groups;
    let s = templates::list_senders(State(state.clone()), auth.clone()).await?.0.sender_ids;
    let own = super::profile::verified_own_numbers(state, auth, &s).await?;
    let t = templates::list_templates(State(state.clone()), auth.clone()).await?.0.templates;
    Ok((g, (s, own), t))
}

#[derive(Deserialize)]
pub struct Prefill {
    to: Option<String>,
    group: Option<String>,
    /// The sender, e.g. the number a reply answers from.
    from: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(p): Query<Prefill>,
) -> PageResult {
    let (groups, (senders, own_numbers), templates) = pickers(&state, &auth).await.page(&v)?;
    let form = ComposeForm {
        to: p.to.unwrap_or_default(),
        groups: p.group.into_iter().collect(),
        from: p
            .from
            .or_else(|| senders.iter().find(|s| s.default).map(|s| s.sender.clone()))
            .unwrap_or_default(),
        idempotency_key: new_send_key(),
        ..ComposeForm::default()
    };
    let counter = Counter::of(&v, &state, &auth, "");
    Ok(render(&ComposePage {
        v,
        active: "compose",
        form,
        groups,
        senders,
        own_numbers,
        templates,
        counter,
        error: FormError::default(),
        result: None,
    }))
}

/// The preview of a template for the first typed number, through the
/// templates API.
async fn preview(state: &AppState, auth: &Auth, form: &ComposeForm) -> Result<String, ApiError> {
    let phone = split_list(&form.to).into_iter().find(|t| !t.starts_with('#'));
    let body = json_body(json!({ "phone": phone }))?;
    let view = templates::preview_template(
        State(state.clone()),
        auth.clone(),
        axum::extract::Path(form.template.clone()),
        body,
    )
    .await?;
    Ok(view.0.text)
}

/// The body `POST /api/v1/messages` gets from the form.
fn send_request(v: &Viewer, form: &ComposeForm) -> Result<serde_json::Value, ApiError> {
    let mut to = Vec::new();
    let mut tags = Vec::new();
    for item in split_list(&form.to) {
        match item.strip_prefix('#') {
            Some(tag) => tags.push(tag.to_owned()),
            None => to.push(item),
        }
    }
    let mut body = json!({ "text": form.text });
    if !to.is_empty() || (tags.is_empty() && form.groups.is_empty()) {
        body["to"] = json!(to);
    }
    if !tags.is_empty() {
        body["to_tags"] = json!(tags);
    }
    if !form.groups.is_empty() {
        body["to_groups"] = json!(form.groups);
    }
    if !form.from.trim().is_empty() {
        body["from"] = json!(form.from.trim());
    }
    if let Some(at) = local_time(v, &form.send_at).map_err(|m| ApiError::field("send_at", m))? {
        body["send_at"] = json!(at);
    }
    Ok(body)
}

/// A `datetime-local` value in the viewer's zone as RFC 3339.
pub(crate) fn local_time(v: &Viewer, s: &str) -> Result<Option<String>, String> {
    use chrono::TimeZone as _;
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| format!("'{s}' is not a date and time"))?;
    let local =
        v.tz.from_local_datetime(&naive)
            .earliest()
            .ok_or_else(|| format!("'{s}' does not exist in {}", v.tz))?;
    Ok(Some(local.to_rfc3339()))
}

pub async fn send(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let mut form: ComposeForm = from_pairs(pairs, &["groups"]).page(&v)?;
    let (groups, (senders, own_numbers), templates) = pickers(&state, &auth).await.page(&v)?;
    let mut error = FormError::default();
    let mut result = None;
    if form.use_template.is_some() {
        match preview(&state, &auth, &form).await {
            Ok(text) => form.text = text,
            Err(e) => error = FormError { field: "template".into(), message: e.message },
        }
    } else {
        let outcome = async {
            let headers = send_key_headers(&form.idempotency_key)?;
            let body = json_body(send_request(&v, &form)?)?;
            let response = messages::send(state.clone(), auth.clone(), headers, None, body).await?;
            read_json::<SendResponse>(response).await
        }
        .await;
        match outcome {
            Ok(r) => {
                result = Some(SendResult::new(&v, r));
                form = ComposeForm {
                    from: form.from,
                    idempotency_key: new_send_key(),
                    ..ComposeForm::default()
                };
            }
            Err(e) => error = FormError::or_page(&v, e)?.1,
        }
    }
    let counter = counter_for(&state, &v, &auth, &form, &form.text).await.page(&v)?;
    let status = if error.message.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut response = render(&ComposePage {
        v,
        active: "compose",
        form,
        groups,
        senders,
        own_numbers,
        templates,
        counter,
        error,
        result,
    });
    *response.status_mut() = status;
    Ok(response)
}

/// The live counter (htmx posts the form as the text is typed): counts,
/// and the price for the typed numbers.
pub async fn counter(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let form: ComposeForm = match from_pairs(pairs, &["groups"]) {
        Ok(f) => f,
        Err(e) => return axum::response::IntoResponse::into_response(e),
    };
    match counter_for(&state, &v, &auth, &form, &form.text).await {
        Ok(c) => render(&c),
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}

/// The counter for `text` sent to the form's recipients.
async fn counter_for(
    state: &AppState,
    v: &Viewer,
    auth: &Auth,
    form: &ComposeForm,
    text: &str,
) -> Result<Counter, ApiError> {
    Counter::of(v, state, auth, text).priced(state, auth, &form.to, &form.groups).await
}

/// The message text with its counter: part of the compose page, and what
/// picking a template swaps in.
#[derive(Template)]
#[template(path = "compose_text.html")]
struct TextPart {
    v: Viewer,
    text: String,
    counter: Counter,
    text_error: String,
}

/// Picking a template (htmx): the text area filled with its preview.
pub async fn template(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let form: ComposeForm = match from_pairs(pairs, &["groups"]) {
        Ok(f) => f,
        Err(e) => return axum::response::IntoResponse::into_response(e),
    };
    let (text, error) = if form.template.is_empty() {
        (form.text.clone(), String::new())
    } else {
        match preview(&state, &auth, &form).await {
            Ok(t) => (t, String::new()),
            Err(e) => (form.text.clone(), e.message),
        }
    };
    let counter = match counter_for(&state, &v, &auth, &form, &text).await {
        Ok(c) => c,
        Err(e) => return axum::response::IntoResponse::into_response(e),
    };
    render(&TextPart { v, text, counter, text_error: error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_recipients_split_into_numbers_and_tags() {
        let v = Viewer::test(super::super::i18n::Locale::En);
        let form = ComposeForm {
            to: "+48600100200, #nocna\n600100201".into(),
            groups: vec!["g1".into()],
            text: "Hi".into(),
            ..ComposeForm::default()
        };
        let body = send_request(&v, &form).unwrap();
        assert_eq!(body["to"], json!(["+48600100200", "600100201"]));
        assert_eq!(body["to_tags"], json!(["nocna"]));
        assert_eq!(body["to_groups"], json!(["g1"]));
        assert!(body.get("from").is_none());
    }

    #[test]
    fn a_local_time_is_read_in_the_viewers_zone() {
        let mut v = Viewer::test(super::super::i18n::Locale::Pl);
        v.tz = "Europe/Warsaw".parse().unwrap();
        assert_eq!(local_time(&v, "2026-07-01T09:30").unwrap().as_deref(), Some("2026-07-01T09:30:00+02:00"));
        assert_eq!(local_time(&v, "").unwrap(), None);
        assert!(local_time(&v, "tomorrow").is_err());
    }
}
