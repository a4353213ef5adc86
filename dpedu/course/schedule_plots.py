"""Plots and widgets of noise schedules and the forward process, for notebook 01.

Every plotting function returns its matplotlib Figure (assign it, `fig = ...`, so a notebook shows it once);
widget builders return the `ipywidgets.interactive` box they display. Diffusion steps k count 0..K, k = 0 being
the clean sample x^0 (alpha_bar_0 = 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from dpedu.diffusion.schedule import NoiseSchedule


def plot_schedules(schedules: dict[str, NoiseSchedule]) -> plt.Figure:
    """beta_k, alpha_bar_k and the SNR (log scale) of each named schedule over k = 1..K, side by side."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for name, s in schedules.items():
        k = np.arange(1, s.n_steps + 1)  # entry 0, the clean sample (beta_0 = 0, SNR infinite), is left out
        axes[0].plot(k, s.betas[1:].cpu(), label=name)
        axes[1].plot(k, s.alpha_bars[1:].cpu(), label=name)
        axes[2].semilogy(k, s.snr()[1:].cpu(), label=name)
    titles = [r"$\beta_k$: noise variance added at step $k$", r"$\bar\alpha_k$: signal variance kept",
              r"SNR$_k = \bar\alpha_k / (1 - \bar\alpha_k)$"]
    ylabels = [r"$\beta_k$ (variance, unitless)", r"$\bar\alpha_k$ (fraction, unitless)", "SNR (ratio, log scale)"]
    for ax, title, ylabel in zip(axes, titles, ylabels):
        ax.set(title=title, xlabel="diffusion step $k$ (steps)", ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_forward_diffusion(schedules: dict[str, NoiseSchedule], x0: torch.Tensor, ks: Sequence[int],
                           eps: torch.Tensor, ylabel: str = "action (normalised, unitless)") -> plt.Figure:
    """One action sequence x^0 (H,) noised to x^k at each k in ks with the same eps (H,), one panel per schedule."""
    fig, axes = plt.subplots(1, len(schedules), figsize=(6.5 * len(schedules), 3.6), sharey=True, squeeze=False)
    i = np.arange(len(x0))  # position in the chunk (environment steps)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(ks)))
    for ax, (name, s) in zip(axes[0], schedules.items()):
        for k, color in zip(ks, colors):
            x_k = s.add_noise(x0, torch.tensor(k), eps)
            ax.plot(i, x_k, "o-", color=color, ms=3, label=rf"$x^{{{k}}}$, $\bar\alpha_{{{k}}}={s.alpha_bars[k]:.3f}$")
        ax.plot(i, x0, "k--", lw=2, label=r"$x^0$ (clean, $\bar\alpha_0=1$)")
        ax.set(title=f"{name}: $x^k$ of one action sequence", xlabel="action $i$ in the chunk (env steps)",
               ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def schedule_explorer(K: int = 50) -> widgets.interactive:
    """Sliders for K, kind, beta_start, beta_end; re-plots beta_k, alpha_bar_k and SNR against the other kind."""

    def show(K, kind, beta_start, beta_end):
        try:
            chosen = NoiseSchedule(K, kind, beta_start=beta_start, beta_end=beta_end)
        except ValueError as err:  # e.g. beta_start >= beta_end: show why instead of a traceback
            print(err)
            return
        other = "linear" if kind == "cosine" else "cosine"
        plot_schedules({f"{kind}, K={K}": chosen, f"{other} (reference)": NoiseSchedule(K, other)})
        print(f"alpha_bar_K = {chosen.alpha_bars[-1]:.3g}   (near 0 means x^K is almost pure noise)")
        plt.show()

    return widgets.interactive(
        show,
        K=widgets.IntSlider(K, min=2, max=1000, step=1, description="K", continuous_update=False),
        kind=widgets.Dropdown(options=["cosine", "linear"], value="linear", description="kind"),
        beta_start=widgets.FloatLogSlider(1e-4, base=10, min=-5, max=-1, description="beta_start",
                                          continuous_update=False),
        beta_end=widgets.FloatLogSlider(0.02, base=10, min=-3, max=-0.3, description="beta_end",
                                        continuous_update=False),
    )


def forward_diffusion_explorer(x0: torch.Tensor, eps: torch.Tensor, K: int = 50) -> widgets.interactive:
    """Sliders for k = 0..K and kind: the clean action sequence x^0 (H,) and its x^k, with the +-2 std band of
    q(x^k | x^0) (at k = 0, x^k is x^0 and the band has width 0)."""

    def show(kind, k):
        s = NoiseSchedule(K, kind)
        mean, std = (s.sqrt_alpha_bars[k] * x0).numpy(), s.sqrt_one_minus_alpha_bars[k].item()
        i = np.arange(len(x0))  # position in the chunk (environment steps)
        fig, ax = plt.subplots(figsize=(7, 3.6))
        ax.fill_between(i, mean - 2 * std, mean + 2 * std, alpha=0.2, label=r"mean $\pm 2$ std of $q(x^k|x^0)$")
        ax.plot(i, x0, "k--", label="$x^0$ (clean)")
        ax.plot(i, s.add_noise(x0, torch.tensor(k), eps), "o-", label="$x^k$")
        ax.set(title=rf"{kind}, $k={k}$: $\bar\alpha_k={s.alpha_bars[k]:.3f}$", ylim=(-3.5, 3.5),
               xlabel="action $i$ in the chunk (env steps)", ylabel="action (normalised, unitless)")
        ax.legend(loc="upper right", fontsize=8)
        plt.show()

    return widgets.interactive(
        show,
        kind=widgets.Dropdown(options=["cosine", "linear"], value="cosine", description="kind"),
        k=widgets.IntSlider(K // 2, min=0, max=K, description="k", continuous_update=False),
    )
