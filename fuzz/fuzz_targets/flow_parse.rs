//! The packet engine's flow parser sees every packet on the wire: `parse`,
//! `parse_ethernet` and `icmp_inner_flow` must never panic on arbitrary
//! bytes, every offset they return must lie inside the input, fragments
//! must be portless, the verdict must not change when asked twice, and a
//! packet cut short of its IP length must be refused. `icmp_inner_flow`
//! must also survive a `Parsed` that does not belong to the slice.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::packet::flow::{
    IcmpError, Parsed, flow_hash, icmp_inner_flow, parse, parse_ethernet,
};

fn check(buf: &[u8], p: &Parsed) {
    assert!(p.l3_offset <= p.l4_offset, "{p:?}");
    assert!(p.l4_offset <= p.l3_end, "{p:?}");
    assert!(p.l3_end <= buf.len(), "{p:?}");
    if p.is_fragment {
        assert_eq!((p.key.sport, p.key.dport, p.tcp_flags), (0, 0, 0));
        assert_eq!(p.icmp_error, None);
    }
    assert_eq!(flow_hash(&p.key), flow_hash(&p.key));
    if let Some(inner) = icmp_inner_flow(buf, p) {
        assert!(p.icmp_error.is_some());
        assert_eq!(inner.src.is_ipv4(), p.key.src.is_ipv4());
        let _ = flow_hash(&inner);
    }
    // Everything after the IP packet is padding: cutting it off changes
    // nothing, cutting into the packet is refused.
    if p.l3_offset == 0 {
        assert_eq!(parse(&buf[..p.l3_end]), Ok(*p));
        if p.l3_end > 0 {
            assert!(parse(&buf[..p.l3_end - 1]).is_err());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let raw = parse(data);
    assert_eq!(raw, parse(data));
    if let Ok(p) = &raw {
        check(data, p);
    }
    let framed = parse_ethernet(data);
    assert_eq!(framed, parse_ethernet(data));
    if let Ok((_, p)) = &framed {
        assert!(p.l3_offset == 14 || p.l3_offset == 18);
        check(data, p);
    }
    // A Parsed whose offsets come from the input, not from parsing it.
    if let (Some(&a), Some(&b), Some(&c)) = (data.first(), data.get(1), data.get(2)) {
        let mut bogus = raw.unwrap_or_else(|_| Parsed {
            key: switchyard::packet::flow::FlowKey {
                proto: 1,
                src: [0, 0, 0, 0].into(),
                dst: [0, 0, 0, 0].into(),
                sport: 0,
                dport: 0,
            },
            tcp_flags: 0,
            l3_offset: 0,
            l4_offset: 0,
            l3_end: 0,
            is_fragment: false,
            icmp_error: None,
        });
        bogus.l3_offset = usize::from(a);
        bogus.l4_offset = usize::from(b);
        bogus.l3_end = usize::from(c) * 8;
        bogus.icmp_error = Some(IcmpError::Unreachable { code: 0 });
        let _ = icmp_inner_flow(data, &bogus);
    }
});
