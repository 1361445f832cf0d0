//! The path of one request on a worker's main thread: PostgREST's `App` and `Query`.
//!
//! [`App::respond`] reads top to bottom as what happens to a request once a worker has
//! taken it: the schema cache is brought up to date, then one transaction applies the
//! request's settings (search_path, role settings, role, claims, method, path, headers,
//! cookies, timezone), arms the statement timeout, plans the request, calls the
//! pre-request function, runs the one statement, resolves counts, checks the singular and
//! limited-mutation promises and ends the transaction as `db_tx_end` and `Prefer: tx` say.
//! The response is built from the plan and the result row after the transaction is over.
//!
//! Every failure, including a Rust panic anywhere on this path, becomes PostgREST's error
//! response; the worker keeps serving.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use pgrx::PgTryBuilder;

use crate::api_request::media_type::MediaType;
use crate::api_request::preferences::{PreferHandling, PreferTransaction};
use crate::api_request::{Action, ApiRequest, Mutation};
use crate::config::{AppConfig, TxEnd};
use crate::error::{ApiRequestError, Error};
use crate::executor::{CatalogTypes, Executor, ResultSet, Tx};
use crate::http::Request;
use crate::plan::{self, ActionPlan, CountPlan};
use crate::query;
use crate::response::{self, HttpResponse};
use crate::schema_cache::{self, SchemaCache};

/// What a worker's main thread keeps between requests: the executor (kept plans) and the
/// schema cache with the generation it was loaded at.
pub(crate) struct App {
    config: Arc<AppConfig>,
    cache: Option<Arc<SchemaCache>>,
    cache_generation: u64,
    executor: Executor,
    /// The last request's main statement, kept when `pgrest.log_query` is on.
    pub last_statement: Option<String>,
    /// In a worker: requests are top-level transactions. From SQL (`pgrest.request()`): the
    /// caller's session, requests are subtransactions of its transaction.
    session: bool,
}

impl App {
    pub fn new(config: Arc<AppConfig>) -> App {
        App {
            config,
            cache: None,
            cache_generation: u64::MAX,
            executor: Executor::new(),
            last_statement: None,
            session: false,
        }
    }

    /// An App for the calling session (`pgrest.request()`): each request is a subtransaction
    /// and the schema cache also follows this session's own uncommitted DDL.
    pub fn session(config: Arc<AppConfig>) -> App {
        App {
            executor: Executor::nested(),
            session: true,
            ..App::new(config)
        }
    }

    /// The schema generation the cache must match.
    fn generation(&self) -> u64 {
        if self.session {
            crate::session_schema_generation()
        } else {
            crate::schema_generation()
        }
    }

    /// The settings the cache was loaded with.
    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// New settings (SIGHUP): the exposed schemas may have changed, so reload the cache.
    pub fn set_config(&mut self, config: Arc<AppConfig>) {
        self.config = config;
        self.cache_generation = u64::MAX;
    }

    /// The response to a request. Never panics: a panic anywhere in the request's path is
    /// answered with PostgREST's 500.
    pub fn respond(&mut self, req: &Request) -> HttpResponse {
        let session = self.session;
        let result = PgTryBuilder::new(AssertUnwindSafe(|| self.try_respond(req)))
            .catch_others(|caught| {
                // The executor ends its transactions itself; this only matters if a panic
                // escaped between a transaction's start and its guard (a pgrest bug). A
                // calling session's transaction is its own.
                if !session {
                    unsafe { pgrx::pg_sys::AbortCurrentTransaction() };
                }
                Err(crate::executor::caught_to_error(caught))
            })
            .execute();
        result.unwrap_or_else(|e| HttpResponse::from_error(&e))
    }

    /// Runs the request again when it failed in a way a schema change made while it ran
    /// explains (a column, relation or function the cache still had, or the reverse): DDL
    /// that commits between the cache check and the statement's snapshot is then planned
    /// against instead of surfacing as an error. Also when PostgreSQL chose it as a deadlock
    /// victim or it hit a serialization failure, which PostgreSQL says to retry (DDL that
    /// drops a foreign key locks both tables in the other order than a join does), and when
    /// a cancel meant for the previous request (whose client left) reached it. A failed
    /// attempt's transaction was rolled back, so nothing of it remains. Bounded.
    fn try_respond(&mut self, req: &Request) -> Result<HttpResponse, Error> {
        const ATTEMPTS: usize = 8;
        let mut result = self.attempt(req);
        for _ in 1..ATTEMPTS {
            match &result {
                Err(e)
                    if is_transient(e)
                        || cancelled_for_another(e)
                        || may_be_stale(e) && self.generation_moves() =>
                {
                    result = self.attempt(req);
                }
                _ => break,
            }
        }
        result
    }

    /// Whether the schema generation moved since the cache was loaded, or moves within a
    /// few milliseconds: a DDL's commit becomes visible to other snapshots just before its
    /// commit callback bumps the generation, so a request can fail on it in between. Only
    /// errors that look stale wait here.
    fn generation_moves(&self) -> bool {
        for _ in 0..10 {
            if self.generation() != self.cache_generation {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        false
    }

    fn attempt(&mut self, req: &Request) -> Result<HttpResponse, Error> {
        self.last_statement = None;
        req.test_panic("schema_cache");
        let cache = self.schema_cache()?;
        let (api, cfg) = (&req.api, &req.config);
        if answers_from_cache(&api.action) {
            // OPTIONS / needs only the schema cache, no transaction.
            req.test_panic("options");
            let plan = plan::action_plan(api, cfg, &cache, &mut NoTypes)?;
            return finish(api, &plan, &ResultSet::default());
        }
        // A call's transaction depends on its function: read-only unless POST calls a
        // volatile one, and the function's own transaction settings apply from the start.
        let (read_only, hoisted) = match api.action {
            Action::Routine { .. } => {
                let routine = plan::call::find_routine(api, &cache)?;
                (
                    plan::call::read_only(api, routine),
                    plan::call::hoisted_settings(routine),
                )
            }
            _ => (api.action.is_read_only(), Vec::new()),
        };
        let started = std::time::Instant::now();
        let mut planning = std::time::Duration::ZERO;
        let (plan, rs) = self
            .executor
            .transaction(read_only, |tx| {
                set_request_settings(tx, req, &cache, &hoisted)?;
                tx.arm_statement_timeout();
                req.test_panic("plan");
                let t = std::time::Instant::now();
                let plan = plan::action_plan(api, cfg, &cache, &mut CatalogTypes)?;
                planning = t.elapsed();
                if let Some((schema, function)) = &cfg.db_pre_request {
                    tx.run(&query::pre_request_statement(schema.as_deref(), function))?;
                }
                req.test_panic("statement");
                if cfg.log_query {
                    // Kept before it runs: a failing statement is the one worth logging.
                    self.last_statement = main_statement(&plan).map(|s| s.sql);
                }
                let (plan, rs) = run_plan(tx, api, cfg, &cache, plan)?;
                // vnd.pgrst.object promises exactly one row; otherwise 406 and nothing is kept.
                if matches!(plan.media(), Some(MediaType::VndSingularJson { .. }))
                    && rs.page_total != 1
                {
                    return Err(ApiRequestError::Singularity(rs.page_total).into());
                }
                let end = tx_end(api, cfg);
                if end == TxEnd::Rollback && !read_only {
                    // Deferred constraints still report their violations.
                    tx.set_constraints_immediate()?;
                }
                Ok(((plan, rs), end))
            })
            .map_err(|mut e| {
                if let Error::Pg(p) = &mut e {
                    p.authenticated = req.auth.is_authenticated(cfg);
                }
                e
            })?;
        let transaction = started.elapsed().saturating_sub(planning);
        req.test_panic("response");
        let t = std::time::Instant::now();
        let mut response = finish(api, &plan, &rs)?;
        if cfg.server_timing_enabled {
            // The HTTP thread puts jwt and parse in front (`http::add_server_timing`).
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
            response.headers.push((
                "Server-Timing".into(),
                format!(
                    "plan;dur={:.1}, transaction;dur={:.1}, response;dur={:.1}",
                    ms(planning),
                    ms(transaction),
                    ms(t.elapsed())
                ),
            ));
        }
        Ok(response)
    }

    /// The main statement `req` would run, planned but not run (`pgrest.sql()`); `None` for
    /// what runs no statement (OPTIONS).
    pub fn statement(&mut self, req: &Request) -> Result<Option<query::sql::Statement>, Error> {
        let cache = self.schema_cache()?;
        let (api, cfg) = (&req.api, &req.config);
        if answers_from_cache(&api.action) {
            return Ok(None);
        }
        self.executor.transaction(true, |tx| {
            // Casts resolve under the request's role and search_path, as when it runs.
            set_request_settings(tx, req, &cache, &[])?;
            let plan = plan::action_plan(api, cfg, &cache, &mut CatalogTypes)?;
            Ok((main_statement(&plan), TxEnd::Rollback))
        })
    }

    /// The schema cache, reloaded first when DDL (or `pgrest.reload()`) changed the shared
    /// generation, or when a hot standby replayed catalog changes. If the reload fails the
    /// old cache is dropped rather than served (it may describe objects that are gone): the
    /// request gets 503 `PGRST002`, and the next one tries again, so serving resumes by
    /// itself once the catalog loads.
    /// The schema generation the cache was loaded at (`u64::MAX`: none).
    pub fn cache_generation(&self) -> u64 {
        if self.cache.is_some() {
            self.cache_generation
        } else {
            u64::MAX
        }
    }

    /// Whether the next request would reload the schema cache.
    pub fn cache_is_stale(&self) -> bool {
        self.cache.is_none() || self.generation() != self.cache_generation
    }

    /// Reloads the schema cache ahead of the next request when it is stale (the worker is
    /// idle: DDL woke it). Never panics; a failed load is logged and left for the next
    /// request, which answers 503 and tries again.
    pub fn refresh_schema_cache(&mut self) {
        if !self.cache_is_stale() {
            return;
        }
        PgTryBuilder::new(AssertUnwindSafe(|| {
            let _ = self.schema_cache();
        }))
        .catch_others(|caught| {
            unsafe { pgrx::pg_sys::AbortCurrentTransaction() };
            let e = crate::executor::caught_to_error(caught);
            pgrx::log!("pgrest: could not load the schema cache: {}", e.message());
        })
        .execute();
    }

    fn schema_cache(&mut self) -> Result<Arc<SchemaCache>, Error> {
        let generation = self.generation();
        let stale = self.cache_is_stale() || self.standby_catalog_changed()?;
        if stale {
            self.cache = None;
            let started = std::time::Instant::now();
            let loaded = self.load_schema_cache();
            let took = started.elapsed();
            if let Some(m) = crate::metrics() {
                m.schema_load(loaded.is_ok(), took);
            }
            if self.config.log_level >= crate::config::LogLevel::Debug && loaded.is_ok() {
                pgrx::log!(
                    "pgrest: schema cache loaded in {:.1} ms",
                    took.as_secs_f64() * 1000.0
                );
            }
            match loaded {
                Ok(c) => {
                    self.cache = Some(Arc::new(c));
                    self.cache_generation = generation;
                }
                Err(e) => {
                    let detail = match e.details() {
                        Some(serde_json::Value::String(d)) => format!(": {d}"),
                        Some(d) => format!(": {d}"),
                        None => String::new(),
                    };
                    pgrx::log!(
                        "pgrest: could not load the schema cache: {}{detail}",
                        e.message()
                    );
                    return Err(Error::NoSchemaCache);
                }
            }
        }
        self.cache.clone().ok_or(Error::NoSchemaCache)
    }

    /// On a hot standby no event trigger runs: an empty transaction processes the pending
    /// invalidations (as PostgreSQL's catch-up does) and the syscache callbacks registered by
    /// the worker report whether the catalog changed.
    fn standby_catalog_changed(&mut self) -> Result<bool, Error> {
        if !crate::worker::in_recovery() {
            return Ok(false);
        }
        if self.session {
            // No catalog callbacks in a calling session: read the catalog again.
            return Ok(true);
        }
        self.executor
            .transaction(true, |_| Ok(((), TxEnd::Commit)))?;
        Ok(crate::worker::take_catalog_changed())
    }

    fn load_schema_cache(&mut self) -> Result<SchemaCache, Error> {
        let stmt = query::sql::Statement {
            sql: schema_cache::LOAD_QUERY.to_string(),
            params: schema_cache::load_params(&self.config).to_vec(),
        };
        let json = self.executor.transaction(true, |tx| {
            // The catalog query's cost estimate is far above its run time; compiling it
            // would take seconds.
            tx.set_config("jit", "off")?;
            // Expressions the cache keeps as SQL (column defaults) name every object with
            // its schema, so they mean the same under any request's search_path.
            tx.set_config("search_path", "pg_catalog")?;
            let row = tx.query(&stmt)?;
            let json = row
                .and_then(|r| r.into_iter().next().flatten())
                .unwrap_or_default();
            Ok((json, TxEnd::Commit))
        })?;
        SchemaCache::from_json(&String::from_utf8_lossy(&json))
            .map_err(|e| Error::Internal(format!("invalid schema cache document: {e}")))
    }
}

/// OPTIONS (of the API or of a function) needs only the schema cache: no transaction, no
/// statement.
fn answers_from_cache(action: &Action) -> bool {
    matches!(action, Action::SchemaInfo | Action::RoutineInfo { .. })
}

/// A deadlock victim (40P01) or a serialization failure (40001): the transaction can simply
/// run again.
fn is_transient(e: &Error) -> bool {
    matches!(e, Error::Pg(p) if matches!(p.sqlstate.as_str(), "40P01" | "40001"))
}

/// A statement cancelled by a cancel meant for this worker's previous request, whose client
/// left just as it ended: nothing of it was kept, so it runs again.
fn cancelled_for_another(e: &Error) -> bool {
    let cancelled = match e {
        Error::Pg(p) => p.sqlstate == "57014" && p.message.ends_with("due to user request"),
        // The cancel can also land on the schema cache's reload before the statement.
        Error::NoSchemaCache => true,
        _ => false,
    };
    cancelled && crate::http::cancel_was_misdirected()
}

/// Errors that a schema cache older than the statement's snapshot can cause: an undefined
/// column, relation, function or object, or a planner error naming the schema cache.
fn may_be_stale(e: &Error) -> bool {
    match e {
        Error::SchemaCache(_) => true,
        Error::Pg(p) => matches!(p.sqlstate.as_str(), "42703" | "42P01" | "42883" | "42704"),
        _ => false,
    }
}

/// The transaction-local settings of a request, in PostgREST's order.
fn set_request_settings(
    tx: &mut Tx,
    req: &Request,
    cache: &SchemaCache,
    hoisted: &[(String, String)],
) -> Result<(), Error> {
    let (api, cfg, auth) = (&req.api, &req.config, &req.auth);
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
    // A called function's own settings (statement_timeout, isolation) override the role's.
    for (k, v) in hoisted {
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
    Ok(())
}

/// Runs the statement of a plan and reads its result row, with the total to report.
fn run_plan(
    tx: &mut Tx,
    api: &ApiRequest,
    cfg: &AppConfig,
    cache: &SchemaCache,
    plan: ActionPlan,
) -> Result<(ActionPlan, ResultSet), Error> {
    if let Some(MediaType::VndPlan {
        format, options, ..
    }) = plan.media()
    {
        let body = match main_statement(&plan) {
            Some(stmt) => tx.explain(&stmt, *format, options)?,
            None => Vec::new(),
        };
        let rs = ResultSet {
            body: Some(body),
            ..ResultSet::default()
        };
        return Ok((plan, rs));
    }
    let rs = match &plan {
        ActionPlan::OpenApi {
            schema,
            version,
            headers_only,
            follow_privileges,
            ..
        } => {
            let mut tables = cache.tables_in(schema);
            let mut routines: Vec<&schema_cache::Routine> = cache.routines_in(schema).collect();
            if *follow_privileges {
                let row = tx
                    .query(&query::accessible_statement(schema))?
                    .unwrap_or_default();
                let list = |i: usize| -> Vec<serde_json::Value> {
                    row.get(i)
                        .cloned()
                        .flatten()
                        .and_then(|j| serde_json::from_slice(&j).ok())
                        .unwrap_or_default()
                };
                let names = list(0);
                let oids = list(1);
                tables.retain(|t| names.iter().any(|n| n.as_str() == Some(t.name.as_str())));
                routines.retain(|r| oids.iter().any(|o| o.as_u64() == Some(u64::from(r.oid))));
            }
            let body = (!*headers_only).then(|| {
                let contents = crate::openapi::Contents {
                    schema,
                    tables,
                    routines,
                };
                crate::openapi::document(*version, cfg, cache, &contents)
                    .to_string()
                    .into_bytes()
            });
            ResultSet {
                body,
                ..ResultSet::default()
            }
        }
        ActionPlan::Read {
            read,
            aggregate,
            count,
            max_rows,
            ..
        } => {
            let mut rs =
                tx.main_statement(&query::read_statement(read, *aggregate, *count, *max_rows))?;
            rs.total_result_set = read_total(
                tx,
                || query::count_statement(read),
                *count,
                *max_rows,
                rs.total_result_set,
            )?;
            rs
        }
        ActionPlan::Call {
            call,
            read,
            aggregate,
            count,
            max_rows,
            ..
        } => {
            let mut rs = tx.main_statement(&query::call_statement(
                call, read, *aggregate, *count, *max_rows,
            ))?;
            if api.preferences.handling == Some(PreferHandling::Strict) {
                if let Some(max) = api.preferences.max_affected {
                    if rs.page_total > max {
                        return Err(ApiRequestError::MaxAffectedViolation(rs.page_total).into());
                    }
                }
            }
            rs.total_result_set = read_total(
                tx,
                || query::call_count_statement(call, read),
                *count,
                *max_rows,
                rs.total_result_set,
            )?;
            rs
        }
        ActionPlan::Mutate {
            mutation,
            mutate,
            read,
            aggregate,
            count,
            ..
        } => {
            let mut rs = tx.main_statement(&query::mutate_statement(mutate, read, *aggregate))?;
            let changed = rs.page_total;
            // PUT writes the one row its URL names, or nothing (the body named another).
            if *mutation == Mutation::SingleUpsert && changed != 1 {
                return Err(ApiRequestError::PutMatchingPk.into());
            }
            if let Some(max) = mutate.limit().and_then(|l| l.max_rows()) {
                if changed > max {
                    return Err(ApiRequestError::OffLimitsChanges { changed, max }.into());
                }
            }
            if matches!(mutation, Mutation::Update | Mutation::Delete)
                && api.preferences.handling == Some(PreferHandling::Strict)
            {
                if let Some(max) = api.preferences.max_affected {
                    if changed > max {
                        return Err(ApiRequestError::MaxAffectedViolation(changed).into());
                    }
                }
            }
            // Only exact and estimated counts report a total on writes (PostgREST's shouldCount).
            rs.total_result_set =
                matches!(count, CountPlan::Exact | CountPlan::Estimated).then_some(changed);
            rs
        }
        ActionPlan::RelationInfo {
            schema, relation, ..
        } => {
            let row = tx
                .query(&query::privileges_statement(schema, relation))?
                .unwrap_or_default();
            let flag =
                |i: usize| row.get(i).cloned().flatten().as_deref() == Some(b"true".as_slice());
            let privileges = plan::Privileges {
                select: flag(0),
                insert: flag(1),
                update: flag(2),
                delete: flag(3),
            };
            return Ok((plan.with_privileges(privileges), ResultSet::default()));
        }
        ActionPlan::Info { .. } => ResultSet::default(),
    };
    Ok((plan, rs))
}

/// The one statement of a read, write or call (what `vnd.pgrst.plan` explains).
fn main_statement(plan: &ActionPlan) -> Option<query::sql::Statement> {
    match plan {
        ActionPlan::Read {
            read,
            aggregate,
            count,
            max_rows,
            ..
        } => Some(query::read_statement(read, *aggregate, *count, *max_rows)),
        ActionPlan::Mutate {
            mutate,
            read,
            aggregate,
            ..
        } => Some(query::mutate_statement(mutate, read, *aggregate)),
        ActionPlan::Call {
            call,
            read,
            aggregate,
            count,
            max_rows,
            ..
        } => Some(query::call_statement(
            call, read, *aggregate, *count, *max_rows,
        )),
        ActionPlan::OpenApi { .. } | ActionPlan::Info { .. } | ActionPlan::RelationInfo { .. } => {
            None
        }
    }
}

/// The total a read reports: the statement counts exactly (and `estimated` below
/// `db_max_rows`); `planned` and `estimated` beyond it ask the planner.
fn read_total(
    tx: &mut Tx,
    count_statement: impl FnOnce() -> query::sql::Statement,
    count: CountPlan,
    max_rows: Option<i64>,
    counted: Option<i64>,
) -> Result<Option<i64>, Error> {
    Ok(match count {
        CountPlan::Planned => tx.planned_rows(&count_statement())?,
        CountPlan::Estimated => match (max_rows, counted) {
            (Some(max), Some(total)) if total > max => {
                let planned = tx.planned_rows(&count_statement())?;
                Some(planned.map_or(total, |p| p.max(total)))
            }
            _ => counted,
        },
        CountPlan::Exact | CountPlan::None => counted,
    })
}

/// `Prefer: tx` when the configuration lets it choose, else `db_tx_end`.
fn tx_end(api: &ApiRequest, cfg: &AppConfig) -> TxEnd {
    match api.preferences.transaction {
        Some(PreferTransaction::Rollback) => TxEnd::Rollback,
        Some(PreferTransaction::Commit) => TxEnd::Commit,
        None => cfg.db_tx_end,
    }
}

/// Builds the response and logs the framing headers `response.headers` was denied.
fn finish(api: &ApiRequest, plan: &ActionPlan, rs: &ResultSet) -> Result<HttpResponse, Error> {
    let (response, dropped) = response::action_response(api, plan, rs)?;
    for name in dropped {
        // At LOG like pgrest's other operational messages (log_min_messages ranks LOG above
        // WARNING, so stricter settings still show it).
        pgrx::log!(
            "pgrest: ignoring the header \"{name}\" set through response.headers: only the \
             HTTP layer frames responses"
        );
    }
    Ok(response)
}

/// OPTIONS plans never cast, so they need no catalog access.
struct NoTypes;

impl plan::TypeResolver for NoTypes {
    fn resolve(&mut self, name: &str) -> Result<plan::TypeRef, Error> {
        Err(Error::Internal(format!("unexpected cast to {name}")))
    }
}
