"""Noise schedules and the forward diffusion q(x^k | x^0) (Ho et al. 2020, eq. 4). Notebook 01.

    beta_k        the variance of the noise added at step k, k = 1..K
    alpha_k       = 1 - beta_k
    alpha_bar_k   = prod_{i <= k} alpha_i
    x^k           = sqrt(alpha_bar_k) x^0 + sqrt(1 - alpha_bar_k) eps,    eps ~ N(0, I)

Noise grows with the diffusion step k = 0..K: x^0 is the clean sample (alpha_bar_0 = 1), x^k the sample after
k noising steps, x^K (almost) pure noise. Every table has length K + 1 and is indexed by k, entry 0 being the
clean sample (beta_0 = 0, alpha_0 = 1, alpha_bar_0 = 1), so `alpha_bars[k]` is alpha_bar_k.

Two schedules:
    linear   beta_1..beta_K evenly spaced from beta_start to beta_end (Ho et al. 2020).
    cosine   alpha_bar(u) = cos^2((u + 0.008) / 1.008 * pi / 2) at u = k / K, with
             beta_k = min(1 - alpha_bar(k/K) / alpha_bar((k-1)/K), 0.999) (Nichol & Dhariwal 2021).
             It destroys information more evenly over k than linear does for small K.
"""

from __future__ import annotations

import math

import torch

from dpedu.config import SCHEDULE_KINDS


def linear_betas(n_steps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    """beta_1..beta_K evenly spaced in [beta_start, beta_end], float64, shape (K,)."""
    return torch.linspace(beta_start, beta_end, n_steps, dtype=torch.float64)


def cosine_betas(n_steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """beta_1..beta_K of the cosine schedule, float64, shape (K,).

    The cap at 0.999 avoids beta = 1 at the last step, where alpha_bar would reach 0 and the
    noise prediction would have nothing left to see.
    """

    def alpha_bar(u: float) -> float:
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    betas = [min(1 - alpha_bar(k / n_steps) / alpha_bar((k - 1) / n_steps), max_beta) for k in range(1, n_steps + 1)]
    return torch.tensor(betas, dtype=torch.float64)


class NoiseSchedule:
    """betas, alphas, alpha_bars of a DDPM, and the forward process q(x^k | x^0).

    Args:
        n_steps: K, the number of diffusion steps (k = 1..K; k = 0 is the clean sample).
        kind: "cosine" or "linear".
        beta_start, beta_end: the first and last beta of the linear schedule (unused by cosine).
        device: where the tables live (the samplers and the trainer index them there).

    All tables are float32 tensors of shape (K + 1,), indexed by k (entry 0: the clean sample), computed in
    float64 first.
    """

    def __init__(
        self,
        n_steps: int = 50,
        kind: str = "cosine",
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        device: torch.device | str = "cpu",
    ):
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps must be an int >= 1, got {n_steps!r}")
        if kind not in SCHEDULE_KINDS:
            raise ValueError(f"kind must be one of {SCHEDULE_KINDS}, got {kind!r}")
        for name, value in (("beta_start", beta_start), ("beta_end", beta_end)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a float, got {type(value).__name__} {value!r}")
        if kind == "linear" and not (0 < beta_start < beta_end < 1):
            raise ValueError(
                f"linear schedule needs 0 < beta_start < beta_end < 1, got beta_start={beta_start!r}, "
                f"beta_end={beta_end!r}"
            )
        self.n_steps, self.kind = n_steps, kind
        self.beta_start, self.beta_end = beta_start, beta_end
        betas = cosine_betas(n_steps) if kind == "cosine" else linear_betas(n_steps, beta_start, beta_end)
        # Entry 0 is the clean sample x^0 (beta_0 = 0, so alpha_0 = alpha_bar_0 = 1): tables indexed by k = 0..K.
        betas = torch.cat([torch.zeros(1, dtype=torch.float64), betas])
        alphas = 1.0 - betas
        alpha_bars = torch.cumprod(alphas, dim=0)
        # Large beta_end * n_steps drives alpha_bar below what float32 holds: x^k has no signal left, the
        # tables stop decreasing, and the samplers' 1 / sqrt(alpha_bar) overflows. Say so here, not as NaN later.
        ab32 = alpha_bars.float()
        stuck = (ab32 <= 0) | torch.cat([torch.zeros(1, dtype=torch.bool), (ab32[1:] >= ab32[:-1]) & (ab32[1:] < 0.5)])
        if stuck.any():
            k = int(stuck.nonzero()[0])
            raise ValueError(
                f"the {kind} schedule with n_steps={n_steps}, beta_start={beta_start!r}, beta_end={beta_end!r} "
                f"drives alpha_bar below float32's range (alpha_bar_{k} = {float(alpha_bars[k]):.1e}, "
                f"alpha_bar_{n_steps} = {float(alpha_bars[-1]):.1e}): lower beta_end or n_steps"
            )
        # float64 copy kept for the samplers' coefficients, which divide small numbers.
        self.alpha_bars_f64 = alpha_bars
        f32 = dict(dtype=torch.float32, device=device)
        self.betas = betas.to(**f32)
        self.alphas = alphas.to(**f32)
        self.alpha_bars = alpha_bars.to(**f32)
        self.sqrt_alpha_bars = alpha_bars.sqrt().to(**f32)
        self.sqrt_one_minus_alpha_bars = (1.0 - alpha_bars).sqrt().to(**f32)

    @property
    def device(self) -> torch.device:
        return self.betas.device

    def to(self, device: torch.device | str) -> NoiseSchedule:
        """The same schedule with its tables on `device`."""
        return NoiseSchedule(self.n_steps, self.kind, self.beta_start, self.beta_end, device=device)

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar_k / (1 - alpha_bar_k), shape (K + 1,); snr[0] = inf (the clean sample)."""
        return self.alpha_bars / (1.0 - self.alpha_bars)

    def add_noise(self, x0: torch.Tensor, k: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x^k = sqrt(alpha_bar_k) x^0 + sqrt(1 - alpha_bar_k) eps.

        Args:
            x0: clean samples x^0, (B, ...).
            k: diffusion steps, (B,) integer tensor in 0..K (or a scalar for the whole batch); k = 0 returns x0.
            eps: standard normal noise, same shape as x0.
        Returns:
            x^k, same shape as x0.
        """
        k = torch.as_tensor(k, device=self.device)
        # (B,) -> (B, 1, ..., 1) so that one coefficient scales each sample.
        shape = k.shape + (1,) * (x0.dim() - k.dim())
        return self.sqrt_alpha_bars[k].view(shape) * x0 + self.sqrt_one_minus_alpha_bars[k].view(shape) * eps

    def __repr__(self) -> str:
        extra = f", beta_start={self.beta_start}, beta_end={self.beta_end}" if self.kind == "linear" else ""
        return f"NoiseSchedule(n_steps={self.n_steps}, kind={self.kind!r}{extra})"
