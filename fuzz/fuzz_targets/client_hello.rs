//! The ClientHello peek parser must never panic, and its verdicts must be
//! final: a prefix of the input gives `NeedMore` or the whole input's verdict,
//! so a hello parses identically however the bytes trickle in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::l4::sni::{Peek, parse_client_hello};

fuzz_target!(|data: &[u8]| {
    let (split_at, bytes) = match data.split_first() {
        Some((s, rest)) => (*s as usize, rest),
        None => return,
    };
    let whole = parse_client_hello(bytes);
    let cut = split_at.min(bytes.len());
    let part = parse_client_hello(&bytes[..cut]);
    assert!(
        part == Peek::NeedMore || part == whole,
        "split at {cut}: {part:?} then {whole:?}"
    );
    if let Peek::Hello(_) = &whole {
        // Fed as a growing prefix: NeedMore until complete, then the same hello.
        let mut decided = false;
        for n in 0..=bytes.len() {
            match parse_client_hello(&bytes[..n]) {
                Peek::NeedMore => assert!(!decided, "NeedMore after the hello at {n}"),
                verdict => {
                    assert_eq!(verdict, whole, "prefix of {n} bytes");
                    decided = true;
                }
            }
        }
    }
});
