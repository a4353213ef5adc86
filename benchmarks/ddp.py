"""Data-parallel speed: 1 process vs N processes under torchrun (gloo on CPU), 1 torch thread each.

    python benchmarks/ddp.py                                  # reference network, 3000 env steps, N = 2
    python benchmarks/ddp.py --nproc 4 --total-timesteps 5000 --config '{"hidden_dim": 128}'

Both runs are `python -m dpedu train` with the same config and number of environment steps, so they make
the same number of updates; with N processes each update sees N x batch_size samples. Reported per run,
from rank 0's metrics.json: train_s (Trainer.train wall time: collection + updates), update_s (updates
only), updates_per_s, samples_per_s (updates/s x N x batch_size) and process_s (the whole command,
start-up and saving included). On a CPU box the N processes share the cores, so a gain needs N free cores.
Prints one JSON line.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dpedu.config import DPConfig

ROOT = Path(__file__).resolve().parents[1]

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--nproc", type=int, default=2, help="processes of the data-parallel run")
parser.add_argument("--total-timesteps", type=int, default=3000)
parser.add_argument("--config", type=json.loads, default={}, help="JSON dict of config overrides")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
config = {**args.config, "seed": args.seed}
batch_size = DPConfig.from_dict(config).batch_size


def run(nproc: int, out: Path) -> dict:
    train = ["-m", "dpedu", "train", "--total-timesteps", str(args.total_timesteps), "--out", str(out),
             "--no-progress", "--threads", "1", *[f"--set={k}={v}" for k, v in config.items()]]
    launch = [] if nproc == 1 else ["-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
                                    "--rdzv-backend=c10d", "--rdzv-endpoint=127.0.0.1:0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *launch, *train], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{nproc} process(es) failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    process_s = time.perf_counter() - start
    m = json.loads((out / "metrics.json").read_text())
    ups = m["n_updates"] / m["update_s"]
    return {"processes": nproc, "threads_per_process": 1, "n_updates": m["n_updates"],
            "global_batch": nproc * batch_size, "train_s": round(m["wall_time_s"], 1),
            "update_s": round(m["update_s"], 1), "updates_per_s": round(ups, 1),
            "samples_per_s": round(ups * nproc * batch_size), "process_s": round(process_s, 1)}


with tempfile.TemporaryDirectory() as tmp:
    one, many = run(1, Path(tmp) / "one"), run(args.nproc, Path(tmp) / "many")
print(json.dumps({"benchmark": "ddp", "backend": "gloo", "cpu_count": os.cpu_count(), "config": config,
                  "total_timesteps": args.total_timesteps, "runs": [one, many],
                  "train_time_ratio": round(many["train_s"] / one["train_s"], 2),
                  "samples_per_s_speedup": round(many["samples_per_s"] / one["samples_per_s"], 2)}))
