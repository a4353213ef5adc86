r"""Latency: the policy acts on what the world looked like `steps` control steps ago (Chi et al.'s latency ablation).

A real robot's camera frame is tens of milliseconds old when the policy sees it, and the plan is older still when its
actions run. Chi et al. measure how success falls as observations lag behind (their position-controlled
chunks tolerated up to 4 steps). `ObservationLatency(env, d)` returns, after step t, the observation o_{t-d}:

    reset:  o_0                      (the world is seen; nothing older exists, so the first d steps repeat o_0)
    step t: o_{max(0, t - d)}        while the world itself has moved on to o_t

gymnasium's DelayObservation does the same but returns zeros for the first d steps, which on Detour is a point inside
the disk: a false world, not an old one. Rewards, termination and info stay the world's own, undelayed.
"""

from __future__ import annotations

from collections import deque

import gymnasium as gym


class ObservationLatency(gym.Wrapper):
    """env, seen `steps` control steps late (0: unchanged)."""

    def __init__(self, env: gym.Env, steps: int):
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"latency must be an int >= 0 (control steps), got {steps!r}")
        super().__init__(env)
        self.steps = steps
        self._seen = deque(maxlen=steps + 1)  # o_{t-d} .. o_t: the oldest is what the policy gets

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._seen.extend([obs] * (self.steps + 1))
        return obs, info

    def restart_from(self, obs) -> None:
        """The world was just put in a chosen state (evaluate's initial_states): forget what was seen before it."""
        self._seen.extend([obs] * (self.steps + 1))

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._seen.append(obs)
        return self._seen[0], reward, terminated, truncated, info
