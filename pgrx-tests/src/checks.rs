//! Assertions shared by the suites: PostgREST's error body and headers, and small JSON helpers.
//! Every assertion prints the whole response when it fails.

use serde_json::Value;

use crate::http::Response;

/// PostgREST's JSON content type (responses and errors).
pub const JSON_CT: &str = "application/json; charset=utf-8";

/// Asserts the status code.
#[track_caller]
pub fn assert_status(resp: &Response, status: u16) {
    assert_eq!(
        resp.status,
        status,
        "unexpected status; response: {}",
        resp.describe()
    );
}

/// Asserts that header `name` is present with exactly `value`.
#[track_caller]
pub fn assert_header(resp: &Response, name: &str, value: &str) {
    assert_eq!(
        resp.header(name),
        Some(value),
        "header {name}: expected {value:?}; response: {}",
        resp.describe()
    );
}

/// Asserts that there is no header `name`.
#[track_caller]
pub fn assert_no_header(resp: &Response, name: &str) {
    assert_eq!(
        resp.header(name),
        None,
        "header {name} should be absent; response: {}",
        resp.describe()
    );
}

/// A 200 JSON array response: status, content type, and the parsed body.
#[track_caller]
pub fn assert_json_array(resp: &Response) -> Vec<Value> {
    assert_status(resp, 200);
    assert_header(resp, "Content-Type", JSON_CT);
    match resp.json() {
        Value::Array(rows) => rows,
        other => panic!(
            "expected a JSON array, got {other}; response: {}",
            resp.describe()
        ),
    }
}

/// A PostgREST error: `status`, `Content-Type: application/json; charset=utf-8`, and a body
/// that is an object with exactly `code`, `message`, `details`, `hint`, where `code` is `code`
/// and `message` a string. Returns the body.
#[track_caller]
pub fn assert_error(resp: &Response, status: u16, code: &str) -> Value {
    assert_status(resp, status);
    assert_header(resp, "Content-Type", JSON_CT);
    let body = resp.json();
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not an object; response: {}", resp.describe()));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["code", "details", "hint", "message"],
        "error body keys; response: {}",
        resp.describe()
    );
    assert_eq!(
        body["code"],
        code,
        "error code; response: {}",
        resp.describe()
    );
    assert!(
        body["message"].is_string(),
        "message must be a string; response: {}",
        resp.describe()
    );
    body
}

/// [`assert_error`] plus the exact message.
#[track_caller]
pub fn assert_error_message(resp: &Response, status: u16, code: &str, message: &str) -> Value {
    let body = assert_error(resp, status, code);
    assert_eq!(
        body["message"],
        message,
        "error message; response: {}",
        resp.describe()
    );
    body
}

/// [`assert_error_message`] with `details` and `hint` both null.
#[track_caller]
pub fn assert_plain_error(resp: &Response, status: u16, code: &str, message: &str) -> Value {
    let body = assert_error_message(resp, status, code, message);
    assert_eq!(
        body["details"],
        Value::Null,
        "details; response: {}",
        resp.describe()
    );
    assert_eq!(
        body["hint"],
        Value::Null,
        "hint; response: {}",
        resp.describe()
    );
    body
}

/// The `id` of each row of a JSON array, in order.
#[track_caller]
pub fn ids(rows: &[Value]) -> Vec<i64> {
    rows.iter()
        .map(|r| {
            r["id"]
                .as_i64()
                .unwrap_or_else(|| panic!("row without integer id: {r}"))
        })
        .collect()
}

/// The keys of a JSON object, sorted.
#[track_caller]
pub fn keys(obj: &Value) -> Vec<String> {
    let mut k: Vec<String> = obj
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {obj}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for query values.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Replaces the rows of api.rd_writes tagged `tag` with `n` fresh ones (n = 1..=n): each
/// writing test of the read_* suites works on its own tag.
pub fn seed(c: &crate::Cluster, tag: &str, n: usize) {
    c.psql(&format!(
        "delete from api.rd_writes where tag = '{tag}'; \
         insert into api.rd_writes (tag, n) select '{tag}', g from generate_series(1, {n}) g"
    ));
}

/// `count:n=note,...` of the rows of api.rd_writes tagged `tag`, to compare before and after.
pub fn tag_state(c: &crate::Cluster, tag: &str) -> String {
    c.psql(&format!(
        "select count(*) || ':' || coalesce(string_agg(n || '=' || coalesce(note, '-'), ',' \
         order by n), '') from api.rd_writes where tag = '{tag}'"
    ))
}

/// Fails with every collected failure at once (table-driven tests check all their cases).
#[track_caller]
pub fn assert_all_passed(failures: &[String], total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencode_leaves_unreserved_alone() {
        assert_eq!(urlencode("a-b_c.d~"), "a-b_c.d~");
        assert_eq!(urlencode("a b,\"é"), "a%20b%2C%22%C3%A9");
    }
}
