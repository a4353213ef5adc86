"""Position against velocity control on Detour (notebook 11; Chi et al.'s ablation), for Diffusion Policy and the
baselines, over training seeds.

    python benchmarks/control.py --seeds 0 1 2 --workers 2 --out dpedu/course/control_seeds.jsonl

(about 8 minutes on 2 cores, one torch thread per job). dpedu/Detour-v0 is velocity-controlled (an action is the
step to take); dpedu/DetourPosition-v0 is the same task, world and demonstrator under position control (an action is
the position to go to, dpedu/envs/detour.py). Every (method, control, seed) is one job in its own process: the Detour
preset (PRESETS["dpedu/Detour-v0"]: 10 000 steps of DART demonstrations, 6 000 updates, 8 of 8 actions per plan) for
that method, then --episodes test episodes from env seed 100 000 under each setting of GRID: the preset's 8 actions per
plan; 4 per plan on time; and 4 per plan with the observations 4 control steps late (dpedu.envs.latency), without
and with latency compensation (dpedu.policy.LatencyCompensated: each plan's first 4 actions, meant for times already
past, skipped). One JSON line per (method, control, seed, setting): success, sides, side switches. The mixture runs at
robomimic's learning rate 1e-4 (at the preset's 1e-3 its success fell during training on velocity control, notebook
10); the other methods at the preset's.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from jobs import plan_ms, recorded, run_jobs

CONTROLS = {"velocity": "dpedu/Detour-v0", "position": "dpedu/DetourPosition-v0"}
METHODS = {"diffusion": ("diffusion", {}), "regression": ("regression", {}), "gmm": ("gmm", {"learning_rate": 1e-4}),
           "bet": ("bet", {})}
TEST_SEED = 100_000
# (n_action_steps, latency, compensated) evaluated for every trained policy: the same policy, the same test episodes.
GRID = [(8, 0, False), (4, 0, False), (4, 4, False), (4, 4, True)]
KEYS = ("success_rate", "success_ci", "side_up", "side_down", "switched_share", "switches_per_episode",
        "mean_action_change")


def job(method: str, control: str, seed: int, episodes: int) -> list[dict]:
    import torch

    from dpedu import Trainer
    from dpedu.config import PRESETS
    from dpedu.evaluate import evaluate_policy
    from dpedu.policy import LatencyCompensated

    torch.set_num_threads(1)
    preset = PRESETS["dpedu/Detour-v0"]
    algorithm, change = METHODS[method]
    start = time.perf_counter()
    trainer = Trainer(algorithm, env=CONTROLS[control], seed=seed, config={**preset["config"], **change},
                      progress=False)
    metrics = trainer.train(preset["total_timesteps"])
    train_s = time.perf_counter() - start
    policy = trainer.policy
    common = {"method": method, "control": control, "env_id": CONTROLS[control], "seed": seed,
              "loss": round(metrics["loss"], 5), "n_updates": metrics["n_updates"], "train_s": round(train_s, 1),
              "plan_ms": plan_ms(trainer), "episodes": episodes, "test_seed": TEST_SEED, "threads": 1}
    rows = []
    for n_action_steps, latency, compensated in GRID:
        policy.configure(n_action_steps=n_action_steps, seed=0)
        actor = LatencyCompensated(policy, latency) if compensated else policy
        result = evaluate_policy(actor, CONTROLS[control], n_episodes=episodes, seed=TEST_SEED, baselines=False,
                                 latency=latency)
        rows.append({**common, "n_action_steps": n_action_steps, "latency": latency, "compensated": compensated,
                     **{k: result[k] for k in KEYS}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--controls", nargs="+", default=list(CONTROLS), choices=list(CONTROLS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/control.jsonl")
    args = parser.parse_args()
    out = Path(args.out)
    done = recorded(out, ("method", "control", "seed"))
    jobs = [(m, c, s, args.episodes) for m in args.methods for c in args.controls for s in args.seeds
            if (m, c, s) not in done]
    run_jobs(job, jobs, out, args.workers, ("method", "control", "seed", "n_action_steps", "latency", "compensated",
                                            "success_rate", "switched_share"))


if __name__ == "__main__":
    main()
