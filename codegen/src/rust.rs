//! The Rust client crate: one module per provider and a `Provider` enum.
