"""The policy's planning drawn, for notebooks 03, 04 and 06: the receding-horizon timing diagram, one action chunk
being denoised, a widget to explore inference settings on Pendulum-v1, and notebook 06's sweeps over training seeds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from dpedu.course import LABEL, denoising_labels
from dpedu.course.pendulum import draw_pendulum, save_gif, state_from_obs
from dpedu.envs.pendulum import DT, MAX_TORQUE
from dpedu.evaluate import baseline_returns, rollout_returns
from dpedu.stats import t_interval

# ----- the receding horizon, drawn -----

def plot_timing_diagram(obs_horizon: int = 2, action_horizon: int = 8, n_action_steps: int = 4) -> plt.Figure:
    """Which observation steps condition a plan, which actions it predicts and executes, when it re-plans.

    Rows: the observation window o[t-To+1..t]; the plan a[t..t+H-1]; the executed a[t..t+n_action_steps-1];
    the next plan's observation window, which ends at t + n_action_steps.
    """
    To, H, n = obs_horizon, action_horizon, n_action_steps
    steps = np.arange(-To + 1, max(H, n + 1))  # relative to t
    rows = [("observations\n(condition)", [(j, f"o[{_rel(j)}]") for j in range(-To + 1, 1)], "tab:blue"),
            ("plan\n(predicted)", [(j, f"a[{_rel(j)}]") for j in range(H)], "tab:orange"),
            ("executed", [(j, f"a[{_rel(j)}]") for j in range(n)], "tab:red"),
            ("next plan's\nobservations", [(j, f"o[{_rel(j)}]") for j in range(n - To + 1, n + 1)], "tab:purple")]
    fig, ax = plt.subplots(figsize=(1.0 * len(steps) + 2, 3.4))
    for y, (_, boxes, color) in enumerate(rows):
        for j, label in boxes:
            ax.add_patch(Rectangle((j - 0.45, -y - 0.4), 0.9, 0.8, facecolor=color, alpha=0.35, edgecolor=color))
            ax.text(j, -y, label, ha="center", va="center", fontsize=8)
    ax.axvline(n - 0.5, color="k", ls="--", lw=1)
    ax.text(n - 0.45, 0.55, f"re-plan at t+{n}", fontsize=8, va="bottom")
    ax.axvline(-0.5, color="0.5", ls=":", lw=1)
    ax.set(xlim=(steps[0] - 0.6, steps[-1] + 0.6), ylim=(-len(rows) + 0.4, 1.0),
           xticks=steps, xticklabels=[_rel(j) for j in steps], yticks=-np.arange(len(rows)),
           yticklabels=[r[0] for r in rows], xlabel=f"environment step (1 step = {DT} s)", ylabel="role in the plan",
           title=f"receding horizon: obs_horizon To={To}, action_horizon H={H}, n_action_steps={n}")
    fig.tight_layout()
    return fig


def _rel(j: int) -> str:
    return "t" if j == 0 else f"t{j:+d}"


# ----- one action chunk, denoised -----

def animate_denoising(trajectory: np.ndarray, timesteps: Sequence[int], obs_history: np.ndarray, path: str,
                      n_action_steps: int = 1, reference: np.ndarray | None = None,
                      reference_label: str = "reference plan", fps: int = 6, hold_s: float = 1.5) -> str:
    """Save a GIF of action chunks trajectory (S+1, N, H, 1) (N·m), denoised from A^K to A^0, beside the state.

    timesteps: the S diffusion steps k the sampler visited (sampler.timesteps); obs_history (To, 3): the
    observation window the chunks were planned from; its newest observation is the pendulum drawn.
    The first n_action_steps actions (the ones executed) are shaded; `reference` (H,), e.g. the
    regression baseline's plan for the same observations, is drawn dashed.
    """
    S, H = len(timesteps), trajectory.shape[2]
    theta, theta_dot = state_from_obs(obs_history[-1])
    j = np.arange(H)
    labels = denoising_labels(timesteps, "plans")
    frames = list(range(S + 1)) + [S] * round(hold_s * fps)

    fig, (ax_p, ax_a) = plt.subplots(1, 2, figsize=(9.6, 4), dpi=72, gridspec_kw={"width_ratios": [1, 1.6]})  # 691 px
    draw_pendulum(ax_p, theta)
    ax_p.set_title(rf"planned from $\theta$={theta:.2f} rad, $\dot\theta$={theta_dot:.2f} rad/s", fontsize=9)
    ax_a.axvspan(-0.5, n_action_steps - 0.5, color="tab:red", alpha=0.12, label="executed")
    for bound in (-MAX_TORQUE, MAX_TORQUE):
        ax_a.axhline(bound, color="0.5", ls=":", lw=1)
    colors = plt.cm.tab10(np.arange(trajectory.shape[1]) % 10)
    lines = [ax_a.plot(j, trajectory[0, i, :, 0], "o-", color=c, ms=3, lw=1, antialiased=False)[0]
             for i, c in enumerate(colors)]
    ax_a.set(xlabel="action step in the chunk (t + j, steps of 0.05 s)", ylabel="torque $u$ (N·m)", ylim=(-6, 6),
             xticks=j, xticklabels=[_rel(i) for i in j])
    if reference is not None:
        ax_a.plot(j, np.asarray(reference).reshape(H), "k--", lw=2, label=reference_label)
    ax_a.legend(loc="upper right", fontsize=9)
    ax_a.set_title(f"denoising {trajectory.shape[1]} action chunks", fontsize=10)
    step = ax_a.text(0.02, 0.04, "", transform=ax_a.transAxes, fontsize=9)
    fig.tight_layout()

    def update(i):
        for n, line in enumerate(lines):
            line.set_ydata(trajectory[i, n, :, 0])
        step.set_text(labels[i])

    return save_gif(fig, [*lines, step], update, frames, path, fps)


# ----- inference settings, explored -----

def inference_explorer(policy, n_episodes: int = 10, seed: int = 0, env_id: str = "Pendulum-v1") -> widgets.interactive:
    """Widgets for sampler, n_inference_steps, n_action_steps and DDIM's eta: re-evaluates and plots the returns.

    Each change calls policy.configure(...) (so the policy keeps the last settings chosen) and runs
    n_episodes episodes from reset seeds seed..seed+n_episodes-1, the same starts every time.
    """
    c = policy.config
    random_mean, demo_mean = baseline_returns(env_id, n_episodes, seed)

    def show(sampler, n_inference_steps, n_action_steps, eta):
        # DDPM has no eta: configure() refuses one rather than silently ignore it.
        policy.configure(sampler=sampler, n_inference_steps=n_inference_steps, n_action_steps=n_action_steps,
                         ddim_eta=eta if sampler == "ddim" else 0.0, seed=seed)
        start = time.perf_counter()
        returns = rollout_returns(policy, env_id, n_episodes, seed)
        wall = time.perf_counter() - start
        fig, ax = plt.subplots(figsize=(8, 3.4))
        ax.bar(np.arange(seed, seed + n_episodes), returns, color="tab:orange", label="diffusion policy")
        ax.axhline(demo_mean, color="tab:green", ls="--", label=f"demonstrator mean {demo_mean:.0f}")
        ax.axhline(random_mean, color="tab:gray", ls="--", label=f"random mean {random_mean:.0f}")
        ax.set(title=f"{sampler.upper()}, {n_inference_steps} steps, n_action_steps={n_action_steps}"
               + (f", eta={eta:.2f}" if sampler == "ddim" else "") + f": mean return {returns.mean():.0f}",
               xlabel="episode (reset seed)", ylabel="return (sum of rewards)", ylim=(min(-1600, returns.min()), 0))
        ax.legend(loc="lower right", fontsize=8)
        plt.show()
        print(f"{n_episodes} episodes in {wall:.1f} s")

    return widgets.interactive(
        show,
        sampler=widgets.Dropdown(options=["ddpm", "ddim"], value=c.sampler, description="sampler", style=LABEL),
        n_inference_steps=widgets.IntSlider(c.n_inference_steps, min=1, max=c.n_diffusion_steps, description="steps",
                                            continuous_update=False, style=LABEL),
        n_action_steps=widgets.IntSlider(c.n_action_steps, min=1, max=c.action_horizon, description="n_action_steps",
                                         continuous_update=False, style=LABEL),
        eta=widgets.FloatSlider(0.0, min=0.0, max=1.0, step=0.1, description="eta (DDIM)", continuous_update=False,
                                style=LABEL),
    )


# ----- notebook 06's sweeps over training seeds -----

# python benchmarks/inference.py --seeds 42 0 1 2 3 4 5 6 7 8 > dpedu/course/inference_seeds.jsonl
INFERENCE_SEEDS = Path(__file__).parent / "inference_seeds.jsonl"


def load_inference_seeds(path: Path = INFERENCE_SEEDS) -> dict:
    """benchmarks/inference.py's record as {measurement key: {seed: row}}.

    Keys: ("steps", sampler, S), ("eta", eta), ("n_action_steps", n), ("rest", sampler, S), ("train",).
    """
    fields = {"steps": ("sampler", "n_inference_steps"), "eta": ("ddim_eta",), "n_action_steps": ("n_action_steps",),
              "rest": ("sampler", "n_inference_steps"), "train": ()}
    record: dict = {}
    for line in Path(path).read_text().splitlines():
        r = json.loads(line)
        key = (r["measure"], *(r[f] for f in fields[r["measure"]]))
        record.setdefault(key, {})[r["seed"]] = r
    return record


def over_seeds(record: dict, key: tuple, field: str = "mean_return") -> tuple[list[float], float, tuple[float, float]]:
    """One measurement over the record's seeds: (per-seed values, their mean, the 95% t-interval of the mean)."""
    values = [row[field] for row in record[key].values()]
    return values, float(np.mean(values)), t_interval(values)


def plot_over_seeds(ax: plt.Axes, xs: Sequence, record: dict, key, label: str, color: str, offset: float = 0.0,
                    log_x: bool = False) -> None:
    """Per-seed dots and the seeds' mean with its 95% t-interval at each x; key(x) is the record key."""
    for i, x in enumerate(xs):
        values, mean, (lo, hi) = over_seeds(record, key(x))
        where = x * (1 + offset) if log_x else x + offset
        ax.plot(np.full(len(values), where), values, ".", color=color, alpha=0.45, ms=6)
        ax.errorbar(where, mean, yerr=[[mean - lo], [hi - mean]], fmt="s", color=color, capsize=4, ms=5,
                    label=label if i == 0 else None)
