"""Idle actions (notebook 11; Chi et al.'s robustness to idle actions): demonstrations with pauses, for Diffusion
Policy (the MLP preset and the U-Net) and the single-step baselines, over training seeds.

    python benchmarks/idle.py --seeds 0 1 2 --workers 2 --out dpedu/course/idle_seeds.jsonl

(about 25 minutes on 2 cores, one torch thread per job; the U-Net's three jobs take most of it). Every (method,
pauses, seed) is one job in its own process: the Detour preset (PRESETS["dpedu/Detour-v0"]: 10 000 steps of DART
demonstrations, 6 000 updates) for that method, its demonstrator wrapped in dpedu.envs.pauses.Pausing with rate
RATE (a pause starts at a step with probability 0.05 and lasts 3-10 steps, the point held still) or 0 (no pauses:
the plain demonstrator, step for step), then --episodes test episodes from env seed 100 000 executing 8 and 1
actions per plan. One JSON line per (method, pauses, seed, n_action_steps): success, episodes that ran out of time
(stalled), the share of steps the point stood still (moved < 0.1 SPEED), the mean length of the successful episodes,
and the share of idle labels in the training data. The U-Net without pauses is the design-choices record's network
(benchmarks/design_choices.py: the same preset, seeds and test episodes) and is not re-trained here unless
--unet-without-pauses is given. The mixture runs at robomimic's learning rate 1e-4 (as benchmarks/control.py).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from jobs import plan_ms, recorded, run_jobs

ENV, TEST_SEED, RATE = "dpedu/Detour-v0", 100_000, 0.05
METHODS = {"diffusion": ("diffusion", {}), "diffusion_unet": ("diffusion", {"network": "unet"}),
           "regression": ("regression", {}), "gmm": ("gmm", {"learning_rate": 1e-4})}
N_ACTION_STEPS = (8, 1)


def job(method: str, rate: float, seed: int, episodes: int) -> list[dict]:
    import numpy as np
    import torch

    from dpedu import Trainer
    from dpedu.config import PRESETS
    from dpedu.envs import detour, make_demonstrator
    from dpedu.envs.pauses import Pausing, idle_share
    from dpedu.evaluate import rollouts
    from dpedu.stats import wilson_interval

    torch.set_num_threads(1)
    preset = PRESETS[ENV]
    algorithm, change = METHODS[method]
    start = time.perf_counter()
    demonstrator = Pausing(make_demonstrator(ENV, seed), rate=rate, seed=seed)  # the trainer's own data seed
    trainer = Trainer(algorithm, env=ENV, seed=seed, config={**preset["config"], **change}, progress=False,
                      demonstrator=demonstrator)
    metrics = trainer.train(preset["total_timesteps"])
    train_s = time.perf_counter() - start
    labels = trainer.buffer.act[: len(trainer.buffer)].numpy()
    still = 0.1 * detour.SPEED
    common = {"method": method, "rate": rate, "durations": list(demonstrator.durations), "env_id": ENV, "seed": seed,
              "loss": round(metrics["loss"], 5), "n_updates": metrics["n_updates"], "train_s": round(train_s, 1),
              "plan_ms": plan_ms(trainer), "data_episodes": metrics["episodes"],
              "data_idle_share": round(float(np.mean(np.all(labels == 0, axis=1))), 4),
              "episodes": episodes, "test_seed": TEST_SEED, "threads": 1}
    rows = []
    for n_action_steps in N_ACTION_STEPS:
        trainer.policy.configure(n_action_steps=n_action_steps, seed=0)
        r = rollouts(trainer.policy, ENV, n_episodes=episodes, seed=TEST_SEED)
        successes, lengths = r["successes"], r["lengths"]
        stalled = (~successes) & (lengths == detour.MAX_EPISODE_STEPS)  # neither at the goal nor on the disk
        measures = detour.episode_measures(r["observations"])
        rows.append({**common, "n_action_steps": n_action_steps, "success_rate": float(successes.mean()),
                     "success_ci": wilson_interval(int(successes.sum()), episodes),
                     "stalled_share": float(stalled.mean()),
                     "idle_share": round(idle_share(r["observations"], still), 4),
                     "success_length": float(lengths[successes].mean()) if successes.any() else None,
                     **{k: measures[k] for k in ("side_up", "side_down", "switched_share")}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--unet-without-pauses", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/idle.jsonl")
    args = parser.parse_args()
    out = Path(args.out)
    done = recorded(out, ("method", "rate", "seed"))
    jobs = [(m, rate, s, args.episodes) for m in args.methods for rate in (RATE, 0.0) for s in args.seeds
            if (m, rate, s) not in done and (m != "diffusion_unet" or rate > 0 or args.unet_without_pauses)]
    jobs.sort(key=lambda j: j[0] != "diffusion_unet")  # the longest first, so the short ones fill in beside them
    run_jobs(job, jobs, out, args.workers, ("method", "rate", "seed", "n_action_steps", "success_rate",
                                            "stalled_share", "idle_share", "success_length"))


if __name__ == "__main__":
    main()
