//! Builds the HTTP response of a request from its plan and its result row: status,
//! Content-Range, Location, Content-Type, Preference-Applied, and the overrides a function
//! can set through the `response.headers` / `response.status` settings. PostgREST's
//! `Response` module, for the actions pgrest supports.

use serde_json::Value;

use crate::api_request::preferences::{PreferRepresentation, PreferResolution, Preferences};
use crate::api_request::range::{content_range, range_status, RangeError};
use crate::api_request::{ApiRequest, Mutation};
use crate::error::{ApiRequestError, Error, Header};
use crate::executor::ResultSet;
use crate::plan::call::Returns;
use crate::plan::{ActionPlan, Aggregate, MutatePlan};

/// A response as plain data, built on the main thread and written by the HTTP thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// A reason phrase other than the status code's own, as PostgREST sends for errors raised
    /// with SQLSTATE `PTnnn` (the message) or `PGRST` (`status_text`).
    pub reason: Option<String>,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// PostgREST's error response: JSON body, `Proxy-Status`, and the error's own headers.
    pub fn from_error(e: &Error) -> HttpResponse {
        let mut headers = vec![
            (
                "Content-Type".to_string(),
                "application/json; charset=utf-8".to_string(),
            ),
            (
                "Proxy-Status".to_string(),
                format!("PostgREST; error={}", e.code()),
            ),
        ];
        headers.extend(e.headers());
        HttpResponse {
            status: e.status(),
            reason: e.reason(),
            headers,
            body: e.body().into_bytes(),
        }
    }
}

fn content_type_headers(api: &ApiRequest, plan: &ActionPlan) -> Vec<Header> {
    let mut h = Vec::new();
    if let Some(media) = plan.media() {
        h.push(("Content-Type".to_string(), media.content_type()));
    }
    if api.negotiated_by_profile {
        h.push(("Content-Profile".to_string(), api.schema.clone()));
    }
    h
}

/// The preferences honoured for this action (PostgREST's responsePreferences).
fn applied_preferences(api: &ApiRequest, plan: &ActionPlan) -> Option<String> {
    let p = &api.preferences;
    let (mutation, upsert) = match plan {
        ActionPlan::Mutate {
            mutation,
            mutate: MutatePlan::Insert { on_conflict, .. },
            ..
        } => (Some(*mutation), on_conflict.is_some()),
        ActionPlan::Mutate { mutation, .. } => (Some(*mutation), false),
        _ => (None, false),
    };
    let applied = Preferences {
        // Only when the table has a key (or `on_conflict` names one) to resolve on.
        resolution: p
            .resolution
            .filter(|_| upsert && mutation == Some(Mutation::Create)),
        representation: mutation.and(p.representation),
        count: p.count,
        transaction: p.transaction,
        missing: p
            .missing
            .filter(|_| matches!(mutation, Some(Mutation::Create | Mutation::Update))),
        handling: p.handling,
        timezone: p.timezone.clone(),
        max_affected: (matches!(mutation, Some(Mutation::Update | Mutation::Delete))
            || matches!(plan, ActionPlan::Call { .. }))
        .then_some(p.max_affected)
        .flatten(),
        invalid: Vec::new(),
    };
    applied.applied_header()
}

/// A page of rows (a read or a call's result): status and Content-Range from the range,
/// Content-Location for relations, the body (PostgREST's 416 body past the end).
fn page(
    api: &ApiRequest,
    plan: &ActionPlan,
    rs: &ResultSet,
    aggregate: Aggregate,
    location: Option<String>,
    headers: &mut Vec<Header>,
) -> (u16, Vec<u8>) {
    let (status, range) = range_status(&api.top_level_range, rs.page_total, rs.total_result_set);
    headers.push(("Content-Range".into(), range));
    if let Some(l) = location {
        headers.push(("Content-Location".into(), l));
    }
    headers.extend(content_type_headers(api, plan));
    if let Some(p) = applied_preferences(api, plan) {
        headers.push(("Preference-Applied".into(), p));
    }
    let body = if status == 416 {
        out_of_bounds(api, rs)
    } else if aggregate == Aggregate::None {
        Vec::new()
    } else {
        rs.body.clone().unwrap_or_default()
    };
    (status, body)
}

/// The body of a 416: the page starts past the end.
fn out_of_bounds(api: &ApiRequest, rs: &ResultSet) -> Vec<u8> {
    let e = Error::from(ApiRequestError::InvalidRange(RangeError::OutOfBounds {
        lower: api.top_level_range.offset().to_string(),
        total: rs.total_result_set.unwrap_or(0).to_string(),
    }));
    e.body().into_bytes()
}

/// Location of a single inserted row: `/todos?id=eq.5`, percent-encoded like PostgREST.
fn location(relation: &str, pairs_json: &str) -> Option<String> {
    let pairs: Vec<(String, Option<String>)> =
        serde_json::from_str::<Vec<(String, Option<String>)>>(pairs_json).ok()?;
    let enc = |s: &str| crate::api_request::url_encode(s);
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{}={}", enc(k), enc(&format!("eq.{v}"))),
            None => format!("{}={}", enc(k), enc("is.null")),
        })
        .collect();
    Some(format!("/{}?{}", enc(relation), query.join("&")))
}

/// Headers that frame the HTTP message: only the HTTP layer may set them.
pub(crate) const FRAMING_HEADERS: [&str; 4] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
];

/// The response and the names of framing headers that `response.headers` tried to set
/// and that were dropped (the caller logs them).
pub(crate) type ActionResponse = (HttpResponse, Vec<String>);

/// Applies `response.status` and `response.headers` (headers set by SQL replace PostgREST's
/// headers of the same name; framing headers are dropped and returned).
fn override_status_headers(
    rs: &ResultSet,
    status: u16,
    headers: Vec<Header>,
) -> Result<(u16, Vec<Header>, Vec<String>), Error> {
    let status = match &rs.response_status {
        None => status,
        Some(s) => match s.trim().parse::<u16>() {
            Ok(n) if (100..=999).contains(&n) => n,
            _ => return Err(ApiRequestError::GucStatus.into()),
        },
    };
    let guc_headers: Vec<Header> = match &rs.response_headers {
        None => Vec::new(),
        Some(raw) => {
            let parsed: Value =
                serde_json::from_str(raw).map_err(|_| Error::from(ApiRequestError::GucHeaders))?;
            let items = parsed.as_array().ok_or(ApiRequestError::GucHeaders)?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let obj = item
                    .as_object()
                    .filter(|o| o.len() == 1)
                    .ok_or(ApiRequestError::GucHeaders)?;
                let (k, v) = obj.iter().next().ok_or(ApiRequestError::GucHeaders)?;
                let v = v.as_str().ok_or(ApiRequestError::GucHeaders)?;
                out.push((k.clone(), v.to_string()));
            }
            out
        }
    };
    let (dropped, guc_headers): (Vec<Header>, Vec<Header>) =
        guc_headers.into_iter().partition(|(k, _)| {
            FRAMING_HEADERS
                .iter()
                .any(|f| f.eq_ignore_ascii_case(k.trim()))
        });
    let mut merged: Vec<Header> = headers
        .into_iter()
        .filter(|(k, _)| !guc_headers.iter().any(|(g, _)| g.eq_ignore_ascii_case(k)))
        .collect();
    merged.extend(guc_headers);
    Ok((
        status,
        merged,
        dropped.into_iter().map(|(k, _)| k).collect(),
    ))
}

/// The response of a successful action. `rs.total_result_set` is the total to report (the
/// executor resolved planned and estimated counts).
pub(crate) fn action_response(
    api: &ApiRequest,
    plan: &ActionPlan,
    rs: &ResultSet,
) -> Result<ActionResponse, Error> {
    let mut headers: Vec<Header> = Vec::new();
    if let Some(media @ crate::api_request::media_type::MediaType::VndPlan { .. }) = plan.media() {
        // The EXPLAIN of the statement, as PostgREST answers `vnd.pgrst.plan`.
        headers.push(("Content-Type".into(), media.content_type()));
        let (status, headers, dropped) = override_status_headers(rs, 200, headers)?;
        return Ok((
            HttpResponse {
                status,
                reason: None,
                headers,
                body: rs.body.clone().unwrap_or_default(),
            },
            dropped,
        ));
    }
    let (status, body) = match plan {
        ActionPlan::RelationInfo { .. } => {
            return Err(Error::Internal(
                "OPTIONS answered before its privileges were known".into(),
            ));
        }
        ActionPlan::OpenApi { .. } => {
            headers.extend(content_type_headers(api, plan));
            (200, rs.body.clone().unwrap_or_default())
        }
        ActionPlan::Info { allow } => {
            headers.push(("Access-Control-Allow-Origin".into(), "*".into()));
            headers.push(("Allow".into(), allow.clone()));
            (200, Vec::new())
        }
        ActionPlan::Read {
            read, aggregate, ..
        } => {
            let relation_path = format!("/{}", crate::api_request::url_encode(&read.relation));
            let location = if api.query.canonical.is_empty() {
                relation_path
            } else {
                format!("{relation_path}?{}", api.query.canonical)
            };
            page(api, plan, rs, *aggregate, Some(location), &mut headers)
        }
        ActionPlan::Call { call, .. } if call.returns == Returns::Void => {
            // No body, but the range of the one (void) row, as PostgREST sends it.
            let (_, range) = range_status(&api.top_level_range, rs.page_total, rs.total_result_set);
            headers.push(("Content-Range".into(), range));
            if let Some(p) = applied_preferences(api, plan) {
                headers.push(("Preference-Applied".into(), p));
            }
            (204, Vec::new())
        }
        ActionPlan::Call { aggregate, .. } => page(api, plan, rs, *aggregate, None, &mut headers),
        ActionPlan::Mutate {
            mutation,
            mutate,
            aggregate,
            ..
        } => {
            let total = rs.total_result_set;
            let representation = api.preferences.representation == Some(PreferRepresentation::Full);
            match mutation {
                Mutation::Create => {
                    if let Some(loc) = rs
                        .location
                        .as_deref()
                        .and_then(|l| location(mutate.relation(), l))
                    {
                        headers.push(("Location".into(), loc));
                    }
                    headers.push(("Content-Range".into(), content_range(1, 0, total)));
                }
                Mutation::Update => headers.push((
                    "Content-Range".into(),
                    content_range(0, rs.page_total - 1, total),
                )),
                Mutation::Delete => {
                    headers.push(("Content-Range".into(), content_range(1, 0, total)))
                }
                Mutation::SingleUpsert => {}
            }
            if let Some(p) = applied_preferences(api, plan) {
                headers.push(("Preference-Applied".into(), p));
            }
            let merged = api.preferences.resolution == Some(PreferResolution::MergeDuplicates);
            let created = rs.inserted.is_some_and(|n| n > 0);
            let status = match mutation {
                // A merge that only updated rows created nothing.
                Mutation::Create if merged && !created => 200,
                Mutation::Create => 201,
                Mutation::SingleUpsert if !representation => 204,
                Mutation::SingleUpsert if created => 201,
                Mutation::SingleUpsert => 200,
                Mutation::Update | Mutation::Delete if representation => 200,
                Mutation::Update | Mutation::Delete => 204,
            };
            if representation && *aggregate != Aggregate::None {
                headers.extend(content_type_headers(api, plan));
                (status, rs.body.clone().unwrap_or_default())
            } else {
                (status, Vec::new())
            }
        }
    };
    let (status, mut headers, dropped) = override_status_headers(rs, status, headers)?;
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("vary")) {
        headers.push(("Vary".into(), "Accept, Prefer, Range".into()));
    }
    Ok((
        HttpResponse {
            status,
            reason: None,
            headers,
            body,
        },
        dropped,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_is_encoded() {
        assert_eq!(
            location("todos", r#"[["id","5"]]"#).unwrap(),
            "/todos?id=eq.5"
        );
        assert_eq!(
            location("car models", r#"[["name","Enzo Ferrari"],["year",null]]"#).unwrap(),
            "/car%20models?name=eq.Enzo%20Ferrari&year=is.null"
        );
    }

    #[test]
    fn guc_overrides() {
        let rs = ResultSet {
            response_headers: Some(
                r#"[{"Content-Type":"text/plain"},{"Set-Cookie":"a=1"},{"Set-Cookie":"b=2"}]"#
                    .into(),
            ),
            response_status: Some("418".into()),
            ..Default::default()
        };
        let (s, h, dropped) = override_status_headers(
            &rs,
            200,
            vec![
                ("content-type".into(), "application/json".into()),
                ("Content-Range".into(), "0-0/*".into()),
            ],
        )
        .unwrap();
        assert_eq!(s, 418);
        assert_eq!(
            h,
            vec![
                ("Content-Range".to_string(), "0-0/*".to_string()),
                ("Content-Type".to_string(), "text/plain".to_string()),
                ("Set-Cookie".to_string(), "a=1".to_string()),
                ("Set-Cookie".to_string(), "b=2".to_string()),
            ]
        );
        assert!(dropped.is_empty());
        let framing = ResultSet {
            response_headers: Some(
                r#"[{"Content-Length":"1"},{"transfer-encoding":"chunked"},{"Connection":"close"},{"X-A":"b"}]"#
                    .into(),
            ),
            ..Default::default()
        };
        let (_, h, dropped) = override_status_headers(&framing, 200, vec![]).unwrap();
        assert_eq!(h, vec![("X-A".to_string(), "b".to_string())]);
        assert_eq!(
            dropped,
            ["Content-Length", "transfer-encoding", "Connection"]
        );
        let bad = ResultSet {
            response_headers: Some(r#"{"a":"b"}"#.into()),
            ..Default::default()
        };
        assert_eq!(
            override_status_headers(&bad, 200, vec![])
                .unwrap_err()
                .code(),
            "PGRST111"
        );
        let bad = ResultSet {
            response_status: Some("abc".into()),
            ..Default::default()
        };
        assert_eq!(
            override_status_headers(&bad, 200, vec![])
                .unwrap_err()
                .code(),
            "PGRST112"
        );
    }
}
