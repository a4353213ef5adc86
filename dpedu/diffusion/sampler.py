r"""Reverse diffusion: turn noise x^K into a clean sample x^0 with a trained network. Notebooks 02, 06.

Steps are numbered k = 0..K as the schedule's tables are indexed: x^0 is the clean sample (alpha_bar_0 = 1),
x^K ~ N(0, I) the starting noise (the argument `x_K`). The code calls its estimate of x^0 `x0_pred`.

Both samplers visit a descending list of steps tau_1 > tau_2 > ... > tau_S (S = n_inference_steps,
1 <= S <= K) and step from each visited k straight to the next visited s (s = 0 after the last, which
returns the clean sample). With S < K this is *respacing* (Nichol & Dhariwal 2021, sec. 4): the
chain k -> s is itself a diffusion with

    alpha_{k|s} = alpha_bar_k / alpha_bar_s,     beta_{k|s} = 1 - alpha_{k|s},

so every step below uses alpha_{k|s}, never the one-step beta_k of the full chain (applying the
one-step update at skipped steps leaves most of the noise in the sample).

Every step first estimates the clean sample from the network's output at (x^k, k, cond):

    prediction_type "epsilon" (the network predicts the noise, eps = eps_theta(x^k, k, cond)):
        x0_pred = (x^k - sqrt(1 - alpha_bar_k) eps) / sqrt(alpha_bar_k)
    prediction_type "sample" (the network predicts the clean sample itself): x0_pred = its output, and
        eps     = (x^k - sqrt(alpha_bar_k) x0_pred) / sqrt(1 - alpha_bar_k)   where a step needs it
    then x0_pred is clipped to [-1, 1] if clip_sample,

and then moves to s:

    DDPM (Ho et al. 2020, eq. 6-7): a draw from the posterior q(x^s | x^k, x0_pred) = N(mu, sigma^2 I),
        mu      = sqrt(alpha_bar_s) beta_{k|s} / (1 - alpha_bar_k) x0_pred
                  + sqrt(alpha_{k|s}) (1 - alpha_bar_s) / (1 - alpha_bar_k) x^k
        sigma^2 = beta_{k|s} (1 - alpha_bar_s) / (1 - alpha_bar_k)
        x^s     = mu + sigma z,  z ~ N(0, I)
    DDIM (Song et al. 2021, eq. 12), eta in [0, 1] (0: deterministic, 1: DDPM's variance):
        sigma   = eta sqrt((1 - alpha_bar_s) / (1 - alpha_bar_k) beta_{k|s})
        x^s     = sqrt(alpha_bar_s) x0_pred + sqrt(1 - alpha_bar_s - sigma^2) eps + sigma z

Steps are spaced "trailing" (Lin et al. 2024): tau_1 = K always, so even S = 1 starts from the
noisiest step; with S = K they are K, ..., 1. The steps match diffusers' DDPMScheduler and
DDIMScheduler with timestep_spacing="trailing", whose timestep index is k - 1 (tests/test_sampler.py).

Glossary (code name: symbol): alpha_bar_k: \bar\alpha_k; alpha_ks: \alpha_{k|s}; beta_ks: \beta_{k|s};
x0_pred: \hat x^0; posterior_mean: \tilde\mu; sigma: \sigma_{k|s}; z: fresh N(0, I) noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

from dpedu.config import PREDICTION_TYPES
from dpedu.diffusion.schedule import NoiseSchedule

Model = Callable[[torch.Tensor, torch.Tensor, object], torch.Tensor]


def respaced_timesteps(n_steps: int, n_inference_steps: int) -> list[int]:
    """The S diffusion steps visited, descending, "trailing" spacing: round(K - i K / S) for i = 0..S-1."""
    if isinstance(n_inference_steps, bool) or not isinstance(n_inference_steps, int):
        raise TypeError(f"n_inference_steps must be an int, got {type(n_inference_steps).__name__}")
    if not 1 <= n_inference_steps <= n_steps:
        raise ValueError(f"n_inference_steps must be in 1..{n_steps} (the schedule's K), got {n_inference_steps}")
    i = np.arange(n_inference_steps)
    return np.round(n_steps - i * (n_steps / n_inference_steps)).astype(np.int64).tolist()


def check_eta(eta) -> float:
    """DDIM's eta as a float in [0, 1], or a ValueError saying what is allowed."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not (math.isfinite(eta) and 0.0 <= eta <= 1.0):
        raise ValueError(f"ddim_eta must be in [0, 1], got {eta!r} (0: deterministic DDIM, 1: DDPM's variance)")
    return float(eta)


def check_prediction_type(prediction_type) -> str:
    """prediction_type as given, or a ValueError naming the allowed values."""
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r} "
                         "('epsilon': the network predicts the noise; 'sample': the clean sample x^0)")
    return prediction_type


def starting_noise(x_K: torch.Tensor | None, x_T: torch.Tensor | None) -> torch.Tensor | None:
    """x_K, or x_T, its former name; a ValueError if both are given (neither is silently dropped)."""
    if x_T is not None and x_K is not None:
        raise ValueError("give the starting noise as x_K or as x_T (its former name), not both")
    return x_K if x_T is None else x_T


class StepCoefficients(NamedTuple):
    """x^s = x0_coef x0_pred + x_k_coef x^k + eps_coef eps + sigma z: the numbers of one step k -> s."""

    x0_coef: float
    x_k_coef: float
    eps_coef: float
    sigma: float


class Sampler:
    """The loop both samplers share: `sample` calls the subclass's `step` once per visited step k.

    Args:
        schedule: the NoiseSchedule the model was trained with.
        n_inference_steps: S, how many denoising steps (1..K); None means K.
        clip_sample: clip x0_pred to [-1, 1], the range the data were normalised to.
        prediction_type: what the network outputs: "epsilon" (the noise eps) or "sample" (the clean x^0).
    """

    def __init__(self, schedule: NoiseSchedule, n_inference_steps: int | None = None, clip_sample: bool = True,
                 prediction_type: str = "epsilon"):
        if not isinstance(schedule, NoiseSchedule):
            raise TypeError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
        self.schedule = schedule
        self.clip_sample = bool(clip_sample)
        self.prediction_type = check_prediction_type(prediction_type)
        visited = respaced_timesteps(schedule.n_steps, schedule.n_steps if n_inference_steps is None
                                     else n_inference_steps)
        self.timesteps = torch.tensor(visited, dtype=torch.long)  # tau_1 = K > ... > tau_S
        self.steps = list(zip(visited, visited[1:] + [0]))  # the (k, s) pairs, s = 0 (clean) after the last

    @property
    def n_inference_steps(self) -> int:
        return len(self.steps)

    def alpha_bar(self, k: int) -> float:
        """alpha_bar_k as a Python float (float64 precision); alpha_bar_0 = 1."""
        return float(self.schedule.alpha_bars_f64[k])

    def coefficients(self, k: int, s: int) -> StepCoefficients:
        """The numbers of the step k -> s: x^s = x0_coef x0_pred + x_k_coef x^k + eps_coef eps + sigma z."""
        raise NotImplementedError

    def predict_x0(self, x_k: torch.Tensor, model_output: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0_pred, eps) from the network's output at step k; x0_pred clipped to [-1, 1] if clip_sample.

        "epsilon": x0_pred = (x^k - sqrt(1 - alpha_bar_k) eps) / sqrt(alpha_bar_k) (Ho et al. eq. 15 solved for x^0).
        "sample":  x0_pred is the output; eps = (x^k - sqrt(alpha_bar_k) x0_pred) / sqrt(1 - alpha_bar_k).
        Both from the unclipped estimate, as diffusers does. Clipping keeps the estimate in the range the data were
        normalised to; the noisiest steps' estimates are poor and otherwise land far outside it (notebook 02).
        """
        alpha_bar_k = self.alpha_bar(k)
        if self.prediction_type == "epsilon":
            eps = model_output
            x0_pred = (x_k - math.sqrt(1.0 - alpha_bar_k) * eps) / math.sqrt(alpha_bar_k)
        else:
            x0_pred = model_output
            eps = (x_k - math.sqrt(alpha_bar_k) * x0_pred) / math.sqrt(1.0 - alpha_bar_k)
        return (x0_pred.clamp(-1.0, 1.0) if self.clip_sample else x0_pred), eps

    def step(self, x_k: torch.Tensor, model_output: torch.Tensor, k: int, s: int, z: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One reverse step from diffusion step k to s < k: returns (x^s, x0_pred).

        model_output: the network's output at (x^k, k): eps for prediction_type "epsilon", x^0 for "sample".
        z: the step's N(0, I) noise; None draws it from `generator` where the step adds noise.
        """
        raise NotImplementedError

    @staticmethod
    def _noise(z: torch.Tensor | None, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn(like.shape, generator=generator, device=like.device) if z is None else z

    @torch.inference_mode()
    def sample(self, model: Model, shape: tuple[int, ...], cond: object = None,
               generator: torch.Generator | None = None, x_K: torch.Tensor | None = None,
               return_trajectory: bool = False, x_T: torch.Tensor | None = None):
        """Run the reverse chain from x^K ~ N(0, I) to the clean x^0.

        Args:
            model: any callable model(x_k, k, cond) with k a (B,) LongTensor in 1..K, returning eps or x^0 as
                prediction_type says.
            shape: (B, ...) of the samples.
            cond: passed to the model unchanged (e.g. the observation window).
            generator: torch.Generator for x^K and the step noise (on the schedule's device).
            x_K: start from this noise instead of drawing it.
            return_trajectory: also return every x^k visited, (S + 1, *shape), x^K first, x^0 last.
            x_T: x_K's name before the course took Chi et al.'s notation; accepted so that callers keep working.
        Returns:
            the clean samples (shape), or (samples, trajectory).
        """
        x_K = starting_noise(x_K, x_T)
        device, shape = self.schedule.device, tuple(shape)
        if x_K is None:
            x = torch.randn(shape, generator=generator, device=device)
        elif tuple(x_K.shape) != shape:
            raise ValueError(f"x_K has shape {tuple(x_K.shape)}, expected {shape}")
        else:
            x = x_K.to(device=device, dtype=torch.float32)
        trajectory = [x]
        for k, s in self.steps:
            model_output = model(x, torch.full((shape[0],), k, dtype=torch.long, device=device), cond)
            x, _ = self.step(x, model_output, k, s, generator=generator)
            if return_trajectory:
                trajectory.append(x)
        return (x, torch.stack(trajectory)) if return_trajectory else x

    def __repr__(self) -> str:
        extra = f", prediction_type={self.prediction_type!r}" if self.prediction_type != "epsilon" else ""
        return f"{type(self).__name__}({self.schedule!r}, n_inference_steps={self.n_inference_steps}{extra})"


class DDPMSampler(Sampler):
    """Ancestral sampling from the (respaced) DDPM posterior q(x^s | x^k, x0_pred)."""

    def coefficients(self, k: int, s: int) -> StepCoefficients:
        alpha_bar_k, alpha_bar_s = self.alpha_bar(k), self.alpha_bar(s)
        alpha_ks = alpha_bar_k / alpha_bar_s
        beta_ks = 1.0 - alpha_ks
        # posterior_mean = x0_coef x0_pred + x_k_coef x^k   (Ho et al. eq. 7, with k -> s respaced)
        x0_coef = math.sqrt(alpha_bar_s) * beta_ks / (1.0 - alpha_bar_k)
        x_k_coef = math.sqrt(alpha_ks) * (1.0 - alpha_bar_s) / (1.0 - alpha_bar_k)
        # At s = 0 the posterior is a point (1 - alpha_bar_0 = 0): the last step returns its mean, x0_pred.
        sigma = math.sqrt(beta_ks * (1.0 - alpha_bar_s) / (1.0 - alpha_bar_k))
        return StepCoefficients(x0_coef, x_k_coef, 0.0, sigma)

    def step(self, x_k, model_output, k, s, z=None, generator=None):
        # 1. The respaced step's numbers: the posterior's coefficients (eq. 7) and its standard deviation.
        x0_coef, x_k_coef, _, sigma = self.coefficients(k, s)
        # 2. The clean sample estimated from the network's output (eq. 15), clipped to the data's range.
        x0_pred, _ = self.predict_x0(x_k, model_output, k)
        # 3. The posterior mean mu_tilde(x^k, x0_pred) (eq. 7).
        posterior_mean = x0_coef * x0_pred + x_k_coef * x_k
        # 4. A draw from the posterior N(mu_tilde, sigma^2 I) (Algorithm 2, line 4); none at the last step.
        if sigma == 0.0:
            return posterior_mean, x0_pred
        return posterior_mean + sigma * self._noise(z, x_k, generator), x0_pred


class DDIMSampler(Sampler):
    """DDIM: eta = 0 is a deterministic map from x^K to x^0; eta = 1 has DDPM's step variance."""

    def __init__(self, schedule: NoiseSchedule, n_inference_steps: int | None = None, eta: float = 0.0,
                 clip_sample: bool = True, prediction_type: str = "epsilon"):
        self.eta = check_eta(eta)
        super().__init__(schedule, n_inference_steps, clip_sample, prediction_type)

    def coefficients(self, k: int, s: int) -> StepCoefficients:
        alpha_bar_k, alpha_bar_s = self.alpha_bar(k), self.alpha_bar(s)
        beta_ks = 1.0 - alpha_bar_k / alpha_bar_s
        sigma = self.eta * math.sqrt((1.0 - alpha_bar_s) / (1.0 - alpha_bar_k) * beta_ks)  # Song et al. eq. 16
        # the "direction pointing to x^k", sqrt(1 - alpha_bar_s - sigma^2) eps; max(.., 0) guards the float
        # rounding of 1 - alpha_bar_s - sigma^2 at eta = 1, s = 0.
        eps_coef = math.sqrt(max(1.0 - alpha_bar_s - sigma**2, 0.0))
        return StepCoefficients(math.sqrt(alpha_bar_s), 0.0, eps_coef, sigma)

    def step(self, x_k, model_output, k, s, z=None, generator=None):
        # 1. The step's numbers: sqrt(alpha_bar_s), the direction's sqrt(1 - alpha_bar_s - sigma^2), sigma (eq. 16).
        x0_coef, _, eps_coef, sigma = self.coefficients(k, s)
        # 2. The clean sample (Song et al. eq. 12, "predicted x_0"), clipped, and the noise it implies.
        x0_pred, eps = self.predict_x0(x_k, model_output, k)
        # 3. x^s = sqrt(alpha_bar_s) x0_pred + sqrt(1 - alpha_bar_s - sigma^2) eps + sigma z   (eq. 12)
        x_s = x0_coef * x0_pred + eps_coef * eps
        if sigma == 0.0:
            return x_s, x0_pred
        return x_s + sigma * self._noise(z, x_k, generator), x0_pred

    def __repr__(self) -> str:
        extra = f", prediction_type={self.prediction_type!r}" if self.prediction_type != "epsilon" else ""
        return f"DDIMSampler({self.schedule!r}, n_inference_steps={self.n_inference_steps}, eta={self.eta}{extra})"


SAMPLERS = {"ddpm": DDPMSampler, "ddim": DDIMSampler}


def make_sampler(kind: str, schedule: NoiseSchedule, n_inference_steps: int | None = None, eta: float = 0.0,
                 clip_sample: bool = True, prediction_type: str = "epsilon") -> Sampler:
    """DDPMSampler or DDIMSampler by name (a key of SAMPLERS); eta is DDIM's, and DDPM has none."""
    if kind not in SAMPLERS:
        raise ValueError(f"sampler must be one of {tuple(SAMPLERS)}, got {kind!r}")
    if kind == "ddpm":
        if eta != 0.0:
            raise ValueError(f"eta={eta} is a DDIM setting; DDPM has none (use kind='ddim')")
        return DDPMSampler(schedule, n_inference_steps, clip_sample, prediction_type)
    return DDIMSampler(schedule, n_inference_steps, eta, clip_sample, prediction_type)
