//! The operator's surface: the admin server (`/live`, `/ready`, `/metrics`, validated with
//! a Prometheus text-format parser), the access log and `pgrest.log_query` in PostgreSQL's
//! log, and the request a worker runs shown in `pg_stat_activity`.
//!
//! Behaviour follows PostgREST's docs (references/admin_server.rst, observability.rst,
//! configuration.rst: log-level, log-query) and test/io/test_admin.py.

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{PrometheusType, PrometheusValue};
use pgrest_e2e::harness::{free_port, tail};
use pgrest_e2e::http::try_request;
use pgrest_e2e::*;

/// A cluster with the admin server on its own port, and the port.
fn cluster() -> (&'static Cluster, u16) {
    static PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    let port = *PORT.get_or_init(free_port);
    let c = Cluster::shared_with(
        "operations",
        &[
            ("pgrest.admin_server_port", &port.to_string()),
            ("pgrest.admin_server_host", "127.0.0.1"),
            ("pgrest.log_level", "info"),
            ("pgrest.log_query", "on"),
        ],
    );
    (c, port)
}

fn admin(port: u16, method: &str, path: &str) -> Response {
    try_request(port, method, path, &[], None)
        .unwrap_or_else(|e| panic!("{method} {path} on the admin port: {e}"))
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// The metrics tests' own cluster (other tests' requests would change the counts).
fn metrics_cluster() -> (&'static Cluster, u16) {
    static PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    let port = *PORT.get_or_init(free_port);
    let c = Cluster::shared_with(
        "operations_metrics",
        &[("pgrest.admin_server_port", &port.to_string())],
    );
    (c, port)
}

/// `/metrics`, parsed: (family, labels) → value, with histograms as their count.
struct Metrics {
    text: String,
    samples: HashMap<(String, Vec<(String, String)>), f64>,
    types: HashMap<String, PrometheusType>,
}

impl Metrics {
    fn fetch(port: u16) -> Metrics {
        let r = admin(port, "GET", "/metrics");
        assert_status(&r, 200);
        let content_type = r.header("Content-Type").unwrap_or_default().to_string();
        assert!(
            content_type.starts_with("text/plain") && content_type.contains("version=0.0.4"),
            "{content_type}"
        );
        let text = r.text();
        let parsed = parse_prometheus(&text)
            .unwrap_or_else(|e| panic!("not the Prometheus text format: {e:?}\n{text}"));
        let mut samples = HashMap::new();
        let mut types = HashMap::new();
        for (name, family) in &parsed.families {
            types.insert(name.clone(), family.family_type.clone());
            for sample in family.iter_samples() {
                let mut labels: Vec<(String, String)> = sample
                    .get_labelset()
                    .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                labels.sort();
                let value = match &sample.value {
                    PrometheusValue::Counter(c) => c.value.as_f64(),
                    PrometheusValue::Gauge(g) | PrometheusValue::Unknown(g) => g.as_f64(),
                    PrometheusValue::Histogram(h) => {
                        // Cumulative buckets that never decrease, the last one +Inf and
                        // equal to the count.
                        let counts: Vec<f64> = h.buckets.iter().map(|b| b.count.as_f64()).collect();
                        assert!(
                            counts.windows(2).all(|w| w[0] <= w[1]),
                            "{name}: {counts:?}"
                        );
                        let last = h.buckets.last().expect("buckets");
                        assert!(last.upper_bound.is_infinite(), "{name}: no +Inf bucket");
                        assert_eq!(Some(last.count.as_f64() as u64), h.count, "{name}");
                        h.count.unwrap_or_default() as f64
                    }
                    PrometheusValue::Summary(_) => panic!("{name}: unexpected summary"),
                };
                samples.insert((name.clone(), labels), value);
            }
        }
        Metrics {
            text,
            samples,
            types,
        }
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        *self
            .samples
            .get(&(name.to_string(), labels.clone()))
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in\n{}", self.text))
    }

    fn requests(&self, method: &str, status: &str) -> f64 {
        self.samples
            .get(&(
                "pgrst_http_requests_total".to_string(),
                vec![
                    ("method".to_string(), method.to_string()),
                    ("status".to_string(), status.to_string()),
                ],
            ))
            .copied()
            .unwrap_or(0.0)
    }

    fn all_requests(&self) -> f64 {
        self.samples
            .iter()
            .filter(|((name, _), _)| name == "pgrst_http_requests_total")
            .map(|(_, v)| v)
            .sum()
    }
}

#[test]
fn live_and_ready_answer_with_empty_bodies() {
    let (_, port) = cluster();
    for (method, path, status) in [
        ("GET", "/live", 200),
        ("HEAD", "/live", 200),
        ("GET", "/ready", 200),
        ("HEAD", "/ready", 200),
        ("GET", "/nope", 404),
        ("GET", "/todos", 404),
    ] {
        let r = admin(port, method, path);
        assert_status(&r, status);
        assert!(r.body.is_empty(), "{method} {path}: {}", r.text());
    }
}

#[test]
fn metrics_count_requests_by_method_and_status_with_a_latency_histogram() {
    let (c, port) = metrics_cluster();
    let before = Metrics::fetch(port);
    for _ in 0..3 {
        assert_status(&c.get("/todos?select=id&limit=1"), 200);
    }
    assert_status(&c.get("/no_such_table"), 404);
    assert_status(&c.request("DELETE", "/todos?id=eq.-1", &[], None), 204);
    let r = c.request("BREW", "/todos", &[], None);
    let after = Metrics::fetch(port);

    // The JWT test beside this one also reads.
    assert!(after.requests("GET", "200") - before.requests("GET", "200") >= 3.0);
    assert_eq!(
        after.requests("GET", "404") - before.requests("GET", "404"),
        1.0
    );
    assert_eq!(
        after.requests("DELETE", "204") - before.requests("DELETE", "204"),
        1.0
    );
    let brew = r.status.to_string();
    assert_eq!(
        after.requests("OTHER", &brew) - before.requests("OTHER", &brew),
        1.0
    );
    // Every request is in the histogram once; the counters and the histogram agree.
    let histogram = "pgrst_http_request_duration_seconds";
    assert!(matches!(after.types[histogram], PrometheusType::Histogram));
    assert_eq!(after.get(histogram, &[]), after.all_requests());
    assert!(after.all_requests() - before.all_requests() >= 6.0);

    assert!(after.get("pgrst_schema_cache_loads_total", &[("status", "SUCCESS")]) >= 1.0);
    assert_eq!(
        after.get("pgrst_schema_cache_loads_total", &[("status", "FAIL")]),
        0.0
    );
    assert!(after.get("pgrst_schema_cache_query_time_seconds", &[]) > 0.0);
    let workers: f64 = c.psql("show pgrest.workers").parse().unwrap();
    assert_eq!(after.get("pgrst_db_pool_max", &[]), workers);
    let idle = after.get("pgrst_db_pool_available", &[]);
    let busy = after.get("pgrst_db_pool_busy", &[]);
    assert!(
        idle + busy <= workers && idle >= 1.0,
        "{idle} idle, {busy} busy"
    );
    assert_eq!(after.get("pgrst_db_pool_waiting", &[]), 0.0);
    assert_eq!(after.get("pgrst_db_pool_timeouts_total", &[]), 0.0);
    for (name, kind) in [
        ("pgrst_http_requests_total", "counter"),
        ("pgrst_schema_cache_loads_total", "counter"),
        ("pgrst_db_pool_available", "gauge"),
        ("pgrst_jwt_cache_hits_total", "counter"),
    ] {
        let t = format!("{:?}", after.types[name]).to_lowercase();
        assert_eq!(t, kind, "{name}");
    }
}

#[test]
fn metrics_count_jwt_cache_lookups_and_hits() {
    let (c, port) = metrics_cluster();
    let before = Metrics::fetch(port);
    let token = bearer(&jwt(
        json!({"role": "web_user", "user_id": 1, "nonce": "metrics"}),
    ));
    for _ in 0..3 {
        let r = c.get_with("/todos?select=id&limit=1", &[("Authorization", &token)]);
        assert_status(&r, 200);
    }
    let after = Metrics::fetch(port);
    let delta = |name: &str| after.get(name, &[]) - before.get(name, &[]);
    // A request another worker runs is verified again there (from the cache).
    let lookups = delta("pgrst_jwt_cache_requests_total");
    assert!((3.0..=6.0).contains(&lookups), "{lookups} lookups");
    // Each worker's HTTP thread has its own cache: at most one miss per worker.
    let workers: f64 = c.psql("show pgrest.workers").parse().unwrap();
    let hits = delta("pgrst_jwt_cache_hits_total");
    assert!(
        hits >= lookups - workers && hits < lookups,
        "{hits} hits of {lookups}"
    );
    assert_eq!(delta("pgrst_jwt_cache_evictions_total"), 0.0);
}

#[test]
fn the_access_log_and_the_query_log_go_to_postgresqls_log() {
    let (c, _) = cluster();
    let r = c.get_with(
        "/todos?select=id&id=eq.1&order=id",
        &[
            ("User-Agent", "ops-test/1.0 \"quoted\""),
            ("Referer", "http://x/"),
        ],
    );
    assert_status(&r, 200);
    let token = bearer(&jwt(json!({"role": "web_user", "user_id": 1})));
    let r = c.get_with("/no_such_table_ops", &[("Authorization", &token)]);
    assert_status(&r, 404);
    let size = c.get("/todos?select=id&id=eq.1&order=id").body.len();
    wait_until("the access lines", Duration::from_secs(10), || {
        c.log().contains("\"GET /no_such_table_ops HTTP/1.1\" 404")
    });
    let log = c.log();
    let line = log
        .lines()
        .find(|l| l.contains("ops-test/1.0"))
        .unwrap_or_else(|| panic!("no access line:\n{}", tail(&log, 30)));
    assert!(
        line.contains(&format!(
            "pgrest: 127.0.0.1 - web_anon \"GET /todos?select=id&id=eq.1&order=id HTTP/1.1\" 200 {size} \"http://x/\" \"ops-test/1.0 \\\"quoted\\\"\" "
        )),
        "{line}"
    );
    assert!(line.trim_end().ends_with(" ms"), "{line}");
    assert!(
        log.contains("pgrest: 127.0.0.1 - web_user \"GET /no_such_table_ops HTTP/1.1\" 404"),
        "{}",
        tail(&log, 30)
    );
    // log_query: the statement of the request, with its parameters as placeholders.
    let query = log
        .lines()
        .find(|l| {
            l.contains("pgrest: query: ") && l.contains("\"api\".\"todos\"") && l.contains("$1")
        })
        .unwrap_or_else(|| panic!("no query line:\n{}", tail(&log, 30)));
    assert!(query.contains("\"id\" = $1"), "{query}");
}

#[test]
fn log_level_warn_logs_client_and_server_errors_only() {
    let c = Cluster::start(
        "operations_warn",
        &[("pgrest.log_level", "warn"), ("pgrest.log_query", "off")],
    );
    assert_status(
        &c.get_with("/todos?select=id", &[("User-Agent", "warn-ok")]),
        200,
    );
    assert_status(
        &c.get_with("/nope_warn", &[("User-Agent", "warn-404")]),
        404,
    );
    wait_until("the 404 line", Duration::from_secs(10), || {
        c.log().contains("warn-404")
    });
    let log = c.log();
    assert!(!log.contains("warn-ok"), "{}", tail(&log, 20));
    assert!(!log.contains("pgrest: query:"), "{}", tail(&log, 20));

    // Reloadable: crit logs no request at all, error (the default) only 5xx.
    c.set_conf("pgrest.log_level", "crit");
    c.reload();
    wait_until("crit to apply", Duration::from_secs(10), || {
        let marker = format!("crit-{}", now());
        let _ = c.get_with("/nope_crit", &[("User-Agent", &marker)]);
        thread::sleep(Duration::from_millis(200));
        !c.log().contains(&marker)
    });
    let r = c.get_with("/nope_crit", &[("User-Agent", "crit-final")]);
    assert_status(&r, 404);
    thread::sleep(Duration::from_millis(500));
    assert!(!c.log().contains("crit-final"));
}

#[test]
fn the_running_request_shows_in_pg_stat_activity() {
    let (c, _) = cluster();
    let port = c.http_port;
    let t = thread::spawn(move || {
        try_request(
            port,
            "POST",
            "/rpc/fn_sleep",
            &[("Content-Type", "application/json")],
            Some(br#"{"seconds": 1.5}"#),
        )
    });
    let mut seen = String::new();
    wait_until(
        "the request in pg_stat_activity",
        Duration::from_secs(10),
        || {
            seen = c.psql(
                "select state || ' ' || query from pg_stat_activity \
             where backend_type = 'pgrest' and query like 'POST /rpc/fn_sleep%'",
            );
            !seen.is_empty()
        },
    );
    assert_eq!(seen, "active POST /rpc/fn_sleep");
    let r = t.join().unwrap().expect("the sleeping call");
    assert_status(&r, 200);
    let after = c.psql(
        "select count(*) from pg_stat_activity \
         where backend_type = 'pgrest' and state = 'active'",
    );
    assert_eq!(after, "0");
}

#[test]
fn ready_is_503_while_no_worker_serves() {
    // The workers connect but refuse to serve (their authenticator is a superuser): alive,
    // not ready.
    let port = free_port();
    let c = Cluster::start_with(
        "operations_refusing",
        &[
            ("pgrest.authenticator", "postgres"),
            ("pgrest.admin_server_port", &port.to_string()),
        ],
        Options {
            preload: true,
            load_sql: false,
            wait_http: false,
        },
    );
    wait_until("the admin server", Duration::from_secs(30), || {
        try_request(port, "GET", "/live", &[], None).is_ok_and(|r| r.status == 200)
    });
    assert_status(&admin(port, "GET", "/ready"), 503);
    let m = Metrics::fetch(port);
    assert_eq!(m.get("pgrst_db_pool_available", &[]), 0.0);
    assert!(
        c.log().contains("admin server listening on"),
        "{}",
        tail(&c.log(), 20)
    );
}

#[test]
fn the_admin_port_may_not_be_the_api_port() {
    let c = Cluster::start("operations_same_port", &[]);
    // Restarted with the admin port equal to the API port: logged, API unaffected.
    c.set_conf("pgrest.admin_server_port", &c.http_port.to_string());
    c.restart();
    c.wait_for_http(Duration::from_secs(60));
    assert!(
        c.log()
            .contains("pgrest.admin_server_port must differ from pgrest.server_port"),
        "{}",
        tail(&c.log(), 20)
    );
    assert_ne!(c.get("/live").status, 200);
}
