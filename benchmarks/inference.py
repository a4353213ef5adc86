"""Notebook 06's inference sweeps over training seeds: sampler x steps, DDIM's eta, n_action_steps, swings from rest.

    python benchmarks/inference.py --seeds 42 0 1 2 3 4 5 6 7 8 > dpedu/course/inference_seeds.jsonl

Per seed: the "Pendulum in a minute" preset (dpedu.config.PRESETS, 10 000 steps, one torch thread, as notebook 04
trains it), then exactly notebook 06's measurements on that policy: DDPM and DDIM (eta = 0) at 1, 2, 5, 10, 20, 50
steps (50 episodes, reset seeds 0-49), DDIM with 10 steps at eta 0, 0.5, 1 (50 episodes), DDPM with 10 steps
executing 1, 2, 4, 8 actions per plan (100 episodes), and the swing directions of 10 episodes from rest for three
settings. One JSON line per (seed, measurement). Notebook 06 plots the seeds' means with a 95% t-interval over
seeds (dpedu.stats.t_interval) beside its live seed-42 numbers. About a minute per seed on one core; run seeds
as parallel processes and concatenate their lines (in the order of --seeds) if you have the cores.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from dpedu import Trainer
from dpedu.config import PRESETS
from dpedu.course import pendulum
from dpedu.evaluate import evaluate_policy

STEP_COUNTS = (1, 2, 5, 10, 20, 50)
ETAS = (0.0, 0.5, 1.0)
N_ACTION_STEPS = (1, 2, 4, 8)
REST_SETTINGS = (("ddim", 1), ("ddim", 10), ("ddpm", 10))


def measure(policy, n_episodes: int, **settings) -> dict:
    policy.configure(**{"sampler": "ddpm", "n_inference_steps": 10, "ddim_eta": 0.0, "n_action_steps": 1,
                        "seed": 0, **settings})
    result = evaluate_policy(policy, "Pendulum-v1", n_episodes=n_episodes, seed=0)
    return {**settings, "episodes": n_episodes,
            **{k: result[k] for k in ("mean_return", "se_return", "normalized_score", "mean_action_change")}}


def run(seed: int) -> list[dict]:
    start = time.perf_counter()
    preset = PRESETS["Pendulum-v1"]
    trainer = Trainer("diffusion", env="Pendulum-v1", seed=seed, config=preset["config"], progress=False)
    metrics = trainer.train(preset["total_timesteps"])
    policy, head = trainer.policy, {"seed": seed, "train_s": round(time.perf_counter() - start, 1)}
    rows = [{**head, "measure": "train", "loss": metrics["loss"]}]
    for sampler in ("ddpm", "ddim"):
        for steps in STEP_COUNTS:
            rows.append({**head, "measure": "steps", **measure(policy, 50, sampler=sampler, n_inference_steps=steps)})
    for eta in ETAS:
        rows.append({**head, "measure": "eta", **measure(policy, 50, sampler="ddim", ddim_eta=eta)})
    for n in N_ACTION_STEPS:
        rows.append({**head, "measure": "n_action_steps", **measure(policy, 100, n_action_steps=n)})
    for sampler, steps in REST_SETTINGS:
        policy.configure(sampler=sampler, n_inference_steps=steps, ddim_eta=0.0, n_action_steps=1, seed=0)
        directions = [r.direction for r in pendulum.record_rollouts(policy, n_episodes=10, init_state=(np.pi, 0.0))]
        rows.append({**head, "measure": "rest", "sampler": sampler, "n_inference_steps": steps,
                     "counter_clockwise": directions.count(1), "clockwise": directions.count(-1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 0, 1, 2, 3, 4, 5, 6, 7, 8])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for seed in args.seeds:
        for row in run(seed):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
