"""The methods Chi et al. compare Diffusion Policy with, on dpedu's data, windows, normalisers and training loop.
Notebook 10 (why diffusion); regression also in notebooks 02, 04, 05 and 08.

    regression.py   behaviour cloning with MSE: the conditional mean E[A | O] (one mode, or the average of several)
    gmm.py          a Gaussian mixture over the chunk (Mandlekar et al.'s LSTM-GMM): M modes, fixed in advance
    ibc.py          an energy E(O, A), InfoNCE against counter-examples, argmin by derivative-free optimisation
                    (Florence et al.'s implicit behaviour cloning)
    bet.py          k-means bins of chunks + per-bin offsets (Shafiullah et al.'s behaviour transformers)

Each network has the same residual MLP trunk as the diffusion MLP (hidden_dim, n_layers) and two methods, the
method itself in its paper's symbols:

    model.loss(obs, a0, generator) -> scalar        obs (B, To, obs_dim), a0 = A^0 (B, H, act_dim), normalised
    model.sample(obs, generator)  -> A^0 (B, H, act_dim) in [-1, 1]: one plan per window

`Trainer("gmm" | "ibc" | "bet" | "regression", env=...)` trains them exactly as it trains a denoiser (the same
batches, AdamWithEMA, EMA weights); `trainer.policy` is a BaselinePolicy, which acts with the receding horizon of
DiffusionPolicy (they share ChunkPolicy) and saves and loads like it (`dpedu.load_policy` reads either).
"""

from __future__ import annotations

import torch

from dpedu.baselines.bet import BinnedActionNetwork
from dpedu.baselines.gmm import MixtureDensityNetwork
from dpedu.baselines.ibc import EnergyNetwork
from dpedu.baselines.regression import (
    RegressionNetwork,
    RegressionPolicy,
    fit_regression,
    regression_loss,
    train_regression,
)
from dpedu.config import DPConfig
from dpedu.policy import ChunkPolicy

BASELINES = ("regression", "gmm", "ibc", "bet")


def build_baseline(algorithm: str, config: DPConfig, obs_dim: int, act_dim: int) -> torch.nn.Module:
    """The baseline's network, sized like the denoiser (config's horizons, hidden_dim, n_layers) and its own keys."""
    c = config
    sizes = (act_dim, c.action_horizon, obs_dim, c.obs_horizon, c.hidden_dim, c.n_layers)
    if algorithm == "regression":
        return RegressionNetwork(*sizes)
    if algorithm == "gmm":
        return MixtureDensityNetwork(*sizes, n_components=c.n_components)
    if algorithm == "ibc":
        return EnergyNetwork(*sizes, n_counter_examples=c.ibc_counter_examples, n_samples=c.ibc_samples,
                             n_iterations=c.ibc_iterations)
    if algorithm == "bet":
        return BinnedActionNetwork(*sizes, n_bins=c.n_bins)
    raise ValueError(f"unknown baseline {algorithm!r}; available: {BASELINES}")


class BaselinePolicy(ChunkPolicy):
    """A trained baseline network as a policy: each plan is model.sample(normalised window), in env units.

    algorithm: "regression", "gmm", "ibc" or "bet"; the other arguments as ChunkPolicy's.
    """

    def __init__(self, algorithm: str, *args, **kwargs):
        if algorithm not in BASELINES:
            raise ValueError(f"unknown baseline {algorithm!r}; available: {BASELINES}")
        self.algorithm = algorithm
        super().__init__(*args, **kwargs)

    def _sample(self, cond: torch.Tensor, shape: tuple[int, int, int], **kwargs) -> torch.Tensor:
        if kwargs:
            raise TypeError(f"a {self.algorithm!r} policy draws plans in one step; {sorted(kwargs)} are diffusion's")
        return self.model.sample(cond, self.generator)

    @classmethod
    def build_model(cls, config: DPConfig, obs_dim: int, act_dim: int, frame_shape=None,
                    algorithm: str | None = None) -> torch.nn.Module:
        if frame_shape is not None:
            raise ValueError("the baselines read observation vectors, not camera frames")
        return build_baseline(algorithm, config, obs_dim, act_dim)

    @classmethod
    def reads(cls, algorithm: str) -> bool:
        return algorithm in BASELINES

    @classmethod
    def _rebuilt(cls, algorithm: str, *args, **kwargs) -> BaselinePolicy:
        return cls(algorithm, *args, **kwargs)


__all__ = ["BASELINES", "BaselinePolicy", "BinnedActionNetwork", "EnergyNetwork", "MixtureDensityNetwork",
           "RegressionNetwork", "RegressionPolicy", "build_baseline", "fit_regression", "regression_loss",
           "train_regression"]
