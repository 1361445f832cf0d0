//! Tokens from real identity providers: `pgrest.jwt_secret` as a JWKS or a single JWK with
//! RSA, EC (P-256) and Ed25519 public keys and an oct secret, keys chosen by `kid`, each
//! key's `alg` enforced, and the refusals: unknown `kid`, algorithm confusion (an HS token
//! "signed" with the public key), `alg: none`, a forged signature.
//!
//! The keys are generated at test time with the openssl command line; tokens are signed with
//! jsonwebtoken. Clusters `auth_jwks` (a JWKS of four keys) and `auth_jwk` (one EC JWK).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pgrest_e2e::harness::{e2e_root, tail};
use pgrest_e2e::jwt::base64url;
use pgrest_e2e::*;

struct Keys {
    rsa_pem: Vec<u8>,
    rsa_public_pem: Vec<u8>,
    ec_pem: Vec<u8>,
    ed_pem: Vec<u8>,
    rsa_jwk: Value,
    ec_jwk: Value,
    ed_jwk: Value,
}

const OCT_SECRET: &str = "an-oct-key-of-a-jwks-at-least-32-bytes";

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn generate(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let p = path.to_str().unwrap();
    let mut all = vec!["genpkey"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-out", p]);
    openssl(&all);
    path
}

/// The public key of a private key file, DER (SubjectPublicKeyInfo).
fn public_der(path: &Path) -> Vec<u8> {
    openssl(&[
        "pkey",
        "-in",
        path.to_str().unwrap(),
        "-pubout",
        "-outform",
        "DER",
    ])
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = e2e_root().join("jwt-keys");
        std::fs::create_dir_all(&dir).unwrap();
        let rsa = generate(
            &dir,
            "rsa.pem",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        );
        let ec = generate(
            &dir,
            "ec.pem",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        );
        let ed = generate(&dir, "ed.pem", &["-algorithm", "ED25519"]);
        // RSA: the modulus in hex; the exponent openssl uses is 65537.
        let modulus = String::from_utf8(openssl(&[
            "rsa",
            "-in",
            rsa.to_str().unwrap(),
            "-noout",
            "-modulus",
        ]))
        .unwrap();
        let hex = modulus.trim().trim_start_matches("Modulus=");
        let n: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        // EC: the DER ends with the uncompressed point 04 || x || y.
        let ec_der = public_der(&ec);
        let point = &ec_der[ec_der.len() - 65..];
        assert_eq!(point[0], 4);
        // Ed25519: the DER ends with the 32-byte public key.
        let ed_der = public_der(&ed);
        Keys {
            rsa_pem: std::fs::read(&rsa).unwrap(),
            rsa_public_pem: openssl(&["pkey", "-in", rsa.to_str().unwrap(), "-pubout"]),
            ec_pem: std::fs::read(&ec).unwrap(),
            ed_pem: std::fs::read(&ed).unwrap(),
            rsa_jwk: json!({"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig",
                            "n": base64url(&n), "e": "AQAB"}),
            ec_jwk: json!({"kty": "EC", "kid": "ec-1", "crv": "P-256",
                           "x": base64url(&point[1..33]), "y": base64url(&point[33..])}),
            ed_jwk: json!({"kty": "OKP", "kid": "ed-1", "crv": "Ed25519",
                           "x": base64url(&ed_der[ed_der.len() - 32..])}),
        }
    })
}

fn jwks_cluster() -> &'static Cluster {
    let k = keys();
    let jwks = json!({"keys": [
        // A key for encryption is skipped, not an error.
        {"kty": "RSA", "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP",
         "n": k.rsa_jwk["n"], "e": "AQAB"},
        k.rsa_jwk,
        k.ec_jwk,
        k.ed_jwk,
        {"kty": "oct", "kid": "hs-1", "k": base64url(OCT_SECRET.as_bytes())}
    ]});
    Cluster::shared_with("auth_jwks", &[("pgrest.jwt_secret", &jwks.to_string())])
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    let claims = json!({"role": "web_user", "user_id": 42, "exp": now() + 60});
    jsonwebtoken::encode(&header, &claims, key).expect("signing")
}

fn role_of(c: &Cluster, token: &str) -> Response {
    c.get_with("/whoami?select=role", &[("Authorization", &bearer(token))])
}

#[track_caller]
fn accepted(c: &Cluster, token: &str) {
    let r = role_of(c, token);
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"role": "web_user"}]),
        "{}",
        r.describe()
    );
}

#[track_caller]
fn refused(c: &Cluster, token: &str) {
    let r = role_of(c, token);
    assert_error_message(&r, 401, "PGRST301", "No suitable key or wrong key type");
}

#[test]
fn every_key_type_of_a_jwks_verifies_its_tokens() {
    let (c, k) = (jwks_cluster(), keys());
    let rsa = EncodingKey::from_rsa_pem(&k.rsa_pem).unwrap();
    let ec = EncodingKey::from_ec_pem(&k.ec_pem).unwrap();
    let ed = EncodingKey::from_ed_pem(&k.ed_pem).unwrap();
    let oct = EncodingKey::from_secret(OCT_SECRET.as_bytes());
    accepted(c, &sign(Algorithm::RS256, Some("rsa-1"), &rsa));
    accepted(c, &sign(Algorithm::ES256, Some("ec-1"), &ec));
    accepted(c, &sign(Algorithm::EdDSA, Some("ed-1"), &ed));
    accepted(c, &sign(Algorithm::HS256, Some("hs-1"), &oct));
    // Without a kid, every key of the token's kind is tried.
    accepted(c, &sign(Algorithm::RS256, None, &rsa));
    accepted(c, &sign(Algorithm::ES256, None, &ec));
    accepted(c, &sign(Algorithm::HS512, None, &oct));
    // The claims reach SQL as with an HS secret.
    let r = c.get_with(
        "/whoami?select=claims",
        &[(
            "Authorization",
            &bearer(&sign(Algorithm::EdDSA, Some("ed-1"), &ed)),
        )],
    );
    assert_eq!(assert_json_array(&r)[0]["claims"]["user_id"], json!(42));
}

#[test]
fn a_jwks_refuses_what_its_keys_do_not_allow() {
    let (c, k) = (jwks_cluster(), keys());
    let rsa = EncodingKey::from_rsa_pem(&k.rsa_pem).unwrap();
    let ec = EncodingKey::from_ec_pem(&k.ec_pem).unwrap();
    // A kid names one key: another key's kid, or an unknown one, finds none.
    refused(c, &sign(Algorithm::RS256, Some("ec-1"), &rsa));
    refused(c, &sign(Algorithm::RS256, Some("nope"), &rsa));
    // The RSA key is pinned to RS256 by its `alg`.
    refused(c, &sign(Algorithm::PS256, Some("rsa-1"), &rsa));
    // ES384 needs a P-384 key: the P-256 key is not tried.
    let es256 = sign(Algorithm::ES256, Some("ec-1"), &ec);
    let rest = es256.split_once('.').unwrap().1;
    let relabelled = format!(
        "{}.{rest}",
        base64url(br#"{"alg":"ES384","kid":"ec-1","typ":"JWT"}"#)
    );
    refused(c, &relabelled);
    // Algorithm confusion: an HS256 token whose secret is the RSA public key.
    let confused = EncodingKey::from_secret(&k.rsa_public_pem);
    refused(c, &sign(Algorithm::HS256, None, &confused));
    refused(c, &sign(Algorithm::HS256, Some("rsa-1"), &confused));
    // A forged payload under a real signature.
    let good = sign(Algorithm::RS256, Some("rsa-1"), &rsa);
    let parts: Vec<&str> = good.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        base64url(json!({"role": "postgres"}).to_string().as_bytes()),
        parts[2]
    );
    refused(c, &forged);
    // An unsigned token.
    let none = format!(
        "{}.{}.",
        base64url(br#"{"alg":"none","typ":"JWT"}"#),
        base64url(br#"{"role":"web_user"}"#)
    );
    let r = role_of(c, &none);
    assert_error(&r, 401, "PGRST301");
    // The skipped encryption key is reported in the log.
    assert!(
        c.log().contains("key 0 of the JWKS is skipped"),
        "{}",
        tail(&c.log(), 20)
    );
}

#[test]
fn a_single_jwk_is_a_key_too() {
    let k = keys();
    let c = Cluster::shared_with("auth_jwk", &[("pgrest.jwt_secret", &k.ec_jwk.to_string())]);
    let ec = EncodingKey::from_ec_pem(&k.ec_pem).unwrap();
    accepted(c, &sign(Algorithm::ES256, Some("ec-1"), &ec));
    accepted(c, &sign(Algorithm::ES256, None, &ec));
    let rsa = EncodingKey::from_rsa_pem(&k.rsa_pem).unwrap();
    refused(c, &sign(Algorithm::RS256, None, &rsa));
    // An anonymous request is unaffected.
    assert_status(&c.get("/todos?limit=1"), 200);
}

#[test]
fn cached_tokens_follow_new_keys() {
    // A token verified once is cached; after the keys change (SIGHUP) it must be verified
    // again, so a token of the old key is refused at once.
    let c = Cluster::start("auth_jwt_cache", &[]);
    let token = jwt(json!({"role": "web_user", "user_id": 42}));
    for _ in 0..3 {
        accepted(&c, &token);
    }
    c.set_conf(
        "pgrest.jwt_secret",
        "a-completely-different-secret-of-32+-chars",
    );
    c.reload();
    let r = role_of(&c, &token);
    assert_error_message(&r, 401, "PGRST301", "No suitable key or wrong key type");
    // With the cache off, tokens still verify.
    c.set_conf("pgrest.jwt_cache_max_entries", "0");
    c.reset_conf("pgrest.jwt_secret");
    c.reload();
    for _ in 0..3 {
        accepted(&c, &token);
    }
}
