"""dpedu/PushT-v0 (dpedu/envs/pusht.py): gym-pusht's physics with Chi et al.'s low-dimensional observation, start
states that round-trip, the info of every step, the 300-step limit; and its planner demonstrator."""

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import dpedu  # noqa: F401  (registers dpedu/PushT-v0)
from dpedu.envs.pusht import (
    CENTRE_OF_GRAVITY,
    ENV_ID,
    GOAL_POSE,
    LOCAL_KEYPOINTS,
    MAX_EPISODE_STEPS,
    SUCCESS_COVERAGE,
    TEST_START_SEED,
    PushTEnv,
    episode_score,
    keypoints,
    pose_from_keypoints,
)

GOAL_STATE = [100.0, 100.0, *GOAL_POSE]  # the agent out of the way, the block on the goal


def gym_pusht(obs_type="environment_state_agent_pos"):
    from gym_pusht.envs.pusht import PushTEnv as GymPushT

    return GymPushT(obs_type=obs_type)


def test_constants_and_registration():
    assert (ENV_ID, MAX_EPISODE_STEPS, SUCCESS_COVERAGE, TEST_START_SEED) == ("dpedu/PushT-v0", 300, 0.95, 100_000)
    spec = gym.spec(ENV_ID)
    assert spec.max_episode_steps == MAX_EPISODE_STEPS and spec.entry_point == "dpedu.envs.pusht:PushTEnv"


def test_spaces():
    env = PushTEnv()
    assert env.observation_space == gym.spaces.Box(0.0, 512.0, (18,), np.float32)
    assert env.action_space == gym.spaces.Box(0.0, 512.0, (2,), np.float32)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    pixels = PushTEnv(obs_type="pixels_agent_pos")
    obs, _ = pixels.reset(seed=0)
    assert set(obs) == {"pixels", "agent_pos"}
    assert obs["pixels"].shape == (96, 96, 3) and obs["pixels"].dtype == np.uint8
    assert pixels.observation_space.contains(obs)


def test_observation_is_gym_pushts_keypoints_then_the_agent():
    ours, theirs = PushTEnv(), gym_pusht()
    obs, _ = ours.reset(seed=3)
    ref, _ = theirs.reset(seed=3)
    for target in ([100.0, 200.0], [300.0, 300.0], [250.0, 260.0], None):
        expected = np.concatenate([ref["environment_state"], ref["agent_pos"]]).astype(np.float32)
        np.testing.assert_array_equal(obs, expected)
        if target is not None:
            obs, *_ = ours.step(np.array(target, np.float32))
            ref, *_ = theirs.step(np.array(target, np.float32))


def test_keypoint_geometry_matches_gym_pusht():
    env = gym_pusht()
    env.reset(seed=11)
    np.testing.assert_array_equal(np.array(env.block.center_of_gravity), CENTRE_OF_GRAVITY)
    pose = [*env.block.position, env.block.angle]
    np.testing.assert_allclose(keypoints(pose), env.get_keypoints(env._block_shapes), atol=1e-9)
    # The pose is read back from the float32 keypoints of an observation to a small fraction of a pixel.
    recovered = pose_from_keypoints(keypoints(pose).astype(np.float32))
    np.testing.assert_allclose(recovered[:2], pose[:2], atol=1e-3)
    assert abs(np.angle(np.exp(1j * (recovered[2] - pose[2])))) < 1e-5
    assert LOCAL_KEYPOINTS.shape == (8, 2)


@pytest.mark.parametrize("state", [GOAL_STATE, [50.0, 400.0, 300.0, 200.0, 1.0], [400.0, 60.0, 200.0, 300.0, 5.5]])
def test_a_state_round_trips(state):
    env = PushTEnv()
    obs, info = env.reset(options={"state": state})
    np.testing.assert_allclose(env.state(), state, atol=1e-9)
    np.testing.assert_allclose(info["state"], state, atol=1e-9)
    np.testing.assert_allclose(obs[16:], state[:2], atol=1e-4)
    np.testing.assert_allclose(obs[:16].reshape(8, 2), keypoints(state[2:]), atol=1e-3)


def test_the_goal_pose_covers_the_goal_where_gym_pushts_reset_to_state_does_not():
    _, info = PushTEnv().reset(options={"state": GOAL_STATE})
    assert info["coverage"] == pytest.approx(1.0, abs=1e-6) and info["is_success"]
    theirs = gym_pusht("state")
    theirs.reset(options={"reset_to_state": GOAL_STATE})  # position, then angle: rotated about the centre of gravity
    assert theirs._get_coverage() < 0.5


def test_seeds_are_reproducible():
    a, b = PushTEnv(), PushTEnv()
    obs_a, _ = a.reset(seed=42)
    obs_b, _ = b.reset(seed=42)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert not np.array_equal(a.reset(seed=43)[0], obs_a)
    a.reset(seed=42)
    for target in ([200.0, 200.0], [260.0, 300.0]):
        np.testing.assert_array_equal(a.step(np.array(target, np.float32))[0], b.step(np.array(target, np.float32))[0])


def test_info_has_coverage_success_and_state_after_reset_and_every_step():
    env = gym.make(ENV_ID)
    _, info = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert {"coverage", "is_success", "state"} <= set(info)
        assert 0.0 <= info["coverage"] <= 1.0 and info["is_success"] == (info["coverage"] > SUCCESS_COVERAGE)
        np.testing.assert_array_equal(info["state"], env.unwrapped.state())
        _, reward, _, _, info = env.step(rng.uniform(0, 512, 2).astype(np.float32))
        assert reward == pytest.approx(min(info["coverage"] / SUCCESS_COVERAGE, 1.0))


def test_time_limit_truncates_at_300_steps():
    env = gym.make(ENV_ID)
    env.reset(seed=5)
    ends = [env.step(np.array([20.0, 20.0], np.float32))[2:4] for _ in range(MAX_EPISODE_STEPS)]  # off the block
    assert ends[-1] == (False, True) and not any(terminated or truncated for terminated, truncated in ends[:-1])


def test_render():
    env = PushTEnv(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (680, 680, 3) and frame.dtype == np.uint8
    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        PushTEnv().render()


def test_episode_score_is_the_max_reward():
    assert episode_score([0.1, 0.7, 0.5]) == 0.7
    for bad in ([], [[0.5]], [0.5, np.nan], [1.2]):
        with pytest.raises(ValueError, match="rewards"):
            episode_score(bad)


@pytest.mark.parametrize("kwargs, match", [
    ({"obs_type": "state"}, r"obs_type must be one of 'keypoints', 'pixels_agent_pos', got 'state'"),
    ({"render_mode": "human"}, r"render_mode must be None or 'rgb_array', got 'human'"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PushTEnv(**kwargs)


@pytest.mark.parametrize("options, match", [
    ({"reset_to_state": GOAL_STATE}, "the only key 'state'"),
    ({"state": GOAL_STATE, "seed": 1}, "the only key 'state'"),
    ("state", "the only key 'state'"),
    ({"state": [1.0, 2.0, 3.0]}, r"5 finite numbers \['agent_x'"),
    ({"state": [1.0, 2.0, 3.0, np.nan, 0.0]}, "5 finite numbers"),
    ({"state": "abcde"}, "5 numbers"),
    ({"state": [1.0, 2.0, 600.0, 300.0, 0.0]}, r"must lie in \[0, 512\]"),
])
def test_bad_options_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        PushTEnv().reset(options=options)


@pytest.mark.parametrize("action", [[1.0, 2.0, 3.0], [np.inf, 1.0], ["a", "b"], 5.0])
def test_bad_actions_are_refused(action):
    env = PushTEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be 2 finite numbers"):
        env.step(action)


def test_import_dpedu_and_its_envs_load_no_pygame():
    code = ("import json, sys, dpedu, dpedu.envs, gymnasium; assert 'dpedu/PushT-v0' in gymnasium.registry; "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert not {m for m in loaded if m.split(".")[0] in ("pygame", "cv2", "gym_pusht", "shapely")}
