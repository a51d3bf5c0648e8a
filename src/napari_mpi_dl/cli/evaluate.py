"""``napari-mpi-dl evaluate``: the deblurring paper's two-tube protocol in one command.

Writes ``two_tube_protocol.csv`` (one row per gap and method), ``two_tube_protocol.md`` (Table 1
layout) and ``two_tube_protocol.png`` (Figure 2 layout) into ``--out``; with ``--mnist N`` also
``mnist.csv`` / ``mnist.md`` (mean PSNR/SSIM over N held-out digits).

The mismatch protocol: ``--scenario NAME`` (repeatable; ``--list-scenarios``) runs the protocol
in each named scenario (:mod:`napari_mpi_dl.analysis.scenarios`: fixed physics, noise and tube
orientation; deconvolution with the model, the measured and, where it exists, the exact PSF,
tuned on validation phantoms unless ``--tuning defaults``) and writes each scenario's files into
``--out/NAME/`` plus ``summary.csv`` / ``summary.md`` / ``summary.png`` (method x scenario).

Examples::

    napari-mpi-dl evaluate --out results/
    napari-mpi-dl evaluate --out results_30db/ --snr-db 30 --seed 0
    napari-mpi-dl evaluate --out quick/ --methods native,wiener --gaps 1.4 3.0
    napari-mpi-dl evaluate --out mismatch/ --scenario ideal --scenario relaxation --mnist 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_mpi_dl.phantoms.two_tube import PROTOCOL_GAPS_MM

CSV_NAME = "two_tube_protocol.csv"
MARKDOWN_NAME = "two_tube_protocol.md"
FIGURE_NAME = "two_tube_protocol.png"
SUMMARY_NAMES = ("summary.csv", "summary.md", "summary.png")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="two-tube resolution protocol: PSNR, SSIM, dip per gap and method (CSV, MD, PNG)",
        description="Run the deblurring paper's two-tube protocol (gaps 1.0 to 3.4 mm, tubes "
                    "1.2 mm, low gradient) for the native image and every registered method "
                    "(deconvolution baselines with the exact and a wrong PSF; optional providers "
                    "such as DC_GAN) and write a CSV, a Markdown table and a PNG figure.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("-o", "--output", "--out", dest="out", required=True, help="output directory")
    p.add_argument("--snr-db", type=float, default=None,
                   help="white noise on the native images (e.g. 30); default none")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise and of samplers")
    p.add_argument("--methods", default="all",
                   help="comma-separated method names, or 'all' (see --list-methods)")
    p.add_argument("--list-methods", action="store_true", help="print the methods and exit")
    p.add_argument("--gaps", type=float, nargs="+", default=list(PROTOCOL_GAPS_MM), metavar="MM",
                   help="gaps between the tube edges in mm")
    p.add_argument("--gradient-t-per-m", default="low", help="gradient in T/m or low/high")
    p.add_argument("--wrong-psf-gradient-error", type=float, default=-0.2,
                   help="relative gradient error of the wrong PSF (-0.2: PSF 25 %% too wide)")
    p.add_argument("--wrong-psf-diameter-error", type=float, default=0.0,
                   help="relative particle-diameter error of the wrong PSF (e.g. 0.2)")
    p.add_argument("--dip-threshold", type=float, default=0.2,
                   help="dip at which two tubes count as resolved")
    p.add_argument("--width", type=int, default=1, help="profile width in pixels")
    p.add_argument("--no-figure", action="store_true", help="skip the PNG figure")
    p.add_argument("--mnist", type=int, default=0, metavar="N",
                   help="also evaluate N held-out MNIST digits (0 = skip)")
    p.add_argument("--provider", action="append", default=None, metavar="MODULE",
                   help="extra module that registers methods (repeatable)")
    p.add_argument("--scenario", action="append", default=None, metavar="NAME",
                   help="run the mismatch protocol in this scenario (repeatable, or 'all'; "
                        "see --list-scenarios); fixes gradient and noise")
    p.add_argument("--list-scenarios", action="store_true", help="print the scenarios and exit")
    p.add_argument("--tuning", choices=("validation", "defaults"), default="validation",
                   help="with --scenario: tune Wiener balance / Richardson-Lucy iterations per "
                        "PSF on validation phantoms, or use the package defaults")
    p.add_argument("--validation-digits", type=int, default=4, metavar="N",
                   help="MNIST training digits in the tuning set (with the tubes 1.2, 2.0, 2.8)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command; the methods it registers (DC_GAN, ``--provider``) are gone afterwards,
    so an in-process call leaves the registry as it found it."""
    from napari_mpi_dl.analysis import methods

    with methods.REGISTRY.restored():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from napari_mpi_dl.analysis import methods, protocol
    from napari_mpi_dl.dcgan.evaluation_adapter import register_dcgan
    from napari_mpi_dl.io.atomic import write_text_atomic
    from napari_mpi_dl.physics.presets import gradient_from_preset
    from napari_mpi_dl.recon.psf_models import PSFModel

    for message in methods.load_providers([register_dcgan, *(args.provider or [])]):
        print(f"note: {message}", file=sys.stderr)
    if args.list_methods:
        for name, method in methods.available().items():
            print(f"{name}: {method.label}")
        return 0
    if args.list_scenarios:
        from napari_mpi_dl.analysis.scenarios import SCENARIOS

        for name, sc in SCENARIOS.items():
            print(f"{name}: {sc.description}")
        return 0
    methods = None if args.methods.strip() == "all" else tuple(
        m.strip() for m in args.methods.split(",") if m.strip())
    if args.scenario:
        return run_scenarios(args, methods)
    config = protocol.ProtocolConfig(
        gaps_mm=tuple(args.gaps), gradient_t_per_m=gradient_from_preset(args.gradient_t_per_m),
        snr_db=args.snr_db, seed=args.seed,
        wrong_psf=PSFModel("wrong", diameter_error=args.wrong_psf_diameter_error,
                           gradient_error=args.wrong_psf_gradient_error),
        methods=methods, dip_threshold=args.dip_threshold, profile_width_px=args.width,
    )
    names = config.method_names()  # validates before any work
    out = Path(args.out)
    total = len(config.gaps_mm) * len(names)
    print(f"two-tube protocol: {len(config.gaps_mm)} gaps x {len(names)} methods", file=sys.stderr)

    def progress(done: int, n: int) -> None:
        if done == n or done % max(1, len(names)) == 0:
            print(f"  {done}/{n}", file=sys.stderr)

    result = protocol.run_protocol(config, progress=progress)
    assert len(result.rows) == total
    from napari_mpi_dl.analysis.tables import (
        CSV_FIELDS,
        MNIST_FIELDS,
        markdown_table,
        mnist_markdown,
        write_csv,
    )

    write_csv(out / CSV_NAME, result.rows, CSV_FIELDS)
    table = markdown_table(result)
    write_text_atomic(out / MARKDOWN_NAME, table)
    written = [out / CSV_NAME, out / MARKDOWN_NAME]
    if not args.no_figure:
        from napari_mpi_dl.analysis.figures import write_protocol_figure

        written.append(write_protocol_figure(result, out / FIGURE_NAME))
    if args.mnist:
        try:
            rows = protocol.run_mnist_evaluation(config, n_digits=args.mnist)
        except ModuleNotFoundError as exc:
            print(f"note: MNIST evaluation skipped: {exc}", file=sys.stderr)
        else:
            write_csv(out / "mnist.csv", rows, MNIST_FIELDS)
            write_text_atomic(out / "mnist.md", mnist_markdown(rows))
            written += [out / "mnist.csv", out / "mnist.md"]
            table += "\n" + mnist_markdown(rows)
    print(table)
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


def run_scenarios(args: argparse.Namespace, methods: tuple[str, ...] | None) -> int:
    """``--scenario``: the protocol per scenario into ``--out/NAME/`` and a summary across them."""
    import json

    from napari_mpi_dl.analysis import protocol
    from napari_mpi_dl.analysis.scenarios import SCENARIOS, get_scenario
    from napari_mpi_dl.analysis.tables import (
        CSV_FIELDS,
        MNIST_FIELDS,
        SUMMARY_FIELDS,
        markdown_table,
        mnist_markdown,
        summary_markdown,
        summary_rows,
        write_csv,
    )
    from napari_mpi_dl.io.atomic import write_text_atomic

    if args.snr_db is not None or args.gradient_t_per_m != "low":
        raise ValueError("--snr-db and --gradient-t-per-m are fixed by each --scenario; "
                         "drop them (see --list-scenarios)")
    names = list(SCENARIOS) if args.scenario == ["all"] else list(dict.fromkeys(args.scenario))
    scenarios = [get_scenario(n) for n in names]  # validates every name before any work
    configs = [protocol.ProtocolConfig(
        gaps_mm=tuple(args.gaps), seed=args.seed, methods=methods, scenario=sc,
        dip_threshold=args.dip_threshold, profile_width_px=args.width,
        tune=args.tuning == "validation", n_validation_digits=args.validation_digits)
        for sc in scenarios]
    for cfg in configs:
        cfg.method_names()  # validates the methods in every scenario before any work
    out = Path(args.out)
    summary = []
    for sc, cfg in zip(scenarios, configs, strict=True):
        print(f"scenario {sc.name}: {len(cfg.gaps_mm)} gaps x {len(cfg.method_names())} methods"
              + (f", {args.mnist} digits" if args.mnist else ""), file=sys.stderr)
        result = protocol.run_protocol(cfg)
        folder = out / sc.name
        write_csv(folder / CSV_NAME, result.rows, CSV_FIELDS)
        table = markdown_table(result)
        mnist_rows = []
        if args.mnist:
            mnist_rows = protocol.run_mnist_evaluation(cfg, n_digits=args.mnist,
                                                       context=result.context)
            write_csv(folder / "mnist.csv", mnist_rows, MNIST_FIELDS)
            table += "\n" + mnist_markdown(mnist_rows)
        write_text_atomic(folder / MARKDOWN_NAME, table)
        record = {"scenario": sc.as_dict(), "seed": args.seed, "gaps_mm": list(cfg.gaps_mm),
                  "tuning": [t.__dict__ for t in result.tuning], "n_digits": args.mnist}
        write_text_atomic(folder / "scenario.json", json.dumps(record, indent=2) + "\n")
        if not args.no_figure:
            from napari_mpi_dl.analysis.figures import write_protocol_figure

            write_protocol_figure(result, folder / FIGURE_NAME)
        summary += summary_rows(sc.name, result, mnist_rows)
        print(f"  wrote {folder}", file=sys.stderr)
    titles = {sc.name: sc.title for sc in scenarios}
    table = summary_markdown(summary, titles)
    write_csv(out / SUMMARY_NAMES[0], summary, SUMMARY_FIELDS)
    write_text_atomic(out / SUMMARY_NAMES[1], table)
    if not args.no_figure:
        from napari_mpi_dl.analysis.figures import write_summary_figure

        write_summary_figure(summary, out / SUMMARY_NAMES[2], titles=titles)
    print(table)
    print(f"wrote {out}/NAME/ per scenario and {out}/summary.*", file=sys.stderr)
    return 0
