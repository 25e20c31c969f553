//! Rebuilds the crate when a provider file is added, changed or removed,
//! because `include_dir!` embeds `providers/` but does not tell Cargo which
//! files it read.

fn main() {
    println!("cargo:rerun-if-changed=providers");
    println!("cargo:rerun-if-changed=schema");
}
