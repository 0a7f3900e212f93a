//! `Sql`: a statement whose shape depends on the input (optional filters,
//! `IN` lists), built from pieces with each value bound where it is
//! written, in the placeholders of the store's dialect (`?` on SQLite, `$n`
//! on PostgreSQL).

use sqlx::AssertSqlSafe;

use super::Dialect;

/// A value bound to the statement.
enum Bind {
    Text(String),
    Int(i64),
}

/// A statement under construction and the values it binds, in order.
pub(super) struct Sql {
    dialect: Dialect,
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    pub(super) fn new(dialect: Dialect) -> Self {
        Self { dialect, text: String::new(), binds: Vec::new() }
    }

    /// `prefix`, the whole of `inner`, then `suffix` (which bind nothing):
    /// e.g. a query counted or wrapped as a subquery.
    pub(super) fn around(prefix: &str, inner: Sql, suffix: &str) -> Self {
        Self { dialect: inner.dialect, text: format!("{prefix}{}{suffix}", inner.text), binds: inner.binds }
    }

    /// SQL text, binding nothing.
    pub(super) fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// A text value's placeholder.
    pub(super) fn text(&mut self, v: impl Into<String>) -> &mut Self {
        self.bind(Bind::Text(v.into()))
    }

    /// An integer value's placeholder.
    pub(super) fn int(&mut self, v: i64) -> &mut Self {
        self.bind(Bind::Int(v))
    }

    /// Text values' placeholders separated by commas, for `IN (…)`.
    pub(super) fn list(&mut self, values: &[impl AsRef<str>]) -> &mut Self {
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.text(v.as_ref());
        }
        self
    }

    fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        let p = self.dialect.param(self.binds.len());
        self.text.push_str(&p);
        self
    }

    pub(super) fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.text.as_str()));
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.as_str()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dialect: Dialect) -> Sql {
        let mut sql = Sql::new(dialect);
        sql.push("SELECT id FROM t WHERE a = ").text("x").push(" AND b IN (");
        sql.list(&["p", "q"]).push(") LIMIT ").int(5);
        sql
    }

    #[test]
    fn values_are_numbered_in_the_order_they_are_written_on_postgres_and_plain_on_sqlite() {
        assert_eq!(
            sample(Dialect::Postgres).text,
            "SELECT id FROM t WHERE a = $1 AND b IN ($2, $3) LIMIT $4"
        );
        assert_eq!(sample(Dialect::Sqlite).text, "SELECT id FROM t WHERE a = ? AND b IN (?, ?) LIMIT ?");
        let counted = Sql::around("SELECT COUNT(*) FROM (", sample(Dialect::Postgres), ") c");
        assert_eq!(
            counted.text,
            "SELECT COUNT(*) FROM (SELECT id FROM t WHERE a = $1 AND b IN ($2, $3) LIMIT $4) c"
        );
        assert_eq!(counted.binds.len(), 4);
    }
}
