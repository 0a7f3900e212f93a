//! The `search` phase of `kurier bench`: history search on a big archive.
//!
//! It fills a fresh database with `--search-messages` messages (default
//! 1,000,000) through the same storage calls the intake and the inbound
//! path use — batches of 5,000 accepted messages per transaction, received
//! messages in batches of 1,000 — with texts drawn from Polish, Russian,
//! Bulgarian and English SMS templates, so that words are common (a quarter
//! of all messages), middling (a city: half a percent), rare (an order
//! number: one message) or absent. Then it times `list_messages` (what
//! `GET /api/v1/messages` spends in the database) for several kinds of
//! query, first page of 50, and reports p50/p99/max per kind.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use super::{BenchArgs, fresh_database, tempdir};
use crate::connectors::InboundSms;
use crate::domain::{MessageStatus, MessageText, PhoneNumber, new_id};
use crate::storage::{
    AcceptRequest, MessageFilter, NewMessage, Outcome, RetryPolicy, SearchQuery, Store, now_micros,
};

/// Messages per fill transaction (the intake's largest group commit).
const FILL_BATCH: usize = 5_000;
/// Received messages per transaction.
const INBOUND_BATCH: usize = 1_000;
/// One message in this many is received rather than sent.
const INBOUND_EVERY: u64 = 50;
/// One sent message in this many is scheduled (a month ahead).
const SCHEDULED_EVERY: u64 = 10;
/// Distinct phone numbers in the archive.
const NUMBERS: usize = 20_000;
/// Page size of every timed query (the API's default).
const PAGE: usize = 50;

#[derive(Debug, Clone, Serialize)]
pub struct SearchReport {
    pub database: String,
    pub messages: u64,
    pub fill_seconds: f64,
    pub fill_per_sec: f64,
    /// Database size after the fill (SQLite: the files; PostgreSQL: the
    /// database), and the search index's share of it where it can be told.
    pub database_mb: Option<f64>,
    pub index_mb: Option<f64>,
    pub kinds: Vec<KindResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KindResult {
    pub kind: String,
    pub example: String,
    pub runs: usize,
    /// Rows on the page, averaged over runs.
    pub rows: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// splitmix64: a small deterministic generator, so every run fills the same archive.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const NAMES_PL: &[&str] = &[
    "Łukasz",
    "Małgorzata",
    "Wojciech",
    "Zofia",
    "Grzegorz",
    "Agnieszka",
    "Paweł",
    "Katarzyna",
    "Michał",
    "Józef",
    "Jadwiga",
    "Stanisław",
    "Bożena",
    "Krzysztof",
    "Dorota",
];
const CITIES_PL: &[&str] = &[
    "Łódź",
    "Kraków",
    "Gdańsk",
    "Wrocław",
    "Poznań",
    "Szczecin",
    "Białystok",
    "Rzeszów",
    "Częstochowa",
    "Zielona Góra",
    "Bielsko-Biała",
    "Toruń",
    "Olsztyn",
    "Kielce",
    "Opole",
    "Gorzów",
    "Płock",
    "Elbląg",
    "Tarnów",
    "Chorzów",
];
const CITIES_RU: &[&str] =
    &["Москва", "Казань", "Самара", "Пермь", "Тверь", "Курск", "Уфа", "Омск", "Томск", "Сочи"];
const CITIES_BG: &[&str] = &["София", "Пловдив", "Варна", "Бургас", "Русе", "Плевен", "Сливен", "Добрич"];
const NAMES_RU: &[&str] = &["Алексей", "Мария", "Дмитрий", "Ольга", "Сергей", "Наталья", "Ёжиков", "Фёдор"];
const DAYS_PL: &[&str] =
    &["w poniedziałek", "we wtorek", "w środę", "w czwartek", "w piątek", "jutro", "dzisiaj"];

/// The text of message `i`: which template, and what fills it.
fn text(rng: &mut Rng, i: u64) -> (String, Vec<String>) {
    let order = 1_000_000 + i;
    let hour = format!("{}:{:02}", 7 + rng.below(12), rng.below(4) * 15);
    let roll = rng.below(1000);
    let text = match roll {
        // 25%: the common word "zamówienie"
        0..250 => format!(
            "Dzień dobry {}, zamówienie nr {order} zostało wysłane. Kurier dostarczy je {} do {}.",
            rng.pick(NAMES_PL),
            rng.pick(DAYS_PL),
            rng.pick(CITIES_PL)
        ),
        250..400 => format!("Kod weryfikacyjny: {}. Nie podawaj go nikomu.", 100_000 + rng.below(900_000)),
        400..520 => format!(
            "Przypominamy o wizycie w przychodni przy ulicy {} ({}) {} o godzinie {hour}.",
            rng.pick(NAMES_PL),
            rng.pick(CITIES_PL),
            rng.pick(DAYS_PL)
        ),
        520..620 => format!(
            "Faktura {order} na kwotę {},{:02} zł czeka na zapłatę. Dziękujemy!",
            10 + rng.below(500),
            rng.below(100)
        ),
        620..720 => format!(
            "Здравствуйте, {}! Заказ №{order} передан в доставку, город {}.",
            rng.pick(NAMES_RU),
            rng.pick(CITIES_RU)
        ),
        720..800 => format!("Ваш код подтверждения: {}. Никому его не сообщайте.", 1000 + rng.below(9000)),
        800..870 => {
            format!("Здравейте! Пратката {order} е доставена в офис {}. Очакваме ви.", rng.pick(CITIES_BG))
        }
        870..950 => format!("Your order {order} has shipped and arrives by {hour} tomorrow."),
        // 1%: outages, tagged
        950..960 => {
            format!("Awaria sieci w rejonie {}: brak prądu do godziny {hour}. #awaria", rng.pick(CITIES_PL))
        }
        960..966 => {
            format!("АВАРИЯ на подстанции {}: отключение электроэнергии до {hour}.", rng.pick(CITIES_RU))
        }
        966..970 => format!("Аварията в {} е отстранена. Благодарим за търпението!", rng.pick(CITIES_BG)),
        _ => format!(
            "Promocja -{}% na wszystko do niedzieli! Odpowiedz STOP, aby zrezygnować.",
            5 + rng.below(40)
        ),
    };
    let tags = if (950..960).contains(&roll) { vec!["awaria".to_owned()] } else { Vec::new() };
    (text, tags)
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<SearchReport> {
    let dir = tempdir()?;
    let url = fresh_database(args, &dir).await?;
    let store = Store::open(&url, 4, "normal").await?;
    let (account, _key) = store.create_account("bench").await?;
    let numbers: Vec<PhoneNumber> = (0..NUMBERS)
        .map(|i| PhoneNumber::parse(&format!("+48600{i:06}"), None))
        .collect::<Result<_, _>>()
        .context("bench numbers")?;
    let total = args.search_messages as u64;
    let mut rng = Rng(0x6b75_7269_6572);
    let started = Instant::now();
    let mut sent = Vec::with_capacity(FILL_BATCH);
    let mut received = Vec::with_capacity(INBOUND_BATCH);
    let retry = RetryPolicy { max_attempts: 1, base_ms: 1_000, max_ms: 1_000, receipt_check_ms: 60_000 };
    for i in 0..total {
        let (body, tags) = text(&mut rng, i);
        let to = numbers[rng.below(NUMBERS)].clone();
        if i % INBOUND_EVERY == INBOUND_EVERY - 1 {
            let sms = InboundSms {
                from: to.to_string(),
                to: "7100".into(),
                text: body,
                concat: None,
                smsc_id: None,
            };
            received.push(Outcome::Inbound { connector: "bench".into(), sms });
        } else {
            let now = now_micros();
            sent.push(NewMessage {
                id: new_id(),
                to,
                from: None,
                text: MessageText::new(&body, 10).context("bench text")?,
                callback_url: None,
                tags,
                send_at: (i % SCHEDULED_EVERY == 0).then_some(now + 30 * 86_400_000_000),
                campaign: None,
                transactional: false,
            });
        }
        if sent.len() == FILL_BATCH || (i + 1 == total && !sent.is_empty()) {
            let request = AcceptRequest {
                account_id: account.clone(),
                origin: Default::default(),
                messages: std::mem::take(&mut sent).into(),
                idempotency: None,
                now: now_micros(),
                audit: None,
                opt_out_writes_seen: None,
            };
            store.accept_batch(std::sync::Arc::from([request])).await?;
        }
        if received.len() == INBOUND_BATCH || (i + 1 == total && !received.is_empty()) {
            store.apply_outcomes(&mut received, retry, now_micros()).await?;
        }
        if (i + 1) % 100_000 == 0 && !args.json {
            eprintln!("  filled {} of {total} in {:.0} s", i + 1, started.elapsed().as_secs_f64());
        }
    }
    let fill = started.elapsed();
    store.analyze_history().await?;
    let (database_mb, index_mb) = sizes(&store, &url, &dir).await;

    let kinds = time_queries(&store, &account, &numbers, &mut rng, total).await?;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(SearchReport {
        database: if args.database.is_some() { "PostgreSQL".into() } else { "SQLite".into() },
        messages: total,
        fill_seconds: fill.as_secs_f64(),
        fill_per_sec: total as f64 / fill.as_secs_f64(),
        database_mb,
        index_mb,
        kinds,
    })
}

/// Database size and the search index's part of it, in MB, where known.
async fn sizes(store: &Store, url: &str, dir: &std::path::Path) -> (Option<f64>, Option<f64>) {
    const MB: f64 = 1024.0 * 1024.0;
    if url.starts_with("sqlite:") {
        let files = ["bench.db", "bench.db-wal"];
        let total: u64 =
            files.iter().filter_map(|f| std::fs::metadata(dir.join(f)).ok()).map(|m| m.len()).sum();
        let index = store.search_index_bytes().await.ok().flatten();
        (Some(total as f64 / MB), index.map(|b| b as f64 / MB))
    } else {
        let total = store.database_bytes().await.ok().flatten();
        let index = store.search_index_bytes().await.ok().flatten();
        (total.map(|b| b as f64 / MB), index.map(|b| b as f64 / MB))
    }
}

/// Runs of each kind of query after one warm-up run.
const RUNS: usize = 40;

async fn time_queries(
    store: &Store,
    account: &str,
    numbers: &[PhoneNumber],
    rng: &mut Rng,
    total: u64,
) -> anyhow::Result<Vec<KindResult>> {
    let q = |s: &str| SearchQuery::parse(s).expect("bench queries parse");
    let base = MessageFilter { limit: PAGE + 1, ..MessageFilter::default() };
    type Make<'a> = Box<dyn Fn(&mut Rng) -> MessageFilter + 'a>;
    let kinds: Vec<(&str, &str, Make)> = vec![
        ("no search (newest page)", "", Box::new(|_| base.clone())),
        (
            "rare word (an order number)",
            "q=1234567",
            Box::new(|r: &mut Rng| MessageFilter {
                q: Some(q(&(1_000_000 + r.below(total as usize)).to_string())),
                ..base.clone()
            }),
        ),
        (
            "common word (25%)",
            "q=zamowienie",
            Box::new(|r: &mut Rng| MessageFilter {
                q: Some(q(r.pick(&["zamowienie", "ZAMÓWIENIE", "kurier", "dostarczy"]))),
                ..base.clone()
            }),
        ),
        (
            "city, no diacritics (2%)",
            "q=lodz",
            Box::new(|r: &mut Rng| MessageFilter {
                q: Some(q(&crate::storage::fold(r.pick(CITIES_PL)))),
                ..base.clone()
            }),
        ),
        (
            "Cyrillic upper case (0.6%)",
            "q=АВАРИЯ",
            Box::new(|r: &mut Rng| MessageFilter {
                q: Some(q(r.pick(&["АВАРИЯ", "ПОДСТАНЦИИ", "ОТСТРАНЕНА", "ЭЛЕКТРОЭНЕРГИИ"]))),
                ..base.clone()
            }),
        ),
        (
            "prefix",
            "q=awari*",
            Box::new(|r: &mut Rng| MessageFilter {
                q: Some(q(r.pick(&["awari*", "подстан*", "отстран*", "przych*"]))),
                ..base.clone()
            }),
        ),
        (
            "phrase",
            "q=\"brak pradu\"",
            Box::new(|r: &mut Rng| MessageFilter {
                q: Some(q(r.pick(&["\"brak pradu\"", "\"nie podawaj\"", "\"заказ передан\""]))),
                ..base.clone()
            }),
        ),
        (
            "two words (city AND outage)",
            "q=lodz awaria",
            Box::new(|r: &mut Rng| MessageFilter {
                q: Some(q(&format!("{} awaria", crate::storage::fold(r.pick(CITIES_PL))))),
                ..base.clone()
            }),
        ),
        (
            "word absent",
            "q=ksylofon",
            Box::new(|r: &mut Rng| MessageFilter {
                q: Some(q(r.pick(&["ksylofon", "зебра", "quokka"]))),
                ..base.clone()
            }),
        ),
        (
            "common word + to (one number)",
            "q=zamowienie&to=+48600001234",
            Box::new(|r: &mut Rng| MessageFilter {
                q: Some(q("zamowienie")),
                to: Some(numbers[r.below(numbers.len())].to_string()),
                ..base.clone()
            }),
        ),
        (
            "common word + status",
            "q=zamowienie&status=scheduled",
            Box::new(|r: &mut Rng| MessageFilter {
                q: Some(q(r.pick(&["zamowienie", "kod", "faktura"]))),
                status: Some(MessageStatus::Scheduled),
                ..base.clone()
            }),
        ),
        (
            "city + tag",
            "q=lodz&tag=awaria",
            Box::new(|r: &mut Rng| MessageFilter {
                q: Some(q(&crate::storage::fold(r.pick(CITIES_PL)))),
                tag: Some("awaria".into()),
                ..base.clone()
            }),
        ),
        (
            "common word + inbound",
            "q=kod&direction=inbound",
            Box::new(|r: &mut Rng| MessageFilter {
                q: Some(q(r.pick(&["kod", "zamowienie", "заказ"]))),
                direction: Some(crate::domain::Direction::Inbound),
                ..base.clone()
            }),
        ),
    ];
    let mut results = Vec::new();
    for (kind, example, make) in &kinds {
        let mut times = Vec::with_capacity(RUNS);
        let mut rows = 0usize;
        store.list_messages(account, &make(rng)).await?; // warm-up
        for _ in 0..RUNS {
            let filter = make(rng);
            let t = Instant::now();
            rows += store.list_messages(account, &filter).await?.len().min(PAGE);
            times.push(t.elapsed());
        }
        results.push(summarise(kind, example, &times, rows));
    }
    // Paging deep: pages 2..=20 of a common word, following the cursor.
    let mut times = Vec::new();
    let mut rows = 0usize;
    for word in ["zamowienie", "kod"] {
        let mut filter = MessageFilter { q: Some(q(word)), ..base.clone() };
        for _ in 0..20 {
            let t = Instant::now();
            let page = store.list_messages(account, &filter).await?;
            times.push(t.elapsed());
            rows += page.len().min(PAGE);
            filter.cursor = page.get(PAGE - 1).map(|m| m.id.clone());
        }
    }
    results.push(summarise("common word, pages 1-20 by cursor", "q=zamowienie&cursor=…", &times, rows));
    Ok(results)
}

fn summarise(kind: &str, example: &str, times: &[Duration], rows: usize) -> KindResult {
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() as f64 * p) as usize).min(ms.len() - 1)];
    KindResult {
        kind: kind.into(),
        example: example.into(),
        runs: ms.len(),
        rows: rows as f64 / ms.len() as f64,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: ms[ms.len() - 1],
    }
}

pub fn print(r: &SearchReport) {
    let mb = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0} MB"));
    println!(
        "{}: {} messages filled in {:.0} s ({:.0}/s); database {}, search index {}",
        r.database,
        r.messages,
        r.fill_seconds,
        r.fill_per_sec,
        mb(r.database_mb),
        mb(r.index_mb)
    );
    println!(
        "{:<36} {:<30} {:>6} {:>9} {:>9} {:>9}",
        "query (page of 50)", "example", "rows", "p50", "p99", "max"
    );
    for k in &r.kinds {
        println!(
            "{:<36} {:<30} {:>6.1} {:>7.2}ms {:>7.2}ms {:>7.2}ms",
            k.kind, k.example, k.rows, k.p50_ms, k.p99_ms, k.max_ms
        );
    }
}
