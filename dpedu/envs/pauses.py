"""Pausing(demonstrator): demonstrations with idle stretches, as people teleoperating a robot leave them (notebook 11).

Chi et al. call them idle actions: a demonstrator who stops to think leaves a run of "stay where you are" actions
(zero velocities, or the same target position repeated) in the middle of a task. A policy trained on them can learn
to stop where the demonstrator stopped; the paper reports single-step policies (LSTM-GMM, IBC) getting stuck this
way on real robots, and argues that predicting action sequences carries a policy through the pauses.

`Pausing` wraps any built-in demonstrator. At every step an episode that is not paused starts a pause with
probability `rate`; a pause lasts a number of steps drawn uniformly from `durations` (both ends included), during
which the label is `idle(obs)` and the environment executes it exactly (no DART noise: the demonstrator holds
still). Between pauses the wrapped demonstrator acts and explores as it always does. With rate 0 it is the wrapped
demonstrator, step for step (tested).

    trainer = Trainer("diffusion", env="dpedu/Detour-v0", seed=0, config=...,
                      demonstrator=Pausing(make_demonstrator("dpedu/Detour-v0", seed=0), seed=0))
"""

from __future__ import annotations

import numbers

import numpy as np

from dpedu.config import MAX_SEED
from dpedu.envs.demonstrator import Demonstrator


def stand_still(obs: np.ndarray, act_dim: int) -> np.ndarray:
    """The idle action under velocity control: zero, (N, act_dim)."""
    return np.zeros((len(obs), act_dim), dtype=np.float32)


def hold_position(obs: np.ndarray, act_dim: int) -> np.ndarray:
    """The idle action under position control: the target is where the point is (the first act_dim entries of the
    observation, the position on dpedu/DetourPosition-v0)."""
    return obs[:, :act_dim].astype(np.float32)


# What "stay where you are" means, per task with a built-in demonstrator that can pause (Pausing(idle=None)).
IDLE_ACTIONS = {"DetourDemonstrator": stand_still, "DetourPositionDemonstrator": hold_position}


class Pausing:
    """A demonstrator that pauses at random (module docstring). Offers what the Trainer uses: reset(), act(obs),
    explore(action), state_dict() / load_state_dict(state); act takes one observation or a batch (N, obs_dim), each
    row pausing on its own, and keeps the Demonstrator's batch rule (N is fixed by the first act() after reset()).

    Args:
        demonstrator: the Demonstrator that acts between pauses.
        rate: the probability that a pause starts at a step, in [0, 1) (default 0.05: about two pauses in a
            45-step Detour demonstration).
        durations: (shortest, longest) pause in steps, both >= 1 (default (3, 10)).
        idle: idle(obs (N, obs_dim) float64, act_dim) -> (N, act_dim) float32, the label while paused; None: the
            task's entry of IDLE_ACTIONS.
        seed: seeds the pauses' numpy Generator (None: fresh entropy); the wrapped demonstrator keeps its own.
        where: where(obs (N, obs_dim) float64) -> (N,) bool, the states at which a pause may start (None: any);
            e.g. `lambda p: np.abs(p[:, 0] - detour.FORK_X) < detour.SPEED` pauses only at Detour's fork.
    """

    def __init__(self, demonstrator: Demonstrator, rate: float = 0.05, durations: tuple[int, int] = (3, 10),
                 idle=None, seed: int | None = None, where=None):
        if not isinstance(demonstrator, Demonstrator):
            raise TypeError(f"Pausing wraps a dpedu Demonstrator (dpedu.envs.make_demonstrator), got "
                            f"{type(demonstrator).__name__}")
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"rate must be a probability in [0, 1), got {rate!r}")
        if (not isinstance(durations, (tuple, list)) or len(durations) != 2
                or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in durations)
                or not 1 <= durations[0] <= durations[1]):
            raise ValueError(f"durations must be (shortest, longest) steps, ints with 1 <= shortest <= longest, "
                             f"got {durations!r}")
        name = type(demonstrator).__name__
        if idle is None and name not in IDLE_ACTIONS:
            raise ValueError(f"no idle action known for {name}; give idle=fn(obs, act_dim) (known: "
                             f"{', '.join(IDLE_ACTIONS)})")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or not 0 <= seed <= MAX_SEED):
            raise ValueError(f"seed must be None or an int in [0, 2**63 - 1], got {seed!r}")
        self.demonstrator, self.rate, self.durations = demonstrator, float(rate), (int(durations[0]), int(durations[1]))
        self.idle = IDLE_ACTIONS[name] if idle is None else idle
        self.where = where
        self._rng = np.random.default_rng(seed)
        self._remaining: np.ndarray | None = None  # (N,) steps of pause left, per episode
        self._paused: np.ndarray | None = None  # (N,) whether the last act() labelled a pause

    def reset(self) -> None:
        """New episode(s): no pause under way; the wrapped demonstrator forgets its choices."""
        self.demonstrator.reset()
        self._remaining = self._paused = None

    @property
    def paused(self) -> np.ndarray | None:
        """Whether each episode's last label was a pause (N,) bool, or None before the first act() (a copy)."""
        return None if self._paused is None else self._paused.copy()

    def act(self, obs) -> np.ndarray:
        """The label(s): the wrapped demonstrator's, or idle(obs) in rows that are paused at this step."""
        action = np.atleast_2d(self.demonstrator.act(obs))  # always asked: it checks obs and keeps its choices
        p, single = self.demonstrator.observations(obs)
        if self._remaining is None:
            self._remaining = np.zeros(len(p), dtype=np.int64)
        starts = (self._remaining == 0) & (self._rng.random(len(p)) < self.rate)
        if self.where is not None:
            starts &= np.asarray(self.where(p), dtype=bool).reshape(len(p))
        lengths = self._rng.integers(self.durations[0], self.durations[1] + 1, size=len(p))
        self._remaining = np.where(starts, lengths, self._remaining)
        self._paused = self._remaining > 0
        self._remaining = np.maximum(self._remaining - 1, 0)
        if self._paused.any():
            action = action.copy()
            action[self._paused] = self.idle(p, action.shape[1])[self._paused]
        return action[0] if single else action

    def explore(self, action: np.ndarray) -> np.ndarray:
        """The executed action: the wrapped demonstrator's DART noise between pauses, the label itself in a pause."""
        executed = self.demonstrator.explore(action)
        if self._paused is None or not self._paused.any():
            return executed
        executed, label = np.atleast_2d(np.array(executed)), np.atleast_2d(action)
        executed[self._paused] = label[self._paused]
        return executed[0] if np.ndim(action) == 1 else executed

    def state_dict(self) -> dict:
        """{"demonstrator": the wrapped one's state, "rng": the pauses' Generator, "remaining", "paused": lists or
        None}: a resumed trainer goes on with the same pauses."""
        def as_list(a):
            return None if a is None else a.tolist()

        return {"demonstrator": self.demonstrator.state_dict(), "rng": self._rng.bit_generator.state,
                "remaining": as_list(self._remaining), "paused": as_list(self._paused)}

    def load_state_dict(self, state: dict) -> None:
        keys = ("demonstrator", "rng", "remaining", "paused")
        if not isinstance(state, dict) or any(k not in state for k in keys):
            raise ValueError(f"a Pausing state needs the keys {', '.join(map(repr, keys))}, got "
                             f"{sorted(state) if isinstance(state, dict) else type(state).__name__}")
        self.demonstrator.load_state_dict(state["demonstrator"])
        self._rng.bit_generator.state = state["rng"]
        self._remaining = None if state["remaining"] is None else np.asarray(state["remaining"], dtype=np.int64)
        self._paused = None if state["paused"] is None else np.asarray(state["paused"], dtype=bool)


def idle_share(positions: list[np.ndarray], tolerance: float) -> float:
    """The share of steps, over all episodes (each (L + 1, d) positions), in which the position moved by less
    than `tolerance` (Euclidean): how much of its time a policy, or a demonstrator, stands still."""
    moves = np.concatenate([np.linalg.norm(np.diff(p, axis=0), axis=1) for p in positions])
    return float(np.mean(moves < tolerance))
