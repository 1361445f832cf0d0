//! pgrest: PostgREST, served from inside PostgreSQL.
//!
//! `_PG_init` (while the postmaster preloads the library) defines the `pgrest.*` settings,
//! reserves the shared schema generation counter, opens the listening sockets and
//! registers the static background workers. Everything else lives in the modules:
//! `http` (the HTTP thread), `worker` (the main thread), `api_request` → `plan` → `query`
//! → `executor` → `response` (the pipeline of a request).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pgrx::bgworkers::{BackgroundWorkerBuilder, BgWorkerStartTime};
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PgAtomic};

mod api_request;
mod app;
mod auth;
mod claim_path;
mod config;
mod error;
mod executor;
mod http;
mod listener;
mod metrics;
mod openapi;
mod plan;
mod pool;
mod query;
mod response;
mod schema_cache;
mod session;
mod worker;

::pgrx::pg_module_magic!(name, version);

/// Bumped (at commit) by DDL and `pgrest.reload()`; workers reload their schema cache
/// when it differs from the generation they loaded.
static SCHEMA_GENERATION: PgAtomic<AtomicU64> =
    unsafe { PgAtomic::new(c"pgrest_schema_generation") };
/// One bit per worker: set while it connects, so a worker that died connecting knows it.
static CONNECT_FAILED: PgAtomic<AtomicU64> = unsafe { PgAtomic::new(c"pgrest_connect_failed") };
/// Which workers are free and which requests wait for one (see `pool`).
static POOL: PgAtomic<pool::Pool> = unsafe { PgAtomic::new(c"pgrest_pool") };
// The pool is plain data and atomics, valid at any address and in any process.
unsafe impl pgrx::shmem::PGRXSharedMemory for pool::Pool {}
/// Per worker: the schema generation its cache was loaded at (shown by `pgrest.pool()`).
static LOADED_GENERATIONS: PgAtomic<LoadedGenerations> =
    unsafe { PgAtomic::new(c"pgrest_loaded_generations") };

pub(crate) struct LoadedGenerations([AtomicU64; pool::MAX_WORKERS]);

impl Default for LoadedGenerations {
    fn default() -> Self {
        LoadedGenerations(std::array::from_fn(|_| AtomicU64::new(u64::MAX)))
    }
}
unsafe impl pgrx::shmem::PGRXSharedMemory for LoadedGenerations {}

/// Records the schema generation worker `worker`'s cache holds (`u64::MAX`: none).
pub(crate) fn set_loaded_generation(worker: usize, generation: u64) {
    if let Some(g) = LOADED_GENERATIONS.get().0.get(worker) {
        g.store(generation, Ordering::SeqCst);
    }
}

/// The counters behind the admin server's `/metrics`.
static METRICS: PgAtomic<metrics::Metrics> = unsafe { PgAtomic::new(c"pgrest_metrics") };
// Atomics only, valid at any address and in any process.
unsafe impl pgrx::shmem::PGRXSharedMemory for metrics::Metrics {}

/// The shared counters; `None` where pgrest was not preloaded (no shared memory), e.g. in
/// unit tests. Any thread may count.
pub(crate) fn metrics() -> Option<&'static metrics::Metrics> {
    // Safety: written once by the postmaster before any worker is forked.
    if unsafe { SHMEM_READY } {
        Some(METRICS.get())
    } else {
        None
    }
}

/// Whether any of the first `workers` workers holds a loaded schema cache.
pub(crate) fn any_cache_loaded(workers: usize) -> bool {
    LOADED_GENERATIONS.get().0[..workers.min(pool::MAX_WORKERS)]
        .iter()
        .any(|g| g.load(Ordering::SeqCst) != u64::MAX)
}

/// The executor pool in shared memory.
pub(crate) fn pool() -> &'static pool::Pool {
    POOL.get()
}

/// Whether the shared memory above exists (the library was preloaded).
static mut SHMEM_READY: bool = false;

pub fn schema_generation() -> u64 {
    SCHEMA_GENERATION.get().load(Ordering::SeqCst)
}

pub fn connect_failed(worker: u64) -> bool {
    CONNECT_FAILED.get().load(Ordering::SeqCst) & (1 << (worker % 64)) != 0
}

pub fn set_connect_failed(worker: u64, failed: bool) {
    let bit = 1 << (worker % 64);
    if failed {
        CONNECT_FAILED.get().fetch_or(bit, Ordering::SeqCst);
    } else {
        CONNECT_FAILED.get().fetch_and(!bit, Ordering::SeqCst);
    }
}

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    if unsafe { !pg_sys::process_shared_preload_libraries_in_progress } {
        // Loaded by CREATE EXTENSION or a function call without preloading: only the SQL
        // functions are usable; they say so when called.
        return;
    }
    config::define_gucs();
    pg_shmem_init!(SCHEMA_GENERATION);
    pg_shmem_init!(CONNECT_FAILED);
    pg_shmem_init!(POOL);
    pg_shmem_init!(LOADED_GENERATIONS);
    pg_shmem_init!(METRICS);
    unsafe {
        SHMEM_READY = true;
        PREV_PROCESS_UTILITY = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
    }

    let startup = config::StartupConfig::load();
    match listener::open_endpoints(&startup.server_host, startup.server_port, startup.workers) {
        Ok(mut e) => {
            match &startup.admin_server {
                Some((_, port)) if *port == startup.server_port => pgrx::log!(
                    "pgrest: pgrest.admin_server_port must differ from pgrest.server_port; \
                     the admin server is off"
                ),
                Some((host, port)) => match listener::open(host, *port) {
                    Ok(fds) => {
                        pgrx::log!("pgrest: admin server listening on {host}:{port}");
                        e.admin = fds;
                    }
                    Err(msg) => {
                        pgrx::log!("pgrest: {msg}; the admin server is off")
                    }
                },
                None => {}
            }
            listener::set(e)
        }
        Err(e) => {
            pgrx::log!(
                "pgrest: {e}; pgrest serves no HTTP until PostgreSQL is restarted with a usable \
                 pgrest.server_host/pgrest.server_port"
            );
            return;
        }
    }
    for i in 0..startup.workers {
        BackgroundWorkerBuilder::new(&format!("pgrest worker {i}"))
            .set_type("pgrest")
            .set_library("pgrest")
            .set_function("pgrest_worker_main")
            .set_argument(Some(pg_sys::Datum::from(i)))
            .enable_spi_access()
            // Serve reads on a hot standby too: start once the database is consistent.
            .set_start_time(BgWorkerStartTime::ConsistentState)
            .set_restart_time(Some(Duration::from_secs(1)))
            .load();
    }
}

/// Asks every pgrest worker to reload its schema cache once this transaction commits
/// (PostgREST's `NOTIFY pgrst, 'reload schema'`). The DDL event triggers call it.
#[pg_extern(volatile, parallel_unsafe)]
fn reload() {
    if unsafe { !SHMEM_READY } {
        pgrx::warning!("pgrest is not in shared_preload_libraries; there are no workers to reload");
        return;
    }
    reload_at_commit();
}

fn reload_at_commit() {
    pgrx::callbacks::register_xact_callback(pgrx::callbacks::PgXactCallbackEvent::Commit, || {
        SCHEMA_GENERATION.get().fetch_add(1, Ordering::SeqCst);
        // Idle workers reload now rather than at their next request.
        listener::wake_all_executors();
    });
    // This session's own `pgrest.request()` sees the change before it commits, and again
    // if it is rolled back.
    LOCAL_CHANGES.fetch_add(1, Ordering::SeqCst);
    pgrx::callbacks::register_xact_callback(pgrx::callbacks::PgXactCallbackEvent::Abort, || {
        LOCAL_CHANGES.fetch_add(1, Ordering::SeqCst);
    });
}

/// Schema changes made by this backend (committed or not), for `pgrest.request()`.
static LOCAL_CHANGES: AtomicU64 = AtomicU64::new(0);

/// The generation a calling session's schema cache must match: the shared one, moved also
/// by this session's uncommitted DDL and its rollback.
pub(crate) fn session_schema_generation() -> u64 {
    schema_generation().wrapping_add(LOCAL_CHANGES.load(Ordering::SeqCst) << 32)
}

static mut PREV_PROCESS_UTILITY: pg_sys::ProcessUtility_hook_type = None;

/// Statements that change the schema cache but fire no event trigger: `NOTIFY pgrst`
/// (PostgREST's way to ask for a reload), and the role statements that change which role
/// settings apply (roles are shared objects, outside event triggers).
unsafe fn invalidates_schema_cache(stmt: *mut pg_sys::Node) -> bool {
    use pg_sys::NodeTag::*;
    unsafe {
        match (*stmt).type_ {
            T_NotifyStmt => {
                let name = (*(stmt as *mut pg_sys::NotifyStmt)).conditionname;
                !name.is_null() && std::ffi::CStr::from_ptr(name).to_bytes() == b"pgrst"
            }
            T_AlterRoleSetStmt | T_GrantRoleStmt | T_DropRoleStmt => true,
            _ => false,
        }
    }
}

// Not in pgrx's guarded form: errors raised by the statement itself must reach the caller
// exactly as PostgreSQL raised them (pgrx's guard would re-raise them with a Rust backtrace
// appended to their detail).
extern "C-unwind" {
    #[link_name = "standard_ProcessUtility"]
    fn raw_standard_process_utility(
        pstmt: *mut pg_sys::PlannedStmt,
        query_string: *const std::ffi::c_char,
        read_only_tree: bool,
        context: pg_sys::ProcessUtilityContext::Type,
        params: pg_sys::ParamListInfo,
        query_env: *mut pg_sys::QueryEnvironment,
        dest: *mut pg_sys::DestReceiver,
        qc: *mut pg_sys::QueryCompletion,
    );
}

/// pgrest's part of the utility hook, guarded (Rust code).
#[pg_guard]
unsafe extern "C-unwind" fn note_utility_statement(stmt: *mut pg_sys::Node) {
    if unsafe { invalidates_schema_cache(stmt) } {
        reload_at_commit();
    }
}

/// Every backend's utility statements pass here (pgrest is preloaded): the ones above bump
/// the schema generation when their transaction commits; all go on unchanged. This frame
/// holds nothing to drop, so a statement's ERROR may pass through it as through C.
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    unsafe {
        let stmt = (*pstmt).utilityStmt;
        if !stmt.is_null() {
            note_utility_statement(stmt);
        }
        let next = PREV_PROCESS_UTILITY.unwrap_or(raw_standard_process_utility);
        next(
            pstmt,
            query_string,
            read_only_tree,
            context,
            params,
            query_env,
            dest,
            qc,
        );
    }
}

/// The executor pool: each worker's state, how many requests wait, and where requests went
/// since the server started (see the README's design section).
#[pg_extern(volatile, parallel_safe, name = "pool")]
fn pool_status() -> pgrx::JsonB {
    if unsafe { !SHMEM_READY } {
        pgrx::error!("pgrest is not in shared_preload_libraries");
    }
    let workers = config::StartupConfig::load().workers;
    let mut doc = serde_json::to_value(POOL.get().snapshot(workers)).unwrap_or_default();
    // Whether each worker's schema cache is the current one (null: none loaded yet).
    doc["schema_generation"] = schema_generation().into();
    doc["cache_generations"] = LOADED_GENERATIONS.get().0[..workers.min(pool::MAX_WORKERS)]
        .iter()
        .map(|g| match g.load(Ordering::SeqCst) {
            u64::MAX => serde_json::Value::Null,
            n => n.into(),
        })
        .collect();
    pgrx::JsonB(doc)
}

/// The schema cache pgrest builds for the current settings (`pgrest.db_schemas`,
/// `pgrest.db_extra_search_path`), as JSON: relations, columns, keys, relationships,
/// computed fields and role settings. For debugging; it reads only the catalog.
#[pg_extern(stable, parallel_safe)]
fn schema_cache() -> pgrx::JsonB {
    let [schemas, extra] = schema_cache::load_params(&config::AppConfig::load());
    // jit off for this query only (as a function's SET clause would): its cost estimate is
    // far above its run time; search_path as the workers load it (defaults kept as SQL are
    // schema-qualified). An error aborts the transaction, which restores both.
    let json = unsafe {
        let nest = pg_sys::NewGUCNestLevel();
        for (name, value) in [(c"jit", c"off"), (c"search_path", c"pg_catalog")] {
            pg_sys::set_config_option(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
        }
        let json = Spi::get_one_with_args::<String>(
            schema_cache::LOAD_QUERY,
            &[schemas.into(), extra.into()],
        );
        pg_sys::AtEOXact_GUC(true, nest);
        json
    }
    .unwrap_or_else(|e| pgrx::error!("pgrest: could not read the catalog: {e}"))
    .unwrap_or_default();
    match schema_cache::SchemaCache::from_json(&json) {
        Ok(cache) => pgrx::JsonB(cache.to_json()),
        Err(e) => pgrx::error!("pgrest: invalid schema cache document: {e}"),
    }
}

pgrx::extension_sql!(
    r#"
-- DDL anywhere except in temporary schemas makes the workers reload their schema cache.
CREATE FUNCTION pgrest.on_ddl_command_end() RETURNS event_trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM pg_event_trigger_ddl_commands()
    WHERE schema_name IS NULL OR schema_name NOT LIKE 'pg\_temp\_%'
  ) THEN
    PERFORM pgrest.reload();
  END IF;
END
$$;

CREATE FUNCTION pgrest.on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() WHERE NOT is_temporary) THEN
    PERFORM pgrest.reload();
  END IF;
END
$$;

CREATE EVENT TRIGGER pgrest_ddl_command_end ON ddl_command_end
  EXECUTE FUNCTION pgrest.on_ddl_command_end();
CREATE EVENT TRIGGER pgrest_sql_drop ON sql_drop
  EXECUTE FUNCTION pgrest.on_sql_drop();

GRANT USAGE ON SCHEMA pgrest TO PUBLIC;

SELECT pgrest.reload();
"#,
    name = "event_triggers",
    finalize,
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn reload_is_installed_and_callable() {
        Spi::run("SELECT pgrest.reload()").unwrap();
        let n = Spi::get_one::<i64>(
            "SELECT count(*) FROM pg_event_trigger WHERE evtname IN ('pgrest_ddl_command_end', 'pgrest_sql_drop')",
        )
        .unwrap();
        assert_eq!(n, Some(2));
    }

    #[pg_test]
    fn schema_cache_query_describes_the_catalog() {
        Spi::run(
            "CREATE SCHEMA t_api;
             CREATE DOMAIN t_api.tag AS text;
             CREATE TABLE t_api.items (id bigint PRIMARY KEY, doc jsonb, tags t_api.tag[], label t_api.tag NOT NULL DEFAULT 'x');
             CREATE VIEW t_api.items_view AS SELECT id, label FROM t_api.items;
             CREATE TABLE t_api.parts (id int PRIMARY KEY, a int, b bigint, item_id bigint REFERENCES t_api.items,
               UNIQUE (a, b), FOREIGN KEY (b, a) REFERENCES t_api.parts (b, a));
             CREATE FUNCTION t_api.shout(t_api.items) RETURNS text LANGUAGE sql AS 'SELECT upper($1.label)';
             CREATE ROLE t_role NOLOGIN;
             ALTER ROLE t_role SET statement_timeout = '3s';
             GRANT t_role TO current_user;",
        )
        .unwrap();
        let json = Spi::get_one_with_args::<String>(
            crate::schema_cache::LOAD_QUERY,
            &[r#"["t_api"]"#.into(), r#"["public"]"#.into()],
        )
        .unwrap()
        .unwrap();
        let cache = crate::schema_cache::SchemaCache::from_json(&json).unwrap();
        let items = cache.table("t_api", "items").unwrap();
        assert_eq!(items.pk, vec!["id".to_string()]);
        assert_eq!(
            cache.table("t_api", "parts").unwrap().unique,
            vec![vec!["a".to_string(), "b".to_string()]]
        );
        assert_eq!(
            (items.insertable, items.updatable, items.deletable),
            (true, true, true)
        );
        let names: Vec<&str> = items.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "doc", "tags", "label"]);
        let label = items.column("label").unwrap();
        assert_eq!(
            (
                label.ty.schema.as_str(),
                label.ty.name.as_str(),
                label.ty.base.as_str()
            ),
            ("t_api", "tag", "text")
        );
        assert!(!label.nullable);
        assert_eq!(label.default.as_deref(), Some("'x'::text"));
        assert!(items.column("doc").unwrap().ty.is_json());
        assert_eq!(items.column("tags").unwrap().ty.category, "A");
        assert_eq!(
            items.column("id").unwrap().ty.array_type(),
            Some(("pg_catalog", "_int8"))
        );
        let view = cache.table("t_api", "items_view").unwrap();
        assert_eq!(view.kind, "v");
        assert!(view.updatable, "a simple view is auto-updatable");
        let shout = cache.computed_field(items, "shout").unwrap();
        assert_eq!(shout.ty.name, "text");
        assert_eq!(
            cache.role_settings("t_role"),
            &[("statement_timeout".to_string(), "3s".to_string())]
        );
        assert!(cache.table("public", "items").is_none());
        // Foreign keys: composite and self-referencing ones too, both ways.
        let doc = cache.to_json();
        let rels = doc["relationships"].as_array().unwrap();
        let find = |table: &str, foreign: &str, card: &str| {
            rels.iter()
                .find(|r| {
                    r["table"] == table && r["foreign_table"] == foreign && r["cardinality"] == card
                })
                .unwrap_or_else(|| panic!("no {card} {table} -> {foreign} in {rels:?}"))
                .clone()
        };
        assert_eq!(
            find("parts", "items", "m2o")["columns"],
            serde_json::json!([["item_id", "id"]])
        );
        find("items", "parts", "o2m");
        // (b, a) is the unique key (a, b): one-to-one, to itself.
        let own = find("parts", "parts", "o2o");
        assert_eq!(own["is_self"], true);
        assert_eq!(own["columns"], serde_json::json!([["b", "b"], ["a", "a"]]));
        // The SQL function gives the cache of the current settings.
        let json = Spi::get_one::<pgrx::JsonB>("SELECT pgrest.schema_cache()")
            .unwrap()
            .unwrap();
        assert!(json.0["tables"].is_array());
    }

    /// Keys carried over to views are read from the stored queries PostgreSQL writes
    /// (this version's node-tree text), through views over views, from private schemas.
    #[pg_test]
    fn views_carry_the_keys_of_their_tables() {
        Spi::run(
            "CREATE SCHEMA v_priv; CREATE SCHEMA v_api;
             CREATE TABLE v_priv.parents (a int, b int, name text, PRIMARY KEY (a, b));
             CREATE TABLE v_priv.kids (id int PRIMARY KEY, pa int, pb int, note text,
               FOREIGN KEY (pa, pb) REFERENCES v_priv.parents);
             CREATE VIEW v_api.parents AS SELECT b AS second, a AS first, upper(name) AS loud FROM v_priv.parents;
             CREATE VIEW v_api.kids AS SELECT id, pb AS parent_b, pa AS parent_a, note FROM v_priv.kids WHERE id > 0;
             CREATE VIEW v_api.kids2 AS SELECT k.parent_a AS x, k.parent_b AS y FROM v_api.kids k;
             CREATE MATERIALIZED VIEW v_api.parents_m AS SELECT a, b FROM v_priv.parents;",
        )
        .unwrap();
        let json = Spi::get_one_with_args::<String>(
            crate::schema_cache::LOAD_QUERY,
            &[r#"["v_api"]"#.into(), r#"[]"#.into()],
        )
        .unwrap()
        .unwrap();
        let cache = crate::schema_cache::SchemaCache::from_json(&json).unwrap();
        // The view's key is its columns showing the table's key, in key order.
        assert_eq!(
            cache.table("v_api", "parents").unwrap().pk,
            vec!["first".to_string(), "second".to_string()]
        );
        let m2o = |from: &str, to: &str| {
            cache
                .relationships("v_api", from)
                .iter()
                .find(|r| {
                    r.foreign_table == to
                        && matches!(r.cardinality, crate::schema_cache::Cardinality::M2O { .. })
                })
                .and_then(|r| r.cardinality.columns().cloned())
                .unwrap_or_else(|| panic!("no {from} -> {to}"))
        };
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            m2o("kids", "parents"),
            pairs(&[("parent_a", "first"), ("parent_b", "second")])
        );
        assert_eq!(
            m2o("kids2", "parents"),
            pairs(&[("x", "first"), ("y", "second")])
        );
        assert_eq!(
            m2o("kids", "parents_m"),
            pairs(&[("parent_a", "a"), ("parent_b", "b")])
        );
        // The private tables themselves are not in the cache, nor relationships to them.
        assert!(cache.relationships("v_priv", "kids").is_empty());
    }

    #[pg_test]
    fn cast_types_are_resolved_by_the_catalog() {
        use crate::plan::TypeResolver;
        let mut types = crate::executor::CatalogTypes;
        let t = types.resolve("double precision").unwrap();
        assert_eq!(
            (t.schema.as_str(), t.name.as_str()),
            ("pg_catalog", "float8")
        );
        let t = types.resolve("int").unwrap();
        assert_eq!(t.name, "int4");
        let t = types.resolve("text[]").unwrap();
        assert_eq!(t.name, "_text");
    }

    #[pg_test(error = "type \"no_such_type\" does not exist")]
    fn unknown_cast_types_raise_postgres_errors() {
        use crate::plan::TypeResolver;
        let _ = crate::executor::CatalogTypes.resolve("no_such_type");
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![
            "shared_preload_libraries = 'pgrest'",
            "pgrest.server_port = 39999",
            "pgrest.workers = 1",
        ]
    }
}
