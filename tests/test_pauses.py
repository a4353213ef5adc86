"""Pausing (dpedu/envs/pauses.py): demonstrations with idle stretches. With rate 0 it is the wrapped demonstrator
step for step; in a pause the point holds still under velocity and position control, exactly (no DART noise);
pauses last what `durations` says and take the share of steps the rate implies; rows of a batch pause on their own;
its state resumes a trainer bit-exactly; bad arguments are refused with what is allowed."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import TINY

import dpedu  # noqa: F401  (registers the Detour envs)
from dpedu import Trainer
from dpedu.envs import make_demonstrator
from dpedu.envs.pauses import Pausing, idle_share

DETOUR, POSITION = "dpedu/Detour-v0", "dpedu/DetourPosition-v0"


def demonstrate(demonstrator, env_id=DETOUR, seed=0, steps=300):
    """Labels, executed actions and positions of `steps` steps of demonstrations (episodes reset as they end)."""
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    labels, executed, positions, paused = [], [], [obs], []
    for _ in range(steps):
        label = demonstrator.act(obs)
        action = demonstrator.explore(label)
        paused.append(bool(getattr(demonstrator, "paused", np.zeros(1, bool))[0]))
        obs, _, terminated, truncated, _ = env.step(action)
        labels.append(label), executed.append(action), positions.append(obs)
        if terminated or truncated:
            demonstrator.reset()
            obs, _ = env.reset()
            positions.append(obs)
    return np.array(labels), np.array(executed), positions, np.array(paused)


def test_rate_zero_is_the_demonstrator_step_for_step():
    plain = demonstrate(make_demonstrator(DETOUR, 3))
    wrapped = demonstrate(Pausing(make_demonstrator(DETOUR, 3), rate=0.0, seed=7))
    for a, b in zip(plain[:2], wrapped[:2]):
        np.testing.assert_array_equal(a, b)
    assert not wrapped[3].any()


@pytest.mark.parametrize("env_id", [DETOUR, POSITION])
def test_a_pause_holds_the_point_still_for_its_duration(env_id):
    demonstrator = Pausing(make_demonstrator(env_id, 0), rate=0.1, durations=(3, 6), seed=0)
    labels, executed, positions, paused = demonstrate(demonstrator, env_id, steps=2000)
    np.testing.assert_array_equal(labels[paused], executed[paused])  # no DART noise while paused
    assert not np.array_equal(labels[~paused], executed[~paused])  # and the usual noise in between
    if env_id == DETOUR:
        assert np.all(labels[paused] == 0)
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, paused.astype(int), 0])))[::2]  # lengths of the paused runs
    runs = runs[:-1]  # the last may be cut off by the end of the steps
    assert runs.min() >= 3 and np.median(runs) <= 6  # longer runs: a pause can follow another at once
    # share of paused steps: rate * mean duration per step walked -> 0.1 * 4.5 / (1 + 0.1 * 4.5) = 0.31
    assert abs(paused.mean() - 0.31) < 0.05, paused.mean()


def test_the_point_stands_still_in_a_pause_under_position_control():
    env = gym.make(POSITION)
    obs, _ = env.reset(seed=0)
    demonstrator = Pausing(make_demonstrator(POSITION, 0), rate=0.2, seed=1)
    moved_while_paused = []
    for _ in range(60):
        action = demonstrator.explore(demonstrator.act(obs))
        new_obs, _, terminated, truncated, _ = env.step(action)
        if demonstrator.paused[0]:
            moved_while_paused.append(np.abs(new_obs - obs).max())
        obs = new_obs
        if terminated or truncated:
            break
    assert moved_while_paused and max(moved_while_paused) == 0.0


def test_rows_of_a_batch_pause_on_their_own():
    demonstrator = Pausing(make_demonstrator(DETOUR, 0), rate=0.2, seed=0)
    obs = np.tile(np.array([[-1.2, 0.0]], dtype=np.float32), (64, 1))
    paused = []
    for _ in range(20):
        demonstrator.act(obs)
        paused.append(demonstrator.paused)
    paused = np.array(paused)  # (20 steps, 64 rows)
    assert 0 < paused.mean() < 1 and len({tuple(column) for column in paused.T}) > 10
    with pytest.raises(ValueError, match="batch size changed"):
        demonstrator.act(obs[:3])
    demonstrator.reset()
    assert demonstrator.act(obs[:3]).shape == (3, 2)


def test_its_state_resumes_a_trainer_bit_exactly(tmp_path):
    def pausing():
        return Pausing(make_demonstrator(DETOUR, 0), rate=0.1, seed=0)

    straight = Trainer("diffusion", env=DETOUR, demonstrator=pausing(), seed=0, config=TINY, progress=False)
    straight.train(500)
    first = Trainer("diffusion", env=DETOUR, demonstrator=pausing(), seed=0, config=TINY, progress=False)
    first.train(310)  # mid-episode, possibly mid-pause
    resumed = Trainer.load(first.save(tmp_path / "t.pt"), progress=False, demonstrator=pausing())
    resumed.train(190)
    assert resumed.loss_history == straight.loss_history
    n = len(straight.buffer)
    assert torch.equal(resumed.buffer.act[:n], straight.buffer.act[:n])
    assert torch.all(straight.buffer.act[:n] == 0, dim=1).any()  # the data hold pauses


def test_idle_share_counts_steps_that_barely_move():
    still = np.array([[0.0, 0.0], [0.0, 0.0], [0.05, 0.0], [0.05, 0.001]])
    assert idle_share([still], 0.005) == pytest.approx(2 / 3)


@pytest.mark.parametrize("kwargs, match", [
    ({"rate": 1.0}, r"rate must be a probability in \[0, 1\)"),
    ({"rate": -0.1}, r"rate must be a probability"),
    ({"durations": (0, 3)}, r"durations must be \(shortest, longest\)"),
    ({"durations": (5, 3)}, r"durations must be"),
    ({"durations": 4}, r"durations must be"),
    ({"seed": -1}, r"seed must be None or an int"),
])
def test_bad_arguments_say_what_is_allowed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Pausing(make_demonstrator(DETOUR, 0), **kwargs)


def test_it_wraps_demonstrators_whose_idle_action_it_knows():
    with pytest.raises(TypeError, match="wraps a dpedu Demonstrator"):
        Pausing(object())
    with pytest.raises(ValueError, match="no idle action known for PendulumDemonstrator; give idle="):
        Pausing(make_demonstrator("Pendulum-v1", 0))
    zero_torque = Pausing(make_demonstrator("Pendulum-v1", 0), rate=0.5, idle=lambda obs, d: np.zeros((len(obs), d)),
                          seed=0)
    actions = np.array([zero_torque.act(np.array([0.0, 1.0, 1.0], dtype=np.float32)) for _ in range(40)])
    assert np.any(actions == 0) and np.any(actions != 0)


def test_a_trainer_with_rate_zero_is_the_plain_trainer():
    """What lets benchmarks/idle.py take the unpaused U-Net from benchmarks/design_choices.py: the same data, the same
    updates, bit for bit."""
    plain = Trainer("diffusion", env=DETOUR, seed=4, config=TINY, progress=False)
    plain.train(400)
    wrapped = Trainer("diffusion", env=DETOUR, seed=4, config=TINY, progress=False,
                      demonstrator=Pausing(make_demonstrator(DETOUR, 4), rate=0.0, seed=4))
    wrapped.train(400)
    assert wrapped.loss_history == plain.loss_history
    n = len(plain.buffer)
    assert torch.equal(wrapped.buffer.act[:n], plain.buffer.act[:n]) and torch.equal(wrapped.buffer.obs[:n],
                                                                                    plain.buffer.obs[:n])


def test_pauses_start_only_where_asked():
    from dpedu.envs import detour

    def at_fork(p):
        return np.abs(p[:, 0] - detour.FORK_X) < detour.SPEED

    demonstrator = Pausing(make_demonstrator(DETOUR, 0), rate=0.9, where=at_fork, seed=0)
    env = gym.make(DETOUR)
    obs, _ = env.reset(seed=0)
    was_paused, starts = False, []
    for _ in range(600):
        action = demonstrator.explore(demonstrator.act(obs))
        if demonstrator.paused[0] and not was_paused:
            starts.append(obs[0])  # the x at which a pause started
        was_paused = demonstrator.paused[0]
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            demonstrator.reset()
            obs, _ = env.reset()
            was_paused = False
    assert len(starts) >= 5 and np.all(np.abs(np.array(starts) - detour.FORK_X) < detour.SPEED)
