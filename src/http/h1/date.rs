//! The `Date` header value, formatted once per second per worker thread
//! (as hyper caches it): every response needs one and formatting a date
//! costs more than the rest of a small head.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub const LEN: usize = 29;

struct Cached {
    second: u64,
    value: [u8; LEN],
}

thread_local! {
    static CACHED: RefCell<Cached> = const { RefCell::new(Cached { second: u64::MAX, value: [0; LEN] }) };
}

/// Calls `f` with the current date as an HTTP `Date` value.
pub fn with<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        if c.second != second {
            let text = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(second));
            if text.len() == LEN {
                c.value.copy_from_slice(text.as_bytes());
                c.second = second;
            }
        }
        f(&c.value)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_date_is_an_imf_fixdate_of_now() {
        let text = super::with(|d| String::from_utf8(d.to_vec()).expect("ascii"));
        assert!(text.ends_with(" GMT"), "{text}");
        let parsed = httpdate::parse_http_date(&text).expect("parses as an HTTP date");
        let age = std::time::SystemTime::now()
            .duration_since(parsed)
            .expect("not in the future");
        assert!(age.as_secs() <= 2, "date {text} is {age:?} old");
    }
}
