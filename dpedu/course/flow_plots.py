r"""Notebook 12's exact fields, figures and tables: DDIM and flow matching as ODEs on a two-blob target whose every
field is known in closed form, the toy's sampling paths animated, and the record of benchmarks/flow.py.

The two-blob target: A ~ N(mu_m, s^2 I), m = left or right with probability 1/2 (the toy's mid-path waypoints, one
on each side of the obstacle). Both DDPM's forward process and flow matching's path write the noisy point as

    x = a A + b eps,      DDPM: a = sqrt(alpha_bar_k), b = sqrt(1 - alpha_bar_k);   flow: a = tau, b = 1 - tau,

so both networks are, at best, the same posterior mean E[A | x] in disguise (`posterior_mean`): DDPM's x0 estimate is
it, its eps is (x - a E[A|x]) / b, and flow's velocity is E[A - eps | x] = (E[A|x] - x) / (1 - tau).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from dpedu.course import design_plots, toy
from dpedu.course.pendulum import save_gif
from dpedu.course.toy_plots import draw_toy_scene
from dpedu.diffusion.flow import TIME_SCALE, EulerSampler
from dpedu.diffusion.sampler import DDIMSampler
from dpedu.diffusion.schedule import NoiseSchedule
from dpedu.stats import paired_difference

RECORD = Path(__file__).with_name("flow_seeds.jsonl")
MODES = torch.tensor([[-0.75, 0.0], [0.75, 0.0]])  # the blobs' centres (m): one each side of the obstacle
MODE_STD = 0.08
METHOD_NAMES = {"ddpm": "DDPM", "ddim": "DDIM (eta 0)", "flow": "flow matching", "reflow": "reflow (one-step)"}
COLOURS = {"ddpm": "tab:blue", "ddim": "tab:purple", "flow": "tab:green", "reflow": "tab:red"}


# ---------------------------------------------------------------- the exact fields


def posterior_mean(x: torch.Tensor, a: torch.Tensor | float, b: torch.Tensor | float) -> torch.Tensor:
    """E[A | a A + b eps = x] for the two-blob target, x (N, 2), a and b scalars or (N,): each blob's Gaussian
    posterior mean, weighted by how likely the blob makes x."""
    a, b = (torch.as_tensor(v, dtype=x.dtype).reshape(-1, 1) for v in (a, b))
    var = a**2 * MODE_STD**2 + b**2  # (N, 1): the variance of x given the blob
    log_w = torch.stack([-((x - a * mu) ** 2).sum(-1) / (2 * var[:, 0]) for mu in MODES], dim=-1)  # (N, 2)
    w = torch.softmax(log_w, dim=-1)
    means = torch.stack([mu + a * MODE_STD**2 / var * (x - a * mu) for mu in MODES], dim=1)  # (N, 2, 2)
    return (w[..., None] * means).sum(1)


def exact_velocity(x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """Flow matching's best velocity v*(x, tau) = E[A - eps | A^tau = x] = (E[A | x] - x) / (1 - tau)."""
    return (posterior_mean(x, tau, 1 - tau) - x) / (1 - tau).reshape(-1, 1)


def flow_model(x, k, obs=None):
    """exact_velocity as a network is called: model(x, k = 1 + TIME_SCALE tau, obs)."""
    return exact_velocity(x, (k - 1.0) / TIME_SCALE)


def ddim_model(schedule: NoiseSchedule):
    """DDPM's best estimate of the clean sample, E[A | x^k], as a network with prediction_type "sample"."""
    def model(x, k, obs=None):
        alpha_bar = schedule.alpha_bars[k]
        return posterior_mean(x, alpha_bar.sqrt(), (1 - alpha_bar).sqrt())
    return model


def exact_paths(eps: torch.Tensor, steps: int = 200) -> dict[str, np.ndarray]:
    """From the same noise eps (N, 2), the points visited (steps + 1, N, 2) by: DDIM's ODE (cosine schedule, K = steps,
    its exact x0 estimate), flow matching's ODE (Euler on v*), and reflow's straight line from eps to where the flow's
    ODE took it."""
    schedule = NoiseSchedule(steps, "cosine")
    ddim = DDIMSampler(schedule, steps, clip_sample=False, prediction_type="sample")
    _, ddim_path = ddim.sample(ddim_model(schedule), eps.shape, x_K=eps, return_trajectory=True)
    _, flow_path = EulerSampler(steps, clip_sample=False).sample(flow_model, eps.shape, x_K=eps,
                                                                 return_trajectory=True)
    tau = torch.linspace(0, 1, steps + 1).reshape(-1, 1, 1)
    straight = (1 - tau) * eps + tau * flow_path[-1]  # reflow's ideal: the chord
    return {"ddim": ddim_path.numpy(), "flow": flow_path.numpy(), "reflow": straight.numpy()}


def path_length_ratio(path: np.ndarray) -> np.ndarray:
    """Per point, the length of its path over the distance from its start to its end: 1 for a straight line."""
    length = np.linalg.norm(np.diff(path, axis=0), axis=-1).sum(0)
    return length / np.linalg.norm(path[-1] - path[0], axis=-1)


def sample_blobs(n: int, seed: int = 0) -> torch.Tensor:
    """n points of the two-blob target."""
    g = torch.Generator().manual_seed(seed)
    side = torch.randint(0, 2, (n,), generator=g)
    return MODES[side] + MODE_STD * torch.randn(n, 2, generator=g)


# ---------------------------------------------------------------- figures


def _blobs(ax: plt.Axes) -> None:
    for mu in MODES:
        ax.add_patch(plt.Circle(mu.tolist(), 2 * MODE_STD, color="0.3", alpha=0.25, zorder=0))
    ax.set(aspect="equal", xlim=(-2.6, 2.6), ylim=(-2.6, 2.6), xlabel="$x_1$", ylabel="$x_2$")


def plot_ode_paths(paths: dict[str, np.ndarray], n_shown: int = 40) -> plt.Figure:
    """The three ODEs' paths from the same noise (dots), ending at the blobs (grey)."""
    titles = {"ddim": "DDIM: the probability-flow ODE", "flow": "flow matching: Euler on $v^*$",
              "reflow": "reflow: the straight line"}
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.5))
    for ax, (name, path) in zip(axes, paths.items()):
        _blobs(ax)
        for i in range(min(n_shown, path.shape[1])):
            ax.plot(path[:, i, 0], path[:, i, 1], color=COLOURS[name], lw=0.8, alpha=0.7)
        ax.plot(path[0, :n_shown, 0], path[0, :n_shown, 1], "k.", ms=4)
        ratio = np.median(path_length_ratio(path))
        ax.set_title(f"{titles[name]}\nmedian length / distance {ratio:.2f}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_velocity_field(taus=(0.0, 0.5, 0.8, 0.95), grid: int = 11) -> plt.Figure:
    """At a few times tau, the arrows (1 - tau) v*(x, tau) = E[A | A^tau = x] - x: the rest of the way, taken in one
    Euler step (each arrow ends where one step from x would land); grey: where the points A^tau lie."""
    fig, axes = plt.subplots(1, len(taus), figsize=(3.4 * len(taus), 3.7))
    xs = torch.linspace(-2.4, 2.4, grid)
    x = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), dim=-1).reshape(-1, 2)
    for ax, tau in zip(axes, taus):
        rest = (1 - tau) * exact_velocity(x, torch.full((len(x),), tau))
        points = (1 - tau) * torch.randn(2000, 2, generator=torch.Generator().manual_seed(0)) \
            + tau * sample_blobs(2000, seed=1)
        ax.plot(points[:, 0], points[:, 1], ".", color="0.75", ms=1, zorder=0)
        ax.quiver(x[:, 0], x[:, 1], rest[:, 0], rest[:, 1], color="tab:green", angles="xy", scale_units="xy",
                  scale=1, width=0.005, alpha=0.8)
        _blobs(ax)
        ax.set_title(rf"$\tau$ = {tau}", fontsize=10)
    fig.suptitle(r"arrows: $(1 - \tau)\, v^*(x, \tau)$, where one Euler step from $x$ lands; grey: the points "
                 r"$A^\tau$", fontsize=10)
    fig.tight_layout()
    return fig


def plot_one_step_landing(landings: dict[str, torch.Tensor]) -> plt.Figure:
    """Where one Euler step and many land, from the same noise."""
    fig, axes = plt.subplots(1, len(landings), figsize=(3.6 * len(landings), 3.6))
    for ax, (title, x) in zip(axes, landings.items()):
        _blobs(ax)
        ax.plot(x[:, 0], x[:, 1], ".", ms=2, color="tab:green")
        ax.set(xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), title=title)
    fig.tight_layout()
    return fig


def animate_toy_sampling(trajectories: dict[str, torch.Tensor], obs: torch.Tensor, path: str, waypoint: int = 3,
                         fps: int = 6, hold_s: float = 2.0) -> str:
    """A GIF of the toy's paths being sampled, one panel per method: trajectories (S + 1, N, H, 2), the same S and the
    same starting noise in every panel; obs (N, 1, 2) the start points. Each sample's mid-path waypoint (index
    `waypoint`, at the bulge) leaves a trace from its noise to its end, curved or straight; the whole path it belongs
    to is drawn faintly, and in full once sampled."""
    S = next(iter(trajectories.values())).shape[0] - 1
    fig, axes = plt.subplots(1, len(trajectories), figsize=(4.6 * len(trajectories), 4.4), dpi=56)
    panels = []  # (the paths start -> waypoints (S + 1, N, H + 1, 2), its path lines, its traces, its label)
    for ax, (name, traj) in zip(np.atleast_1d(axes), trajectories.items()):
        draw_toy_scene(ax)
        start = obs.reshape(1, -1, 1, 2).expand(S + 1, -1, 1, 2)
        paths = torch.cat([start, traj], dim=2).numpy()
        N = paths.shape[1]
        lines = [ax.plot(paths[0, i, :, 0], paths[0, i, :, 1], "-", lw=1, color=f"C{i % 10}", alpha=0.35)[0]
                 for i in range(N)]
        traces = [ax.plot(paths[:1, i, waypoint + 1, 0], paths[:1, i, waypoint + 1, 1], "o-", ms=3, lw=2,
                          color=f"C{i % 10}")[0] for i in range(N)]
        panels.append((paths, lines, traces, ax.text(0.03, 0.03, "", transform=ax.transAxes, fontsize=10)))
        ax.set_title(f"{name}: waypoint {waypoint + 1}'s trace", fontsize=10)
    fig.tight_layout()

    def update(i):
        for paths, lines, traces, label in panels:
            for n, (line, trace) in enumerate(zip(lines, traces)):
                line.set_data(paths[i, n, :, 0], paths[i, n, :, 1])
                line.set_alpha(0.35 if i < S else 1.0)
                trace.set_data(paths[: i + 1, n, waypoint + 1, 0], paths[: i + 1, n, waypoint + 1, 1])
            label.set_text(rf"$\tau$ = {i / S:.2f} (step {i} of {S})")

    moving = [artist for _, lines, traces, label in panels for artist in (*lines, *traces, label)]
    return save_gif(fig, moving, update, list(range(S + 1)) + [S] * round(hold_s * fps), path, fps)


# ---------------------------------------------------------------- the record (benchmarks/flow.py)


def read_record(path: Path = RECORD) -> list[dict]:
    """One row per (task, seed, method, steps)."""
    return design_plots.read_record(path)


def rows(record: list[dict], task: str, method: str, steps: int) -> list[dict]:
    """One setting's rows, one per training seed, in seed order."""
    return design_plots.seed_rows(record, task=task, method=method, steps=steps)


def step_counts(record: list[dict], task: str, method: str) -> list[int]:
    return sorted({r["steps"] for r in record if (r["task"], r["method"]) == (task, method)})


def table(record: list[dict], task: str, field: str) -> str:
    """field's mean over training seeds and its 95% t-interval, per method (rows) and step count (columns)."""
    steps = sorted({r["steps"] for r in record if r["task"] == task})
    lines = [f"{'network evaluations per plan':30}" + "".join(f"{s:>20}" for s in steps)]
    for method, name in METHOD_NAMES.items():
        counts = step_counts(record, task, method)
        cells = [design_plots.cell(rows(record, task, method, s), field) if s in counts else "" for s in steps]
        lines.append(f"{name:30}" + "".join(f"{c:>20}" for c in cells))
    seeds = sorted({r["seed"] for r in record if r["task"] == task})
    lines.append(f"(training seeds {seeds}; [95% t-interval over seeds])")
    return "\n".join(lines)


def paired(record: list[dict], task: str, a: tuple[str, int], b: tuple[str, int], field: str):
    """Per-seed differences a - b of field between two (method, steps) of the same task (trained on the same seeds),
    and their 95% t-interval."""
    return paired_difference(rows(record, task, *a), rows(record, task, *b), field)


def cost_table(record: list[dict], task: str) -> str:
    """Plan latency at batch 1 and 100 (median over seeds of each seed's median ms) and training wall time."""
    lines = [f"{'':30}{'steps':>6}{'ms/plan, 1':>12}{'ms/plan, 100':>14}{'train s (1 thread)':>20}"]
    for method, name in METHOD_NAMES.items():
        for s in step_counts(record, task, method):
            rs = rows(record, task, method, s)
            train = [r["train_s"] for r in rs if r.get("train_s") is not None]
            train_text = f"{np.median(train):.0f}" if train else "shipped"
            lines.append(f"{name:30}{s:>6}{np.median([r['plan_ms_b1'] for r in rs]):>12.2f}"
                         f"{np.median([r['plan_ms_b100'] for r in rs]):>14.2f}{train_text:>20}")
    return "\n".join(lines)


def toy_coverage(paths: torch.Tensor, obs: torch.Tensor) -> dict[str, float]:
    """The toy's mode statistics (left, right, through the obstacle), rounded for printing."""
    return {k: round(v, 3) for k, v in toy.mode_stats(obs, paths).items()}


__all__ = ["MODES", "MODE_STD", "RECORD", "animate_toy_sampling", "cost_table", "exact_paths", "exact_velocity",
           "paired", "path_length_ratio", "plot_ode_paths", "plot_one_step_landing", "plot_velocity_field",
           "posterior_mean", "read_record", "rows", "table", "toy_coverage"]
