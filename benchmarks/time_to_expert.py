"""Time to an expert-level policy, over training seeds: train in chunks, evaluate after each, report when the
mean return first reaches -170 and what the full run ends at.

    python benchmarks/time_to_expert.py                    # PRESETS["Pendulum-v1"], seed 42, 2 torch threads
    python benchmarks/time_to_expert.py --seeds 0 1 2 3 4 5 6 7 8 9 --chunk 4000
    python benchmarks/time_to_expert.py --threads 1 --chunk 1000 --max-steps 20000 --config '{"hidden_dim": 128}'

Wall time counts everything from Trainer(...) on (data collection included) except the evaluations,
which are timed separately. One JSON line per chunk, one per seed, then a summary over the seeds: the
final returns (min, median, max, how many reached the target) and the median wall time of the whole run.
"""

import argparse
import json
import statistics
import time

import torch

from dpedu import Trainer
from dpedu.config import PRESETS
from dpedu.evaluate import evaluate_policy

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--chunk", type=int, default=2000, help="environment steps between evaluations")
parser.add_argument("--max-steps", type=int, default=PRESETS["Pendulum-v1"]["total_timesteps"])
parser.add_argument("--episodes", type=int, default=100)
parser.add_argument("--target", type=float, default=-170.0)
parser.add_argument("--config", type=json.loads, default=PRESETS["Pendulum-v1"]["config"],
                    help="JSON dict of config overrides")
parser.add_argument("--seeds", type=int, nargs="+", default=[42])
args = parser.parse_args()
torch.set_num_threads(args.threads)


def run(seed: int) -> dict:
    start = time.perf_counter()
    trainer = Trainer("diffusion", env="Pendulum-v1", seed=seed, config=args.config, progress=False)
    train_wall, reached, final = time.perf_counter() - start, None, None
    while trainer.env_steps < args.max_steps:
        t0 = time.perf_counter()
        n = min(args.chunk, args.max_steps - trainer.env_steps)
        # A chunk that ends before warmup_steps could not update: train() refuses it, collect() gathers it.
        m = (trainer.train if trainer.env_steps + n >= trainer.config.warmup_steps else trainer.collect)(n)
        train_wall += time.perf_counter() - t0
        if m["n_updates"] == 0:
            continue
        r = evaluate_policy(trainer.policy, n_episodes=args.episodes, seed=0, baselines=False)
        final = {"env_steps": trainer.env_steps, "n_updates": m["n_updates"], "train_wall_s": round(train_wall, 1),
                 "mean_return": round(r["mean_return"], 1), "se_return": round(r["se_return"], 1),
                 "loss": round(m["loss"], 4)}
        print(json.dumps({"seed": seed, **final}), flush=True)
        if reached is None and r["mean_return"] >= args.target:
            reached = {k: final[k] for k in ("env_steps", "n_updates", "train_wall_s", "mean_return")}
    result = {"benchmark": "time_to_expert", "seed": seed, "reached": reached, "final": final}
    print(json.dumps(result), flush=True)
    return result


results = [run(seed) for seed in args.seeds]
finals = [r["final"]["mean_return"] for r in results]
median_final = round(statistics.median(finals), 1)
print(json.dumps({"benchmark": "time_to_expert", "config": args.config, "max_steps": args.max_steps,
                  "threads": args.threads, "target": args.target, "seeds": args.seeds,
                  "final_return": {"min": min(finals), "median": median_final, "max": max(finals)},
                  "seeds_at_target": sum(f >= args.target for f in finals),
                  "median_train_wall_s": round(statistics.median(r["final"]["train_wall_s"] for r in results), 1),
                  "median_s_to_target": (round(statistics.median(r["reached"]["train_wall_s"] for r in results), 1)
                                         if all(r["reached"] for r in results) else None)}))
