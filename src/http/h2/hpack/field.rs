//! What the decoder hands out: a header field checked against the HTTP/2
//! field rules (RFC 9113 §8.2.1 and §8.3), or the reason it is malformed.
//!
//! Malformed is a stream error, not a connection error: the decoder reports
//! it and goes on through the block, because the dynamic table must stay in
//! step with the peer's encoder. The checks are the ones that only depend
//! on the field itself; which pseudo-headers a request may carry, their
//! order, and connection-specific fields are the request layer's business.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

/// Size accounted per field on top of its name and value: RFC 7541 §4.1
/// for the dynamic table and RFC 9113 §6.5.2 for SETTINGS_MAX_HEADER_LIST_SIZE.
pub const FIELD_OVERHEAD: usize = 32;

/// A pseudo-header field name (RFC 9113 §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pseudo {
    /// `:method`.
    Method,
    /// `:scheme`.
    Scheme,
    /// `:authority`.
    Authority,
    /// `:path`.
    Path,
    /// `:protocol` (extended CONNECT, RFC 8441).
    Protocol,
    /// `:status` (responses).
    Status,
}

impl Pseudo {
    /// The name, colon included.
    #[inline]
    pub const fn as_str(self) -> &'static str {
        match self {
            Pseudo::Method => ":method",
            Pseudo::Scheme => ":scheme",
            Pseudo::Authority => ":authority",
            Pseudo::Path => ":path",
            Pseudo::Protocol => ":protocol",
            Pseudo::Status => ":status",
        }
    }

    /// The pseudo-header called `name` (colon included, lower case only).
    #[inline]
    pub fn from_name(name: &[u8]) -> Option<Pseudo> {
        Some(match name {
            b":method" => Pseudo::Method,
            b":scheme" => Pseudo::Scheme,
            b":authority" => Pseudo::Authority,
            b":path" => Pseudo::Path,
            b":protocol" => Pseudo::Protocol,
            b":status" => Pseudo::Status,
            _ => return None,
        })
    }
}

/// A decoded, well-formed header field.
///
/// Cloning is cheap: names are `http` constants or reference-counted, values
/// are [`Bytes`]-backed. A value that came from a literal "never indexed"
/// representation is marked sensitive ([`HeaderValue::is_sensitive`]), so an
/// HTTP/2 hop onwards can keep it out of its compression state (RFC 7541
/// §7.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A pseudo-header (RFC 9113 §8.3) and its value. The value passed the
    /// same checks as a regular field's value; its meaning (a method, a
    /// path...) is for the request layer to check.
    Pseudo(Pseudo, Bytes),
    /// A regular field: the name is a lower-case token, the value has no
    /// control character but HTAB and no leading or trailing SP or HTAB.
    Header(HeaderName, HeaderValue),
}

impl Field {
    /// The field's size as RFC 9113 §6.5.2 counts it for
    /// SETTINGS_MAX_HEADER_LIST_SIZE (and RFC 7541 §4.1 for the dynamic
    /// table): name length + value length + 32.
    #[inline]
    pub fn size(&self) -> usize {
        match self {
            Field::Pseudo(p, v) => p.as_str().len() + v.len() + FIELD_OVERHEAD,
            Field::Header(n, v) => n.as_str().len() + v.len() + FIELD_OVERHEAD,
        }
    }
}

/// Why a field is malformed (RFC 9113 §8.2.1, §8.3): a stream error
/// (PROTOCOL_ERROR), not a connection error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The name is empty.
    #[error("empty field name")]
    EmptyName,
    /// The name has an upper-case ASCII letter.
    #[error("upper-case character in a field name")]
    UpperCaseName,
    /// The name has a character that is not a token character (or is
    /// longer than `http` allows, 64 KiB).
    #[error("invalid character in a field name")]
    InvalidName,
    /// The name starts with a colon but is none of the known pseudo-headers.
    #[error("unknown pseudo-header field")]
    UnknownPseudo,
    /// The value has NUL, CR, LF or another control character (HTAB aside;
    /// `http::HeaderValue` refuses them all, RFC 9110 §5.5 allows refusing
    /// them).
    #[error("invalid character in a field value")]
    InvalidValue,
    /// The value starts or ends with SP or HTAB.
    #[error("field value starts or ends with whitespace")]
    ValueWhitespace,
}

/// A field name as the tables keep it: a valid name, or the length of an
/// invalid one and why it is invalid (a table entry with an invalid name is
/// kept for the indices and the size accounting, and reports its error when
/// it is referenced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Name {
    /// A pseudo-header.
    Pseudo(Pseudo),
    /// A regular field name.
    Header(HeaderName),
    /// A malformed name.
    Invalid {
        /// Its length in bytes (for the size accounting).
        len: usize,
        /// Why it is malformed.
        error: FieldError,
    },
}

impl Name {
    /// Checks a name from the wire.
    #[inline]
    pub(crate) fn parse(raw: &[u8]) -> Name {
        if raw.first() == Some(&b':') {
            return match Pseudo::from_name(raw) {
                Some(p) => Name::Pseudo(p),
                None => Name::Invalid {
                    len: raw.len(),
                    error: FieldError::UnknownPseudo,
                },
            };
        }
        match HeaderName::from_lowercase(raw) {
            // `http` lets DQUOTE through; it is no token character.
            Ok(name) if memchr::memchr(b'"', raw).is_none() => Name::Header(name),
            _ => Name::Invalid {
                len: raw.len(),
                error: name_error(raw),
            },
        }
    }

    /// The name's length in bytes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            Name::Pseudo(p) => p.as_str().len(),
            Name::Header(n) => n.as_str().len(),
            Name::Invalid { len, .. } => *len,
        }
    }

    /// The name of a decoded field.
    #[inline]
    pub(crate) fn of(field: &Field) -> Name {
        match field {
            Field::Pseudo(p, _) => Name::Pseudo(*p),
            Field::Header(n, _) => Name::Header(n.clone()),
        }
    }
}

/// Why `HeaderName::from_lowercase` refused `raw` (not a pseudo-header).
#[cold]
fn name_error(raw: &[u8]) -> FieldError {
    if raw.is_empty() {
        FieldError::EmptyName
    } else if raw.iter().any(u8::is_ascii_uppercase) {
        FieldError::UpperCaseName
    } else {
        FieldError::InvalidName
    }
}

/// A field that failed the checks, as the dynamic table keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed {
    /// Its name (valid when only the value is malformed: a later literal
    /// may reuse the name with a valid value).
    pub(crate) name: Name,
    /// Why the field is malformed.
    pub(crate) error: FieldError,
}

/// SP or HTAB.
#[inline]
fn is_ws(b: Option<&u8>) -> bool {
    matches!(b, Some(b' ' | b'\t'))
}

/// Builds the field `name: value`, checking the value. `sensitive` marks a
/// regular field's value as never to be indexed.
#[inline]
pub(crate) fn build(name: Name, value: Bytes, sensitive: bool) -> Result<Field, Malformed> {
    let error = match name {
        Name::Header(n) => {
            let error = match HeaderValue::from_maybe_shared(value) {
                Ok(mut v) if !is_ws(v.as_bytes().first()) && !is_ws(v.as_bytes().last()) => {
                    if sensitive {
                        v.set_sensitive(true);
                    }
                    return Ok(Field::Header(n, v));
                }
                Ok(_) => FieldError::ValueWhitespace,
                Err(_) => FieldError::InvalidValue,
            };
            return Err(Malformed {
                name: Name::Header(n),
                error,
            });
        }
        Name::Pseudo(p) => match check_value(&value) {
            Ok(()) => return Ok(Field::Pseudo(p, value)),
            Err(e) => e,
        },
        Name::Invalid { error, .. } => error,
    };
    Err(Malformed { name, error })
}

/// The value rules of [`Field`], for values that do not go through
/// `HeaderValue` (pseudo-headers): no control character but HTAB, no DEL,
/// no leading or trailing SP or HTAB.
#[inline]
pub(crate) fn check_value(value: &[u8]) -> Result<(), FieldError> {
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(FieldError::InvalidValue);
    }
    if is_ws(value.first()) || is_ws(value.last()) {
        return Err(FieldError::ValueWhitespace);
    }
    Ok(())
}
