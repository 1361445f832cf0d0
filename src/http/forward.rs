//! Moving a request to another worker's main thread and its response back.
//!
//! When the pool reserves another worker's main thread for a request, the HTTP thread that
//! read the request sends it, as raw HTTP parts, to that worker's inbox (a Unix socket the
//! postmaster opened, see `listener`); the other worker's HTTP thread parses it again (the
//! parse is pure and cheap), hands it to its main thread and sends the response back on the
//! same connection. Connections between workers are kept for reuse.
//!
//! Frames are length-prefixed: `u64` length, then the fields, each string or byte string
//! itself `u64`-length-prefixed, integers little-endian.

use std::io;
use std::os::fd::FromRawFd;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::error::Header;
use crate::response::HttpResponse;

/// A request as read from the client, before parsing: what another worker needs to parse
/// it exactly as the worker that read it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawParts {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-cased names, values as received, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Bytes,
}

/// A forwarded request: for which incarnation of the executing worker it was meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Forwarded {
    pub epoch: u32,
    pub parts: RawParts,
}

/// Largest frame accepted from another worker (a body is at most `server_max_body_size`,
/// itself below 2 GiB).
const MAX_FRAME: u64 = 1 << 32;

struct Writer(Vec<u8>);

impl Writer {
    fn new() -> Writer {
        // Room for the length prefix, filled in by `finish`.
        Writer(vec![0; 8])
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(&(b.len() as u64).to_le_bytes());
        self.0.extend_from_slice(b);
    }
    fn finish(mut self) -> Vec<u8> {
        let len = (self.0.len() - 8) as u64;
        self.0[..8].copy_from_slice(&len.to_le_bytes());
        self.0
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&[u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        self.take(n)
    }
    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
}

pub(crate) fn encode_request(epoch: u32, parts: &RawParts) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(epoch);
    w.bytes(parts.method.as_bytes());
    w.bytes(parts.path.as_bytes());
    match &parts.query {
        Some(q) => {
            w.u32(1);
            w.bytes(q.as_bytes());
        }
        None => w.u32(0),
    }
    w.u32(parts.headers.len() as u32);
    for (k, v) in &parts.headers {
        w.bytes(k.as_bytes());
        w.bytes(v);
    }
    w.bytes(&parts.body);
    w.finish()
}

pub(crate) fn decode_request(frame: &[u8]) -> Option<Forwarded> {
    let mut r = Reader(frame);
    let epoch = r.u32()?;
    let method = r.string()?;
    let path = r.string()?;
    let query = match r.u32()? {
        0 => None,
        _ => Some(r.string()?),
    };
    let n = r.u32()?;
    let mut headers = Vec::with_capacity(n.min(1024) as usize);
    for _ in 0..n {
        headers.push((r.string()?, r.bytes()?.to_vec()));
    }
    let body = Bytes::copy_from_slice(r.bytes()?);
    r.0.is_empty().then_some(Forwarded {
        epoch,
        parts: RawParts {
            method,
            path,
            query,
            headers,
            body,
        },
    })
}

pub(crate) fn encode_response(resp: &HttpResponse) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(u32::from(resp.status));
    w.bytes(resp.reason.as_deref().unwrap_or("").as_bytes());
    w.u32(resp.headers.len() as u32);
    for (k, v) in &resp.headers {
        w.bytes(k.as_bytes());
        w.bytes(v.as_bytes());
    }
    w.bytes(&resp.body);
    w.finish()
}

pub(crate) fn decode_response(frame: &[u8]) -> Option<HttpResponse> {
    let mut r = Reader(frame);
    let status = u16::try_from(r.u32()?).ok()?;
    let reason = Some(r.string()?).filter(|t| !t.is_empty());
    let n = r.u32()?;
    let mut headers: Vec<Header> = Vec::with_capacity(n.min(1024) as usize);
    for _ in 0..n {
        headers.push((r.string()?, r.string()?));
    }
    let body = r.bytes()?.to_vec();
    r.0.is_empty().then_some(HttpResponse {
        status,
        reason,
        headers,
        body,
    })
}

/// Reads one frame; `Ok(None)` at a clean end of the connection.
pub(crate) async fn read_frame(s: &mut UnixStream) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 8];
    match s.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u64::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut buf = vec![0u8; len as usize];
    s.read_exact(&mut buf).await?;
    Ok(Some(buf))
}

pub(crate) async fn write_frame(s: &mut UnixStream, frame: &[u8]) -> io::Result<()> {
    s.write_all(frame).await?;
    s.flush().await
}

/// Connects to worker `i`'s inbox (non-blocking; a full backlog is an error, not a wait).
pub(crate) fn connect(postmaster_pid: u32, i: usize) -> io::Result<UnixStream> {
    let name = crate::listener::inbox_name(postmaster_pid, i);
    let (addr, len) = crate::listener::abstract_addr(&name);
    unsafe {
        let fd = libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let std = std::os::unix::net::UnixStream::from_raw_fd(fd);
        if libc::connect(
            fd,
            &addr as *const libc::sockaddr_un as *const libc::sockaddr,
            len,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        UnixStream::from_std(std)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let f = Forwarded {
            epoch: 7,
            parts: RawParts {
                method: "POST".into(),
                path: "/todos".into(),
                query: Some("select=id&a=\"<>\"".into()),
                headers: vec![
                    ("prefer".into(), b"return=representation".to_vec()),
                    ("x-bin".into(), vec![0, 255, 10]),
                ],
                body: Bytes::from_static(b"{\"task\":\"x\"}"),
            },
        };
        let frame = encode_request(f.epoch, &f.parts);
        assert_eq!(
            u64::from_le_bytes(frame[..8].try_into().unwrap()) as usize,
            frame.len() - 8
        );
        assert_eq!(decode_request(&frame[8..]), Some(f.clone()));
        let mut no_query = f.clone();
        no_query.parts.query = None;
        assert_eq!(
            decode_request(&encode_request(no_query.epoch, &no_query.parts)[8..]),
            Some(no_query)
        );
        // Truncated or padded frames are refused.
        assert_eq!(decode_request(&frame[8..frame.len() - 1]), None);
        let mut padded = frame[8..].to_vec();
        padded.push(0);
        assert_eq!(decode_request(&padded), None);

        let resp = HttpResponse {
            status: 201,
            reason: None,
            headers: vec![("Location".into(), "/todos?id=eq.1".into())],
            body: b"[]".to_vec(),
        };
        let frame = encode_response(&resp);
        assert_eq!(decode_response(&frame[8..]), Some(resp.clone()));
        let custom = HttpResponse {
            status: 402,
            reason: Some("Pay Up".into()),
            ..resp
        };
        assert_eq!(
            decode_response(&encode_response(&custom)[8..]),
            Some(custom)
        );
        assert_eq!(decode_response(&[1, 2]), None);
    }
}
