//! `/api/v1/messages`: send to one or many recipients, read one message with
//! its status history, search the history, cancel before sending.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{
    Direction, MessageId, MessageStatus, MessageText, PhoneNumber, Region, SenderId, Tag, canonical_id,
    new_id,
};
use crate::http::audit::AuditSlot;
use crate::http::body::JsonBody;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{
    AcceptRequest, Accepted, ChargeRefusal, ContactFilter, EventRecord, IdempotentRequest, MessageFilter,
    MessageRecord, NewMessage, Origin, PartRecord, SearchQuery, Store, StoreError, format_micros, now_micros,
};
use crate::telemetry;

/// One recipient or a list of them.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the shape of `to`, which is read by hand for clearer errors
pub enum Recipients {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// E.164 number(s), e.g. `+48600100200`; national numbers need
    /// `messages.default_region`. At most `messages.max_recipients`.
    #[schema(required = true, value_type = Recipients)]
    pub to: Option<serde_json::Value>,
    /// Sender: up to 11 letters, digits, spaces or ASCII punctuation of the
    /// GSM alphabet (`!"#$%&'()*+,-./:;<=>?@_`), or up to 16 digits.
    pub from: Option<String>,
    /// Send each recipient from a number of the account's pool (the one
    /// least recently used for them), so that a reply is linked to this
    /// message. Not together with `from`.
    pub sender_pool: Option<bool>,
    #[schema(required = true)]
    pub text: Option<String>,
    /// Receives a signed POST on every status change.
    pub callback_url: Option<String>,
    /// Tags for the history, at most 20; the text's first 20 `#words` are
    /// added too (any further ones stay text only).
    pub tags: Option<Vec<String>>,
    /// RFC 3339 time to send at; the message stays `scheduled` until then.
    /// A time past is kept as given and sent now, after what was queued
    /// before it.
    pub send_at: Option<String>,
    /// Groups (ids or names) whose members also receive the message.
    pub to_groups: Option<Vec<String>>,
    /// Tags whose subscribers also receive the message.
    pub to_tags: Option<Vec<String>>,
    /// Refuse the whole request if any recipient is invalid.
    pub atomic: Option<bool>,
    /// A transactional message (a code, a receipt) goes also to numbers
    /// that opted out of marketing; without it they are refused
    /// (`opted_out`).
    pub transactional: Option<bool>,
    /// Transliterate the text to the GSM alphabet (Polish diacritics,
    /// Cyrillic to Latin) to save segments; default: the account's setting.
    pub transliterate: Option<bool>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct SendResponse {
    pub messages: Vec<MessageView>,
    /// Recipients that were refused, with the reason; nothing was stored for them.
    pub errors: Vec<RecipientError>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone)]
pub struct RecipientError {
    /// Position in `to`.
    pub index: usize,
    pub to: String,
    pub code: String,
    pub message: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    pub direction: String,
    pub to: String,
    pub from: Option<String>,
    pub text: String,
    /// scheduled, queued, sending, sent, delivered, undelivered, expired, rejected, failed, canceled, received
    pub status: String,
    /// `gsm7` or `ucs2`.
    pub encoding: String,
    pub segments: i64,
    pub tags: Vec<String>,
    pub callback_url: Option<String>,
    pub connector: Option<String>,
    pub smsc_message_id: Option<String>,
    pub attempts: i64,
    pub error: Option<String>,
    pub send_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Every status change with its time (only when reading one message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventView>>,
    /// The parts of a long message with each one's SMSC id and delivery
    /// state (only when reading one message; empty for a one-part message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<PartView>>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PartView {
    pub seq: i64,
    pub connector: String,
    pub smsc_message_id: String,
    /// sent, delivered, undelivered, expired or rejected.
    pub status: String,
    pub detail: Option<String>,
    pub updated_at: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub status: String,
    pub at: String,
    pub detail: Option<String>,
}

impl MessageView {
    pub(crate) fn from_record(r: MessageRecord, detail: Option<(Vec<EventRecord>, Vec<PartRecord>)>) -> Self {
        let (events, parts) = detail.unzip();
        Self {
            id: r.id,
            direction: r.direction.as_str().into(),
            to: r.to,
            from: r.from,
            text: r.text,
            status: r.status.as_str().into(),
            encoding: r.encoding,
            segments: r.segments,
            tags: r.tags,
            callback_url: r.callback_url,
            connector: r.connector,
            smsc_message_id: r.smsc_id,
            attempts: r.attempts,
            error: r.error,
            send_at: r.send_at.map(format_micros),
            created_at: format_micros(r.created_at),
            updated_at: format_micros(r.updated_at),
            events: events.map(|es| {
                es.into_iter()
                    .map(|e| EventView {
                        status: e.status.as_str().into(),
                        at: format_micros(e.at),
                        detail: e.detail,
                    })
                    .collect()
            }),
            parts: parts.map(|ps| {
                ps.into_iter()
                    .map(|p| PartView {
                        seq: p.seq,
                        connector: p.connector,
                        smsc_message_id: p.smsc_id,
                        status: p.status,
                        detail: p.detail,
                        updated_at: format_micros(p.updated_at),
                    })
                    .collect()
            }),
        }
    }

    /// One message with its history and parts, as `GET /messages/{id}` shows it.
    async fn load(state: &AppState, account_id: &str, id: &str) -> Result<Self, ApiError> {
        let record =
            state.store.get_message(account_id, id).await?.ok_or_else(|| ApiError::not_found("message"))?;
        let events = state.store.message_events(id).await?;
        let parts = state.store.message_parts(id).await?;
        Ok(Self::from_record(record, Some((events, parts))))
    }
}

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// Most tags a request gives in `tags`.
const MAX_TAGS: usize = 20;
/// Most `#words` of the text taken as tags, the first ones: the text is
/// what the client sends, so the tags found in it never refuse it.
const MAX_TEXT_TAGS: usize = 20;

/// Send a message to one or many recipients.
///
/// Answers 202 once every accepted message is stored. Invalid recipients are
/// listed in `errors` (or, with `atomic`, the whole request is refused).
#[utoipa::path(post, path = "/api/v1/messages", tag = "messages", request_body = SendRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retrying with the same key within 24 hours returns the first answer and sends nothing again")),
    responses(
        (status = 202, description = "Stored and queued", body = SendResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn send_messages(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    audit: Option<Extension<AuditSlot>>,
    body: JsonBody<SendRequest>,
) -> Result<Response, ApiError> {
    send(state, auth, headers, audit.map(|a| a.0), body).await
}

/// Sends as [`send_messages`] does. With `audit`, the request's audit entry
/// is stored in the same commit as its messages (one disk sync, not two).
pub(crate) async fn send(
    state: AppState,
    auth: Auth,
    headers: HeaderMap,
    audit: Option<AuditSlot>,
    body: JsonBody<SendRequest>,
) -> Result<Response, ApiError> {
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY_LEN);
            Some(key.ok_or_else(|| {
                ApiError::field(
                    "Idempotency-Key",
                    format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible characters"),
                )
            })?)
        }
    };
    let now = now_micros();
    // A retry gets its first answer, however the request would be judged now.
    let idempotency = idempotency_key.map(|key| IdempotentRequest {
        key: key.to_owned(),
        request_hash: hex::encode(Sha256::digest(&body.raw)),
        status_code: StatusCode::ACCEPTED.as_u16(),
        response: String::new(),
    });
    if let Some(idem) = &idempotency
        && let Some(Accepted::Replayed { status_code, response }) =
            state.store.idempotent_answer(&auth.account_id, idem, now).await?.transpose()?
    {
        return Ok(replayed(status_code, response));
    }
    let req = body.value;
    let text = req.text.as_deref().ok_or_else(|| ApiError::field("text", "is required"))?;
    let text = MessageText::to_send(
        text,
        req.transliterate.unwrap_or(auth.transliterate),
        state.config.messages.max_segments,
    )
    .map_err(|e| ApiError::field("text", e.to_string()))?;
    let from = req
        .from
        .as_deref()
        .map(SenderId::parse)
        .transpose()
        .map_err(|e| ApiError::field("from", e.to_string()))?;
    if let Some(from) = &from {
        super::own_numbers::check_sender(&state, &auth, from).await?;
    }
    let pool = req.sender_pool == Some(true);
    if pool && from.is_some() {
        return Err(ApiError::field("sender_pool", "give from or sender_pool, not both"));
    }
    let callback_url = req.callback_url.map(validate_url).transpose()?;
    let send_at = req.send_at.as_deref().map(|s| parse_time("send_at", s, ApiError::field)).transpose()?;
    let mut tags: Vec<Tag> = Vec::new();
    for (i, t) in req.tags.unwrap_or_default().iter().enumerate() {
        let tag = Tag::parse(t).map_err(|e| ApiError::field(format!("tags[{i}]"), e.to_string()))?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(ApiError::field("tags", format!("at most {MAX_TAGS} tags per message")));
    }
    let from_text: Vec<Tag> =
        Tag::find_in(text.as_str()).into_iter().filter(|t| !tags.contains(t)).take(MAX_TEXT_TAGS).collect();
    tags.extend(from_text);
    let max = state.config.messages.max_recipients;
    let has_audience = req.to_groups.as_ref().is_some_and(|g| !g.is_empty())
        || req.to_tags.as_ref().is_some_and(|t| !t.is_empty());
    let mut recipients = if req.to.is_none() && has_audience { Vec::new() } else { read_recipients(req.to)? };
    let restriction = super::permissions::restriction(&state, &auth).await?;
    if let Some(rule) = &restriction {
        let groups = ("to_groups", req.to_groups.as_deref().unwrap_or_default());
        let tags = ("to_tags", req.to_tags.as_deref().unwrap_or_default());
        super::permissions::check_audience(&state, &auth, rule, groups, tags).await?;
    }
    let audience = audience(&state, &auth.account_id, req.to_groups, req.to_tags, max).await?;
    // Recipients past this index come from groups and tags: a number that is
    // also named in `to` is simply not sent twice, rather than an error.
    let explicit_count = recipients.len();
    recipients.extend(audience);
    if recipients.is_empty() {
        let field = if has_audience { "to_groups" } else { "to" };
        return Err(ApiError::field(
            field,
            "needs at least one recipient (the groups and tags have no one to send to)",
        ));
    }
    if recipients.len() > max {
        return Err(too_many_recipients(max, recipients.len()));
    }

    let mut messages = Vec::with_capacity(recipients.len());
    let mut errors = Vec::new();
    let mut seen = HashSet::with_capacity(recipients.len());
    let mut indexes = Vec::with_capacity(recipients.len());
    let tag_names: Vec<String> = tags.iter().map(|t| t.as_str().to_owned()).collect();
    for (index, raw) in recipients.iter().enumerate() {
        match PhoneNumber::parse(raw, state.region) {
            Ok(to) if index >= explicit_count && seen.contains(&to) => {}
            Ok(to) if !seen.insert(to.clone()) => errors.push(RecipientError {
                index,
                to: raw.clone(),
                code: "duplicate".into(),
                message: format!("{to} is already a recipient of this request"),
            }),
            Ok(to) => {
                indexes.push(index);
                messages.push(NewMessage {
                    id: new_id(),
                    to,
                    from: from.clone(),
                    text: text.clone(),
                    callback_url: callback_url.clone(),
                    tags: tag_names.clone(),
                    send_at,
                    campaign: None,
                    transactional: req.transactional == Some(true),
                });
            }
            Err(e) => errors.push(RecipientError {
                index,
                to: raw.clone(),
                code: "invalid_number".into(),
                message: e.to_string(),
            }),
        }
    }
    if let Some(rule) = &restriction {
        let named: Vec<(String, &str)> = messages
            .iter()
            .zip(&indexes)
            .filter(|(_, i)| **i < explicit_count)
            .map(|(m, i)| (format!("to[{i}]"), m.to.as_str()))
            .collect();
        super::permissions::check_numbers(&state, &auth, rule, &named).await?;
    }
    // Opt-outs written before this point are seen by the read below.
    let mut opt_out_writes_seen = None;
    if req.transactional != Some(true) && !messages.is_empty() {
        let phones: Vec<&str> = messages.iter().map(|m| m.to.as_str()).collect();
        opt_out_writes_seen = Some(Store::opt_out_writes());
        let opted_out = state.store.opted_out_among(&auth.account_id, &phones).await?;
        refuse(&mut messages, &mut indexes, &recipients, &mut errors, &opted_out, Refusal::OptedOut);
    }
    if pool && !messages.is_empty() {
        let to: Vec<&str> = messages.iter().map(|m| m.to.as_str()).collect();
        let numbers = state.store.pool_senders(&auth.account_id, &to).await?.ok_or_else(|| {
            ApiError::field(
                "sender_pool",
                "the account has no pool numbers (mark numbers with \"pool\": true under /api/v1/numbers)",
            )
        })?;
        for (m, n) in messages.iter_mut().zip(numbers) {
            m.from = Some(
                SenderId::parse(&n)
                    .map_err(|e| ApiError::internal(anyhow::anyhow!("pool number {n}: {e}")))?,
            );
        }
    }
    // Storing may still refuse recipients (one that opted out since the
    // read above, one the tariff has no price for): they move to `errors`
    // and the rest is stored, or the request refused, as if the read had
    // seen them. Each round has fewer messages, so this ends.
    loop {
        if messages.is_empty() || (req.atomic == Some(true) && !errors.is_empty()) {
            return Err(refused_request(&errors, recipients.len(), messages.is_empty()));
        }
        let response = AcceptedBody { messages: AcceptedViews { messages: &messages, now }, errors: &errors };
        let response_json = serde_json::to_string(&response).map_err(ApiError::internal)?;
        let idem =
            idempotency.clone().map(|idem| IdempotentRequest { response: response_json.clone(), ..idem });
        let stored: Arc<[NewMessage]> = std::mem::take(&mut messages).into();
        let request = AcceptRequest {
            account_id: auth.account_id.clone(),
            origin: Origin { user_id: auth.user_id.clone(), api_key_id: auth.key_id.clone() },
            messages: Arc::clone(&stored),
            idempotency: idem,
            now,
            audit: audit.as_ref().and_then(|slot| slot.entry(StatusCode::ACCEPTED.as_u16())),
            opt_out_writes_seen,
        };
        match state.intake.submit(request).await {
            Ok(Accepted::Stored) => {
                if let Some(slot) = &audit {
                    slot.recorded();
                }
                telemetry::accepted("http", stored.len());
                state.dispatch.wake.notify_one();
                return Ok(json_response(StatusCode::ACCEPTED, response_json, false));
            }
            Ok(Accepted::Replayed { status_code, response }) => return Ok(replayed(status_code, response)),
            Err(StoreError::OptedOut(numbers)) => {
                messages = stored.to_vec();
                let opted_out: HashSet<String> = numbers.into_iter().collect();
                refuse(&mut messages, &mut indexes, &recipients, &mut errors, &opted_out, Refusal::OptedOut);
            }
            Err(StoreError::Refused(ChargeRefusal::NoPrice { to })) => {
                messages = stored.to_vec();
                let unpriced: HashSet<String> = to.iter().cloned().collect();
                let first = indexes.iter().zip(&messages).find(|(_, m)| unpriced.contains(m.to.as_str()));
                let everyone = messages.iter().all(|m| unpriced.contains(m.to.as_str()));
                if req.atomic == Some(true) || everyone {
                    let field = match first {
                        Some((i, _)) if recipients.len() > 1 => format!("to[{i}]"),
                        _ => "to".to_owned(),
                    };
                    return Err(ApiError { field: Some(field), ..ChargeRefusal::NoPrice { to }.into() });
                }
                refuse(&mut messages, &mut indexes, &recipients, &mut errors, &unpriced, Refusal::NoPrice);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The first answer, again, to a request whose `Idempotency-Key` was used.
fn replayed(status_code: u16, response: String) -> Response {
    let status = StatusCode::from_u16(status_code).unwrap_or(StatusCode::ACCEPTED);
    json_response(status, response, true)
}

/// The 202's body, the JSON of a [`SendResponse`], written from the
/// messages one view at a time: a request to 10,000 recipients would
/// otherwise hold each one's text again in its view.
#[derive(Serialize)]
struct AcceptedBody<'a> {
    messages: AcceptedViews<'a>,
    errors: &'a [RecipientError],
}

struct AcceptedViews<'a> {
    messages: &'a [NewMessage],
    now: i64,
}

impl Serialize for AcceptedViews<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.messages.iter().map(|m| accepted_view(m, self.now)))
    }
}

/// A message as the answer to its request shows it, before it is sent.
fn accepted_view(m: &NewMessage, now: i64) -> MessageView {
    MessageView {
        id: m.id.clone(),
        direction: Direction::Outbound.as_str().into(),
        to: m.to.to_string(),
        from: m.from.as_ref().map(|f| f.to_string()),
        text: m.text.as_str().into(),
        status: m.initial_status(now).as_str().into(),
        encoding: m.text.encoding_name().into(),
        segments: m.text.segments() as i64,
        tags: m.tags.clone(),
        callback_url: m.callback_url.clone(),
        connector: None,
        smsc_message_id: None,
        attempts: 0,
        error: None,
        send_at: m.send_at.map(format_micros),
        created_at: format_micros(now),
        updated_at: format_micros(now),
        events: None,
        parts: None,
    }
}

/// The 422 of a request that has no recipient left, or (`atomic`) lost one.
fn refused_request(errors: &[RecipientError], recipients: usize, none_left: bool) -> ApiError {
    let first = &errors[0];
    let message = if none_left {
        format!("no valid recipient; first problem: {} ({})", first.message, first.to)
    } else {
        format!(
            "{} of {recipients} recipients are invalid and atomic is set; first: {}",
            errors.len(),
            first.message
        )
    };
    let field = if recipients == 1 { "to".to_owned() } else { format!("to[{}]", first.index) };
    if none_left && errors.iter().all(|e| e.code == OPTED_OUT_CODE) {
        // Nobody left because everyone opted out: said with its own code,
        // as among several recipients.
        return ApiError {
            field: Some(field),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, OPTED_OUT_CODE, message)
        };
    }
    ApiError::field(field, message)
}

/// The numbers `groups` and `tags` reach for the caller, as sending to
/// them would: the user's permission checked, opted-out contacts left out,
/// each once, at most `messages.max_recipients` (the compose page's cost).
pub(crate) async fn audience_for(
    state: &AppState,
    auth: &Auth,
    groups: Vec<String>,
    tags: Vec<String>,
) -> Result<Vec<String>, ApiError> {
    if let Some(rule) = &super::permissions::restriction(state, auth).await? {
        super::permissions::check_audience(state, auth, rule, ("to_groups", &groups), ("to_tags", &tags))
            .await?;
    }
    audience(state, &auth.account_id, Some(groups), Some(tags), state.config.messages.max_recipients).await
}

/// The refusal of a request to more than `max` (`messages.max_recipients`) recipients.
pub(crate) fn too_many_recipients(max: usize, got: usize) -> ApiError {
    ApiError::field("to", format!("at most {max} recipients per request, got {got}"))
}

/// The numbers of the members of `groups` and the subscribers of `tags`,
/// without opted-out contacts and without repeats.
async fn audience(
    state: &AppState,
    account_id: &str,
    groups: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    max: usize,
) -> Result<Vec<String>, ApiError> {
    let mut filters = Vec::new();
    for (i, g) in groups.unwrap_or_default().iter().enumerate() {
        let group = state.store.find_group(account_id, g).await?.ok_or_else(|| {
            ApiError::field(format!("to_groups[{i}]"), format!("no group is called or has the id '{g}'"))
        })?;
        filters.push(ContactFilter { group_id: Some(group.id), ..ContactFilter::default() });
    }
    for (i, t) in tags.unwrap_or_default().iter().enumerate() {
        let tag = Tag::parse(t).map_err(|e| ApiError::field(format!("to_tags[{i}]"), e.to_string()))?;
        filters.push(ContactFilter { tag: Some(tag.as_str().to_owned()), ..ContactFilter::default() });
    }
    let mut seen = HashSet::new();
    let mut numbers = Vec::new();
    for mut filter in filters {
        filter.opted_out = Some(false);
        filter.ascending = true;
        filter.limit = AUDIENCE_PAGE;
        loop {
            let page = state.store.list_contacts(account_id, &filter).await?;
            for c in &page {
                if seen.insert(c.phone.clone()) {
                    numbers.push(c.phone.clone());
                }
            }
            if numbers.len() > max {
                return Err(ApiError::field(
                    "to_groups",
                    format!("the groups and tags reach more than {max} people; send to them with a campaign"),
                ));
            }
            match page.last() {
                Some(last) if page.len() == AUDIENCE_PAGE => filter.cursor = Some(last.id.clone()),
                _ => break,
            }
        }
    }
    Ok(numbers)
}

/// Contacts read per query when expanding groups and tags.
const AUDIENCE_PAGE: usize = 1_000;

/// `to` is a phone number or a list of them.
fn read_recipients(to: Option<serde_json::Value>) -> Result<Vec<String>, ApiError> {
    use serde_json::Value;
    let shape = || ApiError::field("to", "must be a phone number or a list of phone numbers, as strings");
    match to {
        None | Some(Value::Null) => Err(ApiError::field("to", "is required")),
        Some(Value::String(n)) => Ok(vec![n]),
        Some(Value::Array(list)) => list
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(n) => Ok(n),
                _ => Err(ApiError::field(format!("to[{i}]"), "must be a phone number as a string")),
            })
            .collect(),
        Some(_) => Err(shape()),
    }
}

fn json_response(status: StatusCode, body: String, replayed: bool) -> Response {
    let mut response =
        (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// The error code of a recipient that opted out.
const OPTED_OUT_CODE: &str = "opted_out";

/// Why a recipient is moved from the messages to `errors`.
#[derive(Clone, Copy)]
enum Refusal {
    /// It opted out of the account's marketing.
    OptedOut,
    /// The account's tariff has no price for it.
    NoPrice,
}

impl Refusal {
    fn error(self, index: usize, raw: &str, to: &PhoneNumber) -> RecipientError {
        let (code, message) = match self {
            Refusal::OptedOut => (
                OPTED_OUT_CODE,
                format!(
                    "{to} opted out of your messages; send with \"transactional\": true if this one is not marketing"
                ),
            ),
            Refusal::NoPrice => ("no_price", format!("the account's tariff has no price for {to}")),
        };
        RecipientError { index, to: raw.to_owned(), code: code.into(), message }
    }
}

/// Moves the messages to `numbers` from `messages` (and their positions in
/// the request from `indexes`) to `errors` with `why`, keeping `errors` in
/// request order.
fn refuse(
    messages: &mut Vec<NewMessage>,
    indexes: &mut Vec<usize>,
    recipients: &[String],
    errors: &mut Vec<RecipientError>,
    numbers: &HashSet<String>,
    why: Refusal,
) {
    if numbers.is_empty() {
        return;
    }
    let mut kept = Vec::with_capacity(messages.len());
    let mut kept_indexes = Vec::with_capacity(messages.len());
    for (m, index) in messages.drain(..).zip(indexes.drain(..)) {
        if numbers.contains(m.to.as_str()) {
            errors.push(why.error(index, &recipients[index], &m.to));
        } else {
            kept.push(m);
            kept_indexes.push(index);
        }
    }
    *messages = kept;
    *indexes = kept_indexes;
    errors.sort_by_key(|e| e.index);
}

pub(super) fn validate_url(url: String) -> Result<String, ApiError> {
    if crate::outbound::is_user_url(&url) {
        Ok(url)
    } else {
        Err(ApiError::field("callback_url", crate::outbound::USER_URL_RULE))
    }
}

pub(crate) fn parse_time(field: &str, s: &str, err: fn(String, String) -> ApiError) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(s).map(|t| t.timestamp_micros()).map_err(|_| {
        err(field.to_owned(), format!("'{s}' is not an RFC 3339 time such as 2026-05-01T09:00:00+02:00"))
    })
}

/// Read one message with every status change.
#[utoipa::path(get, path = "/api/v1/messages/{id}", tag = "messages",
    params(("id" = String, Path, description = "Message id")),
    responses((status = 200, body = MessageView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_message(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<MessageView>, ApiError> {
    let id: MessageId = id.parse().map_err(|_| ApiError::not_found("message"))?;
    let view = MessageView::load(&state, &auth.account_id, &id.to_string()).await?;
    Ok(Json(view))
}

/// Cancel a message that is still scheduled or queued.
#[utoipa::path(post, path = "/api/v1/messages/{id}/cancel", tag = "messages",
    params(("id" = String, Path, description = "Message id")),
    responses((status = 200, body = MessageView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_message(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<MessageView>, ApiError> {
    let id: MessageId = id.parse().map_err(|_| ApiError::not_found("message"))?;
    let id = id.to_string();
    let canceled = state.store.cancel_message(&auth.account_id, &id, now_micros()).await?;
    let view = MessageView::load(&state, &auth.account_id, &id).await?;
    if !canceled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_cancelable",
            format!("the message is {}; only scheduled or queued messages can be canceled", view.status),
        ));
    }
    Ok(Json(view))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// One status, e.g. `delivered`.
    pub status: Option<String>,
    /// Recipient number (E.164).
    pub to: Option<String>,
    /// Full-text search of the text, case- and diacritics-insensitive:
    /// words (all must occur: `zolc` finds `Żółć`), `"quoted phrases"`,
    /// and prefixes (`awari*`).
    pub q: Option<String>,
    /// A tag, with or without `#`.
    pub tag: Option<String>,
    /// A contact's id: messages to or from its number.
    pub contact: Option<String>,
    /// A group's id: messages to or from its members' numbers.
    pub group: Option<String>,
    /// A campaign's id: the messages of all its runs.
    pub campaign: Option<String>,
    /// A campaign run's id: the messages of that run.
    pub run: Option<String>,
    /// `outbound` or `inbound`.
    pub direction: Option<String>,
    /// RFC 3339; messages created at or after.
    pub since: Option<String>,
    /// RFC 3339; messages created before.
    pub until: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<usize>,
}

impl ListQuery {
    /// The history filters of this query (every field but `limit`, which
    /// callers set), each bad value named in a 400. `direction` is forced
    /// when given (the inbound list): the query may repeat it, not change it.
    pub(super) fn into_filter(
        self,
        region: Option<Region>,
        direction: Option<Direction>,
    ) -> Result<MessageFilter, ApiError> {
        let q = self;
        let asked = q
            .direction
            .map(|d| {
                d.parse::<Direction>()
                    .map_err(|_| ApiError::query("direction", "must be outbound or inbound"))
            })
            .transpose()?;
        let direction = match (direction, asked) {
            (Some(forced), Some(asked)) if asked != forced => {
                return Err(ApiError::query(
                    "direction",
                    format!("this list holds {} messages only", forced.as_str()),
                ));
            }
            (forced, asked) => forced.or(asked),
        };
        Ok(MessageFilter {
            status: q
                .status
                .map(|s| s.parse::<MessageStatus>().map_err(|e| ApiError::query("status", e.to_string())))
                .transpose()?,
            to: q
                .to
                .map(|t| {
                    PhoneNumber::parse(&t, region)
                        .map(|p| p.to_string())
                        .map_err(|e| ApiError::query("to", e.to_string()))
                })
                .transpose()?,
            q: q.q
                .filter(|s| !s.trim().is_empty())
                .map(|s| SearchQuery::parse(&s).map_err(|e| ApiError::query("q", e.to_string())))
                .transpose()?,
            tag: q
                .tag
                .map(|t| {
                    Tag::parse(&t)
                        .map(|t| t.as_str().to_owned())
                        .map_err(|e| ApiError::query("tag", e.to_string()))
                })
                .transpose()?,
            contact: q
                .contact
                .map(|c| canonical_id(&c).ok_or_else(|| ApiError::query("contact", "is not a contact id")))
                .transpose()?,
            group: q
                .group
                .map(|g| canonical_id(&g).ok_or_else(|| ApiError::query("group", "is not a group id")))
                .transpose()?,
            campaign: q
                .campaign
                .map(|c| canonical_id(&c).ok_or_else(|| ApiError::query("campaign", "is not a campaign id")))
                .transpose()?,
            run: q
                .run
                .map(|r| canonical_id(&r).ok_or_else(|| ApiError::query("run", "is not a campaign run id")))
                .transpose()?,
            direction,
            since: q.since.map(|s| parse_time("since", &s, ApiError::query)).transpose()?,
            until: q.until.map(|s| parse_time("until", &s, ApiError::query)).transpose()?,
            cursor: q
                .cursor
                .map(|c| {
                    c.parse::<MessageId>()
                        .map(|id| id.to_string())
                        .map_err(|_| ApiError::query("cursor", "is not a cursor from this API"))
                })
                .transpose()?,
            limit: 0,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct MessageList {
    pub messages: Vec<MessageView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Search the message history, newest first.
#[utoipa::path(get, path = "/api/v1/messages", tag = "messages", params(ListQuery),
    responses((status = 200, body = MessageList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_messages(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<MessageList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    list(&state, &auth, q, None).await.map(Json)
}

/// Messages received from phones, newest first (the history filtered to
/// `direction=inbound`).
#[utoipa::path(get, path = "/api/v1/inbound", tag = "messages", params(ListQuery),
    responses((status = 200, body = MessageList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_inbound(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<MessageList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    list(&state, &auth, q, Some(Direction::Inbound)).await.map(Json)
}

async fn list(
    state: &AppState,
    auth: &Auth,
    q: ListQuery,
    direction: Option<Direction>,
) -> Result<MessageList, ApiError> {
    let limit = super::paging::limit(q.limit)?;
    let mut filter = q.into_filter(state.region, direction)?;
    filter.limit = limit + 1;
    let mut records = state.store.list_messages(&auth.account_id, &filter).await?;
    let next_cursor = if records.len() > limit {
        records.truncate(limit);
        records.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(MessageList {
        messages: records.into_iter().map(|r| MessageView::from_record(r, None)).collect(),
        next_cursor,
    })
}
