//! Response representations: Accept negotiation with q-values, the singular object
//! (`application/vnd.pgrst.object+json`, 406 PGRST116, rolled-back writes), CSV, stripped
//! nulls, 406 PGRST107, the exact Content-Type values, `Vary`, `Content-Location` and
//! `Preference-Applied`.
//!
//! Expected values come from PostgREST's MediaType.hs (decodeMediaType, toMime,
//! toContentType), Plan/Negotiate.hs, Query/SqlFragment.hs (asCsvF, json_strip_nulls),
//! Response.hs, App.hs (Vary) and test/spec/Feature/Query/SingularSpec.hs. Reads use
//! api.rd_people and api.rd_csv; writes use api.rd_writes, each test with its own tag.

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("read_repr")
}

const OBJECT_CT: &str = "application/vnd.pgrst.object+json; charset=utf-8";
const OBJECT_STRIP_CT: &str = "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8";
const ARRAY_STRIP_CT: &str = "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8";
const CSV_CT: &str = "text/csv; charset=utf-8";
const OBJECT: (&str, &str) = ("Accept", "application/vnd.pgrst.object+json");

#[track_caller]
fn assert_singular_error(r: &Response, rows: usize) {
    let body = assert_error_message(
        r,
        406,
        "PGRST116",
        "Cannot coerce the result to a single JSON object",
    );
    assert_eq!(
        body["details"],
        format!("The result contains {rows} rows"),
        "{}",
        r.describe()
    );
    assert_eq!(body["hint"], Value::Null, "{}", r.describe());
}

// ---------------------------------------------------------------------------------------------
// Negotiation

#[test]
fn accept_negotiation_picks_the_first_acceptable_type() {
    let c = cluster();
    let path = "/rd_people?select=id&id=eq.1";
    let json = Some(JSON_CT);
    let csv = Some(CSV_CT);
    let cases: &[(Option<&str>, Option<&str>)] = &[
        (None, json),
        (Some("*/*"), json),
        (Some("application/json"), json),
        (Some("APPLICATION/JSON"), json),
        (Some("application/json; charset=utf-8"), json),
        (Some("text/csv"), csv),
        (Some("text/csv;q=0.5, application/json"), json),
        (Some("application/json;q=0.2, text/csv"), csv),
        (Some("application/json; q=0.2, text/csv; q=0.3"), csv),
        (Some("text/html, text/csv"), csv),
        (Some("text/html, */*;q=0.1"), json),
        (Some("application/json, text/csv"), json),
        (Some("text/csv, application/json"), csv),
        // A wildcard is less specific than a full type of the same quality.
        (Some("*/*, text/csv"), csv),
        (Some("image/png, application/xml;q=0.9, */*;q=0.8"), json),
    ];
    let mut failures = Vec::new();
    for (accept, expected) in cases {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        let r = c.get_with(path, &headers);
        let body_ok = match *expected {
            Some(CSV_CT) => r.text() == "id\n1",
            _ => r.body == b"[{\"id\":1}]" || r.json() == json!([{"id": 1}]),
        };
        if r.status != 200 || r.header("Content-Type") != *expected || !body_ok {
            failures.push(format!(
                "Accept {accept:?}: expected {expected:?}; got {}",
                r.describe()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unavailable_media_types_are_406_pgrst107() {
    let c = cluster();
    for (accept, listed) in [
        ("text/html", "text/html"),
        (
            "text/html, application/xml;q=0.9",
            "text/html, application/xml",
        ),
        ("application/*", "application/*"),
        // db_plan_enabled is off: the plan media type is not available.
        (
            "application/vnd.pgrst.plan",
            "application/vnd.pgrst.plan+text; for=\"application/json\"",
        ),
    ] {
        let r = c.get_with("/rd_people", &[("Accept", accept)]);
        assert_plain_error(
            &r,
            406,
            "PGRST107",
            &format!("None of these media types are available: {listed}"),
        );
        let h = c.head("/rd_people", &[("Accept", accept)]);
        assert_status(&h, 406);
    }
    // Errors are JSON whatever the client accepts.
    let r = c.get_with("/rd_people?id=zz.1", &[("Accept", "text/csv")]);
    assert_error(&r, 400, "PGRST100");
}

// ---------------------------------------------------------------------------------------------
// Singular object

#[test]
fn singular_object_for_exactly_one_row() {
    let c = cluster();
    for accept in [
        "application/vnd.pgrst.object+json",
        "application/vnd.pgrst.object",
        "ApplicatIon/vnd.PgRsT.object+json",
        "text/html, application/vnd.pgrst.object+json",
    ] {
        let r = c.get_with("/rd_people?id=eq.1&select=id,name", &[("Accept", accept)]);
        assert_status(&r, 200);
        assert_header(&r, "Content-Type", OBJECT_CT);
        assert_eq!(r.json(), json!({"id": 1, "name": "Ann"}), "Accept {accept}");
    }
    // limit=1 makes a many-row result singular.
    let r = c.get_with("/rd_people?select=id&order=id.desc&limit=1", &[OBJECT]);
    assert_eq!(r.json(), json!({"id": 6}), "{}", r.describe());
    // The count still shows.
    let r = c.get_with(
        "/rd_people?select=id&city=eq.Nice",
        &[OBJECT, ("Prefer", "count=exact")],
    );
    assert_status(&r, 200);
    assert_header(&r, "Content-Range", "0-0/1");
    assert_eq!(r.json(), json!({"id": 5}));
    // HEAD: the content type of the object, no body.
    let h = c.head("/rd_people?id=eq.1", &[OBJECT]);
    assert_status(&h, 200);
    assert_header(&h, "Content-Type", OBJECT_CT);
    assert!(h.body.is_empty());
}

#[test]
fn singular_object_with_zero_or_many_rows_is_406_pgrst116() {
    let c = cluster();
    assert_singular_error(&c.get_with("/rd_people?id=eq.99", &[OBJECT]), 0);
    assert_singular_error(&c.get_with("/rd_people", &[OBJECT]), 6);
    assert_singular_error(&c.get_with("/rd_people?city=eq.Paris", &[OBJECT]), 2);
    assert_singular_error(&c.get_with("/rd_people?limit=0", &[OBJECT]), 0);
    assert_singular_error(
        &c.get_with(
            "/rd_people?city=eq.Lyon",
            &[("Accept", "application/vnd.pgrst.object+json;nulls=stripped")],
        ),
        2,
    );
    assert_status(&c.head("/rd_people?city=eq.Paris", &[OBJECT]), 406);
}

#[test]
fn singular_writes_with_the_wrong_row_count_are_406_and_rolled_back() {
    let c = cluster();
    let tag = "repr-singular";
    seed(c, tag, 2);
    let before = tag_state(c, tag);
    assert_eq!(before, "2:1=-,2=-");

    // PATCH of two rows, with and without a representation.
    for prefer in ["return=representation", "return=minimal"] {
        let r = c.patch_json(
            &format!("/rd_writes?tag=eq.{tag}"),
            &json!({"note": "changed"}),
            &[OBJECT, ("Prefer", prefer)],
        );
        assert_singular_error(&r, 2);
        assert_eq!(tag_state(c, tag), before, "PATCH with {prefer} was kept");
    }
    // PATCH of no row.
    let r = c.patch_json(
        &format!("/rd_writes?tag=eq.{tag}&n=eq.99"),
        &json!({"note": "changed"}),
        &[OBJECT],
    );
    assert_singular_error(&r, 0);
    // DELETE of two rows.
    let r = c.delete(
        &format!("/rd_writes?tag=eq.{tag}"),
        &[OBJECT, ("Prefer", "return=representation")],
    );
    assert_singular_error(&r, 2);
    assert_eq!(tag_state(c, tag), before);
    // POST of two rows.
    let r = c.post_json(
        "/rd_writes",
        &json!([{"tag": tag, "n": 3}, {"tag": tag, "n": 4}]),
        &[OBJECT, ("Prefer", "return=representation")],
    );
    assert_singular_error(&r, 2);
    let r = c.post_json("/rd_writes", &json!([]), &[OBJECT]);
    assert_singular_error(&r, 0);
    assert_eq!(tag_state(c, tag), before);

    // Exactly one row: an object, or 204 with return=minimal.
    let r = c.patch_json(
        &format!("/rd_writes?tag=eq.{tag}&n=eq.1&select=n,note"),
        &json!({"note": "one"}),
        &[OBJECT, ("Prefer", "return=representation")],
    );
    assert_status(&r, 200);
    assert_header(&r, "Content-Type", OBJECT_CT);
    assert_eq!(r.json(), json!({"n": 1, "note": "one"}));
    let r = c.patch_json(
        &format!("/rd_writes?tag=eq.{tag}&n=eq.2"),
        &json!({"note": "two"}),
        &[OBJECT, ("Prefer", "return=minimal")],
    );
    assert_status(&r, 204);
    assert_no_header(&r, "Content-Type");
    assert_header(&r, "Preference-Applied", "return=minimal");
    let r = c.post_json(
        "/rd_writes?select=n,tag",
        &json!({"tag": tag, "n": 3}),
        &[OBJECT, ("Prefer", "return=representation")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Content-Type", OBJECT_CT);
    assert_eq!(r.json(), json!({"n": 3, "tag": tag}));
    let r = c.delete(
        &format!("/rd_writes?tag=eq.{tag}&n=eq.3&select=n"),
        &[OBJECT, ("Prefer", "return=representation")],
    );
    assert_status(&r, 200);
    assert_eq!(r.json(), json!({"n": 3}));
    assert_eq!(tag_state(c, tag), "2:1=one,2=two");
    c.psql(&format!("delete from api.rd_writes where tag = '{tag}'"));
}

// ---------------------------------------------------------------------------------------------
// Stripped nulls

#[test]
fn stripped_nulls_for_arrays_and_objects() {
    let c = cluster();
    let path = "/rd_people?select=id,nick,active&id=in.(1,3,5)&order=id";
    let stripped = json!([
        {"id": 1, "active": true},
        {"id": 3, "nick": "C, \"the\" boss"},
        {"id": 5, "active": false}
    ]);
    for accept in [
        "application/vnd.pgrst.array+json;nulls=stripped",
        "application/vnd.pgrst.array+json; nulls=stripped",
        "application/vnd.pgrst.array;nulls=stripped",
    ] {
        let r = c.get_with(path, &[("Accept", accept)]);
        assert_status(&r, 200);
        assert_header(&r, "Content-Type", ARRAY_STRIP_CT);
        assert_eq!(r.json(), stripped, "Accept {accept}");
    }
    // Without nulls=stripped it is plain JSON.
    let r = c.get_with(path, &[("Accept", "application/vnd.pgrst.array+json")]);
    assert_status(&r, 200);
    assert_header(&r, "Content-Type", JSON_CT);
    assert_eq!(r.json()[0], json!({"id": 1, "nick": null, "active": true}));
    // Nulls inside JSON values go too.
    let r = c.get_with(
        "/kitchen_sink?select=id,doc,uid&id=eq.5",
        &[("Accept", "application/vnd.pgrst.array+json;nulls=stripped")],
    );
    assert_eq!(
        r.json(),
        json!([{"id": 5, "doc": {"empty": {}, "arr": [[1, 2], [3]], "num": 1500, "t": true}}]),
        "{}",
        r.describe()
    );
    // The singular object.
    let r = c.get_with(
        "/rd_people?select=id,nick,city&id=eq.1",
        &[("Accept", "application/vnd.pgrst.object+json;nulls=stripped")],
    );
    assert_status(&r, 200);
    assert_header(&r, "Content-Type", OBJECT_STRIP_CT);
    assert_eq!(r.json(), json!({"id": 1, "city": "Paris"}));
}

// ---------------------------------------------------------------------------------------------
// CSV

#[test]
fn csv_has_a_header_line_and_record_text_rows() {
    let c = cluster();
    let r = c.get_with("/rd_csv?order=id", &[("Accept", "text/csv")]);
    assert_status(&r, 200);
    assert_header(&r, "Content-Type", CSV_CT);
    assert_eq!(
        r.text(),
        "id,label,note,amount,flag\n\
         1,plain,\"two words\",1.50,t\n\
         2,\"comma, inside\",\"say \"\"hi\"\"\",,f\n\
         3,,\"\",-2,\n\
         4,\"back\\\\slash\",\"line1\nline2\",0,t"
    );
    // select= decides the columns and their names.
    let r = c.get_with(
        "/rd_csv?select=n:id,label&id=lt.3&order=id.desc",
        &[("Accept", "text/csv")],
    );
    assert_eq!(r.text(), "n,label\n2,\"comma, inside\"\n1,plain");
    // No rows: an empty header line.
    let r = c.get_with("/rd_csv?id=eq.0", &[("Accept", "text/csv")]);
    assert_status(&r, 200);
    assert_header(&r, "Content-Type", CSV_CT);
    assert_header(&r, "Content-Range", "*/*");
    assert_eq!(r.text(), "\n");
    // HEAD.
    let h = c.head("/rd_csv", &[("Accept", "text/csv")]);
    assert_status(&h, 200);
    assert_header(&h, "Content-Type", CSV_CT);
    assert!(h.body.is_empty());
}

#[test]
fn csv_representation_of_a_write() {
    let c = cluster();
    let tag = "repr-csv";
    c.psql(&format!("delete from api.rd_writes where tag = '{tag}'"));
    let r = c.post_json(
        "/rd_writes?select=tag,n,note&order=n",
        &json!([{"tag": tag, "n": 1, "note": "a, b"}, {"tag": tag, "n": 2, "note": null}]),
        &[("Accept", "text/csv"), ("Prefer", "return=representation")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Content-Type", CSV_CT);
    assert_eq!(r.text(), format!("tag,n,note\n{tag},1,\"a, b\"\n{tag},2,"));
    c.psql(&format!("delete from api.rd_writes where tag = '{tag}'"));
}

// ---------------------------------------------------------------------------------------------
// Headers

#[test]
fn content_location_is_the_path_with_sorted_parameters() {
    let c = cluster();
    for (path, expected) in [
        ("/rd_people", "/rd_people"),
        (
            "/rd_people?select=id,name&order=id&id=gt.1",
            "/rd_people?id=gt.1&order=id&select=id%2Cname",
        ),
        (
            "/rd_people?id=gte.2&select=id&id=lte.3",
            "/rd_people?id=gte.2,lte.3&select=id",
        ),
        (
            "/rd_people?name=eq.Dan+(jr.)",
            "/rd_people?name=eq.Dan%20%28jr.%29",
        ),
        (
            "/rd_people?select=*&name=eq.Chlo%C3%A9",
            "/rd_people?name=eq.Chlo%C3%A9&select=%2A",
        ),
        (
            "/rd_people?offset=0&limit=1&order=id.desc",
            "/rd_people?limit=1&offset=0&order=id.desc",
        ),
        ("/rd_people?select", "/rd_people?select="),
        (
            "/rd_people?info-%3E%3Ek=eq.1",
            "/rd_people?info-%3E%3Ek=eq.1",
        ),
        (
            "/rd_people?or=(id.eq.1,id.eq.2)",
            "/rd_people?or=%28id.eq.1%2Cid.eq.2%29",
        ),
    ] {
        let r = c.get(path);
        assert_status(&r, 200);
        assert_header(&r, "Content-Location", expected);
        let h = c.head(path, &[]);
        assert_header(&h, "Content-Location", expected);
    }
    // Writes have none.
    let r = c.post_json(
        "/rd_writes?select=id",
        &json!({"tag": "repr-location"}),
        &[("Prefer", "return=representation")],
    );
    assert_status(&r, 201);
    assert_no_header(&r, "Content-Location");
    c.psql("delete from api.rd_writes where tag = 'repr-location'");
}

#[test]
fn vary_is_sent_once_on_every_success() {
    let c = cluster();
    let tag = "repr-vary";
    seed(c, tag, 1);
    let responses = vec![
        ("GET", c.get("/rd_people")),
        (
            "GET 206",
            c.get_with("/rd_people?limit=1", &[("Prefer", "count=exact")]),
        ),
        ("HEAD", c.head("/rd_people", &[])),
        (
            "GET csv",
            c.get_with("/rd_people", &[("Accept", "text/csv")]),
        ),
        (
            "POST",
            c.post_json("/rd_writes", &json!({"tag": tag, "n": 2}), &[]),
        ),
        (
            "PATCH",
            c.patch_json(
                &format!("/rd_writes?tag=eq.{tag}"),
                &json!({"note": "v"}),
                &[],
            ),
        ),
        (
            "PATCH representation",
            c.patch_json(
                &format!("/rd_writes?tag=eq.{tag}"),
                &json!({"note": "w"}),
                &[("Prefer", "return=representation")],
            ),
        ),
        ("DELETE", c.delete(&format!("/rd_writes?tag=eq.{tag}"), &[])),
    ];
    for (what, r) in &responses {
        assert!(r.status < 300, "{what}: {}", r.describe());
        // Answers with a body may also come gzipped (pgrest.server_compression).
        let vary = if r.body.is_empty() && *what != "HEAD" {
            "Accept, Prefer, Range"
        } else {
            "Accept, Prefer, Range, Accept-Encoding"
        };
        assert_eq!(r.headers_named("Vary"), [vary], "{what}: {}", r.describe());
    }
}

#[test]
fn content_types_of_writes() {
    let c = cluster();
    let tag = "repr-ct";
    c.psql(&format!("delete from api.rd_writes where tag = '{tag}'"));
    let r = c.post_json(
        "/rd_writes?select=n",
        &json!({"tag": tag, "n": 1}),
        &[("Prefer", "return=representation")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Content-Type", JSON_CT);
    assert_eq!(r.json(), json!([{"n": 1}]));
    let r = c.patch_json(
        &format!("/rd_writes?tag=eq.{tag}"),
        &json!({"n": 2}),
        &[("Accept", "text/csv")],
    );
    assert_status(&r, 204);
    assert_no_header(&r, "Content-Type");
    assert!(r.body.is_empty());
    let r = c.delete(
        &format!("/rd_writes?tag=eq.{tag}&select=n"),
        &[
            ("Prefer", "return=representation"),
            ("Accept", "application/vnd.pgrst.array+json;nulls=stripped"),
        ],
    );
    assert_status(&r, 200);
    assert_header(&r, "Content-Type", ARRAY_STRIP_CT);
    assert_eq!(r.json(), json!([{"n": 2}]));
    // A write with an unavailable Accept is refused before anything happens.
    let r = c.post_json(
        "/rd_writes",
        &json!({"tag": tag, "n": 9}),
        &[("Accept", "text/html"), ("Prefer", "return=representation")],
    );
    assert_plain_error(
        &r,
        406,
        "PGRST107",
        "None of these media types are available: text/html",
    );
    assert_eq!(
        c.psql(&format!(
            "select count(*) from api.rd_writes where tag = '{tag}'"
        )),
        "0"
    );
}

#[test]
fn preference_applied_lists_what_was_honoured_in_postgrest_order() {
    let c = cluster();
    let r = c.get_with(
        "/rd_people?limit=1",
        &[("Prefer", "timezone=UTC, handling=lenient, count=exact")],
    );
    assert_status(&r, 206);
    assert_header(
        &r,
        "Preference-Applied",
        "count=exact, handling=lenient, timezone=UTC",
    );
    // Several Prefer headers; the first value of a repeated preference wins.
    let r = c.get_with(
        "/rd_people?limit=1",
        &[
            ("Prefer", "count=exact"),
            ("Prefer", "count=planned, handling=strict"),
        ],
    );
    assert_header(&r, "Preference-Applied", "count=exact, handling=strict");
    // return= and missing= are only for writes.
    let r = c.get_with(
        "/rd_people?limit=1",
        &[("Prefer", "return=representation, missing=default")],
    );
    assert_status(&r, 200);
    assert_no_header(&r, "Preference-Applied");
    // Nothing honoured: no header.
    let r = c.get_with("/rd_people?limit=1", &[("Prefer", "whatever")]);
    assert_status(&r, 200);
    assert_no_header(&r, "Preference-Applied");
}

#[test]
fn plans_explain_the_statement_when_enabled() {
    let c = Cluster::shared_with("read_plan", &[("pgrest.db_plan_enabled", "on")]);
    let r = c.get_with(
        "/todos?id=in.(1,2,3)",
        &[("Accept", "application/vnd.pgrst.plan+json")],
    );
    assert_status(&r, 200);
    assert_header(
        &r,
        "Content-Type",
        "application/vnd.pgrst.plan+json; for=\"application/json\"; charset=utf-8",
    );
    let plan = r.json();
    assert!(
        plan[0]["Plan"]["Total Cost"].as_f64().unwrap_or(0.0) > 0.0,
        "{plan}"
    );
    // Options, and the text format.
    let r = c.get_with(
        "/todos",
        &[(
            "Accept",
            "application/vnd.pgrst.plan+json; options=analyze|buffers",
        )],
    );
    assert_header(
        &r,
        "Content-Type",
        "application/vnd.pgrst.plan+json; for=\"application/json\"; options=analyze|buffers; charset=utf-8",
    );
    let plan = r.json();
    assert!(plan[0]["Plan"]["Actual Rows"].is_number(), "{plan}");
    assert!(plan[0]["Plan"]["Shared Hit Blocks"].is_number(), "{plan}");
    let r = c.get_with(
        "/todos?select=id,users(name)",
        &[(
            "Accept",
            "application/vnd.pgrst.plan+text; for=\"text/csv\"",
        )],
    );
    assert_status(&r, 200);
    assert_header(
        &r,
        "Content-Type",
        "application/vnd.pgrst.plan+text; for=\"text/csv\"; charset=utf-8",
    );
    assert!(r.text().contains("cost="), "{}", r.text());
    // Writes and calls are explained too; without analyze nothing runs.
    let r = c.post_json(
        "/todos",
        &json!({"task": "explained, not inserted"}),
        &[("Accept", "application/vnd.pgrst.plan+json")],
    );
    assert_status(&r, 200);
    assert!(r.json()[0]["Plan"].is_object());
    assert_eq!(
        c.psql("select count(*) from api.todos where task = 'explained, not inserted'"),
        "0"
    );
    let r = c.get_with(
        "/rpc/fn_add?a=1&b=2",
        &[("Accept", "application/vnd.pgrst.plan+json")],
    );
    assert!(r.json()[0]["Plan"].is_object(), "{}", r.describe());
    // Disabled (the default): the media type is not produced.
    let r = cluster().get_with("/todos", &[("Accept", "application/vnd.pgrst.plan+json")]);
    assert_error(&r, 406, "PGRST107");
}
