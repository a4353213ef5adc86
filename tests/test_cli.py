"""python -m dpedu: train writes its three files, evaluate prints one JSON line, bad arguments exit 2."""

import json

import pytest

from dpedu.cli import main


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
    assert main(["evaluate", str(out / "policy.pt"), "--episodes", "3", "--no-baselines"]) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert len(result["returns"]) == 3 and result["n_episodes"] == 3


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
    ],
)
def test_bad_arguments_exit_with_usage(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
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
