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
Position control (`control="position"`, registered as dpedu/DetourPosition-v0; as Chi et al.'s ablation): the action is
the position to go to, p*, and the point moves towards it at the same top speed, p' = clip(p + SPEED clip((p* - p) /
SPEED, -1, 1), arena): the same reachable positions, so the two differ only in what a policy must predict, the next
positions rather than the steps. Its demonstrator (`DetourPositionDemonstrator`) labels p + SPEED a, where the
velocity demonstrator's a would take the point, and its DART noise is the same in position units (0.4 SPEED).
Observation: obs = (x, y), float32 (nothing else: the goal and the disk never move). From pixels, gym-pusht's
convention: `gym.make("dpedu/Detour-v0", obs_type="pixels")` observes a FRAME_SHAPE (32, 48, 3) uint8 picture of the
arena (the point, the disk, the goal; 16 px per unit, anti-aliased so a sub-pixel move changes the picture) and
nothing else, so a policy must find the point in the image; "pixels_agent_pos" adds the position as well, as a robot
knows its own joints (a dict {"pixels", "agent_pos"}), and then the picture adds nothing, the scene never moving.
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


OBS_TYPES = ("state", "pixels", "pixels_agent_pos")  # gym-pusht's names for the last two
CONTROLS = ("velocity", "position")  # what an action is: a step (dpedu/Detour-v0) or a target (dpedu/DetourPosition-v0)
PIXELS_PER_UNIT = 16
FRAME_SHAPE = (int(2 * ARENA[1] * PIXELS_PER_UNIT), int(2 * ARENA[0] * PIXELS_PER_UNIT), 3)  # (H, W, C) = (32, 48, 3)
POINT_RADIUS = 0.1  # drawn only: the dynamics treat the point as a point
# RGB, as notebook 05's figures draw them: a pale arena, the disk grey, the goal green, the point dark blue.
COLOURS = {"arena": (245, 245, 240), "disk": (150, 150, 150), "goal": (60, 170, 90), "point": (30, 60, 160)}


def render_frame(xy) -> np.ndarray:
    """The picture of the point at xy = (x, y): FRAME_SHAPE uint8, row 0 at the top (y = +1), column 0 at x = -1.5.

    Each shape is anti-aliased: a pixel takes a shape's colour in proportion to how much of it the shape covers
    (approximated by the distance of the pixel's centre to the shape's edge), so the picture changes smoothly with
    the point's position and a position finer than a pixel can be read from it."""
    H, W, _ = FRAME_SHAPE
    u = (np.arange(W) + 0.5) / PIXELS_PER_UNIT - ARENA[0]  # x at the pixel centres
    v = ARENA[1] - (np.arange(H) + 0.5) / PIXELS_PER_UNIT  # y, top row first
    X, Y = np.meshgrid(u, v)  # (H, W)
    image = np.empty((H, W, 3))
    image[:] = COLOURS["arena"]
    x, y = float(xy[0]), float(xy[1])
    for (cx, cy), radius, colour in (((0.0, 0.0), RADIUS, "disk"), (GOAL, GOAL_RADIUS, "goal"),
                                      ((x, y), POINT_RADIUS, "point")):
        edge = (radius - np.hypot(X - cx, Y - cy)) * PIXELS_PER_UNIT + 0.5  # > 1 inside, < 0 outside
        cover = np.clip(edge, 0.0, 1.0)[..., None]
        image = image * (1 - cover) + cover * np.array(COLOURS[colour])
    return np.round(image).astype(np.uint8)


def episode_frames(episode: dict) -> tuple[np.ndarray, np.ndarray]:
    """A recorded episode's frames (L, *FRAME_SHAPE) uint8 and agent positions (L, 2) float32, from its data/obs
    (the positions): what the env observes with obs_type "pixels_agent_pos" at each step (datasets.render_frames)."""
    positions = np.asarray(episode["obs"], dtype=np.float32)
    return np.stack([render_frame(p) for p in positions]), positions


class DetourEnv(gym.Env):
    """A point in the plane under velocity control, a disk in the way (module docstring).

    `state` is the position (x, y) as float64, the form a trainer checkpoint saves (gymnasium's classic-control
    convention); truncation is gymnasium's TimeLimit. `import dpedu` registers it as dpedu/Detour-v0 with
    max_episode_steps=MAX_EPISODE_STEPS (dpedu/__init__.py).

    Args:
        obs_type: "state" (the default: (x, y) float32), "pixels" (a FRAME_SHAPE uint8 picture) or
            "pixels_agent_pos" (a dict of the picture, "pixels", and the position, "agent_pos").
        render_mode: None or "rgb_array" (render() returns the picture).
        control: "velocity" (the default: the action a in [-1, 1]^2 moves the point by SPEED a) or "position" (the
            action is the position p* to move towards, in the arena's box; module docstring).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, obs_type: str = "state", render_mode: str | None = None, control: str = "velocity"):
        if control not in CONTROLS:
            raise ValueError(f"control must be one of {', '.join(map(repr, CONTROLS))}, got {control!r}")
        if obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type must be one of {', '.join(map(repr, OBS_TYPES))}, got {obs_type!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.obs_type, self.render_mode, self.control = obs_type, render_mode, control
        high = np.array(ARENA, dtype=np.float32)
        position = spaces.Box(-high, high, dtype=np.float32)
        pixels = spaces.Box(0, 255, FRAME_SHAPE, dtype=np.uint8)
        self.observation_space = {"state": position, "pixels": pixels,
                                  "pixels_agent_pos": spaces.Dict({"pixels": pixels, "agent_pos": position})}[obs_type]
        self.action_space = (spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32) if control == "velocity" else
                             position)  # a target anywhere in the arena
        self.state = np.array([START_X, 0.0])

    def _get_obs(self):
        position = self.state.astype(np.float32)
        if self.obs_type == "state":
            return position
        if self.obs_type == "pixels":
            return render_frame(self.state)
        return {"pixels": render_frame(self.state), "agent_pos": position}

    def render(self) -> np.ndarray | None:
        return render_frame(self.state) if self.render_mode == "rgb_array" else None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.state = np.array([START_X, self.np_random.uniform(-START_NOISE, START_NOISE)])
        return self._get_obs(), {}

    def step(self, action):
        a = np.asarray(action, dtype=np.float64).reshape(2)
        if self.control == "position":
            a = (a - self.state) / SPEED  # towards the target p*, at most SPEED per axis and step (clipped below)
        a = np.clip(a, -1.0, 1.0)
        self.state = np.clip(self.state + SPEED * a, -np.array(ARENA), np.array(ARENA))
        collision = bool(np.hypot(*self.state) < RADIUS)
        success = bool(not collision and np.hypot(*(self.state - GOAL)) <= GOAL_RADIUS)
        info = {"is_success": success, "is_collision": collision}
        return self._get_obs(), float(success), collision or success, False, info


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


class DetourPositionDemonstrator(DetourDemonstrator):
    """The same demonstrator under position control (dpedu/DetourPosition-v0): its label is p + SPEED a, the position
    the velocity demonstrator's action a reaches (the arena's edge never comes near its path)."""

    ACTION_BOUND = ARENA[0]  # explore() clips a noisy target to |p*| <= 1.5; the env keeps the point in the arena
    DEFAULT_EXPLORE_NOISE = 0.4 * SPEED  # the same DART noise as velocity control's 0.4, in position units

    def act(self, obs) -> np.ndarray:
        p, single = self.observations(obs)
        target = (p + SPEED * np.atleast_2d(super().act(obs))).astype(np.float32)
        return target[0] if single else target


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

