"""Tests for dpedu.envs.pendulum: the built-in Pendulum-v1 demonstrator (and dpedu.envs.make_demonstrator)."""

import gymnasium as gym
import numpy as np
import pytest

from dpedu.envs import DEMONSTRATORS, make_demonstrator
from dpedu.envs.pendulum import PendulumDemonstrator, lqr_balance_gain

SUPPORTED_ENVS = tuple(DEMONSTRATORS)


def angle_normalize(x):
    return ((x + np.pi) % (2 * np.pi)) - np.pi


def test_mean_return_over_100_episodes():
    # Measured: -146.1 (std 91.6) for seed 0; -148.6 .. -143.5 over demonstrator
    # seeds 0..29. SB3-zoo SAC gets about -157, random actions about -1250.
    n = 100
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("Pendulum-v1") for _ in range(n)])
    obs, _ = envs.reset(seed=0)
    expert = make_demonstrator("Pendulum-v1", seed=0)
    expert.reset()
    returns = np.zeros(n)
    for _ in range(200):
        obs, reward, terminated, truncated, _ = envs.step(expert.act(obs))
        returns += reward
    envs.close()
    assert truncated.all()  # exactly one full 200-step episode per env
    assert returns.mean() >= -160.0, returns.mean()
    # Every episode ends balanced: obs = [cos, sin, theta_dot] of the final state.
    assert np.all(obs[:, 0] > np.cos(0.1))


def test_action_shapes_dtype_and_bounds():
    rng = np.random.default_rng(0)
    n = 500
    theta = rng.uniform(-np.pi, np.pi, n)
    theta_dot = rng.uniform(-8.0, 8.0, n)
    obs = np.stack([np.cos(theta), np.sin(theta), theta_dot], axis=1).astype(np.float32)

    expert = PendulumDemonstrator(seed=0)
    actions = expert.act(obs)
    assert actions.shape == (n, 1)
    assert actions.dtype == np.float32
    assert np.all(np.abs(actions) <= 2.0)
    # Not degenerate: both saturated and unsaturated actions occur.
    assert np.any(np.abs(actions) == 2.0) and np.any(np.abs(actions) < 1.0)

    expert.reset()
    single = expert.act(obs[0])
    assert single.shape == (1,)
    assert single.dtype == np.float32
    assert np.abs(single[0]) <= 2.0
    assert expert.directions.shape == (1,)

    expert.reset()
    assert expert.act(obs[0].tolist()).shape == (1,)  # plain sequences work too


def test_from_rest_both_directions_and_swing_up():
    env = gym.make("Pendulum-v1")
    expert = make_demonstrator("Pendulum-v1", seed=0)
    first_actions, final_angles, returns = [], [], []
    for episode in range(20):
        env.reset(seed=episode)
        env.unwrapped.state = np.array([np.pi, 0.0])  # hanging down, at rest
        obs = env.unwrapped._get_obs()
        expert.reset()
        total, first = 0.0, None
        for _ in range(200):
            action = expert.act(obs)
            if first is None:
                first = float(action[0])
                # The kick goes in the episode's randomly drawn direction.
                assert first == 2.0 * expert.directions[0]
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
        assert truncated and not terminated
        first_actions.append(first)
        final_angles.append(angle_normalize(env.unwrapped.state[0]))
        returns.append(total)
    env.close()
    first_actions = np.array(first_actions)
    assert np.any(first_actions > 0) and np.any(first_actions < 0)  # multimodal
    assert np.all(np.abs(final_angles) < 0.1)  # every episode ends upright
    assert np.all(np.array(returns) > -450.0)  # measured about -371


def test_directions_lazy_seeded_and_reset():
    a, b = PendulumDemonstrator(seed=123), PendulumDemonstrator(seed=123)
    assert a.directions is None
    obs = np.tile(np.array([[-1.0, 0.0, 0.0]]), (64, 1))
    a.act(obs)
    b.act(obs)
    assert a.directions.shape == (64,)
    assert set(np.unique(a.directions)) <= {-1.0, 1.0}
    np.testing.assert_array_equal(a.directions, b.directions)
    # From rest at the bottom the first action is the kick 2 * d.
    np.testing.assert_array_equal(a.act(obs)[:, 0], 2.0 * a.directions)

    first = a.directions
    a.reset()
    assert a.directions is None
    a.act(obs)
    assert not np.array_equal(a.directions, first)  # new draw (64 coin flips)

    c = PendulumDemonstrator(seed=124)
    c.act(obs)
    assert not np.array_equal(c.directions, first)


def test_explore_noise_is_dart_and_off_by_default():
    """explore() executes label + N(0, sigma^2) clipped to the torque limit; sigma = 0 returns the label and draws
    nothing (so the default data are those of a demonstrator without the option); the label never changes."""
    obs = np.tile(np.array([[-1.0, 0.0, 0.0], [np.cos(0.01), np.sin(0.01), 0.0]]), (200, 1))  # a kick, a small LQR push
    quiet, plain = make_demonstrator("Pendulum-v1", 7), PendulumDemonstrator(seed=7)
    label = quiet.act(obs)
    assert quiet.explore(label) is label
    np.testing.assert_array_equal(plain.act(obs), label)  # the same random state after explore(): nothing drawn
    noisy = make_demonstrator("Pendulum-v1", 7, explore_noise=0.5)
    np.testing.assert_array_equal(noisy.act(obs), label)
    executed = noisy.explore(label)
    assert executed.dtype == np.float32 and executed.shape == label.shape
    assert np.all(np.abs(executed) <= 2.0)
    inside = np.abs(label) < 1.0  # away from the clip, the noise is N(0, 0.5^2)
    assert abs(np.std(executed[inside] - label[inside]) - 0.5) < 0.05
    assert make_demonstrator("dpedu/Detour-v0", 0).explore_noise == 0.4  # each task keeps its default
    quiet_detour, step = make_demonstrator("dpedu/Detour-v0", 0, explore_noise=0.0), np.ones(2, np.float32)
    assert quiet_detour.explore_noise == 0.0 and quiet_detour.explore(step) is step  # one rule for every task
    assert PendulumDemonstrator(seed=0, explore_noise=np.float32(0.5)).explore_noise == 0.5  # numpy scalars too


def test_lqr_gain_stabilises_linearised_model():
    dt = 0.05
    K, P = lqr_balance_gain()
    A = np.array([[1 + 15 * dt**2, dt], [15 * dt, 1.0]])
    B = np.array([[3 * dt**2], [3 * dt]])
    assert np.all(np.abs(np.linalg.eigvals(A - B @ K[None, :])) < 1.0)
    assert np.all(np.linalg.eigvalsh(P) > 0)
    # A, B are the Jacobians of gymnasium's own step at the upright equilibrium.
    env = gym.make("Pendulum-v1").unwrapped
    env.reset(seed=0)
    eps = 1e-6

    def step(theta, theta_dot, u):
        env.state = np.array([theta, theta_dot])
        env.step(np.array([u]))
        return env.state.copy()

    jac_x = np.column_stack([step(eps, 0, 0) / eps, step(0, eps, 0) / eps])
    jac_u = step(0, 0, eps) / eps
    np.testing.assert_allclose(jac_x, A, rtol=1e-4)
    np.testing.assert_allclose(jac_u, B[:, 0], rtol=1e-4)


@pytest.mark.parametrize("bad_shape", [(2,), (4,), (5, 2), (5, 4), (2, 3, 3), (0, 3)])
def test_bad_shape_raises(bad_shape):
    expert = PendulumDemonstrator(seed=0)
    with pytest.raises(ValueError, match=r"shape \(3,\) or \(N, 3\)"):
        expert.act(np.zeros(bad_shape))


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_raises(bad_value):
    expert = PendulumDemonstrator(seed=0)
    obs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, bad_value]])
    with pytest.raises(ValueError, match="non-finite"):
        expert.act(obs)


def test_batch_size_change_without_reset_raises():
    expert = PendulumDemonstrator(seed=0)
    expert.act(np.zeros((4, 3)) + [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"batch size changed from 4 to 3.*reset\(\)"):
        expert.act(np.zeros((3, 3)) + [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="batch size changed from 4 to 1"):
        expert.act(np.array([1.0, 0.0, 0.0]))
    expert.reset()
    assert expert.act(np.zeros((3, 3)) + [1.0, 0.0, 0.0]).shape == (3, 1)


def test_unknown_env_id_raises():
    assert SUPPORTED_ENVS == ("Pendulum-v1", "dpedu/Detour-v0", "dpedu/DetourPosition-v0", "dpedu/PushT-v0")
    assert isinstance(make_demonstrator("Pendulum-v1"), PendulumDemonstrator)
    with pytest.raises(ValueError, match=r"'CartPole-v1'.*Pendulum-v1, dpedu/Detour-v0, dpedu/DetourPosition-v0, "
                                         r"dpedu/PushT-v0"):
        make_demonstrator("CartPole-v1", seed=0)
