"""Push-T from pixels (the paper's visuomotor setting): the shipped demonstrations with their 96 x 96 frames drawn from
the stored states, and Diffusion Policy with Chi et al.'s vision encoder trained on them; a GPU job.

    python benchmarks/pusht_pixels.py --data benchmarks/results/pusht_pixels.zarr --seeds 0 1 2 --workers 1 \
        --out benchmarks/results/pusht_pixels.jsonl --checkpoint dpedu/course/checkpoints/pusht_pixels.pt

1. --data: the shipped dataset (dpedu/course/datasets/pusht.zarr.zip) unpacked into a .zarr directory, then
   `render_frames` adds data/img (uint8, 96 x 96 x 3) and data/agent_pos for every step, drawn from data/state exactly
   as the env draws its "pixels_agent_pos" observations (tests/test_pixels.py compares them while replaying). About
   24 000 frames: ~2 minutes on one core; kept and reused.
2. benchmarks/pusht.py's job for each seed with PUSHT_PIXELS (dpedu/config.py: the state preset's windows and
   denoiser, obs_type "pixels_agent_pos", the paper's encoder) and any --set changes; the record's lines are
   benchmarks/pusht.py's (score, success, train time, updates/s, plan latency), named --name.

Measured on the course's 2-core CPU box (notebook 09, "ms per frame"): the paper's encoder costs ~10 ms per frame
forward and backward, so one update of 64 windows of 2 frames takes over a second, and the state preset's 80 000
updates would take more than a day; --set vision_width=16 is ~9x cheaper. On a GPU the paper's encoder is the one to
train.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # benchmarks/pusht.py's job


def pixel_dataset(path: Path, progress: bool = True) -> Path:
    """The shipped Push-T dataset unpacked at `path` (a .zarr directory) with its frames drawn (skipped when done)."""
    from dpedu.datasets import PUSHT_DATASET, Demonstrations, render_frames

    if path.exists():
        with Demonstrations.open(path) as data:
            if data.has_frames:
                return path
    else:
        with zipfile.ZipFile(PUSHT_DATASET) as archive:  # a .zarr.zip is the directory's files, zipped
            archive.extractall(path)
    render_frames(path, progress=progress).close()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="benchmarks/results/pusht_pixels.zarr")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--updates", type=int, default=None, help="gradient updates (default: PUSHT_PIXELS')")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--name", default="pixels")
    parser.add_argument("--out", default="benchmarks/results/pusht_pixels.jsonl")
    parser.add_argument("--checkpoint", default=None, help="save the seed-0 policy here")
    args = parser.parse_args()
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from pusht import job

    from dpedu.cli import parse_set
    from dpedu.config import PUSHT_PIXELS

    data = pixel_dataset(Path(args.data))
    change = {**{k: v for k, v in PUSHT_PIXELS["config"].items()}, **parse_set(args.set, parser)}
    n_updates = args.updates or PUSHT_PIXELS["n_updates"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(job, "diffusion", s, str(data), n_updates, args.episodes, change,
                               args.checkpoint if s == 0 else None, args.name) for s in args.seeds]
        for future in futures:
            row = future.result()
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps({k: row[k] for k in ("seed", "variant", "score", "success_rate", "train_s",
                                                   "updates_per_s", "plan_ms_batch1")}), flush=True)


if __name__ == "__main__":
    main()
