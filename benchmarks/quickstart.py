"""The reference Quick Start, verbatim but for the import, timed; saves the policy for `python -m dpedu evaluate`.

    python benchmarks/quickstart.py [--out runs/quickstart]
    python -m dpedu evaluate runs/quickstart/policy.pt --episodes 100 --seed 0

Prints the Quick Start's own line, then one JSON line: loss, updates, wall time, threads.
"""

import argparse
import json
import time

import torch

# Arguments first: `--help` (or a bad flag) must answer before five minutes of training, not after.
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--out", default="runs/quickstart", help="folder for policy.pt")
args = parser.parse_args()

t0 = time.perf_counter()
# ---- the Quick Start ----
from dpedu import Trainer  # noqa: E402

trainer = Trainer("diffusion", env="Pendulum-v1", seed=42, config={
    "n_diffusion_steps": 50, "action_horizon": 8, "obs_horizon": 2, "noise_schedule": "cosine"})
metrics = trainer.train(total_timesteps=50_000)
print(f"Loss: {metrics['loss']:.4f}")
# ---- end ----
wall = time.perf_counter() - t0

path = trainer.policy.save(f"{args.out}/policy.pt")
print(json.dumps({"benchmark": "quickstart", "loss": round(metrics["loss"], 4), "n_updates": metrics["n_updates"],
                  "wall_time_s": round(wall, 1), "collect_s": metrics["collect_s"], "update_s": metrics["update_s"],
                  "updates_per_s": metrics["updates_per_s"], "torch_threads": torch.get_num_threads(),
                  "policy": str(path)}))
