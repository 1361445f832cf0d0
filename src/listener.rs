//! The listening sockets, opened once by the postmaster while it preloads pgrest.
//!
//! Every worker is forked from the postmaster and inherits the same sockets, so all workers
//! share one accept queue: no fd passing, and the sockets outlive worker crashes and crash
//! restarts. They are close-on-exec so programs run by backends (COPY PROGRAM,
//! archive_command) do not inherit them. Failing to bind is logged and never stops
//! PostgreSQL from starting.

use std::ffi::c_int;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::RawFd;

/// The inherited listening sockets (set in the postmaster, read in the workers).
static mut LISTENERS: Vec<RawFd> = Vec::new();

/// The addresses `pgrest.server_host` stands for, with PostgREST's special values.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
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

/// Opens every address; on any failure closes what was opened and reports why.
pub fn open(host: &str, port: u16) -> Result<Vec<RawFd>, String> {
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

/// Records the sockets (postmaster only, before any worker is forked).
pub fn set(fds: Vec<RawFd>) {
    unsafe { *std::ptr::addr_of_mut!(LISTENERS) = fds };
}

/// The sockets inherited from the postmaster.
pub fn get() -> Vec<RawFd> {
    unsafe { (*std::ptr::addr_of!(LISTENERS)).clone() }
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
