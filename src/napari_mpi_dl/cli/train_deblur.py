"""``napari-mpi-dl train deblur``: train DC_GAN (native low-gradient -> deblurred images).

Examples::

    napari-mpi-dl train deblur --generate 200 --steps 500 --checkpoint-dir runs/dcgan
    napari-mpi-dl train deblur --data train.h5 --epochs 5 --device cuda --resume
    torchrun --standalone --nproc_per_node=2 -m napari_mpi_dl.cli.main train deblur --data d.h5

Ctrl-C stops the run; the checkpoint written last (``<checkpoint-dir>/dcgan_last.pt``) is kept
and ``--resume`` continues from it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from napari_mpi_dl.training.provenance import run_provenance


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
    data.add_argument("--save-data", metavar="FILE.npz",
                      help="with --generate: cache the generated domains for later --data runs")

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
    tr.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    tr.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                    help="mixed precision on CUDA (default: on with CUDA; never on CPU)")
    tr.add_argument("--threads", type=int, default=None, help="torch CPU threads")

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

    out = p.add_argument_group("output")
    out.add_argument("--checkpoint-dir", default="dcgan_run")
    out.add_argument("--checkpoint-every", type=int, default=500)
    out.add_argument("--resume", nargs="?", const="last", default=None, metavar="CHECKPOINT",
                     help="continue from CHECKPOINT (default: <checkpoint-dir>/dcgan_last.pt)")
    out.add_argument("-o", "--output", "--out", dest="out", default=None,
                     help="final generator weights (default <checkpoint-dir>/dcgan_weights.pt); "
                          "a .json with the provenance is written next to it")
    out.add_argument("--no-progress", action="store_true", help="no tqdm bar (log lines instead)")
    out.add_argument("--time-limit-min", type=float, default=None,
                     help="stop cleanly (checkpoint + weights) after this many minutes")
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
        if not args.epochs > 0:
            raise ValueError(f"--epochs must be > 0, got {args.epochs}")
        steps = max(1, math.ceil(args.epochs * n_smaller_domain
                                 / (args.batch_size * world_size)))
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

    own = _train_own_data.load_domains(args, log)
    if own is not None:
        return own
    if args.data:
        return dcdata.load_any(args.data, y_source=args.y_source,
                               include_noisy=not args.no_noisy, split_seed=args.seed)
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


#: Exit status after a SIGTERM stop (128 + 15, what a shell reports for a process it ended), so
#: that a scheduler can tell a stopped run from a finished one.
EXIT_STOPPED_BY_SIGTERM = 143


def _install_signal_handlers(trainer, received: list) -> None:
    """Ctrl-C (SIGINT) interrupts even when the shell started us with SIGINT ignored (``cmd &``
    in a script); SIGTERM (``kill``, batch schedulers) asks for a clean stop: the current step
    finishes, a checkpoint and the weights are written, and the run exits with
    :data:`EXIT_STOPPED_BY_SIGTERM`. ``received`` collects the signals seen."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def on_term(signum, frame) -> None:
        received.append(signum)
        trainer.request_stop()

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)


def run(args: argparse.Namespace) -> int:
    import torch

    from napari_mpi_dl.dcgan.train import LAST_CHECKPOINT, DCGANTrainer
    from napari_mpi_dl.training import distributed
    from napari_mpi_dl.training.checkpoint import CheckpointError
    from napari_mpi_dl.training.device import choose_device
    from napari_mpi_dl.training.guard import TrainingDivergedError

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    ctx = distributed.init_from_env(device.type)
    log = print if ctx.is_main else (lambda *a, **k: None)
    try:
        from napari_mpi_dl.cli import _train_own_data

        domains = load_training_domains(args, log)
        _train_own_data.prepare(args)
        model_cfg, train_cfg = build_configs(
            args, min(len(domains.x), len(domains.y)), ctx.world_size)
        ckpt_dir = Path(args.checkpoint_dir)
        trainer = DCGANTrainer(domains, model_cfg, train_cfg, checkpoint_dir=ckpt_dir, dist=ctx)
        if args.resume is None:
            _train_own_data.apply_finetune(trainer, args, log)
        if args.resume is not None:
            path = ckpt_dir / LAST_CHECKPOINT if args.resume == "last" else Path(args.resume)
            step = trainer.resume(path)
            if train_cfg.steps < step:
                raise ValueError(
                    f"the checkpoint {path} is at step {step}, beyond the {train_cfg.steps} "
                    "steps asked for; --steps counts all steps from the start, so give more "
                    f"than {step} to continue (nothing was changed)")
            log(f"resumed from {path} at step {step}")
        out = Path(args.out) if args.out else ckpt_dir / "dcgan_weights.pt"
        signals: list = []
        _install_signal_handlers(trainer, signals)
        t0 = time.perf_counter()
        last_ckpt: str | None = None
        stopped_by_time = False
        bar = None
        if ctx.is_main and not args.no_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=train_cfg.steps, initial=trainer.step, unit="step",
                       desc="DC_GAN", dynamic_ncols=True)
        try:
            for report in trainer.run():
                if (args.time_limit_min is not None and not stopped_by_time
                        and time.perf_counter() - t0 > 60.0 * args.time_limit_min):
                    stopped_by_time = True
                    trainer.request_stop()
                if report.checkpoint:
                    last_ckpt = report.checkpoint
                if bar is not None:
                    bar.n = report.step
                    bar.set_postfix_str(
                        " ".join(f"{k}={report.losses[k]:.3f}" for k in ("G", "D", "NCE1")
                                 if k in report.losses), refresh=False)
                    bar.refresh()
                elif ctx.is_main and (report.step % 50 == 0 or report.done or report.message):
                    print(f"step {report.step}/{report.total_steps} {report.format_losses()} "
                          f"{report.message}".rstrip(), flush=True)
        except KeyboardInterrupt:
            if bar is not None:
                bar.close()
            where = last_ckpt or (str(trainer.checkpoint_path())
                                  if trainer.checkpoint_path().exists() else None)
            print(f"napari-mpi-dl train deblur: interrupted at step {trainer.step}; "
                  + (f"last checkpoint kept: {where} (continue with --resume)" if where
                     else "no checkpoint had been written yet"), file=sys.stderr)
            return 130
        except TrainingDivergedError as exc:
            if bar is not None:
                bar.close()
            print(f"napari-mpi-dl train deblur: error: {exc}", file=sys.stderr)
            return 3
        if bar is not None:
            bar.close()
        wall = time.perf_counter() - t0
        if ctx.is_main:
            info = {
                **run_provenance(trainer.device, ctx.world_size),
                "model": model_cfg.to_dict(), "train": train_cfg.to_dict(),
                "data": {k: v for k, v in domains.info.items() if k != "mnist_indices"},
                "steps": trainer.step, "planned_steps": train_cfg.steps,
                "stopped_by_time_limit": stopped_by_time, "seed": train_cfg.seed,
                "wall_time_s": round(wall, 1),
            }
            validation = _train_own_data.validation_losses(trainer, domains)
            if validation is not None:
                info["validation"] = validation
                log(f"validation losses ({validation['images']} held-out images): "
                    + " ".join(f"{k}={v:.3f}" for k, v in validation.items() if k != "images"))
            trainer.export_weights(out, info=info,
                                   card=_train_own_data.card_for(args, domains, info))
            from napari_mpi_dl.io.atomic import write_text_atomic

            write_text_atomic(out.with_suffix(".json"), json.dumps(info, indent=2) + "\n")
            if signals:
                print(f"napari-mpi-dl train deblur: stopped by SIGTERM at step {trainer.step} of "
                      f"{train_cfg.steps} after {wall:.0f} s; weights: {out}; checkpoint: "
                      f"{trainer.checkpoint_path()} (continue with --resume)", file=sys.stderr)
            else:
                print(f"trained {trainer.step} steps in {wall:.0f} s; weights: {out}; "
                      f"checkpoint: {trainer.checkpoint_path()}")
        if signals:
            return EXIT_STOPPED_BY_SIGTERM
        return 0
    except CheckpointError as exc:
        print(f"napari-mpi-dl train deblur: error: {exc}", file=sys.stderr)
        return 2
    finally:
        distributed.cleanup()
