//! One typed settings tree: defaults, then the TOML file, then environment
//! variables `KURIER_<SECTION>_<KEY>` (e.g. `KURIER_DATABASE_URL`).
//!
//! Bootstrap settings live here; what operators change at run time
//! (connectors and routes added later, users, prices) lives in the database.
//! A bad value is an error that names the key it came from.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::Region;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub messages: MessagesConfig,
    pub dispatch: DispatchConfig,
    pub webhooks: WebhooksConfig,
    pub smtp: SmtpConfig,
    pub inbound: InboundConfig,
    pub billing: BillingConfig,
    pub auth: AuthConfig,
    #[serde(skip_serializing)]
    pub connectors: Vec<ConnectorConfig>,
    #[serde(skip_serializing)]
    pub routes: Vec<RouteConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the HTTP API and web UI.
    pub http_listen: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// This node's name in a cluster sharing one PostgreSQL. It must be stable
    /// across restarts (work this node claimed is recovered at its next start)
    /// and unique per node. Defaults to the host name.
    pub node_id: Option<String>,
    /// Seconds connectors get on SIGINT/SIGTERM to finish their windows before
    /// being stopped (keep it above SMPP `response_timeout_secs`).
    pub shutdown_grace_secs: u64,
    /// How this server is reached from outside (links in messages, e.g. the
    /// notification preferences page); default `http://<http_listen>`.
    pub public_url: Option<String>,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For`
    /// is believed: a request from one of them is taken to come from the
    /// nearest forwarded address that is not a trusted proxy (audit log,
    /// API key allow-lists). Empty: the TCP peer, headers ignored.
    pub trusted_proxies: Vec<String>,
    /// Seconds a client has to send a request's headers (from its first
    /// byte, or from when a kept-alive connection is ready for the next).
    pub http_header_timeout_secs: u64,
    /// HTTP connections open at once, at most; the next waits in the
    /// kernel's backlog until one closes.
    pub max_http_connections: usize,
    /// Addresses or networks Kurier never connects to on a user's behalf
    /// (callbacks, webhooks, forwards, notification attachments), beside
    /// the link-local, unspecified and multicast ones it always refuses
    /// (`outbound.rs`); e.g. `["10.0.0.0/8", "127.0.0.0/8"]` where the
    /// API serves users who must not reach the internal network.
    pub outbound_denied_networks: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://kurier.db` (file, created if missing) or `postgres://user@host/db`.
    pub url: String,
    /// Connections for reads (and, on PostgreSQL, writes).
    pub max_connections: u32,
    /// SQLite durability: `full` syncs every commit to disk (survives power
    /// loss); `normal` survives a crash of Kurier but not of the machine.
    pub sqlite_synchronous: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessagesConfig {
    /// Region (e.g. `PL`) used to read numbers written without a country code.
    pub default_region: Option<String>,
    /// Longest text accepted, in segments.
    pub max_segments: usize,
    /// Most recipients in one API request.
    pub max_recipients: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Messages claimed from the queue in one transaction.
    pub batch_size: usize,
    /// Most messages this node holds in `sending` at once (claimed, not yet
    /// answered by a connector). A crash can submit at most this many twice.
    pub max_in_flight: usize,
    /// Submission attempts before a message becomes `failed`.
    pub max_attempts: u32,
    /// First retry delay; doubles with each attempt up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// How long a claim on a message lasts without renewal before another
    /// node may take it over (the claiming node renews it while alive).
    pub lease_secs: u64,
    /// How often an idle dispatcher looks for due work.
    pub poll_interval_ms: u64,
    /// Seconds after submission without a delivery report before the
    /// connector is asked for the message's state (and again as often).
    pub receipt_check_secs: u64,
    /// Seconds after submission without a final delivery report before a
    /// `sent` message becomes `expired` (0: wait for ever).
    pub receipt_expiry_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Attempts per callback before it is given up.
    pub max_attempts: u32,
    /// First retry delay; doubles with each attempt up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// How long a callback is retried after it was created (or re-sent by
    /// hand): the last attempt falls at the end of this window.
    pub retry_window_secs: u64,
    /// Time limit of one HTTP attempt.
    pub timeout_secs: u64,
    /// Callbacks sent at once.
    pub concurrency: usize,
}

/// Outbound e-mail (notifications, forwarded messages). Without `host`,
/// nothing is sent by e-mail and e-mail deliveries fail with that reason.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: Option<String>,
    pub port: u16,
    /// `starttls` (upgrade after connecting), `tls` (TLS from the start),
    /// or `none` (plain, for a relay on localhost).
    pub tls: String,
    pub username: Option<String>,
    #[serde(skip_serializing)]
    pub password: Option<Secret>,
    /// The From of every message, e.g. `Kurier <noreply@example.com>`.
    pub from: String,
    /// Time limit of one SMTP conversation.
    pub timeout_secs: u64,
    /// E-mails forwarding received messages: first retry delay after the
    /// mail server could not be reached, doubling up to `retry_max_ms`,
    /// for `retry_window_secs` after the message came.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub retry_window_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: 587,
            tls: "starttls".into(),
            username: None,
            password: None,
            from: "Kurier <kurier@localhost>".into(),
            timeout_secs: 30,
            retry_base_ms: 30_000,
            retry_max_ms: 3_600_000,
            retry_window_secs: 86_400,
        }
    }
}

/// Two-way messaging: received messages, keywords and auto-replies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Auto-replies (keyword answers, HELP, opt-out confirmations) one
    /// sender gets per `auto_reply_window_secs` at most, so Kurier never
    /// loops with another auto-responder; messages past it are still
    /// stored and matched, only not answered.
    pub auto_reply_limit: u32,
    pub auto_reply_window_secs: u64,
    /// Received messages of one sender per `forward_window_secs` whose
    /// forwards by SMS or e-mail and notifications go out at most, so a
    /// storm does not become a storm of texts and e-mails to staff; past
    /// it the message is still stored, matched and sent to webhooks.
    pub forward_limit: u32,
    pub forward_window_secs: u64,
    /// How long the parts of a long received message wait for the rest
    /// before they are stored as one message flagged incomplete.
    pub reassembly_timeout_secs: u64,
}

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            auto_reply_limit: 5,
            auto_reply_window_secs: 3_600,
            forward_limit: 20,
            forward_window_secs: 3_600,
            reassembly_timeout_secs: 600,
        }
    }
}

/// Signing in to the web UI: lockout after wrong passwords, and sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Wrong passwords in a row that lock a user.
    pub max_failed_sign_ins: u32,
    /// How long a lockout lasts (an admin's password reset ends it sooner).
    pub lockout_secs: u64,
    /// How long a web UI session lives after signing in.
    pub session_lifetime_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { max_failed_sign_ins: 5, lockout_secs: 15 * 60, session_lifetime_secs: 12 * 3600 }
    }
}

/// Billing: who manages tariffs and balances, and low-balance alerts.
/// Prices, tariffs and balances themselves live in the database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// The account whose keys manage tariffs, packages, accounts' tariffs
    /// and top-ups: the platform operator's (the first start creates
    /// `default`).
    pub operator_account: String,
    /// How often the billing worker looks for alerts to send and monthly
    /// fees to charge.
    pub poll_secs: u64,
    /// How long a low-balance e-mail that could not be sent waits before
    /// the next try; it is given up after `alert_max_attempts`.
    pub alert_retry_secs: u64,
    pub alert_max_attempts: u32,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            operator_account: "default".into(),
            poll_secs: 60,
            alert_retry_secs: 300,
            alert_max_attempts: 5,
        }
    }
}

/// One link Kurier dials. In the file, `name` and `kind` sit beside the
/// settings of that kind, all in one `[[connectors]]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorConfig {
    pub name: String,
    pub settings: ConnectorSettings,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnectorSettings {
    Sim(SimConfig),
    Smpp(SmppConfig),
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    Sim,
    Smpp,
}

impl ConnectorKind {
    /// The name used in the configuration and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sim => "sim",
            Self::Smpp => "smpp",
        }
    }
}

impl ConnectorConfig {
    pub fn sim(name: &str, sim: SimConfig) -> Self {
        Self { name: name.into(), settings: ConnectorSettings::Sim(sim) }
    }

    /// The settings as the file has them, secrets written `***`.
    pub fn settings_json(&self) -> serde_json::Value {
        match &self.settings {
            ConnectorSettings::Sim(c) => serde_json::to_value(c),
            ConnectorSettings::Smpp(c) => serde_json::to_value(c),
        }
        .unwrap_or_default()
    }

    pub fn kind(&self) -> ConnectorKind {
        match self.settings {
            ConnectorSettings::Sim(_) => ConnectorKind::Sim,
            ConnectorSettings::Smpp(_) => ConnectorKind::Smpp,
        }
    }
}

impl ConnectorConfig {
    /// Checks the settings a connector needs to work, wherever they come
    /// from (the file, the API); `at` prefixes the key named in an error
    /// (`connectors[2].` in the file, nothing in the API).
    pub fn check(&self, at: &str) -> Result<(), ConfigError> {
        match &self.settings {
            ConnectorSettings::Sim(sim) => {
                Bounds::count(format!("{at}window"), sim.window, 1, MAX_WINDOW).check()
            }
            ConnectorSettings::Smpp(smpp) => validate_smpp(at, smpp),
        }
    }

    /// A connector from its name, its kind and its other settings as a
    /// table (the API's JSON, a form's TOML), read exactly as the file's
    /// `[[connectors]]` table is; an error names the key at fault.
    pub fn from_table(name: &str, kind: &str, settings: &toml::Table) -> Result<Self, ConfigError> {
        if !is_connector_name(name) {
            return Err(key_error("name", "must be 1 to 64 letters, digits, '-', '_' or '.'"));
        }
        let mut table = settings.clone();
        table.insert("name".into(), toml::Value::String(name.to_owned()));
        table.insert("kind".into(), toml::Value::String(kind.to_owned()));
        let config: Self = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| key_error(e.path().to_string(), e.inner().to_string()))?;
        config.check("")?;
        Ok(config)
    }
}

fn is_connector_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl RouteConfig {
    /// Checks the prefix (the connector is checked by whoever knows them).
    pub fn check(&self, at: &str) -> Result<(), ConfigError> {
        let digits = self.prefix.strip_prefix('+').unwrap_or("");
        if digits.is_empty() || digits.len() > 15 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(key_error(format!("{at}prefix"), "must be + followed by digits, e.g. +48"));
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for ConnectorConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(d)?;
        let name = match table.remove("name") {
            Some(toml::Value::String(n)) => n,
            Some(_) => return Err(D::Error::custom("`name` must be text")),
            None => return Err(D::Error::custom("`name` is required")),
        };
        let kind = match table.remove("kind") {
            Some(toml::Value::String(k)) => k,
            _ => return Err(D::Error::custom("`kind` is required: \"sim\" or \"smpp\"")),
        };
        let rest = toml::Value::Table(table);
        let settings = match kind.as_str() {
            "sim" => ConnectorSettings::Sim(SimConfig::deserialize(rest).map_err(D::Error::custom)?),
            "smpp" => ConnectorSettings::Smpp(SmppConfig::deserialize(rest).map_err(D::Error::custom)?),
            other => {
                return Err(D::Error::custom(format!(
                    "unknown kind `{other}`; expected \"sim\" or \"smpp\""
                )));
            }
        };
        Ok(Self { name, settings })
    }
}

/// A secret from the configuration; never printed, and written out (the
/// API's view of a connector's settings) only as `***` when set.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "***" })
    }
}

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// How a connector binds: one transceiver session, or a transmitter and a
/// receiver session.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum BindMode {
    #[serde(rename = "transceiver")]
    Transceiver,
    #[serde(rename = "transmitter+receiver")]
    TransmitterReceiver,
}

/// How long messages go out.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LongMessages {
    /// Concatenation header in the user data, 8-bit reference.
    Udh8,
    /// Concatenation header in the user data, 16-bit reference.
    Udh16,
    /// One submit_sm per part with sar_* TLVs.
    Sar,
    /// The whole text in one submit_sm in the message_payload TLV.
    Payload,
}

/// How the SMSC writes message ids in delivery receipts compared with the
/// id it returned in submit_sm_resp.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptIdFormat {
    /// The same text in both.
    AsIs,
    /// The submit answer is hexadecimal, the receipt decimal.
    HexToDecimal,
    /// The submit answer is decimal, the receipt hexadecimal.
    DecimalToHex,
}

/// A connection to an operator's SMSC over SMPP 3.4 (`kind = "smpp"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmppConfig {
    pub host: String,
    pub port: u16,
    pub system_id: String,
    pub password: Secret,
    pub system_type: String,
    pub bind: BindMode,
    /// Sessions (binds) of this connector; with `transmitter+receiver`, this
    /// many of each.
    pub binds: usize,
    /// Unanswered submit_sm at most, per session.
    pub window: usize,
    /// Messages per second over the whole connector (all sessions); 0: no limit.
    pub throughput: u32,
    pub tls: bool,
    /// Accept any server certificate (test SMSCs only).
    pub tls_insecure: bool,
    pub enquire_link_secs: u64,
    /// How long to wait for any response before the session is dropped.
    pub response_timeout_secs: u64,
    /// Reconnect delay: doubles from `reconnect_min_ms` up to `reconnect_max_ms`.
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    /// Source address TON/NPI; unset: chosen from the sender (alphanumeric:
    /// 5/0, international number: 1/1, short code: 3/0).
    pub source_ton: Option<u8>,
    pub source_npi: Option<u8>,
    pub dest_ton: u8,
    pub dest_npi: u8,
    /// data_coding for GSM-alphabet texts: 0 (SMSC default), 1 (IA5) or 3 (Latin-1).
    pub default_data_coding: u8,
    /// Pack GSM 7-bit texts into septets (most SMSCs want unpacked octets).
    pub gsm_packed: bool,
    pub service_type: String,
    pub registered_delivery: u8,
    /// Validity period in seconds; unset: the SMSC's default.
    pub validity_secs: Option<u64>,
    pub long_messages: LongMessages,
    pub receipt_id_format: ReceiptIdFormat,
    /// Sender used when a message has none.
    pub default_sender: Option<String>,
}

impl Default for SmppConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 2775,
            system_id: String::new(),
            password: Secret::default(),
            system_type: String::new(),
            bind: BindMode::Transceiver,
            binds: 1,
            window: 10,
            throughput: 0,
            tls: false,
            tls_insecure: false,
            enquire_link_secs: 30,
            response_timeout_secs: 10,
            reconnect_min_ms: 1_000,
            reconnect_max_ms: 60_000,
            source_ton: None,
            source_npi: None,
            dest_ton: 1,
            dest_npi: 1,
            default_data_coding: 0,
            gsm_packed: false,
            service_type: String::new(),
            registered_delivery: 1,
            validity_secs: None,
            long_messages: LongMessages::Udh8,
            receipt_id_format: ReceiptIdFormat::AsIs,
            default_sender: None,
        }
    }
}

/// The in-process simulated SMSC: what share of messages ends how, and when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Delay between submission and the delivery report.
    pub receipt_delay_ms: u64,
    /// Delay of the submit answer (the SMSC's own latency).
    pub submit_delay_ms: u64,
    /// Outcome weights (need not add up to 100).
    pub delivered: u32,
    pub undelivered: u32,
    pub expired: u32,
    /// Refused at submission, permanently (ends `rejected`).
    pub rejected: u32,
    /// Refused at submission with a temporary error (retried).
    pub temporary_error: u32,
    /// Seed of the outcome sequence; the same seed gives the same outcomes.
    pub seed: u64,
    /// Submissions answered at once.
    pub window: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            receipt_delay_ms: 100,
            submit_delay_ms: 0,
            delivered: 100,
            undelivered: 0,
            expired: 0,
            rejected: 0,
            temporary_error: 0,
            seed: 1,
            window: 100,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// E.164 prefix such as `+48`; the longest matching prefix wins.
    pub prefix: String,
    pub connector: String,
    /// Among routes with the same prefix, the lowest priority is tried
    /// first; the others take over when it is down.
    #[serde(default)]
    pub priority: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 2 * 1024 * 1024,
            node_id: None,
            shutdown_grace_secs: 15,
            public_url: None,
            trusted_proxies: Vec::new(),
            http_header_timeout_secs: 30,
            max_http_connections: 512,
            outbound_denied_networks: Vec::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: "sqlite://kurier.db".into(), max_connections: 8, sqlite_synchronous: "full".into() }
    }
}

impl Default for MessagesConfig {
    fn default() -> Self {
        Self { default_region: None, max_segments: 10, max_recipients: 10_000 }
    }
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            max_in_flight: 2_000,
            max_attempts: 5,
            retry_base_ms: 1_000,
            retry_max_ms: 300_000,
            lease_secs: 60,
            poll_interval_ms: 50,
            receipt_check_secs: 600,
            receipt_expiry_secs: 259_200,
        }
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            max_attempts: 20,
            retry_base_ms: 10_000,
            retry_max_ms: 14_400_000,
            retry_window_secs: 86_400,
            timeout_secs: 10,
            concurrency: 32,
        }
    }
}

/// A configuration that cannot be used, with the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: String, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
}

fn key_error(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Key { key: key.into(), message: message.into() }
}

/// Sessions one connector may open, at most (with `transmitter+receiver`,
/// of each kind): every node builds a session list this long at start.
pub const MAX_BINDS: u64 = 64;
/// Unanswered submissions per session, at most.
pub const MAX_WINDOW: u64 = 10_000;
/// The longest SMPP `validity_secs`: ten years (an absolute validity period
/// writes a two-digit year).
pub const MAX_VALIDITY_SECS: u64 = 10 * 365 * DAY;
/// The shortest `dispatch.lease_secs`: a claim is renewed every third of
/// its lease, at least once a second.
pub const MIN_LEASE_SECS: u64 = 3;

const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

/// The bounds of one setting that counts attempts or sets a delay, a
/// period, a lease or a time limit. Below its minimum a worker spins
/// (retries, asks again or takes a live claim over at once); above its
/// maximum a due time computed from it would overflow.
struct Bounds {
    key: String,
    value: u64,
    min: u64,
    max: u64,
    unit: &'static str,
    /// The other setting the minimum comes from, if any.
    min_from: Option<&'static str>,
}

impl Bounds {
    fn new(key: impl Into<String>, value: u64, min: u64, max: u64, unit: &'static str) -> Self {
        Self { key: key.into(), value, min, max, unit, min_from: None }
    }

    fn ms(key: impl Into<String>, value: u64, min: u64, max: u64) -> Self {
        Self::new(key, value, min, max, " ms")
    }

    fn secs(key: impl Into<String>, value: u64, min: u64, max: u64) -> Self {
        Self::new(key, value, min, max, " seconds")
    }

    fn count(key: impl Into<String>, value: impl TryInto<u64>, min: u64, max: u64) -> Self {
        Self::new(key, value.try_into().unwrap_or(u64::MAX), min, max, "")
    }

    fn below_is(self, other: &'static str) -> Self {
        Self { min_from: Some(other), ..self }
    }

    fn check(self) -> Result<(), ConfigError> {
        if (self.min..=self.max).contains(&self.value) {
            return Ok(());
        }
        let (min, max, unit) = (self.min, self.max, self.unit);
        let from = self.min_from.map(|o| format!(" (not below {o})")).unwrap_or_default();
        Err(key_error(self.key, format!("must be {min} to {max}{unit}{from}, not {}", self.value)))
    }
}

/// Sections that `KURIER_<SECTION>_<KEY>` may address.
const ENV_SECTIONS: &[&str] =
    &["server", "database", "messages", "dispatch", "webhooks", "smtp", "inbound", "billing", "auth"];

impl Config {
    /// Loads defaults, then `path` if given, then the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let file = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|source| ConfigError::Read { path: p.display().to_string(), source })?;
                Some((p.display().to_string(), text))
            }
            None => None,
        };
        Self::from_sources(file.as_ref().map(|(p, t)| (p.as_str(), t.as_str())), std::env::vars())
    }

    /// Builds the tree from a file's text and a set of environment variables.
    pub fn from_sources(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let defaults = toml::Table::try_from(Config::default()).expect("defaults serialise");
        let mut tree = match file {
            Some((path, text)) => text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Syntax { path: path.to_owned(), message: e.to_string() })?,
            None => toml::Table::new(),
        };
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix("KURIER_") else { continue };
            let rest = rest.to_ascii_lowercase();
            let Some(section) =
                ENV_SECTIONS.iter().filter(|s| rest.starts_with(&format!("{s}_"))).max_by_key(|s| s.len())
            else {
                continue; // KURIER_ADMIN_PASSWORD and the like are not settings
            };
            let key = &rest[section.len() + 1..];
            let default = defaults.get(*section).and_then(|s| s.get(key));
            let value = env_value(&raw, default)
                .map_err(|m| key_error(format!("{section}.{key} (from {name})"), m))?;
            tree.entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| key_error(*section, "must be a table"))?
                .insert(key.to_owned(), value);
        }
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(tree))
            .map_err(|e| key_error(e.path().to_string(), e.inner().to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let db = &self.database.url;
        if !(db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            return Err(key_error("database.url", "must start with sqlite: or postgres://"));
        }
        if !matches!(self.database.sqlite_synchronous.as_str(), "full" | "normal") {
            return Err(key_error("database.sqlite_synchronous", "must be \"full\" or \"normal\""));
        }
        if let Some(r) = &self.messages.default_region {
            r.parse::<Region>().map_err(|e| key_error("messages.default_region", e.to_string()))?;
        }
        for (key, v) in [
            ("messages.max_recipients", self.messages.max_recipients),
            ("dispatch.batch_size", self.dispatch.batch_size),
            ("dispatch.max_in_flight", self.dispatch.max_in_flight),
            ("webhooks.concurrency", self.webhooks.concurrency),
            ("server.max_http_connections", self.server.max_http_connections),
        ] {
            if v == 0 {
                return Err(key_error(key, "must be at least 1"));
            }
        }
        if !matches!(self.smtp.tls.as_str(), "starttls" | "tls" | "none") {
            return Err(key_error("smtp.tls", "must be \"starttls\", \"tls\" or \"none\""));
        }
        if self.smtp.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(key_error("smtp.from", "must be an address such as Kurier <noreply@example.com>"));
        }
        if self.auth.max_failed_sign_ins == 0 {
            return Err(key_error("auth.max_failed_sign_ins", "must be at least 1"));
        }
        self.check_timings()?;
        for (key, list) in [
            ("server.trusted_proxies", &self.server.trusted_proxies),
            ("server.outbound_denied_networks", &self.server.outbound_denied_networks),
        ] {
            for (i, p) in list.iter().enumerate() {
                if !crate::domain::is_network(p) {
                    return Err(key_error(
                        format!("{key}[{i}]"),
                        format!("'{p}' is not an address or network such as 10.0.0.0/8"),
                    ));
                }
            }
        }
        let mut names = BTreeMap::new();
        for (i, c) in self.connectors.iter().enumerate() {
            if c.name.trim().is_empty() {
                return Err(key_error(format!("connectors[{i}].name"), "must not be empty"));
            }
            if names.insert(c.name.clone(), i).is_some() {
                return Err(key_error(
                    format!("connectors[{i}].name"),
                    format!("'{}' is used twice", c.name),
                ));
            }
            c.check(&format!("connectors[{i}]."))?;
        }
        for (i, r) in self.routes.iter().enumerate() {
            r.check(&format!("routes[{i}]."))?;
            if !self.connectors.iter().any(|c| c.name == r.connector) {
                return Err(key_error(
                    format!("routes[{i}].connector"),
                    format!("no connector is named '{}'", r.connector),
                ));
            }
        }
        Ok(())
    }

    /// Every retry, backoff, period, lease and time limit, and the longest
    /// text, within its bounds ([`Bounds`]; docs/configuration.md lists them).
    fn check_timings(&self) -> Result<(), ConfigError> {
        let (d, w, m, i, b) = (&self.dispatch, &self.webhooks, &self.smtp, &self.inbound, &self.billing);
        let server = [
            Bounds::secs("server.shutdown_grace_secs", self.server.shutdown_grace_secs, 0, HOUR),
            Bounds::secs("server.http_header_timeout_secs", self.server.http_header_timeout_secs, 1, HOUR),
        ];
        let dispatch = [
            Bounds::count("dispatch.max_attempts", d.max_attempts, 1, 100),
            Bounds::ms("dispatch.retry_base_ms", d.retry_base_ms, 100, HOUR * 1_000),
            Bounds::ms("dispatch.retry_max_ms", d.retry_max_ms, d.retry_base_ms, DAY * 1_000)
                .below_is("retry_base_ms"),
            Bounds::secs("dispatch.lease_secs", d.lease_secs, MIN_LEASE_SECS, HOUR),
            Bounds::ms("dispatch.poll_interval_ms", d.poll_interval_ms, 5, 60_000),
            Bounds::secs("dispatch.receipt_check_secs", d.receipt_check_secs, 1, 7 * DAY),
            Bounds::secs("dispatch.receipt_expiry_secs", d.receipt_expiry_secs, 0, 30 * DAY),
        ];
        let webhooks = [
            Bounds::count("webhooks.max_attempts", w.max_attempts, 1, 1_000),
            Bounds::ms("webhooks.retry_base_ms", w.retry_base_ms, 100, HOUR * 1_000),
            Bounds::ms("webhooks.retry_max_ms", w.retry_max_ms, w.retry_base_ms, DAY * 1_000)
                .below_is("retry_base_ms"),
            Bounds::secs("webhooks.retry_window_secs", w.retry_window_secs, 1, 30 * DAY),
            Bounds::secs("webhooks.timeout_secs", w.timeout_secs, 1, HOUR),
        ];
        // E-mails have no attempt limit, only their window: the delays
        // alone keep a mail server that is away from a storm of attempts.
        let smtp = [
            Bounds::secs("smtp.timeout_secs", m.timeout_secs, 1, HOUR),
            Bounds::ms("smtp.retry_base_ms", m.retry_base_ms, 1_000, HOUR * 1_000),
            Bounds::ms("smtp.retry_max_ms", m.retry_max_ms, m.retry_base_ms.max(60_000), DAY * 1_000)
                .below_is("60000 and retry_base_ms"),
            Bounds::secs("smtp.retry_window_secs", m.retry_window_secs, 60, 30 * DAY),
        ];
        let rest = [
            // More parts than concatenation can number are never sent
            // (`connectors/smpp/outbound.rs`).
            Bounds::count("messages.max_segments", self.messages.max_segments, 1, sms_text::MAX_PARTS as u64),
            Bounds::secs("inbound.auto_reply_window_secs", i.auto_reply_window_secs, 1, 30 * DAY),
            Bounds::secs("inbound.forward_window_secs", i.forward_window_secs, 1, 30 * DAY),
            Bounds::secs("inbound.reassembly_timeout_secs", i.reassembly_timeout_secs, 1, DAY),
            Bounds::secs("billing.poll_secs", b.poll_secs, 1, DAY),
            Bounds::secs("billing.alert_retry_secs", b.alert_retry_secs, 10, DAY),
            Bounds::count("billing.alert_max_attempts", b.alert_max_attempts, 1, 100),
            Bounds::secs("auth.lockout_secs", self.auth.lockout_secs, 1, 30 * DAY),
            Bounds::secs("auth.session_lifetime_secs", self.auth.session_lifetime_secs, 60, 31 * DAY),
        ];
        server.into_iter().chain(dispatch).chain(webhooks).chain(smtp).chain(rest).try_for_each(Bounds::check)
    }

    pub fn default_region(&self) -> Option<Region> {
        self.messages.default_region.as_deref().and_then(|r| r.parse().ok())
    }

    /// The connectors to run: the configured ones, or the simulated `sim`
    /// when none are configured (the embedded default).
    pub fn effective_connectors(&self) -> Vec<ConnectorConfig> {
        if self.connectors.is_empty() {
            vec![ConnectorConfig::sim("sim", SimConfig::default())]
        } else {
            self.connectors.clone()
        }
    }

    pub fn node_id(&self) -> String {
        self.server.node_id.clone().unwrap_or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "local".into())
        })
    }
}

fn validate_smpp(at: &str, c: &SmppConfig) -> Result<(), ConfigError> {
    let key = |k: &str| format!("{at}{k}");
    if c.host.trim().is_empty() {
        return Err(key_error(key("host"), "is required"));
    }
    if c.system_id.is_empty() || c.system_id.len() > 15 {
        return Err(key_error(key("system_id"), "is required, at most 15 characters"));
    }
    if c.password.expose().len() > 8 {
        return Err(key_error(key("password"), "SMPP passwords have at most 8 characters"));
    }
    if c.system_type.len() > 12 {
        return Err(key_error(key("system_type"), "at most 12 characters"));
    }
    if c.service_type.len() > 5 {
        return Err(key_error(key("service_type"), "at most 5 characters"));
    }
    Bounds::count(key("binds"), c.binds, 1, MAX_BINDS).check()?;
    Bounds::count(key("window"), c.window, 1, MAX_WINDOW).check()?;
    if ![0, 1, 3].contains(&c.default_data_coding) {
        return Err(key_error(key("default_data_coding"), "must be 0, 1 or 3"));
    }
    Bounds::secs(key("enquire_link_secs"), c.enquire_link_secs, 1, HOUR).check()?;
    Bounds::secs(key("response_timeout_secs"), c.response_timeout_secs, 1, HOUR).check()?;
    Bounds::ms(key("reconnect_min_ms"), c.reconnect_min_ms, 50, 60_000).check()?;
    Bounds::ms(key("reconnect_max_ms"), c.reconnect_max_ms, c.reconnect_min_ms, HOUR * 1_000)
        .below_is("reconnect_min_ms")
        .check()?;
    if let Some(secs) = c.validity_secs {
        Bounds::secs(key("validity_secs"), secs, 1, MAX_VALIDITY_SECS).check()?;
    }
    if let Some(s) = &c.default_sender {
        crate::domain::SenderId::parse(s).map_err(|e| key_error(key("default_sender"), e.to_string()))?;
    }
    Ok(())
}

/// Reads an environment value as the type the key's default has: numbers and
/// booleans are parsed, everything else is taken as text.
fn env_value(raw: &str, default: Option<&toml::Value>) -> Result<toml::Value, String> {
    match default {
        // A list from the environment is comma-separated.
        Some(toml::Value::Array(_)) => Ok(toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        )),
        Some(toml::Value::Integer(_)) => raw
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("expected a whole number, got '{raw}'")),
        Some(toml::Value::Boolean(_)) => match raw.trim() {
            "true" | "1" => Ok(toml::Value::Boolean(true)),
            "false" | "0" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("expected true or false, got '{raw}'")),
        },
        Some(toml::Value::Float(_)) => raw
            .trim()
            .parse::<f64>()
            .map(toml::Value::Float)
            .map_err(|_| format!("expected a number, got '{raw}'")),
        Some(toml::Value::String(_)) | None => Ok(toml::Value::String(raw.to_owned())),
        Some(_) => Err("cannot be set from the environment".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn no_file_and_no_environment_gives_the_embedded_default() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(c.server.http_listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database.url, "sqlite://kurier.db");
        let conns = c.effective_connectors();
        assert_eq!(conns.len(), 1);
        assert_eq!(conns[0].name, "sim");
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let file = "[database]\nurl = \"sqlite://a.db\"\n[server]\nhttp_listen = \"0.0.0.0:9000\"\n";
        let c = Config::from_sources(
            Some(("k.toml", file)),
            env(&[
                ("KURIER_DATABASE_URL", "postgres://x@127.0.0.1/db"),
                ("KURIER_DISPATCH_BATCH_SIZE", "42"),
                ("KURIER_MESSAGES_DEFAULT_REGION", "PL"),
                ("KURIER_ADMIN_PASSWORD", "not a setting"),
            ]),
        )
        .unwrap();
        assert_eq!(c.database.url, "postgres://x@127.0.0.1/db");
        assert_eq!(c.server.http_listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.dispatch.batch_size, 42);
        assert!(c.default_region().is_some());
    }

    #[test]
    fn connectors_and_routes_come_from_the_file() {
        let file = r#"
[[connectors]]
name = "a"
kind = "sim"
delivered = 90
undelivered = 5
rejected = 5
seed = 7

[[connectors]]
name = "operator-a"
kind = "smpp"
host = "127.0.0.1"
port = 2775
system_id = "kurier"
password = "secret"
bind = "transmitter+receiver"
window = 10
throughput = 100
tls = false

[[routes]]
prefix = "+48"
connector = "a"
"#;
        let c = Config::from_sources(Some(("k.toml", file)), env(&[])).unwrap();
        assert!(matches!(&c.connectors[0].settings, ConnectorSettings::Sim(s) if s.undelivered == 5));
        let ConnectorSettings::Smpp(smpp) = &c.connectors[1].settings else { panic!("smpp") };
        assert_eq!((smpp.system_id.as_str(), smpp.password.expose()), ("kurier", "secret"));
        assert_eq!(smpp.bind, BindMode::TransmitterReceiver);
        assert_eq!(format!("{:?}", smpp.password), "\"***\"");
        assert_eq!(c.routes[0].prefix, "+48");
    }

    #[test]
    fn bad_values_name_their_key() {
        type Case<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            (None, &[("KURIER_DISPATCH_BATCH_SIZE", "many")], "dispatch.batch_size"),
            (None, &[("KURIER_SERVER_HTTP_LISTEN", "nowhere")], "server.http_listen"),
            (None, &[("KURIER_SERVER_NO_SUCH_KEY", "1")], "no_such_key"),
            (None, &[("KURIER_DATABASE_URL", "mysql://x")], "database.url"),
            (None, &[("KURIER_MESSAGES_DEFAULT_REGION", "XX")], "messages.default_region"),
            (None, &[("KURIER_MESSAGES_MAX_SEGMENTS", "0")], "messages.max_segments"),
            (None, &[("KURIER_MESSAGES_MAX_SEGMENTS", "256")], "max_segments`: must be 1 to 255, not 256"),
            (Some("[server]\nhttp_listen = 5\n"), &[], "server.http_listen"),
            (Some("[[routes]]\nprefix = \"48\"\nconnector = \"sim\"\n"), &[], "routes[0].prefix"),
            (
                Some("[[connectors]]\nname = \"a\"\nkind = \"carrier-pigeon\"\n"),
                &[],
                "unknown kind `carrier-pigeon`",
            ),
            (Some("[[connectors]]\nname = \"a\"\nkind = \"smpp\"\nhostname = \"x\"\n"), &[], "hostname"),
            (Some("[[connectors]]\nname = \"a\"\nkind = \"smpp\"\n"), &[], "connectors[0].system_id"),
            (
                Some(
                    "[[connectors]]\nname = \"a\"\nkind = \"smpp\"\nsystem_id = \"k\"\npassword = \"123456789\"\n",
                ),
                &[],
                "connectors[0].password",
            ),
            (
                Some(
                    "[[connectors]]\nname = \"a\"\nkind = \"smpp\"\nsystem_id = \"k\"\nvalidity_secs = 9223372036854775807\n",
                ),
                &[],
                "connectors[0].validity_secs`: must be 1 to 315360000 seconds",
            ),
            (
                Some("[[connectors]]\nname = \"a\"\nkind = \"smpp\"\nsystem_id = \"k\"\nvalidity_secs = 0\n"),
                &[],
                "connectors[0].validity_secs",
            ),
        ];
        for (file, vars, key) in cases {
            let err = Config::from_sources(file.map(|f| ("k.toml", f)), env(vars)).unwrap_err();
            assert!(err.to_string().contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn sign_in_policy_and_trusted_proxies_are_settings() {
        let file = "[auth]\nmax_failed_sign_ins = 3\nsession_lifetime_secs = 3600\n";
        let c = Config::from_sources(
            Some(("k.toml", file)),
            env(&[
                ("KURIER_SERVER_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1"),
                ("KURIER_AUTH_LOCKOUT_SECS", "60"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (c.auth.max_failed_sign_ins, c.auth.lockout_secs, c.auth.session_lifetime_secs),
            (3, 60, 3600)
        );
        assert_eq!(c.server.trusted_proxies, ["10.0.0.0/8", "192.0.2.1"]);
        assert_eq!(Config::default().auth.max_failed_sign_ins, 5);
        for (file, key) in [
            ("[auth]\nmax_failed_sign_ins = 0\n", "auth.max_failed_sign_ins"),
            ("[auth]\nsession_lifetime_secs = 5\n", "auth.session_lifetime_secs"),
            ("[server]\ntrusted_proxies = [\"proxy.local\"]\n", "server.trusted_proxies[0]"),
            ("[server]\ntrusted_proxies = [\"10.0.0.0/40\"]\n", "server.trusted_proxies[0]"),
            ("[server]\noutbound_denied_networks = [\"intranet\"]\n", "server.outbound_denied_networks[0]"),
            ("[server]\nhttp_header_timeout_secs = 0\n", "server.http_header_timeout_secs"),
            ("[server]\nmax_http_connections = 0\n", "server.max_http_connections"),
        ] {
            let e = Config::from_sources(Some(("k.toml", file)), env(&[])).unwrap_err().to_string();
            assert!(e.contains(key), "{file}: {e}");
        }
    }

    #[test]
    fn retries_periods_and_leases_out_of_bounds_are_refused_naming_the_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("KURIER_DISPATCH_LEASE_SECS", "0", "dispatch.lease_secs"),
            ("KURIER_DISPATCH_LEASE_SECS", "2", "dispatch.lease_secs"),
            ("KURIER_DISPATCH_RECEIPT_CHECK_SECS", "0", "dispatch.receipt_check_secs"),
            ("KURIER_DISPATCH_RECEIPT_CHECK_SECS", "9223372036854775807", "dispatch.receipt_check_secs"),
            ("KURIER_DISPATCH_RETRY_BASE_MS", "0", "dispatch.retry_base_ms"),
            ("KURIER_DISPATCH_RETRY_MAX_MS", "500", "dispatch.retry_max_ms"),
            ("KURIER_DISPATCH_MAX_ATTEMPTS", "0", "dispatch.max_attempts"),
            ("KURIER_DISPATCH_POLL_INTERVAL_MS", "0", "dispatch.poll_interval_ms"),
            ("KURIER_DISPATCH_RECEIPT_EXPIRY_SECS", "9223372036854775807", "dispatch.receipt_expiry_secs"),
            ("KURIER_SMTP_RETRY_BASE_MS", "0", "smtp.retry_base_ms"),
            ("KURIER_SMTP_RETRY_MAX_MS", "0", "smtp.retry_max_ms"),
            ("KURIER_SMTP_RETRY_WINDOW_SECS", "0", "smtp.retry_window_secs"),
            ("KURIER_WEBHOOKS_RETRY_BASE_MS", "0", "webhooks.retry_base_ms"),
            ("KURIER_WEBHOOKS_RETRY_MAX_MS", "9223372036854775807", "webhooks.retry_max_ms"),
            ("KURIER_WEBHOOKS_TIMEOUT_SECS", "0", "webhooks.timeout_secs"),
            ("KURIER_BILLING_ALERT_RETRY_SECS", "0", "billing.alert_retry_secs"),
            ("KURIER_BILLING_POLL_SECS", "0", "billing.poll_secs"),
            ("KURIER_INBOUND_REASSEMBLY_TIMEOUT_SECS", "0", "inbound.reassembly_timeout_secs"),
            ("KURIER_AUTH_LOCKOUT_SECS", "0", "auth.lockout_secs"),
            ("KURIER_SERVER_SHUTDOWN_GRACE_SECS", "9223372036854775807", "server.shutdown_grace_secs"),
        ];
        for (var, value, key) in cases {
            let err = Config::from_sources(None, env(&[(var, value)])).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("must be"), "{var}={value}: {err}");
        }
        let lease = Config::from_sources(None, env(&[("KURIER_DISPATCH_LEASE_SECS", "0")])).unwrap_err();
        assert_eq!(lease.to_string(), "config key `dispatch.lease_secs`: must be 3 to 3600 seconds, not 0");
        // The smallest values allowed are taken.
        let c = Config::from_sources(
            None,
            env(&[
                ("KURIER_DISPATCH_LEASE_SECS", "3"),
                ("KURIER_DISPATCH_RECEIPT_CHECK_SECS", "1"),
                ("KURIER_SMTP_RETRY_BASE_MS", "1000"),
                ("KURIER_SMTP_RETRY_MAX_MS", "60000"),
            ]),
        )
        .unwrap();
        assert_eq!((c.dispatch.lease_secs, c.smtp.retry_max_ms), (3, 60_000));
    }

    #[test]
    fn smpp_binds_and_window_are_capped_in_the_file_and_the_api() {
        let smpp = |extra: &str| {
            format!("[[connectors]]\nname = \"a\"\nkind = \"smpp\"\nsystem_id = \"k\"\n{extra}\n")
        };
        for (extra, key) in [
            ("binds = 1000000000000", "connectors[0].binds"),
            ("binds = 65", "connectors[0].binds"),
            ("window = 1000000000000", "connectors[0].window"),
            ("window = 0", "connectors[0].window"),
            ("reconnect_min_ms = 0", "connectors[0].reconnect_min_ms"),
            ("reconnect_max_ms = 10", "connectors[0].reconnect_max_ms"),
            ("enquire_link_secs = 0", "connectors[0].enquire_link_secs"),
        ] {
            let err = Config::from_sources(Some(("k.toml", &smpp(extra))), env(&[])).unwrap_err().to_string();
            assert!(err.contains(key), "{extra}: {err}");
        }
        assert!(
            Config::from_sources(Some(("k.toml", &smpp("binds = 64\nwindow = 10000"))), env(&[])).is_ok()
        );
        // The API reads a connector through the same check.
        let table = |t: &str| t.parse::<toml::Table>().unwrap();
        for (settings, key) in [
            ("system_id = \"k\"\nbinds = 1000000000000", "binds"),
            ("system_id = \"k\"\nwindow = 10001", "window"),
        ] {
            let err = ConnectorConfig::from_table("x", "smpp", &table(settings)).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{settings}: {err}");
        }
        let err =
            ConnectorConfig::from_table("x", "sim", &table("window = 1000000")).unwrap_err().to_string();
        assert!(err.contains("`window`"), "{err}");
    }

    #[test]
    fn a_broken_file_is_reported_with_its_path() {
        let err = Config::from_sources(Some(("k.toml", "[server\n")), env(&[])).unwrap_err();
        assert!(err.to_string().contains("k.toml"), "{err}");
    }
}
