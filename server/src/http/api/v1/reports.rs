//! `/api/v1/reports/messages`: the account's messages over a window, by day
//! (in a time zone), status, connector or destination country — what went
//! out and how it ended, what came in, and the segments sent — as JSON, CSV
//! or XLSX. The two-way reports beside it: keyword popularity
//! (`/reports/keywords`), received messages per number (`/reports/inbound`)
//! and every poll's results (`/reports/polls`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Offset as _, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::exports::stream_response;
use crate::domain::country_of;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{GroupCount, Grouping, MessageCounts, format_micros};
use crate::transfer::{ExportCell, ExportFormat, export_table};

/// The longest window a report covers.
const MAX_DAYS: i64 = 366;
const HOUR_MICROS: i64 = 3_600_000_000;

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct MessageReportQuery {
    /// `day` (the default), `status`, `connector` or `country`.
    pub by: Option<String>,
    /// RFC 3339; default: 30 days before `until`. By day, the report starts
    /// at the beginning of that day.
    pub since: Option<String>,
    /// RFC 3339, exclusive; default: now.
    pub until: Option<String>,
    /// IANA zone whose days `by=day` counts; default: the account's.
    pub time_zone: Option<String>,
}

/// One group's messages.
#[derive(Serialize, Deserialize, ToSchema, Clone, Default, PartialEq, Eq, Debug)]
pub struct MessageReportRow {
    /// The day (`2026-11-24`), status, connector name, or country (ISO
    /// 3166 region of the calling code's main country, `PL`); empty when a
    /// message has none (no connector yet, an unknown number).
    pub key: String,
    /// The calling code for `by=country` (`+48`), else empty.
    pub label: String,
    /// Accepted by the SMSC (including those since delivered or not).
    pub sent: i64,
    pub delivered: i64,
    /// Undelivered or expired.
    pub undelivered: i64,
    /// Failed or rejected.
    pub failed: i64,
    /// Not yet handed over (scheduled, queued, sending).
    pub waiting: i64,
    /// Canceled before they were handed over.
    pub canceled: i64,
    pub received: i64,
    /// Segments of the outbound messages that went out (those `sent` counts).
    pub segments: i64,
}

impl MessageReportRow {
    /// Every message the row counts once (`delivered` and `undelivered` are
    /// part of `sent`).
    pub fn messages(&self) -> i64 {
        self.sent + self.failed + self.waiting + self.canceled + self.received
    }

    fn add(&mut self, g: &GroupCount) {
        let mut c = MessageCounts::default();
        c.add(&g.direction, &g.status, g.messages);
        self.sent += c.sent;
        self.delivered += c.delivered;
        self.undelivered += c.undelivered;
        self.failed += c.failed;
        self.waiting += c.waiting;
        self.canceled += c.canceled;
        self.received += c.received;
        if g.direction != "inbound" && MessageCounts::went_out(&g.status) {
            self.segments += g.segments;
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct MessageReport {
    pub by: String,
    pub since: String,
    pub until: String,
    pub time_zone: String,
    pub rows: Vec<MessageReportRow>,
    pub total: MessageReportRow,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Day,
    Status,
    Connector,
    Country,
}

impl By {
    fn parse(s: Option<&str>) -> Result<Self, ApiError> {
        match s.unwrap_or("day") {
            "day" => Ok(By::Day),
            "status" => Ok(By::Status),
            "connector" => Ok(By::Connector),
            "country" => Ok(By::Country),
            _ => Err(ApiError::query("by", "must be day, status, connector or country")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            By::Day => "day",
            By::Status => "status",
            By::Connector => "connector",
            By::Country => "country",
        }
    }
}

fn time(field: &str, s: &Option<String>, default: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    match s {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| ApiError::query(field, "is not an RFC 3339 time")),
        None => Ok(default),
    }
}

/// When `date` starts in `tz`: its midnight, or, where the clocks jump
/// over midnight (a DST change at 00:00, as in Africa/Cairo or
/// America/Santiago), the end of that jump (01:00 for an hour's). `None`
/// for a day at the edge of the calendar whose start is not a time chrono
/// can hold (`NaiveDate::MIN` in a zone east of UTC).
pub fn day_start(date: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    let midnight = date.and_time(NaiveTime::MIN);
    match tz.from_local_datetime(&midnight).earliest() {
        Some(t) => Some(t.with_timezone(&Utc)),
        // Midnight by the offset in force before the jump is the instant it happens.
        None => {
            let day_before = midnight.checked_sub_signed(Duration::days(1))?;
            let before = tz.offset_from_utc_datetime(&day_before).fix();
            let at = midnight.checked_sub_signed(Duration::seconds(before.local_minus_utc().into()))?;
            Some(at.and_utc())
        }
    }
}

/// The start of the day `at` falls on, in `tz` (`None` as for [`day_start`]).
pub fn start_of_day(at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    day_start(at.with_timezone(&tz).date_naive(), tz)
}

/// The report the query asks for.
pub async fn message_report(
    state: &AppState,
    auth: &Auth,
    q: MessageReportQuery,
) -> Result<MessageReport, ApiError> {
    let by = By::parse(q.by.as_deref())?;
    let tz: Tz = match &q.time_zone {
        Some(z) => {
            z.parse().map_err(|_| ApiError::query("time_zone", format!("'{z}' is not an IANA time zone")))?
        }
        None => state.store.account_schedule(&auth.account_id).await?.time_zone.parse().unwrap_or(Tz::UTC),
    };
    let until = time("until", &q.until, state.clock.now())?;
    let mut since = time("since", &q.since, until - Duration::days(30))?;
    if since >= until {
        return Err(ApiError::query("since", "must be before until"));
    }
    if until - since > Duration::days(MAX_DAYS) {
        return Err(ApiError::query("since", format!("a report covers at most {MAX_DAYS} days")));
    }
    if by == By::Day {
        since = start_of_day(since, tz).ok_or_else(|| ApiError::query("since", "is out of range"))?;
    }
    let (since_us, until_us) = (since.timestamp_micros(), until.timestamp_micros());
    let grouping = match by {
        By::Day => Grouping::Hour,
        By::Status => Grouping::Status,
        By::Connector => Grouping::Connector,
        By::Country => Grouping::Prefix,
    };
    let groups = state.store.message_groups(&auth.account_id, since_us, until_us, grouping).await?;
    let mut rows: BTreeMap<String, MessageReportRow> = BTreeMap::new();
    if by == By::Day {
        // Every day of the window, so that a chart shows the quiet ones.
        let mut day = since;
        while day < until {
            let key = day.with_timezone(&tz).date_naive().to_string();
            rows.entry(key.clone()).or_insert_with(|| MessageReportRow { key, ..Default::default() });
            match day.checked_add_signed(Duration::hours(26)).and_then(|next| start_of_day(next, tz)) {
                Some(next) => day = next,
                None => break,
            }
        }
    }
    for g in &groups {
        let (key, label) = match by {
            By::Day => {
                let hour: i64 = g.key.parse().unwrap_or(0);
                let at = DateTime::from_timestamp_micros(since_us + hour * HOUR_MICROS).unwrap_or(since);
                (at.with_timezone(&tz).date_naive().to_string(), String::new())
            }
            By::Country => match country_of(&g.key) {
                Some((code, region)) => (region.to_owned(), format!("+{code}")),
                None => (String::new(), String::new()),
            },
            By::Status | By::Connector => (g.key.clone(), String::new()),
        };
        rows.entry(key.clone())
            .or_insert_with(|| MessageReportRow { key, label, ..Default::default() })
            .add(g);
    }
    let mut total = MessageReportRow::default();
    for g in &groups {
        total.add(g);
    }
    let mut rows: Vec<MessageReportRow> = rows.into_values().collect();
    if by != By::Day {
        // Biggest first; days stay in order.
        rows.sort_by_key(|r| std::cmp::Reverse(r.messages()));
    }
    Ok(MessageReport {
        by: by.name().into(),
        since: format_micros(since_us),
        until: format_micros(until_us),
        time_zone: tz.name().into(),
        rows,
        total,
    })
}

/// Messages by day, status, connector or destination country.
#[utoipa::path(get, path = "/api/v1/reports/messages", tag = "reports", params(MessageReportQuery),
    responses((status = 200, body = MessageReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn messages_report(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<MessageReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<MessageReport>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    Ok(Json(message_report(&state, &auth, q).await?))
}

async fn report_file(
    state: AppState,
    auth: Auth,
    q: MessageReportQuery,
    format: ExportFormat,
) -> Result<Response, ApiError> {
    let report = message_report(&state, &auth, q).await?;
    let header = [
        report.by.as_str(),
        "",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "waiting",
        "canceled",
        "received",
        "segments",
    ]
    .map(str::to_owned)
    .to_vec();
    let n = |v: i64| ExportCell::Number(v as f64);
    let line = |r: MessageReportRow| {
        vec![
            r.key.into(),
            r.label.into(),
            n(r.sent),
            n(r.delivered),
            n(r.undelivered),
            n(r.failed),
            n(r.waiting),
            n(r.canceled),
            n(r.received),
            n(r.segments),
        ]
    };
    let mut rows: Vec<Vec<ExportCell>> = report.rows.into_iter().map(line).collect();
    rows.push(line(MessageReportRow { key: "total".into(), ..report.total }));
    Ok(stream_response(format, "messages-report", move |out| async move {
        export_table(format, out, header, rows).await
    }))
}

/// The report as CSV (a last row holds the totals).
#[utoipa::path(get, path = "/api/v1/reports/messages.csv", tag = "reports", params(MessageReportQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = ErrorBody)))]
pub async fn messages_report_csv(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<MessageReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    report_file(state, auth, q, ExportFormat::Csv).await
}

/// The report as XLSX (a last row holds the totals).
#[utoipa::path(get, path = "/api/v1/reports/messages.xlsx", tag = "reports", params(MessageReportQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>), (status = 400, body = ErrorBody)))]
pub async fn messages_report_xlsx(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<MessageReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    report_file(state, auth, q, ExportFormat::Xlsx).await
}

/// The window of a two-way report.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// RFC 3339; default: 30 days before `until`.
    pub since: Option<String>,
    /// RFC 3339, exclusive; default: now.
    pub until: Option<String>,
}

impl WindowQuery {
    /// (since, until) in microseconds, checked.
    fn window(&self, state: &AppState) -> Result<(i64, i64), ApiError> {
        let until = time("until", &self.until, state.clock.now())?;
        let since = time("since", &self.since, until - Duration::days(30))?;
        if since >= until {
            return Err(ApiError::query("since", "must be before until"));
        }
        if until - since > Duration::days(MAX_DAYS) {
            return Err(ApiError::query("since", format!("a report covers at most {MAX_DAYS} days")));
        }
        Ok((since.timestamp_micros(), until.timestamp_micros()))
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct KeywordReportRow {
    pub keyword_id: String,
    pub keyword: String,
    pub number: String,
    /// Received messages it matched in the window.
    pub matches: i64,
    /// Its share of all keyword matches in the window, rounded to one decimal.
    pub percent: f64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct KeywordReport {
    pub since: String,
    pub until: String,
    /// Every keyword of the account, most matched first (unused ones too).
    pub rows: Vec<KeywordReportRow>,
    pub total: i64,
}

/// Keyword popularity: how many received messages each keyword matched.
#[utoipa::path(get, path = "/api/v1/reports/keywords", tag = "reports", params(WindowQuery),
    responses((status = 200, body = KeywordReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn keywords_report(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<WindowQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<KeywordReport>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let (since, until) = q.window(&state)?;
    let uses = state.store.keyword_use(&auth.account_id, since, until).await?;
    let total: i64 = uses.iter().map(|u| u.matches).sum();
    let rows = uses
        .into_iter()
        .map(|u| KeywordReportRow {
            percent: crate::inbound::polls::percent(u.matches, total),
            keyword_id: u.keyword_id,
            keyword: u.keyword,
            number: u.number,
            matches: u.matches,
        })
        .collect();
    Ok(Json(KeywordReport { since: format_micros(since), until: format_micros(until), rows, total }))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct InboundReportRow {
    /// The number written to, as received.
    pub number: String,
    pub messages: i64,
    /// Distinct senders.
    pub senders: i64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct InboundReport {
    pub since: String,
    pub until: String,
    /// One row per number that received messages, busiest first; the
    /// account's numbers that received none follow with zeros.
    pub rows: Vec<InboundReportRow>,
    pub total: i64,
}

/// Inbound volume: received messages and senders per number.
#[utoipa::path(get, path = "/api/v1/reports/inbound", tag = "reports", params(WindowQuery),
    responses((status = 200, body = InboundReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn inbound_report(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<WindowQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InboundReport>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let (since, until) = q.window(&state)?;
    let volume = state.store.inbound_volume(&auth.account_id, since, until).await?;
    let total = volume.iter().map(|v| v.messages).sum();
    let mut rows: Vec<InboundReportRow> = volume
        .into_iter()
        .map(|v| InboundReportRow { number: v.number, messages: v.messages, senders: v.senders })
        .collect();
    for n in state.store.list_numbers(&auth.account_id).await? {
        let spellings = crate::storage::number_spellings(&n.number);
        if !rows.iter().any(|r| spellings.contains(&r.number)) {
            rows.push(InboundReportRow { number: n.number, messages: 0, senders: 0 });
        }
    }
    Ok(Json(InboundReport { since: format_micros(since), until: format_micros(until), rows, total }))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PollsReport {
    /// Every poll of the account with its results, newest first.
    pub polls: Vec<super::polls::PollResultsView>,
}

/// Poll results: every poll's counted votes per answer, with percentages.
#[utoipa::path(get, path = "/api/v1/reports/polls", tag = "reports",
    responses((status = 200, body = PollsReport), (status = 401, body = ErrorBody)))]
pub async fn polls_report(State(state): State<AppState>, auth: Auth) -> Result<Json<PollsReport>, ApiError> {
    let mut polls = Vec::new();
    for p in state.store.list_polls(&auth.account_id).await? {
        polls.push(super::polls::poll_results_of(&state, &auth, &p.id).await?);
    }
    Ok(Json(PollsReport { polls }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_starts_at_local_midnight_even_across_a_dst_change() {
        let warsaw: Tz = "Europe/Warsaw".parse().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 3, 29, 12, 0, 0).unwrap();
        assert_eq!(start_of_day(at, warsaw), Utc.with_ymd_and_hms(2026, 3, 28, 23, 0, 0).single());
        let next = start_of_day(start_of_day(at, warsaw).unwrap() + Duration::hours(26), warsaw);
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 3, 29, 22, 0, 0).single(), "a 23-hour day");
    }

    #[test]
    fn a_day_whose_midnight_the_clocks_skip_starts_when_they_land() {
        let cairo: Tz = "Africa/Cairo".parse().unwrap();
        let date = NaiveDate::from_ymd_opt(2024, 4, 26).unwrap();
        // 00:00 EET became 01:00 EEST: the day starts at 01:00 local, 22:00 UTC the day before.
        assert_eq!(day_start(date, cairo), Utc.with_ymd_and_hms(2024, 4, 25, 22, 0, 0).single());
        let at = Utc.with_ymd_and_hms(2024, 4, 26, 12, 0, 0).unwrap();
        assert_eq!(start_of_day(at, cairo), day_start(date, cairo));
        let next = date.succ_opt().unwrap();
        assert_eq!(
            day_start(next, cairo),
            Utc.with_ymd_and_hms(2024, 4, 26, 21, 0, 0).single(),
            "a 23-hour day"
        );
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        assert_eq!(day_start(date, kolkata), Utc.with_ymd_and_hms(2024, 4, 25, 18, 30, 0).single());
    }

    #[test]
    fn a_day_before_the_earliest_time_there_is_has_no_start() {
        // NaiveDate::MIN's midnight in a zone east of UTC is before the earliest UTC time.
        let warsaw: Tz = "Europe/Warsaw".parse().unwrap();
        assert_eq!(day_start(NaiveDate::MIN, warsaw), None);
        assert_eq!(start_of_day(DateTime::<Utc>::MIN_UTC, warsaw), None);
        let new_york: Tz = "America/New_York".parse().unwrap();
        assert!(day_start(NaiveDate::MIN, new_york).is_some());
        assert!(day_start(NaiveDate::MAX, new_york).is_some());
    }

    #[test]
    fn rows_add_what_each_status_means() {
        let mut r = MessageReportRow::default();
        let g = |direction: &str, status: &str, messages, segments| GroupCount {
            key: String::new(),
            direction: direction.into(),
            status: status.into(),
            messages,
            segments,
        };
        r.add(&g("outbound", "delivered", 3, 6));
        r.add(&g("outbound", "rejected", 1, 1));
        r.add(&g("outbound", "canceled", 1, 3));
        r.add(&g("inbound", "received", 2, 2));
        assert_eq!((r.sent, r.delivered, r.failed, r.canceled, r.received), (3, 3, 1, 1, 2));
        assert_eq!(r.segments, 6, "only those of the messages that went out");
    }
}
