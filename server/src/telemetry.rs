//! Telemetry as a vocabulary: every metric Kurier exports is emitted from a
//! function here, so metric names and labels cannot drift between callers.
//! Also sets up logging and the Prometheus recorder (`/metrics`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::connectors::{ConnectorHandle, LinkStats};
use crate::domain::MessageStatus;
use crate::storage::Outcome;

/// Logs to stderr; `RUST_LOG` filters (default: info).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may exist when embedded (tests); ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            // Exported from the start, so an alert on "above 0" has a series.
            counter!("kurier_reports_set_aside_total").increment(0);
            handle
        })
        .clone()
}

/// Messages accepted through an interface.
pub fn accepted(interface: &'static str, n: usize) {
    counter!("kurier_messages_accepted_total", "interface" => interface).increment(n as u64);
}

/// A received message matched (keyword, default, opt_out, opt_in, help, none).
pub fn inbound_matched(kind: &'static str) {
    counter!("kurier_inbound_matched_total", "kind" => kind).increment(1);
}

/// A connector report about to be recorded.
pub fn outcome(outcome: &Outcome) {
    match outcome {
        Outcome::Submitted { connector, .. } => {
            counter!("kurier_submits_total", "connector" => connector.clone(), "result" => "accepted")
                .increment(1)
        }
        Outcome::SubmitFailed { connector, temporary, .. } => counter!(
            "kurier_submits_total",
            "connector" => connector.clone(),
            "result" => if *temporary { "temporary_error" } else { "rejected" }
        )
        .increment(1),
        // Not an answer: the connector never had it.
        Outcome::NotTaken { .. } => {}
        Outcome::Inbound { connector, .. } => {
            counter!("kurier_inbound_total", "connector" => connector.clone()).increment(1)
        }
        Outcome::Receipt { connector, status, .. } => counter!(
            "kurier_receipts_total",
            "connector" => connector.clone(),
            "status" => status.map_or("intermediate", MessageStatus::as_str)
        )
        .increment(1),
    }
}

/// A connector's report the database refused alone was set aside (not
/// recorded, not acknowledged).
pub fn report_set_aside() {
    counter!("kurier_reports_set_aside_total").increment(1);
}

/// One write transaction of a hot path (`intake`, `audit`, `claim`,
/// `record`) took `seconds`, from its start to its commit. On SQLite these
/// share one writer, so their sum per second is how busy it is.
pub fn store_write(kind: &'static str, seconds: f64) {
    histogram!("kurier_store_write_seconds", "kind" => kind).record(seconds);
}

/// Messages this node has handed to connectors and not yet heard back about.
pub fn in_flight(n: usize) {
    gauge!("kurier_dispatch_in_flight").set(n as f64);
}

/// One callback attempt and how it ended.
pub fn webhook_attempt(result: &'static str) {
    counter!("kurier_webhook_attempts_total", "result" => result).increment(1);
}

/// The `what` of `kurier_connector_pdus_total`, in the order of [`pdu_counts`].
const PDU_KINDS: [&str; 6] = ["submitted", "acked", "errors", "throttled", "receipts", "inbound"];

fn pdu_counts(s: &LinkStats) -> [u64; 6] {
    [&s.submitted, &s.acked, &s.errors, &s.throttled, &s.receipts, &s.inbound].map(LinkStats::get)
}

/// A connector as the last metrics read saw it: the counters it ran with
/// (kept, so that a handle replaced since is read once more) and their values.
struct Seen {
    stats: Arc<LinkStats>,
    counts: [u64; 6],
}

/// Every running connector's link state and counters, refreshed when
/// metrics are read. `kurier_connector_pdus_total` grows by what the
/// counters grew since the last read: a connector changed at run time runs
/// with fresh counters, so the old handle's last growth is added, then the
/// new one's from 0 (the counts go on, never stand still or go back). A
/// connector no longer running (removed) has its last growth added, its
/// gauges set to 0, and is forgotten.
pub fn connectors(running: &[ConnectorHandle]) {
    static SEEN: OnceLock<Mutex<HashMap<Arc<str>, Seen>>> = OnceLock::new();
    let mut seen = SEEN.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
    let grown = |from: &Seen, to: [u64; 6]| -> [u64; 6] {
        let mut d = [0; 6];
        for i in 0..6 {
            d[i] = to[i].saturating_sub(from.counts[i]);
        }
        d
    };
    let count = |name: &Arc<str>, by: [u64; 6]| {
        for (what, n) in PDU_KINDS.into_iter().zip(by) {
            counter!("kurier_connector_pdus_total", "connector" => name.to_string(), "what" => what)
                .increment(n);
        }
    };
    for c in running {
        let name = c.name.to_string();
        let s = &c.stats;
        gauge!("kurier_connector_up", "connector" => name.clone()).set(if c.is_up() { 1.0 } else { 0.0 });
        gauge!("kurier_connector_binds_up", "connector" => name.clone())
            .set(LinkStats::get(&s.binds_up) as f64);
        gauge!("kurier_connector_window_used", "connector" => name)
            .set(LinkStats::get(&s.window_used) as f64);
        let now = pdu_counts(s);
        match seen.get(&c.name) {
            Some(last) if Arc::ptr_eq(&last.stats, s) => count(&c.name, grown(last, now)),
            Some(replaced) => {
                count(&c.name, grown(replaced, pdu_counts(&replaced.stats)));
                count(&c.name, now);
            }
            None => count(&c.name, now),
        }
        seen.insert(c.name.clone(), Seen { stats: s.clone(), counts: now });
    }
    seen.retain(|name, last| {
        if running.iter().any(|c| c.name == *name) {
            return true;
        }
        count(name, grown(last, pdu_counts(&last.stats)));
        for g in ["kurier_connector_up", "kurier_connector_binds_up", "kurier_connector_window_used"] {
            gauge!(g, "connector" => name.to_string()).set(0.0);
        }
        false
    });
}

/// An HTTP answer, counted by its status class (a UI form's or sign-in's
/// redirect is `3xx`, never a server error).
pub fn http_response(status: u16) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    };
    counter!("kurier_http_responses_total", "class" => class).increment(1);
}
