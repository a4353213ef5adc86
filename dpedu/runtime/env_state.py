"""The mid-episode state of a gymnasium environment as plain Python and tensors, and back.

This is what makes `train(N); save; load; train(N)` equal `train(2N)` bit for bit: the physics
(`unwrapped.state`, as gymnasium's classic-control environments and dpedu's tasks keep it), the step counter
of the TimeLimit wrapper, and the generator that draws the next episode's start. The Trainer puts these in
its state_dict; nothing here reads or writes files.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch


def rng_state(rng: np.random.Generator) -> dict:
    """A numpy Generator's state as plain Python (PCG64: two 128-bit ints)."""
    return rng.bit_generator.state


def set_rng_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state


def _time_limit(env: gym.Env) -> gym.wrappers.TimeLimit | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return env
        env = env.env
    return None


def env_state(env: gym.Env) -> dict:
    """The mid-episode state of a classic-control environment (Pendulum-v1 and its kin)."""
    core = env.unwrapped
    if not isinstance(getattr(core, "state", None), np.ndarray):
        raise TypeError(f"cannot record the state of {env.spec.id if env.spec else env}: its state is not a numpy "
                        "array in env.unwrapped.state")
    limit = _time_limit(env)
    last_u = getattr(core, "last_u", None)
    return {
        "state": torch.from_numpy(core.state.copy()),
        "np_random": rng_state(core.np_random),
        "elapsed_steps": None if limit is None else limit._elapsed_steps,
        "last_u": None if last_u is None else float(last_u),  # only drawn by render()
    }


def set_env_state(env: gym.Env, state: dict) -> None:
    """Put a (reset) environment back into the state env_state() recorded."""
    core = env.unwrapped
    core.state = state["state"].numpy().copy()
    set_rng_state(core.np_random, state["np_random"])
    limit = _time_limit(env)
    if limit is not None:
        limit._elapsed_steps = state["elapsed_steps"]
    if hasattr(core, "last_u"):
        core.last_u = None if state["last_u"] is None else np.float32(state["last_u"])
