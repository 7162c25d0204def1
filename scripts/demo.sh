#!/usr/bin/env bash
# The main job on the built-in synthetic survey; `make demo` runs it after installing.
# Usage: scripts/demo.sh [DEMO_DIR] [SIZE]   (SIZE: tiny, small (default), medium, large)
set -euo pipefail
demo=${1:-demo}
size=${2:-small}
facies="${FACIES:-.venv/bin/facies}"
store="$demo/survey.zarr"
polygons="$demo/survey.polygons.json"
# The candidate attributes an interpreter would consider (amplitude itself is not one).
candidates=(dip_deviation envelope instantaneous_frequency noise_a noise_b reflection_strength rms_amplitude
            similarity spectral_bandwidth texture_contrast)
filtered=$(printf '%s_kuw,' "${candidates[@]}")
filtered=${filtered%,}
mkdir -p "$demo"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/11 what this machine offers"
$facies doctor

step "2/11 synthetic survey ($size) with known facies, 10 attributes and interpreter polygons"
$facies synth "$store" --size "$size" --overwrite
$facies info "$store"

step "3/11 condition every attribute with the 3D Kuwahara filter (brick engine, resumable)"
inputs=()
for name in "${candidates[@]}"; do inputs+=(--input "$name"); done
$facies filter kuwahara "$store" "${inputs[@]}" --radius 2 --overwrite

step "4/11 training voxels from the polygons"
$facies training extract "$store" "$polygons" --attributes "$filtered" --name picks
$facies training export "$store" "$demo/picks.csv" --name picks --overwrite

step "5/11 attribute selection over every combination of 1 and 2 filtered attributes"
# The full search (every dimension, 200 SEM iterations) takes minutes on two CPU cores (about 6 for 9 attributes
# and 3 x 10 000 voxels, bench/results/selection_cpu.json; 10 attributes double the combinations); the demo looks
# at pairs only. Its table shows each dimension's held-out accuracy twice: whole polygons held out (the honest
# one, used to choose) and random voxels (optimistic: they sit next to training voxels). The figure to look at
# is selection/scores.png.
$facies select "$store" --training picks --dims 1-2 --sem-iter 50 --select-by validation --out "$demo/selection"

step "6/11 GTM on the selection's best combination: fit on a sample, project every voxel, show the map"
# A stratified sample of 40 000 live voxels, a 10 x 10 map and at most 50 EM iterations keep this step to about
# 25 s of CPU at size small on two cores (fit 8 s, projecting 3.6 Mvox 15 s, pictures 4 s; the defaults, 200 000
# voxels and a 20 x 20 map over 200 iterations, take several times longer) for the same held-out accuracy as a
# 12 x 12 map here (0.89). The pictures to look at are gtm/gtm_*.png.
$facies gtm fit "$store" --selection "$demo/selection" --training picks --grid 10 --basis 4 --iterations 50 \
    --sample 40000 --name gtm --overwrite
$facies gtm project "$store" --model gtm --overwrite
$facies gtm show "$store" --model gtm --out "$demo/gtm" --overwrite

step "7/11 random forest on all ten filtered attributes (cross-validated tree count)"
# A forest weighs its inputs itself, so the demo gives it every candidate; without --attributes,
# rf train would use the best combination of the selection above. Its cross-validation holds out whole
# polygons (--split auto) and prints the random-voxel accuracy beside it: compare both with step 9.
$facies rf train "$store" --training picks --attributes "$filtered" --name rf --trees 25,50 --max-depth 12 \
    --out "$demo/rf_report" --overwrite

step "8/11 classify every voxel of the survey"
$facies rf predict "$store" --model rf --overwrite

step "9/11 accuracy against the synthetic truth, away from the polygons: random forest, then GTM"
$facies rf evaluate "$store" --model rf --labels truth --training picks
$facies gtm evaluate "$store" --model gtm --labels truth --training picks

step "10/11 SEG-Y for the interpretation system"
$facies export "$store" facies_rf "$demo/facies_rf.sgy"
$facies export "$store" confidence_rf "$demo/confidence_rf.sgy"

step "11/11 one HTML page of the results (about 1.7 MB at size small: every picture embedded)"
$facies report "$store" --out "$demo/report.html" --overwrite

cat <<EOF

Done. What to look at:
  $demo/report.html             everything below on one self-contained page (open it in a browser)
  $store                        the survey store (facies info $store; xarray.open_zarr(..., consolidated=False))
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
EOF
