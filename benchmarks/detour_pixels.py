"""Detour from pixels against Detour from the position, trained offline on the same demonstrations (notebook 09).

    python benchmarks/detour_pixels.py --seeds 0 1 2 --workers 2 --out dpedu/course/detour_pixels_seeds.jsonl

(about 9 minutes on 2 cores: six pixel runs of ~150 s and three state runs of ~17 s, one thread each.)

The data: --demos episodes of the Detour demonstrator (env seeds 0.., recorded with dpedu.datasets.record, no DART
noise: a fixed dataset), their frames drawn with render_frames; made once in --data and reused. Every (variant, seed)
is one job in its own process with one torch thread (--workers at a time): a Trainer on that dataset with
DETOUR_PIXELS (dpedu/config.py) and the variant's changes (--variant NAME='{"key": value}'; by default "pixels", the
preset; "state", the same config observing the position instead of frames; "crop", the paper's random crop of 0.875),
--updates gradient updates, then --episodes evaluation episodes
from env seeds 10000, 10001, ... (never demonstrated). One JSON line per job is appended to --out as soon as it
finishes (a job already there is skipped): success rate, the sides taken, training wall time on one thread, the
plan latency at batch 1, and for pixel variants a linear probe of the point's (x, y) from the encoder's features on the
frames of the first 50 demonstrations (R^2, trained and at its initial weights).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

ENV = "dpedu/Detour-v0"
TEST_SEED = 10_000


def make_dataset(path: Path, n_episodes: int) -> None:
    from dpedu.datasets import Demonstrations, record, render_frames

    if path.exists():
        with Demonstrations.open(path) as data:
            if data.n_episodes >= n_episodes and data.has_frames:
                return
    record(ENV, path, n_episodes, progress=False)
    render_frames(path, progress=False).close()


def job(variant: str, seed: int, dataset: str, n_updates: int, episodes: int, change: dict) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from dpedu import Trainer
    from dpedu.config import DETOUR_PIXELS, VISION_KEYS

    config = {**DETOUR_PIXELS["config"], **change}
    if config.get("obs_type") is None:  # the same policy observing the position: no vision encoder
        config = {k: v for k, v in config.items() if k not in VISION_KEYS}
    start = time.perf_counter()
    trainer = Trainer("diffusion", dataset=dataset, seed=seed, config=config, progress=False)
    metrics = trainer.train(n_updates=n_updates)
    train_s = time.perf_counter() - start
    result = trainer.evaluate(n_episodes=episodes, seed=TEST_SEED)
    policy = trainer.policy
    import gymnasium as gym

    env = gym.make(ENV, **({"obs_type": config["obs_type"]} if config.get("obs_type") else {}))
    obs = env.reset(seed=0)[0]
    times = []
    for _ in range(20):  # plan latency at batch 1: every act() re-plans after reset
        policy.reset()
        t0 = time.perf_counter()
        policy.act(obs)
        times.append(time.perf_counter() - t0)
    probe = {}
    if config.get("obs_type"):  # what the encoder learned: a linear probe of the point's (x, y), trained and untrained
        from dpedu.course.pixel_plots import position_r2
        from dpedu.datasets import Demonstrations
        from dpedu.networks import build_network

        with Demonstrations.open(dataset) as data:
            probe_episodes = [data.episode(i) for i in range(50)]
        frames = np.concatenate([e["img"] for e in probe_episodes])
        xy = np.concatenate([e["obs"] for e in probe_episodes])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the weights the trainer started from
            untrained = build_network(trainer.config, 0, 2, frames.shape[1:]).encoder
        probe = {"probe_r2_trained": position_r2(trainer.policy.model.encoder, frames, xy).round(4).tolist(),
                 "probe_r2_untrained": position_r2(untrained, frames, xy).round(4).tolist()}
    return {"variant": variant, "seed": seed, "change": change, "config": config, "n_updates": n_updates, **probe,
            "loss": round(metrics["loss"], 5), "success_rate": result["success_rate"],
            "side_up": result["side_up"], "side_down": result["side_down"],
            "switched_share": result["switched_share"], "episodes": episodes, "train_s": round(train_s, 1),
            "updates_per_s": round(n_updates / metrics["update_s"], 1),
            "plan_ms": round(1e3 * float(np.median(times)), 2),
            "params": sum(p.numel() for p in trainer.model.parameters()), "threads": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variant", action="append", default=[],
                        help='NAME=JSON config changes, e.g. wide=\'{"vision_width": 16}\'; default: pixels and state')
    parser.add_argument("--updates", type=int, default=None, help="default: the preset's n_updates")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--demos", type=int, default=200)
    parser.add_argument("--data", default="benchmarks/results/detour_pixels.zarr")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/detour_pixels.jsonl")
    args = parser.parse_args()
    from dpedu.config import DETOUR_PIXELS

    variants = dict(v.split("=", 1) for v in args.variant) or {
        "pixels": "{}", "state": '{"obs_type": null}', "crop": '{"crop_ratio": 0.875}'}
    variants = {name: json.loads(text) for name, text in variants.items()}
    n_updates = args.updates or DETOUR_PIXELS["n_updates"]
    data = Path(args.data)
    data.parent.mkdir(parents=True, exist_ok=True)
    make_dataset(data, args.demos)
    out = Path(args.out)
    done = set()
    if out.exists():
        done = {(r["variant"], r["seed"]) for r in map(json.loads, out.read_text().splitlines())}
    jobs = [(v, s) for s in args.seeds for v in variants if (v, s) not in done]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(job, v, s, str(data), n_updates, args.episodes, variants[v]) for v, s in jobs]
        for future in as_completed(futures):
            row = future.result()
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps({k: row[k] for k in ("variant", "seed", "success_rate", "side_up", "train_s",
                                                   "plan_ms", "loss")}), flush=True)


if __name__ == "__main__":
    main()
