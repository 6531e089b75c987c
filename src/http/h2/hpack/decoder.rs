//! The HPACK decoder (RFC 7541 §3, §6): turns a complete header block
//! (HEADERS plus CONTINUATION fragments, joined) into [`Field`]s.
//!
//! Two kinds of failure, as RFC 9113 distinguishes them:
//! - [`DecodeError`]: the block is not valid HPACK. The dynamic table may
//!   now disagree with the peer's, so it is a connection error of type
//!   COMPRESSION_ERROR (RFC 9113 §4.3) and the decoder must not be used
//!   again.
//! - [`FieldError`]: a field decoded fine but is malformed HTTP/2 (RFC 9113
//!   §8.2.1): a stream error. It goes to the sink in place of the field and
//!   decoding goes on, so the table stays in step.
//!
//! Cost per field: an indexed field is a clone of the table entry; a literal
//! value that is neither Huffman-coded nor inserted into the table is a
//! slice of the block (no copy); a Huffman-coded string is decoded into a
//! reused buffer, then copied once into an exact-size allocation. Values
//! inserted into the table are copies, never slices of the block: a slice
//! would keep the whole block alive as long as the entry.

use std::ops::Range;

use bytes::Bytes;

use super::field::{Field, FieldError, Name, build};
use super::huffman::{self, HuffmanError};
use super::table::{DynamicTable, Entry, STATIC, STATIC_LEN, entry_name};

/// The default cap on one decoded string (name or value), in bytes.
pub const DEFAULT_MAX_STRING_LEN: usize = 256 << 10;

/// The Huffman buffer is given back after a block that grew it past this.
const MAX_KEPT_SCRATCH: usize = 16 << 10;

/// Why a header block is not valid HPACK: a connection error of type
/// COMPRESSION_ERROR (RFC 9113 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The block ends inside an integer.
    #[error("HPACK integer truncated")]
    IntegerTruncated,
    /// An integer does not fit in 32 bits or has more than 5 continuation
    /// bytes.
    #[error("HPACK integer overflow")]
    IntegerOverflow,
    /// The block ends inside a string, or before one.
    #[error("HPACK string truncated")]
    StringTruncated,
    /// A string (Huffman-decoded, when coded) is longer than the decoder's
    /// cap.
    #[error("HPACK string longer than {max} bytes")]
    StringTooLong {
        /// The cap.
        max: usize,
    },
    /// A Huffman-coded string is invalid.
    #[error("invalid HPACK Huffman string: {0}")]
    Huffman(#[from] HuffmanError),
    /// An index of 0 (RFC 7541 §6.1).
    #[error("HPACK index 0")]
    ZeroIndex,
    /// An index past the static and dynamic tables (RFC 7541 §2.3.3).
    #[error("HPACK index {0} out of range")]
    IndexOutOfRange(usize),
    /// A dynamic table size update above the size we advertised
    /// (RFC 7541 §6.3).
    #[error("HPACK table size update to {size} above the limit {max}")]
    SizeUpdateTooLarge {
        /// The size asked for.
        size: usize,
        /// Our SETTINGS_HEADER_TABLE_SIZE.
        max: usize,
    },
    /// A dynamic table size update after a field representation
    /// (RFC 7541 §4.2).
    #[error("HPACK table size update not at the start of the block")]
    SizeUpdateNotAtStart,
    /// The first block after our limit went below the table's size did not
    /// start with a size update (RFC 9113 §4.3.1, RFC 7541 §4.2).
    #[error("HPACK table size update missing after a lower limit")]
    SizeUpdateMissing,
}

/// A position in a header block.
pub(crate) struct Cursor<'b> {
    buf: &'b [u8],
    pos: usize,
}

impl<'b> Cursor<'b> {
    /// At the start of `buf`.
    #[inline]
    pub(crate) fn new(buf: &'b [u8]) -> Cursor<'b> {
        Cursor { buf, pos: 0 }
    }

    /// Bytes read so far.
    #[cfg(test)]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The next byte.
    #[inline]
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// The next `n` bytes and where they are.
    #[inline]
    fn take(&mut self, n: usize) -> Option<(&'b [u8], Range<usize>)> {
        let range = self.pos..self.pos.checked_add(n)?;
        let bytes = self.buf.get(range.clone())?;
        self.pos = range.end;
        Some((bytes, range))
    }

    /// An integer (RFC 7541 §5.1) with a `prefix_bits`-bit prefix (1 to 8)
    /// whose first byte, `first`, was already read.
    #[inline]
    pub(crate) fn int(&mut self, first: u8, prefix_bits: u32) -> Result<usize, DecodeError> {
        let mask = 0xffu8 >> (8 - prefix_bits);
        let prefix = first & mask;
        if prefix < mask {
            return Ok(usize::from(prefix));
        }
        self.int_rest(u64::from(mask))
    }

    /// The continuation bytes of an integer whose prefix was full.
    fn int_rest(&mut self, mut value: u64) -> Result<usize, DecodeError> {
        // 5 continuation bytes carry 35 bits, plenty for a 32-bit value.
        for shift in [0u32, 7, 14, 21, 28] {
            let b = self.byte().ok_or(DecodeError::IntegerTruncated)?;
            value += u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return u32::try_from(value)
                    .ok()
                    .and_then(|v| usize::try_from(v).ok())
                    .ok_or(DecodeError::IntegerOverflow);
            }
        }
        Err(DecodeError::IntegerOverflow)
    }
}

/// A decoded string: where it is.
enum Str<'b> {
    /// Plain, in the block.
    Raw(&'b [u8], Range<usize>),
    /// Huffman-coded, decoded into the decoder's scratch buffer.
    Huffman,
}

/// The HPACK decoder of one connection (the peer's encoder's twin).
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// Our SETTINGS_HEADER_TABLE_SIZE: no size update may go above it.
    max_table_size: usize,
    /// Our limit went below the table's capacity: the next block must start
    /// with a size update.
    update_required: bool,
    max_string_len: usize,
    /// Huffman output.
    scratch: Vec<u8>,
}

impl Default for Decoder {
    /// A decoder for the protocol's default table size, 4096.
    fn default() -> Decoder {
        Decoder::new(4096)
    }
}

impl Decoder {
    /// A decoder whose dynamic table may grow to `max_table_size` bytes: the
    /// SETTINGS_HEADER_TABLE_SIZE in force for the peer's encoder. That is
    /// 4096, the protocol default, until the peer acknowledges a SETTINGS of
    /// ours with another value (then see [`set_max_table_size`]); the table
    /// starts with that much room, as the peer's encoder does.
    ///
    /// Strings are capped at [`DEFAULT_MAX_STRING_LEN`].
    ///
    /// [`set_max_table_size`]: Decoder::set_max_table_size
    pub fn new(max_table_size: usize) -> Decoder {
        Decoder {
            table: DynamicTable::new(max_table_size),
            max_table_size,
            update_required: false,
            max_string_len: DEFAULT_MAX_STRING_LEN,
            scratch: Vec::new(),
        }
    }

    /// Caps one decoded string (name or value, after Huffman decoding) at
    /// `max` bytes; a longer one is a [`DecodeError::StringTooLong`]. Keep
    /// it at least SETTINGS_MAX_HEADER_LIST_SIZE, so that a too-large header
    /// list is reported as such (431) rather than as a connection error.
    pub fn with_max_string_len(mut self, max: usize) -> Decoder {
        self.max_string_len = max;
        self
    }

    /// Applies a new SETTINGS_HEADER_TABLE_SIZE of ours, once the peer
    /// acknowledged it. When it is below the table's current maximum size,
    /// the table shrinks to it now and the next header block must start
    /// with a size update (RFC 7541 §4.2). When it is above, the table keeps
    /// its size until the peer's encoder raises it with a size update.
    pub fn set_max_table_size(&mut self, max: usize) {
        self.max_table_size = max;
        if max < self.table.capacity() {
            self.table.set_capacity(max);
            self.update_required = true;
        }
    }

    /// The limit for size updates: our SETTINGS_HEADER_TABLE_SIZE.
    pub fn max_table_size(&self) -> usize {
        self.max_table_size
    }

    /// The dynamic table's current maximum size (the peer's last size
    /// update, or the initial limit); never above [`max_table_size`].
    ///
    /// [`max_table_size`]: Decoder::max_table_size
    pub fn table_capacity(&self) -> usize {
        self.table.capacity()
    }

    /// The dynamic table's size (RFC 7541 §4.1); never above
    /// [`table_capacity`].
    ///
    /// [`table_capacity`]: Decoder::table_capacity
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Entries in the dynamic table.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// The dynamic table (tests).
    #[cfg(test)]
    pub(crate) fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Decodes one complete header block, handing each field to `sink` in
    /// order: `Ok` with the field, or `Err` when it is malformed (then the
    /// stream is malformed; the rest of the block is still decoded and
    /// handed out, the caller may ignore it).
    ///
    /// Literal values that are neither Huffman-coded nor indexed are slices
    /// of `block` (no copy). The caller accounts [`Field::size`] against
    /// SETTINGS_MAX_HEADER_LIST_SIZE, and stops keeping fields (not
    /// decoding) past it: a one-byte indexed field can stand for a field as
    /// large as the dynamic table.
    ///
    /// On `Err` the connection must end with COMPRESSION_ERROR: the table
    /// is no longer in step with the peer's.
    pub fn decode<F>(&mut self, block: &Bytes, mut sink: F) -> Result<(), DecodeError>
    where
        F: FnMut(Result<Field, FieldError>),
    {
        let mut cur = Cursor::new(block);
        // Size updates are allowed until the first field representation.
        let mut at_start = true;
        while let Some(first) = cur.byte() {
            if first & 0x80 != 0 {
                // Indexed field (RFC 7541 §6.1): 1xxxxxxx.
                self.start_fields(&mut at_start)?;
                let index = cur.int(first, 7)?;
                match self.entry(index)? {
                    Ok(field) => sink(Ok(field.clone())),
                    Err(bad) => sink(Err(bad.error)),
                }
            } else if first & 0x40 != 0 {
                // Literal with incremental indexing (§6.2.1): 01xxxxxx.
                self.start_fields(&mut at_start)?;
                let index = cur.int(first, 6)?;
                let (field, name_len, value_len) =
                    self.literal(block, &mut cur, index, true, false)?;
                self.table.insert(field.clone(), name_len, value_len);
                sink(field.map_err(|bad| bad.error));
            } else if first & 0x20 != 0 {
                // Dynamic table size update (§6.3): 001xxxxx.
                if !at_start {
                    return Err(DecodeError::SizeUpdateNotAtStart);
                }
                let size = cur.int(first, 5)?;
                if size > self.max_table_size {
                    return Err(DecodeError::SizeUpdateTooLarge {
                        size,
                        max: self.max_table_size,
                    });
                }
                self.table.set_capacity(size);
                self.update_required = false;
            } else {
                // Literal without indexing (§6.2.2): 0000xxxx, or never
                // indexed (§6.2.3): 0001xxxx.
                self.start_fields(&mut at_start)?;
                let index = cur.int(first, 4)?;
                let never = first & 0x10 != 0;
                let (field, _, _) = self.literal(block, &mut cur, index, false, never)?;
                sink(field.map_err(|bad| bad.error));
            }
        }
        if self.scratch.capacity() > MAX_KEPT_SCRATCH {
            self.scratch = Vec::new();
        }
        Ok(())
    }

    /// Before the block's first field representation: a required size
    /// update must have come.
    #[inline]
    fn start_fields(&mut self, at_start: &mut bool) -> Result<(), DecodeError> {
        if *at_start {
            *at_start = false;
            if self.update_required {
                return Err(DecodeError::SizeUpdateMissing);
            }
        }
        Ok(())
    }

    /// The entry at HPACK index `index` (static, then dynamic).
    #[inline]
    fn entry(&self, index: usize) -> Result<&Entry, DecodeError> {
        let found = match index {
            0 => return Err(DecodeError::ZeroIndex),
            1..=STATIC_LEN => STATIC.get(index - 1),
            _ => self.table.get(index - STATIC_LEN - 1),
        };
        found.ok_or(DecodeError::IndexOutOfRange(index))
    }

    /// The rest of a literal representation whose name index is `index` (0:
    /// a literal name follows): the field, its name's length and its
    /// value's length. `owned`: the value is to be inserted into the table,
    /// so it must not be a slice of the block.
    fn literal(
        &mut self,
        block: &Bytes,
        cur: &mut Cursor<'_>,
        index: usize,
        owned: bool,
        never: bool,
    ) -> Result<(Entry, usize, usize), DecodeError> {
        let name = if index == 0 {
            match read_string(cur, self.max_string_len, &mut self.scratch)? {
                Str::Raw(raw, _) => Name::parse(raw),
                Str::Huffman => Name::parse(&self.scratch),
            }
        } else {
            entry_name(self.entry(index)?)
        };
        let value = match read_string(cur, self.max_string_len, &mut self.scratch)? {
            Str::Raw([], _) => Bytes::new(),
            Str::Raw(raw, _) if owned => Bytes::copy_from_slice(raw),
            Str::Raw(_, range) => block.slice(range),
            Str::Huffman => Bytes::copy_from_slice(&self.scratch),
        };
        let name_len = name.len();
        let value_len = value.len();
        Ok((build(name, value, never), name_len, value_len))
    }
}

/// Reads a string literal (RFC 7541 §5.2); a Huffman-coded one is decoded
/// into `scratch`.
#[inline]
fn read_string<'b>(
    cur: &mut Cursor<'b>,
    max: usize,
    scratch: &mut Vec<u8>,
) -> Result<Str<'b>, DecodeError> {
    let first = cur.byte().ok_or(DecodeError::StringTruncated)?;
    let len = cur.int(first, 7)?;
    if len > max {
        return Err(DecodeError::StringTooLong { max });
    }
    let (bytes, range) = cur.take(len).ok_or(DecodeError::StringTruncated)?;
    if first & 0x80 == 0 {
        return Ok(Str::Raw(bytes, range));
    }
    scratch.clear();
    huffman::decode(bytes, scratch)?;
    if scratch.len() > max {
        return Err(DecodeError::StringTooLong { max });
    }
    Ok(Str::Huffman)
}
