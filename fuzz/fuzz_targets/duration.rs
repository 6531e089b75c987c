//! Parses arbitrary strings as durations: never panics; what parses is
//! digits and units only.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::config::parse_duration;

fuzz_target!(|s: &str| {
    if parse_duration(s).is_ok() {
        assert!(!s.is_empty());
        assert!(
            s.chars().all(|c| c.is_ascii_digit() || "mhs".contains(c)),
            "{s:?}"
        );
    }
});
