"""The temporal U-Net drawn and measured, for notebook 07: its blocks over the time axis, how consistently sampled
plans follow the side a Detour state is on, the chunks it samples next to the MLP's, the networks' time per update
and per plan, the seed record of benchmarks/unet.py, and the two index conventions for a plan.
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import FancyArrowPatch, Rectangle

from dpedu.course.policy_plots import _rel
from dpedu.envs.detour import SPEED
from dpedu.networks.unet1d import UNet1DDenoiser
from dpedu.stats import t_interval
from dpedu.trainer import diffusion_loss

HERE = Path(__file__).parent
# python benchmarks/unet.py --seeds 0 1 2 --save dpedu/course/checkpoints > dpedu/course/unet_seeds.jsonl
SEED_RESULTS = HERE / "unet_seeds.jsonl"
NAMES = {"mlp": "MLP", "mlp_film": "MLP+FiLM", "unet": "U-Net"}  # benchmarks/unet.py's networks


def load_seed_results(path: Path = SEED_RESULTS) -> dict:
    """The benchmark's pooled rows, keyed by (env_id, network, n_action_steps), and its per-seed rows as a list."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    pooled = {(r["env_id"], r["network"], r["n_action_steps"]): r for r in rows if r.get("pooled")}
    return {"pooled": pooled, "seeds": [r for r in rows if not r.get("pooled")]}


def draw_unet(model: UNet1DDenoiser) -> plt.Figure:
    """The U-Net over the time axis: each feature map a box as long as its number of time steps, labelled with its
    channels; the down path on the left, the up path on the right, skip connections dashed across the U."""
    H, act_dim = model.act_shape
    widths = [level[0].conv1.block[0].out_channels for level in model.down]
    L = len(widths)
    fig, ax = plt.subplots(figsize=(11, 1.25 * L + 3.0))
    left, right = 0.0, 2.2 * H + 22.0
    centre = (left + right) / 2

    def w(steps: float) -> float:  # a box's width grows with its time steps; the constant keeps its label inside
        return 6 + steps

    def box(x: float, y: float, steps: float, label: str, color: str) -> None:
        ax.add_patch(Rectangle((x - w(steps) / 2, y - 0.32), w(steps), 0.64, facecolor=color, alpha=0.35,
                               edgecolor=color))
        ax.text(x, y, label, ha="center", va="center", fontsize=8)

    def arrow(a: tuple, b: tuple, label: str = "", **kw) -> None:
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=10, lw=1, **kw))
        if label:
            ax.text((a[0] + b[0]) / 2 + 0.3, (a[1] + b[1]) / 2, label, fontsize=7, color=kw.get("color", "k"))

    row = lambda i: -1.25 * i  # noqa: E731  row i holds the maps of H / 2^i time steps
    box(left, 1.3, H, f"x^k: {act_dim} channels x {H} steps", "tab:gray")
    box(right, 1.3, H, f"eps_theta: {act_dim} channels x {H} steps", "tab:gray")
    arrow((left, 0.98), (left, row(0) + 0.32), "transpose: (B, H, act_dim) -> (B, act_dim, H)")
    for i, c in enumerate(widths):  # down: two FiLM ResBlocks per level, then a stride-2 conv halves the length
        box(left, row(i), H / 2**i, f"2 ResBlocks(c): {c} ch x {H // 2**i}", "tab:blue")
        if i < L - 1:
            arrow((left, row(i) - 0.32), (left, row(i + 1) + 0.32), "downsample /2", color="tab:blue")
    n_mid = H // 2 ** (L - 1)
    box(centre, row(L), n_mid, f"mid: 2 ResBlocks(c)\n{widths[-1]} ch x {n_mid}", "tab:purple")
    arrow((left + w(n_mid) / 2, row(L - 1) - 0.32), (centre - w(n_mid) / 2, row(L)), color="tab:purple")
    arrow((centre + w(n_mid) / 2, row(L)), (right - w(n_mid) / 2, row(L - 1) - 0.32), color="tab:purple")
    for i in range(L - 1, 0, -1):  # up: concatenate the skip of the same length, two ResBlocks, upsample x2
        n = H // 2**i
        box(right, row(i), n, f"cat skip, 2 ResBlocks(c):\n{2 * widths[i]} -> {widths[i - 1]} ch x {n}", "tab:orange")
        arrow((right, row(i) + 0.32), (right, row(i - 1) - 0.32), "upsample x2", color="tab:orange")
        arrow((left + w(n) / 2, row(i)), (right - w(n) / 2, row(i)), color="tab:green", ls="--")
        ax.text(centre, row(i) + 0.08, f"skip: {widths[i]} ch x {n}", ha="center", fontsize=7, color="tab:green")
    box(right, row(0), H, f"out: Conv1dBlock, 1x1 conv -> {act_dim} ch x {H}", "tab:gray")
    arrow((right, row(0) + 0.32), (right, 0.98))
    ax.text(centre, row(0) + 0.05, f"(the {widths[0]}-channel skip of length {H} goes unused,\nas in Chi et al.'s "
            "code)", ha="center", fontsize=7, color="0.4")
    ax.text(centre, 1.3, "condition c = [obs window, emb(k)]:\nFiLM gamma(c) * h + b(c) in every ResBlock",
            ha="center", va="center", fontsize=9, color="tab:red")
    ax.set(xlim=(left - w(H) / 2 - 0.5, right + w(H) / 2 + 0.5), ylim=(row(L) - 0.6, 1.8),
           title=f"temporal U-Net, unet_dim {widths[0]}, {L} levels, H = {H}: a box's width grows with its time steps")
    ax.axis("off")
    fig.tight_layout()
    return fig


def side_agreement(policy, x: float, offsets, n_samples: int = 200, seed: int = 0) -> np.ndarray:
    """Detour: for a point at (x, y) for each y in `offsets` (moving straight along x, as the demonstrator does on
    the axis), the share of `n_samples` sampled plans whose mean sideways action points to the side y is on."""
    policy.reset(seed=seed)
    shares = []
    for y in offsets:
        window = np.array([[[x - SPEED, y], [x, y]]], dtype=np.float32)  # (1, To, obs_dim)
        plans, _ = policy.denoise(window, n_samples=n_samples)
        shares.append(float(np.mean(np.sign(plans[:, :, 1].mean(axis=1)) == np.sign(y))))
    return np.array(shares)


def plot_side_agreement(offsets, shares: dict[str, np.ndarray], x: float) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, s in shares.items():
        ax.plot(offsets, s, "o-", label=name)
    ax.axhline(0.5, color="0.6", ls=":", lw=1)
    ax.set(xscale="log", xlabel="offset y from the axis (log scale)", ylabel="share of plans turning to that side",
           ylim=(0.3, 1.02), title=f"point at x = {x}, past the fork: do the plans follow the side it is on?")
    ax.set_xticks(list(offsets), [f"{y:g}" for y in offsets], minor=False)
    ax.minorticks_off()
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_chunks(chunks: dict[str, np.ndarray], title: str) -> plt.Figure:
    """Sampled action chunks (n, H, act_dim) per network, one panel per action dimension."""
    act_dim = next(iter(chunks.values())).shape[-1]
    fig, axes = plt.subplots(1, act_dim, figsize=(5 * act_dim, 3.2), squeeze=False)
    colors = dict(zip(chunks, ["tab:blue", "tab:orange", "tab:green"]))
    for d, ax in enumerate(axes[0]):
        for name, c in chunks.items():
            for i, chunk in enumerate(c):
                ax.plot(chunk[:, d], color=colors[name], alpha=0.5, lw=1, label=name if i == 0 else None)
        ax.set(xlabel="step k in the chunk", ylabel=f"action[{d}]", title=f"{title}: action dimension {d}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_index_conventions(obs_horizon: int = 2, action_horizon: int = 16, n_action_steps: int = 8) -> plt.Figure:
    """Chi et al.'s plan (predicts a[t-To+1 .. t-To+H], executes indices To-1 .. To-2+Ta) above dpedu's
    (predicts a[t .. t+H-1], executes indices 0 .. Ta-1): the executed actions are the same a[t .. t+Ta-1]."""
    To, H, Ta = obs_horizon, action_horizon, n_action_steps
    first = -To + 1
    steps = np.arange(first, H)
    rows = [("observations\n(both)", [(k, f"o[{_rel(k)}]", "tab:blue", 0.35) for k in range(first, 1)]),
            ("Chi et al.:\npredicted", [(k, f"a[{_rel(k)}]", "tab:orange", 0.15 if k < 0 else 0.35)
                                        for k in range(first, first + H)]),
            ("Chi et al.:\nexecuted", [(k, f"{k - first}", "tab:red", 0.35) for k in range(Ta)]),
            ("dpedu:\npredicted", [(k, f"a[{_rel(k)}]", "tab:orange", 0.35) for k in range(H)]),
            ("dpedu:\nexecuted", [(k, f"{k}", "tab:red", 0.35) for k in range(Ta)])]
    fig, ax = plt.subplots(figsize=(0.62 * len(steps) + 2.5, 4.2))
    for y, (_, boxes) in enumerate(rows):
        for k, label, color, alpha in boxes:
            ax.add_patch(Rectangle((k - 0.45, -y - 0.4), 0.9, 0.8, facecolor=color, alpha=alpha, edgecolor=color))
            ax.text(k, -y, label, ha="center", va="center", fontsize=6.5)
    ax.axvline(-0.5, color="0.5", ls=":", lw=1)
    ax.set(xlim=(steps[0] - 0.6, steps[-1] + 0.6), ylim=(-len(rows) + 0.4, 0.8), xticks=steps,
           xticklabels=[_rel(k) for k in steps], yticks=-np.arange(len(rows)), yticklabels=[r[0] for r in rows],
           xlabel="environment step", title=f"To={To}, H={H}, Ta={Ta}: executed rows show the index in the "
                                            f"predicted chunk (Chi et al. start at To-1 = {To - 1}, dpedu at 0)")
    fig.tight_layout()
    return fig


def time_networks(policies: dict, batch_size: int = 256, rounds: int = 5, repeats: int = 3) -> dict:
    """Median milliseconds of one gradient update (a batch of `batch_size` random chunks, on a copy of the network)
    and of one plan (one observation window, the policy's sampler) per policy, timed round after round so that
    every network sees the same machine load."""
    times = {name: {"update_ms": [], "plan_ms": []} for name in policies}
    copies = {name: copy.deepcopy(p.model).train() for name, p in policies.items()}
    optimizers = {name: torch.optim.Adam(m.parameters(), lr=1e-4) for name, m in copies.items()}
    g = torch.Generator().manual_seed(0)
    for _ in range(rounds):
        for name, policy in policies.items():
            c, model = policy.config, copies[name]
            obs = torch.rand(batch_size, c.obs_horizon, policy.obs_dim, generator=g) * 2 - 1
            a0 = torch.rand(batch_size, c.action_horizon, policy.act_dim, generator=g) * 2 - 1
            start = time.perf_counter()
            for _ in range(repeats):
                optimizers[name].zero_grad()
                diffusion_loss(model, policy.schedule, obs, a0, generator=g).backward()
                optimizers[name].step()
            times[name]["update_ms"].append((time.perf_counter() - start) / repeats * 1e3)
            window = np.zeros((1, c.obs_horizon, policy.obs_dim), np.float32)
            start = time.perf_counter()
            for _ in range(repeats):
                policy.predict_chunk(window)
            times[name]["plan_ms"].append((time.perf_counter() - start) / repeats * 1e3)
    return {name: {k: statistics.median(v) for k, v in t.items()} for name, t in times.items()}


def plot_seed_results(record: dict) -> plt.Figure:
    """benchmarks/unet.py's record: per panel, each network's seeds as dots and their mean with a 95% t-interval
    over the seeds (dpedu.stats.t_interval): the seeds, not the pooled episodes, are the independent draws."""
    panels = [("dpedu/Detour-v0", 8, "success_rate", "Detour, 8 per plan: success"),
              ("dpedu/Detour-v0", 1, "success_rate", "Detour, 1 per plan: success"),
              ("Pendulum-v1", 1, "mean_return", "Pendulum: return"),
              ("dpedu/Detour-v0", 1, "mean_action_change", "Detour, 1 per plan: mean |da|"),
              ("Pendulum-v1", 1, "mean_action_change", "Pendulum: mean |da|")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.3))
    for ax, (env_id, n, key, title) in zip(axes, panels):
        for x, net in enumerate(NAMES):
            seeds = np.array([s[key] for s in record["seeds"]
                              if (s["env_id"], s["network"], s["n_action_steps"]) == (env_id, net, n)])
            if len(seeds) == 0:
                continue
            mean, (lo, hi) = seeds.mean(), t_interval(seeds)
            ax.errorbar(x, mean, yerr=[[mean - lo], [hi - mean]], fmt="s", color="k", capsize=5)
            ax.plot(np.full(len(seeds), x) + np.linspace(-0.12, 0.12, len(seeds)), seeds, "o",
                    color=f"C{x}", alpha=0.7)
        ax.set(xticks=range(len(NAMES)), xticklabels=list(NAMES.values()), xlim=(-0.6, len(NAMES) - 0.4),
               title=title)
        ax.tick_params(axis="x", labelsize=8)
        ax.title.set_fontsize(9)
    fig.suptitle("three training seeds: dots one seed each, squares their mean with a 95% t-interval over seeds",
                 fontsize=10)
    fig.tight_layout()
    return fig
