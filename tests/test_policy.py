"""DiffusionPolicy: shapes, the receding-horizon rule, save/load, bad input."""

import copy

import numpy as np
import pytest
import torch

from dpedu import DiffusionPolicy
from dpedu.runtime.checkpoint import policy_state

OBS = np.array([1.0, 0.0, 0.0], dtype=np.float32)


def fresh(trainer, **changes):
    """A policy of its own with the trainer's weights: tests that configure it leave the shared trainer's alone."""
    shared = trainer.policy
    policy = DiffusionPolicy(shared.config, copy.deepcopy(shared.model), shared.obs_normalizer, shared.act_normalizer,
                             env_id=shared.env_id, device="cpu")
    return policy.configure(**{"n_action_steps": 1, "seed": 0, **changes})


def test_act_shapes_single_and_batch(tiny_trainer):
    policy = fresh(tiny_trainer)
    a = policy.act(OBS)
    assert a.shape == (1,) and a.dtype == np.float32
    policy.reset()
    batch = policy.act(np.stack([OBS] * 5))
    assert batch.shape == (5, 1)
    assert np.all(np.abs(batch) <= 2.0 + 1e-5)  # clip_sample: x0 in [-1, 1] is the torque limit


def test_predict_chunk_shape(tiny_trainer):
    chunk = tiny_trainer.policy.predict_chunk(np.zeros((4, 2, 3), np.float32))
    assert chunk.shape == (4, 8, 1)


def test_receding_horizon_replans_every_n_action_steps(tiny_trainer, monkeypatch):
    policy = fresh(tiny_trainer, n_action_steps=3)
    calls = []
    real = policy._plan

    def spy(obs):
        calls.append(obs.cpu().numpy().copy())
        return real(obs)

    monkeypatch.setattr(policy, "_plan", spy)
    observations = [OBS * k for k in range(1, 8)]
    actions = [policy.act(o) for o in observations]
    assert len(actions) == 7 and len(calls) == 3  # plans at steps 0, 3, 6
    # The first plan sees the first observation twice (padding at reset), later ones the last To = 2.
    np.testing.assert_array_equal(calls[0][0], [observations[0], observations[0]])
    np.testing.assert_array_equal(calls[1][0], [observations[2], observations[3]])
    np.testing.assert_array_equal(calls[2][0], [observations[5], observations[6]])


def test_executed_actions_are_the_first_of_the_plan(tiny_trainer):
    policy = fresh(tiny_trainer, n_action_steps=4)
    hist = np.stack([OBS, OBS])[None]
    policy.reset(seed=123)
    plan = policy.predict_chunk(hist)[0]  # (H, 1)
    policy.reset(seed=123)
    executed = [policy.act(OBS) for _ in range(4)]
    np.testing.assert_allclose(np.stack(executed), plan[:4], atol=1e-6)


def test_save_load_round_trip(tiny_trainer, tmp_path):
    policy = fresh(tiny_trainer)
    path = policy.save(tmp_path / "sub" / "policy.pt")
    raw = torch.load(path, weights_only=True)  # no pickled code: plain tensors and Python values
    assert raw["format"] == "dpedu.policy" and raw["format_version"] == 1
    loaded = DiffusionPolicy.load(path, device="cpu")
    assert loaded.config == policy.config and loaded.env_id == "Pendulum-v1"
    hist = np.random.default_rng(0).normal(size=(3, 2, 3)).astype(np.float32)
    policy.reset(seed=7)
    loaded.reset(seed=7)
    np.testing.assert_array_equal(policy.predict_chunk(hist), loaded.predict_chunk(hist))


def test_corrupt_and_foreign_checkpoints_name_the_file(tiny_trainer, tmp_path):
    good = tiny_trainer.policy.save(tmp_path / "good.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated.pt.*not a readable"):
        DiffusionPolicy.load(truncated)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.pt"):
        DiffusionPolicy.load(text)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="foreign.pt: not a dpedu.policy checkpoint"):
        DiffusionPolicy.load(foreign)
    future = tmp_path / "future.pt"
    state = policy_state(tiny_trainer.policy)
    state["format_version"] = 99
    torch.save(state, future)
    with pytest.raises(ValueError, match="future.pt.*version 99"):
        DiffusionPolicy.load(future)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        DiffusionPolicy.load(tmp_path / "missing.pt")


def test_save_is_atomic(tiny_trainer, tmp_path, monkeypatch):
    path = tiny_trainer.policy.save(tmp_path / "policy.pt")
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        tiny_trainer.policy.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["policy.pt"]  # no temporary file left behind


@pytest.mark.parametrize(
    "obs, exc, match",
    [
        (np.zeros(4), ValueError, r"shape \(3,\) or \(N, 3\)"),
        (np.zeros((2, 2, 3)), ValueError, "shape"),
        (np.array([np.nan, 0, 0]), ValueError, "NaN"),
        (np.array(["a", "b", "c"]), TypeError, "real numbers"),
    ],
)
def test_bad_observations(tiny_trainer, obs, exc, match):
    policy = fresh(tiny_trainer)
    with pytest.raises(exc, match=match):
        policy.act(obs)


def test_batch_size_change_needs_reset(tiny_trainer):
    policy = fresh(tiny_trainer)
    policy.act(np.stack([OBS] * 2))
    with pytest.raises(ValueError, match="reset"):
        policy.act(np.stack([OBS] * 3))


def test_configure_rejects_training_time_settings(tiny_trainer):
    with pytest.raises(ValueError, match="fixed by the trained weights"):
        tiny_trainer.policy.configure(hidden_dim=8)
    with pytest.raises(ValueError, match="n_inference_steps"):
        tiny_trainer.policy.configure(n_inference_steps=500)


@pytest.mark.parametrize("conditioning", ["concat", "film"])
def test_denoiser_is_the_documented_formula(conditioning):
    """forward is W_in [x_t, obs, emb(t)] + b -> blocks -> out, with emb(t) = [sin(t w), cos(t w)]."""
    import math

    from dpedu.networks.mlp import MLPDenoiser as Denoiser

    torch.manual_seed(0)
    net = Denoiser(act_dim=2, action_horizon=4, obs_dim=3, obs_horizon=2, hidden_dim=32, n_layers=2,
                   conditioning=conditioning)
    x, k, obs = torch.randn(5, 4, 2), torch.randint(1, 51, (5,)), torch.randn(5, 2, 3)
    eps = net(x, k, obs)
    half = 16  # time_dim 32: emb = [sin(n w), cos(n w)] at n = k - 1 (diffusers' index), w_i = 10000^(-i / (half - 1))
    w = torch.exp(-math.log(10_000.0) * torch.arange(half) / (half - 1))
    n = (k - 1)[:, None]
    emb = torch.cat([torch.sin(n * w), torch.cos(n * w)], dim=-1)
    assert torch.allclose(net.time_embedding(k), emb, atol=1e-5)
    if conditioning == "concat":
        h = net.inp(torch.cat([x.reshape(5, -1), obs.reshape(5, -1), emb], dim=-1))
        for block in net.blocks:
            h = block(h)
        assert torch.allclose(eps, net.out(net.out_norm(h)).reshape(5, 4, 2), atol=1e-5)
