r"""Reverse diffusion: turn noise x_{T-1} into a clean sample x_{-1} with a noise-prediction model. Notebooks 02, 06.

Steps are numbered t = 0..T-1 as the tables are indexed; the clean sample comes before step 0 (x_{-1}, with
alpha_bar_{-1} = 1). The code keeps the usual names: `x0_pred` for its estimate, `x_T` for the starting noise.

Both samplers visit a descending list of timesteps tau_1 > tau_2 > ... > tau_S (S = n_inference_steps,
1 <= S <= T) and step from each visited t straight to the next visited s (s = -1 after the last,
where alpha_bar_{-1} = 1). With S < T this is *respacing* (Nichol & Dhariwal 2021, sec. 4): the
chain t -> s is itself a diffusion with

    alpha_{t|s} = alpha_bar_t / alpha_bar_s,     beta_{t|s} = 1 - alpha_{t|s},

so every step below uses alpha_{t|s}, never the one-step beta_t of the full chain (applying the
one-step update at skipped timesteps leaves most of the noise in the sample).

Every step first predicts the clean sample from the noise prediction eps = eps_theta(x_t, t, cond):

    x0_pred = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)     (clipped to [-1, 1] if clip_sample)

and then moves to s:

    DDPM (Ho et al. 2020, eq. 6-7): a draw from the posterior q(x_s | x_t, x0_pred) = N(mu, sigma^2 I),
        mu      = sqrt(alpha_bar_s) beta_{t|s} / (1 - alpha_bar_t) x0_pred
                  + sqrt(alpha_{t|s}) (1 - alpha_bar_s) / (1 - alpha_bar_t) x_t
        sigma^2 = beta_{t|s} (1 - alpha_bar_s) / (1 - alpha_bar_t)
        x_s     = mu + sigma z,  z ~ N(0, I)
    DDIM (Song et al. 2021, eq. 12), eta in [0, 1] (0: deterministic, 1: DDPM's variance):
        sigma   = eta sqrt((1 - alpha_bar_s) / (1 - alpha_bar_t) beta_{t|s})
        x_s     = sqrt(alpha_bar_s) x0_pred + sqrt(1 - alpha_bar_s - sigma^2) eps + sigma z

Timesteps are spaced "trailing" (Lin et al. 2024): tau_1 = T-1 always, so even S = 1 starts from the
noisiest step; with S = T they are T-1, ..., 0. The steps match diffusers' DDPMScheduler and
DDIMScheduler with timestep_spacing="trailing" (tests/test_sampler.py).

Glossary (code name: symbol): alpha_bar_t: \bar\alpha_t; alpha_ts: \alpha_{t|s}; beta_ts: \beta_{t|s};
x0_pred: \hat x_{-1}; posterior_mean: \tilde\mu; sigma: \sigma_{t|s}; z: fresh N(0, I) noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

from dpedu.diffusion.schedule import NoiseSchedule

Model = Callable[[torch.Tensor, torch.Tensor, object], torch.Tensor]


def respaced_timesteps(n_steps: int, n_inference_steps: int) -> list[int]:
    """The S timesteps visited, descending, "trailing" spacing: round(T - i T / S) - 1 for i = 0..S-1."""
    if isinstance(n_inference_steps, bool) or not isinstance(n_inference_steps, int):
        raise TypeError(f"n_inference_steps must be an int, got {type(n_inference_steps).__name__}")
    if not 1 <= n_inference_steps <= n_steps:
        raise ValueError(f"n_inference_steps must be in 1..{n_steps} (the schedule's T), got {n_inference_steps}")
    i = np.arange(n_inference_steps)
    return (np.round(n_steps - i * (n_steps / n_inference_steps)).astype(np.int64) - 1).tolist()


def check_eta(eta) -> float:
    """DDIM's eta as a float in [0, 1], or a ValueError saying what is allowed."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not (math.isfinite(eta) and 0.0 <= eta <= 1.0):
        raise ValueError(f"ddim_eta must be in [0, 1], got {eta!r} (0: deterministic DDIM, 1: DDPM's variance)")
    return float(eta)


class StepCoefficients(NamedTuple):
    """x_s = x0_coef x0_pred + x_t_coef x_t + eps_coef eps + sigma z: the numbers of one step t -> s."""

    x0_coef: float
    x_t_coef: float
    eps_coef: float
    sigma: float


class Sampler:
    """The loop both samplers share: `sample` calls the subclass's `step` once per visited timestep.

    Args:
        schedule: the NoiseSchedule the model was trained with.
        n_inference_steps: S, how many denoising steps (1..T); None means T.
        clip_sample: clip x0_pred to [-1, 1], the range the data were normalised to.
    """

    def __init__(self, schedule: NoiseSchedule, n_inference_steps: int | None = None, clip_sample: bool = True):
        if not isinstance(schedule, NoiseSchedule):
            raise TypeError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
        self.schedule = schedule
        self.clip_sample = bool(clip_sample)
        visited = respaced_timesteps(schedule.n_steps, schedule.n_steps if n_inference_steps is None
                                     else n_inference_steps)
        self.timesteps = torch.tensor(visited, dtype=torch.long)  # tau_1 > ... > tau_S
        self.steps = list(zip(visited, visited[1:] + [-1]))  # the (t, s) pairs, s = -1 after the last

    @property
    def n_inference_steps(self) -> int:
        return len(self.steps)

    def alpha_bar(self, t: int) -> float:
        """alpha_bar_t as a Python float (float64 precision), with alpha_bar_{-1} = 1."""
        return 1.0 if t < 0 else float(self.schedule.alpha_bars_f64[t])

    def coefficients(self, t: int, s: int) -> StepCoefficients:
        """The numbers of the step t -> s: x_s = x0_coef x0_pred + x_t_coef x_t + eps_coef eps + sigma z."""
        raise NotImplementedError

    def predict_x0(self, x_t: torch.Tensor, eps: torch.Tensor, t: int) -> torch.Tensor:
        """x0_pred = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t), clipped to [-1, 1] if clip_sample.

        (Ho et al. eq. 15 solved for x_0.) Clipping keeps the estimate in the range the data were normalised to;
        the noisiest steps' estimates are poor and otherwise land far outside it (notebook 02 measures this).
        """
        alpha_bar_t = self.alpha_bar(t)
        x0_pred = (x_t - math.sqrt(1.0 - alpha_bar_t) * eps) / math.sqrt(alpha_bar_t)
        return x0_pred.clamp(-1.0, 1.0) if self.clip_sample else x0_pred

    def step(self, x_t: torch.Tensor, eps: torch.Tensor, t: int, s: int, z: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One reverse step from timestep t to s < t: returns (x_s, x0_pred).

        z: the step's N(0, I) noise; None draws it from `generator` where the step adds noise.
        """
        raise NotImplementedError

    @staticmethod
    def _noise(z: torch.Tensor | None, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn(like.shape, generator=generator, device=like.device) if z is None else z

    @torch.inference_mode()
    def sample(self, model: Model, shape: tuple[int, ...], cond: object = None,
               generator: torch.Generator | None = None, x_T: torch.Tensor | None = None,
               return_trajectory: bool = False):
        """Run the reverse chain from x_{T-1} ~ N(0, I) (the argument x_T) to the clean x_{-1}.

        Args:
            model: any callable eps = model(x_t, t, cond) with t a (B,) LongTensor.
            shape: (B, ...) of the samples.
            cond: passed to the model unchanged (e.g. the observation window).
            generator: torch.Generator for x_T and the step noise (on the schedule's device).
            x_T: start from this noise instead of drawing it.
            return_trajectory: also return every x_t visited, (S + 1, *shape), x_T first.
        Returns:
            the clean samples (shape), or (samples, trajectory).
        """
        device, shape = self.schedule.device, tuple(shape)
        if x_T is None:
            x = torch.randn(shape, generator=generator, device=device)
        elif tuple(x_T.shape) != shape:
            raise ValueError(f"x_T has shape {tuple(x_T.shape)}, expected {shape}")
        else:
            x = x_T.to(device=device, dtype=torch.float32)
        trajectory = [x]
        for t, s in self.steps:
            eps = model(x, torch.full((shape[0],), t, dtype=torch.long, device=device), cond)
            x, _ = self.step(x, eps, t, s, generator=generator)
            if return_trajectory:
                trajectory.append(x)
        return (x, torch.stack(trajectory)) if return_trajectory else x

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.schedule!r}, n_inference_steps={self.n_inference_steps})"


class DDPMSampler(Sampler):
    """Ancestral sampling from the (respaced) DDPM posterior q(x_s | x_t, x0_pred)."""

    def coefficients(self, t: int, s: int) -> StepCoefficients:
        alpha_bar_t, alpha_bar_s = self.alpha_bar(t), self.alpha_bar(s)
        alpha_ts = alpha_bar_t / alpha_bar_s
        beta_ts = 1.0 - alpha_ts
        # posterior_mean = x0_coef x0_pred + x_t_coef x_t   (Ho et al. eq. 7, with t -> s respaced)
        x0_coef = math.sqrt(alpha_bar_s) * beta_ts / (1.0 - alpha_bar_t)
        x_t_coef = math.sqrt(alpha_ts) * (1.0 - alpha_bar_s) / (1.0 - alpha_bar_t)
        # At s = -1 the posterior is a point (1 - alpha_bar_s = 0): the last step returns its mean.
        sigma = math.sqrt(beta_ts * (1.0 - alpha_bar_s) / (1.0 - alpha_bar_t)) if s >= 0 else 0.0
        return StepCoefficients(x0_coef, x_t_coef, 0.0, sigma)

    def step(self, x_t, eps, t, s, z=None, generator=None):
        # 1. The respaced step's numbers: the posterior's coefficients (eq. 7) and its standard deviation.
        x0_coef, x_t_coef, _, sigma = self.coefficients(t, s)
        # 2. The clean sample predicted from the noise (eq. 15), clipped to the data's range.
        x0_pred = self.predict_x0(x_t, eps, t)
        # 3. The posterior mean mu_tilde(x_t, x0_pred) (eq. 7).
        posterior_mean = x0_coef * x0_pred + x_t_coef * x_t
        # 4. A draw from the posterior N(mu_tilde, sigma^2 I) (Algorithm 2, line 4); none at the last step.
        if sigma == 0.0:
            return posterior_mean, x0_pred
        return posterior_mean + sigma * self._noise(z, x_t, generator), x0_pred


class DDIMSampler(Sampler):
    """DDIM: eta = 0 is a deterministic map from x_{T-1} to x_{-1}; eta = 1 has DDPM's step variance."""

    def __init__(self, schedule: NoiseSchedule, n_inference_steps: int | None = None, eta: float = 0.0,
                 clip_sample: bool = True):
        self.eta = check_eta(eta)
        super().__init__(schedule, n_inference_steps, clip_sample)

    def coefficients(self, t: int, s: int) -> StepCoefficients:
        alpha_bar_t, alpha_bar_s = self.alpha_bar(t), self.alpha_bar(s)
        beta_ts = 1.0 - alpha_bar_t / alpha_bar_s
        sigma = self.eta * math.sqrt((1.0 - alpha_bar_s) / (1.0 - alpha_bar_t) * beta_ts)  # Song et al. eq. 16
        # the "direction pointing to x_t", sqrt(1 - alpha_bar_s - sigma^2) eps; max(.., 0) guards the float
        # rounding of 1 - alpha_bar_s - sigma^2 at eta = 1, s = -1.
        eps_coef = math.sqrt(max(1.0 - alpha_bar_s - sigma**2, 0.0))
        return StepCoefficients(math.sqrt(alpha_bar_s), 0.0, eps_coef, sigma)

    def step(self, x_t, eps, t, s, z=None, generator=None):
        # 1. The step's numbers: sqrt(alpha_bar_s), the direction's sqrt(1 - alpha_bar_s - sigma^2), sigma (eq. 16).
        x0_coef, _, eps_coef, sigma = self.coefficients(t, s)
        # 2. The clean sample predicted from the noise (Song et al. eq. 12, "predicted x_0"), clipped.
        x0_pred = self.predict_x0(x_t, eps, t)
        # 3. x_s = sqrt(alpha_bar_s) x0_pred + sqrt(1 - alpha_bar_s - sigma^2) eps + sigma z   (eq. 12)
        x_s = x0_coef * x0_pred + eps_coef * eps
        if sigma == 0.0:
            return x_s, x0_pred
        return x_s + sigma * self._noise(z, x_t, generator), x0_pred

    def __repr__(self) -> str:
        return f"DDIMSampler({self.schedule!r}, n_inference_steps={self.n_inference_steps}, eta={self.eta})"


SAMPLERS = {"ddpm": DDPMSampler, "ddim": DDIMSampler}


def make_sampler(kind: str, schedule: NoiseSchedule, n_inference_steps: int | None = None, eta: float = 0.0,
                 clip_sample: bool = True) -> Sampler:
    """DDPMSampler or DDIMSampler by name (a key of SAMPLERS); eta is DDIM's, and DDPM has none."""
    if kind not in SAMPLERS:
        raise ValueError(f"sampler must be one of {tuple(SAMPLERS)}, got {kind!r}")
    if kind == "ddpm":
        if eta != 0.0:
            raise ValueError(f"eta={eta} is a DDIM setting; DDPM has none (use kind='ddim')")
        return DDPMSampler(schedule, n_inference_steps, clip_sample)
    return DDIMSampler(schedule, n_inference_steps, eta, clip_sample)
