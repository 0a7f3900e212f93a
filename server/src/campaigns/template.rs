//! Message templates: `{{ contact.name }}`, custom fields and data passed
//! with the send, rendered per recipient by MiniJinja in a sandbox.
//!
//! A [`MessageTemplate`] is valid by construction: its syntax parses and
//! every variable it reads is one Kurier provides (`contact.<attribute or
//! custom field>`, `data.<anything>`), else the error names the line and
//! column. Rendering has no file or network access (no loader is set, so
//! `include`/`import` fail), a fuel budget bounds its work and the output
//! is capped, so a user's template cannot hang or flood a worker.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::AssertUnwindSafe;

use chrono::{DateTime, NaiveDate};
use minijinja::value::{Kwargs, Serde, Value};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};

use crate::storage::{ContactRecord, FieldValue};

/// Longest template source accepted.
pub const MAX_TEMPLATE_LEN: usize = 4_000;
/// Longest rendered text; past it rendering stops with an error. The text
/// is then still checked against `messages.max_segments`.
pub const MAX_RENDERED_LEN: usize = 10_000;
/// Work one rendering may do (MiniJinja fuel: about one unit per
/// instruction); enough for loops over a few hundred items.
const FUEL: u64 = 20_000;
/// Nesting depth of blocks and calls at most.
const RECURSION_LIMIT: usize = 30;

/// The contact attributes every template may read, besides custom fields.
pub const CONTACT_ATTRIBUTES: &[&str] =
    &["id", "phone", "name", "first_name", "email", "language", "time_zone", "external_id"];

/// A template that parsed and reads only variables that exist.
pub struct MessageTemplate {
    env: Environment<'static>,
    source: String,
}

impl fmt::Debug for MessageTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageTemplate").field("source", &self.source).finish()
    }
}

/// Why a template was refused, with where in its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// 1-based line and column; `None` when the error has no place.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for TemplateError {}

/// Why rendering for one recipient failed (a value missing from `data`, a
/// filter given a bad value, too much output or work).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError(pub String);

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RenderError {}

impl MessageTemplate {
    /// Parses `source` and checks its variables against the contact
    /// attributes and the account's custom fields (`fields`).
    pub fn parse(source: &str, fields: &[String]) -> Result<Self, TemplateError> {
        if source.trim().is_empty() {
            return Err(TemplateError { line: None, column: None, message: "the template is empty".into() });
        }
        if source.chars().count() > MAX_TEMPLATE_LEN {
            return Err(TemplateError {
                line: None,
                column: None,
                message: format!("a template is at most {MAX_TEMPLATE_LEN} characters"),
            });
        }
        let mut env = environment();
        env.add_template_owned("t", source.to_owned()).map_err(|e| syntax_error(source, &e))?;
        let template = env.get_template("t").map_err(|e| syntax_error(source, &e))?;
        let mut unknown: Vec<String> = template
            .undeclared_variables(true)
            .into_iter()
            .filter(|v| !is_known_variable(v, fields) && !is_global(&env, v))
            .collect();
        unknown.sort();
        if let Some(name) = unknown.first() {
            let (line, column) = position_of(source, name);
            let known = if name.starts_with("contact.") {
                let mut all: Vec<&str> = CONTACT_ATTRIBUTES.to_vec();
                all.extend(fields.iter().map(String::as_str));
                format!("; a contact has: {}", all.join(", "))
            } else {
                "; use contact.<field> or data.<name>".into()
            };
            return Err(TemplateError { line, column, message: format!("unknown variable '{name}'{known}") });
        }
        drop(template);
        // A trial with every variable present finds unknown filters and
        // tests, which MiniJinja only looks up when they run.
        let mut trial = env.clone();
        trial.set_undefined_behavior(UndefinedBehavior::Chainable);
        if let Err(e) = render_in(&trial, sample_context(fields)) {
            let is_lookup = matches!(e.kind(), ErrorKind::UnknownFilter | ErrorKind::UnknownTest);
            if is_lookup || e.kind() == ErrorKind::SyntaxError {
                return Err(syntax_error(source, &e));
            }
        }
        Ok(Self { env, source: source.to_owned() })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether `source` holds template syntax (`{{`, `{%`, `{#`): without
    /// any, it renders as it is written.
    pub fn has_syntax(source: &str) -> bool {
        ["{{", "{%", "{#"].iter().any(|d| source.contains(d))
    }

    /// The text for one recipient.
    pub fn render(&self, contact: &TemplateContact, data: &serde_json::Value) -> Result<String, RenderError> {
        let ctx = BTreeMap::from([
            ("contact", Value::from(contact.values.clone())),
            ("data", Value::from(Serde(data))),
        ]);
        // A template is the user's code: should a filter of ours still
        // panic on some value, that recipient fails, not the worker that
        // renders for every campaign.
        let rendered = std::panic::catch_unwind(AssertUnwindSafe(|| render_in(&self.env, Value::from(ctx))));
        match rendered {
            Ok(result) => result.map_err(|e| render_error(&e, &self.source)),
            Err(_) => {
                tracing::error!(template = %self.source, "rendering a template panicked");
                Err(RenderError("the template could not be rendered (an internal error, logged)".into()))
            }
        }
    }
}

fn render_in(env: &Environment<'static>, ctx: Value) -> Result<String, Error> {
    let out = env.get_template("t")?.render(ctx)?;
    if out.len() > MAX_RENDERED_LEN {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("the rendered text is longer than {MAX_RENDERED_LEN} bytes"),
        ));
    }
    Ok(out.trim().to_owned())
}

/// A contact as templates see it: attributes and custom fields by name.
#[derive(Debug, Clone, Default)]
pub struct TemplateContact {
    values: BTreeMap<String, Value>,
    /// The contact's language, for formatting amounts and dates.
    pub language: Option<String>,
}

impl TemplateContact {
    pub fn from_record(c: &ContactRecord) -> Self {
        let mut values = BTreeMap::new();
        let text = |v: &Option<String>| Value::from(v.clone().unwrap_or_default());
        values.insert("id".into(), Value::from(c.id.clone()));
        values.insert("phone".into(), Value::from(c.phone.clone()));
        values.insert("name".into(), text(&c.name));
        let first = c.name.as_deref().and_then(|n| n.split_whitespace().next()).unwrap_or("");
        values.insert("first_name".into(), Value::from(first));
        values.insert("email".into(), text(&c.email));
        values.insert("language".into(), text(&c.language));
        values.insert("time_zone".into(), text(&c.time_zone));
        values.insert("external_id".into(), text(&c.external_id));
        for (name, value) in &c.fields {
            let v = match value {
                FieldValue::Text(s) => Value::from(s.clone()),
                FieldValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => Value::from(*n as i64),
                FieldValue::Number(n) => Value::from(*n),
                FieldValue::Date(d) => Value::from(d.format("%Y-%m-%d").to_string()),
                FieldValue::Boolean(b) => Value::from(*b),
            };
            values.insert(name.clone(), v);
        }
        Self { values, language: c.language.clone() }
    }

    /// A recipient who is not in the address book: only the number is known.
    pub fn number_only(phone: &str) -> Self {
        let mut values: BTreeMap<String, Value> =
            CONTACT_ATTRIBUTES.iter().map(|a| ((*a).to_owned(), Value::from(""))).collect();
        values.insert("phone".into(), Value::from(phone));
        Self { values, language: None }
    }

    /// Custom fields the contact has no value for render as empty text.
    pub fn with_missing_fields(mut self, fields: &[String]) -> Self {
        for f in fields {
            self.values.entry(f.clone()).or_insert_with(|| Value::from(""));
        }
        self
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Message texts are plain text: no HTML escaping.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_filter("date", date_filter);
    env.add_filter("amount", amount_filter);
    env
}

fn is_known_variable(name: &str, fields: &[String]) -> bool {
    let mut parts = name.split('.');
    match (parts.next(), parts.next()) {
        (Some("data"), _) => true,
        (Some("contact"), None) => true,
        (Some("contact"), Some(attr)) => {
            CONTACT_ATTRIBUTES.contains(&attr) || fields.iter().any(|f| f == attr)
        }
        _ => false,
    }
}

/// Functions such as `range` are globals, not variables of ours.
fn is_global(env: &Environment<'static>, name: &str) -> bool {
    let root = name.split('.').next().unwrap_or(name);
    env.globals().any(|(g, _)| g == root)
}

/// Every variable present with a plausible value, for the trial rendering.
fn sample_context(fields: &[String]) -> Value {
    let contact = TemplateContact::number_only("+48600100200").with_missing_fields(fields);
    Value::from(BTreeMap::from([("contact", Value::from(contact.values)), ("data", Value::UNDEFINED)]))
}

/// Where `name` (or its last part) first appears in `source`, 1-based.
fn position_of(source: &str, name: &str) -> (Option<usize>, Option<usize>) {
    let found = source.find(name).or_else(|| name.rsplit('.').next().and_then(|last| source.find(last)));
    match found {
        Some(at) => line_column(source, at),
        None => (None, None),
    }
}

fn line_column(source: &str, byte: usize) -> (Option<usize>, Option<usize>) {
    let before = &source[..byte.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (Some(line), Some(column))
}

fn syntax_error(source: &str, e: &Error) -> TemplateError {
    let (line, column) = match e.range() {
        Some(r) => line_column(source, r.start),
        None => (e.line(), None),
    };
    TemplateError { line, column, message: describe(e) }
}

fn render_error(e: &Error, source: &str) -> RenderError {
    let message = match e.kind() {
        ErrorKind::UndefinedError => {
            // Name what is missing: the expression it failed in, as written.
            let needed = "(a value the template needs is missing from data or the contact)";
            match e.range().and_then(|r| enclosing_expression(source, r)) {
                Some(x) => format!("`{x}`: {} {needed}", describe(e)),
                None => format!("{} {needed}", describe(e)),
            }
        }
        ErrorKind::OutOfFuel => "the template does too much work for one message".into(),
        _ => describe(e),
    };
    RenderError(message)
}

/// The `{{ … }}` (or `{% … %}`) around `range` of `source`, without its
/// delimiters: a filter's error points at the filter, but the user wants
/// to see the value it was given.
fn enclosing_expression(source: &str, range: std::ops::Range<usize>) -> Option<&str> {
    let before = source.get(..range.start)?;
    let start = before.rfind("{{").max(before.rfind("{%"))? + 2;
    let after = source.get(range.end..)?;
    let end = range.end + after.find("}}").into_iter().chain(after.find("%}")).min()?;
    let inside = source.get(start..end)?.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
    (!inside.is_empty()).then_some(inside)
}

fn describe(e: &Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

/// `{{ data.due | date }}`, `{{ data.due | date("%d %B %Y") }}`: formats a
/// date (`YYYY-MM-DD`) or time (RFC 3339); the default is the usual
/// day-month-year of the contact's language.
fn date_filter(state: &State, value: Value, format: Option<String>) -> Result<String, Error> {
    missing(&value)?;
    let text = value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
    let default = match language_of(state).as_deref() {
        Some("en") => "%Y-%m-%d",
        _ => "%d.%m.%Y",
    };
    let format = format.unwrap_or_else(|| default.to_owned());
    if let Some(bad) = check_format(&format) {
        return Err(Error::new(ErrorKind::InvalidOperation, bad));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        return formatted(d.format(&format)).ok_or_else(|| {
            let message = format!("'{text}' is a date without a time, which '{format}' asks for");
            Error::new(ErrorKind::InvalidOperation, message)
        });
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return formatted(t.format(&format)).ok_or_else(|| {
            Error::new(ErrorKind::InvalidOperation, format!("'{format}' cannot format '{text}'"))
        });
    }
    Err(Error::new(ErrorKind::InvalidOperation, format!("'{text}' is not a date (YYYY-MM-DD or RFC 3339)")))
}

/// A date or time written with a format, or `None` where the format asks
/// for what the value lacks (chrono reports it as a formatting error, which
/// `to_string` would turn into a panic).
fn formatted(value: impl fmt::Display) -> Option<String> {
    use std::fmt::Write as _;
    let mut out = String::new();
    write!(out, "{value}").ok()?;
    Some(out)
}

/// A filter given a value the data lacks reports it missing, not malformed.
fn missing(value: &Value) -> Result<(), Error> {
    if value.is_undefined() || value.is_none() {
        return Err(Error::new(ErrorKind::UndefinedError, "the value to format is missing"));
    }
    Ok(())
}

/// chrono panics on some malformed format strings when displayed; only the
/// common specifiers are allowed.
fn check_format(format: &str) -> Option<String> {
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('d' | 'e' | 'm' | 'b' | 'B' | 'y' | 'Y' | 'H' | 'M' | 'S' | 'a' | 'A' | 'j' | '%') => {}
                other => {
                    return Some(format!(
                        "'%{}' is not a date format this filter knows (use %d %m %Y %B %H %M ...)",
                        other.map(String::from).unwrap_or_default()
                    ));
                }
            }
        }
    }
    None
}

/// `{{ data.amount | amount }}`, `{{ data.amount | amount(currency="PLN") }}`:
/// a number with two decimals and the grouping of the contact's language
/// (`1 234,50` in Polish, Russian and Bulgarian, `1,234.50` in English).
fn amount_filter(state: &State, value: Value, kwargs: Kwargs) -> Result<String, Error> {
    let decimals: Option<u32> = kwargs.get("decimals")?;
    let currency: Option<String> = kwargs.get("currency")?;
    kwargs.assert_all_used()?;
    missing(&value)?;
    let decimals = decimals.unwrap_or(2).min(6);
    let text = value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
    let number: f64 = text
        .trim()
        .replace(',', ".")
        .parse()
        .map_err(|_| Error::new(ErrorKind::InvalidOperation, format!("'{text}' is not an amount")))?;
    if !number.is_finite() || number.abs() >= 1e15 {
        return Err(Error::new(ErrorKind::InvalidOperation, format!("'{text}' is not an amount")));
    }
    let (group, point) = match language_of(state).as_deref() {
        Some("en") | None => (',', '.'),
        _ => ('\u{a0}', ','),
    };
    let formatted = format!("{:.*}", decimals as usize, number.abs());
    let (int, frac) = formatted.split_once('.').unwrap_or((&formatted, ""));
    let mut out = String::new();
    if number < 0.0 && formatted.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(group);
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push(point);
        out.push_str(frac);
    }
    if let Some(cur) = currency {
        out.push(' ');
        out.push_str(&cur);
    }
    Ok(out)
}

/// The primary language subtag of `contact.language`, lower case.
fn language_of(state: &State) -> Option<String> {
    let contact = state.lookup("contact")?;
    let lang = contact.get_attr("language").ok()?;
    let lang = lang.as_str()?;
    let primary = lang.split(['-', '_']).next()?.to_ascii_lowercase();
    (!primary.is_empty()).then_some(primary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(name: &str, lang: &str) -> TemplateContact {
        let mut c = TemplateContact::number_only("+48600100200");
        c.values.insert("name".into(), Value::from(name));
        c.values.insert("first_name".into(), Value::from(name.split(' ').next().unwrap_or("")));
        c.values.insert("language".into(), Value::from(lang));
        c.language = Some(lang.into());
        c
    }

    #[test]
    fn renders_contact_fields_custom_fields_and_data() {
        let t = MessageTemplate::parse(
            "Dzień dobry {{ contact.first_name }}, {{ contact.city }}: {{ data.amount | amount(currency=\"PLN\") }} do {{ data.due | date }}",
            &["city".into()],
        )
        .unwrap();
        let c = contact("Anna Nowak", "pl").with_missing_fields(&["city".into()]);
        let data = serde_json::json!({"amount": "1234.5", "due": "2026-12-01"});
        assert_eq!(t.render(&c, &data).unwrap(), "Dzień dobry Anna, : 1\u{a0}234,50 PLN do 01.12.2026");
    }

    #[test]
    fn amounts_follow_the_contact_language() {
        let t = MessageTemplate::parse("{{ data.x | amount }}", &[]).unwrap();
        let data = serde_json::json!({"x": -1234567.891});
        assert_eq!(t.render(&contact("A", "en"), &data).unwrap(), "-1,234,567.89");
        assert_eq!(t.render(&contact("A", "bg"), &data).unwrap(), "-1\u{a0}234\u{a0}567,89");
        let bad = serde_json::json!({"x": "lots"});
        assert!(t.render(&contact("A", "en"), &bad).unwrap_err().0.contains("not an amount"));
    }

    #[test]
    fn unknown_variables_are_refused_with_their_position() {
        let e =
            MessageTemplate::parse("Hi {{ contact.name }},\nyour {{ contact.shoe_size }}", &[]).unwrap_err();
        assert_eq!((e.line, e.column), (Some(2), Some(9)));
        assert!(e.message.contains("contact.shoe_size"), "{e}");
        let e = MessageTemplate::parse("{{ customer }}", &[]).unwrap_err();
        assert!(e.message.contains("unknown variable 'customer'"), "{e}");
    }

    #[test]
    fn syntax_errors_and_unknown_filters_are_refused_with_their_line() {
        let e = MessageTemplate::parse("Hello\n{{ contact.name ", &[]).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = MessageTemplate::parse("{{ contact.name | shout }}", &[]).unwrap_err();
        assert!(e.message.contains("unknown filter"), "{e}");
        assert!(MessageTemplate::parse("   ", &[]).is_err());
    }

    #[test]
    fn missing_data_is_a_render_error_not_empty_text() {
        let t = MessageTemplate::parse("Pay {{ data.amount }}", &[]).unwrap();
        let e = t.render(&contact("A", "pl"), &serde_json::json!({})).unwrap_err();
        assert!(e.0.contains("missing"), "{e}");
        assert!(e.0.starts_with("`data.amount`: "), "names what is missing: {e}");
        let t =
            MessageTemplate::parse("Pay {{ data.amount | amount(currency='PLN') }} by {{- data.due }}", &[])
                .unwrap();
        let e = t.render(&contact("A", "pl"), &serde_json::json!({"due": "2026-12-01"})).unwrap_err();
        assert!(e.0.starts_with("`data.amount | amount(currency='PLN')`: "), "{e}");
        let e = t.render(&contact("A", "pl"), &serde_json::json!({"amount": 5})).unwrap_err();
        assert!(e.0.starts_with("`data.due`: "), "{e}");
    }

    #[test]
    fn runaway_templates_stop() {
        let t = MessageTemplate::parse("{% for i in range(100000) %}x{% endfor %}", &[]).unwrap();
        let e = t.render(&contact("A", "pl"), &serde_json::json!({})).unwrap_err();
        assert!(e.0.contains("too much work") || e.0.contains("longer"), "{e}");
        let t = MessageTemplate::parse("{% include 'etc/passwd' %}", &[]);
        if let Ok(t) = t {
            assert!(t.render(&contact("A", "pl"), &serde_json::json!({})).is_err());
        }
    }

    #[test]
    fn date_formats_are_checked() {
        let t = MessageTemplate::parse("{{ data.d | date('%Q') }}", &[]).unwrap();
        assert!(t.render(&contact("A", "pl"), &serde_json::json!({"d": "2026-01-02"})).is_err());
        let t = MessageTemplate::parse("{{ data.d | date('%d/%m') }}", &[]).unwrap();
        assert_eq!(t.render(&contact("A", "pl"), &serde_json::json!({"d": "2026-01-02"})).unwrap(), "02/01");
    }

    #[test]
    fn a_time_format_for_a_date_without_a_time_is_a_render_error() {
        let t = MessageTemplate::parse("Due {{ data.d | date('%d.%m %H:%M') }}", &[]).unwrap();
        let e = t.render(&contact("A", "pl"), &serde_json::json!({"d": "2026-05-01"})).unwrap_err();
        assert!(e.0.contains("without a time"), "{e}");
        let due = serde_json::json!({"d": "2026-05-01T09:30:00+02:00"});
        assert_eq!(t.render(&contact("A", "pl"), &due).unwrap(), "Due 01.05 09:30");
    }
}
