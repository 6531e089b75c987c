//! The request path as routes see it: normalised, so that spellings of one
//! path that a backend would read alike match alike.
//!
//! **Why.** Matching the raw path lets a client step around a route that
//! guards part of a site: `/%61dmin/`, `/pre/../admin/` and `//admin/` miss
//! a `path_prefix = "/admin/"` route, yet a backend that decodes the path
//! serves `/admin/` for each. NGINX normalises before it matches a
//! location; Envoy offers `normalize_path` and `merge_slashes`; HAProxy
//! has `normalize-uri` actions.
//!
//! **What** (what NGINX does before it matches a location):
//! - every percent-encoding is decoded, once (`%61` → `a`, `%2E` → `.`,
//!   `%2F` → `/`, `%C3%BC` → `ü`); a `%` that starts no encoding stays;
//!   bytes that do not make UTF-8 become U+FFFD;
//! - `.` and `..` segments are removed (RFC 3986 §5.2.4); `..` never climbs
//!   above the root;
//! - runs of `/` become one.
//!
//! Route paths are written decoded, as NGINX locations are (`/ün/`, not
//! `/%C3%BCn/`); `check` warns about one that no normalised path can
//! match. Only routing sees the result: the request goes upstream as the
//! client sent it (as from NGINX), so nothing a backend relies on changes.
//! Most paths need none of this and are borrowed, after one scan.

use std::borrow::Cow;

use super::values::hex;

/// The normalised form of `path` (see the module docs). A path that does
/// not start with `/` (`*`) is returned as it is.
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    if !path.starts_with('/') || is_normal(path.as_bytes()) {
        return Cow::Borrowed(path);
    }
    let decoded = decode(path.as_bytes());
    Cow::Owned(remove_dot_segments(&decoded))
}

/// Nothing to do: no `%`, no `//`, no `.` or `..` segment.
fn is_normal(p: &[u8]) -> bool {
    if p.contains(&b'%') {
        return false;
    }
    let mut prev = 0u8;
    for (i, &b) in p.iter().enumerate() {
        if prev == b'/' {
            if b == b'/' {
                return false;
            }
            if b == b'.' {
                let rest = &p[i..];
                let dot_segment = |n: usize| rest.len() == n || rest[n] == b'/';
                if dot_segment(1) || (rest.get(1) == Some(&b'.') && dot_segment(2)) {
                    return false;
                }
            }
        }
        prev = b;
    }
    true
}

/// Decodes every `%XX` once; a `%` without two hex digits stays.
fn decode(p: &[u8]) -> String {
    let mut out = Vec::with_capacity(p.len());
    let mut i = 0;
    while i < p.len() {
        let b = p[i];
        if b == b'%'
            && let (Some(h), Some(l)) = (
                p.get(i + 1).copied().and_then(hex),
                p.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Removes `.` and `..` segments and empty ones (merged slashes); keeps a
/// trailing slash, and the one a final `.` or `..` implies.
fn remove_dot_segments(p: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing = false;
    for seg in p.split('/').skip(1) {
        trailing = false;
        match seg {
            "" => trailing = true,
            "." => trailing = true,
            ".." => {
                segments.pop();
                trailing = true;
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(p.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing || segments.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    fn n(p: &str) -> String {
        normalize_path(p).into_owned()
    }

    #[test]
    fn usual_paths_are_borrowed_unchanged() {
        for p in [
            "/",
            "/a",
            "/a/b/",
            "/.well-known/x",
            "/a.b/c..d/...",
            "/a-b_c~d",
            "*",
        ] {
            assert!(
                matches!(normalize_path(p), std::borrow::Cow::Borrowed(_)),
                "{p}"
            );
            assert_eq!(n(p), p);
        }
    }

    #[test]
    fn every_percent_encoding_is_decoded_once() {
        assert_eq!(n("/%61dmin/"), "/admin/");
        assert_eq!(n("/%41%7e%2d%5F"), "/A~-_");
        // An encoded slash is a slash to routes (as to NGINX and to
        // backends that decode the path).
        assert_eq!(n("/admin%2Fsecret"), "/admin/secret");
        assert_eq!(n("/x/..%2fadmin/x"), "/admin/x");
        assert_eq!(n("/%C3%BCn/x"), "/ün/x");
        assert_eq!(n("/sp%20ace"), "/sp ace");
        // Once: `%2525` is `%25`, not `%`.
        assert_eq!(n("/%2525"), "/%25");
        // Not an encoding: kept.
        assert_eq!(n("/100%"), "/100%");
        assert_eq!(n("/%zz/%4"), "/%zz/%4");
        // Not UTF-8.
        assert_eq!(n("/%FF"), "/\u{FFFD}");
    }

    #[test]
    fn dot_segments_are_removed_and_never_climb_above_the_root() {
        assert_eq!(n("/pre/../admin/"), "/admin/");
        assert_eq!(n("/a/./b"), "/a/b");
        assert_eq!(n("/a/b/.."), "/a/");
        assert_eq!(n("/a/b/."), "/a/b/");
        assert_eq!(n("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(n("/.."), "/");
        assert_eq!(n("/."), "/");
        // Encoded dots are dots.
        assert_eq!(n("/a/%2e%2E/admin"), "/admin");
        assert_eq!(n("/a/.%2e/admin"), "/admin");
    }

    #[test]
    fn runs_of_slashes_become_one() {
        assert_eq!(n("//admin"), "/admin");
        assert_eq!(n("/a//b///c/"), "/a/b/c/");
        assert_eq!(n("///"), "/");
    }
}
