//! Authentication and authorisation as PostgREST does them: no token → the anonymous role,
//! HS256 JWTs → their `role` claim, row-level security on the claims, the exact JWT error
//! codes, messages and WWW-Authenticate headers, and the per-request settings SQL can read.

use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("auth")
}

fn get_as(path: &str, token: &str) -> Response {
    cluster().get_with(path, &[("Authorization", &bearer(token))])
}

#[track_caller]
fn todo_ids(r: &Response) -> Vec<i64> {
    ids(&assert_json_array(r))
}

/// A 401 from a token that could not be decoded or validated (PGRST301/PGRST303): the body,
/// and `WWW-Authenticate: Bearer error="invalid_token", error_description="<message>"`.
#[track_caller]
fn assert_invalid_token(r: &Response, code: &str, message: &str) -> Value {
    let body = assert_error_message(r, 401, code, message);
    assert_eq!(body["hint"], Value::Null, "{}", r.describe());
    assert_header(
        r,
        "WWW-Authenticate",
        &format!("Bearer error=\"invalid_token\", error_description=\"{message}\""),
    );
    body
}

fn user_token(user_id: i64) -> String {
    jwt(json!({"role": "web_user", "user_id": user_id}))
}

// ---------------------------------------------------------------------------------------------
// Roles and row-level security

#[test]
fn no_token_is_the_anonymous_role_and_sees_every_todo() {
    let c = cluster();
    assert_eq!(todo_ids(&c.get("/todos?order=id")), [1, 2, 3, 4]);
    let who = assert_json_array(&c.get("/whoami"));
    assert_eq!(who.len(), 1);
    assert_eq!(who[0]["current_user"], "web_anon");
    assert_eq!(who[0]["role"], "web_anon");
    assert_eq!(who[0]["claims"], json!({"role": "web_anon"}));
}

#[test]
fn web_user_sees_only_its_own_todos() {
    assert_eq!(
        todo_ids(&get_as("/todos?order=id", &user_token(42))),
        [3, 4]
    );
    assert_eq!(todo_ids(&get_as("/todos?order=id", &user_token(1))), [1, 2]);
    let r = get_as("/todos", &user_token(7));
    assert_eq!(todo_ids(&r), Vec::<i64>::new());
    assert_header(&r, "Content-Range", "*/*");
    // Filters apply on top of the policy.
    assert_eq!(
        todo_ids(&get_as("/todos?done=is.false", &user_token(42))),
        [4]
    );
    let r = get_as("/todos?order=id", &user_token(42));
    assert_header(&r, "Content-Range", "0-1/*");
    // The anonymous role still sees everything afterwards (nothing leaks between requests).
    assert_eq!(todo_ids(&cluster().get("/todos?order=id")), [1, 2, 3, 4]);
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let token = user_token(42);
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let r = cluster().get_with(
            "/todos?order=id",
            &[("Authorization", &format!("{scheme} {token}"))],
        );
        assert_eq!(todo_ids(&r), [3, 4], "scheme {scheme}");
    }
}

#[test]
fn row_level_security_also_checks_writes() {
    // user 42 may not create a todo owned by user 1: 42501 as an authenticated role → 403.
    let r = cluster().post_json(
        "/todos",
        &json!({"task": "e2e: not mine", "user_id": 1}),
        &[("Authorization", &bearer(&user_token(42)))],
    );
    let body = assert_error(&r, 403, "42501");
    assert_eq!(
        body["message"],
        "new row violates row-level security policy for table \"todos\""
    );
    assert_no_header(&r, "WWW-Authenticate");
    assert_eq!(
        cluster().psql("select count(*) from api.todos where task = 'e2e: not mine'"),
        "0"
    );
    // And may not touch rows it cannot see: the update matches nothing.
    let r = cluster().patch_json(
        "/todos?id=eq.1",
        &json!({"done": true}),
        &[("Authorization", &bearer(&user_token(42)))],
    );
    assert_status(&r, 204);
    assert_header(&r, "Content-Range", "*/*");
    assert_eq!(
        cluster().psql("select done from api.todos where id = 1"),
        "f"
    );
}

#[test]
fn a_token_without_a_role_claim_is_anonymous() {
    let r = get_as("/todos?order=id", &jwt(json!({"user_id": 42})));
    assert_eq!(todo_ids(&r), [1, 2, 3, 4]);
    let who = assert_json_array(&get_as("/whoami", &jwt(json!({"user_id": 42, "sub": "x"}))));
    assert_eq!(who[0]["current_user"], "web_anon");
    assert_eq!(
        who[0]["claims"],
        json!({"user_id": 42, "sub": "x", "role": "web_anon"})
    );
}

#[test]
fn a_role_that_does_not_exist_is_401() {
    let r = get_as("/todos", &jwt(json!({"role": "nobody_here"})));
    let body = assert_error(&r, 401, "22023");
    assert_eq!(body["message"], "role \"nobody_here\" does not exist");
    assert_header(&r, "WWW-Authenticate", "Bearer");
}

#[test]
fn a_role_the_authenticator_cannot_become_is_403() {
    let r = get_as("/todos", &jwt(json!({"role": "web_stranger"})));
    let body = assert_error(&r, 403, "42501");
    assert_eq!(
        body["message"],
        "permission denied to set role \"web_stranger\""
    );
    assert_no_header(&r, "WWW-Authenticate");
}

#[test]
fn privileges_follow_the_role() {
    // secrets: web_user may read, web_anon may not.
    let r = cluster().get("/secrets");
    assert_error_message(&r, 401, "42501", "permission denied for table secrets");
    assert_header(&r, "WWW-Authenticate", "Bearer");
    let r = get_as("/secrets", &user_token(42));
    assert_eq!(
        Value::Array(assert_json_array(&r)),
        json!([{"id": 1, "secret": "the cake is a lie"}])
    );
    // Writing is forbidden to web_user too: authenticated → 403, no WWW-Authenticate.
    let r = cluster().post_json(
        "/secrets",
        &json!({"id": 2, "secret": "x"}),
        &[("Authorization", &bearer(&user_token(42)))],
    );
    assert_error_message(&r, 403, "42501", "permission denied for table secrets");
    assert_no_header(&r, "WWW-Authenticate");
}

// ---------------------------------------------------------------------------------------------
// JWT validation errors

#[test]
fn a_token_signed_with_another_secret_is_rejected() {
    let token = jwt_with(
        "another-secret-another-secret-1234567",
        "HS256",
        json!({"role": "web_user", "user_id": 42}),
    );
    let r = get_as("/todos", &token);
    let body = assert_invalid_token(&r, "PGRST301", "No suitable key or wrong key type");
    assert_eq!(
        body["details"],
        "None of the keys was able to decode the JWT"
    );
}

#[test]
fn a_tampered_payload_is_rejected() {
    let good = user_token(42);
    let parts: Vec<&str> = good.split('.').collect();
    let forged_claims = base64url_json(&json!({"role": "web_user", "user_id": 1}));
    let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
    let r = get_as("/todos", &forged);
    let body = assert_error(&r, 401, "PGRST301");
    assert!(
        r.header("WWW-Authenticate")
            .unwrap_or("")
            .starts_with("Bearer error=\"invalid_token\""),
        "{}",
        r.describe()
    );
    assert_ne!(body["message"], "");
}

fn base64url_json(v: &Value) -> String {
    pgrest_e2e::jwt::base64url(v.to_string().as_bytes())
}

#[test]
fn an_expired_token_is_rejected() {
    let token = jwt(json!({"role": "web_user", "user_id": 42, "exp": now() - 60}));
    let r = get_as("/todos", &token);
    let body = assert_invalid_token(&r, "PGRST303", "JWT expired");
    assert_eq!(body["details"], Value::Null);
}

#[test]
fn thirty_seconds_of_clock_skew_are_accepted() {
    let t = now();
    for claims in [
        json!({"role": "web_user", "user_id": 42, "exp": t - 10}),
        json!({"role": "web_user", "user_id": 42, "nbf": t + 10}),
        json!({"role": "web_user", "user_id": 42, "iat": t + 10}),
        json!({"role": "web_user", "user_id": 42, "exp": t + 3600, "iat": t, "nbf": t}),
    ] {
        let r = get_as("/todos?order=id", &jwt(claims.clone()));
        assert_eq!(todo_ids(&r), [3, 4], "claims {claims}");
    }
}

#[test]
fn tokens_not_yet_valid_or_issued_in_the_future_are_rejected() {
    let t = now();
    let r = get_as("/todos", &jwt(json!({"role": "web_user", "nbf": t + 60})));
    assert_invalid_token(&r, "PGRST303", "JWT not yet valid");
    let r = get_as("/todos", &jwt(json!({"role": "web_user", "iat": t + 60})));
    assert_invalid_token(&r, "PGRST303", "JWT issued at future");
}

#[test]
fn time_claims_must_be_numbers() {
    for claim in ["exp", "nbf", "iat"] {
        let r = get_as("/todos", &jwt(json!({"role": "web_user", claim: "soon"})));
        assert_invalid_token(
            &r,
            "PGRST303",
            &format!("The JWT '{claim}' claim must be a number"),
        );
    }
}

#[test]
fn an_unsigned_alg_none_token_is_rejected() {
    let token = jwt_with("", "none", json!({"role": "web_user", "user_id": 42}));
    let r = get_as("/todos", &token);
    assert_invalid_token(&r, "PGRST301", "Wrong or unsupported encoding algorithm");
}

#[test]
fn a_token_with_the_wrong_number_of_parts_is_rejected() {
    let good = user_token(42);
    let two: Vec<&str> = good.split('.').take(2).collect();
    let r = get_as("/todos", &two.join("."));
    assert_invalid_token(&r, "PGRST301", "Expected 3 parts in JWT; got 2");
    let r = get_as("/todos", &format!("{good}.extra"));
    assert_invalid_token(&r, "PGRST301", "Expected 3 parts in JWT; got 4");
    let r = get_as("/todos", "justonepart");
    assert_invalid_token(&r, "PGRST301", "Expected 3 parts in JWT; got 1");
}

#[test]
fn a_garbage_token_with_three_parts_is_rejected() {
    let r = get_as("/todos", "quifquirndsjagnrgniur.fonvoienqhhdj.iuqvnvhojah");
    assert_invalid_token(&r, "PGRST301", "JWT cryptographic operation failed");
}

// ---------------------------------------------------------------------------------------------
// Per-request settings visible to SQL

#[test]
fn request_settings_are_visible_to_sql() {
    let claims = json!({"role": "web_user", "user_id": 42, "email": "zaphod@example.com"});
    let token = jwt(claims.clone());
    let r = cluster().get_with(
        "/whoami",
        &[
            ("Authorization", &bearer(&token)),
            ("X-E2E-Marker", "Marker Value"),
            ("Cookie", "session=abc"),
        ],
    );
    let rows = assert_json_array(&r);
    assert_eq!(rows.len(), 1);
    let who = &rows[0];
    assert_eq!(who["current_user"], "web_user");
    assert_eq!(who["role"], "web_user");
    assert_eq!(who["method"], "GET");
    assert_eq!(who["path"], "/whoami");
    assert_eq!(who["claims"], claims);
    let headers = who["headers"]
        .as_object()
        .unwrap_or_else(|| panic!("headers: {who}"));
    assert_eq!(
        headers.get("x-e2e-marker"),
        Some(&json!("Marker Value")),
        "{who}"
    );
    assert!(headers.contains_key("authorization"), "{who}");
    assert!(
        headers.keys().all(|k| *k == k.to_lowercase()),
        "names are lower-cased: {who}"
    );
    assert!(
        !headers.contains_key("cookie"),
        "Cookie is not in request.headers: {who}"
    );
    // search_path is the exposed schema first.
    let search_path = who["search_path"].as_str().unwrap_or("");
    assert!(
        search_path.starts_with("\"api\"") || search_path.starts_with("api"),
        "{who}"
    );
}

#[test]
fn request_settings_follow_each_request() {
    let c = cluster();
    let anon = &assert_json_array(&c.get("/whoami?select=method,path,claims"))[0];
    assert_eq!(
        anon,
        &json!({"method": "GET", "path": "/whoami", "claims": {"role": "web_anon"}})
    );
    let user = &assert_json_array(&get_as("/whoami?select=role,claims", &user_token(1)))[0];
    assert_eq!(
        user,
        &json!({"role": "web_user", "claims": {"role": "web_user", "user_id": 1}})
    );
    // Nothing carries over to the next anonymous request.
    let again = &assert_json_array(&c.get("/whoami?select=role,claims"))[0];
    assert_eq!(
        again,
        &json!({"role": "web_anon", "claims": {"role": "web_anon"}})
    );
}

// ---------------------------------------------------------------------------------------------
// Configurations other than the default (a cluster each)

#[test]
fn without_an_anonymous_role_a_token_is_required() {
    let c = Cluster::start("auth_no_anon", &[("pgrest.db_anon_role", UNSET)]);
    let r = c.get("/todos");
    assert_plain_error(&r, 401, "PGRST302", "Anonymous access is disabled");
    assert_header(&r, "WWW-Authenticate", "Bearer");
    // Tokens still work, with RLS.
    let r = c.get_with(
        "/todos?order=id",
        &[("Authorization", &bearer(&user_token(42)))],
    );
    assert_eq!(todo_ids(&r), [3, 4]);
    // A token without a role has nothing to fall back on.
    let r = c.get_with(
        "/todos",
        &[("Authorization", &bearer(&jwt(json!({"user_id": 42}))))],
    );
    assert_plain_error(&r, 401, "PGRST302", "Anonymous access is disabled");
}

#[test]
fn the_role_claim_key_is_configurable() {
    let c = Cluster::start(
        "auth_role_claim",
        &[("pgrest.jwt_role_claim_key", "$.app_metadata.role")],
    );
    let nested = jwt(json!({"app_metadata": {"role": "web_user"}, "user_id": 42}));
    let r = c.get_with("/todos?order=id", &[("Authorization", &bearer(&nested))]);
    assert_eq!(todo_ids(&r), [3, 4]);
    // The top-level "role" is now just another claim: the request is anonymous.
    let top = jwt(json!({"role": "web_user", "user_id": 42}));
    let r = c.get_with("/todos?order=id", &[("Authorization", &bearer(&top))]);
    assert_eq!(todo_ids(&r), [1, 2, 3, 4]);

    // Reloadable, and an RFC 9535 JSONPath (PostgREST 16): a Keycloak-style list of roles
    // filtered by equality or by a regular expression.
    let keycloak = jwt(json!({
        "realm_access": {"roles": ["offline_access", "web_user"]},
        "https://example.com/role": "web_user",
        "user_id": 42
    }));
    let with_key = |key: &str| {
        c.set_conf("pgrest.jwt_role_claim_key", key);
        c.reload();
    };
    for key in [
        "$.realm_access.roles[?(@ == 'web_user')]",
        "$.realm_access.roles[?search(@, '^web_')]",
        "$['https://example.com/role']",
        // The older JSPath syntax still works (PostgREST deprecates it; a warning is logged).
        ".realm_access.roles[?(@ ^== \"web\")]",
        ".\"https://example.com/role\"",
    ] {
        with_key(key);
        let r = c.get_with("/todos?order=id", &[("Authorization", &bearer(&keycloak))]);
        assert_eq!(todo_ids(&r), [3, 4], "{key}");
    }
    assert!(
        c.log().contains("uses the older JSPath syntax"),
        "{}",
        pgrest_e2e::harness::tail(&c.log(), 20)
    );

    // A key that does not parse: requests with a token are refused (a role read from the
    // wrong place is worse than none), anonymous ones are served.
    with_key("$.role;;x");
    let r = c.get_with("/todos?order=id", &[("Authorization", &bearer(&keycloak))]);
    let body = assert_error(&r, 500, "PGRST300");
    assert_eq!(body["message"], "Server's JWT role claim key is invalid");
    assert!(
        body["details"]
            .as_str()
            .unwrap_or_default()
            .starts_with("failed to parse role-claim-key value ($.role;;x)"),
        "{body}"
    );
    assert_eq!(todo_ids(&c.get("/todos?order=id")), [1, 2, 3, 4]);
}
