#!/usr/bin/env bash
# Re-make the shipped contrastive weights (resources/contrastive_*.pt + .json provenance).
# The four runs are independent; they were run in parallel, one torch thread each, on the 2-core
# CPU development machine (shared with other jobs). Seeds: training SM noise 0, weights/batches 0,
# mixtures/split 0. Each writes <out>.json with the exact command, configuration, history and wall
# time. Checkpoints go to $CKPT; a stopped run continues with the same command plus --resume
# (a smaller --epochs ends it at once with the best epoch so far).
set -euo pipefail
OUT=${OUT:-resources}
CKPT=${CKPT:-runs/contrastive}
common=(--threads 1 --seed 0 --sm-seed 0 --device cpu --checkpoint-dir "$CKPT" --checkpoint-every 25)
napari-mpi-dl train recover     --setting wo-cl --mixtures 300  --pretrain-epochs 0 --epochs 250 "${common[@]}" --out "$OUT/contrastive_recovery_wocl.pt" &
napari-mpi-dl train recover     --setting cl    --mixtures 300  --pretrain-epochs 3 --epochs 250 "${common[@]}" --out "$OUT/contrastive_recovery_cl.pt" &
napari-mpi-dl train reconstruct --setting wo-cl --mixtures 1500 --pretrain-epochs 0 --epochs 15  "${common[@]}" --out "$OUT/contrastive_reconstruction_wocl.pt" &
napari-mpi-dl train reconstruct --setting cl    --mixtures 1500 --pretrain-epochs 3 --epochs 15  "${common[@]}" --out "$OUT/contrastive_reconstruction_cl.pt" &
wait
# the shipped recovery models: both runs extended from their checkpoints to 500 epochs
napari-mpi-dl train recover --setting wo-cl --mixtures 300 --pretrain-epochs 0 --epochs 500 "${common[@]}" --resume --out "$OUT/contrastive_recovery_wocl.pt" &
napari-mpi-dl train recover --setting cl    --mixtures 300 --pretrain-epochs 3 --epochs 500 "${common[@]}" --resume --out "$OUT/contrastive_recovery_cl.pt" &
wait
napari-mpi-dl contrastive evaluate --out docs/images/contrastive --threads 2
