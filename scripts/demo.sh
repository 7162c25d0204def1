#!/usr/bin/env bash
# The main job on the built-in synthetic survey; `make demo` runs it after installing.
# Usage: scripts/demo.sh [DEMO_DIR] [SIZE]   (SIZE: tiny, small (default), medium, large)
# The workflow itself is the run file pipelines/demo.toml (docs/pipeline.md): run this again and it skips what
# is done; stop it with Ctrl-C and the next run resumes; change SIZE and it starts over.
set -euo pipefail
demo=${1:-demo}
size=${2:-small}
facies="${FACIES:-.venv/bin/facies}"
run_file=pipelines/demo.toml
state="$demo/$(basename "$run_file" .toml).state.json"
if [[ -e "$demo/survey.zarr" && ! -e "$state" ]]; then
    echo "error: $demo/survey.zarr was made by an earlier demo, not by $run_file (there is no $state)," \
         "and facies run replaces only what it made: remove $demo (rm -rf $demo) or choose another DEMO=..." >&2
    exit 2
fi
mkdir -p "$demo"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "what this machine offers"
$facies doctor

step "the workflow: facies run $run_file (synthetic survey of size $size, in $demo/)"
$facies run "$run_file" --set folder="$demo" --set synth.size="$size"

cat <<EOF

Done. What to look at:
  $demo/report.html             everything below on one self-contained page (open it in a browser)
  $demo/survey.zarr             the survey store (facies info $demo/survey.zarr; xarray.open_zarr(..., consolidated=False))
  $demo/selection/scores.png    attribute-selection scores and held-out accuracy against dimension
  $demo/selection/summary.json  best combination per dimension and overall
  $demo/rf_report/              cross-validation table, confusion matrix, importances (CSV and PNG)
  $demo/gtm/gtm_latent_density.png  the GTM's latent space coloured by the density of the sampled voxels
  $demo/gtm/gtm_facies_pdfs.png     each facies' distribution on the map (from the training voxels)
  $demo/gtm/gtm_colour_key.png      the 2D colour key of the latent coordinates (u1, u2)
  $demo/gtm/gtm_time_slice.png      a time slice coloured by (u1, u2) through that key, beside facies_gtm
  $demo/gtm/gtm_pdfs.csv            the facies PDFs per node (node, u1, u2, one column per facies)
  $demo/facies_rf.sgy           facies classes (1 background, 2 salt, 3 mtd; 0 = no data) as SEG-Y
  $demo/confidence_rf.sgy       highest class probability per voxel as SEG-Y
  $demo/picks.csv               the training voxels as CSV
  $demo/demo.state.json         what each stage did, with its fingerprint and outputs (facies run --dry-run explains)
  $run_file          the workflow itself: edit a key and run make demo again
EOF
