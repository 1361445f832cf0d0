//! Which base-table column each view column shows, so foreign keys and primary keys of
//! tables carry over to the views over them (PostgREST's view key dependencies).
//!
//! The catalog query returns each view's stored query as text (`pg_rewrite.ev_action`, a
//! `pg_node_tree`) and the names of the columns those queries read. The target list of the
//! top-level query says, for each view column, the relation and attribute number it comes
//! from (`resorigtbl`, `resorigcol`); a column of another view is followed to its base.
//! Parsing the text here keeps the load one statement (one snapshot) and testable without
//! PostgreSQL.

use std::collections::HashMap;

use serde::Deserialize;

/// A view or materialized view as the load query returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct ViewDef {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// Column names in attribute order.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    pub definition: String,
}

/// A column some view query reads, named.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceColumn {
    pub oid: u32,
    pub attnum: i32,
    pub schema: String,
    pub table: String,
    pub column: String,
    /// The column's position in its table's primary key (from 1), and the key's length.
    #[serde(default)]
    pub pk_position: Option<usize>,
    #[serde(default)]
    pub pk_len: Option<usize>,
}

/// A view column and the base-table column it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewColumn {
    pub view: (String, String),
    pub column: String,
    pub base: (String, String),
    pub base_column: String,
    /// (position, length) of the base column in its table's primary key.
    pub base_pk: Option<(usize, usize)>,
}

/// One value of a node tree: a node (`{TYPE :field value ...}`), a list or an atom.
#[derive(Debug)]
enum Value {
    Node(String, Vec<(String, Vec<Value>)>),
    List(Vec<Value>),
    Atom(String),
}

/// Splits node-tree text into tokens: `{`, `}`, `(`, `)`, `:field`, atoms (with `\`
/// escapes removed) and double-quoted strings.
fn tokens(text: &str) -> Vec<(bool, String)> {
    // (is_punctuation_or_field, text)
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '{' | '}' | '(' | ')' => {
                chars.next();
                out.push((true, c.to_string()));
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => s.extend(chars.next()),
                        '"' => break,
                        c => s.push(c),
                    }
                }
                out.push((false, s));
            }
            _ => {
                let field = c == ':';
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '{' | '}' | '(' | ')') {
                        break;
                    }
                    chars.next();
                    if c == '\\' {
                        s.extend(chars.next());
                    } else {
                        s.push(c);
                    }
                }
                out.push((field, s));
            }
        }
    }
    out
}

/// Parses node-tree text (iteratively: view queries can nest deeply).
fn parse(text: &str) -> Option<Vec<Value>> {
    enum Frame {
        Node(Option<String>, Vec<(String, Vec<Value>)>),
        List(Vec<Value>),
    }
    fn push(stack: &mut [Frame], top: &mut Vec<Value>, v: Value) {
        match stack.last_mut() {
            Some(Frame::List(items)) => items.push(v),
            Some(Frame::Node(_, fields)) => {
                if let Some((_, values)) = fields.last_mut() {
                    values.push(v);
                }
            }
            None => top.push(v),
        }
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut top = Vec::new();
    for (special, tok) in tokens(text) {
        match (special, tok.as_str()) {
            (true, "{") => stack.push(Frame::Node(None, Vec::new())),
            (true, "(") => stack.push(Frame::List(Vec::new())),
            (true, "}") => match stack.pop()? {
                Frame::Node(ty, fields) => push(
                    &mut stack,
                    &mut top,
                    Value::Node(ty.unwrap_or_default(), fields),
                ),
                Frame::List(_) => return None,
            },
            (true, ")") => match stack.pop()? {
                Frame::List(items) => push(&mut stack, &mut top, Value::List(items)),
                Frame::Node(..) => return None,
            },
            (true, field) => match stack.last_mut() {
                Some(Frame::Node(_, fields)) => {
                    fields.push((field.trim_start_matches(':').to_string(), Vec::new()))
                }
                _ => return None,
            },
            (false, atom) => match stack.last_mut() {
                Some(Frame::Node(ty @ None, _)) => *ty = Some(atom.to_string()),
                _ => push(&mut stack, &mut top, Value::Atom(atom.to_string())),
            },
        }
    }
    stack.is_empty().then_some(top)
}

fn field<'v>(fields: &'v [(String, Vec<Value>)], name: &str) -> Option<&'v [Value]> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
}

fn atom<'v>(fields: &'v [(String, Vec<Value>)], name: &str) -> Option<&'v str> {
    match field(fields, name)?.first()? {
        Value::Atom(a) => Some(a),
        _ => None,
    }
}

/// For each column of a view's query (by position, from 1): the relation and attribute it
/// comes from, when it is a plain column.
pub fn target_origins(definition: &str) -> Vec<(usize, u32, i32)> {
    let Some(top) = parse(definition) else {
        return Vec::new();
    };
    // ev_action is a list holding the view's one query.
    let query = match top.first() {
        Some(Value::List(items)) => items.first(),
        other => other,
    };
    let Some(Value::Node(ty, fields)) = query else {
        return Vec::new();
    };
    if ty != "QUERY" {
        return Vec::new();
    }
    let Some([Value::List(entries)]) = field(fields, "targetList") else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|e| {
            let Value::Node(ty, f) = e else { return None };
            if ty != "TARGETENTRY" || atom(f, "resjunk") == Some("true") {
                return None;
            }
            let resno: usize = atom(f, "resno")?.parse().ok()?;
            let table: u32 = atom(f, "resorigtbl")?.parse().ok()?;
            let attnum: i32 = atom(f, "resorigcol")?.parse().ok()?;
            (table != 0 && attnum > 0).then_some((resno, table, attnum))
        })
        .collect()
}

/// Every view column that shows a base-table column, following views over views.
pub fn view_columns(views: &[ViewDef], sources: &[SourceColumn]) -> Vec<ViewColumn> {
    let source: HashMap<(u32, i32), &SourceColumn> =
        sources.iter().map(|s| ((s.oid, s.attnum), s)).collect();
    // (view oid, column name) → (relation oid, attnum) it reads.
    let mut reads: HashMap<(u32, &str), (u32, i32)> = HashMap::new();
    for v in views {
        let Some(columns) = &v.columns else { continue };
        for (resno, table, attnum) in target_origins(&v.definition) {
            if let Some(name) = columns.get(resno.wrapping_sub(1)) {
                reads.insert((v.oid, name.as_str()), (table, attnum));
            }
        }
    }
    let mut out = Vec::new();
    for v in views {
        let Some(columns) = &v.columns else { continue };
        for name in columns {
            let mut at = reads.get(&(v.oid, name.as_str())).copied();
            // Follow views over views (bounded: a view cannot read itself, but be safe).
            for _ in 0..64 {
                let Some(key) = at else { break };
                let Some(src) = source.get(&key) else {
                    at = None;
                    break;
                };
                match reads.get(&(src.oid, src.column.as_str())) {
                    Some(next) => at = Some(*next),
                    None => break,
                }
            }
            let Some(src) = at.and_then(|k| source.get(&k)) else {
                continue;
            };
            if views.iter().any(|w| w.oid == src.oid) {
                // A view column computed by the inner view: no base column.
                continue;
            }
            out.push(ViewColumn {
                view: (v.schema.clone(), v.name.clone()),
                column: name.clone(),
                base: (src.schema.clone(), src.table.clone()),
                base_column: src.column.clone(),
                base_pk: src.pk_position.zip(src.pk_len),
            });
        }
    }
    out
}

/// The most view-column combinations one foreign key is carried over with (a view may
/// show a key column several times; each choice is a relationship, as in PostgREST).
const MAX_COMBINATIONS: usize = 16;

/// A view column with no default of its own takes its base column's: inserting through the
/// view without the column stores that default, so `Prefer: missing=default` must too.
pub fn carry_defaults(tables: &mut [super::Table], view_columns: &[ViewColumn]) {
    let defaults: HashMap<(String, String, String), String> = tables
        .iter()
        .flat_map(|t| {
            t.columns.iter().filter_map(|c| {
                let d = c.default.clone()?;
                Some(((t.schema.clone(), t.name.clone(), c.name.clone()), d))
            })
        })
        .collect();
    let bases: HashMap<(&str, &str, &str), &ViewColumn> = view_columns
        .iter()
        .map(|v| ((v.view.0.as_str(), v.view.1.as_str(), v.column.as_str()), v))
        .collect();
    for t in tables.iter_mut() {
        for c in t.columns.iter_mut().filter(|c| c.default.is_none()) {
            if let Some(v) = bases.get(&(t.schema.as_str(), t.name.as_str(), c.name.as_str())) {
                let key = (v.base.0.clone(), v.base.1.clone(), v.base_column.clone());
                c.default = defaults.get(&key).cloned();
            }
        }
    }
}

/// Gives the views their primary key (the view columns showing every column of one base
/// table's key) and adds, for every foreign key, the same key from each view over its
/// table, to each view over its referenced table, and between such views. Keys are kept
/// only between relations of the cache.
pub fn carry_keys(
    tables: &mut [super::Table],
    fks: &[super::ForeignKey],
    cols: &[ViewColumn],
) -> Vec<super::ForeignKey> {
    let mut by_view: HashMap<(&str, &str), Vec<&ViewColumn>> = HashMap::new();
    for c in cols {
        by_view
            .entry((c.view.0.as_str(), c.view.1.as_str()))
            .or_default()
            .push(c);
    }
    for t in tables.iter_mut().filter(|t| t.kind == "v" || t.kind == "m") {
        let Some(vcols) = by_view.get(&(t.schema.as_str(), t.name.as_str())) else {
            continue;
        };
        let mut bases: Vec<&(String, String)> = vcols.iter().map(|c| &c.base).collect();
        bases.sort();
        bases.dedup();
        for base in bases {
            let mut key: Vec<(usize, &str)> = vcols
                .iter()
                .filter(|c| &c.base == base)
                .filter_map(|c| c.base_pk.map(|(pos, _)| (pos, c.column.as_str())))
                .collect();
            key.sort();
            key.dedup_by_key(|(pos, _)| *pos);
            let len = vcols
                .iter()
                .find(|c| &c.base == base)
                .and_then(|c| c.base_pk)
                .map(|(_, len)| len);
            if len.is_some_and(|n| n == key.len() && n > 0) {
                t.pk = key.into_iter().map(|(_, c)| c.to_string()).collect();
                break;
            }
        }
    }

    // The view columns showing each base column.
    let mut shown: HashMap<(&str, &str, &str), Vec<&ViewColumn>> = HashMap::new();
    for c in cols {
        shown
            .entry((c.base.0.as_str(), c.base.1.as_str(), c.base_column.as_str()))
            .or_default()
            .push(c);
    }
    // Each relation (the table itself, and every view) showing all of `columns` of
    // `schema.table`, with the columns it shows them as.
    let showing = |schema: &str, table: &str, columns: &[String]| {
        let mut out: Vec<((String, String), Vec<String>)> =
            vec![((schema.to_string(), table.to_string()), columns.to_vec())];
        let mut views: Vec<&(String, String)> = columns
            .first()
            .and_then(|c| shown.get(&(schema, table, c.as_str())))
            .map(|v| v.iter().map(|c| &c.view).collect())
            .unwrap_or_default();
        views.sort();
        views.dedup();
        for view in views {
            let mut combos: Vec<Vec<String>> = vec![Vec::new()];
            for col in columns {
                let options: Vec<&str> = shown
                    .get(&(schema, table, col.as_str()))
                    .map(|v| {
                        v.iter()
                            .filter(|c| &c.view == view)
                            .map(|c| c.column.as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                combos = combos
                    .into_iter()
                    .flat_map(|prefix| {
                        options.iter().map(move |o| {
                            let mut p = prefix.clone();
                            p.push(o.to_string());
                            p
                        })
                    })
                    .take(MAX_COMBINATIONS)
                    .collect();
            }
            out.extend(combos.into_iter().map(|c| (view.clone(), c)));
        }
        out
    };
    let relations: std::collections::HashSet<(&str, &str)> = tables
        .iter()
        .map(|t| (t.schema.as_str(), t.name.as_str()))
        .collect();
    let known = |(s, t): &(String, String)| relations.contains(&(s.as_str(), t.as_str()));
    let mut out = Vec::new();
    for fk in fks {
        let froms = showing(&fk.schema, &fk.table, &fk.columns);
        let tos = showing(&fk.foreign_schema, &fk.foreign_table, &fk.foreign_columns);
        for (from, columns) in &froms {
            for (to, foreign_columns) in &tos {
                if !known(from) || !known(to) {
                    continue;
                }
                out.push(super::ForeignKey {
                    schema: from.0.clone(),
                    table: from.1.clone(),
                    columns: columns.clone(),
                    foreign_schema: to.0.clone(),
                    foreign_table: to.1.clone(),
                    foreign_columns: foreign_columns.clone(),
                    ..fk.clone()
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILMS_V: &str = r#"({QUERY :commandType 1 :querySource 0 :canSetTag true :utilityStmt <> :rtable ({RANGETBLENTRY :alias {ALIAS :aliasname old :colnames <>} :eref {ALIAS :aliasname old :colnames ("id" "ti\"tle")} :relid 34471 :relkind v} {RANGETBLENTRY :alias <> :eref {ALIAS :aliasname x_films :colnames ("id" "title")} :relid 34428 :relkind r :selectedCols (b 8 9)}) :jointree {FROMEXPR :fromlist ({RANGETBLREF :rtindex 3}) :quals <>} :targetList ({TARGETENTRY :expr {VAR :varno 3 :varattno 1 :vartype 23 :location 47} :resno 1 :resname id :ressortgroupref 0 :resorigtbl 34428 :resorigcol 1 :resjunk false} {TARGETENTRY :expr {CONST :consttype 23 :constlen 4 :constbyval true :constisnull false :location 60 :constvalue 4 [ 42 0 0 0 0 0 0 0 ]} :resno 2 :resname \{odd\ name\} :ressortgroupref 0 :resorigtbl 0 :resorigcol 0 :resjunk false} {TARGETENTRY :expr {VAR :varno 3 :varattno 2} :resno 3 :resname title :ressortgroupref 0 :resorigtbl 34428 :resorigcol 2 :resjunk false}) :override 0 :stmt_len 73})"#;

    #[test]
    fn reads_the_origin_of_each_view_column() {
        assert_eq!(target_origins(FILMS_V), vec![(1, 34428, 1), (3, 34428, 2)]);
        // Anything unexpected is no dependency, never an error.
        assert!(target_origins("({QUERY :targetList (").is_empty());
        assert!(target_origins("").is_empty());
        assert!(target_origins("({NOTAQUERY})").is_empty());
    }

    #[test]
    fn follows_views_over_views_to_base_columns() {
        let views = vec![
            ViewDef {
                oid: 34471,
                schema: "api".into(),
                name: "films_v".into(),
                columns: Some(vec!["id".into(), "answer".into(), "title".into()]),
                definition: FILMS_V.into(),
            },
            ViewDef {
                oid: 50000,
                schema: "api".into(),
                name: "films_vv".into(),
                columns: Some(vec!["film".into()]),
                definition: "({QUERY :targetList ({TARGETENTRY :resno 1 :resname film :resorigtbl 34471 :resorigcol 1 :resjunk false})})".into(),
            },
        ];
        let sources = vec![
            SourceColumn {
                oid: 34428,
                attnum: 1,
                schema: "private".into(),
                table: "films".into(),
                column: "id".into(),
                pk_position: Some(1),
                pk_len: Some(1),
            },
            SourceColumn {
                oid: 34428,
                attnum: 2,
                schema: "private".into(),
                table: "films".into(),
                column: "title".into(),
                pk_position: None,
                pk_len: None,
            },
            SourceColumn {
                oid: 34471,
                attnum: 1,
                schema: "api".into(),
                table: "films_v".into(),
                column: "id".into(),
                pk_position: None,
                pk_len: None,
            },
        ];
        let cols = view_columns(&views, &sources);
        let show = |c: &ViewColumn| {
            format!(
                "{}.{} <- {}.{}",
                c.view.1, c.column, c.base.1, c.base_column
            )
        };
        assert_eq!(
            cols.iter().map(show).collect::<Vec<_>>(),
            vec![
                "films_v.id <- films.id",
                "films_v.title <- films.title",
                "films_vv.film <- films.id"
            ]
        );
    }
}
