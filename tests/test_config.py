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


# Sizes and seeds that used to pass validation and fail deep inside torch (or exhaust memory) are refused here,
# before anything is allocated, with the bound in the message and in the key's documentation.
TOO_LARGE = [
    ("hidden_dim", 10**7, "16_384"),
    ("buffer_size", 10**12, "100_000_000"),
    ("batch_size", 10**9, "65_536"),
    ("n_diffusion_steps", 10**12, "10_000"),
    ("action_horizon", 10**6, "1_024"),
    ("obs_horizon", 10**6, "1_024"),
    ("seed", 2**63, "9_223_372_036_854_775_807"),
    ("seed", 2**64, "9_223_372_036_854_775_807"),
]


@pytest.mark.parametrize("key, value, bound", TOO_LARGE, ids=[f"{k}={v}" for k, v, _ in TOO_LARGE])
def test_sizes_and_seeds_are_bounded(key, value, bound):
    with pytest.raises(ValueError, match=rf"{key} must be <= {bound}, got {value:_}"):
        DPConfig.from_dict({key: value})
    doc = next(line for line in DPConfig.describe().splitlines() if line.startswith(key + " "))
    assert f"..{bound}." in doc


def test_the_bounds_themselves_are_allowed():
    config = DPConfig.from_dict({"seed": 2**63 - 1, "hidden_dim": 16_384, "n_diffusion_steps": 10_000,
                                 "n_inference_steps": 10_000, "buffer_size": 100_000_000, "batch_size": 65_536})
    assert config.seed == 2**63 - 1


def test_a_crafted_checkpoint_config_is_bounded_too():
    crafted = {**DPConfig().to_dict(), "n_diffusion_steps": 10**12}  # what policy.pt's "config" entry holds
    with pytest.raises(ValueError, match="n_diffusion_steps must be <= 10_000"):
        DPConfig.from_dict(crafted)


def test_component_checks_wait_for_the_component():
    # DDIM's eta range, a linear schedule that exhausts float32, the U-Net's horizon rule and the DART noise are
    # checked by the component that owns them when it is built (tests/test_bad_inputs.py: "Trainer ..." rows).
    for values in ({"sampler": "ddim", "ddim_eta": 1.5}, {"explore_noise": -1.0},
                   {"noise_schedule": "linear", "n_diffusion_steps": 1000, "beta_end": 0.5},
                   {"network": "unet", "action_horizon": 6, "n_action_steps": 1, "unet_levels": 3}):
        DPConfig.from_dict(values)


def test_device_names_are_checked_without_torch():
    for name in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        assert DPConfig.from_dict({"device": name}).device == name
    for name in ("cuda:N", "cuda:", "gpu", "tpu"):
        with pytest.raises(ValueError, match=r"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"):
            DPConfig.from_dict({"device": name})
