"""What every built-in demonstrator offers the Trainer (and anyone collecting the same demonstrations)."""

from __future__ import annotations

import numbers

import numpy as np


def check_explore_noise(explore_noise) -> float:
    """explore_noise must be a finite number >= 0 (the std of explore()'s noise, in action units)."""
    if isinstance(explore_noise, bool) or not isinstance(explore_noise, numbers.Real) or not (
            np.isfinite(explore_noise) and explore_noise >= 0):
        raise ValueError(f"explore_noise must be a finite number >= 0, got {explore_noise!r}")
    return float(explore_noise)


class Demonstrator:
    """A hand-written expert for one task.

        reset()                 start of new episode(s): forget per-episode choices (a swing direction, a side)
        act(obs) -> action      the expert's action for obs (obs_dim,) -> (act_dim,) or (N, obs_dim) -> (N, act_dim):
                                the label a policy learns
        explore(action) -> a    the action the environment executes while collecting: with DART noise (Laskey et
                                al. 2017) the label plus N(0, explore_noise^2), clipped to the task's box
                                |a| <= ACTION_BOUND (execute a noisy action, record the clean one, so the data show
                                how to recover from small errors); with explore_noise 0 the label, nothing drawn
        state_dict() / load_state_dict(state)   its random state, for trainer checkpoints

    A subclass sets ACTION_BOUND, self._rng (a numpy Generator) and self.explore_noise.
    """

    ACTION_BOUND: float
    explore_noise: float = 0.0
    _rng: np.random.Generator

    def reset(self) -> None:
        raise NotImplementedError

    def act(self, obs) -> np.ndarray:
        raise NotImplementedError

    def explore(self, action: np.ndarray) -> np.ndarray:
        if self.explore_noise == 0.0:
            return action
        noise = self.explore_noise * self._rng.standard_normal(np.shape(action))
        return np.clip(action + noise, -self.ACTION_BOUND, self.ACTION_BOUND).astype(np.float32)

    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError
