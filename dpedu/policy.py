"""DiffusionPolicy: observation history -> action chunk (by reverse diffusion) -> actions, receding horizon.
Notebooks 03 (the timing diagram), 04, 05 and 06.

    step:      t-1    t    t+1   t+2   t+3   t+4   ...
    obs queue: [o     o]                                 the last To observations (padded at reset)
    plan:            [a     a     a     a     a ... a]    H actions sampled at t, a[t .. t+H-1]
    executed:        [a     a     a     a]               the first n_action_steps, one per act() call
    re-plan:                                [o    o] ...  at t + n_action_steps, from the newest obs

`act` works for one environment, obs (obs_dim,), or N environments stepped together, obs (N, obs_dim).
Plans are sampled on the policy's device in one batch for all N; only the executed actions come back
to the host, once per plan. A pixel policy (config obs_type "pixels" or "pixels_agent_pos") takes what its env
returns, frames (H, W, C) uint8 (and the agent's position), one or N (dpedu/observations.py); its vision encoder runs
once per plan, then the S denoising steps reuse the features.
"""

from __future__ import annotations

import difflib
import numbers
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from dpedu.config import FLOW_METHODS, DPConfig
from dpedu.data import Normalizer
from dpedu.diffusion.flow import EulerSampler
from dpedu.diffusion.sampler import make_sampler
from dpedu.diffusion.schedule import NoiseSchedule
from dpedu.networks import build_network, condition
from dpedu.networks.vision import VisuomotorDenoiser, as_frames
from dpedu.observations import ObsLayout
from dpedu.runtime.device import resolve_device


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


class RecedingHorizon:
    """The receding-horizon bookkeeping of a chunking policy (the diagram at the top of this module).

    Two queues for N environments: the last obs_horizon observations (padded with the first one after reset, as
    training pads windows at episode starts) and the actions still to execute from the current plan. It asks
    `plan(obs_history)` for a new plan only when the actions run out.
    """

    def __init__(self, obs_horizon: int, n_action_steps: int):
        self.obs_horizon, self.n_action_steps = obs_horizon, n_action_steps
        self.reset()

    def reset(self) -> None:
        self.obs_history: np.ndarray | None = None  # (N, To, obs_dim)
        self.frame_history: np.ndarray | None = None  # (N, To, H, W, C), for a policy that sees frames
        self.planned: deque[np.ndarray] = deque()  # of (N, act_dim)

    def act(self, batch: np.ndarray, plan: Callable[..., np.ndarray], frames: np.ndarray | None = None) -> np.ndarray:
        """batch (N, obs_dim) -> actions (N, act_dim); plan maps (N, To, obs_dim) to (N, >= n_action_steps, act_dim).
        With frames (N, H, W, C): their history too, and plan(obs_history, frame_history)."""
        if self.obs_history is None:
            self.obs_history = np.repeat(batch[:, None], self.obs_horizon, axis=1)
            if frames is not None:
                self.frame_history = np.repeat(frames[:, None], self.obs_horizon, axis=1)
        elif self.obs_history.shape[0] != batch.shape[0]:
            raise ValueError(f"act() got {batch.shape[0]} observations but this episode started with "
                             f"{self.obs_history.shape[0]}; call reset() before changing the batch size")
        else:
            self.obs_history = np.concatenate([self.obs_history[:, 1:], batch[:, None]], axis=1)
            if frames is not None:
                self.frame_history = np.concatenate([self.frame_history[:, 1:], frames[:, None]], axis=1)
        if not self.planned:
            histories = (self.obs_history,) if frames is None else (self.obs_history, self.frame_history)
            executed = plan(*histories)[:, : self.n_action_steps]  # (N, n_action_steps, act_dim)
            self.planned.extend(executed.transpose(1, 0, 2))
        return self.planned.popleft()


class ChunkPolicy:
    """What every chunking policy in dpedu shares, whatever learned it: observation checks, the receding horizon,
    normalisation, checkpoints. A subclass says how a plan is drawn (`_sample`) and how its network is built.

    Args:
        config: the DPConfig it was trained with (horizons, and the method's settings).
        model: its network, used in eval mode.
        obs_normalizer, act_normalizer: map env units to the [-1, 1] the model works in.
        env_id: the environment it was trained on (informational; saved with it).
        device: where planning runs; None: config.device.
    """

    algorithm = None  # the Trainer's name for the method, saved with the policy
    # What configure() may change (the rest is fixed by the weights): a baseline's; DiffusionPolicy adds its sampler's.
    CONFIGURABLE = ("n_action_steps", "seed")

    def __init__(self, config: DPConfig, model: torch.nn.Module, obs_normalizer: Normalizer,
                 act_normalizer: Normalizer, env_id: str | None = None, device=None):
        self.config = config
        self.device = resolve_device(config.device if device is None else device)
        self.model = model.to(self.device).eval()
        self.obs_dim, self.act_dim = len(obs_normalizer.low), len(act_normalizer.low)
        # What it observes: a vector, or frames its vision encoder reads (and a vector beside them).
        frame_shape = model.encoder.image_shape if isinstance(model, VisuomotorDenoiser) else None
        self.layout = ObsLayout(config.obs_type if frame_shape else None, self.obs_dim, frame_shape)
        self.obs_normalizer, self.act_normalizer = obs_normalizer.to(self.device), act_normalizer.to(self.device)
        self.env_id = env_id
        self.generator = torch.Generator(self.device).manual_seed(config.seed)
        self._configured()
        self.reset()

    def _configured(self) -> None:
        """Build what the config's inference settings decide (DiffusionPolicy: its sampler); ValueError refuses."""

    def _sample(self, cond: torch.Tensor, shape: tuple[int, int, int], **kwargs) -> torch.Tensor:
        """Normalised chunks A^0 (N, H, act_dim) for conditions cond (the normalised windows or their features)."""
        raise NotImplementedError

    @classmethod
    def build_model(cls, config: DPConfig, obs_dim: int, act_dim: int, frame_shape=None,
                    algorithm: str | None = None) -> torch.nn.Module:
        """The untrained network a saved policy's weights are loaded into."""
        raise NotImplementedError

    def configure(self, **changes) -> ChunkPolicy:
        """Change inference settings (sampler, n_inference_steps, ddim_eta, n_action_steps, clip_sample, seed).

        Training-time settings (horizons, network, schedule) are fixed by the weights; changing them is an
        error. Returns self, reset.
        """
        allowed = set(self.CONFIGURABLE)
        unknown = sorted(set(changes) - set(self.config.to_dict()))
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(allowed), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"unknown config key {unknown[0]!r}; {hint}configure() can change {sorted(allowed)}")
        fixed = sorted(set(changes) - allowed)
        if fixed:
            raise ValueError(f"{fixed} are fixed by the trained weights; configure() can change {sorted(allowed)}")
        previous, self.config = self.config, self.config.replace(**changes)
        try:
            self._configured()  # the sampler checks its own settings (DDIM's eta): a refusal changes nothing
        except ValueError:
            self.config = previous
            self._configured()
            raise
        if "seed" in changes:
            self.generator.manual_seed(self.config.seed)
        self.reset()
        return self

    # ------------------------------------------------------------------ acting

    def reset(self, seed: int | None = None) -> None:
        """Start of an episode: forget the observation history and the planned actions."""
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
                raise ValueError(f"seed must be None or an int >= 0, got {seed!r}")
            self.generator.manual_seed(int(seed))
        self._queue = RecedingHorizon(self.config.obs_horizon, self.config.n_action_steps)

    def act(self, obs) -> np.ndarray:
        """obs (obs_dim,) -> action (act_dim,), or obs (N, obs_dim) -> actions (N, act_dim); env units.
        A pixel policy: obs as its env returns it (dpedu/observations.py), one or N."""
        if self.layout.has_frames:
            vector, frames, single = self.layout.split(obs)
            vector = self._check_obs(vector)
            frames = as_frames(frames, self.layout.frame_shape).numpy()
            action = self._queue.act(vector, self._plan_executed, frames)
            return action[0] if single else action
        obs = self._check_obs(obs)
        action = self._queue.act(obs[None] if obs.ndim == 1 else obs, self._plan_executed)
        return action[0] if obs.ndim == 1 else action

    def _plan_executed(self, obs_history: np.ndarray, frame_history: np.ndarray | None = None) -> np.ndarray:
        # Only the executed actions cross to the host, once per plan.
        obs = torch.from_numpy(obs_history).to(self.device)
        if frame_history is None:
            chunk = self._plan(obs)
        else:
            chunk = self._plan(obs, torch.from_numpy(frame_history).to(self.device))
        return chunk[:, : self.config.n_action_steps].cpu().numpy()

    def predict_chunk(self, obs_history) -> np.ndarray:
        """A whole plan: obs_history (N, obs_horizon, obs_dim) -> actions (N, action_horizon, act_dim), env units.
        A pixel policy: the windows in its env's form with (N, obs_horizon) in front: frames (N, To, H, W, C) for
        obs_type "pixels", {"pixels": (N, To, H, W, C), "agent_pos": (N, To, obs_dim)} for "pixels_agent_pos"."""
        return self._plan(*self._check_window(obs_history)).cpu().numpy()

    def _check_window(self, obs_history) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Observation windows as a float32 tensor on the policy's device, and the frames' windows (uint8) for a pixel
        policy (else None); or a ValueError naming the shape wanted."""
        if self.layout.has_frames:
            return self._check_frame_window(obs_history)
        return self._check_vector_window(obs_history), None

    def _check_frame_window(self, obs_history) -> tuple[torch.Tensor, torch.Tensor]:
        To = self.config.obs_horizon
        parts = dict(obs_history) if isinstance(obs_history, dict) else {"pixels": obs_history}
        parts = {k: np.asarray(v.detach().cpu() if torch.is_tensor(v) else v) for k, v in parts.items()}
        n = parts["pixels"].shape[0] if "pixels" in parts and parts["pixels"].ndim == 5 else None
        if n is None or any(v.ndim < 2 or v.shape[:2] != (n, To) for v in parts.values()) or n < 1:
            raise ValueError(f"obs_history must be windows of obs_horizon={To} observations, each "
                             f"{self.layout.describe()}, with (N, {To}) in front (N >= 1); got shapes "
                             f"{ {k: v.shape for k, v in parts.items()} }")
        flat = {k: v.reshape(n * To, *v.shape[2:]) for k, v in parts.items()}
        vector, frames, _ = self.layout.split(flat if isinstance(obs_history, dict) else flat["pixels"])
        vector = self._check_obs(vector).reshape(n, To, self.obs_dim)
        frames = as_frames(frames, self.layout.frame_shape).reshape(n, To, *self.layout.frame_shape)
        return torch.as_tensor(vector, device=self.device), frames.to(self.device)

    def _check_vector_window(self, obs_history) -> torch.Tensor:
        want = (self.config.obs_horizon, self.obs_dim)
        try:
            obs_history = np.asarray(obs_history.detach().cpu() if torch.is_tensor(obs_history) else obs_history)
        except ValueError:  # ragged nested lists
            raise ValueError(f"obs_history must be an array of shape (N, {want[0]}, {want[1]}), "
                             "got a ragged sequence") from None
        if obs_history.ndim != 3 or obs_history.shape[1:] != want or obs_history.shape[0] < 1:
            raise ValueError(f"obs_history must have shape (N, {want[0]}, {want[1]}) with N >= 1 "
                             f"(obs_horizon={want[0]}, obs_dim={want[1]}), got {obs_history.shape}")
        self._check_obs(obs_history.reshape(-1, self.obs_dim))
        return torch.as_tensor(obs_history, dtype=torch.float32, device=self.device)

    @torch.inference_mode()
    def _plan(self, obs: torch.Tensor, frames: torch.Tensor | None = None, **sample_kwargs):
        """Observation windows (N, To, obs_dim) -> sampled chunks (N, H, act_dim), both in env units
        (and, for a DiffusionPolicy with return_trajectory=True, every visited A^k (S + 1, N, H, act_dim) too).
        With frames (N, To, H, W, C): the vision encoder runs here, once per plan, not once per denoising step."""
        shape = (obs.shape[0], self.config.action_horizon, self.act_dim)
        obs = self.obs_normalizer.normalize(obs)
        cond = condition(self.model, obs, frames)  # with frames, the features every denoising step reads
        out = self._sample(cond, shape, **sample_kwargs)
        a0 = out[0] if isinstance(out, tuple) else out
        if not torch.isfinite(a0).all():
            raise self._non_finite_error(obs)
        if isinstance(out, tuple):
            return tuple(self.act_normalizer.unnormalize(x) for x in out)
        return self.act_normalizer.unnormalize(out)

    def _non_finite_error(self, obs: torch.Tensor) -> Exception:
        """Why a plan came out NaN or inf from finite observations: the weights (RuntimeError), or observations far
        outside the range the network was trained on (ValueError)."""
        bad = [name for name, p in self.model.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            return RuntimeError(f"the policy's weights contain NaN or inf ({bad[0]}"
                                f"{' and more' if len(bad) > 1 else ''}); the observations are finite")
        if obs.numel() == 0:  # frames only: nothing to measure against the training range
            return ValueError("the network produced NaN or inf actions from finite weights and frames")
        return ValueError(f"the network produced NaN or inf actions: the observations, normalised, reach "
                          f"{obs.abs().max().item():.3g} where the training data lie in [-1, 1]; check the "
                          "observation's units and order")

    def _check_obs(self, obs) -> np.ndarray:
        if torch.is_tensor(obs):
            obs = obs.detach().cpu().numpy()
        try:
            obs = np.asarray(obs)
        except ValueError as e:  # ragged nested lists
            raise ValueError(f"observation must be an array of shape ({self.obs_dim},) or (N, {self.obs_dim}), "
                             f"got a ragged sequence ({e})") from None
        if not np.issubdtype(obs.dtype, np.number) or np.iscomplexobj(obs):
            raise TypeError(f"observations must be real numbers, got dtype {obs.dtype}")
        if obs.ndim not in (1, 2) or obs.shape[-1] != self.obs_dim or 0 in obs.shape[:-1]:
            raise ValueError(f"observation must have shape ({self.obs_dim},) or (N, {self.obs_dim}) with N >= 1, "
                             f"got {obs.shape}")
        with np.errstate(over="ignore"):  # the overflow is reported below, as an error naming it
            obs32 = obs.astype(np.float32, copy=False)
        if not np.isfinite(obs32).all():  # after the cast: a float64 1e39 is finite, and inf in float32
            what = "NaN or inf" if not np.isfinite(obs).all() else "values beyond float32's range (|x| > 3.4e38)"
            raise ValueError(f"observation contains {what}")
        return obs32

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        """Everything the policy needs to act: its config (inference settings included), env id, the network's
        weights (CPU copies) and the two normalisers. Plain Python and tensors (weights_only-safe)."""
        return {
            "algorithm": self.algorithm,
            "config": self.config.to_dict(),
            "env_id": self.env_id,
            "model": {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()},
            "obs_normalizer": self.obs_normalizer.state_dict(),
            "act_normalizer": self.act_normalizer.state_dict(),
            "frame_shape": None if self.layout.frame_shape is None else list(self.layout.frame_shape),
        }

    @classmethod
    def from_state_dict(cls, state: dict, device=None) -> ChunkPolicy:
        """A policy rebuilt from state_dict() on `device` (None: its config's). A state whose parts do not fit
        together raises ValueError (KeyError for a missing entry) saying which."""
        algorithm = state.get("algorithm") or "diffusion"  # absent in a policy saved before the baselines: diffusion
        if cls is ChunkPolicy:  # any method's: the subclass that acts for it (dpedu.load_policy)
            readers = [sub for sub in _subclasses(ChunkPolicy) if sub.reads(algorithm)]
            if not readers:
                raise ValueError(f"no policy class reads algorithm {algorithm!r} (import dpedu.trainer first)")
            return readers[0].from_state_dict(state, device)
        if not cls.reads(algorithm):
            raise ValueError(f"this is a {algorithm!r} policy, not a {cls.__name__}: load it with "
                             "dpedu.load_policy(path), which reads every method's")
        if not isinstance(state.get("config"), dict):
            raise ValueError(f"'config' must be a dict of hyperparameters, found {state.get('config')!r}")
        config = DPConfig.from_dict(state["config"])
        obs_norm = Normalizer.from_state_dict(state["obs_normalizer"])
        act_norm = Normalizer.from_state_dict(state["act_normalizer"])
        frame_shape = state.get("frame_shape")  # absent in a policy saved before pixels existed: none
        model = cls.build_model(config, len(obs_norm.low), len(act_norm.low),
                                None if frame_shape is None else tuple(frame_shape), algorithm)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as e:  # torch lists every mismatched tensor: keep the first
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            first = lines[1] if len(lines) > 1 else lines[0]
            more = f"; {len(lines) - 2} more" if len(lines) > 2 else ""
            raise ValueError(f"the weights do not fit the network its config describes: {first}{more}") from e
        return cls._rebuilt(algorithm, config, model, obs_norm, act_norm, env_id=state.get("env_id"), device=device)

    @classmethod
    def reads(cls, algorithm: str) -> bool:
        """Whether this class rebuilds a saved policy of `algorithm`."""
        return algorithm == cls.algorithm

    @classmethod
    def _rebuilt(cls, algorithm: str, *args, **kwargs) -> ChunkPolicy:
        return cls(*args, **kwargs)

    def save(self, path) -> Path:
        """Write the policy (method, config, weights, normalisers) to `path` atomically."""
        from dpedu.runtime.checkpoint import save_policy

        return save_policy(self, path)

    @classmethod
    def load(cls, path, device=None) -> ChunkPolicy:
        """Read a policy written by save() onto `device` (None: its config's, "auto" by default).

        Errors name the file and what is wrong with it.
        """
        from dpedu.runtime.checkpoint import load_policy

        return load_policy(cls, path, device)

    def __repr__(self) -> str:
        c = self.config
        pixels = f"obs_type={c.obs_type!r}, frame_shape={self.layout.frame_shape}, " if self.layout.has_frames else ""
        return (f"{type(self).__name__}(env_id={self.env_id!r}, {pixels}obs_dim={self.obs_dim}, "
                f"act_dim={self.act_dim}, "
                f"obs_horizon={c.obs_horizon}, action_horizon={c.action_horizon}, n_action_steps={c.n_action_steps}, "
                f"{self._describe_planning()}, device={str(self.device)!r})")

    def _describe_planning(self) -> str:
        return f"algorithm={self.algorithm!r}"


class DiffusionPolicy(ChunkPolicy):
    """A trained denoising network wrapped as a policy: each plan is drawn by the reverse diffusion (the sampler).

    model: eps_theta(A^k, k, obs) (A^0's estimate with config.prediction_type "sample"); the other arguments as
    ChunkPolicy's.
    """

    algorithm = "diffusion"
    CONFIGURABLE = ("sampler", "n_inference_steps", "ddim_eta", "n_action_steps", "clip_sample", "seed")

    def _configured(self) -> None:
        c = self.config
        self.schedule = NoiseSchedule(c.n_diffusion_steps, c.noise_schedule, c.beta_start, c.beta_end, self.device)
        self.sampler = make_sampler(c.sampler, self.schedule, c.n_inference_steps, c.ddim_eta, c.clip_sample,
                                    c.prediction_type)

    def _describe_planning(self) -> str:
        return f"sampler={self.config.sampler!r}, n_inference_steps={self.config.n_inference_steps}"

    def _sample(self, cond: torch.Tensor, shape: tuple[int, int, int], **sample_kwargs):
        return self.sampler.sample(self.model, shape, cond, self.generator, **sample_kwargs)

    @classmethod
    def build_model(cls, config: DPConfig, obs_dim: int, act_dim: int, frame_shape=None,
                    algorithm: str | None = None) -> torch.nn.Module:
        return build_network(config, obs_dim, act_dim, frame_shape)

    def denoise(self, obs_history, x_K: torch.Tensor | None = None, n_samples: int = 1,
                x_T: torch.Tensor | None = None):
        """For plotting: (actions (N, H, act_dim), trajectory (S+1, N, H, act_dim): A^K first, A^0 last), both in
        env units. x_K: the starting noise (normalised units); None draws it. x_T: x_K's former name, accepted.

        obs_history (N, obs_horizon, obs_dim); each window is sampled n_samples times (N * n_samples plans).
        """
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be an int >= 1 (plans per observation window), got {n_samples!r}")
        obs, frames = self._check_window(obs_history)
        obs = obs.repeat_interleave(int(n_samples), dim=0)
        frames = None if frames is None else frames.repeat_interleave(int(n_samples), dim=0)
        a0, trajectory = self._plan(obs, frames, x_K=x_K, x_T=x_T, return_trajectory=True)
        return a0.cpu().numpy(), trajectory.cpu().numpy()


class FlowPolicy(DiffusionPolicy):
    """A trained velocity network v_theta(A^tau, tau, o) as a policy: each plan integrates its ODE from noise with
    n_inference_steps Euler steps (dpedu/diffusion/flow.py). Trained by Trainer("flow"), or by Trainer("reflow") (the
    one-step policy distilled from a flow: the same network and sampler, at 1 step by default).

    algorithm: "flow" or "reflow"; the other arguments as ChunkPolicy's.
    """

    algorithm = "flow"
    CONFIGURABLE = ("n_inference_steps", "n_action_steps", "clip_sample", "seed")

    def __init__(self, *args, algorithm: str = "flow", **kwargs):
        if algorithm not in FLOW_METHODS:
            raise ValueError(f"a FlowPolicy is trained by one of {FLOW_METHODS}, got algorithm {algorithm!r}")
        self.algorithm = algorithm
        super().__init__(*args, **kwargs)

    def _configured(self) -> None:
        self.sampler = EulerSampler(self.config.n_inference_steps, self.config.clip_sample, self.device)

    def _describe_planning(self) -> str:
        return f"algorithm={self.algorithm!r}, sampler='euler', n_inference_steps={self.config.n_inference_steps}"

    @classmethod
    def reads(cls, algorithm: str) -> bool:
        return algorithm in FLOW_METHODS

    @classmethod
    def _rebuilt(cls, algorithm: str, *args, **kwargs) -> FlowPolicy:
        return cls(*args, algorithm=algorithm, **kwargs)


class LatencyCompensated:
    """A chunking policy acting on observations `steps` control steps old, with latency compensation (notebook 11).

    A plan made from o_{t-d} (dpedu.envs.latency) is a plan for times t-d .. t-d+H-1: by the time it runs, its first
    d actions belong to the past. This policy skips them and executes actions d .. d+T_a-1, the ones meant for now
    (Chi et al. run their real robot this way: each action carries a time stamp, and those already past are dropped).
    It needs T_a + d <= H: a plan must reach far enough ahead. With steps=0 it acts exactly as the policy itself.

    Args:
        policy: a DiffusionPolicy or BaselinePolicy that observes vectors.
        steps: d, the latency it compensates, in control steps.
    """

    def __init__(self, policy: ChunkPolicy, steps: int):
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
            raise ValueError(f"steps must be an int >= 0 (control steps of latency), got {steps!r}")
        c = policy.config
        if c.n_action_steps + steps > c.action_horizon:
            raise ValueError(f"latency compensation skips {steps} actions and executes n_action_steps="
                             f"{c.n_action_steps}, but a plan has only action_horizon={c.action_horizon}: "
                             f"configure n_action_steps <= {c.action_horizon - steps}")
        if policy.layout.has_frames:
            raise ValueError("LatencyCompensated takes a policy that observes vectors, not camera frames")
        self.policy, self.steps = policy, int(steps)
        self.reset()

    def reset(self) -> None:
        self.policy.reset()
        self._queue = RecedingHorizon(self.policy.config.obs_horizon, self.policy.config.n_action_steps)

    def act(self, obs) -> np.ndarray:
        """obs (obs_dim,) -> action (act_dim,), or obs (N, obs_dim) -> actions (N, act_dim); env units."""
        obs = self.policy._check_obs(obs)
        d, n = self.steps, self.policy.config.n_action_steps
        action = self._queue.act(obs[None] if obs.ndim == 1 else obs,
                                 lambda history: self.policy.predict_chunk(history)[:, d: d + n])
        return action[0] if obs.ndim == 1 else action
