//! Generates, for every provider of a validated catalog, a module of a typed
//! Rust client crate (`rust`) and an OpenAPI 3.1 document (`openapi`).
//!
//! [`generate`] renders every file in memory, so a failure writes nothing.
//! [`write_output`] then replaces the files under the output directory, and
//! [`check_output`] compares them with what is on disk.

mod error;
pub mod openapi;
mod output;
pub mod rust;
mod version;

use std::collections::BTreeMap;

use latchkey_catalog::{Catalog, Provider};

pub use error::Error;
pub use output::{check_output, write_output, Difference, DifferenceKind, WriteReport};
pub use version::catalog_version;

/// The directory of the Rust crate under the output directory.
pub const RUST_DIR: &str = "rust";
/// The directory of the OpenAPI documents under the output directory.
pub const OPENAPI_DIR: &str = "openapi";

/// Generated files by their path relative to the output directory, with
/// `/` as separator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub files: BTreeMap<String, String>,
}

/// Renders the Rust crate and the OpenAPI documents for `providers` (every
/// provider of the catalog when empty). The catalog version covers the whole
/// catalog, so a selection of providers carries the same version as a full
/// run.
///
/// Fails with [`Error::EmptyProviderName`] when a name is empty or only
/// whitespace, and with [`Error::UnknownProvider`] when a name is not in the
/// catalog.
pub fn generate(catalog: &Catalog, providers: &[String]) -> Result<Output, Error> {
    let selected = select(catalog, providers)?;
    let version = catalog_version(catalog);
    let mut files = rust::generate(&selected, &version)?;
    for provider in &selected {
        files.insert(
            format!("{OPENAPI_DIR}/{}.json", provider.name),
            openapi::provider_document(provider, &version)?,
        );
    }
    files.insert(
        format!("{OPENAPI_DIR}/latchkey.json"),
        openapi::latchkey_api_document(&version)?,
    );
    Ok(Output { files })
}

/// Returns the named providers in name order, without repeats, or every
/// provider when `names` is empty.
fn select<'a>(catalog: &'a Catalog, names: &[String]) -> Result<Vec<&'a Provider>, Error> {
    if names.is_empty() {
        return Ok(catalog.providers().collect());
    }
    let mut selected = BTreeMap::new();
    for name in names {
        if name.trim().is_empty() {
            return Err(Error::EmptyProviderName { name: name.clone() });
        }
        let Some(provider) = catalog.get(name) else {
            let known: Vec<&str> = catalog.providers().map(|p| p.name.as_str()).collect();
            return Err(Error::UnknownProvider {
                name: name.clone(),
                suggestion: latchkey_catalog::closest_match(name, &known).map(str::to_owned),
            });
        };
        selected.insert(provider.name.as_str(), provider);
    }
    Ok(selected.into_values().collect())
}
