//! The life of the workers around requests: statement timeouts, schema-cache invalidation by
//! DDL, configuration reloads (SIGHUP), terminated and cancelled workers, and
//! misconfigurations that must be logged without stopping PostgreSQL.

use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use pgrest_e2e::harness::tail;
use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("lifecycle")
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_role_statement_timeout_cancels_the_request_and_the_worker_lives_on() {
    let c = cluster();
    let pids = c.worker_pids();
    let token = jwt(json!({"role": "web_slow"}));
    let started = Instant::now();
    let r = c.get_with("/slow", &[("Authorization", &bearer(&token))]);
    assert_error_message(
        &r,
        500,
        "57014",
        "canceling statement due to statement timeout",
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the timeout did not fire: {:?}",
        started.elapsed()
    );
    // The same role is fine for fast statements, and nothing restarted.
    let r = c.get_with(
        "/users?select=id&order=id",
        &[("Authorization", &bearer(&token))],
    );
    assert_eq!(ids(&assert_json_array(&r)), [1, 42]);
    assert_eq!(c.worker_pids(), pids);
}

#[test]
fn ddl_is_visible_to_the_next_request() {
    let c = cluster();
    assert_error(&c.get("/made_by_ddl"), 404, "PGRST205");
    c.psql(
        "create table api.made_by_ddl (id int primary key, label text); \
         grant all on api.made_by_ddl to web_anon; \
         insert into api.made_by_ddl values (1, 'one')",
    );
    let r = c.get("/made_by_ddl");
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"id": 1, "label": "one"}])
    );
    // The new column is in the cache too: POST may write it.
    c.psql("alter table api.made_by_ddl add column extra int");
    let r = c.post_json("/made_by_ddl", &json!({"id": 2, "extra": 5}), &[]);
    assert_status(&r, 201);
    c.psql("drop table api.made_by_ddl");
    assert_error(&c.get("/made_by_ddl"), 404, "PGRST205");
}

#[test]
fn temporary_tables_do_not_reload_the_cache_but_reload_does() {
    let c = cluster();
    // A change the event triggers do not see (a comment is not a relation change, but
    // reload() must work whatever the reason).
    c.psql("select pgrest.reload()");
    assert_status(&c.get("/todos?limit=1"), 200);
    // DDL on temporary objects leaves the workers alone (and must not break anything).
    c.psql("create temp table scratch_tmp (id int); drop table scratch_tmp");
    assert_status(&c.get("/todos?limit=1"), 200);
}

#[test]
fn reloading_the_configuration_applies_new_settings() {
    let c = Cluster::start("lifecycle_reload", &[]);
    assert_eq!(assert_json_array(&c.get("/todos")).len(), 4);
    c.set_conf("pgrest.db_max_rows", "2");
    c.reload();
    wait_until("db_max_rows to apply", Duration::from_secs(10), || {
        c.get("/todos").header("Content-Range") == Some("0-1/*")
    });
    // Anonymous access can be switched off without a restart.
    c.set_conf("pgrest.db_anon_role", "");
    c.reload();
    wait_until(
        "anonymous access to be refused",
        Duration::from_secs(10),
        || c.get("/todos").status == 401,
    );
    let r = c.get("/todos");
    assert_plain_error(&r, 401, "PGRST302", "Anonymous access is disabled");
}

#[test]
fn a_terminated_worker_is_restarted_without_a_crash_cycle() {
    let c = Cluster::start("lifecycle_terminate", &[]);
    let pids = c.worker_pids();
    let checkpointer = c.checkpointer_pid();
    let victim = pids[0];
    c.psql(&format!("select pg_terminate_backend({victim})"));
    wait_until("the worker to come back", Duration::from_secs(15), || {
        let now = c.worker_pids();
        now.len() == pids.len() && !now.contains(&victim)
    });
    for _ in 0..20 {
        assert_status(&c.get("/todos?limit=1"), 200);
    }
    assert_eq!(
        c.checkpointer_pid(),
        checkpointer,
        "PostgreSQL went through crash recovery"
    );
    assert!(
        !c.log().contains("terminated by signal"),
        "{}",
        tail(&c.log(), 40)
    );
}

#[test]
fn cancelling_an_idle_worker_is_harmless() {
    // Its own cluster: a cancel that lands on a request in progress cancels that request.
    let c = Cluster::start("lifecycle_cancel", &[]);
    let pids = c.worker_pids();
    for pid in &pids {
        c.psql(&format!("select pg_cancel_backend({pid})"));
    }
    thread::sleep(Duration::from_millis(200));
    for _ in 0..10 {
        assert_status(&c.get("/todos?limit=1"), 200);
    }
    assert_eq!(c.worker_pids(), pids);
}

#[test]
fn a_superuser_authenticator_is_refused() {
    let c = Cluster::start_with(
        "lifecycle_superuser",
        &[("pgrest.authenticator", "postgres")],
        Options {
            preload: true,
            load_sql: true,
            wait_http: false,
        },
    );
    wait_until("pgrest to answer", Duration::from_secs(30), || {
        c.try_request("GET", "/todos", &[], None).is_ok()
    });
    let r = c.get("/todos");
    assert_error(&r, 503, "08004");
    assert!(
        c.log().contains("refusing to serve"),
        "{}",
        tail(&c.log(), 20)
    );
}

#[test]
fn an_unknown_database_is_logged_and_postgres_keeps_running() {
    let c = Cluster::start_with(
        "lifecycle_nodb",
        &[("pgrest.database", "no_such_db")],
        Options {
            preload: true,
            load_sql: true,
            wait_http: false,
        },
    );
    wait_until("the failure to be logged", Duration::from_secs(15), || {
        c.log().contains("database \"no_such_db\" does not exist")
    });
    assert_eq!(c.psql("select 1"), "1");
    // The workers retry calmly instead of failing every second.
    thread::sleep(Duration::from_secs(2));
    assert!(c.log().contains("retrying in"), "{}", tail(&c.log(), 20));
}

#[test]
fn a_port_in_use_is_logged_and_postgres_keeps_running() {
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port().to_string();
    let c = Cluster::start_with(
        "lifecycle_port",
        &[("pgrest.server_port", &port)],
        Options {
            preload: true,
            load_sql: true,
            wait_http: false,
        },
    );
    assert_eq!(c.psql("select 1"), "1");
    let log = c.log();
    assert!(
        log.contains(&format!("could not listen on 127.0.0.1:{port}")),
        "{}",
        tail(&log, 20)
    );
    assert!(c.worker_pids().is_empty());
    drop(squatter);
}

#[test]
fn the_database_statement_timeout_applies_to_requests() {
    // A database-level setting reaches the workers when they connect.
    let c = Cluster::start("lifecycle_db_timeout", &[]);
    c.psql("alter database postgres set statement_timeout = '200ms'");
    let old = c.worker_pids();
    for pid in &old {
        c.psql(&format!("select pg_terminate_backend({pid})"));
    }
    wait_until("the workers to come back", Duration::from_secs(15), || {
        let now = c.worker_pids();
        now.len() == old.len() && now.iter().all(|p| !old.contains(p))
    });
    wait_until("pgrest to answer", Duration::from_secs(15), || {
        c.try_request("GET", "/todos?limit=1", &[], None)
            .is_ok_and(|r| r.status == 200)
    });
    let r = c.get("/slow");
    assert_error_message(
        &r,
        500,
        "57014",
        "canceling statement due to statement timeout",
    );
    assert_status(&c.get("/todos?limit=1"), 200);
}

#[test]
fn the_jwt_secret_is_hidden_from_non_superusers() {
    let c = cluster();
    assert_eq!(
        c.psql("show pgrest.jwt_secret"),
        "reallyreallyreallyreallyverysafe-pgrest-e2e"
    );
    let err = c
        .try_psql("set role web_anon; show pgrest.jwt_secret")
        .unwrap_err();
    assert!(
        err.contains("permission denied") || err.contains("must be superuser"),
        "{err}"
    );
    assert_eq!(
        c.psql(
            "set role web_anon; select count(*) from pg_settings where name = 'pgrest.jwt_secret'"
        ),
        "0"
    );
}
