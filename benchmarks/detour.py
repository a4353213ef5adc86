"""dpedu/Detour-v0 over training seeds: diffusion (the preset, and 1/2/4 actions executed per plan), obs_horizon 1,
and the MSE regression baseline on the same data with the same receding horizon (docs/results.md).

    python benchmarks/detour.py --seeds 0 1 2 3 4 --episodes 200 --obs-horizon-1 > dpedu/course/detour_seeds.jsonl

One JSON line per (seed, policy, n_action_steps), then one "pooled" line per variant: all seeds' episodes together,
success and the share of episodes with a side switch with 95% Wilson intervals, the sides, switches per episode,
and the training wall time (2 torch threads unless --threads).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

import numpy as np
import torch

from dpedu import Trainer
from dpedu.baselines import RegressionPolicy, train_regression
from dpedu.config import PRESETS
from dpedu.evaluate import evaluate_policy
from dpedu.stats import wilson_interval

ENV = "dpedu/Detour-v0"
KEYS = ("success_rate", "success_ci", "side_up", "side_down", "switches_per_episode", "switched_share")


def run(seed: int, episodes: int, obs_horizon_1: bool) -> list[dict]:
    preset, rows = PRESETS[ENV], []
    variants = [("diffusion", {})] + ([("diffusion, obs_horizon 1", {"obs_horizon": 1})] if obs_horizon_1 else [])
    for name, change in variants:
        start = time.perf_counter()
        trainer = Trainer("diffusion", env=ENV, seed=seed, config={**preset["config"], **change}, progress=False)
        metrics = trainer.train(preset["total_timesteps"])
        train_s = time.perf_counter() - start
        policy = trainer.policy
        for n in ((8, 4, 2, 1) if not change else (8, 1)):
            policy.configure(n_action_steps=n, seed=0)
            result = evaluate_policy(policy, ENV, n_episodes=episodes, seed=100_000, baselines=False)
            rows.append({"seed": seed, "policy": name, "n_action_steps": n, "train_s": round(train_s, 1),
                         "updates": metrics["n_updates"], **{k: result[k] for k in KEYS}})
        if change:
            continue
        start = time.perf_counter()  # the baseline: same buffer, normalisers, network size, windows, updates
        model, _ = train_regression(trainer.buffer, trainer.obs_normalizer, trainer.act_normalizer, trainer.config,
                                    n_updates=metrics["n_updates"], seed=seed)
        train_s = time.perf_counter() - start
        for n in (8, 1):
            regression = RegressionPolicy(model, trainer.obs_normalizer, trainer.act_normalizer,
                                          trainer.config.obs_horizon, n_action_steps=n)
            result = evaluate_policy(regression, ENV, n_episodes=episodes, seed=100_000, baselines=False)
            rows.append({"seed": seed, "policy": "regression", "n_action_steps": n, "train_s": round(train_s, 1),
                         "updates": metrics["n_updates"], **{k: result[k] for k in KEYS}})
    return rows


def pooled(rows: list[dict], episodes: int) -> list[dict]:
    groups = defaultdict(list)
    for r in rows:
        groups[r["policy"], r["n_action_steps"]].append(r)
    out = []
    for (name, n), rs in groups.items():
        total = episodes * len(rs)
        wins = round(sum(r["success_rate"] for r in rs) * episodes)
        switched = round(sum(r["switched_share"] for r in rs) * episodes)
        out.append({"pooled": True, "policy": name, "n_action_steps": n, "seeds": [r["seed"] for r in rs],
                    "episodes": total, "success_rate": wins / total, "success_ci": wilson_interval(wins, total),
                    "success_per_seed": [round(r["success_rate"], 3) for r in rs],
                    "side_up": float(np.mean([r["side_up"] for r in rs])),
                    "side_down": float(np.mean([r["side_down"] for r in rs])),
                    "min_side_share": float(min(min(r["side_up"], r["side_down"]) for r in rs)),
                    "switches_per_episode": float(np.mean([r["switches_per_episode"] for r in rs])),
                    "switched_share": switched / total, "switched_ci": wilson_interval(switched, total),
                    "train_s_median": float(np.median([r["train_s"] for r in rs]))})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--episodes", type=int, default=200, help="fresh evaluation episodes per policy and seed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--obs-horizon-1", action="store_true", help="also train with obs_horizon 1")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for seed in args.seeds:
        for row in run(seed, args.episodes, args.obs_horizon_1):
            print(json.dumps(row), flush=True)
            rows.append(row)
    for row in pooled(rows, args.episodes):
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
