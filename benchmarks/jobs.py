"""What the multi-seed benchmarks share: jobs run in their own processes, one torch thread each, each appending its
JSON line to the record as soon as it finishes (a job already there is skipped, so an interrupted run goes on where
it stopped), and median timings.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path


def median_ms(fn, repeats: int = 20) -> float:
    """fn's median wall time over `repeats` calls, in ms (one call before them warms up)."""
    import numpy as np

    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(1e3 * float(np.median(times[1:])), 3)


def plan_ms(trainer) -> float:
    """The median time of one plan at batch 1 (the trainer's policy, from its env's first observation of seed 0)."""
    policy, obs = trainer.policy, trainer.env.reset(seed=0)[0]

    def plan():
        policy.reset()  # the next act() plans
        policy.act(obs)

    return median_ms(plan)


def recorded(out: Path, key: tuple[str, ...]) -> set[tuple]:
    """The jobs (their `key` fields) already in the record."""
    if not out.exists():
        return set()
    return {tuple(r[k] for k in key) for r in map(json.loads, out.read_text().splitlines())}


def run_jobs(job, jobs: list[tuple], out: Path, workers: int, summary: tuple[str, ...]) -> None:
    """job(*args) -> dict (or a list of dicts), for every args in jobs, `workers` processes at a time (spawned, one
    torch thread each); each row appended to out as its job ends, and its `summary` keys printed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(job, *args) for args in jobs]
        for future in as_completed(futures):
            rows = future.result()
            for row in rows if isinstance(rows, list) else [rows]:
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps({k: row[k] for k in summary if k in row}), flush=True)
