//! The HPACK tables (RFC 7541 §2.3): the static table of Appendix A and the
//! decoder's dynamic table.
//!
//! Entries are kept decoded, as the [`Field`] an indexed representation
//! hands out, so an indexed hit is a clone (an `http` constant, a reference
//! count) with no parsing or checking. The static table is built at compile
//! time from `http`'s header-name constants. A malformed field that the peer
//! inserted stays in the dynamic table as its name and error, so the
//! indices and sizes stay in step with the peer and a later reference
//! reports the error again.

use std::collections::VecDeque;

use bytes::Bytes;
use http::HeaderValue;
use http::header;

use super::field::{FIELD_OVERHEAD, Field, Malformed, Name, Pseudo};

/// Entries in the static table (RFC 7541 Appendix A).
pub const STATIC_LEN: usize = 61;

/// A table entry: a field, or a malformed field's name and error.
pub(crate) type Entry = Result<Field, Malformed>;

/// The name of an entry (for literals with an indexed name).
#[inline]
pub(crate) fn entry_name(entry: &Entry) -> Name {
    match entry {
        Ok(field) => Name::of(field),
        Err(bad) => bad.name.clone(),
    }
}

/// `:pseudo value` as a static entry.
macro_rules! pseudo {
    ($p:ident, $v:literal) => {
        Ok(Field::Pseudo(Pseudo::$p, Bytes::from_static($v.as_bytes())))
    };
}

/// `name value` (value empty when left out) as a static entry.
macro_rules! field {
    ($n:ident) => {
        Ok(Field::Header(header::$n, HeaderValue::from_static("")))
    };
    ($n:ident, $v:literal) => {
        Ok(Field::Header(header::$n, HeaderValue::from_static($v)))
    };
}

/// RFC 7541 Appendix A; index `i` (1-based) is `STATIC[i - 1]`.
pub(crate) static STATIC: [Entry; STATIC_LEN] = [
    pseudo!(Authority, ""),                   // 1
    pseudo!(Method, "GET"),                   // 2
    pseudo!(Method, "POST"),                  // 3
    pseudo!(Path, "/"),                       // 4
    pseudo!(Path, "/index.html"),             // 5
    pseudo!(Scheme, "http"),                  // 6
    pseudo!(Scheme, "https"),                 // 7
    pseudo!(Status, "200"),                   // 8
    pseudo!(Status, "204"),                   // 9
    pseudo!(Status, "206"),                   // 10
    pseudo!(Status, "304"),                   // 11
    pseudo!(Status, "400"),                   // 12
    pseudo!(Status, "404"),                   // 13
    pseudo!(Status, "500"),                   // 14
    field!(ACCEPT_CHARSET),                   // 15
    field!(ACCEPT_ENCODING, "gzip, deflate"), // 16
    field!(ACCEPT_LANGUAGE),                  // 17
    field!(ACCEPT_RANGES),                    // 18
    field!(ACCEPT),                           // 19
    field!(ACCESS_CONTROL_ALLOW_ORIGIN),      // 20
    field!(AGE),                              // 21
    field!(ALLOW),                            // 22
    field!(AUTHORIZATION),                    // 23
    field!(CACHE_CONTROL),                    // 24
    field!(CONTENT_DISPOSITION),              // 25
    field!(CONTENT_ENCODING),                 // 26
    field!(CONTENT_LANGUAGE),                 // 27
    field!(CONTENT_LENGTH),                   // 28
    field!(CONTENT_LOCATION),                 // 29
    field!(CONTENT_RANGE),                    // 30
    field!(CONTENT_TYPE),                     // 31
    field!(COOKIE),                           // 32
    field!(DATE),                             // 33
    field!(ETAG),                             // 34
    field!(EXPECT),                           // 35
    field!(EXPIRES),                          // 36
    field!(FROM),                             // 37
    field!(HOST),                             // 38
    field!(IF_MATCH),                         // 39
    field!(IF_MODIFIED_SINCE),                // 40
    field!(IF_NONE_MATCH),                    // 41
    field!(IF_RANGE),                         // 42
    field!(IF_UNMODIFIED_SINCE),              // 43
    field!(LAST_MODIFIED),                    // 44
    field!(LINK),                             // 45
    field!(LOCATION),                         // 46
    field!(MAX_FORWARDS),                     // 47
    field!(PROXY_AUTHENTICATE),               // 48
    field!(PROXY_AUTHORIZATION),              // 49
    field!(RANGE),                            // 50
    field!(REFERER),                          // 51
    field!(REFRESH),                          // 52
    field!(RETRY_AFTER),                      // 53
    field!(SERVER),                           // 54
    field!(SET_COOKIE),                       // 55
    field!(STRICT_TRANSPORT_SECURITY),        // 56
    field!(TRANSFER_ENCODING),                // 57
    field!(USER_AGENT),                       // 58
    field!(VARY),                             // 59
    field!(VIA),                              // 60
    field!(WWW_AUTHENTICATE),                 // 61
];

/// A dynamic table entry and its size (RFC 7541 §4.1).
#[derive(Debug)]
struct Slot {
    entry: Entry,
    size: usize,
}

/// The dynamic table (RFC 7541 §2.3.2, §4): newest entry first, evicted
/// from the oldest end to keep the sum of entry sizes within the capacity.
#[derive(Debug)]
pub(crate) struct DynamicTable {
    slots: VecDeque<Slot>,
    /// Sum of the entries' sizes.
    size: usize,
    /// The maximum size the peer's encoder chose (its last size update).
    capacity: usize,
}

impl DynamicTable {
    /// An empty table of `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> DynamicTable {
        DynamicTable {
            slots: VecDeque::new(),
            size: 0,
            capacity,
        }
    }

    /// The entry at dynamic index `i` (0 is the newest, HPACK index 62).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&Entry> {
        self.slots.get(i).map(|s| &s.entry)
    }

    /// Number of entries.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Sum of the entries' sizes.
    #[inline]
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The current maximum size.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sets the maximum size (a dynamic table size update), evicting as
    /// needed (RFC 7541 §4.3).
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        self.evict_to(capacity);
    }

    /// Adds an entry of `name_len + value_len + 32` bytes (RFC 7541 §4.4):
    /// evicts until it fits; an entry larger than the capacity empties the
    /// table and is not added.
    pub(crate) fn insert(&mut self, entry: Entry, name_len: usize, value_len: usize) {
        let size = name_len
            .saturating_add(value_len)
            .saturating_add(FIELD_OVERHEAD);
        if size > self.capacity {
            self.slots.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.capacity - size);
        self.size += size;
        self.slots.push_front(Slot { entry, size });
    }

    /// Evicts the oldest entries until the size is at most `target`.
    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            match self.slots.pop_back() {
                Some(slot) => self.size -= slot.size,
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }

    /// The entries, newest first, with their sizes (tests).
    #[cfg(test)]
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&Entry, usize)> {
        self.slots.iter().map(|s| (&s.entry, s.size))
    }
}
