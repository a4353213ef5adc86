"""Plots and widgets of noise schedules and the forward process, for notebook 01.

Every plotting function returns its matplotlib Figure (assign it, `fig = ...`, so a notebook shows it once);
widget builders return the `ipywidgets.interactive` box they display. Diffusion steps t count 0..T-1.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from dpedu.diffusion.schedule import NoiseSchedule


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
            ax.plot(k, x_t, "o-", color=color, ms=3, label=rf"$x_{{{t}}}$, $\bar\alpha_{{{t}}}={s.alpha_bars[t]:.3f}$")
        ax.plot(k, x0, "k--", lw=2, label=r"$x_{-1}$ (clean, $\bar\alpha_{-1}=1$)")
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
    """Sliders for t and kind: the clean action sequence x0 (H,) and its x_t, with the +-2 std band of q(x_t | x0)."""

    def show(kind, t):
        s = NoiseSchedule(T, kind)
        mean, std = (s.sqrt_alpha_bars[t] * x0).numpy(), s.sqrt_one_minus_alpha_bars[t].item()
        k = np.arange(len(x0))
        fig, ax = plt.subplots(figsize=(7, 3.6))
        ax.fill_between(k, mean - 2 * std, mean + 2 * std, alpha=0.2, label=r"mean $\pm 2$ std of $q(x_t|x_{-1})$")
        ax.plot(k, x0, "k--", label="$x_{-1}$ (clean)")
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
