//! pgrest's settings: the `pgrest.*` GUCs and the plain-Rust snapshot the workers use.
//!
//! Naming rule: PostgREST option `x-y-z` is `pgrest.x_y_z` with PostgREST's default.
//! `pgrest.database`, `pgrest.authenticator` and `pgrest.workers` replace `db-uri` and
//! `db-pool`. Restart-only settings are read once; the others are re-read on SIGHUP.
//!
//! `GucSetting::get` may only run on a worker's main thread, so [`AppConfig::load`] runs
//! there and the resulting `Arc<AppConfig>` is what the HTTP thread sees.

use std::ffi::{CStr, CString};
use std::time::Duration;

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

pub static SERVER_HOST: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"localhost"));
pub static SERVER_PORT: GucSetting<i32> = GucSetting::<i32>::new(3000);
pub static ADMIN_SERVER_HOST: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);
pub static ADMIN_SERVER_PORT: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static WORKERS: GucSetting<i32> = GucSetting::<i32>::new(4);
pub static DATABASE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"postgres"));
pub static AUTHENTICATOR: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"authenticator"));

static DB_SCHEMAS: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"public"));
static DB_ANON_ROLE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static DB_EXTRA_SEARCH_PATH: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"public"));
static DB_MAX_ROWS: GucSetting<i32> = GucSetting::<i32>::new(-1);
static DB_PRE_REQUEST: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static DB_TX_END: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"commit"));
static DB_POOL_ACQUISITION_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(10);
static JWT_SECRET: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static JWT_SECRET_IS_BASE64: GucSetting<bool> = GucSetting::<bool>::new(false);
static JWT_ROLE_CLAIM_KEY: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"$.role"));
static JWT_AUD: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static JWT_CACHE_MAX_ENTRIES: GucSetting<i32> = GucSetting::<i32>::new(1000);
static SERVER_MAX_BODY_SIZE: GucSetting<i32> = GucSetting::<i32>::new(10 * 1024 * 1024);
static SERVER_CORS_ALLOWED_ORIGINS: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);
static SERVER_MAX_CONNECTIONS: GucSetting<i32> = GucSetting::<i32>::new(1000);
static SERVER_HEAD_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(30);
static SERVER_MAX_HEAD_SIZE: GucSetting<i32> = GucSetting::<i32>::new(64 * 1024);
static SERVER_BODY_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(60);
static SERVER_WRITE_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(30);
static SERVER_TIMING_ENABLED: GucSetting<bool> = GucSetting::<bool>::new(false);
static DB_AGGREGATES_ENABLED: GucSetting<bool> = GucSetting::<bool>::new(false);
static SERVER_COMPRESSION: GucSetting<bool> = GucSetting::<bool>::new(true);
static DB_PLAN_ENABLED: GucSetting<bool> = GucSetting::<bool>::new(false);
static CLIENT_ERROR_VERBOSITY: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);
static DB_POOL_MAX_WAITING: GucSetting<i32> = GucSetting::<i32>::new(1024);
static LOG_LEVEL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"error"));
static LOG_QUERY: GucSetting<bool> = GucSetting::<bool>::new(false);
static OPENAPI_MODE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"follow-privileges"));
static OPENAPI_SERVER_PROXY_URI: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);
static OPENAPI_SECURITY_ACTIVE: GucSetting<bool> = GucSetting::<bool>::new(false);

/// Registers every `pgrest.*` GUC. Only valid while the postmaster preloads the library:
/// PGC_POSTMASTER variables cannot be created later.
pub fn define_gucs() {
    let restart = || GucContext::Postmaster;
    let reload = || GucContext::Sighup;
    let none = GucFlags::default;
    GucRegistry::define_string_guc(
        c"pgrest.server_host",
        c"Address pgrest listens on.",
        c"A host name (every address it resolves to), an IP address, or * / *4 / !4 / *6 / !6 as in PostgREST.",
        &SERVER_HOST,
        restart(),
        none(),
    );
    GucRegistry::define_int_guc(
        c"pgrest.server_port",
        c"TCP port pgrest listens on.",
        c"",
        &SERVER_PORT,
        1,
        65535,
        restart(),
        none(),
    );
    GucRegistry::define_string_guc(
        c"pgrest.admin_server_host",
        c"Address of the admin server (/live, /ready, /metrics); unset means pgrest.server_host.",
        c"",
        &ADMIN_SERVER_HOST,
        restart(),
        none(),
    );
    GucRegistry::define_int_guc(
        c"pgrest.admin_server_port",
        c"TCP port of the admin server (/live, /ready, /metrics); 0 (the default) turns it off.",
        c"",
        &ADMIN_SERVER_PORT,
        0,
        65535,
        restart(),
        none(),
    );
    GucRegistry::define_int_guc(
        c"pgrest.workers",
        c"Number of pgrest background workers = requests executed at once.",
        c"Each worker takes a max_worker_processes slot.",
        &WORKERS,
        1,
        64,
        restart(),
        none(),
    );
    GucRegistry::define_string_guc(
        c"pgrest.database",
        c"Database the pgrest workers serve.",
        c"",
        &DATABASE,
        restart(),
        none(),
    );
    GucRegistry::define_string_guc(
        c"pgrest.authenticator",
        c"Role the pgrest workers log in as; must not be a superuser.",
        c"",
        &AUTHENTICATOR,
        restart(),
        none(),
    );
    GucRegistry::define_string_guc(
        c"pgrest.db_schemas",
        c"Comma-separated schemas exposed over HTTP; the first is the default.",
        c"",
        &DB_SCHEMAS,
        reload(),
        none(),
    );
    GucRegistry::define_string_guc(
        c"pgrest.db_anon_role",
        c"Role for requests without a JWT; unset means anonymous requests are refused.",
        c"",
        &DB_ANON_ROLE,
        reload(),
        none(),
    );
    GucRegistry::define_string_guc(
        c"pgrest.db_extra_search_path",
        c"Comma-separated schemas appended to search_path for every request.",
        c"",
        &DB_EXTRA_SEARCH_PATH,
        reload(),
        none(),
    );
    GucRegistry::define_int_guc(
        c"pgrest.db_max_rows",
        c"Hard cap on the rows a read returns; -1 means no cap.",
        c"",
        &DB_MAX_ROWS,
        -1,
        i32::MAX,
        reload(),
        none(),
    );
    GucRegistry::define_string_guc(
        c"pgrest.db_pre_request",
        c"Function called before every request, after the request settings are set.",
        c"",
        &DB_PRE_REQUEST,
        reload(),
        none(),
    );
    GucRegistry::define_string_guc(
        c"pgrest.db_tx_end",
        c"commit, commit-allow-override, rollback or rollback-allow-override.",
        c"",
        &DB_TX_END,
        reload(),
        none(),
    );
    GucRegistry::define_int_guc(
        c"pgrest.db_pool_acquisition_timeout",
        c"Seconds a request may wait for its worker before a 504.",
        c"",
        &DB_POOL_ACQUISITION_TIMEOUT,
        1,
        3600,
        reload(),
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"pgrest.jwt_secret",
        c"HS secret (at least 32 characters), JWK or JWKS that JWTs are verified with.",
        c"",
        &JWT_SECRET,
        reload(),
        GucFlags::SUPERUSER_ONLY | GucFlags::NO_SHOW_ALL,
    );
    GucRegistry::define_int_guc(
        c"pgrest.jwt_cache_max_entries",
        c"Verified JWTs each worker keeps, so a repeated token is verified once (0: none).",
        c"",
        &JWT_CACHE_MAX_ENTRIES,
        0,
        1_000_000,
        reload(),
        none(),
    );
    GucRegistry::define_bool_guc(
        c"pgrest.jwt_secret_is_base64",
        c"Whether pgrest.jwt_secret is base64 encoded.",
        c"",
        &JWT_SECRET_IS_BASE64,
        reload(),
        none(),
    );
    GucRegistry::define_string_guc(
        c"pgrest.jwt_role_claim_key",
        c"JSONPath (RFC 9535) of the role claim in the JWT, e.g. $.role or $.app.roles[0]; the older .role syntax still works.",
        c"",
        &JWT_ROLE_CLAIM_KEY,
        reload(),
        none(),
    );
    GucRegistry::define_string_guc(
        c"pgrest.jwt_aud",
        c"Audience a JWT's aud claim must contain, when set.",
        c"",
        &JWT_AUD,
        reload(),
        none(),
    );
    GucRegistry::define_int_guc(
        c"pgrest.server_max_body_size",
        c"Largest request body accepted; larger ones get 413.",
        c"",
        &SERVER_MAX_BODY_SIZE,
        0,
        i32::MAX,
        reload(),
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_string_guc(
        c"pgrest.server_cors_allowed_origins",
        c"Comma-separated origins allowed by CORS; unset allows any origin.",
        c"",
        &SERVER_CORS_ALLOWED_ORIGINS,
        reload(),
        none(),
    );
    GucRegistry::define_int_guc(
        c"pgrest.server_max_connections",
        c"Open HTTP connections one worker keeps; more wait in the kernel's listen backlog.",
        c"",
        &SERVER_MAX_CONNECTIONS,
        1,
        1_000_000,
        reload(),
        none(),
    );
    GucRegistry::define_int_guc(
        c"pgrest.server_head_timeout",
        c"Seconds a client has to send a request head; also how long an idle keep-alive connection stays open.",
        c"",
        &SERVER_HEAD_TIMEOUT,
        1,
        3600,
        reload(),
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"pgrest.server_max_head_size",
        c"Largest request head (request line and headers); larger ones get 431.",
        c"",
        &SERVER_MAX_HEAD_SIZE,
        8192,
        16 * 1024 * 1024,
        reload(),
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_int_guc(
        c"pgrest.server_body_timeout",
        c"Seconds a client has to send a whole request body; slower bodies get 408.",
        c"",
        &SERVER_BODY_TIMEOUT,
        1,
        3600,
        reload(),
        GucFlags::UNIT_S,
    );
    GucRegistry::define_bool_guc(
        c"pgrest.db_aggregates_enabled",
        c"Whether select may use count(), sum(), avg(), min() and max().",
        c"",
        &DB_AGGREGATES_ENABLED,
        reload(),
        none(),
    );
    GucRegistry::define_bool_guc(
        c"pgrest.db_plan_enabled",
        c"Whether Accept: application/vnd.pgrst.plan answers the EXPLAIN of the request's statement.",
        c"",
        &DB_PLAN_ENABLED,
        reload(),
        none(),
    );
    GucRegistry::define_bool_guc(
        c"pgrest.server_compression",
        c"Whether responses of 1 kB and more are gzipped for clients that accept it.",
        c"",
        &SERVER_COMPRESSION,
        reload(),
        none(),
    );
    GucRegistry::define_bool_guc(
        c"pgrest.server_timing_enabled",
        c"Whether responses carry a Server-Timing header (jwt, parse, plan, transaction, response).",
        c"",
        &SERVER_TIMING_ENABLED,
        reload(),
        none(),
    );
    GucRegistry::define_int_guc(
        c"pgrest.server_write_timeout",
        c"Seconds a response write may make no progress before the connection is closed.",
        c"",
        &SERVER_WRITE_TIMEOUT,
        1,
        3600,
        reload(),
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"pgrest.db_pool_max_waiting",
        c"Requests that may wait for a free worker, server-wide; more get 503.",
        c"",
        &DB_POOL_MAX_WAITING,
        1,
        crate::pool::MAX_WAITING as i32,
        reload(),
        none(),
    );
    GucRegistry::define_string_guc(
        c"pgrest.client_error_verbosity",
        c"verbose: error bodies carry code, message, details and hint; minimal: code and message.",
        c"",
        &CLIENT_ERROR_VERBOSITY,
        reload(),
        none(),
    );
    GucRegistry::define_string_guc(
        c"pgrest.log_level",
        c"What pgrest logs: crit, error (5xx answers, the default), warn (and 4xx), info (every request), debug.",
        c"Lines go to PostgreSQL's log at level LOG.",
        &LOG_LEVEL,
        reload(),
        none(),
    );
    GucRegistry::define_bool_guc(
        c"pgrest.log_query",
        c"Log the SQL statement of every request whose answer pgrest.log_level logs.",
        c"",
        &LOG_QUERY,
        reload(),
        none(),
    );
    GucRegistry::define_string_guc(
        c"pgrest.openapi_mode",
        c"What GET / describes: follow-privileges (what the role may use), ignore-privileges, or disabled (404).",
        c"",
        &OPENAPI_MODE,
        reload(),
        none(),
    );
    GucRegistry::define_string_guc(
        c"pgrest.openapi_server_proxy_uri",
        c"The URL clients reach pgrest at (scheme, host, port, path), for the OpenAPI document.",
        c"",
        &OPENAPI_SERVER_PROXY_URI,
        reload(),
        none(),
    );
    GucRegistry::define_bool_guc(
        c"pgrest.openapi_security_active",
        c"Declare the JWT bearer security scheme in the OpenAPI document.",
        c"",
        &OPENAPI_SECURITY_ACTIVE,
        reload(),
        none(),
    );
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"pgrest".as_ptr()) };
}

/// `pgrest.log_level`, PostgREST's levels in increasing verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Crit,
    Error,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    /// Whether a request answered with `status` is logged (PostgREST's rule).
    pub fn logs_status(self, status: u16) -> bool {
        match self {
            LogLevel::Crit => false,
            LogLevel::Error => status >= 500,
            LogLevel::Warn => status >= 400,
            LogLevel::Info | LogLevel::Debug => true,
        }
    }
}

/// How the transaction of a request ends (`pgrest.db_tx_end`, `Prefer: tx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxEnd {
    Commit,
    Rollback,
}

/// What `GET /` describes (`pgrest.openapi_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenApiMode {
    FollowPrivileges,
    IgnorePrivileges,
    Disabled,
}

/// Everything a request needs to know about the configuration, owned and thread-safe.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub db_schemas: Vec<String>,
    pub db_anon_role: Option<String>,
    pub db_extra_search_path: Vec<String>,
    pub db_max_rows: Option<i64>,
    /// `(schema, function)`; an unqualified name is resolved through the request's search_path.
    pub db_pre_request: Option<(Option<String>, String)>,
    pub db_tx_end: TxEnd,
    /// `-allow-override`: `Prefer: tx=` may choose.
    pub db_tx_allow_override: bool,
    pub db_pool_acquisition_timeout: Duration,
    /// The keys tokens are verified with (an HS secret, a JWK or a JWKS), or the reason
    /// there are none (logged once at load).
    pub jwt_secret: Result<Vec<crate::auth::JwtKey>, String>,
    /// Identifies the keys: cached verifications of other keys are void.
    pub jwt_keys_id: u64,
    /// Verified tokens kept per worker (`pgrest.jwt_cache_max_entries`).
    pub jwt_cache_max_entries: usize,
    /// Where the role is in the claims, or why the setting is unusable (then requests
    /// with a token are refused: a role read from the wrong claim is worse than none).
    pub jwt_role_claim_key: Result<crate::claim_path::RoleClaimPath, String>,
    pub jwt_aud: Option<String>,
    pub server_max_body_size: usize,
    pub server_cors_allowed_origins: Option<Vec<String>>,
    pub server_max_connections: usize,
    pub server_head_timeout: Duration,
    pub server_max_head_size: usize,
    pub server_body_timeout: Duration,
    pub server_write_timeout: Duration,
    /// `Server-Timing` on responses.
    pub server_timing_enabled: bool,
    /// Aggregates in `select` (PGRST123 otherwise).
    pub db_aggregates_enabled: bool,
    /// gzip for clients that accept it.
    pub server_compression: bool,
    /// `Accept: application/vnd.pgrst.plan` (EXPLAIN).
    pub db_plan_enabled: bool,
    /// `client_error_verbosity = minimal`: error bodies without details and hint.
    pub minimal_errors: bool,
    pub db_pool_max_waiting: usize,
    pub log_level: LogLevel,
    /// Log the statement of every logged request.
    pub log_query: bool,
    pub openapi_mode: OpenApiMode,
    pub openapi_server_proxy_uri: Option<String>,
    pub openapi_security_active: bool,
    /// `pgrest.server_host` and `pgrest.server_port`, for the OpenAPI document.
    pub server_host: String,
    pub server_port: u16,
    /// Problems found while loading; logged by the worker.
    pub warnings: Vec<String>,
}

fn read_string(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting
        .get()
        .map(|c| c.to_string_lossy().trim().to_string())
        .filter(|s| !s.is_empty())
}

fn secs(setting: &GucSetting<i32>) -> Duration {
    Duration::from_secs(setting.get().max(1) as u64)
}

/// Splits a comma-separated list, trimming blanks and dropping empty items.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl AppConfig {
    /// Snapshots the reloadable GUCs. Main thread only.
    pub fn load() -> AppConfig {
        let mut warnings = Vec::new();
        let mut db_schemas = split_list(&read_string(&DB_SCHEMAS).unwrap_or_default());
        if db_schemas.is_empty() {
            warnings.push("pgrest.db_schemas is empty; exposing schema \"public\"".to_string());
            db_schemas.push("public".to_string());
        }
        let (db_tx_end, db_tx_allow_override) = match read_string(&DB_TX_END).as_deref() {
            None | Some("commit") => (TxEnd::Commit, false),
            Some("commit-allow-override") => (TxEnd::Commit, true),
            Some("rollback") => (TxEnd::Rollback, false),
            Some("rollback-allow-override") => (TxEnd::Rollback, true),
            Some(other) => {
                warnings.push(format!(
                    "invalid pgrest.db_tx_end \"{other}\"; using commit"
                ));
                (TxEnd::Commit, false)
            }
        };
        let jwt_secret = match read_string(&JWT_SECRET) {
            None => Err("pgrest.jwt_secret is not set".to_string()),
            Some(s) => crate::auth::parse_jwt_keys(&s, JWT_SECRET_IS_BASE64.get(), &mut warnings),
        };
        if let Err(e) = &jwt_secret {
            if read_string(&JWT_SECRET).is_some() {
                warnings.push(e.clone());
            }
        }
        let claim_key = read_string(&JWT_ROLE_CLAIM_KEY).unwrap_or_else(|| "$.role".into());
        let jwt_role_claim_key = crate::claim_path::RoleClaimPath::parse(&claim_key);
        match &jwt_role_claim_key {
            Err(e) => warnings.push(format!(
                "pgrest.jwt_role_claim_key: {e}; requests with a token are refused until it is fixed"
            )),
            Ok(p) if p.is_legacy() => warnings.push(format!(
                "pgrest.jwt_role_claim_key {claim_key:?} uses the older JSPath syntax, which \
                 PostgREST deprecates; write it as a JSONPath (RFC 9535), e.g. $.role"
            )),
            Ok(_) => {}
        }
        let db_pre_request = read_string(&DB_PRE_REQUEST).map(|s| match s.split_once('.') {
            Some((schema, name)) => (Some(schema.to_string()), name.to_string()),
            None => (None, s),
        });
        let max_rows = DB_MAX_ROWS.get();
        let openapi_mode = match read_string(&OPENAPI_MODE).as_deref() {
            None | Some("follow-privileges") => OpenApiMode::FollowPrivileges,
            Some("ignore-privileges") => OpenApiMode::IgnorePrivileges,
            Some("disabled") => OpenApiMode::Disabled,
            Some(other) => {
                warnings.push(format!(
                    "invalid pgrest.openapi_mode \"{other}\"; using follow-privileges"
                ));
                OpenApiMode::FollowPrivileges
            }
        };
        let minimal_errors = match read_string(&CLIENT_ERROR_VERBOSITY).as_deref() {
            None | Some("verbose") => false,
            Some("minimal") => true,
            Some(other) => {
                warnings.push(format!(
                    "invalid pgrest.client_error_verbosity \"{other}\"; using verbose"
                ));
                false
            }
        };
        let log_level = match read_string(&LOG_LEVEL).as_deref() {
            Some("crit") => LogLevel::Crit,
            None | Some("error") => LogLevel::Error,
            Some("warn") => LogLevel::Warn,
            Some("info") => LogLevel::Info,
            Some("debug") => LogLevel::Debug,
            Some(other) => {
                warnings.push(format!(
                    "invalid pgrest.log_level \"{other}\" (crit, error, warn, info or debug); using error"
                ));
                LogLevel::Error
            }
        };
        AppConfig {
            log_level,
            log_query: LOG_QUERY.get(),
            openapi_mode,
            openapi_server_proxy_uri: read_string(&OPENAPI_SERVER_PROXY_URI),
            openapi_security_active: OPENAPI_SECURITY_ACTIVE.get(),
            server_host: read_string(&SERVER_HOST).unwrap_or_else(|| "localhost".into()),
            server_port: SERVER_PORT.get().clamp(1, 65535) as u16,
            db_anon_role: read_string(&DB_ANON_ROLE),
            db_extra_search_path: split_list(
                &read_string(&DB_EXTRA_SEARCH_PATH).unwrap_or_default(),
            ),
            db_max_rows: (max_rows >= 0).then_some(max_rows as i64),
            db_pre_request,
            db_tx_end,
            db_tx_allow_override,
            db_pool_acquisition_timeout: Duration::from_secs(
                DB_POOL_ACQUISITION_TIMEOUT.get().max(1) as u64,
            ),
            jwt_keys_id: {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (read_string(&JWT_SECRET), JWT_SECRET_IS_BASE64.get()).hash(&mut h);
                h.finish()
            },
            jwt_secret,
            jwt_cache_max_entries: JWT_CACHE_MAX_ENTRIES.get().max(0) as usize,
            jwt_role_claim_key,
            jwt_aud: read_string(&JWT_AUD),
            server_max_body_size: SERVER_MAX_BODY_SIZE.get().max(0) as usize,
            server_cors_allowed_origins: read_string(&SERVER_CORS_ALLOWED_ORIGINS)
                .map(|s| split_list(&s)),
            server_max_connections: SERVER_MAX_CONNECTIONS.get().max(1) as usize,
            server_head_timeout: secs(&SERVER_HEAD_TIMEOUT),
            server_max_head_size: SERVER_MAX_HEAD_SIZE.get().max(8192) as usize,
            server_body_timeout: secs(&SERVER_BODY_TIMEOUT),
            server_write_timeout: secs(&SERVER_WRITE_TIMEOUT),
            server_timing_enabled: SERVER_TIMING_ENABLED.get(),
            db_aggregates_enabled: DB_AGGREGATES_ENABLED.get(),
            server_compression: SERVER_COMPRESSION.get(),
            db_plan_enabled: DB_PLAN_ENABLED.get(),
            minimal_errors,
            db_pool_max_waiting: DB_POOL_MAX_WAITING.get().max(1) as usize,
            db_schemas,
            warnings,
        }
    }

    /// PostgREST's defaults (what `load` gives with no pgrest.* setting), for tests.
    #[cfg(test)]
    pub fn test_default() -> AppConfig {
        AppConfig {
            db_schemas: vec!["api".into()],
            db_anon_role: Some("web_anon".into()),
            db_extra_search_path: vec!["public".into()],
            db_max_rows: None,
            db_pre_request: None,
            db_tx_end: TxEnd::Commit,
            db_tx_allow_override: false,
            db_pool_acquisition_timeout: Duration::from_secs(10),
            jwt_secret: Err("unset".into()),
            jwt_keys_id: 0,
            jwt_cache_max_entries: 0,
            jwt_role_claim_key: crate::claim_path::RoleClaimPath::parse("$.role"),
            jwt_aud: None,
            server_max_body_size: 1 << 20,
            server_cors_allowed_origins: None,
            server_max_connections: 1000,
            server_head_timeout: Duration::from_secs(30),
            server_max_head_size: 64 * 1024,
            server_body_timeout: Duration::from_secs(60),
            server_write_timeout: Duration::from_secs(30),
            server_timing_enabled: false,
            db_aggregates_enabled: false,
            server_compression: true,
            db_plan_enabled: false,
            minimal_errors: false,
            db_pool_max_waiting: 1024,
            log_level: LogLevel::Error,
            log_query: false,
            openapi_mode: OpenApiMode::FollowPrivileges,
            openapi_server_proxy_uri: None,
            openapi_security_active: false,
            server_host: "localhost".into(),
            server_port: 3000,
            warnings: vec![],
        }
    }

    pub fn default_schema(&self) -> &str {
        &self.db_schemas[0]
    }
}

pub(crate) fn decode_secret(secret: &str, is_base64: bool) -> Result<Vec<u8>, String> {
    let bytes = if is_base64 {
        base64_decode(secret.as_bytes())
            .ok_or_else(|| "pgrest.jwt_secret is not valid base64".to_string())?
    } else {
        secret.as_bytes().to_vec()
    };
    if bytes.len() < 32 {
        return Err(
            "pgrest.jwt_secret must be at least 32 characters long; JWTs are refused".to_string(),
        );
    }
    Ok(bytes)
}

/// Standard or URL-safe base64, padding optional (secrets and JWT segments).
pub fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    let end = s.iter().rposition(|&c| c != b'=').map_or(0, |e| e + 1);
    for &c in &s[..end] {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The restart-only settings the postmaster and each worker need.
#[derive(Debug, Clone)]
pub struct StartupConfig {
    pub server_host: String,
    pub server_port: u16,
    /// The admin server's address, if it is on (`pgrest.admin_server_port` > 0).
    pub admin_server: Option<(String, u16)>,
    pub workers: usize,
    pub database: String,
    pub authenticator: String,
}

impl StartupConfig {
    pub fn load() -> StartupConfig {
        let s = |g: &GucSetting<Option<CString>>, d: &CStr| {
            read_string(g).unwrap_or_else(|| d.to_string_lossy().into_owned())
        };
        let server_host = s(&SERVER_HOST, c"localhost");
        let admin_port = ADMIN_SERVER_PORT.get();
        StartupConfig {
            admin_server: (admin_port > 0).then(|| {
                (
                    read_string(&ADMIN_SERVER_HOST).unwrap_or_else(|| server_host.clone()),
                    admin_port as u16,
                )
            }),
            server_host,
            server_port: SERVER_PORT.get().clamp(1, 65535) as u16,
            workers: WORKERS.get().clamp(1, crate::pool::MAX_WORKERS as i32) as usize,
            database: s(&DATABASE, c"postgres"),
            authenticator: s(&AUTHENTICATOR, c"authenticator"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets() {
        assert!(decode_secret("short", false).is_err());
        assert_eq!(decode_secret(&"x".repeat(32), false).unwrap().len(), 32);
        // 33 bytes of 0xff in base64
        let b64 = "////////////////////////////////////////////";
        assert_eq!(decode_secret(b64, true).unwrap().len(), 33);
        assert!(decode_secret("not base64!", true).is_err());
        assert_eq!(
            split_list(" api, public ,,"),
            vec!["api".to_string(), "public".to_string()]
        );
    }
}
