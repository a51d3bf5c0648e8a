"""Domain Y ablation of DC_GAN on realistic data, chosen on validation phantoms.

Three arms differ only in domain Y (:mod:`napari_mpi_dl.dcgan.realistic_data`):
``rl-model`` (Richardson-Lucy with the model PSF, the paper's choice), ``rl-measured``
(Richardson-Lucy with a measured PSF) and ``native-high`` (6 T/m natives). Domain X, the seed,
the step count and everything else are the same for every arm; each arm fine-tunes the shipped
generator.

Steps (each a separate call, so that arms can run in parallel on a shared machine)::

    python scripts/dcgan_domain_y_ablation.py prepare-x RUN            # shared domain X
    python scripts/dcgan_domain_y_ablation.py prepare-y RUN ARM        # that arm's Y + domains
    napari-mpi-dl train deblur --data RUN/domains_ARM.npz --finetune shipped ...  (see README
        of the results: the exact command is printed by 'command')
    python scripts/dcgan_domain_y_ablation.py command RUN ARM --steps N
    python scripts/dcgan_domain_y_ablation.py evaluate RUN [--out docs/results/dcgan]

Validation (never the test series): :func:`napari_mpi_dl.analysis.scenarios.validation_set`,
i.e. two-tube phantoms with gaps 1.2, 2.0 and 2.8 mm and the first MNIST *training* digits (the
realistic data never draw the first 50 training digits), simulated with the physics and noise
of several mismatch scenarios. DC_GAN runs through the model card as ``deblur`` does (pixel
size and scan mode of the scenario). The arm with the highest mean PSNR over the validation
scenarios wins, provided that it merges no validation tube pair the native resolves.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ARMS = ("rl-model", "rl-measured", "native-high", "rl-ideal")
VALIDATION_SCENARIOS = ("ideal", "noise-30db", "relaxation-30db", "relaxation-mild",
                        "polydisperse", "gradient-error", "y-scan")
N_X, N_Y = 400, 200
VALIDATION_DIGITS = 8


def _config(arm: str = "rl-model"):
    from napari_mpi_dl.dcgan.realistic_data import RealisticConfig

    return RealisticConfig(n_x=N_X, n_y=N_Y, y_kind=arm, seed=0)


def prepare_x(run: Path) -> None:
    from napari_mpi_dl.dcgan.realistic_data import simulate_domain, training_digits
    from napari_mpi_dl.phantoms.mnist import mnist_phantoms

    run.mkdir(parents=True, exist_ok=True)
    cfg = _config()
    ix, _ = training_digits(cfg)
    t0 = time.perf_counter()
    x = simulate_domain(cfg, "x", mnist_phantoms(ix))
    np.save(run / "x_raw.tmp.npy", x)
    (run / "x_raw.tmp.npy").replace(run / "x_raw.npy")
    print(f"domain X: {x.shape} in {time.perf_counter() - t0:.0f} s")


def prepare_y(run: Path, arm: str) -> None:
    from napari_mpi_dl.dcgan.data import Domains, save_domains
    from napari_mpi_dl.dcgan.realistic_data import (
        realistic_card,
        simulate_domain,
        training_digits,
    )
    from napari_mpi_dl.phantoms.mnist import mnist_phantoms
    from napari_mpi_dl.physics.presets import DEFAULT_GRID

    cfg = _config(arm)
    ix, iy = training_digits(cfg)
    t0 = time.perf_counter()
    y = simulate_domain(cfg, "y", mnist_phantoms(iy))
    while not (run / "x_raw.npy").is_file():  # prepare-x may still be running
        time.sleep(10)
    x = np.load(run / "x_raw.npy")
    domains = Domains.from_arrays(
        x, y, source="generated realistic (MNIST training digits, tracer physics)",
        y_source=arm, realistic=cfg.as_dict(), x_phantoms=cfg.n_x, y_phantoms=cfg.n_y,
        seed=cfg.seed, pixel_mm=list(DEFAULT_GRID.pixel_mm), fov_mm=list(DEFAULT_GRID.fov_mm),
        image_shape=list(DEFAULT_GRID.shape), scan_mode="x",
        card=realistic_card(cfg).to_dict())
    save_domains(run / f"domains_{arm}.npz", domains)
    print(f"domain Y {arm}: {y.shape} in {time.perf_counter() - t0:.0f} s")


def train_command(run: Path, arm: str, steps: int, time_limit_min: float) -> str:
    out = run / arm
    return (f"napari-mpi-dl train deblur --data {run}/domains_{arm}.npz --finetune shipped "
            f"--seed 0 --steps {steps} --batch-size 1 --crop-size 0 --lr 1e-4 --gan-mode lsgan "
            f"--ngf 16 --n-blocks 4 --ndf 32 --d-layers 3 --nce-layers 0,2,3,5 "
            f"--num-patches 256 --lambda-con 2 --lambda-gan 1 --lambda-idt 1 --device cpu "
            f"--threads 1 --checkpoint-dir {out} --checkpoint-every 500 "
            f"--time-limit-min {time_limit_min:g} --out {out}/dcgan_weights.pt --no-progress")


class _Context:
    def __init__(self, settings) -> None:
        self.settings = settings


def _validation(scenarios):
    """{scenario: (phantoms, natives)} of the validation sets (simulated once)."""
    from napari_mpi_dl.analysis.scenarios import get_scenario, validation_set

    return {name: validation_set(get_scenario(name), n_digits=VALIDATION_DIGITS, seed=0)
            for name in scenarios}


def score(weights: str | None, sets: dict, scenarios: dict | None = None) -> dict:
    """Validation metrics of DC_GAN (weights; None = shipped) and of the native image.

    ``scenarios``: {name: Scenario} for names that are not in the registry (derived validation
    scenarios); the others are looked up by name.
    """
    import warnings

    from napari_mpi_dl.analysis.metrics import image_metrics
    from napari_mpi_dl.analysis.profiles import DEFAULT_DIP_THRESHOLD, sample_profile
    from napari_mpi_dl.analysis.protocol import peaks_at_tubes, profile_verdict
    from napari_mpi_dl.analysis.scenarios import VALIDATION_GAPS_MM, get_scenario
    from napari_mpi_dl.dcgan.card import CardWarning
    from napari_mpi_dl.dcgan.evaluation_adapter import make_method
    from napari_mpi_dl.phantoms.two_tube import DEFAULT_TUBE_DIAMETER_MM, two_tube_geometry

    fn = make_method(weights, device="cpu", num_threads=1)
    out = {}
    for name, (phantoms, natives) in sets.items():
        sc = (scenarios or {}).get(name) or get_scenario(name)
        layer = sc.grid.layer_kwargs()
        rows = {"native": [], "dcgan": []}
        tubes = {"native": [], "dcgan": []}
        for i, (p, n) in enumerate(zip(phantoms, natives, strict=True)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CardWarning)
                d = fn(n, _Context(sc.settings))
            for key, im in (("native", n), ("dcgan", d)):
                m = image_metrics(p, np.asarray(im, np.float64))
                rows[key].append((m["psnr_db"], m["ssim"]))
                if i < len(VALIDATION_GAPS_MM):
                    gap = VALIDATION_GAPS_MM[i]
                    line = two_tube_geometry(gap_mm=gap, diameter_mm=DEFAULT_TUBE_DIAMETER_MM,
                                             orientation=sc.tube_orientation).profile_line_mm
                    prof = sample_profile(np.asarray(im, np.float64), *line,
                                          scale=layer["scale"], translate=layer["translate"])
                    ana = profile_verdict(prof, threshold=DEFAULT_DIP_THRESHOLD)
                    ok = ana.resolved and peaks_at_tubes(ana, gap_mm=gap,
                                                         diameter_mm=DEFAULT_TUBE_DIAMETER_MM)
                    tubes[key].append({"gap_mm": gap, "dip": round(float(ana.dip), 3),
                                       "resolved": bool(ok)})
        res = {}
        for key in rows:
            a = np.asarray(rows[key])
            res[key] = {"psnr_db": round(float(a[:, 0].mean()), 2),
                        "ssim": round(float(a[:, 1].mean()), 3), "tubes": tubes[key]}
        merged = [t["gap_mm"] for t, s in zip(tubes["native"], tubes["dcgan"], strict=True)
                  if t["resolved"] and not s["resolved"]]
        res["merged_native_resolved_gaps_mm"] = merged
        res["card_problems"] = list(fn.problems)
        fn.problems.clear()
        out[name] = res
    return out


def evaluate(run: Path, out_dir: Path, arms=ARMS, extra: dict | None = None) -> None:
    sets = _validation(VALIDATION_SCENARIOS)
    results = {"shipped": score(None, sets)}
    for name, w in (extra or {}).items():
        results[name] = score(str(w), sets)
    for arm in arms:
        w = run / arm / "dcgan_weights.pt"
        if w.is_file():
            results[arm] = score(str(w), sets)
            rec = run / arm / "dcgan_weights.pt.json"
            rec = rec if rec.is_file() else run / arm / "dcgan_weights.json"
            info = json.loads(rec.read_text())
            results[arm]["_train"] = {k: info.get(k) for k in ("steps", "wall_time_s",
                                                               "command", "hardware")}
            results[arm]["_train"]["command"] = str(info.get("command")).replace(str(run),
                                                                                 "RUN")
        else:
            print(f"{arm}: no weights at {w}", file=sys.stderr)
    summary = {}
    for arm, res in results.items():
        sc = [k for k in res if not k.startswith("_")]
        summary[arm] = {
            "mean_psnr_db": round(float(np.mean([res[s]["dcgan"]["psnr_db"] for s in sc])), 2),
            "mean_ssim": round(float(np.mean([res[s]["dcgan"]["ssim"] for s in sc])), 3),
            "resolved": sum(t["resolved"] for s in sc for t in res[s]["dcgan"]["tubes"]),
            "merged": sum(len(res[s]["merged_native_resolved_gaps_mm"]) for s in sc),
        }
    candidates = [a for a in arms if a in summary and summary[a]["merged"] == 0] or \
        [a for a in arms if a in summary]
    shipped = summary["shipped"]
    for sm in summary.values():
        sm["vs_shipped_psnr_db"] = round(sm["mean_psnr_db"] - shipped["mean_psnr_db"], 2)
    winner = max(candidates, key=lambda a: summary[a]["mean_psnr_db"]) if candidates else None
    record = {"validation_scenarios": list(VALIDATION_SCENARIOS),
              "validation_digits": VALIDATION_DIGITS, "summary": summary, "winner": winner,
              "criterion": "highest mean validation PSNR over the scenarios among the arms that "
                           "merge no validation tube pair the native resolves",
              "results": results}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "domain_y_ablation.json").write_text(json.dumps(record, indent=2) + "\n")
    (out_dir / "domain_y_ablation.md").write_text(markdown(record))
    print(markdown(record))


def markdown(record: dict) -> str:
    res = record["results"]
    arms = list(res)
    scen = record["validation_scenarios"]
    lines = ["Validation PSNR (dB) / SSIM, mean over the tubes at 1.2, 2.0, 2.8 mm and "
             f"{record['validation_digits']} MNIST training digits; 'res' = validation tube "
             "pairs resolved (of 3).", "",
             "| scenario | native | " + " | ".join(arms) + " |",
             "|---|---|" + "---|" * len(arms)]
    for s in scen:
        nat = res[arms[0]][s]["native"]
        cells = [f"{nat['psnr_db']:.2f} / {nat['ssim']:.3f} (res "
                 f"{sum(t['resolved'] for t in nat['tubes'])})"]
        for a in arms:
            d = res[a][s]["dcgan"]
            cells.append(f"{d['psnr_db']:.2f} / {d['ssim']:.3f} (res "
                         f"{sum(t['resolved'] for t in d['tubes'])})")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines.append("| **mean** | | " + " | ".join(
        f"**{record['summary'][a]['mean_psnr_db']:.2f} / {record['summary'][a]['mean_ssim']:.3f}**"
        f" (merged {record['summary'][a]['merged']})" for a in arms) + " |")
    lines += ["", f"Winner: **{record['winner']}** ({record['criterion']})."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("prepare-x")
    a.add_argument("run", type=Path)
    a = sub.add_parser("prepare-y")
    a.add_argument("run", type=Path)
    a.add_argument("arm", choices=ARMS)
    a = sub.add_parser("command")
    a.add_argument("run", type=Path)
    a.add_argument("arm", choices=ARMS)
    a.add_argument("--steps", type=int, default=2000)
    a.add_argument("--time-limit-min", type=float, default=30)
    a = sub.add_parser("evaluate")
    a.add_argument("run", type=Path)
    a.add_argument("--out", type=Path, default=Path("docs/results/dcgan"))
    a.add_argument("--arms", default=",".join(ARMS))
    a.add_argument("--extra", action="append", default=[], metavar="NAME=WEIGHTS",
                   help="another model to score beside the arms (e.g. a longer fine-tune)")
    args = p.parse_args(argv)
    if args.cmd == "prepare-x":
        prepare_x(args.run)
    elif args.cmd == "prepare-y":
        prepare_y(args.run, args.arm)
    elif args.cmd == "command":
        print(train_command(args.run, args.arm, args.steps, args.time_limit_min))
    else:
        extra = dict(e.split("=", 1) for e in args.extra)
        evaluate(args.run, args.out, tuple(a for a in args.arms.split(",") if a), extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
