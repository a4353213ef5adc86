"""DDPM, DDIM, flow matching and a one-step reflow policy at 1-50 network evaluations per plan (notebook 12), on
notebook 02's 2-D toy, on dpedu/Detour-v0 and on Push-T state, over training seeds.

    python benchmarks/flow.py --tasks toy detour pusht --seeds 0 1 2 --workers 2 --out dpedu/course/flow_seeds.jsonl

Every (task, seed) is one job in its own process with one torch thread; its rows are appended to --out when it ends
(a job already there is skipped: an interrupted run goes on where it stopped). A job trains, from the same seed:

    ddpm    the task's DDPM policy (Detour: PRESETS["dpedu/Detour-v0"]; Push-T: PRESETS["dpedu/PushT-v0"], seed 0 the
            shipped checkpoints/pusht.pt; the toy: toy.train_diffusion), sampled by DDPM and by DDIM (eta 0)
    flow    the same network and data with flow matching (Trainer("flow"), the preset without DDPM's keys)
    reflow  the one-step student distilled from that flow (Trainer("reflow"), teacher at 10 Euler steps; the toy: 20),
            starting from its weights (Detour: the preset's steps again; Push-T: --reflow-updates updates)

and evaluates each at STEPS network evaluations per plan (K as well for DDPM) on the same test set: the toy's 500
held-out start points (left, right, through the obstacle), Detour's 100 test episodes from env seed 100 000
(success, sides), Push-T's 50 test starts (Chi et al.'s score). Per row: plan latency at batch 1 and 100 (median of
10 plans, one thread) and the training wall time (one thread; the reflow's is the distillation's alone).
Measured for the shipped record (this 2-core box, other work beside it): toy and Detour, 3 seeds on 2 workers, ~6 min;
Push-T on one worker ~16 min for seed 0 (its DDPM shipped), ~30 min for each of seeds 1 and 2 (DDPM trained too).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from jobs import median_ms, recorded, run_jobs

STEPS = (1, 2, 5, 10)  # network evaluations per plan, every method; DDPM also at K (and 50 where K = 100)
TEACHER_STEPS = {"toy": 20, "detour": 10, "pusht": 10}
TOY_TEST_STARTS = 500
DETOUR, PUSHT = "dpedu/Detour-v0", "dpedu/PushT-v0"
DETOUR_TEST_SEED = 100_000


def plan_latency(policy, window) -> dict:
    """Median ms of one plan for 1 and 100 observation windows (policy.predict_chunk, its current settings)."""
    import numpy as np

    batch = np.repeat(window[None], 100, axis=0)
    return {"plan_ms_b1": median_ms(lambda: policy.predict_chunk(batch[:1]), 10),
            "plan_ms_b100": median_ms(lambda: policy.predict_chunk(batch), 10)}


def sweep(method: str, policy, steps, evaluate, window, common: dict) -> list[dict]:
    """One row per step count: the policy configured to it (seed 0), evaluated, its plan timed."""
    rows = []
    for n in steps:
        policy.configure(n_inference_steps=n, seed=0, **({"sampler": method} if method in ("ddpm", "ddim") else {}))
        t = time.perf_counter()
        result = evaluate(policy)
        rows.append({**common, "method": method, "steps": n, **result, "eval_s": round(time.perf_counter() - t, 1),
                     **plan_latency(policy, window)})
    return rows


def toy_job(seed: int) -> list[dict]:
    import torch

    from dpedu.course import toy
    from dpedu.diffusion import DDIMSampler, DDPMSampler, NoiseSchedule

    torch.set_num_threads(1)
    data, test = toy.make_dataset(1000, seed=seed), toy.make_dataset(TOY_TEST_STARTS, seed=10_000).obs
    schedule = NoiseSchedule(50, "cosine")
    models, train_s = {}, {}
    for method in ("ddpm", "flow", "reflow"):
        t = time.perf_counter()
        if method == "ddpm":
            models[method], _ = toy.train_diffusion(data, schedule, seed=seed)
        elif method == "flow":
            models[method], _ = toy.train_flow(data, seed=seed)
        else:
            models[method], _ = toy.train_flow(data, seed=seed, n_updates=3000, teacher=models["flow"],
                                               teacher_steps=TEACHER_STEPS["toy"])
        train_s[method] = round(time.perf_counter() - t, 1)
    rows = []
    for method, steps in (("ddpm", (*STEPS, 50)), ("ddim", STEPS), ("flow", STEPS), ("reflow", STEPS)):
        for n in steps:
            if method in ("ddpm", "ddim"):
                sampler = (DDPMSampler if method == "ddpm" else DDIMSampler)(schedule, n)
                paths = toy.sample_diffusion(models["ddpm"], sampler, test)
            else:
                paths = toy.sample_flow(models[method], test, n)
            rows.append({"task": "toy", "seed": seed, "method": method, "steps": n,
                         "train_s": train_s["ddpm" if method == "ddim" else method],
                         **toy.mode_stats(test, paths), "test_starts": TOY_TEST_STARTS, "threads": 1})
    return rows


def detour_job(seed: int, episodes: int) -> list[dict]:
    import torch

    from dpedu import Trainer
    from dpedu.config import DDPM_KEYS, PRESETS
    from dpedu.evaluate import evaluate_policy

    torch.set_num_threads(1)
    preset = PRESETS[DETOUR]
    flow_config = {k: v for k, v in preset["config"].items() if k not in DDPM_KEYS}

    def evaluate(policy):
        r = evaluate_policy(policy, DETOUR, n_episodes=episodes, seed=DETOUR_TEST_SEED, baselines=False)
        return {k: r[k] for k in ("success_rate", "success_ci", "side_up", "side_down", "switched_share")}

    rows, policies = [], {}
    for method, config, teacher in (("ddpm", preset["config"], None), ("flow", flow_config, None),
                                    ("reflow", flow_config, "flow")):
        t = time.perf_counter()
        if teacher:
            policies[teacher].configure(n_inference_steps=TEACHER_STEPS["detour"])
        trainer = Trainer(method if method != "ddpm" else "diffusion", env=DETOUR, seed=seed, config=config,
                          progress=False, teacher=policies.get(teacher))
        metrics = trainer.train(preset["total_timesteps"])
        common = {"task": "detour", "seed": seed, "train_s": round(time.perf_counter() - t, 1),
                  "n_updates": metrics["n_updates"], "episodes": episodes, "test_seed": DETOUR_TEST_SEED, "threads": 1}
        policies[method] = trainer.policy
        window = trainer.env.reset(seed=0)[0][None].repeat(trainer.config.obs_horizon, 0)
        if method == "ddpm":
            K = trainer.config.n_diffusion_steps
            rows += sweep("ddpm", trainer.policy, (*STEPS, K), evaluate, window, common)
            rows += sweep("ddim", trainer.policy, STEPS, evaluate, window, common)
        else:
            rows += sweep(method, trainer.policy, STEPS, evaluate, window, common)
    return rows


def pusht_job(seed: int, episodes: int, reflow_updates: int) -> list[dict]:
    import gymnasium as gym
    import torch

    from dpedu import DiffusionPolicy, Trainer
    from dpedu.config import DDPM_KEYS, PRESETS
    from dpedu.course import CHECKPOINTS
    from dpedu.datasets import PUSHT_DATASET
    from dpedu.envs.pusht import TEST_START_SEED
    from dpedu.evaluate import evaluate_policy

    torch.set_num_threads(1)
    preset = PRESETS[PUSHT]
    flow_config = {**{k: v for k, v in preset["config"].items() if k not in DDPM_KEYS}, "n_inference_steps": 10}
    obs = gym.make(PUSHT).reset(seed=TEST_START_SEED)[0]
    window = obs[None].repeat(preset["config"]["obs_horizon"], 0)  # (To, obs_dim): a test start, padded as at reset

    def evaluate(policy):
        r = evaluate_policy(policy, PUSHT, n_episodes=episodes, seed=TEST_START_SEED, baselines=False)
        return {k: r[k] for k in ("score", "se_score", "success_rate")}

    rows, policies = [], {}
    common = {"task": "pusht", "seed": seed, "episodes": episodes, "test_start_seed": TEST_START_SEED, "threads": 1}
    for method in ("ddpm", "flow", "reflow"):
        t = time.perf_counter()
        if method == "ddpm" and seed == 0:  # the shipped policy: the preset, seed 0 (benchmarks/pusht.py)
            policy, n_updates, train_s = DiffusionPolicy.load(CHECKPOINTS / "pusht.pt", device="cpu"), \
                preset["n_updates"], None
        else:
            if method == "reflow":
                policies["flow"].configure(n_inference_steps=TEACHER_STEPS["pusht"])
            algorithm = {"ddpm": "diffusion"}.get(method, method)
            trainer = Trainer(algorithm, env=PUSHT, dataset=str(PUSHT_DATASET), seed=seed,
                              config=preset["config"] if method == "ddpm" else flow_config, progress=False,
                              teacher=policies["flow"] if method == "reflow" else None)
            n_updates = reflow_updates if method == "reflow" else preset["n_updates"]
            trainer.train(n_updates=n_updates)
            policy, train_s = trainer.policy, round(time.perf_counter() - t, 1)
        policies[method] = policy
        row = {**common, "train_s": train_s, "n_updates": n_updates,
               "policy": "shipped checkpoint" if train_s is None else "trained"}
        if method == "ddpm":
            rows += sweep("ddpm", policy, (*STEPS, 50, 100), evaluate, window, row)
            rows += sweep("ddim", policy, STEPS, evaluate, window, row)
        else:
            rows += sweep(method, policy, STEPS, evaluate, window, row)
    return rows


def job(task: str, seed: int, episodes: int, reflow_updates: int) -> list[dict]:
    if task == "toy":
        return toy_job(seed)
    if task == "detour":
        return detour_job(seed, episodes)
    return pusht_job(seed, episodes, reflow_updates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["toy", "detour", "pusht"], choices=["toy", "detour", "pusht"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=None, help="test episodes (default: Detour 100, Push-T 50)")
    parser.add_argument("--reflow-updates", type=int, default=10_000, help="Push-T's distillation updates")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/flow_seeds.jsonl")
    args = parser.parse_args()
    out = Path(args.out)
    done = recorded(out, ("task", "seed"))
    episodes = {"toy": 0, "detour": args.episodes or 100, "pusht": args.episodes or 50}
    # Push-T first (the longest jobs), so that the workers finish together.
    jobs = sorted(((t, s, episodes[t], args.reflow_updates) for t in args.tasks for s in args.seeds
                   if (t, s) not in done), key=lambda j: (j[0] != "pusht", j[1]))
    run_jobs(job, jobs, out, args.workers, ("task", "seed", "method", "steps", "success_rate", "score", "hit",
                                            "train_s", "plan_ms_b1"))


if __name__ == "__main__":
    main()
