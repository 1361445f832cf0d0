//! End-to-end test harness for pgrest: a real PostgreSQL cluster with the extension
//! preloaded, a raw HTTP/1.1 client, JWT helpers and PostgREST-shaped assertions.
//!
//! The suites live in `tests/*.rs`; each binary shares one cluster through
//! [`Cluster::shared`] and starts extra clusters for non-default configurations. Data
//! directories go to `<workspace>/target/e2e/<cluster name>` (or `$PGREST_E2E_ROOT/<cluster name>`) (kept after the run for their
//! `server.log`; wiped when the cluster starts again).
//!
//! Running them needs pgrest installed into the PostgreSQL the harness uses: `$PGREST_PG_BIN`,
//! the tests' own installation when `make test-e2e PG_MAJOR=NN` runs them, else Debian's 15.
//!
//! ```sh
//! make test-e2e                                  # install into the tests' PostgreSQL, run all
//! make test-e2e PG_MAJOR=17                      # the same on PostgreSQL 17
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
