//! Conversion of Nango's `proxy.body`: values merged into the JSON object
//! body of every proxied request, nested objects included. A value that
//! carries the credential becomes a `json_body` place of `inject`, and the
//! others become `proxy.body`, each under its dot-separated path.

use serde_yaml::{Mapping, Value};

use super::{mapping, scalar_text, translate, uses_credential, Builder};
use crate::import::Reason;

/// The reason kind of a `proxy.body` that has no Latchkey form.
const BODY_KIND: &str = "`proxy.body` with no Latchkey form";

/// One leaf of Nango's `proxy.body`: its dot-separated path and template.
pub(super) struct BodyLeaf {
    pub path: String,
    pub value: String,
}

/// Flattens Nango's `proxy.body` into its leaves, in Nango's order.
pub(super) fn body_leaves(entry: &Mapping) -> Result<Vec<BodyLeaf>, Reason> {
    let mut leaves = Vec::new();
    if let Some(body) = mapping(entry, "proxy").and_then(|proxy| mapping(proxy, "body")) {
        collect_leaves("", body, &mut leaves)?;
    }
    Ok(leaves)
}

fn collect_leaves(
    prefix: &str,
    object: &Mapping,
    leaves: &mut Vec<BodyLeaf>,
) -> Result<(), Reason> {
    for (name, value) in object {
        let Some(name) = name.as_str() else {
            return Err(Reason::malformed(
                "`proxy.body` has a key that is not a string",
            ));
        };
        if name.is_empty() || name.contains('.') {
            return Err(Reason::new(
                BODY_KIND,
                format!("`proxy.body` has the key `{prefix}{name}`, and a Latchkey body path cannot name an empty key or one that contains `.`"),
            ));
        }
        let path = format!("{prefix}{name}");
        match value {
            Value::Mapping(inner) => collect_leaves(&format!("{path}."), inner, leaves)?,
            other => {
                let Some(value) = scalar_text(other) else {
                    return Err(Reason::new(
                        BODY_KIND,
                        format!("`proxy.body.{path}` is not a string, number or object, and Latchkey body members are templates"),
                    ));
                };
                leaves.push(BodyLeaf { path, value });
            }
        }
    }
    Ok(())
}

impl Builder<'_> {
    /// Converts the leaves of `proxy.body` that carry the credential into
    /// `json_body` places, in Nango's order.
    pub(super) fn body_credential_places(&mut self) -> Result<Vec<(String, String)>, Reason> {
        let mut places = Vec::new();
        for leaf in body_leaves(self.entry)? {
            if !uses_credential(&leaf.value) {
                continue;
            }
            let field = format!("proxy.body.{}", leaf.path);
            if leaf.value.contains("||") {
                return Err(Reason::fallback(&field));
            }
            let translated =
                translate(&leaf.value).map_err(|message| Reason::template(&field, &message))?;
            self.check_credential_names(&field, &translated)?;
            self.record(&translated, false);
            places.push((leaf.path, translated.text));
        }
        Ok(places)
    }

    /// Converts the leaves of `proxy.body` without the credential into
    /// `proxy.body` members.
    pub(super) fn static_body(&mut self) -> Result<Mapping, Reason> {
        let mut members = Mapping::new();
        for leaf in body_leaves(self.entry)? {
            if uses_credential(&leaf.value) {
                continue;
            }
            let field = format!("proxy.body.{}", leaf.path);
            let value = self.template(&field, &leaf.value)?;
            members.insert(leaf.path.into(), value.into());
        }
        Ok(members)
    }
}
