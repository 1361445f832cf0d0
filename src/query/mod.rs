//! The query builder: renders plans as the one statement each request runs.
//!
//! Every statement has PostgREST's fixed result shape, one row:
//! `total_result_set, page_total, location, body, response_headers, response_status`.
//! Rows are aggregated in PostgreSQL (`json_agg`), so the response never depends on the
//! row shape. Filter values are text parameters cast to the column's catalog type, which
//! gives the same coercions (and the same errors) as PostgREST's `unknown` parameters.

pub mod sql;

use crate::api_request::preferences::PreferResolution;
use crate::api_request::range::Range;
use crate::api_request::types::{
    AggregateFunction, FtsOperator, IsVal, JsonOperand, JsonOperation, LogicOperator, OpQuantifier,
    Operation, OrderDirection, OrderNulls, QuantOperator, SimpleOperator,
};
use crate::plan::call::{ArgValue, CallArgs, CallParam, CallPlan, Returns};
use crate::plan::{
    Aggregate, CoercibleField, CoercibleFilter, CoercibleLogicTree, CoercibleOrderTerm, CountPlan,
    EmbedShape, FieldKind, Link, MutateLimit, MutatePlan, ReadPlan, Returning, SelectField,
    SpreadField, TypeRef, TypedColumn, ValueType,
};
use crate::schema_cache::PgType;
use sql::{SqlBuilder, Statement};

/// What a field reference is qualified with.
#[derive(Clone, Copy)]
enum Qualifier<'a> {
    /// `"schema"."table"`.
    Table(&'a str, &'a str),
    /// A bare alias (`"todos"` over `pgrst_source`).
    Alias(&'a str),
}

fn qualifier(b: &mut SqlBuilder, q: Qualifier) {
    match q {
        Qualifier::Table(s, t) => {
            b.qualified(s, t);
        }
        Qualifier::Alias(a) => {
            b.ident(a);
        }
    }
}

fn json_path(b: &mut SqlBuilder, path: &[JsonOperation]) {
    for op in path {
        let operand = match op {
            JsonOperation::Arrow(o) => {
                b.push("->");
                o
            }
            JsonOperation::DoubleArrow(o) => {
                b.push("->>");
                o
            }
        };
        match operand {
            JsonOperand::Key(k) => b.param(k.as_str()),
            JsonOperand::Idx(i) => b.param(i.to_string()).push("::pg_catalog.int4"),
        };
    }
}

fn field(b: &mut SqlBuilder, q: Qualifier, f: &CoercibleField) {
    match f.kind {
        FieldKind::Star => {
            qualifier(b, q);
            b.push(".*");
            return;
        }
        FieldKind::Row => {
            qualifier(b, q);
            return;
        }
        FieldKind::Column | FieldKind::Computed | FieldKind::Unknown => {}
    }
    let wrap = !f.json_path.is_empty() && f.to_jsonb;
    if wrap {
        b.push("to_jsonb(");
    }
    qualifier(b, q);
    b.push(".").ident(&f.name);
    if wrap {
        b.push(")");
    }
    json_path(b, &f.json_path);
}

fn typed_value(b: &mut SqlBuilder, value: &str, ty: &ValueType) {
    match ty {
        ValueType::Named(s, n) => b.param_as(value, (s, n)),
        ValueType::Text => b.param(value),
    };
}

/// PostgreSQL array literal of the values (always quoted, `\` and `"` escaped).
fn array_literal(values: &[String]) -> String {
    let mut out = String::from("{");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\0' => {}
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

fn filter(b: &mut SqlBuilder, q: Qualifier, f: &CoercibleFilter) {
    if f.negated {
        b.push("NOT ");
    }
    let fts_field = |b: &mut SqlBuilder, lang: &Option<String>| {
        if f.field.is_tsvector() {
            field(b, q, &f.field);
        } else {
            b.push("to_tsvector(");
            if let Some(l) = lang {
                b.param_as(l.as_str(), ("pg_catalog", "regconfig"))
                    .push(", ");
            }
            field(b, q, &f.field);
            b.push(")");
        }
    };
    if let Operation::Fts(_, lang, _) = &f.operation {
        fts_field(b, lang);
    } else {
        field(b, q, &f.field);
    }
    let text = ValueType::Named("pg_catalog".into(), "text".into());
    let text_array = ValueType::Named("pg_catalog".into(), "_text".into());
    match &f.operation {
        Operation::Simple(op, v) => {
            b.push(match op {
                SimpleOperator::NotEqual => " <> ",
                SimpleOperator::Contains => " @> ",
                SimpleOperator::Contained => " <@ ",
                SimpleOperator::Overlap => " && ",
                SimpleOperator::StrictlyLeft => " << ",
                SimpleOperator::StrictlyRight => " >> ",
                SimpleOperator::NotExtendsRight => " &< ",
                SimpleOperator::NotExtendsLeft => " &> ",
                SimpleOperator::Adjacent => " -|- ",
            });
            typed_value(b, v, &f.field.value_type());
        }
        Operation::Quant(op, quant, v) => {
            let (sql_op, pattern) = match op {
                QuantOperator::Equal => (" = ", false),
                QuantOperator::GreaterThanEqual => (" >= ", false),
                QuantOperator::GreaterThan => (" > ", false),
                QuantOperator::LessThanEqual => (" <= ", false),
                QuantOperator::LessThan => (" < ", false),
                QuantOperator::Like => (" LIKE ", true),
                QuantOperator::ILike => (" ILIKE ", true),
                QuantOperator::Match => (" ~ ", true),
                QuantOperator::IMatch => (" ~* ", true),
            };
            b.push(sql_op);
            // like/ilike write `*` for `%`, so wildcards survive URL encoding.
            let value = if matches!(op, QuantOperator::Like | QuantOperator::ILike) {
                v.replace('*', "%")
            } else {
                v.clone()
            };
            match quant {
                None => typed_value(
                    b,
                    &value,
                    &if pattern { text } else { f.field.value_type() },
                ),
                Some(qt) => {
                    b.push(match qt {
                        OpQuantifier::Any => "ANY(",
                        OpQuantifier::All => "ALL(",
                    });
                    typed_value(
                        b,
                        &value,
                        &if pattern {
                            text_array
                        } else {
                            f.field.array_value_type()
                        },
                    );
                    b.push(")");
                }
            }
        }
        // `= ANY` instead of IN: an empty list is valid and the statement text (hence its
        // cached plan) does not depend on the number of values.
        Operation::In(values) => {
            if values.len() == 1 && values[0].is_empty() {
                b.push(" = ANY('{}')");
            } else {
                b.push(" = ANY(");
                typed_value(b, &array_literal(values), &f.field.array_value_type());
                b.push(")");
            }
        }
        // IS cannot take a parameter: the operand is a whitelisted keyword.
        Operation::Is(v) => {
            b.push(match v {
                IsVal::Null => " IS NULL",
                IsVal::NotNull => " IS NOT NULL",
                IsVal::True => " IS TRUE",
                IsVal::False => " IS FALSE",
                IsVal::Unknown => " IS UNKNOWN",
            });
        }
        Operation::IsDistinctFrom(v) => {
            b.push(" IS DISTINCT FROM ");
            typed_value(b, v, &f.field.value_type());
        }
        Operation::Fts(op, lang, v) => {
            b.push(match op {
                FtsOperator::Fts => " @@ to_tsquery(",
                FtsOperator::Plain => " @@ plainto_tsquery(",
                FtsOperator::Phrase => " @@ phraseto_tsquery(",
                FtsOperator::Websearch => " @@ websearch_to_tsquery(",
            });
            if let Some(l) = lang {
                b.param_as(l.as_str(), ("pg_catalog", "regconfig"))
                    .push(", ");
            }
            b.param(v.as_str()).push(")");
        }
    }
}

/// How `rel=is.null` filters are written: on the embed's lateral subquery (reads), or as
/// `EXISTS` of the embed's rows (counts, which have no joins).
#[derive(Clone, Copy)]
enum NullEmbeds<'a> {
    Joined,
    Exists(&'a ReadPlan),
}

fn logic_tree(b: &mut SqlBuilder, q: Qualifier, t: &CoercibleLogicTree, ne: NullEmbeds) {
    match t {
        CoercibleLogicTree::Stmnt(f) => filter(b, q, f),
        // An unqualified name: the lateral subquery's aggregate column (to-many) or, when it
        // has no such column, its whole row (to-one); NULL when there is no related row.
        CoercibleLogicTree::NullEmbed { negated, embed } => match ne {
            NullEmbeds::Joined => {
                b.ident(embed).push(if *negated {
                    " IS DISTINCT FROM NULL"
                } else {
                    " IS NOT DISTINCT FROM NULL"
                });
            }
            NullEmbeds::Exists(parent) => {
                if !*negated {
                    b.push("NOT ");
                }
                b.push("EXISTS (");
                if let Some(e) = parent.embeds.iter().find(|e| e.agg_alias == *embed) {
                    count_query(b, &e.plan, Some((&e.link, plan_qualifier(parent))));
                } else {
                    b.push("SELECT 1");
                }
                b.push(")");
            }
        },
        CoercibleLogicTree::Expr {
            negated,
            op,
            children,
        } => {
            if *negated {
                b.push("NOT ");
            }
            b.push("(");
            for (i, c) in children.iter().enumerate() {
                if i > 0 {
                    b.push(match op {
                        LogicOperator::And => " AND ",
                        LogicOperator::Or => " OR ",
                    });
                }
                logic_tree(b, q, c, ne);
            }
            b.push(")");
        }
    }
}

/// Writes ` WHERE ` before the first condition and ` AND ` before the others.
struct Conditions(bool);

impl Conditions {
    fn new() -> Self {
        Conditions(false)
    }

    fn next(&mut self, b: &mut SqlBuilder) {
        b.push(if std::mem::replace(&mut self.0, true) {
            " AND "
        } else {
            " WHERE "
        });
    }
}

fn where_clause(b: &mut SqlBuilder, q: Qualifier, filters: &[CoercibleLogicTree]) {
    conditions(b, q, filters, NullEmbeds::Joined, &mut Conditions::new());
}

fn conditions(
    b: &mut SqlBuilder,
    q: Qualifier,
    filters: &[CoercibleLogicTree],
    ne: NullEmbeds,
    conds: &mut Conditions,
) {
    for f in filters {
        conds.next(b);
        logic_tree(b, q, f, ne);
    }
}

fn order_by(b: &mut SqlBuilder, q: Qualifier, order: &[CoercibleOrderTerm]) {
    for (i, o) in order.iter().enumerate() {
        b.push(if i == 0 { " ORDER BY " } else { ", " });
        match &o.relation {
            Some(embed) => field(b, Qualifier::Alias(embed), &o.field),
            None => field(b, q, &o.field),
        }
        match o.direction {
            Some(OrderDirection::Asc) => b.push(" ASC"),
            Some(OrderDirection::Desc) => b.push(" DESC"),
            None => b,
        };
        match o.nulls {
            Some(OrderNulls::First) => b.push(" NULLS FIRST"),
            Some(OrderNulls::Last) => b.push(" NULLS LAST"),
            None => b,
        };
    }
}

fn limit_offset(b: &mut SqlBuilder, range: &Range) {
    if *range == Range::ALL {
        return;
    }
    match range.limit() {
        Some(l) => b
            .push(" LIMIT ")
            .param(l.max(0).to_string())
            .push("::pg_catalog.int8"),
        None => b.push(" LIMIT ALL"),
    };
    b.push(" OFFSET ")
        .param(range.offset().to_string())
        .push("::pg_catalog.int8");
}

/// Writes `", "` before every item but the first.
struct Separator(bool);

impl Separator {
    fn next(&mut self, b: &mut SqlBuilder) {
        if std::mem::replace(&mut self.0, true) {
            b.push(", ");
        }
    }
}

fn select_field(b: &mut SqlBuilder, q: Qualifier, s: &SelectField) {
    let cast_field = |b: &mut SqlBuilder| match &s.cast {
        Some(t) => {
            b.push("CAST(");
            field(b, q, &s.field);
            b.push(" AS ").qualified(&t.schema, &t.name).push(")");
        }
        None => field(b, q, &s.field),
    };
    match s.aggregate {
        None => cast_field(b),
        // `count()`: every row, also one whose columns are all NULL.
        Some(agg) if s.field.kind == FieldKind::Star => {
            aggregate(b, agg, s.aggregate_cast.as_ref(), |b| {
                b.push("*");
            })
        }
        Some(agg) => aggregate(b, agg, s.aggregate_cast.as_ref(), cast_field),
    }
    if let Some(a) = &s.alias {
        b.push(" AS ").ident(a);
    }
}

/// `AGG(value)`, cast when asked (`amount.sum()::text`).
fn aggregate(
    b: &mut SqlBuilder,
    agg: AggregateFunction,
    cast: Option<&TypeRef>,
    value: impl FnOnce(&mut SqlBuilder),
) {
    if cast.is_some() {
        b.push("CAST(");
    }
    b.push(match agg {
        AggregateFunction::Sum => "SUM(",
        AggregateFunction::Avg => "AVG(",
        AggregateFunction::Max => "MAX(",
        AggregateFunction::Min => "MIN(",
        AggregateFunction::Count => "COUNT(",
    });
    value(b);
    b.push(")");
    if let Some(t) = cast {
        b.push(" AS ").qualified(&t.schema, &t.name).push(")");
    }
}

/// A field of a to-one spread in its parent's select list: `"agg"."name"`, or the aggregate
/// the spread lifted to this level.
fn spread_select(b: &mut SqlBuilder, agg: &str, f: &SpreadField) {
    match f.aggregate {
        None => spread_field(b, agg, &f.name),
        Some(a) => {
            aggregate(b, a, f.aggregate_cast.as_ref(), |b| {
                spread_field(b, agg, &f.name)
            });
            if let Some(alias) = &f.alias {
                b.push(" AS ").ident(alias);
            }
        }
    }
}

/// `GROUP BY` the fields of a level that has aggregates: its other fields (by alias when
/// they have one) and its embeds' columns, as PostgREST's `groupF`.
fn group_by(b: &mut SqlBuilder, plan: &ReadPlan) {
    let lifted = plan.embeds.iter().any(|e| match &e.shape {
        EmbedShape::Spread(fields) => fields.iter().any(|f| f.aggregate.is_some()),
        EmbedShape::Json | EmbedShape::Empty => false,
    });
    if !lifted && plan.select.iter().all(|s| s.aggregate.is_none()) {
        return;
    }
    let q = plan_qualifier(plan);
    let mut sep = Separator(false);
    let mut term = |b: &mut SqlBuilder| {
        b.push(if sep.0 { ", " } else { " GROUP BY " });
        sep.0 = true;
    };
    for s in plan.select.iter().filter(|s| s.aggregate.is_none()) {
        term(b);
        match &s.alias {
            Some(a) => {
                b.ident(a);
            }
            None => field(b, q, &s.field),
        }
    }
    for e in &plan.embeds {
        match &e.shape {
            EmbedShape::Empty => {}
            EmbedShape::Json => {
                term(b);
                b.ident(e.name());
            }
            EmbedShape::Spread(fields) => {
                for f in fields.iter().filter(|f| f.aggregate.is_none()) {
                    term(b);
                    spread_field(b, &e.agg_alias, &f.name);
                }
            }
        }
    }
}

/// `"agg"."name"`, or `"agg".*` for a spread of every column.
fn spread_field(b: &mut SqlBuilder, agg: &str, name: &str) {
    b.ident(agg);
    if name == "*" {
        b.push(".*");
    } else {
        b.push(".").ident(name);
    }
}

/// How a plan's relation is named in its query.
fn plan_qualifier(plan: &ReadPlan) -> Qualifier<'_> {
    match &plan.alias {
        Some(a) => Qualifier::Alias(a),
        None => Qualifier::Table(&plan.schema, &plan.relation),
    }
}

/// The select list of a plan: its fields, then what each embed contributes.
fn select_list(b: &mut SqlBuilder, plan: &ReadPlan) {
    let q = plan_qualifier(plan);
    let mut sep = Separator(false);
    for s in &plan.select {
        sep.next(b);
        select_field(b, q, s);
    }
    for e in &plan.embeds {
        match (&e.shape, e.to_one) {
            (EmbedShape::Empty, _) => {}
            (EmbedShape::Json, true) => {
                sep.next(b);
                b.push("row_to_json(")
                    .ident(&e.agg_alias)
                    .push(".*)::jsonb AS ")
                    .ident(e.name());
            }
            (EmbedShape::Json, false) => {
                sep.next(b);
                b.push("COALESCE(")
                    .ident(&e.agg_alias)
                    .push(".")
                    .ident(&e.agg_alias)
                    .push(", '[]') AS ")
                    .ident(e.name());
            }
            (EmbedShape::Spread(fields), _) => {
                for f in fields {
                    sep.next(b);
                    spread_select(b, &e.agg_alias, f);
                }
            }
        }
    }
}

/// ` FROM` the plan's relation (over `pgrst_source` for the representation of a write),
/// with the junction of a many-to-many embed.
fn from_clause(
    b: &mut SqlBuilder,
    plan: &ReadPlan,
    parent: Option<(&Link, Qualifier)>,
    source: bool,
) {
    b.push(" FROM ");
    if source {
        b.push("pgrst_source");
    } else if let Some((
        Link::Function {
            schema,
            name,
            arg_schema,
            arg_table,
        },
        pq,
    )) = parent
    {
        // The parent's whole row, cast to its type (PostgREST does the same, for overloads).
        let row = match pq {
            Qualifier::Table(_, t) | Qualifier::Alias(t) => t,
        };
        b.qualified(schema, name)
            .push("(")
            .ident(row)
            .push("::")
            .qualified(arg_schema, arg_table)
            .push(")");
    } else {
        b.qualified(&plan.schema, &plan.relation);
    }
    if let Some(a) = &plan.alias {
        b.push(" AS ").ident(a);
    }
    if let Some((Link::Junction { schema, table, .. }, _)) = parent {
        b.push(", ").qualified(schema, table);
    }
}

/// The conditions that tie an embed's rows to its parent row.
fn link_conditions(
    b: &mut SqlBuilder,
    q: Qualifier,
    parent: Option<(&Link, Qualifier)>,
    conds: &mut Conditions,
) {
    let mut cond = |b: &mut SqlBuilder| conds.next(b);
    match parent {
        Some((Link::Columns(pairs), pq)) => {
            for (p, c) in pairs {
                cond(b);
                qualifier(b, q);
                b.push(".").ident(c).push(" = ");
                qualifier(b, pq);
                b.push(".").ident(p);
            }
        }
        Some((
            Link::Junction {
                schema,
                table,
                parent: parent_cols,
                child,
            },
            pq,
        )) => {
            for (c, j) in child {
                cond(b);
                qualifier(b, q);
                b.push(".").ident(c).push(" = ");
                b.qualified(schema, table).push(".").ident(j);
            }
            for (p, j) in parent_cols {
                cond(b);
                b.qualified(schema, table).push(".").ident(j).push(" = ");
                qualifier(b, pq);
                b.push(".").ident(p);
            }
        }
        Some((Link::Function { .. }, _)) | None => {}
    }
}

/// `SELECT … FROM … JOIN LATERAL … WHERE … ORDER BY … LIMIT …` of a plan and its embeds
/// (PostgREST's `readPlanToQuery`). `parent`: how the plan's rows relate to its parent's.
fn read_query(
    b: &mut SqlBuilder,
    plan: &ReadPlan,
    parent: Option<(&Link, Qualifier)>,
    source: bool,
) {
    let q = plan_qualifier(plan);
    b.push("SELECT ");
    select_list(b, plan);
    from_clause(b, plan, parent, source);
    for e in &plan.embeds {
        b.push(if e.inner { " INNER" } else { " LEFT" });
        b.push(" JOIN LATERAL (");
        let child_parent = Some((&e.link, q));
        let agg = e.agg_alias.as_str();
        if e.to_one {
            read_query(b, &e.plan, child_parent, false);
            b.push(") AS ").ident(agg).push(" ON TRUE");
            continue;
        }
        b.push("SELECT json_agg(")
            .ident(agg)
            .push(")::jsonb AS ")
            .ident(agg);
        if let EmbedShape::Spread(fields) = &e.shape {
            for f in fields {
                b.push(", COALESCE(json_agg(");
                spread_field(b, agg, &f.name);
                b.push("), '[]')::jsonb AS ").ident(&f.name);
            }
        }
        b.push(" FROM (");
        read_query(b, &e.plan, child_parent, false);
        b.push(") AS ")
            .ident(agg)
            .push(") AS ")
            .ident(agg)
            .push(" ON ");
        if e.inner {
            b.ident(agg).push(" IS NOT NULL");
        } else {
            b.push("TRUE");
        }
    }
    let mut conds = Conditions::new();
    conditions(b, q, &plan.filters, NullEmbeds::Joined, &mut conds);
    link_conditions(b, q, parent, &mut conds);
    group_by(b, plan);
    order_by(b, q, &plan.order);
    limit_offset(b, &plan.range);
}

/// `SELECT 1 FROM … WHERE …`: the rows of a plan for counting, with `EXISTS` for its inner
/// embeds and `rel=is.null` filters instead of joins (PostgREST's `readPlanToCountQuery`).
fn count_query(b: &mut SqlBuilder, plan: &ReadPlan, parent: Option<(&Link, Qualifier)>) {
    count_query_from(b, plan, parent, false);
}

/// [`count_query`], reading the top level from `pgrst_source` when `source`.
fn count_query_from(
    b: &mut SqlBuilder,
    plan: &ReadPlan,
    parent: Option<(&Link, Qualifier)>,
    source: bool,
) {
    let q = plan_qualifier(plan);
    b.push("SELECT 1");
    from_clause(b, plan, parent, source);
    let mut conds = Conditions::new();
    conditions(b, q, &plan.filters, NullEmbeds::Exists(plan), &mut conds);
    link_conditions(b, q, parent, &mut conds);
    for e in plan.embeds.iter().filter(|e| e.inner) {
        conds.next(b);
        b.push("EXISTS (");
        count_query(b, &e.plan, Some((&e.link, q)));
        b.push(")");
    }
}

fn body(b: &mut SqlBuilder, aggregate: Aggregate) {
    b.push(match aggregate {
        Aggregate::JsonArray { strip_nulls: false } => "coalesce(json_agg(_postgrest_t), '[]')",
        Aggregate::JsonArray { strip_nulls: true } => "coalesce(json_strip_nulls(json_agg(_postgrest_t)), '[]')",
        Aggregate::JsonSingle { strip_nulls: false } => "coalesce(json_agg(_postgrest_t)->0, 'null')",
        Aggregate::JsonSingle { strip_nulls: true } => "coalesce(json_strip_nulls(json_agg(_postgrest_t)->0), 'null')",
        Aggregate::Csv => {
            "(SELECT coalesce(string_agg(a.k, ','), '') FROM (SELECT json_object_keys(r)::text AS k \
             FROM (SELECT row_to_json(hh) AS r FROM pgrst_source AS hh LIMIT 1) s) a) || chr(10) || \
             coalesce(string_agg(substring(_postgrest_t::text, 2, length(_postgrest_t::text) - 2), chr(10)), '')"
        }
        Aggregate::GeoJson => {
            "json_build_object('type', 'FeatureCollection', 'features', \
             coalesce(json_agg(ST_AsGeoJSON(_postgrest_t)::json), '[]'))"
        }
        Aggregate::None => "NULL::text",
    });
}

const RESPONSE_GUCS: &str =
    "nullif(current_setting('response.headers', true), '') AS response_headers, \
     nullif(current_setting('response.status', true), '') AS response_status";

/// The statement of a read: the page, its count, the aggregated body.
pub fn read_statement(
    plan: &ReadPlan,
    aggregate: Aggregate,
    count: CountPlan,
    max_rows: Option<i64>,
) -> Statement {
    let mut b = SqlBuilder::new();
    b.push("WITH pgrst_source AS (");
    read_query(&mut b, plan, None, false);
    b.push(")");
    counted_page(&mut b, plan, count, max_rows, false);
    b.push("NULL::text AS location, ");
    body(&mut b, aggregate);
    b.push(" AS body, ")
        .push(RESPONSE_GUCS)
        .push(" FROM pgrst_source _postgrest_t");
    b.finish()
}

/// After `WITH pgrst_source AS (…)`: the count's CTE when it needs one, then
/// `SELECT <total> AS total_result_set, <page count> AS page_total, `. `source`: the plan
/// reads `pgrst_source` (a call's result) rather than its relation.
fn counted_page(
    b: &mut SqlBuilder,
    plan: &ReadPlan,
    count: CountPlan,
    max_rows: Option<i64>,
    source: bool,
) {
    // PostgREST skips the separate count when the page is the whole result (v16, #3957).
    let separate_count = max_rows.is_some() || plan.range != Range::ALL;
    let total = match count {
        CountPlan::Exact | CountPlan::Estimated if separate_count => {
            b.push(", pgrst_source_count AS (");
            count_query_from(b, plan, None, source);
            if count == CountPlan::Estimated {
                if let Some(m) = max_rows {
                    b.push(" LIMIT ")
                        .param(m.saturating_add(1).to_string())
                        .push("::pg_catalog.int8");
                }
            }
            b.push(")");
            "(SELECT pg_catalog.count(*) FROM pgrst_source_count)"
        }
        CountPlan::Exact | CountPlan::Estimated => "pg_catalog.count(_postgrest_t)",
        CountPlan::None | CountPlan::Planned => "NULL::bigint",
    };
    b.push(" SELECT ")
        .push(total)
        .push(" AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, ");
}

/// `SELECT pgrst_call.* FROM "s"."f"(…) pgrst_call` (a scalar as `pgrst_scalar`), with
/// JSON arguments typed by `json_to_recordset` (the body's first object).
fn call_query(b: &mut SqlBuilder, call: &CallPlan) {
    let scalar = call.scalar();
    b.push(if scalar {
        "SELECT pgrst_call.pgrst_scalar FROM "
    } else {
        "SELECT pgrst_call.* FROM "
    });
    if let CallArgs::Json { body, params } = &call.args {
        b.push("(SELECT * FROM json_to_recordset(")
            .param(body.as_str())
            .push("::json) AS _(");
        for (i, p) in params.iter().enumerate() {
            if i > 0 {
                b.push(", ");
            }
            b.ident(&p.name).push(" ");
            match &p.ty {
                Some(t) => b.qualified(&t.schema, &t.name),
                None => b.push("pg_catalog.text"),
            };
        }
        b.push(") LIMIT 1) pgrst_body CROSS JOIN LATERAL ");
    }
    if scalar {
        b.push("(SELECT ");
    }
    b.qualified(&call.schema, &call.function).push("(");
    let named = |b: &mut SqlBuilder, p: &CallParam| {
        if p.variadic {
            b.push("VARIADIC ");
        }
        b.ident(&p.name).push(" := ");
    };
    let cast = |b: &mut SqlBuilder, ty: &Option<PgType>| {
        if let Some(t) = ty {
            b.push("::").qualified(&t.schema, &t.name);
        }
    };
    match &call.args {
        CallArgs::None => {}
        CallArgs::Json { params, .. } => {
            for (i, p) in params.iter().enumerate() {
                if i > 0 {
                    b.push(", ");
                }
                named(b, p);
                b.push("pgrst_body.").ident(&p.name);
            }
        }
        CallArgs::Direct(args) => {
            for (i, (p, v)) in args.iter().enumerate() {
                if i > 0 {
                    b.push(", ");
                }
                named(b, p);
                match v {
                    ArgValue::Fixed(v) => b.param(v.as_str()),
                    ArgValue::Array(vs) => b.param(array_literal(vs)),
                };
                cast(b, &p.ty);
            }
        }
        CallArgs::Single { value, ty } => {
            b.param(value.as_str());
            cast(b, &Some(ty.clone()));
        }
    }
    b.push(")");
    b.push(if scalar {
        " pgrst_scalar) pgrst_call"
    } else {
        " pgrst_call"
    });
}

/// The body of a call's result: a bare value for scalars, an object for one row.
fn call_body(b: &mut SqlBuilder, aggregate: Aggregate, returns: Returns) {
    let strip = match aggregate {
        Aggregate::JsonArray { strip_nulls } | Aggregate::JsonSingle { strip_nulls } => strip_nulls,
        _ => return body(b, aggregate),
    };
    let single = matches!(aggregate, Aggregate::JsonSingle { .. });
    let (agg, empty) = match returns {
        Returns::Scalar => ("json_agg(_postgrest_t.pgrst_scalar)->0", "'null'"),
        Returns::SetOfScalar if !single => ("json_agg(_postgrest_t.pgrst_scalar)", "'[]'"),
        Returns::Row if !single => ("json_agg(_postgrest_t)->0", "'null'"),
        _ => return body(b, aggregate),
    };
    b.push("coalesce(");
    if strip {
        b.push("json_strip_nulls(").push(agg).push(")");
    } else {
        b.push(agg);
    }
    b.push(", ").push(empty).push(")");
}

/// What `count=planned` explains for a call: its result's rows that pass the filters.
pub fn call_count_statement(call: &CallPlan, read: &ReadPlan) -> Statement {
    let mut b = SqlBuilder::new();
    b.push("WITH pgrst_source AS (");
    call_query(&mut b, call);
    b.push(") ");
    count_query_from(&mut b, read, None, true);
    b.finish()
}

/// The statement of a `/rpc` call: the call in `pgrst_source`, then its result read as a
/// relation (select, filters, order, range, embeds), counted and aggregated.
pub fn call_statement(
    call: &CallPlan,
    read: &ReadPlan,
    aggregate: Aggregate,
    count: CountPlan,
    max_rows: Option<i64>,
) -> Statement {
    let mut b = SqlBuilder::new();
    b.push("WITH pgrst_source AS (");
    call_query(&mut b, call);
    b.push(")");
    counted_page(&mut b, read, count, max_rows, true);
    b.push("NULL::text AS location, ");
    call_body(&mut b, aggregate, call.returns);
    b.push(" AS body, ").push(RESPONSE_GUCS).push(" FROM (");
    read_query(&mut b, read, None, true);
    b.push(") _postgrest_t");
    b.finish()
}

/// `SELECT 1 FROM <relation> WHERE <filters>`: what `count=planned` explains.
pub fn count_statement(plan: &ReadPlan) -> Statement {
    let mut b = SqlBuilder::new();
    count_query(&mut b, plan, None);
    b.finish()
}

fn returning(b: &mut SqlBuilder, schema: &str, relation: &str, r: &Returning) {
    match r {
        Returning::Count => {
            b.push(" RETURNING 1");
        }
        Returning::All => {
            b.push(" RETURNING ").qualified(schema, relation).push(".*");
        }
        Returning::Columns(cols) => {
            for (i, c) in cols.iter().enumerate() {
                b.push(if i == 0 { " RETURNING " } else { ", " });
                b.qualified(schema, relation).push(".").ident(c);
            }
            if cols.is_empty() {
                b.push(" RETURNING 1");
            }
        }
    }
}

fn record_columns(b: &mut SqlBuilder, columns: &[TypedColumn]) {
    b.push(" AS pgrst_body(");
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            b.push(", ");
        }
        b.ident(&c.name)
            .push(" ")
            .qualified(&c.ty.schema, &c.ty.name);
    }
    b.push(")");
}

/// The rows of the body (a JSON array of objects), typed as the target's columns:
/// `json_to_recordset($1::json) AS pgrst_body("a" "pg_catalog"."int4", ...)`. When a
/// column has a default to apply, each object is also kept (`pgrst_elem.j`) to tell a
/// missing key from a null.
fn recordset(b: &mut SqlBuilder, body: &str, columns: &[TypedColumn]) {
    if columns.iter().any(|c| c.default.is_some()) {
        b.push("json_array_elements(")
            .param(body)
            .push("::json) AS pgrst_elem(j) CROSS JOIN LATERAL json_to_record(pgrst_elem.j)");
    } else {
        b.push("json_to_recordset(").param(body).push("::json)");
    }
    record_columns(b, columns);
}

/// A column's value from the body: with a default to apply, the default when the row's
/// object lacks the key (`Prefer: missing=default`).
fn body_value(b: &mut SqlBuilder, c: &TypedColumn) {
    match &c.default {
        Some(default) => {
            b.push("CASE WHEN pgrst_elem.j -> ")
                .param(c.name.as_str())
                .push(" IS NULL THEN ")
                .catalog_expr(default)
                .push(" ELSE pgrst_body.")
                .ident(&c.name)
                .push(" END");
        }
        None => {
            b.push("pgrst_body.").ident(&c.name);
        }
    }
}

/// `set_config('pgrst.inserted', …)`: counts inserted rows (`+ 1`, in the INSERT's
/// `WHERE`) and takes back the ones an upsert updated (`- 1`, in `DO UPDATE … WHERE`);
/// always true.
fn count_inserted(b: &mut SqlBuilder, inserted: bool) {
    b.push("pg_catalog.set_config('pgrst.inserted', (coalesce(nullif(pg_catalog.current_setting('pgrst.inserted', true), '')::int, 0) ");
    b.push(if inserted {
        "+ 1)::text, true) <> '0'"
    } else {
        "- 1)::text, true) <> '-1'"
    });
}

/// `(SELECT <order fields> FROM t WHERE … ORDER BY … LIMIT … OFFSET …) AS pgrst_affected_rows`:
/// the rows a limited PATCH/DELETE changes, named by their order fields.
fn affected_rows(
    b: &mut SqlBuilder,
    schema: &str,
    relation: &str,
    filters: &[CoercibleLogicTree],
    limit: &MutateLimit,
) {
    let q = Qualifier::Table(schema, relation);
    b.push("(SELECT ");
    for (i, o) in limit.order.iter().enumerate() {
        if i > 0 {
            b.push(", ");
        }
        field(b, q, &o.field);
        b.push(" AS ").ident(&affected_key(i));
    }
    b.push(" FROM ").qualified(schema, relation);
    where_clause(b, q, filters);
    order_by(b, q, &limit.order);
    limit_offset(b, &limit.range);
    b.push(") AS pgrst_affected_rows");
}

/// `AND t.<order field> = pgrst_affected_rows.<key>` for every order field (after the
/// request's own filters, which are repeated so a non-unique order cannot reach rows the
/// filters exclude).
fn affected_rows_match(b: &mut SqlBuilder, q: Qualifier, limit: &MutateLimit, first: bool) {
    for (i, o) in limit.order.iter().enumerate() {
        b.push(if first && i == 0 { " WHERE " } else { " AND " });
        field(b, q, &o.field);
        b.push(" = pgrst_affected_rows.").ident(&affected_key(i));
    }
}

fn affected_key(i: usize) -> String {
    format!("pgrst_k{i}")
}

fn mutation(b: &mut SqlBuilder, plan: &MutatePlan) {
    match plan {
        MutatePlan::Insert {
            schema,
            relation,
            columns,
            body,
            on_conflict,
            put_filters,
            count_inserted: counted,
            returning: r,
            location: _,
        } => {
            b.push("INSERT INTO ").qualified(schema, relation);
            if columns.is_empty() {
                // `{}` or `[{}, {}]`: one row of defaults per element.
                b.push(" SELECT FROM json_array_elements(")
                    .param(body.as_str())
                    .push("::json)");
            } else {
                b.push("(");
                for (i, c) in columns.iter().enumerate() {
                    if i > 0 {
                        b.push(", ");
                    }
                    b.ident(&c.name);
                }
                b.push(") SELECT ");
                for (i, c) in columns.iter().enumerate() {
                    if i > 0 {
                        b.push(", ");
                    }
                    body_value(b, c);
                }
                b.push(" FROM ");
                recordset(b, body, columns);
            }
            let mut conds = Conditions::new();
            if *counted {
                conds.next(b);
                count_inserted(b, true);
            }
            // PUT: only the body row that is the URL's row.
            if columns.is_empty() && !put_filters.is_empty() {
                conds.next(b);
                b.push("false");
            } else {
                let body_rows = Qualifier::Alias("pgrst_body");
                conditions(b, body_rows, put_filters, NullEmbeds::Joined, &mut conds);
            }
            if let Some(oc) = on_conflict {
                if !conds.0 {
                    // `… FROM x ON CONFLICT` can read as a join condition.
                    b.push(" WHERE true");
                }
                b.push(" ON CONFLICT (");
                for (i, c) in oc.columns.iter().enumerate() {
                    if i > 0 {
                        b.push(", ");
                    }
                    b.ident(c);
                }
                b.push(")");
                match oc.resolution {
                    PreferResolution::MergeDuplicates if !columns.is_empty() => {
                        b.push(" DO UPDATE SET ");
                        for (i, c) in columns.iter().enumerate() {
                            if i > 0 {
                                b.push(", ");
                            }
                            b.ident(&c.name).push(" = EXCLUDED.").ident(&c.name);
                        }
                        if *counted {
                            b.push(" WHERE ");
                            count_inserted(b, false);
                        }
                    }
                    _ => {
                        b.push(" DO NOTHING");
                    }
                }
            }
            returning(b, schema, relation, r);
        }
        MutatePlan::Update {
            schema,
            relation,
            columns,
            body,
            filters,
            limit,
            returning: r,
        } => {
            let q = Qualifier::Table(schema, relation);
            if columns.is_empty() {
                // Nothing to set: an empty result with the right columns.
                b.push("SELECT ");
                match r {
                    Returning::Count => {
                        b.push("NULL");
                    }
                    Returning::All => {
                        b.qualified(schema, relation).push(".*");
                    }
                    Returning::Columns(cols) => {
                        for (i, c) in cols.iter().enumerate() {
                            if i > 0 {
                                b.push(", ");
                            }
                            b.qualified(schema, relation).push(".").ident(c);
                        }
                        if cols.is_empty() {
                            b.push("NULL");
                        }
                    }
                }
                b.push(" FROM ")
                    .qualified(schema, relation)
                    .push(" WHERE false");
                return;
            }
            b.push("UPDATE ").qualified(schema, relation).push(" SET ");
            for (i, c) in columns.iter().enumerate() {
                if i > 0 {
                    b.push(", ");
                }
                b.ident(&c.name).push(" = ");
                body_value(b, c);
            }
            b.push(" FROM ");
            recordset(b, body, columns);
            if let Some(l) = limit {
                b.push(", ");
                affected_rows(b, schema, relation, filters, l);
            }
            where_clause(b, q, filters);
            if let Some(l) = limit {
                affected_rows_match(b, q, l, filters.is_empty());
            }
            returning(b, schema, relation, r);
        }
        MutatePlan::Delete {
            schema,
            relation,
            filters,
            limit,
            returning: r,
        } => {
            let q = Qualifier::Table(schema, relation);
            b.push("DELETE FROM ").qualified(schema, relation);
            if let Some(l) = limit {
                b.push(" USING ");
                affected_rows(b, schema, relation, filters, l);
            }
            where_clause(b, q, filters);
            if let Some(l) = limit {
                affected_rows_match(b, q, l, filters.is_empty());
            }
            returning(b, schema, relation, r);
        }
    }
}

/// The statement of a write: the mutation in `pgrst_source`, its representation, and the
/// primary key of a single inserted row for `Location`.
pub(crate) fn mutate_statement(
    plan: &MutatePlan,
    read: &ReadPlan,
    aggregate: Aggregate,
) -> Statement {
    let (location_pk, counted): (&[String], bool) = match plan {
        MutatePlan::Insert {
            location,
            count_inserted,
            ..
        } => (location, *count_inserted),
        MutatePlan::Update { .. } | MutatePlan::Delete { .. } => (&[], false),
    };
    let mut b = SqlBuilder::new();
    b.push("WITH pgrst_source AS (");
    mutation(&mut b, plan);
    b.push(
        ") SELECT NULL::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, ",
    );
    if location_pk.is_empty() {
        b.push("NULL::text");
    } else {
        b.push(
            "CASE WHEN pg_catalog.count(_postgrest_t) = 1 THEN (SELECT json_agg(json_build_array(j.key, j.value))::text \
             FROM (SELECT row_to_json(_) AS r FROM pgrst_source AS _ LIMIT 1) d, json_each_text(d.r) AS j \
             WHERE j.key = ANY(",
        )
        .param(array_literal(location_pk))
        .push("::pg_catalog._text)) END");
    }
    b.push(" AS location, ");
    body(&mut b, aggregate);
    b.push(" AS body, ").push(RESPONSE_GUCS);
    if counted {
        // Read after the aggregate consumed every row, so after the INSERT ran.
        b.push(", nullif(pg_catalog.current_setting('pgrst.inserted', true), '')::int AS response_inserted");
    }
    b.push(" FROM (");
    if aggregate == Aggregate::None {
        b.push("SELECT * FROM pgrst_source");
    } else {
        read_query(&mut b, read, None, true);
    }
    b.push(") _postgrest_t");
    b.finish()
}

/// The privileges of the current role on a relation (for OPTIONS). The relation's name is
/// a value here (parsed by `regclass`), not SQL.
pub fn privileges_statement(schema: &str, relation: &str) -> Statement {
    let mut name = String::new();
    sql::quote_ident(&mut name, schema);
    name.push('.');
    sql::quote_ident(&mut name, relation);
    let mut b = SqlBuilder::new();
    b.push("SELECT has_any_column_privilege(r.oid, 'SELECT'), has_any_column_privilege(r.oid, 'INSERT'), \
            has_any_column_privilege(r.oid, 'UPDATE'), has_table_privilege(r.oid, 'DELETE') FROM (SELECT ")
        .param(name)
        .push("::pg_catalog.regclass AS oid) r");
    b.finish()
}

/// The relations and functions of a schema the current role may use (PostgREST's
/// `accessibleTables` and `accessibleFuncs`), for OpenAPI's follow-privileges mode: one
/// row, two JSON arrays of names and function oids. The schema is a value (`regnamespace`).
pub fn accessible_statement(schema: &str) -> Statement {
    let mut name = String::new();
    sql::quote_ident(&mut name, schema);
    let mut b = SqlBuilder::new();
    b.push("SELECT coalesce((SELECT json_agg(c.relname) FROM pg_catalog.pg_class c \
            WHERE c.relnamespace = s.oid AND c.relkind IN ('v', 'r', 'm', 'f', 'p') AND NOT c.relispartition \
            AND (pg_catalog.pg_has_role(c.relowner, 'USAGE') \
              OR pg_catalog.has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') \
              OR pg_catalog.has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))), '[]')::text, \
            coalesce((SELECT json_agg(p.oid::pg_catalog.int8) FROM pg_catalog.pg_proc p \
            WHERE p.pronamespace = s.oid AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')), '[]')::text \
            FROM (SELECT ")
        .param(name)
        .push("::pg_catalog.regnamespace::pg_catalog.oid AS oid) s");
    b.finish()
}

/// `SELECT "schema"."function"()`: the pre-request hook. Without a schema the function is
/// found through the request's search_path, as PostgREST does.
pub fn pre_request_statement(schema: Option<&str>, function: &str) -> Statement {
    let mut b = SqlBuilder::new();
    b.push("SELECT ");
    match schema {
        Some(s) => b.qualified(s, function),
        None => b.ident(function),
    };
    b.push("()");
    b.finish()
}

#[cfg(test)]
mod tests;
