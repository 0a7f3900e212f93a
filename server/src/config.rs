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
    pub connectors: Vec<ConnectorConfig>,
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
    /// Seconds to wait for in-flight work on SIGINT/SIGTERM before exiting.
    pub shutdown_grace_secs: u64,
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Attempts per callback before it is given up.
    pub max_attempts: u32,
    /// First retry delay; doubles with each attempt up to `retry_max_ms`.
    /// The defaults spread 12 attempts over about a day.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Time limit of one HTTP attempt.
    pub timeout_secs: u64,
    /// Callbacks sent at once.
    pub concurrency: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    pub name: String,
    pub kind: ConnectorKind,
    /// `sim`: settings of the simulated SMSC.
    #[serde(default)]
    pub sim: SimConfig,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    Sim,
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 2 * 1024 * 1024,
            node_id: None,
            shutdown_grace_secs: 10,
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
        }
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            max_attempts: 15,
            retry_base_ms: 10_000,
            retry_max_ms: 14_400_000,
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

/// Sections that `KURIER_<SECTION>_<KEY>` may address.
const ENV_SECTIONS: &[&str] = &["server", "database", "messages", "dispatch", "webhooks"];

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
            ("messages.max_segments", self.messages.max_segments),
            ("messages.max_recipients", self.messages.max_recipients),
            ("dispatch.batch_size", self.dispatch.batch_size),
            ("dispatch.max_in_flight", self.dispatch.max_in_flight),
            ("webhooks.concurrency", self.webhooks.concurrency),
        ] {
            if v == 0 {
                return Err(key_error(key, "must be at least 1"));
            }
        }
        if self.dispatch.max_attempts == 0 {
            return Err(key_error("dispatch.max_attempts", "must be at least 1"));
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
            if c.sim.window == 0 {
                return Err(key_error(format!("connectors[{i}].sim.window"), "must be at least 1"));
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            if !r.prefix.starts_with('+') || !r.prefix[1..].chars().all(|c| c.is_ascii_digit()) {
                return Err(key_error(
                    format!("routes[{i}].prefix"),
                    "must be + followed by digits, e.g. +48",
                ));
            }
            if !self.connectors.iter().any(|c| c.name == r.connector) {
                return Err(key_error(
                    format!("routes[{i}].connector"),
                    format!("no connector is named '{}'", r.connector),
                ));
            }
        }
        Ok(())
    }

    pub fn default_region(&self) -> Option<Region> {
        self.messages.default_region.as_deref().and_then(|r| r.parse().ok())
    }

    /// The connectors to run: the configured ones, or the simulated `sim`
    /// when none are configured (the embedded default).
    pub fn effective_connectors(&self) -> Vec<ConnectorConfig> {
        if self.connectors.is_empty() {
            vec![ConnectorConfig { name: "sim".into(), kind: ConnectorKind::Sim, sim: SimConfig::default() }]
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

/// Reads an environment value as the type the key's default has: numbers and
/// booleans are parsed, everything else is taken as text.
fn env_value(raw: &str, default: Option<&toml::Value>) -> Result<toml::Value, String> {
    match default {
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
sim = { delivered = 90, undelivered = 5, rejected = 5, seed = 7 }

[[routes]]
prefix = "+48"
connector = "a"
"#;
        let c = Config::from_sources(Some(("k.toml", file)), env(&[])).unwrap();
        assert_eq!(c.connectors[0].sim.undelivered, 5);
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
            (Some("[server]\nhttp_listen = 5\n"), &[], "server.http_listen"),
            (Some("[[routes]]\nprefix = \"48\"\nconnector = \"sim\"\n"), &[], "routes[0].prefix"),
            (Some("[[connectors]]\nname = \"a\"\nkind = \"carrier-pigeon\"\n"), &[], "connectors[0].kind"),
        ];
        for (file, vars, key) in cases {
            let err = Config::from_sources(file.map(|f| ("k.toml", f)), env(vars)).unwrap_err();
            assert!(err.to_string().contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn a_broken_file_is_reported_with_its_path() {
        let err = Config::from_sources(Some(("k.toml", "[server\n")), env(&[])).unwrap_err();
        assert!(err.to_string().contains("k.toml"), "{err}");
    }
}
