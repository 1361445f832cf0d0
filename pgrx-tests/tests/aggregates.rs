//! Aggregates in `select` (`pgrest.db_aggregates_enabled`), as PostgREST 12+: `count()`,
//! `col.sum()`, `avg`, `min`, `max`, `col.count()`, aliases, casts before and after,
//! grouping by the other selected fields (and embedded columns), in embeds, on function
//! results, lifted out of to-one spreads; PGRST123 when disabled.
//!
//! Cluster `aggregates` (`pgrest.db_aggregates_enabled = on`); the default cluster of the
//! embedding suite answers PGRST123. Fixtures: 55_embedding.sql (eb_books: years 2001, 2005,
//! 2010 and NULL; authors 1, 1, 2 and NULL), 70_writes_rpc.sql (fn_table).

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared_with("aggregates", &[("pgrest.db_aggregates_enabled", "on")])
}

#[track_caller]
fn rows(path: &str) -> Value {
    Value::Array(assert_json_array(&cluster().get(path)))
}

#[test]
fn aggregates_over_all_rows() {
    assert_eq!(rows("/eb_books?select=count()"), json!([{"count": 4}]));
    assert_eq!(rows("/eb_books?select=n:count()"), json!([{"n": 4}]));
    assert_eq!(
        rows("/eb_books?select=count()::text"),
        json!([{"count": "4"}])
    );
    assert_eq!(
        rows("/eb_books?select=year.sum(),year.min(),year.max(),year.count()"),
        json!([{"sum": 6016, "min": 2001, "max": 2010, "count": 3}])
    );
    assert_eq!(
        rows("/eb_books?select=avg:year.avg()::int"),
        json!([{"avg": 2005}])
    );
    // A cast before the aggregate.
    assert_eq!(
        rows("/eb_books?select=title::text.max()"),
        json!([{"max": "Gamma"}])
    );
    // Filters apply before the aggregate.
    assert_eq!(
        rows("/eb_books?select=count()&year=gte.2005"),
        json!([{"count": 2}])
    );
}

#[test]
fn the_other_fields_group_the_rows() {
    assert_eq!(
        rows("/eb_books?select=author_id,count(),year.max()&order=author_id.nullsfirst"),
        json!([
            {"author_id": null, "count": 1, "max": null},
            {"author_id": 1, "count": 2, "max": 2005},
            {"author_id": 2, "count": 1, "max": 2010}
        ])
    );
    // By alias, ordered by the grouped column.
    assert_eq!(
        rows("/eb_books?select=who:author_id,books:count()&author_id=not.is.null&order=author_id.desc"),
        json!([{"who": 2, "books": 1}, {"who": 1, "books": 2}])
    );
    // An embedded to-one column is part of the group.
    let mut got = assert_json_array(
        &cluster().get("/eb_books?select=count(),eb_publishers(name)&publisher_id=not.is.null"),
    );
    got.sort_by_key(|r| -r["count"].as_i64().unwrap_or(0));
    assert_eq!(
        Value::Array(got),
        json!([
            {"count": 2, "eb_publishers": {"name": "North"}},
            {"count": 1, "eb_publishers": {"name": "South"}}
        ])
    );
}

#[test]
fn aggregates_in_embeds_and_function_results() {
    // Per parent row: the embed's rows are aggregated inside its own subquery.
    assert_eq!(
        rows("/eb_authors?select=name,books:eb_books!author_id(count(),year.max())&order=id"),
        json!([
            {"name": "Ann", "books": [{"count": 2, "max": 2005}]},
            {"name": "Ben", "books": [{"count": 1, "max": 2010}]},
            // No rows still make one aggregate row, as in PostgREST.
            {"name": "Cat", "books": [{"count": 0, "max": null}]}
        ])
    );
    assert_eq!(
        rows("/rpc/fn_table?n=4&select=sq.sum(),x.count()"),
        json!([{"sum": 30, "count": 4}])
    );
}

#[test]
fn a_to_one_spreads_aggregates_are_computed_at_its_parents_level() {
    // PostgREST's hoisting: `...rel(col.agg())` aggregates over the parent's rows, grouped
    // by the parent's other fields.
    assert_eq!(
        rows("/eb_books?select=...eb_authors!author_id(authors:id.count())"),
        json!([{"authors": 3}])
    );
    assert_eq!(
        rows("/eb_books?select=publisher_id,...eb_authors!author_id(n:id.count())&order=publisher_id.nullsfirst"),
        json!([
            {"publisher_id": null, "n": 0},
            {"publisher_id": 1, "n": 2},
            {"publisher_id": 2, "n": 1}
        ])
    );
    // count() counts the spread's rows (a book without an author has none).
    assert_eq!(
        rows("/eb_books?select=publisher_id,...eb_authors!author_id(count())&order=publisher_id.nullsfirst"),
        json!([
            {"publisher_id": null, "count": 0},
            {"publisher_id": 1, "count": 2},
            {"publisher_id": 2, "count": 1}
        ])
    );
    // Grouped by a spread's plain field, with the aggregate's cast.
    assert_eq!(
        rows("/eb_books?select=year.sum()::text,...eb_publishers(name)&publisher_id=not.is.null&order=eb_publishers(name)"),
        json!([{"sum": "4011", "name": "North"}, {"sum": "2005", "name": "South"}])
    );
    // Through nested to-one spreads, up to the first level that is not one.
    assert_eq!(
        rows("/eb_prints?select=...eb_editions(lang,...eb_books(latest:year.max()))&order=eb_editions(lang)"),
        json!([{"lang": "en", "latest": 2010}, {"lang": "fr", "latest": 2001}])
    );
    assert_eq!(
        rows("/eb_books?select=title,eb_editions(...eb_books(n:count()))&id=eq.1"),
        json!([{"title": "Alpha", "eb_editions": [{"n": 2}]}])
    );
    // To-many spreads do not aggregate (PostgREST's answer).
    let r = cluster().get("/eb_authors?select=name,...eb_books!author_id(year.sum())");
    let body = assert_error_message(&r, 400, "PGRST127", "Feature not implemented");
    assert_eq!(
        body["details"],
        "Aggregates are not implemented for one-to-many or many-to-many spreads."
    );
}

#[test]
fn disabled_by_default() {
    let r = Cluster::shared("embedding").get("/eb_books?select=count()");
    assert_error_message(
        &r,
        400,
        "PGRST123",
        "Use of aggregate functions is not allowed",
    );
}
