//! The OCSP response checks behind stapling (`tls::ocsp`): `check` never
//! panics on arbitrary bytes, gives the same answer twice, and refuses a
//! response with a byte appended; `serial_number` never panics on
//! arbitrary certificate bytes. Seeds: the real responses of
//! `src/tls/testdata/ocsp`, checked against that leaf.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::tls::ocsp::{check, serial_number};

const LEAF: &[u8] = include_bytes!("../../src/tls/testdata/ocsp/leaf.der");

fuzz_target!(|data: &[u8]| {
    let leaf = LEAF;
    let first = check(data, leaf);
    assert_eq!(first, check(data, leaf));
    if first.is_ok() {
        let mut longer = data.to_vec();
        longer.push(0);
        assert!(check(&longer, leaf).is_err(), "trailing byte accepted");
    }
    let _ = serial_number(data);
});
