//! Error responses: PostgREST's codes (PGRST1xx/2xx), PostgreSQL SQLSTATEs mapped to HTTP
//! statuses, the `{"code","message","details","hint"}` body and its headers.
//!
//! Nothing here changes data: every write is one that fails.

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("errors")
}

#[test]
fn unknown_table_is_404_pgrst205() {
    let c = cluster();
    let r = c.get("/nope");
    assert_plain_error(
        &r,
        404,
        "PGRST205",
        "Could not find the table 'api.nope' in the schema cache",
    );
    // Every method on an unknown table.
    for method in ["HEAD", "POST", "PATCH", "DELETE"] {
        let body: Option<&[u8]> = if method == "POST" || method == "PATCH" {
            Some(b"{}")
        } else {
            None
        };
        let r = c.request(
            method,
            "/nope",
            &[("Content-Type", "application/json")],
            body,
        );
        assert_status(&r, 404);
        if method != "HEAD" {
            assert_error(&r, 404, "PGRST205");
        }
    }
    // A table of another schema is not exposed.
    let r = c.get("/pg_class");
    assert_error_message(
        &r,
        404,
        "PGRST205",
        "Could not find the table 'api.pg_class' in the schema cache",
    );
}

#[test]
fn unknown_column_is_400_42703() {
    let c = cluster();
    for path in [
        "/todos?select=id,nope",
        "/todos?nope=eq.1",
        "/todos?order=nope",
        "/todos?select=id&nope=is.null",
    ] {
        let r = c.get(path);
        let body = assert_error(&r, 400, "42703");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("nope") && message.contains("does not exist"),
            "GET {path}: {}",
            r.describe()
        );
    }
}

#[test]
fn grammar_errors_are_400_pgrst100() {
    let c = cluster();
    for path in [
        "/todos?select=id,(",
        "/todos?order=",
        "/todos?order=id.sideways",
        "/todos?id=zz.1",
        "/todos?id=eq",
        "/todos?or=(id.eq.1",
        "/todos?or=()",
        "/todos?and=(id.eq.1,,)",
        "/todos?id=is.maybe",
    ] {
        let r = c.get(path);
        let body = assert_error(&r, 400, "PGRST100");
        assert!(
            !body["message"].as_str().unwrap().is_empty() && body["details"].is_string(),
            "GET {path}: {}",
            r.describe()
        );
        assert_eq!(body["hint"], Value::Null, "GET {path}");
    }
}

#[test]
fn invalid_json_bodies_are_400_pgrst102() {
    let c = cluster();
    for body in [
        &b"{"[..],
        b"{\"task\": }",
        b"[1, 2",
        b"nul",
        b"{\"task\": \"x\"} trailing",
        b"\xff\xfe",
        b"",
    ] {
        let r = c.send_body("POST", "/todos", body, "application/json", &[]);
        assert_plain_error(&r, 400, "PGRST102", "Empty or invalid json");
    }
    let r = c.send_body("PATCH", "/todos?id=eq.1", b"{oops", "application/json", &[]);
    assert_plain_error(&r, 400, "PGRST102", "Empty or invalid json");
    // Objects of a bulk insert must all have the same keys.
    let r = c.post_json(
        "/todos",
        &json!([{"task": "a"}, {"task": "b", "done": true}]),
        &[],
    );
    assert_plain_error(&r, 400, "PGRST102", "All object keys must match");
    // A missing Content-Type is JSON.
    let r = c.request("POST", "/todos", &[], Some(b"{not json"));
    assert_plain_error(&r, 400, "PGRST102", "Empty or invalid json");
    assert_eq!(c.psql("select count(*) from api.todos"), "4");
}

#[test]
fn not_null_violation_is_400_23502() {
    let r = cluster().post_json("/todos", &json!({"done": true}), &[]);
    let body = assert_error(&r, 400, "23502");
    assert_eq!(
        body["message"],
        "null value in column \"task\" of relation \"todos\" violates not-null constraint"
    );
    // api.todos has row-level security, so PostgreSQL leaves the failing row out of the detail.
    assert_eq!(body["details"], Value::Null, "{}", r.describe());
    assert_eq!(body["hint"], Value::Null);
    // Without row-level security (api.users) the detail shows the row.
    let r = cluster().post_json("/users", &json!({"id": 77}), &[]);
    let body = assert_error(&r, 400, "23502");
    assert_eq!(body["details"], "Failing row contains (77, null).");
}

#[test]
fn foreign_key_violation_is_409_23503() {
    let r = cluster().post_json(
        "/todos",
        &json!({"task": "e2e: orphan", "user_id": 999}),
        &[],
    );
    let body = assert_error(&r, 409, "23503");
    assert_eq!(
        body["message"],
        "insert or update on table \"todos\" violates foreign key constraint \"todos_user_id_fkey\""
    );
    // Row-level security on api.todos: PostgreSQL does not reveal the key values.
    assert_eq!(body["details"], "Key is not present in table \"users\".");
    assert_eq!(body["hint"], Value::Null);
    // Deleting a referenced user is the other side of the same constraint.
    let r = cluster().delete("/users?id=eq.1", &[]);
    let body = assert_error(&r, 409, "23503");
    assert_eq!(
        body["message"],
        "update or delete on table \"users\" violates foreign key constraint \"todos_user_id_fkey\" on table \"todos\""
    );
    assert_eq!(cluster().psql("select count(*) from api.users"), "2");
}

#[test]
fn unique_violation_is_409_23505() {
    let r = cluster().post_json("/todos", &json!({"id": 1, "task": "e2e: duplicate"}), &[]);
    let body = assert_error(&r, 409, "23505");
    assert_eq!(
        body["message"],
        "duplicate key value violates unique constraint \"todos_pkey\""
    );
    // Row-level security on api.todos hides the key; api.users has none and shows it.
    assert_eq!(body["details"], Value::Null);
    assert_eq!(body["hint"], Value::Null);
    let r = cluster().patch_json("/users?id=eq.42", &json!({"id": 1}), &[]);
    let body = assert_error(&r, 409, "23505");
    assert_eq!(
        body["message"],
        "duplicate key value violates unique constraint \"users_pkey\""
    );
    assert_eq!(body["details"], "Key (id)=(1) already exists.");
}

#[test]
fn invalid_input_for_a_column_type_is_400() {
    let c = cluster();
    let r = c.get("/todos?id=eq.abc");
    let body = assert_error(&r, 400, "22P02");
    assert_eq!(
        body["message"],
        "invalid input syntax for type integer: \"abc\""
    );
    let r = c.post_json(
        "/todos",
        &json!({"task": "e2e: bad due", "due": "not a date"}),
        &[],
    );
    assert_error(&r, 400, "22007");
}

#[test]
fn permission_denied_for_the_anonymous_role_is_401() {
    let c = cluster();
    let r = c.get("/secrets");
    assert_plain_error(&r, 401, "42501", "permission denied for table secrets");
    assert_header(&r, "WWW-Authenticate", "Bearer");
    for (method, body) in [
        ("POST", Some(&b"{\"id\": 9, \"secret\": \"x\"}"[..])),
        ("PATCH", Some(b"{\"secret\": \"x\"}")),
        ("DELETE", None),
    ] {
        let r = c.request(
            method,
            "/secrets?id=eq.1",
            &[("Content-Type", "application/json")],
            body,
        );
        assert_error_message(&r, 401, "42501", "permission denied for table secrets");
        assert_header(&r, "WWW-Authenticate", "Bearer");
    }
    // A column web_anon may not read: `*` fails, the readable columns work.
    let r = c.get("/accounts");
    assert_error_message(&r, 401, "42501", "permission denied for table accounts");
    assert_header(&r, "WWW-Authenticate", "Bearer");
    let r = c.get("/accounts?select=id,username&order=id");
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"id": 1, "username": "alice"}, {"id": 2, "username": "bob"}])
    );
    assert_eq!(c.psql("select count(*) from api.secrets"), "1");
}

#[test]
fn error_bodies_have_the_postgrest_shape() {
    let c = cluster();
    let r = c.get("/nope");
    assert_header(&r, "Content-Type", JSON_CT);
    // Exactly four keys, nulls spelled out.
    let body = r.json();
    assert_eq!(keys(&body), ["code", "details", "hint", "message"]);
    assert_eq!(body["details"], Value::Null);
    assert_eq!(body["hint"], Value::Null);
    // Content-Length matches the body (no chunking surprises for clients that need it).
    if let Some(len) = r.header("Content-Length") {
        assert_eq!(len.parse::<usize>().unwrap(), r.body.len());
    }
    // Details and hint from PostgreSQL come through as strings.
    let r = c.post_json("/users", &json!({"id": 1, "name": "x"}), &[]);
    let body = assert_error(&r, 409, "23505");
    assert!(body["details"].is_string(), "{}", r.describe());
}

#[test]
fn unsupported_methods_are_405_pgrst117() {
    let c = cluster();
    for method in ["FOO", "TRACE", "PROPFIND", "get"] {
        let r = c.request(method, "/todos", &[], None);
        assert_plain_error(
            &r,
            405,
            "PGRST117",
            &format!("Unsupported HTTP method: {method}"),
        );
    }
}

#[test]
fn nested_paths_are_404_pgrst125() {
    let c = cluster();
    for path in ["/a/b", "/todos/1", "/todos/", "/api/todos"] {
        let r = c.get(path);
        assert_plain_error(&r, 404, "PGRST125", "Invalid path specified in request URL");
    }
}

#[test]
fn a_body_over_the_size_limit_is_413() {
    let c = Cluster::start(
        "errors_body_limit",
        &[("pgrest.server_max_body_size", "1kB")],
    );
    let small = json!({"task": "e2e: small enough", "user_id": 1});
    assert_status(&c.post_json("/todos", &small, &[]), 201);
    let big = json!({"task": "x".repeat(4096), "user_id": 1});
    let r = c.post_json("/todos", &big, &[]);
    assert_status(&r, 413);
    let r = c.send_body(
        "PATCH",
        "/todos?id=eq.1",
        &vec![b' '; 8192],
        "application/json",
        &[],
    );
    assert_status(&r, 413);
    assert_eq!(
        c.psql("select count(*) from api.todos where length(task) > 1000"),
        "0"
    );
    // The server is fine afterwards.
    assert_json_array(&c.get("/todos"));
}

#[test]
fn minimal_verbosity_keeps_code_and_message() {
    // PostgREST 16's client-error-verbosity = minimal.
    let c = Cluster::shared_with(
        "errors_minimal",
        &[("pgrest.client_error_verbosity", "minimal")],
    );
    let r = c.get("/todo");
    assert_status(&r, 404);
    assert_header(&r, "Proxy-Status", "PostgREST; error=PGRST205");
    assert_eq!(
        r.json(),
        json!({"code": "PGRST205", "message": "Could not find the table 'api.todo' in the schema cache"})
    );
    let r = c.get("/todos?id=eq.x");
    assert_eq!(keys(&r.json()), ["code", "message"], "{}", r.describe());
    // Successes are untouched.
    assert_status(&c.get("/todos?id=eq.1"), 200);
}
