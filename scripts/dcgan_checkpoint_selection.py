"""Choose a DC_GAN training run's checkpoint on validation phantoms, and decide against the
shipped model.

A long run writes its checkpoint every N steps (``--checkpoint-every``); copies of them (any
names) are scored here, with the final weights, on the validation scenarios of the domain Y
ablation (:mod:`dcgan_domain_y_ablation`: the tube pairs at 1.2 / 2.0 / 2.8 mm and MNIST
*training* digits that realistic data never draw, 7 mismatch scenarios; never the test series).
Each checkpoint's generator gets the model card of the run's data (``--domains``), so it is
deblurred through the card exactly as ``deblur`` would (transposition, resampling).

Rules, fixed before any score was seen:

* the chosen candidate is the one with the highest mean validation PSNR among those that merge
  no validation tube pair the native resolves;
* it replaces the shipped weights only if it is at least as good as the shipped model on mean
  validation PSNR **and** mean validation SSIM, resolves at least as many validation tube pairs,
  and merges none.

    python scripts/dcgan_checkpoint_selection.py --domains runs/realistic.npz \\
        --candidate step2000=runs/real8k/ck_2.pt ... \\
        --candidate final=runs/real8k/dcgan_weights.pt \\
        --out docs/results/dcgan/realistic_selection

"shipped" is what ``deblur`` uses without a weights file for each scenario's scan mode (for an
isotropic scan: the isotropic model when one is shipped, else the x-scan model, forced).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dcgan_domain_y_ablation import (  # noqa: E402
    VALIDATION_DIGITS,
    VALIDATION_SCENARIOS,
    score,
)

#: validation-only scenarios of an isotropic-scan model: registry scenarios with the scan mode
#: replaced by "isotropic" (name -> registry scenario it derives from)
DERIVED_ISOTROPIC = {"isotropic-30db": "noise-30db",
                     "isotropic-relaxation-30db": "relaxation-30db",
                     "isotropic-polydisperse": "polydisperse"}


def scenarios_named(names) -> dict:
    """{name: Scenario} of registry names and the derived isotropic ones."""
    from dataclasses import replace

    from napari_mpi_dl.analysis.scenarios import get_scenario

    out = {}
    for name in names:
        if name in DERIVED_ISOTROPIC:
            base = get_scenario(DERIVED_ISOTROPIC[name])
            out[name] = replace(base, name=name,
                                settings=base.settings.replace(scan_mode="isotropic"))
        else:
            out[name] = get_scenario(name)
    return out


def as_weights(path: Path, card: dict, folder: Path) -> tuple[Path, int]:
    """A weights file (with ``card``) of the generator in a weights file or checkpoint."""
    from napari_mpi_dl.dcgan.weights import export_generator, read_generator_state

    _, _, info = read_generator_state(path)
    if not info.get("checkpoint") and "card" in info:
        return path, int(info.get("step") or 0)
    out = folder / f"{path.stem}.pt"
    return out, export_generator(path, out, card=card, info={"source": str(path.name)})


def summarise(res: dict) -> dict:
    import numpy as np

    sc = [k for k in res if not k.startswith("_")]
    return {
        "mean_psnr_db": round(float(np.mean([res[s]["dcgan"]["psnr_db"] for s in sc])), 2),
        "mean_ssim": round(float(np.mean([res[s]["dcgan"]["ssim"] for s in sc])), 3),
        "resolved": sum(t["resolved"] for s in sc for t in res[s]["dcgan"]["tubes"]),
        "merged": sum(len(res[s]["merged_native_resolved_gaps_mm"]) for s in sc),
    }


def decide(summary: dict) -> tuple[str | None, bool]:
    """(chosen candidate, whether it replaces the shipped model) by the module's rules."""
    cands = [k for k in summary if k != "shipped" and summary[k]["merged"] == 0]
    if not cands:
        return None, False
    best = max(cands, key=lambda k: summary[k]["mean_psnr_db"])
    b, s = summary[best], summary["shipped"]
    replace = (b["mean_psnr_db"] >= s["mean_psnr_db"] and b["mean_ssim"] >= s["mean_ssim"]
               and b["resolved"] >= s["resolved"])
    return best, replace


def markdown(record: dict) -> str:
    lines = ["Validation (never the test series): tube pairs at 1.2 / 2.0 / 2.8 mm and "
             f"{record['validation_digits']} MNIST training digits in "
             f"{len(record['validation_scenarios'])} scenarios "
             f"({', '.join(record['validation_scenarios'])}).", "",
             "| model | step | mean PSNR (dB) | mean SSIM | tube pairs resolved (of "
             f"{3 * len(record['validation_scenarios'])}) | merged |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, sm in record["summary"].items():
        lines.append(f"| {name} | {record['steps'].get(name, '')} | {sm['mean_psnr_db']:.2f} | "
                     f"{sm['mean_ssim']:.3f} | {sm['resolved']} | {sm['merged']} |")
    lines += ["", f"Chosen candidate: **{record['chosen']}**; replaces the shipped weights: "
              f"**{'yes' if record['replace'] else 'no'}**.", "", "Rules: " + record["rules"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--domains", type=Path, required=True,
                   help="the run's domains cache (.npz); its card goes into checkpoints")
    p.add_argument("--candidate", action="append", default=[], metavar="NAME=PATH",
                   help="a checkpoint or weights file to score")
    p.add_argument("--scenarios", nargs="+", default=list(VALIDATION_SCENARIOS),
                   help="validation scenarios (registry names, or for an isotropic model: "
                        + ", ".join(DERIVED_ISOTROPIC) + ")")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    from napari_mpi_dl.dcgan.data import load_saved_domains

    card = load_saved_domains(args.domains).info["card"]
    from napari_mpi_dl.analysis.scenarios import validation_set

    scen = scenarios_named(args.scenarios)
    sets = {n: validation_set(sc, n_digits=VALIDATION_DIGITS, seed=0) for n, sc in scen.items()}
    results = {"shipped": score(None, sets, scen)}
    steps: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for item in args.candidate:
            name, path = item.split("=", 1)
            weights, steps[name] = as_weights(Path(path), card, Path(tmp))
            results[name] = score(str(weights), sets, scen)
            print(name, steps[name], summarise(results[name]), flush=True)
    summary = {k: summarise(v) for k, v in results.items()}
    chosen, replace = decide(summary)
    record = {"validation_scenarios": list(args.scenarios),
              "validation_digits": VALIDATION_DIGITS, "summary": summary, "steps": steps,
              "chosen": chosen, "replace": replace,
              "rules": ("the candidate with the highest mean validation PSNR among those that "
                        "merge no validation tube pair the native resolves; it replaces the "
                        "shipped weights only if it is at least as good as the shipped model "
                        "on mean validation PSNR and SSIM, resolves at least as many validation "
                        "tube pairs and merges none"),
              "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "checkpoint_selection.json").write_text(json.dumps(record, indent=2) + "\n")
    (args.out / "checkpoint_selection.md").write_text(markdown(record))
    print(markdown(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
