#!/usr/bin/env bash
# Type-check engine/ and kernels/ with mypy under their import names (facies.engine, facies.kernels).
# The editable install maps the top-level folders onto the `facies` namespace through an import hook that mypy
# cannot follow, so the mapping is rebuilt here as a folder of symlinks and mypy runs from inside it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mypy="${MYPY:-$repo/.venv/bin/mypy}"

tmp="$(mktemp -d)"
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

mkdir -p "$tmp/facies"
ln -s "$repo/engine" "$tmp/facies/engine"
ln -s "$repo/kernels" "$tmp/facies/kernels"
ln -s "$repo/cli" "$tmp/facies/cli"

cd "$tmp"
status=0
"$mypy" --config-file "$repo/pyproject.toml" --cache-dir "$tmp/.mypy_cache" \
    --namespace-packages --explicit-package-bases facies/engine facies/kernels "$@" || status=$?
exit "$status"
