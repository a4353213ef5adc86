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


def ab(schedule, k):
    """alpha_bar_k as (B, 1, 1), the learner's usual first line."""
    return schedule.alpha_bars[k].view(-1, 1, 1)


# ---------------------------------------------------------------------------------------------------------------
# Right answers pass, in several forms.
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("check, fn", [
    (check_add_noise, reference_add_noise),
    (check_add_noise, lambda s, x0, k, eps: s.add_noise(x0, k, eps)),
    # float64 tables, sqrt tables, [:, None, None]: other ways to the same numbers
    (check_add_noise, lambda s, x0, k, eps: (s.alpha_bars_f64[k].sqrt()[:, None, None] * x0
                                            + (1 - s.alpha_bars_f64[k]).sqrt()[:, None, None] * eps).float()),
    (check_add_noise, lambda s, x0, k, eps: s.sqrt_alpha_bars[k][:, None, None] * x0
     + s.sqrt_one_minus_alpha_bars[k][:, None, None] * eps),
    (check_diffusion_loss, reference_diffusion_loss),
    (check_diffusion_loss, diffusion_loss),
    (check_diffusion_loss, lambda m, s, obs, a0, k, eps: F.mse_loss(m(s.add_noise(a0, k, eps), k, obs), eps)),
    (check_reverse_step, reference_reverse_step),
    (check_reverse_step, lambda s, x_k, eps, k, z: DDPMSampler(s, clip_sample=False).step(x_k, eps, k, k - 1, z)[0]),
    (check_ddim_step, reference_ddim_step),
    (check_ddim_step, lambda sch, x_k, eps, k, s: DDIMSampler(sch, clip_sample=False).step(x_k, eps, k, s)[0]),
], ids=lambda v: getattr(v, "__name__", ""))
def test_right_answers_pass(check, fn):
    message = check(fn)
    assert message.startswith("Correct") and "\n" not in message
    assert repr(message) == str(message)  # a notebook shows it without quotes


def reverse_step_eps_form(schedule, x_k, eps, k, z, sqrt=True):
    """Ho et al. eq. 11, mu = (x_k - beta_k / sqrt(1 - alpha_bar_k) eps) / sqrt(alpha_k): equal to mu_tilde."""
    beta_k, alpha_k, alpha_bar_k = schedule.betas[k], schedule.alphas[k], schedule.alpha_bars[k]
    mu = (x_k - beta_k / ((1 - alpha_bar_k).sqrt() if sqrt else 1 - alpha_bar_k) * eps) / alpha_k.sqrt()
    if k == 1:
        return mu
    alpha_bar_prev = schedule.alpha_bars[k - 1]
    return mu + ((1 - alpha_bar_prev) / (1 - alpha_bar_k) * beta_k).sqrt() * z


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
    "both need a square root": lambda s, x0, k, eps: ab(s, k) * x0 + (1 - ab(s, k)) * eps,
    "noise coefficient is missing its square root": lambda s, x0, k, eps: ab(s, k).sqrt() * x0 + (1 - ab(s, k)) * eps,
    "x0 coefficient is missing its square root": lambda s, x0, k, eps: ab(s, k) * x0 + (1 - ab(s, k)).sqrt() * eps,
    r"1 - sqrt\(alpha_bar_k\)": lambda s, x0, k, eps: ab(s, k).sqrt() * x0 + (1 - ab(s, k).sqrt()) * eps,
    "coefficients are swapped": lambda s, x0, k, eps: (1 - ab(s, k)).sqrt() * x0 + ab(s, k).sqrt() * eps,
    r"you used alpha_k \(schedule.alphas": lambda s, x0, k, eps: s.alphas[k].sqrt().view(-1, 1, 1) * x0
    + (1 - s.alphas[k]).sqrt().view(-1, 1, 1) * eps,
    r"off by one: you used alpha_bar_\{k-1\}, schedule.alpha_bars\[k - 1\]": lambda s, x0, k, eps: (
        ab(s, k - 1).sqrt() * x0 + (1 - ab(s, k - 1)).sqrt() * eps),
    r"off by one: you used alpha_bar_\{k\+1\}, schedule.alpha_bars\[k \+ 1\]": lambda s, x0, k, eps: (
        ab(s, k + 1).sqrt() * x0 + (1 - ab(s, k + 1)).sqrt() * eps),
    "sign error": lambda s, x0, k, eps: ab(s, k).sqrt() * x0 - (1 - ab(s, k)).sqrt() * eps,
    "no noise was added": lambda s, x0, k, eps: ab(s, k).sqrt() * x0,
    "x0 is not scaled": lambda s, x0, k, eps: x0 + (1 - ab(s, k)).sqrt() * eps,
    r"one diffusion step, k\[0\]": lambda s, x0, k, eps: s.alpha_bars[k[0]].sqrt() * x0
    + (1 - s.alpha_bars[k[0]]).sqrt() * eps,
    # not the mistakes of the formula
    r"view\(-1, 1, 1\)": lambda s, x0, k, eps: s.alpha_bars[k].sqrt() * x0 + (1 - s.alpha_bars[k]).sqrt() * eps,
    r"returned shape \(6, 6, 8, 2\), expected \(6, 8, 2\)": lambda s, x0, k, eps: (
        s.alpha_bars[k].sqrt()[:, None, None, None] * x0 + (1 - s.alpha_bars[k]).sqrt()[:, None, None, None] * eps),
    "not a torch.Tensor": lambda s, x0, k, eps: reference_add_noise(s, x0, k, eps).numpy(),
    "did you forget `return`": lambda s, x0, k, eps: None,
    "changed its input `x0` in place": lambda s, x0, k, eps: x0.mul_(ab(s, k).sqrt()).add_((1 - ab(s, k)).sqrt() * eps),
    "draws its own random numbers": lambda s, x0, k, eps: reference_add_noise(s, x0, k, torch.randn_like(x0)),
    "converted to Python scalars": lambda s, x0, k, eps: float(s.alpha_bars[k]) ** 0.5 * x0,
    "none of the common mistakes matches": lambda s, x0, k, eps: reference_add_noise(s, x0, k, eps) * 1.01,
}


@pytest.mark.parametrize("says", ADD_NOISE_MISTAKES)
def test_add_noise_mistake_is_named(says):
    with pytest.raises(AssertionError, match=says):
        check_add_noise(ADD_NOISE_MISTAKES[says])


def test_messages_say_where_and_what_is_expected():
    with pytest.raises(AssertionError) as info:
        check_add_noise(ADD_NOISE_MISTAKES["sign error"])
    message = str(info.value)
    assert "add_noise(schedule, x0, k, eps) is wrong on NoiseSchedule(n_steps=50, kind='cosine'), k = [" in message
    assert "Expected: x^k = sqrt(alpha_bar_k) x0 + sqrt(1 - alpha_bar_k) eps" in message
    with pytest.raises(AssertionError, match=r"largest error is .* at index \[\d+, \d+, \d+\] \(sample \d+\)"):
        check_add_noise(ADD_NOISE_MISTAKES["none of the common mistakes matches"])


# ---------------------------------------------------------------------------------------------------------------
# The loss.
# ---------------------------------------------------------------------------------------------------------------


def noised(s, a0, k, eps):
    return ab(s, k).sqrt() * a0 + (1 - ab(s, k)).sqrt() * eps


LOSS_MISTAKES = {
    "the target is a0": lambda m, s, obs, a0, k, eps: ((a0 - m(noised(s, a0, k, eps), k, obs)) ** 2).mean(),
    "fed the clean a0": lambda m, s, obs, a0, k, eps: ((eps - m(a0, k, obs)) ** 2).mean(),
    "fed the noise eps itself": lambda m, s, obs, a0, k, eps: ((eps - m(eps, k, obs)) ** 2).mean(),
    "summed the squared errors": lambda m, s, obs, a0, k, eps: ((eps - m(noised(s, a0, k, eps), k, obs)) ** 2).sum(),
    "summed over the action chunk": lambda m, s, obs, a0, k, eps: ((eps - m(noised(s, a0, k, eps), k, obs)) ** 2)
    .sum(dim=(1, 2)).mean(),
    "not squared": lambda m, s, obs, a0, k, eps: (eps - m(noised(s, a0, k, eps), k, obs)).abs().mean(),
    "root of the mean squared error": lambda m, s, obs, a0, k, eps: F.mse_loss(m(noised(s, a0, k, eps), k, obs),
                                                                               eps).sqrt(),
    "the model was told k - 1": lambda m, s, obs, a0, k, eps: F.mse_loss(m(noised(s, a0, k, eps), k - 1, obs), eps),
    "given k / K": lambda m, s, obs, a0, k, eps: F.mse_loss(m(noised(s, a0, k, eps), k / s.n_steps, obs), eps),
    r"noised at k \+ 1": lambda m, s, obs, a0, k, eps: F.mse_loss(m(noised(s, a0, k + 1, eps), k, obs), eps),
    "without square roots": lambda m, s, obs, a0, k, eps: F.mse_loss(
        m(ab(s, k) * a0 + (1 - ab(s, k)) * eps, k, obs), eps),
    r"(?s)returned shape \(6, 8, 2\), expected \(\).*\.mean\(\)": lambda m, s, obs, a0, k, eps: (
        (eps - m(noised(s, a0, k, eps), k, obs)) ** 2),
    r"returned a Python float.*no \.item\(\)": lambda m, s, obs, a0, k, eps: reference_diffusion_loss(
        m, s, obs, a0, k, eps).item(),
    "carries no gradient": lambda m, s, obs, a0, k, eps: reference_diffusion_loss(m, s, obs, a0, k, eps).detach(),
    "draws its own random numbers": lambda m, s, obs, a0, k, eps: reference_diffusion_loss(
        m, s, obs, a0, torch.randint(1, s.n_steps + 1, k.shape), eps),
}


@pytest.mark.parametrize("says", LOSS_MISTAKES)
def test_loss_mistake_is_named(says):
    with pytest.raises(AssertionError, match=says):
        check_diffusion_loss(LOSS_MISTAKES[says])


# ---------------------------------------------------------------------------------------------------------------
# The DDPM reverse step, written as learners write it: one right version with one thing changed.
# ---------------------------------------------------------------------------------------------------------------


def ddpm_step(schedule, x_k, eps, k, z, prev=None, variance="beta_tilde", noise_sign=1.0, clip=False,
              x0_alpha_bar=None, swap=False, last_step_noise=False):
    """The right step, or one with a mistake switched on."""
    beta_k, alpha_k, alpha_bar_k = schedule.betas[k], schedule.alphas[k], schedule.alpha_bars[k]
    alpha_bar_prev = prev(schedule, k) if prev else schedule.alpha_bars[k - 1]
    x0_pred = (x_k - (1 - alpha_bar_k).sqrt() * eps) / alpha_bar_k.sqrt()
    if clip:
        x0_pred = x0_pred.clamp(-1, 1)
    c0 = (x0_alpha_bar(schedule, k) if x0_alpha_bar else alpha_bar_prev).sqrt() * beta_k / (1 - alpha_bar_k)
    ct = alpha_k.sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar_k)
    mu = ct * x0_pred + c0 * x_k if swap else c0 * x0_pred + ct * x_k
    beta_tilde = (1 - alpha_bar_prev) / (1 - alpha_bar_k) * beta_k
    if last_step_noise and k == 1:
        # improved-diffusion's "clipped" variance puts beta_tilde_2 at k = 1; without its mask it adds noise there
        alpha_bar_1, alpha_bar_2 = schedule.alpha_bars[1], schedule.alpha_bars[2]
        return mu + ((1 - alpha_bar_1) / (1 - alpha_bar_2) * schedule.betas[2]).sqrt() * z
    sigma = {"beta_tilde": beta_tilde.sqrt(), "beta": beta_k.sqrt(), "no sqrt": beta_tilde}[variance]
    return mu + noise_sign * sigma * z


REVERSE_MISTAKES = {
    "you used alpha_bar_k where alpha_bar_{k-1} belongs": dict(prev=lambda s, k: s.alpha_bars[k]),
    r"you used alpha_bar_\{k-2\} where alpha_bar_\{k-1\} belongs": dict(prev=lambda s, k: s.alpha_bars[k - 2]),
    r"at k = 1 your step adds noise \(": dict(last_step_noise=True),
    "the noise has variance beta_k": dict(variance="beta"),
    "scaled by the variance beta_tilde_k": dict(variance="no sqrt"),
    "the noise is subtracted": dict(noise_sign=-1.0),
    r"clipping is off in this exercise \(DDPMSampler": dict(clip=True),
    "wrong x0_pred coefficient": dict(x0_alpha_bar=lambda s, k: s.alpha_bars[k]),
    "coefficients of mu_tilde are swapped": dict(swap=True),
}


@pytest.mark.parametrize("says", REVERSE_MISTAKES)
def test_reverse_step_mistake_is_named(says):
    assert check_reverse_step(ddpm_step).startswith("Correct")  # with no mistake switched on it is right
    with pytest.raises(AssertionError, match=says):
        check_reverse_step(lambda *args: ddpm_step(*args, **REVERSE_MISTAKES[says]))


REVERSE_OTHER_MISTAKES = {
    # eps enters the reference only through x0_pred, so -eps is x0_pred = (x_k + sqrt(1 - alpha_bar_k) eps) / ...
    "sign error in x0_pred": lambda s, x_k, eps, k, z: reference_reverse_step(s, x_k, -eps, k, z),
    "no noise was added": lambda s, x_k, eps, k, z: reference_reverse_step(s, x_k, eps, k, 0 * z),
    "you returned x0_pred": lambda s, x_k, eps, k, z: (x_k - (1 - s.alpha_bars[k]).sqrt() * eps)
    / s.alpha_bars[k].sqrt(),
    "square root on 1 - alpha_bar_k is missing": lambda s, x_k, eps, k, z: reverse_step_eps_form(s, x_k, eps, k, z,
                                                                                                 sqrt=False),
    "off by one: every table is read at k - 1, as in diffusers": lambda s, x_k, eps, k, z: reference_reverse_step(
        s, x_k, eps, k - 1, z),
    r"returned a tuple of 2: return only a tensor of shape \(4, 8, 2\)": lambda s, x_k, eps, k, z: (
        DDPMSampler(s, clip_sample=False).step(x_k, eps, k, k - 1, z)),
    r"returned shape \(4, 16\), expected \(4, 8, 2\)": lambda s, x_k, eps, k, z: reference_reverse_step(
        s, x_k, eps, k, z).reshape(4, -1),
    r"clipping is off": lambda s, x_k, eps, k, z: DDPMSampler(s).step(x_k, eps, k, k - 1, z)[0],
    r"(?s)raised IndexError.*k \+ 1 runs past the end": lambda s, x_k, eps, k, z: reference_reverse_step(
        s, x_k, eps, k, z) + 0 * s.alpha_bars[k + 1],
}


@pytest.mark.parametrize("says", REVERSE_OTHER_MISTAKES)
def test_reverse_step_other_mistake_is_named(says):
    with pytest.raises(AssertionError, match=says):
        check_reverse_step(REVERSE_OTHER_MISTAKES[says])


# ---------------------------------------------------------------------------------------------------------------
# The DDIM step.
# ---------------------------------------------------------------------------------------------------------------


def ddim_step(schedule, x_k, eps, k, s, shift=0, signal_k=False, direction_k=False, sign=1.0, clip=False):
    alpha_bar_k, alpha_bar_s = schedule.alpha_bars[k - shift], schedule.alpha_bars[s - shift]
    x0_pred = (x_k - (1 - alpha_bar_k).sqrt() * eps) / alpha_bar_k.sqrt()
    if clip:
        x0_pred = x0_pred.clamp(-1, 1)
    direction = (1 - (alpha_bar_k if direction_k else alpha_bar_s)).sqrt() * eps
    return (alpha_bar_k if signal_k else alpha_bar_s).sqrt() * x0_pred + sign * direction


DDIM_MISTAKES = {
    "every table is read one step early": lambda sch, x_k, eps, k, s: ddim_step(sch, x_k, eps, k, s, shift=1),
    "you used alpha_bar_k where alpha_bar_s belongs": lambda sch, x_k, eps, k, s: ddim_step(sch, x_k, eps, k, s,
                                                                                            signal_k=True),
    "you stepped to k - 1": lambda sch, x_k, eps, k, s: ddim_step(sch, x_k, eps, k, k - 1),
    "direction term uses alpha_bar_k": lambda sch, x_k, eps, k, s: ddim_step(sch, x_k, eps, k, s, direction_k=True),
    r"sign error: the direction term": lambda sch, x_k, eps, k, s: ddim_step(sch, x_k, eps, k, s, sign=-1.0),
    "clipping is off": lambda sch, x_k, eps, k, s: ddim_step(sch, x_k, eps, k, s, clip=True),
    "you returned x0_pred": lambda sch, x_k, eps, k, s: ddim_step(sch, x_k, eps, k, 0),
}


@pytest.mark.parametrize("says", DDIM_MISTAKES)
def test_ddim_mistake_is_named(says):
    assert check_ddim_step(ddim_step).startswith("Correct")
    with pytest.raises(AssertionError, match=says):
        check_ddim_step(DDIM_MISTAKES[says])
