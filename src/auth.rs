//! Authentication: `Authorization: Bearer <jwt>` → the role and claims of the request.
//!
//! Runs on the HTTP thread (pure Rust, no Postgres). Signature checking uses jsonwebtoken's
//! primitives with the keys of `pgrest.jwt_secret`: an HS secret, a JWK or a JWKS (RSA,
//! EC P-256/P-384, Ed25519, oct). Header, payload and claim checks are done here so that every
//! failure maps to PostgREST's exact error (PGRST301/PGRST303, 30 s clock skew, numeric
//! exp/nbf/iat).
//! Whether the authenticator may actually switch to the role is decided by PostgreSQL when
//! the worker sets it (`permission denied to set role` → 403, unknown role → 401).

use serde_json::{Map, Value};

use crate::config::{base64_decode, AppConfig};
use crate::error::{JwtClaimsError, JwtDecodeError, JwtError};

/// Clock skew PostgREST tolerates on exp/nbf/iat.
const ALLOWED_SKEW_SECONDS: i64 = 30;

/// What a key can verify. A token's `alg` must belong to its key's family, so an HS token
/// is never checked with public key material used as a secret (algorithm confusion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Hmac,
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

/// A key tokens are verified with.
#[derive(Clone)]
pub struct JwtKey {
    /// `kid`: a token naming a key id is checked only with that key (and keys without one).
    pub kid: Option<String>,
    pub family: KeyFamily,
    /// `alg` of a JWK: the only algorithm the key accepts.
    pub alg: Option<jsonwebtoken::Algorithm>,
    key: jsonwebtoken::DecodingKey,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl JwtKey {
    /// An HS secret.
    pub fn hmac(secret: &[u8]) -> JwtKey {
        JwtKey {
            kid: None,
            family: KeyFamily::Hmac,
            alg: None,
            key: jsonwebtoken::DecodingKey::from_secret(secret),
        }
    }

    /// A JWK (RFC 7517). Keys for encryption (`"use": "enc"`) and curves ring cannot verify
    /// (P-521) are refused.
    fn from_jwk(value: &Value) -> Result<JwtKey, String> {
        use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
        let jwk: Jwk = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
        if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
            return Err("a key for encryption (\"use\": \"enc\")".into());
        }
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyFamily::Rsa,
            AlgorithmParameters::OctetKey(_) => KeyFamily::Hmac,
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => KeyFamily::EcP256,
                EllipticCurve::P384 => KeyFamily::EcP384,
                ref c => return Err(format!("unsupported curve {c:?}")),
            },
            AlgorithmParameters::OctetKeyPair(p) => match p.curve {
                EllipticCurve::Ed25519 => KeyFamily::Ed25519,
                ref c => return Err(format!("unsupported curve {c:?}")),
            },
        };
        let alg = match jwk.common.key_algorithm {
            None => None,
            Some(a) => Some(
                a.to_string()
                    .parse::<jsonwebtoken::Algorithm>()
                    .map_err(|_| format!("unsupported \"alg\" {a}"))?,
            ),
        };
        if alg.is_some_and(|a| family_of(a) != Some(family)) {
            return Err("its \"alg\" does not fit its key type".into());
        }
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
        Ok(JwtKey {
            kid: jwk.common.key_id,
            family,
            alg,
            key,
        })
    }
}

/// The family of keys an algorithm needs.
fn family_of(alg: jsonwebtoken::Algorithm) -> Option<KeyFamily> {
    use jsonwebtoken::Algorithm::*;
    Some(match alg {
        HS256 | HS384 | HS512 => KeyFamily::Hmac,
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => KeyFamily::Rsa,
        ES256 => KeyFamily::EcP256,
        ES384 => KeyFamily::EcP384,
        EdDSA => KeyFamily::Ed25519,
    })
}

/// `pgrest.jwt_secret`: a JWKS (`{"keys": [...]}`), a single JWK (`{"kty": ...}`), or an
/// HS secret of at least 32 characters (base64 with `pgrest.jwt_secret_is_base64`). Keys of
/// a JWKS that cannot verify signatures are skipped with a warning.
pub fn parse_jwt_keys(
    secret: &str,
    is_base64: bool,
    warnings: &mut Vec<String>,
) -> Result<Vec<JwtKey>, String> {
    if !secret.trim_start().starts_with('{') {
        let bytes = crate::config::decode_secret(secret, is_base64)?;
        return Ok(vec![JwtKey::hmac(&bytes)]);
    }
    let doc: Value = serde_json::from_str(secret)
        .map_err(|e| format!("pgrest.jwt_secret is neither a secret nor valid JSON: {e}"))?;
    let Some(keys) = doc.get("keys") else {
        return JwtKey::from_jwk(&doc)
            .map(|k| vec![k])
            .map_err(|e| format!("pgrest.jwt_secret is not a usable JWK: {e}"));
    };
    let keys = keys
        .as_array()
        .ok_or("pgrest.jwt_secret: \"keys\" of a JWKS must be an array")?;
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        match JwtKey::from_jwk(k) {
            Ok(key) => out.push(key),
            Err(e) => warnings.push(format!(
                "pgrest.jwt_secret: key {i} of the JWKS is skipped: {e}"
            )),
        }
    }
    if out.is_empty() {
        return Err("pgrest.jwt_secret: the JWKS has no usable key; JWTs are refused".into());
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthResult {
    /// The role the request runs as.
    pub role: String,
    /// The JWT claims (empty without a token); `role` is added when serialized for SQL.
    pub claims: Map<String, Value>,
}

impl AuthResult {
    /// `request.jwt.claims`: the claims with `role` always set, as PostgREST does.
    pub fn claims_json(&self) -> String {
        let mut claims = self.claims.clone();
        claims.insert("role".into(), Value::String(self.role.clone()));
        Value::Object(claims).to_string()
    }

    /// Whether the request is not anonymous (decides 401 vs 403 on 42501).
    pub fn is_authenticated(&self, cfg: &AppConfig) -> bool {
        cfg.db_anon_role.as_deref() != Some(self.role.as_str())
    }
}

/// Extracts the token of a `Bearer` Authorization header; other schemes mean no token.
pub fn bearer_token(authorization: &[u8]) -> Option<&[u8]> {
    let text = authorization;
    let split = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
    let (scheme, rest) = text.split_at(split);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = rest.strip_prefix(b" ").unwrap_or(rest);
    Some(trim_ascii(token))
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// Decides the role and claims of a request from its Authorization header.
pub fn authenticate(
    cfg: &AppConfig,
    authorization: Option<&[u8]>,
    now: i64,
) -> Result<AuthResult, JwtError> {
    let anonymous = || cfg.db_anon_role.clone().ok_or(JwtError::TokenRequired);
    let Some(token) = authorization.and_then(bearer_token) else {
        return Ok(AuthResult {
            role: anonymous()?,
            claims: Map::new(),
        });
    };
    let path = cfg
        .jwt_role_claim_key
        .as_ref()
        .map_err(|e| JwtError::RoleClaimKeyInvalid(e.clone()))?;
    let claims = cached_verify(cfg, token)?;
    // Time and audience are checked on every use, cached or not.
    validate_claims(cfg, &claims, now)?;
    let (claims, found) = path.find(claims);
    let role = match found {
        Some(Value::String(s)) => s,
        Some(v) if !v.is_null() => v.to_string(),
        _ => anonymous()?,
    };
    Ok(AuthResult { role, claims })
}

/// The verified tokens of this thread, oldest first out (`pgrest.jwt_cache_max_entries`).
/// Only signature checks and decoding are cached; a failed token is never kept.
#[derive(Default)]
struct JwtCache {
    keys_id: u64,
    claims: std::collections::HashMap<Box<[u8]>, Map<String, Value>>,
    order: std::collections::VecDeque<Box<[u8]>>,
}

thread_local! {
    static JWT_CACHE: std::cell::RefCell<JwtCache> = std::cell::RefCell::new(JwtCache::default());
}

fn cached_verify(cfg: &AppConfig, token: &[u8]) -> Result<Map<String, Value>, JwtError> {
    let max = cfg.jwt_cache_max_entries;
    if max == 0 {
        return verify_token(cfg, token);
    }
    JWT_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.keys_id != cfg.jwt_keys_id {
            *cache = JwtCache {
                keys_id: cfg.jwt_keys_id,
                ..JwtCache::default()
            };
        }
        let metrics = crate::metrics();
        if let Some(claims) = cache.claims.get(token) {
            if let Some(m) = metrics {
                m.jwt_lookup(true, 0);
            }
            return Ok(claims.clone());
        }
        let verified = verify_token(cfg, token);
        let mut evicted = 0;
        if verified.is_ok() {
            while cache.order.len() >= max {
                match cache.order.pop_front() {
                    Some(old) => {
                        cache.claims.remove(&old);
                        evicted += 1;
                    }
                    None => break,
                }
            }
        }
        if let Some(m) = metrics {
            m.jwt_lookup(false, evicted);
        }
        let claims = verified?;
        let key: Box<[u8]> = token.into();
        cache.order.push_back(key.clone());
        cache.claims.insert(key, claims.clone());
        Ok(claims)
    })
}

fn verify_token(cfg: &AppConfig, token: &[u8]) -> Result<Map<String, Value>, JwtError> {
    use JwtDecodeError::*;
    let decode_err = |e| JwtError::Decode(e);
    if token.is_empty() {
        return Err(decode_err(EmptyAuthHeader));
    }
    let parts: Vec<&[u8]> = token.split(|&b| b == b'.').collect();
    if parts.len() != 3 {
        return Err(decode_err(UnexpectedParts(parts.len())));
    }
    let header: Value = base64_decode(parts[0])
        .and_then(|h| serde_json::from_slice(&h).ok())
        .filter(Value::is_object)
        .ok_or(decode_err(BadCrypto))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(decode_err(BadCrypto))?;
    let no_key = || {
        decode_err(KeyError(
            "None of the keys was able to decode the JWT".into(),
        ))
    };
    if alg == "none" {
        return Err(decode_err(BadAlgorithm(
            "JWT is unsecured but expected 'alg' was not 'none'".into(),
        )));
    }
    let Some((algorithm, family)) = alg
        .parse::<jsonwebtoken::Algorithm>()
        .ok()
        .and_then(|a| Some((a, family_of(a)?)))
    else {
        return Err(no_key());
    };
    let keys = match &cfg.jwt_secret {
        Ok(k) => k,
        Err(_) => return Err(JwtError::SecretMissing),
    };
    let kid = header.get("kid").and_then(Value::as_str);
    let signed_len = parts[0].len() + 1 + parts[1].len();
    let signature = std::str::from_utf8(parts[2]).map_err(|_| decode_err(BadCrypto))?;
    // Keys of the token's family (and `alg`, when the key names one); a `kid` in the token
    // picks the key with that id, keys without an id are tried in order.
    let mut verified = None;
    let mut malformed = false;
    for k in keys.iter().filter(|k| {
        k.family == family
            && k.alg.is_none_or(|a| a == algorithm)
            && (k.kid.is_none() || kid.is_none() || k.kid.as_deref() == kid)
    }) {
        match jsonwebtoken::crypto::verify(signature, &token[..signed_len], &k.key, algorithm) {
            Ok(true) => {
                verified = Some(true);
                break;
            }
            Ok(false) => verified = Some(false),
            Err(_) => malformed = true,
        }
    }
    match verified {
        Some(true) => {}
        None if malformed => return Err(decode_err(BadCrypto)),
        _ => return Err(no_key()),
    }
    let payload =
        base64_decode(parts[1]).ok_or(JwtError::Claims(JwtClaimsError::ParsingClaimsFailed))?;
    match serde_json::from_slice::<Value>(&payload) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(JwtError::Claims(JwtClaimsError::ParsingClaimsFailed)),
    }
}

fn validate_claims(cfg: &AppConfig, claims: &Map<String, Value>, now: i64) -> Result<(), JwtError> {
    use JwtClaimsError::*;
    // A claim that is absent or null is not checked; a non-number is an error.
    let number = |key: &str, not_number: JwtClaimsError| -> Result<Option<i64>, JwtError> {
        match claims.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(Some(n.as_i64().unwrap_or_else(|| {
                n.as_f64()
                    .map_or(0, |f| f.clamp(i64::MIN as f64, i64::MAX as f64) as i64)
            }))),
            Some(_) => Err(JwtError::Claims(not_number)),
        }
    };
    if let Some(exp) = number("exp", ExpNotNumber)? {
        if now - ALLOWED_SKEW_SECONDS > exp {
            return Err(JwtError::Claims(Expired));
        }
    }
    if let Some(nbf) = number("nbf", NbfNotNumber)? {
        if now + ALLOWED_SKEW_SECONDS < nbf {
            return Err(JwtError::Claims(NotYetValid));
        }
    }
    if let Some(iat) = number("iat", IatNotNumber)? {
        if now + ALLOWED_SKEW_SECONDS < iat {
            return Err(JwtError::Claims(IssuedAtFuture));
        }
    }
    let matches = |aud: &str| cfg.jwt_aud.as_deref().is_none_or(|want| want == aud);
    match claims.get("aud") {
        None | Some(Value::Null) => {}
        Some(Value::String(a)) => {
            if !matches(a) {
                return Err(JwtError::Claims(NotInAudience));
            }
        }
        Some(Value::Array(items)) => {
            let auds: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            let auds = auds.ok_or(JwtError::Claims(AudNotStringOrArray))?;
            if !auds.is_empty() && !auds.iter().any(|a| matches(a)) {
                return Err(JwtError::Claims(NotInAudience));
            }
        }
        Some(_) => return Err(JwtError::Claims(AudNotStringOrArray)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "reallyreallyreallyreallyverysafe";

    fn cfg() -> AppConfig {
        AppConfig {
            db_extra_search_path: vec![],
            jwt_secret: Ok(vec![JwtKey::hmac(SECRET.as_bytes())]),
            server_max_body_size: 1024,
            ..AppConfig::test_default()
        }
    }

    fn token(alg: jsonwebtoken::Algorithm, secret: &str, claims: Value) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(alg),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn bearer(t: &str) -> Vec<u8> {
        format!("Bearer {t}").into_bytes()
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn the_cache_verifies_once_and_checks_time_on_every_use() {
        let mut c = cfg();
        c.jwt_cache_max_entries = 2;
        c.jwt_keys_id = 1;
        let t = token(
            jsonwebtoken::Algorithm::HS256,
            SECRET,
            json!({"role": "r", "exp": NOW + 10}),
        );
        assert_eq!(authenticate(&c, Some(&bearer(&t)), NOW).unwrap().role, "r");
        assert_eq!(authenticate(&c, Some(&bearer(&t)), NOW).unwrap().role, "r");
        // Cached, but expired by now.
        assert_eq!(
            authenticate(&c, Some(&bearer(&t)), NOW + 100),
            Err(JwtError::Claims(JwtClaimsError::Expired))
        );
        // Other keys: the cached verification no longer counts.
        let mut other = c.clone();
        other.jwt_secret = Ok(vec![JwtKey::hmac(b"another secret of at least 32 bytes")]);
        other.jwt_keys_id = 2;
        assert!(matches!(
            authenticate(&other, Some(&bearer(&t)), NOW),
            Err(JwtError::Decode(_))
        ));
        // A bounded cache: more tokens than entries still verify.
        for i in 0..5 {
            let t = token(
                jsonwebtoken::Algorithm::HS256,
                SECRET,
                json!({"role": format!("r{i}")}),
            );
            assert_eq!(
                authenticate(&c, Some(&bearer(&t)), NOW).unwrap().role,
                format!("r{i}")
            );
        }
        JWT_CACHE.with(|cache| assert!(cache.borrow().claims.len() <= 2));
    }

    #[test]
    fn no_token_is_anonymous() {
        let r = authenticate(&cfg(), None, NOW).unwrap();
        assert_eq!(r.role, "web_anon");
        assert!(!r.is_authenticated(&cfg()));
        assert_eq!(r.claims_json(), r#"{"role":"web_anon"}"#);
        // Other schemes are ignored like PostgREST does.
        let r = authenticate(&cfg(), Some(b"Basic dXNlcjpwYXNz"), NOW).unwrap();
        assert_eq!(r.role, "web_anon");
        let mut c = cfg();
        c.db_anon_role = None;
        assert_eq!(authenticate(&c, None, NOW), Err(JwtError::TokenRequired));
    }

    #[test]
    fn valid_tokens() {
        let t = token(
            jsonwebtoken::Algorithm::HS256,
            SECRET,
            json!({"role": "web_user", "user_id": 42}),
        );
        let r = authenticate(&cfg(), Some(&bearer(&t)), NOW).unwrap();
        assert_eq!(r.role, "web_user");
        assert!(r.is_authenticated(&cfg()));
        assert_eq!(r.claims_json(), r#"{"role":"web_user","user_id":42}"#);
        // Scheme is case-insensitive; HS512 works with the same secret.
        let t = token(
            jsonwebtoken::Algorithm::HS512,
            SECRET,
            json!({"role": "web_user"}),
        );
        let h = format!("bEaReR {t}");
        assert_eq!(
            authenticate(&cfg(), Some(h.as_bytes()), NOW).unwrap().role,
            "web_user"
        );
        // No role claim: anonymous role with the token's claims.
        let t = token(jsonwebtoken::Algorithm::HS256, SECRET, json!({"sub": "x"}));
        let r = authenticate(&cfg(), Some(&bearer(&t)), NOW).unwrap();
        assert_eq!(r.role, "web_anon");
        assert_eq!(r.claims_json(), r#"{"role":"web_anon","sub":"x"}"#);
    }

    #[test]
    fn nested_role_claim() {
        let mut c = cfg();
        c.jwt_role_claim_key = crate::claim_path::RoleClaimPath::parse("$.app.roles[1]");
        let t = token(
            jsonwebtoken::Algorithm::HS256,
            SECRET,
            json!({"app": {"roles": ["a", "b"]}}),
        );
        assert_eq!(authenticate(&c, Some(&bearer(&t)), NOW).unwrap().role, "b");
    }

    #[test]
    fn decode_failures() {
        use JwtDecodeError::*;
        let err = |h: &[u8]| authenticate(&cfg(), Some(h), NOW).unwrap_err();
        assert_eq!(err(b"Bearer "), JwtError::Decode(EmptyAuthHeader));
        assert_eq!(
            err(b"Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.bm90IGFuIG9iamVjdA"),
            JwtError::Decode(UnexpectedParts(2))
        );
        assert_eq!(
            err(b"Bearer quifquirndsjagnrgniur.fonvoienqhhdj.iuqvnvhojah"),
            JwtError::Decode(BadCrypto)
        );
        let none = b"Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.e30.yOBhlOIqn56T-4NvyEXCjfi3UmyQZ-BzXtePMO2NgRI";
        assert!(matches!(err(none), JwtError::Decode(BadAlgorithm(_))));
        let wrong = token(
            jsonwebtoken::Algorithm::HS256,
            "another secret that is long enough!",
            json!({}),
        );
        assert_eq!(
            err(&bearer(&wrong)),
            JwtError::Decode(KeyError(
                "None of the keys was able to decode the JWT".into()
            ))
        );
        let mut c = cfg();
        c.jwt_secret = Err("unset".into());
        let t = token(jsonwebtoken::Algorithm::HS256, SECRET, json!({}));
        assert_eq!(
            authenticate(&c, Some(&bearer(&t)), NOW),
            Err(JwtError::SecretMissing)
        );
    }

    #[test]
    fn claim_checks_with_skew() {
        use JwtClaimsError::*;
        let check = |claims: Value| {
            let t = token(jsonwebtoken::Algorithm::HS256, SECRET, claims);
            authenticate(&cfg(), Some(&bearer(&t)), NOW).map(|r| r.role)
        };
        assert_eq!(
            check(json!({"exp": NOW - 35})),
            Err(JwtError::Claims(Expired))
        );
        assert!(check(json!({"exp": NOW - 25})).is_ok());
        assert_eq!(
            check(json!({"nbf": NOW + 35})),
            Err(JwtError::Claims(NotYetValid))
        );
        assert!(check(json!({"nbf": NOW + 25})).is_ok());
        assert_eq!(
            check(json!({"iat": NOW + 35})),
            Err(JwtError::Claims(IssuedAtFuture))
        );
        assert_eq!(
            check(json!({"exp": "tomorrow"})),
            Err(JwtError::Claims(ExpNotNumber))
        );
        assert!(check(json!({"exp": null})).is_ok());
        assert!(check(json!({"aud": "anything"})).is_ok());
        assert_eq!(
            check(json!({"aud": 5})),
            Err(JwtError::Claims(AudNotStringOrArray))
        );
        let mut c = cfg();
        c.jwt_aud = Some("spec".into());
        let t = token(
            jsonwebtoken::Algorithm::HS256,
            SECRET,
            json!({"aud": "other"}),
        );
        assert_eq!(
            authenticate(&c, Some(&bearer(&t)), NOW),
            Err(JwtError::Claims(NotInAudience))
        );
        let t = token(
            jsonwebtoken::Algorithm::HS256,
            SECRET,
            json!({"aud": ["other", "spec"]}),
        );
        assert!(authenticate(&c, Some(&bearer(&t)), NOW).is_ok());
        let t = token(jsonwebtoken::Algorithm::HS256, SECRET, json!({"aud": []}));
        assert!(authenticate(&c, Some(&bearer(&t)), NOW).is_ok());
    }
}
