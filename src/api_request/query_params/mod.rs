//! The query parameters: turns `?select=...&id=eq.1&order=...&or=(...)` into
//! [`QueryParams`], the untyped syntax tree of [`super::types`].
//!
//! The query string is split by [`super::query_string`]; each parameter is parsed by a
//! production of [`grammar`] (run by the Parsec-style core in [`super::parsec`], which
//! reproduces PostgREST's exact error texts). Plain select lists and filters take a fast
//! path that never builds a parser; the tests tie both paths together.

mod grammar;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};

pub(crate) use super::parsec::QpError;
use super::parsec::{or, pure, run};
use super::query_string::{canonical, parse_query};
use grammar::*;

use super::range::{read_integer, Range};
use super::types::{
    EmbedPath, Field, FieldName, Filter, JoinType, LogicTree, OpExpr, Operation, OrderTerm,
    QuantOperator, SelectItem, SimpleOperator,
};

/// Everything the query string says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParams {
    /// The parameters sorted by name and re-encoded, for `Content-Location`.
    pub canonical: String,
    /// GET/HEAD RPC arguments: parameters whose value has no operator (`?a=1`).
    pub params: Vec<(String, String)>,
    /// `limit`/`offset` per level: `"limit"` for the top level, `"actors.limit"` for an
    /// embed (offsets are folded into the same key).
    pub ranges: HashMap<String, Range>,
    pub order: Vec<(EmbedPath, Vec<OrderTerm>)>,
    /// `and=`/`or=` (possibly `not.`-prefixed or embedded) trees.
    pub logic: Vec<(EmbedPath, LogicTree)>,
    /// `columns=`, deduplicated, in the order written.
    pub columns: Option<Vec<FieldName>>,
    /// `select=`; `*` when absent, empty for `select=` (which the planner treats as `*`).
    pub select: Vec<SelectItem>,
    /// Every filter with an operator, in query-string order.
    pub filters: Vec<(EmbedPath, Filter)>,
    /// The filters on the target itself (used by UPDATE/DELETE).
    pub filters_root: Vec<Filter>,
    pub filters_not_root: Vec<(EmbedPath, Filter)>,
    /// The parameter names of all filters (and RPC arguments), as written.
    pub filter_fields: BTreeSet<FieldName>,
    pub on_conflict: Option<Vec<FieldName>>,
}

/// Parses a raw query string (the part after `?`, still percent-encoded).
///
/// `is_rpc_read` is true for GET/HEAD on `/rpc/...`, where a parameter whose value does not
/// start with an operator is a function argument instead of an error.
pub fn parse(is_rpc_read: bool, raw_query: &str) -> Result<QueryParams, QpError> {
    let raw_pairs = parse_query(raw_query.as_bytes());
    let canonical = canonical(&raw_pairs);

    let mut pairs: Vec<(String, Option<String>)> = Vec::with_capacity(raw_pairs.len());
    for (k, v) in raw_pairs {
        let key =
            String::from_utf8(k).map_err(|e| utf8_error(&String::from_utf8_lossy(e.as_bytes())))?;
        let value = match v {
            Some(v) => Some(String::from_utf8(v).map_err(|_| utf8_error(&key))?),
            None => None,
        };
        pairs.push((key, value));
    }

    // A parameter without `=` has no value and only counts for select/columns/on_conflict,
    // where the first occurrence of the name decides (and then means "absent").
    let with_value: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k.as_str(), v)))
        .collect();
    let lookup = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    };

    let mut order = Vec::new();
    for (k, v) in with_value
        .iter()
        .filter(|(k, _)| last_segment(k) == "order")
    {
        order.push(request_order(k, v)?);
    }
    let mut logic = Vec::new();
    for (k, v) in with_value
        .iter()
        .filter(|(k, _)| matches!(last_segment(k), "and" | "or"))
    {
        logic.push(request_logic_tree(k, v)?);
    }
    let columns = match lookup("columns") {
        Some(c) => {
            let cols = run(
                &format!("failed to parse columns parameter ({c})"),
                c,
                p_columns,
            )?;
            let mut seen = BTreeSet::new();
            Some(
                cols.into_iter()
                    .filter(|c| seen.insert(c.clone()))
                    .collect(),
            )
        }
        None => None,
    };
    let select_text = lookup("select").unwrap_or("*");
    let select = match fast_select(select_text) {
        Some(select) => select,
        None => run(
            &format!("failed to parse select parameter ({select_text})"),
            select_text,
            p_field_forest,
        )?,
    };

    let filter_params: Vec<(&str, &str)> = with_value
        .iter()
        .copied()
        .filter(|(k, _)| is_filter(k))
        .collect();
    let mut filters = Vec::new();
    let mut params = Vec::new();
    for (k, v) in &filter_params {
        let (path, filter) = request_filter(is_rpc_read, k, v)?;
        match filter.op_expr {
            OpExpr::NoOp(value) => params.push((filter.field.name, value)),
            OpExpr::Expr { .. } => filters.push((path, filter)),
        }
    }
    let on_conflict = match lookup("on_conflict") {
        Some(c) => Some(run(
            &format!("failed to parse on_conflict parameter ({c})"),
            c,
            p_columns,
        )?),
        None => None,
    };

    let filters_root = filters
        .iter()
        .filter(|(p, _)| p.is_empty())
        .map(|(_, f)| f.clone())
        .collect();
    let filters_not_root = filters
        .iter()
        .filter(|(p, _)| !p.is_empty())
        .cloned()
        .collect();
    let filter_fields = filter_params.iter().map(|(k, _)| k.to_string()).collect();

    Ok(QueryParams {
        canonical,
        params,
        ranges: ranges(&with_value),
        order,
        logic,
        columns,
        select,
        filters,
        filters_root,
        filters_not_root,
        filter_fields,
        on_conflict,
    })
}

fn utf8_error(key: &str) -> QpError {
    QpError {
        message: format!("failed to parse query parameter ({key})"),
        details: "invalid UTF-8 after percent-decoding".to_string(),
    }
}

/// The last `.`-separated word of a parameter name, which decides its role.
fn last_segment(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

fn is_filter(key: &str) -> bool {
    !matches!(
        last_segment(key),
        "order" | "limit" | "offset" | "and" | "or"
    ) && !matches!(key, "select" | "columns" | "on_conflict")
}

/// `limit`/`offset` per level. Unreadable numbers are ignored, except that an unreadable
/// limit next to an offset counts as `limit=0`, as in PostgREST.
fn ranges(with_value: &[(&str, &str)]) -> HashMap<String, Range> {
    let mut limits: HashMap<String, Range> = HashMap::new();
    let mut offsets: HashMap<String, Range> = HashMap::new();
    for (k, v) in with_value {
        match last_segment(k) {
            "limit" => {
                limits.insert(k.to_string(), Range::ALL.restrict(read_integer(v)));
            }
            "offset" => {
                let key = match k.rsplit_once('.') {
                    Some((init, _)) => format!("{init}.limit"),
                    None => "limit".to_string(),
                };
                offsets.insert(key, read_integer(v).map_or(Range::ALL, Range::geq));
            }
            _ => {}
        }
    }
    for (k, off) in offsets {
        let combined = match limits.get(&k) {
            Some(lim) => {
                let l = lim.limit().unwrap_or(0);
                let o = off.offset();
                Range {
                    lower: o,
                    upper: Some(super::range::clamp(i128::from(o) + i128::from(l) - 1)),
                }
            }
            None => off,
        };
        limits.insert(k, combined);
    }
    limits
}

/// A name made only of ASCII letters, digits and `_`: most keys and select items.
fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The common `select` forms (`*`, `a,b,c`, embeds such as `a,rel!hint!inner(b,c)` and
/// `...rel(*)`, plain names only) without running the parser; the parser gives the same
/// result for them (see `fast_paths_agree_with_the_parser`), only slower. Anything else
/// (aliases, casts, JSON paths, aggregates, quoting, blanks) goes to the parser.
fn fast_select(text: &str) -> Option<Vec<SelectItem>> {
    let mut p = FastSelect {
        s: text.as_bytes(),
        i: 0,
    };
    let items = p.forest(0)?;
    (p.i == p.s.len()).then_some(items)
}

struct FastSelect<'a> {
    s: &'a [u8],
    i: usize,
}

impl FastSelect<'_> {
    /// Deeper nesting is left to the parser, which also reports it.
    const MAX_DEPTH: usize = 8;

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek() == Some(b)).then(|| self.i += 1)
    }

    fn name(&mut self) -> Option<String> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn forest(&mut self, depth: usize) -> Option<Vec<SelectItem>> {
        if depth > Self::MAX_DEPTH {
            return None;
        }
        let mut items = vec![self.item(depth)?];
        while self.eat(b',').is_some() {
            items.push(self.item(depth)?);
        }
        Some(items)
    }

    fn item(&mut self, depth: usize) -> Option<SelectItem> {
        let plain = |name: String| SelectItem::Field {
            field: Field {
                name,
                json_path: Vec::new(),
            },
            aggregate: None,
            aggregate_cast: None,
            cast: None,
            alias: None,
        };
        if self.eat(b'*').is_some() {
            return Some(plain("*".into()));
        }
        let spread = self.s[self.i..].starts_with(b"...");
        if spread {
            self.i += 3;
        }
        let name = self.name()?;
        if !matches!(self.peek(), Some(b'!' | b'(')) {
            return (!spread).then(|| plain(name));
        }
        // `count(...)` is the aggregate.
        if name == "count" {
            return None;
        }
        let (mut hint, mut join_type) = (None, None);
        for _ in 0..2 {
            if self.eat(b'!').is_none() {
                break;
            }
            let word = self.name()?;
            match word.as_str() {
                "inner" if join_type.is_none() => join_type = Some(JoinType::Inner),
                "left" if join_type.is_none() => join_type = Some(JoinType::Left),
                w if hint.is_none() && !w.starts_with("inner") && !w.starts_with("left") => {
                    hint = Some(word)
                }
                _ => return None,
            }
        }
        self.eat(b'(')?;
        let children = if self.peek() == Some(b')') {
            Vec::new()
        } else {
            self.forest(depth + 1)?
        };
        self.eat(b')')?;
        Some(if spread {
            SelectItem::Spread {
                relation: name,
                hint,
                join_type,
                children,
            }
        } else {
            SelectItem::Relation {
                relation: name,
                alias: None,
                hint,
                join_type,
                children,
            }
        })
    }
}

/// The common filter form `name=[not.]op.value` with a plain name and an operator that
/// takes the rest of the value verbatim; anything else goes to the parser.
fn fast_filter(k: &str, v: &str) -> Option<(EmbedPath, Filter)> {
    if !is_plain_name(k) {
        return None;
    }
    let (negated, rest) = match v.strip_prefix("not.") {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (op, value) = rest.split_once('.')?;
    let value = value.to_string();
    let quant = |q| Operation::Quant(q, None, value.clone());
    let simple = |o| Operation::Simple(o, value.clone());
    let operation = match op {
        "eq" => quant(QuantOperator::Equal),
        "gte" => quant(QuantOperator::GreaterThanEqual),
        "gt" => quant(QuantOperator::GreaterThan),
        "lte" => quant(QuantOperator::LessThanEqual),
        "lt" => quant(QuantOperator::LessThan),
        "like" => quant(QuantOperator::Like),
        "ilike" => quant(QuantOperator::ILike),
        "match" => quant(QuantOperator::Match),
        "imatch" => quant(QuantOperator::IMatch),
        "neq" => simple(SimpleOperator::NotEqual),
        "cs" => simple(SimpleOperator::Contains),
        "cd" => simple(SimpleOperator::Contained),
        "ov" => simple(SimpleOperator::Overlap),
        "sl" => simple(SimpleOperator::StrictlyLeft),
        "sr" => simple(SimpleOperator::StrictlyRight),
        "nxr" => simple(SimpleOperator::NotExtendsRight),
        "nxl" => simple(SimpleOperator::NotExtendsLeft),
        "adj" => simple(SimpleOperator::Adjacent),
        _ => return None,
    };
    let field = Field {
        name: k.to_string(),
        json_path: Vec::new(),
    };
    Some((
        Vec::new(),
        Filter {
            field,
            op_expr: OpExpr::Expr { negated, operation },
        },
    ))
}

fn request_filter(is_rpc_read: bool, k: &str, v: &str) -> Result<(EmbedPath, Filter), QpError> {
    if let Some(parsed) = fast_filter(k, v) {
        return Ok(parsed);
    }
    let (path, field) = run(&format!("failed to parse tree path ({k})"), k, p_tree_path)?;
    let op_expr = run(&format!("failed to parse filter ({v})"), v, |st| {
        if is_rpc_read {
            or(
                st,
                |st| p_op_expr(st, p_single_val),
                |st| pure(st, OpExpr::NoOp(v.to_string())),
            )
        } else {
            p_op_expr(st, p_single_val)
        }
    })?;
    Ok((path, Filter { field, op_expr }))
}

fn request_order(k: &str, v: &str) -> Result<(EmbedPath, Vec<OrderTerm>), QpError> {
    let (path, _) = run(&format!("failed to parse tree path ({k})"), k, p_tree_path)?;
    let terms = run(&format!("failed to parse order ({v})"), v, p_order)?;
    Ok((path, terms))
}

fn request_logic_tree(k: &str, v: &str) -> Result<(EmbedPath, LogicTree), QpError> {
    let (path, op) = run(
        &format!("failed to parse logic path ({k})"),
        k,
        p_logic_path,
    )?;
    // `or=(a,b)` is parsed as `or(a,b)` so that the root is an ordinary tree node.
    let text = format!("{op}{v}");
    let tree = run(
        &format!("failed to parse logic tree ({v})"),
        &text,
        p_logic_tree,
    )?;
    Ok((path, tree))
}
