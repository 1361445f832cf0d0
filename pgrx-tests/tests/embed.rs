//! Resource embedding, as PostgREST v16.2 does it: every cardinality (many-to-one, one-to-many,
//! one-to-one by primary key and by UNIQUE, many-to-many through a junction), self-references,
//! composite keys, views and materialized views (relationships through the keys of their base
//! tables, also of tables in a schema that is not exposed), computed relationships; aliases,
//! `*`, nesting, hints (`!constraint`, `!column`, `!junction`), ambiguity (PGRST201) and missing
//! relationships (PGRST200); `!inner`/`!left`, null filters on embeds, embedded filters, logic
//! trees, orders, limits and offsets, related orders (PGRST118), paths naming no embed
//! (PGRST108); spreads to-one and to-many; embeds together with counts, ranges, the singular
//! object, CSV, stripped nulls, HEAD and writes; the demo's todos/users; privileges (42501).
//!
//! Cluster `embed` (defaults). Fixtures: pgrx-tests/fixtures/50_embed.sql (em_*: its header
//! lists the rows' relationships) and sql/demo.sql (nothing here writes to todos/users, so they
//! are at their seed values). Only the `writes_*` tests write, to api.em_tickets rows with
//! id >= 100, one test at a time.
//!
//! Expected values follow PostgREST v16.2: Plan.hs (findRel, addRels, addNullEmbedFilters,
//! addRelatedOrders, updateNode), Query/QueryBuilder.hs and SqlFragment.hs (lateral joins,
//! row_to_json/json_agg, the CSV and nulls=stripped wrappers), Error.hs, App.hs (the legacy
//! target-name Warning), and the spec tests under test/spec/Feature/Query/.

use std::sync::{Mutex, MutexGuard};

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("embed")
}

/// Percent-encodes what a request target may not carry raw, keeping the characters of
/// PostgREST's URL grammar (`( ) , ! * : .`) as curl sends them.
fn enc(path: &str) -> String {
    let mut out = String::with_capacity(path.len() * 2);
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~=&,()*:!/?%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// GET `path`; expects a 200 JSON array and returns it.
#[track_caller]
fn rows(path: &str) -> Value {
    let r = cluster().get(&enc(path));
    Value::Array(assert_json_array(&r))
}

/// GET `path` with headers.
fn get_with(path: &str, headers: &[(&str, &str)]) -> Response {
    cluster().get_with(&enc(path), headers)
}

/// GET `path`; expects a 200 JSON array equal to `expected`.
#[track_caller]
fn assert_rows(path: &str, expected: Value) {
    assert_eq!(rows(path), expected, "GET {path}");
}

/// GET `path`; expects a PostgREST error with this status and code and returns its body.
#[track_caller]
fn error(path: &str, status: u16, code: &str) -> Value {
    assert_error(&cluster().get(&enc(path)), status, code)
}

/// PGRST200 for `parent` and `child`: the message and details PostgREST writes; the hint is
/// checked only when `hint` is `Some` (it comes from a fuzzy search of the names).
#[track_caller]
fn assert_no_relationship(
    path: &str,
    parent: &str,
    child: &str,
    embed_hint: Option<&str>,
    hint: Option<Value>,
) {
    let e = error(path, 400, "PGRST200");
    assert_eq!(
        e["message"],
        format!(
            "Could not find a relationship between '{parent}' and '{child}' in the schema cache"
        ),
        "GET {path}"
    );
    let using = embed_hint
        .map(|h| format!("' using the hint '{h}"))
        .unwrap_or_default();
    assert_eq!(
        e["details"],
        format!(
            "Searched for a foreign key relationship between '{parent}' and '{child}{using}' in \
             the schema 'api', but no matches were found."
        ),
        "GET {path}"
    );
    if let Some(hint) = hint {
        assert_eq!(e["hint"], hint, "GET {path}");
    }
}

/// PGRST108 with PostgREST's message and hint for a path naming `name`, which no embed has.
#[track_caller]
fn assert_not_embedded(path: &str, name: &str) {
    let e = error(path, 400, "PGRST108");
    assert_eq!(
        e["message"],
        format!("'{name}' is not an embedded resource in this request"),
        "GET {path}"
    );
    assert_eq!(e["details"], Value::Null, "GET {path}");
    assert_eq!(
        e["hint"],
        format!("Verify that '{name}' is included in the 'select' query parameter."),
        "GET {path}"
    );
}

/// PGRST118 for ordering `origin` by the to-many embed `target`.
#[track_caller]
fn assert_related_order_not_to_one(path: &str, origin: &str, target: &str) {
    let e = error(path, 400, "PGRST118");
    assert_eq!(
        e["message"],
        format!("A related order on '{target}' is not possible"),
        "GET {path}"
    );
    assert_eq!(
        e["details"],
        format!("'{origin}' and '{target}' do not form a many-to-one or one-to-one relationship"),
        "GET {path}"
    );
    assert_eq!(e["hint"], Value::Null, "GET {path}");
}

const OBJECT_CT: &str = "application/vnd.pgrst.object+json; charset=utf-8";
const ARRAY_STRIP_CT: &str = "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8";
const CSV_CT: &str = "text/csv; charset=utf-8";

// ---------------------------------------------------------------------------------------------
// Cardinalities

#[test]
fn many_to_one_is_an_object_or_null() {
    assert_rows(
        "/em_employees?select=name,em_departments(name)&order=id",
        json!([
            {"name": "Ada", "em_departments": {"name": "Research"}},
            {"name": "Brook", "em_departments": {"name": "Research"}},
            {"name": "Cyd", "em_departments": {"name": "Sales"}},
            {"name": "Dale", "em_departments": {"name": "Sales"}},
            {"name": "Eve", "em_departments": null}
        ]),
    );
}

#[test]
fn one_to_many_is_an_array_and_empty_without_children() {
    assert_rows(
        "/em_departments?select=name,em_employees(name)&order=id&em_employees.order=id",
        json!([
            {"name": "Research", "em_employees": [{"name": "Ada"}, {"name": "Brook"}]},
            {"name": "Sales", "em_employees": [{"name": "Cyd"}, {"name": "Dale"}]},
            {"name": "Legal", "em_employees": []}
        ]),
    );
}

#[test]
fn one_to_one_by_primary_key_is_an_object_both_ways() {
    // em_badges.employee_id is the badge's primary key and a key to em_employees.
    assert_rows(
        "/em_employees?select=name,em_badges(code)&order=id",
        json!([
            {"name": "Ada", "em_badges": {"code": "B-ADA"}},
            {"name": "Brook", "em_badges": null},
            {"name": "Cyd", "em_badges": {"code": null}},
            {"name": "Dale", "em_badges": null},
            {"name": "Eve", "em_badges": null}
        ]),
    );
    assert_rows(
        "/em_badges?select=code,em_employees(name)&order=employee_id",
        json!([
            {"code": "B-ADA", "em_employees": {"name": "Ada"}},
            {"code": null, "em_employees": {"name": "Cyd"}}
        ]),
    );
}

#[test]
fn one_to_one_by_unique_key_is_an_object_both_ways() {
    // em_desks.employee_id is UNIQUE and a key to em_employees.
    assert_rows(
        "/em_employees?select=name,em_desks(label)&order=id",
        json!([
            {"name": "Ada", "em_desks": {"label": "corner"}},
            {"name": "Brook", "em_desks": {"label": "window"}},
            {"name": "Cyd", "em_desks": null},
            {"name": "Dale", "em_desks": null},
            {"name": "Eve", "em_desks": null}
        ]),
    );
    assert_rows(
        "/em_desks?select=label,em_employees(name)&order=id",
        json!([
            {"label": "window", "em_employees": {"name": "Brook"}},
            {"label": "corner", "em_employees": {"name": "Ada"}},
            {"label": "hall", "em_employees": null}
        ]),
    );
}

#[test]
fn many_to_many_goes_through_the_junction_both_ways() {
    assert_rows(
        "/em_employees?select=name,em_projects(name)&order=id&em_projects.order=id",
        json!([
            {"name": "Ada", "em_projects": [{"name": "Apollo"}]},
            {"name": "Brook", "em_projects": [{"name": "Apollo"}, {"name": "Borealis"}]},
            {"name": "Cyd", "em_projects": [{"name": "Borealis"}]},
            {"name": "Dale", "em_projects": [{"name": "Borealis"}]},
            {"name": "Eve", "em_projects": []}
        ]),
    );
    // Eve mentors Cosmos through em_priv.em_mentorships: a junction in a schema that is not
    // exposed is no relationship (and so no ambiguity with em_assignments).
    assert_rows(
        "/em_projects?select=name,em_employees(name)&order=id&em_employees.order=id",
        json!([
            {"name": "Apollo", "em_employees": [{"name": "Ada"}, {"name": "Brook"}]},
            {"name": "Borealis", "em_employees": [{"name": "Brook"}, {"name": "Cyd"}, {"name": "Dale"}]},
            {"name": "Cosmos", "em_employees": []}
        ]),
    );
}

// ---------------------------------------------------------------------------------------------
// Shaping: nesting, aliases, stars, the same relation twice

#[test]
fn embeds_nest_three_levels_deep() {
    assert_rows(
        "/em_departments?select=name,em_employees(name,em_desks(label),\
         manager:manager_id(name,em_badges(code)))&id=eq.1&em_employees.order=id",
        json!([{
            "name": "Research",
            "em_employees": [
                {"name": "Ada", "em_desks": {"label": "corner"}, "manager": null},
                {"name": "Brook", "em_desks": {"label": "window"},
                 "manager": {"name": "Ada", "em_badges": {"code": "B-ADA"}}}
            ]
        }]),
    );
    // To-many inside to-many inside to-one.
    assert_rows(
        "/em_badges?select=code,em_employees(name,em_departments(name,em_employees(name)))\
         &employee_id=eq.3&em_employees.em_departments.em_employees.order=id",
        json!([{
            "code": null,
            "em_employees": {
                "name": "Cyd",
                "em_departments": {
                    "name": "Sales",
                    "em_employees": [{"name": "Cyd"}, {"name": "Dale"}]
                }
            }
        }]),
    );
}

#[test]
fn aliases_rename_embeds_and_their_columns() {
    assert_rows(
        "/em_employees?select=who:name,dept:em_departments(title:name),work:em_projects(name)\
         &id=eq.2&work.order=id",
        json!([{
            "who": "Brook",
            "dept": {"title": "Research"},
            "work": [{"name": "Apollo"}, {"name": "Borealis"}]
        }]),
    );
}

#[test]
fn a_star_inside_an_embed_and_beside_it() {
    assert_rows(
        "/em_employees?select=id,em_departments(*)&id=eq.3",
        json!([{"id": 3, "em_departments": {"id": 2, "name": "Sales"}}]),
    );
    assert_rows(
        "/em_desks?select=*,em_employees(name)&order=id",
        json!([
            {"id": 10, "label": "window", "employee_id": 2, "em_employees": {"name": "Brook"}},
            {"id": 11, "label": "corner", "employee_id": 1, "em_employees": {"name": "Ada"}},
            {"id": 12, "label": "hall", "employee_id": null, "em_employees": null}
        ]),
    );
}

#[test]
fn the_same_relation_twice_under_two_aliases_with_their_own_filters() {
    assert_rows(
        "/em_departments?select=name,seniors:em_employees(name),juniors:em_employees(name)\
         &seniors.level_id=eq.2&juniors.level_id=eq.1&order=id&seniors.order=id&juniors.order=id",
        json!([
            {"name": "Research", "seniors": [{"name": "Ada"}], "juniors": [{"name": "Brook"}]},
            {"name": "Sales", "seniors": [{"name": "Cyd"}], "juniors": [{"name": "Dale"}]},
            {"name": "Legal", "seniors": [], "juniors": []}
        ]),
    );
}

// ---------------------------------------------------------------------------------------------
// Hints, ambiguity, missing relationships

#[test]
fn constraint_and_column_hints_choose_between_two_keys() {
    let expected = json!([
        {"id": 1, "src": {"city": "Amsterdam"}, "dst": {"city": "Lisbon"}},
        {"id": 2, "src": {"city": "Lisbon"}, "dst": {"city": "Oslo"}},
        {"id": 3, "src": {"city": "Oslo"}, "dst": {"city": "Amsterdam"}}
    ]);
    assert_rows(
        "/em_flights?select=id,src:em_airports!em_flights_origin_fk(city),\
         dst:em_airports!em_flights_destination_fk(city)&order=id",
        expected.clone(),
    );
    assert_rows(
        "/em_flights?select=id,src:em_airports!origin(city),dst:em_airports!destination(city)\
         &order=id",
        expected,
    );
    // From the referenced side, the column of the referencing table is the hint.
    assert_rows(
        "/em_airports?select=code,departures:em_flights!origin(id),arrivals:em_flights!destination(id)\
         &order=code&departures.order=id&arrivals.order=id",
        json!([
            {"code": "AMS", "departures": [{"id": 1}], "arrivals": [{"id": 3}]},
            {"code": "LIS", "departures": [{"id": 2}], "arrivals": [{"id": 1}]},
            {"code": "OSL", "departures": [{"id": 3}], "arrivals": [{"id": 2}]}
        ]),
    );
    // The constraint or the column itself as the embed (PostgREST still accepts both); the
    // key of the object is the name as written.
    assert_rows(
        "/em_flights?select=id,em_flights_origin_fk(city)&order=id&limit=1",
        json!([{"id": 1, "em_flights_origin_fk": {"city": "Amsterdam"}}]),
    );
    assert_rows(
        "/em_flights?select=id,destination(city)&order=id&limit=1",
        json!([{"id": 1, "destination": {"city": "Lisbon"}}]),
    );
}

#[test]
fn a_filter_on_the_column_an_embed_is_named_after_filters_the_column() {
    // Only `is.null`/`not.is.null` on an embed's name are embed filters.
    assert_rows(
        "/em_flights?select=id,origin(city)&origin=eq.LIS",
        json!([{"id": 2, "origin": {"city": "Lisbon"}}]),
    );
}

#[test]
fn junction_hints_name_the_many_to_many() {
    assert_rows(
        "/em_employees?select=name,em_projects!em_assignments(name)&id=eq.2&em_projects.order=id",
        json!([{"name": "Brook", "em_projects": [{"name": "Apollo"}, {"name": "Borealis"}]}]),
    );
    assert_rows(
        "/em_articles?select=title,em_tags!em_article_tags(name)&order=id&em_tags.order=id",
        json!([
            {"title": "Joins", "em_tags": [{"name": "db"}, {"name": "web"}]},
            {"title": "Caching", "em_tags": [{"name": "web"}, {"name": "ops"}]}
        ]),
    );
}

#[test]
fn two_keys_to_one_table_are_ambiguous_pgrst201() {
    let e = error("/em_flights?select=id,em_airports(city)", 300, "PGRST201");
    assert_eq!(
        e["message"],
        "Could not embed because more than one relationship was found for 'em_flights' and \
         'em_airports'"
    );
    // The candidates are in PostgREST's order of relationships: by cardinality
    // (one-to-many, many-to-one, one-to-one, many-to-many), then by constraint name.
    assert_eq!(
        e["details"],
        json!([
            {
                "cardinality": "many-to-one",
                "embedding": "em_flights with em_airports",
                "relationship": "em_flights_destination_fk using em_flights(destination) and em_airports(code)"
            },
            {
                "cardinality": "many-to-one",
                "embedding": "em_flights with em_airports",
                "relationship": "em_flights_origin_fk using em_flights(origin) and em_airports(code)"
            }
        ])
    );
    assert_eq!(
        e["hint"],
        "Try changing 'em_airports' to one of the following: \
         'em_airports!em_flights_destination_fk', 'em_airports!em_flights_origin_fk'. \
         Find the desired relationship in the 'details' key."
    );
    // A hint both keys fit (the referenced column) leaves it ambiguous.
    let again = error(
        "/em_flights?select=id,em_airports!code(city)",
        300,
        "PGRST201",
    );
    assert_eq!(again["details"], e["details"]);

    // The other way round: two one-to-many relationships.
    let e = error("/em_airports?select=code,em_flights(id)", 300, "PGRST201");
    assert_eq!(
        e["details"],
        json!([
            {
                "cardinality": "one-to-many",
                "embedding": "em_airports with em_flights",
                "relationship": "em_flights_destination_fk using em_airports(code) and em_flights(destination)"
            },
            {
                "cardinality": "one-to-many",
                "embedding": "em_airports with em_flights",
                "relationship": "em_flights_origin_fk using em_airports(code) and em_flights(origin)"
            }
        ])
    );
    assert_eq!(
        e["hint"],
        "Try changing 'em_flights' to one of the following: \
         'em_flights!em_flights_destination_fk', 'em_flights!em_flights_origin_fk'. \
         Find the desired relationship in the 'details' key."
    );
}

#[test]
fn a_key_beside_a_junction_to_the_same_table_is_ambiguous_pgrst201() {
    let e = error("/em_articles?select=title,em_tags(name)", 300, "PGRST201");
    assert_eq!(
        e["message"],
        "Could not embed because more than one relationship was found for 'em_articles' and \
         'em_tags'"
    );
    assert_eq!(
        e["details"],
        json!([
            {
                "cardinality": "many-to-one",
                "embedding": "em_articles with em_tags",
                "relationship": "em_articles_main_tag_fk using em_articles(main_tag_id) and em_tags(id)"
            },
            {
                "cardinality": "many-to-many",
                "embedding": "em_articles with em_tags",
                "relationship": "em_article_tags using em_article_tags_article_fk(article_id) and em_article_tags_tag_fk(tag_id)"
            }
        ])
    );
    assert_eq!(
        e["hint"],
        "Try changing 'em_tags' to one of the following: 'em_tags!em_articles_main_tag_fk', \
         'em_tags!em_article_tags'. Find the desired relationship in the 'details' key."
    );
    // Each way out.
    assert_rows(
        "/em_articles?select=title,main:em_tags!em_articles_main_tag_fk(name),\
         tags:em_tags!em_article_tags(name)&order=id&tags.order=id",
        json!([
            {"title": "Joins", "main": {"name": "db"}, "tags": [{"name": "db"}, {"name": "web"}]},
            {"title": "Caching", "main": {"name": "web"}, "tags": [{"name": "web"}, {"name": "ops"}]}
        ]),
    );
    assert_rows(
        "/em_articles?select=title,main:em_tags!main_tag_id(name)&order=id",
        json!([
            {"title": "Joins", "main": {"name": "db"}},
            {"title": "Caching", "main": {"name": "web"}}
        ]),
    );
}

#[test]
fn an_unknown_relation_is_pgrst200_with_a_suggestion() {
    assert_no_relationship(
        "/em_employees?select=name,em_department(name)",
        "em_employees",
        "em_department",
        None,
        Some(json!(
            "Perhaps you meant 'em_departments' instead of 'em_department'."
        )),
    );
    // Deeper down, the parent is the embed the unknown relation is in.
    assert_no_relationship(
        "/em_departments?select=name,em_employees(name,em_nothing(id))",
        "em_employees",
        "em_nothing",
        None,
        None,
    );
}

#[test]
fn hints_that_match_no_relationship_are_pgrst200() {
    // em_airports is the only table em_flights relates to: no other name to suggest.
    assert_no_relationship(
        "/em_flights?select=id,em_airports!nope(city)",
        "em_flights",
        "em_airports",
        Some("nope"),
        Some(Value::Null),
    );
    // A column hint only names single-column keys.
    assert_no_relationship(
        "/em_meetings?select=title,em_rooms!building(floor)",
        "em_meetings",
        "em_rooms",
        Some("building"),
        Some(Value::Null),
    );
    // A junction in a schema that is not exposed.
    assert_no_relationship(
        "/em_employees?select=name,em_projects!em_mentorships(name)",
        "em_employees",
        "em_projects",
        Some("em_mentorships"),
        None,
    );
}

#[test]
fn tables_of_an_unexposed_schema_are_not_embeddable() {
    // em_employees.level_id references em_priv.em_levels; only the view em_levels_v is exposed.
    assert_no_relationship(
        "/em_employees?select=name,em_levels(title)",
        "em_employees",
        "em_levels",
        None,
        Some(json!(
            "Perhaps you meant 'em_levels_v' instead of 'em_levels'."
        )),
    );
    error("/em_levels", 404, "PGRST205");
}

// ---------------------------------------------------------------------------------------------
// Join types and null filters: which parents come back

#[test]
fn inner_embeds_drop_the_parents_without_related_rows() {
    // One-to-many.
    assert_rows(
        "/em_departments?select=name,em_employees!inner(name)&order=id&em_employees.order=id",
        json!([
            {"name": "Research", "em_employees": [{"name": "Ada"}, {"name": "Brook"}]},
            {"name": "Sales", "em_employees": [{"name": "Cyd"}, {"name": "Dale"}]}
        ]),
    );
    // With a filter on the embed, the parents of a matching row only.
    assert_rows(
        "/em_departments?select=name,em_employees!inner(name)&em_employees.name=eq.Dale",
        json!([{"name": "Sales", "em_employees": [{"name": "Dale"}]}]),
    );
    // Many-to-one.
    assert_rows(
        "/em_employees?select=name,em_departments!inner(name)&em_departments.name=eq.Research\
         &order=id",
        json!([
            {"name": "Ada", "em_departments": {"name": "Research"}},
            {"name": "Brook", "em_departments": {"name": "Research"}}
        ]),
    );
    // Many-to-many.
    assert_rows(
        "/em_projects?select=name,em_employees!inner(name)&em_employees.name=eq.Brook&order=id",
        json!([
            {"name": "Apollo", "em_employees": [{"name": "Brook"}]},
            {"name": "Borealis", "em_employees": [{"name": "Brook"}]}
        ]),
    );
    // After a hint; and an empty inner embed filters without showing anything.
    assert_rows(
        "/em_flights?select=id,em_airports!origin!inner(city)&em_airports.city=eq.Oslo",
        json!([{"id": 3, "em_airports": {"city": "Oslo"}}]),
    );
    assert_rows(
        "/em_departments?select=name,em_employees!inner()&em_employees.name=eq.Ada",
        json!([{"name": "Research"}]),
    );
}

#[test]
fn an_inner_embed_only_drops_the_rows_of_its_own_parent() {
    // !inner on the badges drops employees without a badge, not departments without such
    // employees. Cyd's badge has no code but exists.
    assert_rows(
        "/em_departments?select=name,em_employees(name,em_badges!inner(code))&order=id\
         &em_employees.order=id",
        json!([
            {"name": "Research", "em_employees": [{"name": "Ada", "em_badges": {"code": "B-ADA"}}]},
            {"name": "Sales", "em_employees": [{"name": "Cyd", "em_badges": {"code": null}}]},
            {"name": "Legal", "em_employees": []}
        ]),
    );
}

#[test]
fn left_is_the_default_join() {
    let path = "/em_departments?select=name,em_employees(name)&order=id&em_employees.order=id";
    let explicit =
        "/em_departments?select=name,em_employees!left(name)&order=id&em_employees.order=id";
    let all = rows(path);
    assert_eq!(all.as_array().unwrap().len(), 3);
    assert_eq!(rows(explicit), all);
}

#[test]
fn null_filters_on_embeds_choose_the_parents() {
    // One-to-many, with an empty embed: it filters and adds no key.
    assert_rows(
        "/em_departments?select=name,em_employees()&em_employees=is.null",
        json!([{"name": "Legal"}]),
    );
    assert_rows(
        "/em_departments?select=name,em_employees()&em_employees=not.is.null&order=id",
        json!([{"name": "Research"}, {"name": "Sales"}]),
    );
    // Many-to-one, with a visible embed.
    assert_rows(
        "/em_employees?select=name,em_departments(name)&em_departments=is.null",
        json!([{"name": "Eve", "em_departments": null}]),
    );
    // Many-to-many.
    assert_rows(
        "/em_projects?select=name,em_employees()&em_employees=is.null",
        json!([{"name": "Cosmos"}]),
    );
    // By the alias.
    assert_rows(
        "/em_departments?select=name,staff:em_employees()&staff=is.null",
        json!([{"name": "Legal"}]),
    );
    // Together with a filter on the embed: parents with a matching row.
    assert_rows(
        "/em_departments?select=name,em_employees(name)&em_employees.name=eq.Dale\
         &em_employees=not.is.null",
        json!([{"name": "Sales", "em_employees": [{"name": "Dale"}]}]),
    );
    assert_rows(
        "/em_departments?select=name,em_employees()&em_employees.name=eq.Dale\
         &em_employees=is.null&order=id",
        json!([{"name": "Research"}, {"name": "Legal"}]),
    );
    // Nested: employees with a badge, departments with such employees.
    assert_rows(
        "/em_departments?select=name,em_employees(name,em_badges())\
         &em_employees.em_badges=not.is.null&em_employees=not.is.null&order=id",
        json!([
            {"name": "Research", "em_employees": [{"name": "Ada"}]},
            {"name": "Sales", "em_employees": [{"name": "Cyd"}]}
        ]),
    );
}

#[test]
fn not_is_null_means_the_related_row_exists_even_when_its_columns_are_null() {
    // Cyd's badge row exists with a null code: PostgREST tests the row (IS DISTINCT FROM
    // NULL), not its columns.
    assert_rows(
        "/em_employees?select=name,em_badges(code)&em_badges=not.is.null&order=id",
        json!([
            {"name": "Ada", "em_badges": {"code": "B-ADA"}},
            {"name": "Cyd", "em_badges": {"code": null}}
        ]),
    );
    assert_rows(
        "/em_employees?select=name,em_badges(code)&em_badges=is.null&order=id",
        json!([
            {"name": "Brook", "em_badges": null},
            {"name": "Dale", "em_badges": null},
            {"name": "Eve", "em_badges": null}
        ]),
    );
}

#[test]
fn null_filters_on_embeds_combine_in_logic_trees() {
    assert_rows(
        "/em_employees?select=name,em_badges(),em_desks()\
         &or=(em_badges.not.is.null,em_desks.not.is.null)&order=id",
        json!([{"name": "Ada"}, {"name": "Brook"}, {"name": "Cyd"}]),
    );
    assert_rows(
        "/em_employees?select=name,em_badges(),em_desks()\
         &and=(em_badges.is.null,em_desks.is.null)&order=id",
        json!([{"name": "Dale"}, {"name": "Eve"}]),
    );
}

// ---------------------------------------------------------------------------------------------
// Filters, logic trees, orders and ranges of embeds

#[test]
fn embedded_filters_shape_the_embed_and_keep_every_parent() {
    assert_rows(
        "/em_departments?select=name,em_employees(name)&em_employees.name=in.(Ada,Dale)\
         &order=id&em_employees.order=id",
        json!([
            {"name": "Research", "em_employees": [{"name": "Ada"}]},
            {"name": "Sales", "em_employees": [{"name": "Dale"}]},
            {"name": "Legal", "em_employees": []}
        ]),
    );
    // On a to-one embed the object becomes null; the parent stays.
    assert_rows(
        "/em_employees?select=name,em_departments(name)&em_departments.name=eq.Sales&order=id",
        json!([
            {"name": "Ada", "em_departments": null},
            {"name": "Brook", "em_departments": null},
            {"name": "Cyd", "em_departments": {"name": "Sales"}},
            {"name": "Dale", "em_departments": {"name": "Sales"}},
            {"name": "Eve", "em_departments": null}
        ]),
    );
}

#[test]
fn embedded_or_and_and_trees() {
    assert_rows(
        "/em_departments?select=name,em_employees(name)\
         &em_employees.or=(name.eq.Dale,manager_id.is.null)&order=id&em_employees.order=id",
        json!([
            {"name": "Research", "em_employees": [{"name": "Ada"}]},
            {"name": "Sales", "em_employees": [{"name": "Dale"}]},
            {"name": "Legal", "em_employees": []}
        ]),
    );
    assert_rows(
        "/em_departments?select=name,em_employees(name)&em_employees.and=(id.gte.2,id.lte.3)\
         &order=id&em_employees.order=id",
        json!([
            {"name": "Research", "em_employees": [{"name": "Brook"}]},
            {"name": "Sales", "em_employees": [{"name": "Cyd"}]},
            {"name": "Legal", "em_employees": []}
        ]),
    );
}

#[test]
fn embedded_order_limit_and_offset() {
    assert_rows(
        "/em_departments?select=name,em_employees(name)&order=id&em_employees.order=name.desc",
        json!([
            {"name": "Research", "em_employees": [{"name": "Brook"}, {"name": "Ada"}]},
            {"name": "Sales", "em_employees": [{"name": "Dale"}, {"name": "Cyd"}]},
            {"name": "Legal", "em_employees": []}
        ]),
    );
    // Per parent, not over all the embedded rows.
    assert_rows(
        "/em_departments?select=name,em_employees(name)&order=id&em_employees.order=id\
         &em_employees.limit=1",
        json!([
            {"name": "Research", "em_employees": [{"name": "Ada"}]},
            {"name": "Sales", "em_employees": [{"name": "Cyd"}]},
            {"name": "Legal", "em_employees": []}
        ]),
    );
    assert_rows(
        "/em_departments?select=name,em_employees(name)&order=id&em_employees.order=id\
         &em_employees.offset=1",
        json!([
            {"name": "Research", "em_employees": [{"name": "Brook"}]},
            {"name": "Sales", "em_employees": [{"name": "Dale"}]},
            {"name": "Legal", "em_employees": []}
        ]),
    );
    // Many-to-many, limit and offset together.
    assert_rows(
        "/em_projects?select=name,em_employees(name)&id=eq.2&em_employees.order=id\
         &em_employees.limit=1&em_employees.offset=1",
        json!([{"name": "Borealis", "em_employees": [{"name": "Cyd"}]}]),
    );
    // By the alias.
    assert_rows(
        "/em_departments?select=name,staff:em_employees(name)&id=eq.1&staff.order=id.desc\
         &staff.limit=1",
        json!([{"name": "Research", "staff": [{"name": "Brook"}]}]),
    );
}

#[test]
fn filters_and_orders_on_nested_paths() {
    assert_rows(
        "/em_departments?select=name,em_employees(name,em_projects(name))\
         &em_employees.em_projects.name=eq.Borealis&order=id&em_employees.order=id",
        json!([
            {"name": "Research", "em_employees": [
                {"name": "Ada", "em_projects": []},
                {"name": "Brook", "em_projects": [{"name": "Borealis"}]}
            ]},
            {"name": "Sales", "em_employees": [
                {"name": "Cyd", "em_projects": [{"name": "Borealis"}]},
                {"name": "Dale", "em_projects": [{"name": "Borealis"}]}
            ]},
            {"name": "Legal", "em_employees": []}
        ]),
    );
    assert_rows(
        "/em_departments?select=name,em_employees(name,em_projects(name))&id=eq.1\
         &em_employees.order=id&em_employees.em_projects.order=name.desc",
        json!([{"name": "Research", "em_employees": [
            {"name": "Ada", "em_projects": [{"name": "Apollo"}]},
            {"name": "Brook", "em_projects": [{"name": "Borealis"}, {"name": "Apollo"}]}
        ]}]),
    );
}

// ---------------------------------------------------------------------------------------------
// Related orders

#[test]
fn parents_ordered_by_a_to_one_embed() {
    let path =
        |order: &str| format!("/em_employees?select=name,dept:em_departments(name)&order={order}");
    let names = |order: &str| -> Vec<String> {
        rows(&path(order))
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    // PostgreSQL's defaults: nulls last ascending, first descending.
    assert_eq!(
        names("dept(name),id"),
        ["Ada", "Brook", "Cyd", "Dale", "Eve"]
    );
    assert_eq!(
        names("dept(name).desc,id"),
        ["Eve", "Cyd", "Dale", "Ada", "Brook"]
    );
    assert_eq!(
        names("dept(name).desc.nullslast,id"),
        ["Cyd", "Dale", "Ada", "Brook", "Eve"]
    );
    assert_eq!(
        names("dept(name).asc.nullsfirst,id.desc"),
        ["Eve", "Brook", "Ada", "Dale", "Cyd"]
    );
    // The embed's values come along.
    assert_rows(
        "/em_employees?select=name,em_desks(label)&order=em_desks(label),id",
        json!([
            {"name": "Ada", "em_desks": {"label": "corner"}},
            {"name": "Brook", "em_desks": {"label": "window"}},
            {"name": "Cyd", "em_desks": null},
            {"name": "Dale", "em_desks": null},
            {"name": "Eve", "em_desks": null}
        ]),
    );
}

#[test]
fn related_order_inside_an_embed() {
    assert_rows(
        "/em_projects?select=name,em_employees(name,em_departments(name))&id=eq.2\
         &em_employees.order=em_departments(name).desc,name",
        json!([{"name": "Borealis", "em_employees": [
            {"name": "Cyd", "em_departments": {"name": "Sales"}},
            {"name": "Dale", "em_departments": {"name": "Sales"}},
            {"name": "Brook", "em_departments": {"name": "Research"}}
        ]}]),
    );
}

#[test]
fn ordering_by_a_to_many_embed_is_pgrst118() {
    assert_related_order_not_to_one(
        "/em_departments?select=name,em_employees(name)&order=em_employees(name)",
        "em_departments",
        "em_employees",
    );
    assert_related_order_not_to_one(
        "/em_departments?select=name,staff:em_employees(name)&order=staff(name).desc",
        "em_departments",
        "staff",
    );
    assert_related_order_not_to_one(
        "/em_employees?select=name,em_projects(name)&order=em_projects(name)",
        "em_employees",
        "em_projects",
    );
}

// ---------------------------------------------------------------------------------------------
// Paths that name no embed

#[test]
fn paths_that_name_no_embed_are_pgrst108() {
    for path in [
        "/em_employees?select=name&em_departments.name=eq.Sales",
        "/em_employees?select=name&em_departments.or=(name.eq.Sales)",
        "/em_employees?select=name&em_departments.order=name",
        "/em_employees?select=name&em_departments.limit=1",
        "/em_employees?select=name&em_departments.offset=1",
        "/em_employees?select=name&order=em_departments(name)",
        "/em_employees?select=name,em_desks(label)&em_departments.name=eq.Sales",
    ] {
        assert_not_embedded(path, "em_departments");
    }
    // A nested path names the first step that is missing.
    assert_not_embedded(
        "/em_departments?select=name,em_employees(name)&em_employees.em_badges.code=eq.x",
        "em_badges",
    );
    // A spread is an embed paths can name.
    assert_rows(
        "/em_employees?select=name,...em_departments(dept:name)&em_departments.name=eq.Sales\
         &order=id&limit=3",
        json!([
            {"name": "Ada", "dept": null},
            {"name": "Brook", "dept": null},
            {"name": "Cyd", "dept": "Sales"}
        ]),
    );
}

#[test]
fn paths_are_checked_before_relationships_are_resolved() {
    // PostgREST attaches filters to the tree before it looks relationships up: a path to no
    // embed wins over a relationship that does not exist.
    assert_not_embedded(
        "/em_employees?select=name,em_nope(id)&em_other.id=eq.1",
        "em_other",
    );
    assert_no_relationship(
        "/em_employees?select=name,em_nope(id)&em_nope.id=eq.1",
        "em_employees",
        "em_nope",
        None,
        None,
    );
}

#[test]
fn an_aliased_embed_named_by_its_relation_works_with_a_deprecation_warning() {
    // v16.2's default is url-use-legacy-target-names = true: a filter, order or limit may
    // still name an aliased embed by its relation; the response then carries a Warning.
    let r = get_with(
        "/em_departments?select=name,staff:em_employees(name)&em_employees.name=eq.Ada&order=id",
        &[],
    );
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([
            {"name": "Research", "staff": [{"name": "Ada"}]},
            {"name": "Sales", "staff": []},
            {"name": "Legal", "staff": []}
        ])
    );
    let warning = r
        .header("Warning")
        .unwrap_or_else(|| panic!("no Warning header: {}", r.describe()));
    assert!(warning.starts_with("299 "), "{warning}");
    assert!(
        warning.ends_with(
            " \"Embedded resource was referenced by relation name even though it has an alias. \
             This is deprecated and will stop working in a future release. Update \
             `em_employees` to `staff` in query string filters, orders or limits.\""
        ),
        "{warning}"
    );
    // The alias itself: no warning.
    let r = get_with(
        "/em_departments?select=name,staff:em_employees(name)&staff.name=eq.Ada&order=id",
        &[],
    );
    assert_json_array(&r);
    assert_no_header(&r, "Warning");
}

// ---------------------------------------------------------------------------------------------
// Spreads

#[test]
fn a_to_one_spread_merges_its_columns_into_the_parent() {
    assert_rows(
        "/em_employees?select=name,...em_departments(dept:name)&order=id",
        json!([
            {"name": "Ada", "dept": "Research"},
            {"name": "Brook", "dept": "Research"},
            {"name": "Cyd", "dept": "Sales"},
            {"name": "Dale", "dept": "Sales"},
            {"name": "Eve", "dept": null}
        ]),
    );
    assert_rows(
        "/em_employees?select=name,...em_desks(desk:label,desk_id:id)&id=in.(1,3)&order=id",
        json!([
            {"name": "Ada", "desk": "corner", "desk_id": 11},
            {"name": "Cyd", "desk": null, "desk_id": null}
        ]),
    );
    // `*` spreads every column.
    assert_rows(
        "/em_employees?select=id,...em_badges(*)&id=in.(1,2)&order=id",
        json!([
            {"id": 1, "employee_id": 1, "code": "B-ADA"},
            {"id": 2, "employee_id": null, "code": null}
        ]),
    );
}

#[test]
fn spreads_nest_and_live_inside_embeds() {
    assert_rows(
        "/em_assignments?select=role,...em_employees(employee:name,...em_departments(dept:name)),\
         ...em_projects(project:name)&employee_id=eq.2&order=project_id",
        json!([
            {"role": "dev", "employee": "Brook", "dept": "Research", "project": "Apollo"},
            {"role": "lead", "employee": "Brook", "dept": "Research", "project": "Borealis"}
        ]),
    );
    // The junction's columns beside the spread far side of a many-to-many.
    assert_rows(
        "/em_projects?select=name,team:em_assignments(role,...em_employees(name))&id=eq.1\
         &team.order=employee_id",
        json!([{"name": "Apollo", "team": [
            {"role": "lead", "name": "Ada"},
            {"role": "dev", "name": "Brook"}
        ]}]),
    );
    // An embed inside a spread stays an embed.
    assert_rows(
        "/em_badges?select=code,...em_employees(name,em_departments(name))&order=employee_id",
        json!([
            {"code": "B-ADA", "name": "Ada", "em_departments": {"name": "Research"}},
            {"code": null, "name": "Cyd", "em_departments": {"name": "Sales"}}
        ]),
    );
}

#[test]
fn a_to_many_spread_makes_each_column_an_array() {
    assert_rows(
        "/em_departments?select=name,...em_employees(staff:name,ids:id)&order=id\
         &em_employees.order=id",
        json!([
            {"name": "Research", "staff": ["Ada", "Brook"], "ids": [1, 2]},
            {"name": "Sales", "staff": ["Cyd", "Dale"], "ids": [3, 4]},
            {"name": "Legal", "staff": [], "ids": []}
        ]),
    );
    // Null values are elements; the embed's order orders every array.
    assert_rows(
        "/em_departments?select=name,...em_employees(staff:name,managers:manager_id)&id=in.(1,2)\
         &order=id&em_employees.order=name.desc",
        json!([
            {"name": "Research", "staff": ["Brook", "Ada"], "managers": [1, null]},
            {"name": "Sales", "staff": ["Dale", "Cyd"], "managers": [3, 1]}
        ]),
    );
    // Many-to-many.
    assert_rows(
        "/em_employees?select=name,...em_projects(projects:name)&order=id&em_projects.order=id",
        json!([
            {"name": "Ada", "projects": ["Apollo"]},
            {"name": "Brook", "projects": ["Apollo", "Borealis"]},
            {"name": "Cyd", "projects": ["Borealis"]},
            {"name": "Dale", "projects": ["Borealis"]},
            {"name": "Eve", "projects": []}
        ]),
    );
}

#[test]
fn to_many_spreads_with_inner_null_filters_and_nothing_to_spread() {
    let without_legal = json!([
        {"name": "Research", "staff": ["Ada", "Brook"]},
        {"name": "Sales", "staff": ["Cyd", "Dale"]}
    ]);
    assert_rows(
        "/em_departments?select=name,...em_employees!inner(staff:name)&order=id\
         &em_employees.order=id",
        without_legal.clone(),
    );
    assert_rows(
        "/em_departments?select=name,...em_employees(staff:name)&em_employees=not.is.null\
         &order=id&em_employees.order=id",
        without_legal,
    );
    assert_rows(
        "/em_departments?select=name,...em_employees(staff:name)&em_employees=is.null",
        json!([{"name": "Legal", "staff": []}]),
    );
    // An empty spread is an empty embed.
    assert_rows(
        "/em_departments?select=name,...em_employees()&order=id",
        json!([{"name": "Research"}, {"name": "Sales"}, {"name": "Legal"}]),
    );
}

// ---------------------------------------------------------------------------------------------
// Self-references, composite keys, views, materialized views

#[test]
fn self_reference_the_column_names_the_parent_and_the_table_the_children() {
    assert_rows(
        "/em_employees?select=name,manager:manager_id(name),reports:em_employees(name)&order=id\
         &reports.order=id",
        json!([
            {"name": "Ada", "manager": null, "reports": [{"name": "Brook"}, {"name": "Cyd"}]},
            {"name": "Brook", "manager": {"name": "Ada"}, "reports": []},
            {"name": "Cyd", "manager": {"name": "Ada"}, "reports": [{"name": "Dale"}]},
            {"name": "Dale", "manager": {"name": "Cyd"}, "reports": []},
            {"name": "Eve", "manager": null, "reports": []}
        ]),
    );
    // Up two levels.
    assert_rows(
        "/em_employees?select=name,manager:manager_id(name,manager:manager_id(name))&id=eq.4",
        json!([{"name": "Dale", "manager": {"name": "Cyd", "manager": {"name": "Ada"}}}]),
    );
}

#[test]
fn self_reference_a_column_hint_names_the_children() {
    // On a self-reference `table!column` is the one-to-many (PostgREST's
    // `children:family_tree!parent`): these are the reports, not the manager.
    assert_rows(
        "/em_employees?select=name,reports:em_employees!manager_id(name,\
         reports:em_employees!manager_id(name))&id=eq.1&reports.order=id",
        json!([{"name": "Ada", "reports": [
            {"name": "Brook", "reports": []},
            {"name": "Cyd", "reports": [{"name": "Dale"}]}
        ]}]),
    );
    // Only a column is a hint there: findRel matches a self-reference's hint against the
    // referencing column alone, so the constraint name finds nothing.
    assert_no_relationship(
        "/em_employees?select=name,em_employees!em_employees_manager_fk(name)",
        "em_employees",
        "em_employees",
        Some("em_employees_manager_fk"),
        None,
    );
}

#[test]
fn composite_keys_embed_both_ways() {
    assert_rows(
        "/em_meetings?select=title,em_rooms(floor)&order=id",
        json!([
            {"title": "Kickoff", "em_rooms": {"floor": 0}},
            {"title": "Retro", "em_rooms": {"floor": 1}},
            {"title": "Standup", "em_rooms": {"floor": 0}},
            {"title": "Offsite", "em_rooms": null}
        ]),
    );
    assert_rows(
        "/em_rooms?select=building,number,em_meetings(title)&order=building,number\
         &em_meetings.order=id",
        json!([
            {"building": "A", "number": 1, "em_meetings": [{"title": "Kickoff"}, {"title": "Standup"}]},
            {"building": "A", "number": 2, "em_meetings": [{"title": "Retro"}]},
            {"building": "B", "number": 1, "em_meetings": []}
        ]),
    );
    assert_rows(
        "/em_meetings?select=title,em_rooms!em_meetings_room_fk(building,number)&id=eq.2",
        json!([{"title": "Retro", "em_rooms": {"building": "A", "number": 2}}]),
    );
}

#[test]
fn views_embed_through_the_keys_of_their_tables() {
    // em_staff_v renames em_employees' columns (dept_id is `department`).
    assert_rows(
        "/em_staff_v?select=full_name,em_departments(name)&order=staff_id",
        json!([
            {"full_name": "Ada", "em_departments": {"name": "Research"}},
            {"full_name": "Brook", "em_departments": {"name": "Research"}},
            {"full_name": "Cyd", "em_departments": {"name": "Sales"}},
            {"full_name": "Dale", "em_departments": {"name": "Sales"}},
            {"full_name": "Eve", "em_departments": null}
        ]),
    );
    assert_rows(
        "/em_departments?select=name,em_staff_v(full_name)&order=id&em_staff_v.order=staff_id",
        json!([
            {"name": "Research", "em_staff_v": [{"full_name": "Ada"}, {"full_name": "Brook"}]},
            {"name": "Sales", "em_staff_v": [{"full_name": "Cyd"}, {"full_name": "Dale"}]},
            {"name": "Legal", "em_staff_v": []}
        ]),
    );
    // The view's column is the hint.
    assert_rows(
        "/em_departments?select=name,em_staff_v!department(full_name)&id=eq.2\
         &em_staff_v.order=staff_id",
        json!([{"name": "Sales", "em_staff_v": [{"full_name": "Cyd"}, {"full_name": "Dale"}]}]),
    );
    // Many-to-many from the view through the table's junction.
    assert_rows(
        "/em_staff_v?select=full_name,em_projects(name)&staff_id=eq.2&em_projects.order=id",
        json!([{"full_name": "Brook", "em_projects": [{"name": "Apollo"}, {"name": "Borealis"}]}]),
    );
}

#[test]
fn a_view_of_an_unexposed_table_is_embeddable() {
    assert_rows(
        "/em_employees?select=name,em_levels_v(title)&order=id",
        json!([
            {"name": "Ada", "em_levels_v": {"title": "senior"}},
            {"name": "Brook", "em_levels_v": {"title": "junior"}},
            {"name": "Cyd", "em_levels_v": {"title": "senior"}},
            {"name": "Dale", "em_levels_v": {"title": "junior"}},
            {"name": "Eve", "em_levels_v": null}
        ]),
    );
    assert_rows(
        "/em_levels_v?select=title,em_employees(name)&order=id&em_employees.order=id",
        json!([
            {"title": "junior", "em_employees": [{"name": "Brook"}, {"name": "Dale"}]},
            {"title": "senior", "em_employees": [{"name": "Ada"}, {"name": "Cyd"}]}
        ]),
    );
}

#[test]
fn a_materialized_view_embeds_like_its_table() {
    assert_rows(
        "/em_assignments?select=role,em_projects_m(name)&employee_id=eq.2&order=project_id",
        json!([
            {"role": "dev", "em_projects_m": {"name": "Apollo"}},
            {"role": "lead", "em_projects_m": {"name": "Borealis"}}
        ]),
    );
    assert_rows(
        "/em_projects_m?select=name,em_assignments(role)&order=id&em_assignments.order=employee_id",
        json!([
            {"name": "Apollo", "em_assignments": [{"role": "lead"}, {"role": "dev"}]},
            {"name": "Borealis", "em_assignments": [{"role": "lead"}, {"role": "dev"}, {"role": "dev"}]},
            {"name": "Cosmos", "em_assignments": []}
        ]),
    );
    assert_rows(
        "/em_projects_m?select=name,em_employees(name)&id=eq.1&em_employees.order=id",
        json!([{"name": "Apollo", "em_employees": [{"name": "Ada"}, {"name": "Brook"}]}]),
    );
}

// ---------------------------------------------------------------------------------------------
// Computed relationships

#[test]
fn a_set_returning_function_is_a_to_many_computed_relationship() {
    assert_rows(
        "/em_departments?select=name,em_dept_projects(name)&order=id&em_dept_projects.order=id",
        json!([
            {"name": "Research", "em_dept_projects": [{"name": "Apollo"}, {"name": "Borealis"}]},
            {"name": "Sales", "em_dept_projects": [{"name": "Borealis"}]},
            {"name": "Legal", "em_dept_projects": []}
        ]),
    );
}

#[test]
fn rows_1_or_a_single_row_function_is_a_to_one_computed_relationship() {
    // SETOF ... ROWS 1.
    assert_rows(
        "/em_projects?select=name,em_lead(name)&order=id",
        json!([
            {"name": "Apollo", "em_lead": {"name": "Ada"}},
            {"name": "Borealis", "em_lead": {"name": "Brook"}},
            {"name": "Cosmos", "em_lead": null}
        ]),
    );
    // Not SETOF. For Eve the function returns NULL, which PostgreSQL turns into one row of
    // nulls when the function is in FROM: PostgREST shows an object of nulls, not null.
    assert_rows(
        "/em_employees?select=name,em_home(name)&order=id",
        json!([
            {"name": "Ada", "em_home": {"name": "Research"}},
            {"name": "Brook", "em_home": {"name": "Research"}},
            {"name": "Cyd", "em_home": {"name": "Sales"}},
            {"name": "Dale", "em_home": {"name": "Sales"}},
            {"name": "Eve", "em_home": {"name": null}}
        ]),
    );
}

#[test]
fn computed_relationships_take_filters_joins_orders_and_spreads() {
    assert_rows(
        "/em_departments?select=name,em_dept_projects(name)&em_dept_projects.name=eq.Borealis\
         &order=id",
        json!([
            {"name": "Research", "em_dept_projects": [{"name": "Borealis"}]},
            {"name": "Sales", "em_dept_projects": [{"name": "Borealis"}]},
            {"name": "Legal", "em_dept_projects": []}
        ]),
    );
    assert_rows(
        "/em_departments?select=name,em_dept_projects!inner(name)&em_dept_projects.name=eq.Apollo",
        json!([{"name": "Research", "em_dept_projects": [{"name": "Apollo"}]}]),
    );
    assert_rows(
        "/em_projects?select=name,em_lead()&em_lead=is.null",
        json!([{"name": "Cosmos"}]),
    );
    assert_rows(
        "/em_projects?select=name,em_lead(name)&order=em_lead(name).desc.nullslast",
        json!([
            {"name": "Borealis", "em_lead": {"name": "Brook"}},
            {"name": "Apollo", "em_lead": {"name": "Ada"}},
            {"name": "Cosmos", "em_lead": null}
        ]),
    );
    assert_related_order_not_to_one(
        "/em_departments?select=name,em_dept_projects(name)&order=em_dept_projects(name)",
        "em_departments",
        "em_dept_projects",
    );
    assert_rows(
        "/em_projects?select=name,...em_lead(lead:name)&order=id",
        json!([
            {"name": "Apollo", "lead": "Ada"},
            {"name": "Borealis", "lead": "Brook"},
            {"name": "Cosmos", "lead": null}
        ]),
    );
    assert_rows(
        "/em_departments?select=name,...em_dept_projects(projects:name)&order=id\
         &em_dept_projects.order=id",
        json!([
            {"name": "Research", "projects": ["Apollo", "Borealis"]},
            {"name": "Sales", "projects": ["Borealis"]},
            {"name": "Legal", "projects": []}
        ]),
    );
}

// ---------------------------------------------------------------------------------------------
// Embeds with counts, ranges, representations, HEAD

#[test]
fn exact_counts_count_the_parents_only() {
    let exact = [("Prefer", "count=exact")];
    let r = get_with(
        "/em_departments?select=name,em_employees(name)&order=id&em_employees.order=id",
        &exact,
    );
    assert_eq!(assert_json_array(&r).len(), 3);
    assert_header(&r, "Content-Range", "0-2/3");

    let r = get_with(
        "/em_departments?select=name,em_employees!inner(name)&order=id",
        &exact,
    );
    assert_eq!(assert_json_array(&r).len(), 2);
    assert_header(&r, "Content-Range", "0-1/2");

    let r = get_with(
        "/em_departments?select=name,em_employees()&em_employees=is.null",
        &exact,
    );
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"name": "Legal"}])
    );
    assert_header(&r, "Content-Range", "0-0/1");

    // An employee with several projects is still one row.
    let r = get_with("/em_employees?select=id,em_projects(id)&order=id", &exact);
    assert_eq!(assert_json_array(&r).len(), 5);
    assert_header(&r, "Content-Range", "0-4/5");
}

#[test]
fn limit_offset_and_range_page_the_parents() {
    let r = get_with(
        "/em_departments?select=name,em_employees(name)&order=id&em_employees.order=id\
         &limit=1&offset=1",
        &[],
    );
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"name": "Sales", "em_employees": [{"name": "Cyd"}, {"name": "Dale"}]}])
    );
    assert_header(&r, "Content-Range", "1-1/*");

    let r = get_with(
        "/em_departments?select=name,em_employees(name)&order=id&em_employees.order=id\
         &em_employees.limit=1",
        &[("Range", "1-2"), ("Prefer", "count=exact")],
    );
    assert_status(&r, 206);
    assert_header(&r, "Content-Range", "1-2/3");
    assert_eq!(
        r.json(),
        json!([
            {"name": "Sales", "em_employees": [{"name": "Cyd"}]},
            {"name": "Legal", "em_employees": []}
        ])
    );
}

#[test]
fn the_singular_object_carries_its_embeds() {
    let object = [("Accept", "application/vnd.pgrst.object+json")];
    let r = get_with(
        "/em_departments?select=name,em_employees(name,em_desks(label))&id=eq.1\
         &em_employees.order=id",
        &object,
    );
    assert_status(&r, 200);
    assert_header(&r, "Content-Type", OBJECT_CT);
    assert_eq!(
        r.json(),
        json!({"name": "Research", "em_employees": [
            {"name": "Ada", "em_desks": {"label": "corner"}},
            {"name": "Brook", "em_desks": {"label": "window"}}
        ]})
    );
    // An inner embed can make the result singular.
    let r = get_with(
        "/em_departments?select=name,em_employees!inner(name)&em_employees.name=eq.Dale",
        &object,
    );
    assert_status(&r, 200);
    assert_eq!(
        r.json(),
        json!({"name": "Sales", "em_employees": [{"name": "Dale"}]})
    );
    // The rows counted are the parents, not the embedded rows.
    let r = get_with("/em_departments?select=name,em_employees(name)", &object);
    let e = assert_error_message(
        &r,
        406,
        "PGRST116",
        "Cannot coerce the result to a single JSON object",
    );
    assert_eq!(e["details"], "The result contains 3 rows");
}

#[test]
fn csv_cells_hold_the_embeds_as_json_text() {
    let csv = [("Accept", "text/csv")];
    // To-one embeds are jsonb objects, to-many embeds jsonb arrays ("[]" when empty), in the
    // text form of a record (PostgREST's asCsvF): jsonb's spacing, quotes doubled; a missing
    // to-one is an empty cell.
    let r = get_with(
        "/em_employees?select=id,em_departments(id,name),em_projects(id)&id=in.(2,5)&order=id\
         &em_projects.order=id",
        &csv,
    );
    assert_status(&r, 200);
    assert_header(&r, "Content-Type", CSV_CT);
    assert_eq!(
        r.text(),
        "id,em_departments,em_projects\n\
         2,\"{\"\"id\"\": 1, \"\"name\"\": \"\"Research\"\"}\",\"[{\"\"id\"\": 1}, {\"\"id\"\": 2}]\"\n\
         5,,[]"
    );
    // Spread columns are plain columns.
    let r = get_with(
        "/em_employees?select=id,...em_departments(dept:name)&id=in.(2,5)&order=id",
        &csv,
    );
    assert_status(&r, 200);
    assert_eq!(r.text(), "id,dept\n2,Research\n5,");
}

#[test]
fn stripped_nulls_reach_into_the_embeds() {
    let stripped = [("Accept", "application/vnd.pgrst.array+json;nulls=stripped")];
    // json_strip_nulls over the whole body: null fields of embedded objects go too (Cyd's
    // badge becomes {}), null elements of arrays stay.
    let r = get_with(
        "/em_employees?select=id,em_badges(code),em_departments(name)&id=in.(3,5)&order=id",
        &stripped,
    );
    assert_status(&r, 200);
    assert_header(&r, "Content-Type", ARRAY_STRIP_CT);
    assert_eq!(
        r.json(),
        json!([
            {"id": 3, "em_badges": {}, "em_departments": {"name": "Sales"}},
            {"id": 5}
        ])
    );
    let r = get_with(
        "/em_departments?select=name,...em_employees(managers:manager_id)&id=eq.1\
         &em_employees.order=id",
        &stripped,
    );
    assert_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"name": "Research", "managers": [null, 1]}])
    );
}

#[test]
fn head_with_embeds_answers_headers_only() {
    let r = cluster().head(
        &enc("/em_departments?select=name,em_employees!inner(name)&em_employees.name=eq.Cyd"),
        &[("Prefer", "count=exact")],
    );
    assert_status(&r, 200);
    assert!(r.body.is_empty(), "{}", r.describe());
    assert_header(&r, "Content-Type", JSON_CT);
    assert_header(&r, "Content-Range", "0-0/1");
    // A relationship error is still one.
    let r = cluster().head(&enc("/em_flights?select=id,em_airports(city)"), &[]);
    assert_status(&r, 300);
    assert!(r.body.is_empty(), "{}", r.describe());
}

// ---------------------------------------------------------------------------------------------
// Writes that return their embeds (api.em_tickets, ids >= 100, one test at a time)

static TICKETS: Mutex<()> = Mutex::new(());

/// Exclusive use of the em_tickets rows with id >= 100, removed before and after.
struct Tickets {
    _lock: MutexGuard<'static, ()>,
}

fn tickets() -> Tickets {
    let lock = TICKETS.lock().unwrap_or_else(|e| e.into_inner());
    clear_tickets();
    Tickets { _lock: lock }
}

fn clear_tickets() {
    cluster().psql("delete from api.em_tickets where id >= 100");
}

impl Drop for Tickets {
    fn drop(&mut self) {
        clear_tickets();
    }
}

const REPRESENTATION: (&str, &str) = ("Prefer", "return=representation");

#[test]
fn writes_post_returns_the_embeds_of_the_new_rows() {
    let _t = tickets();
    let c = cluster();
    // The select leaves out the key columns: the embeds still find their rows.
    let r = c.post_json(
        &enc(
            "/em_tickets?select=id,title,assignee:em_employees(name,em_departments(name)),\
             em_projects(name)",
        ),
        &json!({"id": 100, "title": "Ship it", "assignee_id": 3, "project_id": 2}),
        &[REPRESENTATION],
    );
    assert_status(&r, 201);
    assert_eq!(
        r.json(),
        json!([{
            "id": 100,
            "title": "Ship it",
            "assignee": {"name": "Cyd", "em_departments": {"name": "Sales"}},
            "em_projects": {"name": "Borealis"}
        }])
    );

    let r = c.post_json(
        &enc("/em_tickets?select=id,...em_employees(who:name),em_projects(name)"),
        &json!([
            {"id": 101, "title": "a", "assignee_id": 5, "project_id": null},
            {"id": 102, "title": "b", "assignee_id": null, "project_id": 3}
        ]),
        &[REPRESENTATION],
    );
    assert_status(&r, 201);
    let mut got = r.json().as_array().cloned().unwrap_or_default();
    got.sort_by_key(|row| row["id"].as_i64());
    assert_eq!(
        Value::Array(got),
        json!([
            {"id": 101, "who": "Eve", "em_projects": null},
            {"id": 102, "who": null, "em_projects": {"name": "Cosmos"}}
        ]),
        "{}",
        r.describe()
    );

    let r = c.post_json(
        &enc("/em_tickets?select=title,em_employees(em_desks(label))"),
        &json!({"id": 103, "title": "c", "assignee_id": 1}),
        &[
            REPRESENTATION,
            ("Accept", "application/vnd.pgrst.object+json"),
        ],
    );
    assert_status(&r, 201);
    assert_header(&r, "Content-Type", OBJECT_CT);
    assert_eq!(
        r.json(),
        json!({"title": "c", "em_employees": {"em_desks": {"label": "corner"}}})
    );
    assert_eq!(
        c.psql("select string_agg(id::text, ',' order by id) from api.em_tickets where id >= 100"),
        "100,101,102,103"
    );
}

#[test]
fn writes_patch_returns_embeds_and_embedded_filters_only_shape_them() {
    let _t = tickets();
    let c = cluster();
    c.psql("insert into api.em_tickets values (100, 'Ship it', 3, 2), (101, 'Other', 4, 2)");
    let r = c.patch_json(
        &enc("/em_tickets?id=eq.100&select=title,...em_employees(assignee:name)"),
        &json!({"assignee_id": 1}),
        &[REPRESENTATION],
    );
    assert_status(&r, 200);
    assert_eq!(r.json(), json!([{"title": "Ship it", "assignee": "Ada"}]));

    // A filter on the embed shapes the representation; the root filter alone picks the rows.
    let r = c.patch_json(
        &enc("/em_tickets?id=eq.100&select=id,em_employees(name)&em_employees.name=eq.Nobody"),
        &json!({"title": "Renamed"}),
        &[REPRESENTATION],
    );
    assert_status(&r, 200);
    assert_eq!(r.json(), json!([{"id": 100, "em_employees": null}]));
    assert_eq!(
        c.psql("select id || ':' || title || ':' || assignee_id from api.em_tickets where id >= 100 order by id"),
        "100:Renamed:1\n101:Other:4"
    );
}

#[test]
fn writes_delete_returns_the_embeds_of_the_deleted_rows() {
    let _t = tickets();
    let c = cluster();
    c.psql("insert into api.em_tickets values (100, 'Ship it', 2, 1), (101, 'Keep', 2, 1)");
    let r = c.delete(
        &enc("/em_tickets?id=eq.100&select=id,em_projects(name,em_lead(name)),em_employees(em_desks(label))"),
        &[REPRESENTATION],
    );
    assert_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{
            "id": 100,
            "em_projects": {"name": "Apollo", "em_lead": {"name": "Ada"}},
            "em_employees": {"em_desks": {"label": "window"}}
        }])
    );
    assert_eq!(
        c.psql("select string_agg(id::text, ',' order by id) from api.em_tickets"),
        "1,101"
    );
}

// ---------------------------------------------------------------------------------------------
// The demo schema (sql/demo.sql, at its seed values)

#[test]
fn demo_todos_with_their_user() {
    assert_rows(
        "/todos?select=id,task,user:users(id,name)&order=id",
        json!([
            {"id": 1, "task": "finish tutorial 0", "user": {"id": 1, "name": "Alice"}},
            {"id": 2, "task": "pat self on back", "user": {"id": 1, "name": "Alice"}},
            {"id": 3, "task": "buy milk", "user": {"id": 42, "name": "Zaphod"}},
            {"id": 4, "task": "answer the ultimate question", "user": {"id": 42, "name": "Zaphod"}}
        ]),
    );
}

#[test]
fn demo_users_with_their_open_todos() {
    let users = rows("/users?select=id,name,todos(*)&todos.done=is.false&order=id");
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 2, "{users:?}");
    let mut open = Vec::new();
    for user in users {
        assert_eq!(keys(user), ["id", "name", "todos"], "{user}");
        let todos = user["todos"].as_array().unwrap_or_else(|| panic!("{user}"));
        for todo in todos {
            assert_eq!(
                keys(todo),
                ["created_at", "done", "due", "id", "task", "user_id"],
                "{todo}"
            );
            assert_eq!(todo["done"], false, "{todo}");
            assert_eq!(todo["user_id"], user["id"], "{todo}");
        }
        // The embed has no order of its own: compare the ids as a set.
        let mut ids: Vec<i64> = todos.iter().map(|t| t["id"].as_i64().unwrap()).collect();
        ids.sort_unstable();
        open.push((user["name"].as_str().unwrap().to_string(), ids));
    }
    assert_eq!(
        open,
        [
            ("Alice".to_string(), vec![1, 2]),
            ("Zaphod".to_string(), vec![4])
        ]
    );
    let zaphod = &users[1]["todos"][0];
    assert_eq!(zaphod["task"], "answer the ultimate question");
    assert_eq!(zaphod["due"], "2026-12-31T23:59:00+00:00");
}

// ---------------------------------------------------------------------------------------------
// Privileges

#[test]
fn embedding_a_table_the_role_may_not_read_is_42501() {
    // The schema cache knows em_payroll whatever the role may read; PostgreSQL refuses the
    // query. Anonymous: 401 with `WWW-Authenticate: Bearer`; a JWT role: 403.
    let path = enc("/em_employees?select=name,em_payroll(salary)");
    let r = cluster().get(&path);
    let e = assert_error(&r, 401, "42501");
    assert_eq!(e["message"], "permission denied for table em_payroll");
    assert_eq!(e["details"], Value::Null);
    assert_eq!(e["hint"], Value::Null);
    assert_header(&r, "WWW-Authenticate", "Bearer");

    let token = jwt(json!({"role": "web_user"}));
    let r = cluster().get_with(&path, &[("Authorization", &bearer(&token))]);
    let e = assert_error(&r, 403, "42501");
    assert_eq!(e["message"], "permission denied for table em_payroll");
    assert_no_header(&r, "WWW-Authenticate");

    // An empty embed reads the table too.
    let r = cluster().get(&enc(
        "/em_employees?select=name,em_payroll()&em_payroll=is.null",
    ));
    assert_error(&r, 401, "42501");
    // The same request without the embed is fine.
    assert_eq!(
        rows("/em_employees?select=name&id=eq.1"),
        json!([{"name": "Ada"}])
    );
}
