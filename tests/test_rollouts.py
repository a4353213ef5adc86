"""One rollout loop: dpedu.evaluate.rollouts runs the course's recorded Pendulum rollouts too, with the same numbers
as the course's own loop gave before, from a chosen initial state when asked, with a progress bar when asked."""

import hashlib

import numpy as np
import pytest

from dpedu.course import pendulum
from dpedu.envs import make_demonstrator
from dpedu.evaluate import evaluate_policy, rollouts


def rollouts_sha256(recorded) -> str:
    h = hashlib.sha256()
    for rollout in recorded:
        for field in rollout:  # theta, theta_dot, action, reward, obs
            h.update(np.ascontiguousarray(field).tobytes())
    return h.hexdigest()


# sha256 of record_rollouts' output for these inputs, recorded with its own loop before it ran on rollouts (b39cb4f).
RECORDED = [
    (0, dict(n_episodes=3, seed=5), "71a87da2991672fc8cc289c3b92ec34bdb3eaffa75ec38e2f019cb1236de2b9f"),
    (1, dict(n_episodes=10, init_state=(np.pi, 0.0)),
     "cf159469e0bf1eb2a48e7a04a2f4709353d3cdb7de7e70151ad3a58a76459ef0"),
    (2, dict(n_episodes=2, seed=3, init_state=(0.5, -1.0)),
     "dd38041d3f1e9049656c4c5f02a6cc12e7de286e026b59885f2ca633a7cefcf8"),
]


@pytest.mark.parametrize("demo_seed, kwargs, sha256", RECORDED, ids=["reset-seeds", "from-rest", "given-state"])
def test_record_rollouts_gives_the_numbers_it_gave_before(demo_seed, kwargs, sha256):
    recorded = pendulum.record_rollouts(make_demonstrator("Pendulum-v1", seed=demo_seed), **kwargs)
    assert len(recorded) == kwargs["n_episodes"] and all(len(r.theta) == 200 for r in recorded)
    assert rollouts_sha256(recorded) == sha256


def test_initial_states_start_every_episode_there():
    out = rollouts(make_demonstrator("Pendulum-v1", seed=0), n_episodes=2, seed=0,
                   initial_states=[[np.pi, 0.0], [0.1, 0.2]])
    np.testing.assert_array_equal(out["states"][0][0], [np.pi, 0.0])
    np.testing.assert_array_equal(out["states"][1][0], [0.1, 0.2])
    np.testing.assert_allclose(out["observations"][1][0], [np.cos(0.1), np.sin(0.1), 0.2], rtol=1e-6)
    assert [len(r) for r in out["rewards"]] == [200, 200]
    np.testing.assert_allclose([r.sum() for r in out["rewards"]], out["returns"])


def test_detour_records_its_states_too():
    out = rollouts(make_demonstrator("dpedu/Detour-v0", seed=0), "dpedu/Detour-v0", n_episodes=3, seed=0)
    for states, obs, length in zip(out["states"], out["observations"], out["lengths"]):
        assert states.shape == (length + 1, 2)
        np.testing.assert_array_equal(states.astype(np.float32), obs)  # Detour observes its state


@pytest.mark.parametrize("states, match", [
    ([[np.pi, 0.0]], r"initial_states must have shape \(n_episodes=2, state_dim\), got \(1, 2\)"),
    ([[np.pi, 0.0, 1.0]] * 2, r"initial_states must have shape \(n_episodes, 2\) for Pendulum-v1, got rows of shape"),
])
def test_bad_initial_states_are_refused(states, match):
    with pytest.raises(ValueError, match=match):
        rollouts(make_demonstrator("Pendulum-v1", seed=0), n_episodes=2, initial_states=states)


def test_initial_states_need_an_env_with_a_state():
    with pytest.raises(ValueError, match=r"initial_states needs an environment that keeps its state"):
        rollouts(make_demonstrator("Pendulum-v1", seed=0), "MountainCarContinuous-v0", n_episodes=1,
                 initial_states=[[0.0, 0.0]])


def test_progress_bar_counts_finished_episodes(capsys):
    expert = make_demonstrator("dpedu/Detour-v0", seed=0)
    quiet = evaluate_policy(expert, "dpedu/Detour-v0", n_episodes=6, n_envs=4, baselines=False)
    assert "episode" not in capsys.readouterr().err
    shown = evaluate_policy(make_demonstrator("dpedu/Detour-v0", seed=0), "dpedu/Detour-v0", n_episodes=6, n_envs=4,
                            baselines=False, progress=True)
    err = capsys.readouterr().err
    assert "evaluate" in err and "6/6" in err
    assert shown["returns"] == quiet["returns"]  # the bar changes nothing
