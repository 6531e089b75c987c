use super::*;

/// How decoding some input ended.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// `End`, with its trailers.
    End(Option<HeaderMap>),
    /// All input taken, the body not over.
    Need,
    Err(ChunkError),
}

/// Decoded data, how it ended, and what is left in the buffer.
#[derive(Debug)]
struct Decoded {
    data: Vec<u8>,
    outcome: Outcome,
    rest: BytesMut,
    done: bool,
}

/// Feeds `parts` one after the other into one buffer, stepping until
/// `Need` after each.
fn decode_parts(parts: &[&[u8]]) -> Decoded {
    let mut dec = Decoder::default();
    let mut buf = BytesMut::new();
    let mut data = Vec::new();
    let mut outcome = Outcome::Need;
    'feed: for part in parts {
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
    Decoded {
        data,
        outcome,
        rest: buf,
        done: dec.is_done(),
    }
}

fn decode(input: &[u8]) -> Decoded {
    decode_parts(&[input])
}

fn decode_bytewise(input: &[u8]) -> Decoded {
    let parts: Vec<&[u8]> = input.chunks(1).collect();
    decode_parts(&parts)
}

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            HeaderName::from_bytes(n.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}

fn err(input: &[u8]) -> ChunkError {
    match decode(input).outcome {
        Outcome::Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

const BODY: &[u8] = b"5\r\nhello\r\n1;ext=\"a b\"\r\n \r\nB\r\nworld, abcd\r\n0\r\nX-Sum: 42\r\nX-Other: a, b\r\n\r\n";

#[test]
fn simple_body_decodes_and_ends() {
    let d = decode(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    assert_eq!(d.data, b"hello world");
    assert_eq!(d.outcome, Outcome::End(None));
    assert!(d.rest.is_empty());
    assert!(d.done);
}

#[test]
fn empty_body_is_just_the_last_chunk() {
    let d = decode(b"0\r\n\r\n");
    assert!(d.data.is_empty());
    assert_eq!(d.outcome, Outcome::End(None));
    assert!(d.done);
}

#[test]
fn data_steps_are_the_chunks_themselves() {
    let mut dec = Decoder::default();
    let mut buf = BytesMut::from(&b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"[..]);
    assert_eq!(
        dec.step(&mut buf),
        Ok(Step::Data(Bytes::from_static(b"abc")))
    );
    assert_eq!(
        dec.step(&mut buf),
        Ok(Step::Data(Bytes::from_static(b"de")))
    );
    assert_eq!(dec.step(&mut buf), Ok(Step::End(None)));
    assert!(buf.is_empty());
}

#[test]
fn body_fed_one_byte_at_a_time_gives_the_same_data_and_trailers() {
    let whole = decode(BODY);
    assert_eq!(whole.data, b"hello world, abcd");
    let trailers = map(&[("x-sum", "42"), ("x-other", "a, b")]);
    assert_eq!(whole.outcome, Outcome::End(Some(trailers.clone())));
    assert!(whole.rest.is_empty());
    let bytewise = decode_bytewise(BODY);
    assert_eq!(bytewise.data, whole.data);
    assert_eq!(bytewise.outcome, Outcome::End(Some(trailers)));
    assert!(bytewise.rest.is_empty());
    assert!(bytewise.done);
}

#[test]
fn body_split_in_two_at_every_byte_gives_the_same_data_and_trailers() {
    let whole = decode(BODY);
    for at in 0..=BODY.len() {
        let (a, b) = BODY.split_at(at);
        let split = decode_parts(&[a, b]);
        assert_eq!(split.data, whole.data, "split at {at}");
        assert_eq!(split.outcome, whole.outcome, "split at {at}");
        assert!(split.rest.is_empty(), "split at {at}");
    }
}

#[test]
fn body_without_trailers_fed_one_byte_at_a_time_ends_without_trailers() {
    let input = b"a\r\n0123456789\r\n0\r\n\r\n";
    let d = decode_bytewise(input);
    assert_eq!(d.data, b"0123456789");
    assert_eq!(d.outcome, Outcome::End(None));
    assert!(d.done);
}

#[test]
fn every_prefix_needs_more_and_yields_a_prefix_of_the_data() {
    let whole = decode(BODY);
    for end in 0..BODY.len() {
        let d = decode(&BODY[..end]);
        assert_eq!(d.outcome, Outcome::Need, "prefix {end}");
        assert!(whole.data.starts_with(&d.data), "prefix {end}");
        assert!(!d.done, "prefix {end}");
    }
}

#[test]
fn errors_are_the_same_when_fed_one_byte_at_a_time() {
    for input in [
        &b"5\r\nhelloX\r\n"[..],
        b"5\nhello\r\n",
        b"zz\r\n",
        b"00000000000000005\r\nhello\r\n",
        b"0\r\nbad header\r\n\r\n",
    ] {
        let whole = decode(input);
        assert!(matches!(whole.outcome, Outcome::Err(_)), "{input:?}");
        let bytewise = decode_bytewise(input);
        assert_eq!(bytewise.outcome, whole.outcome, "{input:?}");
        assert_eq!(bytewise.data, whole.data, "{input:?}");
    }
}

#[test]
fn partial_chunk_data_is_handed_out_at_once() {
    let mut dec = Decoder::default();
    let mut buf = BytesMut::from(&b"a\r\nabc"[..]);
    assert_eq!(
        dec.step(&mut buf),
        Ok(Step::Data(Bytes::from_static(b"abc")))
    );
    assert_eq!(dec.step(&mut buf), Ok(Step::Need));
    buf.extend_from_slice(b"defghij\r\n0\r\n\r\n");
    assert_eq!(
        dec.step(&mut buf),
        Ok(Step::Data(Bytes::from_static(b"defghij")))
    );
    assert_eq!(dec.step(&mut buf), Ok(Step::End(None)));
}

#[test]
fn bytes_after_the_body_stay_in_the_buffer() {
    let d = decode(b"2\r\nhi\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n");
    assert_eq!(d.data, b"hi");
    assert_eq!(d.outcome, Outcome::End(None));
    assert_eq!(&d.rest[..], b"HTTP/1.1 200 OK\r\n");
}

#[test]
fn bytes_after_the_trailers_stay_in_the_buffer() {
    let d = decode(b"0\r\nX-A: 1\r\n\r\nnext");
    assert_eq!(d.outcome, Outcome::End(Some(map(&[("x-a", "1")]))));
    assert_eq!(&d.rest[..], b"next");
}

#[test]
fn chunk_extensions_are_skipped() {
    let d = decode(
        b"5;name=value\r\nhello\r\n1 ; a ; b=\"x;y\"\r\n!\r\n3\t;tab\r\nabc\r\n0;last=1\r\n\r\n",
    );
    assert_eq!(d.data, b"hello!abc");
    assert_eq!(d.outcome, Outcome::End(None));
}

#[test]
fn long_extension_under_the_line_limit_is_skipped() {
    let mut input = b"3;x=".to_vec();
    input.resize(MAX_LINE - 2, b'a');
    input.extend_from_slice(b"\r\nabc\r\n0\r\n\r\n");
    let d = decode(&input);
    assert_eq!(d.data, b"abc");
    assert_eq!(d.outcome, Outcome::End(None));
}

#[test]
fn trailers_are_parsed_into_a_header_map() {
    let d = decode(b"3\r\nabc\r\n0\r\nX-Checksum: abc123\r\nx-a: 1\r\nX-A: 2\r\nExpires:\r\n\r\n");
    assert_eq!(d.data, b"abc");
    let Outcome::End(Some(t)) = d.outcome else {
        panic!("{:?}", d.outcome);
    };
    assert_eq!(t.len(), 4);
    assert_eq!(t["x-checksum"], "abc123");
    let a: Vec<_> = t.get_all("x-a").iter().collect();
    assert_eq!(a, ["1", "2"]);
    assert_eq!(t["expires"], "");
    assert!(d.done);
}

#[test]
fn invalid_trailer_section_is_an_error() {
    assert_eq!(err(b"0\r\nno colon\r\n\r\n"), ChunkError::Trailers);
    assert_eq!(err(b"0\r\nBad Name: x\r\n\r\n"), ChunkError::Trailers);
    assert_eq!(err(b"0\r\n: x\r\n\r\n"), ChunkError::Trailers);
}

// Regression: httparse may end a trailer section before the CRLFCRLF the
// decoder found (it takes a bare LF as a line end); the bytes between must
// not be dropped unparsed (here `x-b`): the section is an error.
#[test]
fn trailer_section_ending_before_its_crlfcrlf_is_an_error() {
    assert_eq!(err(b"0\r\nx-a: 1\n\nx-b: 2\r\n\r\n"), ChunkError::Trailers);
}

#[test]
fn too_many_trailer_fields_are_an_error() {
    let mut input = b"0\r\n".to_vec();
    for i in 0..MAX_TRAILER_FIELDS {
        input.extend_from_slice(format!("x-t{i}: {i}\r\n").as_bytes());
    }
    input.extend_from_slice(b"\r\n");
    let Outcome::End(Some(t)) = decode(&input).outcome else {
        panic!("{MAX_TRAILER_FIELDS} fields refused");
    };
    assert_eq!(t.len(), MAX_TRAILER_FIELDS);
    let mut input = b"0\r\n".to_vec();
    for i in 0..=MAX_TRAILER_FIELDS {
        input.extend_from_slice(format!("x-t{i}: {i}\r\n").as_bytes());
    }
    input.extend_from_slice(b"\r\n");
    assert_eq!(err(&input), ChunkError::Trailers);
}

#[test]
fn uppercase_and_lowercase_hex_sizes() {
    let data: Vec<u8> = (0..=255u8).collect();
    for size_line in ["ff", "FF", "fF", "Ff", "00fF"] {
        let mut input = format!("{size_line}\r\n").into_bytes();
        input.extend_from_slice(&data[..255]);
        input.extend_from_slice(b"\r\n0\r\n\r\n");
        let d = decode(&input);
        assert_eq!(d.data, &data[..255], "{size_line}");
        assert_eq!(d.outcome, Outcome::End(None), "{size_line}");
    }
    let d = decode(b"a\r\n0123456789\r\nB\r\n0123456789a\r\n0\r\n\r\n");
    assert_eq!(d.data, b"01234567890123456789a");
}

#[test]
fn sixteen_hex_digits_are_accepted() {
    let d = decode(b"0000000000000005\r\nhello\r\n0\r\n\r\n");
    assert_eq!(d.data, b"hello");
    assert_eq!(d.outcome, Outcome::End(None));
}

#[test]
fn largest_chunk_size_hands_out_what_is_there() {
    let mut dec = Decoder::default();
    let mut buf = BytesMut::from(&b"FFFFFFFFFFFFFFFF\r\nabc"[..]);
    assert_eq!(
        dec.step(&mut buf),
        Ok(Step::Data(Bytes::from_static(b"abc")))
    );
    assert_eq!(dec.step(&mut buf), Ok(Step::Need));
    assert!(!dec.is_done());
}

#[test]
fn seventeen_hex_digits_are_an_error() {
    assert_eq!(err(b"00000000000000005\r\nhello\r\n"), ChunkError::Size);
    assert_eq!(err(b"10000000000000000\r\n"), ChunkError::Size);
}

#[test]
fn missing_crlf_after_data_is_an_error() {
    assert_eq!(err(b"5\r\nhelloX\r\n0\r\n\r\n"), ChunkError::DataEnd);
    assert_eq!(err(b"5\r\nhello0\r\n\r\n"), ChunkError::DataEnd);
    assert_eq!(err(b"5\r\nhello\r\r\n"), ChunkError::DataEnd);
}

#[test]
fn bare_lf_after_data_is_an_error() {
    assert_eq!(err(b"5\r\nhello\n0\r\n\r\n"), ChunkError::DataEnd);
}

#[test]
fn data_longer_than_its_size_is_an_error() {
    let d = decode(b"3\r\nhello\r\n0\r\n\r\n");
    assert_eq!(d.data, b"hel");
    assert_eq!(d.outcome, Outcome::Err(ChunkError::DataEnd));
}

#[test]
fn bare_lf_on_the_size_line_is_an_error() {
    assert_eq!(err(b"5\nhello\r\n0\r\n\r\n"), ChunkError::Size);
    assert_eq!(err(b"0\n\r\n"), ChunkError::Size);
    assert_eq!(err(b"5;ext\nhello\r\n"), ChunkError::Size);
}

#[test]
fn garbage_sizes_are_an_error() {
    for line in [
        &b"zz\r\n"[..],
        b"\r\n",
        b" 5\r\n",
        b"-5\r\n",
        b"+5\r\n",
        b"0x5\r\n",
        b"5 x\r\n",
        b"5 \r\n",
        b"5g\r\n",
        b";ext\r\n",
        b"5;a\rb\r\n",
        b"5;a\0b\r\n",
        b"\xff\r\n",
    ] {
        assert_eq!(
            decode(line).outcome,
            Outcome::Err(ChunkError::Size),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

// Regression: a bare CR after the size (before an extension) must not be
// skipped as whitespace: a parser that takes it as the line end would
// disagree on where the data starts.
#[test]
fn bare_cr_between_size_and_extension_is_an_error() {
    assert_eq!(err(b"5\r;a\r\nhello\r\n0\r\n\r\n"), ChunkError::Size);
}

#[test]
fn over_long_size_line_is_an_error() {
    let line = vec![b'0'; MAX_LINE];
    assert_eq!(err(&line), ChunkError::Size);
    let mut ext = b"5;".to_vec();
    ext.resize(MAX_LINE + 100, b'a');
    ext.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
    assert_eq!(err(&ext), ChunkError::Size);
}

#[test]
fn size_line_just_under_the_limit_without_lf_needs_more() {
    let mut input = b"5;".to_vec();
    input.resize(MAX_LINE - 1, b'a');
    let d = decode(&input);
    assert_eq!(d.outcome, Outcome::Need);
    assert_eq!(d.rest.len(), MAX_LINE - 1);
}

#[test]
fn over_long_trailers_are_an_error() {
    let mut input = b"0\r\nX-Big: ".to_vec();
    input.resize(3 + MAX_TRAILERS, b'a');
    assert_eq!(err(&input), ChunkError::Trailers);
    let mut complete = input.clone();
    complete.extend_from_slice(b"\r\n\r\n");
    assert_eq!(err(&complete), ChunkError::Trailers);
}

#[test]
fn trailers_just_under_the_limit_without_end_need_more() {
    let mut input = b"0\r\nX-Big: ".to_vec();
    input.resize(3 + MAX_TRAILERS - 1, b'a');
    assert_eq!(decode(&input).outcome, Outcome::Need);
}

#[test]
fn is_done_only_after_end_and_end_repeats_without_taking_bytes() {
    let mut dec = Decoder::default();
    assert!(!dec.is_done());
    let mut buf = BytesMut::from(&b"1\r\na\r\n0\r\n"[..]);
    assert_eq!(dec.step(&mut buf), Ok(Step::Data(Bytes::from_static(b"a"))));
    assert!(!dec.is_done());
    assert_eq!(dec.step(&mut buf), Ok(Step::Need));
    assert!(!dec.is_done());
    buf.extend_from_slice(b"\r\nrest");
    assert_eq!(dec.step(&mut buf), Ok(Step::End(None)));
    assert!(dec.is_done());
    assert_eq!(dec.step(&mut buf), Ok(Step::End(None)));
    assert!(dec.is_done());
    assert_eq!(&buf[..], b"rest");
}

#[test]
fn is_done_after_end_with_trailers() {
    let d = decode_bytewise(b"0\r\nX-A: 1\r\n\r\n");
    assert_eq!(d.outcome, Outcome::End(Some(map(&[("x-a", "1")]))));
    assert!(d.done);
}

#[test]
fn empty_buffer_needs_more_in_every_state() {
    let mut dec = Decoder::default();
    let mut buf = BytesMut::new();
    assert_eq!(dec.step(&mut buf), Ok(Step::Need));
    for part in [&b"3\r\n"[..], b"abc", b"\r\n", b"0\r\n"] {
        buf.extend_from_slice(part);
        while let Ok(Step::Data(_)) = dec.step(&mut buf) {}
        assert!(buf.is_empty(), "{part:?}");
        assert_eq!(dec.step(&mut buf), Ok(Step::Need), "{part:?}");
    }
}

// Regression (found by the h1_chunked fuzz target): after an invalid
// trailer section the decoder is not done and keeps failing, so a caller
// that polls again never sees a cleanly ended body.
#[test]
fn after_a_trailer_error_the_decoder_is_not_done_and_does_not_end() {
    let mut dec = Decoder::default();
    let mut buf = BytesMut::from(&b"0\r\nbad\r\n\r\n"[..]);
    assert_eq!(dec.step(&mut buf), Err(ChunkError::Trailers));
    assert!(!dec.is_done());
    assert!(dec.step(&mut buf).is_err());
}

#[test]
fn after_a_size_error_the_decoder_keeps_failing() {
    let mut dec = Decoder::default();
    let mut buf = BytesMut::from(&b"zz\r\n"[..]);
    assert_eq!(dec.step(&mut buf), Err(ChunkError::Size));
    assert!(!dec.is_done());
    assert_eq!(dec.step(&mut buf), Err(ChunkError::Size));
}

#[test]
fn after_a_data_end_error_the_decoder_keeps_failing() {
    let mut dec = Decoder::default();
    let mut buf = BytesMut::from(&b"1\r\naXY"[..]);
    assert_eq!(dec.step(&mut buf), Ok(Step::Data(Bytes::from_static(b"a"))));
    assert_eq!(dec.step(&mut buf), Err(ChunkError::DataEnd));
    assert!(!dec.is_done());
    assert_eq!(dec.step(&mut buf), Err(ChunkError::DataEnd));
}
