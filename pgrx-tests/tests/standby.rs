//! pgrest on a hot standby: a primary with pgrest, a `pg_basebackup -R` copy of it running
//! pgrest on another HTTP port. Reads on the standby see the primary's rows (including rows
//! written after the copy, once replayed); writes are refused with 405 and SQLSTATE 25006.

use std::thread;
use std::time::{Duration, Instant};

use pgrest_e2e::*;

#[test]
fn a_hot_standby_serves_reads_and_refuses_writes() {
    let primary = Cluster::start(
        "standby_primary",
        &[("wal_level", "replica"), ("max_wal_senders", "4")],
    );
    let standby = primary.start_standby("standby_replica", &[("hot_standby", "on")]);
    assert_eq!(standby.psql("select pg_is_in_recovery()"), "t");
    assert_ne!(standby.http_port, primary.http_port);

    // The same rows through both servers.
    let on_primary = assert_json_array(&primary.get("/todos?order=id"));
    let r = standby.get("/todos?order=id");
    let on_standby = assert_json_array(&r);
    assert_eq!(on_standby, on_primary);
    assert_eq!(ids(&on_standby), [1, 2, 3, 4]);
    assert_header(&r, "Content-Range", "0-3/*");
    assert_eq!(
        Value::Array(assert_json_array(
            &standby.get("/kitchen_sink?select=id,name&id=eq.1")
        )),
        json!([{"id": 1, "name": "alpha"}])
    );

    // Authentication and RLS work the same on the standby.
    let token = jwt(json!({"role": "web_user", "user_id": 42}));
    let r = standby.get_with("/todos?order=id", &[("Authorization", &bearer(&token))]);
    assert_eq!(ids(&assert_json_array(&r)), [3, 4]);

    // A row written on the primary shows up on the standby once replayed.
    let r = primary.post_json(
        "/todos",
        &json!({"id": 500, "task": "e2e: replicated", "user_id": 1}),
        &[],
    );
    assert_status(&r, 201);
    let deadline = Instant::now() + Duration::from_secs(20);
    while standby.psql("select count(*) from api.todos where id = 500") != "1" {
        assert!(
            Instant::now() < deadline,
            "the standby did not replay the insert"
        );
        thread::sleep(Duration::from_millis(100));
    }
    let rows = assert_json_array(&standby.get("/todos?id=eq.500&select=id,task"));
    assert_eq!(
        Value::Array(rows),
        json!([{"id": 500, "task": "e2e: replicated"}])
    );

    // Writes on the standby: 405, SQLSTATE 25006 (read-only transaction).
    let r = standby.post_json("/todos", &json!({"task": "e2e: on the standby"}), &[]);
    assert_error(&r, 405, "25006");
    let r = standby.patch_json("/todos?id=eq.1", &json!({"done": true}), &[]);
    assert_error(&r, 405, "25006");
    let r = standby.delete("/todos?id=eq.500", &[]);
    assert_error(&r, 405, "25006");
    let r = standby.post_json(
        "/todos",
        &json!({"task": "e2e: as web_user", "user_id": 42}),
        &[("Authorization", &bearer(&token))],
    );
    assert_error(&r, 405, "25006");
    assert_eq!(
        primary.psql("select count(*), sum(id) from api.todos"),
        "5|510"
    );
    assert_eq!(primary.psql("select done from api.todos where id = 1"), "f");

    // Functions: read-only calls work on the standby (GET, and POST of a stable function);
    // a volatile one that writes gets PostgreSQL's 25006 as 405.
    let r = standby.get("/rpc/fn_add?a=2&b=3");
    assert_status(&r, 200);
    assert_eq!(r.text(), "5");
    let r = standby.post_json("/rpc/fn_greet", &json!({"name": "standby"}), &[]);
    assert_eq!(r.json(), json!("Hello, standby"));
    let r = standby.post_json("/rpc/complete_all_for_user", &json!({"user_id": 1}), &[]);
    assert_error(&r, 405, "25006");

    // Reads still work after the refused writes, on both.
    assert_eq!(
        ids(&assert_json_array(
            &standby.get("/todos?order=id&select=id")
        )),
        [1, 2, 3, 4, 500]
    );
    assert_eq!(
        ids(&assert_json_array(
            &primary.get("/todos?order=id&select=id")
        )),
        [1, 2, 3, 4, 500]
    );

    // DDL on the primary reaches the standby's schema cache once replayed (no event trigger
    // runs on a standby: the replayed catalog invalidations do it).
    // One transaction, so the table and its row become visible on the standby together.
    primary.psql(
        "begin; \
         create table api.born_on_primary (id int primary key, note text); \
         grant select on api.born_on_primary to web_anon; \
         insert into api.born_on_primary values (1, 'hello'); \
         commit",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = standby.get("/born_on_primary");
        if r.status == 200 {
            assert_eq!(
                Value::Array(assert_json_array(&r)),
                json!([{"id": 1, "note": "hello"}])
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the standby never saw the new table: {}",
            r.describe()
        );
        thread::sleep(Duration::from_millis(100));
    }
    primary.psql("alter table api.born_on_primary add column extra int default 7");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = standby.get("/born_on_primary?select=extra");
        if r.status == 200 {
            assert_eq!(Value::Array(assert_json_array(&r)), json!([{"extra": 7}]));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the standby never saw the new column: {}",
            r.describe()
        );
        thread::sleep(Duration::from_millis(100));
    }
    // `standby` drops (and stops) before `primary`.
}
