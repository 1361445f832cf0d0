//! The server an operator can trust: any free worker serves any request (FIFO, with the
//! acquisition timeout answered while every worker is busy), shutdown in every worker state,
//! request targets as curl sends them, limited PATCH/DELETE, panics at every stage, slow
//! bodies, the connection limit, framing headers from `response.headers`, and the smaller
//! defects of the same issue. The head-of-line latency test has its own binary
//! (`head_of_line.rs`) so that nothing else runs beside it.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use pgrest_e2e::http::Conn;
use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared_with("server", &[("pgrest.workers", "3")])
}

/// Sends a request line exactly as given (raw bytes), and reads the response.
fn raw_get(c: &Cluster, target: &str) -> Response {
    let mut conn = c.connect();
    let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    conn.write_raw(req.as_bytes()).unwrap();
    conn.read_response(false)
        .unwrap_or_else(|e| panic!("GET {target}: {e}"))
}

/// `GET path` on its own connection and thread (20 s timeout).
fn get_in_background(port: u16, path: &str) -> thread::JoinHandle<std::io::Result<Response>> {
    let path = path.to_string();
    thread::spawn(move || {
        pgrest_e2e::http::try_request_timeout(
            port,
            "GET",
            &path,
            &[],
            None,
            Duration::from_secs(20),
        )
    })
}

fn sql_rows(c: &Cluster, sql: &str) -> Vec<String> {
    c.psql(sql)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Request targets as curl sends them

#[test]
fn raw_quotes_and_angle_brackets_parse_like_their_encoded_forms() {
    let c = cluster();
    for (raw, encoded) in [
        (
            "/sv_items?metadata->>type=eq.foo&select=id&order=id",
            "/sv_items?metadata-%3E%3Etype=eq.foo&select=id&order=id",
        ),
        (
            "/sv_items?name=in.(\"a,b\",c)&select=id&order=id",
            "/sv_items?name=in.(%22a,b%22,c)&select=id&order=id",
        ),
        (
            "/sv_items?select=id,size:metadata->size&order=id",
            "/sv_items?select=id,size:metadata-%3Esize&order=id",
        ),
        (
            "/sv_items?or=(name.eq.\"say \\\"hi\\\"\",id.eq.3)&select=id&order=id",
            "/sv_items?or=(name.eq.%22say%20%5C%22hi%5C%22%22,id.eq.3)&select=id&order=id",
        ),
        (
            "/sv_items?name=eq.<x>&select=id",
            "/sv_items?name=eq.%3Cx%3E&select=id",
        ),
        (
            "/sv_items?metadata->size=gt.4&select=id&order=id",
            "/sv_items?metadata-%3Esize=gt.4&select=id&order=id",
        ),
    ] {
        let r = raw_get(c, &raw.replace(' ', "%20"));
        let e = c.get(encoded);
        assert_status(&e, 200);
        assert_status(&r, 200);
        assert_eq!(r.json(), e.json(), "{raw} vs {encoded}");
        assert!(
            !r.json().as_array().unwrap().is_empty(),
            "{raw}: {}",
            r.describe()
        );
    }
    // The path too: a relation name with a raw `<` is looked up (and not found) as decoded.
    let r = raw_get(c, "/sv<items");
    assert_error(&r, 404, "PGRST205");
    // Bytes in headers and bodies are never rewritten.
    let r = c.get_with(
        "/sv_items?select=id&order=id&limit=1",
        &[("Prefer", "count=\"exact\"")],
    );
    assert_status(&r, 200);
}

#[test]
fn raw_targets_on_a_keep_alive_connection_with_bodies_between() {
    // The normaliser must find each request line after a body that contains request-like
    // text and quotes.
    let c = cluster();
    let body = r#"{"id": 900, "name": "GET /x?a=\"<b>\" HTTP/1.1", "metadata": {"q": "\"<>"}}"#;
    let mut conn = c.connect();
    let mut bytes = format!(
        "POST /sv_items?columns=id,name,metadata HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Prefer: return=minimal, tx=rollback\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(
        b"GET /sv_items?metadata->>type=eq.bar&select=id HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    conn.write_raw(&bytes).unwrap();
    let first = conn.read_response(false).unwrap();
    assert_status(&first, 201);
    let second = conn.read_response(false).unwrap();
    assert_status(&second, 200);
    assert_eq!(second.json(), json!([{"id": 2}]));
}

// ---------------------------------------------------------------------------------------------
// Limited PATCH/DELETE

fn reset_limited(c: &Cluster) {
    c.psql(
        "truncate api.sv_limited; insert into api.sv_limited \
         select g, g % 2, 'item-' || g from generate_series(1, 6) g",
    );
}

fn limited_ids(c: &Cluster) -> Vec<String> {
    sql_rows(
        c,
        "select id || ':' || name from api.sv_limited order by id",
    )
}

#[test]
fn limited_delete_and_patch_change_exactly_the_ordered_page() {
    let c = cluster();
    let _guard = LIMITED.lock().unwrap_or_else(|p| p.into_inner());
    reset_limited(c);
    // The issue's example: DELETE … &order=id&limit=1 deletes one row, not all of them.
    let r = c.delete("/sv_limited?id=gt.0&order=id&limit=1", &[]);
    assert_status(&r, 204);
    assert_eq!(
        limited_ids(c),
        ["2:item-2", "3:item-3", "4:item-4", "5:item-5", "6:item-6"]
    );
    // limit + offset, with the changed rows returned.
    let r = c.delete(
        "/sv_limited?order=id&limit=2&offset=1",
        &[("Prefer", "return=representation")],
    );
    assert_status(&r, 200);
    assert_eq!(ids(&assert_json_array(&r)), [3, 4]);
    assert_eq!(limited_ids(c), ["2:item-2", "5:item-5", "6:item-6"]);
    // PATCH: the newest row of group 0, descending order.
    let r = c.patch_json(
        "/sv_limited?grp=eq.0&order=id.desc&limit=1",
        &json!({"name": "changed"}),
        &[("Prefer", "return=representation")],
    );
    assert_status(&r, 200);
    assert_eq!(r.json(), json!([{"id": 6, "grp": 0, "name": "changed"}]));
    assert_eq!(limited_ids(c), ["2:item-2", "5:item-5", "6:changed"]);
    // Through an auto-updatable view.
    let r = c.delete("/sv_limited_view?order=id.desc&limit=1", &[]);
    assert_status(&r, 204);
    assert_eq!(limited_ids(c), ["2:item-2", "5:item-5"]);
    // The Range header does not limit a DELETE.
    let r = c.delete("/sv_limited?order=id", &[("Range", "0-0")]);
    assert_status(&r, 204);
    assert!(limited_ids(c).is_empty());
}

#[test]
fn limit_without_order_or_with_a_non_unique_order_changes_nothing() {
    let c = cluster();
    let _guard = LIMITED.lock().unwrap_or_else(|p| p.into_inner());
    reset_limited(c);
    for (method, path) in [
        ("DELETE", "/sv_limited?limit=1"),
        ("DELETE", "/sv_limited?id=gt.0&offset=2"),
        ("PATCH", "/sv_limited?limit=1"),
    ] {
        let r = c.send_json(method, path, &json!({"name": "x"}), &[]);
        let body = assert_error_message(
            &r,
            400,
            "PGRST109",
            "A 'limit' was applied without an explicit 'order'",
        );
        assert_eq!(body["hint"], "Apply an 'order' using unique column(s)");
    }
    // Ordering by a column that does not identify a row: more rows would change than the
    // limit allows, so nothing changes.
    let r = c.patch_json("/sv_limited?order=grp&limit=1", &json!({"name": "x"}), &[]);
    let body = assert_error(&r, 400, "PGRST110");
    assert_eq!(
        body["details"],
        "Results contain 3 rows changed but the maximum number allowed is 1"
    );
    assert_eq!(limited_ids(c).len(), 6);
    assert!(limited_ids(c).iter().all(|r| r.contains(":item-")));
}

static LIMITED: std::sync::Mutex<()> = std::sync::Mutex::new(());

// ---------------------------------------------------------------------------------------------
// Any free worker, FIFO, acquisition timeout

#[test]
fn waiting_requests_run_in_arrival_order_and_time_out_while_workers_are_busy() {
    let c = Cluster::start(
        "server_fifo",
        &[
            ("pgrest.workers", "2"),
            ("pgrest.db_pool_acquisition_timeout", "2"),
        ],
    );
    // One worker busy for 3 s, the other for 1 s.
    let long = get_in_background(c.http_port, "/sv_sleep?secs=eq.3");
    let short = get_in_background(c.http_port, "/sv_sleep?secs=eq.1");
    thread::sleep(Duration::from_millis(300));
    // Five quick requests, 30 ms apart, on fresh connections (read by either worker): they
    // wait for worker B and must run in the order they were sent.
    let mut quick = Vec::new();
    for _ in 0..5 {
        quick.push(get_in_background(c.http_port, "/sv_clock"));
        thread::sleep(Duration::from_millis(30));
    }
    let mut ran_at: Vec<(usize, String)> = quick
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let r = t.join().unwrap().unwrap();
            assert_status(&r, 200);
            (i, r.json()[0]["at"].as_str().unwrap().to_string())
        })
        .collect();
    ran_at.sort_by(|a, b| a.1.cmp(&b.1));
    let order: Vec<usize> = ran_at.iter().map(|(i, _)| *i).collect();
    assert_eq!(order, [0, 1, 2, 3, 4], "{ran_at:?}");
    assert_status(&short.join().unwrap().unwrap(), 200);

    assert_status(&long.join().unwrap().unwrap(), 200);

    // Both workers busy for 5 s: a request times out after the acquisition timeout (2 s),
    // answered while they are still busy.
    let busy: Vec<_> = (0..2)
        .map(|_| get_in_background(c.http_port, "/sv_sleep?secs=eq.5"))
        .collect();
    // Both running (a loaded machine may take a while to send them).
    let until = Instant::now() + Duration::from_secs(4);
    loop {
        let pool: Value = serde_json::from_str(&c.psql("select pgrest.pool()")).unwrap();
        if pool["workers"] == json!(["busy", "busy"]) && pool["waiting"] == 0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "the slow requests did not start: {pool}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let start = Instant::now();
    let r = c.get("/todos?id=eq.1");
    let waited = start.elapsed();
    assert_error_message(
        &r,
        504,
        "PGRST003",
        "Timed out acquiring connection from connection pool.",
    );
    assert!(
        waited >= Duration::from_millis(1200) && waited < Duration::from_millis(3500),
        "answered after {waited:?}"
    );
    for b in busy {
        assert_status(&b.join().unwrap().unwrap(), 200);
    }
}

#[test]
fn requests_run_by_another_worker_behave_like_local_ones() {
    // Two of the three workers are busy: requests read by them run on the third, after
    // travelling between processes. Whatever worker reads a request, the answer is the same:
    // body, headers, JWT role and claims, Prefer, and errors.
    let c = Cluster::start("server_forward", &[("pgrest.workers", "3")]);
    let slow: Vec<_> = (0..2)
        .map(|_| get_in_background(c.http_port, "/sv_sleep?secs=eq.5"))
        .collect();
    thread::sleep(Duration::from_millis(300));
    let token = jwt(json!({"role": "web_user", "user_id": 42}));
    let auth = bearer(&token);
    for i in 0..12 {
        let id = 2000 + i;
        let r = c.post_json(
            "/todos?select=id,task,user_id",
            &json!({"id": id, "task": format!("forwarded \"{i}\" <>"), "user_id": 42}),
            &[
                ("Authorization", &auth),
                ("Prefer", "return=representation"),
            ],
        );
        assert_status(&r, 201);
        assert_eq!(
            r.json(),
            json!([{"id": id, "task": format!("forwarded \"{i}\" <>"), "user_id": 42}])
        );
        // Row-level security under the JWT's role: user 42 sees only its rows.
        let r = c.get_with(
            &format!("/todos?id=in.({id},1)&select=id"),
            &[("Authorization", &auth)],
        );
        assert_eq!(r.json(), json!([{"id": id}]), "{}", r.describe());
        let r = c.patch_json(
            &format!("/todos?id=eq.{id}"),
            &json!({"done": true}),
            &[("Authorization", &auth), ("Prefer", "count=exact")],
        );
        assert_status(&r, 204);
        assert_header(&r, "Content-Range", "0-0/1");
        // Errors travel too.
        let r = c.get(&format!("/todos?id=eq.x{i}"));
        assert_error(&r, 400, "22P02");
    }
    assert_eq!(
        c.psql("select count(*) from api.todos where id >= 2000 and done"),
        "12"
    );
    // Some of them did travel (each connection is read by whichever worker accepts it).
    let pool: Value = serde_json::from_str(&c.psql("select pgrest.pool()")).unwrap();
    assert!(
        pool["forwarded"].as_u64().unwrap() + pool["taken_other"].as_u64().unwrap() > 0,
        "{pool}"
    );
    assert_eq!(pool["workers"].as_array().unwrap().len(), 3, "{pool}");
    for t in slow {
        assert_status(&t.join().unwrap().unwrap(), 200);
    }
}

// ---------------------------------------------------------------------------------------------
// Shutdown

/// The pid of the worker running a request whose path contains `what`, once it runs (not
/// merely waits: a worker may be loading its schema cache first).
fn running_pid(c: &Cluster, what: &str) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let pid = c.psql(&format!(
            "select pid from pg_stat_activity where backend_type = 'pgrest' \
             and query like '%{what}%' and state = 'active'"
        ));
        if !pid.trim().is_empty() {
            return pid.trim().to_string();
        }
        assert!(Instant::now() < until, "no request on {what} started");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Stops the cluster with `pg_ctl stop -m fast` and returns how long it took.
fn timed_stop(c: &Cluster) -> Duration {
    let start = Instant::now();
    c.stop();
    start.elapsed()
}

#[test]
fn fast_shutdown_is_quick_while_workers_wait_to_retry_connecting() {
    // The database does not exist: every worker fails to connect and waits to retry.
    let c = Cluster::start_with(
        "server_stop_retry",
        &[("pgrest.database", "no_such_database")],
        Options {
            preload: true,
            load_sql: false,
            wait_http: false,
        },
    );
    for pause in [Duration::from_millis(1500), Duration::from_millis(4500)] {
        thread::sleep(pause);
        let took = timed_stop(&c);
        assert!(took < Duration::from_secs(4), "stop took {took:?}");
        c.restart();
    }
    let took = timed_stop(&c);
    assert!(took < Duration::from_secs(4), "stop took {took:?}");
}

#[test]
fn fast_shutdown_when_idle_and_mid_request() {
    let c = Cluster::start("server_stop", &[]);
    let took = timed_stop(&c);
    assert!(took < Duration::from_secs(3), "idle stop took {took:?}");
    c.restart();
    // A statement that would run 30 s: cancelled after the grace, and answered.
    let slow = get_in_background(c.http_port, "/sv_sleep?secs=eq.30");
    running_pid(&c, "sv_sleep");
    let took = timed_stop(&c);
    assert!(took < Duration::from_secs(6), "stop took {took:?}");
    let r = slow
        .join()
        .unwrap()
        .expect("the running request got an answer");
    let body = assert_error(&r, 500, "57014");
    assert_eq!(body["message"], "canceling statement due to user request");
    assert!(!c.log().contains("terminated by signal"), "{}", c.log());
}

#[test]
fn terminating_one_worker_answers_its_request_and_it_comes_back() {
    let c = cluster();
    let before = c.worker_pids();
    let slow = get_in_background(c.http_port, "/sv_sleep?secs=eq.10");
    let pid = running_pid(c, "sv_sleep");
    c.psql(&format!("select pg_terminate_backend({pid})"));
    let r = slow.join().unwrap().expect("answered");
    assert_error(&r, 500, "57014");
    // The other workers kept serving; the terminated one is restarted. (It answers its request
    // before it exits, so the count alone can still include it: wait for a new pid.)
    assert_status(&c.get("/todos?id=eq.1"), 200);
    let terminated: i32 = pid.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = c.worker_pids();
    while (now.contains(&terminated) || now.len() < before.len()) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
        now = c.worker_pids();
    }
    assert!(
        !now.contains(&terminated),
        "worker {terminated} is still there: {now:?}"
    );
    assert_eq!(now.len(), before.len(), "{now:?}");
    for _ in 0..20 {
        assert_status(&c.get("/todos?id=eq.1"), 200);
    }
}

// ---------------------------------------------------------------------------------------------
// Panics at every stage

#[test]
fn a_panic_at_any_stage_is_a_500_and_the_worker_lives() {
    let c = cluster();
    let pids = c.worker_pids();
    for (method, path, stage) in [
        ("GET", "/todos", "http"),
        ("GET", "/todos", "schema_cache"),
        ("OPTIONS", "/", "options"),
        ("GET", "/todos", "plan"),
        ("POST", "/sv_items?columns=id,name", "statement"),
        ("GET", "/todos", "response"),
    ] {
        let body = (method == "POST").then_some(&b"{\"id\": 99, \"name\": \"x\"}"[..]);
        let mut headers = vec![("X-Pgrest-Test-Panic", stage)];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let r = c.request(method, path, &headers, body);
        let e = assert_error(&r, 500, "PGRSTX00");
        assert_eq!(e["message"], "Internal server error", "{stage}");
        assert!(
            e["details"]
                .as_str()
                .is_some_and(|d| d.contains("injected panic")),
            "{stage}: {}",
            r.describe()
        );
        assert_status(&c.get("/todos?id=eq.1"), 200);
    }
    // The panicking statement's transaction was rolled back.
    assert_eq!(
        c.psql("select count(*) from api.sv_items where id = 99"),
        "0"
    );
    assert_eq!(c.worker_pids(), pids);
}

#[test]
fn a_failed_schema_reload_is_503_and_serving_resumes_by_itself() {
    let c = Cluster::start("server_reload", &[("pgrest.workers", "1")]);
    assert_status(&c.get("/todos?id=eq.1"), 200);
    // A catalog the authenticator may not read: the reload this REVOKE causes fails, and so
    // does every request's retry while it lasts.
    c.psql("revoke select on pg_catalog.pg_rewrite from public");
    for _ in 0..2 {
        let r = c.get("/todos?id=eq.1");
        assert_error_message(
            &r,
            503,
            "PGRST002",
            "Could not query the database for the schema cache. Retrying.",
        );
    }
    assert!(c
        .log()
        .contains("could not load the schema cache: permission denied"));
    // The stale cache is never served; once the catalog is readable, serving resumes.
    c.psql("grant select on pg_catalog.pg_rewrite to public");
    assert_eq!(ids(&assert_json_array(&c.get("/todos?id=eq.1"))), [1]);
    assert_eq!(c.worker_pids().len(), 1);
}

#[test]
fn role_settings_and_notify_pgrst_reach_the_cache_without_a_reload() {
    let c = Cluster::start("server_fresh", &[("pgrest.workers", "2")]);
    let auth = bearer(&jwt(json!({"role": "sv_role"})));
    let clock = || {
        let r = c.get_with("/sv_clock", &[("Authorization", &auth)]);
        assert_status(&r, 200);
        r.json()[0]["at"].as_str().unwrap().to_string()
    };
    assert!(!clock().ends_with("+09:00"));
    // ALTER ROLE … SET fires no event trigger (roles are shared objects): pgrest sees it.
    c.psql("ALTER ROLE sv_role SET timezone = 'Asia/Tokyo'");
    for _ in 0..4 {
        assert!(clock().ends_with("+09:00"));
    }
    c.psql("ALTER ROLE sv_role RESET timezone");
    for _ in 0..4 {
        assert!(!clock().ends_with("+09:00"));
    }
    // DDL that fires no event trigger (replica mode), then PostgREST's NOTIFY.
    c.psql(
        "SET session_replication_role = replica; \
         CREATE TABLE api.sv_fresh (id int); GRANT SELECT ON api.sv_fresh TO web_anon",
    );
    assert_error(&c.get("/sv_fresh"), 404, "PGRST205");
    c.psql("NOTIFY pgrst, 'reload schema'");
    for _ in 0..4 {
        assert_status(&c.get("/sv_fresh"), 200);
    }
    // The hook passes the errors of utility statements on untouched.
    let err = c
        .try_psql("CREATE TABLE api.sv_fresh (id int)")
        .unwrap_err();
    assert!(
        err.contains("relation \"sv_fresh\" already exists"),
        "{err}"
    );
    assert!(!err.contains("pgrx") && !err.contains("backtrace"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Limits: slow bodies, connections

#[test]
fn a_body_that_trickles_gets_408() {
    let c = limits_cluster();
    let _serial = LIMITS.lock().unwrap_or_else(|p| p.into_inner());
    let mut s = TcpStream::connect(("127.0.0.1", c.http_port)).unwrap();
    s.write_all(
        b"POST /sv_items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .unwrap();
    let start = Instant::now();
    let writer = {
        let mut s = s.try_clone().unwrap();
        thread::spawn(move || {
            for _ in 0..8 {
                thread::sleep(Duration::from_millis(500));
                if s.write_all(b" ").is_err() {
                    return;
                }
            }
        })
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = std::io::BufReader::new(s);
    let r = pgrest_e2e::http::read_response(&mut reader, false).unwrap();
    assert_error(&r, 408, "PGREST408");
    let took = start.elapsed();
    assert!(took < Duration::from_secs(4), "answered after {took:?}");
    let _ = writer.join();
}

#[test]
fn connections_beyond_the_limit_wait_in_the_backlog() {
    let c = limits_cluster();
    let _serial = LIMITS.lock().unwrap_or_else(|p| p.into_inner());
    // Three idle keep-alive connections take every slot of the only worker.
    let mut open: Vec<Conn> = (0..3)
        .map(|_| {
            let mut conn = c.connect();
            assert_status(&conn.send("GET", "/todos?id=eq.1", &[], None).unwrap(), 200);
            conn
        })
        .collect();
    let mut fourth = Conn::open_timeout(c.http_port, Duration::from_secs(1)).unwrap();
    fourth
        .write_request("GET", "/todos?id=eq.1", &[], None)
        .unwrap();
    fourth
        .stream()
        .set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    assert!(
        fourth.read_response(false).is_err(),
        "a connection beyond the limit was served"
    );
    // Closing one lets the waiting connection in.
    drop(open.pop());
    fourth
        .stream()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_status(&fourth.read_response(false).unwrap(), 200);
}

/// One worker, a 2 s body timeout, three connections; one test at a time.
fn limits_cluster() -> &'static Cluster {
    Cluster::shared_with(
        "server_limits",
        &[
            ("pgrest.workers", "1"),
            ("pgrest.server_body_timeout", "2"),
            ("pgrest.server_max_connections", "3"),
            ("pgrest.db_pool_max_waiting", "1"),
        ],
    )
}

#[test]
fn beyond_the_waiting_bound_requests_get_503_at_once() {
    let c = limits_cluster();
    let _serial = LIMITS.lock().unwrap_or_else(|p| p.into_inner());
    // The only worker is busy; one request may wait for it, the next one may not.
    let slow = get_in_background(c.http_port, "/sv_sleep?secs=eq.2");
    thread::sleep(Duration::from_millis(300));
    let waiting = get_in_background(c.http_port, "/todos?id=eq.1");
    thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let r = c.get("/todos?id=eq.2");
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    let e = assert_error(&r, 503, "PGREST503");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("pgrest.db_pool_max_waiting")),
        "{e}"
    );
    assert_status(&waiting.join().unwrap().unwrap(), 200);
    assert_status(&slow.join().unwrap().unwrap(), 200);
}

static LIMITS: std::sync::Mutex<()> = std::sync::Mutex::new(());

// ---------------------------------------------------------------------------------------------
// The smaller defects

#[test]
fn framing_headers_from_response_headers_are_dropped() {
    let c = Cluster::shared_with("server_pre", &[("pgrest.db_pre_request", "api.sv_pre")]);
    let mut conn = c.connect();
    let r = conn
        .send("GET", "/todos?id=eq.1", &[("X-Sv-Framing", "1")], None)
        .unwrap();
    assert_status(&r, 200);
    assert_header(&r, "X-Sv", "kept");
    assert_eq!(
        r.headers_named("Transfer-Encoding").len(),
        0,
        "{}",
        r.describe()
    );
    assert_ne!(r.header("Content-Length"), Some("1"));
    assert_eq!(assert_json_array(&r).len(), 1);
    // The connection is still in step: the next request on it is answered normally.
    let r = conn.send("GET", "/todos?id=eq.2", &[], None).unwrap();
    assert_eq!(ids(&assert_json_array(&r)), [2]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !c.log().contains("ignoring the header \"Content-Length\"") {
        assert!(Instant::now() < deadline, "no warning logged");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_deeply_nested_body_is_a_400() {
    let c = cluster();
    let body = format!(
        "{{\"id\": 1, \"name\": \"x\", \"metadata\": {}1{}}}",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    for path in ["/sv_items", "/sv_items?columns=id,name,metadata"] {
        let r = c.send_body("POST", path, body.as_bytes(), "application/json", &[]);
        assert_error_message(
            &r,
            400,
            "PGRST102",
            "The JSON body is nested deeper than 512 levels",
        );
    }
}

#[test]
fn preference_applied_reports_missing_default() {
    let c = cluster();
    let r = c.post_json(
        "/sv_items",
        &json!({"id": 901, "name": "y"}),
        &[("Prefer", "missing=default, return=minimal, tx=rollback")],
    );
    assert_status(&r, 201);
    let applied = r.header("Preference-Applied").unwrap_or("");
    assert!(applied.contains("missing=default"), "{applied}");
    assert!(applied.contains("return=minimal"), "{applied}");
}

#[test]
fn a_huge_relation_name_gets_its_404_quickly() {
    let c = cluster();
    let name = "t".repeat(60_000);
    let start = Instant::now();
    for _ in 0..20 {
        let r = c.get(&format!("/{name}"));
        let e = assert_error(&r, 404, "PGRST205");
        assert_eq!(e["hint"], Value::Null);
    }
    // 20 requests; the unbounded suggestion cost ~0.2 s each on a few hundred tables.
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        assert_error(&c.get("/sv_itemz"), 404, "PGRST205")["hint"],
        "Perhaps you meant the table 'api.sv_items'"
    );
}

#[test]
fn allow_lists_only_methods_that_are_served() {
    let c = cluster();
    let r = c.request("OPTIONS", "/sv_limited", &[], None);
    assert_status(&r, 200);
    assert_header(&r, "Allow", "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE");
}

#[test]
fn server_timing_reports_each_stage_when_enabled() {
    let c = Cluster::shared_with("server_timing", &[("pgrest.server_timing_enabled", "on")]);
    let stages = ["jwt", "parse", "plan", "transaction", "response"];
    let check = |r: &Response| {
        let header = r
            .header("Server-Timing")
            .unwrap_or_else(|| panic!("no Server-Timing: {}", r.describe()));
        let names: Vec<&str> = header
            .split(", ")
            .map(|m| {
                let (name, dur) = m.split_once(";dur=").expect("name;dur=ms");
                let ms: f64 = dur.parse().expect("a number of milliseconds");
                assert!(ms >= 0.0 && dur.split_once('.').is_some_and(|(_, f)| f.len() == 1));
                name
            })
            .collect();
        assert_eq!(names, stages, "{header}");
    };
    check(&c.get("/todos?id=eq.1"));
    check(&c.get_with(
        "/todos?id=eq.1",
        &[(
            "Authorization",
            &bearer(&jwt(json!({"role": "web_user", "user_id": 1}))),
        )],
    ));
    check(&c.post_json(
        "/sv_items",
        &json!({"id": 950, "name": "t"}),
        &[("Prefer", "tx=rollback")],
    ));
    check(&c.get("/rpc/fn_add?a=1&b=2"));
    // Off by default.
    assert!(cluster()
        .get("/todos?id=eq.1")
        .header("Server-Timing")
        .is_none());
}

#[test]
fn etags_answer_304_and_big_bodies_are_gzipped() {
    // Beyond PostgREST (#1176): conditional GETs and compression.
    let c = cluster();
    let r = c.get("/todos?order=id");
    assert_status(&r, 200);
    let tag = r.header("ETag").expect("an ETag").to_string();
    // The same answer from any worker has the same tag.
    for _ in 0..8 {
        assert_eq!(c.get("/todos?order=id").header("ETag"), Some(tag.as_str()));
    }
    let r = c.get_with("/todos?order=id", &[("If-None-Match", &tag)]);
    assert_status(&r, 304);
    assert!(r.body.is_empty());
    assert_header(&r, "ETag", &tag);
    // Another answer, another tag: the client gets the body.
    let r = c.get_with("/todos?order=id.desc", &[("If-None-Match", &tag)]);
    assert_status(&r, 200);
    assert_ne!(r.header("ETag"), Some(tag.as_str()));
    // Writes and errors carry none.
    assert!(c.get("/nope").header("ETag").is_none());

    // gzip for a body of 1 kB and more when the client accepts it.
    let plain = c.get("/kitchen_sink?select=*,a:name,b:name,c:name");
    assert!(plain.body.len() >= 1024, "{}", plain.body.len());
    assert!(plain.header("Content-Encoding").is_none());
    let r = c.get_with(
        "/kitchen_sink?select=*,a:name,b:name,c:name",
        &[("Accept-Encoding", "gzip, deflate")],
    );
    assert_header(&r, "Content-Encoding", "gzip");
    assert!(r.header("Vary").unwrap_or("").contains("Accept-Encoding"));
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&r.body[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, plain.body);
    assert!(r.body.len() < plain.body.len());
    // Small bodies stay as they are.
    let r = c.get_with("/todos?id=eq.1", &[("Accept-Encoding", "gzip")]);
    assert!(r.header("Content-Encoding").is_none());
}
