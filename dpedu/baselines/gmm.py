"""A mixture-density policy: a Gaussian mixture over the action chunk (Bishop 1994; the "GMM" of Mandlekar et al.'s
LSTM-GMM, the first baseline in Chi et al.'s Table 1). Notebook 10.

One network reads the observation window O and outputs, for each of M components, a weight, a mean and a diagonal
standard deviation over the whole flattened chunk A (D = H * act_dim numbers):

    p(A | O) = sum_m  pi_m(O) N(A; mu_m(O), diag sigma_m(O)^2)
    loss     = -log p(A^0 | O)                       the negative log-likelihood of the demonstrated chunk

    log p(A | O) = logsumexp_m [ log pi_m + sum_d ( -(A_d - mu_md)^2 / (2 sigma_md^2) - log sigma_md - log(2 pi) / 2 ) ]

It represents several modes at once (one component per side of an obstacle), which regression cannot. What it
cannot do well: the number of modes is fixed in advance (n_components, robomimic's default 5), and each component is
a single Gaussian over all D numbers of the chunk.

Acting (robomimic's "low-noise evaluation", which Chi et al.'s LSTM-GMM runs): draw a component m ~ pi(O) and
return its mean mu_m(O); the within-component noise, fit to demonstrators' jitter, is left out.

Mandlekar et al. read the observation window with an LSTM; we use the same residual MLP as every other method in
dpedu (dpedu.networks.mlp.ResidualMLP over the flattened window), so the comparison is about the output
distribution, not the trunk. sigma = softplus(.) + 1e-4, robomimic's floor, so the likelihood stays finite.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dpedu.networks.mlp import ResidualMLP

MIN_STD = 1e-4  # robomimic's min_std: sigma never reaches 0, so log p stays finite


class MixtureDensityNetwork(nn.Module):
    """pi(O), mu(O), sigma(O) of an M-component Gaussian mixture over chunks (B, H, act_dim); loss and sample.

    Args:
        act_dim, action_horizon: shape (H, act_dim) of a chunk; obs_dim, obs_horizon: of a window.
        hidden_dim, n_layers: the residual MLP's width and depth (as the denoiser's).
        n_components: M, the mixture's components.
    """

    def __init__(self, act_dim: int, action_horizon: int, obs_dim: int, obs_horizon: int, hidden_dim: int = 256,
                 n_layers: int = 2, n_components: int = 5):
        super().__init__()
        self.act_shape, self.n_components = (action_horizon, act_dim), n_components
        self.D = action_horizon * act_dim
        self.net = ResidualMLP(obs_horizon * obs_dim, n_components * (1 + 2 * self.D), hidden_dim, n_layers)

    def mixture(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """obs (B, To, obs_dim) -> log pi (B, M), mu (B, M, D), sigma (B, M, D)."""
        B, M, D = obs.shape[0], self.n_components, self.D
        out = self.net(obs.reshape(B, -1))
        logits, mu, raw_std = out.split([M, M * D, M * D], dim=-1)
        return F.log_softmax(logits, dim=-1), mu.reshape(B, M, D), F.softplus(raw_std).reshape(B, M, D) + MIN_STD

    def log_prob(self, obs: torch.Tensor, a0: torch.Tensor) -> torch.Tensor:
        """log p(A^0 | O) (B,) for chunks a0 (B, H, act_dim): the module docstring's formula."""
        log_pi, mu, sigma = self.mixture(obs)
        a = a0.reshape(a0.shape[0], 1, self.D)  # (B, 1, D) against every component
        log_normal = (-0.5 * ((a - mu) / sigma) ** 2 - sigma.log() - 0.5 * math.log(2 * math.pi)).sum(-1)  # (B, M)
        return torch.logsumexp(log_pi + log_normal, dim=-1)

    def loss(self, obs: torch.Tensor, a0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """-log p(A^0 | O), averaged over the batch."""
        return -self.log_prob(obs, a0).mean()

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A plan per window (B, H, act_dim): m ~ pi(O), then mu_m(O) (low-noise evaluation)."""
        log_pi, mu, _ = self.mixture(obs)
        m = torch.multinomial(log_pi.exp(), 1, generator=generator)  # (B, 1)
        a0 = mu.gather(1, m[..., None].expand(-1, 1, self.D))[:, 0]  # (B, D)
        return a0.reshape(-1, *self.act_shape).clamp(-1, 1)
