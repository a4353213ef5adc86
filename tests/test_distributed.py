"""Data-parallel training: 2 CPU processes under torchrun (gloo on loopback) give one run, one checkpoint.

Each test launches `python -m torch.distributed.run --nproc_per_node=2` as a subprocess (one thread per
process), so nothing here needs a GPU or touches this process's torch.distributed state.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from dpedu import DiffusionPolicy
from dpedu.runtime import distributed
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with gloo is needed")


def torchrun(*args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    """2 processes on this machine; the c10d rendezvous on 127.0.0.1 port 0 picks a free port itself."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):  # not our own rank
        env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--rdzv-backend=c10d",
           "--rdzv-endpoint=127.0.0.1:0", *args]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"torchrun failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def test_helpers_in_a_single_process_are_defaults():
    assert not distributed.is_distributed() and not distributed.init_distributed()  # no WORLD_SIZE here
    assert (distributed.rank(), distributed.world_size(), distributed.is_main_process()) == (0, 1, True)
    x = torch.tensor([1.0, -2.0])
    assert distributed.all_reduce_(x, "max") is x and x.tolist() == [1.0, -2.0]
    distributed.barrier()
    distributed.cleanup()
    with pytest.raises(ValueError, match="op must be"):
        distributed.all_reduce_(x, "avg")


@pytest.mark.parametrize("network", [{}, {"network": "unet", "unet_dim": 16, "unet_levels": 2, "unet_groups": 4}],
                         ids=["mlp", "unet"])
def test_ddp_step_equals_big_batch_and_ranks_stay_identical(tmp_path, network):
    result = tmp_path / "result.json"
    config = {**TINY, "seed": 0, **network}
    torchrun(str(ROOT / "tests" / "ddp_worker.py"), str(result), json.dumps(config), "600")
    ranks = json.loads(result.read_text())
    assert len(ranks) == 2

    # (c) one DDP step, batch b on each of 2 ranks == one step with batch 2b in one process
    for r in ranks:
        step = r["step"]
        assert step["grad_max_abs_diff"] <= 1e-6 * max(1.0, step["grad_max_abs"])
        assert step["param_max_abs_change"] > 1e-4  # the step did move the weights...
        assert step["param_max_abs_diff"] <= 1e-6  # ...by the same amount both ways

    # (b) after training, every rank holds the same weights, EMA, normalisers and (averaged) loss history,
    # while each collected its own demonstrations
    a, b = (r["train"] for r in ranks)
    assert (a["rank"], b["rank"], a["world_size"]) == (0, 1, 2)
    assert a["n_updates"] == b["n_updates"] == 401
    for key in ("weights", "ema", "normalizers", "loss_history"):
        assert a[key] == b[key], key
    assert a["demonstrations"] != b["demonstrations"]
    if not network:
        assert a["loss_history"][-1][1] < 0.6 * a["loss_history"][0][1]  # and it learns


def test_torchrun_cli_writes_one_ordinary_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    sets = [f"--set={k}={v}" for k, v in {**TINY, "seed": 3}.items()]
    result = torchrun("-m", "dpedu", "train", "--total-timesteps", "400", "--out", str(out), "--no-progress", *sets)
    assert result.stdout.count("Loss:") == 1 and "ranks: 2" in result.stdout  # rank 0 alone prints
    assert {p.name for p in out.iterdir()} == {"policy.pt", "config.json", "metrics.json"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["global_batch_size"] == 2 * TINY["batch_size"]
    assert metrics["n_updates"] == 201
    policy = DiffusionPolicy.load(out / "policy.pt", device="cpu")
    assert policy.predict_chunk(torch.zeros(1, 2, 3).numpy()).shape == (1, policy.config.action_horizon, 1)

    from dpedu.cli import main

    capsys.readouterr()
    assert main(["evaluate", str(out / "policy.pt"), "--episodes", "2", "--no-baselines", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["returns"]) == 2
