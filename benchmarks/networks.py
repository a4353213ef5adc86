"""The denoisers side by side: parameters, one gradient update and one 10-step plan, MLPs against the temporal U-Net
and the transformer.

    python benchmarks/networks.py --threads 2 --rounds 5

Variants are timed interleaved in one process (round after round), medians printed as one JSON line per variant:
update_ms (batch_size 256, dpedu/Detour-v0's shapes: H = 8, To = 2, obs_dim = act_dim = 2) and plan_ms (batch 1).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from dpedu import Trainer

VARIANTS = {
    "mlp (Detour preset: 128 wide, 3 blocks)": {"hidden_dim": 128, "n_layers": 3},
    "mlp with FiLM (the same, conditioning film)": {"hidden_dim": 128, "n_layers": 3, "conditioning": "film"},
    "unet (default: unet_dim 32, 2 levels)": {"network": "unet"},
    "unet (unet_dim 64, 3 levels)": {"network": "unet", "unet_dim": 64, "unet_levels": 3},
    "transformer (default: d 64, 4 heads, 2 layers)": {"network": "transformer"},
    "transformer (4 layers)": {"network": "transformer", "transformer_layers": 4},
    "transformer (1 head)": {"network": "transformer", "transformer_heads": 1},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--updates", type=int, default=10, help="updates per round and variant")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    trainers = {}
    for name, config in VARIANTS.items():
        trainer = Trainer("diffusion", env="dpedu/Detour-v0", seed=0, config={**config, "warmup_steps": 300},
                          progress=False)
        trainer.train(310)  # the buffer holds episodes, the normalisers are fitted
        trainers[name] = trainer
    window = np.zeros((1, 2, 2), np.float32)
    update_ms, plan_ms = {n: [] for n in VARIANTS}, {n: [] for n in VARIANTS}
    for _ in range(args.rounds):
        for name, trainer in trainers.items():
            start = time.perf_counter()
            for _ in range(args.updates):
                trainer.update()
            update_ms[name].append((time.perf_counter() - start) / args.updates * 1e3)
            policy = trainer.policy
            policy.predict_chunk(window)
            start = time.perf_counter()
            for _ in range(10):
                policy.predict_chunk(window)
            plan_ms[name].append((time.perf_counter() - start) / 10 * 1e3)
    for name, trainer in trainers.items():
        print(json.dumps({"benchmark": "networks", "variant": name, "threads": args.threads,
                          "parameters": sum(p.numel() for p in trainer.model.parameters()),
                          "update_ms": round(statistics.median(update_ms[name]), 2),
                          "plan_ms": round(statistics.median(plan_ms[name]), 2)}), flush=True)


if __name__ == "__main__":
    main()
