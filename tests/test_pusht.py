"""dpedu/PushT-v0 (dpedu/envs/pusht.py): gym-pusht's physics with Chi et al.'s low-dimensional observation, start
states that round-trip, the info of every step, the 300-step limit; and its planner demonstrator."""

import io
import json
import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

import dpedu  # noqa: F401  (registers dpedu/PushT-v0)
from dpedu.envs import make_demonstrator
from dpedu.envs.pusht import (
    CENTRE_OF_GRAVITY,
    ENV_ID,
    GOAL_POSE,
    KEYPOINT_MARGIN,
    LOCAL_KEYPOINTS,
    MAX_EPISODE_STEPS,
    SUCCESS_COVERAGE,
    TEST_START_SEED,
    PushTEnv,
    episode_score,
    keypoints,
    pose_from_keypoints,
)
from dpedu.envs.pusht_planner import (
    PushTDemonstrator,
    SceneModel,
    agent_step,
    approach_path,
    crosses_padded_t,
    inside_padded_t,
    sample_primitives,
)
from dpedu.envs.pusht_planner import coverage as planner_coverage

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
    margin = KEYPOINT_MARGIN  # the T's tips may leave the table at a random start; the agent may not
    assert env.observation_space == gym.spaces.Box(np.r_[np.full(16, -margin), 0, 0].astype(np.float32),
                                                   np.r_[np.full(16, 512 + margin), 512, 512].astype(np.float32))
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
    ({"obs_type": "state"}, r"obs_type must be one of 'keypoints', 'pixels', 'pixels_agent_pos', got 'state'"),
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


# ---------------------------------------------------------------------------------------------- the demonstrator

def demonstrate(start_seed: int, planner_seed: int, max_steps: int = MAX_EPISODE_STEPS, **kwargs):
    """One episode of the planner from env seed start_seed: (success, actions (L, 2), demonstrator)."""
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=start_seed)
    demonstrator = PushTDemonstrator(seed=planner_seed, **kwargs)
    actions = []
    for _ in range(max_steps):
        actions.append(demonstrator.act(obs))
        obs, _, terminated, truncated, info = env.step(actions[-1])
        if terminated or truncated:
            break
    return bool(info["is_success"]), np.array(actions), demonstrator


def test_the_model_steps_exactly_as_the_env_does_contacts_included():
    env = PushTEnv()
    _, info = env.reset(seed=3)
    model = SceneModel()
    ax, ay, bx, by, angle = info["state"]
    model.set((ax, ay, 0.0, 0.0, bx, by, angle, 0.0, 0.0, 0.0))
    for target in [(bx, by)] * 8 + [(100.0, 100.0)] * 5 + [(bx + 20, by - 30)] * 8:  # into the T and away
        target = np.array(target, np.float32)
        _, _, _, _, info = env.step(target)
        model.step(*target.tolist())
        np.testing.assert_allclose([*model.agent_state[:2], *model.block_pose()[:2]], info["state"][:4], atol=1e-9)
        assert planner_coverage(*model.block_pose()) == pytest.approx(info["coverage"], abs=1e-9)
    assert np.hypot(info["state"][2] - bx, info["state"][3] - by) > 10  # the T was pushed


def test_the_agents_path_is_predicted_from_the_targets():
    env = PushTEnv()
    obs, _ = env.reset(seed=4)
    x, y, vx, vy = *obs[16:].tolist(), 0.0, 0.0
    for target in ([300.0, 100.0], [310.0, 400.0], [20.0, 20.0]):
        obs, *_ = env.step(np.array(target, np.float32))
        x, y, vx, vy = agent_step(x, y, vx, vy, *target)
        np.testing.assert_allclose(obs[16:], [x, y], atol=1e-4)  # float32 observation


def test_planner_coverage_matches_gym_pushts_shapely_coverage():
    env, rng = PushTEnv(), np.random.default_rng(0)
    for _ in range(20):
        pose = GOAL_POSE + rng.normal(size=3) * [30.0, 30.0, 0.5]
        _, info = env.reset(options={"state": [20.0, 20.0, *pose[:2], pose[2] % (2 * np.pi)]})
        assert planner_coverage(*pose) == pytest.approx(info["coverage"], abs=1e-9)


def test_approach_paths_go_round_the_padded_T():
    rng = np.random.default_rng(1)
    for primitive in sample_primitives(rng, 200):
        start = tuple(rng.uniform(-150, 150, 2) + [0, 60])
        path = approach_path(start, primitive.standoff)
        assert path[-1] == primitive.standoff
        legs = list(zip([start, *path[:-1]], path))
        first = 1 if inside_padded_t(start) else 0  # from inside, the first leg backs straight out
        assert not any(crosses_padded_t(p, q) for p, q in legs[first:])
        assert not any(inside_padded_t(p) for p in path)


def test_the_demonstrator_solves_fixed_starts():
    for start in (0, 1, 2):
        success, actions, _ = demonstrate(start, planner_seed=start)
        assert success and len(actions) < 200
        assert np.all((actions >= 0) & (actions <= 512)) and actions.dtype == np.float32
    success, actions, _ = demonstrate(3, planner_seed=3, max_lead=None)
    assert success


def test_the_lead_cap_holds():
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=5)
    demonstrator = PushTDemonstrator(seed=0, max_lead=25.0)
    for _ in range(40):
        action = demonstrator.act(obs)
        assert np.hypot(*(action - obs[16:])) <= 25.0 + 1e-3
        obs, *_ = env.step(action)


def test_different_seeds_give_different_demonstrations_from_one_start():
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=100_000)
    first_faces, first_pushes = set(), set()
    for seed in range(6):
        demonstrator = make_demonstrator(ENV_ID, seed=seed)
        demonstrator.act(obs)
        first_pushes.add(tuple(demonstrator.primitives[0]))  # [step, face, contact, direction, end]
        first_faces.add(demonstrator.primitives[0][1])
    assert len(first_pushes) == 6 and len(first_faces) >= 2
    again = make_demonstrator(ENV_ID, seed=0)  # and one seed repeats itself
    assert tuple(again.act(obs).tolist()) == tuple(make_demonstrator(ENV_ID, seed=0).act(obs).tolist())


def test_act_on_a_batch_is_refused():
    obs, _ = PushTEnv().reset(seed=0)
    demonstrator = make_demonstrator(ENV_ID, seed=0)
    with pytest.raises(ValueError, match="one episode at a time.*a batch of 2"):
        demonstrator.act(np.stack([obs, obs]))
    assert demonstrator.act(obs[None]).shape == (1, 2)
    with pytest.raises(ValueError, match=r"shape \(18,\) or \(N, 18\)"):
        demonstrator.act(obs[:16])


def test_state_dict_round_trip_continues_identically():
    env_a, env_b = gym.make(ENV_ID), gym.make(ENV_ID)
    obs_a, _ = env_a.reset(seed=7)
    obs_b, _ = env_b.reset(seed=7)
    a = make_demonstrator(ENV_ID, seed=1)
    for _ in range(25):  # into the episode, mid-plan
        action = a.act(obs_a)
        obs_a, *_ = env_a.step(action)
        obs_b, *_ = env_b.step(action)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = make_demonstrator(ENV_ID, seed=99)
    b.load_state_dict(torch.load(buf, weights_only=True))  # plain Python: a checkpoint loads it safely
    for _ in range(40):
        action_a, action_b = a.act(obs_a), b.act(obs_b)
        np.testing.assert_array_equal(action_a, action_b)
        obs_a, *_ = env_a.step(action_a)
        obs_b, *_ = env_b.step(action_b)
    assert a.primitives == b.primitives and len(a.primitives) >= 2


def test_explore_adds_clipped_noise_only_when_asked():
    action = np.array([2.0, 510.0], np.float32)
    assert make_demonstrator(ENV_ID, seed=0).explore(action) is action  # no DART by default
    noisy = make_demonstrator(ENV_ID, seed=0, explore_noise=20.0).explore(action)
    assert noisy.dtype == np.float32 and np.all((noisy >= 0) & (noisy <= 512)) and not np.array_equal(noisy, action)


def test_the_demonstrator_tracks_an_agent_it_did_not_move():
    """With DART noise, or targets from elsewhere, the planner still reads the scene and re-plans."""
    success, _, _ = demonstrate(2, planner_seed=0, explore_noise=5.0)
    assert success


@pytest.mark.parametrize("kwargs, match", [
    ({"max_lead": 0.0}, "max_lead must be None"), ({"max_lead": np.inf}, "max_lead must be None"),
    ({"n_candidates": 0}, "n_candidates must be an int >= 1"), ({"explore_noise": -1.0}, "explore_noise"),
    ({"slack": 1.0}, r"slack must be a number in \[0, 1\)"), ({"slack": -0.1}, "slack must be"),
])
def test_bad_demonstrator_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PushTDemonstrator(**kwargs)


def test_load_state_dict_names_the_keys():
    with pytest.raises(ValueError, match=r"PushTDemonstrator state needs the keys \['rng', 'plan'"):
        PushTDemonstrator().load_state_dict({"rng": {}, "plan": None})


def test_a_pickled_demonstrator_continues_identically():
    """A process pool hands the demonstrator to its workers by pickling it (pymunk's space itself does not pickle)."""
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=8)
    a = make_demonstrator(ENV_ID, seed=2)
    for _ in range(10):
        obs, *_ = env.step(a.act(obs))
    b = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(b.act(obs), a.act(obs))
