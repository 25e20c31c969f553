//! HTML forms read and submitted the way a browser without JavaScript does.
//! A GET submission replaces the action's query with the form data. A POST
//! submission sends the form data as a form-encoded body to the action URL.
//!
//! NOTE: this is a tag scanner for the small pages Latchkey renders, not an
//! HTML parser. It reads `<form>`, `<input>`, `<button>` and `<label>` tags
//! and skips comments and `<script>` elements. It does not read `<select>`
//! or `<textarea>`, and it assumes forms are not nested.

use std::collections::BTreeMap;

use url::Url;

use super::latchkey::{no_redirect_client, Reply};

/// One start tag: its lowercase name, its attributes (lowercase names,
/// entity-decoded values, `None` for a boolean attribute) and its byte
/// range in the page.
#[derive(Clone, Debug)]
pub struct Tag {
    pub name: String,
    pub attributes: BTreeMap<String, Option<String>>,
    start: usize,
    end: usize,
}

impl Tag {
    /// Returns the value of an attribute; an attribute written without a
    /// value returns `Some("")`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .get(name)
            .map(|value| value.as_deref().unwrap_or(""))
    }

    pub fn has(&self, name: &str) -> bool {
        self.attributes.contains_key(name)
    }
}

/// A `<form>` element with its controls.
#[derive(Clone, Debug)]
pub struct Form {
    pub tag: Tag,
    /// The `<input>` and `<textarea>` start tags.
    pub inputs: Vec<Tag>,
    pub buttons: Vec<Tag>,
    /// The markup between `<form ...>` and `</form>`.
    pub inner_html: String,
    /// The text between the tags, entity-decoded, with each tag replaced by
    /// a space.
    pub text: String,
}

impl Form {
    /// Returns the form's `method` in lowercase, or `get` when it is absent,
    /// as in HTML.
    pub fn method(&self) -> String {
        self.tag
            .attr("method")
            .unwrap_or("get")
            .to_ascii_lowercase()
    }

    pub fn action(&self) -> Option<&str> {
        self.tag.attr("action")
    }

    pub fn input(&self, name: &str) -> Option<&Tag> {
        self.inputs.iter().find(|i| i.attr("name") == Some(name))
    }

    pub fn input_names(&self) -> Vec<String> {
        self.inputs
            .iter()
            .filter_map(|i| i.attr("name"))
            .map(str::to_owned)
            .collect()
    }

    /// Returns the `<label>` text for the input named `name`: the label
    /// whose `for` is the input's `id`, or the label that wraps the input.
    pub fn label_of(&self, name: &str) -> Option<String> {
        let input = self.input(name)?;
        let labels = scan_tags(&self.inner_html)
            .into_iter()
            .filter(|tag| tag.name == "label");
        for label in labels {
            let Some(close) = self.inner_html[label.end..].find("</label>") else {
                continue;
            };
            let body = &self.inner_html[label.end..label.end + close];
            let by_id = input.attr("id").is_some() && label.attr("for") == input.attr("id");
            let wraps = body.contains(&format!("name=\"{name}\""));
            if by_id || wraps {
                return Some(collapse_whitespace(&text_of(body)));
            }
        }
        None
    }

    /// Builds the form data set a browser submits: every named input that is
    /// not a button, in document order, with the value the user typed from
    /// `typed` or else the input's `value` attribute (empty when absent).
    pub fn data(&self, typed: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut data = Vec::new();
        for input in &self.inputs {
            let kind = input.attr("type").unwrap_or("text").to_ascii_lowercase();
            if matches!(kind.as_str(), "submit" | "button" | "reset" | "image") {
                continue;
            }
            let Some(name) = input.attr("name") else {
                continue;
            };
            let value = typed
                .iter()
                .find(|(typed_name, _)| *typed_name == name)
                .map(|(_, value)| (*value).to_owned())
                .unwrap_or_else(|| input.attr("value").unwrap_or("").to_owned());
            data.push((name.to_owned(), value));
        }
        data
    }

    /// Submits the form as a browser would, with the values of `typed` in
    /// the inputs of the same names, and returns the reply without following
    /// a redirect. `page_url` resolves a relative action.
    pub async fn submit(&self, page_url: &Url, typed: &[(&str, &str)]) -> Reply {
        let action = page_url
            .join(self.action().unwrap_or(""))
            .unwrap_or_else(|e| panic!("form action {:?} is not a URL: {e}", self.action()));
        let data = self.data(typed);
        let client = no_redirect_client();
        let response = if self.method() == "post" {
            client.post(action).form(&data).send().await
        } else {
            let mut url = action;
            url.set_fragment(None);
            url.set_query(None);
            url.query_pairs_mut().extend_pairs(&data);
            client.get(url).send().await
        };
        Reply::read(response.expect("submit the form")).await
    }
}

/// Returns every `<form>` of `html`.
pub fn forms(html: &str) -> Vec<Form> {
    let tags = scan_tags(html);
    let mut forms = Vec::new();
    for (index, tag) in tags.iter().enumerate() {
        if tag.name != "form" {
            continue;
        }
        let inner_end = html[tag.end..]
            .find("</form>")
            .map(|offset| tag.end + offset)
            .unwrap_or(html.len());
        let inner_html = html[tag.end..inner_end].to_owned();
        let controls = || {
            tags[index + 1..]
                .iter()
                .take_while(|t| t.start < inner_end)
                .cloned()
        };
        forms.push(Form {
            tag: tag.clone(),
            inputs: controls()
                .filter(|t| t.name == "input" || t.name == "textarea")
                .collect(),
            buttons: controls().filter(|t| t.name == "button").collect(),
            text: text_of(&inner_html),
            inner_html,
        });
    }
    forms
}

/// Returns the form whose `data-integration` attribute is `unique_key`.
pub fn form_for(html: &str, unique_key: &str) -> Option<Form> {
    forms(html)
        .into_iter()
        .find(|form| form.tag.attr("data-integration") == Some(unique_key))
}

/// Scans the start tags of `html`, skipping comments, end tags, doctype and
/// the content of `<script>` and `<style>` elements.
pub fn scan_tags(html: &str) -> Vec<Tag> {
    let bytes = html.as_bytes();
    let mut tags = Vec::new();
    let mut position = 0;
    while let Some(offset) = html[position..].find('<') {
        let start = position + offset;
        if html[start..].starts_with("<!--") {
            position = html[start..]
                .find("-->")
                .map_or(html.len(), |end| start + end + 3);
            continue;
        }
        let next = bytes.get(start + 1).copied().unwrap_or(b' ');
        if !next.is_ascii_alphabetic() {
            position = start + 1;
            continue;
        }
        let (tag, end) = parse_start_tag(html, start);
        position = end;
        if tag.name == "script" || tag.name == "style" {
            let close = format!("</{}", tag.name);
            position = html[end..]
                .to_ascii_lowercase()
                .find(&close)
                .map_or(html.len(), |offset| end + offset);
        }
        tags.push(tag);
    }
    tags
}

/// Parses the start tag whose `<` is at byte `start` and returns it with the
/// byte offset just after its `>`.
fn parse_start_tag(html: &str, start: usize) -> (Tag, usize) {
    let bytes = html.as_bytes();
    let mut i = start + 1;
    let name_start = i;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' && bytes[i] != b'/'
    {
        i += 1;
    }
    let name = html[name_start..i].to_ascii_lowercase();
    let mut attributes = BTreeMap::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'>' {
            break;
        }
        let attr_start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        let attr_name = html[attr_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let value = if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let quote = bytes[i] as char;
                let value_start = i + 1;
                let value_end = html[value_start..]
                    .find(quote)
                    .map_or(html.len(), |offset| value_start + offset);
                i = (value_end + 1).min(html.len());
                &html[value_start..value_end]
            } else {
                let value_start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                &html[value_start..i]
            };
            attributes.insert(attr_name, Some(decode_entities(value)));
        } else {
            attributes.insert(attr_name, None);
        }
    }
    let end = (i + 1).min(html.len());
    (
        Tag {
            name,
            attributes,
            start,
            end,
        },
        end,
    )
}

/// Returns the text of a markup fragment: tags replaced by spaces,
/// entities decoded.
pub fn text_of(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    decode_entities(&text)
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Decodes the named entities Latchkey's escaping writes and numeric
/// character references.
pub fn decode_entities(text: &str) -> String {
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        decoded.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let Some(semicolon) = after.find(';').filter(|&i| i <= 10) else {
            decoded.push('&');
            rest = &after[1..];
            continue;
        };
        let entity = &after[1..semicolon];
        let character = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|n| n.parse().ok()))
                .and_then(char::from_u32),
        };
        match character {
            Some(c) => {
                decoded.push(c);
                rest = &after[semicolon + 1..];
            }
            None => {
                decoded.push('&');
                rest = &after[1..];
            }
        }
    }
    decoded.push_str(rest);
    decoded
}
