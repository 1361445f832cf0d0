//! Tokens for the auth tests: HS256 with the cluster's secret, other secrets and
//! algorithms, and the unsigned `alg: none` form that jsonwebtoken refuses to produce.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// The HS256 secret every test cluster is configured with (`pgrest.jwt_secret`).
pub const JWT_SECRET: &str = "reallyreallyreallyreallyverysafe-pgrest-e2e";

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_secs() as i64
}

/// A token signed with HS256 and [`JWT_SECRET`].
pub fn jwt(claims: Value) -> String {
    jwt_with(JWT_SECRET, "HS256", claims)
}

/// A token with any secret and algorithm: `HS256`, `HS384`, `HS512`, or `none` (no signature,
/// empty third part).
pub fn jwt_with(secret: &str, alg: &str, claims: Value) -> String {
    let algorithm = match alg {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "none" => {
            let header = json!({"alg": "none", "typ": "JWT"});
            return format!(
                "{}.{}.",
                base64url(header.to_string().as_bytes()),
                base64url(claims.to_string().as_bytes())
            );
        }
        other => panic!("jwt_with: unsupported algorithm {other}"),
    };
    encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encoding a JWT")
}

/// `Bearer <token>` for an Authorization header.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Base64url without padding (RFC 7515 §2).
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc4648_vectors() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(b"\xfb\xff"), "-_8");
    }

    #[test]
    fn tokens_have_three_parts() {
        let t = jwt(json!({"role": "web_user"}));
        assert_eq!(t.split('.').count(), 3);
        let n = jwt_with("x", "none", json!({}));
        assert!(n.ends_with('.'));
        assert_eq!(n.split('.').count(), 3);
        assert!(JWT_SECRET.len() >= 32);
    }
}
