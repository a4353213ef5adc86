"""The Push-T dataset shipped in the package (dpedu/course/datasets/pusht.zarr.zip): what notebook 08 and the preset
train on. At least 200 successful demonstrations, none from a test start, each replaying to success from its stored
initial state (the issue's done-when), in Chi et al.'s layout."""

import gymnasium as gym
import numpy as np
import pytest

import dpedu  # noqa: F401  (registers dpedu/PushT-v0)
from dpedu.config import PRESETS
from dpedu.datasets import PUSHT_DATASET, Demonstrations, replay
from dpedu.envs.pusht import TEST_START_SEED


@pytest.fixture(scope="module")
def data():
    with Demonstrations.open(PUSHT_DATASET) as demonstrations:
        yield demonstrations


def test_shipped_dataset_is_chi_et_al_layout(data):
    zarr = pytest.importorskip("zarr")
    root = zarr.open_group(zarr.storage.ZipStore(PUSHT_DATASET, mode="r"), mode="r")
    assert {"obs", "action", "state", "keypoint"} <= set(root["data"].array_keys())
    assert root["data/state"].shape == (data.n_steps, 5) and root["data/keypoint"].shape == (data.n_steps, 8, 2)
    assert root["meta/episode_ends"][-1] == data.n_steps
    assert data.env_id == "dpedu/PushT-v0" and data.obs_dim == 18 and data.act_dim == 2


def test_shipped_dataset_has_200_demonstrations_away_from_the_test_starts(data):
    assert data.n_episodes >= 200
    assert data.episode_seeds.max() < TEST_START_SEED, "a test start must never be demonstrated"
    assert len(set(data.episode_seeds.tolist())) == data.n_episodes
    actions = data.action
    assert actions.min() >= 0 and actions.max() <= 512, "targets inside the action box"


def test_every_shipped_episode_replays_to_success(data):
    env = gym.make(data.env_id)
    try:
        results = [replay(data, i, env=env) for i in range(data.n_episodes)]
    finally:
        env.close()
    failed = [i for i, r in enumerate(results) if not r["is_success"]]
    assert not failed, f"episodes that do not replay to success: {failed}"
    assert max(r["obs_error"] for r in results) < 1e-3, "the replayed observations are the stored ones"
    lengths = np.diff(np.concatenate([[0], data.episode_ends]))
    assert [r["steps"] for r in results] == lengths.tolist(), "each replay succeeds exactly at its last stored step"


def test_preset_names_the_shipped_dataset():
    assert PRESETS["dpedu/PushT-v0"]["dataset"] == "pusht" and PUSHT_DATASET.is_file()
