#!/usr/bin/env bash
# Regenerates the imported part of catalog/providers/ from the pinned Nango
# package in tests/peers (installed by scripts/test.sh).
#
# Files written by hand are kept: a provider file is treated as imported only
# when its first line contains "imported from Nango's provider catalog". Imported
# files that the importer no longer produces are removed, so the catalog
# always matches one run of the importer plus the hand-written files.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source_yaml=tests/peers/node_modules/@nangohq/providers/providers.yaml
providers=catalog/providers
marker="imported from Nango's provider catalog"

if [[ ! -f "$source_yaml" ]]; then
  echo "import-nango.sh: $source_yaml is missing; run scripts/test.sh once, or npm ci in tests/peers" >&2
  exit 1
fi

out=$(mktemp -d)
trap 'rm -rf "$out" "$out.report"' EXIT
cargo run -q -- catalog import --from nango "$source_yaml" --out "$out" >"$out.report" || {
  cat "$out.report" >&2
  exit 1
}

is_imported() {
  head -n 1 "$1" | grep -qF "$marker"
}

for existing in "$providers"/*.yaml; do
  if is_imported "$existing" && [[ ! -f "$out/$(basename "$existing")" ]]; then
    rm "$existing"
  fi
done

kept=0
written=0
for generated in "$out"/*.yaml; do
  target="$providers/$(basename "$generated")"
  if [[ -f "$target" ]] && ! is_imported "$target"; then
    kept=$((kept + 1))
    continue
  fi
  cp "$generated" "$target"
  written=$((written + 1))
done

head -n 1 "$out.report"
rm -f "$out.report"
echo "import-nango.sh: wrote $written imported files; kept $kept hand-written files of the same name"
