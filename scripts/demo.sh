#!/usr/bin/env bash
# The main job on the built-in synthetic survey: `make demo` runs this after installing.
# Usage: scripts/demo.sh DEMO_DIR SIZE
set -euo pipefail
demo=${1:-demo}
size=${2:-small}
facies=".venv/bin/facies"
mkdir -p "$demo"
echo "== facies doctor"
$facies doctor
