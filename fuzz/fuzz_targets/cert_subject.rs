//! The certificate subject reader behind mTLS client identities: `parse_name`
//! never panics on arbitrary bytes, gives the same answer twice, refuses
//! trailing bytes, and whatever it returns is printable ASCII (it goes into
//! an upstream header as is) in RFC 4514 syntax: `type=value` attributes
//! joined by `,` and `+`, every special character in a value escaped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::tls::identity::parse_name;

fuzz_target!(|data: &[u8]| {
    let Some(name) = parse_name(data) else {
        return;
    };
    assert_eq!(parse_name(data).as_deref(), Some(name.as_str()));
    let mut longer = data.to_vec();
    longer.push(0);
    assert_eq!(parse_name(&longer), None, "trailing byte accepted");
    assert!(
        name.bytes().all(|b| (0x20..0x7f).contains(&b)),
        "not printable ASCII: {name:?}"
    );
    check_syntax(&name);
});

const SHORT_NAMES: &[&str] = &["CN", "O", "OU", "C", "L", "ST", "emailAddress"];

/// Splits on unescaped `,`/`+` and checks every attribute.
fn check_syntax(name: &str) {
    if name.is_empty() {
        return;
    }
    let bytes = name.as_bytes();
    let mut attributes = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                let next = bytes.get(i + 1).copied();
                let ok = match next {
                    Some(b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';' | b' ' | b'#') => true,
                    Some(h) if h.is_ascii_hexdigit() => {
                        bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
                    }
                    _ => false,
                };
                assert!(ok, "bad escape at {i} in {name:?}");
                i += 2;
                continue;
            }
            b',' | b'+' => {
                attributes.push(&name[start..i]);
                start = i + 1;
            }
            b'"' | b';' | b'<' | b'>' => panic!("unescaped special at {i} in {name:?}"),
            _ => {}
        }
        i += 1;
    }
    attributes.push(&name[start..]);
    for attribute in attributes {
        let (ty, value) = attribute
            .split_once('=')
            .unwrap_or_else(|| panic!("no `=` in {attribute:?} of {name:?}"));
        let dotted = ty.split('.').count() >= 2
            && ty
                .split('.')
                .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
        assert!(
            SHORT_NAMES.contains(&ty) || dotted,
            "bad type {ty:?} in {name:?}"
        );
        if let Some(hex) = value.strip_prefix('#') {
            // The hex form of a non-string value: its whole DER encoding.
            assert!(
                hex.len() >= 4 && hex.len() % 2 == 0 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                "bad hex value {value:?} in {name:?}"
            );
        }
        if value.len() > 1 {
            assert!(!value.ends_with(' ') || value.ends_with("\\ "), "{name:?}");
        }
        assert!(
            !value.starts_with(' '),
            "unescaped leading space in {name:?}"
        );
    }
}
