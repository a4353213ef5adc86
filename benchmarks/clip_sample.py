"""Notebook 02: how often DDPM's plans hit the obstacle with and without clipping x0_pred, over training seeds.

    python benchmarks/clip_sample.py              # training seeds 0-4, sampling seeds 0-2: ~1 min on one core

The 2-D task of notebook 02 (dpedu.course.toy), its denoiser (1000 updates) and its 300 test start points; DDPM
over all 50 steps with clip_sample True (the package default) and False. One JSON line per training seed with the
hit rate per sampling seed, then a summary line with the range of each.
"""

from __future__ import annotations

import argparse
import json

import torch

from dpedu.course import toy
from dpedu.diffusion.sampler import make_sampler
from dpedu.diffusion.schedule import NoiseSchedule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--sample-seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    data, test = toy.make_dataset(n=1000, seed=0), toy.make_dataset(n=300, seed=1)
    schedule = NoiseSchedule(50, "cosine")
    hits = {True: [], False: []}
    for seed in args.seeds:
        denoiser, _ = toy.train_diffusion(data, schedule, n_updates=1000, seed=seed)
        row = {"seed": seed}
        for clip in (True, False):
            sampler = make_sampler("ddpm", schedule, clip_sample=clip)
            rates = [toy.mode_stats(test.obs, toy.sample_diffusion(denoiser, sampler, test.obs, seed=s))["hit"]
                     for s in args.sample_seeds]
            row["hit_clipped" if clip else "hit_unclipped"] = [round(r, 4) for r in rates]
            hits[clip] += rates
        print(json.dumps(row), flush=True)
    print(json.dumps({"summary": True, "hit_clipped_range": [min(hits[True]), max(hits[True])],
                      "hit_unclipped_range": [min(hits[False]), max(hits[False])]}))


if __name__ == "__main__":
    main()
