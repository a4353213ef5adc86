"""Notebook 09's pictures: camera frames, the encoder's stages and keypoints, a linear probe of its features, an
episode as a GIF of frames, and the seed record of benchmarks/detour_pixels.py."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from dpedu.course.pendulum import save_gif
from dpedu.networks.vision import to_unit_range

DETOUR_PIXELS_SEEDS = Path(__file__).with_name("detour_pixels_seeds.jsonl")  # benchmarks/detour_pixels.py's record


def show_frame(ax: plt.Axes, frame: np.ndarray, title: str = "") -> None:
    """One uint8 frame (H, W, C), its pixels drawn as squares (no smoothing: what the network sees)."""
    ax.imshow(frame, interpolation="nearest")
    ax.set(xticks=[], yticks=[], title=title)


@contextlib.contextmanager
def acting(encoder) -> Iterator:
    """The encoder as the policy runs it (eval mode: the centre crop), without gradients; its mode restored after."""
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            yield encoder
    finally:
        encoder.train(was_training)


def stage_shapes(encoder, frame: np.ndarray) -> list[tuple[str, tuple[int, ...]]]:
    """(name, output shape) of each stage of a VisionEncoder on one frame (H, W, C), from the crop to the features."""
    with acting(encoder):
        x = encoder.crop_frames(torch.as_tensor(frame[None]))
        shapes = [("crop (h, w, C)", tuple(x.shape[1:]))]
        h = encoder.backbone.stem(to_unit_range(x))
        shapes.append(("stem: 7x7 conv /2, max pool /2", tuple(h.shape[1:])))
        for i in range(4):
            h = encoder.backbone.stages[2 * i + 1](encoder.backbone.stages[2 * i](h))
            shapes.append((f"stage {i + 1}: 2 basic blocks" + (" /2" if i else ""), tuple(h.shape[1:])))
        keypoints = encoder.keypoints(h)
        shapes.append(("spatial softmax: keypoints (x, y)", tuple(keypoints.shape[1:])))
        shapes.append(("linear: features", tuple(encoder.project(keypoints.flatten(1)).shape[1:])))
    return shapes


def keypoints_on_frames(encoder, frames: np.ndarray) -> np.ndarray:
    """The spatial-softmax keypoints of frames (N, H, W, C), in the crop's pixel coordinates (N, K, 2): column x and
    row y, from the centre of the first pixel (0) to the centre of the last (w - 1, h - 1)."""
    with acting(encoder):
        kp = encoder.keypoint_positions(torch.as_tensor(frames)).numpy()  # in [-1, 1]
    h, w = encoder.crop
    return np.stack([(kp[..., 0] + 1) / 2 * (w - 1), (kp[..., 1] + 1) / 2 * (h - 1)], axis=-1)


def centre_crop(encoder, frame: np.ndarray) -> np.ndarray:
    """The centre crop the encoder reads when acting, (h, w, C)."""
    with acting(encoder):
        return encoder.crop_frames(torch.as_tensor(frame[None]))[0].numpy()


def animate_frames(frames: np.ndarray, path: str, title: str = "", fps: int = 10) -> str:
    """A GIF of frames (L, H, W, C) as the policy saw them (pixels drawn as squares)."""
    fig, ax = plt.subplots(figsize=(3.6, 2.7))
    image = ax.imshow(frames[0], interpolation="nearest", animated=True)
    ax.set(xticks=[], yticks=[], title=title)
    step = ax.text(0.02, 0.96, "", transform=ax.transAxes, va="top", fontsize=8)

    def update(i):
        image.set_data(frames[i])
        step.set_text(f"step {i}")

    return save_gif(fig, [image, step], update, range(len(frames)), path, fps=fps)


def load_seed_record(path: Path = DETOUR_PIXELS_SEEDS) -> dict[str, list[dict]]:
    """benchmarks/detour_pixels.py's rows by variant, each list sorted by training seed."""
    rows: dict[str, list[dict]] = {}
    for line in Path(path).read_text().splitlines():
        row = json.loads(line)
        rows.setdefault(row["variant"], []).append(row)
    return {variant: sorted(group, key=lambda r: r["seed"]) for variant, group in rows.items()}


def position_r2(encoder, frames: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """A linear probe: R^2 of the least-squares fit of positions (N, d) from [features(frames), 1], per coordinate
    (1: the features hold the position linearly; 0: no better than its mean). The encoder is read in eval mode."""
    with acting(encoder):
        features = encoder(torch.as_tensor(frames)).double().numpy()
    design = np.c_[features, np.ones(len(features))]
    fit = design @ np.linalg.lstsq(design, positions, rcond=None)[0]
    return 1 - ((positions - fit) ** 2).sum(0) / ((positions - positions.mean(0)) ** 2).sum(0)
