//! Importing contacts from CSV, XLSX, XLS and ODS files and exporting contacts and
//! messages, as a client and as the command line use them, on SQLite and
//! PostgreSQL. Every fixture is generated here, except the XLS and ODS
//! workbooks in `tests/fixtures`, written by Python's xlwt and odfpy.

mod common;

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use calamine::{Data, Reader as _, Xlsx};
use common::{API_KEY, TestApp, on_each_backend};
use kurier::storage::ImportStatus;
use kurier::transfer::cli::{
    ExportContactsArgs, ImportContactsArgs, export_contacts_command, import_contacts_command,
};
use kurier::transfer::{ImportOptions, ImportProgress, import_contacts};
use serde_json::{Value, json};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const ODS: &str = "application/vnd.oasis.opendocument.spreadsheet";

/// A file from `tests/fixtures` (made by `tests/fixtures/make_fixtures.py`).
fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

async fn upload(app: &TestApp, query: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    upload_as(app, API_KEY, query, content_type, body).await
}

async fn upload_as(app: &TestApp, key: &str, query: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url(&format!("/api/v1/imports?{query}")))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Polls an import until it is completed or failed.
async fn finished(app: &TestApp, id: &str) -> Value {
    finished_as(app, API_KEY, id).await
}

async fn finished_as(app: &TestApp, key: &str, id: &str) -> Value {
    for _ in 0..1_500 {
        let job: Value = app
            .http
            .get(app.url(&format!("/api/v1/imports/{id}")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["status"] == "completed" || job["status"] == "failed" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("import {id} never finished");
}

/// Imports a file over HTTP and waits for the job.
async fn import(app: &TestApp, query: &str, content_type: &str, body: Vec<u8>) -> Value {
    let (status, job) = upload(app, query, content_type, body).await;
    assert_eq!(status, 202, "{job}");
    finished(app, job["id"].as_str().unwrap()).await
}

async fn download(app: &TestApp, path: &str) -> (u16, String, Vec<u8>) {
    let resp = app.http.get(app.url(path)).bearer_auth(API_KEY).send().await.unwrap();
    let status = resp.status().as_u16();
    let ctype =
        resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, ctype, resp.bytes().await.unwrap().to_vec())
}

fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let text = text.strip_prefix('\u{feff}').expect("CSV exports start with a byte-order mark");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

async fn error_report(app: &TestApp, job: &Value) -> Vec<Vec<String>> {
    let (status, ctype, bytes) = download(app, job["errors_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    let rows = csv_rows(&bytes);
    assert_eq!(rows[0], ["row", "column", "value", "reason"]);
    rows[1..].to_vec()
}

async fn all_contacts(app: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let (_, page) = app.get(&format!("/api/v1/contacts?limit=500{cursor}")).await;
        out.extend(page["contacts"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

async fn contact(app: &TestApp, phone: &str) -> Value {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let (_, page) = app.get(&format!("/api/v1/contacts?q={digits}&limit=500")).await;
    page["contacts"].as_array().unwrap().iter().find(|c| c["phone"] == phone).cloned().unwrap_or(Value::Null)
}

fn encode(encoding: &'static encoding_rs::Encoding, text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding.encode(text);
    assert!(!unmappable, "{} cannot hold the fixture", encoding.name());
    bytes.into_owned()
}

const FIRST_NAMES: [&str; 8] =
    ["Łukasz", "Zofia", "Grzegorz", "Świętosław", "Jadwiga", "Małgorzata", "Bożena", "Jędrzej"];
const LAST_NAMES: [&str; 8] =
    ["Wąsik", "Żółć", "Brzęczyszczykiewicz", "Źdźbło", "Ślązak", "Kowalczyk", "Nowak", "Wiśniewski"];

/// Row `i`'s number in one of the local ways people write it.
fn local_number(i: usize) -> String {
    let n = format!("{}", 600_000_000 + i);
    match i % 5 {
        0 => format!("{} {} {}", &n[..3], &n[3..6], &n[6..]),
        1 => format!("+48 {}-{}-{}", &n[..3], &n[3..6], &n[6..]),
        2 => format!("0048{n}"),
        3 => format!("({}) {} {}", &n[..3], &n[3..6], &n[6..]),
        _ => n,
    }
}

#[tokio::test]
async fn a_windows_1250_csv_of_ten_thousand_polish_contacts_imports_with_its_broken_rows_reported() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        app.post("/api/v1/contact-fields", json!({"name": "city", "kind": "text"})).await;
        let mut text = String::from("Imię;Nazwisko;Telefon;E-mail;Miasto\r\n");
        for i in 0..10_000 {
            let (first, last) = (FIRST_NAMES[i % 8], LAST_NAMES[(i / 8) % 8]);
            let phone = match i {
                100 => "12345".to_owned(),
                300 => String::new(),
                500 => local_number(499),
                _ => local_number(i),
            };
            let email = if i == 200 { "zły@".to_owned() } else { format!("osoba{i}@example.pl") };
            let first = if i == 600 { "=HYPERLINK(\"http://zlo.example\")" } else { first };
            text.push_str(&format!("{first};{last};{phone};{email};Kraków\r\n"));
        }
        let body = encode(encoding_rs::WINDOWS_1250, &text);
        let job = import(
            &app,
            "group=Klienci%202024&region=PL&mapping=%7B%22Miasto%22%3A%22city%22%7D",
            "text/csv",
            body,
        )
        .await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(
            (job["encoding"].as_str(), job["delimiter"].as_str(), job["format"].as_str()),
            (Some("windows-1250"), Some(";"), Some("csv"))
        );
        assert_eq!(job["rows_total"], 10_000);
        assert_eq!(job["rows_read"], 10_000);
        assert_eq!(
            (job["rows_created"].as_i64(), job["rows_updated"].as_i64(), job["rows_failed"].as_i64()),
            (Some(9_996), Some(1), Some(3))
        );
        let columns: Vec<(&str, Option<&str>)> = job["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["header"].as_str().unwrap(), c["attribute"].as_str()))
            .collect();
        assert_eq!(
            columns,
            [
                ("Imię", Some("name")),
                ("Nazwisko", Some("last_name")),
                ("Telefon", Some("phone")),
                ("E-mail", Some("email")),
                ("Miasto", Some("field.city"))
            ]
        );

        let report = error_report(&app, &job).await;
        let summary: Vec<(&str, &str, &str)> =
            report.iter().map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str())).collect();
        assert_eq!(summary, [("102", "Telefon", "12345"), ("202", "E-mail", "zły@"), ("302", "Telefon", "")]);
        assert!(report[0][3].contains("phone number"), "{report:?}");
        assert!(report[2][3].contains("missing"), "{report:?}");

        let c = contact(&app, "+48600000003").await;
        assert_eq!(c["name"], "Świętosław Wąsik");
        assert_eq!(c["fields"]["city"], "Kraków");
        assert_eq!(c["groups"][0]["name"], "Klienci 2024");
        let merged = contact(&app, "+48600000499").await;
        assert_eq!(merged["email"], "osoba500@example.pl", "the later row wins");
        let formula = contact(&app, "+48600000600").await;
        assert_eq!(
            formula["name"].as_str(),
            Some(format!("=HYPERLINK(\"http://zlo.example\") {}", LAST_NAMES[(600 / 8) % 8]).as_str()),
            "stored as text, never evaluated"
        );
        let (_, groups) = app.get("/api/v1/groups").await;
        assert_eq!(groups["groups"][0]["members"], 9_996);
        let found = app.get("/api/v1/contacts?q=swietoslaw%20zdzblo&limit=500").await.1;
        let want = (0..10_000).filter(|i| i % 8 == 3 && (i / 8) % 8 == 3).count();
        assert_eq!(found["contacts"].as_array().unwrap().len(), want, "found without diacritics or case");

        // The same file again changes nothing but the update times.
        let body = encode(encoding_rs::WINDOWS_1250, &text);
        let again = import(&app, "group=Klienci%202024&region=PL", "text/csv", body).await;
        assert_eq!((again["rows_created"].as_i64(), again["rows_updated"].as_i64()), (Some(0), Some(9_997)));
        assert_eq!(all_contacts(&app).await.len(), 9_996);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_xlsx_workbook_imports_with_numbers_dates_and_booleans_read_as_typed() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| c.messages.default_region = Some("PL".into())).await;
        for (name, kind) in [("member_since", "date"), ("age", "number"), ("vip", "boolean")] {
            app.post("/api/v1/contact-fields", json!({"name": name, "kind": kind})).await;
        }
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
        for (col, h) in
            ["Telefon", "Imię i nazwisko", "Member since", "Age", "VIP", "Tagi", "Grupy", "Unused"]
                .iter()
                .enumerate()
        {
            sheet.write_string(0, col as u16, *h).unwrap();
        }
        sheet.write_number(1, 0, 48600100200.0).unwrap();
        sheet.write_string(1, 1, "Zofia Żółć").unwrap();
        let d = rust_xlsxwriter::ExcelDateTime::from_ymd(2021, 3, 14).unwrap();
        sheet.write_datetime_with_format(1, 2, &d, &date).unwrap();
        sheet.write_number(1, 3, 41.0).unwrap();
        sheet.write_boolean(1, 4, true).unwrap();
        sheet.write_string(1, 5, "#VIP, nocna").unwrap();
        sheet.write_string(1, 6, "Kierowcy; Nocna zmiana").unwrap();
        sheet.write_formula(1, 7, rust_xlsxwriter::Formula::new("=1+1").set_result("2")).unwrap();
        // Row 3 is empty; row 4 is a number that lost its digits; row 5 a bad date.
        sheet.write_number(3, 0, 4.86001e10 + 0.5).unwrap();
        sheet.write_string(4, 0, "600 100 201").unwrap();
        sheet.write_string(4, 2, "2021-02-30").unwrap();
        sheet.write_string(5, 0, "+48 600 100 202").unwrap();
        sheet.write_string(5, 3, "12,5").unwrap();
        sheet.write_string(5, 4, "nie").unwrap();
        let second = book.add_worksheet();
        second.write_string(0, 0, "ignored: only the first sheet is read").unwrap();
        let body = book.save_to_buffer().unwrap();

        let job = import(&app, "group=Import", XLSX, body).await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!((job["format"].as_str(), job["rows_total"].as_i64()), (Some("xlsx"), Some(4)));
        assert_eq!((job["rows_created"].as_i64(), job["rows_failed"].as_i64()), (Some(2), Some(2)));
        let report = error_report(&app, &job).await;
        let rows: Vec<(&str, &str)> = report.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
        assert_eq!(rows, [("4", "Telefon"), ("5", "Member since")]);

        let c = contact(&app, "+48600100200").await;
        assert_eq!(c["name"], "Zofia Żółć");
        assert_eq!(c["fields"], json!({"age": 41, "member_since": "2021-03-14", "vip": true}));
        assert_eq!(c["tags"], json!(["nocna", "vip"]));
        let groups: Vec<&str> =
            c["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
        assert_eq!(groups, ["Import", "Kierowcy", "Nocna zmiana"]);
        let other = contact(&app, "+48600100202").await;
        assert_eq!(other["fields"], json!({"age": 12.5, "vip": false}));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn xls_and_ods_workbooks_import_like_xlsx_through_the_api_and_the_command_line() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| c.messages.default_region = Some("PL".into())).await;
        for (name, kind) in [("member_since", "date"), ("age", "number"), ("vip", "boolean")] {
            app.post("/api/v1/contact-fields", json!({"name": name, "kind": kind})).await;
        }
        for (file, ctype, format) in
            [("kontakty.xls", "application/vnd.ms-excel", "xls"), ("kontakty.ods", ODS, "ods")]
        {
            let job = import(&app, "group=Import", ctype, fixture(file)).await;
            assert_eq!(job["status"], "completed", "{file}: {job}");
            assert_eq!(
                (job["format"].as_str(), job["rows_total"].as_i64()),
                (Some(format), Some(3)),
                "{file}"
            );
            let report = error_report(&app, &job).await;
            let rows: Vec<(&str, &str)> = report.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
            assert_eq!(rows, [("4", "Member since")], "{file}: the row with 2021-02-30, numbered as shown");

            let c = contact(&app, "+48600100200").await;
            assert_eq!(c["name"], "Zofia Żółć", "{file}");
            assert_eq!(c["fields"], json!({"age": 41, "member_since": "2021-03-14", "vip": true}), "{file}");
            assert_eq!(c["tags"], json!(["nocna", "vip"]), "{file}");
            let groups: Vec<&str> =
                c["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
            assert_eq!(groups, ["Import", "Kierowcy", "Nocna zmiana"], "{file}");
            let other = contact(&app, "+48600100202").await;
            assert_eq!(
                (other["name"].as_str(), &other["fields"]),
                (Some("Bożena"), &json!({"age": 12.5, "vip": false}))
            );
        }
        assert_eq!(all_contacts(&app).await.len(), 2, "the second file updated the same two contacts");

        // The command line reads the same files.
        let dir = tempfile::tempdir().unwrap();
        let mut config = common::test_config(&app.db.as_ref().unwrap().url);
        config.messages.default_region = Some("PL".into());
        for file in ["kontakty.ods", "kontakty.xls"] {
            let path = dir.path().join(file);
            std::fs::write(&path, fixture(file)).unwrap();
            let args = ImportContactsArgs {
                file: path,
                groups: vec![format!("CLI {file}")],
                mapping: vec![],
                encoding: None,
                delimiter: None,
                region: None,
                match_by: None,
                account: "default".into(),
                errors: None,
                config: None,
            };
            let summary = import_contacts_command(&config, &args).await.unwrap();
            assert_eq!((summary.progress.updated, summary.progress.failed), (2, 1), "{file}");
        }
        app.stop().await;
    })
    .await;
}

/// What the API should answer to a bad file: at once, or in the job.
enum Expect {
    Refused(u16, &'static str),
    JobFails(&'static str),
}

/// The shared-strings part of an XLSX, as text.
fn shared_strings(xlsx: &[u8]) -> String {
    let mut strings = String::new();
    let mut zip = zip::ZipArchive::new(Cursor::new(xlsx)).unwrap();
    zip.by_name("xl/sharedStrings.xml").unwrap().read_to_string(&mut strings).unwrap();
    strings
}

/// `zipped` (an XLSX or ODS file) with the part `name` holding `content`
/// instead, the other parts as they were.
fn with_part(zipped: &[u8], name: &str, content: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    use zip::write::SimpleFileOptions;
    let mut from = zip::ZipArchive::new(Cursor::new(zipped)).unwrap();
    let mut to = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..from.len() {
        let mut part = from.by_index(i).unwrap();
        let part_name = part.name().unwrap().into_owned();
        // An OpenDocument file's `mimetype` stays first and uncompressed.
        let method = if part_name == "mimetype" {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        to.start_file(part_name.as_str(), SimpleFileOptions::default().compression_method(method)).unwrap();
        if part_name == name {
            to.write_all(content).unwrap();
        } else {
            std::io::copy(&mut part, &mut to).unwrap();
        }
    }
    to.finish().unwrap().into_inner()
}

/// A small XLSX whose shared-string table declares `count` strings (it
/// holds 2): calamine makes room for the count it reads.
fn xlsx_declaring_strings(count: u64) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "phone").unwrap();
    sheet.write_string(1, 0, "+48600100200").unwrap();
    let bytes = book.save_to_buffer().unwrap();
    let mut strings = shared_strings(&bytes);
    let at = strings.find("uniqueCount=\"").unwrap() + "uniqueCount=\"".len();
    let end = at + strings[at..].find('"').unwrap();
    strings.replace_range(at..end, &count.to_string());
    with_part(&bytes, "xl/sharedStrings.xml", strings.as_bytes())
}

/// The XLS fixture with its declared dimensions ending at row `end_row`
/// (exclusive; a record's body follows its 4-byte header), its cells as
/// they were.
fn xls_with_end_row(end_row: u32) -> Vec<u8> {
    use std::io::Write as _;
    let mut file = cfb::CompoundFile::open(Cursor::new(fixture("kontakty.xls"))).unwrap();
    let mut stream = Vec::new();
    file.open_stream("/Workbook").unwrap().read_to_end(&mut stream).unwrap();
    let mut at = 0;
    let mut changed = 0;
    while at + 4 <= stream.len() {
        let kind = u16::from_le_bytes([stream[at], stream[at + 1]]);
        let len = usize::from(u16::from_le_bytes([stream[at + 2], stream[at + 3]]));
        if kind == 0x0200 && len >= 14 {
            stream[at + 4 + 4..at + 4 + 8].copy_from_slice(&end_row.to_le_bytes());
            changed += 1;
        }
        at += 4 + len;
    }
    assert!(changed > 0, "the fixture's sheet has its dimensions");
    file.create_stream("/Workbook").unwrap().write_all(&stream).unwrap();
    file.flush().unwrap();
    file.into_inner().into_inner()
}

/// The ODS fixture with one table: a row of 16,384 copies of a number,
/// repeated `rows` times (a few hundred bytes, compressed or not).
fn ods_repeating(rows: u32) -> Vec<u8> {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">
<office:body><office:spreadsheet><table:table table:name="Kontakty">
<table:table-row table:number-rows-repeated="{rows}">
<table:table-cell table:number-columns-repeated="16384" office:value-type="float" office:value="48600100200"><text:p>48600100200</text:p></table:table-cell>
</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    with_part(&fixture("kontakty.ods"), "content.xml", content.as_bytes())
}

fn truncated_xlsx() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for i in 0..200u32 {
        sheet.write_string(i, 0, format!("+48600{i:06}")).unwrap();
    }
    let mut bytes = book.save_to_buffer().unwrap();
    bytes.truncate(bytes.len() / 2);
    bytes
}

#[tokio::test]
async fn bad_files_are_refused_with_a_clear_reason_and_import_nothing() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let cases: Vec<(&str, &str, &str, Vec<u8>, Expect)> = vec![
            ("an empty body", "", "text/csv", vec![], Expect::Refused(422, "empty")),
            ("blank lines only", "", "text/csv", b"\r\n \n\t\n".to_vec(), Expect::Refused(422, "empty")),
            (
                "a byte-order mark only",
                "",
                "text/csv",
                b"\xef\xbb\xbf".to_vec(),
                Expect::Refused(422, "empty"),
            ),
            (
                "a PNG image",
                "",
                "text/csv",
                b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
                Expect::Refused(422, "binary"),
            ),
            ("random bytes", "", "application/octet-stream", noise, Expect::Refused(422, "binary")),
            (
                "the start of an .xls file",
                "",
                "application/vnd.ms-excel",
                b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\0\0".to_vec(),
                Expect::JobFails("bad_xls"),
            ),
            (
                "a truncated .xls file",
                "",
                "application/vnd.ms-excel",
                fixture("kontakty.xls")[..3000].to_vec(),
                Expect::JobFails("bad_xls"),
            ),
            (
                "a truncated .ods file",
                "",
                ODS,
                fixture("kontakty.ods")[..1200].to_vec(),
                Expect::JobFails("bad_ods"),
            ),
            (
                "an OpenDocument text",
                "",
                "application/vnd.oasis.opendocument.text",
                b"PK\x03\x04\x14\0\0\0\0\0\x17\x43\x78\x5d\x85\x6c\x39\x8a\x27\0\0\0\x27\0\0\0\x08\0\0\0\
                  mimetypeapplication/vnd.oasis.opendocument.textPK"
                    .to_vec(),
                Expect::Refused(422, "binary"),
            ),
            (
                "a JSON body",
                "",
                "application/json",
                b"{\"phone\":\"+48600100200\"}".to_vec(),
                Expect::Refused(415, "unsupported_media_type"),
            ),
            (
                "a multipart form",
                "",
                "multipart/form-data; boundary=x",
                b"--x\r\n".to_vec(),
                Expect::Refused(415, "unsupported_media_type"),
            ),
            (
                "an unknown encoding",
                "encoding=klingon",
                "text/csv",
                b"phone\n+48600100200\n".to_vec(),
                Expect::Refused(400, "invalid_parameter"),
            ),
            (
                "an unknown delimiter",
                "delimiter=x",
                "text/csv",
                b"phone\n+48600100200\n".to_vec(),
                Expect::Refused(400, "invalid_parameter"),
            ),
            (
                "a mapping that is not JSON",
                "mapping=phone",
                "text/csv",
                b"phone\n+48600100200\n".to_vec(),
                Expect::Refused(400, "invalid_parameter"),
            ),
            (
                "an unknown region",
                "region=XX",
                "text/csv",
                b"phone\n+48600100200\n".to_vec(),
                Expect::Refused(400, "invalid_parameter"),
            ),
            (
                "an unknown parameter",
                "groups=x",
                "text/csv",
                b"phone\n+48600100200\n".to_vec(),
                Expect::Refused(400, "invalid_parameter"),
            ),
            ("a truncated XLSX file", "", XLSX, truncated_xlsx(), Expect::JobFails("bad_xlsx")),
            // Each of these three once took the process down (an abort when
            // the allocation failed) or gigabytes of memory.
            (
                "an XLSX declaring a hundred billion shared strings",
                "",
                XLSX,
                xlsx_declaring_strings(100_000_000_000),
                Expect::JobFails("too_large"),
            ),
            (
                "an XLS sheet declaring four billion rows",
                "",
                "application/vnd.ms-excel",
                xls_with_end_row(u32::MAX),
                Expect::JobFails("too_large"),
            ),
            (
                "an ODS table of 6,000 x 16,384 cells",
                "",
                ODS,
                ods_repeating(6_000),
                Expect::JobFails("too_large"),
            ),
            (
                "no phone column",
                "",
                "text/csv",
                "name,city\nJan,Kraków\n".as_bytes().to_vec(),
                Expect::JobFails("no_phone_column"),
            ),
            (
                "two phone columns",
                "",
                "text/csv",
                b"Phone;Telefon\n+48600100200;+48600100201\n".to_vec(),
                Expect::JobFails("duplicate_columns"),
            ),
            (
                "a duplicated header",
                "",
                "text/csv",
                b"phone,name,phone\n+48600100200,a,+48600100201\n".to_vec(),
                Expect::JobFails("duplicate_columns"),
            ),
            (
                "a mapping to a missing column",
                "mapping=%7B%22Nope%22%3A%22phone%22%7D",
                "text/csv",
                b"phone\n+48600100200\n".to_vec(),
                Expect::JobFails("unknown_column"),
            ),
            (
                "a mapping to an unknown attribute",
                "mapping=%7B%22x%22%3A%22colour%22%7D",
                "text/csv",
                b"phone,x\n+48600100200,y\n".to_vec(),
                Expect::JobFails("unknown_attribute"),
            ),
        ];
        for (what, query, ctype, body, expect) in cases {
            let (status, resp) = upload(&app, query, ctype, body).await;
            match expect {
                Expect::Refused(want_status, code) => {
                    assert_eq!(
                        (status, resp["error"]["code"].as_str()),
                        (want_status, Some(code)),
                        "{what}: {resp}"
                    );
                    assert!(!resp["error"]["message"].as_str().unwrap().is_empty());
                }
                Expect::JobFails(code) => {
                    assert_eq!(status, 202, "{what}: {resp}");
                    let job = finished(&app, resp["id"].as_str().unwrap()).await;
                    assert_eq!(
                        (job["status"].as_str(), job["error"]["code"].as_str()),
                        (Some("failed"), Some(code)),
                        "{what}: {job}"
                    );
                    assert_eq!(job["rows_created"], 0, "{what}");
                    assert!(job["error"]["message"].as_str().unwrap().len() > 10, "{what}: {job}");
                }
            }
        }
        assert!(all_contacts(&app).await.is_empty(), "nothing was imported");
        let (_, groups) = app.get("/api/v1/groups").await;
        assert!(groups["groups"].as_array().unwrap().is_empty(), "no group was created");
        let header_only = import(&app, "", "text/csv", b"phone,name\r\n".to_vec()).await;
        assert_eq!(
            (header_only["status"].as_str(), header_only["rows_read"].as_i64()),
            (Some("completed"), Some(0))
        );
        let (status, _) = app.get("/api/v1/imports/01234567-89ab-7def-8123-456789abcdef").await;
        assert_eq!(status, 404);
        let (_, list) = app.get("/api/v1/imports").await;
        assert_eq!(list["imports"].as_array().unwrap().len(), 13, "every job is listed");
        app.stop().await;
    })
    .await;
}

/// An XLSX whose rows 2 to `rows + 1` hold a number and then the same
/// shared string of `len` bytes in 199 cells, and whose last row is an
/// ordinary contact: a few kilobytes of sheet naming megabytes of text.
fn xlsx_repeating_a_long_string(rows: u32, len: usize) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "phone").unwrap();
    sheet.write_string(0, 1, "notes").unwrap();
    for row in 1..=rows {
        sheet.write_string(row, 0, format!("+48600300{row:03}")).unwrap();
        for col in 1..200 {
            sheet.write_string(row, col, "LONG").unwrap();
        }
    }
    sheet.write_string(rows + 1, 0, "+48600300999").unwrap();
    sheet.write_string(rows + 1, 1, "short").unwrap();
    let bytes = book.save_to_buffer().unwrap();
    let strings = shared_strings(&bytes);
    let strings = strings.replacen("<t>LONG</t>", &format!("<t>{}</t>", "x".repeat(len)), 1);
    with_part(&bytes, "xl/sharedStrings.xml", strings.as_bytes())
}

/// The XLS fixture with one more shared string of `chars` characters
/// (in CONTINUE records after the table, as Excel spreads a long one) and
/// `cells` more cells on the first sheet, each naming that string.
fn xls_repeating_a_long_string(chars: usize, cells: u32) -> Vec<u8> {
    use std::io::Write as _;
    let record = |kind: u16, data: &[u8]| {
        [kind.to_le_bytes().as_slice(), &(data.len() as u16).to_le_bytes(), data].concat()
    };
    let mut file = cfb::CompoundFile::open(Cursor::new(fixture("kontakty.xls"))).unwrap();
    let mut stream = Vec::new();
    file.open_stream("/Workbook").unwrap().read_to_end(&mut stream).unwrap();
    let mut records = Vec::new();
    let mut at = 0;
    while at + 4 <= stream.len() {
        let kind = u16::from_le_bytes([stream[at], stream[at + 1]]);
        let len = usize::from(u16::from_le_bytes([stream[at + 2], stream[at + 3]]));
        records.push((kind, stream[at + 4..at + 4 + len].to_vec()));
        at += 4 + len;
    }
    // The new string's number is the count of strings in the table.
    let sst = records.iter().position(|(k, _)| *k == 0x00FC).expect("the fixture has shared strings");
    let index = u32::from_le_bytes(records[sst].1[4..8].try_into().unwrap());
    let table_end = sst + 1 + records[sst + 1..].iter().take_while(|(k, _)| *k == 0x003C).count();
    let mut added = Vec::new();
    let mut left = chars;
    let mut first = true;
    while left > 0 {
        let n = left.min(8_000);
        let mut data = if first { [(chars as u16).to_le_bytes().as_slice(), &[0]].concat() } else { vec![0] };
        data.extend(std::iter::repeat_n(b'x', n));
        added.push((0x003C, data));
        left -= n;
        first = false;
    }
    let mut cells_added = Vec::new();
    for i in 0..cells {
        let mut data = Vec::new();
        data.extend(((1_000 + i / 100) as u16).to_le_bytes());
        data.extend(((i % 100) as u16).to_le_bytes());
        data.extend(15u16.to_le_bytes());
        data.extend(index.to_le_bytes());
        cells_added.push((0x00FD, data));
    }
    let sheet_start = table_end + records[table_end..].iter().position(|(k, _)| *k == 0x0809).unwrap();
    let first_sheet_end =
        sheet_start + records[sheet_start..].iter().position(|(k, _)| *k == 0x000A).unwrap();
    let size = |list: &[(u16, Vec<u8>)]| list.iter().map(|(_, d)| 4 + d.len() as u32).sum::<u32>();
    let (shift, shift_after_sheet) = (size(&added), size(&added) + size(&cells_added));
    let first_sheet_end_at = size(&records[..first_sheet_end]);
    for (kind, data) in &mut records {
        if *kind == 0x0085 {
            let pos = u32::from_le_bytes(data[..4].try_into().unwrap());
            let moved = if pos > first_sheet_end_at { shift_after_sheet } else { shift };
            data[..4].copy_from_slice(&(pos + moved).to_le_bytes());
        }
    }
    let records: Vec<(u16, Vec<u8>)> = [
        &records[..table_end],
        &added[..],
        &records[table_end..first_sheet_end],
        &cells_added[..],
        &records[first_sheet_end..],
    ]
    .concat();
    let stream: Vec<u8> = records.iter().flat_map(|(k, d)| record(*k, d)).collect();
    file.create_stream("/Workbook").unwrap().write_all(&stream).unwrap();
    file.flush().unwrap();
    file.into_inner().into_inner()
}

/// A workbook of a few kilobytes that names one long shared string in
/// many cells is read within the memory a row may take: an XLSX row over
/// 64 KiB of text is reported without its text being copied, an XLS whose
/// cells would copy a string past the limit is refused before it is read.
#[tokio::test]
async fn a_long_shared_string_repeated_in_every_cell_is_refused_in_bounded_memory() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let before = peak_rss_kib();
        // Each row would copy 199 x 2 MiB = 400 MB.
        let file = xlsx_repeating_a_long_string(3, 2 * 1024 * 1024);
        assert!(file.len() < 100_000, "{}", file.len());
        let job = import(&app, "", XLSX, file).await;
        assert_eq!(
            (job["status"].as_str(), job["rows_created"].as_i64(), job["rows_failed"].as_i64()),
            (Some("completed"), Some(1), Some(3)),
            "{job}"
        );
        let report = error_report(&app, &job).await;
        assert_eq!(report.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(), ["2", "3", "4"]);
        assert!(report.iter().all(|r| r[3].contains("more than 64 KiB of text")), "{report:?}");
        assert_eq!(contact(&app, "+48600300999").await["notes"], "short");

        // 2,000 copies of a 60,000-character string: 120 MB copied, counted
        // as at most 360 MB.
        let file = xls_repeating_a_long_string(60_000, 2_000);
        let (status, job) = upload(&app, "", "application/vnd.ms-excel", file).await;
        assert_eq!(status, 202, "{job}");
        let job = finished(&app, job["id"].as_str().unwrap()).await;
        assert_eq!(
            (job["status"].as_str(), job["error"]["code"].as_str()),
            (Some("failed"), Some("too_large")),
            "{job}"
        );
        assert!(job["error"]["message"].as_str().unwrap().contains("shared text"), "{job}");
        if let (Some(before), Some(after)) = (before, peak_rss_kib()) {
            assert!(after - before < 128 * 1024, "peak memory grew by {} KiB", after - before);
        }
        // The fixture itself still imports: its strings are counted too.
        let job = import(&app, "region=PL", "application/vnd.ms-excel", fixture("kontakty.xls")).await;
        assert_eq!(job["status"], "completed", "{job}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_rows_are_reported_row_by_row_and_the_good_rows_still_import() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        // (CSV record, the number imported, or a fragment of the reason).
        let long_line = format!("600100299,{}", "x".repeat(10 * 1024 * 1024));
        let cases: Vec<(Vec<u8>, Result<&str, &str>)> = vec![
            (b"600 100 200,Spaces,,".to_vec(), Ok("+48600100200")),
            (b"+48 600-100-201,Dashes,,".to_vec(), Ok("+48600100201")),
            (b"0048600100202,Double zero,,".to_vec(), Ok("+48600100202")),
            (b"(600) 100 203,Brackets,,".to_vec(), Ok("+48600100203")),
            (b"48600100204,No plus,,".to_vec(), Ok("+48600100204")),
            ("600100213,Żółć Gęślą,,".as_bytes().to_vec(), Ok("+48600100213")),
            (b"4.86001E+10,Scientific,,".to_vec(), Err("scientific notation")),
            (b"=1+1,Formula as number,,".to_vec(), Err("is not a phone number")),
            (b"600100205,=HYPERLINK(\"http://x\"),,".to_vec(), Ok("+48600100205")),
            (b"600100206,@SUM(A1),,".to_vec(), Ok("+48600100206")),
            (b"600100207,Bad mail,jan@,".to_vec(), Err("is not an e-mail address")),
            (b"600100208,Bell\x07,,".to_vec(), Err("control character")),
            (b"600100209,\"Two\nlines\",,".to_vec(), Err("control character")),
            (b"600100210,Notes,,\"line 1\r\nline 2\"".to_vec(), Ok("+48600100210")),
            (long_line.into_bytes(), Err("longer than 64 KiB")),
            (b"600100212,\xff\xfe broken,,".to_vec(), Err("not valid UTF-8")),
            (b"  ,No number,,".to_vec(), Err("missing")),
            (b",,,".to_vec(), Ok("")),
            (b"600100214,\"Unclosed".to_vec(), Err("not closed")),
        ];
        let mut file = b"phone,name,email,notes\n".to_vec();
        let mut line = 2u64;
        let mut want_errors: Vec<(String, &str)> = Vec::new();
        let mut want_phones: Vec<&str> = Vec::new();
        for (record, expect) in &cases {
            match expect {
                Ok("") => {}
                Ok(phone) => want_phones.push(phone),
                Err(reason) => want_errors.push((line.to_string(), reason)),
            }
            line += record.iter().filter(|b| **b == b'\n').count() as u64 + 1;
            file.extend_from_slice(record);
            file.push(b'\n');
        }
        file.pop();
        let job = import(&app, "region=PL", "text/csv", file).await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(job["encoding"], "UTF-8");
        let report = error_report(&app, &job).await;
        assert_eq!(report.len(), want_errors.len(), "{report:#?}");
        for (row, (want_row, reason)) in report.iter().zip(&want_errors) {
            assert_eq!(&row[0], want_row, "{row:?}");
            assert!(row[3].contains(reason), "row {want_row}: want '{reason}', got {row:?}");
            assert!(row.iter().all(|cell| cell.len() < 1_000), "reports never repeat a whole line");
        }
        let mut got: Vec<String> =
            all_contacts(&app).await.iter().map(|c| c["phone"].as_str().unwrap().to_owned()).collect();
        got.sort();
        want_phones.sort();
        assert_eq!(got, want_phones);
        assert_eq!(contact(&app, "+48600100205").await["name"], "=HYPERLINK(\"http://x\")");
        assert_eq!(contact(&app, "+48600100210").await["notes"], "line 1\r\nline 2");
        assert_eq!(job["rows_failed"].as_u64(), Some(want_errors.len() as u64));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn each_supported_text_encoding_is_detected_or_taken_as_declared() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| c.messages.default_region = Some("PL".into())).await;
        let polish = "telefon;imię;nazwisko\n{n}0;Świętosław;Brzęczyszczykiewicz\n{n}1;Zofia;Żółć-Gęślą\n{n}2;Jędrzej;Ślązak\n";
        let russian = "телефон;имя;фамилия\n{n}0;Иван;Петров\n{n}1;Мария;Сидорова\n{n}2;Алексей;Кузнецов\n";
        let utf16 = |s: &str| {
            let mut out = vec![0xff, 0xfe];
            for unit in s.replace(';', "\t").encode_utf16() {
                out.extend_from_slice(&unit.to_le_bytes());
            }
            out
        };
        type Case = (&'static str, &'static str, &'static str, fn(&str) -> Vec<u8>, &'static str);
        let cases: Vec<Case> = vec![
            ("UTF-8", "", polish, |s| s.as_bytes().to_vec(), "UTF-8"),
            ("UTF-8 with a BOM", "", polish, |s| [b"\xef\xbb\xbf".to_vec(), s.as_bytes().to_vec()].concat(), "UTF-8"),
            ("Windows-1250", "", polish, |s| encode(encoding_rs::WINDOWS_1250, s), "windows-1250"),
            ("ISO-8859-2", "", polish, |s| encode(encoding_rs::ISO_8859_2, s), "ISO-8859-2"),
            ("Windows-1251", "", russian, |s| encode(encoding_rs::WINDOWS_1251, s), "windows-1251"),
            ("UTF-8 Russian", "", russian, |s| s.as_bytes().to_vec(), "UTF-8"),
            ("Windows-1250 declared", "encoding=cp1250", polish, |s| encode(encoding_rs::WINDOWS_1250, s), "windows-1250"),
            ("UTF-16LE declared, without a BOM", "encoding=utf-16le", russian, |s| s.encode_utf16().flat_map(u16::to_le_bytes).collect(), "UTF-16LE"),
        ];
        let mut n = 60010020;
        for (what, query, template, make, want_encoding) in cases {
            n += 1;
            let text = template.replace("{n}", &n.to_string());
            let job = import(&app, query, "text/csv", make(&text)).await;
            assert_eq!((job["status"].as_str(), job["encoding"].as_str()), (Some("completed"), Some(want_encoding)), "{what}: {job}");
            assert_eq!(job["rows_created"], 3, "{what}: {job}");
            let second_row: Vec<&str> = text.lines().nth(1).unwrap().split(';').collect();
            let c = contact(&app, &format!("+48{}", second_row[0])).await;
            assert_eq!(c["name"].as_str(), Some(format!("{} {}", second_row[1], second_row[2]).as_str()), "{what}");
        }
        // Declared wrongly: rows are reported, never stored garbled.
        n += 1;
        let text = polish.replace("{n}", &n.to_string());
        let job = import(&app, "encoding=utf-8", "text/csv", encode(encoding_rs::WINDOWS_1250, &text)).await;
        assert_eq!((job["status"].as_str(), job["error"]["code"].as_str()), (Some("failed"), Some("unreadable_header")), "{job}");
        assert!(job["error"]["message"].as_str().unwrap().contains("not valid UTF-8"), "{job}");
        let ascii_header = text.replacen("imię", "imie", 1);
        let job = import(&app, "encoding=utf-8", "text/csv", encode(encoding_rs::WINDOWS_1250, &ascii_header)).await;
        assert_eq!((job["status"].as_str(), job["rows_failed"].as_i64(), job["rows_created"].as_i64()), (Some("completed"), Some(3), Some(0)), "{job}");
        assert!(error_report(&app, &job).await.iter().all(|r| r[3].contains("not valid UTF-8 text")));

        // UTF-16 (Excel's "Unicode text"): tab-separated after a byte-order mark.
        n += 1;
        let job = import(&app, "", "text/plain", utf16(&russian.replace("{n}", &n.to_string()))).await;
        assert_eq!((job["encoding"].as_str(), job["delimiter"].as_str(), job["rows_created"].as_i64()), (Some("UTF-16LE"), Some("\t"), Some(3)), "{job}");
        assert_eq!(contact(&app, &format!("+48{n}2")).await["name"], "Алексей Кузнецов");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn exports_stream_contacts_and_messages_as_csv_and_xlsx_with_formulas_escaped() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        app.post("/api/v1/contact-fields", json!({"name": "balance", "kind": "number"})).await;
        app.post("/api/v1/groups", json!({"name": "VIP"})).await;
        let (status, _) = app
            .post(
                "/api/v1/contacts/bulk",
                json!({"contacts": [
                    {"phone": "+48600100200", "name": "=HYPERLINK(\"http://zlo\",\"klik\")", "fields": {"balance": -12.5}, "groups": ["VIP"], "tags": ["a", "b"]},
                    {"phone": "+48600100201", "name": "Zofia Żółć", "notes": "@admin +1", "fields": {"balance": 3}},
                    {"phone": "+48600100202", "name": "-2+3", "opted_out": true},
                ]}),
            )
            .await;
        assert_eq!(status, 200);

        let (status, ctype, bytes) = download(&app, "/api/v1/exports/contacts.csv").await;
        assert_eq!((status, ctype.as_str()), (200, "text/csv; charset=utf-8"));
        let rows = csv_rows(&bytes);
        assert_eq!(rows[0][..6], ["phone", "name", "email", "language", "time_zone", "external_id"]);
        assert_eq!(rows[0][6], "balance");
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[1][0], "+48600100200", "a plain number is not a formula");
        assert_eq!(rows[1][1], "'=HYPERLINK(\"http://zlo\",\"klik\")");
        assert_eq!(rows[1][6], "-12.5");
        assert_eq!((rows[1][7].as_str(), rows[1][8].as_str()), ("a, b", "VIP"));
        assert_eq!(rows[2][1], "Zofia Żółć");
        assert_eq!(rows[2][9], "'@admin +1");
        assert_eq!(rows[3][1], "'-2+3");
        assert!(!rows[3][10].is_empty(), "opted_out_at");

        let (_, _, bytes) = download(&app, "/api/v1/exports/contacts.csv?group=vip").await;
        assert_eq!(csv_rows(&bytes).len(), 2);
        let (status, _, bytes) = download(&app, "/api/v1/exports/contacts.csv?group=nope").await;
        let err: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!((status, err["error"]["field"].as_str()), (400, Some("group")));

        let (status, ctype, bytes) = download(&app, "/api/v1/exports/contacts.xlsx").await;
        assert_eq!((status, ctype.as_str()), (200, XLSX));
        let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
        let sheet = book.sheet_names()[0].clone();
        let range = book.worksheet_range(&sheet).unwrap();
        let rows: Vec<&[Data]> = range.rows().collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0][0], Data::String("phone".into()));
        assert_eq!(rows[1][0], Data::String("+48600100200".into()));
        assert_eq!(rows[1][1], Data::String("'=HYPERLINK(\"http://zlo\",\"klik\")".into()));
        assert_eq!(rows[1][6], Data::Float(-12.5), "custom numbers stay numbers");

        for i in 0..3 {
            app.send(json!({"to": format!("+4860010030{i}"), "text": format!("=cmd|' /C calc'!A{i} #promo")})).await;
        }
        app.wait_until_settled().await;
        let (status, _, bytes) = download(&app, "/api/v1/exports/messages.csv?status=delivered&tag=promo").await;
        assert_eq!(status, 200);
        let rows = csv_rows(&bytes);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0][..4], ["id", "created_at", "direction", "status"]);
        assert_eq!(rows[1][6], "'=cmd|' /C calc'!A2 #promo", "newest first, escaped");
        let (_, _, bytes) = download(&app, "/api/v1/exports/messages.csv?status=failed").await;
        assert_eq!(csv_rows(&bytes).len(), 1, "only the header");
        let (status, _, bytes) = download(&app, "/api/v1/exports/messages.xlsx?direction=outbound").await;
        assert_eq!(status, 200);
        let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
        let sheet = book.sheet_names()[0].clone();
        assert_eq!(book.worksheet_range(&sheet).unwrap().rows().count(), 4);
        for (query, field) in [("status=nope", "status"), ("since=yesterday", "since"), ("cursor=x", "cursor"), ("limit=5", "limit")] {
            let (status, _, bytes) = download(&app, &format!("/api/v1/exports/messages.csv?{query}")).await;
            let err: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!((status, err["error"]["field"].as_str()), (400, Some(field)), "{query}");
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_csv_export_opened_where_the_list_separator_is_a_semicolon_starts_no_formula() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let text = "x;=cmd|' /C calc'!A0;\n-2+3;@SUM(1)\ttel. 600;+48600100200";
        let id = app.send(json!({"to": "+48600100300", "text": text})).await;
        app.wait_until_settled().await;
        let (status, _, bytes) = download(&app, "/api/v1/exports/messages.csv").await;
        assert_eq!(status, 200);
        // Excel in a Polish, Russian or Bulgarian locale reads the file with
        // `;` as the separator: a cell may start after any `;`, tab or line
        // break, and a reader may drop the quotes and spaces before it.
        let body = String::from_utf8(bytes.clone()).unwrap();
        for cell in body.split([';', '\t', '\r', '\n']).map(|c| c.trim_start_matches(['"', ' '])) {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "a cell starts a formula: {cell:?} in {body:?}");
        }
        let rows = csv_rows(&bytes);
        assert_eq!(rows[1][0], id);
        assert_eq!(rows[1][6], "x;'=cmd|' /C calc'!A0;\n'-2+3;'@SUM(1)\ttel. 600;'+48600100200");
        let line = body.lines().nth(1).unwrap();
        assert!(line.contains(",\"x;'=cmd"), "a field holding ';' is quoted: {line}");
        let (_, m) = app.get(&format!("/api/v1/messages/{id}")).await;
        assert_eq!(m["text"], text, "only the file is escaped");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_exported_address_book_imports_into_another_account_unchanged() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let store = app.app.as_ref().unwrap().store.clone();
        let (_, other_key) = store.create_account("branch").await.unwrap();
        for key in [API_KEY, other_key.as_str()] {
            for (name, kind) in [("balance", "number"), ("since", "date"), ("vip", "boolean"), ("city", "text")] {
                app.http
                    .post(app.url("/api/v1/contact-fields"))
                    .bearer_auth(key)
                    .json(&json!({"name": name, "kind": kind}))
                    .send()
                    .await
                    .unwrap();
            }
        }
        let contacts: Vec<Value> = (0..50)
            .map(|i| {
                json!({
                    "phone": format!("+48600200{i:03}"),
                    "name": format!("{} {}", FIRST_NAMES[i % 8], LAST_NAMES[i % 7]),
                    "email": format!("k{i}@example.pl"),
                    "language": if i % 2 == 0 { "pl" } else { "uk-UA" },
                    "time_zone": "Europe/Warsaw",
                    "external_id": format!("K-{i}"),
                    "notes": match i {
                        3 => "=SUM(A1) and\na second line",
                        4 => "x;=cmd|' /C calc'!A0;\n- one\t@two",
                        _ => "",
                    },
                    "fields": {"balance": i as f64 / 4.0 - 3.0, "since": "2020-01-31", "vip": i % 3 == 0, "city": "Łódź"},
                    "tags": if i % 2 == 0 { vec!["parzysty"] } else { vec!["nieparzysty", "x"] },
                    "groups": match (i % 5, i % 3) {
                        (0, 0) => vec!["Piątki", "Warszawa, Mokotów", "Klub \"Orzeł\" | Kraków"],
                        (0, _) => vec!["Piątki"],
                        (_, 0) => vec!["Warszawa, Mokotów"],
                        _ => vec![],
                    },
                    "opted_out": i == 7,
                })
            })
            .collect();
        for name in ["Piątki", "Warszawa, Mokotów", "Klub \"Orzeł\" | Kraków"] {
            app.post("/api/v1/groups", json!({"name": name})).await;
        }
        let (status, resp) = app.post("/api/v1/contacts/bulk", json!({"contacts": contacts})).await;
        assert_eq!((status, resp["created"].as_u64()), (200, Some(50)), "{resp}");

        for format in ["csv", "xlsx"] {
            let (_, _, file) = download(&app, &format!("/api/v1/exports/contacts.{format}")).await;
            let ctype = if format == "csv" { "text/csv" } else { XLSX };
            let (status, job) = upload_as(&app, &other_key, "", ctype, file).await;
            assert_eq!(status, 202, "{job}");
            let job = finished_as(&app, &other_key, job["id"].as_str().unwrap()).await;
            assert_eq!((job["status"].as_str(), job["rows_failed"].as_i64()), (Some("completed"), Some(0)), "{format}: {job}");
            let mine = all_contacts(&app).await;
            let theirs: Value = app
                .http
                .get(app.url("/api/v1/contacts?limit=500"))
                .bearer_auth(&other_key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let comparable = |list: &[Value]| {
                let mut out: Vec<Value> = list
                    .iter()
                    .map(|c| {
                        let groups: Vec<&Value> = c["groups"].as_array().unwrap().iter().map(|g| &g["name"]).collect();
                        json!([c["phone"], c["name"], c["email"], c["language"], c["time_zone"], c["external_id"], c["notes"], c["fields"], c["tags"], groups, c["opted_out"], c["opted_out_at"]])
                    })
                    .collect();
                out.sort_by_key(|v| v[0].as_str().unwrap().to_owned());
                out
            };
            assert_eq!(comparable(theirs["contacts"].as_array().unwrap()), comparable(&mine), "{format}");
        }
        app.stop().await;
    })
    .await;
}

/// A CSV file of `rows` fixed-width rows, produced on the fly as it is
/// read: a large import without a large fixture in memory.
struct GeneratedCsv {
    rows: u64,
    pos: u64,
    /// The last line made, by row.
    line: Option<(u64, Vec<u8>)>,
}

const HEADER: &[u8] = b"phone,name\n";
const ROW_LEN: u64 = 25;

impl GeneratedCsv {
    fn len(&self) -> u64 {
        HEADER.len() as u64 + self.rows * ROW_LEN
    }

    fn byte(&mut self, at: u64) -> u8 {
        if at < HEADER.len() as u64 {
            return HEADER[at as usize];
        }
        let at = at - HEADER.len() as u64;
        let (row, col) = (at / ROW_LEN, at % ROW_LEN);
        if self.line.as_ref().is_none_or(|(r, _)| *r != row) {
            let line = format!("+48{:09},Name {:06}\n", 600_000_000 + row, row % 1_000_000);
            assert_eq!(line.len() as u64, ROW_LEN);
            self.line = Some((row, line.into_bytes()));
        }
        self.line.as_ref().map_or(b'?', |(_, l)| l[col as usize])
    }
}

impl Read for GeneratedCsv {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min((self.len() - self.pos) as usize);
        let start = self.pos;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = self.byte(start + i as u64);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for GeneratedCsv {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::End(d) => (self.len() as i64 + d) as u64,
            SeekFrom::Current(d) => (self.pos as i64 + d) as u64,
        };
        Ok(self.pos)
    }
}

#[tokio::test]
async fn a_large_file_is_imported_in_batches_with_progress_from_a_stream() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let store = app.app.as_ref().unwrap().store.clone();
        let account = app.get("/api/v1/account").await.1["id"].as_str().unwrap().to_owned();
        let seen: Arc<Mutex<Vec<ImportProgress>>> = Arc::default();
        let log = seen.clone();
        let rows = 25_000;
        let summary = import_contacts(
            &store,
            &account,
            GeneratedCsv { rows, pos: 0, line: None },
            ImportOptions { groups: vec!["Wszyscy".into()], ..ImportOptions::default() },
            move |p: &ImportProgress| log.lock().unwrap().push(*p),
        )
        .await
        .unwrap();
        assert_eq!(summary.status, ImportStatus::Completed);
        assert_eq!(
            (summary.progress.rows_total, summary.progress.created, summary.progress.failed),
            (Some(rows), rows, 0)
        );
        let seen = seen.lock().unwrap().clone();
        assert!(seen.len() >= 25, "one report per stored batch: {}", seen.len());
        assert!(seen.windows(2).all(|w| w[0].rows_read <= w[1].rows_read));
        assert_eq!(seen.last().unwrap().rows_read, rows);
        assert_eq!(store.count_contacts(&account).await.unwrap(), rows as i64);
        app.stop().await;
    })
    .await;
}

/// A cell of ten thousand bad tags is one problem, not ten thousand held
/// in memory; and rows full of problems are stored by the thousand
/// problems, not only by the thousand rows.
#[tokio::test]
async fn a_cell_is_reported_once_and_problems_are_stored_as_they_pile_up() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let store = app.app.as_ref().unwrap().store.clone();
        let account = app.get("/api/v1/account").await.1["id"].as_str().unwrap().to_owned();
        let mut file = format!(
            "phone,tags,groups,email\n+48600400000,\"{}\",\"{}\",\n",
            "!x ".repeat(10_000),
            "a\u{7};".repeat(5_000)
        );
        for i in 1..=600 {
            file.push_str(&format!("+48600400{i:03},!bad,\"g\u{7}\",not-mail\n"));
        }
        let seen: Arc<Mutex<Vec<ImportProgress>>> = Arc::default();
        let log = seen.clone();
        let summary = import_contacts(
            &store,
            &account,
            Cursor::new(file.into_bytes()),
            ImportOptions::default(),
            move |p: &ImportProgress| log.lock().unwrap().push(*p),
        )
        .await
        .unwrap();
        assert_eq!((summary.progress.failed, summary.progress.created), (601, 0));
        let errors = store.import_errors(&summary.job_id, 0, 10_000).await.unwrap();
        let first_row: Vec<&str> =
            errors.iter().filter(|(_, e)| e.row == 2).map(|(_, e)| e.column.as_deref().unwrap()).collect();
        assert_eq!(first_row, ["tags", "groups"], "one problem per cell");
        assert_eq!(errors.len(), 2 + 600 * 3);
        // 1,802 problems in 601 rows: stored after the first 1,000.
        let stored: Vec<u64> = seen.lock().unwrap().iter().skip(1).map(|p| p.rows_read).collect();
        assert_eq!(stored.len(), 2, "{stored:?}");
        app.stop().await;
    })
    .await;
}

/// A row gives a contact at most 100 tags and 100 groups, as the API does,
/// and a file creates at most 1,000 groups.
#[tokio::test]
async fn a_row_is_held_to_the_per_contact_limits_and_a_file_to_a_thousand_groups() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let words =
            |prefix: &str, n: usize| (0..n).map(|i| format!("{prefix}{i}")).collect::<Vec<_>>().join(",");
        let mut file = String::from("phone;tags;groups\n");
        file.push_str(&format!("+48600500001;{};\n", words("t", 101)));
        file.push_str(&format!("+48600500002;;{}\n", words("too many ", 101)));
        file.push_str(&format!("+48600500003;{},{};{}\n", words("t", 100), words("T", 100), words("g", 100)));
        for row in 0..10 {
            file.push_str(&format!("+48600500{:03};;{}\n", 100 + row, words(&format!("r{row} "), 100)));
        }
        let job = import(&app, "", "text/csv", file.into_bytes()).await;
        assert_eq!((job["rows_created"].as_i64(), job["rows_failed"].as_i64()), (Some(10), Some(3)), "{job}");
        let report = error_report(&app, &job).await;
        let problems: Vec<(&str, &str)> = report.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
        assert_eq!(problems, [("2", "tags"), ("3", "groups"), ("14", "groups")], "{report:?}");
        assert!(report[0][3].contains("more than 100 tags"), "{report:?}");
        assert!(report[2][3].contains("more than 1000 groups"), "{report:?}");
        let c = contact(&app, "+48600500003").await;
        assert_eq!((c["tags"].as_array().unwrap().len(), c["groups"].as_array().unwrap().len()), (100, 100));
        let (_, groups) = app.get("/api/v1/groups").await;
        assert_eq!(groups["groups"].as_array().unwrap().len(), 1_000, "the refused rows created none");
        app.stop().await;
    })
    .await;
}

/// A row the database refuses (its number belongs to a contact of another
/// external id) creates neither its own groups nor the job's.
#[tokio::test]
async fn a_refused_row_creates_no_groups() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (status, _) =
            app.post("/api/v1/contacts", json!({"phone": "+48600600001", "external_id": "X-1"})).await;
        assert_eq!(status, 201);
        let file = b"external_id,phone,groups\nY-1,+48600600001,Odrzuceni\n".to_vec();
        let job = import(&app, "group=Nikt", "text/csv", file).await;
        assert_eq!((job["rows_created"].as_i64(), job["rows_failed"].as_i64()), (Some(0), Some(1)), "{job}");
        let (_, groups) = app.get("/api/v1/groups").await;
        assert_eq!(groups["groups"], json!([]), "{groups}");
        // A row that is written still creates and joins both.
        let file = b"external_id,phone,groups\nY-2,+48600600002,Przyjeci\n".to_vec();
        let job = import(&app, "group=Nikt", "text/csv", file).await;
        assert_eq!(job["rows_created"], 1, "{job}");
        let c = contact(&app, "+48600600002").await;
        let mut names: Vec<&str> =
            c["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["Nikt", "Przyjeci"]);
        app.stop().await;
    })
    .await;
}

/// A job left `running` by a process that stopped reads as failed
/// (`interrupted`) in the list as well as on its own.
#[tokio::test]
async fn an_import_whose_process_stopped_is_listed_as_interrupted() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let store = app.app.as_ref().unwrap().store.clone();
        let account = app.get("/api/v1/account").await.1["id"].as_str().unwrap().to_owned();
        let long_ago = kurier::storage::now_micros() - 600_000_000;
        let mut stopped = Vec::new();
        for _ in 0..2 {
            let id = store.create_import(&account, &[], long_ago).await.unwrap();
            let description =
                kurier::storage::ImportDescription { format: "csv".into(), ..Default::default() };
            store.start_import(&id, &description, long_ago).await.unwrap();
            stopped.push(id);
        }
        let alive = store.create_import(&account, &[], kurier::storage::now_micros()).await.unwrap();
        let (_, list) = app.get("/api/v1/imports").await;
        let status_of = |id: &str| {
            let job = list["imports"].as_array().unwrap().iter().find(|j| j["id"] == id).unwrap();
            (job["status"].as_str().unwrap().to_owned(), job["error"]["code"].as_str().map(str::to_owned))
        };
        for id in &stopped {
            assert_eq!(status_of(id), ("failed".into(), Some("interrupted".into())), "{list}");
        }
        assert_eq!(status_of(&alive), ("queued".into(), None), "{list}");
        app.stop().await;
    })
    .await;
}

/// The report keeps the first 100,000 problems and says how many more
/// there were: problems, not rows (503 rows of 199 bad tags each).
#[tokio::test]
async fn the_report_counts_the_problems_it_leaves_out() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let mut file = format!("phone{}\n", ",tags".repeat(199));
        for i in 0..503 {
            file.push_str(&format!("+48600700{i:03}{}\n", ",!".repeat(199)));
        }
        let job = import(&app, "", "text/csv", file.into_bytes()).await;
        assert_eq!(job["rows_failed"], 503, "{job}");
        let report = error_report(&app, &job).await;
        assert_eq!(report.len(), 100_001);
        assert_eq!(
            report.last().unwrap()[3],
            "97 more problems are not listed (the report keeps the first 100000)"
        );
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_command_line_imports_with_an_error_report_and_exports_to_xlsx() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kontakty.csv");
        let text = "Telefon;Imię\n600100200;Anna\n600100201;Piotr\nnie numer;Zły\n";
        std::fs::write(&file, encode(encoding_rs::WINDOWS_1250, text)).unwrap();
        let mut config = common::test_config(&app.db.as_ref().unwrap().url);
        config.messages.default_region = Some("PL".into());
        let args = ImportContactsArgs {
            file: file.clone(),
            groups: vec!["Z pliku".into()],
            mapping: vec![],
            encoding: None,
            delimiter: None,
            region: None,
            match_by: None,
            account: "default".into(),
            errors: None,
            config: None,
        };
        // --group is held to the API's rules, before anything is imported.
        let too_many: Vec<String> = (0..21).map(|i| format!("g{i}")).collect();
        for (groups, want) in [
            (vec!["Bell\u{7}".to_owned()], "control character"),
            (vec!["x".repeat(101)], "longer than 100"),
            (vec![" ".to_owned()], "may not be empty"),
            (too_many, "at most 20 groups"),
        ] {
            let e = import_contacts_command(&config, &ImportContactsArgs { groups, ..args.clone() })
                .await
                .unwrap_err();
            assert!(format!("{e:#}").contains(want), "{e:#}");
        }
        assert!(all_contacts(&app).await.is_empty());
        let summary = import_contacts_command(&config, &args).await.unwrap();
        assert_eq!((summary.progress.created, summary.progress.failed), (2, 1));
        let report = std::fs::read_to_string(dir.path().join("kontakty.csv.errors.csv")).unwrap();
        assert!(report.contains("4,Telefon,nie numer,"), "{report}");
        let (_, groups) = app.get("/api/v1/groups").await;
        assert_eq!(
            (groups["groups"][0]["name"].as_str(), groups["groups"][0]["members"].as_i64()),
            (Some("Z pliku"), Some(2))
        );
        let (_, imports) = app.get("/api/v1/imports").await;
        assert_eq!(
            imports["imports"][0]["id"].as_str(),
            Some(summary.job_id.as_str()),
            "the server lists the job"
        );

        let out = dir.path().join("eksport.xlsx");
        let args = ExportContactsArgs {
            file: out.clone(),
            group: Some("z pliku".into()),
            tag: None,
            account: "default".into(),
            config: None,
        };
        assert_eq!(export_contacts_command(&config, &args).await.unwrap(), 2);
        let mut book: Xlsx<_> = calamine::open_workbook(&out).unwrap();
        let sheet = book.sheet_names()[0].clone();
        assert_eq!(book.worksheet_range(&sheet).unwrap().rows().count(), 3);
        assert!(!dir.path().join("eksport.xlsx.partial").exists());

        let bad = ExportContactsArgs {
            file: dir.path().join("eksport.pdf"),
            group: None,
            tag: None,
            account: "default".into(),
            config: None,
        };
        assert!(
            export_contacts_command(&config, &bad).await.unwrap_err().to_string().contains(".csv or .xlsx")
        );
        let missing = ImportContactsArgs { account: "nobody".into(), ..args_for(&file) };
        assert!(
            import_contacts_command(&config, &missing)
                .await
                .unwrap_err()
                .to_string()
                .contains("no account 'nobody'")
        );
        app.stop().await;
    })
    .await;
}

fn args_for(file: &std::path::Path) -> ImportContactsArgs {
    ImportContactsArgs {
        file: file.to_owned(),
        groups: vec![],
        mapping: vec![],
        encoding: None,
        delimiter: None,
        region: None,
        match_by: None,
        account: "default".into(),
        errors: None,
        config: None,
    }
}

/// Peak resident memory of this process, in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A million rows (26 MB) through the importer, on SQLite: the peak memory
/// grows by far less than the file. Slow in a debug build, so run it on
/// purpose: `cargo test -p kurier --release --test import_export -- --ignored`.
#[tokio::test]
#[ignore]
async fn a_million_row_file_imports_in_bounded_memory() {
    let app = TestApp::start(&common::Backend::Sqlite).await;
    let store = app.app.as_ref().unwrap().store.clone();
    let account = app.get("/api/v1/account").await.1["id"].as_str().unwrap().to_owned();
    let rows = 1_000_000;
    let before = peak_rss_kib();
    let started = std::time::Instant::now();
    let summary = import_contacts(
        &store,
        &account,
        GeneratedCsv { rows, pos: 0, line: None },
        ImportOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    eprintln!("{rows} rows in {:?}", started.elapsed());
    assert_eq!((summary.progress.created, summary.progress.failed), (rows, 0));
    if let (Some(before), Some(after)) = (before, peak_rss_kib()) {
        eprintln!("peak memory {before} KiB -> {after} KiB");
        assert!(after - before < 64 * 1024, "peak memory grew by {} KiB", after - before);
    }
    app.stop().await;
}
