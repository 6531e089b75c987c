//! Value conditions: headers, cookies and query parameters.
//!
//! The index (`index.rs`) narrows a request down to a few candidate routes by
//! host and path; this module checks the per-value conditions left over. It
//! also owns the per-request [`RequestValues`], which parses the `Cookie`
//! headers and the query string lazily — only when a candidate route actually
//! has a cookie or query condition — and at most once per request.
//!
//! Semantics:
//! - **headers**: a header may occur on several lines. `Exact`/`Regex` hold if
//!   *any* line matches; values are compared as UTF-8 text and a non-UTF-8 line
//!   never matches. `Present` = at least one line, `Absent` = none.
//! - **cookies**: every `Cookie` line is split on `;`, each pair on its first
//!   `=`; names and values are trimmed of spaces and tabs; a pair without `=`
//!   is a name with an empty value; empty pairs and non-UTF-8 pairs are
//!   skipped; values are taken literally (quotes are not removed); the first
//!   occurrence of a name wins.
//! - **query**: split on `&`, each parameter on its first `=` (missing `=` →
//!   empty value); empty parameters are skipped; name and value are
//!   percent-decoded (`%41` → `A`; a malformed escape such as `%4` or `%zz` is
//!   kept literally; a decoded byte sequence that is not UTF-8 becomes U+FFFD,
//!   like `form_urlencoded`). `+` is **not** decoded to a space: that is an
//!   HTML-form convention, not part of URI syntax, and a route author who wants
//!   it can match `+` or write a regex. The first occurrence of a name wins.

use std::borrow::Cow;
use std::cell::OnceCell;

use http::HeaderMap;
use http::header::COOKIE;

use crate::config::model::{HeaderMatch, NamedMatch, ValueMatch};

/// Whether the header condition `m` holds for `headers`.
pub(super) fn header_matches(headers: &HeaderMap, m: &HeaderMatch) -> bool {
    let mut lines = headers.get_all(&m.name).iter();
    match &m.value {
        ValueMatch::Present => lines.next().is_some(),
        ValueMatch::Absent => lines.next().is_none(),
        // `want` is UTF-8, so byte equality also rules out non-UTF-8 lines.
        ValueMatch::Exact(want) => lines.any(|v| v.as_bytes() == want.as_bytes()),
        ValueMatch::Regex(re) => {
            lines.any(|v| std::str::from_utf8(v.as_bytes()).is_ok_and(|s| re.is_match(s)))
        }
    }
}

/// Whether a single-valued condition holds, given the value found under its
/// name (`None` when the name is absent).
pub(super) fn value_matches(m: &ValueMatch, found: Option<&str>) -> bool {
    match m {
        ValueMatch::Present => found.is_some(),
        ValueMatch::Absent => found.is_none(),
        ValueMatch::Exact(want) => found == Some(want.as_str()),
        ValueMatch::Regex(re) => found.is_some_and(|v| re.is_match(v)),
    }
}

/// Name/value pairs in request order; lookups return the first occurrence.
#[derive(Debug, Default)]
pub(super) struct Pairs<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl Pairs<'_> {
    /// The value of the first pair called `name`.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.as_ref() == name)
            .map(|(_, v)| v.as_ref())
    }

    /// All pairs in request order (tests).
    #[cfg(test)]
    pub(super) fn as_slice(&self) -> &[(Cow<'_, str>, Cow<'_, str>)] {
        &self.0
    }
}

/// Cookies and query parameters of one request, parsed on first use.
pub(super) struct RequestValues<'a> {
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    cookies: OnceCell<Pairs<'a>>,
    params: OnceCell<Pairs<'a>>,
}

impl<'a> RequestValues<'a> {
    pub(super) fn new(headers: &'a HeaderMap, query: Option<&'a str>) -> Self {
        RequestValues {
            headers,
            query,
            cookies: OnceCell::new(),
            params: OnceCell::new(),
        }
    }

    /// Whether every cookie condition holds (parses the cookies once).
    pub(super) fn cookies_match(&self, conds: &[NamedMatch]) -> bool {
        let jar = self.cookies.get_or_init(|| parse_cookies(self.headers));
        conds
            .iter()
            .all(|c| value_matches(&c.value, jar.get(&c.name)))
    }

    /// Whether every query condition holds (parses the query once).
    pub(super) fn query_match(&self, conds: &[NamedMatch]) -> bool {
        let params = self
            .params
            .get_or_init(|| self.query.map(parse_query).unwrap_or_default());
        conds
            .iter()
            .all(|c| value_matches(&c.value, params.get(&c.name)))
    }

    /// Whether the cookies / query have been parsed yet (tests of laziness).
    #[cfg(test)]
    pub(super) fn parsed(&self) -> (bool, bool) {
        (self.cookies.get().is_some(), self.params.get().is_some())
    }
}

/// Every cookie pair of every `Cookie` header line, in request order (see
/// the module docs for the parsing rules).
fn cookie_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|line| line.as_bytes().split(|&b| b == b';'))
        .filter_map(|raw| {
            let pair = trim(std::str::from_utf8(raw).ok()?);
            if pair.is_empty() {
                return None;
            }
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((trim(name), trim(value)))
        })
}

/// Parses every `Cookie` header line into pairs.
pub(super) fn parse_cookies(headers: &HeaderMap) -> Pairs<'_> {
    Pairs(
        cookie_pairs(headers)
            .map(|(n, v)| (Cow::Borrowed(n), Cow::Borrowed(v)))
            .collect(),
    )
}

/// The value of the first cookie called `name`, without building a jar.
pub(super) fn find_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    cookie_pairs(headers)
        .find(|&(n, _)| n == name)
        .map(|(_, v)| v)
}

/// Parses a raw query string (without `?`) into decoded pairs.
pub(super) fn parse_query(query: &str) -> Pairs<'_> {
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect();
    Pairs(pairs)
}

fn trim(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Decodes `%XX` escapes; borrows when there is none. Malformed escapes are
/// kept literally, `+` stays `+`, invalid UTF-8 becomes U+FFFD.
pub(super) fn percent_decode(s: &str) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    if !bytes.contains(&b'%') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// The value of one hex digit.
pub(super) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
