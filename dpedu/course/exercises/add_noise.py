"""Exercise 1 (notebook 01): the forward process q(x^k | x^0), its reference solution and its checker."""

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


def reference_add_noise(schedule: NoiseSchedule, x0: torch.Tensor, k: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """q(x^k | x^0):  x^k = sqrt(alpha_bar_k) x^0 + sqrt(1 - alpha_bar_k) eps   (Ho et al. 2020, eq. 4).

    x0 (x^0), eps: (B, H, act_dim); k: (B,) long, one diffusion step in 0..K per sample. Returns x^k, (B, H, act_dim).
    """
    alpha_bar_k = schedule.alpha_bars[k].view(-1, 1, 1)  # (B,) -> (B, 1, 1): each sample scaled by its own k
    return alpha_bar_k.sqrt() * x0 + (1 - alpha_bar_k).sqrt() * eps




ADD_NOISE_EQUATION = "x^k = sqrt(alpha_bar_k) x0 + sqrt(1 - alpha_bar_k) eps, with alpha_bar_k = schedule.alpha_bars[k]"


def _add_noise_mistake(says: str, signal: Callable, noise: Callable) -> Mistake:
    """x^k = signal(schedule, k) x0 + noise(schedule, k) eps, with wrong (B,) coefficients."""
    return Mistake(says, lambda sch, x0, k, eps: signal(sch, k).view(-1, 1, 1) * x0
                   + noise(sch, k).view(-1, 1, 1) * eps)


ADD_NOISE_MISTAKES = [
    _add_noise_mistake("you used alpha_bar_k and 1 - alpha_bar_k as the coefficients: both need a square root, "
                       "x^k = sqrt(alpha_bar_k) x0 + sqrt(1 - alpha_bar_k) eps (they scale standard deviations, "
                       "alpha_bar_k is a variance).",
                       lambda s, k: s.alpha_bars[k], lambda s, k: 1 - s.alpha_bars[k]),
    _add_noise_mistake("the noise coefficient is missing its square root: use sqrt(1 - alpha_bar_k), "
                       "not 1 - alpha_bar_k.",
                       lambda s, k: s.alpha_bars[k].sqrt(), lambda s, k: 1 - s.alpha_bars[k]),
    _add_noise_mistake("the x0 coefficient is missing its square root: use sqrt(alpha_bar_k), not alpha_bar_k.",
                       lambda s, k: s.alpha_bars[k], lambda s, k: (1 - s.alpha_bars[k]).sqrt()),
    _add_noise_mistake("the noise coefficient is 1 - sqrt(alpha_bar_k); it should be sqrt(1 - alpha_bar_k), so "
                       "that the two variances add up to 1.",
                       lambda s, k: s.alpha_bars[k].sqrt(), lambda s, k: 1 - s.alpha_bars[k].sqrt()),
    _add_noise_mistake("the coefficients are swapped: sqrt(alpha_bar_k) multiplies x0 and sqrt(1 - alpha_bar_k) "
                       "multiplies eps.",
                       lambda s, k: (1 - s.alpha_bars[k]).sqrt(), lambda s, k: s.alpha_bars[k].sqrt()),
    _add_noise_mistake("you used alpha_k (schedule.alphas, the noise of one step) instead of alpha_bar_k "
                       "(schedule.alpha_bars, the product alpha_1 ... alpha_k): x^k is reached from x0 in one jump.",
                       lambda s, k: s.alphas[k].sqrt(), lambda s, k: (1 - s.alphas[k]).sqrt()),
    _add_noise_mistake("you used beta_k (schedule.betas) where alpha_bar_k belongs: "
                       "alpha_bar_k = schedule.alpha_bars[k].",
                       lambda s, k: s.betas[k].sqrt(), lambda s, k: (1 - s.betas[k]).sqrt()),
    _add_noise_mistake("off by one: you used alpha_bar_{k-1}, schedule.alpha_bars[k - 1]. Entry 0 of every "
                       "table is the clean sample (alpha_bar_0 = 1), so alpha_bar_k is schedule.alpha_bars[k].",
                       lambda s, k: s.alpha_bars[k - 1].sqrt(), lambda s, k: (1 - s.alpha_bars[k - 1]).sqrt()),
    _add_noise_mistake("off by one: you used alpha_bar_{k+1}, schedule.alpha_bars[k + 1]. Entry 0 of every "
                       "table is the clean sample (alpha_bar_0 = 1), so alpha_bar_k is schedule.alpha_bars[k].",
                       lambda s, k: s.alpha_bars[k + 1].sqrt(), lambda s, k: (1 - s.alpha_bars[k + 1]).sqrt()),
    _add_noise_mistake("sign error: the noise is added, + sqrt(1 - alpha_bar_k) eps, not subtracted.",
                       lambda s, k: s.alpha_bars[k].sqrt(), lambda s, k: -(1 - s.alpha_bars[k]).sqrt()),
    _add_noise_mistake("no noise was added: x^k = sqrt(alpha_bar_k) x0 + sqrt(1 - alpha_bar_k) eps.",
                       lambda s, k: s.alpha_bars[k].sqrt(), lambda s, k: 0 * s.alpha_bars[k]),
    _add_noise_mistake("x0 is not scaled: x^k = sqrt(alpha_bar_k) x0 + sqrt(1 - alpha_bar_k) eps (for data of "
                       "unit variance, the scaling keeps the variance of x^k at 1).",
                       lambda s, k: torch.ones_like(s.alpha_bars[k]), lambda s, k: (1 - s.alpha_bars[k]).sqrt()),
    _add_noise_mistake("you used one diffusion step, k[0], for the whole batch: each sample b has its own k[b]: index "
                       "the table with the whole tensor, schedule.alpha_bars[k], of shape (B,).",
                       lambda s, k: s.alpha_bars[k[:1]].expand(len(k)).sqrt(),
                       lambda s, k: (1 - s.alpha_bars[k[:1]].expand(len(k))).sqrt()),
]

ADD_NOISE_HINTS = [
    ("must match the size", "schedule.alpha_bars[k] has shape (B,); reshape it to (B, 1, 1) with .view(-1, 1, 1) "
                            "so that it scales each sample of x0 (B, H, act_dim) by its own coefficient."),
    OUT_OF_BOUNDS_HINT,
    ("cannot be converted to Scalar", "k holds one diffusion step per sample, shape (B,): index the tables "
                                      "with the tensor itself, schedule.alpha_bars[k], not with k.item() or int(k)."),
    ("converted to Python scalars", "k holds one diffusion step per sample, shape (B,): keep the coefficients "
                                    "as tensors, schedule.alpha_bars[k] of shape (B,), not float() or math.sqrt()."),
]


def _add_noise_cases(seed: int = 0) -> list[Case]:
    """Cases (schedule, x0, k, eps): interior k first (the clearest diagnosis), then the ends 0 (clean) and K."""
    g = torch.Generator().manual_seed(seed)
    plans = [(NoiseSchedule(50, "cosine"), [3, 10, 21, 30, 38, 45]),
             (NoiseSchedule(50, "cosine"), [0, 1, 2, 25, 49, 50]),
             (NoiseSchedule(100, "linear"), [0, 1, 5, 50, 99, 100]),
             (NoiseSchedule(7, "cosine"), [0, 1, 2, 3, 4, 5, 6, 7])]
    cases = []
    for schedule, ts in plans:
        k = torch.tensor(ts)
        x0 = torch.rand(len(ts), 8, 2, generator=g) * 2 - 1  # (B, H, act_dim), normalised actions in [-1, 1]
        eps = torch.randn(x0.shape, generator=g)
        cases.append(Case((schedule, x0, k, eps), f"{schedule}, k = {ts}, x0 of shape {tuple(x0.shape)}"))
    return cases


ADD_NOISE = Exercise("add_noise(schedule, x0, k, eps)", ADD_NOISE_EQUATION, ("schedule", "x0", "k", "eps"),
                     lambda schedule, x0, k, eps: schedule.add_noise(x0, k, eps),
                     ADD_NOISE_MISTAKES, rtol=1e-4, atol=1e-4, hints=ADD_NOISE_HINTS)


@reports_not_attempted("add_noise")
def check_add_noise(fn: Callable[[NoiseSchedule, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> Passed:
    """Check the learner's forward process fn(schedule, x0, k, eps) -> x^k against NoiseSchedule.add_noise.

    fn gets x0 and eps of shape (B, H, act_dim) and k, a (B,) long tensor (one diffusion step in 0..K per
    sample), and returns x^k = sqrt(alpha_bar_k) x0 + sqrt(1 - alpha_bar_k) eps, (B, H, act_dim). Raises
    AssertionError naming the mistake.
    """
    return _check(ADD_NOISE, fn, _add_noise_cases(), "cosine and linear schedules, K = 7, 50, 100, k from 0 to K")
