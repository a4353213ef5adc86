"""The window index rule, the normaliser, and the FIFO buffer."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dpedu.data import Normalizer, ReplayBuffer, window_indices


def test_window_rule_in_the_middle_of_an_episode():
    # Episode steps 0..99, sample at t = 10, To = 2, H = 8.
    obs_idx, act_idx = window_indices(torch.tensor([10]), torch.tensor([0]), torch.tensor([99]), 2, 8)
    assert obs_idx.tolist() == [[9, 10]]  # o[t-1], o[t]: the present observation is the last
    assert act_idx.tolist() == [[10, 11, 12, 13, 14, 15, 16, 17]]  # a[t] .. a[t+7]: starts at the present


def test_window_rule_pads_at_episode_edges():
    # Start of an episode: the first observation repeats; end: the last action repeats.
    obs_idx, act_idx = window_indices(torch.tensor([100, 197]), torch.tensor([100, 100]),
                                      torch.tensor([199, 199]), 3, 5)
    assert obs_idx.tolist() == [[100, 100, 100], [195, 196, 197]]
    assert act_idx.tolist() == [[100, 101, 102, 103, 104], [197, 198, 199, 199, 199]]


@settings(max_examples=200, deadline=None)
@given(first=st.integers(0, 1000), length=st.integers(1, 300), To=st.integers(1, 10), H=st.integers(1, 20),
       data=st.data())
def test_window_rule_properties(first, length, To, H, data):
    last = first + length - 1
    t = data.draw(st.integers(first, last))
    obs_idx, act_idx = window_indices(torch.tensor([t]), torch.tensor([first]), torch.tensor([last]), To, H)
    obs_idx, act_idx = obs_idx[0].tolist(), act_idx[0].tolist()
    assert len(obs_idx) == To and len(act_idx) == H
    assert obs_idx[-1] == t and act_idx[0] == t  # both windows are anchored at the present step t
    assert all(first <= i <= last for i in obs_idx + act_idx)  # never leaves the episode
    assert obs_idx == sorted(obs_idx) and act_idx == sorted(act_idx)
    # Unclamped indices are exactly t-To+1..t and t..t+H-1.
    assert [i for i in obs_idx if i > first] == [i for i in range(t - To + 1, t + 1) if i > first]
    assert [i for i in act_idx if i < last] == [i for i in range(t, t + H) if i < last]


@settings(max_examples=200, deadline=None)
@given(first=st.integers(0, 1000), length=st.integers(1, 300), To=st.integers(1, 10), Ta=st.integers(1, 10),
       data=st.data())
def test_chi_et_al_index_convention_executes_the_same_actions(first, length, To, Ta, data):
    """Chi et al. predict a[t-To+1 ..] (one sequence shared with the observations, padded at the episode's edges)
    and execute from index To-1; dpedu predicts a[t ..] and executes from index 0: the same actions run."""
    last = first + length - 1
    t = data.draw(st.integers(first, last))
    theirs = [min(max(t - To + 1 + k, first), last) for k in range(To - 1 + Ta)]  # their window, edge-padded
    _, act_idx = window_indices(torch.tensor([t]), torch.tensor([first]), torch.tensor([last]), To, Ta)
    assert theirs[To - 1: To - 1 + Ta] == act_idx[0].tolist()


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 50), d=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_normalizer_round_trip_and_range(n, d, seed):
    x = torch.from_numpy(np.random.default_rng(seed).normal(size=(n, d)) * 10).float()
    norm = Normalizer.fit(x)
    z = norm.normalize(x)
    assert z.min() >= -1 - 1e-5 and z.max() <= 1 + 1e-5
    torch.testing.assert_close(norm.unnormalize(z), x, atol=1e-4, rtol=1e-5)


def test_normalizer_survives_constant_dimensions():
    x = torch.tensor([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    norm = Normalizer.fit(x)
    z = norm.normalize(x)
    assert torch.isfinite(z).all()
    assert z[:, 0].tolist() == [-1.0, 0.0, 1.0] and z[:, 1].tolist() == [0.0, 0.0, 0.0]
    torch.testing.assert_close(norm.unnormalize(z), x)
    restored = Normalizer.from_state_dict(norm.state_dict())
    torch.testing.assert_close(restored.normalize(x), z)


def test_normalizer_bad_input():
    with pytest.raises(ValueError, match="empty"):
        Normalizer.fit(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="finite"):
        Normalizer(torch.tensor([0.0]), torch.tensor([np.inf]))


def episode(start, length, obs_dim=2):
    """Observations and actions that encode their own running index, to check what a window holds."""
    idx = np.arange(start, start + length, dtype=np.float32)
    return np.repeat(idx[:, None], obs_dim, axis=1), idx[:, None] + 0.5


def test_buffer_windows_hold_the_right_steps():
    buf = ReplayBuffer(1000, obs_dim=2, act_dim=1)
    for start, length in [(0, 30), (30, 5), (35, 40)]:
        buf.add_episode(*episode(start, length))
    obs, act = buf.sample(4096, 3, 6, generator=torch.Generator().manual_seed(0))
    assert obs.shape == (4096, 3, 2) and act.shape == (4096, 6, 1)
    t = obs[:, -1, 0].long()  # the present step of each sample
    edges = [(0, 29), (30, 34), (35, 74)]
    for first, last in edges:
        rows = (t >= first) & (t <= last)
        assert rows.any()
        exp_obs = torch.maximum(t[rows, None] + torch.arange(-2, 1), torch.tensor(first)).float()
        exp_act = torch.minimum(t[rows, None] + torch.arange(6), torch.tensor(last)).float() + 0.5
        torch.testing.assert_close(obs[rows, :, 0], exp_obs)
        torch.testing.assert_close(act[rows, :, 0], exp_act)


def test_buffer_is_fifo_and_cut_episodes_start_at_the_oldest_kept_step():
    buf = ReplayBuffer(50, obs_dim=1, act_dim=1)
    buf.add_episode(*episode(0, 40, 1))
    buf.add_episode(*episode(40, 30, 1))  # 70 steps added, the oldest 20 are gone
    assert len(buf) == 50 and buf.oldest == 20
    obs, act = buf.sample(5000, 4, 3, generator=torch.Generator().manual_seed(1))
    assert obs.min() >= 20  # nothing evicted is ever returned
    t = obs[:, -1, 0]
    cut = t < 40
    assert torch.all(obs[cut].min(dim=1).values >= 20)
    assert torch.all(act[cut] <= 39.5)  # the cut episode still ends at its own last step


def test_buffer_sample_is_reproducible():
    buf = ReplayBuffer(100, 2, 1)
    buf.add_episode(*episode(0, 60))
    a = buf.sample(32, 2, 4, generator=torch.Generator().manual_seed(5))
    b = buf.sample(32, 2, 4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
