"""Push-T: one trained policy evaluated with other samplers and step counts, and other executed horizons (T_a),
on the same test starts: what notebook 08 and PRESETS["dpedu/PushT-v0"] say about inference settings on Push-T.

    python benchmarks/pusht_samplers.py dpedu/course/checkpoints/pusht.pt --out dpedu/course/pusht_samplers.jsonl

One JSON line per setting: the checkpoint, sampler, n_inference_steps, n_action_steps, Chi et al.'s score and the
success over --episodes test starts (env seeds 100000, ...), one torch thread. Settings change inference only
(policy.configure), so every line is the same network.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

SETTINGS = [("ddpm", 10, 8), ("ddpm", 100, 8), ("ddim", 10, 8), ("ddim", 100, 8), ("ddpm", 100, 4), ("ddpm", 100, 2)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--out", default=None, help="append the lines to this JSON-lines file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from dpedu import DiffusionPolicy
    from dpedu.envs.pusht import TEST_START_SEED
    from dpedu.evaluate import evaluate_policy

    for path in args.checkpoints:
        for sampler, steps, executed in SETTINGS:
            policy = DiffusionPolicy.load(path, device="cpu")
            policy.configure(sampler=sampler, n_inference_steps=steps, n_action_steps=executed, seed=0)
            start = time.perf_counter()
            result = evaluate_policy(policy, "dpedu/PushT-v0", n_episodes=args.episodes, seed=TEST_START_SEED,
                                     baselines=False)
            row = {"checkpoint": path, "network": policy.config.network, "sampler": sampler,
                   "n_inference_steps": steps, "n_action_steps": executed, "score": round(result["score"], 4),
                   "se_score": round(result["se_score"], 4), "success_rate": result["success_rate"],
                   "episodes": args.episodes, "eval_s": round(time.perf_counter() - start, 1)}
            print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
