"""How a Pendulum policy loses return: slow swing-ups, and weak pushes near the top (docs/results.md, DART).

    python -m dpedu train --total-timesteps 10000 --set hidden_dim=128 --set learning_rate=3e-4 --set n_layers=3 \
        --set seed=0 --threads 1 --out runs/nodart0       # the fast preset without DART, seed 0 (seed 1: runs/nodart1)
    python benchmarks/swing_up.py runs/nodart0/policy.pt dpedu/course/checkpoints/fast_pendulum.pt

For each policy file (and the demonstrator), over the 100 evaluation episodes (reset seeds 0-99, DDPM as saved):
  steps_to_upright   the first step after which the pole stays within 0.3 rad of upright (200: never), median and
                     the number of episodes that never settle
  swing_cost, balance_cost   the episode's cost (minus the reward) before and after that step, mean over episodes
and near the top, at rest at theta = +-0.1, +-0.2, +-0.3 rad: the mean first action of 20 plans against the
demonstrator's (its LQR pushes with 2 N·m from about 0.1 rad on). One JSON line per policy.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from dpedu import DiffusionPolicy
from dpedu.course import pendulum
from dpedu.envs import make_demonstrator
from dpedu.evaluate import rollouts

NEAR_TOP = (-0.3, -0.2, -0.1, 0.1, 0.2, 0.3)


def settle_step(theta: np.ndarray, tolerance: float = 0.3) -> int:
    """The first step from which |theta| stays below tolerance to the end (len(theta) if it never does)."""
    outside = np.flatnonzero(np.abs(theta) >= tolerance)
    return 0 if outside.size == 0 else int(outside[-1]) + 1


def measure(name: str, policy, near_top: dict) -> dict:
    episodes = rollouts(policy, "Pendulum-v1", n_episodes=100, seed=0)
    settle, swing, balance = [], [], []
    for obs, act in zip(episodes["observations"], episodes["actions"], strict=True):
        theta, theta_dot = np.arctan2(obs[:-1, 1], obs[:-1, 0]), obs[:-1, 2]
        cost = theta**2 + 0.1 * theta_dot**2 + 0.001 * act[:, 0] ** 2  # Pendulum-v1's reward, negated
        k = settle_step(theta)
        settle.append(k)
        swing.append(cost[:k].sum())
        balance.append(cost[k:].sum())
    settle = np.array(settle)
    return {"policy": name, "mean_return": round(float(episodes["returns"].mean()), 1),
            "steps_to_upright_median": float(np.median(settle)), "never_upright": int((settle >= 200).sum()),
            "swing_cost": round(float(np.mean(swing)), 1), "balance_cost": round(float(np.mean(balance)), 2),
            "near_top_action": near_top}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("policies", nargs="+", help="DiffusionPolicy files")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    demonstrator = make_demonstrator("Pendulum-v1", seed=0)
    demo_top = {theta: round(float(demonstrator.act(pendulum.obs_from_state(theta, 0.0))[0]), 2) for theta in NEAR_TOP}
    print(json.dumps(measure("demonstrator", make_demonstrator("Pendulum-v1", seed=0), demo_top)), flush=True)
    for path in args.policies:
        policy = DiffusionPolicy.load(path, device="cpu")
        policy.reset(seed=0)
        top = {}
        for theta in NEAR_TOP:
            window = np.repeat(pendulum.obs_from_state(theta, 0.0)[None, None], policy.config.obs_horizon, axis=1)
            plans = policy.predict_chunk(np.repeat(window, 20, axis=0))  # (20, H, 1)
            top[theta] = round(float(plans[:, 0, 0].mean()), 2)
        policy.reset(seed=0)
        print(json.dumps(measure(path, policy, top)), flush=True)


if __name__ == "__main__":
    main()
