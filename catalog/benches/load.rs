//! Times loading provider files: parsing, JSON Schema validation, semantic
//! checks and typing.
//!
//! `cargo bench -p latchkey-catalog --bench load` times the built-in catalog:
//! the first load in this process (which also compiles the JSON Schema, as a
//! server start does) and the minimum and median of later loads.
//!
//! With `LATCHKEY_BENCH_DIR=DIR` it also times the `*.yaml` files of `DIR`
//! (for example the output of `latchkey catalog import`) in two ways. The
//! first runs `parse_provider` on each file in turn on one thread, from
//! memory, which is the work of a built-in load of that many files on one
//! core. The second runs `validate_paths` on the directory, which reads the
//! files and may use every core, as `latchkey catalog validate DIR` does.
//!
//! `scripts/bench-catalog.sh` makes such directories from Nango's catalog
//! and runs this bench on them; docs/benchmarks.md records the results.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use latchkey_catalog::{parse_provider, validate_paths, Catalog};

const BUILTIN_RUNS: usize = 50;
const DIR_RUNS: usize = 20;

fn main() {
    bench_builtin();
    if let Some(dir) = std::env::var_os("LATCHKEY_BENCH_DIR") {
        bench_dir(Path::new(&dir));
    }
}

fn bench_builtin() {
    let load = || {
        let started = Instant::now();
        let catalog = Catalog::builtin().expect("built-in catalog loads");
        let elapsed = started.elapsed();
        assert!(!catalog.is_empty());
        elapsed
    };
    let first = load();
    let later: Vec<Duration> = (0..BUILTIN_RUNS).map(|_| load()).collect();
    let providers = Catalog::builtin().expect("built-in catalog loads").len();

    println!("built-in catalog: {providers} providers");
    println!("  first load: {}", millis(first));
    print_runs("  later loads", &later, providers);
}

fn bench_dir(dir: &Path) {
    let files = read_yaml_files(dir);
    assert!(
        !files.is_empty(),
        "LATCHKEY_BENCH_DIR `{}` contains no *.yaml files",
        dir.display()
    );
    let parse_all = || {
        let started = Instant::now();
        for (file_name, source) in &files {
            if let Err(diagnostics) = parse_provider(file_name, source) {
                panic!("{file_name} is invalid:\n{diagnostics:?}");
            }
        }
        started.elapsed()
    };
    let validate = || {
        let started = Instant::now();
        let report = validate_paths(&[dir]);
        let elapsed = started.elapsed();
        assert!(report.is_valid(), "{report}");
        elapsed
    };

    println!("{}: {} files", dir.display(), files.len());
    // Every figure below runs after the built-in bench, so the schema is
    // already compiled.
    let parsed: Vec<Duration> = (0..DIR_RUNS).map(|_| parse_all()).collect();
    print_runs("  parse_provider, one thread", &parsed, files.len());
    let validated: Vec<Duration> = (0..DIR_RUNS).map(|_| validate()).collect();
    print_runs("  validate_paths", &validated, files.len());
}

/// Reads the `*.yaml` files directly inside `dir`, sorted by path, as
/// (display name, contents) pairs.
fn read_yaml_files(dir: &Path) -> Vec<(String, String)> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|error| {
        panic!(
            "cannot read LATCHKEY_BENCH_DIR `{}`: {error}",
            dir.display()
        )
    });
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let source = std::fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("cannot read `{}`: {error}", path.display()));
            (path.display().to_string(), source)
        })
        .collect()
}

/// Prints the minimum and median of `runs` and the median per file.
fn print_runs(label: &str, runs: &[Duration], files: usize) {
    let mut sorted = runs.to_vec();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    let per_file_us = median.as_secs_f64() * 1e6 / files as f64;
    println!(
        "{label} ({} runs): min {}, median {}, {per_file_us:.1} µs per file",
        runs.len(),
        millis(sorted[0]),
        millis(median),
    );
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
