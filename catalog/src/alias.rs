//! Alias files: a provider defined as another provider plus overrides.
//!
//! A file with a top-level `alias: TARGET` key starts from TARGET's
//! definition and overrides fields with its own. Mappings merge key by key,
//! so `auth: {token_url: ...}` replaces only the token URL. Lists and
//! scalars replace the target's value. The exception is an `auth` whose
//! `mode` differs from the target's: it replaces the target's `auth` whole,
//! because the fields of one mode do not fit another. The merged document
//! goes through the same schema and semantic checks as any file, with
//! positions taken from the alias file.
//!
//! An alias may not point to a provider that does not exist, nor to another
//! alias: a chain is reported with the final target to point to instead.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic};
use crate::load::parse_document;
use crate::model::Provider;
use crate::positions::PositionIndex;
use crate::suggest::closest_match;

/// An alias file read but not yet resolved, because its target may be
/// loaded later.
#[derive(Debug, Clone)]
pub(crate) struct PendingAlias {
    file_name: String,
    source: String,
    document: Value,
}

impl PendingAlias {
    /// The `name` the alias file declares, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        self.document.get("name")?.as_str()
    }
}

/// Returns the file as a pending alias when it is a YAML mapping with an
/// `alias` key. Any other file, including one that is not valid YAML, is
/// left to the ordinary parser.
pub(crate) fn detect(file_name: &str, source: &str) -> Option<PendingAlias> {
    // Most files are not aliases, so they skip the second YAML parse.
    if !source.contains("alias") {
        return None;
    }
    let document: Value = serde_yaml::from_str(source).ok()?;
    document.as_object()?.get("alias")?;
    Some(PendingAlias {
        file_name: file_name.to_owned(),
        source: source.to_owned(),
        document,
    })
}

/// The providers that an alias may extend when the files being loaded do
/// not define its target.
pub(crate) trait Fallback {
    fn get(&self, name: &str) -> Option<Provider>;

    /// The names of every provider [`Fallback::get`] returns, which the
    /// "did you mean" suggestion for an unknown target searches.
    fn names(&self) -> Vec<String>;
}

/// No fallback: a load of the built-in catalog, alone or with directories.
impl Fallback for () {
    fn get(&self, _name: &str) -> Option<Provider> {
        None
    }

    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Resolves every pending alias against `providers`, then against
/// `fallback` (the built-in catalog when single files are validated), and
/// inserts each resolved provider into `providers`.
/// `known_targets` maps the aliases of `fallback` to their targets, so that
/// an alias of one of them is reported as a chain. A name that `providers`
/// defines in full is not an alias.
pub(crate) fn resolve(
    providers: &mut BTreeMap<String, Provider>,
    pending: Vec<PendingAlias>,
    fallback: &dyn Fallback,
    known_targets: &BTreeMap<String, String>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut alias_targets: BTreeMap<String, String> = known_targets
        .iter()
        .filter(|(name, _)| !providers.contains_key(*name))
        .map(|(name, target)| (name.clone(), target.clone()))
        .collect();
    alias_targets.extend(targets(&pending));

    for alias in pending {
        match resolve_one(providers, &alias, &alias_targets, fallback) {
            Ok(provider) => {
                providers.insert(provider.name.clone(), provider);
            }
            Err(problems) => diagnostics.extend(problems),
        }
    }
}

/// Maps each alias file's provider name to the name it extends.
pub(crate) fn targets(pending: &[PendingAlias]) -> BTreeMap<String, String> {
    pending
        .iter()
        .filter_map(|alias| Some((alias_name(alias)?, target_name(alias)?)))
        .collect()
}

fn resolve_one(
    providers: &BTreeMap<String, Provider>,
    alias: &PendingAlias,
    alias_targets: &BTreeMap<String, String>,
    fallback: &dyn Fallback,
) -> Result<Provider, Vec<Diagnostic>> {
    let positions = PositionIndex::build(&alias.source).map_err(|error| {
        let message = format!("invalid YAML: {}", error.info());
        vec![Diagnostic::for_file(
            &alias.file_name,
            Code::InvalidYaml,
            message,
        )]
    })?;
    let at_alias = |code: Code, message: String, help: String| {
        let diagnostic = match positions.nearest_value("/alias") {
            Some(span) => Diagnostic::at(&alias.file_name, &alias.source, span, code, message),
            None => Diagnostic::for_file(&alias.file_name, code, message),
        };
        vec![diagnostic
            .with_path(Some("alias".to_owned()))
            .with_help(Some(help))]
    };

    let Some(target) = target_name(alias) else {
        return Err(at_alias(
            Code::InvalidAlias,
            "`alias` must be the name of another provider".to_owned(),
            "write the name of the provider this file extends, for example `alias: google`"
                .to_owned(),
        ));
    };
    if alias_name(alias).is_none() {
        return Err(at_alias(
            Code::InvalidAlias,
            "an alias file must set its own `name`".to_owned(),
            "add `name:` with the file name without `.yaml`".to_owned(),
        ));
    }
    if let Some(next) = alias_targets.get(&target) {
        let end = chain_end(&target, alias_targets);
        let message = format!("`alias` points to `{target}`, which is itself an alias of `{next}`");
        let help = match end {
            Some(end) => format!("aliases cannot be chained; write `alias: {end}`"),
            None => "aliases cannot be chained, and this chain is a loop; point `alias` at a provider defined in full".to_owned(),
        };
        return Err(at_alias(Code::AliasChain, message, help));
    }
    let Some(base) = providers
        .get(&target)
        .cloned()
        .or_else(|| fallback.get(&target))
    else {
        let fallback_names = fallback.names();
        let names: Vec<&str> = providers
            .keys()
            .chain(fallback_names.iter())
            .map(String::as_str)
            .collect();
        let help = match closest_match(&target, &names) {
            Some(best) => format!("did you mean `{best}`?"),
            None => "write the name of a provider in the catalog".to_owned(),
        };
        return Err(at_alias(
            Code::UnknownAliasTarget,
            format!("`alias` points to `{target}`, but no provider has that name"),
            help,
        ));
    };

    let mut overrides = alias.document.clone();
    if let Some(object) = overrides.as_object_mut() {
        object.remove("alias");
    }
    let mut merged = serde_json::to_value(&base).map_err(|error| {
        let message = format!("failed to copy provider `{target}`: {error}");
        vec![Diagnostic::for_file(
            &alias.file_name,
            Code::ModelMismatch,
            message,
        )]
    })?;
    merge_override(&mut merged, overrides);
    parse_document(&alias.file_name, &alias.source, merged, &positions)
}

/// Follows `start` through `alias_targets` to the first name that is not
/// an alias; `None` for a loop.
fn chain_end(start: &str, alias_targets: &BTreeMap<String, String>) -> Option<String> {
    let mut seen = BTreeSet::new();
    let mut current = start.to_owned();
    while let Some(next) = alias_targets.get(&current) {
        if !seen.insert(current.clone()) {
            return None;
        }
        current = next.clone();
    }
    Some(current)
}

fn alias_name(alias: &PendingAlias) -> Option<String> {
    alias.name().map(str::to_owned)
}

fn target_name(alias: &PendingAlias) -> Option<String> {
    let target = alias.document.get("alias")?.as_str()?;
    (!target.is_empty()).then(|| target.to_owned())
}

/// Applies `overrides` to `base`: mappings merge key by key, anything else
/// replaces. An `auth` mapping with another `mode` replaces `auth` whole.
fn merge_override(base: &mut Value, overrides: Value) {
    let (Value::Object(base_object), Value::Object(override_object)) = (&mut *base, &overrides)
    else {
        *base = overrides;
        return;
    };
    for (key, value) in override_object {
        let replaces_auth = key == "auth"
            && value.get("mode").is_some()
            && value.get("mode") != base_object.get("auth").and_then(|auth| auth.get("mode"));
        match base_object.get_mut(key) {
            Some(existing) if !replaces_auth => merge_override(existing, value.clone()),
            _ => {
                base_object.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_rules() {
        // (case, base, override, expected)
        #[rustfmt::skip]
        let cases = [
            ("nested mapping merges", json!({"auth": {"mode": "oauth2", "token_url": "a", "pkce": false}}), json!({"auth": {"token_url": "b"}}), json!({"auth": {"mode": "oauth2", "token_url": "b", "pkce": false}})),
            ("list replaces", json!({"categories": ["a", "b"]}), json!({"categories": ["c"]}), json!({"categories": ["c"]})),
            ("same mode merges", json!({"auth": {"mode": "oauth2", "token_url": "a"}}), json!({"auth": {"mode": "oauth2", "pkce": false}}), json!({"auth": {"mode": "oauth2", "token_url": "a", "pkce": false}})),
            ("other mode replaces auth", json!({"auth": {"mode": "oauth2", "token_url": "a"}}), json!({"auth": {"mode": "basic"}}), json!({"auth": {"mode": "basic"}})),
            ("new key added", json!({"name": "a"}), json!({"docs_url": "https://x"}), json!({"name": "a", "docs_url": "https://x"})),
        ];

        for (case, mut base, overrides, expected) in cases {
            merge_override(&mut base, overrides);

            assert_eq!(base, expected, "{case}");
        }
    }

    #[test]
    fn chain_end_follows_and_detects_loops() {
        let targets: BTreeMap<String, String> = [("a", "b"), ("b", "c"), ("x", "y"), ("y", "x")]
            .into_iter()
            .map(|(from, to)| (from.to_owned(), to.to_owned()))
            .collect();

        assert_eq!(chain_end("a", &targets).as_deref(), Some("c"));
        assert_eq!(chain_end("c", &targets).as_deref(), Some("c"));
        assert_eq!(chain_end("x", &targets), None);
    }
}
