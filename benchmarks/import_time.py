"""How long `import dpedu` takes against `import torch`, each in a fresh interpreter (issue 22: <= 1.3x).

    python benchmarks/import_time.py              # 5 of each, interleaved; prints one JSON object
    python benchmarks/import_time.py --repeats 9

Each measurement is a new `python -c` process timing its own import with time.perf_counter (interpreter start-up,
the same for all, left out). The statements alternate (torch, dpedu, Trainer, torch, ...) so that a busy
machine or a cold file cache slows them alike; the medians are compared. `import dpedu` registers
dpedu/Detour-v0 and imports the rest when first used, so the line a learner types first, `from dpedu import
Trainer`, is measured too (it imports torch, gymnasium and the algorithm's modules).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

STATEMENTS = {"torch": "import torch", "dpedu": "import dpedu", "trainer": "from dpedu import Trainer"}


def time_import(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per statement (default 5)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    times = {name: [] for name in STATEMENTS}
    for _ in range(args.repeats):
        for name, statement in STATEMENTS.items():
            times[name].append(time_import(statement))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(json.dumps({
        "repeats": args.repeats,
        "median_s": {name: round(value, 3) for name, value in median.items()},
        "ratio_dpedu_to_torch": round(median["dpedu"] / median["torch"], 3),
        "ratio_trainer_to_torch": round(median["trainer"] / median["torch"], 3),
        "times_s": {name: [round(v, 3) for v in values] for name, values in times.items()},
    }))


if __name__ == "__main__":
    main()
