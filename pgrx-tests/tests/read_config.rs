//! Configuration-dependent behaviour: several exposed schemas with Accept-Profile /
//! Content-Profile, db_extra_search_path, db_tx_end with `Prefer: tx=`, `Prefer:
//! handling`, `timezone` and `max-affected`, OPTIONS, and CORS.
//!
//! Clusters (each with a configuration of its own):
//! - `read_config`: the defaults (one schema, db_tx_end = commit, no CORS allow-list).
//! - `read_multi`: db_schemas = api, rd_other; db_extra_search_path = public, rd_ext;
//!   db_tx_end = commit-allow-override; server_cors_allowed_origins = two origins;
//!   db_pre_request = rd_pre_unqualified (which only sets an X-Pre-Found-In header).
//! - `read_rollback`: db_tx_end = rollback.
//!
//! Expected values come from PostgREST's ApiRequest.hs (getSchema), Response.hs, Cors.hs,
//! ApiRequest/Preferences.hs, MainTx.hs and test/spec/Feature/{CorsSpec,OptionsSpec,
//! RollbackSpec}.hs, Query/{MultipleSchemaSpec,Preferences/*}.hs. Fixtures:
//! pgrx-tests/fixtures/30_read_api.sql. Writes use their own tags or ids.

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("read_config")
}

fn multi() -> &'static Cluster {
    Cluster::shared_with(
        "read_multi",
        &[
            ("pgrest.db_schemas", "api, rd_other"),
            ("pgrest.db_extra_search_path", "public, rd_ext"),
            ("pgrest.db_tx_end", "commit-allow-override"),
            (
                "pgrest.server_cors_allowed_origins",
                "http://allowed.example, http://also.example",
            ),
            ("pgrest.db_pre_request", "rd_pre_unqualified"),
        ],
    )
}

fn rollback_cluster() -> &'static Cluster {
    Cluster::shared_with("read_rollback", &[("pgrest.db_tx_end", "rollback")])
}

fn clear(c: &Cluster, tag: &str) {
    c.psql(&format!("delete from api.rd_writes where tag = '{tag}'"));
}

// ---------------------------------------------------------------------------------------------
// Schemas

#[test]
fn several_schemas_accept_profile_chooses_the_schema_of_reads() {
    let c = multi();
    // Ids >= 100 belong to the write test.
    let r = c.get("/rd_things?order=id&id=lt.100");
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"id": 1, "label": "api one"}, {"id": 2, "label": "api two"}])
    );
    assert_header(&r, "Content-Profile", "api");
    for (profile, expected) in [
        (
            "api",
            json!([{"id": 1, "label": "api one"}, {"id": 2, "label": "api two"}]),
        ),
        ("rd_other", json!([{"id": 1, "label": "other one"}])),
    ] {
        let r = c.get_with(
            "/rd_things?order=id&id=lt.100",
            &[("Accept-Profile", profile)],
        );
        assert_eq!(Value::Array(assert_json_array(&r)), expected, "{profile}");
        assert_header(&r, "Content-Profile", profile);
        let h = c.head("/rd_things", &[("Accept-Profile", profile)]);
        assert_status(&h, 200);
        assert_header(&h, "Content-Profile", profile);
    }
    // A table only the second schema has.
    let r = c.get("/rd_only_other");
    assert_plain_error(
        &r,
        404,
        "PGRST205",
        "Could not find the table 'api.rd_only_other' in the schema cache",
    );
    let r = c.get_with("/rd_only_other", &[("Accept-Profile", "rd_other")]);
    assert_eq!(Value::Array(assert_json_array(&r)), json!([{"id": 7}]));
    // Content-Profile does not choose the schema of a read.
    let r = c.get_with(
        "/rd_things?select=id&id=lt.100",
        &[("Content-Profile", "nope")],
    );
    assert_eq!(assert_json_array(&r).len(), 2);
    assert_header(&r, "Content-Profile", "api");
    // search_path: the chosen schema, then the extra search path.
    let r = c.get_with("/rd_whoami", &[("Accept-Profile", "rd_other")]);
    let rows = assert_json_array(&r);
    let path: Vec<String> = rows[0]["search_path"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect();
    assert_eq!(path, ["rd_other", "public", "rd_ext"], "{}", r.describe());
}

#[test]
fn unexposed_profiles_are_406_pgrst106() {
    let c = multi();
    let hint = "Only the following schemas are exposed: api, rd_other";
    let check = |r: &Response, schema: &str| {
        let body = assert_error_message(r, 406, "PGRST106", &format!("Invalid schema: {schema}"));
        assert_eq!(body["details"], Value::Null, "{}", r.describe());
        assert_eq!(body["hint"], hint, "{}", r.describe());
    };
    check(
        &c.get_with("/rd_things", &[("Accept-Profile", "nope")]),
        "nope",
    );
    check(
        &c.get_with("/rd_things", &[("Accept-Profile", "rd_ext")]),
        "rd_ext",
    );
    check(
        &c.get_with("/rd_things", &[("Accept-Profile", "API")]),
        "API",
    );
    check(
        &c.request("OPTIONS", "/rd_things", &[("Accept-Profile", "nope")], None),
        "nope",
    );
    assert_status(&c.head("/rd_things", &[("Accept-Profile", "nope")]), 406);
    let r = c.post_json(
        "/rd_things",
        &json!({"id": 190, "label": "never"}),
        &[("Content-Profile", "nope")],
    );
    check(&r, "nope");
    let r = c.patch_json(
        "/rd_things?id=eq.1",
        &json!({"label": "never"}),
        &[("Content-Profile", "rd_ext")],
    );
    check(&r, "rd_ext");
    let r = c.delete("/rd_things?id=eq.1", &[("Content-Profile", "nope")]);
    check(&r, "nope");
    assert_eq!(
        c.psql(
            "select (select string_agg(id || label, ',' order by id) from api.rd_things \
             where id < 100 or id = 190) || '|' || (select string_agg(id || label, ',' \
             order by id) from rd_other.rd_things where id < 100 or id = 190)"
        ),
        "1api one,2api two|1other one"
    );
}

#[test]
fn several_schemas_content_profile_chooses_the_schema_of_writes() {
    let c = multi();
    c.psql(
        "delete from rd_other.rd_things where id >= 100; delete from api.rd_things where id >= 100",
    );
    let rep: (&str, &str) = ("Prefer", "return=representation");
    let r = c.post_json(
        "/rd_things",
        &json!({"id": 101, "label": "posted"}),
        &[("Content-Profile", "rd_other"), rep],
    );
    assert_status(&r, 201);
    assert_header(&r, "Content-Profile", "rd_other");
    assert_eq!(r.json(), json!([{"id": 101, "label": "posted"}]));
    let r = c.patch_json(
        "/rd_things?id=eq.101",
        &json!({"label": "patched"}),
        &[("Content-Profile", "rd_other"), rep],
    );
    assert_status(&r, 200);
    assert_header(&r, "Content-Profile", "rd_other");
    assert_eq!(r.json(), json!([{"id": 101, "label": "patched"}]));
    assert_eq!(
        c.psql("select label from rd_other.rd_things where id = 101"),
        "patched"
    );
    assert_eq!(
        c.psql("select count(*) from api.rd_things where id = 101"),
        "0"
    );
    let r = c.delete(
        "/rd_things?id=eq.101",
        &[("Content-Profile", "rd_other"), rep],
    );
    assert_status(&r, 200);
    assert_header(&r, "Content-Profile", "rd_other");
    assert_eq!(
        c.psql("select count(*) from rd_other.rd_things where id = 101"),
        "0"
    );
    // Without a profile the default schema; without a representation no Content-Profile.
    let r = c.post_json("/rd_things", &json!({"id": 102, "label": "default"}), &[]);
    assert_status(&r, 201);
    assert_no_header(&r, "Content-Profile");
    // Accept-Profile does not choose the schema of a write.
    let r = c.post_json(
        "/rd_things",
        &json!({"id": 103, "label": "still api"}),
        &[("Accept-Profile", "nope"), rep],
    );
    assert_status(&r, 201);
    assert_header(&r, "Content-Profile", "api");
    assert_eq!(
        c.psql("select string_agg(id::text, ',' order by id) from api.rd_things where id >= 100"),
        "102,103"
    );
    c.psql("delete from api.rd_things where id >= 100");
}

#[test]
fn one_schema_content_profile_only_when_a_profile_was_asked_for() {
    let c = cluster();
    let r = c.get("/rd_things?select=id");
    assert_eq!(assert_json_array(&r).len(), 2);
    assert_no_header(&r, "Content-Profile");
    let r = c.get_with("/rd_things?select=id", &[("Accept-Profile", "api")]);
    assert_eq!(assert_json_array(&r).len(), 2);
    assert_header(&r, "Content-Profile", "api");
    let r = c.get_with("/rd_things", &[("Accept-Profile", "rd_other")]);
    let body = assert_error_message(&r, 406, "PGRST106", "Invalid schema: rd_other");
    assert_eq!(body["hint"], "Only the following schemas are exposed: api");
}

#[test]
fn extra_search_path_makes_computed_fields_of_other_schemas_usable() {
    let c = multi();
    let r = c.get("/rd_people?select=id,rd_shout&id=in.(1,2)&order=id");
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"id": 1, "rd_shout": "ANN"}, {"id": 2, "rd_shout": "BOB"}])
    );
    let r = c.get("/rd_people?select=id&rd_shout=eq.FAY");
    assert_eq!(ids(&assert_json_array(&r)), [6]);
    let r = c.get("/rd_people?select=id&order=rd_shout.desc");
    assert_eq!(ids(&assert_json_array(&r)), [6, 5, 4, 3, 2, 1]);
    let r = c.get("/rd_people?select=id&or=(rd_shout.like.A*,rd_shout.like.B*)&order=id");
    assert_eq!(ids(&assert_json_array(&r)), [1, 2]);
    // Not part of `*`.
    let r = c.get("/rd_people?id=eq.1");
    assert!(assert_json_array(&r)[0].get("rd_shout").is_none());
    // Without rd_ext in the extra search path it is an unknown column.
    let r = cluster().get("/rd_people?select=id,rd_shout");
    assert_error(&r, 400, "42703");
}

#[test]
fn an_unqualified_pre_request_function_is_resolved_through_the_search_path() {
    // PostgREST: toQi "rd_pre_unqualified" has no schema, and PreQuery.preReqQuery runs
    // `select "rd_pre_unqualified"()` after setting search_path to the request's schema
    // followed by db_extra_search_path.
    let c = multi();
    let r = c.get("/rd_things?select=id");
    assert_status(&r, 200);
    assert_header(&r, "X-Pre-Found-In", "api");
    // rd_other has no such function: the next schema of the search path (public) has one.
    let r = c.get_with("/rd_things?select=id", &[("Accept-Profile", "rd_other")]);
    assert_status(&r, 200);
    assert_header(&r, "X-Pre-Found-In", "public");
}

// ---------------------------------------------------------------------------------------------
// Transaction end

#[test]
fn tx_preference_is_ignored_when_db_tx_end_is_commit() {
    let c = cluster();
    let tag = "cfg-tx-commit";
    clear(c, tag);
    let r = c.post_json(
        "/rd_writes?select=n",
        &json!({"tag": tag, "n": 1}),
        &[("Prefer", "tx=rollback, return=representation")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Preference-Applied", "return=representation");
    assert_eq!(tag_state(c, tag), "1:1=-");
    // tx= is a known preference: not invalid under handling=strict.
    let r = c.get_with(
        "/rd_people?select=id",
        &[("Prefer", "handling=strict, tx=rollback")],
    );
    assert_status(&r, 200);
    assert_header(&r, "Preference-Applied", "handling=strict");
    clear(c, tag);
}

#[test]
fn commit_allow_override_honours_tx_rollback_and_commit() {
    let c = multi();
    let tag = "cfg-tx-override";
    clear(c, tag);
    let r = c.post_json(
        "/rd_writes?select=tag,n",
        &json!({"tag": tag, "n": 1}),
        &[
            ("Prefer", "return=representation"),
            ("Prefer", "tx=rollback"),
        ],
    );
    assert_status(&r, 201);
    assert_eq!(r.json(), json!([{"tag": tag, "n": 1}]));
    assert_header(
        &r,
        "Preference-Applied",
        "return=representation, tx=rollback",
    );
    assert_eq!(tag_state(c, tag), "0:", "tx=rollback left a trace");

    let r = c.post_json(
        "/rd_writes",
        &json!({"tag": tag, "n": 2}),
        &[("Prefer", "tx=commit")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Preference-Applied", "tx=commit");
    let r = c.post_json("/rd_writes", &json!({"tag": tag, "n": 3}), &[]);
    assert_status(&r, 201);
    assert_no_header(&r, "Preference-Applied");
    assert_eq!(tag_state(c, tag), "2:2=-,3=-");

    let r = c.patch_json(
        &format!("/rd_writes?tag=eq.{tag}"),
        &json!({"note": "gone"}),
        &[("Prefer", "tx=rollback")],
    );
    assert_status(&r, 204);
    assert_header(&r, "Content-Range", "0-1/*");
    assert_header(&r, "Preference-Applied", "tx=rollback");
    let r = c.delete(
        &format!("/rd_writes?tag=eq.{tag}"),
        &[("Prefer", "tx=rollback, return=representation")],
    );
    assert_status(&r, 200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(2));
    assert_eq!(tag_state(c, tag), "2:2=-,3=-");
    // Reads report it too.
    let r = c.get_with("/rd_people?select=id&id=eq.1", &[("Prefer", "tx=rollback")]);
    assert_status(&r, 200);
    assert_header(&r, "Preference-Applied", "tx=rollback");
    clear(c, tag);
}

#[test]
fn rollback_leaves_no_trace_and_cannot_be_overridden() {
    let c = rollback_cluster();
    let tag = "cfg-tx-rollback";
    seed(c, tag, 2);
    let r = c.post_json(
        "/rd_writes?select=tag,n",
        &json!({"tag": tag, "n": 3}),
        &[("Prefer", "return=representation")],
    );
    assert_status(&r, 201);
    assert_eq!(r.json(), json!([{"tag": tag, "n": 3}]));
    let r = c.post_json(
        "/rd_writes",
        &json!({"tag": tag, "n": 4}),
        &[("Prefer", "return=representation, tx=commit")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Preference-Applied", "return=representation");
    let r = c.patch_json(
        &format!("/rd_writes?tag=eq.{tag}"),
        &json!({"note": "x"}),
        &[("Prefer", "tx=commit")],
    );
    assert_status(&r, 204);
    assert_no_header(&r, "Preference-Applied");
    let r = c.delete(&format!("/rd_writes?tag=eq.{tag}"), &[]);
    assert_status(&r, 204);
    assert_eq!(tag_state(c, tag), "2:1=-,2=-");
    clear(c, tag);
}

#[test]
fn deferred_constraints_are_checked_even_when_rolling_back() {
    let violation = |r: &Response| {
        let body = assert_error_message(
            r,
            409,
            "23505",
            "duplicate key value violates unique constraint \"rd_deferred_code_key\"",
        );
        assert_eq!(body["details"], "Key (code)=(taken) already exists.");
    };
    // db_tx_end = commit: the violation surfaces at COMMIT.
    let c = cluster();
    violation(&c.post_json("/rd_deferred", &json!({"id": 10, "code": "taken"}), &[]));
    // Prefer: tx=rollback with overriding allowed.
    let c = multi();
    violation(&c.post_json(
        "/rd_deferred",
        &json!({"id": 11, "code": "taken"}),
        &[("Prefer", "tx=rollback")],
    ));
    // db_tx_end = rollback.
    let c = rollback_cluster();
    violation(&c.post_json("/rd_deferred", &json!({"id": 12, "code": "taken"}), &[]));
    for c in [cluster(), multi(), rollback_cluster()] {
        assert_eq!(c.psql("select count(*) from api.rd_deferred"), "1");
    }
}

// ---------------------------------------------------------------------------------------------
// Preferences

#[test]
fn strict_handling_refuses_invalid_preferences_with_pgrst122() {
    let c = cluster();
    let check = |r: &Response, invalid: &str| {
        let body = assert_error_message(
            r,
            400,
            "PGRST122",
            "Invalid preferences given with handling=strict",
        );
        assert_eq!(body["details"], format!("Invalid preferences: {invalid}"));
        assert_eq!(body["hint"], Value::Null);
    };
    check(
        &c.get_with("/rd_people", &[("Prefer", "handling=strict, foo")]),
        "foo",
    );
    check(
        &c.get_with(
            "/rd_people",
            &[("Prefer", "handling=strict"), ("Prefer", "foo, bar")],
        ),
        "foo, bar",
    );
    check(
        &c.get_with("/rd_people", &[("Prefer", "count=bogus, handling=strict")]),
        "count=bogus",
    );
    let tag = "cfg-strict";
    clear(c, tag);
    check(
        &c.post_json(
            "/rd_writes",
            &json!({"tag": tag}),
            &[("Prefer", "return=representation, handling=strict, nope")],
        ),
        "nope",
    );
    assert_eq!(tag_state(c, tag), "0:");
    // Lenient (explicit or by default) ignores them.
    let r = c.get_with(
        "/rd_people?select=id",
        &[("Prefer", "handling=lenient, foo")],
    );
    assert_status(&r, 200);
    assert_header(&r, "Preference-Applied", "handling=lenient");
    let r = c.get_with("/rd_people?select=id", &[("Prefer", "foo")]);
    assert_status(&r, 200);
    assert_no_header(&r, "Preference-Applied");
    // Known preferences are fine under strict handling.
    let r = c.get_with(
        "/rd_people?select=id&limit=1",
        &[(
            "Prefer",
            "handling=strict, count=exact, timezone=UTC, max-affected=5, return=minimal",
        )],
    );
    assert_status(&r, 206);
    assert_header(
        &r,
        "Preference-Applied",
        "count=exact, handling=strict, timezone=UTC",
    );
}

#[test]
fn timezone_preference_changes_timestamptz_output() {
    let c = cluster();
    let get = |prefer: Option<&str>| {
        let headers: Vec<(&str, &str)> = prefer.map(|p| ("Prefer", p)).into_iter().collect();
        c.get_with("/rd_times?order=id", &headers)
    };
    let ats = |r: &Response| -> Vec<String> {
        assert_json_array(r)
            .iter()
            .map(|row| row["at"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let r = get(None);
    assert_eq!(
        ats(&r),
        ["2024-01-15T12:00:00+00:00", "2024-07-04T18:30:00.5+00:00"]
    );
    let r = get(Some("timezone=America/Los_Angeles"));
    assert_eq!(
        ats(&r),
        ["2024-01-15T04:00:00-08:00", "2024-07-04T11:30:00.5-07:00"]
    );
    assert_header(&r, "Preference-Applied", "timezone=America/Los_Angeles");
    let r = get(Some("handling=strict, timezone=Asia/Kolkata"));
    assert_eq!(
        ats(&r),
        ["2024-01-15T17:30:00+05:30", "2024-07-05T00:00:00.5+05:30"]
    );
    assert_header(
        &r,
        "Preference-Applied",
        "handling=strict, timezone=Asia/Kolkata",
    );
    // Transaction-local: the next request is back to the server's zone.
    for _ in 0..4 {
        assert_eq!(ats(&get(None))[0], "2024-01-15T12:00:00+00:00");
    }
    // An invalid zone is an error whatever the handling.
    for prefer in [
        "timezone=Invalid/Zone",
        "handling=strict, timezone=Invalid/Zone",
        "handling=lenient, timezone=Invalid/Zone",
    ] {
        let r = get(Some(prefer));
        assert_plain_error(
            &r,
            400,
            "22023",
            "invalid value for parameter \"TimeZone\": \"Invalid/Zone\"",
        );
    }
}

#[test]
fn max_affected_with_strict_handling() {
    let c = cluster();
    let tag = "cfg-max-affected";
    seed(c, tag, 3);
    let exceeded = |r: &Response| {
        let body = assert_error_message(
            r,
            400,
            "PGRST124",
            "Query result exceeds max-affected preference constraint",
        );
        assert_eq!(body["details"], "The query affects 3 rows");
        assert_eq!(body["hint"], Value::Null);
    };
    let path = format!("/rd_writes?tag=eq.{tag}");
    exceeded(&c.patch_json(
        &path,
        &json!({"note": "x"}),
        &[("Prefer", "handling=strict, max-affected=2")],
    ));
    exceeded(&c.patch_json(
        &path,
        &json!({"note": "x"}),
        &[(
            "Prefer",
            "handling=strict, max-affected=2, return=representation",
        )],
    ));
    exceeded(&c.delete(&path, &[("Prefer", "handling=strict, max-affected=2")]));
    assert_eq!(
        tag_state(c, tag),
        "3:1=-,2=-,3=-",
        "the writes were not rolled back"
    );

    let r = c.patch_json(
        &path,
        &json!({"note": "a"}),
        &[("Prefer", "handling=strict, max-affected=3")],
    );
    assert_status(&r, 204);
    assert_header(&r, "Preference-Applied", "handling=strict, max-affected=3");
    assert_eq!(tag_state(c, tag), "3:1=a,2=a,3=a");
    // Ignored under lenient handling, or without handling.
    let r = c.patch_json(
        &path,
        &json!({"note": "b"}),
        &[("Prefer", "handling=lenient, max-affected=1")],
    );
    assert_status(&r, 204);
    assert_header(&r, "Preference-Applied", "handling=lenient");
    let r = c.patch_json(
        &path,
        &json!({"note": "c"}),
        &[("Prefer", "max-affected=1")],
    );
    assert_status(&r, 204);
    assert_no_header(&r, "Preference-Applied");
    assert_eq!(tag_state(c, tag), "3:1=c,2=c,3=c");
    // Reads do not apply it.
    let r = c.get_with(
        "/rd_people?select=id",
        &[("Prefer", "handling=strict, max-affected=1")],
    );
    assert_eq!(assert_json_array(&r).len(), 6);
    assert_header(&r, "Preference-Applied", "handling=strict");
    let r = c.delete(&path, &[("Prefer", "handling=strict, max-affected=3")]);
    assert_status(&r, 204);
    assert_header(&r, "Preference-Applied", "handling=strict, max-affected=3");
    assert_eq!(tag_state(c, tag), "0:");
}

// ---------------------------------------------------------------------------------------------
// OPTIONS

#[test]
fn options_allow_follows_what_the_relation_can_do() {
    // Allow = what the relation supports (updatable views) narrowed to what the request's
    // role may do (the issue asks for privileges; PostgREST itself ignores them). PUT needs
    // a primary key, as in PostgREST.
    let c = cluster();
    for (path, allow) in [
        // web_anon: SELECT, INSERT, UPDATE, DELETE; a primary key.
        ("/rd_writes", "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"),
        // web_anon: all privileges, no primary key.
        ("/rd_nopk", "OPTIONS,GET,HEAD,POST,PATCH,DELETE"),
        // web_anon: SELECT only.
        ("/rd_people", "OPTIONS,GET,HEAD"),
        ("/rd_people_names", "OPTIONS,GET,HEAD"),
        // A view that is not updatable.
        ("/rd_people_cities", "OPTIONS,GET,HEAD"),
    ] {
        let r = c.request("OPTIONS", path, &[], None);
        assert_status(&r, 200);
        assert_header(&r, "Allow", allow);
        assert_header(&r, "Access-Control-Allow-Origin", "*");
        assert!(r.body.is_empty(), "OPTIONS {path}: {}", r.describe());
    }
    // No content negotiation for OPTIONS.
    let r = c.request("OPTIONS", "/rd_writes", &[("Accept", "text/html")], None);
    assert_status(&r, 200);
    assert_header(&r, "Allow", "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE");
    let r = c.request("OPTIONS", "/rd_nope", &[], None);
    assert_error(&r, 404, "PGRST205");
    // In another exposed schema.
    let r = multi().request(
        "OPTIONS",
        "/rd_things",
        &[("Accept-Profile", "rd_other")],
        None,
    );
    assert_status(&r, 200);
    assert_header(&r, "Allow", "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE");
}

#[test]
fn options_allow_follows_the_privileges_of_the_role() {
    let c = cluster();
    // web_anon has no privilege at all on api.secrets.
    let r = c.request("OPTIONS", "/secrets", &[], None);
    assert_status(&r, 200);
    assert_header(&r, "Allow", "OPTIONS");
    // The role of the JWT decides, not the anonymous role.
    c.psql("grant select, insert on api.secrets to web_user");
    let token = jwt(json!({"role": "web_user"}));
    let r = c.request(
        "OPTIONS",
        "/secrets",
        &[("Authorization", &bearer(&token))],
        None,
    );
    c.psql("revoke select, insert on api.secrets from web_user");
    assert_status(&r, 200);
    assert_header(&r, "Allow", "OPTIONS,GET,HEAD,POST");
}

#[test]
fn options_on_the_root() {
    // Response.hs: SchemaInfoPlan -> respondInfo "OPTIONS,GET,HEAD".
    let r = cluster().request("OPTIONS", "/", &[], None);
    assert_status(&r, 200);
    assert_header(&r, "Allow", "OPTIONS,GET,HEAD");
    assert_header(&r, "Access-Control-Allow-Origin", "*");
    assert!(r.body.is_empty(), "{}", r.describe());
}

#[test]
fn options_responses_carry_vary_like_every_success() {
    // App.hs adds `Vary: Accept, Prefer, Range` to every response built by
    // Response.actionResponse, the OPTIONS one (respondInfo) included.
    let r = cluster().request("OPTIONS", "/rd_people", &[], None);
    assert_status(&r, 200);
    assert_eq!(
        r.headers_named("Vary"),
        ["Accept, Prefer, Range"],
        "{}",
        r.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// CORS

const EXPOSED: &str = "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, \
                       Location, Server, Transfer-Encoding, Range-Unit";
const METHODS: &str = "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD";

#[test]
fn cors_preflight_is_answered_permissively() {
    let c = cluster();
    for path in ["/rd_people", "/", "/rd_nope"] {
        let r = c.request(
            "OPTIONS",
            path,
            &[
                ("Accept", "*/*"),
                ("Origin", "http://example.com"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "Foo,Bar"),
            ],
            None,
        );
        assert_status(&r, 200);
        assert_header(&r, "Access-Control-Allow-Origin", "*");
        assert_header(&r, "Access-Control-Allow-Methods", METHODS);
        assert_header(
            &r,
            "Access-Control-Allow-Headers",
            "Authorization, Foo, Bar, Accept, Accept-Language, Content-Language",
        );
        assert_header(&r, "Access-Control-Max-Age", "86400");
        assert_no_header(&r, "Access-Control-Allow-Credentials");
    }
    let r = c.request(
        "OPTIONS",
        "/rd_people",
        &[
            ("Origin", "http://example.com"),
            ("Access-Control-Request-Method", "PATCH"),
            ("Access-Control-Request-Headers", "content-type, prefer"),
        ],
        None,
    );
    assert_header(
        &r,
        "Access-Control-Allow-Headers",
        "Authorization, content-type, prefer, Accept, Accept-Language, Content-Language",
    );
}

#[test]
fn cors_headers_on_regular_requests_with_an_origin() {
    let c = cluster();
    let origin: (&str, &str) = ("Origin", "http://example.com");
    let r = c.get_with("/rd_people?select=id", &[origin]);
    assert_status(&r, 200);
    assert_header(&r, "Access-Control-Allow-Origin", "*");
    assert_header(&r, "Access-Control-Expose-Headers", EXPOSED);
    assert_no_header(&r, "Access-Control-Allow-Credentials");
    // Errors too.
    let r = c.get_with("/rd_nope", &[origin]);
    assert_error(&r, 404, "PGRST205");
    assert_header(&r, "Access-Control-Allow-Origin", "*");
    assert_header(&r, "Access-Control-Expose-Headers", EXPOSED);
    // And writes.
    let tag = "cfg-cors";
    clear(c, tag);
    let r = c.post_json("/rd_writes", &json!({"tag": tag}), &[origin]);
    assert_status(&r, 201);
    assert_header(&r, "Access-Control-Allow-Origin", "*");
    clear(c, tag);
    // No Origin, no CORS.
    let r = c.get("/rd_people?select=id");
    assert_no_header(&r, "Access-Control-Allow-Origin");
    assert_no_header(&r, "Access-Control-Expose-Headers");
}

#[test]
fn cors_allowed_origins_are_echoed_with_credentials_and_others_get_nothing() {
    let c = multi();
    for origin in ["http://allowed.example", "http://also.example"] {
        let r = c.request(
            "OPTIONS",
            "/rd_people",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "Content-Type"),
            ],
            None,
        );
        assert_status(&r, 200);
        assert_header(&r, "Access-Control-Allow-Origin", origin);
        assert_header(&r, "Access-Control-Allow-Credentials", "true");
        assert_header(&r, "Access-Control-Allow-Methods", METHODS);
        let r = c.get_with("/rd_people?select=id", &[("Origin", origin)]);
        assert_status(&r, 200);
        assert_header(&r, "Access-Control-Allow-Origin", origin);
        assert_header(&r, "Access-Control-Allow-Credentials", "true");
        assert_header(&r, "Access-Control-Expose-Headers", EXPOSED);
    }
    let evil = ("Origin", "http://evil.example");
    let r = c.get_with("/rd_people?select=id", &[evil]);
    assert_status(&r, 200);
    for h in [
        "Access-Control-Allow-Origin",
        "Access-Control-Allow-Credentials",
        "Access-Control-Expose-Headers",
    ] {
        assert_no_header(&r, h);
    }
    // A preflight from another origin is not a CORS answer: it falls through to OPTIONS.
    let r = c.request(
        "OPTIONS",
        "/rd_people",
        &[evil, ("Access-Control-Request-Method", "POST")],
        None,
    );
    assert_status(&r, 200);
    // web_anon may only read rd_people.
    assert_header(&r, "Allow", "OPTIONS,GET,HEAD");
    assert_no_header(&r, "Access-Control-Allow-Methods");
    assert_no_header(&r, "Access-Control-Allow-Credentials");
    assert_ne!(
        r.header("Access-Control-Allow-Origin"),
        Some("http://evil.example")
    );
}
