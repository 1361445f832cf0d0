//! Media types: decoding `Content-Type`/`Accept` entries into the set PostgREST knows,
//! rendering them back for `Content-Type` responses, and ordering an `Accept` header.
//!
//! Decoding is lenient on purpose: a value that cannot be tokenised is kept verbatim as
//! [`MediaType::Other`] (a raw-output handler might still claim it), main and sub types
//! are case-insensitive, and parameters we do not use are ignored.

/// Output format of `application/vnd.pgrst.plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanFormat {
    Json,
    Text,
}

/// EXPLAIN options requested with `application/vnd.pgrst.plan; options=a|b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanOption {
    Analyze,
    Verbose,
    Settings,
    Buffers,
    Wal,
}

impl PlanOption {
    /// In the order they are rendered and handed to EXPLAIN.
    pub const ALL: [PlanOption; 5] = [
        PlanOption::Analyze,
        PlanOption::Verbose,
        PlanOption::Settings,
        PlanOption::Buffers,
        PlanOption::Wal,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            PlanOption::Analyze => "analyze",
            PlanOption::Verbose => "verbose",
            PlanOption::Settings => "settings",
            PlanOption::Buffers => "buffers",
            PlanOption::Wal => "wal",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaType {
    ApplicationJson,
    GeoJson,
    TextCsv,
    TextPlain,
    TextXml,
    OpenApi,
    /// `application/vnd.oai.openapi+json;version=3.1` (also without a version).
    OpenApi31,
    UrlEncoded,
    OctetStream,
    /// `*/*`
    Any,
    /// Anything else, kept as written (used for raw media type handlers).
    Other(String),
    /// `application/vnd.pgrst.array+json;nulls=stripped`
    VndArrayJsonStrip,
    /// `application/vnd.pgrst.object+json`, optionally with `nulls=stripped`.
    VndSingularJson {
        strip_nulls: bool,
    },
    /// `application/vnd.pgrst.plan[+json|+text]; for="..."; options=...`
    VndPlan {
        for_type: Box<MediaType>,
        format: PlanFormat,
        options: Vec<PlanOption>,
    },
}

impl MediaType {
    /// The media type as it appears in headers, without charset.
    pub fn to_mime(&self) -> String {
        match self {
            MediaType::ApplicationJson => "application/json".into(),
            MediaType::VndArrayJsonStrip => {
                "application/vnd.pgrst.array+json;nulls=stripped".into()
            }
            MediaType::GeoJson => "application/geo+json".into(),
            MediaType::TextCsv => "text/csv".into(),
            MediaType::TextPlain => "text/plain".into(),
            MediaType::TextXml => "text/xml".into(),
            MediaType::OpenApi => "application/openapi+json".into(),
            MediaType::OpenApi31 => "application/vnd.oai.openapi+json;version=3.1".into(),
            MediaType::VndSingularJson { strip_nulls: true } => {
                "application/vnd.pgrst.object+json;nulls=stripped".into()
            }
            MediaType::VndSingularJson { strip_nulls: false } => {
                "application/vnd.pgrst.object+json".into()
            }
            MediaType::UrlEncoded => "application/x-www-form-urlencoded".into(),
            MediaType::OctetStream => "application/octet-stream".into(),
            MediaType::Any => "*/*".into(),
            MediaType::Other(s) => s.clone(),
            MediaType::VndPlan {
                for_type,
                format,
                options,
            } => {
                let fmt = match format {
                    PlanFormat::Json => "json",
                    PlanFormat::Text => "text",
                };
                let mut s = format!(
                    "application/vnd.pgrst.plan+{fmt}; for=\"{}\"",
                    for_type.to_mime()
                );
                if !options.is_empty() {
                    let opts: Vec<&str> = options.iter().map(PlanOption::as_str).collect();
                    s.push_str("; options=");
                    s.push_str(&opts.join("|"));
                }
                s
            }
        }
    }

    /// The `Content-Type` response value: textual types get `; charset=utf-8`, binary and
    /// unknown ones are left alone.
    pub fn content_type(&self) -> String {
        match self {
            MediaType::OctetStream | MediaType::Other(_) => self.to_mime(),
            _ => format!("{}; charset=utf-8", self.to_mime()),
        }
    }
}

/// `(main type, subtype, parameters)` as written.
pub type MediaTypeParts = (String, String, Vec<(String, String)>);

/// A media type split into `(main, sub, params)`, or `None` when it does not even start
/// with `type/subtype`. Trailing garbage after the last well-formed parameter is ignored.
pub fn tokenize_media_type(s: &str) -> Option<MediaTypeParts> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let take_while = |i: &mut usize, ok: &dyn Fn(char) -> bool| -> String {
        let start = *i;
        while *i < chars.len() && ok(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect()
    };
    let main = take_while(&mut i, &|c| c.is_alphanumeric() || c == '.' || c == '*');
    if main.is_empty() || chars.get(i) != Some(&'/') {
        return None;
    }
    i += 1;
    let sub = take_while(&mut i, &|c| c.is_alphanumeric() || ".*+-".contains(c));
    if sub.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    // Each `; key=value` is all-or-nothing: a malformed one ends the parameter list.
    loop {
        let mut j = i;
        take_while(&mut j, &|c| is_space(c));
        if chars.get(j) != Some(&';') {
            break;
        }
        j += 1;
        take_while(&mut j, &|c| is_space(c));
        let key = take_while(&mut j, &|c| c.is_alphanumeric() || c == '-');
        if key.is_empty() {
            break;
        }
        take_while(&mut j, &|c| is_space(c));
        if chars.get(j) != Some(&'=') {
            break;
        }
        j += 1;
        take_while(&mut j, &|c| is_space(c));
        let value = if chars.get(j) == Some(&'"') {
            j += 1;
            let v = take_while(&mut j, &|c| c != '"');
            if chars.get(j) != Some(&'"') {
                break;
            }
            j += 1;
            v
        } else {
            let v = take_while(&mut j, &|c| c.is_alphanumeric() || c == '|' || c == '-');
            if v.is_empty() {
                break;
            }
            v
        };
        params.push((key, value));
        i = j;
    }
    Some((main, sub, params))
}

/// Parsec's `spaces`: any Unicode white space.
fn is_space(c: char) -> bool {
    crate::api_request::range::is_hs_space(c)
}

/// Decodes one media type (a `Content-Type` value or an `Accept` entry).
pub fn decode_media_type(s: &str) -> MediaType {
    let (main, sub, raw_params) =
        tokenize_media_type(s).unwrap_or_else(|| (s.to_string(), String::new(), Vec::new()));
    // Parameter names are case-insensitive; a repeated one keeps its last value.
    let param = |name: &str| {
        raw_params
            .iter()
            .rev()
            .find(|(k, _)| k.to_lowercase() == name)
            .map(|(_, v)| v.as_str())
    };
    let strip_nulls = param("nulls") == Some("stripped");
    let plan = |format: PlanFormat| {
        let for_type = decode_media_type(param("for").unwrap_or("application/json"));
        let requested: Vec<&str> = param("options").unwrap_or("").split('|').collect();
        let options = PlanOption::ALL
            .iter()
            .copied()
            .filter(|o| requested.contains(&o.as_str()))
            .collect();
        MediaType::VndPlan {
            for_type: Box::new(for_type),
            format,
            options,
        }
    };
    match (main.to_lowercase().as_str(), sub.to_lowercase().as_str()) {
        ("application", "json") => MediaType::ApplicationJson,
        ("application", "geo+json") => MediaType::GeoJson,
        ("text", "csv") => MediaType::TextCsv,
        ("text", "plain") => MediaType::TextPlain,
        ("text", "xml") => MediaType::TextXml,
        ("application", "openapi+json") => MediaType::OpenApi,
        // PostgREST's parameter values stop at `.`: `version=3.1` reads as `3`.
        ("application", "vnd.oai.openapi+json") if matches!(param("version"), None | Some("3")) => {
            MediaType::OpenApi31
        }
        ("application", "x-www-form-urlencoded") => MediaType::UrlEncoded,
        ("application", "octet-stream") => MediaType::OctetStream,
        ("application", "vnd.pgrst.plan") | ("application", "vnd.pgrst.plan+text") => {
            plan(PlanFormat::Text)
        }
        ("application", "vnd.pgrst.plan+json") => plan(PlanFormat::Json),
        ("application", "vnd.pgrst.object+json") | ("application", "vnd.pgrst.object") => {
            MediaType::VndSingularJson { strip_nulls }
        }
        ("application", "vnd.pgrst.array+json") | ("application", "vnd.pgrst.array") => {
            if strip_nulls {
                MediaType::VndArrayJsonStrip
            } else {
                MediaType::ApplicationJson
            }
        }
        ("*", "*") => MediaType::Any,
        _ => MediaType::Other(s.to_string()),
    }
}

/// The media types of an `Accept` header, most preferred first (wai's `parseHttpAccept`):
/// ordered by q-value, then by specificity (parameters count up, wildcards count down),
/// otherwise as written. Entries with `q=0` are refused by the client and dropped.
/// An absent header accepts anything.
pub fn parse_accept(header: Option<&str>) -> Vec<MediaType> {
    let Some(header) = header else {
        return vec![MediaType::Any];
    };
    if header.is_empty() {
        return Vec::new();
    }
    let mut entries: Vec<(String, f64, i64)> = header
        .split(',')
        .map(|entry| {
            // Like wai, all spaces go before looking for the quality.
            let compact: String = entry.chars().filter(|&c| c != ' ').collect();
            let (media, q) = match compact.find(";q=") {
                Some(at) => {
                    let after = &compact[at + 3..];
                    let q_text = after.split(';').next().unwrap_or("");
                    (compact[..at].to_string(), read_quality(q_text))
                }
                None => (compact.clone(), 1.0),
            };
            let semicolons = media.matches(';').count() as i64;
            let stars = media.matches('*').count() as i64;
            (media, q, semicolons - stars)
        })
        .filter(|(_, q, _)| *q > 0.0 || q.is_nan())
        .collect();
    // Stable: ties keep the order the client wrote them in.
    entries.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.2.cmp(&a.2)));
    entries
        .iter()
        .map(|(m, _, _)| decode_media_type(m))
        .collect()
}

/// The leading number of a q-value the way Haskell's `reads :: ReadS Double` finds it
/// (`0.5`, `1`, `1e-1`, `-1`); 1.0 when there is none.
fn read_quality(s: &str) -> f64 {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return if s == "Infinity" { f64::INFINITY } else { 1.0 };
    }
    let mut end = i;
    if b.get(i) == Some(&b'.') {
        let mut j = i + 1;
        if digits(&mut j) {
            end = j;
        }
    }
    let mut k = end;
    if matches!(b.get(k), Some(b'e') | Some(b'E')) {
        k += 1;
        if matches!(b.get(k), Some(b'+') | Some(b'-')) {
            k += 1;
        }
        if digits(&mut k) {
            end = k;
        }
    }
    s[..end].parse::<f64>().unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(for_type: MediaType, format: PlanFormat, options: Vec<PlanOption>) -> MediaType {
        MediaType::VndPlan {
            for_type: Box::new(for_type),
            format,
            options,
        }
    }

    #[test]
    fn decode_known_types() {
        assert_eq!(
            decode_media_type("application/json"),
            MediaType::ApplicationJson
        );
        assert_eq!(
            decode_media_type("application/json; charset=utf-8"),
            MediaType::ApplicationJson
        );
        assert_eq!(
            decode_media_type("application/geo+json"),
            MediaType::GeoJson
        );
        assert_eq!(decode_media_type("text/csv"), MediaType::TextCsv);
        assert_eq!(decode_media_type("text/plain"), MediaType::TextPlain);
        assert_eq!(decode_media_type("text/xml"), MediaType::TextXml);
        assert_eq!(
            decode_media_type("application/openapi+json"),
            MediaType::OpenApi
        );
        for v in [
            "application/vnd.oai.openapi+json;version=3.1",
            "application/vnd.oai.openapi+json",
        ] {
            assert_eq!(decode_media_type(v), MediaType::OpenApi31);
        }
        assert!(matches!(
            decode_media_type("application/vnd.oai.openapi+json;version=2.0"),
            MediaType::Other(_)
        ));
        assert_eq!(
            decode_media_type("application/x-www-form-urlencoded"),
            MediaType::UrlEncoded
        );
        assert_eq!(
            decode_media_type("application/octet-stream"),
            MediaType::OctetStream
        );
        assert_eq!(decode_media_type("*/*"), MediaType::Any);
    }

    #[test]
    fn decode_vendor_types() {
        assert_eq!(
            decode_media_type("application/vnd.pgrst.plan;"),
            plan(MediaType::ApplicationJson, PlanFormat::Text, vec![])
        );
        assert_eq!(
            decode_media_type("application/vnd.pgrst.plan;for=\"application/json\""),
            plan(MediaType::ApplicationJson, PlanFormat::Text, vec![])
        );
        assert_eq!(
            decode_media_type("application/vnd.pgrst.plan ; for=\"text/xml\" ; options=analyze"),
            plan(
                MediaType::TextXml,
                PlanFormat::Text,
                vec![PlanOption::Analyze]
            )
        );
        assert_eq!(
            decode_media_type("application/vnd.pgrst.plan+json;for=\"text/csv\""),
            plan(MediaType::TextCsv, PlanFormat::Json, vec![])
        );
        assert_eq!(
            decode_media_type("application/vnd.pgrst.plan+text; options=wal|buffers|settings|verbose|analyze|bogus"),
            plan(MediaType::ApplicationJson, PlanFormat::Text, PlanOption::ALL.to_vec())
        );
        assert_eq!(
            decode_media_type("application/vnd.pgrst.array+json;nulls=stripped"),
            MediaType::VndArrayJsonStrip
        );
        assert_eq!(
            decode_media_type("application/vnd.pgrst.array+json"),
            MediaType::ApplicationJson
        );
        assert_eq!(
            decode_media_type("application/vnd.pgrst.array"),
            MediaType::ApplicationJson
        );
        assert_eq!(
            decode_media_type("application/vnd.pgrst.object+json;nulls=stripped"),
            MediaType::VndSingularJson { strip_nulls: true }
        );
        assert_eq!(
            decode_media_type("application/vnd.pgrst.object+json"),
            MediaType::VndSingularJson { strip_nulls: false }
        );
        assert_eq!(
            decode_media_type("application/vnd.pgrst.object; NULLS=stripped"),
            MediaType::VndSingularJson { strip_nulls: true }
        );
        // Parameter values are case-sensitive.
        assert_eq!(
            decode_media_type("application/vnd.pgrst.object;nulls=Stripped"),
            MediaType::VndSingularJson { strip_nulls: false }
        );
        assert_eq!(
            decode_media_type("ApplicatIon/vnd.PgRsT.object+json"),
            MediaType::VndSingularJson { strip_nulls: false }
        );
    }

    #[test]
    fn decode_others() {
        assert_eq!(
            decode_media_type("application/vnd.twkb"),
            MediaType::Other("application/vnd.twkb".into())
        );
        assert_eq!(
            decode_media_type("image/png"),
            MediaType::Other("image/png".into())
        );
        assert_eq!(decode_media_type(""), MediaType::Other(String::new()));
        assert_eq!(decode_media_type("json"), MediaType::Other("json".into()));
        assert_eq!(
            decode_media_type("application/"),
            MediaType::Other("application/".into())
        );
        assert_eq!(
            decode_media_type("application/jsonx"),
            MediaType::Other("application/jsonx".into())
        );
        // Garbage after the subtype is ignored, like PostgREST's tokenizer does.
        assert_eq!(
            decode_media_type("application/json garbage"),
            MediaType::ApplicationJson
        );
        // An unquoted `for` stops at the `/`, leaving an undecodable `text`.
        assert_eq!(
            decode_media_type("application/vnd.pgrst.plan; for=text/csv"),
            plan(MediaType::Other("text".into()), PlanFormat::Text, vec![])
        );
        assert_eq!(
            decode_media_type("application/ünïcode"),
            MediaType::Other("application/ünïcode".into())
        );
    }

    #[test]
    fn tokenizer() {
        assert_eq!(
            tokenize_media_type("application/vnd.pgrst.plan+json;for=\"text/csv\""),
            Some((
                "application".into(),
                "vnd.pgrst.plan+json".into(),
                vec![("for".into(), "text/csv".into())]
            ))
        );
        assert_eq!(
            tokenize_media_type("*/*"),
            Some(("*".into(), "*".into(), vec![]))
        );
        assert_eq!(
            tokenize_media_type("application/vnd.pgrst.plan;wat=\"application/json;text/csv\""),
            Some((
                "application".into(),
                "vnd.pgrst.plan".into(),
                vec![("wat".into(), "application/json;text/csv".into())]
            ))
        );
        assert_eq!(
            tokenize_media_type(
                "application/vnd.pgrst.plan+text; for=\"text/xml\"; options=analyze|verbose|settings|buffers|wal"
            ),
            Some((
                "application".into(),
                "vnd.pgrst.plan+text".into(),
                vec![
                    ("for".into(), "text/xml".into()),
                    ("options".into(), "analyze|verbose|settings|buffers|wal".into())
                ]
            ))
        );
        // An unterminated quote ends the parameter list without failing the whole type.
        assert_eq!(
            tokenize_media_type("a/b; x=1; y=\"open"),
            Some(("a".into(), "b".into(), vec![("x".into(), "1".into())]))
        );
        assert_eq!(tokenize_media_type("/json"), None);
        assert_eq!(tokenize_media_type("a b/c"), None);
    }

    #[test]
    fn mime_rendering() {
        assert_eq!(MediaType::ApplicationJson.to_mime(), "application/json");
        assert_eq!(
            MediaType::VndArrayJsonStrip.to_mime(),
            "application/vnd.pgrst.array+json;nulls=stripped"
        );
        assert_eq!(
            MediaType::VndSingularJson { strip_nulls: true }.to_mime(),
            "application/vnd.pgrst.object+json;nulls=stripped"
        );
        assert_eq!(
            plan(MediaType::TextCsv, PlanFormat::Json, vec![]).to_mime(),
            "application/vnd.pgrst.plan+json; for=\"text/csv\""
        );
        assert_eq!(
            plan(
                MediaType::ApplicationJson,
                PlanFormat::Text,
                vec![PlanOption::Analyze, PlanOption::Wal]
            )
            .to_mime(),
            "application/vnd.pgrst.plan+text; for=\"application/json\"; options=analyze|wal"
        );
        assert_eq!(MediaType::Any.to_mime(), "*/*");
        assert_eq!(MediaType::Other("image/png".into()).to_mime(), "image/png");
    }

    #[test]
    fn content_type_charset() {
        assert_eq!(
            MediaType::ApplicationJson.content_type(),
            "application/json; charset=utf-8"
        );
        assert_eq!(MediaType::TextCsv.content_type(), "text/csv; charset=utf-8");
        assert_eq!(
            MediaType::OctetStream.content_type(),
            "application/octet-stream"
        );
        assert_eq!(
            MediaType::Other("image/png".into()).content_type(),
            "image/png"
        );
        assert_eq!(
            plan(MediaType::ApplicationJson, PlanFormat::Json, vec![]).content_type(),
            "application/vnd.pgrst.plan+json; for=\"application/json\"; charset=utf-8"
        );
    }

    #[test]
    fn roundtrip_through_mime() {
        let all = [
            MediaType::ApplicationJson,
            MediaType::GeoJson,
            MediaType::TextCsv,
            MediaType::TextPlain,
            MediaType::TextXml,
            MediaType::OpenApi,
            MediaType::UrlEncoded,
            MediaType::OctetStream,
            MediaType::Any,
            MediaType::VndArrayJsonStrip,
            MediaType::VndSingularJson { strip_nulls: true },
            MediaType::VndSingularJson { strip_nulls: false },
            plan(
                MediaType::TextCsv,
                PlanFormat::Json,
                vec![PlanOption::Verbose, PlanOption::Buffers],
            ),
        ];
        for mt in all {
            assert_eq!(decode_media_type(&mt.to_mime()), mt);
        }
    }

    #[test]
    fn accept_absent_and_simple() {
        assert_eq!(parse_accept(None), vec![MediaType::Any]);
        assert_eq!(parse_accept(Some("")), Vec::<MediaType>::new());
        assert_eq!(parse_accept(Some("text/csv")), vec![MediaType::TextCsv]);
        assert_eq!(
            parse_accept(Some("text/csv, application/json")),
            vec![MediaType::TextCsv, MediaType::ApplicationJson]
        );
    }

    #[test]
    fn accept_quality_order() {
        assert_eq!(
            parse_accept(Some("text/csv;q=0.5, application/json")),
            vec![MediaType::ApplicationJson, MediaType::TextCsv]
        );
        assert_eq!(
            parse_accept(Some("text/csv, */*; q=0.01")),
            vec![MediaType::TextCsv, MediaType::Any]
        );
        assert_eq!(
            parse_accept(Some(
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
            )),
            vec![
                MediaType::Other("text/html".into()),
                MediaType::Other("application/xhtml+xml".into()),
                MediaType::Other("application/xml".into()),
                MediaType::Any
            ]
        );
    }

    #[test]
    fn accept_specificity() {
        // Same quality: parameters make an entry more specific, wildcards less.
        assert_eq!(
            parse_accept(Some(
                "*/*, application/json, application/vnd.pgrst.object+json;nulls=stripped"
            )),
            vec![
                MediaType::VndSingularJson { strip_nulls: true },
                MediaType::ApplicationJson,
                MediaType::Any
            ]
        );
        assert_eq!(
            parse_accept(Some("text/*, text/plain")),
            vec![MediaType::TextPlain, MediaType::Other("text/*".into())]
        );
    }

    #[test]
    fn accept_q_zero_dropped() {
        assert_eq!(
            parse_accept(Some("application/json;q=0, text/csv")),
            vec![MediaType::TextCsv]
        );
        assert_eq!(
            parse_accept(Some("application/json;q=0.0")),
            Vec::<MediaType>::new()
        );
        assert_eq!(
            parse_accept(Some("application/json;q=-1")),
            Vec::<MediaType>::new()
        );
    }

    #[test]
    fn accept_malformed() {
        // Unreadable qualities count as 1; trailing parameters after q are dropped.
        assert_eq!(
            parse_accept(Some("text/csv;q=abc, application/json;q=0.9")),
            vec![MediaType::TextCsv, MediaType::ApplicationJson]
        );
        assert_eq!(
            parse_accept(Some("text/csv;q=0.5;charset=utf-8")),
            vec![MediaType::TextCsv]
        );
        assert_eq!(
            parse_accept(Some("a,,b")),
            vec![
                MediaType::Other("a".into()),
                MediaType::Other(String::new()),
                MediaType::Other("b".into())
            ]
        );
        assert_eq!(
            parse_accept(Some("application/vnd.pgrst.plan; for=\"text/csv\"")),
            vec![plan(MediaType::TextCsv, PlanFormat::Text, vec![])]
        );
        assert_eq!(
            parse_accept(Some(";q=;q=")),
            vec![MediaType::Other(String::new())]
        );
        assert_eq!(
            parse_accept(Some("é/ü;q=0.5")),
            vec![MediaType::Other("é/ü".into())]
        );
    }

    #[test]
    fn quality_reading() {
        assert_eq!(read_quality("0.5"), 0.5);
        assert_eq!(read_quality("1"), 1.0);
        assert_eq!(read_quality("0"), 0.0);
        assert_eq!(read_quality("0.5abc"), 0.5);
        assert_eq!(read_quality("1."), 1.0);
        assert_eq!(read_quality("5e-1"), 0.5);
        assert_eq!(read_quality("1e"), 1.0);
        assert_eq!(read_quality(".5"), 1.0);
        assert_eq!(read_quality(""), 1.0);
        assert_eq!(read_quality("-0.5"), -0.5);
        assert_eq!(read_quality("Infinity"), f64::INFINITY);
        assert_eq!(read_quality("99999999999999999999999999999"), 1e29);
    }
}
