//! Turns the raw parts of an HTTP request into an [`ApiRequest`]: what the user asked for,
//! in PostgREST's terms. Pure Rust; runs on the HTTP thread. Nothing is checked against the
//! database here (that is the planner's job), only the syntax and the HTTP-level rules:
//! route, method, profile headers, query grammar, ranges, preferences, media types, body.

pub mod media_type;
mod parsec;
pub mod payload;
pub mod preferences;
pub mod query_params;
mod query_string;
pub mod range;
pub mod types;

use std::collections::{BTreeSet, HashMap};

use crate::config::AppConfig;
use crate::error::{ApiRequestError, Error};
use media_type::MediaType;
use payload::{Payload, PayloadAction};
use preferences::Preferences;
use query_params::QueryParams;
use range::Range;

/// What the request does to which resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// GET (or HEAD when `headers_only`) on a table or view.
    RelationRead {
        relation: String,
        headers_only: bool,
    },
    /// POST, PUT, PATCH or DELETE on a table or view.
    RelationMut {
        relation: String,
        mutation: Mutation,
    },
    /// OPTIONS on a table or view.
    RelationInfo { relation: String },
    /// GET/HEAD/POST on `/rpc/<function>`.
    Routine {
        function: String,
        method: InvokeMethod,
    },
    /// OPTIONS on `/rpc/<function>`.
    RoutineInfo { function: String },
    /// GET/HEAD on `/`.
    SchemaRead { headers_only: bool },
    /// OPTIONS on `/`.
    SchemaInfo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    Create,
    SingleUpsert,
    Update,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokeMethod {
    /// GET (`headers_only` = HEAD): arguments come from the query string; always read-only.
    Read { headers_only: bool },
    /// POST: arguments come from the body.
    Invoke,
}

impl Action {
    pub fn is_read_only(&self) -> bool {
        !matches!(
            self,
            Action::RelationMut { .. }
                | Action::Routine {
                    method: InvokeMethod::Invoke,
                    ..
                }
        )
    }
}

/// A request after parsing, before planning.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub action: Action,
    /// The schema the request targets (default schema, or the profile header's).
    pub schema: String,
    /// Whether the schema was chosen by content negotiation (several schemas exposed).
    pub negotiated_by_profile: bool,
    pub query: QueryParams,
    /// The page the client asked for at the top level (limit/offset ∩ Range header).
    pub top_level_range: Range,
    pub ranges: HashMap<String, Range>,
    pub payload: Option<Payload>,
    /// Columns named by `columns=` or by the keys of the payload.
    pub columns: BTreeSet<String>,
    pub preferences: Preferences,
    pub accept: Vec<MediaType>,
    /// The body's media type (`application/json` when absent).
    pub content_type: MediaType,
    pub method: String,
    /// The raw path, as sent (`request.path`).
    pub path: String,
}

/// The HTTP parts an [`ApiRequest`] is built from.
pub struct RawRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// Header names lower-cased, values as received (in order; repeats allowed).
    pub headers: &'a [(String, Vec<u8>)],
    pub body: &'a [u8],
}

impl RawRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// Percent-encodes everything but ASCII letters, digits and `-_.~`, with upper-case hex:
/// how PostgREST writes query strings it generates (Location).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Splits the path into percent-decoded segments like Wai's pathInfo: `/` has none, and a
/// trailing slash leaves an empty last segment (so `/todos/` is not `/todos`).
fn path_segments(path: &str) -> Result<Vec<String>, Error> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    trimmed
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| Error::ApiRequest(ApiRequestError::InvalidResourcePath))
        })
        .collect()
}

fn get_action(segments: &[String], method: &str) -> Result<Action, ApiRequestError> {
    enum Resource<'s> {
        Relation(&'s str),
        Routine(&'s str),
        Schema,
    }
    let resource = match segments {
        [] => Resource::Schema,
        [rel] => Resource::Relation(rel),
        [rpc, f] if rpc == "rpc" => Resource::Routine(f),
        _ => return Err(ApiRequestError::InvalidResourcePath),
    };
    use Action::*;
    Ok(match (resource, method) {
        (Resource::Routine(f), "HEAD") => Routine {
            function: f.into(),
            method: InvokeMethod::Read { headers_only: true },
        },
        (Resource::Routine(f), "GET") => Routine {
            function: f.into(),
            method: InvokeMethod::Read {
                headers_only: false,
            },
        },
        (Resource::Routine(f), "POST") => Routine {
            function: f.into(),
            method: InvokeMethod::Invoke,
        },
        (Resource::Routine(f), "OPTIONS") => RoutineInfo { function: f.into() },
        (Resource::Routine(_), m) => return Err(ApiRequestError::InvalidRpcMethod(m.into())),
        (Resource::Relation(r), "HEAD") => RelationRead {
            relation: r.into(),
            headers_only: true,
        },
        (Resource::Relation(r), "GET") => RelationRead {
            relation: r.into(),
            headers_only: false,
        },
        (Resource::Relation(r), "POST") => RelationMut {
            relation: r.into(),
            mutation: Mutation::Create,
        },
        (Resource::Relation(r), "PUT") => RelationMut {
            relation: r.into(),
            mutation: Mutation::SingleUpsert,
        },
        (Resource::Relation(r), "PATCH") => RelationMut {
            relation: r.into(),
            mutation: Mutation::Update,
        },
        (Resource::Relation(r), "DELETE") => RelationMut {
            relation: r.into(),
            mutation: Mutation::Delete,
        },
        (Resource::Relation(r), "OPTIONS") => RelationInfo { relation: r.into() },
        (Resource::Schema, "HEAD") => SchemaRead { headers_only: true },
        (Resource::Schema, "GET") => SchemaRead {
            headers_only: false,
        },
        (Resource::Schema, "OPTIONS") => SchemaInfo,
        (_, m) => return Err(ApiRequestError::UnsupportedMethod(m.into())),
    })
}

/// Picks the schema: `Accept-Profile` for reads, `Content-Profile` for writes.
fn get_schema(cfg: &AppConfig, raw: &RawRequest) -> Result<(String, bool), ApiRequestError> {
    let header = match raw.method {
        "DELETE" | "PATCH" | "POST" | "PUT" => "content-profile",
        _ => "accept-profile",
    };
    match raw.header(header) {
        Some(p) => {
            let p = String::from_utf8_lossy(p).into_owned();
            if cfg.db_schemas.contains(&p) {
                Ok((p, true))
            } else {
                Err(ApiRequestError::UnacceptableSchema {
                    schema: p,
                    exposed: cfg.db_schemas.clone(),
                })
            }
        }
        None => Ok((cfg.default_schema().to_string(), cfg.db_schemas.len() != 1)),
    }
}

/// Builds the [`ApiRequest`], failing with PostgREST's error for the first problem found.
pub fn user_api_request(cfg: &AppConfig, raw: &RawRequest) -> Result<ApiRequest, Error> {
    let segments = path_segments(raw.path)?;
    let (schema, negotiated_by_profile) = get_schema(cfg, raw)?;
    let action = get_action(&segments, raw.method)?;
    let is_rpc_read = matches!(
        action,
        Action::Routine {
            method: InvokeMethod::Read { .. },
            ..
        }
    );
    let query = query_params::parse(is_rpc_read, raw.query)?;
    // A limited PATCH/DELETE changes the rows an explicit order picks, never arbitrary ones.
    if matches!(raw.method, "PATCH" | "DELETE")
        && !query.ranges.is_empty()
        && query.order.is_empty()
    {
        return Err(ApiRequestError::LimitNoOrder.into());
    }
    let (top_level_range, ranges) = range::top_level_range(
        raw.method,
        &query.ranges,
        raw.header_str("range"),
    )
    .map_err(|e| match e {
        range::TopLevelRangeError::PutLimitNotAllowed => ApiRequestError::PutLimitNotAllowed,
        range::TopLevelRangeError::InvalidRange(r) => ApiRequestError::InvalidRange(r),
    })?;
    let content_type = raw
        .header_str("content-type")
        .map(media_type::decode_media_type)
        .unwrap_or(MediaType::ApplicationJson);
    let payload_action = match &action {
        Action::RelationMut {
            mutation: Mutation::Create,
            ..
        } => PayloadAction::Insert,
        Action::RelationMut {
            mutation: Mutation::Update,
            ..
        } => PayloadAction::Update,
        Action::RelationMut {
            mutation: Mutation::SingleUpsert,
            ..
        } => PayloadAction::Upsert,
        Action::RelationMut {
            mutation: Mutation::Delete,
            ..
        } => PayloadAction::Delete,
        Action::Routine {
            method: InvokeMethod::Invoke,
            ..
        } => PayloadAction::Invoke,
        _ => PayloadAction::Other,
    };
    let (payload, columns) = payload::get_payload(
        raw.body,
        &content_type,
        query.columns.as_deref(),
        payload_action,
    )
    .map_err(ApiRequestError::InvalidBody)?;
    let preferences = preferences::from_headers(
        cfg.db_tx_allow_override,
        raw.headers
            .iter()
            .filter(|(k, _)| k == "prefer")
            .filter_map(|(_, v)| std::str::from_utf8(v).ok()),
    );
    Ok(ApiRequest {
        action,
        schema,
        negotiated_by_profile,
        query,
        top_level_range,
        ranges,
        payload,
        columns,
        preferences,
        accept: media_type::parse_accept(raw.header_str("accept")),
        content_type,
        method: raw.method.to_string(),
        path: raw.path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_methods() {
        let seg = |p: &str| path_segments(p).unwrap();
        assert_eq!(
            get_action(&seg("/todos"), "GET").unwrap(),
            Action::RelationRead {
                relation: "todos".into(),
                headers_only: false
            }
        );
        assert_eq!(
            get_action(&seg("/todos"), "HEAD").unwrap(),
            Action::RelationRead {
                relation: "todos".into(),
                headers_only: true
            }
        );
        assert_eq!(
            get_action(&seg("/todos/"), "GET"),
            Err(ApiRequestError::InvalidResourcePath)
        );
        assert_eq!(
            get_action(&seg("/"), "OPTIONS").unwrap(),
            Action::SchemaInfo
        );
        assert_eq!(
            get_action(&seg("/rpc/f"), "PATCH"),
            Err(ApiRequestError::InvalidRpcMethod("PATCH".into()))
        );
        assert_eq!(
            get_action(&seg("/a/b"), "GET"),
            Err(ApiRequestError::InvalidResourcePath)
        );
        assert_eq!(
            get_action(&seg("/todos"), "TRACE"),
            Err(ApiRequestError::UnsupportedMethod("TRACE".into()))
        );
        assert_eq!(
            get_action(&seg("/"), "POST"),
            Err(ApiRequestError::UnsupportedMethod("POST".into()))
        );
        assert_eq!(seg("/t%C3%A9l%C3%A9"), vec!["télé".to_string()]);
        assert!(path_segments("/%FF").is_err());
    }
}
