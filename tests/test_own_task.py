"""Your own task (docs/your-own-task.md): a gymnasium env dpedu does not ship, MountainCarContinuous-v0, learned from a
five-line demonstrator, online (demonstrator=) and offline (record, then dataset=); each policy reaches the flag,
where a random policy does not. Bad demonstrators are refused with errors that say what is wrong."""

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY

from dpedu import Trainer
from dpedu.datasets import Demonstrations, record, replay

ENV = "MountainCarContinuous-v0"


DOC = Path(__file__).resolve().parents[1] / "docs" / "your-own-task.md"


def documented_code() -> str:
    """The python blocks of docs/your-own-task.md's sections 1-3 (the last section's needs data of your own)."""
    text = DOC.read_text().split("## Data from elsewhere")[0]
    return "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))


namespace: dict = {}
exec(compile(documented_code().split("from dpedu import Trainer")[0], str(DOC), "exec"), namespace)
PumpEnergy = namespace["PumpEnergy"]  # the documented demonstrator, used by the tests below


def reaches_the_flag(returns) -> bool:
    # +100 at the flag, -0.1 a^2 per step: a positive return means the flag was reached.
    return bool(np.all(np.asarray(returns) > 0))


def test_the_documented_code_learns_online_and_offline(tmp_path, monkeypatch):
    """The page's code as written: the online and the offline policy reach the flag in every test episode, at the
    demonstrator's level; a random policy does not (and pays for its force)."""
    monkeypatch.chdir(tmp_path)  # record() writes car.zarr here
    found: dict = {}
    exec(compile(documented_code(), str(DOC), "exec"), found)
    online, offline, random = found["online"], found["offline_result"], found["random"]
    assert random < 0
    for result in (online, offline):
        assert result["mean_return"] > random + 100 and reaches_the_flag(result["returns"]), result["returns"]
        assert "normalized_score" not in result  # the baselines need a built-in demonstrator
    assert found["data"].n_episodes == 10 and found["data"].attrs["demonstrator"] == "PumpEnergy"
    assert replay(found["data"], 0)["obs_error"] == 0.0


def test_a_checkpoint_resumes_with_your_demonstrator(tmp_path):
    """Your demonstrator's code is not in the checkpoint: Trainer.load takes it again (its state, if it has
    state_dict, is). The run then goes on as one uninterrupted run."""
    import torch

    straight = Trainer("diffusion", env=ENV, demonstrator=PumpEnergy(), seed=0, config=TINY, progress=False)
    straight.train(700)
    first = Trainer("diffusion", env=ENV, demonstrator=PumpEnergy(), seed=0, config=TINY, progress=False)
    first.train(400)
    path = first.save(tmp_path / "trainer.pt")
    resumed = Trainer.load(path, progress=False, demonstrator=PumpEnergy())
    resumed.train(300)
    assert resumed.loss_history == straight.loss_history
    assert all(torch.equal(a, b) for a, b in zip(resumed.ema_model.state_dict().values(),
                                                 straight.ema_model.state_dict().values()))
    with pytest.raises(ValueError, match=r"demonstrator of your own.*Trainer\.load\(path, demonstrator=your_object\)"):
        Trainer.load(path, progress=False)


class NoAct:
    def reset(self):
        pass


class WrongShape(PumpEnergy):
    def act(self, obs):
        return np.array([1.0, 0.0], dtype=np.float32)


class TooStrong(PumpEnergy):
    def act(self, obs):
        return np.array([2.0], dtype=np.float32)


@pytest.mark.parametrize("demonstrator, error, message", [
    (NoAct(), TypeError, r"needs the methods reset\(\) and act\(obs\); NoAct has no act\(\)"),
    (WrongShape(), ValueError, r"WrongShape\.act\(obs\) returned an action of shape \(2,\); the env's action space "
                               r"Box\(-1\.0, 1\.0, \(1,\), float32\) needs shape \(1,\)"),
    (TooStrong(), ValueError, r"TooStrong\.act\(obs\) returned \[2\.0\], outside the action space's bounds"),
])
def test_bad_demonstrators_are_refused(demonstrator, error, message, tmp_path):
    with pytest.raises(error, match=message):
        Trainer("diffusion", env=ENV, demonstrator=demonstrator, config=TINY, progress=False).collect(5)
    with pytest.raises(error, match=message):
        record(ENV, tmp_path / "d.zarr", 1, demonstrator=demonstrator, progress=False)
    assert not (tmp_path / "d.zarr").exists() or Demonstrations.open(tmp_path / "d.zarr").n_episodes == 0


def test_an_env_without_a_demonstrator_says_how_to_bring_one():
    with pytest.raises(ValueError, match=r"no built-in demonstrator for env id 'MountainCarContinuous-v0'.*"
                                         r"demonstrator=your_object or dataset=path \(docs/your-own-task\.md\)"):
        Trainer("diffusion", env=ENV, config=TINY, progress=False)
