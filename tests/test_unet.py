"""The temporal U-Net with FiLM (network="unet"): shapes over horizons, the horizon rule, the condition used,
and the trainer, policy checkpoints and CLI with it and with the transformer (tests/test_transformer.py)."""

import numpy as np
import pytest
import torch
from conftest import TINY

from dpedu import DiffusionPolicy, Trainer
from dpedu.cli import main
from dpedu.config import DPConfig
from dpedu.networks import build_network
from dpedu.networks.transformer import TransformerDenoiser
from dpedu.networks.unet1d import UNet1DDenoiser

SMALL = {"network": "unet", "unet_dim": 16, "unet_levels": 2, "unet_groups": 4}
TRANSFORMER = {"network": "transformer", "transformer_dim": 16, "transformer_heads": 2, "transformer_layers": 2}


@pytest.mark.parametrize("horizon, levels", [(8, 3), (16, 3), (4, 3), (8, 4), (5, 1), (6, 2)])
def test_shapes_for_the_course_horizons(horizon, levels):
    net = UNet1DDenoiser(act_dim=2, action_horizon=horizon, obs_dim=3, obs_horizon=2, unet_dim=16, levels=levels,
                         groups=4)
    x, t, obs = torch.randn(5, horizon, 2), torch.randint(1, 51, (5,)), torch.randn(5, 2, 3)
    assert net(x, t, obs).shape == (5, horizon, 2)


@pytest.mark.parametrize("horizon, levels", [(6, 3), (10, 3), (12, 4)])
def test_a_horizon_the_down_sampling_cannot_halve_is_refused(horizon, levels):
    # The U-Net's own rule: checked when the Trainer builds the network, before its buffer is allocated.
    config = {"network": "unet", "action_horizon": horizon, "n_action_steps": 1, "unet_levels": levels}
    with pytest.raises(ValueError, match=rf"action_horizon must be a multiple of {2 ** (levels - 1)}.*got {horizon}"):
        Trainer("diffusion", env="Pendulum-v1", config=config, progress=False)


def test_unet_keys_are_checked_and_never_silently_ignored():
    with pytest.raises(ValueError, match="unet_dim=64 applies to network='unet' only"):
        DPConfig.from_dict({"unet_dim": 64})
    with pytest.raises(ValueError, match="conditioning='film' applies to network='mlp' only"):
        DPConfig.from_dict({"network": "unet", "conditioning": "film"})
    with pytest.raises(ValueError, match="unet_groups .* must divide unet_dim"):
        DPConfig.from_dict({**SMALL, "unet_groups": 5})
    with pytest.raises(ValueError, match="unet_kernel_size must be odd"):
        DPConfig.from_dict({**SMALL, "unet_kernel_size": 4})


def test_film_conditioning_is_used():
    """The output depends on the observation and on t: FiLM feeds both into every block."""
    torch.manual_seed(0)
    net = build_network(DPConfig.from_dict(SMALL), obs_dim=3, act_dim=1)
    for p in net.parameters():  # random weights everywhere, so nothing is zero by initialisation
        torch.nn.init.normal_(p, std=0.2)
    x, t = torch.randn(4, 8, 1), torch.full((4,), 10)
    obs_a, obs_b = torch.zeros(4, 2, 3), torch.ones(4, 2, 3)
    base = net(x, t, obs_a)
    assert (net(x, t, obs_b) - base).abs().max() > 1e-3
    assert (net(x, torch.full((4,), 40), obs_a) - base).abs().max() > 1e-3
    assert torch.equal(net(x, t, obs_a), base)  # and it is a function


@pytest.mark.parametrize("small, network", [(SMALL, UNet1DDenoiser), (TRANSFORMER, TransformerDenoiser)],
                         ids=["unet", "transformer"])
def test_trainer_policy_checkpoint_and_cli_work_with_each_network(tmp_path, small, network):
    trainer = Trainer("diffusion", env="Pendulum-v1", seed=0, config={**TINY, **small}, progress=False)
    metrics = trainer.train(300)
    assert metrics["n_updates"] == 101 and np.isfinite(metrics["loss"])
    policy = trainer.policy
    path = policy.save(tmp_path / "policy.pt")
    loaded = DiffusionPolicy.load(path, device="cpu")
    assert isinstance(loaded.model, network) and loaded.config.network == small["network"]
    window = np.zeros((3, 2, 3), np.float32)
    policy.reset(seed=4)
    loaded.reset(seed=4)
    np.testing.assert_array_equal(policy.predict_chunk(window), loaded.predict_chunk(window))
    assert main(["evaluate", str(path), "--episodes", "2", "--seed", "0", "--no-baselines"]) == 0


def test_notebook_07s_shipped_policies_are_the_benchmarks_networks():
    """dpedu/course/checkpoints: the seed-0 policies of benchmarks/unet.py, one per (network, task)."""
    from dpedu.course import CHECKPOINTS
    from dpedu.course.unet_plots import NAMES, load_seed_results

    expected = {"mlp": ("mlp", "concat"), "mlp_film": ("mlp", "film"), "unet": ("unet", "concat")}
    assert set(NAMES) == set(expected)
    for task, env_id in (("detour", "dpedu/Detour-v0"), ("pendulum", "Pendulum-v1")):
        for name, (network, conditioning) in expected.items():
            policy = DiffusionPolicy.load(CHECKPOINTS / f"{name}_{task}.pt", device="cpu")
            assert (policy.config.network, policy.config.conditioning, policy.env_id) == (network, conditioning, env_id)
            assert policy.config.seed == 0
    record = load_seed_results()
    assert {(r["env_id"], r["network"]) for r in record["seeds"]} == {
        (env_id, name) for env_id in ("dpedu/Detour-v0", "Pendulum-v1") for name in expected}
    assert all(r["seeds"] == [0, 1, 2] for r in record["pooled"].values())
