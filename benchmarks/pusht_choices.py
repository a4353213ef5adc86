"""Push-T state (the paper's setting: a fixed dataset, position control): the action horizon and latency ablations of
notebook 11 over training seeds, for Diffusion Policy with the Push-T preset (the residual MLP, H = 16).

    python benchmarks/pusht_choices.py --seeds 0 1 2 --workers 2 --out dpedu/course/pusht_choices.jsonl

(about 25 minutes on 2 cores, one torch thread per job: two trainings, then the evaluations). Seed 0 is the
shipped policy (dpedu/course/checkpoints/pusht.pt, written by `python benchmarks/pusht.py ... --checkpoint`); seeds 1
and 2 are trained here as benchmarks/pusht.py trains them (PRESETS["dpedu/PushT-v0"]: the shipped demonstrations,
80 000 updates). Each trained policy then runs under every setting of GRID on the same --episodes test starts (env
seeds 100 000, ...: Chi et al.'s): T_a from 1 to H = 16 on time; observations 2 and 4 control steps late
(dpedu.envs.latency) with 8 actions per plan, and 4 late with 1; and 4 late with 8 per plan and latency compensation
(dpedu.policy.LatencyCompensated). One JSON line per (seed, setting): Chi et al.'s score (the mean over episodes of
each episode's best min(coverage / 0.95, 1)), its standard error over episodes, and the success rate (coverage > 0.95
at some step).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from jobs import recorded, run_jobs

ENV = "dpedu/PushT-v0"
# (n_action_steps, latency, compensated), every trained policy on the same test starts.
GRID = [(1, 0, False), (2, 0, False), (4, 0, False), (8, 0, False), (16, 0, False), (8, 2, False), (8, 4, False),
        (8, 4, True), (1, 4, False)]


def job(seed: int, episodes: int) -> list[dict]:
    import torch

    from dpedu import DiffusionPolicy, Trainer
    from dpedu.config import PRESETS
    from dpedu.course import CHECKPOINTS
    from dpedu.datasets import PUSHT_DATASET
    from dpedu.envs.pusht import TEST_START_SEED
    from dpedu.evaluate import evaluate_policy
    from dpedu.policy import LatencyCompensated

    torch.set_num_threads(1)
    preset = PRESETS[ENV]
    start = time.perf_counter()
    if seed == 0:  # the shipped policy: the preset, seed 0 (benchmarks/pusht.py --checkpoint)
        policy, source = DiffusionPolicy.load(CHECKPOINTS / "pusht.pt", device="cpu"), "shipped checkpoint"
        assert policy.config.seed == 0 and policy.config.n_action_steps == preset["config"]["n_action_steps"]
    else:
        trainer = Trainer("diffusion", env=ENV, dataset=str(PUSHT_DATASET), seed=seed, config=preset["config"],
                          progress=False)
        trainer.train(n_updates=preset["n_updates"])
        policy, source = trainer.policy, "trained"
    train_s = time.perf_counter() - start
    rows = []
    for n_action_steps, latency, compensated in GRID:
        policy.configure(n_action_steps=n_action_steps, seed=0)
        actor = LatencyCompensated(policy, latency) if compensated else policy
        t = time.perf_counter()
        result = evaluate_policy(actor, ENV, n_episodes=episodes, seed=TEST_START_SEED, baselines=False,
                                 latency=latency)
        rows.append({"seed": seed, "policy": source, "n_updates": preset["n_updates"], "train_s": round(train_s, 1),
                     "n_action_steps": n_action_steps, "latency": latency, "compensated": compensated,
                     "score": result["score"], "se_score": result["se_score"],
                     "success_rate": result["success_rate"], "episodes": episodes,
                     "test_start_seed": TEST_START_SEED, "eval_s": round(time.perf_counter() - t, 1), "threads": 1})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/pusht_choices.jsonl")
    args = parser.parse_args()
    out = Path(args.out)
    done = recorded(out, ("seed",))
    jobs = sorted(((s, args.episodes) for s in args.seeds if (s,) not in done), key=lambda j: j[0] == 0)  # train first
    run_jobs(job, jobs, out, args.workers, ("seed", "n_action_steps", "latency", "compensated", "score",
                                            "success_rate", "eval_s"))


if __name__ == "__main__":
    main()
