//! The executor pool: which worker's main thread is free, and which requests wait for one.
//!
//! Every worker's HTTP thread reads requests; any worker's main thread may execute them.
//! This module is the shared-memory bookkeeping that makes that work (the bytes of a
//! request move over Unix sockets between workers, see `http::forward`). It lives in one
//! structure in shared memory, reserved in `_PG_init`, guarded by a spin lock whose
//! critical sections are a few memory operations. Plain Rust and atomics: both the HTTP
//! threads and the main threads use it.
//!
//! - A worker's main thread is `Offline` (starting, refusing, shutting down), `Idle`, or
//!   `Busy` with exactly one request that some HTTP thread is bringing or it is running.
//! - A request read by worker `o`'s HTTP thread goes to `o`'s own main thread if it is idle,
//!   else to any idle one; when every main thread is busy it waits as a ticket in one
//!   server-wide FIFO queue (bounded: beyond `pgrest.db_pool_max_waiting`, 503). If `o`'s
//!   main thread only just started its request (less than [`SOFT_WAIT_NS`] ago), the new
//!   request queues for it first and moves to an idle main thread only when that time is up
//!   (`promote`): under load most requests then stay in the process that read them, while a
//!   long request delays the ones behind it by at most that much.
//! - A main thread that finishes takes the oldest ticket. Within [`LOCALITY_WINDOW_NS`] of
//!   the oldest it prefers a ticket its own HTTP thread read, which saves the hop between
//!   processes under full load; no request waits more than that window longer than FIFO.
//! - A ticket granted to a main thread of another worker is posted to the mailbox of the
//!   worker that read it; that worker's HTTP thread then forwards the request.
//!
//! Worker incarnations are numbered (`epoch`): a restarted worker purges what its previous
//! incarnation left (tickets, mailbox) and releases the main threads reserved for it.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, Ordering};

/// Most workers the pool tracks (`pgrest.workers` is capped to this).
pub(crate) const MAX_WORKERS: usize = 64;
/// Most requests that can wait at once, server-wide.
pub(crate) const MAX_WAITING: usize = 4096;
/// How much younger than the oldest waiting request a request read by the same worker may
/// be and still go first (see the module header).
pub(crate) const LOCALITY_WINDOW_NS: u64 = 2_000_000;
/// How many waiting requests a freed main thread looks at for one of its own.
const LOCALITY_SCAN: usize = 64;
/// A request whose own worker's main thread became busy less than this long ago waits for
/// it rather than moving to another worker at once; past it, it moves to an idle one.
pub(crate) const SOFT_WAIT_NS: u64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Offline,
    Idle,
    Busy,
}

#[derive(Debug, Clone, Copy)]
struct Ticket {
    live: bool,
    origin: u16,
    seq: u64,
    /// When the request was read (CLOCK_MONOTONIC, ns: comparable across processes).
    since: u64,
}

impl Ticket {
    const EMPTY: Ticket = Ticket {
        live: false,
        origin: 0,
        seq: 0,
        since: 0,
    };
}

/// A waiting request granted to a main thread: `executor` (in its incarnation `epoch`)
/// waits for request `seq` of the worker whose mailbox this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grant {
    pub seq: u64,
    pub executor: usize,
    pub epoch: u32,
}

impl Grant {
    const EMPTY: Grant = Grant {
        seq: 0,
        executor: 0,
        epoch: 0,
    };
}

/// Grants waiting for the HTTP thread of one worker. Each main thread has at most one
/// outstanding grant, so `MAX_WORKERS` entries always suffice.
#[derive(Clone, Copy)]
struct Mailbox {
    len: usize,
    items: [Grant; MAX_WORKERS],
}

struct PoolData {
    state: [State; MAX_WORKERS],
    /// When each main thread last became busy (CLOCK_MONOTONIC ns).
    busy_since: [u64; MAX_WORKERS],
    epoch: [u32; MAX_WORKERS],
    /// FIFO ring of tickets; `head`/`tail` count up forever (index = count % MAX_WAITING).
    /// Cancelled or granted tickets stay as dead entries until passed or compacted.
    ring: [Ticket; MAX_WAITING],
    head: usize,
    tail: usize,
    live: usize,
    mail: [Mailbox; MAX_WORKERS],
    stats: Stats,
}

/// Counters since the server started (shown by `pgrest.pool()`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Stats {
    /// Requests run by the main thread of the worker that read them, at once.
    pub local: u64,
    /// Requests sent at once to an idle main thread of another worker.
    pub forwarded: u64,
    /// Requests that waited in the queue.
    pub queued: u64,
    /// Waiting requests taken by a main thread of the worker that read them.
    pub taken_own: u64,
    /// Waiting requests taken by a main thread of another worker.
    pub taken_other: u64,
    /// Requests refused because the queue was full.
    pub refused: u64,
}

/// A snapshot of the pool, for `pgrest.pool()`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Snapshot {
    /// Per worker: "offline", "idle" or "busy".
    #[serde(rename = "workers")]
    pub states: Vec<&'static str>,
    pub waiting: usize,
    #[serde(flatten)]
    pub stats: Stats,
}

/// Where a request that was just read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dispatch {
    /// To the reading worker's own main thread (now reserved for it).
    Local,
    /// To another worker's main thread (now reserved for it).
    Forward { executor: usize, epoch: u32 },
    /// It waits as a ticket: every main thread is busy, or (`promote`) the reading worker's
    /// own main thread only just became busy; then call [`Pool::promote`] after
    /// [`SOFT_WAIT_NS`].
    Queued { promote: bool },
    /// Every main thread is busy and the queue is full.
    Full,
}

/// What follows when a main thread becomes free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing waits: it is idle (or offline).
    Idle,
    /// It is reserved for request `seq` read by the caller's own worker.
    Mine(Grant),
    /// It is reserved for a request of worker `origin`, whose mailbox now holds the grant:
    /// wake that worker's HTTP thread.
    Posted { origin: usize },
}

pub(crate) struct Pool {
    /// 0, or the pid of the process whose thread holds the lock.
    lock: AtomicU32,
    data: UnsafeCell<PoolData>,
}

// The data is only reached through `Pool::with`, under the lock.
unsafe impl Sync for Pool {}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            lock: AtomicU32::new(0),
            data: UnsafeCell::new(PoolData {
                state: [State::Offline; MAX_WORKERS],
                busy_since: [0; MAX_WORKERS],
                epoch: [0; MAX_WORKERS],
                ring: [Ticket::EMPTY; MAX_WAITING],
                head: 0,
                tail: 0,
                live: 0,
                mail: [Mailbox {
                    len: 0,
                    items: [Grant::EMPTY; MAX_WORKERS],
                }; MAX_WORKERS],
                stats: Stats {
                    local: 0,
                    forwarded: 0,
                    queued: 0,
                    taken_own: 0,
                    taken_other: 0,
                    refused: 0,
                },
            }),
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process.
pub(crate) fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn process_alive(pid: u32) -> bool {
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

impl Pool {
    /// Runs `f` under the lock. The critical sections never block, allocate or call out,
    /// so a holder only disappears if its process dies; a waiter then takes the lock over.
    fn with<R>(&self, f: impl FnOnce(&mut PoolData) -> R) -> R {
        let me = std::process::id();
        let mut spins: u32 = 0;
        loop {
            match self
                .lock
                .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(holder) => {
                    spins = spins.wrapping_add(1);
                    if spins < 100 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                    if spins.is_multiple_of(10_000)
                        && holder != 0
                        && holder != me
                        && !process_alive(holder)
                    {
                        let _ = self.lock.compare_exchange(
                            holder,
                            0,
                            Ordering::AcqRel,
                            Ordering::Relaxed,
                        );
                    }
                }
            }
        }
        let r = f(unsafe { &mut *self.data.get() });
        self.lock.store(0, Ordering::Release);
        r
    }

    /// A worker (re)starts: a new incarnation, offline until [`Pool::ready`]. What an earlier
    /// incarnation left is purged; main threads that were reserved for its requests are
    /// released (route each returned [`Next`]).
    pub fn register(&self, w: usize) -> (u32, Vec<Next>) {
        self.with(|d| {
            // After a crash restart the pool is new while old frames may still sit in an
            // inbox's backlog: start from the clock so incarnations never repeat.
            d.epoch[w] = match d.epoch[w] {
                0 => (now_ns() as u32).max(1),
                e => e.wrapping_add(1).max(1),
            };
            d.state[w] = State::Offline;
            let released = d.purge(w);
            (d.epoch[w], released)
        })
    }

    /// A worker's main thread is ready to serve (or done with its request): it takes the
    /// next waiting request, or becomes idle.
    pub fn ready(&self, w: usize) -> Next {
        self.with(|d| {
            if d.state[w] == State::Offline {
                d.state[w] = State::Busy;
            }
            d.release(w, w)
        })
    }

    /// The main thread `executor` (incarnation `epoch`) is free again: its request is done,
    /// or the request it was reserved for went away. `me` is the worker whose thread calls.
    /// Nothing happens if that incarnation is gone.
    pub fn release(&self, executor: usize, epoch: u32, me: usize) -> Next {
        self.with(|d| {
            if d.epoch[executor] != epoch {
                return Next::Idle;
            }
            d.release(executor, me)
        })
    }

    /// A worker stops serving (shutdown, exit): it gets no more requests, its waiting
    /// tickets are withdrawn (its HTTP thread answers them) and the main threads reserved
    /// for its requests are released. Also says whether its own main thread was busy (then
    /// the request it was reserved for may still arrive, and is answered).
    pub fn retire(&self, w: usize) -> (Vec<Next>, bool) {
        self.with(|d| {
            let was_busy = d.state[w] == State::Busy;
            d.state[w] = State::Offline;
            (d.purge(w), was_busy)
        })
    }

    /// Places a request that worker `origin` just read (`seq` unique within the worker) at
    /// time `now`.
    pub fn dispatch(&self, origin: usize, seq: u64, now: u64, max_waiting: usize) -> Dispatch {
        self.with(|d| {
            if d.state[origin] == State::Idle {
                d.state[origin] = State::Busy;
                d.busy_since[origin] = now;
                d.stats.local += 1;
                return Dispatch::Local;
            }
            let own_just_started = d.state[origin] == State::Busy
                && now.saturating_sub(d.busy_since[origin]) < SOFT_WAIT_NS;
            if !own_just_started {
                if let Some(f) = d.take_idle(now) {
                    return f;
                }
            }
            let ticket = Ticket {
                live: true,
                origin: origin as u16,
                seq,
                since: now,
            };
            if d.push(ticket, max_waiting) {
                d.stats.queued += 1;
                Dispatch::Queued {
                    promote: own_just_started,
                }
            } else {
                d.stats.refused += 1;
                Dispatch::Full
            }
        })
    }

    /// A request that waited [`SOFT_WAIT_NS`] for its own worker moves to an idle main
    /// thread, if there is one and the request still waits.
    pub fn promote(&self, origin: usize, seq: u64, now: u64) -> Option<Dispatch> {
        self.with(|d| {
            if !(0..MAX_WORKERS).any(|w| d.state[w] == State::Idle) || !d.cancel(origin, seq) {
                return None;
            }
            d.take_idle(now)
        })
    }

    /// Withdraws a waiting request (timed out, client gone). False if a main thread was
    /// already granted it: then the grant will arrive and must be honoured or released.
    pub fn cancel(&self, origin: usize, seq: u64) -> bool {
        self.with(|d| d.cancel(origin, seq))
    }

    /// The state of the first `workers` workers, the queue length and the counters.
    pub fn snapshot(&self, workers: usize) -> Snapshot {
        self.with(|d| Snapshot {
            states: d.state[..workers.min(MAX_WORKERS)]
                .iter()
                .map(|s| match s {
                    State::Offline => "offline",
                    State::Idle => "idle",
                    State::Busy => "busy",
                })
                .collect(),
            waiting: d.live,
            stats: d.stats,
        })
    }

    /// The grants posted for worker `origin`'s requests.
    pub fn take_mail(&self, origin: usize) -> Vec<Grant> {
        self.with(|d| {
            let m = &mut d.mail[origin];
            let out = m.items[..m.len].to_vec();
            m.len = 0;
            out
        })
    }
}

impl PoolData {
    /// Reserves an idle main thread, if any.
    fn take_idle(&mut self, now: u64) -> Option<Dispatch> {
        let w = (0..MAX_WORKERS).find(|&w| self.state[w] == State::Idle)?;
        self.state[w] = State::Busy;
        self.busy_since[w] = now;
        self.stats.forwarded += 1;
        Some(Dispatch::Forward {
            executor: w,
            epoch: self.epoch[w],
        })
    }

    fn release(&mut self, executor: usize, me: usize) -> Next {
        if self.state[executor] == State::Offline {
            return Next::Idle;
        }
        let Some(t) = self.take_next(executor) else {
            self.state[executor] = State::Idle;
            return Next::Idle;
        };
        self.state[executor] = State::Busy;
        self.busy_since[executor] = now_ns();
        let g = Grant {
            seq: t.seq,
            executor,
            epoch: self.epoch[executor],
        };
        let origin = t.origin as usize;
        if origin == executor {
            self.stats.taken_own += 1;
        } else {
            self.stats.taken_other += 1;
        }
        if origin == me {
            return Next::Mine(g);
        }
        let m = &mut self.mail[origin];
        if m.len == m.items.len() {
            // Cannot happen (one grant per main thread); never lose the main thread.
            self.state[executor] = State::Idle;
            return Next::Idle;
        }
        m.items[m.len] = g;
        m.len += 1;
        Next::Posted { origin }
    }

    /// Withdraws worker `w`'s tickets and voids the grants in its mailbox, releasing the
    /// main threads reserved for them.
    fn purge(&mut self, w: usize) -> Vec<Next> {
        for i in self.head..self.tail {
            let t = &mut self.ring[i % MAX_WAITING];
            if t.live && t.origin as usize == w {
                t.live = false;
                self.live -= 1;
            }
        }
        self.skip_dead();
        let m = self.mail[w];
        self.mail[w].len = 0;
        m.items[..m.len]
            .iter()
            .filter(|g| self.epoch[g.executor] == g.epoch)
            .map(|g| g.executor)
            .collect::<Vec<_>>()
            .into_iter()
            .map(|e| self.release(e, w))
            .collect()
    }

    fn push(&mut self, t: Ticket, max_waiting: usize) -> bool {
        if self.live >= max_waiting.min(MAX_WAITING) {
            return false;
        }
        if self.tail - self.head == MAX_WAITING {
            self.compact();
        }
        self.ring[self.tail % MAX_WAITING] = t;
        self.tail += 1;
        self.live += 1;
        true
    }

    /// Moves the live tickets together, keeping their order.
    fn compact(&mut self) {
        let mut j = self.head;
        for i in self.head..self.tail {
            let t = self.ring[i % MAX_WAITING];
            if t.live {
                self.ring[j % MAX_WAITING] = t;
                j += 1;
            }
        }
        self.tail = j;
    }

    fn skip_dead(&mut self) {
        while self.head < self.tail && !self.ring[self.head % MAX_WAITING].live {
            self.head += 1;
        }
        if self.head == self.tail {
            // Keep the counters small.
            self.head = 0;
            self.tail = 0;
        }
    }

    /// The oldest waiting ticket, or a younger one read by `executor`'s own worker within
    /// the locality window.
    fn take_next(&mut self, executor: usize) -> Option<Ticket> {
        self.skip_dead();
        if self.head == self.tail {
            return None;
        }
        let first = self.ring[self.head % MAX_WAITING];
        let mut pick = self.head;
        if first.origin as usize != executor {
            let mut seen = 0;
            for i in self.head + 1..self.tail {
                let t = self.ring[i % MAX_WAITING];
                if !t.live {
                    continue;
                }
                seen += 1;
                if seen > LOCALITY_SCAN {
                    break;
                }
                if t.origin as usize == executor
                    && t.since <= first.since.saturating_add(LOCALITY_WINDOW_NS)
                {
                    pick = i;
                    break;
                }
            }
        }
        let slot = &mut self.ring[pick % MAX_WAITING];
        let t = *slot;
        slot.live = false;
        self.live -= 1;
        self.skip_dead();
        Some(t)
    }

    fn cancel(&mut self, origin: usize, seq: u64) -> bool {
        for i in self.head..self.tail {
            let t = &mut self.ring[i % MAX_WAITING];
            if t.live && t.origin as usize == origin && t.seq == seq {
                t.live = false;
                self.live -= 1;
                self.skip_dead();
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    const QUEUED: Dispatch = Dispatch::Queued { promote: false };

    /// A pool with `n` registered, ready workers, all in incarnation 1 (as if restarted).
    fn pool(n: usize) -> Box<Pool> {
        let p = Box::<Pool>::default();
        for w in 0..n {
            p.with(|d| d.epoch[w] = u32::MAX);
            assert_eq!(p.register(w).0, 1);
            assert_eq!(p.ready(w), Next::Idle);
        }
        p
    }

    fn mine(seq: u64, executor: usize) -> Next {
        Next::Mine(Grant {
            seq,
            executor,
            epoch: 1,
        })
    }

    fn forward(executor: usize) -> Dispatch {
        Dispatch::Forward { executor, epoch: 1 }
    }

    #[test]
    fn a_new_pool_numbers_incarnations_from_the_clock() {
        let p = Box::<Pool>::default();
        let (first, _) = p.register(0);
        assert!(first > 1, "{first}");
        assert_eq!(p.register(0).0, first.wrapping_add(1).max(1));
    }

    // Times are offsets from the real clock (`b`): `release` reads the clock itself.

    #[test]
    fn own_idle_worker_first_then_any_idle_then_the_queue() {
        let p = pool(3);
        let b = now_ns();
        assert_eq!(p.dispatch(1, 1, b + 10 * MS, 100), Dispatch::Local);
        // Worker 1's main thread has been busy for 2 ms: straight to an idle one.
        assert_eq!(p.dispatch(1, 2, b + 12 * MS, 100), forward(0));
        assert_eq!(p.dispatch(1, 3, b + 14 * MS, 100), forward(2));
        assert_eq!(p.dispatch(1, 4, b + 16 * MS, 100), QUEUED);
        assert_eq!(p.dispatch(0, 5, b + 17 * MS, 2), QUEUED);
        assert_eq!(p.dispatch(0, 6, b + 18 * MS, 2), Dispatch::Full);
    }

    #[test]
    fn a_request_first_waits_briefly_for_its_own_worker() {
        let p = pool(2);
        let b = now_ns();
        assert_eq!(p.dispatch(0, 1, b, 100), Dispatch::Local);
        // Worker 0 only just started: the next request of worker 0 queues for it ...
        assert_eq!(
            p.dispatch(0, 2, b + 100, 100),
            Dispatch::Queued { promote: true }
        );
        // ... and worker 0 takes it when done, although worker 1 was idle all along.
        assert_eq!(p.release(0, 1, 0), mine(2, 0));
        // Another one; this time worker 0 is slow: after the soft wait it moves to worker 1.
        let t = now_ns();
        assert_eq!(p.dispatch(0, 3, t, 100), Dispatch::Queued { promote: true });
        assert_eq!(p.promote(0, 3, t + 2 * MS), Some(forward(1)));
        // Already moved: nothing left to promote or withdraw.
        assert_eq!(p.promote(0, 3, t + 3 * MS), None);
        assert!(!p.cancel(0, 3));
        // With no idle main thread, the request keeps waiting in the queue.
        assert_eq!(p.dispatch(1, 4, t, 100), Dispatch::Queued { promote: true });
        assert_eq!(p.promote(1, 4, t + 2 * MS), None);
        assert!(p.cancel(1, 4));
    }

    #[test]
    fn freed_workers_take_the_oldest_request() {
        let p = pool(2);
        let b = now_ns();
        p.dispatch(0, 1, b, 100);
        p.dispatch(0, 2, b + 5 * MS, 100);
        // Both busy: requests of worker 1 and 0 wait, oldest first.
        assert_eq!(p.dispatch(1, 10, b + 10 * MS, 100), QUEUED);
        assert_eq!(p.dispatch(0, 3, b + 15 * MS, 100), QUEUED);
        // Worker 0 frees up: worker 1's request is older by more than the window.
        assert_eq!(p.release(0, 1, 0), Next::Posted { origin: 1 });
        assert_eq!(
            p.take_mail(1),
            vec![Grant {
                seq: 10,
                executor: 0,
                epoch: 1
            }]
        );
        assert!(p.take_mail(1).is_empty());
        // Worker 1 frees up and takes worker 0's request; the caller is worker 1.
        assert_eq!(p.release(1, 1, 1), Next::Posted { origin: 0 });
        // Nothing waits any more.
        assert_eq!(p.release(0, 1, 0), Next::Idle);
        assert_eq!(p.dispatch(1, 11, b + 30 * MS, 100), forward(0));
    }

    #[test]
    fn a_freed_worker_prefers_its_own_requests_within_the_window() {
        let p = pool(2);
        let b = now_ns();
        p.dispatch(0, 1, b, 100);
        p.dispatch(1, 1, b, 100);
        p.dispatch(1, 2, b + 10 * MS, 100);
        p.dispatch(0, 2, b + 10 * MS + MS / 2, 100);
        p.dispatch(0, 3, b + 18 * MS, 100);
        // Worker 0's request 2 is younger than worker 1's by 0.5 ms: it goes first.
        assert_eq!(p.release(0, 1, 0), mine(2, 0));
        // Worker 0's request 3 is 8 ms younger than worker 1's request 2: FIFO.
        assert_eq!(p.release(0, 1, 0), Next::Posted { origin: 1 });
        // Worker 1 frees up; worker 0's request 3 is the only one left.
        assert_eq!(p.release(1, 1, 1), Next::Posted { origin: 0 });
    }

    #[test]
    fn the_snapshot_counts_where_requests_went() {
        let p = pool(2);
        let b = now_ns();
        p.dispatch(0, 1, b, 100);
        p.dispatch(0, 2, b + 5 * MS, 100);
        p.dispatch(1, 1, b + 6 * MS, 100);
        p.dispatch(0, 3, b + 7 * MS, 1);
        p.release(1, 1, 1);
        let s = p.snapshot(2);
        assert_eq!(s.states, ["busy", "busy"]);
        assert_eq!(s.waiting, 0);
        assert_eq!(
            s.stats,
            Stats {
                local: 1,
                forwarded: 1,
                queued: 1,
                taken_own: 1,
                taken_other: 0,
                refused: 1,
            }
        );
    }

    #[test]
    fn withdrawn_requests_are_skipped() {
        let p = pool(1);
        let b = now_ns();
        p.dispatch(0, 1, b, 100);
        for seq in 2..6 {
            assert_eq!(p.dispatch(0, seq, b + seq * MS, 100), QUEUED);
        }
        assert!(p.cancel(0, 2));
        assert!(!p.cancel(0, 2));
        assert!(p.cancel(0, 4));
        assert_eq!(p.release(0, 1, 0), mine(3, 0));
        assert_eq!(p.release(0, 1, 0), mine(5, 0));
        assert_eq!(p.release(0, 1, 0), Next::Idle);
        // A granted request can no longer be withdrawn.
        assert!(!p.cancel(0, 5));
    }

    #[test]
    fn the_queue_is_bounded_and_compacts() {
        let p = pool(1);
        let b = now_ns();
        p.dispatch(0, 0, b, MAX_WAITING);
        for round in 0..3u64 {
            for i in 0..MAX_WAITING as u64 {
                let seq = round * 10_000 + i + 1;
                assert_eq!(
                    p.dispatch(0, seq, b + 100 * MS + seq, MAX_WAITING),
                    QUEUED,
                    "{seq}"
                );
            }
            assert_eq!(
                p.dispatch(0, 99_999, b + 100 * MS, MAX_WAITING),
                Dispatch::Full
            );
            // Withdraw all but the last: the ring compacts on the next push.
            for i in 0..MAX_WAITING as u64 - 1 {
                assert!(p.cancel(0, round * 10_000 + i + 1));
            }
            assert_eq!(
                p.release(0, 1, 0),
                mine(round * 10_000 + MAX_WAITING as u64, 0)
            );
        }
    }

    #[test]
    fn restart_and_retire_release_what_was_reserved() {
        let p = pool(2);
        let b = now_ns();
        p.dispatch(0, 1, b, 100);
        p.dispatch(1, 1, b, 100);
        p.dispatch(1, 2, b + 10 * MS, 100);
        // Worker 0 is granted worker 1's request 2 (posted to worker 1's mailbox) ...
        assert_eq!(p.release(0, 1, 0), Next::Posted { origin: 1 });
        // ... and worker 1 restarts before reading it: worker 0 is freed.
        let (epoch, released) = p.register(1);
        assert_eq!(epoch, 2);
        assert_eq!(released, vec![Next::Idle]);
        assert!(p.take_mail(1).is_empty());
        // Releasing worker 1's previous incarnation does nothing.
        assert_eq!(p.release(1, 1, 1), Next::Idle);
        assert_eq!(p.dispatch(0, 3, b + 20 * MS, 100), Dispatch::Local);
        // A retired worker gets nothing, and reports whether it was busy.
        assert_eq!(p.retire(0), (vec![], true));
        assert_eq!(p.release(0, 1, 0), Next::Idle);
        assert_eq!(p.dispatch(1, 4, b + 30 * MS, 100), QUEUED);
        assert_eq!(
            p.ready(1),
            Next::Mine(Grant {
                seq: 4,
                executor: 1,
                epoch: 2
            })
        );
    }
}
