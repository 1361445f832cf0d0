//! Head-of-line blocking: a slow request must not hold up fast ones while other workers are
//! free. One client loops over a 2 s read; eight keep-alive clients do GETs by primary key
//! for 10 s; four workers. No fast request may take 100 ms or more. Alone in its binary, so
//! no other test competes for the two cores.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pgrest_e2e::*;

#[test]
fn a_slow_request_does_not_delay_fast_ones() {
    let c = Cluster::start("head_of_line", &[("pgrest.workers", "4")]);
    let port = c.http_port;
    let stop = Arc::new(AtomicBool::new(false));
    let slow = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut conn = pgrest_e2e::http::Conn::open(port).unwrap();
            conn.stream()
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let r = conn.send("GET", "/sv_sleep?secs=eq.2", &[], None).unwrap();
                assert_eq!(r.status, 200, "{}", r.describe());
                n += 1;
            }
            n
        })
    };
    thread::sleep(Duration::from_millis(200));
    let fast: Vec<_> = (0..8)
        .map(|i| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut conn = pgrest_e2e::http::Conn::open(port).unwrap();
                let mut latencies = Vec::new();
                let mut id = i;
                while !stop.load(Ordering::SeqCst) {
                    let start = Instant::now();
                    let r = conn
                        .send("GET", &format!("/todos?id=eq.{}", id % 4 + 1), &[], None)
                        .unwrap();
                    latencies.push(start.elapsed());
                    assert_eq!(r.status, 200, "{}", r.describe());
                    id += 1;
                }
                latencies
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(10));
    stop.store(true, Ordering::SeqCst);
    let mut all: Vec<Duration> = fast.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let slow_done = slow.join().unwrap();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    let max = *all.last().unwrap();
    println!(
        "fast requests: {} (slow: {slow_done}); p50 {:?}, p99 {:?}, max {:?}",
        all.len(),
        pct(0.5),
        pct(0.99),
        max
    );
    assert!(slow_done >= 4, "the slow client ran {slow_done} requests");
    assert!(all.len() > 1000, "only {} fast requests in 10 s", all.len());
    assert!(
        max < Duration::from_millis(100),
        "a fast request took {max:?} (p99 {:?})",
        pct(0.99)
    );
}
