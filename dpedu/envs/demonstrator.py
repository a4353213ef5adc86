"""The Demonstrator base: what every built-in demonstrator offers the Trainer (and anyone collecting the same
demonstrations), and the bookkeeping they share. A task's demonstrator writes only its control law, `act`.

    reset()                 start of new episode(s): forget the per-episode choices (a swing direction, a side)
    act(obs) -> action      the expert's action for obs (obs_dim,) -> (act_dim,) or (N, obs_dim) -> (N, act_dim):
                            the label a policy learns (written by each task)
    explore(action) -> a    the action the environment executes while collecting (DART, below)
    state_dict() / load_state_dict(state)   its random state and per-episode choices, for trainer checkpoints

The batch rule, the same for every task: the first act() after reset() (or construction) fixes the number N of
episodes stepped together and draws one choice per episode; act() with a different N before reset() is an error.

DART (Laskey et al. 2017): with explore_noise > 0, explore(a) = clip(a + N(0, explore_noise^2), -ACTION_BOUND,
ACTION_BOUND): execute a noisy action, record the clean one, so the data show how to recover from small errors.
With explore_noise 0 it returns the label and draws nothing.

One numpy Generator, seeded once, draws both the choices and the DART noise, in the order they are needed.
"""

from __future__ import annotations

import numbers

import numpy as np

from dpedu.config import MAX_SEED


def check_explore_noise(explore_noise) -> float:
    """explore_noise must be a finite number >= 0 (the std of explore()'s noise, in action units)."""
    if isinstance(explore_noise, bool) or not isinstance(explore_noise, numbers.Real) or not (
            np.isfinite(explore_noise) and explore_noise >= 0):
        raise ValueError(f"explore_noise must be a finite number >= 0, got {explore_noise!r}")
    return float(explore_noise)


class Demonstrator:
    """A hand-written expert for one task (module docstring). A subclass sets

        OBS_DIM, OBS_NAMES    the observation's size and what it holds (for error messages)
        ACTION_BOUND          the box |a| <= ACTION_BOUND that explore() clips to
        CHOICES               the name of the per-episode choice ("directions", "sides"): its property and
                              its state_dict key
        DEFAULT_EXPLORE_NOISE the task's DART noise when explore_noise is None

    and writes `act(obs)`, which starts with `x, single = self.observations(obs)` and gets the episodes'
    choices (N,) from `self.episode_choices(len(x))`. `draw_choices(n)` may be overridden (default: +-1,
    each with probability 1/2).

    Args:
        seed: seeds the numpy Generator of the choices and of explore()'s noise (None: fresh entropy).
        explore_noise: the std of explore()'s Gaussian noise, action units (None: DEFAULT_EXPLORE_NOISE).
    """

    OBS_DIM: int
    OBS_NAMES: str
    ACTION_BOUND: float
    CHOICES: str
    DEFAULT_EXPLORE_NOISE: float = 0.0

    def __init__(self, seed: int | None = None, explore_noise: float | None = None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or not 0 <= seed <= MAX_SEED):
            raise ValueError(f"seed must be None or an int in [0, 2**63 - 1], got {seed!r}")
        self._rng = np.random.default_rng(seed)
        self.explore_noise = check_explore_noise(self.DEFAULT_EXPLORE_NOISE if explore_noise is None
                                                 else explore_noise)
        self._choices: np.ndarray | None = None  # (N,) for the current episodes, drawn by the first act()

    # ------------------------------------------------------------------ what a subclass writes

    def act(self, obs) -> np.ndarray:
        raise NotImplementedError

    def draw_choices(self, n: int) -> np.ndarray:
        """The per-episode choices of n new episodes: +-1 each, with probability 1/2, from the demonstrator's rng."""
        return self._rng.choice(np.array([-1.0, 1.0]), size=n)

    # ------------------------------------------------------------------ the shared rules

    def reset(self) -> None:
        """Start new episode(s): forget the choices; new ones are drawn on the next act()."""
        self._choices = None

    @property
    def choices(self) -> np.ndarray | None:
        """The current episodes' choices (N,), or None before the first act() after reset(); a copy."""
        return None if self._choices is None else self._choices.copy()

    def observations(self, obs) -> tuple[np.ndarray, bool]:
        """obs (OBS_DIM,) or (N, OBS_DIM) -> (x (N, OBS_DIM) float64, single: whether obs was one observation)."""
        x = np.asarray(obs, dtype=np.float64)
        single = x.ndim == 1
        x = x[None] if single else x
        if x.ndim != 2 or x.shape[1] != self.OBS_DIM or len(x) == 0:
            raise ValueError(f"obs must have shape ({self.OBS_DIM},) or (N, {self.OBS_DIM}) ({self.OBS_NAMES}), "
                             f"N >= 1; got shape {np.shape(obs)}")
        if not np.all(np.isfinite(x)):
            raise ValueError("obs contains non-finite values (NaN or inf)")
        return x, single

    def episode_choices(self, n: int) -> np.ndarray:
        """The choices (n,) of the current episodes: drawn by the first act() after reset(), which fixes n."""
        if self._choices is None:
            # Lazily: the number of episodes is only known once act() sees the observations.
            self._choices = self.draw_choices(n)
        elif len(self._choices) != n:
            raise ValueError(f"batch size changed from {len(self._choices)} to {n} without reset(); call reset() "
                             "at the start of new episode(s)")
        return self._choices

    def explore(self, action: np.ndarray) -> np.ndarray:
        """The executed action: the label plus DART noise, clipped to the task's box (the label at noise 0)."""
        if self.explore_noise == 0.0:
            return action
        noise = self.explore_noise * self._rng.standard_normal(np.shape(action))
        return np.clip(action + noise, -self.ACTION_BOUND, self.ACTION_BOUND).astype(np.float32)

    # ------------------------------------------------------------------ state (plain Python: weights_only loads it)

    def state_dict(self) -> dict:
        """{"rng": the Generator's state, CHOICES: the current episodes' choices as a list, or None}."""
        choices = None if self._choices is None else self._choices.tolist()
        return {"rng": self._rng.bit_generator.state, self.CHOICES: choices}

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or "rng" not in state or self.CHOICES not in state:
            raise ValueError(f"a {type(self).__name__} state needs the keys 'rng' and {self.CHOICES!r}, got "
                             f"{sorted(state) if isinstance(state, dict) else type(state).__name__}")
        choices = state[self.CHOICES]
        self._rng.bit_generator.state = state["rng"]
        self._choices = None if choices is None else np.asarray(choices, dtype=np.float64).copy()


class CheckedDemonstrator:
    """A demonstrator you wrote, for any gymnasium env with a Box action space (docs/your-own-task.md), made to offer
    what the Trainer and record() use, with every action checked.

    Your object needs `reset()` (a new episode starts) and `act(obs)` -> the action for one observation. Optional:
    `explore(action)` -> the action to execute (DART; without it the executed action is the label), and
    `state_dict()` / `load_state_dict(state)` (without them a trainer checkpoint records no demonstrator state,
    so a resumed run's demonstrator starts afresh). Each action must have the action space's shape, be finite
    and lie within its bounds: anything else is a ValueError naming what came back.
    """

    def __init__(self, demonstrator, action_space):
        missing = [name for name in ("reset", "act") if not callable(getattr(demonstrator, name, None))]
        if missing:
            raise TypeError(f"a demonstrator needs the methods reset() and act(obs); {type(demonstrator).__name__} "
                            f"has no {' and no '.join(f'{m}()' for m in missing)}")
        self.demonstrator, self.action_space = demonstrator, action_space

    def reset(self) -> None:
        self.demonstrator.reset()

    def act(self, obs) -> np.ndarray:
        action = self.demonstrator.act(obs)
        space, name = self.action_space, type(self.demonstrator).__name__
        try:
            action = np.asarray(action, dtype=np.float32)
        except (TypeError, ValueError):
            raise ValueError(f"{name}.act(obs) returned {action!r}, not an array of numbers") from None
        if action.shape != space.shape:
            raise ValueError(f"{name}.act(obs) returned an action of shape {action.shape}; the env's action space "
                             f"{space} needs shape {space.shape}")
        if not np.isfinite(action).all() or (action < space.low).any() or (action > space.high).any():
            raise ValueError(f"{name}.act(obs) returned {action.tolist()}, outside the action space's bounds "
                             f"[{space.low.tolist()}, {space.high.tolist()}] (or not finite)")
        return action

    def explore(self, action: np.ndarray) -> np.ndarray:
        explore = getattr(self.demonstrator, "explore", None)
        return action if explore is None else explore(action)

    def state_dict(self) -> dict | None:
        state_dict = getattr(self.demonstrator, "state_dict", None)
        return None if state_dict is None else state_dict()

    def load_state_dict(self, state: dict | None) -> None:
        load = getattr(self.demonstrator, "load_state_dict", None)
        if load is not None and state is not None:
            load(state)
        elif state is not None:
            raise ValueError(f"the checkpoint holds a demonstrator state, and {type(self.demonstrator).__name__} "
                             "has no load_state_dict(state) to take it")
