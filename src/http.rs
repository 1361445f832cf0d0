//! The HTTP side of a worker: one thread with a current-thread tokio runtime and hyper
//! (HTTP/1.1, keep-alive). It never calls into PostgreSQL: it parses requests, verifies
//! JWTs, answers what needs no database (parse errors, auth errors, CORS preflight), and
//! hands everything else to the worker's main thread as plain Rust data through a bounded
//! queue plus an eventfd that the main thread waits on together with its latch.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::os::fd::{FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{oneshot, Notify};

use crate::api_request::{self, ApiRequest, RawRequest};
use crate::auth::{self, AuthResult};
use crate::config::AppConfig;
use crate::error::{ApiRequestError, Error};
use crate::response::HttpResponse;

/// Largest request head (request line + headers); larger ones get 431 from hyper.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Time a client has to send a complete request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A request ready for the main thread.
pub struct Request {
    pub config: Arc<AppConfig>,
    pub api: ApiRequest,
    pub auth: AuthResult,
    /// `request.headers`: lower-cased names, Cookie excluded.
    pub headers_json: String,
    /// `request.cookies`.
    pub cookies_json: String,
    /// What pg_stat_activity shows while the request runs.
    pub activity: String,
}

pub struct Job {
    pub request: Request,
    pub reply: oneshot::Sender<HttpResponse>,
    pub enqueued: Instant,
}

/// State shared by the HTTP thread and the main thread of one worker.
pub struct Shared {
    pub config: RwLock<Arc<AppConfig>>,
    pub jobs: SyncSender<Job>,
    /// eventfd the main thread waits on; written after each job is queued.
    pub wake_fd: RawFd,
    pub shutdown: AtomicBool,
    pub shutdown_notify: Notify,
    /// Set when the worker refuses to serve (e.g. the authenticator is a superuser).
    pub refusal: RwLock<Option<Error>>,
}

impl Shared {
    pub fn wake_main(&self) {
        let one: u64 = 1;
        unsafe {
            libc::write(self.wake_fd, &one as *const u64 as *const libc::c_void, 8);
        }
    }

    fn config(&self) -> Arc<AppConfig> {
        self.config
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
}

/// Spawns the HTTP thread with every signal blocked, so signals always reach the main thread.
pub fn spawn(
    listeners: Vec<RawFd>,
    shared: Arc<Shared>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let handle = std::thread::Builder::new()
            .name("pgrest-http".into())
            .spawn(move || run(listeners, shared));
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        handle
    }
}

fn run(listeners: Vec<RawFd>, shared: Arc<Shared>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .on_thread_start(|| unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
        })
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pgrest: could not start the HTTP runtime: {e}");
            return;
        }
    };
    rt.block_on(async {
        let mut tasks = Vec::new();
        for fd in listeners {
            // The fd belongs to the postmaster too; duplicate it so dropping ours closes only ours.
            let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
            if dup < 0 {
                eprintln!(
                    "pgrest: could not duplicate listening socket: {}",
                    std::io::Error::last_os_error()
                );
                continue;
            }
            let std_listener = unsafe { std::net::TcpListener::from_raw_fd(dup) };
            let listener = match std_listener
                .set_nonblocking(true)
                .and_then(|_| tokio::net::TcpListener::from_std(std_listener))
            {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("pgrest: could not use listening socket: {e}");
                    continue;
                }
            };
            tasks.push(tokio::spawn(accept_loop(listener, shared.clone())));
        }
        shared.shutdown_notify.notified().await;
        for t in tasks {
            t.abort();
        }
    });
    // Give connections a moment to flush responses the main thread already produced.
    rt.shutdown_timeout(Duration::from_millis(500));
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                continue;
            }
        };
        if shared.shutdown.load(Ordering::Relaxed) {
            return;
        }
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, req).await) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .keep_alive(true)
                // A client may shut down its write side and wait for the answer.
                .half_close(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Request headers as (lower-cased name, raw value), in order.
fn header_list(headers: &hyper::HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
        .collect()
}

/// `request.headers` and `request.cookies` as PostgREST builds them (last value wins).
fn request_gucs(headers: &[(String, Vec<u8>)]) -> (String, String) {
    let mut h = BTreeMap::new();
    let mut cookies = BTreeMap::new();
    for (k, v) in headers {
        let value = String::from_utf8_lossy(v).into_owned();
        if k == "cookie" {
            for pair in value.split(';') {
                if let Some((name, val)) = pair.split_once('=') {
                    cookies.insert(
                        name.trim().to_string(),
                        serde_json::Value::String(val.trim().to_string()),
                    );
                }
            }
        } else {
            h.insert(k.clone(), serde_json::Value::String(value));
        }
    }
    (
        serde_json::Value::Object(h.into_iter().collect()).to_string(),
        serde_json::Value::Object(cookies.into_iter().collect()).to_string(),
    )
}

async fn read_body(
    body: Incoming,
    limit: usize,
    content_length: Option<u64>,
) -> Result<Bytes, Error> {
    let too_large = || Error::ApiRequest(ApiRequestError::PayloadTooLarge(limit));
    if content_length.is_some_and(|l| l > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(_) => Err(Error::ApiRequest(ApiRequestError::InvalidBody(
            "Could not read the request body".into(),
        ))),
    }
}

async fn process(
    shared: &Shared,
    cfg: Arc<AppConfig>,
    req: hyper::Request<Incoming>,
) -> Result<HttpResponse, Error> {
    if let Some(e) = shared.refusal.read().ok().and_then(|r| r.clone()) {
        return Err(e);
    }
    let (parts, body) = req.into_parts();
    let headers = header_list(&parts.headers);
    let authorization = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let auth = auth::authenticate(&cfg, authorization, now_secs())?;
    let content_length = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = if body.is_end_stream() {
        Bytes::new() // GET, HEAD, DELETE: nothing to read.
    } else {
        read_body(body, cfg.server_max_body_size, content_length).await?
    };
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let raw = RawRequest {
        method: parts.method.as_str(),
        path,
        query,
        headers: &headers,
        body: &body,
    };
    let api = api_request::user_api_request(&cfg, &raw)?;
    let (headers_json, cookies_json) = request_gucs(&headers);
    let activity = match parts.uri.query() {
        Some(q) => format!("{} {}?{}", parts.method, path, q),
        None => format!("{} {}", parts.method, path),
    };
    let (tx, rx) = oneshot::channel();
    let job = Job {
        request: Request {
            config: cfg,
            api,
            auth,
            headers_json,
            cookies_json,
            activity,
        },
        reply: tx,
        enqueued: Instant::now(),
    };
    match shared.jobs.try_send(job) {
        Ok(()) => shared.wake_main(),
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            return Err(Error::AcquisitionTimeout)
        }
    }
    rx.await
        .map_err(|_| Error::Internal("the worker stopped before answering".into()))
}

/// CORS as PostgREST configures wai-cors: only when the request has an Origin.
fn allowed_origin(cfg: &AppConfig, origin: &str) -> Option<(String, bool)> {
    match &cfg.server_cors_allowed_origins {
        None => Some(("*".into(), false)),
        Some(list) if list.is_empty() => Some(("*".into(), false)),
        Some(list) => list
            .iter()
            .any(|o| o == origin)
            .then(|| (origin.to_string(), true)),
    }
}

fn preflight(cfg: &AppConfig, req: &hyper::Request<Incoming>) -> Option<HttpResponse> {
    if req.method() != hyper::Method::OPTIONS {
        return None;
    }
    let origin = req.headers().get(hyper::header::ORIGIN)?.to_str().ok()?;
    req.headers()
        .get(hyper::header::ACCESS_CONTROL_REQUEST_METHOD)?;
    let (allow, credentials) = allowed_origin(cfg, origin)?;
    let mut allow_headers = vec!["Authorization".to_string()];
    if let Some(h) = req
        .headers()
        .get(hyper::header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
    {
        allow_headers.extend(
            h.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    allow_headers.extend(["Accept", "Accept-Language", "Content-Language"].map(String::from));
    let mut headers = vec![
        ("Access-Control-Allow-Origin".to_string(), allow),
        (
            "Access-Control-Allow-Methods".to_string(),
            "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD".to_string(),
        ),
        (
            "Access-Control-Allow-Headers".to_string(),
            allow_headers.join(", "),
        ),
        ("Access-Control-Max-Age".to_string(), "86400".to_string()),
    ];
    if credentials {
        headers.push((
            "Access-Control-Allow-Credentials".to_string(),
            "true".to_string(),
        ));
    }
    Some(HttpResponse {
        status: 200,
        headers,
        body: Vec::new(),
    })
}

async fn handle(shared: &Shared, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let cfg = shared.config();
    let is_head = req.method() == hyper::Method::HEAD;
    let origin = req
        .headers()
        .get(hyper::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut response = match preflight(&cfg, &req) {
        Some(r) => r,
        None => match process(shared, cfg.clone(), req).await {
            Ok(r) => r,
            Err(e) => HttpResponse::from_error(&e),
        },
    };
    if let Some((allow, credentials)) = origin.as_deref().and_then(|o| allowed_origin(&cfg, o)) {
        if response.header("Access-Control-Allow-Origin").is_none() {
            response
                .headers
                .push(("Access-Control-Allow-Origin".into(), allow));
            if credentials {
                response
                    .headers
                    .push(("Access-Control-Allow-Credentials".into(), "true".into()));
            }
            response.headers.push((
                "Access-Control-Expose-Headers".into(),
                "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, Server, \
                 Transfer-Encoding, Range-Unit"
                    .into(),
            ));
        }
    }
    to_hyper(response, is_head)
}

fn to_hyper(r: HttpResponse, is_head: bool) -> hyper::Response<Full<Bytes>> {
    let body = if is_head {
        Bytes::new()
    } else {
        Bytes::from(r.body)
    };
    let mut out = hyper::Response::new(Full::new(body));
    *out.status_mut() =
        hyper::StatusCode::from_u16(r.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    for (k, v) in r.headers {
        // Headers set by SQL (response.headers) may be invalid: drop those rather than fail.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            headers.append(name, value);
        }
    }
    headers.insert(
        hyper::header::SERVER,
        HeaderValue::from_static(concat!("pgrest/", env!("CARGO_PKG_VERSION"))),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gucs_from_headers() {
        let headers = vec![
            ("user-agent".to_string(), b"curl".to_vec()),
            ("cookie".to_string(), b"a=1; b=two".to_vec()),
            ("x-dup".to_string(), b"first".to_vec()),
            ("x-dup".to_string(), b"second".to_vec()),
        ];
        let (h, c) = request_gucs(&headers);
        assert_eq!(h, r#"{"user-agent":"curl","x-dup":"second"}"#);
        assert_eq!(c, r#"{"a":"1","b":"two"}"#);
    }
}
