"""What every built-in demonstrator offers the Trainer (and anyone collecting the same demonstrations)."""

from __future__ import annotations

import math

import numpy as np


def check_explore_noise(explore_noise) -> float:
    """explore_noise must be a finite number >= 0 (the std of explore()'s noise, in action units)."""
    if isinstance(explore_noise, bool) or not isinstance(explore_noise, (int, float)) or not (
            math.isfinite(explore_noise) and explore_noise >= 0):
        raise ValueError(f"explore_noise must be a finite number >= 0, got {explore_noise!r}")
    return float(explore_noise)


class Demonstrator:
    """A hand-written expert for one task.

        reset()                 start of new episode(s): forget per-episode choices (a swing direction, a side)
        act(obs) -> action      the expert's action for obs (obs_dim,) -> (act_dim,) or (N, obs_dim) -> (N, act_dim):
                                the label a policy learns
        explore(action) -> a    the action the environment executes while collecting; the action itself unless
                                the task widens its data with DART noise (Laskey et al. 2017: execute a noisy
                                action, record the clean one, so the data show how to recover from small errors)
        state_dict() / load_state_dict(state)   its random state, for trainer checkpoints
    """

    def reset(self) -> None:
        raise NotImplementedError

    def act(self, obs) -> np.ndarray:
        raise NotImplementedError

    def explore(self, action: np.ndarray) -> np.ndarray:
        return action

    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError
