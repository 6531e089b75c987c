//! The own HTTP/1.1 upstream client's chunked-body decoder
//! (`upstream::h1::chunked::Decoder`). The first byte picks a split point
//! (scaled over the whole length), the rest is the body. Decoded whole, and
//! fed in two parts (stepping until `Need` before the second part is
//! appended), it gives the same data, the same end (trailers) or error, and
//! leaves the same bytes in the buffer; never panics, every data step is
//! non-empty, and no more data comes out than went in.
#![no_main]

use bytes::BytesMut;
use http::HeaderMap;
use libfuzzer_sys::fuzz_target;
use switchyard::upstream::h1::chunked::{ChunkError, Decoder, Step};

#[derive(Debug, PartialEq)]
enum Outcome {
    End(Option<HeaderMap>),
    Need,
    Err(ChunkError),
}

#[derive(Debug, PartialEq)]
struct Decoded {
    data: Vec<u8>,
    outcome: Outcome,
    rest: Vec<u8>,
    done: bool,
}

fn decode(parts: &[&[u8]]) -> Decoded {
    let mut dec = Decoder::default();
    let mut buf = BytesMut::new();
    let mut data = Vec::new();
    let mut outcome = Outcome::Need;
    let mut parts = parts.iter();
    'feed: for part in parts.by_ref() {
        buf.extend_from_slice(part);
        loop {
            match dec.step(&mut buf) {
                Ok(Step::Data(d)) => {
                    assert!(!d.is_empty(), "empty data step");
                    data.extend_from_slice(&d);
                }
                Ok(Step::End(t)) => {
                    outcome = Outcome::End(t);
                    break 'feed;
                }
                Ok(Step::Need) => break,
                Err(e) => {
                    outcome = Outcome::Err(e);
                    break 'feed;
                }
            }
        }
    }
    // What was never fed counts as left over.
    for part in parts {
        buf.extend_from_slice(part);
    }
    Decoded {
        data,
        outcome,
        rest: buf.to_vec(),
        done: dec.is_done(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    let whole = decode(&[body]);
    assert!(whole.data.len() + whole.rest.len() <= body.len());
    assert_eq!(whole.done, matches!(whole.outcome, Outcome::End(_)));
    let at = body.len() * split as usize / 255;
    let (a, b) = body.split_at(at);
    let parts = decode(&[a, b]);
    assert_eq!(whole, parts, "split at {at}");
});
