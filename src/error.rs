//! Every way a request can fail, and how each failure looks on the wire.
//!
//! The codes, statuses, messages and body shape are PostgREST's (its `Error.hs`), because
//! clients (postgrest-js, supabase-js, postgrest-py) switch on `code` and on the status.
//! `code()`, `status()`, `message()`, `details()` and `hint()` are exhaustive matches with
//! no catch-all arm: a new variant does not compile until it has all five.
//!
//! Codes pgrest adds for situations PostgREST has no code for use the prefix `PGREST`
//! (not `PGRST`), so they can never collide with a future PostgREST code.

use serde_json::Value;

use crate::api_request::query_params::QpError;
use crate::api_request::range::RangeError;

/// A response header as plain strings (the HTTP layer validates them).
pub type Header = (String, String);

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    ApiRequest(ApiRequestError),
    SchemaCache(SchemaCacheError),
    Jwt(JwtError),
    /// The schema cache could not be loaded (PGRST002).
    NoSchemaCache,
    /// The request waited longer than `pgrest.db_pool_acquisition_timeout` for its worker (PGRST003).
    AcquisitionTimeout,
    /// pgrest only: no worker can run the request (queue full, worker stopped): 503.
    Unavailable(String),
    /// An error raised by PostgreSQL while running the request.
    Pg(PgError),
    /// A bug in pgrest (a Rust panic while handling the request); the transaction was aborted.
    Internal(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApiRequestError {
    AggregatesNotAllowed,
    /// PGRST127 with what is not implemented (the details).
    NotImplemented(String),
    MediaType(Vec<String>),
    InvalidBody(String),
    /// PUT filters are not exactly `eq` on every primary-key column.
    InvalidFilters,
    /// PUT's body does not match the primary key in its URL.
    PutMatchingPk,
    InvalidPreferences(Vec<String>),
    InvalidRpcMethod(String),
    InvalidRange(RangeError),
    /// PATCH/DELETE with `limit`/`offset` but no `order` (PostgREST 12; see README).
    LimitNoOrder,
    /// A filter, order or limit names an embed that is not in `select`; with the name and
    /// alias when the embed exists under an alias.
    NotEmbedded(String, Option<(String, String)>),
    /// `order=rel(col)` on an embed that is not to-one: (origin, embed name).
    RelatedOrderNotToOne(String, String),
    PutLimitNotAllowed,
    QueryParam(QpError),
    UnacceptableSchema {
        schema: String,
        exposed: Vec<String>,
    },
    UnsupportedMethod(String),
    GucHeaders,
    GucStatus,
    Singularity(i64),
    PgrstParse(RaiseParseError),
    MaxAffectedViolation(i64),
    /// `max-affected` with `handling=strict` on a function that returns no set.
    MaxAffectedRpcViolation,
    /// A limited PATCH/DELETE changed more rows than its limit: the order was not unique.
    OffLimitsChanges {
        changed: i64,
        max: i64,
    },
    InvalidResourcePath,
    /// `GET /` with `pgrest.openapi_mode = disabled`.
    OpenApiDisabled,
    /// pgrest only: the request body exceeds `pgrest.server_max_body_size`.
    PayloadTooLarge(usize),
    /// pgrest only: the body did not arrive within `pgrest.server_body_timeout` (seconds).
    BodyTimeout(u64),
}

/// Why the JSON of a `RAISE SQLSTATE 'PGRST'` could not be used.
#[derive(Debug, Clone, PartialEq)]
pub enum RaiseParseError {
    Message(String),
    Detail(String),
    NoDetail,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SchemaCacheError {
    ColumnNotFound {
        relation: String,
        column: String,
    },
    TableNotFound {
        schema: String,
        relation: String,
        hint: Option<String>,
    },
    /// No relationship for an embed (PGRST200); `suggestion` is the whole hint.
    NoRelBetween {
        parent: String,
        child: String,
        hint: Option<String>,
        schema: String,
        suggestion: Option<String>,
    },
    /// More than one relationship for an embed (PGRST201).
    AmbiguousRelBetween {
        parent: String,
        child: String,
        candidates: Vec<crate::schema_cache::Relationship>,
    },
    /// No function of that name takes these arguments (PGRST202). `keys` sorted;
    /// `hint` is the whole hint.
    NoRpc(Box<NoRpc>),
    /// Several overloads take these arguments (PGRST203).
    AmbiguousRpc(Vec<crate::schema_cache::Routine>),
}

/// What PGRST202 reports: the function and the argument names looked for.
#[derive(Debug, Clone, PartialEq)]
pub struct NoRpc {
    pub schema: String,
    pub function: String,
    pub keys: Vec<String>,
    pub content_type: crate::api_request::media_type::MediaType,
    pub post: bool,
    pub hint: Option<String>,
}

impl SchemaCacheError {
    /// A raw body (`text/plain`, `text/xml`, `application/octet-stream`) can only go to a
    /// single unnamed parameter, so PGRST202 names no parameters then.
    fn raw_body_call(&self) -> bool {
        use crate::api_request::media_type::MediaType;
        matches!(self, SchemaCacheError::NoRpc(n)
            if n.post && matches!(n.content_type, MediaType::TextPlain | MediaType::TextXml | MediaType::OctetStream))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum JwtError {
    SecretMissing,
    /// `pgrest.jwt_role_claim_key` does not parse (the reason): a token's role is unknown.
    RoleClaimKeyInvalid(String),
    Decode(JwtDecodeError),
    TokenRequired,
    Claims(JwtClaimsError),
}

#[derive(Debug, Clone, PartialEq)]
pub enum JwtDecodeError {
    EmptyAuthHeader,
    UnexpectedParts(usize),
    KeyError(String),
    BadAlgorithm(String),
    BadCrypto,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JwtClaimsError {
    Expired,
    NotYetValid,
    IssuedAtFuture,
    NotInAudience,
    ParsingClaimsFailed,
    ExpNotNumber,
    NbfNotNumber,
    IatNotNumber,
    AudNotStringOrArray,
}

/// An ERROR raised by PostgreSQL, copied out of the error data before the abort.
#[derive(Debug, Clone, PartialEq)]
pub struct PgError {
    /// Whether the request ran as a role other than the anonymous role (42501 → 403, else 401).
    pub authenticated: bool,
    pub sqlstate: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

/// The parsed message and detail of `RAISE SQLSTATE 'PGRST'`.
struct RaisePgrst {
    code: String,
    message: String,
    details: Option<String>,
    hint: Option<String>,
    status: u16,
    status_text: Option<String>,
    headers: Vec<Header>,
}

impl PgError {
    fn parse_raise_pgrst(&self) -> Result<RaisePgrst, RaiseParseError> {
        let msg: Value = serde_json::from_str(&self.message)
            .ok()
            .filter(|v: &Value| {
                v.get("code").is_some_and(Value::is_string)
                    && v.get("message").is_some_and(Value::is_string)
            })
            .ok_or_else(|| RaiseParseError::Message(self.message.clone()))?;
        let detail = self.detail.as_ref().ok_or(RaiseParseError::NoDetail)?;
        let det: Value = serde_json::from_str(detail)
            .ok()
            .filter(|v: &Value| {
                v.get("status").is_some_and(Value::is_u64)
                    && v.get("headers").is_some_and(Value::is_object)
            })
            .ok_or_else(|| RaiseParseError::Detail(detail.clone()))?;
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let headers = det["headers"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let status = det["status"].as_u64().unwrap_or(500);
        Ok(RaisePgrst {
            code: text(&msg, "code").unwrap_or_default(),
            message: text(&msg, "message").unwrap_or_default(),
            details: text(&msg, "details"),
            hint: text(&msg, "hint"),
            status: if (100..=999).contains(&status) {
                status as u16
            } else {
                500
            },
            status_text: text(&det, "status_text"),
            headers,
        })
    }

    /// PostgREST's `mapSQLtoHTTP`, in its order: the first matching rule wins.
    pub fn status(&self) -> u16 {
        let c = self.sqlstate.as_str();
        let m = self.message.as_str();
        let starts = |p: &str| c.starts_with(p);
        if starts("08") {
            503
        } else if starts("09") {
            500
        } else if starts("0L") || starts("0P") {
            403
        } else if c == "23503" || c == "23505" {
            409
        } else if c == "25006" {
            405
        } else if c == "21000" {
            if m.ends_with("requires a WHERE clause") {
                400
            } else {
                500
            }
        } else if c == "22023" {
            if m.starts_with("role") && m.ends_with("does not exist") {
                401
            } else {
                400
            }
        } else if starts("25")
            || starts("2D")
            || starts("38")
            || starts("39")
            || starts("3B")
            || starts("40")
        {
            500
        } else if starts("28") {
            403
        } else if c == "53400" {
            500
        } else if starts("53") {
            503
        } else if starts("54") || starts("55") {
            500
        } else if c == "57P01" {
            503
        } else if starts("57") || starts("58") || starts("F0") || starts("HV") {
            500
        } else if c == "P0001" {
            400
        } else if starts("P0") || starts("XX") {
            500
        } else if c == "42883" {
            if m.starts_with("function xmlagg(") {
                406
            } else {
                404
            }
        } else if c == "42P01" {
            404
        } else if c == "42P17" {
            500
        } else if c == "42501" {
            if self.authenticated {
                403
            } else {
                401
            }
        } else if let Some(n) = c.strip_prefix("PT") {
            n.parse::<u16>()
                .ok()
                .filter(|s| (100..=999).contains(s))
                .unwrap_or(500)
        } else if c == "PGRST" {
            match self.parse_raise_pgrst() {
                Ok(r) => r.status,
                Err(_) => 500,
            }
        } else {
            400
        }
    }
}

impl Error {
    pub fn code(&self) -> String {
        match self {
            Error::ApiRequest(e) => e.code().to_string(),
            Error::SchemaCache(e) => e.code().to_string(),
            Error::Jwt(e) => e.code().to_string(),
            Error::NoSchemaCache => "PGRST002".into(),
            Error::AcquisitionTimeout => "PGRST003".into(),
            Error::Unavailable(_) => "PGREST503".into(),
            Error::Pg(e) if e.sqlstate == "PGRST" => match e.parse_raise_pgrst() {
                Ok(r) => r.code,
                Err(_) => "PGRST121".into(),
            },
            Error::Pg(e) => e.sqlstate.clone(),
            Error::Internal(_) => "PGRSTX00".into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::ApiRequest(e) => e.status(),
            Error::SchemaCache(e) => e.status(),
            Error::Jwt(e) => e.status(),
            Error::NoSchemaCache => 503,
            Error::AcquisitionTimeout => 504,
            Error::Unavailable(_) => 503,
            Error::Pg(e) => e.status(),
            Error::Internal(_) => 500,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Error::ApiRequest(e) => e.message(),
            Error::SchemaCache(e) => e.message(),
            Error::Jwt(e) => e.message(),
            Error::NoSchemaCache => {
                "Could not query the database for the schema cache. Retrying.".into()
            }
            Error::AcquisitionTimeout => {
                "Timed out acquiring connection from connection pool.".into()
            }
            Error::Pg(e) if e.sqlstate == "PGRST" => match e.parse_raise_pgrst() {
                Ok(r) => r.message,
                Err(p) => ApiRequestError::PgrstParse(p).message(),
            },
            Error::Pg(e) => e.message.clone(),
            Error::Unavailable(m) => m.clone(),
            Error::Internal(_) => "Internal server error".into(),
        }
    }

    pub fn details(&self) -> Option<Value> {
        match self {
            Error::ApiRequest(e) => e.details(),
            Error::SchemaCache(e) => e.details(),
            Error::Jwt(e) => e.details(),
            Error::NoSchemaCache | Error::AcquisitionTimeout | Error::Unavailable(_) => None,
            Error::Pg(e) if e.sqlstate == "PGRST" => match e.parse_raise_pgrst() {
                Ok(r) => r.details.map(Value::String),
                Err(p) => ApiRequestError::PgrstParse(p).details(),
            },
            Error::Pg(e) => e.detail.clone().map(Value::String),
            Error::Internal(d) => Some(Value::String(d.clone())),
        }
    }

    pub fn hint(&self) -> Option<Value> {
        match self {
            Error::ApiRequest(e) => e.hint(),
            Error::SchemaCache(e) => e.hint(),
            Error::Jwt(_) => None,
            Error::NoSchemaCache
            | Error::AcquisitionTimeout
            | Error::Unavailable(_)
            | Error::Internal(_) => None,
            Error::Pg(e) if e.sqlstate == "PGRST" => match e.parse_raise_pgrst() {
                Ok(r) => r.hint.map(Value::String),
                Err(p) => ApiRequestError::PgrstParse(p).hint(),
            },
            Error::Pg(e) => e.hint.clone().map(Value::String),
        }
    }

    /// The reason phrase PostgREST sends instead of the status code's own: the message of an
    /// error raised with SQLSTATE `PTnnn`, the `status_text` of one raised with `PGRST`.
    pub fn reason(&self) -> Option<String> {
        match self {
            Error::Pg(e) if e.sqlstate == "PGRST" => {
                e.parse_raise_pgrst().ok().and_then(|r| r.status_text)
            }
            Error::Pg(e) => e
                .sqlstate
                .strip_prefix("PT")
                .and_then(|n| n.parse::<u16>().ok())
                .filter(|n| (100..=999).contains(n))
                .map(|_| e.message.clone()),
            _ => None,
        }
    }

    /// Headers that belong to this error (besides Content-Type and Proxy-Status).
    pub fn headers(&self) -> Vec<Header> {
        match self {
            Error::Jwt(e) => e.headers(),
            Error::Pg(e) if e.sqlstate == "PGRST" => match e.parse_raise_pgrst() {
                Ok(r) => r.headers,
                Err(_) => Vec::new(),
            },
            e if e.status() == 401 => vec![("WWW-Authenticate".into(), "Bearer".into())],
            Error::ApiRequest(_)
            | Error::SchemaCache(_)
            | Error::NoSchemaCache
            | Error::AcquisitionTimeout
            | Error::Unavailable(_)
            | Error::Pg(_)
            | Error::Internal(_) => Vec::new(),
        }
    }

    /// The JSON body: keys in the order PostgREST's JSON encoder writes them.
    pub fn body(&self) -> String {
        let mut out = String::with_capacity(128);
        out.push_str("{\"code\":");
        out.push_str(&Value::String(self.code()).to_string());
        out.push_str(",\"details\":");
        out.push_str(&self.details().unwrap_or(Value::Null).to_string());
        out.push_str(",\"hint\":");
        out.push_str(&self.hint().unwrap_or(Value::Null).to_string());
        out.push_str(",\"message\":");
        out.push_str(&Value::String(self.message()).to_string());
        out.push('}');
        out
    }
}

impl ApiRequestError {
    fn code(&self) -> &'static str {
        use ApiRequestError::*;
        match self {
            QueryParam(_) => "PGRST100",
            InvalidRpcMethod(_) => "PGRST101",
            InvalidBody(_) => "PGRST102",
            InvalidRange(_) => "PGRST103",
            // PGRST104 is retired in PostgREST.
            InvalidFilters => "PGRST105",
            UnacceptableSchema { .. } => "PGRST106",
            MediaType(_) => "PGRST107",
            NotEmbedded(..) => "PGRST108",
            // PostgREST 13 retired these two with limited updates/deletes; pgrest keeps both.
            LimitNoOrder => "PGRST109",
            OffLimitsChanges { .. } => "PGRST110",
            GucHeaders => "PGRST111",
            GucStatus => "PGRST112",
            // PGRST113 is retired in PostgREST.
            PutLimitNotAllowed => "PGRST114",
            PutMatchingPk => "PGRST115",
            Singularity(_) => "PGRST116",
            UnsupportedMethod(_) => "PGRST117",
            RelatedOrderNotToOne(..) => "PGRST118",
            PgrstParse(_) => "PGRST121",
            InvalidPreferences(_) => "PGRST122",
            AggregatesNotAllowed => "PGRST123",
            NotImplemented(_) => "PGRST127",
            MaxAffectedViolation(_) => "PGRST124",
            MaxAffectedRpcViolation => "PGRST128",
            InvalidResourcePath => "PGRST125",
            OpenApiDisabled => "PGRST126",
            PayloadTooLarge(_) => "PGREST413",
            BodyTimeout(_) => "PGREST408",
        }
    }

    fn status(&self) -> u16 {
        use ApiRequestError::*;
        match self {
            AggregatesNotAllowed => 400,
            NotImplemented(_) => 400,
            MediaType(_) => 406,
            InvalidBody(_) => 400,
            InvalidFilters => 405,
            PutMatchingPk => 400,
            InvalidPreferences(_) => 400,
            InvalidRpcMethod(_) => 405,
            InvalidRange(_) => 416,
            NotEmbedded(..) => 400,
            RelatedOrderNotToOne(..) => 400,
            LimitNoOrder => 400,
            OffLimitsChanges { .. } => 400,
            PutLimitNotAllowed => 400,
            QueryParam(_) => 400,
            UnacceptableSchema { .. } => 406,
            UnsupportedMethod(_) => 405,
            GucHeaders => 500,
            GucStatus => 500,
            Singularity(_) => 406,
            PgrstParse(_) => 500,
            MaxAffectedViolation(_) => 400,
            MaxAffectedRpcViolation => 400,
            InvalidResourcePath => 404,
            OpenApiDisabled => 404,
            PayloadTooLarge(_) => 413,
            BodyTimeout(_) => 408,
        }
    }

    fn message(&self) -> String {
        use ApiRequestError::*;
        match self {
            QueryParam(e) => e.message.clone(),
            InvalidRpcMethod(m) => format!("Cannot use the {m} method on RPC"),
            InvalidBody(m) => m.clone(),
            InvalidFilters => {
                "Filters must include all and only primary key columns with 'eq' operators".into()
            }
            PutMatchingPk => "Payload values do not match URL in primary key column(s)".into(),
            InvalidRange(_) => "Requested range not satisfiable".into(),
            UnacceptableSchema { schema, .. } => format!("Invalid schema: {schema}"),
            MediaType(mts) => format!("None of these media types are available: {}", mts.join(", ")),
            NotEmbedded(r, _) => format!("'{r}' is not an embedded resource in this request"),
            RelatedOrderNotToOne(_, target) => format!("A related order on '{target}' is not possible"),
            LimitNoOrder => "A 'limit' was applied without an explicit 'order'".into(),
            OffLimitsChanges { .. } => {
                "The maximum number of rows allowed to change was surpassed".into()
            }
            GucHeaders => "response.headers guc must be a JSON array composed of objects with a single key and a string value".into(),
            GucStatus => "response.status guc must be a valid status code".into(),
            PutLimitNotAllowed => "limit/offset querystring parameters are not allowed for PUT".into(),
            Singularity(_) => "Cannot coerce the result to a single JSON object".into(),
            UnsupportedMethod(m) => format!("Unsupported HTTP method: {m}"),
            PgrstParse(_) => "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error".into(),
            InvalidPreferences(_) => "Invalid preferences given with handling=strict".into(),
            AggregatesNotAllowed => "Use of aggregate functions is not allowed".into(),
            NotImplemented(_) => "Feature not implemented".into(),
            MaxAffectedViolation(_) => "Query result exceeds max-affected preference constraint".into(),
            MaxAffectedRpcViolation => "Function must return SETOF or TABLE when max-affected preference is used with handling=strict".into(),
            InvalidResourcePath => "Invalid path specified in request URL".into(),
            OpenApiDisabled => "Root endpoint metadata is disabled".into(),
            PayloadTooLarge(_) => "Payload Too Large".into(),
            BodyTimeout(_) => "Request Timeout".into(),
        }
    }

    fn details(&self) -> Option<Value> {
        use ApiRequestError::*;
        let s = |t: String| Some(Value::String(t));
        match self {
            QueryParam(e) => s(e.details.clone()),
            NotImplemented(d) => s(d.clone()),
            InvalidRange(r) => s(r.details()),
            Singularity(n) => s(format!("The result contains {n} rows")),
            PgrstParse(RaiseParseError::Message(m)) => {
                s(format!("Invalid JSON value for MESSAGE: '{m}'"))
            }
            PgrstParse(RaiseParseError::Detail(d)) => {
                s(format!("Invalid JSON value for DETAIL: '{d}'"))
            }
            PgrstParse(RaiseParseError::NoDetail) => {
                s("DETAIL is missing in the RAISE statement".into())
            }
            InvalidPreferences(p) => s(format!("Invalid preferences: {}", p.join(", "))),
            MaxAffectedViolation(n) => s(format!("The query affects {n} rows")),
            OffLimitsChanges { changed, max } => s(format!(
                "Results contain {changed} rows changed but the maximum number allowed is {max}"
            )),
            RelatedOrderNotToOne(origin, target) => s(format!(
                "'{origin}' and '{target}' do not form a many-to-one or one-to-one relationship"
            )),
            NotEmbedded(_, Some(_)) => {
                s("Target names are not allowed in filters if they have an alias".into())
            }
            BodyTimeout(secs) => s(format!(
                "The request body did not arrive within {secs} seconds"
            )),
            PayloadTooLarge(limit) => s(format!(
                "The request body is larger than the limit of {limit} bytes"
            )),
            AggregatesNotAllowed
            | MediaType(_)
            | InvalidBody(_)
            | InvalidFilters
            | PutMatchingPk
            | MaxAffectedRpcViolation
            | InvalidRpcMethod(_)
            | NotEmbedded(_, None)
            | LimitNoOrder
            | PutLimitNotAllowed
            | UnacceptableSchema { .. }
            | UnsupportedMethod(_)
            | GucHeaders
            | GucStatus
            | OpenApiDisabled
            | InvalidResourcePath => None,
        }
    }

    fn hint(&self) -> Option<Value> {
        use ApiRequestError::*;
        let s = |t: String| Some(Value::String(t));
        match self {
            NotEmbedded(r, None) => s(format!("Verify that '{r}' is included in the 'select' query parameter.")),
            NotEmbedded(_, Some((name, alias))) => s(format!("Change '{name}' to '{alias}' in filters, orders or limits.")),
            PgrstParse(RaiseParseError::Message(_)) => s(
                "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'."
                    .into(),
            ),
            PgrstParse(_) => s(
                "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'."
                    .into(),
            ),
            UnacceptableSchema { exposed, .. } => {
                s(format!("Only the following schemas are exposed: {}", exposed.join(", ")))
            }
            PayloadTooLarge(_) => s("Raise pgrest.server_max_body_size or send a smaller body.".into()),
            BodyTimeout(_) => s("Raise pgrest.server_body_timeout or send the body faster.".into()),
            LimitNoOrder => s("Apply an 'order' using unique column(s)".into()),
            AggregatesNotAllowed
            | NotImplemented(_)
            | MediaType(_)
            | InvalidBody(_)
            | InvalidFilters
            | PutMatchingPk
            | InvalidPreferences(_)
            | InvalidRpcMethod(_)
            | InvalidRange(_)
            | PutLimitNotAllowed
            | QueryParam(_)
            | UnsupportedMethod(_)
            | GucHeaders
            | GucStatus
            | Singularity(_)
            | MaxAffectedViolation(_)
            | MaxAffectedRpcViolation
            | OffLimitsChanges { .. }
            | RelatedOrderNotToOne(..)
            | OpenApiDisabled
            | InvalidResourcePath => None,
        }
    }
}

/// One candidate of PGRST201's details, as PostgREST's `compressedRel`.
fn relationship_json(r: &crate::schema_cache::Relationship) -> Value {
    use crate::schema_cache::Cardinality;
    let cols = |names: Vec<&String>| {
        format!(
            "({})",
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let (cardinality, relationship) = match &r.cardinality {
        Cardinality::M2M { junction: j } => (
            "many-to-many",
            format!(
                "{} using {}{} and {}{}",
                j.table,
                j.constraint,
                cols(j.columns.iter().map(|(_, c)| c).collect()),
                j.foreign_constraint,
                cols(j.foreign_columns.iter().map(|(_, c)| c).collect()),
            ),
        ),
        Cardinality::M2O {
            constraint,
            columns,
        }
        | Cardinality::O2O {
            constraint,
            columns,
            ..
        }
        | Cardinality::O2M {
            constraint,
            columns,
        } => (
            match r.cardinality {
                Cardinality::M2O { .. } => "many-to-one",
                Cardinality::O2O { .. } => "one-to-one",
                _ => "one-to-many",
            },
            format!(
                "{constraint} using {}{} and {}{}",
                r.table,
                cols(columns.iter().map(|(c, _)| c).collect()),
                r.foreign_table,
                cols(columns.iter().map(|(_, c)| c).collect()),
            ),
        ),
        Cardinality::Computed { .. } => return serde_json::json!({}),
    };
    serde_json::json!({
        "cardinality": cardinality,
        "embedding": format!("{} with {}", r.table, r.foreign_table),
        "relationship": relationship,
    })
}

/// `'target!hint'` for each candidate, as PGRST201's hint lists them.
fn relationship_hints(child: &str, rels: &[crate::schema_cache::Relationship]) -> String {
    use crate::schema_cache::Cardinality;
    let hints: Vec<String> = rels
        .iter()
        .filter_map(|r| {
            let hint = match &r.cardinality {
                Cardinality::M2M { junction } => junction.table.as_str(),
                c => c.constraint()?,
            };
            Some(format!("'{}!{hint}'", r.foreign_table))
        })
        .collect();
    format!(
        "Try changing '{child}' to one of the following: {}. Find the desired relationship in the 'details' key.",
        hints.join(", ")
    )
}

impl SchemaCacheError {
    fn code(&self) -> &'static str {
        match self {
            SchemaCacheError::ColumnNotFound { .. } => "PGRST204",
            SchemaCacheError::TableNotFound { .. } => "PGRST205",
            SchemaCacheError::NoRelBetween { .. } => "PGRST200",
            SchemaCacheError::AmbiguousRelBetween { .. } => "PGRST201",
            SchemaCacheError::NoRpc(_) => "PGRST202",
            SchemaCacheError::AmbiguousRpc(_) => "PGRST203",
        }
    }

    fn status(&self) -> u16 {
        match self {
            SchemaCacheError::ColumnNotFound { .. } => 400,
            SchemaCacheError::TableNotFound { .. } => 404,
            SchemaCacheError::NoRelBetween { .. } => 400,
            SchemaCacheError::AmbiguousRelBetween { .. } => 300,
            SchemaCacheError::NoRpc(_) => 404,
            SchemaCacheError::AmbiguousRpc(_) => 300,
        }
    }

    fn message(&self) -> String {
        match self {
            SchemaCacheError::ColumnNotFound { relation, column } => {
                format!("Could not find the '{column}' column of '{relation}' in the schema cache")
            }
            SchemaCacheError::TableNotFound {
                schema, relation, ..
            } => {
                format!("Could not find the table '{schema}.{relation}' in the schema cache")
            }
            SchemaCacheError::NoRelBetween { parent, child, .. } => format!(
                "Could not find a relationship between '{parent}' and '{child}' in the schema cache"
            ),
            SchemaCacheError::AmbiguousRelBetween { parent, child, .. } => format!(
                "Could not embed because more than one relationship was found for '{parent}' and '{child}'"
            ),
            SchemaCacheError::NoRpc(n) => {
                let NoRpc {
                    schema,
                    function,
                    keys,
                    ..
                } = &**n;
                let params = if self.raw_body_call() {
                    String::new()
                } else if keys.is_empty() {
                    " without parameters".into()
                } else {
                    format!("({})", keys.join(", "))
                };
                format!("Could not find the function {schema}.{function}{params} in the schema cache")
            }
            SchemaCacheError::AmbiguousRpc(routines) => format!(
                "Could not choose the best candidate function between: {}",
                routines
                    .iter()
                    .map(|r| format!(
                        "{}.{}({})",
                        r.schema,
                        r.name,
                        r.params
                            .iter()
                            .map(|p| format!("{} => {}", p.name, p.ty))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            SchemaCacheError::ColumnNotFound { .. } | SchemaCacheError::TableNotFound { .. } => {
                None
            }
            SchemaCacheError::NoRelBetween {
                parent,
                child,
                hint,
                schema,
                ..
            } => Some(Value::String(format!(
                "Searched for a foreign key relationship between '{parent}' and '{child}{}' in the schema '{schema}', but no matches were found.",
                hint.as_deref()
                    .map(|h| format!("' using the hint '{h}"))
                    .unwrap_or_default()
            ))),
            SchemaCacheError::AmbiguousRelBetween { candidates, .. } => Some(Value::Array(
                candidates.iter().map(relationship_json).collect(),
            )),
            SchemaCacheError::NoRpc(n) => {
                let NoRpc {
                    schema,
                    function,
                    keys,
                    content_type,
                    post,
                    ..
                } = &**n;
                use crate::api_request::media_type::MediaType;
                let with_params = if keys.is_empty() {
                    " without parameters".to_string()
                } else {
                    format!(
                        " with parameter{} {}",
                        if keys.len() > 1 { "s" } else { "" },
                        keys.join(", ")
                    )
                };
                let searched = match (post, content_type) {
                    (true, MediaType::TextPlain) => " with a single unnamed text parameter".into(),
                    (true, MediaType::TextXml) => " with a single unnamed xml parameter".into(),
                    (true, MediaType::OctetStream) => " with a single unnamed bytea parameter".into(),
                    (true, MediaType::ApplicationJson) => {
                        format!("{with_params} or with a single unnamed json/jsonb parameter")
                    }
                    _ => with_params,
                };
                Some(Value::String(format!(
                    "Searched for the function {schema}.{function}{searched}, but no matches were found in the schema cache."
                )))
            }
            SchemaCacheError::AmbiguousRpc(_) => None,
        }
    }

    fn hint(&self) -> Option<Value> {
        match self {
            SchemaCacheError::ColumnNotFound { .. } => None,
            SchemaCacheError::TableNotFound { schema, hint, .. } => hint
                .as_ref()
                .map(|t| Value::String(format!("Perhaps you meant the table '{schema}.{t}'"))),
            SchemaCacheError::NoRelBetween { suggestion, .. } => {
                suggestion.clone().map(Value::String)
            }
            SchemaCacheError::AmbiguousRelBetween {
                child, candidates, ..
            } => Some(Value::String(relationship_hints(child, candidates))),
            SchemaCacheError::NoRpc(n) if !self.raw_body_call() => {
                n.hint.clone().map(Value::String)
            }
            SchemaCacheError::NoRpc(_) => None,
            SchemaCacheError::AmbiguousRpc(_) => Some(Value::String(
                "Try renaming the parameters or the function itself in the database so function overloading can be resolved".into(),
            )),
        }
    }
}

impl JwtError {
    fn code(&self) -> &'static str {
        match self {
            JwtError::SecretMissing | JwtError::RoleClaimKeyInvalid(_) => "PGRST300",
            JwtError::Decode(_) => "PGRST301",
            JwtError::TokenRequired => "PGRST302",
            JwtError::Claims(_) => "PGRST303",
        }
    }

    fn status(&self) -> u16 {
        match self {
            JwtError::SecretMissing | JwtError::RoleClaimKeyInvalid(_) => 500,
            JwtError::Decode(_) | JwtError::TokenRequired | JwtError::Claims(_) => 401,
        }
    }

    fn message(&self) -> String {
        match self {
            JwtError::SecretMissing => "Server lacks JWT secret".into(),
            JwtError::RoleClaimKeyInvalid(_) => "Server's JWT role claim key is invalid".into(),
            JwtError::TokenRequired => "Anonymous access is disabled".into(),
            JwtError::Decode(e) => match e {
                JwtDecodeError::EmptyAuthHeader => {
                    "Empty JWT is sent in Authorization header".into()
                }
                JwtDecodeError::UnexpectedParts(n) => format!("Expected 3 parts in JWT; got {n}"),
                JwtDecodeError::KeyError(_) => "No suitable key or wrong key type".into(),
                JwtDecodeError::BadAlgorithm(_) => "Wrong or unsupported encoding algorithm".into(),
                JwtDecodeError::BadCrypto => "JWT cryptographic operation failed".into(),
            },
            JwtError::Claims(e) => match e {
                JwtClaimsError::Expired => "JWT expired",
                JwtClaimsError::NotYetValid => "JWT not yet valid",
                JwtClaimsError::IssuedAtFuture => "JWT issued at future",
                JwtClaimsError::NotInAudience => "JWT not in audience",
                JwtClaimsError::ParsingClaimsFailed => "Parsing claims failed",
                JwtClaimsError::ExpNotNumber => "The JWT 'exp' claim must be a number",
                JwtClaimsError::NbfNotNumber => "The JWT 'nbf' claim must be a number",
                JwtClaimsError::IatNotNumber => "The JWT 'iat' claim must be a number",
                JwtClaimsError::AudNotStringOrArray => {
                    "The JWT 'aud' claim must be a string or an array of strings"
                }
            }
            .into(),
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            JwtError::Decode(JwtDecodeError::KeyError(d))
            | JwtError::Decode(JwtDecodeError::BadAlgorithm(d))
            | JwtError::RoleClaimKeyInvalid(d) => Some(Value::String(d.clone())),
            JwtError::Decode(_)
            | JwtError::SecretMissing
            | JwtError::TokenRequired
            | JwtError::Claims(_) => None,
        }
    }

    fn headers(&self) -> Vec<Header> {
        match self {
            JwtError::Decode(_) | JwtError::Claims(_) => vec![(
                "WWW-Authenticate".into(),
                format!(
                    "Bearer error=\"invalid_token\", error_description={}",
                    Value::String(self.message())
                ),
            )],
            JwtError::TokenRequired => vec![("WWW-Authenticate".into(), "Bearer".into())],
            JwtError::SecretMissing | JwtError::RoleClaimKeyInvalid(_) => Vec::new(),
        }
    }
}

impl From<ApiRequestError> for Error {
    fn from(e: ApiRequestError) -> Self {
        Error::ApiRequest(e)
    }
}

impl From<SchemaCacheError> for Error {
    fn from(e: SchemaCacheError) -> Self {
        Error::SchemaCache(e)
    }
}

impl From<JwtError> for Error {
    fn from(e: JwtError) -> Self {
        Error::Jwt(e)
    }
}

impl From<QpError> for Error {
    fn from(e: QpError) -> Self {
        Error::ApiRequest(ApiRequestError::QueryParam(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(sqlstate: &str, message: &str, authenticated: bool) -> Error {
        Error::Pg(PgError {
            authenticated,
            sqlstate: sqlstate.into(),
            message: message.into(),
            detail: None,
            hint: None,
        })
    }

    #[test]
    fn sqlstate_to_status_follows_postgrest_order() {
        let cases = [
            ("08006", "x", 503),
            ("09000", "x", 500),
            ("0L000", "x", 403),
            ("0P000", "x", 403),
            ("23503", "x", 409),
            ("23505", "x", 409),
            (
                "25006",
                "cannot execute INSERT in a read-only transaction",
                405,
            ),
            ("21000", "DELETE requires a WHERE clause", 400),
            ("21000", "more than one row returned by a subquery", 500),
            ("22023", "role \"nobody\" does not exist", 401),
            ("22023", "invalid value", 400),
            ("25P02", "x", 500),
            ("28000", "x", 403),
            ("2D000", "x", 500),
            ("38000", "x", 500),
            ("39000", "x", 500),
            ("3B000", "x", 500),
            ("40001", "x", 500),
            ("40P01", "x", 500),
            ("53400", "x", 500),
            ("53100", "x", 503),
            ("54000", "x", 500),
            ("55000", "x", 500),
            ("57P01", "x", 503),
            ("57014", "canceling statement due to statement timeout", 500),
            ("58000", "x", 500),
            ("F0000", "x", 500),
            ("HV000", "x", 500),
            ("P0001", "x", 400),
            ("P0002", "x", 500),
            ("XX000", "x", 500),
            ("42883", "function xmlagg(integer) does not exist", 406),
            ("42883", "operator does not exist: integer ~~ text", 404),
            ("42P01", "x", 404),
            ("42P17", "x", 500),
            ("PT402", "x", 402),
            ("PTabc", "x", 500),
            ("22P02", "invalid input syntax", 400),
            ("23502", "null value", 400),
            ("23514", "check", 400),
            ("42703", "column does not exist", 400),
        ];
        for (state, msg, status) in cases {
            assert_eq!(pg(state, msg, true).status(), status, "{state} {msg}");
        }
    }

    #[test]
    fn insufficient_privilege_depends_on_authentication() {
        let anon = pg("42501", "permission denied for table todos", false);
        assert_eq!(anon.status(), 401);
        assert_eq!(
            anon.headers(),
            vec![("WWW-Authenticate".to_string(), "Bearer".to_string())]
        );
        let authed = pg("42501", "permission denied for table todos", true);
        assert_eq!(authed.status(), 403);
        assert!(authed.headers().is_empty());
    }

    #[test]
    fn body_has_postgrest_shape_and_key_order() {
        let e = Error::SchemaCache(SchemaCacheError::TableNotFound {
            schema: "api".into(),
            relation: "todo".into(),
            hint: Some("todos".into()),
        });
        assert_eq!(e.status(), 404);
        assert_eq!(
            e.body(),
            r#"{"code":"PGRST205","details":null,"hint":"Perhaps you meant the table 'api.todos'","message":"Could not find the table 'api.todo' in the schema cache"}"#
        );
        let p = pg("23502", "null value in column \"task\"", false);
        assert_eq!(
            p.body(),
            r#"{"code":"23502","details":null,"hint":null,"message":"null value in column \"task\""}"#
        );
    }

    #[test]
    fn jwt_errors_carry_www_authenticate() {
        let e = Error::Jwt(JwtError::Claims(JwtClaimsError::Expired));
        assert_eq!(e.status(), 401);
        assert_eq!(e.code(), "PGRST303");
        assert_eq!(
            e.headers(),
            vec![(
                "WWW-Authenticate".to_string(),
                "Bearer error=\"invalid_token\", error_description=\"JWT expired\"".to_string()
            )]
        );
        let e = Error::Jwt(JwtError::Decode(JwtDecodeError::UnexpectedParts(2)));
        assert_eq!(e.message(), "Expected 3 parts in JWT; got 2");
        let e = Error::Jwt(JwtError::TokenRequired);
        assert_eq!(
            e.headers(),
            vec![("WWW-Authenticate".to_string(), "Bearer".to_string())]
        );
        assert_eq!(e.code(), "PGRST302");
    }

    #[test]
    fn raise_pgrst_gives_full_control() {
        let e = Error::Pg(PgError {
            authenticated: true,
            sqlstate: "PGRST".into(),
            message: r#"{"code":"123","message":"Payment Required","details":"Quota exceeded","hint":"Upgrade"}"#
                .into(),
            detail: Some(r#"{"status":402,"headers":{"X-Powered-By":"Nerd Rage"}}"#.into()),
            hint: None,
        });
        assert_eq!(e.status(), 402);
        assert_eq!(e.code(), "123");
        assert_eq!(e.message(), "Payment Required");
        assert_eq!(e.reason(), None);
        let pg = |e: &Error| match e {
            Error::Pg(p) => p.clone(),
            _ => unreachable!(),
        };
        let with_text = Error::Pg(PgError {
            detail: Some(r#"{"status":404,"status_text":"My Not Found","headers":{}}"#.into()),
            ..pg(&e)
        });
        assert_eq!(with_text.status(), 404);
        assert_eq!(with_text.reason().as_deref(), Some("My Not Found"));
        let pt = Error::Pg(PgError {
            sqlstate: "PT402".into(),
            message: "Pay Up".into(),
            detail: None,
            ..pg(&e)
        });
        assert_eq!((pt.status(), pt.reason().as_deref()), (402, Some("Pay Up")));
        let not_a_status = Error::Pg(PgError {
            sqlstate: "PTxyz".into(),
            ..pg(&pt)
        });
        assert_eq!((not_a_status.status(), not_a_status.reason()), (500, None));
        assert_eq!(
            e.headers(),
            vec![("X-Powered-By".to_string(), "Nerd Rage".to_string())]
        );

        let bad = Error::Pg(PgError {
            authenticated: true,
            sqlstate: "PGRST".into(),
            message: "not json".into(),
            detail: None,
            hint: None,
        });
        assert_eq!(bad.status(), 500);
        assert_eq!(bad.code(), "PGRST121");
        assert_eq!(
            bad.details(),
            Some(Value::String(
                "Invalid JSON value for MESSAGE: 'not json'".into()
            ))
        );
    }
}
