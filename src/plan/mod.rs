//! The planner: resolves an [`ApiRequest`] against the schema cache into a plan the query
//! builder can render without knowing anything about the catalog. Every field gets the
//! type its values are compared with, every cast gets a catalog type, every relation is
//! checked to exist. Mirrors PostgREST's `Plan` module for the features pgrest supports.

use crate::api_request::media_type::MediaType;
use crate::api_request::preferences::{
    PreferHandling, PreferMissing, PreferRepresentation, PreferResolution, Preferences,
};
use crate::api_request::range::Range;
use crate::api_request::types::{
    JsonOperation, LogicOperator, Operation, OrderDirection, OrderNulls,
};
use crate::api_request::{Action, ApiRequest, InvokeMethod, Mutation};
use crate::config::AppConfig;
use crate::error::{ApiRequestError, Error, SchemaCacheError};
use crate::schema_cache::{PgType, SchemaCache, Table};

pub mod call;
mod read;
pub use read::{EmbedShape, Link, ReadPlan, Source, SpreadField};

/// A type named by the user in a cast (`select=col::text`), resolved by PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeRef {
    pub schema: String,
    pub name: String,
}

/// Resolves type names written in casts. The worker implements it with the catalog
/// (so the name is parsed by PostgreSQL, never spliced into SQL); tests use a table.
pub trait TypeResolver {
    fn resolve(&mut self, name: &str) -> Result<TypeRef, Error>;
}

/// How a field is referenced in SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// `*`.
    Star,
    /// The whole row as one value: `count()` lifted out of a spread counts these.
    Row,
    /// A column of the relation.
    Column,
    /// A function taking the row type, called with attribute notation (`t.fn`).
    Computed,
    /// Not in the schema cache: rendered as a column so PostgreSQL reports it (42703).
    Unknown,
}

/// A field with everything needed to render it and to type the values compared with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoercibleField {
    pub name: String,
    pub kind: FieldKind,
    pub json_path: Vec<JsonOperation>,
    /// The field's own type (column or computed field), when known.
    pub base_type: Option<PgType>,
    /// Whether the JSON path applies to `to_jsonb(field)` (non-JSON columns).
    pub to_jsonb: bool,
}

/// Where values compared with a field are cast to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueType {
    /// A catalog type (`"pg_catalog"."int4"`).
    Named(String, String),
    /// The field's type is unknown: leave the parameter as text.
    Text,
}

impl CoercibleField {
    /// The type of the field's value after its JSON path.
    pub fn value_type(&self) -> ValueType {
        match self.json_path.last() {
            Some(JsonOperation::DoubleArrow(_)) => {
                ValueType::Named("pg_catalog".into(), "text".into())
            }
            Some(JsonOperation::Arrow(_)) => {
                let json =
                    !self.to_jsonb && self.base_type.as_ref().is_some_and(|t| t.base == "json");
                ValueType::Named(
                    "pg_catalog".into(),
                    if json { "json" } else { "jsonb" }.into(),
                )
            }
            None => match &self.base_type {
                Some(t) => ValueType::Named(t.schema.clone(), t.name.clone()),
                None => ValueType::Text,
            },
        }
    }

    /// The array type of [`Self::value_type`], for `= ANY($n)`.
    pub fn array_value_type(&self) -> ValueType {
        match (self.json_path.last(), &self.base_type) {
            (Some(JsonOperation::DoubleArrow(_)), _) => {
                ValueType::Named("pg_catalog".into(), "_text".into())
            }
            (Some(JsonOperation::Arrow(_)), _) => match self.value_type() {
                ValueType::Named(_, n) if n == "json" => {
                    ValueType::Named("pg_catalog".into(), "_json".into())
                }
                _ => ValueType::Named("pg_catalog".into(), "_jsonb".into()),
            },
            (None, Some(t)) => match t.array_type() {
                Some((s, n)) => ValueType::Named(s.into(), n.into()),
                None => ValueType::Named("pg_catalog".into(), "_text".into()),
            },
            (None, None) => ValueType::Named("pg_catalog".into(), "_text".into()),
        }
    }

    /// Whether full-text operators use the field as is (it is a tsvector).
    pub fn is_tsvector(&self) -> bool {
        self.json_path.is_empty() && self.base_type.as_ref().is_some_and(PgType::is_tsvector)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectField {
    pub field: CoercibleField,
    pub cast: Option<TypeRef>,
    pub alias: Option<String>,
    /// `amount.sum()`, `count()` (`pgrest.db_aggregates_enabled`): the other fields of the
    /// level group the rows.
    pub aggregate: Option<crate::api_request::types::AggregateFunction>,
    /// `amount.sum()::text`: the cast of the aggregate's result.
    pub aggregate_cast: Option<TypeRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoercibleFilter {
    pub field: CoercibleField,
    pub negated: bool,
    pub operation: Operation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoercibleLogicTree {
    Expr {
        negated: bool,
        op: LogicOperator,
        children: Vec<CoercibleLogicTree>,
    },
    Stmnt(Box<CoercibleFilter>),
    /// `rel=is.null` (`negated: false`) or `rel=not.is.null` on an embed: whether the
    /// parent row has a related row (PostgREST's `CoercibleFilterNullEmbed`).
    NullEmbed {
        negated: bool,
        embed: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoercibleOrderTerm {
    /// The lateral subquery of a to-one embed (`order=rel(col)`), or the relation itself.
    pub relation: Option<String>,
    pub field: CoercibleField,
    pub direction: Option<OrderDirection>,
    pub nulls: Option<OrderNulls>,
}

/// How the rows are turned into the response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// A JSON array (optionally with nulls stripped).
    JsonArray {
        strip_nulls: bool,
    },
    /// One JSON object (`vnd.pgrst.object`): exactly one row or 406.
    JsonSingle {
        strip_nulls: bool,
    },
    Csv,
    GeoJson,
    /// No body (HEAD, or a write without `return=representation`).
    None,
}

/// A column written by an insert or update, with its type for `json_to_recordset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedColumn {
    pub name: String,
    pub ty: PgType,
    /// With `Prefer: missing=default`: the column's default as the catalog deparses it
    /// (schema-qualified SQL written by the table's owner, never request text), used for
    /// rows whose object lacks the key.
    pub default: Option<String>,
}

/// `ON CONFLICT (columns) DO …` of an upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnConflict {
    pub resolution: PreferResolution,
    pub columns: Vec<String>,
}

/// What `RETURNING` must produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Returning {
    /// Only the row count is needed.
    Count,
    /// Every column (`RETURNING "s"."t".*`).
    All,
    /// These columns (deduplicated, in order).
    Columns(Vec<String>),
}

/// The rows a limited PATCH/DELETE changes: the page `range` of the filtered rows in
/// `order` (PostgREST 12's limited update/delete). The rows are matched back on the order
/// fields, which must identify a row; more changed rows than the limit abort (PGRST110).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MutateLimit {
    pub order: Vec<CoercibleOrderTerm>,
    pub range: Range,
}

impl MutateLimit {
    /// The most rows the mutation may change.
    pub fn max_rows(&self) -> Option<i64> {
        self.range.limit()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MutatePlan {
    Insert {
        schema: String,
        relation: String,
        columns: Vec<TypedColumn>,
        body: String,
        /// Upserts (POST with `resolution=`, PUT).
        on_conflict: Option<OnConflict>,
        /// PUT: the body's row must match the URL's primary key filters (else nothing is
        /// written, and the request fails with PGRST115).
        put_filters: Vec<CoercibleLogicTree>,
        /// Count the rows inserted rather than updated (`pgrst.inserted`): merge upserts
        /// and PUT answer 200 when nothing new was created.
        count_inserted: bool,
        returning: Returning,
        /// Primary key columns reported in `Location` (`return=headers-only`); empty: none.
        location: Vec<String>,
    },
    Update {
        schema: String,
        relation: String,
        columns: Vec<TypedColumn>,
        body: String,
        filters: Vec<CoercibleLogicTree>,
        limit: Option<MutateLimit>,
        returning: Returning,
    },
    Delete {
        schema: String,
        relation: String,
        filters: Vec<CoercibleLogicTree>,
        limit: Option<MutateLimit>,
        returning: Returning,
    },
}

impl MutatePlan {
    pub fn relation(&self) -> &str {
        match self {
            MutatePlan::Insert { relation, .. }
            | MutatePlan::Update { relation, .. }
            | MutatePlan::Delete { relation, .. } => relation,
        }
    }

    pub fn limit(&self) -> Option<&MutateLimit> {
        match self {
            MutatePlan::Insert { .. } => None,
            MutatePlan::Update { limit, .. } | MutatePlan::Delete { limit, .. } => limit.as_ref(),
        }
    }
}

/// Which count the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountPlan {
    None,
    Exact,
    Planned,
    Estimated,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ActionPlan {
    Read {
        read: ReadPlan,
        aggregate: Aggregate,
        media: MediaType,
        count: CountPlan,
        max_rows: Option<i64>,
    },
    Mutate {
        mutation: Mutation,
        mutate: MutatePlan,
        /// The representation: a read of the mutated rows (`pgrst_source`).
        read: ReadPlan,
        aggregate: Aggregate,
        media: MediaType,
        count: CountPlan,
    },
    /// `/rpc/<function>`: the call in `pgrst_source`, its result read like a relation.
    Call {
        call: call::CallPlan,
        read: ReadPlan,
        aggregate: Aggregate,
        media: MediaType,
        count: CountPlan,
        max_rows: Option<i64>,
    },
    /// OPTIONS on `/`, on a function, or on a relation once its privileges are known.
    Info { allow: String },
    /// `GET /`: the OpenAPI description of the schema; with `follow_privileges`, only what
    /// the request's role may use (asked in the request's transaction).
    OpenApi {
        schema: String,
        version: crate::openapi::Version,
        media: MediaType,
        headers_only: bool,
        follow_privileges: bool,
    },
    /// OPTIONS on a relation: what it allows depends on its updatability (schema cache) and on
    /// the privileges of the request's role (asked in the request's transaction).
    RelationInfo {
        schema: String,
        relation: String,
        insertable: bool,
        updatable: bool,
        deletable: bool,
        has_pk: bool,
    },
}

impl ActionPlan {
    pub fn media(&self) -> Option<&MediaType> {
        match self {
            ActionPlan::Read { media, .. }
            | ActionPlan::Mutate { media, .. }
            | ActionPlan::Call { media, .. }
            | ActionPlan::OpenApi { media, .. } => Some(media),
            ActionPlan::Info { .. } | ActionPlan::RelationInfo { .. } => None,
        }
    }
}

/// Plans a request. `types` resolves the type names of casts.
pub fn action_plan(
    api: &ApiRequest,
    cfg: &AppConfig,
    cache: &SchemaCache,
    types: &mut dyn TypeResolver,
) -> Result<ActionPlan, Error> {
    match &api.action {
        Action::RelationRead {
            relation,
            headers_only,
        } => {
            let table = find_table(cache, &api.schema, relation)?;
            let mut read = read::read_plan(api, cfg, table, cache, types, Source::Relation)?;
            restrict_ranges(&mut read, cfg.db_max_rows);
            let (aggregate, media) = negotiate(api, cfg, !*headers_only)?;
            check_preferences(&api.preferences)?;
            Ok(ActionPlan::Read {
                read,
                aggregate: if *headers_only {
                    Aggregate::None
                } else {
                    aggregate
                },
                media,
                count: count_plan(&api.preferences),
                max_rows: cfg.db_max_rows,
            })
        }
        Action::RelationMut { relation, mutation } => {
            let table = find_table(cache, &api.schema, relation)?;
            let mut read = read::read_plan(api, cfg, table, cache, types, Source::Mutation)?;
            let filters = read::root_filters(api, table, cache);
            let mutate = mutate_plan(*mutation, api, table, &read, filters)?;
            check_preferences(&api.preferences)?;
            let representation = api.preferences.representation == Some(PreferRepresentation::Full);
            let (aggregate, media) = negotiate(api, cfg, representation)?;
            // The representation reads what the mutation returned; the mutation already applied the filters.
            read.range = Range::ALL;
            Ok(ActionPlan::Mutate {
                mutation: *mutation,
                mutate,
                read,
                aggregate: if representation {
                    aggregate
                } else {
                    Aggregate::None
                },
                media,
                count: count_plan(&api.preferences),
            })
        }
        Action::RelationInfo { relation } => {
            let table = find_table(cache, &api.schema, relation)?;
            Ok(ActionPlan::RelationInfo {
                schema: table.schema.clone(),
                relation: table.name.clone(),
                insertable: table.insertable,
                updatable: table.updatable,
                deletable: table.deletable,
                has_pk: !table.pk.is_empty(),
            })
        }
        Action::Routine { method, .. } => {
            let routine = call::find_routine(api, cache)?;
            let table = call::result_table(cache, routine);
            let mut read = read::read_plan(api, cfg, &table, cache, types, Source::Call)?;
            restrict_ranges(&mut read, cfg.db_max_rows);
            let headers_only = *method == InvokeMethod::Read { headers_only: true };
            let (aggregate, media) = negotiate(api, cfg, !headers_only)?;
            check_preferences(&api.preferences)?;
            let call = call::call_plan(api, routine);
            // max-affected counts rows, so it needs a function that returns a set of them.
            if api.preferences.max_affected.is_some()
                && api.preferences.handling == Some(PreferHandling::Strict)
                && !routine.returns_set
            {
                return Err(ApiRequestError::MaxAffectedRpcViolation.into());
            }
            Ok(ActionPlan::Call {
                call,
                read,
                // `negotiate` already left HEAD without a body; `void` has none either.
                aggregate: if routine.returns_void() {
                    Aggregate::None
                } else {
                    aggregate
                },
                media,
                count: count_plan(&api.preferences),
                max_rows: cfg.db_max_rows,
            })
        }
        Action::RoutineInfo { function } => {
            // Any overload answers; PGRST202 only when the name is unknown.
            let overloads = cache.routines_named(&api.schema, function);
            if overloads.is_empty() {
                call::find_routine(api, cache)?;
            }
            Ok(ActionPlan::Info {
                allow: if overloads.iter().all(|r| r.volatility == "v") {
                    "OPTIONS,POST"
                } else {
                    "OPTIONS,GET,HEAD,POST"
                }
                .into(),
            })
        }
        Action::SchemaInfo => Ok(ActionPlan::Info {
            allow: "OPTIONS,GET,HEAD".into(),
        }),
        Action::SchemaRead { headers_only } => {
            use crate::config::OpenApiMode;
            use crate::openapi::Version;
            if cfg.openapi_mode == OpenApiMode::Disabled {
                return Err(ApiRequestError::OpenApiDisabled.into());
            }
            let (version, media) = api
                .accept
                .iter()
                .find_map(|mt| match mt {
                    MediaType::OpenApi | MediaType::ApplicationJson | MediaType::Any => {
                        Some((Version::Swagger2, MediaType::OpenApi))
                    }
                    MediaType::OpenApi31 => Some((Version::OpenApi31, MediaType::OpenApi31)),
                    _ => None,
                })
                .ok_or_else(|| {
                    Error::from(ApiRequestError::MediaType(
                        api.accept.iter().map(MediaType::to_mime).collect(),
                    ))
                })?;
            Ok(ActionPlan::OpenApi {
                schema: api.schema.clone(),
                version,
                media,
                headers_only: *headers_only,
                follow_privileges: cfg.openapi_mode == OpenApiMode::FollowPrivileges,
            })
        }
    }
}

/// What the request's role may do with a relation (any column counts, as for `columns=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Privileges {
    pub select: bool,
    pub insert: bool,
    pub update: bool,
    pub delete: bool,
}

impl ActionPlan {
    /// Turns a [`ActionPlan::RelationInfo`] into the `Allow` header PostgREST would send,
    /// narrowed to what the role may do.
    pub fn with_privileges(self, p: Privileges) -> ActionPlan {
        let ActionPlan::RelationInfo {
            insertable,
            updatable,
            deletable,
            has_pk,
            ..
        } = self
        else {
            return self;
        };
        let mut allow = vec!["OPTIONS"];
        if p.select {
            allow.push("GET,HEAD");
        }
        if insertable && p.insert {
            allow.push("POST");
        }
        // PUT upserts one row by its primary key: it inserts, or updates from the
        // `EXCLUDED` row, which PostgreSQL lets only a role that may read the columns do.
        if insertable && updatable && has_pk && p.select && p.insert && p.update {
            allow.push("PUT");
        }
        if updatable && p.update {
            allow.push("PATCH");
        }
        if deletable && p.delete {
            allow.push("DELETE");
        }
        ActionPlan::Info {
            allow: allow.join(","),
        }
    }
}

fn find_table<'c>(
    cache: &'c SchemaCache,
    schema: &str,
    relation: &str,
) -> Result<&'c Table, Error> {
    cache.table(schema, relation).ok_or_else(|| {
        SchemaCacheError::TableNotFound {
            schema: schema.to_string(),
            relation: relation.to_string(),
            hint: cache.similar_table(schema, relation),
        }
        .into()
    })
}

fn check_preferences(prefs: &Preferences) -> Result<(), Error> {
    if !prefs.invalid.is_empty() && prefs.handling == Some(PreferHandling::Strict) {
        return Err(ApiRequestError::InvalidPreferences(prefs.invalid.clone()).into());
    }
    Ok(())
}

fn count_plan(prefs: &Preferences) -> CountPlan {
    use crate::api_request::preferences::PreferCount;
    match prefs.count {
        None => CountPlan::None,
        Some(PreferCount::Exact) => CountPlan::Exact,
        Some(PreferCount::Planned) => CountPlan::Planned,
        Some(PreferCount::Estimated) => CountPlan::Estimated,
    }
}

/// `db-max-rows` applies to the reads of every level, keeping the special `limit=0` range.
fn restrict_ranges(plan: &mut ReadPlan, max_rows: Option<i64>) {
    if !plan.range.has_limit_zero() {
        plan.range = plan.range.restrict(max_rows);
    }
    for e in &mut plan.embeds {
        restrict_ranges(&mut e.plan, max_rows);
    }
}

/// Picks the first acceptable media type in the client's order (PostgREST's negotiateContent).
fn negotiate(
    api: &ApiRequest,
    cfg: &AppConfig,
    with_body: bool,
) -> Result<(Aggregate, MediaType), Error> {
    let pick = api
        .accept
        .iter()
        .find_map(|mt| produce(mt, cfg.db_plan_enabled));
    match pick {
        Some((agg, mt)) => Ok((if with_body { agg } else { Aggregate::None }, mt)),
        None => Err(ApiRequestError::MediaType(
            api.accept.iter().map(MediaType::to_mime).collect(),
        )
        .into()),
    }
}

/// What a media type of `Accept` makes of the rows, when pgrest produces it. The plan media
/// type (`pgrest.db_plan_enabled`) describes the statement of the media type it is `for`.
fn produce(mt: &MediaType, plans: bool) -> Option<(Aggregate, MediaType)> {
    match mt {
        MediaType::VndPlan {
            for_type,
            format,
            options,
        } if plans => {
            let (agg, for_type) = produce(for_type, false)?;
            Some((
                agg,
                MediaType::VndPlan {
                    for_type: Box::new(for_type),
                    format: *format,
                    options: options.clone(),
                },
            ))
        }
        MediaType::ApplicationJson | MediaType::Any => Some((
            Aggregate::JsonArray { strip_nulls: false },
            MediaType::ApplicationJson,
        )),
        MediaType::VndArrayJsonStrip => {
            Some((Aggregate::JsonArray { strip_nulls: true }, mt.clone()))
        }
        MediaType::VndSingularJson { strip_nulls } => Some((
            Aggregate::JsonSingle {
                strip_nulls: *strip_nulls,
            },
            mt.clone(),
        )),
        MediaType::TextCsv => Some((Aggregate::Csv, mt.clone())),
        MediaType::GeoJson => Some((Aggregate::GeoJson, mt.clone())),
        _ => None,
    }
}

fn typed_columns(
    api: &ApiRequest,
    table: &Table,
    apply_defaults: bool,
) -> Result<Vec<TypedColumn>, Error> {
    api.columns
        .iter()
        .map(|name| match table.column(name) {
            Some(c) => Ok(TypedColumn {
                name: c.name.clone(),
                ty: c.ty.clone(),
                default: c.default.clone().filter(|_| apply_defaults),
            }),
            None => Err(SchemaCacheError::ColumnNotFound {
                relation: table.name.clone(),
                column: name.clone(),
            }
            .into()),
        })
        .collect()
}

/// The JSON array the body query reads: an object body becomes a one-element array.
pub(super) fn body_as_array(api: &ApiRequest) -> String {
    use crate::api_request::payload::Payload;
    let raw = match &api.payload {
        Some(Payload::ProcessedJson { raw, .. }) | Some(Payload::RawJson(raw)) => raw.as_str(),
        Some(Payload::ProcessedUrlEncoded { params, .. }) => {
            let obj: serde_json::Map<String, serde_json::Value> = params
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            return format!("[{}]", serde_json::Value::Object(obj));
        }
        Some(Payload::RawPay(_)) | None => return "[]".into(),
    };
    let trimmed = raw.trim_start_matches([' ', '\t', '\n', '\r']);
    if trimmed.starts_with('{') {
        format!("[{raw}]")
    } else {
        raw.to_string()
    }
}

fn returning(api: &ApiRequest, read: &ReadPlan, pk: &[String]) -> Returning {
    match api.preferences.representation {
        Some(PreferRepresentation::Full) => {
            let mut cols: Vec<String> = Vec::new();
            for s in &read.select {
                match s.field.kind {
                    FieldKind::Star => return Returning::All,
                    // Only in the embeds of a spread, never at the top.
                    FieldKind::Row => {}
                    FieldKind::Column | FieldKind::Unknown | FieldKind::Computed => {
                        if !cols.contains(&s.field.name) {
                            cols.push(s.field.name.clone());
                        }
                    }
                }
            }
            let mut add = |name: &String| {
                if !cols.contains(name) {
                    cols.push(name.clone());
                }
            };
            for o in &read.order {
                if o.relation.is_none() && o.field.kind != FieldKind::Star {
                    add(&o.field.name);
                }
            }
            // The columns the embeds join on.
            for e in &read.embeds {
                match &e.link {
                    Link::Columns(pairs) | Link::Junction { parent: pairs, .. } => {
                        pairs.iter().for_each(|(p, _)| add(p));
                    }
                    Link::Function { .. } => return Returning::All,
                }
            }
            Returning::Columns(cols)
        }
        Some(PreferRepresentation::HeadersOnly) if !pk.is_empty() => {
            Returning::Columns(pk.to_vec())
        }
        _ => Returning::Count,
    }
}

fn mutate_plan(
    mutation: Mutation,
    api: &ApiRequest,
    table: &Table,
    read: &ReadPlan,
    filters: Vec<CoercibleLogicTree>,
) -> Result<MutatePlan, Error> {
    let schema = table.schema.clone();
    let relation = table.name.clone();
    let headers_only = api.preferences.representation == Some(PreferRepresentation::HeadersOnly);
    let location = if mutation == Mutation::Create && headers_only {
        table.pk.clone()
    } else {
        Vec::new()
    };
    let returning = returning(api, read, &location);
    // `limit`/`offset` pick the rows to change; PGRST109 already required an order.
    let limit = (read.range != Range::ALL).then(|| MutateLimit {
        order: read.order.clone(),
        range: read.range,
    });
    let apply_defaults = api.preferences.missing == Some(PreferMissing::ApplyDefaults);
    match mutation {
        Mutation::Create => {
            let resolution = api.preferences.resolution;
            let conflict_columns = api.query.on_conflict.clone().unwrap_or(table.pk.clone());
            Ok(MutatePlan::Insert {
                schema,
                relation,
                columns: typed_columns(api, table, apply_defaults)?,
                body: body_as_array(api),
                on_conflict: resolution.filter(|_| !conflict_columns.is_empty()).map(
                    |resolution| OnConflict {
                        resolution,
                        columns: conflict_columns,
                    },
                ),
                put_filters: Vec::new(),
                count_inserted: resolution == Some(PreferResolution::MergeDuplicates),
                returning,
                location,
            })
        }
        Mutation::SingleUpsert => {
            check_put_filters(api, table)?;
            Ok(MutatePlan::Insert {
                schema,
                relation,
                columns: typed_columns(api, table, false)?,
                body: body_as_array(api),
                on_conflict: Some(OnConflict {
                    resolution: PreferResolution::MergeDuplicates,
                    columns: table.pk.clone(),
                }),
                put_filters: filters,
                count_inserted: true,
                returning,
                location,
            })
        }
        Mutation::Update => Ok(MutatePlan::Update {
            schema,
            relation,
            columns: typed_columns(api, table, apply_defaults)?,
            body: body_as_array(api),
            filters: filters.clone(),
            limit,
            returning,
        }),
        Mutation::Delete => Ok(MutatePlan::Delete {
            schema,
            relation,
            filters,
            limit,
            returning,
        }),
    }
}

/// PUT names one row by its whole primary key: only `eq` filters, on exactly the key's
/// columns, at the top level (PostgREST's PGRST105 otherwise).
fn check_put_filters(api: &ApiRequest, table: &Table) -> Result<(), Error> {
    use crate::api_request::types::{OpExpr, QuantOperator};
    let q = &api.query;
    let pk: std::collections::BTreeSet<&String> = table.pk.iter().collect();
    let only_eq = q.filters_root.iter().all(|f| {
        matches!(
            &f.op_expr,
            OpExpr::Expr {
                negated: false,
                operation: Operation::Quant(QuantOperator::Equal, None, _),
            }
        )
    });
    let ok = q.logic.is_empty()
        && !pk.is_empty()
        && q.filter_fields
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            == pk
        && only_eq;
    if ok {
        Ok(())
    } else {
        Err(ApiRequestError::InvalidFilters.into())
    }
}
