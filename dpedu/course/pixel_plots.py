"""Notebook 09's pictures: camera frames, the encoder's feature maps and keypoints, a pixel policy's episode as a
GIF, and the seed record of benchmarks/detour_pixels.py."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np
import torch

from dpedu.course.pendulum import save_gif

DETOUR_PIXELS_SEEDS = Path(__file__).with_name("detour_pixels_seeds.jsonl")  # benchmarks/detour_pixels.py's record


def show_frame(ax: plt.Axes, frame: np.ndarray, title: str = "") -> None:
    """One uint8 frame (H, W, C), its pixels drawn as squares (no smoothing: what the network sees)."""
    ax.imshow(frame, interpolation="nearest")
    ax.set(xticks=[], yticks=[], title=title)


def stage_shapes(encoder, frame: np.ndarray) -> list[tuple[str, tuple[int, ...]]]:
    """(name, output shape) of each stage of a VisionEncoder on one frame (H, W, C), from the crop to the features."""
    x = encoder.crop_frames(torch.as_tensor(frame[None]))
    shapes = [("crop (h, w, C)", tuple(x.shape[1:]))]
    h = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    with torch.no_grad():
        h = encoder.backbone.stem(h)
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
    was_training = encoder.training
    encoder.eval()  # the centre crop
    try:
        with torch.no_grad():
            x = encoder.crop_frames(torch.as_tensor(frames))
            features = encoder.backbone(x.permute(0, 3, 1, 2).float() / 127.5 - 1.0)
            kp = encoder.keypoints(features).numpy()  # in [-1, 1]
    finally:
        encoder.train(was_training)
    h, w = encoder.crop
    return np.stack([(kp[..., 0] + 1) / 2 * (w - 1), (kp[..., 1] + 1) / 2 * (h - 1)], axis=-1)


def centre_crop(encoder, frame: np.ndarray) -> np.ndarray:
    """The centre crop the encoder reads when acting, (h, w, C)."""
    was_training = encoder.training
    encoder.eval()
    try:
        return encoder.crop_frames(torch.as_tensor(frame[None]))[0].numpy()
    finally:
        encoder.train(was_training)


def run_episode(policy, env_id: str, seed: int, obs_type: str) -> dict:
    """One episode of a pixel policy, stepped by hand to keep what it saw: {"frames" (L + 1, H, W, C), "positions"
    (L + 1, 2) (env.unwrapped.state), "success"}."""
    env = gym.make(env_id, obs_type=obs_type)
    obs, _ = env.reset(seed=seed)
    policy.reset()
    frames, positions, done, info = [], [env.unwrapped.state.copy()], False, {}
    while not done:
        frames.append(obs["pixels"] if isinstance(obs, dict) else obs)
        obs, _, terminated, truncated, info = env.step(policy.act(obs))
        positions.append(env.unwrapped.state.copy())
        done = terminated or truncated
    frames.append(obs["pixels"] if isinstance(obs, dict) else obs)
    env.close()
    return {"frames": np.stack(frames), "positions": np.stack(positions), "success": bool(info.get("is_success"))}


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
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            features = encoder(torch.as_tensor(frames)).double().numpy()
    finally:
        encoder.train(was_training)
    design = np.c_[features, np.ones(len(features))]
    fit = design @ np.linalg.lstsq(design, positions, rcond=None)[0]
    return 1 - ((positions - fit) ** 2).sum(0) / ((positions - positions.mean(0)) ** 2).sum(0)
