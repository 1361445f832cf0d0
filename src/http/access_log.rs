//! The access log (`pgrest.log_level`): one line per answered request in the combined log
//! format PostgREST writes, less the date (PostgreSQL's `log_line_prefix` has it), plus the
//! time the answer took. The HTTP thread builds the line; its worker's main thread writes it
//! to PostgreSQL's log (only a main thread may call into PostgreSQL).

use std::net::SocketAddr;
use std::time::Duration;

/// What the line needs from a request, taken before the request is consumed.
pub(super) struct Entry {
    peer: SocketAddr,
    method: hyper::Method,
    target: String,
    version: &'static str,
    referer: String,
    user_agent: String,
    /// The role the request ran as, once its JWT was checked.
    pub role: Option<String>,
}

impl Entry {
    pub fn new<B>(req: &hyper::Request<B>, peer: SocketAddr) -> Entry {
        let header = |name| {
            req.headers()
                .get(name)
                .map(|v: &hyper::header::HeaderValue| {
                    String::from_utf8_lossy(v.as_bytes()).into_owned()
                })
                .unwrap_or_default()
        };
        Entry {
            peer,
            method: req.method().clone(),
            target: req
                .uri()
                .path_and_query()
                .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string()),
            version: match req.version() {
                hyper::Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            },
            referer: header(hyper::header::REFERER),
            user_agent: header(hyper::header::USER_AGENT),
            role: None,
        }
    }

    /// The method's name for the metrics (`OTHER` beyond the usual ones).
    pub fn method(&self) -> &str {
        self.method.as_str()
    }

    pub fn line(&self, status: u16, size: usize, took: Duration) -> String {
        format!(
            "pgrest: {} - {} \"{} {} {}\" {status} {size} \"{}\" \"{}\" {:.1} ms",
            self.peer.ip(),
            quoted(self.role.as_deref().unwrap_or("-")),
            self.method,
            quoted(&self.target),
            self.version,
            quoted(&self.referer),
            quoted(&self.user_agent),
            took.as_secs_f64() * 1000.0
        )
    }
}

/// Escapes what would end a quoted field or the line.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_in_the_combined_format() {
        let req = hyper::Request::builder()
            .method("GET")
            .uri("/todos?select=id&task=eq.a%22b")
            .header("User-Agent", "curl/8.0 \"x\"")
            .body(())
            .unwrap();
        let mut e = Entry::new(&req, "127.0.0.1:5000".parse().unwrap());
        e.role = Some("web_anon".into());
        assert_eq!(
            e.line(200, 56, Duration::from_micros(1250)),
            "pgrest: 127.0.0.1 - web_anon \"GET /todos?select=id&task=eq.a%22b HTTP/1.1\" 200 56 \
             \"\" \"curl/8.0 \\\"x\\\"\" 1.2 ms"
        );
        let e = Entry::new(&req, "[::1]:5000".parse().unwrap());
        assert!(e
            .line(401, 0, Duration::ZERO)
            .starts_with("pgrest: ::1 - - \"GET"));
    }
}
