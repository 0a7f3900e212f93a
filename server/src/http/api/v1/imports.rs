//! `/api/v1/imports`: contact imports as jobs. The file is the raw request
//! body (CSV, XLSX, XLS or ODS, told apart by content), options are query
//! parameters; the answer is `202` with the job, whose progress and error
//! report can then be read while it runs.
//!
//! The body is spooled to a temporary file (at most [`MAX_IMPORT_BYTES`],
//! in bounded memory; the UI's import form spools its file field the same
//! way) because the importer reads a file twice; obvious
//! refusals (empty, binary, bad options) are answered at once,
//! everything else in the job.

use std::io::{self, BufWriter, Read as _, Seek as _, SeekFrom, Write as _};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt as _};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use crate::domain::Region;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, Auth};
use crate::storage::{ImportJob, format_micros, now_micros};
use crate::transfer::export::export_import_errors;
use crate::transfer::table::{FileProblem, sniff};
use crate::transfer::{
    ImportOptions, TempFile, TextEncoding, import_contacts, parse_delimiter, parse_match_by,
};

use super::exports::stream_response;

/// Largest file accepted for import.
pub const MAX_IMPORT_BYTES: u64 = 1024 * 1024 * 1024;
/// Jobs shown by the list.
const LISTED_IMPORTS: usize = 50;
/// Chunks of the body buffered on the way to the spool file.
const SPOOL_CHUNKS_AHEAD: usize = 8;

/// The import's options (documentation; read by hand, `group` repeats).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ImportQuery {
    /// A group every imported contact joins (name; created if missing). Repeatable.
    pub group: Option<String>,
    /// JSON object from column header (or letter) to attribute, e.g.
    /// `{"Nr kom.":"phone","Miasto":"city","PESEL":"ignore"}`. Other columns are recognised by header.
    pub mapping: Option<String>,
    /// Text encoding of a CSV file: `utf-8`, `windows-1250`, `windows-1251`, `iso-8859-2`, `utf-16le`; detected by default.
    pub encoding: Option<String>,
    /// CSV delimiter: `,` `;` `tab` `|`; detected by default.
    pub delimiter: Option<String>,
    /// Region of numbers without a country code (default `messages.default_region`).
    pub region: Option<String>,
    /// `phone` or `external_id`: how rows find existing contacts (default: by external id when the file has that column).
    #[param(rename = "match")]
    pub match_by: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ImportErrorView {
    /// `empty`, `binary`, `bad_xlsx`, `bad_xls`, `bad_ods`, `too_large`, `unreadable`, `no_phone_column`,
    /// `duplicate_columns`, `unknown_column`, `unknown_attribute`, `unreadable_header`, `interrupted`, `internal`.
    pub code: String,
    pub message: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ImportView {
    pub id: String,
    /// `queued`, `running`, `completed` (rows with problems are in the error report) or `failed` (see `error`).
    pub status: String,
    /// `csv` or `xlsx`, once known.
    pub format: Option<String>,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    /// How each column is read: `column`, `header`, `attribute` (null: ignored), `matched_by`.
    #[schema(value_type = Vec<Object>)]
    pub columns: serde_json::Value,
    pub groups: Vec<String>,
    /// Data rows in the file, once checked.
    pub rows_total: Option<i64>,
    pub rows_read: i64,
    /// Rows stored: created plus updated.
    pub rows_imported: i64,
    pub rows_created: i64,
    pub rows_updated: i64,
    pub rows_failed: i64,
    /// Why the whole file was refused.
    pub error: Option<ImportErrorView>,
    /// The per-row error report (CSV: row, column, value, reason).
    pub errors_url: String,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

impl From<ImportJob> for ImportView {
    fn from(j: ImportJob) -> Self {
        Self {
            errors_url: format!("/api/v1/imports/{}/errors.csv", j.id),
            id: j.id,
            status: j.status.as_str().to_owned(),
            format: j.format,
            encoding: j.encoding,
            delimiter: j.delimiter,
            columns: j.columns.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or(serde_json::json!([])),
            groups: j.groups,
            rows_total: j.rows_total,
            rows_read: j.rows_read,
            rows_imported: j.rows_created + j.rows_updated,
            rows_created: j.rows_created,
            rows_updated: j.rows_updated,
            rows_failed: j.rows_failed,
            error: j.error_code.map(|code| ImportErrorView { code, message: j.error.unwrap_or_default() }),
            created_at: format_micros(j.created_at),
            updated_at: format_micros(j.updated_at),
            finished_at: j.finished_at.map(format_micros),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ImportList {
    pub imports: Vec<ImportView>,
}

/// The import's options from its query parameters (also the UI's form).
pub(crate) fn read_options(
    pairs: Vec<(String, String)>,
    region: Option<Region>,
) -> Result<ImportOptions, ApiError> {
    let mut options = ImportOptions { region, ..ImportOptions::default() };
    for (key, value) in pairs {
        match key.as_str() {
            "group" => options.add_group(&value).map_err(|e| ApiError::query("group", e))?,
            "mapping" => {
                let map: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&value).map_err(|_| {
                        ApiError::query(
                            "mapping",
                            r#"must be a JSON object such as {"Telefon":"phone","Miasto":"city"}"#,
                        )
                    })?;
                for (column, attribute) in map {
                    let attribute = attribute.as_str().ok_or_else(|| {
                        ApiError::query("mapping", format!("the attribute of '{column}' must be text"))
                    })?;
                    options.mapping.push((column, attribute.to_owned()));
                }
            }
            "encoding" => {
                options.encoding = Some(TextEncoding::from_label(&value).ok_or_else(|| {
                    ApiError::query(
                        "encoding",
                        "use utf-8, windows-1250, windows-1251, iso-8859-2 or utf-16le",
                    )
                })?);
            }
            "delimiter" => {
                options.delimiter = Some(
                    parse_delimiter(&value)
                        .ok_or_else(|| ApiError::query("delimiter", "use , ; tab or |"))?,
                );
            }
            "region" => {
                options.region =
                    Some(value.parse::<Region>().map_err(|e| ApiError::query("region", e.to_string()))?);
            }
            "match" => {
                options.match_by = Some(
                    parse_match_by(&value)
                        .ok_or_else(|| ApiError::query("match", "use phone or external_id"))?,
                );
            }
            other => {
                return Err(ApiError::query(
                    other,
                    "unknown parameter; use group, mapping, encoding, delimiter, region or match",
                ));
            }
        }
    }
    Ok(options)
}

/// An import file written to a temporary file, ready for its job.
pub(crate) struct Spooled {
    temp: TempFile,
    file: std::fs::File,
    size: u64,
}

impl Spooled {
    /// The file's size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

/// Writes a file arriving in chunks (a request body, a form's file field)
/// to a temporary file, in bounded memory, refusing it past
/// [`MAX_IMPORT_BYTES`].
pub(crate) async fn spool<S, E>(stream: S) -> Result<Spooled, ApiError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let (temp, file) = TempFile::create("import").map_err(ApiError::internal)?;
    let (tx, mut rx) = mpsc::channel::<Bytes>(SPOOL_CHUNKS_AHEAD);
    let writer = tokio::task::spawn_blocking(move || -> io::Result<std::fs::File> {
        let mut out = BufWriter::new(file);
        while let Some(chunk) = rx.blocking_recv() {
            out.write_all(&chunk)?;
        }
        out.into_inner().map_err(|e| e.into_error())
    });
    let mut stream = std::pin::pin!(stream);
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", e.to_string()))?;
        total += chunk.len() as u64;
        if total > MAX_IMPORT_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("an import file may have at most {} MiB", MAX_IMPORT_BYTES / 1024 / 1024),
            ));
        }
        if tx.send(chunk).await.is_err() {
            break;
        }
    }
    drop(tx);
    let file = writer.await.map_err(ApiError::internal)?.map_err(ApiError::internal)?;
    Ok(Spooled { temp, file, size: total })
}

/// Import contacts from a CSV, XLSX, XLS or ODS file sent as the request body.
///
/// Answers 202 with the job once the file is received; follow it at
/// `GET /api/v1/imports/{id}`.
#[utoipa::path(post, path = "/api/v1/imports", tag = "imports", params(ImportQuery),
    request_body(content = Vec<u8>, description = "The file itself: CSV (text/csv), XLSX, XLS or ODS (the format is told by the content)", content_type = "text/csv"),
    responses((status = 202, body = ImportView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_import(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::query("query", e.body_text()))?;
    let options = read_options(pairs, state.region)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if content_type.starts_with("multipart/") || content_type == "application/json" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file itself as the body, e.g. curl --data-binary @contacts.csv -H 'Content-Type: text/csv'",
        ));
    }
    let spooled = spool(body.into_data_stream()).await?;
    let job = start_import(&state, &auth, options, spooled).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// Starts the import job of a spooled file: obvious refusals (empty,
/// binary) at once, at the field `body`; the rest in the job.
pub(crate) async fn start_import(
    state: &AppState,
    auth: &Auth,
    mut options: ImportOptions,
    spooled: Spooled,
) -> Result<ImportView, ApiError> {
    let Spooled { temp, mut file, size } = spooled;
    let mut head = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| (&mut file).take(8192).read_to_end(&mut head))
        .map_err(ApiError::internal)?;
    if size == 0 {
        return Err(ApiError {
            field: Some("body".into()),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "empty", "the file is empty")
        });
    }
    if let Err(problem) = sniff(&head, options.encoding) {
        let code = match problem {
            FileProblem::Empty => "empty",
            _ => "binary",
        };
        return Err(ApiError {
            field: Some("body".into()),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, problem.to_string())
        });
    }
    file.seek(SeekFrom::Start(0)).map_err(ApiError::internal)?;
    let now = now_micros();
    let job_id = state.store.create_import(&auth.account_id, &options.groups, now).await?;
    options.job_id = Some(job_id.clone());
    let reply_id = job_id.clone();
    let store = state.store.clone();
    let account_id = auth.account_id.clone();
    tokio::spawn(async move {
        let _spooled = temp;
        match import_contacts(&store, &account_id, file, options, |_| {}).await {
            Ok(s) => tracing::info!(
                import = s.job_id,
                status = s.status.as_str(),
                created = s.progress.created,
                updated = s.progress.updated,
                failed = s.progress.failed,
                "import finished"
            ),
            Err(e) => tracing::error!(import = job_id, error = %format!("{e:#}"), "import failed"),
        }
    });
    let job = state
        .store
        .get_import(&auth.account_id, &reply_id)
        .await?
        .ok_or_else(|| ApiError::not_found("import"))?;
    Ok(ImportView::from(job))
}

fn import_id(id: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id).map(|u| u.hyphenated().to_string()).map_err(|_| ApiError::not_found("import"))
}

/// An import's status and progress.
#[utoipa::path(get, path = "/api/v1/imports/{id}", tag = "imports",
    params(("id" = String, Path, description = "Import id")),
    responses((status = 200, body = ImportView), (status = 404, body = ErrorBody)))]
pub async fn get_import(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<ImportView>, ApiError> {
    let id = import_id(&id)?;
    let job =
        state.store.get_import(&auth.account_id, &id).await?.ok_or_else(|| ApiError::not_found("import"))?;
    Ok(Json(job.into()))
}

/// The account's recent imports, newest first.
#[utoipa::path(get, path = "/api/v1/imports", tag = "imports",
    responses((status = 200, body = ImportList), (status = 401, body = ErrorBody)))]
pub async fn list_imports(State(state): State<AppState>, auth: Auth) -> Result<Json<ImportList>, ApiError> {
    let jobs = state.store.list_imports(&auth.account_id, LISTED_IMPORTS).await?;
    Ok(Json(ImportList { imports: jobs.into_iter().map(Into::into).collect() }))
}

/// The rows an import refused, as CSV: row, column, value, reason.
#[utoipa::path(get, path = "/api/v1/imports/{id}/errors.csv", tag = "imports",
    params(("id" = String, Path, description = "Import id")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
pub async fn import_errors(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = import_id(&id)?;
    let job =
        state.store.get_import(&auth.account_id, &id).await?.ok_or_else(|| ApiError::not_found("import"))?;
    let unlisted = job.unlisted_problems();
    let store = state.store.clone();
    Ok(stream_response(
        crate::transfer::ExportFormat::Csv,
        &format!("import-{id}-errors"),
        move |out| async move { export_import_errors(&store, &id, unlisted, out).await },
    ))
}
