//! Full-text search of the message history, sent and received.
//!
//! Text is folded in Rust, the same way for both databases: lower case
//! without diacritics ([`fold`]: `Żółć` → `zolc`, `АВАРИЯ` → `авария`,
//! `ёлка` → `елка`), then cut into words (runs of letters and digits). The
//! index holds those words; a search phrase is folded and cut the same way,
//! so neither database needs an extension or a language configuration.
//!
//! - **SQLite**: an FTS5 table `message_search` (contentless: it keeps the
//!   words' index and the message id, not the text). Its rowid is a
//!   [`search key`](search_key): the millisecond of the message's UUIDv7 id
//!   in the high bits and a number within that millisecond in the low bits.
//!   A search walks the index newest first and stops after one page; since
//!   a key's millisecond orders the same way as the ids, the page is exact
//!   in id order once the last millisecond it reaches is read whole.
//! - **PostgreSQL**: a table `message_search (message_id, doc tsvector)` with
//!   a GIN index; `doc` and the query are written as `tsvector`/`tsquery`
//!   literals, so no text-search configuration is involved.
//!
//! Index rows are written in the same transaction as their messages
//! ([`index_messages`], called by the intake's group commit and by the
//! inbound store), so a committed message is always searchable. Message
//! texts never change after they are stored. What this module does not own:
//! the other history filters (`messages.rs`), which both search paths apply
//! to the same rows.

use std::collections::BTreeMap;
use std::fmt;

use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::Dialect;
use super::contact_types::fold;

/// Longest search phrase accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// Most words and phrases in one search.
pub const MAX_QUERY_TERMS: usize = 16;
/// Words are indexed and searched by their first this-many characters.
pub const MAX_WORD_CHARS: usize = 64;
/// Shortest prefix (`ab*`): shorter ones would match most of the index.
pub const MIN_PREFIX_CHARS: usize = 2;
/// Positions kept per word and message in a PostgreSQL `tsvector` (its limit).
const PG_MAX_POSITIONS: usize = 256;
/// Highest word position a PostgreSQL `tsvector` stores.
const PG_MAX_POSITION: usize = 16_383;

/// The folded words of a text, in order, as they are indexed and searched.
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(MAX_WORD_CHARS).collect())
        .collect()
}

/// [`words`] joined by spaces, as SQLite's index holds them, built as one
/// string: the writer thread indexes every message, and a string per word
/// (then joined) cost a long text to 10,000 recipients millions of
/// allocations and tens of MB at once.
pub fn joined_words(text: &str) -> String {
    let folded = fold(text);
    let mut out = String::with_capacity(folded.len());
    for word in folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().take(MAX_WORD_CHARS));
    }
    out
}

/// One part of a search: a word or a quoted phrase (consecutive words),
/// its last word matched as a prefix when written with a trailing `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    words: Vec<String>,
    prefix: bool,
}

/// A parsed search phrase: every term must occur in the message.
///
/// `zolc` finds `Żółć`; `awari*` finds `awaria` and `awarii`;
/// `"brak prądu"` finds those two words next to each other; a word that
/// folds into several (`e-mail`, `50_off`) is matched as a phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    terms: Vec<Term>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchQueryError {
    #[error("has no letters or digits to search for")]
    NoWords,
    #[error("is longer than {MAX_QUERY_CHARS} characters")]
    TooLong,
    #[error("has more than {MAX_QUERY_TERMS} words or phrases")]
    TooManyTerms,
    #[error("prefix '{0}*' is shorter than {MIN_PREFIX_CHARS} characters")]
    ShortPrefix(String),
}

impl SearchQuery {
    pub fn parse(input: &str) -> Result<Self, SearchQueryError> {
        if input.chars().count() > MAX_QUERY_CHARS {
            return Err(SearchQueryError::TooLong);
        }
        let mut pieces: Vec<String> = Vec::new();
        let mut current = String::new();
        let mut quoted = false;
        for c in input.chars() {
            match c {
                '"' => {
                    pieces.push(std::mem::take(&mut current));
                    quoted = !quoted;
                }
                c if c.is_whitespace() && !quoted => pieces.push(std::mem::take(&mut current)),
                c => current.push(c),
            }
        }
        pieces.push(current);
        let mut terms = Vec::new();
        for piece in pieces {
            let words = words(&piece);
            if words.is_empty() {
                continue;
            }
            let prefix = piece.trim_end().ends_with('*');
            if prefix && words.last().is_some_and(|w| w.chars().count() < MIN_PREFIX_CHARS) {
                return Err(SearchQueryError::ShortPrefix(words.last().cloned().unwrap_or_default()));
            }
            let term = Term { words, prefix };
            if !terms.contains(&term) {
                terms.push(term);
            }
        }
        if terms.is_empty() {
            return Err(SearchQueryError::NoWords);
        }
        if terms.len() > MAX_QUERY_TERMS {
            return Err(SearchQueryError::TooManyTerms);
        }
        Ok(Self { terms, text: input.trim().to_owned() })
    }

    /// The phrase as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// An FTS5 query: every term a quoted string (so nothing in it is FTS5
    /// syntax), `*` after a prefix, terms joined by AND.
    fn fts5(&self) -> String {
        let term = |t: &Term| {
            let phrase = t.words.join(" ").replace('"', "\"\"");
            format!("\"{phrase}\"{}", if t.prefix { "*" } else { "" })
        };
        self.terms.iter().map(term).collect::<Vec<_>>().join(" AND ")
    }

    /// A `tsquery` literal: quoted lexemes, `:*` after a prefix, `<->`
    /// between the words of a phrase, terms joined by `&`.
    fn tsquery(&self) -> String {
        let term = |t: &Term| {
            let last = t.words.len() - 1;
            let lexemes: Vec<String> = t
                .words
                .iter()
                .enumerate()
                .map(|(i, w)| format!("{}{}", ts_quote(w), if t.prefix && i == last { ":*" } else { "" }))
                .collect();
            format!("({})", lexemes.join(" <-> "))
        };
        self.terms.iter().map(term).collect::<Vec<_>>().join(" & ")
    }
}

impl fmt::Display for SearchQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A lexeme quoted for a `tsvector`/`tsquery` literal. Words hold only
/// letters and digits, but quote and backslash are escaped all the same.
fn ts_quote(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if matches!(c, '\'' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// The `tsvector` literal of a text's words, with positions (for phrases).
fn tsvector(words: &[String]) -> String {
    let mut positions: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, w) in words.iter().enumerate() {
        let p = positions.entry(w).or_default();
        if p.len() < PG_MAX_POSITIONS {
            p.push((i + 1).min(PG_MAX_POSITION));
        }
    }
    let mut out = String::new();
    for (w, p) in positions {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&ts_quote(w));
        out.push(':');
        out.push_str(&p.iter().map(usize::to_string).collect::<Vec<_>>().join(","));
    }
    out
}

/// Start of the millisecond count in search keys: 2020-01-01T00:00:00Z.
const KEY_EPOCH_MS: i64 = 1_577_836_800_000;
/// Low bits of a search key: the number of a message within its millisecond.
const KEY_SEQ_BITS: u32 = 22;
/// Milliseconds after [`KEY_EPOCH_MS`] a key can hold (until about 2089).
const KEY_MAX_MS: i64 = (1 << (63 - KEY_SEQ_BITS)) - 1;

/// The millisecond a UUIDv7 id was made in (its first 48 bits), relative to
/// [`KEY_EPOCH_MS`] and clamped to what a key holds; 0 for other ids.
fn key_millis(id: &str) -> i64 {
    let mut ms: i64 = 0;
    for c in id.chars().filter(|c| *c != '-').take(12) {
        match c.to_digit(16) {
            Some(d) => ms = ms << 4 | i64::from(d),
            None => return 0,
        }
    }
    (ms - KEY_EPOCH_MS).clamp(0, KEY_MAX_MS)
}

/// First key of the millisecond `ms` (as [`key_millis`] gives it).
fn bucket_start(ms: i64) -> i64 {
    ms << KEY_SEQ_BITS
}

/// A search key's millisecond.
fn key_bucket(key: i64) -> i64 {
    key >> KEY_SEQ_BITS
}

/// Rows per multi-row INSERT into the index.
const INSERT_CHUNK: usize = 300;

/// Adds messages (id, text) to the search index, within the caller's
/// transaction. Ids must be new to the index.
pub(super) async fn index_messages(tx: &mut AnyConnection, messages: &[(&str, &str)]) -> sqlx::Result<()> {
    match Dialect::of(tx) {
        Dialect::Sqlite => index_sqlite(tx, messages).await,
        Dialect::Postgres => index_postgres(tx, indexed(messages)).await,
    }
}

async fn index_sqlite(tx: &mut AnyConnection, messages: &[(&str, &str)]) -> sqlx::Result<()> {
    let mut plan = SqliteKeys::new(messages);
    if plan.is_empty() {
        return Ok(());
    }
    for (ms, start, end) in plan.buckets() {
        let last: Option<i64> =
            sqlx::query("SELECT max(rowid) FROM message_search WHERE rowid >= $1 AND rowid < $2")
                .bind(start)
                .bind(end)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        plan.last_key(ms, last);
    }
    let keyed = plan.keyed().collect::<Result<Vec<_>, String>>().map_err(sqlx::Error::Protocol)?;
    for chunk in keyed.chunks(INSERT_CHUNK) {
        let sql = format!(
            "INSERT INTO message_search (rowid, message_id, words) VALUES {}",
            vec!["(?, ?, ?)"; chunk.len()].join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (key, id, words) in chunk {
            q = q.bind(*key).bind(*id).bind(words.as_str());
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Keys for new rows of SQLite's index: each message gets the next free key
/// of the millisecond its id was made in, so the index's order is the
/// history's. The caller looks up the last key used in each millisecond of
/// the batch ([`Self::buckets`], [`Self::last_key`]), then takes the rows.
pub(super) struct SqliteKeys<'a> {
    /// (message id, text) of the messages that may have words.
    rows: Vec<(&'a str, &'a str)>,
    /// The next free key of every millisecond in the batch.
    next: BTreeMap<i64, i64>,
}

impl<'a> SqliteKeys<'a> {
    /// `messages`: (message id, text). A text without a letter or digit
    /// has no words and gets no row; the words themselves are made a row
    /// at a time, as [`Self::keyed`] hands the rows out.
    pub(super) fn new(messages: &[(&'a str, &'a str)]) -> Self {
        let mut rows: Vec<(&str, &str)> =
            messages.iter().copied().filter(|(_, text)| text.chars().any(char::is_alphanumeric)).collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        Self { rows, next: BTreeMap::new() }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Each millisecond of the batch with the key range to look the last
    /// used key up in (`rowid >= start AND rowid < end`).
    pub(super) fn buckets(&self) -> Vec<(i64, i64, i64)> {
        let mut ms: Vec<i64> = self.rows.iter().map(|(id, _)| key_millis(id)).collect();
        ms.dedup();
        ms.into_iter().map(|ms| (ms, bucket_start(ms), bucket_start(ms + 1))).collect()
    }

    /// The last key used in millisecond `ms`, if any.
    pub(super) fn last_key(&mut self, ms: i64, last: Option<i64>) {
        self.next.insert(ms, last.map_or(bucket_start(ms), |k| k + 1));
    }

    /// (key, message id, words joined) for every row with words, in key
    /// order; an error when a millisecond has more rows than keys.
    pub(super) fn keyed(self) -> impl Iterator<Item = Result<(i64, &'a str, String), String>> {
        let Self { rows, mut next } = self;
        rows.into_iter().filter_map(move |(id, text)| {
            let words = joined_words(text);
            if words.is_empty() {
                return None;
            }
            let ms = key_millis(id);
            let key = next.get_mut(&ms).expect("every millisecond was looked up");
            if key_bucket(*key) != ms {
                return Some(Err(format!(
                    "more than {} messages in one millisecond: the search index cannot hold them",
                    1u64 << KEY_SEQ_BITS
                )));
            }
            let row = (*key, id, words);
            *key += 1;
            Some(Ok(row))
        })
    }
}

/// The rows of `messages` (id, text) the index holds: those with words.
pub(super) fn indexed<'a>(messages: &[(&'a str, &str)]) -> Vec<(&'a str, Vec<String>)> {
    messages.iter().map(|(id, text)| (*id, words(text))).filter(|(_, w)| !w.is_empty()).collect()
}

async fn index_postgres(tx: &mut AnyConnection, rows: Vec<(&str, Vec<String>)>) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    for chunk in rows.chunks(INSERT_CHUNK) {
        let values: Vec<String> =
            (0..chunk.len()).map(|i| format!("(${}, ${}::tsvector)", i * 2 + 1, i * 2 + 2)).collect();
        let sql = format!("INSERT INTO message_search (message_id, doc) VALUES {}", values.join(", "));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (id, words) in chunk {
            q = q.bind(*id).bind(tsvector(words));
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Messages indexed per step of [`backfill`].
const BACKFILL_BATCH: i64 = 5_000;

/// Indexes every stored message (migration 6, which creates the index).
pub(super) async fn backfill(tx: &mut AnyConnection) -> sqlx::Result<u64> {
    let mut after = String::new();
    let mut done = 0u64;
    loop {
        let rows = sqlx::query("SELECT id, body FROM messages WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(&after)
            .bind(BACKFILL_BATCH)
            .fetch_all(&mut *tx)
            .await?;
        let Some(last) = rows.last() else {
            // A large backfill changes the index from empty to full: let
            // the planner know now rather than at the next autovacuum.
            if done > 0 && Dialect::of(tx) == Dialect::Postgres {
                sqlx::query("ANALYZE message_search").execute(&mut *tx).await?;
            }
            return Ok(done);
        };
        after = last.try_get(0)?;
        let batch: Vec<(String, String)> =
            rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<sqlx::Result<_>>()?;
        let refs: Vec<(&str, &str)> = batch.iter().map(|(i, b)| (i.as_str(), b.as_str())).collect();
        index_messages(tx, &refs).await?;
        done += batch.len() as u64;
        if done % 100_000 < BACKFILL_BATCH as u64 {
            tracing::info!(messages = done, "indexing the message history for search");
        }
    }
}

/// How a history query restricts rows to a search's matches.
pub(super) enum SearchPlan {
    /// PostgreSQL: a condition on `messages.id` (`messages::plain_query`).
    Condition { tsquery: String },
    /// SQLite: the query is driven by the FTS5 index, newest key first.
    Fts5 { expression: String },
}

impl SearchQuery {
    pub(super) fn plan(&self, dialect: Dialect) -> SearchPlan {
        match dialect {
            Dialect::Postgres => SearchPlan::Condition { tsquery: self.tsquery() },
            Dialect::Sqlite => SearchPlan::Fts5 { expression: self.fts5() },
        }
    }
}

/// PostgreSQL: how long a search may walk the history, in milliseconds,
/// before it collects the matches from the index first instead.
pub(super) const PG_WALK_BUDGET_MS: u64 = 150;

/// PostgreSQL: appends the ids of the messages matching `tsquery`, as a
/// subquery's `SELECT` (`messages::plain_query` and its fallback).
pub(super) fn pg_matches(sql: &mut super::sql::Sql, tsquery: &str) {
    sql.push("SELECT message_id FROM message_search WHERE doc @@ ").text(tsquery).push("::tsquery");
}
/// SQLSTATE of a statement stopped by `statement_timeout`.
const PG_QUERY_CANCELED: &str = "57014";

/// Whether PostgreSQL stopped the statement at its `statement_timeout`.
pub(super) fn canceled(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some(PG_QUERY_CANCELED))
}

/// The key range of SQLite search results older than `cursor` (a message
/// id): keys below the end of the cursor's millisecond. Rows of that
/// millisecond are compared by id as well.
pub(super) fn keys_before(cursor: Option<&str>) -> i64 {
    match cursor {
        Some(id) => bucket_start(key_millis(id) + 1),
        None => i64::MAX,
    }
}

/// Messages of a number, contact or group looked up one by one in the
/// index at most, before a search reads the index instead.
pub(super) const MAX_CANDIDATES: usize = 2_000;
/// Messages read per step of that lookup.
pub(super) const CANDIDATE_PAGE: usize = 250;

/// Whether message `id` matches the FTS5 `expression`: a seek into the
/// index restricted to the keys of the id's millisecond.
pub(super) async fn indexed_match(pool: &sqlx::AnyPool, expression: &str, id: &str) -> sqlx::Result<bool> {
    let ms = key_millis(id);
    let row = sqlx::query(
        "SELECT 1 FROM message_search WHERE message_search MATCH $1 AND rowid >= $2 AND rowid < $3
         AND message_id = $4 LIMIT 1",
    )
    .bind(expression)
    .bind(bucket_start(ms))
    .bind(bucket_start(ms + 1))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

/// The first key of the millisecond `key` is in.
pub(super) fn bucket_floor(key: i64) -> i64 {
    bucket_start(key_bucket(key))
}

impl super::Store {
    /// Bytes the search index takes (SQLite: its FTS5 shadow tables, by
    /// `dbstat`; PostgreSQL: the table with its indexes), for the benchmark.
    pub async fn search_index_bytes(&self) -> sqlx::Result<Option<i64>> {
        let sql = match self.dialect {
            Dialect::Sqlite => "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'message_search%'",
            Dialect::Postgres => "SELECT pg_total_relation_size('message_search')",
        };
        sqlx::query(sql).fetch_one(&self.reader).await?.try_get(0)
    }

    /// Has PostgreSQL refresh the planner's statistics of the history and
    /// its index now rather than when autovacuum gets to it (the benchmark
    /// does this after filling; SQLite plans searches without statistics).
    pub async fn analyze_history(&self) -> sqlx::Result<()> {
        if self.dialect == Dialect::Postgres {
            sqlx::raw_sql("ANALYZE messages; ANALYZE message_search; ANALYZE message_tags")
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }

    /// Bytes the whole database takes on PostgreSQL (`None` on SQLite,
    /// where the file tells).
    pub async fn database_bytes(&self) -> sqlx::Result<Option<i64>> {
        match self.dialect {
            Dialect::Sqlite => Ok(None),
            Dialect::Postgres => sqlx::query("SELECT pg_database_size(current_database())")
                .fetch_one(&self.reader)
                .await?
                .try_get(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_folded_and_split_on_everything_but_letters_and_digits() {
        assert_eq!(words("Zażółć GĘŚLĄ jaźń!"), ["zazolc", "gesla", "jazn"]);
        assert_eq!(words("АВАРИЯ на ул. Ёлкина, #авария"), ["авария", "на", "ул", "елкина", "авария"]);
        assert_eq!(words("Здравей 100% 50_off e-mail"), ["здравей", "100", "50", "off", "e", "mail"]);
        assert_eq!(words("  ...  "), Vec::<String>::new());
        assert_eq!(words(&"x".repeat(200))[0].len(), MAX_WORD_CHARS);
    }

    #[test]
    fn sqlite_rows_hold_the_words_joined_and_only_texts_with_words_get_one() {
        for text in
            ["Zażółć GĘŚLĄ jaźń!", "Здравей 100% 50_off e-mail", &"x".repeat(200), "  ...  ", "a\u{345}"]
        {
            assert_eq!(joined_words(text), words(text).join(" "), "{text:?}");
        }
        let ids: Vec<String> = (0..3).map(|_| crate::domain::new_id()).collect();
        let messages =
            [(ids[0].as_str(), "Hello there"), (ids[1].as_str(), " ... "), (ids[2].as_str(), "\u{345}")];
        let mut keys = SqliteKeys::new(&messages);
        for (ms, _, _) in keys.buckets() {
            keys.last_key(ms, None);
        }
        let rows: Vec<_> = keys.keyed().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!((rows[0].1, rows[0].2.as_str()), (ids[0].as_str(), "hello there"));
        assert_eq!(rows[0].0, bucket_start(key_millis(&ids[0])));
    }

    proptest::proptest! {
        #[test]
        fn joined_words_are_the_words_joined(text in "\\PC{0,80}") {
            proptest::prop_assert_eq!(joined_words(&text), words(&text).join(" "));
        }
    }

    #[test]
    fn queries_parse_into_words_phrases_and_prefixes() {
        let q = SearchQuery::parse("Zolc  \"brak PRĄDU\" awari* e-mail").unwrap();
        assert_eq!(q.fts5(), r#""zolc" AND "brak pradu" AND "awari"* AND "e mail""#);
        assert_eq!(q.tsquery(), "('zolc') & ('brak' <-> 'pradu') & ('awari':*) & ('e' <-> 'mail')");
        assert_eq!(SearchQuery::parse("a a A").unwrap().terms.len(), 1);
        assert_eq!(SearchQuery::parse("\"unclosed phrase").unwrap().fts5(), r#""unclosed phrase""#);
    }

    #[test]
    fn queries_without_words_or_too_big_are_refused() {
        for (input, want) in [
            ("", SearchQueryError::NoWords),
            (" %% _ * \"\" ", SearchQueryError::NoWords),
            ("a*", SearchQueryError::ShortPrefix("a".into())),
            (&"w ".repeat(300), SearchQueryError::TooLong),
            (&(0..17).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" "), SearchQueryError::TooManyTerms),
        ] {
            assert_eq!(SearchQuery::parse(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn tsvectors_carry_positions_and_quote_lexemes() {
        let w = words("ala ma kota ala");
        assert_eq!(tsvector(&w), "'ala':1,4 'kota':3 'ma':2");
        assert_eq!(ts_quote("o'x\\"), r"'o\'x\\'");
    }

    #[test]
    fn search_keys_order_like_uuidv7_ids() {
        let ids: Vec<String> = (0..3).map(|_| crate::domain::new_id()).collect();
        let ms: Vec<i64> = ids.iter().map(|i| key_millis(i)).collect();
        assert!(ms.windows(2).all(|w| w[0] <= w[1]));
        assert!(ms[0] > 0, "{ms:?}");
        assert_eq!(key_millis("not an id"), 0);
        let k = bucket_start(ms[0]) + 17;
        assert_eq!((key_bucket(k), bucket_floor(k)), (ms[0], bucket_start(ms[0])));
        assert_eq!(keys_before(Some(&ids[0])), bucket_start(ms[0] + 1));
    }
}
