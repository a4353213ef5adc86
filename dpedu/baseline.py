"""The regression baseline: behaviour cloning with a mean-squared-error loss on the same data and network.

A regression policy f(obs window) -> action chunk is trained to minimise

    loss = || a_0 - f(obs) ||^2,

whose minimiser is the conditional mean  f*(obs) = E[a_0 | obs]. Where the demonstrations are unimodal
that is exactly the right action. Where they are not, it is the average of the modes, which may be no
demonstration at all. The Pendulum demonstrator, at rest at the bottom, pushes with +2 N·m in half the
episodes and -2 N·m in the other half (dpedu.experts), so regression trained on swing-ups from rest
learns to push with about 0 N·m there: the one action that never starts a swing. A diffusion policy
learns p(a_0 | obs) and samples one push or the other. (Pendulum-v1's random starts rarely begin at
rest, so on the Trainer's data the demonstrations are nearly unimodal and regression is a strong
baseline: notebook 04 measures both.)

The network is the Denoiser's residual MLP without the noisy actions x_t and the timestep t (same
hidden_dim, n_layers), trained on the Trainer's own buffer and normalisers, and it acts with the same
receding horizon as DiffusionPolicy (obs queue padded at reset, n_action_steps of each plan).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dpedu.config import DPConfig
from dpedu.data import Normalizer, ReplayBuffer
from dpedu.denoiser import ResidualBlock
from dpedu.policy import ActionQueue


class Regressor(nn.Module):
    """a_0 = f(obs): obs (B, To, obs_dim) -> W_in -> residual blocks -> LayerNorm -> W_out -> (B, H, act_dim).

    The Denoiser's network (dpedu.denoiser) without its inputs x_t and t.
    """

    def __init__(self, obs_dim: int, obs_horizon: int, act_dim: int, action_horizon: int, hidden_dim: int = 256,
                 n_layers: int = 3):
        super().__init__()
        self.act_shape = (action_horizon, act_dim)
        self.inp = nn.Linear(obs_horizon * obs_dim, hidden_dim)
        self.blocks = nn.ModuleList(ResidualBlock(hidden_dim) for _ in range(n_layers))
        self.out_norm = nn.LayerNorm(hidden_dim)
        self.out = nn.Linear(hidden_dim, action_horizon * act_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = self.inp(obs.reshape(obs.shape[0], -1))  # (B, hidden_dim)
        for block in self.blocks:
            h = block(h)
        return self.out(self.out_norm(h)).reshape(-1, *self.act_shape)  # (B, H, act_dim)


def train_regression(buffer: ReplayBuffer, obs_normalizer: Normalizer, act_normalizer: Normalizer,
                     config: DPConfig, n_updates: int = 3000, learning_rate: float = 1e-3,
                     seed: int = 0) -> tuple[Regressor, list[float]]:
    """Fit a Regressor (config's width, depth and horizons) with the MSE loss on windows from `buffer`.

    Batches are drawn as the Trainer draws them (config.batch_size, same window rule), in the normalised
    units the diffusion model sees. Adam with a cosine-decayed learning rate. Returns (model in eval mode,
    loss of every update).
    """
    obs_dim, act_dim = buffer.obs.shape[1], buffer.act.shape[1]
    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the global RNG
        torch.manual_seed(seed)
        model = Regressor(obs_dim, config.obs_horizon, act_dim, config.action_horizon, config.hidden_dim,
                          config.n_layers).to(buffer.device)
    generator = torch.Generator(buffer.device).manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    lr_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=n_updates)
    losses = []
    for _ in range(n_updates):
        obs, actions = buffer.sample(config.batch_size, config.obs_horizon, config.action_horizon, generator)
        loss = F.mse_loss(model(obs_normalizer.normalize(obs)), act_normalizer.normalize(actions))  # ||a_0 - f(obs)||^2
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr_schedule.step()
        losses.append(loss.item())
    return model.eval(), losses


class RegressionPolicy:
    """A Regressor acting like DiffusionPolicy: obs history -> one (deterministic) chunk -> n_action_steps actions.

    act(obs (obs_dim,)) -> (act_dim,), or obs (N, obs_dim) -> (N, act_dim), env units.
    """

    def __init__(self, model: Regressor, obs_normalizer: Normalizer, act_normalizer: Normalizer,
                 obs_horizon: int, n_action_steps: int = 1):
        self.model, self.obs_normalizer, self.act_normalizer = model.eval(), obs_normalizer, act_normalizer
        self.obs_horizon, self.n_action_steps = obs_horizon, n_action_steps
        self.reset()

    def reset(self) -> None:
        """Start of an episode: forget the observation history and the planned actions."""
        self._queue = ActionQueue(self.obs_horizon, self.n_action_steps)

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
