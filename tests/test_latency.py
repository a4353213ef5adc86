"""Latency (dpedu.envs.latency): the policy sees o_{t-d} while the world is at o_t; rewards and ends stay the
world's; evaluate_policy(latency=d) rolls a policy out through it."""

import gymnasium as gym
import numpy as np
import pytest

import dpedu  # noqa: F401  (registers dpedu/Detour-v0)
from dpedu.envs import make_demonstrator
from dpedu.envs.latency import ObservationLatency
from dpedu.evaluate import evaluate_policy, rollouts


@pytest.mark.parametrize("d", [0, 1, 3])
def test_the_policy_sees_the_world_d_steps_late(d):
    world, late = gym.make("dpedu/Detour-v0"), ObservationLatency(gym.make("dpedu/Detour-v0"), d)
    seen_world = [world.reset(seed=5)[0]]
    seen_late = [late.reset(seed=5)[0]]
    rng = np.random.default_rng(0)
    for _ in range(12):
        a = rng.uniform(-1, 1, 2).astype(np.float32)
        o, r, term, trunc, _ = world.step(a)
        o_late, r_late, term_late, trunc_late, _ = late.step(a)
        seen_world.append(o)
        seen_late.append(o_late)
        assert (r, term, trunc) == (r_late, term_late, trunc_late)  # the world's own rewards and ends
    for t, o_late in enumerate(seen_late):
        np.testing.assert_array_equal(o_late, seen_world[max(0, t - d)])  # o_{t-d}; before any, o_0


def test_reset_forgets_the_last_episode():
    late = ObservationLatency(gym.make("dpedu/Detour-v0"), 2)
    late.reset(seed=0)
    for _ in range(5):
        late.step(np.ones(2, np.float32))
    o0 = late.reset(seed=1)[0]
    np.testing.assert_array_equal(late.step(np.zeros(2, np.float32))[0], o0)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_bad_latency_is_refused(bad):
    with pytest.raises(ValueError, match="latency must be an int >= 0"):
        if isinstance(bad, int) and not isinstance(bad, bool):
            rollouts(make_demonstrator("dpedu/Detour-v0", 0), "dpedu/Detour-v0", 1, latency=bad)
        else:
            ObservationLatency(gym.make("dpedu/Detour-v0"), bad)


def test_evaluate_with_latency():
    demonstrator = make_demonstrator("dpedu/Detour-v0", 0)
    on_time = evaluate_policy(demonstrator, "dpedu/Detour-v0", 20, seed=3, baselines=False)
    again = evaluate_policy(make_demonstrator("dpedu/Detour-v0", 0), "dpedu/Detour-v0", 20, seed=3, baselines=False,
                            latency=0)
    assert on_time["returns"] == again["returns"] and again["latency"] == 0
    late = rollouts(make_demonstrator("dpedu/Detour-v0", 0), "dpedu/Detour-v0", 4, seed=3, latency=3)
    # What the policy saw is the world's path, late: its first 4 observations are the reset's.
    for states, seen in zip(late["states"], late["observations"]):
        np.testing.assert_array_equal(seen[:4], np.repeat(seen[:1], 4, axis=0))
        np.testing.assert_allclose(seen[4:], states[1:len(seen) - 3, :2], atol=1e-6)
