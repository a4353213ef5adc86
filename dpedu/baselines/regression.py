"""The regression baseline: behaviour cloning with a mean-squared-error loss on the same data and network.
Notebooks 02 (the toy task), 04 (Pendulum) and 05 (Detour).

A regression policy f(obs window) -> action chunk is trained to minimise

    loss = || A_t - f(O_t) ||^2       (A_t the demonstrated action chunk, O_t its observation window),

whose minimiser is the conditional mean  f*(O_t) = E[A_t | O_t]. Where the demonstrations are unimodal
that is exactly the right action. Where they are not, it is the average of the modes, which may be no
demonstration at all. The Pendulum demonstrator, at rest at the bottom, pushes with +2 N·m in half the
episodes and -2 N·m in the other half (dpedu.envs.pendulum), so regression trained on swing-ups from rest
learns to push with about 0 N·m there: the one action that never starts a swing. A diffusion policy
learns p(A_t | O_t) and samples one push or the other. (Pendulum-v1's random starts rarely begin at
rest, so on the Trainer's data the demonstrations are nearly unimodal and regression is a strong
baseline: notebook 04 measures both.)

The network is the denoiser's residual MLP without the noisy chunk A^k and the diffusion step k (same
hidden_dim, n_layers: dpedu.networks.mlp.MLPRegressor). Two ways to train it:
  * `Trainer("regression", env=...)`: RegressionNetwork (its loss and its "sample", the prediction itself) in the
    Trainer's loop, like every method (dpedu/baselines/__init__.py);
  * `train_regression(trainer.buffer, ...)`: on a diffusion trainer's very buffer (fit_regression: the same
    AdamWithEMA, a cosine-decayed learning rate), acting through RegressionPolicy; notebooks 04, 05 and 08 do this.
Either acts with the same receding horizon as DiffusionPolicy (obs queue padded at reset, n_action_steps of each plan).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dpedu.config import DPConfig
from dpedu.data import Normalizer, ReplayBuffer
from dpedu.networks import build_regressor
from dpedu.networks.mlp import MLPRegressor
from dpedu.policy import RecedingHorizon
from dpedu.update import AdamWithEMA, fit


def regression_loss(model: nn.Module, obs: torch.Tensor, a0: torch.Tensor) -> torch.Tensor:
    """Behaviour cloning's loss || A - f(obs) ||^2 (a0: the demonstrated chunk A, normalised); its minimiser is the
    conditional mean E[A | obs]."""
    return F.mse_loss(model(obs), a0)


class RegressionNetwork(MLPRegressor):
    """The regression method as the Trainer runs it: f(O) (B, H, act_dim), its loss, and its plan (f(O) itself)."""

    def loss(self, obs: torch.Tensor, a0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return regression_loss(self, obs, a0)

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The plan: the conditional mean, the same for every call (no randomness to draw), clipped to the action
        limits [-1, 1] as RegressionPolicy and the diffusion samplers clip."""
        return self(obs).clamp(-1, 1)


def fit_regression(model: nn.Module, sample_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
                   n_updates: int, learning_rate: float) -> list[float]:
    """The regression trainer every regression network in dpedu uses (this module's and the toy task's).

    n_updates of Adam with a cosine-decayed learning rate (the AdamWithEMA the diffusion models train with) on
    regression_loss(model, obs, a0), each on a fresh batch (obs, a0) = sample_batch(). Returns the loss of
    every update; the model is trained in place.
    """
    updater = AdamWithEMA(model, learning_rate, decay_steps=n_updates)
    return fit(updater, lambda obs, a0: regression_loss(model, obs, a0), sample_batch, n_updates)


def train_regression(buffer: ReplayBuffer, obs_normalizer: Normalizer, act_normalizer: Normalizer,
                     config: DPConfig, n_updates: int = 3000, learning_rate: float = 1e-3,
                     seed: int = 0) -> tuple[nn.Module, list[float]]:
    """Fit the regression network (config's width, depth and horizons) with the MSE loss on windows from `buffer`.

    Batches are drawn as the Trainer draws them (config.batch_size, same window rule), in the normalised
    units the diffusion model sees; fit_regression trains. Returns (model in eval mode, loss of every update).
    """
    if buffer.frames is not None:
        raise ValueError("the regression baseline reads observation vectors; this buffer holds camera frames (a "
                         "pixel baseline is not implemented)")
    obs_dim, act_dim = buffer.obs.shape[1], buffer.act.shape[1]
    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the global RNG
        torch.manual_seed(seed)
        model = build_regressor(config, obs_dim, act_dim).to(buffer.device)
    generator = torch.Generator(buffer.device).manual_seed(seed)

    def sample_batch():
        obs, actions = buffer.sample(config.batch_size, config.obs_horizon, config.action_horizon, generator)
        return obs_normalizer.normalize(obs), act_normalizer.normalize(actions)

    losses = fit_regression(model, sample_batch, n_updates, learning_rate)
    return model.eval(), losses


class RegressionPolicy:
    """A regression network acting like DiffusionPolicy: obs history -> one chunk -> n_action_steps actions.

    act(obs (obs_dim,)) -> (act_dim,), or obs (N, obs_dim) -> (N, act_dim), env units.
    """

    def __init__(self, model: nn.Module, obs_normalizer: Normalizer, act_normalizer: Normalizer,
                 obs_horizon: int, n_action_steps: int = 1):
        self.model, self.obs_normalizer, self.act_normalizer = model.eval(), obs_normalizer, act_normalizer
        self.obs_horizon, self.n_action_steps = obs_horizon, n_action_steps
        self.reset()

    def reset(self) -> None:
        """Start of an episode: forget the observation history and the planned actions."""
        self._queue = RecedingHorizon(self.obs_horizon, self.n_action_steps)

    def act(self, obs) -> np.ndarray:
        """Next action(s); re-plans from the last obs_horizon observations when the plan runs out."""
        obs = np.asarray(obs, dtype=np.float32)
        action = self._queue.act(obs[None] if obs.ndim == 1 else obs, self.predict_chunk)
        return action[0] if obs.ndim == 1 else action

    @torch.no_grad()
    def predict_chunk(self, obs_history) -> np.ndarray:
        """obs_history (N, To, obs_dim) -> the plan (N, H, act_dim), env units."""
        device = self.obs_normalizer.low.device
        obs = torch.as_tensor(np.asarray(obs_history), dtype=torch.float32, device=device)
        a0 = self.model(self.obs_normalizer.normalize(obs)).clamp(-1, 1)  # the torque limits, as clip_sample does
        return self.act_normalizer.unnormalize(a0).cpu().numpy()
