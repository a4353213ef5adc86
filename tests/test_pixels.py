"""Pixel observations end to end: Detour drawn as frames, frames added to a dataset, a pixel policy trained offline,
acting on what the env returns, its encoder once per plan, saved and resumed; and the inputs it refuses."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import dpedu  # noqa: F401  (registers the tasks)
from dpedu import Trainer
from dpedu.datasets import Demonstrations, record, render_frames
from dpedu.envs.detour import FRAME_SHAPE, PIXELS_PER_UNIT, render_frame
from dpedu.observations import ObsLayout
from dpedu.policy import DiffusionPolicy

SMALL = {"vision_width": 8, "n_keypoints": 8, "vision_feature_dim": 16, "hidden_dim": 32, "batch_size": 16,
         "n_action_steps": 8, "n_inference_steps": 4}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "detour.zarr"
    record("dpedu/Detour-v0", path, 6, progress=False)
    render_frames(path, progress=False).close()
    return path


@pytest.fixture(scope="module")
def trainers(dataset):
    out = {}
    for obs_type in ("pixels", "pixels_agent_pos"):
        trainer = Trainer("diffusion", dataset=dataset, seed=0, progress=False,
                          config={"obs_type": obs_type, **SMALL})
        trainer.train(n_updates=4)
        out[obs_type] = trainer
    return out


def test_detour_frames_show_the_point():
    env = gym.make("dpedu/Detour-v0", obs_type="pixels_agent_pos")
    obs, _ = env.reset(seed=3)
    assert obs["pixels"].shape == FRAME_SHAPE and obs["pixels"].dtype == np.uint8
    np.testing.assert_array_equal(obs["pixels"], render_frame(obs["agent_pos"]))
    assert env.observation_space.contains(obs)
    moved, *_ = env.step(np.array([1.0, 0.0], dtype=np.float32))
    changed = np.argwhere((moved["pixels"] != obs["pixels"]).any(axis=-1))
    # Only pixels near the point change, and the point moved right by 0.05 units (0.8 px): the frame says so.
    centre = np.array([1.0 - obs["agent_pos"][1], obs["agent_pos"][0] + 1.5]) * PIXELS_PER_UNIT
    assert len(changed) and np.abs(changed + 0.5 - centre).max() <= 0.1 * PIXELS_PER_UNIT + 2
    pixels_only = gym.make("dpedu/Detour-v0", obs_type="pixels").reset(seed=3)[0]
    np.testing.assert_array_equal(pixels_only, obs["pixels"])
    with pytest.raises(ValueError, match="obs_type must be one of 'state', 'pixels', 'pixels_agent_pos'"):
        gym.make("dpedu/Detour-v0", obs_type="rgb")


def test_rendered_dataset_holds_the_envs_frames(dataset):
    with Demonstrations.open(dataset) as data:
        assert data.has_frames and data.frame_shape == FRAME_SHAPE
        episode = data.episode(2)
    env = gym.make("dpedu/Detour-v0", obs_type="pixels_agent_pos")
    obs, _ = env.reset(seed=episode["seed"])
    for t in range(5):  # replaying the stored actions, the env observes the stored frames
        np.testing.assert_array_equal(obs["pixels"], episode["img"][t])
        np.testing.assert_allclose(obs["agent_pos"], episode["agent_pos"][t])
        obs, *_ = env.step(episode["action"][t])


def test_frames_cut_short_are_not_read(dataset, tmp_path):
    import shutil

    import zarr

    copy = tmp_path / "copy.zarr"
    shutil.copytree(dataset, copy)
    root = zarr.open_group(str(copy), mode="r+", zarr_format=2)
    root.attrs.pop("frames")  # what an interrupted render_frames leaves: arrays, no completion mark
    with Demonstrations.open(copy) as data:
        assert not data.has_frames and "img" not in data.episode(0)
    with pytest.raises(ValueError, match=r"holds none: add them with `dpedu dataset render"):
        Trainer("diffusion", dataset=copy, config={"obs_type": "pixels"}, progress=False)


def test_pixels_need_a_dataset():
    with pytest.raises(ValueError, match="pixel policies learn from a dataset of frames"):
        Trainer("diffusion", env="dpedu/Detour-v0", config={"obs_type": "pixels"}, progress=False)
    with pytest.raises(ValueError, match="Pendulum-v1 takes no obs_type"):
        Trainer("diffusion", env="Pendulum-v1", config={"obs_type": "pixels"}, progress=False)


@pytest.mark.parametrize("obs_type", ["pixels", "pixels_agent_pos"])
def test_encoder_runs_once_per_plan(trainers, obs_type):
    policy = trainers[obs_type].policy
    assert not policy.model.encoder.training  # the centre crop when acting
    calls = []
    policy.model.encoder.register_forward_hook(lambda *args: calls.append(1))
    steps = []
    policy.model.denoiser.register_forward_hook(lambda *args: steps.append(1))
    env = gym.make("dpedu/Detour-v0", obs_type=obs_type)
    obs = env.reset(seed=0)[0]
    window = ({k: np.stack([v, v])[None] for k, v in obs.items()} if obs_type == "pixels_agent_pos"
              else np.stack([obs, obs])[None])
    chunk = policy.predict_chunk(window)
    assert chunk.shape == (1, 8, 2)
    assert len(calls) == 1 and len(steps) == policy.config.n_inference_steps == 4


@pytest.mark.parametrize("obs_type", ["pixels", "pixels_agent_pos"])
def test_pixel_policy_acts_saves_and_resumes(trainers, obs_type, tmp_path):
    trainer = trainers[obs_type]
    result = trainer.evaluate(n_episodes=3, seed=0)
    assert result["n_episodes"] == 3 and len(result["returns"]) == 3 and "side_up" in result
    policy = trainer.policy
    loaded = DiffusionPolicy.load(policy.save(tmp_path / "p.pt"))
    assert loaded.layout == policy.layout and loaded.layout.frame_shape == FRAME_SHAPE
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("dpedu/Detour-v0", obs_type=obs_type)] * 2)
    obs = envs.reset(seed=5)[0]
    policy.reset(seed=1)
    loaded.reset(seed=1)
    np.testing.assert_allclose(policy.act(obs), loaded.act(obs), atol=1e-6)
    # Resume: a trainer saved and loaded goes on bit for bit (its buffer holds the frames).
    again = Trainer.load(trainer.save(tmp_path / "t.pt"), progress=False)
    assert torch.equal(again.buffer.frames, trainer.buffer.frames)
    # Offline, the buffer is sized to the dataset, not to buffer_size (a million frames would take gigabytes).
    assert again.buffer.capacity == trainer.buffer.capacity == len(trainer.buffer) < trainer.config.buffer_size
    assert trainer.train(n_updates=2)["loss"] == again.train(n_updates=2)["loss"]


def test_bad_pixel_observations_refused(trainers):
    policy = trainers["pixels_agent_pos"].policy
    frame = render_frame((0.0, 0.5))
    good = {"pixels": frame, "agent_pos": np.zeros(2, dtype=np.float32)}
    policy.reset()
    assert policy.act(good).shape == (2,)
    cases = [
        ({**good, "pixels": frame / 255.0}, TypeError, r"integers in 0\.\.255.*float64.*multiply by 255"),
        ({**good, "pixels": frame.astype(np.int64) * 2}, ValueError, r"must be in 0\.\.255, got values in \d+\.\.490"),
        ({**good, "pixels": frame.transpose(2, 0, 1)}, ValueError, r"\(32, 48, 3\).*channels first"),
        ({**good, "pixels": frame[:16]}, ValueError, r"frames must have shape \(32, 48, 3\)"),
        ({"pixels": frame}, ValueError, r"a dict of 'pixels'.*'agent_pos'"),
        (frame, ValueError, r"a dict of 'pixels'"),
        ({**good, "agent_pos": np.zeros(3)}, ValueError, r"observation must have shape \(2,\)"),
    ]
    for obs, error, match in cases:
        policy.reset()
        with pytest.raises(error, match=match):
            policy.act(obs)
    pixels = trainers["pixels"].policy
    with pytest.raises(ValueError, match=r"a uint8 frame of shape \(32, 48, 3\) \(obs_type 'pixels'\); got a dict"):
        pixels.act(good)
    with pytest.raises(ValueError, match=r"obs_history must be windows of obs_horizon=2"):
        pixels.predict_chunk(frame[None, None])


def test_layout_of_spaces():
    box = gym.spaces.Box(-1, 1, (3,))
    assert ObsLayout.of_space(box, None) == ObsLayout(None, 3)
    with pytest.raises(TypeError, match="must observe uint8 frames"):
        ObsLayout.of_space(box, "pixels")
    with pytest.raises(TypeError, match="needs a 1-D Box"):
        ObsLayout.of_space(gym.spaces.Box(0, 255, (8, 8, 3), dtype=np.uint8), None)


def test_vision_keys_apply_to_pixels_only():
    with pytest.raises(ValueError, match="vision_width=16 applies to pixel observations only"):
        Trainer("diffusion", env="dpedu/Detour-v0", config={"vision_width": 16}, progress=False)


def test_pusht_frames_from_states_are_the_envs():
    """Push-T's frames drawn from the stored states are the frames the env observed while the episode ran."""
    from dpedu.datasets import PUSHT_DATASET
    from dpedu.envs.pusht import episode_frames

    with Demonstrations.open(PUSHT_DATASET) as data:
        episode = data.episode(0)
    frames, agent = episode_frames({"state": episode["state"][:8]})
    assert frames.shape == (8, 96, 96, 3) and frames.dtype == np.uint8
    env = gym.make("dpedu/PushT-v0", obs_type="pixels_agent_pos")
    obs, _ = env.reset(options={"state": episode["state"][0]})
    for t in range(8):
        np.testing.assert_array_equal(obs["pixels"], frames[t])
        np.testing.assert_allclose(obs["agent_pos"], agent[t], rtol=1e-6)  # stored as float32
        obs, *_ = env.step(episode["action"][t])
    pixels_only = gym.make("dpedu/PushT-v0", obs_type="pixels").reset(options={"state": episode["state"][0]})[0]
    np.testing.assert_array_equal(pixels_only, frames[0])


def test_render_frames_refuses_what_it_cannot_write(tmp_path):
    from dpedu.datasets import PUSHT_DATASET, DemoWriter

    with pytest.raises(ValueError, match="read-only; render the .zarr directory"):
        render_frames(PUSHT_DATASET, progress=False)
    DemoWriter(tmp_path / "empty.zarr", "dpedu/Detour-v0", 2, 2)
    with pytest.raises(ValueError, match="no episodes to draw frames for"):
        render_frames(tmp_path / "empty.zarr", progress=False)
