"""Plots, animations and widgets of the 2-D toy task (dpedu.course.toy), for notebook 02.

Every plotting function returns its matplotlib Figure (assign it, `fig = ...`, so a notebook shows it once);
widget builders return the `ipywidgets.interactive` box they display. Positions are in metres (m).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.collections import LineCollection

from dpedu.course import LABEL, denoising_labels, toy
from dpedu.diffusion.sampler import make_sampler
from dpedu.diffusion.schedule import NoiseSchedule

SIDE_COLORS = {toy.LEFT: "tab:blue", toy.RIGHT: "tab:orange"}
HIT_COLOR = "tab:red"


def draw_toy_scene(ax: plt.Axes) -> None:
    """The obstacle, the start and the goal of dpedu.toy, on equal axes with labels in metres."""
    ax.add_patch(plt.Circle((0, 0), toy.OBSTACLE_RADIUS, color="0.6", alpha=0.6, zorder=0))
    ax.plot(*toy.START, "ks", ms=7, zorder=5, label="start")
    ax.plot(*toy.GOAL, "k*", ms=12, zorder=5, label="goal")
    ax.set(aspect="equal", xlim=(-1.3, 1.3), ylim=(-1.15, 1.15), xlabel="x position (m)", ylabel="y position (m)")


def plot_paths(obs: torch.Tensor, traj: torch.Tensor, title: str, ax: plt.Axes | None = None,
               max_paths: int = 200) -> plt.Axes:
    """Paths start -> waypoints (obs (B, 1, 2), traj (B, H, 2)) coloured by side, red where they hit the obstacle."""
    ax = ax if ax is not None else plt.subplots(figsize=(5, 4.5))[1]
    draw_toy_scene(ax)
    path = torch.cat([obs.reshape(-1, 1, 2), traj], dim=1)[:max_paths].numpy()  # (B, H + 1, 2)
    hit = toy.hits_obstacle(obs, traj)[:max_paths]
    colors = [HIT_COLOR if h else SIDE_COLORS[int(s)] for h, s in zip(hit, toy.side_of(traj)[:max_paths])]
    ax.add_collection(LineCollection(path, colors=colors, linewidths=1, alpha=0.35))
    ax.set_title(title)
    return ax


def stats_title(name: str, obs: torch.Tensor, traj: torch.Tensor) -> str:
    """'name: left 50%, right 50%, hit 2%' for a batch of paths."""
    st = toy.mode_stats(obs, traj)
    return f"{name}\nleft {st['left']:.0%}, right {st['right']:.0%}, hit obstacle {st['hit']:.0%}"


def compare_paths(obs: torch.Tensor, trajs: dict[str, torch.Tensor]) -> plt.Figure:
    """One panel of plot_paths per named batch of paths, all for the same start points obs (B, 1, 2)."""
    fig, axes = plt.subplots(1, len(trajs), figsize=(5 * len(trajs), 4.8), squeeze=False)
    for ax, (name, traj) in zip(axes[0], trajs.items()):
        plot_paths(obs, traj, stats_title(name, obs, traj), ax)
    fig.tight_layout()
    return fig


def plot_losses(losses: dict[str, Sequence[float]], window: int = 50) -> plt.Figure:
    """Training loss per update (moving average over `window` updates), log scale, one line per model."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for name, values in losses.items():
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        ax.semilogy(np.arange(window - 1, len(values)), smooth, label=name)
    ax.set(title=f"training loss (moving average of {window} updates)", xlabel="gradient update (count)",
           ylabel="MSE loss (unitless, log scale)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    return fig


def animate_reverse_diffusion(frames: torch.Tensor, timesteps: Sequence[int], path: str,
                              background: Callable[[plt.Axes], None] | None = draw_toy_scene, every: int = 1,
                              fps: int = 8, hold_s: float = 1.5) -> str:
    """Save a GIF of 2-D paths frames (S + 1, B, H, 2), denoised from x^K to x^0; returns `path`.

    timesteps: the S diffusion steps k the sampler visited, descending (sampler.timesteps); frame i is the state
    after i steps, x^k at k = timesteps[i] (the last frame is the clean sample x^0).
    Paths are coloured by the side they end on, so the moment each sample commits to a mode shows.
    """
    frames = frames.cpu().numpy()
    final_side = np.where(frames[-1, :, :, 0].mean(axis=1) < 0, toy.LEFT, toy.RIGHT)
    colors = [SIDE_COLORS[int(s)] for s in final_side]
    labels = denoising_labels(timesteps, "samples")
    shown = list(range(0, len(frames) - 1, every)) + [len(frames) - 1] * (1 + round(hold_s * fps))

    fig, ax = plt.subplots(figsize=(6.6, 6.6), dpi=100)  # 660 px: readable at full width in a notebook
    if background is not None:
        background(ax)
        ax.legend(loc="upper left", fontsize=10)  # the start and the goal the paths must join
    ax.set(xlim=(-2.5, 2.5), ylim=(-2.5, 2.5), xlabel="x position (m)", ylabel="y position (m)")
    # Solid, aliased lines: blended colours would be dithered in the 256-colour GIF and triple its size.
    lines = ax.add_collection(LineCollection(frames[0], colors=colors, linewidths=0.6, antialiased=False))
    ax.set_title(f"reverse diffusion: {labels[0]}", fontsize=12)
    fig.tight_layout()

    def update(i):
        lines.set_segments(frames[i])
        ax.set_title(f"reverse diffusion: {labels[i]}", fontsize=12)
        return (lines,)

    anim = FuncAnimation(fig, update, frames=shown, blit=False)
    anim.save(path, writer="pillow", fps=fps)
    plt.close(fig)  # the GIF is the output; don't also show the last frame
    return path


def sampler_explorer(model: torch.nn.Module, schedule: NoiseSchedule, obs: torch.Tensor) -> widgets.interactive:
    """Sliders for sampler kind, steps, eta and seed; re-samples paths for obs (B, 1, 2) and re-plots them."""

    def show(kind, n_inference_steps, eta, seed):
        # DDPM has no eta: make_sampler refuses one rather than silently ignore it.
        sampler = make_sampler(kind, schedule, n_inference_steps, eta=eta if kind == "ddim" else 0.0)
        traj = toy.sample_diffusion(model, sampler, obs, seed=seed)
        name = f"{kind.upper()}, {n_inference_steps} steps" + (f", eta={eta:.2f}" if kind == "ddim" else "")
        plot_paths(obs, traj, stats_title(name, obs, traj))
        plt.show()

    return widgets.interactive(
        show,
        kind=widgets.Dropdown(options=["ddpm", "ddim"], value="ddim", description="sampler", style=LABEL),
        n_inference_steps=widgets.IntSlider(10, min=1, max=schedule.n_steps, description="steps",
                                            continuous_update=False, style=LABEL),
        eta=widgets.FloatSlider(0.0, min=0.0, max=1.0, step=0.05, description="eta (DDIM)", continuous_update=False,
                                style=LABEL),
        seed=widgets.IntSlider(0, min=0, max=20, description="seed", continuous_update=False, style=LABEL),
    )
