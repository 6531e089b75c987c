//! Normalises arbitrary paths as routing does: never panics; the result
//! of a `/` path is normal (starts with `/`, no empty, `.` or `..`
//! segment, no encoded unreserved character, upper-case hex) and
//! normalising it again changes nothing.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::http::router::normalize_path;

fuzz_target!(|s: &str| {
    let once = normalize_path(s).into_owned();
    if !s.starts_with('/') {
        assert_eq!(once, s);
        return;
    }
    assert!(once.starts_with('/'), "{s:?} -> {once:?}");
    assert!(!once.contains("//"), "{s:?} -> {once:?}");
    let last = once.split('/').count() - 2;
    for (i, seg) in once.split('/').skip(1).enumerate() {
        assert!(seg != "." && seg != "..", "{s:?} -> {once:?}");
        assert!(!seg.is_empty() || i == last, "{s:?} -> {once:?}");
    }
    let b = once.as_bytes();
    for (i, _) in once.match_indices('%') {
        if let (Some(h), Some(l)) = (b.get(i + 1), b.get(i + 2))
            && h.is_ascii_hexdigit()
            && l.is_ascii_hexdigit()
        {
            assert!(!h.is_ascii_lowercase() && !l.is_ascii_lowercase(), "{s:?} -> {once:?}");
            let v = u8::from_str_radix(&once[i + 1..i + 3], 16).unwrap();
            assert!(
                !(v.is_ascii_alphanumeric() || b"-._~".contains(&v)),
                "{s:?} -> {once:?}"
            );
        }
    }
    assert_eq!(normalize_path(&once), once.as_str(), "not idempotent: {s:?}");
});
