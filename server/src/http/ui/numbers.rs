//! Numbers and keywords: the account's inbound numbers and short codes
//! with what happens to messages that match nothing, each number's
//! keywords with their match type, priority and actions, and the opt-out
//! list. Every read and write is the numbers, keywords or opt-outs API
//! handler; the forms only gather the actions a person would pick.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::Session;
use super::{FormError, OrPage, PageResult, Viewer, json_body, read_json, render, see_other, with_status};
use crate::http::api::v1::keywords::{self, KeywordQuery, KeywordView};
use crate::http::api::v1::numbers::{self, NumberView};
use crate::http::api::v1::opt_outs::{self, OptOutView};
use crate::http::{ApiError, AppState, Auth};
use crate::inbound::actions::Action;

/// The actions a form offers, in the order they run: add to a group,
/// reply, forward to a URL, a phone or an e-mail address, tell a person
/// by SMS or e-mail. Empty fields add nothing.
#[derive(Deserialize, Default, Clone)]
pub struct ActionsForm {
    #[serde(default)]
    group: String,
    #[serde(default)]
    remove_group: String,
    #[serde(default)]
    reply: String,
    #[serde(default)]
    forward_url: String,
    #[serde(default)]
    forward_phone: String,
    #[serde(default)]
    forward_email: String,
    #[serde(default)]
    notify_phone: String,
    #[serde(default)]
    notify_email: String,
    #[serde(default)]
    poll: String,
}

impl ActionsForm {
    /// The `actions` array of the API, as the form's fields say.
    fn actions(&self) -> Value {
        let given = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let mut out = Vec::new();
        if let Some(g) = given(&self.group) {
            out.push(json!({"type": "add_to_group", "group": g}));
        }
        if let Some(g) = given(&self.remove_group) {
            out.push(json!({"type": "remove_from_group", "group": g}));
        }
        if let Some(t) = given(&self.reply) {
            out.push(json!({"type": "reply", "text": t}));
        }
        if let Some(u) = given(&self.forward_url) {
            out.push(json!({"type": "forward", "url": u}));
        }
        if let Some(p) = given(&self.forward_phone) {
            out.push(json!({"type": "forward", "phone": p}));
        }
        if let Some(e) = given(&self.forward_email) {
            out.push(json!({"type": "forward", "email": e}));
        }
        if let Some(p) = given(&self.notify_phone) {
            out.push(json!({"type": "notify", "phone": p}));
        }
        if let Some(e) = given(&self.notify_email) {
            out.push(json!({"type": "notify", "email": e}));
        }
        if let Some(p) = given(&self.poll) {
            out.push(json!({"type": "poll_answer", "poll": p}));
        }
        Value::Array(out)
    }
}

/// One action as a line a person reads: its kind in the viewer's language
/// and its settings (`reply: "Thanks!"`, `add_to_group: Pizza`).
pub(crate) fn describe(v: &Viewer, action: &Action) -> String {
    let value = serde_json::to_value(action).unwrap_or(Value::Null);
    let kind = value["type"].as_str().unwrap_or("");
    let label = v.locale.lookup(&format!("action_kind.{kind}")).unwrap_or(kind);
    let settings: Vec<String> = value
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != "type")
        .map(|(_, val)| match val {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    if settings.is_empty() { label.to_owned() } else { format!("{label}: {}", settings.join(", ")) }
}

#[derive(Template)]
#[template(path = "numbers.html")]
struct NumbersPage {
    v: Viewer,
    active: &'static str,
    numbers: Vec<NumberView>,
    form: NumberForm,
    error: FormError,
}

/// What the number and keyword pages show of their records.
trait Labels {
    fn viewer(&self) -> &Viewer;

    fn describe(&self, action: &Action) -> String {
        describe(self.viewer(), action)
    }

    fn kind_key(&self, kind: &str) -> &'static str {
        if kind == "shared" { "num.shared" } else { "num.dedicated" }
    }

    fn match_key(&self, match_type: &str) -> &'static str {
        match match_type {
            "exact" => "num.match.exact",
            "phrase" => "num.match.phrase",
            "remove" => "num.match.remove",
            _ => "num.match.base",
        }
    }
}

impl Labels for NumbersPage {
    fn viewer(&self) -> &Viewer {
        &self.v
    }
}

impl Labels for NumberPage {
    fn viewer(&self) -> &Viewer {
        &self.v
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct NumberForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    kind: String,
    #[serde(flatten)]
    actions: ActionsForm,
}

pub async fn list(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    let numbers = numbers::list_numbers(State(state), auth).await.page(&v)?.0.numbers;
    Ok(render(&NumbersPage {
        v,
        active: "numbers",
        numbers,
        form: NumberForm::default(),
        error: FormError::default(),
    }))
}

/// Registers a number with its default actions, then shows it.
pub async fn create(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(form): Form<NumberForm>,
) -> PageResult {
    let outcome = async {
        let kind = if form.kind.is_empty() { Value::Null } else { json!(form.kind) };
        let body = json_body(
            json!({"number": form.number, "kind": kind, "default_actions": form.actions.actions()}),
        )?;
        let response = numbers::create_number(State(state.clone()), auth.clone(), body).await?;
        read_json::<NumberView>(response).await
    }
    .await;
    match outcome {
        Ok(n) => Ok(see_other(&format!("/numbers/{}", n.id))),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let numbers = numbers::list_numbers(State(state), auth).await.page(&v)?.0.numbers;
            Ok(with_status(render(&NumbersPage { v, active: "numbers", numbers, form, error }), status))
        }
    }
}

#[derive(Template)]
#[template(path = "number.html")]
struct NumberPage {
    v: Viewer,
    active: &'static str,
    number: NumberView,
    keywords: Vec<KeywordView>,
    form: KeywordForm,
    error: FormError,
}

#[derive(Deserialize, Default, Clone)]
pub struct KeywordForm {
    #[serde(default)]
    keyword: String,
    #[serde(default)]
    match_type: String,
    #[serde(default)]
    priority: String,
    #[serde(flatten)]
    actions: ActionsForm,
}

async fn number_and_keywords(
    state: &AppState,
    auth: &Auth,
    id: &str,
) -> Result<(NumberView, Vec<KeywordView>), ApiError> {
    let number = numbers::get_number(State(state.clone()), auth.clone(), Path(id.to_owned())).await?.0;
    let keywords = keywords::list_keywords(
        State(state.clone()),
        auth.clone(),
        Ok(Query(KeywordQuery { number: Some(number.id.clone()) })),
    )
    .await?
    .0
    .keywords;
    Ok((number, keywords))
}

pub async fn detail(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
) -> PageResult {
    let (number, keywords) = number_and_keywords(&state, &auth, &id).await.page(&v)?;
    Ok(render(&NumberPage {
        v,
        active: "numbers",
        number,
        keywords,
        form: KeywordForm::default(),
        error: FormError::default(),
    }))
}

/// Adds a keyword to the number; a conflict or a bad action is shown at
/// its field.
pub async fn create_keyword(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(id): Path<String>,
    Form(form): Form<KeywordForm>,
) -> PageResult {
    let outcome = async {
        let priority = match form.priority.trim() {
            "" => Value::Null,
            p => json!(p.parse::<i64>().map_err(|_| ApiError::field("priority", "must be a whole number"))?),
        };
        let match_type = if form.match_type.is_empty() { Value::Null } else { json!(form.match_type) };
        let body = json_body(json!({
            "number": id,
            "keyword": form.keyword,
            "match_type": match_type,
            "priority": priority,
            "actions": form.actions.actions(),
        }))?;
        keywords::create_keyword(State(state.clone()), auth.clone(), body).await
    }
    .await;
    match outcome {
        Ok(_) => Ok(see_other(&format!("/numbers/{id}"))),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let (number, keywords) = number_and_keywords(&state, &auth, &id).await.page(&v)?;
            let page = NumberPage { v, active: "numbers", number, keywords, form, error };
            Ok(with_status(render(&page), status))
        }
    }
}

#[derive(Deserialize)]
pub struct KeywordPath {
    id: String,
    keyword: String,
}

pub async fn delete_keyword(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(p): Path<KeywordPath>,
) -> PageResult {
    keywords::delete_keyword(State(state), auth, Path(p.keyword)).await.page(&v)?;
    Ok(see_other(&format!("/numbers/{}", p.id)))
}

#[derive(Template)]
#[template(path = "opt_outs.html")]
struct OptOutsPage {
    v: Viewer,
    active: &'static str,
    opt_outs: Vec<OptOutView>,
    phone: String,
    error: FormError,
}

pub async fn opt_out_list(State(state): State<AppState>, Session(v, auth): Session) -> PageResult {
    let opt_outs = opt_outs::list_opt_outs(State(state), auth).await.page(&v)?.0.opt_outs;
    Ok(render(&OptOutsPage {
        v,
        active: "numbers",
        opt_outs,
        phone: String::new(),
        error: FormError::default(),
    }))
}

#[derive(Deserialize)]
pub struct OptOutForm {
    #[serde(default)]
    phone: String,
}

/// Opts a number out by hand (recorded with the user as its source).
pub async fn add_opt_out(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Form(f): Form<OptOutForm>,
) -> PageResult {
    let outcome = async {
        let body = json_body(json!({"phone": f.phone}))?;
        opt_outs::add_opt_out(State(state.clone()), auth.clone(), body).await
    }
    .await;
    match outcome {
        Ok(_) => Ok(see_other("/opt-outs")),
        Err(e) => {
            let (status, error) = FormError::or_page(&v, e)?;
            let opt_outs = opt_outs::list_opt_outs(State(state), auth).await.page(&v)?.0.opt_outs;
            let page = OptOutsPage { v, active: "numbers", opt_outs, phone: f.phone, error };
            Ok(with_status(render(&page), status))
        }
    }
}

/// Opts a number back in.
pub async fn remove_opt_out(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Path(phone): Path<String>,
) -> PageResult {
    let _history = opt_outs::remove_opt_out(State(state), auth, Path(phone)).await.page(&v)?;
    Ok(see_other("/opt-outs"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ui::i18n::Locale;

    #[test]
    fn the_form_gives_the_actions_a_person_filled_in_order() {
        let f = ActionsForm {
            group: " Pizza ".into(),
            reply: "Thanks!".into(),
            forward_phone: "+48600100200".into(),
            notify_email: " boss@example.com ".into(),
            ..ActionsForm::default()
        };
        assert_eq!(
            f.actions(),
            json!([
                {"type": "add_to_group", "group": "Pizza"},
                {"type": "reply", "text": "Thanks!"},
                {"type": "forward", "phone": "+48600100200"},
                {"type": "notify", "email": "boss@example.com"},
            ])
        );
        assert_eq!(ActionsForm::default().actions(), json!([]));
    }

    #[test]
    fn an_action_reads_as_its_kind_and_settings() {
        let v = Viewer::test(Locale::En);
        let a = Action::Reply { text: Some("Thanks!".into()), template: None };
        assert_eq!(describe(&v, &a), "Reply: Thanks!");
        let v = Viewer::test(Locale::Pl);
        assert_eq!(describe(&v, &Action::AddToGroup { group: "Pizza".into() }), "Dodaj do grupy: Pizza");
    }
}
