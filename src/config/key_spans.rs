//! Where each of a section's keys is written, for checks that look at
//! which keys are set (keys a listener's protocol does not use, HTTP keys
//! on a pool only L4 listeners use, a condition's tests).
//!
//! `key_spans!(f; a, b, c)` is `[("a", span of f.a), ...]`, each span `None`
//! when the key is not set; a list-valued key (`[[listener.route]]`) is
//! set when it has an item, and its span is the first item's.

use std::ops::Range;

use toml::Spanned;

/// The span of a key's value, if the key is set.
pub(super) trait KeySpan {
    fn key_span(&self) -> Option<Range<usize>>;
}

impl<T> KeySpan for Option<Spanned<T>> {
    fn key_span(&self) -> Option<Range<usize>> {
        self.as_ref().map(Spanned::span)
    }
}

impl<T> KeySpan for Vec<Spanned<T>> {
    fn key_span(&self) -> Option<Range<usize>> {
        self.first().map(Spanned::span)
    }
}

/// `[(key name, Option<span>); N]` for the named fields of `$f`.
macro_rules! key_spans {
    ($f:expr; $($key:ident),+ $(,)?) => {
        [$((
            stringify!($key),
            $crate::config::key_spans::KeySpan::key_span(&$f.$key),
        )),+]
    };
}
pub(super) use key_spans;
