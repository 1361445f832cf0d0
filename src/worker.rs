//! A pgrest background worker: its main thread, the only thread that touches PostgreSQL.
//!
//! Start-up order matters: configuration is read, the worker connects to its database as
//! the authenticator, and only then the HTTP thread is spawned (with all signals blocked).
//! The main thread then sleeps in a WaitEventSet on its latch, postmaster death and the
//! eventfd the HTTP thread writes, and runs queued requests one transaction each.
//! SIGHUP re-reads the reloadable settings and the schema cache; SIGTERM stops accepting,
//! answers what is queued and exits.

use std::ffi::{c_int, CString};
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use pgrx::bgworkers::{BackgroundWorker, SignalWakeFlags};
use pgrx::pg_sys;
use tokio::sync::Notify;

use crate::api_request::media_type::MediaType;
use crate::api_request::preferences::{PreferHandling, PreferTransaction};
use crate::api_request::{Action, Mutation};
use crate::config::{AppConfig, StartupConfig};
use crate::error::{ApiRequestError, Error, PgError};
use crate::executor::{CatalogTypes, Executor, ResultSet, TxEnd};
use crate::http::{self, Job, Request, Shared};
use crate::plan::{self, ActionPlan, CountPlan};
use crate::query;
use crate::response::{self, HttpResponse};
use crate::schema_cache::{self, SchemaCache};

/// Requests one worker may have queued before new ones get a 504.
const QUEUE_CAPACITY: usize = 1024;
/// Wait before retrying to connect after the previous attempt of this worker failed.
const CONNECT_RETRY_DELAY: Duration = Duration::from_secs(3);

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

/// On a hot standby no event trigger runs: process pending invalidations (as PostgreSQL's
/// catch-up does, in an empty transaction) and report whether the catalog changed.
fn standby_catalog_changed() -> bool {
    unsafe {
        if !pg_sys::RecoveryInProgress() {
            return false;
        }
        pg_sys::StartTransactionCommand();
        pg_sys::CommitTransactionCommand();
        std::mem::replace(&mut *std::ptr::addr_of_mut!(CATALOG_CHANGED), false)
    }
}

/// Entry point of every pgrest worker (registered in `_PG_init`).
#[pgrx::pg_guard]
#[no_mangle]
pub extern "C-unwind" fn pgrest_worker_main(arg: pg_sys::Datum) {
    let index = arg.value() as u64;
    let startup = StartupConfig::load();
    let config = Arc::new(AppConfig::load());
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);

    // A worker that died while connecting (unknown database or role) waits before the
    // next attempt instead of filling the log every second.
    if crate::connect_failed(index) {
        pgrx::log!(
            "pgrest worker {index}: the last connection attempt failed; retrying in {}s",
            CONNECT_RETRY_DELAY.as_secs()
        );
        sleep_on_latch(CONNECT_RETRY_DELAY);
        if BackgroundWorker::sigterm_received() {
            unsafe { pg_sys::proc_exit(0) };
        }
    }
    crate::set_connect_failed(index, true);
    BackgroundWorker::connect_worker_to_spi(Some(&startup.database), Some(&startup.authenticator));
    crate::set_connect_failed(index, false);
    unsafe {
        pg_sys::pgstat_report_appname(c"pgrest".as_ptr());
    }
    register_catalog_callbacks();

    let wake_fd: RawFd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if wake_fd < 0 {
        pgrx::error!(
            "pgrest: could not create an eventfd: {}",
            std::io::Error::last_os_error()
        );
    }
    let (jobs_tx, jobs_rx) = sync_channel::<Job>(QUEUE_CAPACITY);
    let shared = Arc::new(Shared {
        config: RwLock::new(config.clone()),
        jobs: jobs_tx,
        wake_fd,
        shutdown: Default::default(),
        shutdown_notify: Notify::new(),
        refusal: RwLock::new(None),
    });
    log_warnings(&config);
    if unsafe { pg_sys::superuser() } {
        pgrx::log!(
            "pgrest: refusing to serve: pgrest.authenticator \"{}\" is a superuser; \
             use a NOINHERIT LOGIN role without superuser rights",
            startup.authenticator
        );
        *shared.refusal.write().unwrap() = Some(Error::Pg(PgError {
            authenticated: false,
            // 08004 (server rejected the connection): 503, like PostgREST's connection errors.
            sqlstate: "08004".into(),
            message: "pgrest refuses to serve: its authenticator role is a superuser".into(),
            detail: None,
            hint: Some("Set pgrest.authenticator to a role without superuser rights.".into()),
        }));
    }
    let listeners = crate::listener::get();
    let http_thread = match http::spawn(listeners, shared.clone()) {
        Ok(h) => h,
        Err(e) => pgrx::error!("pgrest: could not start the HTTP thread: {e}"),
    };
    pgrx::log!(
        "pgrest worker {index} serving database \"{}\" as \"{}\"",
        startup.database,
        startup.authenticator
    );

    let mut worker = Worker {
        config,
        cache: None,
        cache_generation: u64::MAX,
        executor: Executor::new(),
    };
    worker.main_loop(&shared, &jobs_rx);

    // SIGTERM: stop accepting, answer what is queued, let the HTTP thread flush, exit.
    shared.shutdown.store(true, Ordering::SeqCst);
    shared.shutdown_notify.notify_one();
    let unavailable = Error::Pg(PgError {
        authenticated: false,
        sqlstate: "57P01".into(),
        message: "terminating connection due to administrator command".into(),
        detail: None,
        hint: None,
    });
    while let Ok(job) = jobs_rx.try_recv() {
        let _ = job.reply.send(HttpResponse::from_error(&unavailable));
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while !http_thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    unsafe { pg_sys::proc_exit(1) };
}

fn log_warnings(cfg: &AppConfig) {
    for w in &cfg.warnings {
        pgrx::log!("pgrest: {w}");
    }
}

/// Sleeps on the latch (waking for signals and postmaster death).
fn sleep_on_latch(d: Duration) {
    let deadline = Instant::now() + d;
    while !BackgroundWorker::sigterm_received() {
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
    config: Arc<AppConfig>,
    cache: Option<Arc<SchemaCache>>,
    cache_generation: u64,
    executor: Executor,
}

impl Worker {
    fn main_loop(&mut self, shared: &Shared, jobs: &Receiver<Job>) {
        unsafe {
            let set = pg_sys::CreateWaitEventSet(pg_sys::TopMemoryContext, 3);
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
                shared.wake_fd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            loop {
                while let Ok(job) = jobs.try_recv() {
                    self.handle_job(job);
                    if self.handle_signals(shared) {
                        return;
                    }
                }
                let mut event: pg_sys::WaitEvent = std::mem::zeroed();
                pg_sys::WaitEventSetWait(set, -1, &mut event, 1, pg_sys::PG_WAIT_EXTENSION);
                pg_sys::ResetLatch(pg_sys::MyLatch);
                let mut counter: u64 = 0;
                libc::read(
                    shared.wake_fd,
                    &mut counter as *mut u64 as *mut libc::c_void,
                    8,
                );
                if self.handle_signals(shared) {
                    return;
                }
            }
        }
    }

    /// Processes interrupts and signals between requests; true means "exit now".
    fn handle_signals(&mut self, shared: &Shared) -> bool {
        unsafe {
            // A cancel (pg_cancel_backend, a late statement timeout) that arrives between
            // requests must not turn into an ERROR outside a transaction.
            pg_sys::QueryCancelPending = 0;
        }
        pgrx::check_for_interrupts!();
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            let config = Arc::new(AppConfig::load());
            log_warnings(&config);
            if let Ok(mut c) = shared.config.write() {
                *c = config.clone();
            }
            self.config = config;
            // Exposed schemas may have changed.
            self.cache_generation = u64::MAX;
        }
        BackgroundWorker::sigterm_received()
    }

    fn handle_job(&mut self, job: Job) {
        if job.reply.is_closed() {
            return; // The client went away while the request was queued.
        }
        let response = if job.enqueued.elapsed() > job.request.config.db_pool_acquisition_timeout {
            HttpResponse::from_error(&Error::AcquisitionTimeout)
        } else {
            let activity = CString::new(job.request.activity.replace('\0', "")).unwrap_or_default();
            unsafe {
                pg_sys::pgstat_report_activity(
                    pg_sys::BackendState::STATE_RUNNING,
                    activity.as_ptr(),
                )
            };
            let r = match self.respond(&job.request) {
                Ok(r) => r,
                Err(e) => HttpResponse::from_error(&e),
            };
            unsafe {
                pg_sys::pgstat_report_stat(false);
                pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_IDLE, std::ptr::null());
            }
            r
        };
        let _ = job.reply.send(response);
    }

    /// Reloads the schema cache when DDL (or pgrest.reload()) changed the shared generation.
    fn ensure_schema_cache(&mut self) -> Result<Arc<SchemaCache>, Error> {
        let generation = crate::schema_generation();
        let standby_changed = standby_catalog_changed();
        if generation != self.cache_generation || self.cache.is_none() || standby_changed {
            match self.load_schema_cache() {
                Ok(c) => {
                    self.cache = Some(Arc::new(c));
                    self.cache_generation = generation;
                }
                Err(e) => {
                    pgrx::log!("pgrest: could not load the schema cache: {}", e.message());
                    // Keep serving the previous cache if there is one (PostgREST does too).
                    if self.cache.is_none() {
                        return Err(Error::NoSchemaCache);
                    }
                }
            }
        }
        Ok(self.cache.clone().expect("set above"))
    }

    fn load_schema_cache(&mut self) -> Result<SchemaCache, Error> {
        let cfg = self.config.clone();
        let schemas = serde_json::to_string(&cfg.db_schemas).unwrap_or_default();
        let extra = serde_json::to_string(&cfg.db_extra_search_path).unwrap_or_default();
        let stmt = query::sql::Statement {
            sql: schema_cache::LOAD_QUERY.to_string(),
            params: vec![schemas, extra],
        };
        let json = self.executor.transaction(true, |tx| {
            let row = tx.query(&stmt)?;
            let json = row
                .and_then(|r| r.into_iter().next().flatten())
                .unwrap_or_default();
            Ok((json, TxEnd::Commit))
        })?;
        SchemaCache::from_json(&String::from_utf8_lossy(&json))
            .map_err(|e| Error::Internal(format!("invalid schema cache document: {e}")))
    }

    fn respond(&mut self, req: &Request) -> Result<HttpResponse, Error> {
        let cache = self.ensure_schema_cache()?;
        let cfg = &req.config;
        let api = &req.api;
        let auth = &req.auth;
        let authenticated = auth.is_authenticated(cfg);
        if matches!(api.action, Action::SchemaInfo) {
            // OPTIONS / needs only the schema cache, no transaction.
            let plan = plan::action_plan(api, cfg, &cache, &mut NoTypes)?;
            return response::action_response(api, &plan, &ResultSet::default());
        }
        let read_only = api.action.is_read_only();
        let result = self.executor.transaction(read_only, |tx| {
            let mut search_path = String::new();
            for (i, s) in std::iter::once(&api.schema)
                .chain(cfg.db_extra_search_path.iter())
                .enumerate()
            {
                if i > 0 {
                    search_path.push_str(", ");
                }
                query::sql::quote_ident(&mut search_path, s);
            }
            tx.set_config("search_path", &search_path)?;
            // Role settings go before the role switch, as PostgREST does (GRANT SET ON PARAMETER).
            for (k, v) in cache.role_settings(&auth.role) {
                let name = if k == "default_transaction_isolation" {
                    "transaction_isolation"
                } else {
                    k.as_str()
                };
                tx.set_config(name, v)?;
            }
            tx.set_config("role", &auth.role)?;
            tx.set_config("request.jwt.claims", &auth.claims_json())?;
            tx.set_config("request.method", &api.method)?;
            tx.set_config("request.path", &api.path)?;
            tx.set_config("request.headers", &req.headers_json)?;
            tx.set_config("request.cookies", &req.cookies_json)?;
            if let Some(tz) = &api.preferences.timezone {
                tx.set_config("timezone", tz)?;
            }
            tx.arm_statement_timeout();
            let plan = plan::action_plan(api, cfg, &cache, &mut CatalogTypes)?;
            if let Some((schema, function)) = &cfg.db_pre_request {
                tx.run(&query::pre_request_statement(schema.as_deref(), function))?;
            }
            let rs = match &plan {
                ActionPlan::Read {
                    read,
                    aggregate,
                    count,
                    max_rows,
                    ..
                } => {
                    let stmt = query::read_statement(read, *aggregate, *count, *max_rows);
                    let mut rs = tx.main_statement(&stmt)?;
                    match count {
                        CountPlan::Planned => {
                            rs.total_result_set = tx.planned_rows(&query::count_statement(read))?
                        }
                        CountPlan::Estimated => {
                            if let (Some(max), Some(total)) = (max_rows, rs.total_result_set) {
                                if total > *max {
                                    let planned = tx.planned_rows(&query::count_statement(read))?;
                                    rs.total_result_set =
                                        Some(planned.map_or(total, |p| p.max(total)));
                                }
                            }
                        }
                        CountPlan::Exact | CountPlan::None => {}
                    }
                    rs
                }
                ActionPlan::Mutate {
                    mutation,
                    mutate,
                    read,
                    aggregate,
                    pk,
                    ..
                } => {
                    let location_pk: &[String] = if api.preferences.representation
                        == Some(crate::api_request::preferences::PreferRepresentation::HeadersOnly)
                        && *mutation == Mutation::Create
                    {
                        pk
                    } else {
                        &[]
                    };
                    let stmt = query::mutate_statement(mutate, read, *aggregate, location_pk);
                    let rs = tx.main_statement(&stmt)?;
                    if matches!(mutation, Mutation::Update | Mutation::Delete)
                        && api.preferences.handling == Some(PreferHandling::Strict)
                    {
                        if let Some(max) = api.preferences.max_affected {
                            if rs.page_total > max {
                                return Err(
                                    ApiRequestError::MaxAffectedViolation(rs.page_total).into()
                                );
                            }
                        }
                    }
                    rs
                }
                ActionPlan::RelationInfo {
                    schema, relation, ..
                } => {
                    let row = tx
                        .query(&query::privileges_statement(schema, relation))?
                        .unwrap_or_default();
                    let flag = |i: usize| {
                        row.get(i).cloned().flatten().as_deref() == Some(b"true".as_slice())
                    };
                    let privileges = plan::Privileges {
                        select: flag(0),
                        insert: flag(1),
                        update: flag(2),
                        delete: flag(3),
                    };
                    return Ok((
                        (plan.with_privileges(privileges), ResultSet::default()),
                        TxEnd::Commit,
                    ));
                }
                ActionPlan::Info { .. } => ResultSet::default(),
            };
            // vnd.pgrst.object promises exactly one row; otherwise 406 and nothing is kept.
            if matches!(plan.media(), Some(MediaType::VndSingularJson { .. })) && rs.page_total != 1
            {
                return Err(ApiRequestError::Singularity(rs.page_total).into());
            }
            let rollback = match api.preferences.transaction {
                Some(PreferTransaction::Rollback) => true,
                Some(PreferTransaction::Commit) => false,
                None => cfg.db_tx_end.rollback,
            };
            if rollback && !read_only {
                tx.set_constraints_immediate()?;
            }
            Ok((
                (plan, rs),
                if rollback {
                    TxEnd::Rollback
                } else {
                    TxEnd::Commit
                },
            ))
        });
        let (plan, rs) = result.map_err(|mut e| {
            if let Error::Pg(p) = &mut e {
                p.authenticated = authenticated;
            }
            e
        })?;
        response::action_response(api, &plan, &rs)
    }
}

/// OPTIONS plans never cast, so they need no catalog access.
struct NoTypes;

impl plan::TypeResolver for NoTypes {
    fn resolve(&mut self, name: &str) -> Result<plan::TypeRef, Error> {
        Err(Error::Internal(format!("unexpected cast to {name}")))
    }
}
