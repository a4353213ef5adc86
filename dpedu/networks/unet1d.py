r"""eps_theta(x^k, k, obs) as Chi et al.'s temporal U-Net with FiLM conditioning (their ConditionalUnet1D).

The noisy action chunk x^k (B, H, act_dim) is read as a 1-D signal over the H time steps with act_dim channels, and
convolved along time. A convolution's output at chunk step i sees only steps i-2..i+2 (kernel 5): neighbouring actions
are predicted from overlapping windows, which is why the sampled chunks come out smooth, where an MLP over the
flattened chunk treats step 0 and step 7 as unrelated inputs.

The condition c = [obs (flattened), emb(k)] enters every residual block by FiLM (Perez et al. 2018):

    h  <-  gamma(c) * h + b(c)             one (scale gamma, bias b) pair per channel, from a linear map of c

so the observation and the noise level scale and shift what each block computes, at every resolution.

    x^k (B, H, act_dim) -> (B, act_dim, H)                 channels first, as Conv1d wants
      down:  [ResBlock(c), ResBlock(c), Downsample]         unet_levels times, channels unet_dim * 2^i,
                                                           H halved between levels (not after the last)
      mid:   ResBlock, ResBlock                            at the coarsest resolution
      up:    [concat skip, ResBlock(c), ResBlock(c), Upsample] back to H steps
      out:   Conv1dBlock, Conv1d(unet_dim -> act_dim, 1)   -> (B, H, act_dim)
    ResBlock(c): Conv1d-GroupNorm-Mish, FiLM by c, Conv1d-GroupNorm-Mish, plus a (1x1-conv) residual

Chi et al.'s defaults are unet_dim 256 with 3 levels (channels 256, 512, 1024), kernel 5, 8 groups, H = 16; the
course's default, unet_dim 32 with 2 levels (32, 64), trains on a laptop CPU: ~27 ms per update of 256 chunks on
2 cores against ~114 ms for (64, 128, 256) (benchmarks/networks.py), and solves both course tasks (notebook 07).
H must be divisible by 2^(unet_levels - 1): every down-sampling halves it, and the skip connections must line up
again on the way up.
"""

from __future__ import annotations

import torch
from torch import nn

from dpedu.networks.embedding import SinusoidalEmbedding


def check_horizon(action_horizon: int, levels: int) -> None:
    """The U-Net halves the horizon levels - 1 times: a clear error where it cannot."""
    factor = 2 ** (levels - 1)
    if action_horizon % factor:
        allowed = ", ".join(str(factor * k) for k in range(1, 5))
        raise ValueError(f"network='unet' with unet_levels={levels} halves the action horizon {levels - 1} times, so "
                         f"action_horizon must be a multiple of {factor} (e.g. {allowed}), got {action_horizon}; "
                         f"change action_horizon or unet_levels")


class Conv1dBlock(nn.Module):
    """Conv1d -> GroupNorm -> Mish, keeping the length (padding kernel_size // 2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, groups: int):
        super().__init__()
        self.block = nn.Sequential(nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
                                   nn.GroupNorm(groups, out_channels), nn.Mish())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class FiLMResidualBlock(nn.Module):
    """Two Conv1dBlocks, the first one's output FiLM-modulated by the condition, plus a residual connection."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, kernel_size: int, groups: int):
        super().__init__()
        self.conv1 = Conv1dBlock(in_channels, out_channels, kernel_size, groups)
        self.conv2 = Conv1dBlock(out_channels, out_channels, kernel_size, groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * out_channels))  # c -> (gamma, b)
        self.residual = (nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity())

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x)  # (B, C, L)
        scale, bias = self.film(cond).unsqueeze(-1).chunk(2, dim=1)  # gamma(c), b(c): each (B, C, 1), one per channel
        h = scale * h + bias  # FiLM: gamma(c) * h + b(c)
        return self.conv2(h) + self.residual(x)


class UNet1DDenoiser(nn.Module):
    """eps_theta(x^k, k, obs): x_k (B, H, act_dim), k (B,) in 1..K, obs (B, To, obs_dim) -> eps (B, H, act_dim).

    Args:
        act_dim, action_horizon, obs_dim, obs_horizon: the shapes of a chunk and of an observation window.
        unet_dim: channels of the first level; level i has unet_dim * 2^i.
        levels: resolutions (the horizon is halved levels - 1 times).
        kernel_size: of every temporal convolution (odd).
        groups: GroupNorm's groups (must divide unet_dim).
    """

    def __init__(self, act_dim: int, action_horizon: int, obs_dim: int, obs_horizon: int, unet_dim: int = 32,
                 levels: int = 2, kernel_size: int = 5, groups: int = 8):
        super().__init__()
        check_horizon(action_horizon, levels)
        self.act_shape = (action_horizon, act_dim)
        # The diffusion step k: a sinusoidal embedding and a small MLP (Chi et al.'s diffusion_step_encoder); the
        # attribute keeps its name, which the checkpoints' weights carry.
        self.time_embedding = nn.Sequential(SinusoidalEmbedding(unet_dim), nn.Linear(unet_dim, 4 * unet_dim), nn.Mish(),
                                            nn.Linear(4 * unet_dim, unet_dim))
        cond_dim = unet_dim + obs_horizon * obs_dim
        widths = [unet_dim * 2**i for i in range(levels)]  # e.g. 32, 64 (Chi et al.: 256, 512, 1024)
        block = lambda c_in, c_out: FiLMResidualBlock(c_in, c_out, cond_dim, kernel_size, groups)  # noqa: E731
        self.down = nn.ModuleList()
        c_in = act_dim
        for i, c_out in enumerate(widths):
            last = i == levels - 1
            downsample = nn.Identity() if last else nn.Conv1d(c_out, c_out, 3, stride=2, padding=1)  # H -> H / 2
            self.down.append(nn.ModuleList([block(c_in, c_out), block(c_out, c_out), downsample]))
            c_in = c_out
        self.mid = nn.ModuleList([block(widths[-1], widths[-1]), block(widths[-1], widths[-1])])
        self.up = nn.ModuleList()
        for c_out, c_skip in zip(reversed(widths[:-1]), reversed(widths[1:])):  # every level back up doubles H
            self.up.append(nn.ModuleList([block(2 * c_skip, c_out), block(c_out, c_out),
                                          nn.ConvTranspose1d(c_out, c_out, 4, stride=2, padding=1)]))
        self.out = nn.Sequential(Conv1dBlock(unet_dim, unet_dim, kernel_size, groups), nn.Conv1d(unet_dim, act_dim, 1))

    def forward(self, x_k: torch.Tensor, k: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        B = x_k.shape[0]
        cond = torch.cat([obs.reshape(B, -1), self.time_embedding(k)], dim=-1)  # (B, To * obs_dim + unet_dim)
        h = x_k.transpose(1, 2)  # (B, act_dim, H): the actions' dimensions become channels, time the length
        skips = []
        for block1, block2, downsample in self.down:
            h = block2(block1(h, cond), cond)
            skips.append(h)  # (B, C_i, H / 2^i)
            h = downsample(h)
        for block in self.mid:
            h = block(h, cond)
        for block1, block2, upsample in self.up:  # (as in Chi et al.'s code, the finest skip goes unused)
            h = torch.cat([h, skips.pop()], dim=1)  # the skip of the same resolution: channels doubled
            h = upsample(block2(block1(h, cond), cond))
        return self.out(h).transpose(1, 2)  # (B, H, act_dim)
