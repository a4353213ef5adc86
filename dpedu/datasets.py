"""Demonstrations on disk: write them, read them, record them with a demonstrator, replay them. Notebook 08.

The format is Chi et al.'s zarr replay buffer (diffusion_policy/common/replay_buffer.py; LeRobot's pusht_zarr
converter reads the same), written in zarr format 2, so zarr 2 and zarr 3 both read it:

    <name>.zarr/        a directory, appendable        <name>.zarr.zip   one file, read-only (pack(); Chi et al.
      data/obs          (N, obs_dim)   float32                            ship their datasets so)
      data/action       (N, act_dim)   float32    a_t, the action taken after o_t: the label
      data/state        (N, state_dim) float64    optional: the simulator's state at o_t (Push-T: Chi et al.'s)
      data/keypoint     (N, 8, 2)      float32    Push-T only: the block's keypoints (Chi et al.'s)
      data/img          (N, H, W, C)   uint8      optional, added by render_frames(): the camera frame of each step,
                                                  drawn from data/state (or data/obs) by the task's renderer;
                                                  compressed by zarr's default codec (Chi et al.'s name and layout)
      data/agent_pos    (N, d)         float32    beside data/img: the agent's position, pixels_agent_pos' vector
      meta/episode_ends  (E,) int64    one past each episode's last step, cumulative (Chi et al.'s)
      meta/episode_seeds (E,) int64    the env.reset(seed=...) that started each episode: with data/state at its
                                       first step, its initial state, so the episode can be replayed
      attrs: format ("dpedu-demonstrations/1"), env_id, obs_type, source ("demonstrator", "planner", "teleop"),
             dpedu_version, and from record(): n_failed, failed_seeds, demonstrator; from render_frames(): frames
             ({"shape", "n_steps"}: written last, so frames cut short by an interruption are never read)

Episode i holds steps episode_ends[i-1] .. episode_ends[i] - 1 of every data/ array.

Whole episodes only. An episode is written arrays first, meta/episode_seeds next, meta/episode_ends last (each file
is replaced atomically by zarr), so meta/episode_ends decides what exists: rows beyond its last entry are an
interrupted append and nobody reads them. One interrupted write can leave one more thing, a last entry of
meta/episode_ends that zarr shows as its fill value 0 (the array grew, its new value was not yet written): an entry
not above the one before it is not an episode. The next append trims both away. Appends take a lock (flock on the
directory), so two writers (a recorder and the teleop widget) never interleave.

Online collection or a fixed dataset? The Trainer can learn either way, and each gives something the other cannot:
  * online, with a demonstrator on call (DART: execute a noisy action, record the expert's clean one), the data
    show how to recover from states near the expert's path, the states a policy's own small mistakes lead to; and
    there is no limit to how much data there is;
  * a fixed dataset is the paper's setting and most robots': demonstrations made once, by people (teleoperation)
    or by a slow planner, with no expert to ask about the states the policy later visits. It is what you have when
    no program can act as the expert, it is shared (the same file trains every method, here and in other tools),
    and it makes a run reproducible from a file rather than from a demonstrator's code.

record() stores the demonstrator's own actions, executed as given (no DART noise): a recorded episode replays.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import multiprocessing
import numbers
import os
import signal
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np

FORMAT = "dpedu-demonstrations/1"
# The course's Push-T demonstrations, shipped in the package (regenerate: `dpedu dataset record --env dpedu/PushT-v0
# --episodes 200 --out pusht.zarr --workers 2`, then `dpedu dataset pack pusht.zarr <this path>`).
PUSHT_DATASET = Path(__file__).parent / "course" / "datasets" / "pusht.zarr.zip"
CHUNK_STEPS = 1024  # rows per zarr chunk: an append rewrites at most one partial chunk per array
# Per-step arrays a task adds beside obs/action/state (name -> function of the episode's obs (L, obs_dim)).
EXTRA_ARRAYS = {"dpedu/PushT-v0": lambda obs: {"keypoint": obs[:, :16].reshape(-1, 8, 2)}}  # Chi et al.'s layout


def _zarr():
    import zarr  # here: `import dpedu.datasets` stays cheap for the command line's help

    return zarr


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {low}, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _visible(ends: np.ndarray, n_seeds: int, n_rows: int) -> int:
    """How many episodes meta/episode_ends makes visible (module docstring): its entries while they rise from 0,
    each with a seed and rows behind it. Anything else than one torn last entry is damage, not an interrupted append."""
    e = len(ends)
    if e and (ends[-1] <= (ends[-2] if e > 1 else 0)):
        e -= 1  # the fill value of an append interrupted between growing the array and writing the entry
    rising = np.diff(np.concatenate([[0], ends[:e]])) > 0
    if not rising.all() or n_seeds < e or (e and ends[e - 1] > n_rows):
        raise ValueError(f"meta/episode_ends is damaged: {ends[:8].tolist()}... ({len(ends)} entries) must rise from "
                         f"0 to at most the {n_rows} rows of data/, with one of the {n_seeds} seeds per episode")
    return e


def _open_root(path: Path, mode: str):
    """The zarr group of a dataset directory or .zarr.zip, with errors that name the path and what is allowed."""
    zarr = _zarr()
    if path.name.endswith(".zarr.zip"):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such dataset file")
        if mode != "r":
            raise ValueError(f"{path}: a .zarr.zip dataset is read-only; append to the .zarr directory it was packed "
                             "from and pack() it again")
        store = zarr.storage.ZipStore(path, mode="r")
    elif path.name.endswith(".zarr"):
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: no such dataset directory")
        store = str(path)
    else:
        raise ValueError(f"{path}: a dataset is a <name>.zarr directory or a <name>.zarr.zip file")
    try:
        root = zarr.open_group(store, mode=mode, zarr_format=2)
    except Exception as e:  # not a zarr group (GroupNotFoundError), or a zarr 3 one
        raise ValueError(f"{path}: not a zarr (format 2) dataset ({type(e).__name__}: {str(e)[:200]})") from None
    if root.attrs.get("format") != FORMAT:
        raise ValueError(f"{path}: not a dpedu dataset (attrs format {root.attrs.get('format')!r}, expected "
                         f"{FORMAT!r})")
    return root


class DemoWriter:
    """Appends whole episodes to a <name>.zarr dataset directory, creating it if it does not exist.

    Args:
        path: the dataset directory; its name must end in .zarr.
        env_id, obs_dim, act_dim: what the episodes are of; an existing dataset must agree (ValueError otherwise).
        state_dim: the length of data/state, or None for a dataset without it.
        source: who made the demonstrations ("demonstrator", "planner", "teleop", ...).
        extras: per-step arrays beside obs/action/state, name -> shape of one step (float32), e.g.
            {"keypoint": (8, 2)}.
        obs_type: what data/obs holds ("low_dim": a flat vector; Push-T: "keypoints").
        **attrs: anything else to keep in the root attrs (plain JSON values).
    """

    def __init__(self, path, env_id: str, obs_dim: int, act_dim: int, state_dim: int | None = None,
                 source: str = "demonstrator", extras: dict | None = None, obs_type: str = "low_dim", **attrs):
        if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
            raise ValueError(f"path must be a dataset directory name ending in .zarr, got {path!r}")
        self.path = Path(path)
        if not self.path.name.endswith(".zarr"):
            raise ValueError(f"{self.path}: a dataset written to is a <name>.zarr directory"
                             + (" (a .zarr.zip is read-only: append to the .zarr it was packed from)"
                                if self.path.name.endswith(".zarr.zip") else ""))
        if not isinstance(env_id, str) or not env_id:
            raise TypeError(f"env_id must be a gymnasium id string, got {env_id!r}")
        shapes = {"obs": (_check_int("obs_dim", obs_dim, 1),), "action": (_check_int("act_dim", act_dim, 1),)}
        if state_dim is not None:
            shapes["state"] = (_check_int("state_dim", state_dim, 1),)
        for name, shape in (extras or {}).items():
            if name in ("obs", "action", "state") or not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"extras: {name!r} is not allowed as an array name (a Python identifier other than "
                                 "obs, action, state)")
            shapes[name] = tuple(_check_int(f"extras[{name!r}] size", s, 1) for s in shape)
        if not isinstance(source, str) or not source:
            raise ValueError(f"source must be a non-empty string such as 'planner' or 'teleop', got {source!r}")
        self.env_id, self.shapes = env_id, shapes
        from dpedu import __version__

        wanted = {"format": FORMAT, "env_id": env_id, "obs_type": obs_type, "source": source,
                  "dpedu_version": __version__, **attrs}
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"{self.path}: exists and is not a directory")
        if self.path.is_dir() and any(self.path.iterdir()) and not (self.path / ".zgroup").is_file():
            raise ValueError(f"{self.path}: holds files and is not a zarr dataset; choose another path")
        self.path.mkdir(parents=True, exist_ok=True)
        with self._locked():
            if (self.path / ".zgroup").is_file():
                self._check_same(_open_root(self.path, "r+"), wanted)
            else:
                self._create(wanted)

    def _create(self, attrs: dict) -> None:
        """A new, empty dataset, written beside the (empty) directory and renamed onto it: never half created."""
        tmp = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.new-"))
        root = _zarr().open_group(str(tmp), mode="w", zarr_format=2)
        data, meta = root.create_group("data"), root.create_group("meta")
        dtypes = {"state": "float64"}
        for name, shape in self.shapes.items():
            data.create_array(name, shape=(0, *shape), chunks=(CHUNK_STEPS, *shape), dtype=dtypes.get(name, "float32"))
        for name in ("episode_ends", "episode_seeds"):
            meta.create_array(name, shape=(0,), chunks=(CHUNK_STEPS,), dtype="int64")
        root.attrs.update(attrs)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give what a plain mkdir would
        os.replace(tmp, self.path)  # rename(2) replaces an empty directory

    def _check_same(self, root, wanted: dict) -> None:
        have = {name: tuple(root["data"][name].shape[1:]) for name in root["data"].array_keys()}
        theirs = {k: root.attrs.get(k) for k in ("env_id", "obs_type")}
        if theirs != {k: wanted[k] for k in theirs} or have != self.shapes:
            raise ValueError(f"{self.path} holds {theirs['env_id']} demonstrations with arrays {have} (obs_type "
                             f"{theirs['obs_type']!r}); cannot append {wanted['env_id']} ones with {self.shapes} "
                             f"(obs_type {wanted['obs_type']!r}): write them to another dataset")
        sources = set(str(root.attrs.get("source", "")).split("+")) | {wanted["source"]}
        root.attrs.update({"source": "+".join(sorted(s for s in sources if s))})  # a mixed dataset says so

    @staticmethod
    @contextlib.contextmanager
    def locked_root(path) -> Iterator:
        """The zarr group of a dataset directory, opened for writing under the writers' lock."""
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield _open_root(Path(path), "r+")
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive flock on the dataset directory for one write."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def append_episode(self, obs, action, seed: int, state=None, **extras) -> None:
        """Append one episode: obs (L, obs_dim) o_0..o_{L-1}, action (L, act_dim) a_0..a_{L-1} (a_t taken after
        o_t), seed the env.reset(seed=...) it started from, state (L, state_dim) if the dataset has data/state,
        and each of its extras (L, *shape). Whole or not at all (module docstring)."""
        seed = _check_int("seed", seed, 0)
        given = {"obs": obs, "action": action, **({} if state is None else {"state": state}), **extras}
        if given.keys() != self.shapes.keys():
            raise ValueError(f"this dataset's episodes have arrays {sorted(self.shapes)}; got {sorted(given)}")
        rows = {}
        for name, value in given.items():
            value = np.asarray(value, dtype=np.float64 if name == "state" else np.float32)
            if value.ndim == 0 or value.shape[1:] != self.shapes[name] or len(value) == 0:
                raise ValueError(f"{name} must have shape (L, {', '.join(map(str, self.shapes[name]))}) with L >= 1, "
                                 f"got {value.shape}")
            if not np.isfinite(value).all():
                raise ValueError(f"{name} contains non-finite values (NaN or inf)")
            rows[name] = value
        lengths = {len(v) for v in rows.values()}
        if len(lengths) > 1:
            raise ValueError(f"every array of an episode needs the same length L, got "
                             f"{ {k: len(v) for k, v in rows.items()} }")
        self._append(rows, [lengths.pop()], [seed])

    def _append(self, rows: dict[str, np.ndarray], lengths: list[int], seeds: list[int]) -> None:
        """Append episodes of the given lengths (rows holds their steps end to end) in the module docstring's order."""
        with self._locked():
            root = _open_root(self.path, "r+")
            n, e = self._trim(root)
            n_new = n + sum(lengths)
            for name, value in rows.items():  # 1. the steps, past the last visible episode
                array = root["data"][name]
                array.resize((n_new, *array.shape[1:]))
                array[n:n_new] = value
            seeds_array, ends = root["meta"]["episode_seeds"], root["meta"]["episode_ends"]
            seeds_array.resize((e + len(seeds),))  # 2. their seeds
            seeds_array[e:] = seeds
            ends.resize((e + len(lengths),))  # 3. the commit: now they exist
            ends[e:] = n + np.cumsum(lengths)

    def _trim(self, root) -> tuple[int, int]:
        """Cut what an interrupted append left past the visible episodes; returns (steps, episodes) visible."""
        ends, seeds = root["meta"]["episode_ends"], root["meta"]["episode_seeds"]
        data = [root["data"][name] for name in self.shapes]
        end_values = ends[:]
        e = _visible(end_values, seeds.shape[0], min(a.shape[0] for a in data))
        n = int(end_values[e - 1]) if e else 0
        for array, length in [(a, n) for a in data] + [(seeds, e), (ends, e)]:
            if array.shape[0] != length:
                # Cleared first: zarr keeps a chunk's rows past the shape, and the same episodes should give the
                # same bytes whether or not an append was interrupted before them.
                array[length:] = array.fill_value
                array.resize((length, *array.shape[1:]))
        return n, e

    def note_failure(self, seed: int) -> None:
        """Keep a failed attempt's seed in the attrs (n_failed, failed_seeds): record() does not try it again."""
        seed = _check_int("seed", seed, 0)
        with self._locked():
            root = _open_root(self.path, "r+")
            failed = sorted(set(root.attrs.get("failed_seeds", [])) | {seed})
            root.attrs.update({"failed_seeds": failed, "n_failed": len(failed)})


class Demonstrations:
    """A dataset opened for reading (`Demonstrations.open(path)`): a .zarr directory or a .zarr.zip file.

    Attributes: env_id, n_episodes, n_steps, attrs (the root attrs, a dict), episode_ends (E,), episode_seeds (E,),
    obs_dim, act_dim, obs (N, obs_dim), action (N, act_dim), state ((N, state_dim) or None). `episode(i)` gives one
    episode as a dict; iterating gives them all in order. Reads what was committed when it was opened (module
    docstring); close() (or `with`) releases a .zarr.zip file.
    """

    def __init__(self, root, path: Path):
        self.path, self._root = path, root
        self._data = {name: root["data"][name] for name in root["data"].array_keys()}
        for name in ("obs", "action"):
            if name not in self._data:
                raise ValueError(f"{path}: no data/{name} array")
        ends = root["meta"]["episode_ends"][:]
        seeds = root["meta"]["episode_seeds"][:]
        e = _visible(ends, len(seeds), min(a.shape[0] for a in self._data.values()))
        self.episode_ends, self.episode_seeds = ends[:e].astype(np.int64), seeds[:e].astype(np.int64)
        self.attrs = dict(root.attrs)
        self.env_id: str = self.attrs["env_id"]
        self.n_episodes, self.n_steps = e, int(ends[e - 1]) if e else 0
        self.obs_dim, self.act_dim = self._data["obs"].shape[1], self._data["action"].shape[1]
        # Frames count only once render_frames() finished writing them for every step there is.
        done = self.attrs.get("frames") or {}
        if done.get("n_steps") != self.n_steps or "img" not in self._data:
            for name in ("img", "agent_pos"):
                self._data.pop(name, None)

    @property
    def has_frames(self) -> bool:
        """Whether every step has its camera frame (data/img, from render_frames())."""
        return "img" in self._data

    @property
    def frame_shape(self) -> tuple[int, int, int] | None:
        return tuple(self._data["img"].shape[1:]) if self.has_frames else None

    def frame_obs_dim(self, obs_type: str) -> int:
        """The vector beside each frame: 0 for obs_type "pixels", data/agent_pos' width for "pixels_agent_pos"."""
        return self._data["agent_pos"].shape[1] if obs_type == "pixels_agent_pos" else 0

    @classmethod
    def open(cls, path) -> Demonstrations:
        if isinstance(path, Demonstrations):
            return path
        if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
            raise TypeError(f"a dataset is a path to a .zarr directory or a .zarr.zip file, got {path!r}")
        path = Path(path)
        return cls(_open_root(path, "r"), path)

    def _rows(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        return self._data[name][start: self.n_steps if stop is None else stop]

    @property
    def obs(self) -> np.ndarray:
        return self._rows("obs")

    @property
    def action(self) -> np.ndarray:
        return self._rows("action")

    @property
    def state(self) -> np.ndarray | None:
        return self._rows("state") if "state" in self._data else None

    def episode(self, i: int) -> dict:
        """Episode i: {"obs", "action", "state" (or None), "seed", and any extra arrays ("keypoint")}."""
        i = _check_int("episode index", i, 0)
        if i >= self.n_episodes:
            raise IndexError(f"episode {i} of a dataset of {self.n_episodes} episodes (indices 0.."
                             f"{self.n_episodes - 1})")
        start, stop = (int(self.episode_ends[i - 1]) if i else 0), int(self.episode_ends[i])
        out = {name: self._rows(name, start, stop) for name in self._data}
        return {"state": None, **out, "seed": int(self.episode_seeds[i])}

    def __len__(self) -> int:
        return self.n_episodes

    def __iter__(self) -> Iterator[dict]:
        return (self.episode(i) for i in range(self.n_episodes))

    def summary(self) -> dict:
        """What `dpedu dataset info` prints and a trainer checkpoint keeps: plain values."""
        return {"path": str(self.path), "env_id": self.env_id, "n_episodes": self.n_episodes, "n_steps": self.n_steps,
                "obs_dim": self.obs_dim, "act_dim": self.act_dim, "arrays": sorted(self._data),
                "source": self.attrs.get("source"), "n_failed": self.attrs.get("n_failed", 0),
                **({"frame_shape": list(self.frame_shape)} if self.has_frames else {})}

    def close(self) -> None:
        store = self._root.store
        if hasattr(store, "close"):
            store.close()

    def __enter__(self) -> Demonstrations:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        # The file's name, not its full path (as h5py's File does): a printed dataset reads the same on every machine.
        return f"Demonstrations({self.path.name!r}: {self.env_id}, {self.n_episodes} episodes, {self.n_steps} steps)"


def fill_buffer(buffer, demonstrations: Demonstrations, obs_type: str | None = None) -> None:
    """Every episode of a dataset into a ReplayBuffer (dpedu/data.py), in order: the offline Trainer's data.
    obs_type "pixels" or "pixels_agent_pos": the frames (data/img) and, for the latter, data/agent_pos as the vector."""
    if demonstrations.n_steps > buffer.capacity:
        raise ValueError(f"the dataset has {demonstrations.n_steps} steps, more than buffer_size={buffer.capacity}; "
                         f"set buffer_size >= {demonstrations.n_steps}")
    for episode in demonstrations:
        if obs_type is None:
            buffer.add_episode(episode["obs"], episode["action"])
            continue
        L = len(episode["action"])
        vector = episode["agent_pos"] if obs_type == "pixels_agent_pos" else np.zeros((L, 0), dtype=np.float32)
        buffer.add_episode(vector, episode["action"], frames=episode["img"])


# ---------------------------------------------------------------- frames drawn from the stored states


def render_frames(path, progress: bool = True) -> Demonstrations:
    """Add data/img and data/agent_pos to the dataset directory at `path`: each step's camera frame and agent position,
    drawn by its task's renderer (dpedu.envs.FRAME_RENDERERS) from what the dataset stores of the step (Push-T:
    data/state; Detour: data/obs, the position), exactly as the env draws its own pixel observations. Replaces frames
    rendered before. Returns the dataset, opened for reading."""
    from dpedu.envs import FRAME_RENDERERS

    path = Path(path)
    if path.name.endswith(".zarr.zip"):
        raise ValueError(f"{path}: a .zarr.zip dataset is read-only; render the .zarr directory it was packed from "
                         "and pack() it again")
    data = Demonstrations.open(path)
    try:
        if data.env_id not in FRAME_RENDERERS:
            raise ValueError(f"no frame renderer for {data.env_id}; frames can be drawn for "
                             f"{', '.join(FRAME_RENDERERS)}")
        if data.n_episodes == 0:
            raise ValueError(f"{path}: no episodes to draw frames for")
        renderer = FRAME_RENDERERS[data.env_id]
        episodes = list(data)
    finally:
        data.close()
    first = renderer(episodes[0])
    with DemoWriter.locked_root(path) as root:
        root.attrs.pop("frames", None)  # the old frames stop counting before the new ones are written
        arrays = {}
        for name, value in zip(("img", "agent_pos"), first):
            if name in root["data"]:
                del root["data"][name]
            arrays[name] = root["data"].create_array(name, shape=(data.n_steps, *value.shape[1:]), dtype=value.dtype,
                                                     chunks=(CHUNK_STEPS // 8 if name == "img" else CHUNK_STEPS,
                                                             *value.shape[1:]))
        from tqdm.auto import tqdm

        start, pending = 0, []
        with tqdm(total=len(episodes), desc=f"render {data.env_id}", unit="episode", disable=not progress) as bar:
            for i, episode in enumerate(episodes):
                pending.append(renderer(episode))
                if sum(len(p[0]) for p in pending) >= CHUNK_STEPS or i == len(episodes) - 1:
                    # Written in blocks of whole chunks where possible: each zarr chunk is compressed once.
                    img, agent_pos = (np.concatenate(parts) for parts in zip(*pending))
                    stop, pending = start + len(img), []
                    arrays["img"][start:stop], arrays["agent_pos"][start:stop] = img, agent_pos
                    start = stop
                bar.update(1)
        root.attrs.update({"frames": {"shape": list(first[0].shape[1:]), "n_steps": data.n_steps}})
    return Demonstrations.open(path)


# ---------------------------------------------------------------- recording with a demonstrator


def _has_state(env: gym.Env) -> bool:
    """Whether the env reports its simulator state with a state() method (Push-T: Chi et al.'s data/state)."""
    return callable(getattr(env.unwrapped, "state", None))


def _demonstrator_for(env: gym.Env, env_id: str, seed: int, demonstrator):
    """The episode's demonstrator: the built-in one seeded by the episode's seed, or a fresh copy of the given
    object (so an episode depends on its seed only, whichever process runs it), checked against the env."""
    from dpedu.envs import make_demonstrator
    from dpedu.envs.demonstrator import CheckedDemonstrator

    made = make_demonstrator(env_id, seed, explore_noise=0.0) if demonstrator is None else copy.deepcopy(demonstrator)
    return CheckedDemonstrator(made, env.action_space)


def run_episode(env_id: str, seed: int, demonstrator=None) -> dict:
    """One demonstration from env.reset(seed=seed): the demonstrator's actions, executed as given.

    Returns {"seed", "obs" (L, obs_dim), "action" (L, act_dim), "state" ((L, state_dim) or None), "success"
    (the last info's is_success; None for an env that does not report it), "return"}.
    """
    env = gym.make(env_id)
    try:
        agent = _demonstrator_for(env, env_id, seed, demonstrator)
        obs, _ = env.reset(seed=seed)
        agent.reset()
        observations, actions, states, total = [], [], [], 0.0
        done = False
        while not done:
            action = agent.act(obs)
            observations.append(obs)
            actions.append(action)
            if _has_state(env):
                states.append(np.array(env.unwrapped.state(), dtype=np.float64))
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            done = terminated or truncated
    finally:
        env.close()
    success = info.get("is_success")
    return {"seed": seed, "obs": np.stack(observations).astype(np.float32), "action": np.stack(actions),
            "state": np.stack(states) if states else None, "success": None if success is None else bool(success),
            "return": total}


def _worker_init() -> None:
    """A recording worker: one thread, and Ctrl-C is the parent's to handle (it stops at an episode's end)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _run_seed(job: tuple) -> dict:
    return run_episode(*job)


def _episodes(env_id: str, seeds: list[int], demonstrator, workers: int, pool) -> Iterator[dict]:
    """run_episode for each seed, in seed order, in this process or over the pool's workers."""
    jobs = [(env_id, s, demonstrator) for s in seeds]
    return pool.imap(_run_seed, jobs) if workers > 1 else map(_run_seed, jobs)


def _writer_for(env_id: str, path, demonstrator) -> tuple[DemoWriter, object]:
    """The DemoWriter of record()'s dataset, with the arrays this env's episodes have (data/state for an env with
    state(), the task's EXTRA_ARRAYS), and the function that makes those extras (or None); checks the env first."""
    from dpedu.evaluate import check_env_id

    check_env_id(env_id)
    if demonstrator is None:
        from dpedu.envs import make_demonstrator

        make_demonstrator(env_id)  # an env without a built-in demonstrator: say so before writing anything
    env = gym.make(env_id)
    space, state = env.observation_space, None
    try:
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"{env_id} has a {type(space).__name__} observation space of shape "
                             f"{getattr(space, 'shape', None)}; record() writes flat vectors (data/obs): a 1-D Box")
        env.reset(seed=0)
        if _has_state(env):
            state = np.asarray(env.unwrapped.state())
        obs_type = getattr(env.unwrapped, "obs_type", "low_dim")
    finally:
        env.close()
    extra_fn = EXTRA_ARRAYS.get(env_id)
    extras = None if extra_fn is None else {k: v.shape[1:] for k, v in extra_fn(np.zeros((1, space.shape[0]))).items()}
    writer = DemoWriter(path, env_id, space.shape[0], env.action_space.shape[0],
                        state_dim=None if state is None else state.size, extras=extras, obs_type=obs_type,
                        demonstrator="built-in" if demonstrator is None else type(demonstrator).__name__)
    return writer, extra_fn


def record(env_id: str, path, n_episodes: int, seed_start: int = 0, workers: int = 1, demonstrator=None,
           only_successful: bool = True, max_failures: int | None = None, progress: bool = True) -> dict:
    """Record demonstrations into the dataset at `path` (a .zarr directory) until it holds n_episodes episodes.

    Episode seeds are tried in order from seed_start: env.reset(seed=s), then the demonstrator acts until the
    episode ends (run_episode). With only_successful, an episode whose last info says is_success False is not
    kept: its seed goes into the attrs (n_failed, failed_seeds); an env that reports no success keeps all.
    Seeds already in the dataset or already failed are skipped, so the same call again after an interruption
    (Ctrl-C stops at an episode's end) goes on where it stopped, and gives the same dataset as one uninterrupted
    call. workers > 1 runs episodes in that many processes (one thread each); they are written in seed order,
    so the dataset is the same as with one.

    Args:
        demonstrator: None for the task's built-in one (make_demonstrator(env_id, seed) per episode, no DART
            noise), or your object with reset() and act(obs) (docs/your-own-task.md), deep-copied per episode.
        max_failures: give up once the dataset has this many failed seeds (default: n_episodes, at least 10): one
            that fails that often needs fixing, not more tries.
    Returns a summary dict: path, env_id, episodes (in the dataset), added, failed (this call), failed_seeds (all),
    steps, complete (whether it holds n_episodes), wall_time_s.
    """
    n_episodes, seed_start = _check_int("n_episodes", n_episodes, 1), _check_int("seed_start", seed_start, 0)
    workers = _check_int("workers", workers, 1)
    max_failures = max(10, n_episodes) if max_failures is None else _check_int("max_failures", max_failures, 1)
    from tqdm.auto import tqdm

    from dpedu.runtime.interrupt import DeferredInterrupt

    writer, extra_fn = _writer_for(env_id, path, demonstrator)
    start, added, failed = time.perf_counter(), 0, 0
    data = Demonstrations.open(path)
    have, done = data.n_episodes, set(data.episode_seeds.tolist()) | set(data.attrs.get("failed_seeds", []))
    n_failed = len(data.attrs.get("failed_seeds", []))
    bar = tqdm(total=n_episodes, initial=min(have, n_episodes), desc=f"record {env_id}", unit="episode",
               disable=not progress)
    pool = (multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
            .Pool(workers, initializer=_worker_init) if workers > 1 else None)
    seed = seed_start
    try:
        with DeferredInterrupt() as interrupt:
            while have < n_episodes and n_failed < max_failures and not interrupt.requested:
                # The next seeds not done yet, as many as episodes are missing (each round ends in seed order).
                seeds = []
                while len(seeds) < n_episodes - have:
                    if seed not in done:
                        seeds.append(seed)
                    seed += 1
                for episode in _episodes(env_id, seeds, demonstrator, workers, pool):
                    if only_successful and episode["success"] is False:
                        writer.note_failure(episode["seed"])
                        failed, n_failed = failed + 1, n_failed + 1
                    else:
                        extra = {} if extra_fn is None else extra_fn(episode["obs"])
                        writer.append_episode(episode["obs"], episode["action"], episode["seed"],
                                              state=episode["state"], **extra)
                        added, have = added + 1, have + 1
                        bar.update(1)
                    done.add(episode["seed"])
                    bar.set_postfix(failed=n_failed, refresh=False)
                    if interrupt.requested or n_failed >= max_failures:
                        break
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    data = Demonstrations.open(path)
    summary = {"path": str(path), "env_id": env_id, "episodes": data.n_episodes, "added": added, "failed": failed,
               "failed_seeds": list(data.attrs.get("failed_seeds", [])), "steps": data.n_steps,
               "complete": data.n_episodes >= n_episodes, "wall_time_s": round(time.perf_counter() - start, 3)}
    if interrupt.requested:
        raise KeyboardInterrupt(f"recording interrupted: {path} holds {data.n_episodes} whole episodes; the same "
                                "record() call (or command) again goes on from there")
    if not summary["complete"]:
        import warnings

        warnings.warn(f"record stopped after {n_failed} failed episodes (max_failures={max_failures}) with "
                      f"{data.n_episodes} of {n_episodes} episodes in {path}: the demonstrator fails too often",
                      RuntimeWarning, stacklevel=2)
    return summary


# ---------------------------------------------------------------- replay and pack


def replay(dataset, i: int, env: gym.Env | None = None) -> dict:
    """Execute episode i's actions from its initial state; returns the final info, with "obs_error" (the largest
    |replayed - stored| observation entry) and "steps" (how many actions ran before the episode ended).

    The initial state: env.reset(options={"state": data/state[first]}) for an env with state() (Push-T), else
    env.reset(seed=episode seed). env: an env of the dataset's env_id (default: a new one, closed after).
    """
    data = Demonstrations.open(dataset)
    episode = data.episode(i)
    own = env is None
    env = gym.make(data.env_id) if own else env
    try:
        if episode["state"] is not None and _has_state(env):
            obs, info = env.reset(options={"state": episode["state"][0]})
        else:
            obs, info = env.reset(seed=episode["seed"])
        error, steps = 0.0, 0
        for stored_obs, action in zip(episode["obs"], episode["action"]):
            error = max(error, float(np.abs(np.asarray(obs, dtype=np.float64) - stored_obs).max()))
            obs, _, terminated, truncated, info = env.step(action)
            steps += 1
            if terminated or truncated:
                break
    finally:
        if own:
            env.close()
    return {**info, "obs_error": error, "steps": steps}


def pack(src, dst, overwrite: bool = False) -> Path:
    """Write the episodes of the dataset directory `src` as the one read-only file `dst` (<name>.zarr.zip), the form
    the package ships. Only whole episodes go in; the file is written beside dst and renamed (never half a file),
    and the same dataset gives the same bytes."""
    data = Demonstrations.open(src)
    dst = Path(dst)
    if not dst.name.endswith(".zarr.zip"):
        raise ValueError(f"{dst}: the packed dataset's name must end in .zarr.zip")
    if dst.exists() and not overwrite:
        raise ValueError(f"{dst}: exists; pass overwrite=True (--overwrite) to replace it")
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dst.parent, prefix=f".{dst.name}.") as tmp:
        # A fresh copy of the visible episodes (nothing an interrupted append left), then zipped.
        copy_path = Path(tmp) / "dataset.zarr"
        shapes = {name: tuple(a.shape[1:]) for name, a in data._data.items()}
        state = shapes.pop("state", None)
        shapes.pop("obs"), shapes.pop("action")
        keep = {k: v for k, v in data.attrs.items() if k not in ("format", "env_id", "obs_type", "source")}
        writer = DemoWriter(copy_path, data.env_id, data.obs_dim, data.act_dim,
                            state_dim=None if state is None else state[0], extras=shapes or None,
                            source=data.attrs.get("source", "demonstrator"),
                            obs_type=data.attrs.get("obs_type", "low_dim"), **keep)
        if data.n_episodes:
            writer._append({name: data._rows(name) for name in data._data},
                           np.diff(np.concatenate([[0], data.episode_ends])).tolist(), data.episode_seeds.tolist())
        zipped = Path(tmp) / dst.name
        with zipfile.ZipFile(zipped, "w", zipfile.ZIP_STORED) as archive:  # chunks are compressed already
            for file in sorted(p for p in copy_path.rglob("*") if p.is_file()):
                # A fixed date: the same dataset gives the same bytes.
                info = zipfile.ZipInfo(file.relative_to(copy_path).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                archive.writestr(info, file.read_bytes())
        os.replace(zipped, dst)
    data.close()
    return dst


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
