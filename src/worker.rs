//! A pgrest background worker: its main thread, the only thread that touches PostgreSQL.
//!
//! This module is the process: signals, connecting, the wait loop and shutdown. What
//! happens to one request is `app`; where requests come from is `http` and `pool`.
//!
//! Start-up order matters: pgrest's own signal handlers are installed first (so a SIGTERM is
//! never lost, whatever the state), the worker connects to its database as the
//! authenticator, registers with the pool, and only then spawns the HTTP thread (with all
//! signals blocked). The main thread sleeps in a WaitEventSet on its latch, postmaster death
//! and its eventfd, and runs the requests the pool gives it, one transaction each. SIGHUP
//! re-reads the reloadable settings and the schema cache. SIGTERM: no new requests, the
//! reserved or running one is answered (cancelled after the grace), then exit.

use std::ffi::{c_int, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgrx::bgworkers::BackgroundWorker;
use pgrx::pg_sys;
use tokio::sync::oneshot;

use crate::app::App;
use crate::config::{AppConfig, StartupConfig};
use crate::error::{Error, PgError};
use crate::http::{self, shutting_down, Job, Request, Shared, SHUTDOWN_REQUESTED};
use crate::pool::Next;
use crate::response::HttpResponse;

/// Requests one worker's main thread may have queued (it is reserved for one at a time;
/// the slack covers races).
const QUEUE_CAPACITY: usize = 64;
/// Wait before retrying to connect after the previous attempt of this worker failed.
const CONNECT_RETRY_DELAY: Duration = Duration::from_secs(3);
/// The longest a stopping worker waits for the request it was reserved for.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

static RELOAD_REQUESTED: AtomicBool = AtomicBool::new(false);
/// The eventfd of this worker's HTTP thread, for the SIGTERM handler.
static mut HTTP_WAKE_FD: c_int = -1;
/// This worker's index, for the exit callback.
static mut WORKER_INDEX: usize = 0;

extern "C-unwind" {
    // Unguarded on purpose: called from signal handlers, where pgrx's FFI guard (sigsetjmp)
    // has no business. SetLatch is async-signal-safe and never raises an error.
    #[link_name = "SetLatch"]
    fn raw_set_latch(latch: *mut pg_sys::Latch);
}

fn set_my_latch() {
    unsafe {
        let latch = pg_sys::MyLatch;
        if !latch.is_null() {
            raw_set_latch(latch);
        }
    }
}

/// Runs a signal handler's body without changing `errno` for the code it interrupted.
fn preserving_errno(body: impl FnOnce()) {
    let saved = unsafe { *libc::__errno_location() };
    body();
    unsafe { *libc::__errno_location() = saved };
}

/// SIGTERM: sticky (never reset), so no state of the worker can lose it.
unsafe extern "C-unwind" fn on_sigterm(_signal: c_int) {
    preserving_errno(|| {
        SHUTDOWN_REQUESTED.store(true, Ordering::SeqCst);
        set_my_latch();
        let fd = unsafe { HTTP_WAKE_FD };
        if fd >= 0 {
            crate::listener::wake(fd);
        }
    });
}

unsafe extern "C-unwind" fn on_sighup(_signal: c_int) {
    preserving_errno(|| {
        RELOAD_REQUESTED.store(true, Ordering::SeqCst);
        set_my_latch();
    });
}

fn shutdown_requested() -> bool {
    SHUTDOWN_REQUESTED.load(Ordering::SeqCst)
}

/// On exit (normal or FATAL), leave the pool: no request is given to a gone worker, and
/// main threads reserved for this worker's requests are freed.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn leave_pool(_code: c_int, _arg: pg_sys::Datum) {
    let me = unsafe { WORKER_INDEX };
    wake_posted(crate::pool().retire(me).0);
}

fn wake_posted(nexts: Vec<Next>) {
    let Some(endpoints) = crate::listener::get() else {
        return;
    };
    for n in nexts {
        if let Next::Posted { origin } = n {
            crate::listener::wake(endpoints.http_wake[origin]);
        }
    }
}

/// Set by catalog invalidations (DDL committed here, or replayed on a standby). Only used
/// during recovery: on a primary the DDL event triggers bump the shared generation instead,
/// which ignores temporary objects.
static mut CATALOG_CHANGED: bool = false;

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_catalog_change(_arg: pg_sys::Datum, _cache: c_int, _hash: u32) {
    unsafe { CATALOG_CHANGED = true };
}

fn register_catalog_callbacks() {
    use pg_sys::SysCacheIdentifier::*;
    for cache in [
        ATTNUM,
        TYPEOID,
        PROCOID,
        NAMESPACEOID,
        CONSTROID,
        RELNAMENSP,
    ] {
        unsafe {
            pg_sys::CacheRegisterSyscacheCallback(
                cache as c_int,
                Some(on_catalog_change),
                pg_sys::Datum::from(0),
            )
        };
    }
}

/// Whether this is a hot standby (no event triggers run there).
pub(crate) fn in_recovery() -> bool {
    unsafe { pg_sys::RecoveryInProgress() }
}

/// Whether catalog invalidations arrived since the last call.
pub(crate) fn take_catalog_changed() -> bool {
    unsafe { std::mem::replace(&mut *std::ptr::addr_of_mut!(CATALOG_CHANGED), false) }
}

/// Entry point of every pgrest worker (registered in `_PG_init`).
#[pgrx::pg_guard]
#[no_mangle]
pub extern "C-unwind" fn pgrest_worker_main(arg: pg_sys::Datum) {
    let index = arg.value();
    unsafe {
        WORKER_INDEX = index;
        // PostgreSQL 18 names the backend's `pqsignal` macro target `pqsignal_be`.
        #[cfg(not(feature = "pg18"))]
        use pg_sys::pqsignal;
        #[cfg(feature = "pg18")]
        use pg_sys::pqsignal_be as pqsignal;
        pqsignal(libc::SIGTERM, Some(on_sigterm));
        pqsignal(libc::SIGHUP, Some(on_sighup));
        pg_sys::BackgroundWorkerUnblockSignals();
    }
    let startup = StartupConfig::load();
    let Some(endpoints) = crate::listener::get() else {
        pgrx::error!("pgrest: the listening sockets were not opened; see the log of the start-up");
    };
    unsafe { HTTP_WAKE_FD = endpoints.http_wake[index] };

    // A worker that died while connecting (unknown database or role) waits before the
    // next attempt instead of filling the log every second.
    if crate::connect_failed(index as u64) {
        pgrx::log!(
            "pgrest worker {index}: the last connection attempt failed; retrying in {}s",
            CONNECT_RETRY_DELAY.as_secs()
        );
        sleep_on_latch(CONNECT_RETRY_DELAY);
    }
    if shutdown_requested() {
        unsafe { pg_sys::proc_exit(1) };
    }
    crate::set_connect_failed(index as u64, true);
    BackgroundWorker::connect_worker_to_spi(Some(&startup.database), Some(&startup.authenticator));
    crate::set_connect_failed(index as u64, false);
    if shutdown_requested() {
        unsafe { pg_sys::proc_exit(1) };
    }
    unsafe {
        pg_sys::pgstat_report_appname(c"pgrest".as_ptr());
    }
    register_catalog_callbacks();
    let config = Arc::new(AppConfig::load());
    log_warnings(&config);

    let (epoch, released) = crate::pool().register(index);
    wake_posted(released);
    unsafe { pg_sys::before_shmem_exit(Some(leave_pool), pg_sys::Datum::from(0)) };

    let (jobs_tx, jobs_rx) = sync_channel::<Job>(QUEUE_CAPACITY);
    let shared = Arc::new(Shared::new(
        index,
        epoch,
        endpoints,
        config.clone(),
        jobs_tx,
    ));
    let refuses = unsafe { pg_sys::superuser() };
    if refuses {
        pgrx::log!(
            "pgrest: refusing to serve: pgrest.authenticator \"{}\" is a superuser; \
             use a NOINHERIT LOGIN role without superuser rights",
            startup.authenticator
        );
        if let Ok(mut r) = shared.refusal.write() {
            *r = Some(Error::Pg(PgError {
                authenticated: false,
                // 08004 (server rejected the connection): 503, like PostgREST's connection errors.
                sqlstate: "08004".into(),
                message: "pgrest refuses to serve: its authenticator role is a superuser".into(),
                detail: None,
                hint: Some("Set pgrest.authenticator to a role without superuser rights.".into()),
            }));
        }
    }
    let http_thread = match http::spawn(shared.clone()) {
        Ok(h) => h,
        Err(e) => pgrx::error!("pgrest: could not start the HTTP thread: {e}"),
    };
    pgrx::log!(
        "pgrest worker {index} serving database \"{}\" as \"{}\"",
        startup.database,
        startup.authenticator
    );

    let mut worker = Worker {
        app: App::new(config),
        shared: shared.clone(),
    };
    // A refusing worker never joins the pool: other workers do not send it requests.
    let unexpected_http_exit = worker.main_loop(&jobs_rx, !refuses);

    // Whatever is still queued gets an answer; then let the HTTP thread write it.
    while let Ok(job) = jobs_rx.try_recv() {
        let _ = job.reply.send(HttpResponse::from_error(&shutting_down()));
    }
    shared.main_done.store(true, Ordering::SeqCst);
    shared.wake_http();
    let deadline = Instant::now() + http::SHUTDOWN_GRACE + Duration::from_secs(3);
    while !http_thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if unexpected_http_exit {
        pgrx::log!("pgrest worker {index}: the HTTP thread stopped; restarting the worker");
    }
    unsafe { pg_sys::proc_exit(1) };
}

fn log_warnings(cfg: &AppConfig) {
    for w in &cfg.warnings {
        pgrx::log!("pgrest: {w}");
    }
}

/// Sleeps on the latch (waking for signals and postmaster death), at most `d`.
fn sleep_on_latch(d: Duration) {
    let deadline = Instant::now() + d;
    while !shutdown_requested() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        unsafe {
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as c_int,
                left.as_millis() as std::ffi::c_long,
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
        }
    }
}

struct Worker {
    app: App,
    shared: Arc<Shared>,
}

impl Worker {
    /// Serves until SIGTERM. Returns true if it stopped because the HTTP thread died.
    fn main_loop(&mut self, jobs: &Receiver<Job>, join_pool: bool) -> bool {
        let me = self.shared.index;
        let epoch = self.shared.epoch;
        let set = unsafe {
            // Lives as long as the worker: in TopMemoryContext, or (PostgreSQL 17 and later)
            // owned by no resource owner.
            #[cfg(any(feature = "pg15", feature = "pg16"))]
            let set = pg_sys::CreateWaitEventSet(pg_sys::TopMemoryContext, 3);
            #[cfg(not(any(feature = "pg15", feature = "pg16")))]
            let set = pg_sys::CreateWaitEventSet(std::ptr::null_mut(), 3);
            pg_sys::AddWaitEventToSet(
                set,
                pg_sys::WL_LATCH_SET,
                pg_sys::PGINVALID_SOCKET,
                pg_sys::MyLatch,
                std::ptr::null_mut(),
            );
            pg_sys::AddWaitEventToSet(
                set,
                pg_sys::WL_EXIT_ON_PM_DEATH,
                pg_sys::PGINVALID_SOCKET,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            pg_sys::AddWaitEventToSet(
                set,
                pg_sys::WL_SOCKET_READABLE,
                self.shared.endpoints.exec_wake[me],
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            set
        };
        let mut next = if join_pool {
            crate::pool().ready(me)
        } else {
            Next::Idle
        };
        // Set once SIGTERM arrived: until when the request this main thread was reserved
        // for (if any) may still arrive.
        let mut stopping: Option<(bool, Instant)> = None;
        loop {
            // A request of our own HTTP thread that the pool just granted us.
            if let Some(p) = self.shared.follow(next, true) {
                self.run(p.id, p.request, p.reply);
                next = crate::pool().release(me, epoch, me);
                continue;
            }
            next = Next::Idle;
            if let Ok(job) = jobs.try_recv() {
                self.run(job.id, job.request, job.reply);
                if let Some((reserved, _)) = &mut stopping {
                    *reserved = false;
                }
                next = crate::pool().release(me, epoch, me);
                continue;
            }
            self.handle_reload();
            if shutdown_requested() && stopping.is_none() {
                let (released, was_busy) = crate::pool().retire(me);
                wake_posted(released);
                stopping = Some((was_busy, Instant::now() + STOP_DEADLINE));
            }
            if let Some((reserved, deadline)) = stopping {
                if !reserved
                    || self.shared.cancel_all.load(Ordering::SeqCst)
                    || Instant::now() >= deadline
                {
                    return false;
                }
            }
            if self.shared.http_stopped.load(Ordering::SeqCst) && stopping.is_none() {
                return true;
            }
            if stopping.is_none() && self.app.cache_is_stale() {
                // Idle: a schema change (DDL wakes every worker) is loaded now, not by the
                // next request.
                unsafe {
                    pg_sys::pgstat_report_activity(
                        pg_sys::BackendState::STATE_RUNNING,
                        c"pgrest: loading the schema cache".as_ptr(),
                    )
                };
                self.app.refresh_schema_cache();
                crate::set_loaded_generation(me, self.app.cache_generation());
                unsafe {
                    pg_sys::pgstat_report_activity(
                        pg_sys::BackendState::STATE_IDLE,
                        std::ptr::null(),
                    )
                };
            }
            self.write_log();
            let timeout: std::ffi::c_long = if stopping.is_some() { 100 } else { -1 };
            unsafe {
                let mut event: pg_sys::WaitEvent = std::mem::zeroed();
                pg_sys::WaitEventSetWait(set, timeout, &mut event, 1, pg_sys::PG_WAIT_EXTENSION);
                pg_sys::ResetLatch(pg_sys::MyLatch);
                crate::listener::drain(self.shared.endpoints.exec_wake[me]);
                // A cancel (pg_cancel_backend, a late statement timeout or the shutdown's)
                // that arrives between requests must not become an ERROR outside a
                // transaction.
                pg_sys::QueryCancelPending = 0;
            }
            pgrx::check_for_interrupts!();
        }
    }

    /// Writes the access-log lines the HTTP thread queued.
    fn write_log(&self) {
        let (lines, dropped) = self.shared.take_log_lines();
        for line in lines {
            pgrx::log!("{line}");
        }
        if dropped > 0 {
            pgrx::log!(
                "pgrest: {dropped} access-log lines were dropped while this worker's main thread \
                 was busy"
            );
        }
    }

    fn handle_reload(&mut self) {
        if !RELOAD_REQUESTED.swap(false, Ordering::SeqCst) {
            return;
        }
        unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        let config = Arc::new(AppConfig::load());
        log_warnings(&config);
        if let Ok(mut c) = self.shared.config.write() {
            *c = config.clone();
        }
        self.app.set_config(config);
    }

    fn run(&mut self, id: u64, request: Request, reply: oneshot::Sender<HttpResponse>) {
        if reply.is_closed() {
            return; // The client went away while the request waited.
        }
        if self.shared.cancel_all.load(Ordering::SeqCst) {
            let _ = reply.send(HttpResponse::from_error(&shutting_down()));
            return;
        }
        let activity = CString::new(request.activity.replace('\0', "")).unwrap_or_default();
        unsafe {
            pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_RUNNING, activity.as_ptr())
        };
        self.shared.running.store(true, Ordering::SeqCst);
        crate::http::set_running(id);
        let response = self.app.respond(&request);
        crate::http::set_running(0);
        let cfg = &request.config;
        if cfg.log_query && cfg.log_level.logs_status(response.status) {
            if let Some(sql) = self.app.last_statement.take() {
                pgrx::log!("pgrest: query: {sql}");
            }
        }
        crate::set_loaded_generation(self.shared.index, self.app.cache_generation());
        self.shared.running.store(false, Ordering::SeqCst);
        unsafe {
            pg_sys::pgstat_report_stat(false);
            pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_IDLE, std::ptr::null());
        }
        let _ = reply.send(response);
    }
}
