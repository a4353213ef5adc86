r"""dpedu/Detour-v0: a point must get past a disk to a goal, round either side. Notebook 05.

A task built so that Diffusion Policy's two claims show in closed loop: the demonstrations are bimodal at a
state that carries no hint of the mode (regression averages the modes into the disk), and the policy must
commit to one mode for a while (action chunks commit; re-planning every step dithers between the modes).

The world (all lengths in arena units; mirror-symmetric about y = 0)
    start  (-1.2, y0), y0 ~ U(-0.02, 0.02)          goal  (1, 0), reached within GOAL_RADIUS = 0.1
    a disk of radius RADIUS = 0.3 at (0, 0)         arena |x| <= 1.5, |y| <= 1

                            . . . . .
        start        fork  ´    ___    ` .
          o-------------> +    /   \       o goal     the demonstrator drives along y = 0 to the fork
                           ` . \___/   . ´            (x = -0.85), then curves round the disk on a side
                              ` . . . ´               drawn at random per episode

Dynamics: velocity control, p' = clip(p + SPEED a, arena) with a in the Box [-1, 1]^2 and SPEED = 0.05.
Observation: obs = (x, y), float32 (nothing else: the goal and the disk never move).
Reward and episode end: reaching the goal terminates with reward 1 and info["is_success"] = True; touching the
disk terminates with reward 0 and info["is_collision"] = True; gymnasium's TimeLimit truncates after 100 steps
(the demonstrator needs about 45). The return of an episode is 1 for a success, 0 otherwise.

The demonstrator (`DetourDemonstrator`) draws a side s = +-1 per episode (per row of a batch) and acts:
    approach  x < -0.85:        a = (1, clip(-0.5 y / SPEED))          halves |y| every step: at the fork the
                                                                       state says nothing about the side
    detour    -0.85 <= x < 0:   a = (1, clip((0.45 s - y) / (2 SPEED), -r(x), r(x)))
                                r(x) = min(1, (x + 0.85 + SPEED) / 0.5): a gentle turn (sideways speed 0.1 at
                                the fork, full from x = -0.35), then it holds y = 0.45 s past the disk
    home      x >= 0:           straight for the goal at full speed
Its path clears the disk by 0.11 (about two steps). While collecting, `explore` adds Gaussian noise of std 0.4
to the executed action and the clean action is recorded (DART, Laskey et al. 2017): the data then show how to
return to the path from nearby states, and the labels stay sharp.

Why it separates the policies (measured in notebook 05 and docs/results.md):
  * regression learns E[a | obs]: at the fork the two sides' actions cancel, so its plan is straight on, into
    the disk; executing such a plan open-loop for 8 steps, it rarely recovers;
  * a diffusion policy samples one side per plan, and 8 executed actions carry it far enough that the state
    then names the side;
  * re-planning every step re-draws the side while the point is still near the axis: some episodes wobble
    between the sides, lose their margin and touch the disk.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dpedu.envs.demonstrator import Demonstrator
from dpedu.stats import wilson_interval

SPEED, RADIUS, GOAL_RADIUS = 0.05, 0.3, 0.1
START_X, START_NOISE, GOAL = -1.2, 0.02, (1.0, 0.0)
ARENA = (1.5, 1.0)
FORK_X, CLEAR_Y, RAMP = -0.85, 0.45, 0.5
MAX_EPISODE_STEPS = 100
# The side-switch measure: inside the zone ZONE[0] <= x <= ZONE[1] (from just after the fork to past the
# disk's centre), the side is the sign of y once |y| > DEAD_BAND; a switch is a change of that side.
ZONE, DEAD_BAND = (-0.8, 0.3), 0.02


class DetourEnv(gym.Env):
    """A point in the plane under velocity control, a disk in the way (module docstring).

    `state` is the position (x, y) as float64, the form a trainer checkpoint saves (gymnasium's classic-control
    convention); truncation is gymnasium's TimeLimit. `import dpedu` registers it as dpedu/Detour-v0 with
    max_episode_steps=MAX_EPISODE_STEPS (dpedu/__init__.py).
    """

    metadata = {"render_modes": []}

    def __init__(self):
        high = np.array(ARENA, dtype=np.float32)
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.state = np.array([START_X, 0.0])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.state = np.array([START_X, self.np_random.uniform(-START_NOISE, START_NOISE)])
        return self.state.astype(np.float32), {}

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        self.state = np.clip(self.state + SPEED * a, -np.array(ARENA), np.array(ARENA))
        collision = bool(np.hypot(*self.state) < RADIUS)
        success = bool(not collision and np.hypot(*(self.state - GOAL)) <= GOAL_RADIUS)
        info = {"is_success": success, "is_collision": collision}
        return self.state.astype(np.float32), float(success), collision or success, False, info


class DetourDemonstrator(Demonstrator):
    """Goes round the disk on a side drawn per episode (module docstring for the rule).

    act(obs (2,)) -> (2,), or obs (N, 2) -> (N, 2): each row of a batch keeps its own side until reset().

    Args:
        seed: seeds the numpy Generator of the sides and of explore()'s noise.
        explore_noise: std of the Gaussian noise explore() adds to an executed action (then clipped to the box);
            None: 0.4.
    """

    OBS_DIM, OBS_NAMES = 2, "the point's x, y"
    ACTION_BOUND = 1.0
    CHOICES = "sides"
    DEFAULT_EXPLORE_NOISE = 0.4

    @property
    def sides(self) -> np.ndarray | None:
        """The current episodes' sides (N,) in {-1., +1.} (+1: y > 0), or None before the first act() (a copy)."""
        return self.choices

    def act(self, obs) -> np.ndarray:
        """The label(s) for position(s) obs (2,) or (N, 2): float32 velocities in the Box [-1, 1]^2."""
        p, single = self.observations(obs)
        sides = self.episode_choices(len(p))  # (N,): drawn once per episode
        x, y = p[:, 0], p[:, 1]
        a = np.empty_like(p)
        approach, detour, home = x < FORK_X, (x >= FORK_X) & (x < 0.0), x >= 0.0
        a[approach] = np.stack([np.ones(approach.sum()), -0.5 * y[approach] / SPEED], axis=1)
        authority = np.minimum(1.0, (x[detour] - FORK_X + SPEED) / RAMP)  # the gentle start of the turn
        a[detour, 0] = 1.0
        a[detour, 1] = np.clip((sides[detour] * CLEAR_Y - y[detour]) / (2 * SPEED), -authority, authority)
        to_goal = np.array(GOAL) - p[home]
        a[home] = to_goal / np.maximum(np.abs(to_goal).max(axis=1, keepdims=True), SPEED)
        action = np.clip(a, -1.0, 1.0).astype(np.float32)
        return action[0] if single else action


def side_and_switches(xy: np.ndarray) -> tuple[int, int]:
    """One episode's positions (L, 2) -> (side, switches): side = the sign of y where the point first reaches
    x >= 0, the disk's centre (0 if it never does); switches = changes of side inside ZONE (module constants)."""
    x, y = xy[:, 0], xy[:, 1]
    passed = np.flatnonzero(x >= 0.0)
    side = int(np.sign(y[passed[0]])) if len(passed) else 0
    in_zone = (x >= ZONE[0]) & (x <= ZONE[1]) & (np.abs(y) > DEAD_BAND)
    signs = np.sign(y[in_zone])
    return side, int(np.count_nonzero(signs[1:] != signs[:-1]))


def episode_measures(observations: list[np.ndarray]) -> dict:
    """evaluate_policy's Detour measures: the share of episodes past the disk on each side, side switches per
    episode, and the share of episodes with at least one switch (with its 95% Wilson interval)."""
    sides, switches = np.array([side_and_switches(obs[:, :2]) for obs in observations]).T
    n, switched = len(observations), int(np.count_nonzero(switches))
    return {"side_up": float(np.mean(sides > 0)), "side_down": float(np.mean(sides < 0)),
            "switches_per_episode": float(switches.mean()), "switched_share": switched / n,
            "switched_ci": wilson_interval(switched, n)}

