"""DPConfig: the reference defaults, and every bad value named in the error."""

import math

import pytest

from dpedu.config import DPConfig

REFERENCE = dict(n_diffusion_steps=50, action_horizon=8, obs_horizon=2, hidden_dim=256, learning_rate=1e-4,
                 batch_size=256, noise_schedule="cosine", beta_start=1e-4, beta_end=0.02, buffer_size=1_000_000,
                 n_inference_steps=10, warmup_steps=500, seed=42)


def test_reference_defaults():
    config = DPConfig()
    for key, value in REFERENCE.items():
        assert getattr(config, key) == value, key


def test_every_key_is_documented():
    text = DPConfig.describe()
    for key in DPConfig().to_dict():
        assert key in text
    assert all(len(line.split(None, 2)) == 3 for line in text.splitlines())


def test_from_dict_overrides_and_round_trips():
    config = DPConfig.from_dict({"hidden_dim": 64, "noise_schedule": "linear"})
    assert config.hidden_dim == 64 and config.noise_schedule == "linear" and config.obs_horizon == 2
    assert DPConfig.from_dict(config.to_dict()) == config
    assert config.replace(seed=1).seed == 1


BAD = [
    ({"n_diffusion_step": 50}, ValueError, "'n_diffusion_steps'"),  # typo: suggests the closest key
    ({"lr": 1e-3}, ValueError, "unknown config key 'lr'"),
    ({"hidden_dim": True}, TypeError, "hidden_dim"),  # bool is not an int
    ({"hidden_dim": 12.0}, TypeError, "hidden_dim"),
    ({"batch_size": "256"}, TypeError, "batch_size"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"hidden_dim": 0}, ValueError, "hidden_dim"),
    ({"buffer_size": 0}, ValueError, "buffer_size"),
    ({"n_diffusion_steps": 0}, ValueError, "n_diffusion_steps"),
    ({"action_horizon": -1}, ValueError, "action_horizon"),
    ({"obs_horizon": 0}, ValueError, "obs_horizon"),
    ({"warmup_steps": -5}, ValueError, "warmup_steps"),
    ({"seed": -1}, ValueError, "seed"),
    ({"learning_rate": math.nan}, ValueError, "learning_rate"),
    ({"learning_rate": math.inf}, ValueError, "learning_rate"),
    ({"learning_rate": 0.0}, ValueError, "learning_rate"),
    ({"noise_schedule": "sigmoid"}, ValueError, "noise_schedule"),
    ({"beta_end": 1e-5}, ValueError, "beta_end"),  # <= beta_start
    ({"beta_start": 0.0}, ValueError, "beta_start"),
    ({"beta_end": 1.5}, ValueError, "beta_end"),
    ({"n_inference_steps": 51}, ValueError, "n_inference_steps"),  # > n_diffusion_steps
    ({"n_inference_steps": 0}, ValueError, "n_inference_steps"),
    ({"n_action_steps": 9}, ValueError, "n_action_steps"),  # > action_horizon
    ({"sampler": "euler"}, ValueError, "sampler"),
    ({"ddim_eta": 2.0}, ValueError, "ddim_eta"),
    ({"sampler": "ddpm", "ddim_eta": 0.5}, ValueError, "ddim_eta"),
    ({"ema_decay": 1.0}, ValueError, "ema_decay"),
    ({"max_grad_norm": -1.0}, ValueError, "max_grad_norm"),
    ({"device": "gpu"}, ValueError, "device"),
    ({"conditioning": "attention"}, ValueError, "conditioning"),
    ({"clip_sample": 1}, TypeError, "clip_sample"),
    ({"train_freq": 0}, ValueError, "train_freq"),
]


@pytest.mark.parametrize("values, exc, match", BAD, ids=[str(b[0]) for b in BAD])
def test_bad_config(values, exc, match):
    with pytest.raises(exc, match=match):
        DPConfig.from_dict(values)


def test_config_must_be_a_dict():
    with pytest.raises(TypeError, match="dict"):
        DPConfig.from_dict([("hidden_dim", 3)])
