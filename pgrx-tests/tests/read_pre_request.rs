//! `pgrest.db_pre_request`: a function called before every request, after the request
//! settings are set. It sees request.method/path/headers/jwt.claims, may set
//! response.headers / response.status, and may RAISE (PTnnn, P0001, the full-control
//! `RAISE SQLSTATE 'PGRST'`). Invalid response settings are 500 PGRST111 / PGRST112.
//!
//! Two clusters:
//! - `read_pre`: db_pre_request = rd_hooks.pre_request_bool (a schema of its own) and
//!   db_tx_end = rollback-allow-override. That SQL function calls the PL/pgSQL function
//!   rd_hooks.pre_request() and returns true.
//! - `read_pre_void`: db_pre_request = rd_hooks.pre_request itself, the `RETURNS void`
//!   PL/pgSQL form PostgREST documents, started without waiting on GET /todos (which runs
//!   the function) so that a crash is reported by the test instead of a start-up timeout.
//!
//! What the function does is chosen by the request header X-Rd-Pre
//! (pgrx-tests/fixtures/30_read_api.sql); without it, it reports what it saw in an
//! `X-Pre-Seen` response header.
//!
//! Expected values come from PostgREST's Error.hs (mapSQLtoHTTP, parseRaisePGRST,
//! PGRST111/112/121), Response.hs (overrideStatusHeaders), Response/GucHeader.hs, App.hs
//! and test/spec/Feature/{HttpHeaderSpec,RpcPreRequestGucsSpec}.hs,
//! Query/{ErrorSpec,RpcSpec}.hs.

use pgrest_e2e::harness::tail;
use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared_with(
        "read_pre",
        &[
            ("pgrest.db_pre_request", "rd_hooks.pre_request_bool"),
            ("pgrest.db_tx_end", "rollback-allow-override"),
        ],
    )
}

/// The void form; waits with OPTIONS (no transaction, so no pre-request call) instead of
/// the harness' GET /todos.
fn void_cluster() -> &'static Cluster {
    let c = Cluster::shared_with_options(
        "read_pre_void",
        &[("pgrest.db_pre_request", "rd_hooks.pre_request")],
        Options {
            wait_http: false,
            ..Options::from_env()
        },
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match c.try_request("OPTIONS", "/rd_people", &[], None) {
            Ok(r) if r.status == 200 => return c,
            _ if std::time::Instant::now() > deadline => {
                panic!("read_pre_void: no answer to OPTIONS /rd_people within 60 s")
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(250)),
        }
    }
}

/// The JSON the pre-request function put in X-Pre-Seen.
#[track_caller]
fn seen(r: &Response) -> Value {
    let h = r
        .header("X-Pre-Seen")
        .unwrap_or_else(|| panic!("no X-Pre-Seen header: {}", r.describe()));
    serde_json::from_str(h).unwrap_or_else(|e| panic!("X-Pre-Seen is not JSON ({e}): {h}"))
}

fn mode(m: &'static str) -> (&'static str, &'static str) {
    ("X-Rd-Pre", m)
}

fn tag_count(c: &Cluster, tag: &str) -> String {
    c.psql(&format!(
        "select count(*) from api.rd_writes where tag = '{tag}'"
    ))
}

#[test]
fn the_pre_request_function_sees_the_request_settings() {
    let c = cluster();
    let r = c.get_with("/rd_people?select=id&id=eq.1", &[("X-Rd-Echo", "hello")]);
    assert_eq!(Value::Array(assert_json_array(&r)), json!([{"id": 1}]));
    assert_eq!(
        seen(&r),
        json!({
            "method": "GET",
            "path": "/rd_people",
            "echo": "hello",
            "role": "web_anon",
            "claim": null,
            "user": "web_anon",
            "cookie_header": null,
            "cookies": {}
        })
    );
    // Cookies are not in request.headers but in request.cookies.
    let r = c.get_with(
        "/rd_people?select=id&id=eq.1",
        &[("Cookie", "a=1; b=two"), ("X-Rd-Echo", "cookies")],
    );
    let s = seen(&r);
    assert_eq!(s["cookie_header"], Value::Null, "{s}");
    assert_eq!(s["cookies"], json!({"a": "1", "b": "two"}), "{s}");
    let h = c.head("/rd_people?id=eq.1", &[]);
    assert_status(&h, 200);
    assert_eq!(seen(&h)["method"], "HEAD");
    // With a JWT: its claims and its role.
    let token = jwt(json!({"role": "web_user", "rd": "from the token"}));
    let r = c.get_with(
        "/rd_people?select=id&id=eq.2",
        &[("Authorization", &bearer(&token))],
    );
    assert_eq!(Value::Array(assert_json_array(&r)), json!([{"id": 2}]));
    let s = seen(&r);
    assert_eq!(s["role"], "web_user", "{s}");
    assert_eq!(s["claim"], "from the token", "{s}");
    assert_eq!(s["user"], "web_user", "{s}");
    // A write.
    let r = c.post_json(
        "/rd_writes",
        &json!({"tag": "pre-seen"}),
        &[("X-Rd-Echo", "posting")],
    );
    assert_status(&r, 201);
    let s = seen(&r);
    assert_eq!(s["method"], "POST", "{s}");
    assert_eq!(s["path"], "/rd_writes", "{s}");
    assert_eq!(s["echo"], "posting", "{s}");
}

#[test]
fn raise_in_the_pre_request_function_maps_to_http() {
    let c = cluster();
    let r = c.get_with("/rd_people", &[mode("pt402")]);
    assert_status(&r, 402);
    assert_header(&r, "Content-Type", JSON_CT);
    assert_header(&r, "Proxy-Status", "PostgREST; error=PT402");
    assert_eq!(
        r.json(),
        json!({"code": "PT402", "message": "Payment Required", "details": "Quota exceeded",
               "hint": "Upgrade your plan"})
    );

    let r = c.get_with("/rd_people", &[mode("p0001")]);
    assert_status(&r, 400);
    assert_eq!(
        r.json(),
        json!({"code": "P0001", "message": "blocked by the pre-request function",
               "details": null, "hint": "rd hint"})
    );

    let r = c.get_with("/rd_people", &[mode("pgrst")]);
    assert_status(&r, 332);
    assert_header(&r, "X-Header", "value");
    assert_header(&r, "Content-Type", JSON_CT);
    assert_header(&r, "Proxy-Status", "PostgREST; error=123");
    assert_eq!(
        r.json(),
        json!({"code": "123", "message": "ABC", "details": "DEF", "hint": "XYZ"})
    );

    let r = c.get_with("/rd_people", &[mode("pgrst-bad")]);
    assert_error_message(
        &r,
        500,
        "PGRST121",
        "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
    );
    let body = r.json();
    assert_eq!(body["details"], "Invalid JSON value for MESSAGE: 'INVALID'");
    assert_eq!(
        body["hint"],
        "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'."
    );
}

#[test]
fn a_raise_before_a_write_keeps_nothing() {
    let c = cluster();
    let tag = "pre-blocked";
    c.psql(&format!("delete from api.rd_writes where tag = '{tag}'"));
    let r = c.post_json(
        "/rd_writes",
        &json!({"tag": tag}),
        &[mode("pt402"), ("Prefer", "tx=commit")],
    );
    assert_status(&r, 402);
    assert_eq!(tag_count(c, tag), "0");
    let r = c.patch_json(
        "/rd_writes?tag=eq.pre-seen",
        &json!({"note": "x"}),
        &[mode("pgrst"), ("Prefer", "tx=commit")],
    );
    assert_status(&r, 332);
    // The control: the same write without the raise is kept.
    let r = c.post_json(
        "/rd_writes",
        &json!({"tag": tag}),
        &[("Prefer", "tx=commit")],
    );
    assert_status(&r, 201);
    assert_eq!(tag_count(c, tag), "1");
    c.psql(&format!("delete from api.rd_writes where tag = '{tag}'"));
}

#[test]
fn response_headers_set_by_the_function_replace_postgrest_ones() {
    let c = cluster();
    let r = c.get_with("/rd_people?select=id&id=eq.3", &[mode("content-type")]);
    assert_status(&r, 200);
    assert_eq!(
        r.headers_named("Content-Type"),
        ["application/x-rd"],
        "{}",
        r.describe()
    );
    assert_eq!(r.json(), json!([{"id": 3}]));
    assert_header(&r, "Content-Range", "0-0/*");

    let r = c.get_with("/rd_people?select=id&id=eq.3", &[mode("many")]);
    assert_status(&r, 200);
    assert_header(&r, "Cache-Control", "no-store");
    assert_eq!(
        r.headers_named("Set-Cookie"),
        ["a=1", "b=2"],
        "{}",
        r.describe()
    );
    // The SQL's Vary, and Accept-Encoding for the gzip this answer may come in.
    assert_eq!(
        r.headers_named("Vary"),
        ["X-Rd, Accept-Encoding"],
        "{}",
        r.describe()
    );
    assert_header(&r, "Content-Type", JSON_CT);

    let h = c.head("/rd_people?id=eq.3", &[mode("many")]);
    assert_status(&h, 200);
    assert_eq!(h.headers_named("Set-Cookie"), ["a=1", "b=2"]);
}

#[test]
fn response_status_set_by_the_function_replaces_the_status() {
    let c = cluster();
    let r = c.get_with("/rd_people?select=id&id=eq.4", &[mode("status")]);
    assert_status(&r, 418);
    assert_header(&r, "Content-Type", JSON_CT);
    assert_eq!(r.json(), json!([{"id": 4}]));
    let tag = "pre-status";
    let r = c.post_json("/rd_writes", &json!({"tag": tag}), &[mode("status")]);
    assert_status(&r, 418);
    let r = c.delete("/rd_writes?tag=eq.nothing-matches", &[mode("status")]);
    assert_status(&r, 418);
}

#[test]
fn invalid_response_settings_are_500() {
    let c = cluster();
    for m in ["bad-headers", "bad-headers-keys", "bad-headers-value"] {
        let r = c.get_with("/rd_people", &[mode(m)]);
        assert_plain_error(
            &r,
            500,
            "PGRST111",
            "response.headers guc must be a JSON array composed of objects with a single key and a string value",
        );
    }
    let r = c.get_with("/rd_people", &[mode("bad-status")]);
    assert_plain_error(
        &r,
        500,
        "PGRST112",
        "response.status guc must be a valid status code",
    );
}

#[test]
fn rollback_allow_override_rolls_back_unless_asked_to_commit() {
    let c = cluster();
    let tag = "pre-tx";
    c.psql(&format!("delete from api.rd_writes where tag = '{tag}'"));
    let r = c.post_json(
        "/rd_writes?select=tag",
        &json!({"tag": tag}),
        &[("Prefer", "return=representation")],
    );
    assert_status(&r, 201);
    assert_eq!(r.json(), json!([{"tag": tag}]));
    assert_header(&r, "Preference-Applied", "return=representation");
    assert_eq!(
        tag_count(c, tag),
        "0",
        "db_tx_end=rollback-allow-override kept a write"
    );
    let r = c.post_json(
        "/rd_writes",
        &json!({"tag": tag}),
        &[("Prefer", "return=minimal, tx=commit")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Preference-Applied", "return=minimal, tx=commit");
    assert_eq!(tag_count(c, tag), "1");
    let r = c.delete(
        &format!("/rd_writes?tag=eq.{tag}"),
        &[("Prefer", "tx=rollback")],
    );
    assert_status(&r, 204);
    assert_header(&r, "Preference-Applied", "tx=rollback");
    assert_eq!(tag_count(c, tag), "1");
    c.psql(&format!("delete from api.rd_writes where tag = '{tag}'"));
}

#[test]
fn the_workers_survive_every_pre_request_outcome() {
    let c = cluster();
    let before = c.worker_pids();
    assert!(!before.is_empty(), "no pgrest workers");
    for _ in 0..3 {
        for m in [
            "pt402",
            "p0001",
            "pgrst",
            "pgrst-bad",
            "content-type",
            "status",
            "many",
            "bad-headers",
            "bad-headers-keys",
            "bad-headers-value",
            "bad-status",
            "unknown-mode",
        ] {
            let r = c.get_with("/rd_people?select=id&id=eq.1", &[mode(m)]);
            assert!(
                (200..600).contains(&r.status),
                "X-Rd-Pre {m}: {}",
                r.describe()
            );
        }
    }
    assert_eq!(c.worker_pids(), before, "a pgrest worker restarted");
    let r = c.get("/rd_people?select=id&id=eq.1");
    assert_eq!(Value::Array(assert_json_array(&r)), json!([{"id": 1}]));
}

#[test]
fn a_void_plpgsql_pre_request_function_works_and_does_not_crash_the_server() {
    // PostgREST's docs (transactions.rst, auth.rst) write pre-request functions as
    // `RETURNS void` in PL/pgSQL; PostgREST runs `select <fn>()` and ignores the result.
    let c = void_cluster();
    let checkpointer = c.checkpointer_pid();
    let before = c.worker_pids();
    let r = c.try_request(
        "GET",
        "/rd_people?select=id&id=eq.1",
        &[("X-Rd-Echo", "void")],
        None,
    );
    let r = r.unwrap_or_else(|e| {
        // Give the postmaster a moment to log what happened to the worker.
        for _ in 0..20 {
            if c.log().contains("terminated by signal") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let crashed = c.log().contains("terminated by signal");
        panic!(
            "GET with a void pre-request function got no response ({e}); server crashed: \
             {crashed}\n--- server log (tail) ---\n{}",
            tail(&c.log(), 20)
        )
    });
    assert_eq!(Value::Array(assert_json_array(&r)), json!([{"id": 1}]));
    assert_eq!(seen(&r)["echo"], "void");
    let r = c.get_with("/rd_people?select=id&id=eq.1", &[mode("pt402")]);
    assert_status(&r, 402);
    let r = c.get_with("/rd_people?select=id&id=eq.1", &[mode("status")]);
    assert_status(&r, 418);
    assert!(
        !c.log().contains("terminated by signal"),
        "{}",
        tail(&c.log(), 20)
    );
    assert_eq!(c.worker_pids(), before, "a pgrest worker restarted");
    assert_eq!(
        c.checkpointer_pid(),
        checkpointer,
        "the postmaster re-initialised"
    );
}
