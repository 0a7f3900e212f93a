//! Reports: the account's messages by day, status, connector or destination
//! country over a window of days picked in the viewer's zone, with a bar per
//! row and CSV/XLSX exports; and, over the same days, two-way traffic:
//! keyword popularity and received messages per number. The numbers are
//! `GET /api/v1/reports/messages`, `/keywords` and `/inbound`.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use chrono::{Datelike as _, NaiveDate};
use serde::Deserialize;

use super::session::Session;
use super::{OrPage, PageResult, Viewer, render};
use crate::http::api::v1::reports::{
    self, InboundReport, KeywordReport, MessageReport, MessageReportQuery, MessageReportRow, WindowQuery,
};
use crate::http::{ApiError, AppState};

/// The form: what to group by and the first and last day (inclusive).
#[derive(Deserialize, Default, Clone)]
pub struct ReportForm {
    #[serde(default)]
    by: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

impl ReportForm {
    /// The API query: the days as the times they start in the viewer's zone
    /// (`to`'s next day, so that its day is in; a day whose midnight the
    /// clocks skip starts when they land), the viewer's zone for days. A day
    /// whose start RFC 3339 cannot write (a year before 0 or after 9999) is
    /// out of range.
    fn query(&self, v: &Viewer) -> Result<MessageReportQuery, ApiError> {
        let start = |field: &str, s: &str, plus_days: u64| -> Result<Option<String>, ApiError> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            let out_of_range = || ApiError::field(field, "is out of range");
            let day = NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| ApiError::field(field, format!("'{s}' is not a date")))?
                .checked_add_days(chrono::Days::new(plus_days))
                .ok_or_else(out_of_range)?;
            let starts = reports::day_start(day, v.tz).ok_or_else(out_of_range)?.with_timezone(&v.tz);
            if !(0..=9999).contains(&starts.year()) {
                return Err(out_of_range());
            }
            Ok(Some(starts.to_rfc3339()))
        };
        Ok(MessageReportQuery {
            by: Some(if self.by.is_empty() { "day".into() } else { self.by.clone() }),
            since: start("from", &self.from, 0)?,
            until: start("to", &self.to, 1)?,
            time_zone: Some(v.tz.name().to_owned()),
        })
    }

    /// The form as a query string, for the exports.
    fn encoded(&self) -> String {
        use super::messages::urlencode;
        format!("by={}&from={}&to={}", urlencode(&self.by), urlencode(&self.from), urlencode(&self.to))
    }
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportPage {
    v: Viewer,
    active: &'static str,
    form: ReportForm,
    report: MessageReport,
    keywords: KeywordReport,
    inbound: InboundReport,
    query: String,
}

impl ReportPage {
    /// The widest row's total, for the bars.
    fn largest(&self) -> i64 {
        self.report.rows.iter().map(MessageReportRow::messages).max().unwrap_or(0).max(1)
    }

    /// A row's bar length as a share of the widest, in percent.
    fn width(&self, row: &MessageReportRow) -> i64 {
        row.messages() * 100 / self.largest()
    }

    /// A keyword's bar: its matches as a share of the most matched one's.
    fn keyword_width(&self, matches: &i64) -> i64 {
        let most = self.keywords.rows.iter().map(|r| r.matches).max().unwrap_or(0).max(1);
        matches * 100 / most
    }

    /// A number's bar: its messages as a share of the busiest number's.
    fn inbound_width(&self, messages: &i64) -> i64 {
        let most = self.inbound.rows.iter().map(|r| r.messages).max().unwrap_or(0).max(1);
        messages * 100 / most
    }

    /// A percentage as the locale writes it, one decimal.
    fn percent(&self, p: &f64) -> String {
        let text = format!("{p:.1}");
        if self.v.lang() == "en" { text } else { text.replace('.', ",") }
    }

    /// What a row's key means to a person: a status or country as words,
    /// a day as the locale writes it, "—" for none.
    fn key(&self, row: &MessageReportRow) -> String {
        if row.key.is_empty() {
            return self.v.t("common.none").to_owned();
        }
        match self.report.by.as_str() {
            "status" => self.v.status(&row.key),
            "country" => format!("{} ({})", row.key, row.label),
            _ => row.key.clone(),
        }
    }
}

impl ReportPage {
    fn by_key(&self) -> &'static str {
        match self.report.by.as_str() {
            "status" => "report.by_status",
            "connector" => "report.by_connector",
            "country" => "report.by_country",
            _ => "report.by_day",
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(form): Query<ReportForm>,
) -> PageResult {
    let q = form.query(&v).page(&v)?;
    // The two-way reports cover the same days (by default the same last 30).
    let window = || WindowQuery { since: q.since.clone(), until: q.until.clone() };
    let Json(keywords) =
        reports::keywords_report(State(state.clone()), auth.clone(), Ok(Query(window()))).await.page(&v)?;
    let Json(inbound) =
        reports::inbound_report(State(state.clone()), auth.clone(), Ok(Query(window()))).await.page(&v)?;
    let report = reports::message_report(&state, &auth, q).await.page(&v)?;
    let query = form.encoded();
    Ok(render(&ReportPage { v, active: "reports", form, report, keywords, inbound, query }))
}

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(flatten)]
    form: ReportForm,
}

pub async fn export_csv(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(e): Query<ExportQuery>,
) -> PageResult {
    let q = e.form.query(&v).page(&v)?;
    reports::messages_report_csv(State(state), auth, Ok(Query(q))).await.page(&v)
}

pub async fn export_xlsx(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(e): Query<ExportQuery>,
) -> PageResult {
    let q = e.form.query(&v).page(&v)?;
    reports::messages_report_xlsx(State(state), auth, Ok(Query(q))).await.page(&v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ui::i18n::Locale;

    #[test]
    fn the_picked_days_are_whole_local_days() {
        let mut v = Viewer::test(Locale::Pl);
        v.tz = "Europe/Warsaw".parse().unwrap();
        let f = ReportForm { by: "country".into(), from: "2026-11-01".into(), to: "2026-11-24".into() };
        let q = f.query(&v).unwrap();
        assert_eq!(q.since.as_deref(), Some("2026-11-01T00:00:00+01:00"));
        assert_eq!(q.until.as_deref(), Some("2026-11-25T00:00:00+01:00"));
        assert_eq!(q.by.as_deref(), Some("country"));
        let bad = ReportForm { from: "yesterday".into(), ..ReportForm::default() };
        assert_eq!(bad.query(&v).err().unwrap().field.as_deref(), Some("from"));
    }

    #[test]
    fn a_day_whose_midnight_the_clocks_skip_starts_when_they_land() {
        let mut v = Viewer::test(Locale::En);
        v.tz = "Africa/Cairo".parse().unwrap();
        // 2024-04-26 00:00 EET became 01:00 EEST.
        let f = ReportForm { by: "day".into(), from: "2024-04-26".into(), to: "2024-04-26".into() };
        let q = f.query(&v).unwrap();
        assert_eq!(q.since.as_deref(), Some("2024-04-26T01:00:00+03:00"));
        assert_eq!(q.until.as_deref(), Some("2024-04-27T00:00:00+03:00"));
        let day_before = ReportForm { to: "2024-04-25".into(), ..f };
        assert_eq!(day_before.query(&v).unwrap().until.as_deref(), Some("2024-04-26T01:00:00+03:00"));
    }
}
