"""Trainer: the collection/update rule, the loss going down, metrics, and bad input."""

import math

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
    with pytest.raises(FloatingPointError, match=r"gradient update \d+.*learning_rate"):
        trainer.train(1000)


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


@pytest.mark.parametrize("steps", [0, -5, 1.5, True, "100"])
def test_train_bad_total_timesteps(tiny_trainer, steps):
    with pytest.raises(ValueError, match="total_timesteps"):
        tiny_trainer.train(steps)
