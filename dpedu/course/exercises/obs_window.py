"""Exercise (notebook 03): the observation window o_{t-To+1..t} of one episode, padded at its start."""

from __future__ import annotations

from collections.abc import Callable

import torch

from dpedu.course.exercises.checking import Case, Exercise, Mistake, Passed, _check, reports_not_attempted
from dpedu.data import window_indices


def reference_obs_window(episode_obs: torch.Tensor, t: int, obs_horizon: int) -> torch.Tensor:
    """The window o_{t-To+1}, ..., o_t (To = obs_horizon) of one episode's observations, oldest first.

    episode_obs (N, obs_dim), t in 0..N-1. Steps before the episode's start repeat its first observation o_0, as
    the training windows (data.window_indices) and the policy's history at reset (policy.RecedingHorizon) do.
    Returns (To, obs_dim).
    """
    steps = torch.arange(t - obs_horizon + 1, t + 1)  # (To,) = t-To+1 .. t
    return episode_obs[steps.clamp_min(0)]  # before step 0: o_0 again, never o_{-1} (that would wrap to the end)


def _truth(episode_obs: torch.Tensor, t: int, obs_horizon: int) -> torch.Tensor:
    """The package's rule: data.window_indices for one sample of an episode with steps 0..N-1."""
    obs_idx, _ = window_indices(torch.tensor([t]), torch.tensor([0]), torch.tensor([len(episode_obs) - 1]),
                                obs_horizon, 1)
    return episode_obs[obs_idx[0]]


def _steps(t: int, obs_horizon: int) -> torch.Tensor:
    return torch.arange(t - obs_horizon + 1, t + 1)


def _zero_padded(episode_obs: torch.Tensor, t: int, obs_horizon: int) -> torch.Tensor:
    steps = _steps(t, obs_horizon)
    window = episode_obs[steps.clamp_min(0)].clone()
    window[steps < 0] = 0
    return window


def _latest_padded(episode_obs: torch.Tensor, t: int, obs_horizon: int) -> torch.Tensor:
    steps = _steps(t, obs_horizon)
    return episode_obs[torch.where(steps < 0, t, steps)]


OBS_WINDOW_MISTAKES = [
    Mistake("the steps before the episode's start are zeros: repeat the episode's first observation o_0 there "
            "(clamp the step index at 0), as the training windows and the policy's history at reset do. A zero "
            "observation is a state the robot was never in.",
            _zero_padded),
    Mistake("the window ends at t - 1: it must end at the present observation o_t (steps t-To+1 .. t), the one "
            "the policy has just received.",
            lambda obs, t, To: obs[_steps(t - 1, To).clamp_min(0)]),
    Mistake("the window ends at t + 1, a step in the future: it must end at o_t (steps t-To+1 .. t).",
            lambda obs, t, To: obs[_steps(t + 1, To).clamp(0, len(obs) - 1)]),
    Mistake("the padding repeats the latest observation o_t: repeat the episode's *first* observation o_0 (clamp "
            "the step index at 0), as data.window_indices does.",
            _latest_padded),
    Mistake("the window is reversed (newest first): order it oldest first, o_{t-To+1}, ..., o_t, as the network "
            "was trained on.",
            lambda obs, t, To: obs[_steps(t, To).clamp_min(0)].flip(0)),
    Mistake("a negative step index wrapped to the end of the episode (Python's obs[-1] is the *last* "
            "observation): clamp the step index at 0 so the window never leaves the episode.",
            lambda obs, t, To: obs[_steps(t, To)]),
]


def _cases(seed: int = 0) -> list[Case]:
    g = torch.Generator().manual_seed(seed)
    cases = []
    for n, obs_dim, t, obs_horizon in [(10, 3, 1, 4), (10, 3, 6, 3), (10, 3, 0, 2), (12, 2, 11, 2), (12, 2, 5, 1),
                                       (6, 4, 2, 5)]:
        episode_obs = torch.randn(n, obs_dim, generator=g)
        cases.append(Case((episode_obs, t, obs_horizon),
                          f"an episode of {n} steps (episode_obs {tuple(episode_obs.shape)}), t = {t}, "
                          f"obs_horizon = {obs_horizon}"))
    return cases


OBS_WINDOW = Exercise("obs_window(episode_obs, t, obs_horizon)",
                      "episode_obs[s] for s = t-obs_horizon+1 .. t, oldest first, with s < 0 replaced by 0 "
                      "(shape (obs_horizon, obs_dim))",
                      ("episode_obs", "t", "obs_horizon"), _truth, OBS_WINDOW_MISTAKES, rtol=0.0, atol=0.0,
                      hints=[("out of bounds", "the window's steps are t-obs_horizon+1 .. t: t itself is the last, "
                                               "and no step passes N - 1.")])


@reports_not_attempted("obs_window")
def check_obs_window(fn: Callable[..., torch.Tensor]) -> Passed:
    """Check the learner's fn(episode_obs, t, obs_horizon) -> (obs_horizon, obs_dim) against data.window_indices."""
    return _check(OBS_WINDOW, fn, _cases(), "windows at, near and far from the episode's start and end")
