//! Request bodies: checking them against the `Content-Type` and turning them into what the
//! mutation and RPC queries consume.
//!
//! JSON bodies are only validated and inspected (their keys become the target columns);
//! the original text is passed on untouched so numbers and strings reach Postgres exactly
//! as sent. CSV and `x-www-form-urlencoded` bodies are converted to equivalent JSON text.
//! Raw bodies (`text/plain`, `text/xml`, `application/octet-stream`) are only meaningful
//! for functions taking a single unnamed parameter.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::media_type::MediaType;

/// A checked request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A JSON object or array of objects (always valid JSON text), with its keys.
    ProcessedJson { raw: String, keys: BTreeSet<String> },
    /// Form fields for an RPC call, in order (repeated names kept).
    ProcessedUrlEncoded {
        params: Vec<(String, String)>,
        keys: BTreeSet<String>,
    },
    /// JSON passed through unchecked because `columns=` already names the keys.
    RawJson(String),
    /// A body for a single-unnamed-parameter function.
    RawPay(Vec<u8>),
}

/// What the request does with its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadAction {
    /// POST on a table or view.
    Insert,
    /// PATCH.
    Update,
    /// PUT (single-row upsert).
    Upsert,
    /// DELETE: any body is ignored.
    Delete,
    /// POST on `/rpc/...`.
    Invoke,
    /// Reads and everything else: any body is ignored.
    Other,
}

pub const EMPTY_OR_INVALID_JSON: &str = "Empty or invalid json";
pub const KEYS_MUST_MATCH: &str = "All object keys must match";
/// Deeper JSON would reach PostgreSQL's own parser and fail there with 54001 (stack depth
/// limit exceeded, a 500): refuse it as a bad body instead.
const MAX_JSON_DEPTH: usize = 512;

fn too_deep_error() -> String {
    format!("The JSON body is nested deeper than {MAX_JSON_DEPTH} levels")
}

/// Whether arrays and objects nest deeper than [`MAX_JSON_DEPTH`] (brackets inside strings
/// do not count). A byte scan: the body need not be valid JSON.
fn json_too_deep(text: &str) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}
pub const CSV_FIELDS_MUST_MATCH: &str = "All lines must have same number of fields";

/// Checks `body` (PostgREST's `getPayload`).
///
/// `columns` is the parsed `columns=` parameter; it only matters for inserts, updates and
/// RPC calls. Returns the payload (`None` when the action takes no body) and the columns
/// the mutation or call targets. `Err` carries the PGRST102 message.
pub fn get_payload(
    body: &[u8],
    content_type: &MediaType,
    columns: Option<&[String]>,
    action: PayloadAction,
) -> Result<(Option<Payload>, BTreeSet<String>), String> {
    let is_proc = action == PayloadAction::Invoke;
    let columns = match action {
        PayloadAction::Insert | PayloadAction::Update | PayloadAction::Invoke => columns,
        _ => None,
    };
    let parse = matches!(
        action,
        PayloadAction::Insert
            | PayloadAction::Update
            | PayloadAction::Upsert
            | PayloadAction::Invoke
    );
    if !parse {
        return Ok((None, BTreeSet::new()));
    }

    let payload = match content_type {
        MediaType::ApplicationJson => match columns {
            // `columns=` names the keys, so the body goes to Postgres unchecked (which reports
            // malformed JSON itself); it only has to be text.
            Some(_) => {
                let text =
                    std::str::from_utf8(body).map_err(|_| EMPTY_OR_INVALID_JSON.to_string())?;
                if json_too_deep(text) {
                    return Err(too_deep_error());
                }
                Payload::RawJson(text.to_string())
            }
            // An RPC call without a body is a call without arguments. (PostgREST keeps the
            // empty text; `{}` keeps `raw` valid JSON.)
            None if body.is_empty() && is_proc => Payload::ProcessedJson {
                raw: "{}".to_string(),
                keys: BTreeSet::new(),
            },
            None => {
                let text =
                    std::str::from_utf8(body).map_err(|_| EMPTY_OR_INVALID_JSON.to_string())?;
                if json_too_deep(text) {
                    return Err(too_deep_error());
                }
                let shape = json_shape(text).ok_or_else(|| EMPTY_OR_INVALID_JSON.to_string())?;
                processed_json(text, shape).ok_or_else(|| KEYS_MUST_MATCH.to_string())?
            }
        },
        MediaType::TextCsv => {
            let (json, shape) = csv_to_json(body)?;
            processed_json(&json, shape).ok_or_else(|| CSV_FIELDS_MUST_MATCH.to_string())?
        }
        MediaType::UrlEncoded => {
            let params = parse_urlencoded(body)?;
            if is_proc {
                let keys = params.iter().map(|(k, _)| k.clone()).collect();
                Payload::ProcessedUrlEncoded { params, keys }
            } else {
                // One object of strings; a repeated field keeps its last value.
                let mut fields = std::collections::BTreeMap::new();
                for (k, v) in params {
                    fields.insert(k, v);
                }
                let keys = fields.keys().cloned().collect();
                let raw = json_object(fields.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))));
                Payload::ProcessedJson { raw, keys }
            }
        }
        MediaType::TextPlain | MediaType::TextXml | MediaType::OctetStream if is_proc => {
            Payload::RawPay(body.to_vec())
        }
        other => return Err(format!("Content-Type not acceptable: {}", other.to_mime())),
    };

    let cols = match (&payload, columns) {
        (Payload::ProcessedJson { keys, .. }, _)
        | (Payload::ProcessedUrlEncoded { keys, .. }, _) => keys.clone(),
        (Payload::RawJson(_), Some(cls)) => cls.iter().cloned().collect(),
        _ => BTreeSet::new(),
    };
    Ok((Some(payload), cols))
}

/// What matters about a JSON document for a mutation: is it an object, an array of objects
/// sharing one key set, or something else.
#[derive(Debug, PartialEq, Eq)]
enum JsonShape {
    Object(BTreeSet<String>),
    /// The key set of the first element, `None` when it is not an object or when the
    /// elements disagree.
    Array {
        len: usize,
        keys: Option<BTreeSet<String>>,
    },
    Scalar,
}

/// `payloadAttributes`: objects and uniform arrays of objects are kept as they are; an
/// empty array or a scalar becomes an empty array (nothing to write); anything else fails.
fn processed_json(raw: &str, shape: JsonShape) -> Option<Payload> {
    let empty = || Payload::ProcessedJson {
        raw: "[]".to_string(),
        keys: BTreeSet::new(),
    };
    match shape {
        JsonShape::Object(keys) => Some(Payload::ProcessedJson {
            raw: raw.to_string(),
            keys,
        }),
        JsonShape::Array { len: 0, .. } | JsonShape::Scalar => Some(empty()),
        JsonShape::Array {
            keys: Some(keys), ..
        } => Some(Payload::ProcessedJson {
            raw: raw.to_string(),
            keys,
        }),
        JsonShape::Array { keys: None, .. } => None,
    }
}

/// Validates `text` as one JSON document and reports its shape; `None` if it is not JSON.
/// Values below the first level are skimmed, not built, so big or deeply nested payloads
/// cost little and numbers of any size are accepted.
fn json_shape(text: &str) -> Option<JsonShape> {
    let mut de = serde_json::Deserializer::from_str(text);
    let shape = de.deserialize_any(ShapeVisitor).ok()?;
    de.end().ok()?;
    Some(shape)
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = JsonShape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<JsonShape, E> {
        Ok(JsonShape::Scalar)
    }
    fn visit_i64<E>(self, _: i64) -> Result<JsonShape, E> {
        Ok(JsonShape::Scalar)
    }
    fn visit_u64<E>(self, _: u64) -> Result<JsonShape, E> {
        Ok(JsonShape::Scalar)
    }
    fn visit_f64<E>(self, _: f64) -> Result<JsonShape, E> {
        Ok(JsonShape::Scalar)
    }
    fn visit_str<E>(self, _: &str) -> Result<JsonShape, E> {
        Ok(JsonShape::Scalar)
    }
    fn visit_unit<E>(self) -> Result<JsonShape, E> {
        Ok(JsonShape::Scalar)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<JsonShape, A::Error> {
        Ok(JsonShape::Object(collect_keys(map)?))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonShape, A::Error> {
        let mut len = 0usize;
        let mut keys: Option<BTreeSet<String>> = None;
        let mut uniform = true;
        loop {
            // Once the elements disagree, the rest only needs to be well-formed.
            if len > 0 && !uniform {
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    break;
                }
                len += 1;
                continue;
            }
            match seq.next_element_seed(ElementKeys)? {
                None => break,
                Some(elem_keys) => {
                    if len == 0 {
                        uniform = elem_keys.is_some();
                        keys = elem_keys;
                    } else if elem_keys != keys {
                        uniform = false;
                    }
                    len += 1;
                }
            }
        }
        Ok(JsonShape::Array {
            len,
            keys: if uniform { keys } else { None },
        })
    }
}

fn collect_keys<'de, A: MapAccess<'de>>(mut map: A) -> Result<BTreeSet<String>, A::Error> {
    let mut keys = BTreeSet::new();
    while let Some(k) = map.next_key::<String>()? {
        map.next_value::<IgnoredAny>()?;
        keys.insert(k);
    }
    Ok(keys)
}

/// The key set of an array element, `None` if it is not an object.
struct ElementKeys;

impl<'de> DeserializeSeed<'de> for ElementKeys {
    type Value = Option<BTreeSet<String>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ElementVisitor)
    }
}

struct ElementVisitor;

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Option<BTreeSet<String>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        collect_keys(map).map(Some)
    }
}

/// Renders one JSON object; `None` values become `null`. Keys are written in the order
/// given.
fn json_object<'a>(fields: impl Iterator<Item = (&'a str, Option<&'a str>)>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_string(k));
        out.push(':');
        match v {
            Some(v) => out.push_str(&json_string(v)),
            None => out.push_str("null"),
        }
    }
    out.push('}');
    out
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Converts a CSV body with a header line into a JSON array of objects (cassava's
/// `decodeByName` followed by PostgREST's `csvToJson`).
///
/// The unquoted field `NULL` becomes `null`, everything else a string. A row with fewer
/// fields than the header yields an object with fewer keys (rejected by the caller as a
/// field count mismatch); extra fields beyond the header are dropped, as cassava does. Blank
/// lines are skipped; lines end in LF, CRLF or CR.
fn csv_to_json(body: &[u8]) -> Result<(String, JsonShape), String> {
    let mut p = CsvParser { s: body, i: 0 };
    let header = p.record()?;
    if !p.end_of_line() {
        return Err(p.error(if p.at_end() {
            "not enough input"
        } else {
            "Failed reading: satisfy"
        }));
    }
    let header: Vec<String> = header
        .into_iter()
        .map(|f| {
            String::from_utf8(f)
                .map_err(|_| "conversion error: invalid UTF-8 in CSV header".to_string())
        })
        .collect::<Result<_, _>>()?;

    let mut rows = Vec::new();
    loop {
        let record = p.record()?;
        let blank = record.len() == 1 && record[0].is_empty();
        if !blank {
            let mut row = std::collections::BTreeMap::new();
            for (name, field) in header.iter().zip(record) {
                let value = String::from_utf8(field)
                    .map_err(|_| "conversion error: invalid UTF-8 in CSV field".to_string())?;
                // The NULL marker is compared on the decoded field, quoted or not.
                let value = if value == "NULL" { None } else { Some(value) };
                row.insert(name.as_str(), value);
            }
            rows.push(row);
        }
        if p.at_end() {
            break;
        }
        if !p.end_of_line() {
            return Err(p.error("Failed reading: satisfy"));
        }
        if p.at_end() {
            break;
        }
    }

    let first_keys: Option<BTreeSet<String>> = rows
        .first()
        .map(|r| r.keys().map(|k| k.to_string()).collect());
    let uniform = rows
        .iter()
        .all(|r| r.len() == first_keys.as_ref().map_or(0, |k| k.len()));
    let mut json = String::from("[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&json_object(row.iter().map(|(k, v)| (*k, v.as_deref()))));
    }
    json.push(']');
    let shape = JsonShape::Array {
        len: rows.len(),
        keys: if uniform { first_keys } else { None },
    };
    Ok((json, shape))
}

/// The raw bytes of one field, unquoted.
type CsvField = Vec<u8>;

struct CsvParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl CsvParser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// LF, CRLF or a lone CR.
    fn end_of_line(&mut self) -> bool {
        match self.peek() {
            Some(b'\n') => {
                self.i += 1;
                true
            }
            Some(b'\r') => {
                self.i += 1;
                if self.peek() == Some(b'\n') {
                    self.i += 1;
                }
                true
            }
            _ => false,
        }
    }

    /// A parse failure in cassava's wording: the reason and what was left of the input.
    fn error(&self, reason: &str) -> String {
        let rest = &self.s[self.i.min(self.s.len())..];
        let shown = if rest.len() > 100 {
            format!("{} (truncated)", String::from_utf8_lossy(&rest[..100]))
        } else {
            // Haskell `show` of the bytes read as Latin-1, like cassava's message.
            let latin1: String = rest.iter().map(|b| char::from(*b)).collect();
            crate::api_request::parsec::show_string(&latin1)
        };
        format!("parse error ({reason}) at {shown}")
    }

    /// Fields separated by commas, up to (not including) the end of the line.
    fn record(&mut self) -> Result<Vec<CsvField>, String> {
        let mut fields = vec![self.field()?];
        while self.peek() == Some(b',') {
            self.i += 1;
            fields.push(self.field()?);
        }
        Ok(fields)
    }

    fn field(&mut self) -> Result<CsvField, String> {
        if self.peek() != Some(b'"') {
            let start = self.i;
            while let Some(b) = self.peek() {
                if matches!(b, b'"' | b'\n' | b'\r' | b',') {
                    break;
                }
                self.i += 1;
            }
            return Ok(self.s[start..self.i].to_vec());
        }
        // Quoted: `""` is an escaped quote; the field ends at a quote not followed by one.
        // An unterminated field is an error (cassava would silently drop its last byte).
        self.i += 1;
        if self.at_end() {
            return Err(self.error("Failed reading: trailing double quote"));
        }
        let mut bytes = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error("not enough input")),
                Some(b'"') => {
                    if self.s.get(self.i + 1) == Some(&b'"') {
                        bytes.push(b'"');
                        self.i += 2;
                    } else {
                        self.i += 1;
                        return Ok(bytes);
                    }
                }
                Some(b) => {
                    bytes.push(b);
                    self.i += 1;
                }
            }
        }
    }
}

/// Form fields (`application/x-www-form-urlencoded`): `&`/`;`-separated, `+` is a space,
/// a missing `=` means an empty value, a leading `?` is dropped (`parseSimpleQuery`).
fn parse_urlencoded(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let body = body.strip_prefix(b"?").unwrap_or(body);
    let decode = |raw: Vec<u8>| {
        String::from_utf8(raw).map_err(|_| "Invalid form data: not valid UTF-8".to_string())
    };
    crate::api_request::query_string::parse_query(body)
        .into_iter()
        .map(|(k, v)| Ok((decode(k)?, decode(v.unwrap_or_default())?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ks: &[&str]) -> BTreeSet<String> {
        ks.iter().map(|k| k.to_string()).collect()
    }

    fn json(
        body: &str,
        action: PayloadAction,
    ) -> Result<(Option<Payload>, BTreeSet<String>), String> {
        get_payload(body.as_bytes(), &MediaType::ApplicationJson, None, action)
    }

    fn pj(raw: &str, ks: &[&str]) -> Option<Payload> {
        Some(Payload::ProcessedJson {
            raw: raw.to_string(),
            keys: keys(ks),
        })
    }

    #[test]
    fn json_object_and_arrays() {
        let body = r#"{"id": 1, "name": "x"}"#;
        assert_eq!(
            json(body, PayloadAction::Insert),
            Ok((pj(body, &["id", "name"]), keys(&["id", "name"])))
        );
        let arr = r#"[{"a":1,"b":2},{"b":3,"a":4}]"#;
        assert_eq!(
            json(arr, PayloadAction::Insert),
            Ok((pj(arr, &["a", "b"]), keys(&["a", "b"])))
        );
        // Duplicate keys are one key.
        let dup = r#"[{"a":1,"a":2},{"a":3}]"#;
        assert_eq!(json(dup, PayloadAction::Update).unwrap().1, keys(&["a"]));
        // Escaped keys compare by their value.
        let esc = r#"[{"\u0061":1},{"a":2}]"#;
        assert_eq!(json(esc, PayloadAction::Insert).unwrap().1, keys(&["a"]));
    }

    #[test]
    fn deeply_nested_json_is_a_bad_body() {
        let nested = |n: usize| format!("[{{\"a\": {}1{}}}]", "[".repeat(n), "]".repeat(n));
        assert!(json(&nested(500), PayloadAction::Insert).is_ok());
        let deep = nested(50_000);
        let msg = "The JSON body is nested deeper than 512 levels".to_string();
        assert_eq!(json(&deep, PayloadAction::Insert), Err(msg.clone()));
        // Also with `columns=`, where the body otherwise goes to PostgreSQL unchecked.
        let cols = ["a".to_string()];
        let r = get_payload(
            deep.as_bytes(),
            &MediaType::ApplicationJson,
            Some(&cols),
            PayloadAction::Insert,
        );
        assert_eq!(r, Err(msg));
        // Brackets inside strings are text.
        let quoted = format!("{{\"a\": \"{}\\\"{}\"}}", "[".repeat(600), "{".repeat(600));
        assert!(json(&quoted, PayloadAction::Insert).is_ok());
    }

    #[test]
    fn json_raw_text_is_kept() {
        let body = "  {\"n\": 123456789012345678901234567890, \"f\": 1e400, \"s\": \"\\u00e9\"}\n";
        assert_eq!(
            json(body, PayloadAction::Insert).unwrap().0,
            pj(body, &["f", "n", "s"])
        );
    }

    #[test]
    fn json_non_uniform_keys() {
        for body in [
            r#"[{"a":1},{"b":2}]"#,
            r#"[{"a":1},{"a":1,"b":2}]"#,
            r#"[{"a":1},2]"#,
            r#"[1,{"a":1}]"#,
            r#"[[]]"#,
            r#"[null]"#,
            r#"[{"a":1},{"b":2},{"a":1}]"#,
        ] {
            assert_eq!(
                json(body, PayloadAction::Insert),
                Err(KEYS_MUST_MATCH.to_string()),
                "{body}"
            );
        }
    }

    #[test]
    fn json_scalars_and_empty_arrays_truncate() {
        for body in ["[]", "1", "\"text\"", "null", "true", " [ ] "] {
            assert_eq!(
                json(body, PayloadAction::Insert),
                Ok((pj("[]", &[]), keys(&[]))),
                "{body}"
            );
        }
    }

    #[test]
    fn json_invalid() {
        for body in [
            "",
            "   ",
            "{",
            "{\"a\":}",
            "[{\"a\":1},]",
            "{\"a\":1} x",
            "{'a':1}",
            "[{\"a\":1},{\"b\":2},]",
            "[{\"a\":1},{\"b\":2}, {]",
            "{\"a\": 01}",
            "NaN",
        ] {
            assert_eq!(
                json(body, PayloadAction::Insert),
                Err(EMPTY_OR_INVALID_JSON.to_string()),
                "{body:?}"
            );
        }
        assert_eq!(
            get_payload(
                b"{\"a\":\"\xff\"}",
                &MediaType::ApplicationJson,
                None,
                PayloadAction::Insert
            ),
            Err(EMPTY_OR_INVALID_JSON.to_string())
        );
    }

    #[test]
    fn json_nesting_within_the_limit_is_skimmed() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(500), "]".repeat(500));
        assert_eq!(json(&deep, PayloadAction::Insert).unwrap().1, keys(&["a"]));
    }

    #[test]
    fn rpc_empty_body_is_no_arguments() {
        assert_eq!(
            json("", PayloadAction::Invoke),
            Ok((pj("{}", &[]), keys(&[])))
        );
        // Not for tables.
        assert_eq!(
            json("", PayloadAction::Update),
            Err(EMPTY_OR_INVALID_JSON.to_string())
        );
    }

    #[test]
    fn columns_pass_json_through() {
        let cols = vec!["b".to_string(), "a".to_string()];
        for action in [
            PayloadAction::Insert,
            PayloadAction::Update,
            PayloadAction::Invoke,
        ] {
            let r = get_payload(
                b"not even json",
                &MediaType::ApplicationJson,
                Some(&cols),
                action,
            );
            assert_eq!(
                r,
                Ok((
                    Some(Payload::RawJson("not even json".into())),
                    keys(&["a", "b"])
                ))
            );
        }
        // PUT ignores columns=.
        let r = get_payload(
            b"{\"x\":1}",
            &MediaType::ApplicationJson,
            Some(&cols),
            PayloadAction::Upsert,
        );
        assert_eq!(r, Ok((pj("{\"x\":1}", &["x"]), keys(&["x"]))));
    }

    #[test]
    fn bodies_ignored_for_other_actions() {
        for action in [PayloadAction::Delete, PayloadAction::Other] {
            assert_eq!(
                get_payload(b"garbage", &MediaType::TextCsv, None, action),
                Ok((None, BTreeSet::new()))
            );
        }
    }

    fn csv(body: &str) -> Result<(Option<Payload>, BTreeSet<String>), String> {
        get_payload(
            body.as_bytes(),
            &MediaType::TextCsv,
            None,
            PayloadAction::Insert,
        )
    }

    #[test]
    fn csv_basic() {
        assert_eq!(
            csv("a,b\nbar,baz"),
            Ok((
                pj(r#"[{"a":"bar","b":"baz"}]"#, &["a", "b"]),
                keys(&["a", "b"])
            ))
        );
        assert_eq!(
            csv("a,b\nNULL,foo").unwrap().0,
            pj(r#"[{"a":null,"b":"foo"}]"#, &["a", "b"])
        );
        assert_eq!(
            csv("a,b\n,foo\n").unwrap().0,
            pj(r#"[{"a":"","b":"foo"}]"#, &["a", "b"])
        );
        assert_eq!(
            csv("id,name,client_id\n8,Xenix,1\n9,Windows NT,1")
                .unwrap()
                .0,
            pj(
                r#"[{"client_id":"1","id":"8","name":"Xenix"},{"client_id":"1","id":"9","name":"Windows NT"}]"#,
                &["client_id", "id", "name"]
            )
        );
    }

    #[test]
    fn csv_quoting_and_line_endings() {
        assert_eq!(
            csv("a,b\r\n\"x, \"\"y\"\"\",\"line\nbreak\"\r\n")
                .unwrap()
                .0,
            pj(r#"[{"a":"x, \"y\"","b":"line\nbreak"}]"#, &["a", "b"])
        );
        assert_eq!(
            csv("\"a\",b\r1,2\r").unwrap().0,
            pj(r#"[{"a":"1","b":"2"}]"#, &["a", "b"])
        );
        assert_eq!(csv("a\n\"NULL\"").unwrap().0, pj(r#"[{"a":null}]"#, &["a"]));
        assert_eq!(csv("a\n\"\"").unwrap().0, pj("[]", &[]));
        assert_eq!(
            csv("a\nüñí,\"ç\"").unwrap().0,
            pj(r#"[{"a":"üñí"}]"#, &["a"])
        );
    }

    #[test]
    fn csv_blank_lines_and_no_rows() {
        assert_eq!(
            csv("a,b\n1,2\n\n3,4\n\n").unwrap().0,
            pj(r#"[{"a":"1","b":"2"},{"a":"3","b":"4"}]"#, &["a", "b"])
        );
        assert_eq!(csv("a,b\n"), Ok((pj("[]", &[]), keys(&[]))));
    }

    #[test]
    fn csv_field_counts() {
        assert_eq!(
            csv("a,b\nfoo,bar\nbaz"),
            Err(CSV_FIELDS_MUST_MATCH.to_string())
        );
        assert_eq!(
            csv("a,b\nbaz\nfoo,bar"),
            Err(CSV_FIELDS_MUST_MATCH.to_string())
        );
        // Extra fields are dropped, as cassava pairs them with the header.
        assert_eq!(csv("a\n1,2,3").unwrap().0, pj(r#"[{"a":"1"}]"#, &["a"]));
        // A repeated header keeps the last column.
        assert_eq!(csv("a,a\n1,2").unwrap().0, pj(r#"[{"a":"2"}]"#, &["a"]));
    }

    #[test]
    fn csv_errors() {
        assert_eq!(
            csv(""),
            Err("parse error (not enough input) at \"\"".to_string())
        );
        assert_eq!(
            csv("a,b"),
            Err("parse error (not enough input) at \"\"".to_string())
        );
        assert_eq!(
            csv("a,\"b\nc"),
            Err("parse error (not enough input) at \"\"".to_string())
        );
        assert_eq!(
            csv("a,b\n1,x\"y\""),
            Err("parse error (Failed reading: satisfy) at \"\\\"y\\\"\"".to_string())
        );
        assert_eq!(
            csv("a\"b\n1"),
            Err("parse error (Failed reading: satisfy) at \"\\\"b\\n1\"".to_string())
        );
        assert!(
            get_payload(b"a\n\xff", &MediaType::TextCsv, None, PayloadAction::Insert)
                .unwrap_err()
                .contains("invalid UTF-8")
        );
        assert_eq!(
            csv("a\n\""),
            Err("parse error (Failed reading: trailing double quote) at \"\"".to_string())
        );
        assert_eq!(
            csv("a\n\"abc"),
            Err("parse error (not enough input) at \"\"".to_string())
        );
        assert_eq!(
            csv("a\n1\u{e9}\"x"),
            Err("parse error (Failed reading: satisfy) at \"\\\"x\"".to_string())
        );
        assert_eq!(
            csv("a\n\u{e9}\"\u{e9}"),
            Err("parse error (Failed reading: satisfy) at \"\\\"\\195\\169\"".to_string())
        );
        let long = format!("a\n\"x\"{}", "y".repeat(200));
        assert!(csv(&long).unwrap_err().ends_with(" (truncated)"));
    }

    #[test]
    fn csv_for_rpc() {
        let r = get_payload(
            b"a,b\n1,2",
            &MediaType::TextCsv,
            None,
            PayloadAction::Invoke,
        );
        assert_eq!(r.unwrap().1, keys(&["a", "b"]));
    }

    #[test]
    fn urlencoded_for_tables() {
        let r = get_payload(
            b"name=A+B&id=1&id=2&esc=%26%3D%C3%A9",
            &MediaType::UrlEncoded,
            None,
            PayloadAction::Insert,
        );
        assert_eq!(
            r,
            Ok((
                pj(
                    r#"{"esc":"&=é","id":"2","name":"A B"}"#,
                    &["esc", "id", "name"]
                ),
                keys(&["esc", "id", "name"])
            ))
        );
        assert_eq!(
            get_payload(b"", &MediaType::UrlEncoded, None, PayloadAction::Update),
            Ok((pj("{}", &[]), keys(&[])))
        );
        assert_eq!(
            get_payload(
                b"flag&x=1;y=2&",
                &MediaType::UrlEncoded,
                None,
                PayloadAction::Insert
            )
            .unwrap()
            .0,
            pj(r#"{"flag":"","x":"1","y":"2"}"#, &["flag", "x", "y"])
        );
    }

    #[test]
    fn urlencoded_for_rpc() {
        let r = get_payload(
            b"?a=1&b=x%20y&a=2",
            &MediaType::UrlEncoded,
            None,
            PayloadAction::Invoke,
        );
        assert_eq!(
            r,
            Ok((
                Some(Payload::ProcessedUrlEncoded {
                    params: vec![
                        ("a".into(), "1".into()),
                        ("b".into(), "x y".into()),
                        ("a".into(), "2".into())
                    ],
                    keys: keys(&["a", "b"])
                }),
                keys(&["a", "b"])
            ))
        );
        assert!(get_payload(
            b"a=%FF",
            &MediaType::UrlEncoded,
            None,
            PayloadAction::Invoke
        )
        .is_err());
    }

    #[test]
    fn raw_bodies() {
        for mt in [
            MediaType::TextPlain,
            MediaType::TextXml,
            MediaType::OctetStream,
        ] {
            let r = get_payload(b"\x00\xffraw", &mt, None, PayloadAction::Invoke);
            assert_eq!(
                r,
                Ok((
                    Some(Payload::RawPay(b"\x00\xffraw".to_vec())),
                    BTreeSet::new()
                ))
            );
            let e = get_payload(b"raw", &mt, None, PayloadAction::Insert);
            assert_eq!(
                e,
                Err(format!("Content-Type not acceptable: {}", mt.to_mime()))
            );
        }
    }

    #[test]
    fn unacceptable_content_types() {
        assert_eq!(
            get_payload(
                b"x",
                &MediaType::Other("text/foo".into()),
                None,
                PayloadAction::Insert
            ),
            Err("Content-Type not acceptable: text/foo".to_string())
        );
        assert_eq!(
            get_payload(
                b"{}",
                &MediaType::VndSingularJson { strip_nulls: false },
                None,
                PayloadAction::Invoke
            ),
            Err("Content-Type not acceptable: application/vnd.pgrst.object+json".to_string())
        );
        assert_eq!(
            get_payload(b"{}", &MediaType::GeoJson, None, PayloadAction::Insert),
            Err("Content-Type not acceptable: application/geo+json".to_string())
        );
    }

    #[test]
    fn hostile_text_is_data() {
        let body = r#"{"name": "'); DROP TABLE users; --"}"#;
        assert_eq!(
            json(body, PayloadAction::Insert).unwrap().0,
            pj(body, &["name"])
        );
        assert_eq!(
            csv("\"a\"\"); DROP\"\n1").unwrap().0,
            pj(r#"[{"a\"); DROP":"1"}]"#, &["a\"); DROP"])
        );
    }
}
