//! The HTTP side of a worker: one thread with a current-thread tokio runtime and hyper
//! (HTTP/1.1, keep-alive). It never calls into PostgreSQL: it parses requests, verifies
//! JWTs and answers what needs no database (parse errors, auth errors, CORS preflight).
//!
//! Everything else needs a worker's main thread, and any free one will do: the shared pool
//! (`crate::pool`) reserves the reading worker's own main thread if it is idle, else any idle
//! one, else the request waits in the server-wide queue until a main thread takes it. Own
//! requests go to the main thread through a bounded queue plus an eventfd it waits on;
//! requests for other workers travel as raw HTTP parts over their inbox (`forward`). This
//! thread also serves its own inbox, and reads its mailbox in the pool when its eventfd says
//! a request of its was granted to another worker.
//!
//! On SIGTERM it stops accepting, answers what waits, lets the running request finish (a
//! statement still running after [`SHUTDOWN_GRACE`] is cancelled), closes idle keep-alive
//! connections and returns.

mod access_log;
mod admin;
mod caching;
pub(crate) mod forward;
pub(crate) mod io;
pub(crate) mod normalize;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::unix::AsyncFd;
use tokio::net::UnixStream;
use tokio::sync::{oneshot, watch, Notify};

use crate::api_request::{self, RawRequest};
use crate::auth::{self, AuthResult};
use crate::config::AppConfig;
use crate::error::{ApiRequestError, Error, PgError};
use crate::listener::{self, Endpoints};
use crate::pool::{self, Dispatch, Next};
use crate::response::HttpResponse;
use forward::{Forwarded, RawParts};

/// How long a request already running at SIGTERM may go on before its statement is
/// cancelled (documented in the README).
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// After the grace: the longest the HTTP thread waits for the last responses to be written.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);
/// Idle connections kept to each other worker's inbox.
const IDLE_PEER_CONNECTIONS: usize = 8;

/// Most access-log lines that wait for the main thread.
const MAX_LOG_BACKLOG: usize = 10_000;
static LOG_LINES_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Set by the worker's SIGTERM handler (async-signal-safe: an atomic store).
pub(crate) static SHUTDOWN_REQUESTED: AtomicBool = AtomicBool::new(false);

/// A request ready for a main thread.
pub struct Request {
    pub config: Arc<AppConfig>,
    pub api: api_request::ApiRequest,
    pub auth: AuthResult,
    /// `request.headers`: lower-cased names, Cookie excluded.
    pub headers_json: String,
    /// `request.cookies`.
    pub cookies_json: String,
    /// What pg_stat_activity shows while the request runs.
    pub activity: String,
    /// Test builds (`--features test_hooks`) only: the stage at which handling this request
    /// panics (header `x-pgrest-test-panic`), to prove every stage is guarded.
    pub panic_at: Option<String>,
}

impl Request {
    /// Panics if this request asked for a panic at `stage` (test builds only).
    pub fn test_panic(&self, stage: &str) {
        if self.panic_at.as_deref() == Some(stage) {
            panic!("injected panic at stage {stage}");
        }
    }
}

/// The stage named by `x-pgrest-test-panic`, in test builds.
fn panic_stage(headers: &[(String, Vec<u8>)]) -> Option<String> {
    if !cfg!(feature = "test_hooks") {
        return None;
    }
    headers
        .iter()
        .find(|(k, _)| k == "x-pgrest-test-panic")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

/// A request for this worker's main thread (which the pool reserved for it).
pub struct Job {
    /// Identifies the request within this process, for [`cancel_running`].
    pub id: u64,
    pub request: Request,
    pub reply: oneshot::Sender<HttpResponse>,
}

/// A request read by this worker that waits for a main thread.
pub(crate) struct Pending {
    /// Identifies the request within this process, for [`cancel_running`].
    pub id: u64,
    parts: RawParts,
    pub request: Request,
    pub reply: oneshot::Sender<HttpResponse>,
}

/// State shared by the HTTP thread and the main thread of one worker.
pub struct Shared {
    /// This worker's index and incarnation in the pool.
    pub index: usize,
    pub epoch: u32,
    pub endpoints: Endpoints,
    pub config: RwLock<Arc<AppConfig>>,
    pub jobs: SyncSender<Job>,
    /// Requests read here that wait for a main thread, by sequence number.
    waiting: Mutex<HashMap<u64, Pending>>,
    next_seq: AtomicU64,
    /// Set when the worker refuses to serve (e.g. the authenticator is a superuser).
    pub refusal: RwLock<Option<Error>>,
    /// The main thread is running a request (the statement to cancel after the grace).
    pub running: AtomicBool,
    /// The grace is over: the main thread answers what it still gets instead of running it.
    pub cancel_all: AtomicBool,
    /// The main thread is done; the HTTP thread only finishes writing.
    pub main_done: AtomicBool,
    /// The HTTP thread has returned (or is returning): nothing reads requests any more.
    pub http_stopped: AtomicBool,
    open_connections: AtomicUsize,
    connection_closed: Notify,
    /// Idle connections to other workers' inboxes, with the incarnation they were made for.
    peers: Mutex<Vec<Vec<(u32, UnixStream)>>>,
    /// Access-log lines for the main thread to write (see `access_log`).
    log_lines: Mutex<Vec<String>>,
}

impl Shared {
    pub fn new(
        index: usize,
        epoch: u32,
        endpoints: Endpoints,
        config: Arc<AppConfig>,
        jobs: SyncSender<Job>,
    ) -> Shared {
        let workers = endpoints.inbox.len();
        Shared {
            index,
            epoch,
            endpoints,
            config: RwLock::new(config),
            jobs,
            waiting: Mutex::new(HashMap::new()),
            // 0 means "no request" to the cancel bookkeeping.
            next_seq: AtomicU64::new(1),
            refusal: RwLock::new(None),
            running: AtomicBool::new(false),
            cancel_all: AtomicBool::new(false),
            main_done: AtomicBool::new(false),
            http_stopped: AtomicBool::new(false),
            open_connections: AtomicUsize::new(0),
            connection_closed: Notify::new(),
            peers: Mutex::new((0..workers).map(|_| Vec::new()).collect()),
            log_lines: Mutex::new(Vec::new()),
        }
    }

    /// Queues a line for the main thread to write to PostgreSQL's log, and wakes it. Beyond
    /// [`MAX_LOG_BACKLOG`] lines (a main thread busy with a long request while thousands
    /// are answered) lines are dropped, and the main thread says how many.
    fn log(&self, line: String) {
        let mut lines = self.log_lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() < MAX_LOG_BACKLOG {
            lines.push(line);
        } else {
            LOG_LINES_DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        drop(lines);
        self.wake_main();
    }

    /// The queued log lines, and how many were dropped since the last call.
    pub fn take_log_lines(&self) -> (Vec<String>, u64) {
        let lines = std::mem::take(&mut *self.log_lines.lock().unwrap_or_else(|p| p.into_inner()));
        (lines, LOG_LINES_DROPPED.swap(0, Ordering::Relaxed))
    }

    fn config(&self) -> Arc<AppConfig> {
        self.config
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Wakes this worker's main thread.
    pub fn wake_main(&self) {
        listener::wake(self.endpoints.exec_wake[self.index]);
    }

    /// Wakes this worker's HTTP thread.
    pub fn wake_http(&self) {
        listener::wake(self.endpoints.http_wake[self.index]);
    }

    /// Takes a waiting request out (the main thread runs the ones granted to it).
    pub fn take_waiting(&self, seq: u64) -> Option<Pending> {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&seq)
    }

    /// Acts on what the pool answered when a main thread became free, from any thread of
    /// this worker except where noted: a request of ours granted to `executor` is routed
    /// there, a grant for another worker wakes that worker. Returns the request when it is
    /// for this worker's own main thread and `keep_own` (the main thread runs it itself).
    pub fn follow(self: &Arc<Self>, mut next: Next, keep_own: bool) -> Option<Pending> {
        loop {
            match next {
                Next::Idle => return None,
                Next::Posted { origin } => {
                    listener::wake(self.endpoints.http_wake[origin]);
                    return None;
                }
                Next::Mine(g) => match self.take_waiting(g.seq) {
                    Some(p) if !p.reply.is_closed() => {
                        if keep_own && g.executor == self.index {
                            return Some(p);
                        }
                        self.route(p, g.executor, g.epoch);
                        return None;
                    }
                    // Timed out or the client went away meanwhile: free the main thread.
                    _ => next = pool().release(g.executor, g.epoch, self.index),
                },
            }
        }
    }

    /// Sends a request to the main thread reserved for it. HTTP thread only (it may spawn).
    fn route(self: &Arc<Self>, p: Pending, executor: usize, epoch: u32) {
        if executor == self.index {
            let job = Job {
                id: p.id,
                request: p.request,
                reply: p.reply,
            };
            match self.jobs.try_send(job) {
                Ok(()) => self.wake_main(),
                Err(e) => {
                    let (std::sync::mpsc::TrySendError::Full(job)
                    | std::sync::mpsc::TrySendError::Disconnected(job)) = e;
                    let _ = job
                        .reply
                        .send(HttpResponse::from_error(&unavailable("its queue is full")));
                    self.follow(pool().release(executor, epoch, self.index), false);
                }
            }
        } else {
            let shared = self.clone();
            tokio::spawn(async move {
                let mut reply = p.reply;
                // If the request's client goes away, dropping the forward closes the
                // connection to the other worker, which cancels the statement there.
                let answer = tokio::select! {
                    r = shared.forward(executor, epoch, &p.parts) => Some(r),
                    () = reply.closed() => None,
                };
                if let Some(r) = answer {
                    let _ = reply.send(r);
                }
            });
        }
    }

    /// Runs a request on another worker's main thread and returns its response.
    async fn forward(
        self: &Arc<Self>,
        executor: usize,
        epoch: u32,
        parts: &RawParts,
    ) -> HttpResponse {
        let frame = forward::encode_request(epoch, parts);
        // A connection made for an earlier incarnation of the worker leads nowhere.
        let pooled = self.peers.lock().ok().and_then(|mut p| {
            p[executor].retain(|(e, _)| *e == epoch);
            p[executor].pop().map(|(_, c)| c)
        });
        let conn = match pooled {
            Some(c) => Ok(c),
            None => forward::connect(self.endpoints.postmaster_pid, executor),
        };
        let result = match conn {
            Ok(mut c) => match forward::write_frame(&mut c, &frame).await {
                Ok(()) => match forward::read_frame(&mut c).await {
                    Ok(Some(f)) => forward::decode_response(&f).map(|r| (r, c)),
                    _ => None,
                },
                Err(_) => None,
            },
            Err(_) => None,
        };
        match result {
            Some((response, c)) => {
                if let Ok(mut p) = self.peers.lock() {
                    if p[executor].len() < IDLE_PEER_CONNECTIONS {
                        p[executor].push((epoch, c));
                    }
                }
                response
            }
            None => {
                // It never got (all of) the request: free its main thread. If the worker
                // is gone, its incarnation changed and this does nothing.
                self.follow(pool().release(executor, epoch, self.index), false);
                HttpResponse::from_error(&unavailable("the worker chosen for it stopped"))
            }
        }
    }
}

fn pool() -> &'static pool::Pool {
    crate::pool()
}

/// 503 for a request no worker can run.
fn unavailable(why: &str) -> Error {
    Error::Unavailable(format!("The request could not be executed: {why}."))
}

/// The answer to requests that are still waiting when the worker stops.
pub(crate) fn shutting_down() -> Error {
    Error::Pg(PgError {
        authenticated: false,
        sqlstate: "57P01".into(),
        message: "terminating connection due to administrator command".into(),
        detail: None,
        hint: None,
    })
}

/// Spawns the HTTP thread with every signal blocked, so signals always reach the main thread.
pub fn spawn(shared: Arc<Shared>) -> std::io::Result<std::thread::JoinHandle<()>> {
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let handle = std::thread::Builder::new()
            .name("pgrest-http".into())
            .spawn(move || run(shared));
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        handle
    }
}

/// Duplicates an inherited descriptor (the postmaster and later incarnations keep theirs).
fn dup(fd: RawFd) -> std::io::Result<OwnedFd> {
    let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if d < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(d) })
}

fn run(shared: Arc<Shared>) {
    // However this thread ends, the main thread must notice (it exits and is restarted).
    struct WakeMainOnExit(Arc<Shared>);
    impl Drop for WakeMainOnExit {
        fn drop(&mut self) {
            self.0.http_stopped.store(true, Ordering::SeqCst);
            self.0.wake_main();
        }
    }
    let _wake = WakeMainOnExit(shared.clone());
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
    if let Err(e) = rt.block_on(serve(shared.clone())) {
        eprintln!("pgrest: the HTTP thread stopped: {e}");
    }
    // Let connections flush what the main thread already answered.
    rt.shutdown_timeout(Duration::from_millis(200));
}

async fn serve(shared: Arc<Shared>) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut accepting = Vec::new();
    for &fd in &shared.endpoints.tcp {
        let std_listener = std::net::TcpListener::from(dup(fd)?);
        std_listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        accepting.push(tokio::spawn(accept_loop(
            listener,
            shared.clone(),
            stop_rx.clone(),
        )));
    }
    for &fd in &shared.endpoints.admin {
        let std_listener = std::net::TcpListener::from(dup(fd)?);
        std_listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        accepting.push(tokio::spawn(admin::accept_loop(listener, shared.clone())));
    }
    let inbox = std::os::unix::net::UnixListener::from(dup(shared.endpoints.inbox[shared.index])?);
    inbox.set_nonblocking(true)?;
    let inbox = tokio::net::UnixListener::from_std(inbox)?;
    let inbox_task = tokio::spawn(inbox_loop(inbox, shared.clone()));
    // Safety: the descriptor is owned by the AsyncFd and stays open as long as it.
    let wake = unsafe { AsyncFd::register(dup(shared.endpoints.http_wake[shared.index])?) }
        .map_err(|e| e.into_parts().1)?;

    // Until SIGTERM: read the mailbox whenever the eventfd says so.
    while !SHUTDOWN_REQUESTED.load(Ordering::SeqCst) {
        let mut ready = wake.readable().await?;
        listener::drain(shared.endpoints.http_wake[shared.index]);
        ready.clear_ready();
        read_mailbox(&shared);
    }

    // Stop reading new requests; finish the ones read; close idle keep-alive connections.
    for t in &accepting {
        t.abort();
    }
    let _ = stop_tx.send(true);
    let waiting: Vec<Pending> = shared
        .waiting
        .lock()
        .map(|mut w| w.drain().map(|(_, p)| p).collect())
        .unwrap_or_default();
    for p in waiting {
        let _ = p.reply.send(HttpResponse::from_error(&shutting_down()));
    }
    let grace_end = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    let mut cancelled = false;
    loop {
        let main_done = shared.main_done.load(Ordering::SeqCst);
        if main_done && shared.open_connections.load(Ordering::SeqCst) == 0 {
            break;
        }
        let now = tokio::time::Instant::now();
        if !cancelled && now >= grace_end {
            cancelled = true;
            shared.cancel_all.store(true, Ordering::SeqCst);
            if shared.running.load(Ordering::SeqCst) {
                // SIGINT reaches the main thread (every other thread blocks it), whose
                // StatementCancelHandler cancels the statement: the request gets 57014.
                cancels().stopping = true;
                unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
            }
            shared.wake_main();
        }
        if now >= grace_end + SHUTDOWN_FLUSH {
            break;
        }
        // Wake up for the main thread (eventfd), a closed connection, or the next deadline.
        let tick = tokio::time::sleep(Duration::from_millis(50));
        tokio::select! {
            _ = shared.connection_closed.notified() => {}
            r = wake.readable() => {
                if let Ok(mut g) = r {
                    listener::drain(shared.endpoints.http_wake[shared.index]);
                    g.clear_ready();
                }
                read_mailbox(&shared);
            }
            _ = tick => {}
        }
    }
    inbox_task.abort();
    Ok(())
}

/// Grants for requests of ours, posted by main threads of other workers.
fn read_mailbox(shared: &Arc<Shared>) {
    for g in pool().take_mail(shared.index) {
        shared.follow(Next::Mine(g), false);
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    loop {
        // Beyond the limit new connections wait in the kernel's backlog (or are taken by
        // another worker), never in this process's memory.
        loop {
            let closed = shared.connection_closed.notified();
            if shared.open_connections.load(Ordering::SeqCst)
                < shared.config().server_max_connections
            {
                break;
            }
            closed.await;
        }
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
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
        let _ = stream.set_nodelay(true);
        let client_fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
        shared.open_connections.fetch_add(1, Ordering::SeqCst);
        let guard = ConnectionGuard(shared.clone());
        let cfg = shared.config();
        let mut stop = stop.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, req, client_fd, peer).await) }
            });
            let io = io::WriteTimeout::new(
                normalize::NormalizeTarget::new(stream),
                cfg.server_write_timeout,
            );
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(cfg.server_head_timeout)
                .max_buf_size(cfg.server_max_head_size)
                .keep_alive(true)
                // A client may shut down its write side and wait for the answer.
                .half_close(true)
                .serve_connection(TokioIo::new(io), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = async { drop(stop.wait_for(|s| *s).await) } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

/// Counts a client connection while it is open.
struct ConnectionGuard(Arc<Shared>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::SeqCst);
        self.0.connection_closed.notify_waiters();
    }
}

/// Serves the inbox: requests other workers forward to this worker's main thread.
async fn inbox_loop(listener: tokio::net::UnixListener, shared: Arc<Shared>) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            while let Ok(Some(frame)) = forward::read_frame(&mut s).await {
                // A malformed frame: the sender sees the connection close and frees us.
                let Some(f) = forward::decode_request(&frame) else {
                    return;
                };
                // The sending worker closes the connection when the request's client went
                // away: dropping `run_forwarded` then cancels the statement.
                let response = tokio::select! {
                    r = run_forwarded(&shared, f) => r,
                    () = peer_left(&mut s) => return,
                };
                if forward::write_frame(&mut s, &forward::encode_response(&response))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}

/// Resolves when the worker that forwarded a request closes the connection (or writes
/// out of turn) while the request runs.
async fn peer_left(s: &mut UnixStream) {
    use tokio::io::AsyncReadExt;
    let mut byte = [0u8; 1];
    let _ = s.read(&mut byte).await;
}

async fn run_forwarded(shared: &Arc<Shared>, f: Forwarded) -> HttpResponse {
    if f.epoch != shared.epoch {
        // Meant for an earlier incarnation of this worker: nothing was reserved for it here.
        return HttpResponse::from_error(&unavailable("the worker chosen for it restarted"));
    }
    let cfg = shared.config();
    let prepared = prepare(&cfg, &f.parts, now_secs());
    let request = match prepared {
        Ok(r) => r,
        Err(e) => {
            // Our main thread was reserved for a request that will not run.
            shared.follow(
                pool().release(shared.index, shared.epoch, shared.index),
                false,
            );
            return HttpResponse::from_error(&e);
        }
    };
    let (tx, rx) = oneshot::channel();
    let id = shared.next_seq.fetch_add(1, Ordering::Relaxed);
    let _cancel = CancelOnDrop(id);
    shared.route(
        Pending {
            id,
            parts: f.parts,
            request,
            reply: tx,
        },
        shared.index,
        shared.epoch,
    );
    rx.await
        .unwrap_or_else(|_| HttpResponse::from_error(&unavailable("its worker stopped")))
}

pub(crate) fn now_secs() -> i64 {
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
    timeout: Duration,
) -> Result<Bytes, Error> {
    let too_large = || Error::ApiRequest(ApiRequestError::PayloadTooLarge(limit));
    if content_length.is_some_and(|l| l > limit as u64) {
        return Err(too_large());
    }
    let read = tokio::time::timeout(timeout, Limited::new(body, limit).collect());
    match read.await {
        Err(_) => Err(Error::ApiRequest(ApiRequestError::BodyTimeout(
            timeout.as_secs(),
        ))),
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Ok(Err(_)) => Err(Error::ApiRequest(ApiRequestError::InvalidBody(
            "Could not read the request body".into(),
        ))),
    }
}

/// Verifies the JWT and parses the request: everything but the database.
pub(crate) fn prepare(cfg: &Arc<AppConfig>, parts: &RawParts, now: i64) -> Result<Request, Error> {
    let authorization = parts
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.as_slice());
    let auth = auth::authenticate(cfg, authorization, now)?;
    parse(cfg, parts, auth)
}

fn parse(cfg: &Arc<AppConfig>, parts: &RawParts, auth: AuthResult) -> Result<Request, Error> {
    let raw = RawRequest {
        method: &parts.method,
        path: &parts.path,
        query: parts.query.as_deref().unwrap_or(""),
        headers: &parts.headers,
        body: &parts.body,
    };
    let api = api_request::user_api_request(cfg, &raw)?;
    let (headers_json, cookies_json) = request_gucs(&parts.headers);
    let activity = match &parts.query {
        Some(q) => format!("{} {}?{}", parts.method, parts.path, q),
        None => format!("{} {}", parts.method, parts.path),
    };
    Ok(Request {
        config: cfg.clone(),
        api,
        auth,
        headers_json,
        cookies_json,
        activity,
        panic_at: panic_stage(&parts.headers),
    })
}

async fn process(
    shared: &Arc<Shared>,
    cfg: Arc<AppConfig>,
    req: hyper::Request<Incoming>,
    client: RawFd,
    role: &mut Option<String>,
) -> Result<HttpResponse, Error> {
    if let Some(e) = shared.refusal.read().ok().and_then(|r| r.clone()) {
        return Err(e);
    }
    if SHUTDOWN_REQUESTED.load(Ordering::SeqCst) {
        return Err(shutting_down());
    }
    let (head, body) = req.into_parts();
    let headers = header_list(&head.headers);
    // The JWT is checked before the body is read: a refused request costs no upload.
    let authorization = head
        .headers
        .get(hyper::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let jwt_started = Instant::now();
    let auth = auth::authenticate(&cfg, authorization, now_secs())?;
    let jwt = jwt_started.elapsed();
    *role = Some(auth.role.clone());
    let content_length = head
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = if body.is_end_stream() {
        Bytes::new() // GET, HEAD, DELETE: nothing to read.
    } else {
        read_body(
            body,
            cfg.server_max_body_size,
            content_length,
            cfg.server_body_timeout,
        )
        .await?
    };
    let read_at = Instant::now();
    let parts = RawParts {
        method: head.method.as_str().to_string(),
        path: head.uri.path().to_string(),
        query: head.uri.query().map(str::to_string),
        headers,
        body,
    };
    let parse_started = Instant::now();
    let request = parse(&cfg, &parts, auth)?;
    let parsing = parse_started.elapsed();
    request.test_panic("http");
    let mut response = execute(shared, &cfg, parts, request, read_at, client).await?;
    if cfg.server_timing_enabled {
        add_server_timing(&mut response, jwt, parsing);
    }
    Ok(response)
}

/// Puts `jwt` and `parse` in front of the main thread's `Server-Timing` (plan, transaction,
/// response), as PostgREST orders them, in milliseconds.
fn add_server_timing(response: &mut HttpResponse, jwt: Duration, parsing: Duration) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let ours = format!("jwt;dur={:.1}, parse;dur={:.1}", ms(jwt), ms(parsing));
    match response
        .headers
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case("server-timing"))
    {
        Some((_, v)) => *v = format!("{ours}, {v}"),
        None => response.headers.push(("Server-Timing".into(), ours)),
    }
}

/// Places the request in the pool and waits for its response. The acquisition timeout
/// counts from when the request was read, and applies only while it waits for a worker.
async fn execute(
    shared: &Arc<Shared>,
    cfg: &AppConfig,
    parts: RawParts,
    request: Request,
    read_at: Instant,
    client: RawFd,
) -> Result<HttpResponse, Error> {
    let me = shared.index;
    let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
    // If this future is dropped or gives up before the answer, the statement stops.
    let _cancel = CancelOnDrop(seq);
    let (tx, rx) = oneshot::channel();
    // In the map before the pool can grant it to anyone.
    shared
        .waiting
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            seq,
            Pending {
                id: seq,
                parts,
                request,
                reply: tx,
            },
        );
    let mut withdraw = WithdrawOnDrop {
        shared: shared.clone(),
        seq,
        queued: false,
    };
    let mut soft_until = None;
    match pool().dispatch(me, seq, pool::now_ns(), cfg.db_pool_max_waiting) {
        Dispatch::Local => {
            if let Some(p) = shared.take_waiting(seq) {
                shared.route(p, me, shared.epoch);
            }
        }
        Dispatch::Forward { executor, epoch } => {
            if let Some(p) = shared.take_waiting(seq) {
                shared.route(p, executor, epoch);
            }
        }
        Dispatch::Queued { promote } => {
            withdraw.queued = true;
            if promote {
                soft_until =
                    Some(tokio::time::Instant::now() + Duration::from_nanos(pool::SOFT_WAIT_NS));
            }
        }
        Dispatch::Full => {
            shared.take_waiting(seq);
            return Err(unavailable(
                "too many requests are waiting for a worker (pgrest.db_pool_max_waiting)",
            ));
        }
    }
    let wait = async {
        let deadline = tokio::time::Instant::from_std(read_at + cfg.db_pool_acquisition_timeout);
        tokio::pin!(rx);
        let stopped = |_| Error::Internal("the worker stopped before answering".into());
        // Waiting for our own worker: if it is still busy after the soft wait, move to an idle one.
        if let Some(until) = soft_until {
            if let Ok(r) = tokio::time::timeout_at(until.min(deadline), &mut rx).await {
                withdraw.queued = false;
                return r.map_err(stopped);
            }
            if let Some(Dispatch::Forward { executor, epoch }) =
                pool().promote(me, seq, pool::now_ns())
            {
                withdraw.queued = false;
                if let Some(p) = shared.take_waiting(seq) {
                    shared.route(p, executor, epoch);
                }
            }
        }
        let answer = match tokio::time::timeout_at(deadline, &mut rx).await {
            Ok(r) => r,
            Err(_) => {
                if pool().cancel(me, seq) {
                    shared.take_waiting(seq);
                    withdraw.queued = false;
                    if let Some(m) = crate::metrics() {
                        m.pool_timeout();
                    }
                    return Err(Error::AcquisitionTimeout);
                }
                // A worker already has it.
                rx.await
            }
        };
        withdraw.queued = false;
        answer.map_err(stopped)
    };
    // A client that closed its connection gets no answer: stop waiting, which cancels the
    // statement (see `CancelOnDrop`).
    tokio::select! {
        r = wait => r,
        () = client_left(client, read_at) => Err(client_gone()),
    }
}

/// How long a request must have run before a closed client connection cancels it. A
/// client may shut down its sending side and still wait for the answer (half-close), which
/// looks the same as leaving: such a client's request runs at least this long.
const CLIENT_GONE_AFTER: Duration = Duration::from_secs(1);

/// Resolves once the client's side of the connection is closed (FIN or reset), checked
/// every 200 ms from [`CLIENT_GONE_AFTER`] after the request was read.
async fn client_left(fd: RawFd, read_at: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(read_at + CLIENT_GONE_AFTER)).await;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLRDHUP,
            revents: 0,
        };
        // The connection's task owns the descriptor and outlives this future.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        if n > 0 && p.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 {
            return;
        }
    }
}

/// What a request whose client left is answered (if anything still reads it).
fn client_gone() -> Error {
    Error::Pg(PgError {
        authenticated: false,
        sqlstate: "57014".into(),
        message: "canceling statement due to user request".into(),
        detail: Some("The client closed its connection.".into()),
        hint: None,
    })
}

/// Which request this process's main thread runs, and which one the HTTP thread asked it to
/// cancel. A cancel is a SIGINT to the process, which can land on the main thread's next
/// request when the one it was meant for has just ended; the main thread then runs that
/// request again ([`cancel_was_misdirected`]).
struct Cancels {
    running: u64,
    target: u64,
    /// Shutting down: a cancel is the shutdown's, never misdirected.
    stopping: bool,
}

static CANCELS: Mutex<Cancels> = Mutex::new(Cancels {
    running: 0,
    target: 0,
    stopping: false,
});

fn cancels() -> std::sync::MutexGuard<'static, Cancels> {
    CANCELS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Main thread: request `id` starts running (0: none runs).
pub(crate) fn set_running(id: u64) {
    cancels().running = id;
}

/// Cancels request `id` if this process's main thread is running it.
fn cancel_running(id: u64) {
    let mut c = cancels();
    if id != 0 && c.running == id {
        c.target = id;
        // Only the main thread takes SIGINT (every other thread blocks it).
        unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
    }
}

/// Main thread, after a statement was cancelled "due to user request": whether the cancel
/// was meant for a request that had already ended, so this one should run again.
pub(crate) fn cancel_was_misdirected() -> bool {
    let mut c = cancels();
    let target = std::mem::take(&mut c.target);
    !c.stopping && target != 0 && target != c.running
}

/// Cancels the request when its waiting future is dropped before the answer came (the
/// client left); a no-op once the main thread is done with it.
struct CancelOnDrop(u64);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        cancel_running(self.0);
    }
}

/// Withdraws a queued request when its client goes away while it waits.
struct WithdrawOnDrop {
    shared: Arc<Shared>,
    seq: u64,
    queued: bool,
}

impl Drop for WithdrawOnDrop {
    fn drop(&mut self) {
        if self.queued && pool().cancel(self.shared.index, self.seq) {
            self.shared.take_waiting(self.seq);
        }
    }
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
        reason: None,
        headers,
        body: Vec::new(),
    })
}

async fn handle(
    shared: &Arc<Shared>,
    req: hyper::Request<Incoming>,
    client: RawFd,
    peer: std::net::SocketAddr,
) -> hyper::Response<Full<Bytes>> {
    let started = Instant::now();
    let cfg = shared.config();
    let mut log = access_log::Entry::new(&req, peer);
    let is_head = req.method() == hyper::Method::HEAD;
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let conditions = caching::Conditions {
        get: req.method() == hyper::Method::GET,
        head: is_head,
        if_none_match: header(hyper::header::IF_NONE_MATCH),
        accept_encoding: header(hyper::header::ACCEPT_ENCODING),
    };
    let origin = req
        .headers()
        .get(hyper::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let response = match preflight(&cfg, &req) {
        Some(r) => r,
        None => {
            match io::CatchUnwind(process(shared, cfg.clone(), req, client, &mut log.role)).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => HttpResponse::from_error(&e),
                Err(panic) => {
                    let msg = io::panic_message(&*panic);
                    eprintln!("pgrest: internal error while handling a request: {msg}");
                    HttpResponse::from_error(&Error::Internal(msg))
                }
            }
        }
    };
    let response = if cfg.minimal_errors {
        minimal_error(response)
    } else {
        response
    };
    let mut response = caching::apply(response, &conditions, cfg.server_compression);
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
    let took = started.elapsed();
    if let Some(m) = crate::metrics() {
        m.request(log.method(), response.status, took);
    }
    if cfg.log_level.logs_status(response.status) {
        let size = if is_head { 0 } else { response.body.len() };
        shared.log(log.line(response.status, size, took));
    }
    to_hyper(response, is_head)
}

/// `pgrest.client_error_verbosity = minimal`: an error body keeps only `code` and `message`
/// (PostgREST 16). Errors are the answers pgrest marks with `Proxy-Status`.
pub(crate) fn minimal_error(mut r: HttpResponse) -> HttpResponse {
    let is_error = r
        .header("Proxy-Status")
        .is_some_and(|p| p.starts_with("PostgREST; error="));
    if !is_error {
        return r;
    }
    if let Ok(serde_json::Value::Object(mut body)) = serde_json::from_slice(&r.body) {
        body.retain(|k, _| k == "code" || k == "message");
        r.body = serde_json::Value::Object(body).to_string().into_bytes();
    }
    r
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
    // A phrase that could not be sent as is (a line break, a control character) is left out.
    if let Some(reason) = r
        .reason
        .and_then(|t| hyper::ext::ReasonPhrase::try_from(t.into_bytes()).ok())
    {
        out.extensions_mut().insert(reason);
    }
    let headers = out.headers_mut();
    for (k, v) in r.headers {
        // Only hyper frames the message (the app already dropped and logged these).
        if crate::response::FRAMING_HEADERS
            .iter()
            .any(|f| f.eq_ignore_ascii_case(&k))
        {
            continue;
        }
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
