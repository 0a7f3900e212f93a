//! The command line of imports and exports, with progress bars:
//!
//! ```text
//! kurier import contacts FILE [--group NAME]… [--map HEADER=ATTRIBUTE]… [--encoding E] [--delimiter D]
//! kurier export contacts FILE [--group NAME] [--tag TAG]
//! kurier export messages FILE [--status S] [--to N] [--q TEXT] [--tag T] [--direction D] [--since T] [--until T]
//! ```
//!
//! `main.rs` only declares the subcommands ([`ImportCommand`],
//! [`ExportCommand`]) and calls [`run_import`] / [`run_export`]. The work
//! is done by the same functions the HTTP API uses, on the database of the
//! configuration, so a running `kurier serve` sees the result (and lists
//! the import among its jobs).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::export::{ExportFormat, export_contacts, export_import_errors, export_messages};
use super::import::{ImportOptions, ImportProgress, ImportSummary, import_contacts};
use super::{parse_delimiter, parse_match_by};
use crate::config::Config;
use crate::domain::{Direction, MessageStatus, PhoneNumber, Region, Tag};
use crate::storage::{ContactFilter, ImportStatus, MessageFilter, SearchQuery, Store};
use crate::transfer::text::TextEncoding;

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Import contacts from a CSV, XLSX, XLS or ODS file (numbers already known are
    /// updated, not duplicated).
    Contacts(ImportContactsArgs),
}

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Export contacts to a CSV or XLSX file (by the file's extension).
    Contacts(ExportContactsArgs),
    /// Export the message history to a CSV or XLSX file.
    Messages(ExportMessagesArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ImportContactsArgs {
    /// The CSV, XLSX, XLS or ODS file.
    pub file: PathBuf,
    /// A group every imported contact joins (created if missing; a name of
    /// up to 100 characters, at most 20 groups); repeatable.
    #[arg(long = "group", value_name = "NAME")]
    pub groups: Vec<String>,
    /// Read a column as an attribute, e.g. "Nr kom.=phone", "Miasto=city",
    /// "PESEL=ignore"; repeatable. Other columns are recognised by header.
    #[arg(long = "map", value_name = "HEADER=ATTRIBUTE")]
    pub mapping: Vec<String>,
    /// Text encoding of a CSV file (utf-8, windows-1250, windows-1251,
    /// iso-8859-2, utf-16le); detected by default.
    #[arg(long)]
    pub encoding: Option<String>,
    /// CSV delimiter: "," ";" "tab" "|"; detected by default.
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Region of numbers written without a country code (default:
    /// messages.default_region).
    #[arg(long)]
    pub region: Option<String>,
    /// Find existing contacts by "phone" or "external_id" (default: by
    /// external id when the file has that column).
    #[arg(long = "match", value_name = "KEY")]
    pub match_by: Option<String>,
    /// The account to import into.
    #[arg(long, default_value = "default")]
    pub account: String,
    /// Where to write the report of refused rows (default: FILE.errors.csv,
    /// written only when rows were refused).
    #[arg(long, value_name = "FILE")]
    pub errors: Option<PathBuf>,
    /// TOML configuration file (for the database).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct ExportContactsArgs {
    /// Where to write; `.csv` or `.xlsx`.
    pub file: PathBuf,
    /// Only the members of this group (name or id).
    #[arg(long)]
    pub group: Option<String>,
    /// Only contacts with this tag.
    #[arg(long)]
    pub tag: Option<String>,
    #[arg(long, default_value = "default")]
    pub account: String,
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct ExportMessagesArgs {
    /// Where to write; `.csv` or `.xlsx`.
    pub file: PathBuf,
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub to: Option<String>,
    /// Full-text search: words (all must occur), "phrases", prefix*.
    #[arg(long)]
    pub q: Option<String>,
    #[arg(long)]
    pub tag: Option<String>,
    /// outbound or inbound.
    #[arg(long)]
    pub direction: Option<String>,
    /// RFC 3339 time; messages created at or after.
    #[arg(long)]
    pub since: Option<String>,
    /// RFC 3339 time; messages created before.
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, default_value = "default")]
    pub account: String,
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

/// `kurier import …`
pub async fn run_import(command: ImportCommand) -> anyhow::Result<()> {
    match command {
        ImportCommand::Contacts(args) => {
            let config = Config::load(args.config.as_deref())?;
            let summary = import_contacts_command(&config, &args).await?;
            if summary.status == ImportStatus::Failed {
                bail!("nothing more was imported");
            }
            Ok(())
        }
    }
}

/// `kurier export …`
pub async fn run_export(command: ExportCommand) -> anyhow::Result<()> {
    match command {
        ExportCommand::Contacts(args) => {
            let config = Config::load(args.config.as_deref())?;
            export_contacts_command(&config, &args).await.map(|_| ())
        }
        ExportCommand::Messages(args) => {
            let config = Config::load(args.config.as_deref())?;
            export_messages_command(&config, &args).await.map(|_| ())
        }
    }
}

/// The configuration's database and the id of the account named `account`.
pub(crate) async fn open(config: &Config, account: &str) -> anyhow::Result<(Store, String)> {
    let store = Store::open(
        &config.database.url,
        config.database.max_connections,
        &config.database.sqlite_synchronous,
    )
    .await?;
    let account_id = store
        .account_id_by_name(account)
        .await?
        .with_context(|| {
            format!("there is no account '{account}' (see --account; `kurier serve` creates 'default' at its first start)")
        })?;
    Ok((store, account_id))
}

/// A progress bar on the terminal (hidden when stderr is not one); with a
/// bar and time left when the total is known (imports), a count otherwise.
fn bar(message: &'static str, with_total: bool) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    let template = if with_total {
        "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} rows ({per_sec}, {eta} left)"
    } else {
        "{spinner} {msg} {human_pos} rows ({per_sec})"
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Imports a file as `kurier import contacts` does, printing a summary and
/// writing the error report next to the file.
pub async fn import_contacts_command(
    config: &Config,
    args: &ImportContactsArgs,
) -> anyhow::Result<ImportSummary> {
    let mut options = ImportOptions { region: config.default_region(), ..ImportOptions::default() };
    for g in &args.groups {
        options.add_group(g).map_err(|e| anyhow::anyhow!("--group '{g}': {e}"))?;
    }
    for m in &args.mapping {
        let (column, attribute) =
            m.rsplit_once('=').with_context(|| format!("--map '{m}' must be HEADER=ATTRIBUTE"))?;
        options.mapping.push((column.trim().to_owned(), attribute.trim().to_owned()));
    }
    if let Some(e) = &args.encoding {
        options.encoding =
            Some(TextEncoding::from_label(e).with_context(|| format!("--encoding: unknown encoding '{e}'"))?);
    }
    if let Some(d) = &args.delimiter {
        options.delimiter =
            Some(parse_delimiter(d).with_context(|| format!("--delimiter: use , ; tab or |, not '{d}'"))?);
    }
    if let Some(r) = &args.region {
        options.region = Some(r.parse::<Region>().map_err(|e| anyhow::anyhow!("--region: {e}"))?);
    }
    if let Some(m) = &args.match_by {
        options.match_by =
            Some(parse_match_by(m).with_context(|| format!("--match: use phone or external_id, not '{m}'"))?);
    }
    let file = File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    let (store, account_id) = open(config, &args.account).await?;
    let progress = bar("importing", true);
    let shown = progress.clone();
    let summary = import_contacts(&store, &account_id, file, options, move |p: &ImportProgress| {
        if let Some(total) = p.rows_total {
            shown.set_length(total);
        }
        shown.set_position(p.rows_read);
    })
    .await;
    progress.finish_and_clear();
    let summary = summary?;
    print_summary(&summary);
    if summary.progress.failed > 0 {
        let path = args.errors.clone().unwrap_or_else(|| errors_path(&args.file));
        let job = store.get_import(&account_id, &summary.job_id).await?.context("the import job vanished")?;
        let partial = partial_path(&path);
        let out = BufWriter::new(
            File::create(&partial).with_context(|| format!("cannot write {}", partial.display()))?,
        );
        let unlisted = job.unlisted_problems();
        export_import_errors(&store, &summary.job_id, unlisted, out).await?;
        std::fs::rename(&partial, &path)?;
        println!("The refused rows and why: {}", path.display());
    }
    store.close().await;
    Ok(summary)
}

fn print_summary(s: &ImportSummary) {
    let p = &s.progress;
    if let Some(f) = &s.failure {
        println!("Import {} failed: {}", s.job_id, f.message);
    }
    let read_as = match (s.format, s.encoding, s.delimiter) {
        (Some(format), Some(encoding), Some(d)) => {
            format!(
                " ({}, {encoding}, delimiter {})",
                format.as_str(),
                if d == '\t' { "tab".into() } else { format!("'{d}'") }
            )
        }
        (Some(format), _, _) => format!(" ({})", format.as_str()),
        _ => String::new(),
    };
    println!(
        "Read {} rows{read_as}: {} contacts created, {} updated, {} rows refused.",
        p.rows_read, p.created, p.updated, p.failed
    );
    for c in &s.columns {
        let attribute = c.attribute.as_deref().unwrap_or("(ignored)");
        println!("  column {} {:<24} -> {attribute}", c.column, format!("'{}'", c.header));
    }
}

fn errors_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".errors.csv");
    file.with_file_name(name)
}

fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    file.with_file_name(name)
}

fn format_of(path: &Path) -> anyhow::Result<ExportFormat> {
    ExportFormat::from_path(path)
        .with_context(|| format!("{}: name the file .csv or .xlsx to choose the format", path.display()))
}

/// Exports contacts as `kurier export contacts` does; returns how many.
pub async fn export_contacts_command(config: &Config, args: &ExportContactsArgs) -> anyhow::Result<u64> {
    let format = format_of(&args.file)?;
    let (store, account_id) = open(config, &args.account).await?;
    let mut which = ContactFilter::default();
    if let Some(g) = &args.group {
        let group =
            store.find_group(&account_id, g).await?.with_context(|| format!("there is no group '{g}'"))?;
        which.group_id = Some(group.id);
    }
    if let Some(t) = &args.tag {
        which.tag = Some(Tag::parse(t).map_err(|e| anyhow::anyhow!("--tag: {e}"))?.as_str().to_owned());
    }
    let n = write_to_file(&args.file, |out, bar| {
        let store = store.clone();
        async move {
            export_contacts(&store, &account_id, &which, format, out, move |n| bar.set_position(n)).await
        }
    })
    .await?;
    println!("Exported {n} contacts to {}", args.file.display());
    store.close().await;
    Ok(n)
}

/// Exports messages as `kurier export messages` does; returns how many.
pub async fn export_messages_command(config: &Config, args: &ExportMessagesArgs) -> anyhow::Result<u64> {
    let format = format_of(&args.file)?;
    let time = |flag: &str, s: &Option<String>| -> anyhow::Result<Option<i64>> {
        s.as_deref()
            .map(|s| {
                chrono::DateTime::parse_from_rfc3339(s).map(|t| t.timestamp_micros()).map_err(|_| {
                    anyhow::anyhow!("--{flag}: '{s}' is not an RFC 3339 time such as 2026-05-01T00:00:00Z")
                })
            })
            .transpose()
    };
    let filter = MessageFilter {
        status: args
            .status
            .as_deref()
            .map(|s| s.parse::<MessageStatus>().map_err(|e| anyhow::anyhow!("--status: {e}")))
            .transpose()?,
        to: args
            .to
            .as_deref()
            .map(|t| PhoneNumber::parse(t, config.default_region()).map(|p| p.to_string()))
            .transpose()
            .map_err(|e| anyhow::anyhow!("--to: {e}"))?,
        q: args
            .q
            .as_deref()
            .filter(|q| !q.trim().is_empty())
            .map(SearchQuery::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--q: the search phrase {e}"))?,
        tag: args
            .tag
            .as_deref()
            .map(|t| Tag::parse(t).map(|t| t.as_str().to_owned()))
            .transpose()
            .map_err(|e| anyhow::anyhow!("--tag: {e}"))?,
        direction: args
            .direction
            .as_deref()
            .map(|d| {
                d.parse::<Direction>().map_err(|_| anyhow::anyhow!("--direction: use outbound or inbound"))
            })
            .transpose()?,
        since: time("since", &args.since)?,
        until: time("until", &args.until)?,
        ..MessageFilter::default()
    };
    let (store, account_id) = open(config, &args.account).await?;
    let n = write_to_file(&args.file, |out, bar| {
        let store = store.clone();
        async move {
            export_messages(&store, &account_id, &filter, format, out, move |n| bar.set_position(n)).await
        }
    })
    .await?;
    println!("Exported {n} messages to {}", args.file.display());
    store.close().await;
    Ok(n)
}

/// Writes to `FILE.partial`, renamed to `FILE` once complete.
async fn write_to_file<F, Fut>(path: &Path, export: F) -> anyhow::Result<u64>
where
    F: FnOnce(BufWriter<File>, ProgressBar) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<u64>>,
{
    let partial = partial_path(path);
    let file = File::create(&partial).with_context(|| format!("cannot write {}", partial.display()))?;
    let bar = bar("exporting", false);
    let result = export(BufWriter::new(file), bar.clone()).await;
    bar.finish_and_clear();
    match result {
        Ok(n) => {
            std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}
