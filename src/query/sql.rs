//! The only way pgrest writes SQL: a builder whose raw text can only come from
//! `&'static str`, whose identifiers are always double-quoted, and whose values are always
//! bound parameters. Request text can therefore never become SQL text.

/// A statement ready for execution: SQL text and its text parameters (`$1`, `$2`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<String>,
}

#[derive(Debug, Default)]
pub struct SqlBuilder {
    sql: String,
    params: Vec<String>,
}

/// Double-quotes an identifier, doubling embedded quotes and dropping NUL characters
/// (which PostgreSQL identifiers cannot contain).
pub fn quote_ident(out: &mut String, name: &str) {
    out.push('"');
    for c in name.chars() {
        match c {
            '"' => out.push_str("\"\""),
            '\0' => {}
            c => out.push(c),
        }
    }
    out.push('"');
}

impl SqlBuilder {
    pub fn new() -> Self {
        SqlBuilder {
            sql: String::with_capacity(512),
            params: Vec::new(),
        }
    }

    /// Appends fixed SQL text.
    pub fn push(&mut self, sql: &'static str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends an SQL expression the catalog holds, as `pg_get_expr` deparsed it with every
    /// name schema-qualified (a column default): text written by the owner of the table
    /// through DDL, never by a request. Parenthesised so it stays one operand.
    pub fn catalog_expr(&mut self, expr: &str) -> &mut Self {
        self.sql.push('(');
        self.sql.push_str(expr);
        self.sql.push(')');
        self
    }

    /// Appends a quoted identifier.
    pub fn ident(&mut self, name: &str) -> &mut Self {
        quote_ident(&mut self.sql, name);
        self
    }

    /// Appends `"schema"."name"`.
    pub fn qualified(&mut self, schema: &str, name: &str) -> &mut Self {
        self.ident(schema).push(".").ident(name)
    }

    /// Appends a placeholder bound to `value` (typed `text`).
    pub fn param(&mut self, value: impl Into<String>) -> &mut Self {
        self.params.push(value.into());
        self.placeholder(self.params.len())
    }

    /// Appends `$n::"schema"."type"`: a text value cast to a catalog type.
    pub fn param_as(&mut self, value: impl Into<String>, ty: (&str, &str)) -> &mut Self {
        self.param(value).push("::").qualified(ty.0, ty.1)
    }

    /// Appends a placeholder for parameter number `n` (1-based) that already exists.
    pub fn placeholder(&mut self, n: usize) -> &mut Self {
        use std::fmt::Write;
        let _ = write!(self.sql, "${n}");
        self
    }

    pub fn finish(self) -> Statement {
        Statement {
            sql: self.sql,
            params: self.params,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_values_bound() {
        let mut b = SqlBuilder::new();
        b.push("SELECT ")
            .qualified("api", "to\"dos")
            .push(".")
            .ident("na\0me")
            .push(" FROM x WHERE a = ")
            .param_as("1; DROP TABLE x", ("pg_catalog", "int4"))
            .push(" AND b = ")
            .param("'");
        b.push(" OR c = ").placeholder(1);
        let s = b.finish();
        assert_eq!(
            s.sql,
            r#"SELECT "api"."to""dos"."name" FROM x WHERE a = $1::"pg_catalog"."int4" AND b = $2 OR c = $1"#
        );
        assert_eq!(
            s.params,
            vec!["1; DROP TABLE x".to_string(), "'".to_string()]
        );
    }
}
