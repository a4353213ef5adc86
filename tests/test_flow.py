"""Flow matching and reflow (dpedu/diffusion/flow.py, Trainer("flow"), Trainer("reflow"), FlowPolicy): the analytic
Gaussian case, diffusers' flow-matching Euler scheduler as the oracle, reflow's defining property (a straight path: one
Euler step lands where the teacher's ODE does), the common API (act, checkpoints, resume) and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dpedu import Trainer, load_policy
from dpedu.diffusion.flow import TIME_SCALE, EulerSampler, flow_loss, interpolate, network_time
from dpedu.networks.mlp import MLPDenoiser
from dpedu.policy import FlowPolicy
from dpedu.update import AdamWithEMA, fit

DETOUR = "dpedu/Detour-v0"
SMALL = {"hidden_dim": 32, "warmup_steps": 200, "n_action_steps": 8, "batch_size": 64}
MU, SIGMA = 0.3, 0.5  # the Gaussian target N(MU, SIGMA^2)


def exact_velocity(x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """v*(x, tau) = E[A - eps | A^tau = x] for A ~ N(MU, SIGMA^2), eps ~ N(0, 1), A^tau = (1 - tau) eps + tau A:
    A^tau ~ N(tau MU, s^2), s^2 = (1 - tau)^2 + tau^2 SIGMA^2, Cov(A - eps, A^tau) = tau SIGMA^2 - (1 - tau)."""
    tau = tau.reshape(-1, *([1] * (x.dim() - 1)))
    s2 = (1 - tau) ** 2 + tau**2 * SIGMA**2
    return MU + (tau * SIGMA**2 - (1 - tau)) / s2 * (x - tau * MU)


def as_model(velocity):
    """A field v(x, tau) as a network's call model(x, k, obs), k = network_time(tau)."""
    return lambda x, k, obs: velocity(x, (k - 1.0) / TIME_SCALE)


# ---------------------------------------------------------------- the analytic case


def test_the_exact_velocity_field_minimises_the_loss():
    g = torch.Generator().manual_seed(0)
    a0 = MU + SIGMA * torch.randn(200_000, 1, 1, generator=g)
    eps, tau = torch.randn(a0.shape, generator=g), torch.rand(a0.shape[0], generator=g)
    loss = {d: flow_loss(as_model(lambda x, t, d=d: exact_velocity(x, t) + d), None, a0, tau, eps).item()
            for d in (-0.05, 0.0, 0.05)}
    assert loss[0.0] < loss[-0.05] and loss[0.0] < loss[0.05]
    # E||(v* + d) - (A - eps)||^2 = E||v* - (A - eps)||^2 + d^2: the loss rises by d^2 either way
    assert loss[0.05] - loss[0.0] == pytest.approx(0.05**2, rel=0.2)


def test_euler_on_the_exact_field_carries_noise_to_the_gaussian_by_the_monotone_map():
    """The ODE of v* maps eps to MU + SIGMA eps exactly (A^tau = tau MU + s(tau) eps along it); Euler's error shrinks
    as 1/S (first order), sample by sample."""
    eps = torch.linspace(-3, 3, 61).reshape(-1, 1, 1)
    error = {S: (EulerSampler(S, clip_sample=False).sample(as_model(exact_velocity), eps.shape, x_K=eps)
                 - (MU + SIGMA * eps)).abs().max().item() for S in (250, 1000)}
    assert error[1000] < 5e-3
    assert error[250] / error[1000] == pytest.approx(4, rel=0.2)


def test_one_euler_step_on_the_exact_field_returns_the_mean():
    """v*(eps, 0) = MU - eps: one step lands on E[A] for every noise, the regression answer."""
    eps = torch.randn(100, 1, 1, generator=torch.Generator().manual_seed(1))
    a = EulerSampler(1, clip_sample=False).sample(as_model(exact_velocity), eps.shape, x_K=eps)
    torch.testing.assert_close(a, torch.full_like(a, MU), atol=1e-6, rtol=0)


def train_on(target, teacher=None, n_updates=600, seed=0):
    """A small MLP velocity network trained by flow_loss on chunks of one action (constant observation)."""
    torch.manual_seed(seed)
    model = MLPDenoiser(act_dim=1, action_horizon=1, obs_dim=1, obs_horizon=1, hidden_dim=64, n_layers=2)
    g = torch.Generator().manual_seed(seed)
    obs = torch.zeros(256, 1, 1)

    def batch():
        return obs, target(g)

    fit(AdamWithEMA(model, 3e-3, decay_steps=n_updates), lambda o, a0: flow_loss(model, o, a0, generator=g,
                                                                                  teacher=teacher), batch, n_updates)
    return model.eval()


def test_a_trained_network_samples_the_gaussian_target():
    model = train_on(lambda g: MU + SIGMA * torch.randn(256, 1, 1, generator=g))
    a = EulerSampler(20, clip_sample=False).sample(model, (4000, 1, 1), torch.zeros(4000, 1, 1),
                                                   torch.Generator().manual_seed(2))
    assert a.mean().item() == pytest.approx(MU, abs=0.05)
    assert a.std().item() == pytest.approx(SIGMA, abs=0.05)


def test_reflow_one_step_lands_where_the_teachers_ode_does():
    """Reflow's defining property. The teacher is the exact ODE map eps -> MU + SIGMA eps; the student, trained on
    those pairs, learns a straight field, so ONE Euler step gives each noise the teacher's answer (the flow it came
    from, one step, gives every noise the mean)."""
    model = train_on(lambda g: torch.zeros(256, 1, 1), teacher=lambda eps, obs: MU + SIGMA * eps,  # a0: shape only
                     n_updates=1500)
    eps = torch.linspace(-2, 2, 41).reshape(-1, 1, 1)
    one_step = EulerSampler(1, clip_sample=False).sample(model, eps.shape, torch.zeros(41, 1, 1), x_K=eps)
    assert (one_step - (MU + SIGMA * eps)).abs().max().item() < 0.08  # 0.05 measured: the fit's error, not Euler's
    flow_one_step = EulerSampler(1, clip_sample=False).sample(as_model(exact_velocity), eps.shape, x_K=eps)
    assert (flow_one_step - (MU + SIGMA * eps)).abs().max().item() > 0.9


# ---------------------------------------------------------------- diffusers as the oracle


def test_interpolation_and_euler_steps_match_diffusers_flow_match_scheduler():
    """diffusers' FlowMatchEulerDiscreteScheduler writes sigma = 1 - tau and a model output of eps - A = -v: the same
    path (scale_noise) and the same steps on the same time grid."""
    diffusers = pytest.importorskip("diffusers")
    S = 4
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    scheduler.set_timesteps(sigmas=[1.0 - i / S for i in range(S)])
    g = torch.Generator().manual_seed(3)
    a0, eps = torch.randn(5, 8, 2, generator=g), torch.randn(5, 8, 2, generator=g)
    for tau in (0.0, 0.25, 0.5, 0.75):
        theirs = scheduler.scale_noise(a0, torch.tensor([1000.0 * (1 - tau)]), eps)
        torch.testing.assert_close(interpolate(eps, a0, torch.full((5,), tau)), theirs)
    field = lambda x, tau: torch.sin(3 * x) + tau.reshape(-1, 1, 1) * x  # noqa: E731  any smooth field
    ours = EulerSampler(S, clip_sample=False).sample(as_model(field), eps.shape, x_K=eps, return_trajectory=True)[1]
    x = eps
    for i, t in enumerate(scheduler.timesteps):
        torch.testing.assert_close(x, ours[i])
        tau = torch.full((5,), 1.0 - t.item() / 1000.0)
        x = scheduler.step(-field(x, tau), t, x).prev_sample
    torch.testing.assert_close(x, ours[-1])


# ---------------------------------------------------------------- invariants


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 50), st.floats(-2, 2), st.integers(0, 2**31 - 1))
def test_a_constant_field_is_integrated_exactly_by_any_number_of_steps(steps, c, seed):
    eps = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(seed))
    a = EulerSampler(steps, clip_sample=False).sample(lambda x, k, o: torch.full_like(x, c), eps.shape, x_K=eps)
    torch.testing.assert_close(a, eps + c, atol=1e-5, rtol=1e-5)


@settings(max_examples=25, deadline=None)
@given(st.floats(0, 1), st.integers(0, 2**31 - 1))
def test_the_path_runs_from_the_noise_to_the_chunk_in_a_straight_line(tau, seed):
    g = torch.Generator().manual_seed(seed)
    eps, a0 = torch.randn(2, 3, 1, generator=g), torch.randn(2, 3, 1, generator=g)
    t = torch.full((2,), tau)
    torch.testing.assert_close(interpolate(eps, a0, torch.zeros(2)), eps)
    torch.testing.assert_close(interpolate(eps, a0, torch.ones(2)), a0)
    torch.testing.assert_close(interpolate(eps, a0, t), eps + tau * (a0 - eps))  # velocity a0 - eps everywhere


def test_the_network_sees_flow_time_over_ddpms_range_of_steps():
    assert network_time(torch.tensor([0.0, 0.5, 1.0])).tolist() == [1.0, 1.0 + TIME_SCALE / 2, 1.0 + TIME_SCALE]


# ---------------------------------------------------------------- the common API


@pytest.fixture(scope="module")
def flow_trainer():
    trainer = Trainer("flow", env=DETOUR, seed=0, config=SMALL, progress=False)
    trainer.train(600)
    return trainer


def test_flow_trains_and_acts_through_the_common_api(flow_trainer, tmp_path):
    policy = flow_trainer.policy
    assert isinstance(policy, FlowPolicy) and policy.algorithm == "flow"
    assert flow_trainer.n_updates == 401 and math.isfinite(flow_trainer.metrics()["loss"])
    action = policy.act(np.zeros(2, dtype=np.float32))
    assert action.shape == (2,) and np.isfinite(action).all()
    policy.configure(n_inference_steps=3, seed=5)
    windows = np.zeros((4, 2, 2), dtype=np.float32)
    chunk = policy.predict_chunk(windows)
    loaded = load_policy(policy.save(tmp_path / "flow.pt"))
    assert isinstance(loaded, FlowPolicy) and loaded.config.n_inference_steps == 3
    loaded.configure(seed=5)
    np.testing.assert_array_equal(loaded.predict_chunk(windows), chunk)
    actions, trajectory = loaded.denoise(windows[:1], n_samples=2)
    assert actions.shape == (2, 8, 2) and trajectory.shape == (4, 2, 8, 2)
    result = flow_trainer.evaluate(n_episodes=4)
    assert 0.0 <= result["success_rate"] <= 1.0


def test_reflow_distils_a_one_step_policy_and_resumes_bit_exactly(flow_trainer, tmp_path):
    teacher = flow_trainer.policy.configure(n_inference_steps=4)
    student = Trainer("reflow", env=DETOUR, seed=1, config=SMALL, progress=False, teacher=teacher)
    assert student.config.n_inference_steps == 1  # one step unless config says otherwise
    for p, q in zip(student.model.parameters(), flow_trainer.ema_model.parameters()):
        torch.testing.assert_close(p, q)  # reflow starts from the flow it straightens
    student.train(300)
    path = student.save(tmp_path / "reflow.pt")
    resumed = Trainer.load(path, progress=False)
    assert resumed.algorithm == "reflow" and isinstance(resumed.teacher, FlowPolicy)
    student.train(250)
    resumed.train(250)
    for p, q in zip(student.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(p, q, atol=0, rtol=0)
    policy = student.policy
    assert isinstance(policy, FlowPolicy) and policy.algorithm == "reflow"
    assert load_policy(policy.save(tmp_path / "one_step.pt")).algorithm == "reflow"
    # its normalisers are the teacher's: the student sees the world in the teacher's units
    torch.testing.assert_close(policy.obs_normalizer.low, teacher.obs_normalizer.low)


def test_the_reflow_target_is_the_teachers_plan_from_the_same_noise(flow_trainer):
    teacher = flow_trainer.policy.configure(n_inference_steps=4)
    student = Trainer("reflow", env=DETOUR, seed=1, config=SMALL, progress=False, teacher=teacher)
    eps = torch.randn(3, 8, 2, generator=torch.Generator().manual_seed(0))
    obs = torch.zeros(3, 2, 2)
    expected = teacher.sampler.sample(teacher.model, (3, 8, 2), obs, x_K=eps)
    torch.testing.assert_close(student._teacher_plan(eps, obs), expected)


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("make, error, match", [
    (lambda t: Trainer("reflow", env=DETOUR, config=SMALL), ValueError, r"distils a trained policy: give teacher="),
    (lambda t: Trainer("flow", env=DETOUR, config=SMALL, teacher=t.policy), ValueError,
     r"teacher= is for Trainer\('reflow'\)"),
    (lambda t: Trainer("reflow", env=DETOUR, config={**SMALL, "hidden_dim": 64}, teacher=t.policy), ValueError,
     r"reflow takes hidden_dim from its teacher \(32\); config says 64"),
    (lambda t: Trainer("reflow", env="dpedu/DetourPosition-v0", config=SMALL, teacher=t.policy), ValueError,
     r"the teacher was trained on 'dpedu/Detour-v0', the student learns on 'dpedu/DetourPosition-v0'"),
    (lambda t: Trainer("flow", env=DETOUR, config={**SMALL, "sampler": "ddim"}), ValueError,
     r"sampler='ddim' applies to Trainer\('diffusion'\) only, not to 'flow' \(flow matching has no noise schedule"),
    (lambda t: Trainer("flow", env=DETOUR, config={**SMALL, "noise_schedule": "linear"}), ValueError,
     r"noise_schedule='linear' applies to Trainer\('diffusion'\) only"),
    (lambda t: t.policy.configure(sampler="ddim"), ValueError, r"\['sampler'\] are fixed by the trained weights"),
    (lambda t: EulerSampler(0), ValueError, r"n_inference_steps must be an int >= 1 \(Euler steps per plan\), got 0"),
    (lambda t: FlowPolicy(t.config, t.model, t.obs_normalizer, t.act_normalizer, algorithm="ddpm"), ValueError,
     r"a FlowPolicy is trained by one of \('flow', 'reflow'\), got algorithm 'ddpm'"),
])
def test_bad_inputs_name_what_is_wrong_and_what_is_allowed(flow_trainer, make, error, match):
    with pytest.raises(error, match=match):
        make(flow_trainer)


def test_a_teacher_that_draws_fresh_noise_is_refused(tiny_trainer):
    """DDPM's plans are random given their starting noise: no deterministic coupling to straighten."""
    with pytest.raises(ValueError, match=r"a reflow teacher must map each noise to one plan"):
        Trainer("reflow", env="Pendulum-v1", teacher=tiny_trainer.policy)
    ddim = tiny_trainer.policy.configure(sampler="ddim", ddim_eta=0.0)
    student = Trainer("reflow", env="Pendulum-v1", seed=0, teacher=ddim, progress=False,
                      config={"warmup_steps": 200, "batch_size": 32, "learning_rate": 1e-3})
    student.train(260)  # a DDIM teacher (its network predicts noise, so the student starts from its own weights)
    assert student.policy.config.n_inference_steps == 1
    tiny_trainer.policy.configure(sampler="ddpm")


# ---------------------------------------------------------------- notebook 12's exercise


def test_the_flow_loss_exercise_accepts_right_answers_and_names_mistakes():
    from dpedu.course.exercises import check_flow_loss, reference_flow_loss
    from dpedu.course.exercises.flow_loss import FLOW_LOSS_MISTAKES

    assert check_flow_loss(reference_flow_loss).startswith("Correct")
    assert check_flow_loss(lambda m, obs, a0, tau, eps: flow_loss(m, obs, a0, tau, eps)).startswith("Correct")
    for mistake in FLOW_LOSS_MISTAKES:
        with pytest.raises(AssertionError) as raised:
            check_flow_loss(mistake.formula)
        assert mistake.says in str(raised.value)


# ---------------------------------------------------------------- notebook 12's record


def test_notebook_12s_record_covers_every_method_and_step_count():
    from dpedu.course.flow_plots import RECORD, read_record

    record = read_record(RECORD)
    want = {"ddpm": {1, 2, 5, 10}, "ddim": {1, 2, 5, 10}, "flow": {1, 2, 5, 10}, "reflow": {1, 2, 5, 10}}
    full_ddpm = {"toy": {50}, "detour": {50}, "pusht": {50, 100}}  # and K (and 50 where K = 100)
    for task in ("toy", "detour", "pusht"):
        seeds = sorted({r["seed"] for r in record if r["task"] == task})
        assert seeds == [0, 1, 2], (task, seeds)
        for seed in seeds:
            for method, steps in want.items():
                got = {r["steps"] for r in record if (r["task"], r["seed"], r["method"]) == (task, seed, method)}
                assert got == steps | (full_ddpm[task] if method == "ddpm" else set()), (task, seed, method, got)


@pytest.mark.parametrize("network", [{"network": "unet", "unet_dim": 8}, {"network": "transformer",
                                                                           "transformer_dim": 16}])
def test_flow_trains_the_other_denoisers_too(network):
    trainer = Trainer("flow", env=DETOUR, seed=0, config={**SMALL, **network, "warmup_steps": 150}, progress=False)
    trainer.train(200)
    plan = trainer.policy.configure(n_inference_steps=2).predict_chunk(np.zeros((3, 2, 2), dtype=np.float32))
    assert plan.shape == (3, 8, 2) and np.isfinite(plan).all() and math.isfinite(trainer.metrics()["loss"])
