//! Plain reads of the fixture relations (pgrx-tests/fixtures/10_types.sql): every column type,
//! nulls, unicode, odd identifiers, a view, a materialized view, tables without a primary key
//! and with a composite one. The body of `GET /<rel>` must be what PostgreSQL's `json_agg`
//! renders for the same rows, plus literal spot checks so the comparison is not circular.

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("fixtures")
}

/// `json_agg` of a query, run by the superuser.
fn sql_json(query: &str) -> Value {
    let text = cluster().psql(&format!(
        "select coalesce(json_agg(t), '[]') from ({query}) t"
    ));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("psql gave invalid JSON ({e}): {text}"))
}

#[track_caller]
fn get_array(path: &str) -> Value {
    Value::Array(assert_json_array(&cluster().get(path)))
}

#[test]
fn every_column_type_renders_like_postgres() {
    let c = cluster();
    let r = c.get("/kitchen_sink?order=id");
    let rows = Value::Array(assert_json_array(&r));
    assert_header(&r, "Content-Range", "0-4/*");
    assert_eq!(rows, sql_json("select * from api.kitchen_sink order by id"));

    let text = r.text();
    // Numbers keep every digit (no float round trip).
    assert!(text.contains("9007199254740993"), "{text}");
    assert!(text.contains("12345678901234567890.123456789"), "{text}");
    let first = &rows[0];
    assert_eq!(first["amount"], json!(10.50));
    assert_eq!(first["flag"], true);
    assert_eq!(first["born"], "2000-01-01");
    assert_eq!(first["seen_at"], "2024-05-06T07:08:09+00:00");
    assert_eq!(first["doc"]["nested"]["b"], json!([1, 2, {"c": "deep"}]));
    assert_eq!(
        first["raw_doc"],
        json!({"k": "v", "list": [1, "two", null]})
    );
    assert_eq!(first["tags"], json!(["red", "green"]));
    assert_eq!(first["scores"], json!([1, 2, 3]));
    assert_eq!(first["span"], "[1,10)");
    assert_eq!(
        first["period"],
        "[\"2024-01-01 00:00:00+00\",\"2024-02-01 00:00:00+00\")"
    );
    assert_eq!(
        first["address"],
        json!({"street": "1 Main St", "city": "Springfield", "zip": "12345"})
    );
    assert_eq!(first["uid"], "00000000-0000-0000-0000-000000000001");
    assert!(
        first["search"].as_str().unwrap().contains("'quick':2"),
        "{first}"
    );

    let second = &rows[1];
    assert_eq!(second["name"], "Zoë 日本語 🚀");
    assert_eq!(
        second["tags"],
        json!(["with space", "with,comma", "quote\"d", "back\\slash"])
    );
    assert_eq!(second["scores"], json!([]));
    assert_eq!(second["span"], "empty");
    assert_eq!(
        second["address"],
        json!({"street": null, "city": "Paris", "zip": null})
    );
    assert_eq!(second["doc"]["unicode"], "ñandú ✓");

    // Row 3 is SQL NULL everywhere but id and name; row 4 has JSON null and empty strings.
    let third = rows[2].as_object().unwrap();
    for (key, value) in third {
        if key != "id" && key != "name" {
            assert_eq!(value, &Value::Null, "column {key} of row 3");
        }
    }
    assert_eq!(rows[3]["name"], "O'Brien \"quoted\" \\ back");
    assert_eq!(rows[3]["raw_doc"], Value::Null);
    assert_eq!(rows[3]["doc"], json!([{"k": 1}, {"k": 2}]));
    assert_eq!(rows[3]["tags"], json!([null, ""]));
    assert_eq!(rows[3]["scores"], json!([-1, null, 2147483647]));
    assert_eq!(
        rows[3]["address"],
        json!({"street": "", "city": "", "zip": ""})
    );
}

#[test]
fn selected_columns_and_filters_on_the_typed_table() {
    assert_eq!(
        get_array("/kitchen_sink?select=id,name&order=id.desc&limit=2"),
        json!([{"id": 5, "name": "epsilon"}, {"id": 4, "name": "O'Brien \"quoted\" \\ back"}])
    );
    assert_eq!(
        get_array(
            "/kitchen_sink?select=id&name=eq.Zo%C3%AB%20%E6%97%A5%E6%9C%AC%E8%AA%9E%20%F0%9F%9A%80"
        ),
        json!([{"id": 2}])
    );
    assert_eq!(
        get_array("/kitchen_sink?select=id&name=eq.O'Brien%20%22quoted%22%20%5C%20back"),
        json!([{"id": 4}])
    );
    assert_eq!(
        get_array("/kitchen_sink?select=id&amount=is.null"),
        json!([{"id": 3}])
    );
    assert_eq!(
        get_array("/kitchen_sink?select=id&amount=gt.100"),
        json!([{"id": 2}])
    );
    assert_eq!(
        get_array("/kitchen_sink?select=id&flag=is.true&order=id"),
        json!([{"id": 1}, {"id": 4}])
    );
    assert_eq!(
        get_array("/kitchen_sink?select=id&born=lt.1999-12-31&order=id"),
        json!([{"id": 5}])
    );
    assert_eq!(
        get_array("/kitchen_sink?select=id&uid=eq.00000000-0000-0000-0000-000000000004"),
        json!([{"id": 4}])
    );
    assert_eq!(
        get_array("/kitchen_sink?select=id&order=ratio.desc.nullslast,id&limit=3"),
        json!([{"id": 4}, {"id": 5}, {"id": 1}])
    );
    assert_eq!(
        get_array("/kitchen_sink?select=label:name,addr:address&id=eq.5"),
        json!([{"label": "epsilon", "addr": {"street": "9 Rue de la Paix", "city": "Paris", "zip": "75002"}}])
    );
}

#[test]
fn views_and_materialized_views() {
    assert_eq!(
        get_array("/kitchen_sink_view?order=id"),
        sql_json("select * from api.kitchen_sink_view order by id")
    );
    assert_eq!(
        get_array("/kitchen_sink_view?select=id,doc_a&order=id"),
        json!([
            {"id": 1, "doc_a": 1},
            {"id": 2, "doc_a": 2},
            {"id": 3, "doc_a": null},
            {"id": 4, "doc_a": null}
        ])
    );
    assert_eq!(
        get_array("/tag_counts?order=tag"),
        sql_json("select * from api.tag_counts order by tag")
    );
    assert_eq!(
        get_array("/tag_counts?tag=eq.with,comma"),
        json!([{"tag": "with,comma", "n": 1}])
    );
    assert_eq!(
        get_array("/tag_counts?tag=in.(%22with,comma%22,red)&order=tag"),
        json!([
            {"tag": "red", "n": 1},
            {"tag": "with,comma", "n": 1}
        ])
    );
}

#[test]
fn odd_identifiers() {
    let table = "/odd%20table%20%E2%9C%93";
    assert_eq!(
        get_array(&format!("{table}?order=id")),
        sql_json("select * from api.\"odd table ✓\" order by id")
    );
    let rows = get_array(&format!("{table}?order=id"));
    assert_eq!(rows[0]["quo\"ted"], "a \"quote\"");
    assert_eq!(rows[0]["Column With Space"], "first");
    assert_eq!(rows[1]["ünïcødé"], "日本");
    assert_eq!(rows[0]["dotted.name"], 10);
    assert_eq!(
        get_array(&format!(
            "{table}?select=id,%22dotted.name%22,%C3%BCn%C3%AFc%C3%B8d%C3%A9,%22Column%20With%20Space%22&id=eq.2"
        )),
        json!([{"id": 2, "dotted.name": 20, "ünïcødé": "日本", "Column With Space": "second"}])
    );
    assert_eq!(
        get_array(&format!(
            "{table}?select=id&%22Column%20With%20Space%22=eq.first"
        )),
        json!([{"id": 1}])
    );
    assert_eq!(
        get_array(&format!(
            "{table}?select=id&%C3%BCn%C3%AFc%C3%B8d%C3%A9=eq.%E6%97%A5%E6%9C%AC"
        )),
        json!([{"id": 2}])
    );
    assert_eq!(
        get_array(&format!(
            "{table}?select=id&%22dotted.name%22=gte.20&order=id"
        )),
        json!([{"id": 2}])
    );
}

#[test]
fn tables_without_and_with_composite_keys() {
    assert_eq!(
        get_array("/event_log?order=at,kind"),
        sql_json("select * from api.event_log order by at, kind")
    );
    let r = cluster().get("/event_log?kind=eq.tick");
    assert_eq!(assert_json_array(&r).len(), 2);
    assert_header(&r, "Content-Range", "0-1/*");
    assert_eq!(
        get_array("/memberships?order=team_id,member"),
        sql_json("select * from api.memberships order by team_id, member")
    );
    assert_eq!(
        get_array("/memberships?team_id=eq.1&member=eq.bob&select=role,joined_on"),
        json!([{"role": "member", "joined_on": "2021-06-15"}])
    );
    assert_eq!(
        get_array("/teams?order=id&select=name"),
        json!([{"name": "red"}, {"name": "blue"}, {"name": "empty"}])
    );
}
