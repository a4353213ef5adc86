"""dpedu against a peer library's diffusion policy (rlox 1.2.0), at the reference defaults, timed the same way.

    python -m venv /tmp/rlox && /tmp/rlox/bin/pip install torch==2.13.0 rlox==1.2.0     # the peer, in its own venv
    python benchmarks/peer.py --peer-python /tmp/rlox/bin/python                       # 2 threads, 5 rounds

Each round starts one fresh process per library (the order alternates between rounds, so drift on a noisy box
hits both) and measures, at the reference defaults (hidden 256, batch 256, T = 50, 10 inference steps):
  updates/s   `Trainer("diffusion", env="Pendulum-v1", seed=42).train(...)`: gradient updates divided by the
              training wall time without data collection (dpedu: the update_s its train() adds up; rlox collects
              all its data before its update loop, and that collection is timed and subtracted), after a warm-up
  plan_ms     one plan at batch 1 (dpedu `policy.predict_chunk`, rlox `predict`), median of 50, after warm-up
Prints one JSON line per (round, library) and a summary: medians over rounds, and the median of the per-round
ratios. The FLOP floor of dpedu's update is benchmarks/train_step.py's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

DPEDU = """
import json, statistics, time
import numpy as np, torch
torch.set_num_threads({threads})
from dpedu import Trainer
trainer = Trainer("diffusion", env="Pendulum-v1", seed=42, progress=False)
trainer.train(trainer.config.warmup_steps + 200)             # data, normalisers, a warm-up of 200 updates
before = trainer.timings["update_s"]                           # train()'s timings add up over calls
trainer.train({updates})                                       # one update per step after warm-up
update_s = trainer.timings["update_s"] - before
policy, window = trainer.policy, np.zeros((1, 2, 3), np.float32)
for _ in range(5):
    policy.predict_chunk(window)
times = []
for _ in range(50):
    start = time.perf_counter(); policy.predict_chunk(window); times.append(time.perf_counter() - start)
print(json.dumps({{"updates_per_s": {updates} / update_s, "plan_ms": 1000 * statistics.median(times)}}))
"""

RLOX = """
import json, statistics, time
import numpy as np, torch
torch.set_num_threads({threads})
import rlox
algo = rlox.Trainer("diffusion", env="Pendulum-v1", seed=42).algo   # its reference defaults
collect, spent = algo._collect_episodes, []
def timed_collect(n):
    start = time.perf_counter(); episodes = collect(n); spent.append(time.perf_counter() - start); return episodes
algo._collect_episodes = timed_collect
algo.train(200 * 256)                                          # a warm-up of 200 updates (n_updates = steps // 256)
start = time.perf_counter(); algo.train({updates} * 256); wall = time.perf_counter() - start
obs = np.zeros((2, 3), np.float32)
for _ in range(5):
    algo.predict(obs)
times = []
for _ in range(50):
    t0 = time.perf_counter(); algo.predict(obs); times.append(time.perf_counter() - t0)
print(json.dumps({{"updates_per_s": {updates} / (wall - spent[-1]), "plan_ms": 1000 * statistics.median(times)}}))
"""


def run(python: str, code: str) -> dict:
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer-python", required=True, help="python of a venv with rlox==1.2.0 installed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--updates", type=int, default=500)
    args = parser.parse_args()
    programs = {"dpedu": (sys.executable, DPEDU), "rlox": (args.peer_python, RLOX)}
    rows = {name: [] for name in programs}
    for round_ in range(args.rounds):
        for name in (list(programs) if round_ % 2 == 0 else list(programs)[::-1]):
            python, code = programs[name]
            rows[name].append(run(python, code.format(threads=args.threads, updates=args.updates)))
            print(json.dumps({"round": round_, "library": name, **rows[name][-1]}), flush=True)
    ratio = [d["updates_per_s"] / r["updates_per_s"] for d, r in zip(rows["dpedu"], rows["rlox"], strict=True)]
    plan = [r["plan_ms"] / d["plan_ms"] for d, r in zip(rows["dpedu"], rows["rlox"], strict=True)]
    median = {name: {k: round(statistics.median(r[k] for r in rs), 3) for k in ("updates_per_s", "plan_ms")}
              for name, rs in rows.items()}
    print(json.dumps({"benchmark": "peer", "threads": args.threads, "rounds": args.rounds, "median": median,
                      "updates_per_s_ratio": {"median": round(statistics.median(ratio), 2),
                                              "min": round(min(ratio), 2), "max": round(max(ratio), 2)},
                      "plan_speedup": {"median": round(statistics.median(plan), 2)}}))


if __name__ == "__main__":
    main()
