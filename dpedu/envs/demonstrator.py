"""What every built-in demonstrator offers the Trainer (and anyone collecting the same demonstrations)."""

from __future__ import annotations

import numpy as np


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
