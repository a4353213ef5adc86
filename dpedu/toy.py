r"""A 2-D task with two equally good answers, where regression (behaviour cloning) fails and diffusion does not.

A point robot starts near START (the observation) and must reach GOAL with a path of H waypoints. A round
obstacle of radius OBSTACLE_RADIUS sits at the origin, between them. Every demonstration goes around it,
LEFT or RIGHT with equal probability, and the start point says nothing about which:

                 GOAL (0, 0.9)
                /    \
               /  __  \
       LEFT   |  /  \  |   RIGHT       obstacle: radius 0.4 at (0, 0)
               \ \__/ /
                \    /
                 START (0, -0.9) + jitter

    waypoint k = line(start -> goal at u_k) + side * bulge * sin(pi u_k) along x,   u_k = (k + 1) / H

so the data of one observation are two clusters of paths. A regression policy trained with MSE learns the
conditional mean E[x_0 | obs], the average of the two clusters: a path straight through the obstacle.
A diffusion policy learns the whole distribution p(x_0 | obs) and samples one of the two clusters.

All coordinates lie in [-1, 1], the range the samplers clip x0_pred to, so no normaliser is needed.
Shapes: obs (B, 1, 2) (a one-step observation window), trajectories x_0 (B, H, 2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from dpedu.denoiser import Denoiser, ResidualBlock
from dpedu.sampler import Sampler
from dpedu.schedule import NoiseSchedule

START = (0.0, -0.9)
GOAL = (0.0, 0.9)
OBSTACLE_RADIUS = 0.4
HORIZON = 8
LEFT, RIGHT = -1, 1


class ToyData(NamedTuple):
    """Demonstrations of the toy task: obs (N, 1, 2) start points, traj (N, H, 2) waypoints, side (N,) -1 | +1."""

    obs: torch.Tensor
    traj: torch.Tensor
    side: torch.Tensor


def make_dataset(n: int = 1000, horizon: int = HORIZON, seed: int = 0, start_jitter: float = 0.1,
                 bulge: float = 0.75, noise: float = 0.01) -> ToyData:
    """n demonstrations, half LEFT and half RIGHT in expectation, drawn from a torch.Generator seeded with `seed`.

    Args:
        start_jitter: each start coordinate is START + U(-start_jitter, start_jitter).
        bulge: how far (m) a path swings sideways half-way; varies by +-10% per path.
        noise: standard deviation of independent noise on every waypoint coordinate.
    """
    g = torch.Generator().manual_seed(seed)
    start = torch.tensor(START) + start_jitter * (2 * torch.rand(n, 2, generator=g) - 1)  # (N, 2)
    side = torch.where(torch.rand(n, generator=g) < 0.5, LEFT, RIGHT)  # (N,)
    swing = side * bulge * (1 + 0.1 * (2 * torch.rand(n, generator=g) - 1))  # (N,)
    u = torch.arange(1, horizon + 1) / horizon  # (H,) progress along the path; u = 1 is the goal
    goal = torch.tensor(GOAL)
    traj = start[:, None, :] + u[None, :, None] * (goal - start)[:, None, :]  # (N, H, 2) the straight line
    traj[..., 0] += swing[:, None] * torch.sin(math.pi * u)[None, :]  # bend it around the obstacle
    traj += noise * torch.randn(n, horizon, 2, generator=g)
    return ToyData(obs=start[:, None, :], traj=traj, side=side)


def side_of(traj: torch.Tensor) -> torch.Tensor:
    """Which way each path goes round the obstacle: LEFT (-1) if its mean x < 0, else RIGHT. (B, H, 2) -> (B,)."""
    return torch.where(traj[..., 0].mean(dim=1) < 0, LEFT, RIGHT)


def hits_obstacle(obs: torch.Tensor, traj: torch.Tensor, radius: float = OBSTACLE_RADIUS) -> torch.Tensor:
    """Whether the polyline start -> waypoint 1 -> ... -> waypoint H enters the obstacle. Returns (B,) bool.

    Waypoints alone could step over the obstacle, so the test is on segments: the point of segment a -> b
    closest to the origin is a + s (b - a), s = clamp(-a.(b - a) / |b - a|^2, 0, 1).
    """
    path = torch.cat([obs.reshape(-1, 1, 2), traj], dim=1)  # (B, H + 1, 2)
    a, ab = path[:, :-1], path[:, 1:] - path[:, :-1]  # (B, H, 2) segment starts and directions
    s = (-(a * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)).clamp(0.0, 1.0)  # (B, H)
    closest = a + s[..., None] * ab
    return closest.norm(dim=-1).amin(dim=1) < radius


def mode_stats(obs: torch.Tensor, traj: torch.Tensor) -> dict[str, float]:
    """Fractions of paths going left, going right, and hitting the obstacle."""
    side = side_of(traj)
    return {"left": (side == LEFT).float().mean().item(), "right": (side == RIGHT).float().mean().item(),
            "hit": hits_obstacle(obs, traj).float().mean().item()}


class Regressor(nn.Module):
    """Behaviour cloning by regression, x_0 = f(obs): the Denoiser's residual MLP without x_t and t.

    obs (B, 1, 2) -> W_in -> n_layers residual blocks -> LayerNorm -> W_out -> x_0 (B, H, 2).
    """

    def __init__(self, horizon: int = HORIZON, hidden_dim: int = 64, n_layers: int = 3):
        super().__init__()
        self.horizon = horizon
        self.inp = nn.Linear(2, hidden_dim)
        self.blocks = nn.ModuleList(ResidualBlock(hidden_dim) for _ in range(n_layers))
        self.out_norm = nn.LayerNorm(hidden_dim)
        self.out = nn.Linear(hidden_dim, horizon * 2)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = self.inp(obs.reshape(obs.shape[0], -1))  # (B, hidden_dim)
        for block in self.blocks:
            h = block(h)
        return self.out(self.out_norm(h)).reshape(-1, self.horizon, 2)  # (B, H, 2)


def make_denoiser(horizon: int = HORIZON, hidden_dim: int = 64, n_layers: int = 3, seed: int = 0) -> Denoiser:
    """eps_theta(x_t, t, obs) for the toy task: x_t (B, H, 2), t (B,), obs (B, 1, 2); weights seeded by `seed`."""
    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the global RNG
        torch.manual_seed(seed)
        return Denoiser(act_dim=2, action_horizon=horizon, obs_dim=2, obs_horizon=1, hidden_dim=hidden_dim,
                        n_layers=n_layers)


def make_regressor(horizon: int = HORIZON, hidden_dim: int = 64, n_layers: int = 3, seed: int = 0) -> Regressor:
    """The regression baseline, same width and depth as make_denoiser; weights seeded by `seed`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Regressor(horizon, hidden_dim, n_layers)


def diffusion_loss(model: nn.Module, schedule: NoiseSchedule, obs: torch.Tensor, x0: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """The DDPM loss on one batch (Ho et al. 2020, Algorithm 1): obs (B, 1, 2), x0 (B, H, 2).

        t ~ U{0..T-1},  eps ~ N(0, I),  x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
        loss = || eps - eps_theta(x_t, t, obs) ||^2
    """
    t = torch.randint(0, schedule.n_steps, (x0.shape[0],), generator=generator)  # (B,)
    eps = torch.randn(x0.shape, generator=generator)  # (B, H, 2)
    x_t = schedule.add_noise(x0, t, eps)
    return F.mse_loss(model(x_t, t, obs), eps)


def regression_loss(model: nn.Module, obs: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """Behaviour cloning's loss || x_0 - f(obs) ||^2; its minimiser is the conditional mean E[x_0 | obs]."""
    return F.mse_loss(model(obs), x0)


def fit(model: nn.Module, loss_fn: Callable, data: ToyData, n_updates: int = 1000, batch_size: int = 256,
        lr: float = 2e-3, seed: int = 0) -> list[float]:
    """Adam with a cosine-decayed learning rate on minibatches of `data`; returns the loss of every update.

    loss_fn(model, obs, x0, generator) -> scalar loss; batches and the loss's own noise share one
    torch.Generator seeded with `seed`, so a run is reproducible.
    """
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    lr_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=n_updates)
    losses = []
    for _ in range(n_updates):
        idx = torch.randint(0, len(data.obs), (batch_size,), generator=g)
        loss = loss_fn(model, data.obs[idx], data.traj[idx], g)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr_schedule.step()
        losses.append(loss.item())
    return losses


def train_diffusion(data: ToyData, schedule: NoiseSchedule, hidden_dim: int = 64, seed: int = 0,
                    **fit_kwargs) -> tuple[Denoiser, list[float]]:
    """A Denoiser trained with the DDPM loss on `data`. Returns (model in eval mode, loss per update)."""
    model = make_denoiser(data.traj.shape[1], hidden_dim, seed=seed)
    losses = fit(model, lambda m, obs, x0, g: diffusion_loss(m, schedule, obs, x0, g), data, seed=seed, **fit_kwargs)
    return model.eval(), losses


def train_regression(data: ToyData, hidden_dim: int = 64, seed: int = 0,
                     **fit_kwargs) -> tuple[Regressor, list[float]]:
    """A Regressor trained with MSE on `data`. Returns (model in eval mode, loss per update)."""
    model = make_regressor(data.traj.shape[1], hidden_dim, seed=seed)
    losses = fit(model, lambda m, obs, x0, g: regression_loss(m, obs, x0), data, seed=seed, **fit_kwargs)
    return model.eval(), losses


def sample_diffusion(model: nn.Module, sampler: Sampler, obs: torch.Tensor, seed: int = 0,
                     return_trajectory: bool = False):
    """Paths for start points obs (B, 1, 2): x_0 (B, H, 2), or (x_0, every visited x_t (S + 1, B, H, 2))."""
    g = torch.Generator().manual_seed(seed)
    shape = (obs.shape[0], model.act_shape[0], 2)
    return sampler.sample(model, shape, obs, generator=g, return_trajectory=return_trajectory)


@torch.no_grad()
def predict_regression(model: Regressor, obs: torch.Tensor) -> torch.Tensor:
    """The regression policy's path for each start point: obs (B, 1, 2) -> (B, H, 2)."""
    return model(obs)
