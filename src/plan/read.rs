//! The read plan: the tree of relations a request reads, resolved against the schema cache.
//!
//! The root is the request's relation; every embed of `select` (`alias:rel!hint!inner(...)`,
//! `...rel(...)`) is a child reached through a relationship (foreign key either way,
//! junction, computed relationship), found by PostgREST's rules (`findRel`). Filters,
//! `or`/`and` trees, orders and ranges are attached to the node their path names.

use crate::api_request::range::Range;
use crate::api_request::types::{
    AggregateFunction, Field, Filter, IsVal, JoinType, JsonOperation, LogicTree, OpExpr, Operation,
    OrderTerm, SelectItem,
};
use crate::api_request::ApiRequest;
use crate::config::AppConfig;
use crate::error::{ApiRequestError, Error, SchemaCacheError};
use crate::schema_cache::{most_similar, Cardinality, PgType, Relationship, SchemaCache, Table};

use super::{
    CoercibleField, CoercibleFilter, CoercibleLogicTree, CoercibleOrderTerm, FieldKind,
    SelectField, TypeRef, TypeResolver,
};

/// A read of one relation and of the relations embedded in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    pub schema: String,
    pub relation: String,
    /// The relation's name in SQL: `None` for `"schema"."relation"`, else this alias.
    pub alias: Option<String>,
    pub select: Vec<SelectField>,
    pub filters: Vec<CoercibleLogicTree>,
    pub order: Vec<CoercibleOrderTerm>,
    pub range: Range,
    pub embeds: Vec<Embed>,
}

/// A relation embedded in its parent's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embed {
    /// The relation as written in `select` (table, constraint, column or function name).
    pub written: String,
    pub alias: Option<String>,
    /// The name of the lateral subquery (PostgREST's `relAggAlias`).
    pub agg_alias: String,
    /// At most one row per parent row: an object instead of an array.
    pub to_one: bool,
    /// `!inner`: parents without a related row are left out.
    pub inner: bool,
    pub shape: EmbedShape,
    pub link: Link,
    pub plan: ReadPlan,
}

impl Embed {
    /// The key of the embed in the parent's objects, and the name paths use.
    pub fn name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.written)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedShape {
    /// A JSON object (to-one) or array (to-many) under the embed's name.
    Json,
    /// `rel()` (and only empty embeds below): joined for filtering, not output.
    Empty,
    /// `...rel(...)`: these fields of the embed become fields of the parent (to-many:
    /// each an array); `*` stands for all the embed's columns.
    Spread(Vec<SpreadField>),
}

/// A field a spread gives its parent: the embed's output column `name`, aggregated at the
/// parent's level when the spread (to-one) lifted an aggregate there, as PostgREST does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpreadField {
    pub name: String,
    pub aggregate: Option<AggregateFunction>,
    pub aggregate_cast: Option<TypeRef>,
    /// The aggregate's output name (PostgreSQL names it after the function otherwise).
    pub alias: Option<String>,
}

/// How the rows of an embed relate to the row of its parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// `child.c = parent.p` for each (parent column, child column).
    Columns(Vec<(String, String)>),
    /// Through a junction table: (parent column, junction column) and (child column,
    /// junction column) pairs.
    Junction {
        schema: String,
        table: String,
        parent: Vec<(String, String)>,
        child: Vec<(String, String)>,
    },
    /// `FROM function(parent_row::arg_schema.arg_table)`.
    Function {
        schema: String,
        name: String,
        arg_schema: String,
        arg_table: String,
    },
}

/// Where the top level's rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The relation itself.
    Relation,
    /// The rows a write returned (`pgrst_source`), already filtered by the write.
    Mutation,
    /// The rows a function returned (`pgrst_source`), filtered here.
    Call,
}

/// Plans the read of `table`. For a mutation, the root's filters and range belong to the
/// mutation; over `pgrst_source` the root is named by its own name.
pub fn read_plan(
    api: &ApiRequest,
    cfg: &AppConfig,
    table: &Table,
    cache: &SchemaCache,
    types: &mut dyn TypeResolver,
    source: Source,
) -> Result<ReadPlan, Error> {
    // The rows of a write are already filtered by the write itself.
    let for_mutation = source == Source::Mutation;
    let q = &api.query;
    // Paths must name embeds of `select` (checked before any relationship is resolved,
    // as PostgREST does: filters, orders, ranges, logic trees).
    let filter_paths = q
        .filters
        .iter()
        .filter(|(p, _)| !for_mutation || !p.is_empty())
        .map(|(p, _)| p);
    // `actors.films.limit` (offsets are folded in) → the path `actors.films`.
    let range_paths: Vec<(Vec<String>, Range)> = api
        .ranges
        .iter()
        .filter(|(k, _)| *k != "limit")
        .map(|(k, r)| {
            let mut path: Vec<String> = k.split('.').map(str::to_string).collect();
            path.pop();
            (path, *r)
        })
        .collect();
    for path in filter_paths
        .chain(q.order.iter().map(|(p, _)| p))
        .chain(range_paths.iter().map(|(p, _)| p))
        .chain(q.logic.iter().map(|(p, _)| p))
    {
        check_path(&q.select, path)?;
    }

    let mut planner = Planner {
        cache,
        cfg,
        schema: &table.schema,
        types,
        root_table: table,
    };
    let mut root = planner.node(table, &q.select, 0)?;
    root.range = api.top_level_range;
    if source != Source::Relation {
        root.alias = Some(table.name.clone());
    }

    for (path, filter) in &q.filters {
        if for_mutation && path.is_empty() {
            continue;
        }
        let node = node_at(&mut root, path);
        let t = planner.table_of(node);
        node.filters
            .push(CoercibleLogicTree::Stmnt(Box::new(coerce_filter(
                cache, t, filter,
            ))));
    }
    for (path, tree) in &q.logic {
        if for_mutation && path.is_empty() {
            continue;
        }
        let node = node_at(&mut root, path);
        let t = planner.table_of(node);
        node.filters.push(coerce_logic_tree(cache, t, tree));
    }
    for (path, terms) in &q.order {
        let node = node_at(&mut root, path);
        let t = planner.table_of(node);
        for term in terms {
            let coerced = coerce_order_term(cache, t, node, term)?;
            node.order.push(coerced);
        }
    }
    for (path, range) in &range_paths {
        node_at(&mut root, path).range = *range;
    }
    null_embed_filters(&mut root);
    Ok(root)
}

/// Errors when `path` does not name embeds of `select`; PostgREST's hint names the alias
/// when the path uses the relation name of an aliased embed.
fn check_path(select: &[SelectItem], path: &[String]) -> Result<(), Error> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    let mut legacy = None;
    for item in select {
        let (name, alias, children) = match item {
            SelectItem::Relation {
                relation,
                alias,
                children,
                ..
            } => (relation, alias.as_ref(), children),
            SelectItem::Spread {
                relation, children, ..
            } => (relation, None, children),
            SelectItem::Field { .. } => continue,
        };
        if alias.unwrap_or(name) == first {
            return check_path(children, rest);
        }
        if name == first {
            if let Some(a) = alias {
                legacy = Some((name.clone(), a.clone()));
            }
        }
    }
    Err(ApiRequestError::NotEmbedded(first.clone(), legacy).into())
}

/// The node a checked path names.
fn node_at<'p>(root: &'p mut ReadPlan, path: &[String]) -> &'p mut ReadPlan {
    let mut node = root;
    for name in path {
        let idx = node
            .embeds
            .iter()
            .position(|e| e.name() == name)
            .expect("paths are checked against select before planning");
        node = &mut node.embeds[idx].plan;
    }
    node
}

/// An embed as `select` writes it (`alias:rel!hint!inner(children)`, `...rel(children)`).
struct EmbedItem<'s> {
    written: &'s str,
    alias: Option<String>,
    hint: Option<&'s str>,
    join_type: Option<JoinType>,
    children: &'s [SelectItem],
    spread: bool,
}

struct Planner<'a> {
    cache: &'a SchemaCache,
    cfg: &'a AppConfig,
    schema: &'a str,
    types: &'a mut dyn TypeResolver,
    /// The top-level relation, which for a function's result may not be in the cache.
    root_table: &'a Table,
}

impl Planner<'_> {
    fn table_of(&self, plan: &ReadPlan) -> &Table {
        let root = self.root_table;
        if plan.schema == root.schema && plan.relation == root.name {
            return root;
        }
        self.cache
            .table(&plan.schema, &plan.relation)
            .expect("planned relations are in the schema cache")
    }

    /// The node of `table` with the select items of its level.
    fn node(
        &mut self,
        table: &Table,
        items: &[SelectItem],
        depth: usize,
    ) -> Result<ReadPlan, Error> {
        let mut plan = ReadPlan {
            schema: table.schema.clone(),
            relation: table.name.clone(),
            alias: None,
            select: Vec::new(),
            filters: Vec::new(),
            order: Vec::new(),
            range: Range::ALL,
            embeds: Vec::new(),
        };
        for item in items {
            match item {
                SelectItem::Field {
                    aggregate: Some(_), ..
                } if !self.cfg.db_aggregates_enabled => {
                    return Err(ApiRequestError::AggregatesNotAllowed.into())
                }
                SelectItem::Field {
                    field,
                    cast,
                    alias,
                    aggregate,
                    aggregate_cast,
                } => {
                    let cf = resolve_field(self.cache, table, field);
                    let cast = cast.as_deref().map(|c| self.types.resolve(c)).transpose()?;
                    let aggregate_cast = aggregate_cast
                        .as_deref()
                        .map(|c| self.types.resolve(c))
                        .transpose()?;
                    // A JSON path without an alias is named after its last key (PostgREST's addAliases).
                    let alias = alias.clone().or_else(|| json_path_alias(field));
                    plan.select.push(SelectField {
                        field: cf,
                        cast,
                        alias,
                        aggregate: *aggregate,
                        aggregate_cast,
                    });
                }
                SelectItem::Relation {
                    relation,
                    alias,
                    hint,
                    join_type,
                    children,
                } => {
                    let item = EmbedItem {
                        written: relation,
                        alias: alias.clone(),
                        hint: hint.as_deref(),
                        join_type: *join_type,
                        children,
                        spread: false,
                    };
                    plan.embeds.push(self.embed(table, item, depth + 1)?);
                }
                SelectItem::Spread {
                    relation,
                    hint,
                    join_type,
                    children,
                } => {
                    let item = EmbedItem {
                        written: relation,
                        alias: None,
                        hint: hint.as_deref(),
                        join_type: *join_type,
                        children,
                        spread: true,
                    };
                    plan.embeds.push(self.embed(table, item, depth + 1)?);
                }
            }
        }
        if plan.select.is_empty() && plan.embeds.is_empty() {
            // No fields at all (`select=`, `rel()`): every column.
            plan.select.push(SelectField {
                field: resolve_field(self.cache, table, &Field::new("*")),
                cast: None,
                alias: None,
                aggregate: None,
                aggregate_cast: None,
            });
        }
        Ok(plan)
    }

    fn embed(&mut self, parent: &Table, item: EmbedItem, depth: usize) -> Result<Embed, Error> {
        let EmbedItem {
            written,
            alias,
            hint,
            join_type,
            children,
            spread,
        } = item;
        let rel = self.find_rel(&parent.name, written, hint)?;
        let child = self
            .cache
            .table(&rel.foreign_schema, &rel.foreign_table)
            .ok_or_else(|| self.no_rel(&parent.name, written, hint))?;
        let mut plan = self.node(child, children, depth)?;
        let to_one = rel.is_to_one();
        let lifted = if spread {
            lift_aggregates(&mut plan)
        } else {
            Vec::new()
        };
        if !to_one && !lifted.is_empty() {
            return Err(ApiRequestError::NotImplemented(
                "Aggregates are not implemented for one-to-many or many-to-many spreads.".into(),
            )
            .into());
        }
        let name = alias.as_deref().unwrap_or(written);
        let agg_alias = format!("{}_{name}_{depth}", rel.table);
        let link = match &rel.cardinality {
            Cardinality::M2O { columns, .. }
            | Cardinality::O2M { columns, .. }
            | Cardinality::O2O { columns, .. } => Link::Columns(columns.clone()),
            Cardinality::M2M { junction } => Link::Junction {
                schema: junction.schema.clone(),
                table: junction.table.clone(),
                parent: junction.columns.clone(),
                child: junction.foreign_columns.clone(),
            },
            Cardinality::Computed {
                function_schema,
                function,
                ..
            } => Link::Function {
                schema: function_schema.clone(),
                name: function.clone(),
                arg_schema: rel.schema.clone(),
                arg_table: rel.table.clone(),
            },
        };
        plan.alias = Some(format!("{}_{depth}", rel.foreign_table));
        let shape = if spread {
            if !to_one {
                // To-many spreads aggregate each field: `*` becomes the columns.
                expand_star(&mut plan, child);
            }
            let mut fields = spread_fields(&plan);
            for (name, aggregate, aggregate_cast, alias) in lifted {
                if let Some(f) = fields.iter_mut().find(|f| f.name == name) {
                    f.aggregate = Some(aggregate);
                    f.aggregate_cast = aggregate_cast;
                    f.alias = alias;
                }
            }
            EmbedShape::Spread(fields)
        } else if is_empty(&plan, children) {
            EmbedShape::Empty
        } else {
            EmbedShape::Json
        };
        Ok(Embed {
            written: written.to_string(),
            alias,
            agg_alias,
            to_one,
            inner: join_type == Some(JoinType::Inner),
            shape,
            link,
            plan,
        })
    }

    fn no_rel(&self, origin: &str, target: &str, hint: Option<&str>) -> Error {
        let suggestion = if self.cache.has_relationships(self.schema, origin) {
            most_similar(
                target,
                self.cache
                    .relationships(self.schema, origin)
                    .iter()
                    .map(|r| r.foreign_table.as_str()),
            )
            .map(|c| format!("Perhaps you meant '{c}' instead of '{target}'."))
        } else {
            most_similar(origin, self.cache.relationship_origins(self.schema))
                .map(|p| format!("Perhaps you meant '{p}' instead of '{origin}'."))
        };
        SchemaCacheError::NoRelBetween {
            parent: origin.to_string(),
            child: target.to_string(),
            hint: hint.map(str::to_string),
            schema: self.schema.to_string(),
            suggestion,
        }
        .into()
    }

    /// PostgREST's `findRel`: the one relationship from `origin` that `target!hint` names.
    fn find_rel(
        &self,
        origin: &str,
        target: &str,
        hint: Option<&str>,
    ) -> Result<Relationship, Error> {
        let is_view = |r: &Relationship| {
            self.cache
                .table(&r.foreign_schema, &r.foreign_table)
                .is_some_and(|t| matches!(t.kind.as_str(), "v" | "m"))
        };
        let single = |r: &Relationship, side: usize| match r.cardinality.columns() {
            Some(cols) if cols.len() == 1 => Some(if side == 0 {
                cols[0].0.clone()
            } else {
                cols[0].1.clone()
            }),
            _ => None,
        };
        let o2m = |r: &Relationship| matches!(r.cardinality, Cardinality::O2M { .. });
        let m2o = |r: &Relationship| matches!(r.cardinality, Cardinality::M2O { .. });
        let mut found: Vec<&Relationship> = self
            .cache
            .relationships(self.schema, origin)
            .iter()
            .filter(|r| r.foreign_schema == self.schema)
            .filter(|r| match &r.cardinality {
                Cardinality::M2M { junction } => self.cfg.db_schemas.contains(&junction.schema),
                _ => true,
            })
            .filter(|r| {
                if let Cardinality::Computed { function, .. } = &r.cardinality {
                    return function == target;
                }
                let names_table = r.foreign_table == target;
                if r.is_self {
                    return match hint {
                        None => {
                            (names_table && o2m(r))
                                || (single(r, 0).as_deref() == Some(target) && m2o(r))
                        }
                        Some(h) => names_table && o2m(r) && single(r, 1).as_deref() == Some(h),
                    };
                }
                match hint {
                    None => {
                        names_table
                            || (!is_view(r)
                                && (r.cardinality.constraint() == Some(target)
                                    || single(r, 0).as_deref() == Some(target)))
                    }
                    Some(h) => {
                        names_table
                            && (r.cardinality.constraint() == Some(h)
                                || single(r, 0).as_deref() == Some(h)
                                || single(r, 1).as_deref() == Some(h)
                                || matches!(&r.cardinality,
                                    Cardinality::M2M { junction } if junction.table == h))
                    }
                }
            })
            .collect();
        match found.len() {
            0 => Err(self.no_rel(origin, target, hint)),
            1 => Ok(found[0].clone()),
            _ => {
                found.sort_by_key(|r| sort_key(r));
                Err(SchemaCacheError::AmbiguousRelBetween {
                    parent: origin.to_string(),
                    child: target.to_string(),
                    candidates: found.into_iter().cloned().collect(),
                }
                .into())
            }
        }
    }
}

/// The order PostgREST lists ambiguous candidates in (its derived `Ord`).
fn sort_key(r: &Relationship) -> (String, String, bool, u8, String, String) {
    let (rank, a, b) = match &r.cardinality {
        Cardinality::O2M { constraint, .. } => (0, constraint.clone(), String::new()),
        Cardinality::M2O { constraint, .. } => (1, constraint.clone(), String::new()),
        Cardinality::O2O { constraint, .. } => (2, constraint.clone(), String::new()),
        Cardinality::M2M { junction } => (
            3,
            format!("{}.{}", junction.schema, junction.table),
            format!("{} {}", junction.constraint, junction.foreign_constraint),
        ),
        Cardinality::Computed { function, .. } => (4, function.clone(), String::new()),
    };
    (
        r.foreign_schema.clone(),
        r.foreign_table.clone(),
        r.is_self,
        rank,
        a,
        b,
    )
}

/// Whether an embed outputs nothing: no fields, and only empty embeds below.
fn is_empty(plan: &ReadPlan, children: &[SelectItem]) -> bool {
    let no_fields = !children
        .iter()
        .any(|c| matches!(c, SelectItem::Field { .. }));
    no_fields && plan.embeds.iter().all(|e| e.shape == EmbedShape::Empty)
}

/// Replaces `*` by the table's columns.
fn expand_star(plan: &mut ReadPlan, table: &Table) {
    if !plan.select.iter().any(|s| s.field.kind == FieldKind::Star) {
        return;
    }
    // (To-many spreads have no aggregates, so no `count()` is expanded here.)
    let mut select = Vec::new();
    for s in plan.select.drain(..) {
        if s.field.kind == FieldKind::Star {
            select.extend(table.columns.iter().map(|c| SelectField {
                field: CoercibleField {
                    name: c.name.clone(),
                    kind: FieldKind::Column,
                    json_path: Vec::new(),
                    base_type: Some(c.ty.clone()),
                    to_jsonb: !c.ty.is_json(),
                },
                cast: None,
                alias: None,
                aggregate: None,
                aggregate_cast: None,
            }));
        } else {
            select.push(s);
        }
    }
    plan.select = select;
}

/// The fields a spread gives its parent: its fields, its embeds, and what spreads below it
/// give (not aggregated: see [`lift_aggregates`]).
fn spread_fields(plan: &ReadPlan) -> Vec<SpreadField> {
    let plain = |name: String| SpreadField {
        name,
        aggregate: None,
        aggregate_cast: None,
        alias: None,
    };
    let mut out: Vec<SpreadField> = plan
        .select
        .iter()
        .map(|s| plain(s.alias.clone().unwrap_or_else(|| s.field.name.clone())))
        .collect();
    for e in &plan.embeds {
        match &e.shape {
            EmbedShape::Json => out.push(plain(e.name().to_string())),
            EmbedShape::Empty => {}
            EmbedShape::Spread(fields) => out.extend(fields.iter().map(|f| plain(f.name.clone()))),
        }
    }
    out
}

/// An aggregate a spread lifts to its parent: the spread's output column it applies to,
/// the function, its cast and its output name.
type Lifted = (String, AggregateFunction, Option<TypeRef>, Option<String>);

/// PostgREST's aggregate hoisting: a spread embed's aggregates are computed at its parent's
/// level, grouped by the parent's other fields (a spread of one row per parent row has
/// nothing to aggregate on its own). The spread's query selects the plain values instead;
/// aggregates that spreads below it lifted to it pass through to the level above, until a
/// level that is not a to-one spread applies them. `count()` counts the spread's whole rows.
fn lift_aggregates(plan: &mut ReadPlan) -> Vec<Lifted> {
    let mut lifted = Vec::new();
    for (i, s) in plan.select.iter_mut().enumerate() {
        let Some(aggregate) = s.aggregate.take() else {
            continue;
        };
        let aggregate_cast = s.aggregate_cast.take();
        let output = s.alias.clone();
        if s.field.kind == FieldKind::Star {
            s.field.kind = FieldKind::Row;
            s.alias = Some(s.alias.clone().unwrap_or_else(|| format!("pgrst_row_{i}")));
        }
        let name = s.alias.clone().unwrap_or_else(|| s.field.name.clone());
        lifted.push((name, aggregate, aggregate_cast, output));
    }
    for e in plan.embeds.iter_mut().filter(|e| e.to_one) {
        if let EmbedShape::Spread(fields) = &mut e.shape {
            for f in fields.iter_mut() {
                if let Some(aggregate) = f.aggregate.take() {
                    lifted.push((
                        f.name.clone(),
                        aggregate,
                        f.aggregate_cast.take(),
                        f.alias.take(),
                    ));
                }
            }
        }
    }
    lifted
}

/// The filters and logic trees on the target itself: what a PATCH/DELETE changes.
pub(super) fn root_filters(
    api: &ApiRequest,
    table: &Table,
    cache: &SchemaCache,
) -> Vec<CoercibleLogicTree> {
    let q = &api.query;
    let mut filters: Vec<CoercibleLogicTree> = q
        .filters_root
        .iter()
        .map(|f| CoercibleLogicTree::Stmnt(Box::new(coerce_filter(cache, table, f))))
        .collect();
    for (path, tree) in &q.logic {
        if path.is_empty() {
            filters.push(coerce_logic_tree(cache, table, tree));
        }
    }
    filters
}

/// `rel=is.null` / `rel=not.is.null` on an embed filter the parents on whether a related
/// row exists (PostgREST's addNullEmbedFilters), at every level.
fn null_embed_filters(plan: &mut ReadPlan) {
    let embeds: Vec<(String, String)> = plan
        .embeds
        .iter()
        .map(|e| (e.name().to_string(), e.agg_alias.clone()))
        .collect();
    for f in &mut plan.filters {
        convert_null_embed(f, &embeds);
    }
    for e in &mut plan.embeds {
        null_embed_filters(&mut e.plan);
    }
}

fn convert_null_embed(tree: &mut CoercibleLogicTree, embeds: &[(String, String)]) {
    match tree {
        CoercibleLogicTree::Expr { children, .. } => {
            for c in children {
                convert_null_embed(c, embeds);
            }
        }
        CoercibleLogicTree::Stmnt(f) => {
            if !f.field.json_path.is_empty() {
                return;
            }
            let Operation::Is(IsVal::Null) = f.operation else {
                return;
            };
            if let Some((_, agg)) = embeds.iter().find(|(n, _)| *n == f.field.name) {
                *tree = CoercibleLogicTree::NullEmbed {
                    negated: f.negated,
                    embed: agg.clone(),
                };
            }
        }
        CoercibleLogicTree::NullEmbed { .. } => {}
    }
}

/// Resolves a field name against a table: column, computed field, `*`, or unknown.
pub fn resolve_field(cache: &SchemaCache, table: &Table, field: &Field) -> CoercibleField {
    let (kind, base_type) = if field.name == "*" {
        (FieldKind::Star, None)
    } else if let Some(c) = table.column(&field.name) {
        (FieldKind::Column, Some(c.ty.clone()))
    } else if let Some(cf) = cache.computed_field(table, &field.name) {
        (FieldKind::Computed, Some(cf.ty.clone()))
    } else {
        (FieldKind::Unknown, None)
    };
    let to_jsonb = !base_type.as_ref().is_some_and(PgType::is_json);
    CoercibleField {
        name: field.name.clone(),
        kind,
        json_path: field.json_path.clone(),
        base_type,
        to_jsonb,
    }
}

fn json_path_alias(field: &Field) -> Option<String> {
    use crate::api_request::types::JsonOperand;
    let operand = |op: &JsonOperation| match op {
        JsonOperation::Arrow(o) | JsonOperation::DoubleArrow(o) => o.clone(),
    };
    match field.json_path.last().map(operand)? {
        JsonOperand::Key(k) => Some(k),
        JsonOperand::Idx(_) => Some(
            field
                .json_path
                .iter()
                .rev()
                .find_map(|op| match operand(op) {
                    JsonOperand::Key(k) => Some(k),
                    JsonOperand::Idx(_) => None,
                })
                .unwrap_or_else(|| field.name.clone()),
        ),
    }
}

pub(super) fn coerce_filter(cache: &SchemaCache, table: &Table, f: &Filter) -> CoercibleFilter {
    let field = resolve_field(cache, table, &f.field);
    match &f.op_expr {
        OpExpr::Expr { negated, operation } => CoercibleFilter {
            field,
            negated: *negated,
            operation: operation.clone(),
        },
        // Only GET RPC keeps operator-less parameters, and those are arguments, not filters.
        OpExpr::NoOp(v) => CoercibleFilter {
            field,
            negated: false,
            operation: Operation::Quant(
                crate::api_request::types::QuantOperator::Equal,
                None,
                v.clone(),
            ),
        },
    }
}

pub(super) fn coerce_logic_tree(
    cache: &SchemaCache,
    table: &Table,
    tree: &LogicTree,
) -> CoercibleLogicTree {
    match tree {
        LogicTree::Stmnt(f) => CoercibleLogicTree::Stmnt(Box::new(coerce_filter(cache, table, f))),
        LogicTree::Expr {
            negated,
            op,
            children,
        } => CoercibleLogicTree::Expr {
            negated: *negated,
            op: *op,
            children: children
                .iter()
                .map(|c| coerce_logic_tree(cache, table, c))
                .collect(),
        },
    }
}

/// An order term of `node`; `rel(col)` must name a to-one embed of the node.
fn coerce_order_term(
    cache: &SchemaCache,
    table: &Table,
    node: &ReadPlan,
    term: &OrderTerm,
) -> Result<CoercibleOrderTerm, Error> {
    let Some(rel) = &term.relation else {
        return Ok(CoercibleOrderTerm {
            relation: None,
            field: resolve_field(cache, table, &term.field),
            direction: term.direction,
            nulls: term.nulls,
        });
    };
    let Some(embed) = node.embeds.iter().find(|e| e.name() == rel) else {
        return Err(ApiRequestError::NotEmbedded(rel.clone(), None).into());
    };
    if !embed.to_one {
        return Err(
            ApiRequestError::RelatedOrderNotToOne(node.relation.clone(), rel.clone()).into(),
        );
    }
    // The column is read from the embed's lateral subquery.
    let child = cache.table(&embed.plan.schema, &embed.plan.relation);
    Ok(CoercibleOrderTerm {
        relation: Some(embed.agg_alias.clone()),
        field: resolve_field(cache, child.unwrap_or(table), &term.field),
        direction: term.direction,
        nulls: term.nulls,
    })
}
