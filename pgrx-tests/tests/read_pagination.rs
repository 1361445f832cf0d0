//! Pagination and counting as PostgREST does them: `limit`/`offset`, the `Range` request
//! header (GET only, intersected with limit/offset, malformed values ignored), every form of
//! `Content-Range`, 206/416, `Prefer: count=exact|planned|estimated`, `pgrest.db_max_rows`
//! (its own cluster), and HEAD answering like GET without a body.
//!
//! Reads use api.rd_people (ids 1..=6, pgrx-tests/fixtures/30_read_api.sql). Writes go to
//! api.rd_writes, each test with its own tag. Expected values come from PostgREST's
//! RangeQuery.hs (rangeParse, rangeStatusHeader, contentRangeH), ApiRequest.hs (getRanges)
//! and test/spec/Feature/Query/{RangeSpec,QueryLimitedSpec}.hs.

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("read_pagination")
}

fn max_rows_cluster() -> &'static Cluster {
    Cluster::shared_with("read_max_rows", &[("pgrest.db_max_rows", "2")])
}

/// A GET (or HEAD) case: path, request headers, expected status, ids (None for HEAD or an
/// error), expected Content-Range.
type Case<'a> = (
    &'a str,
    &'a [(&'a str, &'a str)],
    u16,
    Option<&'a [i64]>,
    &'a str,
);

/// Runs every case and reports all the mismatches together.
#[track_caller]
fn check(c: &Cluster, method: &str, cases: &[Case]) {
    let mut failures = Vec::new();
    for (path, headers, status, expected, range) in cases {
        let r = c.request(method, path, headers, None);
        let mut problems = Vec::new();
        if r.status != *status {
            problems.push(format!("status {} (expected {status})", r.status));
        }
        if r.header("Content-Range") != Some(*range) {
            problems.push(format!(
                "Content-Range {:?} (expected {range:?})",
                r.header("Content-Range")
            ));
        }
        if let Some(expected) = expected {
            let got: Option<Vec<i64>> =
                serde_json::from_slice::<Value>(&r.body).ok().and_then(|v| {
                    v.as_array()
                        .map(|rows| rows.iter().filter_map(|r| r["id"].as_i64()).collect())
                });
            if got.as_deref() != Some(*expected) {
                problems.push(format!("ids {got:?} (expected {expected:?})"));
            }
        }
        if method == "HEAD" && !r.body.is_empty() {
            problems.push("a body on HEAD".to_string());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{method} {path} {headers:?}: {}; response: {}",
                problems.join(", "),
                r.describe()
            ));
        }
    }
    assert_all_passed(&failures, cases.len());
}

fn count_tag(c: &Cluster, tag: &str) -> String {
    c.psql(&format!(
        "select count(*) || ':' || coalesce(sum(n), 0) from api.rd_writes where tag = '{tag}'"
    ))
}

const RANGE_416_LOWER_GT_UPPER: &str =
    "The lower boundary must be lower than or equal to the upper boundary in the Range header.";
const RANGE_416_NEGATIVE_LIMIT: &str = "Limit should be greater than or equal to zero.";

#[track_caller]
fn assert_range_error(r: &Response, details: &str) {
    let body = assert_error_message(r, 416, "PGRST103", "Requested range not satisfiable");
    assert_eq!(body["details"], details, "{}", r.describe());
    assert_eq!(body["hint"], Value::Null, "{}", r.describe());
}

// ---------------------------------------------------------------------------------------------
// limit / offset

#[test]
fn limit_and_offset_give_the_page_and_its_content_range() {
    let cases: &[Case] = &[
        (
            "/rd_people?order=id",
            &[],
            200,
            Some(&[1, 2, 3, 4, 5, 6]),
            "0-5/*",
        ),
        (
            "/rd_people?order=id&limit=2",
            &[],
            200,
            Some(&[1, 2]),
            "0-1/*",
        ),
        (
            "/rd_people?order=id&limit=2&offset=2",
            &[],
            200,
            Some(&[3, 4]),
            "2-3/*",
        ),
        (
            "/rd_people?order=id&offset=4",
            &[],
            200,
            Some(&[5, 6]),
            "4-5/*",
        ),
        ("/rd_people?order=id&offset=6", &[], 200, Some(&[]), "*/*"),
        (
            "/rd_people?order=id&offset=60&limit=1",
            &[],
            200,
            Some(&[]),
            "*/*",
        ),
        (
            "/rd_people?order=id&limit=100",
            &[],
            200,
            Some(&[1, 2, 3, 4, 5, 6]),
            "0-5/*",
        ),
        (
            "/rd_people?order=id.desc&limit=1",
            &[],
            200,
            Some(&[6]),
            "0-0/*",
        ),
        (
            "/rd_people?order=id&limit=1&offset=1&city=eq.Lyon",
            &[],
            200,
            Some(&[6]),
            "1-1/*",
        ),
        // A negative offset is a no-op (it is intersected with 0-).
        (
            "/rd_people?order=id&offset=-4",
            &[],
            200,
            Some(&[1, 2, 3, 4, 5, 6]),
            "0-5/*",
        ),
        (
            "/rd_people?order=id&offset=0&limit=1",
            &[],
            200,
            Some(&[1]),
            "0-0/*",
        ),
        // Values that are not integers are ignored (readMaybe fails: no range).
        (
            "/rd_people?order=id&limit=abc",
            &[],
            200,
            Some(&[1, 2, 3, 4, 5, 6]),
            "0-5/*",
        ),
        (
            "/rd_people?order=id&offset=x&limit=1",
            &[],
            200,
            Some(&[1]),
            "0-0/*",
        ),
        // limit=0 is an empty page, not an error.
        ("/rd_people?order=id&limit=0", &[], 200, Some(&[]), "*/*"),
        (
            "/rd_people?order=id&limit=0&offset=0",
            &[],
            200,
            Some(&[]),
            "*/*",
        ),
    ];
    check(cluster(), "GET", cases);
    let r = cluster().get("/rd_people?limit=0");
    assert_eq!(r.body, b"[]", "{}", r.describe());
}

#[test]
fn a_negative_limit_is_416() {
    let c = cluster();
    // limit=0 with a non-zero offset is the empty range 3..=2, which getRanges only lets
    // through when it is exactly limit=0's marker range (0..=-1): PostgREST answers 416.
    for path in [
        "/rd_people?limit=-1",
        "/rd_people?limit=-10&offset=2",
        "/rd_people?limit=0&offset=3",
    ] {
        let r = c.get(path);
        assert_range_error(&r, RANGE_416_NEGATIVE_LIMIT);
        assert_header(&r, "Proxy-Status", "PostgREST; error=PGRST103");
    }
}

// ---------------------------------------------------------------------------------------------
// The Range header

#[test]
fn range_header_on_get() {
    let cases: &[Case] = &[
        (
            "/rd_people?order=id",
            &[("Range", "0-1")],
            200,
            Some(&[1, 2]),
            "0-1/*",
        ),
        (
            "/rd_people?order=id",
            &[("Range", "2-")],
            200,
            Some(&[3, 4, 5, 6]),
            "2-5/*",
        ),
        (
            "/rd_people?order=id",
            &[("Range", "4-10")],
            200,
            Some(&[5, 6]),
            "4-5/*",
        ),
        (
            "/rd_people?order=id",
            &[("Range", "0-0")],
            200,
            Some(&[1]),
            "0-0/*",
        ),
        (
            "/rd_people?order=id",
            &[("Range", "10-20")],
            200,
            Some(&[]),
            "*/*",
        ),
        (
            "/rd_people?order=id",
            &[("Range", "0-1"), ("Range-Unit", "items")],
            200,
            Some(&[1, 2]),
            "0-1/*",
        ),
        // Malformed values are ignored (the regex is ^([0-9]+)-([0-9]*)$).
        (
            "/rd_people?order=id",
            &[("Range", "items=0-1")],
            200,
            Some(&[1, 2, 3, 4, 5, 6]),
            "0-5/*",
        ),
        (
            "/rd_people?order=id",
            &[("Range", "-3")],
            200,
            Some(&[1, 2, 3, 4, 5, 6]),
            "0-5/*",
        ),
        (
            "/rd_people?order=id",
            &[("Range", "a-b")],
            200,
            Some(&[1, 2, 3, 4, 5, 6]),
            "0-5/*",
        ),
        (
            "/rd_people?order=id",
            &[("Range", "0-1,3-4")],
            200,
            Some(&[1, 2, 3, 4, 5, 6]),
            "0-5/*",
        ),
        // Intersected with limit/offset.
        (
            "/rd_people?order=id&limit=3&offset=1",
            &[("Range", "0-1")],
            200,
            Some(&[2]),
            "1-1/*",
        ),
        (
            "/rd_people?order=id&offset=2",
            &[("Range", "0-3")],
            200,
            Some(&[3, 4]),
            "2-3/*",
        ),
        (
            "/rd_people?order=id&limit=10",
            &[("Range", "2-")],
            200,
            Some(&[3, 4, 5, 6]),
            "2-5/*",
        ),
        (
            "/rd_people?order=id&limit=2",
            &[("Range", "1-4")],
            200,
            Some(&[2]),
            "1-1/*",
        ),
        // With a count the total is known: 206 for a partial page.
        (
            "/rd_people?order=id",
            &[("Range", "0-1"), ("Prefer", "count=exact")],
            206,
            Some(&[1, 2]),
            "0-1/6",
        ),
        (
            "/rd_people?order=id",
            &[("Range", "0-9"), ("Prefer", "count=exact")],
            200,
            Some(&[1, 2, 3, 4, 5, 6]),
            "0-5/6",
        ),
    ];
    check(cluster(), "GET", cases);
}

#[test]
fn unsatisfiable_range_headers_are_416() {
    let c = cluster();
    let r = c.get_with("/rd_people", &[("Range", "5-1")]);
    assert_range_error(&r, RANGE_416_LOWER_GT_UPPER);
    let r = c.get_with("/rd_people?limit=2", &[("Range", "3-2")]);
    assert_range_error(&r, RANGE_416_LOWER_GT_UPPER);
    // A valid header whose intersection with limit/offset is empty: PostgREST's getRanges
    // reports it as a negative limit (the header itself is not empty).
    let r = c.get_with("/rd_people?limit=2", &[("Range", "3-")]);
    assert_range_error(&r, RANGE_416_NEGATIVE_LIMIT);
    // The start past the end with a count.
    let r = c.get_with("/rd_people", &[("Range", "10-"), ("Prefer", "count=exact")]);
    assert_range_error(
        &r,
        "An offset of 10 was requested, but there are only 6 rows.",
    );
    assert_header(&r, "Content-Range", "*/6");
}

#[test]
fn range_header_is_ignored_on_head_and_writes() {
    let c = cluster();
    let cases: &[Case] = &[
        (
            "/rd_people?order=id",
            &[("Range", "0-1")],
            200,
            None,
            "0-5/*",
        ),
        (
            "/rd_people?order=id",
            &[("Range", "5-1")],
            200,
            None,
            "0-5/*",
        ),
        (
            "/rd_people?order=id&limit=2",
            &[("Range", "1-1")],
            200,
            None,
            "0-1/*",
        ),
    ];
    check(c, "HEAD", cases);

    let tag = "pg-range-writes";
    seed(c, tag, 3);
    let r = c.patch_json(
        &format!("/rd_writes?tag=eq.{tag}"),
        &json!({"note": "patched"}),
        &[("Range", "0-0")],
    );
    assert_status(&r, 204);
    assert_header(&r, "Content-Range", "0-2/*");
    assert_eq!(
        c.psql(&format!(
            "select count(*) from api.rd_writes where tag = '{tag}' and note = 'patched'"
        )),
        "3"
    );
    let r = c.patch_json(
        &format!("/rd_writes?tag=eq.{tag}"),
        &json!({"note": "again"}),
        &[("Range", "5-1")],
    );
    assert_status(&r, 204);
    let r = c.post_json(
        "/rd_writes",
        &json!([{"tag": tag, "n": 10}, {"tag": tag, "n": 20}]),
        &[("Range", "5-1")],
    );
    assert_status(&r, 201);
    assert_eq!(count_tag(c, tag), "5:36");
    let r = c.delete(&format!("/rd_writes?tag=eq.{tag}"), &[("Range", "0-0")]);
    assert_status(&r, 204);
    assert_eq!(count_tag(c, tag), "0:0");
}

// ---------------------------------------------------------------------------------------------
// Counting

#[test]
fn exact_count_totals_and_statuses() {
    let c = cluster();
    let exact: &[(&str, &str)] = &[("Prefer", "count=exact")];
    let cases: &[Case] = &[
        (
            "/rd_people?order=id",
            exact,
            200,
            Some(&[1, 2, 3, 4, 5, 6]),
            "0-5/6",
        ),
        (
            "/rd_people?order=id&limit=2",
            exact,
            206,
            Some(&[1, 2]),
            "0-1/6",
        ),
        (
            "/rd_people?order=id&limit=2&offset=4",
            exact,
            206,
            Some(&[5, 6]),
            "4-5/6",
        ),
        (
            "/rd_people?order=id&city=eq.Paris",
            exact,
            200,
            Some(&[1, 3]),
            "0-1/2",
        ),
        (
            "/rd_people?order=id&city=eq.Paris&limit=1",
            exact,
            206,
            Some(&[1]),
            "0-0/2",
        ),
        (
            "/rd_people?order=id&id=gt.100",
            exact,
            200,
            Some(&[]),
            "*/0",
        ),
        // An offset equal to the total is not out of range: an empty partial page.
        ("/rd_people?order=id&offset=6", exact, 206, Some(&[]), "*/6"),
        ("/rd_people?order=id&limit=0", exact, 206, Some(&[]), "*/6"),
        (
            "/rd_people?order=id",
            &[("Prefer", "count=estimated")],
            200,
            Some(&[1, 2, 3, 4, 5, 6]),
            "0-5/6",
        ),
        // Without db_max_rows, estimated is exact.
        (
            "/rd_people?order=id&limit=2",
            &[("Prefer", "count=estimated")],
            206,
            Some(&[1, 2]),
            "0-1/6",
        ),
        // count=none is not a preference: no count, no Preference-Applied.
        (
            "/rd_people?order=id&limit=2",
            &[("Prefer", "count=none")],
            200,
            Some(&[1, 2]),
            "0-1/*",
        ),
    ];
    check(c, "GET", cases);
    check(
        c,
        "HEAD",
        &cases
            .iter()
            .map(|(p, h, s, _, r)| (*p, *h, *s, None, *r))
            .collect::<Vec<_>>(),
    );
    let r = c.get_with("/rd_people?limit=1", exact);
    assert_header(&r, "Preference-Applied", "count=exact");
    let r = c.get_with("/rd_people?limit=1", &[("Prefer", "count=estimated")]);
    assert_header(&r, "Preference-Applied", "count=estimated");
    let r = c.get_with("/rd_people?limit=1", &[("Prefer", "count=none")]);
    assert_no_header(&r, "Preference-Applied");
}

#[test]
fn offsets_past_the_total_are_416_with_the_counts() {
    let c = cluster();
    for (path, lower, total) in [
        ("/rd_people?offset=7", "7", "6"),
        ("/rd_people?offset=100&limit=5", "100", "6"),
        ("/rd_people?id=gt.100&offset=1", "1", "0"),
        ("/rd_people?city=eq.Paris&offset=3&order=id", "3", "2"),
    ] {
        let r = c.get_with(path, &[("Prefer", "count=exact")]);
        assert_range_error(
            &r,
            &format!("An offset of {lower} was requested, but there are only {total} rows."),
        );
        assert_header(&r, "Content-Range", &format!("*/{total}"));
        // HEAD: the same status and Content-Range, no body.
        let h = c.head(path, &[("Prefer", "count=exact")]);
        assert_status(&h, 416);
        assert_header(&h, "Content-Range", &format!("*/{total}"));
        assert!(h.body.is_empty(), "{}", h.describe());
    }
    // Without a count the total is unknown: an empty 200.
    let r = c.get("/rd_people?offset=100");
    assert_eq!(assert_json_array(&r), Vec::<Value>::new());
    assert_header(&r, "Content-Range", "*/*");
}

/// `/<first>-<last>/<total>` where total is a number; returns (first, last, total).
#[track_caller]
fn parse_content_range(r: &Response) -> (Option<(i64, i64)>, i64) {
    let cr = r
        .header("Content-Range")
        .unwrap_or_else(|| panic!("no Content-Range: {}", r.describe()));
    let (range, total) = cr
        .split_once('/')
        .unwrap_or_else(|| panic!("bad Content-Range: {}", r.describe()));
    let total: i64 = total
        .parse()
        .unwrap_or_else(|_| panic!("the total is not a number: {}", r.describe()));
    let range = if range == "*" {
        None
    } else {
        let (a, b) = range.split_once('-').expect("first-last");
        Some((a.parse().unwrap(), b.parse().unwrap()))
    };
    (range, total)
}

#[test]
fn planned_and_estimated_counts_are_numbers() {
    let c = cluster();
    for (path, page) in [
        ("/rd_people?order=id", 6),
        ("/rd_people?order=id&limit=2", 2),
        ("/rd_people?order=id&city=eq.Lyon", 2),
    ] {
        let r = c.get_with(path, &[("Prefer", "count=planned")]);
        assert!(r.status == 200 || r.status == 206, "{}", r.describe());
        assert_eq!(
            assert_json_array_any_status(&r).len(),
            page,
            "{}",
            r.describe()
        );
        assert_header(&r, "Preference-Applied", "count=planned");
        let (range, total) = parse_content_range(&r);
        assert_eq!(range, Some((0, page as i64 - 1)), "{}", r.describe());
        assert!(total >= 0, "{}", r.describe());
        // 206 exactly when the page is smaller than the (estimated) total.
        let expected = if (page as i64) < total { 206 } else { 200 };
        assert_eq!(r.status, expected, "{}", r.describe());
        let h = c.head(path, &[("Prefer", "count=planned")]);
        assert_eq!(h.status, r.status, "{}", h.describe());
        assert_eq!(h.header("Content-Range"), r.header("Content-Range"));
    }
}

/// The rows of a 200 or 206 JSON array.
#[track_caller]
fn assert_json_array_any_status(r: &Response) -> Vec<Value> {
    assert!(r.status == 200 || r.status == 206, "{}", r.describe());
    assert_header(r, "Content-Type", JSON_CT);
    r.json().as_array().cloned().unwrap_or_else(|| {
        panic!("not an array: {}", r.describe());
    })
}

#[test]
fn writes_report_the_affected_count_in_content_range() {
    // Response.hs: the total of a mutation is rsQueryTotal when shouldCount, i.e. for
    // count=exact and count=estimated; count=planned leaves it `*`.
    let c = cluster();
    let tag = "pg-write-counts";
    seed(c, tag, 2);
    let path = format!("/rd_writes?tag=eq.{tag}");
    for (prefer, range, applied) in [
        ("count=exact", "0-1/2", "count=exact"),
        ("count=estimated", "0-1/2", "count=estimated"),
        (
            "count=exact, return=representation",
            "0-1/2",
            "return=representation, count=exact",
        ),
    ] {
        let r = c.patch_json(&path, &json!({"note": "counted"}), &[("Prefer", prefer)]);
        assert!(
            r.status == 204 || r.status == 200,
            "PATCH {prefer}: {}",
            r.describe()
        );
        assert_header(&r, "Content-Range", range);
        assert_header(&r, "Preference-Applied", applied);
    }
    let r = c.post_json(
        "/rd_writes",
        &json!([{"tag": tag, "n": 3}, {"tag": tag, "n": 4}, {"tag": tag, "n": 5}]),
        &[("Prefer", "count=exact")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Content-Range", "*/3");
    let r = c.delete(&format!("{path}&n=gte.4"), &[("Prefer", "count=exact")]);
    assert_status(&r, 204);
    assert_header(&r, "Content-Range", "*/2");
    assert_header(&r, "Preference-Applied", "count=exact");
    assert_eq!(count_tag(c, tag), "3:6");
    // count=planned: applied, but no total for a write.
    let r = c.patch_json(
        &path,
        &json!({"note": "planned"}),
        &[("Prefer", "count=planned")],
    );
    assert_status(&r, 204);
    assert_header(&r, "Preference-Applied", "count=planned");
    assert_header(&r, "Content-Range", "0-2/*");
    let r = c.post_json(
        "/rd_writes",
        &json!({"tag": tag, "n": 6}),
        &[("Prefer", "count=planned")],
    );
    assert_status(&r, 201);
    assert_header(&r, "Content-Range", "*/*");
    c.psql(&format!("delete from api.rd_writes where tag = '{tag}'"));
}

// ---------------------------------------------------------------------------------------------
// HEAD

/// Headers that legitimately differ between GET and HEAD.
fn comparable_headers(r: &Response) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| {
            // HEAD has no ETag: it is computed from the body (RFC 9110 §9.3.2 allows that).
            ![
                "date",
                "content-length",
                "transfer-encoding",
                "connection",
                "etag",
            ]
            .contains(&k.to_ascii_lowercase().as_str())
        })
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    h.sort();
    h
}

#[test]
fn head_answers_like_get_without_a_body() {
    let c = cluster();
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("/rd_people", &[]),
        (
            "/rd_people?select=id,name&order=id.desc&limit=2&offset=1",
            &[],
        ),
        ("/rd_people?id=eq.999", &[]),
        ("/rd_people?order=id&limit=2", &[("Prefer", "count=exact")]),
        ("/rd_people?offset=6", &[("Prefer", "count=exact")]),
        ("/rd_people?offset=60", &[("Prefer", "count=exact")]),
        ("/rd_people?limit=0", &[]),
        (
            "/rd_people?id=eq.1",
            &[("Accept", "application/vnd.pgrst.object+json")],
        ),
        ("/rd_people?id=eq.1", &[("Accept", "text/csv")]),
        (
            "/rd_people?id=lt.3",
            &[("Accept", "application/vnd.pgrst.array+json;nulls=stripped")],
        ),
        ("/rd_people?limit=-1", &[]),
        ("/rd_people?select=nope", &[]),
        ("/rd_people", &[("Accept", "text/html")]),
    ];
    for (path, headers) in cases {
        let get = c.get_with(path, headers);
        let head = c.head(path, headers);
        assert_eq!(
            head.status,
            get.status,
            "HEAD {path}: {} / GET: {}",
            head.describe(),
            get.describe()
        );
        assert!(head.body.is_empty(), "HEAD {path}: {}", head.describe());
        if get.status < 400 || get.status == 416 {
            assert_eq!(
                comparable_headers(&head),
                comparable_headers(&get),
                "HEAD {path} {headers:?}"
            );
        }
    }
    // HEAD ignores Range but not limit/offset.
    let head = c.head("/rd_people?limit=1&offset=2", &[("Range", "0-0")]);
    assert_header(&head, "Content-Range", "2-2/*");
}

// ---------------------------------------------------------------------------------------------
// pgrest.db_max_rows

#[test]
fn max_rows_caps_every_read() {
    let c = max_rows_cluster();
    let exact: &[(&str, &str)] = &[("Prefer", "count=exact")];
    let cases: &[Case] = &[
        ("/rd_people?order=id", &[], 200, Some(&[1, 2]), "0-1/*"),
        ("/rd_people?order=id", exact, 206, Some(&[1, 2]), "0-1/6"),
        (
            "/rd_people?order=id&limit=5",
            &[],
            200,
            Some(&[1, 2]),
            "0-1/*",
        ),
        ("/rd_people?order=id&limit=1", &[], 200, Some(&[1]), "0-0/*"),
        (
            "/rd_people?order=id&offset=3",
            &[],
            200,
            Some(&[4, 5]),
            "3-4/*",
        ),
        (
            "/rd_people?order=id&offset=5",
            exact,
            206,
            Some(&[6]),
            "5-5/6",
        ),
        (
            "/rd_people?order=id",
            &[("Range", "0-0")],
            200,
            Some(&[1]),
            "0-0/*",
        ),
        (
            "/rd_people?order=id",
            &[("Range", "3-")],
            200,
            Some(&[4, 5]),
            "3-4/*",
        ),
        (
            "/rd_people?order=id",
            &[("Range", "1-5")],
            200,
            Some(&[2, 3]),
            "1-2/*",
        ),
        ("/rd_people?order=id&limit=0", &[], 200, Some(&[]), "*/*"),
        (
            "/rd_people?order=id&city=eq.Paris",
            exact,
            200,
            Some(&[1, 3]),
            "0-1/2",
        ),
        (
            "/rd_people?order=id&city=eq.Nice",
            exact,
            200,
            Some(&[5]),
            "0-0/1",
        ),
        // Estimated: exact when the matching rows fit in max_rows.
        (
            "/rd_people?order=id&id=lt.3",
            &[("Prefer", "count=estimated")],
            200,
            Some(&[1, 2]),
            "0-1/2",
        ),
    ];
    check(c, "GET", cases);
    // HEAD: the same without a body (HEAD ignores Range, so those cases are left out).
    check(
        c,
        "HEAD",
        &cases
            .iter()
            .filter(|(_, h, ..)| !h.iter().any(|(k, _)| *k == "Range"))
            .map(|(p, h, s, _, r)| (*p, *h, *s, None, *r))
            .collect::<Vec<_>>(),
    );
    let r = c.get_with("/rd_people?offset=7", exact);
    assert_range_error(
        &r,
        "An offset of 7 was requested, but there are only 6 rows.",
    );
}

#[test]
fn max_rows_estimated_count_is_at_least_the_capped_exact_count() {
    let c = max_rows_cluster();
    let r = c.get_with("/rd_people?order=id", &[("Prefer", "count=estimated")]);
    assert_status(&r, 206);
    assert_header(&r, "Preference-Applied", "count=estimated");
    assert_eq!(ids(&r.json().as_array().cloned().unwrap()), [1, 2]);
    let (range, total) = parse_content_range(&r);
    assert_eq!(range, Some((0, 1)));
    // The exact count stops at max_rows + 1 = 3 rows; the planner's guess may be larger.
    assert!(total >= 3, "{}", r.describe());
}

#[test]
fn max_rows_does_not_cap_writes() {
    let c = max_rows_cluster();
    let tag = "pg-maxrows-writes";
    c.psql(&format!("delete from api.rd_writes where tag = '{tag}'"));
    let rep: &[(&str, &str)] = &[("Prefer", "return=representation")];
    let r = c.post_json(
        "/rd_writes?select=tag,n&order=n",
        &json!([{"tag": tag, "n": 1}, {"tag": tag, "n": 2}, {"tag": tag, "n": 3}]),
        rep,
    );
    assert_status(&r, 201);
    assert_eq!(
        r.json(),
        json!([{"tag": tag, "n": 1}, {"tag": tag, "n": 2}, {"tag": tag, "n": 3}])
    );
    let r = c.patch_json(
        &format!("/rd_writes?tag=eq.{tag}&select=n&order=n"),
        &json!({"note": "x"}),
        rep,
    );
    assert_status(&r, 200);
    assert_eq!(r.json(), json!([{"n": 1}, {"n": 2}, {"n": 3}]));
    assert_header(&r, "Content-Range", "0-2/*");
    let r = c.delete(
        &format!("/rd_writes?tag=eq.{tag}&select=n&order=n.desc"),
        rep,
    );
    assert_status(&r, 200);
    assert_eq!(r.json(), json!([{"n": 3}, {"n": 2}, {"n": 1}]));
    assert_eq!(count_tag(c, tag), "0:0");
}
