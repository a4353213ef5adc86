"""Rollouts: random and demonstrator baselines, seeding, the executed actions and their smoothness, bad input."""

import numpy as np
import pytest

from dpedu.envs import make_demonstrator
from dpedu.evaluate import (
    RandomPolicy,
    action_change,
    baseline_returns,
    check_env_id,
    evaluate_policy,
    rollout_returns,
    rollouts,
)
from dpedu.stats import t_interval


def test_baselines_bracket_the_task():
    random_mean, demo_mean = baseline_returns("Pendulum-v1", 20, 0)
    assert random_mean < -900 and demo_mean > -200


def test_episode_i_gets_seed_plus_i_whatever_the_batch():
    space = check_env_id("Pendulum-v1")
    all_at_once = rollout_returns(make_demonstrator("Pendulum-v1", 0), n_episodes=6, seed=3)
    in_pairs = rollout_returns(make_demonstrator("Pendulum-v1", 0), n_episodes=6, seed=3, n_envs=2)
    # The demonstrator is deterministic except from rest at the bottom: same initial states, same returns.
    np.testing.assert_allclose(all_at_once, in_pairs, atol=1e-6)
    r1 = rollout_returns(RandomPolicy(space, 0), n_episodes=4, seed=0)
    assert r1.shape == (4,)


def test_evaluate_policy_reports_a_normalised_score():
    result = evaluate_policy(make_demonstrator("Pendulum-v1", 0), n_episodes=10, seed=0)
    assert result["normalized_score"] == pytest.approx(1.0, abs=0.05)
    returns = np.array(result["returns"])
    assert len(returns) == 10 and result["std_return"] == pytest.approx(returns.std())
    assert result["se_return"] == pytest.approx(returns.std(ddof=1) / np.sqrt(10))


def test_rollouts_record_the_executed_actions_episode_by_episode():
    episodes = rollouts(make_demonstrator("dpedu/Detour-v0", 0), "dpedu/Detour-v0", n_episodes=3, seed=0, n_envs=2)
    for obs, actions, length in zip(episodes["observations"], episodes["actions"], episodes["lengths"]):
        assert actions.shape == (length, 2) and obs.shape == (length + 1, 2)


def test_action_change_is_the_mean_absolute_step_to_step_change():
    ramp = np.stack([np.arange(5.0), -2 * np.arange(5.0)], axis=1)  # changes of 1 and 2 per step: mean 1.5
    jumps = np.array([[1.0], [-1.0], [1.0]])  # changes of 2 per step
    np.testing.assert_allclose(action_change([ramp, jumps, np.zeros((1, 1))]), [1.5, 2.0, 0.0])
    result = evaluate_policy(make_demonstrator("Pendulum-v1", 0), n_episodes=4, seed=0, baselines=False)
    per_episode = action_change(rollouts(make_demonstrator("Pendulum-v1", 0), n_episodes=4, seed=0)["actions"])
    assert result["mean_action_change"] == pytest.approx(per_episode.mean()) and per_episode.mean() > 0
    assert result["se_action_change"] == pytest.approx(per_episode.std(ddof=1) / 2)  # sqrt(4 episodes)


@pytest.mark.parametrize("kwargs, match", [(dict(n_episodes=0), "n_episodes"), (dict(seed=-1), "seed"),
                                           (dict(n_envs=0), "n_envs"), (dict(n_episodes=2.5), "n_episodes")])
def test_rollout_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rollout_returns(make_demonstrator("Pendulum-v1"), **kwargs)


def test_t_interval_is_students():
    # mean 2, s = 1, n = 3: half-width t_{0.975, 2} / sqrt(3) = 4.303 / 1.732 (tables)
    lo, hi = t_interval([1.0, 2.0, 3.0])
    assert (lo, hi) == pytest.approx((2 - 2.4841, 2 + 2.4841), abs=1e-3)
    assert t_interval([5.0, 5.0, 5.0]) == (5.0, 5.0)
    with pytest.raises(ValueError, match="at least 2 values"):
        t_interval([1.0])


def test_notebook_06_seed_record_is_complete():
    """dpedu/course/inference_seeds.jsonl (benchmarks/inference.py): every measurement for every seed."""
    from dpedu.course.policy_plots import load_inference_seeds

    record = load_inference_seeds()
    seeds = set(record["train",])
    assert len(seeds) >= 3 and 42 in seeds, seeds  # 42: notebook 04's policy, the one notebook 06 runs live
    keys = ([("steps", k, s) for k in ("ddpm", "ddim") for s in (1, 2, 5, 10, 20, 50)]
            + [("eta", e) for e in (0.0, 0.5, 1.0)] + [("n_action_steps", n) for n in (1, 2, 4, 8)]
            + [("rest", "ddim", 1), ("rest", "ddim", 10), ("rest", "ddpm", 10)])
    for key in keys:
        assert set(record[key]) == seeds, key
    assert len(record) == len(keys) + 1
