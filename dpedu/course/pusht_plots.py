"""Notebook 08's pictures of Push-T: the scene drawn from an observation, demonstrations as agent paths, an episode
as a GIF, and the seed record of benchmarks/pusht.py.

Everything is drawn from the 18-number observation (the T's 8 keypoints, then the agent), so the same code draws a
live rollout, a demonstration read from a dataset and a policy's plan. Table coordinates are pixels of gym-pusht's
512 x 512 table with y pointing down, as gym-pusht renders it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle, Polygon

from dpedu.course.pendulum import save_gif
from dpedu.envs.pusht import GOAL_POSE, keypoints
from dpedu.stats import over_seeds, paired_difference  # noqa: F401  (notebook 08 reads them from here)

PUSHT_SEEDS = Path(__file__).with_name("pusht_seeds.jsonl")  # benchmarks/pusht.py's record
AGENT_RADIUS = 15.0
BLOCK, GOAL, AGENT = "#778899", "#90ee90", "#4169e1"  # gym-pusht's LightSlateGray, LightGreen, RoyalBlue


def t_polygons(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The T's bar and stem as two quadrilaterals (4, 2) each, from its 8 keypoints (8, 2) (or 16 numbers)."""
    p = np.asarray(points, dtype=np.float64).reshape(8, 2)
    return p[:4], p[4:]


def draw_scene(ax: plt.Axes, obs, goal: bool = True, alpha: float = 1.0, agent: bool = True,
               target=None) -> list[plt.Artist]:
    """Draw the goal T, the block (from obs[:16]) and the agent (obs[16:18]); returns the block's and agent's artists
    (for animation). target: the action (2,), drawn as a red cross."""
    obs = np.asarray(obs, dtype=np.float64)
    if goal:
        for quad in t_polygons(keypoints(GOAL_POSE)):
            ax.add_patch(Polygon(quad, closed=True, color=GOAL, zorder=0))
    artists = [ax.add_patch(Polygon(quad, closed=True, color=BLOCK, alpha=alpha, zorder=1))
               for quad in t_polygons(obs[:16])]
    if agent:
        artists.append(ax.add_patch(Circle(obs[16:18], AGENT_RADIUS, color=AGENT, alpha=alpha, zorder=3)))
    if target is not None:
        artists += ax.plot(*np.asarray(target), "x", color="red", ms=8, mew=2, zorder=4)
    ax.set(xlim=(0, 512), ylim=(512, 0), aspect="equal", xticks=[], yticks=[])
    return artists


def plot_demonstrations(ax: plt.Axes, episodes: Sequence[dict], title: str = "") -> None:
    """Agent paths of demonstrations (dicts with "obs" (L, 18)), each from its start (dot) to its end, over the first
    episode's start scene and the goal."""
    draw_scene(ax, episodes[0]["obs"][0], alpha=0.35, agent=False)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(episodes)))
    for episode, color in zip(episodes, colors):
        path = np.asarray(episode["obs"])[:, 16:18]
        ax.plot(path[:, 0], path[:, 1], color=color, lw=1.2, alpha=0.9)
        ax.plot(*path[0], "o", color=color, ms=4)
    ax.set_title(title)


def animate_episode(observations: np.ndarray, actions: np.ndarray | None, path: str, title: str = "",
                    every: int = 1, fps: int = 10) -> str:
    """A GIF of one episode from its observations (L + 1, 18) (and the targets (L, 2) executed after each);
    returns path."""
    observations = np.asarray(observations, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(3.2, 3.4), dpi=80)
    for quad in t_polygons(keypoints(GOAL_POSE)):
        ax.add_patch(Polygon(quad, closed=True, color=GOAL, zorder=0))
    bar, stem = (ax.add_patch(Polygon(q, closed=True, color=BLOCK, zorder=1)) for q in t_polygons(observations[0, :16]))
    agent = ax.add_patch(Circle(observations[0, 16:18], AGENT_RADIUS, color=AGENT, zorder=3))
    (cross,) = ax.plot([], [], "x", color="red", ms=8, mew=2, zorder=4)
    clock = ax.text(8, 28, "", fontsize=9)
    ax.set(xlim=(0, 512), ylim=(512, 0), aspect="equal", xticks=[], yticks=[], title=title)
    fig.tight_layout()

    def update(i):
        quads = t_polygons(observations[i, :16])
        bar.set_xy(quads[0])
        stem.set_xy(quads[1])
        agent.set_center(observations[i, 16:18])
        if actions is not None and i < len(actions):
            cross.set_data([actions[i][0]], [actions[i][1]])
        clock.set_text(f"t = {i}")

    frames = list(range(0, len(observations), every))
    if frames[-1] != len(observations) - 1:
        frames.append(len(observations) - 1)
    return save_gif(fig, [bar, stem, agent, cross, clock], update, frames, path, fps)


def load_seed_record(path: Path = PUSHT_SEEDS, variant: str = "preset") -> dict[str, list[dict]]:
    """benchmarks/pusht.py's record: method -> its rows of one variant (one per training seed, sorted by seed)."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    out: dict[str, list[dict]] = {}
    for row in rows:
        if row["variant"] == variant:
            out.setdefault(row["method"], []).append(row)
    return {m: sorted(r, key=lambda row: row["seed"]) for m, r in out.items()}


PEER_RECORD = Path(__file__).with_name("pusht_lerobot.jsonl")  # benchmarks/peer_lerobot.py's run on the same data


def load_peer_record(path: Path = PEER_RECORD) -> dict:
    """The last line of LeRobot's peer record: its score, success, updates/s, plan latency and what differs."""
    return json.loads(Path(path).read_text().splitlines()[-1])
