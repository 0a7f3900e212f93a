//! Storage: everything Kurier keeps, behind one interface for SQLite and
//! PostgreSQL.
//!
//! One implementation serves both databases through sqlx's `Any` driver: the
//! queries are written once, with the few places the dialects differ
//! (claiming with `SKIP LOCKED`, placeholders) isolated in
//! [`Dialect`], and full-text search, which is FTS5 on SQLite and a
//! `tsvector` with a GIN index on PostgreSQL (`search`). Each aggregate has
//! its own file of `impl Store` methods: `accounts`, `messages` (the durable
//! queue and its history), `webhooks`, the contacts files, `numbers`,
//! `inbound` (two-way messaging), `mail_outbox` (an `outbox`, like
//! `webhooks`), `users` (users, groups, UI sessions), `audit`,
//! `permissions` (on recipients).
//! Column types are kept to text and 64-bit integers (ids are UUIDv7 text,
//! times are microseconds since the epoch) so both databases read the same.
//!
//! On SQLite all writes go through a single connection (SQLite has one writer
//! anyway; queueing in-process avoids busy errors), reads through a pool.

mod accounts;
mod audit;
mod billing;
mod campaigns;
mod connectors;
pub mod contact_types;
mod contact_writes;
mod contacts;
mod conversations;
mod group_commit;
mod groups;
mod hot_path;
mod imports;
mod inbound;
mod intake;
mod key_cache;
mod leases;
mod mail_outbox;
mod messages;
mod migrations;
mod notifications;
mod numbers;
mod outbox;
mod own_numbers;
mod permissions;
mod polls;
mod search;
mod sql;
mod sqlite_reader;
mod sqlite_writer;
mod stats;
mod templates;
mod trail;
mod users;
mod webhooks;

pub use accounts::{AccountRecord, ApiKeyRecord, AuthKey, Bootstrap, NewApiKey};
pub use audit::{AuditEntry, AuditFilter, AuditLog, AuditRecord};
pub use billing::{
    AccountBilling, AccountBillingWrite, AlertJob, BillingError, ChargeLine, ChargeRefusal, LedgerEntry,
    NO_PRICE_REASON, Origin, PackageRecord, PackageUse, PackageWrite, PriceEntry, Quote, Subscription,
    TariffRecord, TariffWrite, UsageGroup, UsageRow,
};
pub use campaigns::{
    AccountSchedule, Audience, AudienceMember, CampaignRecord, CampaignState, HELD, NewCampaign, RunClaim,
    RunCounts, RunRecord,
};
pub use connectors::{ConnectorInUse, ManagedConnector, ManagedRoute, RouteWrite};
pub use contact_types::{
    Email, FieldDef, FieldKind, FieldName, FieldValue, Language, MAX_CONTACT_GROUPS, MAX_CONTACT_TAGS,
    TimeZone, ValueError, clean_text, fold, fold_key,
};
pub use contacts::{
    ContactChanges, ContactFilter, ContactRecord, ContactWrite, FieldCreateError, GroupRef,
    MAX_CONTACT_FIELDS, MatchBy, RowProblem, SetChange, Target, WriteOutcome,
};
pub use conversations::{ConversationRecord, ReplyLink};
pub use groups::{
    GroupNameTaken, GroupRecord, MAX_GROUP_DESCRIPTION_LEN, MAX_GROUP_NAME_LEN, MembersChanged,
    group_name_key,
};
pub use imports::{
    BatchCounts, ImportBatch, ImportDescription, ImportJob, ImportRowError, ImportStatus, MAX_STORED_ERRORS,
};
pub use inbound::{
    FORWARD_LIMIT_REASON, InboundJob, InboundLimits, InboundOutcome, OPTED_OUT_REASON, OptChange, OptEvent,
    ReplyLimit, number_spellings,
};
pub use intake::Intake;
pub use mail_outbox::{MailAttempt, MailDelivery, MailJob, MailRecord, MailResult, NewMail};
pub use messages::{
    AcceptRequest, Accepted, CampaignRef, ClaimedMessage, EventRecord, IDEMPOTENCY_KEY_RETENTION_SECS,
    IdempotentRequest, MessageFilter, MessageRecord, NewMessage, Outcome, OverdueReceipt, PartRecord,
    ReceiptChecks, RetryPolicy,
};
pub use notifications::{
    BalanceRecord, NewDelivery, NotificationDelivery, NotificationRecord, NotificationSettings,
    NotificationTemplate, NotificationType, PreferenceRow, ReportRow, SmsHandOver,
};
pub use numbers::{KeywordRecord, KeywordWrite, NumberRecord, NumberTaken, NumberWrite};
pub use outbox::{DeliveryFilter, Held};
pub use own_numbers::{CodeCheck, MAX_CODE_ATTEMPTS};
pub use permissions::{PermissionRecord, PermissionRule, Subject};
pub use polls::{
    DrawRecord, KeywordUse, NumberVolume, PollNameTaken, PollRecord, PollWrite, VoteCount, VoteRecord,
    VoteRequest, VoteStatus, poll_name_key,
};
pub use search::{MAX_QUERY_CHARS, MAX_QUERY_TERMS, SearchQuery, SearchQueryError};
pub use stats::{Bucket, GroupCount, Grouping, MessageCounts};
pub use templates::{MAX_TEMPLATE_NAME_LEN, SenderRecord, TemplateNameTaken, TemplateRecord, template_name};
pub use users::{
    LastOwner, MAX_USER_NAME_LEN, NewUser, SessionUser, SignInUser, UserChange, UserGroupRecord,
    UserPreferences, UserRecord, UsernameTaken, display_name,
};
pub use webhooks::{AttemptRecord, AttemptResult, DeliveryRecord, WebhookJob};

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, AssertSqlSafe};

/// Which SQL dialect the connected database speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Appended to a claiming query so concurrent nodes skip each other's
    /// rows. Claims pick their rows in a `WITH picked AS (…)` clause: on
    /// PostgreSQL a locking CTE is evaluated once, whereas `IN (SELECT … LIMIT
    /// n FOR UPDATE SKIP LOCKED)` may be re-run and claim more than `n` rows.
    fn skip_locked(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// Storage failures callers branch on; everything else is an internal error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the idempotency key was already used for a different request")]
    IdempotencyConflict,
    #[error("storage is shutting down")]
    Closed,
    /// Not stored: the account's balance, tariff or quota does not allow it.
    #[error(transparent)]
    Refused(#[from] ChargeRefusal),
    /// Not stored: these recipients (E.164) of messages that are not
    /// transactional opted out of the account after the request read its
    /// opt-outs, before it was stored.
    #[error("{} opted out of the account's messages", .0.join(", "))]
    OptedOut(Vec<String>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Clone)]
pub struct Store {
    writer: AnyPool,
    reader: AnyPool,
    dialect: Dialect,
    /// PostgreSQL: how long a search may walk the history (`search.rs`).
    search_walk_ms: u64,
    /// API keys looked up lately (`key_cache.rs`).
    keys: std::sync::Arc<key_cache::KeyCache>,
    /// SQLite with a database file: the writer thread for the recorder's
    /// reports (`sqlite_writer.rs`).
    direct: Option<std::sync::Arc<sqlite_writer::SqliteWriter>>,
    /// SQLite with a database file: read connections used in place for the
    /// reads each message request makes (`sqlite_reader.rs`).
    in_place: Option<std::sync::Arc<sqlite_reader::SqliteReader>>,
}

/// How long a connection waits on a locked SQLite database before failing.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;

impl Store {
    /// Connects to `url` (`sqlite://file.db` or `postgres://...`) and brings the
    /// schema up to date.
    pub async fn open(url: &str, max_connections: u32, sqlite_synchronous: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let sync = if sqlite_synchronous == "normal" { "NORMAL" } else { "FULL" };
        let mut store = if url.starts_with("sqlite:") {
            let url = sqlite_url(url);
            let options = AnyConnectOptions::from_str(&url).context("database.url")?;
            // No ping before each acquire: a SQLite connection is a file in
            // this process and cannot go stale, and each ping is a round trip
            // to the connection's thread (on the hot path, one per writer job).
            let pool_options = |max: u32| {
                AnyPoolOptions::new().max_connections(max).test_before_acquire(false).after_connect(
                    move |conn, _| {
                        Box::pin(async move {
                            sqlx::raw_sql(AssertSqlSafe(format!(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; \
                             PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON;"
                            )))
                            .execute(&mut *conn)
                            .await?;
                            Ok(())
                        })
                    },
                )
            };
            let writer = pool_options(1)
                .connect_with(options.clone())
                .await
                .with_context(|| format!("opening SQLite database {url}"))?;
            let reader = pool_options(max_connections.max(1)).connect_with(options).await?;
            Store {
                writer,
                reader,
                dialect: Dialect::Sqlite,
                search_walk_ms: search::PG_WALK_BUDGET_MS,
                keys: Default::default(),
                direct: None,
                in_place: None,
            }
        } else {
            let pool = AnyPoolOptions::new()
                .max_connections(max_connections.max(2))
                .acquire_timeout(Duration::from_secs(30))
                .connect(url)
                .await
                .context("connecting to PostgreSQL (database.url)")?;
            Store {
                writer: pool.clone(),
                reader: pool,
                dialect: Dialect::Postgres,
                search_walk_ms: search::PG_WALK_BUDGET_MS,
                keys: Default::default(),
                direct: None,
                in_place: None,
            }
        };
        migrations::run(&store).await.context("applying database migrations")?;
        if store.dialect == Dialect::Sqlite
            && let Some(file) = sqlite_writer::database_file(&store.writer).await?
        {
            let writer = sqlite_writer::SqliteWriter::open(&file, sync, store.writer.clone())
                .with_context(|| format!("opening the SQLite writer connection to {file}"))?;
            store.direct = Some(std::sync::Arc::new(writer));
            let readers = sqlite_reader::SqliteReader::open(&file)
                .with_context(|| format!("opening SQLite read connections to {file}"))?;
            store.in_place = Some(std::sync::Arc::new(readers));
        }
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// This store with another budget for walking the history in a
    /// PostgreSQL search before collecting the matches first; 0 collects
    /// first at once (tests use it to take that path).
    pub fn with_search_walk_budget(mut self, ms: u64) -> Self {
        self.search_walk_ms = ms;
        self
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map(|_| ())
    }

    pub async fn close(&self) {
        if let Some(direct) = &self.direct {
            direct.close().await;
        }
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// Values bound per `IN (…)` list by [`Store::select_in_account`].
const IN_CHUNK: usize = 500;

impl Store {
    /// `SELECT {columns} FROM {table} WHERE account_id = ? AND {column} IN
    /// (…) {suffix}` over `keys`, in chunks small enough for both databases,
    /// on `conn` (pass a transaction to read inside it). Every row of every
    /// chunk, in chunk order.
    pub(crate) async fn select_in_account(
        &self,
        conn: &mut sqlx::AnyConnection,
        query: InAccount<'_>,
        account_id: &str,
        keys: &[&str],
    ) -> sqlx::Result<Vec<sqlx::any::AnyRow>> {
        let mut rows = Vec::new();
        for chunk in keys.chunks(IN_CHUNK) {
            let mut sql = sql::Sql::new(self.dialect);
            sql.push(&format!("SELECT {} FROM {} WHERE account_id = ", query.columns, query.table))
                .text(account_id)
                .push(&format!(" AND {} IN (", query.column))
                .list(chunk)
                .push(")")
                .push(query.suffix);
            rows.extend(sql.query().fetch_all(&mut *conn).await?);
        }
        Ok(rows)
    }
}

/// The fixed parts of a [`Store::select_in_account`] query.
pub(crate) struct InAccount<'a> {
    pub columns: &'a str,
    pub table: &'a str,
    pub column: &'a str,
    /// Appended after the `IN (…)` list, e.g. ` ORDER BY id FOR UPDATE`.
    pub suffix: &'a str,
}

/// SQLite creates the file when it is missing.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Holds PostgreSQL's advisory lock named by `key` until the transaction
/// ends: for work that nodes may do at once on rows that may not exist
/// yet (a number two accounts register, a long message's parts). Nothing
/// on SQLite, whose one writer already does one such transaction at a time.
pub(super) async fn lock_until_commit(tx: &mut sqlx::AnyConnection, key: &str) -> sqlx::Result<()> {
    if Dialect::of(tx) == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(advisory_key(key)).execute(&mut *tx).await?;
    }
    Ok(())
}

/// The advisory lock key of a text (FNV-1a). Two texts sharing a key only
/// wait for each other.
fn advisory_key(text: &str) -> i64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
        as i64
}

/// Current time in microseconds since the epoch, as stored.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A delay or period from the configuration in milliseconds, as the
/// microseconds stored times count; one too long to count is the longest
/// there is, so a due time built from it lies far ahead, never (wrapped
/// round) in the past.
pub fn ms_to_micros(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX).saturating_mul(1_000)
}

/// [`ms_to_micros`] for a setting in seconds.
pub fn secs_to_micros(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1_000_000)
}

/// [`ms_to_micros`] for a [`std::time::Duration`].
pub fn duration_micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A stored time as RFC 3339 text with millisecond precision.
pub fn format_micros(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Dialect {
    /// The dialect of an open connection.
    fn of(conn: &sqlx::AnyConnection) -> Self {
        if conn.backend_name().eq_ignore_ascii_case("sqlite") { Self::Sqlite } else { Self::Postgres }
    }

    /// Placeholder of the `n`-th bound value (1-based) in a generated
    /// statement. SQLite gets plain `?`: it looks numbered parameters up by
    /// name in a list, which makes binding thousands of them quadratic.
    /// A statement must use one style throughout.
    fn param(self, n: usize) -> String {
        match self {
            Self::Sqlite => "?".to_owned(),
            Self::Postgres => format!("${n}"),
        }
    }

    /// Placeholders for `count` values starting at the `first`-th.
    fn placeholders(self, first: usize, count: usize) -> String {
        (first..first + count).map(|i| self.param(i)).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_missing_files() {
        assert_eq!(sqlite_url("sqlite://k.db"), "sqlite://k.db?mode=rwc");
        assert_eq!(sqlite_url("sqlite://k.db?cache=shared"), "sqlite://k.db?cache=shared&mode=rwc");
        assert_eq!(sqlite_url("sqlite://k.db?mode=ro"), "sqlite://k.db?mode=ro");
    }

    #[test]
    fn placeholders_are_numbered_on_postgres_and_plain_on_sqlite() {
        assert_eq!(Dialect::Postgres.placeholders(3, 3), "$3, $4, $5");
        assert_eq!(Dialect::Sqlite.placeholders(3, 3), "?, ?, ?");
    }
}
