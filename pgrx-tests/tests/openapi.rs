//! `GET /`: the OpenAPI description of the exposed schema, as PostgREST serves it (Swagger
//! 2.0), and as OpenAPI 3.1 on request. Both documents are checked by
//! openapi-spec-validator, and Swagger UI renders the 2.0 one in headless Chromium (see
//! pgrx-tests/openapi/; .ci/deps.sh installs the tools under target/openapi-tools).
//!
//! Clusters: `openapi` (defaults: follow-privileges) and `openapi_modes`
//! (ignore-privileges, a proxy URI, the JWT security scheme). Fixtures:
//! pgrx-tests/fixtures/60_openapi.sql. Expected values follow PostgREST's
//! Response/OpenAPI.hs and test/spec/Feature/OpenApi/*.

use std::path::PathBuf;
use std::process::Command;

use pgrest_e2e::harness::{e2e_root, workspace_dir};
use pgrest_e2e::*;

fn cluster() -> &'static Cluster {
    Cluster::shared("openapi")
}

fn modes() -> &'static Cluster {
    Cluster::shared_with(
        "openapi_modes",
        &[
            ("pgrest.openapi_mode", "ignore-privileges"),
            (
                "pgrest.openapi_server_proxy_uri",
                "https://api.example.com:8443/v1",
            ),
            ("pgrest.openapi_security_active", "on"),
        ],
    )
}

const OAS31: &str = "application/vnd.oai.openapi+json;version=3.1";

fn tools() -> PathBuf {
    workspace_dir().join("target").join("openapi-tools")
}

#[track_caller]
fn document(c: &Cluster, accept: &str) -> Value {
    let r = c.get_with("/", &[("Accept", accept)]);
    assert_status(&r, 200);
    r.json()
}

/// Runs openapi-spec-validator on a document; the error text when it is invalid.
fn validate(doc: &Value, name: &str) -> Result<(), String> {
    let dir = e2e_root().join("openapi-documents");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = Command::new(tools().join("venv/bin/openapi-spec-validator"))
        .arg(&file)
        .output()
        .expect("openapi-spec-validator runs (installed by .ci/deps.sh)");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn root_serves_swagger_2_with_the_openapi_media_type() {
    let c = cluster();
    for accept in ["application/openapi+json", "application/json", "*/*"] {
        let r = c.get_with("/", &[("Accept", accept)]);
        assert_status(&r, 200);
        assert_header(
            &r,
            "Content-Type",
            "application/openapi+json; charset=utf-8",
        );
        assert_eq!(r.json()["swagger"], "2.0", "Accept: {accept}");
    }
    let r = c.head("/", &[]);
    assert_status(&r, 200);
    assert!(r.body.is_empty());
    assert_header(
        &r,
        "Content-Type",
        "application/openapi+json; charset=utf-8",
    );
    // Only OpenAPI media types are served at the root, and OpenAPI only at the root.
    assert_error(&c.get_with("/", &[("Accept", "text/csv")]), 406, "PGRST107");
    assert_status(
        &c.get_with("/oa_items", &[("Accept", "application/openapi+json")]),
        406,
    );
}

#[test]
fn tables_have_paths_definitions_and_key_notes() {
    let d = document(cluster(), "application/openapi+json");
    let items = &d["paths"]["/oa_items"];
    for method in ["get", "post", "patch", "delete"] {
        assert_eq!(items[method]["tags"], json!(["oa_items"]), "{method}");
    }
    // The first line of the comment is the summary, the rest the description.
    assert_eq!(items["get"]["summary"], "Items");
    assert_eq!(items["get"]["description"], "Everything there is to sell.");
    assert_eq!(
        items["get"]["responses"]["200"]["schema"]["items"]["$ref"],
        "#/definitions/oa_items"
    );
    assert_eq!(
        items["post"]["parameters"][0]["$ref"],
        "#/parameters/body.oa_items"
    );
    assert_eq!(
        items["get"]["parameters"][0]["$ref"],
        "#/parameters/rowFilter.oa_items.id"
    );

    let def = &d["definitions"]["oa_items"];
    assert_eq!(def["description"], "Items\nEverything there is to sell.");
    assert_eq!(def["required"], json!(["id", "code"]));
    let p = &def["properties"];
    assert_eq!(
        p["id"],
        json!({"type": "integer", "format": "int64",
               "description": "Note:\nThis is a Primary Key.<pk/>"})
    );
    assert_eq!(
        p["code"],
        json!({"type": "string", "format": "character varying", "maxLength": 12,
               "default": "new", "description": "The stock code"})
    );
    assert_eq!(p["color"]["enum"], json!(["red", "green", "blue"]));
    assert_eq!(
        p["kind_id"]["description"],
        "Note:\nThis is a Foreign Key to `oa_kinds.id`.<fk table='oa_kinds' column='id'/>"
    );
    assert_eq!(
        p["tags"],
        json!({"type": "array", "format": "text[]", "items": {"type": "string"}})
    );
    // JSON has no type: any value.
    assert_eq!(p["doc"], json!({"format": "jsonb"}));
    assert_eq!(
        d["parameters"]["rowFilter.oa_items.code"],
        json!({"name": "code", "in": "query", "required": false, "type": "string",
               "description": "The stock code"})
    );
}

#[test]
fn functions_have_rpc_paths_by_volatility() {
    let d = document(cluster(), "application/openapi+json");
    let add = &d["paths"]["/rpc/oa_add"];
    assert_eq!(add["get"]["summary"], "Adds two numbers");
    assert_eq!(
        add["get"]["parameters"],
        json!([
            {"name": "a", "in": "query", "required": true, "type": "integer", "format": "int32"},
            {"name": "b", "in": "query", "required": false, "type": "integer", "format": "int32"}
        ])
    );
    assert_eq!(
        add["post"]["parameters"][0]["schema"]["required"],
        json!(["a"])
    );
    let touch = &d["paths"]["/rpc/oa_touch"];
    assert!(touch["get"].is_null(), "a volatile function is POST only");
    assert!(touch["post"].is_object());
}

#[test]
fn follow_privileges_lists_only_what_the_role_may_use() {
    let d = document(cluster(), "application/openapi+json");
    assert!(d["paths"]["/oa_items"].is_object());
    assert!(d["paths"]["/oa_hidden"].is_null());
    assert!(d["definitions"]["oa_hidden"].is_null());
    assert!(d["paths"]["/rpc/oa_secret"].is_null());
    assert!(d["paths"]["/rpc/oa_add"].is_object());
    // ignore-privileges lists everything of the schema.
    let d = document(modes(), "application/openapi+json");
    assert!(d["paths"]["/oa_hidden"].is_object());
    assert!(d["paths"]["/rpc/oa_secret"].is_object());
}

#[test]
fn proxy_uri_and_security_scheme() {
    let d = document(modes(), "application/openapi+json");
    assert_eq!(d["host"], "api.example.com:8443");
    assert_eq!(d["basePath"], "/v1");
    assert_eq!(d["schemes"], json!(["https"]));
    assert_eq!(d["securityDefinitions"]["JWT"]["in"], "header");
    assert_eq!(d["security"], json!([{"JWT": []}]));
    let d = document(modes(), OAS31);
    assert_eq!(
        d["servers"],
        json!([{"url": "https://api.example.com:8443/v1"}])
    );
    assert_eq!(
        d["components"]["securitySchemes"]["JWT"]["scheme"],
        "bearer"
    );
    // Without the settings: the server's own address, no security.
    let d = document(cluster(), "application/openapi+json");
    assert_eq!(d["host"], format!("127.0.0.1:{}", cluster().http_port));
    assert!(d["security"].is_null());
}

#[test]
fn openapi_3_1_on_request_with_its_media_type() {
    let c = cluster();
    let r = c.get_with("/", &[("Accept", OAS31)]);
    assert_status(&r, 200);
    assert_header(&r, "Content-Type", &format!("{OAS31}; charset=utf-8"));
    let d = r.json();
    assert_eq!(d["openapi"], "3.1.0");
    assert_eq!(
        d["paths"]["/oa_items"]["post"]["requestBody"]["$ref"],
        "#/components/requestBodies/oa_items"
    );
    assert_eq!(
        d["components"]["schemas"]["oa_items"]["properties"]["code"]["maxLength"],
        12
    );
    assert_eq!(
        d["paths"]["/rpc/oa_add"]["get"]["parameters"][1],
        json!({"name": "b", "in": "query", "required": false,
               "schema": {"type": "integer", "format": "int32"}})
    );
}

#[test]
fn both_documents_validate() {
    for (c, name) in [(cluster(), "default"), (modes(), "modes")] {
        let v2 = document(c, "application/openapi+json");
        validate(&v2, &format!("{name}-2.0")).unwrap_or_else(|e| panic!("2.0 ({name}): {e}"));
        let v31 = document(c, OAS31);
        validate(&v31, &format!("{name}-3.1")).unwrap_or_else(|e| panic!("3.1 ({name}): {e}"));
    }
    // The validator does reject a broken document (the check is not vacuous).
    let mut broken = document(cluster(), OAS31);
    broken["paths"]["/oa_items"]["get"]["responses"]["200"] = json!({"content": 1});
    assert!(validate(&broken, "broken").is_err());
}

#[test]
fn swagger_ui_renders_the_operations_in_a_browser() {
    let c = cluster();
    let screenshot = workspace_dir().join("target").join("swagger-ui.png");
    let out = Command::new("node")
        .arg(workspace_dir().join("pgrx-tests/openapi/swagger_ui.mjs"))
        .arg(tools())
        .arg(format!("{}/", c.base_url()))
        .arg("/oa_items")
        .arg(&screenshot)
        .output()
        .expect("node runs (installed by .ci/deps.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Swagger UI did not render /oa_items: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).expect("the script prints JSON");
    let ops: Vec<(String, String)> = result["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["method"].as_str().unwrap_or("").to_string(),
                o["path"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(
            ops.contains(&(method.to_string(), "/oa_items".to_string())),
            "{method} /oa_items not rendered: {ops:?}"
        );
    }
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000);
}

#[test]
fn disabled_mode_answers_404() {
    // Its own cluster: the mode is read at startup of the request's configuration.
    let c = Cluster::shared_with("openapi_disabled", &[("pgrest.openapi_mode", "disabled")]);
    let e = assert_error(&c.get("/"), 404, "PGRST126");
    assert_eq!(e["message"], "Root endpoint metadata is disabled");
    // Everything else still works.
    assert_status(&c.get("/oa_items"), 200);
}
