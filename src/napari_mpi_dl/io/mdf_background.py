"""Background correction and SNR per frequency, as the reference tools (MPIFiles.jl) do them.

Background (empty-scanner) frames come in blocks: runs of consecutive acquisition indices. Each
block is averaged; the background under a foreground frame is interpolated linearly between the
centres of the blocks before and after it (along the acquisition order), held constant beyond the
first and the last block, and subtracted. A slowly drifting scanner background is thereby removed
exactly to first order.

SNR per frequency (used when ``/calibration/snr`` is absent)::

    signal = median over foreground frames of |FG - mean(BG)|
    noise  = mean  over background frames of |BG - mean(BG)|
    snr    = signal / noise
"""

from __future__ import annotations

import numpy as np


def background_blocks(acquisition_index) -> list[np.ndarray]:
    """Split background frames into blocks of consecutive acquisition indices.

    Returns a list of arrays of positions into ``acquisition_index`` (sorted by acquisition).
    """
    idx = np.asarray(acquisition_index, dtype=np.int64)
    if idx.size == 0:
        return []
    order = np.argsort(idx, kind="stable")
    breaks = np.flatnonzero(np.diff(idx[order]) != 1) + 1
    return np.split(order, breaks)


def interpolation_weights(background_index, target_index) -> np.ndarray:
    """Weights W (E, M) so that ``bg @ W`` is the block-interpolated background at each target.

    ``background_index`` (E,) and ``target_index`` (M,) are acquisition indices.
    """
    bg_idx = np.asarray(background_index, dtype=np.float64)
    tgt = np.asarray(target_index, dtype=np.float64)
    blocks = background_blocks(bg_idx)
    if not blocks:
        raise ValueError("background correction needs at least one background frame")
    centres = np.array([bg_idx[b].mean() for b in blocks])
    nb = len(blocks)
    # Weights of each block at each target (nb, M): linear between neighbouring block centres.
    block_w = np.zeros((nb, tgt.size))
    if nb == 1:
        block_w[0] = 1.0
    else:
        right = np.clip(np.searchsorted(centres, tgt, side="right"), 1, nb - 1)
        left = right - 1
        t = (tgt - centres[left]) / (centres[right] - centres[left])
        t = np.clip(t, 0.0, 1.0)
        cols = np.arange(tgt.size)
        block_w[left, cols] += 1.0 - t
        block_w[right, cols] += t
    weights = np.zeros((bg_idx.size, tgt.size))
    for b, members in enumerate(blocks):
        weights[members] = block_w[b][None, :] / len(members)
    return weights


def interpolated_background(background: np.ndarray, background_index, target_index
                            ) -> np.ndarray:
    """Background (..., M) under frames ``target_index`` from frames (..., E) of the last axis."""
    w = interpolation_weights(background_index, target_index)
    return np.asarray(background) @ w.astype(np.result_type(background, np.float64))


def subtract_background(foreground: np.ndarray, foreground_index, background: np.ndarray,
                        background_index) -> np.ndarray:
    """``foreground - interpolated background``; frames on the last axis of both arrays."""
    fg = np.asarray(foreground)
    bg = np.asarray(background)
    if bg.shape[-1] == 0:
        raise ValueError("background correction needs at least one background frame")
    if fg.shape[:-1] != bg.shape[:-1]:
        raise ValueError(f"foreground {fg.shape} and background {bg.shape} frames differ in shape")
    return fg - interpolated_background(bg, background_index, foreground_index)


def snr_per_frequency(foreground: np.ndarray, background: np.ndarray) -> np.ndarray:
    """SNR (...) from foreground (..., O) and background (..., E) frames; needs E >= 2.

    Frequencies whose background does not vary at all (noise 0) get SNR 0 if their signal is 0
    too and ``inf`` otherwise.
    """
    fg = np.asarray(foreground)
    bg = np.asarray(background)
    if bg.shape[-1] < 2:
        raise ValueError(f"SNR estimation needs at least 2 background frames, got {bg.shape[-1]}")
    mean_bg = bg.mean(axis=-1, keepdims=True)
    noise = np.abs(bg - mean_bg).mean(axis=-1)
    signal = np.median(np.abs(fg - mean_bg), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(noise > 0, signal / np.where(noise > 0, noise, 1.0),
                       np.where(signal > 0, np.inf, 0.0))
    return snr
