"""``train deblur`` on the user's own images: options, data, fine-tuning, validation, card.

Hooks of :mod:`napari_mpi_dl.cli.train_deblur`: :func:`add_options` (``--x``/``--y`` folders or
files, ``--val-fraction``, ``--finetune``, ``--pixel-mm``, ``--scan-mode``), :func:`load_domains`,
:func:`prepare` (architecture of the fine-tuned weights), :func:`apply_finetune`,
:func:`validation_losses` and :func:`card_for` (the card written into the weights).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_options(p, source_group) -> None:
    source_group.add_argument(
        "--x", nargs="+", metavar="PATH",
        help="your native images (domain X): .tif/.npy/.npz/.h5 files or folders of them; "
             "needs --y")
    g = p.add_argument_group("own data (with --x/--y)")
    g.add_argument("--y", nargs="+", metavar="PATH",
                   help="your deblurred reference images (domain Y, unpaired with X)")
    g.add_argument("--val-fraction", type=float, default=0.1,
                   help="fraction of each domain held out for validation losses")
    g.add_argument("--finetune", nargs="?", const="shipped", default=None, metavar="WEIGHTS",
                   help="start G from these weights (default: the shipped ones for the data's "
                        "scan mode, e.g. the isotropic model for isotropic data when shipped); "
                        "the architecture follows the file")
    g.add_argument("--pixel-mm", type=float, nargs="+", default=None, metavar="MM",
                   help="pixel size of your images in mm (one value or dy dx) for the model "
                        "card (default: from the TIFF metadata)")
    g.add_argument("--scan-mode", choices=("x", "y", "isotropic"), default=None,
                   help="scan mode of your natives for the model card (default: metadata)")


def load_domains(args: argparse.Namespace, log=print):
    """Domains (with ``.validation``) from ``--x``/``--y``; None when --x is not given."""
    if not getattr(args, "x", None):
        if getattr(args, "y", None):
            raise ValueError("--y needs --x (your native images)")
        if getattr(args, "pixel_mm", None) is not None or getattr(args, "scan_mode", None):
            raise ValueError("--pixel-mm and --scan-mode describe your --x images; generated "
                             "and --data sets carry their own")
        return None
    if not args.y:
        raise ValueError("--x needs --y: the deblurred reference images (domain Y)")
    from napari_mpi_dl.dcgan.own_data import build_domains, read_planes

    xs, xfacts = read_planes(args.x, name="--x")
    ys, _ = read_planes(args.y, name="--y")
    pixel = xfacts["pixel_mm"]
    if args.pixel_mm is not None:
        if len(args.pixel_mm) not in (1, 2) or not all(v > 0 for v in args.pixel_mm):
            raise ValueError(f"--pixel-mm takes one or two positive lengths in mm, got "
                             f"{args.pixel_mm}")
        pixel = tuple(args.pixel_mm) * (2 // len(args.pixel_mm))
    scan = args.scan_mode or xfacts["scan_mode"]
    crop = args.crop_size or None
    domains = build_domains(
        xs, ys, crop_size=crop, val_fraction=args.val_fraction, seed=args.seed,
        info={"source": "own images: X " + ", ".join(args.x) + "; Y " + ", ".join(args.y),
              "pixel_mm": list(pixel) if pixel else None, "scan_mode": scan})
    args.crop_size = 0          # cropped already: the trainer takes the crops whole
    log(f"own data: X {len(xs)} images -> {domains.x.shape[0]} crops, Y {len(ys)} images -> "
        f"{domains.y.shape[0]} crops of {domains.x.shape[-1]} px; validation "
        f"{domains.info['x_validation_images']} + {domains.info['y_validation_images']} images")
    return domains


def prepare(args: argparse.Namespace, scan_mode: str | None = None) -> None:
    """With --finetune: read the weights once, take their architecture (ngf, n_blocks).

    ``--finetune`` without a file takes the shipped weights for the data's ``scan_mode``
    (:func:`napari_mpi_dl.dcgan.weights.shipped_weights_path`).
    """
    if args.finetune is None:
        return
    from napari_mpi_dl.dcgan.weights import read_generator_state, shipped_weights_path

    path = shipped_weights_path(scan_mode) if args.finetune == "shipped" else args.finetune
    cfg, state, info = read_generator_state(path)
    args.ngf, args.n_blocks = cfg.ngf, cfg.n_blocks
    if args.finetune == "shipped":
        import hashlib

        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
        label = f"the shipped DC_GAN weights (resources/{Path(path).name}, sha256 {digest})"
    else:
        label = str(path)
    args._finetune = (label, state)
    args._finetune_path = str(path)


def apply_finetune(trainer, args: argparse.Namespace, log=print) -> None:
    if getattr(args, "_finetune", None) is None:
        return
    from napari_mpi_dl.training import checkpoint as ckpt

    path, state = args._finetune
    ckpt.load_state_dict_checked(trainer.model.G, state, name="G", source=path)
    log(f"fine-tuning G from {path}")


def validation_losses(trainer, domains, *, max_images: int = 16) -> dict[str, float] | None:
    """Mean generator and discriminator losses on the held-out images (no update)."""
    val = getattr(domains, "validation", None)
    if val is None:
        return None
    import torch

    n = min(len(val.x), len(val.y), max_images)
    model = trainer.model
    sums: dict[str, float] = {}
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for i in range(n):
            x = torch.from_numpy(val.x[i : i + 1, None].copy()).to(trainer.device)
            y = torch.from_numpy(val.y[i : i + 1, None].copy()).to(trainer.device)
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
            fakes = model.generate(x, y)
            _, g = model.generator_loss(x, y, fakes)
            _, d = model.discriminator_loss(x, y, fakes)
            for k, v in {**g, **d}.items():
                sums[k] = sums.get(k, 0.0) + v / n
    return {k: round(v, 5) for k, v in sums.items()} | {"images": n}


def card_for(args: argparse.Namespace, domains, info: dict[str, Any]):
    """The card written into the trained weights."""
    from dataclasses import replace

    from napari_mpi_dl.dcgan.card import ModelCard, card_from_info
    from napari_mpi_dl.dcgan.weights import read_card

    card = card_from_info(info)
    data = domains.info
    if getattr(args, "x", None):
        scan = data.get("scan_mode")
        card = replace(card, scan_modes=(scan,) if scan else None,
                       image_shape=tuple(data["image_shape"]),
                       noise="as in the user's images (not simulated)", snr_db=None,
                       data=(f"{data['source']}; {data['x_images']} X and {data['y_images']} Y "
                             f"images, crops of {data['crop_size']} px"))
    if getattr(args, "_finetune", None) is not None:
        _, base = read_card(args._finetune_path)
        card = replace(card, provenance=(card.provenance or "") + f"; G fine-tuned from "
                       f"{args._finetune[0]} (trained on: {base.summary()})")
    return card if isinstance(card, ModelCard) else ModelCard.from_dict(card)
