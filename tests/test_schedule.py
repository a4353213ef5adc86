"""NoiseSchedule against diffusers' DDPMScheduler, and its invariants."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dpedu.diffusion.schedule import NoiseSchedule

diffusers = pytest.importorskip("diffusers")

DIFFUSERS_NAME = {"linear": "linear", "cosine": "squaredcos_cap_v2"}


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("T", [1, 2, 10, 50, 100, 1000])
def test_schedule_matches_diffusers(kind, T):
    ours = NoiseSchedule(T, kind, beta_start=1e-4, beta_end=0.02)
    ref = diffusers.DDPMScheduler(
        num_train_timesteps=T, beta_schedule=DIFFUSERS_NAME[kind], beta_start=1e-4, beta_end=0.02
    )
    torch.testing.assert_close(ours.betas, ref.betas, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.alphas, ref.alphas, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.alpha_bars, ref.alphas_cumprod, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_add_noise_matches_diffusers(kind):
    T = 50
    ours = NoiseSchedule(T, kind)
    ref = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=DIFFUSERS_NAME[kind])
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(16, 8, 1, generator=g) * 2 - 1
    eps = torch.randn(16, 8, 1, generator=g)
    t = torch.randint(0, T, (16,), generator=g)
    torch.testing.assert_close(ours.add_noise(x0, t, eps), ref.add_noise(x0, eps, t), atol=1e-6, rtol=0)


@settings(max_examples=60, deadline=None)
@given(
    T=st.integers(1, 400),
    kind=st.sampled_from(["linear", "cosine"]),
    beta_start=st.floats(1e-5, 1e-2),
    ratio=st.floats(1.01, 40.0),
)
def test_schedule_invariants(T, kind, beta_start, ratio):
    s = NoiseSchedule(T, kind, beta_start=beta_start, beta_end=min(beta_start * ratio, 0.5))
    assert s.betas.shape == s.alphas.shape == s.alpha_bars.shape == (T,)
    assert torch.all((s.betas > 0) & (s.betas <= 0.999))
    # alpha_bar strictly decreases: noise grows with t.
    assert torch.all(s.alpha_bars[1:] < s.alpha_bars[:-1])
    assert torch.all((s.alpha_bars > 0) & (s.alpha_bars < 1))
    torch.testing.assert_close(s.sqrt_alpha_bars**2 + s.sqrt_one_minus_alpha_bars**2, torch.ones(T))


def test_at_T_50_cosine_ends_in_noise_and_linear_leaves_signal():
    cos, lin = NoiseSchedule(50, "cosine"), NoiseSchedule(50, "linear")
    # Why the course uses cosine at T = 50: linear's betas (1e-4..0.02, made for T = 1000) leave alpha_bar_{T-1} = 0.6,
    # so x_{T-1} is far from the N(0, I) the sampler starts from; cosine reaches ~1e-6. Linear keeps more signal at
    # every t at this T (it is the cosine schedule that is gentler only at T = 1000, Nichol & Dhariwal fig. 5).
    assert cos.alpha_bars[-1] < 1e-5 and lin.alpha_bars[-1] > 0.5
    assert torch.all(lin.alpha_bars > cos.alpha_bars)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_steps=0), "n_steps"),
        (dict(n_steps=True), "n_steps"),
        (dict(n_steps=2.5), "n_steps"),
        (dict(kind="quadratic"), "kind"),
        (dict(kind="linear", beta_start=0.02, beta_end=0.01), "beta_start"),
    ],
)
def test_schedule_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NoiseSchedule(**kwargs)
