//! The API from SQL: `pgrest.request(method, path, headers, body)` runs a request through
//! the workers' pipeline in the calling session, inside a subtransaction of its
//! transaction; `pgrest.sql(method, path, headers, body)` shows the statement without
//! running it. Only roles the session user may become.
//!
//! Cluster `sql_api` (demo + fixtures). Todos 1–4: 1 and 2 belong to user 1, 3 and 4 to
//! user 42 (sql/demo.sql).

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("sql_api")
}

#[track_caller]
fn psql_lines(sql: &str) -> Vec<String> {
    cluster().psql(sql).lines().map(str::to_string).collect()
}

#[test]
fn a_read_answers_status_headers_and_body() {
    let out = psql_lines(
        "select status, headers->>'Content-Type', headers->>'Content-Range', body::jsonb \
         from pgrest.request('GET', '/todos?select=id&id=lte.2&order=id')",
    );
    assert_eq!(
        out,
        ["200|application/json; charset=utf-8|0-1/*|[{\"id\": 1}, {\"id\": 2}]"]
    );
    // Methods are case-insensitive, HEAD has no body, OPTIONS answers without a statement.
    let out = psql_lines(
        "select status, body is null from pgrest.request('head', '/todos?id=eq.1'); \
         select status, headers->>'Allow' from pgrest.request('OPTIONS', '/todos')",
    );
    assert_eq!(out[0], "200|t");
    assert!(out[1].starts_with("200|OPTIONS,GET,HEAD"), "{out:?}");
    // Errors are PostgREST's answers, not SQL errors.
    let out = psql_lines(
        "select status, body::jsonb->>'code' from pgrest.request('GET', '/no_such_table')",
    );
    assert_eq!(out, ["404|PGRST205"]);
}

#[test]
fn a_request_is_a_subtransaction_of_the_callers_transaction() {
    let out = psql_lines(
        "begin; \
         select status from pgrest.request('POST', '/todos', \
           '{\"Content-Type\": \"application/json\", \"Prefer\": \"return=minimal\"}', \
           '{\"task\": \"sql-api rolled back\"}'); \
         select count(*) from api.todos where task = 'sql-api rolled back'; \
         rollback; \
         select count(*) from api.todos where task = 'sql-api rolled back';",
    );
    assert_eq!(out, ["201", "1", "0"]);
    // A failing request rolls back its own subtransaction only: the caller goes on, and
    // the second request sees the first one's row.
    let out = psql_lines(
        "begin; \
         select status, body::jsonb->>'code' from pgrest.request('POST', '/todos', \
           '{\"Content-Type\": \"application/json\"}', '{\"id\": 1, \"task\": \"dup\"}'); \
         select status from pgrest.request('POST', '/todos', \
           '{\"Content-Type\": \"application/json\"}', '{\"id\": 9101, \"task\": \"sql-api kept\"}'); \
         select body from pgrest.request('GET', '/todos?select=task&id=eq.9101'); \
         commit; \
         select count(*) from api.todos where id = 9101; \
         delete from api.todos where id = 9101;",
    );
    assert_eq!(
        out,
        ["409|23505", "201", "[{\"task\":\"sql-api kept\"}]", "1"]
    );
}

#[test]
fn the_requests_settings_end_with_the_call() {
    let before = cluster().psql(
        "select current_user, current_setting('search_path'), \
         coalesce(current_setting('request.method', true), '-'), \
         current_setting('transaction_read_only')",
    );
    let out = psql_lines(
        "begin; \
         select status from pgrest.request('GET', '/todos?select=id&limit=1'); \
         select current_user, current_setting('search_path'), \
           coalesce(nullif(current_setting('request.method', true), ''), '-'), \
           current_setting('transaction_read_only'); \
         insert into api.todos (id, task) values (9102, 'still writable'); \
         rollback;",
    );
    assert_eq!(out, ["200", before.as_str()]);
}

#[test]
fn tokens_and_roles_follow_the_http_rules() {
    let token = jwt(json!({"role": "web_user", "user_id": 1}));
    let out = psql_lines(&format!(
        "select status, body::jsonb from pgrest.request('GET', '/todos?select=id&order=id', \
           jsonb_build_object('Authorization', 'Bearer {token}'))"
    ));
    assert_eq!(out, ["200|[{\"id\": 1}, {\"id\": 2}]"]);
    let out = psql_lines(
        "select status, body::jsonb->>'code' from pgrest.request('GET', '/todos', \
           '{\"Authorization\": \"Bearer not.a.token\"}')",
    );
    assert_eq!(out, ["401|PGRST301"]);
    // A GET runs read-only, as over HTTP.
    let out = psql_lines(
        "select status, body::jsonb->>'code' from pgrest.request('GET', '/rpc/fn_log?msg=sql-api')",
    );
    assert_eq!(out, ["405|25006"]);
}

#[test]
fn only_roles_the_session_user_may_become() {
    let c = cluster();
    c.psql(
        "do $$ begin \
           if not exists (select from pg_roles where rolname = 'sqlapi_nobody') then \
             create role sqlapi_nobody login; \
           end if; end $$; \
         grant usage on schema pgrest to sqlapi_nobody, authenticator;",
    );
    // The authenticator may become web_anon (the anonymous role): served.
    let out = c.psql(
        "set session authorization authenticator; \
         select status from pgrest.request('GET', '/todos?select=id&id=eq.1');",
    );
    assert_eq!(out.lines().last(), Some("200"), "{out}");
    // A role that may not: an SQL error, not an HTTP answer.
    let err = c
        .try_psql(
            "set session authorization sqlapi_nobody; \
             select status from pgrest.request('GET', '/todos');",
        )
        .unwrap_err();
    assert!(
        err.contains("permission denied to run a request as role \"web_anon\""),
        "{err}"
    );
    let token = jwt(json!({"role": "web_user", "user_id": 1}));
    let err = c
        .try_psql(&format!(
            "set session authorization sqlapi_nobody; \
             select * from pgrest.sql('GET', '/todos', \
               jsonb_build_object('Authorization', 'Bearer {token}'));"
        ))
        .unwrap_err();
    assert!(
        err.contains("permission denied to run a request as role \"web_user\""),
        "{err}"
    );
}

#[test]
fn the_sessions_own_schema_changes_are_seen_and_undone() {
    let out = psql_lines(
        "begin; \
         create table api.sqlapi_tmp (id int primary key, v text); \
         insert into api.sqlapi_tmp values (1, 'a'); \
         grant select on api.sqlapi_tmp to web_anon; \
         select status, body from pgrest.request('GET', '/sqlapi_tmp'); \
         rollback; \
         select status from pgrest.request('GET', '/sqlapi_tmp');",
    );
    assert_eq!(out, ["200|[{\"id\":1,\"v\":\"a\"}]", "404"]);
}

#[test]
fn sql_shows_the_statement_and_its_parameters() {
    let out = psql_lines(
        "select statement like '%FROM \"api\".\"todos\"%', statement like '%= $1%', params \
         from pgrest.sql('GET', '/todos?select=id&id=eq.7')",
    );
    assert_eq!(out, ["t|t|{7}"]);
    let out = psql_lines(
        "select params from pgrest.sql('POST', '/todos', \
           '{\"Content-Type\": \"application/json\"}', '{\"task\": \"x\"}')",
    );
    // The body as one JSON array, the way every insert reads it.
    assert_eq!(out, ["{\"[{\\\"task\\\": \\\"x\\\"}]\"}"]);
    // Nothing ran.
    assert_eq!(
        cluster().psql("select count(*) from api.todos where task = 'x'"),
        "0"
    );
    assert_eq!(
        cluster().psql("select count(*) from pgrest.sql('OPTIONS', '/todos')"),
        "0"
    );
    let err = cluster()
        .try_psql("select * from pgrest.sql('GET', '/no_such_table')")
        .unwrap_err();
    assert!(err.contains("refused with 404"), "{err}");
}

#[test]
fn an_installation_of_0_1_0_updates_in_place() {
    // What a server that ran pgrest 0.1.0 has: the extension without the SQL API. The new
    // library with `ALTER EXTENSION pgrest UPDATE` brings it.
    let c = Cluster::start_with(
        "sql_api_update",
        &[],
        Options {
            preload: true,
            load_sql: false,
            wait_http: false,
        },
    );
    let out = c.psql(
        "create extension pgrest; \
         alter extension pgrest drop function pgrest.request(text, text, jsonb, text); \
         alter extension pgrest drop function pgrest.sql(text, text, jsonb, text); \
         drop function pgrest.request(text, text, jsonb, text), pgrest.sql(text, text, jsonb, text); \
         update pg_extension set extversion = '0.1.0' where extname = 'pgrest'; \
         alter extension pgrest update; \
         select extversion from pg_extension where extname = 'pgrest'; \
         select count(*) from pg_depend d join pg_proc p on p.oid = d.objid \
           where d.refobjid = (select oid from pg_extension where extname = 'pgrest') \
             and p.proname in ('request', 'sql'); \
         select status between 200 and 599 from pgrest.request('GET', '/nothing_here');",
    );
    assert_eq!(out, "0.2.0\n2\nt");
}
