//! The dashboard: today's and this month's counts (live over server-sent
//! events), a chart of the last 24 hours or 30 days, and connector health
//! as `GET /api/v1/connectors` reports it, and the balance and package use
//! as `GET /api/v1/billing` does.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::time::Duration;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike as _, Days, NaiveDate, TimeDelta, TimeZone as _, Timelike as _, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::session::{Session, session_key};
use super::{OrPage, PageResult, Viewer, render};
use crate::http::api::v1::billing::{self, BillingView};
use crate::http::api::v1::connectors::{self, ConnectorView};
use crate::http::api::v1::reports::day_start;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{Bucket, MessageCounts, now_micros};

/// How often the live dashboard sends fresh counts.
const LIVE_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
pub struct DashQuery {
    range: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    v: Viewer,
    active: &'static str,
    live: String,
    chart: String,
    days: bool,
}

#[derive(Template)]
#[template(path = "dashboard_live.html")]
struct LivePart<'a> {
    v: &'a Viewer,
    periods: Vec<(&'static str, MessageCounts)>,
    connectors: Vec<ConnectorView>,
    billing: BillingView,
}

/// The start of today and of this month in `tz` at `now`, in microseconds.
fn day_and_month_start(now: DateTime<Utc>, tz: Tz) -> (i64, i64) {
    let today = now.with_timezone(&tz).date_naive();
    // Days of the clock's calendar always have a start.
    let start = |d: NaiveDate| day_start(d, tz).map_or(0, |t| t.timestamp_micros());
    (start(today), start(today.with_day(1).unwrap_or(today)))
}

async fn live_part(state: &AppState, v: &Viewer, auth: &Auth) -> Result<String, ApiError> {
    let (day, month) = day_and_month_start(Utc::now(), v.tz);
    let today = state.store.message_counts(&auth.account_id, day).await?;
    let month = state.store.message_counts(&auth.account_id, month).await?;
    let connectors = connectors::list_connectors(State(state.clone()), auth.clone()).await?.0.connectors;
    let billing = billing::get_own_billing(State(state.clone()), auth.clone()).await?.0;
    LivePart { v, periods: vec![(v.t("dash.today"), today), (v.t("dash.month"), month)], connectors, billing }
        .render()
        .map_err(ApiError::internal)
}

pub async fn page(
    State(state): State<AppState>,
    Session(v, auth): Session,
    Query(q): Query<DashQuery>,
) -> PageResult {
    let days = q.range.as_deref() == Some("30d");
    let live = live_part(&state, &v, &auth).await.page(&v)?;
    let chart = chart(&state, &v, &auth, days).await.page(&v)?;
    Ok(render(&DashboardPage { v, active: "dashboard", live, chart, days }))
}

/// The counts and connectors as a stream of `live` events, one every
/// [`LIVE_INTERVAL`], for htmx's SSE extension to swap in. Each event
/// first looks the session up again: when the user signed out, was
/// disabled or had their password reset, the stream sends a last `ended`
/// event and ends; the page then closes its event source (`sse-close`, so
/// the browser does not reconnect) and asks for itself again, which sends
/// it to sign in.
pub async fn live(State(state): State<AppState>, Session(v, auth): Session, headers: HeaderMap) -> Response {
    let session = session_key(&headers).unwrap_or_default();
    let start = (state, v, auth, session, Some(true));
    let stream = futures_util::stream::unfold(start, |(state, v, auth, session, first)| async move {
        // `None`: the `ended` event was sent.
        let first = first?;
        if !first {
            tokio::select! {
                () = tokio::time::sleep(LIVE_INTERVAL) => {}
                () = state.shutdown.cancelled() => return None,
            }
        }
        match state.store.find_session(&session, now_micros()).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                let ended = Event::default().event("ended").data("signed out");
                return Some((Ok::<_, Infallible>(ended), (state, v, auth, session, None)));
            }
            Err(_) => return None,
        }
        let html = match live_part(&state, &v, &auth).await {
            Ok(h) => h,
            Err(_) => return None,
        };
        let event = Event::default().event("live").data(html);
        Some((Ok::<_, Infallible>(event), (state, v, auth, session, Some(false))))
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// A bar chart of outbound (with the delivered part) and inbound messages:
/// 24 hourly bars, or 30 daily ones in the viewer's zone.
async fn chart(state: &AppState, v: &Viewer, auth: &Auth, days: bool) -> Result<String, ApiError> {
    let bounds = chart_bounds(Utc::now(), v.tz, days);
    let buckets = state.store.message_buckets(&auth.account_id, &bounds).await?;
    Ok(svg_chart(v, &buckets, days))
}

/// Where the chart's bars start and the last ends, in microseconds: the
/// 24 hours of `tz` up to the one `now` is in (a zone half an hour off
/// UTC has its hours start at half past), or the 30 days up to today, each
/// from its own start in `tz`, so a 23- or 25-hour day is one bar.
fn chart_bounds(now: DateTime<Utc>, tz: Tz, days: bool) -> Vec<i64> {
    let local = now.with_timezone(&tz);
    if days {
        let today = local.date_naive();
        (0..=30)
            .rev()
            .map(|back| today - Days::new(back) + Days::new(1))
            .filter_map(|d| day_start(d, tz).map(|t| t.timestamp_micros()))
            .collect()
    } else {
        let into_hour = TimeDelta::seconds(i64::from(local.minute() * 60 + local.second()))
            + TimeDelta::nanoseconds(i64::from(local.nanosecond()));
        let this_hour = now - into_hour;
        (0..=24).map(|i| (this_hour + TimeDelta::hours(i - 23)).timestamp_micros()).collect()
    }
}

/// The chart as inline SVG. Only numbers and dates we format go into it.
fn svg_chart(v: &Viewer, buckets: &[Bucket], days: bool) -> String {
    let (w, h, pad) = (720.0_f64, 200.0_f64, 24.0_f64);
    let max = buckets.iter().map(|b| b.outbound.max(b.inbound)).max().unwrap_or(0).max(1) as f64;
    let slot = (w - pad) / buckets.len().max(1) as f64;
    let bar = (slot / 2.0 - 1.0).max(1.0);
    let title = if days { v.t("dash.chart_30d") } else { v.t("dash.chart_24h") };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{title}"><title>{title}</title>"#
    );
    let _ = write!(s, r#"<text x="0" y="10">{}</text>"#, v.num(&(max as i64)));
    for (i, b) in buckets.iter().enumerate() {
        let x = pad + i as f64 * slot;
        let y = |n: i64| (h - pad) - (n as f64 / max) * (h - pad - 14.0);
        let out_y = y(b.outbound);
        let del_y = y(b.delivered);
        let in_y = y(b.inbound);
        let base = h - pad;
        let _ = write!(
            s,
            r#"<rect class="out" x="{x:.1}" y="{out_y:.1}" width="{bar:.1}" height="{:.1}"><title>{}</title></rect>"#,
            base - out_y,
            v.num(&b.outbound)
        );
        let _ = write!(
            s,
            r#"<rect class="del" x="{x:.1}" y="{del_y:.1}" width="{bar:.1}" height="{:.1}"><title>{}</title></rect>"#,
            base - del_y,
            v.num(&b.delivered)
        );
        let _ = write!(
            s,
            r#"<rect class="in" x="{:.1}" y="{in_y:.1}" width="{bar:.1}" height="{:.1}"><title>{}</title></rect>"#,
            x + bar + 1.0,
            base - in_y,
            v.num(&b.inbound)
        );
        let every = if days { 5 } else { 4 };
        if i % every == 0 {
            let at = Utc.timestamp_micros(b.start).single().unwrap_or_default().with_timezone(&v.tz);
            let label = if days { at.format("%d.%m").to_string() } else { at.format("%H:%M").to_string() };
            let _ = write!(s, r#"<text x="{x:.1}" y="{:.1}">{label}</text>"#, h - 8.0);
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_has_a_bar_per_bucket_and_scales_to_the_largest() {
        let v = Viewer::test(super::super::i18n::Locale::En);
        let buckets: Vec<Bucket> = (0..24)
            .map(|i| Bucket { start: i * 3_600_000_000, outbound: i, delivered: i / 2, inbound: 1 })
            .collect();
        let svg = svg_chart(&v, &buckets, false);
        assert_eq!(svg.matches(r#"class="out""#).count(), 24);
        assert!(svg.contains(">23<"), "the scale shows the largest bar: {svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn today_starts_when_the_clocks_land_on_a_day_whose_midnight_they_skip() {
        let cairo: Tz = "Africa/Cairo".parse().unwrap();
        // 2024-04-26 00:00 EET became 01:00 EEST.
        let (today, month) = day_and_month_start(utc(2024, 4, 26, 10, 0), cairo);
        assert_eq!(today, utc(2024, 4, 25, 22, 0).timestamp_micros());
        assert_eq!(month, utc(2024, 3, 31, 22, 0).timestamp_micros());
    }

    #[test]
    fn daily_bars_start_at_each_local_midnight_across_a_dst_change() {
        let cairo: Tz = "Africa/Cairo".parse().unwrap();
        let bounds = chart_bounds(utc(2024, 5, 10, 12, 0), cairo, true);
        assert_eq!(bounds.len(), 31, "30 bars");
        let local = |us: i64| Utc.timestamp_micros(us).unwrap().with_timezone(&cairo);
        let dates: Vec<String> =
            bounds.iter().map(|&b| local(b).format("%Y-%m-%d %H:%M").to_string()).collect();
        assert_eq!(dates[0], "2024-04-11 00:00");
        assert_eq!(dates[15], "2024-04-26 01:00", "the day whose midnight was skipped");
        assert_eq!(dates[16], "2024-04-27 00:00");
        assert_eq!(dates[29], "2024-05-10 00:00", "today");
        assert_eq!(dates[30], "2024-05-11 00:00");
    }

    #[test]
    fn hourly_bars_follow_the_hours_of_a_zone_half_an_hour_off_utc() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        // 14:45 in Kolkata.
        let bounds = chart_bounds(utc(2024, 5, 10, 9, 15), kolkata, false);
        assert_eq!(bounds.len(), 25, "24 bars");
        assert_eq!(bounds[23], utc(2024, 5, 10, 8, 30).timestamp_micros(), "the hour now is in: 14:00 local");
        assert_eq!(bounds[0], utc(2024, 5, 9, 9, 30).timestamp_micros());
        let buckets: Vec<Bucket> =
            bounds[..24].iter().map(|&start| Bucket { start, ..Bucket::default() }).collect();
        let svg = svg_chart(
            &Viewer { tz: kolkata, ..Viewer::test(super::super::i18n::Locale::En) },
            &buckets,
            false,
        );
        assert!(svg.contains(">15:00<") && svg.contains(">11:00<"), "labelled by local hours: {svg}");
    }
}
