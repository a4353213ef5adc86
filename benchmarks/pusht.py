"""Push-T from a fixed dataset (the paper's setting): Diffusion Policy and the baselines (--methods), trained
offline on the course's planner demonstrations, >= 3 training seeds, evaluated on Chi et al.'s test starts.

    python benchmarks/pusht.py --seeds 0 1 2 --workers 2 --out dpedu/course/pusht_seeds.jsonl \
        --checkpoint dpedu/course/checkpoints/pusht.pt

Every (method, seed) is one job in its own process with one torch thread (--workers at a time); a job trains with
PRESETS["dpedu/PushT-v0"] on the dataset (default: the one shipped in the package), evaluates on --episodes test
starts (env seeds 100000, 100001, ...: Chi et al.'s, never in the demonstrations, which start from seeds 0..) and
appends one JSON line to --out as soon as it finishes (a job already in --out is skipped: an interrupted run goes on
where it stopped). Per line: the score of each episode (Chi et al.'s Push-T metric: the episode's maximum of
min(coverage / 0.95, 1)), success (coverage > 0.95 at some step), the training wall time and updates/s on one thread,
and the plan latency at batch 1. --checkpoint saves the seed-0 diffusion policy (notebook 08's shipped policy).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

ENV = "dpedu/PushT-v0"


def job(method: str, seed: int, dataset: str, n_updates: int | None, episodes: int, change: dict,
        checkpoint: str | None, name: str) -> dict:
    """Train one (method, seed) offline and evaluate it; runs in a worker process with one torch thread."""
    import gymnasium as gym
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from dpedu import Trainer
    from dpedu.baselines import RegressionPolicy, train_regression
    from dpedu.config import DIFFUSION_KEYS, PRESETS
    from dpedu.envs.pusht import TEST_START_SEED, episode_score
    from dpedu.evaluate import rollouts

    preset = PRESETS[ENV]
    n_updates = n_updates or preset["n_updates"]
    config = {**preset["config"], **change}
    start = time.perf_counter()
    if method in ("gmm", "ibc", "bet"):  # Trainer(method): the preset's windows, width, depth and updates, no diffusion
        config = {k: v for k, v in config.items() if k not in DIFFUSION_KEYS}
        trainer = Trainer(method, env=ENV, dataset=dataset, seed=seed, config=config, progress=False)
    else:
        trainer = Trainer("diffusion", env=ENV, dataset=dataset, seed=seed, config=config, progress=False)
    if method != "regression":
        metrics = trainer.train(n_updates=n_updates)
        policy = trainer.policy
        loss = metrics["loss"]
    else:  # regression as in the shipped record: the same buffer, normalisers, windows, receding horizon and updates
        trainer.fit_normalizers()
        model, losses = train_regression(trainer.buffer, trainer.obs_normalizer, trainer.act_normalizer,
                                         trainer.config, n_updates=n_updates, seed=seed)
        policy = RegressionPolicy(model, trainer.obs_normalizer, trainer.act_normalizer, trainer.config.obs_horizon,
                                  n_action_steps=trainer.config.n_action_steps)
        loss = float(np.mean(losses[-100:]))
    train_s = time.perf_counter() - start
    if method == "diffusion" and checkpoint:
        policy.save(checkpoint)
    start = time.perf_counter()
    episodes_ = rollouts(policy, ENV, n_episodes=episodes, seed=TEST_START_SEED)
    eval_s = time.perf_counter() - start
    scores = [episode_score(r) for r in episodes_["rewards"]]
    # Plan latency at batch 1: one plan from a real observation (a window of the test start's first), median of 20.
    env = gym.make(ENV, **({"obs_type": config["obs_type"]} if config.get("obs_type") else {}))
    first = env.reset(seed=TEST_START_SEED)[0]
    times = []
    for _ in range(21):
        policy.reset()  # the next act() plans
        t = time.perf_counter()
        policy.act(first)
        times.append(time.perf_counter() - t)
    return {"method": method, "seed": seed, "variant": name, "change": change, "config": config,
            "n_updates": n_updates, "loss": round(loss, 5),
            "score": float(np.mean(scores)), "success_rate": float(np.mean(episodes_["successes"])),
            "scores": [round(s, 4) for s in scores], "successes": [bool(s) for s in episodes_["successes"]],
            "lengths": episodes_["lengths"].tolist(), "train_s": round(train_s, 1),
            "updates_per_s": round(n_updates / train_s, 2), "eval_s": round(eval_s, 1),
            "plan_ms_batch1": round(1000 * float(np.median(times[1:])), 2), "threads": 1,
            "dataset": os.path.basename(dataset), "episodes": episodes, "test_start_seed": TEST_START_SEED}


def key(row: dict) -> str:
    return json.dumps([row["method"], row["seed"], row["variant"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["diffusion", "regression"],
                        choices=["diffusion", "regression", "gmm", "ibc", "bet"],
                        help="gmm, ibc and bet: Trainer(method) with the preset's windows, width, depth and updates")
    parser.add_argument("--dataset", default=None, help="a dataset in dpedu's layout (default: the shipped one)")
    parser.add_argument("--updates", type=int, default=None, help="gradient updates (default: the preset's)")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config change for every job (recorded in each line's 'change')")
    parser.add_argument("--name", default="preset", help="the variant's name in the record (default: preset)")
    parser.add_argument("--out", required=True, help="the JSON-lines record (appended; finished jobs are skipped)")
    parser.add_argument("--checkpoint", default=None, help="save the seed-0 diffusion policy here")
    args = parser.parse_args()
    from dpedu.cli import parse_set
    from dpedu.datasets import PUSHT_DATASET

    change = parse_set(args.set, parser)
    dataset = args.dataset or str(PUSHT_DATASET)
    out = Path(args.out)
    done = {key(json.loads(line)) for line in out.read_text().splitlines() if line.strip()} if out.exists() else set()
    todo = [(m, s) for s in args.seeds for m in args.methods
            if key({"method": m, "seed": s, "variant": args.name}) not in done]
    print(json.dumps({"todo": todo, "skipped": len(args.seeds) * len(args.methods) - len(todo)}), flush=True)
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(job, m, s, dataset, args.updates, args.episodes, change,
                               args.checkpoint if (m == "diffusion" and s == 0) else None, args.name): (m, s)
                   for m, s in todo}
        for future in as_completed(futures):
            row = future.result()
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps({k: row[k] for k in ("method", "seed", "variant", "score", "success_rate", "train_s",
                                                   "updates_per_s", "plan_ms_batch1")}), flush=True)


if __name__ == "__main__":
    main()
