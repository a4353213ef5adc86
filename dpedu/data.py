"""Demonstrations -> (observation window, action window) training samples, and their normalisation.

The index rule (the one every diffusion-policy code has to get right). For a sample at step t of an
episode with steps first..last:

    observations  o[t-To+1], ..., o[t]        (To = obs_horizon: the present and To-1 past steps)
    actions       a[t], a[t+1], ..., a[t+H-1] (H = action_horizon: the present action and H-1 future ones)

    step:      t-1    t    t+1   t+2   t+3   t+4   t+5   t+6   t+7
    obs:       [o     o]                                               To = 2, ends at t
    actions:         [a     a     a     a     a     a     a     a]     H = 8, starts at t
    executed:        [a     a     a     a]                             n_action_steps = 4, then re-plan at t+4

Indices outside the episode are clamped to its edge: before `first` the first observation repeats
(the policy pads its history the same way at reset), after `last` the last action repeats (the plan
holds still once the demonstration ends). Nothing ever crosses into another episode.
"""

from __future__ import annotations

import numbers
import os

import numpy as np
import torch


def window_indices(
    t: torch.Tensor, first: torch.Tensor, last: torch.Tensor, obs_horizon: int, action_horizon: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the observation and action windows of samples at steps t (the rule above).

    Args:
        t, first, last: (B,) integer tensors: the step, and the first and last step of its episode.
    Returns:
        obs_idx (B, To): t-To+1 .. t, clamped below at `first`.
        act_idx (B, H): t .. t+H-1, clamped above at `last`.
    """
    obs_offsets = torch.arange(-obs_horizon + 1, 1, device=t.device)  # (To,) = -To+1 .. 0
    act_offsets = torch.arange(action_horizon, device=t.device)  # (H,) = 0 .. H-1
    obs_idx = torch.maximum(t[:, None] + obs_offsets, first[:, None])
    act_idx = torch.minimum(t[:, None] + act_offsets, last[:, None])
    return obs_idx, act_idx


class Normalizer:
    """Per-dimension min-max scaling to [-1, 1]:  x_n = 2 (x - min) / (max - min) - 1.

    A dimension whose range is (near) zero would divide by zero: it is shifted to 0 and left unscaled,
    so it still round-trips exactly.
    """

    def __init__(self, low: torch.Tensor, high: torch.Tensor):
        low, high = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
        if low.shape != high.shape or low.dim() != 1:
            raise ValueError(f"low and high must be 1-D of one shape, got {tuple(low.shape)} and {tuple(high.shape)}")
        if not (torch.isfinite(low).all() and torch.isfinite(high).all()) or (high < low).any():
            raise ValueError("low and high must be finite with high >= low")
        self.low, self.high = low, high
        span = high - low
        constant = span < 1e-6
        self.scale = torch.where(constant, torch.ones_like(span), 2.0 / span.clamp_min(1e-6))
        self.offset = torch.where(constant, -low, -low * self.scale - 1.0)

    @classmethod
    def fit(cls, x) -> Normalizer:
        """Fit to data x of shape (N, D) (or (..., D): all leading axes are samples)."""
        x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=torch.float32)
        if x.dim() < 1 or x.numel() == 0:
            raise ValueError(f"cannot fit a normaliser to empty data of shape {tuple(x.shape)}")
        x = x.reshape(-1, x.shape[-1])
        return cls(x.min(dim=0).values, x.max(dim=0).values)

    def to(self, device) -> Normalizer:
        """The same normaliser with its tensors on `device`."""
        moved = Normalizer.__new__(Normalizer)
        for name in ("low", "high", "scale", "offset"):
            setattr(moved, name, getattr(self, name).to(device))
        return moved

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.offset

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.offset) / self.scale

    def state_dict(self) -> dict:
        return {"low": self.low.cpu(), "high": self.high.cpu()}

    @classmethod
    def from_state_dict(cls, state: dict) -> Normalizer:
        return cls(state["low"], state["high"])

    def __repr__(self) -> str:
        return f"Normalizer(low={self.low.tolist()}, high={self.high.tolist()})"


class ReplayBuffer:
    """A FIFO buffer of whole demonstration episodes that samples (obs window, action window) batches.

    Episodes enter when they end, so every stored step knows its episode's edges; when the buffer is
    full the oldest steps leave first, and an episode cut by that starts at its oldest kept step.
    Storage is one preallocated tensor per field on `device` (a ring indexed by the running step
    count), so a batch is one random draw and two gathers, with no Python loop over samples.

    Refused with a ValueError: a capacity whose storage (buffer_bytes: capacity x ((obs_dim + act_dim) x 4 + 16)
    bytes) exceeds the memory of the machine or GPU it would live on (memory_bytes), before anything is
    allocated; and an episode longer than the capacity, which could never be held whole.
    """

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, device="cpu",
                 frame_shape: tuple[int, int, int] | None = None):
        for name, value in (("capacity", capacity), ("obs_dim", obs_dim), ("act_dim", act_dim)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
            # obs_dim 0: observations that are frames only (obs_type "pixels")
            low = 0 if name == "obs_dim" and frame_shape is not None else 1
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        capacity, obs_dim, act_dim = int(capacity), int(obs_dim), int(act_dim)
        frame_size = 0 if frame_shape is None else int(np.prod(frame_shape))
        device = torch.device(device)
        # Refuse before allocating: torch would fail deep inside (or the OS would kill the process) instead.
        need, have = buffer_bytes(capacity, obs_dim, act_dim, frame_size), memory_bytes(device)
        if have is not None and need > have:
            raise ValueError(f"buffer_size (the buffer's capacity) {capacity:,} steps needs {need / 2**30:,.1f} GiB "
                             f"(capacity x ((obs_dim {obs_dim} + act_dim {act_dim}) x 4 + frame {frame_size} + 16) "
                             f"bytes), more than the {have / 2**30:,.1f} GiB of memory on {device}; allowed: "
                             f"buffer_size <= {have // (need // capacity):,} here")
        self.capacity, self.device = capacity, device
        self.obs = torch.zeros(capacity, obs_dim, device=device)
        self.act = torch.zeros(capacity, act_dim, device=device)
        # Camera frames stay uint8 (a quarter of float32's memory); the vision encoder scales them.
        self.frames = None if frame_shape is None else torch.zeros(capacity, *frame_shape, dtype=torch.uint8,
                                                                   device=device)
        # The running index (not the ring position) of each step's episode's first and last step.
        self.first = torch.zeros(capacity, dtype=torch.long, device=device)
        self.last = torch.zeros(capacity, dtype=torch.long, device=device)
        self.n_added = 0  # steps ever added; the buffer holds running indices [n_added - len, n_added)

    @property
    def fields(self) -> tuple[str, ...]:
        """The per-step tensors this buffer stores (and its state_dict holds)."""
        return ("obs", "act", "first", "last") + (() if self.frames is None else ("frames",))

    def __len__(self) -> int:
        return min(self.n_added, self.capacity)

    @property
    def oldest(self) -> int:
        return self.n_added - len(self)

    def add_episode(self, obs, act, frames=None) -> None:
        """Append one finished episode: obs (L, obs_dim) and act (L, act_dim), a[i] taken after o[i]; and for a buffer
        of frames, frames (L, H, W, C) uint8, the frame of o[i]."""
        if (frames is None) != (self.frames is None):
            raise ValueError("this buffer holds frames: add_episode needs frames=(L, H, W, C) uint8" if frames is None
                             else "this buffer holds no frames (made without frame_shape); got frames")
        if frames is not None:
            frames = torch.as_tensor(np.asarray(frames))
            if frames.dtype != torch.uint8 or tuple(frames.shape) != (len(obs), *self.frames.shape[1:]):
                raise ValueError(f"frames must be uint8 of shape {(len(obs), *self.frames.shape[1:])}, got "
                                 f"{str(frames.dtype).replace('torch.', '')} {tuple(frames.shape)}")
        obs = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
        act = torch.as_tensor(np.asarray(act), dtype=torch.float32)
        if obs.dim() != 2 or act.dim() != 2 or len(obs) != len(act) or len(obs) == 0:
            raise ValueError(f"an episode needs obs (L, obs_dim) and act (L, act_dim), got {tuple(obs.shape)} "
                             f"and {tuple(act.shape)}")
        if obs.shape[1] != self.obs.shape[1] or act.shape[1] != self.act.shape[1]:
            raise ValueError(f"this buffer holds obs_dim {self.obs.shape[1]} and act_dim {self.act.shape[1]}, got an "
                             f"episode with obs {tuple(obs.shape)} and act {tuple(act.shape)}")
        if len(obs) > self.capacity:  # it would push out its own first steps: windows at its start would be lost
            raise ValueError(f"an episode of {len(obs)} steps does not fit in a buffer of {self.capacity} steps: "
                             f"raise buffer_size to at least the episode length ({len(obs)}); the FIFO keeps "
                             "whole episodes")
        n = len(obs)
        first, last = self.n_added, self.n_added + n - 1
        pos = torch.arange(first, last + 1) % self.capacity
        pos = pos.to(self.device)
        self.obs[pos] = obs.to(self.device)
        self.act[pos] = act.to(self.device)
        if frames is not None:
            self.frames[pos] = frames.to(self.device)
        self.first[pos] = first
        self.last[pos] = last
        self.n_added += n

    def state_dict(self) -> dict:
        """The stored steps (only the filled part of the ring, copied: a slice would drag the whole preallocated
        storage into torch.save) and the step count."""
        n = len(self)
        filled = {name: getattr(self, name)[:n].to("cpu", copy=True) for name in self.fields}
        return {"capacity": self.capacity, "n_added": self.n_added, **filled}

    def load_state_dict(self, state: dict) -> None:
        """Put back what state_dict() returned (capacity and dimensions must match this buffer)."""
        if state["capacity"] != self.capacity:
            raise ValueError(f"buffer capacity {state['capacity']} in the state, {self.capacity} here")
        n_added = state["n_added"]
        if isinstance(n_added, bool) or not isinstance(n_added, int) or n_added < 0:
            raise ValueError(f"buffer n_added must be an int >= 0, found {n_added!r}")
        n = min(n_added, self.capacity)
        if ("frames" in state) != (self.frames is not None):
            raise ValueError(f"the buffer state {'holds' if 'frames' in state else 'holds no'} frames, this buffer "
                             f"{'does not' if self.frames is None else 'does'}")
        for name in self.fields:
            want = (n, *getattr(self, name).shape[1:])
            if not torch.is_tensor(state[name]) or tuple(state[name].shape) != want:
                found = tuple(state[name].shape) if torch.is_tensor(state[name]) else type(state[name]).__name__
                raise ValueError(f"buffer {name!r} must have shape {want} for n_added={n_added}, found {found}")
        for name in self.fields:
            getattr(self, name)[:n] = state[name].to(self.device)
        self.n_added = n_added

    def all_obs(self) -> torch.Tensor:
        return self.obs[: len(self)]

    def all_act(self) -> torch.Tensor:
        return self.act[: len(self)]

    def sample(
        self, batch_size: int, obs_horizon: int, action_horizon: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of windows around uniformly drawn steps: obs (B, To, obs_dim), act (B, H, act_dim)."""
        obs_idx, act_idx = self.sample_indices(batch_size, obs_horizon, action_horizon, generator)
        return self.obs[obs_idx], self.act[act_idx]

    def sample_indices(
        self, batch_size: int, obs_horizon: int, action_horizon: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """sample()'s windows as storage indices, obs_idx (B, To) and act_idx (B, H): self.obs[obs_idx] and
        self.frames[obs_idx] are the observations, self.act[act_idx] the actions."""
        if len(self) == 0:
            raise RuntimeError("the buffer is empty: add an episode before sampling")
        oldest = self.oldest
        t = torch.randint(oldest, self.n_added, (batch_size,), generator=generator, device=self.device)
        ring = t % self.capacity
        # An episode partly pushed out of the FIFO begins at the oldest step still held.
        first = self.first[ring].clamp_min(oldest)
        obs_idx, act_idx = window_indices(t, first, self.last[ring], obs_horizon, action_horizon)
        return obs_idx % self.capacity, act_idx % self.capacity


def buffer_bytes(capacity: int, obs_dim: int, act_dim: int, frame_size: int = 0) -> int:
    """Memory of a ReplayBuffer: float32 observations and actions, uint8 frames of frame_size values, and two int64
    episode edges per step."""
    return capacity * ((obs_dim + act_dim) * 4 + frame_size + 2 * 8)


def memory_bytes(device: torch.device) -> int | None:
    """The memory a buffer on `device` could use at most: the GPU's total memory, or the machine's physical
    memory (os.sysconf); None where neither is known (no check)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or the name is unknown
        return None
