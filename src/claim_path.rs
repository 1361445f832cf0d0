//! `pgrest.jwt_role_claim_key`: where a token's claims keep the role.
//!
//! Two syntaxes, as PostgREST 16 reads them:
//! - a JSONPath query (RFC 9535), starting with `$`: `$.role`, `$.app.roles[1]`,
//!   `$['https://example.com/role'].key`, `$.realm_access.roles[?@ == 'author']`,
//!   `$.roles[?search(@, '^au')]`. The first value the query finds is the role. Every
//!   function of the RFC is available (PostgREST offers only `search`).
//! - the older JSPath, starting with `.` (deprecated by PostgREST, still accepted; a
//!   warning is logged): `.role`, `."https://example.com/role"[0]`, and a last filter on an
//!   array of strings `[?(@ == "x")]` with `==`, `!=`, `^==` (starts with), `==^` (ends
//!   with), `*==` (contains).

use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub enum RoleClaimPath {
    JsonPath(serde_json_path::JsonPath),
    Legacy(Vec<Step>),
}

/// A step of the older JSPath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
    Filter(Condition, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Equals,
    NotEquals,
    StartsWith,
    EndsWith,
    Contains,
}

impl RoleClaimPath {
    /// Parses either syntax; the error says what is wrong, in PostgREST's words.
    pub fn parse(s: &str) -> Result<RoleClaimPath, String> {
        let failed = |why: &str| format!("failed to parse role-claim-key value ({s}): {why}");
        if s.starts_with('$') {
            serde_json_path::JsonPath::parse(s)
                .map(RoleClaimPath::JsonPath)
                .map_err(|e| failed(&e.to_string()))
        } else {
            parse_legacy(s)
                .map(RoleClaimPath::Legacy)
                .map_err(|e| failed(&e))
        }
    }

    pub fn is_legacy(&self) -> bool {
        matches!(self, RoleClaimPath::Legacy(_))
    }

    /// The value at the path (the first one a JSONPath query finds), if any.
    pub fn find(&self, claims: Map<String, Value>) -> (Map<String, Value>, Option<Value>) {
        let root = Value::Object(claims);
        let found = match self {
            RoleClaimPath::JsonPath(path) => path.query(&root).first().cloned(),
            RoleClaimPath::Legacy(steps) => follow(&root, steps).cloned(),
        };
        let Value::Object(claims) = root else {
            unreachable!("built as an object above")
        };
        (claims, found)
    }
}

fn follow<'a>(mut cur: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    for step in steps {
        cur = match (step, cur) {
            (Step::Key(k), Value::Object(o)) => o.get(k)?,
            (Step::Index(i), Value::Array(a)) => a.get(*i)?,
            (Step::Filter(cond, text), Value::Array(a)) => a.iter().find(|v| match v {
                Value::String(s) => match cond {
                    Condition::Equals => s == text,
                    Condition::NotEquals => s != text,
                    Condition::StartsWith => s.starts_with(text.as_str()),
                    Condition::EndsWith => s.ends_with(text.as_str()),
                    Condition::Contains => s.contains(text.as_str()),
                },
                _ => false,
            })?,
            _ => return None,
        };
    }
    Some(cur)
}

/// PostgREST's older grammar: `.key` (letters, digits, `_`, `$`, `@`) or `."any key"`,
/// `[digits]`, and `[?(@ op "text")]` only as the last step.
fn parse_legacy(s: &str) -> Result<Vec<Step>, String> {
    let mut rest = s;
    let mut steps = Vec::new();
    let quoted = |r: &str| -> Result<(String, usize), String> {
        let body = r.strip_prefix('"').ok_or("expected '\"'")?;
        let end = body.find('"').ok_or("unterminated quoted text")?;
        Ok((body[..end].to_string(), end + 2))
    };
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            if r.starts_with('"') {
                let (key, used) = quoted(r)?;
                steps.push(Step::Key(key));
                rest = &r[used..];
            } else {
                let n = r
                    .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '$' | '@')))
                    .unwrap_or(r.len());
                if n == 0 {
                    return Err("expected a key after '.'".into());
                }
                steps.push(Step::Key(r[..n].to_string()));
                rest = &r[n..];
            }
        } else if let Some(r) = rest.strip_prefix("[?(") {
            let r = r
                .strip_prefix('@')
                .ok_or("a filter starts with @")?
                .trim_start();
            let (cond, r) = [
                ("==^", Condition::EndsWith),
                ("==", Condition::Equals),
                ("!=", Condition::NotEquals),
                ("^==", Condition::StartsWith),
                ("*==", Condition::Contains),
            ]
            .into_iter()
            .find_map(|(op, c)| r.strip_prefix(op).map(|r| (c, r)))
            .ok_or("expected ==, !=, ^==, ==^ or *==")?;
            let r = r.trim_start();
            let (text, used) = quoted(r)?;
            if &r[used..] != ")]" {
                return Err("a filter ends with )] and is the last step".into());
            }
            steps.push(Step::Filter(cond, text));
            rest = "";
        } else if let Some(r) = rest.strip_prefix('[') {
            let n = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            if n == 0 || !r[n..].starts_with(']') {
                return Err("expected [digits]".into());
            }
            steps.push(Step::Index(r[..n].parse().map_err(|_| "index too large")?));
            rest = &r[n + 1..];
        } else {
            return Err(format!(
                "unexpected {:?}",
                rest.chars().next().unwrap_or(' ')
            ));
        }
    }
    if steps.is_empty() {
        return Err("empty path".into());
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(key: &str, claims: Value) -> Option<Value> {
        let path = RoleClaimPath::parse(key).unwrap_or_else(|e| panic!("{e}"));
        let Value::Object(claims) = claims else {
            panic!("claims are an object")
        };
        path.find(claims).1
    }

    #[test]
    fn jsonpath_queries_as_postgrest_16() {
        let author = Some(json!("author"));
        assert_eq!(role("$.role", json!({"role": "author"})), author);
        assert_eq!(role("$.a.b", json!({"a": {"b": "author"}})), author);
        assert_eq!(role("$.r[1]", json!({"r": ["x", "author"]})), author);
        assert_eq!(role("$.r[3]", json!({"r": ["x", "author"]})), None);
        assert_eq!(role("$.myRole", json!({"role": "author"})), None);
        assert_eq!(
            role(
                "$['https://www.example.com/roles'][0].value",
                json!({"https://www.example.com/roles": [{"value": "author"}]})
            ),
            author
        );
        let keycloak = json!({"realm_access": {"roles": ["other", "author"]}});
        assert_eq!(
            role("$.realm_access.roles[?(@ == 'author')]", keycloak.clone()),
            author
        );
        assert_eq!(
            role("$.realm_access.roles[?@ != \"other\"]", keycloak.clone()),
            author
        );
        assert_eq!(
            role("$.realm_access.roles[?search(@, '^au')]", keycloak.clone()),
            author
        );
        // Several matches: the first.
        assert_eq!(
            role("$.realm_access.roles[*]", keycloak),
            Some(json!("other"))
        );
        for bad in ["$.my_role;;domain", "$.", "$[", "$.a[?(@ == )]"] {
            assert!(RoleClaimPath::parse(bad).is_err(), "{bad}");
        }
        // Not a JSONPath and not the older syntax.
        assert!(RoleClaimPath::parse("@@.role.other").is_err());
    }

    #[test]
    fn the_older_jspath_still_works() {
        let author = Some(json!("author"));
        assert!(RoleClaimPath::parse(".role").unwrap().is_legacy());
        assert!(!RoleClaimPath::parse("$.role").unwrap().is_legacy());
        assert_eq!(role(".role", json!({"role": "author"})), author);
        assert_eq!(
            role(
                ".\"https://www.example.com/roles\"[0].value",
                json!({"https://www.example.com/roles": [{"value": "author"}]})
            ),
            author
        );
        assert_eq!(role(".r[3]", json!({"r": ["x", "author"]})), None);
        let roles = json!({"realm_access": {"roles": ["other", "postgrest_test_author"]}});
        for key in [
            ".realm_access.roles[?(@ == \"postgrest_test_author\")]",
            ".realm_access.roles[?(@ != \"other\")]",
            ".realm_access.roles[?(@ ^== \"postgrest_te\")]",
            ".realm_access.roles[?(@ ==^ \"st_test_author\")]",
            ".realm_access.roles[?(@ *== \"_test_\")]",
        ] {
            assert_eq!(
                role(key, roles.clone()),
                Some(json!("postgrest_test_author")),
                "{key}"
            );
        }
        // Filters see strings only.
        assert_eq!(
            role(
                ".realm_access.roles[?(@ == \"string\")]",
                json!({"realm_access": {"roles": [{"obj_key": "obj_value"}]}})
            ),
            None
        );
        for bad in [
            "role.other",
            ".role##",
            ".my_role;;domain",
            ".#$$%&$%/",
            "1234",
            ".role[?(@ =)]",
            ".a[x]",
            ".",
            "",
            ".a[?(@ == \"x\")].b",
        ] {
            assert!(RoleClaimPath::parse(bad).is_err(), "{bad}");
        }
    }
}
