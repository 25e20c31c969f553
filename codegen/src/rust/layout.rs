//! Line layout of generated items, as rustfmt (1.x, default settings) lays
//! them out, so that the generated code needs no formatter. Each helper
//! covers one shape of item; a test runs `rustfmt --check` on the generated
//! crate.

/// rustfmt's default `max_width`.
const MAX_WIDTH: usize = 100;

/// rustfmt's default `fn_call_width`: the arguments of a call wider than
/// this go one a line.
const FN_CALL_WIDTH: usize = 60;

/// rustfmt's default `array_width`: an array whose items are wider than
/// this together goes one item a line.
const ARRAY_WIDTH: usize = 60;

/// rustfmt's default `short_array_element_width_threshold`: an array whose
/// elements are all at most this wide is packed several to a line when it
/// does not fit on one.
const SHORT_ELEMENT_WIDTH: usize = 10;

/// Returns `text` as a Rust string literal.
pub fn string_literal(text: &str) -> String {
    // `Debug` for `str` writes a valid literal: quotes, backslashes and
    // control characters are escaped.
    format!("{text:?}")
}

fn fits(line: &str) -> bool {
    line.chars().count() <= MAX_WIDTH
}

fn spaces(indent: usize) -> String {
    " ".repeat(indent)
}

/// Lays out `{head} {value};`, such as `pub const NAME: &str = "x";`: on
/// one line, or with the value on the next line when only that fits. A value
/// too long for either stays on the first line, as rustfmt leaves it.
pub fn assignment(indent: usize, head: &str, value: &str) -> String {
    let pad = spaces(indent);
    let one_line = format!("{pad}{head} {value};");
    let next_line = format!("{pad}    {value};");
    if fits(&one_line) || !fits(&next_line) {
        one_line
    } else {
        format!("{pad}{head}\n{next_line}")
    }
}

/// Lays out `{head} &[items];`, an assignment of a slice literal.
pub fn slice_assignment(indent: usize, head: &str, items: &[String]) -> String {
    list_assignment(indent, head, "&[", items)
}

/// Lays out `{head} {open}items];`, where `open` is `[` for an array or
/// `&[` for a slice.
pub fn list_assignment(indent: usize, head: &str, open: &str, items: &[String]) -> String {
    let pad = spaces(indent);
    let inner_list = items.join(", ");
    let joined = format!("{open}{inner_list}]");
    let horizontal = items.len() <= 1 || inner_list.chars().count() <= ARRAY_WIDTH;
    if horizontal {
        let one_line = format!("{pad}{head} {joined};");
        let next_line = format!("{pad}    {joined};");
        if fits(&one_line) || items.is_empty() {
            return one_line;
        }
        if fits(&next_line) || items.len() == 1 {
            return assignment(indent, head, &joined);
        }
    }
    let inner = spaces(indent + 4);
    let mut text = format!("{pad}{head} {open}\n");
    if items
        .iter()
        .all(|item| item.chars().count() <= SHORT_ELEMENT_WIDTH)
    {
        for line in pack(&inner, items) {
            text.push_str(&line);
            text.push('\n');
        }
    } else {
        for item in items {
            text.push_str(&format!("{inner}{item},\n"));
        }
    }
    text.push_str(&format!("{pad}];"));
    text
}

/// Packs short items several to a line, each line ending with a comma.
fn pack(inner: &str, items: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for item in items {
        let candidate = if line.is_empty() {
            format!("{inner}{item},")
        } else {
            format!("{line} {item},")
        };
        if fits(&candidate) || line.is_empty() {
            line = candidate;
        } else {
            lines.push(line);
            line = format!("{inner}{item},");
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Lays out a call statement `{callee}({args});` on one line, or with one
/// argument a line when the line or the arguments are too wide.
pub fn call_statement(indent: usize, callee: &str, args: &[String]) -> String {
    let pad = spaces(indent);
    let joined = args.join(", ");
    let one_line = format!("{pad}{callee}({joined});");
    if fits(&one_line) && joined.chars().count() <= FN_CALL_WIDTH {
        return one_line;
    }
    let inner = spaces(indent + 4);
    let mut text = format!("{pad}{callee}(\n");
    for arg in args {
        text.push_str(&format!("{inner}{arg},\n"));
    }
    text.push_str(&format!("{pad});"));
    text
}

/// Lays out a struct literal's line `{name}: {callee}({args}){suffix},`, or
/// with one argument a line when it does not fit.
pub fn field_call(
    indent: usize,
    name: &str,
    callee: &str,
    args: &[String],
    suffix: &str,
) -> String {
    let pad = spaces(indent);
    let joined = args.join(", ");
    let one_line = format!("{pad}{name}: {callee}({joined}){suffix},");
    if fits(&one_line) && joined.chars().count() <= FN_CALL_WIDTH {
        return one_line;
    }
    let inner = spaces(indent + 4);
    let mut text = format!("{pad}{name}: {callee}(\n");
    for arg in args {
        text.push_str(&format!("{inner}{arg},\n"));
    }
    text.push_str(&format!("{pad}){suffix},"));
    text
}

/// Lays out the signature line of a method `{prefix}({params}) -> {output} {`
/// on one line, or with one parameter a line.
pub fn signature(indent: usize, prefix: &str, params: &[String], output: &str) -> String {
    let pad = spaces(indent);
    let one_line = format!("{pad}{prefix}({}) -> {output} {{", params.join(", "));
    if fits(&one_line) {
        return one_line;
    }
    let inner = spaces(indent + 4);
    let mut text = format!("{pad}{prefix}(\n");
    for param in params {
        text.push_str(&format!("{inner}{param},\n"));
    }
    text.push_str(&format!("{pad}) -> {output} {{"));
    text
}

/// Lays out an attribute `#[{path}({args})]`, one argument a line when it
/// does not fit. The last argument of the broken form takes no comma, as
/// rustfmt writes it.
pub fn attribute(indent: usize, path: &str, args: &[String]) -> String {
    let pad = spaces(indent);
    let one_line = format!("{pad}#[{path}({})]", args.join(", "));
    if fits(&one_line) {
        return one_line;
    }
    let inner = spaces(indent + 4);
    let body: Vec<String> = args.iter().map(|arg| format!("{inner}{arg}")).collect();
    format!("{pad}#[{path}(\n{}\n{pad})]", body.join(",\n"))
}

/// Lays out the lines of a struct literal's body, each `{indent}{name}:
/// {value},`. A value `Call(argument)` too wide for its line gets the
/// argument on a line of its own. When even that line is too wide, rustfmt
/// leaves the whole item as written, so every line stays unbroken.
pub fn struct_fields(indent: usize, fields: &[(&str, String)]) -> Vec<String> {
    let pad = spaces(indent);
    let inner = spaces(indent + 4);
    let unbroken: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("{pad}{name}: {value},"))
        .collect();
    let mut broken = Vec::new();
    for ((name, value), line) in fields.iter().zip(&unbroken) {
        if fits(line) {
            broken.push(line.clone());
            continue;
        }
        let call = value.split_once('(').filter(|(callee, rest)| {
            !callee.is_empty() && !callee.contains('"') && rest.ends_with(')')
        });
        let Some((callee, rest)) = call else {
            return unbroken;
        };
        let argument = format!("{inner}{},", &rest[..rest.len() - 1]);
        if !fits(&argument) {
            return unbroken;
        }
        broken.push(format!("{pad}{name}: {callee}(\n{argument}\n{pad}),"));
    }
    broken
}

/// Returns `text` as `///` lines. Lines are trimmed, so indented text does
/// not become a code block; blank lines stay as paragraph breaks, and runs
/// of them collapse into one. Other control characters, such as a lone CR
/// that Rust refuses in a doc comment, are written as escapes.
pub fn doc_comment(indent: usize, text: &str) -> Vec<String> {
    let pad = spaces(indent);
    let mut lines: Vec<String> = Vec::new();
    for line in text.trim().lines() {
        let line = latchkey_catalog::escape_controls(line.trim());
        let line = line.trim();
        if line.is_empty() {
            if lines.last().is_some_and(|last| last.ends_with("///")) {
                continue;
            }
            lines.push(format!("{pad}///"));
        } else {
            lines.push(format!("{pad}/// {line}"));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_comment_escapes_control_characters() {
        let lines = doc_comment(0, "Title.\r#![doc = \"x\"]\u{2028}end");
        assert_eq!(lines, ["/// Title.\\r#![doc = \"x\"]\\u{2028}end"]);
    }

    #[test]
    fn assignment_breaks_after_equals() {
        let short = assignment(0, "pub const A: &str =", "\"x\"");
        assert_eq!(short, "pub const A: &str = \"x\";");
        let value = format!("\"{}\"", "x".repeat(80));
        let long = assignment(0, "pub const BASE_URL_TEMPLATE: &str =", &value);
        assert_eq!(
            long,
            format!("pub const BASE_URL_TEMPLATE: &str =\n    {value};")
        );
        let too_long = format!("\"{}\"", "x".repeat(100));
        let kept = assignment(0, "pub const A: &str =", &too_long);
        assert_eq!(kept, format!("pub const A: &str = {too_long};"));
    }

    #[test]
    fn slice_assignment_layouts() {
        let head = "pub const CATEGORIES: &[&str] =";
        let items = |names: &[&str]| names.iter().map(|n| string_literal(n)).collect::<Vec<_>>();
        assert_eq!(
            slice_assignment(0, head, &[]),
            "pub const CATEGORIES: &[&str] = &[];"
        );
        let long: Vec<&str> = vec!["productivity-and-more"; 5];
        let vertical = slice_assignment(0, head, &items(&long));
        assert!(vertical.starts_with("pub const CATEGORIES: &[&str] = &[\n    \"productivity"));
        assert!(vertical.ends_with(",\n];"));
        let short: Vec<&str> = vec!["crm"; 20];
        let packed = slice_assignment(0, head, &items(&short));
        let lines: Vec<&str> = packed.lines().collect();
        assert_eq!(lines.len(), 4, "{packed}");
        assert_eq!(
            lines[2],
            "    \"crm\", \"crm\", \"crm\", \"crm\", \"crm\", \"crm\", \"crm\","
        );
    }

    #[test]
    fn field_call_breaks_arguments() {
        let args = ["&mut values".to_owned(), "&FIELD_12".to_owned()];
        let short = field_call(12, "domain", "config::take", &args, "?");
        assert_eq!(
            short,
            "            domain: config::take(&mut values, &FIELD_12)?,"
        );
        // rustfmt 1.9 lays out this struct literal field this way.
        let name = "a_very_long_field_name_that_goes_on_and_on_and_on_for_quite_some_while_yes";
        let long = field_call(8, name, "config::take", &args, "?");
        let expected = format!(
            "        {name}: config::take(\n            &mut values,\n            &FIELD_12,\n        )?,"
        );
        assert_eq!(long, expected);
    }

    #[test]
    fn doc_comment_trims_lines() {
        let lines = doc_comment(4, "First.\n\n\n    indented\n");
        assert_eq!(lines, ["    /// First.", "    ///", "    /// indented"]);
    }
}
