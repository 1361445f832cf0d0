//! A schema cache that is never stale: every committed change to the catalog is seen by
//! the very next request, with no NOTIFY and no polling, and a storm of DDL while requests
//! run never surfaces as an error a fresh cache would not give.
//!
//! Cluster `freshness` (defaults, two workers). Objects are created by the tests
//! themselves, named sf_*; each test uses its own.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("freshness")
}

#[test]
fn renames_comments_grants_functions_and_keys_reach_the_next_request() {
    let c = cluster();
    c.psql(
        "drop table if exists api.sf_b, api.sf_a, api.sf_a2 cascade; \
         drop function if exists api.sf_fn(int); \
         create table api.sf_a (id int primary key, name text); \
         create table api.sf_b (id int primary key, a_id int); \
         insert into api.sf_a values (1, 'one'); insert into api.sf_b values (10, 1); \
         grant select on api.sf_a, api.sf_b to web_anon",
    );
    // No relationship yet.
    assert_error(&c.get("/sf_b?select=id,sf_a(name)"), 400, "PGRST200");
    // A foreign key added: the embed works on the next request.
    c.psql("alter table api.sf_b add constraint sf_b_a foreign key (a_id) references api.sf_a");
    let r = c.get("/sf_b?select=id,sf_a(name)");
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"id": 10, "sf_a": {"name": "one"}}])
    );
    // Renamed: the old name is gone, the new one embeds.
    c.psql("alter table api.sf_a rename to sf_a2");
    assert_error(&c.get("/sf_a"), 404, "PGRST205");
    let r = c.get("/sf_b?select=id,sf_a2(name)");
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"id": 10, "sf_a2": {"name": "one"}}])
    );
    // A renamed key column: the join follows it.
    c.psql("alter table api.sf_b rename column a_id to parent");
    let r = c.get("/sf_b?select=id,sf_a2!parent(name)");
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"id": 10, "sf_a2": {"name": "one"}}])
    );
    // The key dropped: no relationship again.
    c.psql("alter table api.sf_b drop constraint sf_b_a");
    assert_error(&c.get("/sf_b?select=id,sf_a2(name)"), 400, "PGRST200");

    // COMMENT ON and GRANT change the OpenAPI document.
    c.psql("comment on table api.sf_a2 is 'Fresh comment'");
    let doc = c.get("/").json();
    assert_eq!(doc["definitions"]["sf_a2"]["description"], "Fresh comment");
    assert!(doc["paths"]["/sf_b"].is_object());
    c.psql("revoke select on api.sf_b from web_anon");
    assert!(c.get("/").json()["paths"]["/sf_b"].is_null());

    // CREATE FUNCTION: listed at once.
    c.psql("create function api.sf_fn(x int) returns int language sql stable as 'select x'");
    assert!(c.get("/").json()["paths"]["/rpc/sf_fn"].is_object());
    c.psql("drop function api.sf_fn(int)");
    assert!(c.get("/").json()["paths"]["/rpc/sf_fn"].is_null());
    c.psql("drop table api.sf_b, api.sf_a2");
}

#[test]
fn idle_workers_reload_as_soon_as_ddl_commits() {
    let c = cluster();
    let pool = || -> Value { serde_json::from_str(&c.psql("select pgrest.pool()")).unwrap() };
    let before = pool()["schema_generation"].as_u64().unwrap();
    c.psql("create table if not exists api.sf_idle (id int); drop table api.sf_idle");
    // No request is sent: every worker loads the new schema by itself.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let p = pool();
        let current = &p["schema_generation"];
        assert!(current.as_u64().unwrap() > before, "{p}");
        let loaded = p["cache_generations"].as_array().unwrap();
        if loaded.len() == 2 && loaded.iter().all(|g| g == current) {
            break;
        }
        assert!(Instant::now() < until, "the workers did not reload: {p}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// DDL that drops a foreign key locks the referencing table, then the referenced one; a
/// request embedding the two locks them the other way round. When PostgreSQL picks the
/// request as the deadlock victim, pgrest runs it again (its transaction was rolled back)
/// instead of answering PostgREST's 500.
#[test]
fn a_deadlock_victim_is_run_again() {
    let c = cluster();
    c.psql(
        "drop table if exists api.sf_dl_b, api.sf_dl_a; \
         create table api.sf_dl_a (id int primary key); \
         create table api.sf_dl_b (id int primary key, a_id int references api.sf_dl_a); \
         insert into api.sf_dl_a values (1); insert into api.sf_dl_b values (10, 1); \
         grant select on api.sf_dl_a, api.sf_dl_b to web_anon",
    );
    // Holds sf_dl_b, then (1 s later, with the request waiting for sf_dl_b while holding
    // sf_dl_a) asks for sf_dl_a. Its own deadlock check comes late, so the request's finds
    // the cycle and the request is the victim.
    let locker = std::thread::spawn(|| {
        cluster().psql(
            "begin; set local deadlock_timeout = '10s'; \
             lock table api.sf_dl_b in access exclusive mode; select pg_sleep(1); \
             lock table api.sf_dl_a in access exclusive mode; commit;",
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    let r = c.get("/sf_dl_a?select=id,sf_dl_b(id)");
    locker.join().unwrap();
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"id": 1, "sf_dl_b": [{"id": 10}]}])
    );
    c.psql("drop table api.sf_dl_b, api.sf_dl_a");
}

#[test]
fn notify_pgrst_still_reloads() {
    let c = cluster();
    c.psql("NOTIFY pgrst, 'reload schema'");
    assert_status(&c.get("/todos?select=id,users(name)&limit=1"), 200);
}

/// 100 DDL statements a second for 10 s (foreign keys added, key columns renamed back and
/// forth, keys dropped, tables created and dropped) while clients embed through the
/// changing relationship: every answer is the relationship as it is (200) or its absence
/// (PGRST200), never a 5xx and never an error of a schema that is gone (42703, 42P01).
#[test]
fn a_ddl_storm_never_shows_a_stale_schema() {
    let c = cluster();
    c.psql(
        "drop table if exists api.sf_child, api.sf_parent cascade; \
         create table api.sf_parent (id int primary key, name text); \
         create table api.sf_child (id int primary key, parent_id int); \
         insert into api.sf_parent values (1, 'p1'), (2, 'p2'); \
         insert into api.sf_child values (10, 1), (11, 1), (20, 2); \
         grant select on api.sf_parent, api.sf_child to web_anon",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let ddl_count = Arc::new(AtomicUsize::new(0));
    let ddl = {
        let stop = stop.clone();
        let ddl_count = ddl_count.clone();
        std::thread::spawn(move || {
            let c = cluster();
            let steps = [
                "alter table api.sf_child add constraint sf_child_parent foreign key (parent_id) references api.sf_parent",
                "alter table api.sf_child rename column parent_id to parent_ref",
                "create table api.sf_churn (id int)",
                "alter table api.sf_child rename column parent_ref to parent_id",
                "drop table api.sf_churn",
                "alter table api.sf_child drop constraint sf_child_parent",
                "comment on table api.sf_parent is 'storm'",
                "alter table api.sf_child alter column id set default 0",
            ];
            let started = Instant::now();
            let mut i = 0usize;
            while started.elapsed() < Duration::from_secs(10) {
                // One psql per batch of 10 statements (psql start-up would cap the rate).
                // PostgreSQL may pick the DDL as the deadlock victim rather than a request:
                // each statement runs again then, so the storm keeps its sequence.
                let batch: Vec<String> = (0..10)
                    .map(|k| {
                        format!(
                            "DO $storm$ BEGIN FOR attempt IN 1..50 LOOP BEGIN {}; EXIT; \
                             EXCEPTION WHEN deadlock_detected THEN PERFORM pg_sleep(0.005); \
                             END; END LOOP; END $storm$",
                            steps[(i + k) % steps.len()]
                        )
                    })
                    .collect();
                c.psql(&batch.join(";\n"));
                i += 10;
                ddl_count.fetch_add(10, Ordering::SeqCst);
                // ~100 statements a second.
                let due = Duration::from_millis(100 * (i as u64 / 10));
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            stop.store(true, Ordering::SeqCst);
        })
    };
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let counts = Arc::new(Mutex::new((0usize, 0usize)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, failures, counts) = (stop.clone(), failures.clone(), counts.clone());
            std::thread::spawn(move || {
                let c = cluster();
                while !stop.load(Ordering::SeqCst) {
                    let r =
                        c.get("/sf_parent?select=id,name,sf_child(id)&order=id&sf_child.order=id");
                    let ok_embed = r.status == 200
                        && r.json()
                            == json!([
                                {"id": 1, "name": "p1", "sf_child": [{"id": 10}, {"id": 11}]},
                                {"id": 2, "name": "p2", "sf_child": [{"id": 20}]}
                            ]);
                    let no_rel = r.status == 400 && r.json()["code"] == "PGRST200";
                    let mut n = counts.lock().unwrap();
                    n.0 += 1;
                    if ok_embed {
                        n.1 += 1;
                    }
                    if !(ok_embed || no_rel) {
                        failures.lock().unwrap().push(r.describe());
                    }
                }
            })
        })
        .collect();
    ddl.join().unwrap();
    for t in clients {
        t.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    let (requests, embedded) = *counts.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {requests} requests saw a stale schema or a server error, first: {}",
        failures.len(),
        failures[0]
    );
    assert!(ddl_count.load(Ordering::SeqCst) >= 900, "the storm ran");
    assert!(
        requests >= 100,
        "serving went on during the storm: {requests} requests"
    );
    assert!(embedded > 0, "some requests embedded");
    c.psql("drop table if exists api.sf_child, api.sf_parent, api.sf_churn cascade");
}
