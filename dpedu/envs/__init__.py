"""The built-in tasks, each an environment with a demonstrator that generates its training data.

    pendulum.py   gymnasium's Pendulum-v1 and its energy-shaping + LQR demonstrator   (notebook 03)

A demonstrator has reset() (start of new episodes) and act(obs) -> action, for one observation (obs_dim,)
or a batch (N, obs_dim); `make_demonstrator(env_id, seed)` builds the one for a task.
"""

from __future__ import annotations

from dpedu.envs.pendulum import PendulumDemonstrator

DEMONSTRATORS = {"Pendulum-v1": PendulumDemonstrator}


def make_demonstrator(env_id: str, seed: int | None = None):
    """The built-in demonstrator for `env_id` (a key of DEMONSTRATORS), its random choices seeded by `seed`."""
    if env_id not in DEMONSTRATORS:
        raise ValueError(f"no built-in demonstrator for env id {env_id!r}; supported ids: {', '.join(DEMONSTRATORS)}")
    return DEMONSTRATORS[env_id](seed=seed)


__all__ = ["DEMONSTRATORS", "PendulumDemonstrator", "make_demonstrator"]
