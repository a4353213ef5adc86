"""epsilon- against x0-prediction (config key prediction_type) on dpedu/Detour-v0, paired over training seeds.

    python benchmarks/prediction.py --seeds 0 1 2 --episodes 200 --out dpedu/course/prediction_seeds.jsonl

Trains PRESETS["dpedu/Detour-v0"] once per (seed, prediction_type) with the same seeds for both types (the same
demonstrations, batches and noise draws: a paired comparison), in one process each with one torch thread, two
processes at a time; evaluates each policy on the same 200 fresh episodes with 8 and with 1 executed action per
plan. Writes a header row (the command, the preset, the settings) and one row per seed x prediction_type x
n_action_steps to --out, and prints the rows, then the paired differences (sample - epsilon) over seeds with
95% t-intervals (dpedu.stats.t_interval) as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

ENV = "dpedu/Detour-v0"
PREDICTION_TYPES = ("epsilon", "sample")
N_ACTION_STEPS = (8, 1)
KEYS = ("success_rate", "side_up", "side_down", "switches_per_episode", "switched_share")


def run(seed: int, prediction_type: str, episodes: int) -> list[dict]:
    """Train one policy and evaluate it at each n_action_steps (runs in its own process)."""
    import torch

    torch.set_num_threads(1)
    from dpedu import Trainer
    from dpedu.config import PRESETS
    from dpedu.evaluate import evaluate_policy

    preset = PRESETS[ENV]
    start = time.perf_counter()
    trainer = Trainer("diffusion", env=ENV, seed=seed, config={**preset["config"], "prediction_type": prediction_type},
                      progress=False)
    metrics = trainer.train(preset["total_timesteps"])
    train_s = time.perf_counter() - start
    policy, rows = trainer.policy, []
    for n in N_ACTION_STEPS:
        policy.configure(n_action_steps=n, seed=0)
        start = time.perf_counter()
        result = evaluate_policy(policy, ENV, n_episodes=episodes, seed=100_000, baselines=False)
        rows.append({"seed": seed, "prediction_type": prediction_type, "n_action_steps": n,
                     "train_s": round(train_s, 1), "eval_s": round(time.perf_counter() - start, 1),
                     "updates": metrics["n_updates"], "episodes": episodes,
                     **{k: result[k] for k in KEYS},
                     "both_sides": bool(min(result["side_up"], result["side_down"]) > 0)})
    return rows


def paired(rows: list[dict]) -> list[dict]:
    """sample - epsilon per seed, then the mean and its 95% t-interval over seeds, per n_action_steps."""
    from dpedu.stats import t_interval

    by = {(r["seed"], r["prediction_type"], r["n_action_steps"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    out = []
    for n in N_ACTION_STEPS:
        summary = {"paired_difference": "sample - epsilon", "n_action_steps": n, "seeds": seeds}
        for key in ("success_rate", "min_side_share", "switches_per_episode"):
            def value(r, key=key):
                return min(r["side_up"], r["side_down"]) if key == "min_side_share" else r[key]

            diffs = [value(by[s, "sample", n]) - value(by[s, "epsilon", n]) for s in seeds]
            for p in PREDICTION_TYPES:
                summary[f"{key}_{p}"] = [round(value(by[s, p, n]), 3) for s in seeds]
            summary[f"{key}_diff"] = [round(d, 3) for d in diffs]
            summary[f"{key}_diff_mean"] = round(float(np.mean(diffs)), 4)
            summary[f"{key}_diff_ci"] = ([round(x, 4) for x in t_interval(diffs)] if len(diffs) > 1 else None)
        out.append(summary)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=200, help="fresh evaluation episodes per policy")
    parser.add_argument("--processes", type=int, default=2, help="trainings at a time (one torch thread each)")
    parser.add_argument("--out", default=None, help="write the header and the rows here (JSON lines)")
    args = parser.parse_args()
    from dpedu.config import PRESETS

    start = time.perf_counter()
    jobs = [(seed, p) for seed in args.seeds for p in PREDICTION_TYPES]
    # A fresh process per training (max_tasks_per_child=1): no state carries over between seeds.
    with ProcessPoolExecutor(args.processes, mp_context=multiprocessing.get_context("spawn"),
                             max_tasks_per_child=1) as pool:
        futures = [pool.submit(run, seed, p, args.episodes) for seed, p in jobs]
        rows = []
        for future in futures:
            for row in future.result():
                print(json.dumps(row), flush=True)
                rows.append(row)
    header = {"header": True, "command": "python " + " ".join(sys.argv), "env": ENV, "preset": PRESETS[ENV],
              "prediction_types": list(PREDICTION_TYPES), "seeds": args.seeds, "episodes": args.episodes,
              "eval_seed": 100_000, "n_action_steps": list(N_ACTION_STEPS), "threads_per_process": 1,
              "processes": args.processes, "wall_s": round(time.perf_counter() - start, 1)}
    if args.out:
        with open(args.out, "w") as f:
            for row in [header, *rows]:
                f.write(json.dumps(row) + "\n")
    for row in paired(rows):
        print(json.dumps(row), flush=True)
    print(json.dumps(header), flush=True)


if __name__ == "__main__":
    main()
