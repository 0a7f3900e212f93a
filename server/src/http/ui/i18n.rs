//! The web UI's languages: English, Polish, Russian and Bulgarian. One table
//! of messages (every key has all four, checked by a test that also reads
//! the templates for keys they use), the choice of language from a user's
//! setting or `Accept-Language`, and numbers and times written the way each
//! locale writes them.
//!
//! It does not translate data (contact names, message texts, API error
//! messages): those are shown as stored.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, TimeZone as _, Utc};
use chrono_tz::Tz;

/// A language of the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    En,
    Pl,
    Ru,
    Bg,
}

impl Locale {
    pub const ALL: [Locale; 4] = [Locale::En, Locale::Pl, Locale::Ru, Locale::Bg];

    /// The BCP 47 tag (`lang` attribute, cookie value).
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Pl => "pl",
            Locale::Ru => "ru",
            Locale::Bg => "bg",
        }
    }

    /// The language's own name, for the picker.
    pub fn native_name(self) -> &'static str {
        match self {
            Locale::En => "English",
            Locale::Pl => "Polski",
            Locale::Ru => "Русский",
            Locale::Bg => "Български",
        }
    }

    /// `pl`, `pl-PL`, `PL` …; `None` for languages the UI does not speak.
    pub fn parse(tag: &str) -> Option<Locale> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Locale::ALL.into_iter().find(|l| l.tag() == primary)
    }

    /// The best language of an `Accept-Language` header (by q-value, then
    /// order), or English.
    pub fn from_accept_language(header: &str) -> Locale {
        let mut best: Option<(f32, Locale)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("");
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(l) = Locale::parse(tag)
                && q > 0.0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        best.map_or(Locale::En, |(_, l)| l)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The message `key` in this language (the key itself if unknown, which
    /// a test prevents for every key a template uses).
    pub fn t(self, key: &str) -> &'static str {
        match MESSAGES.get(key) {
            Some(m) => m[self.index()],
            None => {
                tracing::warn!(key, "UI message without a translation");
                ""
            }
        }
    }

    /// The message `key` in this language, if there is one (for keys made
    /// from data, such as an action's kind).
    pub fn lookup(self, key: &str) -> Option<&'static str> {
        MESSAGES.get(key).map(|m| m[self.index()])
    }

    /// `1234567` as `1,234,567` (en) or `1 234 567` (pl, ru, bg; a
    /// non-breaking space).
    pub fn number(self, n: i64) -> String {
        let sep = match self {
            Locale::En => ',',
            _ => '\u{a0}',
        };
        let digits = n.unsigned_abs().to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
        if n < 0 {
            out.push('-');
        }
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(c);
        }
        out
    }

    /// An amount of money given as decimal text (`-1234.50`) and its
    /// currency: `EUR 1,234.50` (en), `1 234,50 EUR` (pl, ru, bg).
    pub fn money(self, decimal: &str, currency: &str) -> String {
        let (sign, unsigned) = decimal.strip_prefix('-').map_or(("", decimal), |d| ("-", d));
        let (whole, fraction) = unsigned.split_once('.').map_or((unsigned, None), |(w, f)| (w, Some(f)));
        let Ok(whole) = whole.parse::<i64>() else {
            return format!("{decimal} {currency}");
        };
        let whole = self.number(whole);
        let number = match (fraction, self) {
            (None, _) => format!("{sign}{whole}"),
            (Some(f), Locale::En) => format!("{sign}{whole}.{f}"),
            (Some(f), _) => format!("{sign}{whole},{f}"),
        };
        match self {
            Locale::En => format!("{currency}\u{a0}{number}"),
            _ => format!("{number}\u{a0}{currency}"),
        }
    }

    /// A point in time in `tz`: `24 Nov 2026, 09:05` (en), `24.11.2026 09:05`
    /// (pl, ru), `24.11.2026 г. 09:05` (bg).
    pub fn datetime(self, at: DateTime<Utc>, tz: Tz) -> String {
        let local = tz.from_utc_datetime(&at.naive_utc());
        match self {
            Locale::En => local.format("%-d %b %Y, %H:%M").to_string(),
            Locale::Pl | Locale::Ru => local.format("%d.%m.%Y %H:%M").to_string(),
            Locale::Bg => local.format("%d.%m.%Y г. %H:%M").to_string(),
        }
    }
}

/// Every UI message: key, then English, Polish, Russian, Bulgarian.
const TABLE: &[(&str, [&str; 4])] = &[
    ("app.name", ["Kurier", "Kurier", "Kurier", "Kurier"]),
    ("nav.main", ["Main", "Główna nawigacja", "Главное меню", "Главно меню"]),
    ("nav.skip", ["Skip to content", "Przejdź do treści", "Перейти к содержимому", "Към съдържанието"]),
    ("nav.dashboard", ["Dashboard", "Pulpit", "Обзор", "Табло"]),
    ("nav.compose", ["Compose", "Nowa wiadomość", "Написать", "Ново съобщение"]),
    ("nav.messages", ["Messages", "Wiadomości", "Сообщения", "Съобщения"]),
    ("nav.contacts", ["Contacts", "Kontakty", "Контакты", "Контакти"]),
    ("nav.groups", ["Groups", "Grupy", "Группы", "Групи"]),
    ("nav.campaigns", ["Campaigns", "Kampanie", "Рассылки", "Кампании"]),
    ("nav.sign_out", ["Sign out", "Wyloguj", "Выйти", "Изход"]),
    ("nav.language", ["Language", "Język", "Язык", "Език"]),
    ("nav.account", ["Account", "Konto", "Аккаунт", "Акаунт"]),
    ("nav.role", ["Role", "Rola", "Роль", "Роля"]),
    ("action.save", ["Save", "Zapisz", "Сохранить", "Запази"]),
    ("action.search", ["Search", "Szukaj", "Найти", "Търси"]),
    ("action.apply", ["Apply", "Zastosuj", "Применить", "Приложи"]),
    ("action.next_page", ["Next page", "Następna strona", "Следующая страница", "Следваща страница"]),
    ("action.create", ["Create", "Utwórz", "Создать", "Създай"]),
    ("action.cancel", ["Cancel", "Anuluj", "Отменить", "Отказ"]),
    ("action.delete", ["Delete", "Usuń", "Удалить", "Изтрий"]),
    ("action.edit", ["Edit", "Edytuj", "Изменить", "Редактирай"]),
    ("action.start", ["Start", "Uruchom", "Запустить", "Стартирай"]),
    ("action.pause", ["Pause", "Wstrzymaj", "Приостановить", "Пауза"]),
    ("action.resume", ["Resume", "Wznów", "Возобновить", "Продължи"]),
    ("action.refresh", ["Refresh", "Odśwież", "Обновить", "Обнови"]),
    ("signin.title", ["Sign in", "Logowanie", "Вход", "Вход"]),
    ("signin.username", ["Username", "Nazwa użytkownika", "Имя пользователя", "Потребителско име"]),
    ("signin.password", ["Password", "Hasło", "Пароль", "Парола"]),
    ("signin.submit", ["Sign in", "Zaloguj", "Войти", "Влез"]),
    (
        "signin.failed",
        [
            "The username or password is wrong, or there were too many failed attempts; try again later.",
            "Nieprawidłowa nazwa użytkownika lub hasło albo zbyt wiele nieudanych prób; spróbuj później.",
            "Неверное имя пользователя или пароль, либо слишком много неудачных попыток; попробуйте позже.",
            "Грешно потребителско име или парола, или твърде много неуспешни опити; опитайте по-късно.",
        ],
    ),
    ("nav.billing", ["Billing", "Rozliczenia", "Оплата", "Плащания"]),
    ("billing.cost", ["Cost", "Koszt", "Стоимость", "Цена"]),
    (
        "billing.cost_typed_only",
        [
            "(typed numbers only; the groups and #tags could not be counted)",
            "(tylko wpisane numery; nie udało się policzyć grup i #tagów)",
            "(только введённые номера; группы и #теги не удалось посчитать)",
            "(само въведените номера; групите и #таговете не можаха да се преброят)",
        ],
    ),
    (
        "billing.unpriced",
        ["without a price in your tariff", "bez ceny w taryfie", "без цены в тарифе", "без цена в тарифата"],
    ),
    ("billing.balance", ["Balance", "Saldo", "Баланс", "Баланс"]),
    ("billing.reserved", ["Reserved", "Zarezerwowane", "Зарезервировано", "Резервирано"]),
    ("billing.owed", ["Owed", "Zaległe", "Задолженность", "Дължимо"]),
    (
        "billing.package_use",
        ["Package use", "Wykorzystanie pakietów", "Использование пакетов", "Използване на пакети"],
    ),
    ("billing.remaining", ["left", "pozostało", "осталось", "остават"]),
    (
        "billing.details",
        ["Billing details", "Szczegóły rozliczeń", "Подробности оплаты", "Подробности за плащанията"],
    ),
    (
        "billing.usage",
        ["Usage and statement", "Zużycie i zestawienie", "Расход и выписка", "Потребление и извлечение"],
    ),
    (
        "billing.not_charged",
        [
            "This account has no tariff: messages are not charged.",
            "To konto nie ma taryfy: wiadomości są bezpłatne.",
            "У этого аккаунта нет тарифа: сообщения не оплачиваются.",
            "Този акаунт няма тарифа: съобщенията не се таксуват.",
        ],
    ),
    ("billing.tariff", ["Tariff", "Taryfa", "Тариф", "Тарифа"]),
    ("billing.currency", ["Currency", "Waluta", "Валюта", "Валута"]),
    (
        "billing.inbound_price",
        [
            "Each received message",
            "Każda odebrana wiadomość",
            "Каждое входящее сообщение",
            "Всяко получено съобщение",
        ],
    ),
    (
        "billing.number_fee",
        [
            "Each inbound number, monthly",
            "Każdy numer przychodzący, miesięcznie",
            "Каждый входящий номер, в месяц",
            "Всеки входящ номер, месечно",
        ],
    ),
    ("billing.packages", ["Packages", "Pakiety", "Пакеты", "Пакети"]),
    ("billing.no_packages", ["No packages.", "Brak pakietów.", "Пакетов нет.", "Няма пакети."]),
    ("billing.included", ["Included", "W pakiecie", "Включено", "Включени"]),
    (
        "billing.overage",
        ["Beyond, per segment", "Ponad pakiet, za część", "Сверх пакета, за часть", "Над пакета, на част"],
    ),
    ("billing.monthly_fee", ["Monthly fee", "Opłata miesięczna", "Ежемесячная плата", "Месечна такса"]),
    ("billing.since", ["Since", "Od", "С", "От"]),
    ("billing.until", ["Until", "Do", "По", "До"]),
    ("billing.prices", ["Price list", "Cennik", "Прайс-лист", "Ценоразпис"]),
    ("billing.prefix", ["Prefix", "Prefiks", "Префикс", "Префикс"]),
    ("billing.destination", ["Destination", "Kierunek", "Направление", "Направление"]),
    ("billing.unit_price", ["Per segment", "Za część", "За часть", "На част"]),
    ("billing.more_prices", ["More prices", "Więcej cen", "Ещё цены", "Още цени"]),
    ("billing.month", ["Month", "Miesiąc", "Месяц", "Месец"]),
    ("billing.by_user", ["User", "Użytkownik", "Пользователь", "Потребител"]),
    ("billing.messages", ["Messages", "Wiadomości", "Сообщения", "Съобщения"]),
    (
        "billing.ledger",
        ["Top-ups and fees", "Doładowania i opłaty", "Пополнения и платежи", "Зареждания и такси"],
    ),
    ("billing.when", ["When", "Kiedy", "Когда", "Кога"]),
    ("billing.kind", ["Kind", "Rodzaj", "Вид", "Вид"]),
    ("billing.amount", ["Amount", "Kwota", "Сумма", "Сума"]),
    ("billing.note", ["Note", "Uwaga", "Примечание", "Бележка"]),
    ("dash.today", ["Today", "Dziś", "Сегодня", "Днес"]),
    ("dash.month", ["This month", "Ten miesiąc", "Этот месяц", "Този месец"]),
    ("dash.chart_24h", ["Last 24 hours", "Ostatnie 24 godziny", "Последние 24 часа", "Последните 24 часа"]),
    ("dash.chart_30d", ["Last 30 days", "Ostatnie 30 dni", "Последние 30 дней", "Последните 30 дни"]),
    ("dash.connectors", ["Connectors", "Połączenia", "Подключения", "Връзки"]),
    ("dash.live", ["Updates live", "Na żywo", "Обновляется вживую", "Обновява се на живо"]),
    ("conn.up", ["up", "działa", "работает", "работи"]),
    ("conn.down", ["down", "nie działa", "не работает", "не работи"]),
    ("conn.binds", ["Binds", "Sesje", "Сессии", "Сесии"]),
    ("conn.window", ["Window", "Okno", "Окно", "Прозорец"]),
    ("conn.submitted", ["Submitted", "Przekazane", "Передано", "Предадени"]),
    ("conn.errors", ["Errors", "Błędy", "Ошибки", "Грешки"]),
    // operator billing pages (operator_*.html) and account settings (settings.html)
    ("op.title", ["Operator", "Operator", "Оператор", "Оператор"]),
    ("op.prices", ["Prices and packages", "Ceny i pakiety", "Цены и пакеты", "Цени и пакети"]),
    ("op.accounts", ["Accounts", "Konta", "Аккаунты", "Акаунти"]),
    ("op.tariffs", ["Tariffs", "Taryfy", "Тарифы", "Тарифи"]),
    (
        "op.no_tariffs",
        ["No tariffs yet.", "Nie ma jeszcze taryf.", "Тарифов пока нет.", "Все още няма тарифи."],
    ),
    ("op.new_tariff", ["New tariff", "Nowa taryfa", "Новый тариф", "Нова тарифа"]),
    (
        "op.currency_hint",
        [
            "An ISO 4217 code such as EUR, PLN, BGN; prices are written with at most its decimals.",
            "Kod ISO 4217, np. EUR, PLN, BGN; ceny mają najwyżej tyle miejsc po przecinku, ile waluta.",
            "Код ISO 4217, например EUR, PLN, BGN; в ценах не больше знаков после запятой, чем у валюты.",
            "Код по ISO 4217, напр. EUR, PLN, BGN; цените са с най-много толкова знака след запетаята, колкото валутата.",
        ],
    ),
    ("op.new_package", ["New package", "Nowy pakiet", "Новый пакет", "Нов пакет"]),
    (
        "op.included_hint",
        [
            "Segments included each month",
            "Części w pakiecie co miesiąc",
            "Частей включено в месяц",
            "Включени части на месец",
        ],
    ),
    (
        "op.no_prices",
        [
            "No prices yet: messages to any destination are refused.",
            "Brak cen: wiadomości w każdym kierunku są odrzucane.",
            "Цен пока нет: сообщения в любом направлении отклоняются.",
            "Все още няма цени: съобщенията до всяко направление се отказват.",
        ],
    ),
    (
        "op.set_price",
        [
            "Add or change a price",
            "Dodaj lub zmień cenę",
            "Добавить или изменить цену",
            "Добавяне или промяна на цена",
        ],
    ),
    (
        "op.set_price_hint",
        [
            "A prefix already listed gets the new price.",
            "Prefiks, który już jest na liście, dostaje nową cenę.",
            "Префикс, который уже есть в списке, получает новую цену.",
            "Префикс, който вече е в списъка, получава новата цена.",
        ],
    ),
    ("op.edit_tariff", ["Change the tariff", "Zmień taryfę", "Изменить тариф", "Промяна на тарифата"]),
    ("op.delete_tariff", ["Delete the tariff", "Usuń taryfę", "Удалить тариф", "Изтриване на тарифата"]),
    ("op.not_charged", ["not charged", "bez opłat", "без оплаты", "без плащане"]),
    (
        "op.threshold",
        [
            "Low-balance alert below",
            "Alert o niskim saldzie poniżej",
            "Оповещение о низком балансе ниже",
            "Известие за нисък баланс под",
        ],
    ),
    (
        "op.threshold_hint",
        [
            "Empty: no alert. In the tariff's currency.",
            "Puste: bez alertu. W walucie taryfy.",
            "Пусто: без оповещения. В валюте тарифа.",
            "Празно: без известие. Във валутата на тарифата.",
        ],
    ),
    ("op.alert_email", ["Alert e-mail", "E-mail alertów", "E-mail для оповещений", "Имейл за известия"]),
    ("op.top_up", ["Top up", "Doładuj", "Пополнить", "Зареждане"]),
    (
        "op.top_up_hint",
        [
            "A negative amount takes money back (an adjustment).",
            "Kwota ujemna odejmuje środki (korekta).",
            "Отрицательная сумма списывает деньги (корректировка).",
            "Отрицателна сума връща пари (корекция).",
        ],
    ),
    (
        "op.end_package",
        [
            "End with this month",
            "Zakończ z tym miesiącem",
            "Завершить в этом месяце",
            "Прекрати с този месец",
        ],
    ),
    ("op.add_package", ["Add a package", "Dodaj pakiet", "Добавить пакет", "Добавяне на пакет"]),
    (
        "op.add_package_hint",
        [
            "From this month; its first monthly fee is charged now.",
            "Od tego miesiąca; pierwsza opłata miesięczna jest pobierana od razu.",
            "С этого месяца; первая ежемесячная плата списывается сразу.",
            "От този месец; първата месечна такса се таксува веднага.",
        ],
    ),
    ("set.title", ["Settings", "Ustawienia", "Настройки", "Настройки"]),
    ("set.saved", ["Saved.", "Zapisano.", "Сохранено.", "Запазено."]),
    (
        "set.read_only",
        [
            "Only owners and admins change these settings.",
            "Tylko właściciele i administratorzy zmieniają te ustawienia.",
            "Изменять эти настройки могут только владельцы и администраторы.",
            "Само собственици и администратори променят тези настройки.",
        ],
    ),
    ("set.account", ["Sending", "Wysyłanie", "Отправка", "Изпращане"]),
    ("set.time_zone", ["Time zone", "Strefa czasowa", "Часовой пояс", "Часова зона"]),
    (
        "set.time_zone_hint",
        [
            "IANA name such as Europe/Warsaw; quiet hours and recurring campaigns are read in it.",
            "Nazwa IANA, np. Europe/Warsaw; według niej liczone są godziny ciszy i kampanie cykliczne.",
            "Имя IANA, например Europe/Warsaw; по нему считаются тихие часы и повторяющиеся рассылки.",
            "Име по IANA, напр. Europe/Sofia; по нея се смятат тихите часове и повтарящите се кампании.",
        ],
    ),
    ("set.quiet_hours", ["Quiet hours", "Godziny ciszy", "Тихие часы", "Тихи часове"]),
    (
        "set.quiet_hint",
        [
            "Campaign messages due in this window wait until it ends (in each contact's zone). Both empty: none.",
            "Wiadomości kampanii przypadające w tym oknie czekają do jego końca (w strefie kontaktu). Oba puste: brak.",
            "Сообщения рассылок, попавшие в это окно, ждут его окончания (в поясе контакта). Оба пусты: нет.",
            "Съобщенията от кампании в този прозорец чакат края му (в зоната на контакта). И двете празни: няма.",
        ],
    ),
    ("set.from", ["From", "Od", "С", "От"]),
    ("set.to", ["To", "Do", "До", "До"]),
    (
        "set.transliterate",
        [
            "Transliterate texts to the GSM alphabet",
            "Transliteruj teksty do alfabetu GSM",
            "Транслитерировать тексты в алфавит GSM",
            "Транслитерирай текстовете към GSM азбуката",
        ],
    ),
    (
        "set.transliterate_hint",
        [
            "Diacritics and Cyrillic become Latin letters: more characters fit in one segment.",
            "Znaki diakrytyczne i cyrylica stają się literami łacińskimi: więcej znaków mieści się w jednej części.",
            "Диакритика и кириллица становятся латиницей: в одну часть помещается больше символов.",
            "Диакритиката и кирилицата стават латиница: в една част се побират повече знаци.",
        ],
    ),
    (
        "set.inbound_url",
        [
            "Forward received messages to (URL)",
            "Przekazuj odebrane wiadomości na (URL)",
            "Пересылать входящие на (URL)",
            "Препращай получените съобщения към (URL)",
        ],
    ),
    (
        "set.inbound_url_hint",
        [
            "Each received message is POSTed there, signed; empty: none.",
            "Każda odebrana wiadomość jest tam wysyłana (POST, podpisana); puste: nigdzie.",
            "Каждое входящее сообщение отправляется туда (POST, с подписью); пусто: никуда.",
            "Всяко получено съобщение се изпраща там (POST, подписано); празно: никъде.",
        ],
    ),
    ("set.replies", ["Opt-out and HELP", "Wypisanie i POMOC", "Отписка и HELP", "Отписване и HELP"]),
    ("set.help_text", ["Reply to HELP", "Odpowiedź na HELP", "Ответ на HELP", "Отговор на HELP"]),
    (
        "set.help_hint",
        [
            "Empty: the default text. Sent to anyone who writes",
            "Puste: tekst domyślny. Wysyłana każdemu, kto napisze",
            "Пусто: текст по умолчанию. Отправляется каждому, кто напишет",
            "Празно: текстът по подразбиране. Изпраща се на всеки, който напише",
        ],
    ),
    (
        "set.opt_out_words",
        [
            "Your own opt-out words",
            "Własne słowa wypisania",
            "Свои слова отписки",
            "Собствени думи за отписване",
        ],
    ),
    (
        "set.opt_out_hint",
        [
            "Separated by commas. Every word that opts out now:",
            "Oddzielone przecinkami. Wszystkie słowa, które teraz wypisują:",
            "Через запятую. Все слова, которые сейчас отписывают:",
            "Разделени със запетаи. Всички думи, които сега отписват:",
        ],
    ),
    ("set.opt_in_words", ["Opt back in:", "Ponowny zapis:", "Подписка снова:", "Повторно записване:"]),
    (
        "set.low_balance",
        [
            "Low-balance alert",
            "Alert o niskim saldzie",
            "Оповещение о низком балансе",
            "Известие за нисък баланс",
        ],
    ),
    (
        "set.low_balance_hint",
        [
            "Set by the platform operator.",
            "Ustawia operator platformy.",
            "Задаёт оператор платформы.",
            "Задава се от оператора на платформата.",
        ],
    ),
    // connectors and routes (connectors.html)
    ("conn.acked", ["Accepted", "Przyjęte", "Принято", "Приети"]),
    ("conn.throttled", ["Throttled", "Spowolnione", "Ограничено", "Ограничени"]),
    ("conn.receipts", ["Receipts", "Raporty doręczeń", "Отчёты о доставке", "Отчети за доставка"]),
    ("conn.inbound", ["Received", "Odebrane", "Получено", "Получени"]),
    (
        "conn.from_file",
        [
            "Connectors and routes marked “file” come from the configuration file ([[connectors]], [[routes]]) and change there, at the next start. Those added here are stored and run at once on every node.",
            "Połączenia i trasy oznaczone „plik” pochodzą z pliku konfiguracyjnego ([[connectors]], [[routes]]) i zmienia się je tam, przy następnym starcie. Dodane tutaj są zapisywane i działają od razu na każdym węźle.",
            "Подключения и маршруты с пометкой «файл» взяты из файла конфигурации ([[connectors]], [[routes]]) и меняются там, при следующем запуске. Добавленные здесь сохраняются и сразу работают на каждом узле.",
            "Връзките и маршрутите с отметка „файл“ идват от конфигурационния файл ([[connectors]], [[routes]]) и се променят там, при следващо стартиране. Добавените тук се запазват и работят веднага на всеки възел.",
        ],
    ),
    ("conn.source_file", ["file", "plik", "файл", "файл"]),
    ("conn.source_api", ["added here", "dodane tutaj", "добавлено здесь", "добавена тук"]),
    ("conn.add", ["Add a connector", "Dodaj połączenie", "Добавить подключение", "Добави връзка"]),
    ("conn.name", ["Name", "Nazwa", "Название", "Име"]),
    ("conn.kind", ["Kind", "Rodzaj", "Тип", "Вид"]),
    (
        "conn.kind_smpp",
        [
            "SMPP (an operator's SMSC)",
            "SMPP (SMSC operatora)",
            "SMPP (SMSC оператора)",
            "SMPP (SMSC на оператор)",
        ],
    ),
    ("conn.kind_sim", ["Simulated SMSC", "Symulowane SMSC", "Имитация SMSC", "Симулиран SMSC"]),
    (
        "conn.settings_hint",
        [
            "One setting a line, as in a [[connectors]] table of the configuration file, e.g. host = \"smsc.example.com\", port = 2775, system_id = \"kurier\", password = \"secret\", binds = 2, window = 50, throughput = 100. A password shown as *** stays as it is.",
            "Jedno ustawienie w linii, jak w tabeli [[connectors]] pliku konfiguracyjnego, np. host = \"smsc.example.com\", port = 2775, system_id = \"kurier\", password = \"secret\", binds = 2, window = 50, throughput = 100. Hasło pokazane jako *** pozostaje bez zmian.",
            "Одна настройка в строке, как в таблице [[connectors]] файла конфигурации, например host = \"smsc.example.com\", port = 2775, system_id = \"kurier\", password = \"secret\", binds = 2, window = 50, throughput = 100. Пароль, показанный как ***, остаётся прежним.",
            "По една настройка на ред, както в таблица [[connectors]] на конфигурационния файл, напр. host = \"smsc.example.com\", port = 2775, system_id = \"kurier\", password = \"secret\", binds = 2, window = 50, throughput = 100. Парола, показана като ***, остава същата.",
        ],
    ),
    (
        "conn.save_restart",
        [
            "Save and restart",
            "Zapisz i uruchom ponownie",
            "Сохранить и перезапустить",
            "Запази и рестартирай",
        ],
    ),
    ("conn.add_route", ["Add a route", "Dodaj trasę", "Добавить маршрут", "Добави маршрут"]),
    ("conn.prefix", ["Prefix", "Prefiks", "Префикс", "Префикс"]),
    ("conn.settings", ["Settings", "Ustawienia", "Настройки", "Настройки"]),
    ("conn.routes", ["Routes", "Trasy", "Маршруты", "Маршрути"]),
    (
        "conn.routes_hint",
        [
            "The longest matching prefix wins; among equal prefixes the lowest priority goes first and the others take over while it is down.",
            "Wygrywa najdłuższy pasujący prefiks; przy równych prefiksach pierwszy jest najniższy priorytet, a pozostałe przejmują ruch, gdy on nie działa.",
            "Выигрывает самый длинный подходящий префикс; при равных префиксах первым идёт наименьший приоритет, остальные подменяют его, пока он не работает.",
            "Печели най-дългият съвпадащ префикс; при равни префикси първи е най-ниският приоритет, а другите поемат, докато той не работи.",
        ],
    ),
    (
        "conn.no_routes",
        [
            "No routes: every message goes to the default connector.",
            "Brak tras: każda wiadomość idzie do połączenia domyślnego.",
            "Маршрутов нет: все сообщения идут в подключение по умолчанию.",
            "Няма маршрути: всяко съобщение отива към връзката по подразбиране.",
        ],
    ),
    ("conn.connector", ["Connector", "Połączenie", "Подключение", "Връзка"]),
    (
        "conn.details",
        [
            "All counters, settings and routes",
            "Wszystkie liczniki, ustawienia i trasy",
            "Все счётчики, настройки и маршруты",
            "Всички броячи, настройки и маршрути",
        ],
    ),
    ("conn.priority", ["Priority", "Priorytet", "Приоритет", "Приоритет"]),
    (
        "conn.default",
        [
            "Messages no route matches go to",
            "Wiadomości bez pasującej trasy idą do",
            "Сообщения без подходящего маршрута идут в",
            "Съобщенията без подходящ маршрут отиват към",
        ],
    ),
    ("status.scheduled", ["scheduled", "zaplanowana", "запланировано", "планирано"]),
    ("status.queued", ["queued", "w kolejce", "в очереди", "на опашка"]),
    ("status.sending", ["sending", "wysyłanie", "отправляется", "изпраща се"]),
    ("status.sent", ["sent", "wysłana", "отправлено", "изпратено"]),
    ("status.delivered", ["delivered", "doręczona", "доставлено", "доставено"]),
    ("status.undelivered", ["undelivered", "niedoręczona", "не доставлено", "недоставено"]),
    ("status.expired", ["expired", "wygasła", "истекло", "изтекло"]),
    ("status.rejected", ["rejected", "odrzucona", "отклонено", "отхвърлено"]),
    ("status.failed", ["failed", "błąd", "ошибка", "неуспешно"]),
    ("status.canceled", ["canceled", "anulowana", "отменено", "отменено"]),
    ("status.received", ["received", "odebrana", "получено", "получено"]),
    ("status.draft", ["draft", "szkic", "черновик", "чернова"]),
    ("status.active", ["active", "aktywna", "активна", "активна"]),
    ("status.paused", ["paused", "wstrzymana", "приостановлена", "на пауза"]),
    ("status.completed", ["completed", "zakończona", "завершено", "завършено"]),
    ("status.fanning_out", ["preparing", "przygotowanie", "подготовка", "подготовка"]),
    ("status.running", ["running", "w toku", "выполняется", "изпълнява се"]),
    ("status.pending", ["pending", "oczekuje", "ожидает", "изчаква"]),
    ("status.done", ["done", "gotowe", "готово", "готово"]),
    ("compose.title", ["New message", "Nowa wiadomość", "Новое сообщение", "Ново съобщение"]),
    ("compose.to", ["Phone numbers", "Numery telefonów", "Номера телефонов", "Телефонни номера"]),
    (
        "compose.to_hint",
        [
            "One or more, separated by commas or new lines. Write #tag to reach a tag's subscribers.",
            "Jeden lub więcej, oddzielone przecinkami lub nowymi wierszami. #tag trafia do subskrybentów tagu.",
            "Один или несколько, через запятую или с новой строки. #тег — подписчикам тега.",
            "Един или повече, разделени със запетаи или нови редове. #таг достига абонатите на тага.",
        ],
    ),
    ("compose.groups", ["Groups", "Grupy", "Группы", "Групи"]),
    ("compose.from", ["Sender", "Nadawca", "Отправитель", "Подател"]),
    ("compose.from_default", ["Default", "Domyślny", "По умолчанию", "По подразбиране"]),
    ("compose.template", ["Template", "Szablon", "Шаблон", "Шаблон"]),
    ("compose.no_template", ["None", "Brak", "Нет", "Няма"]),
    ("compose.use_template", ["Use template", "Użyj szablonu", "Вставить шаблон", "Използвай шаблона"]),
    ("compose.text", ["Text", "Treść", "Текст", "Текст"]),
    (
        "compose.send_at",
        [
            "Send at (optional)",
            "Wyślij o (opcjonalnie)",
            "Отправить в (необязательно)",
            "Изпрати в (по избор)",
        ],
    ),
    ("compose.send", ["Send", "Wyślij", "Отправить", "Изпрати"]),
    (
        "compose.sent",
        ["Accepted for sending", "Przyjęto do wysłania", "Принято к отправке", "Прието за изпращане"],
    ),
    ("compose.listed", ["Listed here", "Pokazane tutaj", "Показано здесь", "Показани тук"]),
    (
        "compose.all_messages",
        [
            "every message is in the history",
            "wszystkie wiadomości są w historii",
            "все сообщения — в истории",
            "всички съобщения са в историята",
        ],
    ),
    (
        "compose.refused",
        ["Refused recipients", "Odrzuceni odbiorcy", "Отклонённые получатели", "Отхвърлени получатели"],
    ),
    ("counter.chars", ["characters", "znaków", "символов", "знака"]),
    ("counter.segments", ["segments", "części", "частей", "части"]),
    ("counter.encoding", ["encoding", "kodowanie", "кодировка", "кодиране"]),
    ("counter.recipients", ["recipients", "odbiorców", "получателей", "получатели"]),
    ("msg.to", ["To", "Do", "Кому", "До"]),
    ("msg.from", ["From", "Od", "От", "От"]),
    ("msg.text", ["Text", "Treść", "Текст", "Текст"]),
    ("msg.status", ["Status", "Status", "Статус", "Статус"]),
    ("msg.created", ["Created", "Utworzono", "Создано", "Създадено"]),
    ("msg.history", ["History", "Historia", "История", "История"]),
    ("msg.direction", ["Direction", "Kierunek", "Направление", "Посока"]),
    ("msg.outbound", ["outbound", "wychodzące", "исходящие", "изходящи"]),
    ("msg.inbound", ["inbound", "przychodzące", "входящие", "входящи"]),
    ("msg.any", ["any", "dowolny", "любой", "всички"]),
    ("msg.search", ["Words in the text", "Słowa w treści", "Слова в тексте", "Думи в текста"]),
    ("msg.none", ["No messages.", "Brak wiadomości.", "Сообщений нет.", "Няма съобщения."]),
    ("msg.export", ["Export", "Eksport", "Экспорт", "Експорт"]),
    ("contact.phone", ["Phone", "Telefon", "Телефон", "Телефон"]),
    ("contact.name", ["Name", "Imię i nazwisko", "Имя", "Име"]),
    ("contact.email", ["E-mail", "E-mail", "E-mail", "Имейл"]),
    ("contact.tags", ["Tags", "Tagi", "Теги", "Тагове"]),
    ("contact.groups", ["Groups", "Grupy", "Группы", "Групи"]),
    ("contact.notes", ["Notes", "Notatki", "Заметки", "Бележки"]),
    ("contact.opted_out", ["Opted out", "Wypisany", "Отписан", "Отписан"]),
    ("contact.new", ["New contact", "Nowy kontakt", "Новый контакт", "Нов контакт"]),
    ("contact.none", ["No contacts.", "Brak kontaktów.", "Контактов нет.", "Няма контакти."]),
    ("contact.filter_group", ["Group", "Grupa", "Группа", "Група"]),
    ("contact.all_groups", ["All", "Wszystkie", "Все", "Всички"]),
    ("contact.filter_tag", ["Tag", "Tag", "Тег", "Таг"]),
    (
        "contact.search",
        ["Name, e-mail or number", "Imię, e-mail lub numer", "Имя, e-mail или номер", "Име, имейл или номер"],
    ),
    ("contact.saved", ["Saved.", "Zapisano.", "Сохранено.", "Запазено."]),
    (
        "contact.tags_hint",
        [
            "Separated by spaces, with or without #.",
            "Oddzielone spacjami, z # lub bez.",
            "Через пробел, с # или без.",
            "Разделени с интервали, със или без #.",
        ],
    ),
    ("import.title", ["Import contacts", "Import kontaktów", "Импорт контактов", "Импорт на контакти"]),
    ("import.file", ["CSV or XLSX file", "Plik CSV lub XLSX", "Файл CSV или XLSX", "Файл CSV или XLSX"]),
    (
        "import.group",
        [
            "Add to group (optional)",
            "Dodaj do grupy (opcjonalnie)",
            "Добавить в группу (необязательно)",
            "Добави в група (по избор)",
        ],
    ),
    ("import.submit", ["Import", "Importuj", "Импортировать", "Импортирай"]),
    ("import.progress", ["Progress", "Postęp", "Ход", "Напредък"]),
    ("import.rows_read", ["Rows read", "Wczytane wiersze", "Прочитано строк", "Прочетени редове"]),
    ("import.imported", ["Imported", "Zaimportowane", "Импортировано", "Импортирани"]),
    ("import.created", ["Created", "Nowe", "Создано", "Създадени"]),
    ("import.updated", ["Updated", "Zaktualizowane", "Обновлено", "Обновени"]),
    ("import.failed", ["Refused rows", "Odrzucone wiersze", "Отклонённые строки", "Отхвърлени редове"]),
    (
        "import.errors",
        [
            "Download the error report",
            "Pobierz raport błędów",
            "Скачать отчёт об ошибках",
            "Изтегли отчета за грешките",
        ],
    ),
    ("export.csv", ["Export CSV", "Eksport CSV", "Экспорт CSV", "Експорт CSV"]),
    ("export.xlsx", ["Export XLSX", "Eksport XLSX", "Экспорт XLSX", "Експорт XLSX"]),
    ("group.name", ["Name", "Nazwa", "Название", "Име"]),
    ("group.description", ["Description", "Opis", "Описание", "Описание"]),
    ("group.members", ["Members", "Członkowie", "Участники", "Членове"]),
    ("group.new", ["New group", "Nowa grupa", "Новая группа", "Нова група"]),
    ("group.none", ["No groups.", "Brak grup.", "Групп нет.", "Няма групи."]),
    ("camp.name", ["Name", "Nazwa", "Название", "Име"]),
    ("camp.new", ["New campaign", "Nowa kampania", "Новая рассылка", "Нова кампания"]),
    ("camp.none", ["No campaigns.", "Brak kampanii.", "Рассылок нет.", "Няма кампании."]),
    ("camp.audience", ["Audience", "Odbiorcy", "Аудитория", "Аудитория"]),
    ("camp.tags", ["#Tags", "#Tagi", "#Теги", "#Тагове"]),
    ("camp.numbers", ["Numbers", "Numery", "Номера", "Номера"]),
    ("camp.exclude", ["Exclude groups", "Wyklucz grupy", "Исключить группы", "Изключи групи"]),
    ("camp.schedule", ["Schedule", "Harmonogram", "Расписание", "График"]),
    (
        "camp.send_at",
        [
            "Start at (empty: now)",
            "Start o (puste: teraz)",
            "Начать в (пусто: сейчас)",
            "Начало в (празно: сега)",
        ],
    ),
    ("camp.recurring", ["Repeat", "Powtarzaj", "Повторять", "Повтаряй"]),
    ("camp.once", ["Once", "Jednorazowo", "Один раз", "Еднократно"]),
    ("camp.daily", ["Every day", "Codziennie", "Каждый день", "Всеки ден"]),
    ("camp.weekly", ["Every week", "Co tydzień", "Каждую неделю", "Всяка седмица"]),
    ("camp.monthly", ["Every month", "Co miesiąc", "Каждый месяц", "Всеки месец"]),
    ("camp.rrule", ["or an RRULE", "lub reguła RRULE", "или правило RRULE", "или правило RRULE"]),
    ("camp.time_zone", ["Time zone", "Strefa czasowa", "Часовой пояс", "Часова зона"]),
    (
        "camp.start_now",
        ["Start when saved", "Uruchom po zapisaniu", "Запустить после сохранения", "Стартирай при запис"],
    ),
    ("camp.next_run", ["Next run", "Następne uruchomienie", "Следующий запуск", "Следващо изпълнение"]),
    ("camp.runs", ["Runs", "Uruchomienia", "Запуски", "Изпълнения"]),
    ("camp.run", ["Run", "Uruchomienie", "Запуск", "Изпълнение"]),
    ("camp.recipients", ["Recipients", "Odbiorcy", "Получатели", "Получатели"]),
    ("camp.skipped", ["Skipped", "Pominięci", "Пропущено", "Пропуснати"]),
    ("camp.queued", ["Waiting", "Oczekujące", "Ожидают", "Чакащи"]),
    ("camp.replies", ["Replies", "Odpowiedzi", "Ответы", "Отговори"]),
    ("camp.estimate", ["Estimate", "Szacunek", "Оценка", "Оценка"]),
    ("camp.segments", ["Segments", "Części", "Части", "Части"]),
    (
        "camp.text_or_template",
        [
            "Text (or choose a template)",
            "Treść (lub wybierz szablon)",
            "Текст (или выберите шаблон)",
            "Текст (или изберете шаблон)",
        ],
    ),
    ("camp.errors", ["Refused numbers", "Odrzucone numery", "Отклонённые номера", "Отхвърлени номера"]),
    ("camp.started", ["Started", "Rozpoczęto", "Начато", "Започнато"]),
    ("camp.finished_at", ["Finished", "Zakończono", "Завершено", "Завършено"]),
    ("nav.numbers", ["Numbers", "Numery", "Номера", "Номера"]),
    ("nav.polls", ["Polls", "Ankiety", "Опросы", "Анкети"]),
    ("nav.inbox", ["Inbox", "Odebrane", "Входящие", "Входящи"]),
    (
        "num.title",
        [
            "Numbers and keywords",
            "Numery i słowa kluczowe",
            "Номера и ключевые слова",
            "Номера и ключови думи",
        ],
    ),
    ("num.none", ["No numbers yet.", "Brak numerów.", "Номеров пока нет.", "Все още няма номера."]),
    (
        "num.number",
        ["Number or short code", "Numer lub krótki kod", "Номер или короткий код", "Номер или кратък код"],
    ),
    ("num.kind", ["Kind", "Rodzaj", "Тип", "Вид"]),
    ("num.dedicated", ["dedicated", "dedykowany", "выделенный", "собствен"]),
    ("num.shared", ["shared", "współdzielony", "общий", "споделен"]),
    ("num.connectors", ["Connectors", "Połączenia", "Подключения", "Връзки"]),
    ("num.any_connector", ["any", "dowolne", "любые", "всички"]),
    (
        "num.default",
        ["When nothing matches", "Gdy nic nie pasuje", "Если ничего не подошло", "Когато нищо не съвпада"],
    ),
    ("num.new", ["New number", "Nowy numer", "Новый номер", "Нов номер"]),
    ("num.keywords", ["Keywords", "Słowa kluczowe", "Ключевые слова", "Ключови думи"]),
    (
        "num.no_keywords",
        [
            "No keywords on this number.",
            "Brak słów kluczowych dla tego numeru.",
            "У этого номера нет ключевых слов.",
            "Този номер няма ключови думи.",
        ],
    ),
    ("num.keyword", ["Keyword", "Słowo kluczowe", "Ключевое слово", "Ключова дума"]),
    ("num.new_keyword", ["New keyword", "Nowe słowo kluczowe", "Новое ключевое слово", "Нова ключова дума"]),
    ("num.match_type", ["Match", "Dopasowanie", "Совпадение", "Съвпадение"]),
    ("num.match.base", ["first word", "pierwsze słowo", "первое слово", "първата дума"]),
    ("num.match.exact", ["whole message", "cała wiadomość", "всё сообщение", "цялото съобщение"]),
    ("num.match.phrase", ["contains the phrase", "zawiera frazę", "содержит фразу", "съдържа фразата"]),
    (
        "num.match.remove",
        [
            "opt-out from this keyword",
            "wypisanie z tego słowa",
            "отписка от этого слова",
            "отписване от тази дума",
        ],
    ),
    ("num.priority", ["Priority", "Priorytet", "Приоритет", "Приоритет"]),
    ("num.actions", ["Actions", "Działania", "Действия", "Действия"]),
    (
        "num.add_group",
        [
            "Add the sender to group",
            "Dodaj nadawcę do grupy",
            "Добавить отправителя в группу",
            "Добави подателя в група",
        ],
    ),
    (
        "num.remove_group",
        [
            "Remove the sender from group",
            "Usuń nadawcę z grupy",
            "Убрать отправителя из группы",
            "Премахни подателя от група",
        ],
    ),
    ("num.reply", ["Reply with", "Odpowiedz treścią", "Ответить текстом", "Отговори с"]),
    (
        "num.forward_url",
        [
            "Forward to URL (webhook)",
            "Przekaż na URL (webhook)",
            "Переслать на URL (webhook)",
            "Препрати към URL (webhook)",
        ],
    ),
    (
        "num.forward_phone",
        ["Forward to phone", "Przekaż na telefon", "Переслать на телефон", "Препрати към телефон"],
    ),
    (
        "num.notify_phone",
        ["Tell a person by SMS", "Powiadom osobę SMS-em", "Уведомить человека по SMS", "Уведоми човек с SMS"],
    ),
    (
        "num.forward_email",
        ["Forward to e-mail", "Przekaż na e-mail", "Переслать на e-mail", "Препрати към имейл"],
    ),
    (
        "num.notify_email",
        [
            "Tell a person by e-mail",
            "Powiadom osobę e-mailem",
            "Уведомить человека по e-mail",
            "Уведоми човек по имейл",
        ],
    ),
    ("num.opt_outs", ["Opted-out numbers", "Wypisane numery", "Отписавшиеся номера", "Отписани номера"]),
    (
        "num.no_opt_outs",
        ["Nobody has opted out.", "Nikt się nie wypisał.", "Никто не отписался.", "Никой не се е отписал."],
    ),
    ("num.opted_out_at", ["Opted out", "Wypisany", "Отписан", "Отписан"]),
    ("num.opt_out_add", ["Opt a number out", "Wypisz numer", "Отписать номер", "Отпиши номер"]),
    ("num.opt_in", ["Opt back in", "Przywróć", "Вернуть подписку", "Върни абонамента"]),
    ("num.phone", ["Phone number", "Numer telefonu", "Номер телефона", "Телефонен номер"]),
    ("action_kind.add_to_group", ["Add to group", "Dodaj do grupy", "Добавить в группу", "Добави в група"]),
    (
        "action_kind.remove_from_group",
        ["Remove from group", "Usuń z grupy", "Убрать из группы", "Премахни от група"],
    ),
    ("action_kind.reply", ["Reply", "Odpowiedź", "Ответ", "Отговор"]),
    ("action_kind.forward", ["Forward", "Przekaż", "Переслать", "Препрати"]),
    ("action_kind.notify", ["Notify", "Powiadom", "Уведомить", "Уведоми"]),
    ("action_kind.poll_answer", ["Vote in poll", "Głos w ankiecie", "Голос в опросе", "Глас в анкета"]),
    (
        "num.poll",
        [
            "Record as a vote in poll (name)",
            "Zapisz jako głos w ankiecie (nazwa)",
            "Записать как голос в опросе (название)",
            "Запиши като глас в анкета (име)",
        ],
    ),
    ("poll.title", ["Polls and contests", "Ankiety i konkursy", "Опросы и конкурсы", "Анкети и конкурси"]),
    (
        "poll.intro",
        [
            "People vote by SMS: give a keyword the action “Vote in poll”.",
            "Głosuje się SMS-em: nadaj słowu kluczowemu akcję „Głos w ankiecie”.",
            "Голосуют по SMS: добавьте ключевому слову действие «Голос в опросе».",
            "Гласува се с SMS: дайте на ключова дума действие „Глас в анкета“.",
        ],
    ),
    ("poll.none", ["No polls yet.", "Brak ankiet.", "Опросов пока нет.", "Още няма анкети."]),
    ("poll.new", ["New poll", "Nowa ankieta", "Новый опрос", "Нова анкета"]),
    ("poll.edit", ["Change the poll", "Zmień ankietę", "Изменить опрос", "Промени анкетата"]),
    ("poll.name", ["Name", "Nazwa", "Название", "Име"]),
    ("poll.question", ["Question", "Pytanie", "Вопрос", "Въпрос"]),
    ("poll.answers", ["Answers", "Odpowiedzi", "Ответы", "Отговори"]),
    (
        "poll.answers_help",
        [
            "One per line: “A: Pizza”, or just “Pizza” (gets the next letter). Voters send the key or the text.",
            "Jedna w wierszu: „A: Pizza” albo samo „Pizza” (dostaje kolejną literę). Głosujący wysyłają klucz lub tekst.",
            "По одному в строке: «A: Пицца» или просто «Пицца» (получит следующую букву). Голосуют ключом или текстом.",
            "По един на ред: „A: Пица“ или само „Пица“ (получава следващата буква). Гласува се с ключа или текста.",
        ],
    ),
    ("poll.opens_at", ["Opens", "Otwarcie", "Открытие", "Отваря"]),
    ("poll.closes_at", ["Closes", "Zamknięcie", "Закрытие", "Затваря"]),
    ("poll.policy", ["Votes per number", "Głosy z numeru", "Голоса с номера", "Гласове от номер"]),
    (
        "poll.policy_first",
        ["One vote per number", "Jeden głos z numeru", "Один голос с номера", "Един глас от номер"],
    ),
    (
        "poll.policy_last",
        [
            "The last vote counts",
            "Liczy się ostatni głos",
            "Считается последний голос",
            "Важи последният глас",
        ],
    ),
    (
        "poll.correct",
        [
            "Correct answer (contest)",
            "Poprawna odpowiedź (konkurs)",
            "Правильный ответ (конкурс)",
            "Верен отговор (конкурс)",
        ],
    ),
    (
        "poll.correct_help",
        [
            "The key of the correct answer makes the poll a contest with a winner draw; leave empty for a poll.",
            "Klucz poprawnej odpowiedzi robi z ankiety konkurs z losowaniem; puste pole — zwykła ankieta.",
            "Ключ правильного ответа делает опрос конкурсом с розыгрышем; пусто — обычный опрос.",
            "Ключът на верния отговор прави анкетата конкурс с теглене; празно — обикновена анкета.",
        ],
    ),
    (
        "poll.replies",
        ["Replies to voters", "Odpowiedzi dla głosujących", "Ответы голосующим", "Отговори на гласуващите"],
    ),
    ("poll.reply_counted", ["Vote counted", "Głos policzony", "Голос учтён", "Гласът е отчетен"]),
    ("poll.reply_duplicate", ["Already voted", "Już głosował", "Уже голосовал", "Вече е гласувал"]),
    (
        "poll.reply_closed",
        ["Poll not open", "Ankieta nieotwarta", "Опрос не открыт", "Анкетата не е отворена"],
    ),
    ("poll.reply_invalid", ["Not an answer", "To nie odpowiedź", "Не ответ", "Не е отговор"]),
    ("poll.contest", ["contest", "konkurs", "конкурс", "конкурс"]),
    ("poll.scheduled", ["Not open yet", "Jeszcze nieotwarta", "Ещё не открыт", "Още не е отворена"]),
    ("poll.open", ["Open", "Otwarta", "Открыт", "Отворена"]),
    ("poll.closed", ["Closed", "Zamknięta", "Закрыт", "Затворена"]),
    ("poll.results", ["Results", "Wyniki", "Результаты", "Резултати"]),
    ("poll.votes", ["votes", "głosów", "голосов", "гласа"]),
    ("poll.answer", ["Answer", "Odpowiedź", "Ответ", "Отговор"]),
    ("poll.not_counted", ["Not counted", "Niepoliczone", "Не учтены", "Неотчетени"]),
    ("poll.replaced", ["replaced", "zastąpione", "заменены", "заменени"]),
    ("poll.duplicate", ["repeated", "powtórzone", "повторные", "повторни"]),
    ("poll.early", ["too early", "za wcześnie", "слишком рано", "твърде рано"]),
    ("poll.late", ["too late", "za późno", "слишком поздно", "твърде късно"]),
    ("poll.invalid", ["not an answer", "nie odpowiedź", "не ответ", "не е отговор"]),
    ("poll.entrants", ["Correct entrants", "Poprawne zgłoszenia", "Правильные ответы", "Верни участници"]),
    ("poll.draws", ["Winner draws", "Losowania zwycięzców", "Розыгрыши", "Тегления на победители"]),
    ("poll.draw", ["Draw winners", "Losuj zwycięzców", "Разыграть", "Изтегли победители"]),
    ("poll.drawn_at", ["Drawn", "Wylosowano", "Разыграно", "Изтеглено"]),
    ("poll.winners", ["Winners", "Zwycięzcy", "Победители", "Победители"]),
    ("poll.seed", ["Seed", "Ziarno", "Зерно", "Зърно"]),
    ("inbox.title", ["Inbox", "Odebrane", "Входящие", "Входящи"]),
    (
        "inbox.none",
        [
            "Nothing received yet.",
            "Nic jeszcze nie odebrano.",
            "Пока ничего не получено.",
            "Все още нищо не е получено.",
        ],
    ),
    ("inbox.received", ["Received", "Odebrano", "Получено", "Получено"]),
    ("inbox.from", ["From", "Od", "От", "От"]),
    ("inbox.to", ["To number", "Na numer", "На номер", "На номер"]),
    ("inbox.reply", ["Reply", "Odpowiedz", "Ответить", "Отговори"]),
    ("inbox.group", ["Group", "Grupa", "Группа", "Група"]),
    ("nav.reports", ["Reports", "Raporty", "Отчёты", "Отчети"]),
    ("report.by", ["Group by", "Grupuj według", "Группировать по", "Групирай по"]),
    ("report.by_day", ["Day", "Dzień", "День", "Ден"]),
    ("report.by_status", ["Status", "Status", "Статус", "Статус"]),
    ("report.by_connector", ["Connector", "Połączenie", "Подключение", "Връзка"]),
    ("report.by_country", ["Country", "Kraj", "Страна", "Държава"]),
    ("report.from", ["From day", "Od dnia", "С даты", "От дата"]),
    ("report.to", ["To day", "Do dnia", "По дату", "До дата"]),
    ("report.sent", ["Sent", "Wysłane", "Отправлено", "Изпратени"]),
    ("report.delivered", ["Delivered", "Doręczone", "Доставлено", "Доставени"]),
    ("report.undelivered", ["Undelivered", "Niedoręczone", "Не доставлено", "Недоставени"]),
    ("report.failed", ["Failed", "Błędy", "Ошибки", "Неуспешни"]),
    ("report.waiting", ["Waiting", "Oczekujące", "Ожидают", "Чакащи"]),
    ("report.canceled", ["Canceled", "Anulowane", "Отменено", "Отменени"]),
    ("report.received", ["Received", "Odebrane", "Получено", "Получени"]),
    (
        "report.keywords",
        [
            "Keyword popularity",
            "Popularność słów kluczowych",
            "Популярность ключевых слов",
            "Популярност на ключовите думи",
        ],
    ),
    ("report.keyword", ["Keyword", "Słowo kluczowe", "Ключевое слово", "Ключова дума"]),
    ("report.number", ["Number", "Numer", "Номер", "Номер"]),
    (
        "report.matches",
        ["Matched messages", "Dopasowane wiadomości", "Совпавшие сообщения", "Съвпаднали съобщения"],
    ),
    (
        "report.no_keywords",
        [
            "No keywords yet.",
            "Brak słów kluczowych.",
            "Ключевых слов пока нет.",
            "Все още няма ключови думи.",
        ],
    ),
    (
        "report.inbound",
        ["Received per number", "Odebrane na numer", "Получено по номерам", "Получени по номер"],
    ),
    ("report.senders", ["Senders", "Nadawcy", "Отправители", "Податели"]),
    (
        "report.no_inbound",
        [
            "No numbers and nothing received.",
            "Brak numerów i odebranych wiadomości.",
            "Нет номеров и входящих сообщений.",
            "Няма номера и получени съобщения.",
        ],
    ),
    (
        "prefs.title",
        [
            "Notification preferences",
            "Ustawienia powiadomień",
            "Настройки уведомлений",
            "Настройки на известията",
        ],
    ),
    ("prefs.for", ["For", "Dla", "Для", "За"]),
    (
        "prefs.saved",
        [
            "Your choices were saved.",
            "Twoje wybory zostały zapisane.",
            "Ваш выбор сохранён.",
            "Изборът ви е запазен.",
        ],
    ),
    (
        "prefs.save_failed",
        [
            "Saving failed; please try again.",
            "Zapis się nie udał; spróbuj ponownie.",
            "Не удалось сохранить; попробуйте ещё раз.",
            "Записът не успя; опитайте отново.",
        ],
    ),
    (
        "prefs.gone",
        [
            "This link is not valid or has expired. Ask for a new one.",
            "Ten link jest nieważny lub wygasł. Poproś o nowy.",
            "Ссылка недействительна или устарела. Запросите новую.",
            "Връзката е невалидна или е изтекла. Поискайте нова.",
        ],
    ),
    ("prefs.sms", ["SMS", "SMS", "SMS", "SMS"]),
    ("prefs.email", ["E-mail", "E-mail", "Эл. почта", "Имейл"]),
    ("prefs.when", ["When", "Kiedy", "Когда", "Кога"]),
    ("prefs.from", ["From", "Od", "С", "От"]),
    ("prefs.until", ["until", "do", "до", "до"]),
    (
        "prefs.any_time",
        [
            "Leave both empty to get messages at any time.",
            "Zostaw oba puste, aby dostawać wiadomości o każdej porze.",
            "Оставьте оба поля пустыми, чтобы получать сообщения в любое время.",
            "Оставете двете празни, за да получавате съобщения по всяко време.",
        ],
    ),
    ("prefs.also", ["Also send to", "Wysyłaj też na", "Также отправлять на", "Изпращай също до"]),
    ("prefs.extra_phone", ["Another phone", "Inny telefon", "Другой телефон", "Друг телефон"]),
    ("prefs.extra_email", ["Another e-mail", "Inny e-mail", "Другой e-mail", "Друг имейл"]),
    ("conv.title", ["Conversations", "Rozmowy", "Переписки", "Разговори"]),
    ("conv.last", ["Last message", "Ostatnia wiadomość", "Последнее сообщение", "Последно съобщение"]),
    ("conv.reply", ["Reply", "Odpowiedź", "Ответ", "Отговор"]),
    ("conv.from", ["from", "z numeru", "с номера", "от номер"]),
    ("conv.send", ["Send reply", "Wyślij odpowiedź", "Отправить ответ", "Изпрати отговор"]),
    (
        "conv.transactional",
        [
            "An answer to their question: send even if they opted out of marketing",
            "Odpowiedź na pytanie: wyślij mimo wypisania z marketingu",
            "Ответ на вопрос: отправить, даже если отписался от рассылок",
            "Отговор на въпрос: изпрати дори при отписване от маркетинг",
        ],
    ),
    ("conv.open", ["Conversation", "Rozmowa", "Переписка", "Разговор"]),
    ("error.title", ["Something is wrong", "Coś poszło nie tak", "Что-то не так", "Нещо не е наред"]),
    ("error.back", ["Back", "Wstecz", "Назад", "Назад"]),
    ("common.none", ["—", "—", "—", "—"]),
    ("common.yes", ["yes", "tak", "да", "да"]),
    ("common.no", ["no", "nie", "нет", "не"]),
    ("common.total", ["Total", "Razem", "Всего", "Общо"]),
    ("nav.users", ["Users", "Użytkownicy", "Пользователи", "Потребители"]),
    ("users.title", ["Users", "Użytkownicy", "Пользователи", "Потребители"]),
    ("users.username", ["Username", "Nazwa użytkownika", "Имя пользователя", "Потребителско име"]),
    ("users.display_name", ["Name", "Imię i nazwisko", "Имя", "Име"]),
    ("users.role", ["Role", "Rola", "Роль", "Роля"]),
    ("users.groups", ["User groups", "Grupy użytkowników", "Группы пользователей", "Групи потребители"]),
    ("users.state", ["State", "Stan", "Состояние", "Състояние"]),
    ("users.active", ["active", "aktywny", "активен", "активен"]),
    ("users.locked", ["locked until", "zablokowany do", "заблокирован до", "заключен до"]),
    ("users.disabled", ["disabled", "wyłączony", "отключён", "изключен"]),
    ("users.reset", ["Reset password", "Resetuj hasło", "Сбросить пароль", "Нулирай паролата"]),
    ("users.disable", ["Disable", "Wyłącz", "Отключить", "Изключи"]),
    ("users.enable", ["Enable", "Włącz", "Включить", "Включи"]),
    ("users.new", ["New user", "Nowy użytkownik", "Новый пользователь", "Нов потребител"]),
    (
        "users.password_hint",
        [
            "At least 10 characters. Leave empty to generate one, shown once.",
            "Co najmniej 10 znaków. Puste: hasło zostanie wygenerowane i pokazane raz.",
            "Не менее 10 символов. Пусто: пароль будет создан и показан один раз.",
            "Поне 10 знака. Празно: паролата се генерира и показва веднъж.",
        ],
    ),
    (
        "users.shown_password",
        [
            "New password, shown only now, for",
            "Nowe hasło, pokazane tylko teraz, dla",
            "Новый пароль, показан только сейчас, для",
            "Нова парола, показана само сега, за",
        ],
    ),
    ("keys.title", ["API keys", "Klucze API", "Ключи API", "API ключове"]),
    ("keys.name", ["Name", "Nazwa", "Название", "Име"]),
    ("keys.user", ["User", "Użytkownik", "Пользователь", "Потребител"]),
    ("keys.prefix", ["Key", "Klucz", "Ключ", "Ключ"]),
    ("keys.scopes", ["Scopes", "Zakresy", "Области", "Обхват"]),
    ("keys.allowed_ips", ["Allowed addresses", "Dozwolone adresy", "Разрешённые адреса", "Разрешени адреси"]),
    ("keys.last_used", ["Last used", "Ostatnio użyty", "Последнее использование", "Последно използван"]),
    ("keys.revoked", ["revoked", "unieważniony", "отозван", "отменен"]),
    ("keys.revoke", ["Revoke", "Unieważnij", "Отозвать", "Отмени"]),
    ("keys.new", ["New API key", "Nowy klucz API", "Новый ключ API", "Нов API ключ"]),
    ("keys.expires", ["Expires", "Wygasa", "Истекает", "Изтича"]),
    ("keys.expired", ["expired", "wygasł", "истёк", "изтекъл"]),
    ("keys.never", ["never", "nigdy", "никогда", "никога"]),
    (
        "keys.shown",
        [
            "The new key, shown only now; copy it:",
            "Nowy klucz, pokazany tylko teraz; skopiuj go:",
            "Новый ключ, показан только сейчас; скопируйте его:",
            "Новият ключ, показан само сега; копирайте го:",
        ],
    ),
    ("audit.title", ["Audit log", "Dziennik zdarzeń", "Журнал аудита", "Журнал на действията"]),
    ("audit.when", ["When", "Kiedy", "Когда", "Кога"]),
    ("audit.who", ["Who", "Kto", "Кто", "Кой"]),
    ("audit.what", ["What", "Co", "Что", "Какво"]),
    ("audit.from", ["From", "Skąd", "Откуда", "Откъде"]),
    ("audit.via", ["Via", "Przez", "Через", "Чрез"]),
    ("audit.result", ["Result", "Wynik", "Результат", "Резултат"]),
    ("audit.none", ["Nothing recorded.", "Brak wpisów.", "Записей нет.", "Няма записи."]),
    ("audit.filter", ["Filter", "Filtruj", "Фильтр", "Филтър"]),
    ("audit.older", ["Older", "Starsze", "Старше", "По-стари"]),
    (
        "camp.own_numbers",
        [
            "Your verified numbers",
            "Twoje zweryfikowane numery",
            "Ваши подтверждённые номера",
            "Вашите потвърдени номера",
        ],
    ),
    (
        "camp.run_failed",
        [
            "This run failed:",
            "Ta tura nie powiodła się:",
            "Этот запуск не выполнен:",
            "Това изпълнение е неуспешно:",
        ],
    ),
    ("perm.title", ["Permissions", "Uprawnienia", "Права", "Права"]),
    ("perm.edit", ["Edit", "Edytuj", "Изменить", "Редактирай"]),
    (
        "perm.explain",
        [
            "Whom a user may message: the contact groups and #tags they may send to, and whether any number. A user with no rule (their own or through a user group) is not restricted; with rules, all of them together apply. Owners and admins are never restricted.",
            "Do kogo użytkownik może wysyłać: grupy kontaktów i #tagi oraz czy na dowolny numer. Użytkownik bez reguły (własnej ani przez grupę użytkowników) nie ma ograniczeń; przy kilku regułach obowiązują wszystkie razem. Właściciele i administratorzy nie mają ograniczeń.",
            "Кому пользователь может писать: группы контактов и #теги, и можно ли на любой номер. Пользователь без правила (своего или через группу пользователей) не ограничен; при нескольких правилах действуют все вместе. Владельцы и администраторы не ограничены.",
            "На кого потребителят може да пише: групи контакти и #тагове, и дали на всеки номер. Потребител без правило (свое или чрез група потребители) не е ограничен; при няколко правила важат всички заедно. Собствениците и администраторите не са ограничени.",
        ],
    ),
    (
        "perm.groups",
        [
            "Contact groups they may send to",
            "Grupy kontaktów, do których może wysyłać",
            "Группы контактов, которым можно писать",
            "Групи контакти, на които може да пише",
        ],
    ),
    (
        "perm.no_groups",
        [
            "The account has no contact groups yet.",
            "Konto nie ma jeszcze grup kontaktów.",
            "У аккаунта пока нет групп контактов.",
            "Акаунтът още няма групи контакти.",
        ],
    ),
    (
        "perm.tags",
        [
            "#Tags they may send to",
            "#Tagi, do których może wysyłać",
            "#Теги, которым можно писать",
            "#Тагове, на които може да пише",
        ],
    ),
    (
        "perm.tags_hint",
        [
            "Separated by commas or spaces, e.g. #night, #day",
            "Oddzielone przecinkami lub spacjami, np. #noc, #dzien",
            "Через запятую или пробел, например #night, #day",
            "Разделени със запетаи или интервали, напр. #night, #day",
        ],
    ),
    (
        "perm.any_number",
        [
            "May send to any number (also outside these groups and tags)",
            "Może wysyłać na dowolny numer (także spoza tych grup i tagów)",
            "Может писать на любой номер (и вне этих групп и тегов)",
            "Може да пише на всеки номер (и извън тези групи и тагове)",
        ],
    ),
    ("perm.any_number_short", ["any number", "dowolny numer", "любой номер", "всеки номер"]),
    ("perm.unrestricted", ["not restricted", "bez ograniczeń", "без ограничений", "без ограничения"]),
    (
        "perm.has_rule",
        [
            "A rule is set; saving replaces it.",
            "Reguła jest ustawiona; zapis ją zastąpi.",
            "Правило задано; сохранение заменит его.",
            "Има зададено правило; записът го заменя.",
        ],
    ),
    (
        "perm.no_rule",
        [
            "No rule: not restricted by this subject. Saving sets one.",
            "Brak reguły: bez ograniczeń z tego tytułu. Zapis ją ustawi.",
            "Правила нет: ограничений с этой стороны нет. Сохранение задаст его.",
            "Няма правило: без ограничения оттук. Записът задава такова.",
        ],
    ),
    ("perm.remove", ["Remove the rule", "Usuń regułę", "Удалить правило", "Премахни правилото"]),
    (
        "perm.admin_unrestricted",
        [
            "This user is an owner or admin: a rule is kept but does not restrict them.",
            "Ten użytkownik jest właścicielem lub administratorem: reguła jest zapisana, ale go nie ogranicza.",
            "Этот пользователь — владелец или администратор: правило хранится, но не ограничивает его.",
            "Този потребител е собственик или администратор: правилото се пази, но не го ограничава.",
        ],
    ),
    ("prof.title", ["My profile", "Mój profil", "Мой профиль", "Моят профил"]),
    (
        "prof.preferences",
        ["Language and time zone", "Język i strefa czasowa", "Язык и часовой пояс", "Език и часова зона"],
    ),
    (
        "prof.browser_language",
        ["The browser's language", "Język przeglądarki", "Язык браузера", "Езикът на браузъра"],
    ),
    (
        "prof.time_zone_hint",
        [
            "Times on the pages are shown in it, e.g. Europe/Warsaw. Empty: UTC.",
            "W niej pokazywane są czasy na stronach, np. Europe/Warsaw. Puste: UTC.",
            "В нём показывается время на страницах, например Europe/Moscow. Пусто: UTC.",
            "В нея се показват часовете на страниците, напр. Europe/Sofia. Празно: UTC.",
        ],
    ),
    ("prof.password", ["Password", "Hasło", "Пароль", "Парола"]),
    ("prof.current_password", ["Current password", "Obecne hasło", "Текущий пароль", "Текуща парола"]),
    ("prof.new_password", ["New password", "Nowe hasło", "Новый пароль", "Нова парола"]),
    (
        "prof.password_hint",
        [
            "At least 10 characters. Changing it signs you out everywhere, here too.",
            "Co najmniej 10 znaków. Zmiana wylogowuje wszędzie, także tutaj.",
            "Не менее 10 символов. Смена пароля завершает все сеансы, и этот тоже.",
            "Поне 10 знака. Смяната ви отписва навсякъде, и тук.",
        ],
    ),
    ("prof.change_password", ["Change password", "Zmień hasło", "Сменить пароль", "Смени паролата"]),
    (
        "prof.numbers",
        [
            "My numbers as senders",
            "Moje numery jako nadawcy",
            "Мои номера как отправитель",
            "Моите номера като подател",
        ],
    ),
    (
        "prof.numbers_hint",
        [
            "Your own phone can be the sender of your messages once you enter the code Kurier sends to it.",
            "Własny telefon może być nadawcą Twoich wiadomości po wpisaniu kodu, który Kurier na niego wyśle.",
            "Ваш телефон может быть отправителем ваших сообщений после ввода кода, который Kurier на него пришлёт.",
            "Вашият телефон може да е подател на съобщенията ви, след като въведете кода, който Kurier му изпраща.",
        ],
    ),
    ("prof.phone", ["Number", "Numer", "Номер", "Номер"]),
    ("prof.verified", ["verified", "zweryfikowany", "подтверждён", "потвърден"]),
    ("prof.not_verified", ["waiting for the code", "czeka na kod", "ожидает код", "чака кода"]),
    ("prof.code", ["Code", "Kod", "Код", "Код"]),
    ("prof.verify", ["Verify", "Zweryfikuj", "Подтвердить", "Потвърди"]),
    ("prof.add_number", ["Add a number", "Dodaj numer", "Добавить номер", "Добави номер"]),
    (
        "prof.add_number_hint",
        [
            "Kurier sends it a one-time code by SMS; enter it here within 10 minutes.",
            "Kurier wyśle na niego jednorazowy kod SMS-em; wpisz go tutaj w ciągu 10 minut.",
            "Kurier пришлёт на него одноразовый код по SMS; введите его здесь в течение 10 минут.",
            "Kurier му изпраща еднократен код по SMS; въведете го тук до 10 минути.",
        ],
    ),
    ("prof.send_code", ["Send the code", "Wyślij kod", "Отправить код", "Изпрати кода"]),
    (
        "prof.code_sent",
        [
            "The code is on its way; enter it next to the number.",
            "Kod został wysłany; wpisz go obok numeru.",
            "Код отправлен; введите его рядом с номером.",
            "Кодът е изпратен; въведете го до номера.",
        ],
    ),
    (
        "prof.verified_now",
        [
            "The number is verified; it can be your sender now.",
            "Numer jest zweryfikowany; może już być nadawcą.",
            "Номер подтверждён; теперь он может быть отправителем.",
            "Номерът е потвърден; вече може да е подател.",
        ],
    ),
    ("snd.title", ["Sender IDs", "Nadawcy", "Имена отправителя", "Подателски имена"]),
    (
        "snd.explain",
        [
            "The senders the account's campaigns may use, and the default one for a campaign that names none.",
            "Nadawcy, których mogą używać kampanie konta, oraz domyślny dla kampanii bez nadawcy.",
            "Отправители, которые могут использовать кампании аккаунта, и отправитель по умолчанию для кампании без него.",
            "Подателите, които кампаниите на акаунта могат да ползват, и подразбиращият се за кампания без подател.",
        ],
    ),
    (
        "snd.none",
        [
            "No sender IDs yet: campaigns go out with the connector's own sender.",
            "Brak nadawców: kampanie wychodzą z nadawcą łącza.",
            "Отправителей пока нет: кампании уходят с отправителем коннектора.",
            "Още няма податели: кампаниите излизат с подателя на конектора.",
        ],
    ),
    ("snd.sender", ["Sender", "Nadawca", "Отправитель", "Подател"]),
    (
        "snd.sender_hint",
        [
            "Up to 11 letters and digits, or a number of up to 16 digits.",
            "Do 11 liter i cyfr albo numer do 16 cyfr.",
            "До 11 букв и цифр или номер до 16 цифр.",
            "До 11 букви и цифри или номер до 16 цифри.",
        ],
    ),
    ("snd.default", ["Default", "Domyślny", "По умолчанию", "По подразбиране"]),
    ("snd.is_default", ["default", "domyślny", "по умолчанию", "по подразбиране"]),
    ("snd.added", ["Added", "Dodano", "Добавлен", "Добавен"]),
    (
        "snd.make_default",
        ["Make default", "Ustaw jako domyślny", "Сделать по умолчанию", "Направи по подразбиране"],
    ),
    ("snd.new", ["Add a sender ID", "Dodaj nadawcę", "Добавить отправителя", "Добави подател"]),
    ("tpl.title", ["Templates", "Szablony", "Шаблоны", "Шаблони"]),
    (
        "tpl.explain",
        [
            "Texts with placeholders such as {{ contact.first_name }} or {{ data.amount | amount }}, filled in for each person when a campaign sends.",
            "Teksty z polami, np. {{ contact.first_name }} lub {{ data.amount | amount }}, wypełnianymi dla każdej osoby przy wysyłce kampanii.",
            "Тексты с подстановками, например {{ contact.first_name }} или {{ data.amount | amount }}, заполняемыми для каждого получателя при отправке кампании.",
            "Текстове с полета като {{ contact.first_name }} или {{ data.amount | amount }}, попълвани за всеки човек при изпращане на кампания.",
        ],
    ),
    ("tpl.none", ["No templates yet.", "Brak szablonów.", "Шаблонов пока нет.", "Още няма шаблони."]),
    ("tpl.name", ["Name", "Nazwa", "Название", "Име"]),
    ("tpl.body", ["Text", "Treść", "Текст", "Текст"]),
    (
        "tpl.body_hint",
        [
            "MiniJinja: {{ contact.name }}, {{ contact.<field> }}, {{ data.<name> }}, filters date and amount. Checked when saved.",
            "MiniJinja: {{ contact.name }}, {{ contact.<pole> }}, {{ data.<nazwa> }}, filtry date i amount. Sprawdzany przy zapisie.",
            "MiniJinja: {{ contact.name }}, {{ contact.<поле> }}, {{ data.<имя> }}, фильтры date и amount. Проверяется при сохранении.",
            "MiniJinja: {{ contact.name }}, {{ contact.<поле> }}, {{ data.<име> }}, филтри date и amount. Проверява се при запис.",
        ],
    ),
    ("tpl.updated", ["Changed", "Zmieniono", "Изменён", "Променен"]),
    ("tpl.new", ["New template", "Nowy szablon", "Новый шаблон", "Нов шаблон"]),
    ("tpl.preview", ["Preview", "Podgląd", "Предпросмотр", "Преглед"]),
    (
        "tpl.preview_phone",
        [
            "For the contact with the number",
            "Dla kontaktu o numerze",
            "Для контакта с номером",
            "За контакта с номер",
        ],
    ),
    (
        "tpl.preview_phone_hint",
        [
            "Its contact's fields fill the template, and the price is for this number. Empty: a sample number.",
            "Pola tego kontaktu wypełniają szablon, a cena dotyczy tego numeru. Puste: przykładowy numer.",
            "Поля этого контакта заполняют шаблон, цена — для этого номера. Пусто: пример номера.",
            "Полетата на контакта попълват шаблона, цената е за този номер. Празно: примерен номер.",
        ],
    ),
    ("tpl.data", ["Data (JSON)", "Dane (JSON)", "Данные (JSON)", "Данни (JSON)"]),
    (
        "tpl.data_hint",
        [
            "What a campaign would pass as data, e.g. {\"amount\": 120}",
            "To, co kampania przekaże jako data, np. {\"amount\": 120}",
            "То, что кампания передаст как data, например {\"amount\": 120}",
            "Каквото кампанията би подала като data, напр. {\"amount\": 120}",
        ],
    ),
    ("tpl.preview_button", ["Show preview", "Pokaż podgląd", "Показать", "Покажи"]),
    ("tpl.encoding", ["Encoding", "Kodowanie", "Кодировка", "Кодиране"]),
    ("tpl.segments", ["Segments", "Części", "Сегменты", "Сегменти"]),
    ("tpl.characters", ["Characters", "Znaki", "Символы", "Знаци"]),
    ("tpl.price", ["Price", "Cena", "Цена", "Цена"]),
    ("ug.title", ["User groups", "Grupy użytkowników", "Группы пользователей", "Групи потребители"]),
    (
        "ug.none",
        [
            "No user groups yet.",
            "Brak grup użytkowników.",
            "Групп пользователей пока нет.",
            "Още няма групи потребители.",
        ],
    ),
    ("ug.name", ["Name", "Nazwa", "Название", "Име"]),
    ("ug.members", ["Members", "Członkowie", "Участники", "Членове"]),
    (
        "ug.new",
        ["New user group", "Nowa grupa użytkowników", "Новая группа пользователей", "Нова група потребители"],
    ),
    ("users.edit", ["Role and groups", "Rola i grupy", "Роль и группы", "Роля и групи"]),
];

static MESSAGES: LazyLock<HashMap<&'static str, [&'static str; 4]>> =
    LazyLock::new(|| TABLE.iter().map(|(k, v)| (*k, *v)).collect());

/// Whether `key` has messages (for tests and the status fallback).
pub fn has(key: &str) -> bool {
    MESSAGES.contains_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_unique_and_translated_into_every_language() {
        let mut seen = std::collections::HashSet::new();
        for (key, texts) in TABLE {
            assert!(seen.insert(*key), "{key} is listed twice");
            for (i, t) in texts.iter().enumerate() {
                assert!(!t.trim().is_empty(), "{key} has no {} text", Locale::ALL[i].tag());
            }
        }
    }

    #[test]
    fn every_key_a_template_uses_exists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/ui");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "html" && e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, _) in text.match_indices(".t(\"") {
                let rest = &text[i + 4..];
                let key = &rest[..rest.find('"').unwrap()];
                assert!(has(key), "{} uses the unknown message key {key}", path.display());
                checked += 1;
            }
        }
        assert!(checked > 50, "only {checked} keys found; is the template folder right?");
    }

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        for (header, want) in [
            ("pl-PL,pl;q=0.9,en;q=0.8", Locale::Pl),
            ("de-DE,de;q=0.9,ru;q=0.5", Locale::Ru),
            ("en;q=0.4, bg;q=0.7", Locale::Bg),
            ("fr", Locale::En),
            ("", Locale::En),
            ("pl;q=0, ru", Locale::Ru),
            ("garbage;;;q=x", Locale::En),
        ] {
            assert_eq!(Locale::from_accept_language(header), want, "{header}");
        }
    }

    #[test]
    fn numbers_are_grouped_the_way_each_locale_writes_them() {
        assert_eq!(Locale::En.number(1_234_567), "1,234,567");
        assert_eq!(Locale::Pl.number(1_234_567), "1\u{a0}234\u{a0}567");
        assert_eq!(Locale::Ru.number(-1000), "-1\u{a0}000");
        assert_eq!(Locale::Bg.number(999), "999");
        assert_eq!(Locale::En.number(0), "0");
    }

    #[test]
    fn money_is_written_the_way_each_locale_writes_it() {
        assert_eq!(Locale::En.money("1234.50", "EUR"), "EUR\u{a0}1,234.50");
        assert_eq!(Locale::Pl.money("1234.50", "PLN"), "1\u{a0}234,50\u{a0}PLN");
        assert_eq!(Locale::Bg.money("-0.05", "BGN"), "-0,05\u{a0}BGN");
        assert_eq!(Locale::Ru.money("7", "JPY"), "7\u{a0}JPY");
        assert_eq!(Locale::En.money("x", "EUR"), "x EUR");
    }

    #[test]
    fn times_are_shown_in_the_users_zone_and_locale() {
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 8, 5, 0).unwrap();
        let warsaw: Tz = "Europe/Warsaw".parse().unwrap();
        let sofia: Tz = "Europe/Sofia".parse().unwrap();
        assert_eq!(Locale::En.datetime(at, Tz::UTC), "24 Nov 2026, 08:05");
        assert_eq!(Locale::Pl.datetime(at, warsaw), "24.11.2026 09:05");
        assert_eq!(Locale::Bg.datetime(at, sofia), "24.11.2026 г. 10:05");
    }
}
