"""Notebook 11's figures and tables: the shipped record of benchmarks/design_choices.py (the denoiser, the action
horizon and latency on Detour, over training seeds) and the transformer's attention drawn."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from dpedu.course.detour_plots import draw_scene
from dpedu.stats import over_seeds, paired_difference

RECORD = Path(__file__).with_name("design_choices.jsonl")
NAMES = {"mlp": "residual MLP", "unet": "temporal U-Net", "transformer": "transformer",
         "transformer_full": "transformer, no mask"}
COLOURS = dict(zip(NAMES, ("tab:blue", "tab:orange", "tab:green", "tab:red")))


def read_record(path: Path = RECORD) -> list[dict]:
    """One row per (network, seed, n_action_steps, latency)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def seed_rows(record: list[dict], **setting) -> list[dict]:
    """The rows of a record whose fields equal `setting`, one per training seed, in seed order."""
    return sorted((r for r in record if all(r[k] == v for k, v in setting.items())), key=lambda r: r["seed"])


def rows_of(record: list[dict], network: str, n_action_steps: int, latency: int = 0) -> list[dict]:
    """The rows of one setting of benchmarks/design_choices.py, one per training seed."""
    return seed_rows(record, network=network, n_action_steps=n_action_steps, latency=latency)


def share_over_seeds(rows: list[dict], field: str = "success_rate") -> tuple[float, float, float]:
    """A share's mean over training seeds and its 95% t-interval, clipped to [0, 1]."""
    mean, (lo, hi) = over_seeds(rows, field)
    return mean, max(lo, 0.0), min(hi, 1.0)


def cell(rows: list[dict], field: str = "success_rate") -> str:
    mean, lo, hi = share_over_seeds(rows, field)
    return f"{mean:4.2f} [{lo:4.2f}, {hi:4.2f}]"


def paired(record: list[dict], a: tuple, b: tuple, field: str = "success_rate") -> tuple[np.ndarray, float, float]:
    """Per-seed differences between two settings (network, n_action_steps, latency) of the same trained policies (or
    of two networks trained on the same seeds), and their 95% t-interval clipped to [-1, 1]."""
    return paired_rows(rows_of(record, *a), rows_of(record, *b), field)


def networks_table(record: list[dict]) -> str:
    """Per network, with the preset's 8 actions per plan: success and switches over seeds, and what it costs."""
    lines = [f"{'':22}{'success':>22}{'switched sides':>22}{'params':>9}{'ms/update':>11}{'ms/plan':>9}"
             f"{'train s':>9}"]
    for network in NAMES:
        rows = rows_of(record, network, 8)
        if not rows:
            continue
        cost = {k: np.median([r[k] for r in rows]) for k in ("ms_per_update", "plan_ms", "train_s")}
        lines.append(f"{NAMES[network]:22}{cell(rows):>22}{cell(rows, 'switched_share'):>22}{rows[0]['params']:>9,}"
                     f"{cost['ms_per_update']:>11.1f}{cost['plan_ms']:>9.2f}{cost['train_s']:>9.0f}")
    return "\n".join(lines)


def plot_action_horizon(record: list[dict]) -> plt.Figure:
    """Success and side switches against T_a (actions executed per plan), per network: mean over seeds, its 95%
    t-interval as a band, and each seed as a faint line."""
    steps = sorted({r["n_action_steps"] for r in record if r["latency"] == 0})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for (field, label), ax in zip((("success_rate", "success rate"), ("switched_share", "episodes that switch sides")),
                                  axes):
        for network, colour in COLOURS.items():
            stats = [share_over_seeds(rows_of(record, network, n), field) for n in steps]
            if not all(rows_of(record, network, n) for n in steps):
                continue
            mean, lo, hi = np.array(stats).T
            ax.plot(steps, mean, "o-", color=colour, label=NAMES[network])
            ax.fill_between(steps, lo, hi, color=colour, alpha=0.15)
        ax.set(xscale="log", xticks=steps, xticklabels=steps, xlabel="T_a: actions executed per plan (H = 8)",
               ylabel=label, ylim=(-0.03, 1.03))
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle("Detour: how many of a plan's actions to execute (3 training seeds, 95% t-intervals)")
    fig.tight_layout()
    return fig


def plot_latency(record: list[dict]) -> plt.Figure:
    """Success against latency (control steps the observations lag behind), per network: one panel with one action
    per plan, one with 8; mean over seeds with its 95% t-interval as a band."""
    latencies = sorted({r["latency"] for r in record})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, n in zip(axes, (1, 8)):
        for network, colour in COLOURS.items():
            if not all(rows_of(record, network, n, d) for d in latencies):
                continue
            mean, lo, hi = np.array([share_over_seeds(rows_of(record, network, n, d)) for d in latencies]).T
            ax.plot(latencies, mean, "o-", color=colour, label=NAMES[network])
            ax.fill_between(latencies, lo, hi, color=colour, alpha=0.12)
        ax.set(xticks=latencies, xlabel="latency: control steps the observations lag behind", ylim=(-0.03, 1.03),
               title=f"T_a = {n} action{'s' if n > 1 else ''} per plan")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("success rate")
    axes[1].legend(fontsize=8, loc="lower left")
    fig.suptitle("Detour with late observations (3 training seeds, 95% t-intervals)")
    fig.tight_layout()
    return fig


def token_influence(model: torch.nn.Module, obs: torch.Tensor, k: int = 10, seed: int = 0) -> np.ndarray:
    """(H, H): entry [i, j] is how much the network's output for action i moves when action j of its input x^k is
    nudged (max |change| over act_dim, for one random x^k): what each action token reads."""
    generator = torch.Generator().manual_seed(seed)
    H, act_dim = model.act_shape
    x = torch.randn(1, H, act_dim, generator=generator)
    step = torch.tensor([k])
    with torch.no_grad():
        base = model(x, step, obs)
        influence = np.zeros((H, H))
        for j in range(H):
            nudged = x.clone()
            nudged[0, j] += 0.5
            influence[:, j] = (model(nudged, step, obs) - base)[0].abs().amax(dim=-1).numpy()
    return influence


def plot_token_influence(influences: dict[str, np.ndarray]) -> plt.Figure:
    """One panel per network: token_influence as an image (rows: output actions i, columns: nudged input actions j)."""
    fig, axes = plt.subplots(1, len(influences), figsize=(3.4 * len(influences), 3.3))
    for ax, (name, influence) in zip(np.atleast_1d(axes), influences.items()):
        ax.imshow(influence / influence.max(), cmap="viridis", vmin=0, vmax=1)
        H = len(influence)
        ax.set(title=name, xlabel="nudged input action j", ylabel="output action i", xticks=range(H), yticks=range(H))
    fig.suptitle("What each action reads: |change of output i| when input j is nudged (scaled to the largest)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------- position control

CONTROL_RECORD = Path(__file__).with_name("control_seeds.jsonl")
METHOD_NAMES = {"diffusion": "Diffusion Policy", "regression": "MSE regression", "gmm": "Gaussian mixture",
                "bet": "BET"}


def control_rows(record: list[dict], method: str, control: str, n_action_steps: int = 8, latency: int = 0,
                 compensated: bool = False) -> list[dict]:
    """The rows of benchmarks/control.py for one method, control and setting, one per training seed."""
    return seed_rows(record, method=method, control=control, n_action_steps=n_action_steps, latency=latency,
                     compensated=compensated)


def paired_rows(a: list[dict], b: list[dict], field: str = "success_rate") -> tuple[np.ndarray, float, float]:
    """Per-seed differences a - b and their 95% t-interval, clipped to [-1, 1]."""
    diff, (lo, hi) = paired_difference(a, b, field)
    return diff, max(lo, -1.0), min(hi, 1.0)


def plot_two_controls(episode_xy: np.ndarray, velocity: np.ndarray, position: np.ndarray) -> plt.Figure:
    """One demonstration under both controls: the path, and each control's actions over the episode."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    draw_scene(axes[0])
    axes[0].plot(*episode_xy.T, "k.-", ms=3)
    axes[0].set(title="one demonstration (the goal: green)")
    for ax, actions, title in ((axes[1], velocity, "velocity control: a = the step"),
                               (axes[2], position, "position control: a = where to go")):
        ax.plot(actions[:, 0], label="a_x")
        ax.plot(actions[:, 1], label="a_y")
        ax.set(xlabel="control step t", title=title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


IDLE_RECORD = Path(__file__).with_name("idle_seeds.jsonl")
IDLE_METHOD_NAMES = {"diffusion": "Diffusion Policy, MLP", "diffusion_unet": "Diffusion Policy, U-Net",
                     "regression": "MSE regression", "gmm": "Gaussian mixture"}


def idle_rows(record: list[dict], method: str, paused: bool, n_action_steps: int) -> list[dict]:
    """The rows of benchmarks/idle.py for one method, with or without pauses in its demonstrations, one per seed."""
    return [r for r in seed_rows(record, method=method, n_action_steps=n_action_steps) if (r["rate"] > 0) == paused]


def plot_pauses(plain: dict, pausing: dict, n_shown: int = 5) -> plt.Figure:
    """Demonstrations without and with pauses (rollouts' dicts): x against time; a pause is a flat stretch."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.0), sharey=True)
    for ax, (title, episodes) in zip(axes, (("the demonstrator", plain), ("the demonstrator, pausing", pausing))):
        for obs in episodes["observations"][:n_shown]:
            ax.plot(obs[:, 0], lw=1.2)
        ax.set(title=title, xlabel="control step t")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("x (start -1.2, goal 1)")
    fig.tight_layout()
    return fig


def idle_without(idle: list[dict], design: list[dict], method: str, n_action_steps: int) -> list[dict]:
    """The rows without pauses: benchmarks/idle.py's own, or for the U-Net benchmarks/design_choices.py's (the same
    network: Pausing with rate 0 is the plain demonstrator, step for step, a test)."""
    return (idle_rows(idle, method, False, n_action_steps) if method != "diffusion_unet"
            else rows_of(design, "unet", n_action_steps))


def _recorded_mean(rows: list[dict], field: str) -> float:
    """The mean over the seeds that have the field (a seed with no successful episode has no length)."""
    return float(np.mean([r[field] for r in rows if r.get(field) is not None]))


def idle_table(idle: list[dict], design: list[dict]) -> str:
    """Per method and T_a: success without and with pauses, their paired difference, and with pauses the share of
    episodes stalled (out of time, neither at the goal nor on the disk), of steps standing still, and the steps a
    successful episode takes (without pauses in brackets, where recorded)."""
    lines = [f"{'':26}{'T_a':>4}{'no pauses':>20}{'pauses':>20}{'pauses - none':>22}{'stalled':>9}"
             f"{'standing':>10}{'steps':>13}"]
    for method, name in IDLE_METHOD_NAMES.items():
        for n in (8, 1):
            paused, plain = idle_rows(idle, method, True, n), idle_without(idle, design, method, n)
            diff, lo, hi = paired_rows(paused, plain)
            stalled, standing = _recorded_mean(paused, "stalled_share"), _recorded_mean(paused, "idle_share")
            steps = f"{_recorded_mean(paused, 'success_length'):.0f}"
            steps += f" ({_recorded_mean(plain, 'success_length'):.0f})" if "success_length" in plain[0] else "     "
            lines.append(f"{name:26}{n:>4}{cell(plain):>20}{cell(paused):>20}"
                         f"{f'{diff.mean():+.2f} [{lo:+.2f}, {hi:+.2f}]':>22}{stalled:>9.0%}{standing:>10.0%}"
                         f"{steps:>13}")
    return "\n".join(lines)


PUSHT_RECORD = Path(__file__).with_name("pusht_choices.jsonl")


def pusht_rows(record: list[dict], n_action_steps: int, latency: int = 0, compensated: bool = False) -> list[dict]:
    """The rows of benchmarks/pusht_choices.py for one setting, one per training seed, in seed order."""
    return seed_rows(record, n_action_steps=n_action_steps, latency=latency, compensated=compensated)


def pusht_table(record: list[dict], reference: tuple = (8, 0, False)) -> str:
    """Per setting (T_a, latency, compensated): Chi et al.'s score and the success rate over seeds, and the score's
    paired difference from the preset's setting (8 actions per plan, on time)."""
    lines = [f"{'T_a':>4}{'late':>6}{'compensated':>13}{'score':>22}{'success':>22}   score - preset, paired by seed"]
    settings = sorted({(r["n_action_steps"], r["latency"], r["compensated"]) for r in record},
                      key=lambda s: (s[1], s[2], s[0]))
    for setting in settings:
        rows = pusht_rows(record, *setting)
        diff, lo, hi = paired_rows(rows, pusht_rows(record, *reference), "score")
        versus = "" if setting == reference else (f"{' '.join(f'{d:+.2f}' for d in diff)}; "
                                                 f"{diff.mean():+.2f} [{lo:+.2f}, {hi:+.2f}]")
        lines.append(f"{setting[0]:>4}{setting[1]:>6}{'yes' if setting[2] else '':>13}{cell(rows, 'score'):>22}"
                     f"{cell(rows):>22}   {versus}")
    return "\n".join(lines)
