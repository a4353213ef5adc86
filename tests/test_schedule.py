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
    """Our entry k is diffusers' entry k - 1: their tables start at the first noising step, ours at the clean sample."""
    ours = NoiseSchedule(T, kind, beta_start=1e-4, beta_end=0.02)
    ref = diffusers.DDPMScheduler(
        num_train_timesteps=T, beta_schedule=DIFFUSERS_NAME[kind], beta_start=1e-4, beta_end=0.02
    )
    torch.testing.assert_close(ours.betas[1:], ref.betas, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.alphas[1:], ref.alphas, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.alpha_bars[1:], ref.alphas_cumprod, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("K", [1, 7, 50])
def test_tables_have_length_K_plus_1_with_the_clean_sample_at_0(kind, K):
    s = NoiseSchedule(K, kind)
    for table in (s.betas, s.alphas, s.alpha_bars, s.sqrt_alpha_bars, s.sqrt_one_minus_alpha_bars, s.alpha_bars_f64):
        assert table.shape == (K + 1,)
    assert (s.betas[0], s.alphas[0], s.alpha_bars[0], s.alpha_bars_f64[0]) == (0.0, 1.0, 1.0, 1.0)
    assert (s.sqrt_alpha_bars[0], s.sqrt_one_minus_alpha_bars[0]) == (1.0, 0.0)
    snr = s.snr()
    assert snr.shape == (K + 1,) and snr[0] == float("inf") and torch.isfinite(snr[1:]).all()


def test_add_noise_at_k_0_returns_the_clean_sample_exactly():
    s = NoiseSchedule(50)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(6, 8, 2, generator=g), torch.randn(6, 8, 2, generator=g)
    assert torch.equal(s.add_noise(x0, torch.zeros(6, dtype=torch.long), eps), x0)
    assert torch.equal(s.add_noise(x0, torch.tensor(0), eps), x0)
    assert not torch.equal(s.add_noise(x0, torch.ones(6, dtype=torch.long), eps), x0)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_add_noise_matches_diffusers(kind):
    T = 50
    ours = NoiseSchedule(T, kind)
    ref = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=DIFFUSERS_NAME[kind])
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(16, 8, 1, generator=g) * 2 - 1
    eps = torch.randn(16, 8, 1, generator=g)
    k = torch.randint(1, T + 1, (16,), generator=g)
    torch.testing.assert_close(ours.add_noise(x0, k, eps), ref.add_noise(x0, eps, k - 1), atol=1e-6, rtol=0)


@settings(max_examples=60, deadline=None)
@given(
    T=st.integers(1, 400),
    kind=st.sampled_from(["linear", "cosine"]),
    beta_start=st.floats(1e-5, 1e-2),
    ratio=st.floats(1.01, 40.0),
)
def test_schedule_invariants(T, kind, beta_start, ratio):
    s = NoiseSchedule(T, kind, beta_start=beta_start, beta_end=min(beta_start * ratio, 0.5))
    assert s.betas.shape == s.alphas.shape == s.alpha_bars.shape == (T + 1,)
    assert s.betas[0] == 0 and torch.all((s.betas[1:] > 0) & (s.betas[1:] <= 0.999))
    # alpha_bar strictly decreases from alpha_bar_0 = 1: noise grows with k.
    assert torch.all(s.alpha_bars[1:] < s.alpha_bars[:-1])
    assert s.alpha_bars[0] == 1 and torch.all((s.alpha_bars[1:] > 0) & (s.alpha_bars[1:] < 1))
    torch.testing.assert_close(s.sqrt_alpha_bars**2 + s.sqrt_one_minus_alpha_bars**2, torch.ones(T + 1))


def test_at_K_50_cosine_ends_in_noise_and_linear_leaves_signal():
    cos, lin = NoiseSchedule(50, "cosine"), NoiseSchedule(50, "linear")
    # Why the course uses cosine at K = 50: linear's betas (1e-4..0.02, made for K = 1000) leave alpha_bar_K = 0.6,
    # so x^K is far from the N(0, I) the sampler starts from; cosine reaches ~1e-6. Linear keeps more signal at
    # every k >= 1 at this K (it is the cosine schedule that is gentler only at K = 1000, Nichol & Dhariwal fig. 5).
    assert cos.alpha_bars[-1] < 1e-5 and lin.alpha_bars[-1] > 0.5
    assert torch.all(lin.alpha_bars[1:] > cos.alpha_bars[1:])


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
