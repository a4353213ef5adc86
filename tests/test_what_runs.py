"""What runs is what reads: `policy.act` plans with the sampler's own `step` and the network's own modules.

A learner who edits a line of the algorithm (a block's forward, a sampler's step) must see `policy.act` change; and
no module of the package outside `networks/`, `diffusion/` and `course/` computes a network layer or a step itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dpedu
from dpedu import DiffusionPolicy
from dpedu.config import DPConfig
from dpedu.data import Normalizer
from dpedu.diffusion.sampler import DDIMSampler, DDPMSampler
from dpedu.networks import build_network
from dpedu.networks.mlp import ResidualBlock
from dpedu.networks.unet1d import FiLMResidualBlock

OBS = np.array([[0.3, -0.2, 0.5], [-1.0, 0.0, 2.0]], dtype=np.float32)


def untrained_policy(**config) -> DiffusionPolicy:
    """A policy with seeded random weights: enough to see whether an edit reaches act()."""
    cfg = DPConfig.from_dict({"hidden_dim": 32, "n_diffusion_steps": 20, "n_inference_steps": 5,
                              "n_action_steps": 1, "seed": 0, **config})
    torch.manual_seed(0)
    model = build_network(cfg, obs_dim=3, act_dim=1)
    obs_norm = Normalizer(np.array([-1.0, -1.0, -8.0]), np.array([1.0, 1.0, 8.0]))
    act_norm = Normalizer(np.array([-2.0]), np.array([2.0]))
    return DiffusionPolicy(cfg, model, obs_norm, act_norm, env_id="Pendulum-v1", device="cpu")


def act_once(policy: DiffusionPolicy) -> np.ndarray:
    policy.reset(seed=0)
    return policy.act(OBS)


def gelu_block(self, h, film=None):  # ResidualBlock.forward with GELU where the package has SiLU
    z = self.fc1(self.norm(h))
    if film is not None:
        gamma, beta = film
        z = z * (1 + gamma) + beta
    return h + self.fc2(F.gelu(z))


@pytest.mark.parametrize("config", [{}, {"conditioning": "film"}, {"sampler": "ddim"}], ids=["concat", "film", "ddim"])
def test_editing_the_mlp_block_changes_act(monkeypatch, config):
    policy = untrained_policy(**config)
    before = act_once(policy)
    assert np.array_equal(act_once(policy), before), "same seed, same actions"
    monkeypatch.setattr(ResidualBlock, "forward", gelu_block)
    assert not np.allclose(act_once(policy), before, atol=1e-6), "the edited block must reach policy.act"


def test_editing_the_unet_block_changes_act(monkeypatch):
    policy = untrained_policy(network="unet")
    before = act_once(policy)
    original = FiLMResidualBlock.forward
    monkeypatch.setattr(FiLMResidualBlock, "forward", lambda self, x, cond: 0.5 * original(self, x, cond))
    assert not np.allclose(act_once(policy), before, atol=1e-6)


@pytest.mark.parametrize("sampler, cls", [("ddpm", DDPMSampler), ("ddim", DDIMSampler)])
def test_editing_the_sampler_step_changes_act(monkeypatch, sampler, cls):
    policy = untrained_policy(sampler=sampler)
    before = act_once(policy)
    original = cls.step

    def nudged(self, x_t, eps, t, s, z=None, generator=None):  # a learner's slip: x_s shifted by 0.1
        x_s, x0_pred = original(self, x_t, eps, t, s, z, generator)
        return x_s + 0.1, x0_pred

    monkeypatch.setattr(cls, "step", nudged)
    assert not np.allclose(act_once(policy), before, atol=1e-6)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_act_is_the_sampler_loop_over_step(sampler):
    """act() = sample() = x^K ~ N(0, I), then step after step with the model: nothing else, bit for bit."""
    policy = untrained_policy(sampler=sampler, ddim_eta=0.5 if sampler == "ddim" else 0.0)
    got = act_once(policy)
    g = torch.Generator().manual_seed(0)
    obs = policy.obs_normalizer.normalize(torch.from_numpy(np.repeat(OBS[:, None], 2, axis=1)))
    x = torch.randn((2, 8, 1), generator=g)
    with torch.inference_mode():
        for k, s in policy.sampler.steps:
            eps = policy.model(x, torch.full((2,), k), obs)
            x, _ = policy.sampler.step(x, eps, k, s, generator=g)
    expected = policy.act_normalizer.unnormalize(x)[:, 0].numpy()
    np.testing.assert_array_equal(got, expected)


# Calls that compute a network layer or a reverse step by hand. Outside networks/ (the layers), diffusion/ (the
# steps) and course/ (exercises and plots, which may show an equation next to the package's code), none may appear.
LAYER_CALLS = {"linear", "layer_norm", "group_norm", "conv1d", "addmm", "silu", "mish", "gelu", "baddbmm"}
ALLOWED = ("networks", "diffusion", "course")


def test_no_module_reimplements_a_network_or_a_step():
    root = Path(dpedu.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in ALLOWED:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LAYER_CALLS:
                offenders.append(f"{rel}:{node.lineno} .{node.func.attr}(...)")
            if isinstance(node, ast.FunctionDef) and "step" in node.name and "x0" in ast.unparse(node):
                offenders.append(f"{rel}:{node.lineno} def {node.name} (a reverse step?)")
    assert not offenders, offenders


# The baselines (dpedu/baselines/): a learner's edit to a method's own function reaches BaselinePolicy.act.
BASELINE_EDITS = {
    "regression": ("dpedu.baselines.regression.RegressionNetwork.sample",
                   lambda original: lambda self, obs, g=None: original(self, obs, g) * 0.5),
    "gmm": ("dpedu.baselines.gmm.MixtureDensityNetwork.mixture",
            lambda original: lambda self, obs: tuple(x.flip(-2) if x.dim() == 3 else x for x in original(self, obs))),
    "ibc": ("dpedu.baselines.ibc.EnergyNetwork.energy", lambda original: lambda self, obs, a: -original(self, obs, a)),
    "bet": ("dpedu.baselines.bet.BinnedActionNetwork.heads",
            lambda original: lambda self, obs: (original(self, obs)[0], 0 * original(self, obs)[1])),
}


@pytest.mark.parametrize("algorithm", list(BASELINE_EDITS))
def test_editing_a_baselines_own_function_changes_act(monkeypatch, algorithm):
    from dpedu.baselines import BaselinePolicy, build_baseline

    cfg = DPConfig.from_dict({"hidden_dim": 16, "n_action_steps": 1, "seed": 0, "n_bins": 4}
                             if algorithm == "bet" else {"hidden_dim": 16, "n_action_steps": 1, "seed": 0})
    torch.manual_seed(0)
    model = build_baseline(algorithm, cfg, obs_dim=3, act_dim=1)
    if algorithm == "bet":
        model.fit_bins(torch.rand(50, cfg.action_horizon, 1) * 2 - 1, torch.Generator().manual_seed(0))
    obs_norm = Normalizer(np.array([-1.0, -1.0, -8.0]), np.array([1.0, 1.0, 8.0]))
    policy = BaselinePolicy(algorithm, cfg, model, obs_norm, Normalizer(np.array([-2.0]), np.array([2.0])),
                            device="cpu")
    before = act_once(policy)
    assert np.array_equal(act_once(policy), before), "same seed, same actions"
    path, edit = BASELINE_EDITS[algorithm]
    module, cls, name = path.rsplit(".", 2)
    owner = getattr(__import__(module, fromlist=[cls]), cls)
    monkeypatch.setattr(owner, name, edit(getattr(owner, name)))
    assert not np.allclose(act_once(policy), before, atol=1e-6), "the edited function must reach policy.act"
