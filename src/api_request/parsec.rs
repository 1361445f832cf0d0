//! A small parser-combinator core with Parsec's semantics.
//!
//! PostgREST parses its query parameters with Parsec, and its error messages (position, the
//! unexpected input and the merged "expecting" list) are part of its observable API. To
//! reproduce them this core behaves like Parsec: every parser reports whether it consumed
//! input, `or` only tries the next alternative after a failure that consumed nothing, `try_`
//! turns a consuming failure into a non-consuming one, labels replace the expectations of
//! non-consuming failures, and errors at the same position are merged (the farthest one
//! wins otherwise). The grammar itself is `query_params::grammar`.

/// A query-string error, reported as a 400 with code PGRST100.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QpError {
    /// e.g. `"failed to parse filter (noop.0)" (line 1, column 1)`
    pub message: String,
    /// e.g. `unexpected "o" expecting "not" or operator (eq, gt, ...)`
    pub details: String,
}

impl std::fmt::Display for QpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.message, self.details)
    }
}

impl std::error::Error for QpError {}

/// Nesting allowed in `select` embeds and logic trees before we give up, so that hostile
/// input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 100;

/// Line and column, both from 1; tabs advance to the next multiple of 8 plus one, as in
/// Parsec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub(crate) line: u32,
    pub(crate) col: u32,
}

impl Pos {
    pub(crate) fn next(self, c: char) -> Pos {
        match c {
            '\n' => Pos {
                line: self.line.saturating_add(1),
                col: 1,
            },
            '\t' => Pos {
                line: self.line,
                col: self.col.saturating_add(8 - ((self.col - 1) % 8)),
            },
            _ => Pos {
                line: self.line,
                col: self.col.saturating_add(1),
            },
        }
    }
}

/// The text of a message. Errors are built at every failed alternative but rarely shown,
/// so rendering (Haskell's `show` escaping) is deferred until they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Txt {
    /// Shown as is; `""` for the end of input.
    Lit(&'static str),
    /// A one-character string, shown like Haskell's `show`: `"x"`.
    StrOf(char),
    /// A string literal, shown like Haskell's `show`: `"abc"`.
    StrLit(&'static str),
    /// A character, shown like Haskell's `show`: `'x'`.
    CharOf(char),
    Owned(String),
}

impl Txt {
    pub(crate) fn render(&self) -> String {
        match self {
            Txt::Lit(s) => s.to_string(),
            Txt::StrOf(c) => show_string(c.encode_utf8(&mut [0; 4])),
            Txt::StrLit(s) => show_string(s),
            Txt::CharOf(c) => show_char(*c),
            Txt::Owned(s) => s.clone(),
        }
    }
}

impl From<&'static str> for Txt {
    fn from(s: &'static str) -> Txt {
        Txt::Lit(s)
    }
}

/// Parsec's error messages; the order of the variants is the order they are shown in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Msg {
    /// What the input had, from a primitive parser (`""` is the end of input).
    SysUnExpect(Txt),
    /// What the input had, from `unexpected`/`notFollowedBy`/`eof`; hides `SysUnExpect`.
    UnExpect(Txt),
    Expect(Txt),
    Message(Txt),
}

impl Msg {
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Msg::SysUnExpect(_) => 0,
            Msg::UnExpect(_) => 1,
            Msg::Expect(_) => 2,
            Msg::Message(_) => 3,
        }
    }

    pub(crate) fn text(&self) -> String {
        match self {
            Msg::SysUnExpect(t) | Msg::UnExpect(t) | Msg::Expect(t) | Msg::Message(t) => t.render(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PErr {
    pub(crate) pos: Pos,
    pub(crate) msgs: Vec<Msg>,
}

impl PErr {
    pub(crate) fn unknown(pos: Pos) -> PErr {
        PErr {
            pos,
            msgs: Vec::new(),
        }
    }

    pub(crate) fn new(pos: Pos, msgs: Vec<Msg>) -> PErr {
        PErr { pos, msgs }
    }

    pub(crate) fn is_unknown(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Errors with messages beat unknown ones; otherwise the farther one wins and errors at
    /// the same position pool their messages.
    pub(crate) fn merge(mut self, other: PErr) -> PErr {
        if other.msgs.is_empty() && !self.msgs.is_empty() {
            return self;
        }
        if self.msgs.is_empty() && !other.msgs.is_empty() {
            return other;
        }
        match self.pos.cmp(&other.pos) {
            std::cmp::Ordering::Equal => {
                self.msgs.extend(other.msgs);
                self
            }
            std::cmp::Ordering::Greater => self,
            std::cmp::Ordering::Less => other,
        }
    }

    /// What a label does: all expectations are replaced by the label.
    pub(crate) fn expecting(mut self, label: Txt) -> PErr {
        self.msgs.retain(|m| !matches!(m, Msg::Expect(_)));
        self.msgs.insert(0, Msg::Expect(label));
        self
    }

    /// Parsec's `showErrorMessages`, flattened to one line.
    pub(crate) fn details(&self) -> String {
        if self.msgs.is_empty() {
            return "unknown parse error".to_string();
        }
        let mut msgs: Vec<&Msg> = self.msgs.iter().collect();
        msgs.sort_by_key(|m| m.rank());
        let of = |rank: u8| -> Vec<String> {
            msgs.iter()
                .filter(|m| m.rank() == rank)
                .map(|m| m.text())
                .collect()
        };
        let (sys, unexpected, expected, messages) = (of(0), of(1), of(2), of(3));

        let show_sys = match sys.first() {
            Some(_) if !unexpected.is_empty() => String::new(),
            Some(first) if first.is_empty() => "unexpected end of input".to_string(),
            Some(first) => format!("unexpected {first}"),
            None => String::new(),
        };
        let sections = clean(vec![
            show_sys,
            show_many("unexpected", &unexpected),
            show_many("expecting", &expected),
            show_many("", &messages),
        ]);
        let text: String = sections.iter().map(|s| format!("\n{s}")).collect();
        text.replace('\n', " ").trim().to_string()
    }
}

/// Drops empty strings and duplicates, keeping the first occurrence.
pub(crate) fn clean<S: AsRef<str>>(items: Vec<S>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in items {
        let s = s.as_ref();
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out
}

pub(crate) fn show_many(prefix: &str, msgs: &[String]) -> String {
    let ms = clean(msgs.to_vec());
    if ms.is_empty() {
        return String::new();
    }
    let listed = match ms.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, init)) => format!("{} or {last}", init.join(", ")),
        None => String::new(),
    };
    if prefix.is_empty() {
        listed
    } else {
        format!("{prefix} {listed}")
    }
}

/// Haskell's `show` for a `Char`: `'x'`, `'\n'`, `'\233'`.
pub(crate) fn show_char(c: char) -> String {
    if c == '\'' {
        return "'\\''".to_string();
    }
    let mut s = String::from("'");
    show_lit_char(c, None, &mut s);
    s.push('\'');
    s
}

/// Haskell's `show` for a `String`: `"x"`, with the same escapes as [`show_char`].
pub(crate) fn show_string(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut s = String::from("\"");
    for (i, c) in chars.iter().enumerate() {
        if *c == '"' {
            s.push_str("\\\"");
        } else {
            show_lit_char(*c, chars.get(i + 1).copied(), &mut s);
        }
    }
    s.push('"');
    s
}

pub(crate) fn show_lit_char(c: char, next: Option<char>, out: &mut String) {
    const ASCII_NAMES: [&str; 32] = [
        "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "a", "b", "t", "n", "v", "f", "r", "SO",
        "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC",
        "FS", "GS", "RS", "US",
    ];
    let code = c as u32;
    if code > 0x7f {
        out.push_str(&format!("\\{code}"));
        // A following digit would read as part of the number.
        if next.is_some_and(|n| n.is_ascii_digit()) {
            out.push_str("\\&");
        }
    } else if code == 0x7f {
        out.push_str("\\DEL");
    } else if c == '\\' {
        out.push_str("\\\\");
    } else if code >= 0x20 {
        out.push(c);
    } else {
        out.push('\\');
        out.push_str(ASCII_NAMES[code as usize]);
        if code == 0x0e && next == Some('H') {
            out.push_str("\\&");
        }
    }
}

/// The cursor over one parameter.
pub(crate) struct St {
    pub(crate) input: Vec<char>,
    pub(crate) i: usize,
    pub(crate) pos: Pos,
    pub(crate) depth: usize,
    /// Set when nesting goes too deep: the whole parse fails with it, whatever the
    /// alternatives around it would have done.
    pub(crate) fatal: Option<PErr>,
}

impl St {
    pub(crate) fn new(text: &str) -> St {
        St {
            input: text.chars().collect(),
            i: 0,
            pos: Pos { line: 1, col: 1 },
            depth: 0,
            fatal: None,
        }
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.input.get(self.i).copied()
    }

    pub(crate) fn save(&self) -> (usize, Pos) {
        (self.i, self.pos)
    }

    pub(crate) fn restore(&mut self, (i, pos): (usize, Pos)) {
        self.i = i;
        self.pos = pos;
    }
}

/// A success: the value, whether input was consumed, and the error to merge with if what
/// follows fails at the same position (that is how "expecting" lists accumulate).
pub(crate) struct Okay<T> {
    pub(crate) val: T,
    pub(crate) consumed: bool,
    pub(crate) err: PErr,
}

/// A failure, consuming or not.
pub(crate) struct Fail {
    pub(crate) consumed: bool,
    pub(crate) err: PErr,
}

pub(crate) type R<T> = Result<Okay<T>, Fail>;

pub(crate) fn empty_fail<T>(err: PErr) -> R<T> {
    Err(Fail {
        consumed: false,
        err,
    })
}

/// Runs a production on a whole parameter and converts its error to a [`QpError`] named
/// `name` (e.g. `failed to parse filter (...)`).
pub(crate) fn run<T>(
    name: &str,
    input: &str,
    p: impl FnOnce(&mut St) -> R<T>,
) -> Result<T, QpError> {
    let mut st = St::new(input);
    let result = p(&mut st);
    let err = match (st.fatal.take(), result) {
        (Some(fatal), _) => fatal,
        (None, Ok(ok)) => return Ok(ok.val),
        (None, Err(fail)) => fail.err,
    };
    Err(QpError {
        message: format!("\"{name}\" (line {}, column {})", err.pos.line, err.pos.col),
        details: err.details(),
    })
}

/// Sequencing (`>>=`): tracks consumption and merges errors between steps.
pub(crate) struct Seq {
    pub(crate) consumed: bool,
    pub(crate) err: PErr,
}

impl Seq {
    pub(crate) fn new(st: &St) -> Seq {
        Seq {
            consumed: false,
            err: PErr::unknown(st.pos),
        }
    }

    pub(crate) fn merged(&mut self, next: PErr) -> PErr {
        let prev = std::mem::replace(&mut self.err, PErr::unknown(next.pos));
        if prev.is_unknown() {
            next
        } else {
            prev.merge(next)
        }
    }

    pub(crate) fn run<T>(&mut self, r: R<T>) -> Result<T, Fail> {
        match r {
            Ok(ok) => {
                if ok.consumed {
                    self.consumed = true;
                    self.err = ok.err;
                } else {
                    self.err = self.merged(ok.err);
                }
                Ok(ok.val)
            }
            Err(fail) => {
                let err = if fail.consumed {
                    fail.err
                } else {
                    self.merged(fail.err)
                };
                Err(Fail {
                    consumed: self.consumed || fail.consumed,
                    err,
                })
            }
        }
    }

    pub(crate) fn done<T>(self, val: T) -> R<T> {
        Ok(Okay {
            val,
            consumed: self.consumed,
            err: self.err,
        })
    }
}

pub(crate) fn map<T, U>(r: R<T>, f: impl FnOnce(T) -> U) -> R<U> {
    r.map(|ok| Okay {
        val: f(ok.val),
        consumed: ok.consumed,
        err: ok.err,
    })
}

pub(crate) fn pure<T>(st: &mut St, val: T) -> R<T> {
    Ok(Okay {
        val,
        consumed: false,
        err: PErr::unknown(st.pos),
    })
}

/// `mzero`: fails without a message.
pub(crate) fn parser_zero<T>(st: &mut St) -> R<T> {
    empty_fail(PErr::unknown(st.pos))
}

pub(crate) fn unexpected<T>(st: &mut St, what: Txt) -> R<T> {
    empty_fail(PErr::new(st.pos, vec![Msg::UnExpect(what)]))
}

/// `<|>`: the second alternative only runs if the first failed without consuming input.
pub(crate) fn or<T>(
    st: &mut St,
    p: impl FnOnce(&mut St) -> R<T>,
    q: impl FnOnce(&mut St) -> R<T>,
) -> R<T> {
    let saved = st.save();
    match p(st) {
        Err(Fail {
            consumed: false,
            err: e1,
        }) => {
            st.restore(saved);
            match q(st) {
                Ok(Okay {
                    val,
                    consumed: false,
                    err,
                }) => Ok(Okay {
                    val,
                    consumed: false,
                    err: e1.merge(err),
                }),
                Err(Fail {
                    consumed: false,
                    err,
                }) => empty_fail(e1.merge(err)),
                other => other,
            }
        }
        other => other,
    }
}

/// Right-nested `or` over several alternatives.
macro_rules! alt {
    ($st:expr, $p:expr $(,)?) => { $p($st) };
    ($st:expr, $p:expr, $($rest:expr),+ $(,)?) => {
        or($st, $p, |st: &mut St| alt!(st, $($rest),+))
    };
}
pub(crate) use alt;

/// `try`: a consuming failure becomes a non-consuming one, and the input is rewound.
pub(crate) fn try_<T>(st: &mut St, p: impl FnOnce(&mut St) -> R<T>) -> R<T> {
    let saved = st.save();
    match p(st) {
        Err(Fail {
            consumed: true,
            err,
        }) => {
            st.restore(saved);
            empty_fail(err)
        }
        other => other,
    }
}

/// `<?>`: names what was expected when `p` fails (or stops) without consuming input.
pub(crate) fn label<T>(st: &mut St, p: impl FnOnce(&mut St) -> R<T>, name: impl Into<Txt>) -> R<T> {
    let name = name.into();
    match p(st) {
        Ok(Okay {
            val,
            consumed: false,
            err,
        }) => {
            let err = if err.is_unknown() {
                err
            } else {
                err.expecting(name)
            };
            Ok(Okay {
                val,
                consumed: false,
                err,
            })
        }
        Err(Fail {
            consumed: false,
            err,
        }) => empty_fail(err.expecting(name)),
        other => other,
    }
}

pub(crate) fn look_ahead<T>(st: &mut St, p: impl FnOnce(&mut St) -> R<T>) -> R<T> {
    let saved = st.save();
    match p(st) {
        Ok(ok) => {
            st.restore(saved);
            Ok(Okay {
                val: ok.val,
                consumed: false,
                err: PErr::unknown(st.pos),
            })
        }
        Err(fail) => Err(fail),
    }
}

/// `notFollowedBy`: succeeds, consuming nothing, when `p` fails.
pub(crate) fn not_followed_by(st: &mut St, p: impl FnOnce(&mut St) -> R<char>) -> R<()> {
    try_(st, |st| {
        or(
            st,
            |st| {
                let mut q = Seq::new(st);
                let v = q.run(try_(st, p))?;
                q.run(unexpected::<()>(st, Txt::CharOf(v)))?;
                q.done(())
            },
            |st| pure(st, ()),
        )
    })
}

pub(crate) fn many<T>(st: &mut St, mut p: impl FnMut(&mut St) -> R<T>) -> R<Vec<T>> {
    let mut items = Vec::new();
    let mut consumed = false;
    loop {
        let saved = st.save();
        match p(st) {
            Ok(Okay {
                val,
                consumed: true,
                ..
            }) => {
                items.push(val);
                consumed = true;
            }
            // Parsec refuses `many` over a parser that accepts nothing; stopping is the
            // safe equivalent (none of our productions does it).
            Ok(Okay {
                consumed: false,
                err,
                ..
            })
            | Err(Fail {
                consumed: false,
                err,
            }) => {
                st.restore(saved);
                return Ok(Okay {
                    val: items,
                    consumed,
                    err,
                });
            }
            Err(fail) => return Err(fail),
        }
    }
}

pub(crate) fn many1<T>(st: &mut St, mut p: impl FnMut(&mut St) -> R<T>) -> R<Vec<T>> {
    let mut q = Seq::new(st);
    let first = q.run(p(st))?;
    let mut rest = q.run(many(st, p))?;
    rest.insert(0, first);
    q.done(rest)
}

pub(crate) fn sep_by1<T, S>(
    st: &mut St,
    mut p: impl FnMut(&mut St) -> R<T>,
    mut sep: impl FnMut(&mut St) -> R<S>,
) -> R<Vec<T>> {
    let mut q = Seq::new(st);
    let first = q.run(p(st))?;
    let mut rest = q.run(many(st, |st| {
        let mut q = Seq::new(st);
        q.run(sep(st))?;
        let v = q.run(p(st))?;
        q.done(v)
    }))?;
    rest.insert(0, first);
    q.done(rest)
}

pub(crate) fn sep_by<T, S>(
    st: &mut St,
    p: impl FnMut(&mut St) -> R<T>,
    sep: impl FnMut(&mut St) -> R<S>,
) -> R<Vec<T>> {
    or(st, |st| sep_by1(st, p, sep), |st| pure(st, Vec::new()))
}

pub(crate) fn option_maybe<T>(st: &mut St, p: impl FnOnce(&mut St) -> R<T>) -> R<Option<T>> {
    or(st, |st| map(p(st), Some), |st| pure(st, None))
}

pub(crate) fn option<T>(st: &mut St, default: T, p: impl FnOnce(&mut St) -> R<T>) -> R<T> {
    or(st, p, |st| pure(st, default))
}

pub(crate) fn between<T>(
    st: &mut St,
    open: char,
    close: char,
    p: impl FnOnce(&mut St) -> R<T>,
) -> R<T> {
    let mut q = Seq::new(st);
    q.run(char_(st, open))?;
    let v = q.run(p(st))?;
    q.run(char_(st, close))?;
    q.done(v)
}

/// Runs a recursive production one level deeper, failing for good past [`MAX_DEPTH`].
pub(crate) fn nested<T>(st: &mut St, p: impl FnOnce(&mut St) -> R<T>) -> R<T> {
    if let Some(err) = &st.fatal {
        return Err(Fail {
            consumed: true,
            err: err.clone(),
        });
    }
    if st.depth >= MAX_DEPTH {
        let err = PErr::new(
            st.pos,
            vec![Msg::Message(Txt::Owned(format!(
                "maximum nesting depth of {MAX_DEPTH} exceeded"
            )))],
        );
        st.fatal = Some(err.clone());
        return Err(Fail {
            consumed: true,
            err,
        });
    }
    st.depth += 1;
    let r = p(st);
    st.depth -= 1;
    r
}

// Primitive parsers -----------------------------------------------------------------------

pub(crate) fn satisfy(st: &mut St, pred: impl Fn(char) -> bool) -> R<char> {
    match st.peek() {
        Some(c) if pred(c) => {
            st.i += 1;
            st.pos = st.pos.next(c);
            Ok(Okay {
                val: c,
                consumed: true,
                err: PErr::unknown(st.pos),
            })
        }
        Some(c) => empty_fail(PErr::new(st.pos, vec![Msg::SysUnExpect(Txt::StrOf(c))])),
        None => empty_fail(PErr::new(st.pos, vec![Msg::SysUnExpect(Txt::Lit(""))])),
    }
}

pub(crate) fn char_(st: &mut St, c: char) -> R<char> {
    label(st, |st| satisfy(st, |x| x == c), Txt::StrOf(c))
}

pub(crate) fn any_char(st: &mut St) -> R<char> {
    satisfy(st, |_| true)
}

pub(crate) fn one_of(st: &mut St, set: &str) -> R<char> {
    satisfy(st, |c| set.contains(c))
}

pub(crate) fn none_of(st: &mut St, set: &str) -> R<char> {
    satisfy(st, |c| !set.contains(c))
}

pub(crate) fn letter(st: &mut St) -> R<char> {
    label(st, |st| satisfy(st, char::is_alphabetic), "letter")
}

pub(crate) fn digit(st: &mut St) -> R<char> {
    label(st, |st| satisfy(st, |c| c.is_ascii_digit()), "digit")
}

/// Any character, without moving the reported position (Parsec's `anyToken`).
pub(crate) fn any_token(st: &mut St) -> R<char> {
    match st.peek() {
        Some(c) => {
            st.i += 1;
            Ok(Okay {
                val: c,
                consumed: true,
                err: PErr::unknown(st.pos),
            })
        }
        None => empty_fail(PErr::new(st.pos, vec![Msg::SysUnExpect(Txt::Lit(""))])),
    }
}

pub(crate) fn eof(st: &mut St) -> R<()> {
    label(
        st,
        |st| not_followed_by(st, any_token),
        Txt::Lit("end of input"),
    )
}

/// A literal string. A mismatch is reported at the start of the string with the offending
/// character, and counts as consuming when it happens after the first character.
pub(crate) fn string(st: &mut St, s: &'static str) -> R<()> {
    let start = st.pos;
    let expect = Msg::Expect(Txt::StrLit(s));
    for (n, t) in s.chars().enumerate() {
        match st.peek() {
            Some(c) if c == t => {
                st.i += 1;
                st.pos = st.pos.next(c);
            }
            other => {
                let unexpected = other.map_or(Txt::Lit(""), Txt::StrOf);
                let err = PErr::new(start, vec![expect, Msg::SysUnExpect(unexpected)]);
                return Err(Fail {
                    consumed: n > 0,
                    err,
                });
            }
        }
    }
    Ok(Okay {
        val: (),
        consumed: !s.is_empty(),
        err: PErr::unknown(st.pos),
    })
}

/// Case-insensitive literal, character by character.
pub(crate) fn ci_string(st: &mut St, s: &str) -> R<()> {
    let mut q = Seq::new(st);
    for c in s.chars() {
        q.run(or(
            st,
            |st| char_(st, c),
            |st| char_(st, c.to_ascii_uppercase()),
        ))?;
    }
    q.done(())
}

pub(crate) fn hs_strip(s: &str) -> String {
    s.trim_matches(super::range::is_hs_space).to_string()
}
