"""The denoising networks eps_theta(x^k, k, obs), chosen by config["network"]. Notebooks 02 and 04.

    embedding.py   the sinusoidal diffusion-step embedding they share
    mlp.py         "mlp": a residual MLP over the flattened chunk (the default), and the regression
                   baseline's network (the same MLP without x^k and k)
    unet1d.py      "unet": Chi et al.'s temporal convolutional U-Net with FiLM conditioning

Every network maps x^k (B, H, act_dim), k (B,) in 1..K, obs (B, To, obs_dim) to eps (B, H, act_dim), or to
x^0's estimate with prediction_type "sample".
"""

from __future__ import annotations

from torch import nn

from dpedu.config import NETWORKS
from dpedu.networks.mlp import MLPDenoiser, MLPRegressor
from dpedu.networks.unet1d import UNet1DDenoiser


def build_network(config, obs_dim: int, act_dim: int) -> nn.Module:
    """The denoiser config.network names, sized by the config's horizons, width and depth."""
    if config.network == "mlp":
        return MLPDenoiser(act_dim, config.action_horizon, obs_dim, config.obs_horizon, config.hidden_dim,
                           config.n_layers, config.conditioning)
    if config.network == "unet":
        return UNet1DDenoiser(act_dim, config.action_horizon, obs_dim, config.obs_horizon, config.unet_dim,
                              config.unet_levels, config.unet_kernel_size, config.unet_groups)
    raise ValueError(f"network must be one of {NETWORKS}, got {config.network!r}")


def build_regressor(config, obs_dim: int, act_dim: int) -> nn.Module:
    """The regression baseline's network, the same size as build_network's."""
    return MLPRegressor(act_dim, config.action_horizon, obs_dim, config.obs_horizon, config.hidden_dim,
                        config.n_layers)


__all__ = ["NETWORKS", "MLPDenoiser", "MLPRegressor", "UNet1DDenoiser", "build_network", "build_regressor"]
