"""dpedu: Diffusion Policy (Chi et al., RSS 2023) on DDPM (Ho et al., 2020), built to be read and run.

    from dpedu import Trainer
    trainer = Trainer("diffusion", env="Pendulum-v1", seed=42, config={"n_diffusion_steps": 50})
    metrics = trainer.train(total_timesteps=50_000)

Reading order (the algorithm, in the order the course teaches it; each module's docstring names its notebook):

    diffusion/schedule.py   betas, alpha_bars, q(x^k | x^0)                          notebook 01
    diffusion/sampler.py    the reverse step: x0_pred, the posterior, DDPM and DDIM  notebooks 02, 06
    diffusion/flow.py       flow matching: the straight path, Euler steps, reflow   notebook 12
    networks/               eps_theta(x^k, k, obs): MLP, temporal U-Net, transformer notebooks 02, 04, 07, 11
    envs/                   the tasks and the demonstrators that make the data       notebooks 03, 05
    data.py                 the window rule, the normaliser, the FIFO buffer         notebook 03
    trainer.py              collect, the DDPM loss, the update, the EMA              notebook 04
    policy.py               obs queue -> sampler -> chunk -> receding horizon        notebooks 03-07
    baselines/              regression, a Gaussian mixture, IBC, BET: what DP beat   notebooks 02, 04, 05, 10
    evaluate.py             rollouts: returns, success, smoothness, latency          notebooks 04, 05, 07, 11

Around it, for use rather than reading: config.py (every hyperparameter, PRESETS), stats.py (intervals and
standard errors), cli.py (python -m dpedu), runtime/ (checkpoint files, torchrun, Ctrl-C, progress, the loss log,
the device) and course/ (the notebooks' plots, animations, widgets and the 2-D toy task).

`import dpedu` registers dpedu/Detour-v0 with gymnasium and imports the rest when first used.

Glossary, code name: the papers' symbol (Chi et al.'s A_t^k: t environment time, k the diffusion step).
    k: the diffusion step, 0..K (K = n_diffusion_steps); k = 0 is the clean sample, x^K (almost) pure noise
    t: environment (control) time only: observation o_t, action a_t, window O_t = o_{t-T_o+1..t}, chunk A_t
    x_k, a_k: the noisy chunk x^k (A^k, A_t^k) after k noising steps     x0, a0: the clean chunk x^0 (A^0)
    schedule.alpha_bars[k]: \\bar\\alpha_k = prod_{i<=k} (1 - beta_i), alpha_bar_0 = 1     eps: epsilon ~ N(0, I)
    model(x_k, k, obs): eps_theta(x^k, k, O_t), the noise prediction (x^0's with prediction_type "sample")
    x0_pred: \\hat x^0     alpha_ks, beta_ks: alpha_{k|s}, beta_{k|s} of a step k -> s     sigma: its noise scale
    FiLM: h <- gamma(c) h + b(c) (code: scale, bias; b, not beta, which is the schedule's)
    obs_horizon: T_o     action_horizon: H (T_p in Chi et al.)     n_action_steps: T_a (executed per plan)
"""

__version__ = "0.1.0"

import importlib

import gymnasium

# The built-in task, registered on `import dpedu` by name: gymnasium imports dpedu.envs.detour only when
# gym.make asks for it (max_episode_steps is dpedu.envs.detour.MAX_EPISODE_STEPS; a test checks they agree).
gymnasium.register(id="dpedu/Detour-v0", entry_point="dpedu.envs.detour:DetourEnv", max_episode_steps=100)
# The same task under position control (the action is the position to go to; notebook 11).
gymnasium.register(id="dpedu/DetourPosition-v0", entry_point="dpedu.envs.detour:DetourEnv", max_episode_steps=100,
                   kwargs={"control": "position"})
# Push-T (Chi et al.'s benchmark, gym-pusht's physics) with the paper's low-dimensional observation; 300 steps as in
# gym-pusht and Chi et al. (dpedu.envs.pusht.MAX_EPISODE_STEPS; the same test checks it).
gymnasium.register(id="dpedu/PushT-v0", entry_point="dpedu.envs.pusht:PushTEnv", max_episode_steps=300)

# The public API, imported when first used (PEP 562): `import dpedu` stays light (no torch), and
# `import dpedu.config` loads nothing but the config.
_PUBLIC = {"DPConfig": "dpedu.config", "DiffusionPolicy": "dpedu.policy", "Trainer": "dpedu.trainer",
           "load_policy": "dpedu.trainer"}


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value  # once imported, a plain attribute
        return value
    raise AttributeError(f"module 'dpedu' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


__all__ = ["DPConfig", "DiffusionPolicy", "Trainer", "__version__", "load_policy"]
