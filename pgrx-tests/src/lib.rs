//! End-to-end test harness for pgrest: a real PostgreSQL 15 cluster with the extension
//! preloaded, a raw HTTP/1.1 client, JWT helpers and PostgREST-shaped assertions.
//!
//! The suites live in `tests/*.rs`; each binary shares one cluster through
//! [`Cluster::shared`] and starts extra clusters for non-default configurations. Data
//! directories go to `<workspace>/target/e2e/<cluster name>` (or `$PGREST_E2E_ROOT/<cluster name>`) (kept after the run for their
//! `server.log`; wiped when the cluster starts again).
//!
//! Running them needs pgrest installed into the PostgreSQL 15 the harness uses:
//!
//! ```sh
//! cargo pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config
//! cargo test -p pgrest-e2e                       # every suite
//! cargo test -p pgrest-e2e --test todos          # one suite
//! PGREST_E2E_NO_PRELOAD=1 cargo test -p pgrest-e2e --test harness_selftest
//! ```
//!
//! `harness_selftest` needs no pgrest at all and always runs; with `PGREST_E2E_NO_PRELOAD=1`
//! every cluster starts without the extension, which checks the set-up of each suite (the
//! HTTP assertions then fail with "connection refused").

pub mod checks;
pub mod harness;
pub mod http;
pub mod jwt;

pub use checks::*;
pub use harness::{Cluster, Options, UNSET};
pub use http::{Conn, RawOutcome, Response};
pub use jwt::{bearer, jwt, jwt_with, now, JWT_SECRET};
pub use serde_json::{json, Value};
