"""Time to an expert-level policy: train in chunks, evaluate after each, report when mean return >= -170.

    python benchmarks/time_to_expert.py                       # FAST_PENDULUM, 2 torch threads
    python benchmarks/time_to_expert.py --threads 1 --chunk 1000 --max-steps 20000

Wall time counts everything from Trainer(...) on (data collection included) except the evaluations,
which are timed separately. One JSON line per chunk, then a summary line.
"""

import argparse
import json
import time

import torch

from dpedu import Trainer
from dpedu.config import FAST_PENDULUM, FAST_PENDULUM_TIMESTEPS
from dpedu.evaluate import evaluate_policy

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--chunk", type=int, default=2000, help="environment steps between evaluations")
parser.add_argument("--max-steps", type=int, default=FAST_PENDULUM_TIMESTEPS)
parser.add_argument("--episodes", type=int, default=100)
parser.add_argument("--target", type=float, default=-170.0)
parser.add_argument("--config", type=json.loads, default=FAST_PENDULUM, help="JSON dict of config overrides")
parser.add_argument("--seed", type=int, default=42)
args = parser.parse_args()
torch.set_num_threads(args.threads)

start = time.perf_counter()
trainer = Trainer("diffusion", env="Pendulum-v1", seed=args.seed, config=args.config, progress=False)
train_wall, reached = time.perf_counter() - start, None
while trainer.env_steps < args.max_steps:
    t0 = time.perf_counter()
    m = trainer.train(min(args.chunk, args.max_steps - trainer.env_steps))
    train_wall += time.perf_counter() - t0
    if m["n_updates"] == 0:
        continue
    r = evaluate_policy(trainer.policy, n_episodes=args.episodes, seed=0, baselines=False)
    print(json.dumps({"env_steps": trainer.env_steps, "n_updates": m["n_updates"], "train_wall_s": round(train_wall, 1),
                      "mean_return": round(r["mean_return"], 1), "loss": round(m["loss"], 4)}), flush=True)
    if reached is None and r["mean_return"] >= args.target:
        reached = {"env_steps": trainer.env_steps, "n_updates": m["n_updates"], "train_wall_s": round(train_wall, 1),
                   "mean_return": round(r["mean_return"], 1)}
print(json.dumps({"benchmark": "time_to_expert", "config": args.config, "seed": args.seed, "threads": args.threads,
                  "target": args.target, "reached": reached}))
