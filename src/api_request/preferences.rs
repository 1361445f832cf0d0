//! The `Prefer` request header (RFC 7240) and the `Preference-Applied` response header.
//!
//! Clients may send several `Prefer` headers, each a comma-separated list. Every item is
//! trimmed and compared verbatim (case-sensitively) against the values PostgREST knows;
//! for each kind of preference the first matching item wins, across all headers. Unknown
//! items are collected so that `handling=strict` can reject them.

/// How an upsert treats rows that already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferResolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

/// What a mutation returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferRepresentation {
    /// `return=representation`: the affected rows.
    Full,
    /// `return=headers-only`: just the `Location` header (POST).
    HeadersOnly,
    /// `return=minimal`: nothing.
    None,
}

/// How the total row count is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferCount {
    Exact,
    /// The planner's estimate (EXPLAIN).
    Planned,
    /// The planner's estimate when it exceeds max-rows, the exact count otherwise.
    Estimated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferTransaction {
    Commit,
    Rollback,
}

/// What to do with `columns=` entries missing from a payload object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferMissing {
    ApplyDefaults,
    ApplyNulls,
}

/// Whether unknown preferences are an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferHandling {
    Strict,
    Lenient,
}

impl PreferResolution {
    const ALL: [Self; 2] = [Self::MergeDuplicates, Self::IgnoreDuplicates];

    pub fn header_value(&self) -> &'static str {
        match self {
            Self::MergeDuplicates => "resolution=merge-duplicates",
            Self::IgnoreDuplicates => "resolution=ignore-duplicates",
        }
    }
}

impl PreferRepresentation {
    const ALL: [Self; 3] = [Self::Full, Self::None, Self::HeadersOnly];

    pub fn header_value(&self) -> &'static str {
        match self {
            Self::Full => "return=representation",
            Self::None => "return=minimal",
            Self::HeadersOnly => "return=headers-only",
        }
    }
}

impl PreferCount {
    const ALL: [Self; 3] = [Self::Exact, Self::Planned, Self::Estimated];

    pub fn header_value(&self) -> &'static str {
        match self {
            Self::Exact => "count=exact",
            Self::Planned => "count=planned",
            Self::Estimated => "count=estimated",
        }
    }
}

impl PreferTransaction {
    const ALL: [Self; 2] = [Self::Commit, Self::Rollback];

    pub fn header_value(&self) -> &'static str {
        match self {
            Self::Commit => "tx=commit",
            Self::Rollback => "tx=rollback",
        }
    }
}

impl PreferMissing {
    const ALL: [Self; 2] = [Self::ApplyDefaults, Self::ApplyNulls];

    pub fn header_value(&self) -> &'static str {
        match self {
            Self::ApplyDefaults => "missing=default",
            Self::ApplyNulls => "missing=null",
        }
    }
}

impl PreferHandling {
    const ALL: [Self; 2] = [Self::Strict, Self::Lenient];

    pub fn header_value(&self) -> &'static str {
        match self {
            Self::Strict => "handling=strict",
            Self::Lenient => "handling=lenient",
        }
    }
}

const TIMEZONE_PREFIX: &str = "timezone=";
const MAX_AFFECTED_PREFIX: &str = "max-affected=";

/// The preferences of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub resolution: Option<PreferResolution>,
    pub representation: Option<PreferRepresentation>,
    pub count: Option<PreferCount>,
    /// Only set when the configuration allows clients to override the transaction end.
    pub transaction: Option<PreferTransaction>,
    pub missing: Option<PreferMissing>,
    pub handling: Option<PreferHandling>,
    /// `timezone=...` as written (validated later against `pg_timezone_names`).
    pub timezone: Option<String>,
    pub max_affected: Option<i64>,
    /// Items that are not a known preference, in order (reported by `handling=strict`).
    pub invalid: Vec<String>,
}

/// Parses the values of every `Prefer` header of a request, in order.
///
/// `allow_tx_override` mirrors `db-tx-end = *-allow-override`: without it `tx=` items are
/// still accepted as valid but ignored.
pub fn from_headers<'a>(
    allow_tx_override: bool,
    prefer_values: impl IntoIterator<Item = &'a str>,
) -> Preferences {
    let items: Vec<&str> = prefer_values
        .into_iter()
        .filter(|v| !v.is_empty())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{b}'))
        .collect();

    // The first item that is exactly one of `candidates`' header values.
    fn first_of<T: Copy>(
        items: &[&str],
        candidates: &[T],
        value: impl Fn(&T) -> &'static str,
    ) -> Option<T> {
        items
            .iter()
            .find_map(|item| candidates.iter().find(|c| value(c) == *item).copied())
    }

    let known: Vec<&'static str> = PreferResolution::ALL
        .iter()
        .map(|p| p.header_value())
        .chain(PreferRepresentation::ALL.iter().map(|p| p.header_value()))
        .chain(PreferCount::ALL.iter().map(|p| p.header_value()))
        .chain(PreferTransaction::ALL.iter().map(|p| p.header_value()))
        .chain(PreferMissing::ALL.iter().map(|p| p.header_value()))
        .chain(PreferHandling::ALL.iter().map(|p| p.header_value()))
        .collect();

    let timezone = items
        .iter()
        .find_map(|i| i.strip_prefix(TIMEZONE_PREFIX))
        .map(str::to_string);
    // Only the first max-affected item is considered; if it is not a number, there is none.
    let max_affected = items
        .iter()
        .find_map(|i| i.strip_prefix(MAX_AFFECTED_PREFIX))
        .and_then(crate::api_request::range::read_integer);

    let invalid = items
        .iter()
        .filter(|i| {
            !known.contains(i)
                && !i.starts_with(TIMEZONE_PREFIX)
                && !i.starts_with(MAX_AFFECTED_PREFIX)
        })
        .map(|i| i.to_string())
        .collect();

    Preferences {
        resolution: first_of(
            &items,
            &PreferResolution::ALL,
            PreferResolution::header_value,
        ),
        representation: first_of(
            &items,
            &PreferRepresentation::ALL,
            PreferRepresentation::header_value,
        ),
        count: first_of(&items, &PreferCount::ALL, PreferCount::header_value),
        transaction: if allow_tx_override {
            first_of(
                &items,
                &PreferTransaction::ALL,
                PreferTransaction::header_value,
            )
        } else {
            None
        },
        missing: first_of(&items, &PreferMissing::ALL, PreferMissing::header_value),
        handling: first_of(&items, &PreferHandling::ALL, PreferHandling::header_value),
        timezone,
        max_affected,
        invalid,
    }
}

impl Preferences {
    /// The `Preference-Applied` value for the preferences that were honoured, in PostgREST's
    /// order; `None` when there are none. The caller clears the preferences that do not
    /// apply to the action first. `max-affected` is only reported under `handling=strict`,
    /// the only mode in which it is enforced.
    pub fn applied_header(&self) -> Option<String> {
        let max_affected = match (self.handling, self.max_affected) {
            (Some(PreferHandling::Strict), Some(n)) => Some(format!("{MAX_AFFECTED_PREFIX}{n}")),
            _ => None,
        };
        let values: Vec<String> = [
            self.resolution.map(|p| p.header_value().to_string()),
            self.missing.map(|p| p.header_value().to_string()),
            self.representation.map(|p| p.header_value().to_string()),
            self.count.map(|p| p.header_value().to_string()),
            self.transaction.map(|p| p.header_value().to_string()),
            self.handling.map(|p| p.header_value().to_string()),
            self.timezone
                .as_ref()
                .map(|tz| format!("{TIMEZONE_PREFIX}{tz}")),
            max_affected,
        ]
        .into_iter()
        .flatten()
        .collect();
        if values.is_empty() {
            None
        } else {
            Some(values.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_header_many_values() {
        let p = from_headers(
            true,
            ["resolution=ignore-duplicates, count=exact, timezone=America/Los_Angeles, max-affected=100"],
        );
        assert_eq!(
            p,
            Preferences {
                resolution: Some(PreferResolution::IgnoreDuplicates),
                count: Some(PreferCount::Exact),
                timezone: Some("America/Los_Angeles".into()),
                max_affected: Some(100),
                ..Default::default()
            }
        );
    }

    #[test]
    fn many_headers() {
        let p = from_headers(
            true,
            [
                "resolution=ignore-duplicates",
                "count=exact",
                "missing=null",
                "handling=lenient",
                "invalid",
                "max-affected=5999",
            ],
        );
        assert_eq!(p.resolution, Some(PreferResolution::IgnoreDuplicates));
        assert_eq!(p.count, Some(PreferCount::Exact));
        assert_eq!(p.missing, Some(PreferMissing::ApplyNulls));
        assert_eq!(p.handling, Some(PreferHandling::Lenient));
        assert_eq!(p.max_affected, Some(5999));
        assert_eq!(p.invalid, vec!["invalid".to_string()]);
        assert_eq!(p.representation, None);
        assert_eq!(p.transaction, None);
        assert_eq!(p.timezone, None);
    }

    #[test]
    fn first_occurrence_wins() {
        assert_eq!(
            from_headers(true, ["tx=commit, tx=rollback"]).transaction,
            Some(PreferTransaction::Commit)
        );
        assert_eq!(
            from_headers(
                true,
                [
                    "resolution=ignore-duplicates",
                    "resolution=merge-duplicates"
                ]
            )
            .resolution,
            Some(PreferResolution::IgnoreDuplicates)
        );
        assert_eq!(
            from_headers(true, ["timezone=UTC", "timezone=Europe/Paris"])
                .timezone
                .as_deref(),
            Some("UTC")
        );
        // The first max-affected decides, even when it is not a number.
        assert_eq!(
            from_headers(true, ["max-affected=x, max-affected=3"]).max_affected,
            None
        );
    }

    #[test]
    fn spacing_and_empty_items() {
        let p = from_headers(
            true,
            ["count=exact,    tx=commit   ,return=representation , missing=default, handling=strict, anything"],
        );
        assert_eq!(p.count, Some(PreferCount::Exact));
        assert_eq!(p.transaction, Some(PreferTransaction::Commit));
        assert_eq!(p.representation, Some(PreferRepresentation::Full));
        assert_eq!(p.missing, Some(PreferMissing::ApplyDefaults));
        assert_eq!(p.handling, Some(PreferHandling::Strict));
        assert_eq!(p.invalid, vec!["anything".to_string()]);
        // A trailing comma leaves an empty, invalid item; an empty header has no items.
        assert_eq!(
            from_headers(true, ["count=exact,"]).invalid,
            vec![String::new()]
        );
        assert!(from_headers(true, [""]).invalid.is_empty());
        assert_eq!(
            from_headers(true, std::iter::empty()),
            Preferences::default()
        );
    }

    #[test]
    fn case_sensitive_values() {
        let p = from_headers(true, ["Return=Representation", "COUNT=exact"]);
        assert_eq!(p.representation, None);
        assert_eq!(p.count, None);
        assert_eq!(
            p.invalid,
            vec![
                "Return=Representation".to_string(),
                "COUNT=exact".to_string()
            ]
        );
    }

    #[test]
    fn tx_needs_override() {
        let p = from_headers(false, ["tx=rollback"]);
        assert_eq!(p.transaction, None);
        assert!(p.invalid.is_empty());
    }

    #[test]
    fn all_values_recognised() {
        let p = from_headers(
            true,
            [
                "resolution=merge-duplicates, return=minimal, count=planned, tx=rollback, missing=default, handling=strict",
            ],
        );
        assert_eq!(p.resolution, Some(PreferResolution::MergeDuplicates));
        assert_eq!(p.representation, Some(PreferRepresentation::None));
        assert_eq!(p.count, Some(PreferCount::Planned));
        assert_eq!(p.transaction, Some(PreferTransaction::Rollback));
        assert_eq!(
            from_headers(true, ["return=headers-only"]).representation,
            Some(PreferRepresentation::HeadersOnly)
        );
        assert_eq!(
            from_headers(true, ["count=estimated"]).count,
            Some(PreferCount::Estimated)
        );
    }

    #[test]
    fn max_affected_numbers() {
        assert_eq!(
            from_headers(true, ["max-affected=-3"]).max_affected,
            Some(-3)
        );
        assert_eq!(from_headers(true, ["max-affected=1.5"]).max_affected, None);
        assert_eq!(
            from_headers(true, ["max-affected=999999999999999999999999"]).max_affected,
            Some(i64::MAX)
        );
        // Numbers that do not parse are still not "invalid preferences".
        assert!(from_headers(true, ["max-affected=abc"]).invalid.is_empty());
    }

    #[test]
    fn timezone_values() {
        assert_eq!(
            from_headers(true, ["timezone="]).timezone.as_deref(),
            Some("")
        );
        assert_eq!(
            from_headers(true, ["timezone='; DROP TABLE x; --"])
                .timezone
                .as_deref(),
            Some("'; DROP TABLE x; --")
        );
    }

    #[test]
    fn header_values() {
        assert_eq!(
            PreferResolution::MergeDuplicates.header_value(),
            "resolution=merge-duplicates"
        );
        assert_eq!(
            PreferRepresentation::HeadersOnly.header_value(),
            "return=headers-only"
        );
        assert_eq!(PreferCount::Estimated.header_value(), "count=estimated");
        assert_eq!(PreferTransaction::Rollback.header_value(), "tx=rollback");
        assert_eq!(PreferMissing::ApplyNulls.header_value(), "missing=null");
        assert_eq!(PreferHandling::Lenient.header_value(), "handling=lenient");
    }

    #[test]
    fn applied_header_order() {
        assert_eq!(Preferences::default().applied_header(), None);
        let p = from_headers(
            true,
            ["max-affected=5, timezone=UTC, handling=strict, tx=commit, count=exact, return=minimal, missing=null, resolution=merge-duplicates"],
        );
        assert_eq!(
            p.applied_header().as_deref(),
            Some(
                "resolution=merge-duplicates, missing=null, return=minimal, count=exact, tx=commit, handling=strict, timezone=UTC, max-affected=5"
            )
        );
        let lenient = from_headers(true, ["max-affected=5", "handling=lenient"]);
        assert_eq!(
            lenient.applied_header().as_deref(),
            Some("handling=lenient")
        );
        let no_handling = from_headers(true, ["max-affected=5"]);
        assert_eq!(no_handling.applied_header(), None);
    }

    #[test]
    fn invalid_details_text() {
        let p = from_headers(true, ["foo, bar=baz"]);
        let e =
            crate::error::Error::from(crate::error::ApiRequestError::InvalidPreferences(p.invalid));
        assert_eq!(
            e.details(),
            Some(serde_json::Value::String(
                "Invalid preferences: foo, bar=baz".into()
            ))
        );
        assert!(Preferences::default().invalid.is_empty());
    }
}
