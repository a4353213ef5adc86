"""The exercise checkers: the reference solutions and other right forms pass; each common mistake, written the way a
learner would write it, is caught and named in the message."""

import pytest
import torch
import torch.nn.functional as F

from dpedu.course.exercises import (
    check_add_noise,
    check_ddim_step,
    check_diffusion_loss,
    check_reverse_step,
    reference_add_noise,
    reference_ddim_step,
    reference_diffusion_loss,
    reference_reverse_step,
)
from dpedu.diffusion.sampler import DDIMSampler, DDPMSampler
from dpedu.trainer import diffusion_loss


def ab(schedule, t):
    """alpha_bar_t as (B, 1, 1), the learner's usual first line."""
    return schedule.alpha_bars[t].view(-1, 1, 1)


# ---------------------------------------------------------------------------------------------------------------
# Right answers pass, in several forms.
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("check, fn", [
    (check_add_noise, reference_add_noise),
    (check_add_noise, lambda s, x0, t, eps: s.add_noise(x0, t, eps)),
    # float64 tables, sqrt tables, [:, None, None]: other ways to the same numbers
    (check_add_noise, lambda s, x0, t, eps: (s.alpha_bars_f64[t].sqrt()[:, None, None] * x0
                                            + (1 - s.alpha_bars_f64[t]).sqrt()[:, None, None] * eps).float()),
    (check_add_noise, lambda s, x0, t, eps: s.sqrt_alpha_bars[t][:, None, None] * x0
     + s.sqrt_one_minus_alpha_bars[t][:, None, None] * eps),
    (check_diffusion_loss, reference_diffusion_loss),
    (check_diffusion_loss, diffusion_loss),
    (check_diffusion_loss, lambda m, s, obs, a0, t, eps: F.mse_loss(m(s.add_noise(a0, t, eps), t, obs), eps)),
    (check_reverse_step, reference_reverse_step),
    (check_reverse_step, lambda s, x_t, eps, t, z: DDPMSampler(s, clip_sample=False).step(x_t, eps, t, t - 1, z)[0]),
    (check_ddim_step, reference_ddim_step),
    (check_ddim_step, lambda s, x_t, eps, t, t_s: DDIMSampler(s, clip_sample=False).step(x_t, eps, t, t_s)[0]),
], ids=lambda v: getattr(v, "__name__", ""))
def test_right_answers_pass(check, fn):
    message = check(fn)
    assert message.startswith("Correct") and "\n" not in message
    assert repr(message) == str(message)  # a notebook shows it without quotes


def reverse_step_eps_form(schedule, x_t, eps, t, z, sqrt=True):
    """Ho et al. eq. 11, mu = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t): equal to mu_tilde."""
    beta_t, alpha_t, alpha_bar_t = schedule.betas[t], schedule.alphas[t], schedule.alpha_bars[t]
    mu = (x_t - beta_t / ((1 - alpha_bar_t).sqrt() if sqrt else 1 - alpha_bar_t) * eps) / alpha_t.sqrt()
    if t == 0:
        return mu
    alpha_bar_prev = schedule.alpha_bars[t - 1]
    return mu + ((1 - alpha_bar_prev) / (1 - alpha_bar_t) * beta_t).sqrt() * z


def test_reverse_step_in_eps_form_passes():
    assert check_reverse_step(reverse_step_eps_form).startswith("Correct")


def test_checking_leaves_the_learners_random_state_alone():
    state = torch.get_rng_state()
    check_diffusion_loss(reference_diffusion_loss)
    assert torch.equal(torch.get_rng_state(), state)


# ---------------------------------------------------------------------------------------------------------------
# add_noise: each mistake is named.
# ---------------------------------------------------------------------------------------------------------------

ADD_NOISE_MISTAKES = {
    "both need a square root": lambda s, x0, t, eps: ab(s, t) * x0 + (1 - ab(s, t)) * eps,
    "noise coefficient is missing its square root": lambda s, x0, t, eps: ab(s, t).sqrt() * x0 + (1 - ab(s, t)) * eps,
    "x0 coefficient is missing its square root": lambda s, x0, t, eps: ab(s, t) * x0 + (1 - ab(s, t)).sqrt() * eps,
    r"1 - sqrt\(alpha_bar_t\)": lambda s, x0, t, eps: ab(s, t).sqrt() * x0 + (1 - ab(s, t).sqrt()) * eps,
    "coefficients are swapped": lambda s, x0, t, eps: (1 - ab(s, t)).sqrt() * x0 + ab(s, t).sqrt() * eps,
    r"you used alpha_t \(schedule.alphas": lambda s, x0, t, eps: s.alphas[t].sqrt().view(-1, 1, 1) * x0
    + (1 - s.alphas[t]).sqrt().view(-1, 1, 1) * eps,
    "off by one: you used alpha_bar at t - 1": lambda s, x0, t, eps: ab(s, t - 1).sqrt() * x0
    + (1 - ab(s, t - 1)).sqrt() * eps,
    r"off by one: you used alpha_bar at t \+ 1": lambda s, x0, t, eps: ab(s, t + 1).sqrt() * x0
    + (1 - ab(s, t + 1)).sqrt() * eps,
    "sign error": lambda s, x0, t, eps: ab(s, t).sqrt() * x0 - (1 - ab(s, t)).sqrt() * eps,
    "no noise was added": lambda s, x0, t, eps: ab(s, t).sqrt() * x0,
    "x0 is not scaled": lambda s, x0, t, eps: x0 + (1 - ab(s, t)).sqrt() * eps,
    r"one timestep, t\[0\]": lambda s, x0, t, eps: s.alpha_bars[t[0]].sqrt() * x0
    + (1 - s.alpha_bars[t[0]]).sqrt() * eps,
    # not the mistakes of the formula
    r"view\(-1, 1, 1\)": lambda s, x0, t, eps: s.alpha_bars[t].sqrt() * x0 + (1 - s.alpha_bars[t]).sqrt() * eps,
    r"returned shape \(6, 6, 8, 2\), expected \(6, 8, 2\)": lambda s, x0, t, eps: (
        s.alpha_bars[t].sqrt()[:, None, None, None] * x0 + (1 - s.alpha_bars[t]).sqrt()[:, None, None, None] * eps),
    "not a torch.Tensor": lambda s, x0, t, eps: reference_add_noise(s, x0, t, eps).numpy(),
    "did you forget `return`": lambda s, x0, t, eps: None,
    "changed its input `x0` in place": lambda s, x0, t, eps: x0.mul_(ab(s, t).sqrt()).add_((1 - ab(s, t)).sqrt() * eps),
    "draws its own random numbers": lambda s, x0, t, eps: reference_add_noise(s, x0, t, torch.randn_like(x0)),
    "converted to Python scalars": lambda s, x0, t, eps: float(s.alpha_bars[t]) ** 0.5 * x0,
    "none of the common mistakes matches": lambda s, x0, t, eps: reference_add_noise(s, x0, t, eps) * 1.01,
}


@pytest.mark.parametrize("says", ADD_NOISE_MISTAKES)
def test_add_noise_mistake_is_named(says):
    with pytest.raises(AssertionError, match=says):
        check_add_noise(ADD_NOISE_MISTAKES[says])


def test_messages_say_where_and_what_is_expected():
    with pytest.raises(AssertionError) as info:
        check_add_noise(ADD_NOISE_MISTAKES["sign error"])
    message = str(info.value)
    assert "add_noise(schedule, x0, t, eps) is wrong on NoiseSchedule(n_steps=50, kind='cosine'), t = [" in message
    assert "Expected: x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps" in message
    with pytest.raises(AssertionError, match=r"largest error is .* at index \[\d+, \d+, \d+\] \(sample \d+\)"):
        check_add_noise(ADD_NOISE_MISTAKES["none of the common mistakes matches"])


# ---------------------------------------------------------------------------------------------------------------
# The loss.
# ---------------------------------------------------------------------------------------------------------------


def noised(s, a0, t, eps):
    return ab(s, t).sqrt() * a0 + (1 - ab(s, t)).sqrt() * eps


LOSS_MISTAKES = {
    "the target is a0": lambda m, s, obs, a0, t, eps: ((a0 - m(noised(s, a0, t, eps), t, obs)) ** 2).mean(),
    "fed the clean a0": lambda m, s, obs, a0, t, eps: ((eps - m(a0, t, obs)) ** 2).mean(),
    "fed the noise eps itself": lambda m, s, obs, a0, t, eps: ((eps - m(eps, t, obs)) ** 2).mean(),
    "summed the squared errors": lambda m, s, obs, a0, t, eps: ((eps - m(noised(s, a0, t, eps), t, obs)) ** 2).sum(),
    "summed over the action chunk": lambda m, s, obs, a0, t, eps: ((eps - m(noised(s, a0, t, eps), t, obs)) ** 2)
    .sum(dim=(1, 2)).mean(),
    "not squared": lambda m, s, obs, a0, t, eps: (eps - m(noised(s, a0, t, eps), t, obs)).abs().mean(),
    "root of the mean squared error": lambda m, s, obs, a0, t, eps: F.mse_loss(m(noised(s, a0, t, eps), t, obs),
                                                                               eps).sqrt(),
    "the model was told t - 1": lambda m, s, obs, a0, t, eps: F.mse_loss(m(noised(s, a0, t, eps), t - 1, obs), eps),
    "given t / T": lambda m, s, obs, a0, t, eps: F.mse_loss(m(noised(s, a0, t, eps), t / s.n_steps, obs), eps),
    r"noised at t \+ 1": lambda m, s, obs, a0, t, eps: F.mse_loss(m(noised(s, a0, t + 1, eps), t, obs), eps),
    "without square roots": lambda m, s, obs, a0, t, eps: F.mse_loss(
        m(ab(s, t) * a0 + (1 - ab(s, t)) * eps, t, obs), eps),
    r"(?s)returned shape \(6, 8, 2\), expected \(\).*\.mean\(\)": lambda m, s, obs, a0, t, eps: (
        (eps - m(noised(s, a0, t, eps), t, obs)) ** 2),
    r"returned a Python float.*no \.item\(\)": lambda m, s, obs, a0, t, eps: reference_diffusion_loss(
        m, s, obs, a0, t, eps).item(),
    "carries no gradient": lambda m, s, obs, a0, t, eps: reference_diffusion_loss(m, s, obs, a0, t, eps).detach(),
    "draws its own random numbers": lambda m, s, obs, a0, t, eps: reference_diffusion_loss(
        m, s, obs, a0, torch.randint(0, s.n_steps, t.shape), eps),
}


@pytest.mark.parametrize("says", LOSS_MISTAKES)
def test_loss_mistake_is_named(says):
    with pytest.raises(AssertionError, match=says):
        check_diffusion_loss(LOSS_MISTAKES[says])


# ---------------------------------------------------------------------------------------------------------------
# The DDPM reverse step, written as learners write it: one right version with one thing changed.
# ---------------------------------------------------------------------------------------------------------------


def ddpm_step(schedule, x_t, eps, t, z, prev=None, variance="beta_tilde", noise_sign=1.0, clip=False,
              x0_alpha_bar=None, swap=False, t0_noise=False):
    """The right step, or one with a mistake switched on."""
    beta_t, alpha_t, alpha_bar_t = schedule.betas[t], schedule.alphas[t], schedule.alpha_bars[t]
    alpha_bar_prev = prev(schedule, t) if prev else (schedule.alpha_bars[t - 1] if t > 0 else torch.tensor(1.0))
    x0_pred = (x_t - (1 - alpha_bar_t).sqrt() * eps) / alpha_bar_t.sqrt()
    if clip:
        x0_pred = x0_pred.clamp(-1, 1)
    c0 = (x0_alpha_bar(schedule, t) if x0_alpha_bar else alpha_bar_prev).sqrt() * beta_t / (1 - alpha_bar_t)
    ct = alpha_t.sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar_t)
    mu = ct * x0_pred + c0 * x_t if swap else c0 * x0_pred + ct * x_t
    beta_tilde = (1 - alpha_bar_prev) / (1 - alpha_bar_t) * beta_t
    if t0_noise and t == 0:
        # improved-diffusion's "clipped" variance puts beta_tilde_1 at t = 0; without its t > 0 mask it adds noise
        alpha_bar_0, alpha_bar_1 = schedule.alpha_bars[0], schedule.alpha_bars[1]
        return mu + ((1 - alpha_bar_0) / (1 - alpha_bar_1) * schedule.betas[1]).sqrt() * z
    sigma = {"beta_tilde": beta_tilde.sqrt(), "beta": beta_t.sqrt(), "no sqrt": beta_tilde}[variance]
    return mu + noise_sign * sigma * z


REVERSE_MISTAKES = {
    r"alpha_bars\[-1\].*LAST entry": dict(prev=lambda s, t: s.alpha_bars[t - 1]),
    "you used alpha_bar_0 as alpha_bar_{t-1}": dict(prev=lambda s, t: s.alpha_bars[max(t - 1, 0)]),
    r"at t = 0 your step adds noise \(": dict(t0_noise=True),
    "the noise has variance beta_t": dict(variance="beta"),
    "scaled by the variance beta_tilde_t": dict(variance="no sqrt"),
    "the noise is subtracted": dict(noise_sign=-1.0),
    r"clipping is off in this exercise \(DDPMSampler": dict(clip=True),
    "wrong x0_pred coefficient": dict(x0_alpha_bar=lambda s, t: s.alpha_bars[t]),
    "coefficients of mu_tilde are swapped": dict(swap=True),
}


@pytest.mark.parametrize("says", REVERSE_MISTAKES)
def test_reverse_step_mistake_is_named(says):
    assert check_reverse_step(ddpm_step).startswith("Correct")  # with no mistake switched on it is right
    with pytest.raises(AssertionError, match=says):
        check_reverse_step(lambda *args: ddpm_step(*args, **REVERSE_MISTAKES[says]))


REVERSE_OTHER_MISTAKES = {
    # eps enters the reference only through x0_pred, so -eps is x0_pred = (x_t + sqrt(1 - alpha_bar_t) eps) / ...
    "sign error in x0_pred": lambda s, x_t, eps, t, z: reference_reverse_step(s, x_t, -eps, t, z),
    "no noise was added": lambda s, x_t, eps, t, z: reference_reverse_step(s, x_t, eps, t, 0 * z),
    "you returned x0_pred": lambda s, x_t, eps, t, z: (x_t - (1 - s.alpha_bars[t]).sqrt() * eps)
    / s.alpha_bars[t].sqrt(),
    "square root on 1 - alpha_bar_t is missing": lambda s, x_t, eps, t, z: reverse_step_eps_form(s, x_t, eps, t, z,
                                                                                                 sqrt=False),
    "off by one: every table is read at t - 1": lambda s, x_t, eps, t, z: reference_reverse_step(s, x_t, eps, t - 1, z),
    r"returned a tuple of 2: return only a tensor of shape \(4, 8, 2\)": lambda s, x_t, eps, t, z: (
        DDPMSampler(s, clip_sample=False).step(x_t, eps, t, t - 1, z)),
    r"returned shape \(4, 16\), expected \(4, 8, 2\)": lambda s, x_t, eps, t, z: reference_reverse_step(
        s, x_t, eps, t, z).reshape(4, -1),
    r"clipping is off": lambda s, x_t, eps, t, z: DDPMSampler(s).step(x_t, eps, t, t - 1, z)[0],
    r"(?s)raised IndexError.*t \+ 1 runs past the end": lambda s, x_t, eps, t, z: reference_reverse_step(
        s, x_t, eps, t, z) + 0 * s.alpha_bars[t + 1],
}


@pytest.mark.parametrize("says", REVERSE_OTHER_MISTAKES)
def test_reverse_step_other_mistake_is_named(says):
    with pytest.raises(AssertionError, match=says):
        check_reverse_step(REVERSE_OTHER_MISTAKES[says])


# ---------------------------------------------------------------------------------------------------------------
# The DDIM step.
# ---------------------------------------------------------------------------------------------------------------


def ddim_step(schedule, x_t, eps, t, s, alpha_bar_s=None, direction_t=False, sign=1.0, clip=False):
    alpha_bar_t = schedule.alpha_bars[t]
    if alpha_bar_s is None:
        alpha_bar_s = schedule.alpha_bars[s] if s >= 0 else torch.tensor(1.0)
    x0_pred = (x_t - (1 - alpha_bar_t).sqrt() * eps) / alpha_bar_t.sqrt()
    if clip:
        x0_pred = x0_pred.clamp(-1, 1)
    direction = (1 - (alpha_bar_t if direction_t else alpha_bar_s)).sqrt() * eps
    return alpha_bar_s.sqrt() * x0_pred + sign * direction


DDIM_MISTAKES = {
    r"alpha_bars\[-1\].*LAST entry": lambda sch, x_t, eps, t, s: ddim_step(sch, x_t, eps, t, s,
                                                                         alpha_bar_s=sch.alpha_bars[s]),
    "you stepped to t - 1": lambda sch, x_t, eps, t, s: ddim_step(sch, x_t, eps, t, t - 1),
    "direction term uses alpha_bar_t": lambda sch, x_t, eps, t, s: ddim_step(sch, x_t, eps, t, s, direction_t=True),
    r"sign error: the direction term": lambda sch, x_t, eps, t, s: ddim_step(sch, x_t, eps, t, s, sign=-1.0),
    "clipping is off": lambda sch, x_t, eps, t, s: ddim_step(sch, x_t, eps, t, s, clip=True),
    "you returned x0_pred": lambda sch, x_t, eps, t, s: ddim_step(sch, x_t, eps, t, -1),
}


@pytest.mark.parametrize("says", DDIM_MISTAKES)
def test_ddim_mistake_is_named(says):
    assert check_ddim_step(ddim_step).startswith("Correct")
    with pytest.raises(AssertionError, match=says):
        check_ddim_step(DDIM_MISTAKES[says])
