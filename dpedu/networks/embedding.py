"""The timestep embedding every denoiser shares (Vaswani et al. 2017, as in DDPM). Notebook 02.

    emb(t) = [sin(t w_0), ..., sin(t w_{d/2-1}), cos(t w_0), ..., cos(t w_{d/2-1})],   w_k = 10000^(-k / (d/2 - 1))

Nearby t get similar embeddings, yet the fastest frequency still tells t = 3 from t = 4.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SinusoidalEmbedding(nn.Module):
    """t (B,) integer timesteps -> emb(t) (B, dim)."""

    def __init__(self, dim: int):
        super().__init__()
        if dim < 4 or dim % 2:
            raise ValueError(f"embedding dim must be even and >= 4, got {dim}")
        half = dim // 2
        # w_k, a constant: not saved in checkpoints (persistent=False), rebuilt from dim.
        self.register_buffer("freqs", torch.exp(-math.log(10_000.0) * torch.arange(half) / (half - 1)),
                             persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t[:, None].float() * self.freqs  # (B, dim / 2): t w_k
        return torch.cat([angles.sin(), angles.cos()], dim=-1)  # (B, dim)
