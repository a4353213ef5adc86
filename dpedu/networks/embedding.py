"""The diffusion-step embedding every denoiser shares (Vaswani et al. 2017, as in DDPM). Notebook 02.

    emb(n) = [sin(n w_0), ..., sin(n w_{d/2-1}), cos(n w_0), ..., cos(n w_{d/2-1})],   w_i = 10000^(-i / (d/2 - 1))

at n = k - 1 for the diffusion step k = 1..K. Nearby steps get similar embeddings, yet the fastest frequency
still tells k = 3 from k = 4.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SinusoidalEmbedding(nn.Module):
    """k (B,) integer diffusion steps in 1..K -> emb(k - 1) (B, dim)."""

    def __init__(self, dim: int):
        super().__init__()
        if dim < 4 or dim % 2:
            raise ValueError(f"embedding dim must be even and >= 4, got {dim}")
        half = dim // 2
        # w_i, a constant: not saved in checkpoints (persistent=False), rebuilt from dim.
        self.register_buffer("freqs", torch.exp(-math.log(10_000.0) * torch.arange(half) / (half - 1)),
                             persistent=False)

    def forward(self, k: torch.Tensor) -> torch.Tensor:
        # k - 1: diffusers' timestep index for step k, the number Chi et al.'s networks see (and the shipped
        # checkpoints were trained on). The only offset in the package.
        angles = (k - 1)[:, None].float() * self.freqs  # (B, dim / 2): (k - 1) w_i
        return torch.cat([angles.sin(), angles.cos()], dim=-1)  # (B, dim)
