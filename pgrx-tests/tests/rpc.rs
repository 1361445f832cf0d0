//! Functions as endpoints (`/rpc/<function>`) as PostgREST serves them: arguments from JSON,
//! forms, the query string and raw bodies; overloads; every kind of result with select,
//! filters, order, ranges, counts and embedding; transactions (read-only calls, hoisted
//! settings); errors raised by functions; what the client libraries send; and cancelling a
//! call whose client went away.
//!
//! Cluster `rpc` (defaults) and `rpc_tx` (`db_tx_end = rollback-allow-override`). Fixtures:
//! pgrx-tests/fixtures/70_writes_rpc.sql (fn_*, wr_*), 55_embedding.sql (eb_*), sql/demo.sql.
//! Expected values follow PostgREST's Plan.hs (findProc), QueryBuilder.hs (callPlanToQuery),
//! Response.hs and test/spec/Feature/Query/RpcSpec.hs.

use std::time::{Duration, Instant};

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("rpc")
}

fn get(path: &str) -> Response {
    cluster().get(path)
}

fn post(path: &str, body: Value) -> Response {
    cluster().post_json(path, &body, &[])
}

#[test]
fn scalars_rows_and_void() {
    // A scalar is a bare JSON value.
    let r = post("/rpc/fn_add", json!({"a": 1, "b": 2}));
    assert_status(&r, 200);
    assert_header(&r, "Content-Type", "application/json; charset=utf-8");
    assert_header(&r, "Content-Range", "0-0/*");
    assert_eq!(r.text(), "3");
    assert_eq!(get("/rpc/fn_add?a=4&b=5").text(), "9");
    assert_eq!(get("/rpc/fn_greet").json(), json!("Hello, world"));
    assert_eq!(get("/rpc/fn_greet?name=you").json(), json!("Hello, you"));
    assert_eq!(get("/rpc/fn_null").text(), "null");
    // No body is no arguments.
    let r = cluster().request("POST", "/rpc/fn_noargs", &[], Some(b""));
    assert_eq!(r.json(), json!("no arguments"));
    // Only the first object of an array is used; keys outside columns= are ignored.
    assert_eq!(
        post("/rpc/fn_add", json!([{"a": 1, "b": 2}, {"a": 10, "b": 20}])).text(),
        "3"
    );
    assert_eq!(
        post(
            "/rpc/fn_greet?columns=name",
            json!({"name": "cols", "other": 1})
        )
        .json(),
        json!("Hello, cols")
    );
    // SETOF a scalar: an array, pageable.
    assert_eq!(get("/rpc/fn_series?n=4").json(), json!([1, 2, 3, 4]));
    let r = cluster().get_with(
        "/rpc/fn_series?n=4&limit=2&offset=1",
        &[("Prefer", "count=exact")],
    );
    assert_status(&r, 206);
    assert_header(&r, "Content-Range", "1-2/4");
    assert_eq!(r.json(), json!([2, 3]));
    // TABLE and OUT results.
    assert_eq!(
        get("/rpc/fn_table?n=3&sq=gt.1&order=x.desc&select=x,label").json(),
        json!([{"x": 3, "label": "n3"}, {"x": 2, "label": "n2"}])
    );
    assert_eq!(
        get("/rpc/fn_out?a=21").json(),
        json!({"doubled": 42, "text_of": "21"})
    );
    // OUT and INOUT parameters make an object even alone; a TABLE result an array even
    // with one column; a column may share the function's name.
    assert_eq!(
        get("/rpc/fn_one_out?num=5").json(),
        json!({"num_plus_one": 6})
    );
    assert_eq!(get("/rpc/fn_inout?num=2").json(), json!({"num": 3}));
    assert_eq!(get("/rpc/fn_one_column").json(), json!([{"a": "A"}]));
    assert_eq!(
        post("/rpc/fn_same_name", json!({})).json(),
        json!([{"fn_same_name": "hello", "value": 1}])
    );
    // A bare record is its row as an object; SETOF record an array of them.
    assert_eq!(
        get("/rpc/fn_record").json(),
        json!({"id": 1, "name": "one"})
    );
    assert_eq!(
        get("/rpc/fn_records").json(),
        json!([{"id": 1, "name": "n1"}, {"id": 2, "name": "n2"}])
    );
    // A single composite is an object; with vnd.pgrst.object too.
    let r = get("/rpc/fn_first_book?select=id,title");
    assert_eq!(
        r.json(),
        json!({"id": 1, "title": r.json()["title"].clone()})
    );
    // void: 204, no body, no Content-Type.
    let r = post("/rpc/fn_void", json!({}));
    assert_status(&r, 204);
    assert!(r.body.is_empty());
    assert_no_header(&r, "Content-Type");
    // Its Content-Range is the one void row's.
    assert_header(&r, "Content-Range", "0-0/*");
    // HEAD: headers only.
    let r = cluster().head("/rpc/fn_series?n=3", &[]);
    assert_status(&r, 200);
    assert!(r.body.is_empty());
    assert_header(&r, "Content-Range", "0-2/*");
    // CSV and singular objects.
    let r = cluster().get_with("/rpc/fn_table?n=2", &[("Accept", "text/csv")]);
    assert_eq!(r.text(), "x,sq,label\n1,1,n1\n2,4,n2");
    let r = cluster().get_with(
        "/rpc/fn_table?n=1",
        &[("Accept", "application/vnd.pgrst.object+json")],
    );
    assert_eq!(r.json(), json!({"x": 1, "sq": 1, "label": "n1"}));
    let r = cluster().get_with(
        "/rpc/fn_table?n=2",
        &[("Accept", "application/vnd.pgrst.object+json")],
    );
    assert_error(&r, 406, "PGRST116");
}

#[test]
fn setof_table_results_filter_order_page_count_and_embed() {
    let c = cluster();
    let r = c.get_with(
        "/rpc/fn_items_books?select=id,title,author:eb_authors!author_id(name)&order=id&limit=2",
        &[("Prefer", "count=exact")],
    );
    // fn_items_books does not exist: PGRST202 with the similar name as a hint.
    assert_error(&r, 404, "PGRST202");
    // SETOF a table embeds through the table's relationships.
    let r = c.get("/rpc/fn_first_book?select=id,author:eb_authors!author_id(name)");
    assert_eq!(r.json(), json!({"id": 1, "author": {"name": "Ann"}}));
    // Filters, order, range and exact counts apply to the result.
    c.post_json(
        "/wr_items",
        &json!([
            {"id": 501, "name": "r1", "qty": 5},
            {"id": 502, "name": "r2", "qty": 6},
            {"id": 503, "name": "r3", "qty": 7}
        ]),
        &[],
    );
    let r = c.get_with(
        "/rpc/fn_items?min_qty=5&id=gte.501&id=lte.503&select=id,qty&order=qty.desc",
        &[("Prefer", "count=exact"), ("Range", "0-1")],
    );
    assert_status(&r, 206);
    assert_header(&r, "Content-Range", "0-1/3");
    assert_eq!(
        r.json(),
        json!([{"id": 503, "qty": 7}, {"id": 502, "qty": 6}])
    );
    // POST with the same read parameters.
    let r = c.post_json(
        "/rpc/fn_items?select=name&id=in.(501,502)&order=id",
        &json!({"min_qty": 6}),
        &[],
    );
    assert_eq!(r.json(), json!([{"name": "r2"}]));
}

#[test]
fn arguments_from_every_source() {
    let c = cluster();
    // Forms.
    let r = c.send_body(
        "POST",
        "/rpc/fn_add",
        b"a=7&b=8",
        "application/x-www-form-urlencoded",
        &[],
    );
    assert_eq!(r.text(), "15");
    // Variadic: repeated keys (GET), a JSON array (POST).
    assert_eq!(get("/rpc/fn_variadic?v=a&v=b&v=c").json(), json!("a|b|c"));
    assert_eq!(get("/rpc/fn_variadic?v=solo").json(), json!("solo"));
    assert_eq!(
        post("/rpc/fn_variadic", json!({"v": ["x", "y"]})).json(),
        json!("x|y")
    );
    // Array parameters: repeated keys, an array literal, a JSON array.
    assert_eq!(get("/rpc/fn_array?xs=1&xs=2&xs=3").text(), "6");
    assert_eq!(get("/rpc/fn_array?xs=%7B4,5%7D").text(), "9");
    assert_eq!(post("/rpc/fn_array", json!({"xs": [10, 20]})).text(), "30");
    // JSON arguments stay JSON.
    assert_eq!(
        post("/rpc/fn_json_arg", json!({"doc": {"k": [1, 2]}, "n": 3})).json(),
        json!({"k": [1, 2], "n": 3})
    );
    // A single unnamed parameter takes the body as its content type says.
    assert_eq!(
        post("/rpc/fn_raw_json", json!({"any": ["shape", 1]})).json(),
        json!({"any": ["shape", 1]})
    );
    assert_eq!(
        post("/rpc/fn_raw_jsonb", json!({"any": [1]})).json(),
        json!({"any": [1], "seen": true})
    );
    let r = c.send_body("POST", "/rpc/fn_raw_text", b"shout", "text/plain", &[]);
    assert_eq!(r.json(), json!("SHOUT"));
    let r = c.send_body("POST", "/rpc/fn_raw_xml", b"<a>inner</a>", "text/xml", &[]);
    assert_eq!(r.json(), json!("inner"));
    let r = c.send_body(
        "POST",
        "/rpc/fn_raw_bytea",
        &[0u8, 1, 254, 255],
        "application/octet-stream",
        &[],
    );
    assert_eq!(r.json(), json!("0001feff"));
    // No such raw-body function: PGRST202 names the single unnamed parameter, no hint.
    let r = c.send_body("POST", "/rpc/fn_add", b"x", "text/plain", &[]);
    let e = assert_error_message(
        &r,
        404,
        "PGRST202",
        "Could not find the function api.fn_add in the schema cache",
    );
    assert_eq!(
        e["details"],
        json!("Searched for the function api.fn_add with a single unnamed text parameter, but no matches were found in the schema cache.")
    );
    assert_eq!(e["hint"], Value::Null);
}

#[test]
fn overloads_and_missing_functions() {
    assert_eq!(get("/rpc/fn_over").json(), json!("none"));
    assert_eq!(get("/rpc/fn_over?a=1").json(), json!("a=1"));
    assert_eq!(
        post("/rpc/fn_over", json!({"a": 1, "b": 2})).json(),
        json!("a+b=3")
    );
    let r = get("/rpc/fn_amb?x=1");
    let e = assert_error_message(
        &r,
        300,
        "PGRST203",
        "Could not choose the best candidate function between: api.fn_amb(x => integer), api.fn_amb(x => text)",
    );
    assert_eq!(
        e["hint"],
        json!("Try renaming the parameters or the function itself in the database so function overloading can be resolved")
    );
    let r = get("/rpc/fn_over?a=1&zzz=2");
    let e = assert_error_message(
        &r,
        404,
        "PGRST202",
        "Could not find the function api.fn_over(a, zzz) in the schema cache",
    );
    assert_eq!(
        e["details"],
        json!("Searched for the function api.fn_over with parameters a, zzz, but no matches were found in the schema cache.")
    );
    // The closest parameter list is the hint (PostgREST asks for a score of only 0.33 here).
    assert_eq!(
        e["hint"],
        json!("Perhaps you meant to call the function api.fn_over(a, b)")
    );
    let e = assert_error(&get("/rpc/fn_add?a=1&b=2&something=3"), 404, "PGRST202");
    assert_eq!(
        e["hint"],
        json!("Perhaps you meant to call the function api.fn_add(a, b)")
    );
    let r = post("/rpc/fn_ad", json!({"a": 1, "b": 2}));
    let e = assert_error(&r, 404, "PGRST202");
    assert_eq!(
        e["details"],
        json!("Searched for the function api.fn_ad with parameters a, b or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.")
    );
    assert_eq!(
        e["hint"],
        json!("Perhaps you meant to call the function api.fn_add")
    );
    // Wrong methods.
    let r = cluster().request("PATCH", "/rpc/fn_add", &[], None);
    assert_error(&r, 405, "PGRST101");
    // OPTIONS: volatile functions are POST only.
    let r = cluster().request("OPTIONS", "/rpc/fn_add", &[], None);
    assert_header(&r, "Allow", "OPTIONS,GET,HEAD,POST");
    let r = cluster().request("OPTIONS", "/rpc/fn_log", &[], None);
    assert_header(&r, "Allow", "OPTIONS,POST");
}

#[test]
fn functions_of_every_exposed_schema() {
    let c = Cluster::shared_with("rpc_multi", &[("pgrest.db_schemas", "api, rd_other")]);
    let r = c.get("/rpc/fn_where?a=1");
    assert_eq!(r.json(), json!("api 1"));
    assert_header(&r, "Content-Profile", "api");
    let r = c.get_with("/rpc/fn_where?a=1", &[("Accept-Profile", "rd_other")]);
    assert_eq!(r.json(), json!("rd_other 1"));
    assert_header(&r, "Content-Profile", "rd_other");
    let r = c.post_json(
        "/rpc/fn_where",
        &json!({"a": 2}),
        &[("Content-Profile", "rd_other")],
    );
    assert_eq!(r.json(), json!("rd_other 2"));
    // A function the other schema does not have.
    let r = c.get_with("/rpc/fn_add?a=1&b=1", &[("Accept-Profile", "rd_other")]);
    assert_error(&r, 404, "PGRST202");
    let r = c.get_with("/rpc/fn_add?a=1&b=1", &[("Accept-Profile", "nope")]);
    assert_error(&r, 406, "PGRST106");
}

#[test]
fn transactions_follow_the_function() {
    let c = cluster();
    // GET runs read-only; so does POST of a stable function; a volatile one may write.
    assert_eq!(get("/rpc/fn_tx_info").json()["read_only"], json!("on"));
    assert_eq!(
        post("/rpc/fn_tx_info", json!({})).json()["read_only"],
        json!("on")
    );
    let r = post("/rpc/fn_log", json!({"msg": "written"}));
    assert_status(&r, 200);
    let id = r.json();
    assert!(id.is_i64());
    // A write through GET, or inside a function declared STABLE: 405 (25006), nothing kept.
    let r = get("/rpc/fn_log?msg=via-get");
    assert_error(&r, 405, "25006");
    let r = post("/rpc/fn_sneaky_write", json!({"msg": "sneaky"}));
    assert_error(&r, 405, "25006");
    assert_eq!(c.get("/wr_log?msg=in.(via-get,sneaky)").json(), json!([]));
    // The function's own SET statement_timeout / isolation apply to the transaction.
    assert_eq!(
        get("/rpc/fn_tx_hoisted").json(),
        json!({"timeout": "7s", "isolation": "serializable"})
    );
    let started = Instant::now();
    let r = post("/rpc/fn_slow_timeout", json!({}));
    assert_error(&r, 500, "57014");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Exactly once per request.
    let before = c.psql("select count(*) from api.wr_log");
    post("/rpc/fn_log", json!({"msg": "once"}));
    let after = c.psql("select count(*) from api.wr_log");
    assert_eq!(
        after.parse::<i64>().unwrap(),
        before.parse::<i64>().unwrap() + 1
    );
}

#[test]
fn prefer_tx_rollback_applies_to_calls() {
    let c = Cluster::shared_with("rpc_tx", &[("pgrest.db_tx_end", "commit-allow-override")]);
    let r = c.post_json(
        "/rpc/fn_log",
        &json!({"msg": "rolled back"}),
        &[("Prefer", "tx=rollback")],
    );
    assert_status(&r, 200);
    assert_header(&r, "Preference-Applied", "tx=rollback");
    assert_eq!(
        c.psql("select count(*) from api.wr_log where msg = 'rolled back'"),
        "0"
    );
}

#[test]
fn errors_raised_in_functions() {
    let r = get("/rpc/fn_raise_pt?code=PT402");
    let e = assert_error(&r, 402, "PT402");
    assert_eq!(e["message"], json!("raised PT402"));
    assert_eq!(e["details"], json!("some detail"));
    // The message is the reason phrase, as PostgREST sends it.
    assert_eq!(r.reason, "raised PT402");
    let r = get("/rpc/fn_raise_pt?code=PT418");
    assert_error(&r, 418, "PT418");
    assert_eq!(r.reason, "raised PT418");
    let r = get("/rpc/fn_raise_pgrst");
    assert_status(&r, 402);
    assert_eq!(r.reason, "Payment Required");
    assert_header(&r, "X-Powered-By", "Nerd Rage");
    assert_eq!(
        r.json(),
        json!({"code": "123", "message": "Payment Required", "details": "Quota exceeded", "hint": "Upgrade"})
    );
    // status_text replaces the reason phrase.
    let r = get("/rpc/fn_raise_status_text");
    assert_status(&r, 404);
    assert_eq!(r.reason, "Nothing Here");
    assert_eq!(
        r.json(),
        json!({"code": "123", "message": "ABC", "details": null, "hint": null})
    );
    let r = get("/rpc/fn_raise_bad_status");
    assert_error(&r, 500, "PGRST112");
    let r = post("/rpc/fn_set_status", json!({}));
    assert_status(&r, 202);
    assert_header(&r, "X-Job", "queued");
    // Other SQLSTATEs through the usual table.
    let r = get("/rpc/fn_add?a=x&b=1");
    assert_error(&r, 400, "22P02");
    // max-affected with handling=strict needs a set-returning function.
    let r = cluster().get_with(
        "/rpc/fn_add?a=1&b=1",
        &[("Prefer", "max-affected=1, handling=strict")],
    );
    assert_error(&r, 400, "PGRST128");
    let r = cluster().get_with(
        "/rpc/fn_series?n=3",
        &[("Prefer", "max-affected=2, handling=strict")],
    );
    assert_error(&r, 400, "PGRST124");
}

/// The requests the client libraries send for `rpc()`.
#[test]
fn client_library_calls() {
    let c = cluster();
    // postgrest-js rpc('fn_series', { n: 3 }, { count: 'exact' })
    let r = c.post_json(
        "/rpc/fn_series",
        &json!({"n": 3}),
        &[("Prefer", "count=exact")],
    );
    assert_status(&r, 200);
    assert_header(&r, "Content-Range", "0-2/3");
    // rpc(..., { head: true, count: 'exact' }): HEAD with the arguments in the query.
    let r = c.head("/rpc/fn_series?n=5", &[("Prefer", "count=exact")]);
    assert_status(&r, 200);
    assert_header(&r, "Content-Range", "0-4/5");
    // rpc(..., { get: true })
    assert_eq!(c.get("/rpc/fn_add?a=1&b=1").text(), "2");
    // The demo's function: POST /rpc/complete_all_for_user.
    let r = c.post_json(
        "/rpc/complete_all_for_user?select=id,done&order=id",
        &json!({"user_id": 1}),
        &[],
    );
    assert_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"id": 1, "done": true}, {"id": 2, "done": true}])
    );
}

#[test]
fn a_call_whose_client_left_is_cancelled() {
    // PostgREST runs it to its end; pgrest cancels the statement once the connection closes.
    let c = Cluster::shared("rpc_cancel");
    let running = "select count(*) from pg_stat_activity \
                   where query like '%fn_sleep%' and state = 'active' and pid <> pg_backend_pid()";
    assert_eq!(c.psql(running), "0");
    let mut conn = c.connect();
    conn.write_request(
        "POST",
        "/rpc/fn_sleep",
        &[("Content-Type", "application/json")],
        Some(br#"{"seconds": 60}"#),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.psql(running) != "1" {
        assert!(Instant::now() < deadline, "the call never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = Instant::now();
    drop(conn);
    while c.psql(running) != "0" {
        assert!(
            left.elapsed() < Duration::from_secs(10),
            "the call kept running after its client left"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Within the 1 s grace for half-closed clients plus a poll interval.
    assert!(
        left.elapsed() < Duration::from_secs(3),
        "{:?}",
        left.elapsed()
    );
    // The worker serves the next requests, and the cancel hit no other request.
    for _ in 0..20 {
        assert_eq!(c.get("/rpc/fn_add?a=1&b=2").text(), "3");
    }
    // A client that only shuts down its sending side still gets its answer.
    let out = c.raw_outcome(
        b"GET /rpc/fn_add?a=2&b=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(out.text().ends_with("\r\n\r\n4"), "{}", out.text());
}
