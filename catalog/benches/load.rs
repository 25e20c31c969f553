//! Times loading the built-in catalog: parse, schema validation, semantic
//! checks and typing of every embedded provider file.
//!
//! Run with `cargo bench -p latchkey-catalog --bench load`. It prints the
//! first load in this process (which also compiles the JSON Schema, as a
//! server start does) and the minimum and median of later loads.

use std::time::{Duration, Instant};

use latchkey_catalog::Catalog;

const RUNS: usize = 50;

fn load() -> Duration {
    let started = Instant::now();
    let catalog = Catalog::builtin().expect("built-in catalog loads");
    let elapsed = started.elapsed();
    assert!(!catalog.is_empty());
    elapsed
}

fn main() {
    let first = load();
    let mut later: Vec<Duration> = (0..RUNS).map(|_| load()).collect();
    later.sort();
    let providers = Catalog::builtin().expect("built-in catalog loads").len();

    println!("providers: {providers}");
    println!("first load: {:.2} ms", first.as_secs_f64() * 1000.0);
    println!(
        "later loads ({RUNS} runs): min {:.2} ms, median {:.2} ms",
        later[0].as_secs_f64() * 1000.0,
        later[RUNS / 2].as_secs_f64() * 1000.0
    );
}
