"""Reverse diffusion: turn noise x_T into a sample x_0 with a noise-prediction model.

Both samplers visit a descending list of timesteps tau_1 > tau_2 > ... > tau_S (S = n_inference_steps,
1 <= S <= T) and step from each visited t straight to the next visited s (s = -1 after the last,
where alpha_bar_{-1} = 1). With S < T this is *respacing* (Nichol & Dhariwal 2021, sec. 4): the
chain t -> s is itself a diffusion with

    alpha_{t|s} = alpha_bar_t / alpha_bar_s,     beta_{t|s} = 1 - alpha_{t|s},

so every step below uses alpha_{t|s}, never the one-step beta_t of the full chain (applying the
one-step update at skipped timesteps leaves most of the noise in the sample).

Every step first predicts the clean sample from the noise prediction eps = model(x_t, t, cond):

    x0_pred = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)     (clipped to [-1, 1] if clip_sample)

and then moves to s as  x_s = a x0_pred + b x_t + c eps + sigma z,  z ~ N(0, I); the samplers differ
only in (a, b, c, sigma):

    DDPM (Ho et al. 2020, eq. 6-7): the posterior q(x_s | x_t, x0_pred)
        a = sqrt(alpha_bar_s) beta_{t|s} / (1 - alpha_bar_t)
        b = sqrt(alpha_{t|s}) (1 - alpha_bar_s) / (1 - alpha_bar_t),   c = 0
        sigma^2 = beta_{t|s} (1 - alpha_bar_s) / (1 - alpha_bar_t)
    DDIM (Song et al. 2021, eq. 12), eta in [0, 1] (0: deterministic, 1: DDPM's variance)
        sigma = eta sqrt((1 - alpha_bar_s) / (1 - alpha_bar_t) beta_{t|s})
        a = sqrt(alpha_bar_s),   b = 0,   c = sqrt(1 - alpha_bar_s - sigma^2)

Timesteps are spaced "trailing" (Lin et al. 2024): tau_1 = T-1 always, so even S = 1 starts from the
noisiest step; with S = T they are T-1, ..., 0. The numbers match diffusers' DDPMScheduler and
DDIMScheduler with timestep_spacing="trailing" (tested).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from dpedu.schedule import NoiseSchedule

Model = Callable[[torch.Tensor, torch.Tensor, object], torch.Tensor]


def respaced_timesteps(n_steps: int, n_inference_steps: int) -> list[int]:
    """The S timesteps visited, descending, "trailing" spacing: round(T - i T / S) - 1 for i = 0..S-1."""
    if isinstance(n_inference_steps, bool) or not isinstance(n_inference_steps, int):
        raise TypeError(f"n_inference_steps must be an int, got {type(n_inference_steps).__name__}")
    if not 1 <= n_inference_steps <= n_steps:
        raise ValueError(f"n_inference_steps must be in 1..{n_steps} (the schedule's T), got {n_inference_steps}")
    i = np.arange(n_inference_steps)
    return (np.round(n_steps - i * (n_steps / n_inference_steps)).astype(np.int64) - 1).tolist()


class Sampler:
    """Shared loop of the samplers; subclasses define the step coefficients (a, b, c, sigma).

    Args:
        schedule: the NoiseSchedule the model was trained with.
        n_inference_steps: S, how many denoising steps (1..T); None means T.
        clip_sample: clip x0_pred to [-1, 1], the range the data were normalised to.
    """

    def __init__(self, schedule: NoiseSchedule, n_inference_steps: int | None = None, clip_sample: bool = True):
        if not isinstance(schedule, NoiseSchedule):
            raise TypeError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
        self.schedule = schedule
        steps = schedule.n_steps if n_inference_steps is None else n_inference_steps
        visited = respaced_timesteps(schedule.n_steps, steps)
        self.clip_sample = bool(clip_sample)
        self.timesteps = torch.tensor(visited, dtype=torch.long)
        self.prev_timesteps = torch.tensor(visited[1:] + [-1], dtype=torch.long)
        # One row of python floats per visited step: scalars go to the kernels as arguments, so the
        # loop never copies from the device.
        self._table = [self.coefficients(t, s) for t, s in zip(visited, visited[1:] + [-1])]

    @property
    def n_inference_steps(self) -> int:
        return len(self._table)

    def _alpha_bar(self, t: int) -> float:
        return 1.0 if t < 0 else float(self.schedule.alpha_bars_f64[t])

    def coefficients(self, t: int, s: int) -> tuple[float, float, float, float]:
        """(a, b, c, sigma) of the step from t to s: x_s = a x0_pred + b x_t + c eps + sigma z."""
        raise NotImplementedError

    def step(
        self, x_t: torch.Tensor, eps: torch.Tensor, t: int, s: int, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One reverse step from timestep t to timestep s < t. Returns (x_s, x0_pred)."""
        return self._step(x_t, eps, t, self.coefficients(t, s), noise)

    def _step(self, x_t, eps, t, coefs, noise):
        a, b, c, sigma = coefs
        if sigma > 0.0 and noise is None:
            raise ValueError(f"the step from t={t} adds noise (sigma={sigma:.3g}): pass `noise`")
        alpha_bar_t = self._alpha_bar(t)
        # The formulas above, written as few fused kernels (x + alpha y in one, in place where the
        # tensor is new): at batch 1 the cost of a step is the number of kernel launches, not arithmetic.
        x0_pred = torch.add(x_t, eps, alpha=-math.sqrt(1.0 - alpha_bar_t)).div_(math.sqrt(alpha_bar_t))
        if self.clip_sample:
            x0_pred.clamp_(-1.0, 1.0)
        x_prev = torch.mul(x0_pred, a)
        if b != 0.0:
            x_prev.add_(x_t, alpha=b)
        if c != 0.0:
            x_prev.add_(eps, alpha=c)
        if sigma > 0.0:
            x_prev.add_(noise, alpha=sigma)
        return x_prev, x0_pred

    @torch.inference_mode()
    def sample(
        self,
        model: Model,
        shape: tuple[int, ...],
        cond: object = None,
        generator: torch.Generator | None = None,
        x_T: torch.Tensor | None = None,
        return_trajectory: bool = False,
    ):
        """Run the reverse chain from x_T ~ N(0, I) to x_0.

        Args:
            model: any callable eps = model(x_t, t, cond) with t a (B,) LongTensor.
            shape: (B, ...) of the samples.
            cond: passed to the model unchanged (e.g. the observation window).
            generator: torch.Generator for x_T and the step noise (on the schedule's device).
            x_T: start from this noise instead of drawing it.
            return_trajectory: also return every x_t visited, (S + 1, *shape), x_T first.
        Returns:
            x0 (shape), or (x0, trajectory).
        """
        device = self.schedule.device
        shape = tuple(shape)
        if x_T is None:
            x = torch.randn(shape, generator=generator, device=device)
        else:
            if tuple(x_T.shape) != shape:
                raise ValueError(f"x_T has shape {tuple(x_T.shape)}, expected {shape}")
            x = x_T.to(device=device, dtype=torch.float32)
        trajectory = [x] if return_trajectory else None
        t_batch = torch.empty(shape[0], dtype=torch.long, device=device)
        for t, coefs in zip(self.timesteps.tolist(), self._table):
            eps = model(x, t_batch.fill_(t), cond)
            noise = torch.randn(shape, generator=generator, device=device) if coefs[3] > 0.0 else None
            x, _ = self._step(x, eps, t, coefs, noise)
            if return_trajectory:
                trajectory.append(x)
        return (x, torch.stack(trajectory)) if return_trajectory else x

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.schedule!r}, n_inference_steps={self.n_inference_steps})"


class DDPMSampler(Sampler):
    """Ancestral sampling from the (respaced) DDPM posterior q(x_s | x_t, x0_pred)."""

    def coefficients(self, t: int, s: int) -> tuple[float, float, float, float]:
        alpha_bar_t, alpha_bar_s = self._alpha_bar(t), self._alpha_bar(s)
        alpha_ts = alpha_bar_t / alpha_bar_s  # alpha_{t|s}
        beta_ts = 1.0 - alpha_ts
        a = math.sqrt(alpha_bar_s) * beta_ts / (1.0 - alpha_bar_t)
        b = math.sqrt(alpha_ts) * (1.0 - alpha_bar_s) / (1.0 - alpha_bar_t)
        # At s = -1 the posterior is a point (1 - alpha_bar_s = 0): return its mean.
        sigma = math.sqrt(beta_ts * (1.0 - alpha_bar_s) / (1.0 - alpha_bar_t)) if s >= 0 else 0.0
        return a, b, 0.0, sigma


class DDIMSampler(Sampler):
    """DDIM: eta = 0 is a deterministic map from x_T to x_0; eta = 1 has DDPM's step variance."""

    def __init__(
        self,
        schedule: NoiseSchedule,
        n_inference_steps: int | None = None,
        eta: float = 0.0,
        clip_sample: bool = True,
    ):
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be a number in [0, 1], got {eta!r}")
        self.eta = float(eta)
        super().__init__(schedule, n_inference_steps, clip_sample)

    def coefficients(self, t: int, s: int) -> tuple[float, float, float, float]:
        alpha_bar_t, alpha_bar_s = self._alpha_bar(t), self._alpha_bar(s)
        beta_ts = 1.0 - alpha_bar_t / alpha_bar_s
        sigma = self.eta * math.sqrt((1.0 - alpha_bar_s) / (1.0 - alpha_bar_t) * beta_ts)
        # max(.., 0) guards the float rounding of 1 - alpha_bar_s - sigma^2 at eta = 1, s = -1.
        c = math.sqrt(max(1.0 - alpha_bar_s - sigma**2, 0.0))
        return math.sqrt(alpha_bar_s), 0.0, c, sigma

    def __repr__(self) -> str:
        return f"DDIMSampler({self.schedule!r}, n_inference_steps={self.n_inference_steps}, eta={self.eta})"


SAMPLERS = {"ddpm": DDPMSampler, "ddim": DDIMSampler}


def make_sampler(
    kind: str, schedule: NoiseSchedule, n_inference_steps: int | None = None, eta: float = 0.0, clip_sample=True
) -> Sampler:
    """DDPMSampler or DDIMSampler by name ("ddpm" | "ddim"); eta is DDIM's."""
    if kind == "ddpm":
        if eta != 0.0:
            raise ValueError(f"eta={eta} is a DDIM setting; DDPM has none (use kind='ddim')")
        return DDPMSampler(schedule, n_inference_steps, clip_sample)
    if kind == "ddim":
        return DDIMSampler(schedule, n_inference_steps, eta, clip_sample)
    raise ValueError(f"sampler must be one of {tuple(SAMPLERS)}, got {kind!r}")
