//! Writes as PostgREST does them: `Prefer: missing=default`, upserts (`resolution=`,
//! `on_conflict=`), PUT, every body format, and the exact requests postgrest-js and
//! postgrest-py send for insert, upsert and `defaultToNull: false`.
//!
//! Cluster `writes` (defaults). Fixtures: pgrx-tests/fixtures/70_writes_rpc.sql (wr_*).
//! Every test writes its own keys. Expected values follow PostgREST's QueryBuilder.hs,
//! Response.hs and its spec tests test/spec/Feature/Query/{Insert,Upsert}Spec.hs.

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("writes")
}

const REP: (&str, &str) = ("Prefer", "return=representation");

fn post(path: &str, body: Value, headers: &[(&str, &str)]) -> Response {
    cluster().post_json(path, &body, headers)
}

#[test]
fn missing_default_fills_column_domain_and_identity_defaults() {
    // Bug in the issue: `Preference-Applied` claimed missing=default while NULL was inserted.
    let r = post(
        "/wr_items?columns=id,name,qty,label,ticket,created&select=id,name,qty,label,ticket,total,created",
        json!([
            {"id": 101, "name": "a"},
            {"id": 102, "name": "b", "qty": 5, "label": null, "ticket": 9001, "created": "2020-02-02"}
        ]),
        &[REP, ("Prefer", "missing=default")],
    );
    assert_status(&r, 201);
    assert_header(
        &r,
        "Preference-Applied",
        "missing=default, return=representation",
    );
    let rows = r.json();
    assert_eq!(rows[0]["qty"], json!(1));
    assert_eq!(rows[0]["label"], json!("domain default"));
    assert!(
        rows[0]["ticket"].is_i64(),
        "identity default: {}",
        r.describe()
    );
    assert_eq!(rows[0]["total"], json!(10));
    assert_eq!(rows[0]["created"], json!("2026-01-01"));
    // Given keys win, including an explicit null.
    assert_eq!(
        rows[1],
        json!({"id": 102, "name": "b", "qty": 5, "label": null, "ticket": 9001, "total": 50, "created": "2020-02-02"})
    );

    // Without the preference a missing key is NULL, and the NOT NULL column says so.
    let r = post(
        "/wr_items?columns=id,name,qty",
        json!([{"id": 103, "name": "c"}]),
        &[],
    );
    assert_error(&r, 400, "23502");
    // missing=null is the default and is reported when asked for.
    let r = post(
        "/wr_items?columns=id,name,label&select=label",
        json!({"id": 104, "name": "d"}),
        &[REP, ("Prefer", "missing=null")],
    );
    assert_status(&r, 201);
    assert_header(
        &r,
        "Preference-Applied",
        "missing=null, return=representation",
    );
    assert_eq!(r.json(), json!([{"label": null}]));

    // PATCH with missing=default resets the named columns the body leaves out.
    let r = cluster().patch_json(
        "/wr_items?id=eq.102&columns=qty,label&select=qty,label",
        &json!({"label": "kept"}),
        &[REP, ("Prefer", "missing=default")],
    );
    assert_status(&r, 200);
    assert_header(
        &r,
        "Preference-Applied",
        "missing=default, return=representation",
    );
    assert_eq!(r.json(), json!([{"qty": 1, "label": "kept"}]));

    // A generated column named in columns= fails as PostgreSQL says.
    let r = post(
        "/wr_items?columns=name,total",
        json!([{"name": "x"}]),
        &[("Prefer", "missing=default")],
    );
    assert_error(&r, 400, "428C9");
    // Through an updatable view, the table's defaults apply.
    let r = post(
        "/wr_items_v?columns=id,name,qty&select=id,qty",
        json!({"id": 105, "name": "v"}),
        &[REP, ("Prefer", "missing=default")],
    );
    assert_status(&r, 201);
    assert_eq!(r.json(), json!([{"id": 105, "qty": 1}]));
}

#[test]
fn body_formats_and_columns() {
    let c = cluster();
    // Array of objects: one statement, every row.
    let r = post(
        "/wr_pairs?select=a,b,note",
        json!([{"a": 1, "b": 1, "note": "x"}, {"a": 1, "b": 2, "note": null}]),
        &[REP],
    );
    assert_status(&r, 201);
    assert_eq!(
        r.json(),
        json!([{"a": 1, "b": 1, "note": "x"}, {"a": 1, "b": 2, "note": null}])
    );
    // Objects with different keys: PostgREST's 400 (postgrest-js sends columns= instead).
    let r = post(
        "/wr_pairs",
        json!([{"a": 1, "b": 3}, {"a": 1, "b": 4, "note": "n"}]),
        &[],
    );
    assert_error_message(&r, 400, "PGRST102", "All object keys must match");
    // columns= takes only the named keys; missing ones are NULL, others ignored.
    let r = post(
        "/wr_pairs?columns=a,b,note&select=a,b,note",
        json!([{"a": 1, "b": 3, "bogus": 1}, {"a": 1, "b": 4, "note": "n"}]),
        &[REP],
    );
    assert_status(&r, 201);
    assert_eq!(
        r.json(),
        json!([{"a": 1, "b": 3, "note": null}, {"a": 1, "b": 4, "note": "n"}])
    );
    // CSV (NULL is SQL NULL) and form bodies.
    let r = c.send_body(
        "POST",
        "/wr_pairs?select=a,b,note",
        b"a,b,note\n2,1,hello\n2,2,NULL\n",
        "text/csv",
        &[REP],
    );
    assert_status(&r, 201);
    assert_eq!(
        r.json(),
        json!([{"a": 2, "b": 1, "note": "hello"}, {"a": 2, "b": 2, "note": null}])
    );
    let r = c.send_body(
        "POST",
        "/wr_pairs?select=a,b,note",
        b"a=3&b=1&note=form+body",
        "application/x-www-form-urlencoded",
        &[REP],
    );
    assert_status(&r, 201);
    assert_eq!(r.json(), json!([{"a": 3, "b": 1, "note": "form body"}]));
    // Arrays, jsonb, composite-free json values reach their columns.
    let r = post(
        "/wr_items?select=tags,doc",
        json!({"id": 110, "name": "t", "tags": ["x", "y"], "doc": {"k": [1, {"n": null}]}}),
        &[REP],
    );
    assert_status(&r, 201);
    assert_eq!(
        r.json(),
        json!([{"tags": ["x", "y"], "doc": {"k": [1, {"n": null}]}}])
    );
}

#[test]
fn upsert_merges_or_ignores_duplicates() {
    // Bug in the issue: upsert() answered 409 instead of merging.
    let seed = post(
        "/wr_people",
        json!([{"email": "ann@x", "name": "Ann"}]),
        &[],
    );
    assert_status(&seed, 201);
    // on_conflict names a unique column: 201 when something was inserted.
    let r = post(
        "/wr_people?on_conflict=email&select=email,name",
        json!([{"email": "ann@x", "name": "Ann 2"}, {"email": "bob@x", "name": "Bob"}]),
        &[REP, ("Prefer", "resolution=merge-duplicates")],
    );
    assert_status(&r, 201);
    assert_header(
        &r,
        "Preference-Applied",
        "resolution=merge-duplicates, return=representation",
    );
    assert_eq!(
        r.json(),
        json!([{"email": "ann@x", "name": "Ann 2"}, {"email": "bob@x", "name": "Bob"}])
    );
    // on_conflict may name the columns of a unique index that is no constraint.
    let r = post(
        "/wr_codes?on_conflict=code&select=code,note",
        json!([{"code": "k1", "note": "first"}]),
        &[REP, ("Prefer", "resolution=merge-duplicates")],
    );
    assert_status(&r, 201);
    let r = post(
        "/wr_codes?on_conflict=code&select=code,note",
        json!([{"code": "k1", "note": "second"}]),
        &[REP, ("Prefer", "resolution=merge-duplicates")],
    );
    assert_status(&r, 200);
    assert_eq!(r.json(), json!([{"code": "k1", "note": "second"}]));
    // Only updates: 200.
    let r = post(
        "/wr_people?on_conflict=email&select=email,name",
        json!([{"email": "bob@x", "name": "Bobby"}]),
        &[REP, ("Prefer", "resolution=merge-duplicates")],
    );
    assert_status(&r, 200);
    assert_eq!(r.json(), json!([{"email": "bob@x", "name": "Bobby"}]));
    // ignore-duplicates: existing rows untouched and not returned; always 201.
    let r = post(
        "/wr_people?on_conflict=email&select=email,name",
        json!([{"email": "bob@x", "name": "ignored"}, {"email": "cat@x", "name": "Cat"}]),
        &[REP, ("Prefer", "resolution=ignore-duplicates")],
    );
    assert_status(&r, 201);
    assert_header(
        &r,
        "Preference-Applied",
        "resolution=ignore-duplicates, return=representation",
    );
    assert_eq!(r.json(), json!([{"email": "cat@x", "name": "Cat"}]));
    let r = cluster().get("/wr_people?email=eq.bob@x&select=name");
    assert_eq!(r.json(), json!([{"name": "Bobby"}]));
    // Composite primary key, on a partitioned table, return=minimal.
    let r = post(
        "/wr_parts",
        json!([{"region": "eu", "id": 1, "v": "a"}, {"region": "us", "id": 1, "v": "b"}]),
        &[("Prefer", "resolution=merge-duplicates")],
    );
    assert_status(&r, 201);
    let r = post(
        "/wr_parts?select=region,id,v",
        json!([{"region": "eu", "id": 1, "v": "a2"}, {"region": "eu", "id": 2, "v": "c"}]),
        &[REP, ("Prefer", "resolution=merge-duplicates")],
    );
    assert_status(&r, 201);
    assert_eq!(
        r.json(),
        json!([{"region": "eu", "id": 1, "v": "a2"}, {"region": "eu", "id": 2, "v": "c"}])
    );
    // An empty array inserts nothing: 200 for a merge.
    let r = post(
        "/wr_parts",
        json!([]),
        &[("Prefer", "resolution=merge-duplicates")],
    );
    assert_status(&r, 200);
    // No primary key and no on_conflict: a plain insert, the preference not applied.
    let r = post(
        "/wr_nopk",
        json!({"k": 1, "v": "x"}),
        &[REP, ("Prefer", "resolution=merge-duplicates")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Preference-Applied", "return=representation");
    // With missing=default the serial key is generated for new rows.
    let r = post(
        "/wr_people?on_conflict=email&columns=id,email,name&select=email,name",
        json!([{"email": "dan@x", "name": "Dan"}]),
        &[
            REP,
            ("Prefer", "resolution=merge-duplicates, missing=default"),
        ],
    );
    assert_status(&r, 201);
    assert_header(
        &r,
        "Preference-Applied",
        "resolution=merge-duplicates, missing=default, return=representation",
    );
    // on_conflict naming no unique key: PostgreSQL's error.
    let r = post(
        "/wr_people?on_conflict=name",
        json!({"email": "e@x", "name": "E"}),
        &[("Prefer", "resolution=merge-duplicates")],
    );
    assert_error(&r, 400, "42P10");
}

#[test]
fn put_upserts_the_row_its_url_names() {
    let c = cluster();
    let put = |path: &str, body: Value, headers: &[(&str, &str)]| {
        c.send_json("PUT", path, &body, headers)
    };
    // Insert: 201; update: 200; minimal: 204 with no body.
    let r = put(
        "/wr_pairs?a=eq.9&b=eq.1",
        json!({"a": 9, "b": 1, "note": "new"}),
        &[REP],
    );
    assert_status(&r, 201);
    assert_eq!(r.json(), json!([{"a": 9, "b": 1, "note": "new"}]));
    let r = put(
        "/wr_pairs?a=eq.9&b=eq.1",
        json!({"a": 9, "b": 1, "note": "upd"}),
        &[REP],
    );
    assert_status(&r, 200);
    assert_eq!(r.json(), json!([{"a": 9, "b": 1, "note": "upd"}]));
    let r = put(
        "/wr_pairs?a=eq.9&b=eq.1",
        json!({"a": 9, "b": 1, "note": "min"}),
        &[],
    );
    assert_status(&r, 204);
    assert!(r.body.is_empty());
    // Singular object, and only the body row matching the URL is written.
    let r = put(
        "/wr_pairs?a=eq.9&b=eq.2",
        json!([{"a": 9, "b": 2, "note": "one"}, {"a": 9, "b": 3, "note": "other"}]),
        &[REP, ("Accept", "application/vnd.pgrst.object+json")],
    );
    assert_status(&r, 201);
    assert_eq!(r.json(), json!({"a": 9, "b": 2, "note": "one"}));
    assert_eq!(c.get("/wr_pairs?a=eq.9&b=eq.3").json(), json!([]));
    // The body's key differs from the URL's: PGRST115, nothing written.
    let r = put(
        "/wr_pairs?a=eq.9&b=eq.4",
        json!({"a": 9, "b": 5, "note": "x"}),
        &[],
    );
    assert_error_message(
        &r,
        400,
        "PGRST115",
        "Payload values do not match URL in primary key column(s)",
    );
    assert_eq!(c.get("/wr_pairs?a=eq.9&b=in.(4,5)").json(), json!([]));
    // Filters must be eq on exactly the key.
    for path in [
        "/wr_pairs?a=eq.9",
        "/wr_pairs?a=eq.9&b=gt.1",
        "/wr_pairs?a=eq.9&b=eq.1&note=eq.x",
        "/wr_pairs?a=eq.9&or=(b.eq.1)",
        "/wr_nopk?k=eq.1",
    ] {
        let r = put(path, json!({"a": 9, "b": 1}), &[]);
        assert_error_message(
            &r,
            405,
            "PGRST105",
            "Filters must include all and only primary key columns with 'eq' operators",
        );
    }
    let r = put(
        "/wr_pairs?a=eq.9&b=eq.1&limit=1",
        json!({"a": 9, "b": 1}),
        &[],
    );
    assert_error(&r, 400, "PGRST114");
    // A partitioned table.
    let r = put(
        "/wr_parts?region=eq.us&id=eq.7",
        json!({"region": "us", "id": 7, "v": "p"}),
        &[REP],
    );
    assert_status(&r, 201);
    // OPTIONS lists PUT where it works.
    let r = c.request("OPTIONS", "/wr_pairs", &[], None);
    assert_header(&r, "Allow", "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE");
    let r = c.request("OPTIONS", "/wr_nopk", &[], None);
    assert_header(&r, "Allow", "OPTIONS,GET,HEAD,POST,PATCH,DELETE");
}

#[test]
fn write_headers_counts_and_transactions() {
    let c = cluster();
    // Location for a composite key, with a NULL-free key.
    let r = post(
        "/wr_pairs",
        json!({"a": 20, "b": 1, "note": "loc"}),
        &[("Prefer", "return=headers-only")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Location", "/wr_pairs?a=eq.20&b=eq.1");
    // Counts on writes.
    let r = post(
        "/wr_pairs",
        json!([{"a": 21, "b": 1}, {"a": 21, "b": 2}]),
        &[("Prefer", "count=exact")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Content-Range", "*/2");
    // Singular object on a write that makes two rows: 406 and nothing kept.
    let r = post(
        "/wr_pairs",
        json!([{"a": 22, "b": 1}, {"a": 22, "b": 2}]),
        &[REP, ("Accept", "application/vnd.pgrst.object+json")],
    );
    assert_error(&r, 406, "PGRST116");
    assert_eq!(c.get("/wr_pairs?a=eq.22").json(), json!([]));
    // max-affected with handling=strict rolls back a PATCH that changes too many.
    let r = c.patch_json(
        "/wr_pairs?a=eq.21",
        &json!({"note": "many"}),
        &[("Prefer", "max-affected=1, handling=strict")],
    );
    assert_error(&r, 400, "PGRST124");
    assert_eq!(
        c.get("/wr_pairs?a=eq.21&note=is.null&select=b").json(),
        json!([{"b": 1}, {"b": 2}])
    );
    // Embeds in the representation of an upsert, created then merged.
    let title = c.get("/eb_books?id=eq.1&select=title").json()[0]["title"].clone();
    for (note, status) in [("first", 201), ("merged", 200)] {
        let r = post(
            "/eb_notes?select=id,body,book:eb_books(title)",
            json!({"id": 900, "book_id": 1, "body": note}),
            &[REP, ("Prefer", "resolution=merge-duplicates")],
        );
        assert_status(&r, status);
        assert_eq!(
            r.json(),
            json!([{"id": 900, "body": note, "book": {"title": title}}])
        );
    }
    // Composite values from JSON objects.
    let r = post(
        "/wr_items?select=spot",
        json!({"id": 111, "name": "c", "spot": {"x": 1, "y": 2}}),
        &[REP],
    );
    assert_status(&r, 201);
    assert_eq!(r.json(), json!([{"spot": {"x": 1, "y": 2}}]));
}

/// The requests the client libraries send, header for header.
#[test]
fn client_library_requests() {
    let c = cluster();
    // postgrest-js: insert(rows, { defaultToNull: false }).select()
    let r = c.send_json(
        "POST",
        "/wr_items?columns=%22id%22,%22name%22,%22qty%22&select=*",
        &json!([{"id": 201, "name": "js", "qty": 3}, {"id": 202, "name": "js2"}]),
        &[("Prefer", "return=representation,missing=default")],
    );
    assert_status(&r, 201);
    let rows = r.json();
    assert_eq!(rows[1]["qty"], json!(1));
    assert_header(
        &r,
        "Preference-Applied",
        "missing=default, return=representation",
    );
    // postgrest-js: upsert(rows, { onConflict: 'email' }) (its default is merge-duplicates)
    let r = c.send_json(
        "POST",
        "/wr_people?on_conflict=email&columns=%22email%22,%22name%22",
        &json!([{"email": "js@x", "name": "one"}]),
        &[("Prefer", "resolution=merge-duplicates")],
    );
    assert_status(&r, 201);
    let r = c.send_json(
        "POST",
        "/wr_people?on_conflict=email&columns=%22email%22,%22name%22",
        &json!([{"email": "js@x", "name": "two"}]),
        &[("Prefer", "resolution=merge-duplicates")],
    );
    assert_status(&r, 200);
    assert_eq!(
        c.get("/wr_people?email=eq.js@x&select=name").json(),
        json!([{"name": "two"}])
    );
    // postgrest-js: upsert(row, { ignoreDuplicates: true, count: 'exact' })
    let r = c.send_json(
        "POST",
        "/wr_people?on_conflict=email&columns=%22email%22,%22name%22",
        &json!({"email": "js@x", "name": "three"}),
        &[("Prefer", "resolution=ignore-duplicates,count=exact")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Content-Range", "*/0");
    // postgrest-py: insert(..., default_to_null=False, returning=minimal)
    let r = c.send_json(
        "POST",
        "/wr_items?columns=id,name",
        &json!([{"id": 203, "name": "py"}]),
        &[("Prefer", "return=minimal,missing=default")],
    );
    assert_status(&r, 201);
    assert!(r.body.is_empty());
    assert_eq!(
        c.get("/wr_items?id=eq.203&select=qty,label").json(),
        json!([{"qty": 1, "label": "domain default"}])
    );
}

#[test]
fn bulk_insert_is_one_statement() {
    // 10,000 rows in one request: one INSERT over the JSON array.
    let rows: Vec<Value> = (0..10_000)
        .map(|i| json!({"region": "us", "id": 100_000 + i, "v": format!("row {i}")}))
        .collect();
    let r = post(
        "/wr_parts",
        Value::Array(rows),
        &[("Prefer", "count=exact")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Content-Range", "*/10000");
    let r = cluster().get_with(
        "/wr_parts?id=gte.100000&limit=1",
        &[("Prefer", "count=exact")],
    );
    assert_header(&r, "Content-Range", "0-0/10000");
    // A statement trigger counts the statements and the rows each wrote: one, with all of them.
    let rows: Vec<Value> = (0..10_000)
        .map(|i| json!({"id": i, "v": format!("row {i}")}))
        .collect();
    let started = std::time::Instant::now();
    let r = post("/wr_bulk", Value::Array(rows), &[]);
    println!("10,000 rows in one POST: {:?}", started.elapsed());
    assert_status(&r, 201);
    assert_eq!(
        cluster().psql("select string_agg(rows::text, ',') from api.wr_bulk_log"),
        "10000"
    );
}
