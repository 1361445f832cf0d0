//! The admin server (`pgrest.admin_server_port`), served by every worker's HTTP thread from
//! shared memory, never from the database:
//! - `/live`: 200 while the worker answering runs (500 once it is shutting down);
//! - `/ready`: 200 when some worker's main thread is connected and serving with a loaded
//!   schema cache, 503 otherwise;
//! - `/metrics`: the Prometheus text format (`crate::metrics`).
//!
//! Bodies are empty but for `/metrics`; any other path is 404, as PostgREST's.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

use super::{pool, Shared, SHUTDOWN_REQUESTED};
use crate::metrics::PoolGauges;

/// Accepts admin connections until the task is aborted (at shutdown).
pub(super) async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let response = answer(&shared, req.uri().path(), req.method());
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(shared: &Shared, path: &str, method: &hyper::Method) -> hyper::Response<Full<Bytes>> {
    let live = !SHUTDOWN_REQUESTED.load(Ordering::SeqCst);
    let workers = shared.endpoints.inbox.len();
    let (status, body) = match path {
        "/live" => (if live { 200 } else { 500 }, None),
        "/ready" => {
            let snapshot = pool().snapshot(workers);
            let serving = snapshot.states.iter().any(|s| *s != "offline");
            let ready = live && serving && crate::any_cache_loaded(workers);
            (if ready { 200 } else { 503 }, None)
        }
        "/metrics" => {
            let snapshot = pool().snapshot(workers);
            let count = |state: &str| snapshot.states.iter().filter(|s| **s == state).count();
            let gauges = PoolGauges {
                idle: count("idle"),
                busy: count("busy"),
                waiting: snapshot.waiting,
                max: workers,
            };
            let text = crate::metrics()
                .map(|m| m.render(gauges))
                .unwrap_or_default();
            (200, Some(text))
        }
        _ => (404, None),
    };
    let is_metrics = body.is_some();
    let body = match body {
        Some(text) if method != hyper::Method::HEAD => Bytes::from(text),
        _ => Bytes::new(),
    };
    let mut response = hyper::Response::new(Full::new(body));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if is_metrics {
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
    }
    response
}
