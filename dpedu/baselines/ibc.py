"""Implicit behaviour cloning (IBC, Florence et al., CoRL 2021): an energy over (observation, action chunk), trained
with the InfoNCE loss against counter-examples, acted by derivative-free optimisation. Notebook 10.

Instead of outputting an action, the network scores one: E_theta(O, A) is low for the demonstrated chunk and high
elsewhere, and the policy picks argmin_A E_theta(O, A). That represents any number of modes (several wells).

Training (Florence et al., eq. 2-3). For each demonstrated pair (O, A^0), draw N counter-examples A~_1..A~_N
uniformly in the action bounds ([-1, 1] after normalisation) and treat the N + 1 chunks as a classification:

    p(A^0 | O, {A~_j}) = exp(-E(O, A^0)) / ( exp(-E(O, A^0)) + sum_j exp(-E(O, A~_j)) )
    loss (InfoNCE)     = -log p(A^0 | O, {A~_j})          cross-entropy, the demonstrated chunk at index 0

The sum over counter-examples estimates the normalising constant Z(O) = integral exp(-E(O, A)) dA, which cannot be
computed; Chi et al. (sec. 2.2, "implicit policies") trace IBC's training instability to this estimate: with few
counter-examples in a large action space (here D = H * act_dim dimensions) the estimate is poor, and the energy
can be low where no counter-example landed. Diffusion learns the score, grad_A log p, in which Z disappears.

Acting (Florence et al., Algorithm 1, derivative-free optimisation): start from n_samples uniform chunks; each
iteration resamples them in proportion to exp(-E) and perturbs them with Gaussian noise whose scale shrinks; return
the lowest-energy sample. (IBC's defaults: noise 0.33, shrink 0.5, 3 iterations; its 16 384 samples are 1 024 here,
a CPU.) The energy network is the residual MLP every method in dpedu uses, reading [O, A] flattened.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from dpedu.networks.mlp import ResidualMLP


def info_nce_loss(energy: torch.Tensor) -> torch.Tensor:
    """-log softmax(-E)_0 averaged over the batch, for energies (B, 1 + N) with the demonstrated chunk first."""
    return F.cross_entropy(-energy, torch.zeros(energy.shape[0], dtype=torch.long, device=energy.device))


def derivative_free_optimisation(energy: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...],
                                 n_samples: int = 1024, n_iterations: int = 3, noise_scale: float = 0.33,
                                 noise_shrink: float = 0.5, generator: torch.Generator | None = None,
                                 device=None) -> torch.Tensor:
    """argmin_A energy(A) for B problems at once (Florence et al., Algorithm 1).

    energy: maps candidates (B, n_samples, *shape) to energies (B, n_samples). Returns (B, *shape) in [-1, 1].
    shape: (B, *chunk_shape), the B first.
    """
    B, chunk = shape[0], shape[1:]
    a = torch.rand((B, n_samples, *chunk), generator=generator, device=device) * 2 - 1  # uniform in the bounds
    sigma = noise_scale
    for _ in range(n_iterations):
        p = torch.softmax(-energy(a), dim=-1)  # (B, n_samples): resample in proportion to exp(-E)
        idx = torch.multinomial(p, n_samples, replacement=True, generator=generator)  # (B, n_samples)
        a = a[torch.arange(B, device=a.device)[:, None], idx]
        a = (a + sigma * torch.randn(a.shape, generator=generator, device=a.device)).clamp(-1, 1)
        sigma *= noise_shrink
    best = energy(a).argmin(dim=-1)  # (B,)
    return a[torch.arange(B, device=a.device), best]


class EnergyNetwork(nn.Module):
    """E_theta(O, A): a residual MLP over the flattened window and chunk -> one number; its loss and its argmin.

    Args:
        act_dim, action_horizon, obs_dim, obs_horizon, hidden_dim, n_layers: as the denoiser's.
        n_counter_examples: N, uniform counter-examples per demonstrated chunk in the InfoNCE loss.
        n_samples, n_iterations: derivative-free optimisation's population and iterations when acting.
    """

    def __init__(self, act_dim: int, action_horizon: int, obs_dim: int, obs_horizon: int, hidden_dim: int = 256,
                 n_layers: int = 2, n_counter_examples: int = 64, n_samples: int = 1024, n_iterations: int = 3):
        super().__init__()
        self.act_shape = (action_horizon, act_dim)
        self.n_counter_examples, self.n_samples, self.n_iterations = n_counter_examples, n_samples, n_iterations
        self.net = ResidualMLP(obs_horizon * obs_dim + action_horizon * act_dim, 1, hidden_dim, n_layers)

    def energy(self, obs: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """obs (B, To, obs_dim), candidate chunks a (B, N, H, act_dim) -> E (B, N)."""
        B, N = a.shape[:2]
        o = obs.reshape(B, 1, -1).expand(B, N, -1)
        return self.net(torch.cat([o, a.reshape(B, N, -1)], dim=-1).reshape(B * N, -1)).reshape(B, N)

    def loss(self, obs: torch.Tensor, a0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """InfoNCE of the demonstrated chunk a0 (B, H, act_dim) against N uniform counter-examples."""
        B = a0.shape[0]
        counter = torch.rand((B, self.n_counter_examples, *self.act_shape), generator=generator,
                             device=a0.device) * 2 - 1
        candidates = torch.cat([a0[:, None], counter], dim=1)  # (B, 1 + N, H, act_dim), the demonstration first
        return info_nce_loss(self.energy(obs, candidates))

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A plan per window (B, H, act_dim): argmin_A E(O, A) by derivative-free optimisation."""
        return derivative_free_optimisation(lambda a: self.energy(obs, a), (obs.shape[0], *self.act_shape),
                                            self.n_samples, self.n_iterations, generator=generator,
                                            device=obs.device)
