"""Exercise 4 (notebook 06, optional): one deterministic DDIM step x^k -> x^s, reference and checker."""

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


def reference_ddim_step(schedule: NoiseSchedule, x_k: torch.Tensor, eps: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """One deterministic DDIM step (eta = 0) from k to any earlier s, s = 0 after the last (Song et al. 2021, eq. 12).

        x0_pred = (x^k - sqrt(1 - alpha_bar_k) eps) / sqrt(alpha_bar_k)
        x^s     = sqrt(alpha_bar_s) x0_pred + sqrt(1 - alpha_bar_s) eps

    x_k = x^k, eps: (B, H, act_dim); K >= k > s >= 0: Python ints. No clipping of x0_pred. At s = 0 (alpha_bar_0 = 1)
    the step returns x0_pred.
    """
    alpha_bar_k = schedule.alpha_bars[k]
    alpha_bar_s = schedule.alpha_bars[s]
    x0_pred = (x_k - (1 - alpha_bar_k).sqrt() * eps) / alpha_bar_k.sqrt()
    return alpha_bar_s.sqrt() * x0_pred + (1 - alpha_bar_s).sqrt() * eps



DDIM_EQUATION = ("x^s = sqrt(alpha_bar_s) x0_pred + sqrt(1 - alpha_bar_s) eps, with x0_pred = (x^k - sqrt(1 - "
                 "alpha_bar_k) eps) / sqrt(alpha_bar_k), alpha_bar_k = schedule.alpha_bars[k], no clipping")


def _ddim_mistake(says: str, x0_pred: Callable, signal: Callable, direction: Callable) -> Mistake:
    """x^s = signal x0_pred + direction eps: x0_pred(schedule, x_k, eps, k), signal and direction (schedule, k, s)."""
    def formula(schedule, x_k, eps, k, s):
        return signal(schedule, k, s) * x0_pred(schedule, x_k, eps, k) + direction(schedule, k, s) * eps
    return Mistake(says, formula)


def _x0_pred(schedule: NoiseSchedule, x_k: torch.Tensor, eps: torch.Tensor, k: int) -> torch.Tensor:
    return (x_k - (1 - schedule.alpha_bars[k]).sqrt() * eps) / schedule.alpha_bars[k].sqrt()


def _alpha_bar(schedule: NoiseSchedule, s: int) -> torch.Tensor:
    return schedule.alpha_bars[s]  # alpha_bar_0 = 1 at the last step


def _signal(schedule: NoiseSchedule, k: int, s: int) -> torch.Tensor:
    return _alpha_bar(schedule, s).sqrt()  # sqrt(alpha_bar_s), right


def _direction(schedule: NoiseSchedule, k: int, s: int) -> torch.Tensor:
    return (1 - _alpha_bar(schedule, s)).sqrt()  # sqrt(1 - alpha_bar_s), right


DDIM_MISTAKES = [
    _ddim_mistake("every table is read one step early, alpha_bars[k - 1] and alpha_bars[s - 1], as in diffusers "
                  "(whose alphas_cumprod starts at step 1). Here entry 0 is the clean sample: alpha_bar_k is "
                  "schedule.alpha_bars[k], and alpha_bar_0 = 1 makes the last step (s = 0) return x0_pred.",
                  lambda sch, x_k, eps, k: _x0_pred(sch, x_k, eps, k - 1), lambda sch, k, s: _signal(sch, k, s - 1),
                  lambda sch, k, s: _direction(sch, k, s - 1)),
    _ddim_mistake("you used alpha_bar_k where alpha_bar_s belongs in the signal term: x^s = sqrt(alpha_bar_s) "
                  "x0_pred + sqrt(1 - alpha_bar_s) eps, both with the step you go *to*.",
                  _x0_pred, lambda sch, k, s: _signal(sch, k, k), _direction),
    _ddim_mistake("you stepped to k - 1: DDIM jumps straight to s (any earlier step), so use alpha_bar_s.",
                  _x0_pred, lambda sch, k, s: _signal(sch, k, k - 1), lambda sch, k, s: _direction(sch, k, k - 1)),
    _ddim_mistake("the direction term uses alpha_bar_k: it is sqrt(1 - alpha_bar_s) eps, the noise that x^s still "
                  "holds.",
                  _x0_pred, _signal, lambda sch, k, s: (1 - sch.alpha_bars[k]).sqrt()),
    _ddim_mistake("the coefficients are missing their square roots: sqrt(alpha_bar_s) and sqrt(1 - alpha_bar_s).",
                  _x0_pred, lambda sch, k, s: _alpha_bar(sch, s), lambda sch, k, s: 1 - _alpha_bar(sch, s)),
    _ddim_mistake("sign error: the direction term is + sqrt(1 - alpha_bar_s) eps.",
                  _x0_pred, _signal, lambda sch, k, s: -_direction(sch, k, s)),
    _ddim_mistake("sign error in x0_pred: x0_pred = (x^k - sqrt(1 - alpha_bar_k) eps) / sqrt(alpha_bar_k).",
                  lambda sch, x_k, eps, k: (x_k + (1 - sch.alpha_bars[k]).sqrt() * eps) / sch.alpha_bars[k].sqrt(),
                  _signal, _direction),
    _ddim_mistake("x0_pred is clipped to [-1, 1]: clipping is off in this exercise (DDIMSampler(..., "
                  "clip_sample=False)), so use x0_pred as it is.",
                  lambda sch, x_k, eps, k: _x0_pred(sch, x_k, eps, k).clamp(-1, 1), _signal, _direction),
    _ddim_mistake("the direction term is missing: x^s = sqrt(alpha_bar_s) x0_pred + sqrt(1 - alpha_bar_s) eps.",
                  _x0_pred, _signal, lambda sch, k, s: torch.tensor(0.0)),
    _ddim_mistake("you returned x0_pred, the predicted clean sample: the step returns x^s.",
                  _x0_pred, lambda sch, k, s: torch.tensor(1.0), lambda sch, k, s: torch.tensor(0.0)),
]


def _ddim_truth(schedule: NoiseSchedule, x_k: torch.Tensor, eps: torch.Tensor, k: int, s: int) -> torch.Tensor:
    return DDIMSampler(schedule, eta=0.0, clip_sample=False).step(x_k, eps, k, s)[0]


def _ddim_cases(seed: int = 0) -> list[Case]:
    """Cases (schedule, x_k, eps, k, s): jumps of several steps, the last step to s = 0, and one-step moves."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    for schedule, steps in [(NoiseSchedule(50, "cosine"), [(41, 31), (50, 40), (6, 5), (10, 0), (1, 0)]),
                            (NoiseSchedule(100, "linear"), [(100, 80), (61, 11), (20, 0)])]:
        for k, s in steps:
            x_k, eps = (torch.randn(4, 8, 2, generator=g) for _ in range(2))  # (B, H, act_dim) each
            cases.append(Case((schedule, x_k, eps, k, s), f"{schedule}, k = {k} -> s = {s}"))
    return cases


DDIM = Exercise("ddim_step(schedule, x_k, eps, k, s)", DDIM_EQUATION, ("schedule", "x_k", "eps", "k", "s"),
                _ddim_truth, DDIM_MISTAKES, rtol=5e-4, atol=5e-4, hints=[OUT_OF_BOUNDS_HINT])


@reports_not_attempted("ddim_step")
def check_ddim_step(fn: Callable[..., torch.Tensor]) -> Passed:
    """Check the learner's DDIM step fn(schedule, x_k, eps, k, s) -> x^s against DDIMSampler(eta=0, clip_sample=False).

    x_k = x^k, eps: (B, H, act_dim); k > s: Python ints, s = 0 for the last step (alpha_bar_0 = 1).
    """
    return _check(DDIM, fn, _ddim_cases(), "cosine and linear schedules, K = 50 and 100, jumps of 1 to 50 steps")
