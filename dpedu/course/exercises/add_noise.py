"""Exercise 1 (notebook 01): the forward process q(x_t | x0), its reference solution and its checker."""

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
from dpedu.diffusion.schedule import NoiseSchedule


def reference_add_noise(schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """q(x_t | x0):  x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps   (Ho et al. 2020, eq. 4; x0 is x_{-1}).

    x0, eps: (B, H, act_dim); t: (B,) long, one timestep per sample. Returns x_t, (B, H, act_dim).
    """
    alpha_bar_t = schedule.alpha_bars[t].view(-1, 1, 1)  # (B,) -> (B, 1, 1): each sample scaled by its own t
    return alpha_bar_t.sqrt() * x0 + (1 - alpha_bar_t).sqrt() * eps




ADD_NOISE_EQUATION = "x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps, with alpha_bar_t = schedule.alpha_bars[t]"


def _add_noise_mistake(says: str, signal: Callable, noise: Callable) -> Mistake:
    """x_t = signal(schedule, t) x0 + noise(schedule, t) eps, with wrong (B,) coefficients."""
    return Mistake(says, lambda sch, x0, t, eps: signal(sch, t).view(-1, 1, 1) * x0
                   + noise(sch, t).view(-1, 1, 1) * eps)


ADD_NOISE_MISTAKES = [
    _add_noise_mistake("you used alpha_bar_t and 1 - alpha_bar_t as the coefficients: both need a square root, "
                       "x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps (they scale standard deviations, "
                       "alpha_bar_t is a variance).",
                       lambda s, t: s.alpha_bars[t], lambda s, t: 1 - s.alpha_bars[t]),
    _add_noise_mistake("the noise coefficient is missing its square root: use sqrt(1 - alpha_bar_t), "
                       "not 1 - alpha_bar_t.",
                       lambda s, t: s.alpha_bars[t].sqrt(), lambda s, t: 1 - s.alpha_bars[t]),
    _add_noise_mistake("the x0 coefficient is missing its square root: use sqrt(alpha_bar_t), not alpha_bar_t.",
                       lambda s, t: s.alpha_bars[t], lambda s, t: (1 - s.alpha_bars[t]).sqrt()),
    _add_noise_mistake("the noise coefficient is 1 - sqrt(alpha_bar_t); it should be sqrt(1 - alpha_bar_t), so "
                       "that the two variances add up to 1.",
                       lambda s, t: s.alpha_bars[t].sqrt(), lambda s, t: 1 - s.alpha_bars[t].sqrt()),
    _add_noise_mistake("the coefficients are swapped: sqrt(alpha_bar_t) multiplies x0 and sqrt(1 - alpha_bar_t) "
                       "multiplies eps.",
                       lambda s, t: (1 - s.alpha_bars[t]).sqrt(), lambda s, t: s.alpha_bars[t].sqrt()),
    _add_noise_mistake("you used alpha_t (schedule.alphas, the noise of one step) instead of alpha_bar_t "
                       "(schedule.alpha_bars, the product alpha_0 ... alpha_t): x_t is reached from x0 in one jump.",
                       lambda s, t: s.alphas[t].sqrt(), lambda s, t: (1 - s.alphas[t]).sqrt()),
    _add_noise_mistake("you used beta_t (schedule.betas) where alpha_bar_t belongs: "
                       "alpha_bar_t = schedule.alpha_bars[t].",
                       lambda s, t: s.betas[t].sqrt(), lambda s, t: (1 - s.betas[t]).sqrt()),
    _add_noise_mistake("off by one: you used alpha_bar at t - 1. Timesteps count from 0 here, so alpha_bar_t is "
                       "schedule.alpha_bars[t], with no shift.",
                       lambda s, t: s.alpha_bars[t - 1].sqrt(), lambda s, t: (1 - s.alpha_bars[t - 1]).sqrt()),
    _add_noise_mistake("off by one: you used alpha_bar at t + 1. Timesteps count from 0 here, so alpha_bar_t is "
                       "schedule.alpha_bars[t], with no shift.",
                       lambda s, t: s.alpha_bars[t + 1].sqrt(), lambda s, t: (1 - s.alpha_bars[t + 1]).sqrt()),
    _add_noise_mistake("sign error: the noise is added, + sqrt(1 - alpha_bar_t) eps, not subtracted.",
                       lambda s, t: s.alpha_bars[t].sqrt(), lambda s, t: -(1 - s.alpha_bars[t]).sqrt()),
    _add_noise_mistake("no noise was added: x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps.",
                       lambda s, t: s.alpha_bars[t].sqrt(), lambda s, t: 0 * s.alpha_bars[t]),
    _add_noise_mistake("x0 is not scaled: it is sqrt(alpha_bar_t) x0 that keeps the variance of x_t at 1.",
                       lambda s, t: torch.ones_like(s.alpha_bars[t]), lambda s, t: (1 - s.alpha_bars[t]).sqrt()),
    _add_noise_mistake("you used one timestep, t[0], for the whole batch: each sample b has its own t[b], so index "
                       "the table with the whole tensor, schedule.alpha_bars[t], of shape (B,).",
                       lambda s, t: s.alpha_bars[t[:1]].expand(len(t)).sqrt(),
                       lambda s, t: (1 - s.alpha_bars[t[:1]].expand(len(t))).sqrt()),
]

ADD_NOISE_HINTS = [
    ("must match the size", "schedule.alpha_bars[t] has shape (B,); reshape it to (B, 1, 1) with .view(-1, 1, 1) "
                            "so that it scales each sample of x0 (B, H, act_dim) by its own coefficient."),
    OUT_OF_BOUNDS_HINT,
    ("cannot be converted to Scalar", "t holds one timestep per sample, shape (B,): index the tables with the "
                                      "tensor itself, schedule.alpha_bars[t], not with t.item() or int(t)."),
    ("converted to Python scalars", "t holds one timestep per sample, shape (B,): keep the coefficients as tensors, "
                                    "schedule.alpha_bars[t] of shape (B,), not float(...) or math.sqrt(...)."),
]


def _add_noise_cases(seed: int = 0) -> list[Case]:
    """Cases (schedule, x0, t, eps): interior t first (the clearest diagnosis), then the ends 0 and T - 1."""
    g = torch.Generator().manual_seed(seed)
    plans = [(NoiseSchedule(50, "cosine"), [3, 10, 21, 30, 38, 45]),
             (NoiseSchedule(50, "cosine"), [0, 0, 1, 25, 48, 49]),
             (NoiseSchedule(100, "linear"), [0, 1, 5, 50, 98, 99]),
             (NoiseSchedule(7, "cosine"), [0, 1, 2, 3, 4, 5, 6])]
    cases = []
    for schedule, ts in plans:
        t = torch.tensor(ts)
        x0 = torch.rand(len(ts), 8, 2, generator=g) * 2 - 1  # (B, H, act_dim), normalised actions in [-1, 1]
        eps = torch.randn(x0.shape, generator=g)
        cases.append(Case((schedule, x0, t, eps), f"{schedule}, t = {ts}, x0 of shape {tuple(x0.shape)}"))
    return cases


ADD_NOISE = Exercise("add_noise(schedule, x0, t, eps)", ADD_NOISE_EQUATION, ("schedule", "x0", "t", "eps"),
                     lambda schedule, x0, t, eps: schedule.add_noise(x0, t, eps),
                     ADD_NOISE_MISTAKES, rtol=1e-4, atol=1e-4, hints=ADD_NOISE_HINTS)


@reports_not_attempted("add_noise")
def check_add_noise(fn: Callable[[NoiseSchedule, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> Passed:
    """Check the learner's forward process fn(schedule, x0, t, eps) -> x_t against NoiseSchedule.add_noise.

    fn gets x0 and eps of shape (B, H, act_dim) and t, a (B,) long tensor (one timestep per sample), and returns
    x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps, (B, H, act_dim). Raises AssertionError naming the mistake.
    """
    return _check(ADD_NOISE, fn, _add_noise_cases(), "cosine and linear schedules, T = 7, 50, 100, t from 0 to T-1")
