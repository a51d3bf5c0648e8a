#!/usr/bin/env bash
# Evaluate the shipped DC_GAN against the deconvolution baselines (exact and wrong PSF):
# the two-tube protocol (PSNR, SSIM, dip, resolved per gap; table + figure) and the mean PSNR/SSIM
# over the 100 held-out MNIST digits (1500-1599), without noise and with 30 dB white noise.
# Usage: scripts/evaluate_dcgan.sh [OUT_DIR]   (default docs/results/dcgan)
set -euo pipefail
OUT=${1:-docs/results/dcgan}
N_MNIST=${N_MNIST:-100}
napari-mpi-dl evaluate --out "$OUT/noise_free" --mnist "$N_MNIST" --seed 0
napari-mpi-dl evaluate --out "$OUT/snr30db" --snr-db 30 --mnist "$N_MNIST" --seed 0
