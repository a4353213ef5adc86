"""Latency (dpedu.envs.latency): the policy sees o_{t-d} while the world is at o_t; rewards and ends stay the
world's; evaluate_policy(latency=d) rolls a policy out through it."""

import json
import re

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


@pytest.fixture(scope="module")
def detour_policy():
    from conftest import TINY

    from dpedu import Trainer

    trainer = Trainer("diffusion", env="dpedu/Detour-v0", seed=0, config={**TINY, "n_action_steps": 4},
                      progress=False)
    trainer.train(400)
    return trainer.policy


def test_compensation_executes_the_actions_meant_for_now(detour_policy):
    """LatencyCompensated(policy, d) runs actions d .. d + T_a - 1 of each plan; with d = 0 it is the policy."""
    from dpedu.policy import LatencyCompensated

    obs = np.array([[-1.2, 0.01], [-1.0, -0.2]], np.float32)
    detour_policy.reset(seed=7)
    plain = [detour_policy.act(obs) for _ in range(8)]
    same = LatencyCompensated(detour_policy, 0)
    detour_policy.reset(seed=7)
    np.testing.assert_array_equal(np.stack([same.act(obs) for _ in range(8)]), np.stack(plain))

    late = LatencyCompensated(detour_policy, 3)
    detour_policy.reset(seed=7)
    executed = np.stack([late.act(obs) for _ in range(4)], axis=1)  # (N, 4, 2): the first plan's executed actions
    detour_policy.reset(seed=7)
    chunk = detour_policy.predict_chunk(np.repeat(obs[:, None], 2, axis=1))  # the same window, the same noise
    np.testing.assert_allclose(executed, chunk[:, 3:7], atol=1e-6)
    assert evaluate_policy(late, "dpedu/Detour-v0", 4, seed=0, baselines=False, latency=3)["n_episodes"] == 4


def test_compensation_needs_a_plan_long_enough(detour_policy):
    from dpedu.policy import LatencyCompensated

    with pytest.raises(ValueError, match="configure n_action_steps <= 3"):
        LatencyCompensated(detour_policy, 5)  # 4 + 5 > H = 8
    with pytest.raises(ValueError, match="steps must be an int >= 0"):
        LatencyCompensated(detour_policy, -1)


def test_latency_starts_from_the_chosen_initial_states():
    """With initial_states, the policy's first (late) view is the chosen state, not the reset's."""
    starts = np.array([[-1.0, 0.2], [-0.9, -0.3]])
    late = rollouts(make_demonstrator("dpedu/Detour-v0", 0), "dpedu/Detour-v0", 2, seed=0, initial_states=starts,
                    latency=2)
    for start, seen in zip(starts, late["observations"]):
        np.testing.assert_allclose(seen[:3], np.repeat(start[None], 3, axis=0).astype(np.float32))


def test_the_cli_evaluates_late_and_compensated(detour_policy, tmp_path, capsys):
    """`dpedu evaluate --latency D [--compensate]`: the same numbers as evaluate_policy; bad combinations exit 2 with
    the reason."""
    from dpedu.cli import main
    from dpedu.policy import LatencyCompensated

    path = str(detour_policy.save(tmp_path / "policy.pt"))
    capsys.readouterr()
    for extra, actor in (([], detour_policy), (["--compensate"], LatencyCompensated(detour_policy, 2))):
        assert main(["evaluate", path, "--episodes", "4", "--no-baselines", "--json", "--latency", "2", *extra]) == 0
        result = json.loads(capsys.readouterr().out)
        detour_policy.configure(seed=0)
        expected = evaluate_policy(actor, "dpedu/Detour-v0", 4, seed=0, baselines=False, latency=2)
        assert result["returns"] == expected["returns"] and result["latency"] == 2
        assert result["compensated"] == bool(extra)
    for args, message in ((["--compensate"], "--compensate .* needs --latency D with D >= 1"),
                          (["--latency", "5", "--compensate"], "--compensate: .*configure n_action_steps <= 3"),
                          (["--latency", "-1"], "--latency: must be >= 0")):
        with pytest.raises(SystemExit) as exit_:
            main(["evaluate", path, "--episodes", "2", "--no-baselines", *args])
        assert exit_.value.code == 2 and re.search(message, capsys.readouterr().err), args
