"""Exercise 4 (notebook 06, optional): one deterministic DDIM step x_t -> x_s, reference and checker."""

from __future__ import annotations

from collections.abc import Callable

import torch

from dpedu.course.exercises.checking import (
    OUT_OF_BOUNDS_HINT,
    Case,
    Exercise,
    Mistake,
    Passed,
    _check,
    reports_not_attempted,
)
from dpedu.diffusion.sampler import DDIMSampler
from dpedu.diffusion.schedule import NoiseSchedule


def reference_ddim_step(schedule: NoiseSchedule, x_t: torch.Tensor, eps: torch.Tensor, t: int, s: int) -> torch.Tensor:
    """One deterministic DDIM step (eta = 0) from t to any earlier s, s = -1 after the last (Song et al. 2021, eq. 12).

        x0_pred = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)
        x_s     = sqrt(alpha_bar_s) x0_pred + sqrt(1 - alpha_bar_s) eps

    x_t, eps: (B, H, act_dim); t > s: Python ints. No clipping of x0_pred.
    """
    alpha_bar_t = schedule.alpha_bars[t]
    alpha_bar_s = schedule.alpha_bars[s] if s >= 0 else torch.tensor(1.0)  # alpha_bar_{-1} = 1
    x0_pred = (x_t - (1 - alpha_bar_t).sqrt() * eps) / alpha_bar_t.sqrt()
    return alpha_bar_s.sqrt() * x0_pred + (1 - alpha_bar_s).sqrt() * eps



DDIM_EQUATION = ("x_s = sqrt(alpha_bar_s) x0_pred + sqrt(1 - alpha_bar_s) eps, with x0_pred = (x_t - sqrt(1 - "
                 "alpha_bar_t) eps) / sqrt(alpha_bar_t), alpha_bar_{-1} = 1, no clipping")


def _ddim_mistake(says: str, x0_pred: Callable, signal: Callable, direction: Callable) -> Mistake:
    """x_s = signal x0_pred + direction eps: x0_pred(schedule, x_t, eps, t), signal and direction (schedule, t, s)."""
    def formula(schedule, x_t, eps, t, s):
        return signal(schedule, t, s) * x0_pred(schedule, x_t, eps, t) + direction(schedule, t, s) * eps
    return Mistake(says, formula)


def _x0_pred(schedule: NoiseSchedule, x_t: torch.Tensor, eps: torch.Tensor, t: int) -> torch.Tensor:
    return (x_t - (1 - schedule.alpha_bars[t]).sqrt() * eps) / schedule.alpha_bars[t].sqrt()


def _alpha_bar(schedule: NoiseSchedule, s: int) -> torch.Tensor:
    return schedule.alpha_bars[s] if s >= 0 else torch.tensor(1.0)  # alpha_bar_{-1} = 1


def _signal(schedule: NoiseSchedule, t: int, s: int) -> torch.Tensor:
    return _alpha_bar(schedule, s).sqrt()  # sqrt(alpha_bar_s), right


def _direction(schedule: NoiseSchedule, t: int, s: int) -> torch.Tensor:
    return (1 - _alpha_bar(schedule, s)).sqrt()  # sqrt(1 - alpha_bar_s), right


DDIM_MISTAKES = [
    _ddim_mistake("at s = -1 you read alpha_bar_s as schedule.alpha_bars[-1], which Python reads as the LAST entry, "
                  "alpha_bar_{T-1}. alpha_bar_{-1} is 1 by convention, so the last step returns x0_pred.",
                  _x0_pred, lambda sch, t, s: sch.alpha_bars[s].sqrt(),
                  lambda sch, t, s: (1 - sch.alpha_bars[s]).sqrt()),
    _ddim_mistake("you stepped to t - 1: DDIM jumps straight to s (any earlier step), so use alpha_bar_s.",
                  _x0_pred, lambda sch, t, s: _signal(sch, t, t - 1), lambda sch, t, s: _direction(sch, t, t - 1)),
    _ddim_mistake("the direction term uses alpha_bar_t: it is sqrt(1 - alpha_bar_s) eps, the noise that x_s still "
                  "holds.",
                  _x0_pred, _signal, lambda sch, t, s: (1 - sch.alpha_bars[t]).sqrt()),
    _ddim_mistake("the coefficients are missing their square roots: sqrt(alpha_bar_s) and sqrt(1 - alpha_bar_s).",
                  _x0_pred, lambda sch, t, s: _alpha_bar(sch, s), lambda sch, t, s: 1 - _alpha_bar(sch, s)),
    _ddim_mistake("sign error: the direction term is + sqrt(1 - alpha_bar_s) eps.",
                  _x0_pred, _signal, lambda sch, t, s: -_direction(sch, t, s)),
    _ddim_mistake("sign error in x0_pred: x0_pred = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t).",
                  lambda sch, x_t, eps, t: (x_t + (1 - sch.alpha_bars[t]).sqrt() * eps) / sch.alpha_bars[t].sqrt(),
                  _signal, _direction),
    _ddim_mistake("x0_pred is clipped to [-1, 1]: clipping is off in this exercise (DDIMSampler(..., "
                  "clip_sample=False)), so use x0_pred as it is.",
                  lambda sch, x_t, eps, t: _x0_pred(sch, x_t, eps, t).clamp(-1, 1), _signal, _direction),
    _ddim_mistake("the direction term is missing: x_s = sqrt(alpha_bar_s) x0_pred + sqrt(1 - alpha_bar_s) eps.",
                  _x0_pred, _signal, lambda sch, t, s: torch.tensor(0.0)),
    _ddim_mistake("you returned x0_pred, the predicted clean sample: the step returns x_s.",
                  _x0_pred, lambda sch, t, s: torch.tensor(1.0), lambda sch, t, s: torch.tensor(0.0)),
]


def _ddim_truth(schedule: NoiseSchedule, x_t: torch.Tensor, eps: torch.Tensor, t: int, s: int) -> torch.Tensor:
    return DDIMSampler(schedule, eta=0.0, clip_sample=False).step(x_t, eps, t, s)[0]


def _ddim_cases(seed: int = 0) -> list[Case]:
    """Cases (schedule, x_t, eps, t, s): jumps of several steps, the last step to s = -1, and one-step moves."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    for schedule, steps in [(NoiseSchedule(50, "cosine"), [(40, 30), (49, 39), (5, 4), (9, -1), (0, -1)]),
                            (NoiseSchedule(100, "linear"), [(99, 79), (60, 10), (19, -1)])]:
        for t, s in steps:
            x_t, eps = (torch.randn(4, 8, 2, generator=g) for _ in range(2))  # (B, H, act_dim) each
            cases.append(Case((schedule, x_t, eps, t, s), f"{schedule}, t = {t} -> s = {s}"))
    return cases


DDIM = Exercise("ddim_step(schedule, x_t, eps, t, s)", DDIM_EQUATION, ("schedule", "x_t", "eps", "t", "s"),
                _ddim_truth, DDIM_MISTAKES, rtol=5e-4, atol=5e-4, hints=[OUT_OF_BOUNDS_HINT])


@reports_not_attempted("ddim_step")
def check_ddim_step(fn: Callable[..., torch.Tensor]) -> Passed:
    """Check the learner's DDIM step fn(schedule, x_t, eps, t, s) -> x_s against DDIMSampler(eta=0, clip_sample=False).

    x_t, eps: (B, H, act_dim); t > s: Python ints, s = -1 for the last step (alpha_bar_{-1} = 1).
    """
    return _check(DDIM, fn, _ddim_cases(), "cosine and linear schedules, T = 50 and 100, jumps of 1 to 50 steps")
