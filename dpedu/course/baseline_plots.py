"""Plots and tables of notebook 10 (why diffusion): the four ways to represent a multimodal action distribution,
drawn on the 2-D toy's middle waypoint, and the shipped record of every method over training seeds.

Every plotting function returns its matplotlib Figure (assign it, `fig = ...`, so a notebook shows it once).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Ellipse

from dpedu.course import toy
from dpedu.course.toy_plots import draw_toy_scene
from dpedu.stats import over_seeds, paired_difference

RECORD = Path(__file__).with_name("baselines_seeds.jsonl")
ENERGY_SPAN = 10.0  # IBC's energy is drawn from its minimum to this much above it (exp(-10): 5e-5 as likely)
NAMES = {"diffusion": "Diffusion Policy", "regression": "regression (MSE)", "gmm": "Gaussian mixture",
         "ibc": "IBC (energy)", "bet": "BET (bins + offsets)", "ibc_single": "IBC, 1 action/plan",
         "gmm_slow": "mixture, lr 1e-4"}
METHODS = ("diffusion", "regression", "gmm", "ibc", "bet")  # every task; "ibc_single" on Detour only


def middle_waypoint(data: toy.ToyData, index: int = toy.HORIZON // 2 - 1) -> toy.ToyData:
    """The toy with one 2-D action per start: the path's waypoint `index` (the middle one by default), (N, 1, 2), so
    every method's distribution can be drawn in the plane."""
    return toy.ToyData(data.obs, data.traj[:, index: index + 1], data.side)


@torch.no_grad()
def draw_representation(ax: plt.Axes, method: str, model: torch.nn.Module, obs: torch.Tensor,
                        n_samples: int = 300, seed: int = 0) -> None:
    """What `method` holds about the middle waypoint for one start obs (1, 1, 2), and n_samples of its choices."""
    draw_toy_scene(ax)
    many = obs.expand(n_samples, 1, 2)
    if method == "ibc":  # the energy over the action bounds, dark where low; the policy's choices are its argmins
        xs = np.linspace(-1, 1, 161)
        grid = torch.tensor(np.stack(np.meshgrid(xs, xs), -1).reshape(1, -1, 1, 2), dtype=torch.float32)
        energy = model.energy(obs, grid).reshape(len(xs), len(xs)).numpy()
        ax.imshow(np.clip(energy - energy.min(), 0, ENERGY_SPAN), extent=(-1, 1, -1, 1), origin="lower",
                  cmap="Greens_r", vmin=0, vmax=ENERGY_SPAN, zorder=1)
    if method == "gmm":  # each component: its mean and 2-sigma ellipse, as opaque as its weight
        log_pi, mu, sigma = model.mixture(obs)
        for pi, m, s in zip(log_pi[0].exp(), mu[0], sigma[0]):
            ax.add_patch(Ellipse(m.tolist(), 4 * s[0].item(), 4 * s[1].item(), fill=False, lw=2,
                                 color="tab:purple", alpha=max(0.15, pi.item()), zorder=3))
    if method == "bet":  # the bins (k-means centres), sized by their probability
        logits, _ = model.heads(obs)
        p = torch.softmax(logits[0], -1).numpy()
        c = model.centres.numpy()
        ax.scatter(c[:, 0], c[:, 1], s=20 + 400 * p, marker="X", color="tab:purple", zorder=4, label="bins")
    points = toy.sample_method(method, model, many, seed=seed)[:, 0].numpy()
    ax.scatter(points[:, 0], points[:, 1], s=6, color="k", alpha=0.4, zorder=5, label="chosen waypoints")
    ax.set_title(NAMES[method])


def compare_representations(models: dict, obs: torch.Tensor) -> plt.Figure:
    """One panel of draw_representation per trained method (a dict method -> model)."""
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models), 3.9))
    for ax, (method, model) in zip(axes, models.items()):
        draw_representation(ax, method, model, obs)
        ax.set(xlabel="x (m)", ylabel="" if method != next(iter(models)) else "y (m)")

    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- the shipped record


def read_record(path: Path = RECORD) -> list[dict]:
    """The rows benchmarks/baselines.py wrote: one per (task, method, seed)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def rows_of(record: list[dict], task: str, method: str) -> list[dict]:
    return sorted((r for r in record if r["task"] == task and r["method"] == method), key=lambda r: r["seed"])


def table(record: list[dict], task: str, fields: dict[str, str], methods=METHODS) -> str:
    """A text table: one line per method, each field (a share, in [0, 1]) as its mean over seeds [95% t-interval,
    clipped to [0, 1]] (the number of seeds)."""
    lines = [f"{'':22}" + "".join(f"{label:>30}" for label in fields.values())]
    methods = [m for m in methods if rows_of(record, task, m)]
    for method in methods:
        rows = rows_of(record, task, method)
        cells = []
        for field in fields:
            mean, (lo, hi) = over_seeds(rows, field)
            lo, hi = max(lo, 0.0), min(hi, 1.0)  # every field here is a share: its interval clipped to [0, 1]
            cells.append(f"{mean:6.2f} [{lo:5.2f}, {hi:5.2f}] ({len(rows)})")
        lines.append(f"{NAMES[method]:22}" + "".join(f"{c:>30}" for c in cells))
    return "\n".join(lines)


def versus_diffusion(record: list[dict], task: str, field: str, methods=METHODS[1:]) -> dict:
    """Per baseline: the per-seed differences diffusion - baseline of `field` (a share) and their 95% t-interval,
    clipped to [-1, 1], the range a difference of shares can take."""
    base = rows_of(record, task, "diffusion")
    out = {}
    for method in methods:
        diff, (lo, hi) = paired_difference(base, rows_of(record, task, method), field)
        out[method] = (diff, (max(lo, -1.0), min(hi, 1.0)))
    return out


def plot_success_during_training(record: list[dict]) -> plt.Figure:
    """Detour: each method's success after a third, two thirds and all of its updates, one line per seed."""
    methods = [m for m in NAMES if rows_of(record, "detour", m)]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    colors = dict(zip(methods, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for method in methods:
        for i, row in enumerate(rows_of(record, "detour", method)):
            n, success = np.array(row["success_during_training"]).T
            ax.plot(n, success, "o-", color=colors[method], alpha=0.8, label=NAMES[method] if i == 0 else None)
    ax.set(xlabel="gradient updates", ylabel="success rate", ylim=(-0.03, 1.03),
           title="Detour: success during training (each line a training seed)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
