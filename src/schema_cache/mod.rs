//! The schema cache: the relations, columns, keys and computed fields of the exposed
//! schemas, and the settings of the roles requests can run as.
//!
//! It is loaded with one catalog query (`query.sql`) returning JSON, on a worker's main
//! thread; everything else in here is plain data and lookups, so the planner can be unit
//! tested against a cache built in Rust. Each worker keeps its own copy and reloads it when
//! the shared schema generation changes (DDL, `pgrest.reload()`) or on SIGHUP.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

mod views;

/// The SQL that loads the cache; `$1`/`$2` are JSON arrays of schema names.
pub const LOAD_QUERY: &str = include_str!("query.sql");

/// The parameters of [`LOAD_QUERY`] for a configuration: the exposed schemas and the extra
/// search path, as JSON arrays.
pub fn load_params(cfg: &crate::config::AppConfig) -> [String; 2] {
    [
        serde_json::to_string(&cfg.db_schemas).unwrap_or_default(),
        serde_json::to_string(&cfg.db_extra_search_path).unwrap_or_default(),
    ]
}

/// A PostgreSQL type as the planner needs it: how to name it in a cast, and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PgType {
    pub schema: String,
    pub name: String,
    /// The type name after resolving domains (`jsonb`, `tsvector`, `_int4`, ...).
    pub base: String,
    /// `pg_type.typcategory` of the base type (`A` array, `S` string, `N` numeric, ...).
    pub category: String,
    pub composite: bool,
    pub array_schema: Option<String>,
    pub array_name: Option<String>,
}

impl PgType {
    /// `pg_catalog.text`.
    pub fn text() -> PgType {
        PgType {
            schema: "pg_catalog".into(),
            name: "text".into(),
            base: "text".into(),
            category: "S".into(),
            composite: false,
            array_schema: Some("pg_catalog".into()),
            array_name: Some("_text".into()),
        }
    }

    pub fn is_json(&self) -> bool {
        self.base == "json" || self.base == "jsonb"
    }

    pub fn is_tsvector(&self) -> bool {
        self.base == "tsvector"
    }

    /// The array type of this type (`int4` → `_int4`), when it has one.
    pub fn array_type(&self) -> Option<(&str, &str)> {
        Some((self.array_schema.as_deref()?, self.array_name.as_deref()?))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Column {
    pub name: String,
    pub nullable: bool,
    pub default: Option<String>,
    /// Generated (stored or `GENERATED ALWAYS AS IDENTITY`): never written by requests.
    #[serde(default)]
    pub generated: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// The type as PostgREST names it (`integer`, `character varying`, `text[]`, `api.color`).
    #[serde(default)]
    pub data_type: String,
    /// `character varying(n)` / `character(n)`: n.
    #[serde(default)]
    pub max_length: Option<i32>,
    /// The labels of an enum type (through domains).
    #[serde(default, rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    #[serde(rename = "type")]
    pub ty: PgType,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// `pg_class.relkind`: r, v, m, f or p.
    pub kind: String,
    pub insertable: bool,
    pub updatable: bool,
    pub deletable: bool,
    /// Primary key columns, in key order.
    pub pk: Vec<String>,
    /// The other unique keys (constraints and plain unique indexes), each in key order.
    #[serde(default)]
    pub unique: Vec<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    /// Columns in attribute order.
    pub columns: Vec<Column>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// An input parameter of a function.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct RoutineParam {
    /// Empty for an unnamed parameter.
    pub name: String,
    /// `format_type` of the parameter's type (`integer`, `text[]`, ...).
    #[serde(rename = "type")]
    pub ty: String,
    /// The type to cast arguments to (`None` for pseudo-types such as `anyelement`).
    #[serde(default)]
    pub pg_type: Option<PgType>,
    /// No default: the call must give it.
    pub required: bool,
    pub variadic: bool,
}

/// A column of what a function returns with `RETURNS TABLE (...)` or OUT parameters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct RoutineColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: Option<PgType>,
}

/// A function of an exposed schema (what `/rpc` calls).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Routine {
    #[serde(default)]
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub description: Option<String>,
    pub params: Vec<RoutineParam>,
    #[serde(default)]
    pub out_columns: Vec<RoutineColumn>,
    #[serde(default)]
    pub return_pg_type: Option<PgType>,
    /// The function's own `SET` clauses, `name=value`.
    #[serde(default)]
    pub settings: Vec<String>,
    pub returns_set: bool,
    pub return_schema: String,
    pub return_type: String,
    /// Returns rows (a table type, a composite type or `record`), not a scalar.
    pub return_composite: bool,
    /// `pg_proc.provolatile`: `i`mmutable, `s`table or `v`olatile.
    pub volatility: String,
}

impl Routine {
    /// `RETURNS void`: the call answers 204.
    pub fn returns_void(&self) -> bool {
        !self.returns_set && self.return_schema == "pg_catalog" && self.return_type == "void"
    }

    /// The relation whose rows the function returns (`RETURNS SETOF todos`), which its
    /// result can embed from.
    pub fn table_name(&self) -> Option<&str> {
        (self.return_composite && self.out_columns.is_empty() && self.return_type != "record")
            .then_some(self.return_type.as_str())
    }
}

/// A function taking the row type of a table: selectable, filterable and orderable like a column.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ComputedField {
    pub table_schema: String,
    pub table_name: String,
    pub function_schema: String,
    pub function: String,
    pub returns_set: bool,
    #[serde(rename = "type")]
    pub ty: PgType,
}

/// A foreign key constraint as the catalog has it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ForeignKey {
    pub name: String,
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
    pub foreign_schema: String,
    pub foreign_table: String,
    pub foreign_columns: Vec<String>,
    /// The referencing columns are also the primary key or a unique constraint.
    pub one_to_one: bool,
}

/// Column pairs of a relationship: (column of the relation, column of the other one).
pub type ColumnPairs = Vec<(String, String)>;

/// A table whose foreign keys to two relations make them many-to-many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Junction {
    pub schema: String,
    pub table: String,
    /// The constraint from the junction to the relation, and to the other one.
    pub constraint: String,
    pub foreign_constraint: String,
    /// (column of the relation, column of the junction).
    pub columns: ColumnPairs,
    /// (column of the other relation, column of the junction).
    pub foreign_columns: ColumnPairs,
}

/// How the rows of a relation relate to those of another (PostgREST's `Cardinality`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "cardinality", rename_all = "lowercase")]
pub enum Cardinality {
    /// Many rows reference one row of the other relation.
    M2O {
        constraint: String,
        columns: ColumnPairs,
    },
    /// One row is referenced by many rows of the other relation.
    O2M {
        constraint: String,
        columns: ColumnPairs,
    },
    /// At most one row on each side; `parent`: the other relation holds the key.
    O2O {
        constraint: String,
        columns: ColumnPairs,
        parent: bool,
    },
    M2M {
        junction: Junction,
    },
    /// A function taking a row of the relation and returning rows of the other one.
    Computed {
        function_schema: String,
        function: String,
        to_one: bool,
    },
}

impl Cardinality {
    /// The foreign key constraint, for the relationships made by one.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Cardinality::M2O { constraint, .. }
            | Cardinality::O2M { constraint, .. }
            | Cardinality::O2O { constraint, .. } => Some(constraint),
            Cardinality::M2M { .. } | Cardinality::Computed { .. } => None,
        }
    }

    /// The column pairs of a relationship made by one foreign key.
    pub fn columns(&self) -> Option<&ColumnPairs> {
        match self {
            Cardinality::M2O { columns, .. }
            | Cardinality::O2M { columns, .. }
            | Cardinality::O2O { columns, .. } => Some(columns),
            Cardinality::M2M { .. } | Cardinality::Computed { .. } => None,
        }
    }
}

/// A relationship from one relation to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relationship {
    pub schema: String,
    pub table: String,
    pub foreign_schema: String,
    pub foreign_table: String,
    pub is_self: bool,
    #[serde(flatten)]
    pub cardinality: Cardinality,
}

impl Relationship {
    /// Each row of the relation has at most one related row (the embed is an object).
    pub fn is_to_one(&self) -> bool {
        match &self.cardinality {
            Cardinality::M2O { .. } | Cardinality::O2O { .. } => true,
            Cardinality::O2M { .. } | Cardinality::M2M { .. } => false,
            Cardinality::Computed { to_one, .. } => *to_one,
        }
    }
}

/// A function found as a computed relationship (see `query.sql`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ComputedRelationship {
    pub function_schema: String,
    pub function: String,
    pub schema: String,
    pub table: String,
    pub foreign_schema: String,
    pub foreign_table: String,
    pub to_one: bool,
}

/// Every relationship the foreign keys make, by the relation they start from: each key
/// gives a many-to-one (or one-to-one) relationship and its inverse; two keys of a table
/// whose columns are all in its primary key make the two referenced relations many-to-many
/// (PostgREST's rule).
fn relationships_from(
    fks: &[ForeignKey],
    tables: &HashMap<(String, String), Table>,
) -> HashMap<(String, String), Vec<Relationship>> {
    let pairs = |a: &[String], b: &[String]| -> ColumnPairs {
        a.iter().cloned().zip(b.iter().cloned()).collect()
    };
    let mut out: HashMap<(String, String), Vec<Relationship>> = HashMap::new();
    let mut add = |r: Relationship| {
        out.entry((r.schema.clone(), r.table.clone()))
            .or_default()
            .push(r)
    };
    for fk in fks {
        let is_self = fk.schema == fk.foreign_schema && fk.table == fk.foreign_table;
        let cols = pairs(&fk.columns, &fk.foreign_columns);
        let back = pairs(&fk.foreign_columns, &fk.columns);
        let (forward, inverse) = if fk.one_to_one {
            (
                Cardinality::O2O {
                    constraint: fk.name.clone(),
                    columns: cols,
                    parent: false,
                },
                Cardinality::O2O {
                    constraint: fk.name.clone(),
                    columns: back,
                    parent: true,
                },
            )
        } else {
            (
                Cardinality::M2O {
                    constraint: fk.name.clone(),
                    columns: cols,
                },
                Cardinality::O2M {
                    constraint: fk.name.clone(),
                    columns: back,
                },
            )
        };
        add(Relationship {
            schema: fk.schema.clone(),
            table: fk.table.clone(),
            foreign_schema: fk.foreign_schema.clone(),
            foreign_table: fk.foreign_table.clone(),
            is_self,
            cardinality: forward,
        });
        add(Relationship {
            schema: fk.foreign_schema.clone(),
            table: fk.foreign_table.clone(),
            foreign_schema: fk.schema.clone(),
            foreign_table: fk.table.clone(),
            is_self,
            cardinality: inverse,
        });
    }
    // Many-to-many: pairs of keys of the same table (grouped first: schemas have thousands).
    let mut by_table: HashMap<(&str, &str), Vec<&ForeignKey>> = HashMap::new();
    for fk in fks {
        by_table
            .entry((fk.schema.as_str(), fk.table.as_str()))
            .or_default()
            .push(fk);
    }
    for (key, table_fks) in by_table {
        let Some(junction) = tables.get(&(key.0.to_string(), key.1.to_string())) else {
            continue;
        };
        for (a, b) in table_fks
            .iter()
            .flat_map(|a| table_fks.iter().map(move |b| (a, b)))
        {
            if a.name == b.name {
                continue;
            }
            if !a
                .columns
                .iter()
                .chain(&b.columns)
                .all(|c| junction.pk.contains(c))
            {
                continue;
            }
            add(Relationship {
                schema: a.foreign_schema.clone(),
                table: a.foreign_table.clone(),
                foreign_schema: b.foreign_schema.clone(),
                foreign_table: b.foreign_table.clone(),
                is_self: a.foreign_schema == b.foreign_schema && a.foreign_table == b.foreign_table,
                cardinality: Cardinality::M2M {
                    junction: Junction {
                        schema: a.schema.clone(),
                        table: a.table.clone(),
                        constraint: a.name.clone(),
                        foreign_constraint: b.name.clone(),
                        columns: pairs(&a.foreign_columns, &a.columns),
                        foreign_columns: pairs(&b.foreign_columns, &b.columns),
                    },
                },
            });
        }
    }
    out
}

#[derive(Debug, Clone, Deserialize)]
struct RoleSettingRow {
    role: String,
    settings: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
struct Raw {
    tables: Vec<Table>,
    computed_fields: Vec<ComputedField>,
    #[serde(default)]
    foreign_keys: Vec<ForeignKey>,
    #[serde(default)]
    computed_relationships: Vec<ComputedRelationship>,
    #[serde(default)]
    routines: Vec<Routine>,
    #[serde(default)]
    schema_descriptions: HashMap<String, Option<String>>,
    #[serde(default)]
    views: Vec<views::ViewDef>,
    #[serde(default)]
    view_sources: Vec<views::SourceColumn>,
    role_settings: Vec<RoleSettingRow>,
}

#[derive(Debug, Clone, Default)]
pub struct SchemaCache {
    tables: HashMap<(String, String), Table>,
    computed: HashMap<(String, String, String), ComputedField>,
    /// `ALTER ROLE … SET` settings per role, applied before the role switch (PostgREST order).
    role_settings: HashMap<String, Vec<(String, String)>>,
    /// Relationships by the relation they start from.
    relationships: HashMap<(String, String), Vec<Relationship>>,
    /// Functions of the exposed schemas, overloads in catalog order.
    routines: Vec<Routine>,
    /// `COMMENT ON SCHEMA` of the exposed schemas.
    schema_descriptions: HashMap<String, Option<String>>,
}

impl SchemaCache {
    /// Builds the cache from the JSON the load query returns.
    pub fn from_json(json: &str) -> Result<SchemaCache, serde_json::Error> {
        let mut raw: Raw = serde_json::from_str(json)?;
        let view_columns = views::view_columns(&raw.views, &raw.view_sources);
        views::carry_defaults(&mut raw.tables, &view_columns);
        let foreign_keys = views::carry_keys(&mut raw.tables, &raw.foreign_keys, &view_columns);
        let mut cache = Self::from_parts(
            raw.tables,
            raw.computed_fields,
            &foreign_keys,
            raw.role_settings.into_iter().map(|r| {
                let settings = r
                    .settings
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|kv| {
                        kv.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                    })
                    .collect();
                (r.role, settings)
            }),
        );
        cache.add_computed_relationships(raw.computed_relationships);
        cache.routines = raw.routines;
        cache.schema_descriptions = raw.schema_descriptions;
        Ok(cache)
    }

    /// Adds functions as relationships from the relation they take to the one they return.
    /// A function named like a relation of its schema replaces the foreign-key
    /// relationships to that relation (PostgREST's override rule).
    pub fn add_computed_relationships(&mut self, rels: Vec<ComputedRelationship>) {
        for c in rels {
            let from = self
                .relationships
                .entry((c.schema.clone(), c.table.clone()))
                .or_default();
            from.retain(|r| {
                matches!(r.cardinality, Cardinality::Computed { .. })
                    || r.foreign_schema != c.function_schema
                    || r.foreign_table != c.function
            });
            from.push(Relationship {
                schema: c.schema,
                table: c.table,
                foreign_schema: c.foreign_schema,
                foreign_table: c.foreign_table,
                is_self: false,
                cardinality: Cardinality::Computed {
                    function_schema: c.function_schema,
                    function: c.function,
                    to_one: c.to_one,
                },
            });
        }
    }

    pub fn from_parts(
        tables: Vec<Table>,
        computed: Vec<ComputedField>,
        foreign_keys: &[ForeignKey],
        role_settings: impl IntoIterator<Item = (String, Vec<(String, String)>)>,
    ) -> SchemaCache {
        let mut settings: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for (role, kvs) in role_settings {
            let entry = settings.entry(role).or_default();
            for (k, v) in kvs {
                // A later (database-specific) setting overrides an earlier global one.
                entry.retain(|(ek, _)| *ek != k);
                entry.push((k, v));
            }
        }
        let tables: HashMap<(String, String), Table> = tables
            .into_iter()
            .map(|t| ((t.schema.clone(), t.name.clone()), t))
            .collect();
        SchemaCache {
            relationships: relationships_from(foreign_keys, &tables),
            tables,
            computed: computed
                .into_iter()
                .map(|c| {
                    (
                        (
                            c.table_schema.clone(),
                            c.table_name.clone(),
                            c.function.clone(),
                        ),
                        c,
                    )
                })
                .collect(),
            role_settings: settings,
            routines: Vec::new(),
            schema_descriptions: HashMap::new(),
        }
    }

    /// The relations of a schema, by name.
    pub fn tables_in(&self, schema: &str) -> Vec<&Table> {
        let mut t: Vec<&Table> = self
            .tables
            .values()
            .filter(|t| t.schema == schema)
            .collect();
        t.sort_by(|a, b| a.name.cmp(&b.name));
        t
    }

    /// The functions of a schema, by name (overloads in catalog order).
    /// The functions (overloads) of that name in a schema.
    pub fn routines_named(&self, schema: &str, name: &str) -> Vec<&Routine> {
        self.routines
            .iter()
            .filter(|r| r.schema == schema && r.name == name)
            .collect()
    }

    pub fn routines_in<'a>(&'a self, schema: &'a str) -> impl Iterator<Item = &'a Routine> {
        self.routines.iter().filter(move |r| r.schema == schema)
    }

    /// `COMMENT ON SCHEMA`, for OpenAPI's title and description.
    pub fn schema_description(&self, schema: &str) -> Option<&str> {
        self.schema_descriptions.get(schema)?.as_deref()
    }

    pub fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables.get(&(schema.to_string(), name.to_string()))
    }

    /// The relationships that start from a relation (foreign keys both ways, many-to-many
    /// through junctions, computed relationships).
    pub fn relationships(&self, schema: &str, table: &str) -> &[Relationship] {
        self.relationships
            .get(&(schema.to_string(), table.to_string()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Whether any relationship starts from a relation (for PGRST200's hint).
    pub fn has_relationships(&self, schema: &str, table: &str) -> bool {
        !self.relationships(schema, table).is_empty()
    }

    /// The names of the relations of `schema` that relationships start from.
    pub fn relationship_origins<'a>(&'a self, schema: &'a str) -> impl Iterator<Item = &'a str> {
        self.relationships
            .keys()
            .filter(move |(s, _)| s == schema)
            .map(|(_, t)| t.as_str())
    }

    pub fn computed_field(&self, table: &Table, name: &str) -> Option<&ComputedField> {
        self.computed
            .get(&(table.schema.clone(), table.name.clone(), name.to_string()))
    }

    /// The whole cache as JSON, sorted, for `pgrest.schema_cache()`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut tables: Vec<&Table> = self.tables.values().collect();
        tables.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        let mut computed: Vec<&ComputedField> = self.computed.values().collect();
        computed.sort_by(|a, b| {
            (&a.table_schema, &a.table_name, &a.function).cmp(&(
                &b.table_schema,
                &b.table_name,
                &b.function,
            ))
        });
        let mut relationships: Vec<&Relationship> = self.relationships.values().flatten().collect();
        relationships.sort_by_key(|r| (&r.schema, &r.table, &r.foreign_schema, &r.foreign_table));
        let mut roles: Vec<(&String, &Vec<(String, String)>)> = self.role_settings.iter().collect();
        roles.sort();
        serde_json::json!({
            "tables": tables,
            "computed_fields": computed,
            "relationships": relationships,
            "routines": self.routines,
            "role_settings": roles
                .into_iter()
                .map(|(role, settings)| serde_json::json!({"role": role, "settings": settings}))
                .collect::<Vec<_>>(),
        })
    }

    pub fn role_settings(&self, role: &str) -> &[(String, String)] {
        self.role_settings
            .get(role)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The table of `schema` most similar to `name`, for PGRST205's hint.
    pub fn similar_table(&self, schema: &str, name: &str) -> Option<String> {
        most_similar(
            name,
            self.tables
                .keys()
                .filter(|(s, _)| s == schema)
                .map(|(_, t)| t.as_str()),
        )
    }
}

/// The candidate most similar to `name` (score ≥ 0.75, ties to the smallest name), for the
/// "Perhaps you meant" hints on tables, functions and relationships; an exact match is no
/// suggestion. Names longer than any identifier can be get none.
pub fn most_similar<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    const MAX_IDENTIFIER_CHARS: usize = 63;
    if name.chars().count() * 3 > MAX_IDENTIFIER_CHARS * 4 {
        return None;
    }
    closest(name, candidates.filter(|t| *t != name), 0.75)
}

/// The closest parameter list, written `(a, b)`, for PGRST202's hint: PostgREST asks for a
/// score of only 0.33 here (a parameter name reveals nothing a table name would not), and an
/// identical list counts.
pub fn most_similar_params<'a>(
    given: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<String> {
    closest(given, candidates, 0.33)
}

/// The candidate scoring at least `min_score`, the best one (ties to the smallest).
///
/// Runs on the main thread, where no statement timeout applies, so the work is bounded by the
/// candidates, not by what a request sends: a score of `s` needs the lengths within `1 - s`
/// of the longer one, which rules out far longer (and most other) strings before any distance
/// is computed.
fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
    min_score: f64,
) -> Option<String> {
    let len = name.chars().count();
    let mut best: Option<(f64, &str)> = None;
    for t in candidates {
        let t_len = t.chars().count();
        if len.abs_diff(t_len) as f64 > (1.0 - min_score) * len.max(t_len) as f64 {
            continue;
        }
        let score = similarity(name, t);
        if score >= min_score && best.is_none_or(|(b, bt)| score > b || (score == b && t < bt)) {
            best = Some((score, t));
        }
    }
    best.map(|(_, t)| t.to_string())
}

/// 1 − Levenshtein distance / longer length, case-insensitive: the score PostgREST's fuzzy
/// set ranks suggestions with ("projectx" → "projects" is 0.875).
fn similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    1.0 - prev[b.len()] as f64 / longest as f64
}

#[cfg(test)]
pub mod fixtures {
    //! A small cache built in Rust for planner and query-builder tests.
    use super::*;

    pub fn ty(schema: &str, name: &str, base: &str, category: &str) -> PgType {
        PgType {
            schema: schema.into(),
            name: name.into(),
            base: base.into(),
            category: category.into(),
            composite: false,
            array_schema: Some(schema.into()),
            array_name: Some(format!("_{name}")),
        }
    }

    pub fn col(name: &str, t: PgType) -> Column {
        Column {
            name: name.into(),
            nullable: true,
            default: None,
            generated: false,
            description: None,
            data_type: match t.name.as_str() {
                "int4" => "integer",
                "bool" => "boolean",
                "timestamptz" => "timestamp with time zone",
                "_text" => "text[]",
                other => other,
            }
            .to_string(),
            max_length: None,
            enum_values: None,
            ty: t,
        }
    }

    pub fn cache() -> SchemaCache {
        let int4 = ty("pg_catalog", "int4", "int4", "N");
        let text = ty("pg_catalog", "text", "text", "S");
        let todos = Table {
            schema: "api".into(),
            name: "todos".into(),
            kind: "r".into(),
            insertable: true,
            updatable: true,
            deletable: true,
            pk: vec!["id".into()],
            unique: vec![],
            description: None,
            columns: vec![
                Column {
                    default: Some("nextval('api.todos_id_seq'::regclass)".into()),
                    ..col("id", int4.clone())
                },
                col("done", ty("pg_catalog", "bool", "bool", "B")),
                col("task", text.clone()),
                col("due", ty("pg_catalog", "timestamptz", "timestamptz", "D")),
                col("data", ty("pg_catalog", "jsonb", "jsonb", "U")),
                col(
                    "tags",
                    PgType {
                        array_schema: None,
                        array_name: None,
                        ..ty("pg_catalog", "_text", "_text", "A")
                    },
                ),
                col("tsv", ty("pg_catalog", "tsvector", "tsvector", "U")),
            ],
        };
        let view = Table {
            schema: "api".into(),
            name: "todos_view".into(),
            kind: "v".into(),
            insertable: false,
            updatable: false,
            deletable: false,
            pk: vec![],
            unique: vec![],
            description: None,
            columns: vec![col("id", int4.clone())],
        };
        let computed = ComputedField {
            table_schema: "api".into(),
            table_name: "todos".into(),
            function_schema: "api".into(),
            function: "task_upper".into(),
            returns_set: false,
            ty: text.clone(),
        };
        let table = |name: &str, pk: &[&str], cols: &[&str]| Table {
            schema: "api".into(),
            name: name.into(),
            kind: "r".into(),
            insertable: true,
            updatable: true,
            deletable: true,
            pk: pk.iter().map(|c| c.to_string()).collect(),
            unique: vec![],
            description: None,
            columns: cols
                .iter()
                .map(|c| {
                    col(
                        c,
                        if c.ends_with("id") {
                            int4.clone()
                        } else {
                            text.clone()
                        },
                    )
                })
                .collect(),
        };
        let mut todos = todos;
        todos.columns.push(col("user_id", int4.clone()));
        todos.columns.push(col("reviewer_id", int4.clone()));
        let fk = |name: &str, t: &str, cols: &[&str], ft: &str, fcols: &[&str]| ForeignKey {
            name: name.into(),
            schema: "api".into(),
            table: t.into(),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            foreign_schema: "api".into(),
            foreign_table: ft.into(),
            foreign_columns: fcols.iter().map(|c| c.to_string()).collect(),
            one_to_one: false,
        };
        let mut cache = SchemaCache::from_parts(
            vec![
                todos,
                view,
                table("users", &["id"], &["id", "name"]),
                table("films", &["id"], &["id", "title"]),
                table("actors", &["id"], &["id", "name"]),
                table(
                    "roles",
                    &["film_id", "actor_id"],
                    &["film_id", "actor_id", "character"],
                ),
                table("employees", &["id"], &["id", "name", "manager_id"]),
            ],
            vec![computed],
            &[
                fk(
                    "todos_user_id_fkey",
                    "todos",
                    &["user_id"],
                    "users",
                    &["id"],
                ),
                fk(
                    "todos_reviewer_id_fkey",
                    "todos",
                    &["reviewer_id"],
                    "users",
                    &["id"],
                ),
                fk(
                    "roles_film_id_fkey",
                    "roles",
                    &["film_id"],
                    "films",
                    &["id"],
                ),
                fk(
                    "roles_actor_id_fkey",
                    "roles",
                    &["actor_id"],
                    "actors",
                    &["id"],
                ),
                fk(
                    "employees_manager_id_fkey",
                    "employees",
                    &["manager_id"],
                    "employees",
                    &["id"],
                ),
            ],
            vec![(
                "web_anon".to_string(),
                vec![("statement_timeout".to_string(), "1s".to_string())],
            )],
        );
        cache.add_computed_relationships(vec![ComputedRelationship {
            function_schema: "api".into(),
            function: "open_todos".into(),
            schema: "api".into(),
            table: "users".into(),
            foreign_schema: "api".into(),
            foreign_table: "todos".into(),
            to_one: false,
        }]);
        cache
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_table_hint() {
        let c = fixtures::cache();
        assert_eq!(c.similar_table("api", "todo"), Some("todos".into()));
        assert_eq!(c.similar_table("api", "tods"), Some("todos".into()));
        assert_eq!(c.similar_table("api", "xxxxxxx"), None);
        assert!((similarity("projectx", "projects") - 0.875).abs() < 1e-9);
        assert!((similarity("projecxx", "projects") - 0.75).abs() < 1e-9);
        assert!(similarity("projxxxx", "projects") < 0.75);
        assert_eq!(c.similar_table("other", "todos"), None);
        // Long names are ruled out by length alone (no distance computed).
        assert_eq!(c.similar_table("api", &"todos".repeat(20_000)), None);
        assert_eq!(c.similar_table("api", "todosxx"), None);
        assert_eq!(c.similar_table("api", "todox"), Some("todos".into()));
    }

    #[test]
    fn parameter_list_hint_needs_only_a_third() {
        let lists = ["(name, param, val)", "(attr, id)"];
        let best = |given: &str| most_similar_params(given, lists.into_iter());
        // A missing or misspelled parameter still finds its function (scores near 0.4).
        assert_eq!(best("(id)"), Some("(attr, id)".into()));
        assert_eq!(best("(attrs, id)"), Some("(attr, id)".into()));
        assert_eq!(best("(param, val)"), Some("(name, param, val)".into()));
        assert_eq!(
            most_similar_params("(a, b, extra)", ["(a, b)"].into_iter()),
            Some("(a, b)".into())
        );
        // An identical list counts; nothing close is no hint.
        assert_eq!(best("(attr, id)"), Some("(attr, id)".into()));
        assert_eq!(best("(noclosealternative)"), None);
        // A huge list is ruled out by length alone.
        assert_eq!(best(&format!("({})", "k, ".repeat(50_000))), None);
    }

    fn fk(name: &str, table: &str, cols: &[&str], foreign: &str, fcols: &[&str]) -> ForeignKey {
        let v = |c: &[&str]| c.iter().map(|s| s.to_string()).collect();
        ForeignKey {
            name: name.into(),
            schema: "api".into(),
            table: table.into(),
            columns: v(cols),
            foreign_schema: "api".into(),
            foreign_table: foreign.into(),
            foreign_columns: v(fcols),
            one_to_one: false,
        }
    }

    fn table(name: &str, pk: &[&str]) -> Table {
        Table {
            schema: "api".into(),
            name: name.into(),
            kind: "r".into(),
            insertable: true,
            updatable: true,
            deletable: true,
            pk: pk.iter().map(|s| s.to_string()).collect(),
            unique: vec![],
            description: None,
            columns: vec![],
        }
    }

    fn pairs(p: &[(&str, &str)]) -> ColumnPairs {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn relationships_from_foreign_keys() {
        let tables = vec![
            table("users", &["id"]),
            table("todos", &["id"]),
            table("profiles", &["user_id"]),
            table("films", &["id"]),
            table("actors", &["id"]),
            table("roles", &["film_id", "actor_id"]),
            table("employees", &["id"]),
            table("taggings", &["id"]),
        ];
        let fks = vec![
            fk(
                "todos_user_id_fkey",
                "todos",
                &["user_id"],
                "users",
                &["id"],
            ),
            ForeignKey {
                one_to_one: true,
                ..fk(
                    "profiles_user_id_fkey",
                    "profiles",
                    &["user_id"],
                    "users",
                    &["id"],
                )
            },
            fk(
                "roles_film_id_fkey",
                "roles",
                &["film_id"],
                "films",
                &["id"],
            ),
            fk(
                "roles_actor_id_fkey",
                "roles",
                &["actor_id"],
                "actors",
                &["id"],
            ),
            fk(
                "employees_manager_fkey",
                "employees",
                &["manager_id"],
                "employees",
                &["id"],
            ),
            // Keys outside the primary key: no many-to-many through taggings.
            fk(
                "taggings_film_fkey",
                "taggings",
                &["film_id"],
                "films",
                &["id"],
            ),
            fk(
                "taggings_actor_fkey",
                "taggings",
                &["actor_id"],
                "actors",
                &["id"],
            ),
        ];
        let c = SchemaCache::from_parts(tables, vec![], &fks, vec![]);
        let rels = |t: &str| {
            c.relationships
                .get(&("api".to_string(), t.to_string()))
                .cloned()
                .unwrap_or_default()
        };
        let todos = rels("todos");
        assert_eq!(todos.len(), 1);
        assert_eq!(todos[0].foreign_table, "users");
        assert_eq!(
            todos[0].cardinality,
            Cardinality::M2O {
                constraint: "todos_user_id_fkey".into(),
                columns: pairs(&[("user_id", "id")])
            }
        );
        let users = rels("users");
        let card = |r: &Relationship| r.cardinality.clone();
        assert!(users.iter().any(|r| r.foreign_table == "todos"
            && card(r)
                == Cardinality::O2M {
                    constraint: "todos_user_id_fkey".into(),
                    columns: pairs(&[("id", "user_id")])
                }));
        assert!(users.iter().any(|r| r.foreign_table == "profiles"
            && card(r)
                == Cardinality::O2O {
                    constraint: "profiles_user_id_fkey".into(),
                    columns: pairs(&[("id", "user_id")]),
                    parent: true
                }));
        assert!(matches!(
            rels("profiles")[0].cardinality,
            Cardinality::O2O { parent: false, .. }
        ));
        let films = rels("films");
        let m2m: Vec<&Relationship> = films
            .iter()
            .filter(|r| matches!(r.cardinality, Cardinality::M2M { .. }))
            .collect();
        assert_eq!(m2m.len(), 1, "{films:?}");
        assert_eq!(m2m[0].foreign_table, "actors");
        assert_eq!(
            m2m[0].cardinality,
            Cardinality::M2M {
                junction: Junction {
                    schema: "api".into(),
                    table: "roles".into(),
                    constraint: "roles_film_id_fkey".into(),
                    foreign_constraint: "roles_actor_id_fkey".into(),
                    columns: pairs(&[("id", "film_id")]),
                    foreign_columns: pairs(&[("id", "actor_id")]),
                }
            }
        );
        // Self-reference: both directions start from employees.
        let emp = rels("employees");
        assert_eq!(emp.len(), 2);
        assert!(emp.iter().all(|r| r.is_self));
        // The debugging document lists them all, sorted.
        let doc = c.to_json();
        // 7 keys, each both ways, and films <-> actors through roles.
        assert_eq!(doc["relationships"].as_array().unwrap().len(), 16);
        assert_eq!(doc["relationships"][0]["table"], "actors");
    }

    #[test]
    fn loads_from_json() {
        let json = r#"{
          "tables": [{"schema":"api","name":"t","kind":"r","insertable":true,"updatable":true,"deletable":true,
                      "pk":["id"],"columns":[{"name":"id","nullable":false,"default":null,
                      "type":{"schema":"pg_catalog","name":"int4","base":"int4","category":"N","composite":false,
                              "array_schema":"pg_catalog","array_name":"_int4"}}]}],
          "computed_fields": [],
          "role_settings": [{"role":"web_anon","settings":["statement_timeout=1s","search_path=a, b"]},
                            {"role":"web_anon","settings":["statement_timeout=2s"]}]
        }"#;
        let c = SchemaCache::from_json(json).unwrap();
        let t = c.table("api", "t").unwrap();
        assert_eq!(
            t.column("id").unwrap().ty.array_type(),
            Some(("pg_catalog", "_int4"))
        );
        assert_eq!(
            c.role_settings("web_anon"),
            &[
                ("search_path".to_string(), "a, b".to_string()),
                ("statement_timeout".to_string(), "2s".to_string())
            ]
        );
        assert!(c.role_settings("nobody").is_empty());
    }
}
