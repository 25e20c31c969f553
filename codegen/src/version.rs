//! The catalog version that generated files are stamped with.

use latchkey_catalog::Catalog;
use sha2::{Digest, Sha256};

/// Returns `<workspace version>+<hash>`, where the hash is the first 12 hex
/// digits of the SHA-256 of every provider definition, serialized as JSON in
/// name order. Two catalogs with the same definitions get the same version,
/// whatever their files' comments or key order.
pub fn catalog_version(catalog: &Catalog) -> String {
    let mut hasher = Sha256::new();
    for provider in catalog.providers() {
        // Serializing the typed model cannot fail, because every map in it has
        // string keys.
        let json = serde_json::to_vec(provider).expect("a provider serializes to JSON");
        hasher.update((json.len() as u64).to_be_bytes());
        hasher.update(&json);
    }
    let digest = hasher.finalize();
    let hash: String = digest[..6]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{}+{hash}", env!("CARGO_PKG_VERSION"))
}
