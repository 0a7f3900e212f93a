//! Notifications for other systems: a billing system posts what happened to
//! a subscriber ("payment received", "balance low"); Kurier renders each
//! subscriber's own message from the event type's template in their
//! language, on the channels they chose, inside their delivery window.
//!
//! - this file: event types (built in and custom), checking an event,
//!   choosing channels, addresses, language and time, rendering, storing;
//!   and the events Kurier derives from reported balances;
//! - [`worker`]: hands due deliveries to the SMS queue or the mail server,
//!   and runs the daily run-out forecast;
//! - [`page`]: the signed self-service page where subscribers change
//!   their own preferences.
//!
//! Everything an event will cause is decided and stored when it arrives
//! (the API answer says what goes where and when); the worker only sends.

pub mod page;
pub mod worker;

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::campaigns::schedule::{QuietHours, parse_zone};
use crate::campaigns::template::{MessageTemplate, TemplateContact};
use crate::clock::Clock;
use crate::domain::{MessageText, PhoneNumber, Region};
use crate::storage::{
    BalanceRecord, ContactRecord, NewDelivery, NotificationRecord, NotificationTemplate, NotificationType,
    OPTED_OUT_REASON, PreferenceRow, Store, format_micros,
};

/// Events in one batch request at most.
pub const MAX_BATCH: usize = 5_000;
/// Largest attachment, decoded.
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;
/// Longest idempotency key.
const MAX_KEY_LEN: usize = 255;
/// The channels there are.
pub const CHANNELS: &[&str] = &["sms", "email"];
/// Money fields of event data, read as decimal amounts (at most two decimals).
const MONEY_FIELDS: &[&str] = &["amount", "balance", "daily_charge", "threshold"];
/// Date fields of event data.
const DATE_FIELDS: &[&str] = &["due_date", "date"];

/// The built-in event types: key, name, and English SMS and e-mail texts.
/// Accounts add their own languages (`PUT …/templates/{channel}/{language}`).
const BUILT_IN: &[(&str, &str, &str, &str)] = &[
    (
        "payment_received",
        "Payment received",
        "Thank you, {{ contact.first_name or 'customer' }}: we received {{ data.amount | amount }} {{ data.currency | default('') }} for account {{ contact.external_id }}.",
        "Payment received",
    ),
    (
        "service_added",
        "Service added",
        "The service {{ data.service }} was added to account {{ contact.external_id }}.",
        "Service added",
    ),
    (
        "service_removed",
        "Service removed",
        "The service {{ data.service }} was removed from account {{ contact.external_id }}.",
        "Service removed",
    ),
    (
        "tariff_changed",
        "Tariff changed",
        "Account {{ contact.external_id }} is now on the {{ data.tariff }} tariff.",
        "Tariff changed",
    ),
    (
        "balance_low",
        "Balance below threshold",
        "The balance of account {{ contact.external_id }} is {{ data.balance | amount }} {{ data.currency | default('') }}. Please top up.",
        "Your balance is low",
    ),
    (
        "funds_run_out",
        "Funds run out soon",
        "The funds on account {{ contact.external_id }} last about {{ data.days }} more days. Please top up.",
        "Your funds run out soon",
    ),
    (
        "upcoming_charge",
        "Upcoming charge",
        "{{ data.amount | amount }} {{ data.currency | default('') }} will be charged to account {{ contact.external_id }} on {{ data.due_date | date }}.",
        "Upcoming charge",
    ),
];

/// Who an event is about.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriberRef {
    /// The id in the billing system (the contact's `external_id`).
    pub external_id: Option<String>,
    pub phone: Option<String>,
    pub contact_id: Option<String>,
}

/// A file sent with the e-mail: base64 `content` or a `url` fetched when sending.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentInput {
    pub filename: String,
    pub content_type: Option<String>,
    pub content: Option<String>,
    pub url: Option<String>,
}

/// One event as posted.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// An event type's key, e.g. `payment_received`.
    #[serde(rename = "type")]
    pub type_key: Option<String>,
    pub subscriber: Option<SubscriberRef>,
    /// The event's data: `amount`, `currency`, `balance`, `daily_charge`, `due_date`, … as the templates use them.
    #[schema(value_type = Object)]
    pub data: Option<Value>,
    /// Posting the same key again notifies nobody twice; the first answer is returned.
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentInput>,
}

/// Why one event was refused (nothing of it was stored or sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EventError {
    pub code: String,
    pub field: Option<String>,
    pub message: String,
}

impl EventError {
    fn new(code: &str, field: &str, message: impl Into<String>) -> Self {
        Self { code: code.into(), field: Some(field.into()), message: message.into() }
    }
}

impl From<sqlx::Error> for EventError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "storing a notification failed");
        Self { code: "internal".into(), field: None, message: "storing the event failed; retry".into() }
    }
}

/// What an accepted event will do.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventOutcome {
    pub id: String,
    #[serde(rename = "type")]
    pub type_key: String,
    pub contact_id: String,
    /// True when this answers an earlier post with the same idempotency key.
    pub replayed: bool,
    pub deliveries: Vec<DeliveryView>,
    /// Events Kurier raised because of this one (balance below threshold, funds run out).
    pub derived: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// `sms` or `email`; `-` when no channel is wanted.
    pub channel: String,
    pub to: String,
    /// waiting_window, queued, sent, failed, bounced, suppressed; an SMS
    /// shows its message's own status once it has one (delivered, …).
    pub status: String,
    pub reason: Option<String>,
    /// When it goes (or went) out.
    pub send_at: String,
    pub language: Option<String>,
    pub subject: Option<String>,
    pub text: String,
    pub message_id: Option<String>,
}

impl EventOutcome {
    pub fn from_record(n: NotificationRecord, replayed: bool, derived: Vec<String>) -> Self {
        Self {
            id: n.id,
            type_key: n.type_key,
            contact_id: n.contact_id,
            replayed,
            deliveries: n
                .deliveries
                .into_iter()
                .map(|d| DeliveryView {
                    status: match (&d.message_status, d.status.as_str()) {
                        (Some(m), "sent") => m.clone(),
                        _ => d.status.clone(),
                    },
                    channel: d.channel,
                    to: d.address,
                    reason: d.reason,
                    send_at: format_micros(d.due_at),
                    language: d.language,
                    subject: d.subject,
                    text: d.body,
                    message_id: d.message_id,
                })
                .collect(),
            derived,
        }
    }
}

/// Creates the built-in types of an account that it does not have yet.
pub async fn ensure_built_in(
    store: &Store,
    account_id: &str,
    now: i64,
) -> sqlx::Result<Vec<NotificationType>> {
    let types = store.list_notification_types(account_id).await?;
    let mut created = false;
    for (key, name, sms, subject) in BUILT_IN {
        if types.iter().any(|t| t.key == *key) {
            continue;
        }
        let templates = [
            NotificationTemplate {
                channel: "sms".into(),
                language: "en".into(),
                subject: None,
                body: (*sms).into(),
                html: None,
            },
            NotificationTemplate {
                channel: "email".into(),
                language: "en".into(),
                subject: Some((*subject).into()),
                body: (*sms).into(),
                html: None,
            },
        ];
        store.create_notification_type(account_id, key, name, false, true, &templates, now).await?;
        created = true;
    }
    if created { store.list_notification_types(account_id).await } else { Ok(types) }
}

/// An event type key: lower-case letters, digits and `_`, 1–50.
pub fn check_type_key(key: &str) -> Result<(), String> {
    let ok = !key.is_empty()
        && key.len() <= 50
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && key.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    if ok { Ok(()) } else { Err(format!("'{key}' is not a type key (a-z, 0-9, _; starting with a letter)")) }
}

/// The contact fields templates may read.
async fn fields(store: &Store, account_id: &str) -> sqlx::Result<Vec<String>> {
    Ok(store.contact_fields(account_id).await?.into_iter().map(|f| f.name.as_str().to_owned()).collect())
}

/// Checks a template of an event type for a channel (when it is saved).
pub async fn check_template(
    store: &Store,
    account_id: &str,
    t: &NotificationTemplate,
) -> Result<(), EventError> {
    if !CHANNELS.contains(&t.channel.as_str()) {
        return Err(EventError::new("invalid_field", "channel", "must be sms or email"));
    }
    if t.channel == "email" && t.subject.as_deref().is_none_or(|s| s.trim().is_empty()) {
        return Err(EventError::new("invalid_field", "subject", "an e-mail template needs a subject"));
    }
    let fields = fields(store, account_id).await?;
    for (name, source) in
        [("body", Some(&t.body)), ("subject", t.subject.as_ref()), ("html", t.html.as_ref())]
    {
        if let Some(src) = source {
            MessageTemplate::parse(src, &fields)
                .map_err(|e| EventError::new("invalid_field", name, e.to_string()))?;
        }
    }
    Ok(())
}

/// Finds the subscriber of an event.
pub async fn find_subscriber(
    store: &Store,
    account_id: &str,
    region: Option<Region>,
    s: &SubscriberRef,
) -> Result<ContactRecord, EventError> {
    let id = match (&s.contact_id, &s.external_id, &s.phone) {
        (Some(id), _, _) => Some(id.clone()),
        (None, Some(ext), _) => store.contact_id_by_external_id(account_id, ext.trim()).await?,
        (None, None, Some(phone)) => {
            let p = PhoneNumber::parse(phone, region)
                .map_err(|e| EventError::new("invalid_field", "subscriber.phone", e.to_string()))?;
            store.contact_id_by_phone(account_id, &p).await?
        }
        (None, None, None) => {
            return Err(EventError::new(
                "invalid_field",
                "subscriber",
                "give external_id, phone or contact_id",
            ));
        }
    };
    let contact = match id {
        Some(id) => store.get_contact(account_id, &id).await?,
        None => None,
    };
    contact.ok_or_else(|| {
        EventError::new("unknown_subscriber", "subscriber", "no contact matches the subscriber")
    })
}

/// Reads a decimal amount (number or string, `.` or `,`, at most two
/// decimals) as minor units.
pub fn parse_money(v: &Value) -> Result<i64, String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().replace(',', "."),
        _ => return Err("must be an amount such as 12.50".into()),
    };
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() || !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(format!("'{text}' is not an amount such as 12.50"));
    }
    if frac.len() > 2 {
        return Err(format!("'{text}' has more than two decimals"));
    }
    let minor: i64 = format!("{int}{frac:0<2}").parse().map_err(|_| format!("'{text}' is too large"))?;
    if minor > 1_000_000_000_000_000 {
        return Err(format!("'{text}' is too large"));
    }
    Ok(if neg { -minor } else { minor })
}

/// Minor units as a decimal string (`1250` → `12.50`).
pub fn format_money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", minor.unsigned_abs() / 100, minor.unsigned_abs() % 100)
}

fn check_data(data: &Value) -> Result<(), EventError> {
    let Some(obj) = data.as_object() else {
        return Err(EventError::new("invalid_field", "data", "must be a JSON object"));
    };
    for f in MONEY_FIELDS {
        if let Some(v) = obj.get(*f).filter(|v| !v.is_null()) {
            parse_money(v).map_err(|m| EventError::new("invalid_field", &format!("data.{f}"), m))?;
        }
    }
    for f in DATE_FIELDS {
        if let Some(v) = obj.get(*f).filter(|v| !v.is_null()) {
            let s = v.as_str().unwrap_or_default();
            let ok =
                NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() || DateTime::parse_from_rfc3339(s).is_ok();
            if !ok {
                return Err(EventError::new(
                    "invalid_field",
                    &format!("data.{f}"),
                    format!("'{v}' is not a date (YYYY-MM-DD or RFC 3339)"),
                ));
            }
        }
    }
    Ok(())
}

/// The preferences that apply to one event type, most specific first.
pub struct Effective {
    pub channels: Vec<String>,
    pub extra_phones: Vec<String>,
    pub extra_emails: Vec<String>,
    pub window: Option<(i64, i64)>,
    pub time_zone: Option<String>,
}

pub fn effective(rows: &[PreferenceRow], contact_id: &str, type_key: &str) -> Effective {
    let order = [(contact_id, type_key), (contact_id, "*"), ("*", type_key), ("*", "*")];
    let found = order.iter().find_map(|(c, t)| rows.iter().find(|r| r.contact_id == *c && r.type_key == *t));
    match found {
        Some(r) => Effective {
            channels: r.channels.clone(),
            extra_phones: r.extra_phones.clone(),
            extra_emails: r.extra_emails.clone(),
            window: r.window,
            time_zone: r.time_zone.clone(),
        },
        None => Effective {
            channels: vec!["sms".into()],
            extra_phones: vec![],
            extra_emails: vec![],
            window: None,
            time_zone: None,
        },
    }
}

/// The subscriber's zone: their preference's, else the contact's, else
/// the account's, else UTC.
fn subscriber_zone(pref: &Effective, contact_zone: Option<&str>, account_zone: &str) -> chrono_tz::Tz {
    pref.time_zone
        .as_deref()
        .or(contact_zone)
        .and_then(|z| parse_zone(z).ok())
        .or_else(|| parse_zone(account_zone).ok())
        .unwrap_or(chrono_tz::Tz::UTC)
}

/// The first moment at or after `at` when the subscriber of notification
/// `notification_id` takes it: inside the delivery window of their
/// preferences as they are now, in their zone. `at` itself for an urgent
/// type, or when the notification, its type or its subscriber is gone.
/// The notification worker moves a retried e-mail there.
pub async fn next_window_for(
    store: &Store,
    account_id: &str,
    notification_id: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<DateTime<Utc>> {
    let Some(n) = store.get_notification(account_id, notification_id).await? else { return Ok(at) };
    let ty = store.notification_type(account_id, &n.type_key).await?;
    if ty.is_none_or(|t| t.urgent) {
        return Ok(at);
    }
    let Some(contact) = store.get_contact(account_id, &n.contact_id).await? else { return Ok(at) };
    let schedule = store.account_schedule(account_id).await?;
    let prefs = store.notification_preferences(account_id, &contact.id).await?;
    let pref = effective(&prefs, &contact.id, &n.type_key);
    let zone = subscriber_zone(&pref, contact.time_zone.as_deref(), &schedule.time_zone);
    Ok(next_in_window(at, pref.window, zone))
}

/// The first moment at or after `now` inside `window` (allowed hours) in `zone`.
pub fn next_in_window(now: DateTime<Utc>, window: Option<(i64, i64)>, zone: chrono_tz::Tz) -> DateTime<Utc> {
    match window.filter(|(s, e)| s != e).and_then(|(start, end)| QuietHours::from_minutes(end, start)) {
        Some(quiet) => quiet.next_allowed(now, zone),
        None => now,
    }
}

fn pick_template<'a>(
    t: &'a NotificationType,
    channel: &str,
    language: Option<&str>,
    default_language: &str,
) -> Option<&'a NotificationTemplate> {
    let of = |lang: &str| t.templates.iter().find(|x| x.channel == channel && x.language == lang);
    language
        .and_then(of)
        .or_else(|| of(default_language))
        .or_else(|| of("en"))
        .or_else(|| t.templates.iter().find(|x| x.channel == channel))
}

/// Checks, plans, renders and stores one event. `derived` events (raised
/// by Kurier) carry no key and derive nothing further.
#[allow(clippy::too_many_arguments)]
pub async fn accept(
    store: &Store,
    clock: &Clock,
    region: Option<Region>,
    max_segments: usize,
    account_id: &str,
    input: EventInput,
    derived: bool,
) -> Result<EventOutcome, EventError> {
    let now = clock.now();
    let now_us = now.timestamp_micros();
    let key = match input.idempotency_key.as_deref().map(str::trim) {
        Some(k) if k.is_empty() || k.len() > MAX_KEY_LEN => {
            return Err(EventError::new(
                "invalid_field",
                "idempotency_key",
                format!("1 to {MAX_KEY_LEN} characters"),
            ));
        }
        Some(k) => Some(k.to_owned()),
        None => None,
    };
    if let Some(k) = &key
        && let Some(earlier) = store.notification_by_key(account_id, k).await?
    {
        return Ok(EventOutcome::from_record(earlier, true, vec![]));
    }
    let type_key = input.type_key.as_deref().map(str::trim).unwrap_or_default().to_owned();
    if type_key.is_empty() {
        return Err(EventError::new("invalid_field", "type", "is required"));
    }
    let types = ensure_built_in(store, account_id, now_us).await?;
    let Some(ty) = types.iter().find(|t| t.key == type_key) else {
        let known: Vec<&str> = types.iter().map(|t| t.key.as_str()).collect();
        return Err(EventError::new(
            "unknown_type",
            "type",
            format!("no event type '{type_key}'; the account has: {}", known.join(", ")),
        ));
    };
    let subscriber = input
        .subscriber
        .as_ref()
        .ok_or_else(|| EventError::new("invalid_field", "subscriber", "is required"))?;
    let contact = find_subscriber(store, account_id, region, subscriber).await?;
    let data = input.data.clone().unwrap_or_else(|| json!({}));
    check_data(&data)?;
    let attachments = read_attachments(&input.attachments)?;

    let settings = store.notification_settings(account_id).await?;
    let schedule = store.account_schedule(account_id).await?;
    let prefs = store.notification_preferences(account_id, &contact.id).await?;
    let pref = effective(&prefs, &contact.id, &type_key);
    let zone = subscriber_zone(&pref, contact.time_zone.as_deref(), &schedule.time_zone);
    let due = if ty.urgent { now } else { next_in_window(now, pref.window, zone) };
    let waiting = due > now;
    let language = contact.language.as_deref().and_then(|l| l.split('-').next()).map(str::to_lowercase);
    let fields = fields(store, account_id).await?;
    let template_contact = TemplateContact::from_record(&contact).with_missing_fields(&fields);
    let render = |source: &str, field: &str| -> Result<String, EventError> {
        let t = MessageTemplate::parse(source, &fields)
            .map_err(|e| EventError::new("template_error", field, format!("the {type_key} template: {e}")))?;
        t.render(&template_contact, &data).map_err(|e| EventError::new("missing_data", "data", e.to_string()))
    };

    let mut deliveries = Vec::new();
    let suppressed = |channel: &str, address: &str, reason: String| NewDelivery {
        channel: channel.into(),
        address: address.into(),
        language: None,
        status: "suppressed".into(),
        reason: Some(reason),
        subject: None,
        body: String::new(),
        html: None,
        attachments: "[]".into(),
        due_at: now_us,
    };
    if pref.channels.is_empty() {
        deliveries.push(suppressed("-", "-", format!("the subscriber wants no {type_key} notifications")));
    }
    for channel in &pref.channels {
        let template = pick_template(ty, channel, language.as_deref(), &settings.default_language)
            .ok_or_else(|| {
                EventError::new(
                    "no_template",
                    "type",
                    format!("the type {type_key} has no {channel} template"),
                )
            })?;
        let body = render(&template.body, "body")?;
        let subject = template.subject.as_deref().map(|s| render(s, "subject")).transpose()?;
        let html = template.html.as_deref().map(|s| render(s, "html")).transpose()?;
        let addresses: Vec<String> = match channel.as_str() {
            "sms" => {
                std::iter::once(contact.phone.clone()).chain(pref.extra_phones.iter().cloned()).collect()
            }
            _ => contact.email.iter().cloned().chain(pref.extra_emails.iter().cloned()).collect(),
        };
        if addresses.is_empty() {
            deliveries.push(suppressed(channel, "-", format!("the subscriber has no {channel} address")));
            continue;
        }
        if channel == "sms" {
            MessageText::new(&body, max_segments)
                .map_err(|e| EventError::new("invalid_text", "body", e.to_string()))?;
        }
        // No SMS to a number that opted out of the account's messages.
        let numbers: Vec<Option<PhoneNumber>> = match channel.as_str() {
            "sms" => addresses.iter().map(|a| PhoneNumber::parse(a, region).ok()).collect(),
            _ => vec![None; addresses.len()],
        };
        let phones: Vec<&str> = numbers.iter().flatten().map(PhoneNumber::as_str).collect();
        let opted_out = if phones.is_empty() {
            Default::default()
        } else {
            store.opted_out_among(account_id, &phones).await?
        };
        let mut seen = std::collections::HashSet::new();
        for (address, number) in addresses.into_iter().zip(numbers).filter(|(a, _)| seen.insert(a.clone())) {
            if number.is_some_and(|n| opted_out.contains(n.as_str())) {
                deliveries.push(suppressed(channel, &address, OPTED_OUT_REASON.to_owned()));
                continue;
            }
            deliveries.push(NewDelivery {
                channel: channel.clone(),
                address,
                language: Some(template.language.clone()),
                status: if waiting { "waiting_window" } else { "queued" }.into(),
                reason: waiting.then(|| "outside the subscriber's delivery window".to_owned()),
                subject: subject.clone(),
                body: body.clone(),
                html: html.clone(),
                attachments: if channel == "email" { attachments.clone() } else { "[]".into() },
                due_at: due.timestamp_micros(),
            });
        }
    }
    let Some(id) = store
        .store_notification(
            account_id,
            &type_key,
            &contact.id,
            key.as_deref(),
            &data,
            derived,
            &deliveries,
            now_us,
        )
        .await?
    else {
        // The same key was stored by a concurrent request: answer with it.
        let earlier = match &key {
            Some(k) => store.notification_by_key(account_id, k).await?,
            None => None,
        };
        return earlier
            .map(|n| EventOutcome::from_record(n, true, vec![]))
            .ok_or_else(|| EventError::from(sqlx::Error::RowNotFound));
    };
    let derived_ids = if derived {
        vec![]
    } else {
        Box::pin(report_balance(store, clock, region, max_segments, account_id, &contact, &data)).await?
    };
    let record = store.get_notification(account_id, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(EventOutcome::from_record(record, false, derived_ids))
}

fn read_attachments(list: &[AttachmentInput]) -> Result<String, EventError> {
    let mut out = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let field = format!("attachments[{i}]");
        if a.filename.trim().is_empty() || a.filename.contains(['/', '\\', '\r', '\n']) {
            return Err(EventError::new("invalid_field", &field, "needs a plain filename"));
        }
        match (&a.content, &a.url) {
            (Some(c), None) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(c.trim())
                    .map_err(|_| EventError::new("invalid_field", &field, "content is not base64"))?;
                if bytes.len() > MAX_ATTACHMENT_BYTES {
                    return Err(EventError::new("invalid_field", &field, "larger than 5 MB"));
                }
            }
            (None, Some(u)) => {
                if !crate::outbound::is_user_url(u) {
                    let rule = format!("url {}", crate::outbound::USER_URL_RULE);
                    return Err(EventError::new("invalid_field", &field, rule));
                }
            }
            _ => return Err(EventError::new("invalid_field", &field, "give content (base64) or url")),
        }
        out.push(a.clone());
    }
    Ok(serde_json::to_string(&out).unwrap_or_else(|_| "[]".into()))
}

/// Keeps the balance and daily charge an event reports, and raises
/// `balance_low` / `funds_run_out` once per crossing. Returns the ids of
/// the events raised.
async fn report_balance(
    store: &Store,
    clock: &Clock,
    region: Option<Region>,
    max_segments: usize,
    account_id: &str,
    contact: &ContactRecord,
    data: &Value,
) -> Result<Vec<String>, EventError> {
    let Some(balance) = data.get("balance").filter(|v| !v.is_null()) else { return Ok(vec![]) };
    let balance = parse_money(balance).map_err(|m| EventError::new("invalid_field", "data.balance", m))?;
    let previous = store.subscriber_balance(&contact.id).await?;
    let daily_charge = match data.get("daily_charge").filter(|v| !v.is_null()) {
        Some(v) => {
            Some(parse_money(v).map_err(|m| EventError::new("invalid_field", "data.daily_charge", m))?)
        }
        None => previous.as_ref().and_then(|p| p.daily_charge),
    };
    let currency = data
        .get("currency")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| previous.as_ref().and_then(|p| p.currency.clone()));
    let mut record = BalanceRecord {
        contact_id: contact.id.clone(),
        account_id: account_id.to_owned(),
        balance,
        daily_charge,
        currency,
        reported_at: clock.now_micros(),
        low_alerted: previous.as_ref().is_some_and(|p| p.low_alerted),
        runout_alerted: previous.as_ref().is_some_and(|p| p.runout_alerted),
    };
    let raised = check_balance(store, clock, region, max_segments, &mut record, balance).await?;
    store.put_subscriber_balance(&record).await?;
    Ok(raised)
}

/// Raises what `balance` (current or forecast) calls for, updating the
/// once-per-crossing flags in `record`.
pub(crate) async fn check_balance(
    store: &Store,
    clock: &Clock,
    region: Option<Region>,
    max_segments: usize,
    record: &mut BalanceRecord,
    balance: i64,
) -> Result<Vec<String>, EventError> {
    let settings = store.notification_settings(&record.account_id).await?;
    let mut raise = Vec::new();
    if let Some(threshold) = settings.low_balance_threshold {
        if balance < threshold && !record.low_alerted {
            record.low_alerted = true;
            raise.push((
                "balance_low",
                json!({"balance": format_money(balance), "threshold": format_money(threshold), "currency": record.currency}),
            ));
        } else if balance >= threshold {
            record.low_alerted = false;
        }
    }
    if let Some(charge) = record.daily_charge.filter(|c| *c > 0) {
        let days = balance.max(0) / charge;
        if days <= settings.runout_days && !record.runout_alerted {
            record.runout_alerted = true;
            raise.push((
                "funds_run_out",
                json!({"days": days, "balance": format_money(balance), "daily_charge": format_money(charge), "currency": record.currency}),
            ));
        } else if days > settings.runout_days {
            record.runout_alerted = false;
        }
    }
    let mut ids = Vec::new();
    for (key, data) in raise {
        let input = EventInput {
            type_key: Some(key.into()),
            subscriber: Some(SubscriberRef {
                contact_id: Some(record.contact_id.clone()),
                ..Default::default()
            }),
            data: Some(data),
            idempotency_key: None,
            attachments: vec![],
        };
        match Box::pin(accept(store, clock, region, max_segments, &record.account_id, input, true)).await {
            Ok(o) => ids.push(o.id),
            // A derived event that cannot be rendered is logged, not thrown
            // back at the billing system whose event was fine.
            Err(e) => {
                tracing::warn!(contact = %record.contact_id, event = key, error = %e.message, "a derived notification failed")
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_read_as_minor_units_and_refused_with_too_many_decimals() {
        for (v, want) in
            [(json!(12.5), 1250), (json!("12,50"), 1250), (json!("7"), 700), (json!("-3.05"), -305)]
        {
            assert_eq!(parse_money(&v), Ok(want), "{v}");
        }
        for v in [
            json!("12.505"),
            json!("abc"),
            json!(true),
            json!("1e5"),
            json!(""),
            json!("99999999999999999999"),
        ] {
            assert!(parse_money(&v).is_err(), "{v}");
        }
        assert_eq!(format_money(-1205), "-12.05");
        assert_eq!(format_money(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn the_window_opens_at_its_start_in_the_subscribers_zone() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // 21:00 in Sofia (19:00 UTC) with a window 08:00–20:00: 08:00 Sofia next day.
        let sofia = chrono_tz::Tz::Europe__Sofia;
        assert_eq!(
            next_in_window(at("2026-11-24T19:00:00Z"), Some((480, 1200)), sofia),
            at("2026-11-25T06:00:00Z")
        );
        assert_eq!(
            next_in_window(at("2026-11-24T10:00:00Z"), Some((480, 1200)), sofia),
            at("2026-11-24T10:00:00Z")
        );
        assert_eq!(next_in_window(at("2026-11-24T10:00:00Z"), None, sofia), at("2026-11-24T10:00:00Z"));
    }

    #[test]
    fn the_most_specific_preference_wins() {
        let row = |c: &str, t: &str, ch: &str| PreferenceRow {
            contact_id: c.into(),
            type_key: t.into(),
            channels: vec![ch.into()],
            extra_phones: vec![],
            extra_emails: vec![],
            window: None,
            time_zone: None,
        };
        let rows = vec![row("*", "*", "sms"), row("c1", "balance_low", "email"), row("c1", "*", "sms")];
        assert_eq!(effective(&rows, "c1", "balance_low").channels, vec!["email"]);
        assert_eq!(effective(&rows, "c1", "payment_received").channels, vec!["sms"]);
        assert_eq!(effective(&rows, "c2", "payment_received").channels, vec!["sms"]);
        assert_eq!(effective(&[], "c2", "x").channels, vec!["sms"]);
    }
}
