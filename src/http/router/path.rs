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
//! **What** (RFC 3986 §6.2.2, plus merged slashes as in NGINX):
//! - a percent-encoded unreserved character is decoded (`%61` → `a`,
//!   `%2E` → `.`); other percent-encodings stay encoded, with upper-case hex
//!   (`%2f` → `%2F`: an encoded slash is not a separator); a `%` that starts
//!   no encoding becomes `%25`, so that what follows cannot turn it into one
//!   (`%d%61` is `%25da`, not `%da`);
//! - `.` and `..` segments are removed (§5.2.4); `..` never climbs above the
//!   root;
//! - runs of `/` become one.
//!
//! Only routing sees the result: the request goes upstream as the client
//! sent it (as from NGINX), so nothing a backend relies on changes. Most
//! paths need none of this and are borrowed, after one scan.

use std::borrow::Cow;

use super::values::hex;

/// The normalised form of `path` (see the module docs). A path that does
/// not start with `/` (`*`) is returned as it is.
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    if !path.starts_with('/') || is_normal(path.as_bytes()) {
        return Cow::Borrowed(path);
    }
    let decoded = decode_unreserved(path.as_bytes());
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

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Decodes `%XX` of unreserved characters; other valid `%XX` get upper-case
/// hex; a `%` without two hex digits becomes `%25`.
fn decode_unreserved(p: &[u8]) -> String {
    let mut out = String::with_capacity(p.len());
    let mut i = 0;
    while i < p.len() {
        let b = p[i];
        if b == b'%'
            && let (Some(h), Some(l)) = (
                p.get(i + 1).copied().and_then(hex),
                p.get(i + 2).copied().and_then(hex),
            )
        {
            let v = h << 4 | l;
            if is_unreserved(v) {
                out.push(char::from(v));
            } else {
                out.push('%');
                out.push(char::from(p[i + 1].to_ascii_uppercase()));
                out.push(char::from(p[i + 2].to_ascii_uppercase()));
            }
            i += 3;
            continue;
        }
        // The path is ASCII (request targets are), but stay safe on any
        // input: a non-ASCII byte is kept percent-encoded.
        if b == b'%' {
            out.push_str("%25");
        } else if b.is_ascii() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
        i += 1;
    }
    out
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
    fn unreserved_characters_are_decoded_others_kept_in_upper_case() {
        assert_eq!(n("/%61dmin/"), "/admin/");
        assert_eq!(n("/%41%7e%2d%5F"), "/A~-_");
        assert_eq!(n("/a%2fb"), "/a%2Fb");
        assert_eq!(n("/a%2Fb"), "/a%2Fb");
        assert_eq!(n("/a%20b"), "/a%20b");
        assert_eq!(n("/%00"), "/%00");
        // Not an encoding: the `%` itself is encoded, so what follows
        // cannot make it one.
        assert_eq!(n("/100%"), "/100%25");
        assert_eq!(n("/%zz/%4"), "/%25zz/%254");
        assert_eq!(n("/%d%61"), "/%25da");
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

    #[test]
    fn normalising_twice_changes_nothing() {
        for p in [
            "/%61dmin/",
            "/a/../b/./c//d/",
            "/a%2fb/%2e%2e",
            "/x/%2525/..",
            "//",
        ] {
            let once = n(p);
            assert_eq!(n(&once), once, "{p}");
        }
    }
}
