"""eps_theta(x^k, k, obs) as a residual MLP, the course's default denoiser. Notebooks 02 and 04.

Input: a noisy action chunk x^k (B, H, act_dim), its diffusion step k (B,) in 1..K, the observation window
obs (B, To, obs_dim), all normalised. Output: the predicted noise, (B, H, act_dim).

How the observation conditions the network, two choices (config key "conditioning"):
    "concat"  h = W_in [x^k, obs, emb(k)]: everything flattened into one input vector.
    "film"    h = W_in x^k, and every block is modulated by c = (obs, emb(k)) as z (1 + gamma(c)) + b(c)
              (FiLM, Perez et al. 2018; Chi et al.'s U-Net conditions this way).
Measured on Pendulum (docs/results.md, "Design choices, measured"): concat learns faster per update and per
second, so it is the default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dpedu.config import CONDITIONINGS
from dpedu.networks.embedding import SinusoidalEmbedding


class ResidualBlock(nn.Module):
    """h + W2 silu(W1 LayerNorm(h)), optionally FiLM-modulated: W1 LayerNorm(h) (1 + gamma) + b.

    The pre-norm residual form keeps every block close to the identity at initialisation, so the
    gradient reaches the first layers undiminished. At learning_rate 1e-4 it reaches expert-level returns
    where a plain MLP of the same width is still at random level (docs/results.md, "Design choices, measured").
    """

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, h: torch.Tensor, film: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        z = self.fc1(self.norm(h))
        if film is not None:
            scale, bias = film  # gamma(c), b(c)
            z = z * (1 + scale) + bias
        return h + self.fc2(F.silu(z))


class MLPDenoiser(nn.Module):
    """eps_theta(x^k, k, obs): a residual MLP.

        concat:  h = W_in [x^k, obs, emb(k)];  h = block(h), n_layers times;  eps = W_out LayerNorm(h)
        film:    h = W_in x^k;                  h = block(h, FiLM(obs, emb(k))), n_layers times;  ...

    Args:
        act_dim, action_horizon: shape (H, act_dim) of an action chunk.
        obs_dim, obs_horizon: shape (To, obs_dim) of an observation window.
        hidden_dim, n_layers: width and number of residual blocks.
        conditioning: "concat" or "film" (module docstring).
        time_dim: size of the diffusion-step embedding.
    """

    def __init__(self, act_dim: int, action_horizon: int, obs_dim: int, obs_horizon: int, hidden_dim: int = 256,
                 n_layers: int = 2, conditioning: str = "concat", time_dim: int = 32):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        self.act_shape = (action_horizon, act_dim)
        self.conditioning = conditioning
        self.time_embedding = SinusoidalEmbedding(time_dim)
        x_size, cond_size = action_horizon * act_dim, obs_horizon * obs_dim + time_dim
        self.inp = nn.Linear(x_size + cond_size if conditioning == "concat" else x_size, hidden_dim)
        self.blocks = nn.ModuleList(ResidualBlock(hidden_dim) for _ in range(n_layers))
        if conditioning == "film":
            # One (gamma, b) pair per block, all predicted at once from the condition.
            self.film = nn.Sequential(nn.Linear(cond_size, hidden_dim), nn.SiLU(),
                                      nn.Linear(hidden_dim, 2 * hidden_dim * n_layers))
        self.out_norm = nn.LayerNorm(hidden_dim)
        self.out = nn.Linear(hidden_dim, x_size)

    def forward(self, x_k: torch.Tensor, k: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        B = x_k.shape[0]
        x, obs = x_k.reshape(B, -1), obs.reshape(B, -1)  # (B, H * act_dim), (B, To * obs_dim)
        emb = self.time_embedding(k)  # (B, time_dim)
        if self.conditioning == "concat":
            h = self.inp(torch.cat([x, obs, emb], dim=-1))  # (B, hidden_dim)
            for block in self.blocks:
                h = block(h)
        else:
            films = self.film(torch.cat([obs, emb], dim=-1)).chunk(2 * len(self.blocks), dim=-1)
            h = self.inp(x)
            for i, block in enumerate(self.blocks):
                h = block(h, (films[2 * i], films[2 * i + 1]))
        return self.out(self.out_norm(h)).reshape(B, *self.act_shape)  # (B, H, act_dim)


class ResidualMLP(nn.Module):
    """x (B, in_dim) -> W_in -> n_layers residual blocks -> LayerNorm -> W_out -> (B, out_dim).

    The trunk every baseline shares (dpedu/baselines/): the denoiser's residual MLP without x^k and k, so every
    method gets the same network and only its output and loss differ.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int = 256, n_layers: int = 2):
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden_dim)
        self.blocks = nn.ModuleList(ResidualBlock(hidden_dim) for _ in range(n_layers))
        self.out_norm = nn.LayerNorm(hidden_dim)
        self.out = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)  # (B, hidden_dim)
        for block in self.blocks:
            h = block(h)
        return self.out(self.out_norm(h))  # (B, out_dim)


class MLPRegressor(ResidualMLP):
    """The regression baseline's network, A = f(obs): the same residual MLP without the inputs x^k and k.

    obs (B, To, obs_dim) -> ResidualMLP -> (B, H, act_dim).
    """

    def __init__(self, act_dim: int, action_horizon: int, obs_dim: int, obs_horizon: int, hidden_dim: int = 256,
                 n_layers: int = 2):
        super().__init__(obs_horizon * obs_dim, action_horizon * act_dim, hidden_dim, n_layers)
        self.act_shape = (action_horizon, act_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return super().forward(obs.reshape(obs.shape[0], -1)).reshape(-1, *self.act_shape)  # (B, H, act_dim)
