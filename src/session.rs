//! The API from SQL: `pgrest.request()` runs a request through the very pipeline the
//! workers use (parse, plan, one statement, role switch, request settings) in the calling
//! session, and `pgrest.sql()` shows the statement a request would run.
//!
//! Security model: the caller stands where the workers' authenticator stands. The request's
//! role (the JWT's, or `pgrest.db_anon_role`) must be one the caller's session user may
//! become (`SET ROLE` rules: a member of it, or a superuser); otherwise the call is an SQL
//! error, not an HTTP answer. Tokens are verified with `pgrest.jwt_secret` exactly as over
//! HTTP. Nothing runs with more rights than that role has.
//!
//! Transactions: a request is a subtransaction of the caller's transaction, kept or rolled
//! back by the request's own rules (`pgrest.db_tx_end`, `Prefer: tx`, errors), so a test
//! that rolls back its transaction undoes every request it made. Every setting a request
//! makes (`role`, `request.*`, `search_path`…) ends with the call.

use std::sync::Arc;

use bytes::Bytes;
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::app::App;
use crate::config::AppConfig;
use crate::http::forward::RawParts;
use crate::response::HttpResponse;

/// The calling session's App: its executor keeps plans and its schema cache between calls.
static mut SESSION_APP: Option<App> = None;

fn session_app(config: &Arc<AppConfig>) -> &'static mut App {
    // Safety: backends are single-threaded; only this module touches it.
    let app = unsafe { &mut *std::ptr::addr_of_mut!(SESSION_APP) };
    let same_schemas = app.as_ref().is_some_and(|a| {
        a.config().db_schemas == config.db_schemas
            && a.config().db_extra_search_path == config.db_extra_search_path
    });
    if !same_schemas {
        *app = Some(App::session(config.clone()));
    }
    app.as_mut().expect("set above")
}

/// The request's parts, as the HTTP thread would have read them.
fn raw_parts(method: &str, path: &str, headers: &JsonB, body: Option<&str>) -> RawParts {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (path.to_string(), None),
    };
    let headers = match &headers.0 {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.to_ascii_lowercase(), value.into_bytes())
            })
            .collect(),
        serde_json::Value::Null => Vec::new(),
        _ => pgrx::error!("pgrest: headers must be a JSON object of header names and values"),
    };
    RawParts {
        method: method.to_ascii_uppercase(),
        path: if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        },
        query,
        headers,
        body: Bytes::from(body.unwrap_or_default().as_bytes().to_vec()),
    }
}

/// Fails the call unless the session user may become `role` (a missing role is left to the
/// pipeline, which answers it as PostgREST does).
fn check_role(role: &str) {
    let Ok(name) = std::ffi::CString::new(role) else {
        return;
    };
    unsafe {
        let oid = pg_sys::get_role_oid(name.as_ptr(), true);
        if oid != pg_sys::InvalidOid && !pg_sys::is_member_of_role(pg_sys::GetSessionUserId(), oid)
        {
            pgrx::ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                format!("pgrest: permission denied to run a request as role \"{role}\""),
                "The request's role must be one the session user may SET ROLE to."
            );
        }
    }
}

/// Reads the settings, prepares the request (JWT, parsing), checks its role and hands it to
/// `run` with the session's App. Every setting the request changes is undone afterwards
/// (as a function's SET clause does), whatever its subtransaction kept. `Err` is an HTTP
/// answer that ended it early. Also returns the settings and whether the method is HEAD.
fn in_session<T>(
    method: &str,
    path: &str,
    headers: &JsonB,
    body: Option<&str>,
    run: impl FnOnce(&mut App, &crate::http::Request) -> Result<T, HttpResponse>,
) -> (Arc<AppConfig>, bool, Result<T, HttpResponse>) {
    if crate::metrics().is_none() {
        pgrx::error!("pgrest: pgrest.request() needs pgrest in shared_preload_libraries");
    }
    let cfg = Arc::new(AppConfig::load());
    let parts = raw_parts(method, path, headers, body);
    let nest = unsafe { pg_sys::NewGUCNestLevel() };
    let result = crate::http::prepare(&cfg, &parts, crate::http::now_secs())
        .map_err(|e| HttpResponse::from_error(&e))
        .and_then(|request| {
            check_role(&request.auth.role);
            run(session_app(&cfg), &request)
        });
    unsafe { pg_sys::AtEOXact_GUC(false, nest) };
    (cfg, parts.method == "HEAD", result)
}

/// Runs an HTTP request through pgrest in this session and returns PostgREST's answer:
/// status, headers (an object; a repeated header's values joined by ", ") and body (NULL
/// when empty). `method` is case-insensitive; `path` includes the query string.
#[pg_extern(volatile, parallel_unsafe)]
fn request(
    method: &str,
    path: &str,
    headers: default!(JsonB, "'{}'"),
    body: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(status, i32),
        name!(headers, JsonB),
        name!(body, Option<String>),
    ),
> {
    let (cfg, is_head, result) = in_session(method, path, &headers, body, |app, request| {
        Ok(app.respond(request))
    });
    let response = result.unwrap_or_else(|answer| answer);
    let response = if cfg.minimal_errors {
        crate::http::minimal_error(response)
    } else {
        response
    };
    let mut object = serde_json::Map::new();
    for (k, v) in response.headers {
        match object.get_mut(&k) {
            Some(serde_json::Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&v);
            }
            _ => {
                object.insert(k, serde_json::Value::String(v));
            }
        }
    }
    let body = (!is_head && !response.body.is_empty())
        .then(|| String::from_utf8_lossy(&response.body).into_owned());
    TableIterator::once((
        response.status as i32,
        JsonB(serde_json::Value::Object(object)),
        body,
    ))
}

/// The SQL statement a request would run and its parameters (`$1`, `$2`… in order), without
/// running it. No row for requests that run no statement (OPTIONS).
#[pg_extern(volatile, parallel_unsafe)]
fn sql(
    method: &str,
    path: &str,
    headers: default!(JsonB, "'{}'"),
    body: default!(Option<&str>, "NULL"),
) -> TableIterator<'static, (name!(statement, String), name!(params, Vec<String>))> {
    let (_, _, planned) = in_session(method, path, &headers, body, |app, request| {
        app.statement(request)
            .map_err(|e| HttpResponse::from_error(&e))
    });
    match planned {
        Ok(Some(stmt)) => TableIterator::new(vec![(stmt.sql, stmt.params)]),
        Ok(None) => TableIterator::new(Vec::new()),
        Err(answer) => {
            let body = String::from_utf8_lossy(&answer.body).into_owned();
            pgrx::error!(
                "pgrest: the request is refused with {}: {body}",
                answer.status
            )
        }
    }
}
