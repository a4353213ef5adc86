"""Pendulum-v1 drawn with matplotlib (no pygame, no display), for notebooks 03, 04, 06 and 07: the pendulum, recorded
rollouts, their animations, phase portraits and swing-ups, and where in an episode the actions change.

Conventions, as in gymnasium's pendulum.py: theta = 0 is upright, theta grows counter-clockwise, and the
bob of the 1 m rod sits at (x, y) = (-sin theta, cos theta) m. A positive torque u (N·m) pushes
counter-clockwise. Plotting functions return their Figure; animations save a GIF and return its path
(show it with `IPython.display.Image(filename=path)`: it renders on GitHub and offline, unlike jshtml).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Polygon
from PIL import Image

from dpedu.envs.pendulum import DT, MAX_TORQUE  # N·m bound, s per step
from dpedu.evaluate import rollouts, step_changes

DIRECTION_COLORS = {1: "tab:orange", -1: "tab:blue"}  # first push counter-clockwise / clockwise
ROD_COLOR = "tab:red"


# ----- rollouts: record what the env did, step by step -----

def action_change_by_phase(observations, actions, upright_cos: float = 0.95) -> dict[str, float]:
    """Mean |a[k+1] - a[k]| (N·m per step) over dpedu.evaluate.rollouts' episodes, split by the state at step k:
    "upright" (cos theta > upright_cos: balancing) and "swinging" (the rest: the swing-up)."""
    change = np.concatenate([step_changes(a) for a in actions])
    upright = np.concatenate([o[:-2, 0] > upright_cos for o in observations])  # obs[k] is cos theta at step k
    return {"upright": float(change[upright].mean()), "swinging": float(change[~upright].mean()),
            "upright_share": float(upright.mean())}


class Rollout(NamedTuple):
    """One episode, one entry per step k: the state before the action, the action, its reward.

    theta (L,) rad, wrapped to [-pi, pi); theta_dot (L,) rad/s; action (L,) N·m; reward (L,); obs (L, 3).
    """

    theta: np.ndarray
    theta_dot: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    obs: np.ndarray

    @property
    def ret(self) -> float:
        """The episode's return, the sum of its rewards."""
        return float(self.reward.sum())

    @property
    def direction(self) -> int:
        """+1 if the first non-zero push was counter-clockwise, -1 if clockwise (0 if it never pushed)."""
        pushes = self.action[np.abs(self.action) > 1e-3]
        return int(np.sign(pushes[0])) if len(pushes) else 0


def angle_normalize(theta):
    """Wrap angles (rad) to [-pi, pi), as Pendulum-v1's reward does."""
    return (np.asarray(theta) + np.pi) % (2 * np.pi) - np.pi


def obs_from_state(theta: float, theta_dot: float) -> np.ndarray:
    """The observation [cos theta, sin theta, theta_dot] (float32) of a state."""
    return np.array([np.cos(theta), np.sin(theta), theta_dot], dtype=np.float32)


def state_from_obs(obs) -> tuple[np.ndarray, np.ndarray]:
    """(theta, theta_dot) from observations (..., 3); theta in (-pi, pi] rad."""
    obs = np.asarray(obs)
    return np.arctan2(obs[..., 1], obs[..., 0]), obs[..., 2]


def record_rollouts(policy, n_episodes: int = 1, seed: int = 0, init_state: Sequence[float] | None = None,
                    env_id: str = "Pendulum-v1") -> list[Rollout]:
    """Run n_episodes of `policy` side by side (one batched act() per step) and record every step.

    Episode i starts from env.reset(seed=seed + i), as in dpedu.evaluate.rollouts (which runs them), unless
    init_state = (theta, theta_dot) is given: then every episode starts there (e.g. (pi, 0): at rest at the
    bottom). The state is env.unwrapped.state before each step.
    """
    initial_states = None if init_state is None else np.tile(np.asarray(init_state, dtype=np.float64), (n_episodes, 1))
    episodes = rollouts(policy, env_id, n_episodes, seed, initial_states=initial_states)
    # rollouts gives the L + 1 states and observations up to the end; a Rollout holds the L before each action.
    return [Rollout(angle_normalize(s[:-1, 0]), s[:-1, 1], a[:, 0], r, o[:-1])
            for s, a, r, o in zip(episodes["states"], episodes["actions"], episodes["rewards"],
                                  episodes["observations"])]


def _break_wraps(theta: np.ndarray) -> np.ndarray:
    """theta with NaN where it wraps from +pi to -pi, so that a line plot shows no jump across the axes."""
    theta = theta.astype(float).copy()
    theta[1:][np.abs(np.diff(theta)) > np.pi] = np.nan
    return theta


# ----- the pendulum itself -----

def _bob(theta: float) -> tuple[float, float]:
    return -np.sin(theta), np.cos(theta)


def _torque_arrow(action: float, radius: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """An arc around the pivot, its length proportional to |action|, and its arrowhead's triangle (none at all
    below 2.5% of the torque limit, where a full-size head on a zero-length arc would look like a real push)."""
    if abs(action) < 0.025 * MAX_TORQUE:
        return np.zeros((0, 2)), np.zeros((3, 2))
    span = 0.9 * np.pi * min(abs(action), MAX_TORQUE) / MAX_TORQUE  # full torque: a 162 degree arc
    direction = 1.0 if action >= 0 else -1.0
    angles = -np.pi / 2 + direction * np.linspace(-span / 2, span / 2, 30)  # centred below the pivot
    arc = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (30, 2)
    tip, a = arc[-1], angles[-1]
    tangent = direction * np.array([-np.sin(a), np.cos(a)])
    normal = np.array([np.cos(a), np.sin(a)])
    size = 0.12
    head = np.stack([tip + size * tangent, tip + 0.5 * size * normal, tip - 0.5 * size * normal])
    return arc, head


def draw_pendulum(ax: plt.Axes, theta: float, action: float | None = None, color: str = ROD_COLOR) -> dict:
    """Draw the rod (theta, rad) and, if given, the torque (N·m) as a curved arrow; returns the artists."""
    ax.set(aspect="equal", xlim=(-1.3, 1.3), ylim=(-1.3, 1.3), xlabel="x (m)", ylabel="y (m)")
    ax.plot(*np.array([_bob(a) for a in np.linspace(0, 2 * np.pi, 100)]).T, color="0.85", lw=1, zorder=0)
    ax.plot(0, 1, marker="*", color="0.6", ms=10, zorder=0)  # the goal: upright
    (rod,) = ax.plot([0, 0], [0, 1], color=color, lw=6, solid_capstyle="round", zorder=2)
    ax.plot(0, 0, "ko", ms=6, zorder=3)
    (arc,) = ax.plot([], [], color="k", lw=2, zorder=4)
    head = ax.add_patch(Polygon(np.zeros((3, 2)), closed=True, color="k", zorder=4))
    artists = {"rod": rod, "arc": arc, "head": head}
    set_pendulum(artists, theta, action)
    return artists


def set_pendulum(artists: dict, theta: float, action: float | None = None) -> None:
    """Move the artists of draw_pendulum to a new angle (rad) and torque (N·m)."""
    artists["rod"].set_data([0, _bob(theta)[0]], [0, _bob(theta)[1]])
    arc, head = _torque_arrow(0.0 if action is None else float(action))
    artists["arc"].set_data(arc[:, 0], arc[:, 1])
    artists["head"].set_xy(head)


# ----- rollouts, animated and in the phase plane -----

def animate_rollout(rollout: Rollout, path: str, title: str = "rollout", every: int = 2, fps: int = 10) -> str:
    """Save a GIF of a rollout: the pendulum with its torque arrow, beside theta and torque against time."""
    t = np.arange(len(rollout.theta)) * DT  # s
    fig, (ax_p, ax_t) = plt.subplots(1, 2, figsize=(9, 4), dpi=80, gridspec_kw={"width_ratios": [1, 1.5]})  # 720 px
    artists = draw_pendulum(ax_p, rollout.theta[0], rollout.action[0])
    ax_p.plot([0, _bob(rollout.theta[0])[0]], [0, _bob(rollout.theta[0])[1]], color=ROD_COLOR, lw=6, alpha=0.25,
              solid_capstyle="round", zorder=1, label="start")  # where the episode began, faint
    ax_p.legend(loc="lower right", fontsize=9)
    ax_t.plot(t, _break_wraps(rollout.theta), color=ROD_COLOR, lw=1.5, antialiased=False, label=r"angle $\theta$ (rad)")
    ax_t.plot(t, rollout.action, color="k", lw=1, antialiased=False, label="torque $u$ (N·m)")
    ax_t.axhline(0, color="0.7", lw=0.8)
    cursor = ax_t.axvline(0, color="tab:green", lw=1.5)
    ax_t.set(title=f"{title}: return {rollout.ret:.0f}", xlabel="time (s)", ylabel="rad  /  N·m",
             ylim=(-np.pi - 0.2, np.pi + 0.2))
    ax_t.legend(loc="upper right", fontsize=9)

    clock = ax_p.text(0.0, 1.15, "", ha="center", fontsize=10)
    fig.tight_layout()

    def update(k):
        set_pendulum(artists, rollout.theta[k], rollout.action[k])
        clock.set_text(f"t = {t[k]:.2f} s")
        cursor.set_xdata([t[k], t[k]])

    return save_gif(fig, [*artists.values(), clock, cursor], update, range(0, len(t), every), path, fps)


def plot_phase_portrait(rollouts: Sequence[Rollout], title: str = "phase portrait",
                        ax: plt.Axes | None = None) -> plt.Figure:
    """theta against theta_dot for each rollout, coloured by its first push; the goal (0, 0) starred."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in rollouts:
        ax.plot(_break_wraps(r.theta), r.theta_dot, color=DIRECTION_COLORS.get(r.direction, "0.5"), lw=1, alpha=0.7)
        ax.plot(r.theta[0], r.theta_dot[0], "o", color="k", ms=3)
    ax.plot(0, 0, "*", color="tab:green", ms=14, label="goal: upright, still")
    for d, name in ((1, "first push counter-clockwise"), (-1, "first push clockwise")):
        ax.plot([], [], color=DIRECTION_COLORS[d], label=name)
    ax.plot([], [], "ko", ms=3, label="start")
    ax.set(title=title, xlabel=r"angle $\theta$ (rad, 0 = upright)", ylabel=r"angular velocity $\dot\theta$ (rad/s)",
           xlim=(-np.pi, np.pi), ylim=(-8.2, 8.2))
    ax.set_xticks(np.linspace(-np.pi, np.pi, 5), [r"$-\pi$", r"$-\pi/2$", "0", r"$\pi/2$", r"$\pi$"])
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    ax.figure.tight_layout()
    return ax.figure


def plot_swing_ups(rollouts: Sequence[Rollout], title: str = "swing-ups from rest") -> plt.Figure:
    """Angle (unwrapped, rad) and torque (N·m) against time, coloured by the first push."""
    fig, (ax_a, ax_u) = plt.subplots(1, 2, figsize=(11, 3.4))
    for r in rollouts:
        t, color = np.arange(len(r.theta)) * DT, DIRECTION_COLORS.get(r.direction, "0.5")
        ax_a.plot(t, np.unwrap(r.theta), color=color, lw=1, alpha=0.7)
        ax_u.plot(t, r.action, color=color, lw=1, alpha=0.7)
    for k in (-2, 0, 2):
        ax_a.axhline(k * np.pi, color="tab:green", ls="--", lw=0.8)  # upright, however many turns
    ax_a.set(title=f"{title}: angle", xlabel="time (s)", ylabel=r"$\theta$ unwrapped (rad; $0, \pm 2\pi$ = upright)")
    ax_u.set(title=f"{title}: torque", xlabel="time (s)", ylabel="torque $u$ (N·m)", ylim=(-2.3, 2.3))
    for ax in (ax_a, ax_u):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ----- GIFs -----

def save_gif(fig: plt.Figure, moving: Sequence[plt.Artist], update, frames, path: str, fps: int = 10) -> str:
    """Save a GIF of `fig` with update(frame) applied for each frame; returns `path` and closes `fig`.

    The result is what FuncAnimation(fig, update, frames).save(path, writer="pillow") writes, but the
    static parts (axes, ticks, labels) are drawn once and only the `moving` artists every frame
    (blitting): about 8 times faster for a rollout. Pillow's GIF encoder is deterministic, so the same
    frames give the same bytes (nbval compares them), and it merges repeated frames into one longer frame.
    """
    for artist in moving:
        artist.set_animated(True)  # left out of the full draw, which becomes the background
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    images = []
    for frame in frames:
        update(frame)
        fig.canvas.restore_region(background)
        for artist in moving:
            fig.draw_artist(artist)
        images.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()))
    plt.close(fig)  # the GIF is the output; don't also show the last frame
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return path
