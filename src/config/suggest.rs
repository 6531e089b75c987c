//! "Did you mean ...?": the closest valid spelling of a mistyped name.

/// The candidate closest to `input`, if it is close enough to be a likely
/// typo: edit distance at most a third of the longer word (at least 1),
/// compared case-insensitively with `-` read as `_`; or `input` is a prefix of
/// exactly one candidate (at least 4 characters).
pub(crate) fn did_you_mean<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let norm = input.to_ascii_lowercase().replace('-', "_");
    if norm.is_empty() {
        return None;
    }
    let mut best: Option<(usize, &'a str)> = None;
    for &c in candidates {
        if c == input {
            continue;
        }
        let d = strsim::osa_distance(&norm, &c.to_ascii_lowercase());
        let limit = (norm.chars().count().max(c.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    if let Some((_, c)) = best {
        return Some(c);
    }
    if norm.chars().count() >= 4 {
        let mut prefixed = candidates.iter().filter(|c| c.starts_with(&norm));
        if let (Some(c), None) = (prefixed.next(), prefixed.next()) {
            return Some(c);
        }
    }
    None
}

/// `` `a`, `b`, `c` `` for help texts.
pub(crate) fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `"a", "b", "c"` for help texts listing names.
pub(crate) fn quoted_list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("{:?}", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &[
        "name",
        "address",
        "protocol",
        "path",
        "path_prefix",
        "algorithm",
    ];

    #[test]
    fn typos() {
        assert_eq!(did_you_mean("adress", KEYS), Some("address"));
        assert_eq!(did_you_mean("Adress", KEYS), Some("address"));
        assert_eq!(did_you_mean("nmae", KEYS), Some("name"));
        assert_eq!(did_you_mean("path-prefix", KEYS), Some("path_prefix"));
        assert_eq!(did_you_mean("pathprefix", KEYS), Some("path_prefix"));
        assert_eq!(did_you_mean("algo", KEYS), Some("algorithm"));
        assert_eq!(
            did_you_mean("pools", &["global", "listener", "pool"]),
            Some("pool")
        );
    }

    #[test]
    fn unrelated_words_get_no_suggestion() {
        assert_eq!(did_you_mean("colour", KEYS), None);
        assert_eq!(did_you_mean("x", KEYS), None);
        assert_eq!(did_you_mean("", KEYS), None);
        // A prefix of two keys is ambiguous.
        assert_eq!(did_you_mean("path", &["path_prefix", "path_regex"]), None);
    }
}
