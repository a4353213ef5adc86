"""Checkpoint files: dicts to and from disk (atomic writes, checked reads, a header, a format version, a checksum).

Nothing here knows what is inside a policy or a trainer: DiffusionPolicy.state_dict / from_state_dict and
Trainer.state_dict / load_state_dict say that. This module adds a header (format name, format version, dpedu
version), writes the dict with `atomic_save` (temporary file, fsync, rename) and reads it back with
`load_checkpoint`, which checks the file before torch unpickles anything. `save_policy`/`load_policy` and
`save_trainer`/`load_trainer` are what DiffusionPolicy.save/load and Trainer.save/load call.

Every file must be readable with `torch.load(..., weights_only=True)` (no pickled code runs on load), so
everything in it is a tensor or plain Python.

The checksum: torch.save writes a zip archive, and the zip format stores a CRC-32 of every record (the pickled
structure and each tensor's bytes). torch.load does not check them: a policy.pt with 64 bytes flipped inside its
weights loaded with weights off by up to 755. load_checkpoint reads every record and compares its CRC-32
(`zipfile.ZipFile.testzip`) before torch.load, so damage anywhere in what torch would read is refused as
"corrupt". We use the zip's own CRC-32 rather than adding a sha256 of the payload to the header because (1) the
files already carry it, so the shipped v1 policies are checked too without being rewritten, (2) it covers every
byte torch reads, the header included, with no second serialisation to define and keep stable, and (3) the
threat is accidental damage (disks, copies, truncated downloads), which CRC-32 catches (all bursts up to 32
bits, any other change with probability 1 - 2^-32); it is not a signature: a deliberate edit can recompute it,
and `weights_only=True` is what keeps a crafted file from running code. Bytes that torch never reads (the
zip's alignment padding) can change without a refusal: the loaded content is then exactly what was saved.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import torch


def checkpoint_header(file_format: str, version: int) -> dict:
    """The entries load_checkpoint checks: what the file is, its layout version, who wrote it."""
    from dpedu import __version__

    return {"format": file_format, "format_version": version, "dpedu_version": __version__}


def atomic_save(obj: dict, path) -> Path:
    """torch.save to a temporary file beside `path`, then rename: a crash never leaves half a file."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise ValueError(f"a checkpoint path must be a non-empty file name such as 'runs/a/policy.pt', got {path!r}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory; give a file name inside it, e.g. {path / 'policy.pt'}")
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
    check_crc(path)
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


def check_crc(path: Path) -> None:
    """Compare the CRC-32 of every record of the zip archive torch.save wrote with its content (module docstring)."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # reads every record; the name of the first whose CRC-32 differs, or None
    except Exception as e:  # not a zip (BadZipFile), a damaged directory or header (zlib, EOF, decoding, ...)
        raise ValueError(f"{path}: not a readable dpedu checkpoint (truncated, corrupt, or not a zip archive "
                         f"written by torch.save; {type(e).__name__}: {str(e)[:200]})") from None
    if bad is not None:
        raise ValueError(f"{path}: corrupt checkpoint: the checksum (CRC-32) of its record {bad!r} does not match "
                         "its content, so the file changed after it was written; save it again or restore a copy")


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
    """What save_policy writes: the header and DiffusionPolicy.state_dict() (config, env id, weights, normalisers)."""
    return {**checkpoint_header(POLICY_FORMAT, POLICY_FORMAT_VERSION), **policy.state_dict()}


def save_policy(policy, path) -> Path:
    return atomic_save(policy_state(policy), path)


def load_policy(cls, path, device=None):
    """cls.from_state_dict of save_policy's file; errors name the file and what is wrong with it."""
    state = load_checkpoint(path, POLICY_FORMAT, POLICY_FORMAT_VERSION)
    try:
        return cls.from_state_dict(state, device=device)
    except KeyError as e:
        raise ValueError(f"{path}: checkpoint content is inconsistent: missing entry {e}") from e
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{path}: checkpoint content is inconsistent: {e}") from e


# ---------------------------------------------------------------- the trainer's file

# Version 2: each object's state under its own key (Trainer.state_dict); the buffer holds only its filled part.
# Version 1 (dpedu <= the first release) kept the updater's parts and the loss log at the top level.
TRAINER_FORMAT, TRAINER_FORMAT_VERSION = "dpedu.trainer", 2


def save_trainer(trainer, path) -> Path:
    """Write the header and Trainer.state_dict() atomically. Single process only: under torchrun each rank holds
    its own data."""
    from dpedu.runtime import distributed

    if distributed.world_size() > 1:
        raise RuntimeError(f"Trainer.save({str(path)!r}) under torchrun ({distributed.world_size()} ranks): a "
                           "trainer checkpoint holds one process's data and random state; save the policy "
                           "(trainer.policy.save) or train in a single process to resume")
    return atomic_save({**checkpoint_header(TRAINER_FORMAT, TRAINER_FORMAT_VERSION), **trainer.state_dict()}, path)


def load_trainer(cls, path, progress: bool = True, device=None, demonstrator=None):
    """A new trainer of class `cls`, built from the file's config (and the demonstrator object, for one that had
    its own), then given the file's state. An offline trainer's data are in the file (its buffer)."""
    from dpedu.envs import DEMONSTRATORS

    state = load_checkpoint(path, TRAINER_FORMAT, TRAINER_FORMAT_VERSION)
    own = state.get("dataset") is None and state.get("env_id") not in DEMONSTRATORS
    if own and demonstrator is None:
        raise ValueError(f"{path}: a trainer on {state.get('env_id')!r} with a demonstrator of your own; the "
                         "checkpoint holds its state, not its code: Trainer.load(path, demonstrator=your_object)")
    try:
        if state["format_version"] == 1:
            state = _trainer_v1_to_v2(state)
        config = state["config"] if device is None else {**state["config"], "device": str(device)}
        offline = state.get("dataset") is not None  # absent before datasets existed: online
        if offline and demonstrator is not None:
            raise ValueError("the checkpoint is of a trainer that learns from a dataset: it takes no demonstrator")
        source = {"dataset": cls.CHECKPOINT_DATA} if offline else {"demonstrator": demonstrator}
        algorithm = state.get("algorithm") or "diffusion"  # absent before the baselines: diffusion
        if state.get("teacher") is not None:  # reflow: the teacher travels in the checkpoint (its state_dict)
            source["teacher"] = state["teacher"]
        trainer = cls(algorithm, env=state["env_id"], config=config, progress=progress, **source)
        trainer.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{path}: trainer checkpoint content is inconsistent: {type(e).__name__}: {e}") from e
    return trainer


def _trainer_v1_to_v2(state: dict) -> dict:
    """The version-1 layout (one flat dict) in version 2's (each object's state under its own key)."""
    state = dict(state)
    try:
        counters = state.pop("counters")
        state["counters"] = {"env_steps": counters["env_steps"], "episodes": counters["episodes"]}
        state["updater"] = {"optimizer": state.pop("optimizer"), "lr_schedule": None,
                            "ema_model": state.pop("ema_model"), "n_updates": counters["n_updates"]}
        state["loss_log"] = {"loss_history": state.pop("loss_history"), "recent_losses": state.pop("recent_losses")}
    except KeyError as e:
        raise ValueError(f"trainer checkpoint of format version 1 lacks entry {e}") from None
    return state
