#!/usr/bin/env bash
# A second, shorter GPU session: DC_GAN variants on the realistic data, in parallel, each from a
# generator file, every checkpoint's generator kept for scripts/dcgan_checkpoint_selection.py.
#
#   VARIANTS="name:data:finetune:lambda_con:lambda_idt:batch:steps ..." \
#     scripts/train_dcgan_variants_on_gpu.sh
#
# data: "noisy" (the realistic data of train_weights_on_gpu.sh: 20 % of X noise-free) or "clean"
# (the same draw with every X image noise-free, --clean-fraction 1); finetune: "shipped" or a
# generator file. Every run stops by BUDGET_S (default 240 s); the generators are packed into
# PACK_DIR (at most 2 tar files of 2 variants each, and the logs).
set -uo pipefail
RUN_DIR=${RUN_DIR:-runs/gpu2}
PACK_DIR=${PACK_DIR:-$RUN_DIR/pack}
BUDGET_S=${BUDGET_S:-240}
DEVICE=${DEVICE:-cuda}
WORKERS=${WORKERS:-7}
N_ALL=${N_ALL:-1400}
N_Y=${N_Y:-300}
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
t0=$(date +%s)
elapsed() { echo $(( $(date +%s) - t0 )); }
minutes_left() { "$PY" -c "print(max(0.2, ($BUDGET_S - $(elapsed) - ${1:-15}) / 60))"; }
D=$RUN_DIR; L=$RUN_DIR/logs; mkdir -p "$L" "$PACK_DIR"
{ date -u; nvidia-smi -L 2>&1; echo "COMMIT=${COMMIT:-unknown}"; } > "$L/machine.txt"
"$PY" scripts/make_realistic_domains.py --generate "$N_ALL" --y-phantoms "$N_Y" \
  --realistic rl-ideal --workers "$WORKERS" --out "$D/noisy.npz" > "$L/data_noisy.log" 2>&1 &
"$PY" scripts/make_realistic_domains.py --generate "$N_ALL" --y-phantoms "$N_Y" \
  --realistic rl-ideal --workers "$WORKERS" --clean-fraction 1 --out "$D/clean.npz" \
  > "$L/data_clean.log" 2>&1 &
wait
echo "data ready at $(elapsed) s" | tee -a "$L/plan.txt"
small=(--ngf 16 --n-blocks 4 --ndf 32 --d-layers 3 --nce-layers 0,2,3,5 --num-patches 256)
pids=(); dirs=()
for v in ${VARIANTS:?}; do
  IFS=: read -r name data ft con idt bs steps <<< "$v"
  mkdir -p "$D/$name"; dirs+=("$D/$name")
  "$PY" -m napari_mpi_dl train deblur --data "$D/$data.npz" --finetune "$ft" "${small[@]}" \
    --no-amp --batch-size "$bs" --lambda-con "$con" --lambda-gan 1 --lambda-idt "$idt" --seed 0 \
    --crop-size 0 --lr 1e-4 --gan-mode lsgan --device "$DEVICE" --threads 1 --no-progress \
    --steps "$steps" --checkpoint-every $(( steps / 6 > 0 ? steps / 6 : 1 )) \
    --time-limit-min "$(minutes_left 15)" --checkpoint-dir "$D/$name" \
    --out "$D/$name/dcgan_weights.pt" > "$L/$name.log" 2>&1 &
  pids+=($!)
done
"$PY" scripts/snapshot_dcgan_checkpoints.py --domains "$D/noisy.npz" --stop-file "$D/stop" \
  "${dirs[@]}" > "$L/snapshots.log" 2>&1 &
snap=$!
while (( $(elapsed) < BUDGET_S - 8 )); do
  alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  (( alive )) || break; sleep 2
done
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${pids[@]}"; do wait "$p"; echo "pid $p exit $?" >> "$L/plan.txt"; done
touch "$D/stop"; wait "$snap"
echo "done at $(elapsed) s" | tee -a "$L/plan.txt"
k=0; set -- "${dirs[@]}"
while (( $# )); do
  k=$((k + 1)); files=()
  for d in "$1" "${2:-}"; do [[ -n $d ]] || continue
    for f in "$d"/g_*.pt "$d"/*.json; do [[ -f $f ]] && files+=("${f#"$D"/}"); done; done
  tar -cf "$PACK_DIR/variants_$k.tar" -C "$D" "${files[@]}"; shift; (( $# )) && shift
done
tar -czf "$PACK_DIR/logs2.tar.gz" -C "$RUN_DIR" logs
ls -la "$PACK_DIR"
