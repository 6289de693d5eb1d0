//! Locating a YAML error: the dotted field path at a line and column, and
//! a one-line snippet with a caret.

use regex::Regex;

/// Removes serde-saphyr's `error: line N column M: ` prefix, which this
/// crate prints in its own `file:line:column` form.
pub(super) fn strip_location_prefix(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or_default();
    let without_error = first_line.strip_prefix("error: ").unwrap_or(first_line);
    let message = match without_error
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((position, rest)) if position.contains("column") => rest,
        _ => without_error,
    };
    // Messages from custom deserializers end in ` at line N, column M`.
    let suffix = Regex::new(r" at line \d+, column \d+$").expect("static regex");
    suffix.replace(message, "").into_owned()
}

/// Renders the source line and a caret under `column`.
pub(super) fn snippet(text: &str, line: u64, column: u64) -> String {
    let Some(source_line) = text.lines().nth(line.saturating_sub(1) as usize) else {
        return String::new();
    };
    let gutter = format!("{line:>4} | ");
    let caret_pad =
        " ".repeat(gutter.len() - 2) + "| " + &" ".repeat(column.saturating_sub(1) as usize);
    format!("{gutter}{source_line}\n{caret_pad}^")
}

/// Leading spaces, sequence-dash columns and the first key of one line.
struct LineShape<'a> {
    dashes: Vec<usize>,
    key_column: usize,
    key: Option<&'a str>,
}

fn line_shape(line: &str) -> Option<LineShape<'_>> {
    let mut column = line.len() - line.trim_start_matches(' ').len();
    let mut rest = &line[column..];
    if rest.is_empty() || rest.starts_with('#') {
        return None;
    }
    let mut dashes = Vec::new();
    while rest == "-" || rest.starts_with("- ") {
        dashes.push(column);
        let after = rest[1..].trim_start_matches(' ');
        column += rest.len() - after.len();
        rest = after;
    }
    let key = rest
        .split_once(':')
        .map(|(key, _)| key.trim())
        .filter(|key| is_key(key));
    Some(LineShape {
        dashes,
        key_column: column,
        key,
    })
}

pub(super) fn is_key(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Finds the keys on one line that lead to `column_byte`: the keys of the
/// flow maps (`{...}`) still open there, then the last key at or before
/// it. In `schedule: {every: 5}` the value `5` gives `[schedule, every]`.
fn inline_path(line: &str, column_byte: usize) -> Vec<String> {
    let key_regex = Regex::new(r"([A-Za-z_][A-Za-z0-9_-]*)\s*:").expect("static regex");
    let keys: Vec<(usize, String)> = key_regex
        .captures_iter(line)
        .filter_map(|c| c.get(1))
        .filter(|m| m.start() <= column_byte)
        .map(|m| (m.start(), m.as_str().to_owned()))
        .collect();
    let key_before = |at: usize| {
        keys.iter()
            .rev()
            .find(|(start, _)| *start < at)
            .map(|(_, key)| key.clone())
    };

    let mut open: Vec<Option<String>> = Vec::new();
    let mut in_quotes = None;
    for (at, c) in line.char_indices().take_while(|(at, _)| *at < column_byte) {
        match (in_quotes, c) {
            (Some(quote), _) if c == quote => in_quotes = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => in_quotes = Some(c),
            (None, '{') => open.push(key_before(at)),
            (None, '}') => {
                open.pop();
            }
            _ => {}
        }
    }
    let mut path: Vec<String> = open.into_iter().flatten().collect();
    if let Some((_, last)) = keys.last()
        && path.last() != Some(last)
    {
        path.push(last.clone());
    }
    path
}

/// Finds the dotted path of the field at `line`:`column` (both 1-based) in
/// block-style YAML, such as `spec.faults[1].grace`. Flow-style maps give
/// the innermost key written before the column.
pub(super) fn field_path(text: &str, line: usize, column: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(current) = lines.get(line.saturating_sub(1)) else {
        return String::from("(document)");
    };

    // The key at or before the column on the error's own line.
    let column_byte = current
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(current.len(), |(i, _)| i);
    let mut components: Vec<String> = inline_path(current, column_byte)
        .into_iter()
        .rev()
        .collect();

    let Some(shape) = line_shape(current) else {
        return components
            .pop()
            .unwrap_or_else(|| String::from("(document)"));
    };
    let mut indent = shape.key_column;
    let mut pending_dashes = shape.dashes;

    let mut index = line.saturating_sub(1);
    loop {
        // A dash left of the current indent opens the sequence item that
        // contains everything found so far.
        while let Some(dash) = pending_dashes.pop() {
            if dash < indent {
                let position = lines[..index]
                    .iter()
                    .rev()
                    .map_while(|l| {
                        line_shape(l).map_or(Some(None), |s| {
                            (s.key_column > dash || s.dashes.first().is_some_and(|d| *d >= dash))
                                .then_some(Some(s))
                        })
                    })
                    .flatten()
                    .filter(|s| s.dashes.first() == Some(&dash))
                    .count();
                components.push(format!("[{position}]"));
                indent = dash;
            }
        }
        if indent == 0 || index == 0 {
            break;
        }
        index -= 1;
        let Some(shape) = line_shape(lines[index]) else {
            continue;
        };
        let line_indent = shape.dashes.first().copied().unwrap_or(shape.key_column);
        if line_indent >= indent {
            continue;
        }
        if shape.dashes.is_empty() || shape.key_column < indent {
            if let Some(key) = shape.key {
                components.push(key.to_owned());
            }
            indent = shape.key_column;
        }
        pending_dashes = shape.dashes;
    }

    let mut path = String::new();
    for component in components.iter().rev() {
        if !path.is_empty() && !component.starts_with('[') {
            path.push('.');
        }
        path.push_str(component);
    }
    if path.is_empty() {
        String::from("(document)")
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_path_block_style() {
        let text = "spec:\n  target:\n    ready:\n      intervl: 5ms\n  faults:\n    - name: a\n      signal: SIGKILL\n    - name: b\n      grace: 5\n";
        assert_eq!(field_path(text, 4, 7), "spec.target.ready.intervl");
        assert_eq!(field_path(text, 9, 7), "spec.faults[1].grace");
        assert_eq!(field_path(text, 6, 7), "spec.faults[0].name");
    }

    #[test]
    fn field_path_flow_style() {
        let text = "spec:\n  faults:\n    - {name: a, schedule: {evry: 1s}}\n";
        assert_eq!(field_path(text, 3, 28), "spec.faults[0].schedule.evry");
    }

    #[test]
    fn field_path_inside_flow_map() {
        let text = "spec:\n  faults:\n    - name: a\n      schedule: {every: 2000, count: 2}\n  target:\n    supervisor:\n      backoff: {initial: 100}\n";
        assert_eq!(field_path(text, 4, 24), "spec.faults[0].schedule.every");
        assert_eq!(
            field_path(text, 7, 25),
            "spec.target.supervisor.backoff.initial"
        );
    }

    #[test]
    fn location_prefix_stripped() {
        assert_eq!(
            strip_location_prefix("error: line 4 column 3: unknown field `x`"),
            "unknown field `x`"
        );
        assert_eq!(strip_location_prefix("something else"), "something else");
        assert_eq!(
            strip_location_prefix("invalid duration `5` at line 17, column 14"),
            "invalid duration `5`"
        );
    }
}
