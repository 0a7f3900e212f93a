//! Exporting contacts, messages and import error reports to CSV and XLSX,
//! streamed in bounded memory.
//!
//! Rows are read from storage a page at a time and written by a blocking
//! thread: CSV straight to the output (UTF-8 with a byte-order mark, so
//! spreadsheets pick the right encoding), XLSX through rust_xlsxwriter's
//! constant-memory mode (rows go to temporary files, the zip is streamed at
//! the end), continuing on a new sheet every [`XLSX_ROWS_PER_SHEET`] rows.
//! Text that a spreadsheet would take for a formula gets a leading `'`; in
//! CSV also wherever Excel may start a cell inside a field ([`escape_csv_field`]).

use std::borrow::Cow;
use std::io::{self, Write};

use anyhow::Context as _;
use bytes::Bytes;
use rust_xlsxwriter::Workbook;
use tokio::sync::mpsc;

use super::import::FORMULA_TRIGGERS;
use super::mapping::join_group_names;
use crate::storage::{ContactFilter, FieldValue, MessageFilter, MessageRecord, Store, format_micros};

/// Rows read from storage at a time.
pub const EXPORT_PAGE: usize = 1_000;
/// Data rows per XLSX sheet: Excel's 1,048,576 rows less the header.
pub const XLSX_ROWS_PER_SHEET: u32 = 1_048_575;
/// Longest text an XLSX cell holds (Excel's limit); longer text is cut.
pub const XLSX_MAX_CELL_CHARS: usize = 32_767;
/// Pages written ahead of the file writer.
const PAGES_AHEAD: usize = 2;
/// Bytes gathered before a chunk goes to an HTTP client.
const CHANNEL_CHUNK: usize = 64 * 1024;

/// The file formats written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    /// The format a file name asks for, by its extension.
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" | "txt" => Some(Self::Csv),
            "xlsx" => Some(Self::Xlsx),
            _ => None,
        }
    }
}

/// One exported cell.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportCell {
    Empty,
    Text(String),
    Number(f64),
}

impl From<Option<String>> for ExportCell {
    fn from(s: Option<String>) -> Self {
        s.map_or(Self::Empty, Self::Text)
    }
}

impl From<String> for ExportCell {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

/// Puts `'` before text a spreadsheet would evaluate: anything starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return — except a plain
/// number such as `+48600100200` or `-12.5`, which is harmless and would
/// otherwise be spoilt.
pub fn escape_formula(s: &str) -> Cow<'_, str> {
    if !s.starts_with(FORMULA_TRIGGERS) || is_plain_number(s) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(format!("'{s}"))
}

/// Where a spreadsheet may start a new cell inside one CSV field. Excel
/// reads a CSV file with the list separator of the user's locale, which is
/// `;` in Polish, Russian and Bulgarian (the UI's other languages): there it
/// splits our comma-separated lines at `;` and at line breaks, and honours
/// a quote only at the start of one of *its* cells, which ours seldom are
/// (they follow a comma). Tab-separated readings split at tabs.
pub(super) const CELL_BREAKS: [char; 4] = [';', '\t', '\r', '\n'];
/// Characters that make the CSV writer quote a field: ours (`,` `"` and
/// line breaks), and `;` and tab, so that readers honouring quotes with
/// those as separators (LibreOffice, Excel's import dialog) keep the field whole.
const CSV_QUOTED: [char; 6] = [',', '"', '\r', '\n', ';', '\t'];

/// [`escape_formula`] for a CSV field, and a `'` after every
/// [`CELL_BREAKS`] character that the text after it would turn into a
/// formula in a cell of its own: `x;=cmd|' /C calc'!A0` is written as
/// `x;'=cmd|' /C calc'!A0`. Quoting cannot do this: a `;` locale's Excel
/// splits inside the quotes.
pub fn escape_csv_field(s: &str) -> Cow<'_, str> {
    let first = escape_formula(s);
    if !first.contains(CELL_BREAKS) {
        return first;
    }
    let mut out = String::with_capacity(first.len() + 8);
    let mut rest: &str = &first;
    while let Some(at) = rest.find(CELL_BREAKS) {
        // Every break is one byte.
        let (head, tail) = rest.split_at(at + 1);
        out.push_str(head);
        if formula_after_break(tail) {
            out.push('\'');
        }
        rest = tail;
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Whether `tail`, the text after a cell break, would start a formula in
/// a cell of its own: a formula trigger after any quotes and spaces (a
/// reader may drop both). Plain numbers get no exception here: such a cell
/// runs on past the end of our field into the next columns (up to the next
/// break), so it is not a plain number to Excel.
pub(super) fn formula_after_break(tail: &str) -> bool {
    tail.trim_start_matches(['"', ' ']).starts_with(FORMULA_TRIGGERS)
}

fn is_plain_number(s: &str) -> bool {
    let rest = s.strip_prefix(['+', '-']).unwrap_or(s);
    !rest.is_empty()
        && rest.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && rest.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b' ')
        && rest.bytes().filter(|b| *b == b'.').count() <= 1
}

/// A table being written.
trait TableWriter: Send {
    fn row(&mut self, cells: &[ExportCell]) -> anyhow::Result<()>;
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
}

struct CsvTable<W: Write> {
    out: io::BufWriter<W>,
}

impl<W: Write + Send> CsvTable<W> {
    fn new(out: W, header: &[String]) -> anyhow::Result<Self> {
        let mut table = Self { out: io::BufWriter::new(out) };
        table.out.write_all("\u{feff}".as_bytes())?;
        let fields: Vec<Cow<'_, str>> = header.iter().map(|h| escape_csv_field(h)).collect();
        table.record(&fields)?;
        Ok(table)
    }

    /// One line: fields separated by commas, quoted (quotes doubled) when
    /// they hold a [`CSV_QUOTED`] character; a lone empty field is `""`, so
    /// the line is not blank.
    fn record(&mut self, fields: &[Cow<'_, str>]) -> io::Result<()> {
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                self.out.write_all(b",")?;
            }
            if field.contains(CSV_QUOTED) || (fields.len() == 1 && field.is_empty()) {
                self.out.write_all(b"\"")?;
                self.out.write_all(field.replace('"', "\"\"").as_bytes())?;
                self.out.write_all(b"\"")?;
            } else {
                self.out.write_all(field.as_bytes())?;
            }
        }
        self.out.write_all(b"\n")
    }
}

impl<W: Write + Send> TableWriter for CsvTable<W> {
    fn row(&mut self, cells: &[ExportCell]) -> anyhow::Result<()> {
        let fields: Vec<Cow<'_, str>> = cells
            .iter()
            .map(|c| match c {
                ExportCell::Empty => Cow::Borrowed(""),
                ExportCell::Text(s) => escape_csv_field(s),
                ExportCell::Number(x) => Cow::Owned(crate::storage::contact_types::format_number(*x)),
            })
            .collect();
        self.record(&fields)?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.out.flush()?;
        Ok(())
    }
}

struct XlsxTable<W: Write + Send> {
    book: Workbook,
    sheets: usize,
    /// The next row of the current sheet (0 is the header).
    row: u32,
    rows_per_sheet: u32,
    header: Vec<String>,
    out: W,
}

impl<W: Write + Send> XlsxTable<W> {
    fn new(out: W, header: &[String], rows_per_sheet: u32) -> anyhow::Result<Self> {
        let mut table = Self {
            book: Workbook::new(),
            sheets: 0,
            row: 0,
            rows_per_sheet: rows_per_sheet.max(1),
            header: header.to_vec(),
            out,
        };
        table.new_sheet()?;
        Ok(table)
    }

    fn new_sheet(&mut self) -> anyhow::Result<()> {
        let sheet = self.book.add_worksheet_with_constant_memory()?;
        for (col, h) in self.header.iter().enumerate() {
            sheet.write_string(0, col as u16, escape_formula(h))?;
        }
        self.sheets += 1;
        self.row = 1;
        Ok(())
    }
}

impl<W: Write + Send> TableWriter for XlsxTable<W> {
    fn row(&mut self, cells: &[ExportCell]) -> anyhow::Result<()> {
        if self.row > self.rows_per_sheet {
            self.new_sheet()?;
        }
        let sheet = self.book.worksheet_from_index(self.sheets - 1)?;
        for (col, cell) in cells.iter().enumerate() {
            let col = col as u16;
            match cell {
                ExportCell::Empty => {}
                ExportCell::Text(s) => {
                    let text = escape_formula(s);
                    let text: Cow<'_, str> = match text.char_indices().nth(XLSX_MAX_CELL_CHARS) {
                        Some((cut, _)) => Cow::Owned(text[..cut].to_owned()),
                        None => text,
                    };
                    sheet.write_string(self.row, col, text)?;
                }
                ExportCell::Number(x) => {
                    sheet.write_number(self.row, col, *x)?;
                }
            }
        }
        self.row += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        let Self { mut book, out, .. } = *self;
        book.save_to_writer(out).context("writing the XLSX file")?;
        Ok(())
    }
}

fn open_table<W: Write + Send + 'static>(
    format: ExportFormat,
    out: W,
    header: &[String],
    rows_per_sheet: u32,
) -> anyhow::Result<Box<dyn TableWriter>> {
    Ok(match format {
        ExportFormat::Csv => Box::new(CsvTable::new(out, header)?),
        ExportFormat::Xlsx => Box::new(XlsxTable::new(out, header, rows_per_sheet)?),
    })
}

/// Writes pages of rows on a blocking thread, a few pages ahead of the
/// reader at most; [`PageWriter::finish`] returns the number written.
/// Exports read a page, hand it here and read the next, so a file of any
/// length is written in bounded memory.
pub struct PageWriter {
    tx: mpsc::Sender<Vec<Vec<ExportCell>>>,
    thread: tokio::task::JoinHandle<anyhow::Result<()>>,
    rows: u64,
}

impl PageWriter {
    pub fn start<W: Write + Send + 'static>(
        format: ExportFormat,
        out: W,
        header: Vec<String>,
        rows_per_sheet: u32,
    ) -> Self {
        let (tx, mut rx) = mpsc::channel::<Vec<Vec<ExportCell>>>(PAGES_AHEAD);
        let thread = tokio::task::spawn_blocking(move || {
            let mut table = open_table(format, out, &header, rows_per_sheet)?;
            while let Some(page) = rx.blocking_recv() {
                for row in &page {
                    table.row(row)?;
                }
            }
            table.finish()
        });
        Self { tx, thread, rows: 0 }
    }

    /// Hands a page on; false when the writer stopped (its error comes
    /// from [`PageWriter::finish`]).
    pub async fn page(&mut self, rows: Vec<Vec<ExportCell>>) -> bool {
        let n = rows.len() as u64;
        let sent = self.tx.send(rows).await.is_ok();
        if sent {
            self.rows += n;
        }
        sent
    }

    pub async fn finish(self) -> anyhow::Result<u64> {
        drop(self.tx);
        self.thread.await.context("the export writer stopped")??;
        Ok(self.rows)
    }
}

/// Writes the account's contacts matching `which` (oldest first; its
/// `cursor`, `limit` and order are ignored) to `out`; returns the number
/// written. `progress` gets the count after each page.
pub async fn export_contacts<W: Write + Send + 'static>(
    store: &Store,
    account_id: &str,
    which: &ContactFilter,
    format: ExportFormat,
    out: W,
    progress: impl Fn(u64),
) -> anyhow::Result<u64> {
    export_contacts_with(store, account_id, which, format, out, progress, XLSX_ROWS_PER_SHEET).await
}

async fn export_contacts_with<W: Write + Send + 'static>(
    store: &Store,
    account_id: &str,
    which: &ContactFilter,
    format: ExportFormat,
    out: W,
    progress: impl Fn(u64),
    rows_per_sheet: u32,
) -> anyhow::Result<u64> {
    let fields = store.contact_fields(account_id).await?;
    let mut header: Vec<String> =
        ["phone", "name", "email", "language", "time_zone", "external_id"].map(str::to_owned).to_vec();
    header.extend(fields.iter().map(|f| f.name.as_str().to_owned()));
    header.extend(
        ["tags", "groups", "notes", "opted_out_at", "created_at", "updated_at", "id"].map(str::to_owned),
    );
    let mut writer = PageWriter::start(format, out, header, rows_per_sheet);
    let mut filter = ContactFilter { cursor: None, limit: EXPORT_PAGE, ascending: true, ..which.clone() };
    loop {
        let page = store.list_contacts(account_id, &filter).await?;
        let Some(last) = page.last() else { break };
        filter.cursor = Some(last.id.clone());
        let full = page.len() == EXPORT_PAGE;
        let rows = page
            .into_iter()
            .map(|c| {
                let mut row: Vec<ExportCell> = vec![
                    c.phone.into(),
                    c.name.into(),
                    c.email.into(),
                    c.language.into(),
                    c.time_zone.into(),
                    c.external_id.into(),
                ];
                for f in &fields {
                    row.push(match c.fields.iter().find(|(name, _)| name == f.name.as_str()) {
                        Some((_, FieldValue::Number(x))) => ExportCell::Number(*x),
                        Some((_, v)) => ExportCell::Text(v.to_stored()),
                        None => ExportCell::Empty,
                    });
                }
                row.extend([
                    c.tags.join(", ").into(),
                    join_group_names(c.groups.iter().map(|g| g.name.as_str())).into(),
                    c.notes.into(),
                    c.opted_out_at.map(format_micros).into(),
                    format_micros(c.created_at).into(),
                    format_micros(c.updated_at).into(),
                    c.id.into(),
                ]);
                row
            })
            .collect();
        if !writer.page(rows).await {
            break;
        }
        progress(writer.rows);
        if !full {
            break;
        }
    }
    writer.finish().await
}

/// Writes the account's messages matching `filter` (newest first, as the
/// history lists them; `cursor` and `limit` are ignored) to `out`.
pub async fn export_messages<W: Write + Send + 'static>(
    store: &Store,
    account_id: &str,
    filter: &MessageFilter,
    format: ExportFormat,
    out: W,
    progress: impl Fn(u64),
) -> anyhow::Result<u64> {
    let header: Vec<String> = [
        "id",
        "created_at",
        "direction",
        "status",
        "from",
        "to",
        "text",
        "encoding",
        "segments",
        "tags",
        "connector",
        "smsc_message_id",
        "attempts",
        "error",
        "send_at",
        "updated_at",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut writer = PageWriter::start(format, out, header, XLSX_ROWS_PER_SHEET);
    let mut filter = MessageFilter { cursor: None, limit: EXPORT_PAGE, ..filter.clone() };
    loop {
        let page = store.list_messages(account_id, &filter).await?;
        let Some(last) = page.last() else { break };
        filter.cursor = Some(last.id.clone());
        let full = page.len() == EXPORT_PAGE;
        let rows = page.into_iter().map(message_row).collect();
        if !writer.page(rows).await {
            break;
        }
        progress(writer.rows);
        if !full {
            break;
        }
    }
    writer.finish().await
}

fn message_row(m: MessageRecord) -> Vec<ExportCell> {
    vec![
        m.id.into(),
        format_micros(m.created_at).into(),
        m.direction.as_str().to_owned().into(),
        m.status.as_str().to_owned().into(),
        m.from.into(),
        m.to.into(),
        m.text.into(),
        m.encoding.into(),
        ExportCell::Number(m.segments as f64),
        m.tags.join(", ").into(),
        m.connector.into(),
        m.smsc_id.into(),
        ExportCell::Number(m.attempts as f64),
        m.error.into(),
        m.send_at.map(format_micros).into(),
        format_micros(m.updated_at).into(),
    ]
}

/// Writes a poll's votes, in the order received, with the text of the
/// answer each named (`answers`: key → text) and what became of it.
pub async fn export_poll_votes<W: Write + Send + 'static>(
    store: &Store,
    poll_id: &str,
    answers: &[(String, String)],
    format: ExportFormat,
    out: W,
) -> anyhow::Result<u64> {
    let header: Vec<String> = ["voted_at", "phone", "answer", "answer_text", "status", "text", "message_id"]
        .map(str::to_owned)
        .to_vec();
    let mut writer = PageWriter::start(format, out, header, XLSX_ROWS_PER_SHEET);
    let mut after: Option<String> = None;
    loop {
        let page = store.poll_votes_page(poll_id, after.as_deref(), EXPORT_PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        let full = page.len() == EXPORT_PAGE;
        let rows = page
            .into_iter()
            .map(|(_, v)| {
                let text = v
                    .answer
                    .as_ref()
                    .and_then(|a| answers.iter().find(|(k, _)| k == a))
                    .map(|(_, t)| t.clone());
                vec![
                    format_micros(v.voted_at).into(),
                    v.phone.into(),
                    v.answer.into(),
                    text.into(),
                    v.status.into(),
                    v.body.into(),
                    v.message_id.into(),
                ]
            })
            .collect();
        if !writer.page(rows).await || !full {
            break;
        }
    }
    writer.finish().await
}

/// Writes an import's error report as CSV: row, column, value, reason.
/// When more rows failed than were kept, a last line says so.
pub async fn export_import_errors<W: Write + Send + 'static>(
    store: &Store,
    import_id: &str,
    unlisted: i64,
    out: W,
) -> anyhow::Result<u64> {
    let header = ["row", "column", "value", "reason"].map(str::to_owned).to_vec();
    let mut writer = PageWriter::start(ExportFormat::Csv, out, header, XLSX_ROWS_PER_SHEET);
    let mut after = 0;
    loop {
        let page = store.import_errors(import_id, after, EXPORT_PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        let full = page.len() == EXPORT_PAGE;
        let rows = page
            .into_iter()
            .map(|(_, e)| {
                vec![ExportCell::Number(e.row as f64), e.column.into(), e.value.into(), e.reason.into()]
            })
            .collect();
        if !writer.page(rows).await || !full {
            break;
        }
    }
    if unlisted > 0 {
        let note = format!(
            "{unlisted} more problems are not listed (the report keeps the first {})",
            crate::storage::MAX_STORED_ERRORS
        );
        writer.page(vec![vec![ExportCell::Empty, ExportCell::Empty, ExportCell::Empty, note.into()]]).await;
    }
    writer.finish().await
}

/// Writes a small table held in memory (a report); returns the rows written.
pub async fn export_table<W: Write + Send + 'static>(
    format: ExportFormat,
    out: W,
    header: Vec<String>,
    rows: Vec<Vec<ExportCell>>,
) -> anyhow::Result<u64> {
    let mut writer = PageWriter::start(format, out, header, XLSX_ROWS_PER_SHEET);
    writer.page(rows).await;
    writer.finish().await
}

/// A `Write` that hands its bytes, in chunks, to an async receiver (an
/// HTTP response body). Used from blocking threads only.
pub struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub fn new(tx: mpsc::Sender<Result<Bytes, io::Error>>) -> Self {
        Self { tx, buf: Vec::with_capacity(CHANNEL_CHUNK) }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHANNEL_CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHANNEL_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader as _, Xlsx};

    #[test]
    fn formulas_are_escaped_and_plain_numbers_are_not() {
        let cases: &[(&str, &str)] = &[
            ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("+1+cmd|x", "'+1+cmd|x"),
            ("-2+3", "'-2+3"),
            ("@SUM(1)", "'@SUM(1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("+48600100200", "+48600100200"),
            ("-12.5", "-12.5"),
            ("+", "'+"),
            ("Jan Kowalski", "Jan Kowalski"),
            ("", ""),
            ("a=b", "a=b"),
        ];
        for (input, want) in cases {
            assert_eq!(escape_formula(input), *want, "{input:?}");
        }
    }

    #[test]
    fn an_xlsx_table_continues_on_a_new_sheet_when_one_is_full() {
        let mut buf = Vec::new();
        {
            let out = std::io::Cursor::new(&mut buf);
            let mut table = Box::new(XlsxTable::new(out, &["phone".to_owned(), "n".to_owned()], 3).unwrap());
            for i in 0..7 {
                table
                    .row(&[ExportCell::Text(format!("+4860010020{i}")), ExportCell::Number(f64::from(i))])
                    .unwrap();
            }
            table.row(&[ExportCell::Text("=1+1".into()), ExportCell::Text("ż".repeat(40_000))]).unwrap();
            table.finish().unwrap();
        }
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(buf)).unwrap();
        let sheets = book.sheet_names();
        assert_eq!(sheets.len(), 3);
        let mut phones = Vec::new();
        for name in &sheets {
            let range = book.worksheet_range(name).unwrap();
            let rows: Vec<&[Data]> = range.rows().collect();
            assert_eq!(rows[0][0], Data::String("phone".into()), "every sheet has the header");
            assert!(rows.len() <= 4);
            phones.extend(rows[1..].iter().map(|r| r[0].to_string()));
        }
        assert_eq!(phones.len(), 8);
        let last = book.worksheet_range(&sheets[2]).unwrap();
        let long = last.rows().next_back().unwrap()[1].to_string();
        assert_eq!(long.chars().count(), XLSX_MAX_CELL_CHARS, "cut to what a cell holds");
        assert_eq!(phones[0], "+48600100200");
        assert_eq!(phones[7], "'=1+1");
    }

    #[test]
    fn csv_tables_start_with_a_byte_order_mark_and_escape_cells() {
        let mut buf = Vec::new();
        {
            let mut table = Box::new(CsvTable::new(&mut buf, &["a".to_owned(), "b".to_owned()]).unwrap());
            table.row(&[ExportCell::Text("=x".into()), ExportCell::Number(2.5)]).unwrap();
            table.row(&[ExportCell::Text("a,\"b\"".into()), ExportCell::Empty]).unwrap();
            table.finish().unwrap();
        }
        assert_eq!(String::from_utf8(buf).unwrap(), "\u{feff}a,b\n'=x,2.5\n\"a,\"\"b\"\"\",\n");
    }

    /// The cells Excel may make of a CSV line when its list separator is
    /// `;`: at most one per piece between `;`, tabs and line breaks (fewer
    /// where a quote at a piece's start joins some), each starting where its
    /// piece does, after the quotes.
    fn semicolon_locale_cells(line: &str) -> Vec<&str> {
        line.split(CELL_BREAKS).map(|piece| piece.trim_start_matches(['"', ' '])).collect()
    }

    fn csv_line(cells: &[ExportCell]) -> String {
        let mut buf = Vec::new();
        {
            let mut table = Box::new(CsvTable::new(&mut buf, &["id".to_owned(), "text".to_owned()]).unwrap());
            table.row(cells).unwrap();
            table.finish().unwrap();
        }
        let text = String::from_utf8(buf).unwrap();
        text.split_once('\n').unwrap().1.to_owned()
    }

    #[test]
    fn no_csv_cell_starts_a_formula_where_excel_splits_at_semicolons() {
        let texts = [
            "x;=cmd|' /C calc'!A0;",
            "x;\"=cmd|' /C calc'!A0\"",
            "a; -2+3;b",
            "line\n@SUM(1)\r\n+1+1",
            "a\t=1+1",
            ";;\t\t=x",
            "=x;=y",
        ];
        for text in texts {
            let line = csv_line(&[ExportCell::Text("c1".into()), ExportCell::Text(text.into())]);
            for cell in semicolon_locale_cells(&line) {
                assert!(
                    !cell.starts_with(FORMULA_TRIGGERS),
                    "{text:?} written as {line:?} gives the cell {cell:?}"
                );
            }
        }
        let line =
            csv_line(&[ExportCell::Text("c1".into()), ExportCell::Text("x;=cmd|' /C calc'!A0;".into())]);
        assert_eq!(line, "c1,\"x;'=cmd|' /C calc'!A0;\"\n", "quoted for readers that honour quotes");
        for (text, want) in [
            ("tel. 600;+48600100200", "tel. 600;'+48600100200"),
            ("a; b", "a; b"),
            ("a\t=1", "a\t'=1"),
            ("a;\t=1", "a;'\t'=1"),
            ("Items:\n- one", "Items:\n'- one"),
            ("x;\"=1\"", "x;'\"=1\""),
        ] {
            assert_eq!(escape_csv_field(text), want, "{text:?}");
        }
    }
}
