"""Choose between two sets of contrastive weights on the *validation* calibration.

The test SM (``contrastive evaluate``'s default, the ``independent`` pair) never steers a choice.
This runs the same evaluation with ``--test-sm validation --test-seed 2``: the training SM with a
third simulated calibration in place of the test one (the tracer drifted the other way, its own
robot errors and noise; preset ``validation-perimag``) and applies the rule fixed before any
score was seen, per task and setting:

* recovery: the lower mean euclidean NRMSE of the recovered columns;
* direct reconstruction: the lower mean euclidean NRMSE of the single voxels.

The multi-voxel phantoms of the evaluation are the held-out test digits and the tubes: they are
printed by the evaluation but take no part in the choice.

    python scripts/contrastive_model_choice.py --a shipped --b runs/gpu \\
        --out docs/results/contrastive_choice

``--a`` / ``--b``: a folder holding ``contrastive_{recovery,reconstruction}_{wocl,cl}.pt``, or
``shipped`` (resources/).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

FILES = {("recovery", "wo-cl"): "contrastive_recovery_wocl.pt",
         ("recovery", "cl"): "contrastive_recovery_cl.pt",
         ("reconstruction", "wo-cl"): "contrastive_reconstruction_wocl.pt",
         ("reconstruction", "cl"): "contrastive_reconstruction_cl.pt"}


def weights_in(folder: str) -> dict:
    from napari_mpi_dl._resources import resource_path

    return {k: (resource_path(f) if folder == "shipped" else Path(folder) / f)
            for k, f in FILES.items()}


def evaluate_on_validation(folder: str, out: Path, threads: int) -> dict:
    from napari_mpi_dl.cli.main import main

    w = weights_in(folder)
    args = ["contrastive", "evaluate", "--test-sm", "validation", "--test-seed", "2",
            "--threads", str(threads), "--out", str(out)]
    for (task, setting), path in w.items():
        args += [f"--{task}-{setting}", str(path)]
    if main(args) != 0:
        raise SystemExit(f"evaluation of {folder} failed")
    return json.loads((out / "contrastive_evaluation.json").read_text())


def score(record: dict, task: str, setting: str) -> float:
    rows = record["recovery" if task == "recovery" else "reconstruction"]
    return float(next(r for r in rows if r["key"] == setting)["nrmse_mean_percent"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--a", required=True, help="weights folder or 'shipped'")
    p.add_argument("--b", required=True, help="weights folder or 'shipped'")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    records = {name: evaluate_on_validation(folder, args.out / name, args.threads)
               for name, folder in (("a", args.a), ("b", args.b))}
    lines = [f"Validation calibration ({records['a']['info']['test_sm']}, noise seed 2); "
             f"a = {args.a}, b = {args.b}.", "",
             "| task | setting | a: mean NRMSE (%) | b: mean NRMSE (%) | chosen |",
             "|---|---|---:|---:|---|"]
    choice = {}
    for task, setting in FILES:
        a, b = (score(records[n], task, setting) for n in ("a", "b"))
        choice[f"{task}/{setting}"] = "b" if b < a else "a"
        lines.append(f"| {task} | {setting} | {a:.2f} | {b:.2f} | {choice[f'{task}/{setting}']} |")
    lines += ["", "Rule (fixed before scoring): per task and setting the lower mean euclidean "
              "NRMSE on the validation calibration (recovered columns; single voxels)."]
    text = "\n".join(lines) + "\n"
    (args.out / "choice.md").write_text(text)
    (args.out / "choice.json").write_text(json.dumps(
        {"a": args.a, "b": args.b, "choice": choice,
         "scores": {f"{t}/{s}": {n: score(records[n], t, s) for n in ("a", "b")}
                    for t, s in FILES}}, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
