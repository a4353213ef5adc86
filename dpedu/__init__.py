"""dpedu: Diffusion Policy (Chi et al., RSS 2023) on DDPM (Ho et al., 2020), built to be read and run.

    from dpedu import Trainer
    trainer = Trainer("diffusion", env="Pendulum-v1", seed=42, config={"n_diffusion_steps": 50})
    metrics = trainer.train(total_timesteps=50_000)

Reading order (the algorithm, in the order the course teaches it; each module's docstring names its notebook):

    diffusion/schedule.py   betas, alpha_bars, q(x_t | x_0)                          notebook 01
    diffusion/sampler.py    the reverse step: x0_pred, the posterior, DDPM and DDIM  notebooks 02, 06
    networks/               eps_theta(x_t, t, obs): the MLP, the temporal U-Net      notebooks 02, 04, 07
    envs/                   the tasks and the demonstrators that make the data       notebooks 03, 05
    data.py                 the window rule, the normaliser, the FIFO buffer         notebook 03
    trainer.py              collect, the DDPM loss, the update, the EMA              notebook 04
    policy.py               obs queue -> sampler -> chunk -> receding horizon        notebooks 03-07
    baselines.py            the regression (MSE behaviour cloning) baseline          notebooks 02, 04, 05
    evaluate.py             rollouts: returns, success, smoothness                   notebooks 04, 05, 07

Around it, for use rather than reading: config.py (every hyperparameter, PRESETS), cli.py (python -m dpedu),
runtime/ (checkpoint files, torchrun, Ctrl-C, progress, the loss log) and course/ (the notebooks' plots,
animations, widgets and the 2-D toy task).

Glossary, code name: the paper's symbol.
    x_t, a_t: the noisy action chunk after diffusion step t                   t: the diffusion step, 0..T-1
    x0, a0: the clean chunk, x_{-1} in the notebooks (alpha_bar_{-1} = 1; Ho et al. number 1..T and call it x_0)
    alpha_bar_t: \\bar\\alpha_t = prod_{i<=t} (1 - beta_i)                       eps: epsilon ~ N(0, I)
    eps_theta / model(x_t, t, obs): the noise prediction epsilon_theta        x0_pred: \\hat x_{-1}
    alpha_ts, beta_ts: alpha_{t|s}, beta_{t|s} of a respaced step t -> s       sigma: the step's noise scale
    obs_horizon: T_o     action_horizon: H (T_p in Chi et al.)     n_action_steps: T_a (executed per plan)
"""

__version__ = "0.1.0"

import importlib  # noqa: E402

import dpedu.envs  # noqa: E402,F401  registers dpedu/Detour-v0 with gymnasium: `import dpedu` is enough to gym.make it

# The classes load on first use (PEP 562), so that `dpedu --help` answers without importing torch.
_LAZY = {"DPConfig": "dpedu.config", "DiffusionPolicy": "dpedu.policy", "Trainer": "dpedu.trainer"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dpedu' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = ["DPConfig", "DiffusionPolicy", "Trainer", "__version__"]
