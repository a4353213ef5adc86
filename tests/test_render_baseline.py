"""Fast tests of dpedu.course.pendulum (drawings, rollouts, GIFs) and dpedu.baselines (regression BC)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from dpedu.baselines import RegressionPolicy, train_regression
from dpedu.course import pendulum as render
from dpedu.course import policy_plots
from dpedu.envs import make_demonstrator
from dpedu.evaluate import rollout_returns
from dpedu.networks.mlp import MLPRegressor


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_obs_state_round_trip_and_wrap():
    theta, theta_dot = render.state_from_obs(render.obs_from_state(2.5, -1.0))
    assert np.isclose(theta, 2.5) and np.isclose(theta_dot, -1.0)
    assert np.allclose(render.angle_normalize([0.0, 2 * np.pi + 0.1, -np.pi - 0.1]), [0.0, 0.1, np.pi - 0.1])


def test_record_rollouts_matches_rollout_returns():
    """Same seeds, same policy: the recorded rewards sum to evaluate.rollout_returns' returns."""
    rollouts = render.record_rollouts(make_demonstrator("Pendulum-v1", seed=0), n_episodes=3, seed=5)
    expected = rollout_returns(make_demonstrator("Pendulum-v1", seed=0), "Pendulum-v1", n_episodes=3, seed=5)
    assert [len(r.theta) for r in rollouts] == [200] * 3
    assert np.allclose([r.ret for r in rollouts], expected, atol=1e-3)
    r = rollouts[0]
    assert r.obs.shape == (200, 3) and r.action.shape == r.reward.shape == r.theta_dot.shape == (200,)
    assert np.allclose(render.state_from_obs(r.obs)[0], r.theta, atol=1e-5)  # obs and state agree
    assert np.all(np.abs(r.theta) <= np.pi)


def test_demonstrator_swings_both_ways_from_rest():
    rollouts = render.record_rollouts(make_demonstrator("Pendulum-v1", seed=1), n_episodes=10,
                                      init_state=(np.pi, 0.0))
    assert all(np.allclose(r.obs[0], render.obs_from_state(np.pi, 0.0)) for r in rollouts)
    assert {r.direction for r in rollouts} == {-1, 1}
    assert all(np.cos(r.theta[-20:]).min() > 0.95 for r in rollouts), "every swing-up should end upright"


def test_draw_pendulum_geometry():
    fig, ax = plt.subplots()
    artists = render.draw_pendulum(ax, np.pi / 2, action=2.0)
    x, y = artists["rod"].get_data()
    assert np.allclose([x[1], y[1]], [-1.0, 0.0], atol=1e-9)  # theta = pi/2: counter-clockwise, bob on the left
    full = np.ptp(artists["arc"].get_xdata())
    render.set_pendulum(artists, 0.0, action=0.5)
    assert np.allclose(artists["rod"].get_data()[1], [0.0, 1.0])
    assert np.ptp(artists["arc"].get_xdata()) < full  # a smaller torque draws a shorter arrow
    render.set_pendulum(artists, 0.0, action=None)
    assert len(artists["arc"].get_xdata()) == 0  # no torque, no arrow
    render.set_pendulum(artists, 0.0, action=0.04)  # 2% of the limit: below what an arrow can show honestly
    assert len(artists["arc"].get_xdata()) == 0 and np.ptp(artists["head"].get_xy()) == 0.0


def test_plots_have_titles_and_labels():
    rollouts = render.record_rollouts(make_demonstrator("Pendulum-v1", seed=0), n_episodes=2,
                                      init_state=(np.pi, 0.0))
    figs = [render.plot_phase_portrait(rollouts), render.plot_swing_ups(rollouts),
            policy_plots.plot_timing_diagram(obs_horizon=2, action_horizon=8, n_action_steps=4)]
    for fig in figs:
        for ax in fig.axes:
            assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_timing_diagram_boxes_follow_the_index_rule():
    fig = policy_plots.plot_timing_diagram(obs_horizon=3, action_horizon=5, n_action_steps=2)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels[:3] == ["o[t-2]", "o[t-1]", "o[t]"]
    assert labels[3:8] == ["a[t]", "a[t+1]", "a[t+2]", "a[t+3]", "a[t+4]"]
    assert labels[8:10] == ["a[t]", "a[t+1]"]
    assert labels[10:13] == ["o[t]", "o[t+1]", "o[t+2]"]  # the next plan's window ends at t + n_action_steps


def test_gifs_are_written_and_reproducible(tmp_path):
    rollout = render.record_rollouts(make_demonstrator("Pendulum-v1", seed=0), n_episodes=1)[0]
    a = render.animate_rollout(rollout, str(tmp_path / "a.gif"), every=20)
    b = render.animate_rollout(rollout, str(tmp_path / "b.gif"), every=20)
    assert Image.open(a).n_frames == 10
    assert open(a, "rb").read() == open(b, "rb").read()  # nbval compares GIF bytes
    traj = np.linspace(-3, 1, 4 * 2 * 8).reshape(4, 2, 8, 1)  # (S + 1, N, H, 1)
    gif = policy_plots.animate_denoising(traj, [49, 30, 10], rollout.obs[:2], str(tmp_path / "d.gif"),
                                   reference=np.zeros(8), fps=2, hold_s=1.0)
    image = Image.open(gif)
    assert image.n_frames == 4  # Pillow merges the 2 repeats of the last frame into it, holding it longer
    image.seek(3)
    assert image.info["duration"] == 3 * 500


def _buffer_and_normalizers(tiny_trainer):
    return tiny_trainer.buffer, tiny_trainer.obs_normalizer, tiny_trainer.act_normalizer, tiny_trainer.config


def test_regressor_shapes():
    model = MLPRegressor(act_dim=1, action_horizon=8, obs_dim=3, obs_horizon=2, hidden_dim=16, n_layers=2)
    assert model(torch.zeros(5, 2, 3)).shape == (5, 8, 1)


def test_train_regression_is_seeded_and_learns(tiny_trainer):
    args = _buffer_and_normalizers(tiny_trainer)
    model_a, losses_a = train_regression(*args, n_updates=150, seed=3)
    model_b, losses_b = train_regression(*args, n_updates=150, seed=3)
    assert losses_a == losses_b
    assert np.mean(losses_a[-20:]) < 0.5 * np.mean(losses_a[:20])
    assert not model_a.training


def test_regression_policy_acts_like_diffusion_policy(tiny_trainer):
    buffer, obs_norm, act_norm, cfg = _buffer_and_normalizers(tiny_trainer)
    model, _ = train_regression(buffer, obs_norm, act_norm, cfg, n_updates=20, seed=0)
    policy = RegressionPolicy(model, obs_norm, act_norm, cfg.obs_horizon, n_action_steps=3)
    obs = render.obs_from_state(1.0, 0.5)
    chunk = policy.predict_chunk(np.repeat(obs[None, None], cfg.obs_horizon, axis=1))  # padded, as at reset
    assert chunk.shape == (1, cfg.action_horizon, 1) and np.all(np.abs(chunk) <= 2.0 + 1e-5)
    first = [policy.act(obs) for _ in range(3)]  # one plan, executed for 3 steps
    assert np.allclose(np.stack(first), chunk[0, :3], atol=1e-5)
    with pytest.raises(ValueError, match="reset"):
        policy.act(np.stack([obs, obs]))  # a new batch size needs reset()
    policy.reset()
    assert policy.act(np.stack([obs, obs])).shape == (2, 1)
    returns = rollout_returns(policy, "Pendulum-v1", n_episodes=2, seed=0)
    assert returns.shape == (2,) and np.isfinite(returns).all()


def test_inference_explorer_configures_the_policy(tiny_trainer):
    policy = tiny_trainer.policy
    saved = policy.config
    try:
        box = policy_plots.inference_explorer(policy, n_episodes=2)
        controls = {w.description: w for w in box.children[:-1]}
        assert set(controls) == {"sampler", "steps", "n_action_steps", "eta (DDIM)"}
        controls["sampler"].value = "ddim"
        controls["eta (DDIM)"].value = 0.5
        controls["steps"].value = 3
        assert (policy.config.sampler, policy.config.ddim_eta, policy.config.n_inference_steps) == ("ddim", 0.5, 3)
        controls["sampler"].value = "ddpm"  # DDPM has no eta: the widget must not pass one
        assert policy.config.ddim_eta == 0.0
    finally:
        policy.configure(**{k: getattr(saved, k) for k in ("sampler", "n_inference_steps", "n_action_steps",
                                                           "ddim_eta", "seed")})
