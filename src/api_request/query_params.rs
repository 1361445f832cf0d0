//! The query-string grammar: turns `?select=...&id=eq.1&order=...&or=(...)` into the
//! untyped syntax tree of [`super::types`].
//!
//! PostgREST parses each parameter with Parsec, and its error messages (position, the
//! unexpected input and the merged "expecting" list) are part of its observable API. To
//! reproduce them we carry a small parser-combinator core with Parsec's semantics: every
//! parser reports whether it consumed input, `or` only tries the next alternative after a
//! failure that consumed nothing, `try_` turns a consuming failure into a non-consuming one,
//! labels replace the expectations of non-consuming failures, and errors at the same
//! position are merged (the farthest one wins otherwise). The productions below mirror
//! PostgREST's one by one, quirks included (e.g. most parameters do not have to be
//! consumed to the end, and the value of a single-value operator is taken verbatim).

use std::collections::{BTreeSet, HashMap};

use super::range::{read_integer, Range};
use super::types::{
    AggregateFunction, EmbedPath, Field, FieldName, Filter, FtsOperator, IsVal, JoinType,
    JsonOperand, JsonOperation, JsonPath, LogicOperator, LogicTree, OpExpr, OpQuantifier,
    Operation, OrderDirection, OrderNulls, OrderTerm, QuantOperator, SelectItem, SimpleOperator,
};

/// A query-string error, reported as a 400 with code PGRST100.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QpError {
    /// e.g. `"failed to parse filter (noop.0)" (line 1, column 1)`
    pub message: String,
    /// e.g. `unexpected "o" expecting "not" or operator (eq, gt, ...)`
    pub details: String,
}

impl std::fmt::Display for QpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.message, self.details)
    }
}

impl std::error::Error for QpError {}

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

/// The common `select` forms (`*`, `a,b,c`) without running the parser; the parser gives
/// the same result for them (see `fast_paths_agree_with_the_parser`), only slower.
fn fast_select(text: &str) -> Option<Vec<SelectItem>> {
    let plain = |name: &str| SelectItem::Field {
        field: Field {
            name: name.to_string(),
            json_path: Vec::new(),
        },
        aggregate: None,
        aggregate_cast: None,
        cast: None,
        alias: None,
    };
    if text == "*" {
        return Some(vec![plain("*")]);
    }
    text.split(',')
        .map(|item| is_plain_name(item).then(|| plain(item)))
        .collect()
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

// ---------------------------------------------------------------------------------------
// Query-string splitting and canonical form
// ---------------------------------------------------------------------------------------

/// Splits a query string on `&` and `;` into decoded `(name, value)` byte pairs; the value
/// is `None` when there is no `=` (http-types' `parseQueryReplacePlus True`).
pub(crate) fn parse_query(raw: &[u8]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let (segment, tail) = match rest.iter().position(|b| *b == b'&' || *b == b';') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let pair = match segment.iter().position(|b| *b == b'=') {
            Some(at) => (
                url_decode(&segment[..at]),
                Some(url_decode(&segment[at + 1..])),
            ),
            None => (url_decode(segment), None),
        };
        out.push(pair);
        rest = tail;
    }
    out
}

/// Percent-decoding with `+` as space; malformed escapes are kept literally.
pub(crate) fn url_decode(raw: &[u8]) -> Vec<u8> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&plus_as_space).collect()
}

/// Sorted by name (stably), values of a repeated name joined with `,`, everything
/// re-encoded with only `A-Za-z0-9-_.~` left bare (`Network.HTTP.Base.urlEncodeVars`).
fn canonical(pairs: &[(Vec<u8>, Option<Vec<u8>>)]) -> String {
    let mut sorted: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_deref().unwrap_or(&[])))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let name = sorted[i].0;
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&url_encode(name));
        out.push('=');
        let mut first = true;
        while i < sorted.len() && sorted[i].0 == name {
            if !first {
                out.push(',');
            }
            out.push_str(&url_encode(sorted[i].1));
            first = false;
            i += 1;
        }
    }
    out
}

const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn url_encode(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, UNRESERVED).to_string()
}

// ---------------------------------------------------------------------------------------
// Parser core (Parsec semantics)
// ---------------------------------------------------------------------------------------

/// Nesting allowed in `select` embeds and logic trees before we give up, so that hostile
/// input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 100;

/// Line and column, both from 1; tabs advance to the next multiple of 8 plus one, as in
/// Parsec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Pos {
    line: u32,
    col: u32,
}

impl Pos {
    fn next(self, c: char) -> Pos {
        match c {
            '\n' => Pos {
                line: self.line.saturating_add(1),
                col: 1,
            },
            '\t' => Pos {
                line: self.line,
                col: self.col.saturating_add(8 - ((self.col - 1) % 8)),
            },
            _ => Pos {
                line: self.line,
                col: self.col.saturating_add(1),
            },
        }
    }
}

/// The text of a message. Errors are built at every failed alternative but rarely shown,
/// so rendering (Haskell's `show` escaping) is deferred until they are.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Txt {
    /// Shown as is; `""` for the end of input.
    Lit(&'static str),
    /// A one-character string, shown like Haskell's `show`: `"x"`.
    StrOf(char),
    /// A string literal, shown like Haskell's `show`: `"abc"`.
    StrLit(&'static str),
    /// A character, shown like Haskell's `show`: `'x'`.
    CharOf(char),
    Owned(String),
}

impl Txt {
    fn render(&self) -> String {
        match self {
            Txt::Lit(s) => s.to_string(),
            Txt::StrOf(c) => show_string(c.encode_utf8(&mut [0; 4])),
            Txt::StrLit(s) => show_string(s),
            Txt::CharOf(c) => show_char(*c),
            Txt::Owned(s) => s.clone(),
        }
    }
}

impl From<&'static str> for Txt {
    fn from(s: &'static str) -> Txt {
        Txt::Lit(s)
    }
}

/// Parsec's error messages; the order of the variants is the order they are shown in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Msg {
    /// What the input had, from a primitive parser (`""` is the end of input).
    SysUnExpect(Txt),
    /// What the input had, from `unexpected`/`notFollowedBy`/`eof`; hides `SysUnExpect`.
    UnExpect(Txt),
    Expect(Txt),
    Message(Txt),
}

impl Msg {
    fn rank(&self) -> u8 {
        match self {
            Msg::SysUnExpect(_) => 0,
            Msg::UnExpect(_) => 1,
            Msg::Expect(_) => 2,
            Msg::Message(_) => 3,
        }
    }

    fn text(&self) -> String {
        match self {
            Msg::SysUnExpect(t) | Msg::UnExpect(t) | Msg::Expect(t) | Msg::Message(t) => t.render(),
        }
    }
}

#[derive(Debug, Clone)]
struct PErr {
    pos: Pos,
    msgs: Vec<Msg>,
}

impl PErr {
    fn unknown(pos: Pos) -> PErr {
        PErr {
            pos,
            msgs: Vec::new(),
        }
    }

    fn new(pos: Pos, msgs: Vec<Msg>) -> PErr {
        PErr { pos, msgs }
    }

    fn is_unknown(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Errors with messages beat unknown ones; otherwise the farther one wins and errors at
    /// the same position pool their messages.
    fn merge(mut self, other: PErr) -> PErr {
        if other.msgs.is_empty() && !self.msgs.is_empty() {
            return self;
        }
        if self.msgs.is_empty() && !other.msgs.is_empty() {
            return other;
        }
        match self.pos.cmp(&other.pos) {
            std::cmp::Ordering::Equal => {
                self.msgs.extend(other.msgs);
                self
            }
            std::cmp::Ordering::Greater => self,
            std::cmp::Ordering::Less => other,
        }
    }

    /// What a label does: all expectations are replaced by the label.
    fn expecting(mut self, label: Txt) -> PErr {
        self.msgs.retain(|m| !matches!(m, Msg::Expect(_)));
        self.msgs.insert(0, Msg::Expect(label));
        self
    }

    /// Parsec's `showErrorMessages`, flattened to one line.
    fn details(&self) -> String {
        if self.msgs.is_empty() {
            return "unknown parse error".to_string();
        }
        let mut msgs: Vec<&Msg> = self.msgs.iter().collect();
        msgs.sort_by_key(|m| m.rank());
        let of = |rank: u8| -> Vec<String> {
            msgs.iter()
                .filter(|m| m.rank() == rank)
                .map(|m| m.text())
                .collect()
        };
        let (sys, unexpected, expected, messages) = (of(0), of(1), of(2), of(3));

        let show_sys = match sys.first() {
            Some(_) if !unexpected.is_empty() => String::new(),
            Some(first) if first.is_empty() => "unexpected end of input".to_string(),
            Some(first) => format!("unexpected {first}"),
            None => String::new(),
        };
        let sections = clean(vec![
            show_sys,
            show_many("unexpected", &unexpected),
            show_many("expecting", &expected),
            show_many("", &messages),
        ]);
        let text: String = sections.iter().map(|s| format!("\n{s}")).collect();
        text.replace('\n', " ").trim().to_string()
    }
}

/// Drops empty strings and duplicates, keeping the first occurrence.
fn clean<S: AsRef<str>>(items: Vec<S>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in items {
        let s = s.as_ref();
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out
}

fn show_many(prefix: &str, msgs: &[String]) -> String {
    let ms = clean(msgs.to_vec());
    if ms.is_empty() {
        return String::new();
    }
    let listed = match ms.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, init)) => format!("{} or {last}", init.join(", ")),
        None => String::new(),
    };
    if prefix.is_empty() {
        listed
    } else {
        format!("{prefix} {listed}")
    }
}

/// Haskell's `show` for a `Char`: `'x'`, `'\n'`, `'\233'`.
fn show_char(c: char) -> String {
    if c == '\'' {
        return "'\\''".to_string();
    }
    let mut s = String::from("'");
    show_lit_char(c, None, &mut s);
    s.push('\'');
    s
}

/// Haskell's `show` for a `String`: `"x"`, with the same escapes as [`show_char`].
pub(crate) fn show_string(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut s = String::from("\"");
    for (i, c) in chars.iter().enumerate() {
        if *c == '"' {
            s.push_str("\\\"");
        } else {
            show_lit_char(*c, chars.get(i + 1).copied(), &mut s);
        }
    }
    s.push('"');
    s
}

fn show_lit_char(c: char, next: Option<char>, out: &mut String) {
    const ASCII_NAMES: [&str; 32] = [
        "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "a", "b", "t", "n", "v", "f", "r", "SO",
        "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC",
        "FS", "GS", "RS", "US",
    ];
    let code = c as u32;
    if code > 0x7f {
        out.push_str(&format!("\\{code}"));
        // A following digit would read as part of the number.
        if next.is_some_and(|n| n.is_ascii_digit()) {
            out.push_str("\\&");
        }
    } else if code == 0x7f {
        out.push_str("\\DEL");
    } else if c == '\\' {
        out.push_str("\\\\");
    } else if code >= 0x20 {
        out.push(c);
    } else {
        out.push('\\');
        out.push_str(ASCII_NAMES[code as usize]);
        if code == 0x0e && next == Some('H') {
            out.push_str("\\&");
        }
    }
}

/// The cursor over one parameter.
struct St {
    input: Vec<char>,
    i: usize,
    pos: Pos,
    depth: usize,
    /// Set when nesting goes too deep: the whole parse fails with it, whatever the
    /// alternatives around it would have done.
    fatal: Option<PErr>,
}

impl St {
    fn new(text: &str) -> St {
        St {
            input: text.chars().collect(),
            i: 0,
            pos: Pos { line: 1, col: 1 },
            depth: 0,
            fatal: None,
        }
    }

    fn peek(&self) -> Option<char> {
        self.input.get(self.i).copied()
    }

    fn save(&self) -> (usize, Pos) {
        (self.i, self.pos)
    }

    fn restore(&mut self, (i, pos): (usize, Pos)) {
        self.i = i;
        self.pos = pos;
    }
}

/// A success: the value, whether input was consumed, and the error to merge with if what
/// follows fails at the same position (that is how "expecting" lists accumulate).
struct Okay<T> {
    val: T,
    consumed: bool,
    err: PErr,
}

/// A failure, consuming or not.
struct Fail {
    consumed: bool,
    err: PErr,
}

type R<T> = Result<Okay<T>, Fail>;

fn empty_fail<T>(err: PErr) -> R<T> {
    Err(Fail {
        consumed: false,
        err,
    })
}

/// Runs a production on a whole parameter and converts its error to a [`QpError`] named
/// `name` (e.g. `failed to parse filter (...)`).
fn run<T>(name: &str, input: &str, p: impl FnOnce(&mut St) -> R<T>) -> Result<T, QpError> {
    let mut st = St::new(input);
    let result = p(&mut st);
    let err = match (st.fatal.take(), result) {
        (Some(fatal), _) => fatal,
        (None, Ok(ok)) => return Ok(ok.val),
        (None, Err(fail)) => fail.err,
    };
    Err(QpError {
        message: format!("\"{name}\" (line {}, column {})", err.pos.line, err.pos.col),
        details: err.details(),
    })
}

/// Sequencing (`>>=`): tracks consumption and merges errors between steps.
struct Seq {
    consumed: bool,
    err: PErr,
}

impl Seq {
    fn new(st: &St) -> Seq {
        Seq {
            consumed: false,
            err: PErr::unknown(st.pos),
        }
    }

    fn merged(&mut self, next: PErr) -> PErr {
        let prev = std::mem::replace(&mut self.err, PErr::unknown(next.pos));
        if prev.is_unknown() {
            next
        } else {
            prev.merge(next)
        }
    }

    fn run<T>(&mut self, r: R<T>) -> Result<T, Fail> {
        match r {
            Ok(ok) => {
                if ok.consumed {
                    self.consumed = true;
                    self.err = ok.err;
                } else {
                    self.err = self.merged(ok.err);
                }
                Ok(ok.val)
            }
            Err(fail) => {
                let err = if fail.consumed {
                    fail.err
                } else {
                    self.merged(fail.err)
                };
                Err(Fail {
                    consumed: self.consumed || fail.consumed,
                    err,
                })
            }
        }
    }

    fn done<T>(self, val: T) -> R<T> {
        Ok(Okay {
            val,
            consumed: self.consumed,
            err: self.err,
        })
    }
}

fn map<T, U>(r: R<T>, f: impl FnOnce(T) -> U) -> R<U> {
    r.map(|ok| Okay {
        val: f(ok.val),
        consumed: ok.consumed,
        err: ok.err,
    })
}

fn pure<T>(st: &mut St, val: T) -> R<T> {
    Ok(Okay {
        val,
        consumed: false,
        err: PErr::unknown(st.pos),
    })
}

/// `mzero`: fails without a message.
fn parser_zero<T>(st: &mut St) -> R<T> {
    empty_fail(PErr::unknown(st.pos))
}

fn unexpected<T>(st: &mut St, what: Txt) -> R<T> {
    empty_fail(PErr::new(st.pos, vec![Msg::UnExpect(what)]))
}

/// `<|>`: the second alternative only runs if the first failed without consuming input.
fn or<T>(st: &mut St, p: impl FnOnce(&mut St) -> R<T>, q: impl FnOnce(&mut St) -> R<T>) -> R<T> {
    let saved = st.save();
    match p(st) {
        Err(Fail {
            consumed: false,
            err: e1,
        }) => {
            st.restore(saved);
            match q(st) {
                Ok(Okay {
                    val,
                    consumed: false,
                    err,
                }) => Ok(Okay {
                    val,
                    consumed: false,
                    err: e1.merge(err),
                }),
                Err(Fail {
                    consumed: false,
                    err,
                }) => empty_fail(e1.merge(err)),
                other => other,
            }
        }
        other => other,
    }
}

/// Right-nested `or` over several alternatives.
macro_rules! alt {
    ($st:expr, $p:expr $(,)?) => { $p($st) };
    ($st:expr, $p:expr, $($rest:expr),+ $(,)?) => {
        or($st, $p, |st: &mut St| alt!(st, $($rest),+))
    };
}

/// `try`: a consuming failure becomes a non-consuming one, and the input is rewound.
fn try_<T>(st: &mut St, p: impl FnOnce(&mut St) -> R<T>) -> R<T> {
    let saved = st.save();
    match p(st) {
        Err(Fail {
            consumed: true,
            err,
        }) => {
            st.restore(saved);
            empty_fail(err)
        }
        other => other,
    }
}

/// `<?>`: names what was expected when `p` fails (or stops) without consuming input.
fn label<T>(st: &mut St, p: impl FnOnce(&mut St) -> R<T>, name: impl Into<Txt>) -> R<T> {
    let name = name.into();
    match p(st) {
        Ok(Okay {
            val,
            consumed: false,
            err,
        }) => {
            let err = if err.is_unknown() {
                err
            } else {
                err.expecting(name)
            };
            Ok(Okay {
                val,
                consumed: false,
                err,
            })
        }
        Err(Fail {
            consumed: false,
            err,
        }) => empty_fail(err.expecting(name)),
        other => other,
    }
}

fn look_ahead<T>(st: &mut St, p: impl FnOnce(&mut St) -> R<T>) -> R<T> {
    let saved = st.save();
    match p(st) {
        Ok(ok) => {
            st.restore(saved);
            Ok(Okay {
                val: ok.val,
                consumed: false,
                err: PErr::unknown(st.pos),
            })
        }
        Err(fail) => Err(fail),
    }
}

/// `notFollowedBy`: succeeds, consuming nothing, when `p` fails.
fn not_followed_by(st: &mut St, p: impl FnOnce(&mut St) -> R<char>) -> R<()> {
    try_(st, |st| {
        or(
            st,
            |st| {
                let mut q = Seq::new(st);
                let v = q.run(try_(st, p))?;
                q.run(unexpected::<()>(st, Txt::CharOf(v)))?;
                q.done(())
            },
            |st| pure(st, ()),
        )
    })
}

fn many<T>(st: &mut St, mut p: impl FnMut(&mut St) -> R<T>) -> R<Vec<T>> {
    let mut items = Vec::new();
    let mut consumed = false;
    loop {
        let saved = st.save();
        match p(st) {
            Ok(Okay {
                val,
                consumed: true,
                ..
            }) => {
                items.push(val);
                consumed = true;
            }
            // Parsec refuses `many` over a parser that accepts nothing; stopping is the
            // safe equivalent (none of our productions does it).
            Ok(Okay {
                consumed: false,
                err,
                ..
            })
            | Err(Fail {
                consumed: false,
                err,
            }) => {
                st.restore(saved);
                return Ok(Okay {
                    val: items,
                    consumed,
                    err,
                });
            }
            Err(fail) => return Err(fail),
        }
    }
}

fn many1<T>(st: &mut St, mut p: impl FnMut(&mut St) -> R<T>) -> R<Vec<T>> {
    let mut q = Seq::new(st);
    let first = q.run(p(st))?;
    let mut rest = q.run(many(st, p))?;
    rest.insert(0, first);
    q.done(rest)
}

fn sep_by1<T, S>(
    st: &mut St,
    mut p: impl FnMut(&mut St) -> R<T>,
    mut sep: impl FnMut(&mut St) -> R<S>,
) -> R<Vec<T>> {
    let mut q = Seq::new(st);
    let first = q.run(p(st))?;
    let mut rest = q.run(many(st, |st| {
        let mut q = Seq::new(st);
        q.run(sep(st))?;
        let v = q.run(p(st))?;
        q.done(v)
    }))?;
    rest.insert(0, first);
    q.done(rest)
}

fn sep_by<T, S>(
    st: &mut St,
    p: impl FnMut(&mut St) -> R<T>,
    sep: impl FnMut(&mut St) -> R<S>,
) -> R<Vec<T>> {
    or(st, |st| sep_by1(st, p, sep), |st| pure(st, Vec::new()))
}

fn option_maybe<T>(st: &mut St, p: impl FnOnce(&mut St) -> R<T>) -> R<Option<T>> {
    or(st, |st| map(p(st), Some), |st| pure(st, None))
}

fn option<T>(st: &mut St, default: T, p: impl FnOnce(&mut St) -> R<T>) -> R<T> {
    or(st, p, |st| pure(st, default))
}

fn between<T>(st: &mut St, open: char, close: char, p: impl FnOnce(&mut St) -> R<T>) -> R<T> {
    let mut q = Seq::new(st);
    q.run(char_(st, open))?;
    let v = q.run(p(st))?;
    q.run(char_(st, close))?;
    q.done(v)
}

/// Runs a recursive production one level deeper, failing for good past [`MAX_DEPTH`].
fn nested<T>(st: &mut St, p: impl FnOnce(&mut St) -> R<T>) -> R<T> {
    if let Some(err) = &st.fatal {
        return Err(Fail {
            consumed: true,
            err: err.clone(),
        });
    }
    if st.depth >= MAX_DEPTH {
        let err = PErr::new(
            st.pos,
            vec![Msg::Message(Txt::Owned(format!(
                "maximum nesting depth of {MAX_DEPTH} exceeded"
            )))],
        );
        st.fatal = Some(err.clone());
        return Err(Fail {
            consumed: true,
            err,
        });
    }
    st.depth += 1;
    let r = p(st);
    st.depth -= 1;
    r
}

// Primitive parsers -----------------------------------------------------------------------

fn satisfy(st: &mut St, pred: impl Fn(char) -> bool) -> R<char> {
    match st.peek() {
        Some(c) if pred(c) => {
            st.i += 1;
            st.pos = st.pos.next(c);
            Ok(Okay {
                val: c,
                consumed: true,
                err: PErr::unknown(st.pos),
            })
        }
        Some(c) => empty_fail(PErr::new(st.pos, vec![Msg::SysUnExpect(Txt::StrOf(c))])),
        None => empty_fail(PErr::new(st.pos, vec![Msg::SysUnExpect(Txt::Lit(""))])),
    }
}

fn char_(st: &mut St, c: char) -> R<char> {
    label(st, |st| satisfy(st, |x| x == c), Txt::StrOf(c))
}

fn any_char(st: &mut St) -> R<char> {
    satisfy(st, |_| true)
}

fn one_of(st: &mut St, set: &str) -> R<char> {
    satisfy(st, |c| set.contains(c))
}

fn none_of(st: &mut St, set: &str) -> R<char> {
    satisfy(st, |c| !set.contains(c))
}

fn letter(st: &mut St) -> R<char> {
    label(st, |st| satisfy(st, char::is_alphabetic), "letter")
}

fn digit(st: &mut St) -> R<char> {
    label(st, |st| satisfy(st, |c| c.is_ascii_digit()), "digit")
}

/// Any character, without moving the reported position (Parsec's `anyToken`).
fn any_token(st: &mut St) -> R<char> {
    match st.peek() {
        Some(c) => {
            st.i += 1;
            Ok(Okay {
                val: c,
                consumed: true,
                err: PErr::unknown(st.pos),
            })
        }
        None => empty_fail(PErr::new(st.pos, vec![Msg::SysUnExpect(Txt::Lit(""))])),
    }
}

fn eof(st: &mut St) -> R<()> {
    label(
        st,
        |st| not_followed_by(st, any_token),
        Txt::Lit("end of input"),
    )
}

/// A literal string. A mismatch is reported at the start of the string with the offending
/// character, and counts as consuming when it happens after the first character.
fn string(st: &mut St, s: &'static str) -> R<()> {
    let start = st.pos;
    let expect = Msg::Expect(Txt::StrLit(s));
    for (n, t) in s.chars().enumerate() {
        match st.peek() {
            Some(c) if c == t => {
                st.i += 1;
                st.pos = st.pos.next(c);
            }
            other => {
                let unexpected = other.map_or(Txt::Lit(""), Txt::StrOf);
                let err = PErr::new(start, vec![expect, Msg::SysUnExpect(unexpected)]);
                return Err(Fail {
                    consumed: n > 0,
                    err,
                });
            }
        }
    }
    Ok(Okay {
        val: (),
        consumed: !s.is_empty(),
        err: PErr::unknown(st.pos),
    })
}

/// Case-insensitive literal, character by character.
fn ci_string(st: &mut St, s: &str) -> R<()> {
    let mut q = Seq::new(st);
    for c in s.chars() {
        q.run(or(
            st,
            |st| char_(st, c),
            |st| char_(st, c.to_ascii_uppercase()),
        ))?;
    }
    q.done(())
}

fn hs_strip(s: &str) -> String {
    s.trim_matches(super::range::is_hs_space).to_string()
}

// ---------------------------------------------------------------------------------------
// Productions
// ---------------------------------------------------------------------------------------

const FIELD_NAME: &str = "field name (* or [a..z0..9_$])";

fn ws(st: &mut St) -> R<()> {
    map(many(st, |st| one_of(st, " \t")), |_| ())
}

/// Blanks and tabs around `p`.
fn lexeme<T>(st: &mut St, p: impl FnOnce(&mut St) -> R<T>) -> R<T> {
    let mut q = Seq::new(st);
    q.run(ws(st))?;
    let v = q.run(p(st))?;
    q.run(ws(st))?;
    q.done(v)
}

fn p_delimiter(st: &mut St) -> R<char> {
    label(st, |st| char_(st, '.'), "delimiter (.)")
}

fn p_identifier_char(st: &mut St) -> R<char> {
    alt!(st, letter, digit, |st: &mut St| one_of(st, "_ $"))
}

/// Letters, digits, `_`, `$` and inner blanks (outer ones are trimmed). Also used for cast
/// types such as `double precision` and fts languages.
fn p_identifier(st: &mut St) -> R<String> {
    map(many1(st, p_identifier_char), |cs| {
        cs.into_iter()
            .collect::<String>()
            .trim_matches(' ')
            .to_string()
    })
}

/// `"..."` with backslash escaping any character.
fn p_quoted_value(st: &mut St) -> R<String> {
    let mut q = Seq::new(st);
    q.run(char_(st, '"'))?;
    let chars = q.run(many(st, |st| {
        alt!(st, |st: &mut St| none_of(st, "\\\""), |st: &mut St| {
            let mut q = Seq::new(st);
            q.run(char_(st, '\\'))?;
            let c = q.run(any_char(st))?;
            q.done(c)
        })
    }))?;
    q.run(char_(st, '"'))?;
    q.done(chars.into_iter().collect())
}

/// A `-` that does not start a `->` arrow.
fn p_dash(st: &mut St) -> R<()> {
    try_(st, |st| {
        let mut q = Seq::new(st);
        q.run(char_(st, '-'))?;
        q.run(not_followed_by(st, |st| char_(st, '>')))?;
        q.done(())
    })
}

/// Names may contain dashes (`first-name`) as long as they are not JSON arrows.
fn sep_by_dash(st: &mut St, ident: fn(&mut St) -> R<String>) -> R<String> {
    map(sep_by1(st, ident, p_dash), |parts| parts.join("-"))
}

fn p_field_name(st: &mut St) -> R<String> {
    label(
        st,
        |st| or(st, p_quoted_value, |st| sep_by_dash(st, p_identifier)),
        FIELD_NAME,
    )
}

fn p_json_key_identifier(st: &mut St) -> R<String> {
    map(many1(st, |st| none_of(st, "(-:.,>)")), |cs| {
        hs_strip(&cs.into_iter().collect::<String>())
    })
}

fn p_json_key_name(st: &mut St) -> R<String> {
    label(
        st,
        |st| {
            or(st, p_quoted_value, |st| {
                sep_by_dash(st, p_json_key_identifier)
            })
        },
        "any non reserved character different from: .,>()",
    )
}

/// `->key`, `->>0`, `->-1`, `->"a.b"`...
fn p_json_path(st: &mut St) -> R<JsonPath> {
    many(st, p_json_operation)
}

fn p_json_operation(st: &mut St) -> R<JsonOperation> {
    let mut q = Seq::new(st);
    let double = q.run(or(
        st,
        |st| map(try_(st, |st| string(st, "->>")), |_| true),
        |st| map(try_(st, |st| string(st, "->")), |_| false),
    ))?;
    let operand = q.run(or(
        st,
        |st| try_(st, p_json_index),
        |st| try_(st, |st| map(p_json_key_name(st), JsonOperand::Key)),
    ))?;
    q.done(if double {
        JsonOperation::DoubleArrow(operand)
    } else {
        JsonOperation::Arrow(operand)
    })
}

/// An array index, only when followed by another arrow, a cast, `.`, `,` or the end (so
/// `->1a` is a key). Out-of-range indexes saturate.
fn p_json_index(st: &mut St) -> R<JsonOperand> {
    let mut q = Seq::new(st);
    let sign = q.run(option(st, '+', |st| char_(st, '-')))?;
    let digits = q.run(many1(st, digit))?;
    q.run(alt!(
        st,
        |st: &mut St| try_(st, |st| look_ahead(st, |st| string(st, "->"))),
        |st: &mut St| try_(st, |st| look_ahead(st, |st| string(st, "::"))),
        |st: &mut St| try_(st, |st| look_ahead(st, |st| string(st, "."))),
        |st: &mut St| try_(st, |st| look_ahead(st, |st| string(st, ","))),
        |st: &mut St| try_(st, eof),
    ))?;
    let magnitude = digits.iter().fold(0i64, |n, d| {
        n.saturating_mul(10)
            .saturating_add(i64::from(d.to_digit(10).unwrap_or(0)))
    });
    q.done(JsonOperand::Idx(if sign == '-' {
        -magnitude
    } else {
        magnitude
    }))
}

/// A column with an optional JSON path, blanks around it ignored.
fn p_field(st: &mut St) -> R<Field> {
    lexeme(st, |st| {
        let mut q = Seq::new(st);
        let name = q.run(p_field_name(st))?;
        let json_path = q.run(option(st, Vec::new(), p_json_path))?;
        q.done(Field { name, json_path })
    })
}

/// A parameter name: `actors.films.title->x` → (`[actors, films]`, `title->x`). Whatever
/// follows a valid prefix is ignored, as in PostgREST.
fn p_tree_path(st: &mut St) -> R<(EmbedPath, Field)> {
    let mut q = Seq::new(st);
    let mut path = q.run(sep_by1(st, p_field_name, p_delimiter))?;
    let json_path = q.run(option(st, Vec::new(), p_json_path))?;
    let name = path.pop().unwrap_or_default();
    q.done((path, Field { name, json_path }))
}

/// `alias:` (but not the start of a `::` cast).
fn p_alias(st: &mut St) -> R<String> {
    let mut q = Seq::new(st);
    let name = q.run(p_field_name(st))?;
    q.run(char_(st, ':'))?;
    q.run(not_followed_by(st, |st| char_(st, ':')))?;
    q.done(name)
}

/// `select=`: a comma-separated forest of fields and embedded relations.
fn p_field_forest(st: &mut St) -> R<Vec<SelectItem>> {
    nested(st, |st| {
        sep_by(st, p_field_tree, |st| lexeme(st, |st| char_(st, ',')))
    })
}

fn p_field_tree(st: &mut St) -> R<SelectItem> {
    alt!(
        st,
        |st: &mut St| {
            let mut q = Seq::new(st);
            let (relation, hint, join_type) = q.run(try_(st, p_spread_relation_select))?;
            let children = q.run(between(st, '(', ')', p_field_forest))?;
            q.done(SelectItem::Spread {
                relation,
                hint,
                join_type,
                children,
            })
        },
        |st: &mut St| {
            let mut q = Seq::new(st);
            let (alias, relation, hint, join_type) = q.run(try_(st, p_relation_select))?;
            let children = q.run(between(st, '(', ')', p_field_forest))?;
            q.done(SelectItem::Relation {
                relation,
                alias,
                hint,
                join_type,
                children,
            })
        },
        p_field_select,
    )
}

type RelationHead = (Option<String>, String, Option<String>, Option<JoinType>);

/// `alias:relation!hint!inner` right before its `(`.
fn p_relation_select(st: &mut St) -> R<RelationHead> {
    lexeme(st, |st| {
        let mut q = Seq::new(st);
        let alias = q.run(option_maybe(st, |st| try_(st, p_alias)))?;
        let name = q.run(p_field_name(st))?;
        // `count(...)` is the aggregate, never a relation.
        if name == "count" {
            q.run(parser_zero::<()>(st))?;
        }
        let (hint, join_type) = q.run(p_embed_params(st))?;
        q.run(try_(st, |st| look_ahead(st, |st| string(st, "("))))?;
        q.done((alias, name, hint, join_type))
    })
}

/// `...relation!hint!inner` right before its `(`.
fn p_spread_relation_select(st: &mut St) -> R<(String, Option<String>, Option<JoinType>)> {
    lexeme(st, |st| {
        let mut q = Seq::new(st);
        q.run(string(st, "..."))?;
        let name = q.run(p_field_name(st))?;
        let (hint, join_type) = q.run(p_embed_params(st))?;
        q.run(try_(st, |st| look_ahead(st, |st| string(st, "("))))?;
        q.done((name, hint, join_type))
    })
}

enum EmbedParam {
    Hint(String),
    Join(JoinType),
}

/// Up to two `!` parameters, in any order: a join type and/or a disambiguation hint.
fn p_embed_params(st: &mut St) -> R<(Option<String>, Option<JoinType>)> {
    let mut q = Seq::new(st);
    let first = q.run(option_maybe(st, p_embed_param))?;
    let second = q.run(option_maybe(st, p_embed_param))?;
    let params = [first, second];
    let hint = params.iter().find_map(|p| match p {
        Some(EmbedParam::Hint(h)) => Some(h.clone()),
        _ => None,
    });
    let join = params.iter().find_map(|p| match p {
        Some(EmbedParam::Join(j)) => Some(*j),
        _ => None,
    });
    q.done((hint, join))
}

fn p_embed_param(st: &mut St) -> R<EmbedParam> {
    let mut q = Seq::new(st);
    q.run(char_(st, '!'))?;
    let param = q.run(alt!(
        st,
        |st: &mut St| try_(st, |st| map(string(st, "left"), |_| EmbedParam::Join(
            JoinType::Left
        ))),
        |st: &mut St| try_(st, |st| map(string(st, "inner"), |_| EmbedParam::Join(
            JoinType::Inner
        ))),
        |st: &mut St| try_(st, |st| map(p_field_name(st), EmbedParam::Hint)),
    ))?;
    q.done(param)
}

/// What may follow a select item.
fn p_select_end(st: &mut St) -> R<()> {
    alt!(
        st,
        |st: &mut St| try_(st, |st| look_ahead(st, |st| string(st, ")"))),
        |st: &mut St| try_(st, |st| look_ahead(st, |st| string(st, ","))),
        |st: &mut St| try_(st, eof),
    )
}

fn p_cast(st: &mut St) -> R<String> {
    let mut q = Seq::new(st);
    q.run(string(st, "::"))?;
    let t = q.run(p_identifier(st))?;
    q.done(t)
}

/// `*`, `count()`, or `alias:field->path::cast.agg()::cast`.
fn p_field_select(st: &mut St) -> R<SelectItem> {
    lexeme(st, |st| {
        alt!(
            st,
            |st: &mut St| {
                try_(st, |st| {
                    let mut q = Seq::new(st);
                    q.run(string(st, "*"))?;
                    q.run(p_select_end(st))?;
                    q.done(SelectItem::Field {
                        field: Field::new("*"),
                        aggregate: None,
                        aggregate_cast: None,
                        cast: None,
                        alias: None,
                    })
                })
            },
            |st: &mut St| {
                try_(st, |st| {
                    let mut q = Seq::new(st);
                    let alias = q.run(option_maybe(st, |st| try_(st, p_alias)))?;
                    q.run(string(st, "count()"))?;
                    let aggregate_cast = q.run(option_maybe(st, p_cast))?;
                    q.run(p_select_end(st))?;
                    q.done(SelectItem::Field {
                        field: Field::new("*"),
                        aggregate: Some(AggregateFunction::Count),
                        aggregate_cast,
                        cast: None,
                        alias,
                    })
                })
            },
            |st: &mut St| {
                let mut q = Seq::new(st);
                let alias = q.run(option_maybe(st, |st| try_(st, p_alias)))?;
                let field = q.run(p_field(st))?;
                let cast = q.run(option_maybe(st, p_cast))?;
                let aggregate = q.run(option_maybe(st, |st| {
                    try_(st, |st| {
                        let mut q = Seq::new(st);
                        q.run(char_(st, '.'))?;
                        let agg = q.run(p_aggregation(st))?;
                        q.run(string(st, "()"))?;
                        q.done(agg)
                    })
                }))?;
                let aggregate_cast = q.run(option_maybe(st, p_cast))?;
                q.run(p_select_end(st))?;
                q.done(SelectItem::Field {
                    field,
                    aggregate,
                    aggregate_cast,
                    cast,
                    alias,
                })
            },
        )
    })
}

fn p_aggregation(st: &mut St) -> R<AggregateFunction> {
    use AggregateFunction::*;
    alt!(
        st,
        |st: &mut St| map(string(st, "sum"), |_| Sum),
        |st: &mut St| map(string(st, "avg"), |_| Avg),
        |st: &mut St| map(string(st, "count"), |_| Count),
        |st: &mut St| try_(st, |st| map(string(st, "max"), |_| Max)),
        |st: &mut St| try_(st, |st| map(string(st, "min"), |_| Min)),
    )
}

/// `[not.]operator[(quantifier)|(language)].value`. `single_val` reads the value: the rest
/// of the text for a filter parameter, up to `,`/`)` inside a logic tree.
fn p_op_expr(st: &mut St, single_val: fn(&mut St) -> R<String>) -> R<OpExpr> {
    let mut q = Seq::new(st);
    let negated = q.run(or(
        st,
        |st| {
            try_(st, |st| {
                let mut q = Seq::new(st);
                q.run(string(st, "not"))?;
                q.run(p_delimiter(st))?;
                q.done(true)
            })
        },
        |st| pure(st, false),
    ))?;
    let operation = q.run(p_operation(st, single_val))?;
    q.done(OpExpr::Expr { negated, operation })
}

/// `keyword.`, all or nothing.
fn p_keyword_dot(st: &mut St, keyword: &'static str) -> R<()> {
    try_(st, |st| {
        let mut q = Seq::new(st);
        q.run(string(st, keyword))?;
        q.run(p_delimiter(st))?;
        q.done(())
    })
}

fn p_operation(st: &mut St, single_val: fn(&mut St) -> R<String>) -> R<Operation> {
    label(
        st,
        |st| {
            alt!(
                st,
                |st: &mut St| {
                    let mut q = Seq::new(st);
                    q.run(p_keyword_dot(st, "in"))?;
                    let list = q.run(p_list_val(st))?;
                    q.done(Operation::In(list))
                },
                |st: &mut St| {
                    let mut q = Seq::new(st);
                    q.run(p_keyword_dot(st, "is"))?;
                    let v = q.run(p_is_val(st))?;
                    q.done(Operation::Is(v))
                },
                |st: &mut St| {
                    let mut q = Seq::new(st);
                    q.run(p_keyword_dot(st, "isdistinct"))?;
                    let v = q.run(single_val(st))?;
                    q.done(Operation::IsDistinctFrom(v))
                },
                |st: &mut St| try_(st, |st| p_fts(st, single_val)),
                |st: &mut St| {
                    try_(st, |st| {
                        let mut q = Seq::new(st);
                        let op = q.run(p_simple_operator(st))?;
                        q.run(p_delimiter(st))?;
                        let v = q.run(single_val(st))?;
                        q.done(Operation::Simple(op, v))
                    })
                },
                |st: &mut St| try_(st, |st| p_quant_op(st, single_val)),
            )
        },
        "operator (eq, gt, ...)",
    )
}

fn keyword<T: Copy>(st: &mut St, word: &'static str, value: T) -> R<T> {
    try_(st, |st| map(string(st, word), |_| value))
}

fn p_simple_operator(st: &mut St) -> R<SimpleOperator> {
    use SimpleOperator::*;
    label(
        st,
        |st| {
            alt!(
                st,
                |st: &mut St| keyword(st, "neq", NotEqual),
                |st: &mut St| keyword(st, "cs", Contains),
                |st: &mut St| keyword(st, "cd", Contained),
                |st: &mut St| keyword(st, "ov", Overlap),
                |st: &mut St| keyword(st, "sl", StrictlyLeft),
                |st: &mut St| keyword(st, "sr", StrictlyRight),
                |st: &mut St| keyword(st, "nxr", NotExtendsRight),
                |st: &mut St| keyword(st, "nxl", NotExtendsLeft),
                |st: &mut St| keyword(st, "adj", Adjacent),
            )
        },
        "unknown single value operator",
    )
}

fn p_quant_operator(st: &mut St) -> R<QuantOperator> {
    use QuantOperator::*;
    label(
        st,
        |st| {
            alt!(
                st,
                |st: &mut St| keyword(st, "eq", Equal),
                |st: &mut St| keyword(st, "gte", GreaterThanEqual),
                |st: &mut St| keyword(st, "gt", GreaterThan),
                |st: &mut St| keyword(st, "lte", LessThanEqual),
                |st: &mut St| keyword(st, "lt", LessThan),
                |st: &mut St| keyword(st, "like", Like),
                |st: &mut St| keyword(st, "ilike", ILike),
                |st: &mut St| keyword(st, "match", Match),
                |st: &mut St| keyword(st, "imatch", IMatch),
            )
        },
        "unknown single value operator",
    )
}

fn p_quant_op(st: &mut St, single_val: fn(&mut St) -> R<String>) -> R<Operation> {
    let mut q = Seq::new(st);
    let op = q.run(p_quant_operator(st))?;
    let quantifier = q.run(option_maybe(st, |st| {
        try_(st, |st| {
            between(st, '(', ')', |st| {
                or(
                    st,
                    |st| keyword(st, "any", OpQuantifier::Any),
                    |st| map(string(st, "all"), |_| OpQuantifier::All),
                )
            })
        })
    }))?;
    q.run(p_delimiter(st))?;
    let v = q.run(single_val(st))?;
    q.done(Operation::Quant(op, quantifier, v))
}

fn p_fts(st: &mut St, single_val: fn(&mut St) -> R<String>) -> R<Operation> {
    use FtsOperator::*;
    let mut q = Seq::new(st);
    let op = q.run(alt!(
        st,
        |st: &mut St| keyword(st, "fts", Fts),
        |st: &mut St| keyword(st, "plfts", Plain),
        |st: &mut St| keyword(st, "phfts", Phrase),
        |st: &mut St| keyword(st, "wfts", Websearch),
    ))?;
    let language = q.run(option_maybe(st, |st| {
        try_(st, |st| between(st, '(', ')', p_identifier))
    }))?;
    q.run(p_delimiter(st))?;
    let v = q.run(single_val(st))?;
    q.done(Operation::Fts(op, language, v))
}

/// The operand of `is`, case-insensitively.
fn p_is_val(st: &mut St) -> R<IsVal> {
    let ci = |st: &mut St, word: &str, v: IsVal| try_(st, |st| map(ci_string(st, word), |_| v));
    label(
        st,
        |st| {
            alt!(
                st,
                |st: &mut St| ci(st, "null", IsVal::Null),
                |st: &mut St| ci(st, "not_null", IsVal::NotNull),
                |st: &mut St| ci(st, "true", IsVal::True),
                |st: &mut St| ci(st, "false", IsVal::False),
                |st: &mut St| ci(st, "unknown", IsVal::Unknown),
            )
        },
        "isVal: (null, not_null, true, false, unknown)",
    )
}

/// The value of a filter parameter: everything that is left, untouched.
fn p_single_val(st: &mut St) -> R<String> {
    map(many(st, any_char), |cs| cs.into_iter().collect())
}

/// `"quoted"` when it is the whole element (then `,` and `)` may appear inside).
fn p_quoted_element(st: &mut St) -> R<String> {
    try_(st, |st| {
        let mut q = Seq::new(st);
        let v = q.run(p_quoted_value(st))?;
        q.run(not_followed_by(st, |st| none_of(st, ",)")))?;
        q.done(v)
    })
}

fn p_unquoted_element(st: &mut St) -> R<String> {
    map(many(st, |st| none_of(st, ",)")), |cs| {
        cs.into_iter().collect()
    })
}

/// A value inside a logic tree: quoted, a `{...}` array literal, or up to `,`/`)`.
fn p_logic_single_val(st: &mut St) -> R<String> {
    alt!(
        st,
        p_quoted_element,
        |st: &mut St| try_(st, p_pg_array),
        p_unquoted_element
    )
}

/// `{...}` kept with its braces; nested braces are not supported, as in PostgREST.
fn p_pg_array(st: &mut St) -> R<String> {
    let mut q = Seq::new(st);
    q.run(string(st, "{"))?;
    let inner: String = q
        .run(many(st, |st| none_of(st, "{}")))?
        .into_iter()
        .collect();
    q.run(string(st, "}"))?;
    q.done(format!("{{{inner}}}"))
}

/// `(a,"b,c",)` for `in.`; `()` is a list with one empty string.
fn p_list_val(st: &mut St) -> R<Vec<String>> {
    let mut q = Seq::new(st);
    q.run(lexeme(st, |st| char_(st, '(')))?;
    let items = q.run(sep_by1(st, p_list_element, |st| char_(st, ',')))?;
    q.run(lexeme(st, |st| char_(st, ')')))?;
    q.done(items)
}

fn p_list_element(st: &mut St) -> R<String> {
    or(st, p_quoted_element, p_unquoted_element)
}

/// `order=a.desc.nullslast,rel(b)` terms.
fn p_order(st: &mut St) -> R<Vec<OrderTerm>> {
    sep_by1(
        st,
        |st| {
            lexeme(st, |st| {
                or(st, |st| try_(st, p_order_relation_term), p_order_term)
            })
        },
        |st| char_(st, ','),
    )
}

fn p_order_term(st: &mut St) -> R<OrderTerm> {
    let mut q = Seq::new(st);
    let field = q.run(p_field(st))?;
    let (direction, nulls) = q.run(p_order_modifiers(st))?;
    q.done(OrderTerm {
        relation: None,
        field,
        direction,
        nulls,
    })
}

fn p_order_relation_term(st: &mut St) -> R<OrderTerm> {
    let mut q = Seq::new(st);
    let relation = q.run(p_field_name(st))?;
    let field = q.run(between(st, '(', ')', p_field))?;
    let (direction, nulls) = q.run(p_order_modifiers(st))?;
    q.done(OrderTerm {
        relation: Some(relation),
        field,
        direction,
        nulls,
    })
}

/// `.asc|.desc` then `.nullsfirst|.nullslast`, then the end of the term.
fn p_order_modifiers(st: &mut St) -> R<(Option<OrderDirection>, Option<OrderNulls>)> {
    let mut q = Seq::new(st);
    let direction = q.run(option_maybe(st, |st| {
        or(
            st,
            |st| try_(st, |st| p_dotted(st, "asc", OrderDirection::Asc)),
            |st| try_(st, |st| p_dotted(st, "desc", OrderDirection::Desc)),
        )
    }))?;
    let nulls = q.run(or(
        st,
        |st| {
            let mut q = Seq::new(st);
            let nulls = q.run(option_maybe(st, |st| {
                or(
                    st,
                    |st| try_(st, |st| p_dotted(st, "nullsfirst", OrderNulls::First)),
                    |st| try_(st, |st| p_dotted(st, "nullslast", OrderNulls::Last)),
                )
            }))?;
            q.run(p_order_end(st))?;
            q.done(nulls)
        },
        |st| map(p_order_end(st), |_| None),
    ))?;
    q.done((direction, nulls))
}

fn p_dotted<T>(st: &mut St, word: &'static str, value: T) -> R<T> {
    let mut q = Seq::new(st);
    q.run(p_delimiter(st))?;
    q.run(string(st, word))?;
    q.done(value)
}

fn p_order_end(st: &mut St) -> R<()> {
    or(
        st,
        |st| try_(st, |st| map(look_ahead(st, |st| char_(st, ',')), |_| ())),
        |st| try_(st, eof),
    )
}

/// `or(a.eq.1,not.and(b.gt.2,c.is.null))`, the operator being prepended to the value.
fn p_logic_tree(st: &mut St) -> R<LogicTree> {
    nested(st, |st| {
        or(
            st,
            |st| map(try_(st, p_logic_filter), LogicTree::Stmnt),
            |st| {
                let mut q = Seq::new(st);
                let negated = q.run(p_not(st))?;
                let op = q.run(p_logic_op(st))?;
                q.run(lexeme(st, |st| char_(st, '(')))?;
                let children = q.run(sep_by1(st, p_logic_tree, |st| {
                    lexeme(st, |st| char_(st, ','))
                }))?;
                q.run(lexeme(st, |st| char_(st, ')')))?;
                q.done(LogicTree::Expr {
                    negated,
                    op,
                    children,
                })
            },
        )
    })
}

fn p_logic_filter(st: &mut St) -> R<Filter> {
    let mut q = Seq::new(st);
    let field = q.run(p_field(st))?;
    q.run(p_delimiter(st))?;
    let op_expr = q.run(p_op_expr(st, p_logic_single_val))?;
    q.done(Filter { field, op_expr })
}

fn p_not(st: &mut St) -> R<bool> {
    label(
        st,
        |st| {
            or(
                st,
                |st| map(p_keyword_dot(st, "not"), |_| true),
                |st| pure(st, false),
            )
        },
        "negation operator (not)",
    )
}

fn p_logic_op(st: &mut St) -> R<LogicOperator> {
    label(
        st,
        |st| {
            or(
                st,
                |st| keyword(st, "and", LogicOperator::And),
                |st| map(string(st, "or"), |_| LogicOperator::Or),
            )
        },
        "logic operator (and, or)",
    )
}

/// The name of a logic parameter: `actors.not.or` → (`[actors]`, `not.or`).
fn p_logic_path(st: &mut St) -> R<(EmbedPath, String)> {
    map(sep_by1(st, p_field_name, p_delimiter), |mut path| {
        let op = path.pop().unwrap_or_default();
        let negated = op == "not" || path.iter().any(|p| p == "not");
        let embed: EmbedPath = path.into_iter().filter(|p| p != "not").collect();
        (embed, if negated { format!("not.{op}") } else { op })
    })
}

/// `columns=` and `on_conflict=`: comma-separated names.
fn p_columns(st: &mut St) -> R<Vec<FieldName>> {
    sep_by1(st, p_field_name, |st| lexeme(st, |st| char_(st, ',')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use JsonOperand::{Idx, Key};
    use JsonOperation::{Arrow, DoubleArrow};

    /// Runs a production like the doctests' `P.parse p "" input`: the value, or the column
    /// and the flattened message.
    fn pp<T>(input: &str, p: impl FnOnce(&mut St) -> R<T>) -> Result<T, (u32, String)> {
        let mut st = St::new(input);
        let r = p(&mut st);
        if let Some(e) = st.fatal.take() {
            return Err((e.pos.col, e.details()));
        }
        r.map(|o| o.val)
            .map_err(|f| (f.err.pos.col, f.err.details()))
    }

    fn err(col: u32, details: &str) -> (u32, String) {
        (col, details.to_string())
    }

    fn fld(name: &str) -> Field {
        Field::new(name)
    }

    fn fldj(name: &str, json_path: JsonPath) -> Field {
        Field {
            name: name.to_string(),
            json_path,
        }
    }

    fn sel(field: Field) -> SelectItem {
        SelectItem::Field {
            field,
            aggregate: None,
            aggregate_cast: None,
            cast: None,
            alias: None,
        }
    }

    fn sel_full(
        field: Field,
        alias: Option<&str>,
        cast: Option<&str>,
        aggregate: Option<AggregateFunction>,
        aggregate_cast: Option<&str>,
    ) -> SelectItem {
        SelectItem::Field {
            field,
            aggregate,
            aggregate_cast: aggregate_cast.map(str::to_string),
            cast: cast.map(str::to_string),
            alias: alias.map(str::to_string),
        }
    }

    fn rel(relation: &str, children: Vec<SelectItem>) -> SelectItem {
        SelectItem::Relation {
            relation: relation.into(),
            alias: None,
            hint: None,
            join_type: None,
            children,
        }
    }

    fn star() -> SelectItem {
        sel(fld("*"))
    }

    fn expr(operation: Operation) -> OpExpr {
        OpExpr::Expr {
            negated: false,
            operation,
        }
    }

    fn not(operation: Operation) -> OpExpr {
        OpExpr::Expr {
            negated: true,
            operation,
        }
    }

    fn eq(v: &str) -> Operation {
        Operation::Quant(QuantOperator::Equal, None, v.to_string())
    }

    fn filter(name: &str, op_expr: OpExpr) -> Filter {
        Filter {
            field: fld(name),
            op_expr,
        }
    }

    fn stmnt(name: &str, operation: Operation) -> LogicTree {
        LogicTree::Stmnt(filter(name, expr(operation)))
    }

    fn order(
        field: Field,
        direction: Option<OrderDirection>,
        nulls: Option<OrderNulls>,
    ) -> OrderTerm {
        OrderTerm {
            relation: None,
            field,
            direction,
            nulls,
        }
    }

    fn qp(query: &str) -> QueryParams {
        parse(false, query).unwrap()
    }

    fn qp_err(query: &str) -> (String, String) {
        let e = parse(false, query).unwrap_err();
        (e.message, e.details)
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    // --- PostgREST doctests: parse -----------------------------------------------------

    #[test]
    fn doctest_canonical() {
        assert_eq!(
            parse(true, "a=1&c=3&b=2&d").unwrap().canonical,
            "a=1&b=2&c=3&d="
        );
    }

    #[test]
    fn doctest_select() {
        assert_eq!(
            qp("select=name,location").select,
            vec![sel(fld("name")), sel(fld("location"))]
        );
    }

    #[test]
    fn doctest_filters() {
        assert_eq!(
            qp("a.b=eq.0").filters,
            vec![(strings(&["a"]), filter("b", expr(eq("0"))))]
        );
        assert_eq!(
            qp_err("a.b=noop.0"),
            (
                "\"failed to parse filter (noop.0)\" (line 1, column 1)".to_string(),
                "unexpected \"o\" expecting \"not\" or operator (eq, gt, ...)".to_string()
            )
        );
    }

    #[test]
    fn doctest_request_filter() {
        assert_eq!(
            request_filter(false, "id", "eq.1"),
            Ok((vec![], filter("id", expr(eq("1")))))
        );
        assert_eq!(
            request_filter(false, "id", "val"),
            Err(QpError {
                message: "\"failed to parse filter (val)\" (line 1, column 1)".into(),
                details: "unexpected \"v\" expecting \"not\" or operator (eq, gt, ...)".into()
            })
        );
        assert_eq!(
            request_filter(true, "id", "val"),
            Ok((vec![], filter("id", OpExpr::NoOp("val".into()))))
        );
    }

    // --- PostgREST doctests: select ----------------------------------------------------

    #[test]
    fn doctest_field_forest() {
        assert_eq!(pp("id", p_field_forest), Ok(vec![sel(fld("id"))]));
        assert_eq!(
            pp("client(id)", p_field_forest),
            Ok(vec![rel("client", vec![sel(fld("id"))])])
        );
        assert_eq!(
            pp("*,client(*,nested(*))", p_field_forest),
            Ok(vec![
                star(),
                rel("client", vec![star(), rel("nested", vec![star()])])
            ])
        );
        assert_eq!(
            pp("*,...client(*),other(*)", p_field_forest),
            Ok(vec![
                star(),
                SelectItem::Spread {
                    relation: "client".into(),
                    hint: None,
                    join_type: None,
                    children: vec![star()]
                },
                rel("other", vec![star()])
            ])
        );
        assert_eq!(pp("", p_field_forest), Ok(vec![]));
        assert_eq!(
            pp("id,clients(name[])", p_field_forest),
            Err(err(
                16,
                "unexpected '[' expecting letter, digit, \"-\", \"->>\", \"->\", \"::\", \".\", \")\", \",\" or end of input"
            ))
        );
        assert_eq!(
            pp("data->>-78xy", p_field_forest),
            Err(err(
                11,
                "unexpected 'x' expecting digit, \"->\", \"::\", \".\", \",\" or end of input"
            ))
        );
    }

    #[test]
    fn doctest_field_name() {
        assert_eq!(pp("identifier", p_field_name), Ok("identifier".into()));
        assert_eq!(
            pp("identifier with spaces", p_field_name),
            Ok("identifier with spaces".into())
        );
        assert_eq!(
            pp("identifier-with-dashes", p_field_name),
            Ok("identifier-with-dashes".into())
        );
        assert_eq!(pp("123", p_field_name), Ok("123".into()));
        assert_eq!(pp("_", p_field_name), Ok("_".into()));
        assert_eq!(pp("$", p_field_name), Ok("$".into()));
        assert_eq!(
            pp(":", p_field_name),
            Err(err(
                1,
                "unexpected \":\" expecting field name (* or [a..z0..9_$])"
            ))
        );
        assert_eq!(pp("\":\"", p_field_name), Ok(":".into()));
        assert_eq!(
            pp(" no leading or trailing spaces ", p_field_name),
            Ok("no leading or trailing spaces".into())
        );
        assert_eq!(
            pp("\" leading and trailing spaces \"", p_field_name),
            Ok(" leading and trailing spaces ".into())
        );
    }

    #[test]
    fn doctest_json_path() {
        assert_eq!(
            pp("->text", p_json_path),
            Ok(vec![Arrow(Key("text".into()))])
        );
        assert_eq!(
            pp("->!@#$%^&*_a", p_json_path),
            Ok(vec![Arrow(Key("!@#$%^&*_a".into()))])
        );
        assert_eq!(pp("->1", p_json_path), Ok(vec![Arrow(Idx(1))]));
        assert_eq!(
            pp("->>text", p_json_path),
            Ok(vec![DoubleArrow(Key("text".into()))])
        );
        assert_eq!(
            pp("->>!@#$%^&*_a", p_json_path),
            Ok(vec![DoubleArrow(Key("!@#$%^&*_a".into()))])
        );
        assert_eq!(pp("->>1", p_json_path), Ok(vec![DoubleArrow(Idx(1))]));
        assert_eq!(pp("->0,other", p_json_path), Ok(vec![Arrow(Idx(0))]));
        assert_eq!(pp("->0.desc", p_json_path), Ok(vec![Arrow(Idx(0))]));
        assert_eq!(
            pp("->>-78xy", p_json_path),
            Err(err(
                7,
                "unexpected 'x' expecting digit, \"->\", \"::\", \".\", \",\" or end of input"
            ))
        );
        assert_eq!(
            pp("->>--34", p_json_path),
            Err(err(5, "unexpected \"-\" expecting digit"))
        );
        assert_eq!(
            pp("->>-xy-4", p_json_path),
            Err(err(5, "unexpected \"x\" expecting digit"))
        );
    }

    #[test]
    fn doctest_relation_select() {
        let head = |alias: Option<&str>, name: &str, hint: Option<&str>, jt: Option<JoinType>| {
            Ok((
                alias.map(str::to_string),
                name.to_string(),
                hint.map(str::to_string),
                jt,
            ))
        };
        assert_eq!(
            pp("rel(*)", p_relation_select),
            head(None, "rel", None, None)
        );
        assert_eq!(
            pp("alias:rel(*)", p_relation_select),
            head(Some("alias"), "rel", None, None)
        );
        assert_eq!(
            pp("rel!hint(*)", p_relation_select),
            head(None, "rel", Some("hint"), None)
        );
        assert_eq!(
            pp("rel!inner(*)", p_relation_select),
            head(None, "rel", None, Some(JoinType::Inner))
        );
        assert_eq!(
            pp("rel!hint!inner(*)", p_relation_select),
            head(None, "rel", Some("hint"), Some(JoinType::Inner))
        );
        assert_eq!(
            pp("alias:rel!inner!hint(*)", p_relation_select),
            head(Some("alias"), "rel", Some("hint"), Some(JoinType::Inner))
        );
        assert_eq!(
            pp("rel->jsonpath(*)", p_relation_select),
            Err(err(6, "unexpected '>'"))
        );
        assert_eq!(
            pp("rel->jsonpath!hint(*)", p_relation_select),
            Err(err(6, "unexpected '>'"))
        );
    }

    #[test]
    fn doctest_field_select() {
        assert_eq!(pp("name", p_field_select), Ok(sel(fld("name"))));
        assert_eq!(
            pp("name->jsonpath", p_field_select),
            Ok(sel(fldj("name", vec![Arrow(Key("jsonpath".into()))])))
        );
        assert_eq!(
            pp("name::cast", p_field_select),
            Ok(sel_full(fld("name"), None, Some("cast"), None, None))
        );
        assert_eq!(
            pp("alias:name", p_field_select),
            Ok(sel_full(fld("name"), Some("alias"), None, None, None))
        );
        assert_eq!(
            pp("alias:name->jsonpath::cast", p_field_select),
            Ok(sel_full(
                fldj("name", vec![Arrow(Key("jsonpath".into()))]),
                Some("alias"),
                Some("cast"),
                None,
                None
            ))
        );
        assert_eq!(
            pp("alias:name->!@#$%^&*_a::cast", p_field_select),
            Ok(sel_full(
                fldj("name", vec![Arrow(Key("!@#$%^&*_a".into()))]),
                Some("alias"),
                Some("cast"),
                None,
                None
            ))
        );
        assert_eq!(pp("*", p_field_select), Ok(star()));
        assert_eq!(
            pp("name!hint", p_field_select),
            Err(err(
                5,
                "unexpected '!' expecting letter, digit, \"-\", \"->>\", \"->\", \"::\", \".\", \")\", \",\" or end of input"
            ))
        );
        assert_eq!(
            pp("*!hint", p_field_select),
            Err(err(
                2,
                "unexpected '!' expecting \")\", \",\" or end of input"
            ))
        );
        assert_eq!(
            pp("name::", p_field_select),
            Err(err(7, "unexpected end of input expecting letter or digit"))
        );
    }

    #[test]
    fn doctest_spread_relation_select() {
        assert_eq!(
            pp("...rel(*)", p_spread_relation_select),
            Ok(("rel".into(), None, None))
        );
        assert_eq!(
            pp("...rel!hint!inner(*)", p_spread_relation_select),
            Ok(("rel".into(), Some("hint".into()), Some(JoinType::Inner)))
        );
        assert_eq!(
            pp("rel(*)", p_spread_relation_select),
            Err(err(1, "unexpected \"r\" expecting \"...\""))
        );
        assert_eq!(
            pp("alias:...rel(*)", p_spread_relation_select),
            Err(err(1, "unexpected \"a\" expecting \"...\""))
        );
        assert_eq!(
            pp("...rel->jsonpath(*)", p_spread_relation_select),
            Err(err(9, "unexpected '>'"))
        );
    }

    // --- PostgREST doctests: operators ------------------------------------------------

    fn op(input: &str) -> Result<OpExpr, (u32, String)> {
        pp(input, |st| p_op_expr(st, p_single_val))
    }

    #[test]
    fn doctest_op_expr() {
        assert_eq!(
            op("fts().value"),
            Err(err(5, "unexpected \")\" expecting operator (eq, gt, ...)"))
        );
        assert_eq!(
            op("eq(any).value"),
            Ok(expr(Operation::Quant(
                QuantOperator::Equal,
                Some(OpQuantifier::Any),
                "value".into()
            )))
        );
        assert_eq!(
            op("eq(all).value"),
            Ok(expr(Operation::Quant(
                QuantOperator::Equal,
                Some(OpQuantifier::All),
                "value".into()
            )))
        );
        assert_eq!(
            op("not.eq(all).value"),
            Ok(not(Operation::Quant(
                QuantOperator::Equal,
                Some(OpQuantifier::All),
                "value".into()
            )))
        );
        assert_eq!(
            op("eq().value"),
            Err(err(4, "unexpected \")\" expecting operator (eq, gt, ...)"))
        );
        assert_eq!(
            op("is().value"),
            Err(err(3, "unexpected \"(\" expecting operator (eq, gt, ...)"))
        );
        assert_eq!(
            op("in().value"),
            Err(err(3, "unexpected \"(\" expecting operator (eq, gt, ...)"))
        );
    }

    // --- PostgREST doctests: order ----------------------------------------------------

    #[test]
    fn doctest_order() {
        use OrderDirection::*;
        use OrderNulls::*;
        assert_eq!(
            pp("name.desc.nullsfirst", p_order),
            Ok(vec![order(fld("name"), Some(Desc), Some(First))])
        );
        assert_eq!(
            pp("json_col->key.asc.nullslast", p_order),
            Ok(vec![order(
                fldj("json_col", vec![Arrow(Key("key".into()))]),
                Some(Asc),
                Some(Last)
            )])
        );
        assert_eq!(
            pp("json_col->!@#$%^&*_a.asc.nullslast", p_order),
            Ok(vec![order(
                fldj("json_col", vec![Arrow(Key("!@#$%^&*_a".into()))]),
                Some(Asc),
                Some(Last)
            )])
        );
        assert_eq!(
            pp("clients(json_col->key).desc.nullsfirst", p_order),
            Ok(vec![OrderTerm {
                relation: Some("clients".into()),
                field: fldj("json_col", vec![Arrow(Key("key".into()))]),
                direction: Some(Desc),
                nulls: Some(First)
            }])
        );
        assert_eq!(
            pp("clients(json_col->!@#$%^&*_a).desc.nullsfirst", p_order),
            Ok(vec![OrderTerm {
                relation: Some("clients".into()),
                field: fldj("json_col", vec![Arrow(Key("!@#$%^&*_a".into()))]),
                direction: Some(Desc),
                nulls: Some(First)
            }])
        );
        assert_eq!(
            pp("clients(name,id)", p_order),
            Err(err(
                8,
                "unexpected '(' expecting letter, digit, \"-\", \"->>\", \"->\", delimiter (.), \",\" or end of input"
            ))
        );
        assert_eq!(
            pp("name,clients(name),id", p_order),
            Ok(vec![
                order(fld("name"), None, None),
                OrderTerm {
                    relation: Some("clients".into()),
                    field: fld("name"),
                    direction: None,
                    nulls: None
                },
                order(fld("id"), None, None)
            ])
        );
        let any_modifier = "expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"";
        assert_eq!(
            pp("id.ac", p_order),
            Err(err(4, &format!("unexpected \"c\" {any_modifier}")))
        );
        assert_eq!(
            pp("id.descc", p_order),
            Err(err(
                8,
                "unexpected 'c' expecting delimiter (.), \",\" or end of input"
            ))
        );
        assert_eq!(
            pp("id.nulsfist", p_order),
            Err(err(4, &format!("unexpected \"n\" {any_modifier}")))
        );
        assert_eq!(
            pp("id.nullslasttt", p_order),
            Err(err(13, "unexpected 't' expecting \",\" or end of input"))
        );
        assert_eq!(
            pp("id.smth34", p_order),
            Err(err(4, &format!("unexpected \"s\" {any_modifier}")))
        );
        assert_eq!(
            pp("id.asc.nlsfst", p_order),
            Err(err(
                8,
                "unexpected \"l\" expecting \"nullsfirst\" or \"nullslast\""
            ))
        );
        assert_eq!(
            pp("id.asc.nullslasttt", p_order),
            Err(err(17, "unexpected 't' expecting \",\" or end of input"))
        );
        assert_eq!(
            pp("id.asc.smth34", p_order),
            Err(err(
                8,
                "unexpected \"s\" expecting \"nullsfirst\" or \"nullslast\""
            ))
        );
    }

    // --- PostgREST doctests: logic trees ----------------------------------------------

    #[test]
    fn doctest_logic_tree() {
        assert_eq!(
            pp("or()", p_logic_tree),
            Err(err(
                4,
                "unexpected \")\" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)"
            ))
        );
        assert_eq!(
            pp("or(id.in.1,2,id.eq.3)", p_logic_tree),
            Err(err(10, "unexpected \"1\" expecting \"(\""))
        );
        assert_eq!(
            pp("or)(", p_logic_tree),
            Err(err(3, "unexpected \")\" expecting \"(\""))
        );
        assert_eq!(
            pp("and(ord(id.eq.1,id.eq.1),id.eq.2)", p_logic_tree),
            Err(err(7, "unexpected \"d\" expecting \"(\""))
        );
        assert_eq!(
            pp("or(id.eq.1,not.xor(id.eq.2,id.eq.3))", p_logic_tree),
            Err(err(
                16,
                "unexpected \"x\" expecting logic operator (and, or)"
            ))
        );
    }

    // --- Error texts seen in PostgREST's spec suite ------------------------------------

    #[test]
    fn spec_error_texts() {
        assert_eq!(
            qp_err("order=id.asc.nullslasttt"),
            (
                "\"failed to parse order (id.asc.nullslasttt)\" (line 1, column 17)".into(),
                "unexpected 't' expecting \",\" or end of input".into()
            )
        );
        assert_eq!(
            qp_err("id=0"),
            (
                "\"failed to parse filter (0)\" (line 1, column 1)".into(),
                "unexpected \"0\" expecting \"not\" or operator (eq, gt, ...)".into()
            )
        );
        assert_eq!(
            qp_err("or=()"),
            (
                "\"failed to parse logic tree (())\" (line 1, column 4)".into(),
                "unexpected \")\" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)"
                    .into()
            )
        );
        assert_eq!(
            qp_err("columns="),
            (
                "\"failed to parse columns parameter ()\" (line 1, column 1)".into(),
                "unexpected end of input expecting field name (* or [a..z0..9_$])".into()
            )
        );
        assert_eq!(
            qp_err("select=data->(!@#$%^%26*_d->>!@#$%^%26*_e::integer"),
            (
                "\"failed to parse select parameter (data->(!@#$%^&*_d->>!@#$%^&*_e::integer)\" (line 1, column 7)".into(),
                "unexpected \"(\" expecting \"-\", digit or any non reserved character different from: .,>()".into()
            )
        );
        assert_eq!(
            qp_err("select=data->>--34"),
            (
                "\"failed to parse select parameter (data->>--34)\" (line 1, column 9)".into(),
                "unexpected \"-\" expecting digit".into()
            )
        );
    }

    #[test]
    fn other_error_texts() {
        assert_eq!(
            qp_err("(x).order=a"),
            (
                "\"failed to parse tree path ((x).order)\" (line 1, column 1)".into(),
                "unexpected \"(\" expecting field name (* or [a..z0..9_$])".into()
            )
        );
        assert_eq!(
            qp_err("!.or=(a.eq.1)"),
            (
                "\"failed to parse logic path (!.or)\" (line 1, column 1)".into(),
                "unexpected \"!\" expecting field name (* or [a..z0..9_$])".into()
            )
        );
        assert_eq!(
            qp_err("=eq.1"),
            (
                "\"failed to parse tree path ()\" (line 1, column 1)".into(),
                "unexpected end of input expecting field name (* or [a..z0..9_$])".into()
            )
        );
        assert_eq!(
            qp_err("a=is.maybe"),
            (
                "\"failed to parse filter (is.maybe)\" (line 1, column 4)".into(),
                "unexpected \"m\" expecting isVal: (null, not_null, true, false, unknown)".into()
            )
        );
        assert_eq!(
            qp_err("a=not.in.(1,2"),
            (
                "\"failed to parse filter (not.in.(1,2)\" (line 1, column 12)".into(),
                "unexpected end of input expecting \",\" or \")\"".into()
            )
        );
        assert_eq!(
            qp_err("select=a,"),
            (
                "\"failed to parse select parameter (a,)\" (line 1, column 3)".into(),
                "unexpected end of input expecting \"...\", field name (* or [a..z0..9_$]), \"*\" or \"count()\"".into()
            )
        );
        assert_eq!(
            qp_err("select=a(b(c)"),
            (
                "\"failed to parse select parameter (a(b(c))\" (line 1, column 7)".into(),
                "unexpected end of input expecting \",\" or \")\"".into()
            )
        );
        assert_eq!(
            qp_err("select=x:y:z").1,
            "unexpected \"z\" expecting \"::\""
        );
        assert_eq!(
            qp_err("on_conflict=a,,b"),
            (
                "\"failed to parse on_conflict parameter (a,,b)\" (line 1, column 3)".into(),
                "unexpected \",\" expecting field name (* or [a..z0..9_$])".into()
            )
        );
        assert_eq!(
            qp_err("order="),
            (
                "\"failed to parse order ()\" (line 1, column 1)".into(),
                "unexpected end of input expecting field name (* or [a..z0..9_$])".into()
            )
        );
        assert_eq!(
            qp_err("a=eq").1,
            "unexpected end of input expecting operator (eq, gt, ...)"
        );
        assert_eq!(
            qp_err("a=").1,
            "unexpected end of input expecting \"not\" or operator (eq, gt, ...)"
        );
        assert_eq!(
            qp_err("a=not.foo").1,
            "unexpected \"f\" expecting operator (eq, gt, ...)"
        );
        assert_eq!(
            qp_err("a=eq(some).1").1,
            "unexpected \"s\" expecting operator (eq, gt, ...)"
        );
    }

    #[test]
    fn error_rendering_escapes_like_haskell_show() {
        assert_eq!(
            qp_err("a=é").1,
            "unexpected \"\\233\" expecting \"not\" or operator (eq, gt, ...)"
        );
        assert_eq!(
            qp_err("a=%09foo").1,
            "unexpected \"\\t\" expecting \"not\" or operator (eq, gt, ...)"
        );
        assert_eq!(
            qp_err("a=%01").1,
            "unexpected \"\\SOH\" expecting \"not\" or operator (eq, gt, ...)"
        );
        assert_eq!(
            qp_err("a=%7F").1,
            "unexpected \"\\DEL\" expecting \"not\" or operator (eq, gt, ...)"
        );
        assert_eq!(
            qp_err("a=%5C").1,
            "unexpected \"\\\\\" expecting \"not\" or operator (eq, gt, ...)"
        );
        assert_eq!(
            qp_err("a=%22").1,
            "unexpected \"\\\"\" expecting \"not\" or operator (eq, gt, ...)"
        );
        assert_eq!(
            qp_err("order=id.%E2%82%AC").1,
            "unexpected \"\\8364\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\""
        );
        assert_eq!(qp_err("select=id%27").1.split(' ').nth(1), Some("'\\''"));
        assert_eq!(show_char('é'), "'\\233'");
        assert_eq!(show_char('"'), "'\"'");
        assert_eq!(show_char('\n'), "'\\n'");
        assert_eq!(show_string("é1"), "\"\\233\\&1\"");
        assert_eq!(show_string("\u{e}H"), "\"\\SO\\&H\"");
        assert_eq!(show_string("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn positions_follow_parsec() {
        let p = Pos { line: 1, col: 1 };
        assert_eq!(p.next('a'), Pos { line: 1, col: 2 });
        assert_eq!(p.next('\t'), Pos { line: 1, col: 9 });
        assert_eq!(Pos { line: 1, col: 5 }.next('\t'), Pos { line: 1, col: 9 });
        assert_eq!(Pos { line: 1, col: 9 }.next('\t'), Pos { line: 1, col: 17 });
        assert_eq!(Pos { line: 1, col: 7 }.next('\n'), Pos { line: 2, col: 1 });
        assert_eq!(p.next('é'), Pos { line: 1, col: 2 });
        assert_eq!(
            qp_err("order=%09id.x").0,
            "\"failed to parse order (\tid.x)\" (line 1, column 12)"
        );
        assert_eq!(
            qp_err("order=a,%0Ab.x").0,
            "\"failed to parse order (a,\nb.x)\" (line 1, column 3)"
        );
        assert_eq!(
            qp_err("or=(a.eq.x%0A,b)").0,
            "\"failed to parse logic tree ((a.eq.x\n,b))\" (line 2, column 3)"
        );
        assert_eq!(
            qp_err("order=%C3%A9%C3%A9.x").0,
            "\"failed to parse order (éé.x)\" (line 1, column 4)"
        );
    }

    // --- Query-string splitting ------------------------------------------------------

    #[test]
    fn query_splitting() {
        assert_eq!(
            parse_query(b"a=1&b&c=&=d;e=f=g&&"),
            vec![
                (b"a".to_vec(), Some(b"1".to_vec())),
                (b"b".to_vec(), None),
                (b"c".to_vec(), Some(vec![])),
                (vec![], Some(b"d".to_vec())),
                (b"e".to_vec(), Some(b"f=g".to_vec())),
                (vec![], None),
            ]
        );
        assert_eq!(parse_query(b""), vec![]);
        assert_eq!(parse_query(b"&"), vec![(vec![], None)]);
        assert_eq!(url_decode(b"a+b%20c%2B%zz%4"), b"a b c+%zz%4".to_vec());
        assert_eq!(url_decode(b"%c3%A9"), "é".as_bytes().to_vec());
    }

    #[test]
    fn percent_decoding_and_plus() {
        let q = qp("name=eq.John+Doe&%6Eick=like.a%2Bb*&c%2Ed=eq.%28x%29");
        assert_eq!(
            q.filters,
            vec![
                (vec![], filter("name", expr(eq("John Doe")))),
                (
                    vec![],
                    filter(
                        "nick",
                        expr(Operation::Quant(QuantOperator::Like, None, "a+b*".into()))
                    )
                ),
                (strings(&["c"]), filter("d", expr(eq("(x)")))),
            ]
        );
        assert_eq!(
            q.filter_fields,
            ["name", "nick", "c.d"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let e = parse(false, "a=eq.%FF").unwrap_err();
        assert_eq!(e.message, "failed to parse query parameter (a)");
        assert_eq!(e.details, "invalid UTF-8 after percent-decoding");
        let e = parse(false, "%C3=1").unwrap_err();
        assert_eq!(e.message, "failed to parse query parameter (\u{fffd})");
        // Even in parameters that play no role.
        assert!(parse(false, "limit=%80").is_err());
    }

    #[test]
    fn unicode() {
        let q = qp("nombre=eq.José&%C3%B1=eq.%E2%82%AC&select=n%C3%BAmero,données->clé");
        assert_eq!(q.filters[0].1, filter("nombre", expr(eq("José"))));
        assert_eq!(q.filters[1].1, filter("ñ", expr(eq("€"))));
        assert_eq!(
            q.select,
            vec![
                sel(fld("número")),
                sel(fldj("données", vec![Arrow(Key("clé".into()))]))
            ]
        );
        assert_eq!(
            q.canonical,
            "nombre=eq.Jos%C3%A9&select=n%C3%BAmero%2Cdonn%C3%A9es-%3Ecl%C3%A9&%C3%B1=eq.%E2%82%AC"
        );
    }

    #[test]
    fn canonical_form() {
        assert_eq!(qp("").canonical, "");
        assert_eq!(parse(true, "b=2&a=1&b=1").unwrap().canonical, "a=1&b=2,1");
        assert_eq!(
            qp("select=id, name&x=eq.a+b").canonical,
            "select=id%2C%20name&x=eq.a%20b"
        );
        assert_eq!(
            parse(true, "z=~-_.&y=*()!'").unwrap().canonical,
            "y=%2A%28%29%21%27&z=~-_."
        );
        assert_eq!(qp("a=eq.1;b=eq.2").canonical, "a=eq.1&b=eq.2");
        assert_eq!(parse(true, "&a=1").unwrap().canonical, "=&a=1");
        assert_eq!(parse(true, "B=1&a=2&_=3").unwrap().canonical, "B=1&_=3&a=2");
    }

    // --- Parameter roles -----------------------------------------------------------------

    #[test]
    fn select_default_and_empty() {
        assert_eq!(qp("").select, vec![star()]);
        assert_eq!(qp("select").select, vec![star()]);
        // The first occurrence decides, even without a value.
        assert_eq!(qp("select&select=id").select, vec![star()]);
        assert_eq!(qp("select=id&select=name").select, vec![sel(fld("id"))]);
        assert_eq!(qp("select=").select, vec![]);
        // Trailing input after a complete forest is ignored, as in PostgREST.
        assert_eq!(qp("select=id)garbage").select, vec![sel(fld("id"))]);
        // `actors.select` is not reserved: it is a filter on column `select` of `actors`.
        assert_eq!(
            qp("actors.select=eq.1").filters,
            vec![(strings(&["actors"]), filter("select", expr(eq("1"))))]
        );
    }

    #[test]
    fn select_items() {
        let q = qp("select=amount.sum(),count(),total:amount.avg()::int,x::text.max()::bigint,y.min(),z.count()");
        assert_eq!(
            q.select,
            vec![
                sel_full(
                    fld("amount"),
                    None,
                    None,
                    Some(AggregateFunction::Sum),
                    None
                ),
                sel_full(fld("*"), None, None, Some(AggregateFunction::Count), None),
                sel_full(
                    fld("amount"),
                    Some("total"),
                    None,
                    Some(AggregateFunction::Avg),
                    Some("int")
                ),
                sel_full(
                    fld("x"),
                    None,
                    Some("text"),
                    Some(AggregateFunction::Max),
                    Some("bigint")
                ),
                sel_full(fld("y"), None, None, Some(AggregateFunction::Min), None),
                sel_full(fld("z"), None, None, Some(AggregateFunction::Count), None),
            ]
        );
        assert_eq!(
            qp("select=c:count()::int").select,
            vec![sel_full(
                fld("*"),
                Some("c"),
                None,
                Some(AggregateFunction::Count),
                Some("int")
            )]
        );
        assert_eq!(
            qp("select=col::double precision , \"my col\" , first-name,a-b-c->d-e").select,
            vec![
                sel_full(fld("col"), None, Some("double precision"), None, None),
                sel(fld("my col")),
                sel(fld("first-name")),
                sel(fldj("a-b-c", vec![Arrow(Key("d-e".into()))])),
            ]
        );
        // A quoted name may contain anything, with backslash escapes.
        assert_eq!(
            qp(r#"select="a\"b\\c,d()""#).select,
            vec![sel(fld(r#"a"b\c,d()"#))]
        );
        // Whitespace around items and separators, but not inside casts' leading `::`.
        assert_eq!(
            qp("select=%20id%09,%20name%20").select,
            vec![sel(fld("id")), sel(fld("name"))]
        );
    }

    #[test]
    fn select_relations() {
        let q = qp("select=id,a:clients!client_fk!inner(id,n:name),...spread!left(x),users!left(*),c:count_rel(*)");
        assert_eq!(
            q.select,
            vec![
                sel(fld("id")),
                SelectItem::Relation {
                    relation: "clients".into(),
                    alias: Some("a".into()),
                    hint: Some("client_fk".into()),
                    join_type: Some(JoinType::Inner),
                    children: vec![
                        sel(fld("id")),
                        sel_full(fld("name"), Some("n"), None, None, None)
                    ],
                },
                SelectItem::Spread {
                    relation: "spread".into(),
                    hint: None,
                    join_type: Some(JoinType::Left),
                    children: vec![sel(fld("x"))],
                },
                SelectItem::Relation {
                    relation: "users".into(),
                    alias: None,
                    hint: None,
                    join_type: Some(JoinType::Left),
                    children: vec![star()],
                },
                SelectItem::Relation {
                    relation: "count_rel".into(),
                    alias: Some("c".into()),
                    hint: None,
                    join_type: None,
                    children: vec![star()],
                },
            ]
        );
        // Empty embeds are allowed (used to filter without output).
        assert_eq!(
            qp("select=a,b()").select,
            vec![sel(fld("a")), rel("b", vec![])]
        );
        // `count(...)` is never an embed.
        assert!(parse(false, "select=count(x)").is_err());
        // Inside parentheses a numeric JSON step cannot be an index (`)` does not end it).
        assert_eq!(
            qp("select=clients(data->0)").select,
            vec![rel(
                "clients",
                vec![sel(fldj("data", vec![Arrow(Key("0".into()))]))]
            )]
        );
    }

    #[test]
    fn json_paths() {
        assert_eq!(
            pp("->a->>b->0->>-1->\"x.y->z\"->'q'", p_json_path),
            Ok(vec![
                Arrow(Key("a".into())),
                DoubleArrow(Key("b".into())),
                Arrow(Idx(0)),
                DoubleArrow(Idx(-1)),
                Arrow(Key("x.y->z".into())),
                Arrow(Key("'q'".into())),
            ])
        );
        assert_eq!(pp("->1a", p_json_path), Ok(vec![Arrow(Key("1a".into()))]));
        assert_eq!(
            pp("->a b ", p_json_path),
            Ok(vec![Arrow(Key("a b".into()))])
        );
        assert_eq!(
            pp("->a-b->c", p_json_path),
            Ok(vec![Arrow(Key("a-b".into())), Arrow(Key("c".into()))])
        );
        assert_eq!(pp("->007", p_json_path), Ok(vec![Arrow(Idx(7))]));
        assert_eq!(
            pp("->99999999999999999999999", p_json_path),
            Ok(vec![Arrow(Idx(i64::MAX))])
        );
        assert_eq!(
            pp("->-99999999999999999999999", p_json_path),
            Ok(vec![Arrow(Idx(-i64::MAX))])
        );
        assert_eq!(pp("->1::int", p_json_path), Ok(vec![Arrow(Idx(1))]));
        assert_eq!(pp("", p_json_path), Ok(vec![]));
        assert_eq!(pp("->", p_json_path).map_err(|e| e.0), Err(3));
        let q = qp("data->a->>b=eq.1&data->-1->b->>-1=eq.5");
        assert_eq!(
            q.filters[0].1.field,
            fldj(
                "data",
                vec![Arrow(Key("a".into())), DoubleArrow(Key("b".into()))]
            )
        );
        assert_eq!(
            q.filters[1].1.field,
            fldj(
                "data",
                vec![Arrow(Idx(-1)), Arrow(Key("b".into())), DoubleArrow(Idx(-1))]
            )
        );
    }

    #[test]
    fn every_operator() {
        use Operation::*;
        use QuantOperator as Q;
        use SimpleOperator as S;
        let cases: Vec<(&str, Operation)> = vec![
            ("eq.1", Quant(Q::Equal, None, "1".into())),
            ("gt.1", Quant(Q::GreaterThan, None, "1".into())),
            ("gte.1", Quant(Q::GreaterThanEqual, None, "1".into())),
            ("lt.1", Quant(Q::LessThan, None, "1".into())),
            ("lte.1", Quant(Q::LessThanEqual, None, "1".into())),
            ("like.a*", Quant(Q::Like, None, "a*".into())),
            ("ilike.a*", Quant(Q::ILike, None, "a*".into())),
            ("match.^a", Quant(Q::Match, None, "^a".into())),
            ("imatch.^a", Quant(Q::IMatch, None, "^a".into())),
            ("neq.1", Simple(S::NotEqual, "1".into())),
            ("cs.{1,2}", Simple(S::Contains, "{1,2}".into())),
            ("cd.{1}", Simple(S::Contained, "{1}".into())),
            ("ov.[1,2]", Simple(S::Overlap, "[1,2]".into())),
            ("sl.(1,2)", Simple(S::StrictlyLeft, "(1,2)".into())),
            ("sr.[1,2)", Simple(S::StrictlyRight, "[1,2)".into())),
            ("nxr.[1,2]", Simple(S::NotExtendsRight, "[1,2]".into())),
            ("nxl.[1,2]", Simple(S::NotExtendsLeft, "[1,2]".into())),
            ("adj.(3,10]", Simple(S::Adjacent, "(3,10]".into())),
            ("in.(1,2)", In(strings(&["1", "2"]))),
            ("is.null", Is(IsVal::Null)),
            ("is.NOT_NULL", Is(IsVal::NotNull)),
            ("is.True", Is(IsVal::True)),
            ("is.fAlSe", Is(IsVal::False)),
            ("is.unknown", Is(IsVal::Unknown)),
            ("isdistinct.x", IsDistinctFrom("x".into())),
            ("fts.a&b", Fts(FtsOperator::Fts, None, "a&b".into())),
            (
                "plfts(german).Art Spass",
                Fts(
                    FtsOperator::Plain,
                    Some("german".into()),
                    "Art Spass".into(),
                ),
            ),
            (
                "phfts( simple ).x",
                Fts(FtsOperator::Phrase, Some("simple".into()), "x".into()),
            ),
            (
                "wfts(english).a or b",
                Fts(
                    FtsOperator::Websearch,
                    Some("english".into()),
                    "a or b".into(),
                ),
            ),
            (
                "like(any).{a*,b*}",
                Quant(Q::Like, Some(OpQuantifier::Any), "{a*,b*}".into()),
            ),
            (
                "gte(all).{1,2}",
                Quant(Q::GreaterThanEqual, Some(OpQuantifier::All), "{1,2}".into()),
            ),
            (
                "imatch(any).{a}",
                Quant(Q::IMatch, Some(OpQuantifier::Any), "{a}".into()),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(op(value), Ok(expr(expected.clone())), "{value}");
            assert_eq!(
                op(&format!("not.{value}")),
                Ok(not(expected)),
                "not.{value}"
            );
        }
    }

    #[test]
    fn operator_rejections() {
        // Quantifiers only on quantifiable operators; `is` values are a closed set.
        assert!(op("neq(any).1").is_err());
        assert!(op("in(any).(1)").is_err());
        assert!(op("is(any).null").is_err());
        assert!(op("fts(any!).x").is_err());
        assert!(op("eq(anything).x").is_err());
        assert!(op("EQ.1").is_err());
        assert!(op("not.not.eq.1").is_err());
        assert!(op("noteq.1").is_err());
        assert!(op("eq").is_err());
        assert!(op("is.").is_err());
        assert!(op("in.").is_err());
        // Trailing text after `is.<value>` is ignored, as in PostgREST.
        assert_eq!(op("is.nullx"), Ok(expr(Operation::Is(IsVal::Null))));
    }

    #[test]
    fn single_values_are_verbatim() {
        assert_eq!(op("eq. x "), Ok(expr(eq(" x "))));
        assert_eq!(op("eq.1.5"), Ok(expr(eq("1.5"))));
        assert_eq!(op("eq."), Ok(expr(eq(""))));
        assert_eq!(op("eq.\"quoted\""), Ok(expr(eq("\"quoted\""))));
        assert_eq!(op("eq.a,b)c(d"), Ok(expr(eq("a,b)c(d"))));
        assert_eq!(op("eq.line\nbreak"), Ok(expr(eq("line\nbreak"))));
        assert_eq!(
            op("eq.'; DROP TABLE users; --"),
            Ok(expr(eq("'; DROP TABLE users; --")))
        );
        assert_eq!(
            op("isdistinct.\") OR 1=1 --"),
            Ok(expr(Operation::IsDistinctFrom("\") OR 1=1 --".into())))
        );
    }

    #[test]
    fn list_values() {
        let list = |input: &str| pp(input, p_list_val);
        assert_eq!(list("(1,2,3)"), Ok(strings(&["1", "2", "3"])));
        assert_eq!(list("()"), Ok(strings(&[""])));
        assert_eq!(list("(,)"), Ok(strings(&["", ""])));
        assert_eq!(list("( a , b )"), Ok(strings(&["a ", " b "])));
        assert_eq!(
            list(r#"("a,b","c)d",e)"#),
            Ok(strings(&["a,b", "c)d", "e"]))
        );
        assert_eq!(
            list(r#"("a\"b","c\\d","\e")"#),
            Ok(strings(&["a\"b", "c\\d", "e"]))
        );
        assert_eq!(list(r#"("")"#), Ok(strings(&[""])));
        // A quoted prefix followed by more text is read as a plain value.
        assert_eq!(list(r#"("a"b,c)"#), Ok(strings(&["\"a\"b", "c"])));
        assert_eq!(list("(a b,{1,2})"), Ok(strings(&["a b", "{1", "2}"])));
        assert_eq!(list("(1,2)rest"), Ok(strings(&["1", "2"])));
        assert_eq!(list("1,2"), Err(err(1, "unexpected \"1\" expecting \"(\"")));
        assert_eq!(
            list("(1,2"),
            Err(err(5, "unexpected end of input expecting \",\" or \")\""))
        );
        // The unterminated quote is then read as a plain value.
        assert_eq!(
            list(r#"("a"#),
            Err(err(4, "unexpected end of input expecting \",\" or \")\""))
        );
        assert_eq!(
            pp(r#""a"#, p_quoted_value),
            Err(err(
                3,
                "unexpected end of input expecting \"\\\\\" or \"\\\"\""
            ))
        );
        assert_eq!(
            qp("id=in.(1,%22x,y%22)&name=not.in.()").filters,
            vec![
                (
                    vec![],
                    filter("id", expr(Operation::In(strings(&["1", "x,y"]))))
                ),
                (vec![], filter("name", not(Operation::In(strings(&[""]))))),
            ]
        );
    }

    #[test]
    fn orders() {
        use OrderDirection::*;
        use OrderNulls::*;
        let q = qp("order=a.desc,b.nullsfirst,c&actors.order=name.asc.nullslast&actors.films.order=rel(x->>y).desc");
        assert_eq!(
            q.order,
            vec![
                (
                    vec![],
                    vec![
                        order(fld("a"), Some(Desc), None),
                        order(fld("b"), None, Some(First)),
                        order(fld("c"), None, None)
                    ]
                ),
                (
                    strings(&["actors"]),
                    vec![order(fld("name"), Some(Asc), Some(Last))]
                ),
                (
                    strings(&["actors", "films"]),
                    vec![OrderTerm {
                        relation: Some("rel".into()),
                        field: fldj("x", vec![DoubleArrow(Key("y".into()))]),
                        direction: Some(Desc),
                        nulls: None
                    }]
                ),
            ]
        );
        assert_eq!(pp(" a . desc", p_order).map_err(|e| e.0), Err(5));
        assert_eq!(pp(" a.desc , b ", p_order).map_err(|e| e.0), Err(8));
        assert_eq!(
            pp(" a.desc, b ", p_order),
            Ok(vec![
                order(fld("a"), Some(Desc), None),
                order(fld("b"), None, None)
            ])
        );
        assert_eq!(
            pp("\"a.b\".asc", p_order),
            Ok(vec![order(fld("a.b"), Some(Asc), None)])
        );
        assert_eq!(pp("a,", p_order).map_err(|e| e.0), Err(3));
        assert_eq!(pp("rel(x", p_order).map_err(|e| e.0), Err(4));
    }

    #[test]
    fn logic_trees() {
        let q = qp("or=(a.eq.1,b.gt.2)&not.and=(a.is.null,not.or(b.eq.1,c.in.(1,2)))&actors.not.or=(x.eq.1)&actors.films.and=(y.eq.2)");
        assert_eq!(
            q.logic,
            vec![
                (
                    vec![],
                    LogicTree::Expr {
                        negated: false,
                        op: LogicOperator::Or,
                        children: vec![
                            stmnt("a", eq("1")),
                            stmnt(
                                "b",
                                Operation::Quant(QuantOperator::GreaterThan, None, "2".into())
                            )
                        ]
                    }
                ),
                (
                    vec![],
                    LogicTree::Expr {
                        negated: true,
                        op: LogicOperator::And,
                        children: vec![
                            stmnt("a", Operation::Is(IsVal::Null)),
                            LogicTree::Expr {
                                negated: true,
                                op: LogicOperator::Or,
                                children: vec![
                                    stmnt("b", eq("1")),
                                    stmnt("c", Operation::In(strings(&["1", "2"])))
                                ]
                            }
                        ]
                    }
                ),
                (
                    strings(&["actors"]),
                    LogicTree::Expr {
                        negated: true,
                        op: LogicOperator::Or,
                        children: vec![stmnt("x", eq("1"))]
                    }
                ),
                (
                    strings(&["actors", "films"]),
                    LogicTree::Expr {
                        negated: false,
                        op: LogicOperator::And,
                        children: vec![stmnt("y", eq("2"))]
                    }
                ),
            ]
        );
        // Logic parameters are not filters.
        assert!(q.filters.is_empty());
        assert!(q.filter_fields.is_empty());
    }

    #[test]
    fn logic_tree_values() {
        let tree = |input: &str| pp(input, p_logic_tree);
        let or = |children: Vec<LogicTree>| LogicTree::Expr {
            negated: false,
            op: LogicOperator::Or,
            children,
        };
        assert_eq!(
            tree(r#"or(name.eq."(a,b)",name.like."*ity,5)",arr.cs.{1,2,3},arr.cd.{1})"#),
            Ok(or(vec![
                stmnt("name", eq("(a,b)")),
                stmnt(
                    "name",
                    Operation::Quant(QuantOperator::Like, None, "*ity,5)".into())
                ),
                stmnt(
                    "arr",
                    Operation::Simple(SimpleOperator::Contains, "{1,2,3}".into())
                ),
                stmnt(
                    "arr",
                    Operation::Simple(SimpleOperator::Contained, "{1}".into())
                ),
            ]))
        );
        assert_eq!(
            tree(r#"or(a.eq."x\"y",b.eq.plain text ,c.not.fts(english).x y)"#),
            Ok(or(vec![
                stmnt("a", eq("x\"y")),
                stmnt("b", eq("plain text ")),
                LogicTree::Stmnt(filter(
                    "c",
                    not(Operation::Fts(
                        FtsOperator::Fts,
                        Some("english".into()),
                        "x y".into()
                    ))
                )),
            ]))
        );
        // Spaces around the structure, as in the spec suite.
        assert_eq!(
            tree("and( and ( id.in.( 1, 2, 3 ) , id.eq.3 ) , or ( id.eq.2 , id.eq.3 ) )"),
            Ok(LogicTree::Expr {
                negated: false,
                op: LogicOperator::And,
                children: vec![
                    LogicTree::Expr {
                        negated: false,
                        op: LogicOperator::And,
                        children: vec![
                            stmnt("id", Operation::In(strings(&["1", " 2", " 3 "]))),
                            stmnt("id", eq("3 "))
                        ]
                    },
                    or(vec![stmnt("id", eq("2 ")), stmnt("id", eq("3 "))]),
                ]
            })
        );
        // Extra closing parentheses after a complete tree are ignored, as in PostgREST.
        assert_eq!(tree("and(id.eq.1,id.neq.2))").map(|_| ()), Ok(()));
        // `{...}` cannot nest: the value is then read up to the next `,`/`)`.
        assert_eq!(
            tree("or(a.cs.{{1}},b.eq.1)"),
            Ok(or(vec![
                stmnt(
                    "a",
                    Operation::Simple(SimpleOperator::Contains, "{{1}}".into())
                ),
                stmnt("b", eq("1"))
            ]))
        );
        // A complete `{...}` must end the value.
        assert!(tree("or(a.cs.{1}x,b.eq.1)").is_err());
        assert_eq!(tree("or(a.eq.)"), Ok(or(vec![stmnt("a", eq(""))])));
        assert_eq!(tree("or(a.eq.{)"), Ok(or(vec![stmnt("a", eq("{"))])));
        assert_eq!(
            tree("or(a.eq.\"x\"y)"),
            Ok(or(vec![stmnt("a", eq("\"x\"y"))]))
        );
        assert_eq!(tree("or(a->b->>0.eq.1)").map(|_| ()), Ok(()));
        assert!(tree("or(a.eq.1,)").is_err());
        assert!(tree("or(a)").is_err());
    }

    #[test]
    fn logic_paths() {
        assert_eq!(pp("or", p_logic_path), Ok((vec![], "or".to_string())));
        assert_eq!(
            pp("not.and", p_logic_path),
            Ok((vec![], "not.and".to_string()))
        );
        assert_eq!(
            pp("a.b.not.or", p_logic_path),
            Ok((strings(&["a", "b"]), "not.or".to_string()))
        );
        assert_eq!(
            pp("not.a.or", p_logic_path),
            Ok((strings(&["a"]), "not.or".to_string()))
        );
    }

    #[test]
    fn columns_and_on_conflict() {
        let q = qp("columns=b,a,%22c d%22,b&on_conflict=x , y");
        assert_eq!(q.columns, Some(strings(&["b", "a", "c d"])));
        assert_eq!(q.on_conflict, Some(strings(&["x", "y"])));
        assert_eq!(
            qp("on_conflict=a,a").on_conflict,
            Some(strings(&["a", "a"]))
        );
        assert_eq!(qp("").columns, None);
        assert_eq!(qp("columns").columns, None);
        // Parsing stops at the first thing that is not a name or a comma.
        assert_eq!(qp("columns=a;b").columns, Some(strings(&["a"])));
        assert_eq!(qp("columns=a!b").columns, Some(strings(&["a"])));
    }

    #[test]
    fn filters_split_by_level() {
        let q = qp("id=eq.1&actors.name=like.A*&actors.films.year=gt.2000&select=id&limit=1");
        assert_eq!(q.filters.len(), 3);
        assert_eq!(q.filters_root, vec![filter("id", expr(eq("1")))]);
        assert_eq!(
            q.filters_not_root
                .iter()
                .map(|(p, f)| (p.clone(), f.field.name.clone()))
                .collect::<Vec<_>>(),
            vec![
                (strings(&["actors"]), "name".to_string()),
                (strings(&["actors", "films"]), "year".to_string())
            ]
        );
        assert_eq!(
            q.filter_fields,
            ["id", "actors.name", "actors.films.year"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
        // Parameters without `=` are not filters.
        assert!(qp("id&name").filters.is_empty());
        // Everything after a valid name prefix is ignored in a filter's name.
        assert_eq!(
            qp("a!x=eq.1").filters,
            vec![(vec![], filter("a", expr(eq("1"))))]
        );
    }

    #[test]
    fn rpc_arguments() {
        let q = parse(true, "a=1&b=eq.2&c=&d.e=x&f->g=y&h").unwrap();
        assert_eq!(
            q.params,
            vec![
                ("a".into(), "1".into()),
                ("c".into(), "".into()),
                ("e".into(), "x".into()),
                ("f".into(), "y".into())
            ]
        );
        assert_eq!(q.filters, vec![(vec![], filter("b", expr(eq("2"))))]);
        assert_eq!(
            q.filter_fields,
            ["a", "b", "c", "d.e", "f->g"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
        // An operator that starts but does not parse is still an error.
        assert!(parse(true, "a=in.xyz").is_err());
        assert!(parse(true, "a=not.foo").is_err());
        assert!(parse(true, "a=is.maybe").is_err());
        assert_eq!(
            parse(true, "a=eq").unwrap().params,
            vec![("a".into(), "eq".into())]
        );
        // Outside RPC reads, a value without operator is an error.
        assert!(parse(false, "a=1").is_err());
    }

    #[test]
    fn limits_and_offsets() {
        let r = |q: &str| qp(q).ranges;
        let one = |k: &str, v: Range| -> HashMap<String, Range> {
            [(k.to_string(), v)].into_iter().collect()
        };
        assert_eq!(r(""), HashMap::new());
        assert_eq!(
            r("limit=10"),
            one(
                "limit",
                Range {
                    lower: 0,
                    upper: Some(9)
                }
            )
        );
        assert_eq!(r("offset=5"), one("limit", Range::geq(5)));
        assert_eq!(
            r("limit=10&offset=5"),
            one(
                "limit",
                Range {
                    lower: 5,
                    upper: Some(14)
                }
            )
        );
        assert_eq!(
            r("offset=5&limit=10"),
            one(
                "limit",
                Range {
                    lower: 5,
                    upper: Some(14)
                }
            )
        );
        assert_eq!(r("limit=0"), one("limit", Range::LIMIT_ZERO));
        assert_eq!(
            r("limit=-1"),
            one(
                "limit",
                Range {
                    lower: 0,
                    upper: Some(-2)
                }
            )
        );
        assert_eq!(r("offset=-4"), one("limit", Range::geq(-4)));
        assert_eq!(r("limit=abc"), one("limit", Range::ALL));
        assert_eq!(r("offset=abc"), one("limit", Range::ALL));
        // An unreadable limit next to an offset counts as zero rows.
        assert_eq!(
            r("limit=abc&offset=5"),
            one(
                "limit",
                Range {
                    lower: 5,
                    upper: Some(4)
                }
            )
        );
        assert_eq!(
            r("limit=1&limit=2"),
            one(
                "limit",
                Range {
                    lower: 0,
                    upper: Some(1)
                }
            )
        );
        assert_eq!(
            r("limit=%20(3)%20"),
            one(
                "limit",
                Range {
                    lower: 0,
                    upper: Some(2)
                }
            )
        );
        assert_eq!(
            r("limit=99999999999999999999999"),
            one(
                "limit",
                Range {
                    lower: 0,
                    upper: Some(i64::MAX - 1)
                }
            )
        );
        assert_eq!(
            r("limit=99999999999999999999999&offset=99999999999999999999999"),
            one(
                "limit",
                Range {
                    lower: i64::MAX,
                    upper: Some(i64::MAX)
                }
            )
        );
        assert_eq!(
            r("actors.limit=1&actors.offset=2&actors.films.offset=3"),
            [
                (
                    "actors.limit".to_string(),
                    Range {
                        lower: 2,
                        upper: Some(2)
                    }
                ),
                ("actors.films.limit".to_string(), Range::geq(3))
            ]
            .into_iter()
            .collect()
        );
        // Range parameters are not filters.
        assert!(qp("limit=1&actors.offset=2").filters.is_empty());
        // Empty values are ignored as numbers but still present.
        assert_eq!(r("limit="), one("limit", Range::ALL));
    }

    // --- Limits and hostile input ----------------------------------------------------

    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn nesting_limit_select() {
        on_small_stack(|| {
            let nest = |n: usize| format!("select={}x{}", "a(".repeat(n), ")".repeat(n));
            assert!(parse(false, &nest(MAX_DEPTH - 1)).is_ok());
            for n in [MAX_DEPTH, MAX_DEPTH + 1, 100_000] {
                let e = parse(false, &nest(n)).unwrap_err();
                assert!(
                    e.message
                        .starts_with("\"failed to parse select parameter ("),
                    "{}",
                    e.message
                );
                assert!(
                    e.message
                        .ends_with(&format!("(line 1, column {})", 2 * MAX_DEPTH + 1)),
                    "{}",
                    e.message
                );
                assert_eq!(e.details, "maximum nesting depth of 100 exceeded");
            }
        });
    }

    #[test]
    fn nesting_limit_logic() {
        on_small_stack(|| {
            let nest = |n: usize| format!("or=({}a.eq.1{})", "or(".repeat(n), ")".repeat(n));
            assert!(parse(false, &nest(MAX_DEPTH - 2)).is_ok());
            for n in [MAX_DEPTH - 1, 5_000, 100_000] {
                let e = parse(false, &nest(n)).unwrap_err();
                assert!(
                    e.message.starts_with("\"failed to parse logic tree ("),
                    "{}",
                    e.message
                );
                assert_eq!(e.details, "maximum nesting depth of 100 exceeded");
            }
            let not_nest = format!(
                "and=({}a.eq.1{})",
                "not.and(".repeat(50_000),
                ")".repeat(50_000)
            );
            assert!(parse(false, &not_nest).is_err());
        });
    }

    #[test]
    fn long_inputs() {
        let many_items = format!("select={}", vec!["col"; 20_000].join(","));
        assert_eq!(qp(&many_items).select.len(), 20_000);
        let many_params: String = (0..5_000).map(|i| format!("c{i}=eq.{i}&")).collect();
        assert_eq!(qp(&many_params).filters.len(), 5_000);
        let list = format!("a=in.({})", vec!["x"; 20_000].join(","));
        assert_eq!(qp(&list).filters.len(), 1);
        let long_value = format!("a=eq.{}", "x".repeat(100_000));
        assert_eq!(qp(&long_value).filters.len(), 1);
        let wide_logic = format!("or=({})", vec!["a.eq.1"; 10_000].join(","));
        assert_eq!(qp(&wide_logic).logic.len(), 1);
    }

    #[test]
    fn hostile_inputs_are_data() {
        let q = qp("%22%3B%20DROP%20TABLE%20x%3B%20--%22=eq.1&select=%22a%5C%22b%22");
        assert_eq!(q.filters[0].1.field.name, "; DROP TABLE x; --");
        assert!(parse(false, "select=a;DROP TABLE x").is_ok());
        for junk in [
            "%00=%00",
            "select=%00",
            "or=(%00)",
            "order=%FF%FE",
            "a=in.(%22",
            "a=fts(",
            "select=...",
            "select=a!",
            "select=a(",
            "select=\"",
            "select=a->",
            "select=a::",
            "or=(((((",
            "and=)",
            "order=a(",
            "a->>=eq.1",
            "a.=eq.1",
            ".=eq.1",
            "%=%",
            "%%%%=&&&&;;;;",
            "limit=%2D%2D1&offset=0x",
        ] {
            // Errors are fine; panics are not.
            let _ = parse(false, junk);
            let _ = parse(true, junk);
        }
    }

    #[test]
    fn fuzz_like_no_panics() {
        // A deterministic sweep over short strings built from the grammar's special
        // characters: every outcome must be a value or a clean error.
        let alphabet: Vec<char> = "a.,()!:-> \"\\*{}%+=&1é".chars().collect();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..4000 {
            let len = (seed % 12) as usize;
            let mut s = String::new();
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            for key in ["select", "order", "or", "a", "columns"] {
                let _ = parse(false, &format!("{key}={s}"));
            }
            let _ = parse(true, &s);
        }
    }

    #[test]
    fn error_type() {
        let e = QpError {
            message: "m".into(),
            details: "d".into(),
        };
        assert_eq!(e.to_string(), "m: d");
        let none = PErr::unknown(Pos { line: 1, col: 1 });
        assert_eq!(none.details(), "unknown parse error");
        let msgs = PErr::new(
            Pos { line: 1, col: 1 },
            vec![Msg::Message("a".into()), Msg::Message("b".into())],
        );
        assert_eq!(msgs.details(), "a or b");
    }

    #[test]
    fn tree_paths() {
        assert_eq!(pp("id", p_tree_path), Ok((vec![], fld("id"))));
        assert_eq!(
            pp("a.b.c->d->>0", p_tree_path),
            Ok((
                strings(&["a", "b"]),
                fldj("c", vec![Arrow(Key("d".into())), DoubleArrow(Idx(0))])
            ))
        );
        assert_eq!(
            pp("\"a.b\".c", p_tree_path),
            Ok((strings(&["a.b"]), fld("c")))
        );
        assert_eq!(
            pp("first-name", p_tree_path),
            Ok((vec![], fld("first-name")))
        );
        assert_eq!(pp("a.", p_tree_path).map_err(|e| e.0), Err(3));
        assert_eq!(
            pp(".a", p_tree_path),
            Err(err(
                1,
                "unexpected \".\" expecting field name (* or [a..z0..9_$])"
            ))
        );
    }

    #[test]
    fn embed_params() {
        let params = |input: &str| pp(input, p_embed_params);
        assert_eq!(params(""), Ok((None, None)));
        assert_eq!(params("!inner"), Ok((None, Some(JoinType::Inner))));
        assert_eq!(
            params("!left!fk"),
            Ok((Some("fk".into()), Some(JoinType::Left)))
        );
        assert_eq!(
            params("!fk!left"),
            Ok((Some("fk".into()), Some(JoinType::Left)))
        );
        assert_eq!(params("!a!b"), Ok((Some("a".into()), None)));
        assert_eq!(params("!\"left\""), Ok((Some("left".into()), None)));
        // A hint that starts like a join type is read as the join type, as in PostgREST;
        // quoting it is the way out.
        assert_eq!(params("!leftover"), Ok((None, Some(JoinType::Left))));
        assert!(parse(false, "select=rel!leftover(*)").is_err());
        assert!(parse(false, "select=rel!\"leftover\"(*)").is_ok());
        assert!(parse(false, "select=rel!(*)").is_err());
        assert!(parse(false, "select=rel!a!b!c(*)").is_err());
    }

    #[test]
    fn columns_production() {
        assert_eq!(pp("a, b ,c", p_columns), Ok(strings(&["a", "b", "c"])));
        assert_eq!(pp("\"a,b\",c", p_columns), Ok(strings(&["a,b", "c"])));
        assert_eq!(
            pp("", p_columns),
            Err(err(
                1,
                "unexpected end of input expecting field name (* or [a..z0..9_$])"
            ))
        );
    }

    #[test]
    fn fast_paths_agree_with_the_parser() {
        for select in ["*", "id", "id,task,done", "a_b,C1,count", "x1,_y"] {
            let slow = run("select", select, p_field_forest).unwrap();
            assert_eq!(fast_select(select), Some(slow), "{select}");
        }
        for select in [
            "", "id,", ",id", "id,*", "a:b", "a->b", "a.sum()", "r(*)", "é",
        ] {
            assert_eq!(fast_select(select), None, "{select}");
        }
        let ops = [
            "eq", "gte", "gt", "lte", "lt", "like", "ilike", "match", "imatch", "neq", "cs", "cd",
            "ov", "sl", "sr", "nxr", "nxl", "adj",
        ];
        let values = [
            "5", "", "a.b.c", "*x*", "(1,2)", "{1,2}", "not", " spaced ", "é", "\"q\"",
        ];
        for op in ops {
            for value in values {
                for negated in ["", "not."] {
                    let v = format!("{negated}{op}.{value}");
                    let (path, field) = run("tree path", "col_1", p_tree_path).unwrap();
                    let op_expr = run("filter", &v, |st| p_op_expr(st, p_single_val)).unwrap();
                    assert_eq!(
                        fast_filter("col_1", &v),
                        Some((path, Filter { field, op_expr })),
                        "{v}"
                    );
                }
            }
        }
        for (k, v) in [
            ("a.b", "eq.1"),
            ("a->b", "eq.1"),
            ("id", "in.(1)"),
            ("id", "is.null"),
            ("id", "eq(any).{1}"),
            ("id", "not.not.eq.1"),
            ("id", "fts.x"),
            ("id", "isdistinct.1"),
            ("id", "eq"),
            ("", "eq.1"),
        ] {
            assert_eq!(fast_filter(k, v), None, "{k}={v}");
        }
    }
}
