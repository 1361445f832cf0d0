//! Row ranges: the arithmetic behind `limit`/`offset`, the `Range` request header and the
//! `Content-Range` response header.
//!
//! PostgREST models a requested window of rows as a range over the non-negative integers
//! whose bounds are open-ended boundaries (`Data.Ranged`). We only ever need "from `lower`
//! up to an optional inclusive `upper`", plus two oddities that leak into observable
//! behaviour and are therefore kept: a range may be empty without being *the* empty range
//! (e.g. `limit=-1` gives `0..=-2`), and `limit=0` is encoded as the special empty range
//! `0..=-1` so that it can be told apart from an invalid request.
//!
//! All arithmetic saturates at the `i64` limits: PostgREST uses unbounded integers, and a
//! client sending `limit=99999999999999999999` must neither crash us nor wrap around.

use std::collections::HashMap;

/// A window of rows: `lower..=upper`, or `lower..` when `upper` is `None`.
///
/// `lower == i64::MIN` stands for "unbounded below" (only produced by [`Range::leq`]);
/// [`Range::EMPTY`] is the normalised empty range that intersections collapse to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub lower: i64,
    pub upper: Option<i64>,
}

impl Range {
    /// Every row: `0..`.
    pub const ALL: Range = Range {
        lower: 0,
        upper: None,
    };

    /// The marker for `limit=0`: `0..=-1`. Empty, but distinguishable from other empty
    /// ranges by its upper bound, which is what [`Range::has_limit_zero`] looks at.
    pub const LIMIT_ZERO: Range = Range {
        lower: 0,
        upper: Some(-1),
    };

    /// What intersecting with an empty range yields. Its upper bound is not `-1`, so it is
    /// never mistaken for [`Range::LIMIT_ZERO`].
    pub const EMPTY: Range = Range {
        lower: i64::MAX,
        upper: Some(i64::MIN),
    };

    /// `n..`
    pub fn geq(n: i64) -> Range {
        Range {
            lower: n,
            upper: None,
        }
    }

    /// `..=n` (unbounded below).
    pub fn leq(n: i64) -> Range {
        Range {
            lower: i64::MIN,
            upper: Some(n),
        }
    }

    /// Number of rows the range spans, when it has both bounds. May be zero or negative for
    /// empty ranges, which is how a negative `limit` is detected later on.
    pub fn limit(&self) -> Option<i64> {
        if *self == Range::EMPTY || self.lower == i64::MIN {
            return None;
        }
        self.upper
            .map(|u| clamp(i128::from(u) - i128::from(self.lower) + 1))
    }

    /// First row of the range.
    pub fn offset(&self) -> i64 {
        self.lower
    }

    pub fn is_empty(&self) -> bool {
        match self.upper {
            Some(u) => u < self.lower,
            None => false,
        }
    }

    /// Rows in both ranges. As in `Data.Ranged`, an empty operand yields [`Range::EMPTY`],
    /// while two non-empty operands may give an empty but un-normalised range.
    pub fn intersect(&self, o: &Range) -> Range {
        if self.is_empty() || o.is_empty() {
            return Range::EMPTY;
        }
        let upper = match (self.upper, o.upper) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, None) => a,
            (None, b) => b,
        };
        Range {
            lower: self.lower.max(o.lower),
            upper,
        }
    }

    /// Caps the range at `limit` rows from its offset (`restrictRange`).
    pub fn restrict(&self, limit: Option<i64>) -> Range {
        match limit {
            None => *self,
            Some(l) => {
                let last = clamp(i128::from(self.offset()) + i128::from(l) - 1);
                self.intersect(&Range::leq(last))
            }
        }
    }

    /// Whether this is (or ends like) the `limit=0` marker range.
    pub fn has_limit_zero(&self) -> bool {
        self.upper == Range::LIMIT_ZERO.upper
    }

    /// `convertToLimitZeroRange`: [`Range::LIMIT_ZERO`] when `self` carries the limit-zero
    /// marker, `fallback` otherwise.
    pub fn convert_to_limit_zero(&self, fallback: Range) -> Range {
        if self.has_limit_zero() {
            Range::LIMIT_ZERO
        } else {
            fallback
        }
    }
}

impl Default for Range {
    fn default() -> Self {
        Range::ALL
    }
}

/// Exact arithmetic is done in `i128`; results are clamped back into `i64`.
pub(crate) fn clamp(n: i128) -> i64 {
    n.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Parses a `Range: 0-24` header value. Anything not of the form `digits-digits?` means
/// "all rows", like PostgREST's regex-based `rangeParse`. `5-3` gives an empty range, which
/// [`top_level_range`] reports as an error.
pub fn parse_range_header(value: &str) -> Range {
    let Some((l, u)) = value.split_once('-') else {
        return Range::ALL;
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if l.is_empty() || !all_digits(l) || !all_digits(u) {
        return Range::ALL;
    }
    let lower = Range::geq(saturating_decimal(l));
    let upper = if u.is_empty() {
        Range::ALL
    } else {
        Range::leq(saturating_decimal(u))
    };
    lower.intersect(&upper)
}

/// Decimal digits to `i64`, clamping at `i64::MAX`.
fn saturating_decimal(digits: &str) -> i64 {
    let mut n: i64 = 0;
    for b in digits.bytes() {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    n
}

/// Reads an integer the way Haskell's `readMaybe :: String -> Maybe Integer` does, which is
/// what PostgREST applies to `limit`, `offset` and `max-affected`: surrounding whitespace,
/// redundant parentheses, a `-` sign (optionally followed by spaces) and `0x`/`0o` literals
/// are accepted; fractions, exponents and a `+` sign are not. Values beyond `i64` saturate.
pub fn read_integer(s: &str) -> Option<i64> {
    let t = s.trim_matches(is_hs_space);
    if let Some(inner) = t.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        return read_integer(inner);
    }
    if let Some(rest) = t.strip_prefix('-') {
        // The sign must be a lexeme of its own: `--5` or `-+5` lex as one operator symbol.
        if rest.starts_with(is_hs_symbol) {
            return None;
        }
        return read_natural(rest.trim_start_matches(is_hs_space)).map(|n| n.saturating_neg());
    }
    read_natural(t)
}

/// An unsigned integer literal: decimal, `0x`/`0X` hex or `0o`/`0O` octal.
fn read_natural(t: &str) -> Option<i64> {
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if let Some(o) = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")) {
        (8, o)
    } else {
        (10, t)
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix)?;
        n = n
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
    }
    Some(n)
}

/// Haskell's `Data.Char.isSpace`.
pub(crate) fn is_hs_space(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// Characters the Haskell lexer glues into one operator symbol.
fn is_hs_symbol(c: char) -> bool {
    "!@#$%&*+./<=>?\\^|:-~".contains(c)
}

/// Why a requested range cannot be served (PGRST103, HTTP 416).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    NegativeLimit,
    LowerGtUpper,
    /// Values are already formatted: the offset and the total row count.
    OutOfBounds {
        lower: String,
        total: String,
    },
}

impl RangeError {
    pub fn details(&self) -> String {
        match self {
            RangeError::NegativeLimit => "Limit should be greater than or equal to zero.".to_string(),
            RangeError::LowerGtUpper => {
                "The lower boundary must be lower than or equal to the upper boundary in the Range header."
                    .to_string()
            }
            RangeError::OutOfBounds { lower, total } => {
                format!("An offset of {lower} was requested, but there are only {total} rows.")
            }
        }
    }
}

/// Errors of [`top_level_range`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopLevelRangeError {
    /// PGRST103, HTTP 416.
    InvalidRange(RangeError),
    /// PGRST114, HTTP 400.
    PutLimitNotAllowed,
}

/// Combines the `Range` header with the top-level `limit`/`offset` (PostgREST's `getRanges`).
///
/// Returns the top-level range and `qp_ranges` with its `"limit"` entry replaced by that
/// top-level range. The header only counts for GET (RFC 9110 says other methods ignore it).
/// `limit=0` wins over everything and becomes [`Range::LIMIT_ZERO`]; any other empty result
/// is an error.
pub fn top_level_range(
    method: &str,
    qp_ranges: &HashMap<String, Range>,
    range_header: Option<&str>,
) -> Result<(Range, HashMap<String, Range>), TopLevelRangeError> {
    let header_range = match (method, range_header) {
        ("GET", Some(h)) => parse_range_header(h),
        _ => Range::ALL,
    };
    let limit_range = qp_ranges.get("limit").copied().unwrap_or(Range::ALL);
    let combined = header_range.intersect(&limit_range);
    let top = limit_range.convert_to_limit_zero(combined);

    if top.is_empty() && !limit_range.has_limit_zero() {
        let err = if header_range.is_empty() {
            RangeError::LowerGtUpper
        } else {
            RangeError::NegativeLimit
        };
        return Err(TopLevelRangeError::InvalidRange(err));
    }
    if method == "PUT" && top != Range::ALL {
        return Err(TopLevelRangeError::PutLimitNotAllowed);
    }
    let mut ranges = qp_ranges.clone();
    ranges.insert("limit".to_string(), top);
    Ok((top, ranges))
}

/// The `Content-Range` value: `0-24/100`, `*/100` when nothing was returned (or the total
/// is zero), `0-24/*` when the total is unknown.
pub fn content_range(lower: i64, upper: i64, total: Option<i64>) -> String {
    let range = if total != Some(0) && lower <= upper {
        format!("{lower}-{upper}")
    } else {
        "*".to_string()
    };
    let total = total.map_or_else(|| "*".to_string(), |t| t.to_string());
    format!("{range}/{total}")
}

/// Response status and `Content-Range` value for a read (`rangeStatusHeader`): 206 when a
/// known total exceeds what was returned, 416 when the offset lies past the total.
pub fn range_status(top: &Range, query_total: i64, table_total: Option<i64>) -> (u16, String) {
    let lower = top.offset();
    let upper = clamp(i128::from(lower) + i128::from(query_total) - 1);
    let status = match table_total {
        None => 200,
        Some(total) if lower > total => 416,
        Some(total) if i128::from(upper) - i128::from(lower) + 1 < i128::from(total) => 206,
        Some(_) => 200,
    };
    (status, content_range(lower, upper, table_total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(lower: i64, upper: Option<i64>) -> Range {
        Range { lower, upper }
    }

    fn ranges(pairs: &[(&str, Range)]) -> HashMap<String, Range> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn constants() {
        assert_eq!(Range::ALL, r(0, None));
        assert!(!Range::ALL.is_empty());
        assert_eq!(Range::ALL.limit(), None);
        assert_eq!(Range::ALL.offset(), 0);
        assert!(Range::LIMIT_ZERO.is_empty());
        assert!(Range::LIMIT_ZERO.has_limit_zero());
        assert_eq!(Range::LIMIT_ZERO.limit(), Some(0));
        assert!(Range::EMPTY.is_empty());
        assert!(!Range::EMPTY.has_limit_zero());
        assert_eq!(Range::EMPTY.limit(), None);
        assert_eq!(Range::default(), Range::ALL);
    }

    #[test]
    fn geq_leq_limit() {
        assert_eq!(Range::geq(5), r(5, None));
        assert_eq!(Range::leq(5).limit(), None);
        assert_eq!(r(0, Some(9)).limit(), Some(10));
        assert_eq!(r(10, Some(19)).limit(), Some(10));
        assert_eq!(r(0, Some(-2)).limit(), Some(-1));
        assert_eq!(r(i64::MAX - 1, Some(i64::MAX)).limit(), Some(2));
        assert_eq!(r(-5, Some(i64::MAX)).limit(), Some(i64::MAX));
    }

    #[test]
    fn emptiness() {
        assert!(!r(3, Some(3)).is_empty());
        assert!(r(3, Some(2)).is_empty());
        assert!(!r(i64::MAX, None).is_empty());
        assert!(!Range::leq(i64::MIN).is_empty());
    }

    #[test]
    fn intersections() {
        assert_eq!(Range::geq(5).intersect(&Range::leq(10)), r(5, Some(10)));
        assert_eq!(Range::ALL.intersect(&Range::geq(-4)), r(0, None));
        assert_eq!(r(0, Some(10)).intersect(&r(5, Some(20))), r(5, Some(10)));
        // Two non-empty ranges may meet in an empty, non-normalised range.
        assert_eq!(Range::geq(5).intersect(&Range::leq(3)), r(5, Some(3)));
        assert_eq!(r(0, Some(-2)).intersect(&Range::ALL), Range::EMPTY);
        assert_eq!(Range::ALL.intersect(&Range::LIMIT_ZERO), Range::EMPTY);
        assert_eq!(Range::EMPTY.intersect(&Range::EMPTY), Range::EMPTY);
    }

    #[test]
    fn restrictions() {
        assert_eq!(Range::ALL.restrict(None), Range::ALL);
        assert_eq!(Range::ALL.restrict(Some(10)), r(0, Some(9)));
        assert_eq!(Range::ALL.restrict(Some(0)), Range::LIMIT_ZERO);
        assert_eq!(Range::ALL.restrict(Some(-1)), r(0, Some(-2)));
        assert_eq!(Range::geq(5).restrict(Some(10)), r(5, Some(14)));
        assert_eq!(
            Range::ALL.restrict(Some(i64::MAX)),
            r(0, Some(i64::MAX - 1))
        );
        assert_eq!(
            Range::geq(i64::MAX).restrict(Some(i64::MAX)),
            r(i64::MAX, Some(i64::MAX))
        );
        assert_eq!(Range::ALL.restrict(Some(i64::MIN)), r(0, Some(i64::MIN)));
    }

    #[test]
    fn limit_zero_conversion() {
        assert_eq!(
            Range::LIMIT_ZERO.convert_to_limit_zero(Range::ALL),
            Range::LIMIT_ZERO
        );
        assert_eq!(r(0, Some(5)).convert_to_limit_zero(Range::ALL), Range::ALL);
        assert!(r(7, Some(-1)).has_limit_zero());
    }

    #[test]
    fn range_header_parsing() {
        assert_eq!(parse_range_header("0-9"), r(0, Some(9)));
        assert_eq!(parse_range_header("10-"), r(10, None));
        assert_eq!(parse_range_header("0-"), Range::ALL);
        assert_eq!(parse_range_header("5-5"), r(5, Some(5)));
        assert_eq!(parse_range_header("5-3"), r(5, Some(3)));
        assert!(parse_range_header("5-3").is_empty());
        assert_eq!(parse_range_header("-5"), Range::ALL);
        assert_eq!(parse_range_header("a-5"), Range::ALL);
        assert_eq!(parse_range_header("1-2-3"), Range::ALL);
        assert_eq!(parse_range_header(" 1-2"), Range::ALL);
        assert_eq!(parse_range_header("bytes=0-5"), Range::ALL);
        assert_eq!(parse_range_header(""), Range::ALL);
        assert_eq!(parse_range_header("٣-٤"), Range::ALL);
        assert_eq!(
            parse_range_header("99999999999999999999999-"),
            r(i64::MAX, None)
        );
        assert_eq!(
            parse_range_header("0-99999999999999999999999"),
            r(0, Some(i64::MAX))
        );
    }

    #[test]
    fn haskell_integer_reading() {
        assert_eq!(read_integer("10"), Some(10));
        assert_eq!(read_integer("007"), Some(7));
        assert_eq!(read_integer("-4"), Some(-4));
        assert_eq!(read_integer("- 4"), Some(-4));
        assert_eq!(read_integer("  12 "), Some(12));
        assert_eq!(read_integer("(12)"), Some(12));
        assert_eq!(read_integer("( (-3) )"), Some(-3));
        assert_eq!(read_integer("0x1F"), Some(31));
        assert_eq!(read_integer("0o17"), Some(15));
        assert_eq!(read_integer("+4"), None);
        assert_eq!(read_integer("--4"), None);
        assert_eq!(read_integer("-(4)"), None);
        assert_eq!(read_integer("4.0"), None);
        assert_eq!(read_integer("1e3"), None);
        assert_eq!(read_integer("0x"), None);
        assert_eq!(read_integer("abc"), None);
        assert_eq!(read_integer(""), None);
        assert_eq!(read_integer("5 5"), None);
        assert_eq!(read_integer("١٢"), None);
        assert_eq!(read_integer("99999999999999999999999999"), Some(i64::MAX));
        assert_eq!(read_integer("-99999999999999999999999999"), Some(-i64::MAX));
        assert_eq!(read_integer("1; DROP TABLE x"), None);
    }

    #[test]
    fn top_level_defaults() {
        let (top, rs) = top_level_range("GET", &HashMap::new(), None).unwrap();
        assert_eq!(top, Range::ALL);
        assert_eq!(rs, ranges(&[("limit", Range::ALL)]));
    }

    #[test]
    fn top_level_header_and_limit() {
        let qp = ranges(&[("limit", r(0, Some(9))), ("actors.limit", r(0, Some(1)))]);
        let (top, rs) = top_level_range("GET", &qp, Some("2-4")).unwrap();
        assert_eq!(top, r(2, Some(4)));
        assert_eq!(rs.get("limit"), Some(&r(2, Some(4))));
        assert_eq!(rs.get("actors.limit"), Some(&r(0, Some(1))));

        let (top, _) = top_level_range("GET", &HashMap::new(), Some("10-")).unwrap();
        assert_eq!(top, r(10, None));
    }

    #[test]
    fn header_ignored_outside_get() {
        for m in ["POST", "PATCH", "DELETE", "HEAD", "get"] {
            let (top, _) = top_level_range(m, &HashMap::new(), Some("1-1")).unwrap();
            assert_eq!(top, Range::ALL, "{m}");
        }
        // An inverted header on POST is not even looked at.
        assert!(top_level_range("POST", &HashMap::new(), Some("5-1")).is_ok());
    }

    #[test]
    fn top_level_errors() {
        assert_eq!(
            top_level_range("GET", &HashMap::new(), Some("5-1")),
            Err(TopLevelRangeError::InvalidRange(RangeError::LowerGtUpper))
        );
        let neg = ranges(&[("limit", Range::ALL.restrict(Some(-1)))]);
        assert_eq!(
            top_level_range("GET", &neg, None),
            Err(TopLevelRangeError::InvalidRange(RangeError::NegativeLimit))
        );
        // Disjoint header and limit: not inverted, so reported as a negative limit.
        let lim = ranges(&[("limit", r(0, Some(1)))]);
        assert_eq!(
            top_level_range("GET", &lim, Some("5-9")),
            Err(TopLevelRangeError::InvalidRange(RangeError::NegativeLimit))
        );
        let put = ranges(&[("limit", r(0, Some(0)))]);
        assert_eq!(
            top_level_range("PUT", &put, None),
            Err(TopLevelRangeError::PutLimitNotAllowed)
        );
        let put_offset = ranges(&[("limit", Range::geq(1))]);
        assert_eq!(
            top_level_range("PUT", &put_offset, None),
            Err(TopLevelRangeError::PutLimitNotAllowed)
        );
        assert!(top_level_range("PUT", &HashMap::new(), Some("1-1")).is_ok());
    }

    #[test]
    fn limit_zero_bypasses_checks() {
        let qp = ranges(&[("limit", Range::LIMIT_ZERO)]);
        let (top, rs) = top_level_range("GET", &qp, Some("5-9")).unwrap();
        assert_eq!(top, Range::LIMIT_ZERO);
        assert_eq!(rs["limit"], Range::LIMIT_ZERO);
        // Even an inverted header is ignored when limit=0.
        assert_eq!(
            top_level_range("GET", &qp, Some("9-5")).unwrap().0,
            Range::LIMIT_ZERO
        );
        // limit=0 on PUT is still a limit.
        assert_eq!(
            top_level_range("PUT", &qp, None),
            Err(TopLevelRangeError::PutLimitNotAllowed)
        );
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            RangeError::NegativeLimit.details(),
            "Limit should be greater than or equal to zero."
        );
        assert_eq!(
            RangeError::LowerGtUpper.details(),
            "The lower boundary must be lower than or equal to the upper boundary in the Range header."
        );
        assert_eq!(
            RangeError::OutOfBounds {
                lower: "1".into(),
                total: "0".into()
            }
            .details(),
            "An offset of 1 was requested, but there are only 0 rows."
        );
        use crate::error::{ApiRequestError, Error};
        let e = Error::from(ApiRequestError::InvalidRange(RangeError::NegativeLimit));
        assert_eq!(
            (e.code().as_str(), e.status(), e.message().as_str()),
            ("PGRST103", 416, "Requested range not satisfiable")
        );
        let p = Error::from(ApiRequestError::PutLimitNotAllowed);
        assert_eq!(
            (p.code().as_str(), p.status(), p.message().as_str()),
            (
                "PGRST114",
                400,
                "limit/offset querystring parameters are not allowed for PUT"
            )
        );
        assert_eq!(p.details(), None);
    }

    #[test]
    fn content_range_values() {
        assert_eq!(content_range(0, 14, None), "0-14/*");
        assert_eq!(content_range(0, 14, Some(15)), "0-14/15");
        assert_eq!(content_range(0, -1, None), "*/*");
        assert_eq!(content_range(0, -1, Some(0)), "*/0");
        assert_eq!(content_range(0, 5, Some(0)), "*/0");
        assert_eq!(content_range(10, 9, Some(5)), "*/5");
    }

    #[test]
    fn status_and_content_range() {
        assert_eq!(
            range_status(&Range::ALL, 15, None),
            (200, "0-14/*".to_string())
        );
        assert_eq!(
            range_status(&Range::ALL, 15, Some(15)),
            (200, "0-14/15".to_string())
        );
        assert_eq!(
            range_status(&r(0, Some(1)), 2, Some(15)),
            (206, "0-1/15".to_string())
        );
        assert_eq!(
            range_status(&Range::geq(1), 0, Some(0)),
            (416, "*/0".to_string())
        );
        assert_eq!(
            range_status(&Range::geq(100), 0, Some(15)),
            (416, "*/15".to_string())
        );
        assert_eq!(
            range_status(&Range::geq(15), 0, Some(15)),
            (206, "*/15".to_string())
        );
        assert_eq!(
            range_status(&Range::LIMIT_ZERO, 0, None),
            (200, "*/*".to_string())
        );
        assert_eq!(
            range_status(&Range::ALL, 0, Some(0)),
            (200, "*/0".to_string())
        );
        assert_eq!(
            range_status(&Range::geq(i64::MAX), 1, Some(i64::MAX)),
            (206, format!("{0}-{0}/{0}", i64::MAX))
        );
        assert_eq!(
            range_status(&Range::ALL, i64::MAX, Some(i64::MAX)),
            (200, format!("0-{}/{}", i64::MAX - 1, i64::MAX))
        );
    }
}
