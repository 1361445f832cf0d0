//! The grammar's accepted and rejected inputs, with PostgREST's exact error texts (its
//! doctests), and the fast paths checked against the parser.

use super::grammar::*;
use super::*;
use crate::api_request::parsec::*;
use crate::api_request::query_string::*;
use crate::api_request::types::*;
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

fn order(field: Field, direction: Option<OrderDirection>, nulls: Option<OrderNulls>) -> OrderTerm {
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
    // Taken by the fast path, with the parser's result.
    for select in [
        "*",
        "id",
        "id,task,done",
        "a_b,C1,count",
        "x1,_y",
        "id,*",
        "r(*)",
        "id,users(id,name)",
        "id,users()",
        "a,b(c,d(e,f(*)),g),h",
        "users!inner(name)",
        "users!left(name)",
        "users!todos_user_id_fkey(name)",
        "users!fk!inner(name)",
        "users!inner!fk(name)",
        "...users(name)",
        "id,...users!inner(name,...teams(*))",
        "x(y(z(w(v(u(t(s(r))))))))",
    ] {
        let slow = run("select", select, p_field_forest).unwrap();
        assert_eq!(fast_select(select), Some(slow), "{select}");
    }
    // Left to the parser (whatever it makes of them).
    for select in [
        "",
        "id,",
        ",id",
        "a:b",
        "a->b",
        "a.sum()",
        "é",
        "alias:users(id)",
        "count()",
        "users!inner!left(id)",
        "users!a!b(id)",
        "users!innerx(id)",
        "users(id",
        "users(id))",
        "users (id)",
        "...users",
        "a(b(c(d(e(f(g(h(i(j(k))))))))))",
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
