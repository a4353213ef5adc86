"""dpedu/Detour-v0 drawn, for notebook 05: demonstrations, the scene, episodes coloured by the side they took,
plans sampled at one state, and a widget that re-runs 50 rollouts of a trained policy for other settings.

Every plotting function returns its matplotlib Figure (or draws on the Axes it is given); positions in arena
units; blue: past the disk below it (y < 0), orange: above it, red: ended on the disk, grey: timed out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from dpedu.course import LABEL
from dpedu.envs import detour, make_demonstrator
from dpedu.evaluate import rollouts

SIDE_COLORS = {1: "tab:orange", -1: "tab:blue"}
# The five-seed record that notebook 05 reads: `python benchmarks/detour.py --seeds 0 1 2 3 4 --episodes 200
# --obs-horizon-1 > dpedu/course/detour_seeds.jsonl` regenerates it (about 8 minutes on 2 cores).
SEED_RESULTS = Path(__file__).with_name("detour_seeds.jsonl")


def load_seed_results(path: Path = SEED_RESULTS) -> dict:
    """The pooled rows of benchmarks/detour.py's output, keyed by (policy, n_action_steps)."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return {(r["policy"], r["n_action_steps"]): r for r in rows if r.get("pooled")}


def demonstrations(n_episodes: int, explore: bool, seed: int = 0, reset_seed: int = 0) -> dict:
    """n_episodes of the demonstrator from the start env.reset(seed=reset_seed) (the same start every time), as the
    Trainer collects them (explore=True: the executed actions carry its DART noise). Returns "observations" (list of
    (L + 1, 2) arrays) and "successes" (n_episodes,) bool."""
    demonstrator, env = make_demonstrator("dpedu/Detour-v0", seed=seed), gym.make("dpedu/Detour-v0")
    observations, successes = [], []
    for _ in range(n_episodes):
        obs, _ = env.reset(seed=reset_seed)
        demonstrator.reset()
        path, done = [obs], False
        while not done:
            action = demonstrator.act(obs)
            obs, _, terminated, truncated, info = env.step(demonstrator.explore(action) if explore else action)
            path.append(obs)
            done = terminated or truncated
        observations.append(np.array(path))
        successes.append(info["is_success"])
    return {"observations": observations, "successes": np.array(successes)}


def draw_scene(ax: plt.Axes) -> None:
    ax.add_patch(plt.Circle((0, 0), detour.RADIUS, color="0.6", alpha=0.7, zorder=0))
    ax.add_patch(plt.Circle(detour.GOAL, detour.GOAL_RADIUS, color="tab:green", alpha=0.3, zorder=0))
    ax.plot(detour.START_X, 0, "ko", ms=5, zorder=3)
    ax.axvline(detour.FORK_X, color="0.7", ls=":", lw=1)
    ax.set(xlim=(-1.3, 1.15), ylim=(-0.75, 0.75), aspect="equal", xlabel="x", ylabel="y")


def plot_episodes(ax: plt.Axes, observations: Sequence[np.ndarray], successes: Sequence[bool] | None = None,
                  title: str = "") -> None:
    """Draw episodes (each (L + 1, 2) positions) coloured by the side they passed the disk on."""
    draw_scene(ax)
    for i, xy in enumerate(observations):
        side, _ = detour.side_and_switches(xy)
        failed = successes is not None and not successes[i]
        ended_on_disk = failed and np.hypot(*xy[-1, :2]) < detour.RADIUS + 1e-6
        color = "tab:red" if ended_on_disk else ("0.5" if failed else SIDE_COLORS.get(side, "0.5"))
        ax.plot(xy[:, 0], xy[:, 1], color=color, lw=0.8, alpha=0.6)
    ax.set_title(title, fontsize=10)


def plot_policies(results: dict[str, dict], n_shown: int = 50) -> plt.Figure:
    """One panel per policy: the first n_shown episodes of rollouts() results, titled with the success rate."""
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 3.4), squeeze=False)
    for ax, (name, r) in zip(axes[0], results.items()):
        succ = r["successes"]
        plot_episodes(ax, r["observations"][:n_shown], succ[:n_shown], f"{name}: {succ.mean():.0%} reach the goal")
    fig.tight_layout()
    return fig


def plot_plans_at(ax: plt.Axes, xy: Sequence[float], plans: np.ndarray, reference: np.ndarray | None = None,
                  title: str = "") -> None:
    """Plans (N, H, 2) of velocity actions sampled at position xy, drawn as the paths they would drive; the
    reference plan (H, 2), e.g. regression's, dashed."""
    draw_scene(ax)
    start = np.asarray(xy, dtype=float)
    for plan in plans:
        path = start + detour.SPEED * np.cumsum(np.clip(plan, -1, 1), axis=0)
        side = 1 if path[-1, 1] > start[1] else -1
        ax.plot(*np.vstack([start, path]).T, color=SIDE_COLORS[side], lw=1, alpha=0.7)
    if reference is not None:
        path = start + detour.SPEED * np.cumsum(np.clip(reference, -1, 1), axis=0)
        ax.plot(*np.vstack([start, path]).T, "k--", lw=2, label="regression's plan")
        ax.legend(loc="lower right", fontsize=8)
    ax.plot(*start, "k*", ms=10, zorder=4)
    ax.set(xlim=(start[0] - 0.15, 0.45), ylim=(-0.6, 0.6))
    ax.set_title(title, fontsize=10)


def rollout_explorer(policy, n_episodes: int = 50, seed: int = 0) -> widgets.interactive:
    """Sliders for n_action_steps and denoising steps; re-runs n_episodes of `policy` and redraws them."""

    def show(n_inference_steps, n_action_steps):
        policy.configure(n_action_steps=n_action_steps, n_inference_steps=n_inference_steps, seed=seed)
        r = rollouts(policy, "dpedu/Detour-v0", n_episodes, seed)
        m = detour.episode_measures(r["observations"])
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        plot_episodes(ax, r["observations"], r["successes"],
                      f"{n_action_steps} executed per plan, {n_inference_steps} denoising steps: "
                      f"{r['successes'].mean():.0%} succeed, {m['switches_per_episode']:.2f} switches/episode")
        plt.show()

    return widgets.interactive(
        show,
        n_inference_steps=widgets.IntSlider(policy.config.n_inference_steps, min=1,
                                            max=policy.config.n_diffusion_steps, description="denoising steps",
                                            style=LABEL, continuous_update=False),
        n_action_steps=widgets.IntSlider(policy.config.n_action_steps, min=1, max=policy.config.action_horizon,
                                         description="actions executed per plan", style=LABEL,
                                         continuous_update=False),
    )
