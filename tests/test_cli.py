"""The `dpedu` command: train writes its run folder, evaluate summarises (or prints JSON), bad arguments exit 2,
--preset starts from the course's configuration, and help answers without importing torch."""

import ast
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dpedu.cli import build_parser, main, train_plan
from dpedu.config import PRESETS

ROOT = Path(__file__).resolve().parents[1]


def test_train_then_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--total-timesteps", "400", "--out", str(out), "--no-progress", "--set", "hidden_dim=32",
            "--set", "n_layers=2", "--set", "batch_size=32", "--set", "warmup_steps=200", "--set", "seed=3",
            "--set", "n_diffusion_steps=20", "--set", "n_inference_steps=5"]
    assert main(args) == 0
    assert {p.name for p in out.iterdir()} == {"policy.pt", "config.json", "metrics.json"}
    config = json.loads((out / "config.json").read_text())
    assert config["hidden_dim"] == 32 and config["seed"] == 3 and config["env"] == "Pendulum-v1"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_updates"] == 201 and metrics["loss_history"]
    capsys.readouterr()
    assert main(["evaluate", str(out / "policy.pt"), "--episodes", "3", "--no-baselines", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert len(result["returns"]) == 3 and result["n_episodes"] == 3
    # Without --json: one line a person reads, and with --out FILE the whole result as JSON too.
    assert main(["evaluate", str(out / "policy.pt"), "--episodes", "3", "--out", str(tmp_path / "r.json")]) == 0
    captured = capsys.readouterr()
    line = captured.out.strip().splitlines()[0]
    mean, std = result["mean_return"], result["std_return"]
    assert line.startswith(f"Pendulum-v1: mean return {mean:.2f} +- {std:.2f} (std) over 3 episodes, seed 0; random ")
    assert re.search(r"demonstrator -?\d+\.\d\d, normalized score -?\d+\.\d\d$", line), line
    assert json.loads((tmp_path / "r.json").read_text())["returns"] == result["returns"]
    assert "evaluate" in captured.err and "3/3" in captured.err  # the progress bar over finished episodes


def test_train_a_baseline_then_evaluate_it(tmp_path, capsys):
    out = tmp_path / "gmm"
    assert main(["train", "--algorithm", "gmm", "--env", "dpedu/Detour-v0", "--total-timesteps", "300", "--out",
                 str(out), "--no-progress", "--set", "hidden_dim=32", "--set", "warmup_steps=200",
                 "--set", "n_components=3"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out / "policy.pt"), "--episodes", "2", "--no-baselines", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out.strip())["returns"]) == 2
    # A baseline with --preset keeps the preset's windows and width, not its diffusion settings.
    overrides, _ = plan("--algorithm", "bet", "--preset", "--env", "dpedu/PushT-v0")
    assert overrides["action_horizon"] == 16 and "n_diffusion_steps" not in overrides


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--set", "hidden_dim"], "key=value"),
        (["train", "--set", "hiden_dim=3"], "hidden_dim"),
        (["train", "--set", "hidden_dim=abc"], "hidden_dim must be int"),
        (["train", "--set", "clip_sample=maybe"], "clip_sample"),
        (["train", "--total-timesteps", "0"], "must be >= 1"),
        (["train", "--env", "NoSuchEnv-v0", "--total-timesteps", "10"], "unknown environment id"),
        (["evaluate", "missing.pt"], "missing.pt"),
        (["evaluate", "x.pt", "--episodes", "-3"], "must be >= 1"),
        (["fly"], "invalid choice"),
        (["train", "--preset", "--env", "Acrobot-v1"], "presets exist for Pendulum-v1, dpedu/Detour-v0"),
        (["train", "--total-timesteps", "100", "--out", "{tmp}/never"], "no gradient update would run"),
        (["train", "--out", ""], "--out is empty"),
        (["train", "--save-every", "0"], "must be >= 1"),
        (["evaluate", "x.pt", "--out", "{tmp}"], "give a file name"),
        (["train", "--algorithm", "gmm", "--set", "n_bins=4"], "n_bins=4 applies to Trainer('bet') only"),
        (["train", "--algorithm", "lstm"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_with_usage(args, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main([a.replace("{tmp}", str(tmp_path)) for a in args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and message in err


def test_resume_from_the_command_line_equals_one_run(tmp_path):
    """train 300 --save-trainer, then --resume for 300 more: the same policy as train 600 in one go."""
    import torch

    tiny = ["--no-progress", "--set", "hidden_dim=32", "--set", "batch_size=32", "--set", "warmup_steps=200",
            "--set", "n_diffusion_steps=20", "--set", "n_inference_steps=5"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "--total-timesteps", "300", "--save-trainer", "--out", str(a), *tiny]) == 0
    assert (a / "trainer.pt").is_file()
    assert main(["train", "--total-timesteps", "300", "--resume", str(a / "trainer.pt"), "--out", str(a),
                 "--no-progress"]) == 0
    assert main(["train", "--total-timesteps", "600", "--out", str(b), *tiny]) == 0
    resumed, straight = (torch.load(d / "policy.pt", weights_only=True)["model"] for d in (a, b))
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)
    assert json.loads((a / "metrics.json").read_text())["env_steps"] == 600
    with pytest.raises(SystemExit):
        main(["train", "--resume", str(a / "trainer.pt"), "--set", "hidden_dim=64", "--out", str(a)])


def plan(*argv):
    parser, commands = build_parser()
    return train_plan(parser.parse_args(["train", *argv]), commands["train"])


ONLINE_PRESETS = [env for env, preset in PRESETS.items() if "total_timesteps" in preset]


@pytest.mark.parametrize("env", ONLINE_PRESETS)
def test_preset_is_the_course_configuration(env):
    assert plan("--env", env, "--preset") == (PRESETS[env]["config"], PRESETS[env]["total_timesteps"])
    overrides, total = plan("--env", env, "--preset", "--set", "hidden_dim=64", "--total-timesteps", "123")
    assert overrides == {**PRESETS[env]["config"], "hidden_dim": 64} and total == 123
    assert plan("--env", env) == ({}, 50_000)  # without --preset: the reference defaults


def test_offline_preset_brings_its_dataset_and_updates():
    """--preset on dpedu/PushT-v0: the shipped dataset and the preset's n_updates, unless given."""
    from dpedu.cli import apply_offline_preset
    from dpedu.datasets import PUSHT_DATASET

    parser, _ = build_parser()
    args = parser.parse_args(["train", "--env", "dpedu/PushT-v0", "--preset"])
    apply_offline_preset(args)
    assert args.dataset == str(PUSHT_DATASET) and args.updates == PRESETS["dpedu/PushT-v0"]["n_updates"]
    args = parser.parse_args(["train", "--env", "dpedu/PushT-v0", "--preset", "--updates", "7"])
    apply_offline_preset(args)
    assert args.updates == 7
    assert plan("--env", "dpedu/PushT-v0", "--preset")[0] == PRESETS["dpedu/PushT-v0"]["config"]


def test_help_lists_env_ids_and_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "one of: " + ", ".join(PRESETS) in text
    assert "(default: Pendulum-v1)" in text and "(default: runs/latest)" in text and "default: 50000" in text


def test_cli_module_imports_nothing_heavy():
    """cli.py's own top-level imports: the standard library and dpedu.config, nothing that pulls in torch."""
    tree = ast.parse((ROOT / "dpedu" / "cli.py").read_text())
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert top <= {"__future__", "argparse", "json", "shlex", "sys", "time", "pathlib", "dpedu.config"}, top


def imported_by(*argv: str) -> set[str]:
    """The modules a fresh `python -X importtime ...` loads (its stderr names each one)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


def heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in ("torch", "scipy", "matplotlib") or m == "dpedu.trainer"}


@pytest.mark.parametrize("argv", [["-m", "dpedu", "--help"], ["-m", "dpedu", "train", "--help"]])
def test_help_does_not_import_torch(argv):
    modules = imported_by(*argv)
    assert "dpedu.cli" in modules
    # The command adds nothing heavy to what `import dpedu` loads (config, and the env registration) ...
    assert not heavy(modules - imported_by("-c", "import dpedu"))
    # ... and once those import only numpy and gymnasium (issue 22), help loads no torch at all.
    if "torch" in imported_by("-c", "import dpedu"):
        pytest.skip("`import dpedu` still imports torch (dpedu.config or the env modules)")
    assert not heavy(modules)


def test_summary_line_reports_success_and_baselines():
    from dpedu.cli import summary_line

    result = {"env_id": "dpedu/Detour-v0", "mean_return": -12.345, "std_return": 3.21, "n_episodes": 200, "seed": 0,
              "success_rate": 0.9, "success_ci": (0.851, 0.934), "random_mean_return": -80.0,
              "demonstrator_mean_return": -10.0, "normalized_score": 0.966}
    assert summary_line(result) == ("dpedu/Detour-v0: mean return -12.35 +- 3.21 (std) over 200 episodes, seed 0; "
                                    "success 90% (95% CI 85%-93%); random -80.00, demonstrator -10.00, "
                                    "normalized score 0.97")
    del result["success_rate"], result["normalized_score"]
    assert summary_line(result).endswith("over 200 episodes, seed 0")


# ---------------------------------------------------------------- datasets and offline training

TINY_SETS = ["--set", "hidden_dim=32", "--set", "batch_size=32", "--set", "n_diffusion_steps=20",
             "--set", "n_inference_steps=5"]


def test_dataset_record_info_pack_then_train_offline_and_resume(tmp_path, capsys):
    import torch

    data, packed = tmp_path / "detour.zarr", tmp_path / "detour.zarr.zip"
    assert main(["dataset", "record", "--env", "dpedu/Detour-v0", "--episodes", "4", "--out", str(data),
                 "--workers", "2", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip())
    assert summary["episodes"] == 4 and summary["complete"]
    assert main(["dataset", "info", str(data)]) == 0
    info = json.loads(capsys.readouterr().out.strip())
    assert (info["env_id"], info["n_episodes"], info["n_steps"]) == ("dpedu/Detour-v0", 4, summary["steps"])
    assert main(["dataset", "pack", str(data), str(packed)]) == 0
    assert capsys.readouterr().out.startswith(f"{packed} (")
    # Offline from the packed file: --updates counts the run; the run folder says which data it learned from.
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "--dataset", str(packed), "--updates", "150", "--save-trainer", "--out", str(a),
                 "--no-progress", *TINY_SETS]) == 0
    assert {p.name for p in a.iterdir()} == {"policy.pt", "trainer.pt", "config.json", "metrics.json"}
    config, metrics = (json.loads((a / name).read_text()) for name in ("config.json", "metrics.json"))
    assert config["env"] == "dpedu/Detour-v0" and config["dataset"]["n_episodes"] == 4
    assert (metrics["n_updates"], metrics["env_steps"]) == (150, 0)
    assert main(["train", "--resume", str(a / "trainer.pt"), "--updates", "100", "--out", str(a),
                 "--no-progress"]) == 0
    assert main(["train", "--dataset", str(data), "--updates", "250", "--save-every", "100", "--out", str(b),
                 "--no-progress", *TINY_SETS]) == 0
    resumed, straight = (torch.load(d / "policy.pt", weights_only=True)["model"] for d in (a, b))
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)
    assert json.loads((a / "metrics.json").read_text())["n_updates"] == 250


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--dataset", "{data}", "--total-timesteps", "100"], "give --updates N"),
        (["train", "--dataset", "{data}"], "--dataset needs --updates N"),
        (["train", "--updates", "100"], "--updates counts gradient updates on a dataset: give --dataset PATH"),
        (["train", "--dataset", "{data}", "--updates", "9", "--resume", "x.pt"], "the checkpoint holds its data"),
        (["train", "--dataset", "{data}", "--updates", "9", "--env", "Pendulum-v1"],
         "holds demonstrations of dpedu/Detour-v0"),
        (["train", "--dataset", "{tmp}/missing.zarr", "--updates", "9"], "no such dataset directory"),
        (["train", "--resume", "{run}/trainer.pt", "--total-timesteps", "100", "--out", "{run}"],
         "learns from a dataset: give --updates N"),
        (["dataset", "record", "--env", "MountainCarContinuous-v0", "--episodes", "2", "--out", "{tmp}/m.zarr"],
         "no built-in demonstrator"),
        (["dataset", "record", "--env", "dpedu/Detour-v0", "--episodes", "0", "--out", "{tmp}/m.zarr"],
         "must be >= 1"),
        (["dataset", "pack", "{data}", "{tmp}/d.zip"], "must end in .zarr.zip"),
        (["dataset", "info", "{tmp}/nothing.zarr"], "no such dataset directory"),
        (["dataset"], "the following arguments are required"),
    ],
)
def test_bad_dataset_arguments_exit_with_usage(args, message, capsys, tmp_path, offline_run):
    data, run = offline_run
    with pytest.raises(SystemExit) as exit_info:
        main([a.replace("{tmp}", str(tmp_path)).replace("{data}", str(data)).replace("{run}", str(run))
              for a in args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and message in err, err


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    """A Detour dataset and an offline run folder with trainer.pt."""
    tmp = tmp_path_factory.mktemp("offline")
    from dpedu.datasets import record

    record("dpedu/Detour-v0", tmp / "d.zarr", 2, progress=False)
    assert main(["train", "--dataset", str(tmp / "d.zarr"), "--updates", "5", "--save-trainer", "--out",
                 str(tmp / "run"), "--no-progress", *TINY_SETS]) == 0
    return tmp / "d.zarr", tmp / "run"


def test_ctrl_c_offline_then_the_printed_command_equals_one_run(tmp_path):
    """Offline too: Ctrl-C leaves a resumable run and prints the command (with --updates) that finishes it."""
    import shlex

    import torch
    from test_reliability_cli import SETS, Row, communicate, dpedu

    from dpedu.datasets import record

    record("Pendulum-v1", tmp_path / "p.zarr", 2, progress=False)
    run = ["train", "--dataset", "p.zarr", "--updates", "1000", *SETS]
    status, _, err = communicate(dpedu(*run, "--out", "a", cwd=tmp_path), signal.SIGINT, Row.after, tmp_path)
    assert status == 130 and "Traceback" not in err, err
    command = re.search(r"resume with:\n  (dpedu train .*)", err).group(1)
    assert re.fullmatch(r"dpedu train --resume \S*a/trainer\.pt --updates \d+ --save-trainer --out \S*a", command)
    status, _, err = communicate(dpedu(*shlex.split(command)[1:], "--no-progress", cwd=tmp_path), None, "", tmp_path)
    assert status == 0, err
    status, _, err = communicate(dpedu(*run, "--out", "b", "--no-progress", cwd=tmp_path), None, "", tmp_path)
    assert status == 0, err
    resumed, straight = (torch.load(tmp_path / d / "policy.pt", weights_only=True)["model"] for d in "ab")
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)


def test_ctrl_c_while_recording_then_the_same_command_goes_on(tmp_path):
    """Ctrl-C during `dataset record` stops at an episode's end (exit 130, no traceback); the same command again
    finishes the dataset, which is then the one an uninterrupted command writes, byte for byte."""
    from test_reliability_cli import communicate, dpedu

    command = ["dataset", "record", "--env", "Pendulum-v1", "--episodes", "60"]
    status, _, err = communicate(dpedu(*command, "--out", "a.zarr", cwd=tmp_path), signal.SIGINT,
                                 r"record Pendulum-v1: +\d+%.*\| *[1-9]\d*/60", tmp_path)
    assert status == 130 and "Traceback" not in err and "the same record() call (or command) again" in err, err
    from dpedu.datasets import Demonstrations

    assert 0 < Demonstrations.open(tmp_path / "a.zarr").n_episodes < 60
    for out in ("a.zarr", "b.zarr"):
        status, _, err = communicate(dpedu(*command, "--out", out, "--no-progress", cwd=tmp_path), None, "", tmp_path)
        assert status == 0, err
    files = {d: {p.relative_to(tmp_path / d): p.read_bytes() for p in (tmp_path / d).rglob("*") if p.is_file()}
             for d in ("a.zarr", "b.zarr")}
    assert files["a.zarr"] == files["b.zarr"]
