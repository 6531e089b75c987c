//! Normalises arbitrary paths as routing does: never panics; the result
//! of a `/` path starts with `/` and has no empty (but a last), `.` or
//! `..` segment; a path without `%` normalised twice is unchanged.

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
    // Decoding is once only, so only a result without `%` is a fixed point.
    if !once.contains('%') {
        assert_eq!(normalize_path(&once), once.as_str(), "{s:?}");
    }
});
