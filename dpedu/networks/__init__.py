"""The denoising networks eps_theta(x^k, k, obs), chosen by config["network"]. Notebooks 02 and 04.

    embedding.py   the sinusoidal diffusion-step embedding they share
    mlp.py         "mlp": a residual MLP over the flattened chunk (the default), and the regression
                   baseline's network (the same MLP without x^k and k)
    unet1d.py      "unet": Chi et al.'s temporal convolutional U-Net with FiLM conditioning
    transformer.py "transformer": Chi et al.'s time-series diffusion transformer (action tokens cross-attend to k
                   and the observations)
    vision.py      camera frames -> features: ResNet-18 with GroupNorm and a spatial softmax (Chi et al. sec. 3.3),
                   and VisuomotorDenoiser, a denoiser conditioned on those features

Every network maps x^k (B, H, act_dim), k (B,) in 1..K, obs (B, To, obs_dim) to eps (B, H, act_dim), or to
x^0's estimate with prediction_type "sample". With camera frames, the observation is first encoded, once per
batch of windows: `condition(model, obs, frames)` is what the denoiser then reads as obs.
"""

from __future__ import annotations

import torch
from torch import nn

from dpedu.config import NETWORKS
from dpedu.networks.mlp import MLPDenoiser, MLPRegressor
from dpedu.networks.transformer import TransformerDenoiser
from dpedu.networks.unet1d import UNet1DDenoiser
from dpedu.networks.vision import VisionEncoder, VisuomotorDenoiser, crop_shape


def build_network(config, obs_dim: int, act_dim: int, frame_shape: tuple[int, int, int] | None = None) -> nn.Module:
    """The denoiser config.network names, sized by the config's horizons, width and depth; with frame_shape (H, W, C),
    a VisuomotorDenoiser whose vision encoder (config's vision_width, crop_ratio, n_keypoints, vision_feature_dim)
    feeds that denoiser."""
    if frame_shape is not None:
        encoder = VisionEncoder(frame_shape, crop_shape(frame_shape, config.crop_ratio), config.vision_width,
                                config.n_keypoints, config.vision_feature_dim)
        return VisuomotorDenoiser(encoder, build_network(config, obs_dim + config.vision_feature_dim, act_dim))
    if config.network == "mlp":
        return MLPDenoiser(act_dim, config.action_horizon, obs_dim, config.obs_horizon, config.hidden_dim,
                           config.n_layers, config.conditioning)
    if config.network == "unet":
        return UNet1DDenoiser(act_dim, config.action_horizon, obs_dim, config.obs_horizon, config.unet_dim,
                              config.unet_levels, config.unet_kernel_size, config.unet_groups)
    if config.network == "transformer":
        return TransformerDenoiser(act_dim, config.action_horizon, obs_dim, config.obs_horizon, config.transformer_dim,
                                   config.transformer_heads, config.transformer_layers, config.transformer_causal)
    raise ValueError(f"network must be one of {NETWORKS}, got {config.network!r}")


def condition(model: nn.Module, obs: torch.Tensor, frames: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """What the denoiser is conditioned on, computed once per batch of windows: the normalised obs (B, To, obs_dim)
    themselves, or with frames (B, To, H, W, C) uint8 the model's encode(obs, frames) (random crops drawn from
    `generator` while training)."""
    if frames is None:
        return obs
    if not hasattr(model, "encode"):
        raise TypeError(f"{type(model).__name__} has no encode(obs, frames): it cannot read camera frames")
    return model.encode(obs, frames, generator)


def build_regressor(config, obs_dim: int, act_dim: int) -> nn.Module:
    """The regression baseline's network, the same size as build_network's."""
    return MLPRegressor(act_dim, config.action_horizon, obs_dim, config.obs_horizon, config.hidden_dim,
                        config.n_layers)


__all__ = ["NETWORKS", "MLPDenoiser", "MLPRegressor", "TransformerDenoiser", "UNet1DDenoiser", "VisionEncoder",
           "VisuomotorDenoiser", "build_network", "build_regressor", "condition"]
