"""dpedu.toy: the two-mode dataset, its geometry, and the claim notebook 02 makes (diffusion keeps both modes,
regression averages them into the obstacle)."""

import pytest
import torch

from dpedu.course import toy
from dpedu.diffusion.sampler import make_sampler
from dpedu.diffusion.schedule import NoiseSchedule


def test_dataset_shapes_range_and_seed():
    data = toy.make_dataset(300, seed=3)
    assert data.obs.shape == (300, 1, 2) and data.traj.shape == (300, toy.HORIZON, 2) and data.side.shape == (300,)
    assert data.traj.abs().max() <= 1.0 and data.obs.abs().max() <= 1.0  # the samplers clip x0_pred to [-1, 1]
    again = toy.make_dataset(300, seed=3)
    for a, b in zip(data, again):
        assert torch.equal(a, b)
    assert not torch.equal(data.traj, toy.make_dataset(300, seed=4).traj)


def test_dataset_has_two_balanced_modes_that_avoid_the_obstacle():
    data = toy.make_dataset(2000, seed=0)
    assert torch.equal(toy.side_of(data.traj), data.side)
    stats = toy.mode_stats(data.obs, data.traj)
    assert 0.45 < stats["left"] < 0.55 and stats["left"] + stats["right"] == pytest.approx(1.0)
    assert stats["hit"] == 0.0
    # The start point says nothing about the side: the two modes share one distribution of starts.
    left, right = data.obs[data.side == toy.LEFT], data.obs[data.side == toy.RIGHT]
    assert torch.allclose(left.mean(0), right.mean(0), atol=0.01)
    # The average of the two modes, what MSE regression learns, goes through the obstacle.
    assert toy.hits_obstacle(data.obs[:1], data.traj.mean(0, keepdim=True)).item()


def test_hits_obstacle_checks_segments_not_only_waypoints():
    obs = torch.tensor([[[0.0, -0.9]]])
    through = torch.tensor([[[0.0, -0.5], [0.0, 0.0], [0.0, 0.9]]])
    jumps_over = torch.tensor([[[0.0, -0.5], [0.0, 0.5], [0.0, 0.9]]])  # no waypoint inside, a segment is
    around = torch.tensor([[[0.6, -0.5], [0.7, 0.0], [0.6, 0.5]]])
    assert toy.hits_obstacle(obs, through).item()
    assert toy.hits_obstacle(obs, jumps_over).item()
    assert not toy.hits_obstacle(obs, around).item()
    assert toy.side_of(around).item() == toy.RIGHT and toy.side_of(-around).item() == toy.LEFT


def test_fit_is_reproducible():
    data = toy.make_dataset(200, seed=0)
    schedule = NoiseSchedule(20, "cosine")
    _, a = toy.train_diffusion(data, schedule, hidden_dim=16, seed=1, n_updates=20)
    _, b = toy.train_diffusion(data, schedule, hidden_dim=16, seed=1, n_updates=20)
    assert a == b


def test_diffusion_keeps_both_modes_while_regression_collapses():
    data, test = toy.make_dataset(1000, seed=0), toy.make_dataset(300, seed=1)
    schedule = NoiseSchedule(50, "cosine")
    denoiser, losses = toy.train_diffusion(data, schedule, n_updates=600)
    assert sum(losses[-100:]) / 100 < 0.5 * sum(losses[:100]) / 100
    diffusion = toy.mode_stats(test.obs, toy.sample_diffusion(denoiser, make_sampler("ddpm", schedule), test.obs))
    assert diffusion["left"] >= 0.25 and diffusion["right"] >= 0.25, diffusion
    assert diffusion["hit"] < 0.15, diffusion

    regressor, _ = toy.train_regression(data, n_updates=300)
    regression = toy.mode_stats(test.obs, toy.predict_regression(regressor, test.obs))
    assert regression["hit"] > 0.8, regression
