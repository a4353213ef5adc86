"""dpedu/Detour-v0: the contract of DESIGN.md (symmetry, success and collision rules, a demonstrator that goes
round either side from the same start), the side/switch measures, and the Trainer, resume and CLI on it."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import TINY
from gymnasium.utils.env_checker import check_env

import dpedu  # noqa: F401  (registers dpedu/Detour-v0)
from dpedu import Trainer
from dpedu.course import detour_plots
from dpedu.envs.detour import GOAL, RADIUS, START_NOISE, START_X, DetourEnv, episode_measures, side_and_switches
from dpedu.evaluate import evaluate_policy, rollouts

ENV = "dpedu/Detour-v0"


def test_registered_on_import_and_passes_gymnasiums_checker():
    env = gym.make(ENV)
    check_env(env.unwrapped)
    assert env.spec.max_episode_steps == 100
    obs, _ = env.reset(seed=3)
    assert obs.shape == (2,) and obs[0] == pytest.approx(START_X) and abs(obs[1]) <= START_NOISE


def run(env, actions):
    out = []
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(np.asarray(a, dtype=np.float32))
        out.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return out


def test_mirror_symmetry_about_the_x_axis():
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(60, 2))
    a, b = DetourEnv(), DetourEnv()
    a.reset(seed=1)
    b.reset(seed=1)
    b.state = a.state * [1, -1]  # the mirrored start
    for (oa, ra, ta, _, _), (ob, rb, tb, _, _) in zip(run(a, actions), run(b, actions * [1, -1])):
        np.testing.assert_allclose(ob, oa * [1, -1])
        assert (ra, ta) == (rb, tb)


def test_success_and_collision_terminate_with_their_flags():
    env = DetourEnv()
    env.reset(seed=0)
    env.state = np.array([GOAL[0] - 0.12, 0.0])
    obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0], dtype=np.float32))
    assert info["is_success"] and terminated and reward == 1.0 and not truncated
    env.state = np.array([-RADIUS - 0.04, 0.0])
    obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0], dtype=np.float32))
    assert info["is_collision"] and not info["is_success"] and terminated and reward == 0.0


def test_straight_on_hits_the_disk_and_standing_still_times_out():
    env = gym.make(ENV)
    env.reset(seed=0)
    steps = run(env, [[1.0, 0.0]] * 100)
    assert steps[-1][4]["is_collision"] and len(steps) < 25
    env.reset(seed=0)
    steps = run(env, [[0.0, 0.0]] * 200)
    assert len(steps) == 100 and steps[-1][3] and not steps[-1][2]  # truncated by the time limit


def demonstrator_rollouts(n=400, explore=False, seed=0):
    """n episodes from the same start (reset seed 0), the demonstrator's own actions (explore: with DART noise)."""
    demos = detour_plots.demonstrations(n, explore=explore, seed=seed, reset_seed=0)
    return np.array([side_and_switches(o)[0] for o in demos["observations"]]), demos["successes"]


def test_the_demonstrator_goes_round_either_side_from_the_same_start():
    sides, successes = demonstrator_rollouts()
    assert successes.all(), "the noise-free demonstrator always reaches the goal"
    # 400 fair coin flips: 3.5 standard deviations is 0.5 +- 0.0875.
    assert 0.41 < np.mean(sides > 0) < 0.59 and set(sides) == {-1, 1}


def test_the_demonstrator_recovers_from_its_exploration_noise():
    sides, successes = demonstrator_rollouts(n=200, explore=True, seed=1)
    assert successes.mean() >= 0.9 and 0.3 < np.mean(sides > 0) < 0.7


def test_side_and_switch_measures():
    x = np.linspace(-1.2, 1.0, 45)
    up = np.stack([x, np.where(x > -0.8, 0.4, 0.0)], 1)
    wobble = np.stack([x, 0.05 * np.sign(np.sin(np.arange(45)))], 1)  # crosses y = 0 again and again
    assert side_and_switches(up) == (1, 0)
    assert side_and_switches(up * [1, -1]) == (-1, 0)
    assert side_and_switches(wobble)[1] > 3
    m = episode_measures([up, up * [1, -1], wobble])
    assert m["side_up"] + m["side_down"] == pytest.approx(1.0) and m["switched_share"] == pytest.approx(1 / 3)


def test_trainer_and_evaluation_work_on_it_unchanged(tmp_path):
    trainer = Trainer("diffusion", env=ENV, seed=0, config={**TINY, "n_action_steps": 4}, progress=False)
    metrics = trainer.train(400)
    assert metrics["n_updates"] == 201 and metrics["episodes"] >= 3
    result = evaluate_policy(trainer.policy, ENV, n_episodes=6, seed=0, baselines=False)
    assert {"success_rate", "success_ci", "side_up", "switches_per_episode", "switched_ci"} <= result.keys()
    assert 0 <= result["success_ci"][0] <= result["success_rate"] <= result["success_ci"][1] <= 1
    episodes = rollouts(trainer.policy, ENV, n_episodes=4, seed=0)
    assert all(len(o) == n + 1 for o, n in zip(episodes["observations"], episodes["lengths"]))


def test_resume_is_bit_exact_with_exploration_noise(tmp_path):
    """Episodes of uneven length and DART noise: train(N); save; load; train(N) == train(2N)."""
    config = {**TINY, "warmup_steps": 100}
    straight = Trainer("diffusion", env=ENV, seed=2, config=config, progress=False)
    straight.train(300)
    first = Trainer("diffusion", env=ENV, seed=2, config=config, progress=False)
    first.train(173)
    resumed = Trainer.load(first.save(tmp_path / "t.pt"), progress=False)
    resumed.train(127)
    assert straight.loss_history == resumed.loss_history
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert straight.env.unwrapped.state.tolist() == resumed.env.unwrapped.state.tolist()


def test_position_control_reaches_what_velocity_control_reaches():
    """dpedu/DetourPosition-v0: the target p + SPEED a moves the point exactly as the velocity a does, a target
    farther than one step is approached at top speed, and the two demonstrators drive the same paths."""
    import gymnasium as gym

    from dpedu.envs import make_demonstrator
    from dpedu.envs.detour import SPEED
    from dpedu.evaluate import rollouts

    velocity, position = gym.make(ENV), gym.make("dpedu/DetourPosition-v0")
    p0 = velocity.reset(seed=3)[0]
    assert np.array_equal(position.reset(seed=3)[0], p0)
    a = np.array([0.6, -0.3], np.float32)
    np.testing.assert_allclose(position.step(p0 + SPEED * a)[0], velocity.step(a)[0], atol=1e-6)
    far = position.unwrapped.state + np.array([1.0, 0.02])
    step = position.step(far.astype(np.float32))[0] - velocity.step(np.array([1.0, 0.4], np.float32))[0]
    np.testing.assert_allclose(step, 0.0, atol=1e-6)  # (1, 0.02) away: a full step in x, 0.02 = 0.4 SPEED in y
    paths = {env_id: rollouts(make_demonstrator(env_id, 5), env_id, 6, seed=0)
             for env_id in (ENV, "dpedu/DetourPosition-v0")}
    v, p = paths[ENV], paths["dpedu/DetourPosition-v0"]
    assert v["successes"].all() and p["successes"].all()
    for xy_v, xy_p in zip(v["observations"], p["observations"]):
        assert side_and_switches(xy_v) == side_and_switches(xy_p)
        n = min(len(xy_v), len(xy_p))
        # Equal up to float rounding, which can put one step on the other side of the demonstrator's x = 0 rule
        # (x = -0.0 against 0.0): then the two differ by at most half a step for a few steps.
        np.testing.assert_allclose(xy_v[:n], xy_p[:n], atol=0.5 * SPEED)
    with pytest.raises(ValueError, match="control must be one of 'velocity', 'position'"):
        DetourEnv(control="torque")
