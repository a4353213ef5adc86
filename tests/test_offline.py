"""Offline training (Trainer(..., dataset=...)): the buffer is the dataset, train(n_updates) makes that many updates
with no demonstrator and no environment step, a checkpoint resumes bit for bit without the file, Ctrl-C stops at an
update, and the mixes that cannot be meant are refused."""

import os
import signal

import numpy as np
import pytest
import torch
from conftest import TINY
from test_resume import assert_identical, fingerprint

from dpedu import Trainer
from dpedu.datasets import Demonstrations, DemoWriter, record

DETOUR = "dpedu/Detour-v0"


@pytest.fixture(scope="module")
def detour_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "detour.zarr"
    record(DETOUR, path, 12, progress=False)
    return path


@pytest.fixture(scope="module")
def pendulum_data(tmp_path_factory):
    """Three Pendulum episodes (600 steps): test_resume's fingerprint reads Pendulum's observations."""
    path = tmp_path_factory.mktemp("data") / "pendulum.zarr"
    record("Pendulum-v1", path, 3, progress=False)
    return path


def make(path, seed=0, **overrides):
    return Trainer("diffusion", dataset=path, seed=seed, config={**TINY, **overrides}, progress=False)


@pytest.fixture(scope="module")
def straight(detour_data):
    """500 updates in one go on Detour's demonstrations."""
    trainer = make(detour_data)
    trainer.train(n_updates=500)
    return trainer


@pytest.fixture(scope="module")
def pendulum_straight(pendulum_data):
    """The reference of the resume tests: 500 updates in one go on Pendulum's."""
    trainer = make(pendulum_data)
    trainer.train(n_updates=500)
    return trainer


def test_the_buffer_is_the_dataset_and_nothing_is_collected(detour_data, straight):
    data = Demonstrations.open(detour_data)
    assert straight.env_id == DETOUR and straight.offline and straight.demonstrator is None
    assert (straight.n_updates, straight.env_steps, straight.episodes) == (500, 0, 12)
    assert len(straight.buffer) == data.n_steps
    np.testing.assert_array_equal(straight.buffer.all_obs().numpy(), data.obs)
    np.testing.assert_array_equal(straight.buffer.all_act().numpy(), data.action)
    # Each episode's edges are its own: a window never crosses into the next episode.
    firsts = np.concatenate([[0], data.episode_ends[:-1]])
    assert straight.buffer.first.unique().tolist() == firsts.tolist()
    # The normalisers: observations fitted on the dataset, actions to the action space's bounds.
    torch.testing.assert_close(straight.obs_normalizer.low, torch.from_numpy(data.obs.min(0)))
    assert straight.act_normalizer.low.tolist() == [-1.0, -1.0]
    assert straight.dataset["n_episodes"] == 12 and straight.dataset["env_id"] == DETOUR
    # It learns from them: the loss of the last 100 updates is well below that of the first 100.
    assert straight.loss_history[-1][1] < 0.6 * straight.loss_history[0][1], straight.loss_history


def test_same_seed_same_bits_and_resume_equals_one_run(pendulum_data, pendulum_straight, tmp_path):
    """train(n_updates=200); save; load (without the dataset file); train(n_updates=300) == train(n_updates=500)."""
    trainer = make(pendulum_data)
    trainer.train(n_updates=200)
    path = trainer.save(tmp_path / "trainer.pt")
    del trainer
    moved = pendulum_data.rename(pendulum_data.with_name("moved.zarr"))  # the checkpoint holds the data it needs
    try:
        resumed = Trainer.load(path, progress=False)
    finally:
        moved.rename(pendulum_data)
    assert resumed.offline and resumed.dataset == pendulum_straight.dataset
    resumed.train(n_updates=300)
    assert_identical(fingerprint(pendulum_straight), fingerprint(resumed))
    again = make(pendulum_data)
    again.train(n_updates=500)
    assert_identical(fingerprint(pendulum_straight), fingerprint(again))


def test_interrupt_stops_at_an_update_and_train_goes_on(pendulum_data, pendulum_straight):
    straight, trainer = pendulum_straight, make(pendulum_data)
    update = trainer.update

    def update_and_interrupt():  # Ctrl-C pressed during update 123
        if trainer.n_updates + 1 == 123:
            os.kill(os.getpid(), signal.SIGINT)
        update()

    trainer.update = update_and_interrupt
    with pytest.raises(KeyboardInterrupt, match=r"after 123 of 500 updates.*train\(n_updates=377\)"):
        trainer.train(n_updates=500)
    assert trainer.n_updates == 123 and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    trainer.train(n_updates=377)
    assert_identical(fingerprint(straight), fingerprint(trainer))


def test_what_an_offline_trainer_refuses(detour_data, straight):
    with pytest.raises(ValueError, match=r"train\(500\): this trainer learns from a dataset.*n_updates=N"):
        straight.train(500)
    with pytest.raises(TypeError, match="needs n_updates"):
        straight.train()
    with pytest.raises(ValueError, match="no demonstrator to collect with"):
        straight.collect(10)
    with pytest.raises(ValueError, match="n_updates must be an int >= 1"):
        straight.train(n_updates=0)


def test_an_online_trainer_refuses_n_updates(tiny_trainer):
    with pytest.raises(ValueError, match=r"train\(n_updates=10\).*give train\(total_timesteps=N\)"):
        tiny_trainer.train(n_updates=10)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"env": "Pendulum-v1"}, ValueError, r"holds demonstrations of 'dpedu/Detour-v0', not of env='Pendulum-v1'"),
    ({"demonstrator": object()}, ValueError, "not both"),
    ({"dataset": "missing.zarr"}, FileNotFoundError, "no such dataset directory"),
    ({"config": {**TINY, "buffer_size": 100}}, ValueError, r"more than buffer_size=100; set buffer_size >= 516"),
])
def test_bad_offline_trainers_are_refused(detour_data, kwargs, error, message):
    kwargs = {"dataset": detour_data, "config": TINY, **kwargs}
    with pytest.raises(error, match=message):
        Trainer("diffusion", progress=False, **kwargs)


def test_a_dataset_that_does_not_fit_its_env_is_refused(tmp_path):
    writer = DemoWriter(tmp_path / "d.zarr", "Pendulum-v1", 2, 1)  # Pendulum observes 3 numbers, not 2
    writer.append_episode(np.zeros((5, 2)), np.zeros((5, 1)), 0)
    with pytest.raises(ValueError, match="have 2 and 1 entries, Pendulum-v1's 3 and 1"):
        Trainer("diffusion", dataset=tmp_path / "d.zarr", config=TINY, progress=False)


def test_checkpoints_do_not_mix_online_and_offline(tiny_trainer, straight, tmp_path):
    with pytest.raises(ValueError, match="learns from a dataset, this one collects from a demonstrator"):
        Trainer("diffusion", env=DETOUR, config=TINY, progress=False).load_state_dict(straight.state_dict())
    with pytest.raises(ValueError, match="takes no demonstrator"):
        Trainer.load(straight.save(tmp_path / "t.pt"), demonstrator=object())
