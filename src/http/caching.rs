//! Beyond PostgREST (its issue #1176): strong `ETag`s on GET responses with
//! `If-None-Match` → 304, and gzip for clients that accept it. Pure Rust, HTTP thread.

use std::hash::Hasher;
use std::io::Write;

use crate::response::HttpResponse;

/// Bodies shorter than this are sent as they are: gzip would save next to nothing.
const GZIP_MIN_BYTES: usize = 1024;

/// What the request said about caching and encodings.
pub(crate) struct Conditions {
    pub get: bool,
    /// HEAD answers GET's headers without the body.
    pub head: bool,
    pub if_none_match: Option<String>,
    pub accept_encoding: Option<String>,
}

/// Adds the `ETag` of a successful GET and answers 304 when the client has it; compresses
/// the body when the client accepts gzip and `compress` allows it.
pub(crate) fn apply(mut r: HttpResponse, c: &Conditions, compress: bool) -> HttpResponse {
    let gzip = compress
        && r.body.len() >= GZIP_MIN_BYTES
        && c.accept_encoding.as_deref().is_some_and(accepts_gzip);
    // Every answer that has (or, for HEAD, would have) a body may come in either encoding.
    if compress && matches!(r.status, 200 | 201 | 206) && (c.head || !r.body.is_empty()) {
        add_vary(&mut r, "Accept-Encoding");
    }
    if c.get && matches!(r.status, 200 | 206) {
        let tag = etag(&r, gzip);
        if c.if_none_match
            .as_deref()
            .is_some_and(|inm| matches(inm, &tag))
        {
            // RFC 9110 §15.4.5: no body; the validators and Vary stay.
            r.status = 304;
            r.body.clear();
            r.headers.retain(|(k, _)| {
                ["content-location", "vary", "cache-control", "expires"]
                    .iter()
                    .any(|h| k.eq_ignore_ascii_case(h))
            });
            r.headers.push(("ETag".into(), tag));
            return r;
        }
        r.headers.push(("ETag".into(), tag));
    }
    if gzip {
        r.body = compress_gzip(&r.body);
        r.headers.push(("Content-Encoding".into(), "gzip".into()));
    }
    r
}

/// A strong validator of the representation: its body, type and range, and its encoding.
fn etag(r: &HttpResponse, gzip: bool) -> String {
    // Two SipHashes with fixed keys (seeded apart): the same answer has the same tag in
    // every worker, 128 bits of it.
    let hash = |seed: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        h.write_u8(seed);
        for name in ["content-type", "content-range"] {
            h.write(r.header(name).unwrap_or("").as_bytes());
            h.write_u8(0);
        }
        h.write(&r.body);
        h.finish()
    };
    format!(
        "\"{:016x}{:016x}{}\"",
        hash(1),
        hash(2),
        if gzip { "-gzip" } else { "" }
    )
}

/// `If-None-Match: "a", W/"b"` or `*` (weak comparison, RFC 9110 §13.1.2).
fn matches(if_none_match: &str, tag: &str) -> bool {
    if if_none_match.trim() == "*" {
        return true;
    }
    if_none_match
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag)
}

/// Whether `Accept-Encoding` allows gzip (`gzip`, `x-gzip` or `*`, with a q-value above 0).
fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut star = None;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => return q > 0.0,
            "*" => star = Some(q > 0.0),
            _ => {}
        }
    }
    star.unwrap_or(false)
}

fn compress_gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

fn add_vary(r: &mut HttpResponse, name: &str) {
    match r
        .headers
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case("vary"))
    {
        Some((_, v)) => {
            if !v.split(',').any(|x| x.trim().eq_ignore_ascii_case(name)) {
                v.push_str(", ");
                v.push_str(name);
            }
        }
        None => r.headers.push(("Vary".into(), name.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> HttpResponse {
        HttpResponse {
            status: 200,
            reason: None,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Vary".into(), "Accept, Prefer, Range".into()),
            ],
            body: body.as_bytes().to_vec(),
        }
    }

    fn get(inm: Option<&str>, ae: Option<&str>) -> Conditions {
        Conditions {
            get: true,
            head: false,
            if_none_match: inm.map(str::to_string),
            accept_encoding: ae.map(str::to_string),
        }
    }

    #[test]
    fn etags_and_304() {
        let r = apply(ok("[1]"), &get(None, None), true);
        let tag = r.header("ETag").unwrap().to_string();
        assert!(
            tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34,
            "{tag}"
        );
        // Same body, same tag; another body, another tag.
        assert_eq!(
            apply(ok("[1]"), &get(None, None), true).header("ETag"),
            Some(tag.as_str())
        );
        assert_ne!(
            apply(ok("[2]"), &get(None, None), true).header("ETag"),
            Some(tag.as_str())
        );
        for inm in [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"x\", {tag}"),
            "*".into(),
        ] {
            let r = apply(ok("[1]"), &get(Some(&inm), None), true);
            assert_eq!(r.status, 304, "{inm}");
            assert!(r.body.is_empty());
            assert_eq!(r.header("ETag"), Some(tag.as_str()));
            assert_eq!(
                r.header("Vary"),
                Some("Accept, Prefer, Range, Accept-Encoding")
            );
            assert_eq!(r.header("Content-Type"), None);
        }
        assert_eq!(
            apply(ok("[1]"), &get(Some("\"other\""), None), true).status,
            200
        );
        // Not for errors or other methods.
        let mut e = ok("{}");
        e.status = 404;
        assert_eq!(apply(e, &get(None, None), true).header("ETag"), None);
        let post = Conditions {
            get: false,
            ..get(Some("*"), None)
        };
        assert_eq!(apply(ok("[1]"), &post, true).status, 200);
        // Without a body (OPTIONS, 204), nothing varies by encoding; HEAD does.
        let empty = |status| HttpResponse {
            status,
            body: Vec::new(),
            ..ok("")
        };
        assert_eq!(
            apply(empty(200), &get(None, None), true).header("Vary"),
            Some("Accept, Prefer, Range")
        );
        let head = Conditions {
            get: false,
            head: true,
            ..get(None, None)
        };
        assert_eq!(
            apply(empty(200), &head, true).header("Vary"),
            Some("Accept, Prefer, Range, Accept-Encoding")
        );
        assert_eq!(
            apply(ok("[1]"), &get(None, None), false).header("Vary"),
            Some("Accept, Prefer, Range")
        );
    }

    #[test]
    fn gzip_when_accepted_and_worth_it() {
        let big = format!("[{}]", vec!["{\"a\":1}"; 500].join(","));
        let r = apply(ok(&big), &get(None, Some("gzip, deflate, br")), true);
        assert_eq!(r.header("Content-Encoding"), Some("gzip"));
        assert!(r.body.len() < big.len() / 10);
        assert_eq!(
            r.header("Vary"),
            Some("Accept, Prefer, Range, Accept-Encoding")
        );
        assert!(r.header("ETag").unwrap().ends_with("-gzip\""));
        let mut out = String::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(&r.body[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, big);
        // Not accepted, refused, too small, or turned off.
        for ae in [None, Some("identity"), Some("gzip;q=0"), Some("br")] {
            let r = apply(ok(&big), &get(None, ae), true);
            assert_eq!(r.header("Content-Encoding"), None, "{ae:?}");
        }
        assert_eq!(
            apply(ok(&big), &get(None, Some("*")), true).header("Content-Encoding"),
            Some("gzip")
        );
        assert_eq!(
            apply(ok("[1]"), &get(None, Some("gzip")), true).header("Content-Encoding"),
            None
        );
        assert_eq!(
            apply(ok(&big), &get(None, Some("gzip")), false).header("Content-Encoding"),
            None
        );
    }
}
