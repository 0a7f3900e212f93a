//! Reading a table from a file: what the file is (CSV, XLSX, XLS, ODS, or
//! something refused), the CSV delimiter, and rows of cells with their row
//! numbers.
//!
//! Memory stays bounded whatever the input: CSV records are cut out by
//! [`RecordGuard`], which never holds more than [`MAX_RECORD_BYTES`] of one
//! record (a longer record — a 10 MB line, an unclosed quote swallowing the
//! rest of the file — becomes a row error, and reading goes on); XLSX is read
//! cell by cell from the zip stream, and a spreadsheet row keeps at most as
//! much text as a CSV record ([`RowCells`]: shared strings are measured
//! before they are copied into a cell). XLS (at most 65,536 rows by its format)
//! and ODS have no streaming reader in calamine: their first sheet is read
//! whole, so those files are limited to [`MAX_WHOLE_WORKBOOK_BYTES`]. And
//! since calamine sizes some memory by what a file declares, each workbook
//! is checked first for what reading it would take (`workbook_limits.rs`).
//! Nothing read is ever evaluated: formulas are read as their cached values,
//! text stays text.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, BufRead, Read, Seek, SeekFrom};

use calamine::{Data, DataRef, DataType, Ods, Range, Reader as _, Xls, Xlsx};

use super::text::TextEncoding;
use super::workbook_limits;

/// Longest CSV record (one row, all its fields), in bytes.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// Most columns read from a table; cells beyond are ignored.
pub const MAX_COLUMNS: usize = 200;
/// Bytes looked at to choose the CSV delimiter.
pub const DELIMITER_SAMPLE_BYTES: usize = 64 * 1024;
/// Lines looked at to choose the CSV delimiter.
const DELIMITER_SAMPLE_LINES: usize = 50;
/// Largest XLS or ODS file read: their first sheet is held in memory
/// whole (a sheet of this size takes a few hundred MB at most).
pub const MAX_WHOLE_WORKBOOK_BYTES: u64 = 20 * 1024 * 1024;
/// The delimiters recognised, in order of preference on a tie.
pub const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// What an input file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Xlsx,
    /// Excel 97–2003 (BIFF8 in an OLE2 container).
    Xls,
    /// OpenDocument spreadsheet (LibreOffice, OpenOffice).
    Ods,
}

impl FileFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
            Self::Xls => "xls",
            Self::Ods => "ods",
        }
    }

    /// The format named by [`as_str`](Self::as_str).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Csv, Self::Xlsx, Self::Xls, Self::Ods].into_iter().find(|f| f.as_str() == name)
    }
}

/// Why a file is not read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileProblem {
    #[error("the file is empty")]
    Empty,
    #[error("this is not a table: the file holds binary data ({0}); send a CSV, XLSX, XLS or ODS file")]
    Binary(&'static str),
    #[error("the XLSX file cannot be read ({0}); it may be damaged or truncated")]
    BadXlsx(String),
    #[error("the XLS file cannot be read ({0}); it may be damaged, truncated or not a workbook")]
    BadXls(String),
    #[error("the ODS file cannot be read ({0}); it may be damaged or truncated")]
    BadOds(String),
    #[error("the {} file has no worksheet", .0.as_str().to_uppercase())]
    NoSheet(FileFormat),
    #[error(
        "the {} file is larger than {} MiB, which is read whole; save it as XLSX or CSV and import that",
        .0.as_str().to_uppercase(),
        MAX_WHOLE_WORKBOOK_BYTES / 1024 / 1024
    )]
    TooLargeToReadWhole(FileFormat),
    #[error(
        "the {format} file would take more memory to read than an import may use ({what}); save its first sheet as CSV and import that",
        format = .0.as_str().to_uppercase(),
        what = .1
    )]
    TooDemanding(FileFormat, String),
    #[error("the file cannot be read: {0}")]
    Io(String),
}

/// Tells CSV, XLSX, XLS and ODS apart by the first bytes, and refuses
/// what is none of them. Text is UTF-16 (where NUL bytes are half of
/// every ASCII character) after a UTF-16 byte-order mark, or without one
/// when `declared` says so.
pub fn sniff(head: &[u8], declared: Option<TextEncoding>) -> Result<FileFormat, FileProblem> {
    if head.starts_with(b"PK\x03\x04") {
        return opendocument_kind(head).unwrap_or(Ok(FileFormat::Xlsx));
    }
    let magic: &[(&[u8], Result<FileFormat, FileProblem>)] = &[
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", Ok(FileFormat::Xls)),
        (b"PK\x05\x06", Err(FileProblem::Binary("an empty zip archive"))),
        (b"%PDF", Err(FileProblem::Binary("a PDF document"))),
        (b"\x89PNG", Err(FileProblem::Binary("a PNG image"))),
        (b"\xff\xd8\xff", Err(FileProblem::Binary("a JPEG image"))),
        (b"GIF8", Err(FileProblem::Binary("a GIF image"))),
        (b"\x1f\x8b", Err(FileProblem::Binary("gzip-compressed data"))),
        (b"7z\xbc\xaf", Err(FileProblem::Binary("a 7-Zip archive"))),
        (b"Rar!", Err(FileProblem::Binary("a RAR archive"))),
        (b"\x7fELF", Err(FileProblem::Binary("a program"))),
        (b"MZ", Err(FileProblem::Binary("a program"))),
    ];
    for (prefix, answer) in magic {
        if head.starts_with(prefix) {
            return answer.clone();
        }
    }
    let (text, utf16) = match super::text::bom(head) {
        Some((TextEncoding::Utf16(_), len)) => (&head[len..], true),
        Some((_, len)) => (&head[len..], false),
        None => (head, matches!(declared, Some(TextEncoding::Utf16(_)))),
    };
    if text.iter().all(|b| b.is_ascii_whitespace())
        || (utf16 && text.iter().all(|b| *b == 0 || b.is_ascii_whitespace()))
    {
        return Err(FileProblem::Empty);
    }
    if !utf16 {
        let controls =
            text.iter().filter(|b| **b < 0x20 && !matches!(**b, b'\t' | b'\n' | b'\r' | 0x0c)).count();
        if text.contains(&0) || controls * 20 > text.len() {
            return Err(FileProblem::Binary("control bytes that text does not contain"));
        }
    }
    Ok(FileFormat::Csv)
}

/// An OpenDocument file starts with a zip entry `mimetype` stored
/// uncompressed (its name at byte 30, its content right after): a
/// spreadsheet is read, other OpenDocument files are refused. `None` for
/// other zip files.
fn opendocument_kind(head: &[u8]) -> Option<Result<FileFormat, FileProblem>> {
    let rest = head.get(30..)?.strip_prefix(b"mimetype")?;
    if rest.starts_with(b"application/vnd.oasis.opendocument.spreadsheet") {
        Some(Ok(FileFormat::Ods))
    } else if rest.starts_with(b"application/vnd.oasis.opendocument.") {
        Some(Err(FileProblem::Binary("an OpenDocument file that is not a spreadsheet")))
    } else {
        None
    }
}

/// The delimiter that splits the sample's lines most consistently; `,`
/// for a file of one column.
pub fn detect_delimiter(sample: &[u8]) -> u8 {
    let lines: Vec<&[u8]> = sample
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .take(DELIMITER_SAMPLE_LINES)
        .collect();
    let mut best = (0usize, 0usize, b',');
    for d in DELIMITERS {
        let counts: Vec<usize> = lines.iter().map(|l| count_outside_quotes(l, d)).collect();
        let Some(&first) = counts.first() else { continue };
        if first == 0 {
            continue;
        }
        let consistent = counts.iter().filter(|c| **c == first).count();
        if (consistent, first) > (best.0, best.1) {
            best = (consistent, first, d);
        }
    }
    best.2
}

fn count_outside_quotes(line: &[u8], d: u8) -> usize {
    let mut quoted = false;
    let mut n = 0;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if b == d && !quoted {
            n += 1;
        }
    }
    n
}

/// What a record of the CSV stream turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Normal,
    /// Longer than [`MAX_RECORD_BYTES`]; its bytes were dropped.
    Overlong,
    /// A quoted field still open at the end of the file.
    Unclosed,
}

/// A record's first line and kind, in the order the records are read.
#[derive(Debug, Clone, Copy)]
pub struct RecordInfo {
    pub line: u64,
    pub kind: RecordKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: its end, or the first of `""`.
    ClosingQuote,
}

/// Cuts a CSV byte stream into records the way the `csv` crate does
/// (quotes open only at the start of a field, `""` inside quotes, `\r`,
/// `\n` or `\r\n` ends a record), passing each complete record on and
/// noting its first line in [`RecordGuard::records`]. A record longer than
/// [`MAX_RECORD_BYTES`] is dropped as it streams in and a one-field
/// stand-in is passed on instead; blank lines are dropped (as `csv` skips
/// them), so the `n`-th record `csv` yields is the `n`-th entry noted.
pub struct RecordGuard<R> {
    inner: R,
    delimiter: u8,
    state: QuoteState,
    /// The record being cut out, then served.
    record: Vec<u8>,
    served: usize,
    overlong: bool,
    line: u64,
    record_line: u64,
    after_cr: bool,
    eof: bool,
    /// Noted records not yet taken (only when `track` is set).
    pub records: RefCell<VecDeque<RecordInfo>>,
    track: bool,
    /// Records seen, by kind (for the first pass).
    pub counts: [u64; 3],
}

impl<R: BufRead> RecordGuard<R> {
    pub fn new(inner: R, delimiter: u8, track: bool) -> Self {
        Self {
            inner,
            delimiter,
            state: QuoteState::FieldStart,
            record: Vec::new(),
            served: 0,
            overlong: false,
            line: 1,
            record_line: 1,
            after_cr: false,
            eof: false,
            records: RefCell::new(VecDeque::new()),
            track,
            counts: [0; 3],
        }
    }

    /// Reads on until one record is complete (or the input ends); leaves it
    /// in `self.record`. Returns false at the end of the input.
    fn next_record(&mut self) -> io::Result<bool> {
        self.record.clear();
        self.served = 0;
        self.overlong = false;
        self.state = QuoteState::FieldStart;
        let mut started = false;
        loop {
            if self.eof {
                return Ok(self.finish_at_eof(started));
            }
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                self.eof = true;
                continue;
            }
            let mut used = 0;
            let mut ended = false;
            for &b in chunk {
                used += 1;
                let terminator = b == b'\n' || b == b'\r';
                if b == b'\n' && self.after_cr {
                    // The `\n` of `\r\n`: its line was counted at the `\r`.
                    self.after_cr = false;
                    if !started {
                        continue;
                    }
                } else if terminator {
                    self.line += 1;
                }
                self.after_cr = b == b'\r';
                if !started {
                    if terminator {
                        continue; // a blank line
                    }
                    started = true;
                    self.record_line = self.line;
                }
                self.state = match (self.state, b) {
                    (QuoteState::FieldStart, b'"') => QuoteState::Quoted,
                    (QuoteState::Quoted, b'"') => QuoteState::ClosingQuote,
                    (QuoteState::Quoted, _) => QuoteState::Quoted,
                    (QuoteState::ClosingQuote, b'"') => QuoteState::Quoted,
                    (_, d) if d == self.delimiter => QuoteState::FieldStart,
                    (_, b'\n' | b'\r') => {
                        ended = true;
                        QuoteState::FieldStart
                    }
                    _ => QuoteState::Unquoted,
                };
                if !self.overlong {
                    if self.record.len() >= MAX_RECORD_BYTES {
                        self.overlong = true;
                        self.record.clear();
                    } else {
                        self.record.push(b);
                    }
                }
                if ended {
                    break;
                }
            }
            self.inner.consume(used);
            if ended {
                if self.after_cr {
                    // Let the `\n` of a `\r\n` pass with this record.
                    self.swallow_lf()?;
                }
                self.note(if self.overlong { RecordKind::Overlong } else { RecordKind::Normal });
                return Ok(true);
            }
        }
    }

    fn swallow_lf(&mut self) -> io::Result<()> {
        let chunk = self.inner.fill_buf()?;
        if chunk.first() == Some(&b'\n') {
            self.inner.consume(1);
            self.after_cr = false;
            if !self.overlong {
                self.record.push(b'\n');
            }
        }
        Ok(())
    }

    fn finish_at_eof(&mut self, started: bool) -> bool {
        if !started {
            return false;
        }
        let kind = if self.overlong {
            RecordKind::Overlong
        } else if self.state == QuoteState::Quoted {
            RecordKind::Unclosed
        } else {
            RecordKind::Normal
        };
        self.note(kind);
        true
    }

    /// Records the record's kind; a refused record is replaced by a
    /// one-field stand-in so that `csv` still yields one record for it.
    fn note(&mut self, kind: RecordKind) {
        let index = match kind {
            RecordKind::Normal => 0,
            RecordKind::Overlong => 1,
            RecordKind::Unclosed => 2,
        };
        self.counts[index] += 1;
        if kind != RecordKind::Normal {
            self.record.clear();
            self.record.extend_from_slice(b"-\n");
        } else if !self.record.ends_with(b"\n") && !self.record.ends_with(b"\r") {
            self.record.push(b'\n');
        }
        if self.track {
            self.records.borrow_mut().push_back(RecordInfo { line: self.record_line, kind });
        }
    }
}

impl<R: BufRead> Read for RecordGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.served == self.record.len() && !self.next_record()? {
            return Ok(0);
        }
        let n = buf.len().min(self.record.len() - self.served);
        buf[..n].copy_from_slice(&self.record[self.served..self.served + n]);
        self.served += n;
        Ok(n)
    }
}

/// A cell as read: text, or a typed value from a spreadsheet.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(f64),
    Bool(bool),
    /// A date (and time, when not midnight) from a spreadsheet.
    DateTime {
        date: chrono::NaiveDate,
        time: Option<chrono::NaiveTime>,
    },
    /// A spreadsheet error value such as `#N/A`.
    Error(String),
}

impl Cell {
    pub fn is_blank(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }

    /// The cell as text (numbers plainly, dates as `YYYY-MM-DD`).
    pub fn text(&self) -> String {
        match self {
            Self::Empty => String::new(),
            Self::Text(s) => s.clone(),
            Self::Number(x) => crate::storage::contact_types::format_number(*x),
            Self::Bool(b) => b.to_string(),
            Self::DateTime { date, time: None } => date.format("%Y-%m-%d").to_string(),
            Self::DateTime { date, time: Some(t) } => {
                format!("{} {}", date.format("%Y-%m-%d"), t.format("%H:%M:%S"))
            }
            Self::Error(e) => e.clone(),
        }
    }
}

/// One row of a table, or why a row could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum RowItem {
    Row { number: u64, cells: Vec<Cell> },
    Unreadable { number: u64, reason: String },
}

/// Where reading stops early: the consumer wants no more rows.
pub struct Stop;

/// Reads a CSV stream (already UTF-8 or single-byte; BOM removed), giving
/// each row to `sink`. Returns the number of records read.
pub fn read_csv<R: BufRead>(
    input: R,
    delimiter: u8,
    encoding: TextEncoding,
    sink: &mut dyn FnMut(RowItem) -> Result<(), Stop>,
) -> Result<(), FileProblem> {
    let guard = RecordGuard::new(input, delimiter, true);
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(guard);
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => return Err(io_problem(e)),
        }
        let Some(info) = reader.get_ref().records.borrow_mut().pop_front() else {
            return Err(FileProblem::Io("the CSV reader lost count of records".into()));
        };
        let number = info.line;
        let item = match info.kind {
            RecordKind::Overlong => RowItem::Unreadable {
                number,
                reason: format!(
                    "the row is longer than {} KiB; is this really a CSV file?",
                    MAX_RECORD_BYTES / 1024
                ),
            },
            RecordKind::Unclosed => RowItem::Unreadable {
                number,
                reason: "a quoted field is not closed before the end of the file (is the file truncated?)"
                    .into(),
            },
            RecordKind::Normal => decode_record(number, &record, encoding),
        };
        if sink(item).is_err() {
            return Ok(());
        }
    }
}

fn decode_record(number: u64, record: &csv::ByteRecord, encoding: TextEncoding) -> RowItem {
    let mut cells = Vec::with_capacity(record.len().min(MAX_COLUMNS));
    for (i, field) in record.iter().take(MAX_COLUMNS).enumerate() {
        match encoding.decode(field) {
            Ok(text) if text.contains('\0') => {
                return RowItem::Unreadable {
                    number,
                    reason: format!("column {} holds binary data (a NUL byte)", column_letter(i)),
                };
            }
            Ok(text) => cells.push(Cell::Text(text)),
            Err(_) => {
                return RowItem::Unreadable {
                    number,
                    reason: format!("column {} is not valid {} text", column_letter(i), encoding.name()),
                };
            }
        }
    }
    RowItem::Row { number, cells }
}

fn io_problem(e: csv::Error) -> FileProblem {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => FileProblem::Io(e.to_string()),
        other => FileProblem::Io(format!("{other:?}")),
    }
}

/// Reads the first worksheet of an XLSX file, row by row. Empty rows are
/// skipped; numbers are rows as the spreadsheet shows them.
pub fn read_xlsx<R: Read + Seek>(
    input: R,
    sink: &mut dyn FnMut(RowItem) -> Result<(), Stop>,
) -> Result<(), FileProblem> {
    let mut input = input;
    workbook_limits::check_xlsx(&mut input)?;
    input.seek(SeekFrom::Start(0)).map_err(|e| FileProblem::Io(e.to_string()))?;
    let mut book: Xlsx<R> = Xlsx::new(input).map_err(|e| FileProblem::BadXlsx(e.to_string()))?;
    let sheet = book.sheet_names().into_iter().next().ok_or(FileProblem::NoSheet(FileFormat::Xlsx))?;
    let mut cells = book.worksheet_cells_reader(&sheet).map_err(|e| FileProblem::BadXlsx(e.to_string()))?;
    let mut row = RowCells::default();
    let mut row_number: Option<u32> = None;
    loop {
        let cell = match cells.next_cell() {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(FileProblem::BadXlsx(e.to_string())),
        };
        let (r, c) = cell.get_position();
        if row_number != Some(r) {
            if let Some(previous) = row_number
                && let Some(item) = row.take(u64::from(previous) + 1)
                && sink(item).is_err()
            {
                return Ok(());
            }
            row_number = Some(r);
        }
        let value = cell.get_value();
        row.set(c as usize, text_len(value), || xlsx_cell(value));
    }
    if let Some(last) = row_number
        && let Some(item) = row.take(u64::from(last) + 1)
    {
        let _ = sink(item);
    }
    Ok(())
}

/// One spreadsheet row's cells as they are read, holding at most
/// [`MAX_RECORD_BYTES`] of text, as a CSV record does. A cell's text is
/// measured before it is copied: a few bytes of a workbook can repeat one
/// long shared string in every cell of every row, so a row over the limit
/// keeps nothing and is reported unreadable instead.
#[derive(Default)]
struct RowCells {
    cells: Vec<Cell>,
    text: usize,
    overlong: bool,
}

impl RowCells {
    /// Puts the cell `make` builds in column `column` (from 0); `text` is
    /// the length of the text it copies. Columns past [`MAX_COLUMNS`] are
    /// ignored.
    fn set(&mut self, column: usize, text: usize, make: impl FnOnce() -> Cell) {
        if self.overlong || column >= MAX_COLUMNS {
            return;
        }
        self.text = self.text.saturating_add(text);
        if self.text > MAX_RECORD_BYTES {
            self.overlong = true;
            self.cells = Vec::new();
            return;
        }
        let value = make();
        if value == Cell::Empty {
            return;
        }
        if self.cells.len() <= column {
            self.cells.resize(column + 1, Cell::Empty);
        }
        self.cells[column] = value;
    }

    /// The row read so far, as row `number`, leaving an empty one; `None`
    /// when it is blank.
    fn take(&mut self, number: u64) -> Option<RowItem> {
        let row = std::mem::take(self);
        if row.overlong {
            return Some(RowItem::Unreadable {
                number,
                reason: format!("the row holds more than {} KiB of text", MAX_RECORD_BYTES / 1024),
            });
        }
        if row.cells.iter().all(Cell::is_blank) {
            return None;
        }
        Some(RowItem::Row { number, cells: row.cells })
    }
}

/// The bytes of text a cell's value copies into a [`Cell`].
fn text_len(value: &impl DataType) -> usize {
    value
        .get_string()
        .or_else(|| value.get_datetime_iso())
        .or_else(|| value.get_duration_iso())
        .map_or(0, str::len)
}

fn xlsx_cell(value: &DataRef<'_>) -> Cell {
    match value {
        DataRef::Empty => Cell::Empty,
        DataRef::Int(i) => Cell::Number(*i as f64),
        DataRef::Float(x) => Cell::Number(*x),
        DataRef::String(s) => Cell::Text(s.clone()),
        DataRef::SharedString(s) => Cell::Text((*s).to_owned()),
        DataRef::Bool(b) => Cell::Bool(*b),
        DataRef::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            match chrono::NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(d)) {
                Some(date) => {
                    let time = chrono::NaiveTime::from_hms_opt(u32::from(h), u32::from(mi), u32::from(s))
                        .filter(|t| *t != chrono::NaiveTime::MIN);
                    Cell::DateTime { date, time }
                }
                None => Cell::Number(dt.as_f64()),
            }
        }
        DataRef::DateTime(dt) => Cell::Number(dt.as_f64()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Cell::Text(s.clone()),
        DataRef::Error(e) => Cell::Error(format!("{e}")),
    }
}

/// The first worksheet of an XLS or ODS file, read whole (calamine has no
/// streaming reader for them). Check the size against
/// [`MAX_WHOLE_WORKBOOK_BYTES`] first.
pub fn load_first_sheet<R: Read + Seek>(format: FileFormat, input: R) -> Result<Range<Data>, FileProblem> {
    let mut input = input;
    match format {
        FileFormat::Xls => workbook_limits::check_xls(&mut input)?,
        FileFormat::Ods => workbook_limits::check_ods(&mut input)?,
        FileFormat::Csv | FileFormat::Xlsx => {}
    }
    input.seek(SeekFrom::Start(0)).map_err(|e| FileProblem::Io(e.to_string()))?;
    match format {
        FileFormat::Xls => {
            let bad = |e: calamine::XlsError| FileProblem::BadXls(e.to_string());
            let mut book: Xls<R> = Xls::new(input).map_err(bad)?;
            let sheet = book.sheet_names().into_iter().next().ok_or(FileProblem::NoSheet(format))?;
            book.worksheet_range(&sheet).map_err(bad)
        }
        FileFormat::Ods => {
            let bad = |e: calamine::OdsError| FileProblem::BadOds(e.to_string());
            let mut book: Ods<R> = Ods::new(input).map_err(bad)?;
            let sheet = book.sheet_names().into_iter().next().ok_or(FileProblem::NoSheet(format))?;
            book.worksheet_range(&sheet).map_err(bad)
        }
        FileFormat::Csv | FileFormat::Xlsx => {
            Err(FileProblem::Io(format!("{} is not read whole", format.as_str())))
        }
    }
}

/// The rows of a sheet read by [`load_first_sheet`], numbered as the
/// spreadsheet shows them, in their columns; empty rows are skipped.
pub fn read_sheet(sheet: &Range<Data>, sink: &mut dyn FnMut(RowItem) -> Result<(), Stop>) {
    let (first_row, first_col) = sheet.start().unwrap_or((0, 0));
    let mut row = RowCells::default();
    for (i, cells) in sheet.rows().enumerate() {
        for (c, value) in cells.iter().take(MAX_COLUMNS.saturating_sub(first_col as usize)).enumerate() {
            if *value != Data::Empty {
                row.set(first_col as usize + c, text_len(value), || data_cell(value));
            }
        }
        let Some(item) = row.take(u64::from(first_row) + i as u64 + 1) else { continue };
        if sink(item).is_err() {
            return;
        }
    }
}

fn data_cell(value: &Data) -> Cell {
    match value {
        Data::Empty => Cell::Empty,
        Data::Int(i) => xlsx_cell(&DataRef::Int(*i)),
        Data::Float(x) => xlsx_cell(&DataRef::Float(*x)),
        Data::String(s) => Cell::Text(s.clone()),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) => xlsx_cell(&DataRef::DateTime(*dt)),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(s.clone()),
        Data::Error(e) => Cell::Error(format!("{e}")),
    }
}

/// `A`, `B`, … `Z`, `AA`, … for a 0-based column index.
pub fn column_letter(index: usize) -> String {
    let mut n = index + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        out.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rows(data: &[u8], delimiter: u8) -> Vec<RowItem> {
        let mut out = Vec::new();
        read_csv(data, delimiter, TextEncoding::Utf8, &mut |item| {
            out.push(item);
            Ok(())
        })
        .unwrap();
        out
    }

    fn row(number: u64, cells: &[&str]) -> RowItem {
        RowItem::Row { number, cells: cells.iter().map(|c| Cell::Text((*c).into())).collect() }
    }

    #[test]
    fn records_carry_the_line_they_start_on() {
        let data = b"a,b\n\n1,2\r\n\r\n3,\"x\ny\"\n4,\"say \"\"hi\"\"\"\r5,6";
        assert_eq!(
            rows(data, b','),
            [
                row(1, &["a", "b"]),
                row(3, &["1", "2"]),
                row(5, &["3", "x\ny"]),
                row(7, &["4", "say \"hi\""]),
                row(8, &["5", "6"])
            ]
        );
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_just_a_character() {
        assert_eq!(rows(b"5\" floppy,x\n1,2\n", b','), [row(1, &["5\" floppy", "x"]), row(2, &["1", "2"])]);
    }

    #[test]
    fn an_overlong_record_is_reported_and_reading_goes_on() {
        let mut data = b"phone\n600100200\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
        data.extend_from_slice(b"\n600100201\n\"open quote, ten megabytes\n");
        data.extend(std::iter::repeat_n(b'y', 1024 * 1024));
        data.extend_from_slice(b"\n600100202\n");
        let got = rows(&data, b',');
        assert_eq!(
            got.len(),
            5,
            "{:?}",
            got.iter().map(|r| format!("{r:?}").chars().take(80).collect::<String>()).collect::<Vec<_>>()
        );
        assert_eq!(got[0], row(1, &["phone"]));
        assert_eq!(got[1], row(2, &["600100200"]));
        assert!(
            matches!(&got[2], RowItem::Unreadable { number: 3, reason } if reason.contains("longer than"))
        );
        assert_eq!(got[3], row(4, &["600100201"]));
        assert!(matches!(&got[4], RowItem::Unreadable { number: 5, .. }), "{:?}", got[4]);
    }

    #[test]
    fn an_unclosed_quote_at_the_end_is_reported() {
        let got = rows(b"phone,name\n600100200,\"Jan\n", b',');
        assert_eq!(got[0], row(1, &["phone", "name"]));
        assert!(
            matches!(&got[1], RowItem::Unreadable { number: 2, reason } if reason.contains("not closed"))
        );
    }

    #[test]
    fn invalid_text_and_nul_bytes_make_a_row_unreadable() {
        let got = rows(b"a,b\n\xff,x\nq,\x00\n", b',');
        assert!(matches!(&got[1], RowItem::Unreadable { number: 2, reason } if reason.contains("column A")));
        assert!(matches!(&got[2], RowItem::Unreadable { number: 3, reason } if reason.contains("column B")));
    }

    #[test]
    fn the_delimiter_is_the_one_that_splits_lines_consistently() {
        let cases: &[(&[u8], u8)] = &[
            (b"phone,name\n1,a\n2,b\n", b','),
            (b"telefon;imie;nazwisko\n1;a;b\n2;\"c;d\";e\n", b';'),
            (b"phone\tname\n1\ta, b\n", b'\t'),
            (b"phone|name\n1|a\n", b'|'),
            (b"phone;name,comment\n1;\"a, b\"\n2;c\n", b';'),
            (b"phone\n600100200\n", b','),
            (b"", b','),
        ];
        for (sample, want) in cases {
            assert_eq!(
                detect_delimiter(sample) as char,
                *want as char,
                "{}",
                String::from_utf8_lossy(sample)
            );
        }
    }

    #[test]
    fn sniffing_tells_tables_from_everything_else() {
        let cases: &[(&[u8], Result<FileFormat, FileProblem>)] = &[
            (b"phone\n1", Ok(FileFormat::Csv)),
            (b"\xef\xbb\xbfphone\n1", Ok(FileFormat::Csv)),
            (b"\xff\xfep\0h\0", Ok(FileFormat::Csv)),
            (b"PK\x03\x04rest", Ok(FileFormat::Xlsx)),
            (
                b"PK\x03\x04\x14\0\0\0\0\0\x17\x43\x78\x5d\x85\x6c\x39\x8a\x2e\0\0\0\x2e\0\0\0\x08\0\0\0\
                  mimetypeapplication/vnd.oasis.opendocument.spreadsheetPK",
                Ok(FileFormat::Ods),
            ),
            (
                b"PK\x03\x04\x14\0\0\0\0\0\x17\x43\x78\x5d\x85\x6c\x39\x8a\x27\0\0\0\x27\0\0\0\x08\0\0\0\
                  mimetypeapplication/vnd.oasis.opendocument.textPK",
                Err(FileProblem::Binary("an OpenDocument file that is not a spreadsheet")),
            ),
            (b"", Err(FileProblem::Empty)),
            (b" \r\n\t", Err(FileProblem::Empty)),
            (b"\xef\xbb\xbf", Err(FileProblem::Empty)),
            (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", Ok(FileFormat::Xls)),
            (b"%PDF-1.4", Err(FileProblem::Binary("a PDF document"))),
            (b"abc\x00def", Err(FileProblem::Binary("control bytes that text does not contain"))),
            (b"\x01\x02\x03\x04\x05", Err(FileProblem::Binary("control bytes that text does not contain"))),
        ];
        for (head, want) in cases {
            assert_eq!(&sniff(head, None), want, "{head:?}");
        }
    }

    #[test]
    fn utf16_declared_without_a_byte_order_mark_is_text() {
        let utf16le = TextEncoding::from_label("utf-16le");
        assert!(matches!(utf16le, Some(TextEncoding::Utf16(_))));
        assert_eq!(sniff(b"p\0h\0o\0n\0e\0\n\0", utf16le), Ok(FileFormat::Csv));
        assert_eq!(sniff(b" \0\n\0", utf16le), Err(FileProblem::Empty));
        assert_eq!(sniff(b"%PDF-1.4", utf16le), Err(FileProblem::Binary("a PDF document")));
        assert_eq!(
            sniff(b"p\0h\0o\0n\0e\0", Some(TextEncoding::Utf8)),
            Err(FileProblem::Binary("control bytes that text does not contain"))
        );
    }

    #[test]
    fn columns_are_lettered_like_a_spreadsheet() {
        assert_eq!([0, 1, 25, 26, 27, 701, 702].map(column_letter), ["A", "B", "Z", "AA", "AB", "ZZ", "AAA"]);
    }

    proptest! {
        #[test]
        fn reading_any_bytes_never_panics_and_yields_one_item_per_noted_record(
            data in prop::collection::vec(prop::sample::select(b"ab,;\"\r\n\xff ".to_vec()), 0..300)
        ) {
            let mut n = 0;
            let result = read_csv(&data[..], b',', TextEncoding::Utf8, &mut |_| { n += 1; Ok(()) });
            prop_assert!(result.is_ok());
            let mut guard = RecordGuard::new(&data[..], b',', false);
            std::io::copy(&mut guard, &mut std::io::sink()).unwrap();
            prop_assert_eq!(n as u64, guard.counts.iter().sum::<u64>());
        }
    }
}
