//! The sockets and wake-up descriptors, opened once by the postmaster while it preloads
//! pgrest.
//!
//! Every worker is forked from the postmaster and inherits them all, so they outlive worker
//! crashes and crash restarts, and no descriptor is ever passed between processes:
//! - the TCP listening sockets: all workers share one accept queue;
//! - per worker, an "inbox": a listening Unix socket (abstract name, unique to this
//!   postmaster) on which its HTTP thread takes requests forwarded by other workers;
//! - per worker, two eventfds: one wakes its main thread, one wakes its HTTP thread (to
//!   read its mailbox in the pool, or to shut down). Any process may write them.
//!
//! They are close-on-exec so programs run by backends (COPY PROGRAM, archive_command) do
//! not inherit them. Failing to bind is logged and never stops PostgreSQL from starting.

use std::ffi::c_int;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::RawFd;

/// What the postmaster opened for the workers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Endpoints {
    pub tcp: Vec<RawFd>,
    /// The admin server's listening sockets (none when it is off); every worker's HTTP
    /// thread accepts on them too.
    pub admin: Vec<RawFd>,
    /// Per worker: its inbox (listening Unix socket).
    pub inbox: Vec<RawFd>,
    /// Per worker: the eventfd its main thread waits on.
    pub exec_wake: Vec<RawFd>,
    /// Per worker: the eventfd its HTTP thread waits on.
    pub http_wake: Vec<RawFd>,
    /// The postmaster's pid, part of every inbox name.
    pub postmaster_pid: u32,
}

/// The inherited endpoints (set in the postmaster, read in the workers).
static mut ENDPOINTS: Option<Endpoints> = None;

/// The abstract Unix socket name of worker `i`'s inbox.
pub(crate) fn inbox_name(postmaster_pid: u32, i: usize) -> Vec<u8> {
    format!("pgrest.{postmaster_pid}.{i}").into_bytes()
}

/// A `sockaddr_un` for an abstract name (leading NUL) and its length.
pub(crate) fn abstract_addr(name: &[u8]) -> (libc::sockaddr_un, libc::socklen_t) {
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let n = name.len().min(addr.sun_path.len() - 1);
    for (dst, src) in addr.sun_path[1..=n].iter_mut().zip(name) {
        *dst = *src as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + 1 + n;
    (addr, len as libc::socklen_t)
}

fn os_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

fn eventfd() -> Result<RawFd, String> {
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(os_error("could not create an eventfd"));
    }
    Ok(fd)
}

fn inbox(name: &[u8]) -> Result<RawFd, String> {
    unsafe {
        let fd = libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        if fd < 0 {
            return Err(os_error("could not create a Unix socket"));
        }
        let (addr, len) = abstract_addr(name);
        if libc::bind(
            fd,
            &addr as *const libc::sockaddr_un as *const libc::sockaddr,
            len,
        ) != 0
            || libc::listen(fd, libc::SOMAXCONN) != 0
        {
            let e = os_error("could not listen on a worker inbox");
            libc::close(fd);
            return Err(e);
        }
        Ok(fd)
    }
}

/// Opens everything the workers need: the TCP sockets of `host:port` and, for each of the
/// `workers`, an inbox and two eventfds. On failure nothing stays open.
pub(crate) fn open_endpoints(host: &str, port: u16, workers: usize) -> Result<Endpoints, String> {
    let tcp = open(host, port)?;
    let mut e = Endpoints {
        tcp,
        postmaster_pid: std::process::id(),
        ..Default::default()
    };
    let mut build = || -> Result<(), String> {
        for i in 0..workers {
            e.inbox.push(inbox(&inbox_name(e.postmaster_pid, i))?);
            e.exec_wake.push(eventfd()?);
            e.http_wake.push(eventfd()?);
        }
        Ok(())
    };
    if let Err(msg) = build() {
        for fd in e
            .tcp
            .iter()
            .chain(&e.inbox)
            .chain(&e.exec_wake)
            .chain(&e.http_wake)
        {
            unsafe { libc::close(*fd) };
        }
        return Err(msg);
    }
    Ok(e)
}

/// Writes 1 to an eventfd (async-signal-safe: signal handlers use it too).
pub(crate) fn wake(fd: RawFd) {
    let one: u64 = 1;
    unsafe {
        libc::write(fd, &one as *const u64 as *const libc::c_void, 8);
    }
}

/// Reads (and so resets) an eventfd.
pub(crate) fn drain(fd: RawFd) {
    let mut counter: u64 = 0;
    unsafe {
        libc::read(fd, &mut counter as *mut u64 as *mut libc::c_void, 8);
    }
}

/// The addresses `pgrest.server_host` stands for, with PostgREST's special values.
pub(crate) fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let any4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    let addrs = match host {
        "*" => vec![any4, any6],
        "*4" | "!4" => vec![any4],
        "*6" | "!6" => vec![any6],
        h => {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            let mut v: Vec<SocketAddr> = (h, port)
                .to_socket_addrs()
                .map_err(|e| format!("could not resolve \"{host}\": {e}"))?
                .collect();
            v.sort();
            v.dedup();
            v
        }
    };
    if addrs.is_empty() {
        return Err(format!("\"{host}\" resolves to no address"));
    }
    Ok(addrs)
}

fn bind_one(addr: &SocketAddr) -> Result<RawFd, String> {
    unsafe {
        let domain = if addr.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        let fd = libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        let one: c_int = 1;
        let optlen = std::mem::size_of::<c_int>() as libc::socklen_t;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            &one as *const c_int as *const _,
            optlen,
        );
        if addr.is_ipv6() {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                &one as *const c_int as *const _,
                optlen,
            );
        }
        let rc = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                libc::bind(
                    fd,
                    &sin as *const libc::sockaddr_in as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                libc::bind(
                    fd,
                    &sin6 as *const libc::sockaddr_in6 as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        };
        if rc != 0 || libc::listen(fd, libc::SOMAXCONN) != 0 {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(e.to_string());
        }
        Ok(fd)
    }
}

/// Opens every address; on any failure closes what was opened and reports why. Also used
/// for the admin server's sockets.
pub(crate) fn open(host: &str, port: u16) -> Result<Vec<RawFd>, String> {
    let addrs = resolve(host, port)?;
    let mut fds = Vec::new();
    for a in &addrs {
        match bind_one(a) {
            Ok(fd) => fds.push(fd),
            Err(e) => {
                for fd in fds {
                    unsafe { libc::close(fd) };
                }
                return Err(format!("could not listen on {a}: {e}"));
            }
        }
    }
    Ok(fds)
}

/// Records the endpoints (postmaster only, before any worker is forked).
pub(crate) fn set(e: Endpoints) {
    unsafe { *std::ptr::addr_of_mut!(ENDPOINTS) = Some(e) };
}

/// Wakes every worker's main thread (any backend may: the eventfds are inherited from the
/// postmaster). Used when the schema changed, so idle workers reload their cache before
/// the next request needs it.
pub(crate) fn wake_all_executors() {
    let e = unsafe { &*std::ptr::addr_of!(ENDPOINTS) };
    if let Some(e) = e {
        for fd in &e.exec_wake {
            wake(*fd);
        }
    }
}

/// The endpoints inherited from the postmaster (`None`: opening them failed).
pub(crate) fn get() -> Option<Endpoints> {
    unsafe { (*std::ptr::addr_of!(ENDPOINTS)).clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_hosts() {
        assert_eq!(
            resolve("*4", 3000).unwrap(),
            vec!["0.0.0.0:3000".parse().unwrap()]
        );
        assert_eq!(resolve("!6", 1).unwrap(), vec!["[::]:1".parse().unwrap()]);
        assert_eq!(resolve("*", 1).unwrap().len(), 2);
        assert_eq!(
            resolve("127.0.0.1", 80).unwrap(),
            vec!["127.0.0.1:80".parse().unwrap()]
        );
        assert_eq!(
            resolve("[::1]", 80).unwrap(),
            vec!["[::1]:80".parse().unwrap()]
        );
    }

    #[test]
    fn binds_and_reports_port_in_use() {
        let fds = open("127.0.0.1", 0).unwrap();
        assert_eq!(fds.len(), 1);
        // Find the port we got, then try to bind it again.
        let port = unsafe {
            let mut sin: libc::sockaddr_in = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            libc::getsockname(fds[0], &mut sin as *mut _ as *mut libc::sockaddr, &mut len);
            u16::from_be(sin.sin_port)
        };
        let err = open("127.0.0.1", port).unwrap_err();
        assert!(err.contains("Address already in use"), "{err}");
        unsafe { libc::close(fds[0]) };
    }
}
