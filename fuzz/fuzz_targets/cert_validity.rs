//! The certificate validity reader behind the expired-certificate
//! warnings (`tls::certs::validity`): it reads an operator's certificate
//! file, so arbitrary bytes must never make it panic, and it gives the
//! same answer twice; a period it returns is what `validity_problem`
//! judges without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::tls::certs::{validity, validity_problem};

fuzz_target!(|data: &[u8]| {
    let period = validity(data);
    assert_eq!(validity(data), period);
    if period.is_some() {
        let _ = validity_problem(data, std::time::SystemTime::now());
    }
});
