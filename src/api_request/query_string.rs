//! Query-string splitting, decoding and the canonical form, as Wai/http-types do them.
//! Used for the query string of every request and for `application/x-www-form-urlencoded`
//! bodies.

/// Splits a query string on `&` and `;` into decoded `(name, value)` byte pairs; the value
/// is `None` when there is no `=` (http-types' `parseQueryReplacePlus True`).
pub(crate) fn parse_query(raw: &[u8]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let (segment, tail) = match rest.iter().position(|b| *b == b'&' || *b == b';') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let pair = match segment.iter().position(|b| *b == b'=') {
            Some(at) => (
                url_decode(&segment[..at]),
                Some(url_decode(&segment[at + 1..])),
            ),
            None => (url_decode(segment), None),
        };
        out.push(pair);
        rest = tail;
    }
    out
}

/// Percent-decoding with `+` as space; malformed escapes are kept literally.
pub(crate) fn url_decode(raw: &[u8]) -> Vec<u8> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&plus_as_space).collect()
}

/// Sorted by name (stably), values of a repeated name joined with `,`, everything
/// re-encoded with only `A-Za-z0-9-_.~` left bare (`Network.HTTP.Base.urlEncodeVars`).
pub(crate) fn canonical(pairs: &[(Vec<u8>, Option<Vec<u8>>)]) -> String {
    let mut sorted: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_deref().unwrap_or(&[])))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let name = sorted[i].0;
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&url_encode(name));
        out.push('=');
        let mut first = true;
        while i < sorted.len() && sorted[i].0 == name {
            if !first {
                out.push(',');
            }
            out.push_str(&url_encode(sorted[i].1));
            first = false;
            i += 1;
        }
    }
    out
}

pub(crate) const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) fn url_encode(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, UNRESERVED).to_string()
}
