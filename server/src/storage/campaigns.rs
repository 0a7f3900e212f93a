//! Campaigns and their runs: the stored half of `campaigns/`.
//!
//! A campaign holds its audience (groups, tags, contacts, raw numbers minus
//! exclusion groups), its text and its schedule. Each time it fires, a run
//! is opened; the fan-out worker claims the run with a lease and walks the
//! audience in phone-number order, storing each batch of messages together
//! with the run's cursor in one transaction. A crash mid-fan-out therefore
//! resumes after the last stored number: nobody twice, nobody skipped.
//! Pausing holds the run's unsent messages (`scheduled` with a far-future
//! due time); resuming releases them; canceling cancels them.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::billing::{ChargeRefusal, NO_PRICE_REASON, Origin};
use super::contacts::{CONTACT_COLUMNS, ContactRow};
use super::messages::{NewMessage, insert_messages_for};
use super::sql::Sql;
use super::{ContactRecord, Dialect, Store};
use crate::domain::{MessageStatus, new_id};

/// Due time of a held (paused) message: never, until resumed.
pub const HELD: i64 = i64::MAX / 2;
/// Raw numbers stored per statement.
const CHUNK: usize = 500;

/// Who a campaign is for, besides its raw numbers. Ids of the account's
/// groups and contacts; tags lower-case without `#`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audience {
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub contacts: Vec<String>,
    #[serde(default)]
    pub exclude_groups: Vec<String>,
}

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignState {
    /// Created, estimated, not started.
    Draft,
    /// Started: runs open when due.
    Active,
    Paused,
    /// No run left to open and every run finished.
    Completed,
    Canceled,
}

impl CampaignState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Canceled => "canceled",
        }
    }

    /// The status users see (API, web UI, command line): a started
    /// campaign is `running` while its latest run (`last_run`, its status)
    /// is being made or sent, else `scheduled`.
    pub fn status(self, last_run: Option<&str>) -> &'static str {
        match self {
            Self::Active if matches!(last_run, Some("fanning_out" | "sending")) => "running",
            Self::Active => "scheduled",
            other => other.as_str(),
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            "paused" => Self::Paused,
            "completed" => Self::Completed,
            "canceled" => Self::Canceled,
            _ => Self::Draft,
        }
    }
}

/// A campaign to store, already checked.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub name: String,
    pub sender: Option<String>,
    /// Template source (a plain text is a template without variables).
    pub body: String,
    pub template_id: Option<String>,
    pub data: serde_json::Value,
    pub audience: Audience,
    /// E.164 numbers.
    pub numbers: Vec<String>,
    pub tags: Vec<String>,
    pub callback_url: Option<String>,
    pub send_at: Option<i64>,
    pub rrule: Option<String>,
    pub time_zone: Option<String>,
    pub throughput: Option<i64>,
    pub urgent: bool,
    /// Each recipient gets a number of the account's pool as sender.
    pub sender_pool: bool,
    /// The user creating it (`None`: a key of no user, the CLI).
    pub created_by: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CampaignRecord {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub state: CampaignState,
    pub sender: Option<String>,
    pub body: String,
    pub template_id: Option<String>,
    pub data: serde_json::Value,
    pub audience: Audience,
    pub numbers: i64,
    pub tags: Vec<String>,
    pub callback_url: Option<String>,
    pub send_at: Option<i64>,
    pub rrule: Option<String>,
    pub time_zone: Option<String>,
    pub next_run_at: Option<i64>,
    pub throughput: Option<i64>,
    pub urgent: bool,
    /// Each recipient gets a number of the account's pool as sender.
    pub sender_pool: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The user who created it, if a user did.
    pub created_by: Option<String>,
    /// The user who last started or resumed it, if a user did.
    pub started_by: Option<String>,
}

impl CampaignRecord {
    /// The user the campaign sends for: who last started or resumed it,
    /// else who created it; `None`: no user (not restricted).
    pub fn acting_user(&self) -> Option<&str> {
        self.started_by.as_deref().or(self.created_by.as_deref())
    }
}

/// One run of a campaign with its fan-out progress.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: String,
    pub campaign_id: String,
    pub seq: i64,
    /// fanning_out, sending, paused, completed, canceled, failed
    pub status: String,
    pub fanned_out: bool,
    pub due_at: i64,
    pub recipients: i64,
    pub skipped: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub created_at: i64,
    /// Why the run sent nothing (status `failed`).
    pub failure: Option<String>,
}

/// A run claimed by this node for fan-out.
#[derive(Debug, Clone)]
pub struct RunClaim {
    pub id: String,
    pub campaign_id: String,
    pub account_id: String,
    pub cursor: Option<String>,
    pub due_at: i64,
}

/// One person of an audience: the number and, if in the address book, the contact.
#[derive(Debug, Clone)]
pub struct AudienceMember {
    pub phone: String,
    pub contact: Option<ContactRecord>,
}

/// How many messages of a run are in each state, and the replies to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub by_status: HashMap<String, i64>,
    pub replies: i64,
}

impl RunCounts {
    pub fn get(&self, status: MessageStatus) -> i64 {
        self.by_status.get(status.as_str()).copied().unwrap_or(0)
    }
}

/// The account's sending window and home time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSchedule {
    /// Quiet hours as minutes after local midnight (start, end).
    pub quiet: Option<(i64, i64)>,
    pub time_zone: String,
}

const CAMPAIGN_COLUMNS: &str = "c.id, c.account_id, c.name, c.state, c.sender, c.body, c.template_id, c.data, \
    c.audience, c.tags, c.callback_url, c.send_at, c.rrule, c.time_zone, c.next_run_at, c.throughput, c.urgent, c.sender_pool, \
    c.created_at, c.updated_at, c.created_by, c.started_by, (SELECT COUNT(*) FROM campaign_numbers n WHERE n.campaign_id = c.id) AS numbers";

fn campaign_from_row(r: &AnyRow) -> sqlx::Result<CampaignRecord> {
    let json = |col: &str| -> sqlx::Result<String> { r.try_get(col) };
    let decode = |e: serde_json::Error| sqlx::Error::Decode(Box::new(e));
    Ok(CampaignRecord {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        name: r.try_get("name")?,
        state: CampaignState::parse(&r.try_get::<String, _>("state")?),
        sender: r.try_get("sender")?,
        body: r.try_get("body")?,
        template_id: r.try_get("template_id")?,
        data: serde_json::from_str(&json("data")?).map_err(decode)?,
        audience: serde_json::from_str(&json("audience")?).map_err(decode)?,
        numbers: r.try_get("numbers")?,
        tags: serde_json::from_str(&json("tags")?).map_err(decode)?,
        callback_url: r.try_get("callback_url")?,
        send_at: r.try_get("send_at")?,
        rrule: r.try_get("rrule")?,
        time_zone: r.try_get("time_zone")?,
        next_run_at: r.try_get("next_run_at")?,
        throughput: r.try_get("throughput")?,
        urgent: r.try_get::<i64, _>("urgent")? != 0,
        sender_pool: r.try_get::<i64, _>("sender_pool")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        created_by: r.try_get("created_by")?,
        started_by: r.try_get("started_by")?,
    })
}

const RUN_COLUMNS: &str = "id, campaign_id, seq, status, fanned_out, due_at, recipients, skipped, started_at, \
    finished_at, created_at, failure";

fn run_from_row(r: &AnyRow) -> sqlx::Result<RunRecord> {
    Ok(RunRecord {
        id: r.try_get("id")?,
        campaign_id: r.try_get("campaign_id")?,
        seq: r.try_get("seq")?,
        status: r.try_get("status")?,
        fanned_out: r.try_get::<i64, _>("fanned_out")? != 0,
        due_at: r.try_get("due_at")?,
        recipients: r.try_get("recipients")?,
        skipped: r.try_get("skipped")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        created_at: r.try_get("created_at")?,
        failure: r.try_get("failure")?,
    })
}

impl Store {
    pub async fn create_campaign(
        &self,
        account_id: &str,
        c: &NewCampaign,
        now: i64,
    ) -> sqlx::Result<CampaignRecord> {
        let id = new_id();
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO campaigns (id, account_id, name, state, sender, body, template_id, data, audience, tags,
             callback_url, send_at, rrule, time_zone, throughput, urgent, created_at, updated_at, sender_pool, created_by)
             VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17, $18)",
        )
        .bind(&id)
        .bind(account_id)
        .bind(&c.name)
        .bind(c.sender.as_deref())
        .bind(&c.body)
        .bind(c.template_id.as_deref())
        .bind(c.data.to_string())
        .bind(serde_json::to_string(&c.audience).unwrap_or_else(|_| "{}".into()))
        .bind(serde_json::to_string(&c.tags).unwrap_or_else(|_| "[]".into()))
        .bind(c.callback_url.as_deref())
        .bind(c.send_at)
        .bind(c.rrule.as_deref())
        .bind(c.time_zone.as_deref())
        .bind(c.throughput)
        .bind(i64::from(c.urgent))
        .bind(now)
        .bind(i64::from(c.sender_pool))
        .bind(c.created_by.as_deref())
        .execute(&mut *tx)
        .await?;
        for chunk in c.numbers.chunks(CHUNK) {
            let rows: Vec<String> =
                (0..chunk.len()).map(|i| format!("({})", self.dialect.placeholders(i * 2 + 1, 2))).collect();
            let sql = format!(
                "INSERT INTO campaign_numbers (campaign_id, phone) VALUES {} ON CONFLICT DO NOTHING",
                rows.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for n in chunk {
                q = q.bind(&id).bind(n);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(self.get_campaign(account_id, &id).await?.expect("the campaign was just stored"))
    }

    pub async fn get_campaign(&self, account_id: &str, id: &str) -> sqlx::Result<Option<CampaignRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns c WHERE c.id = $1 AND c.account_id = $2"
        )))
        .bind(id)
        .bind(account_id)
        .fetch_optional(&self.reader)
        .await?
        .map(|r| campaign_from_row(&r))
        .transpose()
    }

    /// The account's campaigns, newest first, after `cursor`.
    pub async fn list_campaigns(
        &self,
        account_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> sqlx::Result<Vec<CampaignRecord>> {
        let mut sql = Sql::new(self.dialect);
        sql.push(&format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns c WHERE c.account_id = "))
            .text(account_id);
        if let Some(c) = cursor {
            sql.push(" AND c.id < ").text(c);
        }
        sql.push(" ORDER BY c.id DESC LIMIT ").int(limit as i64);
        sql.query().fetch_all(&self.reader).await?.iter().map(campaign_from_row).collect()
    }

    /// Deletes a draft. False if there is none by that id.
    pub async fn delete_draft_campaign(&self, account_id: &str, id: &str) -> sqlx::Result<bool> {
        let r = sqlx::query("DELETE FROM campaigns WHERE id = $1 AND account_id = $2 AND state = 'draft'")
            .bind(id)
            .bind(account_id)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Starts a draft: its first run is due at `first_run_at`; `by` (a
    /// user) becomes who it sends for.
    pub async fn start_campaign(
        &self,
        account_id: &str,
        id: &str,
        first_run_at: i64,
        by: Option<&str>,
        now: i64,
    ) -> sqlx::Result<bool> {
        let r = sqlx::query(
            "UPDATE campaigns SET state = 'active', next_run_at = $1, updated_at = $2, started_by = COALESCE($5, started_by)
             WHERE id = $3 AND account_id = $4 AND state = 'draft'",
        )
        .bind(first_run_at)
        .bind(now)
        .bind(id)
        .bind(account_id)
        .bind(by)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Active campaigns whose next run is due.
    pub async fn due_campaigns(&self, now: i64, limit: usize) -> sqlx::Result<Vec<CampaignRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns c
             WHERE c.next_run_at <= $1 AND c.state = 'active' ORDER BY c.next_run_at LIMIT $2"
        )))
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(campaign_from_row)
        .collect()
    }

    /// Opens the run due at `due_at` and moves the campaign's next run to
    /// `next` (or none). Only one node wins: the move is conditional on the
    /// due time still being `due_at`. Returns the new run's id. With a
    /// `failure`, the run is recorded as `failed` with that reason and sends
    /// nothing; a campaign with no next run is then completed.
    pub async fn open_run(
        &self,
        campaign: &CampaignRecord,
        due_at: i64,
        next: Option<i64>,
        failure: Option<&str>,
        now: i64,
    ) -> sqlx::Result<Option<String>> {
        let mut tx = self.writer.begin().await?;
        let moved = sqlx::query(
            "UPDATE campaigns SET next_run_at = $1, updated_at = $2
             WHERE id = $3 AND next_run_at = $4 AND state = 'active'",
        )
        .bind(next)
        .bind(now)
        .bind(&campaign.id)
        .bind(due_at)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Ok(None);
        }
        let id = new_id();
        match failure {
            None => {
                sqlx::query(
                    "INSERT INTO campaign_runs (id, campaign_id, account_id, seq, status, due_at, created_at, updated_at)
                     SELECT $1, $2, $3, COALESCE(MAX(seq), 0) + 1, 'fanning_out', $4, $5, $5
                     FROM campaign_runs WHERE campaign_id = $2",
                )
                .bind(&id)
                .bind(&campaign.id)
                .bind(&campaign.account_id)
                .bind(due_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            Some(reason) => {
                sqlx::query(
                    "INSERT INTO campaign_runs (id, campaign_id, account_id, seq, status, fanned_out, due_at,
                         started_at, finished_at, created_at, updated_at, failure)
                     SELECT $1, $2, $3, COALESCE(MAX(seq), 0) + 1, 'failed', 1, $4, $5, $5, $5, $5, $6
                     FROM campaign_runs WHERE campaign_id = $2",
                )
                .bind(&id)
                .bind(&campaign.id)
                .bind(&campaign.account_id)
                .bind(due_at)
                .bind(now)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE campaigns SET state = 'completed', updated_at = $1
                     WHERE id = $2 AND state = 'active' AND next_run_at IS NULL AND NOT EXISTS (
                         SELECT 1 FROM campaign_runs r WHERE r.campaign_id = campaigns.id
                         AND r.status IN ('fanning_out', 'sending', 'paused'))",
                )
                .bind(now)
                .bind(&campaign.id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Claims one run waiting for fan-out (oldest due first) whose lease is
    /// free, for `node` until `lease_until`.
    pub async fn claim_run(&self, node: &str, now: i64, lease_until: i64) -> sqlx::Result<Option<RunClaim>> {
        // Most polls find nothing: look with a read before taking the writer.
        let any = sqlx::query("SELECT 1 FROM campaign_runs WHERE status = 'fanning_out' LIMIT 1")
            .fetch_optional(&self.reader)
            .await?;
        if any.is_none() {
            return Ok(None);
        }
        let sql = format!(
            "WITH picked AS (SELECT id FROM campaign_runs
                 WHERE status = 'fanning_out' AND (lease_until IS NULL OR lease_until < $1)
                 ORDER BY due_at LIMIT 1{})
             UPDATE campaign_runs SET claimed_by = $2, lease_until = $3, started_at = COALESCE(started_at, $1),
                 updated_at = $1
             WHERE id IN (SELECT id FROM picked) AND status = 'fanning_out'
             RETURNING id, campaign_id, account_id, cursor, due_at",
            self.dialect.skip_locked()
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(now)
            .bind(node)
            .bind(lease_until)
            .fetch_optional(&self.writer)
            .await?
            .map(|r| {
                Ok(RunClaim {
                    id: r.try_get(0)?,
                    campaign_id: r.try_get(1)?,
                    account_id: r.try_get(2)?,
                    cursor: r.try_get(3)?,
                    due_at: r.try_get(4)?,
                })
            })
            .transpose()
    }

    /// Frees the runs `node` had claimed (at its start after a crash: the
    /// batch it was writing never committed, so nothing is lost by going
    /// on at once rather than when the lease runs out).
    pub async fn release_runs_of(&self, node: &str) -> sqlx::Result<u64> {
        let r = sqlx::query(
            "UPDATE campaign_runs SET lease_until = NULL WHERE claimed_by = $1 AND status = 'fanning_out'",
        )
        .bind(node)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected())
    }

    /// Gives up this node's claim on a run (shutdown), so another can go on.
    pub async fn release_run(&self, run_id: &str, node: &str) -> sqlx::Result<()> {
        sqlx::query("UPDATE campaign_runs SET lease_until = NULL WHERE id = $1 AND claimed_by = $2")
            .bind(run_id)
            .bind(node)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The statement listing an audience (phone, contact id) after `cursor`
    /// in number order: members of the groups and subscribers of the tags
    /// and the named contacts who have not opted out and are in no
    /// exclusion group, and the raw numbers (unless they are such a
    /// contact). Each branch is ordered and limited on its own so that a
    /// page costs `limit` rows per branch, not the whole audience.
    fn audience_sql(
        &self,
        account_id: &str,
        campaign_id: &str,
        audience: &Audience,
        opted_out: bool,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Sql {
        let mut sql = Sql::new(self.dialect);
        let page = |sql: &mut Sql| {
            if let Some(c) = cursor {
                sql.push(" AND phone > ").text(c);
            }
            if let Some(n) = limit {
                sql.push(" ORDER BY phone LIMIT ").int(n as i64);
            }
        };
        // Correlated EXISTS, not `id IN (SELECT …)`: SQLite would build the
        // whole member list (a million rows) again for every page.
        let exclusion = |sql: &mut Sql, column: &str| {
            if !audience.exclude_groups.is_empty() {
                sql.push(&format!(
                    " AND NOT EXISTS (SELECT 1 FROM group_members x WHERE x.contact_id = {column} AND x.group_id IN ("
                ));
                sql.list(&audience.exclude_groups).push("))");
            }
        };
        sql.push("SELECT phone, contact_id FROM (");
        let mut branches = 0;
        if !(audience.groups.is_empty() && audience.tags.is_empty() && audience.contacts.is_empty()) {
            branches += 1;
            sql.push("SELECT * FROM (SELECT phone, id AS contact_id FROM contacts WHERE account_id = ")
                .text(account_id)
                .push(if opted_out {
                    " AND (opted_out_at IS NOT NULL OR phone "
                } else {
                    " AND opted_out_at IS NULL AND phone NOT "
                })
                .push("IN (SELECT phone FROM opt_outs WHERE account_id = ")
                .text(account_id)
                .push(if opted_out { "))" } else { ")" })
                .push(" AND (");
            let mut any = false;
            if !audience.groups.is_empty() {
                sql.push("EXISTS (SELECT 1 FROM group_members g WHERE g.contact_id = contacts.id AND g.group_id IN (");
                sql.list(&audience.groups).push("))");
                any = true;
            }
            if !audience.tags.is_empty() {
                sql.push(if any { " OR " } else { "" });
                sql.push(
                    "EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = contacts.id AND t.tag IN (",
                );
                sql.list(&audience.tags).push("))");
                any = true;
            }
            if !audience.contacts.is_empty() {
                sql.push(if any { " OR " } else { "" });
                sql.push("id IN (").list(&audience.contacts).push(")");
            }
            sql.push(")");
            exclusion(&mut sql, "contacts.id");
            page(&mut sql);
            sql.push(") a");
        }
        if branches > 0 {
            sql.push(" UNION ");
        }
        // Raw numbers: those of a contact follow the contact's opt-out and
        // exclusions; the others are opted out when on the opt-out list.
        sql.push("SELECT * FROM (SELECT n.phone AS phone, c.id AS contact_id FROM campaign_numbers n")
            .push(" LEFT JOIN contacts c ON c.account_id = ")
            .text(account_id)
            .push(" AND c.phone = n.phone WHERE n.campaign_id = ")
            .text(campaign_id);
        sql.push(if opted_out {
            " AND (c.opted_out_at IS NOT NULL OR n.phone "
        } else {
            " AND n.phone NOT "
        })
        .push("IN (SELECT phone FROM opt_outs WHERE account_id = ")
        .text(account_id)
        .push(if opted_out { "))" } else { ")" });
        if !opted_out {
            sql.push(" AND (c.id IS NULL OR (c.opted_out_at IS NULL");
            exclusion(&mut sql, "c.id");
            sql.push("))");
        }
        if let Some(c) = cursor {
            sql.push(" AND n.phone > ").text(c);
        }
        if let Some(n) = limit {
            sql.push(" ORDER BY n.phone LIMIT ").int(n as i64);
        }
        sql.push(") b) audience");
        if let Some(n) = limit {
            sql.push(" ORDER BY phone LIMIT ").int(n as i64);
        }
        sql
    }

    /// The next `limit` people of a campaign's audience after `cursor`,
    /// with their contact records (custom values included).
    pub async fn audience_page(
        &self,
        campaign: &CampaignRecord,
        cursor: Option<&str>,
        limit: usize,
    ) -> sqlx::Result<Vec<AudienceMember>> {
        let sql = self.audience_sql(
            &campaign.account_id,
            &campaign.id,
            &campaign.audience,
            false,
            cursor,
            Some(limit),
        );
        let rows = sql.query().fetch_all(&self.reader).await?;
        let mut members = Vec::with_capacity(rows.len());
        let mut ids = Vec::new();
        for r in &rows {
            let contact: Option<String> = r.try_get(1)?;
            if let Some(id) = &contact {
                ids.push(id.clone());
            }
            members.push((r.try_get::<String, _>(0)?, contact));
        }
        let mut contacts = self.contacts_by_ids(&campaign.account_id, &ids).await?;
        Ok(members
            .into_iter()
            .map(|(phone, id)| AudienceMember { phone, contact: id.and_then(|id| contacts.remove(&id)) })
            .collect())
    }

    async fn contacts_by_ids(
        &self,
        account_id: &str,
        ids: &[String],
    ) -> sqlx::Result<HashMap<String, ContactRecord>> {
        let mut records = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut sql = Sql::new(self.dialect);
            sql.push(&format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE account_id = "))
                .text(account_id)
                .push(" AND id IN (")
                .list(chunk)
                .push(")");
            for r in sql.query().fetch_all(&self.reader).await? {
                records.push(ContactRow::from_row(&r)?.into_record());
            }
        }
        self.complete_records(&mut records).await?;
        Ok(records.into_iter().map(|r| (r.id.clone(), r)).collect())
    }

    /// How many people the audience reaches, and how many it would but
    /// for having opted out.
    pub async fn count_audience(&self, campaign: &CampaignRecord) -> sqlx::Result<(i64, i64)> {
        let mut counts = [0i64; 2];
        for (i, opted_out) in [false, true].into_iter().enumerate() {
            let inner = self.audience_sql(
                &campaign.account_id,
                &campaign.id,
                &campaign.audience,
                opted_out,
                None,
                None,
            );
            let sql = Sql::around("SELECT COUNT(*) FROM (", inner, ") counted");
            counts[i] = sql.query().fetch_one(&self.reader).await?.try_get(0)?;
        }
        Ok((counts[0], counts[1]))
    }

    /// Stores one fan-out batch: the messages, the recipients that could
    /// not be rendered, opted out since the batch's audience was read or
    /// have no price in the account's tariff (all skipped, with the
    /// reason), and the run's new cursor, in one transaction, only if the
    /// run is still fanning out under this node's claim from
    /// `claim.cursor`. Returns the messages stored and the recipients
    /// skipped, or `None` (storing nothing) otherwise: the run was paused,
    /// canceled or taken over, or the batch could not be charged (short
    /// balance, user quota), which pauses the campaign with the reason in
    /// the run's `failure`.
    #[allow(clippy::too_many_arguments)]
    pub async fn store_fanout_batch(
        &self,
        claim: &RunClaim,
        acting_user: Option<&str>,
        node: &str,
        messages: &[NewMessage],
        skipped: &[(String, String)],
        new_cursor: Option<&str>,
        done: bool,
        lease_until: i64,
        now: i64,
    ) -> sqlx::Result<Option<(usize, usize)>> {
        let mut tx = self.writer.begin().await?;
        // The audience was read before this transaction: a number that
        // opted out since is left out, as skipped with the reason. Under
        // the account's opt-out lock, so an opt-out committing meanwhile
        // either is seen here or cancels these messages after them.
        super::inbound::lock_opt_outs(&mut tx, &claim.account_id).await?;
        let recipients: Vec<&str> = messages.iter().map(|m| m.to.as_str()).collect();
        let opted_out = super::inbound::opted_out_in(&mut tx, &claim.account_id, &recipients).await?;
        let (mut messages, gone): (Vec<&NewMessage>, Vec<&NewMessage>) =
            messages.iter().partition(|m| !opted_out.contains(m.to.as_str()));
        let mut skipped = skipped.to_vec();
        skipped.extend(gone.iter().map(|m| (m.to.as_str().to_owned(), super::OPTED_OUT_REASON.to_owned())));
        let moved = sqlx::query(
            "UPDATE campaign_runs SET cursor = COALESCE($1, cursor), fanned_out = $2,
                 status = CASE WHEN $2 = 1 THEN 'sending' ELSE status END,
                 lease_until = $3, updated_at = $4
             WHERE id = $5 AND claimed_by = $6 AND status = 'fanning_out' AND COALESCE(cursor, '') = $7",
        )
        .bind(new_cursor)
        .bind(i64::from(done))
        .bind(lease_until)
        .bind(now)
        .bind(&claim.id)
        .bind(node)
        .bind(claim.cursor.as_deref().unwrap_or(""))
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Ok(None);
        }
        // The user the campaign sends for: its messages count against their quota.
        let origin = Origin { user_id: acting_user.map(str::to_owned), api_key_id: None };
        let mut refused = insert_batch(&mut tx, &claim.account_id, &messages, &origin, now).await?;
        // Recipients the tariff has no price for are skipped, the others
        // stored: a refusal for prices names every such number and changes
        // nothing, so the second try is charged for the rest.
        if let Some(ChargeRefusal::NoPrice { to }) = &refused {
            let unpriced: HashSet<&str> = to.iter().map(String::as_str).collect();
            let (priced, none): (Vec<&NewMessage>, Vec<&NewMessage>) =
                messages.iter().copied().partition(|m| !unpriced.contains(m.to.as_str()));
            skipped.extend(none.iter().map(|m| (m.to.as_str().to_owned(), NO_PRICE_REASON.to_owned())));
            messages = priced;
            refused = insert_batch(&mut tx, &claim.account_id, &messages, &origin, now).await?;
        }
        if let Some(refusal) = refused {
            drop(tx);
            tracing::warn!(campaign = %claim.campaign_id, run = %claim.id, %refusal,
                "campaign paused: its next batch cannot be charged");
            let why = format!("paused: {refusal}");
            self.pause(&claim.account_id, &claim.campaign_id, Some((claim.id.as_str(), why.as_str())), now)
                .await?;
            return Ok(None);
        }
        sqlx::query(
            "UPDATE campaign_runs SET recipients = recipients + $1, skipped = skipped + $2 WHERE id = $3",
        )
        .bind(messages.len() as i64)
        .bind(skipped.len() as i64)
        .bind(&claim.id)
        .execute(&mut *tx)
        .await?;
        insert_run_errors(&mut tx, &claim.id, &skipped).await?;
        tx.commit().await?;
        Ok(Some((messages.len(), skipped.len())))
    }

    /// Marks runs whose every message has left the queue as completed, and
    /// campaigns with nothing more to run as completed. Returns the runs.
    pub async fn finish_runs(&self, now: i64) -> sqlx::Result<Vec<(String, String)>> {
        let any = sqlx::query("SELECT 1 FROM campaign_runs WHERE status = 'sending' LIMIT 1")
            .fetch_optional(&self.reader)
            .await?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.writer.begin().await?;
        let rows = sqlx::query(
            "UPDATE campaign_runs SET status = 'completed', finished_at = $1, updated_at = $1
             WHERE status = 'sending' AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.run_id = campaign_runs.id
                 AND m.status IN ('scheduled', 'queued', 'sending'))
             RETURNING id, campaign_id",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let finished = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<sqlx::Result<Vec<(String, String)>>>()?;
        for (_, campaign) in &finished {
            sqlx::query(
                "UPDATE campaigns SET state = 'completed', updated_at = $1
                 WHERE id = $2 AND state = 'active' AND next_run_at IS NULL AND NOT EXISTS (
                     SELECT 1 FROM campaign_runs r WHERE r.campaign_id = campaigns.id
                     AND r.status IN ('fanning_out', 'sending', 'paused'))",
            )
            .bind(now)
            .bind(campaign)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(finished)
    }

    /// Pauses an active campaign: its runs stop fanning out and their
    /// unsent messages are held. False if it is not active.
    pub async fn pause_campaign(&self, account_id: &str, id: &str, now: i64) -> sqlx::Result<bool> {
        self.pause(account_id, id, None, now).await
    }

    /// Pauses a campaign; with `refused`, the run whose batch could not be
    /// stored gets the reason as its `failure` (cleared on resume).
    async fn pause(
        &self,
        account_id: &str,
        id: &str,
        refused: Option<(&str, &str)>,
        now: i64,
    ) -> sqlx::Result<bool> {
        let runs = {
            let mut tx = self.writer.begin().await?;
            let r = sqlx::query(
                "UPDATE campaigns SET state = 'paused', updated_at = $1 WHERE id = $2 AND account_id = $3
                 AND state = 'active'",
            )
            .bind(now)
            .bind(id)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                return Ok(false);
            }
            let runs = sqlx::query(
                "UPDATE campaign_runs SET status = 'paused', lease_until = NULL, updated_at = $1,
                     failure = CASE WHEN id = $3 THEN $4 ELSE failure END
                 WHERE campaign_id = $2 AND status IN ('fanning_out', 'sending') RETURNING id",
            )
            .bind(now)
            .bind(id)
            .bind(refused.map(|r| r.0))
            .bind(refused.map(|r| r.1))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<sqlx::Result<Vec<_>>>()?;
            tx.commit().await?;
            runs
        };
        for run in runs {
            let sql = format!(
                "WITH picked AS (SELECT id FROM messages WHERE run_id = $3 AND status IN ('queued', 'scheduled')
                     AND next_attempt_at <> {HELD} LIMIT $2{})
                 UPDATE messages SET status = 'scheduled', next_attempt_at = {HELD}, updated_at = $1
                 WHERE id IN (SELECT id FROM picked) RETURNING id, account_id, to_number, callback_url",
                self.dialect.skip_locked()
            );
            self.bulk_transition(&sql, now, &[&run], MessageStatus::Scheduled, "campaign paused").await?;
        }
        Ok(true)
    }

    /// Resumes a paused campaign: runs go on where they stopped and held
    /// messages are released; `by` (a user) becomes who it sends for.
    /// False if it is not paused.
    ///
    /// `release_at` says, for a recipient's time zone as its contact has it
    /// (`""` for none), the first moment at or after `now` a message may go
    /// there (quiet hours); `None`: any time (no quiet hours, or urgent). Released messages of a zone still quiet wait for
    /// that moment (or their own `send_at`, if later); the rest are due at
    /// their `send_at` if still ahead, else now. Per zone in SQL, in chunks: a run of a
    /// million messages is never read whole.
    pub async fn resume_campaign(
        &self,
        account_id: &str,
        id: &str,
        next_run_at: Option<i64>,
        by: Option<&str>,
        release_at: Option<&(dyn Fn(&str) -> i64 + Send + Sync)>,
        now: i64,
    ) -> sqlx::Result<bool> {
        let runs = {
            let mut tx = self.writer.begin().await?;
            let r = sqlx::query(
                "UPDATE campaigns SET state = 'active', next_run_at = $1, updated_at = $2, started_by = COALESCE($5, started_by)
                 WHERE id = $3 AND account_id = $4 AND state = 'paused'",
            )
            .bind(next_run_at)
            .bind(now)
            .bind(id)
            .bind(account_id)
            .bind(by)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                return Ok(false);
            }
            let runs = sqlx::query(
                "UPDATE campaign_runs SET status = CASE WHEN fanned_out = 1 THEN 'sending' ELSE 'fanning_out' END,
                 failure = NULL, updated_at = $1 WHERE campaign_id = $2 AND status = 'paused' RETURNING id",
            )
            .bind(now)
            .bind(id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<sqlx::Result<Vec<_>>>()?;
            tx.commit().await?;
            runs
        };
        for run in runs {
            if let Some(release_at) = release_at {
                self.hold_quiet_zones(&run, release_at, now).await?;
            }
            let sql = format!(
                "WITH picked AS (SELECT id FROM messages WHERE run_id = $3 AND status = 'scheduled'
                     AND next_attempt_at = {HELD} LIMIT $2{})
                 UPDATE messages SET next_attempt_at = CASE WHEN send_at > $1 THEN send_at ELSE $1 END,
                     updated_at = $1
                 WHERE id IN (SELECT id FROM picked) RETURNING id, account_id, to_number, callback_url",
                self.dialect.skip_locked()
            );
            self.bulk_transition(&sql, now, &[&run], MessageStatus::Scheduled, "campaign resumed").await?;
        }
        Ok(true)
    }

    /// Of a run's held messages, those whose recipient's zone is still in
    /// quiet hours wait for `release_at(zone)` (or their own later
    /// `send_at`); per zone in SQL, in chunks, never read whole.
    async fn hold_quiet_zones(
        &self,
        run: &str,
        release_at: &(dyn Fn(&str) -> i64 + Send + Sync),
        now: i64,
    ) -> sqlx::Result<()> {
        // A recipient's zone: its contact's, as the fan-out reads it.
        let zone = "COALESCE((SELECT c.time_zone FROM contacts c
             WHERE c.account_id = m.account_id AND c.phone = m.to_number), '')";
        let zones: Vec<String> = sqlx::query(AssertSqlSafe(format!(
            "SELECT DISTINCT {zone} FROM messages m WHERE m.run_id = $1 AND m.status = 'scheduled'
             AND m.next_attempt_at = {HELD}"
        )))
        .bind(run)
        .fetch_all(&self.writer)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?;
        for z in &zones {
            let at = release_at(z);
            if at <= now {
                continue;
            }
            let sql = format!(
                "WITH picked AS (SELECT m.id FROM messages m WHERE m.run_id = $3 AND m.status = 'scheduled'
                     AND m.next_attempt_at = {HELD} AND {zone} = $4 LIMIT $2{})
                 UPDATE messages SET next_attempt_at = CASE WHEN send_at > {at} THEN send_at ELSE {at} END,
                     updated_at = $1
                 WHERE id IN (SELECT id FROM picked) RETURNING id, account_id, to_number, callback_url",
                self.dialect.skip_locked()
            );
            let why = "campaign resumed; waits for the end of quiet hours";
            self.bulk_transition(&sql, now, &[run, z], MessageStatus::Scheduled, why).await?;
        }
        Ok(())
    }

    /// Cancels a campaign that is not finished: no more runs, unsent
    /// messages canceled. False if it is already completed or canceled.
    pub async fn cancel_campaign(&self, account_id: &str, id: &str, now: i64) -> sqlx::Result<bool> {
        let runs = {
            let mut tx = self.writer.begin().await?;
            let r = sqlx::query(
                "UPDATE campaigns SET state = 'canceled', next_run_at = NULL, updated_at = $1
                 WHERE id = $2 AND account_id = $3 AND state IN ('draft', 'active', 'paused')",
            )
            .bind(now)
            .bind(id)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                return Ok(false);
            }
            let runs = sqlx::query(
                "UPDATE campaign_runs SET status = 'canceled', finished_at = $1, lease_until = NULL, updated_at = $1
                 WHERE campaign_id = $2 AND status IN ('fanning_out', 'sending', 'paused') RETURNING id",
            )
            .bind(now)
            .bind(id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<sqlx::Result<Vec<_>>>()?;
            tx.commit().await?;
            runs
        };
        for run in runs {
            let sql = format!(
                "WITH picked AS (SELECT id FROM messages WHERE run_id = $3 AND status IN ('queued', 'scheduled')
                     LIMIT $2{})
                 UPDATE messages SET status = 'canceled', updated_at = $1
                 WHERE id IN (SELECT id FROM picked) RETURNING id, account_id, to_number, callback_url",
                self.dialect.skip_locked()
            );
            self.bulk_transition(&sql, now, &[&run], MessageStatus::Canceled, "campaign canceled").await?;
        }
        Ok(true)
    }

    /// A campaign's runs, newest first.
    pub async fn list_runs(&self, campaign_id: &str) -> sqlx::Result<Vec<RunRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM campaign_runs WHERE campaign_id = $1 ORDER BY seq DESC"
        )))
        .bind(campaign_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(run_from_row)
        .collect()
    }

    pub async fn get_run(&self, campaign_id: &str, run_id: &str) -> sqlx::Result<Option<RunRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM campaign_runs WHERE campaign_id = $1 AND (id = $2 OR CAST(seq AS TEXT) = $2)"
        )))
        .bind(campaign_id)
        .bind(run_id)
        .fetch_optional(&self.reader)
        .await?
        .map(|r| run_from_row(&r))
        .transpose()
    }

    /// The raw numbers a campaign names.
    pub async fn campaign_numbers(&self, campaign_id: &str) -> sqlx::Result<Vec<String>> {
        sqlx::query("SELECT phone FROM campaign_numbers WHERE campaign_id = $1 ORDER BY phone")
            .bind(campaign_id)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect()
    }

    /// Messages of a run by status, and inbound replies linked to it.
    pub async fn run_counts(&self, run_id: &str) -> sqlx::Result<RunCounts> {
        let rows = sqlx::query(
            "SELECT status, direction, COUNT(*) FROM messages WHERE run_id = $1 GROUP BY status, direction",
        )
        .bind(run_id)
        .fetch_all(&self.reader)
        .await?;
        let mut counts = RunCounts::default();
        for r in rows {
            let status: String = r.try_get(0)?;
            let direction: String = r.try_get(1)?;
            let n: i64 = r.try_get(2)?;
            if direction == "inbound" {
                counts.replies += n;
            } else {
                *counts.by_status.entry(status).or_default() += n;
            }
        }
        Ok(counts)
    }

    /// Recipients a run skipped, with the reason, by number.
    pub async fn run_errors(&self, run_id: &str, limit: usize) -> sqlx::Result<Vec<(String, String)>> {
        sqlx::query("SELECT phone, reason FROM campaign_run_errors WHERE run_id = $1 ORDER BY phone LIMIT $2")
            .bind(run_id)
            .bind(limit as i64)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    pub async fn account_schedule(&self, account_id: &str) -> sqlx::Result<AccountSchedule> {
        let r = sqlx::query("SELECT quiet_start, quiet_end, time_zone FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_one(&self.reader)
            .await?;
        let start: Option<i64> = r.try_get(0)?;
        let end: Option<i64> = r.try_get(1)?;
        Ok(AccountSchedule { quiet: start.zip(end), time_zone: r.try_get(2)? })
    }

    pub async fn set_account_schedule(&self, account_id: &str, s: &AccountSchedule) -> sqlx::Result<()> {
        sqlx::query("UPDATE accounts SET quiet_start = $1, quiet_end = $2, time_zone = $3 WHERE id = $4")
            .bind(s.quiet.map(|q| q.0))
            .bind(s.quiet.map(|q| q.1))
            .bind(&s.time_zone)
            .bind(account_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}

async fn insert_run_errors(
    tx: &mut AnyConnection,
    run_id: &str,
    skipped: &[(String, String)],
) -> sqlx::Result<()> {
    let dialect = Dialect::of(tx);
    for chunk in skipped.chunks(CHUNK) {
        let rows: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", dialect.placeholders(i * 3 + 1, 3))).collect();
        let sql = format!(
            "INSERT INTO campaign_run_errors (run_id, phone, reason) VALUES {} ON CONFLICT DO NOTHING",
            rows.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (phone, reason) in chunk {
            q = q.bind(run_id).bind(phone.as_str()).bind(reason.as_str());
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Stores and charges a fan-out batch's messages, or says why they cannot
/// be charged (changing nothing then).
async fn insert_batch(
    tx: &mut AnyConnection,
    account_id: &str,
    messages: &[&NewMessage],
    origin: &Origin,
    now: i64,
) -> sqlx::Result<Option<ChargeRefusal>> {
    let rows: Vec<(&str, &NewMessage, i64)> = messages.iter().map(|m| (account_id, *m, now)).collect();
    Ok(insert_messages_for(tx, &rows, origin).await?.err())
}
