//! SQL snapshots: representative requests, parsed, planned against the fixture cache and
//! rendered. The SQL is deterministic, so any change to it shows up here for review.

use super::*;
use crate::api_request::{user_api_request, RawRequest};
use crate::config::AppConfig;
use crate::error::Error;
use crate::plan::{action_plan, ActionPlan, TypeRef, TypeResolver};
use crate::schema_cache::fixtures;

struct FakeTypes;

impl TypeResolver for FakeTypes {
    fn resolve(&mut self, name: &str) -> Result<TypeRef, Error> {
        let name = match name {
            "text" => "text",
            "int" | "integer" => "int4",
            "double precision" => "float8",
            other => return Err(Error::Internal(format!("unknown type {other}"))),
        };
        Ok(TypeRef {
            schema: "pg_catalog".into(),
            name: name.into(),
        })
    }
}

fn cfg() -> AppConfig {
    AppConfig::test_default()
}

fn plan_with(
    cfg: &AppConfig,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<ActionPlan, Error> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let headers: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
        .collect();
    let raw = RawRequest {
        method,
        path,
        query,
        headers: &headers,
        body: body.as_bytes(),
    };
    let api = user_api_request(cfg, &raw)?;
    action_plan(&api, cfg, &fixtures::cache(), &mut FakeTypes)
}

fn plan(method: &str, url: &str, body: &str) -> ActionPlan {
    plan_with(&cfg(), method, url, &[], body).unwrap()
}

fn read_sql(url: &str) -> Statement {
    read_sql_with(url, &[])
}

fn read_sql_with(url: &str, headers: &[(&str, &str)]) -> Statement {
    match plan_with(&cfg(), "GET", url, headers, "").unwrap() {
        ActionPlan::Read {
            read,
            aggregate,
            count,
            max_rows,
            ..
        } => read_statement(&read, aggregate, count, max_rows),
        other => panic!("not a read: {other:?}"),
    }
}

fn write_sql(method: &str, url: &str, prefer: &str, body: &str) -> Statement {
    match plan_with(&cfg(), method, url, &[("Prefer", prefer)], body).unwrap() {
        ActionPlan::Mutate {
            mutate,
            read,
            aggregate,
            ..
        } => mutate_statement(&mutate, &read, aggregate),
        other => panic!("not a write: {other:?}"),
    }
}

const TAIL: &str = "NULL::text AS location, coalesce(json_agg(_postgrest_t), '[]') AS body, \
    nullif(current_setting('response.headers', true), '') AS response_headers, \
    nullif(current_setting('response.status', true), '') AS response_status FROM pgrst_source _postgrest_t";

#[test]
fn get_by_primary_key() {
    let s = read_sql("/todos?id=eq.5");
    assert_eq!(
        s.sql,
        format!(
            "WITH pgrst_source AS (SELECT \"api\".\"todos\".* FROM \"api\".\"todos\" WHERE \"api\".\"todos\".\"id\" = \
             $1::\"pg_catalog\".\"int4\") SELECT NULL::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS \
             page_total, {TAIL}"
        )
    );
    assert_eq!(s.params, vec!["5"]);
}

#[test]
fn select_filters_order_and_page() {
    let s = read_sql(
        "/todos?select=id,title:task,due::text&done=is.false&task=like.*milk*&id=in.(1,2,\"3\")&order=due.desc.nullslast,id&limit=10&offset=20",
    );
    assert_eq!(
        s.sql,
        format!(
            "WITH pgrst_source AS (SELECT \"api\".\"todos\".\"id\", \"api\".\"todos\".\"task\" AS \"title\", \
             CAST(\"api\".\"todos\".\"due\" AS \"pg_catalog\".\"text\") FROM \"api\".\"todos\" WHERE \
             \"api\".\"todos\".\"done\" IS FALSE AND \"api\".\"todos\".\"task\" LIKE $1::\"pg_catalog\".\"text\" AND \
             \"api\".\"todos\".\"id\" = ANY($2::\"pg_catalog\".\"_int4\") ORDER BY \"api\".\"todos\".\"due\" DESC NULLS LAST, \
             \"api\".\"todos\".\"id\" LIMIT $3::pg_catalog.int8 OFFSET $4::pg_catalog.int8) SELECT NULL::bigint AS \
             total_result_set, pg_catalog.count(_postgrest_t) AS page_total, {TAIL}"
        )
    );
    assert_eq!(s.params, vec!["%milk%", r#"{"1","2","3"}"#, "10", "20"]);
}

#[test]
fn logic_trees_json_paths_and_fts() {
    let s = read_sql("/todos?select=data->a->>b&or=(id.gt.5,not.and(done.is.true,data->>x.eq.y))&tsv=fts(english).milk&task=plfts.cold milk");
    assert_eq!(
        s.sql,
        format!(
            "WITH pgrst_source AS (SELECT \"api\".\"todos\".\"data\"->$1->>$2 AS \"b\" FROM \"api\".\"todos\" WHERE \
             \"api\".\"todos\".\"tsv\" @@ to_tsquery($3::\"pg_catalog\".\"regconfig\", $4) AND \
             to_tsvector(\"api\".\"todos\".\"task\") @@ plainto_tsquery($5) AND (\"api\".\"todos\".\"id\" > \
             $6::\"pg_catalog\".\"int4\" OR NOT (\"api\".\"todos\".\"done\" IS TRUE AND \"api\".\"todos\".\"data\"->>$7 = \
             $8::\"pg_catalog\".\"text\"))) SELECT NULL::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS \
             page_total, {TAIL}"
        )
    );
    assert_eq!(
        s.params,
        vec!["a", "b", "english", "milk", "cold milk", "5", "x", "y"]
    );
}

#[test]
fn injection_attempts_stay_data() {
    let s = read_sql("/todos?select=%22x%5C%22y%22:id&id=eq.1%3Bdrop table todos&order=id.desc");
    assert!(
        s.sql.contains("\"api\".\"todos\".\"id\" AS \"x\"\"y\""),
        "{}",
        s.sql
    );
    assert_eq!(s.params, vec!["1;drop table todos"]);
    let s = read_sql("/todos?%22a%5C%22b%22=eq.1");
    assert!(
        s.sql.contains("\"api\".\"todos\".\"a\"\"b\" = $1"),
        "{}",
        s.sql
    );
}

#[test]
fn quantifiers_computed_fields_and_distinct() {
    let s = read_sql(
        "/todos?select=id,task_upper&task=like(any).{a*,*b}&id=gt(all).{1,2}&task_upper=isdistinct.X&order=task_upper.asc",
    );
    assert_eq!(
        s.sql,
        format!(
            "WITH pgrst_source AS (SELECT \"api\".\"todos\".\"id\", \"api\".\"todos\".\"task_upper\" FROM \
             \"api\".\"todos\" WHERE \"api\".\"todos\".\"task\" LIKE ANY($1::\"pg_catalog\".\"_text\") AND \
             \"api\".\"todos\".\"id\" > ALL($2::\"pg_catalog\".\"_int4\") AND \"api\".\"todos\".\"task_upper\" IS \
             DISTINCT FROM $3::\"pg_catalog\".\"text\" ORDER BY \"api\".\"todos\".\"task_upper\" ASC) SELECT NULL::bigint \
             AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, {TAIL}"
        )
    );
    assert_eq!(s.params, vec!["{a%,%b}", "{1,2}", "X"]);
}

#[test]
fn paths_on_non_json_columns_go_through_to_jsonb() {
    let s = read_sql("/todos?select=tags->0&tags->>1=eq.x&data->a=cs.{}");
    assert!(
        s.sql.starts_with(
            "WITH pgrst_source AS (SELECT to_jsonb(\"api\".\"todos\".\"tags\")->$1::pg_catalog.int4 AS \"tags\" FROM \
             \"api\".\"todos\" WHERE to_jsonb(\"api\".\"todos\".\"tags\")->>$2::pg_catalog.int4 = \
             $3::\"pg_catalog\".\"text\" AND \"api\".\"todos\".\"data\"->$4 @> $5::\"pg_catalog\".\"jsonb\")"
        ),
        "{}",
        s.sql
    );
    assert_eq!(s.params, vec!["0", "1", "x", "a", "{}"]);
}

#[test]
fn representations_change_only_the_body() {
    let body = |accept: &str| {
        let sql = read_sql_with("/todos?id=eq.1", &[("Accept", accept)]).sql;
        let start = sql.find("AS location, ").unwrap() + "AS location, ".len();
        let end = sql.find(" AS body").unwrap();
        sql[start..end].to_string()
    };
    assert_eq!(
        body("application/json"),
        "coalesce(json_agg(_postgrest_t), '[]')"
    );
    assert_eq!(
        body("application/vnd.pgrst.object+json"),
        "coalesce(json_agg(_postgrest_t)->0, 'null')"
    );
    assert_eq!(
        body("application/vnd.pgrst.array+json;nulls=stripped"),
        "coalesce(json_strip_nulls(json_agg(_postgrest_t)), '[]')"
    );
    assert!(body("text/csv").contains("string_agg(substring(_postgrest_t::text, 2"));
    assert_eq!(
        body("text/html, */*;q=0.5"),
        "coalesce(json_agg(_postgrest_t), '[]')"
    );
}

#[test]
fn exact_count_with_a_page_counts_separately() {
    let prefer = [("Prefer", "count=exact")];
    let s = read_sql_with("/todos?done=is.true&limit=1", &prefer);
    assert!(
        s.sql.contains(
            ", pgrst_source_count AS (SELECT 1 FROM \"api\".\"todos\" WHERE \"api\".\"todos\".\"done\" IS TRUE) \
             SELECT (SELECT pg_catalog.count(*) FROM pgrst_source_count) AS total_result_set"
        ),
        "{}",
        s.sql
    );
    // Without a page the page count is the total: no second scan.
    let s = read_sql_with("/todos", &prefer);
    assert!(!s.sql.contains("pgrst_source_count"), "{}", s.sql);
    assert!(
        s.sql
            .contains("SELECT pg_catalog.count(_postgrest_t) AS total_result_set"),
        "{}",
        s.sql
    );
}

#[test]
fn insert_with_representation() {
    let s = write_sql(
        "POST",
        "/todos?select=id,task",
        "return=representation",
        r#"{"task":"a","done":true}"#,
    );
    assert_eq!(
        s.sql,
        "WITH pgrst_source AS (INSERT INTO \"api\".\"todos\"(\"done\", \"task\") SELECT pgrst_body.\"done\", \
         pgrst_body.\"task\" FROM json_to_recordset($1::json) AS pgrst_body(\"done\" \"pg_catalog\".\"bool\", \"task\" \
         \"pg_catalog\".\"text\") RETURNING \"api\".\"todos\".\"id\", \"api\".\"todos\".\"task\") SELECT NULL::bigint AS \
         total_result_set, pg_catalog.count(_postgrest_t) AS page_total, NULL::text AS location, \
         coalesce(json_agg(_postgrest_t), '[]') AS body, nullif(current_setting('response.headers', true), '') AS \
         response_headers, nullif(current_setting('response.status', true), '') AS response_status FROM (SELECT \
         \"todos\".\"id\", \"todos\".\"task\" FROM pgrst_source AS \"todos\") _postgrest_t"
    );
    assert_eq!(s.params, vec![r#"[{"task":"a","done":true}]"#]);
}

#[test]
fn insert_headers_only_returns_the_key() {
    let s = write_sql("POST", "/todos", "return=headers-only", r#"[{"task":"a"}]"#);
    assert!(
        s.sql.contains("RETURNING \"api\".\"todos\".\"id\")"),
        "{}",
        s.sql
    );
    assert!(
        s.sql
            .contains("WHERE j.key = ANY($2::pg_catalog._text)) END AS location"),
        "{}",
        s.sql
    );
    assert_eq!(s.params[1], r#"{"id"}"#);
}

#[test]
fn insert_minimal_and_empty_objects() {
    let s = write_sql("POST", "/todos", "return=minimal", r#"{"task":"a"}"#);
    assert!(s.sql.contains("RETURNING 1) SELECT"), "{}", s.sql);
    assert!(s.sql.contains("NULL::text AS body"), "{}", s.sql);
    let s = write_sql("POST", "/todos", "", "{}");
    assert!(s.sql.starts_with("WITH pgrst_source AS (INSERT INTO \"api\".\"todos\" SELECT FROM json_array_elements($1::json)"));
    assert_eq!(s.params, vec!["[{}]"]);
}

#[test]
fn update_and_delete() {
    let s = write_sql("PATCH", "/todos?id=lt.3", "", r#"{"done":true}"#);
    assert_eq!(
        s.sql,
        "WITH pgrst_source AS (UPDATE \"api\".\"todos\" SET \"done\" = pgrst_body.\"done\" FROM \
         json_to_recordset($1::json) AS pgrst_body(\"done\" \"pg_catalog\".\"bool\") WHERE \"api\".\"todos\".\"id\" < \
         $2::\"pg_catalog\".\"int4\" RETURNING 1) SELECT NULL::bigint AS total_result_set, pg_catalog.count(_postgrest_t) \
         AS page_total, NULL::text AS location, NULL::text AS body, nullif(current_setting('response.headers', true), '') \
         AS response_headers, nullif(current_setting('response.status', true), '') AS response_status FROM (SELECT * FROM \
         pgrst_source) _postgrest_t"
    );
    let s = write_sql("PATCH", "/todos?id=lt.3", "", "{}");
    assert!(
        s.sql
            .starts_with("WITH pgrst_source AS (SELECT NULL FROM \"api\".\"todos\" WHERE false)"),
        "{}",
        s.sql
    );
    let s = write_sql("DELETE", "/todos?done=is.true", "return=representation", "");
    assert!(
        s.sql.starts_with(
            "WITH pgrst_source AS (DELETE FROM \"api\".\"todos\" WHERE \"api\".\"todos\".\"done\" IS TRUE RETURNING \
             \"api\".\"todos\".*)"
        ),
        "{}",
        s.sql
    );
}

#[test]
fn limited_update_and_delete() {
    let s = write_sql("DELETE", "/todos?id=gt.0&order=id&limit=1&offset=2", "", "");
    assert_eq!(
        s.sql,
        "WITH pgrst_source AS (DELETE FROM \"api\".\"todos\" USING (SELECT \"api\".\"todos\".\"id\" AS \"pgrst_k0\" \
         FROM \"api\".\"todos\" WHERE \"api\".\"todos\".\"id\" > $1::\"pg_catalog\".\"int4\" ORDER BY \
         \"api\".\"todos\".\"id\" LIMIT $2::pg_catalog.int8 OFFSET $3::pg_catalog.int8) AS pgrst_affected_rows WHERE \
         \"api\".\"todos\".\"id\" > $4::\"pg_catalog\".\"int4\" AND \"api\".\"todos\".\"id\" = \
         pgrst_affected_rows.\"pgrst_k0\" RETURNING 1) SELECT NULL::bigint AS total_result_set, \
         pg_catalog.count(_postgrest_t) AS page_total, NULL::text AS location, NULL::text AS body, \
         nullif(current_setting('response.headers', true), '') AS response_headers, \
         nullif(current_setting('response.status', true), '') AS response_status FROM (SELECT * FROM pgrst_source) \
         _postgrest_t"
    );
    assert_eq!(s.params, vec!["0", "1", "2", "0"]);
    let s = write_sql(
        "PATCH",
        "/todos?order=due.desc,id&limit=2",
        "return=representation",
        r#"{"done":true}"#,
    );
    assert!(
        s.sql.contains(
            "FROM json_to_recordset($1::json) AS pgrst_body(\"done\" \"pg_catalog\".\"bool\"), (SELECT \
             \"api\".\"todos\".\"due\" AS \"pgrst_k0\", \"api\".\"todos\".\"id\" AS \"pgrst_k1\" FROM \"api\".\"todos\" \
             ORDER BY \"api\".\"todos\".\"due\" DESC, \"api\".\"todos\".\"id\" LIMIT $2::pg_catalog.int8 OFFSET \
             $3::pg_catalog.int8) AS pgrst_affected_rows WHERE \"api\".\"todos\".\"due\" = pgrst_affected_rows.\"pgrst_k0\" \
             AND \"api\".\"todos\".\"id\" = pgrst_affected_rows.\"pgrst_k1\" RETURNING \"api\".\"todos\".*"
        ),
        "{}",
        s.sql
    );
    // Without limit/offset, an order only orders the representation.
    let s = write_sql("DELETE", "/todos?order=id", "", "");
    assert!(!s.sql.contains("pgrst_affected_rows"), "{}", s.sql);
    // A limit without an order would change arbitrary rows: PGRST109.
    for method in ["PATCH", "DELETE"] {
        let e = plan_with(&cfg(), method, "/todos?limit=1", &[], "{}").unwrap_err();
        assert_eq!(
            (e.code().as_str(), e.status(), e.message()),
            (
                "PGRST109",
                400,
                "A 'limit' was applied without an explicit 'order'".to_string()
            )
        );
        let e = plan_with(&cfg(), method, "/todos?offset=1", &[], "{}").unwrap_err();
        assert_eq!(e.code(), "PGRST109");
    }
}

#[test]
fn planner_errors() {
    let err = |m: &str, u: &str, b: &str| plan_with(&cfg(), m, u, &[], b).unwrap_err();
    assert_eq!(err("GET", "/todo", "").code(), "PGRST205");
    assert_eq!(
        err("GET", "/todo", "").hint(),
        Some(serde_json::json!("Perhaps you meant the table 'api.todos'"))
    );
    assert_eq!(
        err("GET", "/todos?select=id::nosuchtype", "").code(),
        "PGRSTX00"
    );
    assert_eq!(
        err("GET", "/todos?select=amount.sum()", "").code(),
        "PGRST123"
    );
    assert_eq!(err("POST", "/todos", r#"{"nope":1}"#).code(), "PGRST204");
    assert_eq!(err("GET", "/todos?users.id=eq.1", "").code(), "PGRST108");
    assert_eq!(
        err("GET", "/todos?select=id,nothing(name)", "").code(),
        "PGRST200"
    );
    let e = plan_with(&cfg(), "GET", "/todos", &[("Accept", "text/html")], "").unwrap_err();
    assert_eq!((e.code(), e.status()), ("PGRST107".to_string(), 406));
    let e = plan_with(
        &cfg(),
        "GET",
        "/todos",
        &[("Prefer", "handling=strict, foo=bar")],
        "",
    )
    .unwrap_err();
    assert_eq!(e.code(), "PGRST122");
}

#[test]
fn options_lists_what_the_relation_allows() {
    use crate::plan::Privileges;
    let all = Privileges {
        select: true,
        insert: true,
        update: true,
        delete: true,
    };
    let allow = |url: &str, p: Privileges| match plan("OPTIONS", url, "").with_privileges(p) {
        ActionPlan::Info { allow } => allow,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        allow("/todos", all),
        "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
    );
    assert_eq!(
        allow(
            "/todos",
            Privileges {
                insert: false,
                delete: false,
                ..all
            }
        ),
        "OPTIONS,GET,HEAD,PATCH"
    );
    assert_eq!(
        allow(
            "/todos",
            Privileges {
                select: false,
                ..all
            }
        ),
        "OPTIONS,POST,PATCH,DELETE"
    );
    assert_eq!(allow("/todos_view", all), "OPTIONS,GET,HEAD");
    assert_eq!(allow("/", all), "OPTIONS,GET,HEAD");
    assert_eq!(
        privileges_statement("api", "to\"dos").params,
        vec![r#""api"."to""dos""#.to_string()]
    );
}

#[test]
fn max_rows_caps_reads() {
    let mut c = cfg();
    c.db_max_rows = Some(2);
    match plan_with(&c, "GET", "/todos?limit=10", &[], "").unwrap() {
        ActionPlan::Read { read, .. } => assert_eq!(read.range.limit(), Some(2)),
        other => panic!("{other:?}"),
    }
}

mod embedding {
    use super::*;

    fn err(url: &str) -> Error {
        plan_with(&cfg(), "GET", url, &[], "").unwrap_err()
    }

    #[test]
    fn many_to_one_is_a_lateral_row() {
        let s = read_sql("/todos?select=id,owner:users!user_id(name)");
        assert_eq!(
            s.sql,
            r#"WITH pgrst_source AS (SELECT "api"."todos"."id", row_to_json("todos_owner_1".*)::jsonb AS "owner" FROM "api"."todos" LEFT JOIN LATERAL (SELECT "users_1"."name" FROM "api"."users" AS "users_1" WHERE "users_1"."id" = "api"."todos"."user_id") AS "todos_owner_1" ON TRUE) SELECT NULL::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, NULL::text AS location, coalesce(json_agg(_postgrest_t), '[]') AS body, nullif(current_setting('response.headers', true), '') AS response_headers, nullif(current_setting('response.status', true), '') AS response_status FROM pgrst_source _postgrest_t"#
        );
    }

    #[test]
    fn one_to_many_is_an_aggregated_array_with_its_own_filters_order_and_range() {
        let s = read_sql(
            "/users?select=name,todos!todos_user_id_fkey(id)&todos.done=is.false&todos.order=id.desc&todos.limit=2",
        );
        assert_eq!(
            s.sql,
            r#"WITH pgrst_source AS (SELECT "api"."users"."name", COALESCE("users_todos_1"."users_todos_1", '[]') AS "todos" FROM "api"."users" LEFT JOIN LATERAL (SELECT json_agg("users_todos_1")::jsonb AS "users_todos_1" FROM (SELECT "todos_1"."id" FROM "api"."todos" AS "todos_1" WHERE "todos_1"."done" IS FALSE AND "todos_1"."user_id" = "api"."users"."id" ORDER BY "todos_1"."id" DESC LIMIT $1::pg_catalog.int8 OFFSET $2::pg_catalog.int8) AS "users_todos_1") AS "users_todos_1" ON TRUE) SELECT NULL::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, NULL::text AS location, coalesce(json_agg(_postgrest_t), '[]') AS body, nullif(current_setting('response.headers', true), '') AS response_headers, nullif(current_setting('response.status', true), '') AS response_status FROM pgrst_source _postgrest_t"#
        );
        assert_eq!(s.params, vec!["2", "0"]);
    }

    #[test]
    fn many_to_many_joins_the_junction() {
        let s = read_sql("/films?select=title,actors(name)");
        assert!(
            s.sql.contains(r#"FROM (SELECT "actors_1"."name" FROM "api"."actors" AS "actors_1", "api"."roles" WHERE "actors_1"."id" = "api"."roles"."actor_id" AND "api"."roles"."film_id" = "api"."films"."id") AS "films_actors_1""#),
            "{}",
            s.sql
        );
    }

    #[test]
    fn inner_joins_and_null_filters_also_shape_the_count() {
        let s = read_sql_with(
            "/users?select=id,todos!todos_user_id_fkey!inner(id),reviews:todos!reviewer_id()&reviews=is.null&limit=5",
            &[("Prefer", "count=exact")],
        );
        assert!(
            s.sql
                .contains(r#"INNER JOIN LATERAL (SELECT json_agg("users_todos_1")::jsonb"#)
                && s.sql
                    .contains(r#") AS "users_todos_1" ON "users_todos_1" IS NOT NULL"#)
                && s.sql
                    .contains(r#"WHERE "users_reviews_1" IS NOT DISTINCT FROM NULL"#),
            "{}",
            s.sql
        );
        assert!(
            s.sql.contains(r#"pgrst_source_count AS (SELECT 1 FROM "api"."users" WHERE NOT EXISTS (SELECT 1 FROM "api"."todos" AS "todos_1" WHERE "todos_1"."reviewer_id" = "api"."users"."id") AND EXISTS (SELECT 1 FROM "api"."todos" AS "todos_1" WHERE "todos_1"."user_id" = "api"."users"."id"))"#),
            "{}",
            s.sql
        );
        // The empty embed outputs nothing.
        assert!(!s.sql.contains(r#"AS "reviews""#), "{}", s.sql);
    }

    #[test]
    fn spreads_lift_fields_into_the_parent() {
        let s = read_sql("/todos?select=id,...users!user_id(owner:name)");
        assert!(
            s.sql.starts_with(r#"WITH pgrst_source AS (SELECT "api"."todos"."id", "todos_users_1"."owner" FROM "api"."todos" LEFT JOIN LATERAL (SELECT "users_1"."name" AS "owner" FROM"#),
            "{}",
            s.sql
        );
        // To-many: each field is an array, `*` is the columns.
        let s = read_sql("/films?select=title,...actors(*)");
        assert!(
            s.sql.contains(r#"SELECT json_agg("films_actors_1")::jsonb AS "films_actors_1", COALESCE(json_agg("films_actors_1"."id"), '[]')::jsonb AS "id", COALESCE(json_agg("films_actors_1"."name"), '[]')::jsonb AS "name" FROM (SELECT "actors_1"."id", "actors_1"."name" FROM"#),
            "{}",
            s.sql
        );
    }

    #[test]
    fn related_order_reads_the_to_one_embed() {
        let s =
            read_sql("/todos?select=id,users!user_id(name)&order=users(name).desc.nullslast,id");
        assert!(
            s.sql.contains(
                r#"ORDER BY "todos_users_1"."name" DESC NULLS LAST, "api"."todos"."id")"#
            ),
            "{}",
            s.sql
        );
        let e = err("/users?select=id,todos!todos_user_id_fkey(id)&order=todos(id)");
        assert_eq!((e.code(), e.status()), ("PGRST118".to_string(), 400));
        assert_eq!(
            e.details(),
            Some(serde_json::json!(
                "'users' and 'todos' do not form a many-to-one or one-to-one relationship"
            ))
        );
    }

    #[test]
    fn self_references_and_computed_relationships() {
        // The column names the parent (many-to-one); the table names the children.
        let s = read_sql("/employees?select=name,manager_id(name),employees(name)");
        assert!(
            s.sql.contains(r#"WHERE "employees_1"."id" = "api"."employees"."manager_id") AS "employees_manager_id_1""#)
                && s.sql.contains(r#"WHERE "employees_1"."manager_id" = "api"."employees"."id") AS "employees_employees_1""#),
            "{}",
            s.sql
        );
        let s = read_sql("/users?select=name,open_todos(id)");
        assert!(
            s.sql
                .contains(r#"FROM "api"."open_todos"("users"::"api"."users") AS "todos_1""#),
            "{}",
            s.sql
        );
    }

    #[test]
    fn writes_return_embeds_and_the_columns_they_join_on() {
        let s = write_sql(
            "POST",
            "/todos?select=id,users!user_id(name)",
            "return=representation",
            r#"{"task":"x","user_id":1}"#,
        );
        assert!(
            s.sql.contains(r#"RETURNING "api"."todos"."id", "api"."todos"."user_id")"#)
                && s.sql.contains(r#"FROM (SELECT "todos"."id", row_to_json("todos_users_1".*)::jsonb AS "users" FROM pgrst_source AS "todos" LEFT JOIN LATERAL (SELECT "users_1"."name" FROM "api"."users" AS "users_1" WHERE "users_1"."id" = "todos"."user_id") AS "todos_users_1" ON TRUE) _postgrest_t"#),
            "{}",
            s.sql
        );
    }

    #[test]
    fn relationship_errors_are_postgrests() {
        let e = err("/todos?select=id,users(name)");
        assert_eq!((e.code(), e.status()), ("PGRST201".to_string(), 300));
        assert_eq!(
            e.message(),
            "Could not embed because more than one relationship was found for 'todos' and 'users'"
        );
        assert_eq!(
            e.details(),
            Some(serde_json::json!([
                {"cardinality": "many-to-one", "embedding": "todos with users",
                 "relationship": "todos_reviewer_id_fkey using todos(reviewer_id) and users(id)"},
                {"cardinality": "many-to-one", "embedding": "todos with users",
                 "relationship": "todos_user_id_fkey using todos(user_id) and users(id)"}
            ]))
        );
        assert_eq!(
            e.hint(),
            Some(serde_json::json!("Try changing 'users' to one of the following: 'users!todos_reviewer_id_fkey', 'users!todos_user_id_fkey'. Find the desired relationship in the 'details' key."))
        );
        let e = err("/films?select=actor(name)");
        assert_eq!((e.code(), e.status()), ("PGRST200".to_string(), 400));
        assert_eq!(
            e.message(),
            "Could not find a relationship between 'films' and 'actor' in the schema cache"
        );
        assert_eq!(
            e.details(),
            Some(serde_json::json!("Searched for a foreign key relationship between 'films' and 'actor' in the schema 'api', but no matches were found."))
        );
        assert_eq!(
            e.hint(),
            Some(serde_json::json!(
                "Perhaps you meant 'actors' instead of 'actor'."
            ))
        );
        let e = err("/film?select=actors(name)");
        assert_eq!(e.code(), "PGRST205");
        let e = err("/todos_view?select=users!nope(name)");
        assert_eq!(
            e.details(),
            Some(serde_json::json!("Searched for a foreign key relationship between 'todos_view' and 'users' using the hint 'nope' in the schema 'api', but no matches were found."))
        );
        // A path naming an aliased embed by its relation.
        let e = err("/todos?select=id,owner:users!user_id(name)&users.name=eq.x");
        assert_eq!((e.code(), e.status()), ("PGRST108".to_string(), 400));
        assert_eq!(
            e.hint(),
            Some(serde_json::json!(
                "Change 'users' to 'owner' in filters, orders or limits."
            ))
        );
        let e = err("/todos?select=id&order=users(name)");
        assert_eq!(e.code(), "PGRST108");
    }
}

mod upserts {
    use super::*;

    /// The statement `make bench` runs beside pgbench for `POST` (one row and 1,000 rows).
    #[test]
    fn insert_statement_snapshot() {
        let s = write_sql(
            "POST",
            "/todos",
            "return=minimal",
            r#"[{"id":1,"task":"x"}]"#,
        );
        assert_eq!(
            s.sql,
            "WITH pgrst_source AS (INSERT INTO \"api\".\"todos\"(\"id\", \"task\") SELECT pgrst_body.\"id\", \
             pgrst_body.\"task\" FROM json_to_recordset($1::json) AS pgrst_body(\"id\" \"pg_catalog\".\"int4\", \
             \"task\" \"pg_catalog\".\"text\") RETURNING 1) SELECT NULL::bigint AS total_result_set, \
             pg_catalog.count(_postgrest_t) AS page_total, NULL::text AS location, NULL::text AS body, \
             nullif(current_setting('response.headers', true), '') AS response_headers, \
             nullif(current_setting('response.status', true), '') AS response_status FROM (SELECT * FROM \
             pgrst_source) _postgrest_t"
        );
    }

    #[test]
    fn merge_duplicates_counts_what_it_inserts() {
        let s = write_sql(
            "POST",
            "/todos",
            "resolution=merge-duplicates",
            r#"{"id":1,"task":"x"}"#,
        );
        assert!(
            s.sql.contains(
                "WHERE pg_catalog.set_config('pgrst.inserted', (coalesce(nullif(pg_catalog.current_setting('pgrst.inserted', true), '')::int, 0) + 1)::text, true) <> '0' \
                 ON CONFLICT (\"id\") DO UPDATE SET \"id\" = EXCLUDED.\"id\", \"task\" = EXCLUDED.\"task\" WHERE \
                 pg_catalog.set_config('pgrst.inserted', (coalesce(nullif(pg_catalog.current_setting('pgrst.inserted', true), '')::int, 0) - 1)::text, true) <> '-1' RETURNING 1)"
            ),
            "{}",
            s.sql
        );
        assert!(s.sql.contains("AS response_inserted FROM"), "{}", s.sql);
        let s = write_sql(
            "POST",
            "/todos?on_conflict=task",
            "resolution=ignore-duplicates",
            r#"{"id":1,"task":"x"}"#,
        );
        assert!(
            s.sql
                .contains(" WHERE true ON CONFLICT (\"task\") DO NOTHING RETURNING 1)"),
            "{}",
            s.sql
        );
        assert!(!s.sql.contains("pgrst.inserted"), "{}", s.sql);
    }

    #[test]
    fn put_writes_only_the_body_row_of_its_url() {
        let s = write_sql("PUT", "/todos?id=eq.4", "", r#"{"id":4,"task":"x"}"#);
        assert!(
            s.sql.contains(
                "<> '0' AND \"pgrst_body\".\"id\" = $2::\"pg_catalog\".\"int4\" ON CONFLICT (\"id\") DO UPDATE SET"
            ),
            "{}",
            s.sql
        );
        let e = plan_with(&cfg(), "PUT", "/todos?id=gt.4", &[], r#"{"id":4}"#).unwrap_err();
        assert_eq!((e.code(), e.status()), ("PGRST105".to_string(), 405));
    }

    #[test]
    fn missing_default_uses_the_catalog_default_per_row() {
        let s = write_sql(
            "POST",
            "/todos?columns=id,task",
            "missing=default",
            r#"[{"task":"x"}]"#,
        );
        assert!(
            s.sql.contains(
                "SELECT CASE WHEN pgrst_elem.j -> $1 IS NULL THEN (nextval('api.todos_id_seq'::regclass)) ELSE pgrst_body.\"id\" END, \
                 pgrst_body.\"task\" FROM json_array_elements($2::json) AS pgrst_elem(j) CROSS JOIN LATERAL json_to_record(pgrst_elem.j) AS pgrst_body("
            ),
            "{}",
            s.sql
        );
        assert_eq!(s.params[0], "id");
    }
}

mod aggregates {
    use super::*;

    fn sql(url: &str) -> Statement {
        let mut c = cfg();
        c.db_aggregates_enabled = true;
        match plan_with(&c, "GET", url, &[], "").unwrap() {
            ActionPlan::Read {
                read,
                aggregate,
                count,
                max_rows,
                ..
            } => read_statement(&read, aggregate, count, max_rows),
            other => panic!("not a read: {other:?}"),
        }
    }

    #[test]
    fn aggregates_group_by_the_other_fields() {
        let s = sql("/todos?select=done,n:count(),id.max()::text,task.count()&order=done");
        assert!(
            s.sql.starts_with(
                "WITH pgrst_source AS (SELECT \"api\".\"todos\".\"done\", COUNT(*) AS \"n\", \
                 CAST(MAX(\"api\".\"todos\".\"id\") AS \"pg_catalog\".\"text\"), \
                 COUNT(\"api\".\"todos\".\"task\") FROM \"api\".\"todos\" GROUP BY \
                 \"api\".\"todos\".\"done\" ORDER BY \"api\".\"todos\".\"done\")"
            ),
            "{}",
            s.sql
        );
        // Aliased fields group by their alias; only aggregates: no GROUP BY.
        let s = sql("/todos?select=d:done,id.sum()");
        assert!(s.sql.contains(" GROUP BY \"d\")"), "{}", s.sql);
        let s = sql("/todos?select=id.avg()");
        assert!(!s.sql.contains("GROUP BY"), "{}", s.sql);
        // Disabled: PGRST123.
        let e = plan_with(&cfg(), "GET", "/todos?select=count()", &[], "").unwrap_err();
        assert_eq!((e.code(), e.status()), ("PGRST123".to_string(), 400));
    }
}
