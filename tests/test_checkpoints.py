"""Policy checkpoints: atomic writes, a safe and self-describing format, exact round trips, clear refusals."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import dpedu
from dpedu import DiffusionPolicy
from dpedu.runtime.checkpoint import POLICY_FORMAT as CHECKPOINT_FORMAT
from dpedu.runtime.checkpoint import POLICY_FORMAT_VERSION as CHECKPOINT_VERSION
from dpedu.runtime.checkpoint import atomic_save, load_checkpoint, policy_state

OBS = np.array([1.0, 0.0, 0.0], dtype=np.float32)


@pytest.fixture
def policy(tiny_trainer):
    """The tiny trained policy with known inference settings (the fixture is shared: set them every time)."""
    return tiny_trainer.policy.configure(n_action_steps=1, seed=0)


def files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def actions(policy, seed=7, steps=6) -> np.ndarray:
    """An episode's worth of act() calls from a fixed sampler seed (several re-plans), one env and three."""
    policy.reset(seed=seed)
    single = [policy.act(OBS * k) for k in range(1, steps + 1)]
    policy.reset(seed=seed)
    batch = [policy.act(np.stack([OBS, -OBS, OBS * 0.5]) * k) for k in range(1, steps + 1)]
    return np.concatenate([np.stack(single).ravel(), np.stack(batch).ravel()])


# ------------------------------------------------------------------ a crash mid-save


def crash_after_writing(exc):
    """A torch.save that writes part of a file, then fails as a full disk or a Ctrl-C would."""

    def save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04" + b"\x00" * 512)  # the start of a zip archive, never finished
        f.flush()
        raise exc

    return save


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt(), RuntimeError("boom")],
                         ids=["disk-full", "ctrl-c", "error"])
def test_crash_mid_save_keeps_the_previous_checkpoint(policy, tmp_path, monkeypatch, exc):
    path = policy.save(tmp_path / "policy.pt")
    before = path.read_bytes()
    expected = actions(policy)
    monkeypatch.setattr(torch, "save", crash_after_writing(exc))
    with pytest.raises(type(exc)):
        policy.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before  # untouched
    assert files(tmp_path) == ["policy.pt"]  # and no temporary file left behind
    np.testing.assert_array_equal(actions(DiffusionPolicy.load(path, device="cpu")), expected)


def test_crash_on_first_save_leaves_nothing(policy, tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "save", crash_after_writing(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        policy.save(tmp_path / "policy.pt")
    assert files(tmp_path) == []


def test_crash_at_the_rename_keeps_the_previous_checkpoint(policy, tmp_path, monkeypatch):
    path = policy.save(tmp_path / "policy.pt")
    before = path.read_bytes()

    def fail(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="rename failed"):
        policy.save(path)
    assert path.read_bytes() == before and files(tmp_path) == ["policy.pt"]


def test_the_temporary_file_is_renamed_within_the_same_folder(policy, tmp_path, monkeypatch):
    """os.replace is atomic only within one file system: the temporary file must sit beside the target."""
    renames = []
    real = os.replace

    def spy(src, dst):
        renames.append((os.path.dirname(os.path.abspath(src)), os.path.abspath(dst)))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    target = tmp_path / "new" / "deeper" / "policy.pt"  # missing folders are created
    policy.save(target)
    assert renames == [(str(target.parent), str(target))]
    assert files(target.parent) == ["policy.pt"]


def test_atomic_save_overwrites_a_previous_file(tmp_path):
    path = tmp_path / "x.pt"
    atomic_save({"a": torch.zeros(2)}, path)
    atomic_save({"a": torch.ones(2)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(2))
    assert files(tmp_path) == ["x.pt"]


# ------------------------------------------------------------------ the format


def test_checkpoint_is_weights_only_readable_and_self_describing(policy, tmp_path):
    path = policy.save(tmp_path / "policy.pt")
    raw = torch.load(path, weights_only=True)  # no pickled code: tensors and plain Python values only
    assert raw["format"] == CHECKPOINT_FORMAT == "dpedu.policy"
    assert raw["format_version"] == CHECKPOINT_VERSION
    assert raw["dpedu_version"] == dpedu.__version__
    assert raw["env_id"] == "Pendulum-v1"
    assert raw["config"] == policy.config.to_dict()
    assert set(raw) == {"format", "format_version", "dpedu_version", "algorithm", "config", "env_id", "model",
                        "obs_normalizer", "act_normalizer", "frame_shape"}
    assert raw["algorithm"] == "diffusion"
    assert raw["frame_shape"] is None  # a policy that observes vectors (tests/test_pixels.py: one that sees frames)

    def plain(value) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (str, int, float, bool, torch.Tensor))

    assert plain(raw)
    assert all(t.device.type == "cpu" for t in raw["model"].values())  # loads on a machine without a GPU


def test_round_trip_gives_identical_actions(policy, tmp_path):
    path = policy.save(tmp_path / "policy.pt")
    loaded = DiffusionPolicy.load(path, device="cpu")
    assert loaded.config == policy.config and loaded.env_id == policy.env_id
    assert (loaded.obs_dim, loaded.act_dim) == (policy.obs_dim, policy.act_dim)
    for (name, a), (name_b, b) in zip(policy.model.state_dict().items(), loaded.model.state_dict().items()):
        assert name == name_b and torch.equal(a.cpu(), b), name
    np.testing.assert_array_equal(actions(loaded), actions(policy))
    hist = np.random.default_rng(0).normal(size=(4, 2, 3)).astype(np.float32)
    policy.reset(seed=3)
    loaded.reset(seed=3)
    np.testing.assert_array_equal(loaded.predict_chunk(hist), policy.predict_chunk(hist))
    # Saving the loaded policy again writes the same content.
    again = DiffusionPolicy.load(loaded.save(tmp_path / "again.pt"), device="cpu")
    np.testing.assert_array_equal(actions(again), actions(policy))


def test_inference_settings_travel_with_the_checkpoint(policy, tmp_path):
    before = {k: getattr(policy.config, k) for k in ("sampler", "n_inference_steps", "n_action_steps")}
    policy.configure(sampler="ddim", n_inference_steps=3, n_action_steps=2)
    try:
        loaded = DiffusionPolicy.load(policy.save(tmp_path / "policy.pt"), device="cpu")
        assert (loaded.config.sampler, loaded.config.n_inference_steps, loaded.config.n_action_steps) == ("ddim", 3, 2)
        np.testing.assert_array_equal(actions(loaded), actions(policy))
    finally:
        policy.configure(**before)


# ------------------------------------------------------------------ refusals name the file and the problem


def test_newer_format_version_is_refused(policy, tmp_path):
    state = policy_state(policy)
    state["format_version"] = CHECKPOINT_VERSION + 1
    state["dpedu_version"] = "9.9.9"
    torch.save(state, tmp_path / "future.pt")
    newer = CHECKPOINT_VERSION + 1
    with pytest.raises(ValueError, match=rf"future.pt: checkpoint format version {newer} is newer than this dpedu "
                                         rf"reads \(<= {CHECKPOINT_VERSION}\); written by dpedu '9.9.9'"):
        DiffusionPolicy.load(tmp_path / "future.pt")


def test_every_truncation_is_refused(policy, tmp_path):
    good = policy.save(tmp_path / "good.pt").read_bytes()
    cuts = sorted({1, 2, 10, 100, len(good) // 3, len(good) // 2, len(good) - 100, len(good) - 22, len(good) - 1})
    for n in cuts:
        path = tmp_path / f"cut{n}.pt"
        path.write_bytes(good[:n])
        with pytest.raises(ValueError, match=rf"cut{n}.pt: not a readable dpedu checkpoint \(truncated, corrupt"):
            DiffusionPolicy.load(path)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", r"empty.pt: not a readable dpedu checkpoint \(the file is empty\)"),
        (b'{"hidden_dim": 32}', r"empty.pt: not a readable dpedu checkpoint"),
        (bytes(range(256)) * 8, r"empty.pt: not a readable dpedu checkpoint"),
    ],
    ids=["empty", "json", "bytes"],
)
def test_non_checkpoint_files_are_refused(tmp_path, content, match):
    (tmp_path / "empty.pt").write_bytes(content)
    with pytest.raises(ValueError, match=match):
        DiffusionPolicy.load(tmp_path / "empty.pt")


def test_other_torch_files_are_refused(policy, tmp_path):
    torch.save(policy.model.state_dict(), tmp_path / "weights.pt")  # a plain state_dict, no format
    with pytest.raises(ValueError, match=r"weights.pt: not a dpedu.policy checkpoint \(found format None\)"):
        DiffusionPolicy.load(tmp_path / "weights.pt")
    torch.save({"format": "dpedu.trainer", "format_version": 1}, tmp_path / "trainer.pt")
    with pytest.raises(ValueError, match=r"trainer.pt: not a dpedu.policy checkpoint \(found format 'dpedu.trainer'\)"):
        DiffusionPolicy.load(tmp_path / "trainer.pt")


def test_inconsistent_content_is_refused(policy, tmp_path):
    state = policy_state(policy)
    state["config"] = {**state["config"], "n_layers": 4}  # weights of a 2-block network, config says 4
    torch.save(state, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match=r"odd.pt: checkpoint content is inconsistent: the weights do not fit"):
        DiffusionPolicy.load(tmp_path / "odd.pt")


def test_load_checkpoint_reads_what_atomic_save_wrote(tmp_path):
    state = {"format": "x.test", "format_version": 2, "w": torch.arange(3)}
    atomic_save(state, tmp_path / "t.pt")
    assert torch.equal(load_checkpoint(tmp_path / "t.pt", "x.test", 2)["w"], torch.arange(3))
    with pytest.raises(ValueError, match=r"t.pt: checkpoint format version 2 is newer than this dpedu reads \(<= 1\)"):
        load_checkpoint(tmp_path / "t.pt", "x.test", 1)
    with pytest.raises(FileNotFoundError, match=r"nope.pt: no such checkpoint file"):
        load_checkpoint(tmp_path / "nope.pt", "x.test", 2)


def test_notebook_06_loads_notebook_04s_policy():
    """dpedu/course/checkpoints/fast_pendulum.pt: the Pendulum-in-a-minute preset at seed 42 (notebook 06's text
    names the command that writes it)."""
    from dpedu import DiffusionPolicy
    from dpedu.config import PRESETS
    from dpedu.course import CHECKPOINTS

    policy = DiffusionPolicy.load(CHECKPOINTS / "fast_pendulum.pt", device="cpu")
    assert policy.env_id == "Pendulum-v1" and policy.config.seed == 42
    assert all(getattr(policy.config, key) == value for key, value in PRESETS["Pendulum-v1"]["config"].items())
