"""Plots, animations and widgets used by the notebooks.

Every plotting function returns its matplotlib Figure (assign it, `fig = ...`, so a notebook shows it once);
widget builders return the `ipywidgets.interactive` box they display. Positions in the 2-D toy task are in
metres (m); actions are normalised to [-1, 1]; diffusion steps t count 0..T-1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.collections import LineCollection

from dpedu import toy
from dpedu.sampler import make_sampler
from dpedu.schedule import NoiseSchedule

SIDE_COLORS = {toy.LEFT: "tab:blue", toy.RIGHT: "tab:orange"}
HIT_COLOR = "tab:red"


# ----- noise schedules (notebook 01) -----

def plot_schedules(schedules: dict[str, NoiseSchedule]) -> plt.Figure:
    """beta_t, alpha_bar_t and the SNR (log scale) of each named schedule, side by side."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for name, s in schedules.items():
        t = np.arange(s.n_steps)
        axes[0].plot(t, s.betas.cpu(), label=name)
        axes[1].plot(t, s.alpha_bars.cpu(), label=name)
        axes[2].semilogy(t, s.snr().cpu(), label=name)
    titles = [r"$\beta_t$: noise variance added at step $t$", r"$\bar\alpha_t$: signal variance kept",
              r"SNR$_t = \bar\alpha_t / (1 - \bar\alpha_t)$"]
    ylabels = [r"$\beta_t$ (variance, unitless)", r"$\bar\alpha_t$ (fraction, unitless)", "SNR (ratio, log scale)"]
    for ax, title, ylabel in zip(axes, titles, ylabels):
        ax.set(title=title, xlabel="diffusion step $t$ (steps)", ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_forward_diffusion(schedules: dict[str, NoiseSchedule], x0: torch.Tensor, ts: Sequence[int],
                           eps: torch.Tensor, ylabel: str = "action (normalised, unitless)") -> plt.Figure:
    """One action sequence x0 (H,) noised to x_t at each t in ts with the same eps (H,), one panel per schedule."""
    fig, axes = plt.subplots(1, len(schedules), figsize=(6.5 * len(schedules), 3.6), sharey=True, squeeze=False)
    k = np.arange(len(x0))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(ts)))
    for ax, (name, s) in zip(axes[0], schedules.items()):
        for t, color in zip(ts, colors):
            x_t = s.add_noise(x0, torch.tensor(t), eps)
            ax.plot(k, x_t, "o-", color=color, ms=3, label=rf"$t={t}$, $\bar\alpha_t={s.alpha_bars[t]:.3f}$")
        ax.plot(k, x0, "k--", lw=2, label="$x_0$ (clean)")
        ax.set(title=f"{name}: $x_t$ of one action sequence", xlabel="action step $k$ (env steps)", ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def schedule_explorer(T: int = 50) -> widgets.interactive:
    """Sliders for T, kind, beta_start, beta_end; re-plots beta_t, alpha_bar_t and SNR against the other kind."""

    def show(T, kind, beta_start, beta_end):
        try:
            chosen = NoiseSchedule(T, kind, beta_start=beta_start, beta_end=beta_end)
        except ValueError as err:  # e.g. beta_start >= beta_end: show why instead of a traceback
            print(err)
            return
        other = "linear" if kind == "cosine" else "cosine"
        plot_schedules({f"{kind}, T={T}": chosen, f"{other} (reference)": NoiseSchedule(T, other)})
        print(f"alpha_bar_(T-1) = {chosen.alpha_bars[-1]:.3g}   (near 0 means x_(T-1) is almost pure noise)")
        plt.show()

    return widgets.interactive(
        show,
        T=widgets.IntSlider(T, min=2, max=1000, step=1, description="T", continuous_update=False),
        kind=widgets.Dropdown(options=["cosine", "linear"], value="linear", description="kind"),
        beta_start=widgets.FloatLogSlider(1e-4, base=10, min=-5, max=-1, description="beta_start",
                                          continuous_update=False),
        beta_end=widgets.FloatLogSlider(0.02, base=10, min=-3, max=-0.3, description="beta_end",
                                        continuous_update=False),
    )


def forward_diffusion_explorer(x0: torch.Tensor, eps: torch.Tensor, T: int = 50) -> widgets.interactive:
    """Sliders for t and kind: the action sequence x0 (H,) and its x_t, with the +-2 std band of q(x_t | x_0)."""

    def show(kind, t):
        s = NoiseSchedule(T, kind)
        mean, std = (s.sqrt_alpha_bars[t] * x0).numpy(), s.sqrt_one_minus_alpha_bars[t].item()
        k = np.arange(len(x0))
        fig, ax = plt.subplots(figsize=(7, 3.6))
        ax.fill_between(k, mean - 2 * std, mean + 2 * std, alpha=0.2, label=r"mean $\pm 2$ std of $q(x_t|x_0)$")
        ax.plot(k, x0, "k--", label="$x_0$")
        ax.plot(k, s.add_noise(x0, torch.tensor(t), eps), "o-", label="$x_t$")
        ax.set(title=rf"{kind}, $t={t}$: $\bar\alpha_t={s.alpha_bars[t]:.3f}$", ylim=(-3.5, 3.5),
               xlabel="action step $k$ (env steps)", ylabel="action (normalised, unitless)")
        ax.legend(loc="upper right", fontsize=8)
        plt.show()

    return widgets.interactive(
        show,
        kind=widgets.Dropdown(options=["cosine", "linear"], value="cosine", description="kind"),
        t=widgets.IntSlider(T // 2, min=0, max=T - 1, description="t", continuous_update=False),
    )


# ----- the 2-D toy task (notebook 02) -----

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
    """Save a GIF of 2-D paths frames (S + 1, B, H, 2) denoised from x_T to x_0; returns `path`.

    timesteps: the S timesteps the sampler visited, descending (sampler.timesteps); frame i is the state
    after i steps, at timestep timesteps[i] (the last frame is the clean sample).
    Paths are coloured by the side they end on, so the moment each sample commits to a mode shows.
    """
    frames = frames.cpu().numpy()
    final_side = np.where(frames[-1, :, :, 0].mean(axis=1) < 0, toy.LEFT, toy.RIGHT)
    colors = [SIDE_COLORS[int(s)] for s in final_side]
    S = len(timesteps)
    labels = ["$x_T$, pure noise"] + [f"step {i}/{S}, now at $t={timesteps[i]}$" for i in range(1, S)]
    labels.append(f"step {S}/{S}: the samples $x_0$")
    shown = list(range(0, len(frames) - 1, every)) + [len(frames) - 1] * (1 + round(hold_s * fps))

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=72)
    if background is not None:
        background(ax)
    ax.set(xlim=(-2.5, 2.5), ylim=(-2.5, 2.5), xlabel="x position (m)", ylabel="y position (m)")
    # Solid, aliased lines: blended colours would be dithered in the 256-colour GIF and triple its size.
    lines = ax.add_collection(LineCollection(frames[0], colors=colors, linewidths=0.6, antialiased=False))
    ax.set_title(f"reverse diffusion: {labels[0]}", fontsize=10)
    fig.tight_layout()

    def update(i):
        lines.set_segments(frames[i])
        ax.set_title(f"reverse diffusion: {labels[i]}", fontsize=10)
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
        kind=widgets.Dropdown(options=["ddpm", "ddim"], value="ddim", description="sampler"),
        n_inference_steps=widgets.IntSlider(10, min=1, max=schedule.n_steps, description="steps",
                                            continuous_update=False),
        eta=widgets.FloatSlider(0.0, min=0.0, max=1.0, step=0.05, description="eta (DDIM)", continuous_update=False),
        seed=widgets.IntSlider(0, min=0, max=20, description="seed", continuous_update=False),
    )
