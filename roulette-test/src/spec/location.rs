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

/// An open flow collection on one line: the key written before its opener
/// and, for a sequence, the index of the item reached so far.
struct Open {
    key: Option<String>,
    item: Option<usize>,
}

/// Finds the path components on one line that lead to `column_byte`: the
/// key before each flow collection (`{...}` or `[...]`) still open there,
/// the item index in each open sequence, then the last key at or before
/// the column. In `schedule: {every: 5}` the value `5` gives
/// `[schedule, every]`; in `faults: [{}, {signal: X}]` the value `X` gives
/// `[faults, [1], signal]`.
fn inline_path(line: &str, column_byte: usize) -> Vec<String> {
    let key_regex =
        Regex::new(r"^([A-Za-z_][A-Za-z0-9_-]*)\s*:(\s|$|[,\]}])").expect("static regex");
    // The block-level line itself is the outermost collection.
    let mut open = vec![Open {
        key: None,
        item: None,
    }];
    let mut in_quotes = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices().take_while(|(at, _)| *at <= column_byte) {
        let starts_word = !(previous.is_ascii_alphanumeric() || previous == '_' || previous == '-');
        if in_quotes.is_none()
            && starts_word
            && let Some(key) = key_regex.captures(&line[at..]).and_then(|c| c.get(1))
        {
            open.last_mut().expect("the line is always open").key = Some(key.as_str().to_owned());
        }
        // The character at the column is the start of the value in error.
        if at == column_byte {
            break;
        }
        match (in_quotes, c) {
            (Some(quote), _) if c == quote => in_quotes = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => in_quotes = Some(c),
            (None, '#') if previous == ' ' => break,
            (None, '{') => open.push(Open {
                key: None,
                item: None,
            }),
            (None, '[') => open.push(Open {
                key: None,
                item: Some(0),
            }),
            (None, '}' | ']') if open.len() > 1 => {
                open.pop();
            }
            (None, ',') => {
                let innermost = open.last_mut().expect("the line is always open");
                if let Some(item) = innermost.item.as_mut() {
                    *item += 1;
                }
            }
            _ => {}
        }
        previous = c;
    }

    let mut path = Vec::new();
    for collection in open {
        if let Some(item) = collection.item {
            path.push(format!("[{item}]"));
        }
        path.extend(collection.key);
    }
    path
}

/// Finds the dotted path of the field at `line`:`column` (both 1-based) in
/// YAML, such as `spec.faults[1].grace`, in block and flow style alike.
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

/// A flow collection opener (`[` or `{`) that is never closed.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Unclosed {
    /// 1-based line.
    pub line: u64,
    /// 1-based column, counted in characters.
    pub column: u64,
    pub opener: char,
}

impl Unclosed {
    pub(super) fn closer(&self) -> char {
        if self.opener == '[' { ']' } else { '}' }
    }
}

/// Finds the first flow collection opened before `line`:`column` that is
/// not closed anywhere in `text`. A YAML parser notices a missing `]` or
/// `}` only where the text stops making sense, often lines later.
///
/// Quoted scalars, comments and block scalars (`|`, `>`) are skipped; a
/// `[` or `{` inside a plain scalar, as in `process: worker[0-9]`, opens
/// nothing.
pub(super) fn unclosed_flow(text: &str, line: usize, column: usize) -> Option<Unclosed> {
    let mut open: Vec<Unclosed> = Vec::new();
    let mut in_quotes: Option<char> = None;
    // The indent of the line that started a block scalar.
    let mut block_scalar: Option<usize> = None;
    for (index, source_line) in text.lines().enumerate() {
        let indent = source_line.len() - source_line.trim_start_matches(' ').len();
        if let Some(parent) = block_scalar {
            if source_line.trim().is_empty() || indent > parent {
                continue;
            }
            block_scalar = None;
        }
        // Where a scalar may start: after `:`, `-`, `?`, `,`, an opener, or
        // at the start of the line.
        let mut value_start = true;
        let mut previous = ' ';
        let mut chars = source_line.chars().enumerate().peekable();
        while let Some((char_index, c)) = chars.next() {
            if let Some(quote) = in_quotes {
                match c {
                    '\\' if quote == '"' => {
                        chars.next();
                    }
                    '\'' if quote == '\'' && chars.peek().map(|(_, n)| *n) == Some('\'') => {
                        chars.next();
                    }
                    _ if c == quote => in_quotes = None,
                    _ => {}
                }
                previous = c;
                continue;
            }
            match c {
                '#' if previous == ' ' => break,
                '"' | '\'' if value_start => in_quotes = Some(c),
                '[' | '{' if value_start || !open.is_empty() => open.push(Unclosed {
                    line: index as u64 + 1,
                    column: char_index as u64 + 1,
                    opener: c,
                }),
                ']' | '}' if open.last().is_some_and(|o| o.closer() == c) => {
                    open.pop();
                }
                '|' | '>' if value_start && open.is_empty() => {
                    block_scalar = Some(indent);
                    break;
                }
                _ => {}
            }
            if c != ' ' {
                value_start = matches!(c, ':' | '-' | '?' | ',' | '[' | '{');
            }
            previous = c;
        }
    }
    open.into_iter()
        .find(|o| (o.line as usize, o.column as usize) < (line, column))
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
    fn field_path_in_flow_sequences() {
        let text = "spec:\n  faults: [{name: k, signal: SIGKIL}, {name: j, sgnal: X}]\n  target:\n    args: [100, {a: 1}]\n";
        assert_eq!(field_path(text, 2, 36), "spec.faults[0].signal");
        assert_eq!(field_path(text, 2, 54), "spec.faults[1].sgnal");
        assert_eq!(field_path(text, 4, 17), "spec.target.args[1]");
        assert_eq!(field_path(text, 4, 11), "spec.target.args");
    }

    #[test]
    fn field_path_skips_colons_in_values() {
        let text = "ready: {http: {url: \"http://127.0.0.1:1/\"}, timeout: 5}\n";
        assert_eq!(field_path(text, 1, 55), "ready.timeout");
        let text = "ready: {http: {url: http://127.0.0.1:1/}, tmeout: 5}\n";
        assert_eq!(field_path(text, 1, 43), "ready.tmeout");
    }

    #[test]
    fn unclosed_flow_found_before_error() {
        let text = "spec:\n  target:\n    args: [\"100\"\n    ready:\n      log: x\n  faults: [{a: [1]}]\n";
        assert_eq!(
            unclosed_flow(text, 4, 10),
            Some(Unclosed {
                line: 3,
                column: 11,
                opener: '[',
            })
        );
        // An error before the bracket is not caused by it.
        assert_eq!(unclosed_flow(text, 2, 3), None);
    }

    #[test]
    fn closed_flow_over_several_lines_is_not_unclosed() {
        let text = "args: [\n  a,\n  b,\n]\nmap: {\n  k: v }\n";
        assert_eq!(unclosed_flow(text, 6, 1), None);
    }

    #[test]
    fn brackets_outside_flow_syntax_ignored() {
        let text = concat!(
            "process: worker[0-9\n",
            "log: \"ready [\"\n",
            "name: it's [ not\n",
            "quote: 'it''s ['\n",
            "# a comment [\n",
            "script: |\n",
            "  if [ -f x; then\n",
            "    {\n",
            "end: 1\n",
        );
        assert_eq!(unclosed_flow(text, 9, 6), None);
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
