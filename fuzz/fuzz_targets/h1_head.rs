//! The own HTTP/1.1 reader's head parser (`http::h1::head::parse`): never
//! panics; leaves the buffer untouched unless it takes a request; when it
//! takes one, the head it took plus what is left is the input, the request
//! is one it may serve (HTTP/1.1, no body framing but `Content-Length: 0`,
//! no upgrade), and the
//! smuggling guard fed the same head says `Ok` and is back between
//! messages (the equivalence `Framing::bodiless_head` relies on).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use switchyard::http::framing::{Framing, Verdict};
use switchyard::http::h1::head::{Parse, parse};

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    match parse(&mut buf, 4096, 100) {
        Parse::Partial | Parse::Hyper => assert_eq!(&buf[..], data),
        Parse::TooMany => assert_eq!(&buf[..], data),
        Parse::TooLarge { line } => {
            assert_eq!(&buf[..], data);
            assert!(data.len() >= 4096, "a head within the limit called too large");
            if let Some(n) = line {
                assert!(n < 4096 && data[n] == b'\n');
            }
        }
        Parse::Ready { req, head, .. } => {
            assert_eq!([&head[..], &buf[..]].concat(), data);
            assert_eq!(req.version(), http::Version::HTTP_11);
            assert_ne!(req.method(), http::Method::CONNECT);
            for name in ["transfer-encoding", "upgrade", "expect"] {
                assert!(!req.headers().contains_key(name), "{name} taken");
            }
            // A length, if any, is a single zero: no body.
            let lengths: Vec<_> = req.headers().get_all("content-length").iter().collect();
            assert!(lengths.is_empty() || lengths == ["0"], "length {lengths:?} taken");
            let mut guard = Framing::new(4096);
            guard.feed(&head);
            assert_eq!(guard.next_verdict(), Some(Verdict::Ok));
            assert!(guard.bodiless_head(), "guard not between messages");
        }
    }
});
