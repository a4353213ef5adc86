"""Exercise (notebook 12): the flow matching loss, what Trainer("flow") trains with (dpedu.diffusion.flow.flow_loss)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from dpedu.course.exercises.checking import Case, Exercise, Mistake, Passed, _check, reports_not_attempted
from dpedu.course.exercises.diffusion_loss import _loss_validate, random_batch, small_denoiser
from dpedu.diffusion.flow import flow_loss, network_time


def reference_flow_loss(model, obs: torch.Tensor, a0: torch.Tensor, tau: torch.Tensor,
                        eps: torch.Tensor) -> torch.Tensor:
    """L = || (A - eps) - v_theta((1 - tau) eps + tau A, tau, obs) ||^2, the network told network_time(tau).

    obs (B, To, obs_dim), a0 = A and eps (B, H, act_dim), tau (B,) in [0, 1). The mean over every element."""
    t = tau[:, None, None]  # (B, 1, 1): one time per chunk, broadcast over the chunk
    a_tau = (1 - t) * eps + t * a0  # the point at time tau on the straight path from the noise to the chunk
    velocity = model(a_tau, network_time(tau), obs)  # the network's guess of the path's velocity there
    return ((a0 - eps - velocity) ** 2).mean()


def _loss(m, obs, a0, tau, eps, a_tau=None, target=None, time=None):
    t = tau[:, None, None]
    a_tau = (1 - t) * eps + t * a0 if a_tau is None else a_tau
    target = a0 - eps if target is None else target
    return ((m(a_tau, network_time(tau) if time is None else time, obs) - target) ** 2).mean()


FLOW_LOSS_MISTAKES = [
    Mistake("the velocity points the wrong way: the path runs from the noise (tau = 0) to the chunk (tau = 1), so its "
            "velocity is a0 - eps, not eps - a0.",
            lambda m, obs, a0, tau, eps: _loss(m, obs, a0, tau, eps, target=eps - a0)),
    Mistake("the path is reversed: at tau = 0 it must be the noise and at tau = 1 the chunk, a_tau = (1 - tau) eps + "
            "tau a0.",
            lambda m, obs, a0, tau, eps: _loss(m, obs, a0, tau, eps, a_tau=(1 - tau[:, None, None]) * a0
                                               + tau[:, None, None] * eps)),
    Mistake("the target is the clean chunk a0: flow matching's network predicts the velocity a0 - eps.",
            lambda m, obs, a0, tau, eps: _loss(m, obs, a0, tau, eps, target=a0)),
    Mistake("the target is the noise eps (DDPM's): flow matching's network predicts the velocity a0 - eps.",
            lambda m, obs, a0, tau, eps: _loss(m, obs, a0, tau, eps, target=eps)),
    Mistake("the network was told tau itself: give it network_time(tau) = 1 + 100 tau, the step input its embedding "
            "was built for.",
            lambda m, obs, a0, tau, eps: _loss(m, obs, a0, tau, eps, time=tau)),
    Mistake("the network was given the clean chunk a0: give it the point on the path, a_tau.",
            lambda m, obs, a0, tau, eps: _loss(m, obs, a0, tau, eps, a_tau=a0)),
    Mistake("you summed the squared errors: take the mean over every element, as F.mse_loss does.",
            lambda m, obs, a0, tau, eps: _loss(m, obs, a0, tau, eps) * a0.numel()),
]


def _cases(seed: int = 0) -> list[Case]:
    model, g = small_denoiser(seed), torch.Generator().manual_seed(seed)
    cases = []
    for taus in ([0.0, 0.1, 0.5, 0.9], [0.03, 0.25, 0.33, 0.47, 0.71, 0.99]):
        obs, a0, eps = random_batch(len(taus), g)
        cases.append(Case((model, obs, a0, torch.tensor(taus), eps), f"tau = {taus}, a0 of shape {tuple(a0.shape)}"))
    return cases


FLOW_LOSS = Exercise("flow_loss(model, obs, a0, tau, eps)",
                     "mean((a0 - eps - model((1 - tau) eps + tau a0, network_time(tau), obs))^2)",
                     ("model", "obs", "a0", "tau", "eps"),
                     lambda model, obs, a0, tau, eps: flow_loss(model, obs, a0, tau, eps),
                     FLOW_LOSS_MISTAKES, rtol=1e-5, atol=1e-7, validate=_loss_validate,
                     hints=[("must match the size", "tau is (B,): make it (B, 1, 1), tau[:, None, None], to scale "
                             "whole chunks (B, H, act_dim).")])


@reports_not_attempted("flow_loss")
def check_flow_loss(fn: Callable[..., torch.Tensor]) -> Passed:
    """Check the learner's fn(model, obs, a0, tau, eps) -> loss against dpedu.diffusion.flow.flow_loss, what
    Trainer("flow") runs (a small MLPDenoiser as v_theta; tau (B,) in [0, 1))."""
    return _check(FLOW_LOSS, fn, _cases(), "an MLPDenoiser as v_theta, tau from 0 to 0.99")
