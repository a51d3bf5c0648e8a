#!/usr/bin/env bash
# Train the DC_GAN weights shipped in resources/dcgan_weights.pt (+ dcgan_weights.json).
#
# Data: 1,500 MNIST *training* digits (indices 0-1499; the held-out digits 1500-1599 and the
# two-tube phantoms are never used), split by seed 0 into 1,200 phantoms for domain X (native,
# low gradient 1.35 T/m, noise-free + a 30 dB noisy copy each = 2,400 images) and 300 disjoint
# phantoms for domain Y (Richardson-Lucy, 200 iterations, exact PSF, of their noise-free natives).
#
# Usage:  scripts/train_shipped_dcgan.sh [OUT_DIR [EXTRA ARGS...]]   (e.g. EXTRA = --resume)
#   DATA=path/domains.npz  reuse domains cached by an earlier run (--save-data) instead of
#                          simulating them again (the simulation is deterministic).
#   STEPS, TIME_LIMIT_MIN  override the length (defaults: the shipped run's values).
#   THREADS                torch CPU threads (default 2; the shipped run used 2 on an idle
#                          2-core machine: 5-8 steps/s on whole 101 x 101 images).
set -euo pipefail
OUT=${1:-runs/dcgan_shipped}
shift || true
STEPS=${STEPS:-30000}
TIME_LIMIT_MIN=${TIME_LIMIT_MIN:-120}
mkdir -p "$OUT"
if [ -n "${DATA:-}" ]; then
  SOURCE=(--data "$DATA")
else
  SOURCE=(--generate 1500 --y-phantoms 300 --snr-db 30 --rl-iterations 200
          --save-data "$OUT/domains.npz")
fi
# Whole images (--crop-size 0): 64 x 64 crops are smaller than the low-gradient PSF and rarely
# show the empty background (docs/dcgan.md, "Shipped weights"). On a machine shared with other
# jobs use THREADS=1: two OpenMP threads then wait for each other (up to 15x slower per step).
exec napari-mpi-dl train deblur "${SOURCE[@]}" \
  --seed 0 --steps "$STEPS" --batch-size 1 --crop-size 0 --lr 2e-4 --gan-mode lsgan \
  --ngf 16 --n-blocks 4 --ndf 32 --d-layers 3 --nce-layers 0,2,3,5 --num-patches 256 \
  --lambda-con 2 --lambda-gan 1 --lambda-idt 1 \
  --device "${DEVICE:-auto}" --threads "${THREADS:-2}" \
  --checkpoint-dir "$OUT" --checkpoint-every 1000 --time-limit-min "$TIME_LIMIT_MIN" \
  --out "$OUT/dcgan_weights.pt" --no-progress "$@"
