"""``napari-mpi-dl contrastive``: evaluate, recover SMs and reconstruct directly.

Examples::

    napari-mpi-dl contrastive evaluate --out results/contrastive
    napari-mpi-dl contrastive recover --sm undersampled.mdf --out dense.mdf
    napari-mpi-dl contrastive reconstruct --measurement meas.mdf --out images.npy

Training is ``napari-mpi-dl train recover`` / ``train reconstruct`` (see
:mod:`napari_mpi_dl.cli.train_contrastive`). Without ``--weights`` the shipped CL models are used.
"""

from __future__ import annotations

import argparse
import sys
import time


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "contrastive", help="contrastive framework: evaluate, recover SMs, reconstruct directly",
        description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="contrastive_command", metavar="ACTION")

    ev = sub.add_parser("evaluate", help="the paper's evaluation (tables + figures)",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ev.add_argument("-o", "--output", "--out", dest="out", required=True, help="output folder")
    for task in ("recovery", "reconstruction"):
        for setting in ("wo-cl", "cl"):
            ev.add_argument(f"--{task}-{setting}", metavar="FILE.pt", default=None,
                            help=f"{task} {setting} weights (default: shipped)")
    ev.add_argument("--test-seed", type=int, default=1, help="noise seed of the test SM")
    ev.add_argument("--training-seed", type=int, default=0,
                    help="noise seed of the training SM (classic reconstruction)")
    ev.add_argument("--test-sm", choices=("independent", "identical", "validation"),
                    default=None,
                    help="independent: the test SM is a separate calibration (perimag-like "
                         "tracer, own delta sample, positioning error, drift); identical: the "
                         "ideal particle with the same physics on both grids; validation: a "
                         "third calibration (drift the other way, own robot errors; use another "
                         "--test-seed) to choose models on, never the test (default: the pair "
                         "the recovery models were trained with)")
    ev.add_argument("--device", default="auto")
    ev.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ev.set_defaults(func=_evaluate)

    rc = sub.add_parser("recover", help="densify an MDF system matrix along y",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    rc.add_argument("--sm", required=True,
                    help="input system matrix (MDF); a denser SM is subsampled to the pitch the "
                         "model serves (y pitch twice its shift, x pitch its voxel: every 4th row "
                         "and 2nd column of a 1 mm SM for the shipped model)")
    rc.add_argument("--step-y", type=int, default=0,
                    help="use every N-th row in y (0 = automatic, 1 = every row)")
    rc.add_argument("--step-x", type=int, default=0,
                    help="use every N-th column in x (0 = automatic, 1 = every column)")
    rc.add_argument("-o", "--output", "--out", dest="out", required=True, help="output MDF file")
    rc.add_argument("--weights", default=None, help="recovery weights (default: shipped CL)")
    rc.add_argument("--setting", choices=("cl", "wo-cl"), default="cl")
    rc.add_argument("--device", default="auto")
    rc.set_defaults(func=_recover)

    re = sub.add_parser("reconstruct", help="direct reconstruction of an MDF measurement",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    re.add_argument("--measurement", required=True, help="MDF measurement file")
    re.add_argument("-o", "--output", "--out", dest="out",
                    required=True, help="output image stack (.npy or .tif)")
    re.add_argument("--weights", default=None,
                    help="reconstruction weights (default: shipped CL)")
    re.add_argument("--setting", choices=("cl", "wo-cl"), default="cl")
    re.add_argument("--device", default="auto")
    re.set_defaults(func=_reconstruct)

    def _help(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=_help)


def _evaluate(args: argparse.Namespace) -> int:
    if args.threads:
        import torch

        torch.set_num_threads(int(args.threads))
    from napari_mpi_dl.contrastive.evaluate import EvaluationSetup, evaluate, write_results

    t0 = time.perf_counter()
    setup = EvaluationSetup(test_seed=args.test_seed, training_seed=args.training_seed,
                            sm_pair=args.test_sm)
    res = evaluate(
        {"wo-cl": args.recovery_wo_cl, "cl": args.recovery_cl},
        {"wo-cl": args.reconstruction_wo_cl, "cl": args.reconstruction_cl},
        setup=setup, device=args.device, progress=lambda m: print(m, file=sys.stderr))
    files = write_results(res, args.out)
    print(open(files["markdown"]).read())
    print(f"wrote {', '.join(str(p) for p in files.values())} in "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


def _recover(args: argparse.Namespace) -> int:
    from napari_mpi_dl.contrastive.inference import load_model, recover_system_matrix
    from napari_mpi_dl.io.mdf_read import read_system_matrix
    from napari_mpi_dl.io.mdf_write import write_system_matrix

    model = load_model(args.weights, task="recovery", setting=args.setting, device=args.device)
    sm = read_system_matrix(args.sm)
    t0 = time.perf_counter()
    dense, mask = recover_system_matrix(model, sm, steps=(args.step_y, args.step_x))
    dt = time.perf_counter() - t0
    write_system_matrix(args.out, dense)
    print(f"wrote {args.out}: {sm.size_xyz[0]} x {sm.size_xyz[1]} -> {dense.size_xyz[0]} x "
          f"{dense.size_xyz[1]} voxels ({int(mask.sum())} recovered) in {dt:.2f} s")
    return 0


def _reconstruct(args: argparse.Namespace) -> int:
    import numpy as np

    from napari_mpi_dl.contrastive.inference import load_model, reconstruct_measurement
    from napari_mpi_dl.io.atomic import atomic_path
    from napari_mpi_dl.io.mdf_read import read_measurement

    model = load_model(args.weights, task="reconstruction", setting=args.setting,
                       device=args.device)
    images = reconstruct_measurement(model, read_measurement(args.measurement))
    out = str(args.out)
    if out.endswith((".tif", ".tiff")):
        import tifffile

        with atomic_path(out) as tmp:
            tifffile.imwrite(tmp, images.astype(np.float32))
    elif out.endswith(".npy"):
        with atomic_path(out) as tmp:
            np.save(tmp, images.astype(np.float32))
    else:
        raise ValueError(f"--out must end with .npy, .tif or .tiff, got {out!r}")
    print(f"wrote {out}: {images.shape[0]} image(s) of {images.shape[1]} x {images.shape[2]}")
    return 0
