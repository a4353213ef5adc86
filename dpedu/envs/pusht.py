r"""dpedu/PushT-v0: Chi et al.'s Push-T benchmark with the paper's low-dimensional observation. Notebook 08.

A disk (the agent, radius 15) pushes a T-shaped block (mass 1, frictionless contacts, no momentum) on a
512 x 512 table until the T covers a fixed green T, the goal. The physics is gym-pusht's (LeRobot's port of Chi
et al.'s environment, pymunk); this module wraps it in the form the course uses:

    observation  (18,) float32: the T's 8 keypoints x0, y0, ..., x7, y7 (gym-pusht's `get_keypoints` order,
                 drawn below) then the agent's x, y: Chi et al.'s low-dimensional input.
                 obs_type="pixels_agent_pos": gym-pusht's dict {"pixels": (96, 96, 3) uint8, "agent_pos": (2,)};
                 obs_type="pixels": the frame alone.
    action       (2,) float32 in [0, 512]^2: the agent's absolute target. A PD controller (kp 100, kv 20,
                 critically damped, 100 Hz) drives the kinematic agent towards it for 10 sub-steps: position
                 control at 10 Hz, as in the paper. A target outside the box is executed as given (gym-pusht's
                 rule; the agent is kinematic, so the walls do not stop it).
    reward       min(coverage / 0.95, 1), coverage = area(T inside the goal) / area(T) (gym-pusht's, shapely).
    termination  coverage > SUCCESS_COVERAGE = 0.95 (success); truncation after MAX_EPISODE_STEPS = 300 steps
                 (gymnasium's TimeLimit: `gym.make("dpedu/PushT-v0")` after `import dpedu`).
    info         gym-pusht's (pos_agent, vel_agent, block_pose, goal_pose, n_contacts) plus, after reset and on
                 every step, "coverage", "is_success" (coverage > 0.95) and "state" (the 5-vector below).

    The T in its body frame (y up) and its keypoints, numbered in gym-pusht's order:

                  7───6          y = 120
                  │   │          stem: x in [-15, 15], y in [30, 120]    keypoints 4-7
              3───4───5───2      y = 30
              │           │      bar:  x in [-60, 60], y in [0, 30]      keypoints 0-3
              0─────o─────1      y = 0; o = the body origin (the block's position), its centre of gravity (0, 45)

The state (Chi et al.'s data/state layout, float64): [agent_x, agent_y, block_x, block_y, block_angle], the
block's position being its body origin and the angle taken mod 2 pi. `reset(options={"state": s})` starts from it:
unlike gym-pusht's `reset_to_state`, which sets the position before the angle and so rotates the block about its
centre of gravity away from the requested position, the state round-trips (a state whose agent overlaps the
block is then resolved by the one physics step every reset makes, as in gym-pusht).

The score of an episode, Chi et al.'s "coverage" in their tables: the maximum over the episode of the reward
min(coverage / 0.95, 1) (`episode_score`); its success: coverage > 0.95 at some step (the episode ends there).
Evaluation starts are env seeds TEST_START_SEED = 100_000 onwards (Chi et al.'s convention); the course's
demonstrations use seeds from 0, so a test start never appears in the training data.

`import dpedu` registers the id without importing gym-pusht (pygame, OpenCV): only making the env loads it.
The planner that demonstrates the task is in pusht_planner.py.
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ENV_ID = "dpedu/PushT-v0"
MAX_EPISODE_STEPS = 300
SUCCESS_COVERAGE = 0.95
TEST_START_SEED = 100_000
OBS_TYPES = ("keypoints", "pixels", "pixels_agent_pos")
RENDER_MODES = (None, "rgb_array")
STATE_NAMES = ("agent_x", "agent_y", "block_x", "block_y", "block_angle")
TABLE = 512.0  # the table (and the action box) is [0, 512]^2
KEYPOINT_MARGIN = 128.0  # px a keypoint may lie off the table (observation_space)

# The T in its body frame, in gym-pusht's keypoint order (pymunk's vertex order of the bar, then of the stem;
# tests/test_pusht.py checks it against gym-pusht's get_keypoints).
LOCAL_KEYPOINTS = np.array([[-60.0, 0.0], [60.0, 0.0], [60.0, 30.0], [-60.0, 30.0],
                            [-15.0, 30.0], [15.0, 30.0], [15.0, 120.0], [-15.0, 120.0]])
CENTRE_OF_GRAVITY = np.array([0.0, 45.0])  # gym-pusht's: the mean of the bar's and the stem's centroids
GOAL_POSE = np.array([256.0, 256.0, np.pi / 4])  # x, y, angle of the goal T (gym-pusht's goal_pose)


def keypoints(pose) -> np.ndarray:
    """The T's 8 keypoints (8, 2) at pose (x, y, angle): R(angle) v + (x, y) for each body-frame keypoint v
    (gym-pusht's get_keypoints, from the pose)."""
    x, y, angle = (float(v) for v in pose)
    c, s = np.cos(angle), np.sin(angle)
    vx, vy = LOCAL_KEYPOINTS[:, 0], LOCAL_KEYPOINTS[:, 1]
    return np.stack([c * vx - s * vy + x, s * vx + c * vy + y], axis=1)


def pose_from_keypoints(points) -> np.ndarray:
    """The pose (x, y, angle) (3,) float64 whose keypoints best fit `points` (8, 2) or (16,), in least squares:
    exact for exact keypoints, the float32 rounding of an observation's keypoints moves it by ~1e-5 px.

    The angle rotates the centred body-frame keypoints onto the centred observed ones (2-D Procrustes):
    angle = atan2(sum cross(v_i, k_i), sum dot(v_i, k_i)); then (x, y) = mean(k) - R(angle) mean(v).
    The angle is in (-pi, pi]."""
    k = np.asarray(points, dtype=np.float64).reshape(8, 2)
    v_mean, k_mean = LOCAL_KEYPOINTS.mean(axis=0), k.mean(axis=0)
    v, kc = LOCAL_KEYPOINTS - v_mean, k - k_mean
    angle = np.arctan2(np.sum(v[:, 0] * kc[:, 1] - v[:, 1] * kc[:, 0]), np.sum(v[:, 0] * kc[:, 0] + v[:, 1] * kc[:, 1]))
    c, s = np.cos(angle), np.sin(angle)
    origin = k_mean - np.array([c * v_mean[0] - s * v_mean[1], s * v_mean[0] + c * v_mean[1]])
    return np.array([origin[0], origin[1], angle])


def episode_score(rewards) -> float:
    """Chi et al.'s per-episode score ("coverage" in their tables): the maximum over the episode of the reward
    min(coverage / 0.95, 1). rewards: the episode's rewards, 1-D, non-empty, each in [0, 1]."""
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim != 1 or len(r) == 0:
        raise ValueError(f"rewards must be a non-empty 1-D sequence (one reward per step), got shape {r.shape}")
    if not np.all(np.isfinite(r)) or r.min() < 0.0 or r.max() > 1.0:
        raise ValueError("rewards must be finite and in [0, 1] (Push-T's min(coverage / 0.95, 1))")
    return float(r.max())


def episode_measures(episodes: dict) -> dict:
    """evaluate_policy's Push-T measures from its rollouts: "score" (the mean of Chi et al.'s per-episode score,
    episode_score), "se_score" (its standard error over episodes) and "scores" (one per episode)."""
    scores = np.array([episode_score(r) for r in episodes["rewards"]])
    se = float(scores.std(ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else float("nan")
    return {"score": float(scores.mean()), "se_score": se, "scores": scores.round(4).tolist()}


def check_state(state) -> np.ndarray:
    """A start state [agent_x, agent_y, block_x, block_y, block_angle]: 5 finite numbers, positions in [0, 512]."""
    try:
        s = np.asarray(state, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"options['state'] must be 5 numbers {list(STATE_NAMES)}, got {state!r}") from None
    if s.shape != (5,) or not np.all(np.isfinite(s)):
        raise ValueError(f"options['state'] must be 5 finite numbers {list(STATE_NAMES)}, got {state!r}")
    if s[:4].min() < 0.0 or s[:4].max() > TABLE:
        raise ValueError(f"options['state']: the agent's and the block's positions must lie in [0, 512], got "
                         f"{s[:4].tolist()}")
    return s


class PushTEnv(gym.Env):
    """Push-T with Chi et al.'s low-dimensional observation (module docstring): gym-pusht's physics, rewards and
    rendering, our observation, start states and info.

    Args:
        obs_type: "keypoints" (default; (18,) float32), "pixels" or "pixels_agent_pos" (gym-pusht's 96 x 96 frame, and
            its dict of the frame and the agent's position, passed through).
        render_mode: None or "rgb_array" (render() then returns gym-pusht's 680 x 680 RGB frame, the last target
            drawn as a red cross).

    Made directly it has no time limit; `gym.make("dpedu/PushT-v0")` adds the 300-step TimeLimit.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, obs_type: str = "keypoints", render_mode: str | None = None):
        if obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type must be one of {', '.join(map(repr, OBS_TYPES))}, got {obs_type!r}")
        if render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # pygame's banner on import
        from gym_pusht.envs.pusht import PushTEnv as GymPushT  # here, not at the top: pygame and OpenCV load late

        self.obs_type, self.render_mode = obs_type, render_mode
        # Made directly, not with gym.make: the only TimeLimit is ours. gym-pusht always renders as "rgb_array",
        # which its pixel observations need; our render_mode decides whether render() may be called.
        inner = "environment_state_agent_pos" if obs_type == "keypoints" else obs_type
        self._env = GymPushT(obs_type=inner, render_mode="rgb_array")
        self.action_space = spaces.Box(0.0, TABLE, shape=(2,), dtype=np.float32)
        if obs_type == "keypoints":
            # The keypoints may leave the table: gym-pusht's random start puts the T's origin anywhere in
            # [100, 400]^2 at any angle, and its tips reach 125 px from there (520.5 px seen over seeds 0-1999). The
            # agent is on the table.
            low = np.r_[np.full(16, -KEYPOINT_MARGIN), 0.0, 0.0].astype(np.float32)
            high = np.r_[np.full(16, TABLE + KEYPOINT_MARGIN), TABLE, TABLE].astype(np.float32)
            self.observation_space = spaces.Box(low, high, dtype=np.float32)
        else:
            self.observation_space = self._env.observation_space

    def _observation(self, inner_obs):
        if self.obs_type == "keypoints":  # gym-pusht's keypoints (16,) then the agent (2,): Chi et al.'s order
            return np.concatenate([inner_obs["environment_state"], inner_obs["agent_pos"]]).astype(np.float32)
        return inner_obs

    def state(self) -> np.ndarray:
        """[agent_x, agent_y, block_x, block_y, block_angle] (5,) float64, the angle mod 2 pi (Chi et al.'s)."""
        agent, block = self._env.agent, self._env.block
        return np.array([*agent.position, *block.position, block.angle % (2 * np.pi)])

    def _info(self, info: dict, coverage: float) -> dict:
        return {**info, "coverage": float(coverage), "is_success": bool(coverage > SUCCESS_COVERAGE),
                "state": self.state()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """gym-pusht's random start drawn from `seed`, or options={"state": [agent_x, agent_y, block_x, block_y,
        block_angle]}: that exact state (the angle set before the position)."""
        super().reset(seed=seed)
        options = {} if options is None else options
        if not isinstance(options, dict) or set(options) - {"state"}:
            raise ValueError(f"options must be None or a dict with the only key 'state', got {options!r}")
        if "state" in options:
            s = check_state(options["state"])
            # gym-pusht sets the position of the freshly built block (angle 0) and then its angle, which rotates
            # the block about its centre of gravity g: the origin ends at p' + g - R(angle) g. Asking for
            # p' = p - g + R(angle) g leaves the origin at the requested p.
            g = CENTRE_OF_GRAVITY
            c, sn = np.cos(s[4]), np.sin(s[4])
            shifted = s[2:4] - g + np.array([c * g[0] - sn * g[1], sn * g[0] + c * g[1]])
            obs, info = self._env.reset(seed=seed, options={"reset_to_state": [*s[:2], *shifted, s[4]]})
        else:
            obs, info = self._env.reset(seed=seed)
        # gym-pusht reports no coverage after reset: its own (shapely) measure, as step computes it.
        return self._observation(obs), self._info(info, self._env._get_coverage())

    def step(self, action):
        a = np.asarray(action)
        if a.shape != (2,) or not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
            raise ValueError(f"action must be 2 finite numbers (the agent's target x, y in [0, 512]), got {action!r}")
        obs, reward, terminated, truncated, info = self._env.step(a)
        return self._observation(obs), float(reward), bool(terminated), truncated, self._info(info, info["coverage"])

    def render(self):
        """gym-pusht's 680 x 680 RGB frame (uint8), the last target drawn as a red cross."""
        if self.render_mode != "rgb_array":
            raise ValueError("render() needs render_mode='rgb_array' (this env was made with render_mode=None)")
        return self._env.render()

    def close(self):
        self._env.close()


def episode_frames(episode: dict) -> tuple[np.ndarray, np.ndarray]:
    """A recorded episode's frames (L, 96, 96, 3) uint8 and agent positions (L, 2) float32, drawn from its data/state:
    what the env observes with obs_type "pixels_agent_pos" at each step (datasets.render_frames). The frame depends on
    the positions only (gym-pusht draws no target in its observations), which the state holds."""
    env = PushTEnv(obs_type="pixels_agent_pos")
    try:
        frames, positions = [], []
        for state in np.asarray(episode["state"]):
            obs, _ = env.reset(options={"state": state})
            frames.append(obs["pixels"])
            positions.append(obs["agent_pos"])
    finally:
        env.close()
    return np.stack(frames), np.stack(positions).astype(np.float32)
