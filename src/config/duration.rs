//! Human-readable durations: `250ms`, `5s`, `1m30s`, `2h`, `0s`.
//!
//! A duration is one or more `<digits><unit>` parts with units `h`, `m`, `s`
//! and `ms`, largest first, each unit at most once. There is no default
//! unit (`30` is ambiguous), no fractions, no sign and no spaces.

use std::time::Duration;

/// Parses a duration such as `"250ms"`, `"5s"`, `"1m30s"` or `"2h"`.
///
/// The error says what is wrong and how to write it instead.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse(s).map_err(|e| e.message)
}

/// A duration parse error: what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DurationError {
    pub(crate) message: String,
    pub(crate) help: &'static str,
}

const HELP: &str = "write a whole number followed by a unit (ms, s, m, h), \
                    e.g. \"250ms\", \"5s\", \"1m30s\" or \"2h\"";

fn fail(message: String) -> DurationError {
    DurationError {
        message,
        help: HELP,
    }
}

/// Units from largest to smallest, with their length in milliseconds.
const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

pub(crate) fn parse(s: &str) -> Result<Duration, DurationError> {
    if s.is_empty() {
        return Err(fail("empty duration".into()));
    }
    if s.starts_with('-') {
        return Err(fail(format!(
            "negative duration `{s}`; durations must be >= 0"
        )));
    }
    if s.starts_with('+') {
        return Err(fail(format!("unexpected `+` in duration `{s}`")));
    }
    if s.chars().any(char::is_whitespace) {
        return Err(fail(format!("unexpected space in duration `{s}`")));
    }
    let mut total_ms: u64 = 0;
    // Index into UNITS of the last unit seen; each part must be smaller.
    let mut last_unit: Option<usize> = None;
    let mut rest = s;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (digits, after) = rest.split_at(digits_end);
        if digits.is_empty() {
            return Err(fail(format!(
                "expected a number in duration `{s}` before `{rest}`"
            )));
        }
        if after.starts_with('.') || after.starts_with(',') {
            return Err(fail(format!(
                "fractions are not supported in duration `{s}`; use a smaller unit (1.5s = 1500ms)"
            )));
        }
        let unit_end = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        if unit.is_empty() {
            return Err(fail(format!(
                "missing unit after `{digits}` in duration `{s}`"
            )));
        }
        let Some(index) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(fail(format!(
                "unknown unit `{unit}` in duration `{s}` (units: ms, s, m, h)"
            )));
        };
        if let Some(last) = last_unit
            && index <= last
        {
            return Err(fail(format!(
                "unit `{unit}` out of order in duration `{s}`; write units largest first, each once (like `1h30m`)"
            )));
        }
        last_unit = Some(index);
        let overflow = || fail(format!("duration `{s}` is too large"));
        let n: u64 = digits.parse().map_err(|_| overflow())?;
        total_ms = n
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(overflow)?;
        rest = next;
    }
    Ok(Duration::from_millis(total_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid() {
        let ms = |n| Duration::from_millis(n);
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("5s"), Ok(ms(5_000)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("2h"), Ok(ms(7_200_000)));
        assert_eq!(parse_duration("0s"), Ok(ms(0)));
        assert_eq!(parse_duration("1h2m3s4ms"), Ok(ms(3_723_004)));
        assert_eq!(parse_duration("007s"), Ok(ms(7_000)));
    }

    #[test]
    fn invalid() {
        let err = |s| parse_duration(s).unwrap_err();
        assert_eq!(err(""), "empty duration");
        assert_eq!(
            err("-5s"),
            "negative duration `-5s`; durations must be >= 0"
        );
        assert_eq!(err("30"), "missing unit after `30` in duration `30`");
        assert_eq!(
            err("5sec"),
            "unknown unit `sec` in duration `5sec` (units: ms, s, m, h)"
        );
        assert_eq!(
            err("1d"),
            "unknown unit `d` in duration `1d` (units: ms, s, m, h)"
        );
        assert_eq!(err("s"), "expected a number in duration `s` before `s`");
        assert_eq!(err("5 s"), "unexpected space in duration `5 s`");
        assert_eq!(err("+5s"), "unexpected `+` in duration `+5s`");
        assert!(err("1.5s").starts_with("fractions are not supported"));
        assert!(err("30s1m").starts_with("unit `m` out of order"));
        assert!(err("1s1s").starts_with("unit `s` out of order"));
        assert_eq!(
            err("99999999999999999999s"),
            "duration `99999999999999999999s` is too large"
        );
        assert_eq!(
            err("18446744073709551615h"),
            "duration `18446744073709551615h` is too large"
        );
        assert_eq!(
            err("18446744073709551s18446744073709551615ms"),
            "duration `18446744073709551s18446744073709551615ms` is too large"
        );
    }

    #[test]
    fn every_error_has_help() {
        let e = parse("10").unwrap_err();
        assert!(e.help.contains("\"5s\""));
    }
}
