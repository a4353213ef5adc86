"""What a policy observes: a vector, a camera frame, or both (gym-pusht's obs_type convention). Notebook 09.

    obs_type None (the env's default)  obs (obs_dim,) float32                                a vector
    "pixels"                           obs (H, W, C) uint8                                   a frame, nothing else
    "pixels_agent_pos"                 obs {"pixels": (H, W, C) uint8, "agent_pos": (obs_dim,) float32}

Inside dpedu an observation travels as two parts, the low-dimensional vector (normalised to [-1, 1] like the actions;
obs_dim 0 for "pixels") and the frame (uint8 as the camera gave it, 1 byte per value where float32 would take 4; the
vision encoder scales it). `ObsLayout.split` makes the two parts from what an env returns, one observation or a
batch, and says clearly what was wrong with anything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from dpedu.config import PIXEL_OBS_TYPES


@dataclass(frozen=True)
class ObsLayout:
    """obs_type (None for a vector), obs_dim (the vector's entries; 0 for "pixels") and frame_shape ((H, W, C), or
    None without frames)."""

    obs_type: str | None
    obs_dim: int
    frame_shape: tuple[int, int, int] | None = None

    @property
    def has_frames(self) -> bool:
        return self.frame_shape is not None

    @classmethod
    def of_space(cls, space: gym.Space, obs_type: str | None, env_id: str = "the env") -> ObsLayout:
        """The layout of an env's observation space, made with gym.make(env_id, obs_type=obs_type)."""
        if obs_type not in PIXEL_OBS_TYPES:
            if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
                raise TypeError(f"{env_id} has a {type(space).__name__} observation space of shape {space.shape}; "
                                "the Trainer needs a 1-D Box (a flat vector of observations; e.g. wrap a Dict space "
                                "with gymnasium.wrappers.FlattenObservation), or obs_type 'pixels' or "
                                "'pixels_agent_pos' for camera frames")
            return cls(obs_type, int(space.shape[0]))
        frames = space["pixels"] if obs_type == "pixels_agent_pos" and isinstance(space, gym.spaces.Dict) else space
        if not (isinstance(frames, gym.spaces.Box) and frames.dtype == np.uint8 and len(frames.shape) == 3):
            raise TypeError(f"{env_id} with obs_type={obs_type!r} must observe uint8 frames (H, W, C), got {space}")
        if obs_type == "pixels":
            return cls(obs_type, 0, tuple(int(n) for n in frames.shape))
        agent = space["agent_pos"] if isinstance(space, gym.spaces.Dict) and "agent_pos" in space.spaces else None
        if not (isinstance(agent, gym.spaces.Box) and len(agent.shape) == 1):
            raise TypeError(f"{env_id} with obs_type='pixels_agent_pos' must observe a dict of 'pixels' and a 1-D "
                            f"'agent_pos', got {space}")
        return cls(obs_type, int(agent.shape[0]), tuple(int(n) for n in frames.shape))

    def describe(self) -> str:
        """What one observation must be, in words, for error messages."""
        if self.obs_type == "pixels":
            return f"a uint8 frame of shape {self.frame_shape}"
        if self.obs_type == "pixels_agent_pos":
            return (f"a dict of 'pixels', a uint8 frame of shape {self.frame_shape}, and 'agent_pos', of shape "
                    f"({self.obs_dim},)")
        return f"an array of shape ({self.obs_dim},)"

    def split(self, obs) -> tuple[np.ndarray, np.ndarray, bool]:
        """For a layout with frames: obs as the env gives it, one or a batch of N -> (vector (N, obs_dim), frames
        (N, H, W, C), single: whether it was one observation). The vector is returned as given (the policy checks its
        values); the frames' dtype and range are checked by the vision encoder (as_frames)."""
        if self.obs_type == "pixels_agent_pos":
            if not isinstance(obs, dict) or set(obs) != {"pixels", "agent_pos"}:
                got = sorted(obs) if isinstance(obs, dict) else type(obs).__name__
                raise ValueError(f"an observation must be {self.describe()}; got {got}")
            vector, frames = np.asarray(obs["agent_pos"]), np.asarray(obs["pixels"])
        else:  # "pixels" (a vector layout has nothing to split: the policy checks vectors itself)
            if isinstance(obs, dict):
                raise ValueError(f"an observation must be {self.describe()} (obs_type 'pixels'); got a dict of "
                                 f"{sorted(obs)}")
            frames = np.asarray(obs)
            vector = np.zeros((*frames.shape[: max(frames.ndim - 3, 0)], 0), dtype=np.float32)
        if frames.ndim not in (3, 4) or frames.shape[-3:] != self.frame_shape:
            raise ValueError(f"frames must have shape {self.frame_shape} (H, W, C) or (N, *that), got {frames.shape}"
                             + (" (channels first? frames are channels last)" if frames.ndim >= 3 and
                                frames.shape[-3] == self.frame_shape[2] else ""))
        single = frames.ndim == 3
        if vector.ndim != (1 if single else 2) or (not single and len(vector) != len(frames)):
            raise ValueError(f"agent_pos must have shape ({self.obs_dim},), or (N, {self.obs_dim}) beside N frames; "
                             f"got {vector.shape} beside frames {frames.shape}")
        return (vector[None], frames[None], True) if single else (vector, frames, False)


def make_env(env_id: str, obs_type: str | None = None, **kwargs) -> gym.Env:
    """gym.make(env_id), with obs_type=... when one is asked for (None: the env's default, no argument passed)."""
    if obs_type is not None:
        kwargs["obs_type"] = obs_type
    try:
        return gym.make(env_id, **kwargs)
    except TypeError as e:
        if obs_type is not None and "obs_type" in str(e):
            raise ValueError(f"{env_id} takes no obs_type (asked for {obs_type!r}); pixel observations need an env "
                             "that takes gym-pusht's obs_type argument (dpedu/Detour-v0, dpedu/PushT-v0)") from None
        raise
