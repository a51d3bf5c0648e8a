"""``napari-mpi-dl train recover`` / ``train reconstruct``: the contrastive framework.

Examples::

    napari-mpi-dl train recover --setting wo-cl --epochs 100 --out runs/recovery_wocl.pt
    napari-mpi-dl train recover --setting cl --pretrain-epochs 10 --epochs 100 --out r.pt
    napari-mpi-dl train reconstruct --setting cl --pretrained runs/pretrain.pt --out c.pt
    napari-mpi-dl train reconstruct --sm my_calibration.mdf --setting wo-cl --out c.pt
    torchrun --standalone --nproc_per_node=2 -m napari_mpi_dl.cli.main train recover ...

The training SM is the simulated 19 x 19 OpenMPIData-like calibration (``--sm-seed``) unless
``--sm`` gives an MDF system matrix. ``--out`` gets the best epoch's weights (float16) and
``<out>.json`` the provenance (command, configuration, seed, hardware, wall time, curves).
Ctrl-C, SIGTERM or ``--time-limit-min`` leave
``<checkpoint-dir>/contrastive_<task>_<setting>_last.pt``; ``--resume`` continues from it.
Stopping, resuming, progress and provenance work as in every training command
(:mod:`napari_mpi_dl.cli._train_runner`).
"""

from __future__ import annotations

import argparse
import json

from napari_mpi_dl.cli import _train_runner

TASK_NAMES = {"recover": "recovery", "reconstruct": "reconstruction"}


def register(tasks) -> None:
    for cmd, task in TASK_NAMES.items():
        p = tasks.add_parser(
            cmd, help=f"contrastive framework: train the {task} task (CL or wo-CL)",
            description=__doc__.split("\n\n")[0],
            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        add_training_arguments(p)
        p.set_defaults(func=_run, contrastive_task=task, command_name=cmd)


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--setting", choices=("cl", "wo-cl"), default="cl",
                   help="cl: NT-Xent pretraining of encoder + projector first; wo-cl: from scratch")
    p.add_argument("-o", "--output", "--out", dest="out",
                   required=True, metavar="FILE.pt", help="weights file to write")
    d = p.add_argument_group("data")
    d.add_argument("--sm", metavar="FILE", help="training system matrix (MDF); default: simulate")
    d.add_argument("--sm-seed", type=int, default=0, help="noise seed of the simulated SM")
    d.add_argument("--mixtures", type=int, default=3000,
                   help="synthetic concentration distributions (pretraining, reconstruction)")
    d.add_argument("--single-fraction", type=float, default=0.3,
                   help="share of the mixtures that are single voxels of weight 1")
    d.add_argument("--blob-fraction", type=float, default=0.3,
                   help="share of the mixtures that are smooth blobs")
    d.add_argument("--digit-fraction", type=float, default=0.0,
                   help="share of the mixtures that are MNIST training digits (0-1499)")
    d.add_argument("--recovery-mixtures", type=int, default=0,
                   help="recovery: extra training pairs that are weighted sums of training "
                        "pairs (0: single columns, as in the paper)")
    d.add_argument("--fresh-mixtures", action="store_true",
                   help="draw the training mixtures anew every epoch (seeded by --data-seed and "
                        "the epoch); default: one fixed draw")
    d.add_argument("--sm-pair", choices=("independent", "identical"), default="independent",
                   help="simulated SMs: independent (perimag-like tracer, the test SM a separate "
                        "calibration) or identical (ideal particle, same physics)")
    d.add_argument("--channels", type=int, nargs="+", default=[0, 1],
                   help="receive channels (encoder input channels)")
    d.add_argument("--data-seed", type=int, default=0, help="seed of mixtures and 80:20 split")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=100, help="main-task epochs")
    t.add_argument("--pretrain-epochs", type=int, default=10, help="NT-Xent epochs (cl only)")
    t.add_argument("--pretrained", metavar="FILE",
                   help="initialise encoder (+ projector) from this checkpoint/weights file and "
                        "skip pretraining (e.g. to share one pretraining between both tasks)")
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                   help="constant (the paper) or cosine decay to 0 over each phase")
    t.add_argument("--loss", choices=("mse", "relative"), default="mse",
                   help="main-task loss: mse (the paper) or each sample's MSE relative to its "
                        "target's power (every voxel weighs the same)")
    t.add_argument("--recovery-hidden", type=int, default=None,
                   help="width of the recovery head's hidden layer (default: the model "
                        "configuration's)")
    t.add_argument("--temperature", type=float, default=0.5)
    t.add_argument("--seed", type=int, default=0)
    _train_runner.add_run_options(t, checkpoint_dir="runs/contrastive")


def _run(args: argparse.Namespace) -> int:
    return _train_runner.run(args, f"train {args.command_name}", _session)


def _session(args: argparse.Namespace, ctx, log) -> _train_runner.Session:
    """Data, configuration and the trainer of one ``train recover|reconstruct`` run."""
    from pathlib import Path

    from napari_mpi_dl.contrastive.config import DataConfig, ModelConfig, TrainConfig
    from napari_mpi_dl.contrastive.run import build_trainer, training_signal_set

    task = args.contrastive_task
    data_cfg = DataConfig(mixtures=args.mixtures, channels=tuple(args.channels),
                          seed=args.data_seed, recovery_mixtures=args.recovery_mixtures,
                          p_single=args.single_fraction, p_blob=args.blob_fraction,
                          p_digit=args.digit_fraction, fresh_mixtures=args.fresh_mixtures,
                          sm_pair=args.sm_pair)
    ss = training_signal_set(data_cfg, sm_path=args.sm, sm_seed=args.sm_seed)
    hidden = {} if args.recovery_hidden is None else {"recovery_hidden": args.recovery_hidden}
    train_cfg = TrainConfig(task=task, setting=args.setting, epochs=args.epochs,
                            pretrain_epochs=args.pretrain_epochs, batch_size=args.batch_size,
                            lr=args.lr, temperature=args.temperature, seed=args.seed,
                            checkpoint_every=args.checkpoint_every, device=args.device,
                            loss=args.loss, lr_schedule=args.lr_schedule)
    trainer = build_trainer(ss, data_cfg, train_cfg, model=ModelConfig(**hidden),
                            checkpoint_dir=args.checkpoint_dir, dist=ctx,
                            pretrained_encoder=args.pretrained)

    def finish(wall: float) -> Path:
        from napari_mpi_dl.io.atomic import write_text_atomic
        from napari_mpi_dl.training.provenance import provenance_path, run_provenance

        info = {**run_provenance(trainer.device, ctx.world_size, getattr(args, "argv", None)),
                "wall_s_this_process": round(wall, 1), "training_sm": ss.source,
                "stopped_by_time_limit": trainer.stopped_by_time_limit}
        out = trainer.export_weights(args.out, info=info)
        meta = {"weights": str(out), "task": task, "setting": args.setting, **info,
                "train_wall_s": round(trainer.wall_s, 1), "steps": trainer.step,
                "best_epoch": trainer.best_epoch, "best_val_mse": trainer.best_val,
                "pretrain_best": trainer.pretrain_best,
                "pretrained_from": trainer.pretrained_from,
                "config": trainer.config.to_dict(), "data": trainer.data.info,
                "history": trainer.history}
        write_text_atomic(provenance_path(out), json.dumps(meta, indent=1))
        print(f"wrote {out} (best epoch {trainer.best_epoch}, validation MSE "
              f"{trainer.best_val:.4g}, {trainer.wall_s:.0f} s)")
        return out

    return _train_runner.Session(trainer=trainer, finish=finish, label=f"{task}/{args.setting}")
