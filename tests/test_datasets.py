"""Datasets on disk (dpedu/datasets.py): Chi et al.'s zarr layout round-trips and plain zarr reads it, appends are
whole episodes even when interrupted, record() resumes and gives the same bytes with any number of workers, every
recorded episode replays, pack() makes the read-only one-file form, bad inputs are refused."""

import zipfile

import gymnasium as gym
import numpy as np
import pytest
import zarr

from dpedu.datasets import FORMAT, Demonstrations, DemoWriter, pack, record, replay
from dpedu.envs import make_demonstrator

DETOUR = "dpedu/Detour-v0"


def random_episode(rng, length, obs_dim=3, act_dim=2, state_dim=4):
    return {"obs": rng.normal(size=(length, obs_dim)).astype(np.float32),
            "action": rng.normal(size=(length, act_dim)).astype(np.float32),
            "state": rng.normal(size=(length, state_dim)), "keypoint": rng.normal(size=(length, 8, 2))}


def write(path, episodes, seeds):
    writer = DemoWriter(path, "Pendulum-v1", 3, 2, state_dim=4, extras={"keypoint": (8, 2)}, source="planner",
                        note="made by a test")
    for episode, seed in zip(episodes, seeds):
        writer.append_episode(seed=seed, **episode)
    return writer


def files(path) -> dict:
    """Every file of a dataset directory, name -> bytes."""
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    episodes = [random_episode(rng, n) for n in (5, 1, 1500)]  # one crosses a chunk boundary
    write(tmp_path / "d.zarr", episodes, [7, 3, 11])
    data = Demonstrations.open(tmp_path / "d.zarr")
    assert (data.env_id, data.n_episodes, data.n_steps, len(data)) == ("Pendulum-v1", 3, 1506, 3)
    assert data.attrs["format"] == FORMAT and data.attrs["source"] == "planner"
    assert data.attrs["note"] == "made by a test"
    assert data.episode_ends.tolist() == [5, 6, 1506] and data.episode_seeds.tolist() == [7, 3, 11]
    for stored, episode, seed in zip(data, episodes, [7, 3, 11]):
        assert stored["seed"] == seed
        assert stored["obs"].dtype == np.float32 and stored["state"].dtype == np.float64
        for name in ("obs", "action", "state"):
            np.testing.assert_array_equal(stored[name], episode[name])
        np.testing.assert_array_equal(stored["keypoint"], episode["keypoint"].astype(np.float32))
    np.testing.assert_array_equal(data.obs, np.concatenate([e["obs"] for e in episodes]))
    np.testing.assert_array_equal(data.action, np.concatenate([e["action"] for e in episodes]))


def test_chi_et_al_layout_read_with_plain_zarr(tmp_path):
    """Chi et al.'s names, in zarr format 2: their ReplayBuffer's reads work with nothing from dpedu."""
    rng = np.random.default_rng(1)
    episodes = [random_episode(rng, n) for n in (4, 6)]
    write(tmp_path / "d.zarr", episodes, [0, 1])
    root = zarr.open_group(tmp_path / "d.zarr", mode="r")
    assert root.metadata.zarr_format == 2 and (tmp_path / "d.zarr" / ".zgroup").is_file()
    np.testing.assert_array_equal(root["data/action"][:], np.concatenate([e["action"] for e in episodes]))
    assert root["data/keypoint"].shape == (10, 8, 2) and root["data/state"].dtype == np.float64
    assert root["meta/episode_ends"][:].tolist() == [4, 10] and root["meta/episode_ends"].dtype == np.int64
    assert root["meta/episode_seeds"][:].tolist() == [0, 1]


@pytest.mark.parametrize("stage", ["steps", "steps+seeds", "steps+seeds+grown-ends"])
def test_an_interrupted_append_leaves_whole_episodes(tmp_path, stage):
    """What a kill part-way through append_episode leaves (each zarr file is replaced atomically, so a kill stops
    between files): the visible dataset is the episodes before it, and the next append continues as if the
    interrupted one had never started."""
    rng = np.random.default_rng(2)
    first, lost, later = random_episode(rng, 30), random_episode(rng, 20), random_episode(rng, 10)
    path = tmp_path / "d.zarr"
    write(path, [first], [0])
    root = zarr.open_group(path, mode="r+")
    # The writer's order: every data/ array, then meta/episode_seeds, then meta/episode_ends (grown, then set).
    for name, array in root["data"].arrays():
        array.resize((50, *array.shape[1:]))
        array[30:] = lost[name]
    if "seeds" in stage:
        root["meta/episode_seeds"].resize((2,))
        root["meta/episode_seeds"][1] = 5
    if "grown-ends" in stage:
        root["meta/episode_ends"].resize((2,))  # a kill before the new entry was written: it reads as 0
        assert root["meta/episode_ends"][:].tolist() == [30, 0]

    data = Demonstrations.open(path)
    assert (data.n_episodes, data.n_steps) == (1, 30)
    np.testing.assert_array_equal(data.obs, first["obs"])
    write(path, [later], [6])
    clean = tmp_path / "clean.zarr"
    write(clean, [first, later], [0, 6])
    assert files(path) == files(clean)


def test_damaged_episode_ends_are_refused(tmp_path):
    path = tmp_path / "d.zarr"
    write(path, [random_episode(np.random.default_rng(3), n) for n in (3, 3)], [0, 1])
    zarr.open_group(path, mode="r+")["meta/episode_ends"][0] = 9  # beyond the next entry: not an interrupted write
    with pytest.raises(ValueError, match="episode_ends is damaged"):
        Demonstrations.open(path)


def test_record_export_of_a_built_in_task_replays(tmp_path):
    """The built-in tasks export their demonstrations: Detour's, both sides of the disk, each replaying to success
    from its seed, exactly."""
    summary = record(DETOUR, tmp_path / "detour.zarr", 10, progress=False)
    assert summary["episodes"] == summary["added"] == 10 and summary["complete"] and summary["failed"] == 0
    data = Demonstrations.open(tmp_path / "detour.zarr")
    assert data.episode_seeds.tolist() == list(range(10)) and data.attrs["obs_type"] == "state"  # the env's obs_type
    assert data.state is None and data.attrs["demonstrator"] == "built-in"
    sides = {np.sign(e["obs"][np.abs(e["obs"][:, 0]) < 0.1, 1].mean()) for e in data}
    assert sides == {-1.0, 1.0}  # the data are bimodal, as the demonstrator is
    for i in range(data.n_episodes):
        result = replay(data, i)
        assert result["is_success"] and result["obs_error"] == 0.0 and result["steps"] == len(data.episode(i)["obs"])
    # The same episodes as the demonstrator acting alone from those seeds (no DART noise).
    env = gym.make(DETOUR)
    obs, _ = env.reset(seed=3)
    demonstrator = make_demonstrator(DETOUR, 3, explore_noise=0.0)
    np.testing.assert_array_equal(data.episode(3)["action"][0], demonstrator.act(obs))


def test_pendulum_records_and_replays(tmp_path):
    record("Pendulum-v1", tmp_path / "p.zarr", 2, progress=False)
    data = Demonstrations.open(tmp_path / "p.zarr")
    assert data.n_steps == 400  # Pendulum reports no success: every episode is kept
    assert replay(data, 1) == {"obs_error": 0.0, "steps": 200}


class SometimesStraight:
    """Detour's demonstrator, except that when the episode starts above y = 0.004 it drives straight into the disk:
    a demonstrator that fails on some seeds (seeds 0, 4, 5, 7, 9 and 10 of 0-11)."""

    def __init__(self):
        self.inner, self.straight = make_demonstrator(DETOUR, 0, explore_noise=0.0), None

    def reset(self):
        self.inner.reset()
        self.straight = None

    def act(self, obs):
        if self.straight is None:
            self.straight = obs[1] > 0.004
        return np.array([1.0, 0.0], dtype=np.float32) if self.straight else self.inner.act(obs)


def test_record_skips_failures_and_resumes(tmp_path):
    path, once = tmp_path / "a.zarr", tmp_path / "b.zarr"
    first = record(DETOUR, path, 3, demonstrator=SometimesStraight(), progress=False)
    assert first["failed"] >= 1 and first["episodes"] == 3
    data = Demonstrations.open(path)
    assert data.attrs["n_failed"] == len(data.attrs["failed_seeds"]) == first["failed"]
    assert not set(data.attrs["failed_seeds"]) & set(data.episode_seeds.tolist())
    assert all(replay(data, i)["is_success"] for i in range(3))
    second = record(DETOUR, path, 6, demonstrator=SometimesStraight(), progress=False)  # the same call, bigger
    assert second["added"] == 3 and second["episodes"] == 6
    seeds = Demonstrations.open(path).episode_seeds.tolist()
    assert seeds[:3] == data.episode_seeds.tolist() and seeds == sorted(seeds)
    # ... and it is the dataset one call would have made.
    record(DETOUR, once, 6, demonstrator=SometimesStraight(), progress=False)
    assert files(path) == files(once)
    # A demonstrator that always fails: record gives up after max_failures, with a warning.
    with pytest.warns(RuntimeWarning, match="fails too often"):
        summary = record(DETOUR, tmp_path / "c.zarr", 4, seed_start=1, demonstrator=AlwaysStraight(),
                         max_failures=3, progress=False)
    assert summary["episodes"] == 0 and summary["failed_seeds"] == [1, 2, 3] and not summary["complete"]


class AlwaysStraight:
    def reset(self):
        pass

    def act(self, obs):
        return np.array([1.0, 0.0], dtype=np.float32)


def test_workers_give_the_same_bytes(tmp_path):
    record(DETOUR, tmp_path / "one.zarr", 6, workers=1, demonstrator=SometimesStraight(), progress=False)
    record(DETOUR, tmp_path / "two.zarr", 6, workers=2, demonstrator=SometimesStraight(), progress=False)
    assert files(tmp_path / "one.zarr") == files(tmp_path / "two.zarr")


def test_pack_makes_one_read_only_file(tmp_path):
    rng = np.random.default_rng(4)
    episodes = [random_episode(rng, n) for n in (7, 9)]
    write(tmp_path / "d.zarr", episodes, [0, 1])
    dst = pack(tmp_path / "d.zarr", tmp_path / "d.zarr.zip")
    assert zipfile.is_zipfile(dst)
    with Demonstrations.open(dst) as packed:
        source = Demonstrations.open(tmp_path / "d.zarr")
        assert packed.attrs == source.attrs and packed.n_episodes == 2
        for a, b in zip(packed, source):
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a if k != "seed")
    # Plain zarr reads the zip as Chi et al.'s code does.
    root = zarr.open_group(zarr.storage.ZipStore(dst, mode="r"), mode="r")
    assert root["meta/episode_ends"][:].tolist() == [7, 16]
    with pytest.raises(ValueError, match="read-only"):
        DemoWriter(dst, "Pendulum-v1", 3, 2)
    with pytest.raises(ValueError, match="exists"):
        pack(tmp_path / "d.zarr", dst)
    again = pack(tmp_path / "d.zarr", tmp_path / "again.zarr.zip")
    assert again.read_bytes() == dst.read_bytes()  # the same dataset, the same bytes
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


class PointEnv(gym.Env):
    """A point on a line under force control that reports its simulator state with state() and starts from a given
    state with reset(options={"state": ...}), as Push-T does: the generic state path of record and replay."""

    observation_space = gym.spaces.Box(-10, 10, (2,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.v = (options["state"] if options else (self.np_random.uniform(-5, -3), 0.0))
        return self._obs(), {"is_success": False}

    def state(self):
        return np.array([self.x, self.v])

    def _obs(self):
        return np.array([self.x, self.v], dtype=np.float32)

    def step(self, action):
        self.v = 0.9 * self.v + 0.1 * float(action[0])
        self.x += self.v
        success = abs(self.x) < 0.1
        return self._obs(), float(success), success, False, {"is_success": success}


class PointDemonstrator:
    def reset(self):
        pass

    def act(self, obs):
        return np.clip([-obs[0] - 3 * obs[1]], -1, 1).astype(np.float32)


def test_an_env_with_state_records_it_and_replays_from_it(tmp_path):
    gym.register("dpedu-test/Point-v0", entry_point=PointEnv, max_episode_steps=200)
    try:
        record("dpedu-test/Point-v0", tmp_path / "p.zarr", 3, demonstrator=PointDemonstrator(), progress=False)
        data = Demonstrations.open(tmp_path / "p.zarr")
        episode = data.episode(2)
        np.testing.assert_array_equal(episode["state"].astype(np.float32), episode["obs"])  # float64 kept
        env = gym.make("dpedu-test/Point-v0")
        assert replay(data, 2, env=env)["is_success"] and replay(data, 2)["obs_error"] == 0.0
        # From its stored initial state, not from its seed: a seed that starts elsewhere does not matter.
        zarr.open_group(tmp_path / "p.zarr", mode="r+")["meta/episode_seeds"][2] = 99
        assert replay(tmp_path / "p.zarr", 2)["obs_error"] == 0.0
    finally:
        del gym.registry["dpedu-test/Point-v0"]


@pytest.mark.parametrize("make, error, message", [
    (lambda p: DemoWriter(p / "d", "Pendulum-v1", 3, 1), ValueError, r"<name>\.zarr directory"),
    (lambda p: DemoWriter(p / "d.zarr", "Pendulum-v1", 0, 1), ValueError, "obs_dim must be an int >= 1"),
    (lambda p: DemoWriter(p / "d.zarr", "Pendulum-v1", 3, 1, extras={"obs": (2,)}), ValueError, "not allowed"),
    (lambda p: DemoWriter(p / "d.zarr", "Pendulum-v1", 3, 1).append_episode(np.zeros((4, 3)), np.zeros((4, 2)), 0),
     ValueError, r"action must have shape \(L, 1\)"),
    (lambda p: DemoWriter(p / "d.zarr", "Pendulum-v1", 3, 1).append_episode(np.zeros((4, 3)), np.zeros((5, 1)), 0),
     ValueError, "the same length"),
    (lambda p: DemoWriter(p / "d.zarr", "Pendulum-v1", 3, 1).append_episode(np.full((4, 3), np.nan),
                                                                           np.zeros((4, 1)), 0), ValueError, "NaN"),
    (lambda p: DemoWriter(p / "d.zarr", "Pendulum-v1", 3, 1).append_episode(np.zeros((4, 3)), np.zeros((4, 1)), -1),
     ValueError, "seed must be an int >= 0"),
    (lambda p: DemoWriter(p / "d.zarr", "Pendulum-v1", 3, 1).append_episode(np.zeros((4, 3)), np.zeros((4, 1)), 0,
                                                                           state=np.zeros((4, 2))),
     ValueError, r"arrays \['action', 'obs'\]; got \['action', 'obs', 'state'\]"),
    (lambda p: Demonstrations.open(p / "missing.zarr"), FileNotFoundError, "no such dataset directory"),
    (lambda p: Demonstrations.open(p), ValueError, r"a <name>\.zarr directory or a <name>\.zarr\.zip file"),
    (lambda p: record("NoSuch-v0", p / "d.zarr", 1), ValueError, "unknown environment id"),
    (lambda p: record("MountainCarContinuous-v0", p / "d.zarr", 1), ValueError, "no built-in demonstrator"),
    (lambda p: record(DETOUR, p / "d.zarr", 0), ValueError, "n_episodes must be an int >= 1"),
    (lambda p: record(DETOUR, p / "d.zarr", 2, workers=1.5), TypeError, "workers must be an int"),
    (lambda p: record(DETOUR, p / "d.zarr", 1, demonstrator=object(), progress=False), TypeError,
     r"needs the methods reset\(\) and act\(obs\); object has no reset\(\) and no act\(\)"),
    (lambda p: record(DETOUR, p / "d.zarr", 1, demonstrator=WrongShape(), progress=False), ValueError,
     r"WrongShape\.act\(obs\) returned an action of shape \(3,\).*needs shape \(2,\)"),
    (lambda p: pack(p / "d.zarr", p / "d.zip"), FileNotFoundError, "no such dataset"),
])
def test_bad_inputs_are_refused(tmp_path, make, error, message):
    with pytest.raises(error, match=message):
        make(tmp_path)


class WrongShape(AlwaysStraight):
    def act(self, obs):
        return np.zeros(3, dtype=np.float32)


def test_appending_other_demonstrations_is_refused(tmp_path):
    DemoWriter(tmp_path / "d.zarr", "Pendulum-v1", 3, 1)
    with pytest.raises(ValueError, match="holds Pendulum-v1 demonstrations.*cannot append dpedu/Detour-v0"):
        DemoWriter(tmp_path / "d.zarr", DETOUR, 2, 2)
    with pytest.raises(ValueError, match="holds files and is not a zarr dataset"):
        (tmp_path / "other.zarr").mkdir()
        (tmp_path / "other.zarr" / "notes.txt").write_text("mine")
        DemoWriter(tmp_path / "other.zarr", "Pendulum-v1", 3, 1)
    with pytest.raises(IndexError, match="episode 0 of a dataset of 0 episodes"):
        Demonstrations.open(tmp_path / "d.zarr").episode(0)


def test_push_t_records_chi_et_al_arrays_and_replays_from_its_state(tmp_path):
    """Push-T (when dpedu/envs/pusht.py is present): data/state is the simulator's 5-vector, data/keypoint the
    observation's 8 block keypoints (Chi et al.'s arrays), and each episode replays to success from data/state at
    its first step."""
    pytest.importorskip("dpedu.envs.pusht")
    summary = record("dpedu/PushT-v0", tmp_path / "pusht.zarr", 2, progress=False)
    data = Demonstrations.open(tmp_path / "pusht.zarr")
    assert summary["episodes"] == 2 and data.attrs["obs_type"] == "keypoints"
    for i, episode in enumerate(data):
        assert episode["state"].shape == (len(episode["obs"]), 5) and episode["state"].dtype == np.float64
        np.testing.assert_array_equal(episode["keypoint"], episode["obs"][:, :16].reshape(-1, 8, 2))
        np.testing.assert_allclose(episode["state"][:, :2], episode["obs"][:, 16:], atol=1e-3)  # the agent
        result = replay(data, i)
        assert result["is_success"] and result["obs_error"] < 1e-3, result
