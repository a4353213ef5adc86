"""Checkpoint files (atomic writes, checked reads): what a policy and a trainer save, and how they come back.

Policy and trainer checkpoints are dicts with a header (format name, format version, dpedu version),
written by `atomic_save` and read by `load_checkpoint`; `save_policy`/`load_policy` and
`save_trainer`/`load_trainer` are what DiffusionPolicy.save/load and Trainer.save/load call.

A trainer checkpoint must be readable with `torch.load(..., weights_only=True)` (no pickled code runs on
load), so everything in it is a tensor or plain Python: numpy arrays become tensors (dtype kept), numpy
random generators become their bit-generator state dicts (plain ints and strings).

The environment's state is what makes `train(N); save; load; train(N)` equal `train(2N)` bit for bit:
the physics (`unwrapped.state`, as gymnasium's classic-control environments keep it), the step
counter of the TimeLimit wrapper, and the generator that draws the next episode's start.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch


def checkpoint_header(file_format: str, version: int) -> dict:
    """The entries load_checkpoint checks: what the file is, its layout version, who wrote it."""
    from dpedu import __version__

    return {"format": file_format, "format_version": version, "dpedu_version": __version__}


def cpu_state_dict(module: torch.nn.Module) -> dict:
    """A module's weights as CPU tensors (a checkpoint loads on any device)."""
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def rng_state(rng: np.random.Generator) -> dict:
    """A numpy Generator's state as plain Python (PCG64: two 128-bit ints)."""
    return rng.bit_generator.state


def set_rng_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state


def _time_limit(env: gym.Env) -> gym.wrappers.TimeLimit | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return env
        env = env.env
    return None


def env_state(env: gym.Env) -> dict:
    """The mid-episode state of a classic-control environment (Pendulum-v1 and its kin)."""
    core = env.unwrapped
    if not isinstance(getattr(core, "state", None), np.ndarray):
        raise TypeError(f"cannot checkpoint {env.spec.id if env.spec else env}: its state is not a numpy array "
                        "in env.unwrapped.state")
    limit = _time_limit(env)
    last_u = getattr(core, "last_u", None)
    return {
        "state": torch.from_numpy(core.state.copy()),
        "np_random": rng_state(core.np_random),
        "elapsed_steps": None if limit is None else limit._elapsed_steps,
        "last_u": None if last_u is None else float(last_u),  # only drawn by render()
    }


def set_env_state(env: gym.Env, state: dict) -> None:
    """Put a (reset) environment back into the state env_state() recorded."""
    core = env.unwrapped
    core.state = state["state"].numpy().copy()
    set_rng_state(core.np_random, state["np_random"])
    limit = _time_limit(env)
    if limit is not None:
        limit._elapsed_steps = state["elapsed_steps"]
    if hasattr(core, "last_u"):
        core.last_u = None if state["last_u"] is None else np.float32(state["last_u"])


def stack_or_empty(rows: list[np.ndarray], dim: int) -> torch.Tensor:
    """A list of equal-shape arrays as one tensor (dtype kept); (0, dim) float32 when empty."""
    return torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, dim)


def unstack(rows: torch.Tensor) -> list[np.ndarray]:
    return list(rows.numpy())


def atomic_save(obj: dict, path) -> Path:
    """torch.save to a temporary file beside `path`, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them the checkpoint
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the permissions a plain open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path, expected_format: str, max_version: int) -> dict:
    """torch.load(weights_only=True) with errors that name the file and the problem."""
    path = Path(path)
    if path.is_dir():
        raise FileNotFoundError(f"{path}: is a directory, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: not a readable dpedu checkpoint (the file is empty)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a zip/pickle, or holds code objects
        raise ValueError(f"{path}: not a readable dpedu checkpoint (truncated, corrupt, or not written by "
                         f"torch.save with tensors and plain Python values only; {_load_error(e)})") from None
    if not isinstance(state, dict) or state.get("format") != expected_format:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path}: not a {expected_format} checkpoint (found format {found!r})")
    version = state.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{path}: checkpoint has no valid format_version (an int >= 1), found {version!r}")
    if version > max_version:
        raise ValueError(f"{path}: checkpoint format version {version!r} is newer than this dpedu reads "
                         f"(<= {max_version}); written by dpedu {state.get('dpedu_version')!r}")
    return state


def _load_error(e: Exception) -> str:
    """The useful line of a torch.load error (its weights_only advice is about trusting files, not fixing them)."""
    text = str(e)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0].split(". ")[0] if lines else ""
    return f"{type(e).__name__}: {first[:200]}"


# ---------------------------------------------------------------- the policy's file

POLICY_FORMAT, POLICY_FORMAT_VERSION = "dpedu.policy", 1


def policy_state(policy) -> dict:
    """The config, the weights and the normalisers: everything DiffusionPolicy needs to act."""
    return {
        **checkpoint_header(POLICY_FORMAT, POLICY_FORMAT_VERSION),
        "config": policy.config.to_dict(),
        "env_id": policy.env_id,
        "model": cpu_state_dict(policy.model),
        "obs_normalizer": policy.obs_normalizer.state_dict(),
        "act_normalizer": policy.act_normalizer.state_dict(),
    }


def save_policy(policy, path) -> Path:
    return atomic_save(policy_state(policy), path)


def load_policy(cls, path, device=None):
    """Rebuild a policy of class `cls` from save_policy's file; errors name the file and what is wrong with it."""
    from dpedu.config import DPConfig
    from dpedu.data import Normalizer
    from dpedu.networks import build_network

    state = load_checkpoint(path, POLICY_FORMAT, POLICY_FORMAT_VERSION)
    try:
        if not isinstance(state.get("config"), dict):
            raise ValueError(f"'config' must be a dict of hyperparameters, found {state.get('config')!r}")
        config = DPConfig.from_dict(state["config"])
        obs_norm = Normalizer.from_state_dict(state["obs_normalizer"])
        act_norm = Normalizer.from_state_dict(state["act_normalizer"])
        model = build_network(config, len(obs_norm.low), len(act_norm.low))
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as e:  # torch lists every mismatched tensor: keep the first
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            first = lines[1] if len(lines) > 1 else lines[0]
            more = f"; {len(lines) - 2} more" if len(lines) > 2 else ""
            raise ValueError(f"the weights do not fit the network its config describes: {first}{more}") from e
    except KeyError as e:
        raise ValueError(f"{path}: checkpoint content is inconsistent: missing entry {e}") from e
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{path}: checkpoint content is inconsistent: {e}") from e
    return cls(config, model, obs_norm, act_norm, env_id=state.get("env_id"), device=device)


# ---------------------------------------------------------------- the trainer's file

TRAINER_FORMAT, TRAINER_FORMAT_VERSION = "dpedu.trainer", 1


def trainer_state(trainer) -> dict:
    """Everything Trainer.train depends on, as tensors and plain Python (torch.load weights_only-safe):
    weights, EMA, optimiser, normalisers, counters, loss history, the buffer, the episode in progress,
    the environment's and the demonstrator's state, and the random generator."""
    return {
        **checkpoint_header(TRAINER_FORMAT, TRAINER_FORMAT_VERSION),
        "env_id": trainer.env_id,
        "config": trainer.config.to_dict(),
        "model": cpu_state_dict(trainer.model),
        "ema_model": cpu_state_dict(trainer.ema_model),
        "optimizer": trainer.optimizer.state_dict(),
        "obs_normalizer": None if trainer.obs_normalizer is None else trainer.obs_normalizer.state_dict(),
        "act_normalizer": None if trainer.act_normalizer is None else trainer.act_normalizer.state_dict(),
        "counters": {"env_steps": trainer.env_steps, "n_updates": trainer.n_updates, "episodes": trainer.episodes},
        **trainer.loss_log.state_dict(),  # "loss_history", "recent_losses"
        "timings": dict(trainer.timings),
        "generator": trainer.generator.get_state(),
        "buffer": trainer.buffer.state_dict(),
        "episode": {"obs": stack_or_empty(trainer._episode[0], trainer.obs_dim),
                    "act": stack_or_empty(trainer._episode[1], trainer.act_dim)},
        "obs": torch.from_numpy(np.array(trainer._obs)),
        "env": env_state(trainer.env),
        "demonstrator": trainer.demonstrator.state_dict(),
    }


def save_trainer(trainer, path) -> Path:
    """Write trainer_state atomically. Single process only: under torchrun each rank holds its own data."""
    from dpedu.runtime import distributed

    if distributed.world_size() > 1:
        raise RuntimeError(f"Trainer.save({str(path)!r}) under torchrun ({distributed.world_size()} ranks): a "
                           "trainer checkpoint holds one process's data and random state; save the policy "
                           "(trainer.policy.save) or train in a single process to resume")
    return atomic_save(trainer_state(trainer), path)


def load_trainer(cls, path, progress: bool = True, device=None):
    """A new trainer of class `cls` put into the state save_trainer recorded."""
    state = load_checkpoint(path, TRAINER_FORMAT, TRAINER_FORMAT_VERSION)
    try:
        config = state["config"] if device is None else {**state["config"], "device": str(device)}
        trainer = cls("diffusion", env=state["env_id"], config=config, progress=progress)
        _restore_trainer(trainer, state)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{path}: trainer checkpoint content is inconsistent: {type(e).__name__}: {e}") from e
    return trainer


def _restore_trainer(trainer, state: dict) -> None:
    from dpedu.data import Normalizer

    trainer.model.load_state_dict(state["model"])
    trainer.ema_model.load_state_dict(state["ema_model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    norm = lambda s: None if s is None else Normalizer.from_state_dict(s).to(trainer.device)  # noqa: E731
    trainer.obs_normalizer, trainer.act_normalizer = norm(state["obs_normalizer"]), norm(state["act_normalizer"])
    counters = state["counters"]
    trainer.env_steps, trainer.episodes = counters["env_steps"], counters["episodes"]
    trainer.learner.n_updates = counters["n_updates"]
    trainer.loss_log.load_state_dict(state)
    trainer.timings = dict(state["timings"])
    trainer.generator.set_state(state["generator"])
    trainer.buffer.load_state_dict(state["buffer"])
    trainer._episode = (unstack(state["episode"]["obs"]), unstack(state["episode"]["act"]))
    trainer._obs = state["obs"].numpy().copy()
    set_env_state(trainer.env, state["env"])
    trainer.demonstrator.load_state_dict(state["demonstrator"])
    trainer._policy = None
