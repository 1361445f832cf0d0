//! A small HTTP/1.1 client on `std::net::TcpStream`, written for tests that need to see
//! exactly what the server put on the wire: headers in order with duplicates, bodies framed
//! by Content-Length, chunked encoding or EOF, and raw bytes for malformed traffic.
//!
//! Every socket has read and write timeouts, so a hung server fails a test instead of
//! hanging it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// How long a read or write may block before the request counts as failed.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound on a status line or header line we accept from the server.
const MAX_LINE: usize = 1 << 20;

/// One HTTP response as received.
#[derive(Debug, Clone)]
pub struct Response {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// In the order received, duplicates kept, names as the server spelled them.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header with this name (case-insensitive), in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (invalid UTF-8 is replaced, so a test can still print it).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the status and body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not valid JSON ({e}); status {}, headers {:?}, body: {:?}",
                self.status,
                self.headers,
                self.text()
            )
        })
    }

    /// A one-line description for assertion messages.
    pub fn describe(&self) -> String {
        let mut body = self.text();
        if body.len() > 2000 {
            let mut cut = 2000;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
            body.push('…');
        }
        format!(
            "{} {} headers={:?} body={:?}",
            self.status, self.reason, self.headers, body
        )
    }
}

/// The outcome of sending raw bytes: what came back, and how the connection ended.
#[derive(Debug, Clone)]
pub struct RawOutcome {
    /// Everything read before EOF, a reset or the timeout.
    pub bytes: Vec<u8>,
    /// The server closed the connection with a FIN (as opposed to a reset or a timeout).
    pub clean_eof: bool,
    /// The error that ended reading, if any (reset, timeout, ...).
    pub error: Option<io::ErrorKind>,
    /// Writing the request failed (the server closed early).
    pub write_error: Option<io::ErrorKind>,
}

impl RawOutcome {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The status code of the first response in the bytes, if they start with a status line.
    pub fn status(&self) -> Option<u16> {
        let line_end = self.bytes.iter().position(|&b| b == b'\n')?;
        let line = std::str::from_utf8(&self.bytes[..line_end]).ok()?;
        let mut parts = line.trim_end().splitn(3, ' ');
        let version = parts.next()?;
        if !version.starts_with("HTTP/1.") {
            return None;
        }
        parts.next()?.parse().ok()
    }
}

fn connect(port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn has_header(headers: &[(&str, &str)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// Serialises a request. Adds `Host` and, for a body, `Content-Length` unless the caller set
/// them (or `Transfer-Encoding`); adds `Connection: close` when `close` and the caller did not
/// set `Connection`.
pub fn encode_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    close: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.map_or(0, <[u8]>::len));
    out.extend_from_slice(format!("{method} {path} HTTP/1.1\r\n").as_bytes());
    if !has_header(headers, "host") {
        out.extend_from_slice(format!("Host: 127.0.0.1:{port}\r\n").as_bytes());
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if close && !has_header(headers, "connection") {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    if let Some(body) = body {
        if !has_header(headers, "content-length") && !has_header(headers, "transfer-encoding") {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    if let Some(body) = body {
        out.extend_from_slice(body);
    }
    out
}

/// Sends one request on a fresh connection and reads the response.
pub fn try_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> io::Result<Response> {
    try_request_timeout(port, method, path, headers, body, IO_TIMEOUT)
}

/// [`try_request`] with a custom read/write timeout.
pub fn try_request_timeout(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<Response> {
    let mut stream = connect(port, timeout)?;
    let bytes = encode_request(port, method, path, headers, body, true);
    let write_result = stream.write_all(&bytes).and_then(|_| stream.flush());
    let mut reader = BufReader::new(stream);
    match write_result {
        Ok(()) => read_response(&mut reader, method.eq_ignore_ascii_case("HEAD")),
        // The server may answer (413, 400) and close before reading the whole body: the
        // answer is still in our receive buffer unless the close was a reset.
        Err(write_err) => {
            read_response(&mut reader, method.eq_ignore_ascii_case("HEAD")).map_err(|read_err| {
                io::Error::new(
                    write_err.kind(),
                    format!("write failed ({write_err}); then read failed ({read_err})"),
                )
            })
        }
    }
}

fn read_line_bytes(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        if line.len() >= MAX_LINE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "connection closed mid-line: {:?}",
                String::from_utf8_lossy(&line)
            ),
        ));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line_bytes(reader)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "EOF in chunk size"))?;
        let line = String::from_utf8_lossy(&line);
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad chunk size line {line:?}"),
            )
        })?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                match read_line_bytes(reader)? {
                    None => return Ok(body),
                    Some(l) if l.is_empty() => return Ok(body),
                    Some(_) => {}
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let crlf = read_line_bytes(reader)?;
        if crlf.as_deref() != Some(b"") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "chunk not followed by CRLF",
            ));
        }
    }
}

/// Reads one response (skipping `100 Continue`-style interim responses). `head` says the
/// request was HEAD, so there is no body whatever the headers say.
pub fn read_response(reader: &mut impl BufRead, head: bool) -> io::Result<Response> {
    loop {
        let status_line = read_line_bytes(reader)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a status line",
            )
        })?;
        let status_line = String::from_utf8_lossy(&status_line).into_owned();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("").to_string();
        let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            )
        })?;
        if !version.starts_with("HTTP/1.") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            ));
        }
        let reason = parts.next().unwrap_or("").to_string();

        let mut headers = Vec::new();
        loop {
            let line = read_line_bytes(reader)?.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside headers",
                )
            })?;
            if line.is_empty() {
                break;
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            let (name, value) = line.split_once(':').ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad header line {line:?}"),
                )
            })?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }

        if (100..200).contains(&status) && status != 101 {
            continue;
        }

        let mut response = Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
        };
        if head || status == 204 || status == 304 || (100..200).contains(&status) {
            return Ok(response);
        }
        let chunked = response
            .headers_named("transfer-encoding")
            .iter()
            .any(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            response.body = read_chunked(reader)?;
        } else if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad Content-Length {len:?}"),
                )
            })?;
            response.body = vec![0; len];
            reader.read_exact(&mut response.body)?;
        } else {
            reader.read_to_end(&mut response.body)?;
        }
        return Ok(response);
    }
}

/// Writes `bytes`, half-closes the connection and reads until EOF, a reset or `timeout`.
pub fn raw_exchange(port: u16, bytes: &[u8], timeout: Duration) -> io::Result<RawOutcome> {
    let mut stream = connect(port, timeout)?;
    let write_error = stream
        .write_all(bytes)
        .and_then(|_| stream.flush())
        .err()
        .map(|e| e.kind());
    let _ = stream.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                return Ok(RawOutcome {
                    bytes: out,
                    clean_eof: true,
                    error: None,
                    write_error,
                })
            }
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Ok(RawOutcome {
                    bytes: out,
                    clean_eof: false,
                    error: Some(e.kind()),
                    write_error,
                })
            }
        }
    }
}

/// A kept-alive connection for sending several requests in a row or pipelined.
pub struct Conn {
    port: u16,
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(port: u16) -> io::Result<Conn> {
        Conn::open_timeout(port, IO_TIMEOUT)
    }

    pub fn open_timeout(port: u16, timeout: Duration) -> io::Result<Conn> {
        Ok(Conn {
            port,
            reader: BufReader::new(connect(port, timeout)?),
        })
    }

    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Sends a request (no `Connection: close` added) and reads its response.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        self.write_request(method, path, headers, body)?;
        self.read_response(method.eq_ignore_ascii_case("HEAD"))
    }

    /// Writes a request without waiting for the answer (for pipelining).
    pub fn write_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<()> {
        let bytes = encode_request(self.port, method, path, headers, body, false);
        self.write_raw(&bytes)
    }

    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes)?;
        stream.flush()
    }

    pub fn read_response(&mut self, head: bool) -> io::Result<Response> {
        read_response(&mut self.reader, head)
    }
}
