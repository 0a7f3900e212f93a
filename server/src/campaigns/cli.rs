//! The command line of campaigns and templates:
//!
//! ```text
//! kurier campaign create --name N (--text T | --template NAME) [--group G]… [--tag T]… [--number N]…
//!                        [--exclude-group G]… [--from S] [--data JSON] [--at TIME] [--rrule R]
//!                        [--time-zone Z] [--throughput N] [--urgent] [--start]
//! kurier campaign list | show ID | start ID | pause ID | resume ID | cancel ID
//! kurier template add NAME (--body TEXT | --file F) | list
//! ```
//!
//! They act on the configuration's database through the same functions as
//! the HTTP API; a running `kurier serve` sends what is started here.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::template::MessageTemplate;
use super::{CampaignInput, estimate};
use crate::config::Config;
use crate::domain::MessageStatus;
use crate::storage::{CampaignRecord, Store, format_micros, now_micros, template_name};
use crate::transfer::cli::open;

#[derive(Subcommand, Debug)]
pub enum CampaignCommand {
    /// Create a campaign (a draft unless --start).
    Create(Box<CreateArgs>),
    /// List the account's campaigns, newest first.
    List(Common),
    /// A campaign with its estimate and every run's counters.
    Show(IdArgs),
    /// Start a draft.
    Start(IdArgs),
    /// Pause: nothing more goes out until resumed.
    Pause(IdArgs),
    Resume(IdArgs),
    /// Cancel: unsent messages are canceled, no more runs.
    Cancel(IdArgs),
}

#[derive(Subcommand, Debug)]
pub enum TemplateCommand {
    /// Save a template (checked first).
    Add(TemplateArgs),
    List(Common),
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    #[arg(long, default_value = "default")]
    pub account: String,
    /// TOML configuration file (for the database).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct IdArgs {
    pub id: String,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug, Clone)]
pub struct TemplateArgs {
    pub name: String,
    #[arg(long, conflicts_with = "file")]
    pub body: Option<String>,
    /// Read the body from a file.
    #[arg(long)]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    #[arg(long)]
    pub name: String,
    #[arg(long, conflicts_with = "template")]
    pub text: Option<String>,
    /// A saved template's name or id.
    #[arg(long)]
    pub template: Option<String>,
    /// A sender id of the account.
    #[arg(long)]
    pub from: Option<String>,
    /// A group (name or id) to send to; repeatable.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// A tag whose subscribers get the message; repeatable.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// A number to send to; repeatable.
    #[arg(long = "number", value_name = "NUMBER")]
    pub numbers: Vec<String>,
    /// A group whose members are left out; repeatable.
    #[arg(long = "exclude-group", value_name = "GROUP")]
    pub exclude_groups: Vec<String>,
    /// JSON object passed to the template as `data`.
    #[arg(long)]
    pub data: Option<String>,
    /// RFC 3339: when to send (one-off) or when the schedule starts.
    #[arg(long)]
    pub at: Option<String>,
    /// RFC 5545 RRULE, e.g. "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0".
    #[arg(long)]
    pub rrule: Option<String>,
    #[arg(long)]
    pub time_zone: Option<String>,
    /// Messages per second at most.
    #[arg(long)]
    pub throughput: Option<i64>,
    /// Ignore quiet hours.
    #[arg(long)]
    pub urgent: bool,
    /// Start at once.
    #[arg(long)]
    pub start: bool,
    #[command(flatten)]
    pub common: Common,
}

/// `kurier campaign …`
pub async fn run_campaign(command: CampaignCommand) -> anyhow::Result<()> {
    let now = Utc::now();
    match command {
        CampaignCommand::Create(a) => {
            let (store, account, config) = connect(&a.common).await?;
            let data = a
                .data
                .as_deref()
                .map(serde_json::from_str::<serde_json::Value>)
                .transpose()
                .context("--data must be a JSON object")?;
            let send_at =
                a.at.as_deref()
                    .map(|s| {
                        DateTime::parse_from_rfc3339(s)
                            .map(|t| t.with_timezone(&Utc))
                            .with_context(|| format!("--at: '{s}' is not an RFC 3339 time"))
                    })
                    .transpose()?;
            let input = CampaignInput {
                name: Some(a.name.clone()),
                from: a.from,
                text: a.text,
                template: a.template,
                data,
                groups: a.groups,
                tags: a.tags,
                numbers: a.numbers,
                exclude_groups: a.exclude_groups,
                send_at,
                rrule: a.rrule,
                time_zone: a.time_zone,
                throughput: a.throughput,
                urgent: a.urgent,
                ..CampaignInput::default()
            };
            let c = super::create(&store, &account, config.default_region(), input, now)
                .await
                .map_err(cli_error)?;
            let e = estimate(&store, &c, config.messages.max_segments, now).await.map_err(cli_error)?;
            println!("created campaign {} ({})", c.id, c.name);
            println!(
                "  {} recipients, {} opted out left out, {} segments",
                e.recipients, e.opted_out, e.segments
            );
            for w in &e.warnings {
                println!("  warning: {w}");
            }
            if a.start {
                if let Err(err) = super::start(&store, &c, None, now).await {
                    store.delete_draft_campaign(&account, &c.id).await?;
                    return Err(cli_error(err));
                }
                println!("  started; first run at {}", e.next_runs.first().map_or(now, |t| *t));
            }
            Ok(())
        }
        CampaignCommand::List(common) => {
            let (store, account, _) = connect(&common).await?;
            for c in store.list_campaigns(&account, None, 500).await? {
                let last = store.list_runs(&c.id).await?.into_iter().next();
                println!(
                    "{}  {:<10} {:<30} next run: {}",
                    c.id,
                    c.state.status(last.as_ref().map(|r| r.status.as_str())),
                    c.name,
                    c.next_run_at.map_or("-".into(), format_micros)
                );
            }
            Ok(())
        }
        CampaignCommand::Show(a) => {
            let (store, account, config) = connect(&a.common).await?;
            let c = find(&store, &account, &a.id).await?;
            let e = estimate(&store, &c, config.messages.max_segments, now).await.map_err(cli_error)?;
            let runs = store.list_runs(&c.id).await?;
            println!("{} — {} ({})", c.id, c.name, c.state.status(runs.first().map(|r| r.status.as_str())));
            println!("  audience: {} recipients, {} opted out left out", e.recipients, e.opted_out);
            if let Some(r) = &c.rrule {
                println!("  repeats: {r} in {}", c.time_zone.as_deref().unwrap_or("UTC"));
            }
            println!("  next run: {}", c.next_run_at.map_or("-".into(), format_micros));
            for run in runs {
                let n = store.run_counts(&run.id).await?;
                println!(
                    "  run {} {:<11} recipients {} skipped {}: queued {} sent {} delivered {} undelivered {} failed {} canceled {} replies {}",
                    run.seq,
                    run.status,
                    run.recipients,
                    run.skipped,
                    n.get(MessageStatus::Scheduled)
                        + n.get(MessageStatus::Queued)
                        + n.get(MessageStatus::Sending),
                    n.get(MessageStatus::Sent),
                    n.get(MessageStatus::Delivered),
                    n.get(MessageStatus::Undelivered) + n.get(MessageStatus::Expired),
                    n.get(MessageStatus::Failed) + n.get(MessageStatus::Rejected),
                    n.get(MessageStatus::Canceled),
                    n.replies
                );
            }
            Ok(())
        }
        CampaignCommand::Start(a) => {
            let (store, account, _) = connect(&a.common).await?;
            let c = find(&store, &account, &a.id).await?;
            super::start(&store, &c, None, now).await.map_err(cli_error)?;
            println!("started {}", c.id);
            Ok(())
        }
        CampaignCommand::Pause(a) => change(a, "paused", now).await,
        CampaignCommand::Resume(a) => change(a, "resumed", now).await,
        CampaignCommand::Cancel(a) => change(a, "canceled", now).await,
    }
}

/// `kurier campaign pause|resume|cancel ID`
async fn change(a: IdArgs, verb: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    let (store, account, _) = connect(&a.common).await?;
    let c = find(&store, &account, &a.id).await?;
    let done = match verb {
        "paused" => store.pause_campaign(&account, &c.id, now_micros()).await?,
        "resumed" => super::resume(&store, &c, None, now).await.map_err(cli_error)?,
        _ => store.cancel_campaign(&account, &c.id, now_micros()).await?,
    };
    if !done {
        bail!("the campaign is {}; it cannot be {verb}", c.state.status(None));
    }
    println!("{verb} {}", c.id);
    Ok(())
}

/// `kurier template …`
pub async fn run_template(command: TemplateCommand) -> anyhow::Result<()> {
    match command {
        TemplateCommand::Add(a) => {
            let name = template_name(&a.name).map_err(anyhow::Error::msg)?;
            let (store, account, _) = connect(&a.common).await?;
            let body = match (&a.body, &a.file) {
                (Some(b), _) => b.clone(),
                (None, Some(f)) => {
                    std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
                }
                (None, None) => bail!("give --body TEXT or --file FILE"),
            };
            let fields: Vec<String> = store
                .contact_fields(&account)
                .await?
                .into_iter()
                .map(|f| f.name.as_str().to_owned())
                .collect();
            MessageTemplate::parse(&body, &fields).map_err(|e| anyhow::anyhow!("the template: {e}"))?;
            match store.create_template(&account, &name, &body, now_micros()).await? {
                Ok(t) => println!("saved template {} ({})", t.name, t.id),
                Err(_) => bail!("a template named '{name}' already exists"),
            }
            Ok(())
        }
        TemplateCommand::List(common) => {
            let (store, account, _) = connect(&common).await?;
            for t in store.list_templates(&account).await? {
                println!("{}  {:<30} {}", t.id, t.name, t.body.replace('\n', " "));
            }
            Ok(())
        }
    }
}

async fn connect(common: &Common) -> anyhow::Result<(Store, String, Config)> {
    let config = Config::load(common.config.as_deref())?;
    let (store, account) = open(&config, &common.account).await?;
    Ok((store, account, config))
}

async fn find(store: &Store, account: &str, id: &str) -> anyhow::Result<CampaignRecord> {
    store.get_campaign(account, id.trim()).await?.with_context(|| format!("there is no campaign '{id}'"))
}

fn cli_error(e: super::CampaignError) -> anyhow::Error {
    match e {
        super::CampaignError::Invalid { field, message } => {
            // The flags are named after the API's fields, but for a few;
            // a list's field (`groups[1]`) is a repeated flag (`--group`, the 2nd).
            let (base, index) = match field.split_once('[') {
                Some((base, rest)) => (base, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (field.as_str(), None),
            };
            let flag = match base {
                "send_at" => "at".to_owned(),
                "groups" | "tags" | "numbers" | "exclude_groups" => {
                    base.trim_end_matches('s').replace('_', "-")
                }
                other => other.replace('_', "-"),
            };
            match index {
                Some(i) => anyhow::anyhow!("--{flag} (number {} given): {message}", i + 1),
                None => anyhow::anyhow!("--{flag}: {message}"),
            }
        }
        other => anyhow::anyhow!("{other}"),
    }
}
