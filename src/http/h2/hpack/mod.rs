//! HPACK header compression (RFC 7541): the decoder for request header
//! blocks and the encoder for response header blocks.
//!
//! Sans-io and allocation-shy, for the hot path of every HTTP/2 request:
//!
//! - [`Decoder`] takes a complete header block (the frame layer joins
//!   HEADERS and CONTINUATION) and hands each field to a sink as a
//!   [`Field`]: a [`Pseudo`]-header and its value, or an `http` name and
//!   value, already checked against RFC 9113 §8.2.1. A block that is not
//!   valid HPACK is a [`DecodeError`] (connection error, COMPRESSION_ERROR);
//!   a field that is malformed HTTP/2 is a [`FieldError`] in the field's
//!   place (stream error) and decoding goes on, so the dynamic table stays
//!   in step with the peer's. [`Field::size`] is the RFC 9113 §6.5.2 size
//!   for SETTINGS_MAX_HEADER_LIST_SIZE.
//! - [`Encoder`] writes `:status` and the response's fields as literals
//!   without indexing, with static-table names, no Huffman coding and no
//!   dynamic table (see its module for why one size update is still sent).
//! - [`huffman`]: the Huffman code of Appendix B, table-driven decoding.
//!
//! Layout: `field` (the output types and the field checks), `table` (the
//! static and dynamic tables), `decoder`, `encoder`, `huffman`.

mod decoder;
mod encoder;
mod field;
pub mod huffman;
mod table;

#[cfg(test)]
mod tests;

pub use decoder::{DEFAULT_MAX_STRING_LEN, DecodeError, Decoder};
pub use encoder::Encoder;
/// HPACK integers (RFC 7541 §5.1), for tests that write request blocks.
#[cfg(test)]
pub(crate) use encoder::encode_int;
pub use field::{FIELD_OVERHEAD, Field, FieldError, Pseudo};
pub use huffman::HuffmanError;
pub use table::STATIC_LEN;
