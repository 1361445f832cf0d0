//! The read grammar of PostgREST's URL: every filter operator (with `not.`, `(any)`/`(all)`,
//! full-text search with and without a language), `or=`/`and=` trees nested several levels
//! with quoted values and array literals, percent-decoding, `select` (aliases, casts, JSON
//! paths on json, composite and array columns, computed fields), `order`, and the errors:
//! PGRST100 with PostgREST's exact parse messages, 42703, 42704, PGRST123, PGRST200,
//! PGRST108. The same filters apply to PATCH and DELETE. Fixtures:
//! pgrx-tests/fixtures/30_read_api.sql (api.rd_people) and 10_types.sql (api.kitchen_sink).
//! Only `filters_on_patch_and_delete` writes, to api.rd_writes rows of its own tag.

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("read_grammar")
}

/// Percent-encodes a raw query string for the wire, keeping the characters that structure it
/// (`&`, `=`) and the ones a test writes on purpose (`+` means a space, `%XX` is already
/// encoded). Everything the server sees is what PostgREST would see after decoding.
fn enc_query(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~=&,()*:!%+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// GET `/<table>?<query>` (adding `order=id` when the query has no order) and compare the
/// ids of the rows with `expected`. Every case runs; the failures are reported together.
#[track_caller]
fn check_ids(table: &str, cases: &[(&str, &[i64])]) {
    let c = cluster();
    let mut failures = Vec::new();
    for (query, expected) in cases {
        let mut q = enc_query(query);
        if !query.contains("order=") {
            q.push_str("&order=id");
        }
        let path = format!("/{table}?{q}");
        let r = c.get(&path);
        if r.status != 200 {
            failures.push(format!("GET {path} ({query}): {}", r.describe()));
            continue;
        }
        let got: Option<Vec<i64>> = serde_json::from_slice::<Value>(&r.body).ok().and_then(|v| {
            v.as_array()
                .map(|rows| rows.iter().filter_map(|r| r["id"].as_i64()).collect())
        });
        if got.as_deref() != Some(*expected) {
            failures.push(format!(
                "GET {path} ({query}): expected ids {expected:?}, got {got:?}; body {}",
                r.text()
            ));
        }
    }
    assert_all_passed(&failures, cases.len());
}

/// GET and return the parsed body of a 200 JSON array.
#[track_caller]
fn rows(path: &str) -> Value {
    let r = cluster().get(path);
    Value::Array(assert_json_array(&r))
}

// ---------------------------------------------------------------------------------------------
// Operators

#[test]
fn comparison_pattern_and_regex_operators() {
    check_ids(
        "rd_people",
        &[
            ("age=eq.30", &[3]),
            ("age=neq.30", &[1, 2, 4, 5, 6]),
            ("age=gt.30", &[4, 6]),
            ("age=gte.30", &[3, 4, 6]),
            ("age=lt.17", &[5]),
            ("age=lte.17", &[1, 5]),
            ("score=gt.4", &[5, 6]),
            ("name=like.*a*", &[4, 6]),
            ("name=ilike.*a*", &[1, 4, 6]),
            ("name=like.A*", &[1]),
            ("name=ilike.*SMITH", &[5]),
            ("name=match.^[A-C]", &[1, 2, 3]),
            ("name=match.^[a-c]", &[]),
            ("name=imatch.^[a-c]", &[1, 2, 3]),
            ("name=imatch.(jr|ith)", &[4, 5]),
            ("city=eq.Paris", &[1, 3]),
            ("city=neq.Paris", &[2, 5, 6]),
            ("city=isdistinct.Paris", &[2, 4, 5, 6]),
            ("active=isdistinct.true", &[2, 3, 5]),
            ("score=isdistinct.2.5", &[1, 3, 4, 5, 6]),
        ],
    );
}

#[test]
fn in_operator_with_quoted_and_escaped_values() {
    check_ids(
        "rd_people",
        &[
            ("city=in.(Paris,Nice)", &[1, 3, 5]),
            ("age=in.(17,65,99)", &[1, 6]),
            ("id=in.()", &[]),
            (r#"name=in.("Dan (jr.)","Eve,Smith")"#, &[4, 5]),
            (r#"name=in.(Ann,"Eve,Smith")"#, &[1, 5]),
            // A quoted value may contain an escaped quote or backslash.
            (r#"nick=in.("C, \"the\" boss")"#, &[3]),
            (r#"nick=in.("dan\\bs",ok.ok)"#, &[4, 6]),
            (r#"name=in.("Chloé")"#, &[3]),
            ("city=not.in.(Paris,Nice)", &[2, 6]),
        ],
    );
}

#[test]
fn is_operator_values_are_case_insensitive() {
    check_ids(
        "rd_people",
        &[
            ("active=is.null", &[3]),
            ("active=is.NULL", &[3]),
            ("active=is.Null", &[3]),
            ("active=is.unknown", &[3]),
            ("active=is.UNKNOWN", &[3]),
            ("active=is.true", &[1, 4, 6]),
            ("active=is.TRUE", &[1, 4, 6]),
            ("active=is.false", &[2, 5]),
            ("active=is.False", &[2, 5]),
            ("nick=is.not_null", &[2, 3, 4, 6]),
            ("nick=is.NOT_NULL", &[2, 3, 4, 6]),
            ("nick=not.is.null", &[2, 3, 4, 6]),
            ("active=not.is.true", &[2, 3, 5]),
            ("active=not.is.unknown", &[1, 2, 4, 5, 6]),
        ],
    );
}

#[test]
fn array_range_and_jsonb_operators() {
    check_ids(
        "rd_people",
        &[
            ("tags=cs.{a}", &[1, 6]),
            ("tags=cs.{a,c}", &[6]),
            ("tags=cd.{a,b,c}", &[1, 2, 3, 4, 6]),
            ("tags=ov.{a,x}", &[1, 6]),
            ("tags=not.cs.{a}", &[2, 3, 4]),
            ("span=cs.[2,3]", &[1]),
            ("span=cd.[0,12)", &[1, 2, 4]),
            ("span=ov.[4,6)", &[1, 2]),
            ("span=sl.[30,40)", &[1, 2, 3, 6]),
            ("span=sr.[0,6)", &[3, 6]),
            ("span=nxr.[0,10)", &[1, 2]),
            ("span=nxl.[10,100)", &[3, 6]),
            ("span=adj.[10,20)", &[2, 6]),
            ("span=not.adj.[10,20)", &[1, 3, 4]),
            (r#"info=cs.{"k":1}"#, &[1]),
            (r#"info=cs.{"nested":{"deep":"no"}}"#, &[2]),
            (
                r#"info=cd.{"k":2,"arr":[1],"nested":{"deep":"no"},"x":1}"#,
                &[2, 5],
            ),
        ],
    );
}

#[test]
fn quantified_operators_any_and_all() {
    check_ids(
        "rd_people",
        &[
            ("age=eq(any).{17,30}", &[1, 3]),
            ("age=eq(all).{17}", &[1]),
            ("age=gt(all).{15,20}", &[2, 3, 4, 6]),
            ("age=gte(any).{45,100}", &[4, 6]),
            ("age=lt(all).{20,30}", &[1, 5]),
            ("age=lte(any).{12}", &[5]),
            ("name=like(any).{A*,B*}", &[1, 2]),
            ("name=like(all).{*a*,*y}", &[6]),
            ("name=ilike(any).{*ann*,*FAY*}", &[1, 6]),
            ("name=ilike(all).{*e*,*s*}", &[5]),
            ("name=match(any).{^A,^F}", &[1, 6]),
            ("name=imatch(all).{^f,y$}", &[6]),
            ("age=not.eq(any).{17,30}", &[2, 4, 5, 6]),
            (r#"city=eq(any).{"Paris","Nice"}"#, &[1, 3, 5]),
        ],
    );
}

#[test]
fn full_text_search_on_tsvector_and_text_columns() {
    // api.kitchen_sink.search is a tsvector built with the english configuration.
    check_ids(
        "kitchen_sink",
        &[
            ("search=fts.fox", &[1, 4]),
            ("search=fts(english).foxes", &[1, 4]),
            ("search=plfts(english).lazy dogs", &[1]),
            ("search=phfts(english).quick brown", &[1]),
            ("search=phfts(english).brown quick", &[]),
            ("search=wfts(english).cats or foxes", &[1, 2, 4]),
            ("search=wfts(english).fox -dog", &[]),
            ("search=not.fts(english).fox", &[2, 5]),
        ],
    );
    // rd_people.bio is text: it is wrapped in to_tsvector(<language>, bio).
    check_ids(
        "rd_people",
        &[
            ("bio=fts(french).manger", &[3]),
            ("bio=fts(english).manger", &[]),
            ("bio=plfts(english).cats dogs", &[2, 6]),
            ("bio=phfts(english).quick brown fox", &[4]),
            ("bio=wfts(english).\"chase cats\"", &[2]),
            ("bio=not.plfts(english).cat", &[3, 4]),
            ("bio_tsv=fts.fox", &[4]),
            ("bio_tsv=fts(english).dog %26 cat", &[2, 6]),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Logic trees

#[test]
fn or_and_not_trees_nested_several_levels() {
    check_ids(
        "rd_people",
        &[
            ("or=(age.lt.18,age.gt.60)", &[1, 5, 6]),
            ("and=(age.gte.20,age.lte.45)", &[2, 3, 4]),
            ("not.or=(age.lt.18,age.gt.60)", &[2, 3, 4]),
            // NULL AND true is NULL, so row 4 (no city) is not selected by the negation.
            ("not.and=(city.eq.Paris,age.gt.20)", &[1, 2, 5, 6]),
            (
                "or=(age.eq.12,and(city.eq.Lyon,not.or(age.lt.30,nick.is.null)))",
                &[5, 6],
            ),
            (
                "and=(or(city.eq.Paris,city.eq.Lyon),not.and(age.gt.20,or(active.is.false,active.is.null)))",
                &[1, 6],
            ),
            (
                "or=(and(or(id.eq.1,id.eq.2),not.and(id.eq.2,age.eq.21)),id.eq.6)",
                &[1, 6],
            ),
            ("city=eq.Lyon&or=(age.lt.30,age.gt.60)", &[2, 6]),
            (
                "or=(age.lt.18,age.gt.60)&or=(city.eq.Lyon,city.eq.Nice)",
                &[5, 6],
            ),
            // Blanks around the items of a tree are skipped.
            ("or=( age.lt.13 , age.gt.60 )", &[5, 6]),
        ],
    );
}

#[test]
fn every_operator_inside_a_logic_tree() {
    check_ids(
        "rd_people",
        &[
            ("or=(id.in.(1,2),age.gt.60)", &[1, 2, 6]),
            ("or=(tags.cs.{a,c},tags.cd.{c})", &[3, 4, 6]),
            ("or=(nick.is.null,active.is.false)", &[1, 2, 5]),
            ("or=(name.like.A*,name.like.*y)", &[1, 6]),
            ("or=(name.ilike.*SMITH,name.match.^C)", &[3, 5]),
            ("or=(bio.fts(english).fox,id.eq.1)", &[1, 4]),
            ("and=(age.gt(any).{60,100},id.gt.0)", &[6]),
            (
                "or=(age.eq(any).{12,17},city.isdistinct.Paris)",
                &[1, 2, 4, 5, 6],
            ),
            (r#"or=(span.adj."[10,20)",span.sl."[2,3)")"#, &[2, 6]),
            ("or=(info->>k.eq.2,info->arr->0.eq.5)", &[2, 6]),
            (
                "and=(active.not.is.null,not.or(age.lt.20,age.gt.60))",
                &[2, 4],
            ),
            ("or=(id.not.in.(1,2,3,4,5),age.not.gte.17)", &[5, 6]),
        ],
    );
}

#[test]
fn quoted_values_escapes_and_array_literals_in_trees() {
    check_ids(
        "rd_people",
        &[
            (r#"or=(name.eq."Eve,Smith",name.eq."Dan (jr.)")"#, &[4, 5]),
            (r#"or=(nick.eq."C, \"the\" boss",nick.eq.ok.ok)"#, &[3, 6]),
            (r#"or=(nick.eq."dan\\bs",name.eq."Eve,Smith")"#, &[4, 5]),
            (r#"or=(name.in.("Dan (jr.)",Ann),id.eq.6)"#, &[1, 4, 6]),
            (r#"and=(tags.cs.{"a"},tags.ov.{b,"x,y"})"#, &[1]),
            (r#"or=(info.cs.{"k":4},info.cs.{"k":6})"#, &[4, 6]),
            (r#"or=(name.eq."Chloé",name.eq.Fay)"#, &[3, 6]),
        ],
    );
}

#[test]
fn percent_decoding_and_plus_as_space() {
    check_ids(
        "rd_people",
        &[
            ("city=eq.Par%69s", &[1, 3]),
            ("name=eq.Dan+(jr.)", &[4]),
            ("name=eq.Dan%20%28jr.%29", &[4]),
            ("name=eq.Chlo%C3%A9", &[3]),
            // A literal plus must be encoded.
            ("nick=eq.bob%2Bby", &[2]),
            ("nick=eq.bob+by", &[]),
            // The value of a plain filter is everything after the operator: no quoting needed.
            (r#"nick=eq.C, "the" boss"#, &[3]),
            ("nick=eq.dan\\bs", &[4]),
            ("name=eq.Eve,Smith", &[5]),
            ("%63ity=eq.Nice", &[5]),
            // Unquoted, the `)` of the value closes the tree; like PostgREST's parser (no
            // `eof` after pLogicTree) the rest of the value is then ignored.
            ("or=(name.eq.Dan+(jr.),id.eq.1)", &[]),
            (r#"or=(name.eq."Dan+(jr.)",id.eq.1)"#, &[1, 4]),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// select

#[test]
fn select_aliases_and_casts() {
    assert_eq!(
        rows("/rd_people?select=who:name,years:age&id=eq.1"),
        json!([{"who": "Ann", "years": 17}])
    );
    assert_eq!(
        rows(&format!(
            "/rd_people?select={}&id=eq.2",
            enc_query("id::text,age::text,score::double precision,s:score::text")
        )),
        json!([{"id": "2", "age": "21", "score": 2.5, "s": "2.5"}])
    );
    assert_eq!(
        rows("/rd_people?select=a:age::text,b:age&id=eq.6"),
        json!([{"a": "65", "b": 65}])
    );
    assert_eq!(
        rows(&format!(
            "/rd_people?select={}&id=eq.4",
            enc_query("span::text,tags::text,info::text")
        )),
        json!([{"span": "empty", "tags": "{}", "info": "{\"k\": 4, \"arr\": []}"}])
    );
    // select= (empty) is every column, like no select at all.
    let all = rows("/rd_people?select=&id=eq.1");
    assert_eq!(all, rows("/rd_people?id=eq.1"));
    assert_eq!(
        keys(&all[0]),
        [
            "active", "age", "bio", "bio_tsv", "city", "id", "info", "name", "nick", "score",
            "span", "tags"
        ]
    );
    // `*` plus more items.
    let r = rows(&format!(
        "/rd_people?select={}&id=eq.2",
        enc_query("*,years:age::text,label:rd_label")
    ));
    assert_eq!(r[0]["years"], "21");
    assert_eq!(r[0]["label"], "Bob@Lyon");
    assert_eq!(r[0]["age"], 21);
    assert_eq!(keys(&r[0]).len(), 14, "{r}");
    // Spaces around items are ignored.
    assert_eq!(
        rows(&format!(
            "/rd_people?select={}&id=eq.3",
            enc_query(" id , name ")
        )),
        json!([{"id": 3, "name": "Chloé"}])
    );
}

#[test]
fn select_json_paths_output_key_is_the_last_key() {
    let sel = |s: &str, id: i64| rows(&format!("/rd_people?select={}&id=eq.{id}", enc_query(s)));
    assert_eq!(sel("id,info->k", 1), json!([{"id": 1, "k": 1}]));
    assert_eq!(sel("info->>k", 1), json!([{"k": "1"}]));
    assert_eq!(sel("info->arr->0", 1), json!([{"arr": 10}]));
    assert_eq!(sel("info->arr->-1", 1), json!([{"arr": 30}]));
    assert_eq!(sel("info->arr->>-1", 1), json!([{"arr": "30"}]));
    assert_eq!(sel("info->arr->-3", 1), json!([{"arr": 10}]));
    assert_eq!(sel("info->arr->7", 1), json!([{"arr": null}]));
    assert_eq!(sel("info->nested->>deep", 1), json!([{"deep": "yes"}]));
    assert_eq!(sel("info->nested->deep", 2), json!([{"deep": "no"}]));
    assert_eq!(sel("info->\"a.b\"", 1), json!([{"a.b": "dotted"}]));
    assert_eq!(sel("info->>x-y", 1), json!([{"x-y": "dashed"}]));
    assert_eq!(sel("info->>\"sp ace\"", 1), json!([{"sp ace": "spaced"}]));
    assert_eq!(sel("info->missing", 1), json!([{"missing": null}]));
    assert_eq!(sel("info->k", 3), json!([{"k": null}]));
    // An alias wins over the last key.
    assert_eq!(
        sel("deep:info->nested->>deep,n:info->arr->1", 1),
        json!([{"deep": "yes", "n": 20}])
    );
    // Casts after a path.
    assert_eq!(sel("info->>k::integer", 2), json!([{"k": 2}]));
    assert_eq!(sel("info->arr::text", 1), json!([{"arr": "[10, 20, 30]"}]));
}

#[test]
fn select_paths_on_composite_and_array_columns() {
    let sel = |s: &str, id: i64| rows(&format!("/kitchen_sink?select={}&id=eq.{id}", enc_query(s)));
    assert_eq!(
        sel("id,address->>city", 1),
        json!([{"id": 1, "city": "Springfield"}])
    );
    assert_eq!(sel("address->zip", 1), json!([{"zip": "12345"}]));
    assert_eq!(sel("address->street", 2), json!([{"street": null}]));
    assert_eq!(sel("tags->0", 1), json!([{"tags": "red"}]));
    assert_eq!(sel("tags->>-1", 1), json!([{"tags": "green"}]));
    assert_eq!(
        sel("first:tags->>0,scores->1", 1),
        json!([{"first": "red", "scores": 2}])
    );
    assert_eq!(sel("doc->nested->b->2->>c", 1), json!([{"c": "deep"}]));
    assert_eq!(sel("doc->nested->b->-1", 1), json!([{"b": {"c": "deep"}}]));
    assert_eq!(sel("raw_doc->list->1", 1), json!([{"list": "two"}]));
    assert_eq!(sel("doc->0->k", 4), json!([{"k": 1}]));
}

#[test]
fn filters_and_order_on_json_composite_and_array_paths() {
    check_ids(
        "rd_people",
        &[
            ("info->>k=eq.2", &[2]),
            ("info->k=eq.2", &[2]),
            ("info->k=gt.2", &[4, 6]),
            ("info->k=in.(1,6)", &[1, 6]),
            ("info->arr->0=gt.5", &[1]),
            ("info->arr->>-1=eq.6", &[6]),
            ("info->arr->-1=eq.1", &[2]),
            ("info->nested->>deep=eq.no", &[2]),
            ("info->>\"a.b\"=eq.dotted", &[1]),
            ("info->>x-y=like.dash*", &[1]),
            ("info->k=is.null", &[3, 5]),
            ("info->>k=not.is.null&info->arr->0=is.null", &[4]),
            ("order=info->k.desc.nullslast,id", &[6, 4, 2, 1, 3, 5]),
            ("order=info->>k.asc.nullsfirst,id.desc", &[5, 3, 1, 2, 4, 6]),
            ("order=info->arr->-1.desc.nullslast,id", &[1, 6, 2, 3, 4, 5]),
        ],
    );
    check_ids(
        "kitchen_sink",
        &[
            ("address->>city=eq.Paris", &[2, 5]),
            ("address->>zip=is.null", &[2, 3]),
            ("tags->>0=eq.red", &[1]),
            ("scores->0=eq.-1", &[4]),
            ("doc->>blood_type=eq.A-", &[1]),
            ("doc->nested->b->2->>c=eq.deep", &[1]),
            ("order=address->>city.desc.nullslast,id", &[1, 2, 5, 4, 3]),
        ],
    );
}

#[test]
fn computed_fields_are_selectable_filterable_orderable_and_not_in_star() {
    assert_eq!(
        rows("/rd_people?select=id,rd_label&id=in.(1,4)&order=id"),
        json!([{"id": 1, "rd_label": "Ann@Paris"}, {"id": 4, "rd_label": "Dan (jr.)@?"}])
    );
    let star = rows("/rd_people?id=eq.1");
    assert!(star[0].get("rd_label").is_none(), "{star}");
    let both = rows("/rd_people?select=*,rd_label&id=eq.1");
    assert_eq!(both[0]["rd_label"], "Ann@Paris");
    assert_eq!(both[0]["name"], "Ann");
    assert_eq!(
        rows("/kitchen_sink?select=id,label:sink_label&id=eq.1"),
        json!([{"id": 1, "label": "alpha (10.50)"}])
    );
    check_ids(
        "rd_people",
        &[
            ("rd_label=like.*@Lyon", &[2, 6]),
            ("rd_label=eq.Dan (jr.)@?", &[4]),
            ("or=(rd_label.like.*Nice,rd_label.like.A*)", &[1, 5]),
            ("order=rd_label.desc", &[6, 5, 4, 3, 2, 1]),
            ("select=id&order=rd_label&city=eq.Paris", &[1, 3]),
        ],
    );
    check_ids(
        "kitchen_sink",
        &[
            ("sink_label=like.gamma*", &[3]),
            ("order=sink_label", &[4, 2, 1, 5, 3]),
        ],
    );
}

#[test]
fn order_terms_directions_and_nulls() {
    check_ids(
        "rd_people",
        &[
            ("order=age", &[5, 1, 2, 3, 4, 6]),
            ("order=age.asc", &[5, 1, 2, 3, 4, 6]),
            ("order=age.desc", &[6, 4, 3, 2, 1, 5]),
            ("order=city,age.desc", &[6, 2, 5, 3, 1, 4]),
            ("order=city.nullsfirst,age", &[4, 2, 6, 5, 1, 3]),
            ("order=city.desc.nullslast,id", &[1, 3, 5, 2, 6, 4]),
            ("order=city.desc,id.desc", &[4, 3, 1, 5, 6, 2]),
            ("order=score.desc", &[3, 6, 5, 4, 2, 1]),
            ("order=score.desc.nullslast", &[6, 5, 4, 2, 1, 3]),
            ("order=score.nullsfirst", &[3, 1, 2, 4, 5, 6]),
            ("order=active,id", &[2, 5, 1, 4, 6, 3]),
            ("order=active.desc.nullslast,age.desc", &[6, 4, 1, 2, 5, 3]),
            ("order=city.asc.nullsfirst,id.desc", &[4, 6, 2, 5, 3, 1]),
            ("order= city ,id", &[2, 6, 5, 1, 3, 4]),
        ],
    );
}

#[test]
fn filters_on_patch_and_delete() {
    let c = cluster();
    let tag = "grammar-writes";
    c.psql(&format!(
        "delete from api.rd_writes where tag = '{tag}'; \
         insert into api.rd_writes (tag, n, note) values ('{tag}', 1, 'a,b'), \
         ('{tag}', 2, 'x \"y\"'), ('{tag}', 3, NULL), ('{tag}', 4, 'dan\\bs'), \
         ('{tag}', 5, 'plain'), ('{tag}', 6, NULL)"
    ));
    // PATCH with a no-op body: the representation shows which rows matched.
    let cases: &[(&str, &[i64])] = &[
        ("or=(n.lt.2,and(n.gt.4,note.is.null))", &[1, 6]),
        (r#"note=in.("x \"y\"","dan\\bs")"#, &[2, 4]),
        (r#"note=in.("a,b")"#, &[1]),
        ("n=gt(any).{4,5}&note=not.is.null", &[5]),
        ("note=like.*,*", &[1]),
        ("note=isdistinct.plain", &[1, 2, 3, 4, 6]),
        ("not.and=(n.gte.2,n.lte.5)", &[1, 6]),
        ("note=match.^[a-d]", &[1, 4]),
        (r#"n=in.(1,2,3)&or=(note.is.null,note.eq."a,b")"#, &[1, 3]),
        ("note=fts(simple).plain", &[5]),
        ("n=not.in.(1,2,3,4,5)", &[6]),
    ];
    let mut failures = Vec::new();
    for (query, expected) in cases {
        let path = format!(
            "/rd_writes?tag=eq.{tag}&select=n&order=n&{}",
            enc_query(query)
        );
        let r = c.patch_json(
            &path,
            &json!({"tag": tag}),
            &[("Prefer", "return=representation")],
        );
        let got: Option<Vec<i64>> = serde_json::from_slice::<Value>(&r.body).ok().and_then(|v| {
            v.as_array()
                .map(|a| a.iter().filter_map(|x| x["n"].as_i64()).collect())
        });
        if r.status != 200 || got.as_deref() != Some(*expected) {
            failures.push(format!(
                "PATCH {path} ({query}): expected {expected:?}; got {}",
                r.describe()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let r = c.delete(
        &format!(
            "/rd_writes?tag=eq.{tag}&select=n&order=n&{}",
            enc_query("or=(note.is.null,n.eq(any).{1,2})")
        ),
        &[("Prefer", "return=representation")],
    );
    assert_status(&r, 200);
    assert_eq!(r.json(), json!([{"n": 1}, {"n": 2}, {"n": 3}, {"n": 6}]));
    assert_eq!(
        c.psql(&format!(
            "select string_agg(n::text, ',' order by n) from api.rd_writes where tag = '{tag}'"
        )),
        "4,5"
    );
    // A syntax error in a write's filter is refused before anything runs.
    let r = c.delete(&format!("/rd_writes?tag=eq.{tag}&n=gt"), &[]);
    assert_error(&r, 400, "PGRST100");
    let r = c.patch_json(
        &format!("/rd_writes?tag=eq.{tag}&{}", enc_query("or=(n.eq.4")),
        &json!({"note": "never"}),
        &[],
    );
    assert_error(&r, 400, "PGRST100");
    assert_eq!(
        c.psql(&format!(
            "select count(*) from api.rd_writes where tag = '{tag}' and note = 'never'"
        )),
        "0"
    );
    c.psql(&format!("delete from api.rd_writes where tag = '{tag}'"));
}

#[test]
fn the_path_is_percent_decoded() {
    let c = cluster();
    let r = c.get("/rd%5Fpeople?select=id&id=eq.1");
    assert_eq!(Value::Array(assert_json_array(&r)), json!([{"id": 1}]));
    assert_header(&r, "Content-Location", "/rd_people?id=eq.1&select=id");
}

// ---------------------------------------------------------------------------------------------
// Errors

/// The exact PGRST100 messages, taken from the doctests of PostgREST's
/// src/library/PostgREST/ApiRequest/QueryParams.hs (pRequestFilter, pOrder, pLogicTree,
/// pFieldForest, pJsonPath, pOpExpr): the message is Parsec's source position prefixed with
/// the name of the parser, the details are its unexpected/expecting text on one line.
#[test]
fn syntax_errors_are_pgrst100_with_postgrest_messages() {
    let c = cluster();
    let cases: &[(&str, &str, &str)] = &[
        (
            "id=noop.0",
            r#""failed to parse filter (noop.0)" (line 1, column 1)"#,
            r#"unexpected "o" expecting "not" or operator (eq, gt, ...)"#,
        ),
        (
            "id=val",
            r#""failed to parse filter (val)" (line 1, column 1)"#,
            r#"unexpected "v" expecting "not" or operator (eq, gt, ...)"#,
        ),
        (
            "name=fts().value",
            r#""failed to parse filter (fts().value)" (line 1, column 5)"#,
            r#"unexpected ")" expecting operator (eq, gt, ...)"#,
        ),
        (
            "name=eq().value",
            r#""failed to parse filter (eq().value)" (line 1, column 4)"#,
            r#"unexpected ")" expecting operator (eq, gt, ...)"#,
        ),
        (
            "active=is().value",
            r#""failed to parse filter (is().value)" (line 1, column 3)"#,
            r#"unexpected "(" expecting operator (eq, gt, ...)"#,
        ),
        (
            "id=in().value",
            r#""failed to parse filter (in().value)" (line 1, column 3)"#,
            r#"unexpected "(" expecting operator (eq, gt, ...)"#,
        ),
        (
            "order=id.ac",
            r#""failed to parse order (id.ac)" (line 1, column 4)"#,
            r#"unexpected "c" expecting "asc", "desc", "nullsfirst" or "nullslast""#,
        ),
        (
            "order=id.descc",
            r#""failed to parse order (id.descc)" (line 1, column 8)"#,
            r#"unexpected 'c' expecting delimiter (.), "," or end of input"#,
        ),
        (
            "order=id.nullslasttt",
            r#""failed to parse order (id.nullslasttt)" (line 1, column 13)"#,
            r#"unexpected 't' expecting "," or end of input"#,
        ),
        (
            "order=id.asc.smth34",
            r#""failed to parse order (id.asc.smth34)" (line 1, column 8)"#,
            r#"unexpected "s" expecting "nullsfirst" or "nullslast""#,
        ),
        (
            "or=()",
            r#""failed to parse logic tree (())" (line 1, column 4)"#,
            r#"unexpected ")" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)"#,
        ),
        (
            "or=(id.in.1,2,id.eq.3)",
            r#""failed to parse logic tree ((id.in.1,2,id.eq.3))" (line 1, column 10)"#,
            r#"unexpected "1" expecting "(""#,
        ),
        (
            "or=(id.eq.1,not.xor(id.eq.2,id.eq.3))",
            r#""failed to parse logic tree ((id.eq.1,not.xor(id.eq.2,id.eq.3)))" (line 1, column 16)"#,
            r#"unexpected "x" expecting logic operator (and, or)"#,
        ),
        (
            "and=(ord(id.eq.1,id.eq.1),id.eq.2)",
            r#""failed to parse logic tree ((ord(id.eq.1,id.eq.1),id.eq.2))" (line 1, column 7)"#,
            r#"unexpected "d" expecting "(""#,
        ),
        (
            "select=id,clients(name[])",
            r#""failed to parse select parameter (id,clients(name[]))" (line 1, column 16)"#,
            r#"unexpected '[' expecting letter, digit, "-", "->>", "->", "::", ".", ")", "," or end of input"#,
        ),
        (
            "select=data->>-78xy",
            r#""failed to parse select parameter (data->>-78xy)" (line 1, column 11)"#,
            r#"unexpected 'x' expecting digit, "->", "::", ".", "," or end of input"#,
        ),
    ];
    let mut failures = Vec::new();
    for (query, message, details) in cases {
        let path = format!("/rd_people?{}", enc_query(query));
        let r = c.get(&path);
        let ok = r.status == 400
            && r.header("Content-Type") == Some(JSON_CT)
            && serde_json::from_slice::<Value>(&r.body).ok()
                == Some(json!({
                    "code": "PGRST100",
                    "message": message,
                    "details": details,
                    "hint": null
                }));
        if !ok {
            failures.push(format!(
                "GET {path} ({query}): expected 400 PGRST100 message {message:?} details \
                 {details:?}; got {}",
                r.describe()
            ));
        }
    }
    assert_all_passed(&failures, cases.len());
}

#[test]
fn more_malformed_grammar_is_pgrst100() {
    let c = cluster();
    for query in [
        "select=id,,name",
        "select=id,(",
        "select=name::",
        "select=a:b:c",
        "order=",
        "order=id.sideways",
        "order=id,",
        "id=eq",
        "id=",
        "age=like(some).x",
        "age=eq(any)1",
        "or=(",
        "or=(age.eq.1",
        "and=(age.eq.1,,age.eq.2)",
        "id=in.(1,2",
        "id=is.maybe",
        "name=fts(english.x",
        "info->=eq.1",
        "info->>-x=eq.1",
    ] {
        let path = format!("/rd_people?{}", enc_query(query));
        let r = c.get(&path);
        let body = assert_error(&r, 400, "PGRST100");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with("\"failed to parse ") && message.contains("(line 1, column "),
            "GET {path}: {}",
            r.describe()
        );
        let details = body["details"].as_str().unwrap_or("");
        assert!(
            details.contains("unexpected") || details.contains("expecting"),
            "GET {path}: {}",
            r.describe()
        );
        assert_eq!(body["hint"], Value::Null, "GET {path}");
    }
}

#[test]
fn unknown_columns_are_42703_and_unknown_cast_types_are_42704() {
    let c = cluster();
    for query in [
        "select=id,nope",
        "nope=eq.1",
        "order=nope",
        "or=(nope.eq.1,id.eq.1)",
        "select=nope->a",
        "nope->>a=eq.1",
        // A computed field of an unexposed schema (not in the extra search path here).
        "select=id,rd_shout",
    ] {
        let path = format!("/rd_people?{}", enc_query(query));
        let r = c.get(&path);
        let body = assert_error(&r, 400, "42703");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("does not exist")
                && (message.contains("nope") || message.contains("rd_shout")),
            "GET {path}: {}",
            r.describe()
        );
    }
    for (query, ty) in [
        ("select=id::nonexistent_type", "nonexistent_type"),
        ("select=a:age::blob", "blob"),
    ] {
        let path = format!("/rd_people?{}", enc_query(query));
        let r = c.get(&path);
        let body = assert_error(&r, 400, "42704");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(ty) && message.contains("does not exist"),
            "GET {path}: {}",
            r.describe()
        );
    }
}

#[test]
fn aggregates_are_refused_with_pgrst123() {
    let c = cluster();
    for query in [
        "select=age.sum()",
        "select=count()",
        "select=age.avg()::int",
        "select=city,age.max()",
        "select=n:age.min()",
        "select=id.count()",
    ] {
        let path = format!("/rd_people?{}", enc_query(query));
        let r = c.get(&path);
        assert_plain_error(
            &r,
            400,
            "PGRST123",
            "Use of aggregate functions is not allowed",
        );
    }
}

#[test]
fn embeds_parse_in_every_form() {
    // The embedding behaviour itself has its own suite; here, that each form of
    // the grammar reaches the planner and answers.
    let c = cluster();
    for (path, rows) in [
        ("/teams?select=id,memberships(*)&order=id", 3),
        (
            "/teams?select=id,members:memberships(member,role)&order=id",
            3,
        ),
        ("/teams?select=*,memberships!inner(*)&order=id", 2),
        ("/teams?select=id,...memberships(role)&order=id", 3),
        ("/memberships?select=member,teams(name)", 4),
    ] {
        let (table, query) = path.split_once('?').unwrap();
        let r = c.get(&format!("{table}?{}", enc_query(query)));
        assert_eq!(
            assert_json_array(&r).len(),
            rows,
            "GET {path}: {}",
            r.describe()
        );
    }
}

#[test]
fn parameters_on_a_resource_that_is_not_embedded_are_pgrst108() {
    let c = cluster();
    for query in [
        "memberships.role=eq.owner",
        "memberships.order=role",
        "memberships.limit=1",
        "memberships.offset=1",
        "memberships.or=(role.eq.owner,role.eq.member)",
        "memberships.not.and=(role.eq.owner)",
    ] {
        let path = format!("/teams?{}", enc_query(query));
        let r = c.get(&path);
        let body = assert_error_message(
            &r,
            400,
            "PGRST108",
            "'memberships' is not an embedded resource in this request",
        );
        assert_eq!(body["details"], Value::Null, "GET {path}");
        assert_eq!(
            body["hint"], "Verify that 'memberships' is included in the 'select' query parameter.",
            "GET {path}"
        );
    }
}

#[test]
fn invalid_values_for_the_column_type_are_400_with_the_sqlstate() {
    let c = cluster();
    for (query, code) in [
        ("id=eq.notanumber", "22P02"),
        ("age=in.(1,x)", "22P02"),
        ("span=adj.garbage", "22P02"),
        ("info=cs.{", "22P02"),
        ("info->k=eq.{", "22P02"),
        ("tags=cs.not-an-array", "22P02"),
        ("age=gt(any).{1,x}", "22P02"),
        ("name=match.(", "2201B"),
        ("bio=fts(nolanguage).fox", "42704"),
    ] {
        let path = format!("/rd_people?{}", enc_query(query));
        let r = c.get(&path);
        assert_error(&r, 400, code);
    }
}

/// A request that must fail: path, headers, status, error code.
type BadRequest<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, &'a str);

#[test]
fn malformed_requests_are_4xx_and_the_workers_survive() {
    let c = cluster();
    let before = c.worker_pids();
    assert!(!before.is_empty(), "no pgrest workers");
    let bad: &[BadRequest] = &[
        ("/rd_people?select=id,,name", &[], 400, "PGRST100"),
        ("/rd_people?order=id.sideways", &[], 400, "PGRST100"),
        ("/rd_people?or=(", &[], 400, "PGRST100"),
        ("/rd_people?id=in.(1,2", &[], 400, "PGRST100"),
        ("/rd_people?limit=-5", &[], 416, "PGRST103"),
        ("/rd_people", &[("Range", "9-3")], 416, "PGRST103"),
        ("/rd_people", &[("Accept", "foo/bar")], 406, "PGRST107"),
        ("/rd_people", &[("Accept", "")], 406, "PGRST107"),
        ("/rd_people", &[("Accept-Profile", "nope")], 406, "PGRST106"),
        (
            "/rd_people",
            &[("Prefer", "handling=strict, x=y")],
            400,
            "PGRST122",
        ),
        (
            "/rd_people",
            &[("Prefer", "timezone=Nowhere/Land")],
            400,
            "22023",
        ),
        ("/rd_people?select=id::not_a_type", &[], 400, "42704"),
        ("/rd_people?select=age.sum()", &[], 400, "PGRST123"),
        ("/teams?select=id,nope(*)", &[], 400, "PGRST200"),
        ("/teams?memberships.id=eq.1", &[], 400, "PGRST108"),
        ("/rd_people?id=eq.notanint", &[], 400, "22P02"),
        ("/rd_people?%ZZ=eq.1", &[], 400, "PGRST100"),
        ("/rd_people?info->k=eq.%7B", &[], 400, "22P02"),
        (
            "/rd_people",
            &[("Accept", "application/vnd.pgrst.object+json")],
            406,
            "PGRST116",
        ),
        ("/rd_people/1", &[], 404, "PGRST125"),
        ("/rd_nope", &[], 404, "PGRST205"),
    ];
    let wire = |path: &str| match path.split_once('?') {
        Some((table, query)) => format!("{table}?{}", enc_query(query)),
        None => path.to_string(),
    };
    for (path, headers, status, code) in bad {
        let r = c.get_with(&wire(path), headers);
        assert_error(&r, *status, code);
    }
    // HEAD of the same requests: the status only (HEAD ignores the Range header).
    for (path, headers, status, _) in bad {
        let status = if headers.iter().any(|(h, _)| *h == "Range") {
            200
        } else {
            *status
        };
        let r = c.head(&wire(path), headers);
        assert_eq!(
            r.status,
            status,
            "HEAD {path} {headers:?}: {}",
            r.describe()
        );
    }
    assert_eq!(c.worker_pids(), before, "a pgrest worker restarted");
    let ok = c.get("/rd_people?select=id&id=eq.1");
    assert_eq!(Value::Array(assert_json_array(&ok)), json!([{"id": 1}]));
}
