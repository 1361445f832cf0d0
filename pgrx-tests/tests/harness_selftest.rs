//! Checks the harness itself, without pgrest: initdb, start, psql, the SQL fixtures,
//! configuration changes, restart, stop, clean-up after a failed start, and the HTTP client
//! against a tiny std-only server. Runs whether or not the extension is built.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::thread;
use std::time::Duration;

use pgrest_e2e::harness::e2e_root;
use pgrest_e2e::http::{raw_exchange, try_request, Conn};
use pgrest_e2e::*;

fn owner_uid(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().uid()
}

#[test]
fn cluster_lifecycle_without_pgrest() {
    let c = Cluster::start_with(
        "selftest",
        &[
            ("work_mem", "8MB"),
            ("pgrest.db_anon_role", UNSET),
            ("cluster_name", "it's"),
        ],
        Options::no_preload(),
    );
    assert!(c.is_running());
    let pid = c.postmaster_pid().expect("postmaster running");

    // psql, settings and overrides
    assert_eq!(c.psql("select 1"), "1");
    assert_eq!(c.psql("show work_mem"), "8MB");
    assert_eq!(c.psql("show timezone"), "UTC");
    assert_eq!(c.psql("show cluster_name"), "it's");
    assert_eq!(c.psql("show listen_addresses"), "");
    assert_eq!(c.psql("select current_setting('pgrest.workers')"), "2");
    assert_eq!(c.psql("select current_setting('pgrest.db_schemas')"), "api");
    assert_eq!(
        c.psql("select current_setting('pgrest.jwt_secret')"),
        JWT_SECRET
    );
    assert_eq!(
        c.psql("select current_setting('pgrest.server_port')"),
        c.http_port.to_string()
    );
    assert_eq!(
        c.psql("select coalesce(current_setting('pgrest.db_anon_role', true), '<none>')"),
        "<none>"
    );
    assert_eq!(c.psql("show shared_preload_libraries"), "");
    assert_eq!(c.psql("select getdatabaseencoding()"), "UTF8");
    let err = c.try_psql("select 1/0").unwrap_err();
    assert!(err.contains("division by zero"), "{err}");
    assert_eq!(c.psql("select 'a'\nunion all select 'b'"), "a\nb");

    // demo.sql and the fixtures are loaded
    assert_eq!(c.psql("select count(*), sum(id) from api.todos"), "4|10");
    assert_eq!(
        c.psql("select string_agg(name, ',' order by id) from api.users"),
        "Alice,Zaphod"
    );
    assert_eq!(c.psql("select count(*) from api.kitchen_sink"), "5");
    assert_eq!(c.psql("select count(*) from api.\"odd table ✓\""), "3");
    assert_eq!(
        c.psql("select count(*) from pg_roles where rolname = 'web_stranger'"),
        "1"
    );
    assert_eq!(
        c.psql("select pg_has_role('authenticator', 'web_stranger', 'member')"),
        "f"
    );
    assert_eq!(
        c.psql("select pg_has_role('authenticator', 'web_user', 'member')"),
        "t"
    );
    assert_eq!(
        c.psql(
            "select has_column_privilege('web_anon', 'api.accounts', 'password_hash', 'select')"
        ),
        "f"
    );
    assert_eq!(
        c.psql("select has_table_privilege('web_anon', 'api.secrets', 'select')"),
        "f"
    );
    assert_eq!(
        c.psql("select has_table_privilege('web_user', 'api.secrets', 'select')"),
        "t"
    );
    assert_eq!(
        c.psql("select n from api.tag_counts where tag = 'red'"),
        "1"
    );
    assert_eq!(
        c.psql("select api.sink_label(k) from api.kitchen_sink k where id = 1"),
        "alpha (10.50)"
    );
    assert_eq!(c.psql("select api.add_them(2, 3)"), "5");
    // The view as web_anon, with request settings as the server would set them.
    let who = c.psql(
        "begin; set local role web_anon; \
         select set_config('request.method', 'GET', true), \
                set_config('request.jwt.claims', '{\"role\":\"web_anon\"}', true); \
         select \"current_user\" || '|' || method || '|' || (claims->>'role') from api.whoami; \
         commit;",
    );
    assert_eq!(who.lines().last(), Some("web_anon|GET|web_anon"), "{who}");
    // Fixture JSON renders and parses.
    let sink: Value =
        serde_json::from_str(&c.psql("select json_agg(k order by id) from api.kitchen_sink k"))
            .unwrap();
    assert_eq!(sink[0]["doc"]["nested"]["b"][2]["c"], "deep");
    assert_eq!(sink[0]["address"]["city"], "Springfield");
    assert_eq!(sink[0]["span"], "[1,10)");
    assert_eq!(sink[0]["big"], 9007199254740993u64);
    assert_eq!(sink[1]["name"], "Zoë 日本語 🚀");
    assert_eq!(sink[2]["doc"], Value::Null);
    assert_eq!(sink[3]["raw_doc"], Value::Null);
    assert_eq!(sink[3]["tags"], json!([null, ""]));

    // Fixtures are idempotent: loading them again gives the same state.
    for f in
        std::fs::read_dir(pgrest_e2e::harness::workspace_dir().join("pgrx-tests/fixtures")).unwrap()
    {
        c.psql_file(&f.unwrap().path());
    }
    assert_eq!(c.psql("select count(*) from api.kitchen_sink"), "5");
    assert_eq!(c.psql("select count(*), sum(id) from api.todos"), "4|10");

    // Ownership when running as root.
    if unsafe { libc::geteuid() } == 0 {
        let pg_uid: u32 = String::from_utf8(
            std::process::Command::new("id")
                .args(["-u", "postgres"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .parse()
        .unwrap();
        assert_eq!(owner_uid(&c.data_dir), pg_uid);
    }
    assert!(c.data_dir.starts_with(e2e_root()));
    assert!(c
        .log()
        .contains("database system is ready to accept connections"));

    // No pgrest here: no workers, but a checkpointer.
    assert!(c.worker_pids().is_empty());
    let checkpointer = c.checkpointer_pid();
    assert!(checkpointer > 0);

    // set_conf + reload
    c.set_conf("work_mem", "16MB");
    c.reload();
    assert_eq!(c.psql("show work_mem"), "16MB");
    c.reset_conf("work_mem");
    c.reload();
    assert_eq!(c.psql("show work_mem"), "8MB");

    // restart: a new postmaster, same data
    c.restart();
    let pid2 = c.postmaster_pid().expect("running after restart");
    assert_ne!(pid, pid2);
    assert_ne!(checkpointer, c.checkpointer_pid());
    assert_eq!(c.psql("select count(*) from api.todos"), "4");

    // stop, then start again with restart()
    c.stop();
    assert!(!c.is_running());
    assert_eq!(c.postmaster_pid(), None);
    assert!(c.try_psql("select 1").is_err());
    c.restart();
    assert_eq!(c.psql("select 1"), "1");
    let dir = c.data_dir.clone();
    drop(c);
    assert!(
        !dir.join("postmaster.pid").exists(),
        "drop must stop the server"
    );
}

#[test]
fn standby_copy_without_pgrest() {
    let primary = Cluster::start_with("selftest_primary", &[], Options::no_preload());
    let standby = primary.start_standby("selftest_standby", &[]);
    assert_eq!(standby.psql("select pg_is_in_recovery()"), "t");
    assert_eq!(standby.psql("select count(*) from api.todos"), "4");
    assert_ne!(standby.http_port, primary.http_port);
    primary.psql("insert into api.users values (7, 'Replicated')");
    let mut seen = String::new();
    for _ in 0..100 {
        seen = standby.psql("select count(*) from api.users where id = 7");
        if seen == "1" {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(seen, "1", "the standby did not replay the insert");
    let err = standby
        .try_psql("insert into api.users values (8, 'no')")
        .unwrap_err();
    assert!(err.contains("read-only transaction"), "{err}");
}

#[test]
fn failed_start_stops_the_server() {
    // The server starts, then loading demo.sql fails: the harness must stop it and say why.
    let result = std::panic::catch_unwind(|| {
        Cluster::start_with(
            "selftest_broken",
            &[("default_transaction_read_only", "on")],
            Options::no_preload(),
        )
    });
    let msg = match result {
        Ok(_) => panic!("start should have failed"),
        Err(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    };
    assert!(msg.contains("read-only transaction"), "{msg}");
    assert!(!e2e_root().join("selftest_broken/postmaster.pid").exists());

    // A server that does not start at all: the log tail is in the message.
    let result = std::panic::catch_unwind(|| {
        Cluster::start_with(
            "selftest_nostart",
            &[("shared_buffers", "bogus")],
            Options::no_preload(),
        )
    });
    let msg = result
        .err()
        .and_then(|p| p.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(msg.contains("server log"), "{msg}");
    assert!(msg.contains("shared_buffers"), "{msg}");

    // A shared cluster that failed is not started again: the next caller fails at once.
    let opts = Options::no_preload();
    let bad = [("default_transaction_read_only", "on")];
    let first = std::panic::catch_unwind(|| {
        Cluster::shared_with_options("selftest_shared_bad", &bad, opts)
    });
    assert!(first.is_err());
    let t = std::time::Instant::now();
    let second = std::panic::catch_unwind(|| {
        Cluster::shared_with_options("selftest_shared_bad", &bad, opts)
    });
    assert!(second.is_err());
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(!e2e_root()
        .join("selftest_shared_bad/postmaster.pid")
        .exists());
}

#[test]
fn shared_cluster_is_started_once() {
    let opts = Options::no_preload();
    let a = Cluster::shared_with_options("selftest_shared", &[], opts);
    let b = Cluster::shared_with_options("selftest_shared", &[], opts);
    assert!(std::ptr::eq(a, b));
    assert_eq!(a.psql("select count(*) from api.todos"), "4");
    // Stopped by the atexit handler when this binary exits.
}

// ---------------------------------------------------------------------------------------------
// The HTTP client, against canned responses

/// Serves each accepted connection with the next canned reply, after reading the request head.
fn canned_server(replies: Vec<Vec<u8>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for reply in replies {
            let (mut s, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if line == "\r\n" {
                    break;
                }
                line.clear();
            }
            s.write_all(&reply).unwrap();
            let _ = s.shutdown(Shutdown::Both);
        }
    });
    port
}

#[test]
fn http_client_framing() {
    let port = canned_server(vec![
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 7\r\n\r\n[1,2,3]".to_vec(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n[{\"a\r\n5\r\n\":1}]\r\n0\r\nTrailer: x\r\n\r\n".to_vec(),
        b"HTTP/1.0 404 Not Found\r\n\r\nuntil eof".to_vec(),
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Range: */*\r\nContent-Length: 0\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".to_vec(),
        b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
        b"garbage".to_vec(),
    ]);
    let r = try_request(port, "GET", "/x", &[], None).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!([1, 2, 3]));
    assert_eq!(r.header("x-a"), Some("1"));
    assert_eq!(r.headers_named("X-A"), vec!["1", "2"]);
    assert_eq!(r.header("content-type"), Some(JSON_CT));

    let r = try_request(port, "GET", "/x", &[], None).unwrap();
    assert_eq!(r.json(), json!([{"a": 1}]));

    let r = try_request(port, "GET", "/x", &[], None).unwrap();
    assert_eq!(
        (r.status, r.version.as_str(), r.text().as_str()),
        (404, "HTTP/1.0", "until eof")
    );

    let r = try_request(port, "POST", "/x", &[], Some(b"{}")).unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.header("Content-Range"), Some("*/*"));

    let r = try_request(port, "HEAD", "/x", &[], None).unwrap();
    assert_eq!((r.status, r.body.len()), (200, 0));

    let r = try_request(port, "DELETE", "/x", &[], None).unwrap();
    assert_eq!((r.status, r.body.len()), (204, 0));

    assert!(try_request(port, "GET", "/x", &[], None).is_err());
}

#[test]
fn http_client_keep_alive_pipelining_and_raw() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut out = s;
        let mut seen = Vec::new();
        // Three requests, answered in order, on one connection.
        for i in 0..3 {
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut len = 0usize;
            let mut close = false;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h == "\r\n" {
                    break;
                }
                let lower = h.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if lower.starts_with("connection: close") {
                    close = true;
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            seen.push((request_line.trim().to_string(), body, close));
            let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{i}");
            out.write_all(reply.as_bytes()).unwrap();
        }
        seen
    });
    let mut conn = Conn::open(port).unwrap();
    let r = conn.send("GET", "/a", &[], None).unwrap();
    assert_eq!(r.text(), "0");
    conn.write_request(
        "POST",
        "/b",
        &[("Content-Type", "application/json")],
        Some(b"{}"),
    )
    .unwrap();
    conn.write_request("GET", "/c", &[("Connection", "close")], None)
        .unwrap();
    assert_eq!(conn.read_response(false).unwrap().text(), "1");
    assert_eq!(conn.read_response(false).unwrap().text(), "2");
    let seen = server.join().unwrap();
    assert_eq!(seen[0].0, "GET /a HTTP/1.1");
    assert!(
        !seen[0].2,
        "keep-alive requests must not say Connection: close"
    );
    assert_eq!(seen[1].1, b"{}");
    assert!(seen[2].2);

    // raw: whatever comes back, and how the connection ended
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap(); // until our half-close
        s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
    });
    let out = raw_exchange(port, b"\x00\x01garbage", Duration::from_secs(5)).unwrap();
    assert!(out.clean_eof);
    assert_eq!(out.status(), Some(400));

    // A server that never answers: the read times out instead of hanging.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        thread::sleep(Duration::from_secs(3));
        drop(s);
    });
    let mut slow = Conn::open_timeout(port, Duration::from_millis(500)).unwrap();
    slow.write_raw(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let t = std::time::Instant::now();
    assert!(slow.read_response(false).is_err());
    assert!(t.elapsed() < Duration::from_secs(2));
    let _ = TcpStream::connect(("127.0.0.1", port));
    hold.join().unwrap();
}
