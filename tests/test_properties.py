"""Property tests (hypothesis) that complement test_schedule.py, test_sampler.py and test_data.py.

Those already cover: schedule invariants for K <= 400 and beta_end <= 0.5, the respaced steps' length,
start and order, and the window rule of a single episode. Added here: the whole K = 1..1000 range and any
beta range (a schedule is either healthy or refused with a message), the forward process at eps = 0 and x0 = 0,
the step coefficients (finite, and mapping q(x^k | x^0) onto q(x^s | x^0) exactly), the window rule in a buffer of
several episodes (with FIFO eviction), and that the policy's observation history pads as training does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dpedu.data import ReplayBuffer, window_indices
from dpedu.diffusion.sampler import DDIMSampler, DDPMSampler, respaced_timesteps
from dpedu.diffusion.schedule import NoiseSchedule, cosine_betas, linear_betas
from dpedu.policy import RecedingHorizon

KINDS = st.sampled_from(["linear", "cosine"])
FAST = settings(max_examples=80, deadline=None)


@st.composite
def beta_ranges(draw):
    """0 < beta_start < beta_end < 1, log-uniform-ish from 1e-6 up to 0.999 (any range DPConfig's types allow)."""
    start = 10 ** draw(st.floats(-6, -1))
    end = draw(st.floats(start * 1.001, 0.999)) if start * 1.001 < 0.999 else 0.999
    return start, end


def schedule_or_refusal(T, kind, beta_start, beta_end):
    """The schedule, or None after checking that a refusal is justified and says what to change."""
    try:
        return NoiseSchedule(T, kind, beta_start=beta_start, beta_end=beta_end)
    except ValueError as e:
        assert kind == "linear"  # the cosine schedule always fits in float32
        alpha_bar_end = torch.cumprod(1 - torch.linspace(beta_start, beta_end, T, dtype=torch.float64), 0)[-1]
        assert alpha_bar_end < 1e-37, f"refused a healthy schedule: {e}"  # float32's smallest normal is 1.2e-38
        assert f"n_steps={T}" in str(e) and "beta_end" in str(e) and "lower beta_end or n_steps" in str(e)
        return None


# ------------------------------------------------------------------ the noise schedule


@FAST
@given(T=st.integers(1, 1000), kind=KINDS, betas=beta_ranges())
def test_schedule_over_all_T_and_beta_ranges(T, kind, betas):
    s = schedule_or_refusal(T, kind, *betas)
    if s is None:
        return
    assert s.betas.shape == s.alphas.shape == s.alpha_bars.shape == (T + 1,)
    assert (s.betas[0], s.alphas[0], s.alpha_bars[0]) == (0, 1, 1)  # entry 0: the clean sample
    assert torch.all((s.betas[1:] > 0) & (s.betas[1:] < 1))
    assert torch.all((s.alpha_bars > 0) & (s.alpha_bars <= 1))
    assert torch.all(s.alpha_bars[1:] < s.alpha_bars[:-1])  # noise grows with k
    # alpha_k = 1 - beta_k and alpha_bar_k = prod_{i <= k} alpha_i, from the float64 betas of the definition
    betas64 = linear_betas(T, *betas) if kind == "linear" else cosine_betas(T)  # beta_1..beta_K
    torch.testing.assert_close(s.betas[1:], betas64.float(), rtol=1e-6, atol=0)
    torch.testing.assert_close(s.alphas[1:], (1 - betas64).float(), rtol=1e-6, atol=0)
    torch.testing.assert_close(s.alpha_bars[1:], torch.cumprod(1 - betas64, 0).float(), rtol=1e-6, atol=1e-44)
    if kind == "linear":
        assert s.betas[1].item() == pytest.approx(betas[0], rel=1e-6)
        assert s.betas[-1].item() == pytest.approx(betas[1] if T > 1 else betas[0], rel=1e-6)
        assert torch.all(s.betas[2:] >= s.betas[1:-1])


@FAST
@given(T=st.integers(1, 1000), kind=KINDS, betas=beta_ranges(), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_add_noise_at_the_extremes(T, kind, betas, seed, data):
    s = schedule_or_refusal(T, kind, *betas)
    if s is None:
        return
    g = torch.Generator().manual_seed(seed)
    B = data.draw(st.integers(1, 8))
    x0 = torch.rand(B, 4, 2, generator=g) * 2 - 1
    eps = torch.randn(B, 4, 2, generator=g)
    k = torch.randint(0, T + 1, (B,), generator=g)
    alpha_bar = s.alpha_bars_f64[k].view(B, 1, 1)
    # eps = 0: x^k is the scaled data sqrt(alpha_bar_k) x0; x0 = 0: x^k is the scaled noise sqrt(1 - alpha_bar_k) eps.
    torch.testing.assert_close(s.add_noise(x0, k, torch.zeros_like(eps)), (alpha_bar.sqrt() * x0).float(),
                               rtol=1e-6, atol=1e-30)
    torch.testing.assert_close(s.add_noise(torch.zeros_like(x0), k, eps), ((1 - alpha_bar).sqrt() * eps).float(),
                               rtol=1e-6, atol=1e-30)
    # One scalar k for the whole batch means the same as that k repeated; k = 0 is the clean sample itself.
    k0 = data.draw(st.integers(0, T))
    torch.testing.assert_close(s.add_noise(x0, torch.tensor(k0), eps), s.add_noise(x0, torch.full((B,), k0), eps))
    assert torch.equal(s.add_noise(x0, torch.tensor(0), eps), x0)


# ------------------------------------------------------------------ the samplers


@FAST
@given(T=st.integers(1, 1000), data=st.data())
def test_respaced_timesteps_are_a_strictly_decreasing_subset(T, data):
    S = data.draw(st.integers(1, T))
    ks = respaced_timesteps(T, S)
    assert len(ks) == S == len(set(ks))
    assert ks[0] == T and ks[-1] >= 1
    assert all(a > b for a, b in zip(ks, ks[1:]))
    assert all(isinstance(k, int) for k in ks)
    sampler = DDPMSampler(NoiseSchedule(T), S)
    assert sampler.timesteps.tolist() == ks and sampler.n_inference_steps == S
    assert sampler.steps == list(zip(ks, ks[1:] + [0]))  # the last step lands on the clean sample, s = 0


@FAST
@given(T=st.integers(1, 1000), kind=KINDS, betas=beta_ranges(), eta=st.floats(0, 1), data=st.data())
def test_step_coefficients_are_finite_and_map_marginals_exactly(T, kind, betas, eta, data):
    """x^s = a x0 + b x^k + c eps + sigma z applied to x^k ~ q(x^k | x0) gives x^s ~ q(x^s | x0): mean and variance.

    With x^k = sqrt(ab_k) x0 + sqrt(1 - ab_k) eps (and eps the model's exact noise prediction):
        mean:      a + b sqrt(ab_k) = sqrt(ab_s)
        variance:  (b sqrt(1 - ab_k) + c)^2 + sigma^2 = 1 - ab_s
    """
    s = schedule_or_refusal(T, kind, *betas)
    if s is None:
        return
    S = data.draw(st.integers(1, T))
    for sampler in (DDPMSampler(s, S), DDIMSampler(s, S, eta=eta)):
        visited = sampler.timesteps.tolist()
        for k, prev in zip(visited, visited[1:] + [0]):
            a, b, c, sigma = sampler.coefficients(k, prev)
            assert all(math.isfinite(v) for v in (a, b, c, sigma)), (type(sampler).__name__, k, prev)
            assert sigma >= 0
            ab_k, ab_s = sampler.alpha_bar(k), sampler.alpha_bar(prev)
            assert a + b * math.sqrt(ab_k) == pytest.approx(math.sqrt(ab_s), rel=1e-6, abs=1e-9)
            assert (b * math.sqrt(1 - ab_k) + c) ** 2 + sigma**2 == pytest.approx(1 - ab_s, rel=1e-6, abs=1e-9)
        assert sampler.coefficients(visited[-1], 0)[3] == 0.0  # the last step adds no noise


# ------------------------------------------------------------------ windows in a buffer of several episodes


def expected_windows(t: int, first: int, last: int, To: int, H: int) -> tuple[list[int], list[int]]:
    """The index rule written out plainly: o[t-To+1 .. t] clamped at first, a[t .. t+H-1] clamped at last."""
    return [max(i, first) for i in range(t - To + 1, t + 1)], [min(i, last) for i in range(t, t + H)]


episodes_st = st.lists(st.integers(1, 25), min_size=1, max_size=6)


@FAST
@given(lengths=episodes_st, To=st.integers(1, 6), H=st.integers(1, 12))
def test_window_indices_batched_over_several_episodes(lengths, To, H):
    starts = np.cumsum([0] + lengths[:-1])
    t, first, last = [], [], []
    for start, n in zip(starts, lengths):
        for step in range(start, start + n):
            t.append(step), first.append(start), last.append(start + n - 1)
    obs_idx, act_idx = window_indices(torch.tensor(t), torch.tensor(first), torch.tensor(last), To, H)
    assert obs_idx.shape == (len(t), To) and act_idx.shape == (len(t), H)
    for row, (step, lo, hi) in enumerate(zip(t, first, last)):
        exp_obs, exp_act = expected_windows(step, lo, hi, To, H)
        assert obs_idx[row].tolist() == exp_obs and act_idx[row].tolist() == exp_act


@FAST
@given(lengths=episodes_st, To=st.integers(1, 6), H=st.integers(1, 12), spare=st.integers(-40, 20),
       seed=st.integers(0, 2**31 - 1))
def test_buffer_windows_never_cross_an_episode_boundary(lengths, To, H, spare, seed):
    """Steps encode their running index (obs = i, act = i + 0.5), so each window says which steps it holds."""
    total = sum(lengths)
    # spare < 0: the FIFO has pushed out the oldest steps. (An episode longer than the whole buffer keeps only its
    # newest steps and is re-indexed, so the running indices would no longer be the ones encoded here.)
    capacity = max(max(lengths), total + spare)
    buf = ReplayBuffer(capacity, obs_dim=1, act_dim=1)
    edges, start = [], 0
    for n in lengths:
        idx = np.arange(start, start + n, dtype=np.float32)[:, None]
        buf.add_episode(idx, idx + 0.5)
        edges.append((start, start + n - 1))
        start += n
    oldest = max(0, total - capacity)
    assert len(buf) == min(total, capacity) and buf.oldest == oldest
    obs, act = buf.sample(256, To, H, generator=torch.Generator().manual_seed(seed))
    assert obs.shape == (256, To, 1) and act.shape == (256, H, 1)
    for o, a in zip(obs[:, :, 0].long().tolist(), (act[:, :, 0] - 0.5).long().tolist()):
        t = o[-1]
        assert a[0] == t  # both windows are anchored at the sampled step
        first, last = next((max(lo, oldest), hi) for lo, hi in edges if lo <= t <= hi)  # cut episodes start later
        exp_obs, exp_act = expected_windows(t, first, last, To, H)
        assert o == exp_obs and a == exp_act
        assert first <= min(o) and max(a) <= last and min(o) >= oldest  # inside its episode, nothing evicted


@FAST
@given(L=st.integers(1, 30), To=st.integers(1, 6), n_envs=st.integers(1, 3), seed=st.integers(0, 1000))
def test_policy_history_pads_like_training_windows(L, To, n_envs, seed):
    """At step t of an episode the policy plans from exactly the window that training uses for step t."""
    obs = np.random.default_rng(seed).normal(size=(L, n_envs, 2)).astype(np.float32)
    seen = []

    def plan(history):  # (N, To, obs_dim) -> (N, 1, act_dim)
        seen.append(history.copy())
        return np.zeros((history.shape[0], 1, 1), np.float32)

    queue = RecedingHorizon(To, n_action_steps=1)  # re-plans every step
    for step in range(L):
        queue.act(obs[step], plan)
    for step in range(L):
        obs_idx, _ = window_indices(torch.tensor([step]), torch.tensor([0]), torch.tensor([L - 1]), To, 1)
        np.testing.assert_array_equal(seen[step], obs[obs_idx[0].numpy()].transpose(1, 0, 2))
