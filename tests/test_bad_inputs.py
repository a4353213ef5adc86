"""Bad input everywhere: one table, each row a bad input, the exception type, and a message naming what was wrong.

Every row's `match` names the offending key or value (and, where there is a short list, what is allowed), so
an error that surfaces from deep inside torch or numpy, or that does not say which input was bad, fails here.
CLI rows (exception SystemExit) must exit with status 2 and print the usage and the message on stderr.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from dpedu import DiffusionPolicy, Trainer
from dpedu.cli import main
from dpedu.config import DPConfig
from dpedu.diffusion.sampler import make_sampler
from dpedu.diffusion.schedule import NoiseSchedule
from dpedu.envs import make_demonstrator
from dpedu.evaluate import evaluate_policy
from dpedu.runtime.checkpoint import policy_state

OBS = np.array([1.0, 0.0, 0.0], dtype=np.float32)


class Pickled:
    """An arbitrary class: a checkpoint holding one is refused by torch.load(weights_only=True)."""


class Context:
    """What a row may need: the tiny trained policy, a temporary folder, checkpoint files made on demand."""

    def __init__(self, trainer, tmp_path):
        self.trainer, self.policy, self.tmp = trainer, trainer.policy, tmp_path

    @property
    def good(self) -> str:
        path = self.tmp / "good.pt"
        if not path.exists():
            self.policy.save(path)
        return str(path)

    def file(self, name: str, data: bytes) -> str:
        (self.tmp / name).write_bytes(data)
        return str(self.tmp / name)

    def torch_file(self, name: str, obj) -> str:
        torch.save(obj, self.tmp / name)
        return str(self.tmp / name)

    def state(self, **changes) -> dict:
        """The policy's checkpoint dict with some entries changed (None: removed)."""
        state = policy_state(self.policy)
        for key, value in changes.items():
            if value is None:
                del state[key]
            else:
                state[key] = value
        return state


def config(**values):
    return lambda c: DPConfig.from_dict(values)


def trainer(**kwargs):
    return lambda c: Trainer(**{"algorithm": "diffusion", "env": "Pendulum-v1", "progress": False, **kwargs})


def load(make_path, **kwargs):
    return lambda c: DiffusionPolicy.load(make_path(c), **kwargs)


def cli(*args):
    return lambda c: main([a(c) if callable(a) else a for a in args])


def good(c):
    return c.good


def train_steps(value, exc=ValueError):
    return (f"train({value!r})", lambda c: c.trainer.train(value), exc,
            rf"total_timesteps must be an int >= 1, got (\w+ )?{re.escape(repr(value))}")


CUDA_MISSING = not torch.cuda.is_available()

# (id, action(context), exception type, regex the message must contain)
ROWS = [
    # ---- config values: types
    ("cfg n_diffusion_steps str", config(n_diffusion_steps="50"), TypeError,
     r"n_diffusion_steps must be of type int, got str '50'"),
    ("cfg hidden_dim bool", config(hidden_dim=True), TypeError, r"hidden_dim must be of type int, got bool True"),
    ("cfg batch_size float", config(batch_size=32.0), TypeError, r"batch_size must be of type int, got float 32.0"),
    ("cfg learning_rate str", config(learning_rate="1e-3"), TypeError, r"learning_rate must be of type float"),
    ("cfg clip_sample str", config(clip_sample="yes"), TypeError, r"clip_sample must be of type bool, got str 'yes'"),
    ("cfg device int", config(device=0), TypeError, r"device must be of type str, got int 0"),
    ("cfg not a dict", lambda c: DPConfig.from_dict([("hidden_dim", 3)]), TypeError,
     r"config must be a dict of hyperparameters, got list"),
    # ---- config values: ranges and choices
    ("cfg n_inference > n_diffusion", config(n_diffusion_steps=20, n_inference_steps=30), ValueError,
     r"n_inference_steps \(30\) must be <= n_diffusion_steps \(20\)"),
    ("cfg action_horizon 0", config(action_horizon=0), ValueError, r"action_horizon must be >= 1, got 0"),
    ("cfg n_action_steps > H", config(n_action_steps=9), ValueError,
     r"n_action_steps \(9\) must be <= action_horizon \(8\)"),
    ("cfg beta_end == beta_start", config(beta_start=0.01, beta_end=0.01), ValueError,
     r"beta_end \(0.01\) must be > beta_start \(0.01\)"),
    ("cfg beta_end < beta_start", config(beta_start=0.02, beta_end=0.001), ValueError,
     r"beta_end \(0.001\) must be > beta_start \(0.02\)"),
    ("cfg learning_rate 0", config(learning_rate=0.0), ValueError,
     r"learning_rate must be a finite number > 0, got 0.0"),
    ("cfg learning_rate < 0", config(learning_rate=-1e-3), ValueError, r"learning_rate must be .* got -0.001"),
    ("cfg learning_rate nan", config(learning_rate=math.nan), ValueError, r"learning_rate must be .* got nan"),
    ("cfg noise_schedule", config(noise_schedule="quadratic"), ValueError,
     r"noise_schedule must be one of \('cosine', 'linear'\), got 'quadratic'"),
    ("cfg unknown key close", config(n_diffusion_step=50), ValueError,
     r"unknown config key 'n_diffusion_step'; did you mean 'n_diffusion_steps'\?"),
    ("cfg unknown key close 2", config(learning_rte=1e-3), ValueError, r"did you mean 'learning_rate'\?"),
    ("cfg unknown key far", config(zzz=1), ValueError, r"unknown config key 'zzz'; valid keys: n_diffusion_steps"),
    ("cfg sampler", config(sampler="euler"), ValueError, r"sampler must be one of \('ddim', 'ddpm'\), got 'euler'"),
    # (checks that belong to a component run when the Trainer builds it, before the buffer is allocated)
    ("Trainer ddim_eta > 1", trainer(config={"sampler": "ddim", "ddim_eta": 1.5}), ValueError,
     r"ddim_eta must be in \[0, 1\], got 1.5"),
    ("Trainer ddim_eta < 0", trainer(config={"sampler": "ddim", "ddim_eta": -0.1}), ValueError,
     r"ddim_eta must be in \[0, 1\], got -0.1"),
    ("cfg ddim_eta with ddpm", config(ddim_eta=0.5), ValueError, r"ddim_eta=0.5 has no effect with sampler='ddpm'"),
    ("cfg device gpu", config(device="gpu"), ValueError, r"device must be 'auto', 'cpu', 'cuda', .* got 'gpu'"),
    ("cfg device cuda:x", config(device="cuda:x"), ValueError, r"device must be .* got 'cuda:x'"),
    ("cfg ema_decay 1", config(ema_decay=1.0), ValueError, r"ema_decay must be in \[0, 1\), got 1.0"),
    ("cfg max_grad_norm 0", config(max_grad_norm=0.0), ValueError, r"max_grad_norm must be None or .* got 0.0"),
    ("Trainer explore_noise < 0", trainer(config={"explore_noise": -0.1}), ValueError,
     r"explore_noise must be a finite number >= 0, got -0.1"),
    ("Trainer explore_noise inf", trainer(config={"explore_noise": math.inf}), ValueError,
     r"explore_noise must be .* got inf"),
    ("demonstrator explore_noise nan", lambda c: make_demonstrator("Pendulum-v1", 0, explore_noise=math.nan),
     ValueError, r"explore_noise must be a finite number >= 0, got nan"),
    ("cfg conditioning", config(conditioning="attention"), ValueError,
     r"conditioning must be one of \('concat', 'film'\), got 'attention'"),
    ("cfg seed negative", config(seed=-1), ValueError, r"seed must be >= 0, got -1"),
    ("Trainer linear schedule underflows", trainer(config={"noise_schedule": "linear", "n_diffusion_steps": 1000,
                                                           "beta_end": 0.5}),
     ValueError,
     r"n_steps=1000, beta_start=0.0001, beta_end=0.5 drives alpha_bar below float32's range.*lower beta_end"),
    # ---- building blocks used on their own (notebooks)
    ("NoiseSchedule kind", lambda c: NoiseSchedule(50, "quadratic"), ValueError,
     r"kind must be one of \('cosine', 'linear'\), got 'quadratic'"),
    ("NoiseSchedule beta_start str", lambda c: NoiseSchedule(50, "linear", beta_start="1e-4"), TypeError,
     r"beta_start must be a float, got str '1e-4'"),
    ("NoiseSchedule underflow", lambda c: NoiseSchedule(1000, "linear", 1e-4, 0.9), ValueError,
     r"n_steps=1000, beta_start=0.0001, beta_end=0.9 drives alpha_bar below float32's range"),
    ("sampler S > K", lambda c: make_sampler("ddim", NoiseSchedule(10), 20), ValueError,
     r"n_inference_steps must be in 1..10 \(the schedule's K\), got 20"),
    ("sampler eta nan", lambda c: make_sampler("ddim", NoiseSchedule(10), 5, eta=math.nan), ValueError,
     r"ddim_eta must be in \[0, 1\], got nan"),
    # ---- Trainer arguments
    ("Trainer algorithm", trainer(algorithm="ppo"), ValueError,
     r"unknown algorithm 'ppo'; available: \('diffusion', 'flow', 'reflow', 'regression', 'gmm', 'ibc', 'bet'\)"),
    ("Trainer env unknown", trainer(env="Pendulum-v9"), ValueError,
     r"unknown environment id 'Pendulum-v9'; did you mean 'Pendulum-v1'"),
    ("Trainer env no demonstrator", trainer(env="MountainCarContinuous-v0"), ValueError,
     r"no built-in demonstrator for env id 'MountainCarContinuous-v0'; supported ids: Pendulum-v1"),
    ("Trainer env discrete", trainer(env="CartPole-v1"), ValueError,
     r"CartPole-v1 has a Discrete action space; .*continuous Box"),
    ("Trainer env not str", trainer(env=None), TypeError, r"env must be a gymnasium id string .* got NoneType"),
    ("Trainer config not dict", trainer(config="fast"), TypeError,
     r"config must be a dict of hyperparameters, got str"),
    ("Trainer config bad value", trainer(config={"noise_schedule": "quadratic"}), ValueError,
     r"noise_schedule must be one of \('cosine', 'linear'\), got 'quadratic'"),
    ("Trainer seed disagrees", trainer(seed=1, config={"seed": 2}), ValueError,
     r"seed=1 and config\['seed'\]=2 disagree"),
    ("Trainer seed negative", trainer(seed=-1), ValueError, r"seed must be >= 0, got -1"),
    ("Trainer seed float", trainer(seed=1.5), TypeError, r"seed must be of type int, got float 1.5"),
    ("Trainer seed str", trainer(seed="3"), TypeError, r"seed must be of type int, got str '3'"),
    # ---- train(total_timesteps)
    train_steps(0), train_steps(-1), train_steps(1.5, TypeError), train_steps("100", TypeError),
    train_steps(True, TypeError),
    # ---- evaluate arguments
    ("evaluate n_episodes 0", lambda c: c.trainer.evaluate(n_episodes=0), ValueError,
     r"n_episodes must be an int >= 1, got 0"),
    ("evaluate n_episodes float", lambda c: c.trainer.evaluate(n_episodes=2.5), ValueError,
     r"n_episodes must be an int >= 1, got 2.5"),
    ("evaluate n_episodes str", lambda c: c.trainer.evaluate(n_episodes="3"), ValueError,
     r"n_episodes must be an int >= 1, got '3'"),
    ("evaluate seed -1", lambda c: c.trainer.evaluate(n_episodes=1, seed=-1), ValueError,
     r"seed must be an int >= 0, got -1"),
    ("evaluate n_envs 0", lambda c: c.trainer.evaluate(n_episodes=1, n_envs=0), ValueError,
     r"n_envs must be an int >= 1, got 0"),
    ("evaluate_policy env shape mismatch", lambda c: evaluate_policy(c.policy, "MountainCarContinuous-v0"), ValueError,
     r"MountainCarContinuous-v0 has observations of shape \(2,\).*trained on Pendulum-v1.*shape \(3,\)"),
    ("evaluate_policy env discrete", lambda c: evaluate_policy(c.policy, "CartPole-v1"), ValueError,
     r"CartPole-v1 has a Discrete action space"),
    # ---- policy inputs
    ("act obs_dim", lambda c: c.policy.act(np.zeros(4)), ValueError,
     r"observation must have shape \(3,\) or \(N, 3\).*got \(4,\)"),
    ("act 3-D", lambda c: c.policy.act(np.zeros((2, 2, 3))), ValueError,
     r"observation must have shape .*got \(2, 2, 3\)"),
    ("act scalar", lambda c: c.policy.act(1.0), ValueError, r"observation must have shape .*got \(\)"),
    ("act empty batch", lambda c: c.policy.act(np.zeros((0, 3))), ValueError, r"N >= 1, got \(0, 3\)"),
    ("act ragged", lambda c: c.policy.act([[1, 2, 3], [1, 2]]), ValueError, r"observation must be .*ragged"),
    ("act strings", lambda c: c.policy.act(np.array(["a", "b", "c"])), TypeError,
     r"observations must be real numbers, got dtype <U1"),
    ("act complex", lambda c: c.policy.act(np.zeros(3, complex)), TypeError,
     r"observations must be real numbers, got dtype complex128"),
    ("act None", lambda c: c.policy.act(None), TypeError, r"observations must be real numbers, got dtype object"),
    ("act nan", lambda c: c.policy.act(np.array([np.nan, 0.0, 0.0])), ValueError, r"observation contains NaN or inf"),
    ("act inf", lambda c: c.policy.act(np.array([[0.0, np.inf, 0.0]])), ValueError, r"observation contains NaN or inf"),
    ("predict_chunk 2-D", lambda c: c.policy.predict_chunk(np.zeros((2, 3))), ValueError,
     r"obs_history must have shape \(N, 2, 3\) .*got \(2, 3\)"),
    ("predict_chunk obs_horizon", lambda c: c.policy.predict_chunk(np.zeros((1, 3, 3))), ValueError,
     r"obs_history must have shape \(N, 2, 3\) .*obs_horizon=2.*got \(1, 3, 3\)"),
    ("predict_chunk empty", lambda c: c.policy.predict_chunk(np.zeros((0, 2, 3))), ValueError,
     r"obs_history must have shape .*N >= 1.*got \(0, 2, 3\)"),
    ("predict_chunk nan", lambda c: c.policy.predict_chunk(np.full((1, 2, 3), np.nan)), ValueError, r"NaN or inf"),
    ("predict_chunk strings", lambda c: c.policy.predict_chunk(np.full((1, 2, 3), "x")), TypeError,
     r"real numbers, got dtype <U1"),
    # denoise (the notebooks' plotting call) checks its windows as predict_chunk does: a window cut for another
    # obs_horizon used to reach the network and fail there as a matrix-shape error.
    ("denoise obs_horizon", lambda c: c.policy.denoise(np.zeros((1, 1, 3)), n_samples=4), ValueError,
     r"obs_history must have shape \(N, 2, 3\) .*obs_horizon=2.*got \(1, 1, 3\)"),
    ("denoise nan", lambda c: c.policy.denoise(np.full((1, 2, 3), np.nan)), ValueError, r"NaN or inf"),
    ("configure fixed key", lambda c: c.policy.configure(hidden_dim=8), ValueError,
     r"\['hidden_dim'\] are fixed by the trained weights; configure\(\) can change \['clip_sample'"),
    ("configure unknown key", lambda c: c.policy.configure(n_inference_step=3), ValueError,
     r"unknown config key 'n_inference_step'; did you mean 'n_inference_steps'\?"),
    ("configure n_inference_steps", lambda c: c.policy.configure(n_inference_steps=500), ValueError,
     r"n_inference_steps \(500\) must be <= n_diffusion_steps \(20\)"),
    ("configure sampler", lambda c: c.policy.configure(sampler="euler"), ValueError,
     r"sampler must be one of \('ddim', 'ddpm'\), got 'euler'"),
    ("configure ddim_eta > 1", lambda c: c.policy.configure(sampler="ddim", ddim_eta=1.5), ValueError,
     r"ddim_eta must be in \[0, 1\], got 1.5"),
    ("configure n_action_steps 0", lambda c: c.policy.configure(n_action_steps=0), ValueError,
     r"n_action_steps must be >= 1, got 0"),
    ("configure seed str", lambda c: c.policy.configure(seed="1"), TypeError, r"seed must be of type int, got str '1'"),
    ("reset seed negative", lambda c: c.policy.reset(seed=-1), ValueError, r"seed must be None or an int >= 0, got -1"),
    ("reset seed float", lambda c: c.policy.reset(seed=1.5), ValueError, r"seed must be None or an int >= 0, got 1.5"),
    # ---- checkpoint files
    ("load missing", load(lambda c: c.tmp / "missing.pt"), FileNotFoundError, r"missing.pt: no such checkpoint file"),
    ("load directory", load(lambda c: c.tmp), FileNotFoundError, r"is a directory, not a checkpoint file"),
    ("load empty", load(lambda c: c.file("empty.pt", b"")), ValueError,
     r"empty.pt: not a readable dpedu checkpoint \(the file is empty\)"),
    ("load truncated", load(lambda c: c.file("truncated.pt", open(c.good, "rb").read()[:1000])), ValueError,
     r"truncated.pt: not a readable dpedu checkpoint \(truncated, corrupt"),
    ("load random bytes", load(lambda c: c.file("random.pt", np.random.default_rng(0).bytes(4096))), ValueError,
     r"random.pt: not a readable dpedu checkpoint"),
    ("load text", load(lambda c: c.file("notes.pt", b"hello")), ValueError,
     r"notes.pt: not a readable dpedu checkpoint"),
    ("load pickled class", load(lambda c: c.torch_file("code.pt", {"format": "dpedu.policy", "x": Pickled()})),
     ValueError, r"code.pt: not a readable dpedu checkpoint .*Unsupported global"),
    ("load foreign dict", load(lambda c: c.torch_file("foreign.pt", {"weights": torch.zeros(3)})), ValueError,
     r"foreign.pt: not a dpedu.policy checkpoint \(found format None\)"),
    ("load foreign tensor", load(lambda c: c.torch_file("tensor.pt", torch.zeros(3))), ValueError,
     r"tensor.pt: not a dpedu.policy checkpoint \(found format 'Tensor'\)"),
    ("load newer version", load(lambda c: c.torch_file("future.pt", c.state(format_version=99))), ValueError,
     r"future.pt: checkpoint format version 99 is newer than this dpedu reads \(<= 1\); written by dpedu"),
    ("load version not int", load(lambda c: c.torch_file("v.pt", c.state(format_version="1"))), ValueError,
     r"v.pt: checkpoint has no valid format_version .* found '1'"),
    ("load no version", load(lambda c: c.torch_file("nov.pt", c.state(format_version=None))), ValueError,
     r"nov.pt: checkpoint has no valid format_version .* found None"),
    ("load weights vs config", load(lambda c: c.torch_file(
        "shape.pt", c.state(config={**c.policy.config.to_dict(), "hidden_dim": 64}))), ValueError,
     r"shape.pt: checkpoint content is inconsistent: the weights do not fit the network its config describes: "
     r"size mismatch for inp.weight"),
    ("load missing weights", load(lambda c: c.torch_file("noweights.pt", c.state(model=None))), ValueError,
     r"noweights.pt: checkpoint content is inconsistent: missing entry 'model'"),
    ("load config not dict", load(lambda c: c.torch_file("nocfg.pt", c.state(config=[1]))), ValueError,
     r"nocfg.pt: checkpoint content is inconsistent: 'config' must be a dict"),
    ("load config bad key", load(lambda c: c.torch_file("badkey.pt", c.state(
        config={**c.policy.config.to_dict(), "hiden_dim": 3}))), ValueError,
     r"badkey.pt: checkpoint content is inconsistent: unknown config key 'hiden_dim'"),
    ("load normaliser shape", load(lambda c: c.torch_file("norm.pt", c.state(
        obs_normalizer={"low": torch.zeros(5), "high": torch.ones(3)}))), ValueError,
     r"norm.pt: checkpoint content is inconsistent: low and high must be 1-D of one shape"),
    ("load device gpu", load(good, device="gpu"), ValueError, r"device must be .* got 'gpu'"),
    # ---- command line: exit 2, usage and the message on stderr
    ("cli --set without =", cli("train", "--set", "hidden_dim"), SystemExit,
     r"--set expects key=value, got 'hidden_dim'"),
    ("cli --set unknown key", cli("train", "--set", "n_diffusion_step=5"), SystemExit,
     r"unknown config key 'n_diffusion_step'; did you mean 'n_diffusion_steps'"),
    ("cli --set bad int", cli("train", "--set", "hidden_dim=abc"), SystemExit,
     r"--set hidden_dim=abc: hidden_dim must be int"),
    ("cli --set bad float", cli("train", "--set", "learning_rate=fast"), SystemExit,
     r"--set learning_rate=fast: learning_rate must be float"),
    ("cli --set bad bool", cli("train", "--set", "clip_sample=maybe"), SystemExit, r"clip_sample must be bool"),
    ("cli --set bad choice", cli("train", "--total-timesteps", "10", "--set", "noise_schedule=quadratic"), SystemExit,
     r"noise_schedule must be one of \('cosine', 'linear'\), got 'quadratic'"),
    ("cli --set seed -1", cli("train", "--total-timesteps", "10", "--set", "seed=-1"), SystemExit,
     r"seed must be >= 0, got -1"),
    ("cli --total-timesteps 0", cli("train", "--total-timesteps", "0"), SystemExit,
     r"argument --total-timesteps: must be >= 1, got 0"),
    ("cli --total-timesteps abc", cli("train", "--total-timesteps", "abc"), SystemExit,
     r"argument --total-timesteps: invalid positive_int value: 'abc'"),
    ("cli train discrete env", cli("train", "--total-timesteps", "10", "--env", "CartPole-v1"), SystemExit,
     r"CartPole-v1 has a Discrete action space"),
    ("cli train --out is a file", cli("train", "--total-timesteps", "10", "--out", lambda c: c.file("f.txt", b"x")),
     SystemExit, r"--out .*f.txt: exists and is not a directory"),
    ("cli evaluate missing", cli("evaluate", lambda c: str(c.tmp / "missing.pt")), SystemExit,
     r"missing.pt: no such checkpoint file"),
    ("cli evaluate truncated", cli("evaluate", lambda c: c.file("cut.pt", open(c.good, "rb").read()[:300])),
     SystemExit, r"cut.pt: not a readable dpedu checkpoint"),
    ("cli evaluate --seed -1", cli("evaluate", good, "--seed", "-1"), SystemExit, r"--seed must be >= 0, got -1"),
    ("cli evaluate --episodes 0", cli("evaluate", good, "--episodes", "0"), SystemExit,
     r"argument --episodes: must be >= 1, got 0"),
    ("cli evaluate --set fixed", cli("evaluate", good, "--set", "hidden_dim=8"), SystemExit,
     r"\['hidden_dim'\] are fixed by the trained weights"),
    ("cli evaluate --device", cli("evaluate", good, "--device", "gpu"), SystemExit, r"device must be .* got 'gpu'"),
    ("cli evaluate --env mismatch", cli("evaluate", good, "--env", "MountainCarContinuous-v0"), SystemExit,
     r"--env MountainCarContinuous-v0: MountainCarContinuous-v0 has observations of shape \(2,\)"),
    ("cli evaluate --env unknown", cli("evaluate", good, "--env", "Pendulum-v9"), SystemExit,
     r"--env Pendulum-v9: unknown environment id 'Pendulum-v9'"),
]
if CUDA_MISSING:
    ROWS.append(("load device cuda without CUDA", load(good, device="cuda"), ValueError,
                 r"device 'cuda' asked for, but torch sees no CUDA device"))


@pytest.mark.parametrize("action, exc, match", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_names_what_was_wrong(action, exc, match, tiny_trainer, tmp_path, capsys):
    context = Context(tiny_trainer, tmp_path)
    config_before = context.policy.config
    if exc is SystemExit:
        with pytest.raises(SystemExit) as info:
            action(context)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert re.search(r"usage: (python -m )?dpedu", err), err
        assert re.search(match, err), f"{match!r} not in stderr:\n{err}"
    else:
        with pytest.raises(exc, match=match):
            action(context)
    # A rejected input changes nothing: the shared policy keeps its settings and still acts.
    assert tiny_trainer.policy.config == config_before
    tiny_trainer.policy.reset()
    assert tiny_trainer.policy.act(OBS).shape == (1,)


def test_the_table_is_big_enough():
    assert len(ROWS) >= 40
    assert len({r[0] for r in ROWS}) == len(ROWS)  # unique ids
