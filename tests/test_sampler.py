"""The samplers: single steps equal diffusers', respacing is exact, trajectories have the right shape."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dpedu.diffusion.sampler import DDIMSampler, DDPMSampler, make_sampler, respaced_timesteps
from dpedu.diffusion.schedule import NoiseSchedule

diffusers = pytest.importorskip("diffusers")
DIFFUSERS_NAME = {"linear": "linear", "cosine": "squaredcos_cap_v2"}


# Float32 error of one reverse step, elementwise. Both implementations compute
#     x0_pred = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t),  |x0_pred| <= M = (|x_t| + sqrt(1 - ab_t) |eps|) / sqrt(ab_t)
# in float32, so x0_pred carries an error of c u M (u: float32's machine epsilon). M is large where ab_t is
# small (1 / sqrt(ab_49) = 1e3 on the cosine schedule), which is why a fixed 1e-5 fails there. c counts the
# roundings on the path (a few) plus the relative error of diffusers' alpha_bar table, a float32 cumprod of
# T factors (up to ~T u; ours is float64). The step then scales x0_pred by its coefficient a (sqrt(ab_s)
# for DDIM, ~0.3 from t = 49 to s = 39) and adds b x_t + c' eps + sigma z, each O(1), rounded once more.
# One more term where ab_t ~ 1 (t = 0 of the linear schedule, ab_0 = 0.9999): diffusers forms 1 - ab_t in
# float32, a cancellation with relative error ~u / (1 - ab_t), which puts ~u |eps| / sqrt(1 - ab_t) into x0_pred.
U32 = torch.finfo(torch.float32).eps


def assert_step_close(got, expected, x0, expected_x0, x_t, eps, alpha_bar_t, a, T=50):
    """Our step against diffusers', within the float32 error bound above."""
    c = 8 + T
    M = (x_t.abs() + math.sqrt(1 - alpha_bar_t) * eps.abs()) / math.sqrt(alpha_bar_t)
    x0_bound = c * U32 * M + U32 * eps.abs() / math.sqrt(1 - alpha_bar_t)
    assert ((x0 - expected_x0).abs() <= x0_bound).all(), ((x0 - expected_x0).abs() - x0_bound).max()
    bound = abs(a) * x0_bound + c * U32 * (x_t.abs() + eps.abs() + expected.abs())
    assert ((got - expected).abs() <= bound).all(), ((got - expected).abs() - bound).max()


def reference(cls, T, kind, clip=True):
    return cls(num_train_timesteps=T, beta_schedule=DIFFUSERS_NAME[kind], clip_sample=clip, timestep_spacing="trailing")


@pytest.mark.parametrize("T, S", [(50, 1), (50, 5), (50, 10), (50, 50), (100, 7), (1000, 10), (10, 3)])
def test_timesteps_match_diffusers_trailing(T, S):
    ref = reference(diffusers.DDPMScheduler, T, "cosine")
    ref.set_timesteps(S)
    assert respaced_timesteps(T, S) == ref.timesteps.tolist()
    assert DDPMSampler(NoiseSchedule(T), S).timesteps.tolist() == ref.timesteps.tolist()


@settings(max_examples=100, deadline=None)
@given(T=st.integers(1, 1000), data=st.data())
def test_timesteps_invariants(T, data):
    S = data.draw(st.integers(1, T))
    ts = respaced_timesteps(T, S)
    assert len(ts) == S and ts[0] == T - 1 and ts[-1] >= 0
    assert all(a > b for a, b in zip(ts, ts[1:]))
    if S == T:
        assert ts == list(range(T - 1, -1, -1))


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("clip", [True, False])
@pytest.mark.parametrize("S", [1, 5, 10, 50])
def test_ddpm_steps_match_diffusers(kind, clip, S):
    T = 50
    ours = DDPMSampler(NoiseSchedule(T, kind), S, clip_sample=clip)
    ref = reference(diffusers.DDPMScheduler, T, kind, clip)
    ref.set_timesteps(S)
    g = torch.Generator().manual_seed(S)
    x = torch.randn(4, 8, 2, generator=g)
    for t, s in ours.steps:
        eps = torch.randn(4, 8, 2, generator=g)
        seed = 1000 + t
        expected = ref.step(eps, t, x, generator=torch.Generator().manual_seed(seed))
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
        got, x0 = ours.step(x, eps, t, s, z=noise)
        # diffusers adds sqrt(1e-20) * noise at the last step; we return the posterior mean: 1e-10 apart,
        # inside the bound's K u term.
        a = ours.coefficients(t, s)[0]
        assert_step_close(got, expected.prev_sample, x0, expected.pred_original_sample, x, eps,
                          float(ours.schedule.alpha_bars_f64[t]), a)
        x = expected.prev_sample  # compare single steps from the same input


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("S", [1, 5, 10, 50])
def test_ddim_steps_match_diffusers(kind, eta, S):
    T = 50  # S divides T: diffusers' DDIM steps to t - T // S, which is then the next visited step
    ours = DDIMSampler(NoiseSchedule(T, kind), S, eta=eta)
    ref = reference(diffusers.DDIMScheduler, T, kind)
    ref.set_timesteps(S)
    g = torch.Generator().manual_seed(S)
    x = torch.randn(4, 8, 2, generator=g)
    for t, s in ours.steps:
        eps = torch.randn(4, 8, 2, generator=g)
        seed = 2000 + t
        expected = ref.step(eps, t, x, eta=eta, generator=torch.Generator().manual_seed(seed))
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
        got, x0 = ours.step(x, eps, t, s, z=noise)
        a = ours.coefficients(t, s)[0]  # sqrt(alpha_bar_s): scales x0_pred's float32 error into x_s
        assert_step_close(got, expected.prev_sample, x0, expected.pred_original_sample, x, eps,
                          float(ours.schedule.alpha_bars_f64[t]), a)
        x = expected.prev_sample  # compare single steps from the same input


def point_mass_denoiser(schedule, x0_star):
    """The exact eps-predictor when all data equal x0_star: eps = (x_t - sqrt(ab_t) x0*) / sqrt(1 - ab_t)."""

    def model(x_t, t, cond):
        shape = (-1,) + (1,) * (x_t.dim() - 1)
        return (x_t - schedule.sqrt_alpha_bars[t].view(shape) * x0_star) / schedule.sqrt_one_minus_alpha_bars[t].view(
            shape
        )

    return model


@pytest.mark.parametrize("S", [1, 5, 10, 50])
@pytest.mark.parametrize(
    "make",
    [lambda s, S: DDPMSampler(s, S), lambda s, S: DDIMSampler(s, S, eta=0.0), lambda s, S: DDIMSampler(s, S, eta=1.0)],
)
def test_respaced_sampling_recovers_the_data_exactly(S, make):
    schedule = NoiseSchedule(50, "cosine")
    x0_star = torch.tensor([[0.5], [-0.25], [0.9]])  # (H=3, D=1)
    sampler = make(schedule, S)
    x0, traj = sampler.sample(
        point_mass_denoiser(schedule, x0_star),
        (256, 3, 1),
        generator=torch.Generator().manual_seed(0),
        return_trajectory=True,
    )
    assert traj.shape == (S + 1, 256, 3, 1)
    # S = 1 divides by sqrt(alpha_bar_49) = 1e-3 in float32: 1e-3 is the float32 floor there.
    torch.testing.assert_close(x0, x0_star.expand(256, 3, 1), atol=1e-3 if S == 1 else 1e-5, rtol=0)


@pytest.mark.parametrize("S", [5, 10, 50])
def test_respaced_ddpm_marginals_are_the_forward_marginals(S):
    """With the exact denoiser, x at each visited step t is distributed as q(x_t | x0*) = N(sqrt(ab_t) x0*, 1-ab_t)."""
    schedule = NoiseSchedule(50, "cosine")
    x0_star = torch.tensor([[0.7]])
    sampler = DDPMSampler(schedule, S)
    _, traj = sampler.sample(
        point_mass_denoiser(schedule, x0_star),
        (40_000, 1, 1),
        generator=torch.Generator().manual_seed(1),
        return_trajectory=True,
    )
    for k, t in enumerate(sampler.timesteps.tolist()):
        x = traj[k].flatten().double()
        ab = float(schedule.alpha_bars[t])
        assert abs(x.mean() - math.sqrt(ab) * 0.7) < 0.02, (t, x.mean())
        assert abs(x.var() - (1 - ab)) < 0.03, (t, x.var())


def test_one_step_update_at_skipped_steps_is_wrong():
    """The bug this package must not have: stepping a strided chain with the one-step beta_t."""
    schedule = NoiseSchedule(50, "cosine")
    x0_star = torch.tensor([[0.7]])
    model = point_mass_denoiser(schedule, x0_star)

    class OneStepDDPM(DDPMSampler):
        def coefficients(self, t, s):
            return super().coefficients(t, t - 1)

    g = torch.Generator().manual_seed(0)
    wrong = OneStepDDPM(schedule, 10).sample(model, (4096, 1, 1), generator=g)
    right = DDPMSampler(schedule, 10).sample(model, (4096, 1, 1), generator=g)
    torch.testing.assert_close(right, x0_star.expand(4096, 1, 1), atol=1e-5, rtol=0)
    assert (wrong - 0.7).abs().mean() > 0.05


def test_ddim_eta_one_has_ddpm_variance():
    s = NoiseSchedule(50, "linear")
    ddpm, ddim = DDPMSampler(s, 10), DDIMSampler(s, 10, eta=1.0)
    for t, p in ddpm.steps:
        assert math.isclose(ddpm.coefficients(t, p)[3], ddim.coefficients(t, p)[3], rel_tol=1e-9, abs_tol=1e-12)


def test_sampling_is_reproducible_with_a_generator_and_accepts_x_T():
    s = NoiseSchedule(20)
    model = point_mass_denoiser(s, torch.zeros(1, 1))
    a = DDPMSampler(s, 5).sample(
        lambda x, t, c: 0.9 * model(x, t, c), (8, 2, 1), generator=torch.Generator().manual_seed(3)
    )
    b = DDPMSampler(s, 5).sample(
        lambda x, t, c: 0.9 * model(x, t, c), (8, 2, 1), generator=torch.Generator().manual_seed(3)
    )
    assert torch.equal(a, b)
    x_T = torch.randn(8, 2, 1)
    c1 = DDIMSampler(s, 5).sample(lambda x, t, c: 0.9 * model(x, t, c), (8, 2, 1), x_T=x_T)
    c2 = DDIMSampler(s, 5).sample(lambda x, t, c: 0.9 * model(x, t, c), (8, 2, 1), x_T=x_T)
    assert torch.equal(c1, c2)
    with pytest.raises(ValueError, match="x_T"):
        DDIMSampler(s, 5).sample(model, (8, 2, 1), x_T=torch.zeros(3))


@pytest.mark.parametrize(
    "build, exc, match",
    [
        (lambda s: DDPMSampler(s, 0), ValueError, "n_inference_steps"),
        (lambda s: DDPMSampler(s, 51), ValueError, "n_inference_steps"),
        (lambda s: DDPMSampler(s, 2.0), TypeError, "n_inference_steps"),
        (lambda s: DDIMSampler(s, 10, eta=1.5), ValueError, "eta"),
        (lambda s: DDPMSampler("cosine", 10), TypeError, "NoiseSchedule"),
        (lambda s: make_sampler("euler", s, 10), ValueError, "sampler"),
        (lambda s: make_sampler("ddpm", s, 10, eta=0.5), ValueError, "eta"),
    ],
)
def test_sampler_bad_input(build, exc, match):
    with pytest.raises(exc, match=match):
        build(NoiseSchedule(50))


@pytest.mark.parametrize("clip", [True, False])
@pytest.mark.parametrize("make", [lambda s: DDPMSampler(s, 10), lambda s: DDIMSampler(s, 10, eta=0.0),
                                  lambda s: DDIMSampler(s, 7, eta=0.6), lambda s: DDPMSampler(s, 50)])
def test_the_fast_loop_takes_the_literal_step(make, clip):
    """sample() runs _fused_step (fewer kernels); it must be `step`, the formulas as written, to float rounding."""
    sampler = make(NoiseSchedule(50, "cosine"))
    sampler.clip_sample = clip
    g = torch.Generator().manual_seed(0)
    for (t, s), c in zip(sampler.steps, sampler._coefficients):
        x, eps, z = (torch.randn(16, 8, 2, generator=g) for _ in range(3))
        literal, _ = sampler.step(x, eps, t, s, z)
        fused = sampler._fused_step(x, eps, t, c, z if c.sigma > 0 else None)
        torch.testing.assert_close(fused, literal, rtol=1e-5, atol=1e-6 / math.sqrt(sampler.alpha_bar(t)))
