"""The baselines Chi et al. compare with (dpedu/baselines/): each method's defining property, and each through the
common Trainer / policy / checkpoint API."""

import math

import numpy as np
import pytest
import torch

import dpedu
from dpedu import Trainer
from dpedu.baselines import BASELINES, BaselinePolicy, build_baseline
from dpedu.baselines.bet import BinnedActionNetwork, kmeans, nearest
from dpedu.baselines.gmm import MixtureDensityNetwork
from dpedu.baselines.ibc import EnergyNetwork, derivative_free_optimisation, info_nce_loss
from dpedu.config import DPConfig
from dpedu.course import toy
from dpedu.policy import DiffusionPolicy

DETOUR = "dpedu/Detour-v0"
SMALL = {"hidden_dim": 32, "warmup_steps": 200, "n_action_steps": 8, "batch_size": 64}


@pytest.fixture(scope="module")
def toy_data():
    return toy.make_dataset(1000, seed=0), toy.make_dataset(300, seed=1000)


# ---------------------------------------------------------------- the Gaussian mixture


def test_gmm_log_likelihood_is_torch_distributions_mixture():
    torch.manual_seed(0)
    model = MixtureDensityNetwork(act_dim=2, action_horizon=3, obs_dim=4, obs_horizon=2, hidden_dim=16,
                                  n_components=3)
    obs, a0 = torch.randn(5, 2, 4), torch.rand(5, 3, 2) * 2 - 1
    log_pi, mu, sigma = model.mixture(obs)
    D = torch.distributions
    oracle = D.MixtureSameFamily(D.Categorical(logits=log_pi), D.Independent(D.Normal(mu, sigma), 1))
    torch.testing.assert_close(model.log_prob(obs, a0), oracle.log_prob(a0.reshape(5, 6)))
    assert model.loss(obs, a0).item() == pytest.approx(-oracle.log_prob(a0.reshape(5, 6)).mean().item(), rel=1e-5)


def test_gmm_samples_cover_both_modes_of_the_toy(toy_data):
    data, test = toy_data
    model, _ = toy.train_method("gmm", data, seed=0, n_updates=400)
    stats = toy.mode_stats(test.obs, toy.sample_method("gmm", model, test.obs))
    assert min(stats["left"], stats["right"]) > 0.3 and stats["hit"] < 0.1, stats


# ---------------------------------------------------------------- IBC


def test_derivative_free_optimisation_finds_the_lower_of_two_wells():
    low, high = torch.tensor([0.5, -0.4]), torch.tensor([-0.5, 0.4])

    def energy(a):  # (B, N, 2) -> (B, N): two sharp quadratic wells, the one at `low` deeper by 1
        return 50 * torch.minimum(((a - low) ** 2).sum(-1), ((a - high) ** 2).sum(-1) + 0.02)

    g = torch.Generator().manual_seed(0)
    best = derivative_free_optimisation(energy, (8, 2), n_samples=256, generator=g)
    assert torch.allclose(best, low.expand(8, 2), atol=0.05), best


def test_info_nce_is_log_n_plus_one_for_a_constant_energy_and_zero_for_a_perfect_one():
    assert info_nce_loss(torch.zeros(4, 65)).item() == pytest.approx(math.log(65))
    perfect = torch.full((4, 65), 100.0)
    perfect[:, 0] = 0.0  # the demonstration's energy far below every counter-example's
    assert info_nce_loss(perfect).item() < 1e-6


def test_ibc_loss_draws_its_counter_examples_from_the_generator():
    torch.manual_seed(0)
    model = EnergyNetwork(act_dim=2, action_horizon=2, obs_dim=3, obs_horizon=1, hidden_dim=8, n_counter_examples=16)
    obs, a0 = torch.randn(4, 1, 3), torch.rand(4, 2, 2) * 2 - 1
    same = [model.loss(obs, a0, torch.Generator().manual_seed(1)).item() for _ in range(2)]
    other = model.loss(obs, a0, torch.Generator().manual_seed(2)).item()
    assert same[0] == same[1] != other


# ---------------------------------------------------------------- BET


def test_kmeans_finds_the_centres_of_separated_clusters_and_is_a_lloyd_fixed_point():
    g = torch.Generator().manual_seed(0)
    truth = torch.tensor([[0.8, 0.8], [-0.8, 0.0], [0.5, -0.7]])
    x = (truth[:, None] + 0.05 * torch.randn(3, 200, 2, generator=g)).reshape(-1, 2)
    centres = kmeans(x, 3, generator=g)
    order = nearest(truth, centres)
    torch.testing.assert_close(centres[order], truth, atol=0.02, rtol=0)
    assigned = nearest(x, centres)  # each centre is the mean of the points nearest to it
    for b in range(3):
        torch.testing.assert_close(centres[b], x[assigned == b].mean(0))


def test_bet_bins_are_the_kmeans_centres_and_offsets_reconstruct_the_data():
    # Chunks that the observation and the side determine exactly: obs + side * a ramp along x. The bins can only
    # hold 8 plan shapes; the offsets must supply the rest from the observation.
    g = torch.Generator().manual_seed(0)
    n, horizon = 1000, 4
    obs = torch.rand(n, 1, 2, generator=g) - 0.5
    side = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    traj = obs.expand(n, horizon, 2).clone()
    traj[..., 0] += side[:, None] * 0.4 * torch.arange(1, horizon + 1) / horizon
    model, _ = toy.train_method("bet", toy.ToyData(obs, traj, side), seed=0, n_updates=400, n_bins=8)
    a = traj.reshape(n, -1)
    torch.testing.assert_close(model.centres, kmeans(a, 8, generator=torch.Generator().manual_seed(0)))
    b = nearest(a, model.centres)
    with torch.no_grad():
        _, offsets = model.heads(obs)
    rebuilt = model.centres[b] + offsets[torch.arange(n), b]
    centre_only = (a - model.centres[b]).norm(dim=1).mean()
    assert (a - rebuilt).norm(dim=1).mean() < 0.5 * centre_only  # the offset recovers most of what the bin misses


def test_bet_samples_cover_both_modes_of_the_toy(toy_data):
    data, test = toy_data
    model, _ = toy.train_method("bet", data, seed=0, n_updates=400, n_bins=8)
    stats = toy.mode_stats(test.obs, toy.sample_method("bet", model, test.obs))
    assert min(stats["left"], stats["right"]) > 0.3 and stats["hit"] < 0.1, stats


def test_bet_refuses_to_act_before_its_bins_are_fitted():
    model = BinnedActionNetwork(act_dim=2, action_horizon=2, obs_dim=2, obs_horizon=1, hidden_dim=8, n_bins=4)
    with pytest.raises(RuntimeError, match="fit_bins"):
        model.sample(torch.zeros(1, 1, 2))


# ---------------------------------------------------------------- the common API


@pytest.fixture(scope="module", params=BASELINES)
def trained(request):
    trainer = Trainer(request.param, env=DETOUR, seed=0, config=SMALL, progress=False)
    trainer.train(400)
    return trainer


def test_every_baseline_trains_and_acts_through_the_trainer(trained, tmp_path):
    policy = trained.policy
    assert isinstance(policy, BaselinePolicy) and policy.algorithm == trained.algorithm
    obs = np.zeros((3, 2), np.float32)
    actions = policy.act(obs)
    assert actions.shape == (3, 2) and np.all(np.abs(actions) <= 1.0 + 1e-6)
    assert policy.predict_chunk(np.zeros((2, 2, 2))).shape == (2, 8, 2)
    policy.save(tmp_path / "p.pt")
    loaded = dpedu.load_policy(tmp_path / "p.pt", device="cpu")
    assert type(loaded) is BaselinePolicy and loaded.algorithm == trained.algorithm
    policy.reset(seed=3), loaded.reset(seed=3)
    np.testing.assert_array_equal(policy.predict_chunk(np.ones((2, 2, 2))), loaded.predict_chunk(np.ones((2, 2, 2))))
    with pytest.raises(ValueError, match="load_policy"):
        DiffusionPolicy.load(tmp_path / "p.pt")
    result = trained.evaluate(n_episodes=4)
    assert 0.0 <= result["success_rate"] <= 1.0


def test_a_baseline_trainer_resumes_bit_for_bit(tmp_path):
    straight = Trainer("bet", env=DETOUR, seed=1, config=SMALL, progress=False)
    straight.train(300)
    straight.train(100)
    resumed = Trainer("bet", env=DETOUR, seed=1, config=SMALL, progress=False)
    resumed.train(300)
    resumed.save(tmp_path / "t.pt")
    resumed = Trainer.load(tmp_path / "t.pt", progress=False)
    assert resumed.algorithm == "bet"
    resumed.train(100)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_dpedu_load_policy_reads_a_diffusion_policy_too(tmp_path):
    trainer = Trainer("diffusion", env=DETOUR, seed=0, config=SMALL, progress=False)
    trainer.train(250)
    trainer.policy.save(tmp_path / "d.pt")
    assert type(dpedu.load_policy(tmp_path / "d.pt")) is DiffusionPolicy


@pytest.mark.parametrize(("algorithm", "config", "match"), [
    ("gmm", {"n_bins": 8}, r"n_bins=8 applies to Trainer\('bet'\) only"),
    ("bet", {"n_diffusion_steps": 10}, r"n_diffusion_steps=10 applies to Trainer\('diffusion'\) only"),
    ("ibc", {"network": "unet"}, "network='unet' applies to"),
    ("diffusion", {"ibc_samples": 8}, r"ibc_samples=8 applies to Trainer\('ibc'\) only"),
    ("regression", {"obs_type": "pixels"}, "pixel observations are learned by Trainer"),
    ("lstm", {}, "unknown algorithm 'lstm'; available"),
])
def test_another_methods_keys_are_refused_not_ignored(algorithm, config, match):
    with pytest.raises(ValueError, match=match):
        Trainer(algorithm, env=DETOUR, config=config, progress=False)


def test_every_baseline_network_is_sized_like_the_denoiser():
    config = DPConfig(hidden_dim=64, n_layers=3)
    for algorithm in BASELINES:
        model = build_baseline(algorithm, config, obs_dim=2, act_dim=2)
        assert model.net.inp.out_features == 64 if hasattr(model, "net") else model.inp.out_features == 64
        assert len(model.net.blocks if hasattr(model, "net") else model.blocks) == 3
    with pytest.raises(ValueError, match="unknown baseline"):
        build_baseline("diffusion", config, 2, 2)
