//! Parses arbitrary bytes as a `grpc-timeout` value: never panics; what
//! parses is 1 to 8 digits and one unit, and the duration matches the
//! digits read back by hand.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::http::grpc::parse_timeout;

fuzz_target!(|v: &[u8]| {
    if let Some(d) = parse_timeout(v) {
        let (unit, digits) = v.split_last().expect("parsed values are not empty");
        assert!((1..=8).contains(&digits.len()), "{v:?}");
        assert!(digits.iter().all(u8::is_ascii_digit), "{v:?}");
        let n: u64 = std::str::from_utf8(digits)
            .expect("digits are ASCII")
            .parse()
            .expect("digits parse");
        let nanos_per_unit: u128 = match unit {
            b'H' => 3_600_000_000_000,
            b'M' => 60_000_000_000,
            b'S' => 1_000_000_000,
            b'm' => 1_000_000,
            b'u' => 1_000,
            b'n' => 1,
            _ => panic!("unit {unit} accepted"),
        };
        assert_eq!(d.as_nanos(), u128::from(n) * nanos_per_unit, "{v:?}");
    }
});
