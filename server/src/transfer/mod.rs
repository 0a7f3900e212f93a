//! Transfer: contacts in from files, contacts and messages out to files.
//!
//! - [`import`]: `import_contacts`, a job that reads a CSV or XLSX file in
//!   two bounded passes and stores its rows in batches, with a per-row
//!   error report.
//! - [`table`]: what a file is, CSV records (capped in length) and XLSX
//!   rows, as cells with their row numbers.
//! - [`text`]: the text encoding of a CSV file (byte-order mark, UTF-8,
//!   Windows-1250/1251, ISO-8859-2 by letter statistics).
//! - [`workbook_limits`]: what reading an XLSX, XLS or ODS file would
//!   take, checked before it is read (a declared size must not make the
//!   reader ask for more memory than the machine has).
//! - [`mapping`]: which attribute each column fills (headers in several
//!   languages, custom fields, an explicit mapping).
//! - [`export`]: contacts, messages and error reports to CSV and XLSX,
//!   streamed, with formula injection escaped.
//! - [`cli`]: `kurier import contacts` and `kurier export …` with progress
//!   bars.
//!
//! This module reads and writes storage through `Store` only; it knows
//! nothing of HTTP (the API's `imports` and `exports` resources call it).
//! Nothing read from a file is ever evaluated.

pub mod cli;
pub mod export;
pub mod import;
pub mod mapping;
pub mod table;
pub mod text;
pub mod workbook_limits;

pub use export::{
    ChannelWriter, ExportCell, ExportFormat, PageWriter, XLSX_ROWS_PER_SHEET, escape_formula,
    export_contacts, export_messages, export_poll_votes, export_table,
};
pub use import::{ImportFailure, ImportOptions, ImportProgress, ImportSummary, import_contacts};
pub use table::FileFormat;
pub use text::TextEncoding;

use std::path::{Path, PathBuf};

use crate::storage::MatchBy;

/// A CSV delimiter as people write it: `,` `;` `|`, a tab, or its name
/// (`comma`, `semicolon`, `tab`, `pipe`).
pub fn parse_delimiter(s: &str) -> Option<u8> {
    match s {
        "," | "comma" => Some(b','),
        ";" | "semicolon" => Some(b';'),
        "\t" | "tab" | "\\t" => Some(b'\t'),
        "|" | "pipe" => Some(b'|'),
        _ => None,
    }
}

/// `phone` or `external_id`.
pub fn parse_match_by(s: &str) -> Option<MatchBy> {
    match s.trim().to_ascii_lowercase().as_str() {
        "phone" | "number" => Some(MatchBy::Phone),
        "external_id" => Some(MatchBy::ExternalId),
        _ => None,
    }
}

/// A file in the temporary directory, removed when dropped (an uploaded
/// import waiting for its job).
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// A new, empty file named after `purpose` and a fresh id.
    pub fn create(purpose: &str) -> std::io::Result<(Self, std::fs::File)> {
        let path = std::env::temp_dir().join(format!("kurier-{purpose}-{}", crate::domain::new_id()));
        let file = std::fs::OpenOptions::new().write(true).read(true).create_new(true).open(&path)?;
        Ok((Self { path }, file))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
