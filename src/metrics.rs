//! Server-wide counters for the admin server's `/metrics`, in shared memory so that every
//! worker's threads add to the same numbers, and their Prometheus text rendering.
//!
//! Plain atomics (no lock, no allocation): the HTTP threads count requests and JWT cache
//! lookups, the main threads count schema cache loads. The metric names that PostgREST has
//! are PostgREST's (`pgrst_schema_cache_*`, `pgrst_db_pool_*`, `pgrst_jwt_cache_*`); the
//! request counters and the latency histogram are pgrest's own, named the Prometheus way.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The methods counted by name; anything else is `OTHER`.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "OTHER",
];
/// Statuses 100..=599 are counted one by one; others (never sent) count as 500.
const STATUSES: usize = 500;
/// Upper bounds (seconds) of the latency histogram's buckets, `+Inf` aside.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

pub(crate) struct Metrics {
    requests: [[AtomicU64; STATUSES]; METHODS.len()],
    /// Per bucket (not cumulative; the last is `+Inf`).
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_sum_us: AtomicU64,
    schema_loads_ok: AtomicU64,
    schema_loads_failed: AtomicU64,
    schema_query_ns: AtomicU64,
    jwt_lookups: AtomicU64,
    jwt_hits: AtomicU64,
    jwt_evictions: AtomicU64,
    pool_timeouts: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_sum_us: AtomicU64::new(0),
            schema_loads_ok: AtomicU64::new(0),
            schema_loads_failed: AtomicU64::new(0),
            schema_query_ns: AtomicU64::new(0),
            jwt_lookups: AtomicU64::new(0),
            jwt_hits: AtomicU64::new(0),
            jwt_evictions: AtomicU64::new(0),
            pool_timeouts: AtomicU64::new(0),
        }
    }
}

/// The executor pool as `/metrics` reports it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PoolGauges {
    pub idle: usize,
    pub busy: usize,
    pub waiting: usize,
    pub max: usize,
}

impl Metrics {
    /// One answered HTTP request: its method, status and the time from reading it to its
    /// response being ready.
    pub fn request(&self, method: &str, status: u16, took: Duration) {
        let m = METHODS
            .iter()
            .position(|x| *x == method)
            .unwrap_or(METHODS.len() - 1);
        let s = match status {
            100..=599 => status as usize - 100,
            _ => 400,
        };
        self.requests[m][s].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        let b = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS.len());
        self.latency[b].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// One schema cache load by a worker, how long its query took, and whether it worked.
    pub fn schema_load(&self, ok: bool, took: Duration) {
        if ok {
            self.schema_loads_ok.fetch_add(1, Ordering::Relaxed);
            self.schema_query_ns
                .store(took.as_nanos() as u64, Ordering::Relaxed);
        } else {
            self.schema_loads_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One JWT cache lookup, whether it hit, and how many entries it evicted.
    pub fn jwt_lookup(&self, hit: bool, evicted: usize) {
        self.jwt_lookups.fetch_add(1, Ordering::Relaxed);
        if hit {
            self.jwt_hits.fetch_add(1, Ordering::Relaxed);
        }
        if evicted > 0 {
            self.jwt_evictions
                .fetch_add(evicted as u64, Ordering::Relaxed);
        }
    }

    /// A request that waited `pgrest.db_pool_acquisition_timeout` for a worker in vain.
    pub fn pool_timeout(&self) {
        self.pool_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, pool: PoolGauges) -> String {
        let mut out = String::with_capacity(4096);
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
        };

        family(
            &mut out,
            "pgrst_http_requests_total",
            "counter",
            "HTTP requests answered on the API port, by method and status.",
        );
        for (m, method) in METHODS.iter().enumerate() {
            for (s, n) in self.requests[m].iter().enumerate() {
                let n = get(n);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "pgrst_http_requests_total{{method=\"{method}\",status=\"{}\"}} {n}",
                        s + 100
                    );
                }
            }
        }

        family(
            &mut out,
            "pgrst_http_request_duration_seconds",
            "histogram",
            "Time from reading a request to its response being ready.",
        );
        let counts: Vec<u64> = self.latency.iter().map(get).collect();
        let mut cumulative = 0;
        for (i, n) in counts.iter().enumerate() {
            cumulative += n;
            let le = BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "pgrst_http_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "pgrst_http_request_duration_seconds_sum {}",
            get(&self.latency_sum_us) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "pgrst_http_request_duration_seconds_count {cumulative}"
        );

        family(
            &mut out,
            "pgrst_schema_cache_query_time_seconds",
            "gauge",
            "The query time in seconds of the last schema cache load.",
        );
        let _ = writeln!(
            out,
            "pgrst_schema_cache_query_time_seconds {}",
            get(&self.schema_query_ns) as f64 / 1e9
        );
        family(
            &mut out,
            "pgrst_schema_cache_loads_total",
            "counter",
            "The total number of times the schema cache was loaded (by any worker).",
        );
        let _ = writeln!(
            out,
            "pgrst_schema_cache_loads_total{{status=\"SUCCESS\"}} {}",
            get(&self.schema_loads_ok)
        );
        let _ = writeln!(
            out,
            "pgrst_schema_cache_loads_total{{status=\"FAIL\"}} {}",
            get(&self.schema_loads_failed)
        );

        let gauges = [
            (
                "pgrst_db_pool_available",
                "Workers whose main thread is idle, ready for a request.",
                pool.idle,
            ),
            (
                "pgrst_db_pool_busy",
                "Workers whose main thread is running a request.",
                pool.busy,
            ),
            (
                "pgrst_db_pool_waiting",
                "Requests waiting for a worker.",
                pool.waiting,
            ),
            (
                "pgrst_db_pool_max",
                "Workers (requests executed at once, pgrest.workers).",
                pool.max,
            ),
        ];
        family(
            &mut out,
            "pgrst_db_pool_timeouts_total",
            "counter",
            "Requests that waited pgrest.db_pool_acquisition_timeout for a worker in vain.",
        );
        let _ = writeln!(
            out,
            "pgrst_db_pool_timeouts_total {}",
            get(&self.pool_timeouts)
        );
        for (name, help, value) in gauges {
            family(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }

        for (name, help, a) in [
            (
                "pgrst_jwt_cache_requests_total",
                "The total number of JWT cache lookups.",
                &self.jwt_lookups,
            ),
            (
                "pgrst_jwt_cache_hits_total",
                "The total number of JWT cache hits.",
                &self.jwt_hits,
            ),
            (
                "pgrst_jwt_cache_evictions_total",
                "The total number of JWT cache evictions.",
                &self.jwt_evictions,
            ),
        ] {
            family(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", get(a));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_the_histogram_are_counted() {
        let m = Metrics::default();
        m.request("GET", 200, Duration::from_micros(500));
        m.request("GET", 200, Duration::from_millis(3));
        m.request("BREW", 418, Duration::from_secs(20));
        m.request("POST", 999, Duration::from_millis(1));
        let text = m.render(PoolGauges {
            idle: 3,
            busy: 1,
            waiting: 0,
            max: 4,
        });
        assert!(text.contains("pgrst_http_requests_total{method=\"GET\",status=\"200\"} 2\n"));
        assert!(text.contains("pgrst_http_requests_total{method=\"OTHER\",status=\"418\"} 1\n"));
        assert!(text.contains("pgrst_http_requests_total{method=\"POST\",status=\"500\"} 1\n"));
        assert!(text.contains("pgrst_http_request_duration_seconds_bucket{le=\"0.001\"} 2\n"));
        assert!(text.contains("pgrst_http_request_duration_seconds_bucket{le=\"0.005\"} 3\n"));
        assert!(text.contains("pgrst_http_request_duration_seconds_bucket{le=\"10\"} 3\n"));
        assert!(text.contains("pgrst_http_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"));
        assert!(text.contains("pgrst_http_request_duration_seconds_count 4\n"));
        assert!(text.contains("pgrst_db_pool_available 3\n"));
        assert!(text.contains("pgrst_db_pool_max 4\n"));
        // Every family is announced once, before its samples.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            let family = if text.contains(&format!("# TYPE {name} ")) {
                name
            } else {
                family
            };
            let at = text.find(line).unwrap();
            let typed = text.find(&format!("# TYPE {family} ")).unwrap();
            assert!(typed < at, "{line}");
        }
    }
}
