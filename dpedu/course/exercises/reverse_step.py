"""Exercise 3 (notebook 02): one DDPM reverse step x^k -> x^{k-1}, its reference solution and its checker."""

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


def reference_reverse_step(schedule: NoiseSchedule, x_k: torch.Tensor, eps: torch.Tensor, k: int,
                           z: torch.Tensor) -> torch.Tensor:
    """One DDPM step x^k -> x^{k-1}, a draw from q(x^{k-1} | x^k, x0_pred) (Ho et al. eq. 6, 7, 15).

        x0_pred     = (x^k - sqrt(1 - alpha_bar_k) eps) / sqrt(alpha_bar_k)
        mu_tilde    = sqrt(alpha_bar_{k-1}) beta_k / (1 - alpha_bar_k) x0_pred
                      + sqrt(alpha_k) (1 - alpha_bar_{k-1}) / (1 - alpha_bar_k) x^k
        beta_tilde  = (1 - alpha_bar_{k-1}) / (1 - alpha_bar_k) beta_k
        x^{k-1}     = mu_tilde + sqrt(beta_tilde) z

    x_k = x^k, eps (the network's noise prediction) and z ~ N(0, I): (B, H, act_dim); k: a Python int in 1..K, the
    same for the whole batch. No clipping of x0_pred. At k = 1, alpha_bar_0 = 1 makes mu_tilde = x0_pred and
    beta_tilde = 0: the last step returns the clean sample.
    """
    beta_k, alpha_k, alpha_bar_k = schedule.betas[k], schedule.alphas[k], schedule.alpha_bars[k]
    alpha_bar_prev = schedule.alpha_bars[k - 1]  # alpha_bar_{k-1}; alpha_bar_0 = 1 at the last step
    x0_pred = (x_k - (1 - alpha_bar_k).sqrt() * eps) / alpha_bar_k.sqrt()
    mu_tilde = (alpha_bar_prev.sqrt() * beta_k / (1 - alpha_bar_k) * x0_pred
                + alpha_k.sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar_k) * x_k)
    if k == 1:
        return mu_tilde  # the last step returns the mean, x0_pred: no noise is added
    beta_tilde_k = (1 - alpha_bar_prev) / (1 - alpha_bar_k) * beta_k
    return mu_tilde + beta_tilde_k.sqrt() * z




REVERSE_EQUATION = """x^{k-1} = mu_tilde + sqrt(beta_tilde_k) z, where
      x0_pred      = (x^k - sqrt(1 - alpha_bar_k) eps) / sqrt(alpha_bar_k)        (not clipped)
      mu_tilde     = sqrt(alpha_bar_{k-1}) beta_k / (1 - alpha_bar_k) x0_pred
                     + sqrt(alpha_k) (1 - alpha_bar_{k-1}) / (1 - alpha_bar_k) x^k
      beta_tilde_k = (1 - alpha_bar_{k-1}) / (1 - alpha_bar_k) beta_k
      with alpha_bar_k = schedule.alpha_bars[k] and alpha_bar_0 = 1, so the step at k = 1 returns x0_pred."""


class _Posterior(NamedTuple):
    """The symbols of one DDPM step at k, from the schedule's float32 tables as a learner computes them."""

    beta_k: torch.Tensor
    alpha_k: torch.Tensor
    alpha_bar_k: torch.Tensor
    alpha_bar_prev: torch.Tensor  # alpha_bar_{k-1}
    eps: torch.Tensor  # the network's noise prediction
    x0_pred: torch.Tensor
    mu_tilde: torch.Tensor
    beta_tilde: torch.Tensor


def _posterior(schedule: NoiseSchedule, x_k: torch.Tensor, eps: torch.Tensor, k: int,
               alpha_bar_prev: torch.Tensor | None = None, x0_pred: torch.Tensor | None = None) -> _Posterior:
    """The step's symbols; alpha_bar_prev and x0_pred replace the right ones when a mistake needs a wrong one."""
    beta_k, alpha_k, alpha_bar_k = schedule.betas[k], schedule.alphas[k], schedule.alpha_bars[k]
    if alpha_bar_prev is None:
        alpha_bar_prev = schedule.alpha_bars[k - 1]
    if x0_pred is None:
        x0_pred = (x_k - (1 - alpha_bar_k).sqrt() * eps) / alpha_bar_k.sqrt()
    mu_tilde = (alpha_bar_prev.sqrt() * beta_k / (1 - alpha_bar_k) * x0_pred
                + alpha_k.sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar_k) * x_k)
    beta_tilde = (1 - alpha_bar_prev) / (1 - alpha_bar_k) * beta_k  # 0 at k = 1, where alpha_bar_0 = 1
    return _Posterior(beta_k, alpha_k, alpha_bar_k, alpha_bar_prev, eps, x0_pred, mu_tilde, beta_tilde)


def _reverse_mistake(says: str, step: Callable[[_Posterior, torch.Tensor, torch.Tensor], torch.Tensor],
                     **wrong: Callable) -> Mistake:
    """step(p, x_k, z) -> the wrong x^{k-1}; `wrong` replaces a symbol of p: name=f(schedule, x_k, eps, k)."""
    def formula(schedule, x_k, eps, k, z):
        p = _posterior(schedule, x_k, eps, k, **{name: f(schedule, x_k, eps, k) for name, f in wrong.items()})
        return step(p, x_k, z)
    return Mistake(says, formula)


def _mean(x0_coef: torch.Tensor, x_t_coef: torch.Tensor, p: _Posterior, x_k: torch.Tensor) -> torch.Tensor:
    return x0_coef * p.x0_pred + x_t_coef * x_k


def _right_step(p: _Posterior, x_k: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return p.mu_tilde + p.beta_tilde.sqrt() * z


REVERSE_MISTAKES = [
    _reverse_mistake("you used alpha_bar_k where alpha_bar_{k-1} belongs: the posterior's coefficients and variance "
                     "take alpha_bar of the step you go *to*, alpha_bar_{k-1} = schedule.alpha_bars[k - 1].",
                     _right_step, alpha_bar_prev=lambda s, x_k, eps, k: s.alpha_bars[k]),
    _reverse_mistake("you used alpha_bar_{k-2} where alpha_bar_{k-1} belongs (schedule.alpha_bars[k - 2]): entry 0 "
                     "of every table is the clean sample, so alpha_bar_{k-1} is schedule.alpha_bars[k - 1].",
                     _right_step, alpha_bar_prev=lambda s, x_k, eps, k: s.alpha_bars[k - 2]),
    _reverse_mistake("the noise has variance beta_k; this course's DDPM (and DDPMSampler) uses the posterior's "
                     "variance beta_tilde_k = (1 - alpha_bar_{k-1}) / (1 - alpha_bar_k) beta_k (Ho et al. found both "
                     "sample about as well, but only beta_tilde_k is 0 at the last step, k = 1).",
                     lambda p, x_k, z: p.mu_tilde + p.beta_k.sqrt() * z),
    _reverse_mistake("the noise is scaled by the variance beta_tilde_k: scale z by the standard deviation, "
                     "sqrt(beta_tilde_k).",
                     lambda p, x_k, z: p.mu_tilde + p.beta_tilde * z),
    _reverse_mistake("the noise is subtracted: x^{k-1} = mu_tilde + sigma z. (-sigma z has the same distribution, but "
                     "the check compares your step with the reference on the same z, so use +.)",
                     lambda p, x_k, z: p.mu_tilde - p.beta_tilde.sqrt() * z),
    _reverse_mistake("no noise was added: for k > 1, x^{k-1} = mu_tilde + sqrt(beta_tilde_k) z.",
                     lambda p, x_k, z: p.mu_tilde),
    _reverse_mistake("sign error in x0_pred: x0_pred = (x_k - sqrt(1 - alpha_bar_k) eps) / sqrt(alpha_bar_k), "
                     "the noise is removed from x_k, not added.",
                     _right_step, x0_pred=lambda s, x_k, eps, k: (x_k + (1 - s.alpha_bars[k]).sqrt() * eps)
                     / s.alpha_bars[k].sqrt()),
    _reverse_mistake("x0_pred is not divided by sqrt(alpha_bar_k): x0_pred = (x_k - sqrt(1 - alpha_bar_k) eps) / "
                     "sqrt(alpha_bar_k).",
                     _right_step, x0_pred=lambda s, x_k, eps, k: x_k - (1 - s.alpha_bars[k]).sqrt() * eps),
    _reverse_mistake("x0_pred is divided by alpha_bar_k: divide by its square root, sqrt(alpha_bar_k).",
                     _right_step, x0_pred=lambda s, x_k, eps, k: (x_k - (1 - s.alpha_bars[k]).sqrt() * eps)
                     / s.alpha_bars[k]),
    _reverse_mistake("x0_pred is clipped to [-1, 1]: clipping is off in this exercise (DDPMSampler(..., "
                     "clip_sample=False)), so use x0_pred as it is.",
                     _right_step, x0_pred=lambda s, x_k, eps, k: ((x_k - (1 - s.alpha_bars[k]).sqrt() * eps)
                                                                  / s.alpha_bars[k].sqrt()).clamp(-1, 1)),
    _reverse_mistake("wrong x0_pred coefficient: it is sqrt(alpha_bar_{k-1}) beta_k / (1 - alpha_bar_k), with "
                     "alpha_bar of the step you go *to*, k - 1, not sqrt(alpha_bar_k).",
                     lambda p, x_k, z: _mean(p.alpha_bar_k.sqrt() * p.beta_k / (1 - p.alpha_bar_k),
                                             p.alpha_k.sqrt() * (1 - p.alpha_bar_prev) / (1 - p.alpha_bar_k), p, x_k)
                     + p.beta_tilde.sqrt() * z),
    _reverse_mistake("wrong x0_pred coefficient: in sqrt(alpha_bar_{k-1}) beta_k / (1 - alpha_bar_k) the square "
                     "root on alpha_bar_{k-1} is missing.",
                     lambda p, x_k, z: _mean(p.alpha_bar_prev * p.beta_k / (1 - p.alpha_bar_k),
                                             p.alpha_k.sqrt() * (1 - p.alpha_bar_prev) / (1 - p.alpha_bar_k), p, x_k)
                     + p.beta_tilde.sqrt() * z),
    _reverse_mistake("wrong x_k coefficient: in sqrt(alpha_k) (1 - alpha_bar_{k-1}) / (1 - alpha_bar_k) the square "
                     "root on alpha_k is missing.",
                     lambda p, x_k, z: _mean(p.alpha_bar_prev.sqrt() * p.beta_k / (1 - p.alpha_bar_k),
                                             p.alpha_k * (1 - p.alpha_bar_prev) / (1 - p.alpha_bar_k), p, x_k)
                     + p.beta_tilde.sqrt() * z),
    _reverse_mistake("wrong x_k coefficient: it has sqrt(alpha_k), the one-step alpha_k = 1 - beta_k "
                     "(schedule.alphas), not sqrt(alpha_bar_k).",
                     lambda p, x_k, z: _mean(p.alpha_bar_prev.sqrt() * p.beta_k / (1 - p.alpha_bar_k),
                                             p.alpha_bar_k.sqrt() * (1 - p.alpha_bar_prev) / (1 - p.alpha_bar_k), p,
                                             x_k) + p.beta_tilde.sqrt() * z),
    _reverse_mistake("the two coefficients of mu_tilde are swapped: sqrt(alpha_bar_{k-1}) beta_k / (1 - alpha_bar_k) "
                     "multiplies x0_pred and sqrt(alpha_k) (1 - alpha_bar_{k-1}) / (1 - alpha_bar_k) multiplies x_k.",
                     lambda p, x_k, z: p.alpha_k.sqrt() * (1 - p.alpha_bar_prev) / (1 - p.alpha_bar_k) * p.x0_pred
                     + p.alpha_bar_prev.sqrt() * p.beta_k / (1 - p.alpha_bar_k) * x_k + p.beta_tilde.sqrt() * z),
    _reverse_mistake("in the eps form mu = (x_k - beta_k / sqrt(1 - alpha_bar_k) eps) / sqrt(alpha_k) (Ho et al. "
                     "eq. 11), the square root on 1 - alpha_bar_k is missing.",
                     lambda p, x_k, z: (x_k - p.beta_k / (1 - p.alpha_bar_k) * p.eps) / p.alpha_k.sqrt()
                     + p.beta_tilde.sqrt() * z),
    _reverse_mistake("in the eps form mu = (x_k - beta_k / sqrt(1 - alpha_bar_k) eps) / sqrt(alpha_k) (Ho et al. "
                     "eq. 11), divide by sqrt(alpha_k), the one-step alpha_k = 1 - beta_k, not by sqrt(alpha_bar_k).",
                     lambda p, x_k, z: (x_k - p.beta_k / (1 - p.alpha_bar_k).sqrt() * p.eps)
                     / p.alpha_bar_k.sqrt() + p.beta_tilde.sqrt() * z),
    Mistake("off by one: every table is read at k - 1, as in diffusers (whose alphas_cumprod starts at step 1). "
            "Here entry 0 is the clean sample, so alpha_bar_k is schedule.alpha_bars[k] and alpha_bar_{k-1} is "
            "schedule.alpha_bars[k - 1].",
            lambda s, x_k, eps, k, z: _right_step(_posterior(s, x_k, eps, k - 1), x_k, z)),
    _reverse_mistake("you returned x0_pred, the predicted clean sample: the step returns x^{k-1}, one step less "
                     "noisy than x^k.",
                     lambda p, x_k, z: p.x0_pred),
    _reverse_mistake("you returned x^k unchanged.", lambda p, x_k, z: x_k),
]


def _ddpm_truth(schedule: NoiseSchedule, x_k: torch.Tensor, eps: torch.Tensor, k: int, z: torch.Tensor) -> torch.Tensor:
    return DDPMSampler(schedule, clip_sample=False).step(x_k, eps, k, k - 1, z)[0]


def _reverse_validate(got: torch.Tensor, case: Case) -> str | None:
    """At k = 1: does the step return x0_pred plus some multiple of z? (Any sigma, so it is fitted, not guessed.)"""
    schedule, x_k, eps, k, z = case.args
    if k != 1:
        return None
    x0_pred = _ddpm_truth(*case.args).double()
    z = z.double()
    sigma = float(((got.detach().double() - x0_pred) * z).sum() / (z * z).sum())  # least squares
    if (not _close(got, x0_pred, REVERSE.rtol, REVERSE.atol)
            and _close(got, x0_pred + sigma * z, REVERSE.rtol, REVERSE.atol)):
        return (f"at k = 1 your step adds noise ({sigma:.3g} z): the last step returns x0_pred with no noise, "
                f"since beta_tilde_1 = (1 - alpha_bar_0) / (1 - alpha_bar_1) beta_1 = 0 (alpha_bar_0 = 1).")
    return None


def _reverse_cases(seed: int = 0) -> list[Case]:
    """Cases (schedule, x_k, eps, k, z): a middle k first (the clearest diagnosis), then K, 2 and 1."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    # beta_start = 1e-3, not 1e-4: at k = 1 a float32 1 - alpha_bar_1 = 1e-4 keeps only 3 digits, so a right
    # answer computed in float32 from the tables would miss the float64 truth by more than the tolerance.
    linear = NoiseSchedule(100, "linear", beta_start=1e-3, beta_end=0.02)
    for schedule, ks in [(NoiseSchedule(50, "cosine"), [31, 50, 2, 1]), (linear, [61, 100, 2, 1]),
                         (NoiseSchedule(10, "cosine"), [10, 6, 1])]:
        for k in ks:
            x_k, eps, z = (torch.randn(4, 8, 2, generator=g) for _ in range(3))  # (B, H, act_dim) each
            cases.append(Case((schedule, x_k, eps, k, z), f"{schedule}, k = {k}, x^k of shape {tuple(x_k.shape)}"))
    return cases


REVERSE = Exercise("reverse_step(schedule, x_k, eps, k, z)", REVERSE_EQUATION, ("schedule", "x_k", "eps", "k", "z"),
                   _ddpm_truth, REVERSE_MISTAKES, rtol=5e-4, atol=5e-4, hints=[OUT_OF_BOUNDS_HINT],
                   validate=_reverse_validate)


@reports_not_attempted("reverse_step")
def check_reverse_step(fn: Callable[..., torch.Tensor]) -> Passed:
    """Check the learner's DDPM step fn(schedule, x_k, eps, k, z) -> x^{k-1} against DDPMSampler(clip_sample=False).

    x_k = x^k, eps (the noise prediction) and z ~ N(0, I): (B, H, act_dim); k: a Python int in 1..K, one for the
    batch. fn returns x^{k-1} = mu_tilde + sqrt(beta_tilde_k) z, and x0_pred (no noise) at k = 1.
    """
    return _check(REVERSE, fn, _reverse_cases(), "cosine and linear schedules, K = 10, 50, 100, k = K down to 1")
