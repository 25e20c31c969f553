#!/usr/bin/env bash
# Times loading and validating provider files at the scale of an imported
# catalog, as recorded in docs/benchmarks.md.
#
# Usage: scripts/bench-catalog.sh [WORK_DIR]
#
# Imports Nango's catalog (the `@nangohq/providers` package that
# scripts/test.sh installs under tests/peers) into WORK_DIR/imported, copies
# it to WORK_DIR/1013 and adds renamed copies of the first files until that
# directory contains 1013 files (the number of entries in Nango's catalog),
# then runs the load bench on both directories and times
# `latchkey catalog validate` on each as a whole process. WORK_DIR defaults
# to a new temporary directory and is left in place for further runs.
set -euo pipefail

cd "$(dirname "$0")/.."

providers=tests/peers/node_modules/@nangohq/providers/providers.yaml
if [[ ! -f "$providers" ]]; then
  echo "error: $providers not found; run scripts/test.sh or 'npm ci' in tests/peers first" >&2
  exit 1
fi
if [[ ! -x /usr/bin/time ]]; then
  echo "error: /usr/bin/time not found; install GNU time (Debian package 'time')" >&2
  exit 1
fi

work_dir=${1:-$(mktemp -d)}
imported=$work_dir/imported
scaled=$work_dir/1013
target_count=1013

cargo build --release
latchkey=target/release/latchkey

rm -rf "$imported" "$scaled"
# The import lists every entry it skips, and only its exit status matters
# here.
"$latchkey" catalog import --from nango "$providers" --out "$imported" >/dev/null

mkdir -p "$scaled"
cp "$imported"/*.yaml "$scaled"/
imported_count=$(find "$imported" -maxdepth 1 -name '*.yaml' | wc -l)
copies=$((target_count - imported_count))
# A copy gets the suffix `-copy` in its file name and in its `name`, so that
# it is a valid file of its own.
find "$imported" -maxdepth 1 -name '*.yaml' -printf '%f\n' | sort | head -n "$copies" |
  while read -r file; do
    name=${file%.yaml}
    sed "s/^name: $name\$/name: $name-copy/" "$imported/$file" >"$scaled/$name-copy.yaml"
  done

for dir in "$imported" "$scaled"; do
  LATCHKEY_BENCH_DIR=$dir cargo bench -p latchkey-catalog --bench load
done

# One run first, so that the files are in the page cache, then one timed run.
for args in "" "$imported" "$scaled"; do
  # shellcheck disable=SC2086 # an empty $args validates the built-in catalog
  "$latchkey" catalog validate $args >/dev/null
  # shellcheck disable=SC2086
  /usr/bin/time -f "latchkey catalog validate ${args:-(built-in)}: %e s wall, %U s user, %S s sys, %M KiB peak" \
    "$latchkey" catalog validate $args >/dev/null
done
echo "inputs kept in $work_dir"
