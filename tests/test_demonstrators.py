"""The Demonstrator base: one seeding, reset, batch rule, DART explore and state for every task; and the data it
collects, bit for bit what the demonstrators collected before the base existed."""

import hashlib
import io

import numpy as np
import pytest
import torch

from dpedu import Trainer
from dpedu.config import PRESETS
from dpedu.envs import DEMONSTRATORS, Demonstrator, make_demonstrator
from dpedu.envs.detour import DetourDemonstrator
from dpedu.envs.pendulum import PendulumDemonstrator

OBS = {"Pendulum-v1": np.array([-1.0, 0.0, 0.0]), "dpedu/Detour-v0": np.array([-1.2, 0.01]),
       "dpedu/DetourPosition-v0": np.array([-1.2, 0.01])}


def buffer_sha256(trainer) -> str:
    h = hashlib.sha256()
    for x in (trainer.buffer.all_obs(), trainer.buffer.all_act()):
        h.update(x.cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# sha256 of the buffer's observations and actions after Trainer(..., seed=42).collect(1500) (train()'s loop without
# updates), recorded on the demonstrators as they were before the Demonstrator base (commit b39cb4f); then the
# episodes finished.
COLLECTED = [
    ("Pendulum-v1", {"warmup_steps": 10**6}, "94d98809e864515dfcaa85382b6c15940e43882e34d9d7c5175043ce4e7c42bd", 7),
    ("Pendulum-v1", {**PRESETS["Pendulum-v1"]["config"], "warmup_steps": 10**6},  # DART noise 0.5
     "4c9a0a7ec0ad3f97d8d7d6634f7c8bb515d3808a1b7c801674a0d6c13f22fdd1", 7),
    ("dpedu/Detour-v0", PRESETS["dpedu/Detour-v0"]["config"],  # warm-up 8 000 > 1 500: collection only
     "3ca3b5925fb319e196476803e179a114cb7249337ecd9be9886d35b57938a84a", 29),
]


@pytest.mark.parametrize("env, config, sha256, episodes", COLLECTED, ids=["pendulum", "pendulum-dart", "detour"])
def test_collected_data_is_bit_identical(env, config, sha256, episodes):
    trainer = Trainer("diffusion", env=env, seed=42, config=config, progress=False)
    trainer.collect(1500)
    assert trainer.n_updates == 0 and trainer.episodes == episodes
    assert buffer_sha256(trainer) == sha256


# Push-T's planner keeps one plan: it acts on one episode at a time and refuses a batch (tests/test_pusht.py).
@pytest.mark.parametrize("env_id", [env_id for env_id in DEMONSTRATORS if env_id != "dpedu/PushT-v0"])
def test_the_batch_rule_is_the_same_for_every_task(env_id):
    expert = make_demonstrator(env_id, seed=0)
    assert expert.choices is None
    expert.act(np.stack([OBS[env_id]] * 4))  # the first act() after reset fixes N = 4
    assert expert.choices.shape == (4,)
    with pytest.raises(ValueError, match=r"batch size changed from 4 to 3 without reset\(\)"):
        expert.act(np.stack([OBS[env_id]] * 3))
    with pytest.raises(ValueError, match="batch size changed from 4 to 1"):
        expert.act(OBS[env_id])
    expert.reset()
    assert expert.choices is None
    assert expert.act(np.stack([OBS[env_id]] * 3)).shape[0] == 3


def test_detour_no_longer_redraws_its_sides_silently():
    expert = DetourDemonstrator(seed=1)
    expert.act(np.stack([OBS["dpedu/Detour-v0"]] * 8))
    sides = expert.sides
    with pytest.raises(ValueError, match="batch size changed from 8 to 2"):
        expert.act(np.stack([OBS["dpedu/Detour-v0"]] * 2))
    np.testing.assert_array_equal(expert.sides, sides)  # the failed call changed nothing


@pytest.mark.parametrize("env_id, key", [("Pendulum-v1", "directions"), ("dpedu/Detour-v0", "sides")])
def test_state_dict_round_trips_the_rng_and_the_choices(env_id, key):
    a = make_demonstrator(env_id, seed=3, explore_noise=0.3)
    a.act(np.stack([OBS[env_id]] * 5))
    state = a.state_dict()
    assert set(state) == {"rng", key} and state[key] == a.choices.tolist()
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    b = make_demonstrator(env_id, seed=99, explore_noise=0.3)
    b.load_state_dict(torch.load(buf, weights_only=True))  # plain Python: a checkpoint loads it safely
    np.testing.assert_array_equal(b.choices, a.choices)
    label = a.act(np.stack([OBS[env_id]] * 5))
    np.testing.assert_array_equal(b.act(np.stack([OBS[env_id]] * 5)), label)
    np.testing.assert_array_equal(b.explore(label), a.explore(label))  # the same noise next
    a.reset(), b.reset()
    a.act(OBS[env_id]), b.act(OBS[env_id])
    np.testing.assert_array_equal(a.choices, b.choices)  # the same next draw


def test_load_state_dict_names_the_missing_key():
    match = r"DetourDemonstrator state needs the keys 'rng' and 'sides', got \['directions', 'rng'\]"
    with pytest.raises(ValueError, match=match):
        DetourDemonstrator().load_state_dict({"rng": {}, "directions": None})


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, "3", True])
def test_bad_seed_is_refused(seed):
    with pytest.raises(ValueError, match=r"seed must be None or an int in \[0, 2\*\*63 - 1\]"):
        PendulumDemonstrator(seed=seed)


def test_detour_refuses_non_finite_observations_like_pendulum():
    with pytest.raises(ValueError, match="non-finite"):
        DetourDemonstrator(seed=0).act(np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match=r"shape \(2,\) or \(N, 2\)"):
        DetourDemonstrator(seed=0).act(np.zeros(3))


def test_a_new_task_writes_only_act():
    class Bang(Demonstrator):
        OBS_DIM, OBS_NAMES, ACTION_BOUND, CHOICES = 1, "x", 1.0, "signs"

        def act(self, obs):
            x, single = self.observations(obs)
            a = self.episode_choices(len(x))[:, None].astype(np.float32)  # (N, 1)
            return a[0] if single else a

    expert = Bang(seed=0, explore_noise=0.5)
    actions = expert.act(np.zeros((6, 1)))
    assert actions.shape == (6, 1) and set(np.unique(actions)) <= {-1.0, 1.0}
    noisy = expert.explore(actions)
    assert np.all(np.abs(noisy) <= 1.0) and not np.array_equal(noisy, actions)
    assert set(expert.state_dict()) == {"rng", "signs"}
