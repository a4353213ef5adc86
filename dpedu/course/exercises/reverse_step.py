"""Exercise 3 (notebook 02): one DDPM reverse step x_t -> x_{t-1}, its reference solution and its checker."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from dpedu.course.exercises.checking import (
    OUT_OF_BOUNDS_HINT,
    Case,
    Exercise,
    Mistake,
    Passed,
    _check,
    _close,
    reports_not_attempted,
)
from dpedu.diffusion.sampler import DDPMSampler
from dpedu.diffusion.schedule import NoiseSchedule


def reference_reverse_step(schedule: NoiseSchedule, x_t: torch.Tensor, eps: torch.Tensor, t: int,
                           z: torch.Tensor) -> torch.Tensor:
    """One DDPM step x_t -> x_{t-1}, a draw from q(x_{t-1} | x_t, x0_pred) (Ho et al. eq. 6, 7, 15).

        x0_pred     = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)
        mu_tilde    = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x0_pred
                      + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t
        beta_tilde  = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t
        x_{t-1}     = mu_tilde + sqrt(beta_tilde) z

    x_t, eps (the network's noise prediction) and z ~ N(0, I): (B, H, act_dim); t: a Python int, the same for the
    whole batch. No clipping of x0_pred. At t = 0, alpha_bar_{-1} = 1 makes mu_tilde = x0_pred and beta_tilde = 0.
    """
    beta_t, alpha_t, alpha_bar_t = schedule.betas[t], schedule.alphas[t], schedule.alpha_bars[t]
    # alpha_bar_{-1} = 1, not alpha_bars[-1]: Python would read that as the *last* entry, alpha_bar_{T-1}.
    alpha_bar_prev = schedule.alpha_bars[t - 1] if t > 0 else torch.tensor(1.0)
    x0_pred = (x_t - (1 - alpha_bar_t).sqrt() * eps) / alpha_bar_t.sqrt()
    mu_tilde = (alpha_bar_prev.sqrt() * beta_t / (1 - alpha_bar_t) * x0_pred
                + alpha_t.sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar_t) * x_t)
    if t == 0:
        return mu_tilde  # the last step returns the mean, x0_pred: no noise is added
    beta_tilde_t = (1 - alpha_bar_prev) / (1 - alpha_bar_t) * beta_t
    return mu_tilde + beta_tilde_t.sqrt() * z




REVERSE_EQUATION = """x_{t-1} = mu_tilde + sqrt(beta_tilde_t) z, where
      x0_pred      = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)        (not clipped)
      mu_tilde     = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x0_pred
                     + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t
      beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t
      and alpha_bar_{-1} = 1, so the step at t = 0 returns x0_pred."""


class _Posterior(NamedTuple):
    """The symbols of one DDPM step at t, from the schedule's float32 tables as a learner computes them."""

    beta_t: torch.Tensor
    alpha_t: torch.Tensor
    alpha_bar_t: torch.Tensor
    alpha_bar_prev: torch.Tensor  # alpha_bar_{t-1}
    eps: torch.Tensor  # the network's noise prediction
    x0_pred: torch.Tensor
    mu_tilde: torch.Tensor
    beta_tilde: torch.Tensor


def _posterior(schedule: NoiseSchedule, x_t: torch.Tensor, eps: torch.Tensor, t: int,
               alpha_bar_prev: torch.Tensor | None = None, x0_pred: torch.Tensor | None = None) -> _Posterior:
    """The step's symbols; alpha_bar_prev and x0_pred replace the right ones when a mistake needs a wrong one."""
    beta_t, alpha_t, alpha_bar_t = schedule.betas[t], schedule.alphas[t], schedule.alpha_bars[t]
    if alpha_bar_prev is None:
        alpha_bar_prev = schedule.alpha_bars[t - 1] if t > 0 else torch.tensor(1.0)
    if x0_pred is None:
        x0_pred = (x_t - (1 - alpha_bar_t).sqrt() * eps) / alpha_bar_t.sqrt()
    mu_tilde = (alpha_bar_prev.sqrt() * beta_t / (1 - alpha_bar_t) * x0_pred
                + alpha_t.sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar_t) * x_t)
    beta_tilde = (1 - alpha_bar_prev) / (1 - alpha_bar_t) * beta_t  # 0 at t = 0, where alpha_bar_{-1} = 1
    return _Posterior(beta_t, alpha_t, alpha_bar_t, alpha_bar_prev, eps, x0_pred, mu_tilde, beta_tilde)


def _reverse_mistake(says: str, step: Callable[[_Posterior, torch.Tensor, torch.Tensor], torch.Tensor],
                     **wrong: Callable) -> Mistake:
    """step(p, x_t, z) -> the wrong x_{t-1}; `wrong` replaces a symbol of p: name=f(schedule, x_t, eps, t)."""
    def formula(schedule, x_t, eps, t, z):
        p = _posterior(schedule, x_t, eps, t, **{k: f(schedule, x_t, eps, t) for k, f in wrong.items()})
        return step(p, x_t, z)
    return Mistake(says, formula)


def _mean(x0_coef: torch.Tensor, x_t_coef: torch.Tensor, p: _Posterior, x_t: torch.Tensor) -> torch.Tensor:
    return x0_coef * p.x0_pred + x_t_coef * x_t


def _right_step(p: _Posterior, x_t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return p.mu_tilde + p.beta_tilde.sqrt() * z


REVERSE_MISTAKES = [
    _reverse_mistake("at t = 0 you read alpha_bar_{t-1} as schedule.alpha_bars[t - 1] = alpha_bars[-1], which Python "
                     "reads as the LAST entry, alpha_bar_{T-1}. alpha_bar_{-1} is 1 by convention, "
                     "`alpha_bar_prev = schedule.alpha_bars[t - 1] if t > 0 else torch.tensor(1.0)`, and the step "
                     "at t = 0 then returns x0_pred with no noise.",
                     _right_step, alpha_bar_prev=lambda s, x_t, eps, t: s.alpha_bars[t - 1]),
    _reverse_mistake("at t = 0 you used alpha_bar_0 as alpha_bar_{t-1}: alpha_bar_{-1} is 1 by convention (nothing is "
                     "noised before the first step), so the step at t = 0 returns x0_pred with no noise.",
                     _right_step, alpha_bar_prev=lambda s, x_t, eps, t: s.alpha_bars[max(t - 1, 0)]),
    _reverse_mistake("the noise has variance beta_t; this course's DDPM (and DDPMSampler) uses the posterior's "
                     "variance beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t (Ho et al. found both "
                     "sample about as well, but only beta_tilde_t is 0 at t = 0).",
                     lambda p, x_t, z: p.mu_tilde + p.beta_t.sqrt() * z),
    _reverse_mistake("the noise is scaled by the variance beta_tilde_t: scale z by the standard deviation, "
                     "sqrt(beta_tilde_t).",
                     lambda p, x_t, z: p.mu_tilde + p.beta_tilde * z),
    _reverse_mistake("the noise is subtracted: x_{t-1} = mu_tilde + sigma z. (-sigma z has the same distribution, but "
                     "the check compares your step with the reference on the same z, so use +.)",
                     lambda p, x_t, z: p.mu_tilde - p.beta_tilde.sqrt() * z),
    _reverse_mistake("no noise was added: for t > 0, x_{t-1} = mu_tilde + sqrt(beta_tilde_t) z.",
                     lambda p, x_t, z: p.mu_tilde),
    _reverse_mistake("sign error in x0_pred: x0_pred = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t), "
                     "the noise is removed from x_t, not added.",
                     _right_step, x0_pred=lambda s, x_t, eps, t: (x_t + (1 - s.alpha_bars[t]).sqrt() * eps)
                     / s.alpha_bars[t].sqrt()),
    _reverse_mistake("x0_pred is not divided by sqrt(alpha_bar_t): x0_pred = (x_t - sqrt(1 - alpha_bar_t) eps) / "
                     "sqrt(alpha_bar_t).",
                     _right_step, x0_pred=lambda s, x_t, eps, t: x_t - (1 - s.alpha_bars[t]).sqrt() * eps),
    _reverse_mistake("x0_pred is divided by alpha_bar_t: divide by its square root, sqrt(alpha_bar_t).",
                     _right_step, x0_pred=lambda s, x_t, eps, t: (x_t - (1 - s.alpha_bars[t]).sqrt() * eps)
                     / s.alpha_bars[t]),
    _reverse_mistake("x0_pred is clipped to [-1, 1]: clipping is off in this exercise (DDPMSampler(..., "
                     "clip_sample=False)), so use x0_pred as it is.",
                     _right_step, x0_pred=lambda s, x_t, eps, t: ((x_t - (1 - s.alpha_bars[t]).sqrt() * eps)
                                                                  / s.alpha_bars[t].sqrt()).clamp(-1, 1)),
    _reverse_mistake("wrong x0_pred coefficient: it is sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t), with "
                     "alpha_bar of the step you go *to*, t - 1, not sqrt(alpha_bar_t).",
                     lambda p, x_t, z: _mean(p.alpha_bar_t.sqrt() * p.beta_t / (1 - p.alpha_bar_t),
                                             p.alpha_t.sqrt() * (1 - p.alpha_bar_prev) / (1 - p.alpha_bar_t), p, x_t)
                     + p.beta_tilde.sqrt() * z),
    _reverse_mistake("wrong x0_pred coefficient: in sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) the square "
                     "root on alpha_bar_{t-1} is missing.",
                     lambda p, x_t, z: _mean(p.alpha_bar_prev * p.beta_t / (1 - p.alpha_bar_t),
                                             p.alpha_t.sqrt() * (1 - p.alpha_bar_prev) / (1 - p.alpha_bar_t), p, x_t)
                     + p.beta_tilde.sqrt() * z),
    _reverse_mistake("wrong x_t coefficient: in sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) the square "
                     "root on alpha_t is missing.",
                     lambda p, x_t, z: _mean(p.alpha_bar_prev.sqrt() * p.beta_t / (1 - p.alpha_bar_t),
                                             p.alpha_t * (1 - p.alpha_bar_prev) / (1 - p.alpha_bar_t), p, x_t)
                     + p.beta_tilde.sqrt() * z),
    _reverse_mistake("wrong x_t coefficient: it has sqrt(alpha_t), the one-step alpha_t = 1 - beta_t "
                     "(schedule.alphas), not sqrt(alpha_bar_t).",
                     lambda p, x_t, z: _mean(p.alpha_bar_prev.sqrt() * p.beta_t / (1 - p.alpha_bar_t),
                                             p.alpha_bar_t.sqrt() * (1 - p.alpha_bar_prev) / (1 - p.alpha_bar_t), p,
                                             x_t) + p.beta_tilde.sqrt() * z),
    _reverse_mistake("the two coefficients of mu_tilde are swapped: sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) "
                     "multiplies x0_pred and sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) multiplies x_t.",
                     lambda p, x_t, z: p.alpha_t.sqrt() * (1 - p.alpha_bar_prev) / (1 - p.alpha_bar_t) * p.x0_pred
                     + p.alpha_bar_prev.sqrt() * p.beta_t / (1 - p.alpha_bar_t) * x_t + p.beta_tilde.sqrt() * z),
    _reverse_mistake("in the eps form mu = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t) (Ho et al. "
                     "eq. 11), the square root on 1 - alpha_bar_t is missing.",
                     lambda p, x_t, z: (x_t - p.beta_t / (1 - p.alpha_bar_t) * p.eps) / p.alpha_t.sqrt()
                     + p.beta_tilde.sqrt() * z),
    _reverse_mistake("in the eps form mu = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t) (Ho et al. "
                     "eq. 11), divide by sqrt(alpha_t), the one-step alpha_t = 1 - beta_t, not by sqrt(alpha_bar_t).",
                     lambda p, x_t, z: (x_t - p.beta_t / (1 - p.alpha_bar_t).sqrt() * p.eps)
                     / p.alpha_bar_t.sqrt() + p.beta_tilde.sqrt() * z),
    Mistake("off by one: every table is read at t - 1 (Ho et al. count t from 1; here t counts from 0, so "
            "alpha_bar_t is schedule.alpha_bars[t] and alpha_bar_{t-1} is schedule.alpha_bars[t - 1]).",
            lambda s, x_t, eps, t, z: _right_step(_posterior(s, x_t, eps, t - 1), x_t, z)),
    _reverse_mistake("you returned x0_pred, the predicted clean sample: the step returns x_{t-1}, one step less "
                     "noisy than x_t.",
                     lambda p, x_t, z: p.x0_pred),
    _reverse_mistake("you returned x_t unchanged.", lambda p, x_t, z: x_t),
]


def _ddpm_truth(schedule: NoiseSchedule, x_t: torch.Tensor, eps: torch.Tensor, t: int, z: torch.Tensor) -> torch.Tensor:
    return DDPMSampler(schedule, clip_sample=False).step(x_t, eps, t, t - 1, z)[0]


def _reverse_validate(got: torch.Tensor, case: Case) -> str | None:
    """At t = 0: does the step return x0_pred plus some multiple of z? (Any sigma, so it is fitted, not guessed.)"""
    schedule, x_t, eps, t, z = case.args
    if t != 0:
        return None
    x0_pred = _ddpm_truth(*case.args).double()
    z = z.double()
    sigma = float(((got.detach().double() - x0_pred) * z).sum() / (z * z).sum())  # least squares
    if (not _close(got, x0_pred, REVERSE.rtol, REVERSE.atol)
            and _close(got, x0_pred + sigma * z, REVERSE.rtol, REVERSE.atol)):
        return (f"at t = 0 your step adds noise ({sigma:.3g} z): the last step returns x0_pred with no noise, "
                f"since beta_tilde_0 = (1 - alpha_bar_{{-1}}) / (1 - alpha_bar_0) beta_0 = 0 (alpha_bar_{{-1}} = 1).")
    return None


def _reverse_cases(seed: int = 0) -> list[Case]:
    """Cases (schedule, x_t, eps, t, z): a middle t first (the clearest diagnosis), then T - 1, 1 and 0."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    # beta_start = 1e-3, not 1e-4: at t = 0 a float32 1 - alpha_bar_0 = 1e-4 keeps only 3 digits, so a right
    # answer computed in float32 from the tables would miss the float64 truth by more than the tolerance.
    linear = NoiseSchedule(100, "linear", beta_start=1e-3, beta_end=0.02)
    for schedule, ts in [(NoiseSchedule(50, "cosine"), [30, 49, 1, 0]), (linear, [60, 99, 1, 0]),
                         (NoiseSchedule(10, "cosine"), [9, 5, 0])]:
        for t in ts:
            x_t, eps, z = (torch.randn(4, 8, 2, generator=g) for _ in range(3))  # (B, H, act_dim) each
            cases.append(Case((schedule, x_t, eps, t, z), f"{schedule}, t = {t}, x_t of shape {tuple(x_t.shape)}"))
    return cases


REVERSE = Exercise("reverse_step(schedule, x_t, eps, t, z)", REVERSE_EQUATION, ("schedule", "x_t", "eps", "t", "z"),
                   _ddpm_truth, REVERSE_MISTAKES, rtol=5e-4, atol=5e-4, hints=[OUT_OF_BOUNDS_HINT],
                   validate=_reverse_validate)


@reports_not_attempted("reverse_step")
def check_reverse_step(fn: Callable[..., torch.Tensor]) -> Passed:
    """Check the learner's DDPM step fn(schedule, x_t, eps, t, z) -> x_{t-1} against DDPMSampler(clip_sample=False).

    x_t, eps (the noise prediction) and z ~ N(0, I): (B, H, act_dim); t: a Python int in 0..T-1, one for the batch.
    fn returns x_{t-1} = mu_tilde + sqrt(beta_tilde_t) z, and x0_pred (no noise) at t = 0.
    """
    return _check(REVERSE, fn, _reverse_cases(), "cosine and linear schedules, T = 10, 50, 100, t = T-1 down to 0")
