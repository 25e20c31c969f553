//! Source positions of YAML nodes, keyed by JSON pointer.
//!
//! serde_yaml does not keep where a value came from, so a schema error that names
//! `/auth/token_url` needs a second pass over the source. yaml-rust2's event
//! parser reports a marker for every scalar and collection start; this module
//! replays those events into a map from JSON pointer to positions.
//!
//! Building that map costs about as much as parsing the file, and only a file
//! with a problem needs it. So loading runs [`scan`] on every file, which
//! parses the same way but only looks for repeated keys, and builds the map
//! through [`LazyPositionIndex`] when a diagnostic needs a place.

use std::cell::OnceCell;
use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::ScanError;

/// A place in the source: 1-based line and column plus the width to underline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub line: usize,
    pub column: usize,
    pub width: usize,
}

/// Positions of one node: its value and, inside a mapping, its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodePosition {
    pub key: Option<Span>,
    pub value: Span,
}

/// Map from JSON pointer (`""` for the root, `/auth/token_url`, `/a/0`) to positions.
#[derive(Debug, Default)]
pub(crate) struct PositionIndex {
    nodes: HashMap<String, NodePosition>,
    duplicates: Vec<DuplicateKey>,
}

/// A mapping key that appears twice; serde would silently keep the last value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DuplicateKey {
    pub pointer: String,
    pub first: Span,
    pub repeated: Span,
}

impl PositionIndex {
    /// Parses `source` with yaml-rust2 and records every node's position.
    pub fn build(source: &str) -> Result<PositionIndex, ScanError> {
        let mut recorder = Recorder::default();
        Parser::new_from_str(source).load(&mut recorder, false)?;
        let mut nodes = recorder.nodes;
        point_root_at_first_key(&mut nodes);
        Ok(PositionIndex {
            nodes,
            duplicates: recorder.duplicates,
        })
    }

    pub fn duplicates(&self) -> &[DuplicateKey] {
        &self.duplicates
    }

    pub fn get(&self, pointer: &str) -> Option<NodePosition> {
        self.nodes.get(pointer).copied()
    }

    /// Returns the key's span when the node is a mapping entry, else the value's span.
    pub fn key_or_value(&self, pointer: &str) -> Option<Span> {
        self.get(pointer).map(|node| node.key.unwrap_or(node.value))
    }

    /// Returns the span of the node at `pointer`, or of its nearest recorded ancestor.
    pub fn nearest_value(&self, pointer: &str) -> Option<Span> {
        let mut current = pointer;
        loop {
            if let Some(node) = self.get(current) {
                return Some(node.value);
            }
            let cut = current.rfind('/')?;
            current = &current[..cut];
        }
    }
}

/// Access to the positions of one source, for the loading steps that place
/// diagnostics. An alias file passes its [`PositionIndex`] itself, and an
/// ordinary file a [`LazyPositionIndex`].
pub(crate) trait Positions {
    /// Returns the index, building it first if needed.
    fn index(&self) -> &PositionIndex;

    /// Reports whether `index().duplicates()` can be non-empty. A caller that
    /// gets false skips building the index for the duplicate-key check.
    fn may_have_duplicates(&self) -> bool;
}

impl Positions for PositionIndex {
    fn index(&self) -> &PositionIndex {
        self
    }

    fn may_have_duplicates(&self) -> bool {
        !self.duplicates.is_empty()
    }
}

/// A [`PositionIndex`] of a source that [`scan`] accepted, built on first use.
pub(crate) struct LazyPositionIndex<'s> {
    source: &'s str,
    scan: Scan,
    index: OnceCell<PositionIndex>,
}

impl<'s> LazyPositionIndex<'s> {
    pub fn new(source: &'s str, scan: Scan) -> LazyPositionIndex<'s> {
        LazyPositionIndex {
            source,
            scan,
            index: OnceCell::new(),
        }
    }
}

impl Positions for LazyPositionIndex<'_> {
    fn index(&self) -> &PositionIndex {
        // `scan` accepted the source with the same parser, so the build
        // succeeds too. Were it to fail, diagnostics would lose their places
        // rather than the load panicking.
        self.index
            .get_or_init(|| PositionIndex::build(self.source).unwrap_or_default())
    }

    fn may_have_duplicates(&self) -> bool {
        self.scan.may_have_duplicates
    }
}

/// The outcome of [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// False when [`PositionIndex::build`] would find no duplicate key. True
    /// when a mapping repeats a key, and also for any mapping key that is a
    /// collection, whose children the index records under one shared pointer.
    pub may_have_duplicates: bool,
}

/// Parses `source` with yaml-rust2 as [`PositionIndex::build`] does, with
/// the same result for syntax errors, but records only whether a mapping
/// may repeat a key.
pub(crate) fn scan(source: &str) -> Result<Scan, ScanError> {
    let mut scanner = DuplicateScanner::default();
    Parser::new_from_str(source).load(&mut scanner, false)?;
    Ok(Scan {
        may_have_duplicates: scanner.may_have_duplicates,
    })
}

enum ScanFrame {
    /// The keys seen so far, and whether the next node is a key.
    Mapping {
        keys: Vec<String>,
        expects_key: bool,
    },
    Sequence,
}

#[derive(Default)]
struct DuplicateScanner {
    stack: Vec<ScanFrame>,
    may_have_duplicates: bool,
}

impl DuplicateScanner {
    /// Takes the next node slot of the current container. `key_text` is the
    /// text the [`Recorder`] gives the node as a key: a scalar's text, an
    /// alias's empty name, or `None` for a collection.
    fn place_node(&mut self, key_text: Option<String>) {
        let Some(ScanFrame::Mapping { keys, expects_key }) = self.stack.last_mut() else {
            return;
        };
        if *expects_key {
            match key_text {
                Some(text) if !keys.contains(&text) => keys.push(text),
                _ => self.may_have_duplicates = true,
            }
        }
        *expects_key = !*expects_key;
    }
}

impl MarkedEventReceiver for DuplicateScanner {
    fn on_event(&mut self, event: Event, _marker: Marker) {
        match event {
            Event::Scalar(text, ..) => self.place_node(Some(text)),
            Event::Alias(_) => self.place_node(Some(String::new())),
            Event::MappingStart(..) => {
                self.place_node(None);
                self.stack.push(ScanFrame::Mapping {
                    keys: Vec::new(),
                    expects_key: true,
                });
            }
            Event::SequenceStart(..) => {
                self.place_node(None);
                self.stack.push(ScanFrame::Sequence);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

/// Moves the root mapping's span to its first key. yaml-rust2 0.10 puts the
/// marker of a block mapping after its first key (for `name: x` at column
/// 5), so a problem about the whole document, such as a missing top-level
/// field, would otherwise point into the first value.
fn point_root_at_first_key(nodes: &mut HashMap<String, NodePosition>) {
    let first_key = nodes
        .iter()
        .filter(|(pointer, _)| pointer.matches('/').count() == 1)
        .filter_map(|(_, node)| node.key)
        .min_by_key(|span| (span.line, span.column));
    if let (Some(first_key), Some(root)) = (first_key, nodes.get_mut("")) {
        root.value = first_key;
    }
}

/// Converts a yaml-rust2 marker (1-based line, 0-based column) into a span.
pub(crate) fn span_at(marker: &Marker, width: usize) -> Span {
    Span {
        line: marker.line(),
        column: marker.col() + 1,
        width: width.max(1),
    }
}

enum Frame {
    Mapping {
        pointer: String,
        pending_key: Option<(String, Span)>,
    },
    Sequence {
        pointer: String,
        next_index: usize,
    },
}

#[derive(Default)]
struct Recorder {
    stack: Vec<Frame>,
    nodes: HashMap<String, NodePosition>,
    duplicates: Vec<DuplicateKey>,
}

impl Recorder {
    fn record(&mut self, pointer: String, position: NodePosition) {
        if let (Some(repeated), Some(earlier)) = (position.key, self.nodes.get(&pointer)) {
            if let Some(first) = earlier.key {
                self.duplicates.push(DuplicateKey {
                    pointer: pointer.clone(),
                    first,
                    repeated,
                });
                // Keep the first position so that a third copy is reported
                // against the first as well.
                return;
            }
        }
        self.nodes.insert(pointer, position);
    }

    /// Claims the next node slot in the current container. Returns `None` when
    /// the node is a mapping key, which is stored until its value arrives.
    fn place_node(&mut self, key_text: Option<&str>, span: Span) -> Option<(String, Option<Span>)> {
        match self.stack.last_mut() {
            None => Some((String::new(), None)),
            Some(Frame::Sequence {
                pointer,
                next_index,
            }) => {
                let child = format!("{pointer}/{next_index}");
                *next_index += 1;
                Some((child, None))
            }
            Some(Frame::Mapping {
                pointer,
                pending_key,
            }) => match pending_key.take() {
                Some((key, key_span)) => Some((
                    format!("{pointer}/{}", escape_pointer(&key)),
                    Some(key_span),
                )),
                None => {
                    // A complex (non-scalar) key has no text; record it under an
                    // empty name so that its value still takes the next slot.
                    *pending_key = Some((key_text.unwrap_or_default().to_owned(), span));
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        match event {
            Event::Scalar(text, style, _, _) => {
                let width = scalar_width(&text, style);
                let span = span_at(&marker, width);
                if let Some((pointer, key)) = self.place_node(Some(&text), span) {
                    self.record(pointer, NodePosition { key, value: span });
                }
            }
            Event::Alias(_) => {
                let span = span_at(&marker, 1);
                if let Some((pointer, key)) = self.place_node(Some(""), span) {
                    self.record(pointer, NodePosition { key, value: span });
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let span = span_at(&marker, 1);
                let pointer = match self.place_node(None, span) {
                    Some((pointer, key)) => {
                        self.record(pointer.clone(), NodePosition { key, value: span });
                        pointer
                    }
                    // A collection used as a mapping key: its children get
                    // positions under a pointer no JSON value can have.
                    None => "\u{0}complex-key".to_owned(),
                };
                let frame = if matches!(event, Event::MappingStart(..)) {
                    Frame::Mapping {
                        pointer,
                        pending_key: None,
                    }
                } else {
                    Frame::Sequence {
                        pointer,
                        next_index: 0,
                    }
                };
                self.stack.push(frame);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

/// Estimates the width of a scalar in the source from its event: quotes add
/// two characters, and block scalars are underlined by their indicator only.
fn scalar_width(text: &str, style: TScalarStyle) -> usize {
    let chars = text.lines().next().unwrap_or_default().chars().count();
    match style {
        TScalarStyle::Plain => chars,
        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => chars + 2,
        TScalarStyle::Literal | TScalarStyle::Folded => 1,
    }
}

/// Escapes one JSON pointer segment (RFC 6901).
pub(crate) fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The deepest nesting of flow collections that [`flow_nesting_too_deep`]
/// lets through, which is serde_yaml 0.9's limit for any nesting. serde_yaml
/// applies its limit only after libyaml has read the whole file. libyaml
/// takes time quadratic in the depth of flow collections: `latchkey catalog
/// validate` took 8.5 s for a file 32,000 levels deep (release build, 2-core
/// AMD EPYC).
pub(crate) const MAX_FLOW_DEPTH: usize = 128;

/// Finds the bracket that opens a flow collection (`[` or `{`) more than
/// [`MAX_FLOW_DEPTH`] levels deep, in time linear in the source.
///
/// Brackets inside quoted scalars and comments do not count. A bracket in a
/// plain scalar does, such as `[` in `pattern: a[b`. So a plain value that
/// YAML reads as text is rejected here if it opens more than 128 brackets
/// that it does not close.
pub(crate) fn flow_nesting_too_deep(source: &str) -> Option<Span> {
    #[derive(PartialEq)]
    enum State {
        Plain,
        SingleQuoted,
        DoubleQuoted,
        Comment,
    }
    let mut state = State::Plain;
    let mut depth = 0usize;
    let mut line = 1;
    let mut column = 0;
    // Whether the previous character lets a quote or `#` start a token.
    let mut at_token_start = true;
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
            if state == State::Comment {
                state = State::Plain;
            }
            at_token_start = true;
            continue;
        }
        match state {
            State::Comment => {}
            State::SingleQuoted => {
                if c == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                        column += 1;
                    } else {
                        state = State::Plain;
                    }
                }
            }
            State::DoubleQuoted => match c {
                // An escape skips the next character, unless it ends the line.
                '\\' if chars.next_if(|next| *next != '\n').is_some() => column += 1,
                '"' => state = State::Plain,
                _ => {}
            },
            State::Plain => match c {
                '\'' if at_token_start => state = State::SingleQuoted,
                '"' if at_token_start => state = State::DoubleQuoted,
                '#' if at_token_start => state = State::Comment,
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some(Span {
                            line,
                            column,
                            width: 1,
                        });
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        at_token_start = matches!(c, ' ' | '\t' | '[' | '{' | ',' | ':' | '-' | '?');
    }
    None
}

/// Returns the position of the start of the second document in `source`,
/// or `None` when yaml-rust2 finds fewer than two or fails to parse the
/// file before the second.
pub(crate) fn second_document_start(source: &str) -> Option<Span> {
    let mut parser = Parser::new_from_str(source);
    let mut starts = 0;
    loop {
        match parser.next_token().ok()? {
            (Event::DocumentStart, marker) => {
                starts += 1;
                if starts == 2 {
                    return Some(span_at(&marker, 3));
                }
            }
            (Event::StreamEnd, _) => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_records_keys_values_and_items() {
        let source =
            "name: demo\nauth:\n  mode: oauth2\n  default_scopes:\n    - read\n    - 'write'\n";
        let index = PositionIndex::build(source).unwrap();

        let name = index.get("/name").unwrap();
        assert_eq!(
            name.key,
            Some(Span {
                line: 1,
                column: 1,
                width: 4
            })
        );
        assert_eq!(
            name.value,
            Span {
                line: 1,
                column: 7,
                width: 4
            }
        );

        let mode = index.get("/auth/mode").unwrap();
        assert_eq!(
            mode.key,
            Some(Span {
                line: 3,
                column: 3,
                width: 4
            })
        );

        let second_scope = index.get("/auth/default_scopes/1").unwrap();
        assert_eq!(second_scope.key, None);
        assert_eq!(
            second_scope.value,
            Span {
                line: 6,
                column: 7,
                width: 7
            }
        );
    }

    #[test]
    fn nearest_value_falls_back_to_ancestor() {
        let index = PositionIndex::build("auth:\n  mode: basic\n").unwrap();
        let span = index.nearest_value("/auth/inject/name").unwrap();
        assert_eq!(span.line, 2);
    }

    #[test]
    fn root_points_at_first_key() {
        let index = PositionIndex::build("# comment\nname: x\nauth: {}\n").unwrap();
        let root = index.get("").unwrap();
        assert_eq!(
            root.value,
            Span {
                line: 2,
                column: 1,
                width: 4
            }
        );
    }

    #[test]
    fn flow_nesting_limit_is_exact() {
        let nested = |depth: usize| format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(flow_nesting_too_deep(&nested(MAX_FLOW_DEPTH)), None);
        let too_deep = flow_nesting_too_deep(&nested(MAX_FLOW_DEPTH + 1));
        let expected = Span {
            line: 1,
            column: 4 + MAX_FLOW_DEPTH,
            width: 1,
        };
        assert_eq!(too_deep, Some(expected));
        // Closed collections in turn never nest.
        assert_eq!(flow_nesting_too_deep(&"a: [[]]\n".repeat(1000)), None);
    }

    #[test]
    fn scan_agrees_with_index_on_duplicates() {
        // (source, whether the index finds a duplicate)
        #[rustfmt::skip]
        let cases = [
            ("a: 1\nb: 2\n", false),
            ("a: 1\na: 2\n", true),
            ("a: {x: 1}\nb: {x: 1}\n", false),
            ("a: {x: 1, x: 2}\n", true),
            ("a:\n  - x: 1\n  - x: 1\n", false),
            ("a:\n  - {x: 1, x: 2}\n", true),
            ("a: [1, 1]\n", false),
            ("a: &v 1\nb: *v\n", false),
            ("a: 1\n? [x]\n: 2\n? [y]\n: 3\n", true),
            ("a: x\nb: a\n", false),
        ];

        for (source, duplicated) in cases {
            let index = PositionIndex::build(source).unwrap();
            let scan = scan(source).unwrap();

            assert_eq!(
                !index.duplicates().is_empty(),
                duplicated,
                "index: {source:?}"
            );
            if duplicated {
                assert!(scan.may_have_duplicates, "scan: {source:?}");
            } else {
                assert!(!scan.may_have_duplicates, "scan: {source:?}");
            }
        }
    }

    #[test]
    fn scan_rejects_what_index_rejects() {
        let source = "a: 1\n  b: 2\n";
        let from_index = PositionIndex::build(source).unwrap_err();
        let from_scan = scan(source).unwrap_err();

        assert_eq!(from_scan.info(), from_index.info());
        assert_eq!(from_scan.marker(), from_index.marker());
    }

    #[test]
    fn lazy_index_builds_on_first_use() {
        let source = "name: demo\n";
        let lazy = LazyPositionIndex::new(source, scan(source).unwrap());

        assert!(lazy.index.get().is_none());
        assert!(lazy.index().get("/name").is_some());
    }

    #[test]
    fn pointer_segments_are_escaped() {
        let index = PositionIndex::build("headers:\n  a/b: x\n").unwrap();
        assert!(index.get("/headers/a~1b").is_some());
    }
}
