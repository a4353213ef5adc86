"""Reproducibility, resume and interrupt: the same seed gives the same bits, and a run can stop and go on.

All on CPU, where torch is deterministic for a fixed thread count (conftest sets 1 thread).
"""

import os
import signal

import numpy as np
import pytest
import torch
from conftest import TINY

from dpedu import Trainer

OBS = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.5], [0.0, 1.0, -2.0]], dtype=np.float32)


def make(seed=0, **overrides):
    return Trainer("diffusion", env="Pendulum-v1", seed=seed, config={**TINY, **overrides}, progress=False)


def fingerprint(trainer: Trainer) -> dict:
    """What must agree bit for bit: losses, weights, EMA weights, optimiser moments, data, actions."""
    policy = trainer.policy
    policy.reset(seed=123)
    return {
        "loss_history": trainer.loss_history,
        "counters": (trainer.env_steps, trainer.n_updates, trainer.episodes),
        "model": trainer.model.state_dict(),
        "ema": trainer.ema_model.state_dict(),
        "adam": trainer.optimizer.state_dict()["state"],
        "buffer": trainer.buffer.state_dict(),
        "actions": torch.from_numpy(policy.predict_chunk(np.repeat(OBS[:, None], 2, axis=1))),
    }


def assert_identical(a, b, path="") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_identical(a[k], b[k], f"{path}.{k}")
    elif torch.is_tensor(a):
        assert torch.equal(a, b), f"{path} differs"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def straight():
    """The reference: 700 steps in one go (500 updates)."""
    trainer = make()
    trainer.train(700)
    return trainer


def test_same_seed_same_bits(straight):
    again = make()
    again.train(700)
    assert_identical(fingerprint(straight), fingerprint(again))


def test_different_seeds_differ(straight):
    other = make(seed=1)
    other.train(700)
    a, b = fingerprint(straight), fingerprint(other)
    assert a["loss_history"] != b["loss_history"]
    assert not torch.equal(a["actions"], b["actions"])
    assert not torch.equal(a["buffer"]["obs"], b["buffer"]["obs"])


@pytest.mark.parametrize("first", [150, 350], ids=["before-first-update", "mid-episode-mid-training"])
def test_resume_equals_one_run(straight, tmp_path, first):
    """train(first); save; load; train(700 - first) == train(700), bit for bit (also for the data and the env).
    Before warmup_steps (200) train(150) is refused (it could not update): collect(150) gathers the same steps."""
    trainer = make()
    trainer.train(first) if first >= TINY["warmup_steps"] else trainer.collect(first)
    path = trainer.save(tmp_path / "trainer.pt")
    del trainer
    resumed = Trainer.load(path, progress=False)
    resumed.train(700 - first)
    assert_identical(fingerprint(straight), fingerprint(resumed))
    assert resumed.env.unwrapped.state.tolist() == straight.env.unwrapped.state.tolist()


def test_trainer_checkpoint_is_weights_only_and_versioned(tiny_trainer, tmp_path):
    from dpedu import __version__

    state = torch.load(tiny_trainer.save(tmp_path / "t.pt"), weights_only=True)
    assert (state["format"], state["format_version"], state["dpedu_version"]) == ("dpedu.trainer", 2, __version__)
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file left behind"


def test_trainer_load_rejects_a_policy_checkpoint(tiny_trainer, tmp_path):
    path = tiny_trainer.policy.save(tmp_path / "policy.pt")
    with pytest.raises(ValueError, match=r"policy\.pt.*not a dpedu\.trainer checkpoint"):
        Trainer.load(path)


def interrupt_at(trainer: Trainer, step: int, presses: int = 1) -> None:
    """Make the demonstrator press Ctrl-C (send SIGINT to this process) when env step `step` is collected."""
    act = trainer.demonstrator.act

    def act_and_interrupt(obs):
        if trainer.env_steps + 1 == step:
            for _ in range(presses):
                os.kill(os.getpid(), signal.SIGINT)
        return act(obs)

    trainer.demonstrator.act = act_and_interrupt


def test_interrupt_stops_at_a_step_boundary_and_train_goes_on(straight):
    trainer = make()
    interrupt_at(trainer, 321)
    with pytest.raises(KeyboardInterrupt, match=r"after 321 of 700 steps.*train\(379\)"):
        trainer.train(700)
    assert trainer.env_steps == 321 and trainer.n_updates == 321 - TINY["warmup_steps"] + 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C works as usual again
    trainer.train(379)
    assert_identical(fingerprint(straight), fingerprint(trainer))


def test_second_interrupt_stops_at_once():
    trainer = make()
    interrupt_at(trainer, 50, presses=2)
    with pytest.raises(KeyboardInterrupt) as info:
        trainer.train(300)
    assert "steps" not in str(info.value)  # the immediate one, not the step-boundary report
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_interrupt_closes_the_progress_bar():
    from tqdm.auto import tqdm

    trainer = Trainer("diffusion", env="Pendulum-v1", seed=0, config=TINY, progress=True)
    interrupt_at(trainer, 150)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(300)
    assert not list(tqdm._instances), "the progress bar is closed"
    assert trainer.env_steps == 150
