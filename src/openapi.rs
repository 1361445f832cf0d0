//! The OpenAPI description of a schema, served at `GET /`.
//!
//! Swagger 2.0 as PostgREST produces it (its `Response/OpenAPI.hs`: the same paths,
//! definitions, shared parameters, notes on keys, types and formats), and OpenAPI 3.1 for
//! clients that ask for it with `Accept: application/vnd.oai.openapi+json;version=3.1`
//! (PostgREST #932): the same content in 3.1's shape (`components`, `requestBody`,
//! `servers`, JSON Schema types).

use serde_json::{json, Map, Value};

use crate::config::AppConfig;
use crate::schema_cache::{Cardinality, Column, Routine, SchemaCache, Table};

/// Which document a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Swagger2,
    OpenApi31,
}

/// What the document describes: the schema's relations and functions that the request's
/// role may use (or all of them, with `openapi_mode = ignore-privileges`).
pub struct Contents<'a> {
    pub schema: &'a str,
    pub tables: Vec<&'a Table>,
    pub routines: Vec<&'a Routine>,
}

const DOCS_URL: &str = "https://postgrest.org/en/v16/references/api.html";
/// What the API reads and writes (PostgREST's list: `nulls=stripped` object, object, CSV).
const MIMES: [&str; 4] = [
    "application/json",
    "application/vnd.pgrst.object+json;nulls=stripped",
    "application/vnd.pgrst.object+json",
    "text/csv",
];

/// A JSON pointer token (`~` and `/` escaped), for `$ref`s to names with those characters.
fn pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// An OpenAPI 3.1 component name: those must match `^[a-zA-Z0-9._-]+$`. Names that do are
/// kept; in others each other character becomes `_` and its UTF-8 bytes in hex.
fn component(name: &str) -> String {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.chars().all(ok) && !name.is_empty() {
        return name.to_string();
    }
    let mut out = String::new();
    for c in name.chars() {
        if ok(c) {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("_{b:02X}"));
            }
        }
    }
    out
}

/// PostgREST's `toSwaggerType`: `None` for JSON (any value).
fn swagger_type(data_type: &str) -> Option<&'static str> {
    match data_type {
        "character varying" | "character" | "text" => Some("string"),
        "boolean" => Some("boolean"),
        "smallint" | "integer" | "bigint" => Some("integer"),
        "numeric" | "real" | "double precision" => Some("number"),
        "json" | "jsonb" => None,
        t if t.ends_with("[]") => Some("array"),
        _ => Some("string"),
    }
}

fn swagger_format(data_type: &str) -> String {
    match data_type {
        "smallint" | "integer" => "int32".into(),
        "bigint" => "int64".into(),
        t => t.into(),
    }
}

/// `type`, `format` and, for arrays, `items` of a value of `data_type`.
fn type_schema(data_type: &str) -> Map<String, Value> {
    let mut s = Map::new();
    if let Some(t) = swagger_type(data_type) {
        s.insert("type".into(), t.into());
    }
    s.insert("format".into(), swagger_format(data_type).into());
    if let Some(elem) = data_type.strip_suffix("[]") {
        let mut items = Map::new();
        if let Some(t) = swagger_type(elem) {
            items.insert("type".into(), t.into());
        }
        s.insert("items".into(), Value::Object(items));
    }
    s
}

/// A column default as a JSON value, when it is one (PostgREST's `parseDefault`): string
/// types drop their cast and quotes; others must already be JSON (`0`, `true`).
fn default_value(col: &Column) -> Option<Value> {
    let d = col.default.as_deref()?;
    if swagger_type(&col.data_type) == Some("string") {
        let bare = match d.strip_suffix(&format!("::{}", col.data_type)) {
            Some(v) => v.trim_matches('\''),
            None => d,
        };
        return Some(Value::String(bare.replace("''", "'")));
    }
    serde_json::from_str(d).ok()
}

/// First line of a comment as the summary, the rest (without leading newlines) as the
/// description.
fn summary_and_description(comment: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(c) = comment else {
        return (None, None);
    };
    match c.split_once('\n') {
        Some((first, rest)) => {
            let rest = rest.trim_start_matches('\n');
            (
                Some(first.to_string()),
                (!rest.is_empty()).then(|| rest.to_string()),
            )
        }
        None => (Some(c.to_string()), None),
    }
}

/// The description of a column with PostgREST's key notes.
fn column_description(cache: &SchemaCache, table: &Table, col: &Column) -> Option<String> {
    let mut notes = vec!["Note:".to_string()];
    if table.pk.contains(&col.name) {
        notes.push("This is a Primary Key.<pk/>".into());
    }
    let mut fks: Vec<(bool, &str, &str)> = cache
        .relationships(&table.schema, &table.name)
        .iter()
        .filter(|r| r.foreign_schema == table.schema)
        .filter_map(|r| match &r.cardinality {
            Cardinality::M2O { columns, .. }
            | Cardinality::O2O {
                columns,
                parent: false,
                ..
            } if columns.len() == 1 && columns[0].0 == col.name => {
                let is_view = cache
                    .table(&r.foreign_schema, &r.foreign_table)
                    .is_some_and(|t| t.kind == "v" || t.kind == "m");
                Some((is_view, r.foreign_table.as_str(), columns[0].1.as_str()))
            }
            _ => None,
        })
        .collect();
    fks.sort();
    if let Some((_, t, c)) = fks.first() {
        notes.push(format!(
            "This is a Foreign Key to `{t}.{c}`.<fk table='{t}' column='{c}'/>"
        ));
    }
    if notes.len() > 1 {
        let prefix = col
            .description
            .as_ref()
            .map(|d| format!("{d}\n\n"))
            .unwrap_or_default();
        Some(format!("{prefix}{}", notes.join("\n")))
    } else {
        col.description.clone()
    }
}

fn table_definition(cache: &SchemaCache, table: &Table) -> Value {
    let mut props = Map::new();
    for col in &table.columns {
        let mut p = type_schema(&col.data_type);
        if let Some(d) = default_value(col) {
            p.insert("default".into(), d);
        }
        if let Some(d) = column_description(cache, table, col) {
            p.insert("description".into(), d.into());
        }
        if let Some(e) = &col.enum_values {
            p.insert("enum".into(), json!(e));
        }
        if let Some(n) = col.max_length {
            p.insert("maxLength".into(), n.into());
        }
        props.insert(col.name.clone(), Value::Object(p));
    }
    let required: Vec<&str> = table
        .columns
        .iter()
        .filter(|c| !c.nullable)
        .map(|c| c.name.as_str())
        .collect();
    let mut def = json!({"type": "object", "properties": props});
    if !required.is_empty() {
        def["required"] = json!(required);
    }
    if let Some(d) = &table.description {
        def["description"] = d.clone().into();
    }
    def
}

/// A shared parameter: (key, name, description, in, default).
struct SharedParam {
    key: String,
    name: String,
    description: Option<String>,
    location: &'static str,
    default: Option<&'static str>,
    enum_values: Vec<&'static str>,
}

fn shared_params(tables: &[&Table]) -> Vec<SharedParam> {
    let p = |key: &str, name: &str, description: &str, location: &'static str| SharedParam {
        key: key.into(),
        name: name.into(),
        description: Some(description.into()),
        location,
        default: None,
        enum_values: vec![],
    };
    let prefer = |key: &str, values: Vec<&'static str>| SharedParam {
        enum_values: values,
        ..p(key, "Prefer", "Preference", "header")
    };
    let mut out = vec![
        prefer("preferParams", vec![]),
        prefer(
            "preferReturn",
            vec!["return=representation", "return=minimal", "return=none"],
        ),
        prefer("preferCount", vec!["count=none"]),
        prefer(
            "preferPost",
            vec![
                "return=representation",
                "return=minimal",
                "return=none",
                "resolution=ignore-duplicates",
                "resolution=merge-duplicates",
            ],
        ),
        p("select", "select", "Filtering Columns", "query"),
        p("on_conflict", "on_conflict", "On Conflict", "query"),
        p("order", "order", "Ordering", "query"),
        p("range", "Range", "Limiting and Pagination", "header"),
        SharedParam {
            default: Some("items"),
            ..p(
                "rangeUnit",
                "Range-Unit",
                "Limiting and Pagination",
                "header",
            )
        },
        p("offset", "offset", "Limiting and Pagination", "query"),
        p("limit", "limit", "Limiting and Pagination", "query"),
    ];
    for t in tables {
        for c in &t.columns {
            out.push(SharedParam {
                key: format!("rowFilter.{}.{}", t.name, c.name),
                name: c.name.clone(),
                description: c.description.clone(),
                location: "query",
                default: None,
                enum_values: vec![],
            });
        }
    }
    out
}

/// The server clients reach: `pgrest.openapi_server_proxy_uri`, else host and port.
/// (scheme, host, port, base path)
fn server(cfg: &AppConfig) -> (String, String, u16, String) {
    if let Some(uri) = &cfg.openapi_server_proxy_uri {
        if let Some(parsed) = parse_proxy_uri(uri) {
            return parsed;
        }
    }
    let host = if cfg.server_host.contains(':') {
        format!("[{}]", cfg.server_host)
    } else {
        cfg.server_host.clone()
    };
    ("http".into(), host, cfg.server_port, "/".into())
}

/// `scheme://host[:port][/path]` with scheme http or https.
fn parse_proxy_uri(uri: &str) -> Option<(String, String, u16, String)> {
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (h, p.parse().ok()?),
        _ => (authority, default_port),
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host.to_string(), port, path.to_string()))
}

/// A path item's operations: (method, operation), shared by both versions before shaping.
struct Op {
    method: &'static str,
    tags: Vec<String>,
    summary: Option<String>,
    description: Option<String>,
    /// References to shared parameters (`body.<table>` is the request body).
    params: Vec<String>,
    /// (status, description, array of this definition)
    responses: Vec<(u16, &'static str, Option<String>)>,
    /// A request body of this definition.
    body: Option<String>,
    produces: Option<Vec<&'static str>>,
}

fn table_ops(t: &Table) -> Vec<Op> {
    let (summary, description) = summary_and_description(t.description.as_deref());
    let filters: Vec<String> = t
        .columns
        .iter()
        .map(|c| format!("rowFilter.{}.{}", t.name, c.name))
        .collect();
    let op = |method, params: Vec<String>, responses, body| Op {
        method,
        tags: vec![t.name.clone()],
        summary: summary.clone(),
        description: description.clone(),
        params,
        responses,
        body,
        produces: None,
    };
    let with = |extra: &[&str]| {
        let mut p = filters.clone();
        p.extend(extra.iter().map(|s| s.to_string()));
        p
    };
    let mut ops = vec![op(
        "get",
        with(&[
            "select",
            "order",
            "range",
            "rangeUnit",
            "offset",
            "limit",
            "preferCount",
        ]),
        vec![
            (200, "OK", Some(t.name.clone())),
            (206, "Partial Content", None),
        ],
        None,
    )];
    if t.insertable || t.updatable || t.deletable {
        let body = format!("body.{}", t.name);
        ops.push(op(
            "post",
            vec![body.clone(), "select".into(), "preferPost".into()],
            vec![(201, "Created", None)],
            Some(t.name.clone()),
        ));
        ops.push(op(
            "patch",
            with(&[&body, "preferReturn"]),
            vec![(204, "No Content", None)],
            Some(t.name.clone()),
        ));
        ops.push(op(
            "delete",
            with(&["preferReturn"]),
            vec![(204, "No Content", None)],
            None,
        ));
    }
    ops
}

fn routine_summary(r: &Routine) -> (Option<String>, Option<String>) {
    summary_and_description(r.description.as_deref())
}

/// The JSON schema of a function's arguments (the POST body).
fn args_schema(r: &Routine) -> Value {
    let props: Map<String, Value> = r
        .params
        .iter()
        .map(|p| (p.name.clone(), Value::Object(type_schema(&p.ty))))
        .collect();
    let mut s = json!({"type": "object", "properties": props});
    let required: Vec<&str> = r
        .params
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name.as_str())
        .collect();
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    if let Some(d) = &r.description {
        s["description"] = d.clone().into();
    }
    s
}

/// A GET argument in Swagger 2's parameter shape (arrays as repeated parameters when
/// variadic, else as `{...}` strings).
fn rpc_get_param_v2(p: &crate::schema_cache::RoutineParam) -> Value {
    let mut v = json!({"name": p.name, "in": "query", "required": p.required});
    if p.variadic {
        let elem = p.ty.strip_suffix("[]").unwrap_or(&p.ty);
        v["type"] = swagger_type(&p.ty).unwrap_or("string").into();
        let mut items = Map::new();
        if let Some(t) = swagger_type(elem) {
            items.insert("type".into(), t.into());
        }
        items.insert("format".into(), swagger_format(elem).into());
        v["items"] = Value::Object(items);
        v["collectionFormat"] = "multi".into();
    } else {
        v["format"] = swagger_format(&p.ty).into();
        v["type"] = match swagger_type(&p.ty) {
            Some("array") | None => "string",
            Some(t) => t,
        }
        .into();
    }
    v
}

/// Builds the document.
pub fn document(
    version: Version,
    cfg: &AppConfig,
    cache: &SchemaCache,
    contents: &Contents,
) -> Value {
    let (title, description) = summary_and_description(cache.schema_description(contents.schema));
    let info = json!({
        "title": title.unwrap_or_else(|| "pgrest API".into()),
        "description": description
            .unwrap_or_else(|| "This is a dynamic API generated by pgrest (PostgREST's API, served from inside PostgreSQL)".into()),
        "version": env!("CARGO_PKG_VERSION"),
    });
    let external_docs = json!({"description": "PostgREST Documentation", "url": DOCS_URL});
    let (scheme, host, port, base) = server(cfg);

    // Path items in a shared shape first.
    let mut paths: Vec<(String, Vec<Op>)> = vec![(
        "/".into(),
        vec![Op {
            method: "get",
            tags: vec!["Introspection".into()],
            summary: Some("OpenAPI description (this document)".into()),
            description: None,
            params: vec![],
            responses: vec![(200, "OK", None)],
            body: None,
            produces: Some(vec!["application/openapi+json", "application/json"]),
        }],
    )];
    for t in &contents.tables {
        paths.push((format!("/{}", t.name), table_ops(t)));
    }
    // Overloads share a path; the last one in catalog order describes it, as in PostgREST.
    let mut rpc: Vec<(String, &Routine)> = Vec::new();
    for r in &contents.routines {
        rpc.retain(|(n, _)| n != &r.name);
        rpc.push((r.name.clone(), r));
    }
    let params = shared_params(&contents.tables);

    match version {
        Version::Swagger2 => {
            let mut out_paths = Map::new();
            for (path, ops) in &paths {
                let mut item = Map::new();
                for op in ops {
                    item.insert(op.method.into(), op_v2(op));
                }
                out_paths.insert(path.clone(), Value::Object(item));
            }
            for (name, r) in &rpc {
                out_paths.insert(format!("/rpc/{name}"), rpc_item_v2(r));
            }
            let mut defs = Map::new();
            for t in &contents.tables {
                defs.insert(t.name.clone(), table_definition(cache, t));
            }
            let mut shared = Map::new();
            for p in &params {
                let mut v =
                    json!({"name": p.name, "in": p.location, "required": false, "type": "string"});
                if let Some(d) = &p.description {
                    v["description"] = d.clone().into();
                }
                if let Some(d) = p.default {
                    v["default"] = d.into();
                }
                if !p.enum_values.is_empty() {
                    v["enum"] = json!(p.enum_values);
                }
                shared.insert(p.key.clone(), v);
            }
            for t in &contents.tables {
                shared.insert(
                    format!("body.{}", t.name),
                    json!({"name": t.name, "in": "body", "required": false, "description": t.name,
                           "schema": {"$ref": format!("#/definitions/{}", pointer(&t.name))}}),
                );
            }
            let mut doc = json!({
                "swagger": "2.0",
                "info": info,
                "externalDocs": external_docs,
                "host": format!("{host}:{port}"),
                "basePath": base,
                "schemes": [scheme],
                "consumes": MIMES,
                "produces": MIMES,
                "paths": out_paths,
                "definitions": defs,
                "parameters": shared,
            });
            if cfg.openapi_security_active {
                doc["securityDefinitions"] = json!({"JWT": {
                    "type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "Add the token prepending \"Bearer \" (without quotes) to it"}});
                doc["security"] = json!([{"JWT": []}]);
            }
            doc
        }
        Version::OpenApi31 => {
            let mut out_paths = Map::new();
            for (path, ops) in &paths {
                let mut item = Map::new();
                for op in ops {
                    item.insert(op.method.into(), op_v31(op));
                }
                out_paths.insert(path.clone(), Value::Object(item));
            }
            for (name, r) in &rpc {
                out_paths.insert(format!("/rpc/{name}"), rpc_item_v31(r));
            }
            let mut schemas = Map::new();
            let mut bodies = Map::new();
            for t in &contents.tables {
                schemas.insert(component(&t.name), table_definition(cache, t));
                let content: Map<String, Value> = MIMES
                    .iter()
                    .map(|m| {
                        (
                            m.to_string(),
                            json!({"schema": {"$ref": format!("#/components/schemas/{}", component(&t.name))}}),
                        )
                    })
                    .collect();
                bodies.insert(
                    component(&t.name),
                    json!({"description": t.name, "required": false, "content": content}),
                );
            }
            let mut shared = Map::new();
            for p in &params {
                let mut schema = json!({"type": "string"});
                if let Some(d) = p.default {
                    schema["default"] = d.into();
                }
                if !p.enum_values.is_empty() {
                    schema["enum"] = json!(p.enum_values);
                }
                let mut v =
                    json!({"name": p.name, "in": p.location, "required": false, "schema": schema});
                if let Some(d) = &p.description {
                    v["description"] = d.clone().into();
                }
                shared.insert(component(&p.key), v);
            }
            let base = base.trim_end_matches('/');
            let default_port = matches!((scheme.as_str(), port), ("http", 80) | ("https", 443));
            let url = if default_port {
                format!("{scheme}://{host}{base}")
            } else {
                format!("{scheme}://{host}:{port}{base}")
            };
            let mut components = json!({
                "schemas": schemas,
                "parameters": shared,
                "requestBodies": bodies,
            });
            let mut doc = json!({
                "openapi": "3.1.0",
                "info": info,
                "externalDocs": external_docs,
                "servers": [{"url": url}],
                "paths": out_paths,
            });
            if cfg.openapi_security_active {
                components["securitySchemes"] = json!({"JWT": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "A JWT, sent as \"Authorization: Bearer <token>\""}});
                doc["security"] = json!([{"JWT": []}]);
            }
            doc["components"] = components;
            doc
        }
    }
}

fn common(op: &Op) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("tags".into(), json!(op.tags));
    if let Some(s) = &op.summary {
        o.insert("summary".into(), s.clone().into());
    }
    if let Some(d) = &op.description {
        o.insert("description".into(), d.clone().into());
    }
    o
}

fn op_v2(op: &Op) -> Value {
    let mut o = common(op);
    let params: Vec<Value> = op
        .params
        .iter()
        .map(|p| json!({"$ref": format!("#/parameters/{}", pointer(p))}))
        .collect();
    if !params.is_empty() {
        o.insert("parameters".into(), Value::Array(params));
    }
    if let Some(p) = &op.produces {
        o.insert("produces".into(), json!(p));
    }
    let mut responses = Map::new();
    for (status, desc, items) in &op.responses {
        let mut r = json!({"description": desc});
        if let Some(t) = items {
            r["schema"] = json!({"type": "array", "items": {"$ref": format!("#/definitions/{}", pointer(t))}});
        }
        responses.insert(status.to_string(), r);
    }
    o.insert("responses".into(), Value::Object(responses));
    Value::Object(o)
}

fn op_v31(op: &Op) -> Value {
    let mut o = common(op);
    let params: Vec<Value> = op
        .params
        .iter()
        .filter(|p| !p.starts_with("body."))
        .map(|p| json!({"$ref": format!("#/components/parameters/{}", component(p))}))
        .collect();
    if !params.is_empty() {
        o.insert("parameters".into(), Value::Array(params));
    }
    if let Some(b) = &op.body {
        o.insert(
            "requestBody".into(),
            json!({"$ref": format!("#/components/requestBodies/{}", component(b))}),
        );
    }
    let mut responses = Map::new();
    for (status, desc, items) in &op.responses {
        let mut r = json!({"description": desc});
        if let Some(t) = items {
            let schema = json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{}", component(t))}});
            let content: Map<String, Value> = MIMES
                .iter()
                .map(|m| (m.to_string(), json!({"schema": schema})))
                .collect();
            r["content"] = Value::Object(content);
        }
        if let Some(p) = &op.produces {
            let content: Map<String, Value> =
                p.iter().map(|m| (m.to_string(), json!({}))).collect();
            r["content"] = Value::Object(content);
        }
        responses.insert(status.to_string(), r);
    }
    o.insert("responses".into(), Value::Object(responses));
    Value::Object(o)
}

/// The RPC mimes PostgREST lists for functions.
const RPC_MIMES: [&str; 3] = [
    "application/json",
    "application/vnd.pgrst.object+json;nulls=stripped",
    "application/vnd.pgrst.object+json",
];

fn rpc_item_v2(r: &Routine) -> Value {
    let (summary, description) = routine_summary(r);
    let base = |params: Vec<Value>| {
        let mut o = json!({
            "tags": [format!("(rpc) {}", r.name)],
            "produces": RPC_MIMES,
            "parameters": params,
            "responses": {"200": {"description": "OK"}},
        });
        if let Some(s) = &summary {
            o["summary"] = s.clone().into();
        }
        if let Some(d) = &description {
            o["description"] = d.clone().into();
        }
        o
    };
    let post = base(vec![
        json!({"name": "args", "in": "body", "required": true, "schema": args_schema(r)}),
        json!({"$ref": "#/parameters/preferParams"}),
    ]);
    let mut item = json!({"post": post});
    if r.volatility != "v" {
        item["get"] = base(r.params.iter().map(rpc_get_param_v2).collect());
    }
    item
}

fn rpc_item_v31(r: &Routine) -> Value {
    let (summary, description) = routine_summary(r);
    let content: Map<String, Value> = RPC_MIMES
        .iter()
        .map(|m| (m.to_string(), json!({})))
        .collect();
    let base = |params: Vec<Value>| {
        let mut o = json!({
            "tags": [format!("(rpc) {}", r.name)],
            "responses": {"200": {"description": "OK", "content": content}},
        });
        if !params.is_empty() {
            o["parameters"] = Value::Array(params);
        }
        if let Some(s) = &summary {
            o["summary"] = s.clone().into();
        }
        if let Some(d) = &description {
            o["description"] = d.clone().into();
        }
        o
    };
    let mut post = base(vec![
        json!({"$ref": "#/components/parameters/preferParams"}),
    ]);
    post["requestBody"] = json!({"required": true, "content": {
        "application/json": {"schema": args_schema(r)}}});
    let mut item = json!({"post": post});
    if r.volatility != "v" {
        let params = r
            .params
            .iter()
            .map(|p| {
                let schema = if p.variadic {
                    let elem = p.ty.strip_suffix("[]").unwrap_or(&p.ty);
                    json!({"type": "array", "items": type_schema(elem)})
                } else {
                    let mut s = type_schema(&p.ty);
                    // GET arguments are text in the query string.
                    if matches!(swagger_type(&p.ty), Some("array") | None) {
                        s.insert("type".into(), "string".into());
                        s.remove("items");
                    }
                    Value::Object(s)
                };
                let mut v = json!({"name": p.name, "in": "query", "required": p.required, "schema": schema});
                if p.variadic {
                    v["style"] = "form".into();
                    v["explode"] = true.into();
                }
                v
            })
            .collect();
        item["get"] = base(params);
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema_cache::fixtures;

    fn doc(version: Version) -> Value {
        let cache = fixtures::cache();
        let cfg = AppConfig::test_default();
        let contents = Contents {
            schema: "api",
            tables: cache.tables_in("api"),
            routines: vec![],
        };
        document(version, &cfg, &cache, &contents)
    }

    #[test]
    fn swagger_2_as_postgrest_writes_it() {
        let d = doc(Version::Swagger2);
        assert_eq!(d["swagger"], "2.0");
        assert_eq!(d["host"], "localhost:3000");
        assert_eq!(d["basePath"], "/");
        let todos = &d["definitions"]["todos"]["properties"];
        assert_eq!(todos["id"]["type"], "integer");
        assert_eq!(todos["id"]["format"], "int32");
        assert_eq!(
            todos["id"]["description"],
            "Note:\nThis is a Primary Key.<pk/>"
        );
        assert_eq!(
            todos["user_id"]["description"],
            "Note:\nThis is a Foreign Key to `users.id`.<fk table='users' column='id'/>"
        );
        let get = &d["paths"]["/todos"]["get"];
        assert_eq!(
            get["parameters"][0]["$ref"],
            "#/parameters/rowFilter.todos.id"
        );
        assert_eq!(
            get["responses"]["200"]["schema"]["items"]["$ref"],
            "#/definitions/todos"
        );
        // A view that cannot be written has only GET.
        assert!(d["paths"]["/todos_view"]["post"].is_null());
        assert_eq!(
            d["parameters"]["rangeUnit"],
            json!({"name": "Range-Unit", "in": "header", "required": false, "type": "string",
                   "description": "Limiting and Pagination", "default": "items"})
        );
    }

    #[test]
    fn openapi_3_1_has_the_same_content_in_its_shape() {
        let d = doc(Version::OpenApi31);
        assert_eq!(d["openapi"], "3.1.0");
        assert_eq!(d["servers"][0]["url"], "http://localhost:3000");
        assert_eq!(
            d["paths"]["/todos"]["post"]["requestBody"]["$ref"],
            "#/components/requestBodies/todos"
        );
        assert_eq!(
            d["components"]["parameters"]["limit"]["schema"]["type"],
            "string"
        );
        assert!(d["components"]["schemas"]["todos"]["properties"]["id"].is_object());
    }

    #[test]
    fn defaults_and_proxy_uris() {
        let col = |default: &str, data_type: &str| Column {
            default: Some(default.into()),
            data_type: data_type.into(),
            ..fixtures::col("c", fixtures::ty("pg_catalog", "text", "text", "S"))
        };
        assert_eq!(default_value(&col("'x'::text", "text")), Some(json!("x")));
        assert_eq!(default_value(&col("0", "integer")), Some(json!(0)));
        assert_eq!(
            default_value(&col("nextval('s'::regclass)", "integer")),
            None
        );
        assert_eq!(
            parse_proxy_uri("https://api.example.com/v1"),
            Some(("https".into(), "api.example.com".into(), 443, "/v1".into()))
        );
        assert_eq!(
            parse_proxy_uri("http://h:8080"),
            Some(("http".into(), "h".into(), 8080, "/".into()))
        );
        assert_eq!(parse_proxy_uri("ftp://h"), None);
        assert_eq!(component("rowFilter.todos.id"), "rowFilter.todos.id");
        assert_eq!(component("odd table ✓"), "odd_20table_20_E2_9C_93");
        assert_eq!(pointer("a/b~c"), "a~1b~0c");
    }
}
