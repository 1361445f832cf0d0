//! The productions of PostgREST's query grammar (`select`, filters, `order`, logic trees,
//! `columns`), one function per production, mirroring PostgREST's one by one, quirks
//! included (e.g. most parameters do not have to be consumed to the end, and the value of a
//! single-value operator is taken verbatim).

use crate::api_request::parsec::*;
use crate::api_request::types::{
    AggregateFunction, EmbedPath, Field, FieldName, Filter, FtsOperator, IsVal, JoinType,
    JsonOperand, JsonOperation, JsonPath, LogicOperator, LogicTree, OpExpr, OpQuantifier,
    Operation, OrderDirection, OrderNulls, OrderTerm, QuantOperator, SelectItem, SimpleOperator,
};

pub(crate) const FIELD_NAME: &str = "field name (* or [a..z0..9_$])";

pub(crate) fn ws(st: &mut St) -> R<()> {
    map(many(st, |st| one_of(st, " \t")), |_| ())
}

/// Blanks and tabs around `p`.
pub(crate) fn lexeme<T>(st: &mut St, p: impl FnOnce(&mut St) -> R<T>) -> R<T> {
    let mut q = Seq::new(st);
    q.run(ws(st))?;
    let v = q.run(p(st))?;
    q.run(ws(st))?;
    q.done(v)
}

pub(crate) fn p_delimiter(st: &mut St) -> R<char> {
    label(st, |st| char_(st, '.'), "delimiter (.)")
}

pub(crate) fn p_identifier_char(st: &mut St) -> R<char> {
    alt!(st, letter, digit, |st: &mut St| one_of(st, "_ $"))
}

/// Letters, digits, `_`, `$` and inner blanks (outer ones are trimmed). Also used for cast
/// types such as `double precision` and fts languages.
pub(crate) fn p_identifier(st: &mut St) -> R<String> {
    map(many1(st, p_identifier_char), |cs| {
        cs.into_iter()
            .collect::<String>()
            .trim_matches(' ')
            .to_string()
    })
}

/// `"..."` with backslash escaping any character.
pub(crate) fn p_quoted_value(st: &mut St) -> R<String> {
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
pub(crate) fn p_dash(st: &mut St) -> R<()> {
    try_(st, |st| {
        let mut q = Seq::new(st);
        q.run(char_(st, '-'))?;
        q.run(not_followed_by(st, |st| char_(st, '>')))?;
        q.done(())
    })
}

/// Names may contain dashes (`first-name`) as long as they are not JSON arrows.
pub(crate) fn sep_by_dash(st: &mut St, ident: fn(&mut St) -> R<String>) -> R<String> {
    map(sep_by1(st, ident, p_dash), |parts| parts.join("-"))
}

pub(crate) fn p_field_name(st: &mut St) -> R<String> {
    label(
        st,
        |st| or(st, p_quoted_value, |st| sep_by_dash(st, p_identifier)),
        FIELD_NAME,
    )
}

pub(crate) fn p_json_key_identifier(st: &mut St) -> R<String> {
    map(many1(st, |st| none_of(st, "(-:.,>)")), |cs| {
        hs_strip(&cs.into_iter().collect::<String>())
    })
}

pub(crate) fn p_json_key_name(st: &mut St) -> R<String> {
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
pub(crate) fn p_json_path(st: &mut St) -> R<JsonPath> {
    many(st, p_json_operation)
}

pub(crate) fn p_json_operation(st: &mut St) -> R<JsonOperation> {
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
pub(crate) fn p_json_index(st: &mut St) -> R<JsonOperand> {
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
pub(crate) fn p_field(st: &mut St) -> R<Field> {
    lexeme(st, |st| {
        let mut q = Seq::new(st);
        let name = q.run(p_field_name(st))?;
        let json_path = q.run(option(st, Vec::new(), p_json_path))?;
        q.done(Field { name, json_path })
    })
}

/// A parameter name: `actors.films.title->x` → (`[actors, films]`, `title->x`). Whatever
/// follows a valid prefix is ignored, as in PostgREST.
pub(crate) fn p_tree_path(st: &mut St) -> R<(EmbedPath, Field)> {
    let mut q = Seq::new(st);
    let mut path = q.run(sep_by1(st, p_field_name, p_delimiter))?;
    let json_path = q.run(option(st, Vec::new(), p_json_path))?;
    let name = path.pop().unwrap_or_default();
    q.done((path, Field { name, json_path }))
}

/// `alias:` (but not the start of a `::` cast).
pub(crate) fn p_alias(st: &mut St) -> R<String> {
    let mut q = Seq::new(st);
    let name = q.run(p_field_name(st))?;
    q.run(char_(st, ':'))?;
    q.run(not_followed_by(st, |st| char_(st, ':')))?;
    q.done(name)
}

/// `select=`: a comma-separated forest of fields and embedded relations.
pub(crate) fn p_field_forest(st: &mut St) -> R<Vec<SelectItem>> {
    nested(st, |st| {
        sep_by(st, p_field_tree, |st| lexeme(st, |st| char_(st, ',')))
    })
}

pub(crate) fn p_field_tree(st: &mut St) -> R<SelectItem> {
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

pub(crate) type RelationHead = (Option<String>, String, Option<String>, Option<JoinType>);

/// `alias:relation!hint!inner` right before its `(`.
pub(crate) fn p_relation_select(st: &mut St) -> R<RelationHead> {
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
pub(crate) fn p_spread_relation_select(
    st: &mut St,
) -> R<(String, Option<String>, Option<JoinType>)> {
    lexeme(st, |st| {
        let mut q = Seq::new(st);
        q.run(string(st, "..."))?;
        let name = q.run(p_field_name(st))?;
        let (hint, join_type) = q.run(p_embed_params(st))?;
        q.run(try_(st, |st| look_ahead(st, |st| string(st, "("))))?;
        q.done((name, hint, join_type))
    })
}

pub(crate) enum EmbedParam {
    Hint(String),
    Join(JoinType),
}

/// Up to two `!` parameters, in any order: a join type and/or a disambiguation hint.
pub(crate) fn p_embed_params(st: &mut St) -> R<(Option<String>, Option<JoinType>)> {
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

pub(crate) fn p_embed_param(st: &mut St) -> R<EmbedParam> {
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
pub(crate) fn p_select_end(st: &mut St) -> R<()> {
    alt!(
        st,
        |st: &mut St| try_(st, |st| look_ahead(st, |st| string(st, ")"))),
        |st: &mut St| try_(st, |st| look_ahead(st, |st| string(st, ","))),
        |st: &mut St| try_(st, eof),
    )
}

pub(crate) fn p_cast(st: &mut St) -> R<String> {
    let mut q = Seq::new(st);
    q.run(string(st, "::"))?;
    let t = q.run(p_identifier(st))?;
    q.done(t)
}

/// `*`, `count()`, or `alias:field->path::cast.agg()::cast`.
pub(crate) fn p_field_select(st: &mut St) -> R<SelectItem> {
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

pub(crate) fn p_aggregation(st: &mut St) -> R<AggregateFunction> {
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
pub(crate) fn p_op_expr(st: &mut St, single_val: fn(&mut St) -> R<String>) -> R<OpExpr> {
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
pub(crate) fn p_keyword_dot(st: &mut St, keyword: &'static str) -> R<()> {
    try_(st, |st| {
        let mut q = Seq::new(st);
        q.run(string(st, keyword))?;
        q.run(p_delimiter(st))?;
        q.done(())
    })
}

pub(crate) fn p_operation(st: &mut St, single_val: fn(&mut St) -> R<String>) -> R<Operation> {
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

pub(crate) fn keyword<T: Copy>(st: &mut St, word: &'static str, value: T) -> R<T> {
    try_(st, |st| map(string(st, word), |_| value))
}

pub(crate) fn p_simple_operator(st: &mut St) -> R<SimpleOperator> {
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

pub(crate) fn p_quant_operator(st: &mut St) -> R<QuantOperator> {
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

pub(crate) fn p_quant_op(st: &mut St, single_val: fn(&mut St) -> R<String>) -> R<Operation> {
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

pub(crate) fn p_fts(st: &mut St, single_val: fn(&mut St) -> R<String>) -> R<Operation> {
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
pub(crate) fn p_is_val(st: &mut St) -> R<IsVal> {
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
pub(crate) fn p_single_val(st: &mut St) -> R<String> {
    map(many(st, any_char), |cs| cs.into_iter().collect())
}

/// `"quoted"` when it is the whole element (then `,` and `)` may appear inside).
pub(crate) fn p_quoted_element(st: &mut St) -> R<String> {
    try_(st, |st| {
        let mut q = Seq::new(st);
        let v = q.run(p_quoted_value(st))?;
        q.run(not_followed_by(st, |st| none_of(st, ",)")))?;
        q.done(v)
    })
}

pub(crate) fn p_unquoted_element(st: &mut St) -> R<String> {
    map(many(st, |st| none_of(st, ",)")), |cs| {
        cs.into_iter().collect()
    })
}

/// A value inside a logic tree: quoted, a `{...}` array literal, or up to `,`/`)`.
pub(crate) fn p_logic_single_val(st: &mut St) -> R<String> {
    alt!(
        st,
        p_quoted_element,
        |st: &mut St| try_(st, p_pg_array),
        p_unquoted_element
    )
}

/// `{...}` kept with its braces; nested braces are not supported, as in PostgREST.
pub(crate) fn p_pg_array(st: &mut St) -> R<String> {
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
pub(crate) fn p_list_val(st: &mut St) -> R<Vec<String>> {
    let mut q = Seq::new(st);
    q.run(lexeme(st, |st| char_(st, '(')))?;
    let items = q.run(sep_by1(st, p_list_element, |st| char_(st, ',')))?;
    q.run(lexeme(st, |st| char_(st, ')')))?;
    q.done(items)
}

pub(crate) fn p_list_element(st: &mut St) -> R<String> {
    or(st, p_quoted_element, p_unquoted_element)
}

/// `order=a.desc.nullslast,rel(b)` terms.
pub(crate) fn p_order(st: &mut St) -> R<Vec<OrderTerm>> {
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

pub(crate) fn p_order_term(st: &mut St) -> R<OrderTerm> {
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

pub(crate) fn p_order_relation_term(st: &mut St) -> R<OrderTerm> {
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
pub(crate) fn p_order_modifiers(st: &mut St) -> R<(Option<OrderDirection>, Option<OrderNulls>)> {
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

pub(crate) fn p_dotted<T>(st: &mut St, word: &'static str, value: T) -> R<T> {
    let mut q = Seq::new(st);
    q.run(p_delimiter(st))?;
    q.run(string(st, word))?;
    q.done(value)
}

pub(crate) fn p_order_end(st: &mut St) -> R<()> {
    or(
        st,
        |st| try_(st, |st| map(look_ahead(st, |st| char_(st, ',')), |_| ())),
        |st| try_(st, eof),
    )
}

/// `or(a.eq.1,not.and(b.gt.2,c.is.null))`, the operator being prepended to the value.
pub(crate) fn p_logic_tree(st: &mut St) -> R<LogicTree> {
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

pub(crate) fn p_logic_filter(st: &mut St) -> R<Filter> {
    let mut q = Seq::new(st);
    let field = q.run(p_field(st))?;
    q.run(p_delimiter(st))?;
    let op_expr = q.run(p_op_expr(st, p_logic_single_val))?;
    q.done(Filter { field, op_expr })
}

pub(crate) fn p_not(st: &mut St) -> R<bool> {
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

pub(crate) fn p_logic_op(st: &mut St) -> R<LogicOperator> {
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
pub(crate) fn p_logic_path(st: &mut St) -> R<(EmbedPath, String)> {
    map(sep_by1(st, p_field_name, p_delimiter), |mut path| {
        let op = path.pop().unwrap_or_default();
        let negated = op == "not" || path.iter().any(|p| p == "not");
        let embed: EmbedPath = path.into_iter().filter(|p| p != "not").collect();
        (embed, if negated { format!("not.{op}") } else { op })
    })
}

/// `columns=` and `on_conflict=`: comma-separated names.
pub(crate) fn p_columns(st: &mut St) -> R<Vec<FieldName>> {
    sep_by1(st, p_field_name, |st| lexeme(st, |st| char_(st, ',')))
}
