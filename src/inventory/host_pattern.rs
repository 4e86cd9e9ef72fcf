//! Ansible host patterns, as INI host lines and YAML host keys write them.
//!
//! A pattern is a host name with optional ranges, `web[01:03]` or `db-[a:c]` or
//! `node[0:10:2]`, and an optional `:port` suffix. Numeric ranges keep the zero-padded width of
//! their begin bound (which must then have the same width as the end bound); alphabetic ranges
//! run over single letters in the order a–z then A–Z, as Ansible's do.
//!
//! Invariants:
//! - A pattern never expands to more than `MAX_HOSTS` names; the count is checked before any
//!   name is built, so a hostile range cannot exhaust memory.
//! - Names are not validated here; the shared validation does that once for every format.

use super::MAX_HOSTS;

/// The letters of an alphabetic range, in Ansible's order.
const RANGE_LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The largest number of digits a numeric range bound may have.
const MAX_RANGE_DIGITS: usize = 18;

/// A host pattern split into its name part and its optional port.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(super) struct HostPattern<'pattern> {
    /// The name part, ranges still unexpanded.
    pub(super) name: &'pattern str,
    /// The digits after the last `:` outside the ranges, if any.
    pub(super) port: Option<&'pattern str>,
}

/// Splits a `name:port` pattern. A `:` inside brackets belongs to a range; a suffix that is
/// not all digits is left in the name (where validation will refuse it).
pub(super) fn split_port(pattern: &str) -> HostPattern<'_> {
    let mut depth = 0_usize;
    let mut last_colon = None;
    for (index, character) in pattern.char_indices() {
        match character {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => last_colon = Some(index),
            _ => {}
        }
    }
    if let Some(index) = last_colon {
        let (name, port_with_colon) = pattern.split_at(index);
        let port = &port_with_colon[1..];
        if !port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit()) {
            return HostPattern {
                name,
                port: Some(port),
            };
        }
    }
    HostPattern {
        name: pattern,
        port: None,
    }
}

/// One piece of a pattern: literal text or the values of one range.
enum PatternPiece {
    /// Text copied as it is.
    Literal(String),
    /// The values a range stands for, in order.
    Range(Vec<String>),
}

/// Expands every range in a name pattern into the list of names it stands for.
pub(super) fn expand_host_pattern(pattern: &str) -> Result<Vec<String>, String> {
    let pieces = split_into_pieces(pattern)?;
    let mut names = vec![String::new()];
    for piece in &pieces {
        match piece {
            PatternPiece::Literal(text) => {
                for name in &mut names {
                    name.push_str(text);
                }
            }
            PatternPiece::Range(values) => {
                let mut expanded = Vec::with_capacity(names.len().saturating_mul(values.len()));
                for name in &names {
                    for value in values {
                        expanded.push(format!("{name}{value}"));
                    }
                }
                names = expanded;
            }
        }
    }
    Ok(names)
}

/// Splits a pattern into literal text and ranges, checking that all ranges together expand
/// to at most `MAX_HOSTS` names.
fn split_into_pieces(pattern: &str) -> Result<Vec<PatternPiece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut total: usize = 1;
    let mut rest = pattern;
    while let Some(open) = rest.find('[') {
        literal.push_str(&rest[..open]);
        let after_open = &rest[open + 1..];
        let close = after_open
            .find(']')
            .ok_or_else(|| format!("host pattern {pattern:?} has a '[' without a ']'"))?;
        let inside = &after_open[..close];
        if inside.contains('[') {
            return Err(format!("host pattern {pattern:?} nests '[' inside a range"));
        }
        let values =
            range_values(inside).map_err(|reason| format!("host pattern {pattern:?}: {reason}"))?;
        total = total
            .checked_mul(values.len())
            .filter(|count| *count <= MAX_HOSTS)
            .ok_or_else(|| {
                format!("host pattern {pattern:?} expands to more than {MAX_HOSTS} hosts")
            })?;
        if !literal.is_empty() {
            pieces.push(PatternPiece::Literal(std::mem::take(&mut literal)));
        }
        pieces.push(PatternPiece::Range(values));
        rest = &after_open[close + 1..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(PatternPiece::Literal(literal));
    }
    Ok(pieces)
}

/// The values of one range, from the text between its brackets (`begin:end[:step]`).
fn range_values(inside: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = inside.split(':').collect();
    let (begin, end, step) = match parts.as_slice() {
        [begin, end] => (*begin, *end, 1),
        [begin, end, step] => (*begin, *end, parse_step(step)?),
        _ => return Err("a range is [begin:end] or [begin:end:step]".to_owned()),
    };
    let begin = if begin.is_empty() { "0" } else { begin };
    if end.is_empty() {
        return Err("a range needs an end bound".to_owned());
    }
    if let (Some(begin_index), Some(end_index)) = (letter_index(begin), letter_index(end)) {
        if begin_index > end_index {
            return Err("a range's begin must not come after its end".to_owned());
        }
        return Ok(RANGE_LETTERS
            .chars()
            .skip(begin_index)
            .take(end_index - begin_index + 1)
            .step_by(step)
            .map(String::from)
            .collect());
    }
    numeric_range_values(begin, end, step)
}

/// The values of a numeric range, zero-padded to the begin bound's width when it has a
/// leading zero.
fn numeric_range_values(begin: &str, end: &str, step: usize) -> Result<Vec<String>, String> {
    let is_number = |bound: &str| {
        bound.len() <= MAX_RANGE_DIGITS && bound.bytes().all(|byte| byte.is_ascii_digit())
    };
    if !(is_number(begin) && is_number(end)) {
        return Err(format!(
            "range bounds must both be numbers of at most {MAX_RANGE_DIGITS} digits or both \
             single letters"
        ));
    }
    let width = if begin.starts_with('0') && begin.len() > 1 {
        if begin.len() != end.len() {
            return Err(
                "a zero-padded range needs begin and end bounds of the same width".to_owned(),
            );
        }
        begin.len()
    } else {
        0
    };
    let first: u64 = begin.parse().map_err(|_| "a range bound is not a number")?;
    let last: u64 = end.parse().map_err(|_| "a range bound is not a number")?;
    if first > last {
        return Err("a range's begin must not be larger than its end".to_owned());
    }
    let step_size = u64::try_from(step).map_err(|_| "a range step is too large")?;
    let count = (last - first) / step_size + 1;
    if count > u64::try_from(MAX_HOSTS).unwrap_or(u64::MAX) {
        return Err(format!("a range expands to more than {MAX_HOSTS} hosts"));
    }
    let mut values = Vec::new();
    let mut current = first;
    while current <= last {
        values.push(format!("{current:0width$}"));
        match current.checked_add(step_size) {
            Some(next) => current = next,
            None => break,
        }
    }
    Ok(values)
}

/// The position of a single-letter bound in `RANGE_LETTERS`.
fn letter_index(bound: &str) -> Option<usize> {
    let mut characters = bound.chars();
    match (characters.next(), characters.next()) {
        (Some(letter), None) if letter.is_ascii_alphabetic() => RANGE_LETTERS.find(letter),
        _ => None,
    }
}

/// A range step: a whole number of at least 1.
fn parse_step(step: &str) -> Result<usize, String> {
    step.parse::<usize>()
        .ok()
        .filter(|step| *step >= 1)
        .ok_or_else(|| "a range step must be a whole number of at least 1".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ranges_keep_their_padding() {
        assert_eq!(
            expand_host_pattern("web[01:03]").unwrap(),
            ["web01", "web02", "web03"]
        );
        assert_eq!(
            expand_host_pattern("web[8:10]").unwrap(),
            ["web8", "web9", "web10"]
        );
        assert_eq!(
            expand_host_pattern("node[0:10:5].lab").unwrap(),
            ["node0.lab", "node5.lab", "node10.lab"]
        );
        assert_eq!(expand_host_pattern("n[:1]").unwrap(), ["n0", "n1"]);
    }

    #[test]
    fn alphabetic_ranges_and_several_ranges_expand() {
        assert_eq!(
            expand_host_pattern("db-[a:c]").unwrap(),
            ["db-a", "db-b", "db-c"]
        );
        assert_eq!(
            expand_host_pattern("x[y:B]").unwrap(),
            ["xy", "xz", "xA", "xB"]
        );
        assert_eq!(
            expand_host_pattern("r[1:2]-[a:b]").unwrap(),
            ["r1-a", "r1-b", "r2-a", "r2-b"]
        );
    }

    #[test]
    fn bad_ranges_are_errors() {
        for pattern in [
            "web[3:1]",
            "web[01:3]",
            "web[c:a]",
            "web[1:a]",
            "web[1:]",
            "web[1:2:0]",
            "web[1:2:3:4]",
            "web[1:2",
            "web[[1:2]]",
            "web[aa:bb]",
            "web[0:999999999999]",
            "web[0:99999]x[0:99]",
            "web[0:9999999999999999999999]",
        ] {
            assert!(expand_host_pattern(pattern).is_err(), "{pattern}");
        }
    }

    #[test]
    fn a_port_suffix_is_split_off() {
        assert_eq!(
            split_port("web[1:2]:2222"),
            HostPattern {
                name: "web[1:2]",
                port: Some("2222")
            }
        );
        assert_eq!(
            split_port("web[1:2]"),
            HostPattern {
                name: "web[1:2]",
                port: None
            }
        );
        assert_eq!(
            split_port("fe80::x"),
            HostPattern {
                name: "fe80::x",
                port: None
            }
        );
    }
}
