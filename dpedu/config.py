"""DPConfig: every hyperparameter of a diffusion policy, its default, and its validation; PRESETS per task.

The first thirteen fields are the reference table (same names, same defaults); the rest are the few
more this package needs, each with a default. `DPConfig.from_dict` is the one door for user input (and for
a checkpoint's saved config): unknown keys, wrong types and out-of-range values raise an error naming the
key and what is allowed, before anything is allocated.

This module sits at the bottom of dpedu's import graph: it imports no other dpedu module, and neither torch
nor gymnasium. The NAMES of the choices it validates (SCHEDULE_KINDS, SAMPLER_KINDS, PREDICTION_TYPES, NETWORKS,
CONDITIONINGS) are defined here and imported by the components; checks that need a component (the U-Net's
horizon rule, a linear schedule that exhausts float32, DDIM's eta range, the demonstrator's explore_noise) live
in that component and run when the Trainer or the policy builds it, still before any training.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

# The choices, by name (each component imports its own from here).
SCHEDULE_KINDS = ("cosine", "linear")  # dpedu.diffusion.schedule
SAMPLER_KINDS = ("ddim", "ddpm")  # dpedu.diffusion.sampler.SAMPLERS
PREDICTION_TYPES = ("epsilon", "sample")  # what the network outputs (diffusers' names); dpedu.diffusion.sampler
NETWORKS = ("mlp", "unet", "transformer")  # dpedu.networks.build_network
CONDITIONINGS = ("concat", "film")  # dpedu.networks.mlp
PIXEL_OBS_TYPES = ("pixels", "pixels_agent_pos")  # gym-pusht's names; dpedu.observations, dpedu.networks.vision
VISION_KEYS = ("vision_width", "crop_ratio", "n_keypoints", "vision_feature_dim")  # the vision encoder's, pixels only
# The Trainer's first argument: the method that learns the policy (dpedu.trainer; the baselines in dpedu/baselines/).
# "flow" and "reflow" (flow matching, and its one-step distillation: dpedu/diffusion/flow.py) train the same denoisers.
ALGORITHMS = ("diffusion", "flow", "reflow", "regression", "gmm", "ibc", "bet")
FLOW_METHODS = ("flow", "reflow")
# Keys that belong to one method: with another, they must keep their defaults (never silently ignored).
METHOD_KEYS = {"gmm": ("n_components",), "ibc": ("ibc_counter_examples", "ibc_samples", "ibc_iterations"),
               "bet": ("n_bins",)}
DIFFUSION_KEYS = ("n_diffusion_steps", "noise_schedule", "beta_start", "beta_end", "n_inference_steps", "sampler",
                  "ddim_eta", "clip_sample", "prediction_type", "network", "conditioning", "unet_dim", "unet_levels",
                  "unet_kernel_size", "unet_groups", "transformer_dim", "transformer_heads", "transformer_layers",
                  "transformer_causal")
# The keys of DDPM's noise schedule and samplers: flow matching has no schedule (its time is continuous) and one
# sampler, Euler's. (n_diffusion_steps stays: for a flow it only bounds n_inference_steps.)
DDPM_KEYS = ("noise_schedule", "beta_start", "beta_end", "sampler", "ddim_eta", "prediction_type")
DEVICES = ("auto", "cpu", "cuda", "mps")  # and "cuda:N"; dpedu.runtime.device.resolve_device

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed and numpy's SeedSequence both take it; 2**64 overflows torch


def _doc(text: str, bounds: tuple[int, int] | None = None, **kw) -> Any:
    """A field with its doc string; `bounds` (low, high) are checked by __post_init__ and appended to the doc."""
    if bounds is not None:
        text = f"{text} Range {bounds[0]:_}..{bounds[1]:_}."
    return field(metadata={"doc": text, "bounds": bounds}, **kw)


# Upper bounds keep a typo (hidden_dim=10**7, buffer_size=10**12) from failing deep inside torch, or from
# allocating gigabytes, long after the call that asked for it. Each is far above what the course uses.
MAX_STEPS = 10_000  # diffusion steps K (Ho et al.: T = 1000); the schedule's tables are computed step by step
MAX_WIDTH = 16_384  # an MLP layer of 16_384^2 float32 weights is 1 GiB
MAX_BATCH = 65_536
MAX_BUFFER = 100_000_000  # environment steps; the buffer is preallocated (obs, act and two int64 per step)
MAX_HORIZON = 1_024  # environment steps per window


@dataclass(frozen=True)
class DPConfig:
    # --- the reference table ---
    n_diffusion_steps: int = _doc("K: diffusion steps of the noise schedule used in training (flow matching, whose "
                                  "time is continuous: only the bound on n_inference_steps).", (1, MAX_STEPS),
                                  default=50)
    action_horizon: int = _doc("H: actions predicted per plan, a[t .. t+H-1].", (1, MAX_HORIZON), default=8)
    obs_horizon: int = _doc("To: observations conditioning a plan, o[t-To+1 .. t].", (1, MAX_HORIZON), default=2)
    hidden_dim: int = _doc("Width of the denoiser's hidden layers.", (1, MAX_WIDTH), default=256)
    learning_rate: float = _doc("Adam's step size.", default=1e-4)
    batch_size: int = _doc("(obs window, action window) samples per gradient update.", (1, MAX_BATCH), default=256)
    noise_schedule: str = _doc('"cosine" (Nichol & Dhariwal 2021) or "linear" (Ho et al. 2020).', default="cosine")
    beta_start: float = _doc("First beta of the linear schedule.", default=1e-4)
    beta_end: float = _doc("Last beta of the linear schedule.", default=0.02)
    buffer_size: int = _doc("Capacity of the FIFO demonstration buffer, in environment steps.", (1, MAX_BUFFER),
                            default=1_000_000)
    n_inference_steps: int = _doc("S: denoising steps per plan at inference (flow matching: Euler steps), at most "
                                  "n_diffusion_steps.",
                                  (1, MAX_STEPS), default=10)
    warmup_steps: int = _doc("Environment steps collected before the first gradient update.", (0, 2**63 - 1),
                             default=500)
    seed: int = _doc("Seeds numpy, torch, the environments and the demonstrator.", (0, MAX_SEED), default=42)
    # --- added by dpedu ---
    n_action_steps: int = _doc(
        "Actions executed from each plan before re-planning (receding horizon), at most action_horizon.",
        (1, MAX_HORIZON), default=1)
    sampler: str = _doc('"ddpm" (ancestral) or "ddim" (deterministic for eta=0); ddpm scored higher on Pendulum.',
                        default="ddpm")
    ddim_eta: float = _doc("DDIM's eta in [0, 1]: 0 deterministic, 1 the DDPM variance. DDIM only.", default=0.0)
    clip_sample: bool = _doc("Clip the predicted clean actions to [-1, 1] (the normalised range).", default=True)
    prediction_type: str = _doc('What the network predicts: "epsilon" (the noise, as Chi et al.; loss ||eps - '
                                'eps_hat||^2) or "sample" (the clean chunk A^0; loss ||A^0 - A_hat^0||^2).',
                                default="epsilon")
    network: str = _doc('The denoiser eps_theta(A^k, k, o): "mlp" (residual MLP over the flattened chunk), '
                        "\"unet\" (Chi et al.'s temporal conv U-Net with FiLM) or \"transformer\" (their time-series "
                        "diffusion transformer).", default="mlp")
    n_layers: int = _doc("Residual blocks (two linear layers each) of the MLP: the denoiser's with network='mlp', "
                         "and the regression baseline's.", (1, 64), default=2)
    conditioning: str = _doc('MLP only: how obs and k enter: "concat" (input) or "film" (every layer).',
                             default="concat")
    unet_dim: int = _doc("U-Net only: channels of its first level; level i has unet_dim * 2^i (Chi et al.: 256; "
                         "32 trains on a laptop CPU).", (1, 4_096), default=32)
    unet_levels: int = _doc("U-Net only: resolutions; action_horizon must be a multiple of 2^(unet_levels - 1) "
                            "(Chi et al.: 3).", (1, 8), default=2)
    unet_kernel_size: int = _doc("U-Net only: length (odd) of its temporal convolutions.", (1, 63), default=5)
    unet_groups: int = _doc("U-Net only: GroupNorm groups; must divide unet_dim.", (1, 4_096), default=8)
    transformer_dim: int = _doc("Transformer only: every token's width d (Chi et al.: 256; 64 trains on a laptop "
                                "CPU).", (2, 4_096), default=64)
    transformer_heads: int = _doc("Transformer only: attention heads; must divide transformer_dim (Chi et al.: 4).",
                                  (1, 256), default=4)
    transformer_layers: int = _doc("Transformer only: decoder layers (Chi et al.: 8).", (1, 64), default=2)
    transformer_causal: bool = _doc("Transformer only: an action token attends to the actions before it only (Chi et "
                                    "al.'s causal_attn, True), or to the whole chunk (False).", default=True)
    ema_decay: float = _doc("Decay of the exponential moving average of the weights used to act, in [0, 1).",
                            default=0.999)
    train_freq: int = _doc("After warmup, a round of gradient updates every train_freq environment steps.",
                           (1, 2**63 - 1), default=1)
    gradient_steps: int = _doc("Gradient updates per round.", (1, 10_000), default=1)
    max_grad_norm: float | None = _doc("Clip the gradient norm to this value; None: no clipping.", default=None)
    explore_noise: float | None = _doc(
        "DART (Laskey et al. 2017): while collecting, the environment executes the demonstrator's action plus "
        "Gaussian noise of this std (action units), a finite number >= 0; the clean action is the label. None: the "
        "task's default (Pendulum-v1 0, dpedu/Detour-v0 0.4).", default=None)
    obs_type: str | None = _doc(
        'What the policy observes, passed to gym.make(env_id, obs_type=...) (gym-pusht\'s convention): None, the '
        'env\'s default (a vector); "pixels" (a camera frame) or "pixels_agent_pos" (a frame and the agent\'s '
        "position), read by the vision encoder.", default=None)
    vision_width: int = _doc("Pixels only: channels of the ResNet-18's first stage (64: Chi et al.'s; 16 or 8: the "
                             "CPU-sized variants).", (1, 512), default=64)
    crop_ratio: float = _doc("Pixels only: the random crop's side over the frame's while training (the centre crop "
                             "when acting), in (0, 1]; Chi et al.: 84/96 = 0.875; 1: no crop.", default=0.875)
    n_keypoints: int = _doc("Pixels only: spatial-softmax keypoints per frame (Chi et al.: 32).", (1, 1_024),
                            default=32)
    vision_feature_dim: int = _doc("Pixels only: features per frame out of the vision encoder (Chi et al.: 64).",
                                   (1, 4_096), default=64)
    n_components: int = _doc('Trainer("gmm") only: Gaussian components of the mixture over chunks (robomimic: 5).',
                             (1, 1_024), default=5)
    ibc_counter_examples: int = _doc('Trainer("ibc") only: uniform counter-examples per demonstrated chunk in the '
                                     "InfoNCE loss (Florence et al.: 256; 64 on a CPU).", (1, 65_536), default=64)
    ibc_samples: int = _doc('Trainer("ibc") only: samples of the derivative-free optimiser that picks each plan '
                            "(Florence et al.: 16 384; 1 024 on a CPU).", (1, 1_048_576), default=1024)
    ibc_iterations: int = _doc('Trainer("ibc") only: resample-and-perturb iterations of that optimiser (Florence et '
                               "al.: 3).", (0, 100), default=3)
    n_bins: int = _doc('Trainer("bet") only: k-means bins of demonstrated chunks (Shafiullah et al.: 24-64).',
                       (1, 4_096), default=32)
    device: str = _doc('"auto" (CUDA when present, else CPU), "cpu", "cuda", "cuda:N" or "mps" (Apple GPUs); '
                       "a device this machine lacks is an error when the Trainer or policy is built.",
                       default="auto")

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.generic):
                # numpy scalars (a value from np.arange or a sweep) become Python ones, so checkpoints
                # stay plain Python.
                value = value.item()
                object.__setattr__(self, f.name, value)
            _check_type(f.name, value, f.type)
        for f in fields(self):
            if f.metadata["bounds"] is not None:
                low, high = f.metadata["bounds"]
                value = getattr(self, f.name)
                if value < low:
                    raise ValueError(f"{f.name} must be >= {low}, got {value}")
                if value > high:
                    raise ValueError(f"{f.name} must be <= {high:_}, got {value:_} (a bound that stops sizes and "
                                     "seeds which would fail deep inside torch or exhaust memory)")
        _choice("noise_schedule", self.noise_schedule, SCHEDULE_KINDS)
        _choice("sampler", self.sampler, SAMPLER_KINDS)
        _choice("prediction_type", self.prediction_type, PREDICTION_TYPES)
        _choice("network", self.network, NETWORKS)
        _choice("conditioning", self.conditioning, CONDITIONINGS)
        _in_range("learning_rate", self.learning_rate, 0.0, math.inf, "a finite number > 0")
        _in_range("beta_start", self.beta_start, 0.0, 1.0, "in (0, 1)")
        _in_range("beta_end", self.beta_end, 0.0, 1.0, "in (0, 1)")
        if self.beta_end <= self.beta_start:
            raise ValueError(f"beta_end ({self.beta_end}) must be > beta_start ({self.beta_start})")
        if self.n_inference_steps > self.n_diffusion_steps:
            raise ValueError(
                f"n_inference_steps ({self.n_inference_steps}) must be <= n_diffusion_steps "
                f"({self.n_diffusion_steps}): the sampler visits a subset of the training steps k = 1..K"
            )
        if self.n_action_steps > self.action_horizon:
            raise ValueError(
                f"n_action_steps ({self.n_action_steps}) must be <= action_horizon ({self.action_horizon}): "
                "a plan has only action_horizon actions to execute"
            )
        self._check_network()
        self._check_vision()
        if self.sampler == "ddpm" and self.ddim_eta != 0.0:
            raise ValueError(f"ddim_eta={self.ddim_eta} has no effect with sampler='ddpm'; use sampler='ddim'")
        if not (math.isfinite(self.ema_decay) and 0.0 <= self.ema_decay < 1.0):
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.max_grad_norm is not None:
            _in_range("max_grad_norm", self.max_grad_norm, 0.0, math.inf, "None or a finite number > 0")
        if not (self.device in DEVICES or (self.device.startswith("cuda:") and self.device[5:].isdigit())):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {self.device!r}")

    def _check_network(self) -> None:
        """Each network's own keys, checked; the other network's keys must keep their defaults (not ignored)."""
        # (hidden_dim and n_layers also size the regression baseline's MLP, so they apply with either network.)
        own = {"mlp": ("conditioning",), "unet": ("unet_dim", "unet_levels", "unet_kernel_size", "unet_groups"),
               "transformer": ("transformer_dim", "transformer_heads", "transformer_layers", "transformer_causal")}
        defaults = {f.name: f.default for f in fields(self)}
        for network, keys in own.items():
            changed = [k for k in keys if network != self.network and getattr(self, k) != defaults[k]]
            if changed:
                raise ValueError(f"{changed[0]}={getattr(self, changed[0])!r} applies to network={network!r} only, "
                                 f"but network={self.network!r}")
        if self.network == "unet":
            if self.unet_kernel_size % 2 == 0:
                raise ValueError(f"unet_kernel_size must be odd (the convolution keeps the length), "
                                 f"got {self.unet_kernel_size}")
            if self.unet_dim % self.unet_groups:
                raise ValueError(f"unet_groups ({self.unet_groups}) must divide unet_dim ({self.unet_dim})")
        if self.network == "transformer":
            if self.transformer_dim % 2 or self.transformer_dim < 4:
                raise ValueError(f"transformer_dim must be even and >= 4 (k's sinusoidal token), got "
                                 f"{self.transformer_dim}")
            if self.transformer_dim % self.transformer_heads:
                raise ValueError(f"transformer_heads ({self.transformer_heads}) must divide transformer_dim "
                                 f"({self.transformer_dim})")

    def _check_vision(self) -> None:
        """The vision encoder's keys apply to pixel observations only (they keep their defaults otherwise)."""
        if self.obs_type is not None and not self.obs_type:
            raise ValueError("obs_type must be None (the env's default) or a name such as 'pixels', got ''")
        if not (math.isfinite(self.crop_ratio) and 0.0 < self.crop_ratio <= 1.0):
            raise ValueError(f"crop_ratio must be in (0, 1], got {self.crop_ratio!r}")
        if self.obs_type not in PIXEL_OBS_TYPES:
            defaults = {f.name: f.default for f in fields(self)}
            changed = [k for k in VISION_KEYS if getattr(self, k) != defaults[k]]
            if changed:
                raise ValueError(f"{changed[0]}={getattr(self, changed[0])!r} applies to pixel observations only "
                                 f"(obs_type one of {PIXEL_OBS_TYPES}), but obs_type={self.obs_type!r}")

    def check_algorithm(self, algorithm: str) -> None:
        """The keys of other methods keep their defaults: a baseline (a residual MLP, no diffusion) with a diffusion
        key changed, or a GMM with n_bins, is an error that names the key, not a setting silently ignored."""
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}; available: {ALGORITHMS}")
        defaults = {f.name: f.default for f in fields(self)}
        foreign = [k for method, keys in METHOD_KEYS.items() if method != algorithm for k in keys]
        if algorithm in FLOW_METHODS:  # the same denoisers, without DDPM's schedule and samplers
            foreign += DDPM_KEYS
        elif algorithm != "diffusion":
            foreign += DIFFUSION_KEYS
        changed = [k for k in foreign if getattr(self, k) != defaults[k]]
        if changed:
            owner = next((m for m, keys in METHOD_KEYS.items() if changed[0] in keys), "diffusion")
            why = ("" if algorithm == "diffusion" else
                   " (flow matching has no noise schedule, and samples with Euler steps: n_inference_steps)"
                   if algorithm in FLOW_METHODS else " (the baselines use the residual MLP and no diffusion)")
            raise ValueError(f"{changed[0]}={getattr(self, changed[0])!r} applies to Trainer({owner!r}) only, "
                             f"not to {algorithm!r}{why}")
        if algorithm not in ("diffusion", "flow") and self.obs_type in PIXEL_OBS_TYPES:
            raise ValueError(f"obs_type={self.obs_type!r}: pixel observations are learned by Trainer('diffusion') "
                             f"and Trainer('flow') only; {algorithm!r} reads observation vectors")

    @classmethod
    def from_dict(cls, values: dict | None = None, **overrides) -> DPConfig:
        """A validated config from a dict of overrides; every other key keeps its default."""
        if values is not None and not isinstance(values, dict):
            raise TypeError(f"config must be a dict of hyperparameters, got {type(values).__name__}")
        merged = {**(values or {}), **overrides}
        known = [f.name for f in fields(cls)]
        for key in merged:
            if not isinstance(key, str) or key not in known:
                close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(known)}"
                raise ValueError(f"unknown config key {key!r}{hint}")
        return cls(**merged)

    def replace(self, **changes) -> DPConfig:
        """A copy with some values changed, validated like from_dict."""
        return DPConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def describe(cls) -> str:
        """A table of every key, its default and its meaning."""
        return "\n".join(f"{f.name:18} {f.default!r:>12}  {f.metadata['doc']}" for f in fields(cls))


def _check_type(name: str, value: Any, annotation: str) -> None:
    allows_none = "None" in annotation
    if value is None:
        if allows_none:
            return
        raise TypeError(f"{name} must not be None")
    base = annotation.replace(" | None", "")
    # bool is a subclass of int in Python; a True here is almost always a mistake.
    if base == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif base == "bool":
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise TypeError(f"{name} must be of type {annotation}, got {type(value).__name__} {value!r}")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def _in_range(name: str, value: float, low: float, high: float, allowed: str) -> None:
    if not (math.isfinite(value) and low < value < high):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


# The course's configuration for each built-in task: Trainer("diffusion", env=env_id, seed=s,
# config=PRESETS[env_id]["config"]).train(PRESETS[env_id]["total_timesteps"]).
PRESETS = {
    # "Pendulum in a minute": a smaller, faster-learning configuration that reaches the demonstrator's level on every
    # training seed tried (docs/results.md; benchmarks/time_to_expert.py). Three residual blocks (the default is
    # two): at width 128 the third block costs ~10% more time and keeps the two swing directions from rest balanced
    # (docs/results.md, "Design choices, measured"). DART noise (explore_noise 0.5 N·m, a quarter of the torque
    # limit) is what makes it robust: without it the demonstrations stay on the demonstrator's own narrow paths, and
    # on some seeds the policy meets states near the top that it never saw (seeds 0 and 1 scored -351.5 and -298.8 at
    # 12 000 steps).
    "Pendulum-v1": {"config": {"hidden_dim": 128, "learning_rate": 3e-4, "n_layers": 3, "explore_noise": 0.5},
                    "total_timesteps": 10_000},
    # dpedu/Detour-v0 (notebook 05): ~200 demonstrations (10 000 steps), 6 000 updates, most of the data collected
    # before the first update (warm-up 8 000, then 3 updates per step); 8 of each plan's 8 actions executed, so a
    # plan commits to a side. docs/results.md: success, sides, switches over 5 seeds (benchmarks/detour.py).
    "dpedu/Detour-v0": {"config": {"hidden_dim": 128, "n_layers": 3, "learning_rate": 1e-3, "n_action_steps": 8,
                                   "warmup_steps": 8_000, "gradient_steps": 3}, "total_timesteps": 10_000},
    # dpedu/PushT-v0 (notebook 08), offline as in the paper: the shipped planner demonstrations
    # (dpedu/course/datasets/pusht.zarr.zip), no demonstrator on call, n_updates gradient updates. The paper's
    # windows (T_o 2, H 16, T_a 8), K = 100 and all 100 DDPM steps at inference, as Chi et al. (10 respaced steps
    # scored 0.78 against 0.89 on seed 0). The residual MLP, not the U-Net: at the same CPU time (~20 min on one
    # thread: 80 000 MLP updates or 8 000 U-Net updates) it scored 0.89 against 0.81 on seed 0 (docs/results.md).
    "dpedu/PushT-v0": {"config": {"network": "mlp", "hidden_dim": 256, "n_layers": 3, "obs_horizon": 2,
                                  "action_horizon": 16, "n_action_steps": 8, "n_diffusion_steps": 100,
                                  "n_inference_steps": 100, "learning_rate": 3e-4},
                       "n_updates": 80_000, "dataset": "pusht"},
}
# The U-Net measured against the preset on Push-T (benchmarks/pusht.py --name unet; LeRobot's peer is this size).
PUSHT_UNET = {**{k: v for k, v in PRESETS["dpedu/PushT-v0"]["config"].items() if k not in ("hidden_dim", "n_layers")},
              "network": "unet"}
# A preset's "dataset": "pusht" names the dataset shipped in the package (dpedu.datasets.PUSHT_DATASET).

# Detour from pixels (notebook 09): obs_type "pixels", the frame alone, so the policy must find the point in the
# picture; offline, on 200 recorded demonstrations with their frames drawn. The CPU-sized vision encoder (width 8: a
# ResNet-18 with 8..64 channels). One frame per plan (obs_horizon 1): the point's position is Detour's whole state, and
# a second frame doubles the encoder's cost, the most of an update's. All K = 50 DDPM steps when acting (two seeds, with
# the crop: 93% and 97% success against 91% and 91% with 10). No random crop: on this task, a fixed synthetic camera,
# the paper's crop (0.875) cost success on every seed (benchmarks/detour_pixels.py, docs/results.md). ~2 min on 2 cores.
DETOUR_PIXELS = {"config": {"obs_type": "pixels", "vision_width": 8, "n_keypoints": 16, "vision_feature_dim": 32,
                            "crop_ratio": 1.0, "obs_horizon": 1, "hidden_dim": 128, "n_layers": 3,
                            "learning_rate": 1e-3, "n_action_steps": 8, "batch_size": 64, "n_inference_steps": 50},
                 "n_updates": 6_000}

# Push-T from pixels (benchmarks/pusht_pixels.py; notebook 09 says what it costs): the state preset's windows and
# denoiser, gym-pusht's "pixels_agent_pos" (the 96 x 96 frame and the agent's position), Chi et al.'s encoder (ResNet-18
# at width 64, crop 84 of 96, 32 keypoints, 64 features) and their image tasks' batch of 64. A GPU job: on the course's
# 2-core CPU one update takes over a second.
PUSHT_PIXELS = {"config": {**PRESETS["dpedu/PushT-v0"]["config"], "obs_type": "pixels_agent_pos", "vision_width": 64,
                           "crop_ratio": 0.875, "n_keypoints": 32, "vision_feature_dim": 64, "batch_size": 64},
                "n_updates": 80_000}
