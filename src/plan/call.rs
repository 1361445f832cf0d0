//! Planning `/rpc/<function>`: which overload the arguments name (PostgREST's `findProc`),
//! how the arguments reach it, whether its transaction may write, and the relation its
//! result is read as (so `select`, filters, `order`, ranges and embeds apply to it).

use std::collections::BTreeSet;

use crate::api_request::media_type::MediaType;
use crate::api_request::payload::Payload;
use crate::api_request::{ApiRequest, InvokeMethod};
use crate::error::{Error, NoRpc, SchemaCacheError};
use crate::schema_cache::{Column, PgType, Routine, SchemaCache, Table};

/// The column a scalar-returning function's value is read from.
pub const SCALAR_COLUMN: &str = "pgrst_scalar";

/// Settings of a function's own `SET` clauses that apply to the whole transaction, as
/// PostgREST's default `db-hoisted-tx-settings`.
const HOISTED_SETTINGS: [&str; 3] = [
    "statement_timeout",
    "plan_filter.statement_cost_limit",
    "default_transaction_isolation",
];

/// A parameter the call passes by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallParam {
    pub name: String,
    /// The type the argument is cast to; `None` for pseudo-types (`anyelement`), left text.
    pub ty: Option<PgType>,
    pub variadic: bool,
}

/// An argument from the query string or a form body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    /// One value, cast to the parameter's type.
    Fixed(String),
    /// Repeated keys for a variadic or array parameter: an array of the values.
    Array(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallArgs {
    /// `f()`.
    None,
    /// Named arguments from a JSON body: the first object of `body` (a JSON array) typed by
    /// `json_to_recordset`.
    Json {
        body: String,
        params: Vec<CallParam>,
    },
    /// Named arguments as text values.
    Direct(Vec<(CallParam, ArgValue)>),
    /// The single unnamed parameter takes the whole body (`bytea` as `\x` hex).
    Single { value: String, ty: PgType },
}

/// What a function returns, which decides the body's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// Rows (`SETOF table`, `TABLE (...)`): an array.
    Rows,
    /// One row (a composite, OUT parameters): an object.
    Row,
    /// One scalar value: a bare JSON value.
    Scalar,
    /// `SETOF` a scalar: an array of values.
    SetOfScalar,
    /// `void`: 204.
    Void,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPlan {
    pub schema: String,
    pub function: String,
    pub args: CallArgs,
    pub returns: Returns,
}

impl CallPlan {
    pub fn scalar(&self) -> bool {
        matches!(
            self.returns,
            Returns::Scalar | Returns::SetOfScalar | Returns::Void
        )
    }
}

/// The function a `/rpc` request calls (PostgREST's `findProc`): the overload whose
/// parameters the argument names match (required ones all given, optional ones any),
/// falling back to one with a single unnamed parameter that takes the body as it is.
pub fn find_routine<'c>(api: &ApiRequest, cache: &'c SchemaCache) -> Result<&'c Routine, Error> {
    use crate::api_request::Action;
    let (function, post) = match &api.action {
        Action::Routine { function, method } => (function, *method == InvokeMethod::Invoke),
        Action::RoutineInfo { function } => (function, false),
        _ => return Err(Error::Internal("not a function call".into())),
    };
    let keys = argument_keys(api, post);
    let raw_body = matches!(
        api.content_type,
        MediaType::OctetStream | MediaType::TextPlain | MediaType::TextXml
    );
    let overloads: Vec<&Routine> = cache.routines_named(&api.schema, function);
    let matches_params = |r: &Routine| {
        if r.params.is_empty() {
            return keys.is_empty() && !(post && raw_body);
        }
        let required: BTreeSet<&str> = r
            .params
            .iter()
            .filter(|p| p.required)
            .map(|p| p.name.as_str())
            .collect();
        let optional: BTreeSet<&str> = r
            .params
            .iter()
            .filter(|p| !p.required)
            .map(|p| p.name.as_str())
            .collect();
        let given: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
        given
            .difference(&optional)
            .copied()
            .collect::<BTreeSet<_>>()
            == required
    };
    let single_unnamed = |r: &Routine| match r.params.as_slice() {
        [p] if post && p.name.is_empty() => matches!(
            (&api.content_type, p.ty.as_str()),
            (MediaType::ApplicationJson, "json" | "jsonb")
                | (MediaType::TextPlain, "text")
                | (MediaType::TextXml, "xml")
                | (MediaType::OctetStream, "bytea")
        ),
        _ => false,
    };
    let named: Vec<&Routine> = overloads
        .iter()
        .copied()
        .filter(|r| matches_params(r))
        .collect();
    let fallback: Vec<&Routine> = overloads
        .iter()
        .copied()
        .filter(|r| !matches_params(r) && single_unnamed(r))
        .collect();
    match (named.as_slice(), fallback.as_slice()) {
        ([r], _) | ([], [r]) => Ok(r),
        ([], []) => {
            let keys: Vec<String> = keys.into_iter().collect();
            let hint = no_rpc_hint(cache, &api.schema, function, &keys, &overloads);
            Err(SchemaCacheError::NoRpc(Box::new(NoRpc {
                schema: api.schema.clone(),
                function: function.clone(),
                keys,
                content_type: api.content_type.clone(),
                post,
                hint,
            }))
            .into())
        }
        ([], many) | (many, _) => {
            Err(SchemaCacheError::AmbiguousRpc(many.iter().map(|r| (*r).clone()).collect()).into())
        }
    }
}

/// The argument names of a call: the query string's operator-less parameters (GET/HEAD),
/// or the body's keys (`columns=` when given).
fn argument_keys(api: &ApiRequest, post: bool) -> BTreeSet<String> {
    if post {
        api.columns.clone()
    } else {
        api.query.params.iter().map(|(k, _)| k.clone()).collect()
    }
}

/// "Perhaps you meant to call the function api.test" (a similar name) or, when the name
/// exists, "… api.test(a, b)" (the most similar parameter list).
fn no_rpc_hint(
    cache: &SchemaCache,
    schema: &str,
    function: &str,
    keys: &[String],
    overloads: &[&Routine],
) -> Option<String> {
    use crate::schema_cache::{most_similar, most_similar_params};
    let suggestion = if overloads.is_empty() {
        let names: BTreeSet<&str> = cache.routines_in(schema).map(|r| r.name.as_str()).collect();
        most_similar(function, names.into_iter())?
    } else if keys.is_empty() {
        // Nothing to compare: PostgREST's fuzzy set finds no n-gram in "()".
        return None;
    } else {
        let lists: Vec<String> = overloads
            .iter()
            .map(|r| {
                let mut names: Vec<&str> = r.params.iter().map(|p| p.name.as_str()).collect();
                names.sort_unstable();
                format!("({})", names.join(", "))
            })
            .collect();
        let given = format!("({})", keys.join(", "));
        let best = most_similar_params(&given, lists.iter().map(String::as_str))?;
        format!("{function}{best}")
    };
    Some(format!(
        "Perhaps you meant to call the function {schema}.{suggestion}"
    ))
}

/// Whether the call's transaction is read-only: GET/HEAD always (a write then fails with
/// 25006, 405), POST for stable and immutable functions.
pub fn read_only(api: &ApiRequest, routine: &Routine) -> bool {
    match &api.action {
        crate::api_request::Action::Routine {
            method: InvokeMethod::Invoke,
            ..
        } => routine.volatility != "v",
        _ => true,
    }
}

/// The function's own settings that apply to its whole transaction (`SET statement_timeout`,
/// `SET default_transaction_isolation`), as `(name, value)`.
pub fn hoisted_settings(routine: &Routine) -> Vec<(String, String)> {
    routine
        .settings
        .iter()
        .filter_map(|s| s.split_once('='))
        .filter(|(k, _)| HOISTED_SETTINGS.contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The relation the result is read as: the table a `SETOF table` function returns (so its
/// relationships embed), else a relation made of the function's result columns.
pub fn result_table(cache: &SchemaCache, routine: &Routine) -> Table {
    if let Some(t) = routine
        .table_name()
        .and_then(|name| cache.table(&routine.return_schema, name))
    {
        return t.clone();
    }
    let column = |name: &str, ty: Option<PgType>| Column {
        name: name.to_string(),
        nullable: true,
        default: None,
        generated: false,
        description: None,
        data_type: String::new(),
        max_length: None,
        enum_values: None,
        ty: ty.unwrap_or_else(PgType::text),
    };
    let columns = if routine.return_composite {
        routine
            .out_columns
            .iter()
            .map(|c| column(&c.name, c.ty.clone()))
            .collect()
    } else {
        vec![column(SCALAR_COLUMN, routine.return_pg_type.clone())]
    };
    Table {
        schema: routine.schema.clone(),
        name: routine.name.clone(),
        kind: "f".into(),
        insertable: false,
        updatable: false,
        deletable: false,
        pk: Vec::new(),
        unique: Vec::new(),
        description: None,
        columns,
    }
}

/// How the arguments reach the function.
pub fn call_plan(api: &ApiRequest, routine: &Routine) -> CallPlan {
    let returns = if routine.returns_void() {
        Returns::Void
    } else {
        match (routine.return_composite, routine.returns_set) {
            (true, true) => Returns::Rows,
            (true, false) => Returns::Row,
            (false, true) => Returns::SetOfScalar,
            (false, false) => Returns::Scalar,
        }
    };
    let post = matches!(
        api.action,
        crate::api_request::Action::Routine {
            method: InvokeMethod::Invoke,
            ..
        }
    );
    let keys = argument_keys(api, post);
    let param = |p: &crate::schema_cache::RoutineParam| CallParam {
        name: p.name.clone(),
        ty: p.pg_type.clone(),
        variadic: p.variadic,
    };
    let given: Vec<CallParam> = routine
        .params
        .iter()
        .filter(|p| keys.contains(&p.name))
        .map(param)
        .collect();
    let single = match routine.params.as_slice() {
        [p] if post && p.name.is_empty() => p.pg_type.clone(),
        _ => None,
    };
    let args = if let Some(ty) = single {
        let value = match &api.payload {
            Some(Payload::RawPay(bytes)) if ty.base == "bytea" => hex(bytes),
            Some(Payload::RawPay(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            Some(Payload::ProcessedJson { raw, .. }) | Some(Payload::RawJson(raw)) => raw.clone(),
            _ => String::new(),
        };
        CallArgs::Single { value, ty }
    } else if given.is_empty() {
        CallArgs::None
    } else if post && api.content_type != MediaType::UrlEncoded {
        CallArgs::Json {
            body: super::body_as_array(api),
            params: given,
        }
    } else {
        let pairs: Vec<(String, String)> = if post {
            match &api.payload {
                Some(Payload::ProcessedUrlEncoded { params, .. }) => params.clone(),
                _ => Vec::new(),
            }
        } else {
            api.query.params.clone()
        };
        CallArgs::Direct(
            given
                .into_iter()
                .map(|p| {
                    let values: Vec<String> = pairs
                        .iter()
                        .filter(|(k, _)| *k == p.name)
                        .map(|(_, v)| v.clone())
                        .collect();
                    let is_array = p.ty.as_ref().is_some_and(|t| t.category == "A");
                    let value = if p.variadic || (is_array && values.len() > 1) {
                        ArgValue::Array(values)
                    } else {
                        // A repeated key for a scalar parameter: the last value, as PostgREST.
                        ArgValue::Fixed(values.last().cloned().unwrap_or_default())
                    };
                    (p, value)
                })
                .collect(),
        )
    };
    CallPlan {
        schema: routine.schema.clone(),
        function: routine.name.clone(),
        args,
        returns,
    }
}

/// `\x…`: bytea's hex input form.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("\\x");
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}
