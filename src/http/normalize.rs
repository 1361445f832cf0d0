//! Request targets as curl sends them.
//!
//! hyper parses the request target with the `http` crate's `Uri`, which refuses the raw bytes
//! `"`, `<`, `>` and `` ` `` (hyper then answers 400 with an empty body), although httparse
//! accepts them, curl sends them as typed (`?metadata->>type=eq.foo`, `?name=in.("a,b",c)`)
//! and PostgREST accepts them. [`NormalizeTarget`] sits between the socket and hyper and
//! percent-encodes exactly those bytes, only inside request targets; the query grammar
//! decodes them again, so a raw target parses exactly like its encoded form.
//!
//! Finding every request line on a keep-alive connection means following the message
//! framing: the head ends at an empty line, then a body of `Content-Length` bytes or a
//! chunked body follows. Header values and bodies pass through untouched. Anything the
//! tracker does not understand switches it off for the rest of the connection: hyper sees
//! the bytes as sent and refuses a malformed message by itself.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Longest head the tracker follows: the largest `pgrest.server_max_head_size` (hyper
/// refuses a head longer than the configured size before the tracker would give up).
const MAX_HEAD: usize = 16 << 20;
/// Longest chunk-size or trailer line.
const MAX_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a request line: blank lines may precede it.
    Start,
    /// In the request line: the method, the target (rewritten), then the rest.
    Method,
    Target,
    Version,
    /// In the header lines, until the empty line.
    Headers,
    /// A body of this many more bytes.
    Body(u64),
    /// A chunk-size line (with optional extensions).
    ChunkSize,
    /// Chunk data of this many more bytes, then CRLF.
    ChunkData(u64),
    ChunkDataEnd,
    /// Trailer lines after the last chunk, until the empty line.
    Trailers,
    /// Given up: pass everything through.
    Passthrough,
}

/// The synchronous part: consumes input bytes, appends the bytes hyper should see.
#[derive(Debug)]
pub(crate) struct Framing {
    state: State,
    /// The head so far (from the request line), to read the framing headers from.
    head: Vec<u8>,
    /// The current chunk-size or trailer line.
    line: Vec<u8>,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            state: State::Start,
            head: Vec::new(),
            line: Vec::new(),
        }
    }
}

fn encoded(b: u8) -> Option<&'static [u8]> {
    match b {
        b'"' => Some(b"%22"),
        b'<' => Some(b"%3C"),
        b'>' => Some(b"%3E"),
        b'`' => Some(b"%60"),
        _ => None,
    }
}

/// How the body after a head is framed: `None` if the head cannot be understood.
fn body_framing(head: &[u8]) -> Option<State> {
    let mut chunked = false;
    let mut length: Option<u64> = None;
    // Skip the request line; header lines end with LF (CR optional).
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = std::str::from_utf8(value).ok()?.trim();
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let last = value.rsplit(',').next().unwrap_or("").trim();
            chunked = last.eq_ignore_ascii_case("chunked");
            if !chunked {
                return None;
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let n: u64 = value.parse().ok()?;
            if length.is_some_and(|l| l != n) {
                return None;
            }
            length = Some(n);
        }
    }
    Some(match (chunked, length) {
        (true, Some(_)) => return None,
        (true, None) => State::ChunkSize,
        (false, Some(n)) if n > 0 => State::Body(n),
        _ => State::Start,
    })
}

impl Framing {
    /// Processes `input`, appending what hyper should read to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            match self.state {
                State::Passthrough => {
                    out.extend_from_slice(input);
                    return;
                }
                State::Body(n) | State::ChunkData(n) => {
                    let take = input.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                    out.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    let left = n - take as u64;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => State::Start,
                        (State::Body(_), l) => State::Body(l),
                        (_, 0) => State::ChunkDataEnd,
                        (_, l) => State::ChunkData(l),
                    };
                }
                _ => {
                    let b = input[0];
                    input = &input[1..];
                    self.byte(b, out);
                }
            }
        }
    }

    fn give_up(&mut self, out: &mut Vec<u8>, b: u8) {
        self.state = State::Passthrough;
        self.head = Vec::new();
        self.line = Vec::new();
        out.push(b);
    }

    /// One byte of a head, chunk line or trailer.
    fn byte(&mut self, b: u8, out: &mut Vec<u8>) {
        match self.state {
            State::Start => {
                if b == b'\r' || b == b'\n' {
                    out.push(b);
                    return;
                }
                self.head.clear();
                self.state = State::Method;
                self.byte(b, out);
            }
            State::Method | State::Target | State::Version | State::Headers => {
                if self.head.len() >= MAX_HEAD {
                    return self.give_up(out, b);
                }
                self.head.push(b);
                match (self.state, b) {
                    (State::Method, b' ') => self.state = State::Target,
                    (State::Target, b' ') => self.state = State::Version,
                    (State::Method | State::Target | State::Version, b'\n') => {
                        self.state = State::Headers
                    }
                    (State::Headers, b'\n')
                        if self.head.ends_with(b"\n\r\n") || self.head.ends_with(b"\n\n") =>
                    {
                        match body_framing(&self.head) {
                            Some(next) => self.state = next,
                            None => return self.give_up(out, b),
                        }
                        self.head.clear();
                    }
                    _ => {}
                }
                if self.state == State::Target && b != b' ' {
                    if let Some(e) = encoded(b) {
                        out.extend_from_slice(e);
                        return;
                    }
                }
                out.push(b);
            }
            State::ChunkSize | State::Trailers | State::ChunkDataEnd => {
                out.push(b);
                if self.line.len() >= MAX_LINE {
                    self.state = State::Passthrough;
                    return;
                }
                self.line.push(b);
                if b != b'\n' {
                    return;
                }
                let line = std::mem::take(&mut self.line);
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                self.state = match self.state {
                    State::ChunkDataEnd if text.is_empty() => State::ChunkSize,
                    State::ChunkSize => {
                        let size = text.split(|&c| c == b';').next().unwrap_or(b"");
                        let size = std::str::from_utf8(size)
                            .ok()
                            .and_then(|s| u64::from_str_radix(s.trim(), 16).ok());
                        match size {
                            Some(0) => State::Trailers,
                            Some(n) => State::ChunkData(n),
                            None => State::Passthrough,
                        }
                    }
                    State::Trailers if text.is_empty() => State::Start,
                    State::Trailers => State::Trailers,
                    _ => State::Passthrough,
                };
            }
            State::Body(_) | State::ChunkData(_) | State::Passthrough => out.push(b),
        }
    }
}

/// An I/O object whose reads are normalised by [`Framing`]; writes pass through.
pub(crate) struct NormalizeTarget<T> {
    inner: T,
    framing: Framing,
    /// Normalised bytes not handed out yet, from `pos`.
    pending: Vec<u8>,
    pos: usize,
    scratch: Box<[u8]>,
}

impl<T> NormalizeTarget<T> {
    pub fn new(inner: T) -> Self {
        NormalizeTarget {
            inner,
            framing: Framing::default(),
            pending: Vec::new(),
            pos: 0,
            scratch: vec![0; 16 * 1024].into_boxed_slice(),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for NormalizeTarget<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos == this.pending.len() {
            this.pending.clear();
            this.pos = 0;
            let mut raw = ReadBuf::new(&mut this.scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut raw) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            let filled = raw.filled();
            if filled.is_empty() {
                return Poll::Ready(Ok(())); // EOF
            }
            this.framing.feed(filled, &mut this.pending);
        }
        let n = buf.remaining().min(this.pending.len() - this.pos);
        buf.put_slice(&this.pending[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for NormalizeTarget<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Normalises `input` in one piece, byte by byte, and split at every position; all three
    /// must agree.
    fn normalise(input: &[u8]) -> String {
        let whole = {
            let mut f = Framing::default();
            let mut out = Vec::new();
            f.feed(input, &mut out);
            out
        };
        let mut f = Framing::default();
        let mut bytewise = Vec::new();
        for b in input {
            f.feed(std::slice::from_ref(b), &mut bytewise);
        }
        assert_eq!(bytewise, whole, "byte by byte");
        for i in 0..input.len() {
            let mut f = Framing::default();
            let mut out = Vec::new();
            f.feed(&input[..i], &mut out);
            f.feed(&input[i..], &mut out);
            assert_eq!(out, whole, "split at {i}");
        }
        String::from_utf8(whole).unwrap()
    }

    #[test]
    fn targets_are_encoded_and_nothing_else() {
        assert_eq!(
            normalise(b"GET /items?metadata->>type=eq.foo HTTP/1.1\r\nHost: x\r\n\r\n"),
            "GET /items?metadata-%3E%3Etype=eq.foo HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        assert_eq!(
            normalise(b"GET /t?name=in.(\"a,b\",c) HTTP/1.1\r\nPrefer: a=\"<b>\"\r\n\r\n"),
            "GET /t?name=in.(%22a,b%22,c) HTTP/1.1\r\nPrefer: a=\"<b>\"\r\n\r\n"
        );
        assert_eq!(
            normalise(b"GET /a`<b>?x=%3E{}|^\\ HTTP/1.1\r\n\r\n"),
            "GET /a%60%3Cb%3E?x=%3E{}|^\\ HTTP/1.1\r\n\r\n"
        );
        // Blank lines before a request line.
        assert_eq!(
            normalise(b"\r\n\r\nGET /\"x HTTP/1.1\n\n"),
            "\r\n\r\nGET /%22x HTTP/1.1\n\n"
        );
    }

    #[test]
    fn bodies_are_skipped_and_pipelined_requests_found() {
        let body = "GET /x?a=\"<b>\" HTTP/1.1\r\n\r\n\"<>";
        let input = format!(
            "POST /t HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET /t?a=\"b\" HTTP/1.1\r\n\r\n",
            body.len()
        );
        assert_eq!(
            normalise(input.as_bytes()),
            format!(
                "POST /t HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET /t?a=%22b%22 HTTP/1.1\r\n\r\n",
                body.len()
            )
        );
        let chunked = "POST /t HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
                       5;ext=\"<\"\r\n\"<>\"x\r\n3\r\n<\">\r\n0\r\nX-Trailer: \"<>\"\r\n\r\n\
                       GET /t?b=<1> HTTP/1.1\r\n\r\n";
        assert_eq!(
            normalise(chunked.as_bytes()),
            chunked.replace("?b=<1>", "?b=%3C1%3E")
        );
    }

    #[test]
    fn what_is_not_understood_passes_through() {
        let bad = b"POST /a HTTP/1.1\r\nContent-Length: x\r\n\r\nGET /b?\"c HTTP/1.1\r\n\r\n";
        assert_eq!(
            normalise(bad),
            "POST /a HTTP/1.1\r\nContent-Length: x\r\n\r\nGET /b?\"c HTTP/1.1\r\n\r\n"
        );
        let conflicting =
            b"POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxGET /\" HTTP/1.1\r\n\r\n";
        assert!(normalise(conflicting).ends_with("GET /\" HTTP/1.1\r\n\r\n"));
        let bad_chunk =
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /\" HTTP/1.1\r\n\r\n";
        assert!(normalise(bad_chunk).ends_with("GET /\" HTTP/1.1\r\n\r\n"));
    }

    #[test]
    fn reads_through_a_tiny_buffer() {
        struct Chunks(Vec<Vec<u8>>);
        impl AsyncRead for Chunks {
            fn poll_read(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                if !self.0.is_empty() {
                    let c = self.0.remove(0);
                    buf.put_slice(&c);
                }
                Poll::Ready(Ok(()))
            }
        }
        let input = b"GET /a?x=\"<>\" HTTP/1.1\r\nHost: y\r\n\r\nGET /b?y=\" HTTP/1.1\r\n\r\n";
        let chunks = input.chunks(5).map(<[u8]>::to_vec).collect();
        let mut reader = NormalizeTarget::new(Chunks(chunks));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let out = rt.block_on(async {
            use tokio::io::AsyncReadExt;
            let mut out = Vec::new();
            let mut small = [0u8; 3];
            loop {
                let n = reader.read(&mut small).await.unwrap();
                if n == 0 {
                    break out;
                }
                out.extend_from_slice(&small[..n]);
            }
        });
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET /a?x=%22%3C%3E%22 HTTP/1.1\r\nHost: y\r\n\r\nGET /b?y=%22 HTTP/1.1\r\n\r\n"
        );
    }
}
