//! The HPACK Huffman code (RFC 7541 §5.2 and Appendix B): a table-driven
//! decoder, which every Huffman-coded string of a request header block goes
//! through, and an encoder (the response encoder sends plain strings; this
//! one serves the tests and the fuzz target).
//!
//! **Decoding** walks the code four bits at a time. The code's tree has 256
//! inner nodes (257 leaves, one per symbol and EOS); each inner node is a
//! state, and [`DECODE`] says, for a state and the next nibble, which state
//! follows, whether a symbol was completed on the way (at most one: the
//! shortest code has 5 bits) and whether the walk hit EOS. The table is
//! built at compile time by `const fn` from [`CODES`], the code table typed
//! from Appendix B; building it also proves, at compile time, that the codes
//! form a complete prefix code (no code is a prefix of another and every
//! inner node has two children), so a mistyped entry fails the build.
//!
//! The errors of §5.2: the EOS symbol inside the string; padding (the bits
//! after the last symbol) longer than 7 bits; padding that is not the most
//! significant bits of EOS, that is not all ones.

/// Why a Huffman-coded string is invalid (RFC 7541 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HuffmanError {
    /// The string contains the EOS symbol.
    #[error("Huffman string contains EOS")]
    Eos,
    /// The padding after the last symbol is longer than 7 bits.
    #[error("Huffman padding longer than 7 bits")]
    PaddingTooLong,
    /// The padding after the last symbol is not all ones (not a prefix of
    /// EOS).
    #[error("Huffman padding is not a prefix of EOS")]
    PaddingNotEos,
}

/// The EOS symbol's number: one past the byte values.
const EOS: usize = 256;

/// RFC 7541 Appendix B: for each symbol (the 256 byte values, then EOS),
/// its code, aligned to the least significant bit, and its length in bits.
pub(crate) const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13),     // 0
    (0x7fffd8, 23),   // 1
    (0xfffffe2, 28),  // 2
    (0xfffffe3, 28),  // 3
    (0xfffffe4, 28),  // 4
    (0xfffffe5, 28),  // 5
    (0xfffffe6, 28),  // 6
    (0xfffffe7, 28),  // 7
    (0xfffffe8, 28),  // 8
    (0xffffea, 24),   // 9
    (0x3ffffffc, 30), // 10
    (0xfffffe9, 28),  // 11
    (0xfffffea, 28),  // 12
    (0x3ffffffd, 30), // 13
    (0xfffffeb, 28),  // 14
    (0xfffffec, 28),  // 15
    (0xfffffed, 28),  // 16
    (0xfffffee, 28),  // 17
    (0xfffffef, 28),  // 18
    (0xffffff0, 28),  // 19
    (0xffffff1, 28),  // 20
    (0xffffff2, 28),  // 21
    (0x3ffffffe, 30), // 22
    (0xffffff3, 28),  // 23
    (0xffffff4, 28),  // 24
    (0xffffff5, 28),  // 25
    (0xffffff6, 28),  // 26
    (0xffffff7, 28),  // 27
    (0xffffff8, 28),  // 28
    (0xffffff9, 28),  // 29
    (0xffffffa, 28),  // 30
    (0xffffffb, 28),  // 31
    (0x14, 6),        // 32 ' '
    (0x3f8, 10),      // 33 '!'
    (0x3f9, 10),      // 34 '"'
    (0xffa, 12),      // 35 '#'
    (0x1ff9, 13),     // 36 '$'
    (0x15, 6),        // 37 '%'
    (0xf8, 8),        // 38 '&'
    (0x7fa, 11),      // 39 "'"
    (0x3fa, 10),      // 40 '('
    (0x3fb, 10),      // 41 ')'
    (0xf9, 8),        // 42 '*'
    (0x7fb, 11),      // 43 '+'
    (0xfa, 8),        // 44 ','
    (0x16, 6),        // 45 '-'
    (0x17, 6),        // 46 '.'
    (0x18, 6),        // 47 '/'
    (0x0, 5),         // 48 '0'
    (0x1, 5),         // 49 '1'
    (0x2, 5),         // 50 '2'
    (0x19, 6),        // 51 '3'
    (0x1a, 6),        // 52 '4'
    (0x1b, 6),        // 53 '5'
    (0x1c, 6),        // 54 '6'
    (0x1d, 6),        // 55 '7'
    (0x1e, 6),        // 56 '8'
    (0x1f, 6),        // 57 '9'
    (0x5c, 7),        // 58 ':'
    (0xfb, 8),        // 59 ';'
    (0x7ffc, 15),     // 60 '<'
    (0x20, 6),        // 61 '='
    (0xffb, 12),      // 62 '>'
    (0x3fc, 10),      // 63 '?'
    (0x1ffa, 13),     // 64 '@'
    (0x21, 6),        // 65 'A'
    (0x5d, 7),        // 66 'B'
    (0x5e, 7),        // 67 'C'
    (0x5f, 7),        // 68 'D'
    (0x60, 7),        // 69 'E'
    (0x61, 7),        // 70 'F'
    (0x62, 7),        // 71 'G'
    (0x63, 7),        // 72 'H'
    (0x64, 7),        // 73 'I'
    (0x65, 7),        // 74 'J'
    (0x66, 7),        // 75 'K'
    (0x67, 7),        // 76 'L'
    (0x68, 7),        // 77 'M'
    (0x69, 7),        // 78 'N'
    (0x6a, 7),        // 79 'O'
    (0x6b, 7),        // 80 'P'
    (0x6c, 7),        // 81 'Q'
    (0x6d, 7),        // 82 'R'
    (0x6e, 7),        // 83 'S'
    (0x6f, 7),        // 84 'T'
    (0x70, 7),        // 85 'U'
    (0x71, 7),        // 86 'V'
    (0x72, 7),        // 87 'W'
    (0xfc, 8),        // 88 'X'
    (0x73, 7),        // 89 'Y'
    (0xfd, 8),        // 90 'Z'
    (0x1ffb, 13),     // 91 '['
    (0x7fff0, 19),    // 92 '\\'
    (0x1ffc, 13),     // 93 ']'
    (0x3ffc, 14),     // 94 '^'
    (0x22, 6),        // 95 '_'
    (0x7ffd, 15),     // 96 '`'
    (0x3, 5),         // 97 'a'
    (0x23, 6),        // 98 'b'
    (0x4, 5),         // 99 'c'
    (0x24, 6),        // 100 'd'
    (0x5, 5),         // 101 'e'
    (0x25, 6),        // 102 'f'
    (0x26, 6),        // 103 'g'
    (0x27, 6),        // 104 'h'
    (0x6, 5),         // 105 'i'
    (0x74, 7),        // 106 'j'
    (0x75, 7),        // 107 'k'
    (0x28, 6),        // 108 'l'
    (0x29, 6),        // 109 'm'
    (0x2a, 6),        // 110 'n'
    (0x7, 5),         // 111 'o'
    (0x2b, 6),        // 112 'p'
    (0x76, 7),        // 113 'q'
    (0x2c, 6),        // 114 'r'
    (0x8, 5),         // 115 's'
    (0x9, 5),         // 116 't'
    (0x2d, 6),        // 117 'u'
    (0x77, 7),        // 118 'v'
    (0x78, 7),        // 119 'w'
    (0x79, 7),        // 120 'x'
    (0x7a, 7),        // 121 'y'
    (0x7b, 7),        // 122 'z'
    (0x7ffe, 15),     // 123 '{'
    (0x7fc, 11),      // 124 '|'
    (0x3ffd, 14),     // 125 '}'
    (0x1ffd, 13),     // 126 '~'
    (0xffffffc, 28),  // 127
    (0xfffe6, 20),    // 128
    (0x3fffd2, 22),   // 129
    (0xfffe7, 20),    // 130
    (0xfffe8, 20),    // 131
    (0x3fffd3, 22),   // 132
    (0x3fffd4, 22),   // 133
    (0x3fffd5, 22),   // 134
    (0x7fffd9, 23),   // 135
    (0x3fffd6, 22),   // 136
    (0x7fffda, 23),   // 137
    (0x7fffdb, 23),   // 138
    (0x7fffdc, 23),   // 139
    (0x7fffdd, 23),   // 140
    (0x7fffde, 23),   // 141
    (0xffffeb, 24),   // 142
    (0x7fffdf, 23),   // 143
    (0xffffec, 24),   // 144
    (0xffffed, 24),   // 145
    (0x3fffd7, 22),   // 146
    (0x7fffe0, 23),   // 147
    (0xffffee, 24),   // 148
    (0x7fffe1, 23),   // 149
    (0x7fffe2, 23),   // 150
    (0x7fffe3, 23),   // 151
    (0x7fffe4, 23),   // 152
    (0x1fffdc, 21),   // 153
    (0x3fffd8, 22),   // 154
    (0x7fffe5, 23),   // 155
    (0x3fffd9, 22),   // 156
    (0x7fffe6, 23),   // 157
    (0x7fffe7, 23),   // 158
    (0xffffef, 24),   // 159
    (0x3fffda, 22),   // 160
    (0x1fffdd, 21),   // 161
    (0xfffe9, 20),    // 162
    (0x3fffdb, 22),   // 163
    (0x3fffdc, 22),   // 164
    (0x7fffe8, 23),   // 165
    (0x7fffe9, 23),   // 166
    (0x1fffde, 21),   // 167
    (0x7fffea, 23),   // 168
    (0x3fffdd, 22),   // 169
    (0x3fffde, 22),   // 170
    (0xfffff0, 24),   // 171
    (0x1fffdf, 21),   // 172
    (0x3fffdf, 22),   // 173
    (0x7fffeb, 23),   // 174
    (0x7fffec, 23),   // 175
    (0x1fffe0, 21),   // 176
    (0x1fffe1, 21),   // 177
    (0x3fffe0, 22),   // 178
    (0x1fffe2, 21),   // 179
    (0x7fffed, 23),   // 180
    (0x3fffe1, 22),   // 181
    (0x7fffee, 23),   // 182
    (0x7fffef, 23),   // 183
    (0xfffea, 20),    // 184
    (0x3fffe2, 22),   // 185
    (0x3fffe3, 22),   // 186
    (0x3fffe4, 22),   // 187
    (0x7ffff0, 23),   // 188
    (0x3fffe5, 22),   // 189
    (0x3fffe6, 22),   // 190
    (0x7ffff1, 23),   // 191
    (0x3ffffe0, 26),  // 192
    (0x3ffffe1, 26),  // 193
    (0xfffeb, 20),    // 194
    (0x7fff1, 19),    // 195
    (0x3fffe7, 22),   // 196
    (0x7ffff2, 23),   // 197
    (0x3fffe8, 22),   // 198
    (0x1ffffec, 25),  // 199
    (0x3ffffe2, 26),  // 200
    (0x3ffffe3, 26),  // 201
    (0x3ffffe4, 26),  // 202
    (0x7ffffde, 27),  // 203
    (0x7ffffdf, 27),  // 204
    (0x3ffffe5, 26),  // 205
    (0xfffff1, 24),   // 206
    (0x1ffffed, 25),  // 207
    (0x7fff2, 19),    // 208
    (0x1fffe3, 21),   // 209
    (0x3ffffe6, 26),  // 210
    (0x7ffffe0, 27),  // 211
    (0x7ffffe1, 27),  // 212
    (0x3ffffe7, 26),  // 213
    (0x7ffffe2, 27),  // 214
    (0xfffff2, 24),   // 215
    (0x1fffe4, 21),   // 216
    (0x1fffe5, 21),   // 217
    (0x3ffffe8, 26),  // 218
    (0x3ffffe9, 26),  // 219
    (0xffffffd, 28),  // 220
    (0x7ffffe3, 27),  // 221
    (0x7ffffe4, 27),  // 222
    (0x7ffffe5, 27),  // 223
    (0xfffec, 20),    // 224
    (0xfffff3, 24),   // 225
    (0xfffed, 20),    // 226
    (0x1fffe6, 21),   // 227
    (0x3fffe9, 22),   // 228
    (0x1fffe7, 21),   // 229
    (0x1fffe8, 21),   // 230
    (0x7ffff3, 23),   // 231
    (0x3fffea, 22),   // 232
    (0x3fffeb, 22),   // 233
    (0x1ffffee, 25),  // 234
    (0x1ffffef, 25),  // 235
    (0xfffff4, 24),   // 236
    (0xfffff5, 24),   // 237
    (0x3ffffea, 26),  // 238
    (0x7ffff4, 23),   // 239
    (0x3ffffeb, 26),  // 240
    (0x7ffffe6, 27),  // 241
    (0x3ffffec, 26),  // 242
    (0x3ffffed, 26),  // 243
    (0x7ffffe7, 27),  // 244
    (0x7ffffe8, 27),  // 245
    (0x7ffffe9, 27),  // 246
    (0x7ffffea, 27),  // 247
    (0x7ffffeb, 27),  // 248
    (0xffffffe, 28),  // 249
    (0x7ffffec, 27),  // 250
    (0x7ffffed, 27),  // 251
    (0x7ffffee, 27),  // 252
    (0x7ffffef, 27),  // 253
    (0x7fffff0, 27),  // 254
    (0x3ffffee, 26),  // 255
    (0x3fffffff, 30), // 256
];

/// A decoding step's flag: a symbol was completed (it is in `sym`).
const EMIT: u8 = 1;
/// A decoding step's flag: the walk completed EOS, an error.
const FAIL: u8 = 2;
/// A state's flag: the bits since the last symbol are a valid end of
/// string (at most 7 bits, all ones).
const ACCEPT: u8 = 4;
/// A state's flag: the bits since the last symbol are all ones (then, if
/// the state is not accepting, the padding is too long).
const ONES: u8 = 8;

/// One decoding step: from a state, on a nibble.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// The state after the nibble.
    next: u8,
    /// The symbol completed on the way, when `flags` has [`EMIT`].
    sym: u8,
    /// [`EMIT`], [`FAIL`], and the next state's [`ACCEPT`] and [`ONES`].
    flags: u8,
}

/// A child in the code tree under construction: 0 is "none yet" (the root,
/// node 0, is nobody's child), `LEAF | symbol` a leaf, anything else an
/// inner node.
const LEAF: u16 = 0x8000;

/// The code tree of [`CODES`]: `tree[node][bit]`, see [`LEAF`]. Panics (at
/// compile time) unless the codes form a complete prefix code with exactly
/// 256 inner nodes.
const fn build_tree() -> [[u16; 2]; 256] {
    let mut tree = [[0u16; 2]; 256];
    let mut nodes = 1usize;
    let mut sym = 0;
    while sym < CODES.len() {
        let (code, len) = CODES[sym];
        assert!(len >= 5 && len <= 30, "Huffman code length out of range");
        assert!(code >> len == 0, "Huffman code wider than its length");
        let mut node = 0usize;
        let mut depth = len;
        while depth > 1 {
            depth -= 1;
            let bit = ((code >> depth) & 1) as usize;
            let child = tree[node][bit];
            if child == 0 {
                assert!(nodes < 256, "Huffman code has too many inner nodes");
                tree[node][bit] = nodes as u16;
                node = nodes;
                nodes += 1;
            } else {
                assert!(child & LEAF == 0, "a Huffman code is a prefix of another");
                node = child as usize;
            }
        }
        let bit = (code & 1) as usize;
        assert!(
            tree[node][bit] == 0,
            "a Huffman code is a prefix of another"
        );
        tree[node][bit] = LEAF | sym as u16;
        sym += 1;
    }
    assert!(nodes == 256, "Huffman code is not complete");
    let mut node = 0;
    while node < 256 {
        assert!(
            tree[node][0] != 0 && tree[node][1] != 0,
            "Huffman code is not complete"
        );
        node += 1;
    }
    tree
}

/// Each state's [`ACCEPT`] and [`ONES`] flags: the states on the all-ones
/// path from the root (the path of EOS), accepting up to depth 7.
const fn state_flags(tree: &[[u16; 2]; 256]) -> [u8; 256] {
    let mut flags = [0u8; 256];
    let mut node = 0usize;
    let mut depth = 0;
    // EOS is 30 ones: its first 29 bits lead through inner nodes.
    while depth < 30 {
        flags[node] = if depth <= 7 { ACCEPT | ONES } else { ONES };
        let child = tree[node][1];
        if child & LEAF != 0 {
            break;
        }
        node = child as usize;
        depth += 1;
    }
    flags
}

/// The nibble decoding table: `DECODE[state][nibble]`.
static DECODE: [[Step; 16]; 256] = build_decode();

const fn build_decode() -> [[Step; 16]; 256] {
    let tree = build_tree();
    let state = state_flags(&tree);
    let mut table = [[Step {
        next: 0,
        sym: 0,
        flags: 0,
    }; 16]; 256];
    let mut from = 0;
    while from < 256 {
        let mut nibble = 0;
        while nibble < 16 {
            let mut node = from;
            let mut sym = 0u8;
            let mut flags = 0u8;
            let mut bit = 4;
            while bit > 0 {
                bit -= 1;
                let child = tree[node][(nibble >> bit) & 1];
                if child & LEAF != 0 {
                    let s = (child & !LEAF) as usize;
                    if s == EOS {
                        flags |= FAIL;
                        break;
                    }
                    // At most one symbol per nibble: codes have 5 bits or more.
                    assert!(flags & EMIT == 0, "two symbols in a nibble");
                    sym = s as u8;
                    flags |= EMIT;
                    node = 0;
                } else {
                    node = child as usize;
                }
            }
            if flags & FAIL == 0 {
                flags |= state[node];
            }
            table[from][nibble] = Step {
                next: node as u8,
                sym,
                flags,
            };
            nibble += 1;
        }
        from += 1;
    }
    table
}

/// Decodes the Huffman-coded `src`, appending the bytes to `dst`.
///
/// On error `dst` holds whatever was decoded before it.
pub fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), HuffmanError> {
    // Each symbol takes at least 5 bits.
    dst.reserve(src.len() * 8 / 5);
    let mut state = 0u8;
    let mut flags = ACCEPT | ONES;
    for &byte in src {
        for nibble in [byte >> 4, byte & 0x0f] {
            let step = DECODE[usize::from(state)][usize::from(nibble)];
            if step.flags & FAIL != 0 {
                return Err(HuffmanError::Eos);
            }
            if step.flags & EMIT != 0 {
                dst.push(step.sym);
            }
            state = step.next;
            flags = step.flags;
        }
    }
    if flags & ACCEPT != 0 {
        Ok(())
    } else if flags & ONES != 0 {
        Err(HuffmanError::PaddingTooLong)
    } else {
        Err(HuffmanError::PaddingNotEos)
    }
}

/// The length of `src` Huffman-coded, padding included.
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src
        .iter()
        .map(|&b| usize::from(CODES[usize::from(b)].1))
        .sum();
    bits.div_ceil(8)
}

/// Appends `src` Huffman-coded to `dst`, padded with the most significant
/// bits of EOS (ones).
pub fn encode(src: &[u8], dst: &mut Vec<u8>) {
    dst.reserve(encoded_len(src));
    // Pending bits in the low `bits` bits of `acc` (fewer than 8 between
    // symbols, so at most 37 with a new code).
    let mut acc = 0u64;
    let mut bits = 0u32;
    for &b in src {
        let (code, len) = CODES[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            dst.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        let pad = 8 - bits;
        dst.push(((acc << pad) | ((1 << pad) - 1)) as u8);
    }
}
