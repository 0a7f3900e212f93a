//! Kurier: a self-hosted SMS communication platform.
//!
//! The map (arrows point one way; `domain` is used by everything):
//!
//! - [`clock`]: the wall clock schedulers read, movable in tests.
//! - [`config`]: one typed settings tree (file, then `KURIER_*` environment).
//! - [`domain`]: phone numbers, senders, texts, statuses, tags; valid by construction.
//! - [`storage`]: SQLite and PostgreSQL behind one interface; the durable queue.
//! - [`http`]: the JSON API, OpenAPI, the web UI (over the API handlers), health and metrics; writes to the queue only.
//! - [`dispatch`]: claims queued messages, hands them to connectors, records reports.
//! - [`routing`]: which connector takes a message.
//! - [`campaigns`]: templates, audiences, schedules and quiet hours, and the fan-out worker.
//! - [`inbound`]: what received messages mean: opt-out words, keywords, actions (the matching worker).
//! - [`connectors`]: the links Kurier dials (simulated SMSC; SMPP) and their contract.
//! - [`webhooks`]: signed, retried status callbacks.
//! - [`outbound`]: which addresses Kurier may connect to for users' URLs.
//! - [`mail`]: outbound e-mail over SMTP.
//! - [`billing`]: low-balance alerts and monthly fees (prices, balances and charges are in `storage`).
//! - [`notifications`]: events from billing systems rendered per subscriber, by SMS or e-mail, in their hours.
//! - [`app`]: starts the subsystems and stops them without losing work.
//! - [`bench`]: `kurier bench`, the end-to-end benchmark (drives `serve` from outside).
//! - [`telemetry`]: logging and every metric, named in one place.
//! - [`transfer`]: contacts in from CSV/XLSX files (import jobs), contacts and messages out (exports).
//! - [`credentials`]: API keys and passwords.
//! - [`identity`]: signing in (lockout, no user enumeration) and web UI sessions.
//! - [`smsc_sim`]: the standalone SMPP SMSC simulator (`kurier smsc-sim`) for demos, tests and benchmarks.

pub mod app;
pub mod bench;
pub mod billing;
pub mod campaigns;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod credentials;
pub mod dispatch;
pub mod domain;
pub mod http;
pub mod identity;
pub mod inbound;
pub mod mail;
pub mod notifications;
pub mod outbound;
pub mod routing;
pub mod smsc_sim;
pub mod spawned;
pub mod storage;
pub mod telemetry;
pub mod transfer;
pub mod webhooks;

/// Installs the TLS crypto provider (ring) once per process; outbound HTTPS
/// (callbacks) and TLS links need it. Safe to call many times.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
