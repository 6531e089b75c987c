//! The request-framing tracker (the smuggling guard) must never panic, and
//! must give the same verdicts whether the bytes arrive at once or split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::http::framing::Framing;

fuzz_target!(|data: &[u8]| {
    let (split_at, bytes) = match data.split_first() {
        Some((s, rest)) => (*s as usize, rest),
        None => return,
    };
    let mut whole = Framing::new(4096);
    whole.feed(bytes);
    let mut parts = Framing::new(4096);
    let cut = split_at.min(bytes.len());
    parts.feed(&bytes[..cut]);
    parts.feed(&bytes[cut..]);
    loop {
        let (a, b) = (whole.next_verdict(), parts.next_verdict());
        assert_eq!(a, b, "verdicts differ when split at {cut}");
        if a.is_none() {
            break;
        }
    }
});
