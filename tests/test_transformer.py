"""The time-series diffusion transformer (network="transformer"): shapes over horizons, causal attention among the
action tokens, the condition used, its keys checked (the trainer, checkpoints and CLI with it: tests/test_unet.py)."""

import pytest
import torch

from dpedu.config import DPConfig
from dpedu.networks import build_network
from dpedu.networks.transformer import TransformerDenoiser, causal_mask

SMALL = {"network": "transformer", "transformer_dim": 16, "transformer_heads": 2, "transformer_layers": 2}


def random_weights(net: torch.nn.Module) -> torch.nn.Module:
    """Every weight drawn N(0, 0.2), so no output is small or zero by initialisation alone."""
    torch.manual_seed(0)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return net


@pytest.mark.parametrize("horizon, obs_horizon", [(1, 1), (5, 2), (8, 2), (16, 3)])
def test_shapes_for_any_horizon(horizon, obs_horizon):
    # No down-sampling, so no rule on H (where the U-Net needs a multiple of 2^(levels - 1)).
    net = TransformerDenoiser(act_dim=2, action_horizon=horizon, obs_dim=3, obs_horizon=obs_horizon, dim=16, heads=2)
    x, k, obs = torch.randn(5, horizon, 2), torch.randint(1, 51, (5,)), torch.randn(5, obs_horizon, 3)
    assert net(x, k, obs).shape == (5, horizon, 2)


def test_an_action_token_reads_only_the_actions_before_it():
    """Causal self-attention, the defining property: eps_i depends on x^k_j for j <= i only."""
    net = random_weights(TransformerDenoiser(act_dim=2, action_horizon=8, obs_dim=3, obs_horizon=2, dim=16, heads=2))
    x, k, obs = torch.randn(3, 8, 2), torch.full((3,), 7), torch.randn(3, 2, 3)
    base = net(x, k, obs)
    for j in range(8):
        changed = x.clone()
        changed[:, j] += 1.0
        difference = (net(changed, k, obs) - base).abs().amax(dim=(0, 2))  # per action token i
        assert torch.all(difference[:j] == 0), f"tokens before {j} read token {j}"
        assert torch.all(difference[j:] > 1e-4), f"tokens from {j} on ignore token {j}"
    assert torch.equal(causal_mask(3), torch.tensor([[False, True, True], [False, False, True], [False, False, False]]))


def test_every_action_reads_k_and_every_observation_of_the_window():
    net = random_weights(build_network(DPConfig.from_dict(SMALL), obs_dim=3, act_dim=1))
    x, k, obs = torch.randn(4, 8, 1), torch.full((4,), 10), torch.randn(4, 2, 3)
    base = net(x, k, obs)
    for step in range(2):  # the older and the newer observation: both reach the first action already
        changed = obs.clone()
        changed[:, step] += 1.0
        assert torch.all((net(x, k, changed) - base).abs().amax(dim=(0, 2)) > 1e-4)
    assert torch.all((net(x, torch.full((4,), 40), obs) - base).abs().amax(dim=(0, 2)) > 1e-4)
    assert torch.equal(net(x, k, obs), base)  # and it is a function


def test_transformer_keys_are_checked_and_never_silently_ignored():
    with pytest.raises(ValueError, match="transformer_dim=32 applies to network='transformer' only"):
        DPConfig.from_dict({"transformer_dim": 32})
    with pytest.raises(ValueError, match="unet_dim=64 applies to network='unet' only"):
        DPConfig.from_dict({"network": "transformer", "unet_dim": 64})
    with pytest.raises(ValueError, match=r"transformer_heads \(3\) must divide transformer_dim \(16\)"):
        DPConfig.from_dict({**SMALL, "transformer_heads": 3})
    with pytest.raises(ValueError, match="transformer_dim must be even"):
        DPConfig.from_dict({**SMALL, "transformer_dim": 15, "transformer_heads": 1})
    with pytest.raises(ValueError, match="transformer_layers must be >= 1"):
        DPConfig.from_dict({**SMALL, "transformer_layers": 0})
    with pytest.raises(ValueError, match="applies to Trainer\\('diffusion'\\) only"):
        DPConfig.from_dict(SMALL).check_algorithm("bet")


def test_the_mask_is_rebuilt_not_saved():
    # The trainer, the policy's checkpoint round trip and the CLI: tests/test_unet.py, for both networks.
    net = build_network(DPConfig.from_dict(SMALL), obs_dim=3, act_dim=2)
    assert "mask" not in net.state_dict() and torch.equal(net.mask, causal_mask(8))


def test_without_the_causal_mask_every_action_reads_the_whole_chunk():
    net = random_weights(TransformerDenoiser(act_dim=2, action_horizon=6, obs_dim=3, obs_horizon=2, dim=16, heads=2,
                                             causal=False))
    x, k, obs = torch.randn(3, 6, 2), torch.full((3,), 7), torch.randn(3, 2, 3)
    changed = x.clone()
    changed[:, -1] += 1.0
    assert torch.all((net(changed, k, obs) - net(x, k, obs)).abs().amax(dim=(0, 2)) > 1e-4)
    assert not build_network(DPConfig.from_dict({**SMALL, "transformer_causal": False}), 3, 2).causal


def test_notebook_11s_records_cover_every_setting_over_three_seeds():
    """The records notebook 11 reads (benchmarks/design_choices.py, control.py, idle.py, pusht_choices.py): every
    setting of their grids for every network or method and control, on training seeds 0, 1 and 2."""
    import sys
    from pathlib import Path

    from dpedu.course import design_plots as dp

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import control
        import design_choices
        import idle
        import pusht_choices
    finally:
        sys.path.pop(0)
    record = dp.read_record()
    for network in design_choices.NETWORKS:
        for n, latency in design_choices.GRID:
            rows = dp.rows_of(record, network, n, latency)
            assert [r["seed"] for r in rows] == [0, 1, 2], (network, n, latency)
            assert all(r["episodes"] == 100 and r["n_updates"] == 6_003 for r in rows)  # the preset's 3 per step
    record = dp.read_record(dp.CONTROL_RECORD)
    for method in control.METHODS:
        for c in control.CONTROLS:
            for setting in control.GRID:
                rows = dp.control_rows(record, method, c, *setting)
                assert [r["seed"] for r in rows] == [0, 1, 2], (method, c, setting)
    assert len(record) == len(control.METHODS) * len(control.CONTROLS) * len(control.GRID) * 3
    record = dp.read_record(dp.IDLE_RECORD)
    for method in idle.METHODS:
        for paused in (True, False) if method != "diffusion_unet" else (True,):  # the U-Net's unpaused: design_choices
            for n in idle.N_ACTION_STEPS:
                rows = dp.idle_rows(record, method, paused, n)
                assert [r["seed"] for r in rows] == [0, 1, 2], (method, paused, n)
                assert all(r["episodes"] == 100 and r["n_updates"] == 6_003 for r in rows)
                assert all(r["rate"] == (idle.RATE if paused else 0.0) for r in rows)
    record = dp.read_record(dp.PUSHT_RECORD)
    for setting in pusht_choices.GRID:
        rows = dp.pusht_rows(record, *setting)
        assert [r["seed"] for r in rows] == [0, 1, 2] and all(r["episodes"] == 50 for r in rows), setting
    assert len(record) == len(pusht_choices.GRID) * 3
