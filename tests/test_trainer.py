"""Trainer: the collection/update rule, the loss going down, metrics, and bad input."""

import math
import re

import numpy as np
import pytest
import torch

from dpedu import DiffusionPolicy, Trainer
from tests.conftest import TINY


def test_short_training_lowers_the_loss(tiny_trainer):
    history = tiny_trainer.loss_history
    assert len(history) >= 4
    assert history[-1][1] < 0.6 * history[0][1]


def test_update_rule_counts(tiny_trainer):
    m = tiny_trainer.metrics()
    # 600 steps, warmup 200 (one episode ends exactly then): updates at steps 200..600 inclusive... of 1-based
    # counts: env_steps 200, 201, ..., 600 -> 401 updates.
    assert m["env_steps"] == 600 and m["episodes"] == 3 and m["n_updates"] == 401
    assert len(tiny_trainer.buffer) == 600
    assert set(m) >= {"loss", "loss_history", "n_updates", "env_steps", "episodes", "collect_s", "update_s",
                      "updates_per_s"}
    assert math.isfinite(m["loss"])


def test_train_freq_and_gradient_steps():
    trainer = Trainer("diffusion", seed=1, config={**TINY, "train_freq": 4, "gradient_steps": 3}, progress=False)
    m = trainer.train(400)
    assert m["n_updates"] == 3 * len(range(200, 401, 4))


def test_no_update_before_an_episode_has_ended():
    trainer = Trainer("diffusion", seed=1, config={**TINY, "warmup_steps": 0}, progress=False)
    with pytest.warns(RuntimeWarning, match=r"no gradient update: no episode had finished by step 150"):
        m = trainer.train(150)  # Pendulum episodes are 200 steps: nothing in the buffer yet
    assert m["n_updates"] == 0 and math.isnan(m["loss"])
    with pytest.raises(RuntimeError, match="train"):
        _ = trainer.policy


def test_train_continues_where_it_stopped():
    trainer = Trainer("diffusion", seed=2, config=TINY, progress=False)
    trainer.train(300)
    m = trainer.train(100)
    assert m["env_steps"] == 400 and m["n_updates"] == 201


def test_same_seed_same_numbers_different_seed_different():
    def run(seed):
        trainer = Trainer("diffusion", seed=seed, config=TINY, progress=False)
        trainer.train(300)
        return trainer.loss_history, trainer.policy.predict_chunk(np.zeros((1, 2, 3), np.float32))

    (h1, a1), (h2, a2), (h3, _) = run(5), run(5), run(6)
    assert h1 == h2 and np.array_equal(a1, a2)
    assert h1 != h3


def test_explore_noise_moves_the_states_and_keeps_the_labels_clean():
    """DART: with explore_noise the environment runs noisy torques (other states than without), and every
    recorded action is still the demonstrator's own label for its observation, inside the torque limit."""
    from dpedu.envs.pendulum import E_BOTTOM, REST_ENERGY, REST_SPEED, PendulumDemonstrator, pendulum_energy

    def collect(noise):
        trainer = Trainer("diffusion", seed=3, config={**TINY, "explore_noise": noise}, progress=False)
        for _ in range(200):  # one whole episode
            trainer.collect_step()
        return trainer.buffer.all_obs().numpy(), trainer.buffer.all_act()

    (obs0, _), (obs1, act1) = collect(0.0), collect(0.5)
    assert not np.allclose(obs0, obs1)
    expert = PendulumDemonstrator(seed=0)
    theta, theta_dot = np.arctan2(obs1[:, 1], obs1[:, 0]), obs1[:, 2]
    near_rest = (pendulum_energy(theta, theta_dot) - E_BOTTOM < REST_ENERGY) & (np.abs(theta_dot) < REST_SPEED)
    away_from_rest = ~near_rest  # there the kick's direction is a per-episode draw
    np.testing.assert_allclose(expert.act(obs1)[away_from_rest], act1[away_from_rest], atol=1e-6)
    assert (act1.abs() <= 2.0).all()


def test_policy_is_a_diffusion_policy_with_ema_weights(tiny_trainer):
    policy = tiny_trainer.policy
    assert isinstance(policy, DiffusionPolicy)
    ema = tiny_trainer.ema_model.state_dict()
    for k, v in policy.model.state_dict().items():
        torch.testing.assert_close(v, ema[k])
    assert policy is tiny_trainer.policy  # cached until the weights change


def test_nan_loss_stops_training_with_a_clear_message():
    trainer = Trainer("diffusion", seed=0, config={**TINY, "learning_rate": 1e30}, progress=False)
    with pytest.raises(FloatingPointError) as info:
        trainer.train(1000)
    message = str(info.value)
    # What happened, where, what state the trainer is in, and what to try (with this run's own numbers).
    assert re.search(r"loss became (nan|inf) at gradient update \d+ \(seen at update \d+", message), message
    assert "weights non-finite" in message and "new Trainer or a checkpoint" in message
    assert "learning_rate lower than 1e+30 (e.g. 1e+29)" in message and "max_grad_norm=1.0" in message


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(algorithm="ppo"), ValueError, "unknown algorithm 'ppo'"),
        (dict(env="Pendulum-v9"), ValueError, "unknown environment id 'Pendulum-v9'.*Pendulum-v1"),
        (dict(env="CartPole-v1"), ValueError, "CartPole-v1 has a Discrete action space"),
        (dict(env=3), TypeError, "env must be"),
        (dict(env="MountainCarContinuous-v0"), ValueError, "no built-in demonstrator"),
        (dict(config={"hiden_dim": 64}), ValueError, "'hidden_dim'"),
        (dict(config={"hidden_dim": True}), TypeError, "hidden_dim"),
        (dict(seed=1, config={"seed": 2}), ValueError, "seed"),
        (dict(config="fast"), TypeError, "config must be a dict"),
    ],
)
def test_trainer_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Trainer(**{"algorithm": "diffusion", "env": "Pendulum-v1", "progress": False, **kwargs})


@pytest.mark.parametrize("steps, exc", [(0, ValueError), (-5, ValueError), (np.int64(0), ValueError),
                                        (1.5, TypeError), (10.0, TypeError), (True, TypeError),
                                        (np.bool_(True), TypeError), ("100", TypeError)])
def test_train_bad_total_timesteps(tiny_trainer, steps, exc):
    with pytest.raises(exc, match="total_timesteps must be an int >= 1"):
        tiny_trainer.train(steps)


@pytest.mark.parametrize("steps", [np.int64(10), np.int32(10), np.uint16(10), 10])
def test_train_accepts_any_integer(steps):
    trainer = Trainer("diffusion", seed=3, config={**TINY, "warmup_steps": 5}, progress=False)
    trainer.collect(200)  # one finished episode, so the next steps update
    m = trainer.train(steps)
    assert m["env_steps"] == 210 and m["n_updates"] == 10 and type(m["env_steps"]) is int


@pytest.mark.parametrize("warmup, train_freq, done, steps, ok", [
    (200, 1, 0, 199, False), (200, 1, 0, 200, True), (200, 1, 150, 49, False), (200, 1, 150, 50, True),
    (200, 7, 0, 202, False), (200, 7, 0, 203, True),  # the first update step is the first multiple of 7 >= 200
])
def test_train_refuses_a_call_that_cannot_update_before_collecting(warmup, train_freq, done, steps, ok):
    trainer = Trainer("diffusion", seed=3, config={**TINY, "warmup_steps": warmup, "train_freq": train_freq},
                      progress=False)
    if done:
        trainer.collect(done)
    if ok:
        assert trainer.train(steps)["n_updates"] >= 1
    else:
        with pytest.raises(ValueError, match=rf"train\({steps}\) would make no gradient update.*warmup_steps="
                                             rf"{warmup}.*allowed: total_timesteps >= {steps + 1}"):
            trainer.train(steps)
        assert trainer.env_steps == done, "nothing was collected"


def test_collect_gathers_without_updating_and_train_goes_on():
    trainer = Trainer("diffusion", seed=3, config=TINY, progress=False)
    m = trainer.collect(250)  # past warmup_steps=200: still no update
    assert (m["env_steps"], m["n_updates"], len(trainer.buffer)) == (250, 0, 200)
    assert trainer.train(10)["n_updates"] == 10


def test_fused_adam_only_where_this_torch_has_it(monkeypatch):
    from torch.torch_version import TorchVersion

    from dpedu.trainer import AdamWithEMA, fused_adam_supported

    assert fused_adam_supported("cpu") and fused_adam_supported("cuda") and not fused_adam_supported("mps")
    assert AdamWithEMA(torch.nn.Linear(2, 2), 1e-3).optimizer.defaults["fused"] is True  # as before, torch >= 2.4
    monkeypatch.setattr(torch, "__version__", TorchVersion("2.3.1"))  # CPU fused Adam arrived in torch 2.4
    assert not fused_adam_supported("cpu") and fused_adam_supported("cuda")
    assert not AdamWithEMA(torch.nn.Linear(2, 2), 1e-3).optimizer.defaults["fused"]
