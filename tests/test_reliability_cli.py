"""The command line's reliability probes as one table: each row is a scenario a user met, run as a real
`python -m dpedu` subprocess, with the exit status, the stderr it must show and the files it must leave.

Every row failed on the main branch before issue 22 (trains then loses the result, tracebacks, silently
overwrites or interleaves runs, writes nothing on Ctrl-C); the signal rows send SIGINT / SIGKILL once the
progress bar shows training under way.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
SETS = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]
RUN_FILES = {"policy.pt", "config.json", "metrics.json"}


def dpedu(*argv: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "dpedu", *argv], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@dataclass
class Row:
    scenario: str
    argv: list[str]
    status: int
    stderr: str  # a regex stderr must match
    files: dict[str, set[str]]  # folder (relative to the test's cwd) -> the names it must hold exactly
    before: str = ""  # what the test prepares: "old-run", "locked", "policy"
    signal: int | None = None  # sent once stderr shows `after`
    after: str = r"train: +\d+%.*\| *[3-9]\d\d/"  # the bar past step 300 (updates ran: warmup 200), or "file:PATH"


ROWS = [
    Row("--out not writable: refused before training (main: trained, then lost the result)",
        ["train", "--total-timesteps", "400", "--out", "/proc/forbidden"], 2, r"--out /proc/forbidden: cannot", {}),
    Row("--out empty: refused (main: wrote into the current folder)",
        ["train", "--total-timesteps", "400", "--out", ""], 2, r"--out is empty", {".": set()}),
    Row("--out holds a run: refused without --overwrite (main: overwrote it without a word)",
        ["train", "--total-timesteps", "400", "--out", "run"], 2, r"holds a run already.*--overwrite",
        {"run": {"notes.txt"}}, before="old-run"),
    Row("--overwrite replaces the old run whole: no stale file left beside the new ones",
        ["train", "--total-timesteps", "400", "--out", "run", "--overwrite"], 0, r"^$", {"run": RUN_FILES},
        before="old-run"),
    Row("--total-timesteps <= warmup_steps: refused before collecting (main: collected, then a traceback)",
        ["train", "--total-timesteps", "100", "--out", "run"], 2, r"no gradient update would run", {".": set()}),
    Row("--save-every shorter than warmup_steps: the first chunks only collect, each saved resumable",
        ["train", "--total-timesteps", "400", "--save-every", "150", "--save-trainer", "--out", "run"], 0, r"^$",
        {"run": RUN_FILES | {"trainer.pt"}}),
    Row("--preset for a task without one: refused, naming the tasks that have one (main: no --preset)",
        ["train", "--env", "Acrobot-v1", "--preset", "--out", "run"], 2,
        r"no preset for --env Acrobot-v1; presets exist for Pendulum-v1, dpedu/Detour-v0", {".": set()}),
    Row("a second train --out same while one runs: refused at once (main: both wrote, files interleaved)",
        ["train", "--total-timesteps", "400", "--out", "run"], 2, r"another dpedu process is writing", {},
        before="locked"),
    Row("Ctrl-C: a resumable run folder and the exact command that resumes it, exit 130, no traceback "
        "(main: a traceback and nothing written)",
        ["train", "--total-timesteps", "50000", "--out", "run"], 130,
        r"resume with:\n  dpedu train --resume \S*run/trainer\.pt --total-timesteps \d+ --save-trainer --out \S*run",
        {"run": RUN_FILES | {"trainer.pt"}}, signal=signal.SIGINT),
    Row("SIGKILL with --save-every: the last periodic save is a whole, resumable run folder (main: nothing)",
        ["train", "--total-timesteps", "50000", "--out", "run", "--save-every", "250"], -signal.SIGKILL, r"",
        {"run": RUN_FILES | {"trainer.pt"}}, signal=signal.SIGKILL, after="file:run/trainer.pt"),
    Row("evaluate --out not writable: refused before the rollouts (main: no --out)",
        ["evaluate", "policy.pt", "--out", "/proc/forbidden/result.json", "--episodes", "2"], 2,
        r"--out /proc/forbidden/result.json: cannot write", {}, before="policy"),
    Row("Ctrl-C during evaluate: exit 130 with one line, no traceback (main: a traceback)",
        ["evaluate", "policy.pt", "--episodes", "500", "--no-baselines"], 130, r"\ninterrupted\n$", {},
        before="policy", signal=signal.SIGINT, after=r"evaluate: +0%"),
    Row("evaluate --json: one JSON line on stdout, nothing else (main: no --json)",
        ["evaluate", "policy.pt", "--json", "--episodes", "2", "--no-baselines"], 0, r"^$", {}, before="policy"),
]


def prepare(row: Row, cwd: Path, policy_pt: Path):
    if row.before == "old-run":
        (cwd / "run").mkdir()
        (cwd / "run" / "notes.txt").write_text("an earlier run")
    elif row.before == "locked":  # what a running `train --out run` holds (dpedu/runtime/run_folder.py)
        lock = open(cwd / ".run.lock", "a")  # noqa: SIM115
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return lock
    elif row.before == "policy":
        (cwd / "policy.pt").symlink_to(policy_pt)
    return None


def communicate(proc: subprocess.Popen, sig: int | None, after: str, cwd: Path,
                timeout: float = 120) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the run; with `sig`, sent once stderr (read as it comes, tqdm's \\r
    included) matches `after`."""
    if sig is None:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    def seen() -> bool:
        return (cwd / after[5:]).exists() if after.startswith("file:") else bool(re.search(after, "".join(err)))

    while not seen():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"never saw {after!r}: {''.join(err)[-2000:]}")
        time.sleep(0.05)
    proc.send_signal(sig)
    out = proc.stdout.read()
    proc.wait(timeout=timeout)
    reader.join(timeout=10)
    return proc.returncode, out, "".join(err)


@pytest.fixture(scope="module")
def policy_pt(tmp_path_factory) -> Path:
    from dpedu.cli import main

    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--total-timesteps", "400", "--out", str(out), "--no-progress", *SETS]) == 0
    return out / "policy.pt"


@pytest.mark.parametrize("row", ROWS, ids=[r.scenario.split(":")[0] for r in ROWS])
def test_cli_reliability(row: Row, tmp_path: Path, policy_pt: Path):
    held = prepare(row, tmp_path, policy_pt)
    argv = row.argv + (SETS if row.argv[0] == "train" else []) + (["--no-progress"] if row.signal is None else [])
    try:
        status, out, err = communicate(dpedu(*argv, cwd=tmp_path), row.signal, row.after, tmp_path)
    finally:
        if held is not None:
            held.close()
    assert "Traceback" not in err, err
    assert re.search(row.stderr, err, re.S | re.M), err
    for folder, names in row.files.items():
        listed = {p.name for p in (tmp_path / folder).iterdir()}
        assert listed == names, (folder, listed)
    assert not list(tmp_path.glob(".run.tmp-*")) and not list(tmp_path.glob(".run.old-*")), "half-written folders"
    if row.argv[0] == "evaluate" and status == 0:
        assert len(out.strip().splitlines()) == 1 and out.strip().startswith("{"), out
    assert status == row.status, err


def test_ctrl_c_then_the_printed_command_equals_one_run(tmp_path: Path):
    """Interrupt a run, paste the command it prints: the policy is the one an uninterrupted run trains, bit for bit."""
    import shlex

    import torch

    status, _, err = communicate(dpedu("train", "--total-timesteps", "1000", "--out", "a", *SETS, cwd=tmp_path),
                                 signal.SIGINT, Row.after, tmp_path)
    assert status == 130, err
    command = re.search(r"resume with:\n  (dpedu train .*)", err).group(1)
    argv = shlex.split(command)[1:] + ["--no-progress"]
    status, _, err = communicate(dpedu(*argv, cwd=tmp_path), None, "", tmp_path)
    assert status == 0, err
    status, _, err = communicate(dpedu("train", "--total-timesteps", "1000", "--out", "b", "--no-progress", *SETS,
                                       cwd=tmp_path), None, "", tmp_path)
    assert status == 0, err
    resumed, straight = (torch.load(tmp_path / d / "policy.pt", weights_only=True)["model"] for d in "ab")
    assert resumed.keys() == straight.keys() and all(torch.equal(resumed[k], straight[k]) for k in straight)


def test_two_real_runs_into_one_folder(tmp_path: Path):
    """While one `train --out run` trains, a second one fails at once; the first, stopped afterwards with Ctrl-C,
    leaves its own run folder. (The first run is long and interrupted, not waited for: with 3000 steps a fast CPU
    finished it before the second process had started, and the race decided the test.)"""
    first = dpedu("train", "--total-timesteps", "50000", "--out", "run", "--set", "seed=1", *SETS, cwd=tmp_path)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(lambda: first.stderr.read(1), "")), daemon=True)
    reader.start()
    while not re.search(r"train: +\d+%.*\| *[1-9]\d*/", "".join(err)):
        assert first.poll() is None, "".join(err)
        time.sleep(0.05)
    started = time.monotonic()
    status, _, second_err = communicate(dpedu("train", "--total-timesteps", "400", "--out", "run", "--set",
                                              "seed=2", "--no-progress", *SETS, cwd=tmp_path), None, "", tmp_path)
    assert status == 2 and "another dpedu process is writing" in second_err, second_err
    assert first.poll() is None, "the second run must fail while the first is still training"
    assert time.monotonic() - started < 60
    first.send_signal(signal.SIGINT)
    first.wait(timeout=300)
    reader.join(timeout=10)
    assert first.returncode == 130, "".join(err)
    assert {p.name for p in (tmp_path / "run").iterdir()} == RUN_FILES | {"trainer.pt"}
    config = (tmp_path / "run" / "config.json").read_text()
    assert '"seed": 1' in config


KILL_DURING_PUBLISH = """
import os, signal, sys
from pathlib import Path
from dpedu.runtime.run_folder import RunFolder
where = sys.argv[1]
def write(text):
    return lambda path: path.write_text(text)
def die(path):
    os.kill(os.getpid(), signal.SIGKILL)
with RunFolder("run", overwrite=True) as folder:
    folder.publish({"policy.pt": write("A"), "trainer.pt": write("A"), "config.json": write("A")})
    if where == "between-files":
        folder.publish({"policy.pt": write("B"), "trainer.pt": die})
    else:  # between the two renames that swap the new folder in
        replace = os.replace
        def replace_then_die(src, dst):
            replace(src, dst)
            die(dst)
        os.replace = replace_then_die
        folder.publish({"policy.pt": write("B"), "trainer.pt": write("B"), "config.json": write("B")})
"""


@pytest.mark.parametrize("where", ["between-files", "between-renames"])
def test_sigkill_mid_save_never_mixes_two_runs(where: str, tmp_path: Path):
    """SIGKILL while run B is being written: the folder holds run A whole (after the next lock, if mid-swap)."""
    from dpedu.runtime.run_folder import RunFolder

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", KILL_DURING_PUBLISH, where], cwd=tmp_path, env=env)
    assert proc.returncode == -signal.SIGKILL
    with RunFolder(tmp_path / "run", overwrite=True):  # the next run clears what the killed one left
        files = {p.name: p.read_text() for p in (tmp_path / "run").iterdir()}
    assert files == {"policy.pt": "A", "trainer.pt": "A", "config.json": "A"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.lock", "run"]
