"""Reliability probes on the acting side (issue 22's list, items 4 and 8): each row failed on the old main with NaN
actions, a raw error or the wrong culprit, and must now raise a clear error naming what was wrong."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from dpedu import DiffusionPolicy


def own_policy(trainer) -> DiffusionPolicy:
    shared = trainer.policy
    return DiffusionPolicy(shared.config, copy.deepcopy(shared.model), shared.obs_normalizer, shared.act_normalizer,
                           env_id=shared.env_id, device="cpu")


def nan_weights(policy):
    with torch.no_grad():
        next(policy.model.parameters())[0].fill_(float("nan"))
    return policy.act(np.array([1.0, 0.0, 0.0], np.float32))


# (id, probe(policy), exception type, regex the message must contain)
ROWS = [
    ("finite obs, NaN plan: the observation's range is named",
     lambda p: p.act(np.array([1.0, 0.0, 1e22])), ValueError, r"normalised, reach .*training data lie in \[-1, 1\]"),
    ("float64 beyond float32's range", lambda p: p.act(np.array([1.0, 0.0, 1e39])), ValueError,
     r"values beyond float32's range"),
    ("obs with NaN", lambda p: p.act(np.array([1.0, np.nan, 0.0])), ValueError, r"NaN or inf"),
    ("NaN weights are blamed on the weights, not the observation", nan_weights, RuntimeError,
     r"weights contain NaN or inf \(.*\); the observations are finite"),
    ("predict_chunk window beyond float32", lambda p: p.predict_chunk(np.full((1, 2, 3), 1e39)), ValueError,
     r"beyond float32's range"),
    ("denoise n_samples 0", lambda p: p.denoise(np.zeros((1, 2, 3)), n_samples=0), ValueError,
     r"n_samples must be an int >= 1 .* got 0"),
    ("save to an empty path (main: a raw OSError)", lambda p: p.save(""), ValueError,
     r"a checkpoint path must be a non-empty file name"),
    ("save to a folder", lambda p: p.save("."), ValueError, r"is a directory; give a file name inside it"),
    ("denoise n_samples float", lambda p: p.denoise(np.zeros((1, 2, 3)), n_samples=2.0), ValueError,
     r"n_samples must be an int >= 1 .* got 2.0"),
]


@pytest.mark.parametrize("probe, exc, match", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_acting_probe(tiny_trainer, probe, exc, match):
    with pytest.raises(exc, match=match):
        probe(own_policy(tiny_trainer))


def test_numpy_integer_samples_are_accepted(tiny_trainer):
    actions, trajectory = own_policy(tiny_trainer).denoise(np.zeros((1, 2, 3)), n_samples=np.int64(3))
    assert actions.shape == (3, 8, 1) and np.isfinite(actions).all()
