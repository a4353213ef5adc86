r"""Exercises: the learner writes four pieces of DDPM, a checker compares each with the package and names the mistake.

    the learner writes (exact signature)                        checker                   reference solution
    add_noise(schedule, x0, t, eps) -> x_t                       check_add_noise(fn)       reference_add_noise
    diffusion_loss(model, schedule, obs, a0, t, eps) -> loss     check_diffusion_loss(fn)  reference_diffusion_loss
    reverse_step(schedule, x_t, eps, t, z) -> x_{t-1}            check_reverse_step(fn)    reference_reverse_step
    ddim_step(schedule, x_t, eps, t, s) -> x_s  (optional)       check_ddim_step(fn)       reference_ddim_step

A checker calls the learner's function on a few fixed random cases (cosine and linear schedules, several T, small
and large t) and compares it with the package's own code: NoiseSchedule.add_noise, trainer.diffusion_loss,
DDPMSampler / DDIMSampler with clip_sample=False. When an answer is off it evaluates the usual wrong formulas on
the same inputs and names the one the answer matches; when none does it reports the largest error and where.
Either way it raises AssertionError with a message for the learner; a right answer returns a one-line message.

Timesteps count t = 0..T-1 as everywhere in dpedu (Ho et al. count 1..T): schedule.alpha_bars[t] is alpha_bar_t,
and alpha_bar_{-1} = 1 (before the first step nothing is noised).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from dpedu.diffusion.sampler import DDIMSampler, DDPMSampler
from dpedu.diffusion.schedule import NoiseSchedule
from dpedu.networks.mlp import MLPDenoiser
from dpedu.trainer import diffusion_loss

# ----------------------------------------------------------------------------------------------------------------
# Reference solutions, in the symbols of the papers (what a notebook shows after the exercise).
# ----------------------------------------------------------------------------------------------------------------


def reference_add_noise(schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """q(x_t | x0):  x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps   (Ho et al. 2020, eq. 4; x0 is x_{-1}).

    x0, eps: (B, H, act_dim); t: (B,) long, one timestep per sample. Returns x_t, (B, H, act_dim).
    """
    alpha_bar_t = schedule.alpha_bars[t].view(-1, 1, 1)  # (B,) -> (B, 1, 1): each sample scaled by its own t
    return alpha_bar_t.sqrt() * x0 + (1 - alpha_bar_t).sqrt() * eps


def reference_diffusion_loss(model, schedule: NoiseSchedule, obs: torch.Tensor, a0: torch.Tensor, t: torch.Tensor,
                             eps: torch.Tensor) -> torch.Tensor:
    """L = || eps - eps_theta(sqrt(alpha_bar_t) a_0 + sqrt(1 - alpha_bar_t) eps, t, obs) ||^2   (Ho et al. eq. 14).

    obs (B, To, obs_dim), a0 and eps (B, H, act_dim), t (B,). The mean over every element, as F.mse_loss takes it.
    """
    a_t = reference_add_noise(schedule, a0, t, eps)  # the noised action chunk
    eps_pred = model(a_t, t, obs)  # the network's guess of the noise that was added
    return ((eps - eps_pred) ** 2).mean()


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


# ----------------------------------------------------------------------------------------------------------------
# The checking machinery, shared by the four checkers.
# ----------------------------------------------------------------------------------------------------------------


class Passed(str):
    """A checker's success message; shown without quotes when it is the last value of a notebook cell."""

    def __repr__(self) -> str:
        return str(self)


class Case(NamedTuple):
    """One call of the learner's function: fn(*args), described in words by `where`."""

    args: tuple
    where: str


class Mistake(NamedTuple):
    """A common wrong answer: `formula` computes it from a case's args, `says` names it and says what to do."""

    says: str
    formula: Callable[..., Any]


class Exercise(NamedTuple):
    """What a checker needs: the exact signature, the truth, the known mistakes, and how close is right."""

    signature: str  # e.g. "add_noise(schedule, x0, t, eps)", quoted in the messages
    equation: str  # what is expected, in symbols, closing every "wrong" message
    arg_names: tuple[str, ...]
    truth: Callable[..., torch.Tensor]  # the package's own code on a case's args
    mistakes: Sequence[Mistake]
    rtol: float
    atol: float
    hints: Sequence[tuple[str, str]] = ()  # (text in an exception's message, advice) for errors the learner raises
    validate: Callable[[torch.Tensor, Case], str | None] | None = None  # a check beyond the values, or None


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float, atol: float) -> bool:
    # float64, so a learner's float32 rounding is measured against the tolerance, not against ours
    return a.shape == b.shape and torch.allclose(a.detach().double(), b.detach().double(), rtol=rtol, atol=atol)


def _run(ex: Exercise, fn: Callable, case: Case) -> Any:
    """fn(*args) on copies of the input tensors; AssertionError if it raises or writes into its inputs."""
    copies = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in case.args)
    try:
        out = fn(*copies)
    except Exception as e:  # any error the learner's code raises becomes a message about it
        hints = [advice for text, advice in ex.hints if text in str(e)]
        raise AssertionError(f"{ex.signature} raised {type(e).__name__} on {case.where}:\n    {e}"
                             + "".join(f"\n  Hint: {h}" for h in hints)) from e
    for name, a, copy in zip(ex.arg_names, case.args, copies):
        if isinstance(a, torch.Tensor) and not torch.equal(a, copy):
            raise AssertionError(f"{ex.signature} changed its input `{name}` in place (an in-place op such as "
                                 f"{name}.mul_(...) or {name} *= ...): compute a new tensor and leave {name} as it is.")
    return out


def _check_tensor(ex: Exercise, got: Any, expected: torch.Tensor, case: Case) -> None:
    """A float tensor of the expected shape, with no NaN or inf."""
    what = "a scalar tensor (shape ())" if expected.dim() == 0 else f"a tensor of shape {tuple(expected.shape)}"
    if got is None:
        raise AssertionError(f"{ex.signature} returned None: did you forget `return`? Expected {what}.")
    if isinstance(got, tuple):
        raise AssertionError(f"{ex.signature} returned a tuple of {len(got)}: return only {what}.")
    if isinstance(got, (float, int)):
        raise AssertionError(f"{ex.signature} returned a Python {type(got).__name__}: return {what} (no .item(), "
                             f"so the value keeps its gradient and its shape).")
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{ex.signature} returned a {type(got).__name__}, not a torch.Tensor: expected {what}.")
    if not got.is_floating_point():
        raise AssertionError(f"{ex.signature} returned a tensor of dtype {got.dtype}: expected a float tensor.")
    if got.shape != expected.shape:
        raise AssertionError(f"{ex.signature} returned shape {tuple(got.shape)}, expected {tuple(expected.shape)} "
                             f"on {case.where}." + ("\n  Hint: reduce it to one number with .mean()."
                                                    if expected.dim() == 0 else ""))
    if not torch.isfinite(got).all():
        raise AssertionError(f"{ex.signature} returned NaN or inf on {case.where} (the square root of a negative "
                             f"number, or a division by zero?).")


def _diagnose(ex: Exercise, got: torch.Tensor, expected: torch.Tensor, case: Case) -> str:
    """The first known mistake that `got` matches, or the largest error and where."""
    for mistake in ex.mistakes:
        try:
            with torch.no_grad():
                wrong = mistake.formula(*case.args)
        except (IndexError, RuntimeError):  # a mistake that cannot even run on this case (t + 1 at t = T - 1)
            continue
        # Named only where it is far (3 tolerances) from the truth, so that float32 rounding is never a "mistake".
        if _close(got, wrong, ex.rtol, ex.atol) and not _close(wrong, expected, 3 * ex.rtol, 3 * ex.atol):
            return mistake.says
    if got.dim() == 0:
        return f"got {float(got):.6g}, expected {float(expected):.6g}; none of the common mistakes matches."
    err = (got.detach().double() - expected.double()).abs()
    index = tuple(int(i) for i in np.unravel_index(int(err.argmax()), err.shape))
    return (f"the largest error is {float(err[index]):.3g} at index {list(index)} (sample {index[0]}): got "
            f"{float(got[index]):.6g}, expected {float(expected[index]):.6g}; none of the common mistakes matches.")


def _check(ex: Exercise, fn: Callable, cases: Sequence[Case], what: str) -> Passed:
    """Run fn on every case, in order; the first case it gets wrong raises AssertionError with the diagnosis."""
    for i, case in enumerate(cases):
        got = _run(ex, fn, case)
        expected = ex.truth(*case.args)
        _check_tensor(ex, got, expected, case)
        if i == 0 and not _close(_run(ex, fn, case), got, ex.rtol, ex.atol):
            raise AssertionError(f"{ex.signature} gives different answers on the same inputs: it draws its own "
                                 f"random numbers. Use the t, eps (and z) it is given.")
        message = ex.validate(got, case) if ex.validate is not None else None
        if message is None and _close(got, expected, ex.rtol, ex.atol):
            continue
        message = message or _diagnose(ex, got, expected, case)
        raise AssertionError(f"{ex.signature} is wrong on {case.where}:\n  {message}\n  Expected: {ex.equation}")
    return Passed(f"Correct: {ex.signature} matches the reference on {len(cases)} cases ({what}).")


def _coef(table: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """table[t] as (B, 1, 1), the per-sample coefficient of a (B, H, act_dim) tensor."""
    return table[t].view(-1, 1, 1)


# ----------------------------------------------------------------------------------------------------------------
# Exercise 1: the forward process q(x_t | x0).
# ----------------------------------------------------------------------------------------------------------------

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

OUT_OF_BOUNDS_HINT = ("out of bounds", "t runs 0..T-1 and alpha_bar_t is schedule.alpha_bars[t]: t + 1 runs past "
                                        "the end.")
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


def check_add_noise(fn: Callable[[NoiseSchedule, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> Passed:
    """Check the learner's forward process fn(schedule, x0, t, eps) -> x_t against NoiseSchedule.add_noise.

    fn gets x0 and eps of shape (B, H, act_dim) and t, a (B,) long tensor (one timestep per sample), and returns
    x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps, (B, H, act_dim). Raises AssertionError naming the mistake.
    """
    return _check(ADD_NOISE, fn, _add_noise_cases(), "cosine and linear schedules, T = 7, 50, 100, t from 0 to T-1")


# ----------------------------------------------------------------------------------------------------------------
# Exercise 2: the DDPM training loss.
# ----------------------------------------------------------------------------------------------------------------

LOSS_EQUATION = ("loss = ((eps - model(a_t, t, obs)) ** 2).mean(), with a_t = sqrt(alpha_bar_t) a0 + "
                 "sqrt(1 - alpha_bar_t) eps")


def _noised(schedule: NoiseSchedule, a0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    return schedule.add_noise(a0, t, eps)


def _noised_without_sqrt(schedule: NoiseSchedule, a0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The commonest wrong forward process, alpha_bar_t a0 + (1 - alpha_bar_t) eps."""
    return _coef(schedule.alpha_bars, t) * a0 + (1 - _coef(schedule.alpha_bars, t)) * eps


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a - b) ** 2).mean()


LOSS_MISTAKES = [
    Mistake("the target is a0, the clean actions: the network eps_theta predicts the noise, so the target is eps, "
            "loss = mean((eps - model(a_t, t, obs))^2).",
            lambda m, s, obs, a0, t, eps: _mse(m(_noised(s, a0, t, eps), t, obs), a0)),
    Mistake("the model was fed the clean a0: noise it first, a_t = sqrt(alpha_bar_t) a0 + sqrt(1 - alpha_bar_t) eps, "
            "and give the model a_t.",
            lambda m, s, obs, a0, t, eps: _mse(m(a0, t, obs), eps)),
    Mistake("the model was fed the noise eps itself: give it the noised actions a_t = sqrt(alpha_bar_t) a0 + "
            "sqrt(1 - alpha_bar_t) eps.",
            lambda m, s, obs, a0, t, eps: _mse(m(eps, t, obs), eps)),
    Mistake("you summed the squared errors: take the mean over every element (.mean(), as F.mse_loss does), so the "
            "loss does not grow with the batch size and the learning rate keeps its meaning.",
            lambda m, s, obs, a0, t, eps: ((m(_noised(s, a0, t, eps), t, obs) - eps) ** 2).sum()),
    Mistake("you summed over the action chunk (H, act_dim) and averaged over the batch: take the mean over every "
            "element (.mean(), as F.mse_loss does).",
            lambda m, s, obs, a0, t, eps: ((m(_noised(s, a0, t, eps), t, obs) - eps) ** 2).sum(dim=(1, 2)).mean()),
    Mistake("the error is not squared: this is the mean absolute error; DDPM's loss is the mean *squared* error.",
            lambda m, s, obs, a0, t, eps: (m(_noised(s, a0, t, eps), t, obs) - eps).abs().mean()),
    Mistake("this is the norm ||eps - eps_pred|| (a square root of the sum): the loss is the mean of the squares, "
            "with no square root.",
            lambda m, s, obs, a0, t, eps: (m(_noised(s, a0, t, eps), t, obs) - eps).norm()),
    Mistake("this is the root of the mean squared error: drop the square root.",
            lambda m, s, obs, a0, t, eps: _mse(m(_noised(s, a0, t, eps), t, obs), eps).sqrt()),
    Mistake("the model was told t - 1: give it the same t that a0 was noised with, model(a_t, t, obs).",
            lambda m, s, obs, a0, t, eps: _mse(m(_noised(s, a0, t, eps), t - 1, obs), eps)),
    Mistake("the model was told t + 1: give it the same t that a0 was noised with, model(a_t, t, obs).",
            lambda m, s, obs, a0, t, eps: _mse(m(_noised(s, a0, t, eps), t + 1, obs), eps)),
    Mistake("the model was given t / T: it takes the integer timestep t itself (its embedding expects 0..T-1).",
            lambda m, s, obs, a0, t, eps: _mse(m(_noised(s, a0, t, eps), t / s.n_steps, obs), eps)),
    Mistake("a0 was noised at t - 1 but the model was told t: noise with alpha_bar_t = schedule.alpha_bars[t].",
            lambda m, s, obs, a0, t, eps: _mse(m(_noised(s, a0, t - 1, eps), t, obs), eps)),
    Mistake("a0 was noised at t + 1 but the model was told t: noise with alpha_bar_t = schedule.alpha_bars[t].",
            lambda m, s, obs, a0, t, eps: _mse(m(_noised(s, a0, t + 1, eps), t, obs), eps)),
    Mistake("a_t is noised with alpha_bar_t and 1 - alpha_bar_t, without square roots: check your add_noise with "
            "check_add_noise.",
            lambda m, s, obs, a0, t, eps: _mse(m(_noised_without_sqrt(s, a0, t, eps), t, obs), eps)),
]


def _loss_validate(got: torch.Tensor, case: Case) -> str | None:
    if not got.requires_grad:
        return ("the loss carries no gradient: do not call .detach(), .item() or torch.no_grad() on the way; the "
                "optimizer needs d loss / d theta through the model's output.")
    return None


def _loss_cases(seed: int = 0) -> list[Case]:
    """Cases (model, schedule, obs, a0, t, eps) with one small real network, MLPDenoiser, seeded."""
    act_dim, horizon, obs_dim, obs_horizon = 2, 8, 3, 2
    with torch.random.fork_rng():  # seed the weights without touching the learner's random state
        torch.manual_seed(seed)
        model = MLPDenoiser(act_dim, horizon, obs_dim, obs_horizon, hidden_dim=32, n_layers=2).eval()
    g = torch.Generator().manual_seed(seed)
    cases = []
    for schedule, ts in [(NoiseSchedule(50, "cosine"), [3, 10, 21, 30, 38, 45]),
                         (NoiseSchedule(100, "linear"), [0, 1, 17, 50, 98, 99])]:
        B = len(ts)
        obs = torch.randn(B, obs_horizon, obs_dim, generator=g)  # (B, To, obs_dim)
        a0 = torch.rand(B, horizon, act_dim, generator=g) * 2 - 1  # (B, H, act_dim), normalised to [-1, 1]
        eps = torch.randn(a0.shape, generator=g)
        cases.append(Case((model, schedule, obs, a0, torch.tensor(ts), eps),
                          f"{schedule}, t = {ts}, a0 of shape {tuple(a0.shape)}, obs of shape {tuple(obs.shape)}"))
    return cases


LOSS = Exercise("diffusion_loss(model, schedule, obs, a0, t, eps)", LOSS_EQUATION,
                ("model", "schedule", "obs", "a0", "t", "eps"),
                lambda model, schedule, obs, a0, t, eps: diffusion_loss(model, schedule, obs, a0, t, eps),
                LOSS_MISTAKES, rtol=1e-5, atol=1e-7, hints=ADD_NOISE_HINTS, validate=_loss_validate)


def check_diffusion_loss(fn: Callable[..., torch.Tensor]) -> Passed:
    """Check the learner's loss fn(model, schedule, obs, a0, t, eps) -> loss against trainer.diffusion_loss.

    model(x_t, t, obs) -> eps_pred is a small MLPDenoiser; obs (B, To, obs_dim), a0 and eps (B, H, act_dim), t (B,).
    fn returns the scalar mean((eps - model(a_t, t, obs))^2) with a_t the noised a0, still attached to the graph.
    """
    return _check(LOSS, fn, _loss_cases(), "cosine and linear schedules, T = 50 and 100, an MLPDenoiser")


# ----------------------------------------------------------------------------------------------------------------
# Exercise 3: one DDPM reverse step x_t -> x_{t-1}.
# ----------------------------------------------------------------------------------------------------------------

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


def check_reverse_step(fn: Callable[..., torch.Tensor]) -> Passed:
    """Check the learner's DDPM step fn(schedule, x_t, eps, t, z) -> x_{t-1} against DDPMSampler(clip_sample=False).

    x_t, eps (the noise prediction) and z ~ N(0, I): (B, H, act_dim); t: a Python int in 0..T-1, one for the batch.
    fn returns x_{t-1} = mu_tilde + sqrt(beta_tilde_t) z, and x0_pred (no noise) at t = 0.
    """
    return _check(REVERSE, fn, _reverse_cases(), "cosine and linear schedules, T = 10, 50, 100, t = T-1 down to 0")


# ----------------------------------------------------------------------------------------------------------------
# Exercise 4 (optional): one deterministic DDIM step x_t -> x_s.
# ----------------------------------------------------------------------------------------------------------------

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


def check_ddim_step(fn: Callable[..., torch.Tensor]) -> Passed:
    """Check the learner's DDIM step fn(schedule, x_t, eps, t, s) -> x_s against DDIMSampler(eta=0, clip_sample=False).

    x_t, eps: (B, H, act_dim); t > s: Python ints, s = -1 for the last step (alpha_bar_{-1} = 1).
    """
    return _check(DDIM, fn, _ddim_cases(), "cosine and linear schedules, T = 50 and 100, jumps of 1 to 50 steps")
