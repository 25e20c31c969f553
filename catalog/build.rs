//! Embeds the built-in provider files, each with the JSON text of its
//! document where `src/convert.rs` can convert it, into
//! `$OUT_DIR/builtin_providers.rs`.
//!
//! A start parses JSON several times faster than YAML. It still runs the
//! JSON Schema validation and the semantic checks on every file, and it
//! keeps the YAML source to place diagnostics. A file that is not UTF-8 or
//! does not convert is embedded without JSON, and a start parses its YAML
//! and reports it as it reports a user's file.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

// The loader's own YAML reading, so that the build converts a file as a
// start would parse it. The build script uses only part of each module.
#[allow(dead_code)]
#[path = "src/convert.rs"]
mod convert;
#[allow(dead_code)]
#[path = "src/document.rs"]
mod document;
#[allow(dead_code)]
#[path = "src/positions.rs"]
mod positions;

fn main() {
    println!("cargo:rerun-if-changed=providers");
    println!("cargo:rerun-if-changed=schema");
    println!("cargo:rerun-if-changed=src/convert.rs");
    println!("cargo:rerun-if-changed=src/document.rs");
    println!("cargo:rerun-if-changed=src/positions.rs");

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by Cargo"));
    let providers_dir = manifest_dir.join("providers");
    let mut paths: Vec<PathBuf> = fs::read_dir(&providers_dir)
        .unwrap_or_else(|error| panic!("failed to read {}: {error}", providers_dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();

    let mut generated = String::from("&[\n");
    for path in &paths {
        let bytes = fs::read(path)
            .unwrap_or_else(|error| panic!("failed to read {}: {error}", path.display()));
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_else(|| panic!("{} has a name that is not UTF-8", path.display()));
        let json = match std::str::from_utf8(&bytes) {
            Ok(source) => convert::to_json(source),
            Err(_) => None,
        };
        writeln!(
            generated,
            "    BuiltinFile {{ name: {name:?}, source: include_bytes!({:?}), json: {json:?} }},",
            path_text(path)
        )
        .expect("writing to a String");
    }
    generated.push_str("]\n");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by Cargo"));
    let out_file = out_dir.join("builtin_providers.rs");
    fs::write(&out_file, generated)
        .unwrap_or_else(|error| panic!("failed to write {}: {error}", out_file.display()));
}

fn path_text(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("{} is not a UTF-8 path", path.display()))
}
