//! TOML syntax errors in the user's terms.
//!
//! The parser recovers after an error, which can cascade (an unclosed `[`
//! swallows the rest of the file, one error per line). We report an
//! unclosed bracket where it opens, drop the errors inside what it
//! swallowed, keep at most one error per line, and add a help text to each.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::Reporter;

/// Reports syntax errors: an unclosed `[` or `{` at its opening bracket
/// (not at each line it swallowed), then at most one error per line.
pub(crate) fn report(
    rep: &mut Reporter<'_>,
    root: &Spanned<DeTable<'_>>,
    errors: &[toml::de::Error],
) {
    let text = rep.map.text();
    let mut errors: Vec<(Range<usize>, String, String)> = errors
        .iter()
        .map(|e| {
            let span = e.span().unwrap_or(0..0);
            let (message, help) = syntax_message(text, &span, e.message());
            (span, message, help)
        })
        .collect();
    // Containers whose closing bracket is missing end where the error is.
    let mut opened: HashMap<usize, usize> = HashMap::new();
    fn walk(v: &Spanned<DeValue<'_>>, text: &str, opened: &mut HashMap<usize, usize>) {
        let span = v.span();
        let open = text.as_bytes().get(span.start).copied();
        match v.get_ref() {
            DeValue::Array(a) => {
                if open == Some(b'[') {
                    opened.entry(span.end).or_insert(span.start);
                }
                a.iter().for_each(|c| walk(c, text, opened));
            }
            DeValue::Table(t) => {
                if open == Some(b'{') {
                    opened.entry(span.end).or_insert(span.start);
                }
                t.iter().for_each(|(_, c)| walk(c, text, opened));
            }
            _ => {}
        }
    }
    root.get_ref()
        .iter()
        .for_each(|(_, c)| walk(c, text, &mut opened));
    let mut swallowed: Vec<Range<usize>> = Vec::new();
    for (span, message, help) in &mut errors {
        let what = match message.as_str() {
            "invalid TOML: unclosed array" => "array",
            "invalid TOML: unclosed inline table" => "inline table",
            _ => continue,
        };
        if let Some(&start) = opened.get(&span.end) {
            swallowed.push(start..span.end);
            rep.swallowed(start, span.end);
            let line = rep.line_of(span.end);
            *span = start..start + 1;
            *message = format!("invalid TOML: unclosed {what}: this bracket is never closed");
            *help = format!(
                "add the closing bracket where the {what} ends; everything up to line {line} was read as part of it"
            );
        }
    }
    errors.retain(|(span, message, _)| {
        message.contains("never closed")
            || !swallowed
                .iter()
                .any(|s| s.start < span.start && span.start <= s.end)
    });
    errors.sort_by_key(|(span, _, _)| span.start);
    let mut lines = HashSet::new();
    for (span, message, help) in errors {
        if lines.insert(rep.line_of(span.start)) {
            rep.syntax_error(span, message, help);
        }
    }
}

/// Whether the parser's tree is still whole after `error`: a key given
/// twice in one table (one of its values is kept; nothing else is lost).
/// After any other syntax error, values or whole sections may be missing.
pub(crate) fn leaves_tree_whole(text: &str, error: &toml::de::Error) -> bool {
    let span = error.span().unwrap_or(0..0);
    let (message, _) = syntax_message(text, &span, error.message());
    message.starts_with("duplicate key")
}

/// Turns a toml parse error message into a message and a help text.
pub(crate) fn syntax_message(text: &str, span: &Range<usize>, raw: &str) -> (String, String) {
    let (desc, expected) = match raw.split_once(", expected ") {
        Some((d, e)) => (d, Some(e)),
        None => (raw, None),
    };
    let at = text.get(span.clone()).unwrap_or("");
    let line_start = text
        .get(..span.start)
        .map_or(0, |s| s.rfind('\n').map_or(0, |i| i + 1));
    let in_header = text
        .get(line_start..)
        .is_some_and(|l| l.trim_start().starts_with('['));
    match desc {
        "duplicate key" if in_header => (
            format!("duplicate table [{at}]"),
            format!(
                "a table may appear only once; merge the two [{at}] sections (use [[...]] for a list)"
            ),
        ),
        "duplicate key" => (
            format!("duplicate key `{at}`"),
            "a key may appear only once per table; remove one of them".to_string(),
        ),
        "string values must be quoted" if at.trim().is_empty() => (
            "missing value".to_string(),
            "write a value after `=`, e.g. name = \"web\"".to_string(),
        ),
        "string values must be quoted" => (
            "invalid TOML: string values must be quoted".to_string(),
            format!("put the value in double quotes: \"{at}\""),
        ),
        d if d.starts_with("invalid") && !d.contains("key") && !d.contains("string") => (
            format!("invalid TOML: {d}"),
            "strings (addresses, durations, names) must be in double quotes, e.g. \
             address = \"127.0.0.1:8080\""
                .to_string(),
        ),
        d => (
            format!("invalid TOML: {d}"),
            match expected {
                Some(e) => format!("expected {e} here"),
                None => "see https://toml.io for the TOML syntax".to_string(),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_get_a_help() {
        let text = "a = web\nb = [1 2]\n";
        let (m, h) = syntax_message(
            text,
            &(4..7),
            "string values must be quoted, expected literal string",
        );
        assert_eq!(
            (m.as_str(), h.as_str()),
            (
                "invalid TOML: string values must be quoted",
                "put the value in double quotes: \"web\""
            )
        );
        let (m, h) = syntax_message(
            text,
            &(14..14),
            "missing comma between array elements, expected `,`",
        );
        assert_eq!(
            (m.as_str(), h.as_str()),
            (
                "invalid TOML: missing comma between array elements",
                "expected `,` here"
            )
        );
        let (m, h) = syntax_message(text, &(0..0), "something new");
        assert_eq!(
            (m.as_str(), h.as_str()),
            (
                "invalid TOML: something new",
                "see https://toml.io for the TOML syntax"
            )
        );
    }
}
