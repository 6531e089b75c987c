//! eBPF instruction encoding and a small assembler with labels.
//!
//! The XDP program is written in Rust as a sequence of named helper calls
//! (`ldx`, `jmp_imm`, `call`, ...) instead of being compiled from C, so the
//! default build needs nothing beyond cargo. This module knows the binary
//! layout of `struct bpf_insn` (kernel `Documentation/bpf/standardization/
//! instruction-set.rst`) and resolves forward and backward jumps to labels;
//! it knows nothing about packets (that is `classify.rs`).

use std::fmt;

/// One 8-byte eBPF instruction (`struct bpf_insn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Opcode: class | size/op | mode/source.
    pub code: u8,
    /// Destination register (low nibble on little-endian hosts).
    pub dst: u8,
    /// Source register.
    pub src: u8,
    /// Signed offset (memory displacement or jump distance).
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// The instruction as the kernel reads it: a C struct with a 4-bit
    /// bitfield pair, whose nibble order follows the host byte order.
    pub fn to_bytes(self) -> [u8; 8] {
        let regs = if cfg!(target_endian = "little") {
            (self.dst & 0x0f) | (self.src << 4)
        } else {
            (self.dst << 4) | (self.src & 0x0f)
        };
        let off = self.off.to_ne_bytes();
        let imm = self.imm.to_ne_bytes();
        [
            self.code, regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3],
        ]
    }
}

/// Instruction classes.
pub mod class {
    pub const LD: u8 = 0x00;
    pub const LDX: u8 = 0x01;
    pub const ST: u8 = 0x02;
    pub const STX: u8 = 0x03;
    pub const JMP: u8 = 0x05;
    pub const ALU64: u8 = 0x07;
}

const MODE_IMM: u8 = 0x00;
const MODE_MEM: u8 = 0x60;
const SRC_K: u8 = 0x00;
const SRC_X: u8 = 0x08;
const ALU_ADD: u8 = 0x00;
const ALU_MOV: u8 = 0xb0;
const JMP_JA: u8 = 0x00;
const JMP_CALL: u8 = 0x80;
const JMP_EXIT: u8 = 0x90;

/// `src_reg` of a 64-bit immediate load meaning "imm is a map fd".
pub const PSEUDO_MAP_FD: u8 = 1;

/// A register, `r0`..`r10` (`r10` is the read-only frame pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg(u8);

pub const R0: Reg = Reg(0);
pub const R1: Reg = Reg(1);
pub const R2: Reg = Reg(2);
pub const R3: Reg = Reg(3);
pub const R4: Reg = Reg(4);
pub const R5: Reg = Reg(5);
pub const R6: Reg = Reg(6);
pub const R7: Reg = Reg(7);
pub const R10: Reg = Reg(10);

/// Width of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// 8 bits.
    B,
    /// 16 bits.
    H,
    /// 32 bits.
    W,
    /// 64 bits.
    DW,
}

impl Size {
    fn bits(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }
}

/// Conditional jump operators (unsigned comparisons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>` (unsigned)
    Gt,
    /// `&` is non-zero
    Set,
}

impl Cond {
    fn bits(self) -> u8 {
        match self {
            Cond::Eq => 0x10,
            Cond::Gt => 0x20,
            Cond::Set => 0x40,
            Cond::Ne => 0x50,
        }
    }
}

/// A jump target, created by [`Asm::label`] and placed by [`Asm::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

/// Why a program could not be assembled (a bug in the program text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsmError {
    /// A jump refers to a label that was never bound.
    Unbound(usize),
    /// A label was bound twice.
    Rebound(usize),
    /// A jump is farther than a 16-bit offset reaches.
    TooFar(usize),
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsmError::Unbound(l) => write!(f, "label {l} is used but never bound"),
            AsmError::Rebound(l) => write!(f, "label {l} is bound twice"),
            AsmError::TooFar(at) => write!(f, "jump at instruction {at} is out of range"),
        }
    }
}

/// Builds a program instruction by instruction; jumps name labels and are
/// patched by [`Asm::finish`].
#[derive(Default)]
pub struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
    rebound: Option<usize>,
}

impl Asm {
    /// An empty program.
    pub fn new() -> Asm {
        Asm::default()
    }

    fn push(&mut self, code: u8, dst: Reg, src: Reg, off: i16, imm: i32) {
        self.insns.push(Insn {
            code,
            dst: dst.0,
            src: src.0,
            off,
            imm,
        });
    }

    /// A fresh, not yet placed label.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Places `label` at the next instruction.
    pub fn bind(&mut self, label: Label) {
        match self.labels.get_mut(label.0) {
            Some(slot @ None) => *slot = Some(self.insns.len()),
            _ => self.rebound = Some(label.0),
        }
    }

    /// `dst = src` (64-bit).
    pub fn mov64_reg(&mut self, dst: Reg, src: Reg) {
        self.push(class::ALU64 | ALU_MOV | SRC_X, dst, src, 0, 0);
    }

    /// `dst = imm` (64-bit, sign-extended).
    pub fn mov64_imm(&mut self, dst: Reg, imm: i32) {
        self.push(class::ALU64 | ALU_MOV | SRC_K, dst, R0, 0, imm);
    }

    /// `dst += imm` (64-bit).
    pub fn add64_imm(&mut self, dst: Reg, imm: i32) {
        self.push(class::ALU64 | ALU_ADD | SRC_K, dst, R0, 0, imm);
    }

    /// `dst = *(size *)(src + off)`.
    pub fn ldx(&mut self, size: Size, dst: Reg, src: Reg, off: i16) {
        self.push(class::LDX | size.bits() | MODE_MEM, dst, src, off, 0);
    }

    /// `*(size *)(dst + off) = src`.
    pub fn stx(&mut self, size: Size, dst: Reg, off: i16, src: Reg) {
        self.push(class::STX | size.bits() | MODE_MEM, dst, src, off, 0);
    }

    /// `*(size *)(dst + off) = imm`.
    pub fn st_imm(&mut self, size: Size, dst: Reg, off: i16, imm: i32) {
        self.push(class::ST | size.bits() | MODE_MEM, dst, R0, off, imm);
    }

    /// `dst = map` (the two-slot 64-bit immediate load of a map fd that the
    /// kernel replaces by the map's address at load time).
    pub fn ld_map_fd(&mut self, dst: Reg, map_fd: i32) {
        self.insns.push(Insn {
            code: class::LD | Size::DW.bits() | MODE_IMM,
            dst: dst.0,
            src: PSEUDO_MAP_FD,
            off: 0,
            imm: map_fd,
        });
        self.insns.push(Insn {
            code: 0,
            dst: 0,
            src: 0,
            off: 0,
            imm: 0,
        });
    }

    /// `if dst <cond> imm goto target`.
    pub fn jmp_imm(&mut self, cond: Cond, dst: Reg, imm: i32, target: Label) {
        self.fixups.push((self.insns.len(), target));
        self.push(class::JMP | cond.bits() | SRC_K, dst, R0, 0, imm);
    }

    /// `if dst <cond> src goto target`.
    pub fn jmp_reg(&mut self, cond: Cond, dst: Reg, src: Reg, target: Label) {
        self.fixups.push((self.insns.len(), target));
        self.push(class::JMP | cond.bits() | SRC_X, dst, src, 0, 0);
    }

    /// `goto target`.
    pub fn ja(&mut self, target: Label) {
        self.fixups.push((self.insns.len(), target));
        self.push(class::JMP | JMP_JA, R0, R0, 0, 0);
    }

    /// Calls helper number `helper` (arguments in r1..r5, result in r0;
    /// r1..r5 are clobbered, r6..r9 survive).
    pub fn call(&mut self, helper: i32) {
        self.push(class::JMP | JMP_CALL, R0, R0, 0, helper);
    }

    /// Returns r0.
    pub fn exit(&mut self) {
        self.push(class::JMP | JMP_EXIT, R0, R0, 0, 0);
    }

    /// Resolves every jump and returns the program.
    pub fn finish(mut self) -> Result<Vec<Insn>, AsmError> {
        if let Some(label) = self.rebound {
            return Err(AsmError::Rebound(label));
        }
        for &(at, label) in &self.fixups {
            let target = self
                .labels
                .get(label.0)
                .copied()
                .flatten()
                .ok_or(AsmError::Unbound(label.0))?;
            self.insns[at].off = jump_offset(at, target).ok_or(AsmError::TooFar(at))?;
        }
        Ok(self.insns)
    }
}

/// The `off` of a jump at `from` landing on `to`: relative to the
/// instruction after the jump.
pub fn jump_offset(from: usize, to: usize) -> Option<i16> {
    let delta = to as i64 - (from as i64 + 1);
    i16::try_from(delta).ok()
}

/// The program as the byte image `BPF_PROG_LOAD` expects.
pub fn to_bytes(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(f: impl FnOnce(&mut Asm)) -> [u8; 8] {
        let mut a = Asm::new();
        f(&mut a);
        let insns = a.finish().expect("assembles");
        assert_eq!(insns.len(), 1);
        insns[0].to_bytes()
    }

    // Reference encodings from the eBPF instruction-set document (as
    // printed by llvm-objdump for little-endian targets).
    #[cfg(target_endian = "little")]
    #[test]
    fn encodes_known_instructions() {
        assert_eq!(one(|a| a.mov64_imm(R0, 2)), [0xb7, 0x00, 0, 0, 2, 0, 0, 0]);
        assert_eq!(one(|a| a.mov64_reg(R6, R1)), [0xbf, 0x16, 0, 0, 0, 0, 0, 0]);
        assert_eq!(one(|a| a.exit()), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(one(|a| a.call(51)), [0x85, 0, 0, 0, 51, 0, 0, 0]);
        assert_eq!(
            one(|a| a.ldx(Size::W, R2, R1, 4)),
            [0x61, 0x12, 4, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            one(|a| a.ldx(Size::H, R5, R2, 12)),
            [0x69, 0x25, 12, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            one(|a| a.stx(Size::W, R10, -4, R5)),
            [0x63, 0x5a, 0xfc, 0xff, 0, 0, 0, 0]
        );
        assert_eq!(
            one(|a| a.st_imm(Size::DW, R10, -16, 0)),
            [0x7a, 0x0a, 0xf0, 0xff, 0, 0, 0, 0]
        );
        assert_eq!(
            one(|a| a.add64_imm(R2, -16)),
            [0x07, 0x02, 0, 0, 0xf0, 0xff, 0xff, 0xff]
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn map_fd_load_takes_two_slots() {
        let mut a = Asm::new();
        a.ld_map_fd(R1, 7);
        let bytes = to_bytes(&a.finish().expect("assembles"));
        assert_eq!(
            bytes,
            [0x18, 0x11, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn jumps_resolve_forward_and_backward() {
        let mut a = Asm::new();
        let top = a.label();
        let end = a.label();
        a.bind(top);
        a.jmp_reg(Cond::Gt, R4, R3, end); // 0 -> 3: off 2
        a.jmp_imm(Cond::Set, R1, 4, top); // 1 -> 0: off -2
        a.ja(end); // 2 -> 3: off 0
        a.bind(end);
        a.exit();
        let insns = a.finish().expect("assembles");
        assert_eq!(insns[0].to_bytes(), [0x2d, 0x34, 2, 0, 0, 0, 0, 0]);
        assert_eq!(insns[1].to_bytes(), [0x45, 0x01, 0xfe, 0xff, 4, 0, 0, 0]);
        assert_eq!(insns[2].to_bytes(), [0x05, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn jump_offset_arithmetic() {
        assert_eq!(jump_offset(0, 1), Some(0));
        assert_eq!(jump_offset(5, 2), Some(-4));
        assert_eq!(jump_offset(0, 32768), Some(32767));
        assert_eq!(jump_offset(0, 32769), None);
        assert_eq!(jump_offset(40000, 0), None);
    }

    #[test]
    fn label_misuse_is_reported() {
        let mut a = Asm::new();
        let never = a.label();
        a.ja(never);
        assert_eq!(a.finish(), Err(AsmError::Unbound(0)));

        let mut a = Asm::new();
        let twice = a.label();
        a.bind(twice);
        a.exit();
        a.bind(twice);
        assert_eq!(a.finish(), Err(AsmError::Rebound(0)));
    }

    #[test]
    fn opcodes_compose_class_size_and_mode() {
        assert_eq!(class::LDX | Size::DW.bits() | MODE_MEM, 0x79);
        assert_eq!(class::STX | Size::H.bits() | MODE_MEM, 0x6b);
        assert_eq!(class::JMP | Cond::Eq.bits() | SRC_K, 0x15);
        assert_eq!(class::JMP | Cond::Ne.bits() | SRC_K, 0x55);
        assert_eq!(class::JMP | Cond::Gt.bits() | SRC_X, 0x2d);
    }
}
