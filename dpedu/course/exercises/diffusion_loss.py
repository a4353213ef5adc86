"""Exercise 2 (notebook 02): the DDPM training loss, its reference solution and its checker."""

from __future__ import annotations

from collections.abc import Callable

import torch

from dpedu.course.exercises.add_noise import ADD_NOISE_HINTS, reference_add_noise
from dpedu.course.exercises.checking import (
    Case,
    Exercise,
    Mistake,
    Passed,
    _check,
    _coef,
    reports_not_attempted,
)
from dpedu.diffusion.schedule import NoiseSchedule
from dpedu.networks.mlp import MLPDenoiser
from dpedu.trainer import diffusion_loss


def reference_diffusion_loss(model, schedule: NoiseSchedule, obs: torch.Tensor, a0: torch.Tensor, k: torch.Tensor,
                             eps: torch.Tensor) -> torch.Tensor:
    """L = || eps - eps_theta(sqrt(alpha_bar_k) A^0 + sqrt(1 - alpha_bar_k) eps, k, obs) ||^2   (Ho et al. eq. 14).

    obs (B, To, obs_dim), a0 = A^0 and eps (B, H, act_dim), k (B,) in 1..K. The mean over every element, as
    F.mse_loss takes it.
    """
    a_k = reference_add_noise(schedule, a0, k, eps)  # the noised action chunk
    eps_pred = model(a_k, k, obs)  # the network's guess of the noise that was added
    return ((eps - eps_pred) ** 2).mean()




LOSS_EQUATION = ("loss = ((eps - model(a_k, k, obs)) ** 2).mean(), with a_k = sqrt(alpha_bar_k) a0 + "
                 "sqrt(1 - alpha_bar_k) eps")


def _noised(schedule: NoiseSchedule, a0: torch.Tensor, k: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    return schedule.add_noise(a0, k, eps)


def _noised_without_sqrt(schedule: NoiseSchedule, a0: torch.Tensor, k: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The commonest wrong forward process, alpha_bar_k a0 + (1 - alpha_bar_k) eps."""
    return _coef(schedule.alpha_bars, k) * a0 + (1 - _coef(schedule.alpha_bars, k)) * eps


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a - b) ** 2).mean()


LOSS_MISTAKES = [
    Mistake("the target is a0, the clean actions: the network eps_theta predicts the noise, so the target is eps, "
            "loss = mean((eps - model(a_k, k, obs))^2).",
            lambda m, s, obs, a0, k, eps: _mse(m(_noised(s, a0, k, eps), k, obs), a0)),
    Mistake("the model was fed the clean a0: noise it first, a_k = sqrt(alpha_bar_k) a0 + sqrt(1 - alpha_bar_k) eps, "
            "and give the model a_k.",
            lambda m, s, obs, a0, k, eps: _mse(m(a0, k, obs), eps)),
    Mistake("the model was fed the noise eps itself: give it the noised actions a_k = sqrt(alpha_bar_k) a0 + "
            "sqrt(1 - alpha_bar_k) eps.",
            lambda m, s, obs, a0, k, eps: _mse(m(eps, k, obs), eps)),
    Mistake("you summed the squared errors: take the mean over every element (.mean(), as F.mse_loss does), so the "
            "loss does not grow with the batch size and the learning rate keeps its meaning.",
            lambda m, s, obs, a0, k, eps: ((m(_noised(s, a0, k, eps), k, obs) - eps) ** 2).sum()),
    Mistake("you summed over the action chunk (H, act_dim) and averaged over the batch: take the mean over every "
            "element (.mean(), as F.mse_loss does).",
            lambda m, s, obs, a0, k, eps: ((m(_noised(s, a0, k, eps), k, obs) - eps) ** 2).sum(dim=(1, 2)).mean()),
    Mistake("the error is not squared: this is the mean absolute error; DDPM's loss is the mean *squared* error.",
            lambda m, s, obs, a0, k, eps: (m(_noised(s, a0, k, eps), k, obs) - eps).abs().mean()),
    Mistake("this is the norm ||eps - eps_pred|| (a square root of the sum): the loss is the mean of the squares, "
            "with no square root.",
            lambda m, s, obs, a0, k, eps: (m(_noised(s, a0, k, eps), k, obs) - eps).norm()),
    Mistake("this is the root of the mean squared error: drop the square root.",
            lambda m, s, obs, a0, k, eps: _mse(m(_noised(s, a0, k, eps), k, obs), eps).sqrt()),
    Mistake("the model was told k - 1: give it the same k that a0 was noised with, model(a_k, k, obs).",
            lambda m, s, obs, a0, k, eps: _mse(m(_noised(s, a0, k, eps), k - 1, obs), eps)),
    Mistake("the model was told k + 1: give it the same k that a0 was noised with, model(a_k, k, obs).",
            lambda m, s, obs, a0, k, eps: _mse(m(_noised(s, a0, k, eps), k + 1, obs), eps)),
    Mistake("the model was given k / K: it takes the integer diffusion step k itself, 1..K.",
            lambda m, s, obs, a0, k, eps: _mse(m(_noised(s, a0, k, eps), k / s.n_steps, obs), eps)),
    Mistake("a0 was noised at k - 1 but the model was told k: noise with alpha_bar_k = schedule.alpha_bars[k].",
            lambda m, s, obs, a0, k, eps: _mse(m(_noised(s, a0, k - 1, eps), k, obs), eps)),
    Mistake("a0 was noised at k + 1 but the model was told k: noise with alpha_bar_k = schedule.alpha_bars[k].",
            lambda m, s, obs, a0, k, eps: _mse(m(_noised(s, a0, k + 1, eps), k, obs), eps)),
    Mistake("a_k is noised with alpha_bar_k and 1 - alpha_bar_k, without square roots: check your add_noise with "
            "check_add_noise.",
            lambda m, s, obs, a0, k, eps: _mse(m(_noised_without_sqrt(s, a0, k, eps), k, obs), eps)),
]


def _loss_validate(got: torch.Tensor, case: Case) -> str | None:
    if not got.requires_grad:
        return ("the loss carries no gradient: do not call .detach(), .item() or torch.no_grad() on the way; the "
                "optimizer needs d loss / d theta through the model's output.")
    return None


WINDOW, CHUNK = (2, 3), (8, 2)  # (To, obs_dim) and (H, act_dim) of the loss exercises' cases


def small_denoiser(seed: int = 0) -> MLPDenoiser:
    """The loss exercises' network (DDPM's and flow matching's): a small real MLPDenoiser for CHUNK and WINDOW, seeded
    without touching the learner's random state."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return MLPDenoiser(CHUNK[1], CHUNK[0], WINDOW[1], WINDOW[0], hidden_dim=32, n_layers=2).eval()


def random_batch(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(obs (n, To, obs_dim), a0 (n, H, act_dim) in [-1, 1], eps like a0), drawn from g."""
    obs = torch.randn(n, *WINDOW, generator=g)
    a0 = torch.rand(n, *CHUNK, generator=g) * 2 - 1  # normalised to [-1, 1]
    return obs, a0, torch.randn(a0.shape, generator=g)


def _loss_cases(seed: int = 0) -> list[Case]:
    """Cases (model, schedule, obs, a0, k, eps) with one small real network, MLPDenoiser, seeded."""
    model, g = small_denoiser(seed), torch.Generator().manual_seed(seed)
    cases = []
    for schedule, ks in [(NoiseSchedule(50, "cosine"), [3, 10, 21, 30, 38, 45]),
                         (NoiseSchedule(100, "linear"), [1, 2, 17, 50, 99, 100])]:
        obs, a0, eps = random_batch(len(ks), g)
        cases.append(Case((model, schedule, obs, a0, torch.tensor(ks), eps),
                          f"{schedule}, k = {ks}, a0 of shape {tuple(a0.shape)}, obs of shape {tuple(obs.shape)}"))
    return cases


LOSS = Exercise("diffusion_loss(model, schedule, obs, a0, k, eps)", LOSS_EQUATION,
                ("model", "schedule", "obs", "a0", "k", "eps"),
                lambda model, schedule, obs, a0, k, eps: diffusion_loss(model, schedule, obs, a0, k, eps),
                LOSS_MISTAKES, rtol=1e-5, atol=1e-7, hints=ADD_NOISE_HINTS, validate=_loss_validate)


@reports_not_attempted("diffusion_loss")
def check_diffusion_loss(fn: Callable[..., torch.Tensor]) -> Passed:
    """Check the learner's loss fn(model, schedule, obs, a0, k, eps) -> loss against trainer.diffusion_loss.

    model(x_k, k, obs) -> eps_pred is a small MLPDenoiser; obs (B, To, obs_dim), a0 and eps (B, H, act_dim), k (B,)
    in 1..K.
    fn returns the scalar mean((eps - model(a_k, k, obs))^2) with a_k the noised a0, still attached to the graph.
    """
    return _check(LOSS, fn, _loss_cases(), "cosine and linear schedules, K = 50 and 100, an MLPDenoiser")
