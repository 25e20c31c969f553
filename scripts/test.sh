#!/usr/bin/env bash
# The one test command. Run from the repository root on a fresh machine:
# installs the pinned test peers (npm, pip) when they are missing or stale,
# validates the built-in catalog, then runs every test in the workspace.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
peers=tests/peers

install_node_peers() {
  # `npm ci` rebuilds node_modules from the lockfile; the stamp records which
  # lockfile the installed tree came from.
  local stamp="$peers/node_modules/.latchkey-lock.sha256"
  local want
  want=$(sha256sum "$peers/package-lock.json" | cut -d' ' -f1)
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  echo "test.sh: installing the Node test peers (npm ci in $peers)"
  (cd "$peers" && npm ci --no-audit --no-fund)
  echo "$want" >"$stamp"
}

install_python_peers() {
  local venv="$peers/.venv"
  local stamp="$venv/.latchkey-requirements.sha256"
  local want
  want=$(sha256sum "$peers/requirements.txt" | cut -d' ' -f1)
  if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  echo "test.sh: installing the Python test peers (venv in $venv)"
  if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$peers/requirements.txt"
  echo "$want" >"$stamp"
}

install_node_peers
install_python_peers

echo "test.sh: validating the built-in catalog"
cargo run -q -- catalog validate

echo "test.sh: running the workspace tests"
cargo test --workspace --all-targets --no-fail-fast

# Doctests are not part of --all-targets; run them when a library has any.
if grep -rqs --include='*.rs' -E '^\s*//[!/].*```' catalog/src engine/src server/src; then
  echo "test.sh: running the doctests"
  cargo test --workspace --doc
fi
