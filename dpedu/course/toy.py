r"""A 2-D task with two equally good answers, where regression (behaviour cloning) fails and diffusion does not.
Notebook 02. It trains with the package's own pieces: the MLP denoiser, `diffusion_loss`, the regression
trainer `fit_regression`, and the `AdamWithEMA` updater every model in dpedu trains with.

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
conditional mean E[x^0 | obs], the average of the two clusters: a path straight through the obstacle.
A diffusion policy learns the whole distribution p(x^0 | obs) and samples one of the two clusters.

All coordinates lie in [-1, 1], the range the samplers clip x0_pred to, so no normaliser is needed.
Shapes: obs (B, 1, 2) (a one-step observation window), clean trajectories x^0 (B, H, 2).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from dpedu.baselines import BASELINES, build_baseline, fit_regression
from dpedu.config import DPConfig
from dpedu.diffusion.flow import EulerSampler, flow_loss
from dpedu.diffusion.sampler import DDPMSampler, Sampler
from dpedu.diffusion.schedule import NoiseSchedule
from dpedu.networks.mlp import MLPDenoiser, MLPRegressor
from dpedu.trainer import AdamWithEMA, diffusion_loss, fit

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


def make_denoiser(horizon: int = HORIZON, hidden_dim: int = 64, n_layers: int = 3, seed: int = 0) -> MLPDenoiser:
    """eps_theta(x^k, k, obs) for the toy task: x^k (B, H, 2), k (B,), obs (B, 1, 2); weights seeded by `seed`."""
    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the global RNG
        torch.manual_seed(seed)
        return MLPDenoiser(act_dim=2, action_horizon=horizon, obs_dim=2, obs_horizon=1, hidden_dim=hidden_dim,
                           n_layers=n_layers)


def make_regressor(horizon: int = HORIZON, hidden_dim: int = 64, n_layers: int = 3, seed: int = 0) -> MLPRegressor:
    """The regression baseline's network, same width and depth as make_denoiser; weights seeded by `seed`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLPRegressor(act_dim=2, action_horizon=horizon, obs_dim=2, obs_horizon=1, hidden_dim=hidden_dim,
                            n_layers=n_layers)


def _batches(data: ToyData, batch_size: int, generator: torch.Generator):
    """sample_batch() -> (obs (B, 1, 2), traj (B, H, 2)): a random minibatch of `data`, drawn with `generator`."""

    def sample_batch():
        idx = torch.randint(0, len(data.obs), (batch_size,), generator=generator)
        return data.obs[idx], data.traj[idx]

    return sample_batch


def train_diffusion(data: ToyData, schedule: NoiseSchedule, hidden_dim: int = 64, seed: int = 0,
                    n_updates: int = 1000, batch_size: int = 256, lr: float = 2e-3) -> tuple[MLPDenoiser, list[float]]:
    """A denoiser trained with the DDPM loss (`dpedu.trainer.diffusion_loss`) on `data`.

    Batches, k and eps share one torch.Generator seeded with `seed`. Returns (model in eval mode, loss per update).
    """
    model, g = make_denoiser(data.traj.shape[1], hidden_dim, seed=seed), torch.Generator().manual_seed(seed)

    def loss_fn(obs, x0):
        return diffusion_loss(model, schedule, obs, x0, generator=g)

    # Adam with a cosine-decayed learning rate: the AdamWithEMA every model in dpedu trains with.
    losses = fit(AdamWithEMA(model, lr, decay_steps=n_updates), loss_fn, _batches(data, batch_size, g), n_updates)
    return model.eval(), losses


def train_regression(data: ToyData, hidden_dim: int = 64, seed: int = 0, n_updates: int = 500,
                     batch_size: int = 256, lr: float = 2e-3) -> tuple[MLPRegressor, list[float]]:
    """A regression network trained with MSE on `data` by dpedu.baselines.fit_regression (the package's one
    regression trainer). Batches share one torch.Generator seeded with `seed`. Returns (model in eval mode, losses)."""
    model, g = make_regressor(data.traj.shape[1], hidden_dim, seed=seed), torch.Generator().manual_seed(seed)
    losses = fit_regression(model, _batches(data, batch_size, g), n_updates, lr)
    return model.eval(), losses


def sample_diffusion(model: nn.Module, sampler: Sampler, obs: torch.Tensor, seed: int = 0,
                     return_trajectory: bool = False):
    """Paths for start points obs (B, 1, 2): the clean x^0 (B, H, 2), or (x^0, every x^k visited (S + 1, B, H, 2)).

    The sampler draws x^K and each step's noise z from one generator seeded with `seed`, in that order.
    """
    g = torch.Generator().manual_seed(seed)
    shape = (obs.shape[0], model.act_shape[0], 2)
    return sampler.sample(model, shape, obs, generator=g, return_trajectory=return_trajectory)


@torch.no_grad()
def predict_regression(model: MLPRegressor, obs: torch.Tensor) -> torch.Tensor:
    """The regression policy's path for each start point: obs (B, 1, 2) -> (B, H, 2)."""
    return model(obs)


# ---------------------------------------------------------------- every method on the toy (notebook 10)

METHODS = ("diffusion", *BASELINES)


def train_method(method: str, data: ToyData, seed: int = 0, n_updates: int = 1000, hidden_dim: int = 64,
                 batch_size: int = 256, lr: float = 2e-3, schedule: NoiseSchedule | None = None,
                 **method_keys) -> tuple[nn.Module, list[float]]:
    """Any method of Trainer's (METHODS) trained on the toy's paths with its own loss, by the same update (Adam, a
    cosine-decayed learning rate) on the same batches as train_diffusion. method_keys: that method's config keys
    (n_components, n_bins, ibc_counter_examples, ...). Returns (model in eval mode, loss per update)."""
    if method == "diffusion":
        return train_diffusion(data, schedule or NoiseSchedule(50, "cosine"), hidden_dim, seed, n_updates,
                               batch_size, lr)
    config = DPConfig(action_horizon=data.traj.shape[1], obs_horizon=1, hidden_dim=hidden_dim, n_layers=3,
                      **method_keys)
    config.check_algorithm(method)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_baseline(method, config, obs_dim=2, act_dim=2)
    g = torch.Generator().manual_seed(seed)
    if hasattr(model, "fit_bins"):  # BET: the bins are k-means centres of the demonstrated paths
        model.fit_bins(data.traj, g)
    losses = fit(AdamWithEMA(model, lr, decay_steps=n_updates), lambda obs, x0: model.loss(obs, x0, g),
                 _batches(data, batch_size, g), n_updates)
    return model.eval(), losses


@torch.no_grad()
def sample_method(method: str, model: nn.Module, obs: torch.Tensor, seed: int = 0,
                  sampler: Sampler | None = None) -> torch.Tensor:
    """One path per start point, obs (B, 1, 2) -> (B, H, 2), from a model train_method made (diffusion: by `sampler`,
    DDPM over all 50 steps by default)."""
    if method == "diffusion":
        return sample_diffusion(model, sampler or DDPMSampler(NoiseSchedule(50, "cosine")), obs, seed)
    return model.sample(obs, torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- flow matching and reflow on the toy (notebook 12)


def train_flow(data: ToyData, seed: int = 0, n_updates: int = 1000, hidden_dim: int = 64, batch_size: int = 256,
               lr: float = 2e-3, teacher: nn.Module | None = None,
               teacher_steps: int = 20) -> tuple[MLPDenoiser, list[float]]:
    """A velocity network v_theta(A^tau, tau, obs) (the denoiser's MLP) trained with `flow_loss` on data's paths, by
    the same update and batches as train_diffusion. With teacher (a trained velocity network): reflow, the same loss
    on the pairs (eps, the teacher's teacher_steps-step Euler answer to eps), starting from the teacher's weights.
    Returns (model in eval mode, loss per update)."""
    model, g = make_denoiser(data.traj.shape[1], hidden_dim, seed=seed), torch.Generator().manual_seed(seed)
    plan = None
    if teacher is not None:
        model.load_state_dict(teacher.state_dict())
        euler = EulerSampler(teacher_steps)

        def plan(eps, obs):
            return euler.sample(teacher, eps.shape, obs, x_K=eps).clone()

    losses = fit(AdamWithEMA(model, lr, decay_steps=n_updates),
                 lambda obs, x0: flow_loss(model, obs, x0, generator=g, teacher=plan),
                 _batches(data, batch_size, g), n_updates)
    return model.eval(), losses


def sample_flow(model: nn.Module, obs: torch.Tensor, n_steps: int, seed: int = 0, return_trajectory: bool = False):
    """Paths for start points obs (B, 1, 2) by n_steps Euler steps from noise drawn with `seed`: (B, H, 2), or with
    return_trajectory also every point visited (n_steps + 1, B, H, 2)."""
    g = torch.Generator().manual_seed(seed)
    shape = (obs.shape[0], model.act_shape[0], 2)
    return EulerSampler(n_steps).sample(model, shape, obs, generator=g, return_trajectory=return_trajectory)
