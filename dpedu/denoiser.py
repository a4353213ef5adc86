"""The noise-prediction network eps_theta(x_t, t, obs).

Input: a noisy action chunk x_t (B, H, act_dim), its timestep t (B,), the observation window
obs (B, To, obs_dim), all normalised. Output: the predicted noise, (B, H, act_dim).

The timestep enters through a sinusoidal embedding (Vaswani et al. 2017, as in DDPM), so nearby t
look alike and the network can still tell t = 3 from t = 4.

How the observation conditions the network, two choices:
    "concat"  [x_t, obs, emb(t)] flattened into one vector, fed to an MLP.
    "film"    the MLP sees x_t; every hidden layer is modulated by (obs, emb(t)) as h * (1 + gamma) + beta
              (FiLM, Perez et al. 2018; Chi et al. use it in their conv U-Net).
For Pendulum's tiny inputs both learn the task; the package default is chosen by measurement (README).
"""

from __future__ import annotations

import math

import torch
from torch import nn

CONDITIONINGS = ("concat", "film")


class SinusoidalEmbedding(nn.Module):
    """emb(t) = [sin(t w_0), ..., sin(t w_{d/2-1}), cos(t w_0), ...],  w_k = 10000^(-k / (d/2 - 1))."""

    def __init__(self, dim: int):
        super().__init__()
        if dim < 4 or dim % 2:
            raise ValueError(f"embedding dim must be even and >= 4, got {dim}")
        half = dim // 2
        freqs = torch.exp(-math.log(10_000.0) * torch.arange(half) / (half - 1))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.float()[:, None] * self.freqs[None, :]  # (B, dim/2)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)  # (B, dim)


class Denoiser(nn.Module):
    """eps_theta(x_t, t, obs) as an MLP with SiLU activations.

    Args:
        act_dim, action_horizon: shape (H, act_dim) of an action chunk.
        obs_dim, obs_horizon: shape (To, obs_dim) of an observation window.
        hidden_dim, n_layers: width and number of hidden layers.
        conditioning: "concat" or "film" (module docstring).
        time_dim: size of the timestep embedding.
    """

    def __init__(
        self,
        act_dim: int,
        action_horizon: int,
        obs_dim: int,
        obs_horizon: int,
        hidden_dim: int = 256,
        n_layers: int = 3,
        conditioning: str = "concat",
        time_dim: int = 32,
    ):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        self.act_shape = (action_horizon, act_dim)
        self.conditioning = conditioning
        self.time_embedding = SinusoidalEmbedding(time_dim)
        x_size, cond_size = action_horizon * act_dim, obs_horizon * obs_dim + time_dim
        first_in = x_size + cond_size if conditioning == "concat" else x_size
        sizes = [first_in] + [hidden_dim] * n_layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = nn.SiLU()
        if conditioning == "film":
            # One (gamma, beta) pair per hidden layer, all predicted at once from the condition.
            self.film = nn.Sequential(nn.Linear(cond_size, hidden_dim), nn.SiLU(),
                                      nn.Linear(hidden_dim, 2 * hidden_dim * n_layers))
        self.out = nn.Linear(hidden_dim, x_size)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        B = x_t.shape[0]
        x = x_t.reshape(B, -1)  # (B, H * act_dim)
        cond = torch.cat([obs.reshape(B, -1), self.time_embedding(t)], dim=-1)  # (B, To * obs_dim + time_dim)
        if self.conditioning == "concat":
            h = torch.cat([x, cond], dim=-1)
            for layer in self.layers:
                h = self.act(layer(h))
        else:
            gammas_betas = self.film(cond).chunk(2 * len(self.layers), dim=-1)
            h = x
            for i, layer in enumerate(self.layers):
                gamma, beta = gammas_betas[2 * i], gammas_betas[2 * i + 1]
                h = self.act(layer(h) * (1 + gamma) + beta)
        return self.out(h).reshape(B, *self.act_shape)  # (B, H, act_dim)
