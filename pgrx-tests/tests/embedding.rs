//! Resource embedding as PostgREST does it: relationships from foreign keys (many-to-one,
//! one-to-many, one-to-one, many-to-many, self, composite), through views and materialized
//! views, computed relationships; hints, `!inner`, null filters, embedded filters, orders
//! and ranges, related orders, spreads; the errors PGRST200, PGRST201, PGRST108, PGRST118;
//! embeds with counts, ranges, singular objects, CSV, stripped nulls, HEAD and writes.
//!
//! Cluster `embedding` (defaults). Fixtures: pgrx-tests/fixtures/55_embedding.sql (eb_*) and
//! sql/demo.sql (todos/users, at their seed values: nothing here writes to them). Expected
//! values follow PostgREST's Plan.hs, QueryBuilder.hs and Error.hs, and its spec tests in
//! test/spec/Feature/Query/{RelatedQueries,EmbedDisambiguation,EmbedInnerJoin,SpreadQueries}Spec.hs.

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("embedding")
}

/// GET `path` (its query percent-encoded), expect a 200 JSON array.
#[track_caller]
fn rows(path: &str) -> Value {
    Value::Array(assert_json_array(&cluster().get(&wire(path))))
}

fn wire(path: &str) -> String {
    match path.split_once('?') {
        Some((table, query)) => {
            let enc: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => format!("{}={}", urlencode(k), urlencode(v)),
                    None => urlencode(kv),
                })
                .collect();
            format!("{table}?{}", enc.join("&"))
        }
        None => path.to_string(),
    }
}

#[track_caller]
fn error(path: &str, status: u16, code: &str) -> Value {
    assert_error(&cluster().get(&wire(path)), status, code)
}

#[test]
fn many_to_one_is_an_object_or_null() {
    assert_eq!(
        rows("/eb_books?select=id,author:eb_authors!author_id(name)&order=id"),
        json!([
            {"id": 1, "author": {"name": "Ann"}},
            {"id": 2, "author": {"name": "Ann"}},
            {"id": 3, "author": {"name": "Ben"}},
            {"id": 4, "author": null}
        ])
    );
}

#[test]
fn one_to_many_is_an_array_empty_when_there_is_none() {
    assert_eq!(
        rows("/eb_authors?select=name,eb_books!author_id(title)&order=id&eb_books.order=id"),
        json!([
            {"name": "Ann", "eb_books": [{"title": "Alpha"}, {"title": "Beta"}]},
            {"name": "Ben", "eb_books": [{"title": "Gamma"}]},
            {"name": "Cat", "eb_books": []}
        ])
    );
}

#[test]
fn one_to_one_is_an_object_both_ways() {
    assert_eq!(
        rows("/eb_authors?select=name,eb_author_bios(bio)&order=id"),
        json!([
            {"name": "Ann", "eb_author_bios": {"bio": "Ann writes"}},
            {"name": "Ben", "eb_author_bios": {"bio": "Ben edits"}},
            {"name": "Cat", "eb_author_bios": null}
        ])
    );
    assert_eq!(
        rows("/eb_author_bios?select=bio,eb_authors(name)&order=author_id"),
        json!([
            {"bio": "Ann writes", "eb_authors": {"name": "Ann"}},
            {"bio": "Ben edits", "eb_authors": {"name": "Ben"}}
        ])
    );
}

#[test]
fn many_to_many_goes_through_the_junction() {
    let expected = json!([
        {"title": "Alpha", "eb_genres": [{"name": "fiction"}, {"name": "poetry"}]},
        {"title": "Beta", "eb_genres": []},
        {"title": "Gamma", "eb_genres": [{"name": "fiction"}]},
        {"title": "Delta", "eb_genres": []}
    ]);
    assert_eq!(
        rows("/eb_books?select=title,eb_genres(name)&order=id&eb_genres.order=id"),
        expected
    );
    // The junction as hint names the same relationship.
    assert_eq!(
        rows("/eb_books?select=title,eb_genres!eb_book_genres(name)&order=id&eb_genres.order=id"),
        expected
    );
}

#[test]
fn two_keys_to_the_same_table_are_ambiguous_until_hinted() {
    let e = error("/eb_books?select=title,eb_authors(name)", 300, "PGRST201");
    assert_eq!(
        e["message"],
        "Could not embed because more than one relationship was found for 'eb_books' and 'eb_authors'"
    );
    assert_eq!(
        e["details"],
        json!([
            {"cardinality": "many-to-one", "embedding": "eb_books with eb_authors",
             "relationship": "eb_books_author_id_fkey using eb_books(author_id) and eb_authors(id)"},
            {"cardinality": "many-to-one", "embedding": "eb_books with eb_authors",
             "relationship": "eb_books_editor using eb_books(editor_id) and eb_authors(id)"}
        ])
    );
    assert_eq!(
        e["hint"],
        "Try changing 'eb_authors' to one of the following: 'eb_authors!eb_books_author_id_fkey', \
         'eb_authors!eb_books_editor'. Find the desired relationship in the 'details' key."
    );
    // By constraint name or by column, the editor.
    for hint in ["eb_books_editor", "editor_id"] {
        assert_eq!(
            rows(&format!(
                "/eb_books?select=title,eb_authors!{hint}(name)&order=id&limit=2"
            )),
            json!([
                {"title": "Alpha", "eb_authors": {"name": "Ben"}},
                {"title": "Beta", "eb_authors": null}
            ]),
            "{hint}"
        );
    }
}

#[test]
fn no_relationship_is_pgrst200_with_a_suggestion() {
    let e = error("/eb_books?select=title,eb_author(name)", 400, "PGRST200");
    assert_eq!(
        e["message"],
        "Could not find a relationship between 'eb_books' and 'eb_author' in the schema cache"
    );
    assert_eq!(
        e["details"],
        "Searched for a foreign key relationship between 'eb_books' and 'eb_author' in the \
         schema 'api', but no matches were found."
    );
    assert_eq!(
        e["hint"],
        "Perhaps you meant 'eb_authors' instead of 'eb_author'."
    );
    let e = error(
        "/eb_books?select=title,eb_genres!nope(name)",
        400,
        "PGRST200",
    );
    assert_eq!(
        e["details"],
        "Searched for a foreign key relationship between 'eb_books' and 'eb_genres' using the \
         hint 'nope' in the schema 'api', but no matches were found."
    );
}

#[test]
fn nested_embeds_aliases_and_the_same_relation_twice() {
    assert_eq!(
        rows(
            "/eb_publishers?select=name,eb_books(title,writer:eb_authors!author_id(name,eb_author_bios(bio)))\
             &order=id&eb_books.order=id"
        ),
        json!([
            {"name": "North", "eb_books": [
                {"title": "Alpha", "writer": {"name": "Ann", "eb_author_bios": {"bio": "Ann writes"}}},
                {"title": "Gamma", "writer": {"name": "Ben", "eb_author_bios": {"bio": "Ben edits"}}}
            ]},
            {"name": "South", "eb_books": [
                {"title": "Beta", "writer": {"name": "Ann", "eb_author_bios": {"bio": "Ann writes"}}}
            ]}
        ])
    );
    assert_eq!(
        rows(
            "/eb_authors?select=name,old:eb_books!author_id(title),new:eb_books!author_id(title)\
             &old.year=lt.2005&new.year=gte.2005&id=eq.1"
        ),
        json!([{"name": "Ann", "old": [{"title": "Alpha"}], "new": [{"title": "Beta"}]}])
    );
    // `*` inside an embed.
    assert_eq!(
        rows("/eb_books?select=id,eb_publishers(*)&id=eq.2"),
        json!([{"id": 2, "eb_publishers": {"id": 2, "name": "South"}}])
    );
}

#[test]
fn inner_joins_and_null_filters_choose_the_parents() {
    let r = cluster().get_with(
        &wire("/eb_authors?select=name,eb_books!author_id!inner(title)&order=id&eb_books.order=id"),
        &[("Prefer", "count=exact")],
    );
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([
            {"name": "Ann", "eb_books": [{"title": "Alpha"}, {"title": "Beta"}]},
            {"name": "Ben", "eb_books": [{"title": "Gamma"}]}
        ])
    );
    assert_header(&r, "Content-Range", "0-1/2");
    // An inner embed with a filter keeps only the parents with a matching row.
    assert_eq!(
        rows("/eb_authors?select=name,eb_books!author_id!inner(title)&eb_books.year=gt.2008"),
        json!([{"name": "Ben", "eb_books": [{"title": "Gamma"}]}])
    );
    // !left is the default.
    assert_eq!(
        rows("/eb_authors?select=name,eb_books!author_id!left(title)&order=id")
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // Empty embeds filter without adding a key.
    assert_eq!(
        rows("/eb_authors?select=name,eb_books!author_id()&eb_books=is.null"),
        json!([{"name": "Cat"}])
    );
    assert_eq!(
        rows("/eb_authors?select=name,eb_books!author_id()&eb_books=not.is.null&order=id"),
        json!([{"name": "Ann"}, {"name": "Ben"}])
    );
    // To-one: books without an author; with the count reported on the same filter.
    let r = cluster().get_with(
        &wire("/eb_books?select=title,eb_authors!author_id(name)&eb_authors=is.null&limit=5"),
        &[("Prefer", "count=exact")],
    );
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"title": "Delta", "eb_authors": null}])
    );
    assert_header(&r, "Content-Range", "0-0/1");
    // Inside or=.
    assert_eq!(
        rows("/eb_authors?select=name,eb_books!author_id()&or=(eb_books.is.null,name.eq.Ben)&order=id"),
        json!([{"name": "Ben"}, {"name": "Cat"}])
    );
}

#[test]
fn embedded_filters_orders_and_ranges_apply_to_the_embed() {
    assert_eq!(
        rows(
            "/eb_authors?select=name,eb_books!author_id(title)&order=id\
             &eb_books.or=(year.lt.2002,year.gt.2008)&eb_books.order=year.desc"
        ),
        json!([
            {"name": "Ann", "eb_books": [{"title": "Alpha"}]},
            {"name": "Ben", "eb_books": [{"title": "Gamma"}]},
            {"name": "Cat", "eb_books": []}
        ])
    );
    assert_eq!(
        rows(
            "/eb_authors?select=name,eb_books!author_id(title)&order=id\
             &eb_books.order=id&eb_books.limit=1&eb_books.offset=1"
        ),
        json!([
            {"name": "Ann", "eb_books": [{"title": "Beta"}]},
            {"name": "Ben", "eb_books": []},
            {"name": "Cat", "eb_books": []}
        ])
    );
    // A filter two levels down empties the to-one embed, never the parent.
    assert_eq!(
        rows(
            "/eb_publishers?select=name,eb_books(title,eb_authors!author_id(name))\
             &eb_books.eb_authors.name=eq.Ben&order=id&eb_books.order=id"
        ),
        json!([
            {"name": "North", "eb_books": [
                {"title": "Alpha", "eb_authors": null},
                {"title": "Gamma", "eb_authors": {"name": "Ben"}}
            ]},
            {"name": "South", "eb_books": [{"title": "Beta", "eb_authors": null}]}
        ])
    );
}

#[test]
fn ordering_by_a_to_one_embed() {
    assert_eq!(
        rows("/eb_books?select=title,eb_authors!author_id(name)&order=eb_authors(name).desc.nullslast,id"),
        json!([
            {"title": "Gamma", "eb_authors": {"name": "Ben"}},
            {"title": "Alpha", "eb_authors": {"name": "Ann"}},
            {"title": "Beta", "eb_authors": {"name": "Ann"}},
            {"title": "Delta", "eb_authors": null}
        ])
    );
    let e = error(
        "/eb_authors?select=name,eb_books!author_id(title)&order=eb_books(title)",
        400,
        "PGRST118",
    );
    assert_eq!(
        e["message"],
        "A related order on 'eb_books' is not possible"
    );
    assert_eq!(
        e["details"],
        "'eb_authors' and 'eb_books' do not form a many-to-one or one-to-one relationship"
    );
}

#[test]
fn parameters_must_name_an_embed_of_select() {
    let e = error(
        "/eb_books?select=title&eb_authors.name=eq.Ann",
        400,
        "PGRST108",
    );
    assert_eq!(
        e["message"],
        "'eb_authors' is not an embedded resource in this request"
    );
    assert_eq!(
        e["hint"],
        "Verify that 'eb_authors' is included in the 'select' query parameter."
    );
    // The embed is aliased: the alias is its name.
    let e = error(
        "/eb_books?select=title,a:eb_authors!author_id(name)&eb_authors.name=eq.Ann",
        400,
        "PGRST108",
    );
    assert_eq!(
        e["details"],
        "Target names are not allowed in filters if they have an alias"
    );
    assert_eq!(
        e["hint"],
        "Change 'eb_authors' to 'a' in filters, orders or limits."
    );
    error(
        "/eb_books?select=title&order=eb_authors(name)",
        400,
        "PGRST108",
    );
    error("/eb_books?select=title&eb_authors.limit=1", 400, "PGRST108");
}

#[test]
fn spreads_lift_the_fields_of_the_embed() {
    assert_eq!(
        rows("/eb_books?select=title,...eb_publishers(publisher:name)&order=id"),
        json!([
            {"title": "Alpha", "publisher": "North"},
            {"title": "Beta", "publisher": "South"},
            {"title": "Gamma", "publisher": "North"},
            {"title": "Delta", "publisher": null}
        ])
    );
    // To-many: each field becomes an array (PostgREST 13+).
    assert_eq!(
        rows(
            "/eb_authors?select=name,...eb_books!author_id(title,year)&order=id&eb_books.order=id"
        ),
        json!([
            {"name": "Ann", "title": ["Alpha", "Beta"], "year": [2001, 2005]},
            {"name": "Ben", "title": ["Gamma"], "year": [2010]},
            {"name": "Cat", "title": [], "year": []}
        ])
    );
    // A spread inside a spread, and an embed inside a spread.
    assert_eq!(
        rows(
            "/eb_prints?select=copies,...eb_editions(lang,...eb_books(title,eb_publishers(name)))&order=id"
        ),
        json!([
            {"copies": 1000, "lang": "en", "title": "Alpha", "eb_publishers": {"name": "North"}},
            {"copies": 50, "lang": "fr", "title": "Alpha", "eb_publishers": {"name": "North"}},
            {"copies": 10, "lang": "en", "title": "Gamma", "eb_publishers": {"name": "North"}}
        ])
    );
}

#[test]
fn self_references_and_composite_keys() {
    // The column names the parent; the table names the children.
    assert_eq!(
        rows("/eb_staff?select=name,boss:boss_id(name),reports:eb_staff(name)&order=id&reports.order=id"),
        json!([
            {"name": "Top", "boss": null, "reports": [{"name": "Mid"}]},
            {"name": "Mid", "boss": {"name": "Top"}, "reports": [{"name": "Low"}, {"name": "Low2"}]},
            {"name": "Low", "boss": {"name": "Mid"}, "reports": []},
            {"name": "Low2", "boss": {"name": "Mid"}, "reports": []}
        ])
    );
    assert_eq!(
        rows("/eb_prints?select=copies,eb_editions(pages)&order=id"),
        json!([
            {"copies": 1000, "eb_editions": {"pages": 100}},
            {"copies": 50, "eb_editions": {"pages": 120}},
            {"copies": 10, "eb_editions": {"pages": 300}}
        ])
    );
    assert_eq!(
        rows("/eb_editions?select=lang,eb_prints(copies)&book_id=eq.1&order=lang"),
        json!([
            {"lang": "en", "eb_prints": [{"copies": 1000}]},
            {"lang": "fr", "eb_prints": [{"copies": 50}]}
        ])
    );
}

#[test]
fn views_and_materialized_views_embed_through_their_tables_keys() {
    // Two views over tables of an unexposed schema, related by the tables' key.
    assert_eq!(
        rows("/eb_books_v?select=title,eb_shelves_v(label)&order=id"),
        json!([
            {"title": "Alpha", "eb_shelves_v": {"label": "top"}},
            {"title": "Beta", "eb_shelves_v": {"label": "top"}},
            {"title": "Gamma", "eb_shelves_v": {"label": "bottom"}}
        ])
    );
    assert_eq!(
        rows("/eb_shelves_v?select=label,eb_books_v(title)&order=shelf&eb_books_v.order=id"),
        json!([
            {"label": "top", "eb_books_v": [{"title": "Alpha"}, {"title": "Beta"}]},
            {"label": "bottom", "eb_books_v": [{"title": "Gamma"}]}
        ])
    );
    // A view and a table: the view's id is the book's key.
    assert_eq!(
        rows("/eb_books_v?select=title,eb_genres(name)&id=eq.1&eb_genres.order=id"),
        json!([{"title": "Alpha", "eb_genres": [{"name": "fiction"}, {"name": "poetry"}]}])
    );
    assert_eq!(
        rows("/eb_books?select=title,eb_authors_m!author_id(name)&order=id&limit=3"),
        json!([
            {"title": "Alpha", "eb_authors_m": {"name": "Ann"}},
            {"title": "Beta", "eb_authors_m": {"name": "Ann"}},
            {"title": "Gamma", "eb_authors_m": {"name": "Ben"}}
        ])
    );
}

#[test]
fn computed_relationships_are_functions_of_the_row() {
    assert_eq!(
        rows("/eb_authors?select=name,eb_recent_books(title),eb_first_book(title)&order=id"),
        json!([
            {"name": "Ann", "eb_recent_books": [{"title": "Beta"}], "eb_first_book": {"title": "Alpha"}},
            {"name": "Ben", "eb_recent_books": [{"title": "Gamma"}], "eb_first_book": {"title": "Gamma"}},
            {"name": "Cat", "eb_recent_books": [], "eb_first_book": null}
        ])
    );
}

#[test]
fn embeds_with_counts_ranges_objects_csv_and_stripped_nulls() {
    let c = cluster();
    let path = wire("/eb_authors?select=name,eb_books!author_id(title)&order=id&eb_books.order=id");
    let r = c.get_with(&path, &[("Range", "1-1"), ("Prefer", "count=exact")]);
    assert_status(&r, 206);
    assert_header(&r, "Content-Range", "1-1/3");
    assert_eq!(
        r.json(),
        json!([{"name": "Ben", "eb_books": [{"title": "Gamma"}]}])
    );

    let r = c.get_with(
        &wire("/eb_authors?select=name,eb_books!author_id(title)&id=eq.2"),
        &[("Accept", "application/vnd.pgrst.object+json")],
    );
    assert_status(&r, 200);
    assert_eq!(
        r.json(),
        json!({"name": "Ben", "eb_books": [{"title": "Gamma"}]})
    );

    let r = c.get_with(
        &wire("/eb_books?select=id,eb_publishers(name)&order=id&limit=2"),
        &[("Accept", "text/csv")],
    );
    assert_status(&r, 200);
    assert_eq!(
        r.text(),
        "id,eb_publishers\n1,\"{\"\"name\"\": \"\"North\"\"}\"\n2,\"{\"\"name\"\": \"\"South\"\"}\""
    );

    let r = c.get_with(
        &wire("/eb_books?select=id,eb_authors!editor_id(name,id)&id=in.(1,2)&order=id"),
        &[("Accept", "application/vnd.pgrst.array+json;nulls=stripped")],
    );
    assert_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"id": 1, "eb_authors": {"name": "Ben", "id": 2}}, {"id": 2}])
    );

    let r = c.head(&path, &[]);
    assert_status(&r, 200);
    assert!(r.body.is_empty());
}

#[test]
fn writes_return_their_embeds() {
    let c = cluster();
    c.psql("delete from api.eb_notes where id >= 100");
    let repr = [("Prefer", "return=representation")];
    let r = c.post_json(
        &wire("/eb_notes?select=id,body,eb_books(title)"),
        &json!({"id": 100, "book_id": 1, "body": "hi"}),
        &repr,
    );
    assert_status(&r, 201);
    assert_eq!(
        r.json(),
        json!([{"id": 100, "body": "hi", "eb_books": {"title": "Alpha"}}])
    );
    let r = c.patch_json(
        &wire("/eb_notes?id=eq.100&select=id,eb_books(title,eb_authors!author_id(name))"),
        &json!({"book_id": 3}),
        &repr,
    );
    assert_status(&r, 200);
    assert_eq!(
        r.json(),
        json!([{"id": 100, "eb_books": {"title": "Gamma", "eb_authors": {"name": "Ben"}}}])
    );
    let r = c.delete(
        &wire("/eb_notes?id=eq.100&select=body,...eb_books(title)"),
        &repr,
    );
    assert_status(&r, 200);
    assert_eq!(r.json(), json!([{"body": "hi", "title": "Gamma"}]));
    assert_eq!(
        c.psql("select count(*) from api.eb_notes where id >= 100")
            .trim(),
        "0"
    );
}

#[test]
fn the_demo_embeds_users_and_todos() {
    assert_eq!(
        rows("/todos?select=id,task,user:users(id,name)&order=id"),
        json!([
            {"id": 1, "task": "finish tutorial 0", "user": {"id": 1, "name": "Alice"}},
            {"id": 2, "task": "pat self on back", "user": {"id": 1, "name": "Alice"}},
            {"id": 3, "task": "buy milk", "user": {"id": 42, "name": "Zaphod"}},
            {"id": 4, "task": "answer the ultimate question", "user": {"id": 42, "name": "Zaphod"}}
        ])
    );
    let users = rows("/users?select=id,name,todos(*)&todos.done=is.false&order=id&todos.order=id");
    let todo_ids = |i: usize| -> Vec<i64> {
        users[i]["todos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(users[0]["name"], "Alice");
    assert_eq!(todo_ids(0), vec![1, 2]);
    assert_eq!(users[1]["name"], "Zaphod");
    assert_eq!(todo_ids(1), vec![4]);
    assert_eq!(users[1]["todos"][0]["task"], "answer the ultimate question");
}

#[test]
fn embedding_a_relation_the_role_may_not_read_is_permission_denied() {
    let e = error("/eb_authors?select=name,eb_secret(id)", 401, "42501");
    assert_eq!(e["message"], "permission denied for table eb_secret");
}
