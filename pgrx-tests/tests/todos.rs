//! The todos walkthrough: reading (select, filters, order, limit/offset, HEAD) and writing
//! (POST, PATCH, DELETE with the `Prefer: return=` variants) through pgrest, as PostgREST does.
//!
//! Reads check the seed rows of sql/demo.sql exactly, so tests that write to api.todos hold
//! an exclusive lock and put the table back (rows with id > 4 deleted) before releasing it.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("todos")
}

static TODOS: RwLock<()> = RwLock::new(());

/// Shared access: the seed rows are exactly what demo.sql inserted.
fn reading() -> RwLockReadGuard<'static, ()> {
    TODOS.read().unwrap_or_else(|e| e.into_inner())
}

/// Exclusive access, and the table restored to the seed rows when the guard goes.
struct Writing {
    _lock: RwLockWriteGuard<'static, ()>,
}

fn writing() -> Writing {
    let lock = TODOS.write().unwrap_or_else(|e| e.into_inner());
    restore_seed();
    Writing { _lock: lock }
}

fn restore_seed() {
    cluster().psql("delete from api.todos where id > 4");
}

impl Drop for Writing {
    fn drop(&mut self) {
        restore_seed();
    }
}

/// GET `path`, expect a 200 JSON array, return the ids in the order received.
#[track_caller]
fn ids_of(path: &str) -> Vec<i64> {
    let r = cluster().get(path);
    ids(&assert_json_array(&r))
}

#[track_caller]
fn assert_empty_write(r: &Response, status: u16, content_range: &str) {
    assert_status(r, status);
    assert!(
        r.body.is_empty(),
        "expected an empty body: {}",
        r.describe()
    );
    assert_header(r, "Content-Range", content_range);
    assert_no_header(r, "Content-Type");
}

const ALL_COLUMNS: [&str; 6] = ["created_at", "done", "due", "id", "task", "user_id"];

// ---------------------------------------------------------------------------------------------
// Reads

#[test]
fn get_todos_returns_every_row_as_a_json_array() {
    let _g = reading();
    let r = cluster().get("/todos");
    let rows = assert_json_array(&r);
    assert_header(&r, "Content-Range", "0-3/*");
    let mut got = ids(&rows);
    got.sort_unstable();
    assert_eq!(got, [1, 2, 3, 4]);
    for row in &rows {
        assert_eq!(keys(row), ALL_COLUMNS, "row {row}");
        assert!(row["created_at"].is_string());
    }
    let milk = rows.iter().find(|r| r["id"] == 3).unwrap();
    assert_eq!(milk["done"], true);
    assert_eq!(milk["task"], "buy milk");
    assert_eq!(milk["due"], "2026-01-01T10:00:00+00:00");
    assert_eq!(milk["user_id"], 42);
    let first = rows.iter().find(|r| r["id"] == 1).unwrap();
    assert_eq!(first["due"], Value::Null);
    assert_eq!(first["done"], false);
}

#[test]
fn select_picks_renames_and_stars_columns() {
    let _g = reading();
    let c = cluster();
    let rows = assert_json_array(&c.get("/todos?select=id,task&order=id"));
    assert_eq!(
        Value::Array(rows),
        json!([
            {"id": 1, "task": "finish tutorial 0"},
            {"id": 2, "task": "pat self on back"},
            {"id": 3, "task": "buy milk"},
            {"id": 4, "task": "answer the ultimate question"}
        ])
    );

    let rows = assert_json_array(&c.get("/todos?select=*&order=id"));
    assert_eq!(rows.len(), 4);
    assert_eq!(keys(&rows[0]), ALL_COLUMNS);

    let r = c.get("/todos?select=todo:task,id,owner:user_id&id=eq.3");
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"todo": "buy milk", "id": 3, "owner": 42}])
    );

    let r = c.get("/todos?select=done&id=eq.3");
    assert_eq!(Value::Array(assert_json_array(&r)), json!([{"done": true}]));

    // The same column twice under two names.
    let r = c.get("/todos?select=a:id,b:id&id=eq.2");
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"a": 2, "b": 2}])
    );
}

#[test]
fn comparison_operators() {
    let _g = reading();
    let cases: &[(&str, &[i64])] = &[
        ("id=eq.3", &[3]),
        ("id=neq.3&order=id", &[1, 2, 4]),
        ("id=gt.2&order=id", &[3, 4]),
        ("id=gte.2&order=id", &[2, 3, 4]),
        ("id=lt.2&order=id", &[1]),
        ("id=lte.2&order=id", &[1, 2]),
        ("user_id=eq.42&order=id", &[3, 4]),
        ("due=gt.2026-06-01T00:00:00Z", &[4]),
        ("due=lt.2026-06-01T00:00:00Z", &[3]),
        ("done=eq.true", &[3]),
        ("task=eq.buy%20milk", &[3]),
        ("task=eq.buy+milk", &[3]),
        ("task=eq.nothing", &[]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            ids_of(&format!("/todos?{query}")),
            *expected,
            "GET /todos?{query}"
        );
    }
}

#[test]
fn like_and_ilike_with_stars() {
    let _g = reading();
    let cases: &[(&str, &[i64])] = &[
        ("task=like.*milk*", &[3]),
        ("task=like.buy*", &[3]),
        ("task=like.*milk", &[3]),
        ("task=like.*MILK*", &[]),
        ("task=ilike.*MILK*", &[3]),
        ("task=ilike.*THE*&order=id", &[4]),
        ("task=like.pat%20self*", &[2]),
        ("task=like.*tutorial%200", &[1]),
        ("task=like.*e*&order=id", &[2, 4]),
        ("task=ilike.*&order=id", &[1, 2, 3, 4]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            ids_of(&format!("/todos?{query}")),
            *expected,
            "GET /todos?{query}"
        );
    }
}

#[test]
fn in_operator_with_plain_and_quoted_values() {
    let _g = reading();
    let cases: &[(&str, &[i64])] = &[
        ("id=in.(1,3)&order=id", &[1, 3]),
        ("id=in.(4)", &[4]),
        ("id=in.(99,100)", &[]),
        ("id=in.()", &[]),
        (
            "task=in.(buy%20milk,pat%20self%20on%20back)&order=id",
            &[2, 3],
        ),
        (
            "task=in.(%22buy%20milk%22,%22pat%20self%20on%20back%22)&order=id",
            &[2, 3],
        ),
        // One quoted value that contains a comma is not split.
        ("task=in.(%22buy%20milk,pat%20self%20on%20back%22)", &[]),
        ("task=in.(%22finish%20tutorial%200%22,nope)", &[1]),
        ("id=not.in.(1,2)&order=id", &[3, 4]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            ids_of(&format!("/todos?{query}")),
            *expected,
            "GET /todos?{query}"
        );
    }
}

#[test]
fn is_operator_and_not_prefix() {
    let _g = reading();
    let cases: &[(&str, &[i64])] = &[
        ("due=is.null&order=id", &[1, 2]),
        ("due=is.NULL&order=id", &[1, 2]),
        ("due=is.not_null&order=id", &[3, 4]),
        ("due=not.is.null&order=id", &[3, 4]),
        ("done=is.true", &[3]),
        ("done=is.false&order=id", &[1, 2, 4]),
        ("done=not.is.true&order=id", &[1, 2, 4]),
        ("id=not.eq.3&order=id", &[1, 2, 4]),
        ("id=not.gt.2&order=id", &[1, 2]),
        ("task=not.like.*milk*&order=id", &[1, 2, 4]),
        ("task=not.ilike.*MILK*&order=id", &[1, 2, 4]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            ids_of(&format!("/todos?{query}")),
            *expected,
            "GET /todos?{query}"
        );
    }
}

#[test]
fn several_filters_are_anded() {
    let _g = reading();
    let cases: &[(&str, &[i64])] = &[
        ("done=is.false&user_id=eq.42", &[4]),
        ("user_id=eq.1&done=is.false&task=like.*tutorial*", &[1]),
        ("id=gte.2&id=lte.3&order=id", &[2, 3]),
        ("user_id=eq.1&due=not.is.null", &[]),
        ("select=id&id=gt.1&task=ilike.*A*&order=id.desc", &[4, 2]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            ids_of(&format!("/todos?{query}")),
            *expected,
            "GET /todos?{query}"
        );
    }
}

#[test]
fn order_directions_nulls_and_several_terms() {
    let _g = reading();
    let cases: &[(&str, &[i64])] = &[
        ("order=id", &[1, 2, 3, 4]),
        ("order=id.asc", &[1, 2, 3, 4]),
        ("order=id.desc", &[4, 3, 2, 1]),
        ("order=task", &[4, 3, 1, 2]),
        // PostgreSQL's defaults: NULLS LAST ascending, NULLS FIRST descending.
        ("order=due,id", &[3, 4, 1, 2]),
        ("order=due.desc,id", &[1, 2, 4, 3]),
        ("order=due.desc.nullslast,id", &[4, 3, 1, 2]),
        ("order=due.asc.nullsfirst,id.desc", &[2, 1, 3, 4]),
        ("order=due.nullsfirst,id", &[1, 2, 3, 4]),
        ("order=user_id.desc,id.asc", &[3, 4, 1, 2]),
        ("order=done,id.desc", &[4, 2, 1, 3]),
        ("order=done.desc,user_id,id.desc", &[3, 2, 1, 4]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            ids_of(&format!("/todos?{query}")),
            *expected,
            "GET /todos?{query}"
        );
    }
}

#[test]
fn limit_and_offset_set_the_content_range() {
    let _g = reading();
    let c = cluster();
    let cases: &[(&str, &[i64], &str)] = &[
        ("order=id&limit=2", &[1, 2], "0-1/*"),
        ("order=id&limit=2&offset=1", &[2, 3], "1-2/*"),
        ("order=id&offset=3", &[4], "3-3/*"),
        ("order=id&offset=1", &[2, 3, 4], "1-3/*"),
        ("order=id.desc&limit=1", &[4], "0-0/*"),
        ("order=id&limit=10", &[1, 2, 3, 4], "0-3/*"),
        ("order=id&limit=0", &[], "*/*"),
        ("order=id&offset=10", &[], "*/*"),
        ("order=id&limit=1&offset=2&done=is.false", &[4], "2-2/*"),
    ];
    for (query, expected, range) in cases {
        let r = c.get(&format!("/todos?{query}"));
        assert_eq!(ids(&assert_json_array(&r)), *expected, "GET /todos?{query}");
        assert_header(&r, "Content-Range", range);
    }
}

#[test]
fn empty_result_is_an_empty_array() {
    let _g = reading();
    let c = cluster();
    for path in [
        "/todos?id=eq.999",
        "/todos?task=eq.nothing&select=id",
        "/todos?id=in.()",
    ] {
        let r = c.get(path);
        assert_eq!(assert_json_array(&r), Vec::<Value>::new(), "GET {path}");
        assert_eq!(r.body, b"[]", "GET {path}: {}", r.describe());
        assert_header(&r, "Content-Range", "*/*");
    }
}

#[test]
fn head_has_the_headers_of_get_and_no_body() {
    let _g = reading();
    let c = cluster();
    for (path, range) in [
        ("/todos", "0-3/*"),
        ("/todos?id=eq.999", "*/*"),
        ("/todos?order=id&limit=2&offset=1", "1-2/*"),
    ] {
        let get = c.get(path);
        let head = c.head(path, &[]);
        assert_status(&head, 200);
        assert!(head.body.is_empty(), "HEAD {path}: {}", head.describe());
        assert_header(&head, "Content-Type", JSON_CT);
        assert_header(&head, "Content-Range", range);
        assert_eq!(
            head.header("Content-Range"),
            get.header("Content-Range"),
            "HEAD {path}"
        );
        assert_eq!(
            head.header("Content-Type"),
            get.header("Content-Type"),
            "HEAD {path}"
        );
    }
    // A HEAD on a keep-alive connection must leave it usable: no stray body bytes.
    let mut conn = c.connect();
    let head = conn.send("HEAD", "/todos", &[], None).unwrap();
    assert_status(&head, 200);
    let get = conn
        .send("GET", "/todos?id=eq.3&select=id", &[], None)
        .unwrap();
    assert_eq!(Value::Array(assert_json_array(&get)), json!([{"id": 3}]));
}

// ---------------------------------------------------------------------------------------------
// Writes

#[test]
fn post_one_object() {
    let _w = writing();
    let c = cluster();
    let r = c.post_json(
        "/todos",
        &json!({"task": "e2e: post one", "user_id": 1}),
        &[],
    );
    assert_empty_write(&r, 201, "*/*");
    assert_no_header(&r, "Location");
    // Keys that were not sent take the column defaults (done, created_at, id).
    assert_eq!(
        c.psql(
            "select done, user_id, due is null, created_at is not null, id > 4 \
             from api.todos where task = 'e2e: post one'"
        ),
        "f|1|t|t|t"
    );
    let rows = assert_json_array(&c.get("/todos?task=eq.e2e:%20post%20one&select=task,done"));
    assert_eq!(
        Value::Array(rows),
        json!([{"task": "e2e: post one", "done": false}])
    );
}

#[test]
fn post_an_array_inserts_every_element() {
    let _w = writing();
    let c = cluster();
    let body = json!([
        {"task": "e2e: bulk 1", "user_id": 1, "done": false},
        {"task": "e2e: bulk 2", "user_id": 42, "done": true},
        {"task": "e2e: bulk 3", "user_id": null, "done": false}
    ]);
    let r = c.post_json("/todos", &body, &[]);
    assert_empty_write(&r, 201, "*/*");
    assert_eq!(
        c.psql(
            "select string_agg(task || '|' || done || '|' || coalesce(user_id::text, 'null'), ',' \
             order by task) from api.todos where task like 'e2e: bulk %'"
        ),
        "e2e: bulk 1|false|1,e2e: bulk 2|true|42,e2e: bulk 3|false|null"
    );
    // An empty array inserts nothing and still succeeds.
    let r = c.post_json("/todos", &json!([]), &[]);
    assert_empty_write(&r, 201, "*/*");
    assert_eq!(c.psql("select count(*) from api.todos"), "7");
}

#[test]
fn post_with_return_representation() {
    let _w = writing();
    let c = cluster();
    let r = c.post_json(
        "/todos",
        &json!({"task": "e2e: represented", "user_id": 42, "due": "2030-05-06T07:08:09Z"}),
        &[("Prefer", "return=representation")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Content-Type", JSON_CT);
    assert_header(&r, "Content-Range", "*/*");
    assert_header(&r, "Preference-Applied", "return=representation");
    let rows = r.json();
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 1, "{}", r.describe());
    let row = &rows[0];
    assert_eq!(keys(row), ALL_COLUMNS);
    assert_eq!(row["task"], "e2e: represented");
    assert_eq!(row["done"], false);
    assert_eq!(row["user_id"], 42);
    assert_eq!(row["due"], "2030-05-06T07:08:09+00:00");
    let id = row["id"].as_i64().unwrap();
    assert_eq!(
        c.psql(&format!("select task from api.todos where id = {id}")),
        "e2e: represented"
    );

    // select= shapes the representation.
    let r = c.post_json(
        "/todos?select=id,task",
        &json!([{"task": "e2e: shaped 1"}, {"task": "e2e: shaped 2"}]),
        &[("Prefer", "return=representation")],
    );
    assert_status(&r, 201);
    let rows = r.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{}", r.describe());
    for row in rows {
        assert_eq!(keys(row), ["id", "task"]);
    }
    let mut tasks: Vec<&str> = rows.iter().map(|r| r["task"].as_str().unwrap()).collect();
    tasks.sort_unstable();
    assert_eq!(tasks, ["e2e: shaped 1", "e2e: shaped 2"]);

    // return=minimal is the default and says so when asked.
    let r = c.post_json(
        "/todos",
        &json!({"task": "e2e: minimal"}),
        &[("Prefer", "return=minimal")],
    );
    assert_empty_write(&r, 201, "*/*");
    assert_header(&r, "Preference-Applied", "return=minimal");
}

#[test]
fn post_with_return_headers_only_gives_the_location() {
    let _w = writing();
    let c = cluster();
    let r = c.post_json(
        "/todos",
        &json!({"task": "e2e: located", "user_id": 1}),
        &[("Prefer", "return=headers-only")],
    );
    assert_empty_write(&r, 201, "*/*");
    assert_header(&r, "Preference-Applied", "return=headers-only");
    let id = c.psql("select id from api.todos where task = 'e2e: located'");
    assert_header(&r, "Location", &format!("/todos?id=eq.{id}"));

    // The Location can be followed.
    let location = r.header("Location").unwrap().to_string();
    let rows = assert_json_array(&c.get(&location));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["task"], "e2e: located");

    // An explicit id comes back in the Location as sent.
    let r = c.post_json(
        "/todos",
        &json!({"id": 7001, "task": "e2e: explicit id"}),
        &[("Prefer", "return=headers-only")],
    );
    assert_empty_write(&r, 201, "*/*");
    assert_header(&r, "Location", "/todos?id=eq.7001");
}

#[test]
fn patch_with_filters() {
    let _w = writing();
    let c = cluster();
    c.psql(
        "insert into api.todos (id, task, user_id) values \
         (101, 'e2e: patch a', 1), (102, 'e2e: patch b', 1), (103, 'e2e: patch c', 42)",
    );

    let r = c.patch_json("/todos?id=in.(101,102)", &json!({"done": true}), &[]);
    assert_empty_write(&r, 204, "0-1/*");
    assert_eq!(
        c.psql(
            "select string_agg(id || ':' || done, ',' order by id) from api.todos where id > 100"
        ),
        "101:true,102:true,103:false"
    );

    // Nothing matched.
    let r = c.patch_json("/todos?id=eq.999", &json!({"done": true}), &[]);
    assert_empty_write(&r, 204, "*/*");

    // Several filters, ANDed.
    let r = c.patch_json(
        "/todos?id=gt.100&task=like.e2e:*&done=is.true",
        &json!({"user_id": 42}),
        &[],
    );
    assert_empty_write(&r, 204, "0-1/*");
    assert_eq!(
        c.psql("select string_agg(id || ':' || user_id, ',' order by id) from api.todos where id > 100"),
        "101:42,102:42,103:42"
    );

    // With the representation: 200 and the updated rows.
    let r = c.patch_json(
        "/todos?id=eq.103",
        &json!({"task": "e2e: patched", "due": "2030-01-01T00:00:00Z"}),
        &[("Prefer", "return=representation")],
    );
    assert_status(&r, 200);
    assert_header(&r, "Content-Type", JSON_CT);
    assert_header(&r, "Content-Range", "0-0/*");
    assert_header(&r, "Preference-Applied", "return=representation");
    let rows = r.json();
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{}", r.describe());
    assert_eq!(rows[0]["id"], 103);
    assert_eq!(rows[0]["task"], "e2e: patched");
    assert_eq!(rows[0]["due"], "2030-01-01T00:00:00+00:00");
    assert_eq!(rows[0]["done"], false);
    assert_eq!(keys(&rows[0]), ALL_COLUMNS);

    // select= shapes it.
    let r = c.patch_json(
        "/todos?id=in.(101,103)&select=id,done&order=id",
        &json!({"done": false}),
        &[("Prefer", "return=representation")],
    );
    assert_status(&r, 200);
    assert_header(&r, "Content-Range", "0-1/*");
    assert_eq!(
        r.json(),
        json!([{"id": 101, "done": false}, {"id": 103, "done": false}])
    );

    // The seed rows were not touched.
    assert_eq!(
        c.psql("select string_agg(id || ':' || done || ':' || user_id, ',' order by id) from api.todos where id <= 4"),
        "1:false:1,2:false:1,3:true:42,4:false:42"
    );
}

#[test]
fn delete_with_filters() {
    let _w = writing();
    let c = cluster();
    c.psql(
        "insert into api.todos (id, task, user_id, done) values \
         (201, 'e2e: delete a', 1, true), (202, 'e2e: delete b', 1, true), \
         (203, 'e2e: delete c', 42, false), (204, 'e2e: delete d', 42, true)",
    );

    let r = c.delete("/todos?id=in.(201,202)", &[]);
    assert_empty_write(&r, 204, "*/*");
    assert_eq!(
        c.psql("select string_agg(id::text, ',' order by id) from api.todos where id > 200"),
        "203,204"
    );

    // Nothing matched.
    let r = c.delete("/todos?id=eq.999", &[]);
    assert_empty_write(&r, 204, "*/*");

    // With the representation: 200 and the deleted rows.
    let r = c.delete("/todos?id=eq.203", &[("Prefer", "return=representation")]);
    assert_status(&r, 200);
    assert_header(&r, "Content-Type", JSON_CT);
    assert_header(&r, "Content-Range", "*/*");
    let rows = r.json();
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{}", r.describe());
    assert_eq!(rows[0]["id"], 203);
    assert_eq!(rows[0]["task"], "e2e: delete c");
    assert_eq!(keys(&rows[0]), ALL_COLUMNS);

    // Several filters and select=.
    let r = c.delete(
        "/todos?id=gt.200&done=is.true&user_id=eq.42&select=id,task",
        &[("Prefer", "return=representation")],
    );
    assert_status(&r, 200);
    assert_eq!(r.json(), json!([{"id": 204, "task": "e2e: delete d"}]));

    assert_eq!(c.psql("select count(*) from api.todos where id > 200"), "0");
    assert_eq!(c.psql("select count(*), sum(id) from api.todos"), "4|10");
}

#[test]
fn walkthrough_create_read_update_delete() {
    let _w = writing();
    let c = cluster();
    let created = c.post_json(
        "/todos?select=id",
        &json!({"task": "e2e: walkthrough", "user_id": 42}),
        &[("Prefer", "return=representation")],
    );
    assert_status(&created, 201);
    let id = created.json()[0]["id"].as_i64().expect("id");

    let rows = assert_json_array(&c.get(&format!("/todos?id=eq.{id}&select=task,done")));
    assert_eq!(
        Value::Array(rows),
        json!([{"task": "e2e: walkthrough", "done": false}])
    );

    let r = c.patch_json(&format!("/todos?id=eq.{id}"), &json!({"done": true}), &[]);
    assert_empty_write(&r, 204, "0-0/*");
    let rows = assert_json_array(&c.get(&format!("/todos?id=eq.{id}&done=is.true&select=id")));
    assert_eq!(ids(&rows), [id]);

    let r = c.delete(&format!("/todos?id=eq.{id}"), &[]);
    assert_empty_write(&r, 204, "*/*");
    let r = c.get(&format!("/todos?id=eq.{id}"));
    assert_eq!(assert_json_array(&r), Vec::<Value>::new());
    assert_header(&r, "Content-Range", "*/*");
    assert_eq!(
        c.psql(&format!("select count(*) from api.todos where id = {id}")),
        "0"
    );
}
