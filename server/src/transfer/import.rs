//! Importing contacts from a CSV or XLSX file, as a job.
//!
//! The file is read twice, in bounded memory. The first pass checks the
//! whole file (format, structure, text encoding, delimiter) and counts its
//! rows, storing nothing: a file that cannot be read as a table — empty,
//! binary, a damaged XLSX, undecidable columns — fails before the first
//! contact is written. The second pass reads rows, checks every cell
//! against its attribute, and stores valid rows in batches of
//! [`IMPORT_BATCH_ROWS`], each batch with its error rows and the job's
//! counters in one transaction. A row is imported whole or reported whole
//! (row, column, reason); the same number twice is one contact (later values
//! win; empty cells change nothing).
//!
//! Parsing runs on a blocking thread and hands batches to the writer over
//! a channel of two, so neither side runs ahead of the other.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use tokio::sync::mpsc;

use super::export::{CELL_BREAKS, formula_after_break};
use super::mapping::{self, Attribute, ColumnPlan, ColumnUse, MappingProblem};
use super::table::{self, Cell, FileFormat, FileProblem, RowItem, Stop};
use super::text::{self, EncodingStats, TextEncoding, Utf16Reader};
use crate::domain::{PhoneNumber, PhoneNumberError, Region, Tag};
use crate::storage::contact_types::{
    MAX_EXTERNAL_ID_LEN, MAX_NAME_LEN, MAX_NOTES_LEN, parse_bool, parse_date,
};
use crate::storage::{
    ContactChanges, ContactWrite, Email, FieldDef, FieldValue, ImportBatch, ImportDescription,
    ImportRowError, ImportStatus, Language, MAX_CONTACT_GROUPS, MAX_CONTACT_TAGS, MAX_GROUP_NAME_LEN,
    MatchBy, SetChange, Store, Target, TimeZone, clean_text, group_name_key, now_micros,
};

/// Rows stored per transaction.
pub const IMPORT_BATCH_ROWS: usize = 1_000;
/// Error rows held before they are stored, however few rows they come
/// from (a row has at most one problem per column, so a batch holds at
/// most this and one row's worth).
pub const IMPORT_BATCH_ERRORS: usize = 1_000;
/// Most groups named for every contact of an import.
pub const MAX_JOB_GROUPS: usize = 20;
/// Most different groups the groups column of one file may name: each is
/// created, if missing, inside a batch's transaction, which holds the
/// database's writer (SQLite has one) while it runs.
pub const MAX_FILE_GROUPS: usize = 1_000;
/// Bytes looked at to tell what a file is.
const SNIFF_BYTES: usize = 8 * 1024;
/// Longest cell content repeated in an error report.
const MAX_REPORTED_VALUE_CHARS: usize = 100;
/// How often a job shows it is alive while checking a file.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Batches parsed ahead of the writer.
const BATCHES_AHEAD: usize = 2;

/// How to read a file.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Groups every imported contact joins (by name; created if missing).
    pub groups: Vec<String>,
    /// Explicit column mapping: (header or column letter, attribute).
    pub mapping: Vec<(String, String)>,
    /// The text encoding of a CSV file; detected when `None`.
    pub encoding: Option<TextEncoding>,
    /// The CSV delimiter; detected when `None`.
    pub delimiter: Option<u8>,
    /// Region to read national numbers in (the account default).
    pub region: Option<Region>,
    /// How rows find existing contacts; by external id when the file has
    /// an external id column, else by number.
    pub match_by: Option<MatchBy>,
    /// A job created earlier (`queued`) to run; `None` creates one.
    pub job_id: Option<String>,
}

impl ImportOptions {
    /// Adds a group every imported contact joins (the API's `group`, the
    /// command line's `--group`): a name of at most [`MAX_GROUP_NAME_LEN`]
    /// characters without control characters, at most [`MAX_JOB_GROUPS`]
    /// of them; a name given twice (in any case) counts once. The error
    /// says what is wrong with the name.
    pub fn add_group(&mut self, name: &str) -> Result<(), String> {
        let name = clean_text(name, MAX_GROUP_NAME_LEN, false)
            .map_err(|e| format!("the group name {e}"))?
            .ok_or_else(|| "the group name may not be empty".to_owned())?;
        if self.groups.iter().any(|g| group_name_key(g) == group_name_key(&name)) {
            return Ok(());
        }
        if self.groups.len() >= MAX_JOB_GROUPS {
            return Err(format!("at most {MAX_JOB_GROUPS} groups"));
        }
        self.groups.push(name);
        Ok(())
    }
}

/// Where an import is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportProgress {
    /// Data rows in the file (known after the first pass).
    pub rows_total: Option<u64>,
    pub rows_read: u64,
    pub created: u64,
    pub updated: u64,
    pub failed: u64,
}

/// Why a whole file was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportFailure {
    /// `empty`, `binary`, `bad_xlsx`, `bad_xls`, `bad_ods`, `too_large`, `unreadable`,
    /// `no_phone_column`, `duplicate_columns`, `unknown_column`,
    /// `unknown_attribute`, `unreadable_header`, `internal`.
    pub code: &'static str,
    pub message: String,
}

impl From<FileProblem> for ImportFailure {
    fn from(p: FileProblem) -> Self {
        let code = match p {
            FileProblem::Empty => "empty",
            FileProblem::Binary(_) => "binary",
            FileProblem::BadXlsx(_) | FileProblem::NoSheet(FileFormat::Xlsx) => "bad_xlsx",
            FileProblem::BadXls(_) | FileProblem::NoSheet(FileFormat::Xls) => "bad_xls",
            FileProblem::BadOds(_) | FileProblem::NoSheet(_) => "bad_ods",
            FileProblem::TooLargeToReadWhole(_) | FileProblem::TooDemanding(..) => "too_large",
            FileProblem::Io(_) => "unreadable",
        };
        Self { code, message: p.to_string() }
    }
}

impl From<MappingProblem> for ImportFailure {
    fn from(p: MappingProblem) -> Self {
        let code = match p {
            MappingProblem::NoPhoneColumn(_) => "no_phone_column",
            MappingProblem::Duplicate { .. } => "duplicate_columns",
            MappingProblem::UnknownColumn(..) => "unknown_column",
            MappingProblem::UnknownAttribute(..) => "unknown_attribute",
        };
        Self { code, message: p.to_string() }
    }
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    pub job_id: String,
    pub status: ImportStatus,
    pub format: Option<FileFormat>,
    /// The text encoding read (CSV).
    pub encoding: Option<&'static str>,
    pub delimiter: Option<char>,
    pub columns: Vec<ColumnUse>,
    pub progress: ImportProgress,
    /// Set when the whole file was refused.
    pub failure: Option<ImportFailure>,
}

/// What the parsing thread tells the writer.
enum Msg {
    Described {
        description: ImportDescription,
        columns: Vec<ColumnUse>,
        attribute_columns: HashMap<&'static str, String>,
    },
    Batch(Parsed),
    Alive,
}

/// Rows parsed since the last batch.
#[derive(Default)]
struct Parsed {
    writes: Vec<ContactWrite>,
    rows: Vec<u64>,
    row_groups: Vec<Vec<String>>,
    errors: Vec<ImportRowError>,
    failed_rows: u64,
    rows_read: u64,
}

/// Imports contacts from `reader` into the account, as job
/// `options.job_id` (or a new one). `progress` is called after every
/// stored batch. Problems with the file end up in the summary (and the
/// job); the error is for storage failures.
pub async fn import_contacts<R>(
    store: &Store,
    account_id: &str,
    reader: R,
    options: ImportOptions,
    progress: impl Fn(&ImportProgress),
) -> anyhow::Result<ImportSummary>
where
    R: Read + Seek + Send + 'static,
{
    let job_id = match &options.job_id {
        Some(id) => id.clone(),
        None => store.create_import(account_id, &options.groups, now_micros()).await?,
    };
    let fields = store.contact_fields(account_id).await?;
    let (tx, mut rx) = mpsc::channel(BATCHES_AHEAD);
    let parse_options = options.clone();
    let parser = tokio::task::spawn_blocking(move || parse(reader, &parse_options, &fields, &tx));

    let mut summary = ImportSummary {
        job_id: job_id.clone(),
        status: ImportStatus::Running,
        format: None,
        encoding: None,
        delimiter: None,
        columns: Vec::new(),
        progress: ImportProgress::default(),
        failure: None,
    };
    let mut attribute_columns = HashMap::new();
    let mut last_beat = Instant::now();
    let stored: anyhow::Result<()> = async {
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Described { description, columns, attribute_columns: by_attribute } => {
                    summary.format = FileFormat::from_name(&description.format);
                    summary.encoding = description
                        .encoding
                        .as_deref()
                        .and_then(TextEncoding::from_label)
                        .map(TextEncoding::name);
                    summary.delimiter = description.delimiter.as_deref().and_then(|d| d.chars().next());
                    summary.progress.rows_total = description.rows_total.map(|n| n.max(0) as u64);
                    summary.columns = columns;
                    attribute_columns = by_attribute;
                    store.start_import(&job_id, &description, now_micros()).await?;
                    progress(&summary.progress);
                }
                Msg::Batch(parsed) => {
                    let rows_read = parsed.rows_read;
                    let batch = ImportBatch {
                        writes: parsed.writes,
                        rows: parsed.rows,
                        errors: parsed.errors,
                        failed_rows: parsed.failed_rows,
                        rows_read,
                        columns: attribute_columns.clone(),
                        row_groups: parsed.row_groups,
                    };
                    let counts = store
                        .import_batch(&job_id, account_id, &options.groups, batch, now_micros())
                        .await
                        .context("storing a batch of imported contacts")?;
                    let p = &mut summary.progress;
                    p.rows_read = rows_read;
                    p.created += counts.created;
                    p.updated += counts.updated;
                    p.failed += counts.failed;
                    progress(p);
                    last_beat = Instant::now();
                }
                Msg::Alive => {
                    if last_beat.elapsed() >= HEARTBEAT {
                        store.import_heartbeat(&job_id, now_micros()).await?;
                        last_beat = Instant::now();
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    drop(rx);
    let parsed = parser.await;
    if let Err(e) = stored {
        tracing::error!(import = job_id, error = %format!("{e:#}"), "an import stopped on a storage error");
        let message = format!(
            "the import stopped on a storage error after {} rows (see the server log); import the file again to finish it",
            summary.progress.rows_read
        );
        let _ = store.finish_import(&job_id, Some(("internal", &message)), now_micros()).await;
        return Err(e);
    }
    let failure = match parsed {
        Ok(Ok(())) => None,
        Ok(Err(f)) => Some(f),
        Err(e) => {
            tracing::error!(import = job_id, error = %e, "an import's reader stopped unexpectedly");
            Some(ImportFailure {
                code: "internal",
                message: "the import stopped unexpectedly; see the server log".into(),
            })
        }
    };
    store
        .finish_import(&job_id, failure.as_ref().map(|f| (f.code, f.message.as_str())), now_micros())
        .await?;
    summary.status = if failure.is_some() { ImportStatus::Failed } else { ImportStatus::Completed };
    summary.failure = failure;
    Ok(summary)
}

/// Reads the whole file (on a blocking thread), sending batches.
fn parse<R: Read + Seek>(
    mut reader: R,
    options: &ImportOptions,
    fields: &[FieldDef],
    out: &mpsc::Sender<Msg>,
) -> Result<(), ImportFailure> {
    let io_failure = |e: io::Error| ImportFailure::from(FileProblem::Io(e.to_string()));
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut reader).take(SNIFF_BYTES as u64).read_to_end(&mut head).map_err(io_failure)?;
    let format = table::sniff(&head, options.encoding)?;
    let mut rows = RowHandler::new(options, fields, out);
    match format {
        FileFormat::Csv => {
            let bom = text::bom(&head);
            let bom_len = bom.map_or(0, |b| b.1);
            let declared = bom.map(|b| b.0).or(options.encoding);
            let delimiter = match options.delimiter {
                Some(d) => d,
                None => {
                    let mut sample = Vec::new();
                    open_text(&mut reader, bom_len, declared)
                        .and_then(|s| s.take(table::DELIMITER_SAMPLE_BYTES as u64).read_to_end(&mut sample))
                        .map_err(io_failure)?;
                    table::detect_delimiter(&sample)
                }
            };
            // First pass: the encoding and the number of rows.
            let mut stats = EncodingStats::default();
            let mut guard = table::RecordGuard::new(
                BufReader::new(Observer {
                    inner: open_text(&mut reader, bom_len, declared).map_err(io_failure)?,
                    stats: &mut stats,
                    out,
                    last: Instant::now(),
                }),
                delimiter,
                false,
            );
            io::copy(&mut guard, &mut io::sink()).map_err(io_failure)?;
            let records: u64 = guard.counts.iter().sum();
            drop(guard);
            stats.finish();
            let encoding = declared.unwrap_or_else(|| stats.best());
            if records == 0 {
                return Err(FileProblem::Empty.into());
            }
            rows.description = ImportDescription {
                format: "csv".into(),
                encoding: Some(encoding.name().to_owned()),
                delimiter: Some(char::from(delimiter).to_string()),
                columns: String::new(),
                rows_total: Some(records as i64 - 1),
            };
            let input = open_text(&mut reader, bom_len, declared).map_err(io_failure)?;
            table::read_csv(input, delimiter, encoding, &mut |item| rows.handle(item))?;
        }
        FileFormat::Xlsx => {
            reader.seek(SeekFrom::Start(0)).map_err(io_failure)?;
            let mut count = 0u64;
            let mut last = Instant::now();
            table::read_xlsx(BufReader::new(&mut reader), &mut |_| {
                count += 1;
                if last.elapsed() >= HEARTBEAT {
                    last = Instant::now();
                    out.blocking_send(Msg::Alive).map_err(|_| Stop)?;
                }
                Ok(())
            })?;
            if count == 0 {
                return Err(FileProblem::Empty.into());
            }
            rows.description = ImportDescription {
                format: "xlsx".into(),
                encoding: None,
                delimiter: None,
                columns: String::new(),
                rows_total: Some(count as i64 - 1),
            };
            reader.seek(SeekFrom::Start(0)).map_err(io_failure)?;
            table::read_xlsx(BufReader::new(&mut reader), &mut |item| rows.handle(item))?;
        }
        FileFormat::Xls | FileFormat::Ods => {
            let size = reader.seek(SeekFrom::End(0)).map_err(io_failure)?;
            if size > table::MAX_WHOLE_WORKBOOK_BYTES {
                return Err(FileProblem::TooLargeToReadWhole(format).into());
            }
            reader.seek(SeekFrom::Start(0)).map_err(io_failure)?;
            let sheet = table::load_first_sheet(format, BufReader::new(&mut reader))?;
            let mut count = 0u64;
            table::read_sheet(&sheet, &mut |_| {
                count += 1;
                Ok(())
            });
            if count == 0 {
                return Err(FileProblem::Empty.into());
            }
            rows.description = ImportDescription {
                format: format.as_str().into(),
                encoding: None,
                delimiter: None,
                columns: String::new(),
                rows_total: Some(count as i64 - 1),
            };
            table::read_sheet(&sheet, &mut |item| rows.handle(item));
        }
    }
    rows.finish()
}

/// The text of a CSV file from its start (after the byte-order mark), as
/// UTF-8 or single-byte text.
fn open_text<R: Read + Seek>(
    reader: &mut R,
    bom_len: usize,
    declared: Option<TextEncoding>,
) -> io::Result<Box<dyn BufRead + '_>> {
    reader.seek(SeekFrom::Start(bom_len as u64))?;
    Ok(match declared {
        Some(TextEncoding::Utf16(e)) => Box::new(BufReader::new(Utf16Reader::new(reader, e))),
        _ => Box::new(BufReader::new(reader)),
    })
}

/// Watches the bytes of the first pass for the encoding detection, and
/// tells the writer the job is alive.
struct Observer<'a, R> {
    inner: R,
    stats: &'a mut EncodingStats,
    out: &'a mpsc::Sender<Msg>,
    last: Instant,
}

impl<R: Read> Read for Observer<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.stats.observe(&buf[..n]);
        if self.last.elapsed() >= HEARTBEAT {
            self.last = Instant::now();
            self.out
                .blocking_send(Msg::Alive)
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the import was abandoned"))?;
        }
        Ok(n)
    }
}

/// Turns rows into contact writes and error rows, batch by batch.
struct RowHandler<'a> {
    options: &'a ImportOptions,
    fields: &'a [FieldDef],
    out: &'a mpsc::Sender<Msg>,
    plan: Option<ColumnPlan>,
    match_by: MatchBy,
    description: ImportDescription,
    batch: Parsed,
    rows_read: u64,
    failure: Option<ImportFailure>,
    /// The groups named by the rows so far (by [`group_name_key`]).
    group_keys: HashSet<String>,
}

impl<'a> RowHandler<'a> {
    fn new(options: &'a ImportOptions, fields: &'a [FieldDef], out: &'a mpsc::Sender<Msg>) -> Self {
        Self {
            options,
            fields,
            out,
            plan: None,
            match_by: MatchBy::Phone,
            description: ImportDescription::default(),
            batch: Parsed::default(),
            rows_read: 0,
            failure: None,
            group_keys: HashSet::new(),
        }
    }

    fn handle(&mut self, item: RowItem) -> Result<(), Stop> {
        if self.plan.is_none() {
            return self.header(item);
        }
        self.rows_read += 1;
        match item {
            RowItem::Unreadable { number, reason } => {
                self.batch.errors.push(ImportRowError { row: number, column: None, value: None, reason });
                self.batch.failed_rows += 1;
            }
            RowItem::Row { cells, .. } if cells.iter().all(Cell::is_blank) => {}
            RowItem::Row { number, cells } => self.row(number, &cells),
        }
        if self.batch.rows.len() + self.batch.failed_rows as usize >= IMPORT_BATCH_ROWS
            || self.batch.errors.len() >= IMPORT_BATCH_ERRORS
        {
            self.flush()?;
        }
        Ok(())
    }

    fn header(&mut self, item: RowItem) -> Result<(), Stop> {
        let (number, cells) = match item {
            RowItem::Unreadable { number, reason } => {
                self.failure = Some(ImportFailure {
                    code: "unreadable_header",
                    message: format!("the header row (row {number}) cannot be read: {reason}"),
                });
                return Err(Stop);
            }
            RowItem::Row { cells, .. } if cells.iter().all(Cell::is_blank) => return Ok(()),
            RowItem::Row { number, cells } => (number, cells),
        };
        let first: Vec<String> = cells.iter().map(Cell::text).collect();
        let plan = match mapping::plan(&first, &self.options.mapping, self.fields, self.options.region) {
            Ok(p) => p,
            Err(p) => {
                self.failure = Some(p.into());
                return Err(Stop);
            }
        };
        let has_external = plan.attributes.contains(&Some(Attribute::ExternalId));
        self.match_by =
            self.options.match_by.unwrap_or(if has_external { MatchBy::ExternalId } else { MatchBy::Phone });
        let mut by_attribute = HashMap::new();
        for attribute in ["phone", "external_id", "groups"] {
            if let Some(h) = plan.header_of(attribute) {
                by_attribute.insert(attribute, h);
            }
        }
        let headerless = plan.headerless;
        if headerless && let Some(total) = self.description.rows_total.as_mut() {
            *total += 1;
        }
        self.description.columns = serde_json::to_string(&plan.uses).unwrap_or_default();
        let described = Msg::Described {
            description: self.description.clone(),
            columns: plan.uses.clone(),
            attribute_columns: by_attribute,
        };
        self.plan = Some(plan);
        self.out.blocking_send(described).map_err(|_| Stop)?;
        if headerless {
            return self.handle(RowItem::Row { number, cells });
        }
        Ok(())
    }

    fn row(&mut self, number: u64, cells: &[Cell]) {
        let Some(plan) = &self.plan else { return };
        match read_row(number, cells, plan, self.options.region, self.match_by).and_then(
            |(changes, groups)| {
                admit_groups(&mut self.group_keys, number, plan, groups).map(|g| (changes, g))
            },
        ) {
            Ok((changes, groups)) => {
                self.batch.writes.push(ContactWrite { target: Target::Match(self.match_by), changes });
                self.batch.rows.push(number);
                self.batch.row_groups.push(groups);
            }
            Err(errors) => {
                self.batch.errors.extend(errors);
                self.batch.failed_rows += 1;
            }
        }
    }

    fn flush(&mut self) -> Result<(), Stop> {
        let mut batch = std::mem::take(&mut self.batch);
        batch.rows_read = self.rows_read;
        self.out.blocking_send(Msg::Batch(batch)).map_err(|_| Stop)
    }

    fn finish(mut self) -> Result<(), ImportFailure> {
        if let Some(f) = self.failure.take() {
            return Err(f);
        }
        if self.plan.is_none() {
            return Err(FileProblem::Empty.into());
        }
        // A closed channel means the writer gave up; it reports why.
        let _ = self.flush();
        Ok(())
    }
}

/// Passes a row's groups on, noting in `seen` those not named before: a
/// row that would take the file past [`MAX_FILE_GROUPS`] is refused.
fn admit_groups(
    seen: &mut HashSet<String>,
    number: u64,
    plan: &ColumnPlan,
    groups: Vec<String>,
) -> Result<Vec<String>, Vec<ImportRowError>> {
    let new: HashSet<String> =
        groups.iter().map(|g| group_name_key(g)).filter(|k| !seen.contains(k)).collect();
    if seen.len() + new.len() > MAX_FILE_GROUPS {
        return Err(vec![ImportRowError {
            row: number,
            column: plan.header_of("groups"),
            value: None,
            reason: format!(
                "the file names more than {MAX_FILE_GROUPS} groups; one import creates at most {MAX_FILE_GROUPS}"
            ),
        }]);
    }
    seen.extend(new);
    Ok(groups)
}

/// Reads one data row into changes to its contact (and the names of the
/// groups it joins), or its problems: the first of each cell.
fn read_row(
    number: u64,
    cells: &[Cell],
    plan: &ColumnPlan,
    region: Option<Region>,
    match_by: MatchBy,
) -> Result<(ContactChanges, Vec<String>), Vec<ImportRowError>> {
    let mut changes = ContactChanges::default();
    let mut errors = Vec::new();
    let (mut first_name, mut last_name) = (None::<String>, None::<String>);
    let mut tags: Vec<Tag> = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    // What `tags` and `groups` hold, to drop repeats.
    let (mut tag_set, mut group_keys) = (HashSet::new(), HashSet::new());
    for (i, attribute) in plan.attributes.iter().enumerate() {
        let Some(attribute) = attribute else { continue };
        let cell = cells.get(i).unwrap_or(&Cell::Empty);
        if cell.is_blank() {
            continue;
        }
        let text = unescape_formula(cell.text());
        let mut fail = |reason: String| {
            errors.push(ImportRowError {
                row: number,
                column: Some(plan.headers[i].clone()),
                value: Some(text.chars().take(MAX_REPORTED_VALUE_CHARS).collect()),
                reason,
            });
        };
        if let Cell::Error(e) = cell {
            fail(format!("the cell holds the spreadsheet error {e}"));
            continue;
        }
        let clean = |max: usize, multiline: bool| {
            clean_text(&text, max, multiline).map_err(|e| format!("the text {e}"))
        };
        match attribute {
            Attribute::Phone => match phone_from_cell(cell, &text, region) {
                Ok(p) => changes.phone = Some(p),
                Err(reason) => fail(reason),
            },
            Attribute::Name => match clean(MAX_NAME_LEN, false) {
                Ok(v) => first_name = v,
                Err(r) => fail(r),
            },
            Attribute::LastName => match clean(MAX_NAME_LEN, false) {
                Ok(v) => last_name = v,
                Err(r) => fail(r),
            },
            Attribute::Email => match Email::parse(&text) {
                Ok(e) => changes.email = Some(Some(e)),
                Err(e) => fail(e.to_string()),
            },
            Attribute::Language => match Language::parse(&text) {
                Ok(l) => changes.language = Some(Some(l)),
                Err(e) => fail(e.to_string()),
            },
            Attribute::TimeZone => match TimeZone::parse(&text) {
                Ok(t) => changes.time_zone = Some(Some(t)),
                Err(e) => fail(e.to_string()),
            },
            Attribute::ExternalId => match clean(MAX_EXTERNAL_ID_LEN, false) {
                Ok(v) => changes.external_id = Some(v),
                Err(r) => fail(r),
            },
            Attribute::Notes => match clean(MAX_NOTES_LEN, true) {
                Ok(v) => changes.notes = Some(v),
                Err(r) => fail(r),
            },
            Attribute::Tags => {
                // The first bad word is the cell's problem: a cell of
                // thousands of them is one line of the report, not thousands.
                for word in text.split(|c: char| matches!(c, ',' | ';' | '|') || c.is_whitespace()) {
                    if word.trim().is_empty() {
                        continue;
                    }
                    if tags.len() > MAX_CONTACT_TAGS {
                        break;
                    }
                    match Tag::parse(word) {
                        Ok(t) if tag_set.insert(t.clone()) => tags.push(t),
                        Ok(_) => {}
                        Err(e) => {
                            fail(format!("'{word}' is not a tag: {e}"));
                            break;
                        }
                    }
                }
            }
            Attribute::Groups => {
                for name in mapping::split_group_names(&text) {
                    if groups.len() > MAX_CONTACT_GROUPS {
                        break;
                    }
                    match clean_text(&name, MAX_GROUP_NAME_LEN, false) {
                        Ok(Some(n)) if group_keys.insert(group_name_key(&n)) => groups.push(n),
                        Ok(_) => {}
                        Err(e) => {
                            fail(format!("the group name {e}"));
                            break;
                        }
                    }
                }
            }
            Attribute::OptedOut => match opted_out(cell, &text) {
                Some((v, at)) => {
                    changes.opted_out = Some(v);
                    changes.opted_out_at = at;
                }
                None => fail(format!("'{text}' is neither yes/no nor a date")),
            },
            Attribute::Field { id, kind, .. } => match FieldValue::parse_text(*kind, &text) {
                Ok(v) => changes.fields.push((id.clone(), v)),
                Err(e) => fail(e.to_string()),
            },
        }
    }
    let name = match (first_name, last_name) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (f, l) => f.or(l),
    };
    if let Some(name) = name {
        if name.chars().count() > MAX_NAME_LEN {
            errors.push(ImportRowError {
                row: number,
                column: plan.header_of("last_name"),
                value: None,
                reason: format!("the name is longer than {MAX_NAME_LEN} characters"),
            });
        }
        changes.name = Some(Some(name));
    }
    for (attribute, count, most) in
        [("tags", tags.len(), MAX_CONTACT_TAGS), ("groups", groups.len(), MAX_CONTACT_GROUPS)]
    {
        if count > most {
            errors.push(ImportRowError {
                row: number,
                column: plan.header_of(attribute),
                value: None,
                reason: format!("more than {most} {attribute}; a contact is given at most {most} at once"),
            });
        }
    }
    if !tags.is_empty() {
        changes.tags = SetChange::Add(tags);
    }
    let needs_phone = match_by == MatchBy::Phone || changes.external_id.is_none();
    if changes.phone.is_none() && needs_phone && !errors.iter().any(|e| e.column == plan.header_of("phone")) {
        errors.push(ImportRowError {
            row: number,
            column: plan.header_of("phone"),
            value: None,
            reason: "the phone number is missing".into(),
        });
    }
    if errors.is_empty() { Ok((changes, groups)) } else { Err(errors) }
}

/// Characters that make a spreadsheet read a cell as a formula; exports
/// put `'` before them, imports take it away again.
pub const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Takes away the `'` an export put before a formula: at the start, and
/// after a cell break where the CSV writer put one
/// ([`super::export::escape_csv_field`]).
fn unescape_formula(s: String) -> String {
    let s = match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_TRIGGERS) => rest.to_owned(),
        _ => s,
    };
    if !s.contains(CELL_BREAKS) {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(at) = rest.find(CELL_BREAKS) {
        let (head, tail) = rest.split_at(at + 1);
        out.push_str(head);
        rest = match tail.strip_prefix('\'') {
            Some(after) if formula_after_break(after) => after,
            _ => tail,
        };
    }
    out.push_str(rest);
    out
}

/// Reads a phone number as spreadsheets hold them: text in any local
/// format, or a number (which has lost its `+`).
fn phone_from_cell(cell: &Cell, text: &str, region: Option<Region>) -> Result<PhoneNumber, String> {
    let text = text.trim();
    if matches!(cell, Cell::Number(x) if x.fract() != 0.0 || *x < 0.0) || looks_scientific(text) {
        return Err(format!(
            "'{text}' is a number in scientific notation or with decimals; digits were lost — format the column as text in the spreadsheet"
        ));
    }
    match PhoneNumber::parse(text, region) {
        Ok(p) => Ok(p),
        Err(e) => {
            // A number without `+` that only makes sense with it (a
            // spreadsheet number such as 48600100200).
            let digits_only = text.bytes().all(|b| b.is_ascii_digit());
            if digits_only
                && !text.starts_with('0')
                && (region.is_some() || text.len() >= 11)
                && let Ok(p) = PhoneNumber::parse(&format!("+{text}"), None)
            {
                return Ok(p);
            }
            Err(match e {
                PhoneNumberError::NoRegion(_) => format!(
                    "'{text}' is a national number; write it with a country code (+48…), or import with region=PL (or set messages.default_region)"
                ),
                other => other.to_string(),
            })
        }
    }
}

fn looks_scientific(s: &str) -> bool {
    let upper = s.to_ascii_uppercase();
    match upper.split_once("E+") {
        Some((mantissa, exponent)) => {
            !mantissa.is_empty()
                && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',')
                && !exponent.is_empty()
                && exponent.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Yes/no, or the time it happened (which means yes; a date alone is its
/// midnight, UTC), as microseconds.
fn opted_out(cell: &Cell, text: &str) -> Option<(bool, Option<i64>)> {
    let since = |t: chrono::NaiveDateTime| Some((true, Some(t.and_utc().timestamp_micros())));
    match cell {
        Cell::Bool(b) => Some((*b, None)),
        Cell::DateTime { date, time } => since(date.and_time(time.unwrap_or_default())),
        _ => parse_bool(text)
            .ok()
            .map(|b| (b, None))
            .or_else(|| {
                chrono::DateTime::parse_from_rfc3339(text.trim()).ok().and_then(|t| since(t.naive_utc()))
            })
            .or_else(|| parse_date(text).ok().and_then(|d| since(d.and_time(chrono::NaiveTime::MIN)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pl() -> Option<Region> {
        Some("PL".parse().unwrap())
    }

    #[test]
    fn numbers_in_local_formats_become_e164() {
        let cases: &[(Cell, &str)] = &[
            (Cell::Text("600 100 200".into()), "+48600100200"),
            (Cell::Text("+48 600-100-200".into()), "+48600100200"),
            (Cell::Text("0048600100200".into()), "+48600100200"),
            (Cell::Text("(600) 100 200".into()), "+48600100200"),
            (Cell::Text("48600100200".into()), "+48600100200"),
            (Cell::Text("'+48600100200".into()), "+48600100200"),
            (Cell::Number(48600100200.0), "+48600100200"),
            (Cell::Number(600100200.0), "+48600100200"),
            (Cell::Text("359881234567".into()), "+359881234567"),
        ];
        for (cell, want) in cases {
            let text = unescape_formula(cell.text());
            assert_eq!(
                phone_from_cell(cell, &text, pl()).as_ref().map(PhoneNumber::as_str),
                Ok(*want),
                "{cell:?}"
            );
        }
    }

    #[test]
    fn numbers_that_lost_digits_or_are_not_numbers_are_refused_with_a_reason() {
        let cases: &[(Cell, Option<Region>, &str)] = &[
            (Cell::Text("4.86001E+10".into()), pl(), "scientific notation"),
            (Cell::Number(48600100200.5), pl(), "scientific notation or with decimals"),
            (Cell::Text("=HYPERLINK(\"x\")".into()), pl(), "is not a phone number"),
            (Cell::Text("600 100".into()), pl(), "not a valid phone number"),
            (Cell::Text("600100200".into()), None, "region=PL"),
        ];
        for (cell, region, want) in cases {
            let err = phone_from_cell(cell, &cell.text(), *region).unwrap_err();
            assert!(err.contains(want), "{cell:?}: {err}");
        }
    }

    #[test]
    fn only_escaped_formulas_lose_their_apostrophe() {
        assert_eq!(unescape_formula("'=1+1".into()), "=1+1");
        assert_eq!(unescape_formula("'@cmd".into()), "@cmd");
        assert_eq!(unescape_formula("'quoted'".into()), "'quoted'");
        assert_eq!(unescape_formula("O'Brien".into()), "O'Brien");
        assert_eq!(unescape_formula("x;'=cmd;'\"@a\"\n'- one".into()), "x;=cmd;\"@a\"\n- one");
        assert_eq!(unescape_formula("a;'b;'12.5".into()), "a;'b;'12.5", "not written by an export");
        for text in ["x;=cmd|' /C calc'!A0;", "=a;\t+b\r\n-c", "a;'=b", "a;\t=1"] {
            let exported = super::super::export::escape_csv_field(text).into_owned();
            let back = unescape_formula(exported.clone());
            if text == "a;'=b" {
                assert_eq!(back, "a;=b", "as a leading '= is, such text loses its '");
            } else {
                assert_eq!(back, text, "{exported:?}");
            }
        }
    }

    #[test]
    fn opting_out_is_read_from_yes_no_or_a_date() {
        assert_eq!(opted_out(&Cell::Text("tak".into()), "tak"), Some((true, None)));
        assert_eq!(opted_out(&Cell::Text("0".into()), "0"), Some((false, None)));
        assert_eq!(
            opted_out(&Cell::Text("2024-05-01T10:00:00.123Z".into()), "2024-05-01T10:00:00.123Z"),
            Some((true, Some(1_714_557_600_123_000)))
        );
        assert_eq!(
            opted_out(&Cell::Text("2024-05-01".into()), "2024-05-01"),
            Some((true, Some(1_714_521_600_000_000)))
        );
        assert_eq!(opted_out(&Cell::Text("perhaps".into()), "perhaps"), None);
    }

    /// Runs the parser alone (no storage), draining what it sends.
    fn parse_alone(bytes: Vec<u8>) -> Result<(), ImportFailure> {
        let (tx, mut rx) = mpsc::channel(BATCHES_AHEAD);
        let drain = std::thread::spawn(move || while rx.blocking_recv().is_some() {});
        let options = ImportOptions { region: pl(), ..ImportOptions::default() };
        let result = parse(std::io::Cursor::new(bytes), &options, &[], &tx);
        drop(tx);
        drain.join().unwrap();
        result
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn parsing_any_file_never_panics(
            prefix in prop::sample::select(vec![&b""[..], b"phone;name\n", b"\xef\xbb\xbfphone,name\n", b"\xff\xfe", b"PK\x03\x04"]),
            body in prop::collection::vec(prop::sample::select(b"0123456789+ ;,\t|\"\r\nab\xc5\x82\xb3\xff\x00=".to_vec()), 0..600),
        ) {
            let _ = parse_alone([prefix, &body[..]].concat());
        }
    }
}
