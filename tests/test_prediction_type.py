"""The prediction_type config key: "epsilon" (the network predicts the noise, the default) or "sample" (it predicts
the clean chunk x^0). The sampler side is in test_sampler.py; here the config, the loss, the policy and its record."""

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY

from dpedu import Trainer
from dpedu.config import PREDICTION_TYPES, DPConfig
from dpedu.diffusion.schedule import NoiseSchedule
from dpedu.policy import DiffusionPolicy
from dpedu.trainer import diffusion_loss

RECORD = Path(__file__).resolve().parents[1] / "dpedu" / "course" / "prediction_seeds.jsonl"


def test_config_key_defaults_to_epsilon_and_refuses_other_values():
    assert PREDICTION_TYPES == ("epsilon", "sample")
    assert DPConfig().prediction_type == "epsilon"
    assert DPConfig.from_dict({"prediction_type": "sample"}).prediction_type == "sample"
    with pytest.raises(ValueError, match=r"prediction_type must be one of \('epsilon', 'sample'\), got 'x0'"):
        DPConfig.from_dict({"prediction_type": "x0"})
    with pytest.raises(ValueError, match="prediction_type must be one of"):
        diffusion_loss(None, NoiseSchedule(10), torch.zeros(2, 1, 3), torch.zeros(2, 4, 1), prediction_type="v")


class Oracle(torch.nn.Module):
    """Returns the true x^0 (or the true eps) it was told: the loss's minimiser."""

    def __init__(self, target):
        super().__init__()
        self.target, self.scale = target, torch.nn.Parameter(torch.ones(()))

    def forward(self, x_k, k, obs):
        return self.scale * self.target


def test_the_loss_is_zero_for_a_model_that_returns_its_target():
    schedule, g = NoiseSchedule(50), torch.Generator().manual_seed(0)
    obs, a0 = torch.randn(16, 2, 3, generator=g), torch.rand(16, 8, 2, generator=g) * 2 - 1
    k, eps = torch.randint(1, 51, (16,), generator=g), torch.randn(16, 8, 2, generator=g)
    assert diffusion_loss(Oracle(a0), schedule, obs, a0, k, eps, prediction_type="sample") == 0
    assert diffusion_loss(Oracle(eps), schedule, obs, a0, k, eps, prediction_type="epsilon") == 0
    assert diffusion_loss(Oracle(eps), schedule, obs, a0, k, eps, prediction_type="sample") > 0.5
    # "sample"'s loss is the mean of (A^0 - A_hat^0)^2
    wrong = a0 + 0.1
    torch.testing.assert_close(diffusion_loss(Oracle(wrong), schedule, obs, a0, k, eps, prediction_type="sample"),
                               torch.tensor(0.01), rtol=1e-5, atol=0)


def test_training_draws_k_from_1_to_K():
    """k ~ U{1..K}: randint(1, K + 1) draws exactly randint(0, K) + 1 from the same generator state, so a seeded
    training makes the same updates as one that drew 0..K-1 and embedded k."""
    seen = []

    def model(x_k, k, obs):
        seen.append(k)
        return torch.zeros_like(x_k)

    schedule = NoiseSchedule(7)
    diffusion_loss(model, schedule, torch.zeros(4096, 1, 1), torch.zeros(4096, 2, 1),
                   generator=torch.Generator().manual_seed(0))
    assert seen[0].min() == 1 and seen[0].max() == 7
    old = torch.randint(0, 7, (4096,), generator=torch.Generator().manual_seed(0)) + 1
    assert torch.equal(seen[0], old)


def test_sample_prediction_trains_saves_and_loads(tmp_path):
    trainer = Trainer("diffusion", env="Pendulum-v1", seed=0, config={**TINY, "prediction_type": "sample"},
                      progress=False)
    trainer.train(300)
    policy = trainer.policy.configure(seed=0)
    assert policy.config.prediction_type == "sample" and policy.sampler.prediction_type == "sample"
    window = torch.zeros(3, policy.config.obs_horizon, policy.obs_dim)
    plan = policy.predict_chunk(window)
    loaded = DiffusionPolicy.load(policy.save(tmp_path / "p.pt"), device="cpu").configure(seed=0)
    assert loaded.config.prediction_type == "sample"
    assert (loaded.predict_chunk(window) == plan).all()
    with pytest.raises(ValueError, match="fixed by the trained weights"):
        loaded.configure(prediction_type="epsilon")


def test_a_checkpoint_without_the_key_loads_as_epsilon(tiny_trainer):
    state = tiny_trainer.policy.state_dict()
    del state["config"]["prediction_type"]  # what a checkpoint written before the key holds
    assert DiffusionPolicy.from_state_dict(state, device="cpu").config.prediction_type == "epsilon"
    shipped = Path(__file__).resolve().parents[1] / "dpedu" / "course" / "checkpoints" / "mlp_pendulum.pt"
    assert DiffusionPolicy.load(shipped, device="cpu").sampler.prediction_type == "epsilon"


@pytest.mark.skipif(not RECORD.exists(), reason="benchmarks/prediction.py has not written its record")
def test_the_prediction_record_loads_and_covers_the_seeds():
    rows = [json.loads(line) for line in RECORD.read_text().splitlines()]
    header, rows = rows[0], rows[1:]
    assert header["header"] and "benchmarks/prediction.py" in header["command"]
    assert header["preset"]["config"]["n_action_steps"] == 8 and len(header["seeds"]) >= 3
    cells = {(r["seed"], r["prediction_type"], r["n_action_steps"]) for r in rows}
    assert cells == {(s, p, n) for s in header["seeds"] for p in PREDICTION_TYPES for n in header["n_action_steps"]}
    assert len(rows) == len(cells)
    for r in rows:
        assert 0 <= r["success_rate"] <= 1 and r["side_up"] + r["side_down"] <= 1 and r["episodes"] == 200
