//! A real PostgreSQL cluster with pgrest preloaded, spoken to over HTTP.
//!
//! [`Cluster::start`] runs initdb into `<workspace>/target/e2e/<name>` (or `$PGREST_E2E_ROOT/<name>`) (wiped first), writes a
//! postgresql.conf that preloads pgrest on a free TCP port, starts the server, loads
//! `sql/demo.sql` and `pgrx-tests/fixtures/*.sql`, and waits until `GET /todos` answers 200.
//! [`Cluster::shared`] gives the tests of one binary a cluster they share; it is stopped when
//! the process exits. A cluster that is dropped, or that fails to start, is stopped too.
//!
//! When running as root every PostgreSQL program is run as the `postgres` OS user
//! (`runuser -u postgres --`), and the data directory is owned by it.
//!
//! `PGREST_E2E_NO_PRELOAD=1` starts clusters without pgrest (no `shared_preload_libraries`,
//! no `CREATE EXTENSION pgrest`, no HTTP wait): that checks the harness itself on a machine
//! where the extension is not built or installed.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock, TryLockError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::{self, Conn, RawOutcome, Response};
use crate::jwt::JWT_SECRET;

/// The binaries of the PostgreSQL under test: `$PGREST_PG_BIN` (the Makefile sets it to the
/// tests' own installation), else Debian's PostgreSQL 15.
pub fn pg_bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("PGREST_PG_BIN")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "/usr/lib/postgresql/15/bin".to_string())
    })
}

/// A conf override value that removes the setting from postgresql.conf instead of setting it
/// (for example `("pgrest.db_anon_role", UNSET)`).
pub const UNSET: &str = "\u{0}unset";

/// How long [`Cluster::start`] waits for `GET /todos` to answer 200.
pub const HTTP_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What [`Cluster::start_with`] does besides initdb and starting the server.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Put `pgrest` in `shared_preload_libraries` and keep `CREATE EXTENSION pgrest` in demo.sql.
    pub preload: bool,
    /// Load `sql/demo.sql` and `pgrx-tests/fixtures/*.sql`.
    pub load_sql: bool,
    /// Wait until `GET /todos` answers 200 (only meaningful with `preload`).
    pub wait_http: bool,
}

impl Options {
    /// The full set-up, unless `PGREST_E2E_NO_PRELOAD` is set to something other than `0`/empty.
    pub fn from_env() -> Options {
        let no_preload = std::env::var("PGREST_E2E_NO_PRELOAD")
            .map(|v| !v.is_empty() && v != "0")
            .unwrap_or(false);
        if no_preload {
            Options::no_preload()
        } else {
            Options {
                preload: true,
                load_sql: true,
                wait_http: true,
            }
        }
    }

    /// A plain cluster with the SQL loaded but without pgrest (harness self-tests).
    pub fn no_preload() -> Options {
        Options {
            preload: false,
            load_sql: true,
            wait_http: false,
        }
    }
}

/// A running (or stopped) test cluster. Dropping it stops the server.
#[derive(Debug)]
pub struct Cluster {
    pub name: String,
    pub data_dir: PathBuf,
    /// Where the server's unix socket lives (the data directory unless its path is too long).
    pub socket_dir: PathBuf,
    /// The PostgreSQL port (only used to name the unix socket: TCP is off).
    pub pg_port: u16,
    /// The TCP port pgrest serves HTTP on, at 127.0.0.1.
    pub http_port: u16,
    options: Options,
    /// The conf overrides this cluster was started with (a standby inherits them).
    overrides: Vec<(String, String)>,
    running: AtomicBool,
}

// ---------------------------------------------------------------------------------------------
// Process-wide bookkeeping: live data directories (stopped at exit), ports handed out, shared
// clusters.

static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static ATEXIT: Once = Once::new();

type SharedSlot = Arc<OnceLock<Result<&'static Cluster, String>>>;
static SHARED: Mutex<Option<HashMap<String, SharedSlot>>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

extern "C" fn stop_live_clusters() {
    // Never block at exit: if another thread holds the lock, take what we can get.
    let dirs: Vec<PathBuf> = match LIVE.try_lock() {
        Ok(guard) => guard.clone(),
        Err(TryLockError::Poisoned(p)) => p.into_inner().clone(),
        Err(TryLockError::WouldBlock) => return,
    };
    for dir in dirs {
        stop_data_dir(&dir);
    }
}

fn register_live(dir: &Path) {
    ATEXIT.call_once(|| unsafe {
        libc::atexit(stop_live_clusters);
    });
    let mut live = lock(&LIVE);
    if !live.iter().any(|d| d == dir) {
        live.push(dir.to_path_buf());
    }
}

fn unregister_live(dir: &Path) {
    lock(&LIVE).retain(|d| d != dir);
}

/// A TCP port on 127.0.0.1 that nothing listens on now and that this process has not handed
/// out before.
pub fn free_port() -> u16 {
    let mut used = lock(&PORTS);
    let used = used.get_or_insert_with(HashSet::new);
    for _ in 0..100 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        if used.insert(port) {
            return port;
        }
    }
    panic!("no free TCP port found");
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// uid and gid of the `postgres` OS user, looked up once. `getpwnam` fills one static
/// record per process, so two clusters starting on two test threads read each other's
/// half-written lookup (uid 0 was seen: a data directory chowned to root, and initdb's
/// "Permission denied"); `getpwnam_r` writes into our own buffers.
fn postgres_ids() -> (u32, u32) {
    static IDS: OnceLock<(u32, u32)> = OnceLock::new();
    *IDS.get_or_init(|| {
        let mut record: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let mut buf = vec![0 as libc::c_char; 16 * 1024];
        let rc = unsafe {
            libc::getpwnam_r(
                c"postgres".as_ptr(),
                &mut record,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        assert!(
            rc == 0 && !found.is_null(),
            "running as root but there is no `postgres` OS user (getpwnam_r: {rc})"
        );
        (record.pw_uid, record.pw_gid)
    })
}

fn chown_to_postgres(path: &Path) {
    if is_root() {
        let (uid, gid) = postgres_ids();
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("chown postgres {}: {e}", path.display()));
    }
}

/// The workspace root (`pgrx-tests/..`).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("pgrx-tests has a parent directory")
        .to_path_buf()
}

/// Where data directories go: `$PGREST_E2E_ROOT` (`make test` sets it to a folder the
/// postgres OS user can reach, see .ci/state-dir.sh), else `<workspace>/target/e2e`.
pub fn e2e_root() -> PathBuf {
    match std::env::var_os("PGREST_E2E_ROOT") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_dir().join("target").join("e2e"),
    }
}

/// A command for a PostgreSQL server-side program, run as `postgres` when we are root.
fn pg_command(program: &str) -> Command {
    let path = format!("{}/{program}", pg_bin());
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &path]);
        c
    } else {
        Command::new(path)
    };
    // A directory the postgres user can read, whatever our own cwd is.
    cmd.current_dir(e2e_root());
    // A relocatable PostgreSQL (.ci/pg.sh) links its modules (the walreceiver's libpq) against
    // the libpq of its own lib/; without this a standby would load the system's older one.
    let lib = Path::new(pg_bin()).join("../lib");
    if lib.join("libpq.so.5").exists() {
        cmd.env("LD_LIBRARY_PATH", lib);
    }
    for var in [
        "PGDATA",
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
        "PGOPTIONS",
        "PGSERVICE",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not run {cmd:?}: {e}"));
    out
}

fn output_text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Stops whatever postmaster runs on `dir` (fast, then immediate). Quiet: for clean-up paths.
fn stop_data_dir(dir: &Path) {
    if !dir.join("postmaster.pid").exists() {
        return;
    }
    let d = dir.to_string_lossy().into_owned();
    let fast = pg_command("pg_ctl")
        .args(["-D", &d, "-m", "fast", "-w", "-t", "30", "stop"])
        .output();
    if matches!(fast, Ok(ref o) if o.status.success()) {
        return;
    }
    let _ = pg_command("pg_ctl")
        .args(["-D", &d, "-m", "immediate", "-w", "-t", "30", "stop"])
        .output();
}

/// Quotes a value for postgresql.conf / ALTER SYSTEM. A value already in single quotes is
/// taken as written.
fn conf_quote(value: &str) -> String {
    if value.len() >= 2 && value.starts_with('\'') && value.ends_with('\'') {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

fn check_guc_name(key: &str) {
    assert!(
        !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'),
        "not a configuration parameter name: {key:?}"
    );
}

/// The last `n` lines of a text.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic".to_string()
    }
}

/// The SQL fixtures, in file-name order.
fn fixture_files() -> Vec<PathBuf> {
    let dir = workspace_dir().join("pgrx-tests").join("fixtures");
    let mut files: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("reading {}: {e}", dir.display()),
    };
    files.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
    files
}

/// demo.sql without `CREATE EXTENSION ... pgrest` (for clusters that do not preload it).
fn strip_create_extension(sql: &str) -> String {
    sql.lines()
        .filter(|line| {
            let l = line.trim().to_ascii_lowercase();
            !(l.starts_with("create extension") && l.contains("pgrest"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Cluster {
    // -----------------------------------------------------------------------------------------
    // Construction

    /// Starts a fresh cluster named `name` with the default configuration plus `conf`
    /// overrides (a value of [`UNSET`] removes a default). Panics, with the end of the server
    /// log, if anything fails; the server is stopped in that case.
    pub fn start(name: &str, conf: &[(&str, &str)]) -> Cluster {
        Cluster::start_with(name, conf, Options::from_env())
    }

    /// [`Cluster::start`] with explicit [`Options`].
    pub fn start_with(name: &str, conf: &[(&str, &str)], options: Options) -> Cluster {
        let data_dir = Cluster::prepare_data_dir(name);
        Cluster::initdb(&data_dir);
        let mut cluster = Cluster::new(name, data_dir, options);
        cluster.overrides = conf
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        cluster.write_conf(false);
        // From here on a panic drops `cluster`, which stops the server.
        cluster.launch();
        if options.load_sql {
            cluster.load_sql();
        }
        if options.preload && options.wait_http {
            cluster.wait_for_http(HTTP_READY_TIMEOUT);
            if options.load_sql {
                cluster.wait_for_fresh_caches(HTTP_READY_TIMEOUT);
            }
        }
        cluster
    }

    /// The cluster shared by every test of this binary that asks for `name`: started on first
    /// use, stopped at process exit. If its start fails, every later caller fails at once with
    /// the same message instead of starting it again.
    pub fn shared(name: &str) -> &'static Cluster {
        Cluster::shared_with(name, &[])
    }

    /// [`Cluster::shared`] with conf overrides (used only by the first caller).
    pub fn shared_with(name: &str, conf: &[(&str, &str)]) -> &'static Cluster {
        Cluster::shared_with_options(name, conf, Options::from_env())
    }

    /// [`Cluster::shared_with`] with explicit [`Options`] (used only by the first caller).
    pub fn shared_with_options(
        name: &str,
        conf: &[(&str, &str)],
        options: Options,
    ) -> &'static Cluster {
        let slot = {
            let mut map = lock(&SHARED);
            map.get_or_insert_with(HashMap::new)
                .entry(name.to_string())
                .or_default()
                .clone()
        };
        let result = slot.get_or_init(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                Cluster::start_with(name, conf, options)
            }))
            .map(|c| &*Box::leak(Box::new(c)))
            .map_err(panic_message)
        });
        match result {
            Ok(cluster) => cluster,
            Err(msg) => panic!("shared cluster {name:?} failed to start:\n{msg}"),
        }
    }

    /// A hot standby of this cluster: `pg_basebackup -R` into `<target>/e2e/<name>`, with its
    /// own socket, PostgreSQL port and HTTP port, plus `conf` overrides. Waits for HTTP like
    /// [`Cluster::start`] (no SQL is loaded: the standby is read-only and has the primary's).
    pub fn start_standby(&self, name: &str, conf: &[(&str, &str)]) -> Cluster {
        let data_dir = Cluster::prepare_data_dir(name);
        let d = data_dir.to_string_lossy().into_owned();
        let host = self.socket_dir.to_string_lossy().into_owned();
        let port = self.pg_port.to_string();
        let out = run(
            {
                let mut c = pg_command("pg_basebackup");
                c.args(["-D", &d, "-h", &host, "-p", &port, "-U", "postgres"]);
                c.args(["-R", "-X", "stream", "-c", "fast", "--no-sync"]);
                c
            },
            "pg_basebackup",
        );
        assert!(
            out.status.success(),
            "pg_basebackup failed:\n{}",
            output_text(&out)
        );
        // The primary's log came along with the copy.
        let _ = fs::remove_file(data_dir.join("server.log"));
        let options = Options {
            load_sql: false,
            ..self.options
        };
        let mut standby = Cluster::new(name, data_dir, options);
        // The primary's overrides first (a standby needs max_connections and the like at least
        // as high as its primary's), then the standby's own.
        standby.overrides = self.overrides.clone();
        standby
            .overrides
            .extend(conf.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        standby.write_conf(true);
        standby.launch();
        if options.preload && options.wait_http {
            standby.wait_for_http(HTTP_READY_TIMEOUT);
        }
        standby
    }

    fn new(name: &str, data_dir: PathBuf, options: Options) -> Cluster {
        // A unix socket path must fit in sun_path (108 bytes with the NUL).
        let socket_dir = if data_dir.as_os_str().len() + "/.s.PGSQL.65535.lock".len() < 100 {
            data_dir.clone()
        } else {
            let dir =
                std::env::temp_dir().join(format!("pgrest-e2e-{}-{}", std::process::id(), name));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("creating the socket directory");
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod socket dir");
            chown_to_postgres(&dir);
            dir
        };
        Cluster {
            name: name.to_string(),
            data_dir,
            socket_dir,
            pg_port: free_port(),
            http_port: free_port(),
            options,
            overrides: Vec::new(),
            running: AtomicBool::new(false),
        }
    }

    /// Stops a leftover postmaster on the directory, wipes it and recreates it (owned by
    /// postgres, mode 0700).
    fn prepare_data_dir(name: &str) -> PathBuf {
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "cluster names are [A-Za-z0-9_-]+, got {name:?}"
        );
        let root = e2e_root();
        fs::create_dir_all(&root).unwrap_or_else(|e| panic!("creating {}: {e}", root.display()));
        if is_root() {
            // The postgres user must be able to traverse it (and use it as cwd).
            let _ = fs::set_permissions(&root, fs::Permissions::from_mode(0o755));
        }
        let dir = root.join(name);
        if dir.exists() {
            stop_data_dir(&dir);
            unregister_live(&dir);
            fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("wiping {}: {e}", dir.display()));
        }
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod data dir");
        chown_to_postgres(&dir);
        dir
    }

    fn initdb(dir: &Path) {
        let d = dir.to_string_lossy().into_owned();
        let attempt = |locale: &str| {
            run(
                {
                    let mut c = pg_command("initdb");
                    c.args(["-D", &d, "-A", "trust", "-U", "postgres", "-E", "UTF8"]);
                    c.arg(format!("--locale={locale}"));
                    c.arg("--no-sync");
                    c
                },
                "initdb",
            )
        };
        let first = attempt("C.UTF-8");
        if first.status.success() {
            return;
        }
        // initdb leaves nothing behind in a directory it did not create, but make sure.
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
        let second = attempt("C");
        assert!(
            second.status.success(),
            "initdb failed with --locale=C.UTF-8:\n{}\nand with --locale=C:\n{}",
            output_text(&first),
            output_text(&second)
        );
    }

    /// The settings every cluster gets, in order, before overrides.
    fn default_conf(&self) -> Vec<(String, String)> {
        let mut conf: Vec<(&str, String)> = vec![
            ("listen_addresses", String::new()),
            (
                "unix_socket_directories",
                self.socket_dir.to_string_lossy().into_owned(),
            ),
            ("port", self.pg_port.to_string()),
        ];
        if self.options.preload {
            conf.push(("shared_preload_libraries", "pgrest".into()));
        }
        conf.extend([
            ("pgrest.server_host", "127.0.0.1".to_string()),
            ("pgrest.server_port", self.http_port.to_string()),
            ("pgrest.workers", "2".into()),
            ("pgrest.database", "postgres".into()),
            ("pgrest.authenticator", "authenticator".into()),
            ("pgrest.db_schemas", "api".into()),
            ("pgrest.db_anon_role", "web_anon".into()),
            ("pgrest.jwt_secret", JWT_SECRET.into()),
            ("log_min_messages", "log".into()),
            // Deterministic output: timestamps in UTC, messages in English.
            ("timezone", "UTC".into()),
            ("log_timezone", "UTC".into()),
            ("lc_messages", "C".into()),
            // Throwaway clusters: durability is not needed.
            ("fsync", "off".into()),
        ]);
        conf.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Appends (or, for a standby, replaces) the generated block at the end of
    /// postgresql.conf: later lines win over initdb's and the primary's.
    fn write_conf(&self, replace_block: bool) {
        const MARKER: &str = "# ---- pgrest e2e (generated by pgrx-tests/src/harness.rs) ----";
        let mut conf = self.default_conf();
        if replace_block {
            conf.push(("hot_standby".into(), "on".into()));
        }
        for (key, value) in &self.overrides {
            check_guc_name(key);
            let existing = conf.iter().position(|(k, _)| k.eq_ignore_ascii_case(key));
            match (existing, value == UNSET) {
                (Some(i), true) => {
                    conf.remove(i);
                }
                (Some(i), false) => conf[i].1 = value.to_string(),
                (None, true) => {}
                (None, false) => conf.push((key.to_string(), value.to_string())),
            }
        }
        let path = self.data_dir.join("postgresql.conf");
        let mut text =
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        if replace_block {
            if let Some(i) = text.find(MARKER) {
                text.truncate(i);
            }
        }
        text.push('\n');
        text.push_str(MARKER);
        text.push('\n');
        for (key, value) in &conf {
            text.push_str(&format!("{key} = {}\n", conf_quote(value)));
        }
        fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        chown_to_postgres(&path);
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        let d = self.data_dir.to_string_lossy().into_owned();
        let log = self.log_path().to_string_lossy().into_owned();
        let mut cmd = pg_command("pg_ctl");
        cmd.args(["-D", &d, "-l", &log]).args(args);
        run(cmd, "pg_ctl")
    }

    /// `pg_ctl start -w`; panics with the log on failure.
    fn launch(&self) {
        register_live(&self.data_dir);
        let out = self.pg_ctl(&["-w", "-t", "60", "start"]);
        if !out.status.success() {
            let log = self.log();
            let hint = if log.contains("could not access file \"pgrest\"") {
                "\nhint: pgrest is not installed in this PostgreSQL: run `make test-e2e` (or set \
                 PGREST_E2E_NO_PRELOAD=1 to test the harness alone)"
            } else {
                ""
            };
            panic!(
                "pg_ctl start of cluster {:?} failed:\n{}\n--- server log (tail) ---\n{}{hint}",
                self.name,
                output_text(&out),
                tail(&log, 80)
            );
        }
        self.running.store(true, Ordering::SeqCst);
    }

    fn load_sql(&self) {
        let demo = workspace_dir().join("sql").join("demo.sql");
        if self.options.preload {
            self.psql_file(&demo);
        } else {
            let text = fs::read_to_string(&demo)
                .unwrap_or_else(|e| panic!("reading {}: {e}", demo.display()));
            self.psql_script(&strip_create_extension(&text), &demo.display().to_string());
        }
        for file in fixture_files() {
            self.psql_file(&file);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Lifecycle

    /// True while the server is started (as far as this handle knows).
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// The postmaster's pid from postmaster.pid, if the file exists and the process is alive.
    pub fn postmaster_pid(&self) -> Option<i32> {
        let text = fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        let pid: i32 = text.lines().next()?.trim().parse().ok()?;
        let alive = unsafe { libc::kill(pid, 0) == 0 };
        alive.then_some(pid)
    }

    /// Polls `GET /todos` until it answers 200. Panics with the log tail on timeout or if the
    /// postmaster dies meanwhile.
    pub fn wait_for_http(&self, timeout: Duration) {
        let start = Instant::now();
        let mut last = String::from("no attempt yet");
        while start.elapsed() < timeout {
            match http::try_request_timeout(
                self.http_port,
                "GET",
                "/todos",
                &[],
                None,
                Duration::from_secs(3),
            ) {
                // 401: anonymous access is disabled in this cluster, but pgrest answered.
                Ok(r) if r.status == 200 || r.status == 401 => return,
                Ok(r) => last = format!("answered {}", r.describe()),
                Err(e) => last = format!("{e}"),
            }
            if self.postmaster_pid().is_none() {
                panic!(
                    "cluster {:?}: the postmaster died while waiting for HTTP on port {} \
                     (last attempt: {last})\n--- server log (tail) ---\n{}",
                    self.name,
                    self.http_port,
                    tail(&self.log(), 80)
                );
            }
            thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "cluster {:?}: GET /todos on port {} did not answer 200 within {:?} \
             (last attempt: {last})\n--- server log (tail) ---\n{}",
            self.name,
            self.http_port,
            timeout,
            tail(&self.log(), 80)
        );
    }

    /// Waits until every worker's schema cache is the current one (the fixtures' DDL makes
    /// them reload), so tests that time requests do not time a cache load. Gives up quietly
    /// after `timeout`: a test about workers that cannot serve must still run.
    pub fn wait_for_fresh_caches(&self, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            let fresh = self
                .try_psql("select pgrest.pool()")
                .ok()
                .and_then(|out| serde_json::from_str::<serde_json::Value>(out.trim()).ok())
                .is_some_and(|p| {
                    let current = &p["schema_generation"];
                    p["cache_generations"]
                        .as_array()
                        .is_some_and(|g| !g.is_empty() && g.iter().all(|x| x == current))
                });
            if fresh {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (fast shutdown, immediate if that fails).
    pub fn stop(&self) {
        if !self.is_running() && self.postmaster_pid().is_none() {
            return;
        }
        let out = self.pg_ctl(&["-m", "fast", "-w", "-t", "60", "stop"]);
        if !out.status.success() && self.postmaster_pid().is_some() {
            let out2 = self.pg_ctl(&["-m", "immediate", "-w", "-t", "60", "stop"]);
            assert!(
                out2.status.success() || self.postmaster_pid().is_none(),
                "could not stop cluster {:?}:\n{}\n{}",
                self.name,
                output_text(&out),
                output_text(&out2)
            );
        }
        self.running.store(false, Ordering::SeqCst);
        unregister_live(&self.data_dir);
    }

    /// Restarts the server (or starts it after [`Cluster::stop`]) and waits for HTTP.
    pub fn restart(&self) {
        if self.is_running() {
            self.stop();
        }
        self.launch();
        if self.options.preload && self.options.wait_http {
            self.wait_for_http(HTTP_READY_TIMEOUT);
            if self.options.load_sql {
                self.wait_for_fresh_caches(HTTP_READY_TIMEOUT);
            }
        }
    }

    /// `pg_reload_conf()`, then a short wait for the workers to apply it.
    pub fn reload(&self) {
        self.psql("select pg_reload_conf()");
        thread::sleep(Duration::from_millis(700));
    }

    /// `ALTER SYSTEM SET key = 'value'` (call [`Cluster::reload`] or [`Cluster::restart`]
    /// to apply it).
    pub fn set_conf(&self, key: &str, value: &str) {
        check_guc_name(key);
        self.psql(&format!("ALTER SYSTEM SET {key} = {}", conf_quote(value)));
    }

    /// `ALTER SYSTEM RESET key`.
    pub fn reset_conf(&self, key: &str) {
        check_guc_name(key);
        self.psql(&format!("ALTER SYSTEM RESET {key}"));
    }

    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join("server.log")
    }

    /// The whole server log so far.
    pub fn log(&self) -> String {
        fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    // -----------------------------------------------------------------------------------------
    // SQL

    fn psql_command(&self) -> Command {
        let mut cmd = Command::new(format!("{}/psql", pg_bin()));
        cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]);
        cmd.arg("-h").arg(&self.socket_dir);
        cmd.args([
            "-p",
            &self.pg_port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ]);
        for var in [
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGOPTIONS",
            "PGSERVICE",
            "PGTZ",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("PGCONNECT_TIMEOUT", "10");
        cmd
    }

    /// Runs SQL as the superuser; returns stdout (unaligned, tuples only) without the final
    /// newline, or the error text.
    pub fn try_psql(&self, sql: &str) -> Result<String, String> {
        use std::io::Write;
        let mut child = self
            .psql_command()
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning psql: {e}"))?;
        let mut stdin = child.stdin.take().expect("psql stdin");
        let sql_owned = sql.to_string();
        let writer = thread::spawn(move || {
            let _ = stdin.write_all(sql_owned.as_bytes());
        });
        let out = child
            .wait_with_output()
            .map_err(|e| format!("waiting for psql: {e}"))?;
        let _ = writer.join();
        if out.status.success() {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            while text.ends_with('\n') {
                text.pop();
            }
            Ok(text)
        } else {
            Err(output_text(&out))
        }
    }

    /// [`Cluster::try_psql`], panicking with psql's stderr on failure.
    pub fn psql(&self, sql: &str) -> String {
        self.try_psql(sql)
            .unwrap_or_else(|e| panic!("psql failed on cluster {:?}\nSQL: {sql}\n{e}", self.name))
    }

    /// Runs a SQL file as the superuser; panics with psql's output on failure.
    pub fn psql_file(&self, path: &Path) {
        let out = run(
            {
                let mut c = self.psql_command();
                c.arg("-f").arg(path);
                c
            },
            "psql -f",
        );
        assert!(
            out.status.success(),
            "loading {} into cluster {:?} failed:\n{}",
            path.display(),
            self.name,
            output_text(&out)
        );
    }

    fn psql_script(&self, sql: &str, origin: &str) {
        if let Err(e) = self.try_psql(sql) {
            panic!("loading {origin} into cluster {:?} failed:\n{e}", self.name);
        }
    }

    /// Pids of the pgrest background workers (`pg_stat_activity.backend_type ILIKE '%pgrest%'`),
    /// sorted.
    pub fn worker_pids(&self) -> Vec<i32> {
        let out = self.psql(
            "select pid from pg_stat_activity where backend_type ilike '%pgrest%' order by pid",
        );
        out.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim().parse().unwrap())
            .collect()
    }

    /// Pid of the checkpointer: it changes only if the postmaster re-initialises after a crash.
    pub fn checkpointer_pid(&self) -> i32 {
        let out = self.psql("select pid from pg_stat_activity where backend_type = 'checkpointer'");
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("no checkpointer in pg_stat_activity: {out:?}"))
    }

    // -----------------------------------------------------------------------------------------
    // HTTP

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// One request on a fresh connection (`Connection: close` unless `headers` set
    /// Connection). Panics if no complete response arrives.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| {
                let hint = if self.options.preload {
                    ""
                } else {
                    "\nhint: this cluster runs without pgrest (PGREST_E2E_NO_PRELOAD)"
                };
                panic!(
                    "{method} {path} on cluster {:?} (port {}) got no complete response: {e}\n\
                 --- server log (tail) ---\n{}{hint}",
                    self.name,
                    self.http_port,
                    tail(&self.log(), 30)
                )
            })
    }

    /// [`Cluster::request`] returning the I/O error instead of panicking.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        http::try_request(self.http_port, method, path, headers, body)
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], None)
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", path, headers, None)
    }

    pub fn head(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("HEAD", path, headers, None)
    }

    /// POST with a JSON body (`Content-Type: application/json` unless `headers` set one).
    pub fn post_json(&self, path: &str, json: &Value, headers: &[(&str, &str)]) -> Response {
        self.send_json("POST", path, json, headers)
    }

    /// PATCH with a JSON body (`Content-Type: application/json` unless `headers` set one).
    pub fn patch_json(&self, path: &str, json: &Value, headers: &[(&str, &str)]) -> Response {
        self.send_json("PATCH", path, json, headers)
    }

    pub fn delete(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("DELETE", path, headers, None)
    }

    /// Any method with a JSON body.
    pub fn send_json(
        &self,
        method: &str,
        path: &str,
        json: &Value,
        headers: &[(&str, &str)],
    ) -> Response {
        let body = serde_json::to_vec(json).expect("serialising JSON");
        self.send_body(method, path, &body, "application/json", headers)
    }

    /// Any method with a body of the given content type (unless `headers` set one).
    pub fn send_body(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            all.push(("Content-Type", content_type));
        }
        self.request(method, path, &all, Some(body))
    }

    /// Writes raw bytes, half-closes, and returns whatever came back before EOF, a reset or
    /// the 10 s timeout.
    pub fn raw(&self, bytes: &[u8]) -> Vec<u8> {
        self.raw_outcome(bytes, http::IO_TIMEOUT).bytes
    }

    /// [`Cluster::raw`] with the way the connection ended.
    pub fn raw_outcome(&self, bytes: &[u8], timeout: Duration) -> RawOutcome {
        http::raw_exchange(self.http_port, bytes, timeout).unwrap_or_else(|e| {
            panic!(
                "raw exchange: could not connect to port {}: {e}",
                self.http_port
            )
        })
    }

    /// A keep-alive connection for several (or pipelined) requests.
    pub fn connect(&self) -> Conn {
        Conn::open(self.http_port)
            .unwrap_or_else(|e| panic!("connecting to port {}: {e}", self.http_port))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.is_running() || self.postmaster_pid().is_some() {
            // Never panic in drop (it may run during unwinding).
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.stop()));
            stop_data_dir(&self.data_dir);
        }
        unregister_live(&self.data_dir);
        if self.socket_dir != self.data_dir {
            let _ = fs::remove_dir_all(&self.socket_dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clusters start on several test threads at once, and each chowns its directories to
    /// postgres: the lookup must give the same ids whatever runs beside it.
    #[test]
    fn the_postgres_ids_are_the_same_from_many_threads() {
        if !is_root() {
            return;
        }
        let id = |flag: &str| -> u32 {
            let out = Command::new("id")
                .args([flag, "postgres"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        let first = (id("-u"), id("-g"));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        assert_eq!(postgres_ids(), first);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a lookup gave other ids");
        }
    }
}
