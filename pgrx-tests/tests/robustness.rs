//! Hostile and unusual traffic must never take the server down.
//!
//! Each test records the pgrest worker pids, the checkpointer and postmaster pids (a crash
//! makes the postmaster re-initialise and start a new checkpointer) and a checksum of the
//! demo data, fires its traffic, and then checks that all of that is unchanged, that the log
//! shows no crash and that `GET /todos` still works.
//!
//! Every answer must be a complete HTTP response; only bytes that are not HTTP at all may be
//! answered by just closing the connection. Writes go to api.scratch (outside the checksum)
//! or match no rows.

use std::io::{self, Write};
use std::net::TcpStream;
use std::os::unix::io::AsRawFd;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use pgrest_e2e::http::{read_response, Conn, RawOutcome};
use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("robustness")
}

// ---------------------------------------------------------------------------------------------
// Before/after

struct Snapshot {
    workers: Vec<i32>,
    checkpointer: i32,
    postmaster: i32,
    checksum: String,
    log_len: usize,
}

const CHECKSUM_SQL: &str = "
select string_agg(x, E'\\n' order by x) from (
  select 'todos ' || count(*) || ' ' || coalesce(sum(id), 0) || ' '
         || md5(coalesce(string_agg(t::text, ',' order by id), '')) as x from api.todos t
  union all
  select 'users ' || count(*) || ' ' || md5(coalesce(string_agg(u::text, ',' order by id), ''))
  from api.users u
  union all
  select 'secrets ' || count(*) || ' ' || md5(coalesce(string_agg(s::text, ',' order by id), ''))
  from api.secrets s
  union all
  select 'kitchen_sink ' || count(*) from api.kitchen_sink
  union all
  select 'relations ' || md5(string_agg(relname || ':' || relkind::text, ',' order by relname))
  from pg_class where relnamespace = 'api'::regnamespace
  union all
  select 'roles ' || string_agg(rolname || ':' || rolsuper || rolcanlogin, ',' order by rolname)
  from pg_roles where rolname !~ '^pg_'
  union all
  select 'grants ' || md5(coalesce(string_agg(grantee || table_name || privilege_type, ','
         order by grantee, table_name, privilege_type), ''))
  from information_schema.role_table_grants where table_schema = 'api'
) s";

fn snapshot() -> Snapshot {
    let c = cluster();
    let workers = c.worker_pids();
    assert!(!workers.is_empty(), "no pgrest workers in pg_stat_activity");
    Snapshot {
        workers,
        checkpointer: c.checkpointer_pid(),
        postmaster: c.postmaster_pid().expect("postmaster running"),
        checksum: c.psql(CHECKSUM_SQL),
        log_len: c.log().len(),
    }
}

#[track_caller]
fn assert_intact(before: &Snapshot) {
    let c = cluster();
    // The server still answers (give a restarting worker no excuse: one try).
    let r = c.get("/todos?order=id&select=id");
    assert_eq!(ids(&assert_json_array(&r)), [1, 2, 3, 4]);
    let log = c.log();
    let new_log = log.get(before.log_len..).unwrap_or("");
    for line in new_log.lines() {
        let crash = line.contains("terminated by signal")
            || line.contains("PANIC:")
            || line.contains("terminating any other active server processes")
            || line.contains("all server processes terminated; reinitializing")
            || (line.contains("exited with exit code") && line.to_lowercase().contains("pgrest"));
        assert!(
            !crash,
            "the server log shows a crash: {line}\n{}",
            pgrest_e2e::harness::tail(new_log, 60)
        );
    }
    assert_eq!(
        c.postmaster_pid(),
        Some(before.postmaster),
        "the postmaster changed"
    );
    assert_eq!(
        c.checkpointer_pid(),
        before.checkpointer,
        "crash re-initialisation (new checkpointer)"
    );
    assert_eq!(
        c.worker_pids(),
        before.workers,
        "a pgrest worker died or was restarted"
    );
    assert_eq!(c.psql(CHECKSUM_SQL), before.checksum, "the data changed");
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A complete response arrived (no reset, no timeout); returns it.
#[track_caller]
fn complete(what: &str, r: io::Result<Response>) -> Response {
    match r {
        Ok(r) => {
            assert!(
                (100..600).contains(&r.status),
                "{what}: odd status {}",
                r.describe()
            );
            r
        }
        Err(e) => panic!("{what}: no complete response ({e})"),
    }
}

/// A complete response that is not a server error.
#[track_caller]
fn below_500(what: &str, r: io::Result<Response>) -> Response {
    let r = complete(what, r);
    assert!(r.status < 500, "{what}: server error {}", r.describe());
    r
}

/// A complete 4xx response.
#[track_caller]
fn client_error(what: &str, r: io::Result<Response>) -> Response {
    let r = complete(what, r);
    assert!(
        (400..500).contains(&r.status),
        "{what}: expected a 4xx, got {}",
        r.describe()
    );
    r
}

/// A 4xx/5xx error with a JSON body must be PostgREST-shaped.
#[track_caller]
fn shaped_if_json(what: &str, r: &Response) {
    if r.status >= 400
        && r.header("Content-Type")
            .is_some_and(|ct| ct.starts_with("application/json"))
    {
        let body = r.json();
        assert!(
            body["code"].is_string() && body["message"].is_string(),
            "{what}: {}",
            r.describe()
        );
    }
}

/// Sends raw bytes (then half-closes); the server must answer or close within 10 s.
#[track_caller]
fn exchange(what: &str, bytes: &[u8]) -> RawOutcome {
    let out = cluster().raw_outcome(bytes, Duration::from_secs(10));
    assert!(
        !matches!(
            out.error,
            Some(io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
        ),
        "{what}: the server neither answered nor closed within 10 s (got {:?})",
        out.text()
    );
    out
}

/// Garbage may be answered with a 4xx (or 505) or by closing; nothing else.
#[track_caller]
fn garbage_answer(what: &str, bytes: &[u8]) {
    let out = exchange(what, bytes);
    if !out.bytes.is_empty() {
        let status = out
            .status()
            .unwrap_or_else(|| panic!("{what}: not an HTTP answer: {:?}", out.text()));
        assert!(
            (400..=505).contains(&status),
            "{what}: answered {:?}",
            out.text()
        );
    }
}

fn raw_request(bytes: &[u8]) -> io::Result<Response> {
    let out = exchange(&String::from_utf8_lossy(bytes), bytes);
    if out.bytes.is_empty() {
        return Err(io::Error::new(
            out.error.unwrap_or(io::ErrorKind::UnexpectedEof),
            format!("no answer (write error {:?})", out.write_error),
        ));
    }
    read_response(&mut &out.bytes[..], bytes.starts_with(b"HEAD "))
}

/// Deterministic pseudo-random bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Closes with a TCP reset instead of a FIN.
fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

fn connect_raw() -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", cluster().http_port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn get(path: &str) -> io::Result<Response> {
    cluster().try_request("GET", path, &[], None)
}

// ---------------------------------------------------------------------------------------------
// Malformed traffic

#[test]
fn garbage_bytes() {
    let before = snapshot();
    let mut inputs: Vec<(&str, Vec<u8>)> = vec![
        ("control bytes", b"\x00\x01\x02\x03\xff\xfe\xfd\r\n\r\n".to_vec()),
        ("noise 4 KiB", noise(4096, 1)),
        ("noise 256 KiB", noise(256 * 1024, 2)),
        ("blank lines", b"\r\n\r\n\r\n\r\n".to_vec()),
        ("TLS client hello", [&b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..], &noise(500, 3)].concat()),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00".to_vec()),
        ("unknown version", b"GET /todos HTTP/9.9\r\nHost: x\r\n\r\n".to_vec()),
        ("header without colon", b"GET /todos HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n".to_vec()),
        ("NUL in a header", b"GET /todos HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n".to_vec()),
        ("negative length", b"POST /scratch HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec()),
        (
            "conflicting lengths",
            b"POST /scratch HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(),
        ),
        (
            "bad chunk size",
            b"POST /scratch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(),
        ),
        (
            "smuggling: both lengths",
            b"POST /scratch HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /todos HTTP/1.1\r\n\r\n".to_vec(),
        ),
        ("space before colon", b"GET /todos HTTP/1.1\r\nHost : x\r\n\r\n".to_vec()),
        ("bare LF and CR", b"GET /todos HTTP/1.1\rHost: x\r\r".to_vec()),
    ];
    for seed in 10..20 {
        inputs.push(("noise burst", noise(64 + seed as usize * 37, seed)));
    }
    for (what, bytes) in &inputs {
        garbage_answer(what, bytes);
    }
    assert_intact(&before);
}

#[test]
fn non_http_lines() {
    let before = snapshot();
    for (what, bytes) in [
        ("text", &b"hello world\n"[..]),
        ("ssh banner", b"SSH-2.0-OpenSSH_9.6\r\n"),
        ("smtp", b"HELO example.com\r\nMAIL FROM:<a@b>\r\n"),
        ("method only", b"GET\r\n\r\n"),
        ("HTTP/0.9", b"GET /todos\r\n\r\n"),
        (
            "postgres startup packet",
            b"\x00\x00\x00\x08\x04\xd2\x16\x2f",
        ),
        ("json", b"{\"select\": \"*\"}\n"),
    ] {
        garbage_answer(what, bytes);
    }
    assert_intact(&before);
}

#[test]
fn invalid_utf8_in_path_query_and_headers() {
    let before = snapshot();
    for (what, bytes) in [
        (
            "raw bytes in the path",
            &b"GET /todos\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"[..],
        ),
        (
            "raw bytes in the query",
            b"GET /todos?task=eq.\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ),
        (
            "overlong encoding",
            b"GET /todos?task=eq.\xc0\xaf HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ),
    ] {
        // Either the HTTP parser refuses it or the server answers it: no crash, no 5xx.
        let out = exchange(what, bytes);
        if let Some(status) = out.status() {
            assert!(status < 500, "{what}: {:?}", out.text());
        }
    }
    for path in [
        "/todos%FF%FE",
        "/%C0%AF",
        "/todos?task=eq.%FF%FE",
        "/todos?task=like.%ED%A0%80*",
        "/todos?select=%FF",
        "/todos?select=id,%FF:task",
        "/todos?%FF=eq.1",
        "/todos?order=%FF.desc",
        "/todos?or=(task.eq.%FF,id.eq.1)",
        "/todos?task=in.(%FF,%FE)",
        "/kitchen_sink?doc->>%FF=eq.1",
        "/todos?task=eq.%00",
        "/todos?task=eq.a%00b",
        "/todos%00",
        "/todos?select=id%00",
    ] {
        let r = below_500(path, get(path));
        shaped_if_json(path, &r);
    }
    for (name, value) in [
        ("X-Bad", &b"\xff\xfe"[..]),
        ("Authorization", b"Bearer \xff\xfe.\xff.\xff"),
        ("Prefer", b"return=\xffrepresentation"),
    ] {
        let mut bytes = b"GET /todos HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".to_vec();
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value);
        bytes.extend_from_slice(b"\r\n\r\n");
        let r = below_500(name, raw_request(&bytes));
        shaped_if_json(name, &r);
    }
    assert_intact(&before);
}

#[test]
fn huge_headers_and_urls() {
    let before = snapshot();
    let c = cluster();
    let big = "a".repeat(64 * 1024);
    let r = complete(
        "64 KiB header",
        c.try_request("GET", "/todos", &[("X-Big", &big)], None),
    );
    assert!(
        r.status == 200 || (400..500).contains(&r.status),
        "{}",
        r.describe()
    );

    let many: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("X-H-{i}"), "v".repeat(100)))
        .collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let r = complete("1000 headers", c.try_request("GET", "/todos", &refs, None));
    assert!(
        r.status == 200 || (400..500).contains(&r.status),
        "{}",
        r.describe()
    );

    let token = "x".repeat(64 * 1024);
    client_error(
        "64 KiB bearer",
        c.try_request("GET", "/todos", &[("Authorization", &bearer(&token))], None),
    );

    let long_path = format!("/{}", "t".repeat(200 * 1024));
    client_error("200 KiB path", c.try_request("GET", &long_path, &[], None));

    let long_query = format!("/todos?task=eq.{}", "q".repeat(200 * 1024));
    let r = complete(
        "200 KiB query value",
        c.try_request("GET", &long_query, &[], None),
    );
    assert!(
        r.status == 200 || (400..500).contains(&r.status),
        "{}",
        r.describe()
    );

    // 1 MiB of headers: the parser must refuse it, or the server may just close.
    let huge = "h".repeat(1024 * 1024);
    match c.try_request("GET", "/todos", &[("X-Huge", &huge)], None) {
        Ok(r) => assert!(
            r.status == 200 || (400..500).contains(&r.status),
            "{}",
            r.describe()
        ),
        Err(e) => assert_ne!(e.kind(), io::ErrorKind::WouldBlock, "the server hung"),
    }
    assert_intact(&before);
}

#[test]
fn huge_bodies() {
    let before = snapshot();
    let c = cluster();
    // 16 MiB of invalid JSON: a 4xx (400 or 413). The server may close before reading it all,
    // in which case our write fails; it must still not hang or crash.
    let junk = vec![b'x'; 16 * 1024 * 1024];
    match c.try_request(
        "POST",
        "/scratch",
        &[("Content-Type", "application/json")],
        Some(&junk),
    ) {
        Ok(r) => assert!((400..500).contains(&r.status), "{}", r.describe()),
        Err(e) => assert!(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "16 MiB body: {e}"
        ),
    }
    // 4 MiB of valid JSON that matches no row: 204, or 413 if there is a limit.
    let body = json!({"note": "n".repeat(4 * 1024 * 1024)});
    let r = below_500(
        "4 MiB PATCH",
        c.try_request(
            "PATCH",
            "/scratch?id=eq.-1",
            &[("Content-Type", "application/json")],
            Some(&serde_json::to_vec(&body).unwrap()),
        ),
    );
    assert!(r.status == 204 || r.status == 413, "{}", r.describe());
    // A body on a GET is ignored or refused, not fatal.
    let r = below_500(
        "GET with body",
        c.try_request("GET", "/todos", &[], Some(&vec![b'{'; 1 << 20])),
    );
    shaped_if_json("GET with body", &r);
    assert_intact(&before);
}

#[test]
fn truncated_requests_and_abrupt_disconnects() {
    let before = snapshot();
    for _ in 0..20 {
        drop(connect_raw());
        reset(connect_raw());
    }
    let partials: [&[u8]; 7] = [
        b"GET /tod",
        b"GET /todos HTTP/1.1\r\nHost: x\r\n",
        b"GET /todos HTTP/1.1\r\nHost: x\r\nX-Half: abc",
        b"POST /scratch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"note\":",
        b"POST /scratch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"note\"",
        b"PATCH /scratch?id=eq.-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{",
        b"G",
    ];
    for bytes in partials {
        // Half-close: the server sees EOF mid-request.
        let out = exchange(&String::from_utf8_lossy(bytes), bytes);
        if let Some(status) = out.status() {
            assert!(
                (400..500).contains(&status),
                "{:?}: {:?}",
                String::from_utf8_lossy(bytes),
                out.text()
            );
        }
        // Reset: the server sees ECONNRESET mid-request.
        let mut s = connect_raw();
        s.write_all(bytes).unwrap();
        thread::sleep(Duration::from_millis(20));
        reset(s);
    }
    // Complete requests whose client vanishes before the answer.
    for i in 0..20 {
        let mut s = connect_raw();
        s.write_all(b"GET /todos?order=id HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        if i % 2 == 0 {
            reset(s);
        } else {
            drop(s);
        }
    }
    // A write whose client vanishes: it must either commit or not, never half-apply.
    for _ in 0..10 {
        let mut s = connect_raw();
        s.write_all(
            b"PATCH /scratch?id=eq.-1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"note\":\"x\"}\n",
        )
        .unwrap();
        reset(s);
    }
    assert_intact(&before);
}

#[test]
fn slow_clients_do_not_block_the_workers() {
    let before = snapshot();
    // Hold more half-sent requests open than there are workers.
    let mut held = Vec::new();
    for i in 0..16 {
        let mut s = connect_raw();
        let partial = if i % 2 == 0 {
            &b"GET /todos HTTP/1.1\r\nHost: x\r\n"[..]
        } else {
            b"POST /scratch HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"no"
        };
        s.write_all(partial).unwrap();
        held.push(s);
    }
    let t = Instant::now();
    for _ in 0..10 {
        let r = complete("while slow clients wait", get("/todos?select=id&order=id"));
        assert_eq!(ids(&assert_json_array(&r)), [1, 2, 3, 4]);
    }
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "requests were held up by slow clients: {:?}",
        t.elapsed()
    );
    drop(held);
    assert_intact(&before);
}

#[test]
fn bad_json_bodies() {
    let before = snapshot();
    let c = cluster();
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    let invalid: Vec<(&str, Vec<u8>)> = vec![
        ("open brace", b"{".to_vec()),
        ("open bracket", b"[{\"note\": 1},".to_vec()),
        ("missing value", b"{\"note\": }".to_vec()),
        ("single quotes", b"{'note': 'x'}".to_vec()),
        ("trailing comma", b"{\"note\": \"x\",}".to_vec()),
        ("trailing garbage", b"{\"note\": \"x\"} {".to_vec()),
        ("bare word", b"undefined".to_vec()),
        (
            "invalid UTF-8 in a string",
            b"{\"note\": \"\xff\xfe\"}".to_vec(),
        ),
        (
            "control character in a string",
            b"{\"note\": \"a\x01b\"}".to_vec(),
        ),
        ("unterminated string", b"{\"note\": \"abc".to_vec()),
        ("NaN", b"{\"n\": NaN}".to_vec()),
        ("deeply nested arrays", deep_array.into_bytes()),
        (
            "deeply nested objects, unclosed",
            "{\"a\":".repeat(100_000).into_bytes(),
        ),
    ];
    for (what, body) in &invalid {
        for (method, path) in [("POST", "/scratch"), ("PATCH", "/scratch?id=eq.-1")] {
            let r = complete(
                what,
                c.try_request(
                    method,
                    path,
                    &[("Content-Type", "application/json")],
                    Some(body),
                ),
            );
            assert_eq!(r.status, 400, "{method} {what}: {}", r.describe());
            shaped_if_json(what, &r);
        }
    }
    // Valid but unusual JSON, on an update that matches nothing: any answer but a crash or 5xx.
    let odd: Vec<(&str, Vec<u8>)> = vec![
        ("deeply nested objects", deep_object.into_bytes()),
        ("lone surrogate", b"{\"note\": \"\\ud800\"}".to_vec()),
        ("NUL escape", b"{\"note\": \"a\\u0000b\"}".to_vec()),
        ("huge number", b"{\"n\": 1e400}".to_vec()),
        ("negative zero", b"{\"n\": -0}".to_vec()),
        ("float for int", b"{\"n\": 1.5}".to_vec()),
        (
            "duplicate keys",
            b"{\"note\": \"a\", \"note\": \"b\"}".to_vec(),
        ),
        ("byte order mark", b"\xef\xbb\xbf{\"note\": \"x\"}".to_vec()),
        ("scalar", b"42".to_vec()),
        ("string", b"\"note\"".to_vec()),
        ("null", b"null".to_vec()),
        ("empty object", b"{}".to_vec()),
        ("array of scalars", b"[1, 2, 3]".to_vec()),
        ("wrong type", b"{\"n\": {\"x\": [1]}}".to_vec()),
        ("unicode keys", "{\"nöte\": \"✓\"}".as_bytes().to_vec()),
    ];
    for (what, body) in &odd {
        let r = below_500(
            what,
            c.try_request(
                "PATCH",
                "/scratch?id=eq.-1",
                &[("Content-Type", "application/json")],
                Some(body),
            ),
        );
        shaped_if_json(what, &r);
    }
    // A NUL inside a value that would be stored: refused, never truncated.
    let r = below_500(
        "NUL insert",
        c.try_request(
            "POST",
            "/scratch",
            &[
                ("Content-Type", "application/json"),
                ("Prefer", "return=representation"),
            ],
            Some(b"{\"note\": \"e2e-nul-a\\u0000b\"}"),
        ),
    );
    if r.status < 300 {
        assert_ne!(
            r.json()[0]["note"],
            "e2e-nul-a",
            "a NUL truncated the value: {}",
            r.describe()
        );
    }
    assert_eq!(
        c.psql("select count(*) from api.scratch where note = 'e2e-nul-a'"),
        "0"
    );
    assert_intact(&before);
}

// ---------------------------------------------------------------------------------------------
// SQL injection

const INJECTIONS: &[&str] = &[
    "'; DROP TABLE api.users; --",
    "\"; DROP TABLE api.users; --",
    "1; DELETE FROM api.todos",
    "1) OR (1=1",
    "' OR '1'='1",
    "$$; DROP TABLE api.users; $$",
    "\\'; DROP TABLE api.users; --",
    "*/ DROP TABLE api.users; /*",
    "x\" OR \"1\"=\"1",
    "todos\"; ALTER ROLE web_anon SUPERUSER; --",
    "1 UNION SELECT secret FROM api.secrets",
    "E'\\x27'; TRUNCATE api.todos CASCADE; --",
];

/// Percent-encodes for the path and the query string.
fn enc(s: &str) -> String {
    urlencode(s)
}

#[test]
fn sql_injection_in_urls() {
    let before = snapshot();
    for inj in INJECTIONS {
        let e = enc(inj);
        let paths = [
            format!("/{e}"),
            format!("/todos{e}"),
            format!("/rpc/{e}"),
            format!("/todos?select=id,{e}"),
            format!("/todos?select={e}"),
            format!("/todos?select=id,{e}:task"),
            format!("/todos?select=id,task::{e}"),
            format!("/todos?select=id,%22{e}%22"),
            format!("/todos?task=eq.{e}"),
            format!("/todos?task=neq.{e}"),
            format!("/todos?task=like.{e}"),
            format!("/todos?task=ilike.*{e}*"),
            format!("/todos?task=in.({e})"),
            format!("/todos?task=in.(%22{e}%22,x)"),
            format!("/todos?task=is.{e}"),
            format!("/todos?task=fts.{e}"),
            format!("/todos?id=eq.{e}"),
            format!("/todos?{e}=eq.1"),
            format!("/todos?task={e}.1"),
            format!("/todos?task=not.{e}"),
            format!("/todos?order={e}"),
            format!("/todos?order=id.{e}"),
            format!("/todos?order=task,{e}.desc"),
            format!("/todos?limit={e}"),
            format!("/todos?offset={e}"),
            format!("/todos?or=(task.eq.{e},id.eq.1)"),
            format!("/todos?or=(task.eq.%22{e}%22,id.eq.1)"),
            format!("/todos?and=({e})"),
            format!("/kitchen_sink?select=id,doc->>{e}"),
            format!("/kitchen_sink?select=id,doc->{e}->>x"),
            format!("/kitchen_sink?doc->>{e}=eq.1"),
            format!("/kitchen_sink?order=doc->>{e}"),
            format!("/todos?columns={e}"),
            format!("/todos?on_conflict={e}"),
        ];
        for path in &paths {
            let r = below_500(path, get(path));
            shaped_if_json(path, &r);
            if r.status == 200 {
                // Whatever it returned, it is a JSON array and leaks nothing from secrets.
                assert!(r.json().is_array(), "GET {path}: {}", r.describe());
                assert!(
                    !r.text().contains("the cake is a lie"),
                    "GET {path} leaked a secret"
                );
            }
        }
    }
    assert_intact(&before);
}

#[test]
fn sql_injection_in_headers_and_tokens() {
    let before = snapshot();
    let c = cluster();
    for inj in INJECTIONS {
        let header_cases: Vec<(&str, String)> = vec![
            ("X-Inj", inj.to_string()),
            ("Prefer", format!("return=representation; {inj}")),
            ("Prefer", inj.to_string()),
            ("Prefer", format!("count={inj}")),
            ("Prefer", format!("timezone={inj}")),
            ("Prefer", format!("tx={inj}")),
            ("Accept-Profile", inj.to_string()),
            ("Content-Profile", inj.to_string()),
            ("Range", inj.to_string()),
            ("Range", format!("0-{inj}")),
            ("Accept", inj.to_string()),
            ("Authorization", format!("Bearer {inj}")),
            ("Authorization", inj.to_string()),
            ("Cookie", format!("session={inj}")),
            ("Origin", inj.to_string()),
        ];
        for (name, value) in &header_cases {
            let what = format!("GET /todos with {name}: {value}");
            let r = below_500(
                &what,
                c.try_request("GET", "/todos", &[(name, value)], None),
            );
            shaped_if_json(&what, &r);
            let what = format!("PATCH /scratch?id=eq.-1 with {name}: {value}");
            let r = below_500(
                &what,
                c.try_request(
                    "PATCH",
                    "/scratch?id=eq.-1",
                    &[(name, value), ("Content-Type", "application/json")],
                    Some(b"{\"note\": \"x\"}"),
                ),
            );
            shaped_if_json(&what, &r);
        }
        // Signed tokens whose claims carry the injection.
        for claims in [
            json!({"role": inj}),
            json!({"role": format!("web_anon{inj}")}),
            json!({"role": "web_user", "user_id": inj}),
            json!({"role": "web_user", "user_id": 42, *inj: inj}),
            json!({"role": "web_user", "user_id": 42, "email": inj}),
        ] {
            let what = format!("GET /todos with claims {claims}");
            let r = below_500(
                &what,
                c.try_request(
                    "GET",
                    "/todos",
                    &[("Authorization", &bearer(&jwt(claims.clone())))],
                    None,
                ),
            );
            shaped_if_json(&what, &r);
            if r.status == 200 {
                // Never more than the policy allows: a web_user token sees at most user 42's rows.
                if claims["role"] == "web_user" {
                    let got = ids(r.json().as_array().unwrap());
                    assert!(
                        got.iter().all(|id| [3, 4].contains(id)),
                        "{what}: RLS bypassed: {got:?}"
                    );
                }
            }
        }
    }
    // A role claim naming a superuser or the authenticator itself gains nothing.
    for role in ["postgres", "authenticator", "pg_read_all_data"] {
        let what = format!("role claim {role}");
        let r = below_500(
            &what,
            c.try_request(
                "GET",
                "/secrets",
                &[("Authorization", &bearer(&jwt(json!({"role": role}))))],
                None,
            ),
        );
        assert!(r.status >= 400, "{what}: {}", r.describe());
        assert!(
            !r.text().contains("the cake is a lie"),
            "{what} leaked a secret"
        );
    }
    assert_intact(&before);
}

#[test]
fn sql_injection_in_bodies_round_trips_as_data() {
    let before = snapshot();
    let c = cluster();
    for (i, inj) in INJECTIONS.iter().enumerate() {
        // Keys: unknown columns, refused before any SQL is built from them.
        let mut obj = serde_json::Map::new();
        obj.insert(inj.to_string(), json!(1));
        let what = format!("POST body key {inj:?}");
        let r = client_error(
            &what,
            c.try_request(
                "POST",
                "/scratch",
                &[("Content-Type", "application/json")],
                Some(&serde_json::to_vec(&Value::Object(obj.clone())).unwrap()),
            ),
        );
        shaped_if_json(&what, &r);
        let what = format!("PATCH body key {inj:?}");
        let r = client_error(
            &what,
            c.try_request(
                "PATCH",
                "/scratch?id=eq.-1",
                &[("Content-Type", "application/json")],
                Some(&serde_json::to_vec(&Value::Object(obj)).unwrap()),
            ),
        );
        shaped_if_json(&what, &r);

        // Values: stored exactly as sent, in text and inside jsonb.
        let marker = format!("e2e-inj-{i}: {inj}");
        let mut payload = serde_json::Map::new();
        payload.insert(inj.to_string(), json!(inj));
        let r = c.post_json(
            "/scratch?select=id,note,payload",
            &json!({"note": marker, "payload": Value::Object(payload.clone())}),
            &[("Prefer", "return=representation")],
        );
        assert_status(&r, 201);
        let row = &r.json()[0];
        assert_eq!(row["note"], json!(marker), "{}", r.describe());
        assert_eq!(row["payload"], Value::Object(payload), "{}", r.describe());
        let id = row["id"].as_i64().unwrap();
        let back = assert_json_array(&c.get(&format!("/scratch?id=eq.{id}&select=note")));
        assert_eq!(back[0]["note"], json!(marker));
        // ... and found again by the same value in a filter.
        let found =
            assert_json_array(&c.get(&format!("/scratch?note=eq.{}&select=id", enc(&marker))));
        assert_eq!(ids(&found), [id]);
        let sql_note = c.psql(&format!("select note from api.scratch where id = {id}"));
        assert_eq!(sql_note, marker);

        // Other columns and types with the injection as the value.
        let r = c.post_json("/scratch", &json!({"n": inj}), &[]);
        assert_error(&r, 400, "22P02");
    }
    assert_intact(&before);
}

// ---------------------------------------------------------------------------------------------
// Big query strings

#[test]
fn deeply_nested_logic_trees() {
    let before = snapshot();
    for depth in [10, 100, 1000, 5000] {
        let mut q = String::from("id.eq.1");
        for i in 0..depth {
            let op = if i % 2 == 0 { "or" } else { "and" };
            let neg = if i % 3 == 0 { "not." } else { "" };
            q = format!("{neg}{op}(id.eq.{},{q})", i % 4 + 1);
        }
        // Top level: `or=(...)` wants the children list.
        let path = format!("/todos?or=({q})&select=id");
        let r = complete(&format!("depth {depth}"), get(&path));
        shaped_if_json(&format!("depth {depth}"), &r);
        if r.status == 200 {
            assert!(r.json().is_array());
        }
    }
    // Unbalanced and empty trees.
    for q in [
        "or=(((((((((",
        "or=)))))",
        "or=()",
        "and=(or(),and())",
        "or=(not.not.not.id.eq.1)",
    ] {
        let r = complete(q, get(&format!("/todos?{q}")));
        assert!(
            (400..500).contains(&r.status) || r.status == 200,
            "{q}: {}",
            r.describe()
        );
        shaped_if_json(q, &r);
    }
    assert_intact(&before);
}

#[test]
fn thousands_of_filters() {
    let before = snapshot();
    let same: Vec<String> = (0..3000).map(|_| "id=gte.0".to_string()).collect();
    let r = complete(
        "3000 identical filters",
        get(&format!("/todos?select=id&order=id&{}", same.join("&"))),
    );
    if r.status == 200 {
        assert_eq!(ids(&assert_json_array(&r)), [1, 2, 3, 4]);
    } else {
        assert!((400..500).contains(&r.status), "{}", r.describe());
    }
    let distinct: Vec<String> = (0..3000).map(|i| format!("task=neq.x{i}")).collect();
    let r = complete(
        "3000 filters",
        get(&format!("/todos?select=id&order=id&{}", distinct.join("&"))),
    );
    if r.status == 200 {
        assert_eq!(ids(&assert_json_array(&r)), [1, 2, 3, 4]);
    } else {
        assert!((400..500).contains(&r.status), "{}", r.describe());
    }
    let list: Vec<String> = (1..=20000).map(|i| i.to_string()).collect();
    let r = complete(
        "in with 20000 values",
        get(&format!(
            "/todos?select=id&order=id&id=in.({})",
            list.join(",")
        )),
    );
    if r.status == 200 {
        assert_eq!(ids(&assert_json_array(&r)), [1, 2, 3, 4]);
    } else {
        assert!((400..500).contains(&r.status), "{}", r.describe());
    }
    let wide: Vec<String> = (0..5000).map(|i| format!("id.eq.{i}")).collect();
    let r = complete(
        "or with 5000 terms",
        get(&format!(
            "/todos?select=id&order=id&or=({})",
            wide.join(",")
        )),
    );
    if r.status == 200 {
        assert_eq!(ids(&assert_json_array(&r)), [1, 2, 3, 4]);
    } else {
        assert!((400..500).contains(&r.status), "{}", r.describe());
    }
    let selects: Vec<String> = (0..2000).map(|i| format!("c{i}:id")).collect();
    let r = complete(
        "2000 select items",
        get(&format!("/todos?id=eq.1&select={}", selects.join(","))),
    );
    // PostgreSQL's own limit (1664 target list entries) is 54011, which PostgREST maps to 500.
    if r.status == 500 {
        assert_error(&r, 500, "54011");
    }
    assert!(
        r.status == 200 || r.status == 500 || (400..500).contains(&r.status),
        "{}",
        r.describe()
    );
    assert_intact(&before);
}

// ---------------------------------------------------------------------------------------------
// Protocol corners

#[test]
fn unknown_methods() {
    let before = snapshot();
    let c = cluster();
    for method in [
        "FOO", "TRACE", "PROPFIND", "MKCOL", "get", "G-E-T", "BREW", "PURGE", "LINK",
    ] {
        let r = complete(method, c.try_request(method, "/todos", &[], None));
        assert!(
            r.status == 405 || r.status == 400,
            "{method}: {}",
            r.describe()
        );
        shaped_if_json(method, &r);
    }
    let r = raw_request(
        b"CONNECT 127.0.0.1:5432 HTTP/1.1\r\nHost: 127.0.0.1:5432\r\nConnection: close\r\n\r\n",
    );
    if let Ok(r) = r {
        assert!((400..500).contains(&r.status), "CONNECT: {}", r.describe());
    }
    // A method name that is far too long.
    let long = "X".repeat(10_000);
    client_error("long method", c.try_request(&long, "/todos", &[], None));
    assert_intact(&before);
}

#[test]
fn http_1_0() {
    let before = snapshot();
    let r = complete(
        "HTTP/1.0",
        raw_request(b"GET /todos?order=id&select=id HTTP/1.0\r\n\r\n"),
    );
    assert_eq!(ids(&assert_json_array(&r)), [1, 2, 3, 4]);
    let r = complete(
        "HTTP/1.0 with Host",
        raw_request(b"GET /todos?id=eq.3&select=id,task HTTP/1.0\r\nHost: x\r\n\r\n"),
    );
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"id": 3, "task": "buy milk"}])
    );
    // HTTP/1.0 keep-alive, if honoured, must still frame the response.
    let mut conn = cluster().connect();
    conn.write_raw(b"GET /todos?id=eq.1&select=id HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let r = conn.read_response(false).expect("a response");
    assert_eq!(Value::Array(assert_json_array(&r)), json!([{"id": 1}]));
    let r = complete(
        "HEAD HTTP/1.0",
        raw_request(b"HEAD /todos HTTP/1.0\r\n\r\n"),
    );
    assert_status(&r, 200);
    assert!(r.body.is_empty());
    assert_intact(&before);
}

#[test]
fn keep_alive_and_pipelining() {
    let before = snapshot();
    let c = cluster();
    // Sequential requests on one connection.
    let mut conn = c.connect();
    for i in 0..50 {
        let id = i % 4 + 1;
        let r = conn
            .send("GET", &format!("/todos?id=eq.{id}&select=id"), &[], None)
            .expect("keep-alive");
        assert_eq!(ids(&assert_json_array(&r)), [id]);
    }
    // Errors do not break the connection.
    let r = conn.send("GET", "/nope", &[], None).unwrap();
    assert_error(&r, 404, "PGRST205");
    let r = conn
        .send(
            "PATCH",
            "/scratch?id=eq.-1",
            &[("Content-Type", "application/json")],
            Some(b"{bad"),
        )
        .unwrap();
    assert_error(&r, 400, "PGRST102");
    let r = conn
        .send("GET", "/todos?id=eq.2&select=id", &[], None)
        .unwrap();
    assert_eq!(ids(&assert_json_array(&r)), [2]);

    // Pipelined: everything written at once, answers in order.
    let mut conn: Conn = c.connect();
    let mut expected = Vec::new();
    let mut wire = Vec::new();
    for i in 0..30 {
        let (method, path, body): (&str, String, Option<&[u8]>) = match i % 5 {
            0 => ("GET", "/nope".into(), None),
            1 => (
                "PATCH",
                "/scratch?id=eq.-1".into(),
                Some(b"{\"note\":\"p\"}"),
            ),
            2 => ("HEAD", "/todos".into(), None),
            _ => ("GET", format!("/todos?id=eq.{}&select=id", i % 4 + 1), None),
        };
        let close = i == 29;
        let mut headers = vec![("Content-Type", "application/json")];
        if close {
            headers.push(("Connection", "close"));
        }
        wire.extend(pgrest_e2e::http::encode_request(
            c.http_port,
            method,
            &path,
            &headers,
            body,
            false,
        ));
        expected.push((method, path, i));
    }
    conn.write_raw(&wire).unwrap();
    for (method, path, i) in expected {
        let r = conn
            .read_response(method == "HEAD")
            .unwrap_or_else(|e| panic!("pipelined #{i} {method} {path}: {e}"));
        match i % 5 {
            0 => assert_status(&r, 404),
            1 => assert_status(&r, 204),
            2 => {
                assert_status(&r, 200);
                assert_header(&r, "Content-Range", "0-3/*");
            }
            _ => assert_eq!(
                ids(&assert_json_array(&r)),
                [(i % 4 + 1) as i64],
                "pipelined #{i}"
            ),
        }
    }
    assert_intact(&before);
}

#[test]
fn hundreds_of_concurrent_requests() {
    let before = snapshot();
    let port = cluster().http_port;
    let n = 300;
    let barrier = Arc::new(Barrier::new(n));
    let bad_token = jwt_with(
        "not-the-secret-not-the-secret-123456",
        "HS256",
        json!({"role": "web_user"}),
    );
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let bad_token = bad_token.clone();
            thread::spawn(move || {
                barrier.wait();
                let id = (i % 4 + 1) as i64;
                let path = format!("/todos?id=eq.{id}&select=id");
                let auth = bearer(&bad_token);
                let (path, headers): (String, Vec<(&str, &str)>) = match i % 10 {
                    3 => ("/nope".into(), vec![]),
                    7 => (path, vec![("Authorization", auth.as_str())]),
                    _ => (path, vec![]),
                };
                let r = pgrest_e2e::http::try_request(port, "GET", &path, &headers, None)
                    .unwrap_or_else(|e| panic!("request {i} failed: {e}"));
                match i % 10 {
                    3 => assert_eq!(r.status, 404, "request {i}: {}", r.describe()),
                    7 => assert_eq!(r.status, 401, "request {i}: {}", r.describe()),
                    _ => assert_eq!(ids(&assert_json_array(&r)), [id], "request {i}"),
                }
            })
        })
        .collect();
    let mut failures = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        if let Err(p) = h.join() {
            failures.push(format!(
                "#{i}: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "panic".into())
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} concurrent requests failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Concurrent keep-alive connections, each with several requests.
    let handles: Vec<_> = (0..50)
        .map(|i| {
            thread::spawn(move || {
                let mut conn = Conn::open(port).unwrap();
                for j in 0..10 {
                    let id = ((i + j) % 4 + 1) as i64;
                    let r = conn
                        .send("GET", &format!("/todos?id=eq.{id}&select=id"), &[], None)
                        .unwrap();
                    assert_eq!(ids(&assert_json_array(&r)), [id]);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("keep-alive client");
    }
    assert_intact(&before);
}
