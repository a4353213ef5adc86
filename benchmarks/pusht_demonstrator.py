"""The Push-T planner demonstrator (dpedu/envs/pusht_planner.py) on fresh starts: success, length, CPU time, the
targets' lead over the agent, and the variety of its demonstrations over planner seeds.

    python benchmarks/pusht_demonstrator.py --workers 1                  # the defaults: max_lead 40 px, slack 0.3
    python benchmarks/pusht_demonstrator.py --workers 1 --max-lead none  # targets uncapped
    python benchmarks/pusht_demonstrator.py --workers 1 --slack 0        # always the best candidate

Success starts: env seeds 100000..100099 (--starts, --seed-start; the evaluation starts, never in the course's
data), the planner seeded with the env seed. Variety: on the first --variety-starts of them, --planner-seeds
planner seeds each (the env seed + 1000 j): how often the first face pushed, and the order of faces, differ
between seeds of one start, and the spread of episode lengths.

Prints one JSON object: success rate, steps median/p90/max (over all episodes of the success run), CPU s per
episode median/max (planner and env.step together, time.process_time in the worker), the target's lead over the
agent (median px, share of steps above 50 px) and the variety. Episodes run in --workers processes (one each).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

import dpedu  # noqa: F401  (registers dpedu/PushT-v0)
from dpedu.envs.pusht import ENV_ID, TEST_START_SEED
from dpedu.envs.pusht_planner import DEFAULT_MAX_LEAD, DEFAULT_SLACK, PushTDemonstrator


def episode(task: tuple) -> dict:
    """One episode from env seed `start` with the planner seeded `planner_seed`."""
    start, planner_seed, max_lead, slack = task
    env = gym.make(ENV_ID)
    obs, info = env.reset(seed=start)
    demonstrator = PushTDemonstrator(seed=planner_seed, max_lead=max_lead, slack=slack)
    cpu = time.process_time()
    leads, terminated, truncated = [], False, False
    while not (terminated or truncated):
        action = demonstrator.act(obs)
        leads.append(float(np.hypot(*(action - obs[16:18]))))
        obs, _, terminated, truncated, info = env.step(action)
    faces = [int(p[1]) for p in demonstrator.primitives]
    return {"start": start, "planner_seed": planner_seed, "success": bool(info["is_success"]), "steps": len(leads),
            "cpu_s": time.process_time() - cpu, "coverage": info["coverage"], "faces": faces,
            "plans": len(faces), "leads": leads}


def run(tasks: list, workers: int, desc: str) -> tuple[list, bool]:
    """The episodes of `tasks`, in order, over `workers` processes; on Ctrl-C, those finished so far."""
    results = []
    try:
        if workers == 1:
            for task in tqdm(tasks, desc=desc):
                results.append(episode(task))
        else:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for result in tqdm(pool.imap(episode, tasks), total=len(tasks), desc=desc):
                    results.append(result)
    except KeyboardInterrupt:
        return results, True
    return results, False


def order(faces: list) -> tuple:
    """The faces in the order first pushed (repeats of a face dropped)."""
    return tuple(dict.fromkeys(faces))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=100, help="fresh starts (env seeds from --seed-start)")
    parser.add_argument("--seed-start", type=int, default=TEST_START_SEED)
    parser.add_argument("--workers", type=int, default=1, help="processes, one episode at a time each")
    parser.add_argument("--max-lead", default=str(DEFAULT_MAX_LEAD), help="px, or 'none' for no cap")
    parser.add_argument("--slack", type=float, default=DEFAULT_SLACK, help="the planner's slack (its docstring)")
    parser.add_argument("--variety-starts", type=int, default=20, help="starts of the variety measurement")
    parser.add_argument("--planner-seeds", type=int, default=5, help="planner seeds per variety start")
    args = parser.parse_args()
    max_lead = None if args.max_lead.lower() == "none" else float(args.max_lead)

    wall = time.perf_counter()
    starts = range(args.seed_start, args.seed_start + args.starts)
    results, interrupted = run([(s, s, max_lead, args.slack) for s in starts], args.workers, "fresh starts")
    steps = np.array([r["steps"] for r in results])
    cpu = np.array([r["cpu_s"] for r in results])
    leads = np.concatenate([r["leads"] for r in results])
    out = {"benchmark": "pusht_demonstrator", "max_lead": max_lead, "slack": args.slack, "workers": args.workers,
           "starts": f"{args.seed_start}..{args.seed_start + len(results) - 1}", "episodes": len(results),
           "success_rate": float(np.mean([r["success"] for r in results])),
           "failed_starts": [r["start"] for r in results if not r["success"]],
           "steps": {"median": float(np.median(steps)), "p90": float(np.percentile(steps, 90)),
                     "max": int(steps.max())},
           "cpu_s_per_episode": {"median": round(float(np.median(cpu)), 3), "max": round(float(cpu.max()), 3)},
           "plans_per_episode_median": float(np.median([r["plans"] for r in results])),
           "lead_px": {"median": round(float(np.median(leads)), 1),
                       "share_above_50": round(float(np.mean(leads > 50)), 3)}}

    if not interrupted and args.variety_starts > 0:
        tasks = [(s, s + 1000 * j, max_lead, args.slack)
                 for s in starts[:args.variety_starts] for j in range(args.planner_seeds)]
        runs, interrupted = run(tasks, args.workers, "variety")
        by_start = {}
        for r in runs:
            by_start.setdefault(r["start"], []).append(r)
        complete = [rs for rs in by_start.values() if len(rs) == args.planner_seeds]
        out["variety"] = {
            "starts": len(complete), "planner_seeds": args.planner_seeds,
            "first_face_differs": sum(len({r["faces"][0] for r in rs}) > 1 for rs in complete),
            "face_order_differs": sum(len({order(r["faces"]) for r in rs}) > 1 for rs in complete),
            "steps_spread_median": float(np.median([max(r["steps"] for r in rs) - min(r["steps"] for r in rs)
                                                    for rs in complete])),
            "success_rate": float(np.mean([r["success"] for rs in complete for r in rs]))}
    out["interrupted"], out["wall_s"] = interrupted, round(time.perf_counter() - wall, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
