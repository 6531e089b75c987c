//! The XDP program itself: which frames go to the AF_XDP sockets.
//!
//! Written with the assembler of `insn.rs`, block by block, so it can be
//! read next to the rules it implements (see [`program`]). Every packet
//! read is preceded by a bounds check against `data_end`, which is what the
//! in-kernel verifier demands; the program calls two helpers only
//! (`bpf_map_lookup_elem`, `bpf_redirect_map`).

use super::insn::{Asm, AsmError, Cond, Insn, R0, R1, R2, R3, R4, R5, R6, R7, R10, Size};

/// Map value flag: the address is a virtual IP served by the engine.
pub const FLAG_VIP: u32 = 1;
/// Map value flag: the address is the engine host's own.
pub const FLAG_LOCAL: u32 = 2;
/// Map value flag: traffic *from* this address (a NAT backend) is the
/// engine's.
pub const FLAG_NAT_SOURCE: u32 = 4;

/// XDP verdicts (`enum xdp_action`).
pub const XDP_PASS: i32 = 2;
/// tc verdicts (`TC_ACT_*`).
const TC_ACT_OK: i32 = 0;
const TC_ACT_SHOT: i32 = 2;

/// Offsets of `data` and `data_end` in `struct __sk_buff` (tc programs).
const SKB_DATA: i16 = 76;
const SKB_DATA_END: i16 = 80;

/// What the program does with the engine's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// XDP: redirect them to the AF_XDP socket of the receive queue (the
    /// XSKMAP's fd); everything else passes.
    Xsk(i32),
    /// tc ingress: drop them. A tc ingress program runs after the
    /// AF_PACKET taps have their copy and before the kernel's own IP
    /// input, so with the AF_PACKET data path the kernel stops doing
    /// useless work (an unreachable route per packet) on frames the engine
    /// forwards.
    TcDrop,
}

/// Helper numbers (`enum bpf_func_id`).
const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
const HELPER_REDIRECT_MAP: i32 = 51;

/// Offsets in `struct xdp_md`.
const MD_DATA: i16 = 0;
const MD_DATA_END: i16 = 4;
const MD_RX_QUEUE_INDEX: i16 = 16;

const ETH_HLEN: i32 = 14;
const VLAN_HLEN: i32 = 4;
const IPV4_HLEN: i32 = 20;
const IPV6_HLEN: i32 = 40;

/// Stack slots of the two 16-byte map keys.
const DST_KEY: i16 = -16;
const SRC_KEY: i16 = -32;

/// An EtherType as the 16-bit load of its (big-endian) wire bytes yields
/// on this host.
fn ethertype(value: u16) -> i32 {
    i32::from(u16::from_ne_bytes(value.to_be_bytes()))
}

/// The bytes `00 00 ff ff` (word 3 of an IPv4-mapped IPv6 address) as a
/// 32-bit store of this host writes them.
fn mapped_prefix_word() -> i32 {
    i32::from_ne_bytes([0, 0, 0xff, 0xff])
}

/// Emits `if r2 + len > data_end (r3) goto fail` using r4 as scratch.
fn bounds_check(a: &mut Asm, len: i32, fail: super::insn::Label) {
    a.mov64_reg(R4, R2);
    a.add64_imm(R4, len);
    a.jmp_reg(Cond::Gt, R4, R3, fail);
}

/// Emits a key lookup in the address map; leaves the flags in r1, or jumps
/// to `missing` when the key is absent.
fn lookup_flags(a: &mut Asm, addr_map: i32, key: i16, missing: super::insn::Label) {
    a.ld_map_fd(R1, addr_map);
    a.mov64_reg(R2, R10);
    a.add64_imm(R2, i32::from(key));
    a.call(HELPER_MAP_LOOKUP_ELEM);
    a.jmp_imm(Cond::Eq, R0, 0, missing);
    a.ldx(Size::W, R1, R0, 0);
}

/// The classifier program, with the two map fds baked in.
///
/// Registers: r6 = ctx (survives helper calls), r2 = packet start
/// (advanced by 4 past a VLAN tag so that `r2 + 14` is always the L3
/// header), r3 = packet end, r4/r5 scratch. Stack: the destination
/// address key at fp-16, the source address key at fp-32 (both 16 bytes,
/// IPv4 as `::ffff:a.b.c.d`).
pub fn program(addr_map: i32, xsk_map: i32) -> Result<Vec<Insn>, AsmError> {
    build(addr_map, Target::Xsk(xsk_map))
}

/// The classifier for `target`: the same address rules, with the context
/// layout and verdicts of an XDP or a tc program.
pub fn build(addr_map: i32, target: Target) -> Result<Vec<Insn>, AsmError> {
    let (data, data_end, pass_verdict) = match target {
        Target::Xsk(_) => (MD_DATA, MD_DATA_END, XDP_PASS),
        Target::TcDrop => (SKB_DATA, SKB_DATA_END, TC_ACT_OK),
    };
    let mut a = Asm::new();
    let pass = a.label();
    let redirect = a.label();
    let vlan = a.label();
    let l3 = a.label();
    let ipv4 = a.label();
    let ipv6 = a.label();
    let lookup = a.label();
    let source = a.label();

    // Block 0, prologue: keep ctx, load data and data_end.
    a.mov64_reg(R6, R1);
    a.ldx(Size::W, R2, R6, data);
    a.ldx(Size::W, R3, R6, data_end);

    // Block 1, Ethernet: 14 bytes present, r5 = EtherType.
    bounds_check(&mut a, ETH_HLEN, pass);
    a.ldx(Size::H, R5, R2, 12);

    // Block 2, at most one VLAN tag (802.1Q or 802.1ad): the inner
    // EtherType replaces r5 and r2 moves by the tag length.
    a.jmp_imm(Cond::Eq, R5, ethertype(0x8100), vlan);
    a.jmp_imm(Cond::Ne, R5, ethertype(0x88a8), l3);
    a.bind(vlan);
    bounds_check(&mut a, ETH_HLEN + VLAN_HLEN, pass);
    a.ldx(Size::H, R5, R2, 16);
    a.add64_imm(R2, VLAN_HLEN);

    // Block 3, dispatch on the network protocol; anything else passes.
    a.bind(l3);
    a.jmp_imm(Cond::Eq, R5, ethertype(0x0800), ipv4);
    a.jmp_imm(Cond::Eq, R5, ethertype(0x86dd), ipv6);
    a.ja(pass);

    // Block 4, IPv4: the fixed 20-byte header is present; build both keys
    // as IPv4-mapped IPv6 addresses (daddr at +16, saddr at +12).
    a.bind(ipv4);
    bounds_check(&mut a, ETH_HLEN + IPV4_HLEN, pass);
    // r7 = 1 when the destination is multicast (224.0.0.0/4 and up), so
    // the source rule below never takes a backend's multicast or broadcast.
    let unicast4 = a.label();
    a.mov64_imm(R7, 1);
    a.ldx(Size::B, R5, R2, (ETH_HLEN + 16) as i16);
    a.jmp_imm(Cond::Gt, R5, 223, unicast4);
    a.mov64_imm(R7, 0);
    a.bind(unicast4);
    for (key, field) in [(DST_KEY, 16), (SRC_KEY, 12)] {
        a.st_imm(Size::DW, R10, key, 0);
        a.st_imm(Size::W, R10, key + 8, mapped_prefix_word());
        a.ldx(Size::W, R5, R2, (ETH_HLEN + field) as i16);
        a.stx(Size::W, R10, key + 12, R5);
    }
    a.ja(lookup);

    // Block 5, IPv6: the 40-byte header is present; copy daddr (+24) and
    // saddr (+8) into the keys, four words each.
    a.bind(ipv6);
    bounds_check(&mut a, ETH_HLEN + IPV6_HLEN, pass);
    // r7 = 1 for a multicast destination (ff00::/8): a backend's neighbour
    // solicitations must reach the host's stack, not the engine.
    let unicast6 = a.label();
    a.mov64_imm(R7, 1);
    a.ldx(Size::B, R5, R2, (ETH_HLEN + 24) as i16);
    a.jmp_imm(Cond::Eq, R5, 0xff, unicast6);
    a.mov64_imm(R7, 0);
    a.bind(unicast6);
    for (key, field) in [(DST_KEY, 24), (SRC_KEY, 8)] {
        for word in 0..4i16 {
            a.ldx(Size::W, R5, R2, (ETH_HLEN + field) as i16 + 4 * word);
            a.stx(Size::W, R10, key + 4 * word, R5);
        }
    }

    // Block 6, destination rules: VIP -> redirect; LOCAL -> pass.
    a.bind(lookup);
    lookup_flags(&mut a, addr_map, DST_KEY, source);
    a.jmp_imm(Cond::Set, R1, FLAG_VIP as i32, redirect);
    a.jmp_imm(Cond::Set, R1, FLAG_LOCAL as i32, pass);

    // Block 7, source rule: a NAT backend's reply -> redirect; never for a
    // multicast destination (NDP, IGMP, mDNS from the backends).
    a.bind(source);
    a.jmp_imm(Cond::Ne, R7, 0, pass);
    lookup_flags(&mut a, addr_map, SRC_KEY, pass);
    a.jmp_imm(Cond::Set, R1, FLAG_NAT_SOURCE as i32, redirect);

    // Block 8, pass to the kernel stack.
    a.bind(pass);
    a.mov64_imm(R0, pass_verdict);
    a.exit();

    a.bind(redirect);
    match target {
        // Block 9, redirect to the AF_XDP socket of this receive queue;
        // with no socket in that XSKMAP slot the helper returns the low
        // bits of its flags argument, XDP_PASS.
        Target::Xsk(xsk_map) => {
            a.ldx(Size::W, R2, R6, MD_RX_QUEUE_INDEX);
            a.ld_map_fd(R1, xsk_map);
            a.mov64_imm(R3, XDP_PASS);
            a.call(HELPER_REDIRECT_MAP);
        }
        // Block 9 (tc): the engine has its copy; the kernel drops it.
        Target::TcDrop => a.mov64_imm(R0, TC_ACT_SHOT),
    }
    a.exit();

    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::io::xdp::insn::{PSEUDO_MAP_FD, class};

    #[test]
    fn assembles_and_embeds_both_maps() {
        let insns = program(11, 22).expect("assembles");
        let map_loads: Vec<i32> = insns
            .iter()
            .filter(|i| i.code == 0x18 && i.src == PSEUDO_MAP_FD)
            .map(|i| i.imm)
            .collect();
        // Two lookups in the address map, one redirect through the XSKMAP.
        assert_eq!(map_loads, [11, 11, 22]);
        assert!(insns.len() < 128, "program stays small: {}", insns.len());
    }

    #[test]
    fn ends_in_exit_and_every_jump_stays_inside() {
        let insns = program(3, 4).expect("assembles");
        assert_eq!(insns.last().map(|i| i.code), Some(0x95));
        for (at, insn) in insns.iter().enumerate() {
            let is_jump = insn.code & 0x07 == class::JMP && !matches!(insn.code, 0x85 | 0x95);
            if is_jump {
                let target = at as i64 + 1 + i64::from(insn.off);
                assert!(
                    (0..insns.len() as i64).contains(&target),
                    "jump at {at} lands at {target}"
                );
                // Never into the second slot of a 64-bit immediate load.
                let before = usize::try_from(target - 1).ok().and_then(|t| insns.get(t));
                assert!(
                    before.is_none_or(|i| i.code != 0x18),
                    "jump at {at} splits a ld_imm64"
                );
            }
        }
    }

    #[test]
    fn the_tc_variant_reads_the_skb_and_drops_instead_of_redirecting() {
        let insns = build(3, Target::TcDrop).expect("assembles");
        let helpers: Vec<i32> = insns
            .iter()
            .filter(|i| i.code == 0x85)
            .map(|i| i.imm)
            .collect();
        assert_eq!(helpers, [1, 1], "lookups only, no redirect");
        // The first two loads read __sk_buff's data and data_end.
        let loads: Vec<i16> = insns
            .iter()
            .filter(|i| i.code == 0x61)
            .take(2)
            .map(|i| i.off)
            .collect();
        assert_eq!(loads, [SKB_DATA, SKB_DATA_END]);
        // Two exits: pass (TC_ACT_OK) and drop (TC_ACT_SHOT), each after a
        // mov of its verdict into r0.
        let verdicts: Vec<i32> = insns
            .windows(2)
            .filter(|w| w[1].code == 0x95 && w[0].code == 0xb7)
            .map(|w| w[0].imm)
            .collect();
        assert_eq!(verdicts, [TC_ACT_OK, TC_ACT_SHOT]);
    }

    #[test]
    fn only_two_helpers_are_called() {
        let insns = program(3, 4).expect("assembles");
        let helpers: Vec<i32> = insns
            .iter()
            .filter(|i| i.code == 0x85)
            .map(|i| i.imm)
            .collect();
        // Destination lookup, source lookup, redirect.
        assert_eq!(helpers, [1, 1, 51]);
    }

    #[test]
    fn constants_match_wire_bytes() {
        assert_eq!(u16::from_ne_bytes([0x08, 0x00]) as i32, ethertype(0x0800));
        assert_eq!(u16::from_ne_bytes([0x86, 0xdd]) as i32, ethertype(0x86dd));
        assert_eq!(mapped_prefix_word().to_ne_bytes(), [0, 0, 0xff, 0xff]);
    }
}
