"""The noise-prediction networks eps_theta(x_t, t, obs), chosen by config["network"]. Notebooks 02 and 04.

    embedding.py   the sinusoidal timestep embedding they share
    mlp.py         "mlp": a residual MLP over the flattened chunk (the default), and the regression
                   baseline's network (the same MLP without x_t and t)

Every network maps x_t (B, H, act_dim), t (B,), obs (B, To, obs_dim) to eps (B, H, act_dim).
"""

from __future__ import annotations

from torch import nn

from dpedu.networks.mlp import MLPDenoiser, MLPRegressor

NETWORKS = ("mlp",)


def build_network(config, obs_dim: int, act_dim: int) -> nn.Module:
    """The denoiser config.network names, sized by the config's horizons, width and depth."""
    if config.network == "mlp":
        return MLPDenoiser(act_dim, config.action_horizon, obs_dim, config.obs_horizon, config.hidden_dim,
                           config.n_layers, config.conditioning)
    raise ValueError(f"network must be one of {NETWORKS}, got {config.network!r}")


def build_regressor(config, obs_dim: int, act_dim: int) -> nn.Module:
    """The regression baseline's network, the same size as build_network's."""
    return MLPRegressor(act_dim, config.action_horizon, obs_dim, config.obs_horizon, config.hidden_dim,
                        config.n_layers)


__all__ = ["NETWORKS", "MLPDenoiser", "MLPRegressor", "build_network", "build_regressor"]
