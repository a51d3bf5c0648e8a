"""``napari-mpi-dl train deblur``: train DC_GAN (native low-gradient -> deblurred images).

Examples::

    napari-mpi-dl train deblur --generate 200 --steps 500 --checkpoint-dir runs/dcgan
    napari-mpi-dl train deblur --data train.h5 --epochs 5 --device cuda --resume
    napari-mpi-dl train deblur --generate 1500 --realistic rl-ideal \
        --realistic-scan-modes isotropic --out dcgan_weights_isotropic.pt
    torchrun --standalone --nproc_per_node=2 -m napari_mpi_dl.cli.main train deblur --data d.h5

Ctrl-C stops the run; the checkpoint written last (``<checkpoint-dir>/dcgan_last.pt``) is kept
and ``--resume`` continues from it. Stopping, resuming, progress and provenance work as in every
training command (:mod:`napari_mpi_dl.cli._train_runner`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from napari_mpi_dl.cli import _train_runner


def _snr(value: str) -> float | None:
    if value.lower() in ("none", "off", ""):
        return None
    return float(value)


def register(tasks) -> None:
    p = tasks.add_parser(
        "deblur", help="train DC_GAN deblurring (unpaired native -> deconvolved)",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = p.add_argument_group("data (one of --data / --generate)")
    src = data.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="FILE",
                     help="HDF5 data set from 'napari-mpi-dl dataset' (with /deconvolved/low, or "
                          "/native/high for --y-source native_high) or a .npz domains cache")
    src.add_argument("--generate", type=int, metavar="N",
                     help="simulate now from N MNIST training digits (0-1499)")
    from napari_mpi_dl.cli import _train_own_data

    _train_own_data.add_options(p, src)
    data.add_argument("--y-source", choices=("deconvolved", "native_high"), default="deconvolved")
    data.add_argument("--y-phantoms", type=int, default=None,
                      help="with --generate: phantoms used for domain Y (default N/2)")
    data.add_argument("--snr-db", type=_snr, default=30.0,
                      help="with --generate: also add noisy X natives at this SNR ('none': off)")
    from napari_mpi_dl.dcgan.data import Y_REFERENCE_RL_ITERATIONS

    data.add_argument("--rl-iterations", type=int, default=Y_REFERENCE_RL_ITERATIONS,
                      help="with --generate: Richardson-Lucy iterations for domain Y (fixed "
                           "count, no early stop)")
    data.add_argument("--no-noisy", action="store_true",
                      help="with --data: do not add /native_noisy images to domain X")
    from napari_mpi_dl.dcgan.realistic_data import Y_KINDS

    data.add_argument("--realistic", choices=Y_KINDS, default=None, metavar="Y_KIND",
                      help="with --generate: realistic randomised physics per image (tracer "
                           "presets, relaxation 0-3 us, gradient error, 20-40 dB noise, the "
                           "scan modes of --realistic-scan-modes; "
                           "napari_mpi_dl.dcgan.realistic_data) with this domain Y: "
                           + ", ".join(Y_KINDS) + " (--snr-db and --y-source do not apply)")
    data.add_argument("--realistic-scan-modes", nargs="+", choices=("x", "y", "isotropic"),
                      default=argparse.SUPPRESS, metavar="MODE",  # absent = not given
                      help="with --realistic: the scan modes drawn per image, 'x y' (default; "
                           "y-scans transposed into x: one model for both) or 'isotropic' "
                           "alone (an isotropic-scan model, for resources/"
                           "dcgan_weights_isotropic.pt)")
    data.add_argument("--save-data", metavar="FILE.npz",
                      help="with --generate: cache the generated domains for later --data runs")
    data.add_argument("--workers", type=int, default=1, metavar="N",
                      help="with --generate --realistic: simulate in N processes (the same "
                           "images for any N)")

    tr = p.add_argument_group("training")
    length = tr.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=2000)
    length.add_argument("--epochs", type=float, help="passes over the smaller domain")
    tr.add_argument("--lr", type=float, default=2e-4)
    tr.add_argument("--batch-size", type=int, default=1)
    tr.add_argument("--crop-size", type=int, default=0,
                    help="random square crops of this size; 0 trains on whole images")
    tr.add_argument("--gan-mode", choices=("lsgan", "hinge"), default="lsgan")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                    help="mixed precision on CUDA (default: on with CUDA; never on CPU)")

    arch = p.add_argument_group("model")
    arch.add_argument("--ngf", type=int, default=16)
    arch.add_argument("--n-blocks", type=int, default=4)
    arch.add_argument("--ndf", type=int, default=32)
    arch.add_argument("--d-layers", type=int, default=3)
    arch.add_argument("--nce-layers", default="0,2,3,5")
    arch.add_argument("--num-patches", type=int, default=256)
    arch.add_argument("--lambda-con", type=float, default=2.0)
    arch.add_argument("--lambda-gan", type=float, default=1.0)
    arch.add_argument("--lambda-idt", type=float, default=1.0)

    out = p.add_argument_group("run and output")
    _train_runner.add_run_options(out, checkpoint_dir="dcgan_run")
    out.add_argument("-o", "--output", "--out", dest="out", default=None,
                     help="final generator weights (default <checkpoint-dir>/dcgan_weights.pt); "
                          "the provenance goes to <weights>.json next to it")
    p.set_defaults(func=run)


def build_configs(args: argparse.Namespace, n_smaller_domain: int, world_size: int = 1):
    from napari_mpi_dl.dcgan.config import (
        DiscriminatorConfig,
        GeneratorConfig,
        LossWeights,
        ModelConfig,
        NCEConfig,
        TrainConfig,
    )

    try:
        layers = tuple(int(v) for v in str(args.nce_layers).split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--nce-layers must be comma-separated integers, got "
                         f"{args.nce_layers!r}") from None
    model = ModelConfig(
        generator=GeneratorConfig(args.ngf, args.n_blocks),
        discriminator=DiscriminatorConfig(args.ndf, args.d_layers),
        nce=NCEConfig(layers=layers, num_patches=args.num_patches),
        weights=LossWeights(con=args.lambda_con, gan=args.lambda_gan, idt=args.lambda_idt),
        gan_mode=args.gan_mode,
    )
    steps = args.steps
    if args.epochs is not None:
        from napari_mpi_dl.training.trainer import steps_for_epochs

        steps = steps_for_epochs(args.epochs, n_smaller_domain, args.batch_size, world_size,
                                 name="--epochs")
    train = TrainConfig(
        steps=steps, batch_size=args.batch_size,
        crop_size=None if args.crop_size == 0 else args.crop_size, lr=args.lr, seed=args.seed,
        checkpoint_every=args.checkpoint_every, device=args.device, amp=args.amp,
        report_every=1, preview_every=0,
    )
    return model, train


def load_training_domains(args: argparse.Namespace, log=print):
    from napari_mpi_dl.cli import _train_own_data
    from napari_mpi_dl.dcgan import data as dcdata

    if getattr(args, "realistic", None) and args.generate is None:
        raise ValueError("--realistic generates its data: use it with --generate N, not with "
                         "--data or --x/--y")
    if getattr(args, "workers", 1) < 1:
        raise ValueError(f"--workers must be an integer >= 1, got {args.workers}")
    if getattr(args, "workers", 1) != 1 and not getattr(args, "realistic", None):
        raise ValueError("--workers parallelises --realistic data generation: use it with "
                         "--generate N --realistic Y_KIND")
    if getattr(args, "realistic_scan_modes", None) and not getattr(args, "realistic", None):
        raise ValueError("--realistic-scan-modes chooses the scan modes of --realistic data: "
                         "use it with --generate N --realistic Y_KIND")
    own = _train_own_data.load_domains(args, log)
    if own is not None:
        return own
    if args.data:
        return dcdata.load_any(args.data, y_source=args.y_source,
                               include_noisy=not args.no_noisy, split_seed=args.seed)
    if getattr(args, "realistic", None):
        domains = _realistic_domains(args, log)
        if args.save_data:
            dcdata.save_domains(args.save_data, domains)
        return domains
    t0 = time.perf_counter()
    log(f"simulating {args.generate} MNIST training phantoms (Y: {args.y_source}) ...")
    domains = dcdata.generate_domains(
        args.generate, y_source=args.y_source, snr_db=args.snr_db, seed=args.seed,
        rl_iterations=args.rl_iterations, y_phantoms=args.y_phantoms,
    )
    log(f"  X {domains.x.shape[0]} images, Y {domains.y.shape[0]} images "
        f"({time.perf_counter() - t0:.0f} s)")
    if args.save_data:
        dcdata.save_domains(args.save_data, domains)
    return domains


def _realistic_domains(args: argparse.Namespace, log):
    """``--generate N --realistic Y_KIND``: N phantoms, ``--y-phantoms`` (default N/2) for Y."""
    from napari_mpi_dl.dcgan.realistic_data import (
        RealisticConfig,
        generate_realistic_domains,
    )

    if args.y_source != "deconvolved":
        raise ValueError("--y-source does not apply to --realistic (its value names domain Y)")
    n = int(args.generate)
    n_y = n // 2 if args.y_phantoms is None else int(args.y_phantoms)
    if not 1 <= n_y < n:
        raise ValueError(f"--y-phantoms must be between 1 and --generate - 1 ({n - 1}), "
                         f"got {n_y}")
    config = RealisticConfig(n_x=n - n_y, n_y=n_y, y_kind=args.realistic,
                             rl_iterations=args.rl_iterations, seed=args.seed,
                             scan_modes=realistic_scan_modes(args))
    t0 = time.perf_counter()
    log(f"simulating realistic domains: X {config.n_x}, Y {config.n_y} ({config.y_kind}) "
        f"MNIST training phantoms, {' and '.join(config.scan_modes)} scans ...")
    domains = generate_realistic_domains(config, workers=args.workers)
    log(f"  X {domains.x.shape[0]} images, Y {domains.y.shape[0]} images "
        f"({time.perf_counter() - t0:.0f} s)")
    return domains


def realistic_scan_modes(args: argparse.Namespace) -> tuple[str, ...]:
    """``--realistic-scan-modes`` as a :class:`RealisticConfig` ``scan_modes`` (default x y);
    ValueError naming the option for a combination the data cannot be made of."""
    from napari_mpi_dl.dcgan.realistic_data import SCAN_MODE_SETS, SCAN_MODES

    modes = tuple(dict.fromkeys(getattr(args, "realistic_scan_modes", None) or SCAN_MODES))
    if tuple(sorted(modes)) not in SCAN_MODE_SETS:
        raise ValueError(
            f"--realistic-scan-modes {' '.join(modes)}: give x and/or y (y-scans are transposed "
            "into x: one model for both) or isotropic alone (an isotropic model does not mix "
            "with single-axis scans)")
    return modes


def run(args: argparse.Namespace) -> int:
    return _train_runner.run(args, "train deblur", _session)


def _session(args: argparse.Namespace, ctx, log) -> _train_runner.Session:
    """Data, configurations and the trainer of one ``train deblur`` run."""
    from napari_mpi_dl.cli import _train_own_data
    from napari_mpi_dl.dcgan.train import DCGANTrainer

    domains = load_training_domains(args, log)
    from napari_mpi_dl.dcgan.card import input_physics

    data_scan = input_physics({"settings": domains.info.get("settings"),
                               "scan_mode": domains.info.get("scan_mode")}).get("scan_mode")
    _train_own_data.prepare(args, scan_mode=data_scan)   # --finetune: that scan mode's model
    model_cfg, train_cfg = build_configs(args, min(len(domains.x), len(domains.y)),
                                         ctx.world_size)
    ckpt_dir = Path(args.checkpoint_dir)
    trainer = DCGANTrainer(domains, model_cfg, train_cfg, checkpoint_dir=ckpt_dir, dist=ctx)
    out = Path(args.out) if args.out else ckpt_dir / "dcgan_weights.pt"

    def after_resume(path: Path, step: int) -> None:
        if train_cfg.steps < step:
            raise ValueError(
                f"the checkpoint {path} is at step {step}, beyond the {train_cfg.steps} "
                "steps asked for; --steps counts all steps from the start, so give more "
                f"than {step} to continue (nothing was changed)")

    def finish(wall: float) -> Path:
        from napari_mpi_dl.io.atomic import write_text_atomic
        from napari_mpi_dl.training.provenance import provenance_path, run_provenance

        info = {
            **run_provenance(trainer.device, ctx.world_size, getattr(args, "argv", None)),
            "model": model_cfg.to_dict(), "train": train_cfg.to_dict(),
            "data": {k: v for k, v in domains.info.items() if k != "mnist_indices"},
            "steps": trainer.step, "planned_steps": train_cfg.steps,
            "stopped_by_time_limit": trainer.stopped_by_time_limit, "seed": train_cfg.seed,
            "wall_time_s": round(wall, 1),
        }
        validation = _train_own_data.validation_losses(trainer, domains)
        if validation is not None:
            info["validation"] = validation
            log(f"validation losses ({validation['images']} held-out images): "
                + " ".join(f"{k}={v:.3f}" for k, v in validation.items() if k != "images"))
        trainer.export_weights(out, info=info,
                               card=_train_own_data.card_for(args, domains, info))
        write_text_atomic(provenance_path(out), json.dumps(info, indent=2) + "\n")
        print(f"trained {trainer.step} steps in {wall:.0f} s; weights: {out}; "
              f"checkpoint: {trainer.checkpoint_path()}")
        return out

    return _train_runner.Session(
        trainer=trainer, finish=finish, label="DC_GAN", bar_losses=("G", "D", "NCE1"),
        after_resume=after_resume,
        fresh_start=lambda: _train_own_data.apply_finetune(trainer, args, log))
