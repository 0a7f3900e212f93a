//! What reading a workbook would take, checked before calamine reads it.
//!
//! calamine sizes some of its allocations by what a file declares rather
//! than by what it holds: the number of an XLSX's shared strings, an XLS
//! sheet's dimensions and the span of its cells (each sheet becomes one
//! dense grid), an ODS table's repeated rows and columns (each repeat a
//! copy). A file of a few hundred bytes can so ask for terabytes, and a
//! failed allocation aborts the whole process, not the import; a zip bomb
//! inside an XLSX or ODS does the same more slowly. Each check here reads
//! only the file's structure, in bounded memory, and refuses such a file
//! with the reason before calamine opens it. Files people make pass: the
//! limits are far above what a sheet of a million contacts needs.

use std::io::{self, Read, Seek};

use quick_xml::Reader as XmlReader;
use quick_xml::events::{BytesStart, Event};
use zip::ZipArchive;

use super::table::{FileFormat, FileProblem};

/// Largest part of an XLSX file that calamine reads whole (its shared
/// strings, workbook, styles, relationships), uncompressed.
pub const MAX_WHOLE_PART_BYTES: u64 = 64 * 1024 * 1024;
/// Longest tag or text between tags in a streamed XML part. A cell holds
/// at most 32,767 characters in Excel, so this is far above any real one.
pub const MAX_XML_RUN_BYTES: u64 = 1024 * 1024;
/// Parts a zip file (XLSX, ODS) may have: a workbook has tens; one with
/// hundreds of sheets and pictures, a few thousand.
pub const MAX_ZIP_ENTRIES: u64 = 100_000;
/// Memory an XLS or ODS workbook may take once read (both are read whole:
/// every sheet's cells, empty ones inside its used area included, and
/// their text).
pub const MAX_WORKBOOK_MEMORY_BYTES: u64 = 256 * 1024 * 1024;

/// What calamine keeps per cell of a sheet read whole: its value (and, for
/// ODS, its formula text).
const CELL_BYTES: u64 = 32;
const ODS_CELL_BYTES: u64 = CELL_BYTES + 24;
/// calamine's caps on an ODS table (its `MAX_ROWS`, `MAX_COLUMNS`).
const ODS_MAX_ROWS: u64 = 1_048_576;
const ODS_MAX_COLUMNS: u64 = 16_384;

fn too_demanding(format: FileFormat, what: impl Into<String>) -> FileProblem {
    FileProblem::TooDemanding(format, what.into())
}

/// An XLSX file: no part read whole is larger than
/// [`MAX_WHOLE_PART_BYTES`], the shared-string table declares no more
/// strings than it can hold, and a worksheet larger than that (streamed)
/// has no tag or text longer than [`MAX_XML_RUN_BYTES`].
pub fn check_xlsx<R: Read + Seek>(mut input: R) -> Result<(), FileProblem> {
    let bad = |e: &dyn std::fmt::Display| FileProblem::BadXlsx(e.to_string());
    check_zip_entries(&mut input, FileFormat::Xlsx)?;
    let mut zip = ZipArchive::new(input).map_err(|e| bad(&e))?;
    for i in 0..zip.len() {
        let (name, size) = {
            let part = zip.by_index_data(i).map_err(|e| bad(&e))?;
            let name = part.name().map_err(|e| bad(&e))?;
            // Named as calamine finds them: any case, either slash.
            (name.replace('\\', "/").to_ascii_lowercase(), part.size())
        };
        let worksheet = name.contains("worksheets/");
        if size > MAX_WHOLE_PART_BYTES && !worksheet {
            let mib = size / 1024 / 1024;
            return Err(too_demanding(
                FileFormat::Xlsx,
                format!("its part {name} is {mib} MiB uncompressed"),
            ));
        }
        if worksheet && size > MAX_WHOLE_PART_BYTES {
            let part = zip.by_index(i).map_err(|e| bad(&e))?;
            io::copy(&mut RunLimit::new(part), &mut io::sink())
                .map_err(|e| xml_problem(FileFormat::Xlsx, e))?;
        }
        if name.ends_with("sharedstrings.xml") {
            let part = zip.by_index(i).map_err(|e| bad(&e))?;
            let declared = shared_string_count(part).map_err(|e| xml_problem(FileFormat::Xlsx, e))?;
            // The shortest string element, `<si/>`, takes five bytes.
            if declared.is_some_and(|n| n > size / 5 + 1) {
                let n = declared.unwrap_or_default();
                return Err(too_demanding(
                    FileFormat::Xlsx,
                    format!("its shared-string table declares {n} strings in {size} bytes"),
                ));
            }
        }
    }
    Ok(())
}

/// Refuses a zip file (XLSX, ODS) that declares more than
/// [`MAX_ZIP_ENTRIES`] parts: the zip reader holds its whole directory in
/// memory, a few hundred bytes a part, so a file of tiny parts would take
/// gigabytes before any part is read. A file whose end cannot be read as
/// a zip is left to the zip reader to report.
fn check_zip_entries<R: Read + Seek>(input: &mut R, format: FileFormat) -> Result<(), FileProblem> {
    let entries = zip_entries(input).map_err(|e| FileProblem::Io(e.to_string()))?;
    input.seek(io::SeekFrom::Start(0)).map_err(|e| FileProblem::Io(e.to_string()))?;
    match entries {
        Some(n) if n > MAX_ZIP_ENTRIES => Err(too_demanding(format, format!("it holds {n} parts"))),
        _ => Ok(()),
    }
}

/// The number of entries a zip file's end record declares (its ZIP64 one
/// when the classic one says to look there); `None` without such a record.
fn zip_entries<R: Read + Seek>(input: &mut R) -> io::Result<Option<u64>> {
    // The end record: 22 bytes and a comment of up to 65,535.
    let len = input.seek(io::SeekFrom::End(0))?;
    let tail_len = len.min(22 + 65_535);
    input.seek(io::SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    input.read_exact(&mut tail)?;
    let Some(at) = (0..tail.len().saturating_sub(21)).rev().find(|&i| tail[i..].starts_with(b"PK\x05\x06"))
    else {
        return Ok(None);
    };
    let entries = u16::from_le_bytes([tail[at + 10], tail[at + 11]]);
    if entries != u16::MAX {
        return Ok(Some(u64::from(entries)));
    }
    // ZIP64: a locator just before the end record names where its own end
    // record is, whose entry count is a u64 at byte 32.
    let locator = (len - tail_len) + at as u64;
    if locator < 20 {
        return Ok(Some(u64::from(entries)));
    }
    let mut loc = [0u8; 20];
    input.seek(io::SeekFrom::Start(locator - 20))?;
    input.read_exact(&mut loc)?;
    if !loc.starts_with(b"PK\x06\x07") {
        return Ok(Some(u64::from(entries)));
    }
    let record = u64::from_le_bytes(loc[8..16].try_into().unwrap_or_default());
    let mut head = [0u8; 40];
    input.seek(io::SeekFrom::Start(record))?;
    if input.read_exact(&mut head).is_err() || !head.starts_with(b"PK\x06\x06") {
        return Ok(Some(u64::from(entries)));
    }
    Ok(Some(u64::from_le_bytes(head[32..40].try_into().unwrap_or_default())))
}

/// The `uniqueCount` of the `sst` element that starts a shared-string
/// table (calamine reserves room for that many strings).
fn shared_string_count(part: impl Read) -> io::Result<Option<u64>> {
    let mut xml = XmlReader::from_reader(io::BufReader::new(RunLimit::new(part)));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).map_err(io::Error::other)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sst" => {
                let count = attribute(&e, "uniqueCount")?;
                // calamine ignores a count it cannot read as a number.
                return Ok(count.and_then(|c| c.trim().parse().ok()));
            }
            Event::Eof => return Ok(None),
            _ => {}
        }
    }
}

/// An XLS file: what its sheets take once read, each a dense grid over its
/// declared dimensions and over its cells' span, plus the text of its
/// cells, within [`MAX_WORKBOOK_MEMORY_BYTES`]. calamine gives each cell
/// that uses a shared string its own copy, so a string counts once for
/// every cell that names it.
pub fn check_xls<R: Read + Seek>(input: R) -> Result<(), FileProblem> {
    let bad = |e: &dyn std::fmt::Display| FileProblem::BadXls(e.to_string());
    let mut file = cfb::CompoundFile::open(input).map_err(|e| bad(&e))?;
    let Some(name) = ["/Workbook", "/Book"].into_iter().find(|n| file.is_stream(n)) else {
        return Err(bad(&"it has no workbook stream"));
    };
    let mut stream = io::BufReader::new(file.open_stream(name).map_err(|e| bad(&e))?);
    let mut cells: u64 = 0;
    let mut text: u64 = 0;
    // The shared-string table's records while it is read, then the
    // length of each of its strings.
    let mut sst: Option<Vec<Vec<u8>>> = None;
    let mut sst_lengths: Vec<u32> = Vec::new();
    let mut sheet = XlsSheet::default();
    let mut depth = 0usize;
    let mut data = Vec::new();
    loop {
        let mut header = [0u8; 4];
        match stream.read_exact(&mut header) {
            Ok(()) => {}
            // A truncated stream is calamine's to report.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(bad(&e)),
        }
        let kind = u16::from_le_bytes([header[0], header[1]]);
        let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
        data.resize(len, 0);
        if stream.read_exact(&mut data).is_err() {
            break;
        }
        // SST and its CONTINUE records.
        if kind == 0x00FC {
            sst = Some(vec![data.clone()]);
        } else if kind == 0x003C
            && let Some(records) = sst.as_mut()
        {
            records.push(data.clone());
        } else if let Some(records) = sst.take() {
            sst_lengths = sst_string_lengths(&records);
        }
        match kind {
            // BOF: a sheet (or, nested, a chart within it) begins.
            0x0809 => {
                if depth == 0 {
                    sheet = XlsSheet::default();
                }
                depth += 1;
            }
            // EOF: it ends.
            0x000A => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    cells = cells.saturating_add(sheet.cells());
                }
            }
            0x0200 => sheet.dimensions(&data),
            // Number, Label, RString, BoolErr, Rk, LabelSst, Formula.
            0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 if len >= 4 => {
                let (row, col) = (u16_at(&data, 0), u16_at(&data, 2));
                sheet.cell(row, col);
            }
            // MulRk: a row's run of cells from one column to another.
            0x00BD if len >= 6 => {
                let row = u16_at(&data, 0);
                sheet.cell(row, u16_at(&data, 2));
                sheet.cell(row, u16_at(&data, len - 2));
            }
            _ => {}
        }
        match kind {
            // LabelSst: a copy of shared string number `isst`.
            0x00FD if len >= 10 => {
                let isst = u32::from_le_bytes([data[6], data[7], data[8], data[9]]) as usize;
                text = text.saturating_add(sst_lengths.get(isst).map_or(0, |n| u64::from(*n)));
            }
            // Label, RString, and the String after a formula: text of its
            // own, at most three bytes of UTF-8 per byte.
            0x0204 | 0x00D6 | 0x0207 => text = text.saturating_add(3 * len as u64),
            _ => {}
        }
        let grid = cells.saturating_add(sheet.cells()).saturating_mul(CELL_BYTES);
        if grid > MAX_WORKBOOK_MEMORY_BYTES {
            return Err(too_demanding(
                FileFormat::Xls,
                "a sheet spans more cells than an import reads whole",
            ));
        }
        if grid.saturating_add(text) > MAX_WORKBOOK_MEMORY_BYTES {
            let mib = grid.saturating_add(text) / 1024 / 1024;
            return Err(too_demanding(
                FileFormat::Xls,
                format!("its cells repeat shared text into more than {mib} MiB"),
            ));
        }
    }
    Ok(())
}

/// The most bytes each string of an XLS shared-string table takes once
/// decoded (three of UTF-8 per character), read from the SST record and
/// its CONTINUE records as calamine reads them: a string's characters may
/// go on in the next record, which then starts with their flags again;
/// its formatting runs and phonetic data are skipped. Where the table is
/// cut short the strings read so far are returned (calamine reports the
/// damage).
fn sst_string_lengths(records: &[Vec<u8>]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut next = records.iter();
    let Some(mut data) = next.next().and_then(|first| first.get(8..)) else { return out };
    loop {
        if data.is_empty() {
            match next.next() {
                Some(record) => data = record,
                None => return out,
            }
            if data.is_empty() {
                out.push(0);
                continue;
            }
        }
        let Some(&[c0, c1, flags]) = data.get(..3) else { return out };
        data = &data[3..];
        let chars = usize::from(u16::from_le_bytes([c0, c1]));
        let mut skip = 0usize;
        if flags & 0x8 != 0 {
            let Some(&[r0, r1]) = data.get(..2) else { return out };
            skip += 4 * usize::from(u16::from_le_bytes([r0, r1]));
            data = &data[2..];
        }
        if flags & 0x4 != 0 {
            let Some(&[e0, e1, e2, e3]) = data.get(..4) else { return out };
            skip = skip.saturating_add(i32::from_le_bytes([e0, e1, e2, e3]) as usize);
            data = &data[4..];
        }
        out.push(3 * chars as u32);
        let (mut left, mut wide) = (chars, flags & 0x1 != 0);
        while left > 0 {
            let unit = if wide { 2 } else { 1 };
            let n = left.min(data.len() / unit);
            data = &data[n * unit..];
            left -= n;
            if left > 0 {
                let Some(record) = next.next() else { return out };
                let Some((&flags, rest)) = record.split_first() else { return out };
                wide = flags & 0x1 != 0;
                data = rest;
            }
        }
        while skip > 0 {
            if data.is_empty() {
                let Some(record) = next.next() else { return out };
                data = record;
                if data.is_empty() {
                    return out;
                }
            }
            let n = skip.min(data.len());
            data = &data[n..];
            skip -= n;
        }
    }
}

fn u16_at(data: &[u8], at: usize) -> u32 {
    u32::from(u16::from_le_bytes([data[at], data[at + 1]]))
}

/// One XLS sheet's declared dimensions and its cells' span.
#[derive(Default)]
struct XlsSheet {
    /// Cells calamine reserves for the declared dimensions.
    declared: u64,
    /// (first row, last row, first column, last column) of the cells.
    span: Option<(u32, u32, u32, u32)>,
}

impl XlsSheet {
    /// A DIMENSIONS record, read as calamine reads it: rows from the first
    /// to the one before the last, columns likewise (a first column past
    /// 255 or past the last counts from 0). Rows or columns that end
    /// before they start count as every one there could be (calamine's
    /// subtraction wraps around there).
    fn dimensions(&mut self, r: &[u8]) {
        let (first_row, end_row, first_col, end_col) = match r.len() {
            10 => (u16_at(r, 0), u16_at(r, 2), u16_at(r, 4), u16_at(r, 6)),
            14 | 16 => (
                u32::from_le_bytes([r[0], r[1], r[2], r[3]]),
                u32::from_le_bytes([r[4], r[5], r[6], r[7]]),
                u16_at(r, 8),
                u16_at(r, 10),
            ),
            _ => return,
        };
        let first_col = if first_col > 0xFF || end_col < first_col { 0 } else { first_col };
        if end_row == 0 || end_col == 0 {
            return;
        }
        let span = |first: u32, end: u32| (end - 1).checked_sub(first).map_or(1 << 32, |n| u64::from(n) + 1);
        let (rows, cols) = (span(first_row, end_row), span(first_col, end_col));
        self.declared = self.declared.max(rows.saturating_mul(cols));
    }

    fn cell(&mut self, row: u32, col: u32) {
        self.span = Some(match self.span {
            None => (row, row, col, col),
            Some((r0, r1, c0, c1)) => (r0.min(row), r1.max(row), c0.min(col), c1.max(col)),
        });
    }

    /// The larger of the two grids calamine makes room for.
    fn cells(&self) -> u64 {
        let grid = self.span.map_or(0, |(r0, r1, c0, c1)| u64::from(r1 - r0 + 1) * u64::from(c1 - c0 + 1));
        self.declared.max(grid)
    }
}

/// An ODS file: what its tables take once read — each row's cells as
/// written, then the used area of each table with its rows and columns
/// repeated as the file says — within [`MAX_WORKBOOK_MEMORY_BYTES`], and
/// no tag or text in it longer than [`MAX_XML_RUN_BYTES`].
pub fn check_ods<R: Read + Seek>(mut input: R) -> Result<(), FileProblem> {
    let bad = |e: &dyn std::fmt::Display| FileProblem::BadOds(e.to_string());
    check_zip_entries(&mut input, FileFormat::Ods)?;
    let mut zip = ZipArchive::new(input).map_err(|e| bad(&e))?;
    let content = match zip.by_name("content.xml") {
        Ok(part) => part,
        // calamine reports a missing table.
        Err(zip::result::ZipError::FileNotFound) => return Ok(()),
        Err(e) => return Err(bad(&e)),
    };
    let bytes = ods_memory(content).map_err(|e| xml_problem(FileFormat::Ods, e))?;
    if bytes > MAX_WORKBOOK_MEMORY_BYTES {
        let mib = bytes / 1024 / 1024;
        return Err(too_demanding(FileFormat::Ods, format!("its tables would take about {mib} MiB")));
    }
    Ok(())
}

/// The bytes calamine would hold for the tables of `content` (an ODS
/// `content.xml`), mirroring how it reads them: a cell's repeats are
/// copies, empty cells at a row's end and empty rows at a table's edges
/// are dropped, and each table becomes a grid as wide as its widest row.
fn ods_memory(content: impl Read) -> io::Result<u64> {
    let mut xml = XmlReader::from_reader(io::BufReader::new(RunLimit::new(content)));
    let mut buf = Vec::new();
    let mut total: u64 = 0;
    let mut table = OdsTable::default();
    let mut row = OdsRow::default();
    // The cell being read: its repeats and whether it holds anything.
    let mut cell: Option<(u64, bool)> = None;
    loop {
        buf.clear();
        let event = xml.read_event_into(&mut buf).map_err(io::Error::other)?;
        match &event {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                "table:table" => table = OdsTable::default(),
                "table:table-row" => {
                    let repeats = number_attribute(e, "table:number-rows-repeated")?;
                    row = OdsRow { repeats, ..OdsRow::default() };
                    if matches!(event, Event::Empty(_)) {
                        table.row(&row);
                    }
                }
                "table:table-cell" | "table:covered-table-cell" => {
                    let repeats = number_attribute(e, "table:number-columns-repeated")?;
                    let valued = attribute(e, "office:value-type")?.is_some()
                        || attribute(e, "table:formula")?.is_some();
                    let text = attribute(e, "table:formula")?.map_or(0, |f| f.len() as u64);
                    if matches!(event, Event::Empty(_)) {
                        row.cell(repeats, valued, text);
                    } else {
                        row.text = text;
                        cell = Some((repeats, valued));
                    }
                }
                _ => {}
            },
            Event::Text(t) if cell.is_some() => {
                row.text = row.text.saturating_add(t.len() as u64);
                if let Some((_, valued)) = &mut cell {
                    *valued |= !t.trim().is_empty();
                }
            }
            Event::End(e) => match e.name().as_ref() {
                "table:table-cell" | "table:covered-table-cell" => {
                    if let Some((repeats, valued)) = cell.take() {
                        let text = std::mem::take(&mut row.text);
                        row.cell(repeats, valued, text);
                    }
                }
                "table:table-row" => table.row(&row),
                "table:table" => total = total.saturating_add(table.bytes()),
                _ => {}
            },
            Event::Eof => return Ok(total),
            _ => {}
        }
        if total.saturating_add(table.bytes()) > MAX_WORKBOOK_MEMORY_BYTES {
            return Ok(total.saturating_add(table.bytes()));
        }
    }
}

/// One ODS row as calamine reads it.
#[derive(Default)]
struct OdsRow {
    repeats: u64,
    /// Cells kept, the text they hold, and how many of them end with the
    /// last that holds something (the row's width in the table's grid).
    kept: u64,
    kept_text: u64,
    width: u64,
    /// Empty cells kept only if another cell follows them.
    pending: u64,
    /// Text of the cell being read.
    text: u64,
}

impl OdsRow {
    fn cell(&mut self, repeats: u64, valued: bool, text: u64) {
        let room = |kept: u64| ODS_MAX_COLUMNS.saturating_sub(kept);
        self.kept += self.pending.min(room(self.kept));
        self.pending = 0;
        let repeats = repeats.min(room(self.kept));
        if valued {
            self.kept += repeats;
            self.kept_text = self.kept_text.saturating_add(repeats.saturating_mul(text));
            self.width = self.kept;
        } else {
            self.pending = repeats;
        }
    }
}

/// One ODS table as calamine reads it.
#[derive(Default)]
struct OdsTable {
    rows: u64,
    /// Cells and text of the rows as written (before repeats).
    written: u64,
    /// The widest row, the rows of the used area (repeats counted) and
    /// their text, and empty rows not counted unless a used row follows.
    width: u64,
    used_rows: u64,
    used_text: u64,
    empty_rows: u64,
}

impl OdsTable {
    fn row(&mut self, row: &OdsRow) {
        let repeats = row.repeats.min(ODS_MAX_ROWS.saturating_sub(self.rows));
        self.rows += repeats;
        self.written = self
            .written
            .saturating_add(row.kept.saturating_mul(ODS_CELL_BYTES))
            .saturating_add(row.kept_text);
        if row.width == 0 {
            if self.used_rows > 0 {
                self.empty_rows = self.empty_rows.saturating_add(repeats);
            }
            return;
        }
        self.width = self.width.max(row.width);
        self.used_rows = self.used_rows.saturating_add(self.empty_rows).saturating_add(repeats);
        self.used_text = self.used_text.saturating_add(repeats.saturating_mul(row.kept_text));
        self.empty_rows = 0;
    }

    fn bytes(&self) -> u64 {
        let grid = self.used_rows.saturating_mul(self.width).saturating_mul(ODS_CELL_BYTES);
        self.written.saturating_add(grid).saturating_add(self.used_text)
    }
}

/// An attribute's raw value (numbers and presence are all that is read).
fn attribute(e: &BytesStart<'_>, name: &str) -> io::Result<Option<String>> {
    Ok(e.try_get_attribute(name).map_err(io::Error::other)?.map(|a| a.value.into_owned()))
}

/// A repeat count (1 when absent); one that is no number is refused.
fn number_attribute(e: &BytesStart<'_>, name: &str) -> io::Result<u64> {
    match attribute(e, name)? {
        None => Ok(1),
        Some(v) => v.trim().parse().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, format!("'{v}' is not a number of repeats"))
        }),
    }
}

/// A problem found while reading a part's XML: too long a run is the
/// file's demand, anything else damage.
fn xml_problem(format: FileFormat, e: io::Error) -> FileProblem {
    let message = e.to_string();
    match (e.kind(), format) {
        (io::ErrorKind::FileTooLarge, _) => too_demanding(format, message),
        (_, FileFormat::Ods) => FileProblem::BadOds(message),
        _ => FileProblem::BadXlsx(message),
    }
}

/// Reads XML text, failing once a tag or the text between two tags is
/// longer than [`MAX_XML_RUN_BYTES`] (an XML reader holds one whole).
struct RunLimit<R> {
    inner: R,
    run: u64,
}

impl<R> RunLimit<R> {
    fn new(inner: R) -> Self {
        Self { inner, run: 0 }
    }
}

impl<R: Read> Read for RunLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for b in &buf[..n] {
            if matches!(b, b'<' | b'>') {
                self.run = 0;
            } else {
                self.run += 1;
                if self.run > MAX_XML_RUN_BYTES {
                    return Err(io::Error::new(
                        io::ErrorKind::FileTooLarge,
                        format!("a tag or text in it is longer than {} KiB", MAX_XML_RUN_BYTES / 1024),
                    ));
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ods(rows: &str) -> String {
        format!(
            r#"<office:document-content xmlns:office="o" xmlns:table="t" xmlns:text="x"><office:body>
            <office:spreadsheet><table:table table:name="A">{rows}</table:table></office:spreadsheet>
            </office:body></office:document-content>"#
        )
    }

    #[test]
    fn a_spreadsheet_programs_trailing_empty_rows_and_columns_cost_nothing() {
        // As LibreOffice writes a sheet: its cells, then the rest of each row
        // and the rest of the sheet as repeated empty cells and rows.
        let row = r#"<table:table-row><table:table-cell office:value-type="string"><text:p>+48600100200</text:p></table:table-cell>
            <table:table-cell table:number-columns-repeated="1023"/></table:table-row>"#;
        let rest = r#"<table:table-row table:number-rows-repeated="1048000"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#;
        let content = ods(&format!("{}{rest}", row.repeat(100)));
        let bytes = ods_memory(content.as_bytes()).unwrap();
        assert!(bytes < 20_000, "{bytes}");
    }

    #[test]
    fn repeats_and_gaps_count_as_the_copies_calamine_makes() {
        let cell = r#"<table:table-cell table:number-columns-repeated="100" office:value-type="float" office:value="1"/>"#;
        let repeated =
            ods(&format!(r#"<table:table-row table:number-rows-repeated="1000">{cell}</table:table-row>"#));
        let bytes = ods_memory(repeated.as_bytes()).unwrap();
        // 100 cells as written, then a grid of 1,000 x 100.
        assert_eq!(bytes, 100 * ODS_CELL_BYTES + 1_000 * 100 * ODS_CELL_BYTES);
        // Empty rows between two used ones are grid rows too.
        let one = r#"<table:table-row><table:table-cell office:value-type="float" office:value="1"/></table:table-row>"#;
        let gap =
            r#"<table:table-row table:number-rows-repeated="5000"><table:table-cell/></table:table-row>"#;
        let bytes = ods_memory(ods(&format!("{one}{gap}{one}")).as_bytes()).unwrap();
        assert_eq!(bytes, 2 * ODS_CELL_BYTES + 5_002 * ODS_CELL_BYTES);
        // Text is copied with its cell.
        let texts = ods(&format!(
            r#"<table:table-row table:number-rows-repeated="10"><table:table-cell table:number-columns-repeated="10"><text:p>{}</text:p></table:table-cell></table:table-row>"#,
            "x".repeat(1000)
        ));
        let bytes = ods_memory(texts.as_bytes()).unwrap();
        assert!(bytes > 100 * 1000, "{bytes}");
    }

    #[test]
    fn a_bad_repeat_count_is_refused() {
        let content = ods(r#"<table:table-row table:number-rows-repeated="many"/>"#);
        let e = ods_memory(content.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("'many'"), "{e}");
    }

    #[test]
    fn the_shared_string_count_is_read_from_the_tables_start() {
        let xml = r#"<?xml version="1.0"?><x:sst xmlns:x="s" count="9" uniqueCount="100000000000"><x:si><x:t>a</x:t></x:si></x:sst>"#;
        assert_eq!(shared_string_count(xml.as_bytes()).unwrap(), Some(100_000_000_000));
        assert_eq!(shared_string_count(r#"<sst count="2"><si/></sst>"#.as_bytes()).unwrap(), None);
        assert_eq!(shared_string_count(r#"<sst uniqueCount="lots"/>"#.as_bytes()).unwrap(), None);
    }

    #[test]
    fn an_xls_sheet_costs_the_larger_of_its_declared_and_its_used_area() {
        let dims = |first_row: u32, end_row: u32, first_col: u16, end_col: u16| {
            let mut r = Vec::new();
            r.extend(first_row.to_le_bytes());
            r.extend(end_row.to_le_bytes());
            r.extend(first_col.to_le_bytes());
            r.extend(end_col.to_le_bytes());
            r.extend([0, 0]);
            r
        };
        let mut sheet = XlsSheet::default();
        sheet.dimensions(&dims(0, 5, 0, 7));
        assert_eq!(sheet.cells(), 35);
        sheet.cell(0, 0);
        sheet.cell(65_535, 255);
        assert_eq!(sheet.cells(), 65_536 * 256);
        let mut inverted = XlsSheet::default();
        inverted.dimensions(&dims(10, 5, 0, 1));
        assert_eq!(inverted.cells(), 1 << 32, "calamine's subtraction wraps around");
        let mut huge = XlsSheet::default();
        huge.dimensions(&dims(0, u32::MAX, 0, 256));
        assert_eq!(huge.cells(), u64::from(u32::MAX) * 256);
    }

    #[test]
    fn each_shared_string_of_an_xls_counts_its_characters_across_continue_records() {
        // An SST record (counts, then strings: characters, flags, [runs],
        // [phonetic size], text, [runs], [phonetic data]) and two CONTINUE
        // records: the second string's characters go on in the first of
        // them, after flags of their own (now two bytes a character).
        let mut sst = vec![0; 8];
        sst.extend([2, 0, 0]);
        sst.extend(b"ab");
        sst.extend([5, 0, 0x8 | 0x4, 1, 0, 3, 0, 0, 0]);
        sst.extend(b"xy");
        let continued = [vec![1], "z\0w\0v\0".as_bytes().to_vec(), vec![0; 4 + 3]].concat();
        let mut last = vec![0, 0, 0];
        last.extend([40_000u16.to_le_bytes().as_slice(), &[1]].concat());
        last.extend(vec![b'q'; 100]);
        assert_eq!(sst_string_lengths(&[sst, continued, last]), [6, 15, 0, 120_000]);
        assert_eq!(sst_string_lengths(&[vec![0; 4]]), Vec::<u32>::new(), "cut short");
    }

    #[test]
    fn a_zip_declaring_too_many_parts_is_refused_before_it_is_read() {
        use std::io::Cursor;
        // A zip's end record (no directory behind it: the count is all
        // that is read), classic and ZIP64.
        let end = |entries: u16| {
            let mut r = b"PK\x05\x06".to_vec();
            r.extend([0, 0, 0, 0]);
            r.extend(entries.to_le_bytes());
            r.extend(entries.to_le_bytes());
            r.extend([0; 8]);
            r.extend([0, 0]);
            r
        };
        assert_eq!(zip_entries(&mut Cursor::new(end(12))).unwrap(), Some(12));
        let mut zip64 = b"PK\x06\x06".to_vec();
        zip64.extend([0; 28]);
        zip64.extend(5_000_000u64.to_le_bytes());
        zip64.extend([0; 16]);
        let mut locator = b"PK\x06\x07".to_vec();
        locator.extend([0; 4]);
        locator.extend(0u64.to_le_bytes());
        locator.extend([1, 0, 0, 0]);
        let file = [zip64, locator, end(u16::MAX)].concat();
        assert_eq!(zip_entries(&mut Cursor::new(file.clone())).unwrap(), Some(5_000_000));
        let e = check_zip_entries(&mut Cursor::new(file), FileFormat::Xlsx).unwrap_err();
        assert!(e.to_string().contains("5000000 parts"), "{e}");
        assert_eq!(zip_entries(&mut Cursor::new(b"not a zip".to_vec())).unwrap(), None);
    }

    #[test]
    fn a_run_longer_than_the_limit_stops_the_read() {
        let long = format!("<c>{}</c>", "x".repeat(MAX_XML_RUN_BYTES as usize + 1));
        let e = io::copy(&mut RunLimit::new(long.as_bytes()), &mut io::sink()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        let fine = format!("<c>{}</c>", "x".repeat(MAX_XML_RUN_BYTES as usize)).repeat(3);
        assert_eq!(
            io::copy(&mut RunLimit::new(fine.as_bytes()), &mut io::sink()).unwrap(),
            fine.len() as u64
        );
    }
}
