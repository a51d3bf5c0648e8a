#!/usr/bin/env bash
# The mismatch protocol: every registered scenario (napari-mpi-dl evaluate --list-scenarios), the
# two-tube series (gaps 1.0 ... 3.4 mm) and N_MNIST held-out MNIST digits per scenario; baselines
# with the model, the measured and (where shift-invariant) the exact PSF, tuned per scenario on
# validation phantoms (tube gaps 1.2 / 2.0 / 2.8 mm and VALIDATION_DIGITS MNIST training digits);
# DC_GAN and other optional providers join when their weights are available.
# Writes OUT/NAME/ per scenario and OUT/summary.{csv,md,png}.
# Usage: scripts/evaluate_scenarios.sh [OUT_DIR]   (default docs/results/scenarios)
# Runtime: 27.6 min wall, 12.4 min CPU on 2 cores shared with other jobs (load 6-10).
set -euo pipefail
OUT=${1:-docs/results/scenarios}
N_MNIST=${N_MNIST:-6}
VALIDATION_DIGITS=${VALIDATION_DIGITS:-2}
napari-mpi-dl evaluate --out "$OUT" --scenario all --mnist "$N_MNIST" \
    --validation-digits "$VALIDATION_DIGITS" --seed 0
