"""Why diffusion (notebook 10): Diffusion Policy against the baselines Chi et al. beat (a Gaussian mixture, IBC, BET)
and MSE regression, on the 2-D toy (open loop) and dpedu/Detour-v0 (closed loop), over training seeds.

    python benchmarks/baselines.py --seeds 0 1 2 --workers 2 --out dpedu/course/baselines_seeds.jsonl

(about 40 minutes on 2 cores, one torch thread per job; IBC takes most of it: its InfoNCE loss scores 1 + 64
chunks per demonstrated one), and on Detour IBC as Chi et al. ran it (one action per plan) and the mixture at
robomimic's learning rate:

    python benchmarks/baselines.py --tasks detour --methods ibc_single gmm_slow --seeds 0 1 2 \
        --out dpedu/course/baselines_seeds.jsonl

Push-T's row is benchmarks/pusht.py --methods diffusion regression gmm ibc bet.

Every (task, method, seed) is one job in its own process (--workers at a time) that appends one JSON line to --out as
soon as it finishes (a job already there is skipped: an interrupted run goes on where it stopped).

  toy     dpedu.course.toy: 1 000 demonstrated paths (data seed 0), 1 000 updates of each method's loss on the same
          batches (train_method: the same residual MLP trunk, width 64, 3 blocks), then one path for each of 500 test
          starts (data seed 1000): the share going left / right and hitting the obstacle (mode_stats); both_sides
          is the smaller of the shares that go round the disk on the left and on the right, over 0.5.
  detour  Trainer(method, env="dpedu/Detour-v0", config=PRESETS[...]) .train(preset's total_timesteps): the same
          demonstrations (DART noise, collected before the first update), windows, normalisers, updates and EMA for
          every method; then --episodes test episodes from env seed 100 000 with the preset's 8 actions per plan:
          success, the sides taken, side switches; and success on 50 of them after a third and two thirds of the
          updates (train() goes on where it stopped, so the run is the same).
Per line also: parameters, training wall time on one thread, plan latency at batch 1 (median of 20 plans).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from jobs import median_ms, plan_ms, recorded, run_jobs

METHODS = ("diffusion", "regression", "gmm", "ibc", "bet")
# Detour only: a method with config changes. "ibc_single" is IBC as Chi et al. ran it (their IBC configuration: one
# action per plan, horizon 2 with 2 observation steps, n_action_steps 1; 1 024 samples and 3 iterations to act).
# "gmm_slow" is the mixture at robomimic's learning rate, 1e-4 (the preset's is 1e-3): at 1e-3 its success fell while
# its likelihood kept rising.
VARIANTS = {"ibc_single": ("ibc", {"action_horizon": 1, "n_action_steps": 1}),
            "gmm_slow": ("gmm", {"learning_rate": 1e-4})}
DETOUR = "dpedu/Detour-v0"
DETOUR_TEST_SEED = 100_000
TOY_UPDATES = 1_000


def toy_job(method: str, seed: int) -> dict:
    import torch

    from dpedu.course import toy

    data, test = toy.make_dataset(1000, seed=0), toy.make_dataset(500, seed=1000)
    start = time.perf_counter()
    model, losses = toy.train_method(method, data, seed=seed, n_updates=TOY_UPDATES)
    train_s = time.perf_counter() - start
    paths = toy.sample_method(method, model, test.obs, seed=seed)
    stats = toy.mode_stats(test.obs, paths)
    clear = ~toy.hits_obstacle(test.obs, paths)  # a side counts only for a path that goes round the disk
    left_clear = (clear & (toy.side_of(paths) == toy.LEFT)).float().mean().item()
    right_clear = (clear & (toy.side_of(paths) == toy.RIGHT)).float().mean().item()
    with torch.no_grad():
        plan = median_ms(lambda: toy.sample_method(method, model, test.obs[:1], seed=seed))
    return {"left": stats["left"], "right": stats["right"], "hit": stats["hit"], "left_clear": left_clear,
            "right_clear": right_clear, "both_sides": min(left_clear, right_clear) / 0.5, "clear": 1 - stats["hit"],
            "loss_first": round(float(sum(losses[:50]) / 50), 5), "loss": round(float(sum(losses[-50:]) / 50), 5),
            "n_updates": TOY_UPDATES, "train_s": round(train_s, 2), "plan_ms": plan,
            "params": sum(p.numel() for p in model.parameters()), "test_starts": len(test.obs)}


def detour_job(method: str, seed: int, episodes: int) -> dict:
    from dpedu import Trainer
    from dpedu.config import PRESETS

    preset = PRESETS[DETOUR]
    total, warmup = preset["total_timesteps"], preset["config"]["warmup_steps"]
    algorithm, change = VARIANTS.get(method, (method, {}))
    trainer = Trainer(algorithm, env=DETOUR, seed=seed, config={**preset["config"], **change}, progress=False)
    # Success over training: train() goes on where it stopped, so three calls make the preset's one run, with an
    # evaluation (50 episodes) after the first and second thirds of the updates.
    stops = [warmup + (total - warmup) // 3, warmup + 2 * (total - warmup) // 3, total]
    train_s, during, done = 0.0, [], 0
    for stop in stops:
        start = time.perf_counter()
        metrics = trainer.train(stop - done)
        train_s += time.perf_counter() - start
        done = stop
        if stop < total:
            partial = trainer.evaluate(n_episodes=50, seed=DETOUR_TEST_SEED)
            during.append([metrics["n_updates"], partial["success_rate"]])
    history = metrics["loss_history"]
    result = trainer.evaluate(n_episodes=episodes, seed=DETOUR_TEST_SEED)
    during.append([metrics["n_updates"], result["success_rate"]])
    return {"success_rate": result["success_rate"], "side_up": result["side_up"], "side_down": result["side_down"],
            "both_sides": min(result["side_up"], result["side_down"]) / 0.5,
            "switched_share": result["switched_share"], "switches_per_episode": result["switches_per_episode"],
            "loss_history": [[n, round(v, 5)] for n, v in history], "success_during_training": during,
            "loss": round(metrics["loss"], 5),
            "n_updates": metrics["n_updates"], "train_s": round(train_s, 1),
            "updates_per_s": metrics["updates_per_s"], "plan_ms": plan_ms(trainer),
            "params": sum(p.numel() for p in trainer.model.parameters()), "episodes": episodes,
            "test_seed": DETOUR_TEST_SEED}


def job(task: str, method: str, seed: int, episodes: int) -> dict:
    import torch

    torch.set_num_threads(1)
    row = toy_job(method, seed) if task == "toy" else detour_job(method, seed, episodes)
    return {"task": task, "method": method, "seed": seed, **row, "threads": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["toy", "detour"], choices=["toy", "detour"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS + tuple(VARIANTS),
                        help=f"default: {' '.join(METHODS)}; Detour only: {' '.join(VARIANTS)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/baselines.jsonl")
    args = parser.parse_args()
    out = Path(args.out)
    done = recorded(out, ("task", "method", "seed"))
    # The slow jobs (IBC, then Detour) first, so the two workers finish together.
    jobs = sorted(((t, m, s, args.episodes) for t in args.tasks for m in args.methods for s in args.seeds
                   if (t, m, s) not in done and (t == "detour" or m not in VARIANTS)),
                  key=lambda j: (not j[1].startswith("ibc"), j[0] != "detour"))
    run_jobs(job, jobs, out, args.workers,
             ("task", "method", "seed", "success_rate", "hit", "both_sides", "train_s", "plan_ms"))

if __name__ == "__main__":
    main()
