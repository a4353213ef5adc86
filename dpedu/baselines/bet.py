"""Behaviour transformers' action representation (BET, Shafiullah et al., NeurIPS 2022): k-means bins of actions plus
a per-bin offset. Notebook 10.

Before training, the demonstrated chunks are clustered into K bins by k-means; every chunk A^0 then has a bin
b(A^0) (its nearest centre c_b) and an offset A^0 - c_b. The network reads the observation window and predicts,
for every bin, a probability and an offset:

    b(A^0)  = argmin_b || A^0 - c_b ||                      the chunk's bin (its nearest k-means centre)
    loss    = focal(logits(O), b(A^0)) + lambda || offset_b(A^0)(O) - (A^0 - c_b(A^0)) ||^2
    focal   = -(1 - p_b)^gamma log p_b                      (Lin et al. 2017; BET's choice, gamma = 2)
    acting:   b ~ softmax(logits(O)),  A = c_b + offset_b(O)

The bins make the distribution multimodal (a categorical over K plans), the offsets make it precise. The number of
bins is fixed in advance (n_bins), as the GMM's components are.

Two departures from BET, both to compare representations rather than trunks: the bins are over whole chunks
(D = H * act_dim numbers, one bin per plan shape, as the rest of dpedu plans chunks) rather than single actions, and
the trunk is the residual MLP every method here uses rather than a minGPT over the observation history. The offset
loss's weight lambda is 1000, Chi et al.'s BET configuration: the offsets are small (a mean squared offset of ~1e-3
in normalised units), and with weight 1 the bin's classification drowns them (on the toy, the offsets then
recovered nothing of what the bins miss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dpedu.networks.mlp import ResidualMLP

FOCAL_GAMMA = 2.0  # BET's focal-loss gamma
OFFSET_LOSS_SCALE = 1000.0  # Chi et al.'s BET configuration (its comment: "actions are very small")


def nearest(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centre (K, D) for every row of x (N, D) -> (N,)."""
    return torch.cdist(x, centres).argmin(dim=1)


def kmeans(x: torch.Tensor, k: int, n_iterations: int = 50, generator: torch.Generator | None = None) -> torch.Tensor:
    """k centres (k, D) of the rows of x (N, D): k-means++ seeding (Arthur & Vassilvitskii 2007), then Lloyd's
    iterations (assign each row to its nearest centre, move each centre to the mean of its rows). A centre that
    loses all its rows stays where it is."""
    if x.shape[0] < k:
        raise ValueError(f"k-means needs at least k={k} chunks to make k bins, got {x.shape[0]}")
    centres = x[torch.randint(x.shape[0], (1,), generator=generator, device=x.device)]
    for _ in range(1, k):  # each next centre drawn in proportion to the squared distance to the nearest so far
        d2 = torch.cdist(x, centres).min(dim=1).values ** 2
        centres = torch.cat([centres, x[torch.multinomial(d2 + 1e-12, 1, generator=generator)]])
    for _ in range(n_iterations):
        assigned = nearest(x, centres)
        counts = torch.bincount(assigned, minlength=k)  # (k,)
        sums = torch.zeros_like(centres).index_add_(0, assigned, x)
        moved = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centres)
        if torch.equal(moved, centres):
            break
        centres = moved
    return centres


class BinnedActionNetwork(nn.Module):
    """BET's head on the residual MLP: logits over K bins and an offset per bin; its loss and its sample.

    Args:
        act_dim, action_horizon, obs_dim, obs_horizon, hidden_dim, n_layers: as the denoiser's.
        n_bins: K, the k-means bins of demonstrated chunks (fit_bins sets them before training).
    """

    def __init__(self, act_dim: int, action_horizon: int, obs_dim: int, obs_horizon: int, hidden_dim: int = 256,
                 n_layers: int = 2, n_bins: int = 32):
        super().__init__()
        self.act_shape, self.n_bins = (action_horizon, act_dim), n_bins
        self.D = action_horizon * act_dim
        self.register_buffer("centres", torch.zeros(n_bins, self.D))  # c_1..c_K, saved with the weights
        self.register_buffer("fitted", torch.tensor(False))
        self.net = ResidualMLP(obs_horizon * obs_dim, n_bins * (1 + self.D), hidden_dim, n_layers)

    def fit_bins(self, a0: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """The bins: k-means centres of demonstrated chunks a0 (N, H, act_dim), normalised."""
        self.centres.copy_(kmeans(a0.reshape(a0.shape[0], -1), self.n_bins, generator=generator))
        self.fitted.fill_(True)

    def heads(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs (B, To, obs_dim) -> logits (B, K), offsets (B, K, D)."""
        B, K = obs.shape[0], self.n_bins
        logits, offsets = self.net(obs.reshape(B, -1)).split([K, K * self.D], dim=-1)
        return logits, offsets.reshape(B, K, self.D)

    def loss(self, obs: torch.Tensor, a0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Focal loss on the chunk's bin + squared error of that bin's offset (module docstring)."""
        self._check_fitted()
        a = a0.reshape(a0.shape[0], -1)  # (B, D)
        b = nearest(a, self.centres)  # (B,)
        logits, offsets = self.heads(obs)
        log_p = F.log_softmax(logits, dim=-1).gather(1, b[:, None])[:, 0]  # log p_b, (B,)
        focal = -((1 - log_p.exp()) ** FOCAL_GAMMA * log_p).mean()
        offset = offsets[torch.arange(a.shape[0], device=a.device), b]  # (B, D), the demonstrated bin's
        return focal + OFFSET_LOSS_SCALE * F.mse_loss(offset, a - self.centres[b])

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A plan per window (B, H, act_dim): b ~ softmax(logits), then c_b + offset_b."""
        self._check_fitted()
        logits, offsets = self.heads(obs)
        b = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)[:, 0]  # (B,)
        a = self.centres[b] + offsets[torch.arange(obs.shape[0], device=obs.device), b]
        return a.reshape(-1, *self.act_shape).clamp(-1, 1)

    def _check_fitted(self) -> None:
        if not bool(self.fitted):
            raise RuntimeError("BET's bins are not fitted: call fit_bins(demonstrated chunks) before training "
                               "(the Trainer does, at its first update)")
